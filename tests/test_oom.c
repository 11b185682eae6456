/* Tests of the OOM diagnosis (oom.h): small CSV traces whose OOMs follow by
 * hand from the allocator rules (docs/notes/pytorch-allocator.md §2, §4,
 * §5, §10), a trace written with stacks for the frames, and the real OOM of
 * the H100 capped recording (tests/data/gpu-h100/capture.log). */
#include <check.h>
#include <dirent.h>
#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gputrace/conf.h"
#include "gputrace/err.h"
#include "gputrace/import.h"
#include "gputrace/oom.h"
#include "gputrace/peak.h"
#include "gputrace/schema.h"
#include "gputrace/trace.h"
#include "gputrace/units.h"
#include "gputrace/oom_report.h"

#include "gputrace/banned.h"

#define HEADER "ts_ns,action,addr,size,stream,device\n"
#define MIB ((uint64_t)1 << 20)

#include "test_tmpdir.h"

/* Imports CSV text (or the CSV file at csv_path when text is NULL) into a
 * new trace and returns its path. */
static const char *import(const char *text, const char *csv_path,
                          const struct gt_import_options *opts)
{
    static int n;
    char name[32], err[256] = "";
    const char *trace;

    if (text != NULL) {
        FILE *f;
        csv_path = path_of("in.csv");
        f = fopen(csv_path, "wb");
        ck_assert_ptr_nonnull(f);
        ck_assert_uint_eq(fwrite(text, 1, strlen(text), f), strlen(text));
        ck_assert_int_eq(fclose(f), 0);
    }
    snprintf(name, sizeof name, "t%d.db", n++);
    trace = path_of(name);
    ck_assert_msg(gt_import_csv_with(csv_path, trace, opts, NULL, err, sizeof err) == 0, "%s", err);
    return trace;
}

static struct gt_oom_report *analyze(const char *trace, const char *conf_text, uint64_t cap)
{
    struct gt_oom_report *r = NULL;
    struct gt_conf conf;
    char err[256] = "";

    if (conf_text != NULL)
        ck_assert_int_eq(gt_conf_parse(conf_text, &conf, err, sizeof err), 0);
    struct gt_scenario *scn = NULL;
    ck_assert_msg(gt_scenario_build(trace, cap, &scn, err, sizeof err) == 0, "%s", err);
    ck_assert_msg(gt_oom_analyze(trace, scn, conf_text ? &conf : NULL, NULL, &r, err, sizeof err) ==
                      0,
                  "%s", err);
    gt_scenario_free(scn);
    ck_assert_ptr_nonnull(r);
    return r;
}

static const struct gt_oom_avoid *find_avoid(const struct gt_oom_report *r, const char *config)
{
    for (size_t i = 0; i < r->navoid; i++)
        if (strcmp(r->avoid[i].config, config) == 0)
            return &r->avoid[i];
    return NULL;
}

/* The report as text, written to a file and read back. */
static char *render(const struct gt_oom_report *r, bool json)
{
    static char buf[65536];
    FILE *f = fopen(path_of("out.txt"), "w+");
    size_t n;

    ck_assert_ptr_nonnull(f);
    if (json)
        ck_assert_int_eq(gt_oom_json_write(f, "trace.db", r), 0);
    else
        ck_assert_int_eq(gt_oom_table_write(f, "trace.db", r), 0);
    rewind(f);
    n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

#define ck_assert_contains(text, part)                                                             \
    ck_assert_msg(strstr((text), (part)) != NULL, "'%s' not in:\n%s", (part), (text))

/* 100 MiB freed, 30 MiB, then 100 MiB under a 150 MiB cap. Default: the
 * 30 MiB splits the cached 100 MiB segment (§5), the second 100 MiB finds no
 * block, a new segment would make 200 MiB (§4.2) and no whole segment is free
 * to release (§4.4): OOM at event 3 with 30 MiB allocated and 100 MiB
 * reserved, though 30 + 100 <= 150: fragmentation. */
static const char frag_csv[] = HEADER "1000,alloc,0x7f0000000000,104857600,0,0\n"
                                      "2000,free,0x7f0000000000,,0,0\n"
                                      "3000,alloc,0x7f0000000000,31457280,0,0\n"
                                      "4000,alloc,0x7f0010000000,104857600,0,0\n";

START_TEST(live_blocks_pinning_a_segment_make_a_fragmentation_oom)
{
    struct gt_oom_report *r = analyze(import(frag_csv, NULL, NULL), "default", 150 * MIB);
    const struct gt_oom *o;

    ck_assert_int_eq(r->ooms_total, 1);
    ck_assert_uint_eq(r->nooms, 1);
    o = &r->ooms[0];
    ck_assert_int_eq(o->event, 3);
    ck_assert(!o->recorded);
    ck_assert(!o->after_first);
    ck_assert_uint_eq(o->requested, 100 * MIB);
    /* MIRRORS: get_allocation_size: >= 10 MiB rounds up to 2 MiB -> 100 MiB */
    ck_assert_uint_eq(o->tried_to_allocate, 100 * MIB);
    ck_assert_uint_eq(o->capacity, 150 * MIB);
    ck_assert_uint_eq(o->allocated, 30 * MIB);
    ck_assert_uint_eq(o->reserved, 100 * MIB);
    ck_assert_uint_eq(o->reserved_unallocated, 70 * MIB);
    ck_assert_uint_eq(o->largest_free_block, 70 * MIB);
    ck_assert_int_eq(o->verdict, GT_OOM_FRAGMENTATION);
    ck_assert_uint_eq(o->need, 130 * MIB);
    ck_assert_uint_eq(o->shrink_needed, 0);
    ck_assert_uint_eq(o->live_count, 1);
    ck_assert_uint_eq(o->ntop, 1);
    ck_assert_uint_eq(o->top[0].size, 30 * MIB);
    ck_assert_int_eq(o->top[0].event, 2);
    ck_assert_int_eq(o->top[0].age_events, 1);
    ck_assert_int_eq(o->top[0].age_ns, 1000);
    ck_assert_uint_eq(o->top[0].nframes, 0);
    gt_oom_report_free(r);
}
END_TEST

START_TEST(max_split_size_and_expandable_segments_avoid_the_fragmentation_oom)
{
    struct gt_oom_report *r = analyze(import(frag_csv, NULL, NULL), "default", 150 * MIB);
    const struct gt_oom_avoid *split = find_avoid(r, "max_split_size_mb:64");
    const struct gt_oom_avoid *exp = find_avoid(r, "expandable_segments:True");
    const struct gt_oom_avoid *def = find_avoid(r, "default");

    /* max_split_size_mb:64: 30 MiB may not take the 100 MiB oversize block
     * (§4.1), so it gets its own 30 MiB segment; the second 100 MiB reuses the
     * cached one unsplit: peak reserved 130 MiB, margin 20 MiB. */
    ck_assert_ptr_nonnull(split);
    ck_assert_int_eq(split->num_ooms, 0);
    ck_assert_uint_eq(split->peak_reserved, 130 * MIB);
    ck_assert_uint_eq(split->margin, 20 * MIB);
    /* expandable: 30 MiB splits the mapped 100 MiB (§5); the second 100 MiB
     * takes the 70 MiB tail and maps 30 MiB more in two 20 MiB pages (§10.3):
     * 140 MiB, margin 10 MiB. */
    ck_assert_ptr_nonnull(exp);
    ck_assert_int_eq(exp->num_ooms, 0);
    ck_assert_uint_eq(exp->peak_reserved, 140 * MIB);
    ck_assert_uint_eq(exp->margin, 10 * MIB);
    /* default is the config analysed: it fails, at the same event */
    ck_assert_ptr_nonnull(def);
    ck_assert_int_eq(def->num_ooms, 1);
    ck_assert_int_eq(def->first_oom_event, 3);
    /* no advice to stop caching */
    ck_assert_ptr_null(find_avoid(r, "nocache"));
    /* the widest margin comes first */
    ck_assert_str_eq(r->avoid[0].config, "max_split_size_mb:64");

    char *t = render(r, false);
    ck_assert_contains(t, "OOM at event 3: asked for 100.00 MiB (PyTorch tries 100.00 MiB) on a "
                          "150.00 MiB card with 30.00 MiB allocated and 70.00 MiB reserved but "
                          "unallocated; the largest free block is 70.00 MiB");
    ck_assert_contains(t, "verdict: fragmentation: the memory exists but is split");
    ck_assert_contains(t, "avoided by: max_split_size_mb:64 (margin 20.00 MiB)");
    ck_assert_contains(t, "expandable_segments:True (margin 10.00 MiB)");
    gt_oom_report_free(r);
}
END_TEST

/* 100 MiB, then 60 MiB, under a 150 MiB cap: a second segment would make
 * 160 MiB and nothing is free to release: 100 + 60 > 150, a genuine OOM that
 * needs the peak 10 MiB (6.25 % of 160 MiB) lower. */
static const char genuine_csv[] = HEADER "1000,alloc,0x7f0000000000,104857600,0,0\n"
                                         "2000,alloc,0x7f0010000000,62914560,0,0\n";

START_TEST(live_memory_beyond_the_card_is_a_genuine_oom_with_the_exact_shrink)
{
    struct gt_oom_report *r = analyze(import(genuine_csv, NULL, NULL), "default", 150 * MIB);
    const struct gt_oom *o;

    ck_assert_int_eq(r->ooms_total, 1);
    o = &r->ooms[0];
    ck_assert_int_eq(o->event, 1);
    ck_assert_uint_eq(o->tried_to_allocate, 60 * MIB);
    ck_assert_uint_eq(o->allocated, 100 * MIB);
    ck_assert_uint_eq(o->reserved, 100 * MIB);
    ck_assert_uint_eq(o->reserved_unallocated, 0);
    ck_assert_uint_eq(o->largest_free_block, 0);
    ck_assert_int_eq(o->verdict, GT_OOM_GENUINE);
    ck_assert_uint_eq(o->need, 160 * MIB);
    ck_assert_uint_eq(o->shrink_needed, 10485760);
    ck_assert_double_eq_tol(o->shrink_fraction, 0.0625, 1e-12);
    /* every caching config needs 160 MiB at once: none avoids it */
    for (size_t i = 0; i < r->navoid; i++)
        ck_assert_msg(r->avoid[i].num_ooms > 0, "%s avoids it", r->avoid[i].config);

    char *t = render(r, false);
    ck_assert_contains(t, "verdict: genuine: live tensors plus this request need 160.00 MiB, "
                          "10.00 MiB more than the card; cut the peak by 7% (e.g. the batch)");
    ck_assert_contains(t, "no config of the sweep runs without OOM: the peak itself must shrink");
    t = render(r, true);
    ck_assert_contains(t, "\"verdict\": \"genuine\"");
    ck_assert_contains(t, "\"shrink_needed_bytes\": 10485760");
    ck_assert_contains(t, "\"avoided_by\": []");
    gt_oom_report_free(r);
}
END_TEST

/* The recording itself failed: an oom row (size = bytes asked) on a card
 * the import says has 150 MiB, under the settings it was recorded with. */
static const char recorded_csv[] = HEADER "1000,alloc,0x7f0000000000,104857600,0,0\n"
                                          "2000,oom,0,62914560,0,0\n";

START_TEST(a_recorded_oom_row_is_reproduced_on_the_recorded_card)
{
    struct gt_import_options io = {.alloc_conf = "max_split_size_mb:64",
                                   .device_memory = 150 * MIB};
    const char *trace = import(recorded_csv, NULL, &io);
    struct gt_oom_report *r = analyze(trace, NULL, 0);

    ck_assert_str_eq(r->config, "max_split_size_mb:64");
    ck_assert(r->config_recorded);
    ck_assert_int_eq(r->recorded_ooms, 1);
    ck_assert_int_eq(r->recorded_served, 0);
    ck_assert_int_eq(r->ooms_total, 1);
    ck_assert_int_eq(r->ooms[0].event, 1);
    ck_assert(r->ooms[0].recorded);
    ck_assert_uint_eq(r->ooms[0].capacity, 150 * MIB);
    ck_assert_int_eq(r->ooms[0].verdict, GT_OOM_GENUINE);
    ck_assert_uint_eq(r->ooms[0].shrink_needed, 10 * MIB);
    gt_oom_report_free(r);

    /* On a bigger card the same request is served: no OOM, and it says so. */
    r = analyze(trace, NULL, 1024 * MIB);
    ck_assert_int_eq(r->ooms_total, 0);
    ck_assert_int_eq(r->recorded_served, 1);
    ck_assert_int_eq(r->first_recorded_served, 1);
    char *t = render(r, false);
    ck_assert_contains(t, "no OOM with max_split_size_mb:64 on 1.00 GiB\n");
    ck_assert_contains(t, "note: the recording ran out of memory 1 time (first at event 1)");
    gt_oom_report_free(r);
}
END_TEST

START_TEST(only_the_first_ooms_are_detailed_and_the_later_ones_are_consequences)
{
    char csv[4096];
    size_t n = (size_t)snprintf(csv, sizeof csv, "%s", recorded_csv);
    struct gt_import_options io = {.device_memory = 150 * MIB};

    for (int i = 0; i < GT_OOM_MAX_DETAILED + 4; i++)
        n += (size_t)snprintf(csv + n, sizeof csv - n, "%d,oom,0,62914560,0,0\n", 3000 + i);
    struct gt_oom_report *r = analyze(import(csv, NULL, &io), NULL, 0);
    ck_assert_int_eq(r->ooms_total, GT_OOM_MAX_DETAILED + 5);
    ck_assert_uint_eq(r->nooms, GT_OOM_MAX_DETAILED);
    ck_assert(!r->ooms[0].after_first);
    for (size_t i = 1; i < r->nooms; i++)
        ck_assert(r->ooms[i].after_first);
    char *t = render(r, false);
    ck_assert_contains(t, "5 more OOMs not shown (25 in all)");
    ck_assert_contains(t, "note: the run had already failed at event 1");
    gt_oom_report_free(r);
}
END_TEST

START_TEST(no_oom_says_so_with_the_config_and_the_card)
{
    struct gt_oom_report *r =
        analyze(import(frag_csv, NULL, NULL), "expandable_segments:True", 150 * MIB);

    ck_assert_int_eq(r->ooms_total, 0);
    ck_assert_uint_eq(r->navoid, 0); /* no sweep without an OOM to explain */
    ck_assert_contains(render(r, false), "no OOM with expandable_segments:True on 150.00 MiB\n");
    ck_assert_contains(render(r, true), "\"ooms\": [],\n  \"ooms_total\": 0");
    gt_oom_report_free(r);
}
END_TEST

/* Frames of a live allocation: the user's own .py frames first, then those
 * of installed packages, then a few C++ ones, although PyTorch records them
 * innermost first. */
START_TEST(frames_put_the_users_python_code_first)
{
    const char *trace = path_of("frames.db");
    struct gt_trace_writer *w;
    char err[256] = "";
    const struct gt_frame stack[] = {
        {"??", "torch::unwind::unwind()", 0},
        {"/venv/lib/python3.12/site-packages/torch/nn/functional.py", "linear", 2000},
        {"/home/me/train.py", "forward", 42},
        {"/home/me/train.py", "<module>", 99},
    };
    struct gt_event a = {
        .kind = GT_EV_ALLOC, .addr = 0x1000, .size = 100 * MIB, .requested = 100 * MIB};
    struct gt_event b = {.kind = GT_EV_OOM, .size = 60 * MIB, .requested = 60 * MIB};

    ck_assert_msg(gt_trace_create(trace, &w, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(gt_trace_add_device(w, 0, "card", 150 * MIB), 0);
    ck_assert_int_eq(gt_trace_append(w, &a), 0);
    ck_assert_int_eq(gt_trace_set_stack(w, gt_trace_last_seq(w), stack, 4), 0);
    ck_assert_int_eq(gt_trace_append(w, &b), 0);
    ck_assert_int_eq(gt_trace_writer_close(w), 0);

    struct gt_oom_report *r = analyze(trace, NULL, 0);
    ck_assert_int_eq(r->ooms_total, 1);
    const struct gt_oom_alloc *t = &r->ooms[0].top[0];
    ck_assert_uint_eq(t->nframes, 4);
    ck_assert_str_eq(t->frames[0].file, "/home/me/train.py");
    ck_assert_int_eq(t->frames[0].line, 42);
    ck_assert_str_eq(t->frames[0].function, "forward");
    ck_assert_str_eq(t->frames[1].function, "<module>");
    ck_assert_str_eq(t->frames[2].function, "linear");
    ck_assert_str_eq(t->frames[3].file, "??");
    ck_assert_contains(render(r, false), "train.py:42 forward < train.py:99 <module> < "
                                         "functional.py:2000 linear");
    ck_assert_contains(render(r, true),
                       "\"frames\": [{\"file\": \"/home/me/train.py\", \"line\": 42, "
                       "\"function\": \"forward\"}");
    /* By call stack too, with the same order of frames; the groups hold
     * what is allocated at the OOM. */
    const struct gt_oom *o = &r->ooms[0];
    ck_assert_uint_eq(o->nstacks, 1);
    ck_assert_int_eq(o->stacks[0].origin, GT_PEAK_STACK);
    ck_assert_uint_eq(o->stacks[0].blocks, o->allocated);
    ck_assert_str_eq(o->stacks[0].frames[0].file, "/home/me/train.py");
    ck_assert_int_eq(o->stacks[0].frames[0].line, 42);
    ck_assert_str_eq(o->stacks[0].frames[2].function, "linear");
    ck_assert_contains(render(r, false), "live allocations by call stack (the largest 1 of 1)");
    gt_oom_report_free(r);
}
END_TEST

/* The capped H100 run (fraction 0.022476843567613442 of 79.18 GiB) died
 * with "Tried to allocate 210.00 MiB ... 1.47 GiB is allocated by PyTorch,
 * and 107.45 MiB is reserved by PyTorch but unallocated". */
START_TEST(the_h100_capped_oom_gives_pytorchs_three_numbers)
{
    struct gt_import_options io = {.alloc_conf = "per_process_memory_fraction:0.022476843567613442",
                                   .device_memory = 85017493504u};
    const char *trace = import(NULL, GT_TEST_DATA "/gpu-h100/truth/default-capped.csv", &io);
    struct gt_oom_report *r = analyze(trace, NULL, 0);
    const struct gt_oom *o;
    char a[32], b[32], c[32];

    ck_assert_int_eq(r->recorded_ooms, 1);
    ck_assert_int_eq(r->ooms_total, 1);
    o = &r->ooms[0];
    ck_assert(o->recorded);
    ck_assert_str_eq(gt_units_format_bytes(o->tried_to_allocate, a, sizeof a), "210.00 MiB");
    ck_assert_str_eq(gt_units_format_bytes(o->allocated, b, sizeof b), "1.47 GiB");
    ck_assert_str_eq(gt_units_format_bytes(o->reserved_unallocated, c, sizeof c), "107.45 MiB");
    ck_assert_uint_eq(o->requested, 219152384);
    ck_assert_uint_eq(o->allocated, 1579733504); /* the run's peak allocated (capture.log) */
    /* "1.78 GiB allowed" */
    ck_assert_str_eq(gt_units_format_bytes(o->capacity, a, sizeof a), "1.78 GiB");
    ck_assert_int_eq(o->verdict, GT_OOM_FRAGMENTATION);
    ck_assert_ptr_nonnull(find_avoid(r, "expandable_segments:True"));
    ck_assert_int_eq(find_avoid(r, "expandable_segments:True")->num_ooms, 0);
    ck_assert_contains(render(r, false), "asked for 209.00 MiB (PyTorch tries 210.00 MiB) on a "
                                         "1.78 GiB card with 1.47 GiB allocated and 107.45 MiB "
                                         "reserved but unallocated");
    /* the real expandable-capped run failed later: say what was not seen */
    ck_assert_contains(render(r, false), "(the recording ends at this OOM: they serve this "
                                         "request, but what the run did next was not recorded)");
    gt_oom_report_free(r);
}
END_TEST

START_TEST(a_missing_trace_is_an_error_and_no_report)
{
    struct gt_oom_report *r = (struct gt_oom_report *)&r;
    char err[256] = "";

    ck_assert_int_eq(gt_oom_analyze("/nonexistent/x.db", NULL, NULL, NULL, &r, err, sizeof err),
                     GT_ENOENT);
    ck_assert_ptr_null(r);
    gt_oom_report_free(NULL);
}
END_TEST

static Suite *oom_suite(void)
{
    Suite *s = suite_create("oom");
    TCase *t = tcase_create("oom");

    tcase_add_checked_fixture(t, make_dir, remove_dir);
    tcase_add_test(t, live_blocks_pinning_a_segment_make_a_fragmentation_oom);
    tcase_add_test(t, max_split_size_and_expandable_segments_avoid_the_fragmentation_oom);
    tcase_add_test(t, live_memory_beyond_the_card_is_a_genuine_oom_with_the_exact_shrink);
    tcase_add_test(t, a_recorded_oom_row_is_reproduced_on_the_recorded_card);
    tcase_add_test(t, only_the_first_ooms_are_detailed_and_the_later_ones_are_consequences);
    tcase_add_test(t, no_oom_says_so_with_the_config_and_the_card);
    tcase_add_test(t, frames_put_the_users_python_code_first);
    tcase_add_test(t, the_h100_capped_oom_gives_pytorchs_three_numbers);
    tcase_add_test(t, a_missing_trace_is_an_error_and_no_report);
    tcase_set_timeout(t, 120);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(oom_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
