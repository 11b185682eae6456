/* The producer side of the ring (ring_writer.h). POSIX only, no CUDA: the
 * unit test compiles this file into itself. */
#define _DEFAULT_SOURCE /* MAP_POPULATE */
#include "ring_writer.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

int gt_ringw_capacity_ok(uint64_t capacity)
{
    return capacity >= 1 && capacity <= GT_RINGW_MAX_CAPACITY && (capacity & (capacity - 1)) == 0;
}

static int64_t realtime_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The command line with its NUL separators turned into spaces, so the
 * launcher can store it as one string; truncated to the header's field. */
static void read_command(char *dst, size_t cap)
{
    dst[0] = '\0';
    int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return;
    size_t len = 0;
    while (len < cap - 1) {
        ssize_t n = read(fd, dst + len, cap - 1 - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(fd);
    while (len > 0 && dst[len - 1] == '\0')
        len--;
    for (size_t i = 0; i < len; i++)
        if (dst[i] == '\0')
            dst[i] = ' ';
    dst[len] = '\0';
}

/* Gives the ring file real blocks now: a sparse file on a full disk would
 * kill the program with SIGBUS at its first publish, and allocating a block
 * inside a page fault would stall its thread. A file system without
 * fallocate keeps the sparse file. */
static int reserve_blocks(int fd, size_t bytes)
{
    int rc = posix_fallocate(fd, 0, (off_t)bytes);
    return rc == 0 || rc == EOPNOTSUPP || rc == EINVAL ? 0 : -rc;
}

int gt_ringw_open(struct gt_ringw *w, const char *dir, uint64_t capacity, int64_t rank)
{
    memset(w, 0, sizeof *w);
    if (!gt_ringw_capacity_ok(capacity) || dir == NULL || dir[0] == '\0')
        return -EINVAL;
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/ring-%ld.bin", dir, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof path)
        return -ENAMETOOLONG;

    /* O_EXCL: a ring is never shared or reused, even by a recycled pid;
     * the launcher owns the folder and cleans it. */
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return -errno;
    size_t bytes = (size_t)GT_RING_BYTES(capacity);
    void *map = MAP_FAILED;
    int err = 0;
    /* fchmod: a umask could only take bits away, but be exact anyway. */
    /* The pages are allocated (posix_fallocate) and mapped in (MAP_POPULATE)
     * here, once, so the program's thread never takes a page fault, nor
     * waits for a file system to find a block, when it publishes a record. */
    if (fchmod(fd, 0600) != 0 || ftruncate(fd, (off_t)bytes) != 0)
        err = -errno;
    if (err == 0)
        err = reserve_blocks(fd, bytes);
    if (err == 0 && (map = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                                0)) == MAP_FAILED)
        err = -errno;
    close(fd);
    if (err != 0) {
        unlink(path);
        return err;
    }

    /* ftruncate gave zeroed pages: head, tail, dropped and every record's
     * sequence word start at 0. */
    struct gt_ring_header *h = map;
    h->version = GT_RING_VERSION;
    h->record_size = sizeof(struct gt_ring_record);
    h->capacity = (uint32_t)capacity;
    h->pid = getpid();
    h->ppid = getppid();
    h->rank = rank;
    h->realtime_anchor_ns = realtime_ns();
    h->monotonic_anchor_ns = gt_ringw_now_ns();
    atomic_store_explicit(&h->status, GT_RING_STARTING, memory_order_relaxed);
    read_command(h->command, sizeof h->command);
    h->frames_bytes = GT_RING_FRAMES_BYTES;
    /* The magic last: a consumer that sees it sees a complete header. */
    __atomic_store_n(&h->magic, GT_RING_MAGIC, __ATOMIC_RELEASE);

    w->hdr = h;
    w->bytes = bytes;
    w->capacity = capacity;
    w->mask = capacity - 1;
    w->frames = (unsigned char *)map + GT_RING_RECORDS_END(capacity);
    w->frames_used = 0;
    atomic_init(&w->pending_drops, 0);
    return 0;
}

void gt_ringw_release(struct gt_ringw *w)
{
    if (w == NULL || w->hdr == NULL)
        return;
    munmap(w->hdr, w->bytes);
    memset(w, 0, sizeof *w);
}

void gt_ringw_set_status(struct gt_ringw *w, enum gt_ring_status status, const char *msg)
{
    if (w->hdr == NULL)
        return;
    /* Truncation is intended: the field is what the consumer shows. */
    size_t n = msg != NULL ? strnlen(msg, sizeof w->hdr->status_msg - 1) : 0;
    if (n > 0)
        memcpy(w->hdr->status_msg, msg, n);
    w->hdr->status_msg[n] = '\0';
    atomic_store_explicit(&w->hdr->status, (uint32_t)status, memory_order_release);
}

void gt_ringw_set_cupti(struct gt_ringw *w, const char *path)
{
    if (w->hdr == NULL)
        return;
    snprintf(w->hdr->cupti_path, sizeof w->hdr->cupti_path, "%s", path != NULL ? path : "");
}

int gt_ringw_frames_append(struct gt_ringw *w, uint32_t type, uint32_t id, uint32_t arg,
                           const void *data, size_t len)
{
    size_t head = sizeof(struct gt_ring_frame_entry);
    size_t size = (head + len + 7) & ~(size_t)7;
    if (w->frames == NULL || len > GT_RING_FRAMES_BYTES || size > UINT32_MAX ||
        size > GT_RING_FRAMES_BYTES - w->frames_used)
        return -1;
    struct gt_ring_frame_entry *e = (struct gt_ring_frame_entry *)(w->frames + w->frames_used);
    e->size = (uint32_t)size;
    e->type = type;
    e->id = id;
    e->arg = arg;
    memcpy(e->data, data, len);
    memset(e->data + len, 0, size - head - len);
    w->frames_used += size;
    atomic_store_explicit(&w->hdr->frames_used, w->frames_used, memory_order_release);
    return 0;
}

/* Claims the next index if its slot is free (see ring_writer.h). The tail
 * is loaded with acquire order: the consumer stores it with release after
 * reading a slot, so the slot's old contents are read before we overwrite
 * them. The difference is taken signed because `tail`, read after `h`, may
 * already be past a stale `h`; the CAS then fails and we look again. */
static int claim(struct gt_ringw *w, uint64_t *index)
{
    struct gt_ring_header *hd = w->hdr;
    uint64_t h = atomic_load_explicit(&hd->head, memory_order_relaxed);
    for (;;) {
        uint64_t t = atomic_load_explicit(&hd->tail, memory_order_acquire);
        if ((int64_t)(h - t) >= (int64_t)w->capacity) {
            /* Full, unless head moved on meanwhile (then `t` may be stale too). */
            uint64_t h2 = atomic_load_explicit(&hd->head, memory_order_relaxed);
            if (h2 == h)
                return -1;
            h = h2;
            continue;
        }
        if (atomic_compare_exchange_weak_explicit(&hd->head, &h, h + 1, memory_order_relaxed,
                                                  memory_order_relaxed)) {
            *index = h;
            return 0;
        }
    }
}

/* Fills the claimed slot, then its sequence word with release order: the
 * consumer that acquires published == index + 1 sees the whole record.
 * `ev` is read through a volatile pointer so that each field is loaded
 * with its own width: the caller has just written *ev field by field, and
 * the 16-byte loads the compiler would otherwise merge them into cannot be
 * forwarded from those narrower stores, which stalls the load. */
static void fill(struct gt_ringw *w, uint64_t index, const volatile struct gt_ringw_event *ev)
{
    struct gt_ring_record *r = &w->hdr->records[index & w->mask];
    r->kind = ev->kind;
    r->result = ev->result;
    r->domain = ev->domain;
    r->nested = ev->nested;
    r->cbid = ev->cbid;
    r->device = ev->device;
    r->stack = ev->stack;
    r->tid = ev->tid;
    r->ts_ns = ev->ts_ns;
    r->enter_ns = ev->enter_ns;
    r->stream = ev->stream;
    r->addr = ev->addr;
    r->size = ev->size;
    atomic_store_explicit(&r->published, index + 1, memory_order_release);
}

static void count_drop(struct gt_ringw *w)
{
    atomic_fetch_add_explicit(&w->hdr->dropped, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&w->pending_drops, 1, memory_order_relaxed);
}

/* After drops, the first record that finds room is preceded by one DROPPED
 * record carrying how many were lost, in `size`; taken with an exchange so
 * that concurrent publishers report each drop once. */
static void report_drops(struct gt_ringw *w, const struct gt_ringw_event *ev)
{
    uint64_t n = atomic_exchange_explicit(&w->pending_drops, 0, memory_order_relaxed);
    if (n == 0)
        return;
    uint64_t index;
    if (claim(w, &index) != 0) {
        atomic_fetch_add_explicit(&w->pending_drops, n, memory_order_relaxed);
        return;
    }
    struct gt_ringw_event d = {.kind = GT_RING_KIND_DROPPED,
                               .device = -1,
                               .tid = ev->tid,
                               .ts_ns = ev->ts_ns,
                               .enter_ns = ev->ts_ns,
                               .size = n};
    fill(w, index, &d);
}

int gt_ringw_publish(struct gt_ringw *w, const struct gt_ringw_event *ev)
{
    if (atomic_load_explicit(&w->pending_drops, memory_order_relaxed) != 0)
        report_drops(w, ev);
    uint64_t index;
    if (claim(w, &index) != 0) {
        count_drop(w);
        return -1;
    }
    fill(w, index, ev);
    return 0;
}

int gt_ringw_publish_end(struct gt_ringw *w, int64_t tid, unsigned wait_ms)
{
    struct gt_ringw_event ev = {.kind = GT_RING_KIND_END, .device = -1, .tid = tid};
    for (unsigned waited = 0;; waited++) {
        ev.ts_ns = ev.enter_ns = gt_ringw_now_ns();
        if (atomic_load_explicit(&w->pending_drops, memory_order_relaxed) != 0)
            report_drops(w, &ev);
        uint64_t index;
        if (claim(w, &index) == 0) {
            fill(w, index, &ev);
            return 0;
        }
        if (waited >= wait_ms)
            break;
        struct timespec ms = {0, 1000000};
        nanosleep(&ms, NULL);
    }
    count_drop(w);
    return -1;
}
