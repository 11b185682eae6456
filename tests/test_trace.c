/* Tests of trace.h: real trace files in a temporary directory, damaged and
 * foreign files made with the sqlite3 API, no mocks. */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "gputrace/err.h"
#include "gputrace/schema.h"
#include "gputrace/trace.h"
#include "trace_int.h"

#include "gputrace/banned.h"

#include "test_tmpdir.h"

/* A deterministic event for position i; every field differs between
 * events, and addresses and streams use the top bit. */
static struct gt_event event_at(int64_t i)
{
    struct gt_event e = {0};

    e.ts_ns = 1795746955987757000LL + i * 1000;
    e.pid = 4000 + (i % 3);
    e.tid = 5000 + (i % 7);
    e.device = (int32_t)(i % 4);
    e.kind = (int32_t)(1 + i % GT_EV_KIND_MAX);
    e.result = (int32_t)(i % 5 == 0 ? 2 : 0);
    e.stream = (i % 2) ? UINT64_MAX - (uint64_t)i : (uint64_t)i;
    e.addr = ((uint64_t)1 << 63) + (uint64_t)i * 512;
    e.size = (uint64_t)i * 4096 + 1;
    e.requested = (uint64_t)i * 4000;
    return e;
}

static void write_trace(const char *path, int64_t n)
{
    struct gt_trace_writer *w = NULL;
    char err[256] = "";
    int rc = gt_trace_create(path, &w, err, sizeof err);

    ck_assert_msg(rc == GT_OK, "create: %s", err);
    ck_assert_int_eq(gt_trace_set_meta(w, "tool_version", "test"), GT_OK);
    for (int64_t i = 0; i < n; i++) {
        struct gt_event e = event_at(i);
        if (gt_trace_append(w, &e) != GT_OK)
            ck_abort_msg("append %lld: %s", (long long)i, gt_trace_writer_errmsg(w));
    }
    ck_assert_int_eq(gt_trace_writer_close(w), GT_OK);
}

static struct gt_trace_reader *open_ok(const char *path)
{
    struct gt_trace_reader *r = NULL;
    char err[256] = "";
    int rc = gt_trace_open(path, &r, err, sizeof err);

    ck_assert_msg(rc == GT_OK, "open %s: %s", path, err);
    return r;
}

static int open_err(const char *path, char *err, size_t errlen)
{
    struct gt_trace_reader *r = (struct gt_trace_reader *)&r; /* must become NULL */
    int rc = gt_trace_open(path, &r, err, errlen);

    ck_assert_ptr_null(r);
    return rc;
}

static void copy_file(const char *from, const char *to)
{
    char buf[65536];
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    size_t n;

    ck_assert_ptr_nonnull(in);
    ck_assert_ptr_nonnull(out);
    while ((n = fread(buf, 1, sizeof buf, in)) > 0)
        ck_assert_uint_eq(fwrite(buf, 1, n, out), n);
    fclose(in);
    ck_assert_int_eq(fclose(out), 0);
}

static void write_bytes(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");

    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(data, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

static void exec_sql(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    char *msg = NULL;

    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_msg(sqlite3_exec(db, sql, NULL, NULL, &msg) == SQLITE_OK, "%s: %s", sql, msg);
    sqlite3_free(msg);
    ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
}

/* A format v1 copy (one row per event) of the v2 trace at from: the v1
 * tables the reader needs, the events read back through gt_trace_read. */
static void make_v1(const char *from, const char *to)
{
    struct gt_trace_reader *r = NULL;
    struct gt_event ev[64];
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char err[256] = "", sql[512];
    size_t n;

    snprintf(sql, sizeof sql,
             "PRAGMA application_id = %d; PRAGMA user_version = 1;"
             "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
             "CREATE TABLE devices(device INTEGER PRIMARY KEY, name TEXT NOT NULL,"
             " total_memory INTEGER NOT NULL);",
             GT_SCHEMA_APPLICATION_ID);
    exec_sql(to, sql);
    exec_sql(to, GT_SCHEMA_SQL_V1_EVENTS);
    ck_assert_msg(gt_trace_open(from, &r, err, sizeof err) == GT_OK, "%s", err);
    ck_assert_int_eq(sqlite3_open(to, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_exec(db, "BEGIN", NULL, NULL, NULL), SQLITE_OK);
    ck_assert_int_eq(
        sqlite3_prepare_v2(db, "INSERT INTO events VALUES(?,?,?,?,?,?,?,?,?,?,?)", -1, &st, NULL),
        SQLITE_OK);
    while (gt_trace_read(r, ev, 64, &n) == GT_OK && n > 0) {
        for (size_t i = 0; i < n; i++) {
            const int64_t v[11] = {ev[i].seq,           ev[i].ts_ns,
                                   ev[i].pid,           ev[i].tid,
                                   ev[i].device,        (int64_t)ev[i].stream,
                                   ev[i].kind,          (int64_t)ev[i].addr,
                                   (int64_t)ev[i].size, (int64_t)ev[i].requested,
                                   ev[i].result};
            for (int k = 0; k < 11; k++)
                sqlite3_bind_int64(st, k + 1, v[k]);
            ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
            sqlite3_reset(st);
        }
    }
    sqlite3_finalize(st);
    ck_assert_int_eq(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    gt_trace_close(r);
}

static bool same_event(const struct gt_event *a, const struct gt_event *b)
{
    return a->ts_ns == b->ts_ns && a->pid == b->pid && a->tid == b->tid && a->device == b->device &&
           a->kind == b->kind && a->result == b->result && a->stream == b->stream &&
           a->addr == b->addr && a->size == b->size && a->requested == b->requested;
}

static void assert_same_event(const struct gt_event *a, const struct gt_event *b)
{
    ck_assert_int_eq(a->ts_ns, b->ts_ns);
    ck_assert_int_eq(a->pid, b->pid);
    ck_assert_int_eq(a->tid, b->tid);
    ck_assert_int_eq(a->device, b->device);
    ck_assert_int_eq(a->kind, b->kind);
    ck_assert_int_eq(a->result, b->result);
    ck_assert_uint_eq(a->stream, b->stream);
    ck_assert_uint_eq(a->addr, b->addr);
    ck_assert_uint_eq(a->size, b->size);
    ck_assert_uint_eq(a->requested, b->requested);
}

/* Reads on to the end with a buffer of cap events, the events before
 * already read: checks seq is from + 1, from + 2, ... and every event
 * equals event_at. Returns the count read here; *rc the last result. */
static int64_t read_on_checked(struct gt_trace_reader *r, size_t cap, int64_t from, int *rc_out)
{
    struct gt_event buf[64];
    int64_t count = from;
    size_t n;
    int rc;

    ck_assert_uint_le(cap, 64);
    while ((rc = gt_trace_read(r, buf, cap, &n)) == GT_OK && n > 0) {
        for (size_t i = 0; i < n; i++) {
            struct gt_event want = event_at(count);
            /* Check's assertions cost a write to a pipe each: compare here
             * and let assert_same_event name the field only on a mismatch. */
            if (buf[i].seq != count + 1 || !same_event(&buf[i], &want)) {
                ck_assert_int_eq(buf[i].seq, count + 1);
                assert_same_event(&buf[i], &want);
            }
            count++;
        }
    }
    *rc_out = rc;
    return count - from;
}

/* Reads everything with a buffer of cap events; checks seq is 1, 2, 3, ...
 * and every event equals event_at. Returns the count; *rc the last result. */
static int64_t read_all_checked(struct gt_trace_reader *r, size_t cap, int *rc_out)
{
    return read_on_checked(r, cap, 0, rc_out);
}

START_TEST(every_field_round_trips_including_addresses_above_2_63)
{
    const char *p = path_of("t.db");
    struct gt_trace_reader *r;
    struct gt_trace_writer *w;
    struct gt_event e = event_at(3), got[4];
    char err[256];
    size_t n;

    ck_assert_int_eq(gt_trace_create(p, &w, err, sizeof err), GT_OK);
    e.addr = UINT64_MAX;
    e.size = ((uint64_t)1 << 63) + 5;
    e.requested = UINT64_MAX - 1;
    e.stream = (uint64_t)1 << 63;
    e.ts_ns = INT64_MAX;
    e.pid = INT64_MIN;
    e.tid = -1;
    e.device = INT32_MAX;
    e.result = INT32_MIN;
    e.seq = 777; /* ignored: the writer assigns seq */
    ck_assert_int_eq(gt_trace_append(w, &e), GT_OK);
    ck_assert_int_eq(gt_trace_writer_close(w), GT_OK);

    r = open_ok(p);
    ck_assert_int_eq(gt_trace_read(r, got, 4, &n), GT_OK);
    ck_assert_uint_eq(n, 1);
    ck_assert_int_eq(got[0].seq, 1);
    assert_same_event(&got[0], &e);
    ck_assert_int_eq(gt_trace_read(r, got, 4, &n), GT_OK);
    ck_assert_uint_eq(n, 0);
    gt_trace_close(r);
}
END_TEST

START_TEST(a_new_trace_is_readable_by_its_owner_only)
{
    const char *p = path_of("t.db");
    struct stat st;
    mode_t old = umask(0);

    write_trace(p, 10);
    umask(old);
    ck_assert_int_eq(stat(p, &st), 0);
    ck_assert_int_eq(st.st_mode & 07777, 0600);
}
END_TEST

START_TEST(create_refuses_an_existing_path_and_leaves_the_file_alone)
{
    const char *p = path_of("t.db");
    struct gt_trace_writer *w = (struct gt_trace_writer *)&w;
    char err[256] = "";
    struct stat st;

    write_bytes(p, "keep me", 7);
    ck_assert_int_eq(gt_trace_create(p, &w, err, sizeof err), GT_EIO);
    ck_assert_ptr_null(w);
    ck_assert_ptr_nonnull(strstr(err, "already exists"));
    ck_assert_int_eq(stat(p, &st), 0);
    ck_assert_int_eq(st.st_size, 7);
}
END_TEST

START_TEST(the_file_carries_gpu_trace_ids_and_the_kinds_table)
{
    const char *p = path_of("t.db");
    sqlite3 *db;
    sqlite3_stmt *st;

    write_trace(p, 1);
    ck_assert_int_eq(sqlite3_open_v2(p, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA application_id", -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_int64(st, 0), GT_SCHEMA_APPLICATION_ID);
    sqlite3_finalize(st);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_int64(st, 0), GT_SCHEMA_VERSION);
    sqlite3_finalize(st);
    ck_assert_int_eq(
        sqlite3_prepare_v2(db, "SELECT kind, name FROM kinds ORDER BY kind", -1, &st, NULL),
        SQLITE_OK);
    for (int k = 1; k <= GT_EV_KIND_MAX; k++) {
        ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
        ck_assert_int_eq(sqlite3_column_int(st, 0), k);
        ck_assert_str_eq((const char *)sqlite3_column_text(st, 1), gt_trace_kind_name(k));
    }
    ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);
    /* One file at rest: no journal, no WAL left next to it. */
    ck_assert_int_ne(access(path_of("t.db-journal"), F_OK), 0);
    ck_assert_int_ne(access(path_of("t.db-wal"), F_OK), 0);
}
END_TEST

START_TEST(metadata_devices_and_processes_round_trip)
{
    const char *p = path_of("t.db");
    struct gt_trace_writer *w;
    struct gt_trace_reader *r;
    char err[256], buf[64], small[4];
    uint64_t mem = 0;
    sqlite3 *db;
    sqlite3_stmt *st;

    ck_assert_int_eq(gt_trace_create(p, &w, err, sizeof err), GT_OK);
    ck_assert_int_eq(gt_trace_set_meta(w, "host", "node1"), GT_OK);
    ck_assert_int_eq(gt_trace_set_meta(w, "command_line", "python train.py"), GT_OK);
    ck_assert_int_eq(gt_trace_set_meta(w, "host", "node2"), GT_OK); /* last value wins */
    ck_assert_int_eq(gt_trace_add_device(w, 0, "NVIDIA H100 80GB HBM3", 85045231616ULL), GT_OK);
    ck_assert_int_eq(gt_trace_add_device(w, 3, "big", UINT64_MAX), GT_OK);
    ck_assert_int_eq(gt_trace_add_process(w, 1234, 0, "python train.py"), GT_OK);
    ck_assert_int_eq(gt_trace_add_process(w, 1235, 1, NULL), GT_OK);
    ck_assert_int_eq(gt_trace_writer_close(w), GT_OK);

    r = open_ok(p);
    ck_assert_int_eq(gt_trace_meta(r, "host", buf, sizeof buf), GT_OK);
    ck_assert_str_eq(buf, "node2");
    ck_assert_int_eq(gt_trace_meta(r, "command_line", buf, sizeof buf), GT_OK);
    ck_assert_str_eq(buf, "python train.py");
    ck_assert_int_eq(gt_trace_meta(r, "nope", buf, sizeof buf), GT_ENOENT);
    ck_assert_int_eq(gt_trace_meta(r, "command_line", small, sizeof small), GT_ERANGE);
    ck_assert_str_eq(small, "pyt");
    ck_assert_int_eq(gt_trace_device(r, 0, buf, sizeof buf, &mem), GT_OK);
    ck_assert_str_eq(buf, "NVIDIA H100 80GB HBM3");
    ck_assert_uint_eq(mem, 85045231616ULL);
    ck_assert_int_eq(gt_trace_device(r, 3, NULL, 0, &mem), GT_OK);
    ck_assert_uint_eq(mem, UINT64_MAX);
    ck_assert_int_eq(gt_trace_device(r, 1, buf, sizeof buf, &mem), GT_ENOENT);
    gt_trace_close(r);

    /* No reader API for processes yet; they are for people and later tools. */
    ck_assert_int_eq(sqlite3_open_v2(p, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT pid, rank, command FROM processes ORDER BY pid",
                                        -1, &st, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_int64(st, 0), 1234);
    ck_assert_int_eq(sqlite3_column_int64(st, 1), 0);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 2), "python train.py");
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_int64(st, 1), 1);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 2), "");
    sqlite3_finalize(st);
    sqlite3_close(db);
}
END_TEST

START_TEST(events_come_back_in_order_across_many_small_reads_and_after_rewind)
{
    const char *p = path_of("t.db");
    struct gt_trace_reader *r;
    int64_t count;
    int rc;

    /* More than two commit batches of 65536. */
    write_trace(p, 140000);
    r = open_ok(p);
    ck_assert_int_eq(gt_trace_event_count(r, &count), GT_OK);
    ck_assert_int_eq(count, 140000);
    ck_assert_int_eq(read_all_checked(r, 7, &rc), 140000);
    ck_assert_int_eq(rc, GT_OK);
    ck_assert_int_eq(gt_trace_skipped(r), 0);
    ck_assert_int_eq(gt_trace_rewind(r), GT_OK);
    ck_assert_int_eq(read_all_checked(r, 64, &rc), 140000);
    ck_assert_int_eq(rc, GT_OK);
    gt_trace_close(r);
}
END_TEST

/* Reads everything through gt_trace_read_view with skip set; every event
 * must be event_at's with the fields of skip zeroed. Returns the count. */
static int64_t view_all_checked(struct gt_trace_reader *r, unsigned skip)
{
    const struct gt_event *evs;
    int64_t count = 0;
    size_t n;
    int rc;

    gt_trace_skip_fields(r, skip);
    while ((rc = gt_trace_read_view(r, &evs, &n)) == GT_OK && n > 0) {
        ck_assert_uint_le(n, 1024); /* one batch at most */
        for (size_t i = 0; i < n; i++) {
            struct gt_event want = event_at(count);
            want.ts_ns = skip & GT_TRACE_SKIP_TS ? 0 : want.ts_ns;
            want.pid = skip & GT_TRACE_SKIP_PID ? 0 : want.pid;
            want.tid = skip & GT_TRACE_SKIP_TID ? 0 : want.tid;
            want.stream = skip & GT_TRACE_SKIP_STREAM ? 0 : want.stream;
            want.requested = skip & GT_TRACE_SKIP_REQUESTED ? 0 : want.requested;
            if (evs[i].seq != count + 1 || !same_event(&evs[i], &want)) {
                ck_assert_int_eq(evs[i].seq, count + 1);
                assert_same_event(&evs[i], &want);
            }
            count++;
        }
    }
    ck_assert_int_eq(rc, GT_OK);
    ck_assert_int_eq(gt_trace_rewind(r), GT_OK);
    return count;
}

START_TEST(a_view_lends_every_event_with_the_skipped_fields_zeroed)
{
    const char *p = path_of("t.db"), *q = path_of("copy.db");
    /* each pass's own decoder, the generic one, and every field */
    const unsigned skips[] = {GT_TRACE_SKIP_CARD, GT_TRACE_SKIP_REPLAY,
                              GT_TRACE_SKIP_TS | GT_TRACE_SKIP_STREAM, 0};

    /* three full batches and a partial one */
    write_trace(p, 3 * 1024 + 5);
    make_v1(p, q);
    for (int v = 0; v < 2; v++) {
        struct gt_trace_reader *r = open_ok(v == 0 ? p : q);
        /* a rewind in the middle of a walk starts it again */
        const struct gt_event *first;
        size_t nfirst;
        ck_assert_int_eq(gt_trace_read_view(r, &first, &nfirst), GT_OK);
        ck_assert_int_eq(gt_trace_read_view(r, &first, &nfirst), GT_OK);
        ck_assert_int_eq(gt_trace_rewind(r), GT_OK);
        for (size_t k = 0; k < sizeof skips / sizeof skips[0]; k++)
            ck_assert_int_eq(view_all_checked(r, skips[k]), 3 * 1024 + 5);
        /* a copying read after two views goes on where they stopped */
        const struct gt_event *evs;
        struct gt_event buf[64];
        size_t n, seen = 0;
        ck_assert_int_eq(gt_trace_read_view(r, &evs, &n), GT_OK);
        seen += n;
        ck_assert_int_eq(gt_trace_read_view(r, &evs, &n), GT_OK);
        seen += n;
        while (gt_trace_read(r, buf, 64, &n) == GT_OK && n > 0)
            for (size_t i = 0; i < n; i++)
                ck_assert_int_eq(buf[i].seq, (int64_t)++seen);
        ck_assert_uint_eq(seen, 3 * 1024 + 5);
        gt_trace_close(r);
    }
}
END_TEST

START_TEST(an_empty_trace_reads_as_no_events)
{
    const char *p = path_of("t.db");
    struct gt_trace_reader *r;
    struct gt_event e;
    int64_t count = -1;
    size_t n = 5;

    write_trace(p, 0);
    r = open_ok(p);
    ck_assert_int_eq(gt_trace_event_count(r, &count), GT_OK);
    ck_assert_int_eq(count, 0);
    ck_assert_int_eq(gt_trace_read(r, &e, 1, &n), GT_OK);
    ck_assert_uint_eq(n, 0);
    gt_trace_close(r);
}
END_TEST

START_TEST(rows_of_unknown_kinds_are_skipped_and_counted)
{
    const char *p = path_of("t.db"), *q = path_of("copy.db");
    struct gt_trace_reader *r;
    struct gt_event buf[16];
    int64_t seen = 0;
    size_t n;
    int rc;

    write_trace(p, 20);
    make_v1(p, q);
    /* A future kind (99), kind 0 and a negative kind, between known rows. */
    exec_sql(q, "UPDATE events SET kind = 99 WHERE seq = 5;"
                "UPDATE events SET kind = 0 WHERE seq = 6;"
                "INSERT INTO events VALUES(21, 0, 0, 0, 0, 0, -3, 0, 0, 0, 0);"
                "INSERT INTO events VALUES(22, 0, 0, 0, 0, 0, 2, 64, 0, 0, 0);");
    r = open_ok(q);
    while ((rc = gt_trace_read(r, buf, 3, &n)) == GT_OK && n > 0) {
        for (size_t i = 0; i < n; i++) {
            ck_assert_int_ne(buf[i].seq, 5);
            ck_assert_int_ne(buf[i].seq, 6);
            ck_assert_int_ne(buf[i].seq, 21);
            seen++;
        }
    }
    ck_assert_int_eq(rc, GT_OK);
    ck_assert_int_eq(seen, 19);
    ck_assert_int_eq(gt_trace_skipped(r), 3);
    gt_trace_close(r);
}
END_TEST

START_TEST(a_foreign_sqlite_file_is_rejected_as_not_a_gpu_trace_file)
{
    const char *p = path_of("other.db");
    char err[256] = "";

    exec_sql(p, "CREATE TABLE t(x); INSERT INTO t VALUES(1);");
    ck_assert_int_eq(open_err(p, err, sizeof err), GT_EFOREIGN);
    ck_assert_str_eq(err, "application_id is 0x0, not gpu-trace's 0x47505574");
}
END_TEST

START_TEST(random_bytes_and_an_empty_file_are_not_gpu_trace_files)
{
    unsigned char junk[8192];
    char err[256] = "";

    srand(7);
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (unsigned char)rand();
    write_bytes(path_of("junk"), junk, sizeof junk);
    ck_assert_int_eq(open_err(path_of("junk"), err, sizeof err), GT_EFOREIGN);
    ck_assert_str_eq(err, "not an SQLite database");

    write_bytes(path_of("text"), "ts_ns,action\n", 13);
    ck_assert_int_eq(open_err(path_of("text"), err, sizeof err), GT_EFOREIGN);

    write_bytes(path_of("empty"), "", 0);
    ck_assert_int_eq(open_err(path_of("empty"), err, sizeof err), GT_EFOREIGN);
    ck_assert_str_eq(err, "the file is empty");
}
END_TEST

START_TEST(a_missing_file_is_reported_as_missing)
{
    char err[256] = "";

    ck_assert_int_eq(open_err(path_of("nope.db"), err, sizeof err), GT_ENOENT);
    ck_assert_int_eq(open_err(path_of("nodir/nope.db"), err, sizeof err), GT_ENOENT);
}
END_TEST

START_TEST(a_newer_format_version_is_rejected_naming_both_versions)
{
    const char *p = path_of("t.db");
    char err[256] = "";

    write_trace(p, 3);
    exec_sql(p, "PRAGMA user_version = 7");
    ck_assert_int_eq(open_err(p, err, sizeof err), GT_ENEWER);
    ck_assert_str_eq(err, "trace format version 7 is newer than this gpu-trace reads (2)");
}
END_TEST

START_TEST(format_version_0_with_our_application_id_is_damage)
{
    const char *p = path_of("t.db");
    char err[256] = "";

    write_trace(p, 3);
    exec_sql(p, "PRAGMA user_version = 0");
    ck_assert_int_eq(open_err(p, err, sizeof err), GT_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(err, "version is 0"));
}
END_TEST

START_TEST(a_missing_column_or_table_is_named)
{
    const char *p = path_of("t.db"), *q = path_of("u.db");
    char err[256] = "";

    char sql[1024];

    /* The v1 schema with events.stream left out. */
    snprintf(sql, sizeof sql,
             "PRAGMA application_id = %d; PRAGMA user_version = 1;"
             "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
             "CREATE TABLE devices(device INTEGER PRIMARY KEY, name TEXT NOT NULL,"
             " total_memory INTEGER NOT NULL);"
             "CREATE TABLE events(seq INTEGER PRIMARY KEY, ts_ns INTEGER NOT NULL,"
             " pid INTEGER NOT NULL, tid INTEGER NOT NULL, device INTEGER NOT NULL,"
             " kind INTEGER NOT NULL, addr INTEGER NOT NULL, size INTEGER NOT NULL,"
             " requested INTEGER NOT NULL, result INTEGER NOT NULL);",
             GT_SCHEMA_APPLICATION_ID);
    exec_sql(p, sql);
    ck_assert_int_eq(open_err(p, err, sizeof err), GT_ECORRUPT);
    ck_assert_str_eq(err, "table 'events' has no column 'stream'");

    write_trace(q, 3);
    exec_sql(q, "DROP TABLE devices");
    ck_assert_int_eq(open_err(q, err, sizeof err), GT_ECORRUPT);
    ck_assert_str_eq(err, "table 'devices' is missing");
}
END_TEST

START_TEST(an_events_view_is_not_taken_for_the_table)
{
    const char *p = path_of("t.db");
    char err[256] = "";

    const char *q = path_of("v1.db");

    write_trace(p, 3);
    make_v1(p, q);
    exec_sql(q, "ALTER TABLE events RENAME TO old_events;"
                "CREATE VIEW events AS SELECT * FROM old_events;");
    ck_assert_int_eq(open_err(q, err, sizeof err), GT_ECORRUPT);
    ck_assert_str_eq(err, "table 'events' is missing");
    exec_sql(p, "ALTER TABLE event_batches RENAME TO old_batches;"
                "CREATE VIEW event_batches AS SELECT * FROM old_batches;");
    ck_assert_int_eq(open_err(p, err, sizeof err), GT_ECORRUPT);
    ck_assert_str_eq(err, "table 'event_batches' is missing");
}
END_TEST

/* Cuts a copy of a real trace at many offsets: each cut either fails to open
 * or delivers events 1..k exactly, then reports the damage. */
START_TEST(a_truncated_trace_gives_the_events_before_the_cut_or_an_error)
{
    const char *p = path_of("t.db"), *q = path_of("cut.db");
    struct stat st;
    int64_t full = 100000, best = 0;

    write_trace(p, full);
    ck_assert_int_eq(stat(p, &st), 0);
    const off_t size = st.st_size;
    const off_t cuts[] = {
        1,    16,    50,       99,       100,           101,         1024,       4096,    4097,
        8192, 30000, size / 3, size / 2, size / 2 + 77, size - 4096, size - 100, size - 1};

    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        struct gt_trace_reader *r = NULL;
        char err[256] = "";
        int rc;

        copy_file(p, q);
        ck_assert_int_eq(truncate(q, cuts[i]), 0);
        rc = gt_trace_open(q, &r, err, sizeof err);
        if (rc != GT_OK) {
            ck_assert_ptr_null(r);
            ck_assert_msg(rc == GT_ECORRUPT || rc == GT_EFOREIGN, "cut %lld: %s",
                          (long long)cuts[i], gt_strerror(rc));
            ck_assert_str_ne(err, "");
        } else {
            int64_t got = read_all_checked(r, 64, &rc);
            ck_assert_msg(got == full || rc == GT_ECORRUPT, "cut %lld: %lld events, rc %d",
                          (long long)cuts[i], (long long)got, rc);
            if (rc != GT_OK)
                ck_assert_ptr_nonnull(strstr(gt_trace_errmsg(r), "truncated"));
            /* The error stays until rewind. */
            if (rc != GT_OK) {
                struct gt_event e;
                size_t n = 9;
                ck_assert_int_eq(gt_trace_read(r, &e, 1, &n), rc);
                ck_assert_uint_eq(n, 0);
            }
            if (got > best)
                best = got;
            gt_trace_close(r);
        }
        unlink(q);
    }
    /* A cut in the last pages loses at most the last batch of events. */
    ck_assert_int_ge(best, full - GT_BATCH_EVENTS);
}
END_TEST

/* An events table WITHOUT ROWID is valid SQL for v1: the reader gives the
 * same events. */
START_TEST(a_table_in_another_layout_is_read_through_sql_with_the_same_result)
{
    const char *p = path_of("t.db"), *q = path_of("w.db"), *v1 = path_of("v1.db");
    struct gt_trace_reader *r;
    char sql[512];
    int rc;

    write_trace(v1, 3000);
    make_v1(v1, p);
    snprintf(sql, sizeof sql,
             "PRAGMA application_id = %d; PRAGMA user_version = 1;"
             "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"
             "CREATE TABLE devices(device INTEGER PRIMARY KEY, name TEXT NOT NULL,"
             " total_memory INTEGER NOT NULL);"
             "ATTACH '%s' AS src;"
             "CREATE TABLE events(seq INTEGER PRIMARY KEY, ts_ns, pid, tid, device, stream, kind,"
             " addr, size, requested, result) WITHOUT ROWID;"
             "INSERT INTO events SELECT * FROM src.events;",
             GT_SCHEMA_APPLICATION_ID, p);
    exec_sql(q, sql);
    r = open_ok(q);
    ck_assert_int_eq(read_all_checked(r, 13, &rc), 3000);
    ck_assert_int_eq(rc, GT_OK);
    gt_trace_close(r);
}
END_TEST

START_TEST(kind_names_and_numbers_map_both_ways)
{
    for (int32_t k = 1; k <= GT_EV_KIND_MAX; k++)
        ck_assert_int_eq(gt_trace_kind_parse(gt_trace_kind_name(k)), k);
    ck_assert_str_eq(gt_trace_kind_name(GT_EV_ALLOC), "alloc");
    ck_assert_str_eq(gt_trace_kind_name(GT_EV_SEGMENT_UNMAP), "segment_unmap");
    ck_assert_str_eq(gt_trace_kind_name(GT_EV_HOST_FREE), "host_free");
    ck_assert_ptr_null(gt_trace_kind_name(0));
    ck_assert_ptr_null(gt_trace_kind_name(GT_EV_KIND_MAX + 1));
    ck_assert_int_eq(gt_trace_kind_parse("allocate"), 0);
    ck_assert_int_eq(gt_trace_kind_parse("ALLOC"), 0);
    ck_assert_int_eq(gt_trace_kind_parse(""), 0);
    ck_assert_int_eq(gt_trace_kind_parse(NULL), 0);
}
END_TEST

START_TEST(append_refuses_a_kind_readers_would_skip)
{
    struct gt_trace_writer *w;
    struct gt_event e = event_at(0);
    char err[256];

    ck_assert_int_eq(gt_trace_create(path_of("t.db"), &w, err, sizeof err), GT_OK);
    e.kind = 0;
    ck_assert_int_eq(gt_trace_append(w, &e), GT_EINVAL);
    e.kind = GT_EV_KIND_MAX + 1;
    ck_assert_int_eq(gt_trace_append(w, &e), GT_EINVAL);
    ck_assert_int_eq(gt_trace_writer_close(w), GT_OK);
    ck_assert_int_eq(gt_trace_writer_close(NULL), GT_OK);
    gt_trace_close(NULL);
}
END_TEST

/* ---- optional tables ------------------------------------------------- */

/* What the optional-table readers deliver, collected for checking. */
struct got_frame {
    size_t depth;
    char filename[128];
    char name[64];
    int64_t line;
};

struct collect {
    struct got_frame frames[64];
    struct gt_initial_block blocks[16];
    int64_t totals[16][3];
    size_t n;
    size_t stop_after; /* return 7 from the callback after this many; 0 = never */
};

static int on_frame(void *ctx, size_t depth, const struct gt_frame *f)
{
    struct collect *c = ctx;
    struct got_frame *g;

    ck_assert_uint_lt(c->n, 64);
    g = &c->frames[c->n++];
    g->depth = depth;
    ck_assert_uint_lt(strlen(f->filename), sizeof g->filename);
    ck_assert_uint_lt(strlen(f->name), sizeof g->name);
    snprintf(g->filename, sizeof g->filename, "%s", f->filename);
    snprintf(g->name, sizeof g->name, "%s", f->name);
    g->line = f->line;
    return c->stop_after != 0 && c->n == c->stop_after ? 7 : 0;
}

static int on_block(void *ctx, const struct gt_initial_block *b)
{
    struct collect *c = ctx;

    ck_assert_uint_lt(c->n, 16);
    c->blocks[c->n++] = *b;
    return c->stop_after != 0 && c->n == c->stop_after ? 7 : 0;
}

static int on_totals(void *ctx, int64_t seq, int64_t allocated, int64_t reserved)
{
    struct collect *c = ctx;

    if (c->n < 16) {
        c->totals[c->n][0] = seq;
        c->totals[c->n][1] = allocated;
        c->totals[c->n][2] = reserved;
    }
    c->n++;
    return c->stop_after != 0 && c->n == c->stop_after ? 7 : 0;
}

/* Appends event_at(i) and fails the test on error. */
static void append_ok(struct gt_trace_writer *w, int64_t i)
{
    struct gt_event e = event_at(i);

    ck_assert_int_eq(gt_trace_append(w, &e), GT_OK);
}

/* One integer from a query on the file, through SQLite itself. */
static int64_t sql_int(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    int64_t v;

    ck_assert_int_eq(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql,
                  sqlite3_errmsg(db));
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

START_TEST(every_new_trace_has_the_optional_tables)
{
    const char *p = path_of("t.db");

    write_trace(p, 1);
    ck_assert_int_eq(sql_int(p, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND"
                                " name IN ('frames', 'stacks', 'event_stacks', 'event_totals',"
                                " 'initial_blocks', 'initial_pools')"),
                     6);
}
END_TEST

START_TEST(stacks_round_trip_innermost_first_and_events_without_one_have_none)
{
    const char *p = path_of("t.db");
    const struct gt_frame a[] = {
        {"/site-packages/torch/nn/modules/linear.py", "forward", 116},
        {"/site-packages/torch/nn/modules/module.py", "_call_impl", 1527},
        {"train.py", "<module>", 42},
    };
    const struct gt_frame b[] = {{"train.py", "step", 7}};
    struct gt_trace_writer *w;
    struct gt_trace_reader *r;
    struct collect c = {0};
    char err[256];

    ck_assert_int_eq(gt_trace_create(p, &w, err, sizeof err), GT_OK);
    ck_assert_int_eq(gt_trace_last_seq(w), 0);
    append_ok(w, 0);
    ck_assert_int_eq(gt_trace_last_seq(w), 1);
    ck_assert_int_eq(gt_trace_set_stack(w, gt_trace_last_seq(w), a, 3), GT_OK);
    append_ok(w, 1); /* seq 2: no stack */
    append_ok(w, 2);
    ck_assert_int_eq(gt_trace_set_stack(w, 3, b, 1), GT_OK);
    /* A second stack for an event replaces the first. */
    append_ok(w, 3);
    ck_assert_int_eq(gt_trace_set_stack(w, 4, b, 1), GT_OK);
    ck_assert_int_eq(gt_trace_set_stack(w, 4, a, 2), GT_OK);
    ck_assert_int_eq(gt_trace_writer_close(w), GT_OK);

    r = open_ok(p);
    ck_assert_int_eq(gt_trace_stack(r, 1, on_frame, &c), GT_OK);
    ck_assert_uint_eq(c.n, 3);
    for (size_t i = 0; i < 3; i++) {
        ck_assert_uint_eq(c.frames[i].depth, i);
        ck_assert_str_eq(c.frames[i].filename, a[i].filename);
        ck_assert_str_eq(c.frames[i].name, a[i].name);
        ck_assert_int_eq(c.frames[i].line, a[i].line);
    }
    c.n = 0;
    ck_assert_int_eq(gt_trace_stack(r, 2, on_frame, &c), GT_OK);
    ck_assert_uint_eq(c.n, 0);
    ck_assert_int_eq(gt_trace_stack(r, 99, on_frame, &c), GT_OK);
    ck_assert_uint_eq(c.n, 0);
    ck_assert_int_eq(gt_trace_stack(r, 3, on_frame, &c), GT_OK);
    ck_assert_uint_eq(c.n, 1);
    ck_assert_str_eq(c.frames[0].name, "step");
    c.n = 0;
    ck_assert_int_eq(gt_trace_stack(r, 4, on_frame, &c), GT_OK);
    ck_assert_uint_eq(c.n, 2);
    ck_assert_str_eq(c.frames[1].name, "_call_impl");
    /* A non-zero return stops the walk and comes back unchanged. */
    c.n = 0;
    c.stop_after = 1;
    ck_assert_int_eq(gt_trace_stack(r, 1, on_frame, &c), 7);
    ck_assert_uint_eq(c.n, 1);
    ck_assert_int_eq(gt_trace_stack(r, 1, NULL, &c), GT_EINVAL);
    gt_trace_close(r);
}
END_TEST

/* The strings are fresh copies for every event, so only their content can
 * make two frames the same. Stacks x and y share two frames. */
START_TEST(events_sharing_3_stacks_store_3_stacks_and_only_the_distinct_frames)
{
    const char *p = path_of("t.db");
    static const struct gt_frame x[] = {
        {"model.py", "attention", 10}, {"model.py", "block", 20}, {"train.py", "main", 30}};
    static const struct gt_frame y[] = {
        {"model.py", "mlp", 11}, {"model.py", "block", 20}, {"train.py", "main", 30}};
    /* z differs from x only in a line number and a file name. */
    static const struct gt_frame z[] = {{"model.py", "attention", 12},
                                        {"model2.py", "block", 20},
                                        {"train.py", "main", 30},
                                        {"<string>", "", 0}};
    const struct gt_frame *const stacks[] = {x, y, z};
    const size_t depth[] = {3, 3, 4};
    struct gt_trace_writer *w;
    struct gt_trace_reader *r;
    char err[256];

    ck_assert_int_eq(gt_trace_create(p, &w, err, sizeof err), GT_OK);
    for (int i = 0; i < 1000; i++) {
        char names[4][2][32];
        struct gt_frame f[4];
        const struct gt_frame *s = stacks[i % 3];

        for (size_t d = 0; d < depth[i % 3]; d++) {
            snprintf(names[d][0], sizeof names[d][0], "%s", s[d].filename);
            snprintf(names[d][1], sizeof names[d][1], "%s", s[d].name);
            f[d].filename = names[d][0];
            f[d].name = names[d][1];
            f[d].line = s[d].line;
        }
        append_ok(w, i);
        ck_assert_int_eq(gt_trace_set_stack(w, gt_trace_last_seq(w), f, depth[i % 3]), GT_OK);
    }
    ck_assert_int_eq(gt_trace_writer_close(w), GT_OK);

    ck_assert_int_eq(sql_int(p, "SELECT count(DISTINCT stack) FROM stacks"), 3);
    ck_assert_int_eq(sql_int(p, "SELECT count(*) FROM stacks"), 3 + 3 + 4);
    ck_assert_int_eq(sql_int(p, "SELECT count(DISTINCT stack) FROM event_stacks"), 3);
    ck_assert_int_eq(sql_int(p, "SELECT count(*) FROM event_stacks"), 1000);
    /* attention:10, block:20, main:30, mlp:11, attention:12, model2 block:20,
     * <string>:0 */
    ck_assert_int_eq(sql_int(p, "SELECT count(*) FROM frames"), 7);
    ck_assert_int_eq(sql_int(p, "SELECT count(*) FROM (SELECT DISTINCT filename, line, name"
                                " FROM frames)"),
                     7);
    /* Every event points at the stack it was given. */
    r = open_ok(p);
    for (int64_t seq = 1; seq <= 1000; seq += 111) {
        struct collect c = {0};
        const struct gt_frame *s = stacks[(seq - 1) % 3];

        ck_assert_int_eq(gt_trace_stack(r, seq, on_frame, &c), GT_OK);
        ck_assert_uint_eq(c.n, depth[(seq - 1) % 3]);
        for (size_t d = 0; d < c.n; d++) {
            ck_assert_str_eq(c.frames[d].filename, s[d].filename);
            ck_assert_str_eq(c.frames[d].name, s[d].name);
            ck_assert_int_eq(c.frames[d].line, s[d].line);
        }
    }
    gt_trace_close(r);
}
END_TEST

/* Strings around the 8- and 16-byte words the writer hashes and compares:
 * frames that differ only in their last byte stay apart. */
START_TEST(frames_with_empty_strings_line_0_and_word_sized_names_stay_distinct)
{
    const char *p = path_of("t.db");
    static const size_t lens[] = {0, 1, 7, 8, 9, 15, 16, 17, 24, 31, 33};
    const size_t nl = sizeof lens / sizeof lens[0];
    struct gt_frame f[2 * sizeof lens / sizeof lens[0]];
    char buf[2 * sizeof lens / sizeof lens[0]][40];
    struct gt_trace_writer *w;
    struct gt_trace_reader *r;
    struct collect c = {0};
    char err[256];

    for (size_t i = 0; i < nl; i++) {
        for (size_t k = 0; k < 2; k++) {
            char *b = buf[2 * i + k];
            memset(b, 'a', lens[i]);
            b[lens[i]] = '\0';
            if (lens[i] > 0 && k == 1)
                b[lens[i] - 1] = 'b';
            f[2 * i + k].filename = b;
            f[2 * i + k].name = b;
            f[2 * i + k].line = 0;
        }
    }
    ck_assert_int_eq(gt_trace_create(p, &w, err, sizeof err), GT_OK);
    append_ok(w, 0);
    ck_assert_int_eq(gt_trace_set_stack(w, 1, f, 2 * nl), GT_OK);
    /* The same stack without its last frame is another stack. */
    append_ok(w, 1);
    ck_assert_int_eq(gt_trace_set_stack(w, 2, f, 2 * nl - 1), GT_OK);
    ck_assert_int_eq(gt_trace_writer_close(w), GT_OK);

    /* "" twice is one frame; every other length gives two. */
    ck_assert_int_eq(sql_int(p, "SELECT count(*) FROM frames"), (int64_t)(2 * nl - 1));
    ck_assert_int_eq(sql_int(p, "SELECT count(DISTINCT stack) FROM stacks"), 2);
    r = open_ok(p);
    ck_assert_int_eq(gt_trace_stack(r, 1, on_frame, &c), GT_OK);
    ck_assert_uint_eq(c.n, 2 * nl);
    for (size_t i = 0; i < 2 * nl; i++) {
        ck_assert_str_eq(c.frames[i].filename, f[i].filename);
        ck_assert_str_eq(c.frames[i].name, f[i].name);
        ck_assert_int_eq(c.frames[i].line, 0);
    }
    c.n = 0;
    ck_assert_int_eq(gt_trace_stack(r, 2, on_frame, &c), GT_OK);
    ck_assert_uint_eq(c.n, 2 * nl - 1);
    gt_trace_close(r);
}
END_TEST

START_TEST(an_empty_stack_is_stored_as_none)
{
    const char *p = path_of("t.db");
    struct gt_trace_writer *w;
    struct gt_trace_reader *r;
    struct collect c = {0};
    char err[256];

    ck_assert_int_eq(gt_trace_create(p, &w, err, sizeof err), GT_OK);
    append_ok(w, 0);
    ck_assert_int_eq(gt_trace_set_stack(w, 1, NULL, 0), GT_OK);
    ck_assert_int_eq(gt_trace_writer_close(w), GT_OK);
    ck_assert_int_eq(sql_int(p, "SELECT count(*) FROM event_stacks"), 0);
    ck_assert_int_eq(sql_int(p, "SELECT count(*) FROM stacks"), 0);
    r = open_ok(p);
    ck_assert_int_eq(gt_trace_stack(r, 1, on_frame, &c), GT_OK);
    ck_assert_uint_eq(c.n, 0);
    gt_trace_close(r);
}
END_TEST

START_TEST(optional_rows_for_events_not_appended_or_null_strings_are_refused)
{
    const char *p = path_of("t.db");
    const struct gt_frame bad[] = {{"a.py", "f", 1}, {NULL, "g", 2}};
    const struct gt_frame good[] = {{"a.py", "f", 1}};
    struct gt_trace_writer *w;
    char err[256];

    ck_assert_int_eq(gt_trace_create(p, &w, err, sizeof err), GT_OK);
    ck_assert_int_eq(gt_trace_set_stack(w, 1, good, 1), GT_EINVAL);
    ck_assert_int_eq(gt_trace_add_totals(w, 1, 1, 1), GT_EINVAL);
    append_ok(w, 0);
    ck_assert_int_eq(gt_trace_set_stack(w, 0, good, 1), GT_EINVAL);
    ck_assert_int_eq(gt_trace_set_stack(w, 2, good, 1), GT_EINVAL);
    ck_assert_int_eq(gt_trace_set_stack(w, 1, NULL, 1), GT_EINVAL);
    ck_assert_int_eq(gt_trace_set_stack(w, 1, bad, 2), GT_EINVAL);
    ck_assert_int_eq(gt_trace_add_totals(w, -1, 1, 1), GT_EINVAL);
    ck_assert_int_eq(gt_trace_add_initial_block(w, NULL), GT_EINVAL);
    ck_assert_int_eq(gt_trace_set_stack(NULL, 1, good, 1), GT_EINVAL);
    ck_assert_int_eq(gt_trace_last_seq(NULL), 0);
    /* A refused call wrote nothing and left the writer usable. */
    ck_assert_int_eq(gt_trace_set_stack(w, 1, good, 1), GT_OK);
    ck_assert_int_eq(gt_trace_writer_close(w), GT_OK);
    ck_assert_int_eq(sql_int(p, "SELECT count(*) FROM frames"), 1);
    ck_assert_int_eq(sql_int(p, "SELECT count(*) FROM event_stacks"), 1);
}
END_TEST

/* Enough rows to pass the writer's row buffers and a commit batch. */
START_TEST(totals_round_trip_in_seq_order_across_commit_batches)
{
    const char *p = path_of("t.db");
    const int64_t n = 70000;
    struct gt_trace_writer *w;
    struct gt_trace_reader *r;
    struct collect c = {0};
    char err[256];

    ck_assert_int_eq(gt_trace_create(p, &w, err, sizeof err), GT_OK);
    for (int64_t i = 0; i < n; i++) {
        append_ok(w, i);
        if (i % 2 == 0)
            ck_assert_int_eq(gt_trace_add_totals(w, i + 1, i * 512, i * 1024 + INT64_MIN / 2),
                             GT_OK);
    }
    /* Totals for an earlier event, and a second value that replaces the first. */
    ck_assert_int_eq(gt_trace_add_totals(w, 2, INT64_MAX, INT64_MIN), GT_OK);
    ck_assert_int_eq(gt_trace_add_totals(w, 1, -1, -2), GT_OK);
    ck_assert_int_eq(gt_trace_writer_close(w), GT_OK);

    r = open_ok(p);
    ck_assert_int_eq(gt_trace_totals(r, on_totals, &c), GT_OK);
    ck_assert_uint_eq(c.n, (size_t)(n / 2 + 1));
    ck_assert_int_eq(c.totals[0][0], 1);
    ck_assert_int_eq(c.totals[0][1], -1);
    ck_assert_int_eq(c.totals[0][2], -2);
    ck_assert_int_eq(c.totals[1][0], 2);
    ck_assert_int_eq(c.totals[1][1], INT64_MAX);
    ck_assert_int_eq(c.totals[1][2], INT64_MIN);
    ck_assert_int_eq(c.totals[2][0], 3);
    ck_assert_int_eq(c.totals[2][1], 2 * 512);
    ck_assert_int_eq(c.totals[2][2], 2 * 1024 + INT64_MIN / 2);
    ck_assert_int_eq(sql_int(p, "SELECT max(seq) FROM event_totals"), n - 1);
    ck_assert_int_eq(sql_int(p, "SELECT sum(seq % 2 = 0) FROM event_totals"), 1);
    c.n = 0;
    c.stop_after = 3;
    ck_assert_int_eq(gt_trace_totals(r, on_totals, &c), 7);
    ck_assert_uint_eq(c.n, 3);
    gt_trace_close(r);
}
END_TEST

START_TEST(initial_blocks_round_trip_in_device_and_unsigned_address_order)
{
    const char *p = path_of("t.db");
    const struct gt_initial_block in[] = {
        /* a pending block (stored as allocated = 2) round-trips too */
        {1, 0x7f0000200000, 512, 500, true, 0x7f0000200000, 2 << 20, 0, true, false, true, 0, 0, 0,
         false},
        {0, UINT64_MAX - 511, 512, 0, false, (uint64_t)1 << 63, UINT64_MAX, UINT64_MAX, false, true,
         false, 0, 0, 0, false},
        {0, 0x7f0000000000, (uint64_t)1 << 63, UINT64_MAX, true, 0x7f0000000000, 20 << 20, 7, false,
         false, false, 0, 0, 0, false},
        {0, (uint64_t)1 << 63, 1, 1, false, (uint64_t)1 << 63, 1, 0, true, true, false, 0, 0, 0,
         false},
    };
    const size_t order[] = {2, 3, 1, 0};
    struct gt_trace_writer *w;
    struct gt_trace_reader *r;
    struct collect c = {0};
    char err[256];

    ck_assert_int_eq(gt_trace_create(p, &w, err, sizeof err), GT_OK);
    for (size_t i = 0; i < 4; i++)
        ck_assert_int_eq(gt_trace_add_initial_block(w, &in[i]), GT_OK);
    ck_assert_int_eq(gt_trace_writer_close(w), GT_OK);
    ck_assert_int_eq(sql_int(p,
                             "SELECT count(*) FROM initial_blocks WHERE allocated NOT IN (0, 1, 2)"
                             " OR small_pool NOT IN (0, 1) OR expandable NOT IN (0, 1)"),
                     0);
    ck_assert_int_eq(sql_int(p, "SELECT count(*) FROM initial_blocks WHERE allocated = 2"), 1);

    r = open_ok(p);
    ck_assert_int_eq(gt_trace_initial_blocks(r, on_block, &c), GT_OK);
    ck_assert_uint_eq(c.n, 4);
    for (size_t i = 0; i < 4; i++) {
        const struct gt_initial_block *want = &in[order[i]], *got = &c.blocks[i];
        ck_assert_int_eq(got->device, want->device);
        ck_assert_uint_eq(got->addr, want->addr);
        ck_assert_uint_eq(got->size, want->size);
        ck_assert_uint_eq(got->requested, want->requested);
        ck_assert(got->allocated == want->allocated);
        ck_assert(got->pending == want->pending);
        ck_assert_uint_eq(got->segment, want->segment);
        ck_assert_uint_eq(got->segment_size, want->segment_size);
        ck_assert_uint_eq(got->stream, want->stream);
        ck_assert(got->small_pool == want->small_pool);
        ck_assert(got->expandable == want->expandable);
    }
    c.n = 0;
    c.stop_after = 2;
    ck_assert_int_eq(gt_trace_initial_blocks(r, on_block, &c), 7);
    ck_assert_uint_eq(c.n, 2);
    gt_trace_close(r);
}
END_TEST

struct pools_seen {
    size_t n;
    struct gt_initial_pool v[4];
};

static int on_pool(void *ctx, const struct gt_initial_pool *p)
{
    struct pools_seen *c = ctx;
    if (c->n < 4)
        c->v[c->n] = *p;
    c->n++;
    return 0;
}

/* initial_pools comes back in (device, unsigned segment) order, and a file
 * without the table (written before it existed) reads as having none. */
START_TEST(initial_pools_round_trip_and_are_optional)
{
    const char *p = path_of("t.db");
    const struct gt_initial_pool in[] = {
        {1, 0x7f0000000000, 0, 3, false},
        {0, (uint64_t)1 << 63, INT64_MAX, -1, true},
        {0, 0x7f0000200000, 1, 0, false},
    };
    const size_t order[] = {2, 1, 0};
    struct gt_trace_writer *w;
    struct gt_trace_reader *r;
    struct pools_seen c = {0};
    char err[256];

    ck_assert_int_eq(gt_trace_create(p, &w, err, sizeof err), GT_OK);
    for (size_t i = 0; i < 3; i++)
        ck_assert_int_eq(gt_trace_add_initial_pool(w, &in[i]), GT_OK);
    ck_assert_int_eq(gt_trace_writer_close(w), GT_OK);
    r = open_ok(p);
    ck_assert_int_eq(gt_trace_initial_pools(r, on_pool, &c), GT_OK);
    ck_assert_uint_eq(c.n, 3);
    for (size_t i = 0; i < 3; i++) {
        const struct gt_initial_pool *want = &in[order[i]], *got = &c.v[i];
        ck_assert_int_eq(got->device, want->device);
        ck_assert_uint_eq(got->segment, want->segment);
        ck_assert_int_eq(got->pool_first, want->pool_first);
        ck_assert_int_eq(got->pool_second, want->pool_second);
        ck_assert(got->released == want->released);
    }
    gt_trace_close(r);
    ck_assert_int_eq(sql_int(p, "SELECT count(*) FROM initial_pools WHERE released = 1"), 1);
    exec_sql(p, "DROP TABLE initial_pools");
    r = open_ok(p);
    c.n = 0;
    ck_assert_int_eq(gt_trace_initial_pools(r, on_pool, &c), GT_OK);
    ck_assert_uint_eq(c.n, 0);
    gt_trace_close(r);
}
END_TEST

START_TEST(two_initial_blocks_at_one_address_are_an_error)
{
    const struct gt_initial_block b = {0,    0x1000, 512,   512, true, 0x1000, 4096, 0,
                                       true, false,  false, 0,   0,    0,      false};
    struct gt_trace_writer *w;
    char err[256];

    ck_assert_int_eq(gt_trace_create(path_of("t.db"), &w, err, sizeof err), GT_OK);
    ck_assert_int_eq(gt_trace_add_initial_block(w, &b), GT_OK);
    ck_assert_int_ne(gt_trace_add_initial_block(w, &b), GT_OK);
    ck_assert_ptr_nonnull(strstr(gt_trace_writer_errmsg(w), "initial block"));
    ck_assert_int_ne(gt_trace_writer_close(w), GT_OK);
}
END_TEST

/* Writes one of each optional row, for the tests of older and damaged files. */
static void write_with_optional_rows(const char *p)
{
    const struct gt_frame f[] = {{"a.py", "f", 1}, {"b.py", "g", 2}};
    const struct gt_initial_block b = {0,    0x1000, 512,   512, true, 0x1000, 4096, 0,
                                       true, false,  false, 0,   0,    0,      false};
    struct gt_trace_writer *w;
    char err[256];

    ck_assert_int_eq(gt_trace_create(p, &w, err, sizeof err), GT_OK);
    ck_assert_int_eq(gt_trace_add_initial_block(w, &b), GT_OK);
    for (int64_t i = 0; i < 3; i++) {
        append_ok(w, i);
        ck_assert_int_eq(gt_trace_set_stack(w, i + 1, f, 2), GT_OK);
        ck_assert_int_eq(gt_trace_add_totals(w, i + 1, 512, 2 << 20), GT_OK);
    }
    ck_assert_int_eq(gt_trace_writer_close(w), GT_OK);
}

START_TEST(a_trace_older_than_the_optional_tables_reads_as_having_no_rows)
{
    const char *p = path_of("t.db"), *q = path_of("old.db");
    struct gt_trace_reader *r;
    struct collect c = {0};
    int rc;

    write_with_optional_rows(p);
    copy_file(p, q);
    exec_sql(q, "DROP TABLE frames; DROP TABLE stacks; DROP TABLE event_stacks;"
                "DROP TABLE event_totals; DROP TABLE initial_blocks;");
    r = open_ok(q);
    ck_assert_int_eq(gt_trace_initial_blocks(r, on_block, &c), GT_OK);
    ck_assert_int_eq(gt_trace_stack(r, 1, on_frame, &c), GT_OK);
    ck_assert_int_eq(gt_trace_totals(r, on_totals, &c), GT_OK);
    ck_assert_uint_eq(c.n, 0);
    /* Asked again, from the remembered answer. */
    ck_assert_int_eq(gt_trace_stack(r, 2, on_frame, &c), GT_OK);
    ck_assert_uint_eq(c.n, 0);
    ck_assert_int_eq(read_all_checked(r, 64, &rc), 3);
    ck_assert_int_eq(rc, GT_OK);
    gt_trace_close(r);

    /* The unchanged file has them. */
    r = open_ok(p);
    ck_assert_int_eq(gt_trace_initial_blocks(r, on_block, &c), GT_OK);
    ck_assert_uint_eq(c.n, 1);
    ck_assert_int_eq(gt_trace_stack(r, 3, on_frame, &c), GT_OK);
    ck_assert_uint_eq(c.n, 3);
    ck_assert_int_eq(gt_trace_totals(r, on_totals, &c), GT_OK);
    ck_assert_uint_eq(c.n, 6);
    gt_trace_close(r);
}
END_TEST

START_TEST(damaged_optional_tables_are_named_not_read_as_empty)
{
    const char *p = path_of("t.db"), *q = path_of("u.db"), *s = path_of("v.db");
    struct gt_trace_reader *r;
    struct collect c = {0};

    write_with_optional_rows(p);
    /* Stack ids without their frames are damage, not an older file. */
    copy_file(p, q);
    exec_sql(q, "DROP TABLE frames");
    r = open_ok(q);
    ck_assert_int_eq(gt_trace_stack(r, 1, on_frame, &c), GT_ECORRUPT);
    ck_assert_str_eq(gt_trace_errmsg(r), "table 'frames' is missing");
    ck_assert_int_eq(gt_trace_totals(r, on_totals, &c), GT_OK); /* the others still read */
    ck_assert_uint_eq(c.n, 3);
    gt_trace_close(r);

    /* A stack row pointing at a frame that is not there; a missing column. */
    copy_file(p, s);
    exec_sql(s, "DELETE FROM frames WHERE frame = 2;"
                "ALTER TABLE initial_blocks DROP COLUMN expandable;");
    r = open_ok(s);
    c.n = 0;
    ck_assert_int_eq(gt_trace_stack(r, 1, on_frame, &c), GT_ECORRUPT);
    ck_assert_uint_eq(c.n, 1);
    ck_assert_str_eq(gt_trace_errmsg(r),
                     "stack 1 refers to frame 2, which is not in table 'frames'");
    ck_assert_int_eq(gt_trace_initial_blocks(r, on_block, &c), GT_ECORRUPT);
    ck_assert_str_eq(gt_trace_errmsg(r), "table 'initial_blocks' has no column 'expandable'");
    gt_trace_close(r);
}
END_TEST

static int stack_from_inside(void *ctx, size_t depth, const struct gt_frame *f)
{
    struct gt_trace_reader *r = ctx;
    struct collect c = {0};

    (void)depth;
    (void)f;
    return gt_trace_stack(r, 1, on_frame, &c);
}

START_TEST(a_stack_query_started_from_its_own_callback_is_refused)
{
    const char *p = path_of("t.db");
    struct gt_trace_reader *r;
    struct collect c = {0};

    write_with_optional_rows(p);
    r = open_ok(p);
    ck_assert_int_eq(gt_trace_stack(r, 1, stack_from_inside, r), GT_EINVAL);
    /* The refusal leaves the reader usable. */
    ck_assert_int_eq(gt_trace_stack(r, 1, on_frame, &c), GT_OK);
    ck_assert_uint_eq(c.n, 2);
    gt_trace_close(r);
}
END_TEST

START_TEST(a_commit_makes_the_events_so_far_readable_while_the_writer_goes_on)
{
    const char *path = path_of("commit.db");
    struct gt_trace_writer *w = NULL;
    struct gt_trace_reader *r = NULL;
    struct gt_event ev = {0}, out[32];
    char err[256];
    size_t n = 0;

    ck_assert_int_eq(gt_trace_create(path, &w, err, sizeof err), GT_OK);
    ev.kind = GT_EV_ALLOC;
    ev.size = ev.requested = 512;
    for (int i = 0; i < 10; i++) {
        ev.addr = 4096 * (uint64_t)(i + 1);
        ck_assert_int_eq(gt_trace_append(w, &ev), GT_OK);
    }
    ck_assert_int_eq(gt_trace_commit(w), GT_OK);
    ck_assert_int_eq(gt_trace_commit(w), GT_OK); /* nothing pending: a no-op */
    ck_assert_int_eq(gt_trace_open(path, &r, err, sizeof err), GT_OK);
    ck_assert_int_eq(gt_trace_read(r, out, 32, &n), GT_OK);
    ck_assert_uint_eq(n, 10);
    gt_trace_close(r);
    ck_assert_int_eq(gt_trace_append(w, &ev), GT_OK);
    ck_assert_int_eq(gt_trace_writer_close(w), GT_OK);
}
END_TEST

/* A recorder holds the lock while it links a batch; a reader that comes
 * then waits for the commit instead of failing. */
START_TEST(a_reader_waits_for_a_commit_in_progress)
{
    const char *path = path_of("t.db");
    int ready[2];
    char c;

    write_trace(path, 100);
    ck_assert_int_eq(pipe(ready), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        sqlite3 *db;
        if (sqlite3_open(path, &db) != SQLITE_OK ||
            sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL) != SQLITE_OK)
            _exit(1);
        if (write(ready[1], "x", 1) != 1)
            _exit(1);
        nanosleep(&(struct timespec){0, 300 * 1000 * 1000}, NULL);
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        _exit(0);
    }
    ck_assert_int_eq(read(ready[0], &c, 1), 1);
    struct gt_trace_reader *r = open_ok(path);
    int rc;
    ck_assert_int_eq(read_all_checked(r, 64, &rc), 100);
    ck_assert_int_eq(rc, GT_OK);
    gt_trace_close(r);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(ready[0]);
    close(ready[1]);
}
END_TEST

/* The other way round: a reader holds the trace for 300 ms while the
 * writer commits; the commit waits and succeeds. */
START_TEST(a_commit_waits_for_a_reader_in_progress)
{
    const char *path = path_of("t.db");
    struct gt_trace_writer *w = NULL;
    char err[256];
    int ready[2];
    char c;

    ck_assert_int_eq(gt_trace_create(path, &w, err, sizeof err), GT_OK);
    for (int64_t i = 0; i < 50; i++) {
        struct gt_event e = event_at(i);
        ck_assert_int_eq(gt_trace_append(w, &e), GT_OK);
    }
    ck_assert_int_eq(gt_trace_commit(w), GT_OK);
    ck_assert_int_eq(pipe(ready), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        sqlite3 *db;
        if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK ||
            sqlite3_exec(db, "BEGIN; SELECT count(*) FROM event_batches", NULL, NULL, NULL) !=
                SQLITE_OK)
            _exit(1);
        if (write(ready[1], "x", 1) != 1)
            _exit(1);
        nanosleep(&(struct timespec){0, 300 * 1000 * 1000}, NULL);
        sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
        _exit(0);
    }
    ck_assert_int_eq(read(ready[0], &c, 1), 1);
    for (int64_t i = 50; i < 100; i++) {
        struct gt_event e = event_at(i);
        ck_assert_int_eq(gt_trace_append(w, &e), GT_OK);
    }
    ck_assert_msg(gt_trace_commit(w) == GT_OK, "%s", gt_trace_writer_errmsg(w));
    ck_assert_int_eq(gt_trace_writer_close(w), GT_OK);
    int status;
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    close(ready[0]);
    close(ready[1]);
    struct gt_trace_reader *r = open_ok(path);
    int rc;
    ck_assert_int_eq(read_all_checked(r, 64, &rc), 100);
    gt_trace_close(r);
}
END_TEST

/* ---- format v2: batches ---------------------------------------------- */

/* Stores n, the checksum sum and data in the row of the batch at first_seq
 * of the open db, and kinds unless it is NULL. */
static void store_batch(sqlite3 *db, int64_t first_seq, int64_t n, int64_t sum,
                        const unsigned char *data, int len, const int64_t *kinds)
{
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(db,
                                        "UPDATE event_batches SET n = ?2, checksum = ?3,"
                                        " data = ?4, kinds = coalesce(?5, kinds)"
                                        " WHERE first_seq = ?1",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(st, 1, first_seq);
    sqlite3_bind_int64(st, 2, n);
    sqlite3_bind_int64(st, 3, sum);
    sqlite3_bind_blob(st, 4, data, len, SQLITE_TRANSIENT);
    if (kinds != NULL)
        sqlite3_bind_int64(st, 5, *kinds);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_DONE);
    ck_assert_int_eq(sqlite3_changes(db), 1);
    sqlite3_finalize(st);
}

/* Changes one byte of the stored row of the batch at first_seq: of its data
 * (col 3) at off, or the low byte of n (col 1) or the checksum (col 2). */
static void damage_batch(const char *path, int64_t first_seq, int col, size_t off)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    unsigned char buf[GT_BATCH_MAX_BYTES];
    int len;

    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db,
                                        "SELECT n, checksum, data FROM event_batches"
                                        " WHERE first_seq = ?1",
                                        -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_int64(st, 1, first_seq);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    int64_t n = sqlite3_column_int64(st, 0), sum = sqlite3_column_int64(st, 1);
    len = sqlite3_column_bytes(st, 2);
    ck_assert_int_le(len, (int)sizeof buf);
    memcpy(buf, sqlite3_column_blob(st, 2), (size_t)len);
    sqlite3_finalize(st);
    if (col == 3)
        buf[off % (size_t)len] ^= 0x5a;
    else if (col == 1)
        n ^= 1;
    else
        sum ^= 1;
    store_batch(db, first_seq, n, sum, buf, len, NULL);
    sqlite3_close(db);
}

/* Replaces batch first_seq (events first_seq.. of event_at) by one a later
 * writer could have made: the events at the n_odd offsets in odd get kind
 * odd_kind[i], which this writer refuses; checksum and summary agree. */
static void rewrite_with_kinds(const char *path, int64_t first_seq, int64_t n, const size_t *odd,
                               const int32_t *odd_kind, size_t n_odd)
{
    static struct gt_batch b;
    gt_batch_reset(&b);
    for (int64_t k = 0; k < n; k++) {
        struct gt_event e = event_at(first_seq - 1 + k);
        e.seq = first_seq + k;
        for (size_t i = 0; i < n_odd; i++)
            if (odd[i] == (size_t)k)
                e.kind = odd_kind[i];
        gt_batch_add(&b, &e);
    }
    sqlite3 *db = NULL;
    int64_t kinds = (int64_t)b.sum.kinds;
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    store_batch(db, first_seq, n, (int64_t)gt_batch_checksum(first_seq, n, b.buf, b.len), b.buf,
                (int)b.len, &kinds);
    sqlite3_close(db);
}

/* Events of kinds this reader does not know (a later writer's, 0, negative)
 * inside a batch with a summary are passed over by the view and counted,
 * wherever they sit in the batch; the known events around them all come. */
START_TEST(a_view_passes_over_unknown_kinds_inside_a_summarized_batch)
{
    const char *p = path_of("t.db");
    const int64_t full = 3 * GT_BATCH_EVENTS, first = GT_BATCH_EVENTS + 1;
    const size_t odd[] = {0, 5, 6, 700, GT_BATCH_EVENTS - 1};
    const int32_t odd_kind[] = {99, 0, -3, 40, 63};
    const struct gt_event *evs;
    size_t n;
    int64_t seen = 0;
    int rc;

    write_trace(p, full);
    rewrite_with_kinds(p, first, GT_BATCH_EVENTS, odd, odd_kind, 5);
    struct gt_trace_reader *r = open_ok(p);
    ck_assert(gt_trace_has_summaries(r));
    while ((rc = gt_trace_read_view(r, &evs, &n)) == GT_OK && n > 0) {
        for (size_t k = 0; k < n; k++) {
            ck_assert_msg(evs[k].kind >= 1 && evs[k].kind <= GT_EV_KIND_MAX,
                          "seq %lld of kind %d lent", (long long)evs[k].seq, evs[k].kind);
            seen++;
        }
    }
    ck_assert_int_eq(rc, GT_OK);
    ck_assert_int_eq(seen, full - 5);
    ck_assert_int_eq(gt_trace_skipped(r), 5);
    gt_trace_close(r);
}
END_TEST

/* Every damaged byte of a batch, its count or its checksum ends in an error
 * naming the batch, after exactly the events before it: never other events. */
START_TEST(a_damaged_batch_is_an_error_naming_it_after_the_events_before_it)
{
    const char *p = path_of("t.db"), *q = path_of("bad.db");
    const int64_t full = 5000, first = 2 * GT_BATCH_EVENTS + 1;

    write_trace(p, full);
    for (int trial = 0; trial < 60; trial++) {
        struct gt_trace_reader *r;
        int rc;
        copy_file(p, q);
        damage_batch(q, first, trial < 50 ? 3 : trial < 55 ? 1 : 2, (size_t)trial * 397);
        r = open_ok(q);
        ck_assert_int_eq(read_all_checked(r, 64, &rc), first - 1);
        ck_assert_int_eq(rc, GT_ECORRUPT);
        ck_assert_msg(strstr(gt_trace_errmsg(r), "the batch at seq 2049 is damaged") != NULL, "%s",
                      gt_trace_errmsg(r));
        gt_trace_close(r);
        unlink(q);
    }
}
END_TEST

/* A batch that SQLite no longer shows (damage that drops a cell, or an
 * edit) is an error, wherever it was: the seqs are counted. */
START_TEST(a_missing_batch_is_an_error_even_the_last_one)
{
    const char *p = path_of("t.db"), *q = path_of("cut.db");
    const int64_t full = 3 * GT_BATCH_EVENTS + 5;
    struct gt_trace_reader *r;
    int rc;

    write_trace(p, full);
    copy_file(p, q);
    exec_sql(q, "DELETE FROM event_batches WHERE first_seq = 1025");
    r = open_ok(q);
    ck_assert_int_eq(read_all_checked(r, 64, &rc), GT_BATCH_EVENTS);
    ck_assert_int_eq(rc, GT_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(gt_trace_errmsg(r), "the events before it are missing"));
    gt_trace_close(r);
    unlink(q);
    copy_file(p, q);
    exec_sql(q, "DELETE FROM event_batches WHERE first_seq = 3073");
    r = open_ok(q);
    ck_assert_int_eq(read_all_checked(r, 64, &rc), 3 * GT_BATCH_EVENTS);
    ck_assert_int_eq(rc, GT_ECORRUPT);
    ck_assert_str_eq(gt_trace_errmsg(r),
                     "events after seq 3072 are missing: the trace holds 3077 events");
    gt_trace_close(r);
}
END_TEST

/* ---- batch summaries -------------------------------------------------- */

/* The events a filter is offered and what it decides: batches whose number
 * (0-based) is in take are passed over. */
struct offers {
    struct gt_trace_batch_summary seen[16];
    size_t n;
    unsigned take; /* bit k: take batch k's summary */
};

static bool take_some(void *ctx, const struct gt_trace_batch_summary *s)
{
    struct offers *o = ctx;
    int64_t batch = (s->first_seq - 1) / GT_BATCH_EVENTS;
    ck_assert_uint_lt(o->n, 16);
    o->seen[o->n++] = *s;
    return (o->take >> batch) & 1;
}

/* The summary of events [first, first + n) of event_at, as the writer makes
 * it. */
static struct gt_trace_batch_summary summary_of(int64_t first, int64_t n)
{
    struct gt_trace_batch_summary s = {0};
    for (int64_t i = first; i < first + n; i++) {
        struct gt_event e = event_at(i - 1);
        e.seq = i;
        gt_trace_summary_add(&s, &e);
    }
    return s;
}

/* Every batch of a new trace carries its summary; the batches a filter takes
 * are passed over and the others decoded, in order, with nothing else lost. */
START_TEST(a_filter_passes_over_the_batches_it_takes_and_reads_the_others)
{
    const char *p = path_of("t.db");
    const int64_t full = 4 * GT_BATCH_EVENTS + 7;
    const struct gt_event *evs;
    struct offers o = {.take = 0x5}; /* batches 0 and 2 */
    int64_t next = 1;
    size_t n;
    int rc;

    write_trace(p, full);
    struct gt_trace_reader *r = open_ok(p);
    ck_assert(gt_trace_has_summaries(r));
    gt_trace_summarize(r, take_some, &o);
    while ((rc = gt_trace_read_view(r, &evs, &n)) == GT_OK && n > 0) {
        for (size_t k = 0; k < n; k++) {
            if (next == 1 || next == 2 * GT_BATCH_EVENTS + 1)
                next += GT_BATCH_EVENTS; /* a batch taken */
            struct gt_event want = event_at(next - 1);
            want.seq = next++;
            assert_same_event(&evs[k], &want);
        }
    }
    ck_assert_int_eq(next, full + 1);
    ck_assert_int_eq(rc, GT_OK);
    /* each batch was offered once, with the summary of its events: event_at
     * spreads devices and pids, so none has one of either */
    ck_assert_uint_eq(o.n, 5);
    for (size_t b = 0; b < o.n; b++) {
        int64_t first = (int64_t)b * GT_BATCH_EVENTS + 1;
        int64_t len = b == 4 ? 7 : GT_BATCH_EVENTS;
        struct gt_trace_batch_summary want = summary_of(first, len);
        ck_assert_int_eq(o.seen[b].first_seq, first);
        ck_assert_int_eq(o.seen[b].n, len);
        ck_assert_uint_eq(o.seen[b].kinds, want.kinds);
        ck_assert(!o.seen[b].one_device && !o.seen[b].one_pid);
    }
    gt_trace_close(r);
}
END_TEST

/* One device and one pid in a batch are stored; a batch with a kind this
 * reader does not know is never offered (its events are counted as skipped). */
START_TEST(a_summary_keeps_one_device_and_pid_and_unknown_kinds_are_not_offered)
{
    const char *p = path_of("t.db");
    struct gt_trace_writer *w = NULL;
    char err[256] = "";
    struct offers o = {.take = ~0u};
    const struct gt_event *evs;
    size_t n, got = 0;
    int rc;

    ck_assert_int_eq(gt_trace_create(p, &w, err, sizeof err), GT_OK);
    for (int64_t i = 0; i < 2 * GT_BATCH_EVENTS; i++) {
        struct gt_event e = {
            .pid = 77, .device = 3, .kind = GT_EV_ALLOC, .addr = 4096, .size = 512};
        e.kind = i % 2 ? GT_EV_FREE : GT_EV_ALLOC;
        ck_assert_int_eq(gt_trace_append(w, &e), GT_OK);
    }
    ck_assert_int_eq(gt_trace_writer_close(w), GT_OK);
    /* the second batch gets an event of a kind from the future */
    exec_sql(p, "UPDATE event_batches SET kinds = kinds | (1 << 40) WHERE first_seq = 1025");
    struct gt_trace_reader *r = open_ok(p);
    gt_trace_summarize(r, take_some, &o);
    while ((rc = gt_trace_read_view(r, &evs, &n)) == GT_OK && n > 0)
        got += n;
    ck_assert_uint_eq(o.n, 1);
    ck_assert(o.seen[0].one_device && o.seen[0].one_pid);
    ck_assert_int_eq(o.seen[0].device, 3);
    ck_assert_int_eq(o.seen[0].pid, 77);
    ck_assert_uint_eq(o.seen[0].kinds, (1u << GT_EV_ALLOC) | (1u << GT_EV_FREE));
    /* decoded, the second batch's summary is found out */
    ck_assert_uint_eq(got, 0);
    ck_assert_int_eq(rc, GT_ECORRUPT);
    ck_assert_msg(strstr(gt_trace_errmsg(r), "the batch at seq 1025 is damaged (its summary does "
                                             "not match its events)") != NULL,
                  "%s", gt_trace_errmsg(r));
    gt_trace_close(r);
}
END_TEST

/* A summary that lies about kinds, device or pid is damage, found when its
 * batch is read, with or without a filter, after the events before it. */
START_TEST(a_summary_that_does_not_match_its_events_is_damage)
{
    const char *p = path_of("t.db"), *q = path_of("bad.db");
    const char *lies[] = {
        "UPDATE event_batches SET kinds = kinds & ~4 WHERE first_seq = 2049",
        "UPDATE event_batches SET kinds = (kinds | 1) - (kinds & 1) WHERE first_seq = 2049",
        "UPDATE event_batches SET device = 1 WHERE first_seq = 2049",
        "UPDATE event_batches SET pid = 4000 WHERE first_seq = 2049",
        "UPDATE event_batches SET kinds = 'all' WHERE first_seq = 2049",
        "UPDATE event_batches SET device = 1.5 WHERE first_seq = 2049",
    };

    write_trace(p, 3 * GT_BATCH_EVENTS);
    for (size_t k = 0; k < sizeof lies / sizeof lies[0]; k++) {
        for (int filtered = 0; filtered < 2; filtered++) {
            struct offers o = {.take = 0};
            int rc;
            copy_file(p, q);
            exec_sql(q, lies[k]);
            struct gt_trace_reader *r = open_ok(q);
            if (filtered)
                gt_trace_summarize(r, take_some, &o);
            const struct gt_event *evs;
            size_t n, got = 0;
            while ((rc = gt_trace_read_view(r, &evs, &n)) == GT_OK && n > 0)
                got += n;
            ck_assert_uint_eq(got, 2 * GT_BATCH_EVENTS);
            ck_assert_int_eq(rc, GT_ECORRUPT);
            ck_assert_msg(strstr(gt_trace_errmsg(r), "the batch at seq 2049 is damaged (its "
                                                     "summary does not match its events)") != NULL,
                          "%s: %s", lies[k], gt_trace_errmsg(r));
            gt_trace_close(r);
            unlink(q);
        }
    }
}
END_TEST

/* Makes SQLite take index name of the trace at path for an index of table
 * to, where it was one of table from; the index's pages stay as they are. */
static void move_index(const char *path, const char *name, const char *from, const char *to)
{
    char move[512];
    snprintf(move, sizeof move,
             "PRAGMA writable_schema = ON;"
             "UPDATE sqlite_master SET tbl_name = '%s',"
             " sql = replace(sql, ' ON %s(', ' ON %s(') WHERE name = '%s';",
             to, from, to, name);
    exec_sql(path, move);
}

/* Runs sql on the trace at path while SQLite takes index name (over
 * event_batches) for an index of another table, so that the changes sql
 * makes to event_batches leave the index as it was: the way to give a test
 * an index that disagrees with its table, as damage to its pages would.
 * The index is made again after that table, so that SQLite, which reads
 * the schema in order, knows the table when it comes to the index. */
static void with_index_left_behind(const char *path, const char *name, const char *sql)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char text[512], move[1024];
    ck_assert_int_eq(sqlite3_open(path, &db), SQLITE_OK);
    ck_assert_int_eq(
        sqlite3_prepare_v2(db, "SELECT sql FROM sqlite_master WHERE name = ?1", -1, &st, NULL),
        SQLITE_OK);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    snprintf(text, sizeof text, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    ck_assert_int_eq(sqlite3_close(db), SQLITE_OK);
    snprintf(move, sizeof move,
             "CREATE TABLE decoy(first_seq INTEGER PRIMARY KEY, n, checksum, kinds, device, pid);"
             "DROP INDEX %s; %s;",
             name, text);
    exec_sql(path, move);
    move_index(path, name, "event_batches", "decoy");
    exec_sql(path, sql); /* a new connection: the index is decoy's */
    move_index(path, name, "decoy", "event_batches");
}

/* Reads the trace at path to its end or first error: through views under a
 * filter that takes no summary (filtered), through views, or through
 * gt_trace_read (copied); returns the events delivered and, in *rc, how
 * the reading ended. */
static size_t read_whole(const char *path, int how, int *rc, char *err, size_t errlen)
{
    struct gt_trace_reader *r = open_ok(path);
    struct offers o = {.take = 0};
    const struct gt_event *evs;
    struct gt_event buf[100];
    size_t n, got = 0;
    if (how == 0)
        gt_trace_summarize(r, take_some, &o);
    if (how == 2) {
        while ((*rc = gt_trace_read(r, buf, 100, &n)) == GT_OK && n > 0)
            got += n;
    } else {
        while ((*rc = gt_trace_read_view(r, &evs, &n)) == GT_OK && n > 0)
            got += n;
    }
    snprintf(err, errlen, "%s", gt_trace_errmsg(r));
    gt_trace_close(r);
    return got;
}

/* The summary index is what a pass over the summaries reads, so it is held
 * to the events as each row's summary is: an entry that lies, a batch the
 * index lacks and an entry without a batch are damage, found by every
 * pass that decodes the batches, after the events before them. */
START_TEST(the_summary_index_is_held_to_the_events_as_the_rows_are)
{
    const char *p = path_of("t.db"), *q = path_of("bad.db");
    struct {
        const char *before, *behind, *after; /* sql: index kept, left behind, kept */
        size_t delivered;
        const char *msg, *filtered_msg; /* filtered_msg: NULL when msg */
    } damage[] = {
        {"UPDATE event_batches SET kinds = kinds & ~4 WHERE first_seq = 2049",
         "UPDATE event_batches SET kinds = kinds | 4 WHERE first_seq = 2049", "", 2048,
         "the batch at seq 2049 is damaged (its entry in the summary index does not match its "
         "events)",
         NULL},
        {"UPDATE event_batches SET pid = 1 WHERE first_seq = 1025",
         "UPDATE event_batches SET pid = NULL WHERE first_seq = 1025", "", 1024,
         "the batch at seq 1025 is damaged (its entry in the summary index does not match its "
         "events)",
         NULL},
        {"CREATE TABLE keep AS SELECT * FROM event_batches WHERE first_seq = 2049;"
         "DELETE FROM event_batches WHERE first_seq = 2049",
         "INSERT INTO event_batches SELECT * FROM keep", "", 2048,
         "the batch at seq 2049 is damaged (the summary index has no entry for it)",
         /* a walk of the index ends early: missing events */
         "events after seq 2048 are missing: the trace holds 2148 events"},
        {"", "DELETE FROM event_batches WHERE first_seq = 2049",
         "UPDATE meta SET value = '2048' WHERE key = 'event_count'", 2048,
         "the summaries list a batch at seq 2049 that the trace does not hold", NULL},
    };

    write_trace(p, 2 * GT_BATCH_EVENTS + 100);
    for (size_t k = 0; k < sizeof damage / sizeof damage[0]; k++) {
        for (int how = 0; how < 3; how++) {
            char err[512];
            int rc;
            copy_file(p, q);
            if (damage[k].before[0])
                exec_sql(q, damage[k].before);
            with_index_left_behind(q, GT_SCHEMA_SUMMARY_INDEX_NAME, damage[k].behind);
            if (damage[k].after[0])
                exec_sql(q, damage[k].after);
            size_t got = read_whole(q, how, &rc, err, sizeof err);
            const char *msg =
                how == 0 && damage[k].filtered_msg != NULL ? damage[k].filtered_msg : damage[k].msg;
            ck_assert_msg(rc == GT_ECORRUPT && strstr(err, msg) != NULL,
                          "damage %zu, read %d: rc %d, %s", k, how, rc, err);
            /* the filtered pass passes over no batch here, so it stops where
             * the others do, and a view walk and a copying read agree */
            ck_assert_msg(got == damage[k].delivered, "damage %zu, read %d: %zu events", k, how,
                          got);
            unlink(q);
        }
    }
}
END_TEST

/* An index of another make is never read, even when it would serve the
 * query: one under another name, and one under the writer's name but not
 * its text. Both lie here, and the summaries offered are still the table's. */
START_TEST(an_index_the_writer_did_not_make_is_not_read)
{
    const char *p = path_of("t.db");
    const char *make[] = {
        "CREATE INDEX other ON event_batches(first_seq, n, kinds, device, pid)",
        "CREATE INDEX " GT_SCHEMA_SUMMARY_INDEX_NAME
        " ON event_batches(first_seq, n, kinds, device, pid, checksum)",
    };
    const char *names[] = {"other", GT_SCHEMA_SUMMARY_INDEX_NAME};

    for (size_t k = 0; k < 2; k++) {
        struct offers o = {.take = ~0u};
        const struct gt_event *evs;
        size_t n, got = 0;
        int rc;
        write_trace(p, 2 * GT_BATCH_EVENTS);
        exec_sql(p, "DROP INDEX " GT_SCHEMA_SUMMARY_INDEX_NAME);
        exec_sql(p, make[k]);
        with_index_left_behind(p, names[k], "UPDATE event_batches SET kinds = 6");
        struct gt_trace_reader *r = open_ok(p);
        gt_trace_summarize(r, take_some, &o);
        while ((rc = gt_trace_read_view(r, &evs, &n)) == GT_OK && n > 0)
            got += n;
        ck_assert_int_eq(rc, GT_OK);
        ck_assert_uint_eq(o.n, 2);
        /* the table's lie, not the index's truth: the walk read the table */
        ck_assert_uint_eq(o.seen[0].kinds, 6);
        ck_assert_uint_eq(o.seen[1].kinds, 6);
        gt_trace_close(r);
        unlink(p);
    }
}
END_TEST

/* A format 2 trace written before the summaries existed reads whole under a
 * filter, which is never asked; so does a batch whose kinds is NULL (its
 * device and pid then say nothing), next to batches with a summary. */
START_TEST(a_trace_without_summaries_is_read_whole_under_a_filter)
{
    const char *p = path_of("t.db");
    const char *bare[] = {
        "DROP INDEX " GT_SCHEMA_SUMMARY_INDEX_NAME ";"
        "ALTER TABLE event_batches DROP COLUMN pid;"
        "ALTER TABLE event_batches DROP COLUMN device;"
        "ALTER TABLE event_batches DROP COLUMN kinds;",
        "UPDATE event_batches SET kinds = NULL, device = 9 WHERE first_seq = 1025",
    };

    for (size_t k = 0; k < sizeof bare / sizeof bare[0]; k++) {
        struct offers o = {.take = 0};
        const struct gt_event *evs;
        int64_t count = 0;
        size_t n;
        int rc;
        write_trace(p, 2 * GT_BATCH_EVENTS + 3);
        exec_sql(p, bare[k]);
        struct gt_trace_reader *r = open_ok(p);
        ck_assert(gt_trace_has_summaries(r) == (k > 0));
        gt_trace_summarize(r, take_some, &o);
        while ((rc = gt_trace_read_view(r, &evs, &n)) == GT_OK && n > 0)
            count += (int64_t)n;
        ck_assert_int_eq(count, 2 * GT_BATCH_EVENTS + 3);
        ck_assert_msg(rc == GT_OK, "%s: %s", bare[k], gt_trace_errmsg(r));
        ck_assert_uint_eq(o.n, k > 0 ? 2 : 0); /* the batches at 1 and 2049 */
        for (size_t b = 0; b < o.n; b++)
            ck_assert_int_ne(o.seen[b].first_seq, GT_BATCH_EVENTS + 1);
        gt_trace_close(r);
        unlink(p);
    }
}
END_TEST

static bool decline(void *ctx, const struct gt_trace_batch_summary *s)
{
    (void)s;
    ++*(int *)ctx;
    return false;
}

/* A walk of gt_trace_read_view keeps its read lock from one call to the
 * next, but for 64 batches at most: a recorder waiting to commit gets in
 * between, with or without a summary filter. */
START_TEST(a_walk_over_every_event_lets_a_commit_in_every_64_batches)
{
    const char *p = path_of("t.db");
    const int64_t batches = 200;

    write_trace(p, batches * GT_BATCH_EVENTS);
    for (int filtered = 0; filtered < 2; filtered++) {
        struct gt_trace_reader *r = open_ok(p);
        sqlite3 *db = NULL;
        const struct gt_event *evs;
        int offered = 0, blocked = 0, longest = 0, got_in = 0, rc;
        int64_t count = 0;
        size_t n;

        ck_assert_int_eq(sqlite3_open(p, &db), SQLITE_OK);
        if (filtered)
            gt_trace_summarize(r, decline, &offered);
        while ((rc = gt_trace_read_view(r, &evs, &n)) == GT_OK && n > 0) {
            count += (int64_t)n;
            if (sqlite3_exec(db, "BEGIN EXCLUSIVE; ROLLBACK", NULL, NULL, NULL) == SQLITE_OK) {
                got_in++;
                blocked = 0;
            } else if (++blocked > longest) {
                longest = blocked;
            }
        }
        ck_assert_int_eq(rc, GT_OK);
        ck_assert_int_eq(count, batches * GT_BATCH_EVENTS);
        ck_assert_int_eq(offered, filtered ? batches : 0);
        /* the walk does hold the lock between calls, and lets go */
        ck_assert_int_ge(longest, 1);
        ck_assert_int_le(longest, 64);
        ck_assert_int_ge(got_in, 2);
        sqlite3_close(db);
        gt_trace_close(r);
    }
}
END_TEST

/* A v1 copy (one row per event) reads exactly as its v2 original. */
START_TEST(a_format_1_trace_reads_as_its_format_2_original)
{
    const char *p = path_of("t.db"), *q = path_of("v1.db");
    struct gt_trace_reader *a, *b;
    struct gt_event x[100], y[100];
    size_t n, m;
    int64_t total = 0, count = 0;

    write_trace(p, 3 * GT_BATCH_EVENTS + 7);
    make_v1(p, q);
    a = open_ok(p);
    b = open_ok(q);
    ck_assert_int_eq(gt_trace_version(a), 2);
    ck_assert_int_eq(gt_trace_version(b), 1);
    ck_assert_int_eq(gt_trace_event_count(b, &count), GT_OK);
    ck_assert_int_eq(count, 3 * GT_BATCH_EVENTS + 7);
    ck_assert_int_eq(gt_trace_event_count(a, &count), GT_OK);
    ck_assert_int_eq(count, 3 * GT_BATCH_EVENTS + 7);
    do {
        ck_assert_int_eq(gt_trace_read(a, x, 100, &n), GT_OK);
        ck_assert_int_eq(gt_trace_read(b, y, 100, &m), GT_OK);
        ck_assert_uint_eq(n, m);
        for (size_t i = 0; i < n; i++) {
            ck_assert_int_eq(x[i].seq, y[i].seq);
            ck_assert(same_event(&x[i], &y[i]));
        }
        total += (int64_t)n;
    } while (n > 0);
    ck_assert_int_eq(total, 3 * GT_BATCH_EVENTS + 7);
    gt_trace_close(a);
    gt_trace_close(b);
}
END_TEST

/* One SQL integer from a query on an open connection. */
static int64_t db_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *st = NULL;
    ck_assert_msg(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s: %s", sql,
                  sqlite3_errmsg(db));
    ck_assert_msg(sqlite3_step(st) == SQLITE_ROW, "%s: %s", sql, sqlite3_errmsg(db));
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* SQL sees one row per event in events, bounds on seq across batch edges
 * included, and a damaged batch as an error. */
START_TEST(sql_sees_one_row_per_event_of_a_format_2_trace)
{
    const char *p = path_of("t.db");
    const int64_t full = 2 * GT_BATCH_EVENTS + 100;
    sqlite3 *db = NULL;
    char err[256] = "";
    int64_t size_sum = 0;

    write_trace(p, full);
    for (int64_t i = 0; i < full; i++)
        size_sum += (int64_t)event_at(i).size;
    ck_assert_msg(gt_trace_sql_open(p, &db, err, sizeof err) == GT_OK, "%s", err);
    ck_assert_int_eq(db_int(db, "SELECT count(*) FROM events"), full);
    ck_assert_int_eq(db_int(db, "SELECT sum(size) FROM events"), size_sum);
    ck_assert_int_eq(db_int(db, "SELECT count(*) FROM events WHERE seq BETWEEN 1000 AND 1100"),
                     101);
    ck_assert_int_eq(db_int(db, "SELECT count(*) FROM events WHERE seq > 1024 AND seq < 1026"), 1);
    ck_assert_int_eq(db_int(db, "SELECT addr FROM events WHERE seq = 1025"),
                     (int64_t)event_at(1024).addr);
    ck_assert_int_eq(db_int(db, "SELECT seq FROM events ORDER BY seq DESC LIMIT 1"), full);
    ck_assert_int_eq(db_int(db, "SELECT count(*) FROM events WHERE seq > 99999"), 0);
    ck_assert_int_eq(db_int(db, "SELECT count(*) FROM events e JOIN kinds k USING (kind)"), full);
    sqlite3_close(db);

    damage_batch(p, GT_BATCH_EVENTS + 1, 3, 5);
    ck_assert_int_eq(gt_trace_sql_open(p, &db, err, sizeof err), GT_OK);
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM events", -1, &st, NULL),
                     SQLITE_OK);
    ck_assert_int_ne(sqlite3_step(st), SQLITE_ROW);
    ck_assert_ptr_nonnull(strstr(sqlite3_errmsg(db), "the batch at seq 1025 is damaged"));
    sqlite3_finalize(st);
    sqlite3_close(db);
}
END_TEST

/* Another client writes to the trace while it is being recorded: it waits
 * for (or is told "database is locked" by) the writer's open transaction,
 * and what it committed stays: no row lost, no damage. */
START_TEST(another_writer_between_commits_is_kept_or_told_it_is_locked)
{
    const char *p = path_of("t.db");
    struct gt_trace_writer *w = NULL;
    sqlite3 *other = NULL;
    char err[256] = "";
    int64_t i = 0;

    ck_assert_int_eq(gt_trace_create(p, &w, err, sizeof err), GT_OK);
    for (; i < GT_BATCH_EVENTS + 10; i++) { /* one batch inserted: the transaction writes */
        struct gt_event e = event_at(i);
        ck_assert_int_eq(gt_trace_append(w, &e), GT_OK);
    }
    ck_assert_int_eq(sqlite3_open(p, &other), SQLITE_OK);
    sqlite3_busy_timeout(other, 0);
    ck_assert_int_eq(
        sqlite3_exec(other, "DELETE FROM event_batches WHERE first_seq = 1", NULL, NULL, NULL),
        SQLITE_BUSY);
    ck_assert_int_eq(gt_trace_commit(w), GT_OK);
    /* Between commits the file is the other client's too. */
    ck_assert_int_eq(sqlite3_exec(other,
                                  "INSERT INTO meta VALUES('note', 'kept');"
                                  "UPDATE devices SET name = 'x' WHERE 0;",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(
        sqlite3_exec(other, "CREATE INDEX batch_n ON event_batches(n)", NULL, NULL, NULL),
        SQLITE_OK);
    for (; i < 3 * GT_BATCH_EVENTS; i++) {
        struct gt_event e = event_at(i);
        ck_assert_int_eq(gt_trace_append(w, &e), GT_OK);
    }
    ck_assert_msg(gt_trace_writer_close(w) == GT_OK, "%s", "close");
    ck_assert_int_eq(sqlite3_exec(other, "VACUUM", NULL, NULL, NULL), SQLITE_OK);
    ck_assert_int_eq(db_int(other, "SELECT count(*) FROM meta WHERE key = 'note'"), 1);
    sqlite3_stmt *st = NULL;
    ck_assert_int_eq(sqlite3_prepare_v2(other, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
    sqlite3_close(other);
    struct gt_trace_reader *r = open_ok(p);
    int rc;
    ck_assert_int_eq(read_all_checked(r, 64, &rc), 3 * GT_BATCH_EVENTS);
    ck_assert_int_eq(rc, GT_OK);
    gt_trace_close(r);
}
END_TEST

/* A reader open while another client switches the file to WAL and changes
 * it reads the change: every read call asks SQLite afresh. */
START_TEST(a_reader_open_across_a_switch_to_wal_sees_the_last_commit)
{
    const char *p = path_of("t.db");
    struct gt_trace_reader *r;
    struct gt_event buf[64];
    char value[64];
    size_t n;
    int64_t total = 0;
    int rc;

    write_trace(p, 3 * GT_BATCH_EVENTS);
    r = open_ok(p);
    ck_assert_int_eq(gt_trace_read(r, buf, 64, &n), GT_OK);
    total += (int64_t)n;
    exec_sql(p, "PRAGMA journal_mode=WAL; UPDATE meta SET value = 'changed' WHERE key ="
                " 'tool_version';");
    ck_assert_int_eq(gt_trace_meta(r, "tool_version", value, sizeof value), GT_OK);
    ck_assert_str_eq(value, "changed");
    while ((rc = gt_trace_read(r, buf, 64, &n)) == GT_OK && n > 0)
        total += (int64_t)n;
    ck_assert_int_eq(rc, GT_OK);
    ck_assert_int_eq(total, 3 * GT_BATCH_EVENTS);
    gt_trace_close(r);
}
END_TEST

/* A -journal left by a writer that died mid-commit is named as such, not
 * as a truncated file: one read-write open rolls it back. */
START_TEST(a_hot_journal_is_named_not_taken_for_a_cut)
{
    const char *p = path_of("t.db"), *j = path_of("t.db-journal");
    static const unsigned char head[] = {0xd9, 0xd5, 0x05, 0xf9, 0x20, 0xa1, 0x63, 0xd7};
    unsigned char junk[600];
    char err[256] = "";

    write_trace(p, 100);
    memcpy(junk, head, sizeof head);
    for (size_t i = sizeof head; i < sizeof junk; i++)
        junk[i] = (unsigned char)(i * 37);
    write_bytes(j, junk, sizeof junk);
    ck_assert_int_ne(open_err(p, err, sizeof err), GT_OK);
    ck_assert_msg(strstr(err, "a writer died mid-commit") != NULL, "%s", err);
    ck_assert_ptr_null(strstr(err, "truncated"));
    unlink(j);
}
END_TEST

/* A damaged v1 b-tree that gives a seq behind the last one is an error at
 * once (the reader used to restart behind it for ever: a hang). */
START_TEST(a_v1_table_whose_seqs_go_backwards_is_damage_not_a_hang)
{
    struct gt_trace_reader *r = open_ok(GT_TEST_DATA "/v1/seq-backwards.db");
    struct gt_event buf[7];
    size_t n, total = 0;
    int rc;
    while ((rc = gt_trace_read(r, buf, 7, &n)) == GT_OK && n > 0)
        total += n;
    ck_assert_uint_le(total, 4);
    ck_assert_int_eq(rc, GT_ECORRUPT);
    ck_assert_ptr_nonnull(strstr(gt_trace_errmsg(r), "seq 0 comes out of order"));
    gt_trace_close(r);
}
END_TEST

/* A reader left open across commits reads the pages they changed, not
 * readahead.c's copy of them from before: the buffer outlives a read
 * transaction only while the file change counter stays the same. Each
 * commit here adds a short batch to the last leaf page of event_batches,
 * which the reader's buffer holds (the end of the file, read last). */
START_TEST(a_reader_open_across_commits_reads_the_changed_pages_afresh)
{
    const char *p = path_of("t.db");
    struct gt_trace_writer *w = NULL;
    char err[256] = "";
    int64_t i = 0, total;
    int rc;

    ck_assert_int_eq(gt_trace_create(p, &w, err, sizeof err), GT_OK);
    for (; i < 20 * GT_BATCH_EVENTS + 500; i++) {
        struct gt_event e = event_at(i);
        ck_assert_int_eq(gt_trace_append(w, &e), GT_OK);
    }
    ck_assert_int_eq(gt_trace_commit(w), GT_OK);
    struct gt_trace_reader *r = open_ok(p);
    total = read_all_checked(r, 64, &rc);
    ck_assert_int_eq(rc, GT_OK);
    ck_assert_int_eq(total, i);
    for (int round = 0; round < 3; round++) {
        for (int64_t end = i + 10; i < end; i++) {
            struct gt_event e = event_at(i);
            ck_assert_int_eq(gt_trace_append(w, &e), GT_OK);
        }
        ck_assert_int_eq(gt_trace_commit(w), GT_OK);
        total += read_on_checked(r, 64, total, &rc);
        ck_assert_int_eq(rc, GT_OK);
        ck_assert_int_eq(total, i);
    }
    gt_trace_close(r);
    ck_assert_int_eq(gt_trace_writer_close(w), GT_OK);
}
END_TEST

/* A count of this process's reads so far, as the kernel's task I/O
 * accounting keeps it: field "syscr" (read system calls) or "rchar" (the
 * bytes they read). */
static long io_count(const char *field)
{
    FILE *f = fopen("/proc/self/io", "r");
    char line[128];
    long n = -1;
    size_t len = strlen(field);
    ck_assert_msg(f != NULL, "/proc/self/io: %s", strerror(errno));
    while (fgets(line, sizeof line, f) != NULL)
        if (strncmp(line, field, len) == 0 && line[len] == ':') {
            n = strtol(line + len + 1, NULL, 10);
            break;
        }
    fclose(f);
    ck_assert_int_ge(n, 0);
    return n;
}

static long read_syscalls(void)
{
    return io_count("syscr");
}

/* The reader walks the batches in file order, and readahead.c serves that
 * walk from reads of 256 KiB where SQLite's own VFS makes one per 4 KiB
 * page. What is left is SQLite's own read of the change counter (16 bytes)
 * at the start of each read transaction: gt_trace_read ends one at each
 * batch (1024 events, here about 4 pages). The events are the same either
 * way: the other tests of this suite read through it. */
START_TEST(the_reader_reads_a_trace_in_large_reads_not_a_page_each)
{
    const char *p = path_of("t.db");
    struct stat sb;
    int rc;

    write_trace(p, 100000);
    ck_assert_int_eq(stat(p, &sb), 0);
    long pages = (long)(sb.st_size / 4096);
    ck_assert_int_gt(pages, 300);
    struct gt_trace_reader *r = open_ok(p);
    long before = read_syscalls();
    ck_assert_int_eq(read_all_checked(r, 64, &rc), 100000);
    ck_assert_int_eq(rc, GT_OK);
    long calls = read_syscalls() - before;
    gt_trace_close(r);
    ck_assert_msg(calls < pages / 3, "%ld read calls for %ld pages", calls, pages);
}
END_TEST

static bool take_every(void *ctx, const struct gt_trace_batch_summary *s)
{
    (void)s;
    ++*(int64_t *)ctx;
    return true;
}

/* Bytes read by a pass that takes every batch's summary (the card pass of
 * a trace of successful allocations and frees) over the trace at path,
 * which holds events events. */
static long summary_pass_bytes(const char *path, int64_t events)
{
    struct gt_trace_reader *r = open_ok(path);
    const struct gt_event *evs;
    int64_t offered = 0;
    size_t n;
    gt_trace_summarize(r, take_every, &offered);
    long before = io_count("rchar");
    ck_assert_int_eq(gt_trace_read_view(r, &evs, &n), GT_OK);
    long bytes = io_count("rchar") - before;
    ck_assert_uint_eq(n, 0);
    ck_assert_int_eq(offered, (events + GT_BATCH_EVENTS - 1) / GT_BATCH_EVENTS);
    gt_trace_close(r);
    return bytes;
}

/* The summary index keeps the summaries in pages of their own: a pass over
 * them reads those few pages, where without the index it reads every leaf
 * page of the table, each holding the first bytes of a batch between the
 * overflow pages of the others (and the read-ahead then reads it all). */
START_TEST(a_pass_over_the_summaries_reads_their_index_not_the_batches)
{
    const char *p = path_of("t.db"), *q = path_of("bare.db");
    struct stat sb;

    const int64_t events = 100000;

    write_trace(p, events);
    copy_file(p, q);
    exec_sql(q, "DROP INDEX " GT_SCHEMA_SUMMARY_INDEX_NAME);
    ck_assert_int_eq(stat(p, &sb), 0);
    long indexed = summary_pass_bytes(p, events), bare = summary_pass_bytes(q, events);
    ck_assert_msg(indexed < sb.st_size / 8 && bare > sb.st_size / 2,
                  "%ld bytes read with the index, %ld without, of %lld", indexed, bare,
                  (long long)sb.st_size);
}
END_TEST

/* Opening a trace checks its schema in one read transaction: each query
 * on its own began one and read the change counter again (SQLite's check at
 * the start of each), 22 reads an open where 4 are left. */
START_TEST(opening_a_trace_checks_it_in_one_read_transaction)
{
    const char *p = path_of("t.db");

    write_trace(p, 10);
    long before = read_syscalls();
    struct gt_trace_reader *r = open_ok(p);
    long calls = read_syscalls() - before;
    gt_trace_close(r);
    ck_assert_msg(calls <= 8, "%ld read calls to open a trace", calls);
}
END_TEST

/* Takes the summaries of all batches but one in 25, which the pass then
 * decodes. */
static bool decline_one_in_25(void *ctx, const struct gt_trace_batch_summary *s)
{
    bool decline = (s->first_seq / GT_BATCH_EVENTS) % 25 == 5;
    *(int64_t *)ctx += decline;
    return !decline;
}

/* A pass over the summaries that decodes a batch here and there (some 18
 * KiB, 450 KiB apart) reads about those batches and the pages around them
 * that a read-ahead of 64 KiB takes, where one of 256 KiB each read more
 * than half the file. */
START_TEST(a_pass_that_decodes_a_batch_here_and_there_reads_about_those_batches)
{
    const char *p = path_of("t.db");
    struct stat sb;
    const struct gt_event *evs;
    int64_t declined = 0, decoded = 0;
    size_t n;

    write_trace(p, 250000);
    ck_assert_int_eq(stat(p, &sb), 0);
    struct gt_trace_reader *r = open_ok(p);
    gt_trace_summarize(r, decline_one_in_25, &declined);
    long before = io_count("rchar");
    while (gt_trace_read_view(r, &evs, &n) == GT_OK && n > 0)
        decoded += (int64_t)n;
    long bytes = io_count("rchar") - before;
    gt_trace_close(r);
    ck_assert_int_ge(declined, 9);
    ck_assert_int_eq(decoded, declined * GT_BATCH_EVENTS);
    ck_assert_msg(bytes < declined * 96 * 1024 && bytes < sb.st_size / 2,
                  "%ld bytes read to decode %lld batches of a file of %lld", bytes,
                  (long long)declined, (long long)sb.st_size);
}
END_TEST

static Suite *trace_suite(void)
{
    Suite *s = suite_create("trace");
    TCase *tc = tcase_create("core");

    /* Some tests write 100 000 events, longer than Check's default 4 s
     * under the sanitizers. */
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, make_dir, remove_dir);
    tcase_add_test(tc, every_field_round_trips_including_addresses_above_2_63);
    tcase_add_test(tc, a_view_lends_every_event_with_the_skipped_fields_zeroed);
    tcase_add_test(tc, a_commit_makes_the_events_so_far_readable_while_the_writer_goes_on);
    tcase_add_test(tc, a_reader_waits_for_a_commit_in_progress);
    tcase_add_test(tc, a_commit_waits_for_a_reader_in_progress);
    tcase_add_test(tc, a_new_trace_is_readable_by_its_owner_only);
    tcase_add_test(tc, create_refuses_an_existing_path_and_leaves_the_file_alone);
    tcase_add_test(tc, the_file_carries_gpu_trace_ids_and_the_kinds_table);
    tcase_add_test(tc, metadata_devices_and_processes_round_trip);
    tcase_add_test(tc, events_come_back_in_order_across_many_small_reads_and_after_rewind);
    tcase_add_test(tc, an_empty_trace_reads_as_no_events);
    tcase_add_test(tc, rows_of_unknown_kinds_are_skipped_and_counted);
    tcase_add_test(tc, a_view_passes_over_unknown_kinds_inside_a_summarized_batch);
    tcase_add_test(tc, a_foreign_sqlite_file_is_rejected_as_not_a_gpu_trace_file);
    tcase_add_test(tc, random_bytes_and_an_empty_file_are_not_gpu_trace_files);
    tcase_add_test(tc, a_missing_file_is_reported_as_missing);
    tcase_add_test(tc, a_newer_format_version_is_rejected_naming_both_versions);
    tcase_add_test(tc, format_version_0_with_our_application_id_is_damage);
    tcase_add_test(tc, a_missing_column_or_table_is_named);
    tcase_add_test(tc, an_events_view_is_not_taken_for_the_table);
    tcase_add_test(tc, a_truncated_trace_gives_the_events_before_the_cut_or_an_error);
    tcase_add_test(tc, a_table_in_another_layout_is_read_through_sql_with_the_same_result);
    tcase_add_test(tc, kind_names_and_numbers_map_both_ways);
    tcase_add_test(tc, append_refuses_a_kind_readers_would_skip);
    tcase_add_test(tc, every_new_trace_has_the_optional_tables);
    tcase_add_test(tc, stacks_round_trip_innermost_first_and_events_without_one_have_none);
    tcase_add_test(tc, events_sharing_3_stacks_store_3_stacks_and_only_the_distinct_frames);
    tcase_add_test(tc, frames_with_empty_strings_line_0_and_word_sized_names_stay_distinct);
    tcase_add_test(tc, an_empty_stack_is_stored_as_none);
    tcase_add_test(tc, optional_rows_for_events_not_appended_or_null_strings_are_refused);
    tcase_add_test(tc, totals_round_trip_in_seq_order_across_commit_batches);
    tcase_add_test(tc, initial_blocks_round_trip_in_device_and_unsigned_address_order);
    tcase_add_test(tc, initial_pools_round_trip_and_are_optional);
    tcase_add_test(tc, two_initial_blocks_at_one_address_are_an_error);
    tcase_add_test(tc, a_trace_older_than_the_optional_tables_reads_as_having_no_rows);
    tcase_add_test(tc, damaged_optional_tables_are_named_not_read_as_empty);
    tcase_add_test(tc, a_stack_query_started_from_its_own_callback_is_refused);
    tcase_add_test(tc, a_damaged_batch_is_an_error_naming_it_after_the_events_before_it);
    tcase_add_test(tc, a_format_1_trace_reads_as_its_format_2_original);
    tcase_add_test(tc, a_missing_batch_is_an_error_even_the_last_one);
    tcase_add_test(tc, a_hot_journal_is_named_not_taken_for_a_cut);
    tcase_add_test(tc, a_v1_table_whose_seqs_go_backwards_is_damage_not_a_hang);
    tcase_add_test(tc, a_reader_open_across_a_switch_to_wal_sees_the_last_commit);
    tcase_add_test(tc, sql_sees_one_row_per_event_of_a_format_2_trace);
    tcase_add_test(tc, another_writer_between_commits_is_kept_or_told_it_is_locked);
    tcase_add_test(tc, a_filter_passes_over_the_batches_it_takes_and_reads_the_others);
    tcase_add_test(tc, a_summary_keeps_one_device_and_pid_and_unknown_kinds_are_not_offered);
    tcase_add_test(tc, a_summary_that_does_not_match_its_events_is_damage);
    tcase_add_test(tc, the_summary_index_is_held_to_the_events_as_the_rows_are);
    tcase_add_test(tc, an_index_the_writer_did_not_make_is_not_read);
    tcase_add_test(tc, a_pass_over_the_summaries_reads_their_index_not_the_batches);
    tcase_add_test(tc, a_pass_that_decodes_a_batch_here_and_there_reads_about_those_batches);
    tcase_add_test(tc, opening_a_trace_checks_it_in_one_read_transaction);
    tcase_add_test(tc, a_trace_without_summaries_is_read_whole_under_a_filter);
    tcase_add_test(tc, a_walk_over_every_event_lets_a_commit_in_every_64_batches);
    tcase_add_test(tc, the_reader_reads_a_trace_in_large_reads_not_a_page_each);
    tcase_add_test(tc, a_reader_open_across_commits_reads_the_changed_pages_afresh);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(trace_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
