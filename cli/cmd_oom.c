/* gpu-trace oom: explain each out-of-memory error of a trace, recorded or
 * predicted on the card asked about (oom.h does the work). */
#include "cli_int.h"
#include "gputrace/conf.h"
#include "gputrace/err.h"
#include "gputrace/oom.h"
#include "gputrace/oom_message.h"
#include "gputrace/units.h"
#include "gputrace/oom_report.h"

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "gputrace/banned.h"

enum format { FORMAT_TABLE, FORMAT_JSON };

struct oom_args {
    const char *trace;
    const char *message;     /* --message: a pasted error instead of a trace */
    const char *config_text; /* NULL: the recorded settings */
    uint64_t device_memory;
    enum format format;
};

static void usage(FILE *f)
{
    fputs("Usage: gpu-trace oom TRACE [--device-memory SIZE] [--config CONF]\n"
          "                     [--format table|json]\n"
          "       gpu-trace oom --message FILE|- [--format table|json]\n"
          "\n"
          "Explains each out-of-memory error of TRACE under one allocator config:\n"
          "those the recording hit and those predicted on the card asked about. For\n"
          "each: PyTorch's numbers (asked, tried, allocated, reserved but unallocated),\n"
          "the largest free block, a verdict (fragmentation: the memory exists in\n"
          "pieces too small; genuine: live tensors plus the request exceed the card),\n"
          "how far the peak must shrink, the largest live allocations with their\n"
          "Python frames, and the configs of the usual sweep that avoid it.\n"
          "\n"
          "With --message, no trace is needed: reads the out-of-memory error PyTorch\n"
          "printed (pasted whole or cut, wrapped, inside a traceback or a log; every\n"
          "wording since 1.0, ROCm, XPU, MPS and cudaMallocAsync), gives its numbers\n"
          "and a verdict (fragmentation, genuine, other_process or unclear) with what\n"
          "to do and how to measure it.\n"
          "\n"
          "Options:\n"
          "  -m, --device-memory SIZE  memory the allocator may reserve (8GiB, 8G,\n"
          "                            512MiB, bytes); default: the recorded card's\n"
          "  -c, --config CONF         a PYTORCH_CUDA_ALLOC_CONF string, 'default' or\n"
          "                            'nocache'; default: the settings the trace was\n"
          "                            recorded under, else 'default'\n"
          "  -M, --message FILE        a pasted PyTorch out-of-memory error ('-': stdin)\n"
          "  -f, --format FORMAT       table (default) or json\n"
          "  -h, --help                show this help and exit\n"
          "\n"
          "Exit status: 0 with an answer (with or without an OOM), 1 when a file or\n"
          "value cannot be used, 2 for a usage error.\n"
          "\n"
          "EXAMPLES\n"
          "  gpu-trace oom run.db\n"
          "  gpu-trace oom run.db --device-memory 16GiB\n"
          "  gpu-trace oom run.db --device-memory 16GiB --config expandable_segments:True\n"
          "  gpu-trace oom run.db --format json > oom.json\n"
          "  gpu-trace oom --message error.txt\n"
          "  xclip -o | gpu-trace oom --message - --format json\n",
          f);
}

static int parse_format(const char *text, enum format *out)
{
    if (strcmp(text, "table") == 0) {
        *out = FORMAT_TABLE;
        return 0;
    }
    if (strcmp(text, "json") == 0) {
        *out = FORMAT_JSON;
        return 0;
    }
    cli_error("invalid format '%s': expected table or json", text);
    return CLI_EXIT_ERROR;
}

/* Fills args from argv; returns 0, -1 after --help, or the exit code of a
 * printed error. */
static int parse_args(int argc, char **argv, struct oom_args *args)
{
    static const struct option longopts[] = {{"device-memory", required_argument, NULL, 'm'},
                                             {"config", required_argument, NULL, 'c'},
                                             {"format", required_argument, NULL, 'f'},
                                             {"message", required_argument, NULL, 'M'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *format = NULL, *memory = NULL;
    int c;

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:c:f:M:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'M':
            args->message = optarg;
            break;
        case 'm':
            memory = optarg;
            break;
        case 'c':
            args->config_text = optarg;
            break;
        case 'f':
            format = optarg;
            break;
        case 'h':
            usage(stdout);
            return -1;
        default:
            return cli_option_error("oom", c, argv);
        }
    }
    if (args->message != NULL) {
        if (optind < argc)
            return cli_usage_error("oom", "--message takes no TRACE ('%s')", argv[optind]);
        if (memory != NULL || args->config_text != NULL)
            return cli_usage_error("oom", "--message takes no --device-memory or --config");
        if (format != NULL && parse_format(format, &args->format) != 0)
            return CLI_EXIT_ERROR;
        return 0;
    }
    if (cli_trace_operand("oom", argc, argv, &args->trace) != 0)
        return CLI_EXIT_USAGE;
    if (format != NULL && parse_format(format, &args->format) != 0)
        return CLI_EXIT_ERROR;
    if (memory != NULL && cli_parse_device_memory(memory, &args->device_memory) != 0)
        return CLI_EXIT_ERROR;
    return 0;
}

/* oom --message: the verdict on a pasted error, no trace. */
static int explain_message(const struct oom_args *args)
{
    struct gt_oom_message m;
    char err[512] = "";
    int rc = gt_oom_message_read(args->message, &m, err, sizeof err);

    if (rc != 0) {
        cli_error("%s", err);
        return CLI_EXIT_ERROR;
    }
    rc = args->format == FORMAT_JSON ? gt_oom_message_json_write(stdout, args->message, &m)
                                     : gt_oom_message_table_write(stdout, args->message, &m);
    if (rc != 0) {
        cli_error("cannot write to standard output: %s", gt_strerror(rc));
        return CLI_EXIT_ERROR;
    }
    return CLI_EXIT_OK;
}

int cmd_oom(int argc, char **argv)
{
    struct oom_args args = {0};
    struct gt_oom_report *r = NULL;
    struct gt_scenario *scn = NULL;
    struct gt_conf conf;
    char err[512] = "";
    int rc = parse_args(argc, argv, &args);

    if (rc != 0)
        return rc < 0 ? CLI_EXIT_OK : rc;
    if (args.message != NULL)
        return explain_message(&args);
    if (args.config_text != NULL) {
        rc = gt_conf_parse(args.config_text, &conf, err, sizeof err);
        if (rc != 0) {
            cli_error("invalid config '%s': %s", args.config_text,
                      err[0] != '\0' ? err : gt_strerror(rc));
            return CLI_EXIT_ERROR;
        }
    }
    if (cli_scenario_open(args.trace, args.device_memory, &scn) != 0)
        return CLI_EXIT_ERROR;
    rc = gt_oom_analyze(args.trace, scn, args.config_text != NULL ? &conf : NULL, NULL, &r, err,
                        sizeof err);
    gt_scenario_free(scn);
    if (rc != 0) {
        cli_trace_error(args.trace, rc, err);
        return CLI_EXIT_ERROR;
    }
    if (args.format == FORMAT_JSON)
        rc = gt_oom_json_write(stdout, args.trace, r);
    else
        rc = gt_oom_table_write(stdout, args.trace, r);
    gt_oom_report_free(r);
    if (rc != 0) {
        cli_error("cannot write to standard output: %s", gt_strerror(rc));
        return CLI_EXIT_ERROR;
    }
    return CLI_EXIT_OK;
}
