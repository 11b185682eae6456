/* The start state of a profiler window on a warm allocator (scenario_int.h).
 *
 * A PyTorch profiler trace opens in the middle of a run: before its first
 * memory event the allocator already held memory, live and cached, that the
 * trace does not describe, except through the totals its events carry.
 * Replaying from an empty allocator would forget all of it (a third to two
 * thirds of what the window's own totals say), and every command would
 * under-report the peak. From the first event's Total Allocated and Total
 * Reserved, and from the frees of blocks the window never allocated, this
 * file rebuilds a start state that holds exactly that memory:
 *
 *   - every block freed in the window but not allocated in it was live
 *     before the window: a live block of its size, freed by its address;
 *   - what the totals say was allocated beyond those blocks stayed live
 *     through the whole window: one live block;
 *   - what was reserved beyond the allocated memory was cached and free:
 *     one free block, from which the window's requests split their blocks
 *     as the real allocator split them off its warm cache.
 *
 * The real segments are not recorded, so the large blocks share one
 * segment and the small ones another (see rebuild).
 *
 * Rules for what the first event itself did: Total Allocated after it, less
 * its own bytes for an allocation (plus them for a free), was allocated
 * before it. Its Total Reserved is taken as the reserved memory before it:
 * if that allocation made a new segment, the segment is counted as cached
 * from the start and the allocation splits it off, so reserved memory
 * matches the trace from the first event on either way.
 *
 * What the real cache held is unknown beyond its size, so blocks the real
 * allocator found in the small pool are made in the simulator's small pool
 * afresh, and a request the warm cache served from a block that fitted
 * exactly can come out of the one large free segment instead: reserved
 * memory can drift from the trace's by those segments, allocated cannot. */
#include "scenario_int.h"

#include "gputrace/array.h"
#include "gputrace/err.h"
#include "gputrace/units.h"
#include "gputrace/live.h"

#include <stdlib.h>
#include <string.h>

#include "gputrace/banned.h"

#define MIB ((uint64_t)1 << 20)
/* MIRRORS: kMinBlockSize = 512: every block and segment size is a multiple. */
#define MIN_BLOCK 512
/* MIRRORS: kSmallSize = 1 MiB: blocks up to this size live in the small pool. */
#define SMALL_SIZE MIB
/* Synthetic segments start on a 2 MiB boundary (kLargeBuffer), past every
 * address of the trace. */
#define SEGMENT_ALIGN (2 * MIB)
/* Totals beyond this (4 PiB) are damage, not memory: no start state is
 * rebuilt from them, and every sum below stays far from overflowing. */
#define WARM_MAX ((uint64_t)1 << 52)

/* What the window says about one device. */
struct window {
    bool warm;    /* the first request carries totals: rebuild */
    bool decided; /* the first request was seen */
    uint64_t stream;
    uint64_t allocated, reserved;    /* before the first event */
    uint64_t max_end;                /* past the highest address the trace names */
    struct gt_initial_block *before; /* blocks live before the window */
    size_t nbefore, capbefore;
};

struct warm {
    struct gt_scenario *s;
    struct window win[GT_SCENARIO_MAX_DEVICES];
    bool recorded[GT_SCENARIO_MAX_DEVICES]; /* the trace has a start state */
    struct gt_live_map live;                /* allocated in the window, by (device, addr) */
    struct gt_totals totals;
};

/* The index of a device among s->devices, which w->win and w->recorded
 * follow; -1 for an ordinal without requests. */
static int device_slot(const struct gt_scenario *s, int32_t device)
{
    const struct gt_scenario_device *d = gt_scenario_find(s, device);
    return d != NULL ? (int)(d - s->devices) : -1;
}

/* The first request decides whether the device's window is warm. */
static void decide(struct warm *w, struct window *win, const struct gt_event *ev)
{
    int64_t a, r;

    win->decided = true;
    if (!gt_totals_find(&w->totals, ev->seq, &a, &r))
        return;
    /* A negative total is damage: as good as none. */
    uint64_t allocated = a > 0 ? (uint64_t)a : 0, reserved = r > 0 ? (uint64_t)r : 0;
    if (ev->kind == GT_EV_ALLOC)
        allocated = allocated > ev->size ? allocated - ev->size : 0;
    else if (ev->kind == GT_EV_FREE)
        allocated = gt_units_add_u64(allocated, ev->size);
    win->warm = true;
    win->stream = ev->stream;
    win->allocated = allocated;
    win->reserved = reserved;
}

static int keep_before(struct window *win, const struct gt_event *ev)
{
    struct gt_initial_block *v =
        gt_array_grow(win->before, &win->capbefore, win->nbefore, sizeof *v);
    if (v == NULL)
        return GT_ENOMEM;
    win->before = v;
    win->before[win->nbefore++] = (struct gt_initial_block){
        .device = ev->device, .addr = ev->addr, .size = ev->size, .requested = ev->size};
    return 0;
}

/* The window pass, one event at a time (a gt_scenario_each_event
 * callback); 0 or GT_ENOMEM. */
static int note(void *ctx, const struct gt_event *ev, int64_t index)
{
    struct warm *w = ctx;
    int i = device_slot(w->s, ev->device);

    (void)index;

    if (i < 0 || w->recorded[i])
        return 0; /* a recorded start state wins */
    struct window *win = &w->win[i];
    if (ev->kind != GT_EV_ALLOC && ev->kind != GT_EV_FREE)
        return 0;
    if (!win->decided)
        decide(w, win, ev);
    if (!win->warm)
        return 0;
    uint64_t end = gt_units_add_u64(ev->addr, ev->size);
    if (end > win->max_end)
        win->max_end = end;
    if (ev->kind == GT_EV_ALLOC && ev->result == 0)
        return gt_live_put(&w->live, ev->device, ev->addr) != NULL ? 0 : GT_ENOMEM;
    if (ev->kind != GT_EV_FREE)
        return 0;
    struct gt_live gone;
    if (gt_live_take(&w->live, ev->device, ev->addr, &gone))
        return 0;
    /* Freed but never allocated here: live before the window. A second free
     * of it is the trace's problem, not a second block: tidy_before keeps
     * one block per address. */
    return keep_before(win, ev);
}

static int compare_addr(const void *pa, const void *pb)
{
    const struct gt_initial_block *a = pa, *b = pb;

    return (a->addr > b->addr) - (a->addr < b->addr);
}

/* Keeps the blocks the simulator can hold (whole 512-byte units, inside
 * the address space, not overlapping, each address once); what they
 * would have held counts as allocated all along. Returns their bytes. */
static uint64_t tidy_before(struct window *win)
{
    size_t kept = 0;
    uint64_t end = 0, sum = 0;

    if (win->nbefore > 1)
        qsort(win->before, win->nbefore, sizeof *win->before, compare_addr);
    for (size_t k = 0; k < win->nbefore; k++) {
        struct gt_initial_block b = win->before[k];
        if (b.size == 0 || b.size % MIN_BLOCK || b.addr > UINT64_MAX - b.size ||
            (kept > 0 && b.addr < end))
            continue;
        end = b.addr + b.size;
        sum = gt_units_add_u64(sum, b.size);
        win->before[kept++] = b;
    }
    win->nbefore = kept;
    return sum;
}

/* Makes blocks [from, l->n) one segment at their addresses. */
static void close_segment(struct gt_block_list *l, size_t from, bool small_pool)
{
    uint64_t size = 0;

    for (size_t k = from; k < l->n; k++)
        size += l->v[k].size;
    for (size_t k = from; k < l->n; k++) {
        l->v[k].segment = l->v[from].addr;
        l->v[k].segment_size = size;
        l->v[k].small_pool = small_pool;
    }
}

/* Appends one block at *at (advanced past it); key: the address the
 * trace frees it by, 0 for none. */
static int put(struct gt_block_list *l, const struct window *win, int32_t device, uint64_t *at,
               uint64_t size, uint64_t key, bool allocated)
{
    struct gt_initial_block b = {.device = device,
                                 .addr = *at,
                                 .size = size,
                                 .requested = allocated ? size : 0,
                                 .allocated = allocated,
                                 .stream = win->stream,
                                 .key = key};
    *at += size;
    return gt_scenario_keep_block(l, &b);
}

/* The rebuilt start state of one warm device appended to l: one
 * large-pool segment with what stayed live, the large blocks freed in the
 * window and the free cache, in that order, and one small-pool segment
 * with the small blocks freed in the window. A block freed in the window
 * then merges with its free neighbours as it did in its real segment,
 * whose other blocks are not recorded; the segments sit past every address
 * of the trace and each block keeps the address the trace frees it by. */
static int rebuild(struct gt_block_list *l, struct gt_scenario_device *d, struct window *win)
{
    if (win->allocated > WARM_MAX || win->reserved > WARM_MAX)
        return 0;
    uint64_t known = tidy_before(win);
    if (known > WARM_MAX)
        return 0;
    uint64_t allocated = win->allocated > known ? win->allocated : known;
    uint64_t rest = (allocated - known) / MIN_BLOCK * MIN_BLOCK;
    uint64_t cached = win->reserved > allocated ? (win->reserved - allocated) : 0;
    uint64_t at = win->max_end / SEGMENT_ALIGN * SEGMENT_ALIGN;
    size_t from = l->n;
    int rc = 0;

    cached = cached / MIN_BLOCK * MIN_BLOCK;
    if (at > UINT64_MAX - 4 * SEGMENT_ALIGN - rest - cached - known)
        return 0; /* no address room past the trace's: replay from empty */
    at += 2 * SEGMENT_ALIGN;
    if (rest > 0)
        rc = put(l, win, d->device, &at, rest, 0, true);
    for (size_t k = 0; rc == 0 && k < win->nbefore; k++)
        if (win->before[k].size > SMALL_SIZE)
            rc = put(l, win, d->device, &at, win->before[k].size, win->before[k].addr, true);
    if (rc == 0 && cached > 0)
        rc = put(l, win, d->device, &at, cached, 0, false);
    if (rc == 0 && l->n > from)
        close_segment(l, from, false);
    at = (at + SEGMENT_ALIGN - 1) / SEGMENT_ALIGN * SEGMENT_ALIGN + SEGMENT_ALIGN;
    from = l->n;
    for (size_t k = 0; rc == 0 && k < win->nbefore; k++)
        if (win->before[k].size <= SMALL_SIZE)
            rc = put(l, win, d->device, &at, win->before[k].size, win->before[k].addr, true);
    if (rc == 0 && l->n > from)
        close_segment(l, from, true);
    if (rc == 0)
        d->start_inferred = true;
    return rc;
}

static int compare_device_addr(const void *pa, const void *pb)
{
    const struct gt_initial_block *a = pa, *b = pb;

    if (a->device != b->device)
        return a->device < b->device ? -1 : 1;
    return (a->addr > b->addr) - (a->addr < b->addr);
}

int gt_scenario_warm_start(struct gt_scenario *s, struct gt_trace_reader *r, char *errbuf,
                           size_t errlen)
{
    struct warm *w = calloc(1, sizeof *w);
    /* the recorded start state, grown in place: s owns it again below */
    struct gt_block_list l = {s->blocks, s->nblocks, s->nblocks};
    bool any = false;
    int rc = w != NULL ? gt_trace_totals_load(r, &w->totals) : GT_ENOMEM;

    if (rc == 0 && w->totals.n == 0) {
        gt_totals_release(&w->totals);
        free(w);
        return 0; /* no totals: nothing to rebuild from */
    }
    if (rc == 0) {
        w->s = s;
        for (size_t k = 0; k < s->nblocks; k++) {
            int i = device_slot(s, s->blocks[k].device);
            if (i >= 0)
                w->recorded[i] = true;
        }
        rc = gt_live_init(&w->live);
    }
    if (rc == 0)
        rc = gt_trace_rewind(r);
    if (rc == 0)
        rc = gt_scenario_each_event(r, note, w, NULL, errbuf, errlen);
    for (size_t i = 0; rc == 0 && i < s->ndevices; i++) {
        if (w->win[i].warm && !w->recorded[i]) {
            rc = rebuild(&l, &s->devices[i], &w->win[i]);
            any = true;
        }
    }
    s->blocks = l.v;
    s->nblocks = l.n;
    if (rc == 0 && any && s->nblocks > 1)
        qsort(s->blocks, s->nblocks, sizeof *s->blocks, compare_device_addr);
    if (w != NULL) {
        for (size_t i = 0; i < GT_SCENARIO_MAX_DEVICES; i++)
            free(w->win[i].before);
        gt_live_release(&w->live);
        gt_totals_release(&w->totals);
    }
    free(w);
    return rc;
}
