/* Check suite for the simulator's free sets (analyzer/sim/sim_set.c): a
 * differential test against the sorted-chunk set they replaced
 * (tests/sim_set_ref.h). Seeded random sequences of every operation the
 * simulator uses must leave both sets with the same keys in the same order and
 * give the same answers, positions compared by the key they stand on. */
#include <check.h>
#include <stdint.h>
#include <stdlib.h>

#include "sim_int.h"
#include "sim_set_ref.h"

/* xorshift64*: the same sequence on every machine. */
static uint64_t next_rand(uint64_t *st)
{
    *st ^= *st >> 12;
    *st ^= *st << 25;
    *st ^= *st >> 27;
    return *st * 0x2545F4914F6CDD1Dull;
}

/* Sizes as the simulator stores them (multiples of 512, or 0 in the unmapped
 * sets), drawn from few values so that ties on size are common, from a
 * narrow range (the small pool) or a wide one (classes of many sizes). */
static uint64_t rand_size(uint64_t *st, int shape)
{
    uint64_t r = next_rand(st);
    switch (shape) {
    case 0:
        return 0;
    case 1:
        return 512 * (1 + r % 8);
    case 2:
        return 512 * (1 + r % 2048);
    default:
        return (uint64_t)512 << (r % 40) | 512 * (r >> 40 & 0xff);
    }
}

static struct gt_sim_key rand_key(uint64_t *st, int shape)
{
    struct gt_sim_key k = {rand_size(st, shape), 0x7f0000000000ull + 512 * (next_rand(st) % 4096),
                           (uint32_t)(next_rand(st) % 100000)};
    return k;
}

static int same_key(const struct gt_sim_key *a, const struct gt_sim_key *b)
{
    return a->size == b->size && a->addr == b->addr && a->blk == b->blk;
}

/* Both positions at the end, or both on equal keys. */
static void same_pos(const struct gt_sim_set *s, struct gt_sim_pos p, const struct ref_set *r,
                     struct ref_pos q, const char *what, long step)
{
    int e1 = gt_sim_set_at_end(s, p), e2 = ref_set_at_end(r, q);
    ck_assert_msg(e1 == e2, "%s at step %ld: end %d vs %d", what, step, e1, e2);
    if (!e1)
        ck_assert_msg(same_key(gt_sim_set_key(s, p), ref_set_key(r, q)),
                      "%s at step %ld: different keys", what, step);
}

/* Walks both sets forward and backward: same keys, same order. */
static void same_contents(const struct gt_sim_set *s, const struct ref_set *r, long step)
{
    char msg[160];
    ck_assert_msg(gt_sim_set_check(s, msg, sizeof msg) == 0, "step %ld: %s", step, msg);
    ck_assert_uint_eq(s->n, r->n);
    struct gt_sim_pos p = gt_sim_set_begin(s);
    struct ref_pos q = ref_set_begin(r);
    for (;;) {
        same_pos(s, p, r, q, "walk", step);
        if (gt_sim_set_at_end(s, p))
            break;
        gt_sim_set_next(s, &p);
        ref_set_next(r, &q);
    }
    p = gt_sim_set_last(s);
    q = ref_set_last(r);
    same_pos(s, p, r, q, "last", step);
    if (gt_sim_set_at_end(s, p))
        return;
    for (;;) {
        int m1 = gt_sim_set_prev(s, &p), m2 = ref_set_prev(r, &q);
        ck_assert_int_eq(m1, m2);
        if (!m1)
            break;
        same_pos(s, p, r, q, "prev", step);
    }
}

/* A key already in the set (the nth), for erases and replaces. */
static int pick(const struct gt_sim_set *s, uint64_t *st, struct gt_sim_key *out)
{
    if (s->n == 0)
        return 0;
    size_t n = (size_t)(next_rand(st) % s->n);
    struct gt_sim_pos p = gt_sim_set_begin(s);
    while (n--)
        gt_sim_set_next(s, &p);
    *out = *gt_sim_set_key(s, p);
    return 1;
}

/* One random operation on both sets. */
static void step_both(struct gt_sim_set *s, struct ref_set *r, uint64_t *st, int shape, long step)
{
    struct gt_sim_key k = rand_key(st, shape), old;
    switch (next_rand(st) % 6) {
    case 0:
    case 1:
        if (ref_set_find(r, &k).c == r->nc) { /* keys are unique in the simulator */
            ck_assert_int_eq(gt_sim_set_insert(s, &k), 0);
            ck_assert_int_eq(ref_set_insert(r, &k), 0);
        }
        break;
    case 2:
        if (pick(s, st, &old)) {
            ck_assert_int_eq(gt_sim_set_erase(s, &old), 0);
            ck_assert_int_eq(ref_set_erase(r, &old), 0);
        }
        ck_assert_int_eq(gt_sim_set_erase(s, &k) == 0, ref_set_erase(r, &k) == 0);
        break;
    case 3: /* a block that shrinks or grows: replace in place or move */
        if (pick(s, st, &old)) {
            k.addr = old.addr + (next_rand(st) % 2 ? 512 : 0);
            if (next_rand(st) % 2)
                k.size = old.size + 512 * (next_rand(st) % 4);
            else if (old.size > 512)
                k.size = old.size - 512;
            if (ref_set_find(r, &k).c == r->nc || same_key(&k, &old)) {
                struct gt_sim_pos p = gt_sim_set_find(s, &old);
                struct ref_pos q = ref_set_find(r, &old);
                ck_assert_int_eq(gt_sim_set_replace_at(s, p, &k), 0);
                ck_assert_int_eq(ref_set_replace_at(r, q, &k), 0);
            }
        }
        break;
    case 4: { /* best fit, then take it (erase_at), as get_free_block does */
        struct gt_sim_key want = {k.size, 0, 0};
        struct gt_sim_pos p = gt_sim_set_lower_bound(s, &want);
        struct ref_pos q = ref_set_lower_bound(r, &want);
        same_pos(s, p, r, q, "lower_bound", step);
        if (!gt_sim_set_at_end(s, p) && next_rand(st) % 2) {
            gt_sim_set_erase_at(s, p);
            ref_set_erase_at(r, q);
            gt_sim_set_norm(s, &p);
            ref_set_norm(r, &q);
            same_pos(s, p, r, q, "after erase_at", step);
        }
        break;
    }
    default:
        same_pos(s, gt_sim_set_find(s, &k), r, ref_set_find(r, &k), "find", step);
        same_pos(s, gt_sim_set_lower_bound(s, &k), r, ref_set_lower_bound(r, &k), "lower_bound",
                 step);
        break;
    }
}

static void run_sequence(uint64_t seed, int shape, long steps)
{
    struct gt_sim_set s = {0};
    struct ref_set r = {0};
    uint64_t st = seed;
    for (long i = 0; i < steps; i++) {
        step_both(&s, &r, &st, shape, i);
        if (i % 97 == 0 || i == steps - 1)
            same_contents(&s, &r, i);
    }
    /* empty it as release_blocks does: erase at a position, then normalise */
    struct gt_sim_pos p = gt_sim_set_begin(&s);
    while (!gt_sim_set_at_end(&s, p)) {
        ck_assert_int_eq(ref_set_erase(&r, gt_sim_set_key(&s, p)), 0);
        gt_sim_set_erase_at(&s, p);
        gt_sim_set_norm(&s, &p);
    }
    ck_assert_uint_eq(s.n, 0);
    ck_assert_uint_eq(r.n, 0);
    gt_sim_set_release(&s);
    ref_set_release(&r);
}

START_TEST(random_sequences_match_the_sorted_chunk_set)
{
    for (int shape = 0; shape < 4; shape++)
        for (uint64_t seed = 1; seed <= 8; seed++)
            run_sequence(seed * 0x9E3779B97F4A7C15ull + (uint64_t)shape, shape, 6000);
}
END_TEST

START_TEST(classes_grow_with_size_and_are_exact_below_16_kib)
{
    for (uint64_t v = 0; v < 32; v++)
        ck_assert_uint_eq(gt_sim_class(v * 512), v);
    size_t prev = 0;
    for (uint64_t size = 512; size < ((uint64_t)1 << 62); size += size / 7 + 512) {
        size_t c = gt_sim_class(size);
        ck_assert_uint_ge(c, prev);
        ck_assert_uint_lt(c, GT_SIM_NCLASS);
        prev = c;
    }
    ck_assert_uint_lt(gt_sim_class(UINT64_MAX), GT_SIM_NCLASS);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sim_set");
    TCase *t = tcase_create("differential");
    tcase_add_test(t, random_sequences_match_the_sorted_chunk_set);
    tcase_add_test(t, classes_grow_with_size_and_are_exact_below_16_kib);
    suite_add_tcase(s, t);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int failed = srunner_ntests_failed(r);
    srunner_free(r);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
