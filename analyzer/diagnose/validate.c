/* gpu-trace validate: replays a recording's requests under its own settings
 * and compares what the simulated allocator did with what the real one did.
 * Two passes over the trace: the first collects the real segment events, the
 * real reserved memory and the device cap; the second replays. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gputrace/array.h"
#include "gputrace/conf.h"
#include "gputrace/err.h"
#include "gputrace/schema.h"
#include "gputrace/sim.h"
#include "gputrace/trace.h"
#include "gputrace/units.h"
#include "gputrace/validate.h"
#include "gputrace/live.h"
#include "gputrace/banned.h"

#define READ_EVENTS 4096
#define MAX_LENT 16

struct segv {
    struct gt_validate_seg *v;
    size_t n, cap;
};

static int segv_push(struct segv *s, const struct gt_validate_seg *e)
{
    struct gt_validate_seg *v = gt_array_grow(s->v, &s->cap, s->n, sizeof *v);
    if (v == NULL)
        return GT_ENOMEM;
    s->v = v;
    s->v[s->n++] = *e;
    return 0;
}

/* Everything kept per device. */
struct dev {
    struct gt_validate_device *out;
    struct gt_sim *sim;
    struct segv real, simv;
    size_t next_lend;
    uint64_t lent_base[MAX_LENT], lent_size[MAX_LENT];
    int nlent;
    int64_t event; /* the request being replayed, for the simulated events */
    uint64_t reserved_real;
    int64_t totals_offset;
    bool totals_started;
    bool expandable;
};

struct run {
    struct gt_validation *v;
    struct gt_live_map live;    /* every device's live allocations by address */
    struct gt_live_map pending; /* freed while other streams used them */
    struct dev devs[GT_REPLAY_MAX_DEVICES];
    struct gt_conf conf;
    struct gt_trace_reader *r;
    const struct gt_scenario *scn;
    int rc;                  /* first error of a callback */
    struct gt_totals totals; /* the recording's, by seq */
};

static struct dev *dev_of(struct run *run, int32_t ordinal, bool create)
{
    for (size_t i = 0; i < run->v->ndevices; i++)
        if (run->devs[i].out->device == ordinal)
            return &run->devs[i];
    if (!create || run->v->ndevices == GT_REPLAY_MAX_DEVICES)
        return NULL;
    size_t i = run->v->ndevices++;
    run->devs[i].out = &run->v->devices[i];
    run->devs[i].out->device = ordinal;
    run->devs[i].out->first_divergence = -1;
    run->devs[i].out->first_totals_mismatch = -1;
    return &run->devs[i];
}

static int32_t seg_kind_to_sim(int32_t kind)
{
    switch (kind) {
    case GT_EV_SEGMENT_ALLOC:
        return GT_SIM_SEGMENT_ALLOC;
    case GT_EV_SEGMENT_FREE:
        return GT_SIM_SEGMENT_FREE;
    case GT_EV_SEGMENT_MAP:
        return GT_SIM_SEGMENT_MAP;
    default:
        return GT_SIM_SEGMENT_UNMAP;
    }
}

static void on_segment(void *ctx, enum gt_sim_seg_event ev, uint64_t addr, uint64_t size,
                       uint64_t stream)
{
    struct dev *d = ctx;
    struct gt_validate_seg s = {(int32_t)ev, addr, size, d->event, d->event};
    (void)stream;
    segv_push(&d->simv, &s); /* on failure the comparison just sees fewer events */
}

static bool inside_lent(const struct dev *d, uint64_t addr)
{
    for (int k = 0; k < d->nlent; k++)
        if (addr >= d->lent_base[k] && addr - d->lent_base[k] < d->lent_size[k])
            return true;
    return false;
}

/* Lends the real address (docs/notes/pytorch-allocator.md §20.1): the next real segment_alloc of
 * the same size, or for an expandable segment's VA the base where the next real segment_map outside
 * earlier VAs mapped. */
static uint64_t lend_address(void *ctx, uint64_t size)
{
    struct dev *d = ctx;
    if (d->expandable) {
        for (size_t i = 0; i < d->real.n && d->nlent < MAX_LENT; i++) {
            const struct gt_validate_seg *e = &d->real.v[i];
            if (e->kind != GT_SIM_SEGMENT_MAP || inside_lent(d, e->addr))
                continue;
            d->lent_base[d->nlent] = e->addr;
            d->lent_size[d->nlent++] = size;
            return e->addr;
        }
        return 0;
    }
    for (size_t i = d->next_lend; i < d->real.n; i++) {
        const struct gt_validate_seg *e = &d->real.v[i];
        if (e->kind != GT_SIM_SEGMENT_ALLOC)
            continue;
        if (e->size != size)
            return 0;
        d->next_lend = i + 1;
        return e->addr;
    }
    return 0;
}

/* ------------------------------------------------------------ pass 1 */

static void real_reserved(struct dev *d, int32_t kind, uint64_t size)
{
    if (kind == GT_EV_SEGMENT_ALLOC || kind == GT_EV_SEGMENT_MAP)
        d->reserved_real = gt_units_add_u64(d->reserved_real, size);
    else if (kind == GT_EV_SEGMENT_FREE || kind == GT_EV_SEGMENT_UNMAP)
        d->reserved_real -= size < d->reserved_real ? size : d->reserved_real;
    if (d->reserved_real > d->out->peak_reserved_real)
        d->out->peak_reserved_real = d->reserved_real;
}

/* The real allocator makes its segment events inside a request, and the
 * trace writes them before it: they belong to the next request. */
static void note_request(struct dev *d, int64_t index)
{
    for (size_t i = d->real.n; i-- > 0 && d->real.v[i].request < 0;)
        d->real.v[i].request = index;
}

static int first_pass_event(struct run *run, const struct gt_event *ev, int64_t index)
{
    struct dev *d = dev_of(run, ev->device, true);
    if (d == NULL)
        return 0;
    switch (ev->kind) {
    case GT_EV_SEGMENT_ALLOC:
    case GT_EV_SEGMENT_FREE:
    case GT_EV_SEGMENT_MAP:
    case GT_EV_SEGMENT_UNMAP: {
        /* its request is the next one on the device: set when it comes */
        struct gt_validate_seg s = {seg_kind_to_sim(ev->kind), ev->addr, ev->size, index, -1};
        d->out->segment_events_real++;
        real_reserved(d, ev->kind, ev->size);
        return segv_push(&d->real, &s);
    }
    case GT_EV_OOM:
        d->out->ooms_real++; /* the card it reveals is the scenario's */
        note_request(d, index);
        return 0;
    case GT_EV_ALLOC:
    case GT_EV_FREE:
    case GT_EV_FREE_REQUESTED:
    case GT_EV_EMPTY_CACHE:
        note_request(d, index);
        return 0;
    default:
        return 0;
    }
}

static int read_events(struct run *run, int (*fn)(struct run *, const struct gt_event *, int64_t),
                       char *errbuf, size_t errlen)
{
    struct gt_event *evs = malloc(READ_EVENTS * sizeof *evs);
    int64_t index = 0;
    int rc = evs != NULL ? 0 : GT_ENOMEM;
    while (rc == 0) {
        size_t n = 0;
        rc = gt_trace_read(run->r, evs, READ_EVENTS, &n);
        if (rc) {
            snprintf(errbuf, errlen, "%s", gt_trace_errmsg(run->r));
            break;
        }
        if (n == 0)
            break;
        for (size_t k = 0; k < n && rc == 0; k++, index++)
            rc = fn(run, &evs[k], index);
    }
    free(evs);
    return rc;
}

/* ------------------------------------------------------------ start state */

/* Counts the start state into the real reserved memory before pass 1. */
static int count_initial(void *ctx, const struct gt_initial_block *b)
{
    struct run *run = ctx;
    struct dev *d = dev_of(run, b->device, true);
    if (d == NULL)
        return 0;
    if (b->addr == b->segment) { /* the first block of its segment */
        d->out->initial_reserved = gt_units_add_u64(d->out->initial_reserved, b->segment_size);
        d->reserved_real = gt_units_add_u64(d->reserved_real, b->segment_size);
        d->out->peak_reserved_real = d->reserved_real;
    }
    if (b->allocated)
        d->out->initial_allocated = gt_units_add_u64(d->out->initial_allocated, b->size);
    return 0;
}

/* ------------------------------------------------------------ pass 2 */

/* The largest Total Reserved recorded (the first device's: profiler traces
 * have one). */
static void note_reserved_peak(struct run *run)
{
    for (size_t k = 0; run->v->ndevices && k < run->totals.n; k++)
        if (run->totals.reserved[k] > 0 &&
            (uint64_t)run->totals.reserved[k] > run->devs[0].out->totals_reserved_peak_real)
            run->devs[0].out->totals_reserved_peak_real = (uint64_t)run->totals.reserved[k];
}

static void compare_totals(struct run *run, struct dev *d, const struct gt_event *ev, int64_t index,
                           uint64_t block)
{
    int64_t real, reserved;
    if (!gt_totals_find(&run->totals, ev->seq, &real, &reserved))
        return;
    int64_t sim = gt_sim_get_stats(d->sim)->allocated_bytes[GT_SIM_ALL].current;
    /* A profiler trace starts mid-run: what was allocated before its first
     * event is an offset, taken at the first event. */
    if (!d->totals_started) {
        d->totals_offset = real - sim;
        d->totals_started = true;
    }
    d->out->totals_events++;
    if (sim + d->totals_offset == real) {
        d->out->totals_matched++;
    } else if (d->out->first_totals_mismatch < 0) {
        d->out->first_totals_mismatch = index;
        d->out->totals_real_at = real;
        d->out->totals_sim_at = sim + d->totals_offset;
        d->out->totals_bytes_at = ev->size;
        d->out->totals_block_at = block;
    }
}

static int replay_alloc(struct run *run, struct dev *d, const struct gt_event *ev, bool probe,
                        uint64_t *block)
{
    gt_sim_handle h;
    uint64_t size = gt_event_asked(ev);
    int rc = gt_sim_malloc(d->sim, size, ev->stream, &h);
    if (rc == GT_EOOM) {
        d->out->ooms_sim++;
        return 0;
    }
    if (rc)
        return rc;
    if (probe) {
        gt_sim_free(d->sim, h);
        return 0;
    }
    *block = gt_sim_block_size(d->sim, h);
    struct gt_live *l = gt_live_put(&run->live, ev->device, ev->addr);
    if (l == NULL)
        return GT_ENOMEM;
    l->h = h;
    return 0;
}

/* A free of a block the replay does not hold: one from before the trace
 * (or damage). The totals the recording carries count it; the replay's do
 * not, so they differ by its size, which only the file gives. */
static void unknown_free(struct dev *d, const struct gt_event *ev)
{
    d->out->unknown_frees++;
    d->totals_offset =
        gt_units_sub_i64(d->totals_offset, ev->size > INT64_MAX ? INT64_MAX : (int64_t)ev->size);
}

/* A free while other streams used the block: pending until its
 * free_completed, which finds it by address. */
static int free_requested(struct run *run, struct dev *d, const struct gt_event *ev)
{
    struct gt_live gone;
    if (!gt_live_take(&run->live, ev->device, ev->addr, &gone)) {
        unknown_free(d, ev);
        return 0;
    }
    int rc = gt_live_free_requested(&run->pending, d->sim, &gone);
    return rc < 0 ? rc : 0;
}

static int second_pass_event(struct run *run, const struct gt_event *ev, int64_t index)
{
    struct dev *d = dev_of(run, ev->device, false);
    uint64_t block = 0;
    int rc = 0;
    if (d == NULL)
        return 0;
    d->event = index;
    switch (ev->kind) {
    case GT_EV_ALLOC:
        d->out->requests++;
        rc = replay_alloc(run, d, ev, ev->result != 0, &block);
        break;
    case GT_EV_OOM:
        d->out->requests++;
        rc = replay_alloc(run, d, ev, true, &block);
        break;
    case GT_EV_FREE:
        d->out->requests++;
        struct gt_live gone;
        if (gt_live_take(&run->live, ev->device, ev->addr, &gone))
            gt_sim_free(d->sim, gone.h);
        else
            unknown_free(d, ev);
        break;
    case GT_EV_FREE_REQUESTED:
        d->out->requests++;
        rc = free_requested(run, d, ev);
        break;
    case GT_EV_FREE_COMPLETED: {
        struct gt_live done;
        if (gt_live_take(&run->pending, ev->device, ev->addr, &done))
            gt_sim_free_completed(d->sim, done.h);
        return 0; /* not a request: no totals of its own to compare */
    }
    case GT_EV_EMPTY_CACHE:
        d->out->requests++;
        gt_sim_empty_cache(d->sim);
        break;
    default:
        return 0;
    }
    compare_totals(run, d, ev, index, block);
    return rc;
}

/* ------------------------------------------------------------ end state */

struct block_row {
    uint64_t addr, size;
    bool allocated;
};

struct block_rows {
    struct block_row *v;
    size_t n, cap;
    int32_t device;
    int rc;
};

static void push_row(struct block_rows *b, uint64_t addr, uint64_t size, bool allocated)
{
    struct block_row *v = gt_array_grow(b->v, &b->cap, b->n, sizeof *v);
    if (v == NULL) {
        b->rc = GT_ENOMEM;
        return;
    }
    b->v = v;
    b->v[b->n++] = (struct block_row){addr, size, allocated};
}

static int real_row(void *ctx, const struct gt_initial_block *blk)
{
    struct block_rows *b = ctx;
    if (blk->device == b->device)
        push_row(b, blk->addr, blk->size, blk->allocated);
    return b->rc;
}

static void no_segment(void *ctx, const struct gt_sim_segment_info *seg)
{
    (void)ctx;
    (void)seg;
}

static void sim_row(void *ctx, uint64_t addr, uint64_t size, bool allocated)
{
    push_row(ctx, addr, size, allocated);
}

static int cmp_row(const void *a, const void *b)
{
    const struct block_row *x = a, *y = b;
    return x->addr < y->addr ? -1 : x->addr > y->addr;
}

/* The simulator's blocks after the replay against the recording's end
 * state, block for block. */
static int compare_end_state(struct run *run, struct dev *d)
{
    struct block_rows real = {NULL, 0, 0, d->out->device, 0}, sim = {NULL, 0, 0, 0, 0};
    int rc = gt_trace_final_blocks(run->r, real_row, &real);
    if (rc == 0 && real.n) {
        gt_sim_segments(d->sim, no_segment, sim_row, &sim);
        rc = sim.rc;
        if (sim.n > 1)
            qsort(sim.v, sim.n, sizeof *sim.v, cmp_row);
    }
    struct gt_validate_device *o = d->out;
    for (size_t i = 0; rc == 0 && i < real.n; i++) {
        const struct block_row *want = &real.v[i];
        struct block_row *got = sim.n ? bsearch(want, sim.v, sim.n, sizeof *sim.v, cmp_row) : NULL;
        o->final_blocks_real++;
        if (got != NULL && got->size == want->size && got->allocated == want->allocated) {
            o->final_blocks_matched++;
        } else if (o->final_blocks_real - o->final_blocks_matched == 1) {
            o->final_mismatch_addr = want->addr;
            o->final_real_size = want->size;
            o->final_real_allocated = want->allocated;
            o->final_sim_size = got != NULL ? got->size : 0;
            o->final_sim_allocated = got != NULL && got->allocated;
        }
    }
    free(real.v);
    free(sim.v);
    return rc;
}

/* ------------------------------------------------------------ results */

static void compare_segments(struct dev *d)
{
    struct gt_validate_device *o = d->out;
    size_t n = d->real.n < d->simv.n ? d->real.n : d->simv.n, i = 0;
    for (; i < n; i++)
        if (d->real.v[i].kind != d->simv.v[i].kind || d->real.v[i].size != d->simv.v[i].size)
            break;
    o->segment_events_sim = (int64_t)d->simv.n;
    o->segment_events_matched = (int64_t)i;
    /* Over the longer side: segment events the simulator made and the real
     * run never did are as much a miss as the other way round. */
    size_t longer = d->real.n > d->simv.n ? d->real.n : d->simv.n;
    o->match_fraction = longer ? (double)i / (double)longer : 1.0;
    if (i < d->real.n || i < d->simv.n) {
        o->first_divergence = (int64_t)i;
        o->has_real = i < d->real.n;
        o->has_sim = i < d->simv.n;
        if (o->has_real)
            o->real_at = d->real.v[i];
        if (o->has_sim)
            o->sim_at = d->simv.v[i];
        /* The side whose event came at the earlier request diverged first;
         * a real event after the last request has none (-1: the end). */
        int64_t real_req = o->has_real && o->real_at.request >= 0 ? o->real_at.request : INT64_MAX;
        int64_t sim_req = o->has_sim ? o->sim_at.request : INT64_MAX;
        o->sim_diverged_first = sim_req < real_req;
        o->real_diverged_first = real_req < sim_req;
    }
    o->peak_reserved_sim = (uint64_t)gt_sim_get_stats(d->sim)->reserved_bytes[GT_SIM_ALL].peak;
}

static int make_sims(struct run *run)
{
    for (size_t i = 0; i < run->v->ndevices; i++) {
        struct dev *d = &run->devs[i];
        const struct gt_scenario_device *sd = gt_scenario_find(run->scn, d->out->device);
        struct gt_sim_options o = gt_scenario_sim_options(sd);
        if (sd != NULL)
            d->out->card = *sd;
        d->out->cap = o.device_limit;
        o.on_segment = on_segment;
        o.segment_addr = lend_address;
        o.cb_ctx = d;
        d->expandable = run->conf.expandable_segments;
        int rc = gt_sim_new(&run->conf, &o, &d->sim);
        if (rc)
            return rc;
    }
    return 0;
}

static void run_release(struct run *run)
{
    for (size_t i = 0; i < GT_REPLAY_MAX_DEVICES; i++) {
        gt_sim_free_all(run->devs[i].sim);
        free(run->devs[i].real.v);
        free(run->devs[i].simv.v);
    }
    gt_live_release(&run->live);
    gt_live_release(&run->pending);
    gt_totals_release(&run->totals);
    gt_trace_close(run->r);
}

static int read_conf(struct run *run, char *errbuf, size_t errlen)
{
    struct gt_validation *v = run->v;
    char err[200];
    v->conf_recorded =
        gt_trace_meta(run->r, "alloc_conf", v->alloc_conf, sizeof v->alloc_conf) == 0;
    if (!v->conf_recorded)
        v->alloc_conf[0] = 0;
    if (gt_conf_parse(v->alloc_conf, &run->conf, err, sizeof err) != 0) {
        snprintf(errbuf, errlen, "the recorded settings '%s' are not valid: %s", v->alloc_conf,
                 err);
        return GT_EINVAL;
    }
    if (run->conf.backend != GT_CONF_BACKEND_NATIVE) {
        snprintf(errbuf, errlen,
                 "the recorded settings use backend:cudaMallocAsync, which is "
                 "not simulated");
        return GT_EUNSUPPORTED;
    }
    return 0;
}

static void start_live(void *ctx, const struct gt_initial_block *b, gt_sim_handle h)
{
    struct run *run = ctx;
    if (gt_live_put_start(&run->live, &run->pending, b, h) != 0)
        run->rc = GT_ENOMEM;
}

/* The scenario's start state into each device's simulator; a device
 * without requests replays nothing and needs none. */
static int preload(struct run *run)
{
    for (size_t i = 0; i < run->v->ndevices; i++) {
        const struct gt_scenario_device *sd = gt_scenario_find(run->scn, run->devs[i].out->device);
        if (sd == NULL)
            continue;
        int rc = gt_scenario_preload(run->scn, sd, run->devs[i].sim, run->conf.no_caching,
                                     run->devs[i].out->cap, start_live, run);
        if (rc || run->rc)
            return rc ? rc : run->rc;
    }
    return 0;
}

static int validate(struct run *run, char *errbuf, size_t errlen)
{
    int rc = read_conf(run, errbuf, errlen);
    /* The scenario's start state: recorded, or rebuilt for a profiler
     * window on a warm allocator. */
    for (size_t k = 0; rc == 0 && k < run->scn->nblocks; k++)
        rc = count_initial(run, &run->scn->blocks[k]);
    if (rc == 0)
        rc = read_events(run, first_pass_event, errbuf, errlen);
    if (rc == 0)
        rc = make_sims(run);
    if (rc == 0)
        rc = gt_live_init(&run->live);
    if (rc == 0)
        rc = gt_live_init(&run->pending);
    if (rc == 0)
        rc = preload(run);
    if (rc == 0)
        rc = gt_trace_totals_load(run->r, &run->totals);
    if (rc == 0)
        note_reserved_peak(run);
    if (rc == 0)
        rc = gt_trace_rewind(run->r);
    if (rc == 0)
        rc = read_events(run, second_pass_event, errbuf, errlen);
    for (size_t i = 0; i < run->v->ndevices && rc == 0; i++) {
        compare_segments(&run->devs[i]);
        rc = compare_end_state(run, &run->devs[i]);
    }
    if (rc && errbuf[0] == 0)
        snprintf(errbuf, errlen, "%s", gt_strerror(rc));
    return rc;
}

int gt_validate_trace(const char *path, const struct gt_scenario *scn, struct gt_validation **out,
                      char *errbuf, size_t errlen)
{
    struct run *run = calloc(1, sizeof *run);
    *out = NULL;
    if (run == NULL)
        return GT_ENOMEM;
    run->scn = scn;
    run->v = calloc(1, sizeof *run->v);
    if (run->v == NULL) {
        free(run);
        return GT_ENOMEM;
    }
    errbuf[0] = 0;
    struct gt_scenario *own = NULL;
    int rc = scn != NULL ? 0 : gt_scenario_build(path, 0, &own, errbuf, errlen);
    if (scn == NULL)
        run->scn = own;
    if (rc == 0)
        rc = gt_trace_open(path, &run->r, errbuf, errlen);
    if (rc == 0)
        rc = validate(run, errbuf, errlen);
    run_release(run);
    gt_scenario_free(own);
    if (rc == 0)
        *out = run->v;
    else
        free(run->v);
    free(run);
    return rc;
}
