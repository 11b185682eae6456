/* The producer side of the shared-memory ring of tracer/include/gputrace/ring.h, as
 * the injection library uses it. No CUDA or CUPTI here: the writer is tested
 * on machines without a GPU by tests/test_inject.c, which compiles
 * ring_writer.c into itself.
 *
 * Claiming a slot. ring.h claims with atomic_fetch_add(&head, 1) and, on a
 * full ring, "publishes the index as DROPPED". But on a full ring the slot of
 * that index still holds a record the consumer has not read: writing it would
 * destroy that record (and stall the consumer, whose slot then carries the
 * wrong sequence word), and waiting for it to be read would block the
 * program. So the writer claims with a compare-and-swap that only succeeds
 * while the ring has room: an index is claimed only when its slot is free,
 * and every claimed index is published. A record that finds the ring full
 * is counted in header->dropped and in a process-private pending count; the
 * next record that finds room first publishes one GT_RING_KIND_DROPPED
 * record whose `size` is the number of records lost since the previous
 * one, so the consumer sees where records are missing, then its own record.
 * For the consumer nothing else changes: it reads index `tail` once
 * published == tail + 1, and never waits for an index that was not claimed.
 */
#ifndef GPUTRACE_RING_WRITER_H
#define GPUTRACE_RING_WRITER_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "gputrace/ring.h"

/* The largest capacity the writer accepts: 2^24 records of 80 bytes, 1.25 GiB
 * of file, far beyond what a launcher that drains continuously needs. */
#define GT_RINGW_MAX_CAPACITY (1u << 24)

/* One ring of this process. Invariants once gt_ringw_open has succeeded: hdr
 * maps `bytes` bytes of <dir>/ring-<pid>.bin, capacity is a power of two
 * equal to hdr->capacity and mask == capacity - 1. The copies of capacity and
 * mask are the ones the writer uses, so a consumer that scribbles over the
 * header cannot make the producer write outside the mapping. */
struct gt_ringw {
    struct gt_ring_header *hdr;
    size_t bytes;
    uint64_t capacity, mask;
    _Atomic uint64_t pending_drops; /* dropped, not yet reported in a DROPPED record */
    unsigned char *frames;          /* the frames region, GT_RING_FRAMES_BYTES */
    uint64_t frames_used;           /* the writer's own count; the header's follows it */
};

/* The payload of a record: struct gt_ring_record without its sequence word. */
struct gt_ringw_event {
    uint32_t kind; /* enum gt_ring_kind */
    int32_t result;
    uint16_t domain, nested;
    uint32_t cbid;
    int32_t device;
    uint32_t stack;
    int64_t tid, ts_ns, enter_ns;
    uint64_t stream, addr, size;
};

/* Nonzero when `capacity` is a power of two between 1 and GT_RINGW_MAX_CAPACITY. */
int gt_ringw_capacity_ok(uint64_t capacity);

/* Creates <dir>/ring-<getpid()>.bin (O_EXCL, mode 0600), sizes it for
 * `capacity` records, maps it shared and fills the header: pid, ppid, `rank`,
 * the clock anchors, the command line from /proc/self/cmdline, status
 * GT_RING_STARTING, and the magic last. Returns 0, or a negative errno:
 * -EINVAL for a bad capacity, -ENAMETOOLONG, -EEXIST when this pid already
 * has a ring there, or whatever open/ftruncate/mmap failed with (the file is
 * then removed). On error *w is zeroed. */
int gt_ringw_open(struct gt_ringw *w, const char *dir, uint64_t capacity, int64_t rank);

/* Unmaps the ring (the file stays for the consumer). Accepts a zeroed or
 * released *w. The injection library never calls it: its ring lives as long
 * as the process. */
void gt_ringw_release(struct gt_ringw *w);

/* Sets the status, after copying `msg` (may be NULL: empty) into
 * status_msg, truncated to fit; the status store has release order so a
 * consumer that reads the status also sees the message. */
void gt_ringw_set_status(struct gt_ringw *w, enum gt_ring_status status, const char *msg);

/* Copies `path` into cupti_path, truncated to fit. Call before the
 * gt_ringw_set_status that makes the ring ACTIVE, whose release store
 * publishes it. */
void gt_ringw_set_cupti(struct gt_ringw *w, const char *path);

/* Appends one entry to the frames region (ring.h): the header `type`, `id`,
 * `arg`, then `len` bytes of `data`, padded to 8 bytes, then publishes it
 * by storing frames_used (release). Not thread-safe: the caller serializes
 * (the Python stack code does, under its lock). Returns 0, or -1 when the
 * region has no room left (nothing is written). */
int gt_ringw_frames_append(struct gt_ringw *w, uint32_t type, uint32_t id, uint32_t arg,
                           const void *data, size_t len);

/* Publishes one record: lock-free, no allocation, no system call, safe from
 * any number of threads at once. Returns 0, or -1 when the ring was full and
 * the record was dropped (counted; see the top of this file). */
int gt_ringw_publish(struct gt_ringw *w, const struct gt_ringw_event *ev);

/* Publishes a GT_RING_KIND_END record for thread `tid`. Unlike
 * gt_ringw_publish it waits up to about `wait_ms` milliseconds for room when
 * the ring is full: it runs at exit, where a short wait costs nothing and the
 * marker tells the consumer the process ended normally. Returns 0 or -1. */
int gt_ringw_publish_end(struct gt_ringw *w, int64_t tid, unsigned wait_ms);

/* CLOCK_MONOTONIC in nanoseconds (the clock of ts_ns and enter_ns). Inline:
 * the callback reads it at every API enter and exit, and a call into
 * another file would add its own call and return to the vDSO's. */
static inline int64_t gt_ringw_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

#endif
