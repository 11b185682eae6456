/* The Python stacks one traced process defined in its ring's frames region
 * (tracer/include/gputrace/ring.h, "Python stacks"), copied out by the drain so
 * that they outlive the mapping. The region is written by a process we do
 * not trust to be well-formed (it may have died mid-entry, or the file may
 * be damaged): every entry is checked before it is used, and a bad one
 * ends the reading of that ring's stacks, never the drain. */
#ifndef GPUTRACE_RING_STACKS_INT_H
#define GPUTRACE_RING_STACKS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gputrace/ring.h"
#include "gputrace/trace.h"

struct gt_ring_frame_copy {
    char *filename, *name; /* owned */
    int64_t line;
};

struct gt_ring_stack_copy {
    uint32_t depth;
    uint32_t frames[GT_RING_MAX_DEPTH]; /* frame ids */
};

/* Zeroed: empty. */
struct gt_ring_stacks {
    uint64_t read;                     /* bytes of the region parsed */
    bool bad;                          /* a damaged entry was met: nothing more is read */
    struct gt_ring_frame_copy *frames; /* frames[id - 1] */
    struct gt_ring_stack_copy *stacks; /* stacks[id - 1] */
    uint32_t nframes, nstacks;
    size_t capframes, capstacks;
};

/* Parses the entries of `region` (`bytes` long) up to `used` bytes that
 * were not parsed yet. Returns 0; -1 when an entry is damaged (s->bad is
 * then set and why[len] says what; later calls do nothing); -2 when memory
 * ran out (try again later). */
int gt_ring_stacks_read(struct gt_ring_stacks *s, const unsigned char *region, uint64_t bytes,
                        uint64_t used, char *why, size_t len);

/* Stack `id`'s frames, innermost first, into out[GT_RING_MAX_DEPTH] (the
 * strings stay owned by s). Returns the depth, 0 when id is not defined. */
size_t gt_ring_stacks_get(const struct gt_ring_stacks *s, uint32_t id, struct gt_frame *out);

/* Frees what s holds and zeroes it. */
void gt_ring_stacks_free(struct gt_ring_stacks *s);

#endif
