/* Tests of trace.h: real trace files in a temporary directory, damaged and
 * foreign files made with the sqlite3 API, no mocks. */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "gputrace/err.h"
#include "gputrace/schema.h"
#include "gputrace/trace.h"

#include "gputrace/banned.h"

static char dir[PATH_MAX];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/gt-test-trace-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void remove_dir(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[PATH_MAX + 300];

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static const char *path_of(const char *name)
{
    static char p[4][PATH_MAX + 64];
    static int next;
    char *out = p[next++ % 4];

    snprintf(out, sizeof p[0], "%s/%s", dir, name);
    return out;
}

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

/* Reads everything with a buffer of cap events; checks seq is 1, 2, 3, ...
 * and every event equals event_at. Returns the count; *rc the last result. */
static int64_t read_all_checked(struct gt_trace_reader *r, size_t cap, int *rc_out)
{
    struct gt_event buf[64];
    int64_t count = 0;
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
    return count;
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
    copy_file(p, q);
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
    ck_assert_str_eq(err, "trace format version 7 is newer than this gpu-trace reads (1)");
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

    write_trace(p, 3);
    exec_sql(p, "ALTER TABLE events RENAME TO old_events;"
                "CREATE VIEW events AS SELECT * FROM old_events;");
    ck_assert_int_eq(open_err(p, err, sizeof err), GT_ECORRUPT);
    ck_assert_str_eq(err, "table 'events' is missing");
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
    /* A cut in the last page loses at most that page's rows. */
    ck_assert_int_gt(best, full - 200);
}
END_TEST

/* An events table WITHOUT ROWID is valid SQL for v1 but not the layout the
 * fast path reads; the reader falls back to SQL and gives the same events. */
START_TEST(a_table_in_another_layout_is_read_through_sql_with_the_same_result)
{
    const char *p = path_of("t.db"), *q = path_of("w.db");
    struct gt_trace_reader *r;
    char sql[512];
    int rc;

    write_trace(p, 3000);
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

static Suite *trace_suite(void)
{
    Suite *s = suite_create("trace");
    TCase *tc = tcase_create("core");

    /* Some tests write 100 000 events, longer than Check's default 4 s
     * under the sanitizers. */
    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, make_dir, remove_dir);
    tcase_add_test(tc, every_field_round_trips_including_addresses_above_2_63);
    tcase_add_test(tc, a_new_trace_is_readable_by_its_owner_only);
    tcase_add_test(tc, create_refuses_an_existing_path_and_leaves_the_file_alone);
    tcase_add_test(tc, the_file_carries_gpu_trace_ids_and_the_kinds_table);
    tcase_add_test(tc, metadata_devices_and_processes_round_trip);
    tcase_add_test(tc, events_come_back_in_order_across_many_small_reads_and_after_rewind);
    tcase_add_test(tc, an_empty_trace_reads_as_no_events);
    tcase_add_test(tc, rows_of_unknown_kinds_are_skipped_and_counted);
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
