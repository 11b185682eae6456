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
#define _GNU_SOURCE /* sched_setaffinity, CPU_SET */
#include <check.h>
#include <dirent.h>
#include <inttypes.h>
#include <limits.h>
#include <sched.h>
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

/* all_stats: the simulators keep every statistic (gt_replay_options), else
 * the reported ones alone, as analyze runs them. */
static struct gt_analysis *replay(const char *db, const struct gt_scenario *scn,
                                  const struct sweep *sw, int threads, bool all_stats)
{
    struct gt_replay_options o = options(scn, threads);
    o.all_stats = all_stats;
    struct gt_analysis *a = NULL;
    char err[512] = "";
    ck_assert_msg(gt_replay_trace(db, sw->configs, sw->n, &o, &a, err, sizeof err) == 0,
                  "%s with %d threads: %s", db, threads, err);
    return a;
}

/* The scenario of db on card (0: the trace's own). */
static struct gt_scenario *scenario_of(const char *db, uint64_t card)
{
    struct gt_scenario *scn = NULL;
    char err[512] = "";
    ck_assert_msg(gt_scenario_build(db, card, &scn, err, sizeof err) == 0, "%s: %s", db, err);
    return scn;
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

/* The run's figures and every memory_stats() counter, not where it ranks. */
static void expect_same_run(const struct gt_replay_result *one, const struct gt_replay_result *r,
                            const char *what, size_t i)
{
    ck_assert_int_eq(r->device, one->device);
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

static void expect_same_result(const struct gt_replay_result *one, const struct gt_replay_result *r,
                               const char *what, size_t i)
{
    ck_assert_msg(r->config_index == one->config_index && r->device == one->device &&
                      r->rank == one->rank && r->same_run_as == one->same_run_as,
                  "%s, result %zu: config %zu device %d rank %d, with 1 thread %zu %d %d", what, i,
                  r->config_index, r->device, r->rank, one->config_index, one->device, one->rank);
    expect_same_run(one, r, what, i);
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

/* lean, whose simulators kept the reported statistics alone, is full,
 * whose simulators kept them all, with the statistics full reports. */
static void expect_reported_as_kept(const struct gt_analysis *full, const struct gt_analysis *lean,
                                    const char *what)
{
    ck_assert_uint_eq(lean->ndevices * lean->nconfigs, full->ndevices * full->nconfigs);
    for (size_t i = 0; i < full->ndevices * full->nconfigs; i++) {
        struct gt_replay_result r = full->results[i];
        r.stats = gt_sim_reported_stats(&full->results[i].stats);
        expect_same_result(&r, &lean->results[i], what, i);
    }
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
 * and compares with one thread, every statistic kept at even thread counts
 * and the reported ones alone at odd ones, after holding the two to each
 * other on one thread; with_fit also the uncapped replay and the smallest
 * cards. Returns the smallest peak reserved of the one-thread answer, for a
 * card too small for every config. */
static uint64_t check_sweep(const char *db, uint64_t card, const struct sweep *sw, bool with_fit)
{
    struct gt_analysis *uncapped_one = NULL;
    uint64_t *fit_one = NULL, smallest = UINT64_MAX;
    char what[PATH_MAX + 128];

    struct gt_scenario *scn = scenario_of(db, card);
    struct gt_analysis *one = replay(db, scn, sw, 1, false);
    struct gt_analysis *one_full = replay(db, scn, sw, 1, true);
    snprintf(what, sizeof what, "%s, card %" PRIu64 " MiB, %zu configs, every statistic", db,
             card / MIB, sw->n);
    expect_reported_as_kept(one_full, one, what);
    if (with_fit)
        fit_one = fit(db, scn, one, 1, &uncapped_one);
    for (size_t t = 0; t < sizeof thread_counts / sizeof thread_counts[0]; t++) {
        snprintf(what, sizeof what, "%s, card %" PRIu64 " MiB, %zu configs, %d threads", db,
                 card / MIB, sw->n, thread_counts[t]);
        bool all_stats = thread_counts[t] % 2 == 0;
        struct gt_analysis *a = replay(db, scn, sw, thread_counts[t], all_stats);
        expect_same_analysis(all_stats ? one_full : one, a, what);
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
    gt_analysis_free(one_full);
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

/* Under stop_at_first_oom (the trials of gt_replay_fit) each run tells
 * whether it ran out of memory and when first, as the full replay does; a
 * run without an OOM tells everything the full one does; and the trace is
 * read no further once every run has ended. Cards: the trace's own (every
 * config runs), 9.2 GiB (some run out late), 2 GiB (all run out early). */
START_TEST(a_replay_that_stops_at_the_first_oom_tells_the_runs_apart_as_the_full_one)
{
    static const uint64_t cards[] = {0, 9420 * MIB, 2048 * MIB};
    struct sweep all = default_sweep();
    const char *db = path_of("gen-stop.db");
    char err[512] = "", what[PATH_MAX + 64];

    generate(db, "1", "100000");
    for (size_t k = 0; k < sizeof cards / sizeof cards[0]; k++) {
        struct gt_scenario *scn = scenario_of(db, cards[k]);
        struct gt_analysis *full = replay(db, scn, &all, 2, false);
        for (int threads = 1; threads <= 3; threads += 2) {
            struct gt_replay_options o = options(scn, threads);
            struct gt_analysis *a = NULL;
            o.stop_at_first_oom = 1;
            ck_assert_msg(gt_replay_trace(db, all.configs, all.n, &o, &a, err, sizeof err) == 0,
                          "%s", err);
            snprintf(what, sizeof what, "card %" PRIu64 " MiB, %d threads, stopping",
                     cards[k] / MIB, threads);
            bool all_failed = true;
            ck_assert_uint_eq(a->nconfigs * a->ndevices, full->nconfigs * full->ndevices);
            for (size_t i = 0; i < a->nconfigs * a->ndevices; i++) {
                const struct gt_replay_result *f = &full->results[i], *r = &a->results[i];
                ck_assert_uint_eq(r->config_index, f->config_index);
                ck_assert_msg((r->num_ooms > 0) == (f->num_ooms > 0) &&
                                  r->first_oom_event == f->first_oom_event,
                              "%s, result %zu: %" PRId64 " OOMs (first %" PRId64 "), %" PRId64
                              " (first %" PRId64 ") in full",
                              what, i, r->num_ooms, r->first_oom_event, f->num_ooms,
                              f->first_oom_event);
                if (f->num_ooms == 0)
                    expect_same_run(f, r, what, i);
                all_failed = all_failed && f->num_ooms > 0;
            }
            if (all_failed)
                ck_assert_msg(a->events < full->events / 2, "%s: read %" PRId64 " of %" PRId64,
                              what, a->events, full->events);
            else
                ck_assert_int_eq(a->events, full->events);
            gt_analysis_free(a);
        }
        gt_analysis_free(full);
        gt_scenario_free(scn);
    }
}
END_TEST

/* The threads of this process now: the entries of /proc/self/task. */
static int threads_now(void)
{
    DIR *tasks = opendir("/proc/self/task");
    int n = 0;
    ck_assert_ptr_nonnull(tasks);
    for (struct dirent *e; (e = readdir(tasks)) != NULL;)
        n += e->d_name[0] != '.';
    closedir(tasks);
    return n;
}

/* A progress callback: the most threads seen while the replay reads. */
static void note_threads(void *ctx, int64_t done, int64_t total)
{
    int *most = ctx, n = threads_now();
    (void)done;
    (void)total;
    *most = n > *most ? n : *most;
}

/* The most threads this process had while db was replayed under sw with
 * threads worker threads (0: one per usable CPU); the answer must be the
 * one of one. */
static int threads_of_replay(const char *db, const struct gt_scenario *scn, const struct sweep *sw,
                             int threads, const struct gt_analysis *one)
{
    struct gt_replay_options o = options(scn, threads);
    struct gt_analysis *a = NULL;
    char err[512] = "", what[64];
    int most = 0;
    o.progress = note_threads;
    o.progress_ctx = &most;
    ck_assert_msg(gt_replay_trace(db, sw->configs, sw->n, &o, &a, err, sizeof err) == 0, "%s", err);
    snprintf(what, sizeof what, "%d threads, %d running", threads, most);
    if (one != NULL)
        expect_same_analysis(one, a, what);
    gt_analysis_free(a);
    return most;
}

/* With a budget of one thread (--threads 1, or one usable CPU), the
 * reading thread runs the simulators itself: no thread is started, and the
 * answer is the threaded one. With more, the workers have threads of their
 * own (which shows that the count sees them). */
START_TEST(a_budget_of_one_thread_starts_no_thread)
{
    struct sweep two = short_sweep();
    const char *db = path_of("gen-budget.db");

    generate(db, "3", "30000");
    struct gt_scenario *scn = scenario_of(db, 0);
    ck_assert_int_eq(threads_now(), 1);
    struct gt_analysis *threaded = replay(db, scn, &two, 2, false);
    ck_assert_int_eq(threads_of_replay(db, scn, &two, 2, NULL), 3);
    ck_assert_int_eq(threads_of_replay(db, scn, &two, 1, threaded), 1);
    /* one usable CPU, as under taskset -c 0 or a one-core job */
    cpu_set_t all, one;
    ck_assert_int_eq(sched_getaffinity(0, sizeof all, &all), 0);
    CPU_ZERO(&one);
    for (int cpu = 0; cpu < CPU_SETSIZE; cpu++)
        if (CPU_ISSET(cpu, &all)) {
            CPU_SET(cpu, &one);
            break;
        }
    ck_assert_int_eq(sched_setaffinity(0, sizeof one, &one), 0);
    ck_assert_int_eq(threads_of_replay(db, scn, &two, 0, threaded), 1);
    ck_assert_int_eq(sched_setaffinity(0, sizeof all, &all), 0);
    gt_analysis_free(threaded);
    gt_scenario_free(scn);
}
END_TEST

/* The number of OOMs of config conf replayed alone on db with caps (one
 * per device). */
static int64_t ooms_at(const char *db, const struct gt_scenario *scn, const struct gt_conf *conf,
                       const uint64_t *caps)
{
    struct gt_replay_options o = options(scn, 1);
    struct gt_analysis *a = NULL;
    char err[512] = "";
    int64_t n = 0;
    o.caps = caps;
    o.add_recorded_conf = 0;
    ck_assert_msg(gt_replay_trace(db, conf, 1, &o, &a, err, sizeof err) == 0, "%s", err);
    for (size_t d = 0; d < a->ndevices; d++)
        n += a->results[d].num_ooms;
    gt_analysis_free(a);
    return n;
}

/* The smallest card gt_replay_fit finds for each config runs it, replayed
 * alone, and the card 2 MiB below does not, unless the answer is the
 * search's low end (the peak allocated, rounded down to 2 MiB), below
 * which no card was tried. */
START_TEST(the_smallest_card_runs_and_the_card_below_it_does_not)
{
    struct sweep all = default_sweep();
    const char *db = path_of("gen-fit.db");
    struct gt_analysis *uncapped = NULL;

    generate(db, "2", "100000");
    struct gt_scenario *scn = scenario_of(db, 0);
    struct gt_analysis *a = replay(db, scn, &all, 2, false);
    uint64_t *cards = fit(db, scn, a, 2, &uncapped);
    ck_assert_uint_eq(a->ndevices, 1);
    size_t tried_below = 0;
    for (size_t c = 0; c < a->nconfigs; c++) {
        uint64_t card = cards[c], low = uncapped->results[c].peak_allocated;
        low -= low % (2 * MIB);
        ck_assert_msg(card > 0, "config %zu: no card", c);
        ck_assert_msg(ooms_at(db, scn, &a->configs[c], &card) == 0, "config %zu: OOM at %" PRIu64,
                      c, card);
        if (card > low && card > 2 * MIB) {
            uint64_t below = card - 2 * MIB;
            ck_assert_msg(ooms_at(db, scn, &a->configs[c], &below) > 0,
                          "config %zu: no OOM at %" PRIu64 ", below its smallest card", c, below);
            tried_below++;
        }
    }
    ck_assert_uint_gt(tried_below, a->nconfigs / 2);
    free(cards);
    gt_analysis_free(uncapped);
    gt_analysis_free(a);
    gt_scenario_free(scn);
}
END_TEST

/* Files of tests/data that are traces but not named trace.csv. */
static const char *const other_data_traces[] = {
    "release-retry/oversize-largest-first.csv",
    "release-retry/release-all-in-set-order.csv",
    "gpu-h100/tracer/smoke.db",
};

/* Configs that differ only in max_split_size share one simulator until a
 * request may reach the lower limit (replay.c: may_follow): each must
 * answer as when replayed alone, and those no request reached must name
 * the config whose run theirs was. The trace's largest request is 250 MiB
 * (the logits), its attention scores 128 MiB. */
START_TEST(configs_that_share_a_simulator_answer_as_each_replayed_alone)
{
    static const struct {
        const char *name;
        size_t same_run_as;
    } cases[] = {
        {"max_split_size_mb:20", 0},  /* parts at the first 20 MiB request */
        {"default", 1},               /* the leader of 3, 4, 5 and itself */
        {"max_split_size_mb:64", 2},  /* parts at the attention scores */
        {"max_split_size_mb:256", 1}, /* nothing reaches 256 MiB */
        {"max_split_size_mb:1024", 1},
        {"", 1}, /* default again: the lower index leads */
        {"max_split_size_mb:128,max_non_split_rounding_mb:40", 6},
        {"max_split_size_mb:512,expandable_segments:True", 7}, /* never shares */
        {"roundup_power2_divisions:4", 8},
        {"roundup_power2_divisions:4,max_split_size_mb:512", 8},
    };
    enum { N = sizeof cases / sizeof cases[0] };
    struct sweep sw = {.n = N};
    char err[512] = "", what[PATH_MAX + 128];
    for (size_t c = 0; c < N; c++)
        ck_assert_msg(gt_conf_parse(cases[c].name, &sw.configs[c], err, sizeof err) == 0, "%s",
                      err);
    const char *db = path_of("gen1.db");
    generate(db, "1", "100000");
    /* its own card, and 9.2 GiB: releases, retries and OOMs */
    const uint64_t cards[] = {0, 9420 * MIB};
    for (size_t k = 0; k < sizeof cards / sizeof cards[0]; k++) {
        struct gt_scenario *scn = scenario_of(db, cards[k]);
        struct gt_replay_options o = options(scn, 1);
        o.add_recorded_conf = 0;
        struct gt_analysis *all = NULL;
        ck_assert_msg(gt_replay_trace(db, sw.configs, N, &o, &all, err, sizeof err) == 0, "%s",
                      err);
        ck_assert_uint_eq(all->ndevices, 1);
        for (size_t c = 0; c < N; c++) {
            struct gt_analysis *alone = NULL;
            ck_assert_msg(gt_replay_trace(db, &sw.configs[c], 1, &o, &alone, err, sizeof err) == 0,
                          "%s", err);
            snprintf(what, sizeof what, "card %" PRIu64 " MiB, '%s' in the sweep and alone",
                     cards[k] / MIB, cases[c].name);
            expect_same_run(&alone->results[0], &all->results[c], what, c);
            ck_assert_msg(all->results[c].same_run_as == cases[c].same_run_as,
                          "%s: the same run as %zu, expected %zu", what,
                          all->results[c].same_run_as, cases[c].same_run_as);
            ck_assert_uint_eq(alone->results[0].same_run_as, 0);
            gt_analysis_free(alone);
        }
        gt_analysis_free(all);
        gt_scenario_free(scn);
    }
}
END_TEST

/* A request below max_split_size whose segment reaches it parts the
 * follower: with max_split_size_mb:20 every 2 MiB request's 20 MiB segment
 * (kLargeBuffer) is oversize, never split, so each makes a new segment
 * where default splits one; the first request of 20 MiB or more comes
 * batches later. */
START_TEST(a_segment_that_reaches_the_limit_parts_a_follower)
{
    const char *csv = path_of("small-requests.csv");
    FILE *f = fopen(csv, "w");
    ck_assert_ptr_nonnull(f);
    fprintf(f, "ts_ns,action,addr,size,stream,device\n");
    int64_t ts = 1000;
    for (int k = 0; k < 10000; k++) {
        uint64_t addr = (uint64_t)0x7f0000000000 + (uint64_t)(k % 4) * 0x10000000;
        fprintf(f, "%" PRId64 ",alloc,0x%" PRIx64 ",%d,0,0\n", ts++, addr, 2 << 20);
        if (k % 4 == 3)
            for (int j = 0; j < 4; j++)
                fprintf(f, "%" PRId64 ",free,0x%" PRIx64 ",,0,0\n", ts++,
                        (uint64_t)0x7f0000000000 + (uint64_t)j * 0x10000000);
    }
    fprintf(f, "%" PRId64 ",alloc,0x7e0000000000,%d,0,0\n", ts, 30 << 20);
    ck_assert_int_eq(fclose(f), 0);
    const char *db = import(csv, "small-requests");
    struct sweep sw = {.n = 2};
    char err[512] = "";
    ck_assert_int_eq(gt_conf_parse("default", &sw.configs[0], err, sizeof err), 0);
    ck_assert_int_eq(gt_conf_parse("max_split_size_mb:20", &sw.configs[1], err, sizeof err), 0);
    struct gt_scenario *scn = scenario_of(db, 0);
    struct gt_replay_options o = options(scn, 1);
    o.add_recorded_conf = 0;
    struct gt_analysis *both = NULL, *alone = NULL;
    ck_assert_msg(gt_replay_trace(db, sw.configs, 2, &o, &both, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(gt_replay_trace(db, &sw.configs[1], 1, &o, &alone, err, sizeof err) == 0, "%s",
                  err);
    expect_same_run(&alone->results[0], &both->results[1], "max_split_size_mb:20", 1);
    ck_assert_int_gt(both->results[1].num_device_alloc, both->results[0].num_device_alloc);
    ck_assert_uint_eq(both->results[1].same_run_as, 1);
    gt_analysis_free(alone);
    gt_analysis_free(both);
    gt_scenario_free(scn);
}
END_TEST

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
    tcase_add_test(tc, configs_that_share_a_simulator_answer_as_each_replayed_alone);
    tcase_add_test(tc, a_segment_that_reaches_the_limit_parts_a_follower);
    tcase_add_test(tc, the_smallest_card_runs_and_the_card_below_it_does_not);
    tcase_add_test(tc, a_replay_that_stops_at_the_first_oom_tells_the_runs_apart_as_the_full_one);
    tcase_add_test(tc, a_budget_of_one_thread_starts_no_thread);
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
