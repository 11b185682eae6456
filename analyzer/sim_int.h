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

/* A sorted array: lower_bound by binary search, insert and erase by memmove.
 * Free sets of real workloads hold tens to a few thousand blocks, where a
 * contiguous array beats a pointer-chasing tree. */
struct gt_sim_set {
    struct gt_sim_key *v;
    size_t n, cap;
};

int gt_sim_set_insert(struct gt_sim_set *s, const struct gt_sim_key *k);
/* Removes the entry equal to k (same stream, size, addr); 0 or GT_ENOENT. */
int gt_sim_set_erase(struct gt_sim_set *s, const struct gt_sim_key *k);
/* Index of the first entry not less than k (n if none). */
size_t gt_sim_set_lower_bound(const struct gt_sim_set *s, const struct gt_sim_key *k);
/* Index of the entry equal to k, or n if absent. */
size_t gt_sim_set_find(const struct gt_sim_set *s, const struct gt_sim_key *k);
/* Replaces the entry at index i with k, keeping the order, in one shift:
 * a block that shrinks (split) or grows (merge) moves without an erase and an
 * insert. */
void gt_sim_set_replace_at(struct gt_sim_set *s, size_t i, const struct gt_sim_key *k);
void gt_sim_set_erase_at(struct gt_sim_set *s, size_t i);
void gt_sim_set_release(struct gt_sim_set *s);

#endif
