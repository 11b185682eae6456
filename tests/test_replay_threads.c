/* Tests of the threaded replay (replay.h): how many worker threads share the
 * configs must not change the answer. Each trace is replayed under the
 * default sweep (and a two-config sweep, fewer configs than threads) with 1,
 * 2, 3, 4 and 8 threads, on its own card and on one too small for it, and
 * every answer must equal the one-thread answer field for field and in the
 * same order: devices, results with every memory_stats() counter, warnings,
 * the recorded settings; and so must the uncapped replay and the smallest
 * card of each config (gt_replay_fit) that the reports build on it.
 *
 * The traces: training loops of bench/gen_trace (long, with empty_cache
 * and, on the small card, thousands of OOMs), every CSV trace of tests/data
 * and a real H100 recording there, and (with --shared, test_shared.h) every
 * real snapshot and profiler trace of ../shared. */
#include <check.h>
#include <dirent.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gputrace/conf.h"
#include "gputrace/err.h"
#include "gputrace/import.h"
#include "gputrace/replay.h"
#include "gputrace/scenario.h"
#include "gputrace/sim.h"

#include "gputrace/banned.h"

#include "test_shared.h"
#include "test_tmpdir.h"

#define MIB ((uint64_t)1024 * 1024)

/* Compared with the one-thread answer: 2 and 3 split the default sweep
 * unevenly, 8 leaves workers with one config (or none, in the short sweep). */
static const int thread_counts[] = {2, 3, 4, 8};

struct sweep {
    struct gt_conf configs[16];
    size_t n;
};

static struct sweep default_sweep(void)
{
    struct sweep s;
    s.n = gt_replay_default_sweep(s.configs, sizeof s.configs / sizeof s.configs[0]);
    ck_assert_uint_gt(s.n, 8);
    return s;
}

static struct sweep short_sweep(void)
{
    static const char *const names[] = {"default", "expandable_segments:True"};
    struct sweep s = {.n = 2};
    char err[128];
    for (size_t i = 0; i < s.n; i++)
        ck_assert_msg(gt_conf_parse(names[i], &s.configs[i], err, sizeof err) == 0, "%s", err);
    return s;
}

static struct gt_replay_options options(const struct gt_scenario *scn, int threads)
{
    struct gt_replay_options o;
    memset(&o, 0, sizeof o);
    o.scenario = scn;
    o.threads = threads;
    o.add_recorded_conf = 1; /* as analyze without --config */
    return o;
}

static struct gt_analysis *replay(const char *db, const struct gt_scenario *scn,
                                  const struct sweep *sw, int threads)
{
    struct gt_replay_options o = options(scn, threads);
    struct gt_analysis *a = NULL;
    char err[512] = "";
    ck_assert_msg(gt_replay_trace(db, sw->configs, sw->n, &o, &a, err, sizeof err) == 0,
                  "%s with %d threads: %s", db, threads, err);
    return a;
}

/* ------------------------------------------------------------ comparison */

struct stats_pair {
    const struct gt_sim_stats *one;
    const char *what;
    size_t result;
};

static void same_stat(void *ctx, const char *name, int64_t value)
{
    const struct stats_pair *p = ctx;
    int64_t one = 0;
    ck_assert_int_eq(gt_sim_stat_lookup(p->one, name, &one), 0);
    ck_assert_msg(value == one, "%s, result %zu: %s is %" PRId64 ", %" PRId64 " with 1 thread",
                  p->what, p->result, name, value, one);
}

static void expect_same_result(const struct gt_replay_result *one, const struct gt_replay_result *r,
                               const char *what, size_t i)
{
    ck_assert_msg(r->config_index == one->config_index && r->device == one->device &&
                      r->rank == one->rank,
                  "%s, result %zu: config %zu device %d rank %d, with 1 thread %zu %d %d", what, i,
                  r->config_index, r->device, r->rank, one->config_index, one->device, one->rank);
    ck_assert_msg(
        r->peak_reserved == one->peak_reserved && r->peak_allocated == one->peak_allocated &&
            r->allocated_at_peak == one->allocated_at_peak &&
            r->unallocated_at_peak == one->unallocated_at_peak &&
            r->fragmentation_at_peak == one->fragmentation_at_peak,
        "%s, result %zu: peak reserved %" PRIu64 " allocated %" PRIu64 ", with 1 thread %" PRIu64
        " %" PRIu64,
        what, i, r->peak_reserved, r->peak_allocated, one->peak_reserved, one->peak_allocated);
    ck_assert_msg(r->num_ooms == one->num_ooms && r->first_oom_event == one->first_oom_event &&
                      r->num_device_alloc == one->num_device_alloc &&
                      r->num_device_free == one->num_device_free &&
                      r->num_alloc_retries == one->num_alloc_retries,
                  "%s, result %zu: %" PRId64 " OOMs (first %" PRId64 "), %" PRId64
                  " cudaMalloc; with 1 thread %" PRId64 " (first %" PRId64 "), %" PRId64,
                  what, i, r->num_ooms, r->first_oom_event, r->num_device_alloc, one->num_ooms,
                  one->first_oom_event, one->num_device_alloc);
    struct stats_pair p = {&one->stats, what, i};
    gt_sim_stats_foreach(&r->stats, same_stat, &p);
}

static void expect_same_devices(const struct gt_analysis *one, const struct gt_analysis *a,
                                const char *what)
{
    ck_assert_msg(a->ndevices == one->ndevices, "%s: %zu devices, %zu with 1 thread", what,
                  a->ndevices, one->ndevices);
    for (size_t d = 0; d < a->ndevices; d++) {
        const struct gt_replay_device *x = &a->devices[d], *y = &one->devices[d];
        ck_assert_int_eq(x->device, y->device);
        ck_assert_uint_eq(x->device_memory, y->device_memory);
        ck_assert_uint_eq(x->device_total, y->device_total);
        ck_assert_str_eq(x->name, y->name);
        ck_assert_int_eq(x->events, y->events);
        ck_assert_uint_eq(x->card.memory, y->card.memory);
        ck_assert_uint_eq(x->card.start_reserved, y->card.start_reserved);
    }
}

static void expect_same_warnings(const struct gt_replay_warnings *w,
                                 const struct gt_replay_warnings *one)
{
    ck_assert_int_eq(w->unknown_free, one->unknown_free);
    ck_assert_int_eq(w->double_free, one->double_free);
    ck_assert_int_eq(w->alloc_of_live, one->alloc_of_live);
    ck_assert_int_eq(w->skipped_kinds, one->skipped_kinds);
    ck_assert_int_eq(w->too_many_devices, one->too_many_devices);
    ck_assert_int_eq(w->lost_events, one->lost_events);
}

/* a, replayed with more threads, is one, the one-thread answer. */
static void expect_same_analysis(const struct gt_analysis *one, const struct gt_analysis *a,
                                 const char *what)
{
    ck_assert_int_eq(a->events, one->events);
    ck_assert_msg(a->nconfigs == one->nconfigs, "%s: %zu configs, %zu with 1 thread", what,
                  a->nconfigs, one->nconfigs);
    for (size_t c = 0; c < a->nconfigs; c++)
        ck_assert_str_eq(a->configs[c].name, one->configs[c].name);
    expect_same_devices(one, a, what);
    for (size_t i = 0; i < a->ndevices * a->nconfigs; i++)
        expect_same_result(&one->results[i], &a->results[i], what, i);
    expect_same_warnings(&a->warnings, &one->warnings);
    ck_assert_str_eq(a->recorded_conf, one->recorded_conf);
    ck_assert_int_eq(a->has_recorded_conf, one->has_recorded_conf);
    ck_assert_int_eq(a->recorded_index, one->recorded_index);
}

/* ------------------------------------------------------------ sweeps */

/* The smallest card of every config and device, searched with threads. */
static uint64_t *fit(const char *db, const struct gt_scenario *scn, const struct gt_analysis *a,
                     int threads, struct gt_analysis **uncapped)
{
    struct gt_replay_options o = options(scn, threads);
    uint64_t *cards = NULL;
    char err[512] = "";
    ck_assert_msg(gt_replay_uncapped(db, a, &o, uncapped, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(gt_replay_fit(db, a, *uncapped, &o, &cards, err, sizeof err) == 0, "%s", err);
    return cards;
}

/* Replays db on card (0: the trace's own) under sw with each thread count
 * and compares with one thread; with_fit also the uncapped replay and the
 * smallest cards. Returns the smallest peak reserved of the one-thread
 * answer, for a card too small for every config. */
static uint64_t check_sweep(const char *db, uint64_t card, const struct sweep *sw, bool with_fit)
{
    struct gt_scenario *scn = NULL;
    struct gt_analysis *uncapped_one = NULL;
    uint64_t *fit_one = NULL, smallest = UINT64_MAX;
    char err[512] = "", what[PATH_MAX + 128];

    ck_assert_msg(gt_scenario_build(db, card, &scn, err, sizeof err) == 0, "%s", err);
    struct gt_analysis *one = replay(db, scn, sw, 1);
    if (with_fit)
        fit_one = fit(db, scn, one, 1, &uncapped_one);
    for (size_t t = 0; t < sizeof thread_counts / sizeof thread_counts[0]; t++) {
        snprintf(what, sizeof what, "%s, card %" PRIu64 " MiB, %zu configs, %d threads", db,
                 card / MIB, sw->n, thread_counts[t]);
        struct gt_analysis *a = replay(db, scn, sw, thread_counts[t]);
        expect_same_analysis(one, a, what);
        if (with_fit) {
            struct gt_analysis *uncapped = NULL;
            uint64_t *cards = fit(db, scn, a, thread_counts[t], &uncapped);
            expect_same_analysis(uncapped_one, uncapped, what);
            for (size_t i = 0; i < a->nconfigs * a->ndevices; i++)
                ck_assert_msg(cards[i] == fit_one[i],
                              "%s: smallest card %zu is %" PRIu64 ", %" PRIu64 " with 1 thread",
                              what, i, cards[i], fit_one[i]);
            free(cards);
            gt_analysis_free(uncapped);
        }
        gt_analysis_free(a);
    }
    for (size_t i = 0; i < one->ndevices * one->nconfigs; i++)
        if (one->results[i].peak_reserved < smallest)
            smallest = one->results[i].peak_reserved;
    free(fit_one);
    gt_analysis_free(uncapped_one);
    gt_analysis_free(one);
    gt_scenario_free(scn);
    return smallest;
}

/* db under the default sweep on its own card, then on three quarters of
 * the smallest peak any config reached there (every config runs out of
 * memory, the OOM counts and first OOMs differ by config). */
static void check_trace(const char *db, bool with_fit)
{
    struct sweep sw = default_sweep();
    uint64_t smallest = check_sweep(db, 0, &sw, with_fit);
    if (smallest >= 4 * MIB && smallest != UINT64_MAX)
        check_sweep(db, smallest / 4 * 3, &sw, with_fit);
}

/* ------------------------------------------------------------ traces */

/* path imported into dir/NAME.db (named for the failure messages) by the
 * importer its name calls for. */
static const char *import(const char *path, const char *name)
{
    char file[64];
    size_t n = strlen(path);
    char err[512] = "";
    int rc;

    snprintf(file, sizeof file, "%.56s.db", name);
    const char *db = path_of(file);
    unlink(db);
    if (n > 4 && strcmp(path + n - 4, ".csv") == 0)
        rc = gt_import_csv(path, db, NULL, err, sizeof err);
    else if (n > 7 && strcmp(path + n - 7, ".pickle") == 0)
        rc = gt_import_snapshot(path, db, NULL, NULL, err, sizeof err);
    else
        rc = gt_import_chrome(path, db, NULL, NULL, err, sizeof err);
    ck_assert_msg(rc == 0, "%s: %s", path, err);
    return db;
}

/* bench/gen_trace --seed seed --events events -o out. */
static void generate(const char *out, const char *seed, const char *events)
{
    int status = 0;
    pid_t pid = fork();

    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        execl(GT_GEN_TRACE, "gen_trace", "--seed", seed, "--events", events, "-o", out,
              (char *)NULL);
        _exit(127);
    }
    ck_assert_int_eq(waitpid(pid, &status, 0), pid);
    ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s failed", GT_GEN_TRACE);
}

START_TEST(generated_training_loops_replay_the_same_with_any_number_of_threads)
{
    static const char *const seeds[] = {"1", "2"};
    struct sweep all = default_sweep(), two = short_sweep();

    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        const char *db = path_of(i ? "gen2.db" : "gen1.db");
        generate(db, seeds[i], "100000");
        check_trace(db, false);
        /* 9.2 GiB, just above the peak allocated (9.0-9.1 GiB): releases and
         * retries in every caching config, an OOM in some */
        check_sweep(db, 9420 * MIB, &all, false);
        check_sweep(db, 0, &two, false);
    }
}
END_TEST

/* Files of tests/data that are traces but not named trace.csv. */
static const char *const other_data_traces[] = {
    "release-retry/oversize-largest-first.csv",
    "release-retry/release-all-in-set-order.csv",
    "gpu-h100/tracer/smoke.db",
};

START_TEST(the_small_traces_of_tests_data_replay_the_same_with_any_number_of_threads)
{
    char path[PATH_MAX + 300];
    struct dirent *e;
    DIR *d = opendir(GT_TEST_DATA);
    int csv = 0;

    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d)) != NULL) {
        snprintf(path, sizeof path, "%s/%s/trace.csv", GT_TEST_DATA, e->d_name);
        if (e->d_name[0] == '.' || access(path, F_OK) != 0)
            continue;
        check_trace(import(path, e->d_name), true);
        csv++;
    }
    closedir(d);
    ck_assert_int_gt(csv, 20);
    for (size_t i = 0; i < sizeof other_data_traces / sizeof other_data_traces[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", GT_TEST_DATA, other_data_traces[i]);
        check_trace(strstr(path, ".csv") ? import(path, "release-retry") : path, true);
    }
}
END_TEST

/* Every snapshot and profiler trace of ../shared: a folder per recording. */
START_TEST(every_shared_trace_replays_the_same_with_any_number_of_threads)
{
    char path[PATH_MAX + 600];
    struct dirent *e, *f;
    DIR *d = opendir(GT_SHARED_TRACES);
    int traces = 0;

    ck_assert_ptr_nonnull(d);
    while ((e = readdir(d)) != NULL) {
        snprintf(path, sizeof path, "%s/%s", GT_SHARED_TRACES, e->d_name);
        DIR *sub = e->d_name[0] == '.' ? NULL : opendir(path);
        while (sub && (f = readdir(sub)) != NULL) {
            size_t n = strlen(f->d_name);
            if (!(n > 7 && strcmp(f->d_name + n - 7, ".pickle") == 0) &&
                !(n > 8 && strcmp(f->d_name + n - 8, ".json.gz") == 0))
                continue;
            snprintf(path, sizeof path, "%s/%s/%s", GT_SHARED_TRACES, e->d_name, f->d_name);
            check_trace(import(path, e->d_name), true);
            traces++;
        }
        if (sub)
            closedir(sub);
    }
    closedir(d);
    ck_assert_int_gt(traces, 0);
}
END_TEST

static Suite *replay_threads_suite(void)
{
    Suite *s = suite_create("replay_threads");
    TCase *tc = tcase_create("core");

    tcase_set_timeout(tc, 300);
    tcase_add_checked_fixture(tc, make_dir, remove_dir);
    tcase_add_test(tc, generated_training_loops_replay_the_same_with_any_number_of_threads);
    tcase_add_test(tc, the_small_traces_of_tests_data_replay_the_same_with_any_number_of_threads);
    suite_add_tcase(s, tc);
    return s;
}

static Suite *replay_threads_shared_suite(void)
{
    Suite *s = suite_create("replay_threads_shared");
    TCase *tc = tcase_create("shared traces");

    tcase_set_timeout(tc, 600);
    tcase_add_checked_fixture(tc, make_dir, remove_dir);
    tcase_add_test(tc, every_shared_trace_replays_the_same_with_any_number_of_threads);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    return shared_main(argc, argv, replay_threads_suite, replay_threads_shared_suite);
}
