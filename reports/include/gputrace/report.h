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

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "gputrace/replay.h"

/* One trace of a job as analysed: its path, the replay of the configs on
 * its scenario, optionally the same configs replayed without a cap (for
 * "the peak must shrink by") and the smallest card of each config
 * (gt_replay_fit's array: a "fits from" column). */
struct gt_report_trace {
    const char *path;
    const struct gt_analysis *a;
    const struct gt_analysis *uncapped; /* may be NULL */
    const uint64_t *fit;                /* may be NULL */
    bool many;                          /* set by the CSV writer: one of several traces */
};

/* Which devices a recommendation is for: those of one trace (or every
 * trace: GT_REPORT_ALL), and of one process or all. */
#define GT_REPORT_ALL SIZE_MAX
struct gt_report_scope {
    size_t trace;
    bool one_process;
    int64_t pid;
};

/* The recommendation: the config and its result on the scope's worst device. */
struct gt_report_pick {
    char config[320];
    const struct gt_replay_result *worst;
};

/* gt_report_recommend: PYTORCH_CUDA_ALLOC_CONF is one per process, so a
 * recommendation is the caching config best on the scope's worst device: it
 * runs every device of the scope without an OOM, then the lowest peak
 * reserved on the worst of them, lower fragmentation, fewer device calls.
 * Configs are matched by name across traces. false (and *out zeroed) when
 * every caching config runs out of memory somewhere: a failing config is
 * never recommended. */
bool gt_report_recommend(const struct gt_report_trace *t, size_t n,
                         const struct gt_report_scope *scope, struct gt_report_pick *out);

/* gt_report_export_line: the bash line that sets config ("unset ..." for
 * default), into buf. */
void gt_report_export_line(const char *config, char *buf, size_t len);

/* gt_report_fit_of: the smallest card of config index c on device index d
 * of t, 0 when unknown or none. */
uint64_t gt_report_fit_of(const struct gt_report_trace *t, size_t c, size_t d);

/* gt_report_table_write_job, gt_report_json_write_job,
 * gt_report_csv_write_job: the reports of n traces analysed together (one
 * job: a node or rank each). The table: per device a header (trace, events,
 * device, requests, the card line and the start state), the rows in rank
 * order; with one trace a recommendation per process, with several one for
 * the job. JSON:
 *   {"trace", ["traces" when several,] "events", "recommended": {"config",
 *    "export"} | null, "devices": [{"device", ["trace",] "name",
 *    "memory_bytes", "memory_source", "memory_source_event",
 *    "start_allocated_bytes", "start_reserved_bytes", "requests", "pid",
 *    "results": [...]}]}
 * with results as gt_report_json_write's (plus "min_device_memory_bytes"
 * with a fit). CSV: the header below, plus min_device_memory_bytes with a
 * fit and trace with several traces. */
int gt_report_table_write_job(FILE *f, const struct gt_report_trace *t, size_t n);
int gt_report_json_write_job(FILE *f, const struct gt_report_trace *t, size_t n);
int gt_report_csv_write_job(FILE *f, const struct gt_report_trace *t, size_t n);

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

/* gt_report_json_write: gt_report_json_write_job of one trace, where every
 * result has "config", "rank", "device", "peak_reserved_bytes",
 * "peak_allocated_bytes", "fragmentation_at_peak", "unallocated_at_peak_bytes",
 * "num_device_alloc", "num_device_free", "num_alloc_retries", "num_ooms",
 * "first_oom_event" (null when none); memory_bytes is null when unlimited. */
int gt_report_json_write(FILE *f, const char *trace_path, const struct gt_analysis *a);

/* When gt_report_csv_field quotes: always (the reports' text columns),
 * only when RFC 4180 needs it (`sql`'s CSV), or never (`sql --list`, the
 * sqlite3 shell's list mode). */
enum gt_report_csv_quote { GT_CSV_QUOTE_ALWAYS, GT_CSV_QUOTE_NEEDED, GT_CSV_QUOTE_NEVER };

/* gt_report_csv_field: text as one CSV field: quoted as q says, a double
 * quote doubled inside quotes, tab and newline kept (a quoted field may
 * hold them) and every other control character shown as gt_text_shown
 * shows it, so that text from a trace cannot forge rows or move the
 * terminal's cursor. */
void gt_report_csv_field(FILE *f, const char *text, enum gt_report_csv_quote q);

/* gt_report_csv_write: RFC 4180 CSV (LF line ends), one row per device and
 * config in rank order under the header
 *   device,rank,config,peak_reserved_bytes,peak_allocated_bytes,
 *   fragmentation_at_peak,unallocated_at_peak_bytes,num_device_alloc,
 *   num_device_free,num_alloc_retries,num_ooms,first_oom_event,same_run_as
 * config and same_run_as (gt_report_same_run_as) are quoted; first_oom_event
 * and same_run_as are empty when none. trace_path is unused (kept for a
 * uniform signature). */
int gt_report_csv_write(FILE *f, const char *trace_path, const struct gt_analysis *a);

/* gt_report_config_name: the name a result's config goes by in every
 * report ("default" for no settings). */
const char *gt_report_config_name(const struct gt_analysis *a, const struct gt_replay_result *r);
/* gt_report_result_of: config c's result on device index d (the results
 * may be in rank order), or NULL. */
const struct gt_replay_result *gt_report_result_of(const struct gt_analysis *a, size_t d, size_t c);
/* gt_report_same_run_as: the result (of device index d) whose run r's was
 * to the end (replay.h: same_run_as), or NULL when r's was its own. */
const struct gt_replay_result *gt_report_same_run_as(const struct gt_analysis *a, size_t d,
                                                     const struct gt_replay_result *r);
/* gt_report_write_same_runs: for each result of device d whose run others'
 * were, in rank order, the sentences every format shows: lead, "X and Y ran
 * exactly as Z: no request reached their max_split_size" (or, for configs
 * that split any size, ": the same settings"), tail; each config name
 * through put_name (which cleans or escapes it). */
void gt_report_write_same_runs(FILE *f, const struct gt_analysis *a, size_t d, const char *lead,
                               const char *tail, void (*put_name)(FILE *f, const char *name));
/* gt_report_is_recorded: true when r replays the settings the trace was
 * recorded with. */
bool gt_report_is_recorded(const struct gt_analysis *a, const struct gt_replay_result *r);
/* gt_report_default_result: the default's result on device index d, or
 * NULL when the sweep has no default. */
const struct gt_replay_result *gt_report_default_result(const struct gt_analysis *a, size_t d);
/* gt_report_vs_default: how `best` compares with the default on its
 * device, as the recommendation says it: "; default runs out of memory N
 * times", ", -2.0% peak reserved vs default", or "" (no default, or no
 * peak to compare), into buf[len]. */
void gt_report_vs_default(const struct gt_analysis *a, const struct gt_replay_result *best,
                          char *buf, size_t len);

/* gt_report_json_string: text as a JSON string, quoted, with '"', '\\' and
 * every control character escaped. The one JSON string writer. */
void gt_report_json_string(FILE *f, const char *text);

/* gt_report_shell_safe: true when text needs no quoting in bash and POSIX
 * shells: it holds only letters, digits and _:,./- . */
bool gt_report_shell_safe(const char *text);

/* gt_report_shell_word: text as one word for bash and POSIX shells: as it
 * is when gt_report_shell_safe (and not empty), else in single quotes, each
 * ' written '\''. */
void gt_report_shell_word(FILE *f, const char *text);

#endif
