/* Tests of the CSV importer (import.h): real CSV files and traces in a
 * temporary directory, read back with the trace reader. */
#include <check.h>
#include <dirent.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gputrace/err.h"
#include "gputrace/import.h"
#include "gputrace/schema.h"
#include "gputrace/trace.h"

#include "gputrace/banned.h"

#define HEADER "ts_ns,action,addr,size,stream,device\n"

#include "test_tmpdir.h"

static const char *write_csv(const char *text)
{
    const char *p = path_of("in.csv");
    FILE *f = fopen(p, "wb");

    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(text, 1, strlen(text), f), strlen(text));
    ck_assert_int_eq(fclose(f), 0);
    return p;
}

static bool exists(const char *p)
{
    struct stat st;

    return stat(p, &st) == 0;
}

/* Imports text and expects GT_EINVAL with exactly msg, and no output. */
static void expect_error(const char *text, const char *msg)
{
    const char *out = path_of("out.db");
    char err[256] = "";
    int rc = gt_import_csv(write_csv(text), out, NULL, err, sizeof err);

    ck_assert_msg(rc == GT_EINVAL, "rc %d for %s", rc, msg);
    ck_assert_str_eq(err, msg);
    ck_assert_msg(!exists(out), "a partial trace was left behind for: %s", msg);
}

static size_t read_events(const char *trace, struct gt_event *buf, size_t cap)
{
    struct gt_trace_reader *r;
    char err[256];
    size_t n, total = 0;

    ck_assert_int_eq(gt_trace_open(trace, &r, err, sizeof err), GT_OK);
    while (gt_trace_read(r, buf + total, cap - total, &n) == GT_OK && n > 0)
        total += n;
    gt_trace_close(r);
    return total;
}

START_TEST(a_good_csv_round_trips_into_the_trace)
{
    const char *out = path_of("out.db");
    struct gt_import_summary sum;
    struct gt_trace_reader *r;
    struct gt_event ev[16];
    char err[256] = "", buf[PATH_MAX + 16], want[PATH_MAX + 16];
    const char *in = write_csv("\xef\xbb\xbf"
                               "ts_ns,action,addr,size,stream,device\r\n"
                               "100,segment_alloc,140249883738112,20971520,0,0\r\n"
                               "101,alloc,0x7f8e4c000000,1048576,0x10,0\r\n"
                               "102,free,0x7F8E4C000000,,0x10,0\r\n"
                               "\r\n"
                               "103,empty_cache,,,0,1\r\n"
                               "104,oom,82537807872,219152384,0,0\r\n"
                               "105,segment_map,18446744073709551615,2097152,0,2\r\n"
                               "106,segment_unmap,0xffffffffffffffff,2097152,0,2\r\n"
                               "107,segment_free,140249883738112,20971520,0,0");

    ck_assert_msg(gt_import_csv(in, out, &sum, err, sizeof err) == GT_OK, "%s", err);
    ck_assert_int_eq(sum.rows, 8);
    ck_assert_int_eq(sum.events, 8);
    ck_assert_int_eq(sum.by_kind[GT_EV_ALLOC], 1);
    ck_assert_int_eq(sum.by_kind[GT_EV_FREE], 1);
    ck_assert_int_eq(sum.by_kind[GT_EV_SEGMENT_ALLOC], 1);
    ck_assert_int_eq(sum.by_kind[GT_EV_OOM], 1);
    ck_assert_int_eq(sum.by_kind[GT_EV_HOST_ALLOC], 0);

    ck_assert_uint_eq(read_events(out, ev, 16), 8);
    ck_assert_int_eq(ev[0].kind, GT_EV_SEGMENT_ALLOC);
    ck_assert_uint_eq(ev[0].addr, 140249883738112ULL);
    ck_assert_uint_eq(ev[0].size, 20971520);
    ck_assert_uint_eq(ev[0].requested, 0);
    ck_assert_int_eq(ev[1].kind, GT_EV_ALLOC);
    ck_assert_int_eq(ev[1].ts_ns, 101);
    ck_assert_uint_eq(ev[1].addr, 0x7f8e4c000000ULL);
    ck_assert_uint_eq(ev[1].size, 1048576);
    ck_assert_uint_eq(ev[1].requested, 1048576);
    ck_assert_uint_eq(ev[1].stream, 16);
    ck_assert_int_eq(ev[1].pid, 0);
    ck_assert_int_eq(ev[1].tid, 0);
    ck_assert_int_eq(ev[1].result, 0);
    ck_assert_int_eq(ev[2].kind, GT_EV_FREE); /* free without a size */
    ck_assert_uint_eq(ev[2].addr, 0x7f8e4c000000ULL);
    ck_assert_uint_eq(ev[2].size, 0);
    ck_assert_int_eq(ev[3].kind, GT_EV_EMPTY_CACHE);
    ck_assert_int_eq(ev[3].device, 1);
    ck_assert_uint_eq(ev[3].addr, 0);
    ck_assert_int_eq(ev[4].kind, GT_EV_OOM);
    ck_assert_uint_eq(ev[4].addr, 82537807872ULL); /* free device memory */
    ck_assert_uint_eq(ev[4].requested, 219152384);
    ck_assert_uint_eq(ev[5].addr, UINT64_MAX);
    ck_assert_uint_eq(ev[6].addr, UINT64_MAX);
    ck_assert_int_eq(ev[7].kind, GT_EV_SEGMENT_FREE);
    ck_assert_int_eq(ev[7].seq, 8);

    ck_assert_int_eq(gt_trace_open(out, &r, err, sizeof err), GT_OK);
    ck_assert_int_eq(gt_trace_meta(r, "recording_mode", buf, sizeof buf), GT_OK);
    ck_assert_str_eq(buf, "imported");
    ck_assert_int_eq(gt_trace_meta(r, "source", buf, sizeof buf), GT_OK);
    snprintf(want, sizeof want, "csv:%s", in);
    ck_assert_str_eq(buf, want);
    ck_assert_int_eq(gt_trace_meta(r, "tool_version", buf, sizeof buf), GT_OK);
    ck_assert_str_eq(buf, GT_VERSION);
    ck_assert_int_eq(gt_trace_meta(r, "command_line", buf, sizeof buf), GT_OK);
    ck_assert_str_eq(buf, "");
    ck_assert_int_eq(gt_trace_meta(r, "start_time", buf, sizeof buf), GT_OK);
    ck_assert_uint_eq(strlen(buf), 20); /* 2026-11-27T02:50:00Z */
    ck_assert_int_eq(buf[10], 'T');
    ck_assert_int_eq(buf[19], 'Z');
    gt_trace_close(r);
}
END_TEST

START_TEST(each_bad_row_is_reported_with_its_line_number)
{
    expect_error(HEADER "1,alloc,16,32,0,0\n"
                        "2,alloc,16,32,0\n",
                 "line 3: expected 6 fields, got 5");
    expect_error(HEADER "1,alloc,16,32,0,0,7\n", "line 2: expected 6 fields, got 7");
    expect_error(HEADER "1,allocate,16,32,0,0\n", "line 2: unknown action 'allocate'");
    expect_error(HEADER "1,,16,32,0,0\n", "line 2: unknown action ''");
    expect_error(HEADER "1,alloc,16,12x,0,0\n", "line 2: size '12x' is not a number");
    expect_error(HEADER "1,alloc,16,-5,0,0\n", "line 2: size '-5' is not a number");
    expect_error(HEADER "1,alloc,16, 5,0,0\n", "line 2: size ' 5' is not a number");
    expect_error(HEADER "1,alloc,0x,32,0,0\n", "line 2: addr '0x' is not a number");
    expect_error(HEADER "1,alloc,0x1g,32,0,0\n", "line 2: addr '0x1g' is not a number");
    expect_error(HEADER "1,alloc,0x10000000000000000,32,0,0\n",
                 "line 2: addr '0x10000000000000000' is out of range");
    expect_error(HEADER "1,alloc,18446744073709551616,32,0,0\n",
                 "line 2: addr '18446744073709551616' is out of range");
    expect_error(HEADER "9223372036854775808,alloc,16,32,0,0\n",
                 "line 2: ts_ns '9223372036854775808' is out of range");
    expect_error(HEADER "0x10,alloc,16,32,0,0\n", "line 2: ts_ns '0x10' is not a number");
    expect_error(HEADER "1,alloc,16,32,0,2147483648\n",
                 "line 2: device '2147483648' is out of range");
    expect_error(HEADER "1,alloc,,32,0,0\n", "line 2: addr is empty");
    expect_error(HEADER "1,alloc,16,,0,0\n", "line 2: size is empty");
    expect_error(HEADER "1,segment_alloc,16,,0,0\n", "line 2: size is empty");
    expect_error(HEADER "1,free,16,,,0\n", "line 2: stream is empty");
    expect_error(HEADER "1,free,16,,0,\n", "line 2: device is empty");
    expect_error(HEADER ",free,16,,0,0\n", "line 2: ts_ns is empty");
    /* Control characters in the quoted text are replaced. */
    expect_error(HEADER "1,al\tloc,16,32,0,0\n", "line 2: unknown action 'al?loc'");
}
END_TEST

START_TEST(a_line_with_a_nul_byte_is_an_error_not_a_short_row)
{
    const char *out = path_of("out.db");
    const char *p = path_of("in.csv");
    char err[256] = "";
    FILE *f = fopen(p, "wb");
    static const char text[] = HEADER "1,alloc,16,32,0,0\n2,free,16\0,,0,0\n";

    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(text, 1, sizeof text - 1, f), sizeof text - 1);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(gt_import_csv(p, out, NULL, err, sizeof err), GT_EINVAL);
    ck_assert_str_eq(err, "line 3: contains a NUL byte");
    ck_assert(!exists(out));
}
END_TEST

/* A line of 64 MiB with no end is refused at its first 4 KiB: the reader
 * never holds more (it used to read the whole line first). */
START_TEST(an_endless_line_is_refused_without_reading_it_whole)
{
    const char *out = path_of("out.db");
    const char *p = path_of("in.csv");
    char err[256] = "", chunk[65536];
    FILE *f = fopen(p, "wb");
    struct rusage before, after;

    ck_assert_ptr_nonnull(f);
    ck_assert_int_ge(fputs(HEADER, f), 0);
    memset(chunk, '7', sizeof chunk);
    for (int i = 0; i < 1024; i++)
        ck_assert_uint_eq(fwrite(chunk, 1, sizeof chunk, f), sizeof chunk);
    ck_assert_int_eq(fclose(f), 0);
    getrusage(RUSAGE_SELF, &before);
    ck_assert_int_eq(gt_import_csv(p, out, NULL, err, sizeof err), GT_EINVAL);
    getrusage(RUSAGE_SELF, &after);
    ck_assert_str_eq(err, "line 2: longer than 4096 bytes");
    ck_assert_int_lt(after.ru_maxrss - before.ru_maxrss, 16 * 1024); /* KiB: far below 64 MiB */
    ck_assert(!exists(out));
}
END_TEST

START_TEST(a_wrong_or_missing_header_is_rejected)
{
    expect_error("ts,action,addr,size,stream,device\n1,alloc,16,32,0,0\n",
                 "line 1: header is 'ts,action,addr,size,stream,device', expected "
                 "'ts_ns,action,addr,size,stream,device'");
    expect_error("1,alloc,16,32,0,0\n", "line 1: header is '1,alloc,16,32,0,0', expected "
                                        "'ts_ns,action,addr,size,stream,device'");
    expect_error("ts_ns,action,addr,size,stream,device,pid\n",
                 "line 1: header is 'ts_ns,action,addr,size,stream,device,pid', expected "
                 "'ts_ns,action,addr,size,stream,device'");
    expect_error("", "line 1: the file is empty; expected the header "
                     "'ts_ns,action,addr,size,stream,device'");
}
END_TEST

START_TEST(a_header_only_file_gives_an_empty_trace)
{
    const char *out = path_of("out.db");
    struct gt_import_summary sum;
    struct gt_event ev[1];
    char err[256] = "";

    ck_assert_int_eq(gt_import_csv(write_csv(HEADER), out, &sum, err, sizeof err), GT_OK);
    ck_assert_int_eq(sum.rows, 0);
    ck_assert_uint_eq(read_events(out, ev, 1), 0);
}
END_TEST

START_TEST(import_options_record_the_settings_and_the_card_of_every_device)
{
    const char *out = path_of("out.db");
    const char *csv = write_csv(HEADER "1,alloc,4096,1024,0,0\n"
                                       "2,alloc,8192,1024,0,3\n"
                                       "3,free,4096,,0,0\n");
    struct gt_import_options opts = {"expandable_segments:True", "Card X", 24ull << 30};
    struct gt_trace_reader *r = NULL;
    char err[256] = "", buf[64];
    uint64_t total = 0;

    ck_assert_int_eq(gt_import_csv_with(csv, out, &opts, NULL, err, sizeof err), GT_OK);
    ck_assert_int_eq(gt_trace_open(out, &r, err, sizeof err), GT_OK);
    ck_assert_int_eq(gt_trace_meta(r, "alloc_conf", buf, sizeof buf), GT_OK);
    ck_assert_str_eq(buf, "expandable_segments:True");
    for (int32_t d = 0; d <= 3; d += 3) {
        ck_assert_int_eq(gt_trace_device(r, d, buf, sizeof buf, &total), GT_OK);
        ck_assert_str_eq(buf, "Card X");
        ck_assert_uint_eq(total, 24ull << 30);
    }
    ck_assert_int_eq(gt_trace_device(r, 1, buf, sizeof buf, &total), GT_ENOENT);
    gt_trace_close(r);
}
END_TEST

START_TEST(without_options_the_settings_stay_unknown)
{
    const char *out = path_of("out.db");
    struct gt_trace_reader *r = NULL;
    char err[256] = "", buf[64];

    ck_assert_int_eq(
        gt_import_csv(write_csv(HEADER "1,alloc,4096,1024,0,0\n"), out, NULL, err, sizeof err),
        GT_OK);
    ck_assert_int_eq(gt_trace_open(out, &r, err, sizeof err), GT_OK);
    ck_assert_int_eq(gt_trace_meta(r, "alloc_conf", buf, sizeof buf), GT_ENOENT);
    gt_trace_close(r);
}
END_TEST

START_TEST(an_error_late_in_a_long_file_removes_the_partial_trace)
{
    const char *p = path_of("in.csv"), *out = path_of("out.db");
    char err[256] = "";
    FILE *f = fopen(p, "w");

    ck_assert_ptr_nonnull(f);
    fputs(HEADER, f);
    /* Past the first commit batch, so the trace file really holds rows. */
    for (int i = 0; i < 70000; i++)
        fprintf(f, "%d,alloc,%d,512,0,0\n", i, i * 512);
    fputs("70000,alocate,1,1,0,0\n", f);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(gt_import_csv(p, out, NULL, err, sizeof err), GT_EINVAL);
    ck_assert_str_eq(err, "line 70002: unknown action 'alocate'");
    ck_assert(!exists(out));
    ck_assert(!exists(path_of("out.db-journal")));
}
END_TEST

START_TEST(an_existing_output_is_never_overwritten_or_removed)
{
    const char *out = path_of("out.db");
    char err[256] = "";
    struct stat st;
    FILE *f = fopen(out, "w");

    ck_assert_ptr_nonnull(f);
    fputs("precious", f);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_int_eq(
        gt_import_csv(write_csv(HEADER "1,alloc,16,32,0,0\n"), out, NULL, err, sizeof err), GT_EIO);
    ck_assert_ptr_nonnull(strstr(err, "already exists"));
    ck_assert_int_eq(stat(out, &st), 0);
    ck_assert_int_eq(st.st_size, 8);
}
END_TEST

START_TEST(a_missing_csv_is_reported_as_missing)
{
    char err[256] = "";

    ck_assert_int_eq(gt_import_csv(path_of("nope.csv"), path_of("out.db"), NULL, err, sizeof err),
                     GT_ENOENT);
    ck_assert_ptr_nonnull(strstr(err, "nope.csv"));
    ck_assert(!exists(path_of("out.db")));
}
END_TEST

/* The ground truth captured on an H100 is in this format; every row of it
 * must import. */
START_TEST(the_gpu_ground_truth_csv_imports_completely)
{
    const char *csv = GT_TEST_DATA "/gpu-h100/truth/expandable.csv";
    const char *out = path_of("out.db");
    struct gt_import_summary sum;
    struct gt_trace_reader *r;
    char err[256] = "", *line = NULL;
    size_t cap = 0;
    int64_t lines = 0, count = 0;
    FILE *f = fopen(csv, "r");

    if (f == NULL)
        return; /* the data set is optional in a source tarball */
    while (getline(&line, &cap, f) > 0)
        lines++;
    free(line);
    fclose(f);
    ck_assert_msg(gt_import_csv(csv, out, &sum, err, sizeof err) == GT_OK, "%s", err);
    ck_assert_int_eq(sum.rows, lines - 1);
    ck_assert_int_gt(sum.by_kind[GT_EV_SEGMENT_MAP], 0);
    ck_assert_int_eq(gt_trace_open(out, &r, err, sizeof err), GT_OK);
    ck_assert_int_eq(gt_trace_event_count(r, &count), GT_OK);
    ck_assert_int_eq(count, lines - 1);
    gt_trace_close(r);
}
END_TEST

static Suite *import_csv_suite(void)
{
    Suite *s = suite_create("import_csv");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, make_dir, remove_dir);
    tcase_add_test(tc, a_good_csv_round_trips_into_the_trace);
    tcase_add_test(tc, each_bad_row_is_reported_with_its_line_number);
    tcase_add_test(tc, a_line_with_a_nul_byte_is_an_error_not_a_short_row);
    tcase_add_test(tc, an_endless_line_is_refused_without_reading_it_whole);
    tcase_add_test(tc, a_wrong_or_missing_header_is_rejected);
    tcase_add_test(tc, a_header_only_file_gives_an_empty_trace);
    tcase_add_test(tc, import_options_record_the_settings_and_the_card_of_every_device);
    tcase_add_test(tc, without_options_the_settings_stay_unknown);
    tcase_add_test(tc, an_error_late_in_a_long_file_removes_the_partial_trace);
    tcase_add_test(tc, an_existing_output_is_never_overwritten_or_removed);
    tcase_add_test(tc, a_missing_csv_is_reported_as_missing);
    tcase_add_test(tc, the_gpu_ground_truth_csv_imports_completely);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(import_csv_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
