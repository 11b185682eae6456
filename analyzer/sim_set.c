/* Ordered sets of free blocks for the simulator: sorted arrays of keys. */
#include <stdlib.h>
#include <string.h>

#include "gputrace/err.h"
#include "sim_int.h"
#include "gputrace/banned.h"

/* Branch-free lexicographic (size, addr) comparison: the search below is
 * the simulator's hottest loop and its branches are unpredictable. */
static inline int key_less(const struct gt_sim_key *a, const struct gt_sim_key *b)
{
    return (a->size < b->size) | ((a->size == b->size) & (a->addr < b->addr));
}

size_t gt_sim_set_lower_bound(const struct gt_sim_set *s, const struct gt_sim_key *k)
{
    const struct gt_sim_key *base = s->v;
    size_t n = s->n;
    if (n == 0)
        return 0;
    while (n > 1) {
        size_t half = n / 2;
        base = key_less(&base[half - 1], k) ? base + half : base;
        n -= half;
    }
    return (size_t)(base - s->v) + (size_t)key_less(base, k);
}

size_t gt_sim_set_find(const struct gt_sim_set *s, const struct gt_sim_key *k)
{
    size_t i = gt_sim_set_lower_bound(s, k);
    if (i < s->n && s->v[i].size == k->size && s->v[i].addr == k->addr)
        return i;
    return s->n;
}

void gt_sim_set_erase_at(struct gt_sim_set *s, size_t i)
{
    memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(*s->v));
    s->n--;
}

void gt_sim_set_replace_at(struct gt_sim_set *s, size_t i, const struct gt_sim_key *k)
{
    size_t j = gt_sim_set_lower_bound(s, k);
    if (j > i)
        j--; /* the slot of i goes away */
    if (j < i)
        memmove(&s->v[j + 1], &s->v[j], (i - j) * sizeof(*s->v));
    else if (j > i)
        memmove(&s->v[i], &s->v[i + 1], (j - i) * sizeof(*s->v));
    s->v[j] = *k;
}

int gt_sim_set_insert(struct gt_sim_set *s, const struct gt_sim_key *k)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        struct gt_sim_key *v = realloc(s->v, cap * sizeof(*v));
        if (!v)
            return GT_ENOMEM;
        s->v = v;
        s->cap = cap;
    }
    size_t i = gt_sim_set_lower_bound(s, k);
    memmove(&s->v[i + 1], &s->v[i], (s->n - i) * sizeof(*s->v));
    s->v[i] = *k;
    s->n++;
    return 0;
}

int gt_sim_set_erase(struct gt_sim_set *s, const struct gt_sim_key *k)
{
    size_t i = gt_sim_set_find(s, k);
    if (i == s->n)
        return GT_ENOENT;
    gt_sim_set_erase_at(s, i);
    return 0;
}

void gt_sim_set_release(struct gt_sim_set *s)
{
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}
