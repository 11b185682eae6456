/* Tests of jsonread.h: the strict streaming JSON reader. Every document is
 * read three ways (whole, 3 bytes and 1 byte at a time), so each token also
 * meets a buffer boundary in every position. */
#include <check.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gputrace/err.h"
#include "gputrace/jsonread.h"

#include "gputrace/banned.h"

/* A source over a string, chunk bytes per fill. */
struct source {
    const char *text;
    size_t len, pos, chunk;
};

static int fill(void *ctx, char *buf, size_t cap, size_t *got)
{
    struct source *s = ctx;
    size_t n = s->len - s->pos;

    if (n > s->chunk)
        n = s->chunk;
    if (n > cap)
        n = cap;
    memcpy(buf, s->text + s->pos, n);
    s->pos += n;
    *got = n;
    return GT_OK;
}

static int failing_fill(void *ctx, char *buf, size_t cap, size_t *got)
{
    (void)ctx, (void)buf, (void)cap, (void)got;
    return GT_EIO;
}

/* The tokens of a document as text ("{ k:a n:1 }"), or the error message
 * after the tokens read before it. */
static void tokens(const char *text, size_t len, size_t chunk, char *out, size_t outlen)
{
    struct source src = {text, len, 0, chunk};
    struct gt_json_reader *r;
    enum gt_json_token tok;
    size_t used = 0;
    int rc, first;

    ck_assert_int_eq(gt_json_reader_new(fill, &src, &r), GT_OK);
    out[0] = '\0';
    rc = gt_json_first(r, &first);
    while (rc == GT_OK && (rc = gt_json_next(r, &tok)) == GT_OK && tok != GT_JSON_END) {
        char item[64] = "";
        struct gt_json_number n;
        size_t tlen;
        bool whole;
        const char *t;

        switch (tok) {
        case GT_JSON_OBJECT:
            snprintf(item, sizeof item, "{");
            break;
        case GT_JSON_OBJECT_END:
            snprintf(item, sizeof item, "}");
            break;
        case GT_JSON_ARRAY:
            snprintf(item, sizeof item, "[");
            break;
        case GT_JSON_ARRAY_END:
            snprintf(item, sizeof item, "]");
            break;
        case GT_JSON_KEY:
        case GT_JSON_STRING:
            t = gt_json_text(r, &tlen, &whole);
            snprintf(item, sizeof item, "%s%.*s%s",
                     tok == GT_JSON_KEY ? "k:" : "s:", (int)(tlen > 40 ? 40 : tlen), t,
                     whole ? "" : "...");
            break;
        case GT_JSON_NUMBER:
            gt_json_number(r, &n);
            if (n.kind == GT_JSON_INT)
                snprintf(item, sizeof item, "i:%lld", (long long)n.i);
            else if (n.kind == GT_JSON_UINT)
                snprintf(item, sizeof item, "u:%llu", (unsigned long long)n.u);
            else if (n.kind == GT_JSON_BIG)
                snprintf(item, sizeof item, "big");
            else
                snprintf(item, sizeof item, "d:%g", n.d);
            break;
        case GT_JSON_TRUE:
            snprintf(item, sizeof item, "true");
            break;
        case GT_JSON_FALSE:
            snprintf(item, sizeof item, "false");
            break;
        case GT_JSON_NULL:
            snprintf(item, sizeof item, "null");
            break;
        case GT_JSON_END:
            break;
        }
        used += (size_t)snprintf(out + used, outlen - used, "%s%s", used > 0 ? " " : "", item);
        ck_assert_uint_lt(used, outlen);
    }
    if (rc != GT_OK)
        snprintf(out + used, outlen - used, "%s%s", used > 0 ? " | " : "| ", gt_json_errmsg(r));
    gt_json_reader_free(r);
}

/* Reads text every way and expects want each time. */
static void expect(const char *text, const char *want)
{
    static const size_t chunks[] = {1, 3, SIZE_MAX};
    char got[2048];

    for (size_t i = 0; i < 3; i++) {
        tokens(text, strlen(text), chunks[i], got, sizeof got);
        ck_assert_msg(strcmp(got, want) == 0, "chunk %zu of '%s':\n got  '%s'\n want '%s'",
                      chunks[i], text, got, want);
    }
}

START_TEST(a_document_becomes_its_tokens_in_order)
{
    expect(" {\"a\": [1, -2, 3.5, \"x\", true, false, null], \"b\": {}}\n",
           "{ k:a [ i:1 i:-2 d:3.5 s:x true false null ] k:b { } }");
    expect("[]", "[ ]");
    expect("\"only\"", "s:only");
    expect("\xef\xbb\xbf{}", "{ }");
}
END_TEST

START_TEST(integers_are_exact_or_say_they_do_not_fit)
{
    expect("[9223372036854775807, -9223372036854775808, 9223372036854775808]",
           "[ i:9223372036854775807 i:-9223372036854775808 u:9223372036854775808 ]");
    expect("[18446744073709551615, 18446744073709551616, -9223372036854775809]",
           "[ u:18446744073709551615 big big ]");
    expect("[1e2, 1E-2, -0, 0.5, 1e400]", "[ d:100 d:0.01 i:0 d:0.5 d:inf ]");
}
END_TEST

START_TEST(escapes_and_utf8_decode_to_their_bytes)
{
    expect("[\"a\\\"b\\\\c\\/d\\n\"]", "[ s:a\"b\\c/d\n ]");
    expect("[\"\\u0048\\u00e9\\u20ac\"]", "[ s:H\xc3\xa9\xe2\x82\xac ]");
    /* A surrogate pair is one code point; a lone one is kept as it is. */
    expect("[\"\\ud83d\\ude00\"]", "[ s:\xf0\x9f\x98\x80 ]");
    expect("[\"\\ud83dx\"]", "[ s:\xed\xa0\xbdx ]");
    expect("[\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\"]",
           "[ s:\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80 ]");
}
END_TEST

/* The leniencies other readers accept are errors that say what they are. */
START_TEST(json_leniencies_are_errors_naming_them)
{
    expect("{'a': 1}", "{ | invalid JSON at byte 1: single quotes are not JSON");
    expect("[NaN]", "[ | invalid JSON at byte 1: NaN and Infinity are not JSON");
    expect("[-Infinity]", "[ | invalid JSON at byte 1: NaN and Infinity are not JSON");
    expect("[1, 2,]", "[ i:1 i:2 | invalid JSON at byte 6: a trailing ',' before ']' is not JSON");
    expect("{\"a\": 1,}",
           "{ k:a i:1 | invalid JSON at byte 8: a trailing ',' before '}' is not JSON");
    expect("[1 /* c */]", "[ i:1 | invalid JSON at byte 3: comments are not JSON");
    expect("[01]", "[ | invalid JSON at byte 1: a number with a leading zero");
    expect("[+1]", "[ | invalid JSON at byte 1: '+' where a value was expected");
    expect("[1.]", "[ | invalid JSON at byte 3: a number needs digits after '.'");
    expect("[1e]", "[ | invalid JSON at byte 3: a number needs digits in its exponent");
    expect("[tru]", "[ | invalid JSON at byte 1: invalid literal (did you mean 'true'?)");
    expect("[\"a\tb\"]", "[ | invalid JSON at byte 3: a control character in a string");
    expect("[\"\\x\"]", "[ | invalid JSON at byte 2: invalid escape '\\x'");
    expect("[\"\\u12g4\"]", "[ | invalid JSON at byte 6: '\\u' needs four hex digits");
    expect("{\"a\" 1}", "{ | invalid JSON at byte 5: a key must be followed by ':'");
    expect("{1: 2}", "{ | invalid JSON at byte 1: '1' where a key in double quotes was expected");
    expect("[1}", "[ i:1 | invalid JSON at byte 2: '}' does not close the open '['");
    expect("[1 2]", "[ i:1 | invalid JSON at byte 3: '2' where ',' or ']' was expected");
}
END_TEST

START_TEST(invalid_utf8_in_strings_is_an_error)
{
    static const char *const bad[] = {
        "[\"\xff\"]",             /* never a UTF-8 byte */
        "[\"\xc0\xaf\"]",         /* overlong '/' */
        "[\"\xe0\x80\xaf\"]",     /* overlong, 3 bytes */
        "[\"\xed\xa0\x80\"]",     /* an encoded surrogate */
        "[\"\xf4\x90\x80\x80\"]", /* past U+10FFFF */
        "[\"\xc3(\"]",            /* a lead byte without its continuation */
    };

    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char got[256];
        tokens(bad[i], strlen(bad[i]), 1, got, sizeof got);
        ck_assert_msg(strstr(got, "invalid UTF-8 in a string") != NULL, "%zu: %s", i, got);
    }
}
END_TEST

START_TEST(the_end_of_the_input_inside_the_document_is_truncation)
{
    expect("{\"a\": [1, 2", "{ k:a [ i:1 i:2 | the JSON ends early at byte 11 (truncated file?)");
    expect("{\"a", "{ | the JSON ends early at byte 3 (truncated file?)");
    expect("[\"\\u12", "[ | the JSON ends early at byte 6 (truncated file?)");
    expect("[1", "[ i:1 | the JSON ends early at byte 2 (truncated file?)");
    expect("", "| the JSON ends early at byte 0 (truncated file?)");
}
END_TEST

START_TEST(only_blank_space_may_follow_the_document)
{
    expect("{} \n\t", "{ }");
    expect("{} {}", "{ } | unexpected data after the JSON document at byte 3");
    expect("1x", "i:1 | unexpected data after the JSON document at byte 1");
}
END_TEST

START_TEST(nesting_is_bounded)
{
    size_t n = GT_JSON_MAX_DEPTH + 1;
    char *text = malloc(2 * n + 1), got[8192];

    for (size_t i = 0; i < n; i++)
        text[i] = '[', text[n + i] = ']';
    text[2 * n] = '\0';
    tokens(text, 2 * n, SIZE_MAX, got, sizeof got);
    ck_assert_ptr_nonnull(strstr(got, "nested deeper than 256 levels"));
    /* One level less is fine. */
    tokens(text + 1, 2 * n - 2, SIZE_MAX, got, sizeof got);
    ck_assert_ptr_null(strstr(got, "invalid"));
    free(text);
}
END_TEST

START_TEST(long_strings_are_checked_whole_and_kept_in_part)
{
    size_t n = GT_JSON_TEXT_MAX * 3;
    char *text = malloc(n + 8);
    struct source src = {text, 0, 0, 1000};
    struct gt_json_reader *r;
    enum gt_json_token tok;
    size_t len;
    bool whole;

    text[0] = '"';
    memset(text + 1, 'a', n);
    memcpy(text + 1 + n, "\"", 2);
    src.len = n + 2;
    ck_assert_int_eq(gt_json_reader_new(fill, &src, &r), GT_OK);
    ck_assert_int_eq(gt_json_next(r, &tok), GT_OK);
    ck_assert_int_eq(tok, GT_JSON_STRING);
    gt_json_text(r, &len, &whole);
    ck_assert_uint_eq(len, GT_JSON_TEXT_MAX);
    ck_assert(!whole);
    ck_assert(!gt_json_text_is(r, ""));
    ck_assert_int_eq(gt_json_next(r, &tok), GT_OK);
    ck_assert_int_eq(tok, GT_JSON_END);
    gt_json_reader_free(r);
    free(text);
}
END_TEST

START_TEST(skip_passes_over_a_whole_value)
{
    static const char text[] = "{\"a\": {\"x\": [1, {\"y\": 2}]}, \"b\": 3}";
    struct source src = {text, sizeof text - 1, 0, 2};
    struct gt_json_reader *r;
    enum gt_json_token tok;
    struct gt_json_number n;

    ck_assert_int_eq(gt_json_reader_new(fill, &src, &r), GT_OK);
    ck_assert_int_eq(gt_json_next(r, &tok), GT_OK); /* { */
    ck_assert_int_eq(gt_json_next(r, &tok), GT_OK); /* a */
    ck_assert(gt_json_text_is(r, "a"));
    ck_assert_int_eq(gt_json_next(r, &tok), GT_OK); /* { */
    ck_assert_uint_eq(gt_json_depth(r), 2);
    ck_assert_int_eq(gt_json_skip(r, tok), GT_OK);
    ck_assert_uint_eq(gt_json_depth(r), 1);
    ck_assert_int_eq(gt_json_next(r, &tok), GT_OK);
    ck_assert(gt_json_text_is(r, "b"));
    ck_assert_uint_eq(gt_json_offset(r), 28);
    ck_assert_int_eq(gt_json_next(r, &tok), GT_OK);
    ck_assert_int_eq(gt_json_skip(r, tok), GT_OK); /* a scalar: nothing to skip */
    gt_json_number(r, &n);
    ck_assert_int_eq(n.i, 3);
    ck_assert_int_eq(gt_json_next(r, &tok), GT_OK);
    ck_assert_int_eq(tok, GT_JSON_OBJECT_END);
    gt_json_reader_free(r);
}
END_TEST

START_TEST(a_source_error_is_passed_back_and_repeated)
{
    struct gt_json_reader *r;
    enum gt_json_token tok;
    int first;

    ck_assert_int_eq(gt_json_reader_new(failing_fill, NULL, &r), GT_OK);
    ck_assert_int_eq(gt_json_first(r, &first), GT_EIO);
    ck_assert_int_eq(gt_json_next(r, &tok), GT_EIO);
    ck_assert_str_eq(gt_json_errmsg(r), "");
    gt_json_reader_free(r);
    gt_json_reader_free(NULL);
}
END_TEST

static Suite *jsonread_suite(void)
{
    Suite *s = suite_create("jsonread");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, a_document_becomes_its_tokens_in_order);
    tcase_add_test(tc, integers_are_exact_or_say_they_do_not_fit);
    tcase_add_test(tc, escapes_and_utf8_decode_to_their_bytes);
    tcase_add_test(tc, json_leniencies_are_errors_naming_them);
    tcase_add_test(tc, invalid_utf8_in_strings_is_an_error);
    tcase_add_test(tc, the_end_of_the_input_inside_the_document_is_truncation);
    tcase_add_test(tc, only_blank_space_may_follow_the_document);
    tcase_add_test(tc, nesting_is_bounded);
    tcase_add_test(tc, long_strings_are_checked_whole_and_kept_in_part);
    tcase_add_test(tc, skip_passes_over_a_whole_value);
    tcase_add_test(tc, a_source_error_is_passed_back_and_repeated);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(jsonread_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
