/* Ordered sets of free blocks for the simulator: sorted chunks (sim_int.h). */
#include <stdlib.h>
#include <string.h>

#include "gputrace/err.h"
#include "sim_int.h"
#include "gputrace/banned.h"

/* Branch-free lexicographic (size, addr) comparison: the searches below are
 * the simulator's hottest loops and their branches are unpredictable. */
static inline int key_less(const struct gt_sim_key *a, const struct gt_sim_key *b)
{
    return (a->size < b->size) | ((a->size == b->size) & (a->addr < b->addr));
}

static size_t chunk_lower_bound(const struct gt_sim_chunk *c, const struct gt_sim_key *k)
{
    size_t lo = 0, n = c->n;
    while (n > 0) {
        size_t half = n / 2;
        if (key_less(&c->v[lo + half], k)) {
            lo += half + 1;
            n -= half + 1;
        } else {
            n = half;
        }
    }
    return lo;
}

struct gt_sim_pos gt_sim_set_lower_bound(const struct gt_sim_set *s, const struct gt_sim_key *k)
{
    /* the first chunk whose last key is not less than k */
    size_t lo = 0, n = s->nc;
    while (n > 0) {
        size_t half = n / 2;
        if (key_less(&s->maxk[lo + half], k)) {
            lo += half + 1;
            n -= half + 1;
        } else {
            n = half;
        }
    }
    struct gt_sim_pos p = {lo, 0};
    if (lo < s->nc)
        p.i = chunk_lower_bound(s->c[lo], k);
    return p;
}

struct gt_sim_pos gt_sim_set_find(const struct gt_sim_set *s, const struct gt_sim_key *k)
{
    struct gt_sim_pos p = gt_sim_set_lower_bound(s, k);
    if (!gt_sim_set_at_end(s, p)) {
        const struct gt_sim_key *e = gt_sim_set_key(s, p);
        if (e->size == k->size && e->addr == k->addr)
            return p;
    }
    return (struct gt_sim_pos){s->nc, 0};
}

static void fix_max(struct gt_sim_set *s, size_t ci)
{
    s->maxk[ci] = s->c[ci]->v[s->c[ci]->n - 1];
}

static int chunks_insert(struct gt_sim_set *s, size_t at, struct gt_sim_chunk *c)
{
    if (s->nc == s->capc) {
        size_t cap = s->capc ? s->capc * 2 : 8;
        struct gt_sim_chunk **v = realloc(s->c, cap * sizeof(*v));
        if (!v)
            return GT_ENOMEM;
        s->c = v;
        struct gt_sim_key *m = realloc(s->maxk, cap * sizeof(*m));
        if (!m)
            return GT_ENOMEM; /* s->c grew; capc stays, so the next call retries */
        s->maxk = m;
        s->capc = cap;
    }
    memmove(&s->c[at + 1], &s->c[at], (s->nc - at) * sizeof(*s->c));
    memmove(&s->maxk[at + 1], &s->maxk[at], (s->nc - at) * sizeof(*s->maxk));
    s->c[at] = c;
    s->nc++;
    return 0;
}

/* Splits full chunk ci in two halves. */
static int split_chunk(struct gt_sim_set *s, size_t ci)
{
    struct gt_sim_chunk *c = s->c[ci], *d = malloc(sizeof(*d));
    if (!d)
        return GT_ENOMEM;
    uint32_t keep = c->n / 2;
    d->n = c->n - keep;
    memcpy(d->v, &c->v[keep], d->n * sizeof(*d->v));
    c->n = keep;
    if (chunks_insert(s, ci + 1, d)) {
        memcpy(&c->v[keep], d->v, d->n * sizeof(*d->v));
        c->n += d->n;
        free(d);
        return GT_ENOMEM;
    }
    fix_max(s, ci);
    fix_max(s, ci + 1);
    return 0;
}

int gt_sim_set_insert(struct gt_sim_set *s, const struct gt_sim_key *k)
{
    if (s->nc == 0) {
        struct gt_sim_chunk *c = malloc(sizeof(*c));
        if (!c || chunks_insert(s, 0, c)) {
            free(c);
            return GT_ENOMEM;
        }
        c->n = 1;
        c->v[0] = *k;
        s->n = 1;
        fix_max(s, 0);
        return 0;
    }
    struct gt_sim_pos p = gt_sim_set_lower_bound(s, k);
    if (p.c == s->nc) /* larger than every key: the end of the last chunk */
        p = (struct gt_sim_pos){s->nc - 1, s->c[s->nc - 1]->n};
    if (s->c[p.c]->n == GT_SIM_CHUNK) {
        if (split_chunk(s, p.c))
            return GT_ENOMEM;
        if (p.i > s->c[p.c]->n) {
            p.i -= s->c[p.c]->n;
            p.c++;
        }
    }
    struct gt_sim_chunk *c = s->c[p.c];
    memmove(&c->v[p.i + 1], &c->v[p.i], (c->n - p.i) * sizeof(*c->v));
    c->v[p.i] = *k;
    c->n++;
    s->n++;
    if (p.i == c->n - 1)
        fix_max(s, p.c);
    return 0;
}

void gt_sim_set_erase_at(struct gt_sim_set *s, struct gt_sim_pos p)
{
    struct gt_sim_chunk *c = s->c[p.c];
    memmove(&c->v[p.i], &c->v[p.i + 1], (c->n - p.i - 1) * sizeof(*c->v));
    c->n--;
    s->n--;
    if (c->n == 0) {
        free(c);
        memmove(&s->c[p.c], &s->c[p.c + 1], (s->nc - p.c - 1) * sizeof(*s->c));
        memmove(&s->maxk[p.c], &s->maxk[p.c + 1], (s->nc - p.c - 1) * sizeof(*s->maxk));
        s->nc--;
    } else if (p.i == c->n) {
        fix_max(s, p.c);
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

int gt_sim_set_replace_at(struct gt_sim_set *s, struct gt_sim_pos p, const struct gt_sim_key *k)
{
    struct gt_sim_chunk *c = s->c[p.c];
    /* In place when the order allows it: the common case of a block that
     * shrinks or grows a little. */
    int after_prev = p.i == 0 ? (p.c == 0 || key_less(&s->c[p.c - 1]->v[s->c[p.c - 1]->n - 1], k))
                              : key_less(&c->v[p.i - 1], k);
    int before_next = p.i + 1 < c->n ? key_less(k, &c->v[p.i + 1])
                                     : (p.c + 1 == s->nc || key_less(k, &s->c[p.c + 1]->v[0]));
    if (after_prev && before_next) {
        c->v[p.i] = *k;
        if (p.i + 1 == c->n)
            fix_max(s, p.c);
        return 0;
    }
    gt_sim_set_erase_at(s, p);
    return gt_sim_set_insert(s, k);
}

void gt_sim_set_release(struct gt_sim_set *s)
{
    for (size_t i = 0; i < s->nc; i++)
        free(s->c[i]);
    free(s->c);
    free(s->maxk);
    s->c = NULL;
    s->maxk = NULL;
    s->nc = s->capc = s->n = 0;
}
