/* Tests of the chrome trace importer (import.h): the small traces in
 * tests/data/chrome/, bad events written to a temporary directory, and the
 * three real profiler traces of ../shared (with --shared, test_shared.h).
 * Everything is read back with the trace reader. */
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
#include <zlib.h>

#include "gputrace/err.h"
#include "gputrace/import.h"
#include "gputrace/schema.h"
#include "gputrace/trace.h"

#include "gputrace/banned.h"

#define DATA GT_TEST_DATA "/chrome/"
#define H100_NAME "NVIDIA H100 80GB HBM3"
#define H100_MEMORY 85018279936ULL

#include "test_shared.h"
#include "test_tmpdir.h"

static const char *write_file(const char *name, const char *text, size_t len)
{
    const char *p = path_of(name);
    FILE *f = fopen(p, "wb");

    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(text, 1, len, f), len);
    ck_assert_int_eq(fclose(f), 0);
    return p;
}

static bool exists(const char *p)
{
    struct stat st;

    return stat(p, &st) == 0;
}

/* All events of a trace, in seq order, in a malloc'd array. */
static struct gt_event *read_all(const char *trace, size_t *count)
{
    struct gt_trace_reader *r;
    struct gt_event *buf = NULL;
    size_t n, total = 0, cap = 0;
    char err[256] = "";

    ck_assert_msg(gt_trace_open(trace, &r, err, sizeof err) == GT_OK, "%s", err);
    for (;;) {
        if (cap - total < 256) {
            cap = cap * 2 + 256;
            buf = realloc(buf, cap * sizeof *buf);
            ck_assert_ptr_nonnull(buf);
        }
        ck_assert_int_eq(gt_trace_read(r, buf + total, cap - total, &n), GT_OK);
        if (n == 0)
            break;
        total += n;
    }
    gt_trace_close(r);
    *count = total;
    return buf;
}

/* event_totals rows, collected by gt_trace_totals. */
struct totals {
    size_t n, cap;
    int64_t *seq, *allocated, *reserved;
};

static int collect_totals(void *ctx, int64_t seq, int64_t allocated, int64_t reserved)
{
    struct totals *t = ctx;

    if (t->n == t->cap) {
        t->cap = t->cap * 2 + 64;
        t->seq = realloc(t->seq, t->cap * sizeof *t->seq);
        t->allocated = realloc(t->allocated, t->cap * sizeof *t->allocated);
        t->reserved = realloc(t->reserved, t->cap * sizeof *t->reserved);
        ck_assert(t->seq != NULL && t->allocated != NULL && t->reserved != NULL);
    }
    t->seq[t->n] = seq;
    t->allocated[t->n] = allocated;
    t->reserved[t->n] = reserved;
    t->n++;
    return 0;
}

static void read_totals(const char *trace, struct totals *t)
{
    struct gt_trace_reader *r;
    char err[256] = "";

    memset(t, 0, sizeof *t);
    ck_assert_msg(gt_trace_open(trace, &r, err, sizeof err) == GT_OK, "%s", err);
    ck_assert_int_eq(gt_trace_totals(r, collect_totals, t), GT_OK);
    gt_trace_close(r);
}

static void free_totals(struct totals *t)
{
    free(t->seq);
    free(t->allocated);
    free(t->reserved);
}

static void expect_meta(const char *trace, const char *key, const char *want)
{
    struct gt_trace_reader *r;
    char err[256] = "", buf[PATH_MAX + 64];

    ck_assert_msg(gt_trace_open(trace, &r, err, sizeof err) == GT_OK, "%s", err);
    if (want == NULL) {
        ck_assert_int_eq(gt_trace_meta(r, key, buf, sizeof buf), GT_ENOENT);
    } else {
        ck_assert_int_eq(gt_trace_meta(r, key, buf, sizeof buf), GT_OK);
        ck_assert_str_eq(buf, want);
    }
    gt_trace_close(r);
}

static void expect_device(const char *trace, int32_t device, const char *name, uint64_t memory)
{
    struct gt_trace_reader *r;
    char err[256] = "", buf[128];
    uint64_t mem = 0;

    ck_assert_msg(gt_trace_open(trace, &r, err, sizeof err) == GT_OK, "%s", err);
    ck_assert_int_eq(gt_trace_device(r, device, buf, sizeof buf, &mem), GT_OK);
    ck_assert_str_eq(buf, name);
    ck_assert_uint_eq(mem, memory);
    gt_trace_close(r);
}

/* Imports path and expects rc with exactly msg (or, with prefix, a message
 * starting with msg), and no output. */
static void expect_failure(const char *path, int want_rc, const char *msg, bool prefix)
{
    const char *out = path_of("out.db");
    char err[256] = "";
    int rc = gt_import_chrome(path, out, NULL, NULL, err, sizeof err);

    ck_assert_msg(rc == want_rc, "rc %d (%s), expected %d for %s", rc, err, want_rc, msg);
    if (prefix)
        ck_assert_msg(strncmp(err, msg, strlen(msg)) == 0, "'%s' does not start with '%s'", err,
                      msg);
    else
        ck_assert_str_eq(err, msg);
    ck_assert_msg(!exists(out), "a partial trace was left behind for: %s", msg);
}

/* The six CUDA events of two-devices.json, whatever the wrapping. */
static void check_two_devices(const char *in)
{
    const char *out = path_of("two.db");
    struct gt_import_summary sum;
    struct gt_event *ev;
    struct totals t;
    size_t n;
    char err[256] = "", source[PATH_MAX + 16];

    ck_assert_msg(gt_import_chrome(in, out, NULL, &sum, err, sizeof err) == GT_OK, "%s", err);
    ck_assert_int_eq(sum.rows, 11);
    ck_assert_int_eq(sum.events, 6);
    ck_assert_int_eq(sum.by_kind[GT_EV_ALLOC], 3);
    ck_assert_int_eq(sum.by_kind[GT_EV_FREE], 3);

    ev = read_all(out, &n);
    ck_assert_uint_eq(n, 6);
    /* device, kind, addr, size in (ts, Ev Idx) order; the CPU event at the
     * same ts as the first is not there. */
    ck_assert_int_eq(ev[0].device, 0);
    ck_assert_int_eq(ev[0].kind, GT_EV_ALLOC);
    ck_assert_uint_eq(ev[0].addr, 139637976727552ULL);
    ck_assert_uint_eq(ev[0].size, 1024);
    ck_assert_uint_eq(ev[0].requested, 1024);
    ck_assert_int_eq(ev[0].ts_ns, 0);
    ck_assert_int_eq(ev[0].pid, 7);
    ck_assert_int_eq(ev[0].tid, 8);
    ck_assert_uint_eq(ev[0].stream, 0);
    ck_assert_int_eq(ev[1].device, 1);
    ck_assert_int_eq(ev[1].kind, GT_EV_ALLOC);
    ck_assert_uint_eq(ev[1].size, 2048);
    ck_assert_int_eq(ev[1].ts_ns, 1000);
    ck_assert_int_eq(ev[2].device, 0);
    ck_assert_uint_eq(ev[2].size, 512);
    ck_assert_int_eq(ev[3].kind, GT_EV_FREE);
    ck_assert_uint_eq(ev[3].addr, 139637976727552ULL);
    ck_assert_uint_eq(ev[3].size, 1024);
    ck_assert_uint_eq(ev[3].requested, 0);
    ck_assert_int_eq(ev[4].device, 1);
    ck_assert_int_eq(ev[4].kind, GT_EV_FREE);
    ck_assert_uint_eq(ev[4].size, 2048);
    ck_assert_int_eq(ev[5].kind, GT_EV_FREE);
    ck_assert_uint_eq(ev[5].size, 512);
    ck_assert_int_eq(ev[5].ts_ns, 5000);

    read_totals(out, &t);
    ck_assert_uint_eq(t.n, 6);
    for (size_t i = 0; i < t.n; i++)
        ck_assert_int_eq(t.seq[i], ev[i].seq);
    ck_assert_int_eq(t.allocated[0], 1024);
    ck_assert_int_eq(t.reserved[0], 2097152);
    ck_assert_int_eq(t.allocated[1], 2048);
    ck_assert_int_eq(t.reserved[1], 20971520);
    ck_assert_int_eq(t.allocated[3], 512);
    ck_assert_int_eq(t.allocated[5], 0);
    free_totals(&t);
    free(ev);

    expect_device(out, 0, H100_NAME, H100_MEMORY);
    expect_device(out, 1, "NVIDIA A100-SXM4-40GB", 42505273344ULL);
    expect_meta(out, "recording_mode", GT_SCHEMA_MODE_IMPORTED);
    snprintf(source, sizeof source, "chrome:%s", in);
    expect_meta(out, "source", source);
    /* baseTimeNanoseconds + the first event's ts (1000 us). */
    expect_meta(out, "start_time", "2025-07-01T23:00:36Z");
    expect_meta(out, "alloc_conf", NULL);
    unlink(out);
}

START_TEST(cuda_memory_events_of_two_devices_become_allocs_and_frees)
{
    check_two_devices(DATA "two-devices.json");
}
END_TEST

START_TEST(a_gzipped_trace_imports_the_same_as_the_plain_one)
{
    check_two_devices(DATA "two-devices.json.gz");
}
END_TEST

START_TEST(events_are_ordered_by_ts_then_ev_idx_then_file_position)
{
    const char *out = path_of("out.db");
    struct gt_event *ev;
    struct totals t;
    size_t n;
    char err[256] = "";

    ck_assert_msg(gt_import_chrome(DATA "unordered.json", out, NULL, NULL, err, sizeof err) ==
                      GT_OK,
                  "%s", err);
    ev = read_all(out, &n);
    ck_assert_uint_eq(n, 6);
    /* ts 10.5 twice: Ev Idx 4 (addr 12288) before Ev Idx 5 (addr 8192). */
    ck_assert_uint_eq(ev[0].addr, 12288);
    ck_assert_int_eq(ev[0].kind, GT_EV_ALLOC);
    ck_assert_int_eq(ev[0].ts_ns, 0);
    ck_assert_uint_eq(ev[1].addr, 8192);
    ck_assert_int_eq(ev[1].ts_ns, 0);
    /* 15.0016 us = 15001.6 ns, rounded, after the first at 10500 ns. */
    ck_assert_uint_eq(ev[2].addr, 12288);
    ck_assert_int_eq(ev[2].kind, GT_EV_FREE);
    ck_assert_int_eq(ev[2].ts_ns, 4502);
    /* The first event of the file comes fourth; its Stream arg is kept. */
    ck_assert_uint_eq(ev[3].addr, 4096);
    ck_assert_int_eq(ev[3].ts_ns, 9750);
    ck_assert_uint_eq(ev[3].stream, 7);
    ck_assert_uint_eq(ev[1].stream, 0);
    /* Same ts and Ev Idx: the file's order. */
    ck_assert_uint_eq(ev[4].addr, 8192);
    ck_assert_uint_eq(ev[5].addr, 4096);
    ck_assert_int_eq(ev[5].ts_ns, 19500);
    ck_assert_int_eq(ev[4].tid, 2);
    ck_assert_int_eq(ev[0].tid, 3);

    /* The totals follow their events through the sort. */
    read_totals(out, &t);
    ck_assert_uint_eq(t.n, 6);
    ck_assert_int_eq(t.allocated[0], 5632);
    ck_assert_int_eq(t.allocated[1], 6656);
    ck_assert_int_eq(t.allocated[2], 5120);
    ck_assert_int_eq(t.allocated[5], 4096);
    free_totals(&t);
    free(ev);
}
END_TEST

START_TEST(the_running_sum_of_bytes_reproduces_total_allocated_after_the_round_trip)
{
    const char *out = path_of("out.db");
    struct gt_event *ev;
    struct totals t;
    size_t n;
    int64_t running;
    char err[256] = "";

    ck_assert_msg(gt_import_chrome(DATA "unordered.json", out, NULL, NULL, err, sizeof err) ==
                      GT_OK,
                  "%s", err);
    ev = read_all(out, &n);
    read_totals(out, &t);
    ck_assert_uint_eq(t.n, n);
    running = t.allocated[0] - (int64_t)ev[0].size;
    for (size_t i = 0; i < n; i++) {
        running += ev[i].kind == GT_EV_ALLOC ? (int64_t)ev[i].size : -(int64_t)ev[i].size;
        ck_assert_int_eq(t.seq[i], ev[i].seq);
        ck_assert_int_eq(running, t.allocated[i]);
        ck_assert_int_eq(t.reserved[i], 2097152);
    }
    free_totals(&t);
    free(ev);
}
END_TEST

START_TEST(import_options_override_the_devices_the_trace_names)
{
    const char *out = path_of("out.db");
    struct gt_import_options opts = {.alloc_conf = "expandable_segments:True",
                                     .device_name = "NVIDIA RTX 4090",
                                     .device_memory = 25769803776ULL};
    char err[256] = "";

    ck_assert_msg(gt_import_chrome(DATA "two-devices.json", out, &opts, NULL, err, sizeof err) ==
                      GT_OK,
                  "%s", err);
    expect_device(out, 0, "NVIDIA RTX 4090", 25769803776ULL);
    expect_device(out, 1, "NVIDIA RTX 4090", 25769803776ULL);
    expect_meta(out, "alloc_conf", "expandable_segments:True");
}
END_TEST

START_TEST(a_device_without_properties_gets_no_device_row)
{
    const char *out = path_of("out.db");
    struct gt_trace_reader *r;
    char err[256] = "", name[64];
    uint64_t mem;

    ck_assert_msg(gt_import_chrome(DATA "unordered.json", out, NULL, NULL, err, sizeof err) ==
                      GT_OK,
                  "%s", err);
    ck_assert_int_eq(gt_trace_open(out, &r, err, sizeof err), GT_OK);
    ck_assert_int_eq(gt_trace_device(r, 0, name, sizeof name, &mem), GT_ENOENT);
    gt_trace_close(r);
}
END_TEST

START_TEST(a_truncated_gzip_trace_is_corrupt_and_leaves_nothing)
{
    expect_failure(DATA "truncated.json.gz", GT_ECORRUPT, "the gzip stream ends early after ",
                   true);
}
END_TEST

START_TEST(truncated_or_damaged_json_names_the_byte_offset)
{
    static const char cut[] = "{\"traceEvents\": [{\"name\": \"[memory]\", \"ts\": 1";
    static const char bad[] = "{\"traceEvents\": [}";
    static const char tail[] = "{\"traceEvents\": []} {}";

    expect_failure(write_file("cut.json", cut, strlen(cut)), GT_ECORRUPT,
                   "the JSON ends early at byte 45 (truncated file?)", false);
    expect_failure(write_file("bad.json", bad, strlen(bad)), GT_ECORRUPT,
                   "invalid JSON at byte 17: ", true);
    expect_failure(write_file("tail.json", tail, strlen(tail)), GT_ECORRUPT,
                   "unexpected data after the JSON document at byte 20", false);
}
END_TEST

/* JSON's leniencies are errors, not guesses about what the writer meant. */
START_TEST(json_that_is_not_strict_json_is_an_error)
{
    static const char comma[] = "{\"traceEvents\": [], }";
    static const char comment[] = "{\"traceEvents\": [] /* note */}";
    static const char utf8[] = "{\"traceEvents\": [], \"x\": \"\xff\xfe\"}";

    expect_failure(write_file("comma.json", comma, strlen(comma)), GT_ECORRUPT,
                   "invalid JSON at byte ", true);
    expect_failure(write_file("comment.json", comment, strlen(comment)), GT_ECORRUPT,
                   "invalid JSON at byte ", true);
    expect_failure(write_file("utf8.json", utf8, strlen(utf8)), GT_ECORRUPT,
                   "invalid JSON at byte ", true);
}
END_TEST

START_TEST(json_without_trace_events_or_not_json_at_all_is_foreign)
{
    static const char list[] = "[{\"name\": \"[memory]\"}]";
    static const char events_not_list[] = "{\"traceEvents\": {}}";

    expect_failure(DATA "no-trace-events.json", GT_EFOREIGN,
                   "not a chrome trace: no 'traceEvents' list", false);
    expect_failure(DATA "not-json.json", GT_EFOREIGN,
                   "not a chrome trace: the file is not a JSON object", false);
    expect_failure(write_file("list.json", list, strlen(list)), GT_EFOREIGN,
                   "not a chrome trace: the file is not a JSON object", false);
    expect_failure(write_file("obj.json", events_not_list, strlen(events_not_list)), GT_EFOREIGN,
                   "not a chrome trace: no 'traceEvents' list", false);
    expect_failure(write_file("empty.json", "\n \n", 3), GT_EFOREIGN,
                   "not a chrome trace: the file is empty", false);
}
END_TEST

START_TEST(a_profile_without_memory_events_names_profile_memory)
{
    static const char ops[] = "{\"traceEvents\": [{\"name\": \"aten::mm\", \"ph\": \"X\", "
                              "\"ts\": 1, \"dur\": 2, \"pid\": 1, \"tid\": 1}]}";

    expect_failure(write_file("ops.json", ops, strlen(ops)), GT_EINVAL,
                   "no CUDA [memory] events: the profile was recorded without "
                   "profile_memory=True (torch.profiler.profile(..., profile_memory=True))",
                   false);
}
END_TEST

/* A CUDA [memory] event after one unrelated event (so it is event 1), with
 * args replaced by the given text. */
static const char *one_event(const char *ts, const char *args)
{
    static char text[1024];

    snprintf(text, sizeof text,
             "{\"traceEvents\": [{\"name\": \"aten::mm\", \"ph\": \"X\", \"ts\": 0},"
             " {\"name\": \"[memory]\", \"ph\": \"i\", \"ts\": %s, \"args\": {%s}}]}",
             ts, args);
    return write_file("event.json", text, strlen(text));
}

#define GOOD_ARGS_BUT(x)                                                                           \
    "\"Device Type\": 1, \"Ev Idx\": 3, \"Total Allocated\": 512, \"Total Reserved\": 2097152" x

START_TEST(each_bad_field_of_a_cuda_memory_event_is_an_error_naming_the_event)
{
    static const struct {
        const char *ts, *args, *msg;
    } cases[] = {
        {"1", GOOD_ARGS_BUT(", \"Device Id\": 0, \"Addr\": 4096, \"Bytes\": \"512\""),
         "event 1: 'Bytes' is not a number"},
        {"1", GOOD_ARGS_BUT(", \"Device Id\": 0, \"Addr\": 4096, \"Bytes\": 512.5"),
         "event 1: 'Bytes' is not an integer"},
        {"1", GOOD_ARGS_BUT(", \"Device Id\": 0, \"Addr\": 4096"), "event 1: 'Bytes' is missing"},
        {"1", GOOD_ARGS_BUT(", \"Device Id\": 0, \"Addr\": 4096, \"Bytes\": 0"),
         "event 1: 'Bytes' is 0, neither an allocation nor a free"},
        {"1", GOOD_ARGS_BUT(", \"Device Id\": 0, \"Bytes\": 512"), "event 1: 'Addr' is missing"},
        {"1", GOOD_ARGS_BUT(", \"Device Id\": 0, \"Addr\": null, \"Bytes\": 512"),
         "event 1: 'Addr' is missing"},
        {"1", GOOD_ARGS_BUT(", \"Device Id\": 0, \"Addr\": -4096, \"Bytes\": 512"),
         "event 1: 'Addr' -4096 is negative"},
        {"1", GOOD_ARGS_BUT(", \"Addr\": 4096, \"Bytes\": 512"), "event 1: 'Device Id' is missing"},
        {"1", GOOD_ARGS_BUT(", \"Device Id\": -1, \"Addr\": 4096, \"Bytes\": 512"),
         "event 1: 'Device Id' -1 is out of range"},
        {"1", GOOD_ARGS_BUT(", \"Device Id\": 4294967296, \"Addr\": 4096, \"Bytes\": 512"),
         "event 1: 'Device Id' 4294967296 is out of range"},
        {"\"1\"", GOOD_ARGS_BUT(", \"Device Id\": 0, \"Addr\": 4096, \"Bytes\": 512"),
         "event 1: 'ts' is not a number"},
        {"1e300", GOOD_ARGS_BUT(", \"Device Id\": 0, \"Addr\": 4096, \"Bytes\": 512"),
         "event 1: 'ts' is out of range"},
        {"1",
         GOOD_ARGS_BUT(", \"Device Id\": 0, \"Addr\": 4096, \"Bytes\": 512, \"Stream\": \"s\""),
         "event 1: 'Stream' is not a number"},
        {"1",
         "\"Device Type\": 1, \"Ev Idx\": \"3\", \"Device Id\": 0, \"Addr\": 4096, \"Bytes\": 512",
         "event 1: 'Ev Idx' is not a number"},
        {"1",
         "\"Device Type\": 1, \"Total Allocated\": 512, \"Device Id\": 0, \"Addr\": 4096, "
         "\"Bytes\": 512",
         "event 1: 'Total Reserved' is missing (the event has 'Total Allocated')"},
        {"1",
         "\"Device Type\": 1, \"Total Reserved\": 512, \"Total Allocated\": [], \"Device Id\": 0, "
         "\"Addr\": 4096, \"Bytes\": 512",
         "event 1: 'Total Allocated' is not a number"},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_failure(one_event(cases[i].ts, cases[i].args), GT_EINVAL, cases[i].msg, false);
}
END_TEST

START_TEST(other_events_are_skipped_however_they_are_shaped)
{
    const char *out = path_of("out.db");
    struct gt_import_summary sum;
    char err[256] = "";
    /* CPU memory with junk, an args list, a name that is not a string, a
     * device type that is not a number, a bare number: none is CUDA memory. */
    static const char text[] =
        "\xef\xbb\xbf \n{\"traceEvents\": ["
        "{\"name\": \"[memory]\", \"ts\": \"x\", \"args\": {\"Device Type\": 0, \"Bytes\": {}}},"
        "{\"name\": \"[memory]\", \"args\": [1, 2]},"
        "{\"name\": 5, \"args\": {\"Device Type\": 1}},"
        "{\"name\": \"[memory]\", \"args\": {\"Device Type\": \"1\", \"Bytes\": \"x\"}},"
        "{\"name\": \"[memory]x\", \"args\": {\"Device Type\": 1}},"
        "7, null, \"[memory]\","
        "{\"name\": \"[memory]\", \"ph\": \"i\", \"ts\": 1, \"args\": {\"Addr\": 4096, "
        "\"Bytes\": 512, \"Device Id\": 0, " GOOD_ARGS_BUT("") "}}]}\n";

    ck_assert_msg(gt_import_chrome(write_file("skip.json", text, strlen(text)), out, NULL, &sum,
                                   err, sizeof err) == GT_OK,
                  "%s", err);
    ck_assert_int_eq(sum.rows, 9);
    ck_assert_int_eq(sum.events, 1); /* only the last one */
    ck_assert(exists(out));
}
END_TEST

START_TEST(an_existing_output_is_never_overwritten_or_removed)
{
    const char *out = write_file("out.db", "keep", 4);
    char err[256] = "", buf[8] = "";
    FILE *f;

    ck_assert_int_eq(gt_import_chrome(DATA "two-devices.json", out, NULL, NULL, err, sizeof err),
                     GT_EIO);
    f = fopen(out, "rb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fread(buf, 1, sizeof buf, f), 4);
    fclose(f);
    ck_assert_str_eq(buf, "keep");
}
END_TEST

START_TEST(a_missing_trace_is_reported_as_missing)
{
    char err[256] = "";

    ck_assert_int_eq(gt_import_chrome(path_of("nothere.json.gz"), path_of("out.db"), NULL, NULL,
                                      err, sizeof err),
                     GT_ENOENT);
    ck_assert_ptr_nonnull(strstr(err, "nothere.json.gz"));
    ck_assert(!exists(path_of("out.db")));
}
END_TEST

/* Leniencies json-c's strict mode still let through, now errors. */
START_TEST(single_quotes_nan_and_infinity_are_errors)
{
    static const char quotes[] = "{\"traceEvents\": [{'name': '[memory]'}]}";
    static const char nan[] = "{\"traceEvents\": [{\"ts\": NaN}]}";
    static const char inf[] = "{\"traceEvents\": [{\"ts\": -Infinity}]}";

    expect_failure(write_file("q.json", quotes, strlen(quotes)), GT_ECORRUPT,
                   "invalid JSON at byte 18: single quotes are not JSON", false);
    expect_failure(write_file("nan.json", nan, strlen(nan)), GT_ECORRUPT,
                   "invalid JSON at byte 24: NaN and Infinity are not JSON", false);
    expect_failure(write_file("inf.json", inf, strlen(inf)), GT_ECORRUPT,
                   "invalid JSON at byte 24: NaN and Infinity are not JSON", false);
}
END_TEST

/* json-c clamped integers beyond 64 bits to the limits: a silently wrong
 * address or size. Now a used field says it is out of range; one nobody
 * reads is valid JSON and left alone. */
START_TEST(integers_beyond_64_bits_in_a_used_field_are_out_of_range)
{
    static const struct {
        const char *args, *msg;
    } cases[] = {
        {GOOD_ARGS_BUT(", \"Device Id\": 0, \"Addr\": 18446744073709551616, \"Bytes\": 512"),
         "event 1: 'Addr' is out of range"},
        {GOOD_ARGS_BUT(", \"Device Id\": 0, \"Addr\": 4096, \"Bytes\": 9223372036854775808"),
         "event 1: 'Bytes' is out of range"},
        {GOOD_ARGS_BUT(", \"Device Id\": 0, \"Addr\": 4096, \"Bytes\": -99999999999999999999"),
         "event 1: 'Bytes' is out of range"},
    };
    const char *out = path_of("out.db");
    struct gt_event *ev;
    size_t n;
    char err[256] = "";

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_failure(one_event("1", cases[i].args), GT_EINVAL, cases[i].msg, false);
    /* The largest address there is, and a huge number in an unused arg. */
    ck_assert_msg(gt_import_chrome(one_event("1", GOOD_ARGS_BUT(", \"Device Id\": 0, \"Addr\": "
                                                                "18446744073709551615, \"Bytes\": "
                                                                "512, \"Seq\": 1e999999, \"Ext\": "
                                                                "123456789012345678901234567890")),
                                   out, NULL, NULL, err, sizeof err) == GT_OK,
                  "%s", err);
    ev = read_all(out, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(ev[0].addr, UINT64_MAX);
    free(ev);
}
END_TEST

/* Writes text gzipped, as members members of about equal length after each
 * other, then tail. */
static const char *write_gzip(const char *name, const char *text, size_t len, int members,
                              const char *tail, size_t tail_len)
{
    const char *p = path_of(name);
    FILE *f = fopen(p, "wb");
    size_t step = len / (size_t)members + 1;

    ck_assert_ptr_nonnull(f);
    for (size_t at = 0; at < len; at += step) {
        size_t n = len - at < step ? len - at : step;
        uLongf cap = compressBound((uLong)n) + 64;
        Bytef *z = malloc(cap);
        z_stream zs = {0};

        ck_assert_int_eq(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
                         Z_OK);
        zs.next_in = (Bytef *)(text + at);
        zs.avail_in = (uInt)n;
        zs.next_out = z;
        zs.avail_out = (uInt)cap;
        ck_assert_int_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
        ck_assert_uint_eq(fwrite(z, 1, zs.total_out, f), zs.total_out);
        deflateEnd(&zs);
        free(z);
    }
    ck_assert_uint_eq(fwrite(tail, 1, tail_len, f), tail_len);
    ck_assert_int_eq(fclose(f), 0);
    return p;
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *text = malloc(1 << 16);

    ck_assert_ptr_nonnull(f);
    *len = fread(text, 1, 1 << 16, f);
    ck_assert(feof(f));
    fclose(f);
    return text;
}

START_TEST(gzip_members_one_after_another_import_as_one_text)
{
    size_t len;
    char *text = slurp(DATA "two-devices.json", &len);

    /* check_two_devices compares the source path too, so keep the name. */
    check_two_devices(write_gzip("members.json.gz", text, len, 3, "", 0));
    free(text);
}
END_TEST

/* zlib's gzread stops quietly at bytes after a member that are not another
 * member; those bytes could be the rest of the trace. */
START_TEST(data_after_the_gzip_stream_is_an_error)
{
    size_t len;
    char *text = slurp(DATA "two-devices.json", &len);
    static const char zeros[16];
    const char *p;

    p = write_gzip("junk.json.gz", text, len, 1, "junk", 4);
    expect_failure(p, GT_ECORRUPT, "unexpected data after the gzip stream at byte ", true);
    p = write_gzip("zeros.json.gz", text, len, 2, zeros, sizeof zeros);
    expect_failure(p, GT_ECORRUPT, "unexpected data after the gzip stream at byte ", true);
    /* Half a magic number is no member either. */
    p = write_gzip("half.json.gz", text, len, 1, "\x1f", 1);
    expect_failure(p, GT_ECORRUPT, "unexpected data after the gzip stream at byte ", true);
    free(text);
}
END_TEST

/* A small .json.gz of a big document: one event holding a 64 MiB string,
 * then 64 events of 1 MiB each, then one CUDA [memory] event. The reader
 * streams it, so the import grows by far less than the text. */
START_TEST(memory_stays_bounded_by_the_selected_events_not_the_document)
{
    static const char head[] = "{\"traceEvents\": [{\"name\": \"big\", \"args\": {\"s\": \"";
    static const char mid[] = "\"}}";
    static const char one[] = ", {\"name\": \"mid\", \"args\": {\"s\": \"";
    char tail[512];
    const char *p = path_of("bomb.json.gz");
    const char *out = path_of("out.db");
    size_t mib = (size_t)1 << 20;
    char *fill = malloc(mib), err[256] = "";
    struct rusage before, after;
    struct gt_import_summary sum;
    gzFile gz = gzopen(p, "wb1");

    ck_assert_ptr_nonnull(gz);
    memset(fill, 'a', mib);
    ck_assert_int_gt(gzwrite(gz, head, sizeof head - 1), 0);
    for (int i = 0; i < 64; i++)
        ck_assert_int_gt(gzwrite(gz, fill, (unsigned)mib), 0);
    ck_assert_int_gt(gzwrite(gz, mid, sizeof mid - 1), 0);
    for (int i = 0; i < 64; i++) {
        ck_assert_int_gt(gzwrite(gz, one, sizeof one - 1), 0);
        ck_assert_int_gt(gzwrite(gz, fill, (unsigned)mib), 0);
        ck_assert_int_gt(gzwrite(gz, mid, sizeof mid - 1), 0);
    }
    snprintf(tail, sizeof tail,
             ", {\"name\": \"[memory]\", \"ph\": \"i\", \"ts\": 1, \"args\": {\"Addr\": 4096, "
             "\"Bytes\": 512, \"Device Id\": 0, %s}}]}",
             GOOD_ARGS_BUT(""));
    ck_assert_int_gt(gzwrite(gz, tail, (unsigned)strlen(tail)), 0);
    ck_assert_int_eq(gzclose(gz), Z_OK);
    free(fill);

    ck_assert_int_eq(getrusage(RUSAGE_SELF, &before), 0);
    ck_assert_msg(gt_import_chrome(p, out, NULL, &sum, err, sizeof err) == GT_OK, "%s", err);
    ck_assert_int_eq(getrusage(RUSAGE_SELF, &after), 0);
    ck_assert_int_eq(sum.rows, 66);
    ck_assert_int_eq(sum.events, 1);
    /* ru_maxrss is in KiB: 128 MiB of text, under 16 MiB of growth. */
    ck_assert_msg(after.ru_maxrss - before.ru_maxrss < 16 * 1024,
                  "the import grew by %ld KiB for 128 MiB of text",
                  after.ru_maxrss - before.ru_maxrss);
}
END_TEST

/* A repeated key: the last one counts, as in Python's json module. Device
 * names are decoded. */
START_TEST(the_last_of_a_repeated_key_counts_and_names_are_decoded)
{
    static const char text[] =
        "{\"deviceProperties\": [{\"id\": 0, \"name\": \"x\", \"totalGlobalMem\": 1}],"
        " \"traceEvents\": [{\"name\": \"[memory]\", \"ts\": 1, \"args\": {\"Device Type\": 1,"
        " \"Device Id\": 0, \"Addr\": 1, \"Bytes\": 512}}],"
        " \"traceEvents\": [{\"name\": \"[memory]\", \"ts\": 1, \"args\": {\"Device Type\": 1,"
        " \"Device Id\": 0, \"Addr\": 8192, \"Bytes\": 512, \"Bytes\": 1024}}],"
        " \"deviceProperties\": [{\"id\": 0, \"name\": \"NVIDIA \\u0048100\","
        " \"totalGlobalMem\": 1, \"totalGlobalMem\": 85018279936}]}";
    const char *out = path_of("out.db");
    struct gt_event *ev;
    size_t n;
    char err[256] = "";

    ck_assert_msg(gt_import_chrome(write_file("dup.json", text, strlen(text)), out, NULL, NULL, err,
                                   sizeof err) == GT_OK,
                  "%s", err);
    ev = read_all(out, &n);
    ck_assert_uint_eq(n, 1);
    ck_assert_uint_eq(ev[0].addr, 8192);
    ck_assert_uint_eq(ev[0].size, 1024);
    free(ev);
    expect_device(out, 0, "NVIDIA H100", H100_MEMORY);
}
END_TEST

/* ------------------------------------------------------------ real traces */

static const struct {
    const char *file;
    size_t events, allocs, frees;
} real[] = {
    {"chrome-bert-small-h100-infer/gaunernst_bert-small-uncased__1016001.json.gz", 218, 109, 109},
    {"chrome-qwen1.5-0.5b-h100-infer/Qwen_Qwen1.5-0.5B-Chat__1016005.json.gz", 2250, 1125, 1125},
    {"chrome-timesformer-h100-infer/facebook_timesformer-base-finetuned-k400__1016002.json.gz",
     1206, 603, 603},
};

/* What validate will check: the totals before the first event (its Total
 * Allocated less its Bytes) plus the running sum of Bytes equal Total
 * Allocated after every event. These traces have one device. */
START_TEST(the_real_profiler_traces_import_and_their_bytes_add_up_to_total_allocated)
{
    char in[PATH_MAX + 200], err[256] = "";
    const char *out = path_of("real.db");
    struct gt_import_summary sum;
    struct gt_event *ev;
    struct totals t;
    size_t n, matched = 0;
    int64_t running;

    snprintf(in, sizeof in, "%s/%s", GT_SHARED_TRACES, real[_i].file);
    ck_assert_msg(gt_import_chrome(in, out, NULL, &sum, err, sizeof err) == GT_OK, "%s", err);
    ck_assert_int_eq(sum.events, real[_i].events);
    ck_assert_int_eq(sum.by_kind[GT_EV_ALLOC], real[_i].allocs);
    ck_assert_int_eq(sum.by_kind[GT_EV_FREE], real[_i].frees);
    expect_device(out, 0, H100_NAME, H100_MEMORY);

    ev = read_all(out, &n);
    read_totals(out, &t);
    ck_assert_uint_eq(n, real[_i].events);
    ck_assert_uint_eq(t.n, n);
    ck_assert_int_eq(ev[0].ts_ns, 0);
    running = t.allocated[0] - (int64_t)ev[0].size;
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(ev[i].device, 0);
        ck_assert_uint_eq(ev[i].size % 512, 0);
        if (i > 0)
            ck_assert_int_ge(ev[i].ts_ns, ev[i - 1].ts_ns);
        running += ev[i].kind == GT_EV_ALLOC ? (int64_t)ev[i].size : -(int64_t)ev[i].size;
        ck_assert_int_eq(t.seq[i], ev[i].seq);
        if (running == t.allocated[i])
            matched++;
    }
    ck_assert_msg(matched == n, "%s: the running sum matches Total Allocated at %zu of %zu events",
                  real[_i].file, matched, n);
    free_totals(&t);
    free(ev);
    unlink(out);
}
END_TEST

static Suite *import_chrome_suite(void)
{
    Suite *s = suite_create("import_chrome");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, make_dir, remove_dir);
    tcase_add_test(tc, cuda_memory_events_of_two_devices_become_allocs_and_frees);
    tcase_add_test(tc, a_gzipped_trace_imports_the_same_as_the_plain_one);
    tcase_add_test(tc, events_are_ordered_by_ts_then_ev_idx_then_file_position);
    tcase_add_test(tc, the_running_sum_of_bytes_reproduces_total_allocated_after_the_round_trip);
    tcase_add_test(tc, import_options_override_the_devices_the_trace_names);
    tcase_add_test(tc, a_device_without_properties_gets_no_device_row);
    tcase_add_test(tc, a_truncated_gzip_trace_is_corrupt_and_leaves_nothing);
    tcase_add_test(tc, truncated_or_damaged_json_names_the_byte_offset);
    tcase_add_test(tc, json_without_trace_events_or_not_json_at_all_is_foreign);
    tcase_add_test(tc, a_profile_without_memory_events_names_profile_memory);
    tcase_add_test(tc, json_that_is_not_strict_json_is_an_error);
    tcase_add_test(tc, each_bad_field_of_a_cuda_memory_event_is_an_error_naming_the_event);
    tcase_add_test(tc, other_events_are_skipped_however_they_are_shaped);
    tcase_add_test(tc, an_existing_output_is_never_overwritten_or_removed);
    tcase_add_test(tc, a_missing_trace_is_reported_as_missing);
    tcase_add_test(tc, single_quotes_nan_and_infinity_are_errors);
    tcase_add_test(tc, integers_beyond_64_bits_in_a_used_field_are_out_of_range);
    tcase_add_test(tc, gzip_members_one_after_another_import_as_one_text);
    tcase_add_test(tc, data_after_the_gzip_stream_is_an_error);
    tcase_add_test(tc, memory_stays_bounded_by_the_selected_events_not_the_document);
    tcase_add_test(tc, the_last_of_a_repeated_key_counts_and_names_are_decoded);
    suite_add_tcase(s, tc);
    return s;
}

/* The real profiler traces of ../shared (test_import_chrome --shared). */
static Suite *import_chrome_shared_suite(void)
{
    Suite *s = suite_create("import_chrome_shared");
    TCase *tc = tcase_create("shared traces");

    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, make_dir, remove_dir);
    tcase_add_loop_test(tc,
                        the_real_profiler_traces_import_and_their_bytes_add_up_to_total_allocated,
                        0, (int)(sizeof real / sizeof real[0]));
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    return shared_main(argc, argv, import_chrome_suite, import_chrome_shared_suite);
}
