/* Tests of btappend_int.h: rows packed into SQLite b-tree pages by hand must
 * be a table SQLite itself reads, checks and rolls back. Real SQLite files
 * in a temporary folder; the only double is the failing disk of
 * gt_btappend_fail_write. */
#include <check.h>
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

#include "btappend_int.h"
#include "gputrace/err.h"

#include "gputrace/banned.h"

#include "test_tmpdir.h"

#define NCOLS 11

static char db_path[PATH_MAX + 16];

/* A new database with table t like the trace's events: an INTEGER PRIMARY
 * KEY and 10 integer columns. Returns the open connection; *root gets the
 * table's root page. */
static sqlite3 *make_db(int page_size, uint32_t *root)
{
    sqlite3 *db;
    char sql[512];
    sqlite3_stmt *st;

    snprintf(db_path, sizeof db_path, "%s/t.db", dir);
    ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
    snprintf(sql, sizeof sql,
             "PRAGMA page_size=%d; PRAGMA journal_mode=DELETE;"
             " CREATE TABLE other(k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID;"
             " CREATE TABLE t(id INTEGER PRIMARY KEY, a INTEGER NOT NULL, b INTEGER NOT NULL,"
             " c INTEGER NOT NULL, d INTEGER NOT NULL, e INTEGER NOT NULL, f INTEGER NOT NULL,"
             " g INTEGER NOT NULL, h INTEGER NOT NULL, i INTEGER NOT NULL, j INTEGER NOT NULL);",
             page_size);
    ck_assert_int_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT rootpage FROM sqlite_schema WHERE name = 't'",
                                        -1, &st, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    *root = (uint32_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return db;
}

/* Row i: values that need every integer serial type (0, 1, 1-8 bytes,
 * negative, INT64_MIN and INT64_MAX). */
static void row_at(int64_t i, int64_t *v)
{
    static const int64_t edge[] = {0,
                                   1,
                                   -1,
                                   127,
                                   128,
                                   -128,
                                   -129,
                                   32767,
                                   32768,
                                   8388607,
                                   8388608,
                                   2147483647,
                                   2147483648,
                                   -2147483649LL,
                                   140737488355327LL,
                                   140737488355328LL,
                                   INT64_MAX,
                                   INT64_MIN};
    v[0] = i;
    for (int c = 1; c < NCOLS; c++) {
        uint64_t x = (uint64_t)i * 0x9e3779b97f4a7c15u + (uint64_t)c * 0xbf58476d1ce4e5b9u;
        x ^= x >> 29;
        v[c] = c % 3 == 0 ? edge[(size_t)(x % (sizeof edge / sizeof edge[0]))]
                          : (int64_t)(x >> (x % 64));
    }
}

/* A commit as the trace writer makes it: under BEGIN EXCLUSIVE. */
static int commit(sqlite3 *db, struct gt_btappend *a)
{
    ck_assert_int_eq(sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL, NULL), SQLITE_OK);
    int rc = gt_btappend_commit(a);
    ck_assert_int_eq(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL), SQLITE_OK);
    return rc;
}

static void expect_integrity(sqlite3 *db)
{
    sqlite3_stmt *st;

    ck_assert_int_eq(sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_str_eq((const char *)sqlite3_column_text(st, 0), "ok");
    sqlite3_finalize(st);
}

/* Every row 1..n through SQL, in rowid order, equal to row_at. */
static void expect_rows(sqlite3 *db, int64_t n)
{
    sqlite3_stmt *st;
    int64_t i = 0, v[NCOLS];

    ck_assert_int_eq(sqlite3_prepare_v2(db, "SELECT * FROM t ORDER BY id", -1, &st, NULL),
                     SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW) {
        row_at(++i, v);
        for (int c = 0; c < NCOLS; c++)
            if (sqlite3_column_int64(st, c) != v[c])
                ck_abort_msg("row %lld column %d: %lld, expected %lld", (long long)i, c,
                             (long long)sqlite3_column_int64(st, c), (long long)v[c]);
    }
    sqlite3_finalize(st);
    ck_assert_int_eq(i, n);
}

static struct gt_btappend *open_appender(uint32_t root, int *fd)
{
    struct gt_btappend *a = NULL;
    char err[256] = "";

    *fd = open(db_path, O_RDWR | O_CLOEXEC);
    ck_assert_int_ge(*fd, 0);
    ck_assert_msg(gt_btappend_open(*fd, db_path, root, &a, err, sizeof err) == GT_OK, "%s", err);
    return a;
}

static void add_rows(struct gt_btappend *a, int64_t from, int64_t to)
{
    int64_t v[NCOLS];

    for (int64_t i = from; i <= to; i++) {
        row_at(i, v);
        ck_assert_int_eq(gt_btappend_add(a, i, v, NCOLS), GT_OK);
    }
}

static bool journal_exists(void)
{
    char p[PATH_MAX + 32];
    snprintf(p, sizeof p, "%s-journal", db_path);
    return access(p, F_OK) == 0;
}

/* Commits of every size, from one row to thousands, on 4 KiB pages. */
START_TEST(rows_appended_page_by_page_pass_sqlite_integrity_check_and_read_back_equal)
{
    uint32_t root;
    sqlite3 *db = make_db(4096, &root);
    int fd;
    struct gt_btappend *a = open_appender(root, &fd);
    int64_t done = 0, n = 150000;
    uint64_t x = 7;

    while (done < n) {
        x = x * 6364136223846793005u + 1442695040888963407u;
        int64_t k = 1 + (int64_t)(x >> 33) % (done < 1000 ? 7 : 9000);
        if (done + k > n)
            k = n - done;
        add_rows(a, done + 1, done + k);
        done += k;
        ck_assert_int_eq(commit(db, a), GT_OK);
        /* The connection that held the lock sees the rows at once. */
        if (done < 2000 || done == n) {
            sqlite3_stmt *st;
            ck_assert_int_eq(
                sqlite3_prepare_v2(db, "SELECT count(*), max(id) FROM t", -1, &st, NULL),
                SQLITE_OK);
            ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
            ck_assert_int_eq(sqlite3_column_int64(st, 0), done);
            ck_assert_int_eq(sqlite3_column_int64(st, 1), done);
            sqlite3_finalize(st);
        }
    }
    ck_assert_int_eq(gt_btappend_rows(a), n);
    ck_assert(!journal_exists());
    expect_integrity(db);
    expect_rows(db, n);
    /* SQLite goes on writing the same file: other tables, and t itself. */
    ck_assert_int_eq(sqlite3_exec(db,
                                  "INSERT INTO other VALUES('a', 'b');"
                                  " INSERT INTO t VALUES(200000, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    expect_integrity(db);
    gt_btappend_free(a);
    close(fd);
    sqlite3_close(db);
}
END_TEST

/* 512-byte pages hold a few rows each: 60000 rows make a tree of four
 * levels, so every level opens, closes and moves into the root. */
START_TEST(a_deep_tree_of_small_pages_grows_level_by_level_and_stays_valid)
{
    uint32_t root;
    sqlite3 *db = make_db(512, &root);
    int fd;
    struct gt_btappend *a = open_appender(root, &fd);
    int64_t done = 0;

    for (int64_t k = 1; done < 60000; k = k * 3 % 2011 + 1) {
        add_rows(a, done + 1, done + k);
        done += k;
        ck_assert_int_eq(commit(db, a), GT_OK);
        if (done < 3000)
            expect_integrity(db);
    }
    expect_integrity(db);
    expect_rows(db, done);
    /* SQLite's own view of the depth: the dbstat virtual table, when built
     * in, names pages by path ("/000/000/000/" is depth 4). */
    sqlite3_stmt *st;
    if (sqlite3_prepare_v2(db, "SELECT max(length(path)) FROM dbstat WHERE name = 't'", -1, &st,
                           NULL) == SQLITE_OK) {
        ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
        ck_assert_int_ge(sqlite3_column_int(st, 0), 13);
        sqlite3_finalize(st);
    }
    gt_btappend_free(a);
    close(fd);
    sqlite3_close(db);
}
END_TEST

START_TEST(a_commit_is_visible_to_another_connection_and_nothing_before_it)
{
    uint32_t root;
    sqlite3 *db = make_db(4096, &root), *other;
    int fd;
    struct gt_btappend *a = open_appender(root, &fd);
    sqlite3_stmt *st;

    ck_assert_int_eq(sqlite3_open_v2(db_path, &other, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    ck_assert_int_eq(sqlite3_prepare_v2(other, "SELECT count(*) FROM t", -1, &st, NULL), SQLITE_OK);
    add_rows(a, 1, 5000);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_int64(st, 0), 0);
    sqlite3_reset(st);
    ck_assert_int_eq(commit(db, a), GT_OK);
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_int64(st, 0), 5000);
    sqlite3_reset(st);
    add_rows(a, 5001, 5100);
    ck_assert_int_eq(commit(db, a), GT_OK);
    ck_assert_int_eq(commit(db, a), GT_OK); /* nothing new: a no-op */
    ck_assert_int_eq(sqlite3_step(st), SQLITE_ROW);
    ck_assert_int_eq(sqlite3_column_int64(st, 0), 5100);
    sqlite3_finalize(st);
    sqlite3_close(other);
    gt_btappend_free(a);
    close(fd);
    sqlite3_close(db);
}
END_TEST

/* Each write of the commit in turn fails: the appender rolls back from its
 * journal, the file is the last commit's, and the rows go in with the next
 * commit. */
START_TEST(a_commit_cut_short_by_a_full_disk_is_rolled_back_and_retried)
{
    uint32_t root;
    sqlite3 *db = make_db(4096, &root);
    int fd;
    struct gt_btappend *a = open_appender(root, &fd);
    int64_t done = 3000;

    add_rows(a, 1, done);
    ck_assert_int_eq(commit(db, a), GT_OK);
    for (int n = 1; n <= 8; n++) {
        add_rows(a, done + 1, done + 700);
        gt_btappend_fail_write(a, n, false);
        int rc = commit(db, a);
        gt_btappend_fail_write(a, 0, false);
        if (rc == GT_OK) { /* the commit needed fewer writes than n */
            done += 700;
            continue;
        }
        ck_assert_int_eq(rc, GT_EIO);
        ck_assert_ptr_nonnull(strstr(gt_btappend_errmsg(a), "No space left"));
        ck_assert(!journal_exists());
        expect_integrity(db);
        expect_rows(db, done);
        ck_assert_int_eq(commit(db, a), GT_OK);
        done += 700;
        expect_integrity(db);
        expect_rows(db, done);
    }
    gt_btappend_free(a);
    close(fd);
    sqlite3_close(db);
}
END_TEST

/* As if the process died in the middle of a commit: the journal stays, and
 * SQLite itself, opening the file, rolls the commit back. This is what
 * proves the journal is in SQLite's format. */
START_TEST(a_journal_left_by_a_crash_is_rolled_back_by_sqlite_itself)
{
    int n;

    for (n = 1;; n++) {
        uint32_t root;
        sqlite3 *db = make_db(1024, &root);
        int fd;
        struct gt_btappend *a = open_appender(root, &fd);

        add_rows(a, 1, 2000);
        ck_assert_int_eq(commit(db, a), GT_OK);
        add_rows(a, 2001, 2500);
        gt_btappend_fail_write(a, n, true);
        if (commit(db, a) == GT_OK) { /* n is past the commit's last write */
            gt_btappend_free(a);
            close(fd);
            sqlite3_close(db);
            break;
        }
        ck_assert(journal_exists());
        gt_btappend_free(a);
        close(fd);
        sqlite3_close(db);

        ck_assert_int_eq(sqlite3_open(db_path, &db), SQLITE_OK);
        expect_integrity(db);
        expect_rows(db, 2000);
        ck_assert(!journal_exists());
        sqlite3_close(db);
        unlink(db_path);
    }
    /* New pages, the pages changed in place and the header: at least. */
    ck_assert_int_ge(n, 4);
}
END_TEST

START_TEST(rows_out_of_order_and_unusable_files_are_refused)
{
    uint32_t root;
    sqlite3 *db = make_db(4096, &root);
    int fd;
    struct gt_btappend *a = open_appender(root, &fd), *b = NULL;
    int64_t v[NCOLS];
    char err[256] = "";

    row_at(5, v);
    ck_assert_int_eq(gt_btappend_add(a, 5, v, NCOLS), GT_OK);
    ck_assert_int_eq(gt_btappend_add(a, 5, v, NCOLS), GT_EINVAL);
    ck_assert_int_eq(gt_btappend_add(a, 4, v, NCOLS), GT_EINVAL);
    ck_assert_int_eq(gt_btappend_add(a, 6, v, 0), GT_EINVAL);
    ck_assert_int_eq(commit(db, a), GT_OK);
    gt_btappend_free(a);
    /* The table has a row now: appending would have to merge. */
    ck_assert_int_eq(gt_btappend_open(fd, db_path, root, &b, err, sizeof err), GT_EINVAL);
    ck_assert_ptr_null(b);
    ck_assert_str_eq(err, "the table is not empty");
    /* WAL keeps new pages in another file. */
    ck_assert_int_eq(sqlite3_exec(db, "DELETE FROM t; PRAGMA journal_mode=WAL", NULL, NULL, NULL),
                     SQLITE_OK);
    ck_assert_int_eq(gt_btappend_open(fd, db_path, root, &b, err, sizeof err), GT_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "WAL"));
    close(fd);
    sqlite3_close(db);
}
END_TEST

static Suite *btappend_suite(void)
{
    Suite *s = suite_create("btappend");
    TCase *tc = tcase_create("core");

    tcase_add_checked_fixture(tc, make_dir, remove_dir);
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, rows_appended_page_by_page_pass_sqlite_integrity_check_and_read_back_equal);
    tcase_add_test(tc, a_deep_tree_of_small_pages_grows_level_by_level_and_stays_valid);
    tcase_add_test(tc, a_commit_is_visible_to_another_connection_and_nothing_before_it);
    tcase_add_test(tc, a_commit_cut_short_by_a_full_disk_is_rolled_back_and_retried);
    tcase_add_test(tc, a_journal_left_by_a_crash_is_rolled_back_by_sqlite_itself);
    tcase_add_test(tc, rows_out_of_order_and_unusable_files_are_refused);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(btappend_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
