/* Live allocations by address, and start-state preloading (gputrace/live.h). */
#include "gputrace/err.h"
#include "gputrace/live.h"
#include "gputrace/banned.h"

int gt_live_init(struct gt_live_map *m)
{
    return gt_addr_map_init(&m->map, sizeof(struct gt_live), 1024);
}

void gt_live_release(struct gt_live_map *m)
{
    gt_addr_map_release(&m->map);
}

struct gt_live *gt_live_put(struct gt_live_map *m, int32_t device, uint64_t addr)
{
    bool added;
    struct gt_live *l = gt_addr_map_put(&m->map, device, addr, &added);
    if (l != NULL && added) {
        l->addr = addr;
        l->device = device;
        l->h = GT_SIM_NO_HANDLE;
    }
    return l;
}

const struct gt_live *gt_live_find(const struct gt_live_map *m, int32_t device, uint64_t addr)
{
    return gt_addr_map_find(&m->map, device, addr);
}

bool gt_live_take(struct gt_live_map *m, int32_t device, uint64_t addr, struct gt_live *out)
{
    return gt_addr_map_take(&m->map, device, addr, out);
}

void gt_live_foreach(const struct gt_live_map *m, void (*fn)(void *ctx, const struct gt_live *l),
                     void *ctx)
{
    size_t pos = 0;
    for (const struct gt_live *l; (l = gt_addr_map_next(&m->map, &pos)) != NULL;)
        fn(ctx, l);
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
