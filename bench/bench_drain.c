/* bench_drain: how fast `gpu-trace record`'s drain moves ring records into a
 * trace (issue 4: >= 2 M events/s drained into SQLite).
 *
 *   bench_drain [--events N] [--seed N] [--dir DIR]
 *
 * Fills one ring file by hand, as ring.h tells a producer to (N published
 * records of one thread: a seeded mix of cudaMallocAsync and cudaFreeAsync
 * on two streams, each free entered after the allocation before it
 * returned, then the END record), in DIR (default $TMPDIR or /tmp). Then
 * times, on one thread, gt_drain_open, gt_drain_poll until done and
 * gt_drain_close into a new trace in DIR, then gt_trace_writer_close: the
 * drain's whole cost, with nothing else on the machine competing, unlike
 * bench/tracer.sh's figure, which only times what is left after the
 * program's loop. As baselines it times the same events appended straight
 * to a trace (the writer alone) and inserted with SQL (one prepared INSERT
 * of 64 rows, 11 bound columns each: how the writer did it before). Prints
 * events/s, the ratio to the target and a checksum (count and sums of the
 * trace's sizes and addresses read back through gt_trace_read). */
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <fcntl.h>

#include <sqlite3.h>

#include "gputrace/err.h"
#include "gputrace/record.h"
#include "gputrace/ring.h"
#include "gputrace/schema.h"
#include "gputrace/trace.h"
#include "gputrace/banned.h"

#define TARGET_EVENTS_PER_S 2e6
#define CBID_MALLOC_ASYNC 418 /* cudaMallocAsync_v11020 (cupti_runtime_cbid.h) */
#define CBID_FREE_ASYNC 419   /* cudaFreeAsync_v11020 */
#define READ_BATCH 4096

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, const char *detail)
{
    fprintf(stderr, "bench_drain: error: %s: %s\n", what, detail);
    exit(1);
}

/* dir/name into path (4096 bytes), or exits. */
static void join(char *path, const char *dir, const char *name)
{
    if ((size_t)snprintf(path, 4096, "%s/%s", dir, name) >= 4096)
        die(dir, "path too long");
}

static uint64_t rng_next(uint64_t *s)
{
    /* splitmix64 */
    uint64_t z = (*s += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* A live allocation of the generator. */
struct live {
    uint64_t addr;
    uint64_t stream;
};

/* The records, in ring order: allocations of 512 B to 64 MiB while fewer
 * than 512 are live (then frees of random live ones), times 300-1300 ns
 * apart. */
static void make_records(struct gt_ring_record *rec, uint64_t n, uint64_t seed)
{
    struct live live[1024];
    size_t nlive = 0;
    uint64_t next_addr = 0x7f0000000000u, s = seed;
    int64_t t = 1000000;

    for (uint64_t i = 0; i < n; i++) {
        struct gt_ring_record *r = &rec[i];
        uint64_t x = rng_next(&s);
        bool do_free = nlive > 0 && (nlive >= 512 || (x & 1) != 0);
        memset((char *)r + sizeof r->published, 0, sizeof *r - sizeof r->published);
        r->domain = 2; /* runtime */
        r->device = 0;
        r->tid = 4243;
        r->enter_ns = t;
        t += 300 + (int64_t)(x >> 54);
        r->ts_ns = t;
        if (do_free) {
            size_t k = (size_t)(x >> 8) % nlive;
            r->kind = GT_RING_KIND_FREE;
            r->cbid = CBID_FREE_ASYNC;
            r->addr = live[k].addr;
            r->stream = live[k].stream;
            live[k] = live[--nlive];
        } else {
            uint64_t size = 512u << ((x >> 8) % 18);
            r->kind = GT_RING_KIND_ALLOC;
            r->cbid = CBID_MALLOC_ASYNC;
            r->size = size;
            r->addr = next_addr;
            r->stream = (x >> 40) & 1 ? 0x5000 : 0;
            next_addr += (size + 511) & ~(uint64_t)511;
            live[nlive++] = (struct live){r->addr, r->stream};
        }
        atomic_store_explicit(&r->published, i + 1, memory_order_release);
    }
}

/* A ring file holding n published records and the END record, as a
 * producer that finished would leave it. */
static void write_ring(const char *dir, uint64_t n, uint64_t seed)
{
    char path[4096], name[64];
    uint32_t cap = 1;

    while (cap < n + 1)
        cap *= 2;
    snprintf(name, sizeof name, "ring-%ld.bin", (long)getpid());
    join(path, dir, name);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 || ftruncate(fd, (off_t)GT_RING_BYTES(cap)) != 0)
        die(path, strerror(errno));
    struct gt_ring_header *h =
        mmap(NULL, GT_RING_BYTES(cap), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (h == MAP_FAILED)
        die(path, strerror(errno));
    h->version = GT_RING_VERSION;
    h->record_size = sizeof(struct gt_ring_record);
    h->capacity = cap;
    h->frames_bytes = GT_RING_FRAMES_BYTES;
    h->pid = getpid();
    h->ppid = getppid();
    h->rank = -1;
    h->monotonic_anchor_ns = 1000;
    snprintf(h->command, sizeof h->command, "bench_drain");
    atomic_store(&h->status, GT_RING_ACTIVE);
    make_records(h->records, n, seed);
    struct gt_ring_record *end = &h->records[n];
    end->kind = GT_RING_KIND_END;
    atomic_store_explicit(&end->published, n + 1, memory_order_release);
    atomic_store(&h->head, n + 1);
    atomic_store_explicit((_Atomic uint32_t *)&h->magic, GT_RING_MAGIC, memory_order_release);
    munmap(h, GT_RING_BYTES(cap));
}

/* Count, sum of sizes and of addresses of a trace, through the reader. */
static void checksum(const char *path, int64_t *count, uint64_t *sizes, uint64_t *addrs)
{
    struct gt_trace_reader *r = NULL;
    struct gt_event *buf = malloc(READ_BATCH * sizeof *buf);
    char err[256];
    size_t n;

    if (buf == NULL || gt_trace_open(path, &r, err, sizeof err) != GT_OK)
        die(path, buf == NULL ? "out of memory" : err);
    *count = 0;
    *sizes = *addrs = 0;
    while (gt_trace_read(r, buf, READ_BATCH, &n) == GT_OK && n > 0) {
        for (size_t i = 0; i < n; i++) {
            *sizes += buf[i].size + buf[i].requested;
            *addrs += buf[i].addr;
        }
        *count += (int64_t)n;
    }
    gt_trace_close(r);
    free(buf);
}

static double time_drain(const char *dir, const char *trace, int64_t *events)
{
    struct gt_trace_writer *w;
    struct gt_drain *d;
    struct gt_drain_stats st;
    struct gt_drain_options opts = {.mode = GT_DRAIN_REQUESTS};
    char err[256];

    double t0 = now_s();
    if (gt_trace_create(trace, &w, err, sizeof err) != GT_OK)
        die(trace, err);
    if (gt_drain_open(dir, w, &opts, &d, err, sizeof err) != GT_OK)
        die(dir, err);
    while (!gt_drain_done(d))
        if (gt_drain_poll(d, GT_DRAIN_FLUSH) != GT_OK)
            die(trace, gt_drain_errmsg(d));
    if (gt_drain_close(d, &st) != GT_OK)
        die(trace, "drain close failed");
    if (gt_trace_writer_close(w) != GT_OK)
        die(trace, "writer close failed");
    *events = st.events;
    return now_s() - t0;
}

/* The same events straight into a trace: the writer alone. */
static double time_writer(const char *path, const struct gt_ring_record *rec, uint64_t n)
{
    struct gt_trace_writer *w;
    char err[256];

    double t0 = now_s();
    if (gt_trace_create(path, &w, err, sizeof err) != GT_OK)
        die(path, err);
    for (uint64_t i = 0; i < n; i++) {
        const struct gt_ring_record *r = &rec[i];
        struct gt_event ev = {.ts_ns = r->ts_ns,
                              .pid = 1,
                              .tid = r->tid,
                              .device = r->device,
                              .stream = r->stream,
                              .kind = r->kind == GT_RING_KIND_ALLOC ? GT_EV_ALLOC : GT_EV_FREE,
                              .addr = r->addr,
                              .requested = r->size};
        if (gt_trace_append(w, &ev) != GT_OK)
            die(path, gt_trace_writer_errmsg(w));
    }
    if (gt_trace_writer_close(w) != GT_OK)
        die(path, "writer close failed");
    return now_s() - t0;
}

/* The same rows through SQL, 64 to an INSERT, committed every 65536. */
static double time_sql(const char *path, const struct gt_ring_record *rec, uint64_t n)
{
    enum { ROWS = 64, COLS = 11 };
    char sql[ROWS * (COLS * 2 + 4) + 256];
    size_t len = 0;
    sqlite3 *db;
    sqlite3_stmt *st;

    double t0 = now_s();
    if (sqlite3_open(path, &db) != SQLITE_OK ||
        sqlite3_exec(
            db, "PRAGMA journal_mode=DELETE; PRAGMA synchronous=NORMAL;" GT_SCHEMA_SQL_V1_EVENTS,
            NULL, NULL, NULL) != SQLITE_OK)
        die(path, sqlite3_errmsg(db));
    len += (size_t)snprintf(sql, sizeof sql, "INSERT INTO events VALUES");
    for (int r = 0; r < ROWS; r++)
        len += (size_t)snprintf(sql + len, sizeof sql - len, "%s(?,?,?,?,?,?,?,?,?,?,?)",
                                r == 0 ? "" : ",");
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        die(path, sqlite3_errmsg(db));
    sqlite3_exec(db, "BEGIN", NULL, NULL, NULL);
    for (uint64_t i = 0; i + ROWS <= n; i += ROWS) {
        for (int r = 0; r < ROWS; r++) {
            const struct gt_ring_record *x = &rec[i + (uint64_t)r];
            const int64_t v[COLS] = {(int64_t)(i + (uint64_t)r + 1),
                                     x->ts_ns,
                                     1,
                                     x->tid,
                                     x->device,
                                     (int64_t)x->stream,
                                     x->kind == GT_RING_KIND_ALLOC ? GT_EV_ALLOC : GT_EV_FREE,
                                     (int64_t)x->addr,
                                     0,
                                     (int64_t)x->size,
                                     0};
            for (int c = 0; c < COLS; c++)
                sqlite3_bind_int64(st, r * COLS + c + 1, v[c]);
        }
        if (sqlite3_step(st) != SQLITE_DONE)
            die(path, sqlite3_errmsg(db));
        sqlite3_reset(st);
        if ((i / ROWS) % 1024 == 1023)
            sqlite3_exec(db, "COMMIT; BEGIN", NULL, NULL, NULL);
    }
    sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return now_s() - t0;
}

static void remove_files(const char *dir)
{
    char path[4096], name[64];
    const char *names[] = {"drain.db", "writer.db", "sql.db"};

    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        join(path, dir, names[i]);
        unlink(path);
    }
    snprintf(name, sizeof name, "ring-%ld.bin", (long)getpid());
    join(path, dir, name);
    unlink(path);
    rmdir(dir);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {{"events", required_argument, NULL, 'n'},
                                         {"seed", required_argument, NULL, 's'},
                                         {"dir", required_argument, NULL, 'd'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    uint64_t n = 2000000, seed = 1;
    const char *base = getenv("TMPDIR") != NULL ? getenv("TMPDIR") : "/tmp";
    int c;

    while ((c = getopt_long(argc, argv, "n:s:d:h", opts, NULL)) != -1) {
        char *end;
        errno = 0;
        switch (c) {
        case 'n':
        case 's': {
            unsigned long long v = strtoull(optarg, &end, 10);
            if (errno != 0 || *end != '\0' || v == 0 || v > (1ull << 26))
                die("bad number", optarg);
            *(c == 'n' ? &n : &seed) = v;
            break;
        }
        case 'd':
            base = optarg;
            break;
        case 'h':
            printf("Usage: bench_drain [--events N] [--seed N] [--dir DIR]\n");
            return 0;
        default:
            return 2;
        }
    }
    char dir[4096], path[4096];
    join(dir, base, "gt-bench-drain.XXXXXX");
    if (mkdtemp(dir) == NULL)
        die(dir, strerror(errno));
    printf("events      %" PRIu64 " (seed %" PRIu64 ") in %s\n", n, seed, dir);

    struct gt_ring_record *rec = malloc(n * sizeof *rec);
    if (rec == NULL)
        die("records", "out of memory");
    make_records(rec, n, seed);
    join(path, dir, "sql.db");
    double t_sql = time_sql(path, rec, n);
    join(path, dir, "writer.db");
    double t_writer = time_writer(path, rec, n);
    free(rec);

    write_ring(dir, n, seed);
    int64_t events;
    join(path, dir, "drain.db");
    double t_drain = time_drain(dir, path, &events);
    int64_t count;
    uint64_t sizes, addrs;
    checksum(path, &count, &sizes, &addrs);
    remove_files(dir);

    printf("sql         %.3f s: %.2f M rows/s (SQL INSERT, 64 rows a statement)\n", t_sql,
           (double)n / t_sql / 1e6);
    printf("writer      %.3f s: %.2f M events/s (gt_trace_append), %.2fx sql\n", t_writer,
           (double)n / t_writer / 1e6, t_sql / t_writer);
    printf("drain       %.3f s: %.2f M events/s from the ring into the trace, %.2fx the target "
           "of %.0f M\n",
           t_drain, (double)events / t_drain / 1e6, (double)events / t_drain / TARGET_EVENTS_PER_S,
           TARGET_EVENTS_PER_S / 1e6);
    printf("checksum    %" PRId64 " events, sizes %" PRIu64 ", addrs %" PRIu64 "\n", count, sizes,
           addrs);
    return count == (int64_t)n ? 0 : 1;
}
