/* The free set the simulator used before its size classes (analyzer/sim/sim_set.c
 * at 041960f): one sorted list of chunks of at most 32 keys. Kept as the
 * reference of the differential test in tests/test_sim_set.c: both must walk
 * the same keys in the same (size, address) order after any sequence of
 * operations. */
#ifndef GPUTRACE_SIM_SET_REF_H
#define GPUTRACE_SIM_SET_REF_H

#include <stdlib.h>
#include <string.h>

#include "gputrace/err.h"
#include "sim_int.h"

#define REF_CHUNK 32

struct ref_chunk {
    uint32_t n;
    struct gt_sim_key v[REF_CHUNK];
};

struct ref_set {
    struct ref_chunk **c;
    /* maxk[i] is the last key of chunk i: the chunk-level search reads this
     * contiguous array instead of chasing a pointer per probe */
    struct gt_sim_key *maxk;
    size_t nc, capc;
    size_t n; /* keys in all chunks */
};

/* A position: chunk c, index i. It is the end when c == nc. Erasing the key
 * at a position leaves the position on the next key once normalised. */
struct ref_pos {
    size_t c, i;
};

static inline struct ref_pos ref_set_begin(const struct ref_set *s)
{
    (void)s;
    struct ref_pos p = {0, 0};
    return p;
}

/* Moves p off the end of a chunk onto the next key (or the end). */
static inline void ref_set_norm(const struct ref_set *s, struct ref_pos *p)
{
    while (p->c < s->nc && p->i >= s->c[p->c]->n) {
        p->c++;
        p->i = 0;
    }
}

static inline int ref_set_at_end(const struct ref_set *s, struct ref_pos p)
{
    return p.c >= s->nc;
}

static inline const struct gt_sim_key *ref_set_key(const struct ref_set *s, struct ref_pos p)
{
    return &s->c[p.c]->v[p.i];
}

static inline void ref_set_next(const struct ref_set *s, struct ref_pos *p)
{
    p->i++;
    ref_set_norm(s, p);
}

/* Moves p one key back; returns 0 when p was the first key. */
static inline int ref_set_prev(const struct ref_set *s, struct ref_pos *p)
{
    if (p->i > 0) {
        p->i--;
        return 1;
    }
    if (p->c == 0)
        return 0;
    p->c--;
    p->i = s->c[p->c]->n - 1;
    return 1;
}

/* The last key's position, or the end for an empty set. */
static inline struct ref_pos ref_set_last(const struct ref_set *s)
{
    struct ref_pos p = {s->nc, 0};
    if (s->nc)
        p = (struct ref_pos){s->nc - 1, s->c[s->nc - 1]->n - 1};
    return p;
}

static inline int ref_key_less(const struct gt_sim_key *a, const struct gt_sim_key *b)
{
    return (a->size < b->size) | ((a->size == b->size) & (a->addr < b->addr));
}

static size_t ref_chunk_lower_bound(const struct ref_chunk *c, const struct gt_sim_key *k)
{
    size_t lo = 0, n = c->n;
    while (n > 0) {
        size_t half = n / 2;
        if (ref_key_less(&c->v[lo + half], k)) {
            lo += half + 1;
            n -= half + 1;
        } else {
            n = half;
        }
    }
    return lo;
}

static struct ref_pos ref_set_lower_bound(const struct ref_set *s, const struct gt_sim_key *k)
{
    /* the first chunk whose last key is not less than k */
    size_t lo = 0, n = s->nc;
    while (n > 0) {
        size_t half = n / 2;
        if (ref_key_less(&s->maxk[lo + half], k)) {
            lo += half + 1;
            n -= half + 1;
        } else {
            n = half;
        }
    }
    struct ref_pos p = {lo, 0};
    if (lo < s->nc)
        p.i = ref_chunk_lower_bound(s->c[lo], k);
    return p;
}

static struct ref_pos ref_set_find(const struct ref_set *s, const struct gt_sim_key *k)
{
    struct ref_pos p = ref_set_lower_bound(s, k);
    if (!ref_set_at_end(s, p)) {
        const struct gt_sim_key *e = ref_set_key(s, p);
        if (e->size == k->size && e->addr == k->addr)
            return p;
    }
    return (struct ref_pos){s->nc, 0};
}

static void ref_fix_max(struct ref_set *s, size_t ci)
{
    s->maxk[ci] = s->c[ci]->v[s->c[ci]->n - 1];
}

static int ref_chunks_insert(struct ref_set *s, size_t at, struct ref_chunk *c)
{
    if (s->nc == s->capc) {
        size_t cap = s->capc ? s->capc * 2 : 8;
        struct ref_chunk **v = realloc(s->c, cap * sizeof(*v));
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
static int ref_split_chunk(struct ref_set *s, size_t ci)
{
    struct ref_chunk *c = s->c[ci], *d = malloc(sizeof(*d));
    if (!d)
        return GT_ENOMEM;
    uint32_t keep = c->n / 2;
    d->n = c->n - keep;
    memcpy(d->v, &c->v[keep], d->n * sizeof(*d->v));
    c->n = keep;
    if (ref_chunks_insert(s, ci + 1, d)) {
        memcpy(&c->v[keep], d->v, d->n * sizeof(*d->v));
        c->n += d->n;
        free(d);
        return GT_ENOMEM;
    }
    ref_fix_max(s, ci);
    ref_fix_max(s, ci + 1);
    return 0;
}

static int ref_set_insert(struct ref_set *s, const struct gt_sim_key *k)
{
    if (s->nc == 0) {
        struct ref_chunk *c = malloc(sizeof(*c));
        if (!c || ref_chunks_insert(s, 0, c)) {
            free(c);
            return GT_ENOMEM;
        }
        c->n = 1;
        c->v[0] = *k;
        s->n = 1;
        ref_fix_max(s, 0);
        return 0;
    }
    struct ref_pos p = ref_set_lower_bound(s, k);
    if (p.c == s->nc) /* larger than every key: the end of the last chunk */
        p = (struct ref_pos){s->nc - 1, s->c[s->nc - 1]->n};
    if (s->c[p.c]->n == REF_CHUNK) {
        if (ref_split_chunk(s, p.c))
            return GT_ENOMEM;
        if (p.i > s->c[p.c]->n) {
            p.i -= s->c[p.c]->n;
            p.c++;
        }
    }
    struct ref_chunk *c = s->c[p.c];
    memmove(&c->v[p.i + 1], &c->v[p.i], (c->n - p.i) * sizeof(*c->v));
    c->v[p.i] = *k;
    c->n++;
    s->n++;
    if (p.i == c->n - 1)
        ref_fix_max(s, p.c);
    return 0;
}

static void ref_set_erase_at(struct ref_set *s, struct ref_pos p)
{
    struct ref_chunk *c = s->c[p.c];
    memmove(&c->v[p.i], &c->v[p.i + 1], (c->n - p.i - 1) * sizeof(*c->v));
    c->n--;
    s->n--;
    if (c->n == 0) {
        free(c);
        memmove(&s->c[p.c], &s->c[p.c + 1], (s->nc - p.c - 1) * sizeof(*s->c));
        memmove(&s->maxk[p.c], &s->maxk[p.c + 1], (s->nc - p.c - 1) * sizeof(*s->maxk));
        s->nc--;
    } else if (p.i == c->n) {
        ref_fix_max(s, p.c);
    }
}

static int ref_set_erase(struct ref_set *s, const struct gt_sim_key *k)
{
    struct ref_pos p = ref_set_find(s, k);
    if (ref_set_at_end(s, p))
        return GT_ENOENT;
    ref_set_erase_at(s, p);
    return 0;
}

static int ref_set_replace_at(struct ref_set *s, struct ref_pos p, const struct gt_sim_key *k)
{
    struct ref_chunk *c = s->c[p.c];
    /* In place when the order allows it: the common case of a block that
     * shrinks or grows a little. */
    int after_prev = p.i == 0
                         ? (p.c == 0 || ref_key_less(&s->c[p.c - 1]->v[s->c[p.c - 1]->n - 1], k))
                         : ref_key_less(&c->v[p.i - 1], k);
    int before_next = p.i + 1 < c->n ? ref_key_less(k, &c->v[p.i + 1])
                                     : (p.c + 1 == s->nc || ref_key_less(k, &s->c[p.c + 1]->v[0]));
    if (after_prev && before_next) {
        c->v[p.i] = *k;
        if (p.i + 1 == c->n)
            ref_fix_max(s, p.c);
        return 0;
    }
    ref_set_erase_at(s, p);
    return ref_set_insert(s, k);
}

static void ref_set_release(struct ref_set *s)
{
    for (size_t i = 0; i < s->nc; i++)
        free(s->c[i]);
    free(s->c);
    free(s->maxk);
    s->c = NULL;
    s->maxk = NULL;
    s->nc = s->capc = s->n = 0;
}

#endif
