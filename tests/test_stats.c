/* Tests of stats.h: the figures of `gpu-trace stats` on small CSV traces
 * whose every number is derived by hand in the comments, and on the
 * README's real H100 trace. */
#include <check.h>
#include <json-c/json.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gputrace/err.h"
#include "gputrace/import.h"
#include "gputrace/stats.h"
#include "gputrace/stats_report.h"

#include "gputrace/banned.h"

#define MIB ((uint64_t)1 << 20)
#define GIB ((uint64_t)1 << 30)
#define EXAMPLE GT_TEST_DATA "/../../examples/h100-train-loop.db"

struct tmp {
    char dir[64];
    char csv[128];
    char db[128];
};

/* Writes csv (after the header) and imports it with opts into a fresh
 * trace in a private folder. */
static void make_trace(struct tmp *t, const char *rows, const struct gt_import_options *opts)
{
    char err[256] = "";
    FILE *f;

    snprintf(t->dir, sizeof t->dir, "/tmp/gt-stats-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(t->dir));
    snprintf(t->csv, sizeof t->csv, "%s/trace.csv", t->dir);
    snprintf(t->db, sizeof t->db, "%s/trace.db", t->dir);
    f = fopen(t->csv, "w");
    ck_assert_ptr_nonnull(f);
    fputs("ts_ns,action,addr,size,stream,device\n", f);
    fputs(rows, f);
    ck_assert_int_eq(fclose(f), 0);
    ck_assert_msg(gt_import_csv_with(t->csv, t->db, opts, NULL, err, sizeof err) == 0, "%s", err);
}

static void remove_trace(struct tmp *t)
{
    unlink(t->csv);
    unlink(t->db);
    rmdir(t->dir);
}

static struct gt_stats *compute(const char *path)
{
    struct gt_stats *s = NULL;
    char err[256] = "";

    ck_assert_msg(gt_stats_compute(path, NULL, &s, err, sizeof err) == 0, "%s", err);
    ck_assert_ptr_nonnull(s);
    return s;
}

/* Writes s with writer into a string the caller frees. */
static char *write_to_string(int (*writer)(FILE *, const char *, const struct gt_stats *),
                             const char *path, const struct gt_stats *s)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(writer(f, path, s), 0);
    ck_assert_int_eq(fclose(f), 0);
    return buf;
}

/* One device, PyTorch's defaults, a 1 GiB card:
 *   ts 0    alloc 1000 B      small pool: 1024 B block in a new 2 MiB segment
 *   ts 100  alloc 3 MiB       large pool: 1 MiB < size < 10 MiB -> 20 MiB segment
 *   ts 200  free the 1000 B   (the 2 MiB segment is now wholly free)
 *   ts 300  alloc 2 MiB       split from the 17 MiB left in the 20 MiB segment
 *   ts 400  empty_cache       releases the free 2 MiB segment
 *   ts 500  free the 3 MiB
 * requested in use: 1000, 3146728, 3145728, 5242880 (peak), 5242880, 2097152
 * allocated: 1024, 3146752, 3145728, 5242880 (peak), 5242880, 2097152
 * reserved: 2, 22 (peak), 22, 22, 20, 20 MiB */
static const char ONE_DEVICE[] = "0,alloc,0x1000,1000,0,0\n"
                                 "100,alloc,0x2000,3145728,0,0\n"
                                 "200,free,0x1000,,0,0\n"
                                 "300,alloc,0x3000,2097152,0,0\n"
                                 "400,empty_cache,,,0,0\n"
                                 "500,free,0x2000,,0,0\n";

START_TEST(counts_requested_bytes_and_simulated_peaks_of_one_device)
{
    struct gt_import_options opts = {"", "Test Card", GIB};
    struct tmp t;
    struct gt_stats *s;

    make_trace(&t, ONE_DEVICE, &opts);
    s = compute(t.db);
    ck_assert_int_eq(s->events, 6);
    ck_assert_str_eq(s->config, "default");
    ck_assert(s->config_recorded);
    ck_assert_str_eq(s->config_error, "");
    ck_assert_uint_eq(s->ndevices, 1);
    const struct gt_stats_device *d = &s->devices[0];
    ck_assert_int_eq(d->device, 0);
    ck_assert_str_eq(d->name, "Test Card");
    ck_assert_uint_eq(d->total_memory, GIB);
    ck_assert_int_eq(d->events, 6);
    ck_assert_int_eq(d->first_ts_ns, 0);
    ck_assert_int_eq(d->last_ts_ns, 500);
    ck_assert_int_eq(d->allocs, 3);
    ck_assert_int_eq(d->frees, 2);
    ck_assert_int_eq(d->empty_caches, 1);
    ck_assert_int_eq(d->recorded_ooms, 0);
    ck_assert_int_eq(d->unknown_frees, 0);
    ck_assert_uint_eq(d->requested_peak, 5 * MIB);
    ck_assert_uint_eq(d->requested_final, 2 * MIB);
    ck_assert_uint_eq(d->device_memory, GIB);
    ck_assert_uint_eq(d->peak_allocated, 5 * MIB);
    ck_assert_uint_eq(d->peak_reserved, 22 * MIB);
    ck_assert_int_eq(d->simulated_ooms, 0);
    ck_assert_double_eq_tol(d->utilization, 22.0 / 1024.0, 1e-12);
    ck_assert(!d->has_real_segments);
    ck_assert(!s->has_host);
    gt_stats_free(s);
    remove_trace(&t);
}
END_TEST

/* The span 0..500 ns is 501 ns: slices of 51 ns, ten of them. A slice
 * without requests holds what the device held when it began; a slice with
 * requests the largest value, including the one it began with. */
START_TEST(timeline_slices_keep_the_maximum_and_carry_values_through_quiet_slices)
{
    static const uint64_t alloc[10] = {1024,    3146752, 3146752, 3146752, 3 * MIB,
                                       5 * MIB, 5 * MIB, 5 * MIB, 5 * MIB, 5 * MIB};
    static const uint64_t res[10] = {2 * MIB,  22 * MIB, 22 * MIB, 22 * MIB, 22 * MIB,
                                     22 * MIB, 22 * MIB, 22 * MIB, 20 * MIB, 20 * MIB};
    struct gt_import_options opts = {"", "Test Card", GIB};
    struct tmp t;
    struct gt_stats *s;

    make_trace(&t, ONE_DEVICE, &opts);
    s = compute(t.db);
    ck_assert(!s->by_index);
    ck_assert_uint_eq(s->nslices, 10);
    for (size_t i = 0; i < 10; i++) {
        const struct gt_stats_slice *sl = &s->devices[0].slices[i];
        ck_assert_int_eq(sl->start, (int64_t)i * 51);
        ck_assert_int_eq(sl->end, i == 9 ? 501 : (int64_t)(i + 1) * 51);
        ck_assert_msg(sl->allocated_max == alloc[i], "slice %zu allocated %llu", i,
                      (unsigned long long)sl->allocated_max);
        ck_assert_msg(sl->reserved_max == res[i], "slice %zu reserved %llu", i,
                      (unsigned long long)sl->reserved_max);
    }
    gt_stats_free(s);
    remove_trace(&t);
}
END_TEST

/* Every ts_ns is 0, so the timeline counts events. Host memory: 4096 and
 * 8192 B allocated (12288 peak), 4096 freed, 1024 allocated: 9216 at the
 * end, 13312 in total. Device 1 (no device row: card unknown) has real
 * segments 20 MiB + 2 MiB (22 MiB peak) of which 20 MiB go back, one
 * allocation of 1048577 B, a recorded OOM and a free of an address never
 * allocated. */
START_TEST(host_memory_real_segments_recorded_ooms_and_unknown_frees_are_counted)
{
    static const char rows[] = "0,host_alloc,0x10,4096,0,0\n"
                               "0,host_alloc,0x20,8192,0,0\n"
                               "0,host_free,0x10,4096,0,0\n"
                               "0,host_alloc,0x30,1024,0,0\n"
                               "0,segment_alloc,0xa000,20971520,0,1\n"
                               "0,alloc,0xa000,1048577,0,1\n"
                               "0,oom,0,10000000,0,1\n"
                               "0,free,0xbeef,,0,1\n"
                               "0,segment_alloc,0x20000000,2097152,0,1\n"
                               "0,segment_free,0xa000,20971520,0,1\n";
    struct tmp t;
    struct gt_stats *s;

    make_trace(&t, rows, NULL);
    s = compute(t.db);
    ck_assert_int_eq(s->events, 10);
    ck_assert(s->has_host);
    ck_assert_int_eq(s->host_allocs, 3);
    ck_assert_int_eq(s->host_frees, 1);
    ck_assert_uint_eq(s->host_peak, 12288);
    ck_assert_uint_eq(s->host_final, 9216);
    ck_assert_uint_eq(s->host_total, 13312);
    ck_assert(!s->config_recorded); /* a CSV imported without options says nothing */
    ck_assert_str_eq(s->config, "default");
    ck_assert_uint_eq(s->ndevices, 1);
    const struct gt_stats_device *d = &s->devices[0];
    ck_assert_int_eq(d->device, 1);
    ck_assert_str_eq(d->name, "");
    ck_assert_uint_eq(d->total_memory, 0);
    ck_assert_uint_eq(d->device_memory, 0);
    ck_assert_double_eq(d->utilization, -1.0);
    ck_assert_int_eq(d->events, 6);
    ck_assert_int_eq(d->allocs, 1);
    ck_assert_int_eq(d->frees, 1);
    ck_assert_int_eq(d->unknown_frees, 1);
    ck_assert_int_eq(d->recorded_ooms, 1);
    ck_assert_uint_eq(d->requested_peak, 1048577);
    ck_assert_uint_eq(d->requested_final, 1048577);
    ck_assert(d->has_real_segments);
    ck_assert_uint_eq(d->real_reserved_peak, 22 * MIB);
    ck_assert_uint_eq(d->real_reserved_final, 2 * MIB);
    /* 1048577 rounds to 1049088 B in a 20 MiB segment; unlimited memory
     * serves the recorded OOM's 10000000 B (10000384 rounded) from the same
     * segment. */
    ck_assert_uint_eq(d->peak_reserved, 20 * MIB);
    ck_assert_uint_eq(d->peak_allocated, 1049088 + 10000384);
    ck_assert_int_eq(d->simulated_ooms, 0);
    /* Positions 0-4 precede device 1's first request (position 5). */
    ck_assert(s->by_index);
    ck_assert_uint_eq(s->nslices, 10);
    for (size_t i = 0; i < 5; i++)
        ck_assert_uint_eq(d->slices[i].reserved_max, 0);
    ck_assert_int_eq(d->slices[5].start, 5);
    ck_assert_int_eq(d->slices[5].end, 6);
    ck_assert_uint_eq(d->slices[5].allocated_max, 1049088);
    ck_assert_uint_eq(d->slices[5].reserved_max, 20 * MIB);
    ck_assert_uint_eq(d->slices[9].reserved_max, 20 * MIB);
    gt_stats_free(s);
    remove_trace(&t);
}
END_TEST

START_TEST(the_recorded_config_is_replayed_and_a_bad_one_falls_back_to_the_defaults)
{
    struct gt_import_options good = {"expandable_segments:True", "Test Card", GIB};
    struct gt_import_options bad = {"max_split_size_mb:1", "Test Card", GIB};
    struct tmp t;
    struct gt_stats *s;

    make_trace(&t, ONE_DEVICE, &good);
    s = compute(t.db);
    ck_assert_str_eq(s->config, "expandable_segments:True");
    ck_assert(s->config_recorded);
    /* Expandable segments grow in 2 MiB pages (small pool) and 20 MiB pages
     * (large pool): 2 MiB + 20 MiB, never more. */
    ck_assert_uint_eq(s->devices[0].peak_reserved, 22 * MIB);
    gt_stats_free(s);
    remove_trace(&t);

    make_trace(&t, ONE_DEVICE, &bad);
    s = compute(t.db);
    ck_assert_str_eq(s->config, "default");
    ck_assert(!s->config_recorded);
    ck_assert_ptr_nonnull(strstr(s->config_error, "max_split_size_mb:1"));
    ck_assert_uint_eq(s->devices[0].peak_reserved, 22 * MIB);
    gt_stats_free(s);
    remove_trace(&t);
}
END_TEST

START_TEST(an_empty_trace_has_no_devices_and_one_slice)
{
    struct tmp t;
    struct gt_stats *s;
    char *json;

    make_trace(&t, "", NULL);
    s = compute(t.db);
    ck_assert_int_eq(s->events, 0);
    ck_assert_uint_eq(s->ndevices, 0);
    ck_assert_uint_eq(s->nslices, 1);
    json = write_to_string(gt_stats_json_write, t.db, s);
    json_object *o = json_tokener_parse(json);
    ck_assert_msg(o != NULL, "not JSON: %s", json);
    json_object_put(o);
    free(json);
    gt_stats_free(s);
    remove_trace(&t);
}
END_TEST

START_TEST(a_missing_file_is_enoent_with_a_message)
{
    struct gt_stats *s = (struct gt_stats *)&s;
    char err[256] = "";

    ck_assert_int_eq(gt_stats_compute("/nonexistent/run.db", NULL, &s, err, sizeof err), GT_ENOENT);
    ck_assert_ptr_null(s);
    ck_assert_str_ne(err, "");
}
END_TEST

/* Hand-checked against the trace with sqlite3: the requested bytes and the
 * recording's own segment events, summed event by event. */
START_TEST(the_h100_example_matches_its_recording)
{
    struct gt_stats *s = compute(EXAMPLE);

    ck_assert_int_eq(s->events, 10178);
    ck_assert(s->config_recorded);
    ck_assert_str_eq(s->config, "default");
    ck_assert_uint_eq(s->ndevices, 1);
    const struct gt_stats_device *d = &s->devices[0];
    ck_assert_str_eq(d->name, "NVIDIA H100 80GB HBM3");
    ck_assert_uint_eq(d->total_memory, 85017493504ull);
    ck_assert_int_eq(d->allocs, 5108);
    ck_assert_int_eq(d->frees, 4952);
    ck_assert_int_eq(d->empty_caches, 1);
    ck_assert_int_eq(d->recorded_ooms, 0);
    ck_assert_int_eq(d->last_ts_ns - d->first_ts_ns, 6439099000);
    ck_assert_uint_eq(d->requested_peak, 2225518856ull);
    ck_assert_uint_eq(d->requested_final, 320233472ull);
    ck_assert(d->has_real_segments);
    ck_assert_uint_eq(d->real_reserved_peak, 2388656128ull);
    ck_assert_uint_eq(d->real_reserved_final, 2143289344ull);
    /* The simulator reproduces the real allocator (README, test_truth). */
    ck_assert_uint_eq(d->peak_reserved, d->real_reserved_peak);
    ck_assert_uint_ge(d->peak_allocated, d->requested_peak);
    ck_assert_uint_le(d->peak_allocated, d->peak_reserved);
    ck_assert_double_eq_tol(d->utilization, 2388656128.0 / 85017493504.0, 1e-12);
    ck_assert_uint_eq(s->nslices, 10);
    uint64_t max = 0;
    for (size_t i = 0; i < s->nslices; i++) {
        if (d->slices[i].reserved_max > max)
            max = d->slices[i].reserved_max;
        ck_assert_uint_le(d->slices[i].allocated_max, d->slices[i].reserved_max);
    }
    ck_assert_uint_eq(max, d->peak_reserved); /* some slice holds the peak */
    gt_stats_free(s);
}
END_TEST

START_TEST(json_has_the_documented_keys_in_bytes)
{
    struct gt_stats *s = compute(EXAMPLE);
    char *json = write_to_string(gt_stats_json_write, "ex.db", s);
    json_object *o = json_tokener_parse(json), *v, *dev, *tl;

    ck_assert_msg(o != NULL, "not JSON: %s", json);
    static const char *const top[] = {"trace",         "events",          "duration_seconds",
                                      "config",        "config_recorded", "config_error",
                                      "timeline_unit", "devices",         "host"};
    for (size_t i = 0; i < sizeof top / sizeof top[0]; i++)
        ck_assert_msg(json_object_object_get_ex(o, top[i], &v), "no key %s", top[i]);
    ck_assert(json_object_object_get_ex(o, "devices", &v));
    ck_assert_int_eq((int)json_object_array_length(v), 1);
    dev = json_object_array_get_idx(v, 0);
    static const char *const keys[] = {"device",
                                       "name",
                                       "total_memory_bytes",
                                       "events",
                                       "duration_seconds",
                                       "allocs",
                                       "frees",
                                       "empty_caches",
                                       "recorded_ooms",
                                       "requested_peak_bytes",
                                       "requested_final_bytes",
                                       "device_memory_bytes",
                                       "peak_allocated_bytes",
                                       "peak_reserved_bytes",
                                       "simulated_ooms",
                                       "utilization",
                                       "real_reserved_peak_bytes",
                                       "real_reserved_final_bytes",
                                       "unknown_frees",
                                       "timeline"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        ck_assert_msg(json_object_object_get_ex(dev, keys[i], &v), "no key %s", keys[i]);
    ck_assert(json_object_object_get_ex(dev, "peak_reserved_bytes", &v));
    ck_assert_int_eq(json_object_get_int64(v), 2388656128);
    ck_assert(json_object_object_get_ex(dev, "requested_peak_bytes", &v));
    ck_assert_int_eq(json_object_get_int64(v), 2225518856);
    ck_assert(json_object_object_get_ex(dev, "timeline", &tl));
    ck_assert_int_eq((int)json_object_array_length(tl), 10);
    ck_assert(
        json_object_object_get_ex(json_object_array_get_idx(tl, 0), "reserved_max_bytes", &v));
    ck_assert(json_object_object_get_ex(o, "host", &v));
    ck_assert(json_object_get_type(v) == json_type_null);
    json_object_put(o);
    free(json);
    gt_stats_free(s);
}
END_TEST

START_TEST(control_characters_of_a_device_name_are_replaced_in_the_table)
{
    struct gt_import_options opts = {"", "Evil\033[2JCard\nline", GIB};
    struct tmp t;
    struct gt_stats *s;
    char *text;

    make_trace(&t, ONE_DEVICE, &opts);
    s = compute(t.db);
    text = write_to_string(gt_stats_table_write, t.db, s);
    ck_assert_ptr_null(strchr(text, '\033'));
    ck_assert_ptr_nonnull(strstr(text, "Evil?[2JCard?line"));
    ck_assert_ptr_nonnull(
        strstr(text, "peak allocated 5.00 MiB, peak reserved 22.00 MiB on 1.00 GiB"));
    ck_assert_ptr_nonnull(strstr(text, "2.15% of the card"));
    free(text);
    text = write_to_string(gt_stats_json_write, t.db, s);
    ck_assert_ptr_nonnull(strstr(text, "\"Evil\\u001b[2JCard\\u000aline\""));
    free(text);
    gt_stats_free(s);
    remove_trace(&t);
}
END_TEST

static Suite *stats_suite(void)
{
    Suite *s = suite_create("stats");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, counts_requested_bytes_and_simulated_peaks_of_one_device);
    tcase_add_test(tc, timeline_slices_keep_the_maximum_and_carry_values_through_quiet_slices);
    tcase_add_test(tc, host_memory_real_segments_recorded_ooms_and_unknown_frees_are_counted);
    tcase_add_test(tc, the_recorded_config_is_replayed_and_a_bad_one_falls_back_to_the_defaults);
    tcase_add_test(tc, an_empty_trace_has_no_devices_and_one_slice);
    tcase_add_test(tc, a_missing_file_is_enoent_with_a_message);
    tcase_add_test(tc, the_h100_example_matches_its_recording);
    tcase_add_test(tc, json_has_the_documented_keys_in_bytes);
    tcase_add_test(tc, control_characters_of_a_device_name_are_replaced_in_the_table);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(stats_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
