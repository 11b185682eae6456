/* Private structures of the allocator simulator (analyzer/sim.c), shared with
 * its ordered-set helper (analyzer/sim_set.c). */
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

/* An ordered set kept as a list of sorted chunks of at most GT_SIM_CHUNK
 * keys. Inserting or erasing moves at most one chunk's tail, whatever the
 * set's size: the free sets of real workloads hold from tens to thousands of
 * blocks, and a single sorted array spent most of the simulator's time in
 * memmove. Chunks are never empty. */
#define GT_SIM_CHUNK 32

struct gt_sim_chunk {
    uint32_t n;
    struct gt_sim_key v[GT_SIM_CHUNK];
};

struct gt_sim_set {
    struct gt_sim_chunk **c;
    /* maxk[i] is the last key of chunk i: the chunk-level search reads this
     * contiguous array instead of chasing a pointer per probe */
    struct gt_sim_key *maxk;
    size_t nc, capc;
    size_t n; /* keys in all chunks */
};

/* A position: chunk c, index i. It is the end when c == nc. Erasing the key
 * at a position leaves the position on the next key once normalised. */
struct gt_sim_pos {
    size_t c, i;
};

int gt_sim_set_insert(struct gt_sim_set *s, const struct gt_sim_key *k);
/* Removes the entry equal to k (same size and addr); 0 or GT_ENOENT. */
int gt_sim_set_erase(struct gt_sim_set *s, const struct gt_sim_key *k);
/* The first entry not less than k (the end if none). */
struct gt_sim_pos gt_sim_set_lower_bound(const struct gt_sim_set *s, const struct gt_sim_key *k);
/* The entry equal to k, or the end. */
struct gt_sim_pos gt_sim_set_find(const struct gt_sim_set *s, const struct gt_sim_key *k);
void gt_sim_set_erase_at(struct gt_sim_set *s, struct gt_sim_pos p);
/* Replaces the entry at p with k, keeping the order. */
int gt_sim_set_replace_at(struct gt_sim_set *s, struct gt_sim_pos p, const struct gt_sim_key *k);
void gt_sim_set_release(struct gt_sim_set *s);

static inline struct gt_sim_pos gt_sim_set_begin(const struct gt_sim_set *s)
{
    (void)s;
    struct gt_sim_pos p = {0, 0};
    return p;
}

/* Moves p off the end of a chunk onto the next key (or the end). */
static inline void gt_sim_set_norm(const struct gt_sim_set *s, struct gt_sim_pos *p)
{
    while (p->c < s->nc && p->i >= s->c[p->c]->n) {
        p->c++;
        p->i = 0;
    }
}

static inline int gt_sim_set_at_end(const struct gt_sim_set *s, struct gt_sim_pos p)
{
    return p.c >= s->nc;
}

static inline const struct gt_sim_key *gt_sim_set_key(const struct gt_sim_set *s,
                                                      struct gt_sim_pos p)
{
    return &s->c[p.c]->v[p.i];
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
    if (p->c == 0)
        return 0;
    p->c--;
    p->i = s->c[p->c]->n - 1;
    return 1;
}

/* The last key's position, or the end for an empty set. */
static inline struct gt_sim_pos gt_sim_set_last(const struct gt_sim_set *s)
{
    struct gt_sim_pos p = {s->nc, 0};
    if (s->nc)
        p = (struct gt_sim_pos){s->nc - 1, s->c[s->nc - 1]->n - 1};
    return p;
}

#endif
