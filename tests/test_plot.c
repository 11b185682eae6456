/* Tests of plot.h: gt_plot_all on the bundled H100 example and on small
 * CSV traces, with the real gnuplot (scripts/deps.sh installs gnuplot-nox).
 * The images are checked as files (PNG signature and IHDR size, SVG
 * document), not pixel by pixel: what they show is checked by eye when the
 * plots change (docs/img/). */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gputrace/err.h"
#include "gputrace/import.h"
#include "gputrace/inspect.h"
#include "gputrace/plot.h"
#include "gputrace/scenario.h"
#include "gputrace/trace.h"

#include "plot_configs.h"

#include "gputrace/banned.h"

#define EXAMPLE GT_TEST_DATA "/../../examples/h100-train-loop.db"
#define GIB ((uint64_t)1 << 30)
#define MIB ((uint64_t)1 << 20)

static const char *const names[GT_PLOT_COUNT] = GT_PLOT_NAMES;

/* ---- helpers --------------------------------------------------------------- */

static void make_tmp(char *buf, size_t len)
{
    snprintf(buf, len, "/tmp/test-plot-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(buf));
}

/* Removes a folder with its files and subfolders (no symlinks followed). */
static void remove_tree(const char *path)
{
    struct stat sb;
    DIR *d;
    struct dirent *e;

    if (lstat(path, &sb) != 0)
        return;
    if (!S_ISDIR(sb.st_mode)) {
        unlink(path);
        return;
    }
    d = opendir(path);
    if (d != NULL) {
        while ((e = readdir(d)) != NULL) {
            char child[4096];
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                continue;
            snprintf(child, sizeof child, "%s/%s", path, e->d_name);
            remove_tree(child);
        }
        closedir(d);
    }
    rmdir(path);
}

static size_t count_entries(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    size_t n = 0;

    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d)) != NULL)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

/* The whole file, NUL-terminated; *len without the NUL. */
static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long size;

    ck_assert_msg(f != NULL, "cannot open '%s': %s", path, strerror(errno));
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    size = ftell(f);
    ck_assert_int_ge(size, 0);
    rewind(f);
    buf = malloc((size_t)size + 1);
    ck_assert_ptr_nonnull(buf);
    ck_assert_uint_eq(fread(buf, 1, (size_t)size, f), (size_t)size);
    buf[size] = '\0';
    fclose(f);
    *len = (size_t)size;
    return buf;
}

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* A PNG: the 8-byte signature, then the IHDR chunk first, with the size
 * the driver asks for (1000 wide, a sane height). */
static void check_png(const char *path)
{
    static const unsigned char sig[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    size_t len;
    unsigned char *p = (unsigned char *)slurp(path, &len);

    ck_assert_msg(len > 1000, "'%s' has only %zu bytes", path, len);
    ck_assert_msg(memcmp(p, sig, sizeof sig) == 0, "'%s' has no PNG signature", path);
    ck_assert_msg(memcmp(p + 12, "IHDR", 4) == 0, "'%s' does not start with IHDR", path);
    ck_assert_uint_eq(be32(p + 16), 1000);
    ck_assert_uint_ge(be32(p + 20), 300);
    ck_assert_uint_le(be32(p + 20), 2000);
    free(p);
}

/* An SVG document: "<svg" in it and "</svg>" at its end. */
static void check_svg(const char *path)
{
    size_t len;
    char *p = slurp(path, &len);

    ck_assert_msg(len > 1000, "'%s' has only %zu bytes", path, len);
    ck_assert_msg(strstr(p, "<svg") != NULL, "'%s' has no <svg", path);
    while (len > 0 && (p[len - 1] == '\n' || p[len - 1] == '\r' || p[len - 1] == ' '))
        p[--len] = '\0';
    ck_assert_msg(len >= 6 && strcmp(p + len - 6, "</svg>") == 0, "'%s' does not end in </svg>",
                  path);
    free(p);
}

static void check_plots(const char *dir, enum gt_plot_format format)
{
    for (size_t i = 0; i < GT_PLOT_COUNT; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s.%s", dir, names[i],
                 format == GT_PLOT_SVG ? "svg" : "png");
        if (format == GT_PLOT_SVG)
            check_svg(path);
        else
            check_png(path);
    }
}

static void plot_ok(const char *trace, const char *dir, enum gt_plot_format format,
                    uint64_t device_memory)
{
    struct gt_plot_options opts = {.device_memory = device_memory, .format = format};
    char err[1024] = "";
    int rc = gt_plot_all(trace, dir, &opts, err, sizeof err);

    ck_assert_msg(rc == 0, "gt_plot_all: %s (%s)", err, gt_strerror(rc));
    check_plots(dir, format);
}

/* Imports tests/data/<name>/trace.csv into <tmp>/<name>.db. */
static void import_case(const char *tmp, const char *name, char *trace, size_t len)
{
    char csv[4096], err[512] = "";

    snprintf(csv, sizeof csv, "%s/%s/trace.csv", GT_TEST_DATA, name);
    snprintf(trace, len, "%s/%s.db", tmp, name);
    ck_assert_msg(gt_import_csv(csv, trace, NULL, err, sizeof err) == 0, "%s", err);
}

static void write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

/* ---- tests ----------------------------------------------------------------- */

/* Compute once, pass down (issue 13): the timeline's series and the segment
 * map watch one replay per distinct config, not one each. The sweep is
 * gt_replay_trace's, which gt_inspect_runs does not count. */
START_TEST(plot_replays_each_distinct_config_once_for_its_per_event_views)
{
    static const char *const traces[] = {EXAMPLE,
                                         GT_TEST_DATA "/../../examples/h100-recorded-requests.db"};

    for (size_t i = 0; i < sizeof traces / sizeof traces[0]; i++) {
        struct gt_scenario *scn = NULL;
        char tmp[64], err[1024] = "";
        ck_assert_msg(gt_scenario_build(traces[i], 0, &scn, err, sizeof err) == 0, "%s", err);
        struct gt_plot_options opts = {.format = GT_PLOT_SVG, .scenario = scn};
        long want = distinct_plotted_configs(traces[i], scn), before = gt_inspect_runs();
        make_tmp(tmp, sizeof tmp);
        ck_assert_msg(gt_plot_all(traces[i], tmp, &opts, err, sizeof err) == 0, "%s", err);
        ck_assert_int_eq(gt_inspect_runs() - before, want);
        check_plots(tmp, GT_PLOT_SVG);
        remove_tree(tmp);
        gt_scenario_free(scn);
    }
}
END_TEST

START_TEST(the_h100_example_gives_four_png_files_of_the_asked_size)
{
    char tmp[64], dir[128];

    make_tmp(tmp, sizeof tmp);
    /* A folder that does not exist yet is created. */
    snprintf(dir, sizeof dir, "%s/plots", tmp);
    plot_ok(EXAMPLE, dir, GT_PLOT_PNG, 2200 * MIB);
    remove_tree(tmp);
}
END_TEST

START_TEST(the_h100_example_gives_four_svg_documents)
{
    char tmp[64];

    make_tmp(tmp, sizeof tmp);
    plot_ok(EXAMPLE, tmp, GT_PLOT_SVG, 2200 * MIB);
    ck_assert_uint_eq(count_entries(tmp), GT_PLOT_COUNT);
    remove_tree(tmp);
}
END_TEST

START_TEST(a_small_csv_trace_gives_png_and_svg_plots)
{
    char tmp[64], trace[128], png[128], svg[128];

    make_tmp(tmp, sizeof tmp);
    import_case(tmp, "split-avoids-oom", trace, sizeof trace);
    snprintf(png, sizeof png, "%s/png", tmp);
    snprintf(svg, sizeof svg, "%s/svg", tmp);
    /* 150 MiB: the default config runs out, max_split_size_mb:64 fits. */
    plot_ok(trace, png, GT_PLOT_PNG, 150 * MIB);
    plot_ok(trace, svg, GT_PLOT_SVG, 150 * MIB);
    remove_tree(tmp);
}
END_TEST

START_TEST(a_trace_of_two_devices_and_no_cap_is_plotted)
{
    char tmp[64], trace[128];

    make_tmp(tmp, sizeof tmp);
    import_case(tmp, "two-devices", trace, sizeof trace);
    plot_ok(trace, tmp, GT_PLOT_PNG, 0);
    remove_tree(tmp);
}
END_TEST

START_TEST(a_trace_without_requests_still_gives_four_valid_images)
{
    char tmp[64], csv[128], trace[128], dir[128], err[512] = "";

    make_tmp(tmp, sizeof tmp);
    snprintf(csv, sizeof csv, "%s/empty.csv", tmp);
    snprintf(trace, sizeof trace, "%s/empty.db", tmp);
    snprintf(dir, sizeof dir, "%s/plots", tmp);
    write_text(csv, "ts_ns,action,addr,size,stream,device\n");
    ck_assert_msg(gt_import_csv(csv, trace, NULL, err, sizeof err) == 0, "%s", err);
    plot_ok(trace, dir, GT_PLOT_PNG, 0);
    remove_tree(tmp);
}
END_TEST

START_TEST(plots_replace_files_already_in_the_folder)
{
    char tmp[64], trace[128], old[160];

    make_tmp(tmp, sizeof tmp);
    import_case(tmp, "small-alloc", trace, sizeof trace);
    snprintf(old, sizeof old, "%s/timeline.png", tmp);
    write_text(old, "an older plot\n");
    plot_ok(trace, tmp, GT_PLOT_PNG, 0);
    remove_tree(tmp);
}
END_TEST

START_TEST(a_symlink_where_a_plot_goes_is_replaced_never_followed)
{
    char tmp[64], trace[128], dir[128], link[192], target[160], err[1024] = "";
    struct gt_plot_options opts = {.format = GT_PLOT_PNG};
    size_t len;
    char *text;
    int rc;

    make_tmp(tmp, sizeof tmp);
    import_case(tmp, "small-alloc", trace, sizeof trace);
    snprintf(dir, sizeof dir, "%s/plots", tmp);
    snprintf(target, sizeof target, "%s/precious.txt", tmp);
    snprintf(link, sizeof link, "%s/split-sizes.png", dir);
    ck_assert_int_eq(mkdir(dir, 0700), 0);
    write_text(target, "keep me\n");
    ck_assert_int_eq(symlink(target, link), 0);
    rc = gt_plot_all(trace, dir, &opts, err, sizeof err);
    ck_assert_msg(rc == GT_OK, "%s", err);
    text = slurp(target, &len);
    ck_assert_str_eq(text, "keep me\n");
    free(text);
    struct stat st;
    ck_assert_int_eq(lstat(link, &st), 0);
    ck_assert(S_ISREG(st.st_mode)); /* the link was replaced by the plot */
    remove_tree(tmp);
}
END_TEST

START_TEST(a_gnuplot_that_cannot_be_found_gives_enoent_naming_the_package)
{
    static const char *const programs[] = {"/nonexistent/gnuplot", "gpu-trace-no-such-gnuplot",
                                           "/etc/passwd", ""};
    char tmp[64], dir[128];

    make_tmp(tmp, sizeof tmp);
    snprintf(dir, sizeof dir, "%s/plots", tmp);
    for (size_t i = 0; i < sizeof programs / sizeof programs[0]; i++) {
        struct gt_plot_options opts = {.format = GT_PLOT_PNG, .gnuplot = programs[i]};
        char err[1024] = "";
        int rc = gt_plot_all(EXAMPLE, dir, &opts, err, sizeof err);
        ck_assert_msg(rc == GT_ENOENT, "'%s': %d %s", programs[i], rc, err);
        ck_assert_msg(strstr(err, "gnuplot not found") != NULL, "%s", err);
        ck_assert_msg(strstr(err, "gnuplot-nox") != NULL, "%s", err);
    }
    /* Nothing is created when nothing can be drawn. */
    ck_assert_int_ne(access(dir, F_OK), 0);
    remove_tree(tmp);
}
END_TEST

START_TEST(an_executable_that_exec_refuses_also_gives_enoent)
{
    char tmp[64], prog[128], err[1024] = "";
    struct gt_plot_options opts = {.format = GT_PLOT_PNG};
    int rc;

    make_tmp(tmp, sizeof tmp);
    /* Executable bits on bytes that are no program: execv fails ENOEXEC. */
    snprintf(prog, sizeof prog, "%s/gnuplot", tmp);
    write_text(prog, "\x7f"
                     "ELF not really\n");
    ck_assert_int_eq(chmod(prog, 0700), 0);
    opts.gnuplot = prog;
    rc = gt_plot_all(EXAMPLE, tmp, &opts, err, sizeof err);
    ck_assert_int_eq(rc, GT_ENOENT);
    ck_assert_msg(strstr(err, "gnuplot-nox") != NULL, "%s", err);
    remove_tree(tmp);
}
END_TEST

START_TEST(a_failing_gnuplot_is_reported_with_its_last_line_and_the_temp_folder_goes)
{
    char tmp[64], base[128], prog[128], trace[128], err[1024] = "";
    struct gt_plot_options opts = {.format = GT_PLOT_PNG};
    int rc;

    make_tmp(tmp, sizeof tmp);
    import_case(tmp, "small-alloc", trace, sizeof trace);
    snprintf(base, sizeof base, "%s/tmpdir", tmp);
    ck_assert_int_eq(mkdir(base, 0700), 0);
    ck_assert_int_eq(setenv("TMPDIR", base, 1), 0);
    snprintf(prog, sizeof prog, "%s/fake-gnuplot", tmp);
    write_text(prog, "#!/bin/sh\necho 'line 3: undefined variable: x' >&2\nexit 1\n");
    ck_assert_int_eq(chmod(prog, 0700), 0);
    opts.gnuplot = prog;
    rc = gt_plot_all(trace, tmp, &opts, err, sizeof err);
    ck_assert_int_eq(rc, GT_EIO);
    ck_assert_msg(strstr(err, "gnuplot failed (exit 1): line 3: undefined variable: x") != NULL,
                  "%s", err);
    ck_assert_uint_eq(count_entries(base), 0);

    /* And after a success too. */
    opts.gnuplot = NULL;
    plot_ok(trace, tmp, GT_PLOT_SVG, 0);
    ck_assert_uint_eq(count_entries(base), 0);
    remove_tree(tmp);
}
END_TEST

START_TEST(a_trace_that_does_not_exist_gives_the_readers_error)
{
    struct gt_trace_reader *r = NULL;
    char tmp[64], trace[128], dir[128], want[512] = "", err[1024] = "";
    int want_rc, rc;

    make_tmp(tmp, sizeof tmp);
    snprintf(trace, sizeof trace, "%s/missing.db", tmp);
    snprintf(dir, sizeof dir, "%s/plots", tmp);
    want_rc = gt_trace_open(trace, &r, want, sizeof want);
    gt_trace_close(r);
    rc = gt_plot_all(trace, dir, NULL, err, sizeof err);
    ck_assert_int_eq(want_rc, GT_ENOENT);
    ck_assert_int_eq(rc, want_rc);
    ck_assert_str_eq(err, want);
    ck_assert_int_ne(access(dir, F_OK), 0);
    remove_tree(tmp);
}
END_TEST

START_TEST(a_file_that_is_not_a_trace_gives_the_readers_error)
{
    char tmp[64], path[128], err[1024] = "";
    int rc;

    make_tmp(tmp, sizeof tmp);
    snprintf(path, sizeof path, "%s/notes.txt", tmp);
    write_text(path, "not a trace at all, just some text that is long enough\n");
    rc = gt_plot_all(path, tmp, NULL, err, sizeof err);
    ck_assert_int_eq(rc, GT_EFOREIGN);
    ck_assert_str_ne(err, "");
    remove_tree(tmp);
}
END_TEST

static Suite *plot_suite(void)
{
    Suite *s = suite_create("plot");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, the_h100_example_gives_four_png_files_of_the_asked_size);
    tcase_add_test(tc, plot_replays_each_distinct_config_once_for_its_per_event_views);
    tcase_add_test(tc, the_h100_example_gives_four_svg_documents);
    tcase_add_test(tc, a_small_csv_trace_gives_png_and_svg_plots);
    tcase_add_test(tc, a_trace_of_two_devices_and_no_cap_is_plotted);
    tcase_add_test(tc, a_trace_without_requests_still_gives_four_valid_images);
    tcase_add_test(tc, plots_replace_files_already_in_the_folder);
    tcase_add_test(tc, a_symlink_where_a_plot_goes_is_replaced_never_followed);
    tcase_add_test(tc, a_gnuplot_that_cannot_be_found_gives_enoent_naming_the_package);
    tcase_add_test(tc, an_executable_that_exec_refuses_also_gives_enoent);
    tcase_add_test(tc, a_failing_gnuplot_is_reported_with_its_last_line_and_the_temp_folder_goes);
    tcase_add_test(tc, a_trace_that_does_not_exist_gives_the_readers_error);
    tcase_add_test(tc, a_file_that_is_not_a_trace_gives_the_readers_error);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(plot_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
