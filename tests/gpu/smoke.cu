// CUDA smoke program for the tracer's GPU check (tests/gpu/run.sh): every
// kind of allocation call the tracer must see, a forced OOM, and a
// microbenchmark of cudaMallocAsync/cudaFreeAsync pairs for the overhead.
//   smoke            the calls, one by one, with their results printed
//   smoke bench N    N warm 64 KiB cudaMallocAsync/cudaFreeAsync pairs, ns per pair
#include <cuda.h>
#include <cuda_runtime.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

static int bench(long n)
{
    cudaStream_t s;
    cudaStreamCreate(&s);
    void *p;
    for (int i = 0; i < 1000; i++) { // warm the pool
        cudaMallocAsync(&p, 65536, s);
        cudaFreeAsync(p, s);
    }
    cudaStreamSynchronize(s);
    double t0 = now_ns();
    for (long i = 0; i < n; i++) {
        cudaMallocAsync(&p, 65536, s);
        cudaFreeAsync(p, s);
    }
    cudaStreamSynchronize(s);
    double t = now_ns() - t0;
    printf("bench: %ld cudaMallocAsync/cudaFreeAsync pairs, %.1f ns per pair\n", n, t / n);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && strcmp(argv[1], "bench") == 0)
        return bench(atol(argv[2]));
    size_t free_b = 0, total = 0;
    printf("cudaMemGetInfo: %d free %zu total %zu\n", (int)cudaMemGetInfo(&free_b, &total),
           free_b, total);
    void *a = NULL;
    printf("cudaMalloc 256 MiB: %d\n", (int)cudaMalloc(&a, 256u << 20));
    printf("cudaFree: %d\n", (int)cudaFree(a));
    cudaStream_t s;
    cudaStreamCreate(&s);
    void *b = NULL;
    printf("cudaMallocAsync 1 MiB on a stream: %d\n", (int)cudaMallocAsync(&b, 1u << 20, s));
    printf("cudaFreeAsync: %d\n", (int)cudaFreeAsync(b, s));
    cudaStreamSynchronize(s);
    void *h = NULL;
    printf("cudaMallocHost 64 KiB: %d\n", (int)cudaMallocHost(&h, 65536));
    printf("cudaFreeHost: %d\n", (int)cudaFreeHost(h));
    void *big = NULL;
    cudaError_t e = cudaMalloc(&big, 2 * total);
    printf("cudaMalloc 2x total (expect out of memory, 2): %d\n", (int)e);
    cudaGetLastError();

    CUmemAllocationProp prop;
    memset(&prop, 0, sizeof(prop));
    prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
    prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    prop.location.id = 0;
    size_t gran = 0;
    cuMemGetAllocationGranularity(&gran, &prop, CU_MEM_ALLOC_GRANULARITY_MINIMUM);
    CUmemGenericAllocationHandle handle;
    CUdeviceptr va = 0;
    printf("cuMemCreate %zu: %d\n", gran, (int)cuMemCreate(&handle, gran, &prop, 0));
    printf("cuMemAddressReserve: %d\n", (int)cuMemAddressReserve(&va, gran, 0, 0, 0));
    printf("cuMemMap: %d\n", (int)cuMemMap(va, gran, 0, handle, 0));
    CUmemAccessDesc acc;
    acc.location = prop.location;
    acc.flags = CU_MEM_ACCESS_FLAGS_PROT_READWRITE;
    printf("cuMemSetAccess: %d\n", (int)cuMemSetAccess(va, gran, &acc, 1));
    printf("cuMemUnmap: %d\n", (int)cuMemUnmap(va, gran));
    printf("cuMemRelease: %d\n", (int)cuMemRelease(handle));
    printf("cuMemAddressFree: %d\n", (int)cuMemAddressFree(va, gran));
    CUmemGenericAllocationHandle h2;
    printf("cuMemCreate 2x total (expect out of memory, 2): %d\n",
           (int)cuMemCreate(&h2, (2 * total + gran - 1) / gran * gran, &prop, 0));
    return 0;
}
