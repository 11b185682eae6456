/* Appends rows to an empty SQLite rowid table by writing its b-tree pages
 * directly, for the trace writer's events (trace.c).
 *
 * Why: through SQL every row costs the statement machine (bind, record,
 * seek, insert): at best about 1 M rows/s here, which capped the recorder's
 * drain below its 2 M events/s target. Rows that arrive in rowid order into a
 * table nobody else writes can instead be packed into leaf pages as they come
 * and the pages linked into the table at each commit, as SQLite's own
 * bulk loaders (and its b-tree "append" fast path) lay them out.
 *
 * Contract with SQLite (the file format, sqlite.org/fileformat2.html):
 * - The file uses a rollback journal (not WAL), no auto_vacuum, and the
 *   table's root page is an empty leaf when the appender starts.
 * - gt_btappend_commit runs while the caller's SQLite connection holds the
 *   database's EXCLUSIVE lock and has no uncommitted change (BEGIN EXCLUSIVE,
 *   nothing else, then COMMIT after): readers wait, and SQLite's pager
 *   allocates no page meanwhile. New pages go after the last page of the
 *   file; the pages changed in place (page 1's header, the root, the open
 *   right-most page of each level) are first saved in a rollback journal in
 *   SQLite's own format, so a commit cut short by a crash is rolled back by
 *   the next connection that opens the file, exactly like SQLite's own
 *   transactions. The change counter moves, so every connection (the
 *   caller's included) drops its cached pages.
 * - Rows must come in strictly increasing rowid order; column 0 is the
 *   rowid alias (INTEGER PRIMARY KEY) and is stored as NULL, as SQLite does.
 *
 * Nothing a caller adds is visible or durable before the next commit. */
#ifndef GPUTRACE_BTAPPEND_INT_H
#define GPUTRACE_BTAPPEND_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gt_btappend;

/* Starts appending to the table whose root page is `root` in the SQLite file
 * open (read-write) on fd; path is the file's name (the journal is
 * path + "-journal"). fd stays the caller's and must stay open until
 * gt_btappend_free. Checks the header (page size, rollback journal, no
 * auto_vacuum) and that the root is an empty table leaf.
 * Returns GT_OK with *out set, GT_EINVAL (a file this cannot append to, the
 * reason in errbuf, errlen bytes, NULL only with errlen 0), GT_EIO or
 * GT_ENOMEM. */
int gt_btappend_open(int fd, const char *path, uint32_t root, struct gt_btappend **out,
                     char *errbuf, size_t errlen);

/* Adds one row: rowid, then ncols integer columns of which column 0 (the
 * rowid alias) is stored as NULL. GT_EINVAL for a rowid not above the last
 * one or a row too large for a page; GT_ENOMEM. After an error the appender
 * keeps the rows before it. */
int gt_btappend_add(struct gt_btappend *a, int64_t rowid, const int64_t *cols, int ncols);

/* Links every row added so far into the table, atomically (see above). A
 * no-op when nothing was added since the last commit. On failure the pages
 * written are rolled back from the journal, the file is as at the last
 * commit, and the rows since then stay pending for the next try.
 * Returns GT_OK, GT_EIO (detail in gt_btappend_errmsg) or GT_ENOMEM. */
int gt_btappend_commit(struct gt_btappend *a);

/* Rows added, committed or not. */
int64_t gt_btappend_rows(const struct gt_btappend *a);

const char *gt_btappend_errmsg(const struct gt_btappend *a);

/* Frees the appender; rows not committed are lost. Accepts NULL. */
void gt_btappend_free(struct gt_btappend *a);

/* For tests: the commit's n-th write to the database file (1-based) fails
 * as with ENOSPC, and so does every later one of that commit; with
 * rollback_too the writes of the rollback fail as well (the journal then
 * stays for the next connection, as after a crash). 0 turns this off. */
void gt_btappend_fail_write(struct gt_btappend *a, int n, bool rollback_too);

#endif
