/* libFuzzer target for the recorder's drain: each input becomes the
 * records and the frames region (Python stacks) of one ring file whose
 * header is sound, and the drain copies it into a new trace in requests
 * or native mode. A traced process can die mid-record or scribble over its
 * ring, so any bytes there must give events, counted losses or a warning,
 * never a crash, a hang or a trace SQLite cannot read. */
#define _DEFAULT_SOURCE /* MAP_SHARED with ftruncate's file */
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_files.h"
#include "gputrace/record.h"
#include "gputrace/ring.h"
#include "gputrace/trace.h"

#include "gputrace/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CAP 64u /* records in the fuzzed ring */

static void ignore(void *ctx, const char *msg)
{
    (void)ctx;
    (void)msg;
}

/* Writes ring-<pid>.bin in dir: the input's first CAP records, each
 * published, then the rest as the start of the frames region. */
static int write_ring(const char *dir, const uint8_t *data, size_t size)
{
    char path[160];
    size_t bytes = (size_t)GT_RING_BYTES(CAP);
    snprintf(path, sizeof path, "%s/ring-%ld.bin", dir, (long)getpid());
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0)
        return -1;
    struct gt_ring_header *h = MAP_FAILED;
    if (ftruncate(fd, (off_t)bytes) == 0)
        h = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (h == MAP_FAILED)
        return -1;
    size_t records = size < CAP * sizeof h->records[0] ? size : CAP * sizeof h->records[0];
    memcpy(h->records, data, records);
    for (uint32_t i = 0; i < CAP; i++)
        atomic_store_explicit(&h->records[i].published,
                              i < records / sizeof h->records[0] ? i + 1 : 0, memory_order_relaxed);
    size_t frames = size - records;
    frames = frames < GT_RING_FRAMES_BYTES ? frames : GT_RING_FRAMES_BYTES;
    memcpy((unsigned char *)h + GT_RING_RECORDS_END(CAP), data + records, frames);
    h->version = GT_RING_VERSION;
    h->record_size = sizeof(struct gt_ring_record);
    h->capacity = CAP;
    h->frames_bytes = GT_RING_FRAMES_BYTES;
    h->pid = getpid();
    h->rank = -1;
    atomic_store(&h->head, records / sizeof h->records[0]);
    atomic_store(&h->frames_used, frames & ~(size_t)7);
    atomic_store(&h->status, GT_RING_ACTIVE);
    __atomic_store_n(&h->magic, GT_RING_MAGIC, __ATOMIC_RELEASE); /* last, as a producer */
    munmap(h, bytes);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char dir[128], trace[128], ring[160], err[256];
    if (fuzz_path("ring", "rings", dir, sizeof dir) != 0 ||
        fuzz_path("ring", "t.db", trace, sizeof trace) != 0)
        return 0;
    mkdir(dir, 0700);
    snprintf(ring, sizeof ring, "%s/ring-%ld.bin", dir, (long)getpid());
    unlink(trace);
    if (write_ring(dir, data, size) != 0)
        return 0;
    struct gt_trace_writer *w = NULL;
    struct gt_drain *d = NULL;
    struct gt_drain_options opts = {
        .mode = size > 0 && (data[size - 1] & 1) ? GT_DRAIN_NATIVE : GT_DRAIN_REQUESTS,
        .holdback_ns = -1,
        .notify = ignore,
        .note = ignore,
    };
    struct gt_drain_stats st;
    if (gt_trace_create(trace, &w, err, sizeof err) == 0 &&
        gt_drain_open(dir, w, &opts, &d, err, sizeof err) == 0) {
        gt_drain_poll(d, GT_DRAIN_FLUSH);
        gt_drain_poll(d, GT_DRAIN_FLUSH);
        gt_drain_close(d, &st);
        if (st.events > (int64_t)CAP || st.events < 0)
            __builtin_trap(); /* more events than records */
    }
    if (w != NULL && gt_trace_writer_close(w) == 0) {
        struct gt_trace_reader *r = NULL;
        int64_t count = 0;
        if (gt_trace_open(trace, &r, err, sizeof err) != 0)
            __builtin_trap(); /* the drain wrote a trace we cannot read */
        gt_trace_event_count(r, &count);
        gt_trace_close(r);
    }
    unlink(ring);
    unlink(trace);
    return 0;
}
