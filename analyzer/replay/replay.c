/* Replay of a trace under many allocator configs at once.
 *
 * One thread reads the trace and decodes each event into a compact operation:
 * addresses become dense allocation slots (so no simulator hashes addresses),
 * events that do not add up are counted once, recorded OOMs become allocation
 * probes. Worker threads each own some configs and feed every batch to their
 * simulators; with a budget of one thread, the reading thread is the one
 * worker and runs each batch as it fills it. The trace is read once
 * whatever the number of configs, and memory stays bounded by the batches
 * in flight plus the live allocations. */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#include <pthread.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gputrace/addr_map.h"
#include "gputrace/array.h"
#include "gputrace/err.h"
#include "gputrace/replay.h"
#include "gputrace/schema.h"
#include "gputrace/trace.h"
#include "gputrace/units.h"
#include "gputrace/banned.h"

/* Ops a batch of the workers holds. Each config of a worker runs through
 * the whole batch before the next (run_batch), so a batch is read once per
 * config: 4096 ops (128 KiB) stay in the core's cache from one config to
 * the next, where 16384 did not: the 12-config sweep on one worker took
 * 0.90-1.00 cpu-s against 1.02-1.11 on 2 M events (5 alternating runs). */
#define BATCH_OPS 4096
/* Ops a batch holds when every worker runs one config on a thread of its
 * own: no later config reads it again, so nothing is gained by keeping it
 * in the core's cache, while each batch costs a hand-over (a futex wake
 * and two context switches: 8% of one config's CPU time with 4096, perf). */
#define BATCH_OPS_ONE_CONFIG 65536
#define NBATCH 4
#define READ_EVENTS 4096
#define NO_SLOT UINT32_MAX

/* The decoded requests are the simulator's ops (struct gt_sim_op), so that
 * a batch goes to each config's simulator in one gt_sim_run. */
struct batch {
    struct gt_sim_op *ops;
    size_t n;
    /* the largest request of its allocs and probes (0: none): a config that
     * shares another's simulator parts from it before a batch that may
     * reach its max_split_size (part_followers) */
    uint64_t max_request;
    /* the decoder's slots in use when it was published: every slot of its
     * ops, and of the start state, is below */
    uint32_t slot_end;
    int pending; /* workers that have not finished this batch */
};

/* ------------------------------------------------------ address → slot */

/* UNSEEN: no alloc or free of the address decoded before (the map's put for
 * the event at hand added it). PENDING: freed while other streams used it;
 * the slot is kept until its free completes. */
enum { ENTRY_UNSEEN = 0, ENTRY_LIVE, ENTRY_FREED, ENTRY_PENDING };

/* The payload of the decoder's address map (addr_map.h), keyed by (dense
 * device index, address). Freed addresses stay (state FREED) so a second
 * free of them is told apart from a free of an unknown address; real
 * allocators reuse addresses, so the map grows with distinct addresses, not
 * with events. */
struct addr_entry {
    uint32_t slot;
    uint8_t state;
};

/* ---------------------------------------------------------- the decoder */

struct decoder {
    struct gt_addr_map map; /* struct addr_entry */
    uint32_t *free_slots;
    size_t nfree, capfree;
    uint32_t next_slot;
    uint64_t max_request; /* of the batch being filled */
    int32_t dev_ordinal[GT_REPLAY_MAX_DEVICES];
    size_t ndev;
};

static int slot_take(struct decoder *d, uint32_t *slot)
{
    if (d->nfree) {
        *slot = d->free_slots[--d->nfree];
        return 0;
    }
    if (d->next_slot == NO_SLOT)
        return GT_ENOMEM;
    *slot = d->next_slot++;
    return 0;
}

static int slot_give(struct decoder *d, uint32_t slot)
{
    if (d->nfree == d->capfree) { /* tested here: this runs for every free */
        uint32_t *v = gt_array_grow(d->free_slots, &d->capfree, d->nfree, sizeof *v);
        if (v == NULL)
            return GT_ENOMEM;
        d->free_slots = v;
    }
    d->free_slots[d->nfree++] = slot;
    return 0;
}

/* The dense index of a device ordinal: its place among the scenario's
 * devices; -1 for a device past the first GT_REPLAY_MAX_DEVICES. */
static int dev_index(const struct decoder *d, int32_t ordinal)
{
    for (size_t i = 0; i < d->ndev; i++)
        if (d->dev_ordinal[i] == ordinal)
            return (int)i;
    return -1;
}

/* Takes the scenario's devices in its order, and gives every live block of
 * the start state a slot, so that the trace's frees of memory allocated
 * before the first event find it. init_slot has one entry per block. */
static int register_start(struct decoder *d, const struct gt_scenario *scn, uint32_t *init_slot)
{
    if (gt_addr_map_init(&d->map, sizeof(struct addr_entry), 4096))
        return GT_ENOMEM;
    for (size_t i = 0; i < scn->ndevices; i++)
        d->dev_ordinal[d->ndev++] = scn->devices[i].device;
    for (size_t k = 0; k < scn->nblocks; k++) {
        const struct gt_initial_block *b = &scn->blocks[k];
        int dev = dev_index(d, b->device);
        init_slot[k] = NO_SLOT;
        if (dev < 0 || !b->allocated)
            continue;
        struct addr_entry *e = gt_addr_map_put(&d->map, dev, gt_initial_block_key(b), NULL);
        if (e == NULL)
            return GT_ENOMEM;
        if (e->state == ENTRY_LIVE || e->state == ENTRY_PENDING)
            continue; /* a damaged start state: the first block keeps the address */
        if (slot_take(d, &init_slot[k]))
            return GT_ENOMEM;
        /* a free requested before the trace: its free_completed returns it */
        e->state = b->pending ? ENTRY_PENDING : ENTRY_LIVE;
        e->slot = init_slot[k];
    }
    return 0;
}

/* The ops of a free of the address whose entry is e (its live block's
 * FREE); o carries the event's stream, index and device. */
static inline int free_op(struct decoder *d, struct addr_entry *e, struct gt_sim_op o,
                          struct gt_replay_warnings *w, struct gt_sim_op *restrict out, size_t *n)
{
    if (e->state != ENTRY_LIVE) {
        if (e->state == ENTRY_FREED)
            w->double_free++;
        else
            w->unknown_free++;
        e->state = e->state == ENTRY_UNSEEN ? ENTRY_FREED : e->state;
        return 0;
    }
    o.kind = GT_SIM_OP_FREE;
    o.slot = e->slot;
    e->state = ENTRY_FREED;
    out[(*n)++] = o;
    return slot_give(d, o.slot);
}

/* The ops of a served allocation of asked bytes at the address whose
 * entry is e. */
static inline int alloc_op(struct decoder *d, struct addr_entry *e, struct gt_sim_op o,
                           uint64_t asked, struct gt_replay_warnings *w,
                           struct gt_sim_op *restrict out, size_t *n)
{
    if (e->state == ENTRY_LIVE || e->state == ENTRY_PENDING) {
        /* The recorder missed a free (or its completion): the real
         * allocator must have released this address before handing it out
         * again. */
        w->alloc_of_live++;
        struct gt_sim_op f = o;
        f.kind = e->state == ENTRY_LIVE ? GT_SIM_OP_FREE : GT_SIM_OP_FREE_COMPLETED;
        f.slot = e->slot;
        out[(*n)++] = f;
        if (slot_give(d, e->slot))
            return GT_ENOMEM;
    }
    o.kind = GT_SIM_OP_ALLOC;
    o.size = asked;
    d->max_request = asked > d->max_request ? asked : d->max_request;
    if (slot_take(d, &o.slot))
        return GT_ENOMEM;
    e->state = ENTRY_LIVE;
    e->slot = o.slot;
    out[(*n)++] = o;
    return 0;
}

/* The op of event number index, its kind, slot and size still to set;
 * false, counted, for a device past the first GT_REPLAY_MAX_DEVICES. */
static inline bool op_of(const struct decoder *d, const struct gt_event *ev, int64_t index,
                         struct gt_replay_warnings *w, struct gt_sim_op *o)
{
    int dev = dev_index(d, ev->device);
    if (dev < 0) {
        w->too_many_devices++;
        return false;
    }
    *o = (struct gt_sim_op){0, ev->stream, index, NO_SLOT, 0, (uint8_t)dev};
    return true;
}

/* decode_event for every kind but a served alloc and a free: the recorded
 * OOMs and refused allocs, empty_cache and the deferred frees, and the
 * kinds replay passes over. */
static __attribute__((noinline)) int decode_rare_event(struct decoder *d, const struct gt_event *ev,
                                                       int64_t index, struct gt_replay_warnings *w,
                                                       struct gt_sim_op *out, size_t *n)
{
    struct gt_sim_op o;
    if (ev->kind != GT_EV_ALLOC && ev->kind != GT_EV_OOM && ev->kind != GT_EV_EMPTY_CACHE &&
        ev->kind != GT_EV_FREE_REQUESTED && ev->kind != GT_EV_FREE_COMPLETED)
        return 0;
    if (!op_of(d, ev, index, w, &o))
        return 0;
    uint64_t asked = gt_event_asked(ev);
    if (ev->kind == GT_EV_EMPTY_CACHE) {
        o.kind = GT_SIM_OP_EMPTY_CACHE;
        out[(*n)++] = o;
        return 0;
    }
    /* A recorded OOM, or an allocation the driver refused (every alloc that
     * comes here), is a request the program made and did not get: each
     * config is asked whether it would have served it. */
    if (gt_event_failed_request(ev)) {
        o.kind = GT_SIM_OP_PROBE;
        o.size = asked;
        d->max_request = asked > d->max_request ? asked : d->max_request;
        out[(*n)++] = o;
        return 0;
    }
    struct addr_entry *e = gt_addr_map_put(&d->map, o.dev, ev->addr, NULL);
    if (e == NULL)
        return GT_ENOMEM;
    if (ev->kind == GT_EV_FREE_COMPLETED) {
        if (e->state != ENTRY_PENDING)
            return 0; /* pending before the trace, or damage: nothing to return */
        o.kind = GT_SIM_OP_FREE_COMPLETED;
        o.slot = e->slot;
        e->state = ENTRY_FREED;
        out[(*n)++] = o;
        return slot_give(d, o.slot);
    }
    if (ev->kind == GT_EV_FREE_REQUESTED && e->state == ENTRY_LIVE) {
        o.kind = GT_SIM_OP_FREE_REQUESTED;
        o.slot = e->slot;
        e->state = ENTRY_PENDING;
        out[(*n)++] = o;
        return 0;
    }
    /* a deferred free of a block that is not live: as a free of it */
    return free_op(d, e, o, w, out, n);
}

/* Appends the ops for one event; returns 0 or GT_ENOMEM. A served alloc
 * and a free, nearly every event, take the short way: no test of the kinds
 * they are not (20 instructions an event, callgrind). */
static inline int decode_event(struct decoder *d, const struct gt_event *ev, int64_t index,
                               struct gt_replay_warnings *w, struct gt_sim_op *restrict out,
                               size_t *n)
{
    bool alloc = ev->kind == GT_EV_ALLOC && ev->result == 0;
    if (!alloc && ev->kind != GT_EV_FREE)
        return decode_rare_event(d, ev, index, w, out, n);
    struct gt_sim_op o;
    if (!op_of(d, ev, index, w, &o))
        return 0;
    struct addr_entry *e = gt_addr_map_put(&d->map, o.dev, ev->addr, NULL);
    if (e == NULL)
        return GT_ENOMEM;
    if (alloc)
        return alloc_op(d, e, o, gt_event_asked(ev), w, out, n);
    return free_op(d, e, o, w, out, n);
}

static void decoder_release(struct decoder *d)
{
    gt_addr_map_release(&d->map);
    free(d->free_slots);
}

/* ------------------------------------------------------------- workers */

/* What a worker keeps per (config, device). */
struct track {
    struct gt_sim *sim;
    struct gt_sim_watch watch; /* its peak and first OOM so far */
};

struct shared;

struct worker {
    struct shared *sh;
    pthread_t thread;
    size_t *configs, nconfigs; /* the configs this worker runs, in order */
    gt_sim_handle *slots;      /* per config: slot -> handle, cap entries each */
    size_t cap;
    int err;
    bool ended; /* under stop_at_first_oom: every run of its configs ended */
};

struct shared {
    pthread_mutex_t mu;
    pthread_cond_t ready, drained;
    struct batch batches[NBATCH];
    size_t batch_ops; /* the ops a batch holds: BATCH_OPS or BATCH_OPS_ONE_CONFIG */
    int64_t produced; /* batches published so far */
    bool done;
    int nworkers;
    bool stop_at_first_oom; /* gt_replay_options' */
    bool all_stats;         /* gt_replay_options' */
    int nended;             /* workers whose runs all ended */
    struct gt_analysis *a;
    struct track *tracks; /* [config * GT_REPLAY_MAX_DEVICES + dev] */
    const struct gt_scenario *scn;
    const uint64_t *caps; /* [config * ndevices + dev] or NULL */
    /* per config: the config it may share simulators with (choose_leaders:
     * may_follow), or its own index; leader: the one whose simulators it
     * does share, its own index when it runs its own (none shared, or
     * parted: part_followers) */
    size_t *alike, *leader;
    uint64_t max_request; /* of the whole trace, once read */
    /* the slot of each live block of the start state (scn->blocks order),
     * NO_SLOT for free blocks; they take the decoder's first slots */
    uint32_t *init_slot;
    /* With a budget of one thread (replay_reader), the one worker, whose
     * batches the reading thread runs itself as it publishes them; NULL
     * when every worker has a thread of its own. */
    struct worker *inline_worker;
};

static struct track *track_of(const struct shared *sh, size_t c, uint8_t dev)
{
    return &sh->tracks[c * GT_REPLAY_MAX_DEVICES + dev];
}

static int ensure_slots(struct worker *w, uint32_t slot)
{
    if (slot < w->cap)
        return 0;
    size_t ncfg = w->sh->a->nconfigs;
    size_t cap = w->cap ? w->cap : 4096;
    while (cap <= slot)
        cap *= 2;
    gt_sim_handle *v = malloc(ncfg * cap * sizeof *v);
    if (v == NULL)
        return GT_ENOMEM;
    for (size_t c = 0; c < ncfg; c++) {
        if (w->cap)
            memcpy(&v[c * cap], &w->slots[c * w->cap], w->cap * sizeof *v);
        for (size_t k = w->cap; k < cap; k++)
            v[c * cap + k] = GT_SIM_NO_HANDLE;
    }
    free(w->slots);
    w->slots = v;
    w->cap = cap;
    return 0;
}

struct start_ctx {
    const struct shared *sh;
    gt_sim_handle *slots;
};

static void start_live(void *ctx, const struct gt_initial_block *b, gt_sim_handle h)
{
    struct start_ctx *sc = ctx;
    uint32_t slot = sc->sh->init_slot[b - sc->sh->scn->blocks];
    if (slot != NO_SLOT)
        sc->slots[slot] = h;
}

/* The simulator of config c on device dev, created on the device's first
 * request with the card and the start state of the scenario. */
static int track_sim(struct shared *sh, struct track *t, size_t c, uint8_t dev,
                     gt_sim_handle *slots)
{
    const struct gt_scenario_device *sd = &sh->scn->devices[dev];
    const struct gt_conf *conf = &sh->a->configs[c];
    struct gt_sim_options so = gt_scenario_sim_options(sd);
    struct start_ctx sc = {sh, slots};
    t->watch = (struct gt_sim_watch){0, 0, -1};
    if (sh->caps != NULL) {
        /* A card under trial: per_process_memory_fraction divides it and the
         * expandable reservation is 9/8 of it. No cap (the uncapped replay)
         * is no card at all: nothing, not even the address space of the
         * recorded card, may limit it. */
        so.device_limit = sh->caps[c * sh->scn->ndevices + dev];
        so.device_total = so.device_limit;
    }
    so.reported_stats_only = !sh->all_stats;
    int rc = gt_sim_new(conf, &so, &t->sim);
    if (rc == 0)
        rc = gt_scenario_preload(sh->scn, sd, t->sim, conf->no_caching, so.device_limit, start_live,
                                 &sc);
    if (rc == 0 && gt_sim_get_stats(t->sim)->num_ooms > 0)
        t->watch.first_oom_event = 0; /* the start state alone does not fit */
    return rc;
}

/* Whether a request of max bytes may reach a config's max_split_size: the
 * segment its rounded size would get is the largest block it can make
 * (rounding and segment size only grow with the request). */
static bool may_reach_split_limit(const struct gt_conf *c, uint64_t max)
{
    return max >= c->max_split_size ||
           gt_sim_allocation_size(c, gt_sim_round_size(c, max)) >= c->max_split_size;
}

/* Before a batch whose largest request may reach a follower's
 * max_split_size, the follower takes copies of its leader's simulators and
 * slots and goes on alone. Its leader has not run the batch yet: the
 * copies are of the state both had. */
static int part_followers(struct worker *w, const struct batch *b)
{
    struct shared *sh = w->sh;
    for (size_t j = 0; j < w->nconfigs; j++) {
        size_t c = w->configs[j], l = sh->leader[c];
        if (l == c || !may_reach_split_limit(&sh->a->configs[c], b->max_request))
            continue;
        for (size_t dv = 0; dv < sh->scn->ndevices; dv++) {
            const struct track *from = track_of(sh, l, (uint8_t)dv);
            struct track *to = track_of(sh, c, (uint8_t)dv);
            if (from->sim == NULL)
                continue; /* made for the follower when it first needs it */
            *to = *from;
            int rc = gt_sim_clone(from->sim, &sh->a->configs[c], &to->sim);
            if (rc) {
                to->sim = NULL;
                return rc;
            }
        }
        if (w->slots != NULL)
            memcpy(&w->slots[c * w->cap], &w->slots[l * w->cap], w->cap * sizeof *w->slots);
        sh->leader[c] = c;
    }
    return 0;
}

/* Makes the simulator of a track at its first op. */
static int start_track(struct shared *sh, struct track *t, size_t c, uint8_t dev,
                       gt_sim_handle *slots)
{
    int rc = track_sim(sh, t, c, dev, slots);
    if (rc == 0)
        gt_sim_watch_peak(t->sim, &t->watch);
    return rc;
}

/* Whether the run of track t has ended: under stop_at_first_oom, at its
 * first OOM (the start state's counts, event 0). */
static bool run_ended(const struct shared *sh, const struct track *t)
{
    return sh->stop_at_first_oom && t->watch.first_oom_event >= 0;
}

/* One config through a batch: each run of ops of one device in one
 * gt_sim_run on that device's simulator. With one device, the usual case,
 * the run is the whole batch. */
static int run_config(struct worker *w, const struct batch *b, size_t c)
{
    struct shared *sh = w->sh;
    struct track *tracks = track_of(sh, c, 0);
    /* no slot yet (a batch of probes only): no table, and NULL + 0 is UB */
    gt_sim_handle *slots = w->slots != NULL ? &w->slots[c * w->cap] : NULL;
    bool one_device = sh->scn->ndevices == 1;
    int rc = 0;
    size_t k = 0;
    while (rc == 0 && k < b->n) {
        uint8_t dev = b->ops[k].dev;
        size_t end = one_device ? b->n : k + 1;
        while (end < b->n && b->ops[end].dev == dev)
            end++;
        struct track *t = &tracks[dev];
        if (t->sim == NULL)
            rc = start_track(sh, t, c, dev, slots);
        if (rc == 0 && !run_ended(sh, t))
            rc = gt_sim_run(t->sim, &b->ops[k], end - k, slots, &t->watch);
        k = end;
    }
    return rc;
}

/* Whether the runs of the worker's configs have all ended on every
 * device. A follower's run is its leader's until it parts; one that parts
 * after its leader's run ended copies the ended watch and stays ended. */
static bool worker_ended(const struct worker *w)
{
    const struct shared *sh = w->sh;
    for (size_t j = 0; j < w->nconfigs; j++)
        for (size_t dv = 0; dv < sh->scn->ndevices; dv++) {
            const struct track *t = track_of(sh, sh->leader[w->configs[j]], (uint8_t)dv);
            if (t->sim == NULL || !run_ended(sh, t))
                return false;
        }
    return true;
}

/* Config-major: each config runs through the whole batch before the next
 * starts, so one simulator's blocks and free sets stay in cache. */
static int run_batch(struct worker *w, const struct batch *b)
{
    struct shared *sh = w->sh;
    /* one test a batch, not one an op */
    if (b->slot_end > 0 && ensure_slots(w, b->slot_end - 1))
        return GT_ENOMEM;
    int rc = part_followers(w, b);
    for (size_t j = 0; rc == 0 && j < w->nconfigs; j++) {
        size_t c = w->configs[j];
        if (sh->leader[c] == c) /* a follower's run is its leader's */
            rc = run_config(w, b, c);
    }
    return rc;
}

/* A worker's turn at batch b; true when its runs have all ended with it
 * (stop_at_first_oom), which the caller adds to shared.nended. */
static bool work_on(struct worker *w, const struct batch *b)
{
    if (!w->err)
        w->err = run_batch(w, b);
    if (w->ended || !w->sh->stop_at_first_oom || !worker_ended(w))
        return false;
    w->ended = true;
    return true;
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    struct shared *sh = w->sh;
    for (int64_t seq = 0;; seq++) {
        pthread_mutex_lock(&sh->mu);
        while (sh->produced <= seq && !sh->done)
            pthread_cond_wait(&sh->ready, &sh->mu);
        bool finished = sh->produced <= seq;
        pthread_mutex_unlock(&sh->mu);
        if (finished)
            break;
        struct batch *b = &sh->batches[seq % NBATCH];
        bool ended = work_on(w, b);
        pthread_mutex_lock(&sh->mu);
        sh->nended += ended;
        if (--b->pending == 0)
            pthread_cond_broadcast(&sh->drained);
        pthread_mutex_unlock(&sh->mu);
    }
    return NULL;
}

/* ------------------------------------------------------------ the reader */

/* Publishes batch number seq (already filled by d) to the workers, or runs
 * it here when the reader is the one worker's thread. */
static void publish(struct shared *sh, struct decoder *d, int64_t seq)
{
    sh->batches[seq % NBATCH].slot_end = d->next_slot;
    sh->batches[seq % NBATCH].max_request = d->max_request;
    sh->max_request = d->max_request > sh->max_request ? d->max_request : sh->max_request;
    d->max_request = 0;
    struct worker *w = sh->inline_worker;
    if (w != NULL) {
        /* nothing to lock: no other thread; claim finds the batch drained */
        sh->nended += work_on(w, &sh->batches[seq % NBATCH]);
        sh->produced = seq + 1;
        return;
    }
    pthread_mutex_lock(&sh->mu);
    sh->batches[seq % NBATCH].pending = sh->nworkers;
    sh->produced = seq + 1;
    pthread_cond_broadcast(&sh->ready);
    pthread_mutex_unlock(&sh->mu);
}

/* Waits until the workers are done with the buffer of batch seq; NULL
 * when every run has ended (stop_at_first_oom): nothing more to read. */
static struct batch *claim(struct shared *sh, int64_t seq)
{
    struct batch *b = &sh->batches[seq % NBATCH];
    pthread_mutex_lock(&sh->mu);
    while (b->pending > 0)
        pthread_cond_wait(&sh->drained, &sh->mu);
    bool all_ended = sh->nended == sh->nworkers;
    pthread_mutex_unlock(&sh->mu);
    b->n = 0;
    return all_ended ? NULL : b;
}

static void finish(struct shared *sh)
{
    pthread_mutex_lock(&sh->mu);
    sh->done = true;
    pthread_cond_broadcast(&sh->ready);
    pthread_mutex_unlock(&sh->mu);
}

/* Reads and decodes the whole trace, publishing batches, or under
 * stop_at_first_oom until every run has ended; returns 0 or an error of
 * the reader. */
static int read_all(struct gt_trace_reader *r, struct shared *sh, struct decoder *d,
                    const struct gt_replay_options *opts, char *errbuf, size_t errlen)
{
    int64_t total = 0, seq = 0, index = 0, reported = 0;
    gt_trace_event_count(r, &total);
    struct batch *b = claim(sh, seq);
    int rc = 0;
    while (b != NULL) {
        const struct gt_event *evs;
        size_t n = 0;
        rc = gt_trace_read_view(r, &evs, &n);
        if (rc) {
            snprintf(errbuf, errlen, "%s", gt_trace_errmsg(r));
            break;
        }
        if (n == 0)
            break;
        for (size_t k = 0; k < n;) {
            /* an event yields at most two ops: the events that fit for sure
             * go without a test of the room each */
            size_t room = (sh->batch_ops - b->n) / 2;
            if (room == 0) {
                publish(sh, d, seq++);
                if ((b = claim(sh, seq)) == NULL)
                    break;
                continue;
            }
            size_t end = n - k < room ? n : k + room, nops = b->n;
            for (; k < end; k++, index++)
                if ((rc = decode_event(d, &evs[k], index, &sh->a->warnings, b->ops, &nops)) != 0)
                    break;
            b->n = nops;
            if (rc)
                break;
        }
        if (rc || b == NULL)
            break;
        /* as often as when events came READ_EVENTS at a time */
        if (opts->progress != NULL && index - reported >= READ_EVENTS) {
            opts->progress(opts->progress_ctx, index, total);
            reported = index;
        }
    }
    if (rc == 0 && opts->progress != NULL && index != reported)
        opts->progress(opts->progress_ctx, index, total);
    sh->a->events = index;
    publish(sh, d, seq);
    return rc;
}

/* ------------------------------------------------------------- results */

static void collect(struct shared *sh)
{
    struct gt_analysis *a = sh->a;
    for (size_t dv = 0; dv < a->ndevices; dv++) {
        for (size_t c = 0; c < a->nconfigs; c++) {
            struct gt_replay_result *res = &a->results[dv * a->nconfigs + c];
            /* a follower to the end: its leader's run, every rule it read
             * having decided as the follower's would */
            struct track *t = track_of(sh, sh->leader[c], (uint8_t)dv);
            memset(res, 0, sizeof *res);
            res->config_index = c;
            /* whether or not it shared the simulator (as many threads as
             * configs share none), so that no thread count changes it */
            res->same_run_as =
                may_reach_split_limit(&a->configs[c], sh->max_request) ? c : sh->alike[c];
            res->device = a->devices[dv].device;
            res->first_oom_event = -1;
            if (t->sim == NULL)
                continue;
            const struct gt_sim_stats *st = gt_sim_get_stats(t->sim);
            res->stats = sh->all_stats ? *st : gt_sim_reported_stats(st);
            res->stats.max_split_size = gt_conf_max_split_reported(&a->configs[c]);
            res->peak_reserved = (uint64_t)st->reserved_bytes[GT_SIM_ALL].peak;
            res->peak_allocated = (uint64_t)st->allocated_bytes[GT_SIM_ALL].peak;
            const struct gt_sim_watch *wt = &t->watch;
            res->allocated_at_peak = wt->allocated_at_peak;
            res->unallocated_at_peak = wt->peak_reserved - wt->allocated_at_peak;
            res->fragmentation_at_peak =
                wt->peak_reserved ? 1.0 - (double)wt->allocated_at_peak / (double)wt->peak_reserved
                                  : 0.0;
            res->num_device_alloc = st->num_device_alloc;
            res->num_device_free = st->num_device_free;
            res->num_alloc_retries = st->num_alloc_retries;
            res->num_ooms = st->num_ooms;
            res->first_oom_event = wt->first_oom_event;
        }
    }
}

/* How far a failing config gets: a later first OOM first, then fewer. */
static int cmp_failing(const struct gt_replay_result *x, const struct gt_replay_result *y)
{
    if (x->first_oom_event != y->first_oom_event)
        return x->first_oom_event > y->first_oom_event ? -1 : 1;
    if (x->num_ooms != y->num_ooms)
        return x->num_ooms < y->num_ooms ? -1 : 1;
    return 0;
}

static int cmp_results(const struct gt_replay_result *x, const struct gt_replay_result *y)
{
    int xo = x->num_ooms > 0, yo = y->num_ooms > 0;
    if (xo != yo)
        return xo - yo;
    int failing = xo ? cmp_failing(x, y) : 0;
    if (failing != 0)
        return failing;
    if (x->peak_reserved != y->peak_reserved)
        return x->peak_reserved < y->peak_reserved ? -1 : 1;
    if (x->fragmentation_at_peak != y->fragmentation_at_peak)
        return x->fragmentation_at_peak < y->fragmentation_at_peak ? -1 : 1;
    int64_t xc = x->num_device_alloc + x->num_device_free;
    int64_t yc = y->num_device_alloc + y->num_device_free;
    if (xc != yc)
        return xc < yc ? -1 : 1;
    return x->config_index < y->config_index ? -1 : x->config_index > y->config_index;
}

void gt_replay_rank(struct gt_analysis *a)
{
    for (size_t d = 0; d < a->ndevices; d++) {
        struct gt_replay_result *r = &a->results[d * a->nconfigs];
        for (size_t i = 0; i < a->nconfigs; i++) {
            int rank = 1;
            for (size_t j = 0; j < a->nconfigs; j++)
                if (j != i && cmp_results(&r[j], &r[i]) < 0)
                    rank++;
            r[i].rank = rank;
        }
    }
}

const struct gt_replay_result *gt_replay_best(const struct gt_analysis *a, size_t d)
{
    const struct gt_replay_result *best = NULL;
    if (d >= a->ndevices)
        return NULL;
    for (size_t c = 0; c < a->nconfigs; c++) {
        const struct gt_replay_result *r = &a->results[d * a->nconfigs + c];
        if (a->configs[c].no_caching)
            continue;
        if (best == NULL || r->rank < best->rank)
            best = r;
    }
    return best;
}

bool gt_replay_needs_uncapped(const struct gt_analysis *a)
{
    for (size_t d = 0; d < a->ndevices; d++) {
        const struct gt_replay_result *best = gt_replay_best(a, d);
        if (a->devices[d].device_memory > 0 && (best == NULL || best->num_ooms > 0))
            return true;
    }
    return false;
}

const struct gt_replay_result *gt_replay_smallest_peak(const struct gt_analysis *u, int32_t dev)
{
    const struct gt_replay_result *min = NULL;

    for (size_t d = 0; u != NULL && d < u->ndevices; d++) {
        if (u->devices[d].device != dev)
            continue;
        for (size_t i = 0; i < u->nconfigs; i++) {
            const struct gt_replay_result *r = &u->results[d * u->nconfigs + i];
            /* nocache is no advice; a config that fails even uncapped
             * (a request beyond its address space) has no peak to reach. */
            if (u->configs[r->config_index].no_caching || r->num_ooms > 0)
                continue;
            if (min == NULL || r->peak_reserved < min->peak_reserved)
                min = r;
        }
    }
    return min;
}

/* One replay of the n configs, each at its own cap of caps, run to the
 * end or (stop) to its first OOM. */
static int replay_at(const char *path, const struct gt_conf *configs, size_t n,
                     const struct gt_replay_options *opts, const uint64_t *caps, bool stop,
                     struct gt_analysis **t, char *errbuf, size_t errlen)
{
    struct gt_replay_options o = *opts;
    o.caps = caps;
    o.add_recorded_conf = 0;
    o.progress = NULL;
    o.stop_at_first_oom = stop;
    return gt_replay_trace(path, configs, n, &o, t, errbuf, errlen);
}

int gt_replay_uncapped(const char *path, const struct gt_analysis *a,
                       const struct gt_replay_options *opts, struct gt_analysis **out, char *errbuf,
                       size_t errlen)
{
    uint64_t *none = calloc(a->nconfigs * a->ndevices + 1, sizeof *none);
    if (none == NULL)
        return GT_ENOMEM;
    int rc = replay_at(path, a->configs, a->nconfigs, opts, none, false, out, errbuf, errlen);
    free(none);
    return rc;
}

/* ------------------------------------------------------ the smallest card */

#define FIT_STEP ((uint64_t)2 << 20) /* cudaMalloc's granularity */

struct fit_search {
    uint64_t *lo, *hi; /* lo fails (or is the answer when lo_ok), hi runs */
    /* hi_tested: hi ran at a cap; an untested hi is the uncapped peak, which
     * a cap changes for configs whose rules read the card (a memory
     * fraction, garbage collection), so it is checked at the end */
    bool *lo_ok, *done, *hi_tested;
    uint64_t *caps;
    bool *want, *runs; /* fit_trial's: which trials count, and which ran */
    size_t n;
};

static uint64_t round_up_step(uint64_t v)
{
    return v % FIT_STEP ? v + (FIT_STEP - v % FIT_STEP) : v;
}

/* The bounds of the search: the peak allocated (no card holds less) and the
 * uncapped peak reserved (on that card nothing ever fails). */
static void fit_bounds(struct fit_search *f, const struct gt_analysis *a,
                       const struct gt_analysis *u)
{
    for (size_t d = 0; d < a->ndevices; d++) {
        for (size_t c = 0; c < a->nconfigs; c++) {
            size_t i = c * a->ndevices + d;
            const struct gt_replay_result *r = &u->results[d * u->nconfigs + c];
            double fraction = a->configs[c].memory_fraction;
            if (!(fraction > 0 && fraction <= 1))
                fraction = 1;
            f->done[i] = r->num_ooms > 0; /* no card helps: 0 */
            f->hi[i] = round_up_step((uint64_t)((double)r->peak_reserved / fraction));
            f->lo[i] = r->peak_allocated - r->peak_allocated % FIT_STEP;
            if (f->lo[i] == 0)
                f->lo[i] = FIT_STEP;
            if (f->lo[i] > f->hi[i])
                f->lo[i] = f->hi[i];
            f->caps[i] = f->lo[i];
        }
    }
}

/* One trial of the cards in f->caps: the configs with a device whose
 * search wants its answer (f->want) are replayed, and each run ends at its
 * first OOM, since a trial asks only whether the run had one. A config's
 * run does not depend on the others replayed beside it, so the configs
 * whose searches have closed are left out. f->runs[i]: whether (config,
 * device) i ran without an OOM (false for those left out). */
static int fit_trial(const char *path, const struct gt_analysis *a,
                     const struct gt_replay_options *opts, struct fit_search *f, char *errbuf,
                     size_t errlen)
{
    size_t nd = a->ndevices, nsub = 0;
    struct gt_conf *sub = malloc((a->nconfigs + 1) * sizeof *sub);
    size_t *from = malloc((a->nconfigs + 1) * sizeof *from);
    uint64_t *caps = malloc((f->n + 1) * sizeof *caps);
    int rc = sub == NULL || from == NULL || caps == NULL ? GT_ENOMEM : 0;
    for (size_t c = 0; rc == 0 && c < a->nconfigs; c++) {
        bool wanted = false;
        for (size_t d = 0; d < nd; d++)
            wanted = wanted || f->want[c * nd + d];
        if (!wanted)
            continue;
        sub[nsub] = a->configs[c];
        memcpy(&caps[nsub * nd], &f->caps[c * nd], nd * sizeof *caps);
        from[nsub++] = c;
    }
    memset(f->runs, 0, f->n * sizeof *f->runs);
    if (rc == 0 && nsub > 0) {
        struct gt_analysis *t = NULL;
        rc = replay_at(path, sub, nsub, opts, caps, true, &t, errbuf, errlen);
        for (size_t j = 0; rc == 0 && j < nsub; j++)
            for (size_t d = 0; d < nd; d++)
                f->runs[from[j] * nd + d] = t->results[d * nsub + j].num_ooms == 0;
        gt_analysis_free(t);
    }
    free(sub);
    free(from);
    free(caps);
    return rc;
}

static int fit_round(const char *path, const struct gt_analysis *a,
                     const struct gt_replay_options *opts, struct fit_search *f, bool first,
                     char *errbuf, size_t errlen)
{
    for (size_t i = 0; i < f->n; i++)
        f->want[i] = !f->done[i];
    int rc = fit_trial(path, a, opts, f, errbuf, errlen);
    if (rc)
        return rc;
    for (size_t d = 0; d < a->ndevices; d++) {
        for (size_t c = 0; c < a->nconfigs; c++) {
            size_t i = c * a->ndevices + d;
            bool runs = f->runs[i];
            if (f->done[i])
                continue;
            if (first && runs) { /* the low end already runs */
                f->lo_ok[i] = f->done[i] = f->hi_tested[i] = true;
                f->hi[i] = f->lo[i];
            } else if (runs) {
                f->hi[i] = f->caps[i];
                f->hi_tested[i] = true;
            } else if (!first) {
                f->lo[i] = f->caps[i];
            }
        }
    }
    return 0;
}

/* The next cards to try; false when every search has closed to 2 MiB. */
static bool fit_next(struct fit_search *f)
{
    bool more = false;
    for (size_t i = 0; i < f->n; i++) {
        if (!f->done[i] && f->hi[i] - f->lo[i] <= FIT_STEP)
            f->done[i] = true;
        if (f->done[i]) {
            f->caps[i] = f->hi[i];
            continue;
        }
        uint64_t mid = f->lo[i] + (f->hi[i] - f->lo[i]) / 2;
        mid -= mid % FIT_STEP;
        f->caps[i] = mid > f->lo[i] ? mid : f->lo[i] + FIT_STEP;
        more = true;
    }
    return more;
}

/* Whether some search ends at a high end no replay ran at. */
static bool fit_untested(const struct fit_search *f)
{
    for (size_t i = 0; i < f->n; i++)
        if (!f->hi_tested[i] && f->hi[i] > 0)
            return true;
    return false;
}

/* One replay at every search's high end; those that run are confirmed,
 * the others keep no answer (0): no card was seen to run them. */
static int fit_check_high(const char *path, const struct gt_analysis *a,
                          const struct gt_replay_options *opts, struct fit_search *f, char *errbuf,
                          size_t errlen)
{
    for (size_t i = 0; i < f->n; i++) {
        f->caps[i] = f->hi[i];
        f->want[i] = !f->hi_tested[i];
    }
    int rc = fit_trial(path, a, opts, f, errbuf, errlen);
    for (size_t i = 0; rc == 0 && i < f->n; i++)
        f->hi_tested[i] = f->hi_tested[i] || f->runs[i];
    return rc;
}

int gt_replay_fit(const char *path, const struct gt_analysis *a, const struct gt_analysis *uncapped,
                  const struct gt_replay_options *opts, uint64_t **fit, char *errbuf, size_t errlen)
{
    struct fit_search f = {0};
    int rc = 0;
    *fit = NULL;
    f.n = a->nconfigs * a->ndevices;
    f.lo = calloc(f.n + 1, sizeof *f.lo);
    f.hi = calloc(f.n + 1, sizeof *f.hi);
    f.caps = calloc(f.n + 1, sizeof *f.caps);
    f.lo_ok = calloc(f.n + 1, sizeof *f.lo_ok);
    f.done = calloc(f.n + 1, sizeof *f.done);
    f.hi_tested = calloc(f.n + 1, sizeof *f.hi_tested);
    f.want = calloc(f.n + 1, sizeof *f.want);
    f.runs = calloc(f.n + 1, sizeof *f.runs);
    if (f.lo == NULL || f.hi == NULL || f.caps == NULL || f.lo_ok == NULL || f.done == NULL ||
        f.hi_tested == NULL || f.want == NULL || f.runs == NULL)
        rc = GT_ENOMEM;
    if (rc == 0) {
        fit_bounds(&f, a, uncapped);
        rc = fit_round(path, a, opts, &f, true, errbuf, errlen);
    }
    while (rc == 0 && fit_next(&f))
        rc = fit_round(path, a, opts, &f, false, errbuf, errlen);
    if (rc == 0 && fit_untested(&f))
        rc = fit_check_high(path, a, opts, &f, errbuf, errlen);
    if (rc == 0) {
        for (size_t d = 0; d < a->ndevices; d++)
            for (size_t c = 0; c < a->nconfigs; c++) {
                size_t i = c * a->ndevices + d;
                const struct gt_replay_result *u = &uncapped->results[d * uncapped->nconfigs + c];
                f.caps[i] = u->num_ooms > 0 || !f.hi_tested[i] ? 0 : f.hi[i];
            }
        *fit = f.caps;
        f.caps = NULL;
    }
    free(f.lo);
    free(f.hi);
    free(f.caps);
    free(f.lo_ok);
    free(f.done);
    free(f.hi_tested);
    free(f.want);
    free(f.runs);
    return rc;
}

size_t gt_replay_default_sweep(struct gt_conf *out, size_t cap)
{
    static const char *const sweep[] = {
        "default",
        "max_split_size_mb:64",
        "max_split_size_mb:128",
        "max_split_size_mb:256",
        "max_split_size_mb:512",
        "expandable_segments:True",
        "expandable_segments:True,max_split_size_mb:64",
        "expandable_segments:True,max_split_size_mb:128",
        "expandable_segments:True,max_split_size_mb:256",
        "expandable_segments:True,max_split_size_mb:512",
        "roundup_power2_divisions:4",
        "nocache",
    };
    size_t n = 0;
    char err[128];
    for (size_t i = 0; i < sizeof sweep / sizeof sweep[0] && n < cap; i++)
        if (gt_conf_parse(sweep[i], &out[n], err, sizeof err) == 0)
            n++;
    return n;
}

void gt_analysis_free(struct gt_analysis *a)
{
    if (a == NULL)
        return;
    free(a->configs);
    free(a->devices);
    free(a->results);
    free(a);
}

/* ---------------------------------------------------------------- entry */

/* The relative cost of replaying a config, from the simulator's time per
 * event on the bench trace (docs/performance.md): nocache keeps no free sets
 * and costs about a quarter of a caching config, expandable segments about
 * four fifths. */
static unsigned config_cost(const struct gt_conf *c)
{
    return c->no_caching ? 1 : c->expandable_segments ? 4 : 5;
}

/* The largest segment or block of the start state, which a max_split_size
 * must exceed for a config to share; UINT64_MAX when one is expandable (its
 * free blocks can grow past any request). */
static uint64_t start_largest(const struct gt_scenario *scn)
{
    uint64_t largest = 0;
    for (size_t k = 0; k < scn->nblocks; k++) {
        const struct gt_initial_block *b = &scn->blocks[k];
        if (b->expandable)
            return UINT64_MAX;
        largest = b->segment_size > largest ? b->segment_size : largest;
        largest = b->size > largest ? b->size : largest;
    }
    return largest;
}

/* Whether config c may share the simulators of config l until a request
 * may reach c's max_split_size (may_reach_split_limit). Below that size
 * every rule that reads max_split_size decides as without it
 * (get_free_block, should_split, release_available_cached_blocks, the
 * oversize counts; test_sim: a_split_limit_no_block_reaches_changes_nothing),
 * and max_non_split_rounding is read only at or above it, so the two
 * allocators stay equal when: neither caches nothing nor grows expandable
 * segments (a segment that grows makes blocks larger than any request),
 * they differ in nothing else, they replay on the same cards, l splits at
 * least as high as c, and no start segment reaches c's limit. */
static bool may_follow(const struct shared *sh, size_t c, size_t l, uint64_t start_max)
{
    const struct gt_conf *x = &sh->a->configs[c], *y = &sh->a->configs[l];
    if (x->no_caching || x->expandable_segments || y->max_split_size < x->max_split_size)
        return false;
    struct gt_conf same = *x;
    same.max_split_size = y->max_split_size;
    same.max_non_split_rounding = y->max_non_split_rounding;
    if (!gt_conf_same_settings(&same, y))
        return false;
    size_t nd = sh->scn->ndevices;
    for (size_t dv = 0; sh->caps != NULL && dv < nd; dv++)
        if (sh->caps[c * nd + dv] != sh->caps[l * nd + dv])
            return false;
    return start_max < x->max_split_size;
}

/* Each config's leader: of the configs it may follow, and itself, the one
 * that splits highest (the lowest index among equals). That one follows no
 * other: what it may follow, c may too, and none splits higher. */
static void choose_leaders(struct shared *sh)
{
    uint64_t start_max = start_largest(sh->scn); /* once, not for every pair */
    for (size_t c = 0; c < sh->a->nconfigs; c++) {
        size_t best = c;
        for (size_t l = 0; l < sh->a->nconfigs; l++) {
            if (l == c || !may_follow(sh, c, l, start_max))
                continue;
            uint64_t ml = sh->a->configs[l].max_split_size;
            uint64_t mb = sh->a->configs[best].max_split_size;
            if (ml > mb || (ml == mb && l < best))
                best = l;
        }
        sh->alike[c] = best;
    }
}

/* Hands the configs to n workers by expected cost: the most expensive
 * first, each to the worker with the least work so far (ties to the lower
 * index), so that no worker makes the others wait at every batch. A
 * leader's followers go where it goes (part_followers copies its state
 * within a worker), counted as if they parted at once. Returns the busiest
 * worker's load; fills in the workers' configs when w is not NULL. cost
 * (one per config) and load (one per worker) are scratch. */
static unsigned place(const struct gt_analysis *a, const size_t *leader, unsigned *cost,
                      unsigned *load, int n, struct worker *w)
{
    memset(cost, 0, a->nconfigs * sizeof *cost);
    for (size_t f = 0; f < a->nconfigs; f++)
        cost[leader[f]] += config_cost(&a->configs[f]);
    memset(load, 0, (size_t)n * sizeof *load);
    unsigned busiest = 0;
    for (;;) {
        size_t next = SIZE_MAX; /* the costliest group left, the lowest index among equals */
        for (size_t c = 0; c < a->nconfigs; c++)
            if (cost[c] > 0 && (next == SIZE_MAX || cost[c] > cost[next]))
                next = c;
        if (next == SIZE_MAX)
            return busiest;
        int best = 0;
        for (int i = 1; i < n; i++)
            if (load[i] < load[best])
                best = i;
        load[best] += cost[next];
        busiest = load[best] > busiest ? load[best] : busiest;
        for (size_t f = 0; w != NULL && f < a->nconfigs; f++)
            if (leader[f] == next)
                w[best].configs[w[best].nconfigs++] = f;
        cost[next] = 0;
    }
}

/* Shares simulators where that does not make the busiest worker busier
 * than without sharing (with as many workers as configs, say, it would). */
static int assign_configs(struct shared *sh, struct worker *w, int n)
{
    const struct gt_analysis *a = sh->a;
    for (int i = 0; i < n; i++)
        if ((w[i].configs = malloc(a->nconfigs * sizeof *w[i].configs)) == NULL)
            return GT_ENOMEM;
    size_t *alone = malloc(a->nconfigs * sizeof *alone);
    unsigned *cost = malloc(a->nconfigs * sizeof *cost), *load = malloc((size_t)n * sizeof *load);
    if (alone == NULL || cost == NULL || load == NULL) {
        free(alone);
        free(cost);
        free(load);
        return GT_ENOMEM;
    }
    for (size_t c = 0; c < a->nconfigs; c++)
        alone[c] = c;
    choose_leaders(sh);
    bool share = place(a, sh->alike, cost, load, n, NULL) <= place(a, alone, cost, load, n, NULL);
    memcpy(sh->leader, share ? sh->alike : alone, a->nconfigs * sizeof *alone);
    place(a, sh->leader, cost, load, n, w);
    free(alone);
    free(cost);
    free(load);
    return 0;
}

/* Starts the n workers' threads, or with in_reader makes the one worker
 * the reader's (shared.inline_worker). */
static int start_workers(struct shared *sh, struct worker *w, int n, bool in_reader)
{
    int rc = assign_configs(sh, w, n);
    if (rc) {
        sh->nworkers = 0;
        return rc;
    }
    if (in_reader) {
        w[0].sh = sh;
        sh->inline_worker = &w[0];
        return 0;
    }
    for (int i = 0; i < n; i++) {
        w[i].sh = sh;
        if (pthread_create(&w[i].thread, NULL, worker_main, &w[i]) != 0) {
            sh->nworkers = i;
            return GT_ENOMEM;
        }
    }
    return 0;
}

static struct gt_analysis *analysis_new(const struct gt_conf *configs, size_t n)
{
    struct gt_analysis *a = calloc(1, sizeof *a);
    if (a == NULL)
        return NULL;
    a->nconfigs = n;
    /* one spare config for the recorded settings */
    a->configs = malloc((n + 1) * sizeof *configs);
    a->devices = calloc(GT_REPLAY_MAX_DEVICES, sizeof *a->devices);
    a->results = calloc(GT_REPLAY_MAX_DEVICES * (n + 1), sizeof *a->results);
    if (a->configs == NULL || a->devices == NULL || a->results == NULL) {
        gt_analysis_free(a);
        return NULL;
    }
    memcpy(a->configs, configs, n * sizeof *configs);
    return a;
}

/* The CPUs this process may run on: its affinity mask (taskset, a
 * cgroup's cpuset, a Slurm job's cores), or every online CPU where the mask
 * cannot be read (more CPUs than a cpu_set_t holds). */
static long usable_cpus(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set);
    return sysconf(_SC_NPROCESSORS_ONLN);
}

/* The threads replay may use: --threads, or one per usable CPU. */
static long thread_budget(const struct gt_replay_options *opts)
{
    long n = opts->threads > 0 ? opts->threads : usable_cpus();
    return n < 1 ? 1 : n;
}

/* The workers for a budget of threads: no more than configs. */
static int worker_count(long budget, size_t nconfigs)
{
    return (int)((size_t)budget > nconfigs ? (long)nconfigs : budget);
}

static void read_lost_events(struct gt_trace_reader *r, struct gt_analysis *a)
{
    char buf[32];
    uint64_t lost = 0;
    if (gt_trace_meta(r, "lost_events", buf, sizeof buf) == 0 &&
        gt_units_parse_u64(buf, INT64_MAX, &lost) == 0)
        a->warnings.lost_events = (int64_t)lost;
}

/* The recorded settings, if the trace has them: index among configs (added
 * at the end when asked and absent). Returns the new config count. */
static size_t place_recorded_conf(struct gt_trace_reader *r, struct gt_conf *configs, size_t n,
                                  int add, char *recorded, size_t len, int *has, long *index)
{
    struct gt_conf rec;
    char err[128];
    *has = 0;
    *index = -1;
    if (gt_trace_meta(r, "alloc_conf", recorded, len) != 0) {
        recorded[0] = 0;
        return n;
    }
    *has = 1;
    if (gt_conf_parse(recorded, &rec, err, sizeof err) != 0 ||
        rec.backend != GT_CONF_BACKEND_NATIVE)
        return n;
    for (size_t c = 0; c < n; c++) {
        if (gt_conf_same_settings(&configs[c], &rec)) {
            *index = (long)c;
            return n;
        }
    }
    if (!add)
        return n;
    configs[n] = rec;
    *index = (long)n;
    return n + 1;
}

/* The analysis's devices are the scenario's, in its order. */
static void take_devices(struct gt_analysis *a, const struct gt_scenario *scn)
{
    a->ndevices = scn->ndevices;
    for (size_t i = 0; i < scn->ndevices; i++) {
        const struct gt_scenario_device *sd = &scn->devices[i];
        struct gt_replay_device *dv = &a->devices[i];
        dv->device = sd->device;
        dv->device_memory = sd->memory;
        dv->device_total = sd->recorded_total;
        snprintf(dv->name, sizeof dv->name, "%s", sd->name);
        dv->events = sd->requests;
        dv->card = *sd;
    }
    a->warnings.too_many_devices = scn->too_many_devices;
}

static int replay_reader(struct gt_trace_reader *r, struct gt_analysis *a,
                         const struct gt_replay_options *opts, const struct gt_scenario *scn,
                         char *errbuf, size_t errlen)
{
    struct shared *sh = calloc(1, sizeof *sh);
    struct decoder d = {0};
    struct worker *w = NULL;
    long budget = thread_budget(opts);
    int rc = GT_ENOMEM, nw = worker_count(budget, a->nconfigs);
    if (sh == NULL)
        return GT_ENOMEM;
    sh->a = a;
    sh->scn = scn;
    sh->caps = opts->caps;
    sh->stop_at_first_oom = opts->stop_at_first_oom != 0;
    sh->all_stats = opts->all_stats;
    take_devices(a, scn);
    sh->tracks = calloc(a->nconfigs * GT_REPLAY_MAX_DEVICES, sizeof *sh->tracks);
    sh->leader = malloc(a->nconfigs * sizeof *sh->leader);
    sh->alike = malloc(a->nconfigs * sizeof *sh->alike);
    sh->init_slot = malloc((scn->nblocks + 1) * sizeof *sh->init_slot);
    w = calloc((size_t)nw, sizeof *w);
    /* With a budget of one thread the reading thread runs the one worker's
     * batches itself: a worker thread of its own would only take turns with
     * it on the one core, and each hand-over of a batch costs a futex wake,
     * two context switches and the batch's trip between caches. Run in the
     * reader, one config on the bench trace took 65.9-67.7 ns an event
     * against 67.7-74.2, the 12-config sweep 323-332 against 332-349
     * (docs/performance.md, seventh round). With more threads the reader
     * overlaps the workers, which shortens the wall time. worker_count gives
     * no worker more than one config when there are at least as many
     * workers as configs; a batch the reader runs itself is read at once,
     * from its cache. */
    bool in_reader = budget == 1;
    sh->batch_ops = (size_t)nw >= a->nconfigs && !in_reader ? BATCH_OPS_ONE_CONFIG : BATCH_OPS;
    for (int i = 0; i < NBATCH; i++)
        if ((sh->batches[i].ops = malloc(sh->batch_ops * sizeof(struct gt_sim_op))) == NULL)
            goto out;
    if (sh->tracks == NULL || sh->leader == NULL || sh->alike == NULL || w == NULL ||
        sh->init_slot == NULL)
        goto out;
    rc = register_start(&d, scn, sh->init_slot);
    if (rc)
        goto out;
    pthread_mutex_init(&sh->mu, NULL);
    pthread_cond_init(&sh->ready, NULL);
    pthread_cond_init(&sh->drained, NULL);
    sh->nworkers = nw;
    rc = start_workers(sh, w, nw, in_reader);
    if (rc == 0)
        rc = read_all(r, sh, &d, opts, errbuf, errlen);
    finish(sh);
    for (int i = 0; i < sh->nworkers; i++) {
        if (sh->inline_worker == NULL)
            pthread_join(w[i].thread, NULL);
        if (!rc && w[i].err) {
            rc = w[i].err;
            snprintf(errbuf, errlen, "simulation failed: %s", gt_strerror(rc));
        }
    }
    if (rc == 0) {
        collect(sh);
        gt_replay_rank(a);
    }
    pthread_cond_destroy(&sh->ready);
    pthread_cond_destroy(&sh->drained);
    pthread_mutex_destroy(&sh->mu);
out:
    if (sh->tracks != NULL)
        for (size_t k = 0; k < a->nconfigs * GT_REPLAY_MAX_DEVICES; k++)
            gt_sim_free_all(sh->tracks[k].sim);
    for (int i = 0; w != NULL && i < nw; i++) {
        free(w[i].slots);
        free(w[i].configs);
    }
    for (int i = 0; i < NBATCH; i++)
        free(sh->batches[i].ops);
    free(sh->tracks);
    free(sh->leader);
    free(sh->alike);
    free(sh->init_slot);
    free(sh);
    free(w);
    decoder_release(&d);
    return rc;
}

int gt_replay_trace(const char *path, const struct gt_conf *configs, size_t nconfigs,
                    const struct gt_replay_options *opts, struct gt_analysis **out, char *errbuf,
                    size_t errlen)
{
    static const struct gt_replay_options no_opts;
    *out = NULL;
    if (opts == NULL)
        opts = &no_opts;
    for (size_t c = 0; c < nconfigs; c++) {
        if (configs[c].backend != GT_CONF_BACKEND_NATIVE) {
            snprintf(errbuf, errlen,
                     "config '%s': backend:cudaMallocAsync is not simulated (its reserved memory "
                     "is the CUDA driver's pool policy)",
                     configs[c].name);
            return GT_EUNSUPPORTED;
        }
    }
    if (nconfigs == 0) {
        snprintf(errbuf, errlen, "no config to replay");
        return GT_EINVAL;
    }
    struct gt_trace_reader *r = NULL;
    struct gt_scenario *own = NULL;
    const struct gt_scenario *scn = opts->scenario;
    int rc = scn != NULL ? 0 : gt_scenario_build(path, 0, &own, errbuf, errlen);
    if (rc)
        return rc;
    if (scn == NULL)
        scn = own;
    rc = gt_trace_open(path, &r, errbuf, errlen);
    if (rc) {
        gt_scenario_free(own);
        return rc;
    }
    struct gt_analysis *a = analysis_new(configs, nconfigs);
    if (a == NULL) {
        gt_trace_close(r);
        gt_scenario_free(own);
        return GT_ENOMEM;
    }
    a->nconfigs =
        place_recorded_conf(r, a->configs, nconfigs, opts->add_recorded_conf, a->recorded_conf,
                            sizeof a->recorded_conf, &a->has_recorded_conf, &a->recorded_index);
    read_lost_events(r, a);
    a->warnings.skipped_kinds = 0;
    gt_trace_skip_fields(r, GT_TRACE_SKIP_REPLAY); /* what decode_event does not read */
    rc = replay_reader(r, a, opts, scn, errbuf, errlen);
    a->warnings.skipped_kinds = gt_trace_skipped(r);
    gt_trace_close(r);
    gt_scenario_free(own);
    if (rc) {
        gt_analysis_free(a);
        return rc;
    }
    *out = a;
    return 0;
}
