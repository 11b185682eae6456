/* Shared by the files of cli/: the subcommands and the helpers that print
 * messages with git's grammar. Only cli/ prints and picks exit codes. */
#ifndef GPUTRACE_CLI_INT_H
#define GPUTRACE_CLI_INT_H

#include <stdbool.h>
#include <stdint.h>

#define CLI_EXIT_OK 0
#define CLI_EXIT_ERROR 1 /* an operational error: bad file, bad value */
#define CLI_EXIT_USAGE 2 /* unknown command or option, missing argument */

#if defined(__GNUC__)
#define CLI_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#else
#define CLI_PRINTF(fmt, args)
#endif

/* One subcommand: argv[0] is its name; returns the exit code. */
int cmd_analyze(int argc, char **argv);
int cmd_export(int argc, char **argv);
int cmd_import(int argc, char **argv);
int cmd_oom(int argc, char **argv);
int cmd_plot(int argc, char **argv);
int cmd_record(int argc, char **argv);
int cmd_report(int argc, char **argv);
int cmd_sql(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_validate(int argc, char **argv);

/* cli_parse_device_memory: --device-memory's value (8GiB, 8G, bytes; more
 * than 0) into *out; 0, or CLI_EXIT_ERROR after printing the error line. */
int cli_parse_device_memory(const char *text, uint64_t *out);

/* cli_parse_threads: --threads' value (0 = one per CPU, up to
 * CLI_MAX_THREADS) into *out; 0, or CLI_EXIT_ERROR after printing the
 * error line. */
#define CLI_MAX_THREADS 4096
int cli_parse_threads(const char *text, int *out);

struct gt_analysis;
struct gt_scenario;

/* cli_start_exceeds_card: the checks of a scenario before any replay: prints
 * the verdict for every device whose memory live before the first event
 * already exceeds its card (true then: nothing is replayed), a warning where
 * only the cached part does, and one where several processes share a device
 * ordinal (they would be replayed as one allocator). */
bool cli_start_exceeds_card(const char *trace, const struct gt_scenario *scn);

/* cli_scenario_open: the scenario of trace (gt_scenario_build) on the card
 * given (0: the one the trace reveals), then cli_start_exceeds_card's
 * checks. 0 with *out owned by the caller, or CLI_EXIT_ERROR after the
 * error line or the verdict, with *out NULL. The first step of every
 * command that replays. */
int cli_scenario_open(const char *trace, uint64_t device_memory, struct gt_scenario **out);

/* cli_trace_error: the error line for a failed analysis of trace: "cannot
 * read" for a file that cannot be read, "cannot analyze" for a trace that
 * can be read but not replayed; err is the detail (may be ""). */
void cli_trace_error(const char *trace, int rc, const char *err);

/* cli_error, cli_warning: one line "gpu-trace: error: <message>" on stderr,
 * with control characters of the message replaced by '?'. */
void cli_error(const char *fmt, ...) CLI_PRINTF(1, 2);
void cli_warning(const char *fmt, ...) CLI_PRINTF(1, 2);

/* cli_usage_error: prints the error line and a hint naming `gpu-trace cmd
 * --help`; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) CLI_PRINTF(2, 3);

/* cli_trace_operand: the one TRACE operand of `gpu-trace cmd` after its
 * options (argv[optind]). Returns 0, or the usage error's exit code after
 * saying that it is missing or that another operand follows. */
int cli_trace_operand(const char *cmd, int argc, char **argv, const char **trace);

/* cli_option_error: the usage error for what getopt_long returned ('?' for
 * an unknown option, ':' for a missing argument; the optstring must start
 * with ':'). Returns CLI_EXIT_USAGE. */
int cli_option_error(const char *cmd, int c, char **argv);

/* A progress bar on stderr for long work, drawn only when stderr is a
 * terminal ("analyzing: [####    ]  40%"); nothing otherwise. */
struct cli_progress {
    const char *label;
    int shown; /* last percentage drawn, -1 before the first */
};
/* cli_progress_start: readies p; true when the bar should be drawn, i.e.
 * cli_progress_draw should be given to the work as its callback. */
bool cli_progress_start(struct cli_progress *p, const char *label);
/* cli_progress_draw: the callback (ctx is the cli_progress); redraws only
 * when the percentage changes. */
void cli_progress_draw(void *ctx, int64_t done, int64_t total);
/* cli_progress_clear: erases the bar if one was drawn. */
void cli_progress_clear(const struct cli_progress *p);

#endif
