/* The trace store (trace.h): writes and reads format v1 (schema.h).
 *
 * Writer: the file is created with O_EXCL and mode 0600 before SQLite sees
 * it, so a trace is never overwritten and never readable by others. The ids
 * (application_id, user_version), the schema and the kinds table go in one
 * transaction, so a file with our application_id always has the schema. Events
 * do not go through SQL: btappend.c packs them into the pages of the events
 * table and links the pages in at each commit (every BATCH_EVENTS and on
 * gt_trace_commit), under SQLite's lock and with a journal in SQLite's
 * format, which took the writer from about 0.7 M to several M events/s. The
 * other tables are written with SQL and committed just before the events,
 * so an event is never visible without the rows attached to it.
 *
 * Reader: the file is opened read-only and validated before any event is
 * read (ids first, then every table and column the reader queries). Events
 * come from one statement that stays open and steps across gt_trace_read
 * calls; seq is the rowid, so this is a plain walk of the table's b-tree with
 * no index and no sort. Files come from users and crashed recorders, so every
 * SQLite failure is mapped to a GT_E* code with a detail message, and a
 * truncated file still yields the events that lie before the damage. */
#include "gputrace/trace.h"
#include "btappend_int.h"
#include "gputrace/err.h"
#include "gputrace/schema.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
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
#define MAX_DEPTH 20 /* SQLite's own limit on b-tree depth (BTCURSOR_MAX_DEPTH) */
#define EV_FIELDS 11 /* columns of events, in the order of event_columns[] */
#define READER_BUSY_MS 10000
#define WRITER_BUSY_MS 30000

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
 * writer keeps one batch open at all times); pending counts the events added
 * to `events` since its last commit; next_seq is one past the last seq
 * written. fd is the trace opened once more for `events`, kept open until
 * after sqlite3_close (closing any descriptor of a file drops the process's
 * POSIX locks on it, SQLite's included). err is the first error and
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
    int fd;
    struct gt_btappend *events;
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

/* One page on the path from the root of the events b-tree to the current
 * leaf. next is the next cell of a leaf to deliver, or the next child of an
 * interior page to descend into (ncells stands for the right-most child). */
struct level {
    unsigned char *page;
    uint32_t pgno;
    unsigned ncells;
    unsigned next;
    bool leaf;
};

/* The fast path reads the table b-tree of events straight from the file (see
 * read_fast). It is used only for the layout the v1 writer produces: a rowid
 * table, no hidden columns, a rollback journal (with WAL the newest pages
 * would be in the -wal file). col[] maps each event field to its position in
 * the stored record. */
struct fast_path {
    int fd;
    uint32_t page_size;
    uint32_t usable; /* page_size minus the bytes reserved at the end of each page */
    uint32_t root;
    uint32_t npages; /* as SQLite sees the file in the current read transaction */
    int col[EV_FIELDS];
    int max_col;
    struct level lv[MAX_DEPTH];
    int depth; /* levels in use; lv[depth - 1] is a leaf after a seek */
    sqlite3_stmt *begin, *page_count, *commit;
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
 * row passed (delivered or skipped), and releases its read lock before it
 * returns, so a reader never blocks a recorder for longer than one call. err
 * holds a read error that is reported on the call after the one that
 * delivered the events before it; it stays until gt_trace_rewind. */
struct gt_trace_reader {
    sqlite3 *db;
    sqlite3_stmt *sel_events;
    sqlite3_stmt *sel_meta;
    sqlite3_stmt *sel_device;
    sqlite3_stmt *sel_count;
    struct opt_query blocks, finals, stack, totals;
    int64_t last_seq;
    int64_t skipped;
    int err;
    bool use_fast;
    struct fast_path fast;
    uint64_t file_bytes;    /* size of the file at open */
    uint64_t header_bytes;  /* page_size * page count from the SQLite header, 0 if unknown */
    const char *looks_like; /* for a foreign file: what its first bytes suggest, or "" */
    unsigned char header[SQLITE_HEADER_LEN];
    bool have_header;
    char errmsg[ERRMSG_LEN];
};

static void set_msg(char *buf, size_t len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_msg(char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;

    if (buf == NULL || len == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

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
        set_msg(w->errmsg, sizeof w->errmsg, "%s: %s", what, sqlite3_errmsg(w->db));
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

/* Links the events added since the last commit; the caller holds the
 * EXCLUSIVE lock. */
static int writer_link_events(struct gt_trace_writer *w)
{
    int rc = gt_btappend_commit(w->events);

    if (rc != GT_OK && w->err == GT_OK) {
        w->err = rc;
        set_msg(w->errmsg, sizeof w->errmsg, "%s", gt_btappend_errmsg(w->events));
    }
    return rc;
}

/* Commits the SQL tables, then links the events added since the last
 * commit into `events` while SQLite holds the database's EXCLUSIVE lock for
 * us (btappend_int.h): readers wait, and the rows attached to an event are
 * committed before the event shows. reopen: begin the next batch. */
static int writer_commit(struct gt_trace_writer *w, bool reopen)
{
    int rc = writer_flush(w);

    if (rc == GT_OK)
        rc = writer_exec(w, "COMMIT; BEGIN EXCLUSIVE", "cannot commit a batch");
    if (rc == GT_OK)
        rc = writer_link_events(w);
    /* The lock goes whatever happened: the events left out wait for the next
     * commit, and a failed link was rolled back already. */
    if (!sqlite3_get_autocommit(w->db))
        writer_exec(w, reopen ? "COMMIT; BEGIN" : "COMMIT", "cannot commit a batch");
    if (rc == GT_OK)
        w->pending = 0;
    return w->err != GT_OK ? w->err : rc;
}

/* The events table's root page, where btappend links its pages. */
static int events_root(struct gt_trace_writer *w, uint32_t *root)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(
        w->db, "SELECT rootpage FROM sqlite_schema WHERE type = 'table' AND name = 'events'", -1,
        &st, NULL);

    if (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        sqlite3_int64 v = sqlite3_column_int64(st, 0);
        *root = v > 1 && v <= UINT32_MAX ? (uint32_t)v : 0;
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc == SQLITE_OK ? GT_OK : writer_fail(w, rc, "cannot find the events table");
}

/* Opens the appender of `events` on a descriptor of its own. */
static int writer_open_events(struct gt_trace_writer *w, const char *path)
{
    uint32_t root = 0;
    char msg[200];
    int rc = events_root(w, &root);

    if (rc != GT_OK)
        return rc;
    if ((w->fd = open(path, O_RDWR | O_CLOEXEC)) < 0) {
        w->err = GT_EIO;
        set_msg(w->errmsg, sizeof w->errmsg, "cannot open '%s' again: %s", path, strerror(errno));
        return w->err;
    }
    rc = gt_btappend_open(w->fd, path, root, &w->events, msg, sizeof msg);
    if (rc != GT_OK) {
        w->err = rc;
        set_msg(w->errmsg, sizeof w->errmsg, "cannot append events: %s", msg);
    }
    return rc;
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
    sqlite3_close(w->db);
    gt_btappend_free(w->events);
    if (w->fd >= 0)
        close(w->fd);
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
            set_msg(errbuf, errlen, "'%s' already exists; gpu-trace never overwrites a trace",
                    path);
        else
            set_msg(errbuf, errlen, "cannot create '%s': %s", path, strerror(e));
        return e == ENOENT ? GT_ENOENT : GT_EIO;
    }
    if (fchmod(fd, 0600) != 0) {
        set_msg(errbuf, errlen, "cannot set the mode of '%s': %s", path, strerror(errno));
        close(fd);
        unlink(path);
        return GT_EIO;
    }
    if (close(fd) != 0) {
        set_msg(errbuf, errlen, "cannot create '%s': %s", path, strerror(errno));
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
        set_msg(errbuf, errlen, "no path given");
        return GT_EINVAL;
    }
    if ((rc = create_file(path, errbuf, errlen)) != GT_OK)
        return rc;
    w = calloc(1, sizeof *w);
    if (w == NULL) {
        set_msg(errbuf, errlen, "out of memory");
        unlink(path);
        return GT_ENOMEM;
    }
    w->fd = -1;
    w->next_seq = 1;
    rc = sqlite3_open_v2(path, &w->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        rc = w->db == NULL ? GT_ENOMEM : writer_fail(w, rc, "cannot open");
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
     * one read call: wait for it rather than fail the recording. */
    sqlite3_busy_timeout(w->db, WRITER_BUSY_MS);
    if (rc == GT_OK)
        rc = writer_init_schema(w);
    if (rc == GT_OK)
        rc = writer_open_events(w, path);
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
    set_msg(errbuf, errlen, "%s", w->errmsg[0] != '\0' ? w->errmsg : "out of memory");
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
    const int64_t row[11] = {w->next_seq,
                             ev->ts_ns,
                             ev->pid,
                             ev->tid,
                             ev->device,
                             i64_from_u64(ev->stream),
                             ev->kind,
                             i64_from_u64(ev->addr),
                             i64_from_u64(ev->size),
                             i64_from_u64(ev->requested),
                             ev->result};
    if ((rc = gt_btappend_add(w->events, w->next_seq, row, EV_FIELDS)) != GT_OK) {
        w->err = rc;
        set_msg(w->errmsg, sizeof w->errmsg, "cannot append an event: %s",
                rc == GT_ENOMEM ? "out of memory" : "events out of order");
        return rc;
    }
    w->next_seq++;
    w->pending++;
    return GT_OK;
}

int64_t gt_trace_last_seq(const struct gt_trace_writer *w)
{
    return w == NULL ? 0 : w->next_seq - 1;
}

/* ---- writer: optional tables ------------------------------------------ */

#define ARENA_BLOCK ((size_t)256 * 1024)
#define HASH_MUL 0x9e3779b97f4a7c15u  /* 2^64 / golden ratio, odd */
#define HASH_MUL2 0xc2b2ae3d27d4eb4fu /* xxHash's PRIME64_2 */

static int writer_oom(struct gt_trace_writer *w)
{
    if (w->err == GT_OK) {
        w->err = GT_ENOMEM;
        set_msg(w->errmsg, sizeof w->errmsg, "out of memory");
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

/* items, or a copy with room for one more element when count == *cap
 * (*cap doubles); NULL, with items untouched, when memory runs out. */
static void *grow_array(void *items, size_t *cap, size_t count, size_t elem)
{
    size_t ncap;
    void *p;

    if (count < *cap)
        return items;
    ncap = *cap == 0 ? 256 : *cap * 2;
    if (ncap < *cap || ncap > SIZE_MAX / elem)
        return NULL;
    p = realloc(items, ncap * elem);
    if (p != NULL)
        *cap = ncap;
    return p;
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
    if ((frames = grow_array(w->frames, &w->frames_cap, w->nframes, sizeof *frames)) == NULL)
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

    if ((sr = grow_array(w->stacks, &w->stacks_cap, w->nstacks, sizeof *sr)) == NULL)
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
    sqlite3_bind_int(st, 5, b->allocated ? 1 : 0);
    sqlite3_bind_int64(st, 6, i64_from_u64(b->segment));
    sqlite3_bind_int64(st, 7, i64_from_u64(b->segment_size));
    sqlite3_bind_int64(st, 8, i64_from_u64(b->stream));
    sqlite3_bind_int(st, 9, b->small_pool ? 1 : 0);
    sqlite3_bind_int(st, 10, b->expandable ? 1 : 0);
    return writer_step(w, st, what);
}

int gt_trace_add_initial_block(struct gt_trace_writer *w, const struct gt_initial_block *b)
{
    return add_block_row(w, w ? w->ins_block : NULL, b, "cannot store an initial block");
}

int gt_trace_add_final_block(struct gt_trace_writer *w, const struct gt_initial_block *b)
{
    return add_block_row(w, w ? w->ins_final : NULL, b, "cannot store a final block");
}

int gt_trace_writer_close(struct gt_trace_writer *w)
{
    int rc;

    if (w == NULL)
        return GT_OK;
    /* Commit even after an error: the failed statement was rolled back on
     * its own, and the events before it are worth keeping. */
    if (w->db != NULL && !sqlite3_get_autocommit(w->db)) {
        if (w->err == GT_OK)
            writer_flush(w);
        if (writer_exec(w, "COMMIT; BEGIN EXCLUSIVE", "cannot commit the last batch") == GT_OK &&
            w->events != NULL)
            writer_link_events(w);
        if (!sqlite3_get_autocommit(w->db))
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
 * much of a truncated file is missing. Sets *magic when the file starts with
 * SQLite's magic string. */
static int read_header(struct gt_trace_reader *r, const char *path, bool *magic)
{
    unsigned char h[SQLITE_HEADER_LEN];
    ssize_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    *magic = false;
    if (fd < 0) {
        int e = errno;
        set_msg(r->errmsg, sizeof r->errmsg, "cannot open: %s", strerror(e));
        return e == ENOENT ? GT_ENOENT : GT_EIO;
    }
    while ((size_t)got < sizeof h) {
        ssize_t k = read(fd, h + got, sizeof h - (size_t)got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        got += k;
    }
    close(fd);
    if (got == (ssize_t)sizeof h) {
        memcpy(r->header, h, sizeof h);
        r->have_header = true;
    }
    if (got >= (ssize_t)sizeof SQLITE_MAGIC && memcmp(h, SQLITE_MAGIC, sizeof SQLITE_MAGIC) == 0)
        *magic = true;
    r->looks_like = foreign_kind(h, (size_t)(got > 0 ? got : 0));
    if (*magic && got == (ssize_t)sizeof h) {
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
    if (r->header_bytes > r->file_bytes)
        set_msg(buf, len, " (the file has %llu of its %llu bytes: truncated)",
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
        set_msg(r->errmsg, sizeof r->errmsg, "not an SQLite database%s",
                r->looks_like ? r->looks_like : "");
        return GT_EFOREIGN;
    }
    /* A generic error while reading the schema ("malformed database
     * schema") is damage too: the ids already said this is a trace. */
    if (err == GT_ESQL)
        err = GT_ECORRUPT;
    set_msg(r->errmsg, sizeof r->errmsg, "%s: %s%s", what, sqlite3_errmsg(r->db), note);
    return err;
}

struct table_spec {
    const char *name;
    const char *const *columns;
};

/* Positions in event_columns[], which is also the order of struct fast_path's col[]. */
enum {
    F_SEQ,
    F_TS,
    F_PID,
    F_TID,
    F_DEVICE,
    F_STREAM,
    F_KIND,
    F_ADDR,
    F_REQUESTED,
    F_SIZE,
    F_RESULT
};

static const char *const event_columns[] = {"seq",       "ts_ns",  "pid",    "tid",
                                            "device",    "stream", "kind",   "addr",
                                            "requested", "size",   "result", NULL};
static const char *const meta_columns[] = {"key", "value", NULL};
static const char *const device_columns[] = {"device", "name", "total_memory", NULL};

/* The tables this reader queries; kinds and processes are for people and
 * later readers, so their absence does not stop a replay. */
static const struct table_spec required_tables[] = {
    {"events", event_columns},
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
        set_msg(r->errmsg, sizeof r->errmsg, "table '%s' is missing", t->name);
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
            set_msg(r->errmsg, sizeof r->errmsg, "table '%s' has no column '%s'", t->name, *c);
            return GT_ECORRUPT;
        }
        if (t->columns == event_columns && strcmp(*c, "seq") == 0 && !key) {
            set_msg(r->errmsg, sizeof r->errmsg,
                    "table 'events' column 'seq' is not its INTEGER PRIMARY KEY");
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
        set_msg(r->errmsg, sizeof r->errmsg, "application_id is 0x%llx, not gpu-trace's 0x%x",
                (unsigned long long)(uint32_t)app_id, (unsigned)GT_SCHEMA_APPLICATION_ID);
        return GT_EFOREIGN;
    }
    rc = query_int(r->db, "PRAGMA user_version", &version, NULL);
    if (rc != SQLITE_OK)
        return open_fail(r, rc, magic, "cannot read the file ids");
    if (version > GT_SCHEMA_VERSION) {
        set_msg(r->errmsg, sizeof r->errmsg,
                "trace format version %lld is newer than this gpu-trace reads (%d)",
                (long long)version, GT_SCHEMA_VERSION);
        return GT_ENEWER;
    }
    /* Our writer sets both ids in one transaction, so version 0 (or a
     * negative one) with our application_id is a damaged header. */
    if (version < 1) {
        set_msg(r->errmsg, sizeof r->errmsg,
                "trace format version is %lld; a gpu-trace file has 1 to %d", (long long)version,
                GT_SCHEMA_VERSION);
        return GT_ECORRUPT;
    }
    return GT_OK;
}

static int reader_prepare(struct gt_trace_reader *r, const char *sql, sqlite3_stmt **st, bool magic)
{
    int rc = sqlite3_prepare_v3(r->db, sql, -1, SQLITE_PREPARE_PERSISTENT, st, NULL);

    return rc == SQLITE_OK ? GT_OK : open_fail(r, rc, magic, "cannot prepare a query");
}

/* Everything after the file exists: configure, validate, prepare. */
static int reader_setup(struct gt_trace_reader *r, const char *path)
{
    struct stat sb;
    bool magic;
    int rc;

    if (stat(path, &sb) != 0) {
        int e = errno;
        set_msg(r->errmsg, sizeof r->errmsg, "cannot open: %s", strerror(e));
        return (e == ENOENT || e == ENOTDIR) ? GT_ENOENT : GT_EIO;
    }
    if (S_ISDIR(sb.st_mode)) {
        set_msg(r->errmsg, sizeof r->errmsg, "is a directory");
        return GT_EIO;
    }
    r->file_bytes = (uint64_t)sb.st_size;
    if ((rc = read_header(r, path, &magic)) != GT_OK)
        return rc;
    if (magic && r->file_bytes < SQLITE_HEADER_LEN) {
        set_msg(r->errmsg, sizeof r->errmsg, "the SQLite header is cut short (%llu of %d bytes)",
                (unsigned long long)r->file_bytes, SQLITE_HEADER_LEN);
        return GT_ECORRUPT;
    }
    if (r->file_bytes == 0) {
        /* SQLite would call an empty file an empty database. */
        set_msg(r->errmsg, sizeof r->errmsg, "the file is empty");
        return GT_EFOREIGN;
    }
    rc = sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        if (r->db == NULL)
            return GT_ENOMEM;
        return open_fail(r, rc, magic, "cannot open");
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

    if ((rc = check_ids(r, magic)) != GT_OK)
        return rc;
    for (size_t i = 0; i < sizeof required_tables / sizeof required_tables[0]; i++) {
        if ((rc = check_table(r, &required_tables[i], magic)) != GT_OK)
            return rc;
    }
    rc = reader_prepare(r,
                        "SELECT seq, ts_ns, pid, tid, device, stream, kind, addr, size,"
                        " requested, result FROM events WHERE seq > ?1 ORDER BY seq",
                        &r->sel_events, magic);
    if (rc == GT_OK)
        rc = reader_prepare(r, "SELECT value FROM meta WHERE key = ?1", &r->sel_meta, magic);
    if (rc == GT_OK)
        rc = reader_prepare(r, "SELECT name, total_memory FROM devices WHERE device = ?1",
                            &r->sel_device, magic);
    if (rc == GT_OK)
        rc = reader_prepare(r, "SELECT max(seq) FROM events", &r->sel_count, magic);
    return rc;
}

static int fast_setup(struct gt_trace_reader *r, const char *path);
static void fast_release(struct fast_path *f);

int gt_trace_open(const char *path, struct gt_trace_reader **out, char *errbuf, size_t errlen)
{
    struct gt_trace_reader *r;
    int rc;

    if (out != NULL)
        *out = NULL;
    if (path == NULL || out == NULL) {
        set_msg(errbuf, errlen, "no path given");
        return GT_EINVAL;
    }
    r = calloc(1, sizeof *r);
    if (r == NULL) {
        set_msg(errbuf, errlen, "out of memory");
        return GT_ENOMEM;
    }
    r->fast.fd = -1;
    rc = reader_setup(r, path);
    if (rc == GT_OK)
        rc = fast_setup(r, path);
    if (rc == GT_ECORRUPT && strstr(r->errmsg, "truncated") == NULL) {
        /* A missing table in a cut file is the cut, not a bad writer. */
        char note[96];
        size_t used = strlen(r->errmsg);
        truncation_note(r, note, sizeof note);
        set_msg(r->errmsg + used, sizeof r->errmsg - used, "%s", note);
    }
    if (rc != GT_OK) {
        set_msg(errbuf, errlen, "%s", r->errmsg[0] != '\0' ? r->errmsg : "out of memory");
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
    fast_release(&r->fast);
    sqlite3_finalize(r->sel_events);
    sqlite3_finalize(r->sel_meta);
    sqlite3_finalize(r->sel_device);
    sqlite3_finalize(r->sel_count);
    sqlite3_finalize(r->blocks.st);
    sqlite3_finalize(r->finals.st);
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
    set_msg(r->errmsg, sizeof r->errmsg, "%s: %s%s", what, sqlite3_errmsg(r->db), note);
    return err;
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
        set_msg(r->errmsg, sizeof r->errmsg, "no metadata key '%s'", key);
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
        set_msg(r->errmsg, sizeof r->errmsg, "no device %d in the trace", (int)device);
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
        set_msg(r->errmsg, sizeof r->errmsg, "a query on '%s' was started from its own callback",
                tables[0].name);
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
        struct gt_initial_block b;

        b.device = (int32_t)sqlite3_column_int64(q->st, 0);
        b.addr = u64_from_i64(sqlite3_column_int64(q->st, 1));
        b.size = u64_from_i64(sqlite3_column_int64(q->st, 2));
        b.requested = u64_from_i64(sqlite3_column_int64(q->st, 3));
        b.allocated = sqlite3_column_int64(q->st, 4) != 0;
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
            set_msg(r->errmsg, sizeof r->errmsg,
                    "the stack of event %lld has no frame at depth %zu (stack %lld)",
                    (long long)seq, depth, (long long)sqlite3_column_int64(q->st, 4));
            rc = GT_ECORRUPT;
            break;
        }
        if (sqlite3_column_type(q->st, 6) == SQLITE_NULL) {
            set_msg(r->errmsg, sizeof r->errmsg,
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
            set_msg(r->errmsg, sizeof r->errmsg, "out of memory");
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

/* ---- fast path: the events b-tree read straight from the file -------- */

/* Why: stepping a SQLite statement and fetching 11 columns costs about
 * 0.7 us per event (the VDBE decodes every column through the public API);
 * 100 M events would spend over a minute there. A table b-tree leaf is a
 * simple structure (fileformat2.html: page header, cell pointers, cells of
 * payload length, rowid, record), so reading it directly is several times
 * faster. Every offset, length and page number is checked against the page
 * and the file, because a trace is untrusted input. SQLite still validates
 * the file, and a SQLite read transaction is held while the pages are read,
 * so a recorder cannot commit half-way through a call. */

static uint16_t be16(const unsigned char *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}

/* Decodes a SQLite varint at p, not reading at or past end. Returns its
 * length, or 0 if it runs past end. */
static int get_varint(const unsigned char *p, const unsigned char *end, uint64_t *v)
{
    uint64_t x = 0;

    for (int i = 0; i < 8; i++) {
        if (p + i >= end)
            return 0;
        x = x << 7 | (p[i] & 0x7f);
        if ((p[i] & 0x80) == 0) {
            *v = x;
            return i + 1;
        }
    }
    if (p + 8 >= end)
        return 0;
    *v = x << 8 | p[8];
    return 9;
}

/* Bytes of a record value of serial type t; -1 for the reserved types. */
static int64_t serial_size(uint64_t t)
{
    static const int8_t small[12] = {0, 1, 2, 3, 4, 6, 8, 8, 0, 0, -1, -1};

    if (t < 12)
        return small[t];
    return (int64_t)((t - 12) / 2);
}

/* An integer value of serial type t at p (whose bytes were bounds-checked).
 * Returns false for values that are not integers. */
static bool serial_int(uint64_t t, const unsigned char *p, int64_t *v)
{
    uint64_t x;
    int n;

    switch (t) {
    case 0: /* NULL reads as 0, as sqlite3_column_int64 says */
    case 8:
        *v = 0;
        return true;
    case 9:
        *v = 1;
        return true;
    case 1:
    case 2:
    case 3:
    case 4:
    case 5:
    case 6:
        n = (int)serial_size(t);
        /* Sign-extend from the first byte, then shift in the rest. */
        x = (p[0] & 0x80) ? UINT64_MAX : 0;
        for (int i = 0; i < n; i++)
            x = x << 8 | p[i];
        *v = i64_from_u64(x);
        return true;
    default:
        return false;
    }
}

/* Records damage found by the fast path at page pgno. */
static int fast_corrupt(struct gt_trace_reader *r, const char *what, uint32_t pgno)
{
    char note[96];

    truncation_note(r, note, sizeof note);
    set_msg(r->errmsg, sizeof r->errmsg, "events after seq %lld cannot be read: %s (page %u)%s",
            (long long)r->last_seq, what, (unsigned)pgno, note);
    return GT_ECORRUPT;
}

/* Loads page pgno into level d and checks its header and cell pointer array.
 * *loads counts the pages read in this call: a cycle of child pointers in a
 * damaged file must end, and no walk needs more pages than the file has. */
static int load_level(struct gt_trace_reader *r, int d, uint32_t pgno, uint64_t *loads)
{
    struct fast_path *f = &r->fast;
    struct level *l = &f->lv[d];
    unsigned hdr;
    ssize_t got;

    if (d >= MAX_DEPTH)
        return fast_corrupt(r, "the events b-tree is too deep", pgno);
    /* Page 1 holds the schema, never events. */
    if (pgno < 2 || pgno > f->npages)
        return fast_corrupt(r, "the page is missing", pgno);
    if (++*loads > (uint64_t)f->npages + MAX_DEPTH)
        return fast_corrupt(r, "the events b-tree loops", pgno);
    if (l->page == NULL) {
        l->page = malloc(f->page_size);
        if (l->page == NULL) {
            set_msg(r->errmsg, sizeof r->errmsg, "out of memory");
            return GT_ENOMEM;
        }
    }
    do {
        got = pread(f->fd, l->page, f->page_size, (off_t)(pgno - 1) * (off_t)f->page_size);
    } while (got < 0 && errno == EINTR);
    if (got < 0) {
        set_msg(r->errmsg, sizeof r->errmsg, "cannot read the trace: %s", strerror(errno));
        return GT_EIO;
    }
    if ((size_t)got != f->page_size)
        return fast_corrupt(r, "the page is cut short", pgno);
    l->pgno = pgno;
    l->next = 0;
    switch (l->page[0]) {
    case 0x0d:
        l->leaf = true;
        hdr = 8;
        break;
    case 0x05:
        l->leaf = false;
        hdr = 12;
        break;
    default:
        return fast_corrupt(r, "not a table b-tree page", pgno);
    }
    l->ncells = be16(l->page + 3);
    if (hdr + 2 * (size_t)l->ncells > f->usable)
        return fast_corrupt(r, "too many cells", pgno);
    return GT_OK;
}

/* Offset of cell i of level l; checked to leave room for a minimal cell. */
static bool cell_offset(const struct fast_path *f, const struct level *l, unsigned i, unsigned *off)
{
    unsigned o = be16(l->page + (l->leaf ? 8 : 12) + 2 * i);

    *off = o;
    return o >= (l->leaf ? 8u : 12u) && o + 4 <= f->usable;
}

/* Child page of interior cell i (i == ncells: the right-most child). */
static bool interior_child(const struct fast_path *f, const struct level *l, unsigned i,
                           uint32_t *child)
{
    unsigned off;

    if (i == l->ncells) {
        *child = be32(l->page + 8);
        return true;
    }
    if (!cell_offset(f, l, i, &off))
        return false;
    *child = be32(l->page + off);
    return true;
}

/* Key of interior cell i: the largest rowid in its left subtree. */
static bool interior_key(const struct fast_path *f, const struct level *l, unsigned i, int64_t *key)
{
    unsigned off;
    uint64_t k;

    if (!cell_offset(f, l, i, &off) || get_varint(l->page + off + 4, l->page + f->usable, &k) == 0)
        return false;
    *key = i64_from_u64(k);
    return true;
}

/* Rowid of leaf cell i, and where its payload starts and ends. */
static bool leaf_cell(const struct fast_path *f, const struct level *l, unsigned i, int64_t *rowid,
                      const unsigned char **rec, const unsigned char **rec_end)
{
    const unsigned char *end = l->page + f->usable;
    const unsigned char *p;
    uint64_t len, id;
    unsigned off;
    int k;

    if (!cell_offset(f, l, i, &off))
        return false;
    p = l->page + off;
    if ((k = get_varint(p, end, &len)) == 0)
        return false;
    p += k;
    if ((k = get_varint(p, end, &id)) == 0)
        return false;
    p += k;
    /* A v1 row is at most about 110 bytes; one that spills to overflow pages
     * (longer than usable - 35) is not a v1 row. */
    if (len > f->usable - 35 || len > (uint64_t)(end - p))
        return false;
    *rowid = i64_from_u64(id);
    *rec = p;
    *rec_end = p + len;
    return true;
}

/* Decodes the record of one row into ev. Returns false for a malformed
 * record or a value that is not an integer; sets *seq_stored when seq is not
 * the rowid (stored in the record: not a v1 table). */
static bool decode_record(const struct fast_path *f, const unsigned char *rec,
                          const unsigned char *end, int64_t rowid, struct gt_event *ev,
                          int64_t *kind)
{
    int64_t v[EV_FIELDS] = {0};
    const unsigned char *val_at[EV_FIELDS + 1];
    uint64_t type_of[EV_FIELDS + 1];
    const unsigned char *hp, *hend, *data;
    uint64_t hlen;
    int k, field = 0;

    if ((k = get_varint(rec, end, &hlen)) == 0 || hlen < (uint64_t)k ||
        hlen > (uint64_t)(end - rec))
        return false;
    hp = rec + k;
    hend = rec + hlen;
    data = hend;
    while (hp < hend && field <= f->max_col) {
        uint64_t t;
        int64_t size;

        if ((k = get_varint(hp, hend, &t)) == 0)
            return false;
        hp += k;
        size = serial_size(t);
        if (size < 0 || size > end - data)
            return false;
        type_of[field] = t;
        val_at[field] = data;
        data += size;
        field++;
    }
    for (int i = 0; i < EV_FIELDS; i++) {
        int c = f->col[i];
        /* Fields past the end of a short record have their default: 0. */
        if (c >= field)
            continue;
        if (i == F_SEQ) {
            if (type_of[c] != 0)
                return false;
            continue;
        }
        if (!serial_int(type_of[c], val_at[c], &v[i]))
            return false;
    }
    *kind = v[F_KIND];
    ev->seq = rowid;
    ev->ts_ns = v[F_TS];
    ev->pid = v[F_PID];
    ev->tid = v[F_TID];
    ev->device = (int32_t)v[F_DEVICE];
    ev->stream = u64_from_i64(v[F_STREAM]);
    ev->kind = (int32_t)v[F_KIND];
    ev->addr = u64_from_i64(v[F_ADDR]);
    ev->size = u64_from_i64(v[F_SIZE]);
    ev->requested = u64_from_i64(v[F_REQUESTED]);
    ev->result = (int32_t)v[F_RESULT];
    return true;
}

/* Descends from the root to the leaf holding the first rowid > after. */
static int fast_seek(struct gt_trace_reader *r, int64_t after, uint64_t *loads)
{
    struct fast_path *f = &r->fast;
    uint32_t pgno = f->root;
    int rc;

    f->depth = 0;
    for (;;) {
        struct level *l;

        if ((rc = load_level(r, f->depth, pgno, loads)) != GT_OK)
            return rc;
        l = &f->lv[f->depth++];
        if (l->leaf) {
            unsigned lo = 0, hi = l->ncells;
            /* First cell with rowid > after; a damaged cell stops the search
             * and is reported when the walk reaches it. */
            while (lo < hi) {
                unsigned mid = lo + (hi - lo) / 2;
                const unsigned char *rec, *rec_end;
                int64_t id;
                if (!leaf_cell(f, l, mid, &id, &rec, &rec_end))
                    break;
                if (id <= after)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            l->next = lo;
            return GT_OK;
        }
        /* First child whose largest rowid is > after. */
        unsigned lo = 0, hi = l->ncells;
        while (lo < hi) {
            unsigned mid = lo + (hi - lo) / 2;
            int64_t key;
            if (!interior_key(f, l, mid, &key))
                return fast_corrupt(r, "a damaged cell", l->pgno);
            if (key <= after)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (!interior_child(f, l, lo, &pgno))
            return fast_corrupt(r, "a damaged cell", l->pgno);
        l->next = lo + 1;
    }
}

/* Moves to the next leaf: up to the first level with a child left, then
 * down its left-most path. Sets *end when the whole tree was walked. */
static int fast_next_leaf(struct gt_trace_reader *r, uint64_t *loads, bool *end)
{
    struct fast_path *f = &r->fast;
    uint32_t pgno;
    int rc;

    *end = false;
    f->depth--; /* leave the exhausted leaf */
    while (f->depth > 0 && f->lv[f->depth - 1].next > f->lv[f->depth - 1].ncells)
        f->depth--;
    if (f->depth == 0) {
        *end = true;
        return GT_OK;
    }
    for (;;) {
        struct level *l = &f->lv[f->depth - 1];
        if (!interior_child(f, l, l->next, &pgno))
            return fast_corrupt(r, "a damaged cell", l->pgno);
        l->next++;
        if ((rc = load_level(r, f->depth, pgno, loads)) != GT_OK)
            return rc;
        if (f->lv[f->depth++].leaf)
            return GT_OK;
    }
}

/* Fills buf from the b-tree within one read transaction. */
static int fast_fill(struct gt_trace_reader *r, struct gt_event *buf, size_t cap, size_t *got)
{
    struct fast_path *f = &r->fast;
    uint64_t loads = 0;
    int rc;

    if ((rc = fast_seek(r, r->last_seq, &loads)) != GT_OK)
        return rc;
    while (*got < cap) {
        struct level *l = &f->lv[f->depth - 1];
        const unsigned char *rec, *rec_end;
        int64_t id, kind;

        if (l->next >= l->ncells) {
            bool end;
            if ((rc = fast_next_leaf(r, &loads, &end)) != GT_OK || end)
                return rc;
            continue;
        }
        if (!leaf_cell(f, l, l->next, &id, &rec, &rec_end))
            return fast_corrupt(r, "a damaged cell", l->pgno);
        /* Rowids rise strictly in a sound tree; rows at or before last_seq
         * were passed already (a seek that stopped at a damaged cell, or a
         * damaged interior page that points back). */
        if (id <= r->last_seq) {
            l->next++;
            continue;
        }
        if (!decode_record(f, rec, rec_end, id, &buf[*got], &kind))
            return fast_corrupt(r, "a row that is not a v1 event", l->pgno);
        l->next++;
        r->last_seq = id;
        if (kind < 1 || kind > GT_EV_KIND_MAX)
            r->skipped++;
        else
            (*got)++;
    }
    return GT_OK;
}

static int fast_read(struct gt_trace_reader *r, struct gt_event *buf, size_t cap, size_t *got)
{
    struct fast_path *f = &r->fast;
    int rc, src;

    /* The read lock: BEGIN plus a read holds SQLite's shared lock, so the
     * pages cannot change under us; SQLite also checks for a hot journal. */
    src = sqlite3_step(f->begin);
    sqlite3_reset(f->begin);
    if (src != SQLITE_DONE)
        return reader_fail(r, src, "cannot start reading");
    src = sqlite3_step(f->page_count);
    if (src == SQLITE_ROW) {
        int64_t n = sqlite3_column_int64(f->page_count, 0);
        f->npages = n < 0 ? 0 : n > (int64_t)UINT32_MAX ? UINT32_MAX : (uint32_t)n;
        rc = fast_fill(r, buf, cap, got);
    } else {
        rc = reader_fail(r, src, "cannot start reading");
    }
    sqlite3_reset(f->page_count);
    sqlite3_step(f->commit);
    sqlite3_reset(f->commit);
    return rc;
}

/* Decides whether the fast path can read this file; when it cannot, events
 * come through SQL, which is slower but reads any layout SQLite reads. */
static int fast_setup(struct gt_trace_reader *r, const char *path)
{
    struct fast_path *f = &r->fast;
    const unsigned char *h = r->header;
    sqlite3_stmt *st = NULL;
    int64_t root = 0;
    bool ok = true;
    int rc;

    f->fd = -1;
    for (int i = 0; i < EV_FIELDS; i++)
        f->col[i] = -1;
    /* Bytes 18 and 19: 1 = rollback journal, 2 = WAL. */
    if (!r->have_header || h[18] != 1 || h[19] != 1)
        return GT_OK;
    f->page_size = (uint32_t)h[16] << 8 | h[17];
    if (f->page_size == 1)
        f->page_size = 65536;
    if (f->page_size < 512 || (f->page_size & (f->page_size - 1)) != 0 || f->page_size <= h[20] ||
        f->page_size - h[20] < 480)
        return GT_OK;
    f->usable = f->page_size - h[20];

    /* A WITHOUT ROWID table is an index b-tree: SQL reads it. */
    rc = sqlite3_prepare_v2(r->db,
                            "SELECT rootpage FROM sqlite_master WHERE type = 'table'"
                            " AND name = 'events' AND sql NOT LIKE '%WITHOUT%ROWID%'",
                            -1, &st, NULL);
    if (rc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        root = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    if (root < 2 || root > (int64_t)UINT32_MAX)
        return GT_OK;
    f->root = (uint32_t)root;

    /* Column positions; hidden (generated) columns would shift the record. */
    st = NULL;
    rc = sqlite3_prepare_v2(r->db, "SELECT cid, name, hidden FROM pragma_table_xinfo('events')", -1,
                            &st, NULL);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        int cid = sqlite3_column_int(st, 0);
        const unsigned char *name = sqlite3_column_text(st, 1);
        if (sqlite3_column_int(st, 2) != 0)
            ok = false;
        for (int i = 0; i < EV_FIELDS && name != NULL; i++) {
            if (strcmp((const char *)name, event_columns[i]) == 0)
                f->col[i] = cid;
        }
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    f->max_col = -1;
    for (int i = 0; i < EV_FIELDS; i++) {
        if (f->col[i] < 0 || f->col[i] >= 64)
            ok = false;
        else if (f->col[i] > f->max_col)
            f->max_col = f->col[i];
    }
    if (rc != SQLITE_DONE || !ok || f->max_col > EV_FIELDS - 1)
        return GT_OK;

    f->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (f->fd < 0)
        return GT_OK;
    rc = reader_prepare(r, "BEGIN", &f->begin, true);
    if (rc == GT_OK)
        rc = reader_prepare(r, "PRAGMA page_count", &f->page_count, true);
    if (rc == GT_OK)
        rc = reader_prepare(r, "COMMIT", &f->commit, true);
    if (rc != GT_OK)
        return rc;
    r->use_fast = true;
    return GT_OK;
}

static void fast_release(struct fast_path *f)
{
    for (int i = 0; i < MAX_DEPTH; i++)
        free(f->lv[i].page);
    if (f->fd >= 0)
        close(f->fd);
    sqlite3_finalize(f->begin);
    sqlite3_finalize(f->page_count);
    sqlite3_finalize(f->commit);
}

/* The SQL path: the same query restarted after last_seq on every call, so
 * the read lock ends with the call as it does on the fast path. */
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

            r->last_seq = sqlite3_column_int64(st, 0);
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
            (*got)++;
        } else {
            if (src != SQLITE_DONE) {
                char what[96];
                snprintf(what, sizeof what, "events after seq %lld cannot be read",
                         (long long)r->last_seq);
                rc = reader_fail(r, src, what);
            }
            break;
        }
    }
    sqlite3_reset(st);
    return rc;
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
    rc = r->use_fast ? fast_read(r, buf, cap, &got) : sql_read(r, buf, cap, &got);
    if (rc != GT_OK) {
        r->err = rc;
        if (got == 0)
            return rc;
    }
    *n = got;
    return GT_OK;
}

int64_t gt_trace_skipped(const struct gt_trace_reader *r)
{
    return r == NULL ? 0 : r->skipped;
}

int gt_trace_rewind(struct gt_trace_reader *r)
{
    if (r == NULL)
        return GT_EINVAL;
    r->last_seq = 0;
    r->skipped = 0;
    r->err = GT_OK;
    return GT_OK;
}
