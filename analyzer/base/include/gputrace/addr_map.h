/* The address map: entries keyed by (device, 64-bit address), each with a
 * payload of a size its user picks. The one hash table of the analyzer for
 * addresses (the live allocations of live_int.h, the replay's decoder, the
 * snapshot importer's sets, growth's counts by size and gap); the device
 * field carries whatever 32-bit number splits the address space (a device
 * ordinal, a process id, 0).
 *
 * Open addressing with linear probing and backward-shift deletion: no
 * tombstones, so a map that takes what it puts stays as large as what it
 * holds, not as the trace. Find and put are inline because the replay's
 * decoder does one per event, on its hot path. */
#ifndef GPUTRACE_ADDR_MAP_H
#define GPUTRACE_ADDR_MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The head of every entry; the payload follows it, so that a lookup reads
 * one place in memory for the key and what it maps to. */
struct gt_addr_map_key {
    uint64_t addr;
    int32_t device;
    bool used;
};

/* cap is a power of two and n * 2 <= cap after every put, so a probe ends
 * at an unused entry. The order of gt_addr_map_next depends only on the keys
 * put and taken, in their order, never on the payload's size. */
struct gt_addr_map {
    unsigned char *v; /* cap entries of stride bytes */
    size_t cap, n, stride;
    /* the payload's own size: stride rounds it up for alignment, and take
     * copies no more than the caller's payload holds */
    size_t payload;
};

/* gt_addr_map_init: an empty map whose payloads are payload_size bytes
 * (aligned for any type up to 8 bytes, zeroed when put), starting with cap
 * entries (a power of two, at least 1); 0 or GT_ENOMEM, when m owns nothing. */
int gt_addr_map_init(struct gt_addr_map *m, size_t payload_size, size_t cap);
/* Frees the entries; m may then be initialized again. Accepts a released
 * or zeroed map. */
void gt_addr_map_release(struct gt_addr_map *m);
/* Doubles cap; 0 or GT_ENOMEM, with m unchanged. For gt_addr_map_put. */
int gt_addr_map_grow(struct gt_addr_map *m);
/* Removes (device, addr), copying its payload into out unless out is NULL;
 * false if absent. Pointers into m are stale afterwards. */
bool gt_addr_map_take(struct gt_addr_map *m, int32_t device, uint64_t addr, void *out);
/* Iteration: the payload of the first used entry at or after *pos, *pos
 * moved past it; NULL at the end. Start with *pos = 0. */
void *gt_addr_map_next(const struct gt_addr_map *m, size_t *pos);

/* The entry where a probe for (device, addr) starts; mask = cap - 1. The
 * hash of the live map before there was one map: gt_inspect_live lists in
 * the table's order, and the order of the peak report's groups of equal
 * size depends on it, so another hash could reorder reports. Its cost: it keeps bits
 * 17 and up of the product, so addresses that are all 2 MiB aligned start
 * at one entry in 16 and probe longer. */
static inline size_t gt_addr_map_home(int32_t device, uint64_t addr, size_t mask)
{
    uint64_t h = (addr ^ ((uint64_t)(uint32_t)device << 48)) * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 17) & mask;
}

static inline struct gt_addr_map_key *gt_addr_map_entry(const struct gt_addr_map *m, size_t i)
{
    return (struct gt_addr_map_key *)(void *)(m->v + i * m->stride);
}

/* The entry of (device, addr), or the unused entry where it would go. */
static inline struct gt_addr_map_key *gt_addr_map_probe(const struct gt_addr_map *m, int32_t device,
                                                        uint64_t addr)
{
    size_t mask = m->cap - 1;
    for (size_t i = gt_addr_map_home(device, addr, mask);; i = (i + 1) & mask) {
        struct gt_addr_map_key *k = gt_addr_map_entry(m, i);
        if (!k->used || (k->addr == addr && k->device == device))
            return k;
    }
}

/* The payload of (device, addr), or NULL; valid until the next put or take. */
static inline void *gt_addr_map_find(const struct gt_addr_map *m, int32_t device, uint64_t addr)
{
    struct gt_addr_map_key *k = gt_addr_map_probe(m, device, addr);
    return k->used ? (void *)(k + 1) : NULL;
}

/* The payload of (device, addr), inserted zeroed if absent (*added tells
 * which, unless added is NULL); NULL when the host is out of memory. Valid
 * until the next put or take. */
static inline void *gt_addr_map_put(struct gt_addr_map *m, int32_t device, uint64_t addr,
                                    bool *added)
{
    if ((m->n + 1) * 2 > m->cap && gt_addr_map_grow(m))
        return NULL;
    struct gt_addr_map_key *k = gt_addr_map_probe(m, device, addr);
    bool fresh = !k->used;
    if (fresh) {
        k->addr = addr;
        k->device = device;
        k->used = true;
        memset(k + 1, 0, m->stride - sizeof *k);
        m->n++;
    }
    if (added != NULL)
        *added = fresh;
    return k + 1;
}

#endif
