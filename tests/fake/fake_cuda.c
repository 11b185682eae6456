/* A CUDA driver double, built as libcuda.so.1, for running the tracer and
 * `gpu-trace record` without a GPU (docs/notes/cupti.md §6.2).
 *  - cuInit loads $CUDA_INJECTION64_PATH and calls its InitializeInjection
 *    once, on the calling thread, before returning: what the real driver
 *    does and the toolkit's stub does not (§1.1, §6.1).
 *  - The memory functions fill the real <api>_params structs of
 *    generated_cuda_meta.h and report API_ENTER / API_EXIT to the fake
 *    CUPTI around a fake allocator, so the tracer reads its arguments and
 *    results exactly as it would on a GPU.
 *  - The allocator hands out addresses from per-device bump counters (never
 *    backed by memory: nothing may dereference them) and enforces a budget
 *    of FAKE_CUDA_MEMORY bytes per device (default 80 GiB; K/M/G/T suffixes
 *    are binary), returning CUDA_ERROR_OUT_OF_MEMORY beyond it.
 *  - FAKE_CUDA_DEVICES (default 2) devices exist; device d's context is the
 *    pointer value d + 1, which the fake CUPTI maps back to d. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_abi.h"

#include "fake_cupti.h"
#include "fake_cuda.h"

#define FAKE_MAX_DEVICES 8
#define FAKE_DEFAULT_MEMORY (80ull << 30)
#define FAKE_ALIGN 512u
#define FAKE_DEVICE_BASE 0x7f0000000000ull
#define FAKE_DEVICE_SPAN 0x010000000000ull /* 1 TiB of addresses per device */
#define FAKE_HOST_BASE 0x200000000000ull
#define FAKE_HANDLE_BASE 0x1000ull
#define FAKE_BUCKETS 4096
#define FAKE_MAX_STREAM 4096

/* What a live entry of the allocation table is. Handles and addresses share
 * the table; they cannot collide because handles are far below any address. */
enum entry_kind { ENTRY_DEVICE, ENTRY_HOST, ENTRY_VMM_HANDLE, ENTRY_VA };

struct entry {
    struct entry *next;
    uint64_t key;
    uint64_t size;
    int device;
    enum entry_kind kind;
};

/* Invariant: used[d] is the sum of the sizes of the live ENTRY_DEVICE and
 * ENTRY_VMM_HANDLE entries of device d, and never exceeds budget. Guarded by
 * g_lock, which is never held while a callback runs. */
static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static struct entry *g_table[FAKE_BUCKETS];
static uint64_t g_used[FAKE_MAX_DEVICES];
static uint64_t g_next_device[FAKE_MAX_DEVICES];
static uint64_t g_next_host = FAKE_HOST_BASE;
static uint64_t g_next_handle = FAKE_HANDLE_BASE;

static uint64_t g_budget = FAKE_DEFAULT_MEMORY;
static int g_devices = 2;
static atomic_bool g_initialized;
static atomic_int g_current_device;
static atomic_bool g_context_announced[FAKE_MAX_DEVICES];
static atomic_bool g_stream_announced[FAKE_MAX_STREAM];
static pthread_once_t g_init_once = PTHREAD_ONCE_INIT;

/* "80G" -> 80 GiB. Returns 0 for anything malformed, which callers treat as
 * "use the default": a test double should not fail on its own knobs. */
static uint64_t parse_bytes(const char *s)
{
    if (s == NULL || *s == '\0')
        return 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    int shift = 0;
    switch (*end) {
    case 'K':
    case 'k':
        shift = 10;
        break;
    case 'M':
    case 'm':
        shift = 20;
        break;
    case 'G':
    case 'g':
        shift = 30;
        break;
    case 'T':
    case 't':
        shift = 40;
        break;
    case '\0':
        break;
    default:
        return 0;
    }
    if (shift && end[1] != '\0')
        return 0;
    if (shift && v > (UINT64_MAX >> shift))
        return 0;
    return (uint64_t)v << shift;
}

/* The driver's init: read the knobs, then load the injection library, which
 * subscribes to the fake CUPTI before any memory call can happen. */
static void init_once(void)
{
    uint64_t budget = parse_bytes(getenv("FAKE_CUDA_MEMORY"));
    if (budget)
        g_budget = budget;
    const char *devices = getenv("FAKE_CUDA_DEVICES");
    if (devices != NULL && devices[0] >= '1' && devices[0] <= '0' + FAKE_MAX_DEVICES &&
        devices[1] == '\0')
        g_devices = devices[0] - '0';
    for (int d = 0; d < FAKE_MAX_DEVICES; d++)
        g_next_device[d] = FAKE_DEVICE_BASE + (uint64_t)d * FAKE_DEVICE_SPAN;

    const char *path = getenv("CUDA_INJECTION64_PATH");
    if (path != NULL && *path != '\0') {
        void *lib = dlopen(path, RTLD_NOW | RTLD_LOCAL);
        if (lib == NULL) {
            fprintf(stderr, "fake_cuda: cannot load injection '%s': %s\n", path, dlerror());
        } else {
            int (*init)(void);
            *(void **)&init = dlsym(lib, "InitializeInjection");
            if (init == NULL)
                fprintf(stderr, "fake_cuda: '%s' has no InitializeInjection\n", path);
            else
                (void)init(); /* the driver ignores its result too */
        }
    }
    atomic_store(&g_initialized, true);
}

CUresult CUDAAPI cuInit(unsigned int Flags)
{
    if (Flags != 0)
        return CUDA_ERROR_INVALID_VALUE;
    pthread_once(&g_init_once, init_once);
    return CUDA_SUCCESS;
}

/* Allocation table. */

static struct entry **bucket(uint64_t key)
{
    return &g_table[(key >> 9 ^ key >> 21) % FAKE_BUCKETS];
}

/* Reserves size bytes of `device` (if `counted`) and records `key`.
 * Returns CUDA_ERROR_OUT_OF_MEMORY over budget. */
static CUresult table_add(uint64_t key, uint64_t size, int device, enum entry_kind kind)
{
    struct entry *e = malloc(sizeof *e);
    if (e == NULL)
        return CUDA_ERROR_OUT_OF_MEMORY;
    *e = (struct entry){.key = key, .size = size, .device = device, .kind = kind};
    struct entry **b = bucket(key);
    e->next = *b;
    *b = e;
    if (kind == ENTRY_DEVICE || kind == ENTRY_VMM_HANDLE)
        g_used[device] += size;
    return CUDA_SUCCESS;
}

/* Removes `key` of `kind`; CUDA_ERROR_INVALID_VALUE if it is not live. */
static CUresult table_remove(uint64_t key, enum entry_kind kind)
{
    for (struct entry **p = bucket(key); *p != NULL; p = &(*p)->next) {
        struct entry *e = *p;
        if (e->key != key || e->kind != kind)
            continue;
        if (kind == ENTRY_DEVICE || kind == ENTRY_VMM_HANDLE)
            g_used[e->device] -= e->size;
        *p = e->next;
        free(e);
        return CUDA_SUCCESS;
    }
    return CUDA_ERROR_INVALID_VALUE;
}

static int table_has(uint64_t key, enum entry_kind kind)
{
    for (struct entry *e = *bucket(key); e != NULL; e = e->next)
        if (e->key == key && e->kind == kind)
            return 1;
    return 0;
}

static uint64_t align_up(uint64_t n)
{
    return (n + FAKE_ALIGN - 1) & ~(uint64_t)(FAKE_ALIGN - 1);
}

/* Device memory (or, with counted = 0, address space only) of `device`. */
static CUresult device_alloc(uint64_t *out, uint64_t size, int device, enum entry_kind kind)
{
    if (size == 0)
        return CUDA_ERROR_INVALID_VALUE;
    pthread_mutex_lock(&g_lock);
    CUresult r = CUDA_SUCCESS;
    if (kind != ENTRY_VA && (size > g_budget || g_used[device] > g_budget - size)) {
        r = CUDA_ERROR_OUT_OF_MEMORY;
    } else {
        uint64_t addr = g_next_device[device];
        r = table_add(addr, size, device, kind);
        if (r == CUDA_SUCCESS) {
            g_next_device[device] += align_up(size);
            *out = addr;
        }
    }
    pthread_mutex_unlock(&g_lock);
    return r;
}

static CUresult release(uint64_t key, enum entry_kind kind)
{
    pthread_mutex_lock(&g_lock);
    CUresult r = table_remove(key, kind);
    pthread_mutex_unlock(&g_lock);
    return r;
}

/* Callback plumbing. */

struct call {
    int domain;
    uint32_t cbid;
    const char *name;
    void *params;
    void *ctx;
    uint32_t uid;
};

static int current_device(void)
{
    return atomic_load(&g_current_device);
}

/* Reports ENTER of an API call on the current context. The first call on a
 * device announces its context, as the primary context's creation would. */
static struct call enter(int domain, uint32_t cbid, const char *name, void *params)
{
    int dev = current_device();
    struct call c = {domain, cbid, name, params, (void *)(uintptr_t)(dev + 1), (uint32_t)dev + 1};
    /* Before cuInit no tracer can listen: announce at the next call. */
    if (atomic_load(&g_initialized) && !atomic_exchange(&g_context_announced[dev], true))
        fakecupti_emit_resource(CUPTI_CBID_RESOURCE_CONTEXT_CREATED, c.ctx, NULL);
    fakecupti_emit(domain, cbid, CUPTI_API_ENTER, name, params, 0, c.ctx, c.uid);
    return c;
}

static int leave(const struct call *c, int result)
{
    fakecupti_emit(c->domain, c->cbid, CUPTI_API_EXIT, c->name, c->params, result, c->ctx, c->uid);
    return result;
}

static void announce_stream(CUstream s)
{
    uintptr_t n = (uintptr_t)s;
    if (n != 0 && n < FAKE_MAX_STREAM && !atomic_exchange(&g_stream_announced[n], true))
        fakecupti_emit_resource(CUPTI_CBID_RESOURCE_STREAM_CREATED,
                                (void *)(uintptr_t)(current_device() + 1), (void *)s);
}

#define DRV(api) CUPTI_CB_DOMAIN_DRIVER_API, CUPTI_DRIVER_TRACE_CBID_##api, #api
#define RT(api, ver) CUPTI_CB_DOMAIN_RUNTIME_API, CUPTI_RUNTIME_TRACE_CBID_##api##_##ver, #api

/* Driver memory API. */

CUresult CUDAAPI cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize)
{
    if (!atomic_load(&g_initialized))
        return CUDA_ERROR_NOT_INITIALIZED;
    cuMemAlloc_v2_params p = {.dptr = dptr, .bytesize = bytesize};
    struct call c = enter(DRV(cuMemAlloc_v2), &p);
    uint64_t addr = 0;
    CUresult r = dptr != NULL ? device_alloc(&addr, bytesize, current_device(), ENTRY_DEVICE)
                              : CUDA_ERROR_INVALID_VALUE;
    if (dptr != NULL)
        *dptr = r == CUDA_SUCCESS ? (CUdeviceptr)addr : 0;
    return (CUresult)leave(&c, r);
}

CUresult CUDAAPI cuMemFree_v2(CUdeviceptr dptr)
{
    if (!atomic_load(&g_initialized))
        return CUDA_ERROR_NOT_INITIALIZED;
    cuMemFree_v2_params p = {.dptr = dptr};
    struct call c = enter(DRV(cuMemFree_v2), &p);
    CUresult r = dptr == 0 ? CUDA_SUCCESS : release(dptr, ENTRY_DEVICE);
    return (CUresult)leave(&c, r);
}

CUresult CUDAAPI cuMemAllocAsync(CUdeviceptr *dptr, size_t bytesize, CUstream hStream)
{
    if (!atomic_load(&g_initialized))
        return CUDA_ERROR_NOT_INITIALIZED;
    announce_stream(hStream);
    cuMemAllocAsync_params p = {.dptr = dptr, .bytesize = bytesize, .hStream = hStream};
    struct call c = enter(DRV(cuMemAllocAsync), &p);
    uint64_t addr = 0;
    CUresult r = dptr != NULL ? device_alloc(&addr, bytesize, current_device(), ENTRY_DEVICE)
                              : CUDA_ERROR_INVALID_VALUE;
    if (dptr != NULL)
        *dptr = r == CUDA_SUCCESS ? (CUdeviceptr)addr : 0;
    return (CUresult)leave(&c, r);
}

CUresult CUDAAPI cuMemFreeAsync(CUdeviceptr dptr, CUstream hStream)
{
    if (!atomic_load(&g_initialized))
        return CUDA_ERROR_NOT_INITIALIZED;
    announce_stream(hStream);
    cuMemFreeAsync_params p = {.dptr = dptr, .hStream = hStream};
    struct call c = enter(DRV(cuMemFreeAsync), &p);
    CUresult r = dptr == 0 ? CUDA_SUCCESS : release(dptr, ENTRY_DEVICE);
    return (CUresult)leave(&c, r);
}

CUresult CUDAAPI cuMemGetInfo_v2(size_t *free, size_t *total)
{
    if (!atomic_load(&g_initialized))
        return CUDA_ERROR_NOT_INITIALIZED;
    cuMemGetInfo_v2_params p = {.free = free, .total = total};
    struct call c = enter(DRV(cuMemGetInfo_v2), &p);
    CUresult r = CUDA_ERROR_INVALID_VALUE;
    if (free != NULL && total != NULL) {
        pthread_mutex_lock(&g_lock);
        *free = (size_t)(g_budget - g_used[current_device()]);
        pthread_mutex_unlock(&g_lock);
        *total = (size_t)g_budget;
        r = CUDA_SUCCESS;
    }
    return (CUresult)leave(&c, r);
}

/* VMM: physical memory is a handle charged to the device of its location. */
CUresult CUDAAPI cuMemCreate(CUmemGenericAllocationHandle *handle, size_t size,
                             const CUmemAllocationProp *prop, unsigned long long flags)
{
    if (!atomic_load(&g_initialized))
        return CUDA_ERROR_NOT_INITIALIZED;
    cuMemCreate_params p = {.handle = handle, .size = size, .prop = prop, .flags = flags};
    struct call c = enter(DRV(cuMemCreate), &p);
    CUresult r = CUDA_ERROR_INVALID_VALUE;
    if (handle != NULL && prop != NULL && prop->location.type == CU_MEM_LOCATION_TYPE_DEVICE &&
        prop->location.id >= 0 && prop->location.id < g_devices && size > 0) {
        int dev = prop->location.id;
        pthread_mutex_lock(&g_lock);
        uint64_t h = g_next_handle;
        if (size > g_budget || g_used[dev] > g_budget - size) {
            r = CUDA_ERROR_OUT_OF_MEMORY;
        } else {
            r = table_add(h, size, dev, ENTRY_VMM_HANDLE);
            if (r == CUDA_SUCCESS)
                g_next_handle++;
        }
        pthread_mutex_unlock(&g_lock);
        *handle = r == CUDA_SUCCESS ? h : 0;
    }
    return (CUresult)leave(&c, r);
}

CUresult CUDAAPI cuMemRelease(CUmemGenericAllocationHandle handle)
{
    if (!atomic_load(&g_initialized))
        return CUDA_ERROR_NOT_INITIALIZED;
    cuMemRelease_params p = {.handle = handle};
    struct call c = enter(DRV(cuMemRelease), &p);
    return (CUresult)leave(&c, release(handle, ENTRY_VMM_HANDLE));
}

CUresult CUDAAPI cuMemAddressReserve(CUdeviceptr *ptr, size_t size, size_t alignment,
                                     CUdeviceptr addr, unsigned long long flags)
{
    if (!atomic_load(&g_initialized))
        return CUDA_ERROR_NOT_INITIALIZED;
    cuMemAddressReserve_params p = {
        .ptr = ptr, .size = size, .alignment = alignment, .addr = addr, .flags = flags};
    struct call c = enter(DRV(cuMemAddressReserve), &p);
    uint64_t va = 0;
    CUresult r = ptr != NULL ? device_alloc(&va, size, current_device(), ENTRY_VA)
                             : CUDA_ERROR_INVALID_VALUE;
    if (ptr != NULL)
        *ptr = r == CUDA_SUCCESS ? (CUdeviceptr)va : 0;
    return (CUresult)leave(&c, r);
}

CUresult CUDAAPI cuMemAddressFree(CUdeviceptr ptr, size_t size)
{
    if (!atomic_load(&g_initialized))
        return CUDA_ERROR_NOT_INITIALIZED;
    cuMemAddressFree_params p = {.ptr = ptr, .size = size};
    struct call c = enter(DRV(cuMemAddressFree), &p);
    return (CUresult)leave(&c, release(ptr, ENTRY_VA));
}

CUresult CUDAAPI cuMemMap(CUdeviceptr ptr, size_t size, size_t offset,
                          CUmemGenericAllocationHandle handle, unsigned long long flags)
{
    if (!atomic_load(&g_initialized))
        return CUDA_ERROR_NOT_INITIALIZED;
    cuMemMap_params p = {
        .ptr = ptr, .size = size, .offset = offset, .handle = handle, .flags = flags};
    struct call c = enter(DRV(cuMemMap), &p);
    pthread_mutex_lock(&g_lock);
    int ok = table_has(handle, ENTRY_VMM_HANDLE) && ptr != 0 && size > 0;
    pthread_mutex_unlock(&g_lock);
    return (CUresult)leave(&c, ok ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE);
}

CUresult CUDAAPI cuMemUnmap(CUdeviceptr ptr, size_t size)
{
    if (!atomic_load(&g_initialized))
        return CUDA_ERROR_NOT_INITIALIZED;
    cuMemUnmap_params p = {.ptr = ptr, .size = size};
    struct call c = enter(DRV(cuMemUnmap), &p);
    return (CUresult)leave(&c, ptr != 0 && size > 0 ? CUDA_SUCCESS : CUDA_ERROR_INVALID_VALUE);
}

/* Pinned host memory: addresses only, like the device's. */
CUresult CUDAAPI cuMemHostAlloc(void **pp, size_t bytesize, unsigned int Flags)
{
    if (!atomic_load(&g_initialized))
        return CUDA_ERROR_NOT_INITIALIZED;
    cuMemHostAlloc_params p = {.pp = pp, .bytesize = bytesize, .Flags = Flags};
    struct call c = enter(DRV(cuMemHostAlloc), &p);
    CUresult r = CUDA_ERROR_INVALID_VALUE;
    if (pp != NULL && bytesize > 0) {
        pthread_mutex_lock(&g_lock);
        uint64_t addr = g_next_host;
        r = table_add(addr, bytesize, current_device(), ENTRY_HOST);
        if (r == CUDA_SUCCESS)
            g_next_host += align_up(bytesize);
        pthread_mutex_unlock(&g_lock);
        *pp = r == CUDA_SUCCESS ? (void *)(uintptr_t)addr : NULL;
    }
    return (CUresult)leave(&c, r);
}

CUresult CUDAAPI cuMemFreeHost(void *ptr)
{
    if (!atomic_load(&g_initialized))
        return CUDA_ERROR_NOT_INITIALIZED;
    cuMemFreeHost_params p = {.p = ptr};
    struct call c = enter(DRV(cuMemFreeHost), &p);
    return (CUresult)leave(&c, release((uintptr_t)ptr, ENTRY_HOST));
}

/* Device queries a tracer may make outside its callbacks. No callbacks. */

CUresult CUDAAPI cuDriverGetVersion(int *driverVersion)
{
    if (driverVersion == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    *driverVersion = 13000; /* CUDA 13.0, whose headers tracer/cuda_abi.h follows */
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGetCount(int *count)
{
    if (!atomic_load(&g_initialized))
        return CUDA_ERROR_NOT_INITIALIZED;
    if (count == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    *count = g_devices;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGet(CUdevice *device, int ordinal)
{
    if (!atomic_load(&g_initialized))
        return CUDA_ERROR_NOT_INITIALIZED;
    if (device == NULL || ordinal < 0 || ordinal >= g_devices)
        return CUDA_ERROR_INVALID_DEVICE;
    *device = ordinal;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceGetName(char *name, int len, CUdevice dev)
{
    if (!atomic_load(&g_initialized))
        return CUDA_ERROR_NOT_INITIALIZED;
    if (name == NULL || len <= 0 || dev < 0 || dev >= g_devices)
        return CUDA_ERROR_INVALID_VALUE;
    snprintf(name, (size_t)len, "Fake GPU %d", dev);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuDeviceTotalMem_v2(size_t *bytes, CUdevice dev)
{
    if (!atomic_load(&g_initialized))
        return CUDA_ERROR_NOT_INITIALIZED;
    if (bytes == NULL || dev < 0 || dev >= g_devices)
        return CUDA_ERROR_INVALID_VALUE;
    *bytes = (size_t)g_budget;
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxGetCurrent(CUcontext *pctx)
{
    if (!atomic_load(&g_initialized))
        return CUDA_ERROR_NOT_INITIALIZED;
    if (pctx == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    *pctx = (CUcontext)(uintptr_t)(current_device() + 1);
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuCtxGetDevice(CUdevice *device)
{
    if (!atomic_load(&g_initialized))
        return CUDA_ERROR_NOT_INITIALIZED;
    if (device == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    *device = current_device();
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGetErrorString(CUresult error, const char **pStr)
{
    if (pStr == NULL)
        return CUDA_ERROR_INVALID_VALUE;
    switch (error) {
    case CUDA_SUCCESS:
        *pStr = "no error";
        break;
    case CUDA_ERROR_INVALID_VALUE:
        *pStr = "invalid argument";
        break;
    case CUDA_ERROR_OUT_OF_MEMORY:
        *pStr = "out of memory";
        break;
    case CUDA_ERROR_NOT_INITIALIZED:
        *pStr = "initialization error";
        break;
    default:
        *pStr = "unknown error";
        break;
    }
    return CUDA_SUCCESS;
}

CUresult CUDAAPI cuGetErrorName(CUresult error, const char **pStr)
{
    return cuGetErrorString(error, pStr);
}

/* Runtime stand-ins. The real runtime initializes the driver lazily inside
 * its first call, after that call's ENTER site; doing the same here lets a
 * scenario that skips cuInit show the tracer an EXIT without its ENTER
 * (docs/notes/cupti.md §1.1). The numeric values of the CUresult codes used here equal
 * their cudaError_t counterparts (1, 2, 3), so results pass through. */

static int rt_result(CUresult r)
{
    return (int)r;
}

int fake_cudaMalloc(void **devPtr, size_t size)
{
    cudaMalloc_v3020_params p = {.devPtr = devPtr, .size = size};
    struct call c = enter(RT(cudaMalloc, v3020), &p);
    cuInit(0);
    CUdeviceptr d = 0;
    CUresult r = devPtr != NULL ? cuMemAlloc_v2(&d, size) : CUDA_ERROR_INVALID_VALUE;
    if (devPtr != NULL)
        *devPtr = (void *)(uintptr_t)d;
    return leave(&c, rt_result(r));
}

int fake_cudaFree(void *devPtr)
{
    cudaFree_v3020_params p = {.devPtr = devPtr};
    struct call c = enter(RT(cudaFree, v3020), &p);
    cuInit(0);
    return leave(&c, rt_result(cuMemFree_v2((CUdeviceptr)(uintptr_t)devPtr)));
}

int fake_cudaMallocAsync(void **devPtr, size_t size, void *stream)
{
    cudaMallocAsync_v11020_params p = {
        .devPtr = devPtr, .size = size, .hStream = (cudaStream_t)stream};
    struct call c = enter(RT(cudaMallocAsync, v11020), &p);
    cuInit(0);
    CUdeviceptr d = 0;
    CUresult r =
        devPtr != NULL ? cuMemAllocAsync(&d, size, (CUstream)stream) : CUDA_ERROR_INVALID_VALUE;
    if (devPtr != NULL)
        *devPtr = (void *)(uintptr_t)d;
    return leave(&c, rt_result(r));
}

int fake_cudaFreeAsync(void *devPtr, void *stream)
{
    cudaFreeAsync_v11020_params p = {.devPtr = devPtr, .hStream = (cudaStream_t)stream};
    struct call c = enter(RT(cudaFreeAsync, v11020), &p);
    cuInit(0);
    return leave(&c, rt_result(cuMemFreeAsync((CUdeviceptr)(uintptr_t)devPtr, (CUstream)stream)));
}

int fake_cudaMallocHost(void **ptr, size_t size)
{
    cudaMallocHost_v3020_params p = {.ptr = ptr, .size = size};
    struct call c = enter(RT(cudaMallocHost, v3020), &p);
    cuInit(0);
    return leave(&c, rt_result(cuMemHostAlloc(ptr, size, 0)));
}

int fake_cudaFreeHost(void *ptr)
{
    cudaFreeHost_v3020_params p = {.ptr = ptr};
    struct call c = enter(RT(cudaFreeHost, v3020), &p);
    cuInit(0);
    return leave(&c, rt_result(cuMemFreeHost(ptr)));
}

int fakecuda_set_device(int device)
{
    if (device < 0 || device >= g_devices || device >= FAKE_MAX_DEVICES)
        return CUDA_ERROR_INVALID_VALUE;
    atomic_store(&g_current_device, device);
    return CUDA_SUCCESS;
}

void *fakecuda_stream(unsigned n)
{
    return (void *)(uintptr_t)n;
}
