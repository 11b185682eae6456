/* Growable arrays (gputrace/array.h). */
#include "gputrace/array.h"

#include <stdint.h>
#include <stdlib.h>

#include "gputrace/banned.h"

enum { FIRST_CAPACITY = 16 };

void *gt_array_grow(void *v, size_t *cap, size_t n, size_t elem)
{
    if (n < *cap)
        return v;
    size_t want = *cap == 0 ? FIRST_CAPACITY : *cap * 2;
    if (want < *cap || elem == 0 || want > SIZE_MAX / elem)
        return NULL;
    void *grown = realloc(v, want * elem);
    if (grown != NULL)
        *cap = want;
    return grown;
}
