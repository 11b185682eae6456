/* The trace store (trace.h): writes format v2 and reads v1 and v2
 * (schema.h, docs/trace-format.md).
 *
 * Writer: the file is created with O_EXCL and mode 0600 before SQLite sees
 * it, so a trace is never overwritten and never readable by others. The ids
 * (application_id, user_version), the schema and the kinds table go in one
 * transaction, so a file with our application_id always has the schema.
 * Events are packed into batches (trace_int.h) and each batch is one
 * ordinary INSERT; a transaction stays open between commits (every
 * BATCH_EVENTS and on gt_trace_commit), so the events and the rows attached
 * to them become visible together and a crash loses at most the open
 * transaction. Everything goes through SQLite's API: locking, journaling
 * and the file format are SQLite's.
 *
 * Reader: the file is opened read-only and validated before any event is
 * read (ids first, then every table and column the reader queries). Each
 * read call runs one statement from where the last one stopped and resets
 * it before returning, so a reader never holds a lock between calls and
 * always sees the last commit. Files come from users and crashed recorders,
 * so every SQLite failure is mapped to a GT_E* code with a detail message,
 * a damaged batch is an error naming its seq, and a truncated file still
 * yields the events that lie before the damage. */
#include "gputrace/trace.h"
#include "gputrace/array.h"
#include "trace_int.h"
#include "gputrace/err.h"
#include "gputrace/files.h"
#include "gputrace/schema.h"
#include "gputrace/units.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "gputrace/banned.h"

#define ERRMSG_LEN 256
#define BATCH_EVENTS 65536
#define SQLITE_MAGIC "SQLite format 3" /* the first 16 bytes, NUL included */
#define SQLITE_HEADER_LEN 100
#define READER_BUSY_MS 10000
#define WRITER_BUSY_MS 30000
/* Batches a walk of gt_trace_read_view's steps through before it ends its
 * read transaction: a walk's statement stays open between calls, which
 * holds the SQLite read lock that a recorder's commit waits for; 64 batches
 * (65536 events, a few milliseconds of the caller's work on them even for
 * a 12-config replay) bound that wait, and taking the lock again that
 * seldom costs little: ~9 system calls (locks, the journal's and WAL's
 * stat, the change counter). A summary the caller's filter takes costs it
 * a call, not the work on 1024 events: a walk over summaries passes over
 * WALK_SUMMARY_SHARE of them for each batch it may decode, or it would end
 * a transaction every 0.1 ms (the card pass of the 10 M-event bench trace:
 * 153 of them, ~1 400 system calls, 0.4 ns an event). */
#define WALK_BATCHES 64
#define WALK_SUMMARY_SHARE 64

/* Names indexed by enum gt_event_kind; the kinds table of every trace holds
 * the same pairs so that a person with the sqlite3 shell can read a trace. */
static const char *const kind_names[GT_EV_KIND_MAX + 1] = {
    [GT_EV_ALLOC] = "alloc",
    [GT_EV_FREE] = "free",
    [GT_EV_SEGMENT_ALLOC] = "segment_alloc",
    [GT_EV_SEGMENT_FREE] = "segment_free",
    [GT_EV_SEGMENT_MAP] = "segment_map",
    [GT_EV_SEGMENT_UNMAP] = "segment_unmap",
    [GT_EV_OOM] = "oom",
    [GT_EV_EMPTY_CACHE] = "empty_cache",
    [GT_EV_HOST_ALLOC] = "host_alloc",
    [GT_EV_HOST_FREE] = "host_free",
    [GT_EV_FREE_REQUESTED] = "free_requested",
    [GT_EV_FREE_COMPLETED] = "free_completed",
};

/* A slot of an open-addressing table mapping a 64-bit hash to the id of a
 * record (id = index + 1 in the record array; 0 = an empty slot). The hash
 * is kept in the slot so that probing and growing touch no record unless
 * the hashes match. */
struct slot {
    uint64_t hash;
    size_t id;
};

/* Invariants: cap is 0 or a power of two; used <= cap * 3 / 4, so a probe
 * always reaches an empty slot. */
struct dedup {
    struct slot *slots;
    size_t cap;
    size_t used;
};

/* A distinct frame already in table frames, as the writer keeps it in its
 * arena: this header, then the bytes of filename and of name (no NULs). */
struct frame_head {
    int64_t line;
    uint32_t flen, nlen;
};

/* A distinct stack already in table stacks: its frame ids, innermost first,
 * in the arena. The stack table is keyed by a hash of the stack's content
 * (strings and lines), not of its frame ids: a stack seen before is then
 * found with one probe and one comparison with its frames, and frames are
 * looked up one by one only for a new stack. A lookup per frame first
 * cost about twice as much, mostly cache misses in the frame table. */
struct stack_rec {
    uint64_t hash;
    const int64_t *ids;
    size_t n;
};

/* Lengths of the strings of one frame of the stack being set. */
struct frame_len {
    size_t flen, nlen;
};

/* The writer's own copies of frames and stack ids: one malloc per block
 * instead of one per frame, all freed at close. */
struct arena_block {
    struct arena_block *next;
    size_t used, cap;
    unsigned char data[];
};

#define BUF_ROWS 64 /* rows of event_stacks or event_totals per INSERT */
#define BUF_COLS 3  /* the most columns of a buffered table (event_totals) */

/* Rows of a per-event table waiting to be inserted. One INSERT of BUF_ROWS
 * rows costs far less than BUF_ROWS single-row INSERTs (the statement's
 * start, cursor and reset are paid once). The rows are flushed before every
 * commit, so an event and the rows attached to it commit together. */
struct row_buf {
    sqlite3_stmt *one;  /* a single row */
    sqlite3_stmt *many; /* BUF_ROWS rows */
    int ncols;
    size_t rows;
    const char *what; /* for the error message */
    int64_t v[BUF_ROWS * BUF_COLS];
};

/* Invariants: db is open and a transaction is open whenever err == 0 (the
 * writer keeps one open at all times); pending counts the events appended
 * since the last commit, the last batch->n of them not yet inserted;
 * next_seq is one past the last seq appended. err is the first error and
 * stays set: later calls return it so a caller that checks only at close still
 * learns about it. frames[i] (a struct frame_head in the arena) has id i + 1
 * in table frames and stacks[i] id i + 1 in table stacks; frame_ix and
 * stack_ix index exactly those records. A record is added only after its
 * rows were inserted. */
struct gt_trace_writer {
    sqlite3 *db;
    sqlite3_stmt *ins_meta;
    sqlite3_stmt *ins_device;
    sqlite3_stmt *ins_process;
    sqlite3_stmt *ins_frame;
    sqlite3_stmt *ins_stack;
    sqlite3_stmt *ins_block, *ins_final;
    sqlite3_stmt *ins_pool; /* prepared at the first initial pool */
    sqlite3_stmt *ins_batch;
    struct gt_batch *batch; /* the events since the last batch written */
    int64_t next_seq;
    int64_t pending;
    int err;
    struct row_buf event_stacks, totals;
    const unsigned char **frames;
    size_t nframes, frames_cap;
    struct stack_rec *stacks;
    size_t nstacks, stacks_cap;
    struct dedup frame_ix, stack_ix;
    struct frame_len *lens; /* of the stack being set; lens_cap entries */
    size_t lens_cap;
    /* Frames apart from stack ids: every stack seen again reads its frames,
     * so they are kept together. */
    struct arena_block *frame_arena, *stack_arena;
    char errmsg[ERRMSG_LEN];
};

/* The optional tables (schema.h) are looked up on the first call that needs
 * them, not at open: files written before they existed lack them, and such
 * a file is read as having none of their rows. */
enum opt_state { OPT_UNKNOWN, OPT_ABSENT, OPT_READY };

/* One query on optional tables. busy is set while its rows are passed to a
 * callback: the statement is in use, so the same query cannot start again
 * from inside the callback. */
struct opt_query {
    enum opt_state state;
    bool busy;
    sqlite3_stmt *st;
};

/* Invariants: every read call continues after last_seq, the seq of the last
 * event passed (delivered or skipped), and releases its read lock before it
 * returns, so a reader never blocks a recorder for longer than one call. err
 * holds a read error that is reported on the call after the one that
 * delivered the events before it; it stays until gt_trace_rewind. */
struct gt_trace_reader {
    sqlite3 *db;
    int version;              /* the file's user_version: 1 (rows) or 2 (batches) */
    sqlite3_stmt *sel_events; /* v1: rows after last_seq; v2: batches after last_batch */
    sqlite3_stmt *sel_meta;
    sqlite3_stmt *sel_device;
    sqlite3_stmt *sel_count;
    struct opt_query blocks, finals, pools, stack, totals;
    int64_t last_seq;
    int64_t skipped;
    int err;
    /* v2: the batch being delivered (cur_pos of its cur_n events passed) and
     * the first_seq of the last batch read */
    struct gt_event *cur;
    size_t cur_n, cur_pos;
    /* every event of cur has a kind this reader knows, by the summary of
     * its decoded events: gt_trace_read_view need not look at each */
    bool cur_known;
    struct gt_event *view; /* v1: what gt_trace_read_view lends, allocated on first use */
    unsigned skip;         /* gt_trace_skip_fields */
    bool walking;          /* v2: walk_st steps through the batches for gt_trace_read_view */
    int walk_cost;         /* its batches decoded, in summaries (walk_full) */
    sqlite3_stmt *walk_st; /* sel_events, or sel_summary while a summary filter is set */
    /* v2 files with batch summaries (has_summary): the summaries after
     * last_batch, and one batch by its first_seq */
    bool has_summary;
    sqlite3_stmt *sel_summary, *sel_batch;
    /* with the summary index (schema.h), which sel_summary reads: sel_gist
     * walks it beside the batches that sel_events reads (gist_on: stepped
     * since its last reset) */
    bool summary_index, gist_on;
    sqlite3_stmt *sel_gist;
    bool (*filter)(void *ctx, const struct gt_trace_batch_summary *s); /* gt_trace_summarize */
    void *filter_ctx;
    int64_t last_batch;
    uint64_t file_bytes;    /* size of the file at open */
    bool hot_journal;       /* a non-empty -journal was next to it at open */
    uint64_t header_bytes;  /* page_size * page count from the SQLite header, 0 if unknown */
    const char *looks_like; /* for a foreign file: what its first bytes suggest, or "" */
    unsigned char header[SQLITE_HEADER_LEN];
    bool have_header;
    char errmsg[ERRMSG_LEN];
};

/* Maps a SQLite result code to a GT_E* code for a file that already passed
 * validation: NOTADB then means the header was damaged after open. */
static int map_sqlite(int rc)
{
    switch (rc & 0xff) {
    case SQLITE_OK:
    case SQLITE_ROW:
    case SQLITE_DONE:
        return GT_OK;
    case SQLITE_NOMEM:
        return GT_ENOMEM;
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        return GT_ECORRUPT;
    case SQLITE_IOERR:
    case SQLITE_FULL:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PERM:
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return GT_EIO;
    default:
        return GT_ESQL;
    }
}

static uint64_t u64_from_i64(int64_t v)
{
    return (uint64_t)v;
}

/* The int64 with the same bits (schema.h): SQLite integers are signed. */
static int64_t i64_from_u64(uint64_t v)
{
    int64_t out;

    memcpy(&out, &v, sizeof out);
    return out;
}

const char *gt_trace_kind_name(int32_t kind)
{
    if (kind < 1 || kind > GT_EV_KIND_MAX)
        return NULL;
    return kind_names[kind];
}

int32_t gt_trace_kind_parse(const char *name)
{
    if (name == NULL)
        return 0;
    for (int32_t k = 1; k <= GT_EV_KIND_MAX; k++) {
        if (strcmp(name, kind_names[k]) == 0)
            return k;
    }
    return 0;
}

/* ---- writer ---------------------------------------------------------- */

/* Records the first error of w with SQLite's own text appended. */
static int writer_fail(struct gt_trace_writer *w, int rc, const char *what)
{
    int err = map_sqlite(rc);

    if (err == GT_OK)
        err = GT_ESQL;
    if (w->err == GT_OK) {
        w->err = err;
        gt_errf(w->errmsg, sizeof w->errmsg, GT_OK, "%s: %s", what, sqlite3_errmsg(w->db));
    }
    return w->err;
}

static int writer_exec(struct gt_trace_writer *w, const char *sql, const char *what)
{
    int rc = sqlite3_exec(w->db, sql, NULL, NULL, NULL);

    return rc == SQLITE_OK ? GT_OK : writer_fail(w, rc, what);
}

/* Runs a bound insert once and resets it for the next use. */
static int writer_step(struct gt_trace_writer *w, sqlite3_stmt *st, const char *what)
{
    int rc = sqlite3_step(st);

    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? GT_OK : writer_fail(w, rc, what);
}

/* The ids come first in the same transaction as the schema: a reader never
 * sees tables without the ids that say how to read them. */
static int writer_init_schema(struct gt_trace_writer *w)
{
    char sql[128];
    sqlite3_stmt *st = NULL;
    int rc;

    snprintf(sql, sizeof sql, "BEGIN; PRAGMA application_id=%d; PRAGMA user_version=%d;",
             GT_SCHEMA_APPLICATION_ID, GT_SCHEMA_VERSION);
    if ((rc = writer_exec(w, sql, "cannot set the file ids")) != GT_OK)
        return rc;
    if ((rc = writer_exec(w, GT_SCHEMA_SQL, "cannot create the schema")) != GT_OK)
        return rc;
    /* Every new trace has the optional tables, empty until filled, so that
     * only files older than them lack them. */
    if ((rc = writer_exec(w, GT_SCHEMA_SQL_OPTIONAL, "cannot create the schema")) != GT_OK)
        return rc;
    rc = sqlite3_prepare_v2(w->db, "INSERT INTO kinds(kind, name) VALUES(?1, ?2)", -1, &st, NULL);
    if (rc != SQLITE_OK)
        return writer_fail(w, rc, "cannot fill the kinds table");
    for (int k = 1; k <= GT_EV_KIND_MAX && w->err == GT_OK; k++) {
        sqlite3_bind_int(st, 1, k);
        sqlite3_bind_text(st, 2, kind_names[k], -1, SQLITE_STATIC);
        writer_step(w, st, "cannot fill the kinds table");
    }
    sqlite3_finalize(st);
    if (w->err != GT_OK)
        return w->err;
    return writer_exec(w, "COMMIT", "cannot commit the schema");
}

static int writer_prepare(struct gt_trace_writer *w, const char *sql, sqlite3_stmt **st)
{
    int rc = sqlite3_prepare_v3(w->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);

    return rc == SQLITE_OK ? GT_OK : writer_fail(w, rc, "cannot prepare an insert");
}

static void arena_free(struct arena_block *b)
{
    while (b != NULL) {
        struct arena_block *next = b->next;
        free(b);
        b = next;
    }
}

/* Prepares the single-row and the BUF_ROWS-row form of "head VALUES(...)". */
static int rows_prepare(struct gt_trace_writer *w, struct row_buf *b, const char *head, int ncols,
                        const char *what)
{
    char sql[BUF_ROWS * (BUF_COLS * 2 + 4) + 256];
    size_t len = 0;
    int rc;

    b->ncols = ncols;
    b->what = what;
    for (int r = 0; r < BUF_ROWS; r++) {
        len += (size_t)snprintf(sql + len, sizeof sql - len, "%s%s", r == 0 ? head : ",",
                                r == 0 ? " VALUES(?" : "(?");
        for (int c = 1; c < ncols; c++)
            len += (size_t)snprintf(sql + len, sizeof sql - len, ",?");
        len += (size_t)snprintf(sql + len, sizeof sql - len, ")");
        if (r == 0 && (rc = writer_prepare(w, sql, &b->one)) != GT_OK)
            return rc;
    }
    /* BUF_ROWS * BUF_COLS placeholders fit with room to spare. */
    if (len >= sizeof sql)
        return writer_fail(w, SQLITE_TOOBIG, "cannot prepare an insert");
    return writer_prepare(w, sql, &b->many);
}

/* Inserts the buffered rows of b: a full buffer as one statement, a partial
 * one (before a commit) row by row. */
static int rows_flush(struct gt_trace_writer *w, struct row_buf *b)
{
    size_t done = 0, n = b->rows;
    int rc = SQLITE_DONE;

    b->rows = 0;
    if (n == BUF_ROWS) {
        for (int i = 0; i < BUF_ROWS * b->ncols; i++)
            sqlite3_bind_int64(b->many, i + 1, b->v[i]);
        rc = sqlite3_step(b->many);
        sqlite3_reset(b->many);
        done = n;
    }
    for (; done < n && rc == SQLITE_DONE; done++) {
        for (int c = 0; c < b->ncols; c++)
            sqlite3_bind_int64(b->one, c + 1, b->v[done * (size_t)b->ncols + (size_t)c]);
        rc = sqlite3_step(b->one);
        sqlite3_reset(b->one);
    }
    return rc == SQLITE_DONE ? GT_OK : writer_fail(w, rc, b->what);
}

/* Buffers one row of b->ncols values; inserts the buffer when it is full. */
static int rows_add(struct gt_trace_writer *w, struct row_buf *b, const int64_t *v)
{
    memcpy(&b->v[b->rows * (size_t)b->ncols], v, (size_t)b->ncols * sizeof *v);
    if (++b->rows < BUF_ROWS)
        return GT_OK;
    return rows_flush(w, b);
}

/* Everything buffered goes in before a commit. */
static int writer_flush(struct gt_trace_writer *w)
{
    int rc = rows_flush(w, &w->event_stacks);
    int rc2 = rows_flush(w, &w->totals);

    return rc != GT_OK ? rc : rc2;
}

/* Inserts the events appended since the last batch as one row. */
static int writer_put_batch(struct gt_trace_writer *w)
{
    struct gt_batch *b = w->batch;
    uint64_t sum;

    if (b->n == 0)
        return GT_OK;
    sum = gt_batch_checksum(b->first_seq, b->n, b->buf, b->len);
    sqlite3_bind_int64(w->ins_batch, 1, b->first_seq);
    sqlite3_bind_int64(w->ins_batch, 2, b->n);
    sqlite3_bind_int64(w->ins_batch, 3, i64_from_u64(sum));
    sqlite3_bind_blob(w->ins_batch, 4, b->buf, (int)b->len, SQLITE_STATIC);
    sqlite3_bind_int64(w->ins_batch, 5, i64_from_u64(b->sum.kinds));
    if (b->sum.one_device)
        sqlite3_bind_int64(w->ins_batch, 6, b->sum.device);
    else
        sqlite3_bind_null(w->ins_batch, 6);
    if (b->sum.one_pid)
        sqlite3_bind_int64(w->ins_batch, 7, b->sum.pid);
    else
        sqlite3_bind_null(w->ins_batch, 7);
    gt_batch_reset(b);
    return writer_step(w, w->ins_batch, "cannot store events");
}

/* meta.event_count: the seqs committed are 1..event_count, all of them
 * (v2 readers check it, so a batch lost to damage is never a shorter
 * answer). Written in the same transaction as the batches. */
static int writer_put_count(struct gt_trace_writer *w)
{
    char n[32];

    snprintf(n, sizeof n, "%lld", (long long)(w->next_seq - 1));
    sqlite3_bind_text(w->ins_meta, 1, "event_count", -1, SQLITE_STATIC);
    sqlite3_bind_text(w->ins_meta, 2, n, -1, SQLITE_TRANSIENT);
    return writer_step(w, w->ins_meta, "cannot store the event count");
}

/* Commits everything appended so far: the rows attached to events, the
 * open batch, the events before it. reopen: begin the next transaction. */
static int writer_commit(struct gt_trace_writer *w, bool reopen)
{
    int rc = writer_flush(w);

    if (rc == GT_OK)
        rc = writer_put_batch(w);
    if (rc == GT_OK)
        rc = writer_put_count(w);
    if (rc == GT_OK)
        rc = writer_exec(w, reopen ? "COMMIT; BEGIN" : "COMMIT", "cannot commit a batch");
    if (rc == GT_OK)
        w->pending = 0;
    return w->err != GT_OK ? w->err : rc;
}

static void writer_destroy(struct gt_trace_writer *w)
{
    sqlite3_finalize(w->ins_meta);
    sqlite3_finalize(w->ins_device);
    sqlite3_finalize(w->ins_process);
    sqlite3_finalize(w->ins_frame);
    sqlite3_finalize(w->ins_stack);
    sqlite3_finalize(w->event_stacks.one);
    sqlite3_finalize(w->event_stacks.many);
    sqlite3_finalize(w->totals.one);
    sqlite3_finalize(w->totals.many);
    sqlite3_finalize(w->ins_block);
    sqlite3_finalize(w->ins_final);
    sqlite3_finalize(w->ins_pool);
    sqlite3_finalize(w->ins_batch);
    sqlite3_close(w->db);
    free(w->batch);
    arena_free(w->frame_arena);
    arena_free(w->stack_arena);
    free(w->frames);
    free(w->stacks);
    free(w->frame_ix.slots);
    free(w->stack_ix.slots);
    free(w->lens);
    free(w);
}

/* Creates the file itself so that O_EXCL refuses an existing path (SQLite
 * would open it) and the mode is 0600 whatever the umask. */
static int create_file(const char *path, char *errbuf, size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);

    if (fd < 0) {
        int e = errno;
        if (e == EEXIST)
            gt_errf(errbuf, errlen, GT_OK,
                    "'%s' already exists; gpu-trace never overwrites a trace", path);
        else
            gt_errf(errbuf, errlen, GT_OK, "cannot create '%s': %s", path, strerror(e));
        return e == ENOENT ? GT_ENOENT : GT_EIO;
    }
    if (fchmod(fd, 0600) != 0) {
        gt_errf(errbuf, errlen, GT_OK, "cannot set the mode of '%s': %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return GT_EIO;
    }
    if (close(fd) != 0) {
        gt_errf(errbuf, errlen, GT_OK, "cannot create '%s': %s", path, strerror(errno));
        unlink(path);
        return GT_EIO;
    }
    return GT_OK;
}

int gt_trace_create(const char *path, struct gt_trace_writer **out, char *errbuf, size_t errlen)
{
    struct gt_trace_writer *w;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (path == NULL || out == NULL) {
        gt_errf(errbuf, errlen, GT_OK, "no path given");
        return GT_EINVAL;
    }
    if ((rc = create_file(path, errbuf, errlen)) != GT_OK)
        return rc;
    w = calloc(1, sizeof *w);
    if (w != NULL && (w->batch = malloc(sizeof *w->batch)) == NULL) {
        free(w);
        w = NULL;
    }
    if (w == NULL) {
        gt_errf(errbuf, errlen, GT_OK, "out of memory");
        unlink(path);
        return GT_ENOMEM;
    }
    gt_batch_reset(w->batch);
    w->next_seq = 1;
    rc = sqlite3_open_v2(path, &w->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        rc = w->db != NULL ? writer_fail(w, rc, "cannot open") : GT_ENOMEM;
        goto fail;
    }
    /* The rollback journal (the default) keeps the trace one file at rest;
     * WAL would leave -wal and -shm files next to it. NORMAL syncs once per
     * batch, which is what makes "a crash loses at most the open batch"
     * true without paying a sync per event. */
    rc = writer_exec(w,
                     "PRAGMA journal_mode=DELETE; PRAGMA synchronous=NORMAL;"
                     " PRAGMA cache_size=-16384;",
                     "cannot configure");
    /* A commit needs the EXCLUSIVE lock, which a reader of the trace being
     * recorded (`gpu-trace stats` during a run) holds off for the length of
     * one read call: wait for it rather than fail the recording. Another
     * writer (the sqlite3 shell) waits for the open transaction the same
     * way, or is told "database is locked". */
    sqlite3_busy_timeout(w->db, WRITER_BUSY_MS);
    if (rc == GT_OK)
        rc = writer_init_schema(w);
    if (rc == GT_OK)
        rc = writer_prepare(
            w,
            "INSERT INTO event_batches(first_seq, n, checksum, data, kinds, device, pid)"
            " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            &w->ins_batch);
    if (rc == GT_OK)
        rc = writer_prepare(w, "INSERT OR REPLACE INTO meta(key, value) VALUES(?1, ?2)",
                            &w->ins_meta);
    if (rc == GT_OK)
        rc = writer_prepare(w,
                            "INSERT OR REPLACE INTO devices(device, name, total_memory)"
                            " VALUES(?1, ?2, ?3)",
                            &w->ins_device);
    if (rc == GT_OK)
        rc = writer_prepare(w,
                            "INSERT OR REPLACE INTO processes(pid, rank, command)"
                            " VALUES(?1, ?2, ?3)",
                            &w->ins_process);
    if (rc == GT_OK)
        rc = writer_prepare(
            w, "INSERT INTO frames(frame, filename, line, name) VALUES(?1, ?2, ?3, ?4)",
            &w->ins_frame);
    if (rc == GT_OK)
        rc = writer_prepare(w, "INSERT INTO stacks(stack, depth, frame) VALUES(?1, ?2, ?3)",
                            &w->ins_stack);
    /* A second stack or totals for the same event replaces the first, as a
     * second value of a meta key does. */
    if (rc == GT_OK)
        rc = rows_prepare(w, &w->event_stacks, "INSERT OR REPLACE INTO event_stacks(seq, stack)", 2,
                          "cannot store the stack of an event");
    if (rc == GT_OK)
        rc = rows_prepare(w, &w->totals,
                          "INSERT OR REPLACE INTO event_totals(seq, allocated, reserved)", 3,
                          "cannot store event totals");
    /* Two blocks at one address are a broken rebuild, not an update: no OR
     * REPLACE, so the writer reports it. */
    if (rc == GT_OK)
        rc = writer_prepare(w,
                            "INSERT INTO initial_blocks(device, addr, size, requested, allocated,"
                            " segment, segment_size, stream, small_pool, expandable)"
                            " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                            &w->ins_block);
    if (rc == GT_OK)
        rc = writer_prepare(w,
                            "INSERT INTO final_blocks(device, addr, size, requested, allocated,"
                            " segment, segment_size, stream, small_pool, expandable)"
                            " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                            &w->ins_final);
    if (rc == GT_OK)
        rc = writer_exec(w, "BEGIN", "cannot begin a transaction");
    if (rc != GT_OK)
        goto fail;
    *out = w;
    return GT_OK;

fail:
    gt_errf(errbuf, errlen, GT_OK, "%s", w->errmsg[0] != '\0' ? w->errmsg : "out of memory");
    writer_destroy(w);
    unlink(path);
    return rc;
}

static int writer_usable(struct gt_trace_writer *w)
{
    if (w == NULL)
        return GT_EINVAL;
    return w->err;
}

int gt_trace_set_meta(struct gt_trace_writer *w, const char *key, const char *value)
{
    int rc = writer_usable(w);

    if (rc != GT_OK)
        return rc;
    if (key == NULL || value == NULL)
        return GT_EINVAL;
    sqlite3_bind_text(w->ins_meta, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(w->ins_meta, 2, value, -1, SQLITE_STATIC);
    return writer_step(w, w->ins_meta, "cannot store metadata");
}

int gt_trace_add_device(struct gt_trace_writer *w, int32_t device, const char *name,
                        uint64_t total_memory)
{
    int rc = writer_usable(w);

    if (rc != GT_OK)
        return rc;
    if (name == NULL)
        return GT_EINVAL;
    sqlite3_bind_int(w->ins_device, 1, device);
    sqlite3_bind_text(w->ins_device, 2, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(w->ins_device, 3, i64_from_u64(total_memory));
    return writer_step(w, w->ins_device, "cannot store a device");
}

int gt_trace_add_process(struct gt_trace_writer *w, int64_t pid, int64_t rank, const char *command)
{
    int rc = writer_usable(w);

    if (rc != GT_OK)
        return rc;
    sqlite3_bind_int64(w->ins_process, 1, pid);
    sqlite3_bind_int64(w->ins_process, 2, rank);
    sqlite3_bind_text(w->ins_process, 3, command != NULL ? command : "", -1, SQLITE_STATIC);
    return writer_step(w, w->ins_process, "cannot store a process");
}

int gt_trace_commit(struct gt_trace_writer *w)
{
    int rc = writer_usable(w);

    if (rc != GT_OK || w->pending == 0)
        return rc;
    return writer_commit(w, true);
}

int gt_trace_append(struct gt_trace_writer *w, const struct gt_event *ev)
{
    int rc = writer_usable(w);

    if (rc != GT_OK)
        return rc;
    /* A kind this build does not know would be skipped by every reader. */
    if (ev == NULL || ev->kind < 1 || ev->kind > GT_EV_KIND_MAX)
        return GT_EINVAL;
    /* The full batch is committed here, before the next event, not right
     * after its last one: the stack and totals a caller attaches to an event
     * then always commit together with it. */
    if (w->pending >= BATCH_EVENTS && (rc = writer_commit(w, true)) != GT_OK)
        return rc;
    struct gt_event e = *ev;
    e.seq = w->next_seq;
    gt_batch_add(w->batch, &e);
    if (w->batch->n == GT_BATCH_EVENTS && (rc = writer_put_batch(w)) != GT_OK)
        return rc;
    w->next_seq++;
    w->pending++;
    return GT_OK;
}

int64_t gt_trace_last_seq(const struct gt_trace_writer *w)
{
    return w != NULL ? w->next_seq - 1 : 0;
}

/* ---- writer: optional tables ------------------------------------------ */

#define ARENA_BLOCK ((size_t)256 * 1024)
#define HASH_MUL 0x9e3779b97f4a7c15u  /* 2^64 / golden ratio, odd */
#define HASH_MUL2 0xc2b2ae3d27d4eb4fu /* xxHash's PRIME64_2 */

static int writer_oom(struct gt_trace_writer *w)
{
    if (w->err == GT_OK) {
        w->err = GT_ENOMEM;
        gt_errf(w->errmsg, sizeof w->errmsg, GT_OK, "out of memory");
    }
    return w->err;
}

/* Rows of the optional tables belong to events that exist: a row for a seq
 * not appended yet would describe an event no reader will see. */
static bool seq_appended(const struct gt_trace_writer *w, int64_t seq)
{
    return seq >= 1 && seq < w->next_seq;
}

_Static_assert(offsetof(struct arena_block, data) % _Alignof(int64_t) == 0,
               "arena data must be aligned for the stack id arrays");

/* n bytes aligned to align (a power of two) that live until close. */
static void *arena_alloc(struct arena_block **arena, size_t n, size_t align)
{
    struct arena_block *b = *arena;
    size_t cap;

    if (b != NULL) {
        size_t at = (b->used + align - 1) & ~(align - 1);
        if (at <= b->cap && n <= b->cap - at) {
            b->used = at + n;
            return b->data + at;
        }
    }
    cap = n > ARENA_BLOCK / 4 ? n : ARENA_BLOCK;
    if (cap > SIZE_MAX - sizeof *b)
        return NULL;
    b = malloc(sizeof *b + cap);
    if (b == NULL)
        return NULL;
    b->cap = cap;
    b->used = n;
    /* A large request gets a block of its own behind the current one, whose
     * free space stays in use. */
    if (cap != ARENA_BLOCK && *arena != NULL) {
        b->next = (*arena)->next;
        (*arena)->next = b;
    } else {
        b->next = *arena;
        *arena = b;
    }
    return b->data;
}

/* The hash of stack contents. A 40-frame stack is about 3 KB of strings,
 * hashed once per event, so the hash goes a word at a time in two
 * independent lanes: the multiplies of one lane overlap with the other's.
 * Not keyed: a crafted input can make probes long, but it only slows its own
 * import. */
struct hasher {
    uint64_t a, b;
};

static uint64_t rotl64(uint64_t x, int r)
{
    return x << r | x >> (64 - r);
}

static void hash_int(struct hasher *h, uint64_t v)
{
    h->b = rotl64((h->b ^ v) * HASH_MUL2, 27);
}

/* Adds n bytes and n itself, so that "ab" + "c" differs from "a" + "bc".
 * Reads only whole words inside the string (the last one overlapping the
 * one before), so there is no memcpy of a variable length: that call cost
 * as much as the hashing. */
static inline void hash_bytes(struct hasher *h, const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t a = h->a, b = h->b, v, u;
    size_t i = 0;

    if (n >= 8) {
        for (; i + 16 <= n; i += 16) {
            memcpy(&v, s + i, 8);
            memcpy(&u, s + i + 8, 8);
            a = rotl64((a ^ v) * HASH_MUL, 31);
            b = rotl64((b ^ u) * HASH_MUL2, 27);
        }
        if (i + 8 <= n) {
            memcpy(&v, s + i, 8);
            a = rotl64((a ^ v) * HASH_MUL, 31);
            i += 8;
        }
        if (i < n) {
            memcpy(&u, s + n - 8, 8);
            b = rotl64((b ^ u) * HASH_MUL2, 27);
        }
    } else {
        for (u = 0; i < n; i++)
            u = u << 8 | s[i];
        b = rotl64((b ^ u) * HASH_MUL2, 27);
    }
    h->a = rotl64((a ^ n) * HASH_MUL, 31);
    h->b = b;
}

/* Spreads every input bit into the low bits that pick a slot. */
static uint64_t hash_final(uint64_t h)
{
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdu;
    h ^= h >> 33;
    h *= 0xc4ceb9fe1a85ec53u;
    return h ^ h >> 33;
}

static uint64_t hash_end(const struct hasher *h)
{
    return hash_final(h->a ^ rotl64(h->b, 32));
}

/* Makes sure one more id fits without passing the load limit. */
static bool dedup_reserve(struct dedup *t)
{
    struct slot *slots;
    size_t ncap;

    if (t->cap != 0 && t->used + 1 <= t->cap / 4 * 3)
        return true;
    ncap = t->cap == 0 ? 1024 : t->cap * 2;
    if (ncap < t->cap || ncap > SIZE_MAX / sizeof *slots)
        return false;
    slots = calloc(ncap, sizeof *slots);
    if (slots == NULL)
        return false;
    for (size_t i = 0; i < t->cap; i++) {
        size_t j = t->slots[i].hash & (ncap - 1);
        if (t->slots[i].id == 0)
            continue;
        while (slots[j].id != 0)
            j = (j + 1) & (ncap - 1);
        slots[j] = t->slots[i];
    }
    free(t->slots);
    t->slots = slots;
    t->cap = ncap;
    return true;
}

/* Adds id under hash; room was made by dedup_reserve. */
static void dedup_add(struct dedup *t, uint64_t hash, size_t id)
{
    size_t j = hash & (t->cap - 1);

    while (t->slots[j].id != 0)
        j = (j + 1) & (t->cap - 1);
    t->slots[j].hash = hash;
    t->slots[j].id = id;
    t->used++;
}

static uint64_t frame_hash(const struct gt_frame *f, const struct frame_len *len)
{
    struct hasher h = {HASH_MUL, HASH_MUL2};

    hash_int(&h, (uint64_t)f->line);
    hash_bytes(&h, f->filename, len->flen);
    hash_bytes(&h, f->name, len->nlen);
    return hash_end(&h);
}

/* memcmp(a, b, n) == 0 for the short strings of frames, inline: a call per
 * string cost more than the comparison. */
static inline bool bytes_equal(const unsigned char *a, const char *b, size_t n)
{
    uint64_t x, y;
    size_t i = 0;

    if (n < 8)
        return memcmp(a, b, n) == 0;
    for (; i + 8 <= n; i += 8) {
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        if (x != y)
            return false;
    }
    if (i < n) {
        memcpy(&x, a + n - 8, 8);
        memcpy(&y, b + n - 8, 8);
        return x == y;
    }
    return true;
}

/* Whether the stored frame e is f. */
static inline bool frame_equal(const unsigned char *e, const struct gt_frame *f,
                               const struct frame_len *len)
{
    struct frame_head fh;

    memcpy(&fh, e, sizeof fh);
    e += sizeof fh;
    return fh.line == f->line && fh.flen == len->flen && fh.nlen == len->nlen &&
           bytes_equal(e, f->filename, fh.flen) && bytes_equal(e + fh.flen, f->name, fh.nlen);
}

/* The id of frame f, inserted into table frames the first time it is seen. */
static int frame_id(struct gt_trace_writer *w, const struct gt_frame *f,
                    const struct frame_len *len, int64_t *id)
{
    const struct dedup *t = &w->frame_ix;
    uint64_t hash = frame_hash(f, len);
    struct frame_head fh = {f->line, (uint32_t)len->flen, (uint32_t)len->nlen};
    const unsigned char **frames;
    unsigned char *e;
    int rc;

    for (size_t j = hash & (t->cap - 1); t->cap != 0 && t->slots[j].id != 0;
         j = (j + 1) & (t->cap - 1)) {
        if (t->slots[j].hash == hash && frame_equal(w->frames[t->slots[j].id - 1], f, len)) {
            *id = (int64_t)t->slots[j].id;
            return GT_OK;
        }
    }
    /* Memory first: once the row is in, recording it cannot fail. */
    if ((frames = gt_array_grow(w->frames, &w->frames_cap, w->nframes, sizeof *frames)) == NULL)
        return writer_oom(w);
    w->frames = frames;
    if (!dedup_reserve(&w->frame_ix) ||
        (e = arena_alloc(&w->frame_arena, sizeof fh + len->flen + len->nlen,
                         _Alignof(struct frame_head))) == NULL)
        return writer_oom(w);
    memcpy(e, &fh, sizeof fh);
    memcpy(e + sizeof fh, f->filename, len->flen);
    memcpy(e + sizeof fh + len->flen, f->name, len->nlen);
    *id = (int64_t)w->nframes + 1;
    sqlite3_bind_int64(w->ins_frame, 1, *id);
    sqlite3_bind_text(w->ins_frame, 2, (const char *)e + sizeof fh, (int)len->flen, SQLITE_STATIC);
    sqlite3_bind_int64(w->ins_frame, 3, f->line);
    sqlite3_bind_text(w->ins_frame, 4, (const char *)e + sizeof fh + len->flen, (int)len->nlen,
                      SQLITE_STATIC);
    if ((rc = writer_step(w, w->ins_frame, "cannot store a frame")) != GT_OK)
        return rc;
    w->frames[w->nframes++] = e;
    dedup_add(&w->frame_ix, hash, w->nframes);
    return GT_OK;
}

/* The id of a stored stack with the content of frames[0..n) (string lengths
 * in w->lens), 0 if none. */
static size_t stack_find(const struct gt_trace_writer *w, uint64_t hash,
                         const struct gt_frame *frames, size_t n)
{
    const struct dedup *t = &w->stack_ix;

    for (size_t j = hash & (t->cap - 1); t->cap != 0 && t->slots[j].id != 0;
         j = (j + 1) & (t->cap - 1)) {
        const struct slot *s = &t->slots[j];
        const struct stack_rec *sr;
        size_t i = 0;

        if (s->hash != hash)
            continue;
        sr = &w->stacks[s->id - 1];
        if (sr->n != n)
            continue;
        while (i < n && frame_equal(w->frames[sr->ids[i] - 1], &frames[i], &w->lens[i]))
            i++;
        if (i == n)
            return s->id;
    }
    return 0;
}

/* Stores a stack not seen before: its new frames, its rows in stacks, and
 * its record. */
static int stack_add(struct gt_trace_writer *w, uint64_t hash, const struct gt_frame *frames,
                     size_t n, int64_t *id)
{
    struct stack_rec *sr;
    int64_t *ids;
    int rc;

    if ((sr = gt_array_grow(w->stacks, &w->stacks_cap, w->nstacks, sizeof *sr)) == NULL)
        return writer_oom(w);
    w->stacks = sr;
    if (!dedup_reserve(&w->stack_ix) ||
        (ids = arena_alloc(&w->stack_arena, n * sizeof *ids, _Alignof(int64_t))) == NULL)
        return writer_oom(w);
    for (size_t i = 0; i < n; i++) {
        if ((rc = frame_id(w, &frames[i], &w->lens[i], &ids[i])) != GT_OK)
            return rc;
    }
    *id = (int64_t)w->nstacks + 1;
    for (size_t d = 0; d < n; d++) {
        sqlite3_bind_int64(w->ins_stack, 1, *id);
        sqlite3_bind_int64(w->ins_stack, 2, (int64_t)d);
        sqlite3_bind_int64(w->ins_stack, 3, ids[d]);
        if ((rc = writer_step(w, w->ins_stack, "cannot store a stack")) != GT_OK)
            return rc;
    }
    sr = &w->stacks[w->nstacks++];
    sr->hash = hash;
    sr->ids = ids;
    sr->n = n;
    dedup_add(&w->stack_ix, hash, w->nstacks);
    return GT_OK;
}

int gt_trace_set_stack(struct gt_trace_writer *w, int64_t seq, const struct gt_frame *frames,
                       size_t n)
{
    struct hasher h = {HASH_MUL2, HASH_MUL};
    size_t found;
    uint64_t hash;
    int64_t stack = 0;
    int rc = writer_usable(w);

    if (rc != GT_OK)
        return rc;
    if (!seq_appended(w, seq) || (frames == NULL && n > 0))
        return GT_EINVAL;
    /* An empty stack says nothing: it is stored as no stack, which reads
     * the same and costs no row per event in traces recorded without
     * stacks. */
    if (n == 0)
        return GT_OK;
    if (n > w->lens_cap) {
        struct frame_len *l = NULL;
        if (n <= SIZE_MAX / sizeof *l)
            l = realloc(w->lens, n * sizeof *l);
        if (l == NULL)
            return writer_oom(w);
        w->lens = l;
        w->lens_cap = n;
    }
    /* One pass over the input: checks, lengths and the hash. Nothing is
     * written before it ends, so a refused call writes nothing. */
    hash_int(&h, (uint64_t)n);
    for (size_t i = 0; i < n; i++) {
        const struct gt_frame *f = &frames[i];
        size_t flen, nlen;

        if (f->filename == NULL || f->name == NULL)
            return GT_EINVAL;
        flen = strlen(f->filename);
        nlen = strlen(f->name);
        /* sqlite3_bind_text takes an int length */
        if (flen > INT_MAX || nlen > INT_MAX)
            return GT_ERANGE;
        w->lens[i].flen = flen;
        w->lens[i].nlen = nlen;
        hash_int(&h, (uint64_t)f->line);
        hash_bytes(&h, f->filename, flen);
        hash_bytes(&h, f->name, nlen);
    }
    hash = hash_end(&h);
    found = stack_find(w, hash, frames, n);
    if (found != 0)
        stack = (int64_t)found;
    else if ((rc = stack_add(w, hash, frames, n, &stack)) != GT_OK)
        return rc;
    return rows_add(w, &w->event_stacks, (const int64_t[]){seq, stack});
}

int gt_trace_add_totals(struct gt_trace_writer *w, int64_t seq, int64_t allocated, int64_t reserved)
{
    int rc = writer_usable(w);

    if (rc != GT_OK)
        return rc;
    if (!seq_appended(w, seq))
        return GT_EINVAL;
    return rows_add(w, &w->totals, (const int64_t[]){seq, allocated, reserved});
}

static int add_block_row(struct gt_trace_writer *w, sqlite3_stmt *st,
                         const struct gt_initial_block *b, const char *what)
{
    int rc = writer_usable(w);

    if (rc != GT_OK)
        return rc;
    if (b == NULL)
        return GT_EINVAL;
    sqlite3_bind_int(st, 1, b->device);
    sqlite3_bind_int64(st, 2, i64_from_u64(b->addr));
    sqlite3_bind_int64(st, 3, i64_from_u64(b->size));
    sqlite3_bind_int64(st, 4, i64_from_u64(b->requested));
    sqlite3_bind_int(st, 5, b->allocated && b->pending ? 2 : b->allocated ? 1 : 0);
    sqlite3_bind_int64(st, 6, i64_from_u64(b->segment));
    sqlite3_bind_int64(st, 7, i64_from_u64(b->segment_size));
    sqlite3_bind_int64(st, 8, i64_from_u64(b->stream));
    sqlite3_bind_int(st, 9, b->small_pool ? 1 : 0);
    sqlite3_bind_int(st, 10, b->expandable ? 1 : 0);
    return writer_step(w, st, what);
}

int gt_trace_add_initial_block(struct gt_trace_writer *w, const struct gt_initial_block *b)
{
    return add_block_row(w, w != NULL ? w->ins_block : NULL, b, "cannot store an initial block");
}

int gt_trace_add_final_block(struct gt_trace_writer *w, const struct gt_initial_block *b)
{
    return add_block_row(w, w != NULL ? w->ins_final : NULL, b, "cannot store a final block");
}

int gt_trace_add_initial_pool(struct gt_trace_writer *w, const struct gt_initial_pool *p)
{
    int rc = writer_usable(w);

    if (rc != GT_OK)
        return rc;
    if (p == NULL)
        return GT_EINVAL;
    if (w->ins_pool == NULL)
        rc = writer_prepare(w,
                            "INSERT INTO initial_pools(device, segment, pool_first, pool_second,"
                            " released) VALUES(?1, ?2, ?3, ?4, ?5)",
                            &w->ins_pool);
    if (rc != GT_OK)
        return rc;
    sqlite3_bind_int(w->ins_pool, 1, p->device);
    sqlite3_bind_int64(w->ins_pool, 2, i64_from_u64(p->segment));
    sqlite3_bind_int64(w->ins_pool, 3, p->pool_first);
    sqlite3_bind_int64(w->ins_pool, 4, p->pool_second);
    sqlite3_bind_int(w->ins_pool, 5, p->released ? 1 : 0);
    return writer_step(w, w->ins_pool, "cannot store an initial pool");
}

int gt_trace_writer_close(struct gt_trace_writer *w)
{
    int rc;

    if (w == NULL)
        return GT_OK;
    /* Commit even after an error: the failed statement was rolled back on
     * its own, and the events before it are worth keeping. */
    if (w->db != NULL && !sqlite3_get_autocommit(w->db)) {
        if (w->err == GT_OK && writer_flush(w) == GT_OK && writer_put_batch(w) == GT_OK)
            writer_put_count(w);
        writer_exec(w, "COMMIT", "cannot commit the last batch");
    }
    rc = w->err;
    writer_destroy(w);
    return rc;
}

const char *gt_trace_writer_errmsg(const struct gt_trace_writer *w)
{
    if (w == NULL)
        return "out of memory";
    return w->errmsg;
}

/* ---- reader ---------------------------------------------------------- */

static uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* A hint for a file that is not a trace but something `gpu-trace import`
 * converts: users pass a snapshot or a profiler trace straight to analyze. */
static const char *foreign_kind(const unsigned char *h, size_t n)
{
    size_t i = 0;

    if (n >= 2 && h[0] == 0x80 && h[1] >= 2 && h[1] <= 5)
        return "; it looks like a PyTorch memory snapshot, which 'gpu-trace import' converts";
    if (n >= 2 && h[0] == 0x1f && h[1] == 0x8b)
        return "; it looks like a gzipped profiler trace, which 'gpu-trace import' converts";
    while (i < n && (h[i] == ' ' || h[i] == '\n' || h[i] == '\r' || h[i] == '\t'))
        i++;
    if (i < n && h[i] == '{')
        return "; it looks like a JSON profiler trace, which 'gpu-trace import' converts";
    if (n >= 12 && memcmp(h, "ts_ns,action", 12) == 0)
        return "; it looks like the CSV format, which 'gpu-trace import' converts";
    return "";
}

/* Reads the SQLite header ourselves: SQLite says "file is not a database"
 * both for a foreign file and for a damaged trace, and it does not say how
 * much of a truncated file is missing. The bytes come through SQLite's own
 * file handle (r->db is open): opening and closing the file on a descriptor
 * of our own would drop every POSIX lock this process holds on it, SQLite's
 * included (a writer of the same file in this process). Sets *magic when
 * the file starts with SQLite's magic string. */
static int read_header(struct gt_trace_reader *r, bool *magic)
{
    unsigned char h[SQLITE_HEADER_LEN];
    sqlite3_file *fp = NULL;
    size_t got = r->file_bytes < sizeof h ? (size_t)r->file_bytes : sizeof h;

    *magic = false;
    memset(h, 0, sizeof h);
    if (sqlite3_file_control(r->db, "main", SQLITE_FCNTL_FILE_POINTER, &fp) != SQLITE_OK ||
        fp == NULL || fp->pMethods == NULL) {
        gt_errf(r->errmsg, sizeof r->errmsg, GT_OK, "cannot open: no file handle");
        return GT_EIO;
    }
    int rc = got > 0 ? fp->pMethods->xRead(fp, h, (int)got, 0) : SQLITE_OK;
    if (rc != SQLITE_OK && rc != SQLITE_IOERR_SHORT_READ) {
        gt_errf(r->errmsg, sizeof r->errmsg, GT_OK, "cannot read: %s", sqlite3_errstr(rc));
        return GT_EIO;
    }
    if (got == sizeof h) {
        memcpy(r->header, h, sizeof h);
        r->have_header = true;
    }
    if (got >= sizeof SQLITE_MAGIC && memcmp(h, SQLITE_MAGIC, sizeof SQLITE_MAGIC) == 0)
        *magic = true;
    r->looks_like = foreign_kind(h, got);
    if (*magic && got == sizeof h) {
        /* Page size 1 means 65536; the page count is only valid when the
         * change counter matches version-valid-for, as SQLite itself checks. */
        uint32_t page = (uint32_t)h[16] << 8 | h[17];
        uint32_t pages = be32(h + 28);
        if (page == 1)
            page = 65536;
        if (memcmp(h + 24, h + 92, 4) == 0)
            r->header_bytes = (uint64_t)page * pages;
    }
    return GT_OK;
}

/* Runs a statement returning one integer (a PRAGMA or an aggregate). */
static int query_int(sqlite3 *db, const char *sql, int64_t *v, bool *null)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);

    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            if (null != NULL)
                *null = sqlite3_column_type(st, 0) == SQLITE_NULL;
            *v = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        } else if (rc == SQLITE_DONE) {
            if (null != NULL)
                *null = true;
            *v = 0;
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

/* Says what a truncated file lost, or nothing when the size is right. */
static void truncation_note(const struct gt_trace_reader *r, char *buf, size_t len)
{
    buf[0] = '\0';
    /* A hot journal is not a cut: the file is whole once it is rolled back,
     * which a read-only connection cannot do. */
    if (r->hot_journal)
        gt_errf(buf, len, GT_OK,
                " (a writer died mid-commit: open the file once with sqlite3 to roll back its"
                " -journal)");
    else if (r->header_bytes > r->file_bytes)
        gt_errf(buf, len, GT_OK, " (the file has %llu of its %llu bytes: truncated)",
                (unsigned long long)r->file_bytes, (unsigned long long)r->header_bytes);
}

/* Turns a SQLite failure during validation into the error the caller
 * expects: before the ids were read, "not a database" means a foreign file
 * unless it carries SQLite's magic string. */
static int open_fail(struct gt_trace_reader *r, int rc, bool magic, const char *what)
{
    char note[96];
    int err = map_sqlite(rc);

    truncation_note(r, note, sizeof note);
    if ((rc & 0xff) == SQLITE_NOTADB && !magic) {
        gt_errf(r->errmsg, sizeof r->errmsg, GT_OK, "not an SQLite database%s",
                r->looks_like != NULL ? r->looks_like : "");
        return GT_EFOREIGN;
    }
    /* A generic error while reading the schema ("malformed database
     * schema") is damage too: the ids already said this is a trace. */
    if (err == GT_ESQL)
        err = GT_ECORRUPT;
    gt_errf(r->errmsg, sizeof r->errmsg, GT_OK, "%s: %s%s", what, sqlite3_errmsg(r->db), note);
    return err;
}

struct table_spec {
    const char *name;
    const char *const *columns;
};

static const char *const event_columns[] = {"seq",       "ts_ns",  "pid",    "tid",
                                            "device",    "stream", "kind",   "addr",
                                            "requested", "size",   "result", NULL};
static const char *const batch_columns[] = {"first_seq", "n", "checksum", "data", NULL};
static const char *const meta_columns[] = {"key", "value", NULL};
static const char *const device_columns[] = {"device", "name", "total_memory", NULL};

/* The tables this reader queries, by format version (v1: rows, v2:
 * batches); kinds and processes are for people and later readers, so their
 * absence does not stop a replay. */
static const struct table_spec required_v1[] = {
    {"events", event_columns},
    {"meta", meta_columns},
    {"devices", device_columns},
};
static const struct table_spec required_v2[] = {
    {"event_batches", batch_columns},
    {"meta", meta_columns},
    {"devices", device_columns},
};

/* Checks that table t exists as a table (a view could run arbitrary SQL)
 * with every column; for events, that seq is the INTEGER PRIMARY KEY, which is
 * what makes ordered reading a walk of the b-tree instead of a sort. */
static int check_table(struct gt_trace_reader *r, const struct table_spec *t, bool magic)
{
    sqlite3_stmt *st = NULL;
    int rc;
    bool found = false;

    rc = sqlite3_prepare_v2(r->db, "SELECT type FROM sqlite_master WHERE name = ?1", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, t->name, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            const unsigned char *type = sqlite3_column_text(st, 0);
            found = type != NULL && strcmp((const char *)type, "table") == 0;
            rc = SQLITE_DONE;
        }
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_DONE)
        return open_fail(r, rc, magic, "cannot read the schema");
    if (!found) {
        gt_errf(r->errmsg, sizeof r->errmsg, GT_OK, "table '%s' is missing", t->name);
        return GT_ECORRUPT;
    }

    for (const char *const *c = t->columns; *c != NULL; c++) {
        bool have = false, key = false;

        st = NULL;
        rc = sqlite3_prepare_v2(r->db, "SELECT type, pk FROM pragma_table_info(?1) WHERE name = ?2",
                                -1, &st, NULL);
        if (rc == SQLITE_OK) {
            sqlite3_bind_text(st, 1, t->name, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, *c, -1, SQLITE_STATIC);
            rc = sqlite3_step(st);
            if (rc == SQLITE_ROW) {
                const unsigned char *type = sqlite3_column_text(st, 0);
                have = true;
                key = type != NULL && sqlite3_stricmp((const char *)type, "INTEGER") == 0 &&
                      sqlite3_column_int(st, 1) == 1;
                rc = SQLITE_DONE;
            }
        }
        sqlite3_finalize(st);
        if (rc != SQLITE_DONE)
            return open_fail(r, rc, magic, "cannot read the schema");
        if (!have) {
            gt_errf(r->errmsg, sizeof r->errmsg, GT_OK, "table '%s' has no column '%s'", t->name,
                    *c);
            return GT_ECORRUPT;
        }
        if (c == t->columns && (t->columns == event_columns || t->columns == batch_columns) &&
            !key) {
            gt_errf(r->errmsg, sizeof r->errmsg, GT_OK,
                    "table '%s' column '%s' is not its INTEGER PRIMARY KEY", t->name, *c);
            return GT_ECORRUPT;
        }
    }
    return GT_OK;
}

static int check_ids(struct gt_trace_reader *r, bool magic)
{
    int64_t app_id = 0, version = 0; /* gcc -O3 cannot see query_int sets them */
    int rc;

    rc = query_int(r->db, "PRAGMA application_id", &app_id, NULL);
    if (rc != SQLITE_OK)
        return open_fail(r, rc, magic, "cannot read the file ids");
    if (app_id != GT_SCHEMA_APPLICATION_ID) {
        gt_errf(r->errmsg, sizeof r->errmsg, GT_OK,
                "application_id is 0x%llx, not gpu-trace's 0x%x",
                (unsigned long long)(uint32_t)app_id, (unsigned)GT_SCHEMA_APPLICATION_ID);
        return GT_EFOREIGN;
    }
    rc = query_int(r->db, "PRAGMA user_version", &version, NULL);
    if (rc != SQLITE_OK)
        return open_fail(r, rc, magic, "cannot read the file ids");
    if (version > GT_SCHEMA_VERSION) {
        gt_errf(r->errmsg, sizeof r->errmsg, GT_OK,
                "trace format version %lld is newer than this gpu-trace reads (%d)",
                (long long)version, GT_SCHEMA_VERSION);
        return GT_ENEWER;
    }
    /* Our writer sets both ids in one transaction, so version 0 (or a
     * negative one) with our application_id is a damaged header. */
    if (version < 1) {
        gt_errf(r->errmsg, sizeof r->errmsg, GT_OK,
                "trace format version is %lld; a gpu-trace file has 1 to %d", (long long)version,
                GT_SCHEMA_VERSION);
        return GT_ECORRUPT;
    }
    r->version = (int)version;
    return GT_OK;
}

static int reader_prepare(struct gt_trace_reader *r, const char *sql, sqlite3_stmt **st, bool magic)
{
    int rc = sqlite3_prepare_v3(r->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);

    return rc == SQLITE_OK ? GT_OK : open_fail(r, rc, magic, "cannot prepare a query");
}

/* Whether table has a column of that name (an error reads as no). */
static bool has_column(struct gt_trace_reader *r, const char *table, const char *column)
{
    sqlite3_stmt *st = NULL;
    bool have = false;

    if (sqlite3_prepare_v2(r->db, "SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2", -1, &st,
                           NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, table, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, column, -1, SQLITE_STATIC);
        have = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    return have;
}

/* Whether the file has the summary index exactly as the writer makes it
 * (schema.h). An index of another make, or one a hostile file calls by that
 * name, is left alone: the table is then read NOT INDEXED. */
static bool has_summary_index(struct gt_trace_reader *r)
{
    sqlite3_stmt *st = NULL;
    bool have = false;

    if (sqlite3_prepare_v2(r->db,
                           "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?1"
                           " AND tbl_name = 'event_batches'",
                           -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, GT_SCHEMA_SUMMARY_INDEX_NAME, -1, SQLITE_STATIC);
        const unsigned char *sql =
            sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_text(st, 0) : NULL;
        have = sql != NULL && strcmp((const char *)sql, GT_SCHEMA_SUMMARY_INDEX) == 0;
    }
    sqlite3_finalize(st);
    return have;
}

/* Format v2's statements over event_batches: with the batch summaries when
 * the file has them (the columns 4..6 of a decoded batch, which batch_load
 * checks against its events). With the summary index, a pass over the
 * summaries alone walks the index, and sel_gist walks it beside the
 * batches a decoding pass reads, so that batch_load holds each batch's
 * entry in the index to its events as well (gist_at). Every other
 * statement reads the table NOT INDEXED, whatever indexes a file brings. */
static int prepare_batches(struct gt_trace_reader *r, bool magic)
{
    r->has_summary = has_column(r, "event_batches", "kinds") &&
                     has_column(r, "event_batches", "device") &&
                     has_column(r, "event_batches", "pid");
    if (!r->has_summary)
        return reader_prepare(r,
                              "SELECT first_seq, n, checksum, data FROM event_batches NOT INDEXED"
                              " WHERE first_seq > ?1 ORDER BY first_seq",
                              &r->sel_events, magic);
    r->summary_index = has_summary_index(r);
    int rc = reader_prepare(r,
                            "SELECT first_seq, n, checksum, data, kinds, device, pid"
                            " FROM event_batches NOT INDEXED WHERE first_seq > ?1"
                            " ORDER BY first_seq",
                            &r->sel_events, magic);
    if (rc == GT_OK)
        rc = reader_prepare(r,
                            r->summary_index
                                ? "SELECT first_seq, n, kinds, device, pid FROM event_batches"
                                  " INDEXED BY " GT_SCHEMA_SUMMARY_INDEX_NAME
                                  " WHERE first_seq > ?1 ORDER BY first_seq"
                                : "SELECT first_seq, n, kinds, device, pid FROM event_batches"
                                  " NOT INDEXED WHERE first_seq > ?1 ORDER BY first_seq",
                            &r->sel_summary, magic);
    if (rc == GT_OK && r->summary_index)
        rc = reader_prepare(r, sqlite3_sql(r->sel_summary), &r->sel_gist, magic);
    if (rc == GT_OK)
        rc = reader_prepare(r,
                            "SELECT first_seq, n, checksum, data, kinds, device, pid"
                            " FROM event_batches NOT INDEXED WHERE first_seq = ?1",
                            &r->sel_batch, magic);
    return rc;
}

/* The checks of the schema and the statements of the reader, run in one
 * read transaction (reader_setup): each query on its own began and ended
 * one, with its locks, the journal's stat and the change counter's read.
 * An open made 224 system calls and now 80, and took 240 instead of 460 us
 * of CPU on the development VM (a 1 000-event trace). A recorder's commit
 * waits for the checks as it waited for any one of them. */
static int reader_check(struct gt_trace_reader *r, bool magic)
{
    int rc;
    if ((rc = check_ids(r, magic)) != GT_OK)
        return rc;
    const struct table_spec *req = r->version == GT_SCHEMA_VERSION_ROWS ? required_v1 : required_v2;
    for (size_t i = 0; i < 3; i++) {
        if ((rc = check_table(r, &req[i], magic)) != GT_OK)
            return rc;
    }
    if (r->version == GT_SCHEMA_VERSION_ROWS) {
        rc = reader_prepare(r,
                            "SELECT seq, ts_ns, pid, tid, device, stream, kind, addr, size,"
                            " requested, result FROM events WHERE seq > ?1 ORDER BY seq",
                            &r->sel_events, magic);
        if (rc == GT_OK)
            rc = reader_prepare(r, "SELECT max(seq) FROM events", &r->sel_count, magic);
    } else {
        rc = prepare_batches(r, magic);
        if (rc == GT_OK)
            rc = reader_prepare(r,
                                "SELECT (SELECT first_seq + n - 1 FROM event_batches"
                                " ORDER BY first_seq DESC LIMIT 1)",
                                &r->sel_count, magic);
        if (rc == GT_OK && (r->cur = malloc(GT_BATCH_EVENTS * sizeof *r->cur)) == NULL)
            rc = GT_ENOMEM;
    }
    if (rc == GT_OK)
        rc = reader_prepare(r, "SELECT value FROM meta WHERE key = ?1", &r->sel_meta, magic);
    if (rc == GT_OK)
        rc = reader_prepare(r, "SELECT name, total_memory FROM devices WHERE device = ?1",
                            &r->sel_device, magic);
    return rc;
}

/* Everything after the file exists: configure, validate, prepare. */
static int reader_setup(struct gt_trace_reader *r, const char *path)
{
    struct stat sb;
    bool magic;
    int rc;

    /* a FIFO or a device would hang or stream: only regular files are read */
    if ((rc = gt_files_check_input(path, r->errmsg, sizeof r->errmsg)) != GT_OK)
        return rc;
    if (stat(path, &sb) != 0) {
        gt_errf(r->errmsg, sizeof r->errmsg, GT_OK, "cannot open: %s", strerror(errno));
        return GT_EIO;
    }
    r->file_bytes = (uint64_t)sb.st_size;
    char journal[PATH_MAX + 16];
    struct stat jb;
    if ((size_t)snprintf(journal, sizeof journal, "%s-journal", path) < sizeof journal &&
        stat(journal, &jb) == 0 && jb.st_size > 0)
        r->hot_journal = true;
    /* The batches are read in file order: a page per system call would be
     * most of the reading on a machine where calls are dear (readahead.c). */
    const char *vfs = NULL;
    gt_readahead_register(&vfs);
    rc = sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, vfs);
    if (rc != SQLITE_OK) {
        if (r->db == NULL)
            return GT_ENOMEM;
        gt_errf(r->errmsg, sizeof r->errmsg, GT_OK, "cannot open: %s", sqlite3_errmsg(r->db));
        return (rc & 0xff) == SQLITE_CANTOPEN && access(path, F_OK) != 0 ? GT_ENOENT : GT_EIO;
    }
    if ((rc = read_header(r, &magic)) != GT_OK)
        return rc;
    if (magic && r->file_bytes < SQLITE_HEADER_LEN) {
        gt_errf(r->errmsg, sizeof r->errmsg, GT_OK,
                "the SQLite header is cut short (%llu of %d bytes)",
                (unsigned long long)r->file_bytes, SQLITE_HEADER_LEN);
        return GT_ECORRUPT;
    }
    if (r->file_bytes == 0) {
        /* SQLite would call an empty file an empty database. */
        gt_errf(r->errmsg, sizeof r->errmsg, GT_OK, "the file is empty");
        return GT_EFOREIGN;
    }
#ifdef SQLITE_DBCONFIG_TRUSTED_SCHEMA
    /* A trace is untrusted input: its schema must not run functions with
     * side effects through views, triggers or defaults. */
    sqlite3_db_config(r->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0, (int *)NULL);
#endif
    /* writable_schema lets SQLite believe the file size over a page count
     * in the header that is larger (a truncated trace): the b-tree walk then
     * delivers every event on the pages that are still there and reports
     * corruption at the first missing one, instead of refusing the file
     * outright. The connection is read-only, so nothing is written. */
    sqlite3_exec(r->db, "PRAGMA writable_schema=ON", NULL, NULL, NULL);
    /* A recorder links its events under an exclusive lock for the few
     * milliseconds of a commit (two syncs): a reader of a trace being
     * recorded waits for it instead of failing with "database is locked". */
    sqlite3_busy_timeout(r->db, READER_BUSY_MS);

    /* a failed BEGIN only costs the transactions it would have saved */
    bool in_txn = sqlite3_exec(r->db, "BEGIN", NULL, NULL, NULL) == SQLITE_OK;
    rc = reader_check(r, magic);
    if (in_txn)
        sqlite3_exec(r->db, "COMMIT", NULL, NULL, NULL);
    return rc;
}

int gt_trace_open(const char *path, struct gt_trace_reader **out, char *errbuf, size_t errlen)
{
    struct gt_trace_reader *r;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (path == NULL || out == NULL) {
        gt_errf(errbuf, errlen, GT_OK, "no path given");
        return GT_EINVAL;
    }
    r = calloc(1, sizeof *r);
    if (r == NULL) {
        gt_errf(errbuf, errlen, GT_OK, "out of memory");
        return GT_ENOMEM;
    }
    rc = reader_setup(r, path);
    if (rc == GT_ECORRUPT && strstr(r->errmsg, "truncated") == NULL) {
        /* A missing table in a cut file is the cut, not a bad writer. */
        char note[96];
        size_t used = strlen(r->errmsg);
        truncation_note(r, note, sizeof note);
        gt_errf(r->errmsg + used, sizeof r->errmsg - used, GT_OK, "%s", note);
    }
    if (rc != GT_OK) {
        gt_errf(errbuf, errlen, GT_OK, "%s", r->errmsg[0] != '\0' ? r->errmsg : "out of memory");
        gt_trace_close(r);
        return rc;
    }
    *out = r;
    return GT_OK;
}

void gt_trace_close(struct gt_trace_reader *r)
{
    if (r == NULL)
        return;
    free(r->cur);
    free(r->view);
    sqlite3_finalize(r->sel_events);
    sqlite3_finalize(r->sel_summary);
    sqlite3_finalize(r->sel_batch);
    sqlite3_finalize(r->sel_gist);
    sqlite3_finalize(r->sel_meta);
    sqlite3_finalize(r->sel_device);
    sqlite3_finalize(r->sel_count);
    sqlite3_finalize(r->blocks.st);
    sqlite3_finalize(r->finals.st);
    sqlite3_finalize(r->pools.st);
    sqlite3_finalize(r->stack.st);
    sqlite3_finalize(r->totals.st);
    sqlite3_close(r->db);
    free(r);
}

const char *gt_trace_errmsg(const struct gt_trace_reader *r)
{
    if (r == NULL)
        return "out of memory";
    return r->errmsg;
}

/* Records a failure of a query on an open reader. */
static int reader_fail(struct gt_trace_reader *r, int rc, const char *what)
{
    char note[96];
    int err = map_sqlite(rc);

    if (err == GT_OK)
        err = GT_ESQL;
    truncation_note(r, note, sizeof note);
    gt_errf(r->errmsg, sizeof r->errmsg, GT_OK, "%s: %s%s", what, sqlite3_errmsg(r->db), note);
    return err;
}

/* reader_fail for an SQLite error src met while reading the events after
 * the last seq read. */
static int read_failed(struct gt_trace_reader *r, int src)
{
    char what[96];
    snprintf(what, sizeof what, "events after seq %lld cannot be read", (long long)r->last_seq);
    return reader_fail(r, src, what);
}

/* GT_ECORRUPT for damage found after the last seq read: what, as the
 * message names it, and a note when the file looks cut. */
static int read_damaged(struct gt_trace_reader *r, const char *what)
{
    char note[96];
    truncation_note(r, note, sizeof note);
    gt_errf(r->errmsg, sizeof r->errmsg, GT_OK, "events after seq %lld cannot be read: %s%s",
            (long long)r->last_seq, what, note);
    return GT_ECORRUPT;
}

/* The summaries a pass may have trusted list a batch at seq that the trace
 * does not hold. */
static int summary_without_batch(struct gt_trace_reader *r, int64_t seq)
{
    char what[96];
    snprintf(what, sizeof what,
             "the summaries list a batch at seq %lld that the trace does not hold", (long long)seq);
    return read_damaged(r, what);
}

/* Copies text into buf; GT_ERANGE (with the truncated text) if it does not
 * fit, so a caller never takes a cut value for the whole one. */
static int copy_text(const unsigned char *text, int bytes, char *buf, size_t len)
{
    size_t n = bytes > 0 ? (size_t)bytes : 0;

    if (len == 0)
        return GT_ERANGE;
    if (text == NULL)
        n = 0;
    if (n >= len) {
        memcpy(buf, text, len - 1);
        buf[len - 1] = '\0';
        return GT_ERANGE;
    }
    if (n > 0)
        memcpy(buf, text, n);
    buf[n] = '\0';
    return GT_OK;
}

int gt_trace_meta(struct gt_trace_reader *r, const char *key, char *buf, size_t len)
{
    sqlite3_stmt *st;
    int rc;

    if (r == NULL || key == NULL || buf == NULL)
        return GT_EINVAL;
    st = r->sel_meta;
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *text = sqlite3_column_text(st, 0);
        rc = copy_text(text, sqlite3_column_bytes(st, 0), buf, len);
    } else if (rc == SQLITE_DONE) {
        gt_errf(r->errmsg, sizeof r->errmsg, GT_OK, "no metadata key '%s'", key);
        rc = GT_ENOENT;
    } else {
        rc = reader_fail(r, rc, "cannot read metadata");
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc;
}

int gt_trace_device(struct gt_trace_reader *r, int32_t device, char *name, size_t len,
                    uint64_t *total_memory)
{
    sqlite3_stmt *st;
    int rc;

    if (r == NULL)
        return GT_EINVAL;
    st = r->sel_device;
    sqlite3_bind_int(st, 1, device);
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        rc = GT_OK;
        if (name != NULL)
            rc = copy_text(sqlite3_column_text(st, 0), sqlite3_column_bytes(st, 0), name, len);
        if (total_memory != NULL)
            *total_memory = u64_from_i64(sqlite3_column_int64(st, 1));
    } else if (rc == SQLITE_DONE) {
        gt_errf(r->errmsg, sizeof r->errmsg, GT_OK, "no device %d in the trace", (int)device);
        rc = GT_ENOENT;
    } else {
        rc = reader_fail(r, rc, "cannot read devices");
    }
    sqlite3_reset(st);
    return rc;
}

int gt_trace_event_count(struct gt_trace_reader *r, int64_t *count)
{
    int rc;

    if (r == NULL || count == NULL)
        return GT_EINVAL;
    rc = sqlite3_step(r->sel_count);
    if (rc == SQLITE_ROW) {
        *count = sqlite3_column_int64(r->sel_count, 0); /* NULL (no rows) reads as 0 */
        rc = GT_OK;
    } else {
        rc = reader_fail(r, rc, "cannot count events");
    }
    sqlite3_reset(r->sel_count);
    return rc;
}

/* ---- reader: optional tables ------------------------------------------ */

static const char *const frame_columns[] = {"frame", "filename", "line", "name", NULL};
static const char *const stack_columns[] = {"stack", "depth", "frame", NULL};
static const char *const event_stack_columns[] = {"seq", "stack", NULL};
static const char *const totals_columns[] = {"seq", "allocated", "reserved", NULL};
static const char *const block_columns[] = {
    "device",       "addr",   "size",       "requested",  "allocated", "segment",
    "segment_size", "stream", "small_pool", "expandable", NULL};

/* The first table of each list decides whether the query has rows at all;
 * the others must then exist too (a stack id without its stacks and frames
 * is damage, not an older file). */
static const struct table_spec stack_tables[] = {
    {"event_stacks", event_stack_columns},
    {"stacks", stack_columns},
    {"frames", frame_columns},
};
static const struct table_spec totals_tables[] = {{"event_totals", totals_columns}};
static const struct table_spec block_tables[] = {{"initial_blocks", block_columns}};
static const struct table_spec final_tables[] = {{"final_blocks", block_columns}};
static const char *const pool_columns[] = {"device",      "segment",  "pool_first",
                                           "pool_second", "released", NULL};
static const struct table_spec pool_tables[] = {{"initial_pools", pool_columns}};

/* Depth is checked against the row count and a frame id with no frames row
 * is reported (the LEFT JOIN keeps it), so a damaged stack is never
 * delivered as a shorter one. (stack, depth) is the primary key of stacks,
 * so the rows come in depth order without a sort. */
#define SQL_STACK                                                                                  \
    "SELECT s.depth, f.filename, f.line, f.name, s.stack, s.frame, f.frame"                        \
    " FROM event_stacks AS e JOIN stacks AS s ON s.stack = e.stack"                                \
    " LEFT JOIN frames AS f ON f.frame = s.frame WHERE e.seq = ?1 ORDER BY s.depth"
#define SQL_TOTALS "SELECT seq, allocated, reserved FROM event_totals ORDER BY seq"
/* Addresses are uint64 stored as int64 (schema.h): "addr < 0" sorts the
 * addresses at or above 2^63 last, which is their unsigned order. */
#define SQL_BLOCKS_FROM(table)                                                                     \
    "SELECT device, addr, size, requested, allocated, segment, segment_size, stream,"              \
    " small_pool, expandable FROM " table " ORDER BY device, addr < 0, addr"

/* Looks the tables of q up once and prepares its statement; q->state says
 * whether it has rows to read. */
static int opt_prepare(struct gt_trace_reader *r, struct opt_query *q,
                       const struct table_spec *tables, size_t ntables, const char *sql)
{
    sqlite3_stmt *st = NULL;
    bool present;
    int rc;

    if (q->state != OPT_UNKNOWN)
        return GT_OK;
    rc = sqlite3_prepare_v2(r->db, "SELECT 1 FROM sqlite_master WHERE name = ?1", -1, &st, NULL);
    if (rc == SQLITE_OK) {
        sqlite3_bind_text(st, 1, tables[0].name, -1, SQLITE_STATIC);
        rc = sqlite3_step(st);
    }
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW && rc != SQLITE_DONE)
        return reader_fail(r, rc, "cannot read the schema");
    present = rc == SQLITE_ROW;
    if (!present) {
        q->state = OPT_ABSENT;
        return GT_OK;
    }
    /* Present, though perhaps as a view or without a column: check_table
     * names what is wrong, as open does for the required tables. */
    for (size_t i = 0; i < ntables; i++) {
        if ((rc = check_table(r, &tables[i], true)) != GT_OK)
            return rc;
    }
    /* An empty table is as good as absent, and answering so without a query
     * matters: a command asks for the stack of every event, and each query
     * costs SQLite a file lock and unlock (6 us an event on a trace without
     * stacks). The importers fill these tables before a trace is closed;
     * the recorder writes none of them. */
    char probe[160];
    snprintf(probe, sizeof probe, "SELECT EXISTS(SELECT 1 FROM \"%s\")", tables[0].name);
    rc = sqlite3_prepare_v2(r->db, probe, -1, &st, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    present = rc == SQLITE_ROW && sqlite3_column_int(st, 0) != 0;
    sqlite3_finalize(st);
    if (rc != SQLITE_ROW)
        return reader_fail(r, rc, "cannot read an optional table");
    if (!present) {
        q->state = OPT_ABSENT;
        return GT_OK;
    }
    if ((rc = reader_prepare(r, sql, &q->st, true)) != GT_OK)
        return rc;
    q->state = OPT_READY;
    return GT_OK;
}

/* Starts a query on optional tables: GT_OK with *run false when the file
 * has none of its rows. */
static int opt_begin(struct gt_trace_reader *r, struct opt_query *q,
                     const struct table_spec *tables, size_t ntables, const char *sql, bool *run)
{
    int rc;

    *run = false;
    if (q->busy) {
        gt_errf(r->errmsg, sizeof r->errmsg, GT_OK,
                "a query on '%s' was started from its own callback", tables[0].name);
        return GT_EINVAL;
    }
    if ((rc = opt_prepare(r, q, tables, ntables, sql)) != GT_OK)
        return rc;
    *run = q->state == OPT_READY;
    q->busy = *run;
    return GT_OK;
}

/* Ends a query started by opt_begin. src is the last sqlite3_step result; rc
 * what the loop decided so far. */
static int opt_end(struct gt_trace_reader *r, struct opt_query *q, int src, int rc,
                   const char *what)
{
    if (rc == GT_OK && src != SQLITE_ROW && src != SQLITE_DONE)
        rc = reader_fail(r, src, what);
    sqlite3_reset(q->st);
    sqlite3_clear_bindings(q->st);
    q->busy = false;
    return rc;
}

/* Text of column i as a C string: "" for NULL (NOT NULL columns of a file
 * SQLite did not check), NULL only when SQLite ran out of memory. */
static const char *column_str(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);

    if (t == NULL)
        return sqlite3_column_type(st, i) == SQLITE_NULL ? "" : NULL;
    return (const char *)t;
}

/* Reads initial_blocks or final_blocks (same columns) in (device, addr) order. */
static int read_blocks(struct gt_trace_reader *r, struct opt_query *q,
                       const struct table_spec *table, const char *sql,
                       int (*fn)(void *ctx, const struct gt_initial_block *b), void *ctx)
{
    bool run;
    int rc, src = SQLITE_DONE;

    rc = opt_begin(r, q, table, 1, sql, &run);
    if (rc != GT_OK || !run)
        return rc;
    while (rc == GT_OK && (src = sqlite3_step(q->st)) == SQLITE_ROW) {
        struct gt_initial_block b = {0};

        b.device = (int32_t)sqlite3_column_int64(q->st, 0);
        b.addr = u64_from_i64(sqlite3_column_int64(q->st, 1));
        b.size = u64_from_i64(sqlite3_column_int64(q->st, 2));
        b.requested = u64_from_i64(sqlite3_column_int64(q->st, 3));
        b.allocated = sqlite3_column_int64(q->st, 4) != 0;
        b.pending = sqlite3_column_int64(q->st, 4) == 2;
        b.segment = u64_from_i64(sqlite3_column_int64(q->st, 5));
        b.segment_size = u64_from_i64(sqlite3_column_int64(q->st, 6));
        b.stream = u64_from_i64(sqlite3_column_int64(q->st, 7));
        b.small_pool = sqlite3_column_int64(q->st, 8) != 0;
        b.expandable = sqlite3_column_int64(q->st, 9) != 0;
        rc = fn(ctx, &b);
    }
    return opt_end(r, q, src, rc, "cannot read a table of blocks");
}

int gt_trace_initial_blocks(struct gt_trace_reader *r,
                            int (*fn)(void *ctx, const struct gt_initial_block *b), void *ctx)
{
    if (r == NULL || fn == NULL)
        return GT_EINVAL;
    return read_blocks(r, &r->blocks, block_tables, SQL_BLOCKS_FROM("initial_blocks"), fn, ctx);
}

int gt_trace_final_blocks(struct gt_trace_reader *r,
                          int (*fn)(void *ctx, const struct gt_initial_block *b), void *ctx)
{
    if (r == NULL || fn == NULL)
        return GT_EINVAL;
    return read_blocks(r, &r->finals, final_tables, SQL_BLOCKS_FROM("final_blocks"), fn, ctx);
}

int gt_trace_initial_pools(struct gt_trace_reader *r,
                           int (*fn)(void *ctx, const struct gt_initial_pool *p), void *ctx)
{
    bool run;
    int rc, src = SQLITE_DONE;

    if (r == NULL || fn == NULL)
        return GT_EINVAL;
    rc = opt_begin(r, &r->pools, pool_tables, 1,
                   "SELECT device, segment, pool_first, pool_second, released FROM initial_pools"
                   " ORDER BY device, segment < 0, segment",
                   &run);
    if (rc != GT_OK || !run)
        return rc;
    while (rc == GT_OK && (src = sqlite3_step(r->pools.st)) == SQLITE_ROW) {
        struct gt_initial_pool p = {0};

        p.device = (int32_t)sqlite3_column_int64(r->pools.st, 0);
        p.segment = u64_from_i64(sqlite3_column_int64(r->pools.st, 1));
        p.pool_first = sqlite3_column_int64(r->pools.st, 2);
        p.pool_second = sqlite3_column_int64(r->pools.st, 3);
        p.released = sqlite3_column_int64(r->pools.st, 4) != 0;
        rc = fn(ctx, &p);
    }
    return opt_end(r, &r->pools, src, rc, "cannot read table 'initial_pools'");
}

int gt_trace_stack(struct gt_trace_reader *r, int64_t seq,
                   int (*fn)(void *ctx, size_t depth, const struct gt_frame *f), void *ctx)
{
    struct opt_query *q;
    size_t depth = 0;
    char what[96];
    bool run;
    int rc, src = SQLITE_DONE;

    if (r == NULL || fn == NULL)
        return GT_EINVAL;
    q = &r->stack;
    rc = opt_begin(r, q, stack_tables, sizeof stack_tables / sizeof stack_tables[0], SQL_STACK,
                   &run);
    if (rc != GT_OK || !run)
        return rc;
    sqlite3_bind_int64(q->st, 1, seq);
    while (rc == GT_OK && (src = sqlite3_step(q->st)) == SQLITE_ROW) {
        struct gt_frame f;

        /* The type first: fetching a value may convert it. */
        if (sqlite3_column_type(q->st, 0) != SQLITE_INTEGER ||
            sqlite3_column_int64(q->st, 0) != (int64_t)depth) {
            gt_errf(r->errmsg, sizeof r->errmsg, GT_OK,
                    "the stack of event %lld has no frame at depth %zu (stack %lld)",
                    (long long)seq, depth, (long long)sqlite3_column_int64(q->st, 4));
            rc = GT_ECORRUPT;
            break;
        }
        if (sqlite3_column_type(q->st, 6) == SQLITE_NULL) {
            gt_errf(r->errmsg, sizeof r->errmsg, GT_OK,
                    "stack %lld refers to frame %lld, which is not in table 'frames'",
                    (long long)sqlite3_column_int64(q->st, 4),
                    (long long)sqlite3_column_int64(q->st, 5));
            rc = GT_ECORRUPT;
            break;
        }
        f.filename = column_str(q->st, 1);
        f.line = sqlite3_column_int64(q->st, 2);
        f.name = column_str(q->st, 3);
        if (f.filename == NULL || f.name == NULL) {
            gt_errf(r->errmsg, sizeof r->errmsg, GT_OK, "out of memory");
            rc = GT_ENOMEM;
            break;
        }
        rc = fn(ctx, depth++, &f);
    }
    snprintf(what, sizeof what, "cannot read the stack of event %lld", (long long)seq);
    return opt_end(r, q, src, rc, what);
}

int gt_trace_totals(struct gt_trace_reader *r,
                    int (*fn)(void *ctx, int64_t seq, int64_t allocated, int64_t reserved),
                    void *ctx)
{
    struct opt_query *q;
    bool run;
    int rc, src = SQLITE_DONE;

    if (r == NULL || fn == NULL)
        return GT_EINVAL;
    q = &r->totals;
    rc = opt_begin(r, q, totals_tables, sizeof totals_tables / sizeof totals_tables[0], SQL_TOTALS,
                   &run);
    if (rc != GT_OK || !run)
        return rc;
    while (rc == GT_OK && (src = sqlite3_step(q->st)) == SQLITE_ROW)
        rc = fn(ctx, sqlite3_column_int64(q->st, 0), sqlite3_column_int64(q->st, 1),
                sqlite3_column_int64(q->st, 2));
    return opt_end(r, q, src, rc, "cannot read table 'event_totals'");
}

static int keep_totals(void *ctx, int64_t seq, int64_t allocated, int64_t reserved)
{
    struct gt_totals *t = ctx;

    if (t->n == t->cap) {
        size_t cap = t->cap != 0 ? t->cap * 2 : 1024;
        int64_t *s = realloc(t->seq, cap * sizeof *s);
        if (s == NULL)
            return GT_ENOMEM;
        t->seq = s;
        int64_t *a = realloc(t->allocated, cap * sizeof *a);
        if (a == NULL)
            return GT_ENOMEM;
        t->allocated = a;
        int64_t *v = realloc(t->reserved, cap * sizeof *v);
        if (v == NULL)
            return GT_ENOMEM;
        t->reserved = v;
        t->cap = cap;
    }
    t->seq[t->n] = seq;
    t->allocated[t->n] = allocated;
    t->reserved[t->n++] = reserved;
    return GT_OK;
}

int gt_trace_totals_load(struct gt_trace_reader *r, struct gt_totals *t)
{
    memset(t, 0, sizeof *t);
    return gt_trace_totals(r, keep_totals, t);
}

bool gt_totals_find(const struct gt_totals *t, int64_t seq, int64_t *allocated, int64_t *reserved)
{
    size_t l = 0, h = t->n;

    while (l < h) {
        size_t m = l + (h - l) / 2;
        if (t->seq[m] < seq)
            l = m + 1;
        else
            h = m;
    }
    if (l == t->n || t->seq[l] != seq)
        return false;
    *allocated = t->allocated[l];
    *reserved = t->reserved[l];
    return true;
}

void gt_totals_release(struct gt_totals *t)
{
    free(t->seq);
    free(t->allocated);
    free(t->reserved);
    memset(t, 0, sizeof *t);
}

/* ---- reader: events ------------------------------------------------- */

/* Format v1: one row per event. */
static int sql_read(struct gt_trace_reader *r, struct gt_event *buf, size_t cap, size_t *got)
{
    sqlite3_stmt *st = r->sel_events;
    int rc = GT_OK;

    sqlite3_bind_int64(st, 1, r->last_seq);
    while (*got < cap) {
        int src = sqlite3_step(st);

        if (src == SQLITE_ROW) {
            int64_t kind = sqlite3_column_int64(st, 6);
            struct gt_event *ev = &buf[*got];
            int64_t seq = sqlite3_column_int64(st, 0);

            /* The query asks for seq > last_seq in order: a row that is not
             * comes from a damaged b-tree, and taking it would restart the
             * walk behind itself for ever. */
            if (seq <= r->last_seq) {
                char what[96];
                snprintf(what, sizeof what,
                         "seq %lld comes out of order (the events table is damaged)",
                         (long long)seq);
                rc = read_damaged(r, what);
                break;
            }
            r->last_seq = seq;
            if (kind < 1 || kind > GT_EV_KIND_MAX) {
                r->skipped++;
                continue;
            }
            ev->seq = r->last_seq;
            ev->ts_ns = sqlite3_column_int64(st, 1);
            ev->pid = sqlite3_column_int64(st, 2);
            ev->tid = sqlite3_column_int64(st, 3);
            ev->device = (int32_t)sqlite3_column_int64(st, 4);
            ev->stream = u64_from_i64(sqlite3_column_int64(st, 5));
            ev->kind = (int32_t)kind;
            ev->addr = u64_from_i64(sqlite3_column_int64(st, 7));
            ev->size = u64_from_i64(sqlite3_column_int64(st, 8));
            ev->requested = u64_from_i64(sqlite3_column_int64(st, 9));
            ev->result = (int32_t)sqlite3_column_int64(st, 10);
            gt_event_skip_fields(ev, r->skip);
            (*got)++;
        } else {
            if (src != SQLITE_DONE)
                rc = read_failed(r, src);
            break;
        }
    }
    sqlite3_reset(st);
    return rc;
}

/* Format v2: passes the events of the current batch, unknown kinds skipped
 * and counted. */
static void batch_pass(struct gt_trace_reader *r, struct gt_event *buf, size_t cap, size_t *got)
{
    while (r->cur_pos < r->cur_n && *got < cap) {
        const struct gt_event *ev = &r->cur[r->cur_pos++];
        r->last_seq = ev->seq;
        if (ev->kind < 1 || ev->kind > GT_EV_KIND_MAX)
            r->skipped++;
        else
            buf[(*got)++] = *ev;
    }
}

/* The summary columns of a batch (col: kinds, then device and pid); false
 * when one has the wrong type. */
static bool summary_of_row(sqlite3_stmt *st, int col, struct gt_trace_batch_summary *s)
{
    if (sqlite3_column_type(st, col) != SQLITE_INTEGER)
        return false;
    s->kinds = u64_from_i64(sqlite3_column_int64(st, col));
    int dt = sqlite3_column_type(st, col + 1), pt = sqlite3_column_type(st, col + 2);
    if ((dt != SQLITE_INTEGER && dt != SQLITE_NULL) || (pt != SQLITE_INTEGER && pt != SQLITE_NULL))
        return false;
    s->one_device = dt == SQLITE_INTEGER;
    s->device = s->one_device ? sqlite3_column_int64(st, col + 1) : 0;
    s->one_pid = pt == SQLITE_INTEGER;
    s->pid = s->one_pid ? sqlite3_column_int64(st, col + 2) : 0;
    return true;
}

/* Whether the stored summary (columns col..col+2 of st) tells the truth
 * about the events just decoded, whose summary is got: a pass may have
 * trusted it instead of decoding them (gt_trace_summarize). A pid the decode
 * stepped over is not compared. A NULL kinds is a batch without a summary
 * (a tool that rewrote the table may leave it so), read whole like a file
 * without the columns. */
static bool summary_holds(const struct gt_trace_reader *r, sqlite3_stmt *st, int col,
                          struct gt_trace_batch_summary got)
{
    struct gt_trace_batch_summary want = {0};
    if (sqlite3_column_type(st, col) == SQLITE_NULL)
        return true; /* no summary: never offered, nothing to hold */
    if (!summary_of_row(st, col, &want))
        return false;
    if (r->skip & GT_TRACE_SKIP_PID) {
        got.one_pid = want.one_pid;
        got.pid = want.pid;
    }
    return got.kinds == want.kinds && got.one_device == want.one_device &&
           (!got.one_device || got.device == want.device) && got.one_pid == want.one_pid &&
           (!got.one_pid || got.pid == want.pid);
}

/* The bits of gt_trace_kind_bits that known kinds set: kinds 1 to
 * GT_EV_KIND_MAX, and a failed call's. */
#define KINDS_KNOWN (((uint64_t)1 << (GT_EV_KIND_MAX + 1)) - 1)
_Static_assert(GT_TRACE_KINDS_FAILED == 1, "the failed bit is bit 0, inside KINDS_KNOWN");

/* What is wrong with the batch at first of n events, whose events have the
 * summary got, by its entry in the summary index that gist stands on (NULL:
 * the index has no entry there); NULL when nothing is. */
static const char *gist_fault(const struct gt_trace_reader *r, sqlite3_stmt *gist, int64_t first,
                              int64_t n, struct gt_trace_batch_summary got)
{
    if (gist == NULL || sqlite3_column_type(gist, 0) != SQLITE_INTEGER ||
        sqlite3_column_int64(gist, 0) != first)
        return "the summary index has no entry for it";
    if (sqlite3_column_type(gist, 1) != SQLITE_INTEGER || sqlite3_column_int64(gist, 1) != n ||
        !summary_holds(r, gist, 2, got))
        return "its entry in the summary index does not match its events";
    return NULL;
}

/* Decodes the batch the statement stands on into cur. gist, with the
 * summary index, stands on the index's entry for the same batch (or is
 * NULL where the index ended): a pass over the summaries trusted that
 * entry, so it must hold as the row's own summary must. */
static int batch_load(struct gt_trace_reader *r, sqlite3_stmt *st, sqlite3_stmt *gist)
{
    int64_t first = sqlite3_column_int64(st, 0), n = sqlite3_column_int64(st, 1);
    uint64_t sum = u64_from_i64(sqlite3_column_int64(st, 2));
    const unsigned char *data = sqlite3_column_blob(st, 3);
    int len = sqlite3_column_bytes(st, 3);
    const char *why = "";
    struct gt_trace_batch_summary got;

    int bad = sqlite3_column_type(st, 3) != SQLITE_BLOB || first != r->last_seq + 1 ||
              gt_batch_decode_skip(first, n, sum, data, (size_t)len, r->cur, &why, r->skip,
                                   r->has_summary ? &got : NULL) != GT_OK;
    if (!bad && r->has_summary && !summary_holds(r, st, 4, got)) {
        bad = 1;
        why = "its summary does not match its events";
    }
    if (!bad && r->summary_index && (why = gist_fault(r, gist, first, n, got)) != NULL)
        bad = 1;
    if (bad) {
        char what[160];
        snprintf(what, sizeof what, "the batch at seq %lld is damaged (%s)", (long long)first,
                 first <= r->last_seq      ? "it overlaps the batch before it"
                 : first > r->last_seq + 1 ? "the events before it are missing"
                 : why[0]                  ? why
                                           : "its data is not a BLOB");
        return read_damaged(r, what);
    }
    r->last_batch = first;
    r->cur_n = (size_t)n;
    r->cur_pos = 0;
    r->cur_known = r->has_summary && (got.kinds & ~KINDS_KNOWN) == 0;
    return GT_OK;
}

/* At the end of the batches, still in the read transaction that saw them:
 * every seq up to meta.event_count must have come (a trace the writer did
 * not count, or v2 written before the count, has no such row). */
static int batch_end(struct gt_trace_reader *r)
{
    char text[32], note[96];
    uint64_t expected;

    if (gt_trace_meta(r, "event_count", text, sizeof text) != GT_OK ||
        gt_units_parse_u64(text, INT64_MAX, &expected) != GT_OK || (int64_t)expected <= r->last_seq)
        return GT_OK;
    truncation_note(r, note, sizeof note);
    gt_errf(r->errmsg, sizeof r->errmsg, GT_OK,
            "events after seq %lld are missing: the trace holds %lld events%s",
            (long long)r->last_seq, (long long)expected, note);
    return GT_ECORRUPT;
}

/* Ends sel_gist's walk of the summary index, with the walk of the batches
 * beside it, so that its read transaction ends with theirs. */
static void gist_stop(struct gt_trace_reader *r)
{
    if (r->gist_on) {
        sqlite3_reset(r->sel_gist);
        r->gist_on = false;
    }
}

/* The statement standing on the summary index's entry for the batch at
 * first, the next the walk of the batches read (NULL without the index,
 * or where it has no more entries); GT_OK or SQLite's error. sel_gist
 * starts at first and then steps once a batch, as the batches' statement
 * does. */
static int gist_at(struct gt_trace_reader *r, int64_t first, sqlite3_stmt **gist)
{
    *gist = NULL;
    if (!r->summary_index)
        return GT_OK;
    if (!r->gist_on) {
        sqlite3_bind_int64(r->sel_gist, 1, first - 1);
        r->gist_on = true;
    }
    int src = sqlite3_step(r->sel_gist);
    if (src == SQLITE_ROW)
        *gist = r->sel_gist;
    return src == SQLITE_ROW || src == SQLITE_DONE ? GT_OK : read_failed(r, src);
}

/* The gist of the batch st stands on, then the batch into cur. */
static int batch_load_walked(struct gt_trace_reader *r, sqlite3_stmt *st)
{
    sqlite3_stmt *gist;
    int rc = gist_at(r, sqlite3_column_int64(st, 0), &gist);
    return rc != GT_OK ? rc : batch_load(r, st, gist);
}

/* Ends a walk of gt_trace_read_view's, so that sel_events can be bound
 * again (the rest of the walk's batch is still in cur). */
static void walk_stop(struct gt_trace_reader *r)
{
    if (r->walking) {
        sqlite3_reset(r->walk_st);
        r->walking = false;
    }
    gist_stop(r);
}

/* Starts a walk of st after last_batch, unless one goes on. */
static void walk_step(struct gt_trace_reader *r, sqlite3_stmt *st)
{
    if (!r->walking) {
        sqlite3_bind_int64(st, 1, r->last_batch);
        r->walking = true;
        r->walk_st = st;
        r->walk_cost = 0;
    }
}

/* Counts a batch the walk decoded (decoded) or a summary it passed over,
 * and says whether the walk has done its share (WALK_BATCHES). */
static bool walk_full(struct gt_trace_reader *r, bool decoded)
{
    r->walk_cost += decoded ? WALK_SUMMARY_SHARE : 1;
    return r->walk_cost >= WALK_BATCHES * WALK_SUMMARY_SHARE;
}

/* At the end of the batches a decoding pass read, in their read
 * transaction: the summary index must end there too, or a pass over the
 * summaries would have counted events that no batch holds. */
static int gist_end(struct gt_trace_reader *r)
{
    if (!r->summary_index)
        return GT_OK;
    gist_stop(r);
    sqlite3_bind_int64(r->sel_gist, 1, r->last_batch);
    int src = sqlite3_step(r->sel_gist);
    int64_t extra = sqlite3_column_int64(r->sel_gist, 0);
    sqlite3_reset(r->sel_gist);
    if (src == SQLITE_DONE)
        return GT_OK;
    return src == SQLITE_ROW ? summary_without_batch(r, extra) : read_failed(r, src);
}

/* The verdict on a step over the batches (of_batches; else over their
 * summaries) that gave no row: the end of the batches (batch_end, and
 * gist_end after the batches themselves), or SQLite's error after the last
 * seq read. */
static int walk_ended(struct gt_trace_reader *r, int src, bool of_batches)
{
    if (src != SQLITE_DONE)
        return read_failed(r, src);
    int rc = batch_end(r);
    return rc == GT_OK && of_batches ? gist_end(r) : rc;
}

static int batch_read(struct gt_trace_reader *r, struct gt_event *buf, size_t cap, size_t *got)
{
    sqlite3_stmt *st = r->sel_events;
    int rc = GT_OK;

    walk_stop(r);
    batch_pass(r, buf, cap, got);
    if (*got == cap)
        return GT_OK;
    sqlite3_bind_int64(st, 1, r->last_batch);
    while (*got < cap) {
        int src = sqlite3_step(st);
        if (src != SQLITE_ROW) {
            rc = walk_ended(r, src, true);
            break;
        }
        if ((rc = batch_load_walked(r, st)) != GT_OK)
            break;
        batch_pass(r, buf, cap, got);
    }
    sqlite3_reset(st);
    gist_stop(r);
    return rc;
}

/* The summary sel_summary stands on, when it may be offered to the filter:
 * well formed, the next batch in order, and without kinds this reader does
 * not know (whose events must be counted as skipped). Any other batch is
 * decoded, and batch_load reports what is wrong with it. */
static bool summary_offered(const struct gt_trace_reader *r, sqlite3_stmt *st,
                            struct gt_trace_batch_summary *s)
{
    const uint64_t known = ((uint64_t)2 << GT_EV_KIND_MAX) - 1; /* bits 0..KIND_MAX */
    memset(s, 0, sizeof *s);
    s->first_seq = sqlite3_column_int64(st, 0);
    s->n = sqlite3_column_int64(st, 1);
    return sqlite3_column_type(st, 0) == SQLITE_INTEGER &&
           sqlite3_column_type(st, 1) == SQLITE_INTEGER && s->first_seq == r->last_seq + 1 &&
           s->n >= 1 && s->n <= GT_BATCH_EVENTS && summary_of_row(st, 2, s) &&
           (s->kinds & ~known) == 0;
}

/* Decodes the batch at first_seq into cur (sel_batch, in the read
 * transaction of the summaries' walk). */
static int batch_fetch(struct gt_trace_reader *r, int64_t first_seq)
{
    sqlite3_stmt *st = r->sel_batch;
    sqlite3_bind_int64(st, 1, first_seq);
    int src = sqlite3_step(st), rc;
    if (src == SQLITE_ROW) { /* its entry in the index is the summary the walk stands on */
        rc = batch_load(r, st, r->summary_index ? r->sel_summary : NULL);
    } else if (src == SQLITE_DONE) { /* its summary was just read: damage */
        rc = summary_without_batch(r, first_seq);
    } else {
        rc = read_failed(r, src);
    }
    sqlite3_reset(st);
    return rc;
}

/* batch_next under a summary filter: walks the summaries, passes over the
 * batches the filter is content with, and decodes the next one it is not. */
static int batch_next_summarized(struct gt_trace_reader *r)
{
    sqlite3_stmt *st = r->sel_summary;
    int rc;

    for (;;) {
        walk_step(r, st);
        int src = sqlite3_step(st);
        if (src != SQLITE_ROW) {
            rc = walk_ended(r, src, false);
            break;
        }
        struct gt_trace_batch_summary s;
        if (summary_offered(r, st, &s) && r->filter(r->filter_ctx, &s)) {
            r->last_seq = s.first_seq + s.n - 1;
            r->last_batch = s.first_seq;
            r->cur_n = r->cur_pos = 0;
            if (walk_full(r, false))
                walk_stop(r); /* and on from last_batch in a new read transaction */
            continue;
        }
        if ((rc = batch_fetch(r, sqlite3_column_int64(st, 0))) == GT_OK) {
            if (walk_full(r, true))
                walk_stop(r);
            return GT_OK;
        }
        break;
    }
    walk_stop(r);
    return rc;
}

/* Format v2: steps to the batch after the current one and decodes it into
 * cur; at the end, cur stays passed and batch_end's verdict is returned.
 * The statement is reset only every WALK_BATCHES batches: a reset per
 * batch (1024 events) ended the read transaction each time, and taking
 * SQLite's locks and checking the file again cost more time than the view
 * saved (gpu-trace analyze, one config, 10 M events: 0.95 s against 0.91 s). */
static int batch_next(struct gt_trace_reader *r)
{
    if (r->filter != NULL && r->has_summary)
        return batch_next_summarized(r);
    sqlite3_stmt *st = r->sel_events;
    int rc;

    walk_step(r, st);
    int src = sqlite3_step(st);
    if (src == SQLITE_ROW) {
        rc = batch_load_walked(r, st);
        if (rc == GT_OK) {
            if (walk_full(r, true))
                walk_stop(r); /* the batch is decoded into cur: the row is not needed */
            return GT_OK;
        }
    } else {
        rc = walk_ended(r, src, true);
    }
    walk_stop(r);
    return rc;
}

static bool kind_known(int32_t kind)
{
    return kind >= 1 && kind <= GT_EV_KIND_MAX;
}

int gt_trace_read_view(struct gt_trace_reader *r, const struct gt_event **evs, size_t *n)
{
    if (evs != NULL)
        *evs = NULL;
    if (n != NULL)
        *n = 0;
    if (r == NULL || evs == NULL || n == NULL)
        return GT_EINVAL;
    if (r->err != GT_OK)
        return r->err;
    if (r->version == GT_SCHEMA_VERSION_ROWS) {
        /* v1 decodes row by row anyway: a buffer of the reader's own */
        if (r->view == NULL && (r->view = malloc(GT_BATCH_EVENTS * sizeof *r->view)) == NULL)
            return GT_ENOMEM;
        *evs = r->view;
        return gt_trace_read(r, r->view, GT_BATCH_EVENTS, n);
    }
    for (;;) {
        while (r->cur_pos < r->cur_n && !kind_known(r->cur[r->cur_pos].kind)) {
            r->last_seq = r->cur[r->cur_pos++].seq;
            r->skipped++;
        }
        if (r->cur_pos < r->cur_n)
            break;
        int rc = batch_next(r);
        if (rc != GT_OK) {
            r->err = rc;
            return rc;
        }
        if (r->cur_pos == r->cur_n)
            return GT_OK; /* the end */
    }
    size_t start = r->cur_pos;
    if (r->cur_known)
        r->cur_pos = r->cur_n;
    while (r->cur_pos < r->cur_n && kind_known(r->cur[r->cur_pos].kind))
        r->cur_pos++;
    r->last_seq = r->cur[r->cur_pos - 1].seq;
    *evs = &r->cur[start];
    *n = r->cur_pos - start;
    return GT_OK;
}

void gt_trace_skip_fields(struct gt_trace_reader *r, unsigned skip)
{
    if (r != NULL)
        r->skip = skip;
}

void gt_trace_summarize(struct gt_trace_reader *r,
                        bool (*fn)(void *ctx, const struct gt_trace_batch_summary *s), void *ctx)
{
    if (r == NULL)
        return;
    walk_stop(r); /* the next batch comes from the other statement, after last_batch */
    r->filter = fn;
    r->filter_ctx = ctx;
}

bool gt_trace_has_summaries(const struct gt_trace_reader *r)
{
    return r != NULL && r->has_summary;
}

int gt_trace_read(struct gt_trace_reader *r, struct gt_event *buf, size_t cap, size_t *n)
{
    size_t got = 0;
    int rc;

    if (n != NULL)
        *n = 0;
    if (r == NULL || n == NULL || (buf == NULL && cap > 0))
        return GT_EINVAL;
    /* An error found while filling the previous buffer is reported now, so
     * the events before it were delivered with GT_OK. */
    if (r->err != GT_OK)
        return r->err;
    rc = r->version == GT_SCHEMA_VERSION_ROWS ? sql_read(r, buf, cap, &got)
                                              : batch_read(r, buf, cap, &got);
    if (rc != GT_OK) {
        r->err = rc;
        if (got == 0)
            return rc;
    }
    *n = got;
    return GT_OK;
}

int gt_trace_version(const struct gt_trace_reader *r)
{
    return r != NULL ? r->version : 0;
}

int64_t gt_trace_skipped(const struct gt_trace_reader *r)
{
    return r != NULL ? r->skipped : 0;
}

int gt_trace_rewind(struct gt_trace_reader *r)
{
    if (r == NULL)
        return GT_EINVAL;
    walk_stop(r);
    r->last_seq = 0;
    r->skipped = 0;
    r->err = GT_OK;
    r->cur_n = r->cur_pos = 0;
    r->last_batch = 0;
    return GT_OK;
}
