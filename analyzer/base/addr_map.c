/* The address map's growth, deletion and iteration (addr_map.h). */
#include <stdlib.h>
#include <string.h>

#include "gputrace/addr_map.h"
#include "gputrace/err.h"
#include "gputrace/banned.h"

/* A payload starts right after its key, so the key's size must keep it
 * aligned for the payloads the users keep (uint64_t, pointers). */
_Static_assert(sizeof(struct gt_addr_map_key) % _Alignof(uint64_t) == 0,
               "a payload after the key must stay aligned for uint64_t");

int gt_addr_map_init(struct gt_addr_map *m, size_t payload_size, size_t cap)
{
    size_t align = _Alignof(uint64_t);
    m->stride = sizeof(struct gt_addr_map_key) + (payload_size + align - 1) / align * align;
    m->payload = payload_size;
    m->n = 0;
    m->cap = cap;
    m->v = calloc(cap, m->stride);
    if (m->v == NULL) {
        m->cap = 0;
        return GT_ENOMEM;
    }
    return 0;
}

void gt_addr_map_release(struct gt_addr_map *m)
{
    free(m->v);
    m->v = NULL;
    m->cap = m->n = 0;
}

int gt_addr_map_grow(struct gt_addr_map *m)
{
    struct gt_addr_map big;
    if (gt_addr_map_init(&big, m->payload, m->cap * 2))
        return GT_ENOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        const struct gt_addr_map_key *k = gt_addr_map_entry(m, i);
        if (k->used)
            memcpy(gt_addr_map_probe(&big, k->device, k->addr), k, m->stride);
    }
    big.n = m->n;
    gt_addr_map_release(m);
    *m = big;
    return 0;
}

bool gt_addr_map_take(struct gt_addr_map *m, int32_t device, uint64_t addr, void *out)
{
    size_t mask = m->cap - 1;
    struct gt_addr_map_key *hole = gt_addr_map_probe(m, device, addr);
    if (!hole->used)
        return false;
    if (out != NULL)
        memcpy(out, hole + 1, m->payload);
    hole->used = false;
    m->n--;
    /* Backward-shift deletion: pull later entries of the probe chain into
     * the hole unless their home lies cyclically in (hole, j], where a probe
     * for them would stop at the hole before reaching them. */
    size_t i = (size_t)((unsigned char *)hole - m->v) / m->stride;
    for (size_t j = (i + 1) & mask;; j = (j + 1) & mask) {
        struct gt_addr_map_key *k = gt_addr_map_entry(m, j);
        if (!k->used)
            break;
        size_t h = gt_addr_map_home(k->device, k->addr, mask);
        bool in_range = i <= j ? (h > i && h <= j) : (h > i || h <= j);
        if (in_range)
            continue;
        memcpy(gt_addr_map_entry(m, i), k, m->stride);
        k->used = false;
        i = j;
    }
    return true;
}

void *gt_addr_map_next(const struct gt_addr_map *m, size_t *pos)
{
    for (; *pos < m->cap; ++*pos) {
        struct gt_addr_map_key *k = gt_addr_map_entry(m, *pos);
        if (k->used) {
            ++*pos;
            return k + 1;
        }
    }
    return NULL;
}
