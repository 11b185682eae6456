/* A simulation of PyTorch's CUDA caching allocator for one device.
 *
 * The code follows c10/cuda/CUDACachingAllocator.cpp (DeviceCachingAllocator)
 * function by function; the docs/notes/pytorch-allocator.md paraphrases it.
 * Each rule is tagged MIRRORS: with the function or constant it reproduces.
 * Blocks live in one array and refer to each other by index; the free blocks
 * of each pool sit in ordered sets (sim_set.c) keyed like PyTorch's std::set. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gputrace/array.h"
#include "gputrace/err.h"
#include "gputrace/sim.h"
#include "gputrace/units.h"
#include "sim_int.h"
#include "gputrace/banned.h"

#define MIB ((uint64_t)1 << 20)
#define GIB ((uint64_t)1 << 30)
/* MIRRORS: kMinBlockSize = 512: all sizes are rounded to multiples of 512. */
#define K_MIN_BLOCK_SIZE ((uint64_t)512)
/* MIRRORS: kSmallSize = 1 MiB: rounded sizes up to this go to the small pool. */
#define K_SMALL_SIZE MIB
/* MIRRORS: kSmallBuffer = 2 MiB: small-pool segment and expandable page size. */
#define K_SMALL_BUFFER (2 * MIB)
/* MIRRORS: kMinLargeAlloc = 10 MiB: sizes from here get their own segment. */
#define K_MIN_LARGE_ALLOC (10 * MIB)
/* MIRRORS: kRoundLarge = 2 MiB: rounding of segment sizes >= kMinLargeAlloc. */
#define K_ROUND_LARGE (2 * MIB)
/* MIRRORS: allocate(): sizes >= 1 EB are refused before any bookkeeping. */
#define K_ONE_EXA_BYTES ((uint64_t)1 << 60)
/* Synthetic segment addresses (docs/notes/pytorch-allocator.md §18.2): first fit from here, 2 MiB
 * aligned. */
#define SIM_ADDR_BASE ((uint64_t)0x7f0000000000)
#define SIM_ADDR_ALIGN (2 * MIB)
#define SIM_DEFAULT_TOTAL (80 * GIB)

/* Pool numbers: the default small and large pools, then a small and a large
 * pool for each private pool k: 2 + 2k and 3 + 2k. The low bit says large. */
enum { POOL_SMALL = 0, POOL_LARGE = 1 };
#define SIM_MAX_PRIVATE 31
#define SIM_NPOOLS (2 + 2 * SIM_MAX_PRIVATE)

static inline bool pool_is_small(int pool)
{
    return (pool & 1) == POOL_SMALL;
}

/* A block: a piece of a segment, in one of three states (`allocated`):
 * BLK_FREE, BLK_ALLOCATED, or BLK_PENDING, freed while other streams still
 * used it, so counted active but not allocated, and neither merged, reused
 * nor released until they are done. Invariants: blocks linked by prev/next
 * tile their segment without gaps in address order; a free mapped block is
 * in its pool's `blocks` set, an unmapped (expandable) block in `unmapped`,
 * an allocated or pending block in neither. `xseg` is GT_SIM_NIL for
 * cudaMalloc segments. gc_count_base, from which the pool's clock gives a
 * free block's age for garbage collection, holds a pending block's place in
 * gt_sim.pending instead (the block sets it anew when it becomes free).
 * `live` is 0 for a slot on gt_sim.free_list, so a stale handle is refused. */
struct blk {
    uint64_t addr, size, requested, stream;
    uint64_t gc_count_base;
    uint32_t prev, next;
    uint32_t xseg;
    /* in this order: mergeable reads (mapped, allocated) and free_request
     * (allocated, live) as one 16-bit value each */
    uint8_t pool, mapped, allocated, live;
    /* A block fills a cache line, in an array aligned to one (blk_array):
     * at 56 bytes from malloc's 16-byte alignment, 6 blocks in 8 straddled
     * two lines, and a free that looks at its neighbours touched up to six.
     * The simulator alone went from 32.9-33.2 to 32.2-32.6 ns/event
     * (bench_replay, default config, 4 x 10 alternating runs). */
    unsigned char to_line[8];
};

#define BLK_ALIGN 64
_Static_assert(sizeof(struct blk) == BLK_ALIGN, "a block is one cache line");

enum { BLK_FREE = 0, BLK_ALLOCATED = 1, BLK_PENDING = 2 };

/* The free blocks and unmapped ranges of one stream in one pool. */
struct stream_sets {
    uint64_t stream;
    struct gt_sim_set blocks;
    struct gt_sim_set unmapped;
};

/* MIRRORS: BlockPool: the free set, the unmapped expandable ranges and the
 * garbage-collection clock (get_free_blocks_call_count). PyTorch's one set
 * ordered by (stream, size, address) is kept as one set per stream, sorted by
 * stream: iterating them in order is iterating PyTorch's set. */
struct pool {
    struct stream_sets *ss;
    size_t nss, capss;
    uint64_t gc_clock;
};

/* MIRRORS: PrivatePool: a CUDA graph's or torch.cuda.MemPool's own small
 * and large BlockPools, which no request outside it is served from, and
 * use_count, the graphs and MemPools using it: at 0 (releasePool)
 * release_cached_blocks may cudaFree its unsplit free segments, and the
 * pool goes once it holds none. */
struct private_pool {
    int64_t id_first, id_second;
    int use_count;
    bool live;
};

/* MIRRORS: ExpandableSegment: a VA reservation of one (stream, pool) mapped in
 * pages of `page` bytes. */
struct xseg {
    uint64_t base, size, page, stream;
    uint8_t pool, live;
};

/* A range of synthetic device address space in use; kept sorted by start. */
struct range {
    uint64_t start, end;
};

struct gt_sim {
    struct gt_conf conf;
    struct gt_sim_options opts;
    struct gt_sim_stats st;
    struct blk *blk;
    size_t nblk, capblk;
    uint32_t free_list; /* unused block slots, chained through .next */
    struct xseg *xs;
    size_t nxs, capxs;
    struct range *ranges;
    size_t nranges, capranges;
    uint64_t total_allocated_memory; /* MIRRORS: total_allocated_memory (= reserved) */
    uint64_t allowed_memory_maximum; /* 0 = no fraction set */
    uint64_t device_total;
    int any_divisions; /* some roundup_power2_divisions entry > 1 */
    int check_every_op;
    int broken; /* host allocation failed mid-operation: state unreliable */
    char check_msg[160];
    uint32_t *pending; /* blocks freed with events outstanding, any order */
    size_t npending, cappending;
    struct private_pool priv[SIM_MAX_PRIVATE];
    /* the private pools' 62 are cold, and the struct's hot fields stay
     * together before them */
    struct pool pools[SIM_NPOOLS];
    /* ranges[0 .. ranges_dense) leave no gap from SIM_ADDR_BASE on: each
     * starts at or below the end of those before it (or the base), so
     * addr_reserve's first fit never stops there and starts after them.
     * Cold, so last: beside `ranges` it cost malloc and free 17 M
     * instructions (callgrind) through the code the offsets gave. */
    size_t ranges_dense;
};

/* ---------------------------------------------------------------- stats */

static void stat_inc(struct gt_sim_stat *s, uint64_t n)
{
    s->current += (int64_t)n;
    s->allocated += (int64_t)n;
    if (s->current > s->peak)
        s->peak = s->current;
}

/* "freed" is not counted: it is allocated - current (struct gt_sim_stat). */
static void stat_dec(struct gt_sim_stat *s, uint64_t n)
{
    s->current -= (int64_t)n;
}

/* The statistic index of a pool's type: GT_SIM_SMALL for a small pool,
 * GT_SIM_LARGE for a large one, from the pool number's low bit, without the
 * compare-and-select that the two-way choice compiled to (7 instructions
 * an update, recomputed for each array). */
_Static_assert(GT_SIM_LARGE == GT_SIM_SMALL + POOL_LARGE && POOL_SMALL == 0,
               "pool_stat_type maps the low bit of a pool to its stat type");
static inline size_t pool_stat_type(int pool)
{
    return GT_SIM_SMALL + (size_t)(pool & 1);
}

/* MIRRORS: for_each_selected_stat_type with get_stat_types_for_pool: every
 * array stat changes for "all" and for the block's pool type. */
static void arr_inc(struct gt_sim_stat *a, int pool, uint64_t n)
{
    stat_inc(&a[GT_SIM_ALL], n);
    stat_inc(&a[pool_stat_type(pool)], n);
}

static void arr_dec(struct gt_sim_stat *a, int pool, uint64_t n)
{
    stat_dec(&a[GT_SIM_ALL], n);
    stat_dec(&a[pool_stat_type(pool)], n);
}

/* A block became, or stopped being, active (allocated or pending). Until a
 * free is first deferred, active is allocation (struct gt_sim_stats), and
 * only allocation is counted. */
static void active_inc(struct gt_sim *s, int pool, uint64_t bytes)
{
    if (s->st.active_is_allocation)
        return;
    arr_inc(s->st.active, pool, 1);
    arr_inc(s->st.active_bytes, pool, bytes);
}

static void active_dec(struct gt_sim *s, int pool, uint64_t bytes)
{
    if (s->st.active_is_allocation)
        return;
    arr_dec(s->st.active, pool, 1);
    arr_dec(s->st.active_bytes, pool, bytes);
}

/* The first deferred free: active and allocation part from here on. */
static void active_part_from_allocation(struct gt_sim *s)
{
    if (!s->st.active_is_allocation)
        return;
    memcpy(s->st.active, s->st.allocation, sizeof s->st.active);
    memcpy(s->st.active_bytes, s->st.allocated_bytes, sizeof s->st.active_bytes);
    s->st.active_is_allocation = false;
}

/* Whether the statistics no replay reports are kept up (reported_stats_only
 * off): allocation, segment, active, inactive_split, the pool types'
 * allocated_bytes, requested_bytes, oversize_*. Only malloc and free test
 * it, where they are hot; the rare paths keep those statistics anyway,
 * unread. */
static inline bool all_stats(const struct gt_sim *s)
{
    return !s->opts.reported_stats_only;
}

struct gt_sim_stats gt_sim_reported_stats(const struct gt_sim_stats *st)
{
    struct gt_sim_stats r;
    memset(&r, 0, sizeof r);
    r.allocated_bytes[GT_SIM_ALL] = st->allocated_bytes[GT_SIM_ALL];
    r.reserved_bytes[GT_SIM_ALL] = st->reserved_bytes[GT_SIM_ALL];
    r.num_alloc_retries = st->num_alloc_retries;
    r.num_ooms = st->num_ooms;
    r.num_sync_all_streams = st->num_sync_all_streams;
    r.num_device_alloc = st->num_device_alloc;
    r.num_device_free = st->num_device_free;
    r.max_split_size = st->max_split_size;
    r.active_is_allocation = true;
    return r;
}

/* ---------------------------------------------------------------- blocks */

/* A copy of the first n blocks of v in a new array of cap, aligned to a
 * cache line (struct blk); NULL when the host is out of memory. */
static struct blk *blk_array(const struct blk *v, size_t n, size_t cap)
{
    struct blk *a = aligned_alloc(BLK_ALIGN, cap * sizeof *a);
    if (a != NULL && n > 0)
        memcpy(a, v, n * sizeof *a);
    return a;
}

/* A slot for a new block, its fields unset: for the callers that copy a
 * whole block into it (a split, on every malloc that splits). */
static uint32_t blk_slot(struct gt_sim *s)
{
    uint32_t i;
    if (s->free_list != GT_SIM_NIL) {
        i = s->free_list;
        s->free_list = s->blk[i].next;
    } else {
        if (s->nblk == s->capblk) {
            size_t cap = s->capblk ? s->capblk * 2 : 1024;
            if (cap >= GT_SIM_NIL)
                return GT_SIM_NIL;
            struct blk *b = blk_array(s->blk, s->nblk, cap);
            if (b == NULL)
                return GT_SIM_NIL;
            free(s->blk);
            s->blk = b;
            s->capblk = cap;
        }
        i = (uint32_t)s->nblk++;
    }
    return i;
}

static uint32_t blk_new(struct gt_sim *s)
{
    uint32_t i = blk_slot(s);
    if (i == GT_SIM_NIL)
        return GT_SIM_NIL;
    /* field by field: the compiler cannot drop a memset's stores that the
     * caller overwrites at once */
    struct blk *b = &s->blk[i];
    b->addr = b->size = b->requested = b->stream = b->gc_count_base = 0;
    b->prev = b->next = b->xseg = GT_SIM_NIL;
    b->pool = b->allocated = b->mapped = 0;
    b->live = 1;
    return i;
}

/* The slot goes back on the free list; its size and address stay until it
 * is reused (free_block keys the merged neighbours' entries by them). */
static void blk_delete(struct gt_sim *s, uint32_t i)
{
    s->blk[i].live = 0;
    s->blk[i].next = s->free_list;
    s->free_list = i;
}

static int is_split(const struct blk *b)
{
    return b->prev != GT_SIM_NIL || b->next != GT_SIM_NIL;
}

static struct gt_sim_key free_key(const struct gt_sim *s, uint32_t i)
{
    const struct blk *b = &s->blk[i];
    struct gt_sim_key k = {b->size, b->addr, i};
    return k;
}

static struct gt_sim_key unmapped_key(const struct gt_sim *s, uint32_t i)
{
    const struct blk *b = &s->blk[i];
    struct gt_sim_key k = {0, b->addr, i};
    return k;
}

/* The sets of a stream in a pool, or NULL if the stream has none yet. */
static inline struct stream_sets *sets_find(const struct gt_sim *s, int pool, uint64_t stream)
{
    const struct pool *p = &s->pools[pool];
    /* most programs use one stream: its sets come first */
    if (p->nss && p->ss[0].stream == stream)
        return &p->ss[0];
    for (size_t i = 1; i < p->nss; i++)
        if (p->ss[i].stream == stream)
            return &p->ss[i];
    return NULL;
}

/* The sets of a stream in a pool, created in stream order if absent; NULL
 * when the host is out of memory. Creating one may move the others. */
static struct stream_sets *sets_new(struct gt_sim *s, int pool, uint64_t stream);

static inline struct stream_sets *sets_of(struct gt_sim *s, int pool, uint64_t stream)
{
    struct stream_sets *found = sets_find(s, pool, stream);
    return found != NULL ? found : sets_new(s, pool, stream);
}

/* The slow part of sets_of: a stream's first free block in this pool. */
static struct stream_sets *sets_new(struct gt_sim *s, int pool, uint64_t stream)
{
    struct pool *p = &s->pools[pool];
    if (p->nss == p->capss) {
        struct stream_sets *v = gt_array_grow(p->ss, &p->capss, p->nss, sizeof *v);
        if (v == NULL)
            return NULL;
        p->ss = v;
    }
    size_t i = 0;
    while (i < p->nss && p->ss[i].stream < stream)
        i++;
    memmove(&p->ss[i + 1], &p->ss[i], (p->nss - i) * sizeof *p->ss);
    memset(&p->ss[i], 0, sizeof p->ss[i]);
    p->ss[i].stream = stream;
    p->nss++;
    return &p->ss[i];
}

static void note_host_failure(struct gt_sim *s, int rc)
{
    if (rc && !s->broken) {
        s->broken = 1;
        snprintf(s->check_msg, sizeof s->check_msg, "host memory ran out during simulation");
    }
}

/* MIRRORS: BlockPool::insert_into_blocks: stamps the block with the pool's
 * GC clock as it enters the free set. */
static struct gt_sim_set *blocks_of(struct gt_sim *s, uint32_t i)
{
    struct stream_sets *ss = sets_of(s, s->blk[i].pool, s->blk[i].stream);
    return ss != NULL ? &ss->blocks : NULL;
}

static struct gt_sim_set *unmapped_of(struct gt_sim *s, uint32_t i)
{
    struct stream_sets *ss = sets_of(s, s->blk[i].pool, s->blk[i].stream);
    return ss != NULL ? &ss->unmapped : NULL;
}

static void pool_insert(struct gt_sim *s, uint32_t i)
{
    s->blk[i].gc_count_base = s->pools[s->blk[i].pool].gc_clock;
    struct gt_sim_key k = free_key(s, i);
    struct gt_sim_set *set = blocks_of(s, i);
    note_host_failure(s, set != NULL ? gt_sim_set_insert(set, &k) : GT_ENOMEM);
}

static void pool_erase(struct gt_sim *s, uint32_t i)
{
    struct gt_sim_key k = free_key(s, i);
    struct gt_sim_set *set = blocks_of(s, i);
    if (set != NULL)
        gt_sim_set_erase(set, &k);
}

static void unmapped_insert(struct gt_sim *s, uint32_t i)
{
    struct gt_sim_key k = unmapped_key(s, i);
    struct gt_sim_set *set = unmapped_of(s, i);
    note_host_failure(s, set != NULL ? gt_sim_set_insert(set, &k) : GT_ENOMEM);
}

static void unmapped_erase(struct gt_sim *s, uint32_t i)
{
    struct gt_sim_key k = unmapped_key(s, i);
    struct gt_sim_set *set = unmapped_of(s, i);
    if (set != NULL)
        gt_sim_set_erase(set, &k);
}

/* ------------------------------------------------------- address space */

static int range_insert(struct gt_sim *s, size_t i, uint64_t start, uint64_t len)
{
    if (s->nranges == s->capranges) {
        struct range *r = gt_array_grow(s->ranges, &s->capranges, s->nranges, sizeof *r);
        if (r == NULL)
            return GT_ENOMEM;
        s->ranges = r;
    }
    memmove(&s->ranges[i + 1], &s->ranges[i], (s->nranges - i) * sizeof *s->ranges);
    s->ranges[i].start = start;
    s->ranges[i].end = start + len;
    s->nranges++;
    /* A range inside the gap-free prefix lies below the base (it cannot
     * overlap what the prefix covers above it), so the prefix stays
     * gap-free, one longer. */
    if (i < s->ranges_dense)
        s->ranges_dense++;
    return 0;
}

/* A borrowed real address (docs/notes/pytorch-allocator.md §20.1), if the caller supplies one that
 * does not overlap a range in use; 0 otherwise. */
static uint64_t addr_borrow(struct gt_sim *s, uint64_t len, size_t *pos)
{
    if (s->opts.segment_addr == NULL)
        return 0;
    uint64_t at = s->opts.segment_addr(s->opts.cb_ctx, len);
    if (at == 0 || at + len < at)
        return 0;
    size_t i = 0;
    while (i < s->nranges && s->ranges[i].end <= at)
        i++;
    if (i < s->nranges && s->ranges[i].start < at + len)
        return 0;
    *pos = i;
    return at;
}

/* Synthetic addresses (docs/notes/pytorch-allocator.md §18.2): the lowest free 2 MiB-aligned range
 * at or above SIM_ADDR_BASE, first fit; freed ranges are reused. */
static int addr_reserve(struct gt_sim *s, uint64_t size, uint64_t *out)
{
    uint64_t len = (size + SIM_ADDR_ALIGN - 1) / SIM_ADDR_ALIGN * SIM_ADDR_ALIGN;
    size_t i = 0;
    uint64_t at = addr_borrow(s, len, &i);
    if (at == 0) {
        /* The scan from the first range, resumed after the gap-free
         * prefix: ranges are sorted and disjoint, so the last of the
         * prefix ends highest. Without it, the scan walked every segment
         * on each new one (callgrind: 3,300 instructions a cudaMalloc on
         * the 1 M-event trace). */
        i = s->ranges_dense;
        at = SIM_ADDR_BASE;
        if (i > 0 && s->ranges[i - 1].end > at)
            at = s->ranges[i - 1].end;
        for (; i < s->nranges; i++) {
            if (s->ranges[i].start >= at + len)
                break;
            if (i == s->ranges_dense && s->ranges[i].start <= at)
                s->ranges_dense++;
            if (s->ranges[i].end > at)
                at = s->ranges[i].end;
        }
    }
    if (range_insert(s, i, at, len))
        return GT_ENOMEM;
    *out = at;
    return 0;
}

static void addr_release(struct gt_sim *s, uint64_t start)
{
    /* the first range starting at or after start, by binary search: the
     * ranges are sorted by start (a linear search walked every segment on
     * each cudaFree) */
    size_t i = 0, n = s->nranges;
    while (n > 0) {
        size_t half = n / 2;
        if (s->ranges[i + half].start < start) {
            i += half + 1;
            n -= half + 1;
        } else {
            n = half;
        }
    }
    if (i == s->nranges || s->ranges[i].start != start)
        return;
    memmove(&s->ranges[i], &s->ranges[i + 1], (s->nranges - i - 1) * sizeof *s->ranges);
    s->nranges--;
    if (i < s->ranges_dense) /* the gap may be here */
        s->ranges_dense = i;
}

static void emit(struct gt_sim *s, enum gt_sim_seg_event ev, uint64_t addr, uint64_t size,
                 uint64_t stream)
{
    if (s->opts.on_segment != NULL)
        s->opts.on_segment(s->opts.cb_ctx, ev, addr, size, stream);
}

/* ------------------------------------------------------------- sizing */

uint64_t gt_sim_allocation_size(const struct gt_conf *c, uint64_t size)
{
    /* MIRRORS: get_allocation_size: <= 1 MiB -> 2 MiB segment. */
    if (size <= K_SMALL_SIZE)
        return K_SMALL_BUFFER;
    /* MIRRORS: get_allocation_size: 1 MiB < size < 10 MiB -> 20 MiB segment
     * (kLargeBuffer; newest: large_segment_size_mb, default 20). */
    if (size < K_MIN_LARGE_ALLOC)
        return c->large_segment_size;
    /* MIRRORS: get_allocation_size: >= 10 MiB -> own segment rounded up to 2 MiB. */
    return K_ROUND_LARGE * ((size + K_ROUND_LARGE - 1) / K_ROUND_LARGE);
}

/* MIRRORS: roundup_power2_next_division: round up to the next of `divisions`
 * equal steps between two powers of two; powers of two stay as they are. */
static uint64_t roundup_power2_next_division(uint64_t size, uint64_t divisions)
{
    if ((size & (size - 1)) == 0)
        return size;
    uint64_t power2_floor = (uint64_t)1 << gt_units_log2_floor(size);
    uint64_t step = power2_floor >> gt_units_log2_floor(divisions);
    if (step == 0)
        return power2_floor << 1;
    uint64_t round_floor = size & ~(step - 1);
    return round_floor == size ? size : round_floor + step;
}

uint64_t gt_sim_round_size(const struct gt_conf *c, uint64_t size)
{
    /* MIRRORS: round_size: below kMinBlockSize -> 512. */
    if (size < K_MIN_BLOCK_SIZE)
        return K_MIN_BLOCK_SIZE;
    /* MIRRORS: round_size: power-2 divisions only when divisions > 1 and
     * size > 512 * divisions; else a multiple of 512. */
    uint64_t d = gt_conf_divisions_for(c, size);
    if (d > 1 && size > K_MIN_BLOCK_SIZE * d)
        return roundup_power2_next_division(size, d);
    return K_MIN_BLOCK_SIZE * ((size + K_MIN_BLOCK_SIZE - 1) / K_MIN_BLOCK_SIZE);
}

/* ------------------------------------------------------------ lifecycle */

static void apply_fraction(struct gt_sim *s);

int gt_sim_new(const struct gt_conf *conf, const struct gt_sim_options *opts, struct gt_sim **out)
{
    *out = NULL;
    if (conf->backend != GT_CONF_BACKEND_NATIVE)
        return GT_EUNSUPPORTED;
    struct gt_sim *s = calloc(1, sizeof *s);
    if (s == NULL)
        return GT_ENOMEM;
    s->conf = *conf;
    if (opts != NULL)
        s->opts = *opts;
    s->free_list = GT_SIM_NIL;
    s->device_total = s->opts.device_total   ? s->opts.device_total
                      : s->opts.device_limit ? s->opts.device_limit
                                             : SIM_DEFAULT_TOTAL;
    apply_fraction(s);
    /* MIRRORS: memory_stats max_split_size: -1 when unlimited. */
    s->st.max_split_size = gt_conf_max_split_reported(conf);
    s->st.active_is_allocation = true;
    const char *dbg = getenv("GT_DEBUG");
    s->check_every_op = s->opts.check_every_op || (dbg != NULL && dbg[0] == '2' && dbg[1] == 0);
    *out = s;
    return 0;
}

static void apply_fraction(struct gt_sim *s)
{
    s->any_divisions = 0;
    for (int i = 0; i < GT_CONF_DIVISION_INTERVALS; i++)
        s->any_divisions |= s->conf.roundup_divisions[i] > 1;
    /* MIRRORS: setMemoryFraction: allowed_memory_maximum = fraction *
     * totalGlobalMem; newest releases treat 1.0 as no limit. */
    s->allowed_memory_maximum = 0;
    if (s->conf.memory_fraction < 1.0)
        s->allowed_memory_maximum = (uint64_t)(s->conf.memory_fraction * (double)s->device_total);
}

void gt_sim_set_conf(struct gt_sim *s, const struct gt_conf *conf)
{
    /* MIRRORS: max_split_size in memory_stats is captured when the device
     * allocator is constructed; later settings do not update it. */
    s->conf = *conf;
    apply_fraction(s);
}

/* A copy of the first n elements of an array of cap, with room for cap;
 * NULL for an array that has none (and for no memory: *ok false). */
static void *dup_array(const void *v, size_t n, size_t cap, size_t size, bool *ok)
{
    if (cap == 0)
        return NULL;
    void *copy = malloc(cap * size);
    if (copy == NULL)
        *ok = false;
    else if (n > 0)
        memcpy(copy, v, n * size);
    return copy;
}

/* The free sets of each pool: their arrays, then each set's buckets. */
static bool copy_pools(struct gt_sim *c, const struct gt_sim *s)
{
    bool ok = true;
    for (int p = 0; p < SIM_NPOOLS; p++) {
        const struct pool *from = &s->pools[p];
        c->pools[p].ss = dup_array(from->ss, from->nss, from->capss, sizeof *from->ss, &ok);
        if (!ok) {
            c->pools[p].nss = 0;
            continue;
        }
        for (size_t i = 0; i < from->nss; i++) {
            struct stream_sets *ss = &c->pools[p].ss[i];
            memset(&ss->unmapped, 0, sizeof ss->unmapped);
            if (gt_sim_set_copy(&ss->blocks, &from->ss[i].blocks) ||
                gt_sim_set_copy(&ss->unmapped, &from->ss[i].unmapped)) {
                ok = false;
                c->pools[p].nss = i + 1; /* the copies made so far, freed with it */
                break;
            }
        }
    }
    return ok;
}

int gt_sim_clone(const struct gt_sim *s, const struct gt_conf *conf, struct gt_sim **out)
{
    *out = NULL;
    if (conf->backend != GT_CONF_BACKEND_NATIVE)
        return GT_EUNSUPPORTED;
    struct gt_sim *c = malloc(sizeof *c);
    if (c == NULL)
        return GT_ENOMEM;
    *c = *s;
    bool ok = true;
    c->blk = s->capblk ? blk_array(s->blk, s->nblk, s->capblk) : NULL;
    ok = c->blk != NULL || s->capblk == 0;
    c->xs = dup_array(s->xs, s->nxs, s->capxs, sizeof *s->xs, &ok);
    c->ranges = dup_array(s->ranges, s->nranges, s->capranges, sizeof *s->ranges, &ok);
    c->pending = dup_array(s->pending, s->npending, s->cappending, sizeof *s->pending, &ok);
    ok = copy_pools(c, s) && ok;
    if (!ok) {
        gt_sim_free_all(c);
        return GT_ENOMEM;
    }
    /* MIRRORS: the memory_stats max_split_size of an allocator constructed
     * with conf (gt_sim_new), not of one whose settings changed later. */
    c->st.max_split_size = gt_conf_max_split_reported(conf);
    gt_sim_set_conf(c, conf);
    *out = c;
    return 0;
}

void gt_sim_free_all(struct gt_sim *s)
{
    if (s == NULL)
        return;
    for (int p = 0; p < SIM_NPOOLS; p++) {
        for (size_t i = 0; i < s->pools[p].nss; i++) {
            gt_sim_set_release(&s->pools[p].ss[i].blocks);
            gt_sim_set_release(&s->pools[p].ss[i].unmapped);
        }
        free(s->pools[p].ss);
    }
    free(s->blk);
    free(s->xs);
    free(s->ranges);
    free(s->pending);
    free(s);
}

/* -------------------------------------------------------- free / merge */

/* Which simulators a copy of malloc and free is for: any, or one that
 * gt_sim_run has found lean (caching, without garbage collection or
 * per-op checks) and either expandable or plain (no expandable segment in
 * its settings or its start state, so every block is mapped and outside
 * any). Passed as a constant to the always-inlined paths, it folds the
 * tests the simulator does not need. */
enum sim_path { PATH_ANY, PATH_EXPANDABLE, PATH_PLAIN };

/* Whether expandable_segments is on. */
static inline bool expandable_on(const struct gt_sim *s, enum sim_path path)
{
    return path == PATH_ANY ? s->conf.expandable_segments : path == PATH_EXPANDABLE;
}

/* Two adjacent bytes of struct blk as one value: one 16-bit load (gcc
 * merges the two). */
static unsigned byte_pair(uint8_t low, uint8_t high)
{
    return (unsigned)low | (unsigned)high << 8;
}

static int mergeable(const struct gt_sim *s, uint32_t dst, uint32_t src)
{
    /* src mapped as dst is, and free (allocated 0) */
    return src != GT_SIM_NIL &&
           byte_pair(s->blk[src].mapped, s->blk[src].allocated) == s->blk[dst].mapped;
}

/* dst takes over its neighbour src (links and size); set entries untouched.
 * is_prev says src is dst's previous block: free_block knows which side it
 * merges, and the constant spares it a load and a test per merge. */
static uint64_t absorb(struct gt_sim *s, uint32_t dst, uint32_t src, int is_prev)
{
    struct blk *d = &s->blk[dst], *b = &s->blk[src];
    if (is_prev) {
        d->addr = b->addr;
        d->prev = b->prev;
        if (d->prev != GT_SIM_NIL)
            s->blk[d->prev].next = dst;
    } else {
        d->next = b->next;
        if (d->next != GT_SIM_NIL)
            s->blk[d->next].prev = dst;
    }
    uint64_t absorbed = b->size;
    d->size += absorbed;
    blk_delete(s, src);
    return absorbed;
}

/* MIRRORS: try_merge_blocks: dst absorbs a neighbour that is free and in the
 * same mapped state; the survivor keeps the lower address. Returns the
 * absorbed size, 0 if no merge. */
static uint64_t try_merge(struct gt_sim *s, uint32_t dst, uint32_t src)
{
    if (!mergeable(s, dst, src))
        return 0;
    if (s->blk[src].mapped)
        pool_erase(s, src);
    else
        unmapped_erase(s, src);
    return absorb(s, dst, src, s->blk[dst].prev == src);
}

/* MIRRORS: free_block: merge with prev then next, return to the pool, and
 * account active/requested and inactive_split (not for expandable blocks).
 * The free set is updated in place: a merged block takes over its
 * neighbour's entry instead of an erase and an insert. Inlined into its
 * callers, gt_sim_free above all: the call cost two frames' worth of saved
 * registers on every free (callgrind: 1% of the 12-config sweep). */
static inline __attribute__((always_inline)) void free_block(struct gt_sim *s, uint32_t i,
                                                             enum sim_path path)
{
    struct gt_sim_set *set = blocks_of(s, i);
    if (set == NULL) {
        note_host_failure(s, GT_ENOMEM);
        return;
    }
    struct blk *b = &s->blk[i];
    uint64_t original_size = b->size, requested = b->requested;
    uint32_t prev = b->prev, next = b->next;
    int mp = mergeable(s, i, prev), mn = mergeable(s, i, next);
    int64_t net_blocks = -(mp + mn), net_bytes = 0;
    if (mp)
        net_bytes -= (int64_t)absorb(s, i, prev, 1);
    if (mn)
        net_bytes -= (int64_t)absorb(s, i, next, 0);
    b = &s->blk[i];
    b->gc_count_base = s->pools[b->pool].gc_clock;
    struct gt_sim_key k = free_key(s, i);
    /* The absorbed neighbours' set entries, keyed by their size and address:
     * blk_delete keeps both, so the keys are made here, not kept from
     * before the merge. */
    if (mp && mn) {
        struct gt_sim_key kn = free_key(s, next);
        gt_sim_set_erase(set, &kn);
    }
    if (mp || mn) {
        struct gt_sim_key old = free_key(s, mp ? prev : next);
        struct gt_sim_pos at = gt_sim_set_find(set, &old);
        note_host_failure(s, gt_sim_set_replace_at(set, at, &k));
    } else {
        note_host_failure(s, gt_sim_set_insert(set, &k));
    }
    if (!all_stats(s))
        return;
    if (is_split(b)) {
        net_blocks += 1;
        net_bytes += (int64_t)b->size;
    }
    if (path == PATH_PLAIN || b->xseg == GT_SIM_NIL) {
        if (net_blocks > 0)
            arr_inc(s->st.inactive_split, b->pool, (uint64_t)net_blocks);
        else if (net_blocks < 0)
            arr_dec(s->st.inactive_split, b->pool, (uint64_t)-net_blocks);
        if (net_bytes > 0)
            arr_inc(s->st.inactive_split_bytes, b->pool, (uint64_t)net_bytes);
        else if (net_bytes < 0)
            arr_dec(s->st.inactive_split_bytes, b->pool, (uint64_t)-net_bytes);
    }
    active_dec(s, b->pool, original_size);
    arr_dec(s->st.requested_bytes, b->pool, requested);
}

/* A pending block's events completed: off the list (swap-remove), back to
 * its pool. */
static void complete_pending(struct gt_sim *s, uint32_t i)
{
    size_t at = (size_t)s->blk[i].gc_count_base;
    uint32_t last = s->pending[--s->npending];
    s->pending[at] = last;
    s->blk[last].gc_count_base = at;
    s->blk[i].allocated = BLK_FREE;
    free_block(s, i, PATH_ANY);
}

/* MIRRORS: synchronize_and_free_events: every outstanding event is waited
 * for, so every pending block is freed. */
static void synchronize_and_free_events(struct gt_sim *s)
{
    while (s->npending > 0)
        complete_pending(s, s->pending[s->npending - 1]);
}

/* MIRRORS: release_block: cudaFree of a whole, free, non-expandable segment. */
static void release_block(struct gt_sim *s, uint32_t i)
{
    struct blk *b = &s->blk[i];
    s->st.num_device_free++;
    emit(s, GT_SIM_SEGMENT_FREE, b->addr, b->size, b->stream);
    s->total_allocated_memory -= b->size;
    arr_dec(s->st.segment, b->pool, 1);
    arr_dec(s->st.reserved_bytes, b->pool, b->size);
    if (b->size >= s->conf.max_split_size)
        stat_dec(&s->st.oversize_segments, 1);
    pool_erase(s, i);
    addr_release(s, b->addr);
    blk_delete(s, i);
}

/* --------------------------------------------------- expandable segments */

/* The next reservation's slot, filled in but not yet counted (nxs), or NULL
 * when the host is out of memory. */
static struct xseg *xseg_slot(struct gt_sim *s, uint64_t stream, int pool)
{
    if (s->nxs == s->capxs) {
        struct xseg *x = gt_array_grow(s->xs, &s->capxs, s->nxs, sizeof *x);
        if (x == NULL)
            return NULL;
        s->xs = x;
    }
    struct xseg *x = &s->xs[s->nxs];
    /* MIRRORS: expandable page = kSmallBuffer (small pool) or
     * large_segment_size (large pool, default kLargeBuffer = 20 MiB). */
    x->page = pool_is_small(pool) ? K_SMALL_BUFFER : s->conf.large_segment_size;
    /* MIRRORS: find_expandable_block: address space of totalGlobalMem * 9/8,
     * in whole pages (ExpandableSegment numSegments). */
    uint64_t want = s->device_total + s->device_total / 8;
    x->size = (want + x->page - 1) / x->page * x->page;
    x->stream = stream;
    x->pool = (uint8_t)pool;
    x->live = 1;
    return x;
}

static uint32_t xseg_new(struct gt_sim *s, uint64_t stream, int pool)
{
    struct xseg *x = xseg_slot(s, stream, pool);
    if (x == NULL || addr_reserve(s, x->size, &x->base))
        return GT_SIM_NIL;
    return (uint32_t)s->nxs++;
}

/* MIRRORS: release_expandable_segment: the VA goes back once every page of it
 * is unmapped (one unmapped block spanning the whole reservation). */
static void xseg_release(struct gt_sim *s, uint32_t i)
{
    struct blk *b = &s->blk[i];
    struct xseg *x = &s->xs[b->xseg];
    unmapped_erase(s, i);
    addr_release(s, x->base);
    x->live = 0;
    blk_delete(s, i);
}

static int allocatable(const struct gt_sim *s, uint32_t i)
{
    return i != GT_SIM_NIL && !s->blk[i].allocated;
}

/* MIRRORS: find_expandable_block's has_available_address_space: the free
 * blocks from c on cover size bytes. */
static bool has_address_space(const struct gt_sim *s, uint32_t c, uint64_t size)
{
    uint64_t bytes = 0;
    for (uint32_t b = c; bytes < size && allocatable(s, b); b = s->blk[b].next)
        bytes += s->blk[b].size;
    return bytes >= size;
}

/* MIRRORS: find_expandable_block: the lowest unmapped range of this stream
 * (started one block earlier when a free mapped block precedes it) from which
 * consecutive free blocks cover `size`; else a new segment. */
static uint32_t find_expandable_block(struct gt_sim *s, uint64_t stream, int pool, uint64_t size)
{
    struct stream_sets *ss = sets_find(s, pool, stream);
    const struct gt_sim_set *un = ss != NULL ? &ss->unmapped : NULL;
    for (struct gt_sim_pos k = un != NULL ? gt_sim_set_begin(un) : (struct gt_sim_pos){
            0,
            0,
         };
         un != NULL && !gt_sim_set_at_end(un, k); gt_sim_set_next(un, &k)) {
        uint32_t c = gt_sim_set_key(un, k)->blk;
        if (allocatable(s, s->blk[c].prev))
            c = s->blk[c].prev;
        if (has_address_space(s, c, size))
            return c;
    }
    uint32_t x = xseg_new(s, stream, pool);
    if (x == GT_SIM_NIL)
        return GT_SIM_NIL;
    uint32_t c = blk_new(s);
    if (c == GT_SIM_NIL)
        return GT_SIM_NIL;
    struct blk *b = &s->blk[c];
    b->addr = s->xs[x].base;
    b->size = s->xs[x].size;
    b->stream = stream;
    b->pool = (uint8_t)pool;
    b->xseg = x;
    b->mapped = 0;
    unmapped_insert(s, c);
    return c;
}

/* Device memory available for n more bytes: the cap model of docs/notes/pytorch-allocator.md §18.1.
 */
static int device_has_room(const struct gt_sim *s, uint64_t n)
{
    return s->opts.device_limit == 0 || s->total_allocated_memory + n <= s->opts.device_limit;
}

/* MIRRORS: map_block: map the pages covering [b.addr, b.addr + n) (n rounded
 * up to whole pages, ExpandableSegment::map), keep the rest unmapped after it,
 * merge with free mapped neighbours and return it to the free set. A page that
 * cannot be created fails the whole call (cuMemCreate OOM rolls back). */
static int map_block(struct gt_sim *s, uint32_t i, uint64_t n)
{
    struct blk *b = &s->blk[i];
    const struct xseg *x = &s->xs[b->xseg];
    uint64_t off = b->addr - x->base;
    uint64_t first = off / x->page, end = (off + n + x->page - 1) / x->page;
    uint64_t mapped = (end - first) * x->page;
    if (!device_has_room(s, mapped))
        return 0;
    unmapped_erase(s, i);
    b->mapped = 1;
    if (mapped < b->size) {
        uint32_t r = blk_new(s);
        if (r == GT_SIM_NIL) {
            note_host_failure(s, GT_ENOMEM);
            return 0;
        }
        b = &s->blk[i];
        struct blk *rb = &s->blk[r];
        rb->addr = b->addr + mapped;
        rb->size = b->size - mapped;
        rb->stream = b->stream;
        rb->pool = b->pool;
        rb->xseg = b->xseg;
        rb->mapped = 0;
        rb->prev = i;
        rb->next = b->next;
        if (b->next != GT_SIM_NIL)
            s->blk[b->next].prev = r;
        b->next = r;
        b->size = mapped;
        unmapped_insert(s, r);
    }
    uint64_t addr = b->addr;
    try_merge(s, i, s->blk[i].prev);
    try_merge(s, i, s->blk[i].next);
    pool_insert(s, i);
    s->total_allocated_memory += mapped;
    arr_inc(s->st.reserved_bytes, s->blk[i].pool, mapped);
    s->st.num_device_alloc++;
    emit(s, GT_SIM_SEGMENT_MAP, addr, mapped, s->blk[i].stream);
    return 1;
}

/* Where get_free_block or try_allocate_expandable_block found its block,
 * for alloc_found_block, which replaces its entry with the remainder or
 * erases it: one shift instead of two. A local of gt_sim_malloc, so that
 * the compiler keeps it in registers (it was two fields of struct gt_sim,
 * stored and loaded back on every malloc). */
struct found_block {
    struct gt_sim_set *set; /* NULL: the block is in no set */
    struct gt_sim_pos pos;
};

/* MIRRORS: try_allocate_expandable_block: map for the rounded request (not
 * the segment size), growing the candidate page by page; pages mapped by an
 * earlier map_block of a failed attempt stay mapped as free memory. */
static uint32_t try_allocate_expandable_block(struct gt_sim *s, uint64_t stream, int pool,
                                              uint64_t size, struct found_block *f)
{
    uint32_t c = find_expandable_block(s, stream, pool, size);
    if (c == GT_SIM_NIL) {
        note_host_failure(s, GT_ENOMEM);
        return GT_SIM_NIL;
    }
    /* A request beyond a fresh reservation (9/8 of the card) is an OOM: on a
     * real card mapping 9/8 of it fails first, but a replay without a cap
     * would map the whole reservation and walk past its end. */
    if (!has_address_space(s, c, size))
        return GT_SIM_NIL;
    if (!s->blk[c].mapped) {
        uint64_t n = s->blk[c].size < size ? s->blk[c].size : size;
        if (!map_block(s, c, n))
            return GT_SIM_NIL;
    }
    while (s->blk[c].size < size) {
        uint64_t remaining = size - s->blk[c].size;
        uint32_t next = s->blk[c].next;
        uint64_t n = s->blk[next].size < remaining ? s->blk[next].size : remaining;
        if (!map_block(s, next, n))
            return GT_SIM_NIL;
        c = next;
    }
    /* PyTorch erases the block from the pool here; its entry stays for
     * alloc_found_block to replace with the remainder instead of an erase
     * and an insert (callgrind, 1 M events x 12 configs: 14 M instructions
     * fewer; finding it in gt_sim_malloc instead cost 55 M more, through
     * the fast path's registers) */
    struct gt_sim_set *set = blocks_of(s, c);
    if (set != NULL) {
        struct gt_sim_key k = free_key(s, c);
        struct gt_sim_pos at = gt_sim_set_find(set, &k);
        if (!gt_sim_set_at_end(set, at))
            *f = (struct found_block){set, at};
    }
    return c;
}

/* MIRRORS: unmap_block: unmap the pages lying entirely inside a free
 * expandable block (ExpandableSegment::unmap); partial pages at either end
 * stay as smaller free mapped blocks. */
static void unmap_block(struct gt_sim *s, uint32_t i)
{
    struct blk *b = &s->blk[i];
    const struct xseg *x = &s->xs[b->xseg];
    uint64_t off = b->addr - x->base;
    uint64_t first = (off + x->page - 1) / x->page, end = (off + b->size) / x->page;
    if (first >= end)
        return;
    uint64_t un_addr = x->base + first * x->page, un_size = (end - first) * x->page;
    pool_erase(s, i);
    uint64_t before = un_addr - b->addr, after = b->size - before - un_size;
    if (before > 0) {
        uint32_t f = blk_slot(s);
        if (f == GT_SIM_NIL) {
            note_host_failure(s, GT_ENOMEM);
            return;
        }
        b = &s->blk[i];
        struct blk *fb = &s->blk[f];
        *fb = *b;
        fb->size = before;
        fb->next = i;
        if (b->prev != GT_SIM_NIL)
            s->blk[b->prev].next = f;
        b->prev = f;
        pool_insert(s, f);
    }
    if (after > 0) {
        uint32_t f = blk_slot(s);
        if (f == GT_SIM_NIL) {
            note_host_failure(s, GT_ENOMEM);
            return;
        }
        b = &s->blk[i];
        struct blk *fb = &s->blk[f];
        *fb = *b;
        fb->addr = un_addr + un_size;
        fb->size = after;
        fb->prev = i;
        if (b->next != GT_SIM_NIL)
            s->blk[b->next].prev = f;
        b->next = f;
        pool_insert(s, f);
    }
    b = &s->blk[i];
    b->addr = un_addr;
    b->size = un_size;
    b->mapped = 0;
    try_merge(s, i, s->blk[i].prev);
    try_merge(s, i, s->blk[i].next);
    unmapped_insert(s, i);
    s->total_allocated_memory -= un_size;
    arr_dec(s->st.reserved_bytes, s->blk[i].pool, un_size);
    s->st.num_device_free++;
    emit(s, GT_SIM_SEGMENT_UNMAP, un_addr, un_size, s->blk[i].stream);
}

/* -------------------------------------------------------------- release */

/* MIRRORS: release_blocks: cudaFree every whole free segment of the pool in
 * set order; expandable free blocks are gathered first and then unmapped. */
static void release_blocks(struct gt_sim *s, int pool)
{
    struct pool *p = &s->pools[pool];
    size_t nfree = 0, nun = 0;
    for (size_t si = 0; si < p->nss; si++)
        nfree += p->ss[si].blocks.n;
    uint32_t *to_unmap = malloc((nfree ? nfree : 1) * sizeof *to_unmap);
    if (to_unmap == NULL) {
        note_host_failure(s, GT_ENOMEM);
        return;
    }
    for (size_t si = 0; si < p->nss; si++) {
        struct gt_sim_set *set = &p->ss[si].blocks;
        struct gt_sim_pos k = gt_sim_set_begin(set);
        while (!gt_sim_set_at_end(set, k)) {
            uint32_t i = gt_sim_set_key(set, k)->blk;
            if (s->blk[i].xseg != GT_SIM_NIL) {
                to_unmap[nun++] = i;
                gt_sim_set_next(set, &k);
            } else if (!is_split(&s->blk[i])) {
                release_block(s, i); /* removes entry k; the next one slides in */
                gt_sim_set_norm(set, &k);
            } else {
                gt_sim_set_next(set, &k);
            }
        }
    }
    for (size_t u = 0; u < nun; u++) {
        uint32_t i = to_unmap[u];
        unmap_block(s, i);
        if (!s->blk[i].mapped && !is_split(&s->blk[i]))
            xseg_release(s, i);
    }
    free(to_unmap);
}

/* MIRRORS: release_cached_blocks (empty_cache and the last-resort retry):
 * synchronize_and_free_events, then the large pool, then the small pool. */
/* Whether any block (segment, mapped or unmapped range) of private pool k
 * is left; a scan, as empty_cache of a pool given up is rare. */
static bool private_pool_holds_memory(const struct gt_sim *s, int k)
{
    for (uint32_t i = 0; i < s->nblk; i++)
        if (s->blk[i].live && s->blk[i].pool >= 2 && (s->blk[i].pool - 2) / 2 == k)
            return true;
    return false;
}

static void release_cached_blocks(struct gt_sim *s)
{
    synchronize_and_free_events(s);
    s->st.num_sync_all_streams++;
    release_blocks(s, POOL_LARGE);
    release_blocks(s, POOL_SMALL);
    /* MIRRORS: release_cached_blocks: then each private pool in
     * graph_pools_freeable (use_count 0), its small blocks before its large;
     * it is erased once no segment of it is left (cudaMalloc_count 0). */
    for (int k = 0; k < SIM_MAX_PRIVATE; k++) {
        if (!s->priv[k].live || s->priv[k].use_count > 0)
            continue;
        release_blocks(s, 2 + 2 * k);
        release_blocks(s, 3 + 2 * k);
        if (!private_pool_holds_memory(s, k))
            s->priv[k].live = false;
    }
}

/* MIRRORS: release_available_cached_blocks: with max_split_size set, free the
 * smallest free block of this stream >= max(size, max_split_size), or else
 * oversize blocks from the largest down until enough is released (newest:
 * expandable blocks are skipped). Releases stay done even when it fails. */
static int release_available_cached_blocks(struct gt_sim *s, int pool, uint64_t stream,
                                           uint64_t size)
{
    uint64_t m = s->conf.max_split_size;
    if (m == GT_CONF_UNLIMITED)
        return 0;
    struct stream_sets *ss = sets_find(s, pool, stream);
    if (ss == NULL)
        return 0; /* PyTorch: no block of this stream, nothing released */
    struct gt_sim_set *set = &ss->blocks;
    struct gt_sim_key key = {size < m ? m : size, 0, 0};
    struct gt_sim_pos k = gt_sim_set_lower_bound(set, &key);
    if (!gt_sim_set_at_end(set, k) && s->blk[gt_sim_set_key(set, k)->blk].xseg == GT_SIM_NIL) {
        uint32_t i = gt_sim_set_key(set, k)->blk;
        if (is_split(&s->blk[i]))
            return 0; /* PyTorch asserts here; never reached by its own rules */
        release_block(s, i);
        return 1;
    }
    /* No single block: free oversize blocks from the largest of this stream
     * down. At the first entry of the stream PyTorch's iterator either is the
     * set's begin or steps onto another stream; both end the loop. */
    if (gt_sim_set_at_end(set, k))
        k = gt_sim_set_last(set);
    else if (!gt_sim_set_prev(set, &k))
        return 0;
    if (gt_sim_set_at_end(set, k))
        return 0; /* no block of this stream at all */
    uint64_t released = 0;
    for (;;) {
        uint32_t i = gt_sim_set_key(set, k)->blk;
        if (!(released < key.size && s->blk[i].size >= m))
            break;
        struct gt_sim_pos before = k;
        int is_first = !gt_sim_set_prev(set, &before);
        struct gt_sim_key next_key = is_first ? key : *gt_sim_set_key(set, before);
        if (s->blk[i].xseg == GT_SIM_NIL && !is_split(&s->blk[i])) {
            released += s->blk[i].size;
            release_block(s, i);
        }
        if (is_first)
            break;
        k = gt_sim_set_find(set, &next_key); /* the release may have moved it */
    }
    return released >= key.size;
}

int gt_sim_check(const struct gt_sim *s, char *msg, size_t len);

/* MIRRORS: garbage_collect_cached_blocks: with a memory fraction and a
 * threshold, free whole large-pool segments whose age (pool clock minus the
 * stamp taken when they became free) is at least the average, pass after
 * pass, until reserved falls to threshold * limit. */
static void garbage_collect(struct gt_sim *s)
{
    uint64_t gc_thr = (uint64_t)(s->conf.gc_threshold * (double)s->allowed_memory_maximum);
    if (s->total_allocated_memory <= gc_thr)
        return;
    uint64_t target = s->total_allocated_memory - gc_thr;
    struct pool *p = &s->pools[POOL_LARGE];
    uint64_t total_age = 0, reclaimed = 0;
    int64_t count = 0;
    for (size_t si = 0; si < p->nss; si++) {
        const struct gt_sim_set *set = &p->ss[si].blocks;
        for (struct gt_sim_pos k = gt_sim_set_begin(set); !gt_sim_set_at_end(set, k);
             gt_sim_set_next(set, &k)) {
            const struct blk *b = &s->blk[gt_sim_set_key(set, k)->blk];
            if (!is_split(b) && b->xseg == GT_SIM_NIL) {
                total_age += p->gc_clock - b->gc_count_base;
                count++;
            }
        }
    }
    if (count == 0)
        return;
    int freed = 1;
    while (reclaimed < target && freed && count > 0) {
        double age_threshold = (double)total_age / (double)count;
        freed = 0;
        for (size_t si = 0; si < p->nss; si++) {
            struct gt_sim_set *set = &p->ss[si].blocks;
            struct gt_sim_pos k = gt_sim_set_begin(set);
            while (!gt_sim_set_at_end(set, k)) {
                uint32_t i = gt_sim_set_key(set, k)->blk;
                const struct blk *b = &s->blk[i];
                uint64_t age = p->gc_clock - b->gc_count_base;
                if (!is_split(b) && b->xseg == GT_SIM_NIL && (double)age >= age_threshold) {
                    freed = 1;
                    reclaimed += b->size;
                    total_age -= age;
                    count--;
                    release_block(s, i); /* the next entry slides into k */
                    gt_sim_set_norm(set, &k);
                } else {
                    gt_sim_set_next(set, &k);
                }
            }
        }
    }
}

/* --------------------------------------------------------------- malloc */

static int gc_enabled(const struct gt_sim *s)
{
    /* MIRRORS: GC needs a memory fraction (< 1.0 in the newest releases) and
     * garbage_collection_threshold > 0. */
    return s->allowed_memory_maximum > 0 && s->conf.gc_threshold > 0.0;
}

static uint64_t esize(const struct gt_sim *s, uint32_t i)
{
    const struct blk *b = &s->blk[i];
    return b->size + (b->next != GT_SIM_NIL && !s->blk[b->next].mapped ? s->blk[b->next].size : 0);
}

/* MIRRORS: get_free_block: best fit by (stream, size, address), with the
 * expandable-tail and max_split_size rules. The block stays in its set,
 * where *f says. */
static inline __attribute__((always_inline)) uint32_t get_free_block(struct gt_sim *s, int pool,
                                                                     uint64_t stream, uint64_t size,
                                                                     struct found_block *f,
                                                                     enum sim_path path)
{
    struct pool *p = &s->pools[pool];
    if (path == PATH_ANY && gc_enabled(s))
        p->gc_clock++;
    struct stream_sets *ss = sets_find(s, pool, stream);
    if (ss == NULL)
        return GT_SIM_NIL;
    struct gt_sim_set *set = &ss->blocks;
    struct gt_sim_key key = {size, 0, 0};
    struct gt_sim_pos k = gt_sim_set_lower_bound(set, &key);
    if (gt_sim_set_at_end(set, k))
        return GT_SIM_NIL;
    if (path != PATH_PLAIN && s->blk[gt_sim_set_key(set, k)->blk].xseg != GT_SIM_NIL) {
        if (expandable_on(s, path)) {
            /* MIRRORS: get_free_block: prefer an interior free block over a
             * segment's free tail, whose size counts the unmapped VA after it. */
            for (;;) {
                struct gt_sim_pos next = k;
                gt_sim_set_next(set, &next);
                uint32_t cur = gt_sim_set_key(set, k)->blk;
                if (s->blk[cur].xseg == GT_SIM_NIL || gt_sim_set_at_end(set, next) ||
                    esize(s, gt_sim_set_key(set, next)->blk) >= esize(s, cur))
                    break;
                k = next;
            }
        } else {
            /* MIRRORS: get_free_block: expandable segments switched off later
             * -> only non-expandable blocks qualify. */
            do {
                gt_sim_set_next(set, &k);
            } while (!gt_sim_set_at_end(set, k) &&
                     s->blk[gt_sim_set_key(set, k)->blk].xseg != GT_SIM_NIL);
            if (gt_sim_set_at_end(set, k))
                return GT_SIM_NIL;
        }
    }
    uint64_t bsize = gt_sim_set_key(set, k)->size, m = s->conf.max_split_size;
    /* MIRRORS: get_free_block: a request below max_split_size never takes an
     * oversize block. */
    if (size < m && bsize >= m)
        return GT_SIM_NIL;
    /* MIRRORS: get_free_block: an oversize request takes a cached block only
     * if it wastes less than max_non_split_rounding_mb (kLargeBuffer <= 2.5). */
    if (size >= m && bsize - size >= s->conf.max_non_split_rounding) /* bsize >= size */
        return GT_SIM_NIL;
    /* The block stays in the set until alloc_found_block replaces its entry
     * with the remainder (or erases it): one shift instead of two. */
    f->pos = k;
    f->set = set;
    return gt_sim_set_key(set, k)->blk;
}

/* MIRRORS: alloc_block: the memory-fraction check on alloc_size, then the
 * expandable path or cudaMalloc(alloc_size); a new segment is one unsplit
 * block outside the free set. */
static uint32_t alloc_block(struct gt_sim *s, int pool, uint64_t stream, uint64_t size,
                            uint64_t alloc_size, int is_retry, struct found_block *f)
{
    if (is_retry)
        s->st.num_alloc_retries++;
    /* MIRRORS: alloc_block: fails without a driver call when
     * total_allocated_memory + alloc_size > allowed_memory_maximum (strict). */
    if (s->allowed_memory_maximum &&
        s->total_allocated_memory + alloc_size > s->allowed_memory_maximum)
        return GT_SIM_NIL;
    if (s->conf.expandable_segments)
        return try_allocate_expandable_block(s, stream, pool, size, f);
    if (!device_has_room(s, alloc_size))
        return GT_SIM_NIL;
    uint32_t i = blk_new(s);
    uint64_t addr;
    if (i == GT_SIM_NIL || addr_reserve(s, alloc_size, &addr)) {
        note_host_failure(s, GT_ENOMEM);
        return GT_SIM_NIL;
    }
    struct blk *b = &s->blk[i];
    b->addr = addr;
    b->size = alloc_size;
    b->stream = stream;
    b->pool = (uint8_t)pool;
    b->mapped = 1;
    s->total_allocated_memory += alloc_size;
    arr_inc(s->st.segment, pool, 1);
    arr_inc(s->st.reserved_bytes, pool, alloc_size);
    if (alloc_size >= s->conf.max_split_size)
        stat_inc(&s->st.oversize_segments, 1);
    s->st.num_device_alloc++;
    emit(s, GT_SIM_SEGMENT_ALLOC, addr, alloc_size, stream);
    return i;
}

/* MIRRORS: should_split: small pool or expandable segments -> remainder >=
 * 512; large pool -> request < max_split_size and remainder > 1 MiB. */
static inline __attribute__((always_inline)) int should_split(const struct gt_sim *s, uint32_t i,
                                                              uint64_t size, enum sim_path path)
{
    const struct blk *b = &s->blk[i];
    uint64_t remaining = b->size - size;
    if (pool_is_small(b->pool) || expandable_on(s, path))
        return remaining >= K_MIN_BLOCK_SIZE;
    return size < s->conf.max_split_size && remaining > K_SMALL_SIZE;
}

/* MIRRORS: alloc_found_block: hand out the low part [addr, addr+size) and
 * return the remainder to the pool when splitting, else the whole block;
 * allocated_bytes grows by the block size, requested_bytes by the request. */
static inline __attribute__((always_inline)) uint32_t
alloc_found_block(struct gt_sim *s, uint32_t i, uint64_t orig, uint64_t size, int split,
                  struct found_block *f, enum sim_path path)
{
    int already_split = is_split(&s->blk[i]);
    int pool = s->blk[i].pool;
    int expandable = path != PATH_PLAIN && s->blk[i].xseg != GT_SIM_NIL;
    if (split) {
        uint32_t a = blk_slot(s); /* *b = *r below sets every field */
        if (a == GT_SIM_NIL) {
            note_host_failure(s, GT_ENOMEM);
            split = 0;
        } else {
            struct blk *r = &s->blk[i], *b = &s->blk[a];
            *b = *r;
            b->size = size;
            b->next = i;
            if (b->prev != GT_SIM_NIL)
                s->blk[b->prev].next = a;
            r->prev = a;
            r->addr += size;
            r->size -= size;
            if (f->set != NULL) {
                r->gc_count_base = s->pools[r->pool].gc_clock;
                struct gt_sim_key k = free_key(s, i);
                note_host_failure(s, gt_sim_set_replace_at(f->set, f->pos, &k));
                f->set = NULL;
            } else {
                pool_insert(s, i);
            }
            if (all_stats(s) && !expandable) {
                if (already_split) {
                    arr_dec(s->st.inactive_split_bytes, pool, size);
                } else {
                    arr_inc(s->st.inactive_split_bytes, pool, s->blk[i].size);
                    arr_inc(s->st.inactive_split, pool, 1);
                }
            }
            i = a;
        }
    }
    if (f->set != NULL) {
        gt_sim_set_erase_at(f->set, f->pos);
        f->set = NULL;
    }
    if (!split && already_split && !expandable && all_stats(s)) {
        arr_dec(s->st.inactive_split_bytes, pool, s->blk[i].size);
        arr_dec(s->st.inactive_split, pool, 1);
    }
    struct blk *b = &s->blk[i];
    b->allocated = 1;
    b->requested = orig;
    if (!all_stats(s)) {
        stat_inc(&s->st.allocated_bytes[GT_SIM_ALL], b->size);
        return i;
    }
    arr_inc(s->st.allocation, pool, 1);
    arr_inc(s->st.allocated_bytes, pool, b->size);
    active_inc(s, pool, b->size);
    arr_inc(s->st.requested_bytes, pool, orig);
    if (b->size >= s->conf.max_split_size)
        stat_inc(&s->st.oversize_allocations, 1);
    return i;
}

/* Out of line: GT_DEBUG=2 only, and its message buffer would otherwise sit
 * in the frame of every malloc and free. */
static __attribute__((noinline)) void check_now(struct gt_sim *s)
{
    char msg[sizeof s->check_msg];
    if (!s->check_msg[0] && gt_sim_check(s, msg, sizeof msg))
        memcpy(s->check_msg, msg, sizeof msg);
    /* the first violation (or host failure) is the one kept: no more checks */
    if (s->check_msg[0])
        s->check_every_op = 0;
}

static void check_after_op(struct gt_sim *s)
{
    if (s->check_every_op)
        check_now(s);
}

/* PYTORCH_NO_CUDA_MEMORY_CACHING: every request is its own cudaMalloc of the
 * requested bytes and every free its cudaFree; the zero-fragmentation
 * baseline. Addresses do not matter here, so none are assigned. */
static inline __attribute__((always_inline)) int nocache_malloc(struct gt_sim *s, uint64_t size,
                                                                uint64_t stream, gt_sim_handle *out)
{
    if (!device_has_room(s, size) ||
        (s->allowed_memory_maximum &&
         s->total_allocated_memory + size > s->allowed_memory_maximum)) {
        s->st.num_ooms++;
        return GT_EOOM;
    }
    uint32_t i = blk_new(s);
    if (i == GT_SIM_NIL)
        return GT_ENOMEM;
    struct blk *b = &s->blk[i];
    b->size = size;
    b->requested = size;
    b->stream = stream;
    b->allocated = 1;
    b->pool = size <= K_SMALL_SIZE ? POOL_SMALL : POOL_LARGE;
    s->total_allocated_memory += size;
    s->st.num_device_alloc++;
    arr_inc(s->st.segment, b->pool, 1);
    arr_inc(s->st.reserved_bytes, b->pool, size);
    arr_inc(s->st.allocation, b->pool, 1);
    arr_inc(s->st.allocated_bytes, b->pool, size);
    active_inc(s, b->pool, size);
    arr_inc(s->st.requested_bytes, b->pool, size);
    *out = i;
    return 0;
}

static void nocache_free(struct gt_sim *s, uint32_t i)
{
    struct blk *b = &s->blk[i];
    s->total_allocated_memory -= b->size;
    s->st.num_device_free++;
    arr_dec(s->st.segment, b->pool, 1);
    arr_dec(s->st.reserved_bytes, b->pool, b->size);
    arr_dec(s->st.allocation, b->pool, 1);
    arr_dec(s->st.allocated_bytes, b->pool, b->size);
    active_dec(s, b->pool, b->size);
    arr_dec(s->st.requested_bytes, b->pool, b->requested);
    blk_delete(s, i);
}

/* Inlined into gt_sim_malloc and gt_sim_run's loop, as is all it calls on
 * the way to a cached block; path: enum sim_path. */
static inline __attribute__((always_inline)) int
sim_malloc(struct gt_sim *s, uint64_t orig, uint64_t stream, gt_sim_handle *out, enum sim_path path)
{
    *out = GT_SIM_NO_HANDLE;
    /* MIRRORS: allocate(0) returns a null pointer and touches nothing;
     * allocate(): "Tried to allocate more than 1EB memory", no stats. One
     * compare for both: 0 - 1 wraps past the limit. */
    if (orig - 1 >= K_ONE_EXA_BYTES - 1)
        return orig == 0 ? 0 : GT_EOOM;
    if (path == PATH_ANY && s->conf.no_caching) {
        int rc = nocache_malloc(s, orig, stream, out);
        check_after_op(s);
        return rc;
    }
    uint64_t size = s->any_divisions || orig < K_MIN_BLOCK_SIZE
                        ? gt_sim_round_size(&s->conf, orig)
                        : (orig + K_MIN_BLOCK_SIZE - 1) & ~(K_MIN_BLOCK_SIZE - 1);
    /* MIRRORS: get_pool: rounded size <= kSmallSize -> small pool. */
    int pool = size <= K_SMALL_SIZE ? POOL_SMALL : POOL_LARGE;
    /* MIRRORS: malloc: cached block first; then GC; then a new segment; then
     * free oversize blocks and retry; then flush everything and retry. */
    struct found_block found;
    found.set = NULL; /* pos is read only with a set */
    uint32_t b = get_free_block(s, pool, stream, size, &found, path);
    if (b == GT_SIM_NIL) {
        /* the segment's size, only when no cached block serves */
        uint64_t alloc_size = gt_sim_allocation_size(&s->conf, size);
        if (path == PATH_ANY && gc_enabled(s))
            garbage_collect(s);
        b = alloc_block(s, pool, stream, size, alloc_size, 0, &found);
        if (b == GT_SIM_NIL && release_available_cached_blocks(s, pool, stream, size))
            b = alloc_block(s, pool, stream, size, alloc_size, 0, &found);
        if (b == GT_SIM_NIL) {
            release_cached_blocks(s);
            b = alloc_block(s, pool, stream, size, alloc_size, 1, &found);
        }
    }
    if (b == GT_SIM_NIL) {
        /* MIRRORS: malloc: OutOfMemoryError after the ladder; num_ooms += 1,
         * what the retries released stays released. */
        s->st.num_ooms++;
        if (path == PATH_ANY)
            check_after_op(s);
        return s->broken ? GT_ENOMEM : GT_EOOM;
    }
    *out = alloc_found_block(s, b, orig, size, should_split(s, b, size, path), &found, path);
    if (path == PATH_ANY)
        check_after_op(s);
    return s->broken ? GT_ENOMEM : 0;
}

/* MIRRORS: free: allocation and allocated_bytes drop at the request.
 * Returns true when the caching allocator must now free the block (nocache
 * frees it here, at once: no cache to keep it pending in). */
static inline __attribute__((always_inline)) bool free_request(struct gt_sim *s, gt_sim_handle h,
                                                               enum sim_path path)
{
    /* GT_SIM_NO_HANDLE is never below nblk (blk_slot keeps nblk below
     * GT_SIM_NIL), so the bound refuses it without a test of its own */
    _Static_assert(GT_SIM_NO_HANDLE == GT_SIM_NIL, "no handle is the nil block");
    if (h >= s->nblk ||
        byte_pair(s->blk[h].allocated, s->blk[h].live) != byte_pair(BLK_ALLOCATED, 1))
        return false;
    if (path == PATH_ANY && s->conf.no_caching) {
        nocache_free(s, h);
        check_after_op(s);
        return false;
    }
    struct blk *b = &s->blk[h];
    b->allocated = BLK_FREE;
    if (!all_stats(s)) {
        stat_dec(&s->st.allocated_bytes[GT_SIM_ALL], b->size);
        return true;
    }
    arr_dec(s->st.allocation, b->pool, 1);
    arr_dec(s->st.allocated_bytes, b->pool, b->size);
    if (b->size >= s->conf.max_split_size)
        stat_dec(&s->st.oversize_allocations, 1);
    return true;
}

int gt_sim_malloc(struct gt_sim *s, uint64_t orig, uint64_t stream, gt_sim_handle *out)
{
    return sim_malloc(s, orig, stream, out, PATH_ANY);
}

static inline __attribute__((always_inline)) void sim_free(struct gt_sim *s, gt_sim_handle h,
                                                           enum sim_path path)
{
    if (!free_request(s, h, path))
        return;
    free_block(s, h, path);
    if (path == PATH_ANY)
        check_after_op(s);
}

void gt_sim_free(struct gt_sim *s, gt_sim_handle h)
{
    sim_free(s, h, PATH_ANY);
}

bool gt_sim_free_requested(struct gt_sim *s, gt_sim_handle h)
{
    /* before free_request: the block stays active, allocation drops */
    active_part_from_allocation(s);
    if (!free_request(s, h, PATH_ANY))
        return false;
    /* MIRRORS: free with non-empty stream_uses: insert_events; the block
     * waits, active, for its events (process_events). */
    if (s->npending == s->cappending) {
        uint32_t *v = gt_array_grow(s->pending, &s->cappending, s->npending, sizeof *v);
        if (v == NULL) {
            free_block(s, h, PATH_ANY); /* out of host memory: free at once, and say so */
            note_host_failure(s, GT_ENOMEM);
            return false;
        }
        s->pending = v;
    }
    s->blk[h].allocated = BLK_PENDING;
    s->blk[h].gc_count_base = s->npending;
    s->pending[s->npending++] = h;
    check_after_op(s);
    return true;
}

void gt_sim_free_completed(struct gt_sim *s, gt_sim_handle h)
{
    if (h == GT_SIM_NO_HANDLE || h >= s->nblk || !s->blk[h].live ||
        s->blk[h].allocated != BLK_PENDING)
        return;
    complete_pending(s, h); /* MIRRORS: process_events -> free_block */
    check_after_op(s);
}

static void reset_peaks(struct gt_sim_stat *a, size_t n)
{
    for (size_t k = 0; k < n; k++)
        a[k].peak = a[k].current;
}

/* MIRRORS: DeviceCachingAllocator::resetPeakStats: every peak becomes the
 * current value (torch.cuda.reset_peak_memory_stats). */
void gt_sim_reset_peak_stats(struct gt_sim *s)
{
    struct gt_sim_stats *st = &s->st;
    reset_peaks(st->allocation, GT_SIM_POOL_TYPES);
    reset_peaks(st->segment, GT_SIM_POOL_TYPES);
    reset_peaks(st->active, GT_SIM_POOL_TYPES);
    reset_peaks(st->inactive_split, GT_SIM_POOL_TYPES);
    reset_peaks(st->allocated_bytes, GT_SIM_POOL_TYPES);
    reset_peaks(st->reserved_bytes, GT_SIM_POOL_TYPES);
    reset_peaks(st->active_bytes, GT_SIM_POOL_TYPES);
    reset_peaks(st->inactive_split_bytes, GT_SIM_POOL_TYPES);
    reset_peaks(st->requested_bytes, GT_SIM_POOL_TYPES);
    reset_peaks(&st->oversize_allocations, 1);
    reset_peaks(&st->oversize_segments, 1);
}

void gt_sim_empty_cache(struct gt_sim *s)
{
    if (s->conf.no_caching)
        return;
    release_cached_blocks(s);
    check_after_op(s);
}

/* Reserved memory only grows in a malloc: only then can the peak move. Of
 * the moments reserved stands at its peak, the one with the most allocated
 * is kept: the fragmentation the run could not shed when it needed the
 * memory most (a snapshot's start state, cached and mostly free, would
 * otherwise speak for a peak the run never pressed). */
bool gt_sim_watch_peak(const struct gt_sim *s, struct gt_sim_watch *w)
{
    uint64_t reserved = (uint64_t)s->st.reserved_bytes[GT_SIM_ALL].current;
    /* Below the peak, the usual case, allocated is not read: gcc read the
     * two as 16-byte loads, each across two 8-byte fields the malloc had
     * just stored, which the core cannot forward from its store buffer. */
    if (reserved < w->peak_reserved)
        return false;
    uint64_t allocated = (uint64_t)s->st.allocated_bytes[GT_SIM_ALL].current;
    if (reserved == w->peak_reserved && allocated <= w->allocated_at_peak)
        return false;
    w->peak_reserved = reserved;
    w->allocated_at_peak = allocated;
    return true;
}

static void watch_oom(struct gt_sim_watch *w, int64_t event)
{
    if (w->first_oom_event < 0)
        w->first_oom_event = event;
}

/* The ops other than alloc and free, rare: out of gt_sim_run's loop. */
static __attribute__((noinline)) int run_rare_op(struct gt_sim *s, const struct gt_sim_op *o,
                                                 gt_sim_handle *slots, struct gt_sim_watch *w)
{
    gt_sim_handle h;
    int rc = 0;
    switch (o->kind) {
    case GT_SIM_OP_FREE_REQUESTED:
        if (!gt_sim_free_requested(s, slots[o->slot]))
            slots[o->slot] = GT_SIM_NO_HANDLE; /* freed at once: nothing to complete */
        break;
    case GT_SIM_OP_FREE_COMPLETED:
        gt_sim_free_completed(s, slots[o->slot]);
        slots[o->slot] = GT_SIM_NO_HANDLE;
        break;
    case GT_SIM_OP_EMPTY_CACHE:
        gt_sim_empty_cache(s);
        break;
    case GT_SIM_OP_PROBE:
        rc = gt_sim_malloc(s, o->size, o->stream, &h);
        if (rc == GT_EOOM) {
            watch_oom(w, o->event);
            rc = 0;
        } else if (rc == 0) {
            gt_sim_free(s, h);
        }
        gt_sim_watch_peak(s, w);
        break;
    default:
        break;
    }
    return rc;
}

/* The path gt_sim_run may take for s (enum sim_path). Nothing in a run
 * of ops changes it: settings change only through gt_sim_set_conf, the
 * per-op check only stops, and only an expandable config makes
 * expandable segments. */
static enum sim_path path_of(const struct gt_sim *s)
{
    if (s->conf.no_caching || gc_enabled(s) || s->check_every_op)
        return PATH_ANY;
    if (s->conf.expandable_segments)
        return PATH_EXPANDABLE;
    return s->nxs == 0 ? PATH_PLAIN : PATH_ANY;
}

/* The loop of gt_sim_run, inlined once per path: with path a constant,
 * each copy has the tests its simulators need and no others. */
static inline __attribute__((always_inline)) int run_ops(struct gt_sim *s,
                                                         const struct gt_sim_op *ops, size_t n,
                                                         gt_sim_handle *slots,
                                                         struct gt_sim_watch *w, enum sim_path path)
{
    for (size_t k = 0; k < n; k++) {
        const struct gt_sim_op *o = &ops[k];
        int rc = 0;
        if (o->kind == GT_SIM_OP_FREE) {
            sim_free(s, slots[o->slot], path);
            slots[o->slot] = GT_SIM_NO_HANDLE;
        } else if (o->kind == GT_SIM_OP_ALLOC) {
            gt_sim_handle h;
            rc = sim_malloc(s, o->size, o->stream, &h, path);
            if (rc == GT_EOOM) {
                watch_oom(w, o->event);
                rc = 0;
            }
            slots[o->slot] = h; /* GT_SIM_NO_HANDLE after an OOM: its free is a no-op */
            gt_sim_watch_peak(s, w);
        } else {
            rc = run_rare_op(s, o, slots, w);
        }
        if (rc)
            return rc;
    }
    return 0;
}

/* The per-op work of replay in one loop, so that malloc and free are
 * inlined: as calls from the replay's loop, their entries and exits (the
 * saving and restoring of six registers, the arguments) were 8% of the
 * 12-config sweep's instructions. */
int gt_sim_run(struct gt_sim *s, const struct gt_sim_op *ops, size_t n, gt_sim_handle *slots,
               struct gt_sim_watch *w)
{
    switch (path_of(s)) {
    case PATH_PLAIN:
        return run_ops(s, ops, n, slots, w, PATH_PLAIN);
    case PATH_EXPANDABLE:
        return run_ops(s, ops, n, slots, w, PATH_EXPANDABLE);
    default:
        return run_ops(s, ops, n, slots, w, PATH_ANY);
    }
}

static int range_free(const struct gt_sim *s, uint64_t addr, uint64_t size, size_t *pos)
{
    size_t i = 0;
    while (i < s->nranges && s->ranges[i].end <= addr)
        i++;
    *pos = i;
    return !(i < s->nranges && s->ranges[i].start < addr + size);
}

static int check_tiling(uint64_t addr, uint64_t size, const struct gt_sim_block_init *b, size_t n)
{
    uint64_t at = addr;
    for (size_t k = 0; k < n; k++) {
        if (b[k].addr != at || b[k].size == 0 || b[k].size % K_MIN_BLOCK_SIZE != 0 ||
            b[k].size > addr + size - at)
            return GT_EINVAL;
        at += b[k].size;
    }
    return at == addr + size && n > 0 ? 0 : GT_EINVAL;
}

/* Links block i after block prev (GT_SIM_NIL: first of its segment). */
static void link_after(struct gt_sim *s, uint32_t prev, uint32_t i)
{
    s->blk[i].prev = prev;
    if (prev != GT_SIM_NIL)
        s->blk[prev].next = i;
}

/* Links preloaded blocks (tiling checked) after block prev, merging free
 * neighbours as the allocator would have them; the free ones enter the pool.
 * Returns the last block, or GT_SIM_NIL when the host ran out. */
static uint32_t preload_blocks(struct gt_sim *s, uint32_t prev, int pool, uint64_t stream,
                               uint32_t xseg, const struct gt_sim_block_init *blocks, size_t n,
                               gt_sim_handle *handles)
{
    uint32_t first = GT_SIM_NIL;
    for (size_t k = 0; k < n; k++) {
        handles[k] = GT_SIM_NO_HANDLE;
        if (!blocks[k].allocated && first != GT_SIM_NIL && !s->blk[prev].allocated) {
            s->blk[prev].size += blocks[k].size; /* free neighbours are one block */
            continue;
        }
        uint32_t i = blk_new(s);
        if (i == GT_SIM_NIL)
            return GT_SIM_NIL;
        struct blk *b = &s->blk[i];
        b->addr = blocks[k].addr;
        b->size = blocks[k].size;
        b->stream = stream;
        b->pool = (uint8_t)pool;
        b->xseg = xseg;
        b->mapped = 1;
        link_after(s, prev, i);
        prev = i;
        if (first == GT_SIM_NIL)
            first = i;
        if (blocks[k].allocated) {
            b->allocated = 1;
            b->requested = blocks[k].requested;
            arr_inc(s->st.allocation, pool, 1);
            arr_inc(s->st.allocated_bytes, pool, b->size);
            active_inc(s, pool, b->size);
            arr_inc(s->st.requested_bytes, pool, b->requested);
            if (b->size >= s->conf.max_split_size)
                stat_inc(&s->st.oversize_allocations, 1);
            handles[k] = i;
        }
    }
    /* Free blocks enter the pool; in a split cudaMalloc segment they are
     * inactive_split (free_block counts none for expandable blocks). */
    for (uint32_t i = first; i != GT_SIM_NIL; i = s->blk[i].next) {
        if (s->blk[i].allocated)
            continue;
        pool_insert(s, i);
        if (is_split(&s->blk[i]) && xseg == GT_SIM_NIL) {
            arr_inc(s->st.inactive_split, pool, 1);
            arr_inc(s->st.inactive_split_bytes, pool, s->blk[i].size);
        }
    }
    return prev;
}

/* The pool number of private pool handle `pool` (0: the default pools). */
static int pool_number(const struct gt_sim *s, int pool, bool small_pool)
{
    if (pool < 0 || pool > SIM_MAX_PRIVATE || (pool > 0 && !s->priv[pool - 1].live))
        return -1;
    return (pool > 0 ? 2 * pool : 0) + (small_pool ? POOL_SMALL : POOL_LARGE);
}

int gt_sim_private_pool(struct gt_sim *s, int64_t id_first, int64_t id_second, int *pool,
                        bool *created)
{
    int free_slot = -1;
    *pool = 0;
    *created = false;
    if (id_first == 0 && id_second == 0)
        return 0;
    for (int k = 0; k < SIM_MAX_PRIVATE; k++) {
        const struct private_pool *pp = &s->priv[k];
        if (pp->live && pp->id_first == id_first && pp->id_second == id_second) {
            *pool = k + 1;
            return 0;
        }
        if (!pp->live && free_slot < 0)
            free_slot = k;
    }
    if (free_slot < 0)
        return GT_EUNSUPPORTED;
    /* MIRRORS: create_or_incref_pool: a new PrivatePool starts with
     * use_count 1, its creator's. */
    s->priv[free_slot] = (struct private_pool){id_first, id_second, 1, true};
    *pool = free_slot + 1;
    *created = true;
    return 0;
}

void gt_sim_release_pool(struct gt_sim *s, int pool)
{
    /* MIRRORS: releasePool: use_count drops; at 0 the pool joins
     * graph_pools_freeable, and the next release_cached_blocks frees it. */
    if (pool > 0 && pool <= SIM_MAX_PRIVATE && s->priv[pool - 1].live &&
        s->priv[pool - 1].use_count > 0)
        s->priv[pool - 1].use_count--;
}

int gt_sim_preload_segment(struct gt_sim *s, int private_pool, uint64_t addr, uint64_t size,
                           uint64_t stream, bool small_pool, const struct gt_sim_block_init *blocks,
                           size_t n, gt_sim_handle *handles)
{
    size_t pos;
    if (s->conf.no_caching)
        return GT_EUNSUPPORTED;
    int pool = pool_number(s, private_pool, small_pool);
    if (pool < 0)
        return GT_EINVAL;
    if (size == 0 || size % K_MIN_BLOCK_SIZE || check_tiling(addr, size, blocks, n) ||
        !range_free(s, addr, size, &pos))
        return GT_EINVAL;
    if (range_insert(s, pos, addr, size))
        return GT_ENOMEM;
    s->total_allocated_memory += size;
    arr_inc(s->st.segment, pool, 1);
    arr_inc(s->st.reserved_bytes, pool, size);
    if (size >= s->conf.max_split_size)
        stat_inc(&s->st.oversize_segments, 1);
    if (preload_blocks(s, GT_SIM_NIL, pool, stream, GT_SIM_NIL, blocks, n, handles) == GT_SIM_NIL)
        return GT_ENOMEM;
    check_after_op(s);
    return s->broken ? GT_ENOMEM : 0;
}

/* The unmapped block of a live reservation of (stream, pool) that holds
 * [addr, addr + size) whole, at a whole number of pages from the
 * reservation's base; GT_SIM_NIL when none does. */
static uint32_t unmapped_holding(const struct gt_sim *s, int pool, uint64_t stream, uint64_t addr,
                                 uint64_t size)
{
    const struct stream_sets *ss = sets_find(s, pool, stream);
    if (ss == NULL)
        return GT_SIM_NIL;
    for (struct gt_sim_pos k = gt_sim_set_begin(&ss->unmapped);
         !gt_sim_set_at_end(&ss->unmapped, k); gt_sim_set_next(&ss->unmapped, &k)) {
        uint32_t u = gt_sim_set_key(&ss->unmapped, k)->blk;
        const struct blk *b = &s->blk[u];
        const struct xseg *x = &s->xs[b->xseg];
        if (addr >= b->addr && addr + size <= b->addr + b->size && (addr - x->base) % x->page == 0)
            return u;
    }
    return GT_SIM_NIL;
}

/* A reservation opened at a preloaded range's own address: the real base is
 * not in the snapshot, but (MIRRORS: find_expandable_block, ExpandableSegment)
 * a fresh reservation is mapped from its base upward, so the lowest mapped
 * range of a (stream, pool) is the best guess (docs/notes/pytorch-allocator.md
 * §20.9). It spans what xseg_new would reserve, cut short at the
 * next range in use (a segment preloaded before it), in whole pages.
 * Returns its one unmapped block, or GT_SIM_NIL (GT_EINVAL or GT_ENOMEM in
 * *rc). */
static uint32_t xseg_preload(struct gt_sim *s, int pool, uint64_t stream, uint64_t addr,
                             uint64_t size, int *rc)
{
    size_t pos;
    *rc = GT_EINVAL;
    if (!range_free(s, addr, size, &pos))
        return GT_SIM_NIL;
    *rc = GT_ENOMEM;
    struct xseg *x = xseg_slot(s, stream, pool);
    if (x == NULL)
        return GT_SIM_NIL;
    if (x->size < size)
        x->size = size;
    if (x->size > UINT64_MAX - addr) /* a range at the top of the address space */
        x->size = (UINT64_MAX - addr) / x->page * x->page;
    if (pos < s->nranges && s->ranges[pos].start - addr < x->size)
        x->size = (s->ranges[pos].start - addr) / x->page * x->page;
    x->base = addr;
    uint32_t u = blk_new(s);
    if (u == GT_SIM_NIL || range_insert(s, pos, x->base, x->size))
        return GT_SIM_NIL;
    struct blk *b = &s->blk[u];
    b->addr = x->base;
    b->size = x->size;
    b->stream = stream;
    b->pool = (uint8_t)pool;
    b->xseg = (uint32_t)s->nxs++;
    unmapped_insert(s, u);
    *rc = 0;
    return u;
}

int gt_sim_preload_mapped(struct gt_sim *s, int private_pool, uint64_t addr, uint64_t size,
                          uint64_t stream, bool small_pool, const struct gt_sim_block_init *blocks,
                          size_t n, gt_sim_handle *handles)
{
    int pool = pool_number(s, private_pool, small_pool);
    /* MIRRORS: expandable page = kSmallBuffer or large_segment_size; a
     * mapped range is whole pages (ExpandableSegment::map). */
    uint64_t page = small_pool ? K_SMALL_BUFFER : s->conf.large_segment_size;
    int rc = 0;
    if (s->conf.no_caching)
        return GT_EUNSUPPORTED;
    if (pool < 0 || size == 0 || size % page || size > UINT64_MAX - addr ||
        check_tiling(addr, size, blocks, n))
        return GT_EINVAL;
    uint32_t u = unmapped_holding(s, pool, stream, addr, size);
    if (u == GT_SIM_NIL)
        u = xseg_preload(s, pool, stream, addr, size, &rc);
    if (u == GT_SIM_NIL)
        return rc;
    /* A range that touches another mapped one is part of it: the snapshot
     * reports each contiguous mapped range once. */
    if ((addr == s->blk[u].addr && s->blk[u].prev != GT_SIM_NIL) ||
        (addr + size == s->blk[u].addr + s->blk[u].size && s->blk[u].next != GT_SIM_NIL))
        return GT_EINVAL;
    /* The unmapped block keeps what lies below the range; a new one takes
     * what lies above it. */
    unmapped_erase(s, u);
    struct blk ub = s->blk[u];
    uint32_t before = ub.prev, after = ub.next;
    if (addr > ub.addr) {
        s->blk[u].size = addr - ub.addr;
        unmapped_insert(s, u);
        before = u;
    } else {
        blk_delete(s, u);
    }
    uint32_t last = preload_blocks(s, before, pool, stream, ub.xseg, blocks, n, handles);
    if (last == GT_SIM_NIL)
        return GT_ENOMEM;
    if (addr + size < ub.addr + ub.size) {
        uint32_t r = blk_new(s);
        if (r == GT_SIM_NIL)
            return GT_ENOMEM;
        struct blk *rb = &s->blk[r];
        rb->addr = addr + size;
        rb->size = ub.addr + ub.size - (addr + size);
        rb->stream = stream;
        rb->pool = (uint8_t)pool;
        rb->xseg = ub.xseg;
        link_after(s, last, r);
        last = r;
        unmapped_insert(s, r);
    }
    s->blk[last].next = after;
    if (after != GT_SIM_NIL)
        s->blk[after].prev = last;
    /* MIRRORS: map_block: the pages count in reserved bytes, not as a
     * segment (stats.segment counts cudaMalloc segments only). */
    s->total_allocated_memory += size;
    arr_inc(s->st.reserved_bytes, pool, size);
    check_after_op(s);
    return s->broken ? GT_ENOMEM : 0;
}

uint64_t gt_sim_addr(const struct gt_sim *s, gt_sim_handle h)
{
    return h < s->nblk && s->blk[h].live ? s->blk[h].addr : 0;
}

uint64_t gt_sim_block_size(const struct gt_sim *s, gt_sim_handle h)
{
    return h < s->nblk && s->blk[h].live ? s->blk[h].size : 0;
}

const struct gt_sim_stats *gt_sim_get_stats(const struct gt_sim *s)
{
    return &s->st;
}

uint64_t gt_sim_largest_free_block(const struct gt_sim *s)
{
    uint64_t best = 0;
    for (int p = 0; p < 2; p++)
        for (size_t si = 0; si < s->pools[p].nss; si++) {
            const struct gt_sim_set *set = &s->pools[p].ss[si].blocks;
            if (set->n && gt_sim_set_key(set, gt_sim_set_last(set))->size > best)
                best = gt_sim_set_key(set, gt_sim_set_last(set))->size; /* ordered by size */
        }
    return best;
}

/* ----------------------------------------------------------- reporting */

/* The names of torch.cuda.memory_stats(): THCPModule_memoryStats builds a
 * nested dict and torch.cuda.memory_stats flattens it with "." and sorts. */
static const char *const k_pool_names[GT_SIM_POOL_TYPES] = {"all", "small_pool", "large_pool"};

struct named_value {
    char name[64];
    int64_t value;
};

static int cmp_named(const void *a, const void *b)
{
    return strcmp(((const struct named_value *)a)->name, ((const struct named_value *)b)->name);
}

static size_t add_stat(struct named_value *v, size_t n, const char *prefix,
                       const struct gt_sim_stat *st)
{
    const char *field[4] = {"allocated", "current", "freed", "peak"};
    int64_t val[4] = {st->allocated, st->current, st->allocated - st->current, st->peak};
    for (int f = 0; f < 4; f++) {
        snprintf(v[n].name, sizeof v[n].name, "%s.%s", prefix, field[f]);
        v[n++].value = val[f];
    }
    return n;
}

#define STATS_MAX 128

static size_t collect_stats(const struct gt_sim_stats *st, struct named_value *v)
{
    const struct {
        const char *name;
        const struct gt_sim_stat *arr;
    } arrays[] = {
        {"active", st->active_is_allocation ? st->allocation : st->active},
        {"active_bytes", st->active_is_allocation ? st->allocated_bytes : st->active_bytes},
        {"allocated_bytes", st->allocated_bytes},
        {"allocation", st->allocation},
        {"inactive_split", st->inactive_split},
        {"inactive_split_bytes", st->inactive_split_bytes},
        {"requested_bytes", st->requested_bytes},
        {"reserved_bytes", st->reserved_bytes},
        {"segment", st->segment},
    };
    size_t n = 0;
    char prefix[48];
    for (size_t a = 0; a < sizeof arrays / sizeof arrays[0]; a++) {
        for (int p = 0; p < GT_SIM_POOL_TYPES; p++) {
            snprintf(prefix, sizeof prefix, "%s.%s", arrays[a].name, k_pool_names[p]);
            n = add_stat(v, n, prefix, &arrays[a].arr[p]);
        }
    }
    n = add_stat(v, n, "oversize_allocations", &st->oversize_allocations);
    n = add_stat(v, n, "oversize_segments", &st->oversize_segments);
    const struct {
        const char *name;
        int64_t value;
    } scalars[] = {
        {"max_split_size", st->max_split_size},
        {"num_alloc_retries", st->num_alloc_retries},
        {"num_device_alloc", st->num_device_alloc},
        {"num_device_free", st->num_device_free},
        {"num_ooms", st->num_ooms},
        {"num_sync_all_streams", st->num_sync_all_streams},
    };
    for (size_t k = 0; k < sizeof scalars / sizeof scalars[0]; k++) {
        snprintf(v[n].name, sizeof v[n].name, "%s", scalars[k].name);
        v[n++].value = scalars[k].value;
    }
    qsort(v, n, sizeof *v, cmp_named);
    return n;
}

void gt_sim_stats_foreach(const struct gt_sim_stats *st,
                          void (*fn)(void *ctx, const char *name, int64_t value), void *ctx)
{
    struct named_value v[STATS_MAX];
    size_t n = collect_stats(st, v);
    for (size_t k = 0; k < n; k++)
        fn(ctx, v[k].name, v[k].value);
}

int gt_sim_stat_lookup(const struct gt_sim_stats *st, const char *name, int64_t *value)
{
    struct named_value v[STATS_MAX];
    size_t n = collect_stats(st, v);
    for (size_t k = 0; k < n; k++) {
        if (strcmp(v[k].name, name) == 0) {
            *value = v[k].value;
            return 0;
        }
    }
    return GT_ENOENT;
}

static int cmp_u32_by_addr_ctx(const struct gt_sim *s, uint32_t a, uint32_t b)
{
    return s->blk[a].addr < s->blk[b].addr ? -1 : s->blk[a].addr > s->blk[b].addr;
}

/* Insertion sort of segment heads by address: report-time only. */
static void sort_heads(const struct gt_sim *s, uint32_t *h, size_t n)
{
    for (size_t i = 1; i < n; i++) {
        uint32_t x = h[i];
        size_t j = i;
        while (j > 0 && cmp_u32_by_addr_ctx(s, h[j - 1], x) > 0) {
            h[j] = h[j - 1];
            j--;
        }
        h[j] = x;
    }
}

void gt_sim_segments(const struct gt_sim *s,
                     void (*fn)(void *ctx, const struct gt_sim_segment_info *seg),
                     void (*fn_block)(void *ctx, uint64_t addr, uint64_t size, bool allocated),
                     void *ctx)
{
    if (s->conf.no_caching)
        return;
    /* A segment starts at a block with no prev (cudaMalloc) or at a mapped
     * block whose prev is unmapped or absent (expandable). */
    uint32_t *heads = malloc((s->nblk ? s->nblk : 1) * sizeof *heads);
    if (heads == NULL)
        return;
    size_t nh = 0;
    for (uint32_t i = 0; i < s->nblk; i++) {
        const struct blk *b = &s->blk[i];
        if (!b->live || !b->mapped)
            continue;
        if (b->prev == GT_SIM_NIL || !s->blk[b->prev].mapped)
            heads[nh++] = i;
    }
    sort_heads(s, heads, nh);
    for (size_t h = 0; h < nh; h++) {
        struct gt_sim_segment_info seg = {0};
        const struct blk *b0 = &s->blk[heads[h]];
        seg.addr = b0->addr;
        seg.stream = b0->stream;
        seg.small_pool = pool_is_small(b0->pool);
        seg.expandable = b0->xseg != GT_SIM_NIL;
        for (uint32_t i = heads[h]; i != GT_SIM_NIL && s->blk[i].mapped; i = s->blk[i].next) {
            seg.size += s->blk[i].size;
            seg.allocated += s->blk[i].allocated == BLK_ALLOCATED ? s->blk[i].size : 0;
            seg.nblocks++;
        }
        fn(ctx, &seg);
        if (fn_block != NULL)
            for (uint32_t i = heads[h]; i != GT_SIM_NIL && s->blk[i].mapped; i = s->blk[i].next)
                fn_block(ctx, s->blk[i].addr, s->blk[i].size, s->blk[i].allocated == BLK_ALLOCATED);
    }
    free(heads);
}

/* ------------------------------------------------------------- checking */

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            snprintf(msg, len, __VA_ARGS__);                                                       \
            return GT_ECORRUPT;                                                                    \
        }                                                                                          \
    } while (0)

static int check_set(const struct gt_sim *s, const struct gt_sim_set *set, uint64_t stream,
                     int unmapped, char *msg, size_t len)
{
    const struct gt_sim_key *p = NULL;
    size_t k = 0;
    if (gt_sim_set_check(set, msg, len))
        return GT_ECORRUPT;
    for (struct gt_sim_pos at = gt_sim_set_begin(set); !gt_sim_set_at_end(set, at);
         gt_sim_set_next(set, &at), k++) {
        const struct gt_sim_key *key = gt_sim_set_key(set, at);
        CHECK(key->blk < s->nblk && s->blk[key->blk].live, "set entry %zu names a dead block", k);
        const struct blk *b = &s->blk[key->blk];
        CHECK(!b->allocated, "allocated block at 0x%llx is in a free set",
              (unsigned long long)b->addr);
        CHECK(b->mapped == !unmapped, "block at 0x%llx is in the wrong set",
              (unsigned long long)b->addr);
        CHECK(b->stream == stream, "block at 0x%llx is in another stream's set",
              (unsigned long long)b->addr);
        CHECK(key->addr == b->addr && key->size == (unmapped ? 0 : b->size),
              "stale key for block at 0x%llx", (unsigned long long)b->addr);
        if (p != NULL) {
            int ordered = p->size < key->size || (p->size == key->size && p->addr < key->addr);
            CHECK(ordered, "free set out of order at entry %zu", k);
        }
        p = key;
    }
    return 0;
}

/* Checks every set of a pool; adds their sizes to *nfree and *nunmapped. */
static int check_pool(const struct gt_sim *s, int pool, size_t *nfree, size_t *nunmapped, char *msg,
                      size_t len)
{
    const struct pool *p = &s->pools[pool];
    for (size_t si = 0; si < p->nss; si++) {
        CHECK(si == 0 || p->ss[si - 1].stream < p->ss[si].stream, "stream sets out of order");
        int rc = check_set(s, &p->ss[si].blocks, p->ss[si].stream, 0, msg, len);
        if (rc == 0)
            rc = check_set(s, &p->ss[si].unmapped, p->ss[si].stream, 1, msg, len);
        if (rc)
            return rc;
        *nfree += p->ss[si].blocks.n;
        *nunmapped += p->ss[si].unmapped.n;
    }
    return 0;
}

int gt_sim_check(const struct gt_sim *s, char *msg, size_t len)
{
    if (s->check_msg[0]) {
        snprintf(msg, len, "%s", s->check_msg);
        return GT_ECORRUPT;
    }
    if (s->conf.no_caching)
        return 0;
    uint64_t reserved = 0, allocated = 0;
    size_t nfree = 0, nunmapped = 0, npending = 0;
    for (uint32_t i = 0; i < s->nblk; i++) {
        const struct blk *b = &s->blk[i];
        if (!b->live)
            continue;
        CHECK(b->size > 0 && b->size % K_MIN_BLOCK_SIZE == 0, "block at 0x%llx has size %llu",
              (unsigned long long)b->addr, (unsigned long long)b->size);
        if (b->next != GT_SIM_NIL) {
            const struct blk *n = &s->blk[b->next];
            CHECK(n->live && n->prev == i && n->addr == b->addr + b->size,
                  "blocks at 0x%llx and its next do not tile", (unsigned long long)b->addr);
            CHECK(!(b->mapped && n->mapped && !b->allocated && !n->allocated),
                  "free neighbours at 0x%llx were not merged", (unsigned long long)b->addr);
        }
        if (b->mapped)
            reserved += b->size;
        if (b->allocated == BLK_ALLOCATED)
            allocated += b->size;
        else if (b->allocated == BLK_PENDING)
            npending++;
        else if (b->mapped)
            nfree++;
        else
            nunmapped++;
    }
    CHECK(reserved == s->total_allocated_memory, "blocks hold %llu bytes, reserved is %llu",
          (unsigned long long)reserved, (unsigned long long)s->total_allocated_memory);
    CHECK((int64_t)reserved == s->st.reserved_bytes[GT_SIM_ALL].current,
          "reserved_bytes.all.current %lld != %llu", (long long)s->st.reserved_bytes[0].current,
          (unsigned long long)reserved);
    CHECK((int64_t)allocated == s->st.allocated_bytes[GT_SIM_ALL].current,
          "allocated_bytes.all.current %lld != %llu", (long long)s->st.allocated_bytes[0].current,
          (unsigned long long)allocated);
    CHECK(allocated <= reserved, "allocated exceeds reserved");
    size_t in_sets = 0, unmapped_in_sets = 0;
    for (int p = 0; p < SIM_NPOOLS; p++) {
        int rc = check_pool(s, p, &in_sets, &unmapped_in_sets, msg, len);
        if (rc)
            return rc;
    }
    CHECK(nfree == in_sets, "%zu free blocks but %zu in the free sets", nfree, in_sets);
    CHECK(npending == s->npending, "%zu pending blocks but %zu on the list", npending, s->npending);
    CHECK(nunmapped == unmapped_in_sets, "%zu unmapped blocks but %zu in the unmapped sets",
          nunmapped, unmapped_in_sets);
    return 0;
}
