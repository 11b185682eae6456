/* gpu-trace import: convert a CSV of allocation events (the interchange
 * format ts_ns,action,addr,size,stream,device) into a trace. */
#include "cli_int.h"
#include "gputrace/err.h"
#include "gputrace/conf.h"
#include "gputrace/import.h"
#include "gputrace/report.h"
#include "gputrace/units.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>

#include "gputrace/banned.h"

static void usage(FILE *f)
{
    fputs("Usage: gpu-trace import FILE.csv -o TRACE [--alloc-conf CONF]\n"
          "                        [--device-name NAME] [--device-memory SIZE]\n"
          "\n"
          "Converts a CSV of allocation events into a new gpu-trace trace. The CSV\n"
          "starts with the header ts_ns,action,addr,size,stream,device; actions are\n"
          "alloc, free, empty_cache, segment_alloc, segment_free, segment_map,\n"
          "segment_unmap and oom; a free may leave size empty. A row that cannot be\n"
          "read is an error naming its line.\n"
          "\n"
          "Options:\n"
          "  -o, --output TRACE        the trace to create (never overwritten)\n"
          "  -a, --alloc-conf CONF     the PYTORCH_CUDA_ALLOC_CONF the run used ('' for\n"
          "                            none); analyze then compares against it\n"
          "  -n, --device-name NAME    the card the run used, e.g. 'NVIDIA RTX 4090'\n"
          "  -m, --device-memory SIZE  that card's memory (24GiB, 81559MiB, bytes);\n"
          "                            analyze uses it as the default cap\n"
          "  -h, --help                show this help and exit\n"
          "\n"
          "EXAMPLES\n"
          "  gpu-trace import events.csv -o run.db\n"
          "  gpu-trace import events.csv -o run.db --alloc-conf expandable_segments:True\n"
          "  gpu-trace import events.csv -o run.db --device-memory 24GiB\n"
          "  gpu-trace import events.csv -o run.db && gpu-trace analyze run.db\n",
          f);
}

int cmd_import(int argc, char **argv)
{
    static const struct option longopts[] = {{"output", required_argument, NULL, 'o'},
                                             {"alloc-conf", required_argument, NULL, 'a'},
                                             {"device-name", required_argument, NULL, 'n'},
                                             {"device-memory", required_argument, NULL, 'm'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    struct gt_import_summary sum = {0};
    struct gt_import_options opts = {0};
    struct gt_conf conf;
    const char *output = NULL;
    char err[512] = "", in[512], out[512];
    int c, rc;

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":o:a:n:m:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            output = optarg;
            break;
        case 'a':
            if (gt_conf_parse(optarg, &conf, err, sizeof err) != 0) {
                cli_error("invalid config '%s': %s", gt_report_clean(optarg, in, sizeof in), err);
                return CLI_EXIT_ERROR;
            }
            opts.alloc_conf = optarg;
            break;
        case 'n':
            opts.device_name = optarg;
            break;
        case 'm':
            if (gt_units_parse_size(optarg, &opts.device_memory, err, sizeof err) != 0 ||
                opts.device_memory == 0) {
                cli_error("invalid size '%s': %s", gt_report_clean(optarg, in, sizeof in),
                          err[0] ? err : "must be more than 0 bytes");
                return CLI_EXIT_ERROR;
            }
            break;
        case 'h':
            usage(stdout);
            return CLI_EXIT_OK;
        default:
            return cli_option_error("import", c, argv);
        }
    }
    if (optind >= argc)
        return cli_usage_error("import", "missing FILE.csv argument");
    if (optind + 1 < argc)
        return cli_usage_error("import", "unexpected argument '%s'", argv[optind + 1]);
    if (output == NULL)
        return cli_usage_error("import", "missing -o TRACE (the trace to create)");
    rc = gt_import_csv_with(argv[optind], output, &opts, &sum, err, sizeof err);
    if (rc != 0) {
        cli_error("cannot import '%s': %s", argv[optind], err[0] != '\0' ? err : gt_strerror(rc));
        return CLI_EXIT_ERROR;
    }
    printf("imported %" PRId64 " events from '%s' into '%s'\n", sum.events,
           gt_report_clean(argv[optind], in, sizeof in), gt_report_clean(output, out, sizeof out));
    return CLI_EXIT_OK;
}
