/* OOM diagnosis (oom.h): one inspected replay of the analysed config finds
 * and describes every OOM (in the report, the replay its stats watch too:
 * gt_oom_begin/gt_oom_end); a second, multi-config replay of the default
 * sweep says which settings would have avoided them.
 *
 * Memory stays bounded: an OOM keeps its numbers, the top
 * GT_OOM_TOP_ALLOCS live allocations and the largest groups of them by
 * stack (the list of all of them is reused from one OOM to the next), and
 * only the first GT_OOM_MAX_DETAILED OOMs are described at all. */
#include "gputrace/oom.h"
#include "gputrace/peak.h"
#include "gputrace/err.h"
#include "gputrace/inspect.h"
#include "gputrace/replay.h"
#include "gputrace/schema.h"
#include "gputrace/sim.h"
#include "gputrace/trace.h"
#include "gputrace/units.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gputrace/banned.h"

/* The sweep is a dozen configs; room for more keeps it future-proof. */
#define SWEEP_CAP 64
/* Frames of non-.py files kept after the Python ones: enough to place a
 * C++ or compiled frame, few enough that the user's code stays visible. */
#define OTHER_FRAMES 3
/* MIRRORS: the simulator's totalGlobalMem when the card is unknown (sim.c
 * SIM_DEFAULT_TOTAL), which per_process_memory_fraction then divides. */
#define DEFAULT_DEVICE_TOTAL ((uint64_t)80 << 30)

struct analyze_ctx {
    struct gt_oom_report *r;
    const struct gt_scenario *scn;
    const struct gt_conf *conf;
    struct gt_trace_reader *tr; /* a second reader, for stacks */
    struct gt_oom *cur;         /* the OOM whose top list is being filled */
    struct gt_peak_allocs live; /* its live allocations, for the stacks */
    int64_t now_index, now_ts;
    char *errbuf;
    size_t errlen;
};

const char *gt_oom_verdict_name(enum gt_oom_verdict v)
{
    switch (v) {
    case GT_OOM_FRAGMENTATION:
        return "fragmentation";
    case GT_OOM_GENUINE:
        return "genuine";
    }
    return "unknown";
}

/* The memory the allocator may hold: the cap, lowered by the memory
 * fraction the way the simulator applies it (0 = unlimited). */
static uint64_t capacity_of(uint64_t cap, double fraction)
{
    uint64_t total, allowed;

    if (!(fraction < 1.0))
        return cap;
    total = cap ? cap : DEFAULT_DEVICE_TOTAL;
    allowed = (uint64_t)(fraction * (double)total);
    return cap && cap < allowed ? cap : allowed;
}

static struct gt_oom_device *device_entry(struct analyze_ctx *c, struct gt_inspect *in,
                                          int32_t device)
{
    struct gt_oom_report *r = c->r;

    for (size_t i = 0; i < r->ndevices; i++)
        if (r->devices[i].device == device)
            return &r->devices[i];
    if (r->ndevices == GT_OOM_MAX_DEVICES)
        return NULL; /* the replay ignores such devices too */
    struct gt_oom_device *d = &r->devices[r->ndevices++];
    d->device = device;
    d->device_memory = gt_inspect_device_memory(in, device);
    const struct gt_scenario_device *sd = gt_scenario_find(c->scn, device);
    if (sd != NULL)
        d->card = *sd;
    d->capacity = capacity_of(d->device_memory, c->conf->memory_fraction);
    return d;
}

static void frames_release(struct gt_oom_alloc *a)
{
    for (size_t i = 0; i < a->nframes; i++) {
        free(a->frames[i].file);
        free(a->frames[i].function);
    }
    a->nframes = 0;
}

/* Larger first; among equals the older allocation, so the order is stable. */
static bool bigger(const struct gt_inspect_alloc *x, const struct gt_oom_alloc *y)
{
    return x->requested != y->size ? x->requested > y->size : x->index < y->event;
}

/* Insertion into the short sorted top list: only GT_OOM_TOP_ALLOCS are
 * kept, so a sort of all live allocations would be wasted. */
static void consider_live(struct analyze_ctx *c, const struct gt_inspect_alloc *a)
{
    struct gt_oom *o = c->cur;
    size_t pos = o->ntop;

    o->live_count++;
    while (pos > 0 && bigger(a, &o->top[pos - 1]))
        pos--;
    if (pos == GT_OOM_TOP_ALLOCS)
        return;
    if (o->ntop < GT_OOM_TOP_ALLOCS)
        o->ntop++;
    memmove(&o->top[pos + 1], &o->top[pos], (o->ntop - 1 - pos) * sizeof o->top[0]);
    struct gt_oom_alloc *t = &o->top[pos];
    memset(t, 0, sizeof *t);
    t->size = a->requested;
    t->block = a->block;
    t->stream = a->stream;
    t->event = a->index;
    t->age_events = c->now_index - a->index;
    t->age_ns = gt_units_sub_i64(c->now_ts, a->ts_ns); /* timestamps come from files */
    t->seq = a->seq;
}

static int copy_frame(struct gt_oom_frame *o, const struct gt_frame *f)
{
    o->file = strdup(f->filename != NULL ? f->filename : "");
    o->function = strdup(f->name != NULL ? f->name : "");
    o->line = f->line;
    return o->file != NULL && o->function != NULL ? 0 : GT_ENOMEM;
}

static void frame_release(struct gt_oom_frame *o)
{
    free(o->file);
    free(o->function);
    o->file = o->function = NULL;
}

/* Frames sorted into their kinds (gt_peak_classify_frame, the order they
 * are kept in), innermost first within each. */
struct frame_pick {
    struct gt_oom_frame kept[GT_PEAK_FRAME_KINDS][GT_OOM_MAX_FRAMES];
    size_t n[GT_PEAK_FRAME_KINDS];
};

/* gt_trace_stack callback: the frame's strings live only during the call,
 * so chosen frames are copied at once. */
static int pick_frame(void *ctx, size_t depth, const struct gt_frame *f)
{
    static const size_t limit[GT_PEAK_FRAME_KINDS] = {GT_OOM_MAX_FRAMES, GT_OOM_MAX_FRAMES,
                                                      OTHER_FRAMES};
    struct frame_pick *p = ctx;
    enum gt_peak_frame_kind k = gt_peak_classify_frame(f->filename);
    (void)depth;

    if (p->n[k] == limit[k])
        return 0;
    /* counted even when the copy failed, so that it is freed */
    return copy_frame(&p->kept[k][p->n[k]++], f);
}

static int attach_frames(struct analyze_ctx *c, struct gt_oom_alloc *a)
{
    struct frame_pick *p = calloc(1, sizeof *p);
    int rc;

    if (p == NULL)
        return GT_ENOMEM;
    rc = gt_trace_stack(c->tr, a->seq, pick_frame, p);
    for (int k = 0; k < GT_PEAK_FRAME_KINDS; k++) {
        for (size_t i = 0; i < p->n[k]; i++) {
            if (rc == 0 && a->nframes < GT_OOM_MAX_FRAMES)
                a->frames[a->nframes++] = p->kept[k][i]; /* the report owns it now */
            else
                frame_release(&p->kept[k][i]);
        }
    }
    free(p);
    if (rc != 0 && rc != GT_ENOMEM)
        snprintf(c->errbuf, c->errlen, "%s", gt_trace_errmsg(c->tr));
    return rc;
}

static void fill_numbers(struct analyze_ctx *c, struct gt_oom *o, const struct gt_oom_device *d,
                         const struct gt_inspect_event *ev)
{
    const struct gt_sim_stats *st = gt_sim_get_stats(ev->sim);
    uint64_t rounded = gt_sim_round_size(c->conf, ev->requested);

    o->event = ev->index;
    o->ts_ns = ev->ts_ns;
    o->device = ev->device;
    o->stream = ev->stream;
    o->recorded = ev->recorded_oom;
    o->recorded_free = ev->recorded_free;
    o->requested = ev->requested;
    /* MIRRORS: the OOM message's "Tried to allocate": alloc_size, the segment
     * get_allocation_size makes for the rounded request, not the tensor. */
    o->tried_to_allocate = gt_sim_allocation_size(c->conf, rounded);
    o->capacity = d != NULL ? d->capacity : 0;
    /* After release-and-retry, as PyTorch formats its message: what the
     * failed malloc released stays released. */
    o->allocated = (uint64_t)st->allocated_bytes[GT_SIM_ALL].current;
    o->reserved = (uint64_t)st->reserved_bytes[GT_SIM_ALL].current;
    o->reserved_unallocated = o->reserved > o->allocated ? o->reserved - o->allocated : 0;
    o->largest_free_block = gt_sim_largest_free_block(ev->sim);
    /* The rounded size, not the bytes asked: the block the allocator must
     * find is round_size(request), as allocated_bytes counts blocks. */
    o->need = o->allocated + rounded;
    if (o->capacity == 0 || o->need <= o->capacity) {
        o->verdict = GT_OOM_FRAGMENTATION;
    } else {
        o->verdict = GT_OOM_GENUINE;
        o->shrink_needed = o->need - o->capacity;
        o->shrink_fraction = (double)o->shrink_needed / (double)o->need;
    }
}

static int on_event(void *ctx, struct gt_inspect *in, const struct gt_inspect_event *ev)
{
    struct analyze_ctx *c = ctx;
    struct gt_oom_report *r = c->r;
    const struct gt_oom_device *d;
    struct gt_oom *o;
    int rc;

    r->last_event = ev->index;
    if (ev->kind == GT_EV_FREE || ev->kind == GT_EV_FREE_REQUESTED ||
        ev->kind == GT_EV_FREE_COMPLETED)
        return 0;
    d = device_entry(c, in, ev->device);
    r->events++;
    if (ev->recorded_oom) {
        r->recorded_ooms++;
        if (ev->result == 0 && r->recorded_served++ == 0)
            r->first_recorded_served = ev->index;
    }
    if (ev->result != GT_EOOM)
        return 0;
    if (r->ooms_total++ >= GT_OOM_MAX_DETAILED)
        return 0;
    o = &r->ooms[r->nooms++];
    memset(o, 0, sizeof *o);
    fill_numbers(c, o, d, ev);
    o->after_first = r->nooms > 1;
    c->cur = o;
    c->now_index = ev->index;
    c->now_ts = ev->ts_ns;
    if ((rc = gt_peak_list_live(in, ev->device, &c->live)) != 0)
        return rc;
    for (size_t i = 0; i < c->live.n; i++)
        consider_live(c, &c->live.v[i]);
    for (size_t i = 0; i < o->ntop; i++) {
        rc = attach_frames(c, &o->top[i]);
        if (rc != 0)
            return rc;
    }
    return gt_peak_group_allocs(c->tr, c->live.v, c->live.n, GT_OOM_TOP_STACKS, &o->stacks,
                                &o->nstacks, &o->nstacks_total);
}

/* A PYTORCH_CUDA_ALLOC_CONF of the recording, when it has one that parses. */
static void recorded_conf(struct gt_trace_reader *tr, struct gt_conf *conf, bool *found)
{
    char text[256];

    *found = false;
    gt_conf_init_default(conf);
    if (gt_trace_meta(tr, "alloc_conf", text, sizeof text) != 0)
        return;
    if (gt_conf_parse(text, conf, NULL, 0) != 0) {
        gt_conf_init_default(conf);
        return;
    }
    *found = true;
}

static int cmp_avoid(const void *x, const void *y)
{
    const struct gt_oom_avoid *a = x, *b = y;

    if (a->device != b->device)
        return a->device < b->device ? -1 : 1;
    if ((a->num_ooms == 0) != (b->num_ooms == 0))
        return a->num_ooms == 0 ? -1 : 1;
    if (a->num_ooms != 0 && a->first_oom_event != b->first_oom_event)
        return a->first_oom_event > b->first_oom_event ? -1 : 1;
    if (a->margin != b->margin)
        return a->margin > b->margin ? -1 : 1;
    return (a->sweep_index > b->sweep_index) - (a->sweep_index < b->sweep_index);
}

/* Replays the default sweep on the same cards to list the configs with no
 * OOM. The analysed config's memory fraction is part of what "the card" is
 * (an OOM under per_process_memory_fraction is an OOM on the allowed
 * memory), so every sweep config keeps it. nocache is left out: it is the
 * zero-fragmentation baseline, a cudaMalloc per tensor, not advice. */
static int replay_sweep(const char *path, const struct gt_scenario *scn, const struct gt_conf *conf,
                        struct gt_analysis **out, char *errbuf, size_t errlen)
{
    struct gt_conf *confs = calloc(SWEEP_CAP + 1, sizeof *confs);
    struct gt_replay_options opts = {0};
    size_t n;
    int rc;

    if (confs == NULL)
        return GT_ENOMEM;
    n = gt_replay_default_sweep(confs, SWEEP_CAP);
    for (size_t i = 0; i < n; i++)
        confs[i].memory_fraction = conf->memory_fraction;
    opts.scenario = scn;
    opts.add_recorded_conf = conf->memory_fraction >= 1.0;
    rc = gt_replay_trace(path, confs, n, &opts, out, errbuf, errlen);
    free(confs);
    return rc;
}

/* The configs of the sweep on the same cards (analyze's own sweep when the
 * caller has it): those with no OOM avoid it. The analysed config's memory
 * fraction is part of what "the card" is (an OOM under
 * per_process_memory_fraction is an OOM on the allowed memory), so a config
 * with one gets a sweep of its own that keeps it. nocache is left out: it is
 * the zero-fragmentation baseline, a cudaMalloc per tensor, not advice. */
static int find_avoiders(const char *path, const struct gt_scenario *scn,
                         const struct gt_conf *conf, const struct gt_analysis *sweep,
                         struct gt_oom_report *r, char *errbuf, size_t errlen)
{
    struct gt_analysis *own = NULL;
    const struct gt_analysis *a = sweep;
    int rc = 0;

    if (a == NULL || conf->memory_fraction < 1.0) {
        rc = replay_sweep(path, scn, conf, &own, errbuf, errlen);
        if (rc != 0)
            return rc;
        a = own;
    }
    r->avoid = calloc(a->ndevices * a->nconfigs + 1, sizeof *r->avoid);
    if (r->avoid == NULL) {
        rc = GT_ENOMEM;
        goto out;
    }
    for (size_t d = 0; d < a->ndevices; d++) {
        uint64_t cap = capacity_of(a->devices[d].device_memory, conf->memory_fraction);
        for (size_t k = 0; k < a->nconfigs; k++) {
            const struct gt_replay_result *res = &a->results[d * a->nconfigs + k];
            struct gt_oom_avoid *v;
            if (cap == 0 || a->configs[res->config_index].no_caching)
                continue;
            v = &r->avoid[r->navoid++];
            v->device = a->devices[d].device;
            snprintf(v->config, sizeof v->config, "%s", a->configs[res->config_index].name);
            v->peak_reserved = res->peak_reserved;
            v->margin = cap > res->peak_reserved ? cap - res->peak_reserved : 0;
            v->sweep_index = res->config_index;
            v->num_ooms = res->num_ooms;
            v->first_oom_event = res->first_oom_event;
        }
    }
    if (r->navoid > 1) /* qsort's base must not be NULL, even for 0 */
        qsort(r->avoid, r->navoid, sizeof *r->avoid, cmp_avoid);
out:
    gt_analysis_free(own);
    return rc;
}

void gt_oom_report_free(struct gt_oom_report *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->nooms; i++) {
        for (size_t j = 0; j < r->ooms[i].ntop; j++)
            frames_release(&r->ooms[i].top[j]);
        free(r->ooms[i].stacks);
    }
    free(r->ooms);
    free(r->avoid);
    free(r);
}

struct gt_oom_pass {
    struct analyze_ctx c;
    struct gt_conf conf; /* the config analysed (c.conf points here) */
    const struct gt_scenario *scn;
    struct gt_scenario *own_scn; /* built when none was given */
    char scratch[8];             /* errbuf when the caller has none */
};

void gt_oom_pass_free(struct gt_oom_pass *p)
{
    if (p == NULL)
        return;
    gt_trace_close(p->c.tr);
    free(p->c.live.v);
    gt_oom_report_free(p->c.r);
    gt_scenario_free(p->own_scn);
    free(p);
}

int gt_oom_begin(const char *path, const struct gt_scenario *scn, const struct gt_conf *conf,
                 struct gt_oom_pass **pass, const struct gt_conf **replay,
                 struct gt_inspect_options *observer, char *errbuf, size_t errlen)
{
    struct gt_oom_pass *p;
    struct gt_oom_report *r;
    int rc;

    *pass = NULL;
    p = calloc(1, sizeof *p);
    if (p == NULL)
        return GT_ENOMEM;
    if (errbuf == NULL || errlen == 0) {
        errbuf = p->scratch; /* the helpers always have somewhere to write */
        errlen = sizeof p->scratch;
    }
    errbuf[0] = '\0';
    if (scn == NULL) {
        rc = gt_scenario_build(path, 0, &p->own_scn, errbuf, errlen);
        if (rc != 0) {
            free(p);
            return rc;
        }
        scn = p->own_scn;
    }
    p->scn = scn;
    rc = gt_trace_open(path, &p->c.tr, errbuf, errlen);
    if (rc != 0) {
        gt_oom_pass_free(p);
        return rc;
    }
    r = calloc(1, sizeof *r);
    if (r != NULL)
        r->ooms = calloc(GT_OOM_MAX_DETAILED, sizeof *r->ooms);
    p->c.r = r;
    if (r == NULL || r->ooms == NULL) {
        gt_oom_pass_free(p);
        return GT_ENOMEM;
    }
    if (conf == NULL)
        recorded_conf(p->c.tr, &p->conf, &r->config_recorded);
    else
        p->conf = *conf;
    conf = &p->conf;
    snprintf(r->config, sizeof r->config, "%s", conf->name[0] ? conf->name : "default");
    r->memory_fraction = conf->memory_fraction;
    r->device_memory = scn->ndevices ? scn->devices[0].memory : 0;
    r->first_recorded_served = -1;
    r->last_event = -1;

    p->c.scn = scn;
    p->c.conf = conf;
    p->c.errbuf = errbuf;
    p->c.errlen = errlen;
    memset(observer, 0, sizeof *observer);
    observer->scenario = scn;
    observer->on_event = on_event;
    observer->ctx = &p->c;
    *replay = conf;
    *pass = p;
    return 0;
}

int gt_oom_end(struct gt_oom_pass *p, int rc, const char *path, const struct gt_analysis *sweep,
               struct gt_oom_report **out, char *errbuf, size_t errlen)
{
    struct gt_oom_report *r = p->c.r;

    *out = NULL;
    if (errbuf == NULL || errlen == 0) {
        errbuf = p->scratch;
        errlen = sizeof p->scratch;
    }
    /* every stack is read: the sweep needs no reader held open */
    gt_trace_close(p->c.tr);
    p->c.tr = NULL;
    if (rc != 0 && errbuf[0] == '\0')
        snprintf(errbuf, errlen, "%s", gt_strerror(rc));
    if (rc == 0 && r->ooms_total > 0)
        rc = find_avoiders(path, p->scn, p->c.conf, sweep, r, errbuf, errlen);
    if (rc == 0) {
        *out = r;
        p->c.r = NULL;
    }
    gt_oom_pass_free(p);
    return rc;
}

int gt_oom_analyze(const char *path, const struct gt_scenario *scn, const struct gt_conf *conf,
                   const struct gt_analysis *sweep, struct gt_oom_report **out, char *errbuf,
                   size_t errlen)
{
    struct gt_oom_pass *p;
    struct gt_inspect_options observer;
    const struct gt_conf *replay;
    char scratch[8];
    int rc;

    *out = NULL;
    if (errbuf == NULL || errlen == 0) {
        errbuf = scratch; /* the helpers always have somewhere to write */
        errlen = sizeof scratch;
    }
    rc = gt_oom_begin(path, scn, conf, &p, &replay, &observer, errbuf, errlen);
    if (rc != 0)
        return rc;
    rc = gt_inspect_run(path, replay, &observer, errbuf, errlen);
    return gt_oom_end(p, rc, path, sweep, out, errbuf, errlen);
}
