/* Shared by the replays that follow real addresses (validate, inspect): the
 * live allocations of a trace by (device, address). */
#ifndef GPUTRACE_LIVE_H
#define GPUTRACE_LIVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gputrace/addr_map.h"
#include "gputrace/sim.h"
#include "gputrace/trace.h"

/* One live allocation: the simulator's handle and where it came from. */
struct gt_live {
    uint64_t addr;
    int32_t device;
    gt_sim_handle h;
    uint64_t requested, stream;
    int64_t seq, index, ts_ns; /* the alloc event; 0/-1 for the start state */
};

/* The address map (addr_map.h) with a struct gt_live per entry, whose addr
 * and device repeat the key for the callers that are handed the entry. */
struct gt_live_map {
    struct gt_addr_map map;
};

int gt_live_init(struct gt_live_map *m);
void gt_live_release(struct gt_live_map *m);
/* The entry for (device, addr), inserted (zeroed but for the key) if absent;
 * NULL when the host is out of memory. */
struct gt_live *gt_live_put(struct gt_live_map *m, int32_t device, uint64_t addr);
/* The entry for (device, addr), or NULL; valid until the next put or take. */
const struct gt_live *gt_live_find(const struct gt_live_map *m, int32_t device, uint64_t addr);
/* Removes (device, addr) into *out; false if absent. */
bool gt_live_take(struct gt_live_map *m, int32_t device, uint64_t addr, struct gt_live *out);
/* gt_live_put_start: registers a live block of the start state (no alloc
 * event: index -1) with its simulator handle, in live, or in pending when
 * its free was requested before the trace and waits for its completion;
 * 0 or GT_ENOMEM. */
int gt_live_put_start(struct gt_live_map *live, struct gt_live_map *pending,
                      const struct gt_initial_block *b, gt_sim_handle h);
/* gt_live_free_requested: the program freed `gone` (already taken from the
 * live map) while other streams used it (record_stream): tells the
 * simulator and, when it keeps the block pending until its events
 * complete, files the entry in `pending`, where the free_completed event
 * finds it by address. Returns 1 when pending, 0 when freed at once (no
 * caching), GT_ENOMEM. */
int gt_live_free_requested(struct gt_live_map *pending, struct gt_sim *sim,
                           const struct gt_live *gone);
void gt_live_foreach(const struct gt_live_map *m, void (*fn)(void *ctx, const struct gt_live *l),
                     void *ctx);

#endif
