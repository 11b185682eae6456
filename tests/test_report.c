/* Tests of report.h: the table, JSON and CSV that `analyze` prints, on
 * analyses built by hand and ranked by the engine's own gt_replay_rank. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gputrace/conf.h"
#include "gputrace/err.h"
#include "gputrace/replay.h"
#include "gputrace/report.h"
#include "gputrace/text.h"

#include "gputrace/banned.h"

#define MIB ((uint64_t)1 << 20)
#define MAX_CONFIGS 8

/* A hand-made analysis: configs[c], results[d * n + c], like the engine's. */
struct fixture {
    struct gt_analysis a;
    struct gt_conf configs[MAX_CONFIGS];
    struct gt_replay_device devices[2];
    struct gt_replay_result results[2 * MAX_CONFIGS];
};

static void fixture_init(struct fixture *fx, size_t ndevices, uint64_t device_memory)
{
    memset(fx, 0, sizeof *fx);
    fx->a.events = 42;
    fx->a.configs = fx->configs;
    fx->a.devices = fx->devices;
    fx->a.results = fx->results;
    fx->a.ndevices = ndevices;
    for (size_t d = 0; d < ndevices; d++) {
        fx->devices[d].device = (int32_t)d;
        fx->devices[d].device_memory = device_memory;
        fx->devices[d].events = 21;
        snprintf(fx->devices[d].name, sizeof fx->devices[d].name, "Card %zu", d);
        fx->devices[d].card.device = (int32_t)d;
        fx->devices[d].card.memory = device_memory;
        fx->devices[d].card.source = device_memory ? GT_CARD_GIVEN : GT_CARD_NONE;
        fx->devices[d].card.source_event = -1;
        fx->devices[d].card.pid = 100;
    }
}

/* Adds a config with one result per device (the same numbers on every
 * device); returns the result of device 0 for adjustments. */
static struct gt_replay_result *add(struct fixture *fx, const char *conf, uint64_t peak_reserved,
                                    uint64_t peak_allocated, int64_t ooms)
{
    size_t c = fx->a.nconfigs++;
    char err[256] = "";

    ck_assert_uint_lt(c, MAX_CONFIGS);
    ck_assert_msg(gt_conf_parse(conf, &fx->configs[c], err, sizeof err) == 0, "%s", err);
    for (size_t d = 0; d < fx->a.ndevices; d++) {
        struct gt_replay_result *r = &fx->results[d * MAX_CONFIGS + c];
        r->config_index = c;
        r->same_run_as = c;
        r->device = (int32_t)d;
        r->peak_reserved = peak_reserved;
        r->peak_allocated = peak_allocated;
        r->allocated_at_peak = peak_allocated;
        r->unallocated_at_peak = peak_reserved - peak_allocated;
        r->fragmentation_at_peak =
            peak_reserved ? 1.0 - (double)peak_allocated / (double)peak_reserved : 0.0;
        r->num_device_alloc = 3;
        r->num_device_free = 1;
        r->num_ooms = ooms;
        r->num_alloc_retries = ooms;
        r->first_oom_event = ooms > 0 ? 7 : -1;
    }
    return &fx->results[c];
}

/* Packs results[d * MAX_CONFIGS + c] to results[d * n + c] and ranks. */
static void finish(struct fixture *fx)
{
    size_t n = fx->a.nconfigs;

    for (size_t d = 1; d < fx->a.ndevices; d++)
        memmove(&fx->results[d * n], &fx->results[d * MAX_CONFIGS], n * sizeof fx->results[0]);
    gt_replay_rank(&fx->a);
}

typedef int (*writer_fn)(FILE *, const char *, const struct gt_analysis *);

static char *render(writer_fn fn, const char *path, const struct gt_analysis *a)
{
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(fn(f, path, a), 0);
    ck_assert_int_eq(fclose(f), 0);
    return text;
}

static void assert_contains(const char *text, const char *want)
{
    ck_assert_msg(strstr(text, want) != NULL, "missing \"%s\" in:\n%s", want, text);
}

static void assert_lacks(const char *text, const char *unwanted)
{
    ck_assert_msg(strstr(text, unwanted) == NULL, "unexpected \"%s\" in:\n%s", unwanted, text);
}

static void assert_before(const char *text, const char *first, const char *second)
{
    const char *p = strstr(text, first), *q = strstr(text, second);

    ck_assert_msg(p != NULL && q != NULL && p < q, "\"%s\" not before \"%s\" in:\n%s", first,
                  second, text);
}

/* default 40 MiB, expandable 36 MiB, split:64 OOMs: expandable ranks first. */
static void three_configs(struct fixture *fx, uint64_t device_memory)
{
    fixture_init(fx, 1, device_memory);
    add(fx, "default", 40 * MIB, 30 * MIB, 0);
    add(fx, "expandable_segments:True", 36 * MIB, 30 * MIB, 0);
    add(fx, "max_split_size_mb:64", 20 * MIB, 18 * MIB, 2);
    finish(fx);
}

START_TEST(table_lists_configs_in_rank_order_with_sizes_and_first_oom)
{
    struct fixture fx;
    char *t;

    three_configs(&fx, 100 * MIB);
    t = render(gt_report_table_write, "run.db", &fx.a);
    assert_contains(t, "trace 'run.db': 42 events; device 0 (Card 0): 21 requests\n"
                       "card: 100.00 MiB (104857600 bytes), as given (--device-memory)\n");
    assert_contains(t, "   1  expandable_segments:True");
    assert_contains(t, "   2  default");
    assert_contains(t, "   3  max_split_size_mb:64");
    assert_before(t, "expandable_segments:True ", "  default ");
    assert_before(t, "  default ", "max_split_size_mb:64");
    assert_contains(t, "36.00 MiB");
    assert_contains(t, "16.67%"); /* 1 - 30/36 */
    /* first OOM event of the split config, "-" for the others */
    ck_assert_ptr_nonnull(strstr(strstr(t, "max_split_size_mb:64"), "  7\n"));
    ck_assert_ptr_nonnull(strstr(strstr(t, "   1  expandable"), "  -\n"));
    free(t);
}
END_TEST

START_TEST(table_ends_with_the_export_lines_for_bash_and_powershell)
{
    struct fixture fx;
    char *t;

    three_configs(&fx, 0);
    t = render(gt_report_table_write, "run.db", &fx.a);
    assert_contains(t, "card: unlimited (the trace does not say which card; pass "
                       "--device-memory)\n");
    assert_contains(t, "recommended: expandable_segments:True (peak reserved 36.00 MiB, "
                       "-10.0% peak reserved vs default)\n");
    assert_contains(t, "  bash:        export PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True\n");
    assert_contains(t,
                    "  PowerShell:  $env:PYTORCH_CUDA_ALLOC_CONF=\"expandable_segments:True\"\n");
    assert_lacks(t, "unset");
    free(t);
}
END_TEST

START_TEST(shell_special_characters_in_the_config_are_quoted)
{
    struct fixture fx;
    char *t;

    fixture_init(&fx, 1, 0);
    add(&fx, "default", 40 * MIB, 30 * MIB, 0);
    add(&fx, "roundup_power2_divisions:[64:8,>:1]", 30 * MIB, 30 * MIB, 0);
    finish(&fx);
    t = render(gt_report_table_write, "run.db", &fx.a);
    assert_contains(t, "export PYTORCH_CUDA_ALLOC_CONF='roundup_power2_divisions:[64:8,>:1]'\n");
    assert_contains(t, "$env:PYTORCH_CUDA_ALLOC_CONF=\"roundup_power2_divisions:[64:8,>:1]\"\n");
    free(t);
}
END_TEST

START_TEST(when_default_wins_the_table_says_unset)
{
    struct fixture fx;
    char *t;

    fixture_init(&fx, 1, 0);
    add(&fx, "default", 20 * MIB, 10 * MIB, 0);
    add(&fx, "max_split_size_mb:64", 22 * MIB, 10 * MIB, 0);
    finish(&fx);
    t = render(gt_report_table_write, "run.db", &fx.a);
    assert_contains(t,
                    "recommended: default, no PYTORCH_CUDA_ALLOC_CONF (peak reserved 20.00 MiB)");
    assert_contains(t, "  bash:        unset PYTORCH_CUDA_ALLOC_CONF\n");
    assert_contains(t, "  PowerShell:  Remove-Item Env:PYTORCH_CUDA_ALLOC_CONF\n");
    assert_lacks(t, "export");
    free(t);
}
END_TEST

START_TEST(nocache_ranking_first_is_called_a_baseline_not_advice)
{
    struct fixture fx;
    char *t;

    fixture_init(&fx, 1, 0);
    add(&fx, "default", 40 * MIB, 30 * MIB, 0);
    add(&fx, "nocache", 30 * MIB, 30 * MIB, 0);
    add(&fx, "expandable_segments:True", 32 * MIB, 30 * MIB, 0);
    finish(&fx);
    t = render(gt_report_table_write, "run.db", &fx.a);
    assert_before(t, "   1  nocache", "   2  expandable_segments:True");
    assert_contains(t, "note: nocache ranks first; it is the zero-fragmentation baseline "
                       "(a cudaMalloc/cudaFree per tensor, far slower), not advice\n");
    assert_contains(t, "recommended: expandable_segments:True");
    assert_lacks(t, "PYTORCH_CUDA_ALLOC_CONF=nocache");
    free(t);
}
END_TEST

START_TEST(when_every_config_runs_out_the_table_says_none_fits_and_by_how_much)
{
    struct fixture fx, uncapped;
    char *text = NULL;
    size_t len = 0;
    FILE *f;

    fixture_init(&fx, 1, 100 * MIB);
    add(&fx, "default", 100 * MIB, 90 * MIB, 3);
    add(&fx, "max_split_size_mb:64", 98 * MIB, 90 * MIB, 1);
    finish(&fx);
    fixture_init(&uncapped, 1, 0);
    add(&uncapped, "default", 140 * MIB, 110 * MIB, 0);
    add(&uncapped, "max_split_size_mb:64", 120 * MIB, 110 * MIB, 0);
    finish(&uncapped);

    f = open_memstream(&text, &len);
    ck_assert_int_eq(gt_report_table_write_fit(f, "run.db", &fx.a, &uncapped.a), 0);
    fclose(f);
    assert_contains(text,
                    "device 0: no config fits in 100.00 MiB: every config runs out of memory\n");
    assert_contains(text, "without a cap the smallest peak reserved is 120.00 MiB "
                          "(max_split_size_mb:64): the peak must shrink by 20.00 MiB to fit "
                          "100.00 MiB\n");
    assert_contains(text, "no recommendation: every caching config runs out of memory");
    assert_lacks(text, "recommended");
    assert_lacks(text, "export");
    free(text);

    text = render(gt_report_table_write, "run.db", &fx.a); /* no uncapped replay */
    assert_contains(text,
                    "device 0: no config fits in 100.00 MiB: every config runs out of memory\n");
    assert_lacks(text, "without a cap");
    free(text);
}
END_TEST

START_TEST(when_only_nocache_fits_the_table_says_so_without_advising_it)
{
    struct fixture fx;
    char *t;

    fixture_init(&fx, 1, 100 * MIB);
    add(&fx, "default", 100 * MIB, 90 * MIB, 3);
    add(&fx, "nocache", 92 * MIB, 92 * MIB, 0);
    finish(&fx);
    t = render(gt_report_table_write, "run.db", &fx.a);
    assert_contains(t, "no caching config fits in 100.00 MiB: only nocache stays within it");
    assert_lacks(t, "export");
    free(t);
}
END_TEST

START_TEST(the_traces_own_config_is_marked)
{
    struct fixture fx;
    char *t;

    three_configs(&fx, 0);
    snprintf(fx.a.recorded_conf, sizeof fx.a.recorded_conf, "max_split_size_mb:64");
    fx.a.has_recorded_conf = 1;
    fx.a.recorded_index = 2;
    t = render(gt_report_table_write, "run.db", &fx.a);
    assert_contains(t, "max_split_size_mb:64 (recorded)");
    assert_lacks(t, "default (recorded)");
    free(t);
}
END_TEST

START_TEST(control_characters_from_the_trace_are_replaced_in_the_table)
{
    struct fixture fx;
    char *t;

    three_configs(&fx, 0);
    snprintf(fx.devices[0].name, sizeof fx.devices[0].name, "evil\033[2J\nname");
    t = render(gt_report_table_write, "a\nb.db", &fx.a);
    assert_contains(t, "trace 'a?b.db'");
    assert_contains(t, "(evil?[2J?name)");
    assert_lacks(t, "\033");
    free(t);
}
END_TEST

START_TEST(json_has_the_documented_keys_and_null_for_no_oom)
{
    struct fixture fx;
    char *j;

    three_configs(&fx, 0);
    j = render(gt_report_json_write, "run.db", &fx.a);
    assert_contains(j, "\"trace\": \"run.db\"");
    assert_contains(j, "\"events\": 42");
    assert_contains(j, "\"memory_bytes\": null, \"memory_source\": \"none\"");
    assert_contains(j, "\"start_allocated_bytes\": 0, \"start_reserved_bytes\": 0");
    assert_contains(j, "\"results\": [");
    assert_contains(j, "\"devices\": [");
    assert_contains(j, "{\"config\": \"expandable_segments:True\", \"rank\": 1, \"device\": 0, "
                       "\"peak_reserved_bytes\": 37748736, \"peak_allocated_bytes\": 31457280, "
                       "\"fragmentation_at_peak\": 0.166667, "
                       "\"unallocated_at_peak_bytes\": 6291456, \"num_device_alloc\": 3, "
                       "\"num_device_free\": 1, \"num_alloc_retries\": 0, \"num_ooms\": 0, "
                       "\"first_oom_event\": null, \"same_run_as\": null}");
    assert_contains(j, "\"num_ooms\": 2, \"first_oom_event\": 7, \"same_run_as\": null}");
    assert_before(j, "\"config\": \"expandable_segments:True\"", "\"config\": \"default\"");
    assert_contains(j, "\"recommended\": {\"config\": \"expandable_segments:True\", \"export\": "
                       "\"export PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True\"}");
    free(j);
}
END_TEST

START_TEST(json_escapes_quotes_backslashes_and_control_characters)
{
    struct fixture fx;
    char *j;

    three_configs(&fx, 100 * MIB);
    snprintf(fx.devices[0].name, sizeof fx.devices[0].name, "tab\there");
    j = render(gt_report_json_write, "dir\\a \"b\"\n.db", &fx.a);
    assert_contains(j, "\"trace\": \"dir\\\\a \\\"b\\\"\\u000a.db\"");
    assert_contains(j, "\"name\": \"tab\\u0009here\"");
    assert_contains(j, "\"memory_bytes\": 104857600, \"memory_source\": \"given\"");
    free(j);
}
END_TEST

START_TEST(json_has_one_shape_for_one_or_several_devices)
{
    struct fixture fx;
    char *j;

    fixture_init(&fx, 2, 0);
    add(&fx, "default", 40 * MIB, 30 * MIB, 0);
    add(&fx, "nocache", 30 * MIB, 30 * MIB, 0);
    finish(&fx);
    j = render(gt_report_json_write, "run.db", &fx.a);
    assert_lacks(j, "\n  \"results\"");
    assert_contains(j, "{\"device\": 0, \"name\": \"Card 0\"");
    assert_contains(j, "{\"device\": 1, \"name\": \"Card 1\"");
    assert_contains(j, "\"recommended\": {\"config\": \"default\", \"export\": "
                       "\"unset PYTORCH_CUDA_ALLOC_CONF\"}");
    assert_contains(j, "\"config\": \"nocache\", \"rank\": 1, \"device\": 1");
    free(j);
}
END_TEST

START_TEST(configs_that_fail_rank_by_how_far_they_get)
{
    struct fixture fx;
    struct gt_replay_result *early, *late, *many;

    fixture_init(&fx, 1, 100 * MIB);
    early = add(&fx, "default", 90 * MIB, 80 * MIB, 1);
    late = add(&fx, "max_split_size_mb:64", 99 * MIB, 80 * MIB, 1);
    many = add(&fx, "max_split_size_mb:128", 99 * MIB, 80 * MIB, 3);
    add(&fx, "expandable_segments:True", 100 * MIB, 80 * MIB, 0);
    early->first_oom_event = 3;
    late->first_oom_event = 50;
    many->first_oom_event = 50;
    finish(&fx);
    ck_assert_int_eq(fx.results[3].rank, 1); /* no OOM: first, whatever its peak */
    ck_assert_int_eq(fx.results[1].rank, 2); /* fails last */
    ck_assert_int_eq(fx.results[2].rank, 3); /* as late, more OOMs */
    ck_assert_int_eq(fx.results[0].rank, 4); /* fails first: last */
}
END_TEST

START_TEST(one_recommendation_per_process_from_its_worst_device)
{
    struct fixture fx;
    struct gt_report_trace t = {"run.db", &fx.a, NULL, NULL, false};
    struct gt_report_scope all = {GT_REPORT_ALL, false, 0};
    struct gt_report_pick pick;
    char *text;

    fixture_init(&fx, 2, 0);
    add(&fx, "default", 40 * MIB, 30 * MIB, 0);
    add(&fx, "expandable_segments:True", 36 * MIB, 30 * MIB, 0);
    /* expandable is better on device 0 but runs out of memory on device 1:
     * the process can only set one, so default it is */
    fx.results[MAX_CONFIGS + 1].num_ooms = 1;
    fx.results[MAX_CONFIGS + 1].first_oom_event = 9;
    finish(&fx);
    ck_assert(gt_report_recommend(&t, 1, &all, &pick));
    ck_assert_str_eq(pick.config, "default");
    text = render(gt_report_table_write, "run.db", &fx.a);
    ck_assert_ptr_null(strstr(strstr(text, "recommended") + 1, "recommended"));
    assert_contains(text, "recommended: default");
    free(text);

    /* two processes, one device each: one line each */
    fx.devices[1].card.pid = 200;
    text = render(gt_report_table_write, "run.db", &fx.a);
    assert_contains(text, "recommended for process 100: expandable_segments:True");
    assert_contains(text, "recommended for process 200: default");
    free(text);
}
END_TEST

START_TEST(a_job_of_several_traces_gets_one_recommendation)
{
    struct fixture x, y;
    char *text = NULL;
    size_t len = 0;
    FILE *f;

    fixture_init(&x, 1, 0);
    add(&x, "default", 40 * MIB, 30 * MIB, 0);
    add(&x, "expandable_segments:True", 36 * MIB, 30 * MIB, 0);
    finish(&x);
    fixture_init(&y, 1, 0);
    add(&y, "default", 60 * MIB, 30 * MIB, 0);
    add(&y, "expandable_segments:True", 64 * MIB, 30 * MIB, 0);
    finish(&y);
    struct gt_report_trace t[2] = {{"rank0.db", &x.a, NULL, NULL, false},
                                   {"rank1.db", &y.a, NULL, NULL, false}};
    f = open_memstream(&text, &len);
    ck_assert_int_eq(gt_report_table_write_job(f, t, 2), 0);
    fclose(f);
    assert_contains(text, "trace 'rank0.db'");
    assert_contains(text, "trace 'rank1.db'");
    /* worst device: 60 MiB for default, 64 MiB for expandable */
    assert_contains(text, "recommended for the job: default");
    ck_assert_ptr_null(strstr(strstr(text, "recommended") + 1, "recommended"));
    free(text);
}
END_TEST

START_TEST(the_fit_column_shows_each_configs_smallest_card)
{
    struct fixture fx;
    uint64_t fit[3] = {0};
    char *text = NULL;
    size_t len = 0;
    FILE *f;

    three_configs(&fx, 0);
    fit[0] = 42 * MIB; /* config 0 (default) on device 0 */
    fit[1] = 38 * MIB;
    struct gt_report_trace t = {"run.db", &fx.a, NULL, fit, false};
    f = open_memstream(&text, &len);
    ck_assert_int_eq(gt_report_table_write_job(f, &t, 1), 0);
    fclose(f);
    assert_contains(text, "fits from\n");
    ck_assert_ptr_nonnull(strstr(strstr(text, "   1  expandable"), "38.00 MiB\n"));
    ck_assert_ptr_nonnull(strstr(strstr(text, "max_split_size_mb:64"), "-\n"));
    free(text);
    f = open_memstream(&text, &len);
    ck_assert_int_eq(gt_report_json_write_job(f, &t, 1), 0);
    fclose(f);
    assert_contains(text, "\"first_oom_event\": null, \"same_run_as\": null, "
                          "\"min_device_memory_bytes\": 39845888}");
    free(text);
}
END_TEST

START_TEST(csv_quotes_the_config_field)
{
    struct fixture fx;
    char *c;

    fixture_init(&fx, 1, 0);
    add(&fx, "default", 40 * MIB, 30 * MIB, 0);
    add(&fx, "expandable_segments:True,max_split_size_mb:64", 36 * MIB, 30 * MIB, 1);
    finish(&fx);
    c = render(gt_report_csv_write, "run.db", &fx.a);
    ck_assert_str_eq(c, "device,rank,config,peak_reserved_bytes,peak_allocated_bytes,"
                        "fragmentation_at_peak,unallocated_at_peak_bytes,num_device_alloc,"
                        "num_device_free,num_alloc_retries,num_ooms,first_oom_event,same_run_as\n"
                        "0,1,\"default\",41943040,31457280,0.250000,10485760,3,1,0,0,,\n"
                        "0,2,\"expandable_segments:True,max_split_size_mb:64\",37748736,"
                        "31457280,0.166667,6291456,3,1,1,1,7,\n");
    free(c);
}
END_TEST

/* Configs whose run was another's (replay.h: same_run_as): the table and
 * the HTML say so in one sentence per run, JSON and CSV name the run. */
START_TEST(configs_that_ran_as_another_are_named_in_every_format)
{
    struct fixture fx;
    fixture_init(&fx, 1, 0);
    add(&fx, "default", 40 * MIB, 30 * MIB, 0);
    add(&fx, "max_split_size_mb:512", 40 * MIB, 30 * MIB, 0)->same_run_as = 0;
    add(&fx, "expandable_segments:True", 36 * MIB, 30 * MIB, 0);
    add(&fx, "max_split_size_mb:256", 40 * MIB, 30 * MIB, 0)->same_run_as = 0;
    add(&fx, "max_split_size_mb:64", 44 * MIB, 30 * MIB, 0);
    add(&fx, "max_split_size_mb:128", 44 * MIB, 30 * MIB, 0)->same_run_as = 4;
    /* PyTorch's clamped limit is no limit: the same settings as default */
    add(&fx, "max_split_size_mb:17592186044415", 40 * MIB, 30 * MIB, 0)->same_run_as = 0;
    finish(&fx);
    char *t = render(gt_report_table_write, "run.db", &fx.a);
    assert_contains(t, "note: max_split_size_mb:512 and max_split_size_mb:256 ran exactly as "
                       "default: no request reached their max_split_size\n");
    assert_contains(t, "note: max_split_size_mb:128 ran exactly as max_split_size_mb:64: no "
                       "request reached its max_split_size\n");
    assert_contains(t, "note: max_split_size_mb:17592186044415 ran exactly as default: the same "
                       "settings\n");
    assert_before(t, "ran exactly as default", "ran exactly as max_split_size_mb:64");
    free(t);
    char *j = render(gt_report_json_write, "run.db", &fx.a);
    assert_contains(j, "\"config\": \"max_split_size_mb:256\"");
    assert_contains(j, "\"first_oom_event\": null, \"same_run_as\": \"default\"}");
    assert_contains(j, "\"same_run_as\": \"max_split_size_mb:64\"}");
    free(j);
    char *c = render(gt_report_csv_write, "run.db", &fx.a);
    assert_contains(c, "\"max_split_size_mb:128\",46137344,31457280,0.318182,14680064,3,1,0,0,,"
                       "\"max_split_size_mb:64\"\n");
    free(c);
}
END_TEST

START_TEST(a_write_error_is_reported_as_eio)
{
    struct fixture fx;
    FILE *f = fopen("/dev/full", "w");

    if (f == NULL)
        return; /* no /dev/full on this system */
    setvbuf(f, NULL, _IONBF, 0);
    three_configs(&fx, 0);
    ck_assert_int_eq(gt_report_table_write(f, "run.db", &fx.a), GT_EIO);
    ck_assert_int_eq(gt_report_json_write(f, "run.db", &fx.a), GT_EIO);
    ck_assert_int_eq(gt_report_csv_write(f, "run.db", &fx.a), GT_EIO);
    fclose(f);
}
END_TEST

START_TEST(clean_replaces_control_characters_and_truncates)
{
    char buf[8];

    ck_assert_str_eq(gt_text_clean("a\tb\x7f", buf, sizeof buf), "a?b?");
    ck_assert_str_eq(gt_text_clean("0123456789", buf, sizeof buf), "0123456");
    ck_assert_str_eq(gt_text_clean(NULL, buf, sizeof buf), "");
    char name[] = "GPU\n0\x1b[2J"; /* a device name from another process, cleaned in place */
    ck_assert_str_eq(gt_text_clean(name, name, sizeof name), "GPU?0?[2J");
}
END_TEST

/* One field through gt_report_csv_field, as a string. */
static char *csv_field(const char *text, enum gt_report_csv_quote q)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);

    ck_assert_ptr_nonnull(f);
    gt_report_csv_field(f, text, q);
    ck_assert_int_eq(fclose(f), 0);
    return out;
}

START_TEST(csv_fields_are_quoted_as_asked_and_cannot_forge_rows)
{
    const struct {
        const char *text;
        enum gt_report_csv_quote q;
        const char *want;
    } cases[] = {
        {"plain", GT_CSV_QUOTE_ALWAYS, "\"plain\""},
        {"plain", GT_CSV_QUOTE_NEEDED, "plain"},
        {"a,b", GT_CSV_QUOTE_NEEDED, "\"a,b\""},
        {"say \"hi\"", GT_CSV_QUOTE_NEEDED, "\"say \"\"hi\"\"\""},
        /* a newline stays inside quotes; CR and ESC are shown as '?' */
        {"two\nlines\r", GT_CSV_QUOTE_NEEDED, "\"two\nlines?\""},
        {"tab\there\x1b[2J", GT_CSV_QUOTE_NEVER, "tab\there?[2J"},
        {"", GT_CSV_QUOTE_ALWAYS, "\"\""},
    };

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = csv_field(cases[i].text, cases[i].q);
        ck_assert_str_eq(got, cases[i].want);
        free(got);
    }
}
END_TEST

static Suite *report_suite(void)
{
    Suite *s = suite_create("report");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, table_lists_configs_in_rank_order_with_sizes_and_first_oom);
    tcase_add_test(tc, table_ends_with_the_export_lines_for_bash_and_powershell);
    tcase_add_test(tc, shell_special_characters_in_the_config_are_quoted);
    tcase_add_test(tc, when_default_wins_the_table_says_unset);
    tcase_add_test(tc, nocache_ranking_first_is_called_a_baseline_not_advice);
    tcase_add_test(tc, when_every_config_runs_out_the_table_says_none_fits_and_by_how_much);
    tcase_add_test(tc, when_only_nocache_fits_the_table_says_so_without_advising_it);
    tcase_add_test(tc, the_traces_own_config_is_marked);
    tcase_add_test(tc, control_characters_from_the_trace_are_replaced_in_the_table);
    tcase_add_test(tc, json_has_the_documented_keys_and_null_for_no_oom);
    tcase_add_test(tc, json_escapes_quotes_backslashes_and_control_characters);
    tcase_add_test(tc, json_has_one_shape_for_one_or_several_devices);
    tcase_add_test(tc, configs_that_fail_rank_by_how_far_they_get);
    tcase_add_test(tc, one_recommendation_per_process_from_its_worst_device);
    tcase_add_test(tc, a_job_of_several_traces_gets_one_recommendation);
    tcase_add_test(tc, the_fit_column_shows_each_configs_smallest_card);
    tcase_add_test(tc, csv_quotes_the_config_field);
    tcase_add_test(tc, configs_that_ran_as_another_are_named_in_every_format);
    tcase_add_test(tc, csv_fields_are_quoted_as_asked_and_cannot_forge_rows);
    tcase_add_test(tc, a_write_error_is_reported_as_eio);
    tcase_add_test(tc, clean_replaces_control_characters_and_truncates);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(report_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
