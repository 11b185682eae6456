/* Ordered sets of free blocks for the simulator: size classes with a bitmap
 * of the non-empty ones (sim_int.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gputrace/err.h"
#include "sim_int.h"
#include "gputrace/banned.h"

/* Keys moved by an insert or erase beyond which memmove beats rotating them
 * one by one: on the 1 M-event trace, 12 configs, callgrind counted 5.665 G
 * instructions with 8, 5.648 G with 4, 5.647 G with 2 and 5.657 G with
 * memmove always. */
#define GT_SIM_SHIFT_MEMMOVE 4

static struct gt_sim_bucket *bucket(struct gt_sim_set *s, size_t c)
{
    return &s->b[c - s->lo];
}

size_t gt_sim_bucket_search(const struct gt_sim_bucket *b, const struct gt_sim_key *k)
{
    size_t lo = 0, n = b->n;
    while (n > 0) {
        size_t half = n / 2;
        if (gt_sim_key_less(&b->v[lo + half], k)) {
            lo += half + 1;
            n -= half + 1;
        } else {
            n = half;
        }
    }
    return lo;
}

/* Widens the range of bucket headers to include class c, which lies outside
 * it, with some slack on the side it grows so that a set spreading over its
 * sizes reallocates a few times only. Out of line: it runs a few hundred
 * times a run. */
static __attribute__((noinline)) int cover(struct gt_sim_set *s, size_t c)
{
    size_t lo = s->nb ? s->lo : c, hi = s->nb ? (size_t)s->lo + s->nb : c + 1;
    size_t slack = s->nb / 2 + 4;
    if (c < lo)
        lo = c > slack ? c - slack : 0;
    if (c >= hi)
        hi = c + 1 + slack < GT_SIM_NCLASS ? c + 1 + slack : GT_SIM_NCLASS;
    struct gt_sim_bucket *v = malloc((hi - lo) * sizeof *v);
    if (v == NULL)
        return GT_ENOMEM;
    memset(v, 0, (hi - lo) * sizeof *v);
    if (s->nb)
        memcpy(&v[s->lo - lo], s->b, s->nb * sizeof *v);
    free(s->b);
    s->b = v;
    s->lo = (uint32_t)lo;
    s->nb = (uint32_t)(hi - lo);
    return 0;
}

int gt_sim_set_insert_slow(struct gt_sim_set *s, size_t c, const struct gt_sim_key *k)
{
    if (c - s->lo >= s->nb && cover(s, c)) /* a class below lo wraps past nb */
        return GT_ENOMEM;
    struct gt_sim_bucket *b = bucket(s, c);
    if (b->n == b->cap) {
        uint32_t cap = b->cap ? b->cap * 2 : 4;
        struct gt_sim_key *v = realloc(b->v, cap * sizeof *v);
        if (v == NULL)
            return GT_ENOMEM;
        b->v = v;
        b->cap = cap;
    }
    if (b->n == 0)
        gt_sim_set_mark(s, c);
    s->n++;
    size_t i = gt_sim_bucket_lower_bound(b, k);
    /* A class holds a few keys, fewer than a call to memmove costs; the keys
     * rotate through `carry` so that the compiler does not turn the loop
     * back into that call. Long runs of one size (hundreds of keys in a
     * class) move with memmove. */
    if (b->n - i > GT_SIM_SHIFT_MEMMOVE) {
        memmove(&b->v[i + 1], &b->v[i], (b->n - i) * sizeof *b->v);
        b->v[i] = *k;
        b->n++;
        return 0;
    }
    struct gt_sim_key carry = *k;
    for (size_t j = i; j < b->n; j++) {
        struct gt_sim_key t = b->v[j];
        b->v[j] = carry;
        carry = t;
    }
    b->v[b->n++] = carry;
    return 0;
}

void gt_sim_set_erase_at(struct gt_sim_set *s, struct gt_sim_pos p)
{
    struct gt_sim_bucket *b = bucket(s, p.c);
    s->n--;
    /* the common case, as in insert_in: the class's only key */
    if (--b->n == 0) {
        gt_sim_set_unmark(s, p.c);
        return;
    }
    if (b->n - p.i > GT_SIM_SHIFT_MEMMOVE) {
        memmove(&b->v[p.i], &b->v[p.i + 1], (b->n - p.i) * sizeof *b->v);
        return;
    }
    /* from the top down, rotating as gt_sim_set_insert_slow does */
    struct gt_sim_key carry = b->v[b->n];
    for (size_t j = b->n; j-- > p.i;) {
        struct gt_sim_key t = b->v[j];
        b->v[j] = carry;
        carry = t;
    }
}

int gt_sim_set_erase(struct gt_sim_set *s, const struct gt_sim_key *k)
{
    struct gt_sim_pos p = gt_sim_set_find(s, k);
    if (gt_sim_set_at_end(s, p))
        return GT_ENOENT;
    gt_sim_set_erase_at(s, p);
    return 0;
}

void gt_sim_set_release(struct gt_sim_set *s)
{
    for (size_t i = 0; i < s->nb; i++)
        free(s->b[i].v);
    free(s->b);
    memset(s, 0, sizeof *s);
}

int gt_sim_set_copy(struct gt_sim_set *dst, const struct gt_sim_set *src)
{
    *dst = *src;
    dst->b = NULL;
    if (src->nb == 0)
        return 0;
    if ((dst->b = calloc(src->nb, sizeof *dst->b)) == NULL)
        goto fail;
    for (size_t i = 0; i < src->nb; i++) {
        const struct gt_sim_bucket *from = &src->b[i];
        dst->b[i] = *from;
        dst->b[i].v = NULL;
        if (from->cap == 0)
            continue;
        if ((dst->b[i].v = malloc(from->cap * sizeof *from->v)) == NULL)
            goto fail;
        memcpy(dst->b[i].v, from->v, from->n * sizeof *from->v);
    }
    return 0;
fail:
    dst->nb = dst->b != NULL ? dst->nb : 0;
    gt_sim_set_release(dst);
    return GT_ENOMEM;
}

#define SET_CHECK(cond, ...)                                                                       \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            snprintf(msg, len, __VA_ARGS__);                                                       \
            return -1;                                                                             \
        }                                                                                          \
    } while (0)

/* Runs after every operation under GT_DEBUG=2 and in the tests, so it visits
 * the marked classes only (a key in an unmarked class would be missing from
 * the count of keys) and of their keys only the ends. */
int gt_sim_set_check(const struct gt_sim_set *s, char *msg, size_t len)
{
    size_t counted = 0;
    for (size_t w = 0; w < GT_SIM_NWORDS; w++) {
        SET_CHECK(((s->summary >> w) & 1) == (s->words[w] != 0), "summary bit %zu is stale", w);
        for (uint64_t bits = s->words[w]; bits; bits &= bits - 1) {
            size_t c = w * 64 + (size_t)__builtin_ctzll(bits);
            SET_CHECK(s->nb && c >= s->lo && c < (size_t)s->lo + s->nb,
                      "class %zu is marked but has no header", c);
            const struct gt_sim_bucket *b = &s->b[c - s->lo];
            SET_CHECK(b->n > 0, "class %zu is marked but empty", c);
            /* the callers walk every key and check the order (check_set in
             * sim.c, the differential test), and classes grow with size:
             * the first and the last key in c put every key of a sorted
             * class in c */
            SET_CHECK(gt_sim_class(b->v[0].size) == c && gt_sim_class(b->v[b->n - 1].size) == c,
                      "a key of class %zu has a size of another class", c);
            counted += b->n;
        }
    }
    SET_CHECK(counted == s->n, "the marked classes hold %zu keys, the set counts %zu", counted,
              s->n);
    return 0;
}
