/* Live allocations by address, and start-state preloading (gputrace/live.h). */
#include <stdlib.h>
#include <string.h>

#include "gputrace/err.h"
#include "gputrace/live.h"
#include "gputrace/banned.h"

static size_t home_of(uint64_t addr, int32_t device, size_t cap)
{
    uint64_t h = (addr ^ ((uint64_t)(uint32_t)device << 48)) * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 17) & (cap - 1);
}

static size_t slot_of(const struct gt_live_map *m, int32_t device, uint64_t addr)
{
    size_t i = home_of(addr, device, m->cap);
    while (m->used[i] && (m->v[i].addr != addr || m->v[i].device != device))
        i = (i + 1) & (m->cap - 1);
    return i;
}

static int alloc_table(struct gt_live_map *m, size_t cap)
{
    m->v = calloc(cap, sizeof *m->v);
    m->used = calloc(cap, 1);
    m->cap = cap;
    m->n = 0;
    if (m->v == NULL || m->used == NULL) {
        free(m->v);
        free(m->used);
        m->v = NULL;
        m->used = NULL;
        return GT_ENOMEM;
    }
    return 0;
}

int gt_live_init(struct gt_live_map *m)
{
    return alloc_table(m, 1024);
}

void gt_live_release(struct gt_live_map *m)
{
    free(m->v);
    free(m->used);
    m->v = NULL;
    m->used = NULL;
    m->cap = m->n = 0;
}

static int grow(struct gt_live_map *m)
{
    struct gt_live_map big;
    if (alloc_table(&big, m->cap * 2))
        return GT_ENOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        if (!m->used[i])
            continue;
        size_t j = slot_of(&big, m->v[i].device, m->v[i].addr);
        big.used[j] = 1;
        big.v[j] = m->v[i];
        big.n++;
    }
    gt_live_release(m);
    *m = big;
    return 0;
}

struct gt_live *gt_live_put(struct gt_live_map *m, int32_t device, uint64_t addr)
{
    if ((m->n + 1) * 2 > m->cap && grow(m))
        return NULL;
    size_t i = slot_of(m, device, addr);
    if (!m->used[i]) {
        m->used[i] = 1;
        memset(&m->v[i], 0, sizeof m->v[i]);
        m->v[i].addr = addr;
        m->v[i].device = device;
        m->v[i].h = GT_SIM_NO_HANDLE;
        m->n++;
    }
    return &m->v[i];
}

const struct gt_live *gt_live_find(const struct gt_live_map *m, int32_t device, uint64_t addr)
{
    size_t i = slot_of(m, device, addr);
    return m->used[i] ? &m->v[i] : NULL;
}

bool gt_live_take(struct gt_live_map *m, int32_t device, uint64_t addr, struct gt_live *out)
{
    size_t i = slot_of(m, device, addr);
    if (!m->used[i])
        return false;
    *out = m->v[i];
    m->used[i] = 0;
    m->n--;
    /* Backward-shift deletion: pull later entries of the probe chain into
     * the hole unless their home lies cyclically in (hole, j]. */
    for (size_t j = (i + 1) & (m->cap - 1); m->used[j]; j = (j + 1) & (m->cap - 1)) {
        size_t h = home_of(m->v[j].addr, m->v[j].device, m->cap);
        bool in_range = i <= j ? (h > i && h <= j) : (h > i || h <= j);
        if (in_range)
            continue;
        m->v[i] = m->v[j];
        m->used[i] = 1;
        m->used[j] = 0;
        i = j;
    }
    return true;
}

void gt_live_foreach(const struct gt_live_map *m, void (*fn)(void *ctx, const struct gt_live *l),
                     void *ctx)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->used[i])
            fn(ctx, &m->v[i]);
}

int gt_live_free_requested(struct gt_live_map *pending, struct gt_sim *sim,
                           const struct gt_live *gone)
{
    if (!gt_sim_free_requested(sim, gone->h))
        return 0;
    struct gt_live *p = gt_live_put(pending, gone->device, gone->addr);
    if (p == NULL)
        return GT_ENOMEM;
    *p = *gone;
    return 1;
}

int gt_live_put_start(struct gt_live_map *live, struct gt_live_map *pending,
                      const struct gt_initial_block *b, gt_sim_handle h)
{
    struct gt_live *l =
        gt_live_put(b->pending ? pending : live, b->device, gt_initial_block_key(b));
    if (l == NULL)
        return GT_ENOMEM;
    l->h = h;
    l->requested = b->requested;
    l->stream = b->stream;
    l->index = -1; /* before the first event */
    return 0;
}
