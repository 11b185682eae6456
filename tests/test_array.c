/* Tests of array.h: the one growable array of the library. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "gputrace/array.h"

#include "gputrace/banned.h"

START_TEST(an_empty_array_gets_sixteen_then_doubles_keeping_its_elements)
{
    int *v = NULL;
    size_t cap = 0, n = 0;

    for (int i = 0; i < 100; i++) {
        int *grown = gt_array_grow(v, &cap, n, sizeof *grown);
        ck_assert_ptr_nonnull(grown);
        v = grown;
        v[n++] = i;
        /* 16 from empty, then doubled each time it is full: 16, 32, 64, 128 */
        ck_assert_uint_eq(cap, n <= 16 ? 16 : n <= 32 ? 32 : n <= 64 ? 64 : 128);
    }
    for (int i = 0; i < 100; i++)
        ck_assert_int_eq(v[i], i);
    free(v);
}
END_TEST

START_TEST(an_array_with_room_is_returned_as_it_is)
{
    size_t cap = 8;
    int *v = malloc(cap * sizeof *v);

    ck_assert_ptr_nonnull(v);
    ck_assert_ptr_eq(gt_array_grow(v, &cap, 7, sizeof *v), v);
    ck_assert_uint_eq(cap, 8);
    free(v);
}
END_TEST

START_TEST(a_size_past_the_address_space_fails_and_leaves_the_array_alone)
{
    size_t cap = 4;
    char *v = malloc(cap);

    ck_assert_ptr_nonnull(v);
    /* 8 elements of 2^61 + 1 bytes are 2^64 + 8 bytes: wrapped, a request
     * for 8 bytes that would succeed; refused instead */
    ck_assert_ptr_null(gt_array_grow(v, &cap, 4, SIZE_MAX / 8 + 2));
    ck_assert_uint_eq(cap, 4);
    size_t huge = SIZE_MAX / 2 + 1;
    ck_assert_ptr_null(gt_array_grow(v, &huge, huge, 1));
    ck_assert_uint_eq(huge, SIZE_MAX / 2 + 1);
    free(v); /* still the caller's */
}
END_TEST

static Suite *array_suite(void)
{
    Suite *s = suite_create("array");
    TCase *tc = tcase_create("grow");

    tcase_add_test(tc, an_empty_array_gets_sixteen_then_doubles_keeping_its_elements);
    tcase_add_test(tc, an_array_with_room_is_returned_as_it_is);
    tcase_add_test(tc, a_size_past_the_address_space_fails_and_leaves_the_array_alone);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(array_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
