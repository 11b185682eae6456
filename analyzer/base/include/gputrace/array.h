/* Growable arrays: the one place that doubles a capacity, so that every
 * array of the library checks the size's overflow and keeps its old
 * storage when memory runs out. */
#ifndef GPUTRACE_ARRAY_H
#define GPUTRACE_ARRAY_H

#include <stddef.h>

/* gt_array_grow: v, an array of *cap elements of elem bytes holding n,
 * with room for one more: v itself while n < *cap, else v reallocated to
 * twice *cap (16 from empty) with *cap updated. NULL when memory runs out
 * or the size would overflow; v and *cap are untouched then, and v is
 * still the caller's to free. Use:
 *     struct x *grown = gt_array_grow(a->v, &a->cap, a->n, sizeof *grown);
 *     if (grown == NULL) return GT_ENOMEM;
 *     a->v = grown; */
void *gt_array_grow(void *v, size_t *cap, size_t n, size_t elem);

#endif
