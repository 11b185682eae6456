/* A trace as a PyTorch memory snapshot (export.h).
 *
 * The layout is torch/csrc/cuda/memory_snapshot.cpp's, key for key and in
 * its order: segment dicts (device, address, total_size, allocated_size,
 * active_size, requested_size, stream, segment_type, segment_pool_id,
 * is_expandable, frames, blocks), block dicts (address, size,
 * requested_size, state, frames), trace entries (action, addr or, for an
 * oom, device_free, size, stream, time_us, frames). Sizes follow
 * CUDACachingAllocator's record_trace calls: an alloc, free_requested and
 * free_completed carry the bytes asked, a segment event the segment's
 * bytes, an oom the rounded request. */
#include "gputrace/export.h"
#include "gputrace/array.h"
#include "gputrace/err.h"
#include "gputrace/files.h"
#include "gputrace/inspect.h"
#include "gputrace/pkwrite.h"
#include "gputrace/sim.h"
#include "gputrace/trace.h"
#include "gputrace/live.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gputrace/banned.h"

/* A snapshot's device_traces is a list indexed by ordinal. */
#define MAX_ORDINAL 1023

/* One block of the segment being gathered: a segment's dict states its
 * sums before its blocks. */
struct out_block {
    uint64_t addr, size, requested;
    int64_t seq; /* the allocation's event, for its frames; 0 none */
    const char *state;
};

/* One segment event of the simulator, held until the request that made it
 * is known, so that it carries that request's time. */
struct held_segment {
    const char *action;
    uint64_t addr, size, stream;
};

struct exporter {
    const char *trace;
    const struct gt_export_options *o;
    struct gt_export_result *res;
    struct gt_trace_reader *r; /* frames, events, recorded end state */
    struct gt_pkw w;
    int rc; /* first error of a callback */
    /* live allocations: (device, address) -> alloc seq and bytes asked */
    struct gt_live_map live, pending;
    struct gt_live_map *keep_into; /* where keep() puts what it is given */
    /* the segment being gathered */
    int32_t seg_device;
    uint64_t seg_addr, seg_stream;
    bool seg_small, seg_expandable, seg_open;
    struct out_block *blocks;
    size_t nblocks, cap_blocks;
    /* the device whose trace is being written (simulated run) */
    int32_t device;
    struct held_segment *held;
    size_t nheld, cap_held;
    char *errbuf;
    size_t errlen;
};

/* ------------------------------------------------------------ frames */

/* One frame; a frame written before is referred to, as PyTorch's own
 * snapshots share one dict per frame (a stack repeats in every event). */
static int frame_dict(void *ctx, size_t depth, const struct gt_frame *f)
{
    struct gt_pkw *w = ctx;
    char key[1024];
    (void)depth;
    int len =
        snprintf(key, sizeof key, "%s%c%s%c%lld", f->filename, 0, f->name, 0, (long long)f->line);
    /* a frame too long to key is written whole each time */
    bool keyed = len > 0 && (size_t)len < sizeof key;
    if (keyed && gt_pkw_dict_ref(w, key, (size_t)len))
        return 0;
    gt_pkw_dict_begin(w);
    gt_pkw_key_str(w, "name", f->name);
    gt_pkw_key_str(w, "filename", f->filename);
    gt_pkw_key_int(w, "line", f->line);
    if (keyed)
        gt_pkw_dict_end_memo(w, key, (size_t)len);
    else
        gt_pkw_dict_end(w);
    return 0;
}

/* "frames": the stack of event seq, innermost first as PyTorch has it. */
static void write_frames(struct exporter *x, int64_t seq)
{
    gt_pkw_str(&x->w, "frames");
    gt_pkw_list_begin(&x->w);
    if (seq > 0 && x->rc == 0) {
        int rc = gt_trace_stack(x->r, seq, frame_dict, &x->w);
        if (rc) {
            snprintf(x->errbuf, x->errlen, "%s", gt_trace_errmsg(x->r));
            x->rc = rc;
        }
    }
    gt_pkw_list_end(&x->w);
}

/* ------------------------------------------------------------ segments */

static void write_segment(struct exporter *x)
{
    uint64_t total = 0, allocated = 0, active = 0, requested = 0;
    for (size_t i = 0; i < x->nblocks; i++) {
        const struct out_block *b = &x->blocks[i];
        total += b->size;
        if (strcmp(b->state, "inactive") == 0)
            continue;
        active += b->size;
        requested += b->requested;
        if (strcmp(b->state, "active_allocated") == 0)
            allocated += b->size;
    }
    struct gt_pkw *w = &x->w;
    gt_pkw_dict_begin(w);
    gt_pkw_key_int(w, "device", x->seg_device);
    gt_pkw_key_uint(w, "address", x->seg_addr);
    gt_pkw_key_uint(w, "total_size", total);
    gt_pkw_key_uint(w, "allocated_size", allocated);
    gt_pkw_key_uint(w, "active_size", active);
    gt_pkw_key_uint(w, "requested_size", requested);
    gt_pkw_key_uint(w, "stream", x->seg_stream);
    gt_pkw_key_str(w, "segment_type", x->seg_small ? "small" : "large");
    gt_pkw_str(w, "segment_pool_id"); /* (0, 0): the default pools */
    gt_pkw_tuple_begin(w);
    gt_pkw_int(w, 0);
    gt_pkw_int(w, 0);
    gt_pkw_tuple_end(w);
    gt_pkw_key_bool(w, "is_expandable", x->seg_expandable);
    /* the cudaMalloc's own stack is not kept by gpu-trace */
    gt_pkw_str(w, "frames");
    gt_pkw_list_begin(w);
    gt_pkw_list_end(w);
    gt_pkw_str(w, "blocks");
    gt_pkw_list_begin(w);
    for (size_t i = 0; i < x->nblocks; i++) {
        const struct out_block *b = &x->blocks[i];
        gt_pkw_dict_begin(w);
        gt_pkw_key_uint(w, "address", b->addr);
        gt_pkw_key_uint(w, "size", b->size);
        gt_pkw_key_uint(w, "requested_size", b->requested);
        gt_pkw_key_str(w, "state", b->state);
        write_frames(x, b->seq);
        gt_pkw_dict_end(w);
    }
    gt_pkw_list_end(w);
    gt_pkw_dict_end(w);
    x->res->segments++;
    x->nblocks = 0;
    x->seg_open = false;
}

static void segment_open(struct exporter *x, int32_t device, uint64_t addr, uint64_t stream,
                         bool small, bool expandable)
{
    if (x->seg_open)
        write_segment(x);
    x->seg_device = device;
    x->seg_addr = addr;
    x->seg_stream = stream;
    x->seg_small = small;
    x->seg_expandable = expandable;
    x->seg_open = true;
}

static void segment_block(struct exporter *x, uint64_t addr, uint64_t size, uint64_t requested,
                          int64_t seq, const char *state)
{
    struct out_block *b = gt_array_grow(x->blocks, &x->cap_blocks, x->nblocks, sizeof *b);
    if (b == NULL) {
        x->rc = x->rc ? x->rc : GT_ENOMEM;
        return;
    }
    x->blocks = b;
    x->blocks[x->nblocks++] = (struct out_block){addr, size, requested, seq, state};
}

/* The recorded end state: final_blocks, one segment per (device, segment),
 * each allocated block with the stack of the alloc that made it. */
static int recorded_block(void *ctx, const struct gt_initial_block *b)
{
    struct exporter *x = ctx;
    if (!x->seg_open || b->device != x->seg_device || b->segment != x->seg_addr)
        segment_open(x, b->device, b->segment, b->stream, b->small_pool, b->expandable);
    const struct gt_live *l = b->allocated ? gt_live_find(&x->live, b->device, b->addr) : NULL;
    segment_block(x, b->addr, b->size, b->requested, l != NULL ? l->seq : 0,
                  b->allocated ? "active_allocated" : "inactive");
    return x->rc;
}

/* What the recorded events leave live, by address, for the stacks of the
 * end state's blocks. */
static int note_live(void *ctx, const struct gt_event *e, int64_t index)
{
    struct exporter *x = ctx;
    struct gt_live gone, *l;
    (void)index;
    if (e->kind == GT_EV_ALLOC && e->result == 0) {
        if ((l = gt_live_put(&x->live, e->device, e->addr)) == NULL)
            return GT_ENOMEM;
        l->seq = e->seq;
    } else if (e->kind == GT_EV_FREE || e->kind == GT_EV_FREE_REQUESTED) {
        gt_live_take(&x->live, e->device, e->addr, &gone);
    }
    return 0;
}

static int recorded_segments(struct exporter *x)
{
    int rc = gt_live_init(&x->live);
    if (rc == 0)
        rc = gt_trace_rewind(x->r);
    if (rc == 0)
        rc = gt_scenario_each_event(x->r, note_live, x, NULL, x->errbuf, x->errlen);
    if (rc == 0)
        rc = gt_trace_final_blocks(x->r, recorded_block, x);
    if (rc == 0 && x->rc == 0 && x->seg_open)
        write_segment(x);
    if (rc == 0 && x->res->segments == 0)
        x->res->end_state_missing = true;
    if (rc && rc != x->rc && rc != GT_ENOMEM)
        snprintf(x->errbuf, x->errlen, "%s", gt_trace_errmsg(x->r));
    gt_live_release(&x->live);
    return rc ? rc : x->rc;
}

/* The simulated end state: the simulator's segments in address order,
 * blocks named by the live and pending allocations of the replay. */
static void keep(void *ctx, const struct gt_inspect_alloc *a)
{
    struct exporter *x = ctx;
    struct gt_live *l = gt_live_put(x->keep_into, x->device, a->sim_addr);
    if (l == NULL) {
        x->rc = x->rc ? x->rc : GT_ENOMEM;
        return;
    }
    l->seq = a->seq;
    l->requested = a->requested;
}

static void sim_segment(void *ctx, const struct gt_sim_segment_info *seg)
{
    struct exporter *x = ctx;
    segment_open(x, x->device, seg->addr, seg->stream, seg->small_pool, seg->expandable);
}

static void sim_block(void *ctx, uint64_t addr, uint64_t size, bool allocated)
{
    struct exporter *x = ctx;
    const struct gt_live *l = gt_live_find(&x->pending, x->device, addr);
    const char *state = "active_pending_free";
    if (l == NULL) {
        l = allocated ? gt_live_find(&x->live, x->device, addr) : NULL;
        state = allocated ? "active_allocated" : "inactive";
    }
    segment_block(x, addr, size, l != NULL ? l->requested : 0, l != NULL ? l->seq : 0, state);
}

static int sim_end(void *ctx, struct gt_inspect *in)
{
    struct exporter *x = ctx;
    const struct gt_scenario *scn = x->o->scenario;
    for (int32_t ord = 0; ord <= MAX_ORDINAL && x->rc == 0; ord++) {
        const struct gt_sim *sim =
            gt_scenario_find(scn, ord) != NULL ? gt_inspect_sim(in, ord) : NULL;
        if (sim == NULL)
            continue;
        x->device = ord;
        x->keep_into = &x->live;
        gt_inspect_live(in, ord, keep, x);
        x->keep_into = &x->pending;
        gt_inspect_pending(in, ord, keep, x);
        gt_sim_segments(sim, sim_segment, sim_block, x);
        if (x->rc == 0 && x->seg_open)
            write_segment(x);
    }
    return x->rc;
}

static int simulated_segments(struct exporter *x)
{
    struct gt_inspect_options io = {.scenario = x->o->scenario, .on_end = sim_end, .ctx = x};
    int rc = gt_live_init(&x->live);
    if (rc == 0)
        rc = gt_live_init(&x->pending);
    if (rc == 0)
        rc = gt_inspect_run(x->trace, x->o->conf, &io, x->errbuf, x->errlen);
    gt_live_release(&x->live);
    gt_live_release(&x->pending);
    return rc;
}

/* ------------------------------------------------------------ traces */

static void write_entry(struct exporter *x, const char *action, uint64_t addr, uint64_t size,
                        uint64_t stream, int64_t ts_ns, int64_t frames_seq)
{
    struct gt_pkw *w = &x->w;
    gt_pkw_dict_begin(w);
    gt_pkw_key_str(w, "action", action);
    gt_pkw_key_uint(w, strcmp(action, "oom") == 0 ? "device_free" : "addr", addr);
    gt_pkw_key_uint(w, "size", size);
    gt_pkw_key_uint(w, "stream", stream);
    gt_pkw_key_int(w, "time_us", ts_ns / 1000);
    write_frames(x, frames_seq);
    gt_pkw_dict_end(w);
    x->res->entries++;
}

/* A free: free_requested, then free_completed when no other stream holds
 * the block (the allocator records both back to back then). */
static void write_free(struct exporter *x, uint64_t addr, uint64_t bytes, uint64_t stream,
                       int64_t ts_ns, bool completed)
{
    write_entry(x, "free_requested", addr, bytes, stream, ts_ns, 0);
    if (completed)
        write_entry(x, "free_completed", addr, bytes, stream, ts_ns, 0);
}

/* The bytes a free names: the event's, else those its allocation asked. */
static uint64_t freed_bytes(const struct gt_event *e, struct gt_live_map *from)
{
    struct gt_live gone;
    bool known = gt_live_take(from, e->device, e->addr, &gone);
    return e->requested ? e->requested : e->size ? e->size : known ? gone.requested : 0;
}

static int recorded_event(struct exporter *x, const struct gt_event *e)
{
    uint64_t asked = gt_event_asked(e), bytes;
    struct gt_live *l;
    switch (e->kind) {
    case GT_EV_ALLOC:
    case GT_EV_OOM:
        if (gt_event_failed_request(e)) {
            write_entry(x, "oom", e->addr, asked, e->stream, e->ts_ns, e->seq);
            return 0;
        }
        write_entry(x, "alloc", e->addr, asked, e->stream, e->ts_ns, e->seq);
        if ((l = gt_live_put(&x->live, e->device, e->addr)) == NULL)
            return GT_ENOMEM;
        l->requested = asked;
        return 0;
    case GT_EV_FREE:
        write_free(x, e->addr, freed_bytes(e, &x->live), e->stream, e->ts_ns, true);
        return 0;
    case GT_EV_FREE_REQUESTED:
        bytes = freed_bytes(e, &x->live);
        write_free(x, e->addr, bytes, e->stream, e->ts_ns, false);
        if ((l = gt_live_put(&x->pending, e->device, e->addr)) == NULL)
            return GT_ENOMEM;
        l->requested = bytes;
        return 0;
    case GT_EV_FREE_COMPLETED:
        bytes = freed_bytes(e, &x->pending);
        write_entry(x, "free_completed", e->addr, bytes, e->stream, e->ts_ns, 0);
        return 0;
    case GT_EV_SEGMENT_ALLOC:
    case GT_EV_SEGMENT_FREE:
    case GT_EV_SEGMENT_MAP:
    case GT_EV_SEGMENT_UNMAP:
        /* the action names are the trace's kind names */
        write_entry(x, gt_trace_kind_name(e->kind), e->addr, e->size, e->stream, e->ts_ns,
                    e->kind == GT_EV_SEGMENT_ALLOC ? e->seq : 0);
        return 0;
    default:
        return 0; /* empty_cache shows as its segment_frees; host memory is not the device's */
    }
}

static int device_event(void *ctx, const struct gt_event *e, int64_t index)
{
    struct exporter *x = ctx;
    (void)index;
    int rc = e->device == x->device ? recorded_event(x, e) : 0;
    return rc ? rc : x->rc;
}

static int recorded_trace(struct exporter *x, int32_t device)
{
    x->device = device;
    int rc = gt_trace_rewind(x->r);
    if (rc == 0)
        rc = gt_live_init(&x->live);
    if (rc == 0)
        rc = gt_live_init(&x->pending);
    if (rc == 0)
        rc = gt_scenario_each_event(x->r, device_event, x, NULL, x->errbuf, x->errlen);
    gt_live_release(&x->live);
    gt_live_release(&x->pending);
    return rc ? rc : x->rc;
}

static void hold_segment(void *ctx, int32_t device, enum gt_sim_seg_event ev, uint64_t addr,
                         uint64_t size, uint64_t stream)
{
    static const int32_t kinds[] = {
        [GT_SIM_SEGMENT_ALLOC] = GT_EV_SEGMENT_ALLOC,
        [GT_SIM_SEGMENT_FREE] = GT_EV_SEGMENT_FREE,
        [GT_SIM_SEGMENT_MAP] = GT_EV_SEGMENT_MAP,
        [GT_SIM_SEGMENT_UNMAP] = GT_EV_SEGMENT_UNMAP,
    };
    struct exporter *x = ctx;
    if (device != x->device || x->rc)
        return;
    struct held_segment *h = gt_array_grow(x->held, &x->cap_held, x->nheld, sizeof *h);
    if (h == NULL) {
        x->rc = GT_ENOMEM;
        return;
    }
    x->held = h;
    x->held[x->nheld++] = (struct held_segment){gt_trace_kind_name(kinds[ev]), addr, size, stream};
}

static void release_held(struct exporter *x, int64_t ts_ns, int64_t seq)
{
    for (size_t i = 0; i < x->nheld; i++) {
        const struct held_segment *h = &x->held[i];
        /* the cudaMalloc of a request is made on its behalf: its stack */
        write_entry(x, h->action, h->addr, h->size, h->stream, ts_ns,
                    strcmp(h->action, "segment_alloc") == 0 ? seq : 0);
    }
    x->nheld = 0;
}

/* The device's free memory a simulated OOM reports (cudaMemGetInfo):
 * what the card leaves beside the allocator's reservation. */
static uint64_t sim_device_free(struct gt_inspect *in, const struct gt_inspect_event *ev)
{
    uint64_t cap = gt_inspect_device_memory(in, ev->device);
    uint64_t reserved = (uint64_t)gt_sim_get_stats(ev->sim)->reserved_bytes[GT_SIM_ALL].current;
    return cap > reserved ? cap - reserved : 0;
}

static int sim_event(void *ctx, struct gt_inspect *in, const struct gt_inspect_event *ev)
{
    struct exporter *x = ctx;
    if (ev->device != x->device)
        return x->rc;
    release_held(x, ev->ts_ns, ev->seq);
    switch (ev->kind) {
    case GT_EV_ALLOC:
    case GT_EV_OOM:
        if (ev->result != 0) {
            write_entry(x, "oom", sim_device_free(in, ev),
                        gt_sim_round_size(x->o->conf, ev->requested), ev->stream, ev->ts_ns,
                        ev->seq);
            break;
        }
        write_entry(x, "alloc", ev->sim_addr, ev->sim_requested, ev->stream, ev->ts_ns, ev->seq);
        if (ev->recorded_oom) /* a probe: served here, given back at once */
            write_free(x, ev->sim_addr, ev->sim_requested, ev->stream, ev->ts_ns, true);
        break;
    case GT_EV_FREE:
    case GT_EV_FREE_REQUESTED:
        if (ev->sim_addr == 0)
            break; /* an allocation this config could not serve */
        write_free(x, ev->sim_addr, ev->sim_requested, ev->stream, ev->ts_ns, !ev->sim_pending);
        break;
    case GT_EV_FREE_COMPLETED:
        if (ev->sim_addr != 0)
            write_entry(x, "free_completed", ev->sim_addr, ev->sim_requested, ev->stream, ev->ts_ns,
                        0);
        break;
    default:
        break;
    }
    return x->rc;
}

static int simulated_trace(struct exporter *x, int32_t device)
{
    struct gt_inspect_options io = {
        .scenario = x->o->scenario, .on_event = sim_event, .on_segment = hold_segment, .ctx = x};
    x->device = device;
    x->nheld = 0;
    int rc = gt_inspect_run(x->trace, x->o->conf, &io, x->errbuf, x->errlen);
    if (rc == 0)
        release_held(x, 0, 0); /* none: every segment event precedes a request */
    return rc ? rc : x->rc;
}

/* device_traces: one list per ordinal from 0 to the highest with requests. */
static int write_traces(struct exporter *x)
{
    const struct gt_scenario *scn = x->o->scenario;
    int32_t top = -1;
    for (size_t i = 0; i < scn->ndevices; i++)
        if (scn->devices[i].device > top)
            top = scn->devices[i].device;
    gt_pkw_str(&x->w, "device_traces");
    gt_pkw_list_begin(&x->w);
    int rc = 0;
    for (int32_t ord = 0; ord <= top && rc == 0; ord++) {
        gt_pkw_list_begin(&x->w);
        if (gt_scenario_find(scn, ord) != NULL) {
            rc = x->o->conf != NULL ? simulated_trace(x, ord) : recorded_trace(x, ord);
            x->res->devices++;
        }
        gt_pkw_list_end(&x->w);
    }
    gt_pkw_list_end(&x->w);
    return rc;
}

/* ------------------------------------------------------------ settings */

/* allocator_settings as CUDAAllocatorConfig reports them (PyTorch 2.3+). */
static void write_settings(struct exporter *x, const char *text, const struct gt_conf *c)
{
    struct gt_pkw *w = &x->w;
    char key[16];
    gt_pkw_str(w, "allocator_settings");
    gt_pkw_dict_begin(w);
    gt_pkw_key_str(w, "PYTORCH_CUDA_ALLOC_CONF", text);
    gt_pkw_key_int(w, "max_split_size", gt_conf_max_split_reported(c));
    gt_pkw_str(w, "garbage_collection_threshold");
    gt_pkw_float(w, c->gc_threshold);
    gt_pkw_key_bool(w, "expandable_segments", c->expandable_segments);
    gt_pkw_key_int(w, "pinned_num_register_threads", 1);
    gt_pkw_key_bool(w, "release_lock_on_cudamalloc", c->release_lock_on_cudamalloc);
    gt_pkw_key_bool(w, "pinned_use_cuda_host_register", false);
    gt_pkw_key_bool(w, "graph_capture_record_stream_reuse", false); /* 2.8+ */
    gt_pkw_str(w, "roundup_power2_divisions"); /* interval i starts at 2^i MiB */
    gt_pkw_dict_begin(w);
    for (int i = 0; i < GT_CONF_DIVISION_INTERVALS; i++) {
        snprintf(key, sizeof key, "%u", 1u << i);
        gt_pkw_key_int(w, key, c->roundup_divisions[i]);
    }
    gt_pkw_dict_end(w);
    gt_pkw_dict_end(w);
}

/* The settings of the run exported: the config simulated, or those the
 * trace says it was recorded under (the defaults when it does not say). */
static void settings(struct exporter *x)
{
    struct gt_conf recorded;
    const char *text = "";
    if (x->o->conf != NULL) {
        text = strcmp(x->o->conf->name, "default") == 0 ? "" : x->o->conf->name;
        write_settings(x, text, x->o->conf);
        return;
    }
    const struct gt_scenario *scn = x->o->scenario;
    if (!scn->has_recorded_conf || gt_conf_parse(scn->recorded_conf, &recorded, NULL, 0) != 0)
        gt_conf_init_default(&recorded);
    else
        text = scn->recorded_conf;
    write_settings(x, text, &recorded);
}

/* ------------------------------------------------------------ the file */

static int write_snapshot(FILE *f, void *ctx)
{
    struct exporter *x = ctx;
    gt_pkw_init(&x->w, f);
    gt_pkw_dict_begin(&x->w);
    gt_pkw_str(&x->w, "segments");
    gt_pkw_list_begin(&x->w);
    int rc = x->o->conf != NULL ? simulated_segments(x) : recorded_segments(x);
    gt_pkw_list_end(&x->w);
    if (rc == 0)
        rc = write_traces(x);
    if (rc == 0) {
        settings(x);
        gt_pkw_str(&x->w, "external_annotations");
        gt_pkw_list_begin(&x->w);
        gt_pkw_list_end(&x->w);
        gt_pkw_dict_end(&x->w);
    }
    int wrc = gt_pkw_finish(&x->w);
    return rc ? rc : x->rc ? x->rc : wrc;
}

static int check_request(const struct gt_export_options *o, char *errbuf, size_t errlen)
{
    if (o->conf != NULL && o->conf->no_caching) {
        snprintf(errbuf, errlen,
                 "nocache has no cache for a snapshot to show: export the "
                 "recorded run or a caching config");
        return GT_EUNSUPPORTED;
    }
    for (size_t i = 0; i < o->scenario->ndevices; i++) {
        int32_t d = o->scenario->devices[i].device;
        if (d < 0 || d > MAX_ORDINAL) {
            snprintf(errbuf, errlen,
                     "device ordinal %d cannot be exported: a snapshot lists devices by "
                     "position, 0 to %d",
                     (int)d, MAX_ORDINAL);
            return GT_EUNSUPPORTED;
        }
    }
    return 0;
}

int gt_export_snapshot(const char *trace_path, const char *out_path,
                       const struct gt_export_options *opts, struct gt_export_result *res,
                       char *errbuf, size_t errlen)
{
    struct gt_export_result local;
    struct exporter x;
    char detail[512] = "";
    int rc;

    if (res == NULL)
        res = &local;
    memset(res, 0, sizeof *res);
    memset(&x, 0, sizeof x);
    errbuf[0] = '\0';
    rc = check_request(opts, errbuf, errlen);
    if (rc)
        return rc;
    x.trace = trace_path;
    x.o = opts;
    x.res = res;
    x.errbuf = detail;
    x.errlen = sizeof detail;
    rc = gt_trace_open(trace_path, &x.r, errbuf, errlen);
    if (rc)
        return rc;
    rc = gt_files_write_output(out_path, &trace_path, 1, write_snapshot, &x, errbuf, errlen);
    /* a failure of the trace or the replay (the only ones that leave a
     * detail) is named as such, not as a failure to write */
    if (rc && detail[0] != '\0')
        snprintf(errbuf, errlen, "%s", detail);
    gt_trace_close(x.r);
    gt_live_release(&x.live);
    gt_live_release(&x.pending);
    free(x.blocks);
    free(x.held);
    return rc;
}
