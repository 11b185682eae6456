/* Check suite for the snapshot importer (analyzer/import/import_snapshot.c) and for
 * validate (analyzer/diagnose/validate.c): small snapshots the project makes
 * (tests/data/snapshot/make.py) with known start states, and (with
 * --shared, test_shared.h) the real snapshots of the shared data. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gputrace/err.h"
#include "gputrace/scenario.h"
#include "gputrace/import.h"
#include "gputrace/schema.h"
#include "gputrace/trace.h"
#include "gputrace/validate.h"

#define MIB ((uint64_t)1 << 20)
#define SNAP GT_TEST_DATA "/snapshot/"

#include "test_shared.h"
#include "test_tmpdir.h"

static struct gt_validation *validate(const char *trace)
{
    struct gt_validation *v = NULL;
    char err[512];
    int rc = gt_validate_trace(trace, NULL, &v, err, sizeof(err));
    ck_assert_msg(rc == 0, "validate '%s': %s", trace, err);
    ck_assert_uint_eq(v->ndevices, 1);
    return v;
}

struct blocks {
    int n;
    struct gt_initial_block b[16];
};

static int collect(void *ctx, const struct gt_initial_block *b)
{
    struct blocks *x = ctx;
    if (x->n < 16)
        x->b[x->n] = *b;
    x->n++;
    return 0;
}

START_TEST(a_mid_run_snapshot_gets_its_start_state_rebuilt_by_the_rules)
{
    struct gt_import_summary sum;
    char err[512];
    const char *db = path_of("midrun.db");
    ck_assert_int_eq(gt_import_snapshot(SNAP "midrun.pickle", db, NULL, &sum, err, sizeof(err)), 0);
    ck_assert_int_eq(sum.initial_segments, 1);
    ck_assert_int_eq(sum.initial_reserved_bytes, (int64_t)(20 * MIB));
    /* A (4 MiB, survives) and B (freed in the trace: round_size(3,000,000)
     * = 3,000,320, not extended because 13,776,896 B > 1 MiB follow it and
     * nothing was allocated there while B lived) */
    ck_assert_int_eq(sum.initial_allocated_bytes, (int64_t)(4 * MIB + 3000320));
    ck_assert_int_eq(sum.inferred_empty_cache, 1);
    ck_assert_int_eq(sum.skipped_events, 3); /* the free_completed entries */

    struct gt_trace_reader *r;
    ck_assert_int_eq(gt_trace_open(db, &r, err, sizeof(err)), 0);
    struct blocks bl = {0};
    ck_assert_int_eq(gt_trace_initial_blocks(r, collect, &bl), 0);
    ck_assert_int_eq(bl.n, 3);
    ck_assert(bl.b[0].allocated && bl.b[0].size == 4 * MIB && bl.b[0].requested == 4000000);
    ck_assert(bl.b[1].allocated && bl.b[1].size == 3000320 && bl.b[1].requested == 3000000);
    ck_assert(!bl.b[2].allocated && bl.b[2].size == 13776896);
    ck_assert(!bl.b[0].small_pool && bl.b[0].segment_size == 20 * MIB);
    char conf[64];
    ck_assert_int_eq(gt_trace_meta(r, "alloc_conf", conf, sizeof(conf)), 0);
    ck_assert_str_eq(conf, "");
    gt_trace_close(r);

    struct gt_validation *v = validate(db);
    ck_assert_int_eq(v->devices[0].segment_events_real, 2);
    ck_assert_int_eq(v->devices[0].segment_events_matched, 2);
    ck_assert_int_eq(v->devices[0].first_divergence, -1);
    ck_assert_uint_eq(v->devices[0].peak_reserved_real, 22 * MIB);
    ck_assert_uint_eq(v->devices[0].peak_reserved_sim, 22 * MIB);
    ck_assert_int_eq(v->devices[0].unknown_frees, 0);
    /* the dump's S1 holds A and one free block; the replay ends the same */
    ck_assert_int_eq(v->devices[0].final_blocks_real, 2);
    ck_assert_int_eq(v->devices[0].final_blocks_matched, 2);
    free(v);
}
END_TEST

/* record_stream: a free that completes later keeps its block out of reach
 * in between (tests/data/snapshot/make.py derives the numbers). */
START_TEST(a_free_that_waits_on_other_streams_keeps_its_block_until_it_completes)
{
    struct gt_import_summary sum;
    char err[512];
    const char *db = path_of("pending.db");
    ck_assert_int_eq(
        gt_import_snapshot(SNAP "pending-free.pickle", db, NULL, &sum, err, sizeof(err)), 0);
    ck_assert_int_eq(sum.by_kind[GT_EV_FREE_REQUESTED], 1);
    ck_assert_int_eq(sum.by_kind[GT_EV_FREE_COMPLETED], 1);
    ck_assert_int_eq(sum.by_kind[GT_EV_FREE], 1); /* completed at once: one free */

    struct gt_validation *v = validate(db);
    const struct gt_validate_device *d = &v->devices[0];
    ck_assert_int_eq(d->segment_events_real, 2);
    ck_assert_int_eq(d->segment_events_sim, 2);
    ck_assert_int_eq(d->segment_events_matched, 2);
    ck_assert_uint_eq(d->peak_reserved_sim, 24 * MIB);
    ck_assert_int_eq(d->final_blocks_real, 2);
    ck_assert_int_eq(d->final_blocks_matched, 2);
    ck_assert_int_eq(d->unknown_frees, 0);
    free(v);
}
END_TEST

/* The same run with its first entries lost: a free requested before the
 * trace starts pending and completes in it (make.py derives the numbers). */
START_TEST(a_free_pending_before_the_trace_starts_pending_and_completes_in_it)
{
    struct gt_import_summary sum;
    char err[512];
    const char *db = path_of("pending-start.db");
    ck_assert_int_eq(
        gt_import_snapshot(SNAP "pending-start.pickle", db, NULL, &sum, err, sizeof(err)), 0);
    ck_assert_int_eq(sum.initial_segments, 2);
    ck_assert_int_eq(sum.initial_reserved_bytes, (int64_t)(24 * MIB));
    ck_assert_int_eq(sum.initial_allocated_bytes, 0); /* pending: active, not allocated */

    struct gt_scenario *scn = NULL;
    ck_assert_int_eq(gt_scenario_build(db, 0, &scn, err, sizeof err), 0);
    ck_assert_uint_eq(scn->devices[0].start_allocated, 0);
    ck_assert_uint_eq(scn->devices[0].start_pinned, 24 * MIB); /* pending blocks hold them */
    ck_assert_uint_eq(scn->nblocks, 2);
    ck_assert(scn->blocks[0].pending && scn->blocks[1].pending);
    gt_scenario_free(scn);

    struct gt_validation *v = validate(db);
    const struct gt_validate_device *d = &v->devices[0];
    ck_assert_int_eq(d->segment_events_real, 1);
    ck_assert_int_eq(d->segment_events_sim, 1);
    ck_assert_int_eq(d->segment_events_matched, 1);
    ck_assert_uint_eq(d->peak_reserved_sim, 36 * MIB);
    ck_assert_int_eq(d->final_blocks_real, 3);
    ck_assert_int_eq(d->final_blocks_matched, 3);
    ck_assert_int_eq(d->unknown_frees, 0);
    free(v);
}
END_TEST

/* validate reproduces every segment event of db in order (n of them), the
 * peak reserved memory, and the dump's blocks (blocks of them), with no
 * free of an unknown address. */
static void assert_replayed_exactly(const char *db, int64_t n, uint64_t peak, int64_t blocks)
{
    struct gt_validation *v = validate(db);
    const struct gt_validate_device *d = &v->devices[0];
    ck_assert_int_eq(d->segment_events_real, n);
    ck_assert_int_eq(d->segment_events_sim, n);
    ck_assert_int_eq(d->segment_events_matched, n);
    ck_assert_int_eq(d->first_divergence, -1);
    ck_assert_uint_eq(d->peak_reserved_real, peak);
    ck_assert_uint_eq(d->peak_reserved_sim, peak);
    ck_assert_int_eq(d->unknown_frees, 0);
    ck_assert_int_eq(d->final_blocks_real, blocks);
    ck_assert_int_eq(d->final_blocks_matched, blocks);
    free(v);
}

/* Expandable segments in the start state: tests/data/snapshot/make.py
 * (expandable-start.pickle) derives the events from the rules: the start
 * range [R, R+40 MiB) holds A (39.5 MiB) and a free 0.5 MiB tail; B maps 40
 * MiB behind it, empty_cache unmaps the first page after A's free, C maps
 * it again. */
START_TEST(an_expandable_start_state_grows_and_unmaps_by_the_rules)
{
    struct gt_import_summary sum;
    char err[512];
    const char *db = path_of("expandable-start.db");
    ck_assert_int_eq(
        gt_import_snapshot(SNAP "expandable-start.pickle", db, NULL, &sum, err, sizeof(err)), 0);
    /* the final 80 MiB range less the maps of 40 and 20 MiB, plus the
     * unmap of 20 MiB: 40 MiB */
    ck_assert_int_eq(sum.initial_segments, 1);
    ck_assert_int_eq(sum.initial_reserved_bytes, (int64_t)(40 * MIB));
    /* A alone: 39.5 MiB, round_size of its request (a multiple of 512) */
    ck_assert_int_eq(sum.initial_allocated_bytes, (int64_t)(39 * MIB + MIB / 2));
    ck_assert_int_eq(sum.inferred_empty_cache, 1);

    struct gt_trace_reader *r;
    ck_assert_int_eq(gt_trace_open(db, &r, err, sizeof(err)), 0);
    struct blocks bl = {0};
    ck_assert_int_eq(gt_trace_initial_blocks(r, collect, &bl), 0);
    gt_trace_close(r);
    ck_assert_int_eq(bl.n, 2);
    ck_assert(bl.b[0].expandable && bl.b[1].expandable);
    ck_assert(bl.b[0].allocated && bl.b[0].size == 39 * MIB + MIB / 2);
    ck_assert(!bl.b[1].allocated && bl.b[1].size == MIB / 2);
    ck_assert_uint_eq(bl.b[0].segment_size, 40 * MIB);

    /* map 40 MiB, unmap 20 MiB, map 20 MiB, each reproduced in order;
     * reserved 40, 80 after B's map, 60 after the unmap, 80 again; the end
     * C, free 9.5 MiB, B, free 15.5 MiB at their addresses, which only hold
     * when the reservation starts at R and A is not stretched */
    assert_replayed_exactly(db, 3, 80 * MIB, 4);
}
END_TEST

/* Private pools in the start state: tests/data/snapshot/make.py
 * (private-pool.pickle) derives the events: G (graph pool (1, 0)) and H
 * (MemPool (0, 1)) serve no default-pool request, so A needs a cudaMalloc;
 * empty_cache frees the default pool's SA, then H, whose pool the trace
 * shows given up, and keeps G. */
START_TEST(private_pool_segments_serve_no_other_request_and_go_with_their_pool)
{
    struct gt_import_summary sum;
    char err[512];
    const char *db = path_of("private-pool.db");
    ck_assert_int_eq(
        gt_import_snapshot(SNAP "private-pool.pickle", db, NULL, &sum, err, sizeof(err)), 0);
    ck_assert_int_eq(sum.initial_segments, 2);
    ck_assert_int_eq(sum.initial_reserved_bytes, (int64_t)(32 * MIB)); /* G 20 + H 12 */
    ck_assert_int_eq(sum.initial_allocated_bytes, (int64_t)(4 * MIB)); /* Y */

    struct gt_scenario *scn = NULL;
    ck_assert_int_eq(gt_scenario_build(db, 0, &scn, err, sizeof err), 0);
    ck_assert_uint_eq(scn->nblocks, 3); /* G: Y and its free rest; H: one free block */
    ck_assert(scn->blocks[0].pool_first == 1 && scn->blocks[0].pool_second == 0);
    ck_assert(scn->blocks[1].pool_first == 1 && !scn->blocks[1].pool_released);
    ck_assert(scn->blocks[2].pool_first == 0 && scn->blocks[2].pool_second == 1);
    ck_assert(scn->blocks[2].pool_released);
    gt_scenario_free(scn);

    /* segment_alloc 20, segment_free 20, segment_free 12 MiB, in order;
     * reserved 32 + SA's 20 at the peak; the end holds G as at the start */
    assert_replayed_exactly(db, 3, 52 * MIB, 2);
}
END_TEST

struct frame_seen {
    int n;
    char file[64], name[64];
    int64_t line;
};

static int first_frame(void *ctx, size_t depth, const struct gt_frame *f)
{
    struct frame_seen *s = ctx;
    if (depth == 0) {
        snprintf(s->file, sizeof(s->file), "%s", f->filename);
        snprintf(s->name, sizeof(s->name), "%s", f->name);
        s->line = f->line;
    }
    s->n++;
    return 0;
}

START_TEST(the_python_frames_of_an_allocation_are_kept)
{
    char err[512];
    const char *db = path_of("frames.db");
    ck_assert_int_eq(gt_import_snapshot(SNAP "midrun.pickle", db, NULL, NULL, err, sizeof(err)), 0);
    struct gt_trace_reader *r;
    ck_assert_int_eq(gt_trace_open(db, &r, err, sizeof(err)), 0);
    struct gt_event ev[16];
    size_t n = 0;
    ck_assert_int_eq(gt_trace_read(r, ev, 16, &n), 0);
    int64_t alloc_seq = 0;
    for (size_t i = 0; i < n && !alloc_seq; i++)
        if (ev[i].kind == GT_EV_ALLOC)
            alloc_seq = ev[i].seq;
    ck_assert_int_gt(alloc_seq, 0);
    struct frame_seen s = {0};
    ck_assert_int_eq(gt_trace_stack(r, alloc_seq, first_frame, &s), 0);
    ck_assert_int_eq(s.n, 1);
    ck_assert_str_eq(s.file, "train.py");
    ck_assert_str_eq(s.name, "forward");
    ck_assert_int_eq(s.line, 42);
    gt_trace_close(r);
}
END_TEST

START_TEST(frames_naming_empty_cache_make_a_release_an_empty_cache)
{
    struct gt_import_summary sum;
    char err[512];
    const char *db = path_of("ec.db");
    ck_assert_int_eq(
        gt_import_snapshot(SNAP "emptycache-frames.pickle", db, NULL, &sum, err, sizeof(err)), 0);
    ck_assert_int_eq(sum.inferred_empty_cache, 1);
    ck_assert_int_eq(sum.initial_segments, 0);
    struct gt_validation *v = validate(db);
    ck_assert_int_eq(v->devices[0].segment_events_real, 3);
    ck_assert_int_eq(v->devices[0].segment_events_matched, 3);
    free(v);
}
END_TEST

/* PyTorch 2.0 snapshots: no time_us, no allocator_settings, blocks with a
 * `history` ({addr, real_size}) instead of requested_size and no address. */
START_TEST(a_pytorch_2_0_snapshot_imports_with_its_legacy_block_history)
{
    struct gt_import_summary sum;
    char err[512], conf[64];
    const char *db = path_of("legacy.db");
    ck_assert_int_eq(gt_import_snapshot(SNAP "legacy20.pickle", db, NULL, &sum, err, sizeof(err)),
                     0);
    ck_assert_int_eq(sum.events, 2);
    ck_assert_int_eq(sum.initial_segments, 1);
    ck_assert_int_eq(sum.initial_allocated_bytes, (int64_t)(4 * MIB));
    struct gt_trace_reader *r;
    ck_assert_int_eq(gt_trace_open(db, &r, err, sizeof(err)), 0);
    /* the settings are unknown, not "default" */
    ck_assert_int_eq(gt_trace_meta(r, "alloc_conf", conf, sizeof(conf)), GT_ENOENT);
    struct blocks bl = {0};
    ck_assert_int_eq(gt_trace_initial_blocks(r, collect, &bl), 0);
    ck_assert_int_eq(bl.n, 2);
    ck_assert_uint_eq(bl.b[0].requested, 4000000); /* from history[-1].real_size */
    ck_assert_uint_eq(bl.b[1].addr, bl.b[0].addr + 4 * MIB);
    gt_trace_close(r);
    struct gt_validation *v = validate(db);
    ck_assert(!v->conf_recorded);
    ck_assert_int_eq(v->devices[0].final_blocks_matched, 2);
    ck_assert_int_eq(v->devices[0].final_blocks_real, 2);
    free(v);
}
END_TEST

START_TEST(a_pickle_that_is_not_a_snapshot_is_refused_and_leaves_nothing)
{
    char err[512];
    const char *db = path_of("no.db");
    ck_assert_int_eq(
        gt_import_snapshot(SNAP "notasnapshot.pickle", db, NULL, NULL, err, sizeof(err)),
        GT_EFOREIGN);
    ck_assert_ptr_nonnull(strstr(err, "not a PyTorch memory snapshot"));
    ck_assert_int_ne(access(db, F_OK), 0);
}
END_TEST

/* A byte count or time that is not one is an error naming where it is,
 * never read as 0 or as a size near 2^64. */
START_TEST(numbers_that_are_not_byte_counts_are_errors_naming_them)
{
    static const char *const names[] = {"float", "string", "negative", "time"};
    char err[512], path[256];
    const char *db = path_of("bad.db");
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, SNAP "badnumbers-%s.pickle", names[i]);
        ck_assert_int_eq(gt_import_snapshot(path, db, NULL, NULL, err, sizeof(err)), GT_EINVAL);
        ck_assert_msg(strstr(err, i < 3 ? "device_traces[0][1]: 'size' is not a count of bytes"
                                        : "time_us 1152921504606846976 is out of range") != NULL,
                      "%s: %s", names[i], err);
        ck_assert_int_ne(access(db, F_OK), 0);
    }
}
END_TEST

/* Recorded settings the simulator cannot read are named at import, where
 * --alloc-conf can still replace them, not stored to fail later. */
START_TEST(recorded_settings_that_do_not_parse_are_named_at_import)
{
    char err[512];
    const char *db = path_of("bad.db");
    struct gt_import_options o = {"expandable_segments:True", NULL, 0};
    ck_assert_int_eq(
        gt_import_snapshot(SNAP "badsettings.pickle", db, NULL, NULL, err, sizeof(err)), GT_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "PYTORCH_CUDA_ALLOC_CONF 'max_split_size_mb:banana' is not"));
    ck_assert_int_ne(access(db, F_OK), 0);
    ck_assert_int_eq(gt_import_snapshot(SNAP "badsettings.pickle", db, &o, NULL, err, sizeof(err)),
                     0);
}
END_TEST

/* A list or event the pickle shares through its memo (a few bytes that
 * would become many events) is refused, keeping the work bounded by the
 * file. */
START_TEST(a_shared_trace_or_event_is_refused)
{
    char err[512];
    const char *db = path_of("bad.db");
    ck_assert_int_eq(
        gt_import_snapshot(SNAP "shared-trace.pickle", db, NULL, NULL, err, sizeof(err)),
        GT_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "device_traces[1][0] is the same object as an earlier one"));
    ck_assert_int_eq(
        gt_import_snapshot(SNAP "shared-event.pickle", db, NULL, NULL, err, sizeof(err)),
        GT_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "device_traces[0][1] is the same object as an earlier one"));
    ck_assert_int_ne(access(db, F_OK), 0);
}
END_TEST

/* Segments that share memory are a damaged file, named as such (they were
 * read as more memory reserved than a card had). */
START_TEST(overlapping_segments_are_an_error_naming_them)
{
    char err[512];
    const char *db = path_of("bad.db");
    ck_assert_int_eq(gt_import_snapshot(SNAP "overlap.pickle", db, NULL, NULL, err, sizeof(err)),
                     GT_EINVAL);
    ck_assert_str_eq(err, "segments[0] and segments[1] overlap on device 0 at 0x7f1000200000");
    ck_assert_int_ne(access(db, F_OK), 0);
}
END_TEST

START_TEST(a_hostile_pickle_is_refused_without_running_anything)
{
    char err[512];
    const char *db = path_of("evil.db");
    int rc = gt_import_snapshot(GT_TEST_DATA "/pickle/evil_reduce_p4.pickle", db, NULL, NULL, err,
                                sizeof(err));
    ck_assert_int_eq(rc, GT_EUNSUPPORTED);
    ck_assert_msg(strstr(err, "refused") != NULL, "message: %s", err);
    ck_assert_int_ne(access(db, F_OK), 0);
}
END_TEST

START_TEST(the_cold_start_snapshot_replays_every_segment_event)
{
    char err[512];
    const char *db = path_of("cold.db");
    ck_assert_int_eq(gt_import_snapshot(GT_SHARED_TRACES
                                        "/snap-attention-coldstart-tiny/mem_snapshot.pickle",
                                        db, NULL, NULL, err, sizeof(err)),
                     0);
    struct gt_validation *v = validate(db);
    ck_assert_int_eq(v->devices[0].segment_events_real, 9);
    ck_assert_int_eq(v->devices[0].segment_events_matched, 9);
    ck_assert_int_eq(v->devices[0].segment_events_sim, 9);
    ck_assert_uint_eq(v->devices[0].peak_reserved_real, v->devices[0].peak_reserved_sim);
    ck_assert_uint_eq(v->devices[0].peak_reserved_real, 3781165056u);
    ck_assert_int_eq(v->devices[0].final_blocks_matched, v->devices[0].final_blocks_real);
    ck_assert_int_eq(v->devices[0].final_blocks_real, 20);
    free(v);
}
END_TEST

/* Every shared snapshot imports, and replaying it from its rebuilt start
 * state needs no segment the real allocator did not make (the warm-pool files
 * make none, as in the real runs), every request finds its block, and the
 * replay ends in the dump's state block for block. */
START_TEST(every_shared_snapshot_imports_and_replays_like_the_real_allocator)
{
    static const char *const files[] = {
        "snap-cs336-medium-train-ctx128/medium_128_training_memory_snapshot.pickle",
        "snap-cs336-medium-train-ctx256/medium_256_training_memory_snapshot.pickle",
        "snap-cs336-medium-train-ctx1024/medium_1024_training_memory_snapshot.pickle",
        "snap-cs336-medium-infer-ctx1024/medium_1024_inference_memory_snapshot.pickle",
        "snap-cs336-large-fullstep-ctx256/memory_snapshot.pickle",
        "snap-cs336-xl-forward-bf16/memory_snapshot_forward.pickle",
        "snap-cs336-xl-forward-fp32/memory_snapshot_forward_without_mixed.pickle",
        "snap-cs336-small-compiled-step/memory_snapshot.pickle",
    };
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
        char path[512], err[512];
        snprintf(path, sizeof(path), "%s/%s", GT_SHARED_TRACES, files[i]);
        const char *db = path_of("shared.db");
        unlink(db);
        struct gt_import_summary sum;
        int rc = gt_import_snapshot(path, db, NULL, &sum, err, sizeof(err));
        ck_assert_msg(rc == 0, "%s: %s", files[i], err);
        ck_assert_msg(sum.initial_segments > 0, "%s: no start state", files[i]);
        struct gt_validation *v = validate(db);
        const struct gt_validate_device *d = &v->devices[0];
        ck_assert_msg(d->segment_events_real == 0 && d->segment_events_sim == 0,
                      "%s: %lld real, %lld simulated segment events", files[i],
                      (long long)d->segment_events_real, (long long)d->segment_events_sim);
        ck_assert_msg(d->unknown_frees == 0, "%s: %lld frees of unknown blocks", files[i],
                      (long long)d->unknown_frees);
        /* docs/notes/pytorch-allocator.md §20.3's check: after the replay, the simulated blocks
         * equal the dump's, block for block */
        ck_assert_msg(d->final_blocks_real > 0 && d->final_blocks_matched == d->final_blocks_real,
                      "%s: %lld of %lld blocks of the dump reproduced", files[i],
                      (long long)d->final_blocks_matched, (long long)d->final_blocks_real);
        ck_assert_int_eq(d->ooms_sim, 0);
        free(v);
    }
}
END_TEST

static Suite *snapshot_suite(void)
{
    Suite *s = suite_create("snapshot");
    TCase *t = tcase_create("import+validate");
    tcase_add_checked_fixture(t, make_dir, remove_dir);
    tcase_set_timeout(t, 300);
    tcase_add_test(t, a_mid_run_snapshot_gets_its_start_state_rebuilt_by_the_rules);
    tcase_add_test(t, a_free_that_waits_on_other_streams_keeps_its_block_until_it_completes);
    tcase_add_test(t, a_free_pending_before_the_trace_starts_pending_and_completes_in_it);
    tcase_add_test(t, an_expandable_start_state_grows_and_unmaps_by_the_rules);
    tcase_add_test(t, private_pool_segments_serve_no_other_request_and_go_with_their_pool);
    tcase_add_test(t, the_python_frames_of_an_allocation_are_kept);
    tcase_add_test(t, numbers_that_are_not_byte_counts_are_errors_naming_them);
    tcase_add_test(t, recorded_settings_that_do_not_parse_are_named_at_import);
    tcase_add_test(t, overlapping_segments_are_an_error_naming_them);
    tcase_add_test(t, a_shared_trace_or_event_is_refused);
    tcase_add_test(t, frames_naming_empty_cache_make_a_release_an_empty_cache);
    tcase_add_test(t, a_pytorch_2_0_snapshot_imports_with_its_legacy_block_history);
    tcase_add_test(t, a_pickle_that_is_not_a_snapshot_is_refused_and_leaves_nothing);
    tcase_add_test(t, a_hostile_pickle_is_refused_without_running_anything);
    suite_add_tcase(s, t);
    return s;
}

static Suite *snapshot_shared_suite(void)
{
    Suite *s = suite_create("snapshot_shared");
    TCase *t = tcase_create("shared traces");
    tcase_add_checked_fixture(t, make_dir, remove_dir);
    tcase_set_timeout(t, 300);
    tcase_add_test(t, the_cold_start_snapshot_replays_every_segment_event);
    tcase_add_test(t, every_shared_snapshot_imports_and_replays_like_the_real_allocator);
    suite_add_tcase(s, t);
    return s;
}

int main(int argc, char **argv)
{
    return shared_main(argc, argv, snapshot_suite, snapshot_shared_suite);
}
