/* gpu-trace import: convert another tool's recording into a trace. The
 * format is told by the first bytes of the file, not by its name, so a
 * renamed or extensionless file still imports: a CSV of allocation events
 * (the interchange format ts_ns,action,addr,size,stream,device) or a PyTorch
 * profiler chrome trace (JSON, plain or gzipped). */
#include "cli_int.h"
#include "gputrace/err.h"
#include "gputrace/files.h"
#include "gputrace/conf.h"
#include "gputrace/import.h"
#include "gputrace/report.h"
#include "gputrace/text.h"
#include "gputrace/units.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "gputrace/banned.h"

static void usage(FILE *f)
{
    fputs("Usage: gpu-trace import FILE -o TRACE [--alloc-conf CONF]\n"
          "                        [--device-name NAME] [--device-memory SIZE]\n"
          "\n"
          "Converts a recording into a new gpu-trace trace. The format is read from\n"
          "the start of FILE, whatever its name:\n"
          "\n"
          "  CSV           starts with the header ts_ns,action,addr,size,stream,device;\n"
          "                actions are alloc, free, empty_cache, segment_alloc,\n"
          "                segment_free, segment_map, segment_unmap and oom; a free may\n"
          "                leave size empty. A row that cannot be read is an error\n"
          "                naming its line.\n"
          "  chrome trace  a PyTorch profiler trace (JSON, or gzipped JSON as .json.gz)\n"
          "                recorded with profile_memory=True. Its [memory] events of CUDA\n"
          "                devices become allocs and frees in (ts, Ev Idx) order, with\n"
          "                Total Allocated and Total Reserved kept as ground truth; the\n"
          "                card comes from deviceProperties. An unreadable memory event is\n"
          "                an error naming its index in traceEvents.\n"
          "  snapshot      a PyTorch memory snapshot (a pickle, as written by\n"
          "                torch.cuda.memory._dump_snapshot(); docs/import.md).\n"
          "  trace         a gpu-trace trace of an older format (version 1: one row\n"
          "                per event), copied into the current one with all its tables.\n"
          "\n"
          "Options:\n"
          "  -o, --output TRACE        the trace to create (never overwritten)\n"
          "  -a, --alloc-conf CONF     the PYTORCH_CUDA_ALLOC_CONF the run used ('' for\n"
          "                            none); analyze then compares against it\n"
          "  -n, --device-name NAME    the card the run used, e.g. 'NVIDIA RTX 4090'\n"
          "                            (overrides what the file says)\n"
          "  -m, --device-memory SIZE  that card's memory (24GiB, 81559MiB, bytes);\n"
          "                            analyze uses it as the default cap\n"
          "  -h, --help                show this help and exit\n"
          "\n"
          "EXAMPLES\n"
          "  gpu-trace import events.csv -o run.db\n"
          "  gpu-trace import events.csv -o run.db --alloc-conf expandable_segments:True\n"
          "  gpu-trace import events.csv -o run.db --device-memory 24GiB\n"
          "  gpu-trace import profile.json.gz -o step.db\n"
          "  gpu-trace import old-v1.db -o run.db\n"
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
    enum gt_import_format format;
    const char *output = NULL, *why;
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
                cli_error("invalid config '%s': %s", gt_text_clean(optarg, in, sizeof in), err);
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
                cli_error("invalid size '%s': %s", gt_text_clean(optarg, in, sizeof in),
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
        return cli_usage_error("import", "missing FILE argument");
    if (optind + 1 < argc)
        return cli_usage_error("import", "unexpected argument '%s'", argv[optind + 1]);
    if (output == NULL)
        return cli_usage_error("import", "missing -o TRACE (the trace to create)");
    char bad[128];
    if ((rc = gt_files_check_input(argv[optind], bad, sizeof bad)) != 0) {
        cli_error("cannot import '%s': %s", argv[optind], bad);
        return CLI_EXIT_ERROR;
    }
    if (gt_import_sniff(argv[optind], &format, &why) != 0) {
        cli_error("cannot import '%s': %s", argv[optind], strerror(errno));
        return CLI_EXIT_ERROR;
    }
    if (format == GT_IMPORT_UNKNOWN) {
        cli_error("cannot import '%s': not a CSV, chrome trace or memory snapshot (%s)",
                  argv[optind], why);
        return CLI_EXIT_ERROR;
    }
    rc = gt_import_file(format, argv[optind], output, &opts, &sum, err, sizeof err);
    if (rc != 0) {
        cli_error("cannot import '%s': %s", argv[optind], err[0] != '\0' ? err : gt_strerror(rc));
        return CLI_EXIT_ERROR;
    }
    printf("imported %" PRId64 " events from '%s' into '%s'\n", sum.events,
           gt_text_clean(argv[optind], in, sizeof in), gt_text_clean(output, out, sizeof out));
    if (format == GT_IMPORT_SNAPSHOT) {
        char r[32], a[32];
        printf("start state (rebuilt): %" PRId64 " segments, %s reserved, %s allocated before "
               "the first event\n",
               sum.initial_segments,
               gt_units_format_bytes((uint64_t)sum.initial_reserved_bytes, r, sizeof r),
               gt_units_format_bytes((uint64_t)sum.initial_allocated_bytes, a, sizeof a));
        if (sum.inferred_empty_cache)
            printf("empty_cache calls inferred: %" PRId64 "\n", sum.inferred_empty_cache);
    }
    return CLI_EXIT_OK;
}
