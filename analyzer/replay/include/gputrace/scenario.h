/* The scenario of a trace: what every command replays against, computed once
 * per invocation and passed down, so that analyze, oom, plot, report, stats
 * and validate answer from the same facts. Per device: the card (its size and
 * where that size came from), the start state (the memory live before the
 * first event, rebuilt by the importer) and the process that used it; for
 * the trace: the settings it was recorded under.
 *
 * Every config replays from the same start state: as if the settings were
 * switched at the first event (torch.cuda.memory._set_allocator_settings),
 * the segments already cached stay, because that is the memory the program
 * held when the recording began. */
#ifndef GPUTRACE_SCENARIO_H
#define GPUTRACE_SCENARIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gputrace/sim.h"
#include "gputrace/trace.h"

#define GT_SCENARIO_MAX_DEVICES 64

/* Where a device's card size comes from, strongest first. */
enum gt_card_source {
    GT_CARD_NONE = 0, /* nothing says: replayed without a cap */
    GT_CARD_GIVEN,    /* --device-memory */
    GT_CARD_RECORDED, /* the card's total memory the tracer recorded */
    GT_CARD_OOM,      /* reserved + free device memory at a recorded OOM: exact */
    GT_CARD_RETRY,    /* bounded by a release-and-retry (a value inside the bounds) */
};

/* One device. Invariants: memory is 0 exactly when source is GT_CARD_NONE;
 * for GT_CARD_RETRY, retry_low <= memory <= retry_high; the start state is
 * blocks[first_block .. first_block + nblocks) of the scenario. */
struct gt_scenario_device {
    int32_t device;
    char name[128];          /* the card's name from the trace, or "" */
    uint64_t recorded_total; /* the card's memory from the trace, 0 = unknown */
    uint64_t memory;         /* the card replayed; 0 = unlimited */
    enum gt_card_source source;
    int64_t source_event; /* oom, retry: the event that revealed the card; else -1 */
    /* retry: the card holds the largest reserved memory that succeeded and is
     * below the smallest reserved + request that failed */
    uint64_t retry_low, retry_high;
    uint64_t start_allocated, start_reserved; /* live before the first event */
    /* reserved in segments that hold a live block: what no release can
     * shed, the least card the start state fits on */
    uint64_t start_pinned;
    size_t start_segments;
    /* the start state was not recorded but rebuilt from a profiler window's
     * totals at its first event (a warm allocator): see docs/validation.md */
    bool start_inferred;
    int64_t requests; /* alloc, free, empty_cache and oom events */
    int64_t pid;      /* the process of its first request */
    /* requests of other processes on the same ordinal (each rank seeing
     * its GPU as device 0): replayed with this one's, as one allocator */
    int64_t other_process_requests;
    size_t first_block, nblocks;
};

struct gt_scenario {
    int64_t events; /* every event of the trace */
    /* devices with requests, in the order of their first request: the order
     * of every command's output */
    size_t ndevices;
    struct gt_scenario_device devices[GT_SCENARIO_MAX_DEVICES];
    /* the start state of every device, in (device, addr) order */
    struct gt_initial_block *blocks;
    size_t nblocks;
    char recorded_conf[256]; /* meta alloc_conf, or "" */
    bool has_recorded_conf;
    int64_t too_many_devices; /* events of devices past the first 64, not replayed */
};

/* gt_scenario_build: reads the trace at path once and decides each device's
 * card: given (device_memory > 0) > recorded > oom > retry > none. On success
 * *out owns a new scenario (gt_scenario_free). Errors: those of
 * gt_trace_open/gt_trace_read (errbuf names the problem), GT_ENOMEM. */
int gt_scenario_build(const char *path, uint64_t device_memory, struct gt_scenario **out,
                      char *errbuf, size_t errlen);
void gt_scenario_free(struct gt_scenario *s); /* accepts NULL */

/* gt_scenario_find: the device of that ordinal, or NULL. */
const struct gt_scenario_device *gt_scenario_find(const struct gt_scenario *s, int32_t device);

/* gt_scenario_source_name: "given", "recorded", "oom", "retry" or "none", the
 * words of the JSON outputs. */
const char *gt_scenario_source_name(enum gt_card_source src);

/* gt_scenario_card_line: the card in words, for every output: "39.38 GiB,
 * inferred from the out-of-memory at event 1234", "unlimited (the trace does
 * not say which card; pass --device-memory)". Returns buf. */
char *gt_scenario_card_line(const struct gt_scenario_device *d, char *buf, size_t len);

/* gt_scenario_preload: puts device d's start state into sim. Caching
 * configs get the segments as they were, block for block; nocache (no cache
 * to hold them) gets one allocation per live block. When that holds more
 * than limit (the sim's cap; 0 = none), the free segments are released as
 * empty_cache() would: on that card they could not have been cached. on_live
 * (may be NULL) is called for every live block with its handle. Returns 0,
 * or an error of the simulator (GT_EINVAL: blocks that do not tile a
 * segment) or GT_ENOMEM. */
int gt_scenario_preload(const struct gt_scenario *s, const struct gt_scenario_device *d,
                        struct gt_sim *sim, bool no_caching, uint64_t limit,
                        void (*on_live)(void *ctx, const struct gt_initial_block *b,
                                        gt_sim_handle h),
                        void *ctx);

/* gt_scenario_start_words: how device d's start state was obtained, for
 * every output's "start:" line: "rebuilt" (from a snapshot's end state) or
 * "rebuilt from the first event's totals" (a profiler window). */
const char *gt_scenario_start_words(const struct gt_scenario_device *d);

/* gt_scenario_sim_options: the simulator options of device d's card: the
 * cap, and the total memory that per_process_memory_fraction and the
 * expandable VA reservation divide. */
struct gt_sim_options gt_scenario_sim_options(const struct gt_scenario_device *d);

/* gt_scenario_each_event: calls fn for every event r reads from where it
 * stands, with the event's index counted from there, until fn returns
 * non-zero (returned as it is) or the trace ends; *count (may be NULL)
 * gets the number of events read. Both passes over a trace read through
 * it, so they stop at the same damage. 0, GT_ENOMEM, fn's error, or an
 * error of the reader (errbuf says which). */
int gt_scenario_each_event(struct gt_trace_reader *r,
                           int (*fn)(void *ctx, const struct gt_event *ev, int64_t index),
                           void *ctx, int64_t *count, char *errbuf, size_t errlen);

#endif
