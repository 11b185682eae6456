/* Tests of peak.h: what is live at the reserved peak, by call stack. The
 * groups must add up to what stats reports at that same peak (one truth),
 * come largest first, and keep the start state apart. */
#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gputrace/err.h"
#include "gputrace/import.h"
#include "gputrace/peak.h"
#include "gputrace/scenario.h"
#include "gputrace/stats.h"

#include "gputrace/banned.h"

#include "test_shared.h"
#include "test_tmpdir.h"

#define SHARED_SNAPSHOT                                                                            \
    GT_SHARED_TRACES "/snap-cs336-medium-train-ctx128/medium_128_training_memory_snapshot.pickle"

static void check_against_stats(const char *pickle)
{
    char err[512] = "";
    const char *db = path_of("peak.db");
    struct gt_scenario *scn = NULL;
    struct gt_stats *s = NULL;
    struct gt_peak_live *p = NULL;

    unlink(db);
    ck_assert_msg(gt_import_snapshot(pickle, db, NULL, NULL, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(gt_scenario_build(db, 0, &scn, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(gt_stats_compute(db, scn, &s, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(gt_peak_live_compute(db, scn, s->config, 0, &p, err, sizeof err) == 0, "%s", err);
    ck_assert_uint_eq(p->ndevices, s->ndevices);
    for (size_t i = 0; i < p->ndevices; i++) {
        const struct gt_peak_device *d = &p->devices[i];
        uint64_t blocks = 0;
        size_t count = 0;
        ck_assert_uint_eq(d->reserved, s->devices[i].peak_reserved);
        ck_assert_uint_eq(d->ngroups, d->ngroups_total);
        for (size_t k = 0; k < d->ngroups; k++) {
            blocks += d->groups[k].blocks;
            count += d->groups[k].count;
            if (k > 0)
                ck_assert_uint_ge(d->groups[k - 1].blocks, d->groups[k].blocks);
        }
        ck_assert_uint_eq(blocks, d->allocated);
        ck_assert_uint_eq(count, d->allocs);
    }
    gt_peak_live_free(p);
    /* --top keeps the largest */
    ck_assert_int_eq(gt_peak_live_compute(db, scn, s->config, 1, &p, err, sizeof err), 0);
    ck_assert_uint_eq(p->devices[0].ngroups, 1);
    gt_peak_live_free(p);
    gt_stats_free(s);
    gt_scenario_free(scn);
}

/* midrun.pickle: at the peak, block A (4 MiB) is live from before the
 * trace, next to the trace's own allocation made at train.py:42. */
START_TEST(the_groups_add_up_to_the_peak_every_command_reports)
{
    check_against_stats(GT_TEST_DATA "/snapshot/midrun.pickle");
}
END_TEST

/* The same on a real training step of ../shared (test_peak --shared). */
START_TEST(the_groups_add_up_to_the_peak_of_a_real_training_step)
{
    check_against_stats(SHARED_SNAPSHOT);
}
END_TEST

START_TEST(the_start_state_and_the_stacks_are_told_apart)
{
    char err[512] = "";
    const char *db = path_of("mid.db");
    struct gt_scenario *scn = NULL;
    struct gt_peak_live *p = NULL;
    bool start = false, stack = false;

    unlink(db);
    ck_assert_int_eq(
        gt_import_snapshot(GT_TEST_DATA "/snapshot/midrun.pickle", db, NULL, NULL, err, sizeof err),
        0);
    ck_assert_int_eq(gt_scenario_build(db, 0, &scn, err, sizeof err), 0);
    ck_assert_msg(gt_peak_live_compute(db, scn, "default", 0, &p, err, sizeof err) == 0, "%s", err);
    for (size_t k = 0; k < p->devices[0].ngroups; k++) {
        const struct gt_peak_group *g = &p->devices[0].groups[k];
        if (g->origin == GT_PEAK_START)
            start = true;
        if (g->origin == GT_PEAK_STACK) {
            stack = true;
            ck_assert_str_eq(g->frames[0].file, "train.py");
            ck_assert_int_eq(g->frames[0].line, 42);
            ck_assert_str_eq(g->frames[0].function, "forward");
        }
    }
    ck_assert(start && stack);
    gt_peak_live_free(p);
    ck_assert_int_eq(gt_peak_live_compute(db, scn, "banana:1", 0, &p, err, sizeof err), GT_EINVAL);
    ck_assert_ptr_null(p);
    gt_peak_live_free(NULL);
    gt_scenario_free(scn);
}
END_TEST

/* peak's groups and oom's lists share this rule: a frame under lib/python
 * is the standard library's or an installed package's, not the user's. */
START_TEST(a_frame_under_lib_python_is_library_code_not_the_users)
{
    ck_assert_int_eq(gt_peak_classify_frame("/home/me/train.py"), GT_PEAK_FRAME_USER);
    ck_assert_int_eq(gt_peak_classify_frame("train.py"), GT_PEAK_FRAME_USER);
    ck_assert_int_eq(gt_peak_classify_frame("/usr/lib/python3.12/contextlib.py"),
                     GT_PEAK_FRAME_LIBRARY);
    ck_assert_int_eq(gt_peak_classify_frame("/venv/lib/python3.12/site-packages/torch/nn/"
                                            "functional.py"),
                     GT_PEAK_FRAME_LIBRARY);
    ck_assert_int_eq(gt_peak_classify_frame("/opt/site-packages/einops/einops.py"),
                     GT_PEAK_FRAME_LIBRARY);
    ck_assert_int_eq(gt_peak_classify_frame("/usr/lib/python3/dist-packages/numpy/core.py"),
                     GT_PEAK_FRAME_LIBRARY);
    ck_assert_int_eq(gt_peak_classify_frame("c10/cuda/CUDACachingAllocator.cpp"),
                     GT_PEAK_FRAME_OTHER);
    ck_assert_int_eq(gt_peak_classify_frame("??"), GT_PEAK_FRAME_OTHER);
    ck_assert_int_eq(gt_peak_classify_frame(""), GT_PEAK_FRAME_OTHER);
    ck_assert_int_eq(gt_peak_classify_frame(NULL), GT_PEAK_FRAME_OTHER);
}
END_TEST

static Suite *peak_suite(void)
{
    Suite *s = suite_create("peak");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, make_dir, remove_dir);
    tcase_add_test(tc, the_groups_add_up_to_the_peak_every_command_reports);
    tcase_add_test(tc, the_start_state_and_the_stacks_are_told_apart);
    tcase_add_test(tc, a_frame_under_lib_python_is_library_code_not_the_users);
    suite_add_tcase(s, tc);
    return s;
}

static Suite *peak_shared_suite(void)
{
    Suite *s = suite_create("peak_shared");
    TCase *tc = tcase_create("shared traces");

    tcase_set_timeout(tc, 120);
    tcase_add_checked_fixture(tc, make_dir, remove_dir);
    tcase_add_test(tc, the_groups_add_up_to_the_peak_of_a_real_training_step);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    return shared_main(argc, argv, peak_suite, peak_shared_suite);
}
