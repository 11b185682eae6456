/* Check suite for growth across iterations (growth.c): constructed loops
 * whose iterations, boundaries and growth are derived by hand in each test
 * (tests/data/iterations-leak/README derives the golden case's). */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gputrace/err.h"
#include "gputrace/growth.h"
#include "gputrace/import.h"
#include "gputrace/inspect.h"
#include "gputrace/peak.h"
#include "gputrace/scenario.h"
#include "gputrace/stats.h"
#include "test_tmpdir.h"

#include "gputrace/banned.h"

#define MIB ((uint64_t)1 << 20)

static char trace_path[PATH_MAX + 16];

/* steps iterations of: alloc 1 MiB, alloc 2 MiB, free both, alloc 3 MiB
 * (freed at the end of the step unless kept), on stream 0 of device 0. */
static void make_loop(int steps, bool keep)
{
    char csv[PATH_MAX + 16], err[256];
    snprintf(csv, sizeof csv, "%s/t.csv", dir);
    snprintf(trace_path, sizeof trace_path, "%s/t.db", dir);
    FILE *f = fopen(csv, "w");
    ck_assert_ptr_nonnull(f);
    fputs("ts_ns,action,addr,size,stream,device\n", f);
    long t = 0;
    for (int k = 0; k < steps; k++) {
        unsigned long long a = 0x7f0000000000ull + (unsigned long long)k * 0x10000000ull;
        fprintf(f, "%ld,alloc,0x%llx,%llu,0,0\n", t += 1000, a, (unsigned long long)MIB);
        fprintf(f, "%ld,alloc,0x%llx,%llu,0,0\n", t += 1000, a + 0x1000000,
                (unsigned long long)(2 * MIB));
        fprintf(f, "%ld,free,0x%llx,,0,0\n", t += 1000, a);
        fprintf(f, "%ld,free,0x%llx,,0,0\n", t += 1000, a + 0x1000000);
        fprintf(f, "%ld,alloc,0x%llx,%llu,0,0\n", t += 1000, a + 0x2000000,
                (unsigned long long)(3 * MIB));
        if (!keep)
            fprintf(f, "%ld,free,0x%llx,,0,0\n", t += 1000, a + 0x2000000);
    }
    fclose(f);
    ck_assert_msg(gt_import_csv_with(csv, trace_path, NULL, NULL, err, sizeof err) == 0, "%s", err);
}

static struct gt_growth *growth(void)
{
    struct gt_scenario *scn = NULL;
    struct gt_growth *g = NULL;
    char err[512] = "";
    ck_assert_int_eq(gt_scenario_build(trace_path, 0, &scn, err, sizeof err), 0);
    ck_assert_msg(gt_growth_compute(trace_path, scn, "default", 0, &g, err, sizeof err) == 0, "%s",
                  err);
    gt_scenario_free(scn);
    return g;
}

START_TEST(a_kept_tensor_per_step_is_steady_growth_with_its_allocations)
{
    make_loop(8, true);
    struct gt_growth *g = growth();
    const struct gt_growth_device *d = &g->devices[0];
    /* 3 allocation requests a step, all repeating; a step starts where the
     * least is allocated: before its 1 MiB request, with the k kept 3 MiB
     * blocks of the earlier steps; 5 events a step */
    ck_assert(d->found);
    ck_assert_uint_eq(d->period, 3);
    ck_assert_uint_eq(d->iterations, 8);
    for (size_t k = 0; k < 8; k++) {
        ck_assert_int_eq(d->boundary[k], (int64_t)(5 * k));
        ck_assert_uint_eq(d->allocated[k], 3 * MIB * k);
    }
    ck_assert(d->growth_per_iteration == (double)(3 * MIB));
    ck_assert(d->leak);
    /* kept by steps 2..7 (made after event 5, before event 35) */
    ck_assert_uint_eq(d->kept_allocs, 6);
    ck_assert_uint_eq(d->kept_bytes, 18 * MIB);
    ck_assert_uint_eq(d->ngroups, 1);
    ck_assert_uint_eq(d->groups[0].count, 6);
    gt_growth_free(g);
}
END_TEST

/* stats --top --iterations (gt_stats_compute_with): the stats' replay of
 * the config is also the first of the peak and of the growth, which then
 * replay once more each: three replays, where each alone makes one, two
 * and two; and they find what each finds alone. */
START_TEST(stats_with_the_peak_and_the_growth_replay_three_times_and_agree_with_each_alone)
{
    struct gt_stats_options o = {.peak = true, .growth = true};
    struct gt_scenario *scn = NULL;
    struct gt_stats *s = NULL;
    struct gt_peak_live *p = NULL;
    char err[512] = "";
    long before;

    make_loop(8, true);
    ck_assert_int_eq(gt_scenario_build(trace_path, 0, &scn, err, sizeof err), 0);
    before = gt_inspect_runs();
    ck_assert_msg(gt_stats_compute_with(trace_path, scn, &o, &s, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(gt_inspect_runs() - before, 3);
    ck_assert_ptr_nonnull(s->peak);
    ck_assert_ptr_nonnull(s->growth);

    struct gt_growth *g = growth();
    const struct gt_growth_device *d = &g->devices[0], *sd = &s->growth->devices[0];
    ck_assert(sd->found);
    ck_assert_uint_eq(sd->period, d->period);
    ck_assert_uint_eq(sd->iterations, d->iterations);
    for (size_t k = 0; k < d->iterations; k++) {
        ck_assert_int_eq(sd->boundary[k], d->boundary[k]);
        ck_assert_uint_eq(sd->allocated[k], d->allocated[k]);
    }
    ck_assert_uint_eq(sd->kept_bytes, d->kept_bytes);
    ck_assert_uint_eq(sd->ngroups, d->ngroups);
    before = gt_inspect_runs();
    ck_assert_msg(gt_peak_live_compute(trace_path, scn, s->config, 0, &p, err, sizeof err) == 0,
                  "%s", err);
    ck_assert_int_eq(gt_inspect_runs() - before, 2);
    ck_assert_int_eq(s->peak->devices[0].event, p->devices[0].event);
    ck_assert_uint_eq(s->peak->devices[0].reserved, p->devices[0].reserved);
    ck_assert_uint_eq(s->peak->devices[0].reserved, s->devices[0].peak_reserved);
    ck_assert_uint_eq(s->peak->devices[0].allocs, p->devices[0].allocs);
    ck_assert_uint_eq(s->peak->devices[0].ngroups, p->devices[0].ngroups);
    gt_peak_live_free(p);
    gt_growth_free(g);
    gt_stats_free(s);
    gt_scenario_free(scn);
}
END_TEST

START_TEST(a_loop_that_frees_what_it_allocates_is_steady)
{
    make_loop(8, false);
    struct gt_growth *g = growth();
    const struct gt_growth_device *d = &g->devices[0];
    /* 6 events a step now; every boundary at 0 allocated */
    ck_assert(d->found);
    ck_assert_uint_eq(d->period, 3);
    ck_assert_uint_eq(d->iterations, 8);
    ck_assert_int_eq(d->boundary[7], 42);
    ck_assert_uint_eq(d->allocated[7], 0);
    ck_assert(d->growth_per_iteration == 0);
    ck_assert(!d->leak);
    ck_assert_uint_eq(d->kept_allocs, 0);
    gt_growth_free(g);
}
END_TEST

START_TEST(requests_that_do_not_repeat_have_no_iteration)
{
    char csv[PATH_MAX + 16], err[256];
    snprintf(csv, sizeof csv, "%s/t.csv", dir);
    snprintf(trace_path, sizeof trace_path, "%s/t.db", dir);
    FILE *f = fopen(csv, "w");
    ck_assert_ptr_nonnull(f);
    fputs("ts_ns,action,addr,size,stream,device\n", f);
    /* every size different: nothing recurs */
    for (int i = 0; i < 40; i++)
        fprintf(f, "%d,alloc,0x%llx,%d,0,0\n", 1000 * (i + 1),
                0x7f0000000000ull + (unsigned long long)i * 0x100000ull, 512 * (i + 1));
    fclose(f);
    ck_assert_msg(gt_import_csv_with(csv, trace_path, NULL, NULL, err, sizeof err) == 0, "%s", err);
    struct gt_growth *g = growth();
    ck_assert(!g->devices[0].found);
    ck_assert_uint_eq(g->devices[0].allocs, 40);
    ck_assert(!g->devices[0].leak);
    gt_growth_free(g);
}
END_TEST

START_TEST(three_steps_are_found_but_too_few_to_call_a_leak)
{
    make_loop(3, true);
    struct gt_growth *g = growth();
    ck_assert(g->devices[0].found);
    ck_assert_uint_eq(g->devices[0].iterations, 3);
    ck_assert(!g->devices[0].leak); /* two boundaries after the first */
    gt_growth_free(g);
}
END_TEST

static Suite *growth_suite(void)
{
    Suite *s = suite_create("growth");
    TCase *tc = tcase_create("iterations");
    tcase_add_checked_fixture(tc, make_dir, remove_dir);
    tcase_add_test(tc, a_kept_tensor_per_step_is_steady_growth_with_its_allocations);
    tcase_add_test(tc,
                   stats_with_the_peak_and_the_growth_replay_three_times_and_agree_with_each_alone);
    tcase_add_test(tc, a_loop_that_frees_what_it_allocates_is_steady);
    tcase_add_test(tc, requests_that_do_not_repeat_have_no_iteration);
    tcase_add_test(tc, three_steps_are_found_but_too_few_to_call_a_leak);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(growth_suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
