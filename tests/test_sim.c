/* Check suite for the allocator simulator (analyzer/sim/sim.c): one test per
 * MIRRORS: rule, and the acceptance cases of docs/notes/pytorch-allocator.md §15 that need no CUDA
 * graph, MemPool or record_stream. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gputrace/conf.h"
#include "gputrace/err.h"
#include "gputrace/sim.h"
#include "gputrace/units.h"

#define KIB ((uint64_t)1024)
#define MIB ((uint64_t)1 << 20)
#define GIB ((uint64_t)1 << 30)

/* ------------------------------------------------------------ helpers */

static struct gt_conf conf_of(const char *text)
{
    struct gt_conf c;
    char err[256];
    int rc = gt_conf_parse(text, &c, err, sizeof err);
    ck_assert_msg(rc == 0, "config '%s' rejected: %s", text, err);
    return c;
}

/* Segment events seen by the callback, for tests that check driver calls. */
struct seglog {
    int n;
    enum gt_sim_seg_event ev[64];
    uint64_t addr[64], size[64];
};

static void log_segment(void *ctx, enum gt_sim_seg_event ev, uint64_t addr, uint64_t size,
                        uint64_t stream)
{
    struct seglog *l = ctx;
    (void)stream;
    if (l->n < 64) {
        l->ev[l->n] = ev;
        l->addr[l->n] = addr;
        l->size[l->n] = size;
    }
    l->n++;
}

/* A simulator of text's settings on a card of limit (of total), checked
 * after every op when checked, keeping only the statistics replay reports
 * when reported_stats_only, its segment events in log unless NULL. */
static struct gt_sim *sim_made(const char *text, uint64_t limit, uint64_t total, struct seglog *log,
                               bool checked, bool reported_stats_only)
{
    struct gt_conf c = conf_of(text);
    struct gt_sim_options o = {0};
    o.device_limit = limit;
    o.device_total = total;
    o.check_every_op = checked;
    o.reported_stats_only = reported_stats_only;
    if (log != NULL) {
        memset(log, 0, sizeof *log);
        o.on_segment = log_segment;
        o.cb_ctx = log;
    }
    struct gt_sim *s = NULL;
    ck_assert_int_eq(gt_sim_new(&c, &o, &s), 0);
    return s;
}

static struct gt_sim *sim_with(const char *text, uint64_t limit, uint64_t total, struct seglog *log)
{
    return sim_made(text, limit, total, log, true, false);
}

/* As sim_with, without the per-op check: the fast paths of plain
 * simulators (gt_sim_run) are taken only then. */
static struct gt_sim *sim_unchecked(const char *text, uint64_t limit, uint64_t total)
{
    return sim_made(text, limit, total, NULL, false, false);
}

/* A simulator made with reported_stats_only, otherwise as sim_unchecked. */
static struct gt_sim *sim_reporting(const char *text, uint64_t limit, uint64_t total)
{
    return sim_made(text, limit, total, NULL, false, true);
}

static gt_sim_handle must_alloc(struct gt_sim *s, uint64_t size)
{
    gt_sim_handle h;
    int rc = gt_sim_malloc(s, size, 0, &h);
    ck_assert_msg(rc == 0, "malloc(%llu) failed: %s", (unsigned long long)size, gt_strerror(rc));
    return h;
}

static int64_t stat(const struct gt_sim *s, const char *name)
{
    int64_t v = 0;
    ck_assert_msg(gt_sim_stat_lookup(gt_sim_get_stats(s), name, &v) == 0, "no stat %s", name);
    return v;
}

static void assert_consistent(const struct gt_sim *s)
{
    char msg[256];
    ck_assert_msg(gt_sim_check(s, msg, sizeof msg) == 0, "bookkeeping broken: %s", msg);
}

/* ------------------------------------------------------------ sizing */

START_TEST(round_size_rounds_to_512_and_power2_divisions)
{
    struct gt_conf d = conf_of("default"), r4 = conf_of("roundup_power2_divisions:4");
    /* MIRRORS: round_size: below 512 -> 512, else multiples of 512. */
    ck_assert_uint_eq(gt_sim_round_size(&d, 1), 512);
    ck_assert_uint_eq(gt_sim_round_size(&d, 512), 512);
    ck_assert_uint_eq(gt_sim_round_size(&d, 513), 1024);
    ck_assert_uint_eq(gt_sim_round_size(&d, 88080384), 88080384);
    /* MIRRORS: roundup_power2_next_division: 84 MiB, 4 divisions -> 96 MiB. */
    ck_assert_uint_eq(gt_sim_round_size(&r4, 88080384), 100663296);
    /* The "1200 -> 1280" docs example never happens: 1200 <= 512 * 4. */
    ck_assert_uint_eq(gt_sim_round_size(&r4, 1200), 1536);
    /* Powers of two stay as they are. */
    ck_assert_uint_eq(gt_sim_round_size(&r4, 64 * MIB), 64 * MIB);
    struct gt_conf list = conf_of("roundup_power2_divisions:[64:8,128:2,256:2,512:2,1024:1,>:1]");
    ck_assert_uint_eq(gt_sim_round_size(&list, 88080384), 92274688);
    ck_assert_uint_eq(gt_sim_round_size(&list, 419430400), 536870912);
}
END_TEST

START_TEST(allocation_size_follows_the_segment_size_table)
{
    struct gt_conf d = conf_of("default");
    /* MIRRORS: get_allocation_size, docs/notes/pytorch-allocator.md §2.4 table. */
    ck_assert_uint_eq(gt_sim_allocation_size(&d, 512), 2 * MIB);
    ck_assert_uint_eq(gt_sim_allocation_size(&d, 1048576), 2 * MIB);
    ck_assert_uint_eq(gt_sim_allocation_size(&d, 1049088), 20 * MIB);
    ck_assert_uint_eq(gt_sim_allocation_size(&d, 10485248), 20 * MIB);
    ck_assert_uint_eq(gt_sim_allocation_size(&d, 10485760), 10 * MIB);
    ck_assert_uint_eq(gt_sim_allocation_size(&d, 10486272), 12 * MIB);
    ck_assert_uint_eq(gt_sim_allocation_size(&d, 40 * MIB), 40 * MIB);
    struct gt_conf l15 = conf_of("large_segment_size_mb:15");
    ck_assert_uint_eq(gt_sim_allocation_size(&l15, 2 * MIB), 15 * MIB);
}
END_TEST

/* ------------------------------------------------------------ pools and fit */

START_TEST(a_small_request_gets_a_2_mib_small_pool_segment)
{
    struct seglog log;
    struct gt_sim *s = sim_with("default", 0, 0, &log);
    must_alloc(s, 1024);
    /* MIRRORS: get_pool: rounded <= 1 MiB -> small pool. */
    ck_assert_int_eq(stat(s, "segment.small_pool.current"), 1);
    ck_assert_int_eq(stat(s, "reserved_bytes.small_pool.current"), (int64_t)(2 * MIB));
    ck_assert_int_eq(stat(s, "allocated_bytes.all.current"), 1024);
    ck_assert_int_eq(log.n, 1);
    ck_assert_int_eq(log.ev[0], GT_SIM_SEGMENT_ALLOC);
    /* 1 MiB exactly is still small: two fit in one 2 MiB segment. */
    gt_sim_free_all(s);
    s = sim_with("default", 0, 0, NULL);
    must_alloc(s, 1048576);
    must_alloc(s, 1048576);
    ck_assert_int_eq(stat(s, "segment.small_pool.current"), 1);
    must_alloc(s, 1048577);
    ck_assert_int_eq(stat(s, "segment.large_pool.current"), 1);
    ck_assert_int_eq(stat(s, "reserved_bytes.large_pool.current"), (int64_t)(20 * MIB));
    gt_sim_free_all(s);
}
END_TEST

START_TEST(two_5_mib_requests_share_one_20_mib_segment_low_part_first)
{
    struct gt_sim *s = sim_with("default", 0, 0, NULL);
    gt_sim_handle a = must_alloc(s, 5 * MIB);
    gt_sim_handle b = must_alloc(s, 5 * MIB);
    /* MIRRORS: alloc_found_block: the allocated piece is the low part. */
    ck_assert_uint_eq(gt_sim_addr(s, b), gt_sim_addr(s, a) + 5 * MIB);
    ck_assert_int_eq(stat(s, "segment.all.current"), 1);
    ck_assert_int_eq(stat(s, "reserved_bytes.all.current"), (int64_t)(20 * MIB));
    ck_assert_int_eq(stat(s, "inactive_split.all.current"), 1);
    ck_assert_int_eq(stat(s, "inactive_split_bytes.all.current"), (int64_t)(10 * MIB));
    gt_sim_free_all(s);
}
END_TEST

START_TEST(a_large_pool_remainder_of_1_mib_or_less_is_not_split)
{
    struct gt_sim *s = sim_with("default", 0, 0, NULL);
    /* 19.25 MiB in a 20 MiB segment leaves 0.75 MiB: MIRRORS should_split
     * (large pool splits only when the remainder is > 1 MiB). */
    gt_sim_handle h = must_alloc(s, 19 * MIB + 256 * KIB);
    ck_assert_uint_eq(gt_sim_block_size(s, h), 20 * MIB);
    ck_assert_int_eq(stat(s, "allocated_bytes.all.current"), (int64_t)(20 * MIB));
    ck_assert_int_eq(stat(s, "requested_bytes.all.current"), (int64_t)(19 * MIB + 256 * KIB));
    gt_sim_free(s, h);
    /* The small pool splits any remainder >= 512. */
    h = must_alloc(s, 2 * MIB - 512);
    ck_assert_int_eq(stat(s, "segment.large_pool.current"), 1); /* 2 MiB-512 is large */
    gt_sim_free_all(s);
}
END_TEST

START_TEST(best_fit_takes_the_smallest_block_and_the_lowest_address_on_ties)
{
    struct gt_sim *s = sim_with("default", 0, 0, NULL);
    gt_sim_handle big = must_alloc(s, 30 * MIB);  /* own 30 MiB segment */
    gt_sim_handle mid = must_alloc(s, 3 * MIB);   /* 20 MiB segment, 17 MiB free */
    gt_sim_handle other = must_alloc(s, 3 * MIB); /* same segment, 14 MiB free */
    gt_sim_free(s, big);                          /* 30 MiB free block */
    /* A 12 MiB request fits both; best fit picks the 14 MiB remainder. */
    gt_sim_handle x = must_alloc(s, 12 * MIB);
    ck_assert_uint_eq(gt_sim_addr(s, x), gt_sim_addr(s, other) + 3 * MIB);
    ck_assert_int_eq(stat(s, "segment.all.current"), 2);
    (void)mid;
    gt_sim_free_all(s);

    /* Ties on size go to the lower address. */
    s = sim_with("default", 0, 0, NULL);
    gt_sim_handle s1 = must_alloc(s, 12 * MIB);
    gt_sim_handle s2 = must_alloc(s, 12 * MIB);
    uint64_t low =
        gt_sim_addr(s, s1) < gt_sim_addr(s, s2) ? gt_sim_addr(s, s1) : gt_sim_addr(s, s2);
    gt_sim_free(s, s2);
    gt_sim_free(s, s1);
    gt_sim_handle y = must_alloc(s, 12 * MIB);
    ck_assert_uint_eq(gt_sim_addr(s, y), low);
    gt_sim_free_all(s);
}
END_TEST

START_TEST(freeing_merges_neighbours_back_into_a_whole_segment)
{
    struct gt_sim *s = sim_with("default", 0, 0, NULL);
    gt_sim_handle a = must_alloc(s, 4 * MIB), b = must_alloc(s, 4 * MIB),
                  c = must_alloc(s, 4 * MIB);
    gt_sim_free(s, b);
    ck_assert_int_eq(stat(s, "inactive_split.all.current"), 2); /* b's hole and the tail */
    gt_sim_free(s, a);
    gt_sim_free(s, c);
    /* MIRRORS: free_block + try_merge_blocks: everything merges; no split left. */
    ck_assert_int_eq(stat(s, "inactive_split.all.current"), 0);
    ck_assert_int_eq(stat(s, "inactive_split_bytes.all.current"), 0);
    ck_assert_int_eq(stat(s, "active_bytes.all.current"), 0);
    ck_assert_uint_eq(gt_sim_largest_free_block(s), 20 * MIB);
    gt_sim_free_all(s);
}
END_TEST

START_TEST(blocks_are_only_reused_on_their_own_stream)
{
    struct gt_sim *s = sim_with("default", 0, 0, NULL);
    gt_sim_handle h;
    ck_assert_int_eq(gt_sim_malloc(s, 4 * MIB, 7, &h), 0);
    gt_sim_free(s, h);
    ck_assert_int_eq(gt_sim_malloc(s, 4 * MIB, 9, &h), 0);
    /* MIRRORS: BlockComparatorSize keys on the stream first. */
    ck_assert_int_eq(stat(s, "segment.all.current"), 2);
    gt_sim_free_all(s);
}
END_TEST

/* ------------------------------------------------------------ max_split_size */

START_TEST(max_split_size_keeps_small_requests_out_of_oversize_blocks)
{
    struct gt_sim *s = sim_with("max_split_size_mb:64", 0, 0, NULL);
    gt_sim_handle big = must_alloc(s, 100 * MIB);
    ck_assert_int_eq(stat(s, "oversize_segments.current"), 1);
    ck_assert_int_eq(stat(s, "oversize_allocations.current"), 1);
    gt_sim_free(s, big);
    /* MIRRORS: get_free_block: size < M never takes a block >= M. */
    must_alloc(s, 30 * MIB);
    ck_assert_int_eq(stat(s, "segment.all.current"), 2);
    /* MIRRORS: get_free_block: size >= M takes a cached block only if the
     * block is < size + max_non_split_rounding (20 MiB). 100 MiB < 90 + 20. */
    gt_sim_handle h = must_alloc(s, 90 * MIB);
    ck_assert_int_eq(stat(s, "segment.all.current"), 2);
    /* MIRRORS: should_split: an oversize request is never split. */
    ck_assert_uint_eq(gt_sim_block_size(s, h), 100 * MIB);
    gt_sim_free(s, h);
    /* 100 MiB >= 70 + 20: not taken, a new 70 MiB segment instead. */
    must_alloc(s, 70 * MIB);
    ck_assert_int_eq(stat(s, "segment.all.current"), 3);
    ck_assert_int_eq(stat(s, "max_split_size"), (int64_t)(64 * MIB));
    gt_sim_free_all(s);

    s = sim_with("max_split_size_mb:64,max_non_split_rounding_mb:40", 0, 0, NULL);
    h = must_alloc(s, 100 * MIB);
    gt_sim_free(s, h);
    must_alloc(s, 70 * MIB); /* 100 < 70 + 40 */
    ck_assert_int_eq(stat(s, "segment.all.current"), 1);
    gt_sim_free_all(s);
}
END_TEST

START_TEST(unlimited_max_split_size_reports_minus_one)
{
    struct gt_sim *s = sim_with("default", 0, 0, NULL);
    ck_assert_int_eq(stat(s, "max_split_size"), -1);
    gt_sim_free_all(s);
}
END_TEST

/* ------------------------------------------------------------ the malloc ladder */

START_TEST(under_a_cap_oversize_blocks_are_released_largest_first_before_a_flush)
{
    struct seglog log;
    struct gt_sim *s = sim_with("max_split_size_mb:64", 300 * MIB, 0, &log);
    gt_sim_handle a = must_alloc(s, 100 * MIB), b = must_alloc(s, 120 * MIB);
    gt_sim_handle keep = must_alloc(s, 3 * MIB); /* 20 MiB segment stays busy */
    gt_sim_free(s, a);
    gt_sim_free(s, b);
    /* 240 MiB reserved; 80 MiB more fails the cap. MIRRORS:
     * release_available_cached_blocks frees the smallest block >= max(size, M)
     * = the 100 MiB one; then cudaMalloc succeeds without a flush. */
    must_alloc(s, 80 * MIB);
    ck_assert_int_eq(stat(s, "num_alloc_retries"), 0);
    ck_assert_int_eq(stat(s, "num_device_free"), 1);
    ck_assert_int_eq(log.ev[3], GT_SIM_SEGMENT_FREE);
    ck_assert_uint_eq(log.size[3], 100 * MIB);
    (void)keep;
    gt_sim_free_all(s);
}
END_TEST

START_TEST(a_full_flush_and_retry_counts_num_alloc_retries)
{
    struct gt_sim *s = sim_with("default", 100 * MIB, 0, NULL);
    gt_sim_handle a = must_alloc(s, 60 * MIB);
    gt_sim_free(s, a);
    /* 60 MiB cached, 50 MiB more does not fit the 100 MiB cap and cannot use
     * the 60 MiB block? It can: best fit takes it (60 < 50 + 20 is irrelevant
     * without max_split). So ask for 70 MiB: cudaMalloc fails, the flush
     * releases the 60 MiB segment, the retry succeeds. */
    must_alloc(s, 70 * MIB);
    ck_assert_int_eq(stat(s, "num_alloc_retries"), 1);
    ck_assert_int_eq(stat(s, "num_sync_all_streams"), 1);
    ck_assert_int_eq(stat(s, "reserved_bytes.all.current"), (int64_t)(70 * MIB));
    ck_assert_int_eq(stat(s, "reserved_bytes.all.peak"), (int64_t)(70 * MIB));
    gt_sim_free_all(s);
}
END_TEST

START_TEST(an_oom_is_counted_and_the_allocator_stays_usable)
{
    struct gt_sim *s = sim_with("default", 100 * MIB, 0, NULL);
    gt_sim_handle a = must_alloc(s, 60 * MIB);
    gt_sim_handle h;
    ck_assert_int_eq(gt_sim_malloc(s, 60 * MIB, 0, &h), GT_EOOM);
    ck_assert_uint_eq(h, GT_SIM_NO_HANDLE);
    ck_assert_int_eq(stat(s, "num_ooms"), 1);
    ck_assert_int_eq(stat(s, "num_alloc_retries"), 1);
    assert_consistent(s);
    gt_sim_free(s, a);
    must_alloc(s, 60 * MIB); /* served from the cache */
    ck_assert_int_eq(stat(s, "num_device_alloc"), 1);
    /* MIRRORS: allocate(): >= 1 EB is refused without touching stats. */
    ck_assert_int_eq(gt_sim_malloc(s, (uint64_t)1 << 60, 0, &h), GT_EOOM);
    ck_assert_int_eq(stat(s, "num_ooms"), 1);
    /* allocate(0) returns nothing and counts nothing. */
    ck_assert_int_eq(gt_sim_malloc(s, 0, 0, &h), 0);
    ck_assert_uint_eq(h, GT_SIM_NO_HANDLE);
    gt_sim_free_all(s);
}
END_TEST

START_TEST(empty_cache_releases_only_wholly_free_segments)
{
    struct gt_sim *s = sim_with("default", 0, 0, NULL);
    gt_sim_handle a = must_alloc(s, 4 * MIB), b = must_alloc(s, 40 * MIB);
    gt_sim_handle c = must_alloc(s, 100);
    gt_sim_free(s, b);
    gt_sim_free(s, c);
    gt_sim_empty_cache(s);
    /* MIRRORS: release_blocks: the 40 MiB and 2 MiB segments go; the 20 MiB
     * segment holding a stays. */
    ck_assert_int_eq(stat(s, "reserved_bytes.all.current"), (int64_t)(20 * MIB));
    ck_assert_int_eq(stat(s, "num_device_free"), 2);
    ck_assert_int_eq(stat(s, "num_sync_all_streams"), 1);
    (void)a;
    gt_sim_free_all(s);
}
END_TEST

/* MIRRORS: free with stream_uses (record_stream): the block is
 * active_pending_free until its events complete: counted active, not
 * allocated, and not reusable, so the next request of its size makes a
 * new segment; once completed (process_events -> free_block) it is reused. */
START_TEST(a_block_pending_free_is_not_reused_until_its_events_complete)
{
    struct gt_sim *s = sim_with("default", 0, 0, NULL);
    gt_sim_handle a = must_alloc(s, 12 * MIB);
    gt_sim_free_requested(s, a);
    ck_assert_int_eq(stat(s, "allocated_bytes.all.current"), 0);
    ck_assert_int_eq(stat(s, "active_bytes.all.current"), (int64_t)(12 * MIB));
    assert_consistent(s);
    gt_sim_handle b = must_alloc(s, 12 * MIB);
    ck_assert_int_eq(stat(s, "reserved_bytes.all.current"), (int64_t)(24 * MIB));
    ck_assert_uint_ne(gt_sim_addr(s, a), gt_sim_addr(s, b));
    uint64_t where = gt_sim_addr(s, a);
    gt_sim_free_completed(s, a);
    ck_assert_int_eq(stat(s, "active_bytes.all.current"), (int64_t)(12 * MIB));
    gt_sim_handle c = must_alloc(s, 12 * MIB);
    ck_assert_uint_eq(gt_sim_addr(s, c), where);
    ck_assert_int_eq(stat(s, "num_device_alloc"), 2);
    assert_consistent(s);
    gt_sim_free_all(s);
}
END_TEST

/* MIRRORS: release_cached_blocks starts with synchronize_and_free_events:
 * empty_cache waits for every pending free, then releases its segment. A
 * pending block's neighbours do not absorb it meanwhile. */
START_TEST(empty_cache_completes_pending_frees_before_releasing)
{
    struct gt_sim *s = sim_with("default", 0, 0, NULL);
    gt_sim_handle a = must_alloc(s, 4 * MIB), b = must_alloc(s, 4 * MIB);
    gt_sim_free_requested(s, a);
    gt_sim_free(s, b); /* b's free neighbour a is pending: no merge with it */
    assert_consistent(s);
    ck_assert_int_eq(stat(s, "inactive_split.all.current"), 1);
    gt_sim_empty_cache(s);
    ck_assert_int_eq(stat(s, "reserved_bytes.all.current"), 0);
    ck_assert_int_eq(stat(s, "active_bytes.all.current"), 0);
    ck_assert_int_eq(stat(s, "num_device_free"), 1);
    assert_consistent(s);
    gt_sim_free_all(s);
}
END_TEST

/* The test's own count of one statistic, kept as PyTorch's Stat is. */
struct model_stat {
    int64_t current, peak, allocated, freed;
};

static void model_add(struct model_stat *m, int64_t n)
{
    if (n >= 0)
        m->allocated += n;
    else
        m->freed -= n;
    m->current += n;
    if (m->current > m->peak)
        m->peak = m->current;
}

static void assert_model(const struct gt_sim *s, const char *name, const struct model_stat *m)
{
    static const char *const field[4] = {"current", "peak", "allocated", "freed"};
    const int64_t want[4] = {m->current, m->peak, m->allocated, m->freed};
    char key[64];
    for (int f = 0; f < 4; f++) {
        snprintf(key, sizeof key, "%s.all.%s", name, field[f]);
        ck_assert_msg(stat(s, key) == want[f], "%s: %lld, the model says %lld", key,
                      (long long)stat(s, key), (long long)want[f]);
    }
}

/* MIRRORS: Stat (increase/decrease): active and active_bytes count a block
 * from its malloc until free_block, allocation and allocated_bytes until
 * free(); they part only at a deferred free. The simulator counts active
 * apart only from the first deferred free on, and derives "freed": this
 * checks all four fields of both against a count of its own, through seeded
 * random mallocs, frees, deferred frees, completions and peak resets, before
 * and after the first deferred free. */
START_TEST(active_follows_allocation_until_a_free_is_deferred)
{
    struct gt_sim *s = sim_with("default", 0, 0, NULL);
    enum { SLOTS = 64, STEPS = 4000 };
    gt_sim_handle h[SLOTS];
    uint64_t size[SLOTS];
    int state[SLOTS] = {0}; /* 0 none, 1 allocated, 2 pending */
    struct model_stat active = {0}, active_bytes = {0}, allocation = {0}, bytes = {0};
    uint64_t x = 42;
    for (int step = 0; step < STEPS; step++) {
        x = x * 6364136223846793005ull + 1442695040888963407ull;
        int k = (int)((x >> 33) % SLOTS), what = (int)((x >> 20) % 16);
        /* the first quarter without deferred frees */
        bool defer = step >= STEPS / 4 && what < 5;
        if (what == 15) {
            gt_sim_reset_peak_stats(s);
            active.peak = active.current;
            active_bytes.peak = active_bytes.current;
            allocation.peak = allocation.current;
            bytes.peak = bytes.current;
        } else if (state[k] == 0) {
            h[k] = must_alloc(s, 1 + (x >> 40) % (3 * MIB));
            size[k] = gt_sim_block_size(s, h[k]);
            state[k] = 1;
            model_add(&active, 1);
            model_add(&active_bytes, (int64_t)size[k]);
            model_add(&allocation, 1);
            model_add(&bytes, (int64_t)size[k]);
        } else if (state[k] == 1) {
            model_add(&allocation, -1);
            model_add(&bytes, -(int64_t)size[k]);
            if (defer) {
                ck_assert(gt_sim_free_requested(s, h[k]));
                state[k] = 2;
            } else {
                gt_sim_free(s, h[k]);
                model_add(&active, -1);
                model_add(&active_bytes, -(int64_t)size[k]);
                state[k] = 0;
            }
        } else {
            gt_sim_free_completed(s, h[k]);
            model_add(&active, -1);
            model_add(&active_bytes, -(int64_t)size[k]);
            state[k] = 0;
        }
        assert_model(s, "active", &active);
        assert_model(s, "active_bytes", &active_bytes);
        assert_model(s, "allocation", &allocation);
        assert_model(s, "allocated_bytes", &bytes);
    }
    ck_assert_int_ne(active.current, allocation.current); /* they did part */
    assert_consistent(s);
    gt_sim_free_all(s);
}
END_TEST

START_TEST(reset_peak_stats_makes_every_peak_the_current_value)
{
    struct gt_sim *s = sim_with("default", 0, 0, NULL);
    gt_sim_handle a = must_alloc(s, 4 * MIB), b = must_alloc(s, 40 * MIB);
    gt_sim_free(s, b);
    gt_sim_empty_cache(s);
    ck_assert_int_eq(stat(s, "reserved_bytes.all.peak"), (int64_t)(60 * MIB));
    /* MIRRORS: DeviceCachingAllocator::resetPeakStats: peak = current for
     * every stat, current and cumulative counts untouched */
    gt_sim_reset_peak_stats(s);
    ck_assert_int_eq(stat(s, "reserved_bytes.all.peak"), (int64_t)(20 * MIB));
    ck_assert_int_eq(stat(s, "reserved_bytes.large_pool.peak"), (int64_t)(20 * MIB));
    ck_assert_int_eq(stat(s, "allocated_bytes.all.peak"), (int64_t)(4 * MIB));
    ck_assert_int_eq(stat(s, "segment.all.peak"), 1);
    ck_assert_int_eq(stat(s, "reserved_bytes.all.allocated"), (int64_t)(60 * MIB));
    ck_assert_int_eq(stat(s, "num_device_free"), 1);
    gt_sim_free(s, a);
    gt_sim_free_all(s);
}
END_TEST

START_TEST(without_a_cap_reserved_never_shrinks_on_its_own)
{
    struct gt_sim *s = sim_with("default", 0, 0, NULL);
    for (int i = 0; i < 50; i++) {
        gt_sim_handle h = must_alloc(s, (uint64_t)(i + 1) * 3 * MIB);
        gt_sim_free(s, h);
    }
    ck_assert_int_eq(stat(s, "num_device_free"), 0);
    ck_assert_int_eq(stat(s, "reserved_bytes.all.current"), stat(s, "reserved_bytes.all.peak"));
    gt_sim_free_all(s);
}
END_TEST

/* ------------------------------------------------------------ garbage collection */

START_TEST(garbage_collection_needs_a_memory_fraction)
{
    /* Same workload with and without per_process_memory_fraction: only the
     * former frees the old cached segment before growing (docs/notes/pytorch-allocator.md §8). */
    const char *confs[2] = {"garbage_collection_threshold:0.5",
                            "garbage_collection_threshold:0.5,per_process_memory_fraction:0.5"};
    int64_t freed[2];
    for (int k = 0; k < 2; k++) {
        struct gt_sim *s = sim_with(confs[k], 0, 400 * MIB, NULL);
        gt_sim_handle a = must_alloc(s, 60 * MIB);
        gt_sim_handle b = must_alloc(s, 60 * MIB);
        gt_sim_free(s, a);
        gt_sim_free(s, b);
        /* 120 MiB reserved > 0.5 * 200 MiB: GC frees whole segments aged >=
         * the average before cudaMalloc of 100 MiB. */
        must_alloc(s, 100 * MIB);
        freed[k] = stat(s, "num_device_free");
        ck_assert_int_eq(stat(s, "num_alloc_retries"), 0);
        gt_sim_free_all(s);
    }
    ck_assert_int_eq(freed[0], 0);
    ck_assert_int_eq(freed[1], 2);
}
END_TEST

START_TEST(garbage_collection_frees_the_older_segments_first)
{
    struct seglog log;
    /* limit = 0.5 * 400 MiB = 200 MiB; threshold 0.5 -> GC above 100 MiB. */
    struct gt_sim *s = sim_with("garbage_collection_threshold:0.5,per_process_memory_fraction:0.5",
                                0, 400 * MIB, &log);
    gt_sim_handle old = must_alloc(s, 40 * MIB);
    gt_sim_handle young = must_alloc(s, 50 * MIB);
    gt_sim_free(s, old);
    /* Large-pool lookups age the free 40 MiB block; a 45 MiB block too big
     * for it is made once and reused. */
    for (int i = 0; i < 5; i++) {
        gt_sim_handle t = must_alloc(s, 45 * MIB);
        gt_sim_free(s, t);
    }
    gt_sim_free(s, young);
    /* reserved 40 + 50 + 46 = 136 MiB > 100 MiB; a 60 MiB request misses the
     * cache; GC ages: old 6, the 46 MiB block 1, young 1; average 2.67, so
     * only old (40 MiB) goes, reclaiming 40 >= the 36 MiB target. */
    must_alloc(s, 60 * MIB);
    int frees = 0;
    for (int i = 0; i < log.n && i < 64; i++)
        if (log.ev[i] == GT_SIM_SEGMENT_FREE) {
            frees++;
            ck_assert_uint_eq(log.size[i], 40 * MIB);
        }
    ck_assert_int_eq(frees, 1);
    gt_sim_free_all(s);
}
END_TEST

/* ------------------------------------------------------------ expandable segments */

START_TEST(expandable_segments_map_pages_for_the_rounded_request)
{
    struct seglog log;
    struct gt_sim *s = sim_with("expandable_segments:True", 0, 80 * GIB, &log);
    /* Spec §10.3 example: 30 MiB maps two 20 MiB pages; 25 MiB more maps one
     * page and lands right after the first allocation. */
    gt_sim_handle a = must_alloc(s, 30 * MIB);
    ck_assert_int_eq(stat(s, "reserved_bytes.all.current"), (int64_t)(40 * MIB));
    gt_sim_handle b = must_alloc(s, 25 * MIB);
    ck_assert_uint_eq(gt_sim_addr(s, b), gt_sim_addr(s, a) + 30 * MIB);
    ck_assert_int_eq(stat(s, "reserved_bytes.all.current"), (int64_t)(60 * MIB));
    /* MIRRORS: map_block: no segment stat; one device call per map. */
    ck_assert_int_eq(stat(s, "segment.all.current"), 0);
    ck_assert_int_eq(stat(s, "num_device_alloc"), 2);
    ck_assert_int_eq(log.ev[0], GT_SIM_SEGMENT_MAP);
    ck_assert_uint_eq(log.size[1], 20 * MIB);
    /* Small requests get their own segment with 2 MiB pages. */
    must_alloc(s, 1000);
    ck_assert_int_eq(stat(s, "reserved_bytes.small_pool.current"), (int64_t)(2 * MIB));
    assert_consistent(s);
    gt_sim_free_all(s);
}
END_TEST

START_TEST(expandable_request_beyond_the_reservation_is_an_oom_without_a_cap)
{
    /* A 64 MiB card reserves 9/8 of it (four 20 MiB pages): a 125 MiB
     * request cannot fit in that address space. With no cap (an uncapped
     * replay) the walk once mapped the whole reservation and read past it. */
    struct gt_sim *s = sim_with("expandable_segments:True", 0, 64 * MIB, NULL);
    gt_sim_handle h;
    ck_assert_int_eq(gt_sim_malloc(s, 125 * MIB, 0, &h), GT_EOOM);
    ck_assert_int_eq(stat(s, "reserved_bytes.all.current"), 0);
    gt_sim_handle a = must_alloc(s, 70 * MIB); /* within the reservation */
    ck_assert_int_eq(stat(s, "reserved_bytes.all.current"), (int64_t)(80 * MIB));
    (void)a;
    assert_consistent(s);
    gt_sim_free_all(s);
}
END_TEST

START_TEST(empty_cache_unmaps_free_pages_inside_a_busy_expandable_segment)
{
    struct seglog log;
    struct gt_sim *s = sim_with("expandable_segments:True", 0, 80 * GIB, &log);
    gt_sim_handle a = must_alloc(s, 20 * MIB), b = must_alloc(s, 40 * MIB);
    gt_sim_handle c = must_alloc(s, 20 * MIB);
    gt_sim_free(s, b);
    gt_sim_empty_cache(s);
    /* MIRRORS: release_blocks/unmap_block: b's two pages go although a and c
     * keep the segment busy. */
    ck_assert_int_eq(stat(s, "reserved_bytes.all.current"), (int64_t)(40 * MIB));
    ck_assert_int_eq(stat(s, "num_device_free"), 1);
    ck_assert_int_eq(log.ev[log.n - 1], GT_SIM_SEGMENT_UNMAP);
    ck_assert_uint_eq(log.size[log.n - 1], 40 * MIB);
    gt_sim_free(s, a);
    gt_sim_free(s, c);
    gt_sim_empty_cache(s);
    ck_assert_int_eq(stat(s, "reserved_bytes.all.current"), 0);
    assert_consistent(s);
    gt_sim_free_all(s);
}
END_TEST

START_TEST(expandable_segments_split_any_remainder_of_512_bytes)
{
    struct gt_sim *s = sim_with("expandable_segments:True", 0, 80 * GIB, NULL);
    gt_sim_handle h = must_alloc(s, 19 * MIB + 512 * KIB);
    /* MIRRORS: should_split: with expandable segments any remainder >= 512
     * is split, also in the large pool. */
    ck_assert_uint_eq(gt_sim_block_size(s, h), 19 * MIB + 512 * KIB);
    gt_sim_free_all(s);
}
END_TEST

/* ------------------------------------------------------------ no caching */

START_TEST(nocache_makes_every_request_its_own_device_allocation)
{
    struct gt_sim *s = sim_with("nocache", 0, 0, NULL);
    gt_sim_handle a = must_alloc(s, 1000), b = must_alloc(s, 5 * MIB);
    ck_assert_int_eq(stat(s, "reserved_bytes.all.current"), (int64_t)(1000 + 5 * MIB));
    ck_assert_int_eq(stat(s, "allocated_bytes.all.current"), (int64_t)(1000 + 5 * MIB));
    gt_sim_free(s, a);
    gt_sim_free(s, b);
    ck_assert_int_eq(stat(s, "num_device_alloc"), 2);
    ck_assert_int_eq(stat(s, "num_device_free"), 2);
    ck_assert_int_eq(stat(s, "reserved_bytes.all.current"), 0);
    gt_sim_free_all(s);
}
END_TEST

/* ------------------------------------------------------------ docs/notes/pytorch-allocator.md §15
 */

START_TEST(s15_1_memory_stats_track_active_bytes_and_release)
{
    struct gt_sim *s = sim_with("default", 0, 0, NULL);
    gt_sim_handle h = must_alloc(s, 1024);
    ck_assert_int_eq(stat(s, "active_bytes.all.current"), 1024);
    ck_assert_int_eq(stat(s, "active_bytes.all.freed"), 0);
    gt_sim_free(s, h);
    gt_sim_empty_cache(s);
    ck_assert_int_eq(stat(s, "active_bytes.all.current"), 0);
    ck_assert_int_eq(stat(s, "active_bytes.all.freed"), 1024);
    ck_assert_int_eq(stat(s, "reserved_bytes.all.current"), 0);
    gt_sim_free_all(s);
}
END_TEST

START_TEST(s15_2_allocator_settings_change_active_bytes_allocated)
{
    struct {
        const char *conf;
        uint64_t size, expect;
    } cases[] = {
        {"default", 88080384, 88080384},
        {"roundup_power2_divisions:4", 88080384, 100663296},
        {"garbage_collection_threshold:0.5,max_split_size_mb:40", 88080384, 88080384},
        {"garbage_collection_threshold:0.5,roundup_power2_divisions:[64:8,128:2,256:2,512:2,1024:1,"
         ">:1]",
         88080384, 92274688},
        {"garbage_collection_threshold:0.5,roundup_power2_divisions:[64:8,128:2,256:2,512:2,1024:1,"
         ">:1]",
         419430400, 536870912},
        {"release_lock_on_cudamalloc:True", 88080384, 88080384},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct gt_sim *s = sim_with(cases[i].conf, 0, 0, NULL);
        must_alloc(s, cases[i].size);
        ck_assert_int_eq(stat(s, "active_bytes.all.allocated"), (int64_t)cases[i].expect);
        ck_assert_int_eq(stat(s, "requested_bytes.all.allocated"), (int64_t)cases[i].size);
        gt_sim_free_all(s);
    }
}
END_TEST

START_TEST(s15_4_max_split_expandable_oom_then_success_after_frees)
{
    /* cap = 120 MiB through a memory fraction: 0.5 of a 240 MiB card. */
    const char *off =
        "expandable_segments:False,max_split_size_mb:40,per_process_memory_fraction:0.5";
    const char *on =
        "expandable_segments:True,max_split_size_mb:40,per_process_memory_fraction:0.5";
    struct gt_sim *s = sim_with(off, 0, 240 * MIB, NULL);
    struct gt_conf c_on = conf_of(on), c_off = conf_of(off);
    gt_sim_handle a = must_alloc(s, 40 * MIB);
    gt_sim_set_conf(s, &c_on);
    gt_sim_handle b = must_alloc(s, 40 * MIB);
    gt_sim_set_conf(s, &c_off);
    gt_sim_handle c = must_alloc(s, 40 * MIB);
    ck_assert_int_eq(stat(s, "reserved_bytes.all.current"), (int64_t)(120 * MIB));
    gt_sim_handle h;
    ck_assert_int_eq(gt_sim_malloc(s, 40 * MIB, 0, &h), GT_EOOM);
    ck_assert_int_eq(stat(s, "num_alloc_retries"), 1);
    ck_assert_int_eq(stat(s, "num_ooms"), 1);
    gt_sim_free(s, a);
    gt_sim_free(s, b);
    gt_sim_free(s, c);
    /* release_available frees a and c (skipping expandable b), returns false;
     * the flush unmaps b; the retry cudaMalloc(120 MiB) succeeds. */
    ck_assert_int_eq(gt_sim_malloc(s, 120 * MIB, 0, &h), 0);
    ck_assert_int_eq(stat(s, "num_alloc_retries"), 2);
    ck_assert_int_eq(stat(s, "reserved_bytes.all.current"), (int64_t)(120 * MIB));
    assert_consistent(s);
    gt_sim_free_all(s);
}
END_TEST

START_TEST(s15_5_garbage_collect_expandable_grows_the_free_tail)
{
    const char *off = "garbage_collection_threshold:0.5,per_process_memory_fraction:0.5";
    const char *on = "expandable_segments:True,garbage_collection_threshold:0.5,"
                     "per_process_memory_fraction:0.5";
    struct gt_sim *s = sim_with(off, 0, 240 * MIB, NULL);
    struct gt_conf c_on = conf_of(on);
    gt_sim_handle a = must_alloc(s, 40 * MIB);
    gt_sim_set_conf(s, &c_on);
    gt_sim_handle b = must_alloc(s, 40 * MIB);
    gt_sim_free(s, a);
    gt_sim_free(s, b);
    gt_sim_handle h;
    ck_assert_int_eq(gt_sim_malloc(s, 80 * MIB, 0, &h), 0);
    /* GC freed a (the only whole non-expandable segment); b's free 40 MiB
     * grew by two pages. */
    ck_assert_int_eq(stat(s, "num_device_free"), 1);
    ck_assert_int_eq(stat(s, "reserved_bytes.all.current"), (int64_t)(80 * MIB));
    ck_assert_int_eq(stat(s, "num_alloc_retries"), 0);
    gt_sim_free_all(s);
}
END_TEST

START_TEST(s15_6_memory_fraction_counts_a_cached_small_segment)
{
    uint64_t total = 8 * GIB;
    struct gt_sim *s = sim_with("per_process_memory_fraction:0.5", 0, total, NULL);
    gt_sim_handle tiny = must_alloc(s, 4096);
    uint64_t ok = (uint64_t)(0.499 * (double)total) - (uint64_t)stat(s, "reserved_bytes.all.peak");
    gt_sim_handle h = must_alloc(s, ok);
    gt_sim_free(s, h);
    gt_sim_empty_cache(s);
    ck_assert_int_eq(gt_sim_malloc(s, total / 2, 0, &h), GT_EOOM);
    (void)tiny;
    gt_sim_free_all(s);
}
END_TEST

START_TEST(s15_7_a_freed_block_of_the_same_size_is_reused_without_retry)
{
    uint64_t total = 8 * GIB;
    struct gt_sim *s = sim_with("default", total - 512 * MIB, total, NULL);
    gt_sim_handle a = must_alloc(s, total / 2), h;
    ck_assert_int_eq(gt_sim_malloc(s, total / 2, 0, &h), GT_EOOM);
    int64_t retries = stat(s, "num_alloc_retries");
    gt_sim_free(s, a);
    ck_assert_int_eq(gt_sim_malloc(s, total / 2, 0, &h), 0);
    ck_assert_int_eq(stat(s, "num_alloc_retries"), retries);
    gt_sim_free_all(s);
}
END_TEST

START_TEST(s15_7_an_impossible_request_fails_with_pytorchs_tried_to_allocate_figure)
{
    /* test_out_of_memory: 1024^3 * 8e8 bytes -> "Tried to allocate 800000000.00 GiB";
     * the figure is get_allocation_size(round_size(request)). */
    struct gt_conf d = conf_of("default");
    uint64_t asked = (uint64_t)1 << 30;
    asked *= 800000000u;
    char text[64];
    gt_units_format_torch(gt_sim_allocation_size(&d, gt_sim_round_size(&d, asked)), text,
                          sizeof text);
    ck_assert_str_eq(text, "800000000.00 GiB");
    struct gt_sim *s = sim_with("default", 80 * GIB, 80 * GIB, NULL);
    gt_sim_handle h;
    ck_assert_int_eq(gt_sim_malloc(s, asked, 0, &h), GT_EOOM);
    ck_assert_int_eq(stat(s, "num_ooms"), 1);
    gt_sim_free_all(s);
}
END_TEST

START_TEST(s15_8_snapshot_layout_puts_x_after_unused_in_one_segment)
{
    struct gt_sim *s = sim_with("default", 0, 0, NULL);
    gt_sim_handle temp = must_alloc(s, 1022568);
    uint64_t seg = gt_sim_addr(s, temp);
    gt_sim_free(s, temp);
    gt_sim_handle unused = must_alloc(s, 508400);
    gt_sim_handle x = must_alloc(s, 511284);
    ck_assert_uint_eq(gt_sim_addr(s, unused), seg);
    ck_assert_uint_eq(gt_sim_addr(s, x), seg + 508416);
    ck_assert_uint_eq(gt_sim_block_size(s, x), 511488);
    ck_assert_int_eq(stat(s, "segment.all.current"), 1);
    gt_sim_free_all(s);
}
END_TEST

/* §15.19 test_allocator_fuzz, in spirit: random 2-20 MiB allocations, frees
 * of random live tensors and empty_cache with weight 0.1, checked after every
 * operation, under several configs and a cap. */
START_TEST(s15_19_random_operations_keep_the_bookkeeping_consistent)
{
    const char *confs[] = {"default",
                           "max_split_size_mb:40",
                           "expandable_segments:True",
                           "roundup_power2_divisions:4",
                           "garbage_collection_threshold:0.6,per_process_memory_fraction:0.8",
                           "nocache"};
    for (size_t c = 0; c < sizeof confs / sizeof confs[0]; c++) {
        struct gt_sim *s = sim_with(confs[c], 1 * GIB, 1 * GIB, NULL);
        gt_sim_handle live[256];
        int nlive = 0;
        unsigned seed = 123;
        for (int op = 0; op < 4000; op++) {
            seed = seed * 1103515245u + 12345u;
            unsigned r = (seed >> 8) % 100;
            if (r < 10) {
                gt_sim_empty_cache(s);
            } else if (r < 55 && nlive > 0) {
                int k = (int)((seed >> 4) % (unsigned)nlive);
                gt_sim_free(s, live[k]);
                live[k] = live[--nlive];
            } else if (nlive < 256) {
                uint64_t size = (uint64_t)((seed >> 3) % (18 * MIB)) + 2 * MIB;
                if ((seed & 3) == 0)
                    size = (seed >> 5) % 200000 + 1; /* some small ones */
                gt_sim_handle h;
                int rc = gt_sim_malloc(s, size, (seed >> 30) & 1, &h);
                ck_assert(rc == 0 || rc == GT_EOOM);
                if (rc == 0)
                    live[nlive++] = h;
            }
        }
        assert_consistent(s);
        ck_assert_int_le(stat(s, "reserved_bytes.all.peak"), (int64_t)GIB);
        gt_sim_free_all(s);
    }
}
END_TEST

/* One random operation of the clone tests, the same on every simulator it
 * is applied to: each keeps its own handles in live[] by the same index. */
struct random_ops {
    unsigned seed;
    int nlive;
};

static void random_op(struct random_ops *r, struct gt_sim **sims, size_t nsims,
                      gt_sim_handle (*live)[128])
{
    r->seed = r->seed * 1103515245u + 12345u;
    unsigned x = r->seed, what = (x >> 8) % 100;
    if (what < 3) {
        for (size_t i = 0; i < nsims; i++)
            gt_sim_empty_cache(sims[i]);
    } else if (what < 50 && r->nlive > 0) {
        int k = (int)((x >> 4) % (unsigned)r->nlive);
        r->nlive--;
        for (size_t i = 0; i < nsims; i++) {
            if (what < 8)
                gt_sim_free_completed(sims[i], live[i][k]); /* ignored unless pending */
            else if (what < 12)
                gt_sim_free_requested(sims[i], live[i][k]);
            else
                gt_sim_free(sims[i], live[i][k]);
            live[i][k] = live[i][r->nlive];
        }
    } else if (r->nlive < 128) {
        /* up to 150 MiB: below the 200 MiB split limit of the tests */
        uint64_t size = (x & 3) == 0 ? (x >> 5) % 200000 + 1 : (x >> 3) % (150 * MIB) + 1;
        int rc = gt_sim_malloc(sims[0], size, (x >> 30) & 1, &live[0][r->nlive]);
        ck_assert(rc == 0 || rc == GT_EOOM);
        for (size_t i = 1; i < nsims; i++)
            ck_assert_int_eq(gt_sim_malloc(sims[i], size, (x >> 30) & 1, &live[i][r->nlive]), rc);
        r->nlive += rc == 0;
    }
}

struct stat_list {
    int n;
    char name[128][64];
    int64_t value[128];
};

static void list_stat(void *ctx, const char *name, int64_t value)
{
    struct stat_list *l = ctx;
    ck_assert_int_lt(l->n, 128);
    snprintf(l->name[l->n], sizeof l->name[l->n], "%s", name);
    l->value[l->n++] = value;
}

/* Every statistic but max_split_size, every live handle's address and size. */
static void assert_same_state(const struct gt_sim *a, const struct gt_sim *b,
                              const gt_sim_handle *la, const gt_sim_handle *lb, int nlive)
{
    struct stat_list x = {0}, y = {0};
    gt_sim_stats_foreach(gt_sim_get_stats(a), list_stat, &x);
    gt_sim_stats_foreach(gt_sim_get_stats(b), list_stat, &y);
    ck_assert_int_eq(x.n, y.n);
    for (int i = 0; i < x.n; i++) {
        ck_assert_str_eq(x.name[i], y.name[i]);
        if (strcmp(x.name[i], "max_split_size") != 0)
            ck_assert_msg(x.value[i] == y.value[i], "%s: %lld against %lld", x.name[i],
                          (long long)x.value[i], (long long)y.value[i]);
    }
    for (int k = 0; k < nlive; k++) {
        ck_assert_uint_eq(gt_sim_addr(a, la[k]), gt_sim_addr(b, lb[k]));
        ck_assert_uint_eq(gt_sim_block_size(a, la[k]), gt_sim_block_size(b, lb[k]));
    }
}

/* gt_sim_clone copies everything: a clone taken midway, its original freed
 * at once, goes on exactly as a simulator that ran the whole sequence. */
START_TEST(a_clone_goes_on_exactly_as_its_original_would)
{
    const char *confs[] = {"default", "expandable_segments:True", "roundup_power2_divisions:4",
                           "garbage_collection_threshold:0.6,per_process_memory_fraction:0.8"};
    for (size_t c = 0; c < sizeof confs / sizeof confs[0]; c++) {
        struct gt_sim *sims[2] = {sim_with(confs[c], 4 * GIB, 4 * GIB, NULL),
                                  sim_with(confs[c], 4 * GIB, 4 * GIB, NULL)};
        gt_sim_handle live[2][128];
        struct random_ops r = {7, 0};
        for (int op = 0; op < 1500; op++)
            random_op(&r, sims, 2, live);
        struct gt_sim *copy = NULL;
        struct gt_conf conf = conf_of(confs[c]);
        ck_assert_int_eq(gt_sim_clone(sims[1], &conf, &copy), 0);
        gt_sim_free_all(sims[1]);
        sims[1] = copy;
        for (int op = 0; op < 3000; op++)
            random_op(&r, sims, 2, live);
        assert_same_state(sims[0], sims[1], live[0], live[1], r.nlive);
        ck_assert_int_eq(stat(sims[1], "max_split_size"), stat(sims[0], "max_split_size"));
        assert_consistent(sims[1]);
        gt_sim_free_all(sims[0]);
        gt_sim_free_all(sims[1]);
    }
}
END_TEST

/* What replay's shared configs rest on (replay.c): while no request or
 * segment reaches max_split_size, every rule that reads it decides as
 * without it, so the two allocators stay equal in everything but the
 * reported max_split_size; a clone of the unlimited one under the limit
 * then goes on as the limited one. */
START_TEST(a_split_limit_no_block_reaches_changes_nothing)
{
    /* a card the requests fit on, so that the 300 MiB one below does too */
    struct gt_sim *sims[3] = {sim_with("default", 32 * GIB, 32 * GIB, NULL),
                              sim_with("max_split_size_mb:200", 32 * GIB, 32 * GIB, NULL),
                              sim_with("default", 32 * GIB, 32 * GIB, NULL)};
    gt_sim_handle live[3][128];
    struct random_ops r = {11, 0};
    for (int op = 0; op < 2000; op++)
        random_op(&r, sims, 3, live);
    assert_same_state(sims[0], sims[1], live[0], live[1], r.nlive);
    ck_assert_int_eq(stat(sims[0], "max_split_size"), -1);
    ck_assert_int_eq(stat(sims[1], "max_split_size"), (int64_t)(200 * MIB));
    struct gt_sim *copy = NULL;
    struct gt_conf limited = conf_of("max_split_size_mb:200");
    ck_assert_int_eq(gt_sim_clone(sims[2], &limited, &copy), 0);
    gt_sim_free_all(sims[2]);
    sims[2] = copy;
    for (int op = 0; op < 2000; op++)
        random_op(&r, sims, 3, live);
    /* a request over the limit: the two part, the clone keeps with the limited one */
    gt_sim_handle big[3];
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(gt_sim_malloc(sims[i], 300 * MIB, 0, &big[i]), 0);
        gt_sim_free(sims[i], big[i]);
    }
    ck_assert_int_eq(gt_sim_malloc(sims[0], 250 * MIB, 0, &big[0]), 0);
    ck_assert_int_eq(gt_sim_malloc(sims[1], 250 * MIB, 0, &big[1]), 0);
    ck_assert_int_eq(gt_sim_malloc(sims[2], 250 * MIB, 0, &big[2]), 0);
    ck_assert_int_eq(stat(sims[0], "oversize_allocations.current"), 0);
    ck_assert_int_eq(stat(sims[1], "oversize_allocations.current"), 1);
    assert_same_state(sims[1], sims[2], live[1], live[2], r.nlive);
    ck_assert_int_eq(stat(sims[2], "max_split_size"), (int64_t)(200 * MIB));
    assert_consistent(sims[2]);
    for (int i = 0; i < 3; i++)
        gt_sim_free_all(sims[i]);
}
END_TEST

/* A random run of every op kind for gt_sim_run, with slots handed out and
 * taken back as replay's decoder does; sizes up to 150 MiB on a 1 GiB
 * card, so that some allocs and probes run out of memory. */
static size_t random_run(unsigned seed, struct gt_sim_op *ops, size_t n)
{
    uint32_t live[64], pending[64], spare[256];
    size_t nlive = 0, npending = 0, nspare = 0;
    uint32_t next_slot = 0;
    size_t k = 0;
    for (int64_t event = 0; k < n; event++) {
        seed = seed * 1103515245u + 12345u;
        unsigned x = seed, what = (x >> 8) % 100;
        struct gt_sim_op o = {0, (x >> 30) & 1, event, 0, 0, 0};
        if (what < 2) {
            o.kind = GT_SIM_OP_EMPTY_CACHE;
        } else if (what < 6) {
            o.kind = GT_SIM_OP_PROBE;
            o.size = (x >> 3) % (300 * MIB) + 1;
        } else if (what < 10 && npending > 0) {
            size_t i = (x >> 4) % npending;
            o.kind = GT_SIM_OP_FREE_COMPLETED;
            o.slot = pending[i];
            pending[i] = pending[--npending];
            spare[nspare++] = o.slot;
        } else if (what < 50 && nlive > 0) {
            size_t i = (x >> 4) % nlive;
            o.slot = live[i];
            live[i] = live[--nlive];
            if (what < 16 && npending < 64) {
                o.kind = GT_SIM_OP_FREE_REQUESTED;
                pending[npending++] = o.slot;
            } else {
                o.kind = GT_SIM_OP_FREE;
                spare[nspare++] = o.slot;
            }
        } else if (nlive < 64) {
            o.kind = GT_SIM_OP_ALLOC;
            o.size = (x & 3) == 0 ? (x >> 5) % 200000 + 1 : (x >> 3) % (150 * MIB) + 1;
            o.slot = nspare > 0 ? spare[--nspare] : next_slot++;
            live[nlive++] = o.slot;
        } else {
            continue;
        }
        ops[k++] = o;
    }
    return k;
}

/* The watch of gt_sim_run, kept here from the statistics after each call:
 * the highest reserved, and the most allocated while it stood there. */
static void reference_watch(const struct gt_sim *s, struct gt_sim_watch *w)
{
    uint64_t reserved = (uint64_t)stat(s, "reserved_bytes.all.current");
    uint64_t allocated = (uint64_t)stat(s, "allocated_bytes.all.current");
    if (reserved > w->peak_reserved ||
        (reserved == w->peak_reserved && allocated > w->allocated_at_peak)) {
        w->peak_reserved = reserved;
        w->allocated_at_peak = allocated;
    }
}

/* Each op through the single calls gt_sim_run stands for. */
static void reference_op(struct gt_sim *s, const struct gt_sim_op *o, gt_sim_handle *slots,
                         struct gt_sim_watch *w)
{
    gt_sim_handle h;
    int rc;
    switch (o->kind) {
    case GT_SIM_OP_ALLOC:
    case GT_SIM_OP_PROBE:
        rc = gt_sim_malloc(s, o->size, o->stream, &h);
        ck_assert(rc == 0 || rc == GT_EOOM);
        if (rc == GT_EOOM && w->first_oom_event < 0)
            w->first_oom_event = o->event;
        if (o->kind == GT_SIM_OP_ALLOC)
            slots[o->slot] = h;
        else if (rc == 0)
            gt_sim_free(s, h);
        reference_watch(s, w);
        break;
    case GT_SIM_OP_FREE:
        gt_sim_free(s, slots[o->slot]);
        slots[o->slot] = GT_SIM_NO_HANDLE;
        break;
    case GT_SIM_OP_FREE_REQUESTED:
        if (!gt_sim_free_requested(s, slots[o->slot]))
            slots[o->slot] = GT_SIM_NO_HANDLE;
        break;
    case GT_SIM_OP_FREE_COMPLETED:
        gt_sim_free_completed(s, slots[o->slot]);
        slots[o->slot] = GT_SIM_NO_HANDLE;
        break;
    case GT_SIM_OP_EMPTY_CACHE:
        gt_sim_empty_cache(s);
        break;
    }
}

/* A start state for the run test: none, an expandable range (mapped), or
 * 500 MiB of free cudaMalloc segments, over the GC threshold of the test's
 * GC configs (0.5 of 0.9 GiB). */
enum run_start { START_EMPTY, START_MAPPED, START_SEGMENTS };

static void preload_start(struct gt_sim *s, enum run_start start)
{
    uint64_t base = 0x7fb000000000ull;
    gt_sim_handle h[2];
    if (start == START_MAPPED) {
        struct gt_sim_block_init r[2] = {{base, 10 * MIB, 10 * MIB, true},
                                         {base + 10 * MIB, 70 * MIB, 0, false}};
        ck_assert_int_eq(gt_sim_preload_mapped(s, 0, base, 80 * MIB, 0, false, r, 2, h), 0);
    } else if (start == START_SEGMENTS) {
        for (uint64_t k = 0; k < 5; k++) {
            uint64_t at = base + k * 128 * MIB;
            struct gt_sim_block_init b[1] = {{at, 100 * MIB, 0, false}};
            ck_assert_int_eq(gt_sim_preload_segment(s, 0, at, 100 * MIB, 0, false, b, 1, h), 0);
        }
    }
}

/* gt_sim_run, replay's batch call, does what the single calls do, op for
 * op, in batches of any length: the same state, handles and watch. The
 * run's simulator goes unchecked, so that plain and expandable configs
 * take their own loops; the single calls' is checked after every op. */
START_TEST(a_run_of_ops_does_what_the_single_calls_do)
{
    static const struct {
        const char *conf;
        enum run_start start;
    } cases[] = {
        {"default", START_EMPTY},
        {"max_split_size_mb:64", START_EMPTY},
        {"expandable_segments:True", START_EMPTY},
        {"roundup_power2_divisions:4", START_EMPTY},
        {"garbage_collection_threshold:0.5,per_process_memory_fraction:0.9", START_EMPTY},
        {"nocache", START_EMPTY},
        /* default set after an expandable run: not plain, its blocks not taken */
        {"default", START_MAPPED},
        /* GC releases the start state's segments, not expandable blocks */
        {"expandable_segments:True,garbage_collection_threshold:0.5,"
         "per_process_memory_fraction:0.9",
         START_SEGMENTS},
    };
    enum { NOPS = 6000 };
    struct gt_sim_op *ops = malloc(NOPS * sizeof *ops);
    ck_assert_ptr_nonnull(ops);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const char *conf = cases[c].conf;
        size_t n = random_run(5 + (unsigned)c, ops, NOPS);
        struct gt_sim *run = sim_unchecked(conf, GIB, GIB);
        struct gt_sim *one = sim_with(conf, GIB, GIB, NULL);
        preload_start(run, cases[c].start);
        preload_start(one, cases[c].start);
        if (cases[c].start == START_SEGMENTS) /* a miss first: GC releases one */
            ops[0] = (struct gt_sim_op){300 * MIB, 0, 0, 255, GT_SIM_OP_ALLOC, 0};
        gt_sim_handle slots_run[256], slots_one[256];
        for (int i = 0; i < 256; i++)
            slots_run[i] = slots_one[i] = GT_SIM_NO_HANDLE;
        struct gt_sim_watch wr = {0, 0, -1}, wo = {0, 0, -1};
        unsigned seed = 99;
        for (size_t k = 0; k < n;) {
            seed = seed * 1103515245u + 12345u;
            size_t len = (seed >> 16) % 300; /* empty batches too */
            len = len < n - k ? len : n - k;
            ck_assert_int_eq(gt_sim_run(run, &ops[k], len, slots_run, &wr), 0);
            for (size_t i = k; i < k + len; i++)
                reference_op(one, &ops[i], slots_one, &wo);
            k += len;
        }
        ck_assert_msg(wo.first_oom_event > 0, "%s: the run never ran out of memory", conf);
        ck_assert_int_eq(wr.first_oom_event, wo.first_oom_event);
        ck_assert_uint_eq(wr.peak_reserved, wo.peak_reserved);
        ck_assert_uint_eq(wr.allocated_at_peak, wo.allocated_at_peak);
        ck_assert_uint_eq(wr.peak_reserved, (uint64_t)stat(one, "reserved_bytes.all.peak"));
        /* every slot's handle: NO_HANDLE once freed, else the same block */
        int nslots = 0;
        for (size_t i = 0; i < n; i++)
            nslots = (int)ops[i].slot + 1 > nslots ? (int)ops[i].slot + 1 : nslots;
        for (int i = 0; i < nslots; i++)
            ck_assert_int_eq(slots_run[i] == GT_SIM_NO_HANDLE, slots_one[i] == GT_SIM_NO_HANDLE);
        assert_same_state(run, one, slots_run, slots_one, nslots);
        assert_consistent(run);
        gt_sim_free_all(run);
        gt_sim_free_all(one);
    }
    free(ops);
}
END_TEST

/* The statistics a simulator that keeps them all and one that keeps the
 * reported ones alone both report: the same, max_split_size too. */
static void assert_same_reported(const struct gt_sim *all, const struct gt_sim *reporting)
{
    struct gt_sim_stats x = gt_sim_reported_stats(gt_sim_get_stats(all));
    struct gt_sim_stats y = gt_sim_reported_stats(gt_sim_get_stats(reporting));
    struct stat_list lx = {0}, ly = {0};
    gt_sim_stats_foreach(&x, list_stat, &lx);
    gt_sim_stats_foreach(&y, list_stat, &ly);
    ck_assert_int_eq(lx.n, ly.n);
    for (int i = 0; i < lx.n; i++)
        ck_assert_msg(lx.value[i] == ly.value[i], "%s: %lld kept alone, %lld with all the rest",
                      lx.name[i], (long long)ly.value[i], (long long)lx.value[i]);
    ck_assert_int_gt(x.reserved_bytes[GT_SIM_ALL].peak, 0);
}

/* No decision of the allocator reads a statistic: a simulator that keeps
 * only the reported ones (replay's) makes the same blocks, segments, OOMs
 * and peaks as one that keeps them all, through gt_sim_run (the paths of
 * plain and expandable simulators) and through the single calls (deferred
 * frees, empty_cache, garbage collection). */
START_TEST(keeping_only_the_reported_statistics_changes_no_decision)
{
    const char *confs[] = {"default",
                           "max_split_size_mb:64",
                           "expandable_segments:True",
                           "roundup_power2_divisions:4",
                           "garbage_collection_threshold:0.5,per_process_memory_fraction:0.9",
                           "nocache"};
    enum { NOPS = 6000 };
    struct gt_sim_op *ops = malloc(NOPS * sizeof *ops);
    ck_assert_ptr_nonnull(ops);
    for (size_t c = 0; c < sizeof confs / sizeof confs[0]; c++) {
        size_t n = random_run(17 + (unsigned)c, ops, NOPS);
        struct gt_sim *all = sim_unchecked(confs[c], GIB, GIB);
        struct gt_sim *reporting = sim_reporting(confs[c], GIB, GIB);
        gt_sim_handle slots_all[256], slots_rep[256];
        for (int i = 0; i < 256; i++)
            slots_all[i] = slots_rep[i] = GT_SIM_NO_HANDLE;
        struct gt_sim_watch wa = {0, 0, -1}, wr = {0, 0, -1};
        ck_assert_int_eq(gt_sim_run(all, ops, n, slots_all, &wa), 0);
        ck_assert_int_eq(gt_sim_run(reporting, ops, n, slots_rep, &wr), 0);
        ck_assert_msg(wa.first_oom_event > 0, "%s: the run never ran out of memory", confs[c]);
        ck_assert_int_eq(wr.first_oom_event, wa.first_oom_event);
        ck_assert_uint_eq(wr.peak_reserved, wa.peak_reserved);
        ck_assert_uint_eq(wr.allocated_at_peak, wa.allocated_at_peak);
        for (int i = 0; i < 256; i++) {
            ck_assert_int_eq(slots_rep[i] == GT_SIM_NO_HANDLE, slots_all[i] == GT_SIM_NO_HANDLE);
            if (slots_all[i] != GT_SIM_NO_HANDLE)
                ck_assert_uint_eq(gt_sim_addr(reporting, slots_rep[i]),
                                  gt_sim_addr(all, slots_all[i]));
        }
        assert_same_reported(all, reporting);
        assert_consistent(reporting);
        gt_sim_free_all(all);
        gt_sim_free_all(reporting);

        struct gt_sim *sims[2] = {sim_unchecked(confs[c], 4 * GIB, 4 * GIB),
                                  sim_reporting(confs[c], 4 * GIB, 4 * GIB)};
        gt_sim_handle live[2][128];
        struct random_ops r = {23 + (unsigned)c, 0};
        for (int op = 0; op < 4000; op++)
            random_op(&r, sims, 2, live);
        for (int k = 0; k < r.nlive; k++)
            ck_assert_uint_eq(gt_sim_addr(sims[1], live[1][k]), gt_sim_addr(sims[0], live[0][k]));
        assert_same_reported(sims[0], sims[1]);
        assert_consistent(sims[1]);
        gt_sim_free_all(sims[0]);
        gt_sim_free_all(sims[1]);
    }
    free(ops);
}
END_TEST

START_TEST(a_preloaded_segment_serves_requests_and_merges_on_free)
{
    struct seglog log;
    struct gt_sim *s = sim_with("default", 0, 0, &log);
    uint64_t seg = 0x7fa000000000ull;
    struct gt_sim_block_init b[4] = {{seg, 4 * MIB, 4000000, true},
                                     {seg + 4 * MIB, 3 * MIB, 0, false},
                                     {seg + 7 * MIB, 3 * MIB, 0, false},
                                     {seg + 10 * MIB, 10 * MIB, 10 * MIB, true}};
    gt_sim_handle h[4];
    ck_assert_int_eq(gt_sim_preload_segment(s, 0, seg, 20 * MIB, 0, false, b, 4, h), 0);
    ck_assert_uint_ne(h[0], GT_SIM_NO_HANDLE);
    ck_assert_uint_eq(h[1], GT_SIM_NO_HANDLE);
    ck_assert_int_eq(stat(s, "reserved_bytes.all.current"), (int64_t)(20 * MIB));
    ck_assert_int_eq(stat(s, "allocated_bytes.all.current"), (int64_t)(14 * MIB));
    ck_assert_int_eq(stat(s, "inactive_split.all.current"), 1); /* the two free blocks merged */
    /* A 5 MiB request takes the free 6 MiB block and splits it (1 MiB left
     * is not > 1 MiB: no split, the whole 6 MiB). */
    gt_sim_handle x = must_alloc(s, 5 * MIB);
    ck_assert_uint_eq(gt_sim_addr(s, x), seg + 4 * MIB);
    ck_assert_uint_eq(gt_sim_block_size(s, x), 6 * MIB);
    ck_assert_int_eq(log.n, 0); /* no cudaMalloc */
    gt_sim_free(s, x);
    gt_sim_free(s, h[0]);
    gt_sim_free(s, h[3]);
    ck_assert_uint_eq(gt_sim_largest_free_block(s), 20 * MIB);
    gt_sim_empty_cache(s);
    ck_assert_int_eq(log.n, 1);
    ck_assert_uint_eq(log.addr[0], seg);
    assert_consistent(s);
    /* Blocks that do not tile the segment, or a range in use, are refused. */
    struct gt_sim_block_init gap[1] = {{seg, 2 * MIB, 0, true}};
    ck_assert_int_eq(gt_sim_preload_segment(s, 0, seg, 4 * MIB, 0, false, gap, 1, h), GT_EINVAL);
    must_alloc(s, 30 * MIB);
    struct gt_sim_block_init whole[1] = {{0x7f0000000000ull, 2 * MIB, 0, false}};
    ck_assert_int_eq(gt_sim_preload_segment(s, 0, 0x7f0000000000ull, 2 * MIB, 0, true, whole, 1, h),
                     GT_EINVAL);
    gt_sim_free_all(s);
}
END_TEST

/* Mapped ranges of an expandable segment preloaded from a snapshot join one
 * reservation and grow, unmap and release by the expandable rules
 * (docs/notes/pytorch-allocator.md §10). Card of 1 GiB: a reservation would
 * be 9/8 GiB in 20 MiB pages, but a cudaMalloc segment M 400 MiB above the
 * first range cuts it to [base, base + 400 MiB). */
START_TEST(preloaded_expandable_ranges_share_a_reservation_and_follow_its_rules)
{
    struct seglog log;
    struct gt_sim *s = sim_with("expandable_segments:True", 0, GIB, &log);
    uint64_t base = 0x7fb000000000ull, m = base + 400 * MIB;
    struct gt_sim_block_init mb[1] = {{m, 20 * MIB, 0, false}};
    struct gt_sim_block_init r1[1] = {{base, 20 * MIB, 20 * MIB, true}};
    struct gt_sim_block_init r2[2] = {{base + 100 * MIB, 10 * MIB, 10 * MIB, true},
                                      {base + 110 * MIB, 30 * MIB, 0, false}};
    gt_sim_handle hm[1], h1[1], h2[2];
    ck_assert_int_eq(gt_sim_preload_segment(s, 0, m, 20 * MIB, 0, false, mb, 1, hm), 0);
    ck_assert_int_eq(gt_sim_preload_mapped(s, 0, base, 20 * MIB, 0, false, r1, 1, h1), 0);
    ck_assert_int_eq(gt_sim_preload_mapped(s, 0, base + 100 * MIB, 40 * MIB, 0, false, r2, 2, h2),
                     0);
    /* 20 + 20 + 40 MiB reserved; one segment: mapped pages are no segment */
    ck_assert_int_eq(stat(s, "reserved_bytes.all.current"), (int64_t)(80 * MIB));
    ck_assert_int_eq(stat(s, "segment.all.current"), 1);
    ck_assert_int_eq(stat(s, "inactive_split.all.current"), 0); /* not for expandable blocks */
    /* refused: a range touching R2 (one mapped range is one segment), one
     * not a whole number of pages, one running into M */
    struct gt_sim_block_init t[1] = {{base + 140 * MIB, 20 * MIB, 0, false}};
    ck_assert_int_eq(gt_sim_preload_mapped(s, 0, base + 140 * MIB, 20 * MIB, 0, false, t, 1, h1),
                     GT_EINVAL);
    t[0] = (struct gt_sim_block_init){base + 200 * MIB, 10 * MIB, 0, false};
    ck_assert_int_eq(gt_sim_preload_mapped(s, 0, base + 200 * MIB, 10 * MIB, 0, false, t, 1, h1),
                     GT_EINVAL);
    t[0] = (struct gt_sim_block_init){base + 380 * MIB, 40 * MIB, 0, false};
    ck_assert_int_eq(gt_sim_preload_mapped(s, 0, base + 380 * MIB, 40 * MIB, 0, false, t, 1, h1),
                     GT_EINVAL);
    assert_consistent(s);
    ck_assert_int_eq(log.n, 0);
    /* 50 MiB: no free block fits (M 20, R2's 30). The lowest unmapped range
     * [20, 100) follows R1's allocated block and holds 80 MiB: map
     * ceil(50 / 20) = 3 pages there; X = [20, 70), free [70, 80). */
    gt_sim_handle x = must_alloc(s, 50 * MIB);
    ck_assert_uint_eq(gt_sim_addr(s, x), base + 20 * MIB);
    ck_assert_int_eq(log.n, 1);
    ck_assert(log.ev[0] == GT_SIM_SEGMENT_MAP && log.addr[0] == base + 20 * MIB &&
              log.size[0] == 60 * MIB);
    /* 60 MiB: free [70, 80) with [80, 100) holds 30 MiB, short; R2's free
     * [110, 140) with the unmapped rest holds enough: map 30 MiB more as 2
     * pages [140, 180); Y = [110, 170). */
    gt_sim_handle y = must_alloc(s, 60 * MIB);
    ck_assert_uint_eq(gt_sim_addr(s, y), base + 110 * MIB);
    ck_assert_int_eq(log.n, 2);
    ck_assert(log.ev[1] == GT_SIM_SEGMENT_MAP && log.addr[1] == base + 140 * MIB &&
              log.size[1] == 40 * MIB);
    ck_assert_int_eq(stat(s, "reserved_bytes.all.current"), (int64_t)(180 * MIB));
    /* All freed: [0, 80) and [100, 180) free, 80 MiB each. empty_cache walks
     * the set by (size, address): M (20 MiB) is cudaFree'd, then the two
     * expandable blocks are unmapped whole, and the reservation, wholly
     * unmapped, goes. */
    gt_sim_free(s, x);
    gt_sim_free(s, y);
    gt_sim_free(s, h1[0]);
    gt_sim_free(s, h2[0]);
    gt_sim_empty_cache(s);
    ck_assert_int_eq(log.n, 5);
    ck_assert(log.ev[2] == GT_SIM_SEGMENT_FREE && log.addr[2] == m && log.size[2] == 20 * MIB);
    ck_assert(log.ev[3] == GT_SIM_SEGMENT_UNMAP && log.addr[3] == base && log.size[3] == 80 * MIB);
    ck_assert(log.ev[4] == GT_SIM_SEGMENT_UNMAP && log.addr[4] == base + 100 * MIB &&
              log.size[4] == 80 * MIB);
    ck_assert_int_eq(stat(s, "reserved_bytes.all.current"), 0);
    assert_consistent(s);
    gt_sim_free_all(s);
}
END_TEST

/* A private pool's segments (docs/notes/pytorch-allocator.md §20.10): a
 * request of the default pools never takes them, empty_cache leaves them
 * while the pool is in use, and after releasePool frees the pool's small
 * segments, then its large ones, after the default pools'. */
START_TEST(a_private_pool_is_kept_apart_and_released_once_given_up)
{
    struct seglog log;
    struct gt_sim *s = sim_with("default", 0, 0, &log);
    uint64_t g = 0x7fc000000000ull, gs = g + 20 * MIB;
    int pool = -1;
    bool created = false;
    ck_assert_int_eq(gt_sim_private_pool(s, 1, 0, &pool, &created), 0);
    ck_assert(created && pool > 0);
    int again = -1;
    ck_assert_int_eq(gt_sim_private_pool(s, 1, 0, &again, &created), 0);
    ck_assert(!created && again == pool);
    ck_assert_int_eq(gt_sim_private_pool(s, 0, 0, &again, &created), 0);
    ck_assert_int_eq(again, 0); /* (0, 0): the default pools */
    struct gt_sim_block_init large[1] = {{g, 20 * MIB, 0, false}};
    struct gt_sim_block_init small[1] = {{gs, 2 * MIB, 0, false}};
    gt_sim_handle h[1];
    ck_assert_int_eq(gt_sim_preload_segment(s, pool, g, 20 * MIB, 0, false, large, 1, h), 0);
    ck_assert_int_eq(gt_sim_preload_segment(s, pool, gs, 2 * MIB, 0, true, small, 1, h), 0);
    /* counted in the small and large statistics like any segment */
    ck_assert_int_eq(stat(s, "segment.large_pool.current"), 1);
    ck_assert_int_eq(stat(s, "segment.small_pool.current"), 1);
    /* 8 MiB and 1,000 B: the free 20 and 2 MiB blocks of the private pool
     * would fit, but the default pools are empty: two cudaMallocs, 20 MiB
     * (8 MiB is between 1 and 10 MiB) and 2 MiB */
    gt_sim_handle a = must_alloc(s, 8 * MIB), b = must_alloc(s, 1000);
    ck_assert_int_eq(log.n, 2);
    ck_assert(log.ev[0] == GT_SIM_SEGMENT_ALLOC && log.size[0] == 20 * MIB);
    ck_assert(log.ev[1] == GT_SIM_SEGMENT_ALLOC && log.size[1] == 2 * MIB);
    uint64_t sa = log.addr[0], sb = log.addr[1];
    ck_assert(gt_sim_addr(s, a) == sa && gt_sim_addr(s, b) == sb);
    gt_sim_free(s, a);
    gt_sim_free(s, b);
    /* in use: empty_cache frees the default pools' two segments only */
    gt_sim_empty_cache(s);
    ck_assert_int_eq(log.n, 4);
    ck_assert(log.ev[2] == GT_SIM_SEGMENT_FREE && log.addr[2] == sa);
    ck_assert(log.ev[3] == GT_SIM_SEGMENT_FREE && log.addr[3] == sb);
    ck_assert_int_eq(stat(s, "reserved_bytes.all.current"), (int64_t)(22 * MIB));
    /* given up: its small segment goes first, then its large one */
    gt_sim_release_pool(s, pool);
    gt_sim_empty_cache(s);
    ck_assert_int_eq(log.n, 6);
    ck_assert(log.ev[4] == GT_SIM_SEGMENT_FREE && log.addr[4] == gs);
    ck_assert(log.ev[5] == GT_SIM_SEGMENT_FREE && log.addr[5] == g);
    ck_assert_int_eq(stat(s, "reserved_bytes.all.current"), 0);
    /* the pool is gone: the same id makes a new one */
    ck_assert_int_eq(gt_sim_private_pool(s, 1, 0, &again, &created), 0);
    ck_assert(created);
    assert_consistent(s);
    gt_sim_free_all(s);
}
END_TEST

START_TEST(stats_use_torch_memory_stats_names_in_sorted_order)
{
    struct gt_sim *s = sim_with("default", 0, 0, NULL);
    int64_t v;
    ck_assert_int_eq(gt_sim_stat_lookup(gt_sim_get_stats(s), "allocation.all.current", &v), 0);
    ck_assert_int_eq(gt_sim_stat_lookup(gt_sim_get_stats(s), "allocated.all.current", &v),
                     GT_ENOENT);
    ck_assert_int_eq(gt_sim_stat_lookup(gt_sim_get_stats(s), "num_sync_all_streams", &v), 0);
    gt_sim_free_all(s);
}
END_TEST

START_TEST(the_cudamallocasync_backend_is_refused_not_simulated)
{
    struct gt_conf c = conf_of("backend:cudaMallocAsync");
    struct gt_sim *s = (struct gt_sim *)1;
    ck_assert_int_eq(gt_sim_new(&c, NULL, &s), GT_EUNSUPPORTED);
    ck_assert_ptr_null(s);
}
END_TEST

static Suite *sim_suite(void)
{
    Suite *s = suite_create("sim");
    TCase *t = tcase_create("rules");
    tcase_add_test(t, round_size_rounds_to_512_and_power2_divisions);
    tcase_add_test(t, allocation_size_follows_the_segment_size_table);
    tcase_add_test(t, a_small_request_gets_a_2_mib_small_pool_segment);
    tcase_add_test(t, two_5_mib_requests_share_one_20_mib_segment_low_part_first);
    tcase_add_test(t, a_large_pool_remainder_of_1_mib_or_less_is_not_split);
    tcase_add_test(t, best_fit_takes_the_smallest_block_and_the_lowest_address_on_ties);
    tcase_add_test(t, freeing_merges_neighbours_back_into_a_whole_segment);
    tcase_add_test(t, blocks_are_only_reused_on_their_own_stream);
    tcase_add_test(t, max_split_size_keeps_small_requests_out_of_oversize_blocks);
    tcase_add_test(t, unlimited_max_split_size_reports_minus_one);
    tcase_add_test(t, under_a_cap_oversize_blocks_are_released_largest_first_before_a_flush);
    tcase_add_test(t, a_full_flush_and_retry_counts_num_alloc_retries);
    tcase_add_test(t, an_oom_is_counted_and_the_allocator_stays_usable);
    tcase_add_test(t, empty_cache_releases_only_wholly_free_segments);
    tcase_add_test(t, a_block_pending_free_is_not_reused_until_its_events_complete);
    tcase_add_test(t, empty_cache_completes_pending_frees_before_releasing);
    tcase_add_test(t, active_follows_allocation_until_a_free_is_deferred);
    tcase_add_test(t, reset_peak_stats_makes_every_peak_the_current_value);
    tcase_add_test(t, without_a_cap_reserved_never_shrinks_on_its_own);
    tcase_add_test(t, garbage_collection_needs_a_memory_fraction);
    tcase_add_test(t, garbage_collection_frees_the_older_segments_first);
    tcase_add_test(t, expandable_segments_map_pages_for_the_rounded_request);
    tcase_add_test(t, expandable_request_beyond_the_reservation_is_an_oom_without_a_cap);
    tcase_add_test(t, empty_cache_unmaps_free_pages_inside_a_busy_expandable_segment);
    tcase_add_test(t, expandable_segments_split_any_remainder_of_512_bytes);
    tcase_add_test(t, nocache_makes_every_request_its_own_device_allocation);
    tcase_add_test(t, a_clone_goes_on_exactly_as_its_original_would);
    tcase_add_test(t, a_split_limit_no_block_reaches_changes_nothing);
    tcase_add_test(t, a_run_of_ops_does_what_the_single_calls_do);
    tcase_add_test(t, keeping_only_the_reported_statistics_changes_no_decision);
    tcase_add_test(t, a_preloaded_segment_serves_requests_and_merges_on_free);
    tcase_add_test(t, preloaded_expandable_ranges_share_a_reservation_and_follow_its_rules);
    tcase_add_test(t, a_private_pool_is_kept_apart_and_released_once_given_up);
    tcase_add_test(t, stats_use_torch_memory_stats_names_in_sorted_order);
    tcase_add_test(t, the_cudamallocasync_backend_is_refused_not_simulated);
    suite_add_tcase(s, t);
    TCase *a = tcase_create("spec15");
    tcase_add_test(a, s15_1_memory_stats_track_active_bytes_and_release);
    tcase_add_test(a, s15_2_allocator_settings_change_active_bytes_allocated);
    tcase_add_test(a, s15_4_max_split_expandable_oom_then_success_after_frees);
    tcase_add_test(a, s15_5_garbage_collect_expandable_grows_the_free_tail);
    tcase_add_test(a, s15_6_memory_fraction_counts_a_cached_small_segment);
    tcase_add_test(a, s15_7_a_freed_block_of_the_same_size_is_reused_without_retry);
    tcase_add_test(a, s15_7_an_impossible_request_fails_with_pytorchs_tried_to_allocate_figure);
    tcase_add_test(a, s15_8_snapshot_layout_puts_x_after_unused_in_one_segment);
    tcase_add_test(a, s15_19_random_operations_keep_the_bookkeeping_consistent);
    tcase_set_timeout(a, 120);
    suite_add_tcase(s, a);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(sim_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
