/* Table, JSON and CSV reports of an analysis (report.h).
 *
 * Results are printed in rank order without sorting a copy: next_ranked()
 * walks a device's results by (rank, config_index), so the writers need no
 * memory and do not care whether gt_replay_rank reordered the array. */
#include "gputrace/report.h"
#include "gputrace/err.h"
#include "gputrace/units.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "gputrace/banned.h"

#define NOCACHE_NOTE                                                                               \
    "the zero-fragmentation baseline (a cudaMalloc/cudaFree per tensor, far slower), not advice"

char *gt_report_clean(const char *text, char *buf, size_t len)
{
    size_t i = 0;

    if (buf == NULL || len == 0)
        return buf;
    for (; text != NULL && text[i] != '\0' && i + 1 < len; i++) {
        unsigned char ch = (unsigned char)text[i];
        buf[i] = (ch < 0x20 || ch == 0x7f) ? '?' : (char)ch;
    }
    buf[i] = '\0';
    return buf;
}

/* ---- walking results ---------------------------------------------------- */

static const struct gt_replay_result *device_results(const struct gt_analysis *a, size_t d)
{
    return a->results + d * a->nconfigs;
}

static bool ranked_before(const struct gt_replay_result *x, const struct gt_replay_result *y)
{
    if (x->rank != y->rank)
        return x->rank < y->rank;
    return x->config_index < y->config_index;
}

/* The result of device d that follows prev in rank order (the first if prev
 * is NULL), or NULL after the last. */
static const struct gt_replay_result *next_ranked(const struct gt_analysis *a, size_t d,
                                                  const struct gt_replay_result *prev)
{
    const struct gt_replay_result *res = device_results(a, d);
    const struct gt_replay_result *best = NULL;

    for (size_t i = 0; i < a->nconfigs; i++) {
        if (prev != NULL && !ranked_before(prev, &res[i]))
            continue;
        if (best == NULL || ranked_before(&res[i], best))
            best = &res[i];
    }
    return best;
}

static const struct gt_conf *result_conf(const struct gt_analysis *a,
                                         const struct gt_replay_result *r)
{
    return &a->configs[r->config_index];
}

static const char *config_name(const struct gt_analysis *a, const struct gt_replay_result *r)
{
    const char *name = result_conf(a, r)->name;
    return name[0] != '\0' ? name : "default";
}

static bool is_default(const struct gt_analysis *a, const struct gt_replay_result *r)
{
    return strcmp(config_name(a, r), "default") == 0;
}

static bool is_recorded(const struct gt_analysis *a, const struct gt_replay_result *r)
{
    return a->has_recorded_conf && a->recorded_index >= 0 &&
           r->config_index == (size_t)a->recorded_index;
}

static const struct gt_replay_result *find_default(const struct gt_analysis *a, size_t d)
{
    const struct gt_replay_result *res = device_results(a, d);

    for (size_t i = 0; i < a->nconfigs; i++) {
        if (is_default(a, &res[i]))
            return &res[i];
    }
    return NULL;
}

static double fragmentation(const struct gt_replay_result *r)
{
    return isfinite(r->fragmentation_at_peak) ? r->fragmentation_at_peak : 0.0;
}

static int finish(FILE *f)
{
    return ferror(f) ? GT_EIO : 0;
}

/* ---- table -------------------------------------------------------------- */

#define MARK_RECORDED " (recorded)"

static int config_width(const struct gt_analysis *a, size_t d)
{
    size_t w = strlen("config");
    const struct gt_replay_result *res = device_results(a, d);

    for (size_t i = 0; i < a->nconfigs; i++) {
        size_t n = strlen(config_name(a, &res[i]));
        if (is_recorded(a, &res[i]))
            n += strlen(MARK_RECORDED);
        if (n > w)
            w = n;
    }
    return w > 300 ? 300 : (int)w;
}

static void table_header(FILE *f, const char *trace_path, const struct gt_analysis *a, size_t d)
{
    const struct gt_replay_device *dev = &a->devices[d];
    char path[512], name[256], mem[32];

    gt_report_clean(trace_path, path, sizeof path);
    gt_report_clean(dev->name, name, sizeof name);
    fprintf(f, "trace '%s': %" PRId64 " events; device %" PRId32, path, a->events, dev->device);
    if (name[0] != '\0')
        fprintf(f, " (%s)", name);
    fprintf(f, ": %" PRId64 " requests, device memory %s\n", dev->events,
            dev->device_memory == 0 ? "unlimited"
                                    : gt_units_format_bytes(dev->device_memory, mem, sizeof mem));
}

static void table_row(FILE *f, const struct gt_analysis *a, const struct gt_replay_result *r,
                      int cw)
{
    char name[320], reserved[32], allocated[32], unalloc[32], first[32];

    gt_report_clean(config_name(a, r), name, sizeof name);
    if (is_recorded(a, r)) {
        size_t n = strlen(name);
        snprintf(name + n, sizeof name - n, "%s", MARK_RECORDED);
    }
    if (r->first_oom_event >= 0)
        snprintf(first, sizeof first, "%" PRId64, r->first_oom_event);
    else
        snprintf(first, sizeof first, "-");
    fprintf(f,
            "%4d  %-*s  %13s  %14s  %11.2f%%  %19s  %10" PRId64 "  %8" PRId64 "  %7" PRId64
            "  %4" PRId64 "  %9s\n",
            r->rank, cw, name, gt_units_format_bytes(r->peak_reserved, reserved, sizeof reserved),
            gt_units_format_bytes(r->peak_allocated, allocated, sizeof allocated),
            100.0 * fragmentation(r),
            gt_units_format_bytes(r->unallocated_at_peak, unalloc, sizeof unalloc),
            r->num_device_alloc, r->num_device_free, r->num_alloc_retries, r->num_ooms, first);
}

/* Writes text for a single-quoted bash word or a double-quoted PowerShell
 * string. */
static void put_quoted(FILE *f, const char *text, bool powershell)
{
    for (const char *p = text; *p != '\0'; p++) {
        if (!powershell && *p == '\'')
            fputs("'\\''", f);
        else if (powershell && (*p == '"' || *p == '$' || *p == '`'))
            fprintf(f, "`%c", *p);
        else
            fputc(*p, f);
    }
}

static bool shell_safe(const char *text)
{
    for (const char *p = text; *p != '\0'; p++) {
        if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_:,.-", *p) ==
            NULL)
            return false;
    }
    return true;
}

static void table_use_lines(FILE *f, const char *conf)
{
    if (conf == NULL) {
        fputs("  bash:        unset PYTORCH_CUDA_ALLOC_CONF\n"
              "  PowerShell:  Remove-Item Env:PYTORCH_CUDA_ALLOC_CONF\n",
              f);
        return;
    }
    fputs("  bash:        export PYTORCH_CUDA_ALLOC_CONF=", f);
    if (shell_safe(conf)) {
        fputs(conf, f);
    } else {
        fputc('\'', f);
        put_quoted(f, conf, false);
        fputc('\'', f);
    }
    fputs("\n  PowerShell:  $env:PYTORCH_CUDA_ALLOC_CONF=\"", f);
    put_quoted(f, conf, true);
    fputs("\"\n", f);
}

static void table_recommend(FILE *f, const struct gt_analysis *a, size_t d,
                            const struct gt_replay_result *best)
{
    const struct gt_replay_result *def = find_default(a, d);
    char name[300], peak[32];

    gt_report_clean(config_name(a, best), name, sizeof name);
    gt_units_format_bytes(best->peak_reserved, peak, sizeof peak);
    if (is_default(a, best)) {
        fprintf(f, "recommended: default, no PYTORCH_CUDA_ALLOC_CONF (peak reserved %s)\n", peak);
        table_use_lines(f, NULL);
        return;
    }
    fprintf(f, "recommended: %s (peak reserved %s", name, peak);
    if (def != NULL && def->peak_reserved > 0 && def->num_ooms > 0)
        fprintf(f, "; default runs out of memory %" PRId64 " %s", def->num_ooms,
                def->num_ooms == 1 ? "time" : "times");
    else if (def != NULL && def->peak_reserved > 0)
        fprintf(f, ", %+.1f%% peak reserved vs default",
                100.0 * ((double)best->peak_reserved - (double)def->peak_reserved) /
                    (double)def->peak_reserved);
    fputs(")\n", f);
    table_use_lines(f, name);
}

/* The smallest peak reserved of a caching config of device dev in u. */
static const struct gt_replay_result *smallest_uncapped(const struct gt_analysis *u, int32_t dev)
{
    const struct gt_replay_result *min = NULL;

    for (size_t d = 0; u != NULL && d < u->ndevices; d++) {
        if (u->devices[d].device != dev)
            continue;
        for (size_t i = 0; i < u->nconfigs; i++) {
            const struct gt_replay_result *r = &device_results(u, d)[i];
            if (result_conf(u, r)->no_caching)
                continue;
            if (min == NULL || r->peak_reserved < min->peak_reserved)
                min = r;
        }
    }
    return min;
}

static const struct gt_replay_result *fitting_nocache(const struct gt_analysis *a, size_t d)
{
    const struct gt_replay_result *res = device_results(a, d);

    for (size_t i = 0; i < a->nconfigs; i++) {
        if (result_conf(a, &res[i])->no_caching && res[i].num_ooms == 0)
            return &res[i];
    }
    return NULL;
}

static void table_no_fit(FILE *f, const struct gt_analysis *a, size_t d,
                         const struct gt_analysis *uncapped)
{
    const struct gt_replay_device *dev = &a->devices[d];
    const struct gt_replay_result *min = smallest_uncapped(uncapped, dev->device);
    char mem[32] = "the device memory", peak[32], over[32], name[300];

    if (dev->device_memory > 0)
        gt_units_format_bytes(dev->device_memory, mem, sizeof mem);
    if (fitting_nocache(a, d) != NULL)
        fprintf(
            f,
            "no caching config fits in %s: only nocache stays within it, and it is " NOCACHE_NOTE
            "\n",
            mem);
    else
        fprintf(f, "no config fits in %s: every config runs out of memory\n", mem);
    if (min == NULL)
        return;
    gt_report_clean(config_name(uncapped, min), name, sizeof name);
    gt_units_format_bytes(min->peak_reserved, peak, sizeof peak);
    fprintf(f, "without a cap the smallest peak reserved is %s (%s)", peak, name);
    if (dev->device_memory > 0 && min->peak_reserved > dev->device_memory)
        fprintf(f, ", %s more than %s",
                gt_units_format_bytes(min->peak_reserved - dev->device_memory, over, sizeof over),
                mem);
    fputc('\n', f);
}

static void table_device(FILE *f, const char *trace_path, const struct gt_analysis *a, size_t d,
                         const struct gt_analysis *uncapped)
{
    int cw = config_width(a, d);
    const struct gt_replay_result *first = next_ranked(a, d, NULL);
    const struct gt_replay_result *best = gt_replay_best(a, d);

    table_header(f, trace_path, a, d);
    fprintf(f, "rank  %-*s  %13s  %14s  %12s  %19s  %10s  %8s  %7s  %4s  %9s\n", cw, "config",
            "peak reserved", "peak allocated", "frag at peak", "unallocated at peak", "cudaMalloc",
            "cudaFree", "retries", "OOMs", "first OOM");
    for (const struct gt_replay_result *r = first; r != NULL; r = next_ranked(a, d, r))
        table_row(f, a, r, cw);
    fputc('\n', f);
    if (first != NULL && result_conf(a, first)->no_caching)
        fputs("note: nocache ranks first; it is " NOCACHE_NOTE "\n", f);
    if (best == NULL || best->num_ooms > 0)
        table_no_fit(f, a, d, uncapped);
    else
        table_recommend(f, a, d, best);
}

int gt_report_table_write_fit(FILE *f, const char *trace_path, const struct gt_analysis *a,
                              const struct gt_analysis *uncapped)
{
    for (size_t d = 0; d < a->ndevices; d++) {
        if (d > 0)
            fputc('\n', f);
        table_device(f, trace_path, a, d, uncapped);
    }
    return finish(f);
}

int gt_report_table_write(FILE *f, const char *trace_path, const struct gt_analysis *a)
{
    return gt_report_table_write_fit(f, trace_path, a, NULL);
}

/* ---- JSON --------------------------------------------------------------- */

static void json_string(FILE *f, const char *text)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p == 0x7f)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void json_memory(FILE *f, uint64_t bytes)
{
    if (bytes == 0)
        fputs("null", f);
    else
        fprintf(f, "%" PRIu64, bytes);
}

static void json_result(FILE *f, const struct gt_analysis *a, const struct gt_replay_result *r)
{
    fputs("{\"config\": ", f);
    json_string(f, config_name(a, r));
    fprintf(f,
            ", \"rank\": %d, \"device\": %" PRId32 ", \"peak_reserved_bytes\": %" PRIu64
            ", \"peak_allocated_bytes\": %" PRIu64 ", \"fragmentation_at_peak\": %.6f"
            ", \"unallocated_at_peak_bytes\": %" PRIu64 ", \"num_device_alloc\": %" PRId64
            ", \"num_device_free\": %" PRId64 ", \"num_alloc_retries\": %" PRId64
            ", \"num_ooms\": %" PRId64 ", \"first_oom_event\": ",
            r->rank, r->device, r->peak_reserved, r->peak_allocated, fragmentation(r),
            r->unallocated_at_peak, r->num_device_alloc, r->num_device_free, r->num_alloc_retries,
            r->num_ooms);
    if (r->first_oom_event >= 0)
        fprintf(f, "%" PRId64 "}", r->first_oom_event);
    else
        fputs("null}", f);
}

static void json_results(FILE *f, const struct gt_analysis *a, size_t d, const char *indent)
{
    fputs("[", f);
    for (const struct gt_replay_result *r = next_ranked(a, d, NULL); r != NULL;) {
        fprintf(f, "\n%s", indent);
        json_result(f, a, r);
        r = next_ranked(a, d, r);
        if (r != NULL)
            fputc(',', f);
    }
    fprintf(f, "\n%.*s]", (int)strlen(indent) - 2, indent);
}

static void json_device(FILE *f, const struct gt_analysis *a, size_t d)
{
    const struct gt_replay_device *dev = &a->devices[d];
    const struct gt_replay_result *best = gt_replay_best(a, d);

    fprintf(f, "    {\"device\": %" PRId32 ", \"name\": ", dev->device);
    json_string(f, dev->name);
    fputs(", \"device_memory_bytes\": ", f);
    json_memory(f, dev->device_memory);
    fprintf(f, ", \"events\": %" PRId64 ", \"recommended\": ", dev->events);
    if (best != NULL && best->num_ooms == 0)
        json_string(f, config_name(a, best));
    else
        fputs("null", f);
    fputs(",\n     \"results\": ", f);
    json_results(f, a, d, "        ");
    fputc('}', f);
}

int gt_report_json_write(FILE *f, const char *trace_path, const struct gt_analysis *a)
{
    fputs("{\n  \"trace\": ", f);
    json_string(f, trace_path);
    fprintf(f, ",\n  \"events\": %" PRId64 ",\n", a->events);
    if (a->ndevices == 1) {
        fputs("  \"device_memory_bytes\": ", f);
        json_memory(f, a->devices[0].device_memory);
        fputs(",\n  \"results\": ", f);
        json_results(f, a, 0, "    ");
        fputs(",\n", f);
    }
    fputs("  \"devices\": [", f);
    for (size_t d = 0; d < a->ndevices; d++) {
        fputs(d > 0 ? ",\n" : "\n", f);
        json_device(f, a, d);
    }
    fputs(a->ndevices > 0 ? "\n  ]\n}\n" : "]\n}\n", f);
    return finish(f);
}

/* ---- CSV ---------------------------------------------------------------- */

static void csv_quoted(FILE *f, const char *text)
{
    char clean[300];

    gt_report_clean(text, clean, sizeof clean);
    fputc('"', f);
    for (const char *p = clean; *p != '\0'; p++) {
        if (*p == '"')
            fputc('"', f);
        fputc(*p, f);
    }
    fputc('"', f);
}

static void csv_row(FILE *f, const struct gt_analysis *a, const struct gt_replay_result *r)
{
    fprintf(f, "%" PRId32 ",%d,", r->device, r->rank);
    csv_quoted(f, config_name(a, r));
    fprintf(f,
            ",%" PRIu64 ",%" PRIu64 ",%.6f,%" PRIu64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64
            ",",
            r->peak_reserved, r->peak_allocated, fragmentation(r), r->unallocated_at_peak,
            r->num_device_alloc, r->num_device_free, r->num_alloc_retries, r->num_ooms);
    if (r->first_oom_event >= 0)
        fprintf(f, "%" PRId64, r->first_oom_event);
    fputc('\n', f);
}

int gt_report_csv_write(FILE *f, const char *trace_path, const struct gt_analysis *a)
{
    (void)trace_path;
    fputs("device,rank,config,peak_reserved_bytes,peak_allocated_bytes,fragmentation_at_peak,"
          "unallocated_at_peak_bytes,num_device_alloc,num_device_free,num_alloc_retries,num_ooms,"
          "first_oom_event\n",
          f);
    for (size_t d = 0; d < a->ndevices; d++) {
        for (const struct gt_replay_result *r = next_ranked(a, d, NULL); r != NULL;
             r = next_ranked(a, d, r))
            csv_row(f, a, r);
    }
    return finish(f);
}
