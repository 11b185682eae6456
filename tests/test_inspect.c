/* Check suite for the one-config replay with full visibility (inspect.c). */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gputrace/conf.h"
#include "gputrace/err.h"
#include "gputrace/import.h"
#include "gputrace/inspect.h"
#include "gputrace/schema.h"
#include "gputrace/units.h"

#define TRUTH GT_TEST_DATA "/gpu-h100/truth/"

static char dir[64], db[128];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/gt-insp-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(db, sizeof db, "%s/t.db", dir);
}

static void teardown(void)
{
    unlink(db);
    rmdir(dir);
}

static struct gt_conf conf_of(const char *text)
{
    struct gt_conf c;
    char err[256];
    ck_assert_msg(gt_conf_parse(text, &c, err, sizeof err) == 0, "%s", err);
    return c;
}

static void import_truth(const char *name, const char *conf)
{
    char csv[256], err[256];
    struct gt_import_options o = {conf, "NVIDIA H100 80GB HBM3", 85017493504ull};
    snprintf(csv, sizeof csv, TRUTH "%s.csv", name);
    ck_assert_msg(gt_import_csv_with(csv, db, &o, NULL, err, sizeof err) == 0, "%s", err);
}

struct seen {
    int64_t requests, ooms, first_oom;
    int64_t oom_allocated, oom_reserved;
    bool recorded_oom;
    int64_t live, live_from_start;
    uint64_t peak;
    int64_t stop_after;
};

static void count_live(void *ctx, const struct gt_inspect_alloc *a)
{
    struct seen *s = ctx;
    s->live++;
    s->live_from_start += a->index < 0;
    ck_assert_uint_ge(a->block, a->requested);
}

static int on_event(void *ctx, struct gt_inspect *in, const struct gt_inspect_event *ev)
{
    struct seen *s = ctx;
    const struct gt_sim_stats *st = gt_sim_get_stats(ev->sim);
    s->requests++;
    s->peak = (uint64_t)st->reserved_bytes[GT_SIM_ALL].peak;
    if (ev->result == GT_EOOM && s->ooms++ == 0) {
        s->first_oom = ev->index;
        s->recorded_oom = ev->recorded_oom;
        s->oom_allocated = st->allocated_bytes[GT_SIM_ALL].current;
        s->oom_reserved = st->reserved_bytes[GT_SIM_ALL].current;
    }
    if (s->requests == 1) {
        s->live = s->live_from_start = 0;
        gt_inspect_live(in, ev->device, count_live, s);
    }
    return s->stop_after && s->requests == s->stop_after ? 42 : 0;
}

START_TEST(replay_of_the_h100_run_sees_every_request_and_the_real_peak)
{
    import_truth("default", "");
    struct gt_conf c = conf_of("default");
    struct seen s = {0};
    struct gt_inspect_options o = {.on_event = on_event, .ctx = &s};
    char err[256];
    ck_assert_int_eq(gt_inspect_run(db, &c, &o, err, sizeof err), 0);
    ck_assert_int_eq(s.requests, 10061);
    ck_assert_uint_eq(s.peak, 2388656128u); /* torch.cuda.max_memory_reserved() */
    ck_assert_int_eq(s.ooms, 0);
}
END_TEST

/* The real run: "Tried to allocate 210.00 MiB ... 1.47 GiB is allocated by
 * PyTorch, and 107.45 MiB is reserved by PyTorch but unallocated". */
START_TEST(the_recorded_oom_fails_here_too_with_the_real_numbers)
{
    const char *conf = "per_process_memory_fraction:0.022476843567613442";
    import_truth("default-capped", conf);
    struct gt_conf c = conf_of(conf);
    struct seen s = {0};
    struct gt_inspect_options o = {.on_event = on_event, .ctx = &s};
    char err[256];
    ck_assert_int_eq(gt_inspect_run(db, &c, &o, err, sizeof err), 0);
    ck_assert_int_eq(s.ooms, 1);
    ck_assert(s.recorded_oom);
    ck_assert_int_eq(s.oom_allocated, 1579733504); /* 1.47 GiB */
    char text[32];
    gt_units_format_bytes((uint64_t)(s.oom_reserved - s.oom_allocated), text, sizeof text);
    ck_assert_str_eq(text, "107.45 MiB");
    gt_units_format_bytes((uint64_t)s.oom_allocated, text, sizeof text);
    ck_assert_str_eq(text, "1.47 GiB");
}
END_TEST

START_TEST(a_snapshot_start_state_is_live_before_the_first_request)
{
    char err[256];
    ck_assert_int_eq(
        gt_import_snapshot(GT_TEST_DATA "/snapshot/midrun.pickle", db, NULL, NULL, err, sizeof err),
        0);
    struct gt_conf c = conf_of("default");
    struct seen s = {0};
    struct gt_inspect_options o = {.on_event = on_event, .ctx = &s};
    ck_assert_int_eq(gt_inspect_run(db, &c, &o, err, sizeof err), 0);
    /* after the first request (the free of B) only A is left from the start */
    ck_assert_int_eq(s.live, 1);
    ck_assert_int_eq(s.live_from_start, 1);
}
END_TEST

START_TEST(a_callback_can_stop_the_replay_with_its_own_value)
{
    import_truth("default", "");
    struct gt_conf c = conf_of("expandable_segments:True");
    struct seen s = {0};
    s.stop_after = 100;
    struct gt_inspect_options o = {.on_event = on_event, .ctx = &s};
    char err[256];
    ck_assert_int_eq(gt_inspect_run(db, &c, &o, err, sizeof err), 42);
    ck_assert_int_eq(s.requests, 100);
}
END_TEST

/* Two observers of one replay see what two replays would; one that stops
 * with an error keeps it and is left out while the other goes on. */
START_TEST(observers_of_a_shared_replay_see_every_request_and_fail_alone)
{
    import_truth("default", "");
    struct gt_conf c = conf_of("default");
    struct seen alone = {0}, a = {0}, b = {0};
    struct gt_inspect_options oa = {.on_event = on_event, .ctx = &alone};
    struct gt_inspect_options o1 = {.on_event = on_event, .ctx = &a};
    struct gt_inspect_options o2 = {.on_event = on_event, .ctx = &b};
    const struct gt_inspect_options *obs[] = {&o1, &o2};
    int rcs[2] = {-1, -1};
    char err[256];
    long before;

    ck_assert_int_eq(gt_inspect_run(db, &c, &oa, err, sizeof err), 0);
    b.stop_after = 100;
    before = gt_inspect_runs();
    ck_assert_int_eq(gt_inspect_run_shared(db, &c, NULL, obs, rcs, 2, err, sizeof err), 0);
    ck_assert_int_eq(gt_inspect_runs() - before, 1);
    ck_assert_int_eq(rcs[0], 0);
    ck_assert_int_eq(rcs[1], 42);
    ck_assert_int_eq(a.requests, alone.requests);
    ck_assert_uint_eq(a.peak, alone.peak);
    ck_assert_int_eq(b.requests, 100);
    /* with every observer failed the replay stops with the last error */
    a = (struct seen){.stop_after = 10};
    b = (struct seen){.stop_after = 20};
    ck_assert_int_eq(gt_inspect_run_shared(db, &c, NULL, obs, rcs, 2, err, sizeof err), 42);
    ck_assert_int_eq(a.requests, 10);
    ck_assert_int_eq(b.requests, 20);
}
END_TEST

START_TEST(inspecting_a_missing_trace_is_the_readers_error)
{
    struct gt_conf c = conf_of("default");
    char err[256];
    ck_assert_int_eq(gt_inspect_run("/nonexistent/x.db", &c, NULL, err, sizeof err), GT_ENOENT);
    ck_assert(err[0] != 0);
}
END_TEST

static Suite *inspect_suite(void)
{
    Suite *s = suite_create("inspect");
    TCase *t = tcase_create("replay");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_set_timeout(t, 120);
    tcase_add_test(t, replay_of_the_h100_run_sees_every_request_and_the_real_peak);
    tcase_add_test(t, the_recorded_oom_fails_here_too_with_the_real_numbers);
    tcase_add_test(t, a_snapshot_start_state_is_live_before_the_first_request);
    tcase_add_test(t, a_callback_can_stop_the_replay_with_its_own_value);
    tcase_add_test(t, observers_of_a_shared_replay_see_every_request_and_fail_alone);
    tcase_add_test(t, inspecting_a_missing_trace_is_the_readers_error);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(inspect_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
