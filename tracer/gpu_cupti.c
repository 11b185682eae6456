/* The CUPTI seam (gpu_cupti.h): CUPTI's entry points, resolved with dlsym. */
#define _GNU_SOURCE /* RTLD_NOLOAD, dlinfo */
#include "gpu_cupti.h"

#include <dlfcn.h>
#include <link.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>

typedef CUptiResult(CUPTIAPI *subscribe_v2_fn)(CUpti_SubscriberHandle *, CUpti_CallbackFunc, void *,
                                               CUpti_SubscriberParams *);
typedef CUptiResult(CUPTIAPI *subscribe_fn)(CUpti_SubscriberHandle *, CUpti_CallbackFunc, void *);
typedef CUptiResult(CUPTIAPI *enable_fn)(uint32_t, CUpti_SubscriberHandle, CUpti_CallbackDomain,
                                         CUpti_CallbackId);
typedef CUptiResult(CUPTIAPI *device_id_fn)(CUcontext, uint32_t *);
typedef CUptiResult(CUPTIAPI *result_string_fn)(CUptiResult, const char **);
typedef CUptiResult(CUPTIAPI *unsubscribe_fn)(CUpti_SubscriberHandle);

/* Written once by gt_cupti_load and gt_cupti_subscribe on the thread that
 * runs InitializeInjection, before any callback is enabled; read-only after. */
static struct {
    void *lib;
    char path[256]; /* the loaded file, as the loader resolved it */
    subscribe_v2_fn subscribe_v2;
    subscribe_fn subscribe;
    enable_fn enable;
    device_id_fn device_id;
    result_string_fn result_string;
    unsubscribe_fn unsubscribe;
    CUpti_SubscriberHandle sub;
} g_cupti;

/* Context uid -> device: one word per entry so a reader never sees half an
 * update: uid in the high 32 bits, bit 31 "valid", the ordinal in bits 0-30
 * (all ones: unknown).
 * Uids are sequential, so a direct-mapped table of 64 entries is exact for
 * up to 64 live contexts and merely re-asks CUPTI beyond. */
#define CTX_CACHE 64
#define CTX_VALID 0x80000000u
#define CTX_UNKNOWN 0x7fffffffu /* CUPTI could not tell */
static _Atomic uint64_t g_ctx_cache[CTX_CACHE];

/* ISO C has no conversion between object and function pointers; dlsym's
 * result is copied bytewise, as POSIX intends. */
static int resolve(const char *name, void *fnptr, size_t size)
{
    void *sym = dlsym(g_cupti.lib, name);
    if (sym == NULL)
        return -1;
    memcpy(fnptr, &sym, size);
    return 0;
}
#define RESOLVE(name, field) resolve(name, &g_cupti.field, sizeof g_cupti.field)

/* Remembers the file behind `lib`: the full path the loader resolved
 * (dlinfo's link map), so the user learns which of the CUPTIs on the
 * machine traced their program, not just a soname. */
static void remember_path(void *lib, const char *name)
{
    struct link_map *map = NULL;
    const char *file = name;
    if (dlinfo(lib, RTLD_DI_LINKMAP, &map) == 0 && map != NULL && map->l_name != NULL &&
        map->l_name[0] != '\0')
        file = map->l_name;
    snprintf(g_cupti.path, sizeof g_cupti.path, "%s", file);
}

static void *try_open(const char *name, int flags)
{
    void *lib = dlopen(name, RTLD_NOW | RTLD_LOCAL | flags);
    if (lib != NULL)
        remember_path(lib, name);
    return lib;
}

/* The first of the colon-separated files in `list` that loads. */
static void *try_candidates(const char *list)
{
    char name[sizeof g_cupti.path];
    void *lib = NULL;
    while (lib == NULL && list != NULL && *list != '\0') {
        const char *end = strchr(list, ':');
        size_t len = end != NULL ? (size_t)(end - list) : strlen(list);
        if (len > 0 && len < sizeof name) {
            memcpy(name, list, len);
            name[len] = '\0';
            lib = try_open(name, 0);
        }
        list = end != NULL ? end + 1 : NULL;
    }
    return lib;
}

int gt_cupti_load(const char *path, const char *candidates, char *err, size_t errlen)
{
    static const char *const sonames[] = {"libcupti.so.13", "libcupti.so.12", "libcupti.so"};
    if (path != NULL) {
        g_cupti.lib = try_open(path, 0);
    } else {
        /* A CUPTI already in the process first: a second copy with another
         * soname would fight the first over the driver (docs/notes/cupti.md §1.6).
         * Then the ones `gpu-trace record` found where the program's
         * environment keeps them, then the loader's search path. */
        for (size_t i = 0; g_cupti.lib == NULL && i < sizeof sonames / sizeof *sonames; i++)
            g_cupti.lib = try_open(sonames[i], RTLD_NOLOAD);
        if (g_cupti.lib == NULL)
            g_cupti.lib = try_candidates(candidates);
        for (size_t i = 0; g_cupti.lib == NULL && i < sizeof sonames / sizeof *sonames; i++)
            g_cupti.lib = try_open(sonames[i], 0);
    }
    if (g_cupti.lib == NULL) {
        const char *why = dlerror();
        snprintf(err, errlen, "cannot load CUPTI: %s", why != NULL ? why : "not found");
        return -1;
    }
    int have_v2 = RESOLVE("cuptiSubscribe_v2", subscribe_v2) == 0;
    int have_v1 = RESOLVE("cuptiSubscribe", subscribe) == 0;
    const char *missing = NULL;
    if (!have_v2 && !have_v1)
        missing = "cuptiSubscribe";
    else if (RESOLVE("cuptiEnableCallback", enable) != 0)
        missing = "cuptiEnableCallback";
    if (missing != NULL) {
        snprintf(err, errlen, "'%s' has no %s", g_cupti.path, missing);
        return -1;
    }
    /* Optional: without them devices are -1 and errors are numbers. */
    (void)RESOLVE("cuptiGetDeviceId", device_id);
    (void)RESOLVE("cuptiGetResultString", result_string);
    (void)RESOLVE("cuptiUnsubscribe", unsubscribe);
    return 0;
}

const char *gt_cupti_loaded_path(void)
{
    return g_cupti.path;
}

const char *gt_cupti_result_name(CUptiResult r)
{
    const char *s = NULL;
    if (g_cupti.result_string == NULL || g_cupti.result_string(r, &s) != CUPTI_SUCCESS || s == NULL)
        return "CUPTI error";
    return s;
}

CUptiResult gt_cupti_subscribe(CUpti_CallbackFunc cb, void *userdata, char *err, size_t errlen)
{
    char old[CUPTI_OLD_SUBSCRIBER_NAME_MIN_LEN + 1] = "";
    CUptiResult r;
    if (g_cupti.subscribe_v2 != NULL) {
        CUpti_SubscriberParams p;
        memset(&p, 0, sizeof p);
        p.structSize = CUpti_SubscriberParams_STRUCT_SIZE;
        p.subscriberName = "gpu-trace";
        p.oldSubscriberName = old;
        p.oldSubscriberSize = CUPTI_OLD_SUBSCRIBER_NAME_MIN_LEN;
        r = g_cupti.subscribe_v2(&g_cupti.sub, cb, userdata, &p);
    } else {
        r = g_cupti.subscribe(&g_cupti.sub, cb, userdata);
    }
    if (r == CUPTI_SUCCESS)
        return r;
    g_cupti.sub = NULL;
    old[CUPTI_OLD_SUBSCRIBER_NAME_MIN_LEN] = '\0';
    for (char *c = old; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
    const char *name = gt_cupti_result_name(r);
    if (r == CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED)
        snprintf(err, errlen, "another CUPTI client is active%s%s%s (%s, %d)", old[0] ? ": '" : "",
                 old, old[0] ? "'" : "", name, (int)r);
    else
        snprintf(err, errlen, "cuptiSubscribe failed: %s (%d)", name, (int)r);
    return r;
}

CUptiResult gt_cupti_enable(CUpti_CallbackDomain domain, CUpti_CallbackId cbid)
{
    return g_cupti.enable(1, g_cupti.sub, domain, cbid);
}

void gt_cupti_unsubscribe(void)
{
    if (g_cupti.unsubscribe != NULL && g_cupti.sub != NULL)
        g_cupti.unsubscribe(g_cupti.sub);
    g_cupti.sub = NULL;
}

int32_t gt_cupti_device(CUcontext ctx, uint32_t context_uid)
{
    if (ctx == NULL || g_cupti.device_id == NULL)
        return -1;
    _Atomic uint64_t *slot = &g_ctx_cache[context_uid % CTX_CACHE];
    uint64_t e = atomic_load_explicit(slot, memory_order_relaxed);
    if ((e & CTX_VALID) != 0 && (uint32_t)(e >> 32) == context_uid) {
        uint32_t dev = (uint32_t)e & ~CTX_VALID;
        return dev == CTX_UNKNOWN ? -1 : (int32_t)dev;
    }
    uint32_t dev = 0;
    /* A context CUPTI cannot place is cached as unknown too: asking again
     * on every call would put a CUPTI call on the hot path for good. */
    if (g_cupti.device_id(ctx, &dev) != CUPTI_SUCCESS || dev >= CTX_UNKNOWN)
        dev = CTX_UNKNOWN;
    atomic_store_explicit(slot, (uint64_t)context_uid << 32 | CTX_VALID | dev,
                          memory_order_relaxed);
    return dev == CTX_UNKNOWN ? -1 : (int32_t)dev;
}

/* The driver's device queries, resolved on first use from the libcuda the
 * process has already loaded (it is what loaded us). */
typedef CUresult (*cu_device_get_fn)(CUdevice *, int);
typedef CUresult (*cu_device_get_name_fn)(char *, int, CUdevice);
typedef CUresult (*cu_device_total_mem_fn)(size_t *, CUdevice);

int gt_cupti_describe_device(int32_t ordinal, char *name, size_t len, uint64_t *total)
{
    void *cuda = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
    if (cuda == NULL)
        return -1;
    cu_device_get_fn get;
    cu_device_get_name_fn get_name;
    cu_device_total_mem_fn total_mem;
    void *p = dlsym(cuda, "cuDeviceGet");
    memcpy(&get, &p, sizeof get);
    p = dlsym(cuda, "cuDeviceGetName");
    memcpy(&get_name, &p, sizeof get_name);
    p = dlsym(cuda, "cuDeviceTotalMem_v2");
    memcpy(&total_mem, &p, sizeof total_mem);
    CUdevice dev;
    size_t bytes = 0;
    int rc = -1;
    if (get != NULL && get_name != NULL && total_mem != NULL && len > 1 && len <= INT32_MAX &&
        get(&dev, ordinal) == CUDA_SUCCESS && get_name(name, (int)len, dev) == CUDA_SUCCESS &&
        total_mem(&bytes, dev) == CUDA_SUCCESS) {
        name[len - 1] = 0;
        *total = bytes;
        rc = 0;
    }
    dlclose(cuda); /* drops the NOLOAD reference only */
    return rc;
}

typedef CUresult (*cu_mem_get_info_fn)(size_t *, size_t *);

int gt_cupti_memory_now(uint64_t *free_bytes, uint64_t *total_bytes)
{
    void *cuda = dlopen("libcuda.so.1", RTLD_NOW | RTLD_NOLOAD);
    if (cuda == NULL)
        return -1;
    cu_mem_get_info_fn get_info;
    void *p = dlsym(cuda, "cuMemGetInfo_v2");
    memcpy(&get_info, &p, sizeof get_info);
    size_t free_now = 0, total = 0;
    int rc = -1;
    if (get_info != NULL && get_info(&free_now, &total) == CUDA_SUCCESS) {
        *free_bytes = free_now;
        *total_bytes = total;
        rc = 0;
    }
    dlclose(cuda); /* drops the NOLOAD reference only */
    return rc;
}
