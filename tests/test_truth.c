/* The simulator against the real allocator: ground truth recorded on an
 * NVIDIA H100 with PyTorch 2.11 by tests/gpu/run.sh (a dynamic-shape training
 * loop, cold start, one process per PYTORCH_CUDA_ALLOC_CONF; the capped runs
 * use set_per_process_memory_fraction and end in a real OOM). Each run's
 * request stream is replayed under the run's own settings; every real segment
 * event must be reproduced in order and size, and every key of
 * torch.cuda.memory_stats() must come out equal. Real segment addresses are
 * borrowed (docs/notes/pytorch-allocator.md §20.1); a second test replays with synthetic addresses.
 */
#include <check.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>

#include "gputrace/conf.h"
#include "gputrace/err.h"
#include "gputrace/sim.h"
#include "gputrace/units.h"

#define TRUTH_DIR GT_TEST_DATA "/gpu-h100/truth/"
#define MAX_SEG 4096

struct seg_event {
    int kind; /* enum gt_sim_seg_event */
    uint64_t addr, size;
};

/* What one replay saw and what the real run recorded. */
struct replay_state {
    struct seg_event real[MAX_SEG], sim[MAX_SEG];
    int nreal, nsim;
    int next_borrow; /* next real segment_alloc to lend an address from */
    int borrow;
    uint64_t lent_base[16], lent_size[16]; /* expandable VA ranges lent so far */
    int nlent;
    /* live allocations: real address -> handle (open addressing) */
    uint64_t *keys;
    gt_sim_handle *vals;
    size_t cap;
};

static void on_segment(void *ctx, enum gt_sim_seg_event ev, uint64_t addr, uint64_t size,
                       uint64_t stream)
{
    struct replay_state *st = ctx;
    (void)stream;
    if (st->nsim < MAX_SEG)
        st->sim[st->nsim] = (struct seg_event){(int)ev, addr, size};
    st->nsim++;
}

static int inside_lent(const struct replay_state *st, uint64_t addr)
{
    for (int k = 0; k < st->nlent; k++)
        if (addr >= st->lent_base[k] && addr - st->lent_base[k] < st->lent_size[k])
            return 1;
    return 0;
}

/* An expandable segment's VA starts where its first real segment_map maps. */
static uint64_t lend_va(struct replay_state *st, uint64_t size)
{
    for (int i = 0; i < st->nreal && st->nlent < 16; i++) {
        if (st->real[i].kind != GT_SIM_SEGMENT_MAP || inside_lent(st, st->real[i].addr))
            continue;
        st->lent_base[st->nlent] = st->real[i].addr;
        st->lent_size[st->nlent++] = size;
        return st->real[i].addr;
    }
    return 0;
}

/* Lends the address of the next real segment_alloc of the same size, or the
 * base of the next real expandable segment. */
static uint64_t lend_address(void *ctx, uint64_t size)
{
    struct replay_state *st = ctx;
    if (!st->borrow)
        return 0;
    if (st->nreal > 0 && (st->real[0].kind == GT_SIM_SEGMENT_MAP))
        return lend_va(st, size);
    for (int i = st->next_borrow; i < st->nreal; i++) {
        if (st->real[i].kind != GT_SIM_SEGMENT_ALLOC)
            continue;
        if (st->real[i].size != size)
            return 0;
        st->next_borrow = i + 1;
        return st->real[i].addr;
    }
    return 0;
}

static gt_sim_handle *slot_for(struct replay_state *st, uint64_t addr)
{
    size_t i = (size_t)((addr * 0x9E3779B97F4A7C15ull) >> 40) & (st->cap - 1);
    while (st->keys[i] && st->keys[i] != addr)
        i = (i + 1) & (st->cap - 1);
    st->keys[i] = addr;
    return &st->vals[i];
}

static int kind_of(const char *action)
{
    if (strcmp(action, "segment_alloc") == 0)
        return GT_SIM_SEGMENT_ALLOC;
    if (strcmp(action, "segment_free") == 0)
        return GT_SIM_SEGMENT_FREE;
    if (strcmp(action, "segment_map") == 0)
        return GT_SIM_SEGMENT_MAP;
    if (strcmp(action, "segment_unmap") == 0)
        return GT_SIM_SEGMENT_UNMAP;
    return 0;
}

/* One CSV row: ts_ns,action,addr,size,stream,device (addr/size may be empty). */
static int parse_row(char *line, char *action, size_t alen, uint64_t *addr, uint64_t *size,
                     uint64_t *stream)
{
    char *f[6];
    int n = 0;
    for (char *p = line; n < 6; n++) {
        f[n] = p;
        p = strchr(p, ',');
        if (p == NULL) {
            n++;
            break;
        }
        *p++ = 0;
    }
    if (n != 6)
        return -1;
    snprintf(action, alen, "%s", f[1]);
    *addr = *size = *stream = 0;
    if ((f[2][0] && gt_units_parse_u64(f[2], UINT64_MAX, addr)) ||
        (f[3][0] && gt_units_parse_u64(f[3], UINT64_MAX, size)) ||
        gt_units_parse_u64(f[4], UINT64_MAX, stream))
        return -1;
    return 0;
}

static void load_real_segments(struct replay_state *st, const char *csv)
{
    FILE *f = fopen(csv, "r");
    ck_assert_msg(f != NULL, "cannot open %s", csv);
    char line[512], action[32];
    uint64_t addr, size, stream;
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    while (fgets(line, sizeof line, f)) {
        if (parse_row(line, action, sizeof action, &addr, &size, &stream))
            continue;
        int k = kind_of(action);
        if (k && st->nreal < MAX_SEG)
            st->real[st->nreal++] = (struct seg_event){k, addr, size};
    }
    fclose(f);
}

static void replay_requests(struct replay_state *st, struct gt_sim *s, const char *csv)
{
    FILE *f = fopen(csv, "r");
    char line[512], action[32];
    uint64_t addr, size, stream;
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    while (fgets(line, sizeof line, f)) {
        if (parse_row(line, action, sizeof action, &addr, &size, &stream))
            continue;
        gt_sim_handle h;
        if (strcmp(action, "alloc") == 0) {
            int rc = gt_sim_malloc(s, size, stream, &h);
            ck_assert_msg(rc == 0, "simulated OOM where the real run allocated %" PRIu64, size);
            *slot_for(st, addr) = h;
        } else if (strcmp(action, "free") == 0) {
            gt_sim_handle *slot = slot_for(st, addr);
            gt_sim_free(s, *slot);
            *slot = GT_SIM_NO_HANDLE;
        } else if (strcmp(action, "empty_cache") == 0) {
            gt_sim_empty_cache(s);
        } else if (strcmp(action, "oom") == 0) {
            /* The real run failed here: the simulator must fail too. */
            ck_assert_int_eq(gt_sim_malloc(s, size, stream, &h), GT_EOOM);
        }
    }
    fclose(f);
}

/* Reads the run's JSON (json.dump with indent=1: one key per line). */
static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = 0;
    fclose(f);
    return buf;
}

static const char *json_value(const char *json, const char *key)
{
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\": ", key);
    const char *p = strstr(json, pat);
    return p != NULL ? p + strlen(pat) : NULL;
}

/* A JSON integer (maybe negative) at p, up to the next non-digit. */
static int64_t json_int(const char *p)
{
    char digits[32];
    int neg = *p == '-';
    size_t n = 0;
    p += neg;
    while (p[n] >= '0' && p[n] <= '9' && n + 1 < sizeof digits) {
        digits[n] = p[n];
        n++;
    }
    digits[n] = 0;
    uint64_t v = 0;
    ck_assert_msg(gt_units_parse_u64(digits, INT64_MAX, &v) == 0, "not a number: %.20s", p);
    return neg ? -(int64_t)v : (int64_t)v;
}

static void build_conf(const char *json, char *out, size_t len)
{
    const char *c = json_value(json, "alloc_conf");
    const char *fr = json_value(json, "fraction");
    char conf[128] = "";
    ck_assert_ptr_nonnull(c);
    sscanf(c, "\"%127[^\"]\"", conf);
    if (fr != NULL && strncmp(fr, "null", 4) != 0) {
        char num[64] = "";
        sscanf(fr, "%63[0-9.e-]", num);
        snprintf(out, len, "%s%sper_process_memory_fraction:%s", conf, conf[0] ? "," : "", num);
    } else {
        snprintf(out, len, "%s", conf[0] ? conf : "default");
    }
}

struct stat_check {
    const char *json;
    int compared, mismatched;
    char first[160];
};

static void compare_stat(void *ctx, const char *name, int64_t value)
{
    struct stat_check *c = ctx;
    const char *v = json_value(c->json, name);
    if (v == NULL)
        return; /* a key this PyTorch does not report */
    long long real = json_int(v);
    c->compared++;
    if (real != value) {
        if (!c->mismatched)
            snprintf(c->first, sizeof c->first, "%s: real %lld, simulated %lld", name, real,
                     (long long)value);
        c->mismatched++;
    }
}

static struct gt_sim *replay_run(const char *name, int borrow, struct replay_state *st,
                                 char **json_out)
{
    char path[512], conf_text[256], err[256];
    snprintf(path, sizeof path, TRUTH_DIR "%s.json", name);
    char *json = read_file(path);
    build_conf(json, conf_text, sizeof conf_text);
    struct gt_conf conf;
    ck_assert_msg(gt_conf_parse(conf_text, &conf, err, sizeof err) == 0, "%s: %s", conf_text, err);
    const char *total = json_value(json, "total_memory");
    ck_assert_ptr_nonnull(total);

    memset(st, 0, sizeof *st);
    st->borrow = borrow;
    st->cap = 1 << 16;
    st->keys = calloc(st->cap, sizeof *st->keys);
    st->vals = calloc(st->cap, sizeof *st->vals);
    snprintf(path, sizeof path, TRUTH_DIR "%s.csv", name);
    load_real_segments(st, path);

    struct gt_sim_options o = {0};
    o.device_total = (uint64_t)json_int(total);
    o.on_segment = on_segment;
    o.segment_addr = lend_address;
    o.cb_ctx = st;
    struct gt_sim *s;
    ck_assert_int_eq(gt_sim_new(&conf, &o, &s), 0);
    replay_requests(st, s, path);
    free(st->keys);
    free(st->vals);
    *json_out = json;
    return s;
}

static const char *const k_runs[] = {"default",           "split64",        "expandable",
                                     "roundup4",          "default-capped", "split64-capped",
                                     "expandable-capped", "gc-capped"};

START_TEST(every_real_segment_event_and_memory_stat_is_reproduced)
{
    const char *name = k_runs[_i];
    static struct replay_state st;
    char *json;
    struct gt_sim *s = replay_run(name, 1, &st, &json);
    ck_assert_msg(st.nreal > 0, "%s: no segment events in the truth", name);
    ck_assert_msg(st.nsim == st.nreal, "%s: %d real segment events, %d simulated", name, st.nreal,
                  st.nsim);
    for (int i = 0; i < st.nreal; i++)
        ck_assert_msg(st.real[i].kind == st.sim[i].kind && st.real[i].size == st.sim[i].size &&
                          st.real[i].addr == st.sim[i].addr,
                      "%s: segment event %d: real %d/%" PRIu64 " at %" PRIx64
                      ", simulated %d/%" PRIu64 " at %" PRIx64,
                      name, i, st.real[i].kind, st.real[i].size, st.real[i].addr, st.sim[i].kind,
                      st.sim[i].size, st.sim[i].addr);
    struct stat_check c = {json, 0, 0, ""};
    gt_sim_stats_foreach(gt_sim_get_stats(s), compare_stat, &c);
    ck_assert_msg(c.compared >= 100, "%s: only %d stats compared", name, c.compared);
    ck_assert_msg(c.mismatched == 0, "%s: %d of %d memory_stats differ; first %s", name,
                  c.mismatched, c.compared, c.first);
    char msg[256];
    ck_assert_msg(gt_sim_check(s, msg, sizeof msg) == 0, "%s", msg);
    gt_sim_free_all(s);
    free(json);
}
END_TEST

START_TEST(synthetic_addresses_reproduce_the_peaks_except_one_tie)
{
    const char *name = k_runs[_i];
    static struct replay_state st;
    char *json;
    struct gt_sim *s = replay_run(name, 0, &st, &json);
    const char *v = json_value(json, "reserved_bytes.all.peak");
    long long real = json_int(v);
    int64_t sim = gt_sim_get_stats(s)->reserved_bytes[GT_SIM_ALL].peak;
    if (strcmp(name, "roundup4") == 0) {
        /* Pinned divergence: two equal-size free blocks were tied and the
         * synthetic addresses break the tie the other way (docs/notes/pytorch-allocator.md §20.1);
         * the peak then differs by 12 MiB (0.5%). Borrowed addresses fix it. */
        ck_assert_int_eq(sim, 2587885568);
        ck_assert_int_eq(real, 2600468480);
    } else {
        ck_assert_msg(sim == real, "%s: peak reserved real %lld, simulated %lld", name, real,
                      (long long)sim);
    }
    gt_sim_free_all(s);
    free(json);
}
END_TEST

static Suite *truth_suite(void)
{
    Suite *s = suite_create("truth");
    TCase *t = tcase_create("h100");
    int n = (int)(sizeof k_runs / sizeof k_runs[0]);
    tcase_add_loop_test(t, every_real_segment_event_and_memory_stat_is_reproduced, 0, n);
    tcase_add_loop_test(t, synthetic_addresses_reproduce_the_peaks_except_one_tie, 0, n);
    tcase_set_timeout(t, 120);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(truth_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
