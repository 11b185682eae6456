/* Ordered sets of free blocks for the simulator: sorted arrays of keys. */
#include <stdlib.h>
#include <string.h>

#include "gputrace/err.h"
#include "sim_int.h"
#include "gputrace/banned.h"

static int key_less(const struct gt_sim_key *a, const struct gt_sim_key *b)
{
    if (a->stream != b->stream)
        return a->stream < b->stream;
    if (a->size != b->size)
        return a->size < b->size;
    return a->addr < b->addr;
}

size_t gt_sim_set_lower_bound(const struct gt_sim_set *s, const struct gt_sim_key *k)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (key_less(&s->v[mid], k))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
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
    size_t i = gt_sim_set_lower_bound(s, k);
    if (i == s->n || s->v[i].stream != k->stream || s->v[i].size != k->size ||
        s->v[i].addr != k->addr)
        return GT_ENOENT;
    memmove(&s->v[i], &s->v[i + 1], (s->n - i - 1) * sizeof(*s->v));
    s->n--;
    return 0;
}

void gt_sim_set_release(struct gt_sim_set *s)
{
    free(s->v);
    s->v = NULL;
    s->n = s->cap = 0;
}
