/* libFuzzer target for the strict streaming JSON reader (jsonread.h), from
 * memory. The first byte picks how many bytes the source hands over at a
 * time (1 to 256), so tokens meet buffer boundaries everywhere. Checks what
 * must hold for any input: the depth stays within its bound and follows the
 * tokens, a document that ends well is balanced, errors are repeated, and
 * the kept text never exceeds its bound. */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gputrace/err.h"
#include "gputrace/jsonread.h"

#include "gputrace/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct source {
    const uint8_t *data;
    size_t size, pos, chunk;
};

static int fill(void *ctx, char *buf, size_t cap, size_t *got)
{
    struct source *s = ctx;
    size_t n = s->size - s->pos;

    if (n > s->chunk)
        n = s->chunk;
    if (n > cap)
        n = cap;
    memcpy(buf, s->data + s->pos, n);
    s->pos += n;
    *got = n;
    return GT_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct source src = {data, size, 0, 1};
    struct gt_json_reader *r;
    enum gt_json_token tok = GT_JSON_NULL;
    size_t depth = 0;
    int first, rc;

    if (size > 0) {
        src.chunk = (size_t)data[0] + 1;
        src.pos = 1;
    }
    if (gt_json_reader_new(fill, &src, &r) != GT_OK)
        return 0;
    rc = gt_json_first(r, &first);
    while (rc == GT_OK && (rc = gt_json_next(r, &tok)) == GT_OK && tok != GT_JSON_END) {
        struct gt_json_number n;
        size_t len;
        bool whole;

        if (tok == GT_JSON_OBJECT || tok == GT_JSON_ARRAY)
            depth++;
        if (tok == GT_JSON_OBJECT_END || tok == GT_JSON_ARRAY_END)
            depth--;
        if (depth != gt_json_depth(r) || depth > GT_JSON_MAX_DEPTH)
            abort();
        if (tok == GT_JSON_KEY || tok == GT_JSON_STRING) {
            gt_json_text(r, &len, &whole);
            if (len > GT_JSON_TEXT_MAX || (!whole && len != GT_JSON_TEXT_MAX))
                abort();
        }
        if (tok == GT_JSON_NUMBER)
            gt_json_number(r, &n);
    }
    if (rc == GT_OK && (depth != 0 || gt_json_depth(r) != 0))
        abort();
    if (rc != GT_OK && (gt_json_next(r, &tok) != rc || gt_json_errmsg(r)[0] == '\0'))
        abort();
    gt_json_reader_free(r);
    return 0;
}
