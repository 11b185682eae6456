/* Check suite for the pickle writer (pkwrite.c) and the snapshot export
 * (snapshot_export.c). The writer's output is read back by gpu-trace's own
 * decoder and, where python3 is installed, by Python's pickle module; the
 * export of a constructed run is compared with the segment events that
 * PyTorch's allocator rules give, derived by hand in each test.
 * tests/export_test.py does the same on every shared real trace. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gputrace/conf.h"
#include "gputrace/err.h"
#include "gputrace/export.h"
#include "gputrace/import.h"
#include "gputrace/pickle.h"
#include "gputrace/pkwrite.h"
#include "gputrace/scenario.h"
#include "test_tmpdir.h"

#include "gputrace/banned.h"

#define MIB ((uint64_t)1 << 20)

static char *written;
static size_t written_len;

/* A writer on a memory buffer, read back whole by pickle.h. */
static struct gt_pickle *decode(void)
{
    struct gt_pickle *p = NULL;
    char err[256] = "";
    int rc = gt_pickle_load_mem(written, written_len, &p, err, sizeof err);
    ck_assert_msg(rc == 0, "decode: %s", err);
    return p;
}

/* Every width of int the writer picks an opcode for, and their edges. */
static const int64_t ints[] = {0,
                               1,
                               255,
                               256,
                               65535,
                               65536,
                               -1,
                               -256,
                               INT32_MAX,
                               INT32_MIN,
                               (int64_t)INT32_MAX + 1,
                               INT64_MAX,
                               INT64_MIN,
                               -129};

static void write_values(struct gt_pkw *w)
{

    gt_pkw_list_begin(w);
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++)
        gt_pkw_int(w, ints[i]);
    gt_pkw_uint(w, UINT64_MAX);
    gt_pkw_uint(w, (uint64_t)INT64_MAX + 1);
    gt_pkw_str(w, "caf\xc3\xa9");
    gt_pkw_str(w, "bad\xff byte \xed\xa0\x80 surrogate \xc3");
    gt_pkw_float(w, 0.8);
    gt_pkw_bool(w, true);
    gt_pkw_bool(w, false);
    gt_pkw_tuple_begin(w);
    gt_pkw_int(w, 0);
    gt_pkw_int(w, 0);
    gt_pkw_tuple_end(w);
    gt_pkw_list_end(w);
}

static void write_to_memory(void (*fn)(struct gt_pkw *w), int want_rc)
{
    FILE *f = open_memstream(&written, &written_len);
    struct gt_pkw w;
    ck_assert_ptr_nonnull(f);
    gt_pkw_init(&w, f);
    fn(&w);
    ck_assert_int_eq(gt_pkw_finish(&w), want_rc);
    ck_assert_int_eq(fclose(f), 0);
}

static void release_written(void)
{
    free(written);
    written = NULL;
    written_len = 0;
}

START_TEST(every_value_reads_back_as_written)
{
    write_to_memory(write_values, 0);
    struct gt_pickle *p = decode();
    const struct gt_pk *l = gt_pickle_root(p);

    size_t n = sizeof ints / sizeof ints[0];
    int64_t v;
    ck_assert_uint_eq(gt_pk_len(l), n + 8);
    for (size_t i = 0; i < n; i++) {
        ck_assert_int_eq(gt_pk_int(gt_pk_at(l, i), &v), 0);
        ck_assert_int_eq(v, ints[i]);
    }
    /* past INT64_MAX: a big int of 9 two's-complement bytes, top byte 0 */
    for (size_t i = n; i < n + 2; i++) {
        const struct gt_pk *big = gt_pk_at(l, i);
        ck_assert_int_eq(big->type, GT_PK_BIGINT);
        ck_assert_uint_eq(big->u.str.len, 9);
        ck_assert_int_eq((unsigned char)big->u.str.s[8], 0);
        ck_assert_int_eq((unsigned char)big->u.str.s[7], i == n ? 0xff : 0x80);
    }
    ck_assert_str_eq(gt_pk_str(gt_pk_at(l, n + 2)), "caf\xc3\xa9");
    /* each invalid byte becomes U+FFFD: Python would refuse the file */
    ck_assert_str_eq(gt_pk_str(gt_pk_at(l, n + 3)), "bad\xef\xbf\xbd byte \xef\xbf\xbd\xef\xbf\xbd"
                                                    "\xef\xbf\xbd surrogate \xef\xbf\xbd");
    ck_assert_int_eq(gt_pk_at(l, n + 4)->type, GT_PK_FLOAT);
    ck_assert(gt_pk_at(l, n + 4)->u.f == 0.8);
    ck_assert(gt_pk_at(l, n + 5)->u.b && !gt_pk_at(l, n + 6)->u.b);
    ck_assert_int_eq(gt_pk_at(l, n + 7)->type, GT_PK_TUPLE);
    ck_assert_uint_eq(gt_pk_len(gt_pk_at(l, n + 7)), 2);
    gt_pickle_free(p);
    release_written();
}
END_TEST

/* Python's own unpickler, where installed: the file means the same there. */
/* Where python3 is installed: the bytes written, saved to dir/name, make
 * check (a Python expression over v, the loaded value) true. */
static void python_agrees(const char *name, const char *check)
{
    char path[PATH_MAX + 16], cmd[2 * PATH_MAX + 1024];
    if (system("python3 -c pass >/dev/null 2>&1") != 0)
        return; /* no python3 on this machine: our decoder's checks stand */
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    ck_assert_uint_eq(fwrite(written, 1, written_len, f), written_len);
    fclose(f);
    snprintf(cmd, sizeof cmd,
             "python3 -c \"import pickle,sys; v=pickle.load(open(sys.argv[1],'rb')); "
             "sys.exit(0 if %s else 1)\" '%s'",
             check, path);
    ck_assert_msg(system(cmd) == 0, "python3 reads %s otherwise", name);
}

START_TEST(python_reads_every_value_as_written)
{
    write_to_memory(write_values, 0);
    python_agrees("v.pickle",
                  "v==[0,1,255,256,65535,65536,-1,-256,2**31-1,-2**31,2**31,2**63-1,-2**63,-129,"
                  "2**64-1,2**63,'caf\\u00e9','bad\\ufffd byte \\ufffd\\ufffd\\ufffd surrogate "
                  "\\ufffd',0.8,True,False,(0,0)]");
    release_written();
}
END_TEST

static void write_large(struct gt_pkw *w)
{
    char key[32];
    gt_pkw_dict_begin(w);
    gt_pkw_str(w, "list");
    gt_pkw_list_begin(w);
    for (int i = 0; i < 2500; i++)
        gt_pkw_int(w, i);
    gt_pkw_list_end(w);
    gt_pkw_str(w, "dict");
    gt_pkw_dict_begin(w);
    for (int i = 0; i < 1500; i++) {
        snprintf(key, sizeof key, "k%d", i);
        gt_pkw_key_int(w, key, i);
    }
    gt_pkw_dict_end(w);
    gt_pkw_dict_end(w);
}

START_TEST(long_containers_are_written_in_batches_and_read_whole)
{
    write_to_memory(write_large, 0);
    struct gt_pickle *p = decode();
    const struct gt_pk *root = gt_pickle_root(p), *l = gt_pk_get(root, "list"),
                       *d = gt_pk_get(root, "dict");
    int64_t v;
    ck_assert_uint_eq(gt_pk_len(l), 2500);
    ck_assert_int_eq(gt_pk_int(gt_pk_at(l, 2499), &v), 0);
    ck_assert_int_eq(v, 2499);
    ck_assert_uint_eq(d->u.dict.n, 1500);
    ck_assert_int_eq(gt_pk_int(gt_pk_get(d, "k1499"), &v), 0);
    ck_assert_int_eq(v, 1499);
    /* Python's pickler flushes every 1000 items: so does this one */
    size_t appends = 0;
    for (size_t i = 0; i < written_len; i++)
        appends += written[i] == 'e';
    ck_assert_uint_ge(appends, 3);
    gt_pickle_free(p);
    release_written();
}
END_TEST

/* 300 strs and 300 keyed dicts, each written twice: the second time a
 * reference (past index 255 the four-byte forms). */
static void write_repeats(struct gt_pkw *w)
{
    char text[32];
    gt_pkw_list_begin(w);
    for (int round = 0; round < 2; round++)
        for (int i = 0; i < 300; i++) {
            snprintf(text, sizeof text, "frame-%d", i);
            gt_pkw_str(w, text);
            if (gt_pkw_dict_ref(w, text, strlen(text)))
                continue;
            gt_pkw_dict_begin(w);
            gt_pkw_key_int(w, "line", i);
            gt_pkw_dict_end_memo(w, text, strlen(text));
        }
    gt_pkw_list_end(w);
}

START_TEST(repeated_values_are_written_once_and_referred_to)
{
    write_to_memory(write_repeats, 0);
    size_t gets = 0;
    struct gt_pickle *p = decode();
    const struct gt_pk *l = gt_pickle_root(p);
    int64_t v;
    ck_assert_uint_eq(gt_pk_len(l), 1200);
    for (size_t k = 0; k < 1200; k += 2) {
        char want[32];
        snprintf(want, sizeof want, "frame-%zu", (k / 2) % 300);
        ck_assert_str_eq(gt_pk_str(gt_pk_at(l, k)), want);
        ck_assert_int_eq(gt_pk_int(gt_pk_get(gt_pk_at(l, k + 1), "line"), &v), 0);
        ck_assert_int_eq(v, (int64_t)((k / 2) % 300));
    }
    /* the second round is references only: far smaller than the first */
    for (size_t i = 0; i < written_len; i++)
        gets += written[i] == 'h' || written[i] == 'j';
    ck_assert_uint_ge(gets, 600);
    /* each round written whole would be about 9 KB: the second costs ~2 */
    ck_assert_uint_lt(written_len, 12 * 1024);
    gt_pickle_free(p);
    /* and a dict referred to is the same object, as PyTorch's shared frames */
    python_agrees("r.pickle", "v==[x for r in range(2) for i in range(300) for x in "
                              "('frame-%d' % i, {'line': i})] and v[1] is v[601]");
    release_written();
}
END_TEST

static void write_unbalanced(struct gt_pkw *w)
{
    gt_pkw_list_begin(w);
    gt_pkw_dict_end(w);
}

static void write_half_pair(struct gt_pkw *w)
{
    gt_pkw_dict_begin(w);
    gt_pkw_str(w, "key without a value");
    gt_pkw_dict_end(w);
}

static void write_unclosed(struct gt_pkw *w)
{
    gt_pkw_list_begin(w);
}

START_TEST(misuse_is_an_error_not_a_broken_file)
{
    write_to_memory(write_unbalanced, GT_EINVAL);
    release_written();
    write_to_memory(write_half_pair, GT_EINVAL);
    release_written();
    write_to_memory(write_unclosed, GT_EINVAL);
    release_written();
}
END_TEST

START_TEST(a_failed_write_is_reported)
{
    FILE *f = fopen("/dev/full", "w");
    struct gt_pkw w;
    if (f == NULL)
        return; /* no /dev/full here */
    setvbuf(f, NULL, _IONBF, 0);
    gt_pkw_init(&w, f);
    write_large(&w);
    ck_assert_int_eq(gt_pkw_finish(&w), GT_EIO);
    fclose(f);
}
END_TEST

/* ------------------------------------------------------------ export */

static char trace_path[PATH_MAX + 16], out_path[PATH_MAX + 16];

static void make_trace(const char *csv_text)
{
    char csv[PATH_MAX + 16], err[256];
    snprintf(csv, sizeof csv, "%s/t.csv", dir);
    snprintf(trace_path, sizeof trace_path, "%s/t.db", dir);
    snprintf(out_path, sizeof out_path, "%s/out.pickle", dir);
    FILE *f = fopen(csv, "w");
    ck_assert_ptr_nonnull(f);
    fputs("ts_ns,action,addr,size,stream,device\n", f);
    fputs(csv_text, f);
    fclose(f);
    ck_assert_msg(gt_import_csv_with(csv, trace_path, NULL, NULL, err, sizeof err) == 0, "%s", err);
}

static struct gt_pickle *export(const char *config, uint64_t card, struct gt_export_result *res)
{
    struct gt_scenario *scn = NULL;
    struct gt_conf conf;
    struct gt_pickle *p = NULL;
    char err[512] = "";
    ck_assert_int_eq(gt_conf_parse(config ? config : "default", &conf, NULL, 0), 0);
    ck_assert_int_eq(gt_scenario_build(trace_path, card, &scn, err, sizeof err), 0);
    struct gt_export_options o = {.scenario = scn, .conf = config ? &conf : NULL};
    unlink(out_path);
    ck_assert_msg(gt_export_snapshot(trace_path, out_path, &o, res, err, sizeof err) == 0, "%s",
                  err);
    gt_scenario_free(scn);
    ck_assert_int_eq(gt_pickle_load(out_path, &p, err, sizeof err), 0);
    return p;
}

static uint64_t u(const struct gt_pk *d, const char *key)
{
    int64_t v = -1;
    ck_assert_msg(gt_pk_int(gt_pk_get(d, key), &v) == 0, "no int '%s'", key);
    return (uint64_t)v;
}

/* Entry i of device 0's trace is action at base + offset, of size bytes. */
static void entry_is(const struct gt_pk *trace, size_t i, const char *action, uint64_t addr,
                     uint64_t size)
{
    const struct gt_pk *e = gt_pk_at(trace, i);
    ck_assert_ptr_nonnull(e);
    ck_assert_str_eq(gt_pk_str(gt_pk_get(e, "action")), action);
    ck_assert_uint_eq(u(e, strcmp(action, "oom") == 0 ? "device_free" : "addr"), addr);
    ck_assert_uint_eq(u(e, "size"), size);
}

static const char *const two_allocs_then_a_large_one = "1000,alloc,0x7f0000000000,5242880,0,0\n"
                                                       "2000,alloc,0x7f0000500000,5242880,0,0\n"
                                                       "3000,free,0x7f0000000000,,0,0\n"
                                                       "4000,alloc,0x7f0010000000,31457280,0,0\n";

START_TEST(a_simulated_run_has_the_segments_pytorch_rules_give)
{
    struct gt_export_result res;
    make_trace(two_allocs_then_a_large_one);
    struct gt_pickle *p = export("default", 0, &res);
    const struct gt_pk *root = gt_pickle_root(p);
    const struct gt_pk *trace = gt_pk_at(gt_pk_get(root, "device_traces"), 0);
    /* MIRRORS: get_allocation_size: 1 MiB < 5 MiB < 10 MiB -> a 20 MiB
     * segment, split (the 15 MiB rest is over kSmallSize); the second 5 MiB
     * is the best fit at +5 MiB; the free leaves [0, 5 MiB) free beside an
     * allocated block (no merge); 30 MiB > 10 MiB rounds to 2 MiB: a 30 MiB
     * segment of its own. */
    ck_assert_uint_eq(gt_pk_len(trace), 7);
    uint64_t s = u(gt_pk_at(trace, 0), "addr");
    entry_is(trace, 0, "segment_alloc", s, 20 * MIB);
    entry_is(trace, 1, "alloc", s, 5 * MIB);
    entry_is(trace, 2, "alloc", s + 5 * MIB, 5 * MIB);
    entry_is(trace, 3, "free_requested", s, 5 * MIB);
    entry_is(trace, 4, "free_completed", s, 5 * MIB);
    uint64_t s2 = u(gt_pk_at(trace, 5), "addr");
    entry_is(trace, 5, "segment_alloc", s2, 30 * MIB);
    entry_is(trace, 6, "alloc", s2, 30 * MIB);
    ck_assert_uint_eq(u(gt_pk_at(trace, 6), "time_us"), 4);

    const struct gt_pk *segs = gt_pk_get(root, "segments");
    ck_assert_uint_eq(gt_pk_len(segs), 2);
    ck_assert_uint_eq(res.segments, 2);
    ck_assert_int_eq(res.entries, 7);
    const struct gt_pk *g = gt_pk_at(segs, 0);
    ck_assert_uint_eq(u(g, "address"), s);
    ck_assert_uint_eq(u(g, "total_size"), 20 * MIB);
    ck_assert_uint_eq(u(g, "allocated_size"), 5 * MIB);
    ck_assert_uint_eq(u(g, "requested_size"), 5 * MIB);
    ck_assert_str_eq(gt_pk_str(gt_pk_get(g, "segment_type")), "large");
    const struct gt_pk *blocks = gt_pk_get(g, "blocks");
    ck_assert_uint_eq(gt_pk_len(blocks), 3);
    static const char *const states[] = {"inactive", "active_allocated", "inactive"};
    static const uint64_t sizes[] = {5 * MIB, 5 * MIB, 10 * MIB};
    for (size_t i = 0; i < 3; i++) {
        ck_assert_str_eq(gt_pk_str(gt_pk_get(gt_pk_at(blocks, i), "state")), states[i]);
        ck_assert_uint_eq(u(gt_pk_at(blocks, i), "size"), sizes[i]);
    }
    ck_assert_uint_eq(u(gt_pk_at(segs, 1), "allocated_size"), 30 * MIB);
    ck_assert_int_eq(gt_pk_int(gt_pk_get(gt_pk_get(root, "allocator_settings"), "max_split_size"),
                               &(int64_t){0}),
                     0);
    gt_pickle_free(p);
}
END_TEST

START_TEST(a_card_too_small_gives_the_oom_pytorch_would_raise)
{
    struct gt_export_result res;
    make_trace(two_allocs_then_a_large_one);
    /* On 40 MiB: the 30 MiB segment would take reserved to 50 MiB; the
     * 20 MiB segment holds a live block, so nothing can be released
     * (release_cached_blocks frees only whole free segments): OutOfMemory,
     * with cudaMemGetInfo's free = 40 - 20 MiB, for the rounded request. */
    struct gt_pickle *p = export("default", 40 * MIB, &res);
    const struct gt_pk *trace = gt_pk_at(gt_pk_get(gt_pickle_root(p), "device_traces"), 0);
    ck_assert_uint_eq(gt_pk_len(trace), 6);
    entry_is(trace, 5, "oom", 20 * MIB, 30 * MIB);
    ck_assert_uint_eq(gt_pk_len(gt_pk_get(gt_pickle_root(p), "segments")), 1);
    gt_pickle_free(p);
}
END_TEST

START_TEST(the_recorded_run_of_a_trace_without_an_end_state_has_no_segments)
{
    struct gt_export_result res;
    make_trace(two_allocs_then_a_large_one);
    struct gt_pickle *p = export(NULL, 0, &res);
    const struct gt_pk *root = gt_pickle_root(p);
    const struct gt_pk *trace = gt_pk_at(gt_pk_get(root, "device_traces"), 0);
    ck_assert(res.end_state_missing);
    ck_assert_uint_eq(gt_pk_len(gt_pk_get(root, "segments")), 0);
    /* the recorded addresses, and a free the size of what it freed */
    ck_assert_uint_eq(gt_pk_len(trace), 5);
    entry_is(trace, 0, "alloc", 0x7f0000000000, 5 * MIB);
    entry_is(trace, 2, "free_requested", 0x7f0000000000, 5 * MIB);
    entry_is(trace, 3, "free_completed", 0x7f0000000000, 5 * MIB);
    entry_is(trace, 4, "alloc", 0x7f0010000000, 30 * MIB);
    gt_pickle_free(p);
}
END_TEST

START_TEST(the_export_never_replaces_its_trace_and_nocache_is_refused)
{
    struct gt_scenario *scn = NULL;
    struct gt_conf conf;
    char err[512] = "";
    make_trace(two_allocs_then_a_large_one);
    ck_assert_int_eq(gt_scenario_build(trace_path, 0, &scn, err, sizeof err), 0);
    struct gt_export_options o = {.scenario = scn};
    ck_assert_int_eq(gt_export_snapshot(trace_path, trace_path, &o, NULL, err, sizeof err), GT_EIO);
    ck_assert_ptr_nonnull(strstr(err, "cannot write"));
    ck_assert_int_eq(gt_conf_parse("nocache", &conf, NULL, 0), 0);
    o.conf = &conf;
    ck_assert_int_eq(gt_export_snapshot(trace_path, out_path, &o, NULL, err, sizeof err),
                     GT_EUNSUPPORTED);
    ck_assert_int_eq(access(out_path, F_OK), -1);
    gt_scenario_free(scn);
    /* the trace is still a trace */
    ck_assert_int_eq(gt_scenario_build(trace_path, 0, &scn, err, sizeof err), 0);
    gt_scenario_free(scn);
}
END_TEST

static Suite *export_suite(void)
{
    Suite *s = suite_create("export");
    TCase *w = tcase_create("pkwrite");
    tcase_add_checked_fixture(w, make_dir, remove_dir);
    tcase_add_test(w, every_value_reads_back_as_written);
    tcase_add_test(w, python_reads_every_value_as_written);
    tcase_add_test(w, long_containers_are_written_in_batches_and_read_whole);
    tcase_add_test(w, repeated_values_are_written_once_and_referred_to);
    tcase_add_test(w, misuse_is_an_error_not_a_broken_file);
    tcase_add_test(w, a_failed_write_is_reported);
    suite_add_tcase(s, w);
    TCase *e = tcase_create("snapshot");
    tcase_add_checked_fixture(e, make_dir, remove_dir);
    tcase_add_test(e, a_simulated_run_has_the_segments_pytorch_rules_give);
    tcase_add_test(e, a_card_too_small_gives_the_oom_pytorch_would_raise);
    tcase_add_test(e, the_recorded_run_of_a_trace_without_an_end_state_has_no_segments);
    tcase_add_test(e, the_export_never_replaces_its_trace_and_nocache_is_refused);
    suite_add_tcase(s, e);
    return s;
}

int main(void)
{
    SRunner *r = srunner_create(export_suite());
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
