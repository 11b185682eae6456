/* Plots with gnuplot, run as an external program (no shell: fork/exec with
 * an argument vector), from a script and data files written to a private
 * temporary folder that is removed afterwards. */
#ifndef GPUTRACE_PLOT_H
#define GPUTRACE_PLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gputrace/conf.h"
#include "gputrace/replay.h"
#include "gputrace/scenario.h"

enum gt_plot_format { GT_PLOT_PNG = 0, GT_PLOT_SVG = 1 };

struct gt_plot_options {
    uint64_t device_memory;     /* the card asked about (when scenario is NULL); 0 = the trace's */
    enum gt_plot_format format; /* PNG by default */
    const char *gnuplot;        /* program to run; NULL = "gnuplot" found on PATH */
    /* The trace's scenario (cards, start state), borrowed; NULL builds one
     * from device_memory. */
    const struct gt_scenario *scenario;
    /* analyze's replay of the default sweep on that scenario, borrowed, so
     * the plots draw the very numbers the ranking shows; NULL replays it. */
    const struct gt_analysis *sweep;
    /* The smallest card of each of sweep's configs on the plotted device
     * (gt_replay_fit's array, borrowed): draws "fit" too. NULL: no fit. */
    const uint64_t *fit;
    /* sweep replayed without caps (gt_replay_uncapped), borrowed: the
     * bounds of the search for the smallest cards when fit is NULL; NULL
     * replays it. A caller that has it already (the HTML report) saves a
     * replay of the whole sweep. */
    const struct gt_analysis *uncapped;
    bool has_device; /* plot this device ordinal instead of the busiest */
    int32_t device;
};

/* The plots, each a file named <name>.png or <name>.svg in the output folder:
 *  - "split-sizes": peak reserved and fragmentation for each max_split_size_mb
 *    (64..512 and unlimited), with and without expandable segments, the
 *    device-memory line drawn;
 *  - "timeline": allocated and reserved over time for the best config, the
 *    default and the trace's own config (downsampled, peaks kept);
 *  - "request-sizes": request-size histogram, log bins, the 1 MiB small/large
 *    pool boundary marked;
 *  - "segments": the segment map at the reserved peak of the default config:
 *    each segment with its allocated and free blocks;
 *  - "fit": the smallest card on which each config of the sweep runs without
 *    an OOM (gt_replay_fit), with common card sizes marked. */
#define GT_PLOT_NAMES                                                                              \
    {                                                                                              \
        "split-sizes", "timeline", "request-sizes", "segments", "fit"                              \
    }
#define GT_PLOT_COUNT 5

/* gt_plot_all: writes the four plots of trace into dir (created if absent,
 * mode 0700). Errors: GT_ENOENT with "gnuplot not found: install the
 * gnuplot-nox package" when gnuplot cannot be run, the errors of the trace
 * reader and of replay, GT_EIO. errbuf gets a one-line message. */
int gt_plot_all(const char *trace, const char *dir, const struct gt_plot_options *opts,
                char *errbuf, size_t errlen);

/* gt_plot_all in three steps, for a command that replays a config for
 * other analyses too (the report's replay of the recorded config, which
 * stats and oom watch), so that the plots' per-event views (the timeline's
 * series and the segment map) watch that replay instead of making their
 * own (issue 13: each config replayed once).
 *
 * gt_plot_begin does everything but the per-event replays: the checks, the
 * output folder, the sweep (unless opts->sweep), the device, the fit; on
 * success *pass is owned until gt_plot_end, which always frees it. trace,
 * dir and what opts points to are borrowed until then; opts itself is
 * copied. gt_plot_observer: when some view still needs a replay of conf's
 * settings, fills *observer with the callbacks of all the views of those
 * settings, for the caller to attach to its replay of conf on the scenario
 * of opts (gt_inspect_run_shared), and returns true; then gt_plot_end does
 * not replay that config. An observer's callbacks never fail. gt_plot_end
 * takes the result of the caller's replay (0, or its error, which it
 * returns), replays each config that no observer was taken for once, with
 * all its views, and writes the plots as gt_plot_all does. */
struct gt_plot_pass;
struct gt_inspect_options;
int gt_plot_begin(const char *trace, const char *dir, const struct gt_plot_options *opts,
                  struct gt_plot_pass **pass, char *errbuf, size_t errlen);
bool gt_plot_observer(struct gt_plot_pass *pass, const struct gt_conf *conf,
                      struct gt_inspect_options *observer);
int gt_plot_end(struct gt_plot_pass *pass, int rc, char *errbuf, size_t errlen);

#endif
