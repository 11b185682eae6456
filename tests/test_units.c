/* Tests of units.h: sizes, bounded integers, doubles, byte formatting. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gputrace/err.h"
#include "gputrace/units.h"

#include "gputrace/banned.h"

#define GIB ((uint64_t)1 << 30)
#define MIB ((uint64_t)1 << 20)

static uint64_t size_ok(const char *text)
{
    char err[128] = "";
    uint64_t v = 0;
    int rc = gt_units_parse_size(text, &v, err, sizeof err);

    ck_assert_msg(rc == GT_OK, "'%s' rejected: %s", text, err);
    return v;
}

static int size_rc(const char *text, char *err, size_t errlen)
{
    uint64_t v = 12345;
    int rc = gt_units_parse_size(text, &v, err, errlen);

    ck_assert_uint_eq(v, 12345); /* untouched on error */
    return rc;
}

START_TEST(binary_units_in_any_case_give_exact_byte_counts)
{
    ck_assert_uint_eq(size_ok("8GiB"), 8 * GIB);
    ck_assert_uint_eq(size_ok("8G"), 8 * GIB);
    ck_assert_uint_eq(size_ok("8gb"), 8 * GIB);
    ck_assert_uint_eq(size_ok("8GB"), 8 * GIB);
    ck_assert_uint_eq(size_ok("8589934592"), 8 * GIB);
    ck_assert_uint_eq(size_ok("512MiB"), 512 * MIB);
    ck_assert_uint_eq(size_ok("512m"), 512 * MIB);
    ck_assert_uint_eq(size_ok("4k"), 4096);
    ck_assert_uint_eq(size_ok("4KIB"), 4096);
    ck_assert_uint_eq(size_ok("2T"), 2 * 1024 * GIB);
    ck_assert_uint_eq(size_ok("2TiB"), 2 * 1024 * GIB);
}
END_TEST

START_TEST(plain_bytes_take_an_optional_b)
{
    ck_assert_uint_eq(size_ok("0"), 0);
    ck_assert_uint_eq(size_ok("1048576"), MIB);
    ck_assert_uint_eq(size_ok("512B"), 512);
    ck_assert_uint_eq(size_ok("512b"), 512);
}
END_TEST

START_TEST(decimal_sizes_are_rounded_down_to_whole_bytes)
{
    ck_assert_uint_eq(size_ok("7.5GiB"), 7 * GIB + GIB / 2);
    ck_assert_uint_eq(size_ok("0.5K"), 512);
    ck_assert_uint_eq(size_ok("1.5"), 1);
    /* 0.1 KiB = 102.4 bytes */
    ck_assert_uint_eq(size_ok("0.1KiB"), 102);
    /* 1/3 GiB, many digits: floor(0.333333333333 * 2^30) */
    ck_assert_uint_eq(size_ok("0.333333333333G"), 357913941);
    ck_assert_uint_eq(size_ok("1.99999999999999999999999B"), 1);
}
END_TEST

START_TEST(unknown_unit_is_rejected_and_named_in_the_message)
{
    char err[128] = "";

    ck_assert_int_eq(size_rc("8XB", err, sizeof err), GT_EINVAL);
    ck_assert_str_eq(err, "unknown unit 'XB'");
    ck_assert_int_eq(size_rc("1e400", err, sizeof err), GT_EINVAL);
    ck_assert_str_eq(err, "unknown unit 'e400'");
}
END_TEST

START_TEST(text_that_is_not_a_size_is_rejected)
{
    static const char *const bad[] = {"",    "-1",  "8 G", " 8G", "8G ",   "abc",  "nan",
                                      "inf", "+8G", "8.G", ".5G", "8GiBB", "0x10", "1,5G"};
    char err[128];

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        ck_assert_msg(size_rc(bad[i], err, sizeof err) == GT_EINVAL, "'%s' accepted", bad[i]);
        ck_assert_msg(err[0] != '\0', "no message for '%s'", bad[i]);
    }
}
END_TEST

START_TEST(sizes_past_two_to_the_63_bytes_are_out_of_range)
{
    char err[128] = "";

    ck_assert_int_eq(size_rc("18446744073709551616", err, sizeof err), GT_ERANGE);
    ck_assert_int_eq(size_rc("18446744073709551615", err, sizeof err), GT_ERANGE);
    ck_assert_int_eq(size_rc("9223372036854775809", err, sizeof err), GT_ERANGE);
    ck_assert_int_eq(size_rc("8388609TiB", err, sizeof err), GT_ERANGE);
    ck_assert_uint_lt(size_ok("8388607.99999999TiB"), (uint64_t)1 << 63);
    ck_assert_uint_eq(size_ok("9223372036854775808"), (uint64_t)1 << 63);
    ck_assert_uint_eq(size_ok("8388608TiB"), (uint64_t)1 << 63);
    ck_assert_int_eq(size_rc("8388608.5TiB", err, sizeof err), GT_ERANGE);
}
END_TEST

START_TEST(a_null_or_short_error_buffer_is_safe)
{
    uint64_t v;
    char err[4];

    ck_assert_int_eq(gt_units_parse_size("8XB", &v, NULL, 0), GT_EINVAL);
    ck_assert_int_eq(gt_units_parse_size("8XB", &v, err, sizeof err), GT_EINVAL);
    ck_assert_str_eq(err, "unk");
}
END_TEST

START_TEST(integers_are_plain_digits_within_the_bound)
{
    uint64_t v = 0;

    ck_assert_int_eq(gt_units_parse_u64("0", 10, &v), GT_OK);
    ck_assert_uint_eq(v, 0);
    ck_assert_int_eq(gt_units_parse_u64("10", 10, &v), GT_OK);
    ck_assert_uint_eq(v, 10);
    ck_assert_int_eq(gt_units_parse_u64("007", 10, &v), GT_OK);
    ck_assert_uint_eq(v, 7);
    ck_assert_int_eq(gt_units_parse_u64("18446744073709551615", UINT64_MAX, &v), GT_OK);
    ck_assert_uint_eq(v, UINT64_MAX);
}
END_TEST

START_TEST(integers_with_signs_spaces_or_junk_are_invalid)
{
    static const char *const bad[] = {"",    "-1",  "+1",   " 1",  "1 ",
                                      "1.0", "1e3", "0x10", "abc", "12a"};
    uint64_t v = 99;

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(gt_units_parse_u64(bad[i], UINT64_MAX, &v) == GT_EINVAL, "'%s'", bad[i]);
    ck_assert_int_eq(gt_units_parse_u64(NULL, UINT64_MAX, &v), GT_EINVAL);
    ck_assert_uint_eq(v, 99);
}
END_TEST

START_TEST(integers_above_the_bound_are_out_of_range)
{
    uint64_t v = 99;

    ck_assert_int_eq(gt_units_parse_u64("11", 10, &v), GT_ERANGE);
    ck_assert_int_eq(gt_units_parse_u64("7", 5, &v), GT_ERANGE);
    ck_assert_int_eq(gt_units_parse_u64("18446744073709551616", UINT64_MAX, &v), GT_ERANGE);
    ck_assert_int_eq(gt_units_parse_u64("99999999999999999999999", UINT64_MAX, &v), GT_ERANGE);
    ck_assert_uint_eq(v, 99);
}
END_TEST

START_TEST(doubles_must_be_finite_and_fully_consumed)
{
    double d = 0;

    ck_assert_int_eq(gt_units_parse_double("0.8", &d), GT_OK);
    ck_assert_double_eq(d, 0.8);
    ck_assert_int_eq(gt_units_parse_double("1", &d), GT_OK);
    ck_assert_double_eq(d, 1.0);
    ck_assert_int_eq(gt_units_parse_double("1e-3", &d), GT_OK);
    ck_assert_double_eq(d, 1e-3);
    ck_assert_int_eq(gt_units_parse_double("-0.5", &d), GT_OK);
    ck_assert_double_eq(d, -0.5);
    ck_assert_int_eq(gt_units_parse_double("1e-400", &d), GT_OK); /* underflow is finite */

    d = 7.0;
    ck_assert_int_eq(gt_units_parse_double("", &d), GT_EINVAL);
    ck_assert_int_eq(gt_units_parse_double("nan", &d), GT_EINVAL);
    ck_assert_int_eq(gt_units_parse_double("inf", &d), GT_EINVAL);
    ck_assert_int_eq(gt_units_parse_double("-infinity", &d), GT_EINVAL);
    ck_assert_int_eq(gt_units_parse_double("0.5x", &d), GT_EINVAL);
    ck_assert_int_eq(gt_units_parse_double(" 0.5", &d), GT_EINVAL);
    ck_assert_int_eq(gt_units_parse_double("0x1p-1", &d), GT_EINVAL);
    ck_assert_int_eq(gt_units_parse_double(".", &d), GT_EINVAL);
    ck_assert_int_eq(gt_units_parse_double("1e400", &d), GT_ERANGE);
    ck_assert_double_eq(d, 7.0);
}
END_TEST

START_TEST(byte_counts_are_formatted_with_binary_units_and_two_decimals)
{
    char buf[32];

    ck_assert_str_eq(gt_units_format_bytes(0, buf, sizeof buf), "0 B");
    ck_assert_str_eq(gt_units_format_bytes(512, buf, sizeof buf), "512 B");
    ck_assert_str_eq(gt_units_format_bytes(1023, buf, sizeof buf), "1023 B");
    ck_assert_str_eq(gt_units_format_bytes(1024, buf, sizeof buf), "1.00 KiB");
    ck_assert_str_eq(gt_units_format_bytes(1536, buf, sizeof buf), "1.50 KiB");
    ck_assert_str_eq(gt_units_format_bytes(MIB - 1, buf, sizeof buf), "1024.00 KiB");
    ck_assert_str_eq(gt_units_format_bytes(20 * MIB, buf, sizeof buf), "20.00 MiB");
    ck_assert_str_eq(gt_units_format_bytes(8514437120ULL, buf, sizeof buf), "7.93 GiB");
    ck_assert_str_eq(gt_units_format_bytes(1024 * GIB, buf, sizeof buf), "1.00 TiB");
    ck_assert_str_eq(gt_units_format_bytes(UINT64_MAX, buf, sizeof buf), "16777216.00 TiB");
}
END_TEST

START_TEST(formatting_into_a_short_buffer_truncates_and_terminates)
{
    char buf[5];

    ck_assert_ptr_eq(gt_units_format_bytes(20 * MIB, buf, sizeof buf), buf);
    ck_assert_str_eq(buf, "20.0");
    ck_assert_ptr_null(gt_units_format_bytes(1, NULL, 0));
}
END_TEST

START_TEST(sizes_print_as_pytorchs_oom_message_prints_them)
{
    char b[64];
    ck_assert_str_eq(gt_units_format_torch(1024, b, sizeof b), "1024 bytes");
    ck_assert_str_eq(gt_units_format_torch(1025, b, sizeof b), "1.00 KiB");
    ck_assert_str_eq(gt_units_format_torch(1048576, b, sizeof b), "1024.00 KiB");
    ck_assert_str_eq(gt_units_format_torch(220200960, b, sizeof b), "210.00 MiB");
    ck_assert_str_eq(gt_units_format_torch((uint64_t)800000000 << 30, b, sizeof b),
                     "800000000.00 GiB");
}
END_TEST

START_TEST(sums_of_numbers_from_files_saturate_instead_of_wrapping)
{
    ck_assert_uint_eq(gt_units_add_u64(UINT64_MAX - 1, 5), UINT64_MAX);
    ck_assert_uint_eq(gt_units_add_u64(40, 2), 42);
    ck_assert_int_eq(gt_units_add_i64(INT64_MAX, 1), INT64_MAX);
    ck_assert_int_eq(gt_units_add_i64(INT64_MIN, -1), INT64_MIN);
    ck_assert_int_eq(gt_units_add_i64(-5, 3), -2);
    ck_assert_int_eq(gt_units_sub_i64(INT64_MAX, -1), INT64_MAX);
    ck_assert_int_eq(gt_units_sub_i64(INT64_MIN, 1), INT64_MIN);
    ck_assert_int_eq(gt_units_sub_i64(0, INT64_MIN), INT64_MAX);
    ck_assert_int_eq(gt_units_sub_i64(10, 3), 7);
}
END_TEST

static Suite *units_suite(void)
{
    Suite *s = suite_create("units");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, binary_units_in_any_case_give_exact_byte_counts);
    tcase_add_test(tc, sizes_print_as_pytorchs_oom_message_prints_them);
    tcase_add_test(tc, plain_bytes_take_an_optional_b);
    tcase_add_test(tc, decimal_sizes_are_rounded_down_to_whole_bytes);
    tcase_add_test(tc, unknown_unit_is_rejected_and_named_in_the_message);
    tcase_add_test(tc, text_that_is_not_a_size_is_rejected);
    tcase_add_test(tc, sizes_past_two_to_the_63_bytes_are_out_of_range);
    tcase_add_test(tc, a_null_or_short_error_buffer_is_safe);
    tcase_add_test(tc, integers_are_plain_digits_within_the_bound);
    tcase_add_test(tc, integers_with_signs_spaces_or_junk_are_invalid);
    tcase_add_test(tc, integers_above_the_bound_are_out_of_range);
    tcase_add_test(tc, doubles_must_be_finite_and_fully_consumed);
    tcase_add_test(tc, byte_counts_are_formatted_with_binary_units_and_two_decimals);
    tcase_add_test(tc, formatting_into_a_short_buffer_truncates_and_terminates);
    tcase_add_test(tc, sums_of_numbers_from_files_saturate_instead_of_wrapping);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(units_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
