/* Growth across iterations (growth.h): the period of the allocation
 * requests, the memory at each iteration boundary, and what the later
 * iterations kept. */
#include "gputrace/growth.h"
#include "gputrace/addr_map.h"
#include "gputrace/conf.h"
#include "gputrace/err.h"
#include "gputrace/inspect.h"
#include "gputrace/trace.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "gputrace/banned.h"

#define MAX_CANDIDATES 64
#define LEAK_MIN_BYTES ((uint64_t)1 << 20)

/* The allocation requests of one device as the first replay saw them. */
struct requests {
    uint64_t *tok;       /* the size asked: the request's token */
    int64_t *event;      /* its event index */
    uint64_t *allocated; /* allocated bytes just before it */
    size_t n, cap;
    uint64_t last_allocated; /* after the device's previous request */
};

struct pass {
    const struct gt_scenario *scn;
    struct gt_growth *g;
    struct requests req[GT_SCENARIO_MAX_DEVICES];
    /* second replay: the live allocations at a last boundary */
    struct gt_peak_allocs live;
    struct gt_trace_reader *r; /* frames of the kept allocations */
    size_t top;
};

/* The position of device among the scenario's devices, or SIZE_MAX. */
static size_t device_index(const struct gt_scenario *scn, int32_t device)
{
    const struct gt_scenario_device *d = gt_scenario_find(scn, device);
    return d != NULL ? (size_t)(d - scn->devices) : SIZE_MAX;
}

static int push_request(struct requests *q, uint64_t tok, int64_t event)
{
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 1024;
        uint64_t *t = realloc(q->tok, cap * sizeof *t);
        if (t != NULL)
            q->tok = t;
        int64_t *e = realloc(q->event, cap * sizeof *e);
        if (e != NULL)
            q->event = e;
        uint64_t *a = realloc(q->allocated, cap * sizeof *a);
        if (a != NULL)
            q->allocated = a;
        if (t == NULL || e == NULL || a == NULL)
            return GT_ENOMEM;
        q->cap = cap;
    }
    q->tok[q->n] = tok;
    q->event[q->n] = event;
    q->allocated[q->n] = q->last_allocated;
    q->n++;
    return 0;
}

static int record_request(void *ctx, struct gt_inspect *in, const struct gt_inspect_event *ev)
{
    struct pass *p = ctx;
    size_t d = device_index(p->scn, ev->device);
    (void)in;
    if (d == SIZE_MAX)
        return 0;
    struct requests *q = &p->req[d];
    int rc = 0;
    bool served = ev->kind == GT_EV_ALLOC && ev->result == 0 && !ev->recorded_oom;
    if (served && q->n < GT_GROWTH_MAX_ALLOCS)
        rc = push_request(q, ev->requested, ev->index);
    else if (served)
        p->g->devices[d].truncated = true;
    q->last_allocated = (uint64_t)gt_sim_get_stats(ev->sim)->allocated_bytes[GT_SIM_ALL].current;
    return rc;
}

/* ------------------------------------------------------------ the period */

struct gap_count {
    size_t gap;
    int64_t count;
};

/* More frequent first; among equals, the smaller gap. */
static int by_count(const void *a, const void *b)
{
    const struct gap_count *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return x->gap < y->gap ? -1 : x->gap > y->gap;
}

/* Candidate periods: the gaps between consecutive requests of one size
 * that recur most often (a request made once per iteration recurs every
 * period). The maps are address maps with sizes and gaps as keys. */
static int candidates(const struct requests *q, size_t *out, size_t *nout)
{
    struct gt_addr_map last, hist; /* size -> int64_t; gap -> struct gap_count */
    int rc = gt_addr_map_init(&last, sizeof(int64_t), 1024);
    if (rc == 0 && (rc = gt_addr_map_init(&hist, sizeof(struct gap_count), 1024)) != 0)
        gt_addr_map_release(&last);
    if (rc)
        return rc;
    for (size_t i = 0; i < q->n && rc == 0; i++) {
        int64_t *prev = gt_addr_map_put(&last, 0, q->tok[i], NULL);
        if (prev == NULL) {
            rc = GT_ENOMEM;
            break;
        }
        /* the previous position + 1 (0: none yet) */
        size_t gap = *prev > 0 ? i - (size_t)(*prev - 1) : 0;
        *prev = (int64_t)i + 1;
        if (gap == 0 || gap > q->n / 3)
            continue;
        struct gap_count *h = gt_addr_map_put(&hist, 0, gap, NULL);
        if (h == NULL) {
            rc = GT_ENOMEM;
        } else {
            h->gap = gap;
            h->count++;
        }
    }
    *nout = 0;
    /* the MAX_CANDIDATES most frequent gaps that recur: hist holds up to
     * one entry per request, so it is sorted once, not scanned per pick */
    struct gap_count *g = rc == 0 ? malloc((hist.n ? hist.n : 1) * sizeof *g) : NULL;
    size_t ng = 0, pos = 0;
    if (rc == 0 && g == NULL)
        rc = GT_ENOMEM;
    for (const struct gap_count *h; g != NULL && (h = gt_addr_map_next(&hist, &pos)) != NULL;)
        if (h->count >= 2)
            g[ng++] = *h;
    if (ng > 1)
        qsort(g, ng, sizeof *g, by_count);
    for (size_t k = 0; k < ng && k < MAX_CANDIDATES; k++)
        out[(*nout)++] = g[k].gap;
    free(g);
    gt_addr_map_release(&last);
    gt_addr_map_release(&hist);
    return rc;
}

static double match_of(const struct requests *q, size_t period)
{
    size_t same = 0, n = q->n - period;
    for (size_t i = 0; i < n; i++)
        same += q->tok[i] == q->tok[i + period];
    return n ? (double)same / (double)n : 0;
}

/* The first request from which a whole period repeats one period later. */
static size_t repeating_start(const struct requests *q, size_t period)
{
    size_t need = (size_t)(GT_GROWTH_MATCH * (double)period), same = 0;
    for (size_t i = 0; i + period < q->n; i++) {
        same += q->tok[i] == q->tok[i + period];
        if (i >= period)
            same -= q->tok[i - period] == q->tok[i];
        if (i + 1 >= period && same >= need)
            return i + 1 - period;
    }
    return 0;
}

static int find_period(const struct requests *q, struct gt_growth_device *d)
{
    size_t cand[MAX_CANDIDATES], n = 0;
    double match[MAX_CANDIDATES], best = 0;
    int rc = candidates(q, cand, &n);
    if (rc)
        return rc;
    for (size_t k = 0; k < n; k++) {
        match[k] = match_of(q, cand[k]);
        best = match[k] > best ? match[k] : best;
    }
    /* the smallest period close to the best: one step, not two */
    for (size_t k = 0; k < n; k++)
        if (match[k] >= GT_GROWTH_MATCH && match[k] >= best - 0.02 &&
            (d->period == 0 || cand[k] < d->period)) {
            d->period = cand[k];
            d->match = match[k];
        }
    return 0;
}

static void growth_of(struct gt_growth_device *d)
{
    /* from the second boundary on: the first step allocates what a run keeps */
    size_t n = d->iterations > 1 ? d->iterations - 1 : 0;
    const uint64_t *v = d->allocated + 1;
    if (n < 3)
        return;
    double sx = 0, sy = 0, sxx = 0, sxy = 0;
    bool never_shrinks = true;
    for (size_t i = 0; i < n; i++) {
        double x = (double)i, y = (double)v[i];
        sx += x, sy += y, sxx += x * x, sxy += x * y;
        if (i > 0 && v[i] < v[i - 1])
            never_shrinks = false;
    }
    double den = (double)n * sxx - sx * sx;
    d->growth_per_iteration = den != 0 ? ((double)n * sxy - sx * sy) / den : 0;
    uint64_t grew = v[n - 1] > v[0] ? v[n - 1] - v[0] : 0;
    d->leak = never_shrinks && grew > LEAK_MIN_BYTES && grew > v[0] / 100;
}

static int find_iterations(const struct requests *q, struct gt_growth_device *d)
{
    d->allocs = q->n;
    if (q->n < 6)
        return 0;
    int rc = find_period(q, d);
    if (rc || d->period == 0)
        return rc;
    size_t start = repeating_start(q, d->period), phase = start;
    for (size_t j = start; j < start + d->period && j < q->n; j++)
        if (q->allocated[j] < q->allocated[phase])
            phase = j;
    size_t count = (q->n - phase + d->period - 1) / d->period;
    d->boundary = malloc(count * sizeof *d->boundary);
    d->allocated = malloc(count * sizeof *d->allocated);
    if (d->boundary == NULL || d->allocated == NULL)
        return GT_ENOMEM;
    for (size_t k = 0, j = phase; j < q->n; k++, j += d->period) {
        d->boundary[k] = q->event[j];
        d->allocated[k] = q->allocated[j];
        d->iterations = k + 1;
    }
    d->found = d->iterations >= 3;
    growth_of(d);
    return 0;
}

/* ------------------------------------------------------------ what is kept */

/* At each device's last boundary: the allocations made since the second
 * that are still live, grouped by stack. */
static int at_last_boundary(void *ctx, struct gt_inspect *in, const struct gt_inspect_event *ev)
{
    struct pass *p = ctx;
    size_t d = device_index(p->scn, ev->device);
    if (d == SIZE_MAX)
        return 0;
    struct gt_growth_device *g = &p->g->devices[d];
    if (!g->found || ev->index != g->boundary[g->iterations - 1])
        return 0;
    int rc = gt_peak_list_live(in, ev->device, &p->live);
    if (rc)
        return rc;
    /* kept: made from the second boundary on, before the last */
    size_t n = 0;
    for (size_t i = 0; i < p->live.n; i++) {
        const struct gt_inspect_alloc *a = &p->live.v[i];
        if (a->index < g->boundary[1] || a->index >= g->boundary[g->iterations - 1])
            continue;
        p->live.v[n++] = *a;
        g->kept_bytes += a->block;
    }
    g->kept_allocs = n;
    return gt_peak_group_allocs(p->r, p->live.v, n, p->top, &g->groups, &g->ngroups,
                                &g->ngroups_total);
}

static int group_kept(const char *path, struct pass *p, const struct gt_conf *conf, char *errbuf,
                      size_t errlen)
{
    bool any = false;
    for (size_t d = 0; d < p->g->ndevices; d++)
        any = any || p->g->devices[d].found;
    if (!any)
        return 0;
    struct gt_inspect_options o = {.scenario = p->scn, .on_event = at_last_boundary, .ctx = p};
    int rc = gt_trace_open(path, &p->r, errbuf, errlen);
    if (rc == 0)
        rc = gt_inspect_run(path, conf, &o, errbuf, errlen);
    if (rc && errbuf[0] == '\0' && p->r != NULL)
        snprintf(errbuf, errlen, "%s", gt_trace_errmsg(p->r));
    gt_trace_close(p->r);
    return rc;
}

struct gt_growth_pass {
    struct pass p;
    struct gt_conf conf;
};

static void requests_release(struct pass *p)
{
    for (size_t d = 0; d < GT_SCENARIO_MAX_DEVICES; d++) {
        free(p->req[d].tok);
        free(p->req[d].event);
        free(p->req[d].allocated);
        p->req[d] = (struct requests){0};
    }
}

void gt_growth_pass_free(struct gt_growth_pass *gp)
{
    if (gp == NULL)
        return;
    requests_release(&gp->p);
    free(gp->p.live.v);
    gt_growth_free(gp->p.g);
    free(gp);
}

int gt_growth_begin(const struct gt_scenario *scn, const char *config, size_t top,
                    struct gt_growth_pass **pass, const struct gt_conf **replay,
                    struct gt_inspect_options *observer, char *errbuf, size_t errlen)
{
    struct gt_growth_pass *gp = calloc(1, sizeof *gp);
    struct gt_growth *g;
    int rc;

    *pass = NULL;
    if (gp == NULL)
        return GT_ENOMEM;
    g = calloc(1, sizeof *g);
    if (g == NULL) {
        free(gp);
        return GT_ENOMEM;
    }
    gp->p = (struct pass){.scn = scn, .g = g, .top = top};
    snprintf(g->config, sizeof g->config, "%s", config);
    g->ndevices = scn->ndevices;
    for (size_t d = 0; d < scn->ndevices; d++) {
        g->devices[d].device = scn->devices[d].device;
        gp->p.req[d].last_allocated = scn->devices[d].start_allocated;
    }
    rc = gt_conf_parse(config, &gp->conf, errbuf, errlen);
    if (rc != 0) {
        gt_growth_pass_free(gp);
        return rc;
    }
    *observer =
        (struct gt_inspect_options){.scenario = scn, .on_event = record_request, .ctx = &gp->p};
    *replay = &gp->conf;
    *pass = gp;
    return 0;
}

int gt_growth_end(struct gt_growth_pass *gp, int rc, const char *path, struct gt_growth **out,
                  char *errbuf, size_t errlen)
{
    struct pass *p = &gp->p;

    *out = NULL;
    for (size_t d = 0; rc == 0 && d < p->scn->ndevices; d++)
        rc = find_iterations(&p->req[d], &p->g->devices[d]);
    requests_release(p);
    if (rc == 0)
        rc = group_kept(path, p, &gp->conf, errbuf, errlen);
    if (rc == 0) {
        *out = p->g;
        p->g = NULL;
    }
    gt_growth_pass_free(gp);
    return rc;
}

int gt_growth_compute(const char *path, const struct gt_scenario *scn, const char *config,
                      size_t top, struct gt_growth **out, char *errbuf, size_t errlen)
{
    struct gt_growth_pass *gp;
    struct gt_inspect_options o;
    const struct gt_conf *conf;
    int rc;

    *out = NULL;
    rc = gt_growth_begin(scn, config, top, &gp, &conf, &o, errbuf, errlen);
    if (rc != 0)
        return rc;
    rc = gt_inspect_run(path, conf, &o, errbuf, errlen);
    return gt_growth_end(gp, rc, path, out, errbuf, errlen);
}

void gt_growth_free(struct gt_growth *g)
{
    if (g == NULL)
        return;
    for (size_t i = 0; i < g->ndevices; i++) {
        free(g->devices[i].boundary);
        free(g->devices[i].allocated);
        free(g->devices[i].groups);
    }
    free(g);
}
