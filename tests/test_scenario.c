/* Check suite for the scenario of a trace (analyzer/replay/scenario.c): the card of
 * each device and where it comes from, the start state, its preload into a
 * simulator and a replay from it. Small traces are written with the writer
 * API in a private temporary folder. */
#include <check.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gputrace/conf.h"
#include "gputrace/err.h"
#include "gputrace/replay.h"
#include "gputrace/scenario.h"
#include "gputrace/schema.h"
#include "gputrace/sim.h"
#include "gputrace/trace.h"

#include <sqlite3.h>

#include "trace_int.h" /* GT_BATCH_EVENTS: where the writer's batches end */

#include "gputrace/banned.h"

#include "test_tmpdir.h"

#define MIB ((uint64_t)1 << 20)
#define GIB ((uint64_t)1 << 30)

/* The start state of the tests: segment A holds one live block of 8 MiB
 * and 12 MiB free; segment B, right after it, is free. */
#define SEG_A 0x7f0000000000ull
#define SEG_B 0x7f0001400000ull /* SEG_A + 20 MiB */
#define NEW_ADDR 0x7f0010000000ull

/* A trace under construction: the writer and the index of the next event. */
struct tw {
    struct gt_trace_writer *w;
    int64_t next;
};

static struct tw open_trace(const char *path)
{
    struct tw t = {NULL, 0};
    char err[256] = "";
    ck_assert_msg(gt_trace_create(path, &t.w, err, sizeof(err)) == GT_OK, "create: %s", err);
    return t;
}

/* Appends one event and returns its index. */
static int64_t add_event(struct tw *t, int32_t device, int32_t kind, uint64_t addr, uint64_t size,
                         uint64_t requested, int32_t result, int64_t pid)
{
    struct gt_event e;
    memset(&e, 0, sizeof(e));
    e.ts_ns = 1000 * (t->next + 1);
    e.pid = pid;
    e.tid = pid;
    e.device = device;
    e.kind = kind;
    e.result = result;
    e.addr = addr;
    e.size = size;
    e.requested = requested;
    ck_assert_msg(gt_trace_append(t->w, &e) == GT_OK, "append: %s", gt_trace_writer_errmsg(t->w));
    return t->next++;
}

static int64_t ev_alloc(struct tw *t, uint64_t addr, uint64_t size)
{
    return add_event(t, 0, GT_EV_ALLOC, addr, size, size, 0, 100);
}

static int64_t ev_free(struct tw *t, uint64_t addr, uint64_t size)
{
    return add_event(t, 0, GT_EV_FREE, addr, size, 0, 0, 100);
}

static int64_t ev_segment_alloc(struct tw *t, uint64_t addr, uint64_t size)
{
    return add_event(t, 0, GT_EV_SEGMENT_ALLOC, addr, size, 0, 0, 100);
}

static int64_t ev_segment_free(struct tw *t, uint64_t addr, uint64_t size)
{
    return add_event(t, 0, GT_EV_SEGMENT_FREE, addr, size, 0, 0, 100);
}

static int64_t ev_empty_cache(struct tw *t)
{
    return add_event(t, 0, GT_EV_EMPTY_CACHE, 0, 0, 0, 0, 100);
}

/* An out-of-memory: asked bytes requested, free device memory in addr. */
static int64_t ev_oom(struct tw *t, uint64_t asked, uint64_t free_memory)
{
    return add_event(t, 0, GT_EV_OOM, free_memory, 0, asked, 0, 100);
}

static void close_trace(struct tw *t)
{
    ck_assert_int_eq(gt_trace_writer_close(t->w), GT_OK);
    t->w = NULL;
}

static struct gt_scenario *build(const char *path, uint64_t device_memory)
{
    struct gt_scenario *s = NULL;
    char err[256] = "";
    int rc = gt_scenario_build(path, device_memory, &s, err, sizeof(err));
    ck_assert_msg(rc == 0, "build '%s': %d %s", path, rc, err);
    ck_assert_ptr_nonnull(s);
    return s;
}

static struct gt_conf conf_of(const char *text)
{
    struct gt_conf c;
    char err[256] = "";
    ck_assert_msg(gt_conf_parse(text, &c, err, sizeof(err)) == 0, "%s", err);
    return c;
}

/* Segment events, an alloc, and an OOM with 30 MiB free while 40 MiB are
 * reserved (20 + 40 - 20). Returns the index of the OOM event. */
static int64_t write_oom_trace(const char *path, bool with_device)
{
    struct tw t = open_trace(path);
    if (with_device)
        ck_assert_int_eq(gt_trace_add_device(t.w, 0, "NVIDIA H100 80GB HBM3", 80 * GIB), GT_OK);
    ev_segment_alloc(&t, SEG_A, 20 * MIB);
    ev_alloc(&t, SEG_A, 1 * MIB);
    ev_segment_alloc(&t, SEG_B, 40 * MIB);
    ev_segment_free(&t, SEG_A + 0x10000000ull, 20 * MIB);
    int64_t oom = ev_oom(&t, 100 * MIB, 30 * MIB);
    close_trace(&t);
    return oom;
}

/* The start state: A = [8 MiB live, 12 MiB free], B = [20 MiB free]. */
static void add_start_state(struct tw *t)
{
    struct gt_initial_block blocks[3] = {
        {0, SEG_A, 8 * MIB, 8 * MIB, true, SEG_A, 20 * MIB, 0, false, false, false, 0, 0, 0, false},
        {0, SEG_A + 8 * MIB, 12 * MIB, 0, false, SEG_A, 20 * MIB, 0, false, false, false, 0, 0, 0,
         false},
        {0, SEG_B, 20 * MIB, 0, false, SEG_B, 20 * MIB, 0, false, false, false, 0, 0, 0, false},
    };
    for (size_t i = 0; i < 3; i++)
        ck_assert_int_eq(gt_trace_add_initial_block(t->w, &blocks[i]), GT_OK);
}

/* A trace with the start state and one request of 4 MiB (large pool: served
 * from the cached free memory) and its free. */
static void write_start_trace(const char *path)
{
    struct tw t = open_trace(path);
    add_start_state(&t);
    ev_alloc(&t, NEW_ADDR, 4 * MIB);
    ev_free(&t, NEW_ADDR, 4 * MIB);
    close_trace(&t);
}

/* Reserved 40 MiB in two segments of 20 MiB, then one of them released
 * (preceded by an empty_cache event when asked) and a 40 MiB segment
 * allocated: a release-and-retry unless empty_cache started the run.
 * Returns the index of the segment_free. */
static int64_t write_retry_trace(const char *path, const char *alloc_conf, bool empty_cache)
{
    struct tw t = open_trace(path);
    if (alloc_conf)
        ck_assert_int_eq(gt_trace_set_meta(t.w, "alloc_conf", alloc_conf), GT_OK);
    ev_alloc(&t, NEW_ADDR, 1 * MIB);
    ev_segment_alloc(&t, SEG_A, 20 * MIB);
    ev_segment_alloc(&t, SEG_B, 20 * MIB);
    if (empty_cache)
        ev_empty_cache(&t);
    int64_t run = ev_segment_free(&t, SEG_A, 20 * MIB);
    ev_segment_alloc(&t, SEG_A + 0x10000000ull, 40 * MIB);
    ev_free(&t, NEW_ADDR, 1 * MIB);
    close_trace(&t);
    return run;
}

/* ------------------------------------------------------------ the card */

START_TEST(a_given_card_wins_over_a_recorded_total_and_an_oom)
{
    const char *path = path_of("given.db");
    write_oom_trace(path, true);
    struct gt_scenario *s = build(path, 1 * GIB);
    ck_assert_uint_eq(s->ndevices, 1);
    const struct gt_scenario_device *d = &s->devices[0];
    ck_assert_int_eq(d->source, GT_CARD_GIVEN);
    ck_assert_uint_eq(d->memory, 1 * GIB);
    ck_assert_int_eq(d->source_event, -1);
    ck_assert_uint_eq(d->recorded_total, 80 * GIB);
    ck_assert_str_eq(d->name, "NVIDIA H100 80GB HBM3");
    ck_assert_str_eq(gt_scenario_source_name(d->source), "given");
    gt_scenario_free(s);
}
END_TEST

START_TEST(a_recorded_total_wins_over_an_oom_when_no_card_is_given)
{
    const char *path = path_of("recorded.db");
    write_oom_trace(path, true);
    struct gt_scenario *s = build(path, 0);
    const struct gt_scenario_device *d = &s->devices[0];
    ck_assert_int_eq(d->source, GT_CARD_RECORDED);
    ck_assert_uint_eq(d->memory, 80 * GIB);
    ck_assert_int_eq(d->source_event, -1);
    ck_assert_str_eq(gt_scenario_source_name(d->source), "recorded");
    gt_scenario_free(s);
}
END_TEST

START_TEST(an_oom_with_free_memory_reveals_reserved_plus_free)
{
    const char *path = path_of("oom.db");
    int64_t oom = write_oom_trace(path, false);
    ck_assert_int_eq(oom, 4);
    struct gt_scenario *s = build(path, 0);
    ck_assert_int_eq(s->events, 5);
    ck_assert_uint_eq(s->ndevices, 1);
    const struct gt_scenario_device *d = &s->devices[0];
    ck_assert_int_eq(d->source, GT_CARD_OOM);
    /* reserved 20 + 40 - 20 = 40 MiB at the OOM, plus 30 MiB free */
    ck_assert_uint_eq(d->memory, 70 * MIB);
    ck_assert_int_eq(d->source_event, oom);
    ck_assert_uint_eq(d->recorded_total, 0);
    ck_assert_str_eq(d->name, "");
    ck_assert_int_eq(d->requests, 2); /* the alloc and the oom */
    ck_assert_str_eq(gt_scenario_source_name(d->source), "oom");
    gt_scenario_free(s);
}
END_TEST

START_TEST(a_failed_alloc_with_free_memory_counts_as_an_oom)
{
    const char *path = path_of("failed.db");
    struct tw t = open_trace(path);
    ev_segment_alloc(&t, SEG_A, 20 * MIB);
    ev_alloc(&t, SEG_A, 1 * MIB);
    int64_t failed = add_event(&t, 0, GT_EV_ALLOC, 6 * MIB, 0, 64 * MIB, 2, 100);
    close_trace(&t);
    struct gt_scenario *s = build(path, 0);
    const struct gt_scenario_device *d = &s->devices[0];
    ck_assert_int_eq(d->source, GT_CARD_OOM);
    ck_assert_uint_eq(d->memory, 26 * MIB);
    ck_assert_int_eq(d->source_event, failed);
    gt_scenario_free(s);
}
END_TEST

START_TEST(a_trace_that_says_nothing_about_the_card_is_unlimited)
{
    const char *path = path_of("none.db");
    struct tw t = open_trace(path);
    ev_alloc(&t, NEW_ADDR, 1 * MIB);
    ev_free(&t, NEW_ADDR, 1 * MIB);
    close_trace(&t);
    struct gt_scenario *s = build(path, 0);
    ck_assert_uint_eq(s->ndevices, 1);
    const struct gt_scenario_device *d = &s->devices[0];
    ck_assert_int_eq(d->source, GT_CARD_NONE);
    ck_assert_uint_eq(d->memory, 0);
    ck_assert_int_eq(d->source_event, -1);
    ck_assert_str_eq(gt_scenario_source_name(d->source), "none");
    ck_assert(!s->has_recorded_conf);
    ck_assert_str_eq(s->recorded_conf, "");
    struct gt_sim_options o = gt_scenario_sim_options(d);
    ck_assert_uint_eq(o.device_limit, 0);
    ck_assert_uint_eq(o.device_total, 0);
    gt_scenario_free(s);
}
END_TEST

START_TEST(an_oom_without_segment_events_or_start_state_does_not_reveal_the_card)
{
    const char *path = path_of("blind.db");
    struct tw t = open_trace(path);
    ev_alloc(&t, NEW_ADDR, 1 * MIB);
    ev_oom(&t, 100 * MIB, 30 * MIB);
    add_event(&t, 0, GT_EV_ALLOC, 30 * MIB, 0, 64 * MIB, 2, 100);
    close_trace(&t);
    struct gt_scenario *s = build(path, 0);
    const struct gt_scenario_device *d = &s->devices[0];
    ck_assert_int_eq(d->source, GT_CARD_NONE);
    ck_assert_uint_eq(d->memory, 0);
    ck_assert_int_eq(d->source_event, -1);
    gt_scenario_free(s);
}
END_TEST

START_TEST(an_oom_after_a_start_state_reveals_the_start_reserved_plus_free)
{
    const char *path = path_of("start-oom.db");
    struct tw t = open_trace(path);
    add_start_state(&t);
    ev_alloc(&t, NEW_ADDR, 4 * MIB);
    int64_t oom = ev_oom(&t, 100 * MIB, 30 * MIB);
    close_trace(&t);
    struct gt_scenario *s = build(path, 0);
    const struct gt_scenario_device *d = &s->devices[0];
    ck_assert_int_eq(d->source, GT_CARD_OOM);
    ck_assert_uint_eq(d->memory, 70 * MIB);
    ck_assert_int_eq(d->source_event, oom);
    gt_scenario_free(s);
}
END_TEST

START_TEST(a_release_and_retry_bounds_the_card)
{
    const char *path = path_of("retry.db");
    int64_t run = write_retry_trace(path, NULL, false);
    ck_assert_int_eq(run, 3);
    struct gt_scenario *s = build(path, 0);
    const struct gt_scenario_device *d = &s->devices[0];
    ck_assert_int_eq(d->source, GT_CARD_RETRY);
    /* the cudaMalloc of 40 MiB failed with 40 MiB reserved; after it 60 MiB
     * were reserved */
    ck_assert_uint_eq(d->retry_low, 60 * MIB);
    ck_assert_uint_eq(d->retry_high, 80 * MIB - 1);
    ck_assert_uint_le(d->retry_low, d->memory);
    ck_assert_uint_le(d->memory, d->retry_high);
    ck_assert_uint_eq(d->memory % (2 * MIB), 0);
    ck_assert_uint_eq(d->memory, 68 * MIB); /* the middle, rounded down to 2 MiB */
    ck_assert_int_eq(d->source_event, run);
    ck_assert_str_eq(gt_scenario_source_name(d->source), "retry");
    struct gt_sim_options o = gt_scenario_sim_options(d);
    ck_assert_uint_eq(o.device_limit, 68 * MIB);
    ck_assert_uint_eq(o.device_total, 68 * MIB);
    gt_scenario_free(s);
}
END_TEST

START_TEST(a_retry_points_at_the_first_release_of_its_run)
{
    const char *path = path_of("retry-run.db");
    struct tw t = open_trace(path);
    ev_alloc(&t, NEW_ADDR, 1 * MIB);
    ev_segment_alloc(&t, SEG_A, 20 * MIB);
    ev_segment_alloc(&t, SEG_B, 20 * MIB);
    ev_segment_alloc(&t, SEG_B + 20 * MIB, 20 * MIB);
    int64_t run = ev_segment_free(&t, SEG_A, 20 * MIB);
    ev_segment_free(&t, SEG_B, 20 * MIB);
    ev_segment_alloc(&t, SEG_A + 0x10000000ull, 40 * MIB);
    close_trace(&t);
    struct gt_scenario *s = build(path, 0);
    const struct gt_scenario_device *d = &s->devices[0];
    ck_assert_int_eq(d->source, GT_CARD_RETRY);
    /* failed: 60 MiB reserved + 40 MiB; after it: 20 + 40 = 60 MiB */
    ck_assert_uint_eq(d->retry_low, 60 * MIB);
    ck_assert_uint_eq(d->retry_high, 100 * MIB - 1);
    ck_assert_uint_eq(d->memory, 78 * MIB);
    ck_assert_int_eq(d->source_event, run);
    gt_scenario_free(s);
}
END_TEST

START_TEST(a_release_run_after_empty_cache_is_no_retry)
{
    const char *path = path_of("empty.db");
    write_retry_trace(path, NULL, true);
    struct gt_scenario *s = build(path, 0);
    const struct gt_scenario_device *d = &s->devices[0];
    ck_assert_int_eq(d->source, GT_CARD_NONE);
    ck_assert_uint_eq(d->memory, 0);
    ck_assert_int_eq(d->source_event, -1);
    gt_scenario_free(s);
}
END_TEST

START_TEST(a_release_run_under_a_garbage_collection_threshold_is_no_evidence)
{
    const char *path = path_of("gc.db");
    write_retry_trace(path, "garbage_collection_threshold:0.8", false);
    struct gt_scenario *s = build(path, 0);
    ck_assert(s->has_recorded_conf);
    ck_assert_str_eq(s->recorded_conf, "garbage_collection_threshold:0.8");
    const struct gt_scenario_device *d = &s->devices[0];
    ck_assert_int_eq(d->source, GT_CARD_NONE);
    ck_assert_uint_eq(d->memory, 0);
    ck_assert_int_eq(d->source_event, -1);
    gt_scenario_free(s);
}
END_TEST

START_TEST(a_retry_under_a_memory_fraction_bounds_the_whole_card)
{
    const char *path = path_of("fraction.db");
    int64_t run = write_retry_trace(path, "per_process_memory_fraction:0.5", false);
    struct gt_scenario *s = build(path, 0);
    const struct gt_scenario_device *d = &s->devices[0];
    ck_assert_int_eq(d->source, GT_CARD_RETRY);
    ck_assert_uint_eq(d->retry_low, 120 * MIB);
    ck_assert_uint_eq(d->retry_high, 160 * MIB - 2);
    ck_assert_uint_eq(d->memory, 136 * MIB);
    ck_assert_int_eq(d->source_event, run);
    gt_scenario_free(s);
}
END_TEST

/* ------------------------------------------------------------ start state */

START_TEST(the_start_state_is_counted_per_device)
{
    const char *path = path_of("start.db");
    write_start_trace(path);
    struct gt_scenario *s = build(path, 0);
    ck_assert_uint_eq(s->nblocks, 3);
    ck_assert_uint_eq(s->ndevices, 1);
    const struct gt_scenario_device *d = &s->devices[0];
    ck_assert_uint_eq(d->start_allocated, 8 * MIB);
    ck_assert_uint_eq(d->start_reserved, 40 * MIB);
    ck_assert_uint_eq(d->start_segments, 2);
    ck_assert_uint_eq(d->start_pinned, 20 * MIB); /* only A holds live memory */
    ck_assert_uint_eq(d->first_block, 0);
    ck_assert_uint_eq(d->nblocks, 3);
    ck_assert_uint_eq(s->blocks[0].addr, SEG_A);
    ck_assert_uint_eq(s->blocks[2].addr, SEG_B);
    /* the start state alone says nothing about the card */
    ck_assert_int_eq(d->source, GT_CARD_NONE);
    gt_scenario_free(s);
}
END_TEST

struct live_seen {
    int calls;
    uint64_t addr;
    gt_sim_handle h;
};

static void on_live(void *ctx, const struct gt_initial_block *b, gt_sim_handle h)
{
    struct live_seen *l = ctx;
    l->calls++;
    l->addr = b->addr;
    l->h = h;
}

/* A simulator of conf on device d's card, with the checks on. */
static struct gt_sim *new_sim(const char *conf, const struct gt_scenario_device *d)
{
    struct gt_conf c = conf_of(conf);
    struct gt_sim_options o = gt_scenario_sim_options(d);
    o.check_every_op = true;
    struct gt_sim *sim = NULL;
    ck_assert_int_eq(gt_sim_new(&c, &o, &sim), 0);
    return sim;
}

static void assert_sim_sound(const struct gt_sim *sim)
{
    char msg[256] = "";
    ck_assert_msg(gt_sim_check(sim, msg, sizeof(msg)) == 0, "%s", msg);
}

START_TEST(a_preload_without_a_limit_keeps_the_start_state)
{
    const char *path = path_of("preload.db");
    write_start_trace(path);
    struct gt_scenario *s = build(path, 0);
    const struct gt_scenario_device *d = &s->devices[0];
    struct gt_sim *sim = new_sim("default", d);
    struct live_seen l = {0, 0, GT_SIM_NO_HANDLE};
    ck_assert_int_eq(gt_scenario_preload(s, d, sim, false, 0, on_live, &l), 0);
    const struct gt_sim_stats *st = gt_sim_get_stats(sim);
    ck_assert_int_eq(st->reserved_bytes[GT_SIM_ALL].current, (int64_t)(40 * MIB));
    ck_assert_int_eq(st->reserved_bytes[GT_SIM_ALL].peak, (int64_t)(40 * MIB));
    ck_assert_int_eq(st->allocated_bytes[GT_SIM_ALL].current, (int64_t)(8 * MIB));
    ck_assert_int_eq(st->segment[GT_SIM_ALL].current, 2);
    ck_assert_int_eq(st->allocation[GT_SIM_ALL].current, 1);
    ck_assert_int_eq(l.calls, 1);
    ck_assert_uint_eq(l.addr, SEG_A);
    ck_assert_uint_ne(l.h, GT_SIM_NO_HANDLE);
    ck_assert_uint_eq(gt_sim_addr(sim, l.h), SEG_A);
    ck_assert_uint_eq(gt_sim_block_size(sim, l.h), 8 * MIB);
    assert_sim_sound(sim);
    gt_sim_free_all(sim);
    gt_scenario_free(s);
}
END_TEST

START_TEST(a_preload_over_the_limit_releases_the_free_segments_and_resets_the_peaks)
{
    const char *path = path_of("preload-limit.db");
    write_start_trace(path);
    struct gt_scenario *s = build(path, 0);
    const struct gt_scenario_device *d = &s->devices[0];
    struct gt_sim *sim = new_sim("default", d);
    struct live_seen l = {0, 0, GT_SIM_NO_HANDLE};
    ck_assert_int_eq(gt_scenario_preload(s, d, sim, false, 30 * MIB, on_live, &l), 0);
    const struct gt_sim_stats *st = gt_sim_get_stats(sim);
    ck_assert_int_eq(st->reserved_bytes[GT_SIM_ALL].current, (int64_t)(20 * MIB));
    ck_assert_int_eq(st->reserved_bytes[GT_SIM_ALL].peak, (int64_t)(20 * MIB));
    ck_assert_int_eq(st->allocated_bytes[GT_SIM_ALL].current, (int64_t)(8 * MIB));
    ck_assert_int_eq(st->segment[GT_SIM_ALL].current, 1);
    ck_assert_int_eq(l.calls, 1);
    ck_assert_uint_eq(gt_sim_addr(sim, l.h), SEG_A);
    assert_sim_sound(sim);
    gt_sim_free_all(sim);
    gt_scenario_free(s);
}
END_TEST

START_TEST(a_preload_at_or_over_the_start_reserved_releases_nothing)
{
    const char *path = path_of("preload-fits.db");
    write_start_trace(path);
    struct gt_scenario *s = build(path, 0);
    const struct gt_scenario_device *d = &s->devices[0];
    struct gt_sim *sim = new_sim("default", d);
    ck_assert_int_eq(gt_scenario_preload(s, d, sim, false, 40 * MIB, NULL, NULL), 0);
    const struct gt_sim_stats *st = gt_sim_get_stats(sim);
    ck_assert_int_eq(st->reserved_bytes[GT_SIM_ALL].current, (int64_t)(40 * MIB));
    ck_assert_int_eq(st->allocated_bytes[GT_SIM_ALL].current, (int64_t)(8 * MIB));
    gt_sim_free_all(sim);
    gt_scenario_free(s);
}
END_TEST

START_TEST(a_preload_without_caching_makes_one_allocation_per_live_block)
{
    const char *path = path_of("preload-nocache.db");
    write_start_trace(path);
    struct gt_scenario *s = build(path, 0);
    const struct gt_scenario_device *d = &s->devices[0];
    struct gt_sim *sim = new_sim("nocache", d);
    struct live_seen l = {0, 0, GT_SIM_NO_HANDLE};
    ck_assert_int_eq(gt_scenario_preload(s, d, sim, true, 0, on_live, &l), 0);
    const struct gt_sim_stats *st = gt_sim_get_stats(sim);
    ck_assert_int_eq(st->allocated_bytes[GT_SIM_ALL].current, (int64_t)(8 * MIB));
    ck_assert_int_eq(st->allocation[GT_SIM_ALL].current, 1);
    ck_assert_int_eq(l.calls, 1);
    ck_assert_uint_eq(l.addr, SEG_A);
    ck_assert_uint_ne(l.h, GT_SIM_NO_HANDLE);
    assert_sim_sound(sim);
    gt_sim_free_all(sim);
    gt_scenario_free(s);
}
END_TEST

/* ------------------------------------------------------------ replay */

/* The replay of the trace at path under PyTorch's defaults, on one worker,
 * with s's card and start state. */
static struct gt_analysis *replay_default(const char *path, const struct gt_scenario *s)
{
    struct gt_conf c = conf_of("default");
    struct gt_replay_options o;
    memset(&o, 0, sizeof(o));
    o.scenario = s;
    o.threads = 1;
    o.all_stats = true; /* the tests read memory_stats() counters */
    struct gt_analysis *a = NULL;
    char err[256] = "";
    ck_assert_msg(gt_replay_trace(path, &c, 1, &o, &a, err, sizeof(err)) == 0, "%s", err);
    return a;
}

START_TEST(a_replay_starts_from_the_start_state)
{
    const char *path = path_of("replay.db");
    struct tw t = open_trace(path);
    add_start_state(&t);
    ev_alloc(&t, NEW_ADDR, 4 * MIB);
    ev_free(&t, SEG_A, 8 * MIB); /* the live block of the start state */
    ev_free(&t, NEW_ADDR, 4 * MIB);
    close_trace(&t);
    struct gt_scenario *s = build(path, 0);
    struct gt_analysis *a = replay_default(path, s);
    ck_assert_int_eq(a->events, 3);
    ck_assert_int_eq(a->warnings.unknown_free, 0);
    ck_assert_int_eq(a->warnings.double_free, 0);
    ck_assert_uint_eq(a->ndevices, 1);
    ck_assert_int_eq(a->devices[0].device, 0);
    ck_assert_uint_eq(a->devices[0].card.start_reserved, 40 * MIB);
    ck_assert_uint_eq(a->devices[0].card.nblocks, 3);
    ck_assert_uint_eq(a->devices[0].device_memory, 0);
    ck_assert_uint_eq(a->results[0].peak_reserved, 40 * MIB);
    ck_assert_uint_eq(a->results[0].peak_allocated, 12 * MIB);
    ck_assert_int_eq(a->results[0].num_ooms, 0);
    ck_assert_int_eq(a->results[0].first_oom_event, -1);
    ck_assert_int_eq(a->results[0].stats.allocated_bytes[GT_SIM_ALL].current, 0);
    gt_analysis_free(a);
    gt_scenario_free(s);
}
END_TEST

/* An alloc the driver refused (result != 0) is a request the program did
 * not get: replay asks each config whether it would have served it, and
 * nothing of it stays allocated, whatever its addr says. */
START_TEST(a_refused_alloc_is_a_probe_not_an_allocation)
{
    const char *path = path_of("refused.db");
    struct tw t = open_trace(path);
    ev_alloc(&t, NEW_ADDR, 4 * MIB);
    add_event(&t, 0, GT_EV_ALLOC, 0, 1024 * MIB, 1024 * MIB, 2, 100);
    add_event(&t, 0, GT_EV_ALLOC, 0, 1024 * MIB, 1024 * MIB, 2, 100);
    ev_free(&t, NEW_ADDR, 4 * MIB);
    close_trace(&t);
    struct gt_scenario *s = build(path, 0);
    struct gt_analysis *a = replay_default(path, s);
    ck_assert_int_eq(a->events, 4);
    ck_assert_int_eq(a->warnings.alloc_of_live, 0);
    ck_assert_int_eq(a->warnings.unknown_free, 0);
    ck_assert_int_eq(a->results[0].stats.allocated_bytes[GT_SIM_ALL].current, 0);
    ck_assert_int_eq(a->results[0].stats.allocation[GT_SIM_ALL].current, 0);
    gt_analysis_free(a);
    gt_scenario_free(s);
}
END_TEST

/* ------------------------------------------------------------ words */

START_TEST(the_card_line_names_the_source_of_the_card)
{
    char line[256];
    const char *path = path_of("line-oom.db");
    int64_t oom = write_oom_trace(path, false);
    struct gt_scenario *s = build(path, 0);
    gt_scenario_card_line(&s->devices[0], line, sizeof(line));
    char want[128];
    snprintf(want, sizeof(want), "70.00 MiB, inferred from the out-of-memory at event %lld",
             (long long)oom);
    ck_assert_str_eq(line, want);
    gt_scenario_free(s);

    s = build(path, 1 * GIB);
    ck_assert_ptr_eq(gt_scenario_card_line(&s->devices[0], line, sizeof(line)), line);
    ck_assert_ptr_nonnull(strstr(line, "as given (--device-memory)"));
    ck_assert_ptr_nonnull(strstr(line, "1073741824"));
    ck_assert_str_eq(line, "1.00 GiB (1073741824 bytes), as given (--device-memory)");
    gt_scenario_free(s);

    path = path_of("line-recorded.db");
    write_oom_trace(path, true);
    s = build(path, 0);
    gt_scenario_card_line(&s->devices[0], line, sizeof(line));
    ck_assert_str_eq(line, "80.00 GiB, the card's memory as recorded");
    gt_scenario_free(s);

    path = path_of("line-retry.db");
    int64_t run = write_retry_trace(path, NULL, false);
    s = build(path, 0);
    gt_scenario_card_line(&s->devices[0], line, sizeof(line));
    snprintf(want, sizeof(want), "68.00 MiB, inferred from the release-and-retry at event %lld",
             (long long)run);
    ck_assert_msg(strncmp(line, want, strlen(want)) == 0, "%s", line);
    ck_assert_ptr_nonnull(strstr(line, "(the card lies between 60.00 MiB and "));
    gt_scenario_free(s);

    path = path_of("line-none.db");
    write_retry_trace(path, NULL, true);
    s = build(path, 0);
    gt_scenario_card_line(&s->devices[0], line, sizeof(line));
    ck_assert_msg(strncmp(line, "unlimited", strlen("unlimited")) == 0, "%s", line);
    gt_scenario_free(s);
}
END_TEST

/* ------------------------------------------------------------ errors */

START_TEST(building_from_a_missing_trace_is_the_readers_error)
{
    struct gt_scenario sentinel;
    struct gt_scenario *s = &sentinel;
    char err[256] = "";
    ck_assert_int_eq(gt_scenario_build(path_of("missing.db"), 0, &s, err, sizeof(err)), GT_ENOENT);
    ck_assert_ptr_null(s);
    ck_assert(err[0] != 0);
    gt_scenario_free(NULL);
}
END_TEST

/* ------------------------------------------------------------ devices */

START_TEST(devices_come_in_the_order_of_their_first_request)
{
    const char *path = path_of("devices.db");
    struct tw t = open_trace(path);
    add_event(&t, 0, GT_EV_SEGMENT_ALLOC, SEG_A, 20 * MIB, 0, 0, 999); /* not a request */
    add_event(&t, 1, GT_EV_ALLOC, NEW_ADDR, MIB, MIB, 0, 111);
    add_event(&t, 0, GT_EV_ALLOC, NEW_ADDR, MIB, MIB, 0, 222);
    add_event(&t, 0, GT_EV_FREE, NEW_ADDR, MIB, 0, 0, 333);
    add_event(&t, 1, GT_EV_FREE, NEW_ADDR, MIB, 0, 0, 444);
    add_event(&t, 2, GT_EV_SEGMENT_ALLOC, SEG_B, 20 * MIB, 0, 0, 555); /* no requests */
    close_trace(&t);
    struct gt_scenario *s = build(path, 0);
    ck_assert_int_eq(s->events, 6);
    ck_assert_uint_eq(s->ndevices, 2);
    ck_assert_int_eq(s->devices[0].device, 1);
    ck_assert_int_eq(s->devices[0].pid, 111);
    ck_assert_int_eq(s->devices[0].requests, 2);
    ck_assert_int_eq(s->devices[1].device, 0);
    ck_assert_int_eq(s->devices[1].pid, 222);
    ck_assert_int_eq(s->devices[1].requests, 2);
    ck_assert_ptr_eq(gt_scenario_find(s, 1), &s->devices[0]);
    ck_assert_ptr_eq(gt_scenario_find(s, 0), &s->devices[1]);
    ck_assert_ptr_null(gt_scenario_find(s, 2));
    ck_assert_ptr_null(gt_scenario_find(NULL, 0));
    ck_assert_int_eq(s->too_many_devices, 0);
    gt_scenario_free(s);
}
END_TEST

/* n requests of one process on one device: allocations and frees taking
 * turns, every fifth free requested while other streams use the block. */
static void add_plain_run(struct tw *t, int32_t device, int64_t pid, int n)
{
    for (int k = 0; k < n; k++) {
        uint64_t addr = NEW_ADDR + (uint64_t)(k / 2) * MIB;
        if (k % 2 == 0)
            add_event(t, device, GT_EV_ALLOC, addr, MIB, MIB, 0, pid);
        else
            add_event(t, device, k % 10 == 9 ? GT_EV_FREE_REQUESTED : GT_EV_FREE, addr, MIB, 0, 0,
                      pid);
    }
}

/* Plain requests up to the last place of a batch: the event added next
 * ends its batch, and the batch after it holds only what follows. */
static void pad_to_batch_end(struct tw *t)
{
    add_plain_run(t, 0, 100, (int)(GT_BATCH_EVENTS - 1 - t->next % GT_BATCH_EVENTS));
}

/* Everything the card pass decides, compared field by field. */
static void assert_same_scenario(const struct gt_scenario *a, const struct gt_scenario *b)
{
    ck_assert_int_eq(a->events, b->events);
    ck_assert_int_eq(a->too_many_devices, b->too_many_devices);
    ck_assert_uint_eq(a->ndevices, b->ndevices);
    for (size_t i = 0; i < a->ndevices; i++) {
        const struct gt_scenario_device *x = &a->devices[i], *y = &b->devices[i];
        ck_assert_int_eq(x->device, y->device);
        ck_assert_uint_eq(x->memory, y->memory);
        ck_assert_int_eq(x->source, y->source);
        ck_assert_int_eq(x->source_event, y->source_event);
        ck_assert_uint_eq(x->retry_low, y->retry_low);
        ck_assert_uint_eq(x->retry_high, y->retry_high);
        ck_assert_int_eq(x->requests, y->requests);
        ck_assert_int_eq(x->pid, y->pid);
        ck_assert_int_eq(x->other_process_requests, y->other_process_requests);
    }
}

/* The card pass that passes over the batches whose summaries say enough
 * decides what the pass over every event decides: runs of plain requests
 * (taken from their summaries) between the events that are evidence (read),
 * on two devices and from three processes. Variant 0 ends in an OOM, 1 has
 * a release-and-retry; in 2 a run of plain requests ends a run of releases
 * (the growth after it is no retry), in 3 it ends the empty_cache() before a
 * run of releases (which then is a retry). */
static void write_evidence_trace(const char *path, int variant)
{
    struct tw t = open_trace(path);
    add_plain_run(&t, 0, 100, 1500);
    ev_segment_alloc(&t, SEG_A, 20 * MIB);
    add_plain_run(&t, 0, 100, 1000);
    add_plain_run(&t, 1, 200, 1100); /* device 1's first request, mid-batch */
    add_plain_run(&t, 0, 300, 2100); /* another process on device 0 */
    if (variant == 1) {
        ev_segment_free(&t, SEG_A, 20 * MIB);
        ev_segment_alloc(&t, SEG_B, 40 * MIB);
    } else if (variant == 2) {
        pad_to_batch_end(&t);
        ev_segment_free(&t, SEG_A, 20 * MIB);
        add_plain_run(&t, 0, 100, GT_BATCH_EVENTS); /* one whole batch */
        ev_segment_alloc(&t, SEG_B, 40 * MIB);
    } else if (variant == 3) {
        pad_to_batch_end(&t);
        ev_empty_cache(&t);
        add_plain_run(&t, 0, 100, GT_BATCH_EVENTS);
        ev_segment_free(&t, SEG_A, 20 * MIB);
        ev_segment_alloc(&t, SEG_B, 40 * MIB);
    }
    add_plain_run(&t, 0, 100, 2100);
    ev_empty_cache(&t);
    add_plain_run(&t, 1, 200, 1030);
    if (variant == 0)
        ev_oom(&t, 64 * MIB, 3 * GIB);
    add_plain_run(&t, 0, 100, 1100);
    close_trace(&t);
}

START_TEST(the_card_pass_over_summaries_decides_as_the_pass_over_every_event)
{
    const enum gt_card_source want[] = {GT_CARD_OOM, GT_CARD_RETRY, GT_CARD_NONE, GT_CARD_RETRY};
    for (int variant = 0; variant < 4; variant++) {
        const char *p = path_of("summed.db"), *q = path_of("unsummed.db");
        write_evidence_trace(p, variant);
        write_evidence_trace(q, variant);
        sqlite3 *db = NULL;
        ck_assert_int_eq(sqlite3_open(q, &db), SQLITE_OK);
        ck_assert_int_eq(sqlite3_exec(db,
                                      "DROP INDEX " GT_SCHEMA_SUMMARY_INDEX_NAME ";"
                                      "ALTER TABLE event_batches DROP COLUMN pid;"
                                      "ALTER TABLE event_batches DROP COLUMN device;"
                                      "ALTER TABLE event_batches DROP COLUMN kinds;",
                                      NULL, NULL, NULL),
                         SQLITE_OK);
        sqlite3_close(db);
        struct gt_scenario *a = build(p, 0), *b = build(q, 0);
        assert_same_scenario(a, b);
        ck_assert_uint_eq(a->ndevices, 2);
        ck_assert_int_eq(a->devices[0].other_process_requests, 2100);
        ck_assert_msg(a->devices[0].source == want[variant], "variant %d: source %d", variant,
                      (int)a->devices[0].source);
        gt_scenario_free(a);
        gt_scenario_free(b);
        unlink(p);
        unlink(q);
    }
}
END_TEST

static Suite *scenario_suite(void)
{
    Suite *s = suite_create("scenario");
    TCase *t = tcase_create("core");
    tcase_add_checked_fixture(t, make_dir, remove_dir);
    tcase_add_test(t, a_given_card_wins_over_a_recorded_total_and_an_oom);
    tcase_add_test(t, a_recorded_total_wins_over_an_oom_when_no_card_is_given);
    tcase_add_test(t, an_oom_with_free_memory_reveals_reserved_plus_free);
    tcase_add_test(t, a_failed_alloc_with_free_memory_counts_as_an_oom);
    tcase_add_test(t, a_trace_that_says_nothing_about_the_card_is_unlimited);
    tcase_add_test(t, an_oom_without_segment_events_or_start_state_does_not_reveal_the_card);
    tcase_add_test(t, an_oom_after_a_start_state_reveals_the_start_reserved_plus_free);
    tcase_add_test(t, a_release_and_retry_bounds_the_card);
    tcase_add_test(t, a_retry_points_at_the_first_release_of_its_run);
    tcase_add_test(t, a_release_run_after_empty_cache_is_no_retry);
    tcase_add_test(t, a_release_run_under_a_garbage_collection_threshold_is_no_evidence);
    tcase_add_test(t, a_retry_under_a_memory_fraction_bounds_the_whole_card);
    tcase_add_test(t, the_start_state_is_counted_per_device);
    tcase_add_test(t, a_preload_without_a_limit_keeps_the_start_state);
    tcase_add_test(t, a_preload_over_the_limit_releases_the_free_segments_and_resets_the_peaks);
    tcase_add_test(t, a_preload_at_or_over_the_start_reserved_releases_nothing);
    tcase_add_test(t, a_preload_without_caching_makes_one_allocation_per_live_block);
    tcase_add_test(t, a_replay_starts_from_the_start_state);
    tcase_add_test(t, a_refused_alloc_is_a_probe_not_an_allocation);
    tcase_add_test(t, the_card_line_names_the_source_of_the_card);
    tcase_add_test(t, building_from_a_missing_trace_is_the_readers_error);
    tcase_add_test(t, devices_come_in_the_order_of_their_first_request);
    tcase_add_test(t, the_card_pass_over_summaries_decides_as_the_pass_over_every_event);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(scenario_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
