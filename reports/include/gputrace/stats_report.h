/* The writers of `stats`: a table for people and a JSON document. */
#ifndef GPUTRACE_STATS_REPORT_H
#define GPUTRACE_STATS_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "gputrace/stats.h"

/* gt_stats_table_write: the stats for people, a paragraph per device with
 * its timeline. gt_stats_json_write: one JSON object
 *   {"trace", "events", "duration_seconds", "config", "config_recorded",
 *    "config_error", "devices": [{"device", "name", "total_memory_bytes",
 *    "events", "duration_seconds", "allocs", "frees", "empty_caches",
 *    "recorded_ooms", "first_recorded_oom" (null or {"event", "requested_bytes",
 *    "free_bytes" (null when unknown)}), "requested_peak_bytes", "requested_final_bytes",
 *    "device_memory_bytes", "peak_allocated_bytes", "peak_reserved_bytes",
 *    "simulated_ooms", "utilization", "real_reserved_peak_bytes",
 *    "real_reserved_final_bytes", "unknown_frees", "timeline": [{"start",
 *    "end", "allocated_max_bytes", "reserved_max_bytes"}]}],
 *    "timeline_unit", "host"}
 * where unknown values are null (total memory, utilization, device memory,
 * real reserved without segment events, host without host events) and
 * timeline_unit is "seconds" or "events". Both return 0, or GT_EIO when f
 * reports a write error; text from the trace is cleaned (table) or escaped
 * (JSON). The caller keeps ownership of f, trace_path and s. */
int gt_stats_table_write(FILE *f, const char *trace_path, const struct gt_stats *s);
int gt_stats_json_write(FILE *f, const char *trace_path, const struct gt_stats *s);

/* gt_stats_seconds: last_ns - first_ns in seconds, without overflow for any
 * int64 timestamps (they come from files). */
double gt_stats_seconds(int64_t first_ns, int64_t last_ns);

/* gt_stats_time_unit: the unit that shows the slices of s readably: "s",
 * "ms" or "us" by the trace's span (*per_unit: the nanoseconds in one), or
 * "events" when the slices count events (*per_unit 1). */
const char *gt_stats_time_unit(const struct gt_stats *s, double *per_unit);

#endif
