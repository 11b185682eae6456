/* Tests of conf.h: PYTORCH_CUDA_ALLOC_CONF as the newest PyTorch parses it.
 * The cases of docs/notes/pytorch-allocator.md §15.2 (test_cuda.py test_allocator_settings)
 * and §15.3 (c10 AllocatorConfig_test) appear here by name. */
#include <check.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gputrace/conf.h"
#include "gputrace/err.h"

#include "gputrace/banned.h"

#define MIB ((uint64_t)1 << 20)
#define GIB ((uint64_t)1 << 30)

static struct gt_conf parse_ok(const char *text)
{
    struct gt_conf c;
    char err[256] = "";
    int rc = gt_conf_parse(text, &c, err, sizeof err);

    ck_assert_msg(rc == GT_OK, "'%s' rejected: %s", text, err);
    ck_assert_str_eq(err, "");
    return c;
}

/* Parses text that must be rejected with GT_EINVAL; returns the message. */
static const char *parse_bad(const char *text)
{
    static char err[256];
    struct gt_conf c;
    int rc;

    err[0] = '\0';
    rc = gt_conf_parse(text, &c, err, sizeof err);
    ck_assert_msg(rc == GT_EINVAL, "'%s' gave %d, not GT_EINVAL", text, rc);
    ck_assert_msg(err[0] != '\0', "'%s' rejected without a message", text);
    /* on error c holds the defaults */
    ck_assert_uint_eq(c.max_split_size, GT_CONF_UNLIMITED);
    ck_assert_str_eq(c.name, "default");
    return err;
}

static void assert_defaults(const struct gt_conf *c)
{
    ck_assert_uint_eq(c->max_split_size, GT_CONF_UNLIMITED);
    ck_assert_uint_eq(c->max_non_split_rounding, 20 * MIB);
    ck_assert_uint_eq(c->large_segment_size, 20 * MIB);
    for (int i = 0; i < GT_CONF_DIVISION_INTERVALS; i++)
        ck_assert_uint_eq(c->roundup_divisions[i], 0);
    ck_assert_double_eq(c->gc_threshold, 0.0);
    ck_assert_double_eq(c->memory_fraction, 1.0);
    ck_assert(!c->expandable_segments);
    ck_assert(!c->release_lock_on_cudamalloc);
    ck_assert_int_eq(c->backend, GT_CONF_BACKEND_NATIVE);
}

START_TEST(the_defaults_are_pytorch_with_no_settings)
{
    struct gt_conf c;

    memset(&c, 0xff, sizeof c);
    gt_conf_init_default(&c);
    assert_defaults(&c);
    ck_assert(!c.no_caching);
    ck_assert_str_eq(c.name, "default");
}
END_TEST

START_TEST(default_and_the_empty_string_give_the_defaults)
{
    struct gt_conf c = parse_ok("default");

    assert_defaults(&c);
    ck_assert_str_eq(c.name, "default");
    c = parse_ok("");
    assert_defaults(&c);
    ck_assert(!c.no_caching);
    c = parse_ok("  ");
    assert_defaults(&c);
}
END_TEST

START_TEST(nocache_is_the_defaults_without_caching)
{
    struct gt_conf c = parse_ok("nocache");

    assert_defaults(&c);
    ck_assert(c.no_caching);
    ck_assert_str_eq(c.name, "nocache");
}
END_TEST

/* §15.3 */
START_TEST(divisions_list_with_greater_fills_after_the_last_explicit_interval)
{
    static const struct {
        uint64_t size;
        uint32_t d;
    } want[] = {{32 * MIB, 8}, {64 * MIB, 8}, {128 * MIB, 2}, {256 * MIB, 4}, {512 * MIB, 2},
                {1 * GIB, 4},  {2 * GIB, 1},  {4 * GIB, 1},   {8 * GIB, 1}};
    struct gt_conf c = parse_ok("roundup_power2_divisions:[64:8,128:2,256:4,512:2,1024:4,>:1]");

    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        ck_assert_msg(gt_conf_divisions_for(&c, want[i].size) == want[i].d,
                      "divisions(%llu MiB) = %u, want %u", (unsigned long long)(want[i].size / MIB),
                      gt_conf_divisions_for(&c, want[i].size), want[i].d);
}
END_TEST

/* §15.3 */
START_TEST(divisions_list_leaves_unlisted_gaps_at_zero)
{
    struct gt_conf c = parse_ok("roundup_power2_divisions:[128:8,256:16,512:1,2048:8,>:2]");

    ck_assert_uint_eq(gt_conf_divisions_for(&c, 64 * MIB), 8);
    ck_assert_uint_eq(gt_conf_divisions_for(&c, 128 * MIB), 8);
    ck_assert_uint_eq(gt_conf_divisions_for(&c, 256 * MIB), 16);
    ck_assert_uint_eq(gt_conf_divisions_for(&c, 512 * MIB), 1);
    ck_assert_uint_eq(gt_conf_divisions_for(&c, 1024 * MIB), 0);
    ck_assert_uint_eq(gt_conf_divisions_for(&c, 2048 * MIB), 8);
    ck_assert_uint_eq(gt_conf_divisions_for(&c, 4096 * MIB), 2);
}
END_TEST

/* §15.3 */
START_TEST(a_single_divisions_value_applies_to_every_interval)
{
    struct gt_conf c = parse_ok("roundup_power2_divisions:4");

    for (int i = 0; i < GT_CONF_DIVISION_INTERVALS; i++)
        ck_assert_uint_eq(c.roundup_divisions[i], 4);
    ck_assert_uint_eq(gt_conf_divisions_for(&c, 1), 4);
    ck_assert_uint_eq(gt_conf_divisions_for(&c, 84 * MIB), 4);
    ck_assert_uint_eq(gt_conf_divisions_for(&c, 1ULL << 50), 4);
}
END_TEST

START_TEST(divisions_lookup_uses_floor_log2_minus_20_clamped_to_15)
{
    struct gt_conf c;

    gt_conf_init_default(&c);
    for (int i = 0; i < GT_CONF_DIVISION_INTERVALS; i++)
        c.roundup_divisions[i] = (uint32_t)(100 + i);
    ck_assert_uint_eq(gt_conf_divisions_for(&c, 512), 100);
    ck_assert_uint_eq(gt_conf_divisions_for(&c, 2 * MIB - 1), 100);
    ck_assert_uint_eq(gt_conf_divisions_for(&c, 2 * MIB), 101);
    ck_assert_uint_eq(gt_conf_divisions_for(&c, 84 * MIB), 106);
    ck_assert_uint_eq(gt_conf_divisions_for(&c, 32 * GIB - 1), 114);
    ck_assert_uint_eq(gt_conf_divisions_for(&c, 32 * GIB), 115);
    ck_assert_uint_eq(gt_conf_divisions_for(&c, UINT64_MAX), 115);
}
END_TEST

START_TEST(a_list_of_only_greater_leaves_sizes_below_2_mib_at_zero)
{
    struct gt_conf c = parse_ok("roundup_power2_divisions:[>:4]");

    ck_assert_uint_eq(c.roundup_divisions[0], 0);
    for (int i = 1; i < GT_CONF_DIVISION_INTERVALS; i++)
        ck_assert_uint_eq(c.roundup_divisions[i], 4);
}
END_TEST

START_TEST(divisions_intervals_above_32_gib_clamp_to_the_last_entry)
{
    struct gt_conf c = parse_ok("roundup_power2_divisions:[1:2,1048576:8]");

    ck_assert_uint_eq(c.roundup_divisions[0], 2);
    ck_assert_uint_eq(c.roundup_divisions[14], 0);
    ck_assert_uint_eq(c.roundup_divisions[15], 8);
    c = parse_ok("roundup_power2_divisions:[64:0,]");
    ck_assert_uint_eq(c.roundup_divisions[6], 0);
    c = parse_ok("roundup_power2_divisions:[]");
    ck_assert_uint_eq(c.roundup_divisions[6], 0);
}
END_TEST

/* §15.3 */
START_TEST(max_split_size_mb_40_is_41943040_bytes)
{
    struct gt_conf c = parse_ok("max_split_size_mb:40");

    ck_assert_uint_eq(c.max_split_size, 41943040);
}
END_TEST

/* §15.3 */
START_TEST(max_non_split_rounding_mb_30_is_31457280_bytes)
{
    struct gt_conf c = parse_ok("max_non_split_rounding_mb:30");

    ck_assert_uint_eq(c.max_non_split_rounding, 31457280);
}
END_TEST

START_TEST(max_split_size_mb_of_exactly_20_is_accepted_as_in_newest_pytorch)
{
    struct gt_conf c = parse_ok("max_split_size_mb:20");

    ck_assert_uint_eq(c.max_split_size, 20 * MIB);
    c = parse_ok("max_non_split_rounding_mb:20");
    ck_assert_uint_eq(c.max_non_split_rounding, 20 * MIB);
}
END_TEST

/* §15.3 */
START_TEST(large_segment_size_lowers_the_max_split_minimum_in_any_key_order)
{
    struct gt_conf c = parse_ok("large_segment_size_mb:15,max_split_size_mb:20");

    ck_assert_uint_eq(c.large_segment_size, 15 * MIB);
    ck_assert_uint_eq(c.max_split_size, 20 * MIB);
    ck_assert_uint_eq(c.max_non_split_rounding, 15 * MIB);
    c = parse_ok("max_split_size_mb:15,large_segment_size_mb:15");
    ck_assert_uint_eq(c.max_split_size, 15 * MIB);
}
END_TEST

/* §15.3 */
START_TEST(max_split_size_below_a_later_large_segment_size_is_rejected)
{
    ck_assert_str_eq(parse_bad("max_split_size_mb:20,large_segment_size_mb:25"),
                     "CachingAllocator option max_split_size_mb too small, must be >= 25");
    ck_assert_str_eq(parse_bad("large_segment_size_mb:30,max_non_split_rounding_mb:25"),
                     "CachingAllocator option max_non_split_rounding_mb too small, must be >= 30");
}
END_TEST

START_TEST(large_segment_size_must_be_above_10_mb)
{
    ck_assert_str_eq(parse_bad("large_segment_size_mb:10"),
                     "CachingAllocator option large_segment_size_mb must be > 10 MB");
    ck_assert_uint_eq(parse_ok("large_segment_size_mb:11").large_segment_size, 11 * MIB);
}
END_TEST

/* §15.2, §15.3 */
START_TEST(unknown_keys_are_rejected_with_pytorchs_message)
{
    ck_assert_str_eq(parse_bad("foo:1,bar:2"), "Unrecognized key 'foo' in CUDA allocator config.");
    ck_assert_str_eq(parse_bad("foo:123,bar:456"),
                     "Unrecognized key 'foo' in CUDA allocator config.");
    ck_assert_str_eq(parse_bad("max_split_size_mb:40,roundup_bypass_threshold_mb:8"),
                     "Unrecognized key 'roundup_bypass_threshold_mb' in CUDA allocator config.");
}
END_TEST

/* §15.2 */
START_TEST(garbage_collection_threshold_must_lie_strictly_between_0_and_1)
{
    ck_assert_str_eq(parse_bad("garbage_collection_threshold:1.2"),
                     "garbage_collect_threshold is invalid, set it in (0.0, 1.0)");
    parse_bad("garbage_collection_threshold:1");
    parse_bad("garbage_collection_threshold:0");
    parse_bad("garbage_collection_threshold:-0.5");
    parse_bad("garbage_collection_threshold:nan");
    parse_bad("garbage_collection_threshold:inf");
    ck_assert_double_eq(parse_ok("garbage_collection_threshold:0.8").gc_threshold, 0.8);
}
END_TEST

/* §15.2 */
START_TEST(max_split_size_mb_below_20_is_rejected)
{
    ck_assert_str_eq(parse_bad("max_split_size_mb:2"),
                     "CachingAllocator option max_split_size_mb too small, must be >= 20");
    ck_assert_str_eq(parse_bad("max_non_split_rounding_mb:19"),
                     "CachingAllocator option max_non_split_rounding_mb too small, must be >= 20");
}
END_TEST

/* §15.2 */
START_TEST(boolean_options_reject_anything_but_true_or_false)
{
    ck_assert_str_eq(parse_bad("release_lock_on_cudamalloc:none"),
                     "Expected 'True' or 'False' at index 2 in ConfigTokenizer but got 'none'");
    ck_assert_str_eq(parse_bad("pinned_use_cuda_host_register:none"),
                     "Expected 'True' or 'False' at index 2 in ConfigTokenizer but got 'none'");
    ck_assert_str_eq(parse_bad("expandable_segments:true"),
                     "Expected 'True' or 'False' at index 2 in ConfigTokenizer but got 'true'");
    ck_assert_str_eq(parse_bad("max_split_size_mb:40,expandable_segments:1"),
                     "Expected 'True' or 'False' at index 6 in ConfigTokenizer but got '1'");
    parse_bad("pinned_use_background_threads:yes");
    parse_bad("graph_capture_record_stream_reuse:TRUE");
    parse_bad("pinned_free_catch_all:false");
    parse_bad("release_lock_on_hipmalloc:0");
    parse_bad("pinned_use_hip_host_register:True ish");
}
END_TEST

/* §15.2 */
START_TEST(pinned_num_register_threads_must_be_a_power_of_2_up_to_128)
{
    ck_assert_str_eq(parse_bad("pinned_num_register_threads:none"),
                     "Expected an unsigned integer for pinned_num_register_threads but got 'none'");
    ck_assert_str_eq(parse_bad("pinned_num_register_threads:1024"),
                     "Number of register threads should be less than or equal to 128, got 1024");
    ck_assert_str_eq(parse_bad("pinned_num_register_threads:3"),
                     "Number of register threads has to be power of 2, got 3");
    parse_bad("pinned_num_register_threads:0");
    parse_ok("pinned_num_register_threads:128");
    parse_ok("pinned_num_register_threads:1");
}
END_TEST

/* §15.3 list-form error and single-value error */
START_TEST(divisions_must_be_powers_of_2)
{
    ck_assert_str_eq(parse_bad("roundup_power2_divisions:3"),
                     "For roundups, the divisions has to be power of 2");
    ck_assert_str_eq(parse_bad("roundup_power2_divisions:0"),
                     "For roundups, the divisions has to be power of 2");
    ck_assert_str_eq(parse_bad("roundup_power2_divisions:[100:4]"),
                     "For roundups, the intervals have to be power of 2");
    ck_assert_str_eq(parse_bad("roundup_power2_divisions:[64:3]"),
                     "For roundups, the divisions has to be power of 2 or 0 to disable roundup");
    parse_bad("roundup_power2_divisions:[0:4]");
    parse_bad("roundup_power2_divisions:[>:5]");
    parse_bad("roundup_power2_divisions:4294967296");
}
END_TEST

START_TEST(malformed_divisions_lists_are_rejected)
{
    parse_bad("roundup_power2_divisions:[64:8");
    parse_bad("roundup_power2_divisions:[64:8,128]");
    parse_bad("roundup_power2_divisions:[64,8]");
    parse_bad("roundup_power2_divisions:[64:8:2]");
    parse_bad("roundup_power2_divisions:[64:8 128:2]");
    parse_bad("roundup_power2_divisions:[[64:8]");
    parse_bad("roundup_power2_divisions:[64:]");
    parse_bad("roundup_power2_divisions:[:8]");
    parse_bad("roundup_power2_divisions:[,]");
    parse_bad("roundup_power2_divisions:[64:-8]");
    parse_bad("roundup_power2_divisions:[-64:8]");
}
END_TEST

/* §15.2 */
START_TEST(expandable_segments_with_max_split_size_is_parsed)
{
    struct gt_conf c = parse_ok("expandable_segments:True,max_split_size_mb:128");

    ck_assert(c.expandable_segments);
    ck_assert_uint_eq(c.max_split_size, 128 * MIB);
    ck_assert_str_eq(c.name, "expandable_segments:True,max_split_size_mb:128");
    c = parse_ok("expandable_segments:False");
    ck_assert(!c.expandable_segments);
}
END_TEST

/* §15.2 */
START_TEST(gc_threshold_with_a_divisions_list_is_parsed)
{
    struct gt_conf c = parse_ok("garbage_collection_threshold:0.5,roundup_power2_divisions:[64:8,"
                                "128:2,256:2,512:2,1024:1,>:1]");
    static const uint32_t want[GT_CONF_DIVISION_INTERVALS] = {8, 8, 8, 8, 8, 8, 8, 2,
                                                              2, 2, 1, 1, 1, 1, 1, 1};

    ck_assert_double_eq(c.gc_threshold, 0.5);
    for (int i = 0; i < GT_CONF_DIVISION_INTERVALS; i++)
        ck_assert_msg(c.roundup_divisions[i] == want[i], "entry %d = %u, want %u", i,
                      c.roundup_divisions[i], want[i]);
    /* the §2.2 examples: 84 MiB -> 8 divisions, 400 MiB -> 2 */
    ck_assert_uint_eq(gt_conf_divisions_for(&c, 88080384), 8);
    ck_assert_uint_eq(gt_conf_divisions_for(&c, 419430400), 2);
}
END_TEST

/* §15.2 */
START_TEST(whitespace_around_tokens_is_dropped)
{
    struct gt_conf c = parse_ok(" max_split_size_mb : 64 ");

    ck_assert_uint_eq(c.max_split_size, 64 * MIB);
    ck_assert_str_eq(c.name, " max_split_size_mb : 64 ");
    c = parse_ok("max_split_size_mb:6 4,\texpandable_segments:\nTrue");
    ck_assert_uint_eq(c.max_split_size, 64 * MIB);
    ck_assert(c.expandable_segments);
}
END_TEST

/* §15.2 */
START_TEST(release_lock_on_cudamalloc_is_parsed_without_memory_effect)
{
    struct gt_conf c = parse_ok("release_lock_on_cudamalloc:True");

    ck_assert(c.release_lock_on_cudamalloc);
    ck_assert_uint_eq(c.max_split_size, GT_CONF_UNLIMITED);
    c = parse_ok("release_lock_on_hipmalloc:True");
    ck_assert(c.release_lock_on_cudamalloc);
}
END_TEST

START_TEST(backend_is_native_or_cuda_malloc_async)
{
    ck_assert_int_eq(parse_ok("backend:native").backend, GT_CONF_BACKEND_NATIVE);
    ck_assert_int_eq(parse_ok("backend:cudaMallocAsync").backend, GT_CONF_BACKEND_ASYNC);
    ck_assert_str_eq(parse_bad("backend:hipMallocAsync"),
                     "Unknown allocator backend, options are native and cudaMallocAsync");
    parse_bad("backend:[native]");
}
END_TEST

START_TEST(per_process_memory_fraction_lies_in_0_to_1_inclusive)
{
    ck_assert_double_eq(parse_ok("per_process_memory_fraction:0.5").memory_fraction, 0.5);
    ck_assert_double_eq(parse_ok("per_process_memory_fraction:0").memory_fraction, 0.0);
    ck_assert_double_eq(parse_ok("per_process_memory_fraction:1").memory_fraction, 1.0);
    ck_assert_str_eq(parse_bad("per_process_memory_fraction:1.5"),
                     "per_process_memory_fraction is invalid, set it in [0.0, 1.0]");
    parse_bad("per_process_memory_fraction:-0.1");
    parse_bad("per_process_memory_fraction:abc");
}
END_TEST

START_TEST(host_allocator_options_are_validated_and_ignored)
{
    struct gt_conf c =
        parse_ok("pinned_use_cuda_host_register:True,pinned_num_register_threads:8,"
                 "pinned_use_background_threads:True,pinned_reserve_segment_size_mb:64,"
                 "pinned_free_catch_all:True,graph_capture_record_stream_reuse:True,"
                 "pinned_use_hip_host_register:False,pinned_max_round_threshold_mb:16,"
                 "pinned_max_cached_size_mb:1024");

    assert_defaults(&c);
    ck_assert_str_eq(parse_bad("pinned_reserve_segment_size_mb:0"),
                     "Pinned reserve segment size has to be greater than 0");
    parse_bad("pinned_max_cached_size_mb:lots");
}
END_TEST

START_TEST(throw_on_cudamalloc_oom_true_is_reported_as_unsupported)
{
    struct gt_conf c;
    char err[128] = "";

    parse_ok("throw_on_cudamalloc_oom:False");
    ck_assert_int_eq(gt_conf_parse("throw_on_cudamalloc_oom:True", &c, err, sizeof err),
                     GT_EUNSUPPORTED);
    ck_assert_str_eq(err, "throw_on_cudamalloc_oom:True is not simulated by gpu-trace");
    parse_ok("expandable_segments_reserve:0.5,expandable_segments_reserve_by_class:[a:40G,b:x]");
}
END_TEST

START_TEST(huge_sizes_clamp_like_pytorch_and_do_not_wrap)
{
    struct gt_conf c = parse_ok("max_split_size_mb:18446744073709551615");

    ck_assert_uint_eq(c.max_split_size, GT_CONF_UNLIMITED);
    c = parse_ok("max_split_size_mb:17592186044415");
    ck_assert_uint_eq(c.max_split_size, GT_CONF_UNLIMITED);
    c = parse_ok("max_split_size_mb:17592186044414");
    ck_assert_uint_eq(c.max_split_size, 17592186044414ULL * MIB);
    c = parse_ok("max_non_split_rounding_mb:18446744073709551615");
    ck_assert_uint_eq(c.max_non_split_rounding, (UINT64_MAX / MIB) * MIB);
    c = parse_ok("large_segment_size_mb:18446744073709551615,max_split_size_mb:99999999999999");
    ck_assert_uint_eq(c.large_segment_size, (UINT64_MAX / MIB) * MIB);
    ck_assert_uint_eq(c.max_split_size, GT_CONF_UNLIMITED);
}
END_TEST

START_TEST(numbers_past_64_bits_are_rejected_not_wrapped)
{
    ck_assert_str_eq(parse_bad("max_split_size_mb:99999999999999999999"),
                     "Value '99999999999999999999' for max_split_size_mb is out of range");
    parse_bad("roundup_power2_divisions:[99999999999999999999:4]");
    parse_bad("garbage_collection_threshold:1e400");
    parse_bad("max_split_size_mb:-1");
    parse_bad("max_split_size_mb:+40");
    parse_bad("max_split_size_mb:40abc");
    parse_bad("max_split_size_mb:0x40");
    parse_bad("max_split_size_mb:40.5");
}
END_TEST

START_TEST(syntax_errors_name_what_was_expected)
{
    ck_assert_str_eq(parse_bad("max_split_size_mb"),
                     "Expected ':' after 'max_split_size_mb' at index 1");
    ck_assert_str_eq(parse_bad("max_split_size_mb,40"),
                     "Expected ':' after 'max_split_size_mb' at index 1");
    ck_assert_str_eq(parse_bad("max_split_size_mb:"),
                     "Expected a value for 'max_split_size_mb' at index 2");
    ck_assert_str_eq(parse_bad("max_split_size_mb:40:50"), "Expected ',' at index 3 but got ':'");
    ck_assert_str_eq(parse_bad(",max_split_size_mb:40"), "Expected a key at index 0 but got ','");
    ck_assert_str_eq(parse_bad("max_split_size_mb:[40]"),
                     "Expected a single value for max_split_size_mb, not a list");
    ck_assert_str_eq(parse_bad("roundup_power2_divisions:[64:8"),
                     "Expected closing bracket ']' for the value of 'roundup_power2_divisions'");
    parse_bad("max_split_size_mb:40,,expandable_segments:True");
    parse_bad(":");
    parse_bad("]");
    parse_bad("Max_Split_Size_MB:40");
}
END_TEST

START_TEST(a_trailing_comma_is_accepted_as_pytorch_accepts_it)
{
    ck_assert_uint_eq(parse_ok("max_split_size_mb:40,").max_split_size, 40 * MIB);
}
END_TEST

START_TEST(the_last_of_repeated_keys_wins)
{
    struct gt_conf c = parse_ok("max_split_size_mb:40,max_split_size_mb:64");

    ck_assert_uint_eq(c.max_split_size, 64 * MIB);
}
END_TEST

START_TEST(a_long_config_is_kept_truncated_in_the_name)
{
    char text[1024];
    struct gt_conf c;
    size_t len = 0;

    while (len + 24 < sizeof text)
        len += (size_t)snprintf(text + len, sizeof text - len, "max_split_size_mb:%d,", 40);
    c = parse_ok(text);
    ck_assert_uint_eq(strlen(c.name), sizeof c.name - 1);
    ck_assert_str_eq(c.name + sizeof c.name - 4, "...");
    ck_assert_int_eq(strncmp(c.name, text, sizeof c.name - 4), 0);
}
END_TEST

START_TEST(a_null_error_buffer_is_allowed)
{
    struct gt_conf c;

    ck_assert_int_eq(gt_conf_parse("foo:1", &c, NULL, 0), GT_EINVAL);
    ck_assert_int_eq(gt_conf_parse(NULL, &c, NULL, 0), GT_OK);
    assert_defaults(&c);
}
END_TEST

static Suite *conf_suite(void)
{
    Suite *s = suite_create("conf");
    TCase *tc = tcase_create("core");

    tcase_add_test(tc, the_defaults_are_pytorch_with_no_settings);
    tcase_add_test(tc, default_and_the_empty_string_give_the_defaults);
    tcase_add_test(tc, nocache_is_the_defaults_without_caching);
    tcase_add_test(tc, divisions_list_with_greater_fills_after_the_last_explicit_interval);
    tcase_add_test(tc, divisions_list_leaves_unlisted_gaps_at_zero);
    tcase_add_test(tc, a_single_divisions_value_applies_to_every_interval);
    tcase_add_test(tc, divisions_lookup_uses_floor_log2_minus_20_clamped_to_15);
    tcase_add_test(tc, a_list_of_only_greater_leaves_sizes_below_2_mib_at_zero);
    tcase_add_test(tc, divisions_intervals_above_32_gib_clamp_to_the_last_entry);
    tcase_add_test(tc, max_split_size_mb_40_is_41943040_bytes);
    tcase_add_test(tc, max_non_split_rounding_mb_30_is_31457280_bytes);
    tcase_add_test(tc, max_split_size_mb_of_exactly_20_is_accepted_as_in_newest_pytorch);
    tcase_add_test(tc, large_segment_size_lowers_the_max_split_minimum_in_any_key_order);
    tcase_add_test(tc, max_split_size_below_a_later_large_segment_size_is_rejected);
    tcase_add_test(tc, large_segment_size_must_be_above_10_mb);
    tcase_add_test(tc, unknown_keys_are_rejected_with_pytorchs_message);
    tcase_add_test(tc, garbage_collection_threshold_must_lie_strictly_between_0_and_1);
    tcase_add_test(tc, max_split_size_mb_below_20_is_rejected);
    tcase_add_test(tc, boolean_options_reject_anything_but_true_or_false);
    tcase_add_test(tc, pinned_num_register_threads_must_be_a_power_of_2_up_to_128);
    tcase_add_test(tc, divisions_must_be_powers_of_2);
    tcase_add_test(tc, malformed_divisions_lists_are_rejected);
    tcase_add_test(tc, expandable_segments_with_max_split_size_is_parsed);
    tcase_add_test(tc, gc_threshold_with_a_divisions_list_is_parsed);
    tcase_add_test(tc, whitespace_around_tokens_is_dropped);
    tcase_add_test(tc, release_lock_on_cudamalloc_is_parsed_without_memory_effect);
    tcase_add_test(tc, backend_is_native_or_cuda_malloc_async);
    tcase_add_test(tc, per_process_memory_fraction_lies_in_0_to_1_inclusive);
    tcase_add_test(tc, host_allocator_options_are_validated_and_ignored);
    tcase_add_test(tc, throw_on_cudamalloc_oom_true_is_reported_as_unsupported);
    tcase_add_test(tc, huge_sizes_clamp_like_pytorch_and_do_not_wrap);
    tcase_add_test(tc, numbers_past_64_bits_are_rejected_not_wrapped);
    tcase_add_test(tc, syntax_errors_name_what_was_expected);
    tcase_add_test(tc, a_trailing_comma_is_accepted_as_pytorch_accepts_it);
    tcase_add_test(tc, the_last_of_repeated_keys_wins);
    tcase_add_test(tc, a_long_config_is_kept_truncated_in_the_name);
    tcase_add_test(tc, a_null_error_buffer_is_allowed);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(conf_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
