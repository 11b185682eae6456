/* Replay of a trace's request stream against simulated allocators: the
 * engine behind `gpu-trace analyze`.
 *
 * The trace is read once, in batches; each batch is decoded into compact
 * operations (allocation slots instead of addresses) and handed to worker
 * threads, each of which drives the simulators of some configs (with a
 * budget of one thread, the reading thread drives them itself). Memory use is
 * bounded by the batch size and the number of live allocations, not by the
 * length of the trace. */
#ifndef GPUTRACE_REPLAY_H
#define GPUTRACE_REPLAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gputrace/conf.h"
#include "gputrace/scenario.h"
#include "gputrace/sim.h"

#define GT_REPLAY_MAX_DEVICES GT_SCENARIO_MAX_DEVICES

/* The outcome of one config on one device. */
struct gt_replay_result {
    size_t config_index;     /* position in the configs passed in */
    int32_t device;          /* CUDA device ordinal */
    int rank;                /* 1 = best on this device (see gt_replay_rank) */
    uint64_t peak_reserved;  /* reserved_bytes.all.peak */
    uint64_t peak_allocated; /* allocated_bytes.all.peak */
    /* Of the moments reserved stood at its peak, the one with the most
     * allocated: allocated bytes then, reserved minus that, and
     * 1 - allocated/reserved. */
    uint64_t allocated_at_peak;
    uint64_t unallocated_at_peak;
    double fragmentation_at_peak;
    int64_t num_device_alloc, num_device_free, num_alloc_retries, num_ooms;
    int64_t first_oom_event; /* 0-based position among the trace's events; -1 if none */
    /* what torch.cuda.memory_stats() would say at the end: all of it with
     * gt_replay_options.all_stats, else what replay reports alone
     * (gt_sim_reported_stats) */
    struct gt_sim_stats stats;
    /* config_index, or the config whose run this one's was to the end: one
     * that differs only in splitting higher, when no request reached this
     * one's max_split_size, so that every decision was the same */
    size_t same_run_as;
};

/* Things in the trace that do not add up. The answer still comes; the CLI
 * prints these as warnings. */
struct gt_replay_warnings {
    int64_t unknown_free;     /* free of an address never allocated */
    int64_t double_free;      /* free of an address already freed */
    int64_t alloc_of_live;    /* alloc at an address still live (missed free) */
    int64_t skipped_kinds;    /* rows of kinds this build does not know */
    int64_t too_many_devices; /* events of devices beyond GT_REPLAY_MAX_DEVICES */
    int64_t lost_events;      /* meta lost_events: dropped by the recorder */
};

/* A device of the scenario as replayed. card is the scenario's device
 * (its card, the card's source, the start state, the process). */
struct gt_replay_device {
    int32_t device;
    uint64_t device_memory; /* the cap replayed (0 = unlimited): card.memory */
    uint64_t device_total;  /* the card's memory from the trace (0 = unknown) */
    char name[128];         /* the card's name from the trace, or "" */
    int64_t events;         /* request events of this device */
    struct gt_scenario_device card;
};

struct gt_analysis {
    int64_t events; /* events read from the trace (all kinds) */
    size_t nconfigs;
    struct gt_conf *configs;
    size_t ndevices;
    struct gt_replay_device *devices;
    /* results[d * nconfigs + c], ranked within each device */
    struct gt_replay_result *results;
    struct gt_replay_warnings warnings;
    char recorded_conf[256]; /* meta alloc_conf, or "" */
    int has_recorded_conf;   /* the trace names the settings it ran under */
    /* index of the config equal to the recorded settings, or -1 */
    long recorded_index;
};

struct gt_replay_options {
    /* The trace's scenario (cards and start state); NULL builds one with no
     * card given. Borrowed for the call. */
    const struct gt_scenario *scenario;
    /* Optional per (config, device) caps overriding the scenario's cards,
     * caps[config * ndevices + device index]; 0 = unlimited. The search for
     * the smallest card (gt_replay_fit) sets it. */
    const uint64_t *caps;
    /* Worker threads; 0 = one per CPU the process may run on (its
     * affinity). With one, the reading thread runs the simulators itself:
     * no thread is started. */
    int threads;
    /* Each config's run on a device ends at its first OOM, and the trace is
     * read no further once every run has ended: the results then say
     * whether each run had an OOM and nothing else true (peaks, counters,
     * events read stop there). The trials of gt_replay_fit set it: they
     * ask no more. */
    int stop_at_first_oom;
    /* Also replay the settings the trace was recorded under (meta
     * alloc_conf), when they parse and are not among the configs already:
     * `analyze` without --config compares against what the user ran. */
    int add_recorded_conf;
    /* Keep every statistic of the simulators up, so that each result's
     * stats holds all of memory_stats(); else the simulators keep only
     * what the results report (gt_sim_options.reported_stats_only), the
     * same values either way. */
    bool all_stats;
    /* Called now and then from the reading thread with events read so far
     * and the total; may be NULL. */
    void (*progress)(void *ctx, int64_t done, int64_t total);
    void *progress_ctx;
};

/* gt_replay_trace: replays the trace at path under each config. On success
 * *out owns a new analysis (free with gt_analysis_free). Errors: those of
 * gt_trace_open/gt_trace_read (with errbuf naming the problem),
 * GT_EUNSUPPORTED for a config the simulator cannot run
 * (backend:cudaMallocAsync), GT_ENOMEM. */
int gt_replay_trace(const char *path, const struct gt_conf *configs, size_t nconfigs,
                    const struct gt_replay_options *opts, struct gt_analysis **out, char *errbuf,
                    size_t errlen);
void gt_analysis_free(struct gt_analysis *a);

/* gt_replay_rank: ranks the results of each device in place: configs without
 * OOM first (then lower peak reserved, lower fragmentation at the peak, fewer
 * device calls); then the configs that OOM, by how far they get (a later
 * first OOM first, then fewer OOMs); then the order given. gt_replay_trace
 * calls it. */
void gt_replay_rank(struct gt_analysis *a);

/* gt_replay_uncapped: replays a's configs (same order) on the same devices
 * without any cap: how much memory each config would take. *out as
 * gt_replay_trace's. */
int gt_replay_uncapped(const char *path, const struct gt_analysis *a,
                       const struct gt_replay_options *opts, struct gt_analysis **out, char *errbuf,
                       size_t errlen);

/* gt_replay_fit: for every config and device of a, the smallest card on
 * which the replay runs without an OOM, found by bisection between the peak
 * allocated and the uncapped peak reserved, to 2 MiB, both ends checked:
 * fit[config * ndevices + device index] (bytes; 0 when no card was seen
 * to run it: the uncapped replay runs out of memory, or the high end,
 * checked by a replay of its own when no bisection step confirmed it,
 * fails). uncapped is a replay of the same configs without caps. *fit is
 * caller-owned (free). Errors: those of gt_replay_trace. */
int gt_replay_fit(const char *path, const struct gt_analysis *a, const struct gt_analysis *uncapped,
                  const struct gt_replay_options *opts, uint64_t **fit, char *errbuf,
                  size_t errlen);

/* gt_replay_best: the best-ranked result of device index d that is a caching
 * config (nocache is the zero-fragmentation baseline, not advice); NULL if
 * none. */
const struct gt_replay_result *gt_replay_best(const struct gt_analysis *a, size_t d);

/* gt_replay_needs_uncapped: whether some capped device of a has no caching
 * config without an OOM: then the reports say how far the peak must shrink,
 * from an uncapped replay. */
bool gt_replay_needs_uncapped(const struct gt_analysis *a);

/* gt_replay_smallest_peak: the caching config of device ordinal dev in u
 * (an uncapped replay) without an OOM with the smallest peak reserved; NULL
 * if u is NULL or has none. */
const struct gt_replay_result *gt_replay_smallest_peak(const struct gt_analysis *u, int32_t dev);

/* gt_replay_default_sweep: the configs `analyze` tries without --config:
 * default; max_split_size_mb 64/128/256/512; expandable_segments:True alone
 * and with each split size; roundup_power2_divisions:4; nocache. Fills up to
 * cap entries and returns how many. */
size_t gt_replay_default_sweep(struct gt_conf *out, size_t cap);

#endif
