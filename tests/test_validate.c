/* Check suite for `validate` (analyzer/validate.c) end to end: real
 * recordings imported with the real importers and replayed. Pins the
 * results of docs/validation.md, including the explained divergences. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gputrace/err.h"
#include "gputrace/import.h"
#include "gputrace/trace.h"
#include "gputrace/validate.h"

#define MIB ((uint64_t)1 << 20)
#define TRUTH GT_TEST_DATA "/gpu-h100/truth/"

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

/* The H100 ground truth through the whole pipeline: CSV import with the
 * run's settings and card, then validate with lent addresses. Every segment
 * event of every run is reproduced, roundup_power2_divisions:4 included
 * (its one equal-size tie needs the real addresses). */
START_TEST(every_h100_run_validates_with_every_segment_event)
{
    static const struct {
        const char *name, *conf;
        int64_t segment_events;
    } runs[] = {
        {"default", "", 117},
        {"split64", "max_split_size_mb:64", 173},
        {"expandable", "expandable_segments:True", 85},
        {"roundup4", "roundup_power2_divisions:4", 133},
        {"gc-capped",
         "garbage_collection_threshold:0.6,per_process_memory_fraction:0.026691251735070677", 63},
        {"split64-capped", "max_split_size_mb:64,per_process_memory_fraction:0.022476843567613442",
         67},
    };
    for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
        char csv[512], err[512];
        snprintf(csv, sizeof(csv), TRUTH "%s.csv", runs[i].name);
        struct gt_import_options o = {runs[i].conf, "NVIDIA H100 80GB HBM3", 85017493504ull};
        const char *db = path_of("h100.db");
        unlink(db);
        ck_assert_msg(gt_import_csv_with(csv, db, &o, NULL, err, sizeof(err)) == 0, "%s", err);
        struct gt_validation *v = validate(db);
        const struct gt_validate_device *d = &v->devices[0];
        ck_assert_msg(d->segment_events_real == runs[i].segment_events &&
                          d->segment_events_matched == runs[i].segment_events &&
                          d->segment_events_sim == runs[i].segment_events,
                      "%s: %lld real, %lld sim, %lld matched", runs[i].name,
                      (long long)d->segment_events_real, (long long)d->segment_events_sim,
                      (long long)d->segment_events_matched);
        ck_assert_uint_eq(d->peak_reserved_real, d->peak_reserved_sim);
        ck_assert_int_eq(d->ooms_real, d->ooms_sim);
        free(v);
    }
}
END_TEST

static int shared_present(void)
{
    struct stat st;
    if (stat(GT_SHARED_TRACES, &st) == 0 && S_ISDIR(st.st_mode))
        return 1;
    printf("skipped: no shared traces at %s\n", GT_SHARED_TRACES);
    return 0;
}

static struct gt_validation *import_chrome_and_validate(const char *file)
{
    char path[512], err[512];
    snprintf(path, sizeof(path), "%s/%s", GT_SHARED_TRACES, file);
    const char *db = path_of("chrome.db");
    unlink(db);
    ck_assert_msg(gt_import_chrome(path, db, NULL, NULL, err, sizeof(err)) == 0, "%s", err);
    return validate(db);
}

START_TEST(a_profiler_trace_of_a_small_model_matches_every_allocated_total)
{
    if (!shared_present())
        return;
    struct gt_validation *v =
        import_chrome_and_validate("chrome-bert-small-h100-infer/"
                                   "gaunernst_bert-small-uncased__1016001.json.gz");
    ck_assert_int_eq(v->devices[0].totals_events, 218);
    ck_assert_int_eq(v->devices[0].totals_matched, 218);
    ck_assert_int_eq(v->devices[0].first_totals_mismatch, -1);
    free(v);
}
END_TEST

struct first_totals {
    int64_t allocated, reserved;
    int seen;
};

static int take_first(void *ctx, int64_t seq, int64_t allocated, int64_t reserved)
{
    struct first_totals *f = ctx;
    (void)seq;
    if (!f->seen++) {
        f->allocated = allocated;
        f->reserved = reserved;
    }
    return 0;
}

/* Pinned explanation of the Qwen divergence: the profiled step ran on a warm
 * cache the trace does not record (Total Reserved exceeds Total Allocated
 * before its first event), so where the real allocator split a 17.47 MiB
 * block off a larger cached one, the simulator, starting empty, made an
 * 18 MiB segment and handed it out whole (MIRRORS: should_split, a large
 * remainder of 1 MiB or less is not split). */
START_TEST(a_warm_cache_profiler_trace_diverges_where_the_empty_simulator_cannot_split)
{
    if (!shared_present())
        return;
    struct gt_validation *v = import_chrome_and_validate("chrome-qwen1.5-0.5b-h100-infer/"
                                                         "Qwen_Qwen1.5-0.5B-Chat__1016005.json.gz");
    const struct gt_validate_device *d = &v->devices[0];
    ck_assert_int_eq(d->totals_events, 2250);
    ck_assert_int_eq(d->first_totals_mismatch, 46);
    ck_assert_uint_gt(d->totals_block_at, d->totals_bytes_at);
    ck_assert_uint_le(d->totals_block_at - d->totals_bytes_at, MIB);
    ck_assert_uint_eq(d->totals_block_at % (2 * MIB), 0); /* a whole new segment */
    free(v);

    struct gt_trace_reader *r;
    char err[512];
    ck_assert_int_eq(gt_trace_open(path_of("chrome.db"), &r, err, sizeof(err)), 0);
    struct first_totals f = {0, 0, 0};
    ck_assert_int_eq(gt_trace_totals(r, take_first, &f), 0);
    ck_assert_int_gt(f.reserved - f.allocated, (int64_t)(1000 * MIB)); /* a warm cache */
    gt_trace_close(r);
}
END_TEST

/* Pinned explanation of the TimeSformer divergence: the same cause as Qwen's.
 * At event 84 the simulator, whose cache holds only what the trace made,
 * served 36.75 MiB from a cached 36.76 MiB block whole (a remainder of 1 MiB
 * or less is not split), where the real allocator's warm cache (reserved
 * exceeds allocated before the first event) had a block that fit exactly. */
START_TEST(the_timesformer_divergence_is_an_unsplit_remainder_of_a_warm_cache)
{
    if (!shared_present())
        return;
    struct gt_validation *v = import_chrome_and_validate(
        "chrome-timesformer-h100-infer/facebook_timesformer-base-finetuned-k400__1016002.json.gz");
    const struct gt_validate_device *d = &v->devices[0];
    ck_assert_int_eq(d->totals_events, 1206);
    ck_assert_int_eq(d->first_totals_mismatch, 84);
    ck_assert_uint_gt(d->totals_block_at, d->totals_bytes_at);
    ck_assert_uint_le(d->totals_block_at - d->totals_bytes_at, MIB);
    ck_assert_int_eq(d->totals_sim_at - d->totals_real_at,
                     (int64_t)(d->totals_block_at - d->totals_bytes_at));
    free(v);

    struct gt_trace_reader *r;
    char err[512];
    ck_assert_int_eq(gt_trace_open(path_of("chrome.db"), &r, err, sizeof(err)), 0);
    struct first_totals f = {0, 0, 0};
    ck_assert_int_eq(gt_trace_totals(r, take_first, &f), 0);
    ck_assert_int_gt(f.reserved, f.allocated);
    gt_trace_close(r);
}
END_TEST

START_TEST(a_trace_without_real_decisions_validates_to_counts_not_an_error)
{
    char err[512];
    const char *db = path_of("gen.db");
    ck_assert_int_eq(
        gt_import_csv(GT_TEST_DATA "/small-alloc/trace.csv", db, NULL, err, sizeof(err)), 0);
    struct gt_validation *v = validate(db);
    ck_assert_int_eq(v->devices[0].segment_events_real, 0);
    ck_assert_int_eq(v->devices[0].totals_events, 0);
    ck_assert(!v->conf_recorded);
    free(v);
}
END_TEST

START_TEST(validating_a_missing_or_foreign_file_is_an_error)
{
    struct gt_validation *v = NULL;
    char err[512];
    ck_assert_int_eq(gt_validate_trace(path_of("nothere.db"), NULL, &v, err, sizeof(err)),
                     GT_ENOENT);
    ck_assert_ptr_null(v);
    ck_assert_int_eq(gt_validate_trace(TRUTH "default.csv", NULL, &v, err, sizeof(err)),
                     GT_EFOREIGN);
    ck_assert_ptr_null(v);
}
END_TEST

static Suite *validate_suite(void)
{
    Suite *s = suite_create("validate");
    TCase *t = tcase_create("recordings");
    tcase_add_checked_fixture(t, make_dir, remove_dir);
    tcase_set_timeout(t, 300);
    tcase_add_test(t, every_h100_run_validates_with_every_segment_event);
    tcase_add_test(t, a_profiler_trace_of_a_small_model_matches_every_allocated_total);
    tcase_add_test(t, a_warm_cache_profiler_trace_diverges_where_the_empty_simulator_cannot_split);
    tcase_add_test(t, the_timesformer_divergence_is_an_unsplit_remainder_of_a_warm_cache);
    tcase_add_test(t, a_trace_without_real_decisions_validates_to_counts_not_an_error);
    tcase_add_test(t, validating_a_missing_or_foreign_file_is_an_error);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(validate_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
