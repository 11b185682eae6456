/* Import of PyTorch memory snapshots (torch.cuda.memory._dump_snapshot).
 *
 * The pickle is decoded by pickle.c, which refuses anything that would run
 * code. Each device's trace becomes gpu-trace events; what a snapshot lacks
 * is rebuilt by the rules of docs/notes/pytorch-allocator.md §20: empty_cache() calls from runs
 * of segment_free (§20.4) and the allocator state before the first event
 * from the final segments with the trace undone (§20.3). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "gputrace/addr_map.h"
#include "gputrace/conf.h"
#include "gputrace/err.h"
#include "gputrace/import.h"
#include "gputrace/pickle.h"
#include "gputrace/sim.h"
#include "gputrace/trace.h"
#include "import_int.h"

#include "gputrace/banned.h"

#define MIB ((uint64_t)1 << 20)
/* MIRRORS: kSmallBuffer: every small-pool cudaMalloc segment is 2 MiB. */
#define SMALL_SEGMENT (2 * MIB)
/* MIRRORS: should_split: a large-pool remainder of 1 MiB or less is never
 * split off, so no free block of a large cudaMalloc segment is that small. */
#define LARGE_MIN_FREE MIB
#define MAX_FRAMES 256

struct snap {
    const char *path;
    struct gt_trace_writer *w;
    struct gt_import_summary *sum;
    struct gt_conf conf; /* the recorded settings, for round_size */
    char *errbuf;
    size_t errlen;
};

#define fail(im, ...) (void)gt_errf((im)->errbuf, (im)->errlen, 0, __VA_ARGS__)

/* ------------------------------------------------------------ one event */

/* The fields of a trace entry the importer uses. */
struct entry {
    const struct gt_pk *dict;
    const char *action;
    uint64_t addr, size, stream;
    int64_t time_us;
};

static uint64_t pk_u64(const struct gt_pk *d, const char *key)
{
    int64_t v = 0;
    if (gt_pk_int(gt_pk_get(d, key), &v) != 0)
        return 0;
    return (uint64_t)v;
}

/* A block's address: its own key, or (2.0 snapshots have none) where the
 * blocks before it in its segment end. */
static uint64_t block_address(const struct gt_pk *blk, uint64_t after_previous)
{
    return gt_pk_get(blk, "address") != NULL ? pk_u64(blk, "address") : after_previous;
}

/* The bytes a final block's allocation asked for: requested_size since
 * PyTorch 2.1; 2.0 snapshots kept a per-block `history` list whose last entry
 * has `real_size` instead (what _memory_viz.py's legacy path reads). */
static uint64_t block_requested(const struct gt_pk *blk)
{
    if (gt_pk_get(blk, "requested_size") != NULL)
        return pk_u64(blk, "requested_size");
    const struct gt_pk *h = gt_pk_get(blk, "history");
    size_t n = gt_pk_len(h);
    return n ? pk_u64(gt_pk_at(h, n - 1), "real_size") : 0;
}

static int read_entry(const struct gt_pk *e, struct entry *out)
{
    out->dict = e;
    out->action = gt_pk_str(gt_pk_get(e, "action"));
    if (out->action == NULL)
        return GT_EINVAL;
    out->addr = pk_u64(e, strcmp(out->action, "oom") == 0 ? "device_free" : "addr");
    out->size = pk_u64(e, "size");
    out->stream = pk_u64(e, "stream");
    out->time_us = (int64_t)pk_u64(e, "time_us");
    return 0;
}

static int32_t kind_of_action(const char *a)
{
    if (strcmp(a, "alloc") == 0)
        return GT_EV_ALLOC;
    if (strcmp(a, "free_requested") == 0)
        return GT_EV_FREE;
    if (strcmp(a, "segment_alloc") == 0)
        return GT_EV_SEGMENT_ALLOC;
    if (strcmp(a, "segment_free") == 0)
        return GT_EV_SEGMENT_FREE;
    if (strcmp(a, "segment_map") == 0)
        return GT_EV_SEGMENT_MAP;
    if (strcmp(a, "segment_unmap") == 0)
        return GT_EV_SEGMENT_UNMAP;
    if (strcmp(a, "oom") == 0)
        return GT_EV_OOM;
    return 0; /* free_completed, snapshot, user_defined, annotate: not requests */
}

/* ------------------------------------------------------------ frames */

static int write_frames(struct snap *im, const struct gt_pk *frames)
{
    struct gt_frame f[MAX_FRAMES];
    size_t n = gt_pk_len(frames);
    if (n == 0)
        return 0;
    if (n > MAX_FRAMES)
        n = MAX_FRAMES;
    for (size_t i = 0; i < n; i++) {
        const struct gt_pk *fr = gt_pk_at(frames, i);
        const char *file = gt_pk_str(gt_pk_get(fr, "filename"));
        const char *name = gt_pk_str(gt_pk_get(fr, "name"));
        int64_t line = 0;
        gt_pk_int(gt_pk_get(fr, "line"), &line);
        f[i].filename = file != NULL ? file : "";
        f[i].name = name != NULL ? name : "";
        f[i].line = line;
    }
    return gt_trace_set_stack(im->w, gt_trace_last_seq(im->w), f, n);
}

/* ------------------------------------------------ empty_cache (§20.4) */

static int frames_mention_empty_cache(const struct gt_pk *frames)
{
    for (size_t i = 0; i < gt_pk_len(frames); i++) {
        const char *name = gt_pk_str(gt_pk_get(gt_pk_at(frames, i), "name"));
        if (name != NULL && (strstr(name, "emptyCache") || strstr(name, "empty_cache")))
            return 1;
    }
    return 0;
}

static int is_release(const char *a)
{
    return strcmp(a, "segment_free") == 0 || strcmp(a, "segment_unmap") == 0;
}

/* Whether the run of releases starting at i was an empty_cache() (docs/notes/pytorch-allocator.md
 * §20.4): its frames say so, or it is not followed by the new segment or the
 * OOM that ends a malloc's own release-and-retry. */
static int run_is_empty_cache(const struct gt_pk *trace, size_t i)
{
    size_t n = gt_pk_len(trace), j = i;
    struct entry e;
    for (; j < n && read_entry(gt_pk_at(trace, j), &e) == 0 && is_release(e.action); j++)
        if (frames_mention_empty_cache(gt_pk_get(e.dict, "frames")))
            return 1;
    /* free_completed entries of process_events may sit between. */
    for (; j < n && read_entry(gt_pk_at(trace, j), &e) == 0; j++) {
        if (strcmp(e.action, "free_completed") == 0)
            continue;
        return !(strcmp(e.action, "segment_alloc") == 0 || strcmp(e.action, "segment_map") == 0 ||
                 strcmp(e.action, "oom") == 0);
    }
    return 1;
}

/* ------------------------------------------------ start state (§20.3) */

struct seg {
    uint64_t addr, size, stream;
    int small, expandable;
    int64_t pool_first, pool_second; /* MempoolId_t; (0, 0): the default pools */
};

/* A MempoolId_t, a pair of ints (segment_pool_id of a segment, pool_id of a
 * trace entry in newer releases); (0, 0), the default pools, when absent. */
static void read_pool_id(const struct gt_pk *v, int64_t *first, int64_t *second)
{
    *first = *second = 0;
    if (v == NULL || gt_pk_len(v) != 2 || gt_pk_int(gt_pk_at(v, 0), first) != 0 ||
        gt_pk_int(gt_pk_at(v, 1), second) != 0)
        *first = *second = 0;
}

struct live {
    uint64_t addr, size, requested;
    size_t freed_at; /* index of the trace entry that freed it, or SIZE_MAX */
    bool pending;    /* its free was requested before the trace and waits */
};

struct vec {
    void *v;
    size_t n, cap, elem;
};

static void *vec_push(struct vec *x)
{
    if (x->n == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 64;
        void *v = realloc(x->v, cap * x->elem);
        if (v == NULL)
            return NULL;
        x->v = v;
        x->cap = cap;
    }
    return (char *)x->v + x->elem * x->n++;
}

/* qsort with an empty vector: its NULL array is undefined for qsort. */
static void vec_sort(struct vec *x, int (*cmp)(const void *, const void *))
{
    if (x->n > 1)
        qsort(x->v, x->n, x->elem, cmp);
}

static int cmp_seg(const void *a, const void *b)
{
    const struct seg *x = a, *y = b;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

static int cmp_live(const void *a, const void *b)
{
    const struct live *x = a, *y = b;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* Final segments of device d that are cudaMalloc'd or expandable ranges. */
static int final_segments(const struct gt_pk *segments, int64_t device, struct vec *out)
{
    for (size_t i = 0; i < gt_pk_len(segments); i++) {
        const struct gt_pk *s = gt_pk_at(segments, i);
        int64_t dev = 0;
        gt_pk_int(gt_pk_get(s, "device"), &dev);
        if (dev != device)
            continue;
        struct seg *g = vec_push(out);
        if (g == NULL)
            return GT_ENOMEM;
        g->addr = pk_u64(s, "address");
        g->size = pk_u64(s, "total_size");
        g->stream = pk_u64(s, "stream");
        const char *type = gt_pk_str(gt_pk_get(s, "segment_type"));
        g->small = type != NULL ? strcmp(type, "small") == 0 : g->size == SMALL_SEGMENT;
        const struct gt_pk *ex = gt_pk_get(s, "is_expandable");
        g->expandable = ex != NULL && ex->type == GT_PK_BOOL && ex->u.b;
        read_pool_id(gt_pk_get(s, "segment_pool_id"), &g->pool_first, &g->pool_second);
    }
    return 0;
}

static void seg_remove(struct vec *segs, uint64_t addr)
{
    struct seg *v = segs->v;
    for (size_t i = 0; i < segs->n; i++) {
        if (v[i].addr == addr) {
            v[i] = v[--segs->n];
            return;
        }
    }
}

/* Undoes a segment_map: the mapped range of an expandable segment that holds
 * [addr, addr + size) loses it, keeping what lies on either side. A map the
 * final ranges do not hold whole (a damaged trace) is left alone. */
static int unmap_range(struct vec *segs, uint64_t addr, uint64_t size)
{
    struct seg *v = segs->v;
    for (size_t i = 0; i < segs->n; i++) {
        struct seg g = v[i];
        if (!g.expandable || addr < g.addr || addr + size > g.addr + g.size)
            continue;
        if (addr > g.addr) {
            v[i].size = addr - g.addr;
        } else {
            v[i] = v[--segs->n];
        }
        if (addr + size < g.addr + g.size) {
            struct seg *after = vec_push(segs);
            if (after == NULL)
                return GT_ENOMEM;
            *after = g;
            after->addr = addr + size;
            after->size = g.addr + g.size - (addr + size);
        }
        return 0;
    }
    return 0;
}

/* Undoes a segment_unmap: the range is mapped again, one segment with the
 * mapped ranges of its stream it touches (MIRRORS: snapshot, which reports
 * each contiguous mapped range of an expandable segment once; §20.9). The entry does not name the
 * pool: a neighbour's pool, else large when the size is whole 20 MiB pages of the large pool
 * (large_segment_size), else small (2 MiB pages). */
static int map_range(struct vec *segs, uint64_t addr, uint64_t size, uint64_t stream,
                     uint64_t large_page)
{
    struct seg *v = segs->v;
    struct seg g = {addr, size, stream, large_page == 0 || size % large_page != 0, 1, 0, 0};
    for (size_t i = 0; i < segs->n;) {
        if (v[i].expandable && v[i].stream == stream &&
            (v[i].addr + v[i].size == g.addr || g.addr + g.size == v[i].addr)) {
            g.small = v[i].small;
            if (v[i].addr < g.addr)
                g.addr = v[i].addr;
            g.size += v[i].size;
            v[i] = v[--segs->n];
            continue;
        }
        i++;
    }
    struct seg *out = vec_push(segs);
    if (out == NULL)
        return GT_ENOMEM;
    *out = g;
    return 0;
}

/* Segments at the start: the final ones with the trace's segment events
 * undone, walking backwards; for expandable segments the mapped ranges
 * with the maps and unmaps undone. */
static int start_segments(const struct snap *im, const struct gt_pk *trace, struct vec *segs)
{
    int rc = 0;
    for (size_t i = gt_pk_len(trace); i-- > 0 && rc == 0;) {
        struct entry e;
        if (read_entry(gt_pk_at(trace, i), &e))
            continue;
        if (strcmp(e.action, "segment_alloc") == 0) {
            seg_remove(segs, e.addr);
        } else if (strcmp(e.action, "segment_free") == 0) {
            struct seg *g = vec_push(segs);
            if (g == NULL)
                return GT_ENOMEM;
            *g = (struct seg){e.addr, e.size, e.stream, e.size == SMALL_SEGMENT, 0, 0, 0};
            read_pool_id(gt_pk_get(e.dict, "pool_id"), &g->pool_first, &g->pool_second);
        } else if (strcmp(e.action, "segment_map") == 0) {
            rc = unmap_range(segs, e.addr, e.size);
        } else if (strcmp(e.action, "segment_unmap") == 0) {
            rc = map_range(segs, e.addr, e.size, e.stream, im->conf.large_segment_size);
        }
    }
    vec_sort(segs, cmp_seg);
    return rc;
}

/* Allocations live at the start: freed in the trace before it allocated
 * them, or still allocated at the end without being allocated in the trace.
 * MIRRORS: free with stream uses (record_stream): a block whose free was
 * requested before the trace is still active, pending, until the
 * free_completed of process_events; the trace shows that completion with
 * no free_requested before it, or the end state shows it
 * active_pending_free without any entry. */
static int start_allocations(const struct gt_pk *trace, const struct gt_pk *segments,
                             int64_t device, struct vec *lives)
{
    /* the state of each address: 0 never seen, 1 allocated in the trace,
     * 2 freed */
    struct gt_addr_map set;
    size_t n = gt_pk_len(trace);
    if (gt_addr_map_init(&set, 1, 1024))
        return GT_ENOMEM;
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct entry e;
        if (read_entry(gt_pk_at(trace, i), &e))
            continue;
        unsigned char *st = gt_addr_map_put(&set, 0, e.addr, NULL);
        if (st == NULL) {
            rc = GT_ENOMEM;
            break;
        }
        if (strcmp(e.action, "alloc") == 0) {
            *st = 1;
        } else if (strcmp(e.action, "free_requested") == 0 ||
                   (strcmp(e.action, "free_completed") == 0 && *st == 0)) {
            /* a completion first: its request came before the trace */
            bool pending = strcmp(e.action, "free_completed") == 0;
            if (*st != 1) {
                struct live *l = vec_push(lives);
                if (l == NULL)
                    rc = GT_ENOMEM;
                else
                    *l = (struct live){e.addr, 0, e.size, i, pending};
            }
            *st = 2;
        }
    }
    for (size_t i = 0; i < gt_pk_len(segments) && rc == 0; i++) {
        const struct gt_pk *s = gt_pk_at(segments, i);
        int64_t dev = 0;
        gt_pk_int(gt_pk_get(s, "device"), &dev);
        if (dev != device)
            continue;
        const struct gt_pk *blocks = gt_pk_get(s, "blocks");
        uint64_t at = pk_u64(s, "address");
        for (size_t b = 0; b < gt_pk_len(blocks) && rc == 0; b++) {
            const struct gt_pk *blk = gt_pk_at(blocks, b);
            const char *state = gt_pk_str(gt_pk_get(blk, "state"));
            uint64_t addr = block_address(blk, at);
            at = addr + pk_u64(blk, "size");
            if (state == NULL || strcmp(state, "inactive") == 0)
                continue;
            unsigned char *st = gt_addr_map_put(&set, 0, addr, NULL);
            if (st == NULL) {
                rc = GT_ENOMEM;
                break;
            }
            if (*st != 0)
                continue;
            struct live *l = vec_push(lives);
            if (l == NULL)
                rc = GT_ENOMEM;
            else
                *l = (struct live){addr, pk_u64(blk, "size"), block_requested(blk), SIZE_MAX,
                                   strcmp(state, "active_pending_free") == 0};
        }
    }
    gt_addr_map_release(&set);
    vec_sort(lives, cmp_live);
    return rc;
}

/* The allocations of a device trace sorted by address, to find the first
 * allocation into a gap without scanning the trace for every block. */
struct alloc_at {
    uint64_t addr;
    size_t index;
};

static int cmp_alloc_at(const void *a, const void *b)
{
    const struct alloc_at *x = a, *y = b;
    if (x->addr != y->addr)
        return x->addr < y->addr ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

static int index_allocs(const struct gt_pk *trace, struct vec *out)
{
    for (size_t i = 0; i < gt_pk_len(trace); i++) {
        struct entry e;
        if (read_entry(gt_pk_at(trace, i), &e) || strcmp(e.action, "alloc") != 0)
            continue;
        struct alloc_at *a = vec_push(out);
        if (a == NULL)
            return GT_ENOMEM;
        *a = (struct alloc_at){e.addr, i};
    }
    vec_sort(out, cmp_alloc_at);
    return 0;
}

/* The earliest allocation into [lo, hi) made before entry `before`; 0 if none. */
static uint64_t first_alloc_in(const struct vec *allocs, uint64_t lo, uint64_t hi, size_t before)
{
    const struct alloc_at *a = allocs->v;
    size_t l = 0, r = allocs->n;
    while (l < r) {
        size_t m = l + (r - l) / 2;
        if (a[m].addr < lo)
            l = m + 1;
        else
            r = m;
    }
    uint64_t best = 0;
    size_t best_index = SIZE_MAX;
    for (; l < allocs->n && a[l].addr < hi; l++) {
        if (a[l].index < before && a[l].index < best_index) {
            best_index = a[l].index;
            best = a[l].addr;
        }
    }
    return best;
}

/* The size a block freed in the trace had (docs/notes/pytorch-allocator.md §20.3): round_size of
 * the request, extended over a following gap that cannot be a free block, or up to where the
 * trace's first allocation into that gap landed while the block was live (the allocator hands out
 * the low end of a free block). */
static uint64_t freed_block_size(const struct snap *im, const struct vec *allocs,
                                 const struct live *l, const struct seg *g, uint64_t limit)
{
    uint64_t size = gt_sim_round_size(&im->conf, l->requested ? l->requested : 1);
    if (size > limit - l->addr)
        return limit - l->addr;
    uint64_t gap = limit - (l->addr + size);
    if (gap == 0)
        return size;
    /* MIRRORS: should_split: an expandable segment splits off any remainder
     * of 512 bytes or more, in either pool. */
    if (!g->small && !g->expandable && gap <= LARGE_MIN_FREE)
        return limit - l->addr;
    uint64_t x = first_alloc_in(allocs, l->addr + size, limit, l->freed_at);
    return x > l->addr + size ? x - l->addr : size;
}

static int write_block(struct snap *im, int64_t device, const struct seg *g, uint64_t addr,
                       uint64_t size, uint64_t requested, bool allocated, bool pending)
{
    struct gt_initial_block b = {.device = (int32_t)device,
                                 .addr = addr,
                                 .size = size,
                                 .requested = requested,
                                 .allocated = allocated,
                                 .pending = pending,
                                 .segment = g->addr,
                                 .segment_size = g->size,
                                 .stream = g->stream,
                                 .small_pool = g->small,
                                 .expandable = g->expandable};
    return gt_trace_add_initial_block(im->w, &b);
}

/* Writes one start segment: its live blocks, with the gaps as free blocks. */
static int write_segment(struct snap *im, const struct vec *allocs, int64_t device,
                         const struct seg *g, struct live *lives, size_t first, size_t end)
{
    uint64_t at = g->addr, seg_end = g->addr + g->size;
    int rc = 0;
    for (size_t k = first; k < end && rc == 0; k++) {
        struct live *l = &lives[k];
        uint64_t limit = k + 1 < end ? lives[k + 1].addr : seg_end;
        if (l->addr < at || l->addr >= seg_end)
            continue; /* overlapping records: keep the first */
        if (l->freed_at != SIZE_MAX || l->size == 0)
            l->size = freed_block_size(im, allocs, l, g, limit);
        if (l->size > limit - l->addr)
            l->size = limit - l->addr;
        if (l->addr > at)
            rc = write_block(im, device, g, at, l->addr - at, 0, false, false);
        if (rc == 0)
            rc = write_block(im, device, g, l->addr, l->size, l->requested, true, l->pending);
        if (!l->pending) /* active, no longer allocated */
            im->sum->initial_allocated_bytes += (int64_t)l->size;
        at = l->addr + l->size;
    }
    if (rc == 0 && at < seg_end)
        rc = write_block(im, device, g, at, seg_end - at, 0, false, false);
    im->sum->initial_segments++;
    im->sum->initial_reserved_bytes += (int64_t)g->size;
    return rc;
}

/* Whether the trace cudaFree's a segment of private pool (first, second):
 * release_cached_blocks frees a private pool's segments only once no graph
 * or MemPool uses it (graph_pools_freeable), so the pool was given up by
 * then. Only newer releases name the pool of a trace entry (pool_id). */
static bool pool_released_in(const struct gt_pk *trace, int64_t first, int64_t second)
{
    for (size_t i = 0; i < gt_pk_len(trace); i++) {
        struct entry e;
        int64_t a, b;
        if (read_entry(gt_pk_at(trace, i), &e) || strcmp(e.action, "segment_free") != 0)
            continue;
        read_pool_id(gt_pk_get(e.dict, "pool_id"), &a, &b);
        if (a == first && b == second)
            return true;
    }
    return false;
}

/* Notes a start segment of a private pool (table initial_pools). */
static int write_pool(struct snap *im, int64_t device, const struct seg *g,
                      const struct gt_pk *trace)
{
    struct gt_initial_pool p = {(int32_t)device, g->addr, g->pool_first, g->pool_second,
                                pool_released_in(trace, g->pool_first, g->pool_second)};
    return gt_trace_add_initial_pool(im->w, &p);
}

static int rebuild_start(struct snap *im, const struct gt_pk *trace, const struct gt_pk *segments,
                         int64_t device)
{
    struct vec segs = {NULL, 0, 0, sizeof(struct seg)};
    struct vec lives = {NULL, 0, 0, sizeof(struct live)};
    struct vec allocs = {NULL, 0, 0, sizeof(struct alloc_at)};
    int rc = final_segments(segments, device, &segs);
    if (rc == 0)
        rc = index_allocs(trace, &allocs);
    if (rc == 0)
        rc = start_segments(im, trace, &segs);
    if (rc == 0)
        rc = start_allocations(trace, segments, device, &lives);
    struct seg *g = segs.v;
    struct live *l = lives.v;
    size_t k = 0;
    for (size_t s = 0; s < segs.n && rc == 0; s++) {
        while (k < lives.n && l[k].addr < g[s].addr)
            k++;
        size_t end = k;
        while (end < lives.n && l[end].addr < g[s].addr + g[s].size)
            end++;
        rc = write_segment(im, &allocs, device, &g[s], l, k, end);
        if (rc == 0 && (g[s].pool_first != 0 || g[s].pool_second != 0))
            rc = write_pool(im, device, &g[s], trace);
        k = end;
    }
    free(segs.v);
    free(lives.v);
    free(allocs.v);
    if (rc)
        fail(im, "cannot write the start state of device %lld: %s", (long long)device,
             rc == GT_ENOMEM ? "out of memory" : gt_trace_writer_errmsg(im->w));
    return rc;
}

/* The state at the dump, for validate to compare the replay's end with. */
static int write_final_state(struct snap *im, const struct gt_pk *segments, int64_t device)
{
    for (size_t i = 0; i < gt_pk_len(segments); i++) {
        const struct gt_pk *s = gt_pk_at(segments, i);
        int64_t dev = 0;
        gt_pk_int(gt_pk_get(s, "device"), &dev);
        if (dev != device)
            continue;
        const struct gt_pk *ex = gt_pk_get(s, "is_expandable");
        const char *type = gt_pk_str(gt_pk_get(s, "segment_type"));
        struct gt_initial_block b = {0};
        b.device = (int32_t)device;
        b.segment = pk_u64(s, "address");
        b.segment_size = pk_u64(s, "total_size");
        b.stream = pk_u64(s, "stream");
        b.small_pool = type != NULL ? strcmp(type, "small") == 0 : b.segment_size == SMALL_SEGMENT;
        b.expandable = ex != NULL && ex->type == GT_PK_BOOL && ex->u.b;
        const struct gt_pk *blocks = gt_pk_get(s, "blocks");
        uint64_t at = b.segment;
        for (size_t k = 0; k < gt_pk_len(blocks); k++) {
            const struct gt_pk *blk = gt_pk_at(blocks, k);
            const char *state = gt_pk_str(gt_pk_get(blk, "state"));
            b.addr = block_address(blk, at);
            at = b.addr + pk_u64(blk, "size");
            b.size = pk_u64(blk, "size");
            b.requested = block_requested(blk);
            /* a pending free has been requested: the replay frees it at once */
            b.allocated = state != NULL && strcmp(state, "active_allocated") == 0;
            if (gt_trace_add_final_block(im->w, &b) != 0) {
                fail(im, "cannot write the end state: %s", gt_trace_writer_errmsg(im->w));
                return GT_EIO;
            }
        }
    }
    return 0;
}

/* ------------------------------------------------------------ events */

#define MAX_TIME_US ((int64_t)1 << 52) /* 2^52 us: about 142 years */

static int write_entry(struct snap *im, const struct entry *e, int32_t kind, int64_t device)
{
    struct gt_event ev = {0};
    /* time_us comes from the file: its nanoseconds must fit (±146 years) */
    if (e->time_us > MAX_TIME_US || e->time_us < -MAX_TIME_US) {
        fail(im, "event %lld of device %lld: time_us %lld is out of range",
             (long long)im->sum->events, (long long)device, (long long)e->time_us);
        return GT_EINVAL;
    }
    ev.ts_ns = e->time_us * 1000;
    ev.device = (int32_t)device;
    ev.kind = kind;
    ev.stream = e->stream;
    ev.addr = e->addr;
    ev.size = e->size;
    ev.requested = (kind == GT_EV_ALLOC || kind == GT_EV_FREE || kind == GT_EV_OOM ||
                    kind == GT_EV_FREE_REQUESTED)
                       ? e->size
                       : 0;
    int rc = gt_trace_append(im->w, &ev);
    if (rc == 0) {
        im->sum->events++;
        im->sum->by_kind[kind]++;
    }
    if (rc == 0 && (kind == GT_EV_ALLOC || kind == GT_EV_OOM || kind == GT_EV_SEGMENT_ALLOC))
        rc = write_frames(im, gt_pk_get(e->dict, "frames"));
    return rc;
}

/* MIRRORS: free: a block no other stream used is freed at once, and the
 * trace records free_requested and free_completed back to back: one free.
 * A block recorded by record_stream waits for its streams' events
 * (active_pending_free) and completes later, in process_events or in the
 * synchronize_and_free_events of empty_cache and the last-resort retry:
 * then the two are kept apart. *completed_at is the entry that completes
 * this free at once, to be skipped. */
static int32_t kind_of_free(const struct gt_pk *trace, size_t i, const struct entry *e,
                            size_t *completed_at)
{
    struct entry next;
    if (i + 1 < gt_pk_len(trace) && read_entry(gt_pk_at(trace, i + 1), &next) == 0 &&
        strcmp(next.action, "free_completed") == 0 && next.addr == e->addr) {
        *completed_at = i + 1;
        return GT_EV_FREE;
    }
    return GT_EV_FREE_REQUESTED;
}

static int write_device(struct snap *im, const struct gt_pk *trace, int64_t device)
{
    int in_release_run = 0;
    size_t completed_at = SIZE_MAX; /* the free_completed of a free written whole */
    for (size_t i = 0; i < gt_pk_len(trace); i++) {
        struct entry e;
        im->sum->rows++;
        if (read_entry(gt_pk_at(trace, i), &e)) {
            fail(im, "device %lld, trace entry %zu: no 'action'", (long long)device, i);
            return GT_EINVAL;
        }
        int32_t kind = kind_of_action(e.action);
        if (kind == GT_EV_FREE)
            kind = kind_of_free(trace, i, &e, &completed_at);
        else if (strcmp(e.action, "free_completed") == 0 && i != completed_at)
            kind = GT_EV_FREE_COMPLETED;
        int releasing = is_release(e.action);
        if (releasing && !in_release_run && run_is_empty_cache(trace, i)) {
            struct entry mark = e;
            mark.addr = mark.size = 0;
            mark.dict = NULL;
            if (write_entry(im, &mark, GT_EV_EMPTY_CACHE, device))
                goto write_error;
            im->sum->inferred_empty_cache++;
        }
        in_release_run = releasing;
        if (kind == 0) {
            im->sum->skipped_events++;
            continue;
        }
        int wrc = write_entry(im, &e, kind, device);
        if (wrc == GT_EINVAL)
            return wrc; /* a value of the file, named by write_entry */
        if (wrc)
            goto write_error;
    }
    return 0;
write_error:
    fail(im, "cannot write the trace: %s", gt_trace_writer_errmsg(im->w));
    return GT_EIO;
}

/* ------------------------------------------------------------ the file */

static int write_meta(struct snap *im, const struct gt_pk *root, const struct gt_import_options *o)
{
    char when[32] = "", source[600];
    time_t now = time(NULL);
    struct tm tm;
    if (gmtime_r(&now, &tm))
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    snprintf(source, sizeof source, "snapshot:%s", im->path);
    const struct gt_pk *settings = gt_pk_get(root, "allocator_settings");
    const char *conf = o != NULL && o->alloc_conf
                           ? o->alloc_conf
                           : gt_pk_str(gt_pk_get(settings, "PYTORCH_CUDA_ALLOC_CONF"));
    /* Settings stored now are replayed later: ones the simulator cannot
     * read are named here, where --alloc-conf can still replace them. */
    struct gt_conf parsed;
    char why[200];
    if (conf != NULL && gt_conf_parse(conf, &parsed, why, sizeof why) != 0) {
        fail(im,
             "the snapshot's allocator_settings PYTORCH_CUDA_ALLOC_CONF '%.200s' is not valid: %s"
             " (import with --alloc-conf to give the settings the run used)",
             conf, why);
        return GT_EINVAL;
    }
    int rc = gt_trace_set_meta(im->w, "tool_version", GT_VERSION);
    if (rc == 0)
        rc = gt_trace_set_meta(im->w, "source", source);
    if (rc == 0)
        rc = gt_trace_set_meta(im->w, "recording_mode", GT_SCHEMA_MODE_IMPORTED);
    if (rc == 0)
        rc = gt_trace_set_meta(im->w, "start_time", when);
    if (rc == 0)
        rc = gt_trace_set_meta(im->w, "command_line", "");
    /* Old snapshots (before PyTorch 2.3) do not say what settings ran. */
    if (rc == 0 && conf != NULL)
        rc = gt_trace_set_meta(im->w, "alloc_conf", conf);
    if (rc)
        fail(im, "cannot write the trace: %s", gt_trace_writer_errmsg(im->w));
    if (conf != NULL) {
        char err[128];
        if (gt_conf_parse(conf, &im->conf, err, sizeof err) != 0)
            gt_conf_init_default(&im->conf);
    }
    return rc;
}

static int write_devices(struct snap *im, const struct gt_pk *traces,
                         const struct gt_import_options *o)
{
    for (size_t d = 0; d < gt_pk_len(traces); d++) {
        const struct gt_pk *trace = gt_pk_at(traces, d);
        if (gt_pk_len(trace) == 0)
            continue;
        if (o != NULL && (o->device_name != NULL || o->device_memory) &&
            gt_trace_add_device(im->w, (int32_t)d, o->device_name != NULL ? o->device_name : "",
                                o->device_memory) != 0) {
            fail(im, "cannot write the trace: %s", gt_trace_writer_errmsg(im->w));
            return GT_EIO;
        }
    }
    return 0;
}

static int convert(struct snap *im, const struct gt_pk *root, const struct gt_import_options *o)
{
    const struct gt_pk *traces = gt_pk_get(root, "device_traces");
    const struct gt_pk *segments = gt_pk_get(root, "segments");
    int rc = write_meta(im, root, o);
    if (rc == 0)
        rc = write_devices(im, traces, o);
    for (size_t d = 0; d < gt_pk_len(traces) && rc == 0; d++) {
        const struct gt_pk *trace = gt_pk_at(traces, d);
        rc = rebuild_start(im, trace, segments, (int64_t)d);
        if (rc == 0)
            rc = write_final_state(im, segments, (int64_t)d);
        if (rc == 0)
            rc = write_device(im, trace, (int64_t)d);
    }
    return rc;
}

static int is_snapshot(const struct gt_pk *root)
{
    const struct gt_pk *t = gt_pk_get(root, "device_traces");
    const struct gt_pk *s = gt_pk_get(root, "segments");
    return t != NULL && t->type == GT_PK_LIST && s != NULL && s->type == GT_PK_LIST;
}

/* ------------------------------------------------------------ numbers */

/* Every byte count, address, stream and time the import reads, checked once
 * before anything is converted: a value that is there must be an int >= 0
 * (pk_u64 below would read a float or a string as 0, and a negative int as
 * a size near 2^64). An absent key is fine (older snapshots lack some). */
static const char *const entry_numbers[] = {"addr", "size", "stream", "time_us", "device_free"};
static const char *const segment_numbers[] = {"address", "total_size", "stream"};
static const char *const block_numbers[] = {"address", "size", "requested_size"};

static int check_numbers(struct snap *im, const struct gt_pk *d, const char *const *keys, size_t n,
                         const char *where, size_t i, size_t j)
{
    for (size_t k = 0; k < n; k++) {
        const struct gt_pk *v = gt_pk_get(d, keys[k]);
        int64_t x;
        if (v == NULL || v->type == GT_PK_NONE)
            continue;
        if (gt_pk_int(v, &x) != 0 || x < 0) {
            fail(im, "%s[%zu][%zu]: '%s' is not a count of bytes (an int >= 0)", where, i, j,
                 keys[k]);
            return GT_EINVAL;
        }
    }
    return 0;
}

/* A segment's place, for the overlap check. */
struct seg_span {
    int64_t device;
    uint64_t addr, size;
    size_t index;
};

static int cmp_span(const void *x, const void *y)
{
    const struct seg_span *a = x, *b = y;
    if (a->device != b->device)
        return a->device < b->device ? -1 : 1;
    return a->addr < b->addr ? -1 : a->addr > b->addr;
}

/* Two segments of one device cannot share memory: such a file is damaged
 * or forged, and it would be read as more memory reserved than there was. */
static int check_overlaps(struct snap *im, const struct gt_pk *segments)
{
    size_t n = gt_pk_len(segments);
    struct seg_span *v = n ? malloc(n * sizeof *v) : NULL;
    int rc = 0;
    if (n && v == NULL) {
        fail(im, "out of memory");
        return GT_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const struct gt_pk *seg = gt_pk_at(segments, i);
        int64_t dev = 0;
        gt_pk_int(gt_pk_get(seg, "device"), &dev);
        v[i] = (struct seg_span){dev, pk_u64(seg, "address"), pk_u64(seg, "total_size"), i};
    }
    if (n > 1)
        qsort(v, n, sizeof *v, cmp_span);
    for (size_t i = 1; i < n; i++) {
        const struct seg_span *a = &v[i - 1], *b = &v[i];
        if (a->device == b->device && b->addr - a->addr < a->size) {
            fail(im, "segments[%zu] and segments[%zu] overlap on device %lld at 0x%llx", a->index,
                 b->index, (long long)b->device, (unsigned long long)b->addr);
            rc = GT_EINVAL;
            break;
        }
    }
    free(v);
    return rc;
}

/* The nodes already seen, by address: a pickle can make one list or dict
 * appear many times for a few bytes (memo references), which would turn a
 * small file into millions of events. PyTorch writes every event, segment
 * and block once; a node seen twice is refused, keeping the work bounded by
 * the file's size. 1 when p was seen before, 0 when it was added,
 * GT_ENOMEM. */
static int seen_add(struct gt_addr_map *seen, const void *p)
{
    bool added;
    if (gt_addr_map_put(seen, 0, (uint64_t)(uintptr_t)p, &added) == NULL)
        return GT_ENOMEM;
    return added ? 0 : 1;
}

static int check_unique(struct snap *im, struct gt_addr_map *seen, const struct gt_pk *node,
                        const char *where, size_t i, size_t j)
{
    int rc = node != NULL ? seen_add(seen, node) : 0;
    if (rc == GT_ENOMEM)
        fail(im, "out of memory");
    else if (rc == 1)
        fail(im,
             "%s[%zu][%zu] is the same object as an earlier one (shared through the pickle's "
             "memo): PyTorch writes each once; refused",
             where, i, j);
    return rc == 1 ? GT_EINVAL : rc;
}

static int check_all_numbers(struct snap *im, const struct gt_pk *root)
{
    const struct gt_pk *traces = gt_pk_get(root, "device_traces");
    const struct gt_pk *segments = gt_pk_get(root, "segments");
    struct gt_addr_map seen; /* the nodes by address, no payload */
    int rc = gt_addr_map_init(&seen, 0, 1024);
    if (rc) {
        fail(im, "out of memory");
        return rc;
    }
    for (size_t d = 0; rc == 0 && d < gt_pk_len(traces); d++) {
        const struct gt_pk *t = gt_pk_at(traces, d);
        rc = check_unique(im, &seen, t, "device_traces", d, 0);
        for (size_t i = 0; rc == 0 && i < gt_pk_len(t); i++)
            rc = check_unique(im, &seen, gt_pk_at(t, i), "device_traces", d, i);
    }
    for (size_t i = 0; rc == 0 && i < gt_pk_len(segments); i++) {
        const struct gt_pk *seg = gt_pk_at(segments, i);
        const struct gt_pk *blocks = gt_pk_get(seg, "blocks");
        rc = check_unique(im, &seen, seg, "segments", i, 0);
        if (rc == 0)
            rc = check_unique(im, &seen, blocks, "segments.blocks", i, 0);
        for (size_t j = 0; rc == 0 && j < gt_pk_len(blocks); j++)
            rc = check_unique(im, &seen, gt_pk_at(blocks, j), "segments.blocks", i, j);
    }
    gt_addr_map_release(&seen);
    if (rc)
        return rc;
    for (size_t d = 0; rc == 0 && d < gt_pk_len(traces); d++) {
        const struct gt_pk *t = gt_pk_at(traces, d);
        for (size_t i = 0; rc == 0 && i < gt_pk_len(t); i++)
            rc = check_numbers(im, gt_pk_at(t, i), entry_numbers,
                               sizeof entry_numbers / sizeof entry_numbers[0], "device_traces", d,
                               i);
    }
    for (size_t i = 0; rc == 0 && i < gt_pk_len(segments); i++) {
        const struct gt_pk *seg = gt_pk_at(segments, i);
        const struct gt_pk *blocks = gt_pk_get(seg, "blocks");
        rc = check_numbers(im, seg, segment_numbers,
                           sizeof segment_numbers / sizeof segment_numbers[0], "segments", i, 0);
        for (size_t j = 0; rc == 0 && j < gt_pk_len(blocks); j++)
            rc = check_numbers(im, gt_pk_at(blocks, j), block_numbers,
                               sizeof block_numbers / sizeof block_numbers[0], "segments.blocks", i,
                               j);
    }
    return rc ? rc : check_overlaps(im, segments);
}

int gt_import_snapshot(const char *path, const char *trace_path,
                       const struct gt_import_options *opts, struct gt_import_summary *sum,
                       char *errbuf, size_t errlen)
{
    struct gt_import_summary local;
    struct snap im = {0};
    struct gt_pickle *pk = NULL;
    im.path = path;
    im.sum = gt_import_start(sum, &local, errbuf, errlen);
    im.errbuf = errbuf;
    im.errlen = errlen;
    gt_conf_init_default(&im.conf);
    int rc = gt_pickle_load(path, &pk, errbuf, errlen);
    if (rc)
        return rc;
    if (!is_snapshot(gt_pickle_root(pk))) {
        fail(&im, "a pickle, but not a PyTorch memory snapshot (no 'device_traces' and "
                  "'segments' lists)");
        gt_pickle_free(pk);
        return GT_EFOREIGN;
    }
    rc = check_all_numbers(&im, gt_pickle_root(pk));
    if (rc) {
        gt_pickle_free(pk);
        return rc;
    }
    rc = gt_trace_create(trace_path, &im.w, errbuf, errlen);
    if (rc == 0)
        rc = convert(&im, gt_pickle_root(pk), opts);
    rc = gt_import_finish(im.w, trace_path, rc, errbuf, errlen);
    gt_pickle_free(pk);
    return rc;
}
