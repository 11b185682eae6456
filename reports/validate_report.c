/* Writers of a validation (validate.h): the table for people and the JSON
 * document. */
#include "gputrace/err.h"
#include "gputrace/report.h"
#include "gputrace/scenario.h"
#include "gputrace/text.h"
#include "gputrace/units.h"
#include "gputrace/validate.h"
#include "gputrace/validate_report.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "gputrace/banned.h"

static const char *seg_name(int32_t kind)
{
    static const char *const names[] = {"?", "segment_alloc", "segment_free", "segment_map",
                                        "segment_unmap"};
    return kind >= 1 && kind <= 4 ? names[kind] : "?";
}

/* Where the start state came from: "recorded" in the trace, "rebuilt" from
 * a profiler window's totals, or "none". */
static const char *start_state_name(const struct gt_validate_device *d)
{
    if (d->card.start_inferred)
        return "rebuilt";
    return d->initial_reserved ? "recorded" : "none";
}

static const char *divergence_side(const struct gt_validate_device *d)
{
    if (d->sim_diverged_first)
        return "the simulator diverged first";
    if (d->real_diverged_first)
        return "the real run diverged first";
    return "both sides at the same request";
}

static void print_seg(FILE *f, const char *who, bool has, const struct gt_validate_seg *s)
{
    char sz[32];
    if (!has) {
        fprintf(f, "    %s: nothing (the other side has more events)\n", who);
        return;
    }
    fprintf(f, "    %s: %s of %s at 0x%" PRIx64 " (event %" PRId64 ")\n", who, seg_name(s->kind),
            gt_units_format_bytes(s->size, sz, sizeof sz), s->addr, s->event);
}

static void table_device(FILE *f, const struct gt_validate_device *d)
{
    char a[32], b[32], card[256];
    fprintf(f, "device %d: %" PRId64 " requests replayed\n", (int)d->device, d->requests);
    if (d->initial_reserved)
        fprintf(f, "  start state: %s reserved, %s allocated before the first event (%s)\n",
                gt_units_format_bytes(d->initial_reserved, a, sizeof a),
                gt_units_format_bytes(d->initial_allocated, b, sizeof b),
                gt_scenario_start_words(&d->card));
    fprintf(f, "  card: %s\n", gt_scenario_card_line(&d->card, card, sizeof card));
    bool segments_apply = d->segment_events_real || !d->totals_events;
    if (segments_apply && d->requests && !d->segment_events_real && !d->segment_events_sim)
        fprintf(f, "  segment events: none real, none simulated: every request was served from "
                   "the cached segments, as in the real run\n");
    if (segments_apply && (d->segment_events_real || d->segment_events_sim)) {
        fprintf(f,
                "  segment events: %" PRId64 " real, %" PRId64 " simulated, %" PRId64
                " reproduced in order (%.2f%%)\n",
                d->segment_events_real, d->segment_events_sim, d->segment_events_matched,
                100.0 * d->match_fraction);
        fprintf(f, "  peak reserved: real %s, simulated %s\n",
                gt_units_format_bytes(d->peak_reserved_real, a, sizeof a),
                gt_units_format_bytes(d->peak_reserved_sim, b, sizeof b));
        if (d->first_divergence >= 0) {
            fprintf(f, "  first divergence at segment event %" PRId64 " (%s):\n",
                    d->first_divergence, divergence_side(d));
            print_seg(f, "real", d->has_real, &d->real_at);
            print_seg(f, "simulated", d->has_sim, &d->sim_at);
        }
    }
    if (d->final_blocks_real) {
        fprintf(f,
                "  end state: %" PRId64 " of %" PRId64
                " blocks of the dump reproduced (address, size and state)\n",
                d->final_blocks_matched, d->final_blocks_real);
        if (d->final_blocks_matched < d->final_blocks_real)
            fprintf(f, "    first difference at 0x%" PRIx64 ": real %s %s, simulated %s %s\n",
                    d->final_mismatch_addr, gt_units_format_bytes(d->final_real_size, a, sizeof a),
                    d->final_real_allocated ? "allocated" : "free",
                    d->final_sim_size ? gt_units_format_bytes(d->final_sim_size, b, sizeof b)
                                      : "no block",
                    d->final_sim_size ? (d->final_sim_allocated ? "allocated" : "free") : "there");
    }
    if (d->totals_events)
        fprintf(f,
                "  allocated total: %" PRId64 " of %" PRId64
                " events match the recorded Total Allocated\n",
                d->totals_matched, d->totals_events);
    if (d->totals_events && d->first_totals_mismatch >= 0) {
        fprintf(f,
                "  first mismatch at event %" PRId64 ": real %" PRId64 ", simulated %" PRId64 "\n",
                d->first_totals_mismatch, d->totals_real_at, d->totals_sim_at);
        if (d->totals_block_at > d->totals_bytes_at)
            fprintf(f,
                    "    the simulator handed out a %s block for %s: its free blocks differ from "
                    "the real run's, whose cache before the trace is known only by its size\n",
                    gt_units_format_bytes(d->totals_block_at, a, sizeof a),
                    gt_units_format_bytes(d->totals_bytes_at, b, sizeof b));
    }
    if (d->totals_events)
        fprintf(f, "  peak reserved: real %s (Total Reserved), simulated %s (from %s)\n",
                gt_units_format_bytes(d->totals_reserved_peak_real, a, sizeof a),
                gt_units_format_bytes(d->peak_reserved_sim, b, sizeof b),
                d->card.start_inferred ? "the start state its first event's totals imply"
                                       : "an empty cache");
    if (!d->segment_events_real && !d->totals_events && !d->requests)
        fprintf(f, "  nothing to compare: the trace has no requests\n");
    if (d->ooms_real || d->ooms_sim)
        fprintf(f, "  OOMs: real %" PRId64 ", simulated %" PRId64 "\n", d->ooms_real, d->ooms_sim);
    if (d->unknown_frees)
        fprintf(f, "  frees of blocks the trace never allocated: %" PRId64 "\n", d->unknown_frees);
}

static void json_seg(FILE *f, const char *key, bool has, const struct gt_validate_seg *s)
{
    if (!has) {
        fprintf(f, "\"%s\": null", key);
        return;
    }
    fprintf(f,
            "\"%s\": {\"action\": \"%s\", \"addr\": %" PRIu64 ", \"size\": %" PRIu64
            ", \"event\": %" PRId64 "}",
            key, seg_name(s->kind), s->addr, s->size, s->event);
}

static void json_device(FILE *f, const struct gt_validate_device *d)
{
    fprintf(f,
            "    {\"device\": %d, \"requests\": %" PRId64 ", \"segment_events_real\": %" PRId64
            ", \"segment_events_sim\": %" PRId64 ", \"segment_events_matched\": %" PRId64
            ", \"match_fraction\": %.6f, \"peak_reserved_real_bytes\": %" PRIu64
            ", \"peak_reserved_sim_bytes\": %" PRIu64 ", ",
            (int)d->device, d->requests, d->segment_events_real, d->segment_events_sim,
            d->segment_events_matched, d->match_fraction, d->peak_reserved_real,
            d->peak_reserved_sim);
    if (d->first_divergence < 0) {
        fputs("\"first_divergence\": null", f);
    } else {
        fprintf(f, "\"first_divergence\": {\"index\": %" PRId64 ", ", d->first_divergence);
        json_seg(f, "real", d->has_real, &d->real_at);
        fputs(", ", f);
        json_seg(f, "sim", d->has_sim, &d->sim_at);
        fprintf(f, ", \"first\": \"%s\"}",
                d->sim_diverged_first    ? "sim"
                : d->real_diverged_first ? "real"
                                         : "same_request");
    }
    fprintf(f,
            ", \"initial_reserved_bytes\": %" PRIu64 ", \"initial_allocated_bytes\": %" PRIu64
            ", \"start_state\": \"%s\", \"device_cap_bytes\": %" PRIu64
            ", \"memory_source\": \"%s\""
            ", \"ooms_real\": %" PRId64 ", \"ooms_sim\": %" PRId64 ", \"unknown_frees\": %" PRId64
            ", \"totals_events\": %" PRId64 ", \"totals_matched\": %" PRId64
            ", \"totals_reserved_peak_real_bytes\": %" PRIu64 ", \"final_blocks_real\": %" PRId64
            ", \"final_blocks_matched\": %" PRId64 ", \"first_totals_mismatch\": ",
            d->initial_reserved, d->initial_allocated, start_state_name(d), d->cap,
            gt_scenario_source_name(d->card.source), d->ooms_real, d->ooms_sim, d->unknown_frees,
            d->totals_events, d->totals_matched, d->totals_reserved_peak_real, d->final_blocks_real,
            d->final_blocks_matched);
    if (d->first_totals_mismatch < 0)
        fputs("null}", f);
    else
        fprintf(f, "%" PRId64 "}", d->first_totals_mismatch);
}

int gt_validate_json_write(FILE *f, const char *trace, const struct gt_validation *v)
{
    fputs("{\n  \"trace\": ", f);
    gt_report_json_string(f, trace);
    fputs(",\n  \"alloc_conf\": ", f);
    if (v->conf_recorded)
        gt_report_json_string(f, v->alloc_conf);
    else
        fputs("null", f);
    fprintf(f, ",\n  \"devices\": [\n");
    for (size_t i = 0; i < v->ndevices; i++) {
        json_device(f, &v->devices[i]);
        fputs(i + 1 < v->ndevices ? ",\n" : "\n", f);
    }
    fprintf(f, "  ]\n}\n");
    return ferror(f) ? GT_EIO : 0;
}

int gt_validate_table_write(FILE *f, const char *trace, const struct gt_validation *v)
{
    char clean[1024], conf[300];
    fprintf(f, "trace '%s': replayed under %s\n", gt_text_clean(trace, clean, sizeof clean),
            v->conf_recorded ? (v->alloc_conf[0] ? gt_text_clean(v->alloc_conf, conf, sizeof conf)
                                                 : "the recorded settings (default)")
                             : "default settings (the trace does not record its settings)");
    for (size_t i = 0; i < v->ndevices; i++)
        table_device(f, &v->devices[i]);
    return ferror(f) ? GT_EIO : 0;
}
