/* The drain of `gpu-trace record` (record.h): the consumer side of ring.h.
 *
 * Ring files are opened as they appear in the folder. A file is trusted only
 * after its header checks out (magic, version, record size, a power-of-two
 * capacity, the exact file size), because the mapping is then indexed with
 * values read from it; anything else is reported once and never touched
 * again. A file that is still being set up (size 0, magic not yet written)
 * is retried while its producer lives.
 *
 * Records are copied out of the ring at once, so the producer gets its space
 * back, and wait in `pend` for the merge by time: processes publish
 * independently and a record may turn up after another process's later one.
 * Everything that depends on the order of events (the time base, the size of
 * a segment's free, the devices rows) is done when an event leaves `pend`. */
#include "gputrace/record.h"
#include "gputrace/addr_map.h"
#include "gputrace/array.h"
#include "gputrace/err.h"
#include "gputrace/ring.h"
#include "gputrace/schema.h"
#include "gputrace/text.h"
#include "gputrace/trace.h"
#include "ring_stacks_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define COMMIT_NS 100000000LL /* commit the trace at least every 100 ms */

#include "gputrace/banned.h"

#define ERRMSG_LEN 256
#define NAME_LEN 64
/* A capacity above this is not something a producer would map: treat the
 * header as damaged rather than trust a 2^31-record file size. */
#define MAX_CAPACITY (1u << 28)

enum ring_state {
    RING_PENDING, /* the file exists but its header is not written yet */
    RING_OPEN,    /* mapped and validated */
    RING_BAD,     /* reported and skipped for good */
};

/* One ring file. While RING_OPEN, h maps `bytes` bytes and tail is the
 * consumer's index (the shared h->tail is only ever written from it). */
struct ring {
    char name[NAME_LEN];
    int64_t pid;
    enum ring_state state;
    struct gt_ring_header *h;
    size_t bytes;
    uint32_t mask; /* capacity - 1 */
    uint64_t tail;
    bool exited;                  /* the producer is known to be gone */
    bool ended;                   /* its END record was read */
    bool status_reported;         /* an UNAVAILABLE/STOPPED status was reported */
    bool cupti_reported;          /* its CUPTI file was looked at */
    struct gt_ring_stacks stacks; /* the Python stacks its process defined */
    uint64_t dropped_seen;        /* drops announced by DROPPED records read */
    int64_t lost;                 /* slots torn, overrun or never published */
};

/* An event waiting for the merge. key is the raw monotonic time it sorts
 * by; idx (the ring index) keeps a process's own order for equal keys. */
struct pend {
    int64_t key;
    uint64_t idx;
    struct gt_event ev;
    uint32_t ring;  /* index in rings[] of the record's process */
    uint32_t stack; /* the record's Python stack (ring.h), GT_RING_STACK_NONE if none */
};

/* Requests mode: where one thread stands in a possible allocation probe
 * (see probe_step). */
enum probe_state { PROBE_IDLE, PROBE_ASKED, PROBE_FAILING, PROBE_GOT };
#define PROBE_WATCHES 64    /* threads followed at once; the oldest is forgotten */
#define PROBE_MAX_ALLOCS 64 /* a guess halved 64 times is 0: no probe is longer */
struct probe_watch {
    int64_t pid, tid;
    enum probe_state state;
    uint64_t free_bytes; /* what the program's cudaMemGetInfo said */
    uint64_t first;      /* the first guess */
    unsigned shift;      /* the latest guess is first >> shift */
    uint64_t got;        /* address of the guess that succeeded */
    size_t nallocs;      /* allocation records of the probe so far */
};

struct device {
    int32_t device;
    uint64_t total; /* 0 = unknown */
    char name[96];  /* "" = unknown */
    bool described; /* name and total came from a ring's devices table */
    bool written;   /* a devices row exists */
};

struct gt_drain {
    char *dir;
    struct gt_trace_writer *w;
    struct gt_drain_options opts;
    struct ring *rings;
    size_t nrings, caprings;
    /* Events waiting for the merge are pend[pend_head, npend): written ones
     * leave from the front without moving the rest, which at millions of
     * events a second cost more than the writing. pend_sorted: that range
     * is in cmp_pend order (true for one thread's records as they come). */
    struct pend *pend;
    size_t pend_head, npend, cappend;
    bool pend_sorted;
    struct probe_watch watches[PROBE_WATCHES];
    size_t nwatches, next_watch;
    struct device *devices;
    size_t ndevices, capdevices;
    struct gt_addr_map segments; /* native mode: (pid, addr) -> segment size (uint64_t) */
    bool have_base;
    int64_t base;     /* monotonic time of ts_ns 0 */
    int64_t last_key; /* of the last event written */
    char *status;     /* meta tracer_status, lines joined by '\n' */
    char *cupti;      /* meta cupti_library: the distinct CUPTI files, one per line */
    struct gt_drain_stats st;
    int err;                /* sticky: the writer's first error */
    int64_t last_commit_ns; /* CLOCK_MONOTONIC of the last commit */
    char errmsg[ERRMSG_LEN];
};

static void set_err(struct gt_drain *d, int rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_err(struct gt_drain *d, int rc, const char *fmt, ...)
{
    va_list ap;

    if (d->err != GT_OK)
        return;
    va_start(ap, fmt);
    d->err = gt_verrf(d->errmsg, sizeof d->errmsg, rc, fmt, ap);
    va_end(ap);
}

static void notify(struct gt_drain *d, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void notify(struct gt_drain *d, const char *fmt, ...)
{
    char msg[512];
    va_list ap;

    if (d->opts.notify == NULL)
        return;
    va_start(ap, fmt);
    gt_verrf(msg, sizeof msg, GT_OK, fmt, ap);
    va_end(ap);
    d->opts.notify(d->opts.notify_ctx, msg);
}

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ------------------------------------------------------------ processes */

/* Whether process pid can still write to its ring. A zombie cannot, but
 * kill() still finds it: a traced process whose parent has not reaped it
 * yet must not stall the drain, so /proc settles that case. */
static bool pid_alive(int64_t pid)
{
    char path[64], buf[512];
    FILE *f;
    size_t n;

    if (pid <= 0 || pid > INT_MAX)
        return false;
    if (kill((pid_t)pid, 0) != 0 && errno == ESRCH)
        return false;
    snprintf(path, sizeof path, "/proc/%" PRId64 "/stat", pid);
    if ((f = fopen(path, "r")) == NULL)
        return true; /* no /proc: kill's answer stands */
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* "pid (comm) S ...": comm may hold ')' itself, so take the last one. */
    const char *p = strrchr(buf, ')');
    if (p != NULL && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'))
        return false;
    return true;
}

static bool ring_gone(struct ring *r)
{
    if (!r->exited && !pid_alive(r->pid))
        r->exited = true;
    return r->exited;
}

/* ------------------------------------------------------------ ring files */

/* The pid of a name "ring-<pid>.bin", or -1 for any other name. Parsed by
 * hand: the digits are all there is, and no bare strtol is allowed here. */
static int64_t ring_name_pid(const char *name)
{
    const char *p = name + 5;
    int64_t pid = 0;

    if (strncmp(name, "ring-", 5) != 0 || *p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        pid = pid * 10 + (*p - '0');
        if (pid > INT_MAX)
            return -1;
    }
    return strcmp(p, ".bin") == 0 ? pid : -1;
}

static void ring_bad(struct gt_drain *d, struct ring *r, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void ring_bad(struct gt_drain *d, struct ring *r, const char *fmt, ...)
{
    char why[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    if (r->h != NULL)
        munmap(r->h, r->bytes);
    r->h = NULL;
    r->state = RING_BAD;
    d->st.bad_files++;
    notify(d, "skipping ring file '%s': %s", r->name, why);
}

/* A header field the producer wrote before publishing the magic; read once
 * the magic was seen with acquire order. */
static uint32_t magic_acquire(const struct gt_ring_header *h)
{
    uint32_t m = *(const volatile uint32_t *)&h->magic;

    atomic_thread_fence(memory_order_acquire);
    return m;
}

/* Copies a NUL-terminated string out of a fixed field that a producer (or
 * damage) may have left unterminated. */
static void copy_field(char *dst, size_t dstlen, const char *src, size_t srclen)
{
    size_t n = 0;

    while (n < srclen && n + 1 < dstlen && src[n] != '\0')
        n++;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* Validates and maps r's file. Leaves r PENDING while the producer is still
 * setting it up, RING_BAD (reported) when it cannot be a ring, RING_OPEN
 * otherwise. */
static int ring_try_open(struct gt_drain *d, struct ring *r)
{
    char path[PATH_MAX];
    struct gt_ring_header *h;
    struct stat sb;
    int fd;

    if ((size_t)snprintf(path, sizeof path, "%s/%s", d->dir, r->name) >= sizeof path) {
        ring_bad(d, r, "path too long");
        return 0;
    }
    fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) {
        if (errno == ENOENT) /* removed again: not ours to report */
            r->state = RING_BAD;
        else
            ring_bad(d, r, "%s", strerror(errno));
        return 0;
    }
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        ring_bad(d, r, "not a regular file");
        return 0;
    }
    /* O_CREAT, then ftruncate, then the header, then the magic: until the
     * magic shows, a live producer is still setting up. */
    bool early = (uint64_t)sb.st_size < sizeof *h;
    h = early ? MAP_FAILED : mmap(NULL, sizeof *h, PROT_READ, MAP_SHARED, fd, 0);
    if (!early && h == MAP_FAILED) {
        close(fd);
        ring_bad(d, r, "cannot map: %s", strerror(errno));
        return 0;
    }
    uint32_t magic = early ? 0 : magic_acquire(h);
    if (magic == 0) {
        if (h != MAP_FAILED)
            munmap(h, sizeof *h);
        close(fd);
        if (ring_gone(r))
            ring_bad(d, r, "its process exited before the ring was set up");
        return 0;
    }
    const char *why = NULL;
    uint32_t cap = h->capacity;
    if (magic != GT_RING_MAGIC)
        why = "bad magic (not a gpu-trace ring)";
    else if (h->version != GT_RING_VERSION)
        why = "unsupported ring version";
    else if (h->record_size != sizeof(struct gt_ring_record))
        why = "unexpected record size";
    else if (cap == 0 || cap > MAX_CAPACITY || (cap & (cap - 1)) != 0)
        why = "capacity is not a power of two";
    else if ((uint64_t)sb.st_size != GT_RING_BYTES(cap))
        why = "file size does not match its capacity";
    else if (h->frames_bytes != GT_RING_FRAMES_BYTES)
        why = "unexpected frames region size";
    else if (h->pid != r->pid)
        why = "the header names another process";
    else if (atomic_load_explicit(&h->tail, memory_order_acquire) >
             atomic_load_explicit(&h->head, memory_order_acquire))
        why = "tail beyond head";
    munmap(h, sizeof *h);
    if (why != NULL) {
        close(fd);
        ring_bad(d, r, "%s", why);
        return 0;
    }
    r->bytes = (size_t)GT_RING_BYTES(cap);
    h = mmap(NULL, r->bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (h == MAP_FAILED) {
        ring_bad(d, r, "cannot map: %s", strerror(errno));
        return 0;
    }
    r->h = h;
    r->mask = cap - 1;
    r->tail = atomic_load_explicit(&h->tail, memory_order_acquire);
    r->state = RING_OPEN;
    d->st.processes++;

    char command[sizeof h->command + 1];
    copy_field(command, sizeof command, h->command, sizeof h->command);
    /* The format's rank is 0 outside a distributed run; the ring's -1. */
    int rc = gt_trace_add_process(d->w, h->pid, h->rank < 0 ? 0 : h->rank, command);
    if (rc != GT_OK)
        set_err(d, rc, "%s", gt_trace_writer_errmsg(d->w));
    return rc;
}

static int ring_add(struct gt_drain *d, const char *name, int64_t pid)
{
    struct ring *v = gt_array_grow(d->rings, &d->caprings, d->nrings, sizeof *v);
    if (v == NULL) {
        set_err(d, GT_ENOMEM, "out of memory");
        return GT_ENOMEM;
    }
    d->rings = v;
    struct ring *r = &d->rings[d->nrings++];
    memset(r, 0, sizeof *r);
    snprintf(r->name, sizeof r->name, "%s", name);
    r->pid = pid;
    r->state = RING_PENDING;
    return GT_OK;
}

static bool ring_known(const struct gt_drain *d, const char *name)
{
    for (size_t i = 0; i < d->nrings; i++)
        if (strcmp(d->rings[i].name, name) == 0)
            return true;
    return false;
}

static int scan_dir(struct gt_drain *d)
{
    DIR *dir = opendir(d->dir);
    struct dirent *e;
    int rc = GT_OK;

    if (dir == NULL) {
        set_err(d, GT_EIO, "cannot read the ring folder '%s': %s", d->dir, strerror(errno));
        return GT_EIO;
    }
    while (rc == GT_OK && (e = readdir(dir)) != NULL) {
        int64_t pid = ring_name_pid(e->d_name);
        if (pid < 0 || strlen(e->d_name) >= NAME_LEN || ring_known(d, e->d_name))
            continue;
        rc = ring_add(d, e->d_name, pid);
    }
    closedir(dir);
    return rc;
}

/* ------------------------------------------------------------ status */

/* True when `line` is one of the '\n'-separated lines of `list` (may be NULL). */
static bool has_line(const char *list, const char *line)
{
    size_t n = strlen(line);

    for (const char *p = list; p != NULL;) {
        if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
            return true;
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    return false;
}

/* Appends `line` to the '\n'-separated *list and writes the list as meta
 * `key`. False (the error set) when memory or the writer fails. */
static bool append_meta_line(struct gt_drain *d, char **list, const char *key, const char *line)
{
    size_t old = *list != NULL ? strlen(*list) : 0;
    char *v = realloc(*list, old + strlen(line) + 2);
    if (v == NULL) {
        set_err(d, GT_ENOMEM, "out of memory");
        return false;
    }
    *list = v;
    snprintf(v + old, strlen(line) + 2, "%s%s", old ? "\n" : "", line);
    int rc = gt_trace_set_meta(d->w, key, *list);
    if (rc != GT_OK) {
        set_err(d, rc, "%s", gt_trace_writer_errmsg(d->w));
        return false;
    }
    return true;
}

static void report_status(struct gt_drain *d, struct ring *r)
{
    uint32_t s = atomic_load_explicit(&r->h->status, memory_order_acquire);
    char msg[sizeof r->h->status_msg + 1], line[sizeof msg + 64];

    if (r->status_reported || (s != GT_RING_UNAVAILABLE && s != GT_RING_STOPPED))
        return;
    r->status_reported = true;
    d->st.unavailable++;
    copy_field(msg, sizeof msg, r->h->status_msg, sizeof r->h->status_msg);
    if (s == GT_RING_STOPPED)
        snprintf(line, sizeof line, "%" PRId64 ": tracing stopped%s%s", r->pid, msg[0] ? ": " : "",
                 msg);
    else
        snprintf(line, sizeof line, "%" PRId64 ": %s", r->pid,
                 msg[0] ? msg : "tracing unavailable");

    if (append_meta_line(d, &d->status, "tracer_status", line))
        notify(d, "%s", line);
}

/* The first time r is ACTIVE: its CUPTI file joins meta cupti_library, and
 * a file no earlier process used is told to the user (one line per file,
 * not per process: torchrun's eight workers share one). */
static void report_cupti(struct gt_drain *d, struct ring *r)
{
    char path[sizeof r->h->cupti_path + 1];

    if (r->cupti_reported ||
        atomic_load_explicit(&r->h->status, memory_order_acquire) != GT_RING_ACTIVE)
        return;
    r->cupti_reported = true;
    copy_field(path, sizeof path, r->h->cupti_path, sizeof r->h->cupti_path);
    gt_text_clean(path, path, sizeof path); /* one line per file, whatever the producer wrote */
    if (path[0] == '\0' || has_line(d->cupti, path))
        return;
    if (append_meta_line(d, &d->cupti, "cupti_library", path) && d->opts.note != NULL) {
        char line[sizeof path + 64];
        snprintf(line, sizeof line, "tracing with CUPTI '%s' (pid %" PRId64 ")", path, r->pid);
        d->opts.note(d->opts.notify_ctx, line);
    }
}

/* ------------------------------------------------------------ devices */

static struct device *device_get(struct gt_drain *d, int32_t device)
{
    for (size_t i = 0; i < d->ndevices; i++)
        if (d->devices[i].device == device)
            return &d->devices[i];
    struct device *v = gt_array_grow(d->devices, &d->capdevices, d->ndevices, sizeof *v);
    if (v == NULL) {
        set_err(d, GT_ENOMEM, "out of memory");
        return NULL;
    }
    d->devices = v;
    struct device *dv = &d->devices[d->ndevices++];
    *dv = (struct device){.device = device};
    return dv;
}

static void device_write(struct gt_drain *d, struct device *dv)
{
    /* "" is what the schema says for a name nobody reported. */
    int rc = gt_trace_add_device(d->w, dv->device, dv->name, dv->total);
    if (rc != GT_OK)
        set_err(d, rc, "%s", gt_trace_writer_errmsg(d->w));
    dv->written = true;
}

/* A device an event was written for gets its row at once, so even a trace
 * cut short names its devices. */
static void device_seen(struct gt_drain *d, int32_t device)
{
    struct device *dv;

    if (device < 0 || (dv = device_get(d, device)) == NULL || dv->written)
        return;
    device_write(d, dv);
}

/* cudaMemGetInfo told the card's size: the first answer fills a device whose
 * size is unknown (the total does not change while a process runs). */
static void device_total(struct gt_drain *d, int32_t device, uint64_t total)
{
    struct device *dv;

    if (device < 0 || total == 0 || (dv = device_get(d, device)) == NULL || dv->total != 0)
        return;
    dv->total = total;
    if (dv->written)
        device_write(d, dv);
}

/* A ring's devices table (ring.h): the driver's name and totalGlobalMem of
 * each device its process recorded on; the first ring to report one wins
 * over cudaMemGetInfo's total (the same number, when the program asked). */
static void devices_from_ring(struct gt_drain *d, const struct gt_ring_header *h)
{
    for (int32_t i = 0; i < GT_RING_MAX_DEVICES; i++) {
        const struct gt_ring_device *rd = &h->devices[i];
        struct device *dv;
        if (atomic_load_explicit(&rd->state, memory_order_acquire) != 2 ||
            (rd->name[0] == 0 && rd->total_memory == 0) || (dv = device_get(d, i)) == NULL ||
            dv->described)
            continue;
        memcpy(dv->name, rd->name, sizeof dv->name);
        dv->name[sizeof dv->name - 1] = 0;
        /* a name from another process is untrusted text */
        gt_text_clean(dv->name, dv->name, sizeof dv->name);
        if (rd->total_memory)
            dv->total = rd->total_memory;
        dv->described = true;
        if (dv->written)
            device_write(d, dv);
    }
}

/* ------------------------------------------------------------ conversion */

static int cmp_pend(const void *a, const void *b);

/* Moves the waiting events to the front of pend. */
static void pend_compact(struct gt_drain *d)
{
    memmove(d->pend, d->pend + d->pend_head, (d->npend - d->pend_head) * sizeof *d->pend);
    d->npend -= d->pend_head;
    d->pend_head = 0;
}

static int pend_push(struct gt_drain *d, int64_t key, uint64_t idx, const struct gt_event *ev,
                     uint32_t ring, uint32_t stack)
{
    if (d->npend == d->cappend && d->pend_head > d->npend / 2)
        pend_compact(d);
    struct pend *v = gt_array_grow(d->pend, &d->cappend, d->npend, sizeof *v);
    if (v == NULL) {
        set_err(d, GT_ENOMEM, "out of memory");
        return GT_ENOMEM;
    }
    d->pend = v;
    d->pend[d->npend] = (struct pend){key, idx, *ev, ring, stack};
    if (d->npend > d->pend_head && cmp_pend(&d->pend[d->npend - 1], &d->pend[d->npend]) > 0)
        d->pend_sorted = false;
    d->npend++;
    return GT_OK;
}

static bool is_release(uint32_t kind)
{
    return kind == GT_RING_KIND_FREE || kind == GT_RING_KIND_HOST_FREE ||
           kind == GT_RING_KIND_VMM_UNMAP;
}

/* The event kind of a record in the drain's mode, or 0 when the record is
 * not an event. ev's size fields are set to match. */
static int32_t event_kind(const struct gt_drain *d, const struct gt_ring_record *c,
                          struct gt_event *ev)
{
    bool native = d->opts.mode == GT_DRAIN_NATIVE;
    bool ok = c->result == 0;

    switch (c->kind) {
    case GT_RING_KIND_ALLOC:
        if (!native) {
            ev->requested = c->size; /* the block's real size is the driver's secret */
            return GT_EV_ALLOC;      /* a failed one is the analyzer's OOM probe */
        }
        if (!ok) {
            ev->addr = 0; /* "free memory when known": the ring does not know */
            ev->requested = c->size;
            return GT_EV_OOM;
        }
        ev->size = c->size;
        return GT_EV_SEGMENT_ALLOC;
    case GT_RING_KIND_FREE:
        /* A failed free released nothing; the analyzer would free anyway.
         * cudaFree(NULL) frees nothing either: frameworks call it to create
         * the context (seen twice per PyTorch run on an H100). */
        if (!ok || c->addr == 0)
            return 0;
        return native ? GT_EV_SEGMENT_FREE : GT_EV_FREE;
    case GT_RING_KIND_HOST_ALLOC:
        if (!ok)
            return 0;
        ev->size = ev->requested = c->size;
        return GT_EV_HOST_ALLOC;
    case GT_RING_KIND_HOST_FREE:
        return ok ? GT_EV_HOST_FREE : 0;
    case GT_RING_KIND_VMM_MAP:
    case GT_RING_KIND_VMM_UNMAP:
        if (!native || !ok)
            return 0;
        ev->size = c->size;
        return c->kind == GT_RING_KIND_VMM_MAP ? GT_EV_SEGMENT_MAP : GT_EV_SEGMENT_UNMAP;
    case GT_RING_KIND_VMM_CREATE:
        /* Under expandable segments an OOM is a cuMemCreate that fails
         * (docs/notes/cupti.md §4.1); a successful one is memory not yet mapped. */
        if (!native || ok)
            return 0;
        ev->addr = 0;
        ev->requested = c->size;
        return GT_EV_OOM;
    default:
        return 0;
    }
}

/* The index of the latest pending event of thread (pid, tid) before end,
 * or SIZE_MAX when it has none there. */
static size_t pend_last_of(const struct gt_drain *d, size_t end, int64_t pid, int64_t tid)
{
    for (size_t i = end; i-- > d->pend_head;)
        if (d->pend[i].ev.pid == pid && d->pend[i].ev.tid == tid)
            return i;
    return SIZE_MAX;
}

/* The tracer asks the driver what is free right after an allocation fails
 * and publishes the answer next (ring.h, MEMINFO with domain 0). It goes in
 * the failed event's addr, as the trace format defines for `oom` (and a
 * failed `alloc`, which has no address). The failed event is the thread's
 * latest, still pending: the drain holds events back before writing them. */
static void note_free_at_oom(struct gt_drain *d, int64_t pid, int64_t tid, uint64_t free_bytes)
{
    size_t i = pend_last_of(d, d->npend, pid, tid);
    if (i == SIZE_MAX)
        return;
    struct gt_event *ev = &d->pend[i].ev;
    if (gt_event_failed_request(ev) && ev->addr == 0)
        ev->addr = free_bytes;
}

/* The watch of a thread; with create, a new one (reusing the oldest slot). */
static struct probe_watch *probe_watch(struct gt_drain *d, int64_t pid, int64_t tid, bool create)
{
    for (size_t i = 0; i < d->nwatches; i++)
        if (d->watches[i].pid == pid && d->watches[i].tid == tid)
            return &d->watches[i];
    if (!create)
        return NULL;
    size_t i = d->nwatches < PROBE_WATCHES ? d->nwatches++ : d->next_watch++ % PROBE_WATCHES;
    d->watches[i] = (struct probe_watch){.pid = pid, .tid = tid};
    return &d->watches[i];
}

/* Whether size is the next halving of the probe: first >> k for some k
 * past the latest shift (a guess over PyTorch's own limit is halved
 * without a call, so steps may be skipped). */
static bool probe_next_guess(struct probe_watch *w, uint64_t size)
{
    for (unsigned k = w->shift + 1; k < 64 && (w->first >> k) >= size; k++) {
        if ((w->first >> k) == size) {
            w->shift = k;
            return true;
        }
    }
    return false;
}

/* Removes the thread's last n pending events if all n are allocations;
 * false (nothing removed) when some were already written. */
static bool probe_unpend(struct gt_drain *d, int64_t pid, int64_t tid, size_t n)
{
    size_t found = 0;
    size_t at[PROBE_MAX_ALLOCS];
    for (size_t end = d->npend; found < n; end = at[found - 1]) {
        size_t i = pend_last_of(d, end, pid, tid);
        if (i == SIZE_MAX || d->pend[i].ev.kind != GT_EV_ALLOC)
            return false;
        at[found++] = i;
    }
    for (size_t j = 0; j < found; j++) { /* highest index first */
        size_t i = at[j];
        memmove(&d->pend[i], &d->pend[i + 1], (d->npend - i - 1) * sizeof *d->pend);
        d->npend--;
    }
    return true;
}

/* PyTorch's cudaMallocAsync backend sizes cuDNN's workspace by probing
 * (CUDAMallocAsyncAllocator.cpp, cacheInfo): cudaMemGetInfo, then
 * cudaMallocAsync(guess) with guess = min(free, limit - used), halved
 * (guess >>= 1) after each cudaErrorMemoryAllocation, and the first success
 * freed at once. None of it is a tensor, so requests mode drops the whole
 * run (docs/notes/cupti.md §4.2). Followed per thread: the program's MEMINFO, then
 * allocations of first <= free and first >> k with k rising, all failed
 * but the last, then the free of the last one's address as the thread's
 * next record. Anything else on that thread ends the watch. Returns true
 * when c is the probe's closing free and the probe was dropped. */
static bool probe_step(struct gt_drain *d, int64_t pid, const struct gt_ring_record *c)
{
    if (c->kind == GT_RING_KIND_MEMINFO) {
        if (c->domain != 0) { /* domain 0 is the tracer's own question */
            struct probe_watch *w = probe_watch(d, pid, c->tid, true);
            *w = (struct probe_watch){
                .pid = pid, .tid = c->tid, .state = PROBE_ASKED, .free_bytes = c->addr};
        }
        return false;
    }
    struct probe_watch *w = probe_watch(d, pid, c->tid, false);
    if (w == NULL || w->state == PROBE_IDLE)
        return false;
    enum probe_state was = w->state;
    w->state = PROBE_IDLE;
    if (c->kind == GT_RING_KIND_ALLOC && c->size > 0 && w->nallocs < PROBE_MAX_ALLOCS) {
        bool guess = was == PROBE_ASKED ? c->size <= w->free_bytes
                                        : was == PROBE_FAILING && probe_next_guess(w, c->size);
        if (!guess)
            return false;
        if (was == PROBE_ASKED) {
            w->first = c->size;
            w->shift = 0;
        }
        w->nallocs++;
        if (c->result == 0) {
            w->state = PROBE_GOT;
            w->got = c->addr;
        } else if (c->result == GT_RING_OUT_OF_MEMORY) {
            w->state = PROBE_FAILING;
        }
        return false;
    }
    if (was != PROBE_GOT || c->kind != GT_RING_KIND_FREE || c->addr != w->got ||
        !probe_unpend(d, pid, c->tid, w->nallocs))
        return false;
    d->st.probes += (int64_t)w->nallocs + 1;
    return true;
}

/* Reads the stacks r's process defined since the last time. A damaged
 * frames region is told once; the events keep coming, without stacks. */
static void read_stacks(struct gt_drain *d, struct ring *r)
{
    char why[160];
    const unsigned char *region = (const unsigned char *)r->h + GT_RING_RECORDS_END(r->mask + 1ull);
    uint64_t used = atomic_load_explicit(&r->h->frames_used, memory_order_acquire);
    if (gt_ring_stacks_read(&r->stacks, region, GT_RING_FRAMES_BYTES, used, why, sizeof why) == -1)
        notify(d, "ring file '%s': %s; its later allocations have no Python stack", r->name, why);
}

/* The Python stack of an ALLOC record, once its definition is read
 * (GT_RING_STACK_NO_GIL passes as is); GT_RING_STACK_NONE otherwise. */
static uint32_t record_stack(struct gt_drain *d, struct ring *r, const struct gt_ring_record *c)
{
    if (c->kind != GT_RING_KIND_ALLOC)
        return GT_RING_STACK_NONE;
    if (c->stack == GT_RING_STACK_NONE || c->stack == GT_RING_STACK_NO_GIL)
        return c->stack;
    if (c->stack > r->stacks.nstacks)
        read_stacks(d, r);
    return c->stack <= r->stacks.nstacks ? c->stack : GT_RING_STACK_NONE;
}

/* One published record, copied out of the ring. */
static int take_record(struct gt_drain *d, struct ring *r, const struct gt_ring_record *c,
                       uint64_t idx)
{
    struct gt_event ev = {0};

    if (c->kind == GT_RING_KIND_DROPPED) {
        /* The producer reports a run of drops once, their count in size. */
        uint64_t n = c->size != 0 ? c->size : 1;
        r->dropped_seen = n > UINT64_MAX - r->dropped_seen ? UINT64_MAX : r->dropped_seen + n;
        return GT_OK;
    }
    if (c->kind == GT_RING_KIND_END) {
        r->ended = true;
        return GT_OK;
    }
    /* The runtime call around a nested driver call is recorded itself. */
    if (c->nested) {
        d->st.nested++;
        return GT_OK;
    }
    if (d->opts.mode != GT_DRAIN_NATIVE && probe_step(d, r->pid, c))
        return GT_OK;
    if (c->kind == GT_RING_KIND_MEMINFO) {
        device_total(d, c->device, c->size);
        if (c->domain == 0)
            note_free_at_oom(d, r->pid, c->tid, c->addr);
        d->st.ignored++;
        return GT_OK;
    }
    ev.pid = r->pid;
    ev.tid = c->tid;
    ev.device = c->device;
    ev.result = c->result;
    ev.stream = c->stream;
    ev.addr = c->addr;
    ev.kind = event_kind(d, c, &ev);
    if (ev.kind == 0) {
        d->st.ignored++;
        return GT_OK;
    }
    /* A release counts from the moment it was asked for, an allocation
     * from the moment it was granted: a free on one thread that let another
     * thread's allocation reuse its address thus always comes first. */
    int64_t key = c->ts_ns;
    if (is_release(c->kind) && c->enter_ns > 0 && c->enter_ns <= c->ts_ns)
        key = c->enter_ns;
    return pend_push(d, key, idx, &ev, (uint32_t)(r - d->rings), record_stack(d, r, c));
}

/* Copies out every published record of r, up to a limit per poll so one
 * busy ring cannot starve the others. */
static int ring_read(struct gt_drain *d, struct ring *r)
{
    struct gt_ring_header *h = r->h;
    devices_from_ring(d, h);
    uint64_t head = atomic_load_explicit(&h->head, memory_order_acquire);
    uint64_t budget = 4 * ((uint64_t)r->mask + 1);
    uint64_t first = r->tail;
    int rc = GT_OK;

    while (rc == GT_OK && r->tail < head && budget-- > 0) {
        uint64_t idx = r->tail;
        struct gt_ring_record *rec = &h->records[idx & r->mask];
        uint64_t pub = atomic_load_explicit(&rec->published, memory_order_acquire);

        if (pub == idx + 1) {
            struct gt_ring_record c;
            /* Field by field: `published` is atomic, the rest is plain data
             * made visible by the acquire above. */
            c.kind = rec->kind;
            c.result = rec->result;
            c.domain = rec->domain;
            c.cbid = rec->cbid;
            c.device = rec->device;
            c.nested = rec->nested;
            c.stack = rec->stack;
            c.tid = rec->tid;
            c.ts_ns = rec->ts_ns;
            c.enter_ns = rec->enter_ns;
            c.stream = rec->stream;
            c.addr = rec->addr;
            c.size = rec->size;
            atomic_thread_fence(memory_order_acquire);
            /* Still the same record? Only a producer that overran the ring
             * could have rewritten the slot while it was copied. */
            if (atomic_load_explicit(&rec->published, memory_order_relaxed) == idx + 1)
                rc = take_record(d, r, &c, idx);
            else
                r->lost++;
        } else if (pub > idx + 1) {
            /* The slot holds a later lap: this record was overwritten. */
            r->lost++;
        } else if (!ring_gone(r)) {
            break; /* claimed, not yet published: retry on the next poll */
        } else if (head - idx > (uint64_t)r->mask + 1) {
            /* A dead producer that overran the ring: the older laps' slots
             * were all rewritten, only the last lap can still be read. */
            uint64_t skip = head - idx - ((uint64_t)r->mask + 1);
            r->lost += (int64_t)skip;
            r->tail = idx + skip;
            continue;
        } else {
            r->lost++; /* the producer died between claim and publish */
        }
        r->tail = idx + 1;
    }
    atomic_store_explicit(&h->tail, r->tail, memory_order_release);
    d->st.records += (int64_t)(r->tail - first);
    return rc;
}

/* ------------------------------------------------------------ writing */

static int cmp_pend(const void *a, const void *b)
{
    const struct pend *x = a, *y = b;

    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    if (x->ev.pid != y->ev.pid)
        return x->ev.pid < y->ev.pid ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* ts_ns 0 is the earliest anchor of the processes known when the first
 * event is written: every process's clock reads are then comparable. */
static void fix_base(struct gt_drain *d)
{
    if (d->have_base)
        return;
    for (size_t i = 0; i < d->nrings; i++) {
        const struct ring *r = &d->rings[i];
        if (r->state == RING_OPEN && (!d->have_base || r->h->monotonic_anchor_ns < d->base)) {
            d->base = r->h->monotonic_anchor_ns;
            d->have_base = true;
        }
    }
}

/* In native mode a segment's free carries no size (cudaFree(ptr)): it is
 * the size of the allocation at that address, in the order events are
 * written. */
static int segment_size(struct gt_drain *d, struct gt_event *ev)
{
    uint64_t size;

    /* Keyed by process: two processes may map the same virtual address. */
    int32_t key = (int32_t)ev->pid;
    if (ev->kind == GT_EV_SEGMENT_ALLOC) {
        uint64_t *e = gt_addr_map_put(&d->segments, key, ev->addr, NULL);
        if (e == NULL) {
            set_err(d, GT_ENOMEM, "out of memory");
            return GT_ENOMEM;
        }
        *e = ev->size;
    } else if (ev->kind == GT_EV_SEGMENT_FREE &&
               gt_addr_map_take(&d->segments, key, ev->addr, &size)) {
        ev->size = size;
    }
    return GT_OK;
}

/* What a trace says of an allocation made on a thread that did not hold
 * Python's GIL: the tracer cannot take its stack (tracer/pyframes.h). */
static const struct gt_frame no_gil_frame = {
    .filename = "<gpu-trace>",
    .name = "<no Python stack: the allocating thread did not hold the GIL>",
    .line = 0,
};

/* Attaches p's Python stack to the event just appended. */
static int attach_stack(struct gt_drain *d, const struct pend *p)
{
    struct gt_frame frames[GT_RING_MAX_DEPTH];
    size_t n = 0;

    if (p->stack == GT_RING_STACK_NONE)
        return GT_OK;
    if (p->stack == GT_RING_STACK_NO_GIL) {
        frames[0] = no_gil_frame;
        n = 1;
    } else {
        n = gt_ring_stacks_get(&d->rings[p->ring].stacks, p->stack, frames);
    }
    return n > 0 ? gt_trace_set_stack(d->w, gt_trace_last_seq(d->w), frames, n) : GT_OK;
}

static int write_pending(struct gt_drain *d, bool all)
{
    int64_t limit = 0;
    size_t n = d->pend_head;
    int rc = GT_OK;

    if (d->npend == d->pend_head)
        return GT_OK;
    if (!d->pend_sorted)
        qsort(d->pend + d->pend_head, d->npend - d->pend_head, sizeof *d->pend, cmp_pend);
    d->pend_sorted = true;
    if (!all) {
        int64_t hold = d->opts.holdback_ns == 0 ? GT_DRAIN_HOLDBACK_NS : d->opts.holdback_ns;
        limit = hold < 0 ? INT64_MAX : now_ns() - hold;
    }
    fix_base(d);
    for (; n < d->npend && rc == GT_OK; n++) {
        struct pend *p = &d->pend[n];
        if (!all && p->key > limit)
            break;
        if (p->key < d->last_key)
            d->st.late++;
        else
            d->last_key = p->key;
        p->ev.ts_ns = p->key - d->base;
        if (d->opts.mode == GT_DRAIN_NATIVE && (rc = segment_size(d, &p->ev)) != GT_OK)
            break;
        if (p->ev.kind != GT_EV_HOST_ALLOC && p->ev.kind != GT_EV_HOST_FREE)
            device_seen(d, p->ev.device);
        if ((rc = gt_trace_append(d->w, &p->ev)) != GT_OK || (rc = attach_stack(d, p)) != GT_OK) {
            set_err(d, rc, "%s", gt_trace_writer_errmsg(d->w));
            break;
        }
        d->st.events++;
        /* Counted as written, not as read: a failed cuDNN probe read
         * earlier may still leave the request stream (probe_step). */
        if (gt_event_failed_request(&p->ev))
            d->st.failed_requests++;
    }
    d->pend_head = n;
    if (d->pend_head == d->npend)
        d->pend_head = d->npend = 0;
    return d->err != GT_OK ? d->err : rc;
}

/* ------------------------------------------------------------ public */

int gt_drain_open(const char *dir, struct gt_trace_writer *w, const struct gt_drain_options *opts,
                  struct gt_drain **out, char *errbuf, size_t errlen)
{
    struct gt_drain *d;

    if (out != NULL)
        *out = NULL;
    if (dir == NULL || w == NULL || out == NULL) {
        if (errbuf != NULL && errlen > 0)
            snprintf(errbuf, errlen, "no ring folder or trace given");
        return GT_EINVAL;
    }
    if ((d = calloc(1, sizeof *d)) == NULL || (d->dir = strdup(dir)) == NULL ||
        gt_addr_map_init(&d->segments, sizeof(uint64_t), 1024) != GT_OK) {
        if (d != NULL) {
            free(d->dir);
            free(d);
        }
        if (errbuf != NULL && errlen > 0)
            snprintf(errbuf, errlen, "out of memory");
        return GT_ENOMEM;
    }
    d->w = w;
    if (opts != NULL)
        d->opts = *opts;
    d->last_key = INT64_MIN;
    d->pend_sorted = true;
    *out = d;
    return GT_OK;
}

int gt_drain_poll(struct gt_drain *d, unsigned flags)
{
    int rc;

    if (d == NULL)
        return GT_EINVAL;
    if (d->err != GT_OK)
        return d->err;
    if ((rc = scan_dir(d)) != GT_OK)
        return rc;
    for (size_t i = 0; i < d->nrings && rc == GT_OK; i++) {
        struct ring *r = &d->rings[i];
        if (r->state == RING_PENDING)
            rc = ring_try_open(d, r);
        if (rc == GT_OK && r->state == RING_OPEN) {
            report_status(d, r);
            report_cupti(d, r);
            rc = ring_read(d, r);
        }
    }
    if (rc == GT_OK)
        rc = write_pending(d, (flags & GT_DRAIN_FLUSH) != 0);
    /* Commit at least every COMMIT_NS (docs/notes/cupti.md §5.3): a launcher killed
     * mid-recording then loses at most that much of what it drained. */
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    int64_t t = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
    if (rc == GT_OK && t - d->last_commit_ns >= COMMIT_NS) {
        rc = gt_trace_commit(d->w);
        if (rc != GT_OK)
            set_err(d, rc, "%s", gt_trace_writer_errmsg(d->w));
        d->last_commit_ns = t;
    }
    return d->err != GT_OK ? d->err : rc;
}

void gt_drain_exited(struct gt_drain *d, int64_t pid)
{
    if (d == NULL)
        return;
    for (size_t i = 0; i < d->nrings; i++)
        if (d->rings[i].pid == pid)
            d->rings[i].exited = true;
}

bool gt_drain_done(struct gt_drain *d)
{
    if (d == NULL)
        return true;
    for (size_t i = 0; i < d->nrings; i++) {
        struct ring *r = &d->rings[i];
        if (r->state == RING_PENDING && !ring_gone(r))
            return false;
        if (r->state != RING_OPEN)
            continue;
        if (r->tail < atomic_load_explicit(&r->h->head, memory_order_acquire))
            return false;
        if (!r->ended && !ring_gone(r))
            return false;
    }
    return true;
}

static int64_t ring_lost(const struct ring *r)
{
    /* The producer counts every drop in the header and later announces
     * the same drops in DROPPED records: the larger figure counts each loss
     * once, and still holds when one of the two is missing (drops announced
     * after the header was damaged, or never announced at exit). */
    uint64_t dropped = atomic_load_explicit(&r->h->dropped, memory_order_acquire);
    if (dropped < r->dropped_seen)
        dropped = r->dropped_seen;
    if (dropped > INT64_MAX / 4)
        dropped = INT64_MAX / 4; /* a damaged header must not overflow the sum */
    return r->lost + (int64_t)dropped;
}

void gt_drain_stats(const struct gt_drain *d, struct gt_drain_stats *st)
{
    if (d == NULL || st == NULL)
        return;
    *st = d->st;
    st->lost = 0;
    st->stacks_lost = 0;
    for (size_t i = 0; i < d->nrings; i++) {
        if (d->rings[i].state == RING_OPEN) {
            st->lost += ring_lost(&d->rings[i]);
            uint64_t n = atomic_load_explicit(&d->rings[i].h->stacks_lost, memory_order_relaxed);
            st->stacks_lost += n > INT64_MAX ? INT64_MAX : (int64_t)n;
        }
    }
}

const char *gt_drain_errmsg(const struct gt_drain *d)
{
    if (d == NULL)
        return "out of memory";
    return d->errmsg[0] ? d->errmsg : gt_strerror(d->err);
}

static void write_meta_i64(struct gt_drain *d, const char *key, int64_t v)
{
    char buf[32];

    snprintf(buf, sizeof buf, "%" PRId64, v);
    int rc = gt_trace_set_meta(d->w, key, buf);
    if (rc != GT_OK)
        set_err(d, rc, "%s", gt_trace_writer_errmsg(d->w));
}

int gt_drain_close(struct gt_drain *d, struct gt_drain_stats *st)
{
    int rc;

    if (d == NULL)
        return GT_OK;
    gt_drain_poll(d, GT_DRAIN_FLUSH);
    if (d->err == GT_OK)
        write_pending(d, true);
    /* What is still unread now never will be: claimed but unpublished
     * slots of producers that are still running, or records published after
     * the launcher stopped waiting. */
    for (size_t i = 0; i < d->nrings; i++) {
        struct ring *r = &d->rings[i];
        if (r->state == RING_PENDING) {
            ring_bad(d, r, "never set up by its process");
        } else if (r->state == RING_OPEN) {
            uint64_t head = atomic_load_explicit(&r->h->head, memory_order_acquire);
            if (head > r->tail)
                r->lost +=
                    head - r->tail > (uint64_t)INT32_MAX ? INT32_MAX : (int64_t)(head - r->tail);
        }
    }
    gt_drain_stats(d, &d->st);
    if (d->err == GT_OK)
        write_meta_i64(d, "lost_events", d->st.lost);
    if (d->err == GT_OK && d->st.stacks_lost > 0)
        write_meta_i64(d, "python_stacks_lost", d->st.stacks_lost);
    if (d->err == GT_OK && d->opts.mode != GT_DRAIN_NATIVE)
        write_meta_i64(d, "probe_events_dropped", d->st.probes);
    /* The wall clock of ts_ns 0, so a trace can be lined up with logs. */
    fix_base(d);
    for (size_t i = 0; i < d->nrings && d->err == GT_OK; i++) {
        const struct ring *r = &d->rings[i];
        if (r->state == RING_OPEN && r->h->monotonic_anchor_ns == d->base) {
            write_meta_i64(d, "clock_base_realtime_ns", r->h->realtime_anchor_ns);
            break;
        }
    }
    if (st != NULL)
        *st = d->st;
    rc = d->err;
    for (size_t i = 0; i < d->nrings; i++) {
        if (d->rings[i].h != NULL)
            munmap(d->rings[i].h, d->rings[i].bytes);
        gt_ring_stacks_free(&d->rings[i].stacks);
    }
    gt_addr_map_release(&d->segments);
    free(d->rings);
    free(d->pend);
    free(d->devices);
    free(d->status);
    free(d->cupti);
    free(d->dir);
    free(d);
    return rc;
}
