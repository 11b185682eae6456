/* gpu-trace analyze: replay a trace under allocator configs and print the
 * ranking (replay.h does the work, report.h the printing). */
#include "cli_int.h"
#include "gputrace/conf.h"
#include "gputrace/err.h"
#include "gputrace/replay.h"
#include "gputrace/report.h"
#include "gputrace/units.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gputrace/banned.h"

#define MAX_THREADS 4096
#define SWEEP_CAP 64
/* The cap of the second replay that measures how much memory a run that
 * does not fit would need: far above any card, far below overflow. */
#define NO_CAP ((uint64_t)1 << 62)

enum format { FORMAT_TABLE, FORMAT_JSON, FORMAT_CSV };

struct analyze_args {
    const char *trace;
    char **config_texts; /* borrowed from argv */
    size_t nconfig_texts;
    const char *device_memory_text;
    uint64_t device_memory;
    enum format format;
    int threads;
};

static void usage(FILE *f)
{
    fputs("Usage: gpu-trace analyze TRACE [--config CONF]... [--device-memory SIZE]\n"
          "                         [--format table|json|csv] [--threads N]\n"
          "\n"
          "Replays the allocation requests of TRACE against a simulation of PyTorch's\n"
          "CUDA caching allocator under each config and ranks the configs: those\n"
          "without an out-of-memory error first, then by peak reserved memory.\n"
          "\n"
          "Options:\n"
          "  -c, --config CONF         a PYTORCH_CUDA_ALLOC_CONF string, 'default' (no\n"
          "                            settings) or 'nocache' (no caching); repeatable;\n"
          "                            without it a sweep of the usual settings runs\n"
          "  -m, --device-memory SIZE  memory the allocator may reserve (8GiB, 8G,\n"
          "                            512MiB, bytes); default: the recorded card's\n"
          "  -f, --format FORMAT       table (default), json or csv\n"
          "  -j, --threads N           worker threads; default: one per CPU\n"
          "  -h, --help                show this help and exit\n"
          "\n"
          "Exit status: 0 with an answer (warnings about the trace go to stderr),\n"
          "1 when a file or value cannot be used, 2 for a usage error.\n"
          "\n"
          "EXAMPLES\n"
          "  gpu-trace analyze run.db\n"
          "  gpu-trace analyze run.db --device-memory 8GiB\n"
          "  gpu-trace analyze run.db --config default --config expandable_segments:True\n"
          "  gpu-trace analyze run.db --format json > ranking.json\n",
          f);
}

static int parse_format(const char *text, enum format *out)
{
    static const struct {
        const char *name;
        enum format format;
    } formats[] = {{"table", FORMAT_TABLE}, {"json", FORMAT_JSON}, {"csv", FORMAT_CSV}};

    for (size_t i = 0; i < sizeof formats / sizeof formats[0]; i++) {
        if (strcmp(text, formats[i].name) == 0) {
            *out = formats[i].format;
            return 0;
        }
    }
    cli_error("invalid format '%s': expected table, json or csv", text);
    return CLI_EXIT_ERROR;
}

static int parse_threads(const char *text, int *out)
{
    uint64_t n;

    if (gt_units_parse_u64(text, MAX_THREADS, &n) != 0) {
        cli_error("invalid thread count '%s': expected 0 (one per CPU) to %d", text, MAX_THREADS);
        return CLI_EXIT_ERROR;
    }
    *out = (int)n;
    return 0;
}

/* Fills args from argv; returns 0, or the exit code of a printed error. */
static int parse_args(int argc, char **argv, struct analyze_args *args)
{
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'}, {"device-memory", required_argument, NULL, 'm'},
        {"format", required_argument, NULL, 'f'}, {"threads", required_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    const char *format = NULL, *threads = NULL;
    int c;

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":c:m:f:j:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'c':
            args->config_texts[args->nconfig_texts++] = optarg;
            break;
        case 'm':
            args->device_memory_text = optarg;
            break;
        case 'f':
            format = optarg;
            break;
        case 'j':
            threads = optarg;
            break;
        case 'h':
            usage(stdout);
            return -1;
        default:
            return cli_option_error("analyze", c, argv);
        }
    }
    if (optind >= argc)
        return cli_usage_error("analyze", "missing TRACE argument");
    if (optind + 1 < argc)
        return cli_usage_error("analyze", "unexpected argument '%s'", argv[optind + 1]);
    args->trace = argv[optind];
    if (format != NULL && parse_format(format, &args->format) != 0)
        return CLI_EXIT_ERROR;
    if (threads != NULL && parse_threads(threads, &args->threads) != 0)
        return CLI_EXIT_ERROR;
    if (args->device_memory_text != NULL &&
        cli_parse_device_memory(args->device_memory_text, &args->device_memory) != 0)
        return CLI_EXIT_ERROR;
    return 0;
}

/* Parses every --config, or takes the default sweep. On success *out owns
 * the array. */
static int build_configs(const struct analyze_args *args, struct gt_conf **out, size_t *n)
{
    size_t cap = args->nconfig_texts > 0 ? args->nconfig_texts : SWEEP_CAP;
    struct gt_conf *confs = calloc(cap, sizeof *confs);

    if (confs == NULL) {
        cli_error("out of memory");
        return CLI_EXIT_ERROR;
    }
    if (args->nconfig_texts == 0) {
        *n = gt_replay_default_sweep(confs, cap);
        *out = confs;
        return 0;
    }
    for (size_t i = 0; i < args->nconfig_texts; i++) {
        char err[256] = "";
        int rc = gt_conf_parse(args->config_texts[i], &confs[i], err, sizeof err);
        if (rc != 0) {
            cli_error("invalid config '%s': %s", args->config_texts[i],
                      err[0] != '\0' ? err : gt_strerror(rc));
            free(confs);
            return CLI_EXIT_ERROR;
        }
    }
    *n = args->nconfig_texts;
    *out = confs;
    return 0;
}

static void report_replay_error(const char *trace, int rc, const char *err)
{
    const char *detail = err[0] != '\0' ? err : gt_strerror(rc);

    if (rc == GT_ENOMEM)
        cli_error("cannot analyze '%s': out of memory", trace);
    else if (rc == GT_EUNSUPPORTED)
        cli_error("cannot analyze '%s': %s", trace, detail);
    else
        cli_error("cannot read '%s': %s", trace, detail);
}

static int replay(const struct analyze_args *args, const struct gt_conf *confs, size_t n,
                  uint64_t device_memory, struct gt_analysis **out)
{
    struct cli_progress prog;
    struct gt_replay_options opts = {0};
    char err[512] = "";
    int rc;

    opts.device_memory = device_memory;
    opts.threads = args->threads;
    opts.add_recorded_conf = args->nconfig_texts == 0;
    if (cli_progress_start(&prog, "analyzing")) {
        opts.progress = cli_progress_draw;
        opts.progress_ctx = &prog;
    }
    rc = gt_replay_trace(args->trace, confs, n, &opts, out, err, sizeof err);
    cli_progress_clear(&prog);
    if (rc != 0) {
        report_replay_error(args->trace, rc, err);
        return CLI_EXIT_ERROR;
    }
    return 0;
}

static void warn_count(const char *trace, int64_t n, const char *one, const char *many)
{
    if (n > 0)
        cli_warning("'%s': %" PRId64 " %s", trace, n, n == 1 ? one : many);
}

static void print_warnings(const char *trace, const struct gt_replay_warnings *w)
{
    warn_count(trace, w->unknown_free, "free of an unknown address", "frees of unknown addresses");
    warn_count(trace, w->double_free, "double free", "double frees");
    warn_count(trace, w->alloc_of_live, "allocation at a live address (a missed free)",
               "allocations at live addresses (missed frees)");
    warn_count(trace, w->skipped_kinds, "event of an unknown kind skipped",
               "events of unknown kinds skipped");
    warn_count(trace, w->too_many_devices, "event of a device beyond the first 64 ignored",
               "events of devices beyond the first 64 ignored");
    warn_count(trace, w->lost_events, "event lost by the recorder", "events lost by the recorder");
}

/* Whether some capped device has no caching config without OOM: then the
 * table says how much memory the run would need. */
static bool needs_uncapped(const struct gt_analysis *a)
{
    for (size_t d = 0; d < a->ndevices; d++) {
        const struct gt_replay_result *best = gt_replay_best(a, d);
        if (a->devices[d].device_memory > 0 && (best == NULL || best->num_ooms > 0))
            return true;
    }
    return false;
}

static int write_report(const struct analyze_args *args, const struct gt_conf *confs, size_t n,
                        const struct gt_analysis *a)
{
    struct gt_analysis *uncapped = NULL;
    int rc;

    if (args->format == FORMAT_JSON) {
        rc = gt_report_json_write(stdout, args->trace, a);
    } else if (args->format == FORMAT_CSV) {
        rc = gt_report_csv_write(stdout, args->trace, a);
    } else {
        if (needs_uncapped(a) && replay(args, confs, n, NO_CAP, &uncapped) != 0)
            return CLI_EXIT_ERROR;
        rc = gt_report_table_write_fit(stdout, args->trace, a, uncapped);
        gt_analysis_free(uncapped);
    }
    if (rc != 0) {
        cli_error("cannot write to standard output: %s", gt_strerror(rc));
        return CLI_EXIT_ERROR;
    }
    return CLI_EXIT_OK;
}

int cmd_analyze(int argc, char **argv)
{
    struct analyze_args args = {0};
    struct gt_conf *confs = NULL;
    struct gt_analysis *a = NULL;
    size_t n = 0;
    int rc;

    args.config_texts = calloc((size_t)argc + 1, sizeof *args.config_texts);
    if (args.config_texts == NULL) {
        cli_error("out of memory");
        return CLI_EXIT_ERROR;
    }
    rc = parse_args(argc, argv, &args);
    if (rc == 0)
        rc = build_configs(&args, &confs, &n);
    if (rc == 0)
        rc = replay(&args, confs, n, args.device_memory, &a);
    if (rc == 0) {
        print_warnings(args.trace, &a->warnings);
        rc = write_report(&args, confs, n, a);
    }
    gt_analysis_free(a);
    free(confs);
    free(args.config_texts);
    return rc < 0 ? CLI_EXIT_OK : rc;
}
