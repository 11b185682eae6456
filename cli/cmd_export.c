/* gpu-trace export: a trace as a file other tools open (export.h). */
#include "cli_int.h"
#include "gputrace/conf.h"
#include "gputrace/err.h"
#include "gputrace/export.h"
#include "gputrace/report.h"
#include "gputrace/scenario.h"

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "gputrace/banned.h"

static void usage(FILE *f)
{
    fputs("Usage: gpu-trace export TRACE --format snapshot -o FILE.pickle [--config CONF]\n"
          "                        [--device-memory SIZE]\n"
          "\n"
          "Writes TRACE as a PyTorch memory snapshot, the pickle that\n"
          "torch.cuda.memory._dump_snapshot writes: open it at pytorch.org/memory_viz\n"
          "or with torch.cuda._memory_viz. Without --config it is the run as recorded\n"
          "(the end state it recorded, the events with their stacks); with --config it\n"
          "is the run gpu-trace simulates under those settings, from the same start\n"
          "state and on the same card as every other command: the viewer then shows\n"
          "the prediction, segment by segment, out-of-memory errors included.\n"
          "\n"
          "Options:\n"
          "  -f, --format snapshot     what to write (snapshot, the default)\n"
          "  -o, --output FILE         the file to write (replaced whole at the end, never\n"
          "                            the trace itself)\n"
          "  -c, --config CONF         simulate under a PYTORCH_CUDA_ALLOC_CONF string or\n"
          "                            'default'; default: the recorded run\n"
          "  -m, --device-memory SIZE  the card for --config (8GiB, 8G, bytes); default:\n"
          "                            the card the trace reveals\n"
          "  -h, --help                show this help and exit\n"
          "\n"
          "A recorded run whose trace holds no end state (a CUPTI recording, a\n"
          "profiler trace) has no segments: the viewers draw its timeline from the\n"
          "trace entries alone; --config gives both.\n"
          "\n"
          "Exit status: 0 when the file was written, 1 when the trace cannot be read\n"
          "or replayed or the file cannot be written, 2 for a usage error.\n"
          "\n"
          "EXAMPLES\n"
          "  gpu-trace export run.db --format snapshot -o run.pickle\n"
          "  gpu-trace export run.db -o expandable.pickle --config expandable_segments:True\n",
          f);
}

struct export_args {
    const char *trace, *output, *config, *memory;
};

/* 0 to go on, -1 after --help, or an exit code. */
static int parse_args(int argc, char **argv, struct export_args *a)
{
    static const struct option longopts[] = {
        {"format", required_argument, NULL, 'f'}, {"output", required_argument, NULL, 'o'},
        {"config", required_argument, NULL, 'c'}, {"device-memory", required_argument, NULL, 'm'},
        {"help", no_argument, NULL, 'h'},         {NULL, 0, NULL, 0}};
    int c;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":f:o:c:m:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'f':
            if (strcmp(optarg, "snapshot") != 0)
                return cli_usage_error("export", "unknown format '%s': expected snapshot", optarg);
            break;
        case 'o':
            a->output = optarg;
            break;
        case 'c':
            a->config = optarg;
            break;
        case 'm':
            a->memory = optarg;
            break;
        case 'h':
            usage(stdout);
            return -1;
        default:
            return cli_option_error("export", c, argv);
        }
    }
    if (optind >= argc)
        return cli_usage_error("export", "missing TRACE argument");
    if (optind + 1 < argc)
        return cli_usage_error("export", "unexpected argument '%s'", argv[optind + 1]);
    if (a->output == NULL || a->output[0] == '\0')
        return cli_usage_error("export", "missing -o FILE");
    if (a->memory != NULL && a->config == NULL)
        return cli_usage_error("export", "--device-memory needs --config: the recorded run "
                                         "already ran on its card");
    a->trace = argv[optind];
    return 0;
}

static void say_written(const struct export_args *a, const struct gt_export_result *res,
                        const struct gt_scenario *scn)
{
    char path[512], card[256];
    printf("wrote '%s': %lld trace entries on %zu device%s, %zu segment%s, ",
           gt_report_clean(a->output, path, sizeof path), (long long)res->entries, res->devices,
           res->devices == 1 ? "" : "s", res->segments, res->segments == 1 ? "" : "s");
    if (a->config == NULL) {
        printf("the recorded run\n");
    } else {
        printf("simulated under '%s'\n", gt_report_clean(a->config, path, sizeof path));
        for (size_t i = 0; i < scn->ndevices; i++)
            printf("  device %d card: %s\n", (int)scn->devices[i].device,
                   gt_scenario_card_line(&scn->devices[i], card, sizeof card));
    }
    printf("open it at https://pytorch.org/memory_viz (drop the file on the page)\n");
    if (res->end_state_missing)
        cli_warning("'%s' records no end state: the snapshot has no segments (pass --config "
                    "to export a simulated run with them)",
                    a->trace);
}

int cmd_export(int argc, char **argv)
{
    struct export_args a = {0};
    struct gt_scenario *scn = NULL;
    struct gt_export_result res;
    struct gt_conf conf;
    uint64_t memory = 0;
    char err[512] = "";
    int rc = parse_args(argc, argv, &a);

    if (rc != 0)
        return rc < 0 ? CLI_EXIT_OK : rc;
    if (a.memory != NULL && cli_parse_device_memory(a.memory, &memory) != 0)
        return CLI_EXIT_ERROR;
    if (a.config != NULL && (rc = gt_conf_parse(a.config, &conf, err, sizeof err)) != 0) {
        cli_error("invalid config '%s': %s", a.config, err[0] != '\0' ? err : gt_strerror(rc));
        return CLI_EXIT_ERROR;
    }
    rc = gt_scenario_build(a.trace, memory, &scn, err, sizeof err);
    if (rc == 0 && a.config != NULL && cli_start_exceeds_card(a.trace, scn)) {
        gt_scenario_free(scn);
        return CLI_EXIT_ERROR;
    }
    if (rc == 0) {
        struct gt_export_options o = {.scenario = scn, .conf = a.config ? &conf : NULL};
        rc = gt_export_snapshot(a.trace, a.output, &o, &res, err, sizeof err);
    }
    if (rc == GT_EIO && strncmp(err, "cannot write", 12) == 0) {
        cli_error("%s", err);
    } else if (rc != 0) {
        cli_trace_error(a.trace, rc, err);
    } else {
        say_written(&a, &res, scn);
    }
    gt_scenario_free(scn);
    return rc == 0 ? CLI_EXIT_OK : CLI_EXIT_ERROR;
}
