/* The trace store (trace.h): writes and reads format v1 (schema.h).
 *
 * Writer: the file is created with O_EXCL and mode 0600 before SQLite sees
 * it, so a trace is never overwritten and never readable by others. The ids
 * (application_id, user_version), the schema and the kinds table go in one
 * transaction, so a file with our application_id always has the schema. Events
 * are inserted with one reused statement and committed every BATCH_EVENTS:
 * per-event transactions would cost a sync each.
 *
 * Reader: the file is opened read-only and validated before any event is
 * read (ids first, then every table and column the reader queries). Events
 * come from one statement that stays open and steps across gt_trace_read
 * calls; seq is the rowid, so this is a plain walk of the table's b-tree with
 * no index and no sort. Files come from users and crashed recorders, so every
 * SQLite failure is mapped to a GT_E* code with a detail message, and a
 * truncated file still yields the events that lie before the damage. */
#include "gputrace/trace.h"
#include "gputrace/err.h"
#include "gputrace/schema.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
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

/* Invariants: db is open and a transaction is open whenever err == 0 (the
 * writer keeps one batch open at all times); pending counts the events in
 * it; next_seq is one past the last seq written. err is the first error and
 * stays set: later calls return it so a caller that checks only at close still
 * learns about it. */
struct gt_trace_writer {
    sqlite3 *db;
    sqlite3_stmt *ins_event;
    sqlite3_stmt *ins_meta;
    sqlite3_stmt *ins_device;
    sqlite3_stmt *ins_process;
    int64_t next_seq;
    int64_t pending;
    int err;
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
    int64_t last_seq;
    int64_t skipped;
    int err;
    bool use_fast;
    struct fast_path fast;
    uint64_t file_bytes;   /* size of the file at open */
    uint64_t header_bytes; /* page_size * page count from the SQLite header, 0 if unknown */
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

static void writer_destroy(struct gt_trace_writer *w)
{
    sqlite3_finalize(w->ins_event);
    sqlite3_finalize(w->ins_meta);
    sqlite3_finalize(w->ins_device);
    sqlite3_finalize(w->ins_process);
    sqlite3_close(w->db);
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
    if (rc == GT_OK)
        rc = writer_init_schema(w);
    if (rc == GT_OK)
        rc = writer_prepare(w,
                            "INSERT INTO events(seq, ts_ns, pid, tid, device, stream, kind,"
                            " addr, size, requested, result)"
                            " VALUES(?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
                            &w->ins_event);
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

int gt_trace_append(struct gt_trace_writer *w, const struct gt_event *ev)
{
    sqlite3_stmt *st;
    int rc = writer_usable(w);

    if (rc != GT_OK)
        return rc;
    /* A kind this build does not know would be skipped by every reader. */
    if (ev == NULL || ev->kind < 1 || ev->kind > GT_EV_KIND_MAX)
        return GT_EINVAL;
    st = w->ins_event;
    sqlite3_bind_int64(st, 1, w->next_seq);
    sqlite3_bind_int64(st, 2, ev->ts_ns);
    sqlite3_bind_int64(st, 3, ev->pid);
    sqlite3_bind_int64(st, 4, ev->tid);
    sqlite3_bind_int(st, 5, ev->device);
    sqlite3_bind_int64(st, 6, i64_from_u64(ev->stream));
    sqlite3_bind_int(st, 7, ev->kind);
    sqlite3_bind_int64(st, 8, i64_from_u64(ev->addr));
    sqlite3_bind_int64(st, 9, i64_from_u64(ev->size));
    sqlite3_bind_int64(st, 10, i64_from_u64(ev->requested));
    sqlite3_bind_int(st, 11, ev->result);
    /* No clear_bindings: every parameter is rebound on the next call. */
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE)
        return writer_fail(w, rc, "cannot append an event");
    w->next_seq++;
    if (++w->pending >= BATCH_EVENTS) {
        if ((rc = writer_exec(w, "COMMIT; BEGIN", "cannot commit a batch")) != GT_OK)
            return rc;
        w->pending = 0;
    }
    return GT_OK;
}

int gt_trace_writer_close(struct gt_trace_writer *w)
{
    int rc;

    if (w == NULL)
        return GT_OK;
    /* Commit even after an error: the failed statement was rolled back on
     * its own, and the events before it are worth keeping. */
    if (w->db != NULL && !sqlite3_get_autocommit(w->db))
        writer_exec(w, "COMMIT", "cannot commit the last batch");
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
        set_msg(r->errmsg, sizeof r->errmsg, "not an SQLite database");
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
    int64_t app_id, version;
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
