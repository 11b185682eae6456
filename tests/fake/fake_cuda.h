/* Test-only entry points of the fake driver (libcuda.so.1 built from
 * fake_cuda.c), beyond the cu* functions it exports with cuda.h's
 * prototypes.
 *
 * fake_cuda* stand in for the CUDA runtime: each one reports a RUNTIME_API
 * ENTER/EXIT pair around the driver call that implements it, the way
 * libcudart's calls reach the driver inside a traced runtime call (shared
 * docs/notes/cupti.md §2.6), so a tracer that counts both domains counts twice.
 * Their results are cudaError_t values; the params structs are the real
 * ones from generated_cuda_runtime_api_meta.h. Streams are opaque here
 * (void *) so callers need no CUDA header. */
#ifndef GPUTRACE_FAKE_CUDA_H
#define GPUTRACE_FAKE_CUDA_H

#include <stddef.h>

int fake_cudaMalloc(void **devPtr, size_t size);
int fake_cudaFree(void *devPtr);
int fake_cudaMallocAsync(void **devPtr, size_t size, void *stream);
int fake_cudaFreeAsync(void *devPtr, void *stream);
int fake_cudaMallocHost(void **ptr, size_t size);
int fake_cudaFreeHost(void *ptr);

/* Makes `device` (0 .. FAKE_CUDA_DEVICES-1) current for every thread: its
 * context, (CUcontext)(device + 1), is what later callbacks carry and what
 * the fake CUPTI's cuptiGetDeviceId maps back to `device`. Returns 0, or 1
 * (CUDA_ERROR_INVALID_VALUE) for a device that does not exist. */
int fakecuda_set_device(int device);

/* The stream handle a scenario's "sN" names: N itself (0 is the legacy
 * default stream), so tests can predict the recorded handle. */
void *fakecuda_stream(unsigned n);

#endif
