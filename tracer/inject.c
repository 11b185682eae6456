/* libgputrace-inject.so: loaded by the CUDA driver through
 * CUDA_INJECTION64_PATH, which calls InitializeInjection during the first
 * cuInit. It subscribes to the CUPTI callbacks of the memory APIs (docs/notes/cupti.md
 * §2.3) and turns each API exit into one fixed-size record of the process's
 * ring (tracer/include/gputrace/ring.h), which `gpu-trace record` drains. Facts
 * only: which records are requests or segments is the launcher's business.
 *
 * A polite guest (docs/notes/conventions.md): configured by GPUTRACE_* variables read
 * once; never exits, aborts or breaks the program (a tracer that cannot
 * start says why in the ring's status, which the launcher reports, and on
 * stderr only what the ring cannot carry); callbacks take no
 * locks, allocate nothing and call CUDA never and CUPTI at most once per
 * context, except that an allocation on a thread holding Python's GIL
 * takes its Python stack through Python's own API (pyframes.h); a forked
 * child is never traced. */
#define _GNU_SOURCE /* syscall, SYS_gettid */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "gpu_cupti.h"
#include "inject_int.h"
#include "pyframes.h"
#include "ring_writer.h"

#define GT_EXPORT __attribute__((visibility("default")))
#define MAX_STDERR_LINES 4
#define END_WAIT_MS 100

GT_EXPORT int InitializeInjection(void);

/* Process state. g_active is the only thing the hot path reads besides the
 * ring: 1 from a successful subscribe until exit, a CUPTI fatal error, or
 * fork (in the child). */
static atomic_flag g_initialized = ATOMIC_FLAG_INIT;
static _Atomic int g_active;
/* Python stacks are taken (pyframes.h); set before callbacks are enabled. */
static int g_frames_on;
static pid_t g_owner;
static struct gt_ringw g_ring;
static _Atomic int g_lines;

/* Per thread, one TLS block so the callback pays one TLS lookup. */
struct gt_tls {
    int in_callback;     /* recursion guard: CUPTI calls made from the callback */
    uint32_t rt_depth;   /* traced runtime calls in progress on this thread */
    uint32_t unparented; /* driver records at depth 0 since the last runtime callback */
    int64_t tid;         /* gettid() cached; 0 = not yet */
    /* The context of this thread's last record and its device, already
     * described in the ring: a thread calls on one context for long, so
     * most records skip the shared cache and the header (ctx_known 0: none). */
    CUcontext ctx;
    uint32_t ctx_uid;
    int32_t ctx_device;
    int ctx_known;
};
static _Thread_local struct gt_tls tls;

/* One prefixed line on stderr, at most MAX_STDERR_LINES per process, with
 * control characters replaced: messages carry paths and CUPTI's strings. */
__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
    if (atomic_fetch_add_explicit(&g_lines, 1, memory_order_relaxed) >= MAX_STDERR_LINES)
        return;
    char line[512];
    int n = snprintf(line, sizeof(line), "gpu-trace: ");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line + n, sizeof(line) - (size_t)n - 1, fmt, ap);
    va_end(ap);
    size_t len = strlen(line);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)line[i] < 0x20 || line[i] == 0x7f)
            line[i] = '?';
    line[len++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

static int64_t thread_id(struct gt_tls *t)
{
    if (t->tid == 0)
        t->tid = (int64_t)syscall(SYS_gettid);
    return t->tid;
}

/* The forked child has only the forking thread; it never touches CUPTI or
 * the parent's ring (docs/notes/cupti.md §1.4), and must not report the parent's tid. */
static void atfork_child(void)
{
    atomic_store_explicit(&g_active, 0, memory_order_relaxed);
    tls.tid = 0;
    tls.rt_depth = 0;
    tls.unparented = 0;
    tls.ctx_known = 0;
}

static void at_exit(void)
{
    if (getpid() != g_owner || !atomic_load_explicit(&g_active, memory_order_relaxed))
        return;
    /* Stop first, so the END marker is the process's last record; frees
     * made by later exit handlers carry nothing the analyzer needs: it
     * closes every live allocation at the process's end. No cuptiFinalize
     * or Unsubscribe here: both can hang at exit (docs/notes/cupti.md §1.3). */
    atomic_store_explicit(&g_active, 0, memory_order_relaxed);
    gt_ringw_publish_end(&g_ring, thread_id(&tls), END_WAIT_MS);
}

/* ---- configuration ------------------------------------------------------ */

/* A decimal without sign, spaces or overflow; -1 if `s` is not one. */
static int64_t parse_u63(const char *s)
{
    if (s == NULL || *s == '\0')
        return -1;
    int64_t v = 0;
    for (; *s; s++) {
        if (*s < '0' || *s > '9' || v > (INT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (*s - '0');
    }
    return v;
}

struct config {
    const char *ring_dir;         /* NULL: not under `gpu-trace record`, do nothing */
    const char *cupti;            /* NULL: find CUPTI */
    const char *cupti_candidates; /* where `record` found CUPTIs; may be NULL */
    int frames;                   /* take Python stacks of allocations */
    uint64_t capacity;
    int64_t rank;
};

static void read_config(struct config *c)
{
    c->ring_dir = getenv(GT_RING_ENV_DIR);
    if (c->ring_dir != NULL && c->ring_dir[0] == '\0')
        c->ring_dir = NULL;
    c->cupti = getenv(GT_RING_ENV_CUPTI);
    if (c->cupti != NULL && c->cupti[0] == '\0')
        c->cupti = NULL;
    c->cupti_candidates = getenv(GT_RING_ENV_CUPTI_CANDIDATES);
    const char *frames = getenv(GT_RING_ENV_FRAMES);
    c->frames = frames == NULL || strcmp(frames, "0") != 0;
    c->capacity = GT_RING_DEFAULT_CAPACITY;
    const char *cap = getenv(GT_RING_ENV_CAPACITY);
    if (cap != NULL) {
        int64_t v = parse_u63(cap);
        if (v > 0 && gt_ringw_capacity_ok((uint64_t)v))
            c->capacity = (uint64_t)v;
        else
            say("warning: ignoring %s='%.40s': not a power of two from 1 to %u; using %u",
                GT_RING_ENV_CAPACITY, cap, GT_RINGW_MAX_CAPACITY, GT_RING_DEFAULT_CAPACITY);
    }
    /* The launcher's rank (torchrun, srun, MPI), not ours: a value we cannot
     * read is no rank. */
    int64_t rank = parse_u63(gt_ring_rank_env(NULL));
    c->rank = rank >= 0 && rank <= INT32_MAX ? rank : -1;
}

/* ---- the callback -------------------------------------------------------- */

static uint64_t mul_sat(uint64_t a, uint64_t b)
{
    uint64_t r;
    return __builtin_mul_overflow(a, b, &r) ? UINT64_MAX : r;
}

/* Output parameters hold something only when the call succeeded, and the
 * program may have passed NULL (docs/notes/cupti.md §2.2). */
#define OUT(ok, p) ((ok) && (p) != NULL ? (uint64_t)(uintptr_t) * (p) : 0)
#define OUT_U(ok, p) ((ok) && (p) != NULL ? (uint64_t) * (p) : 0)
#define HANDLE(h) ((uint64_t)(uintptr_t)(h))

/* The runtime calls of docs/notes/cupti.md §2.3: fills kind, addr, size and stream of
 * *ev from the params at API exit; returns 0, or -1 for a cbid we do not
 * trace. `ok`: the call returned cudaSuccess. */
static int translate_runtime(CUpti_CallbackId cbid, const void *params, int ok,
                             struct gt_ringw_event *ev)
{
    switch (cbid) {
    case CUPTI_RUNTIME_TRACE_CBID_cudaMalloc_v3020: {
        const cudaMalloc_v3020_params *p = params;
        ev->kind = GT_RING_KIND_ALLOC;
        ev->addr = OUT(ok, p->devPtr);
        ev->size = p->size;
        return 0;
    }
    case CUPTI_RUNTIME_TRACE_CBID_cudaMallocPitch_v3020: {
        const cudaMallocPitch_v3020_params *p = params;
        ev->kind = GT_RING_KIND_ALLOC;
        ev->addr = OUT(ok, p->devPtr);
        /* The bytes reserved are pitch x height; on failure, the request. */
        ev->size =
            ok && p->pitch != NULL ? mul_sat(*p->pitch, p->height) : mul_sat(p->width, p->height);
        return 0;
    }
    case CUPTI_RUNTIME_TRACE_CBID_cudaMalloc3D_v3020: {
        const cudaMalloc3D_v3020_params *p = params;
        ev->kind = GT_RING_KIND_ALLOC;
        if (ok && p->pitchedDevPtr != NULL) {
            ev->addr = HANDLE(p->pitchedDevPtr->ptr);
            ev->size = mul_sat(mul_sat(p->pitchedDevPtr->pitch, p->extent.height), p->extent.depth);
        } else {
            ev->size = mul_sat(mul_sat(p->extent.width, p->extent.height), p->extent.depth);
        }
        return 0;
    }
    case CUPTI_RUNTIME_TRACE_CBID_cudaMallocManaged_v6000: {
        const cudaMallocManaged_v6000_params *p = params;
        ev->kind = GT_RING_KIND_ALLOC;
        ev->addr = OUT(ok, p->devPtr);
        ev->size = p->size;
        return 0;
    }
    case CUPTI_RUNTIME_TRACE_CBID_cudaFree_v3020: {
        const cudaFree_v3020_params *p = params;
        ev->kind = GT_RING_KIND_FREE;
        ev->addr = HANDLE(p->devPtr);
        return 0;
    }
    case CUPTI_RUNTIME_TRACE_CBID_cudaMallocHost_v3020: {
        const cudaMallocHost_v3020_params *p = params;
        ev->kind = GT_RING_KIND_HOST_ALLOC;
        ev->addr = OUT(ok, p->ptr);
        ev->size = p->size;
        return 0;
    }
    case CUPTI_RUNTIME_TRACE_CBID_cudaHostAlloc_v3020: {
        const cudaHostAlloc_v3020_params *p = params;
        ev->kind = GT_RING_KIND_HOST_ALLOC;
        ev->addr = OUT(ok, p->pHost);
        ev->size = p->size;
        return 0;
    }
    case CUPTI_RUNTIME_TRACE_CBID_cudaFreeHost_v3020: {
        const cudaFreeHost_v3020_params *p = params;
        ev->kind = GT_RING_KIND_HOST_FREE;
        ev->addr = HANDLE(p->ptr);
        return 0;
    }
    case CUPTI_RUNTIME_TRACE_CBID_cudaMemGetInfo_v3020: {
        const cudaMemGetInfo_v3020_params *p = params;
        ev->kind = GT_RING_KIND_MEMINFO;
        ev->addr = OUT_U(ok, p->free);
        ev->size = OUT_U(ok, p->total);
        return 0;
    }
    /* The _ptsz params have the same layout as the plain ones; the
     * cbid tells the launcher which default stream 0 meant. */
    case CUPTI_RUNTIME_TRACE_CBID_cudaMallocAsync_v11020:
    case CUPTI_RUNTIME_TRACE_CBID_cudaMallocAsync_ptsz_v11020: {
        const cudaMallocAsync_v11020_params *p = params;
        ev->kind = GT_RING_KIND_ALLOC;
        ev->addr = OUT(ok, p->devPtr);
        ev->size = p->size;
        ev->stream = HANDLE(p->hStream);
        return 0;
    }
    case CUPTI_RUNTIME_TRACE_CBID_cudaFreeAsync_v11020:
    case CUPTI_RUNTIME_TRACE_CBID_cudaFreeAsync_ptsz_v11020: {
        const cudaFreeAsync_v11020_params *p = params;
        ev->kind = GT_RING_KIND_FREE;
        ev->addr = HANDLE(p->devPtr);
        ev->stream = HANDLE(p->hStream);
        return 0;
    }
    case CUPTI_RUNTIME_TRACE_CBID_cudaMallocFromPoolAsync_v11020:
    case CUPTI_RUNTIME_TRACE_CBID_cudaMallocFromPoolAsync_ptsz_v11020: {
        const cudaMallocFromPoolAsync_v11020_params *p = params;
        ev->kind = GT_RING_KIND_ALLOC;
        ev->addr = OUT(ok, p->ptr);
        ev->size = p->size;
        ev->stream = HANDLE(p->stream);
        return 0;
    }
    default:
        return -1;
    }
}

/* The driver calls of docs/notes/cupti.md §2.3, as translate_runtime. */
static int translate_driver(CUpti_CallbackId cbid, const void *params, int ok,
                            struct gt_ringw_event *ev)
{
    switch (cbid) {
    case CUPTI_DRIVER_TRACE_CBID_cuMemAlloc_v2: {
        const cuMemAlloc_v2_params *p = params;
        ev->kind = GT_RING_KIND_ALLOC;
        ev->addr = OUT_U(ok, p->dptr);
        ev->size = p->bytesize;
        return 0;
    }
    case CUPTI_DRIVER_TRACE_CBID_cuMemAllocPitch_v2: {
        const cuMemAllocPitch_v2_params *p = params;
        ev->kind = GT_RING_KIND_ALLOC;
        ev->addr = OUT_U(ok, p->dptr);
        ev->size = ok && p->pPitch != NULL ? mul_sat(*p->pPitch, p->Height)
                                           : mul_sat(p->WidthInBytes, p->Height);
        return 0;
    }
    case CUPTI_DRIVER_TRACE_CBID_cuMemAllocManaged: {
        const cuMemAllocManaged_params *p = params;
        ev->kind = GT_RING_KIND_ALLOC;
        ev->addr = OUT_U(ok, p->dptr);
        ev->size = p->bytesize;
        return 0;
    }
    case CUPTI_DRIVER_TRACE_CBID_cuMemFree_v2: {
        const cuMemFree_v2_params *p = params;
        ev->kind = GT_RING_KIND_FREE;
        ev->addr = p->dptr;
        return 0;
    }
    case CUPTI_DRIVER_TRACE_CBID_cuMemGetInfo_v2: {
        const cuMemGetInfo_v2_params *p = params;
        ev->kind = GT_RING_KIND_MEMINFO;
        ev->addr = OUT_U(ok, p->free);
        ev->size = OUT_U(ok, p->total);
        return 0;
    }
    case CUPTI_DRIVER_TRACE_CBID_cuMemAllocAsync:
    case CUPTI_DRIVER_TRACE_CBID_cuMemAllocAsync_ptsz: {
        const cuMemAllocAsync_params *p = params;
        ev->kind = GT_RING_KIND_ALLOC;
        ev->addr = OUT_U(ok, p->dptr);
        ev->size = p->bytesize;
        ev->stream = HANDLE(p->hStream);
        return 0;
    }
    case CUPTI_DRIVER_TRACE_CBID_cuMemFreeAsync:
    case CUPTI_DRIVER_TRACE_CBID_cuMemFreeAsync_ptsz: {
        const cuMemFreeAsync_params *p = params;
        ev->kind = GT_RING_KIND_FREE;
        ev->addr = p->dptr;
        ev->stream = HANDLE(p->hStream);
        return 0;
    }
    case CUPTI_DRIVER_TRACE_CBID_cuMemAllocFromPoolAsync:
    case CUPTI_DRIVER_TRACE_CBID_cuMemAllocFromPoolAsync_ptsz: {
        const cuMemAllocFromPoolAsync_params *p = params;
        ev->kind = GT_RING_KIND_ALLOC;
        ev->addr = OUT_U(ok, p->dptr);
        ev->size = p->bytesize;
        ev->stream = HANDLE(p->hStream);
        return 0;
    }
    case CUPTI_DRIVER_TRACE_CBID_cuMemCreate: {
        const cuMemCreate_params *p = params;
        ev->kind = GT_RING_KIND_VMM_CREATE;
        ev->addr = OUT_U(ok, p->handle);
        ev->size = p->size;
        /* VMM memory belongs to no context: its device is the one asked for
         * (cuda.h: location.id is an ordinal for a DEVICE location). */
        ev->device = p->prop != NULL && p->prop->location.type == CU_MEM_LOCATION_TYPE_DEVICE
                         ? p->prop->location.id
                         : -1;
        return 0;
    }
    case CUPTI_DRIVER_TRACE_CBID_cuMemRelease: {
        const cuMemRelease_params *p = params;
        ev->kind = GT_RING_KIND_VMM_RELEASE;
        ev->addr = p->handle;
        return 0;
    }
    case CUPTI_DRIVER_TRACE_CBID_cuMemMap: {
        const cuMemMap_params *p = params;
        ev->kind = GT_RING_KIND_VMM_MAP;
        ev->addr = p->ptr;
        ev->size = p->size;
        return 0;
    }
    case CUPTI_DRIVER_TRACE_CBID_cuMemUnmap: {
        const cuMemUnmap_params *p = params;
        ev->kind = GT_RING_KIND_VMM_UNMAP;
        ev->addr = p->ptr;
        ev->size = p->size;
        return 0;
    }
    case CUPTI_DRIVER_TRACE_CBID_cuMemHostAlloc: {
        const cuMemHostAlloc_params *p = params;
        ev->kind = GT_RING_KIND_HOST_ALLOC;
        ev->addr = OUT(ok, p->pp);
        ev->size = p->bytesize;
        return 0;
    }
    case CUPTI_DRIVER_TRACE_CBID_cuMemAllocHost_v2: {
        const cuMemAllocHost_v2_params *p = params;
        ev->kind = GT_RING_KIND_HOST_ALLOC;
        ev->addr = OUT(ok, p->pp);
        ev->size = p->bytesize;
        return 0;
    }
    case CUPTI_DRIVER_TRACE_CBID_cuMemFreeHost: {
        const cuMemFreeHost_params *p = params;
        ev->kind = GT_RING_KIND_HOST_FREE;
        ev->addr = HANDLE(p->p);
        return 0;
    }
    default:
        return -1;
    }
}

/* The first record on a device describes the device in the ring's header
 * (name, total memory), so the trace names the card and analyze knows its
 * size. One relaxed load per record afterwards. */
static void describe_once(int32_t device)
{
    if (device < 0 || device >= GT_RING_MAX_DEVICES || g_ring.hdr == NULL)
        return;
    struct gt_ring_device *d = &g_ring.hdr->devices[device];
    uint32_t idle = 0;
    if (atomic_load_explicit(&d->state, memory_order_relaxed) != 0 ||
        !atomic_compare_exchange_strong_explicit(&d->state, &idle, 1, memory_order_acquire,
                                                 memory_order_relaxed))
        return;
    char name[sizeof d->name];
    uint64_t total = 0;
    if (gt_cupti_describe_device(device, name, sizeof name, &total) != 0) {
        name[0] = 0;
        total = 0;
    }
    memcpy(d->name, name, sizeof name);
    d->total_memory = total;
    atomic_store_explicit(&d->state, 2, memory_order_release);
}

/* After a device allocation failed for lack of memory, what the driver says
 * is free on that device, as a MEMINFO record with domain 0 (the tracer's
 * own question, not the program's). Only the outermost record asks: a
 * runtime cudaMalloc and the cuMemAlloc inside it fail once. */
static void record_memory_at_oom(const struct gt_ringw_event *failed)
{
    int device_memory =
        failed->kind == GT_RING_KIND_ALLOC || failed->kind == GT_RING_KIND_VMM_CREATE;
    if (!device_memory || failed->result != GT_RING_OUT_OF_MEMORY || failed->nested)
        return;
    uint64_t free_bytes, total_bytes;
    if (gt_cupti_memory_now(&free_bytes, &total_bytes) != 0)
        return;
    struct gt_ringw_event ev = *failed;
    ev.kind = GT_RING_KIND_MEMINFO;
    ev.result = 0;
    ev.domain = 0;
    ev.cbid = 0;
    ev.stream = 0;
    ev.addr = free_bytes;
    ev.size = total_bytes;
    ev.ts_ns = gt_ringw_now_ns();
    ev.enter_ns = 0;
    gt_ringw_publish(&g_ring, &ev);
}

/* Whether the call releases memory (a FREE, HOST_FREE or VMM_UNMAP record):
 * only those need their enter time. The launcher orders a release by it, so
 * that a free on one thread comes before the allocation on another thread
 * that reused its address (ring_drain.c is_release); an allocation is
 * ordered by its exit. Reading the clock at ENTER for the others too cost
 * every allocation a second clock read (~30 ns under the test double). */
static int is_release_call(int runtime, CUpti_CallbackId cbid)
{
    if (runtime) {
        switch (cbid) {
        case CUPTI_RUNTIME_TRACE_CBID_cudaFree_v3020:
        case CUPTI_RUNTIME_TRACE_CBID_cudaFreeHost_v3020:
        case CUPTI_RUNTIME_TRACE_CBID_cudaFreeAsync_v11020:
        case CUPTI_RUNTIME_TRACE_CBID_cudaFreeAsync_ptsz_v11020:
            return 1;
        default:
            return 0;
        }
    }
    switch (cbid) {
    case CUPTI_DRIVER_TRACE_CBID_cuMemFree_v2:
    case CUPTI_DRIVER_TRACE_CBID_cuMemFreeAsync:
    case CUPTI_DRIVER_TRACE_CBID_cuMemFreeAsync_ptsz:
    case CUPTI_DRIVER_TRACE_CBID_cuMemFreeHost:
    case CUPTI_DRIVER_TRACE_CBID_cuMemUnmap:
        return 1;
    default:
        return 0;
    }
}

/* API enter and exit of a traced runtime or driver call (docs/notes/cupti.md §2.6-2.7).
 * ENTER only stamps the invocation and counts runtime depth; EXIT makes the
 * record. A driver call made while a traced runtime call runs on this
 * thread is not recorded: the runtime record stands for it.
 *
 * The runtime initializes the driver inside its first call, so that call's
 * ENTER came before we subscribed and only its EXIT arrives, at depth 0
 * (docs/notes/cupti.md §1.1). The driver calls it made after cuInit are then already
 * published, unnested: they are the ones counted, and the orphan runtime
 * record becomes the nested one. Runtime calls do not nest, so every driver
 * record of this thread since its last runtime callback lies inside it. */
static void on_api(struct gt_tls *t, CUpti_CallbackDomain domain, CUpti_CallbackId cbid,
                   const CUpti_CallbackData *cb)
{
    int runtime = domain == CUPTI_CB_DOMAIN_RUNTIME_API;
    /* A driver call inside a traced runtime call (cuMemAllocAsync inside
     * cudaMallocAsync) is the same allocation as the runtime record: it is
     * not published at all (ring.h). Its clock reads and its record were
     * half of the program's cost per allocation under the test double. */
    if (!runtime && t->rt_depth > 0)
        return;
    if (cb->callbackSite == CUPTI_API_ENTER) {
        if (cb->correlationData != NULL)
            *cb->correlationData = is_release_call(runtime, cbid) ? (uint64_t)gt_ringw_now_ns() : 0;
        if (runtime) {
            t->rt_depth++;
            t->unparented = 0;
        }
        return;
    }
    int64_t now = gt_ringw_now_ns();
    int orphan = 0, covered = 0;
    if (runtime) {
        orphan = t->rt_depth == 0;
        covered = orphan && t->unparented > 0;
        if (!orphan)
            t->rt_depth--;
        t->unparented = 0;
    }
    if (cb->functionParams == NULL)
        return;
    struct gt_ringw_event ev;
    memset(&ev, 0, sizeof ev);
    ev.result = cb->functionReturnValue != NULL ? *(const int *)cb->functionReturnValue : 0;
    ev.device = INT32_MIN; /* not set by the translation */
    int ok = ev.result == 0;
    int traced = runtime ? translate_runtime(cbid, cb->functionParams, ok, &ev)
                         : translate_driver(cbid, cb->functionParams, ok, &ev);
    if (traced != 0)
        return;
    ev.domain = (uint16_t)domain;
    ev.cbid = cbid;
    if (runtime)
        ev.nested = (uint16_t)covered;
    else if (t->unparented < UINT32_MAX)
        t->unparented++;
    if (ev.device != INT32_MIN) {
        describe_once(ev.device);
    } else if (t->ctx_known && t->ctx == cb->context && t->ctx_uid == cb->contextUid) {
        /* A context's device never changes, and its uid is never reused. */
        ev.device = t->ctx_device;
    } else {
        ev.device = gt_cupti_device(cb->context, cb->contextUid);
        describe_once(ev.device);
        t->ctx = cb->context;
        t->ctx_uid = cb->contextUid;
        t->ctx_device = ev.device;
        t->ctx_known = 1;
    }
    ev.tid = thread_id(t);
    ev.ts_ns = now;
    /* An orphan has no enter time. */
    uint64_t enter = cb->correlationData != NULL && !orphan ? *cb->correlationData : 0;
    ev.enter_ns = enter != 0 && enter <= (uint64_t)now ? (int64_t)enter : 0;
    if (ev.kind == GT_RING_KIND_ALLOC && g_frames_on)
        ev.stack = gt_pyframes_capture();
    gt_ringw_publish(&g_ring, &ev);
    record_memory_at_oom(&ev);
}

/* CUPTI stops itself after a fatal error (cupti_callbacks.h, STATE domain):
 * say so in the ring, once; the launcher reports it. */
static void on_state(CUpti_CallbackId cbid, const CUpti_StateData *sd)
{
    if (cbid != CUPTI_CBID_STATE_FATAL_ERROR)
        return;
    if (!atomic_exchange_explicit(&g_active, 0, memory_order_relaxed))
        return;
    char msg[sizeof g_ring.hdr->status_msg];
    snprintf(msg, sizeof msg, "CUPTI fatal error %d: %s", (int)sd->notification.result,
             sd->notification.message != NULL ? sd->notification.message : "");
    gt_ringw_set_status(&g_ring, GT_RING_STOPPED, msg);
}

void CUPTIAPI gt_inject_callback(void *userdata, CUpti_CallbackDomain domain, CUpti_CallbackId cbid,
                                 const void *data)
{
    (void)userdata;
    if (!atomic_load_explicit(&g_active, memory_order_relaxed) || data == NULL)
        return;
    struct gt_tls *t = &tls;
    /* &tls costs a __tls_get_addr call in a dlopen'ed library, and the
     * compiler would rather make that call again than keep the address in
     * a register: the empty asm makes `t` opaque, so it is looked up once. */
    __asm__("" : "+r"(t));
    if (t->in_callback)
        return;
    t->in_callback = 1;
    if (domain == CUPTI_CB_DOMAIN_RUNTIME_API || domain == CUPTI_CB_DOMAIN_DRIVER_API)
        on_api(t, domain, cbid, data);
    else if (domain == CUPTI_CB_DOMAIN_STATE)
        on_state(cbid, data);
    t->in_callback = 0;
}

/* ---- start --------------------------------------------------------------- */

/* What we enable (docs/notes/cupti.md §2.3): individual cbids, never whole domains. */
const struct gt_inject_cbid gt_inject_cbids[] = {
#define RT(name)                                                                                   \
    {                                                                                              \
        CUPTI_CB_DOMAIN_RUNTIME_API, CUPTI_RUNTIME_TRACE_CBID_##name                               \
    }
#define DRV(name)                                                                                  \
    {                                                                                              \
        CUPTI_CB_DOMAIN_DRIVER_API, CUPTI_DRIVER_TRACE_CBID_##name                                 \
    }
    RT(cudaMalloc_v3020),
    RT(cudaFree_v3020),
    RT(cudaMallocPitch_v3020),
    RT(cudaMalloc3D_v3020),
    RT(cudaMallocHost_v3020),
    RT(cudaHostAlloc_v3020),
    RT(cudaFreeHost_v3020),
    RT(cudaMallocManaged_v6000),
    RT(cudaMemGetInfo_v3020),
    RT(cudaMallocAsync_v11020),
    RT(cudaMallocAsync_ptsz_v11020),
    RT(cudaFreeAsync_v11020),
    RT(cudaFreeAsync_ptsz_v11020),
    RT(cudaMallocFromPoolAsync_v11020),
    RT(cudaMallocFromPoolAsync_ptsz_v11020),
    DRV(cuMemAlloc_v2),
    DRV(cuMemFree_v2),
    DRV(cuMemAllocPitch_v2),
    DRV(cuMemGetInfo_v2),
    DRV(cuMemAllocAsync),
    DRV(cuMemAllocAsync_ptsz),
    DRV(cuMemFreeAsync),
    DRV(cuMemFreeAsync_ptsz),
    DRV(cuMemAllocFromPoolAsync),
    DRV(cuMemAllocFromPoolAsync_ptsz),
    DRV(cuMemCreate),
    DRV(cuMemRelease),
    DRV(cuMemMap),
    DRV(cuMemUnmap),
    DRV(cuMemHostAlloc),
    DRV(cuMemAllocHost_v2),
    DRV(cuMemFreeHost),
    DRV(cuMemAllocManaged),
#undef RT
#undef DRV
};
const size_t gt_inject_ncbids = sizeof gt_inject_cbids / sizeof gt_inject_cbids[0];

/* Tracing cannot start: say why in the ring. `gpu-trace record` reads the
 * status and tells the user, once; a line from us too would say it twice. */
static void unavailable(const char *msg)
{
    gt_ringw_set_status(&g_ring, GT_RING_UNAVAILABLE, msg);
}

static void start(void)
{
    struct config cfg;
    read_config(&cfg);
    if (cfg.ring_dir == NULL)
        return; /* not under `gpu-trace record`: leave the program alone */
    int rc = gt_ringw_open(&g_ring, cfg.ring_dir, cfg.capacity, cfg.rank);
    if (rc != 0) {
        say("warning: not tracing pid %ld: cannot create a ring in '%s': %s", (long)getpid(),
            cfg.ring_dir, strerror(-rc));
        return;
    }
    /* Before any callback is enabled: the tables are set up here. */
    g_frames_on = cfg.frames && gt_pyframes_init(&g_ring);
    char err[sizeof g_ring.hdr->status_msg];
    if (gt_cupti_load(cfg.cupti, cfg.cupti_candidates, err, sizeof err) != 0) {
        unavailable(err);
        return;
    }
    if (gt_cupti_subscribe(gt_inject_callback, NULL, err, sizeof err) != CUPTI_SUCCESS) {
        unavailable(err);
        return;
    }
    /* Active before enabling: callbacks may fire on other threads as soon
     * as the first cbid is on. */
    atomic_store_explicit(&g_active, 1, memory_order_relaxed);
    size_t failed = 0;
    CUptiResult first_err = CUPTI_SUCCESS;
    for (size_t i = 0; i < gt_inject_ncbids; i++) {
        CUptiResult r = gt_cupti_enable(gt_inject_cbids[i].domain, gt_inject_cbids[i].cbid);
        if (r != CUPTI_SUCCESS && failed++ == 0)
            first_err = r;
    }
    if (failed == gt_inject_ncbids) {
        atomic_store_explicit(&g_active, 0, memory_order_relaxed);
        gt_cupti_unsubscribe();
        snprintf(err, sizeof err, "cuptiEnableCallback failed: %s (%d)",
                 gt_cupti_result_name(first_err), (int)first_err);
        unavailable(err);
        return;
    }
    /* Optional: a CUPTI without a STATE domain still traces. */
    (void)gt_cupti_enable(CUPTI_CB_DOMAIN_STATE, CUPTI_CBID_STATE_FATAL_ERROR);
    if (failed > 0) {
        snprintf(err, sizeof err, "%zu of %zu callbacks could not be enabled: %s (%d)", failed,
                 gt_inject_ncbids, gt_cupti_result_name(first_err), (int)first_err);
        say("warning: pid %ld: %s", (long)getpid(), err);
    } else {
        err[0] = '\0';
    }
    gt_ringw_set_cupti(&g_ring, gt_cupti_loaded_path());
    gt_ringw_set_status(&g_ring, GT_RING_ACTIVE, err);
    atexit(at_exit);
}

/* Called by the CUDA driver during the first cuInit, on the thread that
 * makes it. Always returns 1: whatever happens here, the program runs. */
int InitializeInjection(void)
{
    if (atomic_flag_test_and_set(&g_initialized))
        return 1;
    g_owner = getpid();
    pthread_atfork(NULL, NULL, atfork_child);
    start();
    return 1;
}

#ifdef GT_INJECT_TESTING
int gt_inject_test_begin(const char *dir, uint64_t capacity)
{
    int rc = gt_ringw_open(&g_ring, dir, capacity, -1);
    if (rc == 0) {
        g_owner = getpid();
        atomic_store_explicit(&g_active, 1, memory_order_relaxed);
    }
    return rc;
}

struct gt_ringw *gt_inject_test_ring(void)
{
    return &g_ring;
}

void gt_inject_test_end(void)
{
    at_exit();
}

void gt_inject_test_atfork_child(void)
{
    atfork_child();
}
#endif
