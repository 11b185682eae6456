/* Private structures of the allocator simulator (analyzer/sim/sim.c), shared with
 * its ordered-set helper (analyzer/sim/sim_set.c). */
#ifndef GPUTRACE_SIM_INT_H
#define GPUTRACE_SIM_INT_H

#include <stddef.h>
#include <stdint.h>

#define GT_SIM_NIL UINT32_MAX

/* One key of an ordered free set. BlockComparatorSize orders blocks by
 * (stream, size, address); the simulator keeps one set per stream, so a set
 * orders by (size, address). The sets of unmapped expandable ranges order by
 * address (BlockComparatorAddress) and store size 0. */
struct gt_sim_key {
    uint64_t size;
    uint64_t addr;
    uint32_t blk;
};

/* An ordered set kept as size classes: class c holds the keys whose size maps
 * to c (gt_sim_class), sorted by (size, address), and classes grow with size,
 * so walking the non-empty classes in order walks the set in PyTorch's order.
 * A best fit is one bitmap search plus a look at the first keys of one or two
 * classes, a few cache lines, instead of a binary search over every key; an
 * insert or erase shifts only its class's keys (a handful). Classes are exact
 * below 16 KiB and then 16 per power of two (TLSF). Bucket headers exist only
 * for the range of classes the set has used; a bucket keeps its array when it
 * empties, so a free set that breathes does not call malloc. */
#define GT_SIM_NCLASS 832 /* 16 * 52: sizes up to 2^64 */
#define GT_SIM_NWORDS (GT_SIM_NCLASS / 64)

struct gt_sim_bucket {
    uint32_t n, cap;
    struct gt_sim_key *v;
};

struct gt_sim_set {
    uint64_t summary;              /* bit w: words[w] != 0 */
    uint64_t words[GT_SIM_NWORDS]; /* bit c: class c holds keys */
    struct gt_sim_bucket *b;       /* classes lo .. lo + nb - 1 */
    uint32_t lo, nb;
    size_t n; /* keys in all classes */
};

/* A position: class c, index i in it. It is the end when c == GT_SIM_NCLASS.
 * Erasing the key at a position leaves the position on the next key once
 * normalised. */
struct gt_sim_pos {
    size_t c, i;
};

/* The class of a size: exact for size / 512 < 32, then 16 classes per power
 * of two. Sizes below 512 (the unmapped sets' 0) are class 0. With v's top
 * bit at e >= 5, v >> (e - 4) is 16 plus the next four bits, so the class
 * 16 * (e - 3) + those bits is 16 * (e - 4) + (v >> (e - 4)): no mask and
 * one subtraction fewer. */
static inline size_t gt_sim_class(uint64_t size)
{
    uint64_t v = size >> 9;
    if (v < 32)
        return (size_t)v;
    int sh = 59 - __builtin_clzll(v); /* e - 4 */
    return ((size_t)sh << 4) + (size_t)(v >> sh);
}

/* Removes the entry equal to k (same size and addr); 0 or GT_ENOENT. */
int gt_sim_set_erase(struct gt_sim_set *s, const struct gt_sim_key *k);
void gt_sim_set_erase_at(struct gt_sim_set *s, struct gt_sim_pos p);
void gt_sim_set_release(struct gt_sim_set *s);
/* A deep copy of src into *dst (overwritten); 0 or GT_ENOMEM, with *dst
 * then empty. */
int gt_sim_set_copy(struct gt_sim_set *dst, const struct gt_sim_set *src);
/* Checks the set's own bookkeeping (bitmaps, counts, classes); the order of
 * the keys is the caller's to check, walking them. Returns 0 or writes the
 * first violation to msg and returns -1. */
int gt_sim_set_check(const struct gt_sim_set *s, char *msg, size_t len);

/* The first non-empty class >= c, or GT_SIM_NCLASS. */
static inline size_t gt_sim_set_next_class(const struct gt_sim_set *s, size_t c)
{
    if (c >= GT_SIM_NCLASS)
        return GT_SIM_NCLASS;
    size_t w = c / 64;
    uint64_t bits = s->words[w] & (~(uint64_t)0 << (c % 64));
    if (bits)
        return w * 64 + (size_t)__builtin_ctzll(bits);
    uint64_t later = w + 1 < 64 ? s->summary & (~(uint64_t)0 << (w + 1)) : 0;
    if (!later)
        return GT_SIM_NCLASS;
    w = (size_t)__builtin_ctzll(later);
    return w * 64 + (size_t)__builtin_ctzll(s->words[w]);
}

/* The last non-empty class <= c, or GT_SIM_NCLASS when none. */
static inline size_t gt_sim_set_prev_class(const struct gt_sim_set *s, size_t c)
{
    size_t w = c / 64;
    uint64_t bits = s->words[w] & (~(uint64_t)0 >> (63 - c % 64));
    if (bits)
        return w * 64 + (size_t)(63 - __builtin_clzll(bits));
    uint64_t before = s->summary & (((uint64_t)1 << w) - 1);
    if (!before)
        return GT_SIM_NCLASS;
    w = (size_t)(63 - __builtin_clzll(before));
    return w * 64 + (size_t)(63 - __builtin_clzll(s->words[w]));
}

/* The bucket of class c; c must lie in the set's range (any class that ever
 * held a key). */
static inline const struct gt_sim_bucket *gt_sim_set_bucket(const struct gt_sim_set *s, size_t c)
{
    return &s->b[c - s->lo];
}

static inline struct gt_sim_pos gt_sim_set_begin(const struct gt_sim_set *s)
{
    struct gt_sim_pos p = {gt_sim_set_next_class(s, 0), 0};
    return p;
}

/* Moves p off the end of a class onto the next key (or the end). */
static inline void gt_sim_set_norm(const struct gt_sim_set *s, struct gt_sim_pos *p)
{
    if (p->c < GT_SIM_NCLASS && p->i >= gt_sim_set_bucket(s, p->c)->n) {
        p->c = gt_sim_set_next_class(s, p->c + 1);
        p->i = 0;
    }
}

static inline int gt_sim_set_at_end(const struct gt_sim_set *s, struct gt_sim_pos p)
{
    (void)s;
    return p.c >= GT_SIM_NCLASS;
}

static inline const struct gt_sim_key *gt_sim_set_key(const struct gt_sim_set *s,
                                                      struct gt_sim_pos p)
{
    return &gt_sim_set_bucket(s, p.c)->v[p.i];
}

static inline void gt_sim_set_next(const struct gt_sim_set *s, struct gt_sim_pos *p)
{
    p->i++;
    gt_sim_set_norm(s, p);
}

/* Moves p one key back; returns 0 when p was the first key. */
static inline int gt_sim_set_prev(const struct gt_sim_set *s, struct gt_sim_pos *p)
{
    if (p->i > 0) {
        p->i--;
        return 1;
    }
    size_t c = p->c == 0 ? GT_SIM_NCLASS : gt_sim_set_prev_class(s, p->c - 1);
    if (c == GT_SIM_NCLASS)
        return 0;
    p->c = c;
    p->i = gt_sim_set_bucket(s, c)->n - 1;
    return 1;
}

/* The last key's position, or the end for an empty set. */
static inline struct gt_sim_pos gt_sim_set_last(const struct gt_sim_set *s)
{
    struct gt_sim_pos p = {GT_SIM_NCLASS, 0};
    size_t c = gt_sim_set_prev_class(s, GT_SIM_NCLASS - 1);
    if (c != GT_SIM_NCLASS)
        p = (struct gt_sim_pos){c, gt_sim_set_bucket(s, c)->n - 1};
    return p;
}

/* Branch-free lexicographic (size, addr) comparison: the searches below are
 * the simulator's hottest loops and their branches are unpredictable. */
static inline int gt_sim_key_less(const struct gt_sim_key *a, const struct gt_sim_key *b)
{
    return (a->size < b->size) | ((a->size == b->size) & (a->addr < b->addr));
}

/* The first key of bucket b not less than k, by binary search. */
size_t gt_sim_bucket_search(const struct gt_sim_bucket *b, const struct gt_sim_key *k);

/* The first key of bucket b not less than k. Classes hold a few keys, so a
 * linear scan wins up to 16 (get_free_block's key, address 0, stops at the
 * first key of its size); longer runs of one size get a binary search, out
 * of line. Callgrind on the 1 M-event trace, 12 configs: 5.648 G
 * instructions with a scan up to 4 keys, 5.626 G to 8, 5.602 G to 16,
 * 5.620 G to 32. The scan's test short-circuits, unlike gt_sim_key_less:
 * a class's keys mostly differ in size, so the address is rarely looked
 * at and the branches follow the scan's own exit (19 M instructions fewer
 * of 5.33 G, and no slower in alternating runs of bench_replay). */
static inline size_t gt_sim_bucket_lower_bound(const struct gt_sim_bucket *b,
                                               const struct gt_sim_key *k)
{
    size_t lo = 0, n = b->n;
    if (n > 16)
        return gt_sim_bucket_search(b, k);
    while (lo < n &&
           (b->v[lo].size < k->size || (b->v[lo].size == k->size && b->v[lo].addr < k->addr)))
        lo++;
    return lo;
}

/* The first entry not less than k (the end if none). Inline, as find: the
 * simulator calls them once per malloc and free. */
static inline struct gt_sim_pos gt_sim_set_lower_bound(const struct gt_sim_set *s,
                                                       const struct gt_sim_key *k)
{
    size_t c = gt_sim_class(k->size);
    struct gt_sim_pos p = {gt_sim_set_next_class(s, c), 0};
    if (p.c == c) {
        const struct gt_sim_bucket *b = gt_sim_set_bucket(s, c);
        p.i = gt_sim_bucket_lower_bound(b, k);
        if (p.i == b->n) /* every key of the class is smaller: the next class */
            p = (struct gt_sim_pos){gt_sim_set_next_class(s, c + 1), 0};
    }
    return p;
}

/* The entry equal to k, or the end. */
static inline struct gt_sim_pos gt_sim_set_find(const struct gt_sim_set *s,
                                                const struct gt_sim_key *k)
{
    /* an equal key can only be in k's own class: no bitmap search */
    size_t c = gt_sim_class(k->size);
    struct gt_sim_pos end = {GT_SIM_NCLASS, 0};
    if (!((s->words[c / 64] >> (c % 64)) & 1))
        return end;
    const struct gt_sim_bucket *b = gt_sim_set_bucket(s, c);
    size_t i = gt_sim_bucket_lower_bound(b, k);
    if (i < b->n && b->v[i].size == k->size && b->v[i].addr == k->addr)
        return (struct gt_sim_pos){c, i};
    return end;
}

static inline void gt_sim_set_mark(struct gt_sim_set *s, size_t c)
{
    s->words[c / 64] |= (uint64_t)1 << (c % 64);
    s->summary |= (uint64_t)1 << (c / 64);
}

static inline void gt_sim_set_unmark(struct gt_sim_set *s, size_t c)
{
    s->words[c / 64] &= ~((uint64_t)1 << (c % 64));
    if (!s->words[c / 64])
        s->summary &= ~((uint64_t)1 << (c / 64));
}

/* Inserts k into class c, k's class, when the class already holds keys or
 * needs a header or an array first. */
int gt_sim_set_insert_slow(struct gt_sim_set *s, size_t c, const struct gt_sim_key *k);

/* Inserts k into class c, k's class. Most inserts find their class empty,
 * with its header and array in place (72% on a 1 M-event training trace: the
 * free blocks are spread thin over the classes): inline, a few stores. So
 * does a key that goes after the last of a class with room (a third of the
 * rest; callgrind: 20 M instructions fewer of 5.26 G). The rest goes out of
 * line. */
static inline int gt_sim_set_insert_in(struct gt_sim_set *s, size_t c, const struct gt_sim_key *k)
{
    size_t at = c - s->lo; /* a class below lo wraps past nb */
    if (at < s->nb) {
        struct gt_sim_bucket *b = &s->b[at];
        if (b->n == 0 && b->cap > 0) {
            b->v[0] = *k;
            b->n = 1;
            s->n++;
            gt_sim_set_mark(s, c);
            return 0;
        }
        if (b->n < b->cap && gt_sim_key_less(&b->v[b->n - 1], k)) {
            b->v[b->n++] = *k;
            s->n++;
            return 0;
        }
    }
    return gt_sim_set_insert_slow(s, c, k);
}

static inline int gt_sim_set_insert(struct gt_sim_set *s, const struct gt_sim_key *k)
{
    return gt_sim_set_insert_in(s, gt_sim_class(k->size), k);
}

/* Replaces the entry at p with k, keeping the order. */
static inline __attribute__((always_inline)) int
gt_sim_set_replace_at(struct gt_sim_set *s, struct gt_sim_pos p, const struct gt_sim_key *k)
{
    /* the end: the entry was lost to a failed host allocation (the simulator
     * is marked broken by then); the key still goes in */
    if (p.c >= GT_SIM_NCLASS)
        return gt_sim_set_insert(s, k);
    struct gt_sim_bucket *b = &s->b[p.c - s->lo];
    /* In place when k stays in the class between the same neighbours: the
     * common case of a block that shrinks or grows a little. Other classes
     * hold only smaller or larger keys, so the class's own neighbours
     * decide. */
    size_t c = gt_sim_class(k->size);
    if (c == p.c && (p.i == 0 || gt_sim_key_less(&b->v[p.i - 1], k)) &&
        (p.i + 1 == b->n || gt_sim_key_less(k, &b->v[p.i + 1]))) {
        b->v[p.i] = *k;
        return 0;
    }
    gt_sim_set_erase_at(s, p);
    return gt_sim_set_insert_in(s, c, k);
}

#endif
