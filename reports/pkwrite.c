/* A streaming Python pickle writer (pkwrite.h). The opcodes are those of
 * protocol 2 that Python's pickle module itself emits for these types, so
 * any Python 3 (and gpu-trace's own decoder, pickle.h) loads the result. */
#include "gputrace/pkwrite.h"
#include "gputrace/err.h"
#include "gputrace/units.h"

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
};

static void put(struct gt_pkw *w, const void *p, size_t n)
{
    if (w->rc == 0 && fwrite(p, 1, n, w->f) != n)
        w->rc = GT_EIO;
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
    return w->rc;
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

static void close_container(struct gt_pkw *w, char kind)
{
    if (w->depth == 0 || w->kind[w->depth - 1] != kind) {
        w->rc = w->rc ? w->rc : GT_EINVAL;
        return;
    }
    if (kind == 'd' && w->items[w->depth - 1] % 2 != 0)
        w->rc = w->rc ? w->rc : GT_EINVAL; /* a key without its value */
    op(w, kind == 'd' ? OP_SETITEMS : kind == 'l' ? OP_APPENDS : OP_TUPLE);
    w->depth--;
    counted(w);
}

void gt_pkw_dict_begin(struct gt_pkw *w)
{
    open_container(w, 'd');
}
void gt_pkw_dict_end(struct gt_pkw *w)
{
    close_container(w, 'd');
}
void gt_pkw_list_begin(struct gt_pkw *w)
{
    open_container(w, 'l');
}
void gt_pkw_list_end(struct gt_pkw *w)
{
    close_container(w, 'l');
}
void gt_pkw_tuple_begin(struct gt_pkw *w)
{
    open_container(w, 't');
}
void gt_pkw_tuple_end(struct gt_pkw *w)
{
    close_container(w, 't');
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
    const unsigned char *s = (const unsigned char *)(text ? text : "");
    uint64_t n = clean_len(s);

    if (n > UINT32_MAX) {
        w->rc = w->rc ? w->rc : GT_EINVAL;
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
