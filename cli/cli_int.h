/* Shared by the files of cli/: the subcommands and the helpers that print
 * messages with git's grammar. Only cli/ prints and picks exit codes. */
#ifndef GPUTRACE_CLI_INT_H
#define GPUTRACE_CLI_INT_H

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
int cmd_import(int argc, char **argv);
int cmd_oom(int argc, char **argv);

/* cli_error, cli_warning: one line "gpu-trace: error: <message>" on stderr,
 * with control characters of the message replaced by '?'. */
void cli_error(const char *fmt, ...) CLI_PRINTF(1, 2);
void cli_warning(const char *fmt, ...) CLI_PRINTF(1, 2);

/* cli_usage_error: prints the error line and a hint naming `gpu-trace cmd
 * --help`; returns CLI_EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...) CLI_PRINTF(2, 3);

/* cli_option_error: the usage error for what getopt_long returned ('?' for
 * an unknown option, ':' for a missing argument; the optstring must start
 * with ':'). Returns CLI_EXIT_USAGE. */
int cli_option_error(const char *cmd, int c, char **argv);

#endif
