/* gpu-trace report: the one-file HTML report (html.h does the work). */
#include "cli_int.h"
#include "gputrace/err.h"
#include "gputrace/html.h"
#include "gputrace/scenario.h"
#include "gputrace/report.h"
#include "gputrace/text.h"
#include "gputrace/units.h"

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "gputrace/banned.h"

static void usage(FILE *f)
{
    fputs("Usage: gpu-trace report TRACE -o FILE.html [--device-memory SIZE] [--threads N]\n"
          "\n"
          "Writes one self-contained HTML file about TRACE: the trace summary, the\n"
          "ranking of the default sweep of allocator settings with the recommended one,\n"
          "the four plots (when gnuplot is installed), the out-of-memory findings and\n"
          "the lines that set the recommendation. The page needs no network and no\n"
          "other file: open it in any browser, attach it to a bug report.\n"
          "\n"
          "Options:\n"
          "  -o, --output FILE         the HTML file to write (replaced whole at the end)\n"
          "  -m, --device-memory SIZE  memory the allocator may reserve (8GiB, 8G,\n"
          "                            512MiB, bytes); default: the recorded card's\n"
          "  -j, --threads N           threads that simulate; default: one per CPU this\n"
          "                            process may run on; 1 reads and simulates on one\n"
          "                            thread (the least CPU time)\n"
          "  -h, --help                show this help and exit\n"
          "\n"
          "Exit status: 0 when the report was written (without plots when gnuplot is\n"
          "missing, with a warning), 1 when the trace cannot be read or the file cannot\n"
          "be written, 2 for a usage error.\n"
          "\n"
          "EXAMPLES\n"
          "  gpu-trace report run.db -o report.html\n"
          "  gpu-trace report run.db -o report.html --device-memory 8GiB\n",
          f);
}

int cmd_report(int argc, char **argv)
{
    static const struct option longopts[] = {{"output", required_argument, NULL, 'o'},
                                             {"device-memory", required_argument, NULL, 'm'},
                                             {"threads", required_argument, NULL, 'j'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *output = NULL, *memory = NULL, *threads = NULL, *trace;
    struct gt_html_options opts = {0};
    struct gt_scenario *scn = NULL;
    struct gt_html_result res;
    struct cli_progress prog;
    char err[512] = "", path[512];
    int c, rc;

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:m:j:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            output = optarg;
            break;
        case 'm':
            memory = optarg;
            break;
        case 'j':
            threads = optarg;
            break;
        case 'h':
            usage(stdout);
            return CLI_EXIT_OK;
        default:
            return cli_option_error("report", c, argv);
        }
    }
    if (cli_trace_operand("report", argc, argv, &trace) != 0)
        return CLI_EXIT_USAGE;
    if (output == NULL || output[0] == '\0')
        return cli_usage_error("report", "missing -o FILE.html");
    if (memory != NULL && cli_parse_device_memory(memory, &opts.device_memory) != 0)
        return CLI_EXIT_ERROR;
    if (threads != NULL && cli_parse_threads(threads, &opts.threads) != 0)
        return CLI_EXIT_ERROR;
    if (cli_scenario_open(trace, opts.device_memory, &scn) != 0)
        return CLI_EXIT_ERROR;
    opts.scenario = scn;
    if (cli_progress_start(&prog, "reporting")) {
        opts.progress = cli_progress_draw;
        opts.progress_ctx = &prog;
    }
    rc = gt_html_report_write(trace, output, &opts, &res, err, sizeof err);
    cli_progress_clear(&prog);
    gt_scenario_free(scn);
    if (rc == GT_ENOMEM) {
        cli_error("cannot report on '%s': out of memory", trace);
        return CLI_EXIT_ERROR;
    }
    if (rc == GT_EIO && strncmp(err, "cannot write", 12) == 0) {
        cli_error("%s", err[0] != '\0' ? err : gt_strerror(rc));
        return CLI_EXIT_ERROR;
    }
    if (rc != 0) {
        cli_error("cannot read '%s': %s", trace, err[0] != '\0' ? err : gt_strerror(rc));
        return CLI_EXIT_ERROR;
    }
    if (res.config_error[0] != '\0')
        cli_warning("'%s': %s; replayed with the defaults", trace, res.config_error);
    if (res.plots_missing)
        cli_warning("the report has no plots: %s", res.plots_error);
    printf("wrote '%s'\n", gt_text_clean(output, path, sizeof path));
    return CLI_EXIT_OK;
}
