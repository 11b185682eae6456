/* One-config replay with full visibility (inspect.h): the engine of the
 * commands that explain a run rather than rank configs. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gputrace/err.h"
#include "gputrace/inspect.h"
#include "gputrace/replay.h"
#include "gputrace/schema.h"
#include "gputrace/trace.h"
#include "gputrace/live.h"
#include "gputrace/banned.h"

#define READ_EVENTS 4096

/* Replays started, for gt_inspect_runs; the plots replay from threads. */
static atomic_long runs;

struct inspect_dev {
    int32_t ordinal;
    struct gt_sim *sim;
    uint64_t cap;
    const struct gt_inspect_options *opts; /* for on_segment */
};

struct gt_inspect {
    struct gt_conf conf;
    const struct gt_scenario *scn;
    const struct gt_inspect_options *opts;
    struct gt_trace_reader *r;
    struct inspect_dev devs[GT_REPLAY_MAX_DEVICES];
    size_t ndev;
    struct gt_live_map live;
    struct gt_live_map pending; /* freed while other streams used them */
    int rc;                     /* first error of a lazily created simulator */
};

/* The slot of the device of that ordinal, or ndev when it has none. */
static size_t dev_slot(const struct gt_inspect *in, int32_t ordinal)
{
    size_t i = 0;
    while (i < in->ndev && in->devs[i].ordinal != ordinal)
        i++;
    return i;
}

static struct inspect_dev *dev_get(struct gt_inspect *in, int32_t ordinal)
{
    size_t i = dev_slot(in, ordinal);
    return i < in->ndev ? &in->devs[i] : NULL;
}

static void start_live(void *ctx, const struct gt_initial_block *b, gt_sim_handle h)
{
    struct gt_inspect *in = ctx;
    if (gt_live_put_start(&in->live, &in->pending, b, h) != 0)
        in->rc = GT_ENOMEM;
}

/* The simulator's segment events, named by their device for the caller. */
static void segment_event(void *ctx, enum gt_sim_seg_event ev, uint64_t addr, uint64_t size,
                          uint64_t stream)
{
    const struct inspect_dev *d = ctx;
    d->opts->on_segment(d->opts->ctx, d->ordinal, ev, addr, size, stream);
}

/* Every device of the scenario gets its simulator on its card, holding its
 * start state. */
static int devices_start(struct gt_inspect *in)
{
    for (size_t i = 0; i < in->scn->ndevices; i++) {
        const struct gt_scenario_device *sd = &in->scn->devices[i];
        struct inspect_dev *d = &in->devs[in->ndev];
        struct gt_sim_options o = gt_scenario_sim_options(sd);
        d->ordinal = sd->device;
        d->opts = in->opts;
        if (in->opts->on_segment != NULL) {
            o.on_segment = segment_event;
            o.cb_ctx = d;
        }
        int rc = gt_sim_new(&in->conf, &o, &d->sim);
        if (rc)
            return rc;
        d->cap = sd->memory;
        in->ndev++;
        rc = gt_scenario_preload(in->scn, sd, d->sim, in->conf.no_caching, o.device_limit,
                                 start_live, in);
        if (rc || in->rc)
            return rc ? rc : in->rc;
    }
    return 0;
}

/* The simulated block of an allocation being freed, named before the
 * free makes its handle invalid. */
static void name_block(const struct inspect_dev *d, const struct gt_live *l,
                       struct gt_inspect_event *ev)
{
    ev->sim_addr = gt_sim_addr(d->sim, l->h);
    ev->sim_requested = l->requested;
}

/* Replays one request; fills ev for the callback. */
static int apply(struct gt_inspect *in, struct inspect_dev *d, const struct gt_event *e,
                 int64_t index, struct gt_inspect_event *ev)
{
    gt_sim_handle h;
    uint64_t asked = gt_event_asked(e);
    ev->requested = asked;
    switch (e->kind) {
    case GT_EV_ALLOC:
    case GT_EV_OOM:
        ev->recorded_oom = gt_event_failed_request(e);
        /* trace-format.md: a failed request's addr is the free memory */
        ev->recorded_free = ev->recorded_oom ? e->addr : 0;
        ev->result = gt_sim_malloc(d->sim, asked, e->stream, &h);
        if (ev->result == GT_ENOMEM)
            return GT_ENOMEM;
        if (ev->result == 0) {
            ev->sim_addr = gt_sim_addr(d->sim, h);
            ev->sim_requested = asked;
        }
        if (ev->result == 0 && ev->recorded_oom) {
            gt_sim_free(d->sim, h); /* the program did not get it: a probe */
        } else if (ev->result == 0) {
            struct gt_live *l = gt_live_put(&in->live, e->device, e->addr);
            if (l == NULL)
                return GT_ENOMEM;
            if (l->h != GT_SIM_NO_HANDLE)
                gt_sim_free(d->sim, l->h); /* a free the recorder missed */
            *l = (struct gt_live){e->addr, e->device, h, asked, e->stream, e->seq, index, e->ts_ns};
        }
        return 0;
    case GT_EV_FREE: {
        struct gt_live gone;
        if (gt_live_take(&in->live, e->device, e->addr, &gone)) {
            name_block(d, &gone, ev);
            gt_sim_free(d->sim, gone.h);
        }
        return 0;
    }
    case GT_EV_FREE_REQUESTED: {
        struct gt_live gone;
        if (!gt_live_take(&in->live, e->device, e->addr, &gone))
            return 0;
        name_block(d, &gone, ev); /* while the handle is live */
        int rc = gt_live_free_requested(&in->pending, d->sim, &gone);
        ev->sim_pending = rc == 1;
        return rc < 0 ? rc : 0;
    }
    case GT_EV_FREE_COMPLETED: {
        struct gt_live done;
        if (gt_live_take(&in->pending, e->device, e->addr, &done)) {
            name_block(d, &done, ev);
            gt_sim_free_completed(d->sim, done.h);
        }
        return 0;
    }
    case GT_EV_EMPTY_CACHE:
        gt_sim_empty_cache(d->sim);
        return 0;
    default:
        return 0;
    }
}

static int is_request(int32_t kind)
{
    return kind == GT_EV_ALLOC || kind == GT_EV_FREE || kind == GT_EV_EMPTY_CACHE ||
           kind == GT_EV_OOM || kind == GT_EV_FREE_REQUESTED;
}

static int replay(struct gt_inspect *in, char *errbuf, size_t errlen)
{
    struct gt_event *evs = malloc(READ_EVENTS * sizeof *evs);
    int64_t index = 0;
    int rc = evs != NULL ? 0 : GT_ENOMEM;
    while (rc == 0) {
        size_t n = 0;
        rc = gt_trace_read(in->r, evs, READ_EVENTS, &n);
        if (rc) {
            snprintf(errbuf, errlen, "%s", gt_trace_errmsg(in->r));
            break;
        }
        if (n == 0)
            break;
        for (size_t k = 0; k < n && rc == 0; k++, index++) {
            const struct gt_event *e = &evs[k];
            if (!is_request(e->kind))
                continue;
            struct inspect_dev *d = dev_get(in, e->device);
            if (d == NULL)
                continue; /* past the scenario's first 64 devices */
            struct gt_inspect_event ev = {.index = index,
                                          .seq = e->seq,
                                          .ts_ns = e->ts_ns,
                                          .device = e->device,
                                          .kind = e->kind,
                                          .stream = e->stream,
                                          .sim = d->sim};
            rc = apply(in, d, e, index, &ev);
            if (rc == 0 && in->opts->on_event != NULL)
                rc = in->opts->on_event(in->opts->ctx, in, &ev);
        }
    }
    free(evs);
    return rc;
}

int gt_inspect_run(const char *path, const struct gt_conf *conf,
                   const struct gt_inspect_options *opts, char *errbuf, size_t errlen)
{
    if (conf->backend != GT_CONF_BACKEND_NATIVE) {
        snprintf(errbuf, errlen, "config '%s': backend:cudaMallocAsync is not simulated",
                 conf->name);
        return GT_EUNSUPPORTED;
    }
    struct gt_inspect *in = calloc(1, sizeof *in);
    if (in == NULL)
        return GT_ENOMEM;
    atomic_fetch_add(&runs, 1);
    static const struct gt_inspect_options none;
    in->conf = *conf;
    in->opts = opts != NULL ? opts : &none;
    errbuf[0] = 0;
    struct gt_scenario *own = NULL;
    in->scn = in->opts->scenario;
    int rc = in->scn != NULL ? 0 : gt_scenario_build(path, 0, &own, errbuf, errlen);
    if (in->scn == NULL)
        in->scn = own;
    if (rc == 0)
        rc = gt_trace_open(path, &in->r, errbuf, errlen);
    if (rc == 0)
        rc = gt_live_init(&in->live);
    if (rc == 0)
        rc = gt_live_init(&in->pending);
    if (rc == 0)
        rc = devices_start(in);
    if (rc == GT_EINVAL && errbuf[0] == 0)
        snprintf(errbuf, errlen, "the start state's blocks do not tile their segments");
    if (rc == 0)
        rc = replay(in, errbuf, errlen);
    if (rc == 0 && in->opts->on_end != NULL)
        rc = in->opts->on_end(in->opts->ctx, in);
    if (rc && errbuf[0] == 0)
        snprintf(errbuf, errlen, "%s", gt_strerror(rc));
    for (size_t i = 0; i < in->ndev; i++)
        gt_sim_free_all(in->devs[i].sim);
    gt_live_release(&in->live);
    gt_live_release(&in->pending);
    gt_trace_close(in->r);
    gt_scenario_free(own);
    free(in);
    return rc;
}

long gt_inspect_runs(void)
{
    return atomic_load(&runs);
}

struct shared_run {
    const struct gt_inspect_options *const *obs;
    int *rcs;
    size_t n, left; /* left: observers without an error */
    int last;       /* the latest observer error */
};

/* Hands a callback's error to its observer, which is then left out. */
static void observer_failed(struct shared_run *s, size_t i, int rc)
{
    if (rc == 0)
        return;
    s->rcs[i] = rc;
    s->last = rc;
    s->left--;
}

static int shared_event(void *ctx, struct gt_inspect *in, const struct gt_inspect_event *ev)
{
    struct shared_run *s = ctx;

    for (size_t i = 0; i < s->n; i++)
        if (s->rcs[i] == 0 && s->obs[i]->on_event != NULL)
            observer_failed(s, i, s->obs[i]->on_event(s->obs[i]->ctx, in, ev));
    return s->left > 0 ? 0 : s->last;
}

static int shared_end(void *ctx, struct gt_inspect *in)
{
    struct shared_run *s = ctx;

    for (size_t i = 0; i < s->n; i++)
        if (s->rcs[i] == 0 && s->obs[i]->on_end != NULL)
            observer_failed(s, i, s->obs[i]->on_end(s->obs[i]->ctx, in));
    return s->left > 0 ? 0 : s->last;
}

static void shared_segment(void *ctx, int32_t device, enum gt_sim_seg_event ev, uint64_t addr,
                           uint64_t size, uint64_t stream)
{
    struct shared_run *s = ctx;

    for (size_t i = 0; i < s->n; i++)
        if (s->rcs[i] == 0 && s->obs[i]->on_segment != NULL)
            s->obs[i]->on_segment(s->obs[i]->ctx, device, ev, addr, size, stream);
}

int gt_inspect_run_shared(const char *path, const struct gt_conf *conf,
                          const struct gt_scenario *scn,
                          const struct gt_inspect_options *const *observers, int *rcs, size_t n,
                          char *errbuf, size_t errlen)
{
    struct shared_run s = {observers, rcs, n, n, 0};
    struct gt_inspect_options o = {
        .scenario = scn, .on_event = shared_event, .on_end = shared_end, .ctx = &s};
    bool segments = false;

    for (size_t i = 0; i < n; i++) {
        rcs[i] = 0;
        segments |= observers[i]->on_segment != NULL;
    }
    /* the simulator reports segments only to a replay that asks */
    if (segments)
        o.on_segment = shared_segment;
    return gt_inspect_run(path, conf, &o, errbuf, errlen);
}

struct live_walk {
    int32_t device;
    const struct gt_sim *sim; /* the device's, found once for the walk */
    void (*fn)(void *ctx, const struct gt_inspect_alloc *a);
    void *ctx;
};

static void visit(void *ctx, const struct gt_live *l)
{
    struct live_walk *w = ctx;
    if (l->device != w->device)
        return;
    const struct gt_sim *sim = w->sim;
    struct gt_inspect_alloc a = {.addr = l->addr,
                                 .requested = l->requested,
                                 .block = sim != NULL ? gt_sim_block_size(sim, l->h) : 0,
                                 .sim_addr = sim != NULL ? gt_sim_addr(sim, l->h) : 0,
                                 .stream = l->stream,
                                 .seq = l->seq,
                                 .index = l->index,
                                 .ts_ns = l->ts_ns};
    w->fn(w->ctx, &a);
}

static void walk(const struct gt_inspect *in, const struct gt_live_map *m, int32_t device,
                 void (*fn)(void *ctx, const struct gt_inspect_alloc *a), void *ctx)
{
    struct live_walk w = {device, gt_inspect_sim(in, device), fn, ctx};
    gt_live_foreach(m, visit, &w);
}

void gt_inspect_live(const struct gt_inspect *in, int32_t device,
                     void (*fn)(void *ctx, const struct gt_inspect_alloc *a), void *ctx)
{
    walk(in, &in->live, device, fn, ctx);
}

void gt_inspect_pending(const struct gt_inspect *in, int32_t device,
                        void (*fn)(void *ctx, const struct gt_inspect_alloc *a), void *ctx)
{
    walk(in, &in->pending, device, fn, ctx);
}

const struct gt_sim *gt_inspect_sim(const struct gt_inspect *in, int32_t device)
{
    size_t i = dev_slot(in, device);
    return i < in->ndev ? in->devs[i].sim : NULL;
}

uint64_t gt_inspect_device_memory(const struct gt_inspect *in, int32_t device)
{
    size_t i = dev_slot(in, device);
    return i < in->ndev ? in->devs[i].cap : 0;
}
