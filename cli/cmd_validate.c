/* gpu-trace validate: how well the simulator reproduces a recording that
 * carries the real allocator's decisions (analyzer/diagnose/validate.c). */
#include "cli_int.h"
#include "gputrace/err.h"
#include "gputrace/report.h"
#include "gputrace/scenario.h"
#include "gputrace/text.h"
#include "gputrace/units.h"
#include "gputrace/validate.h"
#include "gputrace/validate_report.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gputrace/banned.h"

static void usage(FILE *f)
{
    fputs("Usage: gpu-trace validate TRACE [--device-memory SIZE] [--format table|json]\n"
          "\n"
          "Replays the requests of TRACE under the settings it was recorded with,\n"
          "from its rebuilt start state, and compares the simulated allocator with\n"
          "the real one: the segment events (cudaMalloc, cudaFree, map, unmap) of\n"
          "memory snapshots and native recordings, in order and size, and the real\n"
          "allocated total after each event of profiler traces. Real segment\n"
          "addresses are lent to the simulator; the card is the one every command\n"
          "uses: --device-memory, else the recorded card, else the one an OOM or a\n"
          "release-and-retry in the trace reveals.\n"
          "\n"
          "Options:\n"
          "  -m, --device-memory SIZE  the card (8GiB; binary units, a bare number is\n"
          "                            bytes); default: the one the trace reveals\n"
          "  -f, --format FORMAT       table (default) or json\n"
          "  -h, --help                show this help and exit\n"
          "\n"
          "Exit status: 0 when the comparison ran (whatever it found), 1 when the\n"
          "trace cannot be read, 2 for a usage error.\n"
          "\n"
          "EXAMPLES\n"
          "  gpu-trace import snapshot.pickle -o run.db && gpu-trace validate run.db\n"
          "  gpu-trace validate run.db --format json\n",
          f);
}

int cmd_validate(int argc, char **argv)
{
    static const struct option longopts[] = {{"format", required_argument, NULL, 'f'},
                                             {"device-memory", required_argument, NULL, 'm'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *format = "table", *memory = NULL, *trace = NULL;
    uint64_t device_memory = 0;
    struct gt_scenario *scn = NULL;
    char err[512] = "", clean[1024];
    int c;

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":f:m:h", longopts, NULL)) != -1) {
        switch (c) {
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
            return cli_option_error("validate", c, argv);
        }
    }
    if (strcmp(format, "table") != 0 && strcmp(format, "json") != 0) {
        cli_error("invalid format '%s': expected table or json",
                  gt_text_clean(format, clean, sizeof clean));
        return CLI_EXIT_ERROR;
    }
    if (cli_trace_operand("validate", argc, argv, &trace) != 0)
        return CLI_EXIT_USAGE;
    if (memory != NULL && cli_parse_device_memory(memory, &device_memory) != 0)
        return CLI_EXIT_ERROR;
    struct gt_validation *v = NULL;
    int rc = gt_scenario_build(trace, device_memory, &scn, err, sizeof err);
    if (rc == 0 && cli_start_exceeds_card(trace, scn)) {
        gt_scenario_free(scn);
        return CLI_EXIT_ERROR;
    }
    if (rc == 0)
        rc = gt_validate_trace(trace, scn, &v, err, sizeof err);
    gt_scenario_free(scn);
    if (rc != 0) {
        cli_error("cannot validate '%s': %s", gt_text_clean(trace, clean, sizeof clean),
                  err[0] ? err : gt_strerror(rc));
        return CLI_EXIT_ERROR;
    }
    if (strcmp(format, "json") == 0)
        rc = gt_validate_json_write(stdout, trace, v);
    else
        rc = gt_validate_table_write(stdout, trace, v);
    free(v);
    if (rc != 0) {
        cli_error("cannot write to standard output: %s", gt_strerror(rc));
        return CLI_EXIT_ERROR;
    }
    return CLI_EXIT_OK;
}
