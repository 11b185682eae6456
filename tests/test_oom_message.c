/* Tests of oom_message.h: real out-of-memory messages users pasted in public
 * threads (tests/data/oom-messages/, sources in its SOURCES.md), every
 * wording PyTorch has printed. The numbers are those the messages print;
 * the verdicts are derived by hand from the rules in oom_message.c:
 *   fragmentation  the cache (reserved but unallocated) holds the request, or
 *                  free + cache do and a cached block cannot grow into free memory;
 *   genuine        request > free + cache, and what else holds the card
 *                  (other processes) is less than what is missing;
 *   other_process  request > free + cache, and other processes hold more
 *                  than what is missing;
 *   unclear        the driver had room for the request's segment (a limit),
 *                  the numbers are within PyTorch's rounding of each other, or
 *                  the message lacks them (MPS, cudaMallocAsync without a breach). */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gputrace/err.h"
#include "gputrace/oom_message.h"

#include "gputrace/banned.h"

#define DATA GT_TEST_DATA "/oom-messages/"

/* "496.00 MiB" as the parser must read it: rounded to the nearest byte. */
static uint64_t bytes_of(const char *printed)
{
    static const struct {
        const char *unit;
        double bytes;
    } units[] = {{"bytes", 1}, {"KiB", 1024},   {"MiB", 1048576},    {"GiB", 1073741824.0},
                 {"KB", 1024}, {"MB", 1048576}, {"GB", 1073741824.0}};
    char *end;
    double v = strtod(printed, &end);

    while (*end == ' ')
        end++;
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++)
        if (strcmp(end, units[i].unit) == 0)
            return (uint64_t)llround(v * units[i].bytes);
    ck_abort_msg("bad test size '%s'", printed);
    return 0;
}

static void expect_value(const char *file, const char *name, const struct gt_oom_msg_value *v,
                         const char *printed)
{
    if (printed == NULL)
        return;
    ck_assert_msg(v->known, "%s: %s not read", file, name);
    ck_assert_msg(v->bytes == bytes_of(printed), "%s: %s is %llu, the message says %s", file, name,
                  (unsigned long long)v->bytes, printed);
}

/* One message: its wording, GPU, the numbers it prints, and the verdict. */
static const struct {
    const char *file, *format;
    int gpu; /* -1: not printed */
    const char *tried, *total, *free, *allocated, *unallocated, *reserved;
    const char *verdict;
} cases[] = {
    {"cuda21-2.txt", "cuda", 0, "26.00 MiB", "11.66 GiB", "9.81 MiB", "9.30 GiB", "163.19 MiB",
     NULL, "fragmentation"},
    {"cuda21-3.txt", "cuda", 0, "55.57 GiB", "12.00 GiB", "9.02 GiB", "984.52 MiB", "463.48 MiB",
     NULL, "genuine"},
    {"cuda21-5.txt", "cuda", 0, "22.00 MiB", "23.65 GiB", "11.06 MiB", "22.90 GiB", "194.87 MiB",
     NULL, "fragmentation"},
    {"cuda21-7.txt", "cuda", 0, "22.78 GiB", "31.47 GiB", "12.73 GiB", "9.08 GiB", "9.35 GiB", NULL,
     "genuine"},
    {"cuda21-8.txt", "cuda", 0, "2.00 GiB", "4.00 GiB", "2.80 GiB", "0 bytes", "0 bytes", NULL,
     "unclear"},
    {"cuda21-9.txt", "cuda", 0, "2.00 MiB", "8.00 GiB", "0 bytes", "132.71 MiB", "1.29 MiB", NULL,
     "other_process"},
    {"cuda21-11.txt", "cuda", 0, "136.00 MiB", "23.65 GiB", "93.81 MiB", "21.51 GiB", "2.30 MiB",
     NULL, "other_process"},
    {"cuda21-12.txt", "cuda", 7, "2.63 GiB", "79.11 GiB", "2.61 GiB", "48.15 GiB", "3.49 GiB", NULL,
     "fragmentation"},
    {"cuda21-16.txt", "cuda", 0, "15.00 GiB", "39.56 GiB", "11.15 GiB", "25.28 GiB", "1009.77 MiB",
     NULL, "genuine"},
    {"cuda21-19.txt", "cuda", 5, "1.96 GiB", "23.43 GiB", "210.06 MiB", "22.41 GiB", "206.09 MiB",
     NULL, "genuine"},
    {"cuda21-22.txt", "cuda", 0, "50.00 MiB", "23.56 GiB", "21.75 MiB", "22.88 GiB", "275.38 MiB",
     NULL, "fragmentation"},
    {"cuda1x-1.txt", "cuda-1.x", 0, "1.71 GiB", "6.00 GiB", "1.04 GiB", "3.49 GiB", NULL,
     "3.50 GiB", "genuine"},
    {"cuda1x-2.txt", "cuda-1.x", 0, "192.00 MiB", "4.00 GiB", "0 bytes", "3.08 GiB", NULL,
     "3.47 GiB", "fragmentation"},
    {"cuda1x-3.txt", "cuda-1.x", 0, "20.00 MiB", "1.96 GiB", "2.88 MiB", "1.24 GiB", NULL,
     "1.25 GiB", "unclear"},
    {"cuda1x-5.txt", "cuda-1.x", 0, "384.00 MiB", "14.76 GiB", "259.75 MiB", "11.04 GiB", NULL,
     "11.10 GiB", "other_process"},
    {"cuda1x-9.txt", "cuda-1.x", 0, "2.81 GiB", "23.69 GiB", "374.94 MiB", "16.12 GiB", NULL,
     "19.00 GiB", "fragmentation"},
    {"cuda1x-12.txt", "cuda-1.x", 3, "4.00 GiB", "11.93 GiB", "515.38 MiB", "10.67 GiB", NULL,
     "10.92 GiB", "genuine"},
    {"cuda1x-14.txt", "cuda-1.x", 1, "130.00 MiB", "7.80 GiB", "33.56 MiB", "5.91 GiB", NULL,
     "6.09 GiB", "fragmentation"},
    {"cached-1.txt", "cuda-cached", 0, "1024.00 KiB", "11.17 GiB", "576.00 KiB", "10.90 GiB",
     "30.96 MiB", NULL, "fragmentation"},
    {"cached-2.txt", "cuda-cached", 0, "8.13 GiB", "10.76 GiB", "8.20 GiB", "643.57 MiB",
     "32.43 MiB", NULL, "unclear"},
    {"cached-3.txt", "cuda-cached", 0, "1024.00 MiB", "15.90 GiB", "991.56 MiB", "14.25 GiB",
     "607.00 KiB", NULL, "genuine"},
    {"async-2.txt", "cuda-async", 0, "512.00 KiB", "15.99 GiB", "0 bytes", "15.16 GiB", NULL, NULL,
     "unclear"},
    {"async-3.txt", "cuda-async", 0, "1.88 GiB", "16.00 GiB", "0 bytes", "12.20 GiB", NULL, NULL,
     "unclear"},
    {"hip-1.txt", "hip", 0, "16.00 GiB", "15.24 GiB", "15.09 GiB", "0 bytes", "0 bytes", NULL,
     "genuine"},
    {"hip-4.txt", "hip", 0, "124.00 MiB", "19.94 GiB", "554.47 MiB", "15.87 GiB", "165.29 MiB",
     NULL, "fragmentation"},
    {"hip-5.txt", "hip", 7, "2.00 MiB", "287.98 GiB", "203.49 GiB", "68.63 GiB", "14.93 GiB", NULL,
     "fragmentation"},
    {"xpu-1.txt", "xpu", 0, "8.00 GiB", "15.11 GiB", NULL, "0 bytes", "0 bytes", NULL, "unclear"},
    {"xpu-3.txt", "xpu", 0, "1.00 GiB", "15.56 GiB", NULL, "990.00 MiB", NULL, "990.00 MiB",
     "unclear"},
    {"mps-1.txt", "mps", -1, "292.50 MiB", NULL, NULL, "9.57 GiB", NULL, NULL, "unclear"},
    {"mps-3.txt", "mps", -1, "256 bytes", NULL, NULL, "16.00 GB", NULL, NULL, "unclear"},
    {"wrapped-1.txt", "cuda", 0, "138.00 MiB", "15.90 GiB", "8.44 MiB", "14.12 GiB", "410.41 MiB",
     NULL, "fragmentation"},
    {"wrapped-4.txt", "cuda-1.x", 0, "36.00 MiB", "7.93 GiB", "47.06 MiB", "130.35 MiB", NULL,
     "188.00 MiB", "fragmentation"},
};

START_TEST(every_wording_gives_the_numbers_it_prints_and_the_verdict_of_the_rules)
{
    char path[512], err[512];
    struct gt_oom_message m;
    const char *file = cases[_i].file;

    snprintf(path, sizeof path, DATA "%s", file);
    ck_assert_msg(gt_oom_message_read(path, &m, err, sizeof err) == 0, "%s", err);
    ck_assert_str_eq(gt_oom_message_format_name(m.format), cases[_i].format);
    if (cases[_i].gpu >= 0) {
        ck_assert_msg(m.gpu_known, "%s: no GPU", file);
        ck_assert_int_eq(m.gpu_index, cases[_i].gpu);
    }
    expect_value(file, "tried", &m.tried, cases[_i].tried);
    expect_value(file, "total", &m.total, cases[_i].total);
    expect_value(file, "free", &m.free, cases[_i].free);
    expect_value(file, "allocated", &m.allocated, cases[_i].allocated);
    expect_value(file, "reserved_unallocated", &m.reserved_unallocated, cases[_i].unallocated);
    expect_value(file, "reserved", &m.reserved, cases[_i].reserved);
    ck_assert_msg(strcmp(gt_oom_message_verdict_name(m.verdict), cases[_i].verdict) == 0,
                  "%s: verdict %s, the rules give %s (%s)", file,
                  gt_oom_message_verdict_name(m.verdict), cases[_i].verdict, m.why);
    ck_assert(m.why[0] != '\0' && m.next[0] != '\0');
}
END_TEST

/* Every file of the set parses (none is left out of the suite unread). */
START_TEST(every_real_message_of_the_set_is_read)
{
    static const char *const all[] = {
        "async-1",   "async-2",   "async-3",   "async-4",   "async-5",   "cached-1",  "cached-2",
        "cached-3",  "cuda1x-1",  "cuda1x-2",  "cuda1x-3",  "cuda1x-4",  "cuda1x-5",  "cuda1x-6",
        "cuda1x-7",  "cuda1x-8",  "cuda1x-9",  "cuda1x-10", "cuda1x-11", "cuda1x-12", "cuda1x-13",
        "cuda1x-14", "cuda1x-15", "cuda1x-16", "cuda1x-17", "cuda1x-18", "cuda21-1",  "cuda21-2",
        "cuda21-3",  "cuda21-4",  "cuda21-5",  "cuda21-6",  "cuda21-7",  "cuda21-8",  "cuda21-9",
        "cuda21-10", "cuda21-11", "cuda21-12", "cuda21-13", "cuda21-14", "cuda21-15", "cuda21-16",
        "cuda21-17", "cuda21-18", "cuda21-19", "cuda21-20", "cuda21-21", "cuda21-22", "cuda21-23",
        "hip-1",     "hip-2",     "hip-3",     "hip-4",     "hip-5",     "mps-1",     "mps-2",
        "mps-3",     "mps-4",     "mps-5",     "mps-6",     "mps-7",     "wrapped-1", "wrapped-2",
        "wrapped-3", "wrapped-4", "xpu-1",     "xpu-2",     "xpu-3",     "xpu-4",
    };
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) {
        char path[512], err[512];
        struct gt_oom_message m;
        snprintf(path, sizeof path, DATA "%s.txt", all[i]);
        ck_assert_msg(gt_oom_message_read(path, &m, err, sizeof err) == 0, "%s: %s", all[i], err);
        ck_assert_msg(m.tried.known || m.allocated.known, "%s: no numbers", all[i]);
    }
}
END_TEST

/* The list of processes leaves this one out; a container's NVML says 0. */
START_TEST(other_processes_are_listed_without_this_one)
{
    char err[512];
    struct gt_oom_message m;

    ck_assert_int_eq(gt_oom_message_read(DATA "cuda21-11.txt", &m, err, sizeof err), 0);
    ck_assert_uint_eq(m.nprocesses_listed, 5);
    ck_assert_uint_eq(m.nprocesses, 4);
    for (size_t i = 0; i < m.nprocesses; i++)
        ck_assert_uint_eq(m.processes[i].bytes, bytes_of("398.00 MiB"));
    ck_assert_int_eq(gt_oom_message_read(DATA "cuda21-2.txt", &m, err, sizeof err), 0);
    ck_assert_uint_eq(m.nprocesses, 2); /* 618 MiB and 1.28 GiB; this one has 9.74 GiB */
    ck_assert_int_eq(gt_oom_message_read(DATA "cuda21-19.txt", &m, err, sizeof err), 0);
    ck_assert(!m.process_in_use.known);
}
END_TEST

START_TEST(private_pools_and_derived_values_are_marked)
{
    char err[512];
    struct gt_oom_message m;

    ck_assert_int_eq(gt_oom_message_read(DATA "cuda21-22.txt", &m, err, sizeof err), 0);
    ck_assert_uint_eq(m.private_pools.bytes, bytes_of("24.00 MiB"));
    ck_assert(m.reserved.derived && !m.allocated.derived);
    ck_assert_uint_eq(m.reserved.bytes, bytes_of("22.88 GiB") + bytes_of("275.38 MiB"));
    ck_assert_int_eq(gt_oom_message_read(DATA "cuda1x-2.txt", &m, err, sizeof err), 0);
    ck_assert(m.reserved_unallocated.derived);
}
END_TEST

START_TEST(a_message_cut_or_wrapped_anywhere_still_reads)
{
    static const char wrapped[] =
        "[rank0]: torch.OutOfMemoryError: CUDA out of memory. Tried to allo\n"
        "[rank0]: cate 20.00 MiB. GPU 0 has a total capac\nity of 14.75 GiB of which 3.06 MiB is "
        "free. Of the allocated memory 14.52 GiB is allocated by PyTorch, and 79.86 MiB is rese\n"
        "rved by PyTorch but unallocated.";
    char err[256];
    struct gt_oom_message m;

    ck_assert_int_eq(gt_oom_message_parse(wrapped, strlen(wrapped), &m, err, sizeof err), 0);
    ck_assert_uint_eq(m.tried.bytes, bytes_of("20.00 MiB"));
    ck_assert_uint_eq(m.total.bytes, bytes_of("14.75 GiB"));
    ck_assert_uint_eq(m.reserved_unallocated.bytes, bytes_of("79.86 MiB"));
    ck_assert_str_eq(gt_oom_message_verdict_name(m.verdict), "fragmentation");
}
END_TEST

START_TEST(text_without_a_message_or_without_numbers_is_an_error)
{
    static const char none[] = "Traceback (most recent call last):\nValueError: bad shape\n";
    static const char bare[] = "RuntimeError: CUDA out of memory.\n";
    char err[256];
    struct gt_oom_message m;

    ck_assert_int_eq(gt_oom_message_parse(none, strlen(none), &m, err, sizeof err), GT_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "no PyTorch out-of-memory message"));
    ck_assert_int_eq(gt_oom_message_parse(bare, strlen(bare), &m, err, sizeof err), GT_EINVAL);
    ck_assert_ptr_nonnull(strstr(err, "has no numbers"));
    ck_assert_int_eq(gt_oom_message_read(DATA "nothere.txt", &m, err, sizeof err), GT_ENOENT);
    ck_assert_ptr_nonnull(strstr(err, "nothere.txt"));
}
END_TEST

static Suite *oom_message_suite(void)
{
    Suite *s = suite_create("oom_message");
    TCase *tc = tcase_create("core");

    tcase_add_loop_test(tc, every_wording_gives_the_numbers_it_prints_and_the_verdict_of_the_rules,
                        0, (int)(sizeof cases / sizeof cases[0]));
    tcase_add_test(tc, every_real_message_of_the_set_is_read);
    tcase_add_test(tc, other_processes_are_listed_without_this_one);
    tcase_add_test(tc, private_pools_and_derived_values_are_marked);
    tcase_add_test(tc, a_message_cut_or_wrapped_anywhere_still_reads);
    tcase_add_test(tc, text_without_a_message_or_without_numbers_is_an_error);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(oom_message_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
