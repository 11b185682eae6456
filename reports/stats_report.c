/* Writers of trace statistics (stats.h): the table for people and the
 * JSON document, with the sections stats --top and --iterations add. */
#include "gputrace/err.h"
#include "gputrace/growth.h"
#include "gputrace/peak.h"
#include "gputrace/report.h"
#include "gputrace/stats.h"
#include "gputrace/text.h"
#include "gputrace/units.h"
#include "gputrace/growth_report.h"
#include "gputrace/peak_report.h"
#include "gputrace/stats_report.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "gputrace/banned.h"

#define GIB ((double)(1u << 30))

/* ---- writers --------------------------------------------------------------- */

double gt_stats_seconds(int64_t first_ns, int64_t last_ns)
{
    /* in double: the int64 difference of hostile timestamps overflows */
    return ((double)last_ns - (double)first_ns) / 1e9;
}

static double slice_value(const struct gt_stats *s, int64_t v)
{
    return s->by_index ? (double)v : (double)v / 1e9;
}

static void table_config(FILE *f, const struct gt_stats *s)
{
    char name[256], why[256];

    gt_text_clean(s->config, name, sizeof name);
    if (s->config_error[0] != '\0')
        fprintf(f, "config %s (%s)\n", name, gt_text_clean(s->config_error, why, sizeof why));
    else if (s->config_recorded)
        fprintf(f, "config %s (recorded)\n", name);
    else
        fprintf(f, "config %s (the trace does not say which settings the run used)\n", name);
}

const char *gt_stats_time_unit(const struct gt_stats *s, double *per_unit)
{
    double span = (double)s->last_ts_ns - (double)s->first_ts_ns;

    if (s->by_index) {
        *per_unit = 1;
        return "events";
    }
    /* Profiler traces of one step last milliseconds: seconds with three
     * decimals would print every slice as 0.000. */
    if (span < 1e7) {
        *per_unit = 1e3;
        return "us";
    }
    if (span < 1e9) {
        *per_unit = 1e6;
        return "ms";
    }
    *per_unit = 1e9;
    return "s";
}

static void table_timeline(FILE *f, const struct gt_stats *s, const struct gt_stats_device *d)
{
    double per;
    const char *unit = gt_stats_time_unit(s, &per);
    char head[32];

    /* GiB as PyTorch prints them, unless a small run would show 0.001s. */
    bool mib = d->peak_reserved < ((uint64_t)1 << 30);
    double scale = mib ? GIB / 1024 : GIB;

    snprintf(head, sizeof head, s->by_index ? "%s" : "time (%s)", unit);
    fprintf(f, "  %-24s  %12s  %12s\n", head, mib ? "used MiB" : "used GiB",
            mib ? "reserved MiB" : "reserved GiB");
    for (size_t i = 0; i < s->nslices; i++) {
        const struct gt_stats_slice *sl = &d->slices[i];
        char span[64];
        if (s->by_index)
            snprintf(span, sizeof span, "%" PRId64 " - %" PRId64, sl->start, sl->end);
        else
            snprintf(span, sizeof span, "%.3f - %.3f", (double)sl->start / per,
                     (double)sl->end / per);
        fprintf(f, "  %-24s  %12.3f  %12.3f\n", span, (double)sl->allocated_max / scale,
                (double)sl->reserved_max / scale);
    }
}

static void table_device(FILE *f, const struct gt_stats *s, const struct gt_stats_device *d)
{
    char name[256], a[32], b[32], m[256];

    fprintf(f, "device %" PRId32, d->device);
    if (d->name[0] != '\0' || d->total_memory > 0) {
        gt_text_clean(d->name[0] != '\0' ? d->name : "unknown card", name, sizeof name);
        fprintf(f, " (%s", name);
        if (d->total_memory > 0)
            fprintf(f, ", %s", gt_units_format_bytes(d->total_memory, m, sizeof m));
        fputc(')', f);
    }
    fputc('\n', f);
    fprintf(f, "  %-14s  %s\n", "card", gt_scenario_card_line(&d->card, m, sizeof m));
    fprintf(f, "  %-14s  %" PRId64 " over %.3f s\n", "events", d->events,
            gt_stats_seconds(d->first_ts_ns, d->last_ts_ns));
    fprintf(f,
            "  %-14s  %" PRId64 " allocs, %" PRId64 " frees, %" PRId64 " empty_cache, %" PRId64
            " recorded OOMs\n",
            "requests", d->allocs, d->frees, d->empty_caches, d->recorded_ooms);
    if (d->recorded_ooms > 0) {
        fprintf(f, "  %-14s  event %" PRId64 " asked %s; ", "first OOM", d->first_oom_event,
                gt_units_format_bytes(d->first_oom_requested, a, sizeof a));
        if (d->first_oom_free > 0)
            fprintf(f, "%s of the device was free then\n",
                    gt_units_format_bytes(d->first_oom_free, b, sizeof b));
        else
            fputs("the free memory then is not recorded\n", f);
    }
    fprintf(f, "  %-14s  peak %s, at the end %s (bytes asked and not freed)\n", "requested",
            gt_units_format_bytes(d->requested_peak, a, sizeof a),
            gt_units_format_bytes(d->requested_final, b, sizeof b));
    fprintf(f, "  %-14s  peak allocated %s, peak reserved %s on %s, %" PRId64 " OOMs\n",
            "simulated", gt_units_format_bytes(d->peak_allocated, a, sizeof a),
            gt_units_format_bytes(d->peak_reserved, b, sizeof b),
            d->device_memory > 0 ? gt_units_format_bytes(d->device_memory, m, sizeof m)
                                 : "unlimited memory",
            d->simulated_ooms);
    if (d->utilization >= 0)
        fprintf(f, "  %-14s  %.2f%% of the card at the reserved peak\n", "utilization",
                100.0 * d->utilization);
    else
        fprintf(f, "  %-14s  unknown (the card is unknown)\n", "utilization");
    if (d->has_real_segments)
        fprintf(f, "  %-14s  peak %s, at the end %s (the recording's segment events)\n",
                "real reserved", gt_units_format_bytes(d->real_reserved_peak, a, sizeof a),
                gt_units_format_bytes(d->real_reserved_final, b, sizeof b));
    if (d->unknown_frees > 0)
        fprintf(f, "  %-14s  %" PRId64 " frees of unknown addresses\n", "warning",
                d->unknown_frees);
    table_timeline(f, s, d);
}

int gt_stats_table_write(FILE *f, const char *trace_path, const struct gt_stats *s)
{
    char path[512], a[32], b[32], t[32];

    fprintf(f, "trace '%s': %" PRId64 " events over %.3f s; ",
            gt_text_clean(trace_path, path, sizeof path), s->events,
            gt_stats_seconds(s->first_ts_ns, s->last_ts_ns));
    table_config(f, s);
    for (size_t i = 0; i < s->ndevices; i++) {
        fputc('\n', f);
        table_device(f, s, &s->devices[i]);
    }
    if (s->has_host)
        fprintf(f,
                "\npinned host memory: %" PRId64 " allocs, %" PRId64
                " frees, peak %s, total %s, at the end %s\n",
                s->host_allocs, s->host_frees, gt_units_format_bytes(s->host_peak, a, sizeof a),
                gt_units_format_bytes(s->host_total, t, sizeof t),
                gt_units_format_bytes(s->host_final, b, sizeof b));
    if (s->peak != NULL)
        gt_peak_live_table_write(f, s->peak);
    if (s->growth != NULL)
        gt_growth_table_write(f, s->growth);
    return ferror(f) ? GT_EIO : 0;
}

/* A byte count that is unknown when 0 (a card's memory, an unlimited cap). */
static void json_known(FILE *f, const char *sep, const char *key, uint64_t bytes)
{
    if (bytes == 0)
        fprintf(f, "%s\"%s\": null", sep, key);
    else
        fprintf(f, "%s\"%s\": %" PRIu64, sep, key, bytes);
}

static void json_device(FILE *f, const struct gt_stats *s, const struct gt_stats_device *d)
{
    fprintf(f, "    {\"device\": %" PRId32 ", \"name\": ", d->device);
    gt_report_json_string(f, d->name);
    json_known(f, ", ", "total_memory_bytes", d->total_memory);
    fprintf(f,
            ", \"events\": %" PRId64 ", \"duration_seconds\": %.9f,\n"
            "     \"allocs\": %" PRId64 ", \"frees\": %" PRId64 ", \"empty_caches\": %" PRId64
            ", \"recorded_ooms\": %" PRId64 ",\n"
            "     \"requested_peak_bytes\": %" PRIu64 ", \"requested_final_bytes\": %" PRIu64
            ",\n     \"unknown_frees\": %" PRId64,
            d->events, gt_stats_seconds(d->first_ts_ns, d->last_ts_ns), d->allocs, d->frees,
            d->empty_caches, d->recorded_ooms, d->requested_peak, d->requested_final,
            d->unknown_frees);
    if (d->recorded_ooms > 0) {
        fprintf(f,
                ",\n     \"first_recorded_oom\": {\"event\": %" PRId64
                ", \"requested_bytes\": %" PRIu64,
                d->first_oom_event, d->first_oom_requested);
        json_known(f, ", ", "free_bytes", d->first_oom_free);
        fputc('}', f);
    } else {
        fputs(",\n     \"first_recorded_oom\": null", f);
    }
    json_known(f, ",\n     ", "device_memory_bytes", d->device_memory);
    fprintf(f, ", \"memory_source\": \"%s\"", gt_scenario_source_name(d->card.source));
    fprintf(f,
            ", \"peak_allocated_bytes\": %" PRIu64 ", \"peak_reserved_bytes\": %" PRIu64
            ", \"simulated_ooms\": %" PRId64 ", \"utilization\": ",
            d->peak_allocated, d->peak_reserved, d->simulated_ooms);
    if (d->utilization >= 0)
        fprintf(f, "%.6f", d->utilization);
    else
        fputs("null", f);
    if (d->has_real_segments)
        fprintf(f,
                ",\n     \"real_reserved_peak_bytes\": %" PRIu64
                ", \"real_reserved_final_bytes\": %" PRIu64,
                d->real_reserved_peak, d->real_reserved_final);
    else
        fputs(",\n     \"real_reserved_peak_bytes\": null, \"real_reserved_final_bytes\": null", f);
    fputs(",\n     \"timeline\": [", f);
    for (size_t i = 0; i < s->nslices; i++) {
        const struct gt_stats_slice *sl = &d->slices[i];
        fprintf(f,
                "%s\n       {\"start\": %.9f, \"end\": %.9f, \"allocated_max_bytes\": %" PRIu64
                ", \"reserved_max_bytes\": %" PRIu64 "}",
                i > 0 ? "," : "", slice_value(s, sl->start), slice_value(s, sl->end),
                sl->allocated_max, sl->reserved_max);
    }
    fputs("]}", f);
}

int gt_stats_json_write(FILE *f, const char *trace_path, const struct gt_stats *s)
{
    fputs("{\n  \"trace\": ", f);
    gt_report_json_string(f, trace_path);
    fprintf(f, ",\n  \"events\": %" PRId64 ",\n  \"duration_seconds\": %.9f,\n  \"config\": ",
            s->events, gt_stats_seconds(s->first_ts_ns, s->last_ts_ns));
    gt_report_json_string(f, s->config);
    fprintf(f, ",\n  \"config_recorded\": %s,\n  \"config_error\": ",
            s->config_recorded ? "true" : "false");
    if (s->config_error[0] != '\0')
        gt_report_json_string(f, s->config_error);
    else
        fputs("null", f);
    fprintf(f, ",\n  \"timeline_unit\": \"%s\",\n  \"devices\": [",
            s->by_index ? "events" : "seconds");
    for (size_t i = 0; i < s->ndevices; i++) {
        fputs(i > 0 ? ",\n" : "\n", f);
        json_device(f, s, &s->devices[i]);
    }
    fputs(s->ndevices > 0 ? "\n  ],\n  \"host\": " : "],\n  \"host\": ", f);
    if (s->has_host)
        fprintf(f,
                "{\"allocs\": %" PRId64 ", \"frees\": %" PRId64 ", \"peak_bytes\": %" PRIu64
                ", \"total_bytes\": %" PRIu64 ", \"final_bytes\": %" PRIu64 "}",
                s->host_allocs, s->host_frees, s->host_peak, s->host_total, s->host_final);
    else
        fputs("null", f);
    if (s->peak != NULL) {
        fputs(",\n  \"live_at_peak\": ", f);
        gt_peak_live_json_write(f, s->peak);
    }
    if (s->growth != NULL) {
        fputs(",\n  \"iterations\": ", f);
        gt_growth_json_write(f, s->growth);
    }
    fputs("\n}\n", f);
    return ferror(f) ? GT_EIO : 0;
}
