/* Export of a trace as a PyTorch memory snapshot: the dict that
 * torch.cuda.memory._snapshot() returns and _dump_snapshot pickles
 * (segments with their blocks, device_traces, allocator_settings), so
 * that pytorch.org/memory_viz and torch.cuda._memory_viz draw it. Either
 * the run as recorded, or the run gpu-trace simulates under another
 * allocator config: what the viewer then shows is the prediction. */
#ifndef GPUTRACE_EXPORT_H
#define GPUTRACE_EXPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gputrace/conf.h"
#include "gputrace/scenario.h"

struct gt_export_options {
    const struct gt_scenario *scenario; /* the trace's (cards, start state); borrowed */
    /* NULL: the recorded run (its events and the end state it recorded);
     * otherwise the run replayed under this config from the scenario's
     * start state, on its cards. */
    const struct gt_conf *conf;
};

struct gt_export_result {
    int64_t entries; /* trace entries written, all devices */
    size_t segments; /* segments in the end state */
    size_t devices;  /* devices with a trace */
    /* the recorded run of a trace that records no end state (a CUPTI
     * recording, a profiler trace): segments is empty, the viewers draw
     * the timeline from the trace entries alone */
    bool end_state_missing;
};

/* gt_export_snapshot: writes the snapshot of trace_path to out_path as a
 * pickle (protocol 2), whole or not at all (files.h: never over the trace
 * or anything but a regular file). Memory is bounded by the live
 * allocations, not the trace: the trace is read once per device with
 * events, plus once for the end state.
 * Errors: those of gt_trace_open/gt_trace_read and the replay (errbuf names
 * the problem); GT_EUNSUPPORTED for nocache (no cache to draw) or a device
 * ordinal past 1023 (a snapshot lists devices by position); GT_EIO with
 * "cannot write ..." in errbuf; GT_ENOMEM. res may be NULL. */
int gt_export_snapshot(const char *trace_path, const char *out_path,
                       const struct gt_export_options *opts, struct gt_export_result *res,
                       char *errbuf, size_t errlen);

/* The most configs one timeline compares (each is one replay). */
#define GT_EXPORT_MAX_CONFIGS 64

/* gt_export_perfetto: writes the memory of trace_path over time under each
 * of the nconfigs configs as Chrome trace-event JSON, which
 * ui.perfetto.dev and chrome://tracing open, whole or not at all (as
 * gt_export_snapshot). Per device: one process of counter tracks
 * "reserved (CONFIG)", one per config, for comparing them on one time
 * axis; and per config a process with its "allocated" and "reserved"
 * counters and an instant event at each out-of-memory error. The values are
 * those every command replays (inspect.h: the scenario's start state and
 * cards); a counter is written when its value changes. res->entries counts
 * the trace events written, res->devices the devices. Errors as
 * gt_export_snapshot's (nocache is accepted here: it has a timeline), and
 * GT_EINVAL for no config or more than GT_EXPORT_MAX_CONFIGS. */
int gt_export_perfetto(const char *trace_path, const char *out_path,
                       const struct gt_scenario *scenario, const struct gt_conf *configs,
                       size_t nconfigs, struct gt_export_result *res, char *errbuf, size_t errlen);

#endif
