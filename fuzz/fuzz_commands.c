/* libFuzzer target for every command's path over a trace file: each input
 * is written to a file and, when it opens as a trace, goes through what
 * analyze, stats, oom, validate and export do: the scenario, a replay of a
 * few configs with --fit, the stats with the iterations, the OOM report,
 * the validation, and the snapshot and timeline exports. Any file must end
 * in an error or an answer, never a crash, a hang or a leak; and a
 * snapshot that was written must decode (gpu-trace's own pickle decoder is
 * the oracle of its writer). (report and plot add the HTML and gnuplot writers, which run
 * programs; their numbers come from these same calls.) */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gputrace/conf.h"
#include "gputrace/export.h"
#include "gputrace/growth.h"
#include "gputrace/oom.h"
#include "gputrace/pickle.h"
#include "gputrace/replay.h"
#include "gputrace/scenario.h"
#include "gputrace/stats.h"
#include "gputrace/validate.h"

#include "fuzz_files.h"
#include "gputrace/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char trace_path[128];

static void replay(const struct gt_scenario *scn)
{
    static const char *const texts[] = {"default", "expandable_segments:True",
                                        "max_split_size_mb:64", "nocache"};
    struct gt_conf confs[4];
    struct gt_replay_options o = {0};
    struct gt_analysis *a = NULL, *u = NULL;
    uint64_t *fit = NULL;
    char err[512];

    for (size_t i = 0; i < 4; i++)
        if (gt_conf_parse(texts[i], &confs[i], err, sizeof err) != 0)
            abort();
    o.scenario = scn;
    o.threads = 1;
    o.add_recorded_conf = 1;
    if (gt_replay_trace(trace_path, confs, 4, &o, &a, err, sizeof err) != 0)
        return;
    if (gt_replay_uncapped(trace_path, a, &o, &u, err, sizeof err) == 0)
        gt_replay_fit(trace_path, a, u, &o, &fit, err, sizeof err);
    free(fit);
    gt_analysis_free(u);
    gt_analysis_free(a);
}

/* The snapshot of the recorded run and of a simulated one, each decoded
 * back; the timeline of two configs. */
static void export(const struct gt_scenario *scn)
{
    static char out[160];
    struct gt_conf conf[2];
    struct gt_pickle *p = NULL;
    char err[512];

    if (fuzz_path("cmd", "out", out, sizeof out) != 0 ||
        gt_conf_parse("default", &conf[0], err, sizeof err) != 0 ||
        gt_conf_parse("expandable_segments:True", &conf[1], err, sizeof err) != 0)
        abort();
    for (int k = 0; k < 2; k++) {
        struct gt_export_options o = {.scenario = scn, .conf = k ? &conf[1] : NULL};
        if (gt_export_snapshot(trace_path, out, &o, NULL, err, sizeof err) != 0)
            continue;
        if (gt_pickle_load(out, &p, err, sizeof err) != 0)
            abort(); /* the writer wrote what the decoder refuses */
        gt_pickle_free(p);
        unlink(out);
    }
    if (gt_export_perfetto(trace_path, out, scn, conf, 2, NULL, err, sizeof err) == 0)
        unlink(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gt_scenario *scn = NULL;
    struct gt_stats *st = NULL;
    struct gt_oom_report *oom = NULL;
    struct gt_validation *v = NULL;
    char err[512];

    if (fuzz_path("cmd", "in.db", trace_path, sizeof trace_path) != 0 ||
        fuzz_write(trace_path, data, size) != 0)
        return 0;
    /* a small card, so the OOM paths run too */
    if (gt_scenario_build(trace_path, (uint64_t)64 << 20, &scn, err, sizeof err) == 0) {
        replay(scn);
        if (gt_stats_compute(trace_path, scn, &st, err, sizeof err) == 0) {
            gt_growth_compute(trace_path, scn, "default", 3, &st->growth, err, sizeof err);
            gt_stats_free(st);
        }
        if (gt_oom_analyze(trace_path, scn, NULL, NULL, &oom, err, sizeof err) == 0)
            gt_oom_report_free(oom);
        if (gt_validate_trace(trace_path, scn, &v, err, sizeof err) == 0)
            free(v);
        export(scn);
        gt_scenario_free(scn);
    }
    unlink(trace_path);
    return 0;
}
