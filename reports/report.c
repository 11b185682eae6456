/* Table, JSON and CSV reports of an analysis (report.h).
 *
 * Results are printed in rank order without sorting a copy: next_ranked()
 * walks a device's results by (rank, config_index), so the writers need no
 * memory and do not care whether gt_replay_rank reordered the array. */
#include "gputrace/report.h"
#include "gputrace/err.h"
#include "gputrace/text.h"
#include "gputrace/units.h"

#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

#include "gputrace/banned.h"

#define NOCACHE_NOTE                                                                               \
    "the zero-fragmentation baseline (a cudaMalloc/cudaFree per tensor, far slower), not advice"

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

const struct gt_replay_result *gt_report_result_of(const struct gt_analysis *a, size_t d, size_t c)
{
    const struct gt_replay_result *res = device_results(a, d);
    for (size_t i = 0; i < a->nconfigs; i++)
        if (res[i].config_index == c)
            return &res[i];
    return NULL;
}

const struct gt_replay_result *gt_report_same_run_as(const struct gt_analysis *a, size_t d,
                                                     const struct gt_replay_result *r)
{
    return r->same_run_as != r->config_index ? gt_report_result_of(a, d, r->same_run_as) : NULL;
}

/* Whether a config splits blocks of any size: then a config that ran as
 * another is the same settings, not one whose limit no request reached. */
static bool splits_any(const struct gt_analysis *a, const struct gt_replay_result *r)
{
    return result_conf(a, r)->max_split_size == GT_CONF_UNLIMITED;
}

/* The next result of device d, in rank order after prev (NULL: the
 * first), whose run was leader's, of those that split any size (same) or
 * of the others. */
static const struct gt_replay_result *next_same_run(const struct gt_analysis *a, size_t d,
                                                    const struct gt_replay_result *leader,
                                                    bool same, const struct gt_replay_result *prev)
{
    const struct gt_replay_result *r = next_ranked(a, d, prev);
    while (r != NULL && (gt_report_same_run_as(a, d, r) != leader || splits_any(a, r) != same))
        r = next_ranked(a, d, r);
    return r;
}

/* One sentence for leader's followers of one kind (next_same_run). */
static void write_same_run(FILE *f, const struct gt_analysis *a, size_t d,
                           const struct gt_replay_result *leader, bool same, const char *lead,
                           const char *tail, void (*put_name)(FILE *f, const char *name))
{
    const struct gt_replay_result *r = next_same_run(a, d, leader, same, NULL);
    if (r == NULL)
        return;
    fputs(lead, f);
    int n = 0;
    for (; r != NULL; n++) {
        const struct gt_replay_result *next = next_same_run(a, d, leader, same, r);
        if (n > 0)
            fputs(next != NULL ? ", " : " and ", f);
        put_name(f, gt_report_config_name(a, r));
        r = next;
    }
    fputs(" ran exactly as ", f);
    put_name(f, gt_report_config_name(a, leader));
    if (same)
        fprintf(f, ": the same settings%s", tail);
    else
        fprintf(f, ": no request reached %s max_split_size%s", n > 1 ? "their" : "its", tail);
}

void gt_report_write_same_runs(FILE *f, const struct gt_analysis *a, size_t d, const char *lead,
                               const char *tail, void (*put_name)(FILE *f, const char *name))
{
    for (const struct gt_replay_result *l = next_ranked(a, d, NULL); l != NULL;
         l = next_ranked(a, d, l)) {
        write_same_run(f, a, d, l, false, lead, tail, put_name);
        write_same_run(f, a, d, l, true, lead, tail, put_name);
    }
}

const char *gt_report_config_name(const struct gt_analysis *a, const struct gt_replay_result *r)
{
    const char *name = result_conf(a, r)->name;
    return name[0] != '\0' ? name : "default";
}

static bool is_default(const struct gt_analysis *a, const struct gt_replay_result *r)
{
    return strcmp(gt_report_config_name(a, r), "default") == 0;
}

bool gt_report_is_recorded(const struct gt_analysis *a, const struct gt_replay_result *r)
{
    return a->has_recorded_conf && a->recorded_index >= 0 &&
           r->config_index == (size_t)a->recorded_index;
}

const struct gt_replay_result *gt_report_default_result(const struct gt_analysis *a, size_t d)
{
    const struct gt_replay_result *res = device_results(a, d);

    for (size_t i = 0; i < a->nconfigs; i++) {
        if (is_default(a, &res[i]))
            return &res[i];
    }
    return NULL;
}

void gt_report_vs_default(const struct gt_analysis *a, const struct gt_replay_result *best,
                          char *buf, size_t len)
{
    const struct gt_replay_result *def = NULL;

    for (size_t d = 0; d < a->ndevices && def == NULL; d++)
        if (a->devices[d].device == best->device)
            def = gt_report_default_result(a, d);
    buf[0] = '\0';
    if (def != NULL && def->peak_reserved > 0 && def->num_ooms > 0)
        snprintf(buf, len, "; default runs out of memory %" PRId64 " %s", def->num_ooms,
                 def->num_ooms == 1 ? "time" : "times");
    else if (def != NULL && def->peak_reserved > 0)
        snprintf(buf, len, ", %+.1f%% peak reserved vs default",
                 100.0 * ((double)best->peak_reserved - (double)def->peak_reserved) /
                     (double)def->peak_reserved);
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
        size_t n = strlen(gt_report_config_name(a, &res[i]));
        if (gt_report_is_recorded(a, &res[i]))
            n += strlen(MARK_RECORDED);
        if (n > w)
            w = n;
    }
    return w > 300 ? 300 : (int)w;
}

static void table_header(FILE *f, const char *trace_path, const struct gt_analysis *a, size_t d)
{
    const struct gt_replay_device *dev = &a->devices[d];
    char path[512], name[256], card[256], res[32], all[32];

    gt_text_clean(trace_path, path, sizeof path);
    gt_text_clean(dev->name, name, sizeof name);
    fprintf(f, "trace '%s': %" PRId64 " events; device %" PRId32, path, a->events, dev->device);
    if (name[0] != '\0')
        fprintf(f, " (%s)", name);
    fprintf(f, ": %" PRId64 " requests\n", dev->events);
    fprintf(f, "card: %s\n", gt_scenario_card_line(&dev->card, card, sizeof card));
    if (dev->card.start_reserved > 0 || dev->card.start_allocated > 0)
        fprintf(f, "start: %s reserved, %s allocated before the first event (%s)\n",
                gt_units_format_bytes(dev->card.start_reserved, res, sizeof res),
                gt_units_format_bytes(dev->card.start_allocated, all, sizeof all),
                gt_scenario_start_words(&dev->card));
}

static void table_row(FILE *f, const struct gt_report_trace *t, size_t d,
                      const struct gt_replay_result *r, int cw)
{
    const struct gt_analysis *a = t->a;
    char name[320], reserved[32], allocated[32], unalloc[32], first[32], fit[32];

    gt_text_clean(gt_report_config_name(a, r), name, sizeof name);
    if (gt_report_is_recorded(a, r)) {
        size_t n = strlen(name);
        snprintf(name + n, sizeof name - n, "%s", MARK_RECORDED);
    }
    if (r->first_oom_event >= 0)
        snprintf(first, sizeof first, "%" PRId64, r->first_oom_event);
    else
        snprintf(first, sizeof first, "-");
    fprintf(f,
            "%4d  %-*s  %13s  %14s  %11.2f%%  %19s  %10" PRId64 "  %8" PRId64 "  %7" PRId64
            "  %4" PRId64 "  %9s",
            r->rank, cw, name, gt_units_format_bytes(r->peak_reserved, reserved, sizeof reserved),
            gt_units_format_bytes(r->peak_allocated, allocated, sizeof allocated),
            100.0 * fragmentation(r),
            gt_units_format_bytes(r->unallocated_at_peak, unalloc, sizeof unalloc),
            r->num_device_alloc, r->num_device_free, r->num_alloc_retries, r->num_ooms, first);
    if (t->fit != NULL) {
        uint64_t min = gt_report_fit_of(t, r->config_index, d);
        fprintf(f, "  %13s", min ? gt_units_format_bytes(min, fit, sizeof fit) : "-");
    }
    fputc('\n', f);
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

bool gt_report_shell_safe(const char *text)
{
    for (const char *p = text; *p != '\0'; p++) {
        if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_:,./-", *p) ==
            NULL)
            return false;
    }
    return true;
}

void gt_report_shell_word(FILE *f, const char *text)
{
    if (text[0] != '\0' && gt_report_shell_safe(text)) {
        fputs(text, f);
    } else {
        fputc('\'', f);
        put_quoted(f, text, false);
        fputc('\'', f);
    }
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
    gt_report_shell_word(f, conf);
    fputs("\n  PowerShell:  $env:PYTORCH_CUDA_ALLOC_CONF=\"", f);
    put_quoted(f, conf, true);
    fputs("\"\n", f);
}

/* ---- the recommendation ------------------------------------------------ */

uint64_t gt_report_fit_of(const struct gt_report_trace *t, size_t config, size_t d)
{
    return t->fit != NULL ? t->fit[config * t->a->ndevices + d] : 0;
}

static bool in_scope(const struct gt_report_scope *sc, size_t ti, const struct gt_analysis *a,
                     size_t d)
{
    if (sc->trace != GT_REPORT_ALL && sc->trace != ti)
        return false;
    return !sc->one_process || a->devices[d].card.pid == sc->pid;
}

/* The config of analysis a named like the candidate, or NULL. */
static const struct gt_replay_result *result_named(const struct gt_analysis *a, size_t d,
                                                   const char *name)
{
    for (size_t c = 0; c < a->nconfigs; c++)
        if (strcmp(gt_report_config_name(a, &device_results(a, d)[c]), name) == 0)
            return &device_results(a, d)[c];
    return NULL;
}

/* A candidate's result on the worst device of the scope; NULL when it runs
 * out of memory on any of them (or some trace lacks it). */
static const struct gt_replay_result *worst_in_scope(const struct gt_report_trace *t, size_t n,
                                                     const struct gt_report_scope *sc,
                                                     const char *name)
{
    const struct gt_replay_result *worst = NULL;
    for (size_t ti = 0; ti < n; ti++) {
        for (size_t d = 0; d < t[ti].a->ndevices; d++) {
            if (!in_scope(sc, ti, t[ti].a, d))
                continue;
            const struct gt_replay_result *r = result_named(t[ti].a, d, name);
            if (r == NULL || r->num_ooms > 0)
                return NULL;
            if (worst == NULL || r->peak_reserved > worst->peak_reserved)
                worst = r;
        }
    }
    return worst;
}

static bool better(const struct gt_replay_result *x, const struct gt_replay_result *y)
{
    if (x->peak_reserved != y->peak_reserved)
        return x->peak_reserved < y->peak_reserved;
    if (fragmentation(x) != fragmentation(y))
        return fragmentation(x) < fragmentation(y);
    int64_t xc = x->num_device_alloc + x->num_device_free;
    int64_t yc = y->num_device_alloc + y->num_device_free;
    if (xc != yc)
        return xc < yc;
    return x->config_index < y->config_index;
}

bool gt_report_recommend(const struct gt_report_trace *t, size_t n,
                         const struct gt_report_scope *sc, struct gt_report_pick *out)
{
    size_t first = sc->trace == GT_REPORT_ALL ? 0 : sc->trace;
    const struct gt_analysis *a = t[first].a;
    memset(out, 0, sizeof *out);
    if (a->ndevices == 0)
        return false;
    for (size_t c = 0; c < a->nconfigs; c++) {
        const char *name = gt_report_config_name(a, &device_results(a, 0)[c]);
        if (a->configs[c].no_caching)
            continue;
        const struct gt_replay_result *w = worst_in_scope(t, n, sc, name);
        if (w != NULL && (out->worst == NULL || better(w, out->worst))) {
            out->worst = w;
            snprintf(out->config, sizeof out->config, "%s", name);
        }
    }
    return out->worst != NULL;
}

void gt_report_export_line(const char *config, char *buf, size_t len)
{
    if (strcmp(config, "default") == 0)
        snprintf(buf, len, "unset PYTORCH_CUDA_ALLOC_CONF");
    else if (gt_report_shell_safe(config))
        snprintf(buf, len, "export PYTORCH_CUDA_ALLOC_CONF=%s", config);
    else
        snprintf(buf, len, "export PYTORCH_CUDA_ALLOC_CONF='%s'", config);
}

static void table_recommend(FILE *f, const struct gt_report_trace *t,
                            const struct gt_report_pick *pick, const char *whom)
{
    const struct gt_replay_result *best = pick->worst;
    char name[300], peak[32], vs[96];

    gt_text_clean(pick->config, name, sizeof name);
    gt_units_format_bytes(best->peak_reserved, peak, sizeof peak);
    if (strcmp(pick->config, "default") == 0) {
        fprintf(f, "recommended%s: default, no PYTORCH_CUDA_ALLOC_CONF (peak reserved %s)\n", whom,
                peak);
        table_use_lines(f, NULL);
        return;
    }
    gt_report_vs_default(t->a, best, vs, sizeof vs);
    fprintf(f, "recommended%s: %s (peak reserved %s%s)\n", whom, name, peak, vs);
    table_use_lines(f, name);
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

static bool device_fails(const struct gt_analysis *a, size_t d)
{
    const struct gt_replay_result *best = gt_replay_best(a, d);
    return best == NULL || best->num_ooms > 0;
}

/* No caching config runs device d without an OOM: say so, and by how much
 * the peak must shrink. */
static void table_no_fit(FILE *f, const struct gt_analysis *a, size_t d,
                         const struct gt_analysis *uncapped)
{
    const struct gt_replay_device *dev = &a->devices[d];
    const struct gt_replay_result *min = gt_replay_smallest_peak(uncapped, dev->device);
    char mem[32] = "the device memory", peak[32], over[32], name[300];

    if (dev->device_memory > 0)
        gt_units_format_bytes(dev->device_memory, mem, sizeof mem);
    if (fitting_nocache(a, d) != NULL)
        fprintf(f,
                "device %" PRId32 ": no caching config fits in %s: only nocache stays within "
                "it, and it is " NOCACHE_NOTE "\n",
                dev->device, mem);
    else
        fprintf(f, "device %" PRId32 ": no config fits in %s: every config runs out of memory\n",
                dev->device, mem);
    if (min == NULL)
        return;
    gt_text_clean(gt_report_config_name(uncapped, min), name, sizeof name);
    gt_units_format_bytes(min->peak_reserved, peak, sizeof peak);
    fprintf(f, "without a cap the smallest peak reserved is %s (%s)", peak, name);
    if (dev->device_memory > 0 && min->peak_reserved > dev->device_memory)
        fprintf(f, ": the peak must shrink by %s to fit %s",
                gt_units_format_bytes(min->peak_reserved - dev->device_memory, over, sizeof over),
                mem);
    fputc('\n', f);
}

/* A config name as the table shows text from a trace: cleaned. */
static void put_clean(FILE *f, const char *name)
{
    char clean[256];
    gt_text_clean(name, clean, sizeof clean);
    fputs(clean, f);
}

static void table_device(FILE *f, const struct gt_report_trace *t, size_t d)
{
    const struct gt_analysis *a = t->a;
    int cw = config_width(a, d);
    const struct gt_replay_result *first = next_ranked(a, d, NULL);

    table_header(f, t->path, a, d);
    fprintf(f, "rank  %-*s  %13s  %14s  %12s  %19s  %10s  %8s  %7s  %4s  %9s", cw, "config",
            "peak reserved", "peak allocated", "frag at peak", "unallocated at peak", "cudaMalloc",
            "cudaFree", "retries", "OOMs", "first OOM");
    fputs(t->fit != NULL ? "      fits from\n" : "\n", f);
    for (const struct gt_replay_result *r = first; r != NULL; r = next_ranked(a, d, r))
        table_row(f, t, d, r, cw);
    fputc('\n', f);
    if (first != NULL && result_conf(a, first)->no_caching)
        fputs("note: nocache ranks first; it is " NOCACHE_NOTE "\n", f);
    gt_report_write_same_runs(f, a, d, "note: ", "\n", put_clean);
    if (device_fails(a, d))
        table_no_fit(f, a, d, t->uncapped);
}

/* The processes of analysis a in the order of their first device. */
static size_t processes(const struct gt_analysis *a, int64_t *pids, size_t cap)
{
    size_t n = 0;
    for (size_t d = 0; d < a->ndevices; d++) {
        size_t k = 0;
        while (k < n && pids[k] != a->devices[d].card.pid)
            k++;
        if (k == n && n < cap)
            pids[n++] = a->devices[d].card.pid;
    }
    return n;
}

/* One recommendation per process of trace ti: the variable is per process. */
static void table_processes(FILE *f, const struct gt_report_trace *t, size_t n, size_t ti)
{
    int64_t pids[GT_REPLAY_MAX_DEVICES];
    size_t np = processes(t[ti].a, pids, GT_REPLAY_MAX_DEVICES);
    for (size_t k = 0; k < np; k++) {
        struct gt_report_scope sc = {ti, true, pids[k]};
        struct gt_report_pick pick;
        char whom[64] = "";
        if (np > 1)
            snprintf(whom, sizeof whom, " for process %" PRId64, pids[k]);
        if (gt_report_recommend(t, n, &sc, &pick))
            table_recommend(f, &t[ti], &pick, whom);
        else
            fprintf(f,
                    "no recommendation%s: every caching config runs out of memory on one of its "
                    "devices\n",
                    whom);
    }
}

int gt_report_table_write_job(FILE *f, const struct gt_report_trace *t, size_t n)
{
    for (size_t ti = 0; ti < n; ti++) {
        for (size_t d = 0; d < t[ti].a->ndevices; d++) {
            if (ti > 0 || d > 0)
                fputc('\n', f);
            table_device(f, &t[ti], d);
        }
        if (t[ti].a->ndevices == 0) {
            char path[512];
            fprintf(f,
                    "trace '%s': %" PRId64 " events, no allocation requests: nothing to "
                    "replay\n",
                    gt_text_clean(t[ti].path, path, sizeof path), t[ti].a->events);
        }
        if (n == 1 && t[ti].a->ndevices > 0)
            table_processes(f, t, n, ti);
    }
    if (n > 1) {
        struct gt_report_scope sc = {GT_REPORT_ALL, false, 0};
        struct gt_report_pick pick;
        fputc('\n', f);
        if (gt_report_recommend(t, n, &sc, &pick))
            table_recommend(f, &t[0], &pick, " for the job");
        else
            fputs("no recommendation for the job: every caching config runs out of memory on "
                  "some device\n",
                  f);
    }
    return finish(f);
}

int gt_report_table_write_fit(FILE *f, const char *trace_path, const struct gt_analysis *a,
                              const struct gt_analysis *uncapped)
{
    struct gt_report_trace t = {trace_path, a, uncapped, NULL, false};
    return gt_report_table_write_job(f, &t, 1);
}

int gt_report_table_write(FILE *f, const char *trace_path, const struct gt_analysis *a)
{
    return gt_report_table_write_fit(f, trace_path, a, NULL);
}

/* ---- JSON --------------------------------------------------------------- */

void gt_report_json_string(FILE *f, const char *text)
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

static void json_result(FILE *f, const struct gt_report_trace *t, size_t d,
                        const struct gt_replay_result *r)
{
    const struct gt_analysis *a = t->a;
    fputs("{\"config\": ", f);
    gt_report_json_string(f, gt_report_config_name(a, r));
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
        fprintf(f, "%" PRId64, r->first_oom_event);
    else
        fputs("null", f);
    const struct gt_replay_result *same = gt_report_same_run_as(a, d, r);
    fputs(", \"same_run_as\": ", f);
    if (same != NULL)
        gt_report_json_string(f, gt_report_config_name(a, same));
    else
        fputs("null", f);
    if (t->fit != NULL) {
        fputs(", \"min_device_memory_bytes\": ", f);
        json_memory(f, gt_report_fit_of(t, r->config_index, d));
    }
    fputc('}', f);
}

static void json_results(FILE *f, const struct gt_report_trace *t, size_t d, const char *indent)
{
    const struct gt_analysis *a = t->a;
    fputs("[", f);
    for (const struct gt_replay_result *r = next_ranked(a, d, NULL); r != NULL;) {
        fprintf(f, "\n%s", indent);
        json_result(f, t, d, r);
        r = next_ranked(a, d, r);
        if (r != NULL)
            fputc(',', f);
    }
    fprintf(f, "\n%.*s]", (int)strlen(indent) - 2, indent);
}

static void json_device(FILE *f, const struct gt_report_trace *t, size_t d, bool name_trace)
{
    const struct gt_replay_device *dev = &t->a->devices[d];

    fprintf(f, "    {\"device\": %" PRId32 ", ", dev->device);
    if (name_trace) {
        fputs("\"trace\": ", f);
        gt_report_json_string(f, t->path);
        fputs(", ", f);
    }
    fputs("\"name\": ", f);
    gt_report_json_string(f, dev->name);
    fputs(", \"memory_bytes\": ", f);
    json_memory(f, dev->device_memory);
    fputs(", \"memory_source\": ", f);
    gt_report_json_string(f, gt_scenario_source_name(dev->card.source));
    fputs(", \"memory_source_event\": ", f);
    if (dev->card.source_event >= 0)
        fprintf(f, "%" PRId64, dev->card.source_event);
    else
        fputs("null", f);
    fprintf(f,
            ",\n     \"start_allocated_bytes\": %" PRIu64 ", \"start_reserved_bytes\": %" PRIu64
            ", \"requests\": %" PRId64 ", \"pid\": %" PRId64,
            dev->card.start_allocated, dev->card.start_reserved, dev->events, dev->card.pid);
    fputs(",\n     \"results\": ", f);
    json_results(f, t, d, "        ");
    fputc('}', f);
}

int gt_report_json_write_job(FILE *f, const struct gt_report_trace *t, size_t n)
{
    struct gt_report_scope all = {GT_REPORT_ALL, false, 0};
    struct gt_report_pick pick;
    int64_t events = 0;
    bool first = true;

    for (size_t ti = 0; ti < n; ti++)
        events += t[ti].a->events;
    fputs("{\n  \"trace\": ", f);
    gt_report_json_string(f, t[0].path);
    if (n > 1) {
        fputs(",\n  \"traces\": [", f);
        for (size_t ti = 0; ti < n; ti++) {
            fputs(ti ? ", " : "", f);
            gt_report_json_string(f, t[ti].path);
        }
        fputc(']', f);
    }
    fprintf(f, ",\n  \"events\": %" PRId64 ",\n  \"recommended\": ", events);
    if (gt_report_recommend(t, n, &all, &pick)) {
        char line[400];
        gt_report_export_line(pick.config, line, sizeof line);
        fputs("{\"config\": ", f);
        gt_report_json_string(f, pick.config);
        fputs(", \"export\": ", f);
        gt_report_json_string(f, line);
        fputc('}', f);
    } else {
        fputs("null", f);
    }
    fputs(",\n  \"devices\": [", f);
    for (size_t ti = 0; ti < n; ti++) {
        for (size_t d = 0; d < t[ti].a->ndevices; d++) {
            fputs(first ? "\n" : ",\n", f);
            first = false;
            json_device(f, &t[ti], d, n > 1);
        }
    }
    fputs(first ? "]\n}\n" : "\n  ]\n}\n", f);
    return finish(f);
}

int gt_report_json_write(FILE *f, const char *trace_path, const struct gt_analysis *a)
{
    struct gt_report_trace t = {trace_path, a, NULL, NULL, false};
    return gt_report_json_write_job(f, &t, 1);
}

/* ---- CSV ---------------------------------------------------------------- */

void gt_report_csv_field(FILE *f, const char *text, enum gt_report_csv_quote q)
{
    bool quote =
        q == GT_CSV_QUOTE_ALWAYS || (q == GT_CSV_QUOTE_NEEDED && strpbrk(text, ",\"\n\r") != NULL);

    if (quote)
        fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)text; *p != '\0'; p++) {
        if (*p == '"' && quote)
            fputc('"', f);
        fputc(*p == '\t' || *p == '\n' ? (char)*p : gt_text_shown(*p), f);
    }
    if (quote)
        fputc('"', f);
}

static void csv_row(FILE *f, const struct gt_report_trace *t, size_t d,
                    const struct gt_replay_result *r)
{
    const struct gt_analysis *a = t->a;
    fprintf(f, "%" PRId32 ",%d,", r->device, r->rank);
    gt_report_csv_field(f, gt_report_config_name(a, r), GT_CSV_QUOTE_ALWAYS);
    fprintf(f,
            ",%" PRIu64 ",%" PRIu64 ",%.6f,%" PRIu64 ",%" PRId64 ",%" PRId64 ",%" PRId64 ",%" PRId64
            ",",
            r->peak_reserved, r->peak_allocated, fragmentation(r), r->unallocated_at_peak,
            r->num_device_alloc, r->num_device_free, r->num_alloc_retries, r->num_ooms);
    if (r->first_oom_event >= 0)
        fprintf(f, "%" PRId64, r->first_oom_event);
    fputc(',', f);
    const struct gt_replay_result *same = gt_report_same_run_as(a, d, r);
    if (same != NULL)
        gt_report_csv_field(f, gt_report_config_name(a, same), GT_CSV_QUOTE_ALWAYS);
    if (t->fit != NULL) {
        uint64_t min = gt_report_fit_of(t, r->config_index, d);
        fputc(',', f);
        if (min > 0)
            fprintf(f, "%" PRIu64, min);
    }
    if (t->many) {
        fputc(',', f);
        gt_report_csv_field(f, t->path, GT_CSV_QUOTE_ALWAYS);
    }
    fputc('\n', f);
}

int gt_report_csv_write_job(FILE *f, const struct gt_report_trace *t, size_t n)
{
    fputs("device,rank,config,peak_reserved_bytes,peak_allocated_bytes,fragmentation_at_peak,"
          "unallocated_at_peak_bytes,num_device_alloc,num_device_free,num_alloc_retries,num_ooms,"
          "first_oom_event,same_run_as",
          f);
    fputs(t[0].fit != NULL ? ",min_device_memory_bytes" : "", f);
    fputs(n > 1 ? ",trace\n" : "\n", f);
    for (size_t ti = 0; ti < n; ti++) {
        struct gt_report_trace one = t[ti];
        one.many = n > 1;
        for (size_t d = 0; d < one.a->ndevices; d++) {
            for (const struct gt_replay_result *r = next_ranked(one.a, d, NULL); r != NULL;
                 r = next_ranked(one.a, d, r))
                csv_row(f, &one, d, r);
        }
    }
    return finish(f);
}

int gt_report_csv_write(FILE *f, const char *trace_path, const struct gt_analysis *a)
{
    struct gt_report_trace t = {trace_path, a, NULL, NULL, false};
    return gt_report_csv_write_job(f, &t, 1);
}
