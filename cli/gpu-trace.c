/* gpu-trace: main(), the subcommand table and the message helpers.
 *
 * Every subcommand is `int cmd_x(int argc, char **argv)` with its own
 * options; main only dispatches, and checks that stdout reached its
 * destination before it reports success. */
#include "cli_int.h"
#include "gputrace/report.h"
#include "gputrace/text.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "gputrace/banned.h"

struct command {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
};

static const struct command commands[] = {
    {"analyze", cmd_analyze, "replay a trace under allocator configs and rank them"},
    {"export", cmd_export, "write a trace as a PyTorch memory snapshot for memory_viz"},
    {"import", cmd_import, "convert a CSV, profiler trace or memory snapshot into a trace"},
    {"oom", cmd_oom, "explain each out-of-memory error and the settings that avoid it"},
    {"plot", cmd_plot, "draw split-size, timeline, request-size and segment plots"},
    {"record", cmd_record, "run a program and record its GPU memory allocations"},
    {"report", cmd_report, "write a one-file HTML report: summary, ranking, plots, OOMs"},
    {"sql", cmd_sql, "run SQL on a trace, with one row per event in `events`"},
    {"stats", cmd_stats, "summarize a trace: peaks, utilization, memory over time"},
    {"validate", cmd_validate, "compare the simulator with the real allocator of a recording"},
};

#define NCOMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    fputs("Usage: gpu-trace <command> [<args>]\n"
          "       gpu-trace help [<command>]\n"
          "       gpu-trace --help | --version\n"
          "\n"
          "Replays GPU allocation traces against a simulation of PyTorch's CUDA caching\n"
          "allocator and ranks PYTORCH_CUDA_ALLOC_CONF settings.\n"
          "\n"
          "Commands:\n",
          f);
    for (size_t i = 0; i < NCOMMANDS; i++)
        fprintf(f, "  %-9s %s\n", commands[i].name, commands[i].summary);
    fputs("  help      show this help, or the help of a command\n"
          "\n"
          "Options:\n"
          "  -h, --help     show this help and exit\n"
          "  -V, --version  print the version and exit\n"
          "\n"
          "EXAMPLES\n"
          "  gpu-trace import events.csv -o run.db\n"
          "  gpu-trace analyze run.db --device-memory 8GiB\n"
          "  gpu-trace help analyze\n",
          f);
}

static void vmessage(const char *kind, const char *fmt, va_list ap) CLI_PRINTF(2, 0);

static void vmessage(const char *kind, const char *fmt, va_list ap)
{
    char msg[1024], clean[1024];

    vsnprintf(msg, sizeof msg, fmt, ap);
    fprintf(stderr, "gpu-trace: %s: %s\n", kind, gt_text_clean(msg, clean, sizeof clean));
}

void cli_error(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vmessage("error", fmt, ap);
    va_end(ap);
}

void cli_warning(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vmessage("warning", fmt, ap);
    va_end(ap);
}

int cli_trace_operand(const char *cmd, int argc, char **argv, const char **trace)
{
    if (optind >= argc)
        return cli_usage_error(cmd, "missing TRACE argument");
    if (optind + 1 < argc)
        return cli_usage_error(cmd, "unexpected argument '%s'", argv[optind + 1]);
    *trace = argv[optind];
    return 0;
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vmessage("error", fmt, ap);
    va_end(ap);
    if (cmd != NULL)
        fprintf(stderr, "Try 'gpu-trace %s --help' for more information.\n", cmd);
    else
        fputs("Try 'gpu-trace --help' for more information.\n", stderr);
    return CLI_EXIT_USAGE;
}

int cli_option_error(const char *cmd, int c, char **argv)
{
    const char *arg = optind > 0 ? argv[optind - 1] : "";
    char opt[3] = {'-', (char)optopt, '\0'};

    /* For a long option getopt leaves its text in argv; for a short one in
     * a cluster ("-xq") only optopt names it. */
    if (optopt != 0 && strncmp(arg, "--", 2) != 0)
        arg = opt;
    if (c == ':')
        return cli_usage_error(cmd, "option '%s' requires a value", arg);
    return cli_usage_error(cmd, "unknown option '%s'", arg);
}

static const struct command *find_command(const char *name)
{
    for (size_t i = 0; i < NCOMMANDS; i++) {
        if (strcmp(commands[i].name, name) == 0)
            return &commands[i];
    }
    return NULL;
}

static int run_help(int argc, char **argv)
{
    const struct command *cmd;
    char help[] = "--help";

    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        usage(stdout);
        return CLI_EXIT_OK;
    }
    cmd = find_command(argv[1]);
    if (cmd == NULL)
        return cli_usage_error(NULL, "unknown command '%s'", argv[1]);
    char *sub_argv[] = {argv[1], help, NULL};
    return cmd->fn(2, sub_argv);
}

static int dispatch(int argc, char **argv)
{
    const struct command *cmd;

    if (argc < 2)
        return cli_usage_error(NULL, "no command given");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)
        return run_help(1, argv + 1);
    if (strcmp(argv[1], "help") == 0)
        return run_help(argc - 1, argv + 1);
    if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
        printf("gpu-trace %s\n", GT_VERSION);
        return CLI_EXIT_OK;
    }
    if (argv[1][0] == '-')
        return cli_usage_error(NULL, "unknown option '%s'", argv[1]);
    cmd = find_command(argv[1]);
    if (cmd == NULL)
        return cli_usage_error(NULL, "unknown command '%s'", argv[1]);
    return cmd->fn(argc - 1, argv + 1);
}

int main(int argc, char **argv)
{
    int rc = dispatch(argc, argv);

    /* A full disk or a closed pipe shows only when the buffer is flushed:
     * success must mean the output arrived. */
    if (fflush(stdout) != 0 || ferror(stdout)) {
        if (rc == CLI_EXIT_OK) {
            cli_error("cannot write to standard output: %s", strerror(errno));
            rc = CLI_EXIT_ERROR;
        }
    }
    return rc;
}
