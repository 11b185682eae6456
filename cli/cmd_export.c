/* gpu-trace export: a trace as a file other tools open (export.h). */
#include "cli_int.h"
#include "gputrace/conf.h"
#include "gputrace/err.h"
#include "gputrace/export.h"
#include "gputrace/report.h"
#include "gputrace/scenario.h"
#include "gputrace/text.h"

#include <getopt.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "gputrace/banned.h"

static void usage(FILE *f)
{
    fputs("Usage: gpu-trace export TRACE --format snapshot -o FILE.pickle [--config CONF]\n"
          "                        [--device-memory SIZE]\n"
          "       gpu-trace export TRACE --format perfetto -o FILE.json [--config CONF]...\n"
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
          "--format perfetto writes the memory over time under each config as Chrome\n"
          "trace-event JSON for ui.perfetto.dev or chrome://tracing: per device, one\n"
          "group of tracks comparing the configs' reserved memory, and per config its\n"
          "allocated and reserved memory with a marker at each out-of-memory error.\n"
          "Without --config: the recorded settings (or default) and\n"
          "expandable_segments:True.\n"
          "\n"
          "Options:\n"
          "  -f, --format FORMAT       snapshot (the default) or perfetto\n"
          "  -o, --output FILE         the file to write (replaced whole at the end, never\n"
          "                            the trace itself); - for standard output\n"
          "  -c, --config CONF         simulate under a PYTORCH_CUDA_ALLOC_CONF string or\n"
          "                            'default' (perfetto: repeatable, and 'nocache');\n"
          "                            default: the recorded run\n"
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
          "  gpu-trace export run.db -o expandable.pickle --config expandable_segments:True\n"
          "  gpu-trace export run.db --format perfetto -o run.json --config default \\\n"
          "      --config max_split_size_mb:128 --device-memory 16GiB\n",
          f);
}

struct export_args {
    const char *trace, *output, *memory;
    bool perfetto;
    const char *configs[GT_EXPORT_MAX_CONFIGS];
    size_t nconfigs;
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
            if (strcmp(optarg, "snapshot") != 0 && strcmp(optarg, "perfetto") != 0)
                return cli_usage_error(
                    "export", "unknown format '%s': expected snapshot or perfetto", optarg);
            a->perfetto = strcmp(optarg, "perfetto") == 0;
            break;
        case 'o':
            a->output = optarg;
            break;
        case 'c':
            if (a->nconfigs == GT_EXPORT_MAX_CONFIGS)
                return cli_usage_error("export", "more than %d --config", GT_EXPORT_MAX_CONFIGS);
            a->configs[a->nconfigs++] = optarg;
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
    if (cli_trace_operand("export", argc, argv, &a->trace) != 0)
        return CLI_EXIT_USAGE;
    if (a->output == NULL || a->output[0] == '\0')
        return cli_usage_error("export", "missing -o FILE");
    if (strcmp(a->output, "-") == 0 && !a->perfetto && isatty(STDOUT_FILENO))
        return cli_usage_error("export", "a snapshot is binary: -o - writes it to a pipe or a "
                                         "file, not to a terminal");
    if (!a->perfetto && a->nconfigs > 1)
        return cli_usage_error("export", "a snapshot is of one run: one --config at most");
    if (!a->perfetto && a->memory != NULL && a->nconfigs == 0)
        return cli_usage_error("export", "--device-memory needs --config: the recorded run "
                                         "already ran on its card");
    return 0;
}

static void print_cards(const struct gt_scenario *scn)
{
    char card[256];
    for (size_t i = 0; i < scn->ndevices; i++)
        printf("  device %d card: %s\n", (int)scn->devices[i].device,
               gt_scenario_card_line(&scn->devices[i], card, sizeof card));
}

static void say_written(const struct export_args *a, const struct gt_export_result *res,
                        const struct gt_scenario *scn)
{
    char path[512];
    printf("wrote '%s': %lld trace entries on %zu device%s, %zu segment%s, ",
           gt_text_clean(a->output, path, sizeof path), (long long)res->entries, res->devices,
           res->devices == 1 ? "" : "s", res->segments, res->segments == 1 ? "" : "s");
    if (a->nconfigs == 0) {
        printf("the recorded run\n");
    } else {
        printf("simulated under '%s'\n", gt_text_clean(a->configs[0], path, sizeof path));
        print_cards(scn);
    }
    printf("open it at https://pytorch.org/memory_viz (drop the file on the page)\n");
    if (res->end_state_missing)
        cli_warning("'%s' records no end state: the snapshot has no segments (pass --config "
                    "to export a simulated run with them)",
                    a->trace);
}

/* The configs to replay, parsed: those given, or for a timeline without
 * any the recorded settings (or default) and expandable segments. */
static int parse_configs(struct export_args *a, const struct gt_scenario *scn, struct gt_conf *out,
                         size_t *n)
{
    char err[512] = "";
    int rc;
    if (a->nconfigs == 0 && a->perfetto) {
        const char *first = "default";
        if (scn->has_recorded_conf && gt_conf_parse(scn->recorded_conf, &out[0], NULL, 0) == 0)
            first = scn->recorded_conf;
        a->configs[a->nconfigs++] = first;
        if (strcmp(first, "expandable_segments:True") != 0)
            a->configs[a->nconfigs++] = "expandable_segments:True";
    }
    for (*n = 0; *n < a->nconfigs; (*n)++) {
        rc = gt_conf_parse(a->configs[*n], &out[*n], err, sizeof err);
        if (rc != 0) {
            cli_error("invalid config '%s': %s", a->configs[*n],
                      err[0] != '\0' ? err : gt_strerror(rc));
            return CLI_EXIT_ERROR;
        }
    }
    return 0;
}

static int run_export(const struct export_args *a, const struct gt_scenario *scn,
                      const struct gt_conf *confs, size_t n, struct gt_export_result *res,
                      char *err, size_t errlen)
{
    if (a->perfetto)
        return gt_export_perfetto(a->trace, a->output, scn, confs, n, res, err, errlen);
    struct gt_export_options o = {.scenario = scn, .conf = n ? &confs[0] : NULL};
    return gt_export_snapshot(a->trace, a->output, &o, res, err, errlen);
}

static void say_timeline(const struct export_args *a, const struct gt_export_result *res,
                         const struct gt_scenario *scn)
{
    char path[512];
    printf("wrote '%s': %lld trace events, %zu config%s on %zu device%s\n",
           gt_text_clean(a->output, path, sizeof path), (long long)res->entries, a->nconfigs,
           a->nconfigs == 1 ? "" : "s", res->devices, res->devices == 1 ? "" : "s");
    for (size_t k = 0; k < a->nconfigs; k++)
        printf("  %s\n", gt_text_clean(a->configs[k], path, sizeof path));
    print_cards(scn);
    printf("open it at https://ui.perfetto.dev or chrome://tracing\n");
}

int cmd_export(int argc, char **argv)
{
    static struct gt_conf confs[GT_EXPORT_MAX_CONFIGS];
    struct export_args a = {0};
    struct gt_scenario *scn = NULL;
    struct gt_export_result res;
    uint64_t memory = 0;
    size_t n = 0;
    char err[512] = "";
    int rc = parse_args(argc, argv, &a);

    if (rc != 0)
        return rc < 0 ? CLI_EXIT_OK : rc;
    if (a.memory != NULL && cli_parse_device_memory(a.memory, &memory) != 0)
        return CLI_EXIT_ERROR;
    rc = gt_scenario_build(a.trace, memory, &scn, err, sizeof err);
    if (rc != 0) {
        cli_trace_error(a.trace, rc, err);
        return CLI_EXIT_ERROR;
    }
    if (parse_configs(&a, scn, confs, &n) != 0 || (n > 0 && cli_start_exceeds_card(a.trace, scn))) {
        gt_scenario_free(scn);
        return CLI_EXIT_ERROR;
    }
    rc = run_export(&a, scn, confs, n, &res, err, sizeof err);
    if (rc == GT_EIO && strncmp(err, "cannot write", 12) == 0)
        cli_error("%s", err);
    else if (rc != 0)
        cli_trace_error(a.trace, rc, err);
    else if (strcmp(a.output, "-") == 0)
        ; /* standard output holds the file: nothing else goes there */
    else if (a.perfetto)
        say_timeline(&a, &res, scn);
    else
        say_written(&a, &res, scn);
    gt_scenario_free(scn);
    return rc == 0 ? CLI_EXIT_OK : CLI_EXIT_ERROR;
}
