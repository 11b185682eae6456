/* PYTORCH_CUDA_ALLOC_CONF parsing (conf.h).
 *
 * Version followed: the newest PyTorch (≈2.9+, 2025 trunk), where the generic
 * options live in c10/core/AllocatorConfig.cpp (AcceleratorAllocatorConfig,
 * tokenised by ConfigTokenizer) and the CUDA-only ones in
 * c10/cuda/CUDAAllocatorConfig.cpp (CUDAAllocatorConfig). Where PyTorch ≤ 2.8
 * (CUDAAllocatorConfig::parseArgs with lexArgs/consumeToken) differs:
 *   - max_split_size_mb and max_non_split_rounding_mb had to be > 20, not
 *     >= 20 (>= large_segment_size_mb, which did not exist);
 *   - in a roundup_power2_divisions list, ">" filled the table from the last
 *     explicit index inclusive, overwriting that entry (so "[...,1024:4,>:1]"
 *     gave 1 GiB sizes 1 division instead of 4);
 *   - errors were RuntimeErrors, an unknown key read "Unrecognized
 *     CachingAllocator option: <key>", and only ' ' was dropped as whitespace;
 *   - per_process_memory_fraction, graph_capture_record_stream_reuse,
 *     large_segment_size_mb and pinned_free_catch_all were unknown keys.
 *
 * Where gpu-trace is stricter than the newest PyTorch, on purpose:
 *   - ConfigTokenizer::checkToken returns a bool that the parsers ignore, so
 *     PyTorch accepts "max_split_size_mb,40" as if it read ':'; here a wrong
 *     separator is an error that names the separator expected;
 *   - numbers go through units.h, not std::stoull/std::stod: "-1" (which
 *     stoull wraps to 2^64-1), "+4", "40abc" and "0x10" are rejected instead
 *     of partially parsed, and the messages say which key was being read;
 *   - divisions above 2^31 are rejected because struct gt_conf keeps them in
 *     32 bits (PyTorch keeps size_t, and 512 * d overflows there anyway).
 *
 * Every rule carries a MIRRORS tag naming the PyTorch function it copies. */
#include "gputrace/conf.h"
#include "gputrace/err.h"
#include "gputrace/units.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gputrace/banned.h"

/* MIRRORS: AllocatorConfig.cpp max_allowed_split_size_mb: SIZE_MAX / kMB */
#define MAX_ALLOWED_MB (UINT64_MAX / GT_CONF_MIB)
/* MIRRORS: kLargeBuffer = 20 MiB: default large_segment_size_ */
#define DEFAULT_LARGE_SEGMENT (20 * GT_CONF_MIB)
/* MIRRORS: kMinLargeAlloc / kMB = 10: large_segment_size_mb must be > 10 */
#define MIN_LARGE_SEGMENT_MB 10
/* MIRRORS: CUDAAllocatorConfig::pinned_max_register_threads() = 128 */
#define MAX_REGISTER_THREADS 128
/* gpu-trace limit: roundup_divisions entries are uint32_t */
#define MAX_DIVISIONS ((uint64_t)1 << 31)

/* The token list of one config string. Tokens are NUL-terminated strings in
 * buf; tok[i] points at token i, numbered exactly as ConfigTokenizer numbers
 * them (its indexes appear in PyTorch's messages). */
struct tokens {
    char **tok;
    size_t n;
    char *buf;
};

struct parser {
    struct tokens t;
    struct gt_conf *c;
    char *err;
    size_t errlen;
};

struct key;
typedef int (*key_fn)(struct parser *ps, const struct key *k, size_t v, size_t end);

/* One recognised key. pass 1 keys are read before all others. */
struct key {
    const char *name;
    key_fn parse;
    int pass;
};

#define fail(ps, ...) gt_errf((ps)->err, (ps)->errlen, GT_EINVAL, __VA_ARGS__)

static int is_punct(char ch)
{
    return ch == ',' || ch == ':' || ch == '[' || ch == ']';
}

static int is_space(char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\v' || ch == '\f' || ch == '\r';
}

static int tok_is(const struct parser *ps, size_t i, const char *s)
{
    return i < ps->t.n && strcmp(ps->t.tok[i], s) == 0;
}

/* MIRRORS: ConfigTokenizer::ConfigTokenizer: ',' ':' '[' ']' are one-char
 * tokens, every other run of characters is a word, whitespace (std::isspace)
 * is dropped, also inside words. */
static int tokenize(const char *text, struct tokens *t)
{
    size_t len = strlen(text);
    char *out;
    int in_word = 0;

    t->n = 0;
    t->buf = malloc(2 * len + 1);
    t->tok = malloc((len + 1) * sizeof *t->tok);
    if (t->buf == NULL || t->tok == NULL)
        return GT_ENOMEM;
    out = t->buf;
    for (const char *p = text; *p != '\0'; p++) {
        if (is_space(*p))
            continue;
        if (is_punct(*p)) {
            if (in_word)
                *out++ = '\0';
            t->tok[t->n++] = out;
            *out++ = *p;
            *out++ = '\0';
            in_word = 0;
            continue;
        }
        if (!in_word)
            t->tok[t->n++] = out;
        *out++ = *p;
        in_word = 1;
    }
    *out = '\0';
    return GT_OK;
}

static void tokens_release(struct tokens *t)
{
    free(t->tok);
    free(t->buf);
    t->tok = NULL;
    t->buf = NULL;
    t->n = 0;
}

/* MIRRORS: ConfigTokenizer::toSizeT (std::stoull), with a full-consumption
 * check instead of stoull's partial parse. */
static int to_u64(struct parser *ps, const char *key, size_t i, uint64_t *out)
{
    const char *s = ps->t.tok[i];
    int rc = gt_units_parse_u64(s, UINT64_MAX, out);

    if (rc == GT_ERANGE)
        return fail(ps, "Value '%.64s' for %s is out of range", s, key);
    if (rc != GT_OK)
        return fail(ps, "Expected an unsigned integer for %s but got '%.64s'", key, s);
    return GT_OK;
}

/* MIRRORS: ConfigTokenizer::toDouble (std::stod), finite values only. */
static int to_double(struct parser *ps, const char *key, size_t i, double *out)
{
    const char *s = ps->t.tok[i];
    int rc = gt_units_parse_double(s, out);

    if (rc == GT_ERANGE)
        return fail(ps, "Value '%.64s' for %s is out of range", s, key);
    if (rc != GT_OK)
        return fail(ps, "Expected a number for %s but got '%.64s'", key, s);
    return GT_OK;
}

/* MIRRORS: ConfigTokenizer::toBool: exactly "True" or "False". */
static int to_bool(struct parser *ps, size_t i, bool *out)
{
    if (tok_is(ps, i, "True") || tok_is(ps, i, "False")) {
        *out = tok_is(ps, i, "True");
        return GT_OK;
    }
    return fail(ps, "Expected 'True' or 'False' at index %zu in ConfigTokenizer but got '%.64s'", i,
                ps->t.tok[i]);
}

static int is_pow2(uint64_t v)
{
    return v != 0 && (v & (v - 1)) == 0;
}

/* Keys whose value must be one word, not a list. */
static int need_scalar(struct parser *ps, const struct key *k, size_t v, size_t end)
{
    if (v != end)
        return fail(ps, "Expected a single value for %s, not a list", k->name);
    return GT_OK;
}

static int parse_backend(struct parser *ps, const struct key *k, size_t v, size_t end)
{
    int rc = need_scalar(ps, k, v, end);

    if (rc != GT_OK)
        return rc;
    /* MIRRORS: CUDAAllocatorConfig::parseAllocatorConfig: native or
     * cudaMallocAsync (the runtime/load-time backend assert has no analogue) */
    if (tok_is(ps, v, "native"))
        ps->c->backend = GT_CONF_BACKEND_NATIVE;
    else if (tok_is(ps, v, "cudaMallocAsync"))
        ps->c->backend = GT_CONF_BACKEND_ASYNC;
    else
        return fail(ps, "Unknown allocator backend, options are native and cudaMallocAsync");
    return GT_OK;
}

/* A size option's bytes. MIRRORS: the size parsers of
 * AcceleratorAllocatorConfig: min(val, SIZE_MAX / kMB) * kMB. */
static uint64_t clamped_mb_bytes(uint64_t mb)
{
    return (mb < MAX_ALLOWED_MB ? mb : MAX_ALLOWED_MB) * GT_CONF_MIB;
}

static int parse_large_segment(struct parser *ps, const struct key *k, size_t v, size_t end)
{
    uint64_t mb;
    int rc = need_scalar(ps, k, v, end);

    if (rc == GT_OK)
        rc = to_u64(ps, k->name, v, &mb);
    if (rc != GT_OK)
        return rc;
    /* MIRRORS: AcceleratorAllocatorConfig::parseLargeSegmentSize: > kMinLargeAlloc/kMB (10) */
    if (mb <= MIN_LARGE_SEGMENT_MB)
        return fail(ps, "CachingAllocator option large_segment_size_mb must be > %d MB",
                    MIN_LARGE_SEGMENT_MB);
    /* MIRRORS: parseLargeSegmentSize */
    ps->c->large_segment_size = clamped_mb_bytes(mb);
    return GT_OK;
}

/* The common part of max_split_size_mb and max_non_split_rounding_mb. */
static int parse_min_mb(struct parser *ps, const struct key *k, size_t v, size_t end, uint64_t *mb)
{
    uint64_t min_mb = ps->c->large_segment_size / GT_CONF_MIB;
    int rc = need_scalar(ps, k, v, end);

    if (rc == GT_OK)
        rc = to_u64(ps, k->name, v, mb);
    if (rc != GT_OK)
        return rc;
    /* MIRRORS: AcceleratorAllocatorConfig::parseMaxSplitSize and
     * parseMaxNonSplitRoundingSize: val >= large_segment_size_ / kMB (20 by
     * default; <= 2.8: val > kLargeBuffer / kMB, "must be > 20") */
    if (*mb < min_mb)
        return fail(ps, "CachingAllocator option %s too small, must be >= %llu", k->name,
                    (unsigned long long)min_mb);
    return GT_OK;
}

static int parse_max_split(struct parser *ps, const struct key *k, size_t v, size_t end)
{
    uint64_t mb;
    int rc = parse_min_mb(ps, k, v, end, &mb);

    if (rc != GT_OK)
        return rc;
    /* MIRRORS: parseMaxSplitSize: min(val, SIZE_MAX / kMB) * kMB. PyTorch
     * stores (SIZE_MAX / kMB) * kMB for the clamped value; every request is
     * below 1 EB (allocate() rejects more), so that acts as unlimited. */
    ps->c->max_split_size = mb >= MAX_ALLOWED_MB ? GT_CONF_UNLIMITED : mb * GT_CONF_MIB;
    return GT_OK;
}

static int parse_max_non_split(struct parser *ps, const struct key *k, size_t v, size_t end)
{
    uint64_t mb;
    int rc = parse_min_mb(ps, k, v, end, &mb);

    if (rc != GT_OK)
        return rc;
    /* MIRRORS: parseMaxNonSplitRoundingSize */
    ps->c->max_non_split_rounding = clamped_mb_bytes(mb);
    return GT_OK;
}

static int parse_gc(struct parser *ps, const struct key *k, size_t v, size_t end)
{
    double t;
    int rc = need_scalar(ps, k, v, end);

    if (rc == GT_OK)
        rc = to_double(ps, k->name, v, &t);
    if (rc != GT_OK)
        return rc;
    /* MIRRORS: parseGarbageCollectionThreshold: 0 < t < 1 (<= 2.8: separate
     * "too small"/"too big" messages) */
    if (!(t > 0.0 && t < 1.0))
        return fail(ps, "garbage_collect_threshold is invalid, set it in (0.0, 1.0)");
    ps->c->gc_threshold = t;
    return GT_OK;
}

/* MIRRORS: parseRoundUpPower2Divisions: V == 0 or a power of 2 */
static int check_division(struct parser *ps, uint64_t d)
{
    if (d != 0 && !is_pow2(d))
        return fail(ps, "For roundups, the divisions has to be power of 2 or 0 to disable roundup");
    if (d > MAX_DIVISIONS)
        return fail(ps, "roundup_power2_divisions value %llu is above the %llu gpu-trace supports",
                    (unsigned long long)d, (unsigned long long)MAX_DIVISIONS);
    return GT_OK;
}

/* One "K:V" or ">:V" item of the list form at token i; *last is the index of
 * the last explicit K, *first whether no explicit K came yet. */
static int roundup_item(struct parser *ps, size_t i, size_t *last, bool *first)
{
    uint32_t *table = ps->c->roundup_divisions;
    const char *key = "roundup_power2_divisions";
    uint64_t d, k;
    size_t idx;
    int rc;

    if (is_punct(ps->t.tok[i][0]) || !tok_is(ps, i + 1, ":") || is_punct(ps->t.tok[i + 2][0]))
        return fail(ps,
                    "Expected '<interval>:<divisions>' in the roundup_power2_divisions list "
                    "at index %zu",
                    i);
    if ((rc = to_u64(ps, key, i + 2, &d)) != GT_OK || (rc = check_division(ps, d)) != GT_OK)
        return rc;
    if (tok_is(ps, i, ">")) {
        /* MIRRORS: parseRoundUpPower2Divisions: ">" fills every entry after
         * last_index (<= 2.8: from last_index inclusive) */
        for (idx = *last + 1; idx < GT_CONF_DIVISION_INTERVALS; idx++)
            table[idx] = (uint32_t)d;
        return GT_OK;
    }
    if ((rc = to_u64(ps, key, i, &k)) != GT_OK)
        return rc;
    /* MIRRORS: parseRoundUpPower2Divisions: the interval K (MB) is a power of 2 */
    if (!is_pow2(k))
        return fail(ps, "For roundups, the intervals have to be power of 2");
    /* MIRRORS: parseRoundUpPower2Divisions: index = clamp(log2 K, 0, 15) */
    idx = gt_units_log2_floor(k);
    if (idx > GT_CONF_DIVISION_INTERVALS - 1)
        idx = GT_CONF_DIVISION_INTERVALS - 1;
    /* MIRRORS: parseRoundUpPower2Divisions: the first K also fills entries 0..index-1 */
    for (size_t j = 0; *first && j < idx; j++)
        table[j] = (uint32_t)d;
    *first = false;
    table[idx] = (uint32_t)d;
    *last = idx;
    return GT_OK;
}

/* The list form: items between v ('[') and end (']'), separated by ','; a
 * trailing ',' before ']' is accepted as PyTorch accepts it. */
static int roundup_list(struct parser *ps, size_t v, size_t end)
{
    size_t last = 0;
    bool first = true;
    size_t i = v + 1;
    int rc;

    while (i < end) {
        if (i + 2 >= end)
            return fail(ps,
                        "Expected '<interval>:<divisions>' in the roundup_power2_divisions "
                        "list at index %zu",
                        i);
        if ((rc = roundup_item(ps, i, &last, &first)) != GT_OK)
            return rc;
        i += 3;
        if (i < end && !tok_is(ps, i, ","))
            return fail(ps, "Expected ',' or ']' at index %zu in roundup_power2_divisions", i);
        i += (i < end);
    }
    return GT_OK;
}

static int parse_roundup(struct parser *ps, const struct key *k, size_t v, size_t end)
{
    uint64_t d;
    int rc;

    if (v != end)
        return roundup_list(ps, v, end);
    if ((rc = to_u64(ps, k->name, v, &d)) != GT_OK)
        return rc;
    /* MIRRORS: parseRoundUpPower2Divisions (single value, "backwards
     * compatibility"): a power of 2 (0 rejected), used for all 16 intervals */
    if (!is_pow2(d))
        return fail(ps, "For roundups, the divisions has to be power of 2");
    if ((rc = check_division(ps, d)) != GT_OK)
        return rc;
    for (size_t j = 0; j < GT_CONF_DIVISION_INTERVALS; j++)
        ps->c->roundup_divisions[j] = (uint32_t)d;
    return GT_OK;
}

static int parse_expandable(struct parser *ps, const struct key *k, size_t v, size_t end)
{
    int rc = need_scalar(ps, k, v, end);

    /* MIRRORS: AcceleratorAllocatorConfig::parseExpandableSegments: toBool
     * (<= 2.8: "Expected a single True/False argument for expandable_segments") */
    return rc != GT_OK ? rc : to_bool(ps, v, &ps->c->expandable_segments);
}

static int parse_release_lock(struct parser *ps, const struct key *k, size_t v, size_t end)
{
    int rc = need_scalar(ps, k, v, end);

    /* MIRRORS: CUDAAllocatorConfig::parseArgs release_lock_on_cudamalloc
     * (alias release_lock_on_hipmalloc): toBool */
    return rc != GT_OK ? rc : to_bool(ps, v, &ps->c->release_lock_on_cudamalloc);
}

/* True/False options with no effect on device memory: validated, dropped. */
static int parse_bool_ignored(struct parser *ps, const struct key *k, size_t v, size_t end)
{
    bool b;
    int rc = need_scalar(ps, k, v, end);

    /* MIRRORS: CUDAAllocatorConfig parsePinnedUseCudaHostRegister,
     * parseGraphCaptureRecordStreamReuse, parsePinnedFreeCatchAll and
     * AcceleratorAllocatorConfig::parsePinnedUseBackgroundThreads: toBool */
    return rc != GT_OK ? rc : to_bool(ps, v, &b);
}

static int parse_throw_on_oom(struct parser *ps, const struct key *k, size_t v, size_t end)
{
    bool b = false;
    int rc = need_scalar(ps, k, v, end);

    if (rc == GT_OK)
        rc = to_bool(ps, v, &b);
    if (rc != GT_OK)
        return rc;
    /* MIRRORS: CUDAAllocatorConfig::parseThrowOnCudaMallocOom: toBool; the
     * early OOM it enables changes results, and is not simulated */
    if (b) {
        fail(ps, "throw_on_cudamalloc_oom:True is not simulated by gpu-trace");
        return GT_EUNSUPPORTED;
    }
    return GT_OK;
}

static int parse_fraction(struct parser *ps, const struct key *k, size_t v, size_t end)
{
    double f;
    int rc = need_scalar(ps, k, v, end);

    if (rc == GT_OK)
        rc = to_double(ps, k->name, v, &f);
    if (rc != GT_OK)
        return rc;
    /* MIRRORS: CUDAAllocatorConfig::parsePerProcessMemoryFraction: 0 <= f <= 1 */
    if (!(f >= 0.0 && f <= 1.0))
        return fail(ps, "per_process_memory_fraction is invalid, set it in [0.0, 1.0]");
    ps->c->memory_fraction = f;
    return GT_OK;
}

static int parse_register_threads(struct parser *ps, const struct key *k, size_t v, size_t end)
{
    uint64_t n;
    int rc = need_scalar(ps, k, v, end);

    if (rc == GT_OK)
        rc = to_u64(ps, k->name, v, &n);
    if (rc != GT_OK)
        return rc;
    /* MIRRORS: CUDAAllocatorConfig::parsePinnedNumRegisterThreads: a power of
     * 2, <= pinned_max_register_threads() (128) */
    if (!is_pow2(n))
        return fail(ps, "Number of register threads has to be power of 2, got %llu",
                    (unsigned long long)n);
    if (n > MAX_REGISTER_THREADS)
        return fail(ps, "Number of register threads should be less than or equal to %d, got %llu",
                    MAX_REGISTER_THREADS, (unsigned long long)n);
    return GT_OK;
}

static int parse_reserve_segment(struct parser *ps, const struct key *k, size_t v, size_t end)
{
    uint64_t mb;
    int rc = need_scalar(ps, k, v, end);

    if (rc == GT_OK)
        rc = to_u64(ps, k->name, v, &mb);
    if (rc != GT_OK)
        return rc;
    /* MIRRORS: CUDAAllocatorConfig::parsePinnedReserveSegmentSize: > 0 */
    if (mb == 0)
        return fail(ps, "Pinned reserve segment size has to be greater than 0");
    return GT_OK;
}

/* Host-allocator sizes without a bound (pinned_max_round_threshold_mb,
 * pinned_max_cached_size_mb): an integer, nothing more. */
static int parse_u64_ignored(struct parser *ps, const struct key *k, size_t v, size_t end)
{
    uint64_t mb;
    int rc = need_scalar(ps, k, v, end);

    /* MIRRORS: AcceleratorAllocatorConfig::parsePinnedMaxRoundThreshold and
     * parsePinnedMaxCachedSize: toSizeT, clamped */
    return rc != GT_OK ? rc : to_u64(ps, k->name, v, &mb);
}

/* expandable_segments_reserve(_by_class): only reserves virtual address
 * space. MIRRORS: CUDAAllocatorConfig::parseReserveSpec: a malformed value is
 * a warning, not an error, so any value is accepted here. */
static int parse_reserve_ignored(struct parser *ps, const struct key *k, size_t v, size_t end)
{
    (void)ps;
    (void)k;
    (void)v;
    (void)end;
    return GT_OK;
}

/* MIRRORS: AcceleratorAllocatorConfig::getMutableKeys and
 * CUDAAllocatorConfig::getKeys: every key PyTorch knows; any other is
 * rejected. large_segment_size_mb is pass 1 because parseArgs reads it before
 * all others ("max_split_size_mb must be >= it" in any key order). */
static const struct key keys[] = {
    {"large_segment_size_mb", parse_large_segment, 1},
    {"max_split_size_mb", parse_max_split, 2},
    {"max_non_split_rounding_mb", parse_max_non_split, 2},
    {"garbage_collection_threshold", parse_gc, 2},
    {"roundup_power2_divisions", parse_roundup, 2},
    {"expandable_segments", parse_expandable, 2},
    {"pinned_use_background_threads", parse_bool_ignored, 2},
    {"pinned_max_round_threshold_mb", parse_u64_ignored, 2},
    {"pinned_max_cached_size_mb", parse_u64_ignored, 2},
    {"backend", parse_backend, 2},
    {"release_lock_on_cudamalloc", parse_release_lock, 2},
    {"release_lock_on_hipmalloc", parse_release_lock, 2},
    {"pinned_use_cuda_host_register", parse_bool_ignored, 2},
    {"pinned_use_hip_host_register", parse_bool_ignored, 2},
    {"pinned_num_register_threads", parse_register_threads, 2},
    {"pinned_reserve_segment_size_mb", parse_reserve_segment, 2},
    {"graph_capture_record_stream_reuse", parse_bool_ignored, 2},
    {"per_process_memory_fraction", parse_fraction, 2},
    {"pinned_free_catch_all", parse_bool_ignored, 2},
    {"throw_on_cudamalloc_oom", parse_throw_on_oom, 2},
    {"expandable_segments_reserve", parse_reserve_ignored, 2},
    {"expandable_segments_reserve_by_class", parse_reserve_ignored, 2},
};

static const struct key *find_key(const char *name)
{
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    }
    return NULL;
}

/* The value of the key at token i: sets *end to its last token (the ']' of a
 * list, or the word itself). */
static int value_span(struct parser *ps, size_t i, size_t *end)
{
    const char *key = ps->t.tok[i];
    size_t v = i + 2;

    if (!tok_is(ps, i + 1, ":"))
        return fail(ps, "Expected ':' after '%.64s' at index %zu", key, i + 1);
    if (v >= ps->t.n || (is_punct(ps->t.tok[v][0]) && !tok_is(ps, v, "[")))
        return fail(ps, "Expected a value for '%.64s' at index %zu", key, v);
    *end = v;
    if (!tok_is(ps, v, "["))
        return GT_OK;
    /* MIRRORS: ConfigTokenizer::skipKey: a list runs to the first ']' */
    while (*end < ps->t.n && !tok_is(ps, *end, "]"))
        (*end)++;
    if (*end >= ps->t.n)
        return fail(ps, "Expected closing bracket ']' for the value of '%.64s'", key);
    return GT_OK;
}

/* MIRRORS: AcceleratorAllocatorConfig::parseArgs and
 * CUDAAllocatorConfig::parseArgs: key:value(,key:value)*, a trailing ','
 * accepted; runs the keys of one pass, checks the syntax of all. */
static int walk(struct parser *ps, int pass)
{
    size_t i = 0, end = 0;
    const struct key *k;
    int rc;

    while (i < ps->t.n) {
        if (is_punct(ps->t.tok[i][0]))
            return fail(ps, "Expected a key at index %zu but got '%s'", i, ps->t.tok[i]);
        if ((rc = value_span(ps, i, &end)) != GT_OK)
            return rc;
        k = find_key(ps->t.tok[i]);
        if (k == NULL)
            return fail(ps, "Unrecognized key '%.64s' in CUDA allocator config.", ps->t.tok[i]);
        if (k->pass == pass && (rc = k->parse(ps, k, i + 2, end)) != GT_OK)
            return rc;
        i = end + 1;
        if (i < ps->t.n && !tok_is(ps, i, ","))
            return fail(ps, "Expected ',' at index %zu but got '%.64s'", i, ps->t.tok[i]);
        i++;
    }
    return GT_OK;
}

static int parse_tokens(struct parser *ps)
{
    int rc = walk(ps, 1);

    if (rc != GT_OK)
        return rc;
    /* MIRRORS: AcceleratorAllocatorConfig::parseArgs:
     * max_non_split_rounding_size_ = large_segment_size_ before the other keys */
    ps->c->max_non_split_rounding = ps->c->large_segment_size;
    return walk(ps, 2);
}

/* Keeps the text for reports; a text too long for c->name ends in "...". */
static void set_name(struct gt_conf *c, const char *text)
{
    size_t cap = sizeof c->name;
    size_t len = strlen(text);

    if (len < cap) {
        memcpy(c->name, text, len + 1);
        return;
    }
    memcpy(c->name, text, cap - 4);
    memcpy(c->name + cap - 4, "...", 4);
}

void gt_conf_init_default(struct gt_conf *c)
{
    memset(c, 0, sizeof *c);
    /* MIRRORS: AcceleratorAllocatorConfig: max_split_size_ = SIZE_MAX (unlimited) */
    c->max_split_size = GT_CONF_UNLIMITED;
    /* MIRRORS: AcceleratorAllocatorConfig: large_segment_size_ = 20 MiB,
     * max_non_split_rounding_size_ = large_segment_size_ */
    c->large_segment_size = DEFAULT_LARGE_SEGMENT;
    c->max_non_split_rounding = DEFAULT_LARGE_SEGMENT;
    /* MIRRORS: CUDAAllocatorConfig: m_per_process_memory_fraction = 1.0 */
    c->memory_fraction = 1.0;
    c->backend = GT_CONF_BACKEND_NATIVE;
    set_name(c, "default");
}

int gt_conf_parse(const char *text, struct gt_conf *c, char *errbuf, size_t errlen)
{
    struct parser ps = {.c = c, .err = errbuf, .errlen = errlen};
    struct gt_conf parsed;
    int rc;

    gt_conf_init_default(c);
    if (errbuf != NULL && errlen > 0)
        errbuf[0] = '\0';
    if (text == NULL || text[0] == '\0' || strcmp(text, "default") == 0)
        return GT_OK;
    if (strcmp(text, "nocache") == 0) {
        /* PYTORCH_NO_CUDA_MEMORY_CACHING=1: cudaMalloc/cudaFree per tensor */
        c->no_caching = true;
        set_name(c, "nocache");
        return GT_OK;
    }
    gt_conf_init_default(&parsed);
    ps.c = &parsed;
    rc = tokenize(text, &ps.t);
    if (rc == GT_ENOMEM)
        fail(&ps, "out of memory");
    else
        rc = parse_tokens(&ps);
    tokens_release(&ps.t);
    if (rc != GT_OK)
        return rc;
    set_name(&parsed, text);
    *c = parsed;
    return GT_OK;
}

bool gt_conf_same_settings(const struct gt_conf *x, const struct gt_conf *y)
{
    return x->max_split_size == y->max_split_size &&
           x->max_non_split_rounding == y->max_non_split_rounding &&
           x->large_segment_size == y->large_segment_size &&
           memcmp(x->roundup_divisions, y->roundup_divisions, sizeof x->roundup_divisions) == 0 &&
           x->gc_threshold == y->gc_threshold && x->memory_fraction == y->memory_fraction &&
           x->expandable_segments == y->expandable_segments && x->no_caching == y->no_caching &&
           x->backend == y->backend;
}

int64_t gt_conf_max_split_reported(const struct gt_conf *c)
{
    return c->max_split_size == GT_CONF_UNLIMITED ? -1 : (int64_t)c->max_split_size;
}

uint32_t gt_conf_divisions_for(const struct gt_conf *c, uint64_t size)
{
    /* MIRRORS: AcceleratorAllocatorConfig::roundup_power2_divisions:
     * L = floor(log2 size); index = L > 20 ? L - 20 : 0, at most 15. Size 0
     * gives index 15, as PyTorch's bit_width(0) - 1 wraps. */
    unsigned l = gt_units_log2_floor(size);
    size_t idx = l > 20 ? l - 20 : 0;

    if (size == 0 || idx > GT_CONF_DIVISION_INTERVALS - 1)
        idx = GT_CONF_DIVISION_INTERVALS - 1;
    return c->roundup_divisions[idx];
}
