/* What is live at the peak (peak.h): two replays through inspect.h, one
 * to find the peak of each device (which `stats` shares with its own:
 * gt_peak_begin), one to stop there and group the live allocations by the
 * call stack of the event that made each. */
#include "gputrace/peak.h"
#include "gputrace/array.h"
#include "gputrace/conf.h"
#include "gputrace/err.h"
#include "gputrace/inspect.h"
#include "gputrace/trace.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gputrace/banned.h"

/* Returned by a callback to stop the second replay once every device has
 * been seen at its peak: not an error. */
#define STOP 1

/* live[i]: the live allocations of device i at its peak (second pass). */
struct pass {
    struct gt_peak_live *p;
    size_t ndone;
    struct gt_peak_allocs live[GT_SCENARIO_MAX_DEVICES];
};

static struct gt_peak_device *device_of(struct gt_peak_live *p, int32_t device)
{
    for (size_t i = 0; i < p->ndevices; i++)
        if (p->devices[i].device == device)
            return &p->devices[i];
    if (p->ndevices == GT_SCENARIO_MAX_DEVICES)
        return NULL;
    struct gt_peak_device *d = &p->devices[p->ndevices++];
    d->device = device;
    d->event = -1;
    return d;
}

/* The peak every command reports, by analyze's rule (gt_sim_watch_peak):
 * the highest reserved memory, and among equal ones the most allocated; the
 * first such request. */
static int find_peak(void *ctx, struct gt_inspect *in, const struct gt_inspect_event *ev)
{
    struct pass *ps = ctx;
    struct gt_peak_device *d = device_of(ps->p, ev->device);

    (void)in;
    if (d == NULL)
        return 0;
    struct gt_sim_watch w = {d->reserved, d->allocated, -1};
    /* the first request is the peak so far even with nothing reserved */
    if (gt_sim_watch_peak(ev->sim, &w) || d->event < 0) {
        d->event = ev->index;
        d->reserved = w.peak_reserved;
        d->allocated = w.allocated_at_peak;
    }
    return 0;
}

/* The list being filled by gt_peak_list_live, and its first failure:
 * gt_inspect_live cannot be stopped, so the rest are dropped. */
struct listing {
    struct gt_peak_allocs *l;
    int rc;
};

static void keep_live(void *ctx, const struct gt_inspect_alloc *a)
{
    struct listing *ls = ctx;
    struct gt_peak_allocs *l = ls->l;

    if (ls->rc != 0)
        return;
    struct gt_inspect_alloc *v = gt_array_grow(l->v, &l->cap, l->n, sizeof *v);
    if (v == NULL) {
        ls->rc = GT_ENOMEM;
        return;
    }
    l->v = v;
    l->v[l->n++] = *a;
}

int gt_peak_list_live(const struct gt_inspect *in, int32_t device, struct gt_peak_allocs *l)
{
    struct listing ls = {l, 0};

    l->n = 0;
    gt_inspect_live(in, device, keep_live, &ls);
    return ls.rc;
}

/* At a device's peak request: its live allocations, grouped later. */
static int at_peak(void *ctx, struct gt_inspect *in, const struct gt_inspect_event *ev)
{
    struct pass *ps = ctx;
    struct gt_peak_device *d = device_of(ps->p, ev->device);

    if (d == NULL || ev->index != d->event)
        return 0;
    struct gt_peak_allocs *live = &ps->live[d - ps->p->devices];
    int rc = gt_peak_list_live(in, ev->device, live);
    if (rc != 0)
        return rc;
    d->allocs = live->n;
    return ++ps->ndone == ps->p->ndevices ? STOP : 0;
}

/* ------------------------------------------------------------ grouping */

/* One read of a stack: its hash, and the first GT_PEAK_FRAMES frames of
 * each kind (gt_peak_classify_frame), innermost first, kept while reading
 * because the frames' strings do not outlive the read and a new group
 * needs them. */
struct stack_walk {
    uint64_t hash;
    struct gt_peak_group kept[GT_PEAK_FRAME_KINDS];
};

static uint64_t mix(uint64_t h, const void *data, size_t n)
{
    const unsigned char *b = data;

    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * UINT64_C(0x100000001b3);
    return h;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

enum gt_peak_frame_kind gt_peak_classify_frame(const char *file)
{
    if (file == NULL || !ends_with(file, ".py"))
        return GT_PEAK_FRAME_OTHER;
    /* lib/python: the standard library, or packages installed beside it */
    if (strstr(file, "/site-packages/") || strstr(file, "/dist-packages/") ||
        strstr(file, "/lib/python"))
        return GT_PEAK_FRAME_LIBRARY;
    return GT_PEAK_FRAME_USER;
}

static void keep_frame(struct gt_peak_group *g, const char *file, const char *name, int64_t line)
{
    size_t k = g->nframes++;

    snprintf(g->frames[k].file, sizeof g->frames[k].file, "%s", file);
    snprintf(g->frames[k].function, sizeof g->frames[k].function, "%s", name);
    g->frames[k].line = line;
}

/* Hashes every frame (the group is the whole stack) and keeps the first
 * frames of each kind, for choose_frames. */
static int take_frame(void *ctx, size_t depth, const struct gt_frame *f)
{
    struct stack_walk *w = ctx;
    const char *file = f->filename != NULL ? f->filename : "",
               *name = f->name != NULL ? f->name : "";
    struct gt_peak_group *to = &w->kept[gt_peak_classify_frame(file)];

    (void)depth;
    w->hash = mix(w->hash, file, strlen(file) + 1);
    w->hash = mix(w->hash, name, strlen(name) + 1);
    w->hash = mix(w->hash, &f->line, sizeof f->line);
    if (to->nframes < GT_PEAK_FRAMES)
        keep_frame(to, file, name, f->line);
    return 0;
}

/* Appends from's frames to g while g has room. */
static void append_frames(struct gt_peak_group *g, const struct gt_peak_group *from)
{
    for (size_t i = 0; i < from->nframes && g->nframes < GT_PEAK_FRAMES; i++)
        g->frames[g->nframes++] = from->frames[i];
}

/* The frames to show, for people: the program's own code first, innermost
 * first, then installed Python's, and the others only when the stack has
 * no Python frame at all: PyTorch's stacks open with its own C++ frames
 * (the unwinder, the allocator), which say nothing of the program (oom's
 * list of allocations orders frames the same way). */
static void choose_frames(const struct stack_walk *w, struct gt_peak_group *g)
{
    append_frames(g, &w->kept[GT_PEAK_FRAME_USER]);
    append_frames(g, &w->kept[GT_PEAK_FRAME_LIBRARY]);
    if (g->nframes == 0)
        append_frames(g, &w->kept[GT_PEAK_FRAME_OTHER]);
}

/* A group per stack: found by hash (open addressing over the groups). */
struct groups {
    struct gt_peak_group *v;
    uint64_t *hash;
    size_t n, cap; /* cap: a power of two above 2 n */
    size_t *slot;  /* index + 1 into v; 0 empty */
};

static struct gt_peak_group *group_for(struct groups *gs, uint64_t hash, bool *fresh)
{
    size_t mask = gs->cap - 1, s = (size_t)(hash ^ hash >> 29) & mask;

    for (; gs->slot[s] != 0; s = (s + 1) & mask)
        if (gs->hash[gs->slot[s] - 1] == hash) {
            *fresh = false;
            return &gs->v[gs->slot[s] - 1];
        }
    gs->slot[s] = gs->n + 1;
    gs->hash[gs->n] = hash;
    *fresh = true;
    memset(&gs->v[gs->n], 0, sizeof gs->v[0]);
    return &gs->v[gs->n++];
}

static int by_blocks(const void *pa, const void *pb)
{
    const struct gt_peak_group *a = pa, *b = pb;

    if (a->blocks != b->blocks)
        return a->blocks < b->blocks ? 1 : -1;
    return (a->count < b->count) - (a->count > b->count);
}

int gt_peak_group_allocs(struct gt_trace_reader *r, const struct gt_inspect_alloc *live, size_t n,
                         size_t top, struct gt_peak_group **groups, size_t *ngroups, size_t *ntotal)
{
    size_t cap = 16;
    int rc = 0;

    while (cap < 2 * n + 2)
        cap *= 2;
    struct groups gs = {calloc(n + 1, sizeof *gs.v), calloc(n + 1, sizeof *gs.hash), 0, cap,
                        calloc(cap, sizeof *gs.slot)};
    if (gs.v == NULL || gs.hash == NULL || gs.slot == NULL)
        rc = GT_ENOMEM;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const struct gt_inspect_alloc *a = &live[i];
        struct stack_walk w = {.hash = UINT64_C(0xcbf29ce484222325)};
        enum gt_peak_origin origin = a->index < 0 ? GT_PEAK_START : GT_PEAK_NO_FRAMES;
        bool fresh;
        if (origin != GT_PEAK_START && (rc = gt_trace_stack(r, a->seq, take_frame, &w)) != 0)
            break;
        if (w.hash != UINT64_C(0xcbf29ce484222325))
            origin = GT_PEAK_STACK;
        w.hash = mix(w.hash, &origin, sizeof origin);
        struct gt_peak_group *g = group_for(&gs, w.hash, &fresh);
        if (fresh) {
            g->origin = origin;
            if (origin == GT_PEAK_STACK)
                choose_frames(&w, g);
        }
        g->count++;
        g->requested += a->requested;
        g->blocks += a->block;
    }
    free(gs.hash);
    free(gs.slot);
    if (rc != 0) {
        free(gs.v);
        return rc;
    }
    if (gs.n > 1)
        qsort(gs.v, gs.n, sizeof *gs.v, by_blocks);
    *ntotal = gs.n;
    *ngroups = top > 0 && top < gs.n ? top : gs.n;
    *groups = gs.v;
    return 0;
}

/* ------------------------------------------------------------ entry */

struct gt_peak_pass {
    struct pass ps;
    struct gt_conf conf;
    const struct gt_scenario *scn;
    size_t top;
};

void gt_peak_pass_free(struct gt_peak_pass *pp)
{
    if (pp == NULL)
        return;
    for (size_t i = 0; i < GT_SCENARIO_MAX_DEVICES; i++)
        free(pp->ps.live[i].v);
    gt_peak_live_free(pp->ps.p);
    free(pp);
}

int gt_peak_begin(const struct gt_scenario *scn, const char *config, size_t top,
                  struct gt_peak_pass **pass, const struct gt_conf **replay,
                  struct gt_inspect_options *observer, char *errbuf, size_t errlen)
{
    struct gt_peak_pass *pp = calloc(1, sizeof *pp);
    int rc;

    *pass = NULL;
    if (pp == NULL)
        return GT_ENOMEM;
    pp->ps.p = calloc(1, sizeof *pp->ps.p);
    if (pp->ps.p == NULL) {
        gt_peak_pass_free(pp);
        return GT_ENOMEM;
    }
    snprintf(pp->ps.p->config, sizeof pp->ps.p->config, "%s", config);
    rc = gt_conf_parse(config, &pp->conf, errbuf, errlen);
    if (rc != 0) {
        gt_peak_pass_free(pp);
        return rc;
    }
    pp->scn = scn;
    pp->top = top;
    *observer = (struct gt_inspect_options){.scenario = scn, .on_event = find_peak, .ctx = &pp->ps};
    *replay = &pp->conf;
    *pass = pp;
    return 0;
}

int gt_peak_end(struct gt_peak_pass *pp, int rc, const char *path, struct gt_peak_live **out,
                char *errbuf, size_t errlen)
{
    struct gt_peak_live *p = pp->ps.p;
    struct gt_inspect_options o = {.scenario = pp->scn, .on_event = at_peak, .ctx = &pp->ps};
    struct gt_trace_reader *r = NULL;

    *out = NULL;
    if (rc == 0 && p->ndevices > 0) {
        rc = gt_inspect_run(path, &pp->conf, &o, errbuf, errlen);
        if (rc == STOP)
            rc = 0;
    }
    if (rc == 0)
        rc = gt_trace_open(path, &r, errbuf, errlen);
    for (size_t i = 0; rc == 0 && i < p->ndevices; i++)
        rc = gt_peak_group_allocs(r, pp->ps.live[i].v, pp->ps.live[i].n, pp->top,
                                  &p->devices[i].groups, &p->devices[i].ngroups,
                                  &p->devices[i].ngroups_total);
    gt_trace_close(r);
    if (rc == 0) {
        *out = p;
        pp->ps.p = NULL;
    }
    gt_peak_pass_free(pp);
    return rc;
}

int gt_peak_live_compute(const char *path, const struct gt_scenario *scn, const char *config,
                         size_t top, struct gt_peak_live **out, char *errbuf, size_t errlen)
{
    struct gt_peak_pass *pp;
    struct gt_inspect_options o;
    const struct gt_conf *conf;
    int rc;

    *out = NULL;
    rc = gt_peak_begin(scn, config, top, &pp, &conf, &o, errbuf, errlen);
    if (rc != 0)
        return rc;
    rc = gt_inspect_run(path, conf, &o, errbuf, errlen);
    return gt_peak_end(pp, rc, path, out, errbuf, errlen);
}

void gt_peak_live_free(struct gt_peak_live *p)
{
    if (p == NULL)
        return;
    for (size_t i = 0; i < p->ndevices; i++)
        free(p->devices[i].groups);
    free(p);
}
