/* The scenario of a trace (scenario.h): one pass over the events decides each
 * device's card; the start state is read once and kept for every replay. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gputrace/array.h"
#include "gputrace/conf.h"
#include "gputrace/err.h"
#include "gputrace/scenario.h"
#include "scenario_int.h"
#include "gputrace/schema.h"
#include "gputrace/units.h"
#include "gputrace/banned.h"

/* What the pass keeps per device beyond the scenario's own fields. */
struct card_evidence {
    uint64_t reserved; /* the real allocator's reserved memory, from segment events */
    /* the recording carries that reserved memory (segment events or a start
     * state): only then does free memory at an OOM reveal the card */
    bool knows_reserved;
    bool releasing;    /* inside a run of segment releases */
    bool run_is_empty; /* that run follows an empty_cache event */
    uint64_t reserved_before_run;
    int64_t run_event;
    bool have_oom; /* a recorded OOM with the free memory */
    uint64_t oom_card;
    int64_t oom_event;
    uint64_t low, high;  /* retry bounds: low <= card <= high */
    int64_t retry_event; /* the first failed cudaMalloc bounding high; -1 */
    bool last_was_empty_cache;
};

/* Evidence is kept for every ordinal that has events (segment events may
 * come before a device's first request); the scenario's devices are those
 * with requests. */
#define MAX_ORDINALS (2 * GT_SCENARIO_MAX_DEVICES)

struct ordinal {
    int32_t device;
    struct card_evidence e;
};

struct pass {
    struct gt_scenario *s;
    struct ordinal ord[MAX_ORDINALS];
    size_t nord;
    /* the recorded settings release segments without a failed cudaMalloc
     * (garbage_collection_threshold): a release run is no evidence then */
    bool releases_without_failure;
    double memory_fraction; /* of the recorded settings: the cap a retry bounds */
    /* events seen so far: the pass counts them itself, since the batches
     * the summaries speak for (note_plain_batch) never reach note_event */
    int64_t index;
};

static bool is_request(int32_t kind)
{
    return kind == GT_EV_ALLOC || kind == GT_EV_FREE || kind == GT_EV_EMPTY_CACHE ||
           kind == GT_EV_OOM || kind == GT_EV_FREE_REQUESTED;
}

static bool is_release(int32_t kind)
{
    return kind == GT_EV_SEGMENT_FREE || kind == GT_EV_SEGMENT_UNMAP;
}

static bool is_growth(int32_t kind)
{
    return kind == GT_EV_SEGMENT_ALLOC || kind == GT_EV_SEGMENT_MAP;
}

/* The index of a device ordinal among the scenario's devices; with create,
 * added when absent. -1 when absent or when the table is full. */
static int device_index(struct gt_scenario *s, int32_t ordinal, bool create)
{
    const struct gt_scenario_device *found = gt_scenario_find(s, ordinal);
    if (found != NULL)
        return (int)(found - s->devices);
    if (!create || s->ndevices == GT_SCENARIO_MAX_DEVICES)
        return -1;
    struct gt_scenario_device *d = &s->devices[s->ndevices];
    memset(d, 0, sizeof *d);
    d->device = ordinal;
    d->source_event = -1;
    return (int)s->ndevices++;
}

/* The reserved memory of an ordinal's start state (each segment counted at
 * its first block). */
static uint64_t start_reserved_of(const struct gt_scenario *s, int32_t device, bool *any)
{
    uint64_t reserved = 0;
    *any = false;
    for (size_t k = 0; k < s->nblocks; k++) {
        const struct gt_initial_block *b = &s->blocks[k];
        if (b->device != device)
            continue;
        *any = true;
        if (b->addr == b->segment)
            reserved = gt_units_add_u64(reserved, b->segment_size);
    }
    return reserved;
}

/* The evidence of an ordinal, created (starting from its start state's
 * reserved memory) on its first event; NULL past MAX_ORDINALS. */
static struct card_evidence *evidence_of(struct pass *p, int32_t device)
{
    for (size_t i = 0; i < p->nord; i++)
        if (p->ord[i].device == device)
            return &p->ord[i].e;
    if (p->nord == MAX_ORDINALS)
        return NULL;
    struct ordinal *o = &p->ord[p->nord++];
    bool any;
    memset(o, 0, sizeof *o);
    o->device = device;
    o->e.reserved = start_reserved_of(p->s, device, &any);
    o->e.knows_reserved = any;
    o->e.low = o->e.reserved;
    o->e.high = UINT64_MAX;
    o->e.retry_event = -1;
    return &o->e;
}

/* A cudaMalloc the real allocator made (a segment_alloc or map): the card
 * held reserved memory after it (docs/notes/pytorch-allocator.md §20.2). A run of releases not
 * started by empty_cache() before it was the allocator's release-and-retry: the same cudaMalloc had
 * failed with the memory reserved before the run. */
static void note_growth(struct pass *p, struct card_evidence *e, const struct gt_event *ev,
                        int64_t index)
{
    if (e->releasing && !e->run_is_empty && !p->releases_without_failure) {
        uint64_t failed = gt_units_add_u64(e->reserved_before_run, ev->size);
        if (failed > 0 && failed - 1 < e->high) {
            e->high = failed - 1;
            if (e->retry_event < 0)
                e->retry_event = e->run_event;
        }
    }
    e->releasing = false;
    if (ev->result != 0) { /* a failed cudaMalloc the tracer saw itself */
        uint64_t failed = gt_units_add_u64(e->reserved, ev->size);
        if (failed > 0 && failed - 1 < e->high) {
            e->high = failed - 1;
            if (e->retry_event < 0)
                e->retry_event = index;
        }
        return;
    }
    e->reserved = gt_units_add_u64(e->reserved, ev->size);
    if (e->reserved > e->low)
        e->low = e->reserved;
}

static void note_release(struct card_evidence *e, const struct gt_event *ev, int64_t index)
{
    if (!e->releasing) {
        e->releasing = true;
        e->run_is_empty = e->last_was_empty_cache;
        e->reserved_before_run = e->reserved;
        e->run_event = index;
    }
    e->reserved -= ev->size < e->reserved ? ev->size : e->reserved;
}

/* The card pass, one event at a time (a gt_scenario_each_event callback:
 * it never fails, and returns 0). */
static int note_event(void *ctx, const struct gt_event *ev, int64_t unused)
{
    struct pass *p = ctx;
    int64_t index = p->index++;
    (void)unused;
    if (is_request(ev->kind)) {
        int i = device_index(p->s, ev->device, true);
        if (i < 0) {
            p->s->too_many_devices++;
            return 0;
        }
        struct gt_scenario_device *d = &p->s->devices[i];
        if (d->requests++ == 0)
            d->pid = ev->pid;
        else if (ev->pid != d->pid)
            d->other_process_requests++;
    }
    struct card_evidence *e = evidence_of(p, ev->device);
    if (e == NULL)
        return 0;
    if (is_growth(ev->kind) || is_release(ev->kind))
        e->knows_reserved = true;
    if (is_growth(ev->kind))
        note_growth(p, e, ev, index);
    else if (is_release(ev->kind))
        note_release(e, ev, index);
    else if (ev->kind == GT_EV_ALLOC || ev->kind == GT_EV_FREE || ev->kind == GT_EV_FREE_REQUESTED)
        e->releasing = false;
    /* docs/notes/pytorch-allocator.md §20.2: at a recorded OOM the card is what the allocator had
     * reserved plus what the driver still had free (the event's addr) */
    if (gt_event_failed_request(ev) && ev->addr > 0 && !e->have_oom && e->knows_reserved) {
        e->have_oom = true;
        e->oom_card = gt_units_add_u64(e->reserved, ev->addr);
        e->oom_event = index;
    }
    if (ev->kind != GT_EV_SEGMENT_FREE && ev->kind != GT_EV_SEGMENT_UNMAP)
        e->last_was_empty_cache = ev->kind == GT_EV_EMPTY_CACHE;
    return 0;
}

/* The card pass over a batch it need not read (a gt_trace_summarize
 * filter): allocations and frees of one process on one device, none failed,
 * move nothing but the device's request counts, and end a run of releases,
 * just as note_event does for each of them. Any other batch is read event
 * by event. */
static bool note_plain_batch(void *ctx, const struct gt_trace_batch_summary *b)
{
    const uint64_t plain = ((uint64_t)1 << GT_EV_ALLOC) | ((uint64_t)1 << GT_EV_FREE) |
                           ((uint64_t)1 << GT_EV_FREE_REQUESTED);
    struct pass *p = ctx;
    if ((b->kinds & ~plain) != 0 || !b->one_device || !b->one_pid || b->device < INT32_MIN ||
        b->device > INT32_MAX)
        return false;
    int32_t device = (int32_t)b->device;
    p->index += b->n;
    int i = device_index(p->s, device, true);
    if (i < 0) {
        p->s->too_many_devices += b->n;
        return true;
    }
    struct gt_scenario_device *d = &p->s->devices[i];
    if (d->requests == 0)
        d->pid = b->pid;
    else if (b->pid != d->pid)
        d->other_process_requests += b->n;
    d->requests += b->n;
    struct card_evidence *e = evidence_of(p, device);
    if (e != NULL) {
        e->releasing = false;
        e->last_was_empty_cache = false;
    }
    return true;
}

int gt_scenario_each_event(struct gt_trace_reader *r,
                           int (*fn)(void *ctx, const struct gt_event *ev, int64_t index),
                           void *ctx, int64_t *count, char *errbuf, size_t errlen)
{
    int64_t index = 0;
    int rc = 0;
    while (rc == 0) {
        const struct gt_event *evs;
        size_t n = 0;
        rc = gt_trace_read_view(r, &evs, &n);
        if (rc) {
            snprintf(errbuf, errlen, "%s", gt_trace_errmsg(r));
            break;
        }
        if (n == 0)
            break;
        for (size_t k = 0; rc == 0 && k < n; k++, index++)
            rc = fn(ctx, &evs[k], index);
    }
    if (count != NULL)
        *count = index;
    return rc;
}

/* ------------------------------------------------------------ start state */

int gt_scenario_keep_block(void *ctx, const struct gt_initial_block *b)
{
    struct gt_block_list *l = ctx;
    struct gt_initial_block *v = gt_array_grow(l->v, &l->cap, l->n, sizeof *v);
    if (v == NULL)
        return GT_ENOMEM;
    l->v = v;
    l->v[l->n++] = *b;
    return 0;
}

/* Marks the blocks of a start segment with its private pool: both tables
 * come in (device, address) order, so one cursor walks the blocks. */
struct pool_marks {
    struct gt_scenario *s;
    size_t at;
};

static bool block_before(const struct gt_initial_block *b, int32_t device, uint64_t addr)
{
    return b->device < device || (b->device == device && b->addr < addr);
}

static int mark_pool(void *ctx, const struct gt_initial_pool *p)
{
    struct pool_marks *m = ctx;
    struct gt_initial_block *v = m->s->blocks;
    while (m->at < m->s->nblocks && block_before(&v[m->at], p->device, p->segment))
        m->at++;
    for (; m->at < m->s->nblocks && v[m->at].device == p->device && v[m->at].segment == p->segment;
         m->at++) {
        v[m->at].pool_first = p->pool_first;
        v[m->at].pool_second = p->pool_second;
        v[m->at].pool_released = p->released;
    }
    return 0;
}

/* Whether an earlier block of block k's segment is live (blocks come in
 * (device, addr) order, so a segment's blocks are adjacent). */
static bool segment_counted(const struct gt_scenario *s, size_t k)
{
    const struct gt_initial_block *b = &s->blocks[k];
    for (size_t j = k; j-- > 0;) {
        const struct gt_initial_block *o = &s->blocks[j];
        if (o->device != b->device || o->segment != b->segment)
            return false;
        if (o->allocated)
            return true;
    }
    return false;
}

/* Attaches the start state to the devices (blocks come in (device, addr)
 * order). Devices with a start state but no request are not replayed. */
static void attach_start(struct gt_scenario *s)
{
    for (size_t k = 0; k < s->nblocks; k++) {
        const struct gt_initial_block *b = &s->blocks[k];
        int i = device_index(s, b->device, false);
        if (i < 0)
            continue;
        struct gt_scenario_device *d = &s->devices[i];
        if (d->nblocks == 0)
            d->first_block = k;
        d->nblocks++;
        /* a pending block is active, no longer allocated (as PyTorch counts) */
        if (b->allocated && !b->pending)
            d->start_allocated = gt_units_add_u64(d->start_allocated, b->size);
        if (b->addr == b->segment) { /* the first block of its segment */
            d->start_reserved = gt_units_add_u64(d->start_reserved, b->segment_size);
            d->start_segments++;
        }
        /* a segment holding a live block cannot be released: count it once,
         * at its first live block */
        if (b->allocated && !segment_counted(s, k))
            d->start_pinned = gt_units_add_u64(d->start_pinned, b->segment_size);
    }
}

/* ------------------------------------------------------------ the card */

static void read_recorded_conf(struct gt_trace_reader *r, struct gt_scenario *s, struct pass *p)
{
    struct gt_conf c;
    p->memory_fraction = 1.0;
    if (gt_trace_meta(r, "alloc_conf", s->recorded_conf, sizeof s->recorded_conf) != 0) {
        s->recorded_conf[0] = 0;
        return;
    }
    s->has_recorded_conf = true;
    if (gt_conf_parse(s->recorded_conf, &c, NULL, 0) != 0)
        return;
    p->releases_without_failure = c.gc_threshold > 0;
    if (c.memory_fraction > 0 && c.memory_fraction < 1)
        p->memory_fraction = c.memory_fraction;
}

static void decide_card(struct gt_scenario_device *d, const struct card_evidence *e, uint64_t given,
                        double fraction)
{
    d->source = GT_CARD_NONE;
    d->memory = 0;
    d->source_event = -1;
    if (given > 0) {
        d->source = GT_CARD_GIVEN;
        d->memory = given;
    } else if (d->recorded_total > 0) {
        d->source = GT_CARD_RECORDED;
        d->memory = d->recorded_total;
    } else if (e == NULL) {
        return; /* an ordinal past MAX_ORDINALS: no evidence kept */
    } else if (e->have_oom) {
        d->source = GT_CARD_OOM;
        d->memory = e->oom_card;
        d->source_event = e->oom_event;
    } else if (e->retry_event >= 0 && e->low <= e->high) {
        /* Any card inside the bounds replays the recording alike (docs/notes/pytorch-allocator.md
         * §20.2); the middle, at the 2 MiB granularity of cudaMalloc, is
         * furthest from either contradiction. */
        uint64_t mid = e->low + (e->high - e->low) / 2;
        mid -= mid % (2u << 20);
        if (mid < e->low)
            mid = e->low;
        /* under per_process_memory_fraction the failure bounds the allowed
         * part of the card */
        d->source = GT_CARD_RETRY;
        d->memory = (uint64_t)((double)mid / fraction);
        d->source_event = e->retry_event;
        d->retry_low = (uint64_t)((double)e->low / fraction);
        d->retry_high = (uint64_t)((double)e->high / fraction);
    }
}

int gt_scenario_build(const char *path, uint64_t device_memory, struct gt_scenario **out,
                      char *errbuf, size_t errlen)
{
    struct gt_trace_reader *r = NULL;
    struct gt_block_list blocks = {0};
    *out = NULL;
    struct gt_scenario *s = calloc(1, sizeof *s);
    struct pass *p = calloc(1, sizeof *p);
    int rc = s != NULL && p != NULL ? gt_trace_open(path, &r, errbuf, errlen) : GT_ENOMEM;
    if (rc == 0)
        rc = gt_trace_initial_blocks(r, gt_scenario_keep_block, &blocks);
    if (rc == 0) {
        s->blocks = blocks.v;
        s->nblocks = blocks.n;
        blocks.v = NULL;
        struct pool_marks marks = {s, 0};
        rc = gt_trace_initial_pools(r, mark_pool, &marks);
    }
    if (rc == 0) {
        p->s = s;
        read_recorded_conf(r, s, p);
        gt_trace_skip_fields(r, GT_TRACE_SKIP_CARD); /* what note_event does not read */
        gt_trace_summarize(r, note_plain_batch, p);
        rc = gt_scenario_each_event(r, note_event, p, NULL, errbuf, errlen);
        s->events = p->index;
        gt_trace_summarize(r, NULL, NULL);
        gt_trace_skip_fields(r, 0);
    }
    if (rc == 0)
        rc = gt_scenario_warm_start(s, r, errbuf, errlen);
    if (rc == 0)
        attach_start(s);
    for (size_t i = 0; rc == 0 && i < s->ndevices; i++) {
        struct gt_scenario_device *d = &s->devices[i];
        if (gt_trace_device(r, d->device, d->name, sizeof d->name, &d->recorded_total) != 0) {
            d->name[0] = 0;
            d->recorded_total = 0;
        }
        decide_card(d, evidence_of(p, d->device), device_memory, p->memory_fraction);
    }
    gt_trace_close(r);
    free(blocks.v);
    free(p);
    if (rc) {
        gt_scenario_free(s);
        return rc;
    }
    *out = s;
    return 0;
}

void gt_scenario_free(struct gt_scenario *s)
{
    if (s == NULL)
        return;
    free(s->blocks);
    free(s);
}

const struct gt_scenario_device *gt_scenario_find(const struct gt_scenario *s, int32_t device)
{
    for (size_t i = 0; s != NULL && i < s->ndevices; i++)
        if (s->devices[i].device == device)
            return &s->devices[i];
    return NULL;
}

const char *gt_scenario_source_name(enum gt_card_source src)
{
    switch (src) {
    case GT_CARD_GIVEN:
        return "given";
    case GT_CARD_RECORDED:
        return "recorded";
    case GT_CARD_OOM:
        return "oom";
    case GT_CARD_RETRY:
        return "retry";
    default:
        return "none";
    }
}

char *gt_scenario_card_line(const struct gt_scenario_device *d, char *buf, size_t len)
{
    char mem[32], lo[32], hi[32];
    gt_units_format_bytes(d->memory, mem, sizeof mem);
    switch (d->source) {
    case GT_CARD_GIVEN:
        snprintf(buf, len, "%s (%llu bytes), as given (--device-memory)", mem,
                 (unsigned long long)d->memory);
        break;
    case GT_CARD_RECORDED:
        snprintf(buf, len, "%s, the card's memory as recorded", mem);
        break;
    case GT_CARD_OOM:
        snprintf(buf, len, "%s, inferred from the out-of-memory at event %lld", mem,
                 (long long)d->source_event);
        break;
    case GT_CARD_RETRY:
        snprintf(buf, len,
                 "%s, inferred from the release-and-retry at event %lld (the card lies "
                 "between %s and %s)",
                 mem, (long long)d->source_event,
                 gt_units_format_bytes(d->retry_low, lo, sizeof lo),
                 gt_units_format_bytes(d->retry_high, hi, sizeof hi));
        break;
    default:
        snprintf(buf, len, "unlimited (the trace does not say which card; pass --device-memory)");
        break;
    }
    return buf;
}

const char *gt_scenario_start_words(const struct gt_scenario_device *d)
{
    return d->start_inferred ? "rebuilt from the first event's totals" : "rebuilt";
}

struct gt_sim_options gt_scenario_sim_options(const struct gt_scenario_device *d)
{
    struct gt_sim_options o;
    memset(&o, 0, sizeof o);
    o.device_limit = d != NULL ? d->memory : 0;
    /* per_process_memory_fraction divides the card asked about when one is
     * given, else the card the trace reveals */
    o.device_total = d != NULL ? d->memory : 0;
    return o;
}

/* ------------------------------------------------------------ preload */

static int preload_blocks(const struct gt_scenario *s, const struct gt_scenario_device *d,
                          struct gt_sim *sim, bool no_caching,
                          void (*on_live)(void *ctx, const struct gt_initial_block *b,
                                          gt_sim_handle h),
                          void *ctx);

/* The simulator's private pool of a start segment's MempoolId_t: made at its
 * first segment, and given up at once (releasePool) when the trace shows the
 * graph or MemPool gone before it began. */
static int private_pool_of(struct gt_sim *sim, const struct gt_initial_block *seg, int *pool)
{
    bool created = false;
    int rc = gt_sim_private_pool(sim, seg->pool_first, seg->pool_second, pool, &created);
    if (rc == 0 && created && seg->pool_released)
        gt_sim_release_pool(sim, *pool);
    return rc;
}

/* One segment's blocks into a caching simulator. */
static int preload_segment(struct gt_sim *sim, const struct gt_initial_block *seg, size_t n,
                           void (*on_live)(void *, const struct gt_initial_block *, gt_sim_handle),
                           void *ctx)
{
    struct gt_sim_block_init *b = malloc(n * sizeof *b);
    gt_sim_handle *h = malloc(n * sizeof *h);
    int rc = b != NULL && h != NULL ? 0 : GT_ENOMEM;
    int pool = 0;
    if (rc == 0)
        rc = private_pool_of(sim, &seg[0], &pool);
    for (size_t k = 0; rc == 0 && k < n; k++)
        b[k] = (struct gt_sim_block_init){seg[k].addr, seg[k].size, seg[k].requested,
                                          seg[k].allocated};
    if (rc == 0 && seg[0].expandable)
        rc = gt_sim_preload_mapped(sim, pool, seg[0].segment, seg[0].segment_size, seg[0].stream,
                                   seg[0].small_pool, b, n, h);
    else if (rc == 0)
        rc = gt_sim_preload_segment(sim, pool, seg[0].segment, seg[0].segment_size, seg[0].stream,
                                    seg[0].small_pool, b, n, h);
    /* a free requested before the trace waits for its streams' events: the
     * free_completed in the trace returns it */
    for (size_t k = 0; rc == 0 && k < n; k++)
        if (seg[k].pending)
            gt_sim_free_requested(sim, h[k]);
    for (size_t k = 0; rc == 0 && on_live != NULL && k < n; k++)
        if (seg[k].allocated)
            on_live(ctx, &seg[k], h[k]);
    free(b);
    free(h);
    return rc;
}

int gt_scenario_preload(const struct gt_scenario *s, const struct gt_scenario_device *d,
                        struct gt_sim *sim, bool no_caching, uint64_t limit,
                        void (*on_live)(void *ctx, const struct gt_initial_block *b,
                                        gt_sim_handle h),
                        void *ctx)
{
    int rc = preload_blocks(s, d, sim, no_caching, on_live, ctx);
    /* On a card smaller than what the recording had reserved, the segments
     * cached and free at the start cannot have been there: the run would
     * have released them (release_cached_blocks) before growing. */
    if (rc == 0 && limit > 0 &&
        (uint64_t)gt_sim_get_stats(sim)->reserved_bytes[GT_SIM_ALL].current > limit) {
        gt_sim_empty_cache(sim);
        gt_sim_reset_peak_stats(sim); /* the peaks of the card are the run's, from here */
    }
    return rc;
}

/* One segment's live blocks into a simulator without caching: nothing is
 * cached, so each live block is its own cudaMalloc. */
static int preload_nocache(struct gt_sim *sim, const struct gt_initial_block *v, size_t n,
                           void (*on_live)(void *, const struct gt_initial_block *, gt_sim_handle),
                           void *ctx)
{
    int rc = 0;
    for (size_t j = 0; rc == 0 && j < n; j++) {
        gt_sim_handle h;
        if (!v[j].allocated)
            continue;
        rc = gt_sim_malloc(sim, v[j].requested ? v[j].requested : v[j].size, v[j].stream, &h);
        /* without a cache a pending free is released at once */
        if (rc == 0 && v[j].pending && !gt_sim_free_requested(sim, h))
            continue;
        if (rc == 0 && on_live != NULL)
            on_live(ctx, &v[j], h);
        if (rc == GT_EOOM)
            rc = 0; /* counted as the simulator's OOM */
    }
    return rc;
}

static int preload_blocks(const struct gt_scenario *s, const struct gt_scenario_device *d,
                          struct gt_sim *sim, bool no_caching,
                          void (*on_live)(void *ctx, const struct gt_initial_block *b,
                                          gt_sim_handle h),
                          void *ctx)
{
    if (d->nblocks == 0)
        return 0; /* no start state: blocks may be NULL, and NULL + 0 is UB */
    const struct gt_initial_block *v = &s->blocks[d->first_block];
    /* Mapped ranges of expandable segments come second: a reservation
     * opened at one may span up to the next cudaMalloc segment, which must
     * be in place to bound it (gt_sim_preload_mapped). */
    for (int pass = 0; pass < (no_caching ? 1 : 2); pass++) {
        size_t k = 0;
        while (k < d->nblocks) {
            size_t n = 1;
            while (k + n < d->nblocks && v[k + n].segment == v[k].segment)
                n++;
            int rc = 0;
            if (no_caching)
                rc = preload_nocache(sim, &v[k], n, on_live, ctx);
            else if (v[k].expandable == (pass == 1))
                rc = preload_segment(sim, &v[k], n, on_live, ctx);
            if (rc)
                return rc;
            k += n;
        }
    }
    return 0;
}
