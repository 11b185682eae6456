"""A Python program for the pipeline test (tests/test_pipeline.sh) and the
frames benchmark (bench/frames.sh): it allocates through the CUDA test
double with ctypes, once holding the GIL (ctypes.PyDLL keeps it for the
call) and once without it (ctypes.CDLL releases it, as PyTorch's operators
do), so the tracer must name this file's lines for the first and say "no
GIL" for the second.

usage: py_alloc.py FAKE_LIB_DIR            the test's allocations
       py_alloc.py FAKE_LIB_DIR N DEPTH    N allocations and frees, each
                                           DEPTH Python calls deep; prints
                                           the CPU nanoseconds per pair
"""
import ctypes
import os
import sys
import time

LIB = os.path.join(sys.argv[1], "libcuda.so.1")
WITH_GIL = ctypes.PyDLL(LIB)
WITHOUT_GIL = ctypes.CDLL(LIB)
WITH_GIL.fake_cudaMalloc.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t]
WITHOUT_GIL.fake_cudaMalloc.argtypes = [ctypes.POINTER(ctypes.c_void_p), ctypes.c_size_t]
WITH_GIL.fake_cudaFree.argtypes = [ctypes.c_void_p]


def allocate(lib, size):
    ptr = ctypes.c_void_p()
    rc = lib.fake_cudaMalloc(ctypes.byref(ptr), size)  # the allocating line
    if rc != 0:
        sys.exit(f"py_alloc.py: fake_cudaMalloc({size}) failed with {rc}")
    return ptr


def layer(size):
    return allocate(WITH_GIL, size)


def allocations():
    kept = [layer(1 << 20), layer(2 << 20)]
    kept.append(allocate(WITHOUT_GIL, 3 << 20))
    for ptr in kept:
        WITH_GIL.fake_cudaFree(ptr)


def nested(depth, n):
    """n allocation/free pairs, `depth` Python calls below the caller."""
    if depth > 0:
        return nested(depth - 1, n)
    ptr = ctypes.c_void_p()
    for _ in range(n):
        WITH_GIL.fake_cudaMalloc(ctypes.byref(ptr), 4096)
        WITH_GIL.fake_cudaFree(ptr)
    return n


def benchmark(n, depth):
    nested(depth, 1000)  # warm: every frame and stack defined once
    start = time.process_time_ns()
    nested(depth, n)
    print(f"{(time.process_time_ns() - start) / n:.0f}")


if __name__ == "__main__":
    WITH_GIL.cuInit(0)
    if len(sys.argv) == 4:
        benchmark(int(sys.argv[2]), int(sys.argv[3]))
    else:
        allocations()
