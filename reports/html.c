/* The one-file HTML report (html.h).
 *
 * Every figure comes from the modules that print it elsewhere: stats.h for
 * the summary, one gt_replay_trace of the default sweep (as `analyze`) for
 * the ranking, plot.h for the pictures, oom.h for the OOM findings; the
 * summary and the OOM findings watch one replay of the recorded config.
 * This file only lays them out. Text from the trace or the command line goes
 * through gt_html_escape; the SVG from gnuplot through gt_html_svg_inline,
 * which refuses anything active, so the page carries no script at all. */
#include "gputrace/html.h"
#include "gputrace/conf.h"
#include "gputrace/err.h"
#include "gputrace/files.h"
#include "gputrace/inspect.h"
#include "gputrace/oom.h"
#include "gputrace/peak.h"
#include "gputrace/plot.h"
#include "gputrace/replay.h"
#include "gputrace/report.h"
#include "gputrace/scenario.h"
#include "gputrace/stats.h"
#include "gputrace/text.h"
#include "gputrace/units.h"
#include "gputrace/stats_report.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gputrace/banned.h"

#define SWEEP_CAP 64
/* The cap of the second replay that measures how much memory a run that
 * does not fit would need (as `analyze`): far above any card, far below
 * overflow. */
#define PATH_CAP 4096
#define GIB ((double)(1u << 30))
/* A plot larger than this is not gnuplot's doing: leave it out. */
#define SVG_MAX_BYTES (64u << 20)
/* Progress: the share of each stage, in thousandths of the whole. */
#define PROGRESS_TOTAL 1000
#define PROGRESS_REPLAY 500
#define PROGRESS_STATS 600
#define PROGRESS_PLOTS 900

#define NOCACHE_NOTE                                                                               \
    "the zero-fragmentation baseline (a cudaMalloc/cudaFree per tensor, far slower), not advice"

/* ---- escaping --------------------------------------------------------------- */

void gt_html_escape(FILE *f, const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; p != NULL && *p != '\0'; p++) {
        switch (*p) {
        case '&':
            fputs("&amp;", f);
            break;
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        case '\'':
            fputs("&#39;", f);
            break;
        default:
            fputc(gt_text_shown(*p), f);
        }
    }
}

static void esc(FILE *f, const char *text)
{
    gt_html_escape(f, text);
}

/* A config name as the page shows one: escaped, in <code>. */
static void put_code(FILE *f, const char *name)
{
    fputs("<code>", f);
    gt_html_escape(f, name);
    fputs("</code>", f);
}

static void bytes_cell(FILE *f, uint64_t bytes)
{
    char b[32];
    fprintf(f, "<td class=\"num\" title=\"%" PRIu64 " bytes\">%s</td>", bytes,
            gt_units_format_bytes(bytes, b, sizeof b));
}

/* ---- SVG inlining --------------------------------------------------------- */

struct id_set {
    char **v;
    size_t n, cap;
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void id_set_release(struct id_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
}

static bool id_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.' || c == ':';
}

static bool is_quote(char c)
{
    return c == '"' || c == '\'';
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Case-insensitive search for needle in [p, end). */
static const char *find_ci(const char *p, const char *end, const char *needle)
{
    size_t n = strlen(needle);

    for (; p + n <= end; p++) {
        size_t i = 0;
        while (i < n && (p[i] | 0x20) == (needle[i] | 0x20))
            i++;
        if (i == n)
            return p;
    }
    return NULL;
}

static const char *find_cs(const char *p, const char *end, const char *needle)
{
    size_t n = strlen(needle);

    for (; p + n <= end; p++) {
        if (memcmp(p, needle, n) == 0)
            return p;
    }
    return NULL;
}

/* Whether an attribute starts at p: p follows white space and is name=
 * followed by a quote. */
static bool attr_at(const char *start, const char *p, const char *end, const char *name)
{
    size_t n = strlen(name);

    return p > start && is_space(p[-1]) && p + n + 1 < end && memcmp(p, name, n) == 0 &&
           p[n] == '=' && is_quote(p[n + 1]);
}

static int collect_ids(const char *start, const char *end, struct id_set *ids)
{
    for (const char *p = start; p < end; p++) {
        if (!attr_at(start, p, end, "id"))
            continue;
        const char *v = p + 4, *e = v;
        while (e < end && *e != p[3])
            e++;
        if (ids->n == ids->cap) {
            size_t cap = ids->cap ? ids->cap * 2 : 64;
            char **nv = realloc(ids->v, cap * sizeof *nv);
            if (nv == NULL)
                return GT_ENOMEM;
            ids->v = nv;
            ids->cap = cap;
        }
        ids->v[ids->n] = malloc((size_t)(e - v) + 1);
        if (ids->v[ids->n] == NULL)
            return GT_ENOMEM;
        memcpy(ids->v[ids->n], v, (size_t)(e - v));
        ids->v[ids->n][e - v] = '\0';
        ids->n++;
        p = e;
    }
    if (ids->n > 1)
        qsort(ids->v, ids->n, sizeof *ids->v, cmp_str);
    return 0;
}

static bool id_known(const struct id_set *ids, const char *name, size_t len)
{
    char key[128];

    if (len >= sizeof key)
        return false;
    memcpy(key, name, len);
    key[len] = '\0';
    const char *k = key;
    return ids->n > 0 && bsearch(&k, ids->v, ids->n, sizeof *ids->v, cmp_str) != NULL;
}

/* Active content or a reference to anything outside the SVG: a plot must
 * never carry either into the page. hrefs may point inside the SVG (#id)
 * or hold an inline raster image (data:image/). */
static bool svg_is_passive(const char *start, const char *end)
{
    static const char *const banned[] = {"<script", "<foreignobject", "<iframe", "<object",
                                         "<embed",  "javascript:",    "src=",    "@import"};

    for (size_t i = 0; i < sizeof banned / sizeof banned[0]; i++) {
        if (find_ci(start, end, banned[i]) != NULL)
            return false;
    }
    for (const char *p = start + 1; p < end; p++) {
        if (is_space(p[-1]) && (p[0] | 0x20) == 'o' && p + 2 < end && (p[1] | 0x20) == 'n' &&
            id_char(p[2])) {
            const char *e = p + 2;
            while (e < end && id_char(*e))
                e++;
            if (e < end && *e == '=')
                return false; /* an event handler attribute: onload=, onclick= */
        }
        if (p + 5 < end && memcmp(p, "href=", 5) == 0) {
            const char *v = p + 5 + (is_quote(p[5]) ? 1 : 0);
            bool inside = v < end && *v == '#';
            bool image = (size_t)(end - v) >= 11 && memcmp(v, "data:image/", 11) == 0;
            if (!inside && !image)
                return false;
        }
        if (p + 4 < end && memcmp(p, "url(", 4) == 0) {
            const char *v = p + 4;
            while (v < end && (is_quote(*v) || is_space(*v)))
                v++;
            if (v < end && *v != '#')
                return false;
        }
    }
    return true;
}

int gt_html_svg_inline(FILE *f, const char *svg, size_t len, const char *prefix)
{
    const char *end = svg + len;
    const char *start = find_cs(svg, end, "<svg");
    const char *close = NULL;
    struct id_set ids = {0};
    int rc;

    /* The last </svg> closes the root element. */
    for (const char *p = start; p != NULL;) {
        const char *q = find_cs(p, end, "</svg>");
        if (q == NULL)
            break;
        close = q;
        p = q + 6;
    }
    if (start == NULL || close == NULL || !(is_space(start[4]) || start[4] == '>'))
        return GT_EINVAL;
    end = close + 6;
    if (!svg_is_passive(start, end))
        return GT_EINVAL;
    if ((rc = collect_ids(start, end, &ids)) != 0) {
        id_set_release(&ids);
        return rc;
    }
    for (const char *p = start; p < end; p++) {
        if (attr_at(start, p, end, "xmlns") ||
            (p > start && is_space(p[-1]) && (size_t)(end - p) > 6 &&
             memcmp(p, "xmlns:", 6) == 0)) {
            /* Drop the attribute: its value names the namespace by a URL
             * that a reader of the page would take for a network reference. */
            const char *q = p;
            while (q < end && *q != '=')
                q++;
            if (q + 1 < end && is_quote(q[1])) {
                const char *e = q + 2;
                while (e < end && *e != q[1])
                    e++;
                p = e; /* the loop's p++ steps past the closing quote */
                continue;
            }
        }
        if (attr_at(start, p, end, "id")) {
            fprintf(f, "id=%c%s", p[3], prefix);
            p += 3;
            continue;
        }
        if (*p == '#' && p > start && (is_quote(p[-1]) || p[-1] == '(')) {
            const char *e = p + 1;
            while (e < end && id_char(*e))
                e++;
            if (e < end && (is_quote(*e) || *e == ')') &&
                id_known(&ids, p + 1, (size_t)(e - p - 1))) {
                fprintf(f, "#%s", prefix);
                continue;
            }
        }
        fputc(*p, f);
    }
    id_set_release(&ids);
    return ferror(f) ? GT_EIO : 0;
}

/* ---- the work ------------------------------------------------------------- */

struct progress_stage {
    const struct gt_html_options *opts;
    int64_t from, to; /* this stage's share of PROGRESS_TOTAL */
};

static void progress_at(const struct gt_html_options *opts, int64_t done)
{
    if (opts->progress != NULL)
        opts->progress(opts->progress_ctx, done, PROGRESS_TOTAL);
}

static void replay_progress(void *ctx, int64_t done, int64_t total)
{
    const struct progress_stage *st = ctx;

    if (total > 0)
        progress_at(st->opts,
                    st->from + (st->to - st->from) * (done > total ? total : done) / total);
}

struct plot_files {
    char *svg[GT_PLOT_COUNT];
    size_t len[GT_PLOT_COUNT];
};

static void plot_files_release(struct plot_files *p)
{
    for (size_t i = 0; i < GT_PLOT_COUNT; i++)
        free(p->svg[i]);
}

static int read_file(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0;

    *out = NULL;
    if (f == NULL)
        return GT_EIO;
    for (;;) {
        if (n == cap) {
            cap = cap ? cap * 2 : 65536;
            char *nb = cap > SVG_MAX_BYTES ? NULL : realloc(buf, cap);
            if (nb == NULL) {
                free(buf);
                fclose(f);
                return cap > SVG_MAX_BYTES ? GT_EIO : GT_ENOMEM;
            }
            buf = nb;
        }
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        free(buf);
        fclose(f);
        return GT_EIO;
    }
    fclose(f);
    *out = buf;
    *len = n;
    return 0;
}

/* Removes the private plot folder: only what gt_plot_end put there (it
 * was created empty by mkdtemp and nobody else can write into it). */
static void remove_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[PATH_CAP];

    if (d != NULL) {
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            int n = snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
            if (n > 0 && (size_t)n < sizeof path)
                unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
}

/* The plots draw from the report's own scenario, sweep and uncapped replay
 * of it: the numbers of its ranking, not replays of their own. They are
 * drawn as SVG in a private folder and read in, in two steps around the
 * replay of the recorded config, whose per-event views they watch too
 * (plots_begin, plots_end). A failure is reported in res, never returned:
 * the report comes without plots. */
struct plots_job {
    char dir[PATH_CAP];
    struct gt_plot_pass *pass; /* NULL when the plots could not start */
};

static void plots_begin(const char *trace, const struct gt_html_options *opts,
                        const struct gt_scenario *scn, const struct gt_analysis *sweep,
                        const struct gt_analysis *uncapped, struct gt_html_result *res,
                        struct plots_job *pj)
{
    const char *tmp = getenv("TMPDIR");
    struct gt_plot_options po = {0};

    pj->pass = NULL;
    po.format = GT_PLOT_SVG;
    po.gnuplot = opts->gnuplot;
    po.scenario = scn;
    po.sweep = sweep;
    po.uncapped = uncapped;
    if (tmp == NULL || tmp[0] == '\0' || strlen(tmp) > PATH_CAP - 64)
        tmp = "/tmp";
    snprintf(pj->dir, sizeof pj->dir, "%s/gpu-trace-report-XXXXXX", tmp);
    if (mkdtemp(pj->dir) == NULL) {
        res->plots_missing = true;
        snprintf(res->plots_error, sizeof res->plots_error,
                 "cannot create a temporary folder in '%s': %s", tmp, strerror(errno));
        pj->dir[0] = '\0';
        return;
    }
    int rc =
        gt_plot_begin(trace, pj->dir, &po, &pj->pass, res->plots_error, sizeof res->plots_error);
    if (rc != 0) {
        res->plots_missing = true;
        if (res->plots_error[0] == '\0')
            snprintf(res->plots_error, sizeof res->plots_error, "%s", gt_strerror(rc));
    }
}

/* rc: the result of the replay the plots' observer watched, 0 if none. */
static void plots_end(struct plots_job *pj, int rc, struct gt_html_result *res,
                      struct plot_files *files)
{
    static const char *const names[] = GT_PLOT_NAMES;
    char path[PATH_CAP];

    if (pj->dir[0] == '\0')
        return;
    if (pj->pass != NULL) {
        rc = gt_plot_end(pj->pass, rc, res->plots_error, sizeof res->plots_error);
        pj->pass = NULL;
        for (size_t i = 0; rc == 0 && i < GT_PLOT_COUNT; i++) {
            int n = snprintf(path, sizeof path, "%s/%s.svg", pj->dir, names[i]);
            rc = n > 0 && (size_t)n < sizeof path ? read_file(path, &files->svg[i], &files->len[i])
                                                  : GT_EIO;
            if (rc != 0)
                snprintf(res->plots_error, sizeof res->plots_error, "cannot read the plot '%s': %s",
                         names[i], gt_strerror(rc));
        }
        if (rc != 0) {
            res->plots_missing = true;
            if (res->plots_error[0] == '\0')
                snprintf(res->plots_error, sizeof res->plots_error, "%s", gt_strerror(rc));
            plot_files_release(files);
            memset(files, 0, sizeof *files);
        }
    }
    remove_dir(pj->dir);
    pj->dir[0] = '\0';
}

/* ---- the page ------------------------------------------------------------- */

static const char STYLE[] =
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:0 auto;"
    "max-width:1280px;padding:1em 2em;color:#1d2330;background:#fff;line-height:1.4}\n"
    "h1{font-size:1.6em;margin-bottom:.2em}h2{border-bottom:2px solid #d8dde6;"
    "padding-bottom:.2em;margin-top:2em}h3{margin-bottom:.3em}\n"
    "nav a{margin-right:1em}a{color:#2457a6}\n"
    "table{border-collapse:collapse;margin:.5em 0 1em;font-size:.92em}\n"
    "th,td{border:1px solid #d8dde6;padding:.25em .6em;text-align:left;vertical-align:top}\n"
    ".wide{overflow-x:auto}table.ranking{font-size:.85em}\n"
    "table.ranking code{overflow-wrap:anywhere}\n"
    "th{background:#f1f4f8}td.num{text-align:right;font-variant-numeric:tabular-nums;"
    "white-space:nowrap}\n"
    "tr.best td{background:#e6f4ea;font-weight:600}tr.oom td{color:#a61b1b}\n"
    "pre,code{font-family:ui-monospace,'DejaVu Sans Mono',Menlo,Consolas,monospace}\n"
    "pre{background:#f6f8fa;border:1px solid #d8dde6;padding:.6em;overflow-x:auto}\n"
    ".note{background:#fff8e1;border-left:4px solid #f0b400;padding:.5em .8em}\n"
    ".ok{background:#e6f4ea;border-left:4px solid #2e7d32;padding:.5em .8em}\n"
    ".bad{background:#fdecea;border-left:4px solid #c62828;padding:.5em .8em}\n"
    ".bar{display:inline-block;height:.8em;background:#5b8def;vertical-align:middle}\n"
    ".bar.res{background:#c3d3f5}\n"
    "figure{margin:1em 0 2em}figure svg{width:100%;max-width:960px;height:auto;display:block;"
    "border:1px solid #eef0f4}\n"
    "figcaption{font-weight:600;margin-bottom:.3em}\n"
    "footer{margin-top:3em;color:#667085;font-size:.85em}\n";

static void page_head(FILE *f, const char *trace_path)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
          "<title>gpu-trace report: ",
          f);
    esc(f, trace_path);
    fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n", STYLE);
    fputs("<header>\n<h1>gpu-trace report</h1>\n<p>trace <code>", f);
    esc(f, trace_path);
    fputs("</code> &middot; gpu-trace " GT_VERSION "</p>\n"
          "<nav><a href=\"#summary\">Summary</a><a href=\"#ranking\">Settings ranked</a>"
          "<a href=\"#plots\">Plots</a><a href=\"#oom\">Out of memory</a>"
          "<a href=\"#export\">Use it</a></nav>\n</header>\n",
          f);
}

static void summary_timeline(FILE *f, const struct gt_stats *s, const struct gt_stats_device *d)
{
    double per;
    const char *unit = gt_stats_time_unit(s, &per);
    uint64_t top = 1;

    for (size_t i = 0; i < s->nslices; i++) {
        if (d->slices[i].reserved_max > top)
            top = d->slices[i].reserved_max;
    }
    /* GiB as PyTorch prints them, unless a small run would show 0.001s. */
    bool mib = d->peak_reserved < ((uint64_t)1 << 30);
    double scale = mib ? GIB / 1024 : GIB;
    const char *u = mib ? "MiB" : "GiB";

    fprintf(f,
            "<table class=\"timeline\">\n<tr><th>%s</th><th>used %s</th><th>reserved "
            "%s</th><th></th></tr>\n",
            s->by_index      ? "events"
            : unit[0] == 's' ? "time (s)"
            : unit[0] == 'm' ? "time (ms)"
                             : "time (&micro;s)",
            u, u);
    for (size_t i = 0; i < s->nslices; i++) {
        const struct gt_stats_slice *sl = &d->slices[i];
        if (s->by_index)
            fprintf(f, "<tr><td class=\"num\">%" PRId64 " &ndash; %" PRId64 "</td>", sl->start,
                    sl->end);
        else
            fprintf(f, "<tr><td class=\"num\">%.3f &ndash; %.3f</td>", (double)sl->start / per,
                    (double)sl->end / per);
        fprintf(f,
                "<td class=\"num\">%.3f</td><td class=\"num\">%.3f</td>"
                "<td><span class=\"bar\" style=\"width:%.1fpx\"></span><span class=\"bar res\" "
                "style=\"width:%.1fpx\"></span></td></tr>\n",
                (double)sl->allocated_max / scale, (double)sl->reserved_max / scale,
                300.0 * (double)sl->allocated_max / (double)top,
                300.0 *
                    (double)(sl->reserved_max - (sl->reserved_max > sl->allocated_max
                                                     ? sl->allocated_max
                                                     : sl->reserved_max)) /
                    (double)top);
    }
    fputs("</table>\n", f);
}

static void kv_row(FILE *f, const char *key)
{
    fprintf(f, "<tr><th>%s</th><td>", key);
}

static void summary_device(FILE *f, const struct gt_stats *s, const struct gt_stats_device *d)
{
    char a[32], b[32], m[32];

    fprintf(f, "<h3>device %" PRId32 "</h3>\n<table class=\"summary\">\n", d->device);
    kv_row(f, "card");
    esc(f, d->name[0] != '\0' ? d->name : "unknown");
    if (d->total_memory > 0)
        fprintf(f, ", %s", gt_units_format_bytes(d->total_memory, m, sizeof m));
    fputs("</td></tr>\n", f);
    kv_row(f, "events");
    fprintf(f, "%" PRId64 " over %.3f s</td></tr>\n", d->events,
            gt_stats_seconds(d->first_ts_ns, d->last_ts_ns));
    kv_row(f, "requests");
    fprintf(f,
            "%" PRId64 " allocs, %" PRId64 " frees, %" PRId64 " empty_cache, %" PRId64
            " recorded OOMs</td></tr>\n",
            d->allocs, d->frees, d->empty_caches, d->recorded_ooms);
    kv_row(f, "requested");
    fprintf(f, "peak %s, at the end %s (bytes asked and not freed)</td></tr>\n",
            gt_units_format_bytes(d->requested_peak, a, sizeof a),
            gt_units_format_bytes(d->requested_final, b, sizeof b));
    kv_row(f, "simulated");
    fprintf(f, "peak allocated %s, peak reserved %s on %s, %" PRId64 " OOMs</td></tr>\n",
            gt_units_format_bytes(d->peak_allocated, a, sizeof a),
            gt_units_format_bytes(d->peak_reserved, b, sizeof b),
            d->device_memory > 0 ? gt_units_format_bytes(d->device_memory, m, sizeof m)
                                 : "unlimited memory",
            d->simulated_ooms);
    kv_row(f, "utilization");
    if (d->utilization >= 0)
        fprintf(f, "%.2f%% of the card at the reserved peak</td></tr>\n", 100.0 * d->utilization);
    else
        fputs("unknown (the trace does not record the card&#39;s memory)</td></tr>\n", f);
    if (d->has_real_segments) {
        kv_row(f, "real reserved");
        fprintf(f, "peak %s, at the end %s (the recording&#39;s segment events)</td></tr>\n",
                gt_units_format_bytes(d->real_reserved_peak, a, sizeof a),
                gt_units_format_bytes(d->real_reserved_final, b, sizeof b));
    }
    if (d->unknown_frees > 0) {
        kv_row(f, "warning");
        fprintf(f, "%" PRId64 " frees of unknown addresses</td></tr>\n", d->unknown_frees);
    }
    fputs("</table>\n", f);
    summary_timeline(f, s, d);
}

static void section_summary(FILE *f, const struct gt_stats *s)
{
    char a[32], b[32], t[32];

    fprintf(f,
            "<section id=\"summary\">\n<h2>Trace summary</h2>\n<p>%" PRId64
            " events over %.3f s. Simulated figures replay config <code>",
            s->events, gt_stats_seconds(s->first_ts_ns, s->last_ts_ns));
    esc(f, s->config);
    fputs("</code> ", f);
    if (s->config_error[0] != '\0') {
        fputs("(", f);
        esc(f, s->config_error);
        fputs(")", f);
    } else if (s->config_recorded) {
        fputs("(the settings the run was recorded under)", f);
    } else {
        fputs("(the trace does not say which settings the run used)", f);
    }
    fputs(" on the recorded card.</p>\n", f);
    for (size_t i = 0; i < s->ndevices; i++)
        summary_device(f, s, &s->devices[i]);
    if (s->has_host)
        fprintf(f,
                "<p>Pinned host memory: %" PRId64 " allocs, %" PRId64
                " frees, peak %s, total %s, at the end %s.</p>\n",
                s->host_allocs, s->host_frees, gt_units_format_bytes(s->host_peak, a, sizeof a),
                gt_units_format_bytes(s->host_total, t, sizeof t),
                gt_units_format_bytes(s->host_final, b, sizeof b));
    fputs("</section>\n", f);
}

/* ---- ranking (the facts of `analyze`'s table) ----------------------------- */

static int cmp_ranked(const void *x, const void *y)
{
    const struct gt_replay_result *a = *(const struct gt_replay_result *const *)x;
    const struct gt_replay_result *b = *(const struct gt_replay_result *const *)y;

    if (a->rank != b->rank)
        return a->rank < b->rank ? -1 : 1;
    return a->config_index < b->config_index ? -1 : a->config_index > b->config_index;
}

/* The lines that set conf (NULL: unset the variable) in bash and
 * PowerShell, quoted as `analyze` quotes them, then HTML-escaped. */
static void export_lines(FILE *f, const char *conf)
{
    char one[2] = "";

    if (conf == NULL) {
        fputs("<pre class=\"export\">bash:        unset PYTORCH_CUDA_ALLOC_CONF\n"
              "PowerShell:  Remove-Item Env:PYTORCH_CUDA_ALLOC_CONF</pre>\n",
              f);
        return;
    }
    fputs("<pre class=\"export\">bash:        export PYTORCH_CUDA_ALLOC_CONF=", f);
    if (gt_report_shell_safe(conf)) {
        esc(f, conf);
    } else {
        fputs("&#39;", f);
        for (const char *p = conf; *p != '\0'; p++) {
            if (*p == '\'') {
                fputs("&#39;\\&#39;&#39;", f);
            } else {
                one[0] = *p;
                esc(f, one);
            }
        }
        fputs("&#39;", f);
    }
    fputs("\nPowerShell:  $env:PYTORCH_CUDA_ALLOC_CONF=&quot;", f);
    for (const char *p = conf; *p != '\0'; p++) {
        if (*p == '"' || *p == '$' || *p == '`')
            fputc('`', f);
        one[0] = *p;
        esc(f, one);
    }
    fputs("&quot;</pre>\n", f);
}

/* No caching config runs device d without an OOM: say so, and by how much
 * the peak must shrink (from the uncapped replay). */
static void no_fit_note(FILE *f, const struct gt_analysis *a, size_t d,
                        const struct gt_analysis *uncapped)
{
    const struct gt_replay_result *best = gt_replay_best(a, d);
    const struct gt_replay_device *dev = &a->devices[d];
    char peak[32], mem[32] = "the device memory", over[32];

    if (best != NULL && best->num_ooms == 0)
        return;
    if (dev->device_memory > 0)
        gt_units_format_bytes(dev->device_memory, mem, sizeof mem);
    fprintf(f, "<p class=\"bad\">No caching config fits in %s: every one runs out of memory.", mem);
    const struct gt_replay_result *min = gt_replay_smallest_peak(uncapped, dev->device);
    if (min != NULL) {
        fprintf(f, " Without a cap the smallest peak reserved is %s (<code>",
                gt_units_format_bytes(min->peak_reserved, peak, sizeof peak));
        esc(f, gt_report_config_name(uncapped, min));
        fputs("</code>)", f);
        if (dev->device_memory > 0 && min->peak_reserved > dev->device_memory)
            fprintf(
                f, ": the peak must shrink by %s to fit %s",
                gt_units_format_bytes(min->peak_reserved - dev->device_memory, over, sizeof over),
                mem);
        fputc('.', f);
    }
    fputs("</p>\n", f);
}

/* The one recommendation of a process (PYTORCH_CUDA_ALLOC_CONF is one per
 * process): gt_report_recommend's, as `analyze` prints it. */
static void recommendation(FILE *f, const struct gt_analysis *a, const struct gt_report_pick *pick,
                           const char *whom)
{
    const struct gt_replay_result *best = pick->worst;
    char peak[32], vs[96];

    gt_units_format_bytes(best->peak_reserved, peak, sizeof peak);
    if (strcmp(pick->config, "default") == 0) {
        fprintf(f,
                "<p class=\"ok\">recommended%s: default, no PYTORCH_CUDA_ALLOC_CONF (peak "
                "reserved %s)</p>\n",
                whom, peak);
        export_lines(f, NULL);
        return;
    }
    fprintf(f, "<p class=\"ok\">recommended%s: <code>", whom);
    esc(f, pick->config);
    gt_report_vs_default(a, best, vs, sizeof vs);
    fprintf(f, "</code> (peak reserved %s%s)</p>\n", peak, vs);
    export_lines(f, pick->config);
}

/* One recommendation per process of the trace. */
static void recommendations(FILE *f, const struct gt_analysis *a)
{
    int64_t pids[GT_REPLAY_MAX_DEVICES];
    size_t np = 0;
    struct gt_report_trace t = {"", a, NULL, NULL, false};

    for (size_t d = 0; d < a->ndevices; d++) {
        size_t k = 0;
        while (k < np && pids[k] != a->devices[d].card.pid)
            k++;
        if (k == np)
            pids[np++] = a->devices[d].card.pid;
    }
    for (size_t k = 0; k < np; k++) {
        struct gt_report_scope sc = {0, true, pids[k]};
        struct gt_report_pick pick;
        char whom[64] = "";
        if (np > 1)
            snprintf(whom, sizeof whom, " for process %" PRId64, pids[k]);
        if (gt_report_recommend(&t, 1, &sc, &pick))
            recommendation(f, a, &pick, whom);
        else
            fprintf(f,
                    "<p class=\"bad\">No recommendation%s: every caching config runs out of "
                    "memory on one of its devices.</p>\n",
                    whom);
    }
    if (a->ndevices == 0)
        fputs("<p>The trace has no requests: nothing to recommend.</p>\n", f);
}

static int ranking_device(FILE *f, const struct gt_analysis *a, size_t d,
                          const struct gt_analysis *uncapped, const char *recommended)
{
    const struct gt_replay_device *dev = &a->devices[d];
    const struct gt_replay_result **order = malloc(a->nconfigs * sizeof *order + 1);
    char card[256], res[32], all[32];

    if (order == NULL)
        return GT_ENOMEM;
    for (size_t i = 0; i < a->nconfigs; i++)
        order[i] = &a->results[d * a->nconfigs + i];
    qsort(order, a->nconfigs, sizeof *order, cmp_ranked);
    fprintf(f, "<h3>device %" PRId32, dev->device);
    if (dev->name[0] != '\0') {
        fputs(" (", f);
        esc(f, dev->name);
        fputc(')', f);
    }
    fprintf(f, ": %" PRId64 " requests</h3>\n<p class=\"card\">card: ", dev->events);
    esc(f, gt_scenario_card_line(&dev->card, card, sizeof card));
    if (dev->card.start_reserved > 0 || dev->card.start_allocated > 0)
        fprintf(f, "; start: %s reserved, %s allocated before the first event (%s)",
                gt_units_format_bytes(dev->card.start_reserved, res, sizeof res),
                gt_units_format_bytes(dev->card.start_allocated, all, sizeof all),
                gt_scenario_start_words(&dev->card));
    fputs("</p>\n", f);
    fputs("<div class=\"wide\"><table class=\"ranking\">\n<tr><th>rank</th><th>config</th><th>peak "
          "reserved</th>"
          "<th>peak allocated</th><th>frag at peak</th><th>unallocated at peak</th>"
          "<th>cudaMalloc</th><th>cudaFree</th><th>retries</th><th>OOMs</th>"
          "<th>first OOM</th></tr>\n",
          f);
    for (size_t i = 0; i < a->nconfigs; i++) {
        const struct gt_replay_result *r = order[i];
        double frag = isfinite(r->fragmentation_at_peak) ? r->fragmentation_at_peak : 0.0;
        fprintf(f, "<tr%s><td class=\"num\">%d</td><td><code>",
                strcmp(gt_report_config_name(a, r), recommended) == 0 ? " class=\"best\""
                : r->num_ooms > 0                                     ? " class=\"oom\""
                                                                      : "",
                r->rank);
        esc(f, gt_report_config_name(a, r));
        fprintf(f, "</code>%s</td>", gt_report_is_recorded(a, r) ? " (recorded)" : "");
        bytes_cell(f, r->peak_reserved);
        bytes_cell(f, r->peak_allocated);
        fprintf(f, "<td class=\"num\">%.2f%%</td>", 100.0 * frag);
        bytes_cell(f, r->unallocated_at_peak);
        fprintf(f,
                "<td class=\"num\">%" PRId64 "</td><td class=\"num\">%" PRId64
                "</td><td class=\"num\">%" PRId64 "</td><td class=\"num\">%" PRId64 "</td>",
                r->num_device_alloc, r->num_device_free, r->num_alloc_retries, r->num_ooms);
        if (r->first_oom_event >= 0)
            fprintf(f, "<td class=\"num\">%" PRId64 "</td></tr>\n", r->first_oom_event);
        else
            fputs("<td class=\"num\">-</td></tr>\n", f);
    }
    fputs("</table></div>\n", f);
    if (a->nconfigs > 0 && a->configs[order[0]->config_index].no_caching)
        fputs("<p class=\"note\">nocache ranks first; it is " NOCACHE_NOTE ".</p>\n", f);
    gt_report_write_same_runs(f, a, d, "<p class=\"note\">", ".</p>\n", put_code);
    free(order);
    no_fit_note(f, a, d, uncapped);
    return 0;
}

static int section_ranking(FILE *f, const struct gt_analysis *a, const struct gt_analysis *uncapped)
{
    const struct gt_replay_warnings *w = &a->warnings;
    int rc = 0;

    fputs("<section id=\"ranking\">\n<h2>Allocator settings ranked</h2>\n"
          "<p>The default sweep of <code>gpu-trace analyze</code>: configs that never run out of "
          "memory first, then lower peak reserved memory, then lower fragmentation, then fewer "
          "device calls; configs that run out of memory after them, those that get furthest first. "
          "Every config starts from the memory live when the recording began. &ldquo;frag at "
          "peak&rdquo; is 1 &minus; allocated/reserved at the moment reserved memory stood at its "
          "peak with the most allocated; &ldquo;first OOM&rdquo; is the 0-based position of the "
          "event where a config would first have failed.</p>\n",
          f);
    if (w->unknown_free + w->double_free + w->alloc_of_live + w->lost_events > 0)
        fprintf(f,
                "<p class=\"note\">The trace does not add up everywhere: %" PRId64
                " frees of unknown addresses, %" PRId64 " double frees, %" PRId64
                " allocations at live addresses, %" PRId64 " events lost by the recorder.</p>\n",
                w->unknown_free, w->double_free, w->alloc_of_live, w->lost_events);
    struct gt_report_trace t = {"", a, NULL, NULL, false};
    struct gt_report_scope all = {0, false, 0};
    struct gt_report_pick pick;
    if (a->ndevices == 0 || !gt_report_recommend(&t, 1, &all, &pick))
        pick.config[0] = '\0';
    for (size_t d = 0; d < a->ndevices && rc == 0; d++)
        rc = ranking_device(f, a, d, uncapped, pick.config);
    recommendations(f, a);
    fputs("</section>\n", f);
    return rc;
}

/* ---- plots ------------------------------------------------------------- */

static void section_plots(FILE *f, const struct gt_html_result *res, const struct plot_files *files)
{
    static const char *const names[] = GT_PLOT_NAMES;
    static const char *const captions[] = {
        /* parenthesised: clang takes an unbracketed concatenation in an array
         * for a missing comma (-Wstring-concatenation) */
        ("Peak reserved and fragmentation for each max_split_size_mb, with and without "
         "expandable segments"),
        "Allocated and reserved memory over time",
        "Request sizes (the 1 MiB line divides the small and large pools)",
        "The segment map at the reserved peak of the default config",
        "The smallest card on which each config runs without an out-of-memory error"};

    fputs("<section id=\"plots\">\n<h2>Plots</h2>\n", f);
    if (res->plots_missing) {
        fputs("<p class=\"note\">No plots in this report: ", f);
        esc(f, res->plots_error);
        fputs(". Install gnuplot and run <code>gpu-trace report</code> again to get them.</p>\n",
              f);
        fputs("</section>\n", f);
        return;
    }
    for (size_t i = 0; i < GT_PLOT_COUNT; i++) {
        char prefix[64];

        snprintf(prefix, sizeof prefix, "gt-%s-", names[i]);
        fprintf(f, "<figure id=\"plot-%s\">\n<figcaption>%s</figcaption>\n", names[i], captions[i]);
        /* A refused SVG writes nothing, so the page stays whole. */
        if (gt_html_svg_inline(f, files->svg[i], files->len[i], prefix) != 0)
            fputs("<p class=\"note\">This plot was left out: its SVG holds something other than "
                  "a drawing.</p>",
                  f);
        fputs("\n</figure>\n", f);
    }
    fputs("</section>\n", f);
}

/* ---- OOM findings ---------------------------------------------------------- */

static void oom_frames(FILE *f, const struct gt_oom_alloc *al)
{
    for (size_t k = 0; k < al->nframes; k++) {
        const struct gt_oom_frame *fr = &al->frames[k];
        if (k > 0)
            fputs("<br>", f);
        esc(f, fr->file != NULL ? fr->file : "?");
        fprintf(f, ":%" PRId64 " ", fr->line);
        esc(f, fr->function != NULL ? fr->function : "?");
    }
}

/* The live allocations by call stack (peak.h), when the trace has stacks. */
static void oom_stacks(FILE *f, const struct gt_oom *o)
{
    bool any = false;

    for (size_t i = 0; i < o->nstacks; i++)
        any |= o->stacks[i].origin == GT_PEAK_STACK;
    if (!any)
        return;
    fprintf(f,
            "<p>The same allocations by call stack, the largest %zu of %zu groups:</p>\n"
            "<table class=\"oom-top\">\n<tr><th>count</th><th>blocks</th><th>asked</th>"
            "<th>allocated at</th></tr>\n",
            o->nstacks, o->nstacks_total);
    for (size_t i = 0; i < o->nstacks; i++) {
        const struct gt_peak_group *g = &o->stacks[i];
        fprintf(f, "<tr><td class=\"num\">%zu</td>", g->count);
        bytes_cell(f, g->blocks);
        bytes_cell(f, g->requested);
        fputs("<td>", f);
        if (g->origin == GT_PEAK_START)
            fputs("(live before the trace began)", f);
        else if (g->nframes == 0)
            fputs("(no call stack recorded)", f);
        for (size_t k = 0; k < g->nframes; k++) {
            char line[32];
            if (k > 0)
                fputs(" &lt; ", f);
            esc(f, g->frames[k].file);
            snprintf(line, sizeof line, ":%lld ", (long long)g->frames[k].line);
            esc(f, line);
            esc(f, g->frames[k].function);
        }
        fputs("</td></tr>\n", f);
    }
    fputs("</table>\n", f);
}

static void oom_one(FILE *f, const struct gt_oom *o)
{
    char b[32];

    fprintf(f,
            "<h3>event %" PRId64 ", device %" PRId32 ": %s%s</h3>\n<p>%s: "
            "<strong>%s</strong>. ",
            o->event, o->device, o->recorded ? "recorded" : "predicted",
            o->after_first ? " (after an earlier OOM)" : "", "verdict",
            gt_oom_verdict_name(o->verdict));
    if (o->verdict == GT_OOM_FRAGMENTATION)
        fputs("Live memory plus the request fit in the card, but no free block or growth could "
              "serve it: the memory exists in pieces too small.",
              f);
    else if (o->verdict == GT_OOM_GENUINE)
        fprintf(f,
                "Live memory plus the request exceed the card: the peak must shrink by %s "
                "(%.1f%%) to fit.",
                gt_units_format_bytes(o->shrink_needed, b, sizeof b), 100.0 * o->shrink_fraction);
    fputs("</p>\n<table class=\"oom-numbers\">\n", f);
    static const char *const keys[] = {"requested",
                                       "tried to allocate",
                                       "capacity",
                                       "allocated",
                                       "reserved",
                                       "reserved but unallocated",
                                       "largest free cached block",
                                       "live memory + request"};
    const uint64_t vals[] = {
        o->requested, o->tried_to_allocate,    o->capacity,           o->allocated,
        o->reserved,  o->reserved_unallocated, o->largest_free_block, o->need};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        fprintf(f, "<tr><th>%s</th>", keys[i]);
        if (i == 2 && vals[i] == 0)
            fputs("<td class=\"num\">unlimited</td></tr>\n", f);
        else {
            bytes_cell(f, vals[i]);
            fputs("</tr>\n", f);
        }
    }
    fputs("</table>\n", f);
    if (o->ntop > 0) {
        fprintf(f,
                "<p>The largest of the %zu live allocations:</p>\n<table class=\"oom-top\">\n"
                "<tr><th>size</th><th>block</th><th>age (events)</th><th>age (s)</th>"
                "<th>stream</th><th>allocated at</th></tr>\n",
                o->live_count);
        for (size_t i = 0; i < o->ntop; i++) {
            const struct gt_oom_alloc *al = &o->top[i];
            fputs("<tr>", f);
            bytes_cell(f, al->size);
            bytes_cell(f, al->block);
            fprintf(f,
                    "<td class=\"num\">%" PRId64 "</td><td class=\"num\">%.3f</td>"
                    "<td class=\"num\">0x%" PRIx64 "</td><td>",
                    al->age_events, (double)al->age_ns / 1e9, al->stream);
            if (al->nframes > 0)
                oom_frames(f, al);
            else
                fprintf(f, "event %" PRId64 " (no frames recorded)", al->event);
            fputs("</td></tr>\n", f);
        }
        fputs("</table>\n", f);
    }
    oom_stacks(f, o);
}

static void section_oom(FILE *f, const struct gt_oom_report *r, const char *oom_error)
{
    char b[32], c[32];

    fputs("<section id=\"oom\">\n<h2>Out-of-memory findings</h2>\n", f);
    if (r == NULL) {
        fputs("<p class=\"note\">The OOM analysis could not run: ", f);
        esc(f, oom_error);
        fputs(".</p>\n</section>\n", f);
        return;
    }
    fputs("<p>Config <code>", f);
    esc(f, r->config);
    fprintf(f, "</code>%s", r->config_recorded ? " (recorded)" : "");
    for (size_t i = 0; i < r->ndevices; i++)
        fprintf(f, "%s device %" PRId32 " on %s", i == 0 ? "," : ";", r->devices[i].device,
                r->devices[i].capacity > 0
                    ? gt_units_format_bytes(r->devices[i].capacity, b, sizeof b)
                    : "unlimited memory");
    fputs(".</p>\n", f);
    if (r->recorded_ooms > 0)
        fprintf(f,
                "<p>The recording itself ran out of memory %" PRId64
                " %s; this config serves %" PRId64 " of them.</p>\n",
                r->recorded_ooms, r->recorded_ooms == 1 ? "time" : "times", r->recorded_served);
    if (r->ooms_total == 0) {
        fputs("<p class=\"ok\">no OOM: every request is served.</p>\n</section>\n", f);
        return;
    }
    fprintf(f, "<p class=\"bad\">%" PRId64 " OOM%s.", r->ooms_total, r->ooms_total == 1 ? "" : "s");
    if ((int64_t)r->nooms < r->ooms_total)
        fprintf(f, " The first %zu are described; the rest are counted.", r->nooms);
    fputs("</p>\n", f);
    for (size_t i = 0; i < r->nooms; i++)
        oom_one(f, &r->ooms[i]);
    size_t avoiding = 0;
    for (size_t i = 0; i < r->navoid; i++)
        avoiding += r->avoid[i].num_ooms == 0;
    fputs("<h3>Configs that avoid it</h3>\n", f);
    if (avoiding == 0)
        fputs("<p>None of the default sweep avoids it.</p>\n", f);
    if (r->navoid > 0) {
        fputs("<table class=\"oom-avoid\">\n<tr><th>device</th><th>config</th>"
              "<th>peak reserved</th><th>margin</th><th>OOMs</th><th>first OOM</th></tr>\n",
              f);
        for (size_t i = 0; i < r->navoid; i++) {
            const struct gt_oom_avoid *av = &r->avoid[i];
            fprintf(f, "<tr%s><td class=\"num\">%" PRId32 "</td><td><code>",
                    av->num_ooms == 0 ? " class=\"best\"" : " class=\"oom\"", av->device);
            esc(f, av->config);
            fprintf(f, "</code></td><td class=\"num\">%s</td><td class=\"num\">%s</td>",
                    gt_units_format_bytes(av->peak_reserved, b, sizeof b),
                    av->num_ooms == 0 ? gt_units_format_bytes(av->margin, c, sizeof c) : "-");
            fprintf(f, "<td class=\"num\">%" PRId64 "</td>", av->num_ooms);
            if (av->first_oom_event >= 0)
                fprintf(f, "<td class=\"num\">%" PRId64 "</td></tr>\n", av->first_oom_event);
            else
                fputs("<td class=\"num\">-</td></tr>\n", f);
        }
        fputs("</table>\n", f);
    }
    fputs("</section>\n", f);
}

/* ---- the export line -------------------------------------------------------- */

static void section_export(FILE *f, const struct gt_analysis *a)
{
    fputs("<section id=\"export\">\n<h2>Use it</h2>\n"
          "<p>PYTORCH_CUDA_ALLOC_CONF is read once per process: one setting for all of its "
          "devices.</p>\n",
          f);
    recommendations(f, a);
    fputs("</section>\n", f);
}

/* ---- putting it together ---------------------------------------------------- */

struct report_parts {
    struct gt_scenario *scn;
    struct gt_stats *stats;
    struct gt_analysis *analysis, *uncapped;
    /* The OOM analysis between the replay it watched and the sweep that
     * finishes it (its configs that avoid the OOMs); NULL when it could
     * not start (oom_error says why). */
    struct gt_oom_pass *oom_pass;
    int oom_rc; /* its replay's result */
    struct gt_oom_report *oom;
    char oom_error[256];
    struct plot_files plots;
};

static void parts_release(struct report_parts *p)
{
    gt_scenario_free(p->scn);
    gt_stats_free(p->stats);
    gt_analysis_free(p->analysis);
    gt_analysis_free(p->uncapped);
    gt_oom_pass_free(p->oom_pass);
    gt_oom_report_free(p->oom);
    plot_files_release(&p->plots);
}

/* The recorded config replayed once for the summary, the OOM findings and
 * the plots' views of it (the timeline's series of that config and, when it
 * is the default's, the segment map): they watch the same
 * gt_inspect_run_shared (issue 13: compute once, pass down). Only when the
 * OOM analysis replays other settings (a recorded backend:cudaMallocAsync,
 * which stats replaces by the defaults) does it get a replay of its own. A
 * failing OOM analysis leaves a note in its section, and failing plots
 * theirs: the rest of the report still answers the question. plots may be
 * NULL; *plot_rc gets the result of the replay its observer watched. */
static int replay_recorded(const char *trace, const struct gt_scenario *scn,
                           struct gt_plot_pass *plots, struct report_parts *p, int *plot_rc,
                           char *errbuf, size_t errlen)
{
    struct gt_inspect_options stats_obs, oom_obs, plot_obs;
    const struct gt_inspect_options *obs[3] = {&stats_obs, NULL, NULL};
    const struct gt_conf *oom_conf = NULL;
    struct gt_stats_pass *sp;
    struct gt_conf conf;
    size_t n = 1, oom_at = 0, plot_at = 0;
    int rc, rcs[3] = {0, 0, 0};

    *plot_rc = 0;
    rc = gt_stats_begin(trace, scn, &sp, &conf, &stats_obs, errbuf, errlen);
    if (rc != 0)
        return rc;
    p->oom_rc = gt_oom_begin(trace, scn, NULL, &p->oom_pass, &oom_conf, &oom_obs, p->oom_error,
                             sizeof p->oom_error);
    bool oom_shared = p->oom_pass != NULL && gt_conf_same_settings(&conf, oom_conf);
    if (oom_shared) {
        oom_at = n;
        obs[n++] = &oom_obs;
    }
    if (plots != NULL && gt_plot_observer(plots, &conf, &plot_obs)) {
        plot_at = n;
        obs[n++] = &plot_obs;
    }
    rc = gt_inspect_run_shared(trace, &conf, scn, obs, rcs, n, errbuf, errlen);
    if (oom_at != 0)
        p->oom_rc = rc != 0 ? rc : rcs[oom_at];
    if (plot_at != 0)
        *plot_rc = rc != 0 ? rc : rcs[plot_at];
    rc = rc != 0 ? rc : rcs[0];
    if (rc == 0 && p->oom_pass != NULL && !oom_shared)
        p->oom_rc = gt_inspect_run(trace, oom_conf, &oom_obs, p->oom_error, sizeof p->oom_error);
    return gt_stats_end(sp, rc, &p->stats, errbuf, errlen);
}

/* The OOM findings, finished with the sweep's configs. */
static void finish_oom(const char *trace, struct report_parts *p)
{
    struct gt_oom_pass *op = p->oom_pass;

    p->oom_pass = NULL;
    if (op == NULL || gt_oom_end(op, p->oom_rc, trace, p->analysis, &p->oom, p->oom_error,
                                 sizeof p->oom_error) != 0) {
        p->oom = NULL;
        if (p->oom_error[0] == '\0')
            snprintf(p->oom_error, sizeof p->oom_error, "unknown error");
    }
}

/* The sweep comes first: the plots take their configs and device from it
 * before the replay of the recorded config, which they watch. */
static int gather(const char *trace, const struct gt_html_options *opts, struct report_parts *p,
                  struct gt_html_result *res, char *errbuf, size_t errlen)
{
    struct gt_conf confs[SWEEP_CAP];
    struct gt_replay_options ro = {0};
    struct progress_stage stage = {opts, 0, PROGRESS_REPLAY};
    struct plots_job pj = {.pass = NULL};
    size_t n = gt_replay_default_sweep(confs, SWEEP_CAP);
    int rc, plot_rc = 0;

    const struct gt_scenario *scn = opts->scenario;
    rc = scn != NULL ? 0 : gt_scenario_build(trace, opts->device_memory, &p->scn, errbuf, errlen);
    if (scn == NULL)
        scn = p->scn;
    ro.scenario = scn;
    ro.threads = opts->threads;
    ro.add_recorded_conf = 1;
    ro.progress = replay_progress;
    ro.progress_ctx = &stage;
    if (rc == 0)
        rc = gt_replay_trace(trace, confs, n, &ro, &p->analysis, errbuf, errlen);
    /* One uncapped replay of the sweep serves the ranking (how far the peak
     * must shrink, when no config fits) and the fit plot (the bounds of its
     * search), which would otherwise each replay it. */
    if (rc == 0)
        rc = gt_replay_uncapped(trace, p->analysis, &ro, &p->uncapped, errbuf, errlen);
    if (rc != 0)
        return rc;
    progress_at(opts, PROGRESS_REPLAY);
    plots_begin(trace, opts, scn, p->analysis, p->uncapped, res, &pj);
    rc = replay_recorded(trace, scn, pj.pass, p, &plot_rc, errbuf, errlen);
    if (rc != 0) {
        plots_end(&pj, rc, res, &p->plots);
        return rc;
    }
    snprintf(res->config_error, sizeof res->config_error, "%s", p->stats->config_error);
    progress_at(opts, PROGRESS_STATS);
    plots_end(&pj, plot_rc, res, &p->plots);
    progress_at(opts, PROGRESS_PLOTS);
    finish_oom(trace, p);
    progress_at(opts, PROGRESS_TOTAL);
    return 0;
}

static int write_page(FILE *f, const char *trace, const struct report_parts *p,
                      const struct gt_html_result *res)
{
    int rc;

    page_head(f, trace);
    section_summary(f, p->stats);
    /* the ranking speaks of the uncapped replay only where `analyze` does */
    rc =
        section_ranking(f, p->analysis, gt_replay_needs_uncapped(p->analysis) ? p->uncapped : NULL);
    if (rc != 0)
        return rc;
    section_plots(f, res, &p->plots);
    section_oom(f, p->oom, p->oom_error);
    section_export(f, p->analysis);
    fputs("<footer>Written by gpu-trace " GT_VERSION
          ", which replays a trace&#39;s allocation requests against a simulation of "
          "PyTorch&#39;s CUDA caching allocator. This page is one self-contained file.</footer>\n"
          "</body>\n</html>\n",
          f);
    return ferror(f) ? GT_EIO : 0;
}

struct page_job {
    const char *trace;
    const struct report_parts *parts;
    const struct gt_html_result *res;
};

static int write_job(FILE *f, void *ctx)
{
    const struct page_job *j = ctx;
    return write_page(f, j->trace, j->parts, j->res);
}

int gt_html_report_write(const char *trace_path, const char *out_path,
                         const struct gt_html_options *opts, struct gt_html_result *res,
                         char *errbuf, size_t errlen)
{
    static const struct gt_html_options defaults;
    struct gt_html_result local;
    struct report_parts parts;
    char dummy[1];
    int rc;

    if (errbuf == NULL || errlen == 0) {
        errbuf = dummy;
        errlen = sizeof dummy;
    }
    errbuf[0] = '\0';
    if (res == NULL)
        res = &local;
    memset(res, 0, sizeof *res);
    memset(&parts, 0, sizeof parts);
    if (opts == NULL)
        opts = &defaults;
    rc = gather(trace_path, opts, &parts, res, errbuf, errlen);
    if (rc == 0) {
        struct page_job job = {trace_path, &parts, res};
        /* a report is for sharing: 0644, not mkstemp's 0600 */
        rc = gt_files_write_atomically(out_path, &trace_path, 1, 0644, write_job, &job, errbuf,
                                       errlen);
    }
    parts_release(&parts);
    return rc;
}
