/* A streaming Python pickle writer (pkwrite.h). The opcodes are those of
 * protocol 2 that Python's pickle module itself emits for these types, so
 * any Python 3 (and gpu-trace's own decoder, pickle.h) loads the result. */
#include "gputrace/pkwrite.h"
#include "gputrace/err.h"
#include "gputrace/units.h"

#include <stdlib.h>
#include <string.h>

#include "gputrace/banned.h"

/* Python's pickler flushes SETITEMS/APPENDS every 1000 items (_BATCHSIZE). */
#define BATCH 1000

enum {
    OP_PROTO = 0x80,
    OP_STOP = '.',
    OP_MARK = '(',
    OP_EMPTY_DICT = '}',
    OP_SETITEMS = 'u',
    OP_EMPTY_LIST = ']',
    OP_APPENDS = 'e',
    OP_TUPLE = 't',
    OP_BINUNICODE = 'X',
    OP_BININT1 = 'K',
    OP_BININT2 = 'M',
    OP_BININT = 'J',
    OP_LONG1 = 0x8a,
    OP_NEWTRUE = 0x88,
    OP_NEWFALSE = 0x89,
    OP_BINFLOAT = 'G',
    OP_BINPUT = 'q',
    OP_LONG_BINPUT = 'r',
    OP_BINGET = 'h',
    OP_LONG_BINGET = 'j',
};

/* The memo: values written, by their key ('s' + the str, or 'd' + the
 * caller's key for a dict), to their memo index. Open addressing over
 * copies of the keys; grows at half full. */
struct memo_slot {
    uint64_t hash;
    char *key; /* NULL: empty */
    size_t len;
    uint32_t index;
};

struct gt_pkw_memo {
    struct memo_slot *slot;
    size_t cap, n;
};

static void flush(struct gt_pkw *w)
{
    if (w->rc == 0 && w->nbuf > 0 && fwrite(w->buf, 1, w->nbuf, w->f) != w->nbuf)
        w->rc = GT_EIO;
    w->nbuf = 0;
}

static void put(struct gt_pkw *w, const void *p, size_t n)
{
    if (w->rc)
        return;
    if (w->nbuf + n > sizeof w->buf) {
        flush(w);
        if (n > sizeof w->buf) { /* a str longer than the buffer */
            if (w->rc == 0 && fwrite(p, 1, n, w->f) != n)
                w->rc = GT_EIO;
            return;
        }
    }
    memcpy(w->buf + w->nbuf, p, n);
    w->nbuf += n;
}

static void op(struct gt_pkw *w, int code)
{
    unsigned char c = (unsigned char)code;
    put(w, &c, 1);
}

static void le(struct gt_pkw *w, uint64_t v, size_t n)
{
    unsigned char b[8];
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)(v >> (8 * i));
    put(w, b, n);
}

static uint64_t fnv1a(char tag, const void *key, size_t len)
{
    const unsigned char *p = key;
    uint64_t h = 0xcbf29ce484222325ull ^ (unsigned char)tag;
    h *= 0x100000001b3ull;
    for (size_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* The slot of (tag, key): where it is, or the empty one where it goes. */
static struct memo_slot *memo_slot(struct gt_pkw_memo *m, uint64_t h, char tag, const void *key,
                                   size_t len)
{
    size_t i = (size_t)h & (m->cap - 1);
    for (;; i = (i + 1) & (m->cap - 1)) {
        struct memo_slot *s = &m->slot[i];
        if (s->key == NULL || (s->hash == h && s->len == len + 1 && s->key[0] == tag &&
                               memcmp(s->key + 1, key, len) == 0))
            return s;
    }
}

static int memo_grow(struct gt_pkw_memo *m)
{
    size_t cap = m->cap ? m->cap * 2 : 1024;
    struct memo_slot *v = calloc(cap, sizeof *v);
    if (v == NULL)
        return GT_ENOMEM;
    for (size_t i = 0; i < m->cap; i++) {
        if (m->slot[i].key == NULL)
            continue;
        size_t j = (size_t)m->slot[i].hash & (cap - 1);
        while (v[j].key != NULL)
            j = (j + 1) & (cap - 1);
        v[j] = m->slot[i];
    }
    free(m->slot);
    m->slot = v;
    m->cap = cap;
    return 0;
}

static void memo_free(struct gt_pkw_memo *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->cap; i++)
        free(m->slot[i].key);
    free(m->slot);
    free(m);
}

/* The memo index of (tag, key), or -1 when it was not written yet. */
static int64_t memo_find(struct gt_pkw *w, char tag, const void *key, size_t len)
{
    if (w->memo == NULL || w->memo->n == 0)
        return -1;
    struct memo_slot *s = memo_slot(w->memo, fnv1a(tag, key, len), tag, key, len);
    return s->key != NULL ? (int64_t)s->index : -1;
}

static void index_op(struct gt_pkw *w, int one_byte, int four_bytes, uint32_t index);

/* Stores the value on top of the stack as (tag, key) under the next index.
 * A failure to grow the memo is an error: the pickle would stay valid, but
 * the caller asked for a bounded file. */
static void memo_store(struct gt_pkw *w, char tag, const void *key, size_t len)
{
    if (w->rc)
        return;
    if (w->memo == NULL && (w->memo = calloc(1, sizeof *w->memo)) == NULL) {
        w->rc = GT_ENOMEM;
        return;
    }
    struct gt_pkw_memo *m = w->memo;
    if ((m->n + 1) * 2 > m->cap && memo_grow(m) != 0) {
        w->rc = GT_ENOMEM;
        return;
    }
    uint64_t h = fnv1a(tag, key, len);
    struct memo_slot *s = memo_slot(m, h, tag, key, len);
    char *copy = malloc(len + 1);
    if (copy == NULL) {
        w->rc = GT_ENOMEM;
        return;
    }
    copy[0] = tag;
    memcpy(copy + 1, key, len);
    *s = (struct memo_slot){h, copy, len + 1, w->next_memo};
    m->n++;
    index_op(w, OP_BINPUT, OP_LONG_BINPUT, w->next_memo++);
}

void gt_pkw_init(struct gt_pkw *w, FILE *f)
{
    memset(w, 0, sizeof *w);
    w->f = f;
    op(w, OP_PROTO);
    op(w, 2);
}

int gt_pkw_finish(struct gt_pkw *w)
{
    if (w->rc == 0 && w->depth != 0)
        w->rc = GT_EINVAL;
    op(w, OP_STOP);
    flush(w);
    memo_free(w->memo);
    w->memo = NULL;
    return w->rc;
}

/* BINPUT/BINGET with a one-byte index, their LONG_ forms with four. */
static void index_op(struct gt_pkw *w, int one_byte, int four_bytes, uint32_t index)
{
    if (index < 256) {
        op(w, one_byte);
        le(w, index, 1);
    } else {
        op(w, four_bytes);
        le(w, index, 4);
    }
}

/* Every value written counts against the open container; a full batch is
 * handed over and a new one opened. A dict's batch ends on a whole pair. */
static void counted(struct gt_pkw *w)
{
    if (w->depth == 0)
        return;
    int d = w->depth - 1;
    w->items[d]++;
    if (w->kind[d] == 't' || w->items[d] < (w->kind[d] == 'd' ? 2 * BATCH : BATCH))
        return;
    op(w, w->kind[d] == 'd' ? OP_SETITEMS : OP_APPENDS);
    op(w, OP_MARK);
    w->items[d] = 0;
}

static void open_container(struct gt_pkw *w, char kind)
{
    if (w->depth >= GT_PKW_MAX_DEPTH) {
        w->rc = w->rc ? w->rc : GT_EINVAL;
        return;
    }
    if (kind == 'd')
        op(w, OP_EMPTY_DICT);
    else if (kind == 'l')
        op(w, OP_EMPTY_LIST);
    op(w, OP_MARK);
    w->kind[w->depth] = kind;
    w->items[w->depth] = 0;
    w->depth++;
}

/* Closes the innermost container; a dict named by key is memoized before
 * it counts in its parent (a batch flush there would bury it). */
static void close_container(struct gt_pkw *w, char kind, const void *key, size_t len)
{
    if (w->depth == 0 || w->kind[w->depth - 1] != kind) {
        w->rc = w->rc ? w->rc : GT_EINVAL;
        return;
    }
    if (kind == 'd' && w->items[w->depth - 1] % 2 != 0)
        w->rc = w->rc ? w->rc : GT_EINVAL; /* a key without its value */
    op(w, kind == 'd' ? OP_SETITEMS : kind == 'l' ? OP_APPENDS : OP_TUPLE);
    w->depth--;
    if (key != NULL)
        memo_store(w, 'd', key, len);
    counted(w);
}

void gt_pkw_dict_begin(struct gt_pkw *w)
{
    open_container(w, 'd');
}
void gt_pkw_dict_end(struct gt_pkw *w)
{
    close_container(w, 'd', NULL, 0);
}

void gt_pkw_dict_end_memo(struct gt_pkw *w, const void *key, size_t len)
{
    close_container(w, 'd', key, len);
}

bool gt_pkw_dict_ref(struct gt_pkw *w, const void *key, size_t len)
{
    int64_t i = memo_find(w, 'd', key, len);
    if (i < 0)
        return false;
    index_op(w, OP_BINGET, OP_LONG_BINGET, (uint32_t)i);
    counted(w);
    return true;
}
void gt_pkw_list_begin(struct gt_pkw *w)
{
    open_container(w, 'l');
}
void gt_pkw_list_end(struct gt_pkw *w)
{
    close_container(w, 'l', NULL, 0);
}
void gt_pkw_tuple_begin(struct gt_pkw *w)
{
    open_container(w, 't');
}
void gt_pkw_tuple_end(struct gt_pkw *w)
{
    close_container(w, 't', NULL, 0);
}

/* The length of the valid UTF-8 sequence at s, or 0 if there is none. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned lo, hi;
    size_t need;

    if (s[0] < 0x80)
        return 1;
    need = (size_t)gt_units_utf8_lead(s[0], &lo, &hi);
    if (need == 0)
        return 0;
    for (size_t i = 1; i <= need; i++) {
        if (s[i] < lo || s[i] > hi)
            return 0; /* also stops at the terminating NUL */
        lo = 0x80, hi = 0xbf;
    }
    return need + 1;
}

/* The bytes of s once every invalid byte is replaced by U+FFFD (3 bytes). */
static uint64_t clean_len(const unsigned char *s)
{
    uint64_t n = 0;
    while (*s) {
        size_t k = utf8_len(s);
        n += k ? k : 3;
        s += k ? k : 1;
    }
    return n;
}

void gt_pkw_str(struct gt_pkw *w, const char *text)
{
    static const unsigned char replacement[3] = {0xef, 0xbf, 0xbd};
    const unsigned char *s = (const unsigned char *)(text != NULL ? text : "");
    uint64_t n = clean_len(s);

    if (n > UINT32_MAX) {
        w->rc = w->rc ? w->rc : GT_EINVAL;
        return;
    }
    size_t raw = strlen((const char *)s);
    int64_t seen = memo_find(w, 's', s, raw);
    if (seen >= 0) {
        index_op(w, OP_BINGET, OP_LONG_BINGET, (uint32_t)seen);
        counted(w);
        return;
    }
    op(w, OP_BINUNICODE);
    le(w, n, 4);
    while (*s) {
        size_t k = utf8_len(s);
        if (k)
            put(w, s, k);
        else
            put(w, replacement, sizeof replacement);
        s += k ? k : 1;
    }
    memo_store(w, 's', text != NULL ? text : "", raw);
    counted(w);
}

/* LONG1: the shortest little-endian two's complement of v. */
static void long1(struct gt_pkw *w, int64_t v)
{
    uint64_t bits = (uint64_t)v;
    bool negative = v < 0;
    size_t n = 8;
    while (n > 1) {
        unsigned top = (unsigned)(bits >> (8 * (n - 1))) & 0xff;
        unsigned next_sign = (unsigned)(bits >> (8 * (n - 2) + 7)) & 1;
        if ((negative && top == 0xff && next_sign) || (!negative && top == 0 && !next_sign))
            n--;
        else
            break;
    }
    op(w, OP_LONG1);
    op(w, (int)n);
    le(w, bits, n);
}

void gt_pkw_int(struct gt_pkw *w, int64_t v)
{
    if (v >= 0 && v < 256) {
        op(w, OP_BININT1);
        le(w, (uint64_t)v, 1);
    } else if (v >= 0 && v < 65536) {
        op(w, OP_BININT2);
        le(w, (uint64_t)v, 2);
    } else if (v >= INT32_MIN && v <= INT32_MAX) {
        op(w, OP_BININT);
        le(w, (uint64_t)v, 4);
    } else {
        long1(w, v);
    }
    counted(w);
}

void gt_pkw_uint(struct gt_pkw *w, uint64_t v)
{
    if (v <= INT64_MAX) {
        gt_pkw_int(w, (int64_t)v);
        return;
    }
    /* past INT64_MAX: the 8 bytes and a zero sign byte */
    op(w, OP_LONG1);
    op(w, 9);
    le(w, v, 8);
    op(w, 0);
    counted(w);
}

void gt_pkw_bool(struct gt_pkw *w, bool v)
{
    op(w, v ? OP_NEWTRUE : OP_NEWFALSE);
    counted(w);
}

void gt_pkw_float(struct gt_pkw *w, double v)
{
    uint64_t bits;
    unsigned char b[8];
    memcpy(&bits, &v, sizeof bits);
    for (int i = 0; i < 8; i++)
        b[i] = (unsigned char)(bits >> (56 - 8 * i)); /* BINFLOAT is big-endian */
    op(w, OP_BINFLOAT);
    put(w, b, sizeof b);
    counted(w);
}

void gt_pkw_key_str(struct gt_pkw *w, const char *key, const char *v)
{
    gt_pkw_str(w, key);
    gt_pkw_str(w, v);
}

void gt_pkw_key_int(struct gt_pkw *w, const char *key, int64_t v)
{
    gt_pkw_str(w, key);
    gt_pkw_int(w, v);
}

void gt_pkw_key_uint(struct gt_pkw *w, const char *key, uint64_t v)
{
    gt_pkw_str(w, key);
    gt_pkw_uint(w, v);
}

void gt_pkw_key_bool(struct gt_pkw *w, const char *key, bool v)
{
    gt_pkw_str(w, key);
    gt_pkw_bool(w, v);
}
