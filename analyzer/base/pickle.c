/* The safe pickle decoder of pickle.h.
 *
 * A pickle is a program for a small stack machine. This file runs that
 * machine with every opcode that imports or calls code removed, so the only
 * things it can build are plain values. Inputs are hostile until proven
 * otherwise: every read is bounds-checked against the buffer, every length
 * against the bytes that remain, every pop against the innermost MARK.
 *
 * Memory: nodes, strings and item arrays live in one arena freed at once by
 * gt_pickle_free; everything an opcode allocates is proportional to the bytes
 * it consumed, so a document is linear in its file. The stack, the marks and
 * the memo are scratch freed when decoding ends; the dict key index stays
 * with the document, so gt_pk_get finds a key of a large dict in constant
 * time however many places share that dict through the memo. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "gputrace/err.h"
#include "gputrace/files.h"
#include "gputrace/pickle.h"
#include "gputrace/text.h"

#include "gputrace/banned.h"

/* Arena blocks start small so a tiny pickle costs little, and double up to
 * ARENA_CHUNK_MAX so a large one needs few mallocs. */
#define ARENA_CHUNK_MIN ((size_t)64 << 10)
#define ARENA_CHUNK_MAX ((size_t)4 << 20)
#define ARENA_ALIGN 8

/* The densest pickles (a list of fresh empty containers) need about 72 bytes
 * of nodes per input byte; the shared snapshots need 5 to 7 (their strings
 * and frames are memoized). The limit is a backstop should an opcode ever
 * allocate more than its bytes justify. */
#define EXPANSION_LIMIT 96
#define EXPANSION_SLACK ((size_t)16 << 20)

/* Dicts up to this size find keys by a linear scan (snapshot dicts have 3 to
 * 12 keys); larger ones go into the hash index so SETITEMS, and every later
 * gt_pk_get, stays linear. */
#define DICT_LINEAR_MAX 8

/* Names in refusal messages are cut here: a hostile file chooses them. */
#define NAME_MAX_SHOWN 80

_Static_assert(_Alignof(struct gt_pk) <= ARENA_ALIGN, "arena alignment too small for nodes");
_Static_assert(sizeof(double) == 8, "BINFLOAT needs a 64-bit double");

/* Invariant: data of a chunk is chunk + 1, used <= size. */
struct chunk {
    struct chunk *next;
    size_t size;
    size_t used;
    size_t pad; /* keeps data 16-byte aligned like malloc's own result */
};
_Static_assert(sizeof(struct chunk) % 16 == 0, "chunk header breaks alignment");

/* Invariant: total is the sum of chunk sizes and never exceeds limit;
 * head is the chunk that small allocations bump from. */
struct arena {
    struct chunk *head;
    size_t total;
    size_t limit;
    size_t next_size;
    bool over_limit; /* the last failure was the limit, not malloc */
};

/* A list, tuple or dict. pk comes first, so a container's struct gt_pk
 * pointer is also its box pointer.
 * Invariants: pk.u.seq.n <= cap (dict: pk.u.dict.n <= cap); once frozen the
 * contents never change, which makes cycles impossible and depth exact: a
 * container is frozen when it is stored in another, and a frozen one is never
 * written again. depth is 1 + the deepest item ever stored. */
struct box {
    struct gt_pk pk;
    size_t cap;
    uint32_t depth;
    bool frozen;
    const struct keyindex *index; /* holds its keys; NULL for a small dict */
};

/* One key of a large dict. An empty slot has dict == NULL. */
struct keyslot {
    const struct box *dict;
    uint64_t hash;
    size_t idx;
};

/* Open addressing with linear probing; cap is a power of two, n * 2 < cap. */
struct keyindex {
    struct keyslot *slots;
    size_t cap;
    size_t n;
};

/* The document: nodes in the arena, the key index of its large dicts. */
struct gt_pickle {
    struct arena arena;
    struct gt_pk *root;
    struct keyindex keys;
};

struct dec;

struct op {
    const char *name;
    int (*run)(struct dec *d);
    const char *refusal; /* what the opcode would do, for op_refuse */
};

struct dec {
    const unsigned char *buf;
    size_t len;
    size_t pos;    /* next byte to read */
    size_t op_pos; /* offset of the opcode being run */
    const struct op *op;
    struct arena *arena;
    struct gt_pk **stack;
    size_t sp;
    size_t stack_cap;
    size_t *marks; /* stack heights saved by MARK */
    size_t nmarks;
    size_t marks_cap;
    struct gt_pk **memo; /* NULL where nothing was stored */
    size_t memo_cap;
    size_t memo_used;      /* stored entries: the index MEMOIZE uses next */
    struct keyindex *keys; /* the document's */
    struct gt_pk *none;
    struct gt_pk *yes;
    struct gt_pk *no;
    struct gt_pk *root;
    char *err;
    size_t errlen;
    int rc;
};

/* Sets the decoder's sticky code and its message; returns the code. */
#define fail(d, code, ...) ((d)->rc = gt_errf((d)->err, (d)->errlen, (code), __VA_ARGS__))

/* ---- arena ---- */

static void arena_release(struct arena *a)
{
    struct chunk *c = a->head;

    while (c != NULL) {
        struct chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->total = 0;
}

static struct chunk *arena_chunk(struct arena *a, size_t size)
{
    struct chunk *c;

    if (size > a->limit - a->total) {
        a->over_limit = true;
        return NULL;
    }
    c = malloc(sizeof *c + size);
    if (c == NULL)
        return NULL;
    c->size = size;
    c->used = 0;
    a->total += size;
    return c;
}

/* Returns n bytes aligned to ARENA_ALIGN, or NULL (over_limit says why). A
 * large request gets its own chunk behind head, so the free tail of head
 * stays usable for the small nodes that follow. */
static void *arena_alloc(struct arena *a, size_t n)
{
    struct chunk *c = a->head;

    if (n > SIZE_MAX - ARENA_ALIGN)
        return NULL;
    n = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
    if (c == NULL || c->size - c->used < n) {
        bool big = n > a->next_size / 4;
        c = arena_chunk(a, big ? n : a->next_size);
        if (c == NULL)
            return NULL;
        if (big && a->head != NULL) {
            c->next = a->head->next;
            a->head->next = c;
        } else {
            c->next = a->head;
            a->head = c;
            if (a->next_size < ARENA_CHUNK_MAX)
                a->next_size *= 2;
        }
    }
    c->used += n;
    return (unsigned char *)(c + 1) + c->used - n;
}

static void *alloc(struct dec *d, size_t n)
{
    void *p = arena_alloc(d->arena, n);

    if (p != NULL)
        return p;
    if (d->arena->over_limit)
        fail(d, GT_EUNSUPPORTED,
             "opcode %s at byte %zu: the document would need more than %zu bytes of memory for a "
             "%zu-byte file",
             d->op->name, d->op_pos, d->arena->limit, d->len);
    else
        fail(d, GT_ENOMEM, "out of memory at opcode %s at byte %zu", d->op->name, d->op_pos);
    return NULL;
}

/* Grows a malloc'd scratch array to hold at least want elements. */
static void *grow_scratch(void *p, size_t *cap, size_t want, size_t elem)
{
    size_t n = *cap < 16 ? 16 : *cap;
    void *q;

    while (n < want) {
        if (n > SIZE_MAX / 2 / elem)
            return NULL;
        n *= 2;
    }
    if (n > SIZE_MAX / elem)
        return NULL;
    q = realloc(p, n * elem);
    if (q != NULL)
        *cap = n;
    return q;
}

static int scratch_oom(struct dec *d)
{
    return fail(d, GT_ENOMEM, "out of memory at opcode %s at byte %zu", d->op->name, d->op_pos);
}

/* ---- reading arguments ---- */

static int need(struct dec *d, size_t n)
{
    if (d->len - d->pos >= n)
        return 0;
    return fail(d, GT_ECORRUPT,
                "truncated: opcode %s at byte %zu needs %zu bytes of argument, the file ends at "
                "byte %zu",
                d->op->name, d->op_pos, n, d->len);
}

static uint64_t le(const unsigned char *p, size_t n)
{
    uint64_t v = 0;

    for (size_t i = n; i-- > 0;)
        v = v << 8 | p[i];
    return v;
}

/* Reads an n-byte little-endian unsigned argument. */
static int arg_uint(struct dec *d, size_t n, uint64_t *out)
{
    int rc = need(d, n);

    if (rc != 0)
        return rc;
    *out = le(d->buf + d->pos, n);
    d->pos += n;
    return 0;
}

/* Checks that a payload of n bytes announced by the opcode fits the file. */
static int payload(struct dec *d, uint64_t n)
{
    if (n <= d->len - d->pos)
        return 0;
    return fail(d, GT_ECORRUPT,
                "opcode %s at byte %zu: length %" PRIu64 " runs past the end of the file at "
                "byte %zu",
                d->op->name, d->op_pos, n, d->len);
}

/* A text argument of the protocol 0 opcodes: the bytes up to '\n'. */
static bool next_line(struct dec *d, const char **s, size_t *n)
{
    const unsigned char *start = d->buf + d->pos;
    const unsigned char *nl = memchr(start, '\n', d->len - d->pos);

    if (nl == NULL)
        return false;
    *s = (const char *)start;
    *n = (size_t)(nl - start);
    d->pos += *n + 1;
    return true;
}

static int arg_line(struct dec *d, const char **s, size_t *n)
{
    if (next_line(d, s, n))
        return 0;
    return fail(d, GT_ECORRUPT, "truncated: opcode %s at byte %zu has no end of line", d->op->name,
                d->op_pos);
}

/* Parses an optionally signed decimal that fits int64_t. Returns 0, or
 * GT_ERANGE when it does not fit, or GT_EINVAL when it is not a number. */
static int parse_dec(const char *s, size_t n, int64_t *out)
{
    bool neg = n > 0 && s[0] == '-';
    size_t i = (n > 0 && (s[0] == '-' || s[0] == '+')) ? 1 : 0;
    uint64_t v = 0;
    uint64_t max = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;

    if (i == n)
        return GT_EINVAL;
    for (; i < n; i++) {
        unsigned digit = (unsigned)(s[i] - '0');
        if (digit > 9)
            return GT_EINVAL;
        if (v > (max - digit) / 10)
            return GT_ERANGE;
        v = v * 10 + digit;
    }
    if (neg)
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    else
        *out = (int64_t)v;
    return 0;
}

/* ---- the stack ---- */

static size_t fence(const struct dec *d)
{
    return d->nmarks > 0 ? d->marks[d->nmarks - 1] : 0;
}

static int underflow(struct dec *d)
{
    return fail(d, GT_ECORRUPT, "opcode %s at byte %zu: stack underflow", d->op->name, d->op_pos);
}

static int push(struct dec *d, struct gt_pk *v)
{
    if (d->sp == d->stack_cap) {
        struct gt_pk **s = grow_scratch(d->stack, &d->stack_cap, d->sp + 1, sizeof *s);
        if (s == NULL)
            return scratch_oom(d);
        d->stack = s;
    }
    d->stack[d->sp++] = v;
    return 0;
}

/* Like Python, a pop never reaches below the innermost MARK. */
static int pop(struct dec *d, struct gt_pk **v)
{
    if (d->sp <= fence(d))
        return underflow(d);
    *v = d->stack[--d->sp];
    return 0;
}

static int top(struct dec *d, struct gt_pk **v)
{
    if (d->sp <= fence(d))
        return underflow(d);
    *v = d->stack[d->sp - 1];
    return 0;
}

/* Pops the innermost MARK: the items above it are stack[*k .. sp). */
static int pop_mark(struct dec *d, size_t *k)
{
    if (d->nmarks == 0)
        return fail(d, GT_ECORRUPT, "opcode %s at byte %zu needs a MARK but none is open",
                    d->op->name, d->op_pos);
    *k = d->marks[--d->nmarks];
    return 0;
}

/* ---- nodes ---- */

static bool is_container(const struct gt_pk *v)
{
    return v->type == GT_PK_LIST || v->type == GT_PK_TUPLE || v->type == GT_PK_DICT;
}

static struct box *as_box(struct gt_pk *v)
{
    return (struct box *)v;
}

static const char *type_name(enum gt_pk_type t)
{
    static const char *const names[] = {
        [GT_PK_NONE] = "None",   [GT_PK_BOOL] = "bool",   [GT_PK_INT] = "int",
        [GT_PK_BIGINT] = "int",  [GT_PK_FLOAT] = "float", [GT_PK_STR] = "str",
        [GT_PK_BYTES] = "bytes", [GT_PK_LIST] = "list",   [GT_PK_TUPLE] = "tuple",
        [GT_PK_DICT] = "dict",
    };

    return (size_t)t < sizeof names / sizeof names[0] ? names[t] : "value";
}

static struct gt_pk *new_scalar(struct dec *d, enum gt_pk_type t)
{
    struct gt_pk *v = alloc(d, sizeof *v);

    if (v != NULL) {
        memset(v, 0, sizeof *v);
        v->type = t;
    }
    return v;
}

static int push_int(struct dec *d, int64_t i)
{
    struct gt_pk *v = new_scalar(d, GT_PK_INT);

    if (v == NULL)
        return d->rc;
    v->u.i = i;
    return push(d, v);
}

/* A str, bytes or big int node followed by its NUL-terminated copy of the
 * payload, in one allocation. */
static int push_blob(struct dec *d, enum gt_pk_type t, const unsigned char *src, size_t n)
{
    struct gt_pk *v = NULL;
    char *s;

    if (n > SIZE_MAX - sizeof *v - 1)
        return scratch_oom(d);
    v = alloc(d, sizeof *v + n + 1);
    if (v == NULL)
        return d->rc;
    s = (char *)(v + 1);
    if (n > 0)
        memcpy(s, src, n);
    s[n] = '\0';
    v->type = t;
    v->u.str.s = s;
    v->u.str.len = n;
    return push(d, v);
}

/* Index of the first byte that is not UTF-8, or n. Surrogates pass because
 * Python pickles str with the surrogatepass error handler. */
static size_t utf8_bad(const unsigned char *s, size_t n)
{
    size_t i = 0;

    while (i < n) {
        uint64_t w;
        unsigned c = s[i];
        size_t k = 0;
        uint32_t cp;

        if (n - i >= 8) {
            memcpy(&w, s + i, 8);
            if ((w & UINT64_C(0x8080808080808080)) == 0) {
                i += 8;
                continue;
            }
        }
        if (c < 0x80) {
            i++;
            continue;
        }
        if (c >= 0xc2 && c <= 0xdf)
            k = 1, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
            k = 2, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
            k = 3, cp = c & 0x07;
        else
            return i;
        if (n - i <= k)
            return i;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return i;
            cp = cp << 6 | (s[i + j] & 0x3fu);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10ffff)))
            return i;
        i += k + 1;
    }
    return n;
}

/* Pushes a str or bytes payload of n bytes at the read position. */
static int push_payload(struct dec *d, enum gt_pk_type t, uint64_t n)
{
    const unsigned char *src = d->buf + d->pos;
    int rc = payload(d, n);

    if (rc != 0)
        return rc;
    if (t == GT_PK_STR) {
        size_t bad = utf8_bad(src, (size_t)n);
        if (bad < n)
            return fail(d, GT_ECORRUPT, "opcode %s at byte %zu: invalid UTF-8 at byte %zu",
                        d->op->name, d->op_pos, d->pos + bad);
    }
    d->pos += (size_t)n;
    return push_blob(d, t, src, (size_t)n);
}

static struct box *new_box(struct dec *d, enum gt_pk_type t, size_t cap)
{
    size_t arrays = t == GT_PK_DICT ? 2 : 1;
    struct box *b = NULL;

    if (cap > (SIZE_MAX - sizeof *b) / arrays / sizeof(struct gt_pk *)) {
        scratch_oom(d);
        return NULL;
    }
    b = alloc(d, sizeof *b + cap * arrays * sizeof(struct gt_pk *));
    if (b == NULL)
        return NULL;
    memset(b, 0, sizeof *b);
    b->pk.type = t;
    b->cap = cap;
    b->depth = 1;
    if (cap == 0)
        return b;
    if (t == GT_PK_DICT) {
        b->pk.u.dict.keys = (struct gt_pk **)(b + 1);
        b->pk.u.dict.vals = b->pk.u.dict.keys + cap;
    } else {
        b->pk.u.seq.items = (struct gt_pk **)(b + 1);
    }
    return b;
}

/* Records that child is stored in parent: freezes child and keeps the
 * parent's depth. Refuses what would make a cycle or nest too deep. */
static int adopt(struct dec *d, struct box *parent, struct gt_pk *child)
{
    struct box *c;

    if (!is_container(child))
        return 0;
    c = as_box(child);
    if (c == parent)
        return fail(d, GT_EUNSUPPORTED,
                    "opcode %s at byte %zu puts a %s into itself: recursive structures are not "
                    "supported",
                    d->op->name, d->op_pos, type_name(c->pk.type));
    c->frozen = true;
    if (c->depth >= parent->depth) {
        if (c->depth >= GT_PICKLE_MAX_DEPTH)
            return fail(d, GT_EUNSUPPORTED,
                        "opcode %s at byte %zu nests containers deeper than %d levels", d->op->name,
                        d->op_pos, GT_PICKLE_MAX_DEPTH);
        parent->depth = c->depth + 1;
    }
    return 0;
}

/* A container may change only while no other container holds it. */
static int writable(struct dec *d, struct box *b)
{
    if (!b->frozen)
        return 0;
    return fail(d, GT_EUNSUPPORTED,
                "opcode %s at byte %zu changes a %s already stored in another container: "
                "recursive structures are not supported",
                d->op->name, d->op_pos, type_name(b->pk.type));
}

/* Makes room for want items; doubling keeps appends amortized O(1). The old
 * array stays in the arena: at most as much again as the final one. */
static int reserve(struct dec *d, struct box *b, size_t want)
{
    bool dict = b->pk.type == GT_PK_DICT;
    size_t cap = b->cap < 4 ? 4 : b->cap;
    size_t n = dict ? b->pk.u.dict.n : b->pk.u.seq.n;
    struct gt_pk **a;

    if (want <= b->cap)
        return 0;
    while (cap < want) {
        if (cap > SIZE_MAX / 4 / sizeof *a)
            return scratch_oom(d);
        cap *= 2;
    }
    a = alloc(d, cap * (dict ? 2 : 1) * sizeof *a);
    if (a == NULL)
        return d->rc;
    if (dict) {
        if (n > 0) {
            memcpy(a, b->pk.u.dict.keys, n * sizeof *a);
            memcpy(a + cap, b->pk.u.dict.vals, n * sizeof *a);
        }
        b->pk.u.dict.keys = a;
        b->pk.u.dict.vals = a + cap;
    } else {
        if (n > 0)
            memcpy(a, b->pk.u.seq.items, n * sizeof *a);
        b->pk.u.seq.items = a;
    }
    b->cap = cap;
    return 0;
}

static int seq_append(struct dec *d, struct box *b, struct gt_pk *item)
{
    int rc = adopt(d, b, item);

    if (rc == 0)
        rc = reserve(d, b, b->pk.u.seq.n + 1);
    if (rc == 0)
        b->pk.u.seq.items[b->pk.u.seq.n++] = item;
    return rc;
}

/* ---- dict keys ----
 * Keys compare like Python's for the hashable scalars: 1, 1.0 and True are
 * one key; str and bytes compare by content. Containers (Python allows only
 * tuples) are one key only when they are the same node, and a float never
 * equals a big int: snapshots use neither, and exact rules would cost a
 * bignum library or an exponential walk of a shared tuple DAG. */

static bool exact_int(const struct gt_pk *k, int64_t *out)
{
    switch (k->type) {
    case GT_PK_BOOL:
        *out = k->u.b;
        return true;
    case GT_PK_INT:
        *out = k->u.i;
        return true;
    case GT_PK_FLOAT:
        /* The range test comes first: converting an out-of-range double is UB. */
        if (k->u.f >= -0x1p63 && k->u.f < 0x1p63 && (double)(int64_t)k->u.f == k->u.f) {
            *out = (int64_t)k->u.f;
            return true;
        }
        return false;
    default:
        return false;
    }
}

static bool same_blob(const struct gt_pk *a, const struct gt_pk *b)
{
    return a->u.str.len == b->u.str.len && memcmp(a->u.str.s, b->u.str.s, a->u.str.len) == 0;
}

static bool key_eq(const struct gt_pk *a, const struct gt_pk *b)
{
    int64_t x, y;

    if (a == b)
        return true;
    if (exact_int(a, &x))
        return exact_int(b, &y) && x == y;
    if (a->type != b->type || exact_int(b, &y))
        return false;
    switch (a->type) {
    case GT_PK_NONE:
        return true;
    case GT_PK_FLOAT:
        return a->u.f == b->u.f;
    case GT_PK_STR:
    case GT_PK_BYTES:
    case GT_PK_BIGINT:
        return same_blob(a, b);
    default:
        return false;
    }
}

static uint64_t mix(uint64_t h)
{
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h *= UINT64_C(0xc4ceb9fe1a85ec53);
    h ^= h >> 33;
    return h;
}

static uint64_t hash_bytes(const char *s, size_t n, uint64_t seed)
{
    uint64_t h = seed ^ n;
    uint64_t w;
    size_t i = 0;

    for (; n - i >= 8; i += 8) {
        memcpy(&w, s + i, 8);
        h = (h ^ w) * UINT64_C(0x9e3779b97f4a7c15);
        h ^= h >> 29;
    }
    for (; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * UINT64_C(0x100000001b3);
    return mix(h);
}

/* Equal keys (key_eq) hash alike. */
static uint64_t key_hash(const struct gt_pk *k)
{
    int64_t i = 0;
    uint64_t bits;

    if (exact_int(k, &i))
        return mix((uint64_t)i);
    switch (k->type) {
    case GT_PK_NONE:
        return 0x4e4f4e45;
    case GT_PK_FLOAT:
        /* A NaN equals no other key: hashed by its bits, every NaN of a
         * hostile dict would share one probe chain (quadratic work). */
        if (k->u.f != k->u.f)
            return mix((uint64_t)(uintptr_t)k);
        memcpy(&bits, &k->u.f, sizeof bits);
        return mix(bits ^ 0x464c4f4154);
    case GT_PK_STR:
        return hash_bytes(k->u.str.s, k->u.str.len, 1);
    case GT_PK_BYTES:
        return hash_bytes(k->u.str.s, k->u.str.len, 2);
    case GT_PK_BIGINT:
        return hash_bytes(k->u.str.s, k->u.str.len, 3);
    default:
        return mix((uint64_t)(uintptr_t)k);
    }
}

static size_t slot_of(const struct keyindex *ix, const struct box *dict, uint64_t h)
{
    return (size_t)mix(h ^ (uint64_t)(uintptr_t)dict) & (ix->cap - 1);
}

/* Index of key k in an indexed dict, or SIZE_MAX. */
static size_t index_find(const struct keyindex *ix, const struct box *dict, const struct gt_pk *k,
                         uint64_t h)
{
    for (size_t s = slot_of(ix, dict, h);; s = (s + 1) & (ix->cap - 1)) {
        const struct keyslot *e = &ix->slots[s];
        if (e->dict == NULL)
            return SIZE_MAX;
        if (e->dict == dict && e->hash == h && key_eq(dict->pk.u.dict.keys[e->idx], k))
            return e->idx;
    }
}

static void index_place(struct keyindex *ix, const struct box *dict, uint64_t h, size_t idx)
{
    size_t s = slot_of(ix, dict, h);

    while (ix->slots[s].dict != NULL)
        s = (s + 1) & (ix->cap - 1);
    ix->slots[s] = (struct keyslot){dict, h, idx};
    ix->n++;
}

static int index_grow(struct dec *d)
{
    struct keyindex old = *d->keys;
    size_t cap = old.cap == 0 ? 1024 : old.cap;

    while ((old.n + 1) * 2 >= cap) {
        if (cap > SIZE_MAX / 2 / sizeof *old.slots)
            return scratch_oom(d);
        cap *= 2;
    }
    if (cap == old.cap)
        return 0;
    d->keys->slots = calloc(cap, sizeof *old.slots);
    if (d->keys->slots == NULL) {
        *d->keys = old;
        return scratch_oom(d);
    }
    d->keys->cap = cap;
    d->keys->n = 0;
    for (size_t i = 0; i < old.cap; i++) {
        if (old.slots[i].dict != NULL)
            index_place(d->keys, old.slots[i].dict, old.slots[i].hash, old.slots[i].idx);
    }
    free(old.slots);
    return 0;
}

static int index_add(struct dec *d, const struct box *dict, size_t idx)
{
    int rc = index_grow(d);

    if (rc == 0)
        index_place(d->keys, dict, key_hash(dict->pk.u.dict.keys[idx]), idx);
    return rc;
}

/* Index of key k in dict b, or SIZE_MAX: by the hash index for a large
 * dict, by a scan of at most DICT_LINEAR_MAX keys otherwise. */
static size_t dict_find_in(const struct box *b, const struct gt_pk *k)
{
    if (b->index != NULL)
        return index_find(b->index, b, k, key_hash(k));
    for (size_t i = 0; i < b->pk.u.dict.n; i++)
        if (key_eq(b->pk.u.dict.keys[i], k))
            return i;
    return SIZE_MAX;
}

/* d[k] = v with Python's semantics: a known key keeps its place and its
 * first key node, and takes the new value. */
static int dict_set(struct dec *d, struct box *b, struct gt_pk *k, struct gt_pk *v)
{
    size_t i = dict_find_in(b, k);
    size_t n = b->pk.u.dict.n;
    int rc = adopt(d, b, k);

    if (rc == 0)
        rc = adopt(d, b, v);
    if (rc != 0)
        return rc;
    if (i != SIZE_MAX) {
        b->pk.u.dict.vals[i] = v;
        return 0;
    }
    rc = reserve(d, b, n + 1);
    if (rc != 0)
        return rc;
    b->pk.u.dict.keys[n] = k;
    b->pk.u.dict.vals[n] = v;
    b->pk.u.dict.n = n + 1;
    if (b->index != NULL)
        return index_add(d, b, n);
    if (n + 1 > DICT_LINEAR_MAX) {
        b->index = d->keys;
        for (size_t j = 0; j <= n && rc == 0; j++)
            rc = index_add(d, b, j);
    }
    return rc;
}

/* ---- memo ---- */

static int memo_put(struct dec *d, uint64_t idx)
{
    struct gt_pk *v = NULL;
    int rc = top(d, &v);

    if (rc != 0)
        return rc;
    /* A pickler numbers its memo from 0, one entry per PUT of at least one
     * byte: a larger index is damage, and must not size the memo array. */
    if (idx >= d->len)
        return fail(d, GT_ECORRUPT, "opcode %s at byte %zu: memo index %" PRIu64 " is out of range",
                    d->op->name, d->op_pos, idx);
    if (idx >= d->memo_cap) {
        size_t old = d->memo_cap;
        struct gt_pk **m = grow_scratch(d->memo, &d->memo_cap, (size_t)idx + 1, sizeof *m);
        if (m == NULL)
            return scratch_oom(d);
        memset(m + old, 0, (d->memo_cap - old) * sizeof *m);
        d->memo = m;
    }
    if (d->memo[idx] == NULL)
        d->memo_used++;
    d->memo[idx] = v;
    return 0;
}

static int memo_get(struct dec *d, uint64_t idx)
{
    if (idx >= d->memo_cap || d->memo[idx] == NULL)
        return fail(d, GT_ECORRUPT,
                    "opcode %s at byte %zu reads memo entry %" PRIu64 ", which was never stored",
                    d->op->name, d->op_pos, idx);
    return push(d, d->memo[idx]);
}

/* ---- opcodes ---- */

static int op_proto(struct dec *d)
{
    uint64_t v = 0;
    int rc = arg_uint(d, 1, &v);

    if (rc != 0)
        return rc;
    if (v > 5)
        return fail(d, d->op_pos == 0 ? GT_EFOREIGN : GT_ECORRUPT,
                    "pickle protocol %" PRIu64 " at byte %zu is newer than 5, the latest known", v,
                    d->op_pos);
    return 0;
}

/* The decoder sees the whole file at once, so a frame needs no buffering:
 * only its length is checked. */
static int op_frame(struct dec *d)
{
    uint64_t n = 0;
    int rc = arg_uint(d, 8, &n);

    if (rc != 0)
        return rc;
    if (n > d->len - d->pos)
        return fail(d, GT_ECORRUPT,
                    "truncated: opcode FRAME at byte %zu announces %" PRIu64
                    " bytes, only %zu follow",
                    d->op_pos, n, d->len - d->pos);
    return 0;
}

static int op_mark(struct dec *d)
{
    if (d->nmarks == d->marks_cap) {
        size_t *m = grow_scratch(d->marks, &d->marks_cap, d->nmarks + 1, sizeof *m);
        if (m == NULL)
            return scratch_oom(d);
        d->marks = m;
    }
    d->marks[d->nmarks++] = d->sp;
    return 0;
}

static int op_stop(struct dec *d)
{
    return pop(d, &d->root);
}

/* Python's POP drops the innermost MARK when nothing is above it. */
static int op_pop(struct dec *d)
{
    struct gt_pk *v = NULL;

    if (d->sp <= fence(d) && d->nmarks > 0) {
        d->nmarks--;
        return 0;
    }
    return pop(d, &v);
}

static int op_pop_mark(struct dec *d)
{
    size_t k = 0;
    int rc = pop_mark(d, &k);

    if (rc == 0)
        d->sp = k;
    return rc;
}

static int op_dup(struct dec *d)
{
    struct gt_pk *v = NULL;
    int rc = top(d, &v);

    return rc != 0 ? rc : push(d, v);
}

static int op_none(struct dec *d)
{
    return push(d, d->none);
}

static int op_true(struct dec *d)
{
    return push(d, d->yes);
}

static int op_false(struct dec *d)
{
    return push(d, d->no);
}

static int op_binint(struct dec *d)
{
    uint64_t u = 0;
    int32_t v;
    uint32_t w;
    int rc = arg_uint(d, 4, &u);

    if (rc != 0)
        return rc;
    w = (uint32_t)u;
    memcpy(&v, &w, sizeof v); /* two's complement without an implementation-defined cast */
    return push_int(d, v);
}

static int op_binint1(struct dec *d)
{
    uint64_t u = 0;
    int rc = arg_uint(d, 1, &u);

    return rc != 0 ? rc : push_int(d, (int64_t)u);
}

static int op_binint2(struct dec *d)
{
    uint64_t u = 0;
    int rc = arg_uint(d, 2, &u);

    return rc != 0 ? rc : push_int(d, (int64_t)u);
}

/* n little-endian two's-complement bytes: an int64 when they fit, else a big
 * int holding the shortest encoding (so equal values compare equal). */
static int push_long(struct dec *d, const unsigned char *b, size_t n)
{
    uint64_t u = 0;
    int64_t v = 0;

    while (n > 1 &&
           ((b[n - 1] == 0x00 && !(b[n - 2] & 0x80)) || (b[n - 1] == 0xff && (b[n - 2] & 0x80))))
        n--;
    if (n > 8)
        return push_blob(d, GT_PK_BIGINT, b, n);
    u = le(b, n);
    if (n > 0 && n < 8 && (b[n - 1] & 0x80))
        u |= UINT64_MAX << (8 * n);
    memcpy(&v, &u, sizeof v);
    return push_int(d, v);
}

static int op_long(struct dec *d, size_t width)
{
    uint64_t n = 0;
    const unsigned char *b;
    int rc = arg_uint(d, width, &n);

    if (rc != 0)
        return rc;
    if (width == 4 && n > INT32_MAX)
        return fail(d, GT_ECORRUPT, "opcode LONG4 at byte %zu has a negative length", d->op_pos);
    rc = payload(d, n);
    if (rc != 0)
        return rc;
    b = d->buf + d->pos;
    d->pos += (size_t)n;
    return push_long(d, b, (size_t)n);
}

static int op_long1(struct dec *d)
{
    return op_long(d, 1);
}

static int op_long4(struct dec *d)
{
    return op_long(d, 4);
}

static int op_binfloat(struct dec *d)
{
    uint64_t bits = 0;
    struct gt_pk *v = NULL;
    int rc = need(d, 8);

    if (rc != 0)
        return rc;
    for (size_t i = 0; i < 8; i++) /* big-endian, unlike every other argument */
        bits = bits << 8 | d->buf[d->pos + i];
    d->pos += 8;
    v = new_scalar(d, GT_PK_FLOAT);
    if (v == NULL)
        return d->rc;
    memcpy(&v->u.f, &bits, sizeof v->u.f);
    return push(d, v);
}

/* str or bytes with a width-byte length. */
static int op_blob(struct dec *d, enum gt_pk_type t, size_t width)
{
    uint64_t n = 0;
    int rc = arg_uint(d, width, &n);

    return rc != 0 ? rc : push_payload(d, t, n);
}

static int op_short_binunicode(struct dec *d)
{
    return op_blob(d, GT_PK_STR, 1);
}

static int op_binunicode(struct dec *d)
{
    return op_blob(d, GT_PK_STR, 4);
}

static int op_binunicode8(struct dec *d)
{
    return op_blob(d, GT_PK_STR, 8);
}

static int op_short_binbytes(struct dec *d)
{
    return op_blob(d, GT_PK_BYTES, 1);
}

static int op_binbytes(struct dec *d)
{
    return op_blob(d, GT_PK_BYTES, 4);
}

static int op_binbytes8(struct dec *d)
{
    return op_blob(d, GT_PK_BYTES, 8);
}

/* Python 2 str: Python 3 reads it as str, so do we. */
static int op_short_binstring(struct dec *d)
{
    return op_blob(d, GT_PK_STR, 1);
}

static int op_binstring(struct dec *d)
{
    uint64_t n = 0;
    int rc = arg_uint(d, 4, &n);

    if (rc != 0)
        return rc;
    if (n > INT32_MAX)
        return fail(d, GT_ECORRUPT, "opcode BINSTRING at byte %zu has a negative length",
                    d->op_pos);
    return push_payload(d, GT_PK_STR, n);
}

static int op_empty_list(struct dec *d)
{
    struct box *b = new_box(d, GT_PK_LIST, 0);

    return b != NULL ? push(d, &b->pk) : d->rc;
}

static int op_empty_dict(struct dec *d)
{
    struct box *b = new_box(d, GT_PK_DICT, 0);

    return b != NULL ? push(d, &b->pk) : d->rc;
}

/* A list or tuple of stack[k .. sp), which it replaces. */
static int collect(struct dec *d, enum gt_pk_type t, size_t k)
{
    size_t n = d->sp - k;
    struct box *b = new_box(d, t, n);

    if (b == NULL)
        return d->rc;
    for (size_t i = 0; i < n; i++) {
        int rc = adopt(d, b, d->stack[k + i]);
        if (rc != 0)
            return rc;
        b->pk.u.seq.items[i] = d->stack[k + i];
    }
    b->pk.u.seq.n = n;
    d->sp = k;
    return push(d, &b->pk);
}

static int collect_mark(struct dec *d, enum gt_pk_type t)
{
    size_t k = 0;
    int rc = pop_mark(d, &k);

    return rc != 0 ? rc : collect(d, t, k);
}

static int op_empty_tuple(struct dec *d)
{
    return collect(d, GT_PK_TUPLE, d->sp);
}

static int collect_top(struct dec *d, size_t n)
{
    if (d->sp - fence(d) < n)
        return underflow(d);
    return collect(d, GT_PK_TUPLE, d->sp - n);
}

static int op_tuple1(struct dec *d)
{
    return collect_top(d, 1);
}

static int op_tuple2(struct dec *d)
{
    return collect_top(d, 2);
}

static int op_tuple3(struct dec *d)
{
    return collect_top(d, 3);
}

static int op_tuple(struct dec *d)
{
    return collect_mark(d, GT_PK_TUPLE);
}

/* LIST, and FROZENSET which this decoder reads as a list. */
static int op_list(struct dec *d)
{
    return collect_mark(d, GT_PK_LIST);
}

/* The container that APPENDS, SETITEMS or ADDITEMS fill: just below the
 * MARK k that they popped, and above the next MARK. */
static int target(struct dec *d, size_t k, enum gt_pk_type t, struct box **out)
{
    struct gt_pk *v = NULL;

    if (k == 0 || k <= fence(d))
        return underflow(d);
    v = d->stack[k - 1];
    if (v->type != t)
        return fail(d, GT_ECORRUPT, "opcode %s at byte %zu needs a %s to fill, not a %s",
                    d->op->name, d->op_pos, type_name(t), type_name(v->type));
    *out = as_box(v);
    return writable(d, *out);
}

static int op_append(struct dec *d)
{
    struct gt_pk *item = NULL;
    struct box *b = NULL;
    int rc = pop(d, &item);

    if (rc != 0)
        return rc;
    rc = target(d, d->sp, GT_PK_LIST, &b);
    return rc != 0 ? rc : seq_append(d, b, item);
}

/* APPENDS, and ADDITEMS for a set read as a list. */
static int op_appends(struct dec *d)
{
    size_t k = 0;
    struct box *b = NULL;
    int rc = pop_mark(d, &k);

    if (rc == 0)
        rc = target(d, k, GT_PK_LIST, &b);
    if (rc == 0)
        rc = reserve(d, b, b->pk.u.seq.n + (d->sp - k));
    for (size_t i = k; i < d->sp && rc == 0; i++)
        rc = seq_append(d, b, d->stack[i]);
    if (rc == 0)
        d->sp = k;
    return rc;
}

static int op_setitem(struct dec *d)
{
    struct gt_pk *k = NULL, *v = NULL;
    struct box *b = NULL;
    int rc = pop(d, &v);

    if (rc == 0)
        rc = pop(d, &k);
    if (rc == 0)
        rc = target(d, d->sp, GT_PK_DICT, &b);
    return rc != 0 ? rc : dict_set(d, b, k, v);
}

/* Stores the key/value pairs stack[k .. sp) into b. */
static int set_pairs(struct dec *d, struct box *b, size_t k)
{
    int rc = 0;

    if ((d->sp - k) % 2 != 0)
        return fail(d, GT_ECORRUPT, "opcode %s at byte %zu has a key without a value", d->op->name,
                    d->op_pos);
    for (size_t i = k; i < d->sp && rc == 0; i += 2)
        rc = dict_set(d, b, d->stack[i], d->stack[i + 1]);
    if (rc == 0)
        d->sp = k;
    return rc;
}

static int op_setitems(struct dec *d)
{
    size_t k = 0;
    struct box *b = NULL;
    int rc = pop_mark(d, &k);

    if (rc == 0)
        rc = target(d, k, GT_PK_DICT, &b);
    return rc != 0 ? rc : set_pairs(d, b, k);
}

static int op_dict(struct dec *d)
{
    size_t k = 0;
    struct box *b = NULL;
    int rc = pop_mark(d, &k);

    if (rc != 0)
        return rc;
    b = new_box(d, GT_PK_DICT, 0);
    if (b == NULL)
        return d->rc;
    rc = set_pairs(d, b, k);
    return rc != 0 ? rc : push(d, &b->pk);
}

static int op_binput(struct dec *d)
{
    uint64_t i = 0;
    int rc = arg_uint(d, 1, &i);

    return rc != 0 ? rc : memo_put(d, i);
}

static int op_long_binput(struct dec *d)
{
    uint64_t i = 0;
    int rc = arg_uint(d, 4, &i);

    return rc != 0 ? rc : memo_put(d, i);
}

static int op_memoize(struct dec *d)
{
    return memo_put(d, d->memo_used);
}

static int op_binget(struct dec *d)
{
    uint64_t i = 0;
    int rc = arg_uint(d, 1, &i);

    return rc != 0 ? rc : memo_get(d, i);
}

static int op_long_binget(struct dec *d)
{
    uint64_t i = 0;
    int rc = arg_uint(d, 4, &i);

    return rc != 0 ? rc : memo_get(d, i);
}

/* ---- protocol 0 text opcodes ---- */

static int bad_literal(struct dec *d, int rc)
{
    if (rc == GT_ERANGE)
        return fail(d, GT_EUNSUPPORTED,
                    "opcode %s at byte %zu: decimal integers beyond 64 bits are not supported",
                    d->op->name, d->op_pos);
    return fail(d, GT_ECORRUPT, "opcode %s at byte %zu: malformed number", d->op->name, d->op_pos);
}

static int op_int_text(struct dec *d)
{
    const char *s = NULL;
    size_t n = 0;
    int64_t v = 0;
    int rc = arg_line(d, &s, &n);

    if (rc != 0)
        return rc;
    /* Protocol 0 spells the booleans as INT 00 and 01. */
    if (n == 2 && s[0] == '0' && (s[1] == '0' || s[1] == '1'))
        return push(d, s[1] == '1' ? d->yes : d->no);
    rc = parse_dec(s, n, &v);
    return rc != 0 ? bad_literal(d, rc) : push_int(d, v);
}

static int op_long_text(struct dec *d)
{
    const char *s = NULL;
    size_t n = 0;
    int64_t v = 0;
    int rc = arg_line(d, &s, &n);

    if (rc != 0)
        return rc;
    if (n > 0 && s[n - 1] == 'L')
        n--;
    rc = parse_dec(s, n, &v);
    return rc != 0 ? bad_literal(d, rc) : push_int(d, v);
}

static int op_float_text(struct dec *d)
{
    char text[64];
    char *end;
    const char *s = NULL;
    size_t n = 0;
    struct gt_pk *v = NULL;
    int rc = arg_line(d, &s, &n);

    if (rc != 0)
        return rc;
    /* repr() of a double needs at most 24 characters; strtod wants a NUL. */
    if (n == 0 || n >= sizeof text)
        return bad_literal(d, GT_EINVAL);
    memcpy(text, s, n);
    text[n] = '\0';
    v = new_scalar(d, GT_PK_FLOAT);
    if (v == NULL)
        return d->rc;
    v->u.f = strtod(text, &end);
    if (end != text + n)
        return bad_literal(d, GT_EINVAL);
    return push(d, v);
}

static int memo_line(struct dec *d, int64_t *idx)
{
    const char *s = NULL;
    size_t n = 0;
    int rc = arg_line(d, &s, &n);

    if (rc != 0)
        return rc;
    if (parse_dec(s, n, idx) != 0 || *idx < 0)
        return fail(d, GT_ECORRUPT, "opcode %s at byte %zu: malformed memo index", d->op->name,
                    d->op_pos);
    return 0;
}

static int op_get_text(struct dec *d)
{
    int64_t i = 0;
    int rc = memo_line(d, &i);

    return rc != 0 ? rc : memo_get(d, (uint64_t)i);
}

static int op_put_text(struct dec *d)
{
    int64_t i = 0;
    int rc = memo_line(d, &i);

    return rc != 0 ? rc : memo_put(d, (uint64_t)i);
}

/* STRING and UNICODE quote with Python escapes; no snapshot uses them. */
static int op_text_string(struct dec *d)
{
    return fail(d, GT_EUNSUPPORTED,
                "opcode %s at byte %zu (a protocol 0 quoted string) is not supported", d->op->name,
                d->op_pos);
}

/* ---- refused opcodes ---- */

#define REFUSED "; refused: opening a snapshot never runs code"

/* A file-chosen name made safe for a one-line message. */
static void shown(char *out, size_t cap, const char *s, size_t n)
{
    size_t i = 0;

    for (; i < n && i + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        /* ASCII only: the name is quoted in a message that must stay one
         * valid line whatever bytes the file holds */
        out[i] = c >= 0x80 || c == '\'' ? '?' : gt_text_shown(c);
    }
    out[i] = '\0';
}

static int refuse_import(struct dec *d, const char *verb, const char *mod, size_t mn,
                         const char *name, size_t nn)
{
    char m[NAME_MAX_SHOWN + 1], n[NAME_MAX_SHOWN + 1];

    shown(m, sizeof m, mod, mn);
    shown(n, sizeof n, name, nn);
    return fail(d, GT_EUNSUPPORTED, "opcode %s at byte %zu would %s '%s %s'" REFUSED, d->op->name,
                d->op_pos, verb, m, n);
}

/* For GLOBAL, INST and STACK_GLOBAL when the name cannot be read. */
static int refuse_unnamed(struct dec *d)
{
    return fail(d, GT_EUNSUPPORTED, "opcode %s at byte %zu would %s a global" REFUSED, d->op->name,
                d->op_pos, d->op->refusal);
}

static int op_refuse(struct dec *d)
{
    return fail(d, GT_EUNSUPPORTED, "opcode %s at byte %zu would %s" REFUSED, d->op->name,
                d->op_pos, d->op->refusal);
}

/* GLOBAL and INST name what they import in two text lines; a damaged name
 * still gets the refusal, only without the name. */
static int op_global(struct dec *d)
{
    const char *mod, *name;
    size_t mn, nn;

    if (!next_line(d, &mod, &mn) || !next_line(d, &name, &nn))
        return refuse_unnamed(d);
    return refuse_import(d, d->op->refusal, mod, mn, name, nn);
}

static int op_stack_global(struct dec *d)
{
    const struct gt_pk *mod, *name;

    if (d->sp < 2 || d->stack[d->sp - 2]->type != GT_PK_STR ||
        d->stack[d->sp - 1]->type != GT_PK_STR)
        return refuse_unnamed(d);
    mod = d->stack[d->sp - 2];
    name = d->stack[d->sp - 1];
    return refuse_import(d, d->op->refusal, mod->u.str.s, mod->u.str.len, name->u.str.s,
                         name->u.str.len);
}

static int op_buffer(struct dec *d)
{
    return fail(d, GT_EUNSUPPORTED,
                "opcode %s at byte %zu needs an out-of-band buffer; refused: only in-band data is "
                "supported",
                d->op->name, d->op_pos);
}

#define OP(code, nm, fn) [code] = {nm, fn, NULL}
#define NO(code, nm, what) [code] = {nm, op_refuse, what}

/* Every opcode of pickletools, protocols 0 to 5. A NULL run is unknown. */
static const struct op ops[256] = {
    OP(0x28, "MARK", op_mark),
    OP(0x2e, "STOP", op_stop),
    OP(0x30, "POP", op_pop),
    OP(0x31, "POP_MARK", op_pop_mark),
    OP(0x32, "DUP", op_dup),
    OP(0x46, "FLOAT", op_float_text),
    OP(0x49, "INT", op_int_text),
    OP(0x4a, "BININT", op_binint),
    OP(0x4b, "BININT1", op_binint1),
    OP(0x4c, "LONG", op_long_text),
    OP(0x4d, "BININT2", op_binint2),
    OP(0x4e, "NONE", op_none),
    NO(0x50, "PERSID", "ask the application for a persistent object"),
    NO(0x51, "BINPERSID", "ask the application for a persistent object"),
    NO(0x52, "REDUCE", "call a function"),
    OP(0x53, "STRING", op_text_string),
    OP(0x54, "BINSTRING", op_binstring),
    OP(0x55, "SHORT_BINSTRING", op_short_binstring),
    OP(0x56, "UNICODE", op_text_string),
    OP(0x58, "BINUNICODE", op_binunicode),
    OP(0x61, "APPEND", op_append),
    NO(0x62, "BUILD", "call __setstate__ or set attributes of an object"),
    [0x63] = {"GLOBAL", op_global, "import"},
    OP(0x64, "DICT", op_dict),
    OP(0x7d, "EMPTY_DICT", op_empty_dict),
    OP(0x65, "APPENDS", op_appends),
    OP(0x67, "GET", op_get_text),
    OP(0x68, "BINGET", op_binget),
    [0x69] = {"INST", op_global, "import and call"},
    OP(0x6a, "LONG_BINGET", op_long_binget),
    OP(0x6c, "LIST", op_list),
    OP(0x5d, "EMPTY_LIST", op_empty_list),
    NO(0x6f, "OBJ", "instantiate a class"),
    OP(0x70, "PUT", op_put_text),
    OP(0x71, "BINPUT", op_binput),
    OP(0x72, "LONG_BINPUT", op_long_binput),
    OP(0x73, "SETITEM", op_setitem),
    OP(0x74, "TUPLE", op_tuple),
    OP(0x29, "EMPTY_TUPLE", op_empty_tuple),
    OP(0x75, "SETITEMS", op_setitems),
    OP(0x47, "BINFLOAT", op_binfloat),
    OP(0x80, "PROTO", op_proto),
    NO(0x81, "NEWOBJ", "instantiate a class"),
    NO(0x82, "EXT1", "import an object from the extension registry"),
    NO(0x83, "EXT2", "import an object from the extension registry"),
    NO(0x84, "EXT4", "import an object from the extension registry"),
    OP(0x85, "TUPLE1", op_tuple1),
    OP(0x86, "TUPLE2", op_tuple2),
    OP(0x87, "TUPLE3", op_tuple3),
    OP(0x88, "NEWTRUE", op_true),
    OP(0x89, "NEWFALSE", op_false),
    OP(0x8a, "LONG1", op_long1),
    OP(0x8b, "LONG4", op_long4),
    OP(0x42, "BINBYTES", op_binbytes),
    OP(0x43, "SHORT_BINBYTES", op_short_binbytes),
    OP(0x8c, "SHORT_BINUNICODE", op_short_binunicode),
    OP(0x8d, "BINUNICODE8", op_binunicode8),
    OP(0x8e, "BINBYTES8", op_binbytes8),
    OP(0x8f, "EMPTY_SET", op_empty_list),
    OP(0x90, "ADDITEMS", op_appends),
    OP(0x91, "FROZENSET", op_list),
    NO(0x92, "NEWOBJ_EX", "instantiate a class"),
    [0x93] = {"STACK_GLOBAL", op_stack_global, "import"},
    OP(0x94, "MEMOIZE", op_memoize),
    OP(0x95, "FRAME", op_frame),
    OP(0x96, "BYTEARRAY8", op_binbytes8),
    OP(0x97, "NEXT_BUFFER", op_buffer),
    OP(0x98, "READONLY_BUFFER", op_buffer),
};

/* ---- driver ---- */

static int run(struct dec *d)
{
    static const struct op start = {"(start)", NULL, NULL};

    d->op = &start;
    if (d->len == 0)
        return fail(d, GT_ECORRUPT, "truncated: the file is empty");
    if (d->buf[0] != 0x80)
        return fail(d, GT_EFOREIGN,
                    "not a pickle of protocol 2 to 5: byte 0 is 0x%02x, not the PROTO opcode",
                    d->buf[0]);
    for (;;) {
        unsigned char c;
        int rc;

        if (d->pos >= d->len)
            return fail(d, GT_ECORRUPT, "truncated: the pickle ends at byte %zu without STOP",
                        d->len);
        d->op_pos = d->pos;
        c = d->buf[d->pos++];
        d->op = &ops[c];
        if (d->op->run == NULL)
            return fail(d, GT_ECORRUPT, "unknown opcode 0x%02x at byte %zu", c, d->op_pos);
        rc = d->op->run(d);
        if (rc != 0 || c == 0x2e)
            return rc;
    }
}

static int singletons(struct dec *d)
{
    d->none = new_scalar(d, GT_PK_NONE);
    d->yes = new_scalar(d, GT_PK_BOOL);
    d->no = new_scalar(d, GT_PK_BOOL);
    if (d->none == NULL || d->yes == NULL || d->no == NULL)
        return d->rc;
    d->yes->u.b = true;
    return 0;
}

static struct gt_pickle *new_pickle(size_t len)
{
    struct gt_pickle *p = calloc(1, sizeof *p);

    if (p == NULL)
        return NULL;
    p->arena.next_size = ARENA_CHUNK_MIN;
    p->arena.limit = len > (SIZE_MAX - EXPANSION_SLACK) / EXPANSION_LIMIT
                         ? SIZE_MAX
                         : EXPANSION_SLACK + len * EXPANSION_LIMIT;
    return p;
}

int gt_pickle_load_mem(const void *data, size_t len, struct gt_pickle **out, char *errbuf,
                       size_t errlen)
{
    static const struct op setup = {"(setup)", NULL, NULL};
    struct gt_pickle *p = new_pickle(len);
    struct dec d = {.buf = data, .len = len, .err = errbuf, .errlen = errlen, .op = &setup};
    int rc;

    *out = NULL;
    if (errbuf != NULL && errlen > 0)
        errbuf[0] = '\0';
    if (p == NULL)
        return fail(&d, GT_ENOMEM, "out of memory");
    d.arena = &p->arena;
    d.keys = &p->keys;
    rc = singletons(&d);
    if (rc == 0)
        rc = run(&d);
    free(d.stack);
    free(d.marks);
    free(d.memo);
    if (rc != 0) {
        gt_pickle_free(p);
        return rc;
    }
    p->root = d.root;
    *out = p;
    return 0;
}

static int open_error(char *errbuf, size_t errlen, int code, const char *what)
{
    if (errbuf != NULL && errlen > 0)
        snprintf(errbuf, errlen, "%s", what);
    return code;
}

/* The file is mapped, not read: a snapshot of several GB is then paged in
 * once, sequentially, and only the decoded copies stay in memory. */
int gt_pickle_load(const char *path, struct gt_pickle **out, char *errbuf, size_t errlen)
{
    uint64_t size;
    void *map = NULL;
    int fd, rc;

    *out = NULL;
    char why[128];
    if ((rc = gt_files_open_input(path, &fd, &size, why, sizeof why)) != 0)
        return open_error(errbuf, errlen, rc, why);
    if (size > SIZE_MAX) {
        close(fd);
        return open_error(errbuf, errlen, GT_ENOMEM, "too large to map into memory");
    }
    if (size > 0) {
        map = mmap(NULL, (size_t)size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            int e = errno;
            close(fd);
            return open_error(errbuf, errlen, e == ENOMEM ? GT_ENOMEM : GT_EIO, strerror(e));
        }
        posix_madvise(map, (size_t)size, POSIX_MADV_SEQUENTIAL);
    }
    close(fd);
    rc = gt_pickle_load_mem(map, (size_t)size, out, errbuf, errlen);
    if (map != NULL)
        munmap(map, (size_t)size);
    return rc;
}

void gt_pickle_free(struct gt_pickle *p)
{
    if (p == NULL)
        return;
    arena_release(&p->arena);
    free(p->keys.slots);
    free(p);
}

const struct gt_pk *gt_pickle_root(const struct gt_pickle *p)
{
    return p != NULL ? p->root : NULL;
}

const struct gt_pk *gt_pk_get(const struct gt_pk *d, const char *key)
{
    const struct box *b = (const struct box *)d;
    struct gt_pk k = {.type = GT_PK_STR};
    size_t i;

    if (d == NULL || d->type != GT_PK_DICT || key == NULL)
        return NULL;
    k.u.str.s = key;
    k.u.str.len = strlen(key);
    i = dict_find_in(b, &k);
    return i == SIZE_MAX ? NULL : d->u.dict.vals[i];
}

int gt_pk_int(const struct gt_pk *v, int64_t *out)
{
    if (v == NULL)
        return GT_EINVAL;
    if (v->type == GT_PK_INT)
        *out = v->u.i;
    else if (v->type == GT_PK_BOOL)
        *out = v->u.b;
    else
        return GT_EINVAL;
    return 0;
}

const char *gt_pk_str(const struct gt_pk *v)
{
    return v != NULL && v->type == GT_PK_STR ? v->u.str.s : NULL;
}

size_t gt_pk_len(const struct gt_pk *v)
{
    if (v == NULL)
        return 0;
    if (v->type == GT_PK_LIST || v->type == GT_PK_TUPLE)
        return v->u.seq.n;
    if (v->type == GT_PK_DICT)
        return v->u.dict.n;
    return 0;
}

const struct gt_pk *gt_pk_at(const struct gt_pk *v, size_t i)
{
    if (v == NULL || (v->type != GT_PK_LIST && v->type != GT_PK_TUPLE) || i >= v->u.seq.n)
        return NULL;
    return v->u.seq.items[i];
}
