/* SQL over a trace (trace.h gt_trace_sql_open): a v2 trace stores its
 * events in batches, so this module gives SQL the table people know from
 * v1, `events`, one row per event, as an eponymous virtual table that
 * decodes the batches as it walks them (trace_int.h). A v1 trace has the
 * real table and needs nothing. */
#include "trace_int.h"
#include "gputrace/err.h"
#include "gputrace/schema.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gputrace/banned.h"

#define EVENTS_DECL                                                                                \
    "CREATE TABLE x(seq INTEGER PRIMARY KEY, ts_ns INTEGER, pid INTEGER, tid INTEGER,"             \
    " device INTEGER, stream INTEGER, kind INTEGER, addr INTEGER, size INTEGER,"                   \
    " requested INTEGER, result INTEGER)"

enum {
    COL_SEQ,
    COL_TS,
    COL_PID,
    COL_TID,
    COL_DEVICE,
    COL_STREAM,
    COL_KIND,
    COL_ADDR,
    COL_SIZE,
    COL_REQUESTED,
    COL_RESULT
};

/* idxNum bits: which bounds on seq xFilter receives, in this order. */
#define IDX_LOWER 1
#define IDX_UPPER 2

struct events_vtab {
    sqlite3_vtab base;
    sqlite3 *db;
};

/* Invariants: st walks the batches from the one holding the lower bound;
 * ev[pos] is the current row while pos < n. */
struct events_cursor {
    sqlite3_vtab_cursor base;
    sqlite3_stmt *st;
    struct gt_event ev[GT_BATCH_EVENTS];
    size_t n, pos;
    int64_t lower, upper; /* seq bounds, inclusive */
    int64_t last_seq;
    bool eof;
};

static int events_connect(sqlite3 *db, void *aux, int argc, const char *const *argv,
                          sqlite3_vtab **out, char **err)
{
    struct events_vtab *v;
    int rc = sqlite3_declare_vtab(db, EVENTS_DECL);

    (void)aux;
    (void)argc;
    (void)argv;
    (void)err;
    if (rc != SQLITE_OK)
        return rc;
    v = sqlite3_malloc(sizeof *v);
    if (v == NULL)
        return SQLITE_NOMEM;
    memset(v, 0, sizeof *v);
    v->db = db;
    *out = &v->base;
    return SQLITE_OK;
}

static int events_disconnect(sqlite3_vtab *vt)
{
    sqlite3_free(vt);
    return SQLITE_OK;
}

/* Bounds on seq narrow the walk to the batches that hold them; an ORDER BY
 * seq is the walk's own order. */
static int events_best_index(sqlite3_vtab *vt, sqlite3_index_info *info)
{
    int lower = -1, upper = -1, argv = 0;
    (void)vt;
    for (int i = 0; i < info->nConstraint; i++) {
        const struct sqlite3_index_constraint *c = &info->aConstraint[i];
        if (!c->usable || c->iColumn != COL_SEQ)
            continue;
        if (c->op == SQLITE_INDEX_CONSTRAINT_EQ || c->op == SQLITE_INDEX_CONSTRAINT_GE ||
            c->op == SQLITE_INDEX_CONSTRAINT_GT)
            lower = lower < 0 ? i : lower;
        if (c->op == SQLITE_INDEX_CONSTRAINT_EQ || c->op == SQLITE_INDEX_CONSTRAINT_LE ||
            c->op == SQLITE_INDEX_CONSTRAINT_LT)
            upper = upper < 0 ? i : upper;
    }
    info->idxNum = 0;
    if (lower >= 0) {
        info->idxNum |= IDX_LOWER;
        info->aConstraintUsage[lower].argvIndex = ++argv;
    }
    if (upper >= 0 && upper != lower) {
        info->idxNum |= IDX_UPPER;
        info->aConstraintUsage[upper].argvIndex = ++argv;
    } else if (upper >= 0) {
        info->idxNum |= IDX_UPPER; /* an EQ is both bounds: the same argument */
    }
    /* The bounds only narrow the walk; SQLite still checks each row. */
    info->estimatedCost = lower >= 0 && upper >= 0 ? 10.0 : lower >= 0 || upper >= 0 ? 1e5 : 1e7;
    if (info->nOrderBy == 1 && info->aOrderBy[0].iColumn == COL_SEQ && !info->aOrderBy[0].desc)
        info->orderByConsumed = 1;
    return SQLITE_OK;
}

static int events_open(sqlite3_vtab *vt, sqlite3_vtab_cursor **out)
{
    struct events_vtab *v = (struct events_vtab *)vt;
    struct events_cursor *c = sqlite3_malloc(sizeof *c);
    int rc;

    if (c == NULL)
        return SQLITE_NOMEM;
    memset(c, 0, sizeof *c);
    /* The walk starts at the last batch that begins at or before the lower
     * bound: the one that holds it. */
    rc = sqlite3_prepare_v2(v->db,
                            "SELECT first_seq, n, checksum, data FROM event_batches"
                            " WHERE first_seq >= coalesce((SELECT max(first_seq) FROM event_batches"
                            " WHERE first_seq <= ?1), ?1) ORDER BY first_seq",
                            -1, &c->st, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_free(c);
        return rc;
    }
    *out = &c->base;
    return SQLITE_OK;
}

static int events_close(sqlite3_vtab_cursor *cur)
{
    struct events_cursor *c = (struct events_cursor *)cur;
    sqlite3_finalize(c->st);
    sqlite3_free(c);
    return SQLITE_OK;
}

static int fail(struct events_cursor *c, int64_t first, const char *why)
{
    sqlite3_vtab *vt = c->base.pVtab;
    sqlite3_free(vt->zErrMsg);
    vt->zErrMsg = sqlite3_mprintf("the batch at seq %lld is damaged (%s)", (long long)first, why);
    return SQLITE_CORRUPT_VTAB;
}

/* Loads the next batch; sets eof after the last. */
static int next_batch(struct events_cursor *c)
{
    int rc = sqlite3_step(c->st);
    const char *why = "";

    if (rc == SQLITE_DONE) {
        c->eof = true;
        return SQLITE_OK;
    }
    if (rc != SQLITE_ROW)
        return rc;
    int64_t first = sqlite3_column_int64(c->st, 0), n = sqlite3_column_int64(c->st, 1);
    uint64_t sum = (uint64_t)sqlite3_column_int64(c->st, 2);
    const unsigned char *data = sqlite3_column_blob(c->st, 3);
    size_t len = (size_t)sqlite3_column_bytes(c->st, 3);
    if (first <= c->last_seq && c->n > 0)
        return fail(c, first, "it overlaps the batch before it");
    if (gt_batch_decode(first, n, sum, data, len, c->ev, &why) != GT_OK)
        return fail(c, first, why);
    c->n = (size_t)n;
    c->pos = 0;
    c->last_seq = c->ev[n - 1].seq;
    return SQLITE_OK;
}

/* Moves to the next row within the bounds. */
static int advance(struct events_cursor *c)
{
    for (;;) {
        if (c->pos < c->n) {
            int64_t seq = c->ev[c->pos].seq;
            if (seq > c->upper) {
                c->eof = true;
                return SQLITE_OK;
            }
            if (seq >= c->lower)
                return SQLITE_OK;
            c->pos++;
            continue;
        }
        int rc = next_batch(c);
        if (rc != SQLITE_OK || c->eof)
            return rc;
    }
}

static int events_filter(sqlite3_vtab_cursor *cur, int idx, const char *idx_str, int argc,
                         sqlite3_value **argv)
{
    struct events_cursor *c = (struct events_cursor *)cur;
    int a = 0;

    (void)idx_str;
    c->lower = INT64_MIN;
    c->upper = INT64_MAX;
    if ((idx & IDX_LOWER) && a < argc)
        c->lower = sqlite3_value_int64(argv[a++]);
    if ((idx & IDX_UPPER) && a < argc)
        c->upper = sqlite3_value_int64(argv[a++]);
    else if ((idx & IDX_UPPER) && argc > 0) /* EQ: the one argument */
        c->upper = sqlite3_value_int64(argv[0]);
    c->n = c->pos = 0;
    c->eof = false;
    c->last_seq = INT64_MIN;
    sqlite3_reset(c->st);
    sqlite3_bind_int64(c->st, 1, c->lower);
    return advance(c);
}

static int events_next(sqlite3_vtab_cursor *cur)
{
    struct events_cursor *c = (struct events_cursor *)cur;
    c->pos++;
    return advance(c);
}

static int events_eof(sqlite3_vtab_cursor *cur)
{
    return ((struct events_cursor *)cur)->eof;
}

static int events_column(sqlite3_vtab_cursor *cur, sqlite3_context *ctx, int col)
{
    const struct gt_event *ev =
        &((struct events_cursor *)cur)->ev[((struct events_cursor *)cur)->pos];
    int64_t v = 0;

    switch (col) {
    case COL_SEQ:
        v = ev->seq;
        break;
    case COL_TS:
        v = ev->ts_ns;
        break;
    case COL_PID:
        v = ev->pid;
        break;
    case COL_TID:
        v = ev->tid;
        break;
    case COL_DEVICE:
        v = ev->device;
        break;
    case COL_STREAM:
        v = (int64_t)ev->stream;
        break;
    case COL_KIND:
        v = ev->kind;
        break;
    case COL_ADDR:
        v = (int64_t)ev->addr;
        break;
    case COL_SIZE:
        v = (int64_t)ev->size;
        break;
    case COL_REQUESTED:
        v = (int64_t)ev->requested;
        break;
    default:
        v = ev->result;
        break;
    }
    sqlite3_result_int64(ctx, v);
    return SQLITE_OK;
}

static int events_rowid(sqlite3_vtab_cursor *cur, sqlite3_int64 *rowid)
{
    const struct events_cursor *c = (const struct events_cursor *)cur;
    *rowid = c->ev[c->pos].seq;
    return SQLITE_OK;
}

/* Read-only and eponymous: `events` exists on every connection that
 * registers the module, and CREATE VIRTUAL TABLE is not needed. */
static const sqlite3_module events_module = {
    .iVersion = 0,
    .xCreate = NULL,
    .xConnect = events_connect,
    .xBestIndex = events_best_index,
    .xDisconnect = events_disconnect,
    .xDestroy = events_disconnect,
    .xOpen = events_open,
    .xClose = events_close,
    .xFilter = events_filter,
    .xNext = events_next,
    .xEof = events_eof,
    .xColumn = events_column,
    .xRowid = events_rowid,
};

int gt_trace_sql_register(sqlite3 *db)
{
    return sqlite3_create_module(db, "events", &events_module, NULL);
}

int gt_trace_sql_open(const char *path, sqlite3 **out, char *errbuf, size_t errlen)
{
    struct gt_trace_reader *r = NULL;
    sqlite3 *db = NULL;
    int version = 0;
    int rc = gt_trace_open(path, &r, errbuf, errlen);

    *out = NULL;
    if (rc != GT_OK)
        return rc;
    version = gt_trace_version(r);
    gt_trace_close(r);
    rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK) {
#ifdef SQLITE_DBCONFIG_TRUSTED_SCHEMA
        sqlite3_db_config(db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)NULL);
#endif
        sqlite3_busy_timeout(db, 10000);
        if (version != GT_SCHEMA_VERSION_ROWS)
            rc = gt_trace_sql_register(db);
    }
    if (rc != SQLITE_OK) {
        snprintf(errbuf, errlen, "%s", db != NULL ? sqlite3_errmsg(db) : "out of memory");
        sqlite3_close(db);
        return db != NULL ? GT_ESQL : GT_ENOMEM;
    }
    *out = db;
    return GT_OK;
}
