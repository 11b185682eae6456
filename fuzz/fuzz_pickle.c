/* libFuzzer target for the safe pickle decoder: decodes each input from
 * memory and walks the whole document, checking the invariants pickle.h
 * promises (types, NUL-terminated strings, bounded depth, str keys found by
 * gt_pk_get). A rejected input is a normal outcome but must say why. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gputrace/err.h"
#include "gputrace/pickle.h"

#include "gputrace/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Memo sharing makes a DAG whose paths can be exponential in its size
 * (t1 = (t0, t0), t2 = (t1, t1), ...): the walk stops after this many
 * visits instead of running for ever. */
#define VISIT_BUDGET 200000

static size_t visits;

static void walk(const struct gt_pk *v, int depth);

static void walk_dict(const struct gt_pk *d, int depth)
{
    for (size_t i = 0; i < d->u.dict.n; i++) {
        const struct gt_pk *k = d->u.dict.keys[i];
        walk(k, depth);
        walk(d->u.dict.vals[i], depth);
        /* gt_pk_get finds the first str key with these bytes; with an
         * embedded NUL it may find a shorter one, so only check clean keys. */
        if (k->type == GT_PK_STR && strlen(k->u.str.s) == k->u.str.len &&
            gt_pk_get(d, k->u.str.s) == NULL)
            abort();
    }
}

static void walk(const struct gt_pk *v, int depth)
{
    int64_t i;

    if (v == NULL)
        abort();
    /* pickle.h bounds the nesting of containers (an empty one has depth
     * 1): a leaf inside the deepest allowed container sits one below it */
    bool container = v->type == GT_PK_LIST || v->type == GT_PK_TUPLE || v->type == GT_PK_DICT;
    if (container && depth > GT_PICKLE_MAX_DEPTH)
        abort();
    if (++visits > VISIT_BUDGET)
        return;
    switch (v->type) {
    case GT_PK_NONE:
    case GT_PK_FLOAT:
        break;
    case GT_PK_BOOL:
    case GT_PK_INT:
        if (gt_pk_int(v, &i) != 0)
            abort();
        break;
    case GT_PK_BIGINT:
    case GT_PK_STR:
    case GT_PK_BYTES:
        if (v->u.str.s[v->u.str.len] != '\0' || (v->type == GT_PK_BIGINT && v->u.str.len < 9))
            abort();
        break;
    case GT_PK_LIST:
    case GT_PK_TUPLE:
        for (size_t k = 0; k < gt_pk_len(v); k++)
            walk(gt_pk_at(v, k), depth + 1);
        break;
    case GT_PK_DICT:
        walk_dict(v, depth + 1);
        break;
    default:
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gt_pickle *p = NULL;
    char err[256];
    int rc = gt_pickle_load_mem(data, size, &p, err, sizeof err);

    if (rc != 0) {
        if (p != NULL || err[0] == '\0')
            abort();
        return 0;
    }
    visits = 0;
    walk(gt_pickle_root(p), 1);
    gt_pickle_free(p);
    return 0;
}
