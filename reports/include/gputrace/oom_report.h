/* The writers of `oom`: the report on a replayed OOM and on an OOM message,
 * each as sentences for people and as a JSON document. */
#ifndef GPUTRACE_OOM_REPORT_H
#define GPUTRACE_OOM_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "gputrace/oom.h"
#include "gputrace/oom_message.h"

/* gt_oom_table_write: the report in sentences a person acts on, one
 * paragraph per detailed OOM; "no OOM with <config> on <capacity>" when there
 * is none. gt_oom_json_write: one JSON object
 *   {"trace", "device_memory_bytes", "config", "config_recorded",
 *    "memory_fraction", "ooms": [{"event", "device",
 *    "recorded", "after_first", "recorded_free_bytes" (null unless the
 *    recording kept it), "requested_bytes", "tried_to_allocate_bytes",
 *    "capacity_bytes", "allocated_bytes", "reserved_bytes",
 *    "reserved_unallocated_bytes", "largest_free_block_bytes", "verdict",
 *    "need_bytes", "shrink_needed_bytes", "shrink_needed_fraction",
 *    "top_allocations": [{"size_bytes", "block_bytes", "event", "age_events",
 *    "age_ns", "stream", "frames": [{"file", "line", "function"}]}],
 *    "top_stacks": [{"count", "requested_bytes", "block_bytes", "origin",
 *    "frames"}] (the live allocations by call stack, peak.h),
 *    "avoided_by": [{"config", "margin_bytes", "peak_reserved_bytes"}],
 *    "gets_past": [{"config", "first_oom_event"}]}],
 *    "ooms_total", "recorded_ooms", "recorded_served"}
 * (null for unlimited sizes). Both return 0, or GT_EIO when f reports a
 * write error; text from the trace is cleaned (table) or escaped (JSON).
 * The caller keeps ownership of f, trace_path and r. */
int gt_oom_table_write(FILE *f, const char *trace_path, const struct gt_oom_report *r);
int gt_oom_json_write(FILE *f, const char *trace_path, const struct gt_oom_report *r);

/* gt_oom_message_table_write / _json_write: the numbers, the verdict, why
 * and what to do next. 0 or GT_EIO. */
int gt_oom_message_table_write(FILE *f, const char *source, const struct gt_oom_message *m);
int gt_oom_message_json_write(FILE *f, const char *source, const struct gt_oom_message *m);

#endif
