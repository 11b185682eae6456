/* The configs that the plots' per-event views replay, for the tests that
 * hold `plot` and `report` to one replay of each (issue 13). */
#ifndef GPUTRACE_TEST_PLOT_CONFIGS_H
#define GPUTRACE_TEST_PLOT_CONFIGS_H

#include <check.h>
#include <stdbool.h>

#include "gputrace/conf.h"
#include "gputrace/replay.h"
#include "gputrace/scenario.h"

/* The configs of a one-device trace that the timeline draws (plot.h: the
 * best config of the device, the default and the recorded one; the segment
 * map takes the default again), told apart by their settings. The report's
 * stats and oom replay the recorded config (the defaults when the trace
 * names none), one of them. scn: as gt_replay_options.scenario. */
static long distinct_plotted_configs(const char *trace, const struct gt_scenario *scn)
{
    struct gt_conf confs[32], def;
    const struct gt_conf *want[3], *seen[3];
    struct gt_replay_options ro = {.scenario = scn, .add_recorded_conf = 1};
    struct gt_analysis *a = NULL;
    char err[512] = "";
    size_t nwant = 0;
    long n = 0;

    ck_assert_msg(gt_replay_trace(trace, confs, gt_replay_default_sweep(confs, 32), &ro, &a, err,
                                  sizeof err) == 0,
                  "%s", err);
    ck_assert_uint_eq(a->ndevices, 1); /* the busiest device is the only one */
    ck_assert_ptr_nonnull(gt_replay_best(a, 0));
    gt_conf_init_default(&def);
    want[nwant++] = &a->configs[gt_replay_best(a, 0)->config_index];
    want[nwant++] = &def;
    if (a->has_recorded_conf)
        want[nwant++] = &a->configs[a->recorded_index];
    for (size_t i = 0; i < nwant; i++) {
        bool known = false;
        for (long k = 0; k < n; k++)
            known |= gt_conf_same_settings(seen[k], want[i]);
        if (!known)
            seen[n++] = want[i];
    }
    gt_analysis_free(a);
    return n;
}

#endif
