/* A simulation of one device's PyTorch CUDA caching allocator
 * (c10/cuda/CUDACachingAllocator.cpp, DeviceCachingAllocator), driven one
 * request at a time. Every rule in analyzer/sim/sim.c carries a MIRRORS: tag naming
 * the PyTorch function or constant it reproduces;
 * docs/notes/pytorch-allocator.md §1-§11 and §18 describe them.
 *
 * Private pools (CUDA graphs, torch.cuda.MemPool) hold only what a start
 * state puts in them (gt_sim_private_pool): requests are served from the
 * default pools. Not simulated: allocation into private pools (capture,
 * MemPool contexts), their no_split and use_on_oom, IPC, the cudaMallocAsync
 * backend. */
#ifndef GPUTRACE_SIM_H
#define GPUTRACE_SIM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gputrace/conf.h"

/* Indexes of the per-pool statistics, as torch.cuda.memory_stats() names them. */
enum gt_sim_pool_type { GT_SIM_ALL = 0, GT_SIM_SMALL = 1, GT_SIM_LARGE = 2, GT_SIM_POOL_TYPES = 3 };

/* One statistic: current value, peak, cumulative increases. Its "freed"
 * (cumulative decreases) is allocated - current, since every change is an
 * increase or a decrease from zero; gt_sim_stats_foreach and
 * gt_sim_stat_lookup report it. */
struct gt_sim_stat {
    int64_t current, peak, allocated;
};

/* The statistics of torch.cuda.memory_stats() for the native backend. */
struct gt_sim_stats {
    struct gt_sim_stat allocation[GT_SIM_POOL_TYPES];
    struct gt_sim_stat segment[GT_SIM_POOL_TYPES];
    struct gt_sim_stat active[GT_SIM_POOL_TYPES];
    struct gt_sim_stat inactive_split[GT_SIM_POOL_TYPES];
    struct gt_sim_stat allocated_bytes[GT_SIM_POOL_TYPES];
    struct gt_sim_stat reserved_bytes[GT_SIM_POOL_TYPES];
    struct gt_sim_stat active_bytes[GT_SIM_POOL_TYPES];
    struct gt_sim_stat inactive_split_bytes[GT_SIM_POOL_TYPES];
    struct gt_sim_stat requested_bytes[GT_SIM_POOL_TYPES];
    struct gt_sim_stat oversize_allocations;
    struct gt_sim_stat oversize_segments;
    int64_t num_alloc_retries;
    int64_t num_ooms;
    int64_t num_sync_all_streams;
    int64_t num_device_alloc;
    int64_t num_device_free;
    int64_t max_split_size; /* -1 when unlimited, as PyTorch reports it */
    /* Until a free is first deferred (gt_sim_free_requested), a block stops
     * being active when it stops being allocated, so active and
     * active_bytes equal allocation and allocated_bytes in every field:
     * while this is true they are not kept apart (four statistics fewer on
     * every malloc and free) and gt_sim_stats_foreach and
     * gt_sim_stat_lookup report allocation's values for them. */
    bool active_is_allocation;
};

/* What the simulated allocator asked of the driver, for callers that compare
 * with real segment events or draw the segment map. */
enum gt_sim_seg_event {
    GT_SIM_SEGMENT_ALLOC = 1, /* cudaMalloc */
    GT_SIM_SEGMENT_FREE,      /* cudaFree */
    GT_SIM_SEGMENT_MAP,       /* expandable: pages mapped */
    GT_SIM_SEGMENT_UNMAP,     /* expandable: pages unmapped */
};
typedef void (*gt_sim_segment_cb)(void *ctx, enum gt_sim_seg_event ev, uint64_t addr, uint64_t size,
                                  uint64_t stream);

struct gt_sim_options {
    /* Bytes the allocator may hold from the device: a cudaMalloc (or the pages
     * of one map) fails when reserved + n would exceed it. 0 = unlimited. */
    uint64_t device_limit;
    /* totalGlobalMem of the card, the base of per_process_memory_fraction and
     * of the expandable VA reservation. 0 = device_limit, else 80 GiB. */
    uint64_t device_total;
    gt_sim_segment_cb on_segment; /* may be NULL */
    /* Where a trace carries the real allocator's segment addresses, replay
     * borrows them (docs/notes/pytorch-allocator.md §20.1): called for each new cudaMalloc segment
     * or expandable VA reservation with its size; returns the address to use, or 0 for the
     * synthetic first-fit address. May be NULL. */
    uint64_t (*segment_addr)(void *ctx, uint64_t size);
    void *cb_ctx;
    /* Run gt_sim_check after every operation (the tests set it; GT_DEBUG=2
     * in the environment does too). */
    bool check_every_op;
    /* Keep up only the statistics a replay reports (gt_sim_reported_stats):
     * no decision of the allocator reads a statistic, so the run, its
     * segments and those statistics are what they would be with all of
     * them kept, and a malloc and a free skip the rest (7% of the
     * simulator's time on the bench trace). The others are then not
     * meaningful. */
    bool reported_stats_only;
};

struct gt_sim;

/* A handle to an allocation made by gt_sim_malloc; valid until gt_sim_free. */
typedef uint32_t gt_sim_handle;
#define GT_SIM_NO_HANDLE UINT32_MAX

/* gt_sim_new: a fresh allocator for one device with the given configuration
 * (copied). GT_EUNSUPPORTED for backend:cudaMallocAsync, GT_ENOMEM. */
int gt_sim_new(const struct gt_conf *conf, const struct gt_sim_options *opts, struct gt_sim **out);
void gt_sim_free_all(struct gt_sim *s); /* destroys the simulator; accepts NULL */
/* gt_sim_clone: an independent copy of s, blocks, handles and statistics
 * included, that goes on under conf (its memory_stats max_split_size that
 * of conf, as if built with it). Replay's configs that behave alike so far
 * share one simulator and part with this (replay.c). GT_EUNSUPPORTED as
 * gt_sim_new, GT_ENOMEM. */
int gt_sim_clone(const struct gt_sim *s, const struct gt_conf *conf, struct gt_sim **out);

/* gt_sim_malloc: allocate size bytes on stream, as CUDACachingAllocator::malloc.
 * Returns 0 and a handle, or GT_EOOM when PyTorch would have raised
 * OutOfMemoryError (num_ooms counted; blocks released on the way stay
 * released), or GT_ENOMEM when the host ran out. size 0 returns
 * GT_SIM_NO_HANDLE without touching anything, as allocate(0) does. */
int gt_sim_malloc(struct gt_sim *s, uint64_t size, uint64_t stream, gt_sim_handle *out);
/* One block of a segment that exists before the first request. */
struct gt_sim_block_init {
    uint64_t addr, size, requested;
    bool allocated;
};

/* gt_sim_preload_segment: puts a cudaMalloc segment that existed before the
 * first request (a snapshot that starts mid-run) at its real address, tiled by
 * blocks (address order, no gaps, sizes multiples of 512), in the default
 * pools (private_pool 0) or a private pool of gt_sim_private_pool. Adjacent free
 * blocks are merged as the allocator would have them. handles[i] receives
 * the handle of each allocated block (GT_SIM_NO_HANDLE for free ones).
 * Statistics count the segment and its blocks as if allocated now.
 * GT_EINVAL when the blocks do not tile the segment or the range overlaps
 * another segment; GT_EUNSUPPORTED without caching. Expandable segments go
 * through gt_sim_preload_mapped. */
int gt_sim_preload_segment(struct gt_sim *s, int private_pool, uint64_t addr, uint64_t size,
                           uint64_t stream, bool small_pool, const struct gt_sim_block_init *blocks,
                           size_t n, gt_sim_handle *handles);
/* gt_sim_preload_mapped: puts one contiguous mapped range of an expandable
 * segment that existed before the first request (a snapshot reports each
 * such range as one segment), tiled by blocks as for gt_sim_preload_segment;
 * size is whole pages (2 MiB small, large_segment_size large). The range
 * joins a VA reservation of the same stream and pool already preloaded
 * that holds it unmapped at a whole number of pages from its base, else it
 * opens one at its own address, of the size a new one would have, cut short
 * at the next range in use: so preload every cudaMalloc segment first and
 * the mapped ranges in address order. Later requests grow, unmap and
 * release it by the expandable-segment rules (docs/notes/pytorch-allocator.md
 * §10, §20.9). Reserved bytes grow by size; the segment statistic does not (it
 * counts cudaMalloc segments). GT_EINVAL when the blocks do not tile the
 * range, the range is not whole pages, overlaps a range in use or touches
 * another mapped range; GT_EUNSUPPORTED without caching. */
int gt_sim_preload_mapped(struct gt_sim *s, int private_pool, uint64_t addr, uint64_t size,
                          uint64_t stream, bool small_pool, const struct gt_sim_block_init *blocks,
                          size_t n, gt_sim_handle *handles);

/* gt_sim_private_pool: the private pool (a CUDA graph's or a
 * torch.cuda.MemPool's) of MempoolId_t (id_first, id_second), created at
 * its first mention with a use count of 1 (*created then true); *pool
 * receives its handle for the preload functions (0, the default pools, for
 * (0, 0)). Its segments serve
 * no request of the default pools, and empty_cache releases them only once
 * gt_sim_release_pool has brought the use count to 0; the pool goes once it
 * holds nothing (docs/notes/pytorch-allocator.md §4.4, §20.10).
 * GT_EUNSUPPORTED past 31 private pools at once. */
int gt_sim_private_pool(struct gt_sim *s, int64_t id_first, int64_t id_second, int *pool,
                        bool *created);
/* gt_sim_release_pool: a graph or MemPool using the pool is gone
 * (releasePool): its use count drops by one. */
void gt_sim_release_pool(struct gt_sim *s, int pool);

/* gt_sim_set_conf: torch.cuda.memory._set_allocator_settings mid-run: the new
 * settings apply from the next call; existing segments of either kind stay.
 * memory_stats' max_split_size keeps the value the allocator started with. */
void gt_sim_set_conf(struct gt_sim *s, const struct gt_conf *conf);
/* gt_sim_free: the program frees the allocation (free + free_block). */
void gt_sim_free(struct gt_sim *s, gt_sim_handle h);
/* gt_sim_free_requested: the program frees an allocation that other streams
 * still use (record_stream): allocated memory drops, the block stays active
 * and is neither reused, merged nor released until gt_sim_free_completed,
 * or until empty_cache or the last-resort retry of a malloc synchronizes
 * every stream (synchronize_and_free_events). Returns true when the block
 * is pending (the handle stays valid until it completes), false when it was
 * freed at once (no caching, or not an allocated block). */
bool gt_sim_free_requested(struct gt_sim *s, gt_sim_handle h);
/* gt_sim_free_completed: the events of a pending free completed
 * (process_events): the block goes back to its pool; the handle is no
 * longer valid. A handle that is not pending is ignored. */
void gt_sim_free_completed(struct gt_sim *s, gt_sim_handle h);
/* A run of requests for gt_sim_run: what replay makes of a trace's events,
 * applied to one simulator per config. */
enum gt_sim_op_kind {
    GT_SIM_OP_ALLOC = 1,      /* gt_sim_malloc(size, stream) into slots[slot] */
    GT_SIM_OP_FREE,           /* gt_sim_free(slots[slot]) */
    GT_SIM_OP_EMPTY_CACHE,    /* gt_sim_empty_cache */
    GT_SIM_OP_PROBE,          /* a failed request: malloc(size), then free it if it fit */
    GT_SIM_OP_FREE_REQUESTED, /* gt_sim_free_requested(slots[slot]) */
    GT_SIM_OP_FREE_COMPLETED  /* gt_sim_free_completed(slots[slot]) */
};

/* One request. event: its 0-based position among the trace's events; dev:
 * the caller's index of its device (gt_sim_run ignores it). */
struct gt_sim_op {
    uint64_t size;
    uint64_t stream;
    int64_t event;
    uint32_t slot;
    uint8_t kind; /* enum gt_sim_op_kind; others are skipped */
    uint8_t dev;
};

/* What a run watches, carried from one gt_sim_run to the next: the peak of
 * reserved memory and, of the moments it stood there, the most allocated
 * then; the event of the first out-of-memory error (-1: none yet). Start
 * with {0, 0, -1}. */
struct gt_sim_watch {
    uint64_t peak_reserved;
    uint64_t allocated_at_peak;
    int64_t first_oom_event;
};

/* gt_sim_watch_peak: the watch takes in s's present moment; true when
 * that moment is now the peak (higher reserved, or as high with more
 * allocated), the rule of every command's peak. */
bool gt_sim_watch_peak(const struct gt_sim *s, struct gt_sim_watch *w);
/* gt_sim_run: applies ops[0..n) in order, each a request of one of the
 * calls above, with slots as the table from an op's slot to its handle
 * (written at an alloc, GT_SIM_NO_HANDLE at a free or after an
 * out-of-memory error, whose free is then a no-op); NULL when no op
 * uses a slot. Out-of-memory errors are the run's answer, not errors:
 * they go to w. Returns 0, or GT_ENOMEM when the host ran out (the run
 * stops there). One call for a batch of requests, the replay's hot path:
 * malloc and free are inlined into its loop. */
int gt_sim_run(struct gt_sim *s, const struct gt_sim_op *ops, size_t n, gt_sim_handle *slots,
               struct gt_sim_watch *w);
/* gt_sim_reset_peak_stats: torch.cuda.reset_peak_memory_stats(): every
 * statistic's peak becomes its current value. */
void gt_sim_reset_peak_stats(struct gt_sim *s);
/* gt_sim_empty_cache: torch.cuda.empty_cache() (release_cached_blocks). */
void gt_sim_empty_cache(struct gt_sim *s);

uint64_t gt_sim_addr(const struct gt_sim *s, gt_sim_handle h);
/* gt_sim_block_size: the size of the block handed out (rounded, maybe unsplit). */
uint64_t gt_sim_block_size(const struct gt_sim *s, gt_sim_handle h);
/* gt_sim_get_stats: the statistics, kept up to date in place: the pointer
 * stays valid, and shows every later operation, until gt_sim_free_all.
 * Read active and active_bytes, and any "freed", through
 * gt_sim_stats_foreach or gt_sim_stat_lookup (struct gt_sim_stats). */
const struct gt_sim_stats *gt_sim_get_stats(const struct gt_sim *s);
/* gt_sim_reported_stats: of st, what a simulator made with
 * reported_stats_only keeps up (reserved_bytes and allocated_bytes of "all",
 * the num_* counters, max_split_size), the rest zero. */
struct gt_sim_stats gt_sim_reported_stats(const struct gt_sim_stats *st);
/* gt_sim_largest_free_block: the largest cached free block (any stream). */
uint64_t gt_sim_largest_free_block(const struct gt_sim *s);

/* gt_sim_round_size: MIRRORS CUDACachingAllocator round_size. */
uint64_t gt_sim_round_size(const struct gt_conf *c, uint64_t size);
/* gt_sim_allocation_size: MIRRORS get_allocation_size (segment for a rounded size). */
uint64_t gt_sim_allocation_size(const struct gt_conf *c, uint64_t rounded);

/* gt_sim_stats_foreach: calls fn once per key of torch.cuda.memory_stats(),
 * with PyTorch's flattened name ("reserved_bytes.all.peak"), in sorted order. */
void gt_sim_stats_foreach(const struct gt_sim_stats *st,
                          void (*fn)(void *ctx, const char *name, int64_t value), void *ctx);
/* gt_sim_stat_lookup: the value of one flattened key; GT_ENOENT if unknown. */
int gt_sim_stat_lookup(const struct gt_sim_stats *st, const char *name, int64_t *value);

/* One segment for reports: a cudaMalloc'd range or one contiguous mapped
 * range of an expandable segment. */
struct gt_sim_segment_info {
    uint64_t addr, size, allocated, stream;
    bool small_pool, expandable;
    size_t nblocks;
};
/* gt_sim_segments: calls fn for each segment in address order, and fn_block
 * (may be NULL) for each block inside it. */
void gt_sim_segments(const struct gt_sim *s,
                     void (*fn)(void *ctx, const struct gt_sim_segment_info *seg),
                     void (*fn_block)(void *ctx, uint64_t addr, uint64_t size, bool allocated),
                     void *ctx);

/* gt_sim_check: verifies the bookkeeping (block chains tile segments, sums
 * match the stats, allocated <= reserved, free sets ordered and complete).
 * Returns 0, or GT_ECORRUPT with the first violation in msg. */
int gt_sim_check(const struct gt_sim *s, char *msg, size_t len);

#endif
