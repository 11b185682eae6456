/* Writers of growth across iterations (growth.h). */
#include "gputrace/err.h"
#include "gputrace/growth.h"
#include "gputrace/report.h"
#include "gputrace/text.h"
#include "gputrace/units.h"
#include "gputrace/growth_report.h"
#include "gputrace/peak_report.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>

#include "gputrace/banned.h"

/* Boundaries shown for people: the first ones and the last ones. */
#define SHOWN_EACH_END 5

static void table_boundaries(FILE *f, const struct gt_growth_device *d)
{
    char a[32];
    for (size_t k = 0; k < d->iterations; k++) {
        if (d->iterations > 2 * SHOWN_EACH_END + 1 && k == SHOWN_EACH_END) {
            fprintf(f, "    ... %zu more\n", d->iterations - 2 * SHOWN_EACH_END);
            k = d->iterations - SHOWN_EACH_END - 1;
            continue;
        }
        fprintf(f, "    iteration %-6zu from event %-10" PRId64 " allocated %s\n", k + 1,
                d->boundary[k], gt_units_format_bytes(d->allocated[k], a, sizeof a));
    }
}

static void table_verdict(FILE *f, const struct gt_growth_device *d)
{
    char a[32], b[32];
    double g = d->growth_per_iteration;
    if (d->iterations < 4) {
        fputs("  too few iterations to tell growth from warm-up (4 needed)\n", f);
        return;
    }
    fprintf(f, "  %s: %s%s per iteration from the second on\n", d->leak ? "grows" : "steady",
            g < 0 ? "-" : "+", gt_units_format_bytes((uint64_t)llround(fabs(g)), a, sizeof a));
    if (!d->leak)
        return;
    fputs("  a leak if each iteration is a training step (a forward pass's layers grow this "
          "way too: their activations are kept for the backward)\n",
          f);
    fprintf(f,
            "  %zu allocations (%s) made since iteration 2 are still live at the last "
            "boundary, from %zu call stack%s:\n",
            d->kept_allocs, gt_units_format_bytes(d->kept_bytes, b, sizeof b), d->ngroups_total,
            d->ngroups_total == 1 ? "" : "s");
    gt_peak_groups_table_write(f, "  ", d->groups, d->ngroups);
}

int gt_growth_table_write(FILE *f, const struct gt_growth *g)
{
    char cfg[300];
    fprintf(f, "\niterations (%s):\n", gt_text_clean(g->config, cfg, sizeof cfg));
    for (size_t i = 0; i < g->ndevices; i++) {
        const struct gt_growth_device *d = &g->devices[i];
        fprintf(f, "device %d: ", (int)d->device);
        if (!d->found) {
            fprintf(f, "no repeating iteration in %zu allocation requests%s\n", d->allocs,
                    d->truncated ? " (the first searched)" : "");
            continue;
        }
        fprintf(f,
                "%zu iterations of %zu allocation requests (%.1f%% repeat one iteration later)%s\n",
                d->iterations, d->period, 100 * d->match,
                d->truncated ? ", in the first requests searched" : "");
        table_boundaries(f, d);
        table_verdict(f, d);
    }
    return ferror(f) ? GT_EIO : 0;
}

int gt_growth_json_write(FILE *f, const struct gt_growth *g)
{
    fputc('[', f);
    for (size_t i = 0; i < g->ndevices; i++) {
        const struct gt_growth_device *d = &g->devices[i];
        fprintf(f,
                "%s{\"device\": %d, \"allocations_searched\": %zu, \"truncated\": %s, "
                "\"found\": %s, \"period_allocations\": %zu, \"match\": %.4f, "
                "\"iterations\": %zu, \"boundaries\": [",
                i ? ", " : "", (int)d->device, d->allocs, d->truncated ? "true" : "false",
                d->found ? "true" : "false", d->found ? d->period : 0, d->found ? d->match : 0,
                d->found ? d->iterations : 0);
        for (size_t k = 0; d->found && k < d->iterations; k++)
            fprintf(f, "%s{\"event\": %" PRId64 ", \"allocated_bytes\": %" PRIu64 "}",
                    k ? ", " : "", d->boundary[k], d->allocated[k]);
        fprintf(f,
                "], \"growth_bytes_per_iteration\": %.0f, \"leak\": %s, \"kept_allocations\": "
                "%zu, \"kept_bytes\": %" PRIu64 ", \"groups\": %zu, \"top\": ",
                d->growth_per_iteration, d->leak ? "true" : "false", d->kept_allocs, d->kept_bytes,
                d->ngroups_total);
        gt_peak_groups_json_write(f, d->groups, d->ngroups);
        fputc('}', f);
    }
    fputc(']', f);
    return ferror(f) ? GT_EIO : 0;
}
