/* Replay of one config with full visibility, for the commands that explain
 * rather than rank (oom, plot, stats, report): after every request the
 * caller sees the simulator (its stats, segments and free blocks) and the
 * live allocations with the trace event that made each (for its frames).
 * Single-threaded and streaming: memory is bounded by the live allocations. */
#ifndef GPUTRACE_INSPECT_H
#define GPUTRACE_INSPECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gputrace/conf.h"
#include "gputrace/scenario.h"
#include "gputrace/sim.h"

struct gt_inspect;

/* A request just replayed. */
struct gt_inspect_event {
    int64_t index; /* 0-based position among all the trace's events */
    int64_t seq;   /* the event's seq (for gt_trace_stack) */
    int64_t ts_ns;
    int32_t device;
    int32_t kind; /* GT_EV_ALLOC, GT_EV_FREE, GT_EV_EMPTY_CACHE or GT_EV_OOM */
    uint64_t stream;
    uint64_t requested; /* bytes asked (alloc, oom) or freed (free) */
    /* 0, or GT_EOOM when this config could not serve the request (a recorded
     * OOM that this config also fails counts here too). */
    int result;
    /* The simulated block the request made or freed (0: none, e.g. a free
     * of an address the replay does not know) and the bytes its allocation
     * asked for: what a snapshot of the simulated run names. A request the
     * recording did not get but this config served (a probe) names the
     * block it was given and freed at once. */
    uint64_t sim_addr;
    uint64_t sim_requested;
    /* free_requested: the simulated block waits for other streams
     * (active_pending_free) rather than being freed at once */
    bool sim_pending;
    bool recorded_oom;        /* the recording itself failed here (oom event or failed alloc) */
    uint64_t recorded_free;   /* then: the device's free memory the recording kept, 0 unknown */
    const struct gt_sim *sim; /* the device's simulator, after the request */
};

/* A live allocation, as gt_inspect_live lists them. */
struct gt_inspect_alloc {
    uint64_t addr;      /* the trace's address */
    uint64_t requested; /* bytes asked */
    uint64_t block;     /* the simulated block's size */
    uint64_t sim_addr;  /* and its address in the simulator */
    uint64_t stream;
    int64_t seq;   /* the alloc event's seq: frames via gt_trace_stack */
    int64_t index; /* and its position among the trace's events */
    int64_t ts_ns;
};

struct gt_inspect_options {
    /* The trace's cards and start state (scenario.h); NULL builds one with
     * no card given. Borrowed for the call. */
    const struct gt_scenario *scenario;
    /* Called after every request; a non-zero return stops the replay and is
     * returned by gt_inspect_run. */
    int (*on_event)(void *ctx, struct gt_inspect *in, const struct gt_inspect_event *ev);
    /* Called once after the last request when the replay succeeded, with
     * the state at the end; its non-zero return is returned. May be NULL. */
    int (*on_end)(void *ctx, struct gt_inspect *in);
    /* Called for every segment event of the simulated allocator (cudaMalloc,
     * cudaFree, map, unmap), before the on_event of the request that made
     * it; releases of a start state too big for the card come before the
     * first request. May be NULL. */
    void (*on_segment)(void *ctx, int32_t device, enum gt_sim_seg_event ev, uint64_t addr,
                       uint64_t size, uint64_t stream);
    void *ctx;
};

/* gt_inspect_run: replays the trace at path under conf, starting from its
 * recorded start state when it has one (snapshots), calling on_event after
 * each request. Errors: those of gt_trace_open/read (errbuf names the
 * problem), GT_EUNSUPPORTED (a config the simulator cannot run), GT_ENOMEM,
 * or the callback's non-zero value. */
int gt_inspect_run(const char *path, const struct gt_conf *conf,
                   const struct gt_inspect_options *opts, char *errbuf, size_t errlen);

/* gt_inspect_run_shared: one replay of the trace at path under conf, from
 * the start state of scn (borrowed; NULL builds one with no card given),
 * that n observers watch: each through the callbacks and ctx of its own
 * options (their scenario is not used), in the order given, after every
 * request. One replay serves the analyses a command needs of one config
 * (the report's stats and OOM findings), so their numbers come from the
 * same run and the trace is read once. An observer whose callback fails
 * keeps its error in rcs[i] (n entries, set to 0 first) and sees no more of
 * the replay; the others go on, and the replay stops only when none is
 * left. Returns the replay's own error (those of gt_inspect_run, errbuf
 * names it) or, when every observer failed, the last of theirs; 0
 * otherwise. */
int gt_inspect_run_shared(const char *path, const struct gt_conf *conf,
                          const struct gt_scenario *scn,
                          const struct gt_inspect_options *const *observers, int *rcs, size_t n,
                          char *errbuf, size_t errlen);

/* gt_inspect_runs: the replays gt_inspect_run and gt_inspect_run_shared
 * have started in this process, so that a test can hold a command to
 * replaying a config once. */
long gt_inspect_runs(void);

/* gt_inspect_live: calls fn for every live allocation of device, in no
 * particular order (callers sort); only valid inside on_event. */
void gt_inspect_live(const struct gt_inspect *in, int32_t device,
                     void (*fn)(void *ctx, const struct gt_inspect_alloc *a), void *ctx);
/* gt_inspect_pending: the same for the allocations freed while other
 * streams still used them (record_stream) whose free has not completed. */
void gt_inspect_pending(const struct gt_inspect *in, int32_t device,
                        void (*fn)(void *ctx, const struct gt_inspect_alloc *a), void *ctx);
/* gt_inspect_sim: device's simulator, or NULL; only valid inside the
 * callbacks. */
const struct gt_sim *gt_inspect_sim(const struct gt_inspect *in, int32_t device);
/* gt_inspect_device_memory: the cap replayed for device (0 = unlimited). */
uint64_t gt_inspect_device_memory(const struct gt_inspect *in, int32_t device);

#endif
