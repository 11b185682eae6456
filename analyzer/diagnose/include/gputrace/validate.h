/* Validation of the simulator against a recording that carries the real
 * allocator's own decisions: the segment events of PyTorch snapshots (and
 * native-mode recordings), or the running totals of profiler traces. The
 * trace's requests are replayed under its recorded settings, starting from
 * its rebuilt start state, with the real segment addresses lent to the
 * simulator (docs/notes/pytorch-allocator.md §20.1) and the device cap inferred from an OOM
 * (§20.2). */
#ifndef GPUTRACE_VALIDATE_H
#define GPUTRACE_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gputrace/replay.h"

/* A segment event, real or simulated. event: position of the trace event
 * (real) or of the request being replayed (simulated) among all events. */
struct gt_validate_seg {
    int32_t kind; /* GT_EV_SEGMENT_ALLOC/FREE/MAP/UNMAP */
    uint64_t addr, size;
    int64_t event;
    /* the request it was made for (real: the next request of its device, -1
     * if none follows) */
    int64_t request;
};

struct gt_validate_device {
    int32_t device;
    int64_t requests; /* alloc/free/empty_cache/oom events replayed */
    int64_t segment_events_real;
    int64_t segment_events_sim;
    int64_t segment_events_matched; /* in order, same kind and size, before the first divergence */
    double match_fraction;          /* matched / max(real, sim) (1 when both are 0) */
    uint64_t peak_reserved_real;    /* from the start state and the real segment events */
    uint64_t peak_reserved_sim;
    int64_t first_divergence; /* index among the real segment events; -1 if none */
    bool has_real, has_sim;   /* which of real/sim exist at the divergence */
    /* which side's event there was made for the earlier request; neither
     * when both were made for the same one */
    bool sim_diverged_first, real_diverged_first;
    struct gt_validate_seg real_at, sim_at; /* the two events at the divergence */
    uint64_t cap;                   /* device cap replayed (0 = none): the scenario's card */
    struct gt_scenario_device card; /* the scenario's device (zero when it has no requests) */
    uint64_t initial_reserved, initial_allocated;
    int64_t ooms_real, ooms_sim;
    int64_t unknown_frees; /* frees of addresses neither allocated nor live at start */
    /* Traces with per-event totals (chrome): allocated bytes after each event. */
    int64_t totals_events, totals_matched;
    int64_t first_totals_mismatch; /* event position, -1 if none */
    int64_t totals_real_at, totals_sim_at;
    /* At that mismatch: the event's bytes and, for an allocation, the size of
     * the block the simulator handed out (0 for a free). */
    uint64_t totals_bytes_at, totals_block_at;
    uint64_t totals_reserved_peak_real; /* the largest Total Reserved recorded */
    /* Recordings that report their end state (snapshots): the blocks of the
     * dump against the simulator's blocks after the replay, block for block
     * (same address, size and allocated state). */
    int64_t final_blocks_real, final_blocks_matched;
    uint64_t final_mismatch_addr;             /* the first real block not reproduced */
    uint64_t final_real_size, final_sim_size; /* there; sim 0 = no block at that address */
    bool final_real_allocated, final_sim_allocated;
};

struct gt_validation {
    char alloc_conf[256]; /* the settings replayed */
    bool conf_recorded;   /* false: the trace does not say; default assumed */
    size_t ndevices;
    struct gt_validate_device devices[GT_REPLAY_MAX_DEVICES];
};

/* gt_validate_trace: replays and compares (see above) on the cards and from
 * the start state of scn (scenario.h; borrowed; NULL builds one with no card
 * given). *out is caller-owned
 * (free()). Errors: those of gt_trace_open/read; GT_EUNSUPPORTED when the
 * recorded settings cannot be simulated; GT_ENOMEM. A trace with neither
 * segment events nor totals validates to zero counts, not an error. */
int gt_validate_trace(const char *path, const struct gt_scenario *scn, struct gt_validation **out,
                      char *errbuf, size_t errlen);

#endif
