/* Trace statistics (stats.h): one streaming pass over the events for what
 * the recording itself says, then one replay under the recorded config for
 * what the allocator held, which the report shares with its OOM findings
 * (gt_stats_begin/gt_stats_end). Memory is bounded by the live
 * allocations. */
#include "gputrace/stats.h"
#include "gputrace/conf.h"
#include "gputrace/err.h"
#include "gputrace/inspect.h"
#include "gputrace/growth.h"
#include "gputrace/peak.h"
#include "gputrace/schema.h"
#include "gputrace/sim.h"
#include "gputrace/trace.h"
#include "gputrace/units.h"
#include "gputrace/live.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gputrace/banned.h"

/* replace_bytes: a live total after an allocation of old bytes gives way to
 * one of bytes (0 for a free). Hostile traces free more than they allocated
 * and allocate past 2^64: the total stays in [0, UINT64_MAX], never wraps. */
static uint64_t replace_bytes(uint64_t total, uint64_t old, uint64_t bytes)
{
    return gt_units_add_u64(total - (old < total ? old : total), bytes);
}

#define READ_EVENTS 4096

/* ---- live bytes by (device, address) ------------------------------------ */

/* The bytes of each live allocation, in the one address map (gputrace/live.h;
 * the bytes in its requested field). */

/* Sets the bytes of (device, addr); *old gets the previous value (0 if it
 * was not live). */
static int live_put(struct gt_live_map *m, int32_t device, uint64_t addr, uint64_t bytes,
                    uint64_t *old)
{
    struct gt_live *l = gt_live_put(m, device, addr);
    if (l == NULL)
        return GT_ENOMEM;
    *old = l->requested;
    l->requested = bytes;
    return 0;
}

/* Removes (device, addr); false if it was not live. */
static bool live_take(struct gt_live_map *m, int32_t device, uint64_t addr, uint64_t *bytes)
{
    struct gt_live gone;
    if (!gt_live_take(m, device, addr, &gone))
        return false;
    *bytes = gone.requested;
    return true;
}

/* ---- the pass over the recording ----------------------------------------- */

struct dev_state {
    uint64_t requested_cur;
    uint64_t real_cur;
    /* replay: the slice being filled (-1 before the first request) and
     * the values after the last request */
    long slice;
    uint64_t allocated_cur, reserved_cur;
};

struct stats_ctx {
    struct gt_stats *s;
    const struct gt_scenario *scn;
    struct dev_state *st; /* parallel to s->devices */
    size_t cap;
    struct gt_live_map live, host;
    int64_t slice_width;
};

static struct gt_stats_device *device_get(struct stats_ctx *c, struct gt_trace_reader *r,
                                          int32_t device, size_t *index)
{
    struct gt_stats *s = c->s;

    for (size_t i = 0; i < s->ndevices; i++) {
        if (s->devices[i].device == device) {
            *index = i;
            return &s->devices[i];
        }
    }
    if (s->ndevices == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 4;
        struct gt_stats_device *d = realloc(s->devices, cap * sizeof *d);
        if (d == NULL)
            return NULL;
        s->devices = d;
        struct dev_state *st = realloc(c->st, cap * sizeof *st);
        if (st == NULL)
            return NULL;
        c->st = st;
        c->cap = cap;
    }
    struct gt_stats_device *d = &s->devices[s->ndevices];
    memset(d, 0, sizeof *d);
    memset(&c->st[s->ndevices], 0, sizeof c->st[0]);
    c->st[s->ndevices].slice = -1;
    d->device = device;
    d->utilization = -1.0;
    d->first_ts_ns = INT64_MAX;
    d->last_ts_ns = INT64_MIN;
    if (gt_trace_device(r, device, d->name, sizeof d->name, &d->total_memory) != 0) {
        d->name[0] = '\0';
        d->total_memory = 0;
    }
    *index = s->ndevices++;
    return d;
}

struct preload {
    struct stats_ctx *c;
    struct gt_trace_reader *r;
    uint64_t last_segment;
    int32_t last_device;
    bool any;
};

/* A snapshot that starts mid-run: its allocated blocks are live (their
 * frees come later in the trace) and its segments are reserved. Blocks come
 * in (device, addr) order, so a segment's blocks are consecutive. */
static int preload_block(void *ctx, const struct gt_initial_block *b)
{
    struct preload *p = ctx;
    size_t i;
    uint64_t old;
    struct gt_stats_device *d = device_get(p->c, p->r, b->device, &i);

    if (d == NULL)
        return GT_ENOMEM;
    struct dev_state *st = &p->c->st[i];
    d->has_real_segments = true;
    if (!p->any || b->segment != p->last_segment || b->device != p->last_device) {
        st->real_cur = gt_units_add_u64(st->real_cur, b->segment_size);
        if (st->real_cur > d->real_reserved_peak)
            d->real_reserved_peak = st->real_cur;
    }
    p->any = true;
    p->last_segment = b->segment;
    p->last_device = b->device;
    if (!b->allocated)
        return 0;
    uint64_t bytes = b->requested ? b->requested : b->size;
    if (live_put(&p->c->live, b->device, gt_initial_block_key(b), bytes, &old) != 0)
        return GT_ENOMEM;
    st->requested_cur = replace_bytes(st->requested_cur, old, bytes);
    if (st->requested_cur > d->requested_peak)
        d->requested_peak = st->requested_cur;
    return 0;
}

static void real_segment(struct gt_stats_device *d, struct dev_state *st, int32_t kind,
                         uint64_t size)
{
    d->has_real_segments = true;
    if (kind == GT_EV_SEGMENT_ALLOC || kind == GT_EV_SEGMENT_MAP) {
        st->real_cur = gt_units_add_u64(st->real_cur, size);
        if (st->real_cur > d->real_reserved_peak)
            d->real_reserved_peak = st->real_cur;
    } else {
        /* A release of a segment the recording never showed: keep the
         * figure at 0 rather than wrap. */
        st->real_cur = size > st->real_cur ? 0 : st->real_cur - size;
    }
}

static int host_event(struct stats_ctx *c, const struct gt_event *e)
{
    struct gt_stats *s = c->s;
    uint64_t bytes, old;

    s->has_host = true;
    if (e->kind == GT_EV_HOST_ALLOC) {
        bytes = gt_event_asked(e);
        s->host_allocs++;
        s->host_total = gt_units_add_u64(s->host_total, bytes);
        if (live_put(&c->host, 0, e->addr, bytes, &old) != 0)
            return GT_ENOMEM;
        s->host_final = replace_bytes(s->host_final, old, bytes);
        if (s->host_final > s->host_peak)
            s->host_peak = s->host_final;
    } else {
        s->host_frees++;
        if (live_take(&c->host, 0, e->addr, &bytes))
            s->host_final = replace_bytes(s->host_final, bytes, 0);
    }
    return 0;
}

/* A failed request of the recording: counted, and the first one kept. */
static void recorded_oom(struct gt_stats_device *d, const struct gt_event *e, int64_t index)
{
    if (d->recorded_ooms++ > 0)
        return;
    d->first_oom_event = index;
    d->first_oom_requested = gt_event_asked(e);
    d->first_oom_free = e->addr;
}

static int device_event(struct stats_ctx *c, struct gt_trace_reader *r, const struct gt_event *e)
{
    size_t i;
    uint64_t bytes, old;
    struct gt_stats_device *d = device_get(c, r, e->device, &i);

    if (d == NULL)
        return GT_ENOMEM;
    struct dev_state *st = &c->st[i];
    d->events++;
    if (e->ts_ns < d->first_ts_ns)
        d->first_ts_ns = e->ts_ns;
    if (e->ts_ns > d->last_ts_ns)
        d->last_ts_ns = e->ts_ns;
    switch (e->kind) {
    case GT_EV_ALLOC:
        if (e->result != 0) {
            recorded_oom(d, e,
                         c->s->events - 1); /* the recording failed here: nothing became live */
            break;
        }
        d->allocs++;
        bytes = gt_event_asked(e);
        if (live_put(&c->live, e->device, e->addr, bytes, &old) != 0)
            return GT_ENOMEM;
        /* An alloc at a live address means the free was missed: the old
         * allocation is gone either way. */
        st->requested_cur = replace_bytes(st->requested_cur, old, bytes);
        if (st->requested_cur > d->requested_peak)
            d->requested_peak = st->requested_cur;
        break;
    case GT_EV_FREE:
    case GT_EV_FREE_REQUESTED: /* the program let go; the block waits on streams */
        d->frees++;
        if (live_take(&c->live, e->device, e->addr, &bytes))
            st->requested_cur = replace_bytes(st->requested_cur, bytes, 0);
        else
            d->unknown_frees++;
        break;
    case GT_EV_EMPTY_CACHE:
        d->empty_caches++;
        break;
    case GT_EV_OOM:
        recorded_oom(d, e, c->s->events - 1);
        break;
    case GT_EV_SEGMENT_ALLOC:
    case GT_EV_SEGMENT_FREE:
    case GT_EV_SEGMENT_MAP:
    case GT_EV_SEGMENT_UNMAP:
        real_segment(d, st, e->kind, e->size);
        break;
    default:
        break;
    }
    return 0;
}

static int read_pass(struct stats_ctx *c, struct gt_trace_reader *r, char *errbuf, size_t errlen)
{
    struct gt_stats *s = c->s;
    struct preload p = {c, r, 0, 0, false};
    struct gt_event *evs = malloc(READ_EVENTS * sizeof *evs);
    int rc = evs != NULL ? 0 : GT_ENOMEM;

    /* The scenario's start state: recorded, or rebuilt for a profiler
     * window on a warm allocator. */
    for (size_t k = 0; rc == 0 && k < c->scn->nblocks; k++)
        rc = preload_block(&p, &c->scn->blocks[k]);
    while (rc == 0) {
        size_t n = 0;
        rc = gt_trace_read(r, evs, READ_EVENTS, &n);
        if (rc != 0) {
            snprintf(errbuf, errlen, "%s", gt_trace_errmsg(r));
            break;
        }
        if (n == 0)
            break;
        for (size_t k = 0; k < n && rc == 0; k++) {
            const struct gt_event *e = &evs[k];
            s->events++;
            if (e->ts_ns < s->first_ts_ns)
                s->first_ts_ns = e->ts_ns;
            if (e->ts_ns > s->last_ts_ns)
                s->last_ts_ns = e->ts_ns;
            if (e->kind == GT_EV_HOST_ALLOC || e->kind == GT_EV_HOST_FREE)
                rc = host_event(c, e);
            else
                rc = device_event(c, r, e);
        }
    }
    free(evs);
    for (size_t i = 0; i < s->ndevices; i++) {
        s->devices[i].requested_final = c->st[i].requested_cur;
        s->devices[i].real_reserved_final = c->st[i].real_cur;
    }
    return rc;
}

/* The settings the run was recorded under, or PyTorch's defaults with the
 * reason in config_error when they cannot be replayed. */
static void pick_config(struct gt_trace_reader *r, struct gt_stats *s, struct gt_conf *conf)
{
    char text[256], err[200] = "";
    int rc;

    gt_conf_init_default(conf);
    snprintf(s->config, sizeof s->config, "default");
    if (gt_trace_meta(r, "alloc_conf", text, sizeof text) != 0)
        return;
    s->config_recorded = true;
    if (text[0] == '\0')
        return; /* recorded with no settings: the defaults are the recorded ones */
    rc = gt_conf_parse(text, conf, err, sizeof err);
    if (rc == 0 && conf->backend != GT_CONF_BACKEND_NATIVE) {
        rc = GT_EUNSUPPORTED;
        snprintf(err, sizeof err, "backend:cudaMallocAsync is not simulated");
    }
    if (rc != 0) {
        s->config_recorded = false;
        /* the settings and the reason cut to what config_error holds (96
         * + 150 bytes), so that no build's truncation check can object */
        snprintf(s->config_error, sizeof s->config_error,
                 "the recorded '%.60s' cannot be replayed: %.150s", text,
                 err[0] != '\0' ? err : gt_strerror(rc));
        gt_conf_init_default(conf);
        return;
    }
    snprintf(s->config, sizeof s->config, "%s", text);
}

/* ---- the replay under the recorded config --------------------------------- */

/* Timestamps come from files: ts_ns may be anything, so distances are
 * taken in uint64 (exact for to >= from) and spans past MAX_SPAN_NS are no
 * time at all. */
#define MAX_SPAN_NS ((uint64_t)1 << 62)

static uint64_t ts_distance(int64_t from, int64_t to)
{
    return (uint64_t)to - (uint64_t)from;
}

static void set_slice_bounds(struct gt_stats *s, int64_t width)
{
    int64_t span =
        s->by_index ? s->events : (int64_t)ts_distance(s->first_ts_ns, s->last_ts_ns) + 1;

    for (size_t d = 0; d < s->ndevices; d++) {
        for (size_t i = 0; i < s->nslices; i++) {
            struct gt_stats_slice *sl = &s->devices[d].slices[i];
            sl->start = (int64_t)i * width;
            sl->end = i + 1 == s->nslices ? span : (int64_t)(i + 1) * width;
        }
    }
}

static void carry_to(struct gt_stats_device *d, struct dev_state *st, long slice)
{
    for (long k = st->slice + 1; k <= slice; k++) {
        d->slices[k].allocated_max = st->allocated_cur;
        d->slices[k].reserved_max = st->reserved_cur;
    }
    if (slice > st->slice)
        st->slice = slice;
}

static int on_request(void *ctx, struct gt_inspect *in, const struct gt_inspect_event *ev)
{
    struct stats_ctx *c = ctx;
    struct gt_stats *s = c->s;
    size_t i = 0;

    while (i < s->ndevices && s->devices[i].device != ev->device)
        i++;
    if (i == s->ndevices)
        return 0; /* cannot happen: the read pass saw every device */
    struct gt_stats_device *d = &s->devices[i];
    struct dev_state *st = &c->st[i];
    const struct gt_sim_stats *ss = gt_sim_get_stats(ev->sim);
    int64_t pos = s->by_index                  ? ev->index
                  : ev->ts_ns < s->first_ts_ns ? 0
                                               : (int64_t)ts_distance(s->first_ts_ns, ev->ts_ns);
    long slice = (long)(pos / c->slice_width);

    if (slice >= (long)s->nslices)
        slice = (long)s->nslices - 1;
    if (slice < 0)
        slice = 0;
    /* Timestamps of different streams may step back a little: such a
     * request counts in the slice being filled. */
    carry_to(d, st, slice);
    if (ev->result == GT_EOOM)
        d->simulated_ooms++;
    st->allocated_cur = (uint64_t)ss->allocated_bytes[GT_SIM_ALL].current;
    st->reserved_cur = (uint64_t)ss->reserved_bytes[GT_SIM_ALL].current;
    d->peak_allocated = (uint64_t)ss->allocated_bytes[GT_SIM_ALL].peak;
    d->peak_reserved = (uint64_t)ss->reserved_bytes[GT_SIM_ALL].peak;
    d->device_memory = gt_inspect_device_memory(in, ev->device);
    struct gt_stats_slice *sl = &d->slices[st->slice];
    if (st->allocated_cur > sl->allocated_max)
        sl->allocated_max = st->allocated_cur;
    if (st->reserved_cur > sl->reserved_max)
        sl->reserved_max = st->reserved_cur;
    return 0;
}

/* Sets the timeline's slices from the read pass, before the replay fills
 * them. */
static void slices_start(struct stats_ctx *c)
{
    struct gt_stats *s = c->s;
    int64_t span;

    /* Without time in the trace (every ts_ns equal), or with a span no
     * recording has (past 2^62 ns, 146 years: hostile or broken clocks),
     * the timeline counts events instead. */
    s->by_index = s->events > 0 && (s->first_ts_ns == s->last_ts_ns ||
                                    ts_distance(s->first_ts_ns, s->last_ts_ns) >= MAX_SPAN_NS);
    span = s->events == 0 ? 1
           : s->by_index  ? s->events
                          : (int64_t)ts_distance(s->first_ts_ns, s->last_ts_ns) + 1;
    c->slice_width = span / GT_STATS_SLICES + (span % GT_STATS_SLICES != 0);
    s->nslices = (size_t)((span + c->slice_width - 1) / c->slice_width);
    set_slice_bounds(s, c->slice_width);
}

/* What the replay leaves to do: the slices after a device's last request,
 * the card, the utilization. */
static void slices_finish(struct stats_ctx *c)
{
    struct gt_stats *s = c->s;

    for (size_t i = 0; i < s->ndevices; i++) {
        struct gt_stats_device *d = &s->devices[i];
        const struct gt_scenario_device *sd = gt_scenario_find(c->scn, d->device);
        carry_to(d, &c->st[i], (long)s->nslices - 1);
        if (sd != NULL) {
            d->card = *sd;
            d->device_memory = sd->memory;
        }
        if (d->device_memory > 0)
            d->utilization = (double)d->peak_reserved / (double)d->device_memory;
        if (d->events == 0)
            d->first_ts_ns = d->last_ts_ns = 0;
    }
}

struct gt_stats_pass {
    struct stats_ctx c;
    struct gt_scenario *own; /* the scenario built when none was given */
};

static void pass_free(struct gt_stats_pass *p)
{
    free(p->c.st);
    gt_scenario_free(p->own);
    gt_stats_free(p->c.s);
    free(p);
}

int gt_stats_begin(const char *path, const struct gt_scenario *scn, struct gt_stats_pass **pass,
                   struct gt_conf *conf, struct gt_inspect_options *observer, char *errbuf,
                   size_t errlen)
{
    struct gt_trace_reader *r = NULL;
    struct gt_stats_pass *p;
    char dummy[1];
    int rc;

    if (errbuf == NULL || errlen == 0) {
        errbuf = dummy;
        errlen = sizeof dummy;
    }
    errbuf[0] = '\0';
    *pass = NULL;
    p = calloc(1, sizeof *p);
    if (p == NULL)
        return GT_ENOMEM;
    if (scn == NULL) {
        rc = gt_scenario_build(path, 0, &p->own, errbuf, errlen);
        if (rc != 0) {
            free(p);
            return rc;
        }
        scn = p->own;
    }
    struct stats_ctx *c = &p->c;
    c->scn = scn;
    c->s = calloc(1, sizeof *c->s);
    if (c->s == NULL) {
        pass_free(p);
        return GT_ENOMEM;
    }
    c->s->first_ts_ns = INT64_MAX;
    c->s->last_ts_ns = INT64_MIN;
    rc = gt_live_init(&c->live);
    if (rc == 0)
        rc = gt_live_init(&c->host);
    if (rc == 0)
        rc = gt_trace_open(path, &r, errbuf, errlen);
    if (rc == 0) {
        pick_config(r, c->s, conf);
        rc = read_pass(c, r, errbuf, errlen);
    }
    gt_trace_close(r);
    gt_live_release(&c->live);
    gt_live_release(&c->host);
    if (c->s->events == 0)
        c->s->first_ts_ns = c->s->last_ts_ns = 0;
    if (rc != 0) {
        if (errbuf[0] == '\0')
            snprintf(errbuf, errlen, "%s", gt_strerror(rc));
        pass_free(p);
        return rc;
    }
    slices_start(c);
    memset(observer, 0, sizeof *observer);
    observer->scenario = scn;
    observer->on_event = on_request;
    observer->ctx = c;
    *pass = p;
    return 0;
}

int gt_stats_end(struct gt_stats_pass *p, int rc, struct gt_stats **out, char *errbuf,
                 size_t errlen)
{
    *out = NULL;
    slices_finish(&p->c);
    if (rc != 0) {
        if (errbuf != NULL && errlen > 0 && errbuf[0] == '\0')
            snprintf(errbuf, errlen, "%s", gt_strerror(rc));
        pass_free(p);
        return rc;
    }
    *out = p->c.s;
    p->c.s = NULL;
    pass_free(p);
    return 0;
}

/* Replays conf[0] once for the n observers that replay its settings
 * (gt_inspect_run_shared) and apart for any other (none, while the peak and
 * the growth replay the stats' config by its name); rcs[i]: observer i's
 * result, its own error or the replay's. */
static void replay_once(const char *path, const struct gt_scenario *scn,
                        const struct gt_conf *const *conf, const struct gt_inspect_options *obs,
                        int *rcs, size_t n, char *errbuf, size_t errlen)
{
    const struct gt_inspect_options *shared[3];
    size_t at[3], ns = 0;
    int got[3], rc;

    for (size_t i = 0; i < n; i++)
        if (gt_conf_same_settings(conf[i], conf[0])) {
            at[ns] = i;
            shared[ns++] = &obs[i];
        }
    rc = gt_inspect_run_shared(path, conf[0], scn, shared, got, ns, errbuf, errlen);
    for (size_t j = 0; j < ns; j++)
        rcs[at[j]] = got[j] != 0 ? got[j] : rc;
    for (size_t i = 0; i < n; i++)
        if (!gt_conf_same_settings(conf[i], conf[0]))
            rcs[i] = rc != 0 ? rc : gt_inspect_run(path, conf[i], &obs[i], errbuf, errlen);
}

int gt_stats_compute_with(const char *path, const struct gt_scenario *scn,
                          const struct gt_stats_options *o, struct gt_stats **out, char *errbuf,
                          size_t errlen)
{
    static const struct gt_stats_options none;
    struct gt_inspect_options obs[3];
    const struct gt_conf *conf[3];
    struct gt_scenario *own = NULL;
    struct gt_stats_pass *sp;
    struct gt_peak_pass *pp = NULL;
    struct gt_growth_pass *gp = NULL;
    struct gt_peak_live *live = NULL;
    struct gt_growth *growth = NULL;
    struct gt_conf recorded;
    char dummy[1];
    int rc, rcs[3] = {0, 0, 0};
    size_t n = 1, at_peak = 0, at_growth = 0;

    if (errbuf == NULL || errlen == 0) {
        errbuf = dummy;
        errlen = sizeof dummy;
    }
    *out = NULL;
    if (o == NULL)
        o = &none;
    /* the peak and the growth start from the same cards as the stats */
    if (scn == NULL && (o->peak || o->growth)) {
        rc = gt_scenario_build(path, 0, &own, errbuf, errlen);
        if (rc != 0)
            return rc;
        scn = own;
    }
    rc = gt_stats_begin(path, scn, &sp, &recorded, &obs[0], errbuf, errlen);
    if (rc != 0) {
        gt_scenario_free(own);
        return rc;
    }
    conf[0] = &recorded;
    /* recorded is named as the stats' config, which the others replay */
    if (o->peak) {
        at_peak = n++;
        rc = gt_peak_begin(scn, recorded.name, o->peak_top, &pp, &conf[at_peak], &obs[at_peak],
                           errbuf, errlen);
    }
    if (rc == 0 && o->growth) {
        at_growth = n++;
        rc = gt_growth_begin(scn, recorded.name, o->growth_top, &gp, &conf[at_growth],
                             &obs[at_growth], errbuf, errlen);
    }
    if (rc == 0)
        replay_once(path, scn, conf, obs, rcs, n, errbuf, errlen);
    rc = gt_stats_end(sp, rc != 0 ? rc : rcs[0], out, errbuf, errlen);
    if (pp != NULL)
        rc = gt_peak_end(pp, rc != 0 ? rc : rcs[at_peak], path, &live, errbuf, errlen);
    if (gp != NULL)
        rc = gt_growth_end(gp, rc != 0 ? rc : rcs[at_growth], path, &growth, errbuf, errlen);
    gt_scenario_free(own);
    if (rc == 0) {
        (*out)->peak = live;
        (*out)->growth = growth;
        return 0;
    }
    gt_stats_free(*out);
    gt_peak_live_free(live);
    gt_growth_free(growth);
    *out = NULL;
    return rc;
}

int gt_stats_compute(const char *path, const struct gt_scenario *scn, struct gt_stats **out,
                     char *errbuf, size_t errlen)
{
    return gt_stats_compute_with(path, scn, NULL, out, errbuf, errlen);
}

void gt_stats_free(struct gt_stats *s)
{
    if (s == NULL)
        return;
    gt_peak_live_free(s->peak);
    gt_growth_free(s->growth);
    free(s->devices);
    free(s);
}
