/* Tests of record.h (the drain of `gpu-trace record`): ring files are
 * written by hand here, the way ring.h tells a producer to (create, size,
 * map, header, magic last; claim with head, fill, publish), and the trace
 * the drain writes is read back with plain SQL. */
#include <check.h>
#include <dirent.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "gputrace/err.h"
#include "gputrace/record.h"
#include "gputrace/ring.h"
#include "gputrace/schema.h"
#include "gputrace/trace.h"

#include "gputrace/banned.h"

#define CAP 16u /* records per test ring: small, so overruns are cheap to make */

static char dir[PATH_MAX];       /* the ring folder */
static char trace[PATH_MAX + 8]; /* the trace, outside the ring folder */
static struct gt_trace_writer *writer;
static char notes[8][512]; /* what the drain notified, in order */
static int nnotes;

static void remove_dir(const char *path)
{
    DIR *d = opendir(path);
    struct dirent *e;
    char p[PATH_MAX + 300];

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", path, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(path);
}

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/gt-test-record-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(trace, sizeof trace, "%s.db", dir);
    ck_assert_int_eq(gt_trace_create(trace, &writer, NULL, 0), GT_OK);
    nnotes = 0;
}

static void teardown(void)
{
    gt_trace_writer_close(writer);
    writer = NULL;
    remove_dir(dir);
    unlink(trace);
}

static void note(void *ctx, const char *msg)
{
    (void)ctx;
    if (nnotes < 8)
        snprintf(notes[nnotes++], sizeof notes[0], "%s", msg);
}

static struct gt_drain *drain_open(enum gt_drain_mode mode)
{
    struct gt_drain_options o = {.mode = mode, .notify = note};
    struct gt_drain *d = NULL;
    char err[256] = "";

    ck_assert_int_eq(gt_drain_open(dir, writer, &o, &d, err, sizeof err), GT_OK);
    return d;
}

/* A pid that no process has: a child that exited and was reaped. */
static int64_t dead_pid(void)
{
    pid_t pid = fork();

    ck_assert_int_ge(pid, 0);
    if (pid == 0)
        _exit(0);
    ck_assert_int_eq(waitpid(pid, NULL, 0), pid);
    return pid;
}

/* Creates ring-<pid>.bin of CAP records as a producer does and returns its
 * mapping; the magic is stored last, with release order. */
static struct gt_ring_header *ring_create(int64_t pid, int64_t rank, int64_t anchor,
                                          const char *command)
{
    char path[PATH_MAX + 64];
    size_t bytes = (size_t)GT_RING_BYTES(CAP);
    struct gt_ring_header *h;
    int fd;

    snprintf(path, sizeof path, "%s/ring-%" PRId64 ".bin", dir, pid);
    fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(ftruncate(fd, (off_t)bytes), 0);
    h = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ck_assert_ptr_ne(h, MAP_FAILED);
    close(fd);
    h->version = GT_RING_VERSION;
    h->record_size = sizeof(struct gt_ring_record);
    h->capacity = CAP;
    h->frames_bytes = GT_RING_FRAMES_BYTES;
    h->pid = pid;
    h->ppid = 1;
    h->rank = rank;
    h->realtime_anchor_ns = 1700000000000000000 + anchor;
    h->monotonic_anchor_ns = anchor;
    atomic_store(&h->status, GT_RING_ACTIVE);
    snprintf(h->command, sizeof h->command, "%s", command);
    atomic_thread_fence(memory_order_release);
    *(volatile uint32_t *)&h->magic = GT_RING_MAGIC;
    return h;
}

static void ring_unmap(struct gt_ring_header *h)
{
    munmap(h, (size_t)GT_RING_BYTES(CAP));
}

/* Claims the next index (as the producer's atomic_fetch_add). */
static uint64_t claim(struct gt_ring_header *h)
{
    return atomic_fetch_add(&h->head, 1);
}

/* Fills the claimed slot i and, if publish, publishes it. */
static void fill(struct gt_ring_header *h, uint64_t i, uint32_t kind, int32_t result, int64_t enter,
                 int64_t ts, uint64_t addr, uint64_t size, bool publish)
{
    struct gt_ring_record *r = &h->records[i % CAP];

    r->kind = kind;
    r->result = result;
    r->domain = 1;
    r->cbid = 20;
    r->device = 0;
    r->nested = 0;
    r->tid = 7;
    r->ts_ns = ts;
    r->enter_ns = enter;
    r->stream = 0x5000;
    r->addr = addr;
    r->size = size;
    if (publish)
        atomic_store_explicit(&r->published, i + 1, memory_order_release);
}

/* Claims, fills and publishes one record whose call took 10 ns. */
static uint64_t put(struct gt_ring_header *h, uint32_t kind, int32_t result, int64_t ts,
                    uint64_t addr, uint64_t size)
{
    uint64_t i = claim(h);

    fill(h, i, kind, result, ts - 10, ts, addr, size, true);
    return i;
}

static void publish(struct gt_ring_header *h, uint64_t i)
{
    atomic_store_explicit(&h->records[i % CAP].published, i + 1, memory_order_release);
}

/* The frames region of a ring made by ring_create. */
static unsigned char *frames_region(struct gt_ring_header *h)
{
    return (unsigned char *)h + GT_RING_RECORDS_END(CAP);
}

/* Appends an entry to h's frames region as the producer does (ring.h):
 * `len` bytes of data after the entry header, padded to 8; `size`, when not
 * 0, is written instead of the true size (a damaged entry). */
static void frames_put(struct gt_ring_header *h, uint32_t type, uint32_t id, uint32_t arg,
                       const void *data, size_t len, uint32_t size)
{
    uint64_t used = atomic_load(&h->frames_used);
    size_t whole = (sizeof(struct gt_ring_frame_entry) + len + 7) & ~(size_t)7;
    struct gt_ring_frame_entry *e = (void *)(frames_region(h) + used);
    e->size = size != 0 ? size : (uint32_t)whole;
    e->type = type;
    e->id = id;
    e->arg = arg;
    memcpy(e->data, data, len);
    atomic_store_explicit(&h->frames_used, used + whole, memory_order_release);
}

/* Puts an ALLOC record naming Python stack `stack`. */
static void put_alloc_with_stack(struct gt_ring_header *h, int64_t ts, uint64_t addr, uint64_t size,
                                 uint32_t stack)
{
    uint64_t i = claim(h);
    fill(h, i, GT_RING_KIND_ALLOC, 0, ts - 10, ts, addr, size, false);
    h->records[i % CAP].stack = stack;
    publish(h, i);
}

/* The trace's events as "ts pid kind addr size requested result" lines. */
/* The trace through SQL, with `events` one row per event. */
static sqlite3 *sql_open(void)
{
    sqlite3 *db = NULL;
    char err[256] = "";
    ck_assert_msg(gt_trace_sql_open(trace, &db, err, sizeof err) == GT_OK, "%s", err);
    return db;
}

static const char *events_text(void)
{
    static char out[4096];
    sqlite3 *db;
    sqlite3_stmt *st;
    size_t n = 0;

    out[0] = '\0';
    db = sql_open();
    ck_assert_int_eq(sqlite3_prepare_v2(db,
                                        "SELECT ts_ns, pid, kind, addr, size, requested, result"
                                        " FROM events ORDER BY seq",
                                        -1, &st, NULL),
                     SQLITE_OK);
    while (sqlite3_step(st) == SQLITE_ROW && n < sizeof out - 100)
        n += (size_t)snprintf(out + n, sizeof out - n, "%lld %lld %d %lld %lld %lld %d\n",
                              sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1),
                              sqlite3_column_int(st, 2), sqlite3_column_int64(st, 3),
                              sqlite3_column_int64(st, 4), sqlite3_column_int64(st, 5),
                              sqlite3_column_int(st, 6));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

/* One SQL value as text ("" for no row). */
static const char *query(const char *sql)
{
    static char out[1024];
    sqlite3 *db;
    sqlite3_stmt *st;

    out[0] = '\0';
    db = sql_open();
    ck_assert_int_eq(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL)
        snprintf(out, sizeof out, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
    return out;
}

/* The stack of the event allocating `size` bytes, "name@file:line" from the
 * innermost frame out, "" when it has none. */
static const char *stack_text(uint64_t size)
{
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT group_concat(name || '@' || filename || ':' || line, ' < ') FROM"
             " (SELECT f.name, f.filename, f.line FROM events e"
             " JOIN event_stacks es ON es.seq = e.seq JOIN stacks s ON s.stack = es.stack"
             " JOIN frames f ON f.frame = s.frame WHERE e.requested = %llu ORDER BY s.depth)",
             (unsigned long long)size);
    return query(sql);
}

static void close_all(struct gt_drain *d, struct gt_drain_stats *st)
{
    ck_assert_int_eq(gt_drain_close(d, st), GT_OK);
    ck_assert_int_eq(gt_trace_writer_close(writer), GT_OK);
    writer = NULL;
}

static int64_t monotonic_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ------------------------------------------------------------------ tests */

START_TEST(two_processes_merge_by_time_on_the_earliest_anchor)
{
    int64_t a = getpid(), b = getppid();
    struct gt_ring_header *ha = ring_create(a, 0, 1000, "python train.py");
    struct gt_ring_header *hb = ring_create(b, 1, 1050, "python worker.py --rank 1");
    struct gt_drain *d = drain_open(GT_DRAIN_REQUESTS);
    char want[512];

    put(ha, GT_RING_KIND_ALLOC, 0, 1100, 0xa000, 512);
    put(ha, GT_RING_KIND_FREE, 0, 1310, 0xa000, 0); /* called at 1300 */
    put(hb, GT_RING_KIND_ALLOC, 0, 1200, 0xb000, 1024);
    put(hb, GT_RING_KIND_ALLOC, 0, 1400, 0xb100, 64);
    ck_assert_int_eq(gt_drain_poll(d, GT_DRAIN_FLUSH), GT_OK);
    close_all(d, NULL);
    /* ts from the earliest anchor (1000); the free at its call's start. */
    snprintf(want, sizeof want,
             "100 %" PRId64 " 1 40960 0 512 0\n"
             "200 %" PRId64 " 1 45056 0 1024 0\n"
             "300 %" PRId64 " 2 40960 0 0 0\n"
             "400 %" PRId64 " 1 45312 0 64 0\n",
             a, b, a, b);
    ck_assert_str_eq(events_text(), want);
    ck_assert_str_eq(query("SELECT group_concat(rank || ':' || command, '|') FROM"
                           " (SELECT * FROM processes ORDER BY rank)"),
                     "0:python train.py|1:python worker.py --rank 1");
    ring_unmap(ha);
    ring_unmap(hb);
}
END_TEST

START_TEST(a_free_that_made_room_sorts_before_the_allocation_that_reused_it)
{
    struct gt_ring_header *h = ring_create(getpid(), -1, 0, "app");
    struct gt_drain *d = drain_open(GT_DRAIN_REQUESTS);
    uint64_t i;

    /* Thread 2's cudaMalloc got 0xa000 back at 500, while thread 1's
     * cudaFree(0xa000), called at 400, published only at 600. */
    put(h, GT_RING_KIND_ALLOC, 0, 100, 0xa000, 256);
    put(h, GT_RING_KIND_ALLOC, 0, 500, 0xa000, 128);
    i = claim(h);
    fill(h, i, GT_RING_KIND_FREE, 0, 400, 600, 0xa000, 0, true);
    ck_assert_int_eq(gt_drain_poll(d, GT_DRAIN_FLUSH), GT_OK);
    close_all(d, NULL);
    char want[256];
    snprintf(want, sizeof want,
             "100 %d 1 40960 0 256 0\n400 %d 2 40960 0 0 0\n500 %d 1 40960 0 128 0\n",
             (int)getpid(), (int)getpid(), (int)getpid());
    ck_assert_str_eq(events_text(), want);
    ring_unmap(h);
}
END_TEST

START_TEST(the_driver_description_in_a_ring_names_the_device)
{
    struct gt_ring_header *h = ring_create(getpid(), -1, 0, "app");
    struct gt_drain *d = drain_open(GT_DRAIN_REQUESTS);
    struct gt_drain_stats st;

    snprintf(h->devices[0].name, sizeof h->devices[0].name, "Card\001A");
    h->devices[0].total_memory = 24ull << 30;
    atomic_store(&h->devices[0].state, 2);
    put(h, GT_RING_KIND_ALLOC, 0, 100, 0xa000, 4096);
    put(h, GT_RING_KIND_END, 0, 800, 0, 0);
    ck_assert_int_eq(gt_drain_poll(d, GT_DRAIN_FLUSH), GT_OK);
    close_all(d, &st);
    /* the control character of another process's text is replaced */
    ck_assert_str_eq(query("SELECT device || ':' || name || ':' || total_memory FROM devices"),
                     "0:Card?A:25769803776");
    ring_unmap(h);
}
END_TEST

START_TEST(requests_mode_maps_tensors_oom_probes_and_pinned_memory)
{
    struct gt_ring_header *h = ring_create(getpid(), -1, 0, "app");
    struct gt_drain *d = drain_open(GT_DRAIN_REQUESTS);
    struct gt_drain_stats st;

    put(h, GT_RING_KIND_ALLOC, 0, 100, 0xa000, 4096);
    put(h, GT_RING_KIND_ALLOC, 2, 200, 0, 1u << 30); /* cudaErrorMemoryAllocation */
    put(h, GT_RING_KIND_MEMINFO, 0, 210, 1000, 80u << 20);
    put(h, GT_RING_KIND_FREE, 0, 310, 0xa000, 0);
    put(h, GT_RING_KIND_FREE, 0, 350, 0, 0); /* cudaFree(NULL): frees nothing */
    put(h, GT_RING_KIND_HOST_ALLOC, 0, 400, 0x7000, 2048);
    put(h, GT_RING_KIND_HOST_FREE, 0, 510, 0x7000, 0);
    put(h, GT_RING_KIND_VMM_MAP, 0, 600, 0xc000, 2u << 20);
    put(h, GT_RING_KIND_VMM_CREATE, 0, 700, 0x1, 2u << 20);
    put(h, GT_RING_KIND_END, 0, 800, 0, 0);
    ck_assert_int_eq(gt_drain_poll(d, GT_DRAIN_FLUSH), GT_OK);
    ck_assert(gt_drain_done(d));
    close_all(d, &st);
    char want[512];
    int p = (int)getpid();
    snprintf(want, sizeof want,
             "100 %d 1 40960 0 4096 0\n"
             "200 %d 1 0 0 1073741824 2\n"
             "300 %d 2 40960 0 0 0\n"
             "400 %d 9 28672 2048 2048 0\n"
             "500 %d 10 28672 0 0 0\n",
             p, p, p, p, p);
    ck_assert_str_eq(events_text(), want);
    ck_assert_int_eq(st.events, 5);
    ck_assert_int_eq(st.ignored, 4); /* MEMINFO, cudaFree(NULL), VMM_MAP, VMM_CREATE */
    ck_assert_int_eq(st.lost, 0);
    ck_assert_int_eq(st.failed_requests, 1);
    /* The card's size came from cudaMemGetInfo's total. */
    ck_assert_str_eq(query("SELECT device || ':' || name || ':' || total_memory FROM devices"),
                     "0::83886080");
    ck_assert_str_eq(query("SELECT value FROM meta WHERE key = 'lost_events'"), "0");
    ck_assert_str_eq(query("SELECT value FROM meta WHERE key = 'clock_base_realtime_ns'"),
                     "1700000000000000000");
    ring_unmap(h);
}
END_TEST

/* PyTorch's cacheInfo under backend:cudaMallocAsync: cudaMemGetInfo, a
 * guess of the free memory halved after each failure, the success freed at
 * once. The whole probe leaves the request stream; the tensor stays. */
START_TEST(requests_mode_drops_cudnn_workspace_probes)
{
    struct gt_ring_header *h = ring_create(getpid(), -1, 0, "app");
    struct gt_drain *d = drain_open(GT_DRAIN_REQUESTS);
    struct gt_drain_stats st;
    const uint64_t free_now = 3000u << 20, total = 8ull << 30;

    put(h, GT_RING_KIND_MEMINFO, 0, 100, free_now, total);
    put(h, GT_RING_KIND_ALLOC, 2, 110, 0, free_now);
    put(h, GT_RING_KIND_ALLOC, 2, 120, 0, free_now >> 1);
    /* free_now >> 2 was over PyTorch's own limit: halved without a call */
    put(h, GT_RING_KIND_ALLOC, 0, 130, 0xb000, free_now >> 3);
    put(h, GT_RING_KIND_FREE, 0, 140, 0xb000, 0);
    put(h, GT_RING_KIND_ALLOC, 0, 200, 0xa000, 4096);
    put(h, GT_RING_KIND_END, 0, 800, 0, 0);
    ck_assert_int_eq(gt_drain_poll(d, GT_DRAIN_FLUSH), GT_OK);
    close_all(d, &st);
    char want[128];
    snprintf(want, sizeof want, "200 %d 1 40960 0 4096 0\n", (int)getpid());
    ck_assert_str_eq(events_text(), want);
    ck_assert_int_eq(st.probes, 4);
    ck_assert_int_eq(st.events, 1);
    /* The probe's failures left the trace, so they are no OOM of the run. */
    ck_assert_int_eq(st.failed_requests, 0);
    ck_assert_str_eq(query("SELECT value FROM meta WHERE key = 'probe_events_dropped'"), "4");
    ring_unmap(h);
}
END_TEST

/* Near misses are the program's own requests and stay: a guess that is not
 * a halving, a success not freed at once, a first guess over the free
 * memory reported. */
START_TEST(requests_mode_keeps_what_only_looks_like_a_probe)
{
    struct gt_ring_header *h = ring_create(getpid(), -1, 0, "app");
    struct gt_drain *d = drain_open(GT_DRAIN_REQUESTS);
    struct gt_drain_stats st;

    put(h, GT_RING_KIND_MEMINFO, 0, 100, 1000, 1u << 30);
    put(h, GT_RING_KIND_ALLOC, 2, 110, 0, 1000);
    put(h, GT_RING_KIND_ALLOC, 0, 120, 0xb000, 600); /* not 1000 >> k */
    put(h, GT_RING_KIND_FREE, 0, 130, 0xb000, 0);
    put(h, GT_RING_KIND_MEMINFO, 0, 200, 1000, 1u << 30);
    put(h, GT_RING_KIND_ALLOC, 0, 210, 0xc000, 1000);
    put(h, GT_RING_KIND_ALLOC, 0, 220, 0xd000, 64); /* before the free */
    put(h, GT_RING_KIND_FREE, 0, 230, 0xc000, 0);
    put(h, GT_RING_KIND_MEMINFO, 0, 300, 1000, 1u << 30);
    put(h, GT_RING_KIND_ALLOC, 0, 310, 0xe000, 2000); /* more than was free */
    put(h, GT_RING_KIND_FREE, 0, 320, 0xe000, 0);
    put(h, GT_RING_KIND_END, 0, 800, 0, 0);
    ck_assert_int_eq(gt_drain_poll(d, GT_DRAIN_FLUSH), GT_OK);
    close_all(d, &st);
    ck_assert_int_eq(st.probes, 0);
    ck_assert_int_eq(st.events, 8);
    ck_assert_str_eq(query("SELECT value FROM meta WHERE key = 'probe_events_dropped'"), "0");
    ring_unmap(h);
}
END_TEST

START_TEST(native_mode_maps_segments_their_free_sizes_and_ooms)
{
    struct gt_ring_header *h = ring_create(getpid(), -1, 0, "app");
    struct gt_drain *d = drain_open(GT_DRAIN_NATIVE);
    struct gt_drain_stats st;

    put(h, GT_RING_KIND_ALLOC, 0, 100, 0xa000, 20u << 20);
    put(h, GT_RING_KIND_ALLOC, 2, 200, 0, 1u << 30);
    put(h, GT_RING_KIND_FREE, 0, 310, 0xa000, 0);
    put(h, GT_RING_KIND_VMM_CREATE, 0, 400, 0x1, 2u << 20);
    put(h, GT_RING_KIND_VMM_MAP, 0, 500, 0xc000, 2u << 20);
    put(h, GT_RING_KIND_VMM_UNMAP, 0, 610, 0xc000, 2u << 20);
    put(h, GT_RING_KIND_VMM_CREATE, 2, 700, 0, 20u << 20); /* expandable segments' OOM */
    put(h, GT_RING_KIND_FREE, 1, 810, 0xdead, 0);          /* a failed free frees nothing */
    put(h, GT_RING_KIND_HOST_ALLOC, 0, 900, 0x7000, 64);
    ck_assert_int_eq(gt_drain_poll(d, GT_DRAIN_FLUSH), GT_OK);
    close_all(d, &st);
    ck_assert_int_eq(st.failed_requests, 2); /* the two oom events */
    char want[512];
    int p = (int)getpid();
    snprintf(want, sizeof want,
             "100 %d 3 40960 20971520 0 0\n"
             "200 %d 7 0 0 1073741824 2\n"
             "300 %d 4 40960 20971520 0 0\n"
             "500 %d 5 49152 2097152 0 0\n"
             "600 %d 6 49152 2097152 0 0\n"
             "700 %d 7 0 0 20971520 2\n"
             "900 %d 9 28672 64 64 0\n",
             p, p, p, p, p, p, p);
    ck_assert_str_eq(events_text(), want);
    ring_unmap(h);
}
END_TEST

START_TEST(nested_driver_records_are_skipped_and_counted)
{
    struct gt_ring_header *h = ring_create(getpid(), -1, 0, "app");
    struct gt_drain *d = drain_open(GT_DRAIN_NATIVE);
    struct gt_drain_stats st;
    uint64_t i;

    /* cudaMalloc and the cuMemAlloc_v2 inside it: one segment, not two. */
    i = claim(h);
    fill(h, i, GT_RING_KIND_ALLOC, 0, 110, 120, 0xa000, 2u << 20, false);
    h->records[i % CAP].nested = 1;
    publish(h, i);
    put(h, GT_RING_KIND_ALLOC, 0, 130, 0xa000, 2u << 20);
    ck_assert_int_eq(gt_drain_poll(d, GT_DRAIN_FLUSH), GT_OK);
    close_all(d, &st);
    ck_assert_int_eq(st.nested, 1);
    ck_assert_int_eq(st.events, 1);
    ck_assert_str_eq(query("SELECT count(*) || ':' || kind FROM events"), "1:3");
    ring_unmap(h);
}
END_TEST

START_TEST(dropped_records_and_counts_become_lost_events_once_each)
{
    struct gt_ring_header *ha = ring_create(getpid(), 0, 0, "a");
    struct gt_ring_header *hb = ring_create(getppid(), 1, 0, "b");
    struct gt_drain *d = drain_open(GT_DRAIN_REQUESTS);
    struct gt_drain_stats st;

    /* a: two losses counted in the header and announced by one DROPPED
     * record (the count in size) when the ring had room again; b: three
     * counted in the header, not announced yet. */
    put(ha, GT_RING_KIND_DROPPED, 0, 90, 0, 2);
    put(ha, GT_RING_KIND_ALLOC, 0, 100, 0xa000, 8);
    atomic_store(&ha->dropped, 2);
    atomic_store(&hb->dropped, 3);
    put(hb, GT_RING_KIND_ALLOC, 0, 200, 0xb000, 8);
    ck_assert_int_eq(gt_drain_poll(d, GT_DRAIN_FLUSH), GT_OK);
    close_all(d, &st);
    ck_assert_int_eq(st.events, 2);
    ck_assert_int_eq(st.lost, 5);
    ck_assert_str_eq(query("SELECT value FROM meta WHERE key = 'lost_events'"), "5");
    ring_unmap(ha);
    ring_unmap(hb);
}
END_TEST

START_TEST(an_unpublished_slot_waits_for_a_live_producer)
{
    struct gt_ring_header *h = ring_create(getpid(), -1, 0, "app");
    struct gt_drain *d = drain_open(GT_DRAIN_REQUESTS);
    struct gt_drain_stats st;
    uint64_t i;

    put(h, GT_RING_KIND_ALLOC, 0, 100, 0xa000, 8);
    i = claim(h);
    fill(h, i, GT_RING_KIND_ALLOC, 0, 190, 200, 0xb000, 16, false);
    put(h, GT_RING_KIND_ALLOC, 0, 300, 0xc000, 32);
    ck_assert_int_eq(gt_drain_poll(d, GT_DRAIN_FLUSH), GT_OK);
    gt_drain_stats(d, &st);
    ck_assert_int_eq(st.events, 1);
    ck_assert_int_eq(atomic_load(&h->tail), 1); /* the producer sees the space it got back */
    ck_assert(!gt_drain_done(d));
    publish(h, i);
    ck_assert_int_eq(gt_drain_poll(d, GT_DRAIN_FLUSH), GT_OK);
    gt_drain_stats(d, &st);
    ck_assert_int_eq(st.events, 3);
    ck_assert_int_eq(st.lost, 0);
    ck_assert_int_eq(atomic_load(&h->tail), 3);
    /* Everything read, but no END yet and the producer lives. */
    ck_assert(!gt_drain_done(d));
    gt_drain_exited(d, getpid());
    ck_assert(gt_drain_done(d));
    close_all(d, NULL);
    ring_unmap(h);
}
END_TEST

START_TEST(an_unpublished_slot_of_a_dead_process_is_skipped_and_counted)
{
    struct gt_ring_header *h = ring_create(dead_pid(), -1, 0, "killed");
    struct gt_drain *d = drain_open(GT_DRAIN_REQUESTS);
    struct gt_drain_stats st;
    uint64_t i;

    put(h, GT_RING_KIND_ALLOC, 0, 100, 0xa000, 8);
    i = claim(h); /* SIGKILL between claim and publish */
    fill(h, i, GT_RING_KIND_ALLOC, 0, 190, 200, 0xb000, 16, false);
    put(h, GT_RING_KIND_ALLOC, 0, 300, 0xc000, 32);
    ck_assert_int_eq(gt_drain_poll(d, GT_DRAIN_FLUSH), GT_OK);
    ck_assert(gt_drain_done(d));
    close_all(d, &st);
    ck_assert_int_eq(st.events, 2);
    ck_assert_int_eq(st.lost, 1);
    ck_assert_str_eq(query("SELECT group_concat(addr) FROM events"), "40960,49152");
    ck_assert_str_eq(query("SELECT value FROM meta WHERE key = 'lost_events'"), "1");
    ring_unmap(h);
}
END_TEST

START_TEST(a_slot_overwritten_by_a_later_lap_is_lost_not_misread)
{
    struct gt_ring_header *h = ring_create(getpid(), -1, 0, "app");
    struct gt_drain *d = drain_open(GT_DRAIN_REQUESTS);
    struct gt_drain_stats st;

    /* A producer that ignored a full ring: index CAP rewrote slot 0. */
    for (unsigned k = 0; k <= CAP; k++)
        put(h, GT_RING_KIND_ALLOC, 0, 100 + k, 0x1000 + k, 8);
    ck_assert_int_eq(gt_drain_poll(d, GT_DRAIN_FLUSH), GT_OK);
    close_all(d, &st);
    ck_assert_int_eq(st.events, CAP);
    ck_assert_int_eq(st.lost, 1);
    ring_unmap(h);
}
END_TEST

START_TEST(damaged_and_foreign_ring_files_are_reported_and_skipped)
{
    char path[PATH_MAX + 64];
    struct gt_ring_header *good = ring_create(getpid(), -1, 0, "app");
    struct gt_ring_header *bad = ring_create(getppid(), -1, 0, "bad magic");
    int64_t dead = dead_pid();
    struct gt_drain_stats st;
    int fd;

    bad->magic = 0x12345678;
    /* Right magic, wrong size: a capacity the file cannot hold. */
    snprintf(path, sizeof path, "%s/ring-%" PRId64 ".bin", dir, dead);
    fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    ck_assert_int_ge(fd, 0);
    struct gt_ring_header hdr = {.magic = GT_RING_MAGIC,
                                 .version = GT_RING_VERSION,
                                 .record_size = sizeof(struct gt_ring_record),
                                 .capacity = 1u << 20,
                                 .pid = dead};
    ck_assert_int_eq(write(fd, &hdr, sizeof hdr), (ssize_t)sizeof hdr);
    close(fd);
    /* Names that are not rings are none of the drain's business. */
    snprintf(path, sizeof path, "%s/notes.txt", dir);
    fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    ck_assert_int_ge(fd, 0);
    close(fd);

    struct gt_drain *d = drain_open(GT_DRAIN_REQUESTS);
    put(good, GT_RING_KIND_ALLOC, 0, 100, 0xa000, 8);
    ck_assert_int_eq(gt_drain_poll(d, GT_DRAIN_FLUSH), GT_OK);
    ck_assert_int_eq(gt_drain_poll(d, GT_DRAIN_FLUSH), GT_OK); /* reported once */
    close_all(d, &st);
    ck_assert_int_eq(st.events, 1);
    ck_assert_int_eq(st.processes, 1);
    ck_assert_int_eq(st.bad_files, 2);
    ck_assert_int_eq(nnotes, 2);
    char want1[128], want2[128];
    snprintf(want1, sizeof want1, "ring-%d.bin': bad magic", (int)getppid());
    snprintf(want2, sizeof want2, "ring-%" PRId64 ".bin': file size does not match", dead);
    ck_assert(strstr(notes[0], want1) || strstr(notes[1], want1));
    ck_assert(strstr(notes[0], want2) || strstr(notes[1], want2));
    ring_unmap(good);
    ring_unmap(bad);
}
END_TEST

START_TEST(a_ring_being_set_up_waits_while_its_producer_lives)
{
    char path[PATH_MAX + 64];
    struct gt_drain *d = drain_open(GT_DRAIN_REQUESTS);
    int64_t dead = dead_pid();
    int fd;

    /* Created, not yet sized: a live producer is mid-setup. */
    snprintf(path, sizeof path, "%s/ring-%d.bin", dir, (int)getpid());
    fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    ck_assert_int_ge(fd, 0);
    close(fd);
    snprintf(path, sizeof path, "%s/ring-%" PRId64 ".bin", dir, dead);
    fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
    ck_assert_int_ge(fd, 0);
    close(fd);
    ck_assert_int_eq(gt_drain_poll(d, GT_DRAIN_FLUSH), GT_OK);
    ck_assert_int_eq(nnotes, 1); /* only the dead one */
    ck_assert_ptr_nonnull(strstr(notes[0], "exited before the ring was set up"));
    ck_assert(!gt_drain_done(d));
    unlink(path);
    snprintf(path, sizeof path, "%s/ring-%d.bin", dir, (int)getpid());
    unlink(path);
    struct gt_ring_header *h = ring_create(getpid(), -1, 0, "app");
    put(h, GT_RING_KIND_ALLOC, 0, 100, 0xa000, 8);
    ck_assert_int_eq(gt_drain_poll(d, GT_DRAIN_FLUSH), GT_OK);
    struct gt_drain_stats st;
    close_all(d, &st);
    ck_assert_int_eq(st.events, 1);
    ring_unmap(h);
}
END_TEST

START_TEST(an_unavailable_tracer_is_reported_once_and_stored)
{
    struct gt_ring_header *h = ring_create(getpid(), -1, 0, "app");
    struct gt_drain *d = drain_open(GT_DRAIN_REQUESTS);
    char want[256];

    snprintf(h->status_msg, sizeof h->status_msg, "libcupti.so.13 not found");
    atomic_store(&h->status, GT_RING_UNAVAILABLE);
    put(h, GT_RING_KIND_END, 0, 100, 0, 0);
    ck_assert_int_eq(gt_drain_poll(d, 0), GT_OK);
    ck_assert_int_eq(gt_drain_poll(d, 0), GT_OK);
    struct gt_drain_stats st;
    close_all(d, &st);
    snprintf(want, sizeof want, "%d: libcupti.so.13 not found", (int)getpid());
    ck_assert_int_eq(nnotes, 1);
    ck_assert_str_eq(notes[0], want);
    ck_assert_int_eq(st.unavailable, 1);
    ck_assert_str_eq(query("SELECT value FROM meta WHERE key = 'tracer_status'"), want);
    ring_unmap(h);
}
END_TEST

START_TEST(python_stacks_reach_the_trace_as_their_process_defined_them)
{
    struct gt_ring_header *h = ring_create(getpid(), 0, 0, "python train.py");
    struct gt_drain *d = drain_open(GT_DRAIN_REQUESTS);
    static const char f1[] = "train.py\0step", f2[] = "train.py\0<module>";
    uint32_t one[] = {1, 2}, two[] = {2};

    frames_put(h, GT_RING_FRAME, 1, 12, f1, sizeof f1, 0);
    frames_put(h, GT_RING_FRAME, 2, 40, f2, sizeof f2, 0);
    frames_put(h, GT_RING_STACK, 1, 2, one, sizeof one, 0);
    put_alloc_with_stack(h, 100, 0xa000, 512, 1);
    put_alloc_with_stack(h, 200, 0xb000, 1024, GT_RING_STACK_NO_GIL);
    put_alloc_with_stack(h, 300, 0xc000, 2048, 9); /* never defined */
    put_alloc_with_stack(h, 400, 0xd000, 4096, GT_RING_STACK_NONE);
    /* Defined after the poll that read the first records: read on demand. */
    ck_assert_int_eq(gt_drain_poll(d, GT_DRAIN_FLUSH), GT_OK);
    frames_put(h, GT_RING_STACK, 2, 1, two, sizeof two, 0);
    put_alloc_with_stack(h, 500, 0xe000, 8192, 2);
    ck_assert_int_eq(gt_drain_poll(d, GT_DRAIN_FLUSH), GT_OK);
    close_all(d, NULL);
    ck_assert_str_eq(stack_text(512), "step@train.py:12 < <module>@train.py:40");
    ck_assert_str_eq(stack_text(1024),
                     "<no Python stack: the allocating thread did not hold the GIL>@<gpu-trace>:0");
    ck_assert_str_eq(stack_text(2048), "");
    ck_assert_str_eq(stack_text(4096), "");
    ck_assert_str_eq(stack_text(8192), "<module>@train.py:40");
    ck_assert_int_eq(nnotes, 0);
    ring_unmap(h);
}
END_TEST

/* Each way a frames region can be damaged: told once, the events kept,
 * the stacks defined before the damage kept, none after. */
START_TEST(a_damaged_frames_region_is_told_once_and_costs_only_stacks)
{
    static const char good[] = "a.py\0f", unterminated[8] = "abcdefgh";
    uint32_t bad_frame[] = {5}, ok[] = {1};
    for (int damage = 0; damage < 5; damage++) {
        nnotes = 0;
        if (damage > 0) /* a new trace for each: close_all closed the last */
            ck_assert_int_eq(gt_trace_create(trace, &writer, NULL, 0), GT_OK);
        struct gt_ring_header *h = ring_create(getpid(), 0, 0, "python");
        struct gt_drain *d = drain_open(GT_DRAIN_REQUESTS);
        frames_put(h, GT_RING_FRAME, 1, 3, good, sizeof good, 0);
        frames_put(h, GT_RING_STACK, 1, 1, ok, sizeof ok, 0);
        put_alloc_with_stack(h, 100, 0xa000, 512, 1);
        ck_assert_int_eq(gt_drain_poll(d, GT_DRAIN_FLUSH), GT_OK);
        switch (damage) {
        case 0: /* a size beyond what was published */
            frames_put(h, GT_RING_FRAME, 2, 3, good, sizeof good, 4096);
            break;
        case 1: /* names without their NUL */
            frames_put(h, GT_RING_FRAME, 2, 3, unterminated, sizeof unterminated, 0);
            break;
        case 2: /* a stack of a frame never defined */
            frames_put(h, GT_RING_STACK, 2, 1, bad_frame, sizeof bad_frame, 0);
            break;
        case 3: /* out of order */
            frames_put(h, GT_RING_STACK, 7, 1, ok, sizeof ok, 0);
            break;
        default: /* a used count beyond the region */
            atomic_store(&h->frames_used, (uint64_t)GT_RING_FRAMES_BYTES + 8);
            break;
        }
        put_alloc_with_stack(h, 200, 0xb000, 1024, 2);
        put_alloc_with_stack(h, 300, 0xc000, 2048, 1);
        ck_assert_int_eq(gt_drain_poll(d, GT_DRAIN_FLUSH), GT_OK);
        ck_assert_int_eq(gt_drain_poll(d, GT_DRAIN_FLUSH), GT_OK);
        struct gt_drain_stats st;
        close_all(d, &st);
        ck_assert_int_eq(st.events, 3);
        ck_assert_msg(nnotes == 1 && strstr(notes[0], "frames region damaged") != NULL,
                      "damage %d: %d notes, first '%s'", damage, nnotes, nnotes ? notes[0] : "");
        ck_assert_str_eq(stack_text(512), "f@a.py:3");
        ck_assert_str_eq(stack_text(1024), "");
        ck_assert_str_eq(stack_text(2048), "f@a.py:3");
        ring_unmap(h);
        char path[PATH_MAX + 64];
        snprintf(path, sizeof path, "%s/ring-%d.bin", dir, (int)getpid());
        unlink(path);
        unlink(trace);
    }
}
END_TEST

START_TEST(recent_records_are_held_back_for_the_merge_until_flushed)
{
    struct gt_ring_header *h = ring_create(getpid(), -1, 0, "app");
    struct gt_drain *d = drain_open(GT_DRAIN_REQUESTS);
    struct gt_drain_stats st;

    put(h, GT_RING_KIND_ALLOC, 0, 100, 0xa000, 8);
    put(h, GT_RING_KIND_ALLOC, 0, monotonic_now(), 0xb000, 8);
    ck_assert_int_eq(gt_drain_poll(d, 0), GT_OK);
    gt_drain_stats(d, &st);
    ck_assert_int_eq(st.events, 1);
    ck_assert_int_eq(atomic_load(&h->tail), 2); /* copied out all the same */
    ck_assert_int_eq(gt_drain_close(d, &st), GT_OK);
    ck_assert_int_eq(st.events, 2);
    ring_unmap(h);
}
END_TEST

START_TEST(open_refuses_missing_arguments)
{
    struct gt_drain *d = (struct gt_drain *)1;
    char err[128] = "";

    ck_assert_int_eq(gt_drain_open(NULL, writer, NULL, &d, err, sizeof err), GT_EINVAL);
    ck_assert_ptr_null(d);
    ck_assert_str_ne(err, "");
    ck_assert_int_eq(gt_drain_close(NULL, NULL), GT_OK);
    ck_assert(gt_drain_done(NULL));
}
END_TEST

START_TEST(a_ring_folder_that_vanished_is_an_error_with_its_name)
{
    struct gt_drain *d = drain_open(GT_DRAIN_REQUESTS);

    remove_dir(dir);
    ck_assert_int_eq(gt_drain_poll(d, 0), GT_EIO);
    ck_assert_ptr_nonnull(strstr(gt_drain_errmsg(d), dir));
    ck_assert_int_eq(gt_drain_close(d, NULL), GT_EIO);
}
END_TEST

/* ------------------------------------------------------------ the trace's name */

/* Expands pattern with n; the name, or "error <code>: <message>". */
static const char *expand(const char *pattern, const struct gt_record_name *n)
{
    static char out[320]; /* room for the code and the whole message */
    char err[256] = "", name[64];
    int rc = gt_record_expand_output(pattern, n, name, sizeof name, err, sizeof err);

    if (rc != GT_OK)
        snprintf(out, sizeof out, "error %d: %s", rc, err);
    else
        snprintf(out, sizeof out, "%s", name);
    return out;
}

START_TEST(placeholders_expand_to_host_rank_pid_and_percent)
{
    struct gt_record_name n = {.host = "gpu-node-07", .rank_var = "RANK", .rank = "3", .pid = 4242};

    ck_assert_str_eq(expand("run-%h-%r.db", &n), "run-gpu-node-07-3.db");
    ck_assert_str_eq(expand("%p.db", &n), "4242.db");
    ck_assert_str_eq(expand("100%%-%h/%r%r", &n), "100%-gpu-node-07/33");
    ck_assert_str_eq(expand("plain.db", &n), "plain.db");
    ck_assert_str_eq(expand("", &n), "");
}
END_TEST

/* A host name is a file name's part: a '/' must not make a folder of it,
 * nor a space or a quote need quoting. */
START_TEST(the_host_name_is_made_a_file_name)
{
    struct gt_record_name n = {.host = "a/b c'd.example-1_x"};

    ck_assert_str_eq(expand("%h.db", &n), "a_b_c_d.example-1_x.db");
    /* Only the host: the pattern's own folders stay. */
    ck_assert_str_eq(expand("out/%h", &n), "out/a_b_c_d.example-1_x");
}
END_TEST

START_TEST(a_rank_is_a_decimal_number_without_leading_zeros)
{
    struct gt_record_name n = {.host = "h", .rank_var = "SLURM_PROCID", .rank = "007"};

    ck_assert_str_eq(expand("%r", &n), "7");
    n.rank = "0";
    ck_assert_str_eq(expand("%r", &n), "0");
    n.rank = "-1";
    ck_assert_str_eq(expand("%r", &n), "error -8: %r: SLURM_PROCID is '-1', not a rank");
    n.rank = "1x";
    ck_assert_str_eq(expand("%r", &n), "error -8: %r: SLURM_PROCID is '1x', not a rank");
    n.rank = "1234567890123456789"; /* 19 digits: more than int64_t always holds */
    ck_assert_str_eq(expand("%r", &n),
                     "error -8: %r: SLURM_PROCID is '1234567890123456789', not a rank");
    /* An unusable rank matters only to a pattern that asks for it. */
    ck_assert_str_eq(expand("%h.db", &n), "h.db");
}
END_TEST

START_TEST(a_missing_rank_or_host_is_an_error_naming_the_placeholder)
{
    struct gt_record_name n = {.host = ""};

    ck_assert_str_eq(expand("run-%r.db", &n),
                     "error -3: %r: no rank in the environment (none of RANK, SLURM_PROCID, "
                     "OMPI_COMM_WORLD_RANK, PMI_RANK is set)");
    ck_assert_str_eq(expand("run-%h.db", &n),
                     "error -3: %h: the host has no name (set GPUTRACE_HOSTNAME)");
    ck_assert_str_eq(expand("run-%p.db", &n), "run-0.db");
}
END_TEST

START_TEST(an_unknown_placeholder_or_a_lone_percent_is_a_pattern_error)
{
    struct gt_record_name n = {.host = "h", .rank_var = "RANK", .rank = "0"};

    ck_assert_str_eq(expand("run-%H.db", &n),
                     "error -7: unknown placeholder '%H' (placeholders: %h %r %p %%)");
    ck_assert_str_eq(expand("run-%\n", &n),
                     "error -7: unknown placeholder '%?' (placeholders: %h %r %p %%)");
    ck_assert_str_eq(expand("run%", &n),
                     "error -7: a '%' ends the name (write %% for a '%'; placeholders: %h %r "
                     "%p %%)");
    /* An error past the first placeholder is still found. */
    ck_assert_str_eq(expand("%h-%d.db", &n),
                     "error -7: unknown placeholder '%d' (placeholders: %h %r %p %%)");
}
END_TEST

START_TEST(a_name_that_does_not_fit_is_an_error)
{
    struct gt_record_name n = {.host = "0123456789", .pid = 1};
    char out[11], err[128] = "";

    ck_assert_int_eq(gt_record_expand_output("%h", &n, out, sizeof out, err, sizeof err), GT_OK);
    ck_assert_str_eq(out, "0123456789");
    ck_assert_int_eq(gt_record_expand_output("%h%p", &n, out, sizeof out, err, sizeof err),
                     GT_ERANGE);
    ck_assert_str_eq(err, "the name is longer than 10 bytes");
    ck_assert_int_eq(gt_record_expand_output("x", &n, out, 0, NULL, 0), GT_ERANGE);
}
END_TEST

/* The launchers' variables in their order; empty is unset. */
START_TEST(the_rank_comes_from_the_first_launcher_variable_set)
{
    static const char *const vars[] = {"RANK", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK", "PMI_RANK"};
    struct gt_record_name n;
    char host[256];

    for (size_t i = 0; i < 4; i++)
        unsetenv(vars[i]);
    gt_record_name_from_env(&n, host, sizeof host);
    ck_assert_ptr_null(n.rank_var);
    ck_assert_int_eq(n.pid, (int64_t)getpid());
    setenv("PMI_RANK", "4", 1);
    setenv("OMPI_COMM_WORLD_RANK", "3", 1);
    setenv("SLURM_PROCID", "2", 1);
    setenv("RANK", "1", 1);
    for (size_t i = 0; i < 4; i++) {
        gt_record_name_from_env(&n, host, sizeof host);
        ck_assert_str_eq(n.rank_var, vars[i]);
        ck_assert_int_eq(n.rank[0], (char)('1' + i));
        setenv(vars[i], "", 1);
    }
}
END_TEST

START_TEST(gputrace_hostname_overrides_the_host_name)
{
    struct gt_record_name n;
    char host[256], real[256];

    unsetenv(GT_RECORD_ENV_HOST);
    ck_assert_int_eq(gethostname(real, sizeof real), 0);
    real[sizeof real - 1] = '\0';
    gt_record_name_from_env(&n, host, sizeof host);
    ck_assert_str_eq(n.host, real);
    setenv(GT_RECORD_ENV_HOST, "", 1); /* empty: not set */
    gt_record_host(host, sizeof host);
    ck_assert_str_eq(host, real);
    setenv(GT_RECORD_ENV_HOST, "node-b", 1);
    gt_record_name_from_env(&n, host, sizeof host);
    ck_assert_str_eq(n.host, "node-b");
    gt_record_host(host, 4); /* cut, never unterminated */
    ck_assert_str_eq(host, "nod");
}
END_TEST

static Suite *record_suite(void)
{
    Suite *s = suite_create("record");
    TCase *tc = tcase_create("drain");
    TCase *names = tcase_create("name");

    tcase_add_test(names, placeholders_expand_to_host_rank_pid_and_percent);
    tcase_add_test(names, the_host_name_is_made_a_file_name);
    tcase_add_test(names, a_rank_is_a_decimal_number_without_leading_zeros);
    tcase_add_test(names, a_missing_rank_or_host_is_an_error_naming_the_placeholder);
    tcase_add_test(names, an_unknown_placeholder_or_a_lone_percent_is_a_pattern_error);
    tcase_add_test(names, a_name_that_does_not_fit_is_an_error);
    tcase_add_test(names, the_rank_comes_from_the_first_launcher_variable_set);
    tcase_add_test(names, gputrace_hostname_overrides_the_host_name);
    suite_add_tcase(s, names);

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, two_processes_merge_by_time_on_the_earliest_anchor);
    tcase_add_test(tc, a_free_that_made_room_sorts_before_the_allocation_that_reused_it);
    tcase_add_test(tc, requests_mode_drops_cudnn_workspace_probes);
    tcase_add_test(tc, requests_mode_keeps_what_only_looks_like_a_probe);
    tcase_add_test(tc, requests_mode_maps_tensors_oom_probes_and_pinned_memory);
    tcase_add_test(tc, the_driver_description_in_a_ring_names_the_device);
    tcase_add_test(tc, native_mode_maps_segments_their_free_sizes_and_ooms);
    tcase_add_test(tc, nested_driver_records_are_skipped_and_counted);
    tcase_add_test(tc, dropped_records_and_counts_become_lost_events_once_each);
    tcase_add_test(tc, an_unpublished_slot_waits_for_a_live_producer);
    tcase_add_test(tc, an_unpublished_slot_of_a_dead_process_is_skipped_and_counted);
    tcase_add_test(tc, a_slot_overwritten_by_a_later_lap_is_lost_not_misread);
    tcase_add_test(tc, damaged_and_foreign_ring_files_are_reported_and_skipped);
    tcase_add_test(tc, a_ring_being_set_up_waits_while_its_producer_lives);
    tcase_add_test(tc, an_unavailable_tracer_is_reported_once_and_stored);
    tcase_add_test(tc, recent_records_are_held_back_for_the_merge_until_flushed);
    tcase_add_test(tc, python_stacks_reach_the_trace_as_their_process_defined_them);
    tcase_add_test(tc, a_damaged_frames_region_is_told_once_and_costs_only_stacks);
    tcase_add_test(tc, open_refuses_missing_arguments);
    tcase_add_test(tc, a_ring_folder_that_vanished_is_an_error_with_its_name);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(record_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
