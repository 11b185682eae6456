/* Import of a gpu-trace trace of any version this build reads into a new
 * trace of the current format (import.h gt_import_trace): the events go
 * through the reader and the writer, the other tables are copied with SQL. */
#include "gputrace/import.h"
#include "gputrace/err.h"
#include "gputrace/trace.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "import_int.h"

#include "gputrace/banned.h"

#define READ_EVENTS 4096

/* The tables besides the events, with the columns both versions have. */
static const struct {
    const char *name, *columns;
} copied[] = {
    {"meta", "key, value"},
    {"devices", "device, name, total_memory"},
    {"processes", "pid, rank, command"},
    {"frames", "frame, filename, line, name"},
    {"stacks", "stack, depth, frame"},
    {"event_stacks", "seq, stack"},
    {"event_totals", "seq, allocated, reserved"},
    {"initial_blocks", "device, addr, size, requested, allocated, segment, segment_size, stream,"
                       " small_pool, expandable"},
    {"final_blocks", "device, addr, size, requested, allocated, segment, segment_size, stream,"
                     " small_pool, expandable"},
    {"initial_pools", "device, segment, pool_first, pool_second, released"},
};

/* Events in order; they must be numbered 1..n, as every writer numbers
 * them, because the other tables refer to events by seq. */
static int copy_events(struct gt_trace_reader *r, struct gt_trace_writer *w,
                       struct gt_import_summary *sum, char *errbuf, size_t errlen)
{
    struct gt_event buf[READ_EVENTS];
    size_t n;
    int rc;

    while ((rc = gt_trace_read(r, buf, READ_EVENTS, &n)) == GT_OK && n > 0) {
        for (size_t i = 0; i < n; i++) {
            if (buf[i].seq != sum->events + 1) {
                snprintf(errbuf, errlen,
                         "event %lld follows event %lld: the events are not numbered 1, 2, ... "
                         "(rows were deleted or added by hand)",
                         (long long)buf[i].seq, (long long)sum->events);
                return GT_EINVAL;
            }
            if ((rc = gt_trace_append(w, &buf[i])) != GT_OK) {
                snprintf(errbuf, errlen, "%s", gt_trace_writer_errmsg(w));
                return rc;
            }
            sum->rows++;
            sum->events++;
            sum->by_kind[buf[i].kind]++;
        }
    }
    if (rc != GT_OK)
        snprintf(errbuf, errlen, "%s", gt_trace_errmsg(r));
    return rc;
}

static int sql_fail(sqlite3 *db, const char *what, char *errbuf, size_t errlen)
{
    snprintf(errbuf, errlen, "%s: %s", what, db != NULL ? sqlite3_errmsg(db) : "out of memory");
    return GT_ESQL;
}

/* The other tables, those src has, in one transaction. */
static int copy_tables(const char *src, const char *dst, char *errbuf, size_t errlen)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char sql[1024];
    int rc = sqlite3_open_v2(dst, &db, SQLITE_OPEN_READWRITE, NULL);

    if (rc != SQLITE_OK)
        goto fail;
    sqlite3_busy_timeout(db, 10000);
    rc = sqlite3_prepare_v2(db, "ATTACH ?1 AS src", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, src, -1, SQLITE_STATIC);
        rc = sqlite3_step(st) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    sqlite3_finalize(st);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    for (size_t i = 0; rc == SQLITE_OK && i < sizeof copied / sizeof copied[0]; i++) {
        snprintf(sql, sizeof sql,
                 "SELECT 1 FROM src.sqlite_master WHERE type = 'table' AND name = '%s'",
                 copied[i].name);
        st = NULL;
        rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
        bool present = rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW;
        sqlite3_finalize(st);
        if (rc != SQLITE_OK || !present)
            continue;
        /* the count of the new file is its own */
        snprintf(sql, sizeof sql, "INSERT OR REPLACE INTO main.%s(%s) SELECT %s FROM src.%s%s",
                 copied[i].name, copied[i].columns, copied[i].columns, copied[i].name,
                 strcmp(copied[i].name, "meta") == 0 ? " WHERE key != 'event_count'" : "");
        rc = sqlite3_exec(db, sql, NULL, NULL, NULL);
    }
    if (rc == SQLITE_OK)
        rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        goto fail;
    sqlite3_close(db);
    return GT_OK;
fail:
    rc = sql_fail(db, "cannot copy the trace's tables", errbuf, errlen);
    sqlite3_close(db);
    return rc;
}

int gt_import_trace(const char *src, const char *dst, struct gt_import_summary *sum, char *errbuf,
                    size_t errlen)
{
    struct gt_import_summary local;
    struct gt_trace_reader *r = NULL;
    struct gt_trace_writer *w = NULL;
    char scratch[8];
    int rc;

    if (errbuf == NULL || errlen == 0) {
        errbuf = scratch;
        errlen = sizeof scratch;
    }
    sum = gt_import_start(sum, &local, errbuf, errlen);
    if ((rc = gt_trace_open(src, &r, errbuf, errlen)) != GT_OK)
        return rc;
    rc = gt_trace_create(dst, &w, errbuf, errlen);
    if (rc == GT_OK)
        rc = copy_events(r, w, sum, errbuf, errlen);
    gt_trace_close(r);
    if (w == NULL)
        return rc;
    rc = gt_import_finish(w, dst, rc, errbuf, errlen);
    /* The tables are copied into the closed trace; it is still this
     * import's, so a failure removes it as gt_import_finish would. */
    if (rc == GT_OK && (rc = copy_tables(src, dst, errbuf, errlen)) != GT_OK)
        unlink(dst);
    return rc;
}
