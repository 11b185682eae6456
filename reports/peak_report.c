/* Writers of what is live at the peak (peak.h). */
#include "gputrace/peak.h"
#include "gputrace/err.h"
#include "gputrace/report.h"
#include "gputrace/text.h"
#include "gputrace/units.h"
#include "gputrace/peak_report.h"

#include <inttypes.h>
#include <stdio.h>

#include "gputrace/banned.h"

/* "models.py:174 update_nodes < train.py:42 forward", cleaned. */
static void where(FILE *f, const struct gt_peak_group *g)
{
    char file[200], fn[120];

    if (g->origin == GT_PEAK_START) {
        fputs("(live before the trace began)", f);
        return;
    }
    if (g->origin == GT_PEAK_NO_FRAMES || g->nframes == 0) {
        fputs("(no call stack recorded)", f);
        return;
    }
    for (size_t i = 0; i < g->nframes; i++)
        fprintf(f, "%s%s:%lld %s", i ? " < " : "",
                gt_text_clean(g->frames[i].file, file, sizeof file), (long long)g->frames[i].line,
                gt_text_clean(g->frames[i].function, fn, sizeof fn));
}

void gt_peak_groups_table_write(FILE *f, const char *indent, const struct gt_peak_group *g,
                                size_t n)
{
    char a[32], b[32];

    for (size_t k = 0; k < n; k++) {
        fprintf(f, "%s%6zu x %12s  (asked %12s)  ", indent, g[k].count,
                gt_units_format_bytes(g[k].blocks, a, sizeof a),
                gt_units_format_bytes(g[k].requested, b, sizeof b));
        where(f, &g[k]);
        fputc('\n', f);
    }
}

int gt_peak_live_table_write(FILE *f, const struct gt_peak_live *p)
{
    char a[32], b[32], cfg[300];

    fprintf(f, "\nlive at the reserved peak (%s):\n", gt_text_clean(p->config, cfg, sizeof cfg));
    for (size_t i = 0; i < p->ndevices; i++) {
        const struct gt_peak_device *d = &p->devices[i];
        if (d->event < 0)
            continue;
        fprintf(f,
                "device %d after event %" PRId64 ": reserved %s, allocated %s in %zu allocations",
                (int)d->device, d->event, gt_units_format_bytes(d->reserved, a, sizeof a),
                gt_units_format_bytes(d->allocated, b, sizeof b), d->allocs);
        fprintf(f, " from %zu call stack%s%s\n", d->ngroups_total, d->ngroups_total == 1 ? "" : "s",
                d->ngroups < d->ngroups_total ? " (the largest shown)" : "");
        gt_peak_groups_table_write(f, "  ", d->groups, d->ngroups);
    }
    return ferror(f) ? GT_EIO : 0;
}

static const char *origin_name(enum gt_peak_origin o)
{
    return o == GT_PEAK_STACK ? "stack" : o == GT_PEAK_START ? "start_state" : "no_frames";
}

void gt_peak_groups_json_write(FILE *f, const struct gt_peak_group *g, size_t n)
{
    fputc('[', f);
    for (size_t k = 0; k < n; k++) {
        fprintf(f,
                "%s{\"count\": %zu, \"requested_bytes\": %" PRIu64 ", \"block_bytes\": %" PRIu64
                ", \"origin\": \"%s\", \"frames\": [",
                k ? ", " : "", g[k].count, g[k].requested, g[k].blocks, origin_name(g[k].origin));
        for (size_t j = 0; j < g[k].nframes; j++) {
            fputs(j ? ", {\"file\": " : "{\"file\": ", f);
            gt_report_json_string(f, g[k].frames[j].file);
            fprintf(f, ", \"line\": %lld, \"function\": ", (long long)g[k].frames[j].line);
            gt_report_json_string(f, g[k].frames[j].function);
            fputc('}', f);
        }
        fputs("]}", f);
    }
    fputc(']', f);
}

int gt_peak_live_json_write(FILE *f, const struct gt_peak_live *p)
{
    fputc('[', f);
    for (size_t i = 0; i < p->ndevices; i++) {
        const struct gt_peak_device *d = &p->devices[i];
        fprintf(f,
                "%s{\"device\": %d, \"event\": %" PRId64 ", \"reserved_bytes\": %" PRIu64
                ", \"allocated_bytes\": %" PRIu64 ", \"allocations\": %zu, \"groups\": %zu, "
                "\"top\": ",
                i ? ", " : "", (int)d->device, d->event, d->reserved, d->allocated, d->allocs,
                d->ngroups_total);
        gt_peak_groups_json_write(f, d->groups, d->ngroups);
        fputc('}', f);
    }
    fputc(']', f);
    return ferror(f) ? GT_EIO : 0;
}
