/* Table and JSON writers of an OOM report (oom.h).
 *
 * The table speaks to the person whose run failed: each OOM is one
 * paragraph with PyTorch's own three numbers first (so it can be matched
 * with the message they saw), then the verdict and what to do, then whose
 * memory is live. */
#include "gputrace/oom.h"
#include "gputrace/oom_message.h"
#include "gputrace/peak.h"
#include "gputrace/err.h"
#include "gputrace/report.h"
#include "gputrace/text.h"
#include "gputrace/units.h"
#include "gputrace/oom_report.h"
#include "gputrace/peak_report.h"

#include <inttypes.h>
#include <stddef.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "gputrace/banned.h"

/* Frames shown per allocation in the table; JSON has all that were kept. */
#define TABLE_FRAMES 3
/* Configs named in the table's "avoided by" line; JSON lists them all. */
#define TABLE_AVOIDERS 3

static int finish(FILE *f)
{
    return ferror(f) ? GT_EIO : 0;
}

static const char *fmt_bytes(uint64_t bytes, char *buf, size_t len)
{
    return gt_units_format_bytes(bytes, buf, len);
}

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');
    return slash != NULL ? slash + 1 : path;
}

/* ---- table -------------------------------------------------------------- */

static void table_capacity(FILE *f, const struct gt_oom_report *r, const struct gt_oom_device *d)
{
    char a[32], b[32];

    if (d->capacity == 0) {
        fputs("unlimited memory", f);
        return;
    }
    fprintf(f, "%s", fmt_bytes(d->capacity, a, sizeof a));
    if (r->memory_fraction < 1.0)
        fprintf(f, " (per_process_memory_fraction %.4g of %s)", r->memory_fraction,
                fmt_bytes(d->device_memory, b, sizeof b));
}

static void table_header(FILE *f, const char *trace_path, const struct gt_oom_report *r)
{
    char path[1024], conf[512];

    fprintf(f, "trace '%s': config %s%s", gt_text_clean(trace_path, path, sizeof path),
            gt_text_clean(r->config, conf, sizeof conf), r->config_recorded ? " (recorded)" : "");
    if (r->ndevices == 0) {
        fputs("; the trace has no requests\n", f);
        return;
    }
    for (size_t i = 0; i < r->ndevices; i++) {
        fprintf(f, "%s device %" PRId32 ": ", i == 0 ? ";" : ",", r->devices[i].device);
        table_capacity(f, r, &r->devices[i]);
    }
    fputc('\n', f);
    for (size_t i = 0; i < r->ndevices; i++) {
        char card[256];
        fprintf(f, "card of device %" PRId32 ": %s\n", r->devices[i].device,
                gt_scenario_card_line(&r->devices[i].card, card, sizeof card));
    }
}

static void table_no_oom(FILE *f, const struct gt_oom_report *r)
{
    char clean[512], a[32];

    fprintf(f, "no OOM with %s", gt_text_clean(r->config, clean, sizeof clean));
    for (size_t i = 0; i < r->ndevices; i++) {
        const struct gt_oom_device *d = &r->devices[i];
        fprintf(f, "%s %s", i == 0 ? " on" : ",",
                d->capacity ? fmt_bytes(d->capacity, a, sizeof a) : "unlimited memory");
        if (r->ndevices > 1)
            fprintf(f, " (device %" PRId32 ")", d->device);
    }
    fputc('\n', f);
    if (r->recorded_served > 0)
        fprintf(f,
                "note: the recording ran out of memory %" PRId64 " time%s (first at event "
                "%" PRId64 "); this config serves %s\n",
                r->recorded_ooms, r->recorded_ooms == 1 ? "" : "s", r->first_recorded_served,
                r->recorded_served == r->recorded_ooms ? "every such request"
                                                       : "some of those requests");
}

static void table_verdict(FILE *f, const struct gt_oom *o)
{
    char a[32], b[32];

    if (o->verdict == GT_OOM_GENUINE) {
        fprintf(f,
                "  verdict: genuine: live tensors plus this request need %s, %s more than the "
                "card; cut the peak by %.0f%% (e.g. the batch)\n",
                fmt_bytes(o->need, a, sizeof a), fmt_bytes(o->shrink_needed, b, sizeof b),
                ceil(o->shrink_fraction * 100.0));
        return;
    }
    fprintf(f,
            "  verdict: fragmentation: the memory exists but is split into pieces too small "
            "(live tensors plus this request need %s of %s)\n",
            fmt_bytes(o->need, a, sizeof a),
            o->capacity ? fmt_bytes(o->capacity, b, sizeof b) : "unlimited memory");
}

static bool avoids(const struct gt_oom_avoid *v, const struct gt_oom *o)
{
    return v->device == o->device && v->num_ooms == 0;
}

/* A config that serves this request but fails at a later one. */
static bool gets_past(const struct gt_oom_avoid *v, const struct gt_oom *o)
{
    return v->device == o->device && v->num_ooms > 0 && v->first_oom_event > o->event;
}

static void table_gets_past(FILE *f, const struct gt_oom_report *r, const struct gt_oom *o)
{
    char clean[512];
    size_t shown = 0, total = 0;

    for (size_t i = 0; i < r->navoid; i++)
        total += gets_past(&r->avoid[i], o);
    if (total == 0)
        return;
    fputs("  these get past it but fail later:", f);
    for (size_t i = 0; i < r->navoid && shown < TABLE_AVOIDERS; i++) {
        const struct gt_oom_avoid *v = &r->avoid[i];
        if (!gets_past(v, o))
            continue;
        fprintf(f, "%s %s (at event %" PRId64 ")", shown == 0 ? "" : ",",
                gt_text_clean(v->config, clean, sizeof clean), v->first_oom_event);
        shown++;
    }
    if (total > shown)
        fprintf(f, " and %zu more", total - shown);
    fputc('\n', f);
}

static void table_avoiders(FILE *f, const struct gt_oom_report *r, const struct gt_oom *o)
{
    char clean[512], m[32];
    size_t shown = 0, total = 0;

    for (size_t i = 0; i < r->navoid; i++)
        total += avoids(&r->avoid[i], o);
    if (total == 0) {
        fputs(o->verdict == GT_OOM_GENUINE
                  ? "  no config of the sweep runs without OOM: the peak itself must shrink\n"
                  : "  no config of the sweep runs without OOM on this card\n",
              f);
        table_gets_past(f, r, o);
        return;
    }
    fputs("  avoided by:", f);
    for (size_t i = 0; i < r->navoid && shown < TABLE_AVOIDERS; i++) {
        const struct gt_oom_avoid *v = &r->avoid[i];
        if (!avoids(v, o))
            continue;
        fprintf(f, "%s %s (margin %s)", shown == 0 ? "" : ",",
                gt_text_clean(v->config, clean, sizeof clean), fmt_bytes(v->margin, m, sizeof m));
        shown++;
    }
    if (total > shown)
        fprintf(f, " and %zu more", total - shown);
    fputc('\n', f);
    if (r->memory_fraction < 1.0)
        fprintf(f, "  (each keeps per_process_memory_fraction:%.17g)\n", r->memory_fraction);
    /* A run that died here recorded nothing after: "avoids" can only mean
     * "gets past this request and what was recorded", and the real run may
     * well fail later with the saved memory in use. */
    if (o->recorded && r->last_event <= o->event)
        fputs("  (the recording ends at this OOM: they serve this request, but what the run "
              "did next was not recorded)\n",
              f);
    else if (o->recorded)
        fprintf(f,
                "  (they serve this request and the %" PRId64 " events recorded after it; "
                "the rest of the run was not recorded)\n",
                r->last_event - o->event);
}

static void table_frames(FILE *f, const struct gt_oom_alloc *a)
{
    char file[256], fn[256];

    if (a->nframes == 0) {
        fputs("-", f);
        return;
    }
    for (size_t i = 0; i < a->nframes && i < TABLE_FRAMES; i++)
        fprintf(f, "%s%s:%" PRId64 " %s", i == 0 ? "" : " < ",
                gt_text_clean(base_name(a->frames[i].file), file, sizeof file), a->frames[i].line,
                gt_text_clean(a->frames[i].function, fn, sizeof fn));
}

static void table_top(FILE *f, const struct gt_oom *o)
{
    char s[32];

    if (o->ntop == 0)
        return;
    fprintf(f, "  largest live allocations (%zu of %zu):\n", o->ntop, o->live_count);
    fprintf(f, "    %12s  %10s  %14s  %s\n", "size", "event", "age (events)", "stream  where");
    for (size_t i = 0; i < o->ntop; i++) {
        const struct gt_oom_alloc *a = &o->top[i];
        fprintf(f, "    %12s  %10" PRId64 "  %14" PRId64 "  %6" PRIu64 "  ",
                fmt_bytes(a->size, s, sizeof s), a->event, a->age_events, a->stream);
        table_frames(f, a);
        fputc('\n', f);
    }
}

/* By call stack: only when the trace has stacks (a CSV has none, and a
 * list of "no call stack" would only repeat the total). */
static void table_stacks(FILE *f, const struct gt_oom *o)
{
    bool any = false;

    for (size_t i = 0; i < o->nstacks; i++)
        any |= o->stacks[i].origin == GT_PEAK_STACK;
    if (!any)
        return;
    fprintf(f, "  live allocations by call stack (the largest %zu of %zu):\n", o->nstacks,
            o->nstacks_total);
    gt_peak_groups_table_write(f, "    ", o->stacks, o->nstacks);
}

static void table_oom(FILE *f, const struct gt_oom_report *r, const struct gt_oom *o)
{
    char q[32], t[32], c[32], a[32], u[32], l[32];

    fprintf(f, "OOM at event %" PRId64, o->event);
    if (r->ndevices > 1)
        fprintf(f, " on device %" PRId32, o->device);
    if (o->recorded && o->recorded_free > 0)
        fprintf(f, " (the recording failed here too, with %s free on the device)",
                fmt_bytes(o->recorded_free, q, sizeof q));
    else if (o->recorded)
        fputs(" (the recording failed here too)", f);
    fprintf(f,
            ": asked for %s (PyTorch tries %s) on a %s card with %s allocated and %s reserved "
            "but unallocated; the largest free block is %s\n",
            fmt_bytes(o->requested, q, sizeof q),
            gt_units_format_torch(o->tried_to_allocate, t, sizeof t),
            o->capacity ? fmt_bytes(o->capacity, c, sizeof c) : "unlimited",
            fmt_bytes(o->allocated, a, sizeof a), fmt_bytes(o->reserved_unallocated, u, sizeof u),
            fmt_bytes(o->largest_free_block, l, sizeof l));
    table_verdict(f, o);
    table_avoiders(f, r, o);
    table_top(f, o);
    table_stacks(f, o);
}

int gt_oom_table_write(FILE *f, const char *trace_path, const struct gt_oom_report *r)
{
    table_header(f, trace_path, r);
    if (r->ooms_total == 0) {
        table_no_oom(f, r);
        return finish(f);
    }
    for (size_t i = 0; i < r->nooms; i++) {
        fputc('\n', f);
        table_oom(f, r, &r->ooms[i]);
    }
    if (r->ooms_total > 1)
        fputc('\n', f);
    if ((uint64_t)r->ooms_total > r->nooms)
        fprintf(f, "%" PRId64 " more OOMs not shown (%" PRId64 " in all)\n",
                r->ooms_total - (int64_t)r->nooms, r->ooms_total);
    if (r->ooms_total > 1)
        fprintf(f,
                "note: the run had already failed at event %" PRId64 "; a real run stops at its "
                "first OOM, so the %" PRId64 " later one%s follow%s from replaying past it: fix "
                "the first\n",
                r->ooms[0].event, r->ooms_total - 1, r->ooms_total == 2 ? "" : "s",
                r->ooms_total == 2 ? "s" : "");
    return finish(f);
}

/* ---- JSON --------------------------------------------------------------- */

/* A size where 0 means unlimited. */
static void json_limit(FILE *f, uint64_t bytes)
{
    if (bytes == 0)
        fputs("null", f);
    else
        fprintf(f, "%" PRIu64, bytes);
}

static void json_frames(FILE *f, const struct gt_oom_alloc *a)
{
    fputs("\"frames\": [", f);
    for (size_t i = 0; i < a->nframes; i++) {
        fputs(i == 0 ? "{\"file\": " : ", {\"file\": ", f);
        gt_report_json_string(f, a->frames[i].file);
        fprintf(f, ", \"line\": %" PRId64 ", \"function\": ", a->frames[i].line);
        gt_report_json_string(f, a->frames[i].function);
        fputc('}', f);
    }
    fputc(']', f);
}

static void json_top(FILE *f, const struct gt_oom *o)
{
    fputs("      \"top_allocations\": [", f);
    for (size_t i = 0; i < o->ntop; i++) {
        const struct gt_oom_alloc *a = &o->top[i];
        fprintf(f,
                "%s\n        {\"size_bytes\": %" PRIu64 ", \"block_bytes\": %" PRIu64
                ", \"event\": %" PRId64 ", \"age_events\": %" PRId64 ", \"age_ns\": %" PRId64
                ", \"stream\": %" PRIu64 ", ",
                i == 0 ? "" : ",", a->size, a->block, a->event, a->age_events, a->age_ns,
                a->stream);
        json_frames(f, a);
        fputc('}', f);
    }
    fputs(o->ntop ? "\n      ],\n" : "],\n", f);
    fputs("      \"top_stacks\": ", f);
    gt_peak_groups_json_write(f, o->stacks, o->nstacks);
    fputs(",\n", f);
}

static void json_avoiders(FILE *f, const struct gt_oom_report *r, const struct gt_oom *o)
{
    bool first = true;

    fputs("      \"avoided_by\": [", f);
    for (size_t i = 0; i < r->navoid; i++) {
        const struct gt_oom_avoid *v = &r->avoid[i];
        if (!avoids(v, o))
            continue;
        fputs(first ? "{\"config\": " : ", {\"config\": ", f);
        gt_report_json_string(f, v->config);
        fprintf(f, ", \"margin_bytes\": %" PRIu64 ", \"peak_reserved_bytes\": %" PRIu64 "}",
                v->margin, v->peak_reserved);
        first = false;
    }
    fputs("],\n      \"gets_past\": [", f);
    first = true;
    for (size_t i = 0; i < r->navoid; i++) {
        const struct gt_oom_avoid *v = &r->avoid[i];
        if (!gets_past(v, o))
            continue;
        fputs(first ? "{\"config\": " : ", {\"config\": ", f);
        gt_report_json_string(f, v->config);
        fprintf(f, ", \"first_oom_event\": %" PRId64 "}", v->first_oom_event);
        first = false;
    }
    fputs("]\n", f);
}

static void json_oom(FILE *f, const struct gt_oom_report *r, const struct gt_oom *o)
{
    fprintf(f,
            "    {\"event\": %" PRId64 ", \"device\": %" PRId32
            ", \"recorded\": %s, \"after_first\": %s, \"recorded_free_bytes\": ",
            o->event, o->device, o->recorded ? "true" : "false", o->after_first ? "true" : "false");
    json_limit(f, o->recorded_free);
    fprintf(f,
            ",\n      \"requested_bytes\": %" PRIu64 ", \"tried_to_allocate_bytes\": %" PRIu64
            ", \"capacity_bytes\": ",
            o->requested, o->tried_to_allocate);
    json_limit(f, o->capacity);
    fprintf(f,
            ",\n      \"allocated_bytes\": %" PRIu64 ", \"reserved_bytes\": %" PRIu64
            ", \"reserved_unallocated_bytes\": %" PRIu64 ", \"largest_free_block_bytes\": %" PRIu64
            ",\n      \"verdict\": \"%s\", \"need_bytes\": %" PRIu64
            ", \"shrink_needed_bytes\": %" PRIu64 ", \"shrink_needed_fraction\": %.6f,\n",
            o->allocated, o->reserved, o->reserved_unallocated, o->largest_free_block,
            gt_oom_verdict_name(o->verdict), o->need, o->shrink_needed, o->shrink_fraction);
    json_top(f, o);
    json_avoiders(f, r, o);
    fputs("    }", f);
}

int gt_oom_json_write(FILE *f, const char *trace_path, const struct gt_oom_report *r)
{
    uint64_t dm = r->device_memory;

    /* Without --device-memory, the card replayed is the recorded one. */
    if (dm == 0 && r->ndevices > 0)
        dm = r->devices[0].device_memory;
    fputs("{\n  \"trace\": ", f);
    gt_report_json_string(f, trace_path);
    fputs(",\n  \"device_memory_bytes\": ", f);
    json_limit(f, dm);
    fputs(",\n  \"devices\": [", f);
    for (size_t i = 0; i < r->ndevices; i++) {
        const struct gt_scenario_device *c = &r->devices[i].card;
        fprintf(f, "%s{\"device\": %" PRId32 ", \"memory_bytes\": ", i ? ", " : "",
                r->devices[i].device);
        json_limit(f, c->memory);
        fprintf(f, ", \"memory_source\": \"%s\"}", gt_scenario_source_name(c->source));
    }
    fputs("]", f);
    fputs(",\n  \"config\": ", f);
    gt_report_json_string(f, r->config);
    fprintf(f, ",\n  \"config_recorded\": %s,\n  \"memory_fraction\": %.17g,\n  \"ooms\": [",
            r->config_recorded ? "true" : "false", r->memory_fraction);
    for (size_t i = 0; i < r->nooms; i++) {
        fputs(i == 0 ? "\n" : ",\n", f);
        json_oom(f, r, &r->ooms[i]);
    }
    fprintf(f,
            "%s],\n  \"ooms_total\": %" PRId64 ",\n  \"recorded_ooms\": %" PRId64
            ",\n  \"recorded_served\": %" PRId64 "\n}\n",
            r->nooms ? "\n  " : "", r->ooms_total, r->recorded_ooms, r->recorded_served);
    return finish(f);
}

/* ---- a pasted message (oom_message.h) ------------------------------------ */

/* The numbers of a message in the order PyTorch prints them; derived ones
 * say so. */
static const struct {
    const char *label, *json;
    size_t offset;
} message_values[] = {
    {"tried to allocate", "tried_bytes", offsetof(struct gt_oom_message, tried)},
    {"card's total memory", "total_capacity_bytes", offsetof(struct gt_oom_message, total)},
    {"free on the card", "free_bytes", offsetof(struct gt_oom_message, free)},
    {"this process in use", "process_in_use_bytes",
     offsetof(struct gt_oom_message, process_in_use)},
    {"allocated by PyTorch", "allocated_bytes", offsetof(struct gt_oom_message, allocated)},
    {"reserved by PyTorch", "reserved_bytes", offsetof(struct gt_oom_message, reserved)},
    {"reserved, unallocated", "reserved_unallocated_bytes",
     offsetof(struct gt_oom_message, reserved_unallocated)},
    {"in private pools", "private_pools_bytes", offsetof(struct gt_oom_message, private_pools)},
    {"limit", "limit_bytes", offsetof(struct gt_oom_message, limit)},
    {"other allocations", "other_allocations_bytes",
     offsetof(struct gt_oom_message, other_allocations)},
};

#define MESSAGE_VALUES (sizeof message_values / sizeof message_values[0])

static const struct gt_oom_msg_value *message_value(const struct gt_oom_message *m, size_t i)
{
    return (const struct gt_oom_msg_value *)((const char *)m + message_values[i].offset);
}

int gt_oom_message_table_write(FILE *f, const char *source, const struct gt_oom_message *m)
{
    char path[512], b[32], gpu[32] = "";

    if (m->gpu_known)
        snprintf(gpu, sizeof gpu, ", GPU %lld", (long long)m->gpu_index);
    fprintf(f, "message '%s': PyTorch %s out-of-memory%s\n",
            gt_text_clean(source, path, sizeof path), gt_oom_message_format_name(m->format), gpu);
    for (size_t i = 0; i < MESSAGE_VALUES; i++) {
        const struct gt_oom_msg_value *v = message_value(m, i);
        if (v->known)
            fprintf(f, "  %-22s %12s%s\n", message_values[i].label,
                    fmt_bytes(v->bytes, b, sizeof b), v->derived ? "  (derived)" : "");
    }
    for (size_t i = 0; i < m->nprocesses; i++)
        fprintf(f, "  other process %-8lld %12s\n", (long long)m->processes[i].pid,
                fmt_bytes(m->processes[i].bytes, b, sizeof b));
    fprintf(f, "verdict: %s\n  why: %s\n  next: %s\n", gt_oom_message_verdict_name(m->verdict),
            m->why, m->next);
    return finish(f);
}

int gt_oom_message_json_write(FILE *f, const char *source, const struct gt_oom_message *m)
{
    bool first = true;

    fputs("{\"source\": ", f);
    gt_report_json_string(f, source);
    fprintf(f, ", \"format\": \"%s\", \"gpu_index\": ", gt_oom_message_format_name(m->format));
    if (m->gpu_known)
        fprintf(f, "%lld", (long long)m->gpu_index);
    else
        fputs("null", f);
    for (size_t i = 0; i < MESSAGE_VALUES; i++) {
        const struct gt_oom_msg_value *v = message_value(m, i);
        fprintf(f, ", \"%s\": ", message_values[i].json);
        if (v->known)
            fprintf(f, "%" PRIu64, v->bytes);
        else
            fputs("null", f);
    }
    fputs(", \"derived\": [", f);
    for (size_t i = 0; i < MESSAGE_VALUES; i++) {
        if (message_value(m, i)->derived) {
            fprintf(f, "%s\"%s\"", first ? "" : ", ", message_values[i].json);
            first = false;
        }
    }
    fputs("], \"other_processes\": [", f);
    for (size_t i = 0; i < m->nprocesses; i++)
        fprintf(f, "%s{\"pid\": %lld, \"bytes\": %" PRIu64 "}", i ? ", " : "",
                (long long)m->processes[i].pid, m->processes[i].bytes);
    fprintf(f,
            "], \"verdict\": \"%s\", \"shrink_bytes\": ", gt_oom_message_verdict_name(m->verdict));
    if (m->verdict == GT_OOM_MSG_GENUINE || m->verdict == GT_OOM_MSG_OTHER_PROCESS)
        fprintf(f, "%" PRIu64, m->shrink_bytes);
    else
        fputs("null", f);
    fputs(", \"why\": ", f);
    gt_report_json_string(f, m->why);
    fputs(", \"next\": ", f);
    gt_report_json_string(f, m->next);
    fputs("}\n", f);
    return finish(f);
}
