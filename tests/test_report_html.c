/* Tests of html.h: the one-file report of the README's H100 trace and of
 * small traces with hostile text, and the SVG inliner on hand-written
 * SVG. */
#include <check.h>
#include <dirent.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gputrace/err.h"
#include "gputrace/html.h"
#include "gputrace/trace.h"
#include "gputrace/import.h"
#include "gputrace/inspect.h"
#include "gputrace/oom.h"
#include "gputrace/replay.h"
#include "gputrace/stats.h"

#include "plot_configs.h"

#include "gputrace/banned.h"

#define EXAMPLE GT_TEST_DATA "/../../examples/h100-train-loop.db"
#define GIB ((uint64_t)1 << 30)

/* A private folder, also used as TMPDIR so that the report's own temporary
 * plot folder can be seen to go away. */
struct work {
    char dir[64];
    char out[128];
    char *html;
    size_t len;
};

static void work_init(struct work *w)
{
    memset(w, 0, sizeof *w);
    snprintf(w->dir, sizeof w->dir, "/tmp/gt-html-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(w->dir));
    snprintf(w->out, sizeof w->out, "%s/report.html", w->dir);
    ck_assert_int_eq(setenv("TMPDIR", w->dir, 1), 0);
}

static size_t dir_entries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t n = 0;

    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

static void read_all(struct work *w)
{
    FILE *f = fopen(w->out, "rb");
    long n;

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    ck_assert_int_gt(n, 0);
    rewind(f);
    free(w->html);
    w->html = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(w->html);
    ck_assert_uint_eq(fread(w->html, 1, (size_t)n, f), (size_t)n);
    w->html[n] = '\0';
    w->len = (size_t)n;
    fclose(f);
}

static void work_release(struct work *w)
{
    DIR *d = opendir(w->dir);
    struct dirent *e;
    char path[512];

    while (d != NULL && (e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", w->dir, e->d_name);
        unlink(path);
    }
    if (d != NULL)
        closedir(d);
    rmdir(w->dir);
    free(w->html);
    unsetenv("TMPDIR");
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;

    for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* The text between the first `from` and the next `to` (a view, not a copy:
 * the caller restores the byte it cut). */
static char *between(char *text, const char *from, const char *to, char *saved)
{
    char *a = strstr(text, from), *b;

    ck_assert_ptr_nonnull(a);
    b = strstr(a, to);
    ck_assert_ptr_nonnull(b);
    *saved = *b;
    *b = '\0';
    return a;
}

static void report(struct work *w, const char *trace, const struct gt_html_options *opts,
                   struct gt_html_result *res)
{
    char err[512] = "";

    ck_assert_msg(gt_html_report_write(trace, w->out, opts, res, err, sizeof err) == 0, "%s", err);
    read_all(w);
}

START_TEST(the_report_of_the_h100_example_is_one_self_contained_file)
{
    struct gt_html_options opts = {0};
    struct gt_html_result res;
    struct work w;
    struct stat st;

    work_init(&w);
    opts.device_memory = 2362232013; /* 2.2 GiB, the README's question */
    report(&w, EXAMPLE, &opts, &res);
    /* Only the report is left: no temporary file, no plot folder. */
    ck_assert_uint_eq(dir_entries(w.dir), 1);
    ck_assert_int_eq(stat(w.out, &st), 0);
    ck_assert_int_eq(st.st_mode & 0777, 0644);
    ck_assert_ptr_null(strstr(w.html, "http://"));
    ck_assert_ptr_null(strstr(w.html, "https://"));
    ck_assert_ptr_null(strstr(w.html, "src="));
    ck_assert_ptr_null(strstr(w.html, "<script"));
    ck_assert_ptr_null(strstr(w.html, "<link"));
    ck_assert_ptr_null(strstr(w.html, "@import"));
    ck_assert_ptr_null(strstr(w.html, "<?xml"));
    ck_assert_uint_eq(count(w.html, "<html"), 1);
    ck_assert_uint_eq(count(w.html, "</html>"), 1);
    ck_assert_uint_eq(count(w.html, "<!DOCTYPE"), 1);
    ck_assert_ptr_nonnull(strstr(w.html, "<style>"));
    if (res.plots_missing) {
        fprintf(stderr, "test_report_html: no plots (%s); SVG checks skipped\n", res.plots_error);
    } else {
        ck_assert_uint_eq(count(w.html, "<svg"), 5);
        ck_assert_uint_eq(count(w.html, "</svg>"), 5);
        ck_assert_ptr_null(strstr(w.html, "xmlns"));
        /* gnuplot names its canvas the same in every plot: prefixed, the
         * four stay distinct. */
        ck_assert_uint_eq(count(w.html, "id=\"gnuplot_canvas\""), 0);
        ck_assert_uint_eq(count(w.html, "id=\"gt-timeline-gnuplot_canvas\""), 1);
    }
    ck_assert_ptr_nonnull(strstr(w.html, "NVIDIA H100 80GB HBM3"));
    ck_assert_ptr_nonnull(strstr(w.html, "<h2>Out-of-memory findings</h2>"));
    work_release(&w);
}
END_TEST

START_TEST(the_ranked_table_has_a_row_per_config_and_the_export_lines)
{
    struct gt_html_options opts = {0};
    struct gt_conf confs[64];
    size_t n = gt_replay_default_sweep(confs, 64);
    struct work w;
    char saved, *table;

    work_init(&w);
    opts.device_memory = 2362232013;
    report(&w, EXAMPLE, &opts, NULL);
    table = between(w.html, "<table class=\"ranking\">", "</table>", &saved);
    ck_assert_uint_eq(count(table, "<tr"), n + 1); /* the header, then one per config */
    ck_assert_ptr_nonnull(strstr(table, "<tr><td class=\"num\">1</td><td><code>nocache</code>"));
    ck_assert_ptr_nonnull(strstr(
        table, "<tr class=\"best\"><td class=\"num\">2</td><td><code>expandable_segments:True"
               "</code></td>"));
    ck_assert_ptr_nonnull(strstr(table, "<code>default</code> (recorded)"));
    table[strlen(table)] = saved;
    ck_assert_ptr_nonnull(strstr(w.html, "recommended: <code>expandable_segments:True</code> "
                                         "(peak reserved 2.15 GiB, -2.0% peak reserved vs "
                                         "default)"));
    ck_assert_ptr_nonnull(
        strstr(w.html, "bash:        export PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True\n"
                       "PowerShell:  $env:PYTORCH_CUDA_ALLOC_CONF=&quot;expandable_segments:True"
                       "&quot;"));
    ck_assert_ptr_nonnull(strstr(w.html, "<section id=\"export\">"));
    /* the example's largest request is below 256 MiB (replay.h: same_run_as) */
    ck_assert_ptr_nonnull(
        strstr(w.html, "<p class=\"note\"><code>max_split_size_mb:256</code> and "
                       "<code>max_split_size_mb:512</code> ran exactly as <code>default</code>: no "
                       "request reached their max_split_size.</p>"));
    work_release(&w);
}
END_TEST

/* A CSV trace whose device name, recorded config and file name carry
 * markup: the page shows them as text. */
START_TEST(text_from_the_trace_is_escaped)
{
    static const char name[] = "<script>alert('x')</script> & \"q\"\001";
    struct gt_import_options io = {"max_split_size_mb:1'<b>", name, GIB};
    struct gt_html_result res;
    struct work w;
    char csv[128], db[128], err[256] = "";
    FILE *f;

    work_init(&w);
    snprintf(csv, sizeof csv, "%s/t.csv", w.dir);
    snprintf(db, sizeof db, "%s/<i>t.db", w.dir);
    f = fopen(csv, "w");
    ck_assert_ptr_nonnull(f);
    fputs("ts_ns,action,addr,size,stream,device\n"
          "0,alloc,0x1000,3145728,0,0\n"
          "10,free,0x1000,,0,0\n",
          f);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_msg(gt_import_csv_with(csv, db, &io, NULL, err, sizeof err) == 0, "%s", err);
    report(&w, db, NULL, &res);
    ck_assert_ptr_null(strstr(w.html, "<script"));
    ck_assert_ptr_null(strstr(w.html, "<i>"));
    ck_assert_ptr_null(strstr(w.html, "<b>"));
    ck_assert_ptr_null(strchr(w.html, '\001'));
    ck_assert_ptr_nonnull(
        strstr(w.html, "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;?"));
    ck_assert_ptr_nonnull(strstr(w.html, "&lt;i&gt;t.db"));
    /* The recorded config does not parse: said, escaped, and replayed as
     * the defaults. */
    ck_assert_ptr_nonnull(strstr(res.config_error, "max_split_size_mb:1'<b>"));
    ck_assert_ptr_nonnull(strstr(w.html, "max_split_size_mb:1&#39;&lt;b&gt;"));
    work_release(&w);
}
END_TEST

/* An OOM whose live allocation has a stack: the OOM section lists the
 * allocations by call stack too, the program's own frame first. */
/* A 150 MiB card on which 100 MiB made at a Python frame stays live and a
 * request of 60 MiB fails, in the recording and in the replay. */
static void write_oom_trace(const char *db)
{
    const struct gt_frame stack[] = {
        {"??", "torch::unwind::unwind()", 0},
        {"/venv/lib/python3.12/site-packages/torch/nn/functional.py", "linear", 2000},
        {"/home/me/<train>.py", "forward", 42},
    };
    struct gt_event a = {
        .kind = GT_EV_ALLOC, .addr = 0x1000, .size = 100 << 20, .requested = 100 << 20};
    struct gt_event b = {.kind = GT_EV_OOM, .size = 60 << 20, .requested = 60 << 20};
    struct gt_trace_writer *tw;
    char err[256] = "";

    ck_assert_msg(gt_trace_create(db, &tw, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(gt_trace_add_device(tw, 0, "card", 150 << 20), 0);
    ck_assert_int_eq(gt_trace_append(tw, &a), 0);
    ck_assert_int_eq(gt_trace_set_stack(tw, gt_trace_last_seq(tw), stack, 3), 0);
    ck_assert_int_eq(gt_trace_append(tw, &b), 0);
    ck_assert_int_eq(gt_trace_writer_close(tw), 0);
}

START_TEST(an_oom_lists_its_live_allocations_by_call_stack)
{
    struct gt_html_options o = {.gnuplot = "/nonexistent/gnuplot"};
    struct gt_html_result res;
    struct work w;
    char db[128];

    work_init(&w);
    snprintf(db, sizeof db, "%s/oom.db", w.dir);
    write_oom_trace(db);
    report(&w, db, &o, &res);
    ck_assert_ptr_nonnull(strstr(w.html, "The same allocations by call stack, the largest 1 of 1"));
    ck_assert_ptr_nonnull(strstr(w.html, "/home/me/&lt;train&gt;.py:42 forward &lt; "
                                         "/venv/lib/python3.12/site-packages/torch/nn/"
                                         "functional.py:2000 linear"));
    work_release(&w);
}
END_TEST

/* Compute once, pass down (issue 13): the summary and the OOM findings
 * watch one replay of the recorded config. Without gnuplot the plots
 * replay nothing one config at a time, and the sweep is gt_replay_trace's,
 * so the report's one gt_inspect_run is that replay; `stats` and `oom`
 * alone make one each, with the same code. */
START_TEST(the_report_replays_the_recorded_config_once_for_stats_and_oom)
{
    struct gt_html_options o = {.gnuplot = "/nonexistent/gnuplot"};
    struct gt_html_result res;
    struct gt_stats *s = NULL;
    struct gt_oom_report *r = NULL;
    struct work w;
    char db[128], err[256] = "";
    long before;

    work_init(&w);
    snprintf(db, sizeof db, "%s/oom.db", w.dir);
    write_oom_trace(db);
    before = gt_inspect_runs();
    report(&w, db, &o, &res);
    ck_assert(res.plots_missing);
    /* both watched it: the summary's peak and the OOM described */
    ck_assert_ptr_nonnull(strstr(w.html, "1 OOM."));
    ck_assert_ptr_nonnull(strstr(w.html, "The same allocations by call stack"));
    ck_assert_int_eq(gt_inspect_runs() - before, 1);

    before = gt_inspect_runs();
    ck_assert_msg(gt_stats_compute(db, NULL, &s, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(gt_inspect_runs() - before, 1);
    ck_assert_uint_eq(s->devices[0].peak_allocated, 100 << 20);
    before = gt_inspect_runs();
    ck_assert_msg(gt_oom_analyze(db, NULL, NULL, NULL, &r, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(gt_inspect_runs() - before, 1);
    ck_assert_int_eq(r->ooms_total, 1);
    gt_stats_free(s);
    gt_oom_report_free(r);
    work_release(&w);
}
END_TEST

/* Compute once, pass down (issue 13), with the plots drawn: the recorded
 * config is replayed once outside the sweep, for stats, oom and the plots'
 * timeline together, and the default and best configs once each at most,
 * so the report's gt_inspect_runs are its distinct configs. */
START_TEST(the_report_replays_each_config_once_with_the_plots_watching)
{
    static const char *const traces[] = {EXAMPLE,
                                         GT_TEST_DATA "/../../examples/h100-recorded-requests.db"};

    for (size_t i = 0; i < sizeof traces / sizeof traces[0]; i++) {
        struct gt_html_options o = {0};
        struct gt_html_result res;
        struct work w;
        long want = distinct_plotted_configs(traces[i], NULL), before;

        work_init(&w);
        before = gt_inspect_runs();
        report(&w, traces[i], &o, &res);
        ck_assert_msg(!res.plots_missing, "%s", res.plots_error);
        ck_assert_uint_eq(count(w.html, "<svg"), 5);
        ck_assert_int_eq(gt_inspect_runs() - before, want);
        work_release(&w);
    }
}
END_TEST

START_TEST(without_gnuplot_the_report_comes_with_a_note_in_place_of_the_plots)
{
    struct gt_html_options opts = {0};
    struct gt_html_result res;
    struct work w;

    work_init(&w);
    opts.gnuplot = "/nonexistent/gnuplot";
    report(&w, EXAMPLE, &opts, &res);
    ck_assert(res.plots_missing);
    ck_assert_ptr_nonnull(strstr(res.plots_error, "gnuplot"));
    ck_assert_uint_eq(count(w.html, "<svg"), 0);
    ck_assert_ptr_nonnull(strstr(w.html, "No plots in this report: gnuplot not found"));
    ck_assert_ptr_nonnull(strstr(w.html, "<table class=\"ranking\">"));
    ck_assert_uint_eq(dir_entries(w.dir), 1);
    work_release(&w);
}
END_TEST

START_TEST(a_failed_report_leaves_the_earlier_one_in_place)
{
    struct work w;
    char err[512] = "", bad[160];
    FILE *f;

    work_init(&w);
    f = fopen(w.out, "w");
    ck_assert_ptr_nonnull(f);
    fputs("earlier", f);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(
        gt_html_report_write("/nonexistent/run.db", w.out, NULL, NULL, err, sizeof err), GT_ENOENT);
    read_all(&w);
    ck_assert_str_eq(w.html, "earlier");
    snprintf(bad, sizeof bad, "%s/no/such/folder/report.html", w.dir);
    ck_assert_int_eq(gt_html_report_write(EXAMPLE, bad, NULL, NULL, err, sizeof err), GT_EIO);
    ck_assert_ptr_nonnull(strstr(err, "cannot write"));
    ck_assert_ptr_nonnull(strstr(err, "report.html"));
    ck_assert_uint_eq(dir_entries(w.dir), 1);
    /* and a good one replaces it whole */
    report(&w, EXAMPLE, NULL, NULL);
    ck_assert_int_eq(strncmp(w.html, "<!DOCTYPE html>", 15), 0);
    work_release(&w);
}
END_TEST

static char *inline_svg(const char *svg, int *rc)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    ck_assert_ptr_nonnull(f);
    *rc = gt_html_svg_inline(f, svg, strlen(svg), "p1-");
    ck_assert_int_eq(fclose(f), 0);
    return buf;
}

START_TEST(the_svg_inliner_drops_the_prolog_and_namespaces_and_prefixes_ids)
{
    static const char svg[] =
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
        "<!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" "
        "\"http://www.w3.org/Graphics/SVG/1.1/DTD/svg11.dtd\">\n"
        "<svg width=\"600\" xmlns=\"http://www.w3.org/2000/svg\"\n"
        " xmlns:xlink=\"http://www.w3.org/1999/xlink\">\n"
        "<defs><path id='gpPt1' d='M0,0'/><pattern id=\"gpPat1\"/></defs>\n"
        "<use xlink:href='#gpPt1' fill=\"#ff0000\"/><rect fill=\"url(#gpPat1)\" "
        "stroke='#gpPt2'/><g id=\"valid\"></g>\n"
        "</svg>\n<!-- trailing -->\n";
    int rc;
    char *out = inline_svg(svg, &rc);

    ck_assert_int_eq(rc, 0);
    ck_assert_int_eq(strncmp(out, "<svg width=\"600\"", 16), 0);
    ck_assert_ptr_null(strstr(out, "http"));
    ck_assert_ptr_null(strstr(out, "xmlns"));
    ck_assert_ptr_null(strstr(out, "trailing"));
    ck_assert_ptr_nonnull(strstr(out, "<path id='p1-gpPt1' d='M0,0'/>"));
    ck_assert_ptr_nonnull(strstr(out, "<pattern id=\"p1-gpPat1\"/>"));
    ck_assert_ptr_nonnull(strstr(out, "<use xlink:href='#p1-gpPt1' fill=\"#ff0000\"/>"));
    ck_assert_ptr_nonnull(strstr(out, "fill=\"url(#p1-gpPat1)\""));
    ck_assert_ptr_nonnull(strstr(out, "stroke='#gpPt2'")); /* no such id: left alone */
    ck_assert_ptr_nonnull(strstr(out, "<g id=\"p1-valid\">"));
    ck_assert_int_eq(strcmp(out + strlen(out) - 6, "</svg>"), 0);
    free(out);
}
END_TEST

START_TEST(the_svg_inliner_refuses_active_content_and_outside_references)
{
    static const char *const bad[] = {
        "<svg><script>alert(1)</script></svg>",
        "<svg><SCRIPT>alert(1)</SCRIPT></svg>",
        "<svg onload=\"alert(1)\"></svg>",
        "<svg><rect onclick='x()'/></svg>",
        "<svg><foreignObject><div/></foreignObject></svg>",
        "<svg><image xlink:href=\"http://example.com/a.png\"/></svg>",
        "<svg><image href=\"a.png\"/></svg>",
        "<svg><rect fill=\"url(other.svg#p)\"/></svg>",
        "<svg><a href=\"javascript:alert(1)\">x</a></svg>",
        "<svg><image src=\"a.png\"/></svg>",
        "<html>not an svg</html>",
        "<svg unclosed",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int rc;
        char *out = inline_svg(bad[i], &rc);
        ck_assert_msg(rc == GT_EINVAL, "accepted: %s", bad[i]);
        ck_assert_msg(out[0] == '\0', "wrote something for: %s", bad[i]);
        free(out);
    }
    /* an inline raster image is a drawing, not a reference */
    int rc;
    char *out = inline_svg("<svg><image xlink:href='data:image/png;base64,AAAA'/></svg>", &rc);
    ck_assert_int_eq(rc, 0);
    free(out);
}
END_TEST

START_TEST(escape_covers_the_five_characters_and_control_characters)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    ck_assert_ptr_nonnull(f);
    gt_html_escape(f, "a&b<c>d\"e'f\tg\x7fh\xc3\xa9");
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_str_eq(buf, "a&amp;b&lt;c&gt;d&quot;e&#39;f?g?h\xc3\xa9");
    free(buf);
}
END_TEST

static Suite *html_suite(void)
{
    Suite *s = suite_create("report_html");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, the_report_of_the_h100_example_is_one_self_contained_file);
    tcase_add_test(tc, the_ranked_table_has_a_row_per_config_and_the_export_lines);
    tcase_add_test(tc, text_from_the_trace_is_escaped);
    tcase_add_test(tc, an_oom_lists_its_live_allocations_by_call_stack);
    tcase_add_test(tc, the_report_replays_the_recorded_config_once_for_stats_and_oom);
    tcase_add_test(tc, the_report_replays_each_config_once_with_the_plots_watching);
    tcase_add_test(tc, without_gnuplot_the_report_comes_with_a_note_in_place_of_the_plots);
    tcase_add_test(tc, a_failed_report_leaves_the_earlier_one_in_place);
    tcase_add_test(tc, the_svg_inliner_drops_the_prolog_and_namespaces_and_prefixes_ids);
    tcase_add_test(tc, the_svg_inliner_refuses_active_content_and_outside_references);
    tcase_add_test(tc, escape_covers_the_five_characters_and_control_characters);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(html_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
