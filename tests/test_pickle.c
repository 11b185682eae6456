/* Tests of the safe pickle decoder (pickle.h). The pickles in
 * tests/data/pickle/ come from tests/data/pickle/make.py, which checks each
 * loadable one against Python's own unpickler; the hostile ones are written
 * by Python's pickler and never loaded by Python. */
#include <check.h>
#include <dirent.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "gputrace/err.h"
#include "gputrace/pickle.h"

#include "gputrace/banned.h"

#include "test_shared.h"

#define DATA GT_TEST_DATA "/pickle/"

struct blob {
    unsigned char *data;
    size_t len;
};

static struct blob read_file(const char *name)
{
    char path[PATH_MAX];
    struct blob b = {NULL, 0};
    FILE *f;
    long n;

    snprintf(path, sizeof path, DATA "%s", name);
    f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    ck_assert_int_eq(fseek(f, 0, SEEK_END), 0);
    n = ftell(f);
    ck_assert_int_ge(n, 0);
    rewind(f);
    b.len = (size_t)n;
    b.data = malloc(b.len + 1);
    ck_assert_ptr_nonnull(b.data);
    ck_assert_uint_eq(fread(b.data, 1, b.len, f), b.len);
    fclose(f);
    return b;
}

static struct gt_pickle *load(const char *name)
{
    char path[PATH_MAX], err[256];
    struct gt_pickle *p = NULL;
    int rc;

    snprintf(path, sizeof path, DATA "%s", name);
    rc = gt_pickle_load(path, &p, err, sizeof err);
    ck_assert_msg(rc == 0, "%s: %s (%s)", name, gt_strerror(rc), err);
    ck_assert_ptr_nonnull(gt_pickle_root(p));
    return p;
}

/* Decodes len bytes from an exact-size heap copy, so a sanitizer sees any
 * read past the end, and expects code with msg in the message. */
static void expect_mem(const void *data, size_t len, int code, const char *msg)
{
    unsigned char *copy = malloc(len > 0 ? len : 1);
    struct gt_pickle *p = (struct gt_pickle *)&p; /* must be reset to NULL */
    char err[256];
    int rc;

    ck_assert_ptr_nonnull(copy);
    if (len > 0)
        memcpy(copy, data, len);
    rc = gt_pickle_load_mem(copy, len, &p, err, sizeof err);
    free(copy);
    ck_assert_msg(rc == code, "expected %s, got %s (%s)", gt_strerror(code), gt_strerror(rc),
                  rc != 0 ? err : "ok");
    ck_assert_ptr_null(p);
    ck_assert_msg(strstr(err, msg) != NULL, "message '%s' lacks '%s'", err, msg);
}

#define EXPECT(lit, code, msg) expect_mem(lit, sizeof lit - 1, code, msg)

static void expect_file(const char *name, int code, const char *msg)
{
    char path[PATH_MAX], err[256];
    struct gt_pickle *p = NULL;
    int rc;

    snprintf(path, sizeof path, DATA "%s", name);
    rc = gt_pickle_load(path, &p, err, sizeof err);
    ck_assert_msg(rc == code, "%s: expected %s, got %s (%s)", name, gt_strerror(code),
                  gt_strerror(rc), rc != 0 ? err : "ok");
    ck_assert_ptr_null(p);
    ck_assert_msg(strstr(err, msg) != NULL, "%s: message '%s' lacks '%s'", name, err, msg);
}

static int64_t int_of(const struct gt_pk *v)
{
    int64_t i = 0;

    ck_assert_ptr_nonnull(v);
    ck_assert_int_eq(gt_pk_int(v, &i), 0);
    return i;
}

static int64_t int_at(const struct gt_pk *d, const char *key)
{
    const struct gt_pk *v = gt_pk_get(d, key);

    ck_assert_msg(v != NULL, "no key '%s'", key);
    ck_assert_msg(v->type == GT_PK_INT, "key '%s' is not an int", key);
    return int_of(v);
}

static const struct gt_pk *typed(const struct gt_pk *d, const char *key, enum gt_pk_type t)
{
    const struct gt_pk *v = gt_pk_get(d, key);

    ck_assert_msg(v != NULL, "no key '%s'", key);
    ck_assert_msg(v->type == t, "key '%s' has type %d, not %d", key, v->type, t);
    return v;
}

static void check_blob(const struct gt_pk *v, const void *want, size_t n)
{
    ck_assert_uint_eq(v->u.str.len, n);
    ck_assert_mem_eq(v->u.str.s, want, n);
    ck_assert_int_eq(v->u.str.s[n], '\0');
}

static void check_ints(const struct gt_pk *seq, enum gt_pk_type t, size_t n)
{
    ck_assert_int_eq(seq->type, t);
    ck_assert_uint_eq(gt_pk_len(seq), n);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(int_of(gt_pk_at(seq, i)), (int64_t)i + 1);
}

static void check_scalars(const struct gt_pk *r)
{
    ck_assert_int_eq(typed(r, "none", GT_PK_NONE)->type, GT_PK_NONE);
    ck_assert(typed(r, "true", GT_PK_BOOL)->u.b);
    ck_assert(!typed(r, "false", GT_PK_BOOL)->u.b);
    ck_assert_int_eq(int_at(r, "small"), 7);
    ck_assert_int_eq(int_at(r, "int1"), 200);
    ck_assert_int_eq(int_at(r, "int2"), 60000);
    ck_assert_int_eq(int_at(r, "int4"), -123456);
    ck_assert_int_eq(int_at(r, "int64"), INT64_C(1) << 62);
    ck_assert_int_eq(int_at(r, "min64"), INT64_MIN);
    ck_assert_int_eq(int_at(r, "max64"), INT64_MAX);
    ck_assert_double_eq(typed(r, "float", GT_PK_FLOAT)->u.f, 1.5);
    ck_assert_double_eq(typed(r, "nfloat", GT_PK_FLOAT)->u.f, -0.25);
    ck_assert_str_eq(gt_pk_str(gt_pk_get(r, "str")), "h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9d\x84\x9e");
    ck_assert_uint_eq(typed(r, "long_str", GT_PK_STR)->u.str.len, 300);
    ck_assert_str_eq(gt_pk_str(gt_pk_get(r, "empty_str")), "");
}

static void check_containers(const struct gt_pk *r)
{
    const struct gt_pk *ik = typed(r, "int_keys", GT_PK_DICT);
    const struct gt_pk *nested, *inner;

    check_ints(gt_pk_get(r, "list"), GT_PK_LIST, 3);
    check_ints(gt_pk_get(r, "empty_list"), GT_PK_LIST, 0);
    check_ints(gt_pk_get(r, "tuple0"), GT_PK_TUPLE, 0);
    check_ints(gt_pk_get(r, "tuple1"), GT_PK_TUPLE, 1);
    check_ints(gt_pk_get(r, "tuple2"), GT_PK_TUPLE, 2);
    check_ints(gt_pk_get(r, "tuple3"), GT_PK_TUPLE, 3);
    check_ints(gt_pk_get(r, "tuple4"), GT_PK_TUPLE, 4);
    ck_assert_uint_eq(gt_pk_len(typed(r, "empty_dict", GT_PK_DICT)), 0);
    ck_assert_uint_eq(gt_pk_len(ik), 3);
    ck_assert_int_eq(int_of(ik->u.dict.keys[0]), 1);
    ck_assert_int_eq(int_of(ik->u.dict.keys[2]), -3);
    ck_assert_str_eq(gt_pk_str(ik->u.dict.vals[2]), "minus three");
    ck_assert_ptr_null(gt_pk_get(ik, "1")); /* gt_pk_get sees only str keys */
    nested = gt_pk_at(gt_pk_get(typed(r, "nested", GT_PK_DICT), "a"), 0);
    inner = gt_pk_at(gt_pk_get(nested, "b"), 1);
    ck_assert_int_eq(int_of(gt_pk_at(inner, 0)), 2);
    ck_assert_int_eq(gt_pk_get(gt_pk_at(inner, 1), "c")->type, GT_PK_NONE);
}

static void check_large(const struct gt_pk *r)
{
    const struct gt_pk *ll = typed(r, "long_list", GT_PK_LIST);
    const struct gt_pk *bd = typed(r, "big_dict", GT_PK_DICT);
    char key[16];

    ck_assert_uint_eq(gt_pk_len(ll), 2500);
    for (size_t i = 0; i < 2500; i++)
        ck_assert_int_eq(int_of(gt_pk_at(ll, i)), (int64_t)i);
    ck_assert_uint_eq(gt_pk_len(bd), 1500);
    for (int i = 0; i < 1500; i++) {
        snprintf(key, sizeof key, "k%d", i);
        ck_assert_str_eq(gt_pk_str(bd->u.dict.keys[i]), key);
        ck_assert_int_eq(int_at(bd, key), i);
    }
}

START_TEST(protocols_2_to_5_decode_every_type_to_the_same_values)
{
    static const char *const names[] = {"types_p2.pickle", "types_p3.pickle", "types_p4.pickle",
                                        "types_p5.pickle"};
    static const unsigned char bytes[] = {0x00, 0x01, 0xff};

    for (size_t i = 0; i < 4; i++) {
        struct gt_pickle *p = load(names[i]);
        const struct gt_pk *r = gt_pickle_root(p);

        ck_assert_int_eq(r->type, GT_PK_DICT);
        check_scalars(r);
        check_containers(r);
        check_large(r);
        if (i > 0) { /* protocol 2 pickles bytes with REDUCE */
            check_blob(typed(r, "bytes", GT_PK_BYTES), bytes, 3);
            ck_assert_uint_eq(typed(r, "long_bytes", GT_PK_BYTES)->u.str.len, 512);
            ck_assert_uint_eq(typed(r, "empty_bytes", GT_PK_BYTES)->u.str.len, 0);
        }
        gt_pickle_free(p);
    }
}
END_TEST

START_TEST(ints_outside_int64_keep_their_shortest_twos_complement_bytes)
{
    static const unsigned char big[] = {0, 0, 0, 0, 0, 0, 0, 0, 0x40};  /* 2**70 */
    static const unsigned char nbig[] = {0, 0, 0, 0, 0, 0, 0, 0, 0xc0}; /* -2**70 */
    static const unsigned char over[] = {0, 0, 0, 0, 0, 0, 0, 0x80, 0}; /* 2**63 */
    struct gt_pickle *p = load("types_p4.pickle");
    const struct gt_pk *r = gt_pickle_root(p);
    int64_t v;

    check_blob(typed(r, "big", GT_PK_BIGINT), big, sizeof big);
    check_blob(typed(r, "nbig", GT_PK_BIGINT), nbig, sizeof nbig);
    check_blob(typed(r, "just_over", GT_PK_BIGINT), over, sizeof over);
    ck_assert_int_eq(gt_pk_int(gt_pk_get(r, "big"), &v), GT_EINVAL);
    gt_pickle_free(p);
}
END_TEST

START_TEST(memo_references_share_one_node)
{
    struct gt_pickle *p = load("types_p3.pickle");
    const struct gt_pk *shared = gt_pk_get(gt_pickle_root(p), "shared");

    ck_assert_uint_eq(gt_pk_len(shared), 2);
    ck_assert_ptr_eq(gt_pk_at(shared, 0), gt_pk_at(shared, 1));
    ck_assert_str_eq(gt_pk_str(gt_pk_at(gt_pk_at(shared, 0), 0)), "x");
    gt_pickle_free(p);
}
END_TEST

static void check_handmade_scalars(const struct gt_pk *r)
{
    static const unsigned char two64[] = {0, 0, 0, 0, 0, 0, 0, 0, 1};

    check_blob(typed(r, "u8", GT_PK_STR), "abc", 3);
    check_blob(typed(r, "b8", GT_PK_BYTES), "\x01\x02", 2);
    check_blob(typed(r, "bytearray8", GT_PK_BYTES), "abc", 3);
    check_blob(typed(r, "long4", GT_PK_BIGINT), two64, sizeof two64);
    ck_assert_int_eq(int_at(r, "long1"), 32767);
    ck_assert_int_eq(int_at(r, "long1_neg1"), -1);
    ck_assert_int_eq(int_at(r, "long1_zero"), 0);
    ck_assert_int_eq(int_at(r, "int"), 42);
    ck_assert(typed(r, "bool", GT_PK_BOOL)->u.b);
    ck_assert_int_eq(int_at(r, "long"), -5);
    ck_assert_double_eq(typed(r, "float", GT_PK_FLOAT)->u.f, 2.5);
    ck_assert_int_eq(int_at(r, "put"), 7);
    ck_assert_int_eq(int_at(r, "get"), 7);
    ck_assert_str_eq(gt_pk_str(gt_pk_get(r, "binstring")), "hi");
    ck_assert_int_eq(int_at(r, "binint"), -1);
    ck_assert_int_eq(int_at(r, "binint2"), 0x1234);
    ck_assert_double_eq(typed(r, "binfloat", GT_PK_FLOAT)->u.f, -1.5);
    check_blob(typed(r, "binbytes", GT_PK_BYTES), "xyz", 3);
    check_blob(typed(r, "short_binbytes", GT_PK_BYTES), "\0", 1);
    ck_assert_str_eq(gt_pk_str(gt_pk_get(r, "short_binunicode")), "\xc3\xa9");
    ck_assert_int_eq(int_at(r, "memoize"), 11);
    ck_assert_int_eq(int_at(r, "memo_get"), 11);
    ck_assert_int_eq(typed(r, "popmark", GT_PK_NONE)->type, GT_PK_NONE);
    ck_assert_int_eq(typed(r, "none", GT_PK_NONE)->type, GT_PK_NONE);
    ck_assert(typed(r, "true", GT_PK_BOOL)->u.b);
    ck_assert(!typed(r, "false", GT_PK_BOOL)->u.b);
}

static void check_handmade_containers(const struct gt_pk *r)
{
    const struct gt_pk *dup = typed(r, "dup", GT_PK_TUPLE);

    ck_assert_ptr_eq(gt_pk_at(dup, 0), gt_pk_at(dup, 1));
    ck_assert_int_eq(int_of(gt_pk_at(dup, 0)), 7);
    check_ints(gt_pk_get(r, "pop"), GT_PK_LIST, 1);
    check_ints(gt_pk_get(r, "list"), GT_PK_LIST, 2);
    check_ints(gt_pk_get(r, "tuple"), GT_PK_TUPLE, 4);
    check_ints(gt_pk_get(r, "empty_tuple"), GT_PK_TUPLE, 0);
    check_ints(gt_pk_get(r, "tuple1"), GT_PK_TUPLE, 1);
    check_ints(gt_pk_get(r, "additems"), GT_PK_LIST, 2);
    ck_assert_int_eq(int_of(gt_pk_at(typed(r, "frozenset", GT_PK_LIST), 0)), 3);
    ck_assert_int_eq(int_at(typed(r, "dict", GT_PK_DICT), "a"), 1);
    ck_assert_int_eq(int_at(typed(r, "setitem", GT_PK_DICT), "k"), 2);
    ck_assert_ptr_eq(typed(r, "memo", GT_PK_LIST), gt_pk_get(r, "memo_again"));
}

START_TEST(hand_assembled_opcodes_decode_like_python)
{
    struct gt_pickle *p = load("handmade.pickle");
    const struct gt_pk *r = gt_pickle_root(p);

    ck_assert_uint_eq(gt_pk_len(r), 40);
    check_handmade_scalars(r);
    check_handmade_containers(r);
    gt_pickle_free(p);
}
END_TEST

START_TEST(a_dict_keeps_insertion_order_and_a_repeated_key_overwrites_in_place)
{
    struct gt_pickle *p = load("handmade.pickle");
    const struct gt_pk *r = gt_pickle_root(p);
    const struct gt_pk *ow = typed(r, "overwrite", GT_PK_DICT);
    const struct gt_pk *dk = typed(r, "dupkeys", GT_PK_DICT);

    ck_assert_uint_eq(gt_pk_len(ow), 2);
    ck_assert_str_eq(gt_pk_str(ow->u.dict.keys[0]), "x");
    ck_assert_str_eq(gt_pk_str(ow->u.dict.keys[1]), "y");
    ck_assert_int_eq(int_at(ow, "x"), 3);
    ck_assert_int_eq(int_at(ow, "y"), 2);
    /* 1, True and 1.0 are one key in Python: the first key stays, the last
     * value wins. */
    ck_assert_uint_eq(gt_pk_len(dk), 1);
    ck_assert_int_eq(dk->u.dict.keys[0]->type, GT_PK_INT);
    ck_assert_str_eq(gt_pk_str(dk->u.dict.vals[0]), "c");
    ck_assert_str_eq(gt_pk_str(r->u.dict.keys[0]), "dup");
    ck_assert_str_eq(gt_pk_str(r->u.dict.keys[39]), "memo_get");
    gt_pickle_free(p);
}
END_TEST

START_TEST(a_large_dict_with_repeated_keys_stays_linear_and_keeps_the_last_value)
{
    /* 20000 int keys, then the same keys again with new values: the hash
     * index must find every one of them. */
    enum { N = 20000 };
    size_t len = 0, cap = 4 + 2 * N * 10 + 2;
    unsigned char *b = malloc(cap);
    struct gt_pickle *p = NULL;
    char err[256];

    ck_assert_ptr_nonnull(b);
    memcpy(b, "\x80\x02}(", 4);
    len = 4;
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < N; i++) {
            int v = round == 0 ? i : -i;
            b[len++] = 'J';
            memcpy(b + len, &i, 4); /* little-endian hosts only, like the data */
            len += 4;
            b[len++] = 'J';
            memcpy(b + len, &v, 4);
            len += 4;
        }
    memcpy(b + len, "u.", 2);
    len += 2;
    ck_assert_int_eq(gt_pickle_load_mem(b, len, &p, err, sizeof err), 0);
    ck_assert_uint_eq(gt_pk_len(gt_pickle_root(p)), N);
    for (int i = 0; i < N; i++) {
        ck_assert_int_eq(int_of(gt_pickle_root(p)->u.dict.keys[i]), i);
        ck_assert_int_eq(int_of(gt_pickle_root(p)->u.dict.vals[i]), -i);
    }
    gt_pickle_free(p);
    free(b);
}
END_TEST

/* NaN keys equal no other key, as in Python: a dict of 200 000 of them has
 * 200 000 entries and is built in linear time (hashed by their bits, they
 * all shared one probe chain: minutes for a few MB). */
START_TEST(a_dict_of_nan_keys_is_built_in_linear_time)
{
    enum { N = 200000 };
    static const unsigned char nan_be[8] = {0x7f, 0xf8, 0, 0, 0, 0, 0, 0};
    size_t len = 0, cap = 4 + N * 14 + 2;
    unsigned char *b = malloc(cap);
    struct gt_pickle *p = NULL;
    char err[256];

    ck_assert_ptr_nonnull(b);
    memcpy(b, "\x80\x02}(", 4);
    len = 4;
    for (int i = 0; i < N; i++) {
        b[len++] = 'G';
        memcpy(b + len, nan_be, 8);
        len += 8;
        b[len++] = 'J';
        memcpy(b + len, &i, 4);
        len += 4;
    }
    memcpy(b + len, "u.", 2);
    len += 2;
    ck_assert_int_eq(gt_pickle_load_mem(b, len, &p, err, sizeof err), 0);
    ck_assert_uint_eq(gt_pk_len(gt_pickle_root(p)), N);
    gt_pickle_free(p);
    free(b);
}
END_TEST

/* A dict shared through the memo is looked up once per place that shares
 * it: 200 000 lookups in a dict of 200 000 keys were 4e10 key comparisons
 * (minutes from a few MB) while gt_pk_get scanned; the hash index makes
 * each one constant. */
START_TEST(lookups_in_a_large_dict_take_constant_time)
{
    enum { N = 200000 };
    size_t len = 0, cap = 4 + N * 20 + 2;
    unsigned char *b = malloc(cap);
    struct gt_pickle *p = NULL;
    const struct gt_pk *r;
    char err[256], key[16];
    int64_t v = 0;

    ck_assert_ptr_nonnull(b);
    memcpy(b, "\x80\x02}(", 4);
    len = 4;
    for (int i = 0; i < N; i++) {
        uint32_t n = (uint32_t)snprintf(key, sizeof key, "k%d", i);
        b[len++] = 'X';
        memcpy(b + len, &n, 4);
        memcpy(b + len + 4, key, n);
        len += 4 + n;
        b[len++] = 'J';
        memcpy(b + len, &i, 4);
        len += 4;
    }
    memcpy(b + len, "u.", 2);
    len += 2;
    ck_assert_int_eq(gt_pickle_load_mem(b, len, &p, err, sizeof err), 0);
    r = gt_pickle_root(p);
    for (int i = 0; i < N; i++) {
        snprintf(key, sizeof key, "k%d", N - 1 - i);
        ck_assert_int_eq(gt_pk_int(gt_pk_get(r, key), &v), 0);
        ck_assert_int_eq(v, N - 1 - i);
        ck_assert_ptr_null(gt_pk_get(r, "absent"));
    }
    gt_pickle_free(p);
    free(b);
}
END_TEST

START_TEST(sets_read_as_lists_and_bytearrays_as_bytes)
{
    struct gt_pickle *p = load("extras_p5.pickle");
    const struct gt_pk *r = gt_pickle_root(p);

    ck_assert_int_eq(int_of(gt_pk_at(typed(r, "set", GT_PK_LIST), 0)), 3);
    ck_assert_int_eq(int_of(gt_pk_at(typed(r, "frozenset", GT_PK_LIST), 0)), 4);
    check_blob(typed(r, "bytearray", GT_PK_BYTES), "ab\0", 3);
    gt_pickle_free(p);
}
END_TEST

START_TEST(a_pickle_that_would_run_code_is_refused_with_the_opcode_named)
{
    expect_file("evil_reduce_p2.pickle", GT_EUNSUPPORTED,
                "opcode GLOBAL at byte 2 would import 'posix system'; refused: opening a snapshot "
                "never runs code");
    expect_file("evil_reduce_p4.pickle", GT_EUNSUPPORTED,
                "opcode STACK_GLOBAL at byte 28 would import 'posix system'; refused");
    expect_file("evil_nested_p3.pickle", GT_EUNSUPPORTED,
                "opcode GLOBAL at byte 35 would import 'posix system'");
    expect_file("global_only.pickle", GT_EUNSUPPORTED,
                "opcode GLOBAL at byte 2 would import 'os system'; refused");
}
END_TEST

START_TEST(every_opcode_that_imports_or_calls_code_is_refused)
{
    static const struct {
        const char *op;
        const char *name;
    } refused[] = {
        {"P", "PERSID"},          {"Q", "BINPERSID"},      {"R", "REDUCE"},
        {"b", "BUILD"},           {"i", "INST"},           {"o", "OBJ"},
        {"\x81", "NEWOBJ"},       {"\x82", "EXT1"},        {"\x83", "EXT2"},
        {"\x84", "EXT4"},         {"c", "GLOBAL"},         {"\x92", "NEWOBJ_EX"},
        {"\x93", "STACK_GLOBAL"}, {"\x97", "NEXT_BUFFER"}, {"\x98", "READONLY_BUFFER"},
    };
    char stream[8], want[64];

    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        /* The opcode with no arguments at all: refusal comes before parsing. */
        snprintf(stream, sizeof stream, "\x80\x02N%s", refused[i].op);
        snprintf(want, sizeof want, "opcode %s at byte 3 ", refused[i].name);
        expect_mem(stream, strlen(stream), GT_EUNSUPPORTED, want);
    }
    EXPECT("\x80\x02i__builtin__\neval\n.", GT_EUNSUPPORTED,
           "opcode INST at byte 2 would import and call '__builtin__ eval'");
    EXPECT("\x80\x02"
           "c\x1b[31m\nx'y\n.",
           GT_EUNSUPPORTED, "would import '?[31m x?y'");
}
END_TEST

static void every_prefix_is_corrupt(const char *name)
{
    struct blob b = read_file(name);

    for (size_t n = 0; n < b.len; n++) {
        unsigned char *copy = malloc(n > 0 ? n : 1);
        struct gt_pickle *p = NULL;
        char err[256] = "";
        int rc;

        ck_assert_ptr_nonnull(copy);
        memcpy(copy, b.data, n);
        rc = gt_pickle_load_mem(copy, n, &p, err, sizeof err);
        free(copy);
        ck_assert_msg(rc == GT_ECORRUPT, "%s cut at %zu: %s (%s)", name, n, gt_strerror(rc), err);
        ck_assert_ptr_null(p);
        ck_assert_msg(err[0] != '\0', "%s cut at %zu: no message", name, n);
    }
    free(b.data);
}

START_TEST(a_file_cut_at_any_byte_is_corrupt_never_a_crash)
{
    every_prefix_is_corrupt("handmade.pickle");
    every_prefix_is_corrupt("extras_p5.pickle");
    every_prefix_is_corrupt("small_p2.pickle");
    every_prefix_is_corrupt("snapshot_like_p4.pickle");
    every_prefix_is_corrupt("types_p4.pickle");
}
END_TEST

START_TEST(a_file_that_is_not_a_protocol_2_to_5_pickle_is_foreign)
{
    expect_file("not_a_pickle.csv", GT_EFOREIGN, "not a pickle of protocol 2 to 5: byte 0 is 0x74");
    expect_file("protocol0.pickle", GT_EFOREIGN, "not a pickle");
    EXPECT("\x80\x06N.", GT_EFOREIGN, "pickle protocol 6 at byte 0 is newer than 5");
}
END_TEST

START_TEST(malformed_streams_are_corrupt_and_name_the_byte)
{
    EXPECT("", GT_ECORRUPT, "the file is empty");
    EXPECT("\x80\x02N", GT_ECORRUPT, "ends at byte 3 without STOP");
    EXPECT("\x80\x02\xff.", GT_ECORRUPT, "unknown opcode 0xff at byte 2");
    EXPECT("\x80\x02"
           "a.",
           GT_ECORRUPT, "opcode APPEND at byte 2: stack underflow");
    EXPECT("\x80\x02K\x01(.", GT_ECORRUPT, "opcode STOP at byte 5: stack underflow");
    EXPECT("\x80\x02K\x01"
           "e.",
           GT_ECORRUPT, "opcode APPENDS at byte 4 needs a MARK");
    EXPECT("\x80\x02(K\x01"
           "e.",
           GT_ECORRUPT, "opcode APPENDS at byte 5: stack underflow");
    EXPECT("\x80\x02h\x00.", GT_ECORRUPT, "opcode BINGET at byte 2 reads memo entry 0, which");
    EXPECT("\x80\x02Nr\xff\xff\xff\xff.", GT_ECORRUPT, "memo index 4294967295 is out of range");
    EXPECT("\x80\x02X\xff\xff\xff\xff"
           "ab.",
           GT_ECORRUPT, "opcode BINUNICODE at byte 2: length 4294967295 runs past the end");
    EXPECT("\x80\x02\x8d\xff\xff\xff\xff\xff\xff\xff\xff.", GT_ECORRUPT,
           "length 18446744073709551615 runs past");
    EXPECT("\x80\x04\x95\xff\xff\xff\xff\xff\xff\xff\x7fN.", GT_ECORRUPT,
           "opcode FRAME at byte 2 announces");
    EXPECT("\x80\x02X\x02\x00\x00\x00\xc3\x28.", GT_ECORRUPT, "invalid UTF-8 at byte 7");
    EXPECT("\x80\x02X\x03\x00\x00\x00\xe0\x80\x80.", GT_ECORRUPT, "invalid UTF-8 at byte 7");
    EXPECT("\x80\x02}(K\x01u.", GT_ECORRUPT, "opcode SETITEMS at byte 6 has a key without");
    EXPECT("\x80\x02NK\x01"
           "a.",
           GT_ECORRUPT, "opcode APPEND at byte 5 needs a list to fill, not a None");
    EXPECT("\x80\x02\x8b\xff\xff\xff\xff.", GT_ECORRUPT, "opcode LONG4 at byte 2 has a negative");
    EXPECT("\x80\x02J\x01\x02", GT_ECORRUPT, "opcode BININT at byte 2 needs 4 bytes");
    EXPECT("\x80\x02I12x\n.", GT_ECORRUPT, "opcode INT at byte 2: malformed number");
    EXPECT("\x80\x02I12", GT_ECORRUPT, "opcode INT at byte 2 has no end of line");
    EXPECT("\x80\x02\x80\x09N.", GT_ECORRUPT, "pickle protocol 9 at byte 2");
}
END_TEST

/* n nested empty lists: "]" n times, then n - 1 APPENDs. */
static int nested_lists(size_t n, char *err, size_t errlen)
{
    size_t len = 2 + n + (n - 1) + 1;
    unsigned char *b = malloc(len);
    struct gt_pickle *p = NULL;
    int rc;

    ck_assert_ptr_nonnull(b);
    memcpy(b, "\x80\x02", 2);
    memset(b + 2, ']', n);
    memset(b + 2 + n, 'a', n - 1);
    b[len - 1] = '.';
    rc = gt_pickle_load_mem(b, len, &p, err, errlen);
    if (rc == 0) {
        const struct gt_pk *v = gt_pickle_root(p);
        size_t depth = 0;
        for (; v != NULL; v = gt_pk_at(v, 0))
            depth++;
        ck_assert_uint_eq(depth, n);
    }
    gt_pickle_free(p);
    free(b);
    return rc;
}

START_TEST(recursive_structures_and_excessive_nesting_are_refused)
{
    char err[256];

    expect_file("recursive_p4.pickle", GT_EUNSUPPORTED,
                "opcode APPEND at byte 15 puts a list into itself");
    /* L0.append(L1), then L1.append(L0): L1 is already inside L0. */
    EXPECT("\x80\x02]q\x00]q\x01"
           "ah\x01h\x00"
           "a.",
           GT_EUNSUPPORTED,
           "opcode APPEND at byte 13 changes a list already stored in another container");
    ck_assert_int_eq(nested_lists(GT_PICKLE_MAX_DEPTH, err, sizeof err), 0);
    ck_assert_int_eq(nested_lists(GT_PICKLE_MAX_DEPTH + 1, err, sizeof err), GT_EUNSUPPORTED);
    ck_assert_ptr_nonnull(strstr(err, "nests containers deeper than 1000 levels"));
}
END_TEST

START_TEST(accessors_answer_null_or_einval_for_the_wrong_type)
{
    struct gt_pickle *p = load("types_p4.pickle");
    const struct gt_pk *r = gt_pickle_root(p);
    const struct gt_pk *list = gt_pk_get(r, "list");
    int64_t v = 0;

    ck_assert_ptr_null(gt_pk_get(NULL, "x"));
    ck_assert_ptr_null(gt_pk_get(list, "x"));
    ck_assert_ptr_null(gt_pk_get(r, "no such key"));
    ck_assert_int_eq(gt_pk_int(NULL, &v), GT_EINVAL);
    ck_assert_int_eq(gt_pk_int(gt_pk_get(r, "str"), &v), GT_EINVAL);
    ck_assert_int_eq(gt_pk_int(gt_pk_get(r, "true"), &v), 0);
    ck_assert_int_eq(v, 1);
    ck_assert_ptr_null(gt_pk_str(list));
    ck_assert_ptr_null(gt_pk_str(NULL));
    ck_assert_uint_eq(gt_pk_len(gt_pk_get(r, "small")), 0);
    ck_assert_uint_eq(gt_pk_len(NULL), 0);
    ck_assert_ptr_null(gt_pk_at(list, 3));
    ck_assert_ptr_null(gt_pk_at(r, 0));
    ck_assert_ptr_null(gt_pickle_root(NULL));
    gt_pickle_free(NULL);
    gt_pickle_free(p);
}
END_TEST

START_TEST(a_missing_file_is_reported_as_missing)
{
    struct gt_pickle *p = NULL;
    char err[256];

    ck_assert_int_eq(gt_pickle_load(DATA "no-such.pickle", &p, err, sizeof err), GT_ENOENT);
    ck_assert_ptr_null(p);
    ck_assert_int_eq(gt_pickle_load(DATA, &p, err, sizeof err), GT_EIO);
    ck_assert_str_eq(err, "is a directory");
    ck_assert_int_eq(gt_pickle_load("/dev/zero", &p, err, sizeof err), GT_EIO);
    ck_assert_str_eq(err, "is not a regular file (a character device)");
    ck_assert_int_eq(gt_pickle_load(DATA "no-such.pickle", &p, NULL, 0), GT_ENOENT);
}
END_TEST

START_TEST(the_coldstart_snapshot_has_segments_traces_and_settings)
{
    struct gt_pickle *p = NULL;
    char err[256];
    const struct gt_pk *r, *trace, *first;

    ck_assert_int_eq(gt_pickle_load(GT_SHARED_TRACES
                                    "/snap-attention-coldstart-tiny/mem_snapshot.pickle",
                                    &p, err, sizeof err),
                     0);
    r = gt_pickle_root(p);
    ck_assert_int_eq(r->type, GT_PK_DICT);
    ck_assert_int_eq(typed(r, "segments", GT_PK_LIST)->type, GT_PK_LIST);
    ck_assert_int_eq(typed(r, "allocator_settings", GT_PK_DICT)->type, GT_PK_DICT);
    trace = gt_pk_at(typed(r, "device_traces", GT_PK_LIST), 0);
    ck_assert_uint_eq(gt_pk_len(trace), 97);
    first = gt_pk_at(trace, 0);
    ck_assert_str_eq(gt_pk_str(gt_pk_get(first, "action")), "segment_alloc");
    ck_assert_int_eq(int_at(first, "size"), 20971520);
    gt_pickle_free(p);
}
END_TEST

/* Events in device_traces[0] of each shared snapshot, counted by Python. */
static const struct {
    const char *dir;
    size_t events;
} snapshots[] = {
    {"snap-cs336-medium-train-ctx128", 19136},   {"snap-cs336-medium-train-ctx256", 19430},
    {"snap-cs336-medium-train-ctx1024", 22331},  {"snap-cs336-medium-infer-ctx1024", 3840},
    {"snap-cs336-large-fullstep-ctx256", 19464}, {"snap-cs336-xl-forward-bf16", 8948},
    {"snap-cs336-xl-forward-fp32", 7600},        {"snap-cs336-small-compiled-step", 6486},
    {"snap-attention-coldstart-tiny", 97},
};

static double now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

/* Decodes every *.pickle in dir; returns how many. */
static int load_dir(const char *dir, size_t events)
{
    char path[PATH_MAX], err[256];
    DIR *d;
    struct dirent *e;
    int found = 0;

    snprintf(path, sizeof path, GT_SHARED_TRACES "/%s", dir);
    d = opendir(path);
    ck_assert_msg(d != NULL, "no folder %s", path);
    while ((e = readdir(d)) != NULL) {
        size_t n = strlen(e->d_name);
        struct gt_pickle *p = NULL;
        struct stat st;
        double t0;

        if (n < 7 || strcmp(e->d_name + n - 7, ".pickle") != 0)
            continue;
        snprintf(path, sizeof path, GT_SHARED_TRACES "/%s/%s", dir, e->d_name);
        ck_assert_int_eq(stat(path, &st), 0);
        t0 = now_ms();
        ck_assert_msg(gt_pickle_load(path, &p, err, sizeof err) == 0, "%s: %s", path, err);
        printf("decoded %-36s %8.1f KiB in %6.1f ms\n", dir, st.st_size / 1024.0, now_ms() - t0);
        ck_assert_uint_eq(gt_pk_len(gt_pk_at(gt_pk_get(gt_pickle_root(p), "device_traces"), 0)),
                          events);
        gt_pickle_free(p);
        found++;
    }
    closedir(d);
    return found;
}

START_TEST(every_shared_snapshot_decodes_with_its_event_count)
{
    int files = 0;

    for (size_t i = 0; i < sizeof snapshots / sizeof snapshots[0]; i++)
        files += load_dir(snapshots[i].dir, snapshots[i].events);
    ck_assert_int_eq(files, 9);
}
END_TEST

static Suite *pickle_suite(void)
{
    Suite *s = suite_create("pickle");
    TCase *tc = tcase_create("core"), *bounded;

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, protocols_2_to_5_decode_every_type_to_the_same_values);
    tcase_add_test(tc, ints_outside_int64_keep_their_shortest_twos_complement_bytes);
    tcase_add_test(tc, memo_references_share_one_node);
    tcase_add_test(tc, hand_assembled_opcodes_decode_like_python);
    tcase_add_test(tc, a_dict_keeps_insertion_order_and_a_repeated_key_overwrites_in_place);
    tcase_add_test(tc, a_large_dict_with_repeated_keys_stays_linear_and_keeps_the_last_value);
    tcase_add_test(tc, sets_read_as_lists_and_bytearrays_as_bytes);
    tcase_add_test(tc, a_dict_of_nan_keys_is_built_in_linear_time);
    tcase_add_test(tc, a_pickle_that_would_run_code_is_refused_with_the_opcode_named);
    tcase_add_test(tc, every_opcode_that_imports_or_calls_code_is_refused);
    tcase_add_test(tc, a_file_cut_at_any_byte_is_corrupt_never_a_crash);
    tcase_add_test(tc, a_file_that_is_not_a_protocol_2_to_5_pickle_is_foreign);
    tcase_add_test(tc, malformed_streams_are_corrupt_and_name_the_byte);
    tcase_add_test(tc, recursive_structures_and_excessive_nesting_are_refused);
    tcase_add_test(tc, accessors_answer_null_or_einval_for_the_wrong_type);
    tcase_add_test(tc, a_missing_file_is_reported_as_missing);
    suite_add_tcase(s, tc);
    /* Quadratic work shows as a timeout: 200 000 lookups took 113 s while
     * gt_pk_get scanned, under a second (sanitizers included) with the
     * index. */
    bounded = tcase_create("bounded work");
    tcase_set_timeout(bounded, 30);
    tcase_add_test(bounded, lookups_in_a_large_dict_take_constant_time);
    suite_add_tcase(s, bounded);
    return s;
}

/* The snapshots of ../shared (test_pickle --shared). */
static Suite *pickle_shared_suite(void)
{
    Suite *s = suite_create("pickle_shared");
    TCase *tc = tcase_create("shared traces");

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, the_coldstart_snapshot_has_segments_traces_and_settings);
    tcase_add_test(tc, every_shared_snapshot_decodes_with_its_event_count);
    suite_add_tcase(s, tc);
    return s;
}

int main(int argc, char **argv)
{
    return shared_main(argc, argv, pickle_suite, pickle_shared_suite);
}
