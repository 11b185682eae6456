/* tracer/cuda_abi.h against the CUDA toolkit: the same list of sizes,
 * member offsets and constants (tests/cuda_abi_list.h) evaluated over the
 * project's declarations here and over the toolkit's headers in
 * tests/cuda_abi_real.c must agree entry by entry. The tracer and the test
 * doubles build from cuda_abi.h alone, so this is what keeps them
 * byte-compatible with the real driver and CUPTI. */
#include <check.h>
#include <stdio.h>
#include <string.h>

#include "cuda_abi.h"
#include "cuda_abi_list.h"

static const struct gt_abi_entry own[] = {
    GT_CUDA_ABI_LIST(GT_ABI_SIZE, GT_ABI_FIELD, GT_ABI_VALUE)};
static const size_t own_count = sizeof own / sizeof *own;

START_TEST(declarations_match_the_toolkit)
{
    ck_assert_uint_eq(own_count, gt_cuda_abi_real_count);
    size_t mismatches = 0;
    for (size_t i = 0; i < own_count; i++) {
        const struct gt_abi_entry *a = &own[i], *b = &gt_cuda_abi_real[i];
        ck_assert_str_eq(a->name, b->name);
        if (a->value != b->value) {
            fprintf(stderr, "cuda_abi: %s is %llu in tracer/cuda_abi.h, %llu in the toolkit\n",
                    a->name, a->value, b->value);
            mismatches++;
        }
    }
    ck_assert_msg(mismatches == 0, "%zu of %zu declarations differ from the toolkit's", mismatches,
                  own_count);
}
END_TEST

/* The check compares what it measured: a table that lost its entries, or
 * whose entries are all zero, would agree with anything. */
START_TEST(table_measures_something)
{
    ck_assert_uint_gt(own_count, 200);
    size_t nonzero = 0;
    for (size_t i = 0; i < own_count; i++)
        nonzero += own[i].value != 0;
    ck_assert_uint_gt(nonzero, own_count / 2);
    ck_assert_uint_eq(sizeof(CUpti_CallbackData), 72);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cuda_abi");
    TCase *tc = tcase_create("core");
    tcase_add_test(tc, declarations_match_the_toolkit);
    tcase_add_test(tc, table_measures_something);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
