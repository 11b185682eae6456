/* gpu-trace plot: draw the split-size comparison, the memory timeline, the
 * request-size histogram and the segment map of a trace with gnuplot
 * (plot.h does the work). */
#include "cli_int.h"
#include "gputrace/err.h"
#include "gputrace/plot.h"
#include "gputrace/report.h"
#include "gputrace/scenario.h"
#include "gputrace/text.h"
#include "gputrace/trace.h"
#include "gputrace/units.h"

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gputrace/banned.h"

struct plot_args {
    const char *trace;
    const char *dir; /* borrowed from argv, or NULL for the default */
    struct gt_plot_options opts;
};

static void usage(FILE *f)
{
    fputs("Usage: gpu-trace plot TRACE [-o DIR] [--format png|svg] [--device-memory SIZE]\n"
          "                      [--device N]\n"
          "\n"
          "Draws four plots of TRACE with gnuplot, each a file in DIR:\n"
          "  split-sizes    peak reserved memory and fragmentation for each\n"
          "                 max_split_size_mb, with and without expandable segments\n"
          "  timeline       allocated and reserved memory over the run for the best\n"
          "                 config, the default and the trace's own config\n"
          "  request-sizes  histogram of request sizes, small/large pool boundary marked\n"
          "  segments       the segment map at the default config's reserved peak\n"
          "  fit            the smallest card on which each config runs without an\n"
          "                 out-of-memory error, common card sizes marked\n"
          "The plots show the device with the most requests, or the one --device names.\n"
          "\n"
          "Options:\n"
          "  -o, --output DIR          folder for the plots (created if absent; plots in\n"
          "                            it are replaced); default: ./NAME-plots, NAME being\n"
          "                            the trace's file name without its extension\n"
          "  -f, --format FORMAT       png (default) or svg\n"
          "  -m, --device-memory SIZE  the card's memory the allocator may reserve (8GiB,\n"
          "                            8GB: binary units; a bare number is bytes);\n"
          "                            default: the card the trace reveals\n"
          "  -d, --device N            plot CUDA device N\n"
          "  -h, --help                show this help and exit\n"
          "\n"
          "Needs gnuplot (Debian: apt-get install gnuplot-nox). Prints the path of\n"
          "each plot written. Exit status: 0 when every plot was written, 1 when a\n"
          "file, value or gnuplot fails, 2 for a usage error.\n"
          "\n"
          "EXAMPLES\n"
          "  gpu-trace plot run.db\n"
          "  gpu-trace plot run.db -o plots --device-memory 8GiB\n"
          "  gpu-trace plot run.db --format svg -o report-images\n"
          "  gpu-trace plot rank0.db --device 1\n",
          f);
}

static int parse_format(const char *text, enum gt_plot_format *out)
{
    if (strcmp(text, "png") == 0) {
        *out = GT_PLOT_PNG;
        return 0;
    }
    if (strcmp(text, "svg") == 0) {
        *out = GT_PLOT_SVG;
        return 0;
    }
    cli_error("invalid format '%s': expected png or svg", text);
    return CLI_EXIT_ERROR;
}

/* Fills args from argv; returns 0, -1 after --help, or the exit code of a
 * printed error. */
static int parse_args(int argc, char **argv, struct plot_args *args)
{
    static const struct option longopts[] = {{"output", required_argument, NULL, 'o'},
                                             {"format", required_argument, NULL, 'f'},
                                             {"device-memory", required_argument, NULL, 'm'},
                                             {"device", required_argument, NULL, 'd'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *format = NULL, *memory = NULL, *device = NULL;
    int c;

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:f:m:d:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            args->dir = optarg;
            break;
        case 'f':
            format = optarg;
            break;
        case 'm':
            memory = optarg;
            break;
        case 'd':
            device = optarg;
            break;
        case 'h':
            usage(stdout);
            return -1;
        default:
            return cli_option_error("plot", c, argv);
        }
    }
    if (cli_trace_operand("plot", argc, argv, &args->trace) != 0)
        return CLI_EXIT_USAGE;
    if (args->dir != NULL && args->dir[0] == '\0')
        return cli_usage_error("plot", "empty output folder name");
    if (format != NULL && parse_format(format, &args->opts.format) != 0)
        return CLI_EXIT_ERROR;
    if (memory != NULL && cli_parse_device_memory(memory, &args->opts.device_memory) != 0)
        return CLI_EXIT_ERROR;
    if (device != NULL) {
        uint64_t n;
        if (gt_units_parse_u64(device, INT32_MAX, &n) != 0) {
            cli_error("invalid device '%s': expected a CUDA device ordinal (0, 1, ...)", device);
            return CLI_EXIT_ERROR;
        }
        args->opts.has_device = true;
        args->opts.device = (int32_t)n;
    }
    return 0;
}

/* "runs/train.db" -> "train-plots": the trace's file name without its
 * extension, in the current folder, so plotting a trace elsewhere never
 * writes next to it. */
static void default_dir(const char *trace, char *buf, size_t len)
{
    const char *base = strrchr(trace, '/'), *dot;
    size_t n;

    base = base != NULL ? base + 1 : trace;
    if (base[0] == '\0')
        base = "trace";
    dot = strrchr(base, '.');
    n = dot != NULL && dot != base ? (size_t)(dot - base) : strlen(base);
    snprintf(buf, len, "%.*s-plots", (int)n, base);
}

/* gt_plot_all's message is a detail of the trace reader for the reader's
 * errors; its own steps (output folder, gnuplot) write whole sentences. */
static void report_error(const char *trace, int rc, const char *err)
{
    const char *detail = err[0] != '\0' ? err : gt_strerror(rc);

    if (rc == GT_EFOREIGN || rc == GT_ENEWER || rc == GT_ECORRUPT || rc == GT_ESQL)
        cli_error("cannot read '%s': %s", trace, detail);
    else if (rc == GT_ENOMEM)
        cli_error("cannot plot '%s': out of memory", trace);
    else if (rc == GT_EUNSUPPORTED)
        cli_error("cannot plot '%s': %s", trace, detail);
    else
        cli_error("%s", detail);
}

/* Opens the trace once before plotting, so that a file that is missing or
 * not a trace is named as such rather than by gt_plot_all's later steps. */
static int check_trace(const char *trace)
{
    struct gt_trace_reader *r = NULL;
    char err[512] = "";
    int rc = gt_trace_open(trace, &r, err, sizeof err);

    gt_trace_close(r);
    if (rc != 0) {
        cli_error("cannot read '%s': %s", trace, err[0] != '\0' ? err : gt_strerror(rc));
        return CLI_EXIT_ERROR;
    }
    return 0;
}

int cmd_plot(int argc, char **argv)
{
    static const char *const names[GT_PLOT_COUNT] = GT_PLOT_NAMES;
    struct plot_args args = {0};
    struct gt_scenario *scn = NULL;
    char fallback[1024], clean[1024], err[1024] = "";
    const char *dir;
    bool progress = isatty(STDERR_FILENO) == 1;
    int rc;

    rc = parse_args(argc, argv, &args);
    if (rc != 0)
        return rc < 0 ? CLI_EXIT_OK : rc;
    dir = args.dir;
    if (dir == NULL) {
        default_dir(args.trace, fallback, sizeof fallback);
        dir = fallback;
    }
    if (check_trace(args.trace) != 0)
        return CLI_EXIT_ERROR;
    if (cli_scenario_open(args.trace, args.opts.device_memory, &scn) != 0)
        return CLI_EXIT_ERROR;
    args.opts.scenario = scn;
    if (progress)
        fputs("plotting: replaying the trace and drawing...", stderr);
    rc = gt_plot_all(args.trace, dir, &args.opts, err, sizeof err);
    gt_scenario_free(scn);
    if (progress)
        fprintf(stderr, "\r%60s\r", "");
    if (rc != 0) {
        report_error(args.trace, rc, err);
        return CLI_EXIT_ERROR;
    }
    for (size_t i = 0; i < GT_PLOT_COUNT; i++)
        printf("%s/%s.%s\n", gt_text_clean(dir, clean, sizeof clean), names[i],
               args.opts.format == GT_PLOT_SVG ? "svg" : "png");
    return CLI_EXIT_OK;
}
