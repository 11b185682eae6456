/* Reports of an analysis (replay.h) as a table for people, JSON and CSV for
 * scripts: the answer `gpu-trace analyze` prints.
 *
 * Every writer prints the results of each device in rank order, never
 * prints anything but its report to f, and returns 0, or GT_EIO when f
 * reports a write error (ferror). The caller keeps ownership of f, of the
 * path and of the analysis. Text that comes from a trace or from the
 * command line (the path, device names, config strings) is printed with
 * control characters replaced (table, CSV) or escaped (JSON). */
#ifndef GPUTRACE_REPORT_H
#define GPUTRACE_REPORT_H

#include <stddef.h>
#include <stdio.h>

#include "gputrace/replay.h"

/* gt_report_table_write: per device, a header line (trace, events, device,
 * the device memory replayed), one row per config in rank order, then the
 * recommendation (gt_replay_best) with the lines that set it in bash and
 * PowerShell. When no caching config fits the device memory it says so
 * instead of recommending one. */
int gt_report_table_write(FILE *f, const char *trace_path, const struct gt_analysis *a);

/* gt_report_table_write_fit: as gt_report_table_write; uncapped (may be NULL)
 * is the same trace and configs replayed without a device-memory cap. When
 * no config fits, the table then says how far the smallest peak reserved
 * of a caching config exceeds the device memory. */
int gt_report_table_write_fit(FILE *f, const char *trace_path, const struct gt_analysis *a,
                              const struct gt_analysis *uncapped);

/* gt_report_json_write: one JSON object,
 *   {"trace", "events", "device_memory_bytes", "results": [...], "devices": [...]}
 * where every result has "config", "rank", "device", "peak_reserved_bytes",
 * "peak_allocated_bytes", "fragmentation_at_peak", "unallocated_at_peak_bytes",
 * "num_device_alloc", "num_device_free", "num_alloc_retries", "num_ooms",
 * "first_oom_event" (null when none). device_memory_bytes is null when
 * unlimited. "devices" has one entry per device ({"device", "name",
 * "device_memory_bytes", "events", "recommended", "results"}); the top-level
 * "device_memory_bytes" and "results" are present only when the trace has
 * exactly one device. */
int gt_report_json_write(FILE *f, const char *trace_path, const struct gt_analysis *a);

/* gt_report_csv_write: RFC 4180 CSV (LF line ends), one row per device and
 * config in rank order under the header
 *   device,rank,config,peak_reserved_bytes,peak_allocated_bytes,
 *   fragmentation_at_peak,unallocated_at_peak_bytes,num_device_alloc,
 *   num_device_free,num_alloc_retries,num_ooms,first_oom_event
 * config is always quoted; first_oom_event is empty when none. trace_path
 * is unused (kept for a uniform signature). */
int gt_report_csv_write(FILE *f, const char *trace_path, const struct gt_analysis *a);

/* gt_report_clean: copies text into buf (always NUL-terminated, truncated to
 * len - 1 bytes) with every control character (< 0x20, 0x7f) replaced by
 * '?', so that text from traces and arguments cannot move the terminal's
 * cursor or forge lines. Returns buf. */
char *gt_report_clean(const char *text, char *buf, size_t len);

#endif
