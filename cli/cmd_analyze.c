/* gpu-trace analyze: replay a trace under allocator configs and print the
 * ranking (replay.h does the work, report.h the printing). */
#include "cli_int.h"
#include "gputrace/conf.h"
#include "gputrace/err.h"
#include "gputrace/replay.h"
#include "gputrace/report.h"
#include "gputrace/scenario.h"
#include "gputrace/units.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gputrace/banned.h"

#define SWEEP_CAP 64

enum format { FORMAT_TABLE, FORMAT_JSON, FORMAT_CSV };

struct analyze_args {
    char **traces; /* borrowed from argv */
    size_t ntraces;
    char **config_texts; /* borrowed from argv */
    size_t nconfig_texts;
    const char *device_memory_text;
    uint64_t device_memory;
    enum format format;
    int threads;
    bool fit;
};

static void usage(FILE *f)
{
    fputs("Usage: gpu-trace analyze TRACE... [--config CONF]... [--device-memory SIZE]\n"
          "                         [--fit] [--format table|json|csv] [--threads N]\n"
          "\n"
          "Replays the allocation requests of TRACE against a simulation of PyTorch's\n"
          "CUDA caching allocator under each config, from the memory live when the\n"
          "recording began, and ranks the configs: those without an out-of-memory\n"
          "error first, then by peak reserved memory; those that fail by how far they\n"
          "get. Each device's card is --device-memory, else the card the trace\n"
          "recorded, else the one its out-of-memory or release-and-retry reveals; every\n"
          "output says which and why. Several TRACEs (one per node or rank of one job)\n"
          "get their rows and one recommendation for the job.\n"
          "\n"
          "Options:\n"
          "  -c, --config CONF         a PYTORCH_CUDA_ALLOC_CONF string, 'default' (no\n"
          "                            settings) or 'nocache' (no caching); repeatable;\n"
          "                            without it a sweep of the usual settings runs\n"
          "  -m, --device-memory SIZE  the card's memory the allocator may reserve\n"
          "                            (8GiB, 8G, 8GB and 8192MB all mean 8 GiB: units\n"
          "                            are binary; a bare number is bytes)\n"
          "      --fit                 also find each config's smallest card (to 2 MiB):\n"
          "                            a \"fits from\" column\n"
          "  -f, --format FORMAT       table (default), json or csv\n"
          "  -j, --threads N           threads that simulate; default: one per CPU this\n"
          "                            process may run on; 1 reads and simulates on one\n"
          "                            thread (the least CPU time)\n"
          "  -h, --help                show this help and exit\n"
          "\n"
          "Exit status: 0 with an answer (warnings about the trace go to stderr),\n"
          "1 when a file or value cannot be used, 2 for a usage error.\n"
          "\n"
          "EXAMPLES\n"
          "  gpu-trace analyze run.db\n"
          "  gpu-trace analyze run.db --device-memory 8GiB --fit\n"
          "  gpu-trace analyze run.db --config default --config expandable_segments:True\n"
          "  gpu-trace analyze rank0.db rank1.db --format json > ranking.json\n",
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

/* Fills args from argv; returns 0, or the exit code of a printed error. */
static int parse_args(int argc, char **argv, struct analyze_args *args)
{
    static const struct option longopts[] = {{"config", required_argument, NULL, 'c'},
                                             {"device-memory", required_argument, NULL, 'm'},
                                             {"format", required_argument, NULL, 'f'},
                                             {"threads", required_argument, NULL, 'j'},
                                             {"fit", no_argument, NULL, 'F'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
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
        case 'F':
            args->fit = true;
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
    args->traces = &argv[optind];
    args->ntraces = (size_t)(argc - optind);
    if (format != NULL && parse_format(format, &args->format) != 0)
        return CLI_EXIT_ERROR;
    if (threads != NULL && cli_parse_threads(threads, &args->threads) != 0)
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

/* What is kept per trace: its scenario and its replays. */
struct analyzed {
    struct gt_scenario *scn;
    struct gt_analysis *a, *uncapped;
    uint64_t *fit;
};

static void analyzed_release(struct analyzed *t)
{
    gt_scenario_free(t->scn);
    gt_analysis_free(t->a);
    gt_analysis_free(t->uncapped);
    free(t->fit);
}

static int replay(const struct analyze_args *args, const char *trace, const struct gt_conf *confs,
                  size_t n, struct analyzed *out)
{
    struct cli_progress prog;
    struct gt_replay_options opts = {0};
    char err[512] = "";
    int rc;

    opts.scenario = out->scn;
    opts.threads = args->threads;
    opts.add_recorded_conf = args->nconfig_texts == 0;
    if (cli_progress_start(&prog, "analyzing")) {
        opts.progress = cli_progress_draw;
        opts.progress_ctx = &prog;
    }
    rc = gt_replay_trace(trace, confs, n, &opts, &out->a, err, sizeof err);
    cli_progress_clear(&prog);
    if (rc == 0 && (args->fit || gt_replay_needs_uncapped(out->a)))
        rc = gt_replay_uncapped(trace, out->a, &opts, &out->uncapped, err, sizeof err);
    if (rc == 0 && args->fit)
        rc = gt_replay_fit(trace, out->a, out->uncapped, &opts, &out->fit, err, sizeof err);
    if (rc != 0) {
        cli_trace_error(trace, rc, err);
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

static int write_report(const struct analyze_args *args, const struct analyzed *t)
{
    struct gt_report_trace *rt = calloc(args->ntraces, sizeof *rt);
    int rc;

    if (rt == NULL) {
        cli_error("out of memory");
        return CLI_EXIT_ERROR;
    }
    for (size_t i = 0; i < args->ntraces; i++)
        rt[i] = (struct gt_report_trace){args->traces[i], t[i].a, t[i].uncapped, t[i].fit, false};
    if (args->format == FORMAT_JSON)
        rc = gt_report_json_write_job(stdout, rt, args->ntraces);
    else if (args->format == FORMAT_CSV)
        rc = gt_report_csv_write_job(stdout, rt, args->ntraces);
    else
        rc = gt_report_table_write_job(stdout, rt, args->ntraces);
    free(rt);
    if (rc != 0) {
        cli_error("cannot write to standard output: %s", gt_strerror(rc));
        return CLI_EXIT_ERROR;
    }
    return CLI_EXIT_OK;
}

/* One trace: its scenario, then, unless the start state alone exceeds a
 * card (the verdict then, not a replay) or there is nothing to replay, the
 * replays. Returns 0, 1 when the verdict was given, or an exit code. */
static int analyze_one(const struct analyze_args *args, const char *trace,
                       const struct gt_conf *confs, size_t n, struct analyzed *out)
{
    char err[512] = "";
    int rc = gt_scenario_build(trace, args->device_memory, &out->scn, err, sizeof err);

    if (rc != 0) {
        cli_trace_error(trace, rc, err);
        return CLI_EXIT_ERROR;
    }
    if (out->scn->ndevices == 0 && out->scn->events >= 0) {
        cli_error("cannot analyze '%s': %s", trace,
                  out->scn->events == 0 ? "the trace has no events"
                                        : "the trace has no allocation requests (alloc, free, "
                                          "empty_cache or oom events) to replay");
        return CLI_EXIT_ERROR;
    }
    if (cli_start_exceeds_card(trace, out->scn))
        return CLI_EXIT_ERROR;
    return replay(args, trace, confs, n, out);
}

int cmd_analyze(int argc, char **argv)
{
    struct analyze_args args = {0};
    struct gt_conf *confs = NULL;
    struct analyzed *t = NULL;
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
    if (rc == 0 && (t = calloc(args.ntraces, sizeof *t)) == NULL) {
        cli_error("out of memory");
        rc = CLI_EXIT_ERROR;
    }
    for (size_t i = 0; rc == 0 && i < args.ntraces; i++) {
        rc = analyze_one(&args, args.traces[i], confs, n, &t[i]);
        if (rc == 0)
            print_warnings(args.traces[i], &t[i].a->warnings);
    }
    if (rc == 0)
        rc = write_report(&args, t);
    for (size_t i = 0; t != NULL && i < args.ntraces; i++)
        analyzed_release(&t[i]);
    free(t);
    free(confs);
    free(args.config_texts);
    return rc < 0 ? CLI_EXIT_OK : rc;
}
