/* gpu-trace stats: what a trace says about memory, per device and over
 * time (stats.h does the work and the printing). */
#include "cli_int.h"
#include "gputrace/err.h"
#include "gputrace/units.h"
#include "gputrace/scenario.h"
#include "gputrace/stats.h"
#include "gputrace/stats_report.h"

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "gputrace/banned.h"

static void usage(FILE *f)
{
    fputs("Usage: gpu-trace stats TRACE [--device-memory SIZE] [--top N] [--iterations]\n"
          "                       [--format table|json]\n"
          "\n"
          "Summarizes TRACE per device: the card and where its size comes from, the\n"
          "span of the trace, the requests, the bytes asked and not yet freed (from the\n"
          "trace alone), and the peak allocated and reserved memory under the settings\n"
          "the run was recorded under, from the memory live at the start, with the\n"
          "utilization of the card and used and reserved GiB over ten slices of time;\n"
          "pinned host memory and the real reserved memory when the recording has them.\n"
          "With --top, what is live at the reserved peak, grouped by the call stack\n"
          "that allocated it, largest first.\n"
          "With --iterations, the repeating iteration of a training run (found from\n"
          "the pattern of its allocation requests), the memory allocated at the start\n"
          "of each, and whether it holds steady or grows step after step (a leak),\n"
          "with the call stacks of what the later iterations never freed.\n"
          "\n"
          "Options:\n"
          "  -m, --device-memory SIZE  the card (8GiB; binary units, a bare number is\n"
          "                            bytes); default: the one the trace reveals\n"
          "  -t, --top N               the N largest groups of allocations live at the\n"
          "                            reserved peak, by call stack (0: all)\n"
          "  -i, --iterations          find the iterations and the growth across them\n"
          "                            (--top N: the stacks kept; default 10)\n"
          "  -f, --format FORMAT       table (default) or json (sizes in bytes)\n"
          "  -h, --help                show this help and exit\n"
          "\n"
          "Exit status: 0 with an answer, 1 when the trace cannot be read, 2 for a\n"
          "usage error.\n"
          "\n"
          "EXAMPLES\n"
          "  gpu-trace stats run.db\n"
          "  gpu-trace stats run.db --device-memory 24GiB\n"
          "  gpu-trace stats run.db --top 10\n"
          "  gpu-trace stats run.db --iterations\n"
          "  gpu-trace stats run.db --format json > stats.json\n",
          f);
}

int cmd_stats(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"format", required_argument, NULL, 'f'}, {"device-memory", required_argument, NULL, 'm'},
        {"top", required_argument, NULL, 't'},    {"iterations", no_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    const char *format = "table", *memory = NULL, *top_text = NULL, *trace = NULL;
    uint64_t top = 0;
    bool iterations = false;
    uint64_t device_memory = 0;
    struct gt_scenario *scn = NULL;
    struct gt_stats *s = NULL;
    char err[512] = "";
    int c, rc;

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":f:m:t:ih", longopts, NULL)) != -1) {
        switch (c) {
        case 'i':
            iterations = true;
            break;
        case 't':
            top_text = optarg;
            break;
        case 'f':
            format = optarg;
            break;
        case 'm':
            memory = optarg;
            break;
        case 'h':
            usage(stdout);
            return CLI_EXIT_OK;
        default:
            return cli_option_error("stats", c, argv);
        }
    }
    if (cli_trace_operand("stats", argc, argv, &trace) != 0)
        return CLI_EXIT_USAGE;
    if (strcmp(format, "table") != 0 && strcmp(format, "json") != 0) {
        cli_error("invalid format '%s': expected table or json", format);
        return CLI_EXIT_ERROR;
    }
    if (memory != NULL && cli_parse_device_memory(memory, &device_memory) != 0)
        return CLI_EXIT_ERROR;
    if (top_text != NULL && gt_units_parse_u64(top_text, 1000000, &top) != 0) {
        cli_error("invalid --top '%s': expected a count from 0 to 1000000", top_text);
        return CLI_EXIT_ERROR;
    }
    if (cli_scenario_open(trace, device_memory, &scn) != 0)
        return CLI_EXIT_ERROR;
    struct gt_stats_options so = {.peak = top_text != NULL,
                                  .peak_top = (size_t)top,
                                  .growth = iterations,
                                  .growth_top = top_text != NULL ? (size_t)top : 10};
    rc = gt_stats_compute_with(trace, scn, &so, &s, err, sizeof err);
    gt_scenario_free(scn);
    if (rc != 0) {
        cli_trace_error(trace, rc, err);
        return CLI_EXIT_ERROR;
    }
    if (s->config_error[0] != '\0')
        cli_warning("'%s': %s; replayed with the defaults", trace, s->config_error);
    if (strcmp(format, "json") == 0)
        rc = gt_stats_json_write(stdout, trace, s);
    else
        rc = gt_stats_table_write(stdout, trace, s);
    gt_stats_free(s);
    if (rc != 0) {
        cli_error("cannot write to standard output: %s", gt_strerror(rc));
        return CLI_EXIT_ERROR;
    }
    return CLI_EXIT_OK;
}
