/* What a trace says about memory, before any advice: per device the recorded
 * card, the span of the trace, the requests, the bytes the program asked for
 * (counted from the trace itself), and what the allocator held under the
 * settings the run was recorded under (replayed with inspect.h on the
 * recorded card), over time; pinned host memory and the real reserved
 * memory when the recording has them. The answer `gpu-trace stats` prints
 * and the summary of `gpu-trace report`. */
#ifndef GPUTRACE_STATS_H
#define GPUTRACE_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gputrace/conf.h"
#include "gputrace/scenario.h"

#define GT_STATS_SLICES 10 /* time slices of the timeline */

/* One slice of the trace's span. Slices split the span of the whole trace
 * (all devices) into equal parts by ts_ns; when every event has the same
 * ts_ns they split the events by position instead (by_index in gt_stats).
 * A slice without requests of the device holds what the device held when it
 * began. */
struct gt_stats_slice {
    int64_t start, end;     /* [start, end): ns after the first event, or event positions */
    uint64_t allocated_max; /* simulated allocated_bytes.all.current, max within the slice */
    uint64_t reserved_max;  /* simulated reserved_bytes.all.current, max within the slice */
};

/* One device. Invariants: requested_final <= requested_peak; the simulated
 * figures are those of the config named in gt_stats.config on the cap
 * device_memory; real_reserved_* are meaningful only when has_real_segments. */
struct gt_stats_device {
    int32_t device;
    char name[128];        /* the card's name from the trace, or "" */
    uint64_t total_memory; /* the card's memory from the trace, 0 = unknown */
    int64_t events;        /* events of this device, all kinds */
    int64_t first_ts_ns, last_ts_ns;
    int64_t allocs; /* alloc events that succeeded in the recording */
    int64_t frees;
    int64_t empty_caches;
    int64_t recorded_ooms; /* oom events and failed allocs */
    /* The first of them (when recorded_ooms > 0): its 0-based position
     * among the trace's events (as every command numbers events), the bytes asked
     * and the free device memory at that moment from the event's addr, as
     * the driver (record) or PyTorch's snapshot reported it; 0 = unknown. */
    int64_t first_oom_event;
    uint64_t first_oom_requested, first_oom_free;
    /* Bytes asked and not yet freed, from the trace's alloc/free events
     * alone (no allocator involved): the floor under any config. */
    uint64_t requested_peak, requested_final;
    /* Replayed under the recorded config on the scenario's card, from its
     * start state. */
    struct gt_scenario_device card; /* the card and where it comes from */
    uint64_t device_memory;         /* the cap replayed (card.memory), 0 = unlimited */
    uint64_t peak_allocated, peak_reserved;
    int64_t simulated_ooms;
    double utilization; /* peak_reserved / device_memory; -1 when the card is unknown */
    struct gt_stats_slice slices[GT_STATS_SLICES]; /* nslices of them, as gt_stats */
    /* From the recording's own segment events (segment_alloc/free/map/unmap)
     * and its start state (initial_blocks): what the real allocator held. */
    bool has_real_segments;
    uint64_t real_reserved_peak, real_reserved_final;
    int64_t unknown_frees; /* frees of addresses never allocated (trace errors) */
};

/* The whole trace. Invariants: devices are in order of first event; every
 * device has nslices slices over the same span; 1 <= nslices <=
 * GT_STATS_SLICES (fewer only when the span has fewer than 10 ns or events). */
struct gt_peak_live;
struct gt_growth;

struct gt_stats {
    int64_t events;                  /* every event, all kinds and devices */
    int64_t first_ts_ns, last_ts_ns; /* over all events */
    bool by_index;                   /* slices count events, not ns (no time in the trace) */
    size_t nslices;
    char config[256];     /* the config replayed, as named */
    bool config_recorded; /* the trace named it (meta alloc_conf) */
    /* The trace named settings that do not parse or cannot be simulated:
     * config is then "default" and this says why. */
    char config_error[256];
    size_t ndevices;
    struct gt_stats_device *devices;
    /* Pinned host memory (host_alloc/host_free events), over all devices:
     * PyTorch's host allocator is one per process. */
    bool has_host;
    int64_t host_allocs, host_frees;
    uint64_t host_peak, host_final, host_total; /* total: every host_alloc summed */
    /* What is live at the reserved peak, by call stack (peak.h): set by
     * gt_stats_compute_with when asked for (stats --top), owned, freed by
     * gt_stats_free;
     * the writers add it (a section; "live_at_peak" in JSON, after
     * "host", as gt_peak_live_json_write writes it). */
    struct gt_peak_live *peak;
    /* Growth across iterations (growth.h), likewise for stats
     * --iterations: "iterations" in JSON, after "live_at_peak". */
    struct gt_growth *growth;
};

/* gt_stats_compute: reads the trace at path twice: once for the counts, the
 * requested bytes, host and real segment memory, once through
 * gt_inspect_run under the recorded config (meta alloc_conf; PyTorch's
 * defaults when absent, empty or not simulable, see config_error) on the
 * cards and from the start state of scn (borrowed; NULL builds one with no
 * card given). On success *out owns a new gt_stats
 * (gt_stats_free); on failure *out is NULL and errbuf names the problem.
 * Errors: those of gt_trace_open/gt_trace_read and gt_inspect_run
 * (GT_ENOENT, GT_EFOREIGN, GT_ENEWER, GT_ECORRUPT, GT_ESQL), GT_ENOMEM. */
int gt_stats_compute(const char *path, const struct gt_scenario *scn, struct gt_stats **out,
                     char *errbuf, size_t errlen);
void gt_stats_free(struct gt_stats *s); /* accepts NULL */

/* What gt_stats_compute_with adds to the stats: what is live at the peak
 * (peak.h, the peak_top largest groups; 0: all) and the growth across
 * iterations (growth.h, growth_top groups), under the stats' config. */
struct gt_stats_options {
    bool peak;
    size_t peak_top;
    bool growth;
    size_t growth_top;
};

/* gt_stats_compute_with: gt_stats_compute (o NULL: only that), with
 * s->peak and s->growth as o asks (`stats --top --iterations`). The stats'
 * replay of the recorded config is also the first replay of the peak and
 * of the growth (finding the peak, the requests of each iteration), which
 * then replay again to the point they found: three replays at most where
 * there were five. Errors: gt_stats_compute's, gt_peak_live_compute's and
 * gt_growth_compute's. */
int gt_stats_compute_with(const char *path, const struct gt_scenario *scn,
                          const struct gt_stats_options *o, struct gt_stats **out, char *errbuf,
                          size_t errlen);

/* gt_stats_compute in three steps, for a command whose one replay of the
 * recorded config serves other analyses too (gt_inspect_run_shared; the
 * report's OOM findings watch the same replay): gt_stats_begin reads the
 * trace for the counts (the first read above), puts the config to replay
 * in *conf (named as gt_stats.config will be) and the stats' callbacks and
 * scenario in *observer; the caller
 * replays conf with them; gt_stats_end takes the replay's result (0 or its
 * error, errbuf naming it) and finishes the stats into *out. On success
 * *pass is owned until gt_stats_end, which always frees it; on failure of
 * either errbuf names the problem and nothing is left to free.
 * gt_stats_compute is these around one replay, so that the stats of
 * `stats` and of `report` are the same code. */
struct gt_stats_pass;
struct gt_inspect_options;
int gt_stats_begin(const char *path, const struct gt_scenario *scn, struct gt_stats_pass **pass,
                   struct gt_conf *conf, struct gt_inspect_options *observer, char *errbuf,
                   size_t errlen);
int gt_stats_end(struct gt_stats_pass *pass, int rc, struct gt_stats **out, char *errbuf,
                 size_t errlen);

#endif
