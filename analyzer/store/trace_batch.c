/* The event batches of format v2 (trace_int.h): each field of each event is
 * stored as the zigzag LEB128 varint of its difference from the same field
 * of the event before it in the batch, so the fields that barely change
 * (seq, pid, tid, device, stream, kind, result) take one byte and
 * addresses and sizes a few. */
#include "trace_int.h"
#include "gputrace/err.h"

#include <string.h>

#include "gputrace/banned.h"

#define FNV_OFFSET 0xcbf29ce484222325u
#define FNV_PRIME 0x100000001b3u
#define MAX_VARINT 10

static void fields_of(const struct gt_event *ev, uint64_t f[GT_BATCH_FIELDS])
{
    f[0] = (uint64_t)ev->seq;
    f[1] = (uint64_t)ev->ts_ns;
    f[2] = (uint64_t)ev->pid;
    f[3] = (uint64_t)ev->tid;
    f[4] = (uint64_t)(int64_t)ev->device;
    f[5] = ev->stream;
    f[6] = (uint64_t)(int64_t)ev->kind;
    f[7] = ev->addr;
    f[8] = ev->size;
    f[9] = ev->requested;
    f[10] = (uint64_t)(int64_t)ev->result;
}

/* Fields that do not fit the event's int32 members are kept as 64-bit
 * values by the v1 table; here they read back truncated the same way. */
static void event_of(const uint64_t f[GT_BATCH_FIELDS], struct gt_event *ev)
{
    ev->seq = (int64_t)f[0];
    ev->ts_ns = (int64_t)f[1];
    ev->pid = (int64_t)f[2];
    ev->tid = (int64_t)f[3];
    ev->device = (int32_t)(int64_t)f[4];
    ev->stream = f[5];
    ev->kind = (int64_t)f[6] >= INT32_MIN && (int64_t)f[6] <= INT32_MAX ? (int32_t)(int64_t)f[6]
                                                                        : 0; /* unknown: skipped */
    ev->addr = f[7];
    ev->size = f[8];
    ev->requested = f[9];
    ev->result = (int32_t)(int64_t)f[10];
}

void gt_batch_reset(struct gt_batch *b)
{
    b->len = 0;
    b->n = 0;
    b->first_seq = 0;
    memset(b->prev, 0, sizeof b->prev);
    memset(&b->sum, 0, sizeof b->sum);
}

/* Differences wrap modulo 2^64, so every 64-bit value round-trips. */
static size_t put_delta(unsigned char *p, uint64_t value, uint64_t prev)
{
    int64_t d = (int64_t)(value - prev);
    uint64_t z = ((uint64_t)d << 1) ^ (uint64_t)(d >> 63);
    size_t k = 0;

    while (z >= 0x80) {
        p[k++] = (unsigned char)(z | 0x80);
        z >>= 7;
    }
    p[k++] = (unsigned char)z;
    return k;
}

void gt_batch_add(struct gt_batch *b, const struct gt_event *ev)
{
    uint64_t f[GT_BATCH_FIELDS];

    fields_of(ev, f);
    if (b->n == 0)
        b->first_seq = ev->seq;
    for (int i = 0; i < GT_BATCH_FIELDS; i++) {
        b->len += put_delta(b->buf + b->len, f[i], b->prev[i]);
        b->prev[i] = f[i];
    }
    b->n++;
    gt_trace_summary_add(&b->sum, ev);
}

/* FNV-1a over 64-bit words (little-endian, the last one zero-padded), with
 * a shift after each multiply so high bits reach the low ones: a byte-wise
 * FNV costs about 1 ns a byte, this an eighth of that, and any change of a
 * byte still changes the sum. */
static uint64_t mix_word(uint64_t h, uint64_t w)
{
    h ^= w;
    h *= FNV_PRIME;
    return h ^ (h >> 29);
}

/* A little-endian 64-bit word at p: one load on a little-endian machine. */
static inline uint64_t load_le64(const unsigned char *p)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t w;
    memcpy(&w, p, sizeof w);
    return w;
#else
    uint64_t w = 0;
    for (int k = 0; k < 8; k++)
        w |= (uint64_t)p[k] << (8 * k);
    return w;
#endif
}

/* The words of p[from..n) that end by n, then the zero-padded rest and n:
 * hash_words(h, p, 0, n) is the sum of all n bytes; from, a multiple of 8,
 * continues a sum that took the words before it. */
static uint64_t hash_words(uint64_t h, const unsigned char *p, size_t from, size_t n)
{
    size_t i = from;
    for (; i + 8 <= n; i += 8)
        h = mix_word(h, load_le64(p + i));
    if (i < n) {
        uint64_t w = 0;
        for (int k = 0; i + (size_t)k < n; k++)
            w |= (uint64_t)p[i + (size_t)k] << (8 * k);
        h = mix_word(h, w);
    }
    return mix_word(h, (uint64_t)n);
}

static uint64_t hash_start(int64_t first_seq, int64_t n)
{
    return mix_word(mix_word(FNV_OFFSET, (uint64_t)first_seq), (uint64_t)n);
}

uint64_t gt_batch_checksum(int64_t first_seq, int64_t n, const unsigned char *data, size_t len)
{
    return hash_words(hash_start(first_seq, n), data, 0, len);
}

/* Reads one varint; false when it runs past end or past 10 bytes. */
static bool get_delta_slow(const unsigned char **p, const unsigned char *end, uint64_t prev,
                           uint64_t *value)
{
    uint64_t z = 0;
    int shift = 0;

    for (int k = 0; k < MAX_VARINT; k++, shift += 7) {
        if (*p >= end)
            return false;
        unsigned char byte = *(*p)++;
        z |= (uint64_t)(byte & 0x7f) << shift;
        if ((byte & 0x80) == 0) {
            int64_t d = (int64_t)(z >> 1) ^ -(int64_t)(z & 1);
            *value = prev + (uint64_t)d;
            return true;
        }
    }
    return false;
}

/* get_delta_slow with the one-byte case inline: most fields of an event
 * differ from the event before by less than 64 (docs/trace-format.md). */
static inline bool get_delta(const unsigned char **p, const unsigned char *end, uint64_t prev,
                             uint64_t *value)
{
    if (*p < end && **p < 0x80) {
        uint64_t z = *(*p)++;
        *value = prev + ((z >> 1) ^ (uint64_t) - (int64_t)(z & 1));
        return true;
    }
    return get_delta_slow(p, end, prev, value);
}

static inline uint64_t unzigzag(uint64_t z)
{
    return (z >> 1) ^ (uint64_t) - (int64_t)(z & 1);
}

/* A varint starting at least MAX_VARINT bytes before the end of the data,
 * without end checks: the reader's inner loop. Returns the byte after it, or
 * NULL when it runs past 10 bytes. */
static inline const unsigned char *varint_unchecked(const unsigned char *q, uint64_t *z)
{
    if (__builtin_expect(q[0] < 0x80, 1)) {
        *z = q[0];
        return q + 1;
    }
    uint64_t v = q[0] & 0x7f;
    for (int k = 1; k < MAX_VARINT; k++) {
        v |= (uint64_t)(q[k] & 0x7f) << (7 * k);
        if (q[k] < 0x80) {
            *z = v;
            return q + k + 1;
        }
    }
    return NULL;
}

/* A varint as varint_unchecked reads it, without its value: the fields a
 * brief decode leaves out. */
static inline const unsigned char *varint_skip(const unsigned char *q)
{
    for (int k = 0; k < MAX_VARINT; k++)
        if (q[k] < 0x80)
            return q + k + 1;
    return NULL;
}

/* The stored field (GT_BATCH_FIELDS order) of each GT_TRACE_SKIP_* bit. */
static unsigned skip_bit(int field)
{
    switch (field) {
    case 1:
        return GT_TRACE_SKIP_TS;
    case 2:
        return GT_TRACE_SKIP_PID;
    case 3:
        return GT_TRACE_SKIP_TID;
    case 5:
        return GT_TRACE_SKIP_STREAM;
    case 9:
        return GT_TRACE_SKIP_REQUESTED;
    default:
        return 0;
    }
}

/* The fields of one event into f, but those of skip, which are still
 * stepped over and checked; false when the data is short or a varint runs
 * past 10 bytes. Inlined with a constant skip, the test costs nothing. */
static inline bool get_event(const unsigned char **p, const unsigned char *end,
                             uint64_t f[GT_BATCH_FIELDS], unsigned skip)
{
    if (end - *p >= GT_BATCH_FIELDS * MAX_VARINT) {
        const unsigned char *q = *p;
        /* unrolled, so that the fields stay in registers */
#pragma GCC unroll 11
        for (int i = 0; i < GT_BATCH_FIELDS; i++) {
            if (skip & skip_bit(i)) {
                if ((q = varint_skip(q)) == NULL)
                    return false;
                continue;
            }
            uint64_t z;
            if ((q = varint_unchecked(q, &z)) == NULL)
                return false;
            f[i] += unzigzag(z);
        }
        *p = q;
        return true;
    }
    for (int i = 0; i < GT_BATCH_FIELDS; i++)
        if (!get_delta(p, end, f[i], &f[i]))
            return false;
    return true;
}

/* What gt_trace_summary_add would have summed over the n events of out,
 * from what decode kept of them. */
static void summary_of_decoded(struct gt_trace_batch_summary *sum, const struct gt_event *out,
                               int64_t n, uint64_t kinds, uint64_t device_diff, uint64_t pid_diff)
{
    sum->first_seq = out[0].seq;
    sum->n = n;
    sum->kinds = kinds;
    sum->device = out[0].device;
    sum->pid = out[0].pid;
    sum->one_device = device_diff == 0;
    sum->one_pid = pid_diff == 0;
}

/* Always inlined: each caller's skip set is a constant only inside its own
 * copy (gcc stopped inlining it on its own once the checksum moved in). */
static inline __attribute__((always_inline)) int
decode(int64_t first_seq, int64_t n, uint64_t checksum, const unsigned char *data, size_t len,
       struct gt_event *out, const char **why, unsigned skip, struct gt_trace_batch_summary *sum)
{
    const unsigned char *p = data, *end = data + len;
    uint64_t f[GT_BATCH_FIELDS] = {0};
    const char *bad = NULL;

    if (n < 1 || n > GT_BATCH_EVENTS) {
        *why = "an event count out of range";
        return GT_ECORRUPT;
    }
    /* The checksum is summed word by word as the events are decoded, not in
     * a pass of its own before them: its chain of multiplies then overlaps
     * the decoding instead of adding to it. Nothing decoded is used before
     * the sum is checked, and the sum is checked first, so a damaged batch
     * is named by its checksum as before. */
    uint64_t h = hash_start(first_seq, n);
    size_t hashed = 0;
    /* The summary is summed in locals, which the stores of out cannot
     * alias, so that it stays in registers, and without a branch an event:
     * a device or pid that differs from the first event's sets bits of its
     * difference word (gt_trace_summary_add's rule, 12 instead of 30
     * instructions an event). */
    uint64_t kinds = 0, device_diff = 0, pid_diff = 0;
    for (int64_t k = 0; k < n; k++) {
        int64_t prev_seq = (int64_t)f[0];
        if (!get_event(&p, end, f, skip)) {
            bad = "data shorter than its events";
            break;
        }
        for (size_t upto = (size_t)(p - data) & ~(size_t)7; hashed < upto; hashed += 8)
            h = mix_word(h, load_le64(data + hashed));
        /* the writer numbers events without gaps */
        if ((k == 0 && (int64_t)f[0] != first_seq) || (k > 0 && (int64_t)f[0] != prev_seq + 1)) {
            bad = "seqs out of order";
            break;
        }
        event_of(f, &out[k]);
        if (skip) /* the same whichever path decoded the event */
            gt_event_skip_fields(&out[k], skip);
        if (sum != NULL) { /* while the event is at hand, not in a second pass */
            kinds |= gt_trace_kind_bits(&out[k]);
            device_diff |= (uint32_t)(out[k].device ^ out[0].device);
            pid_diff |= (uint64_t)(out[k].pid ^ out[0].pid);
        }
    }
    if (sum != NULL && bad == NULL)
        summary_of_decoded(sum, out, n, kinds, device_diff, pid_diff);
    if (bad == NULL && p != end)
        bad = "data longer than its events";
    if (hash_words(h, data, hashed, len) != checksum)
        bad = "a checksum that does not match its data";
    if (bad != NULL) {
        *why = bad;
        return GT_ECORRUPT;
    }
    return GT_OK;
}

int gt_batch_decode(int64_t first_seq, int64_t n, uint64_t checksum, const unsigned char *data,
                    size_t len, struct gt_event *out, const char **why)
{
    return decode(first_seq, n, checksum, data, len, out, why, 0, NULL);
}

int gt_batch_decode_skip(int64_t first_seq, int64_t n, uint64_t checksum, const unsigned char *data,
                         size_t len, struct gt_event *out, const char **why, unsigned skip,
                         struct gt_trace_batch_summary *sum)
{
    if (sum != NULL)
        memset(sum, 0, sizeof *sum);
    /* a decoder of its own for each pass's set, so the skips are constants */
    switch (skip) {
    case 0:
        return decode(first_seq, n, checksum, data, len, out, why, 0, sum);
    case GT_TRACE_SKIP_CARD:
        return decode(first_seq, n, checksum, data, len, out, why, GT_TRACE_SKIP_CARD, sum);
    case GT_TRACE_SKIP_REPLAY:
        return decode(first_seq, n, checksum, data, len, out, why, GT_TRACE_SKIP_REPLAY, sum);
    default: {
        int rc = decode(first_seq, n, checksum, data, len, out, why, 0, sum);
        for (int64_t k = 0; rc == GT_OK && k < n; k++)
            gt_event_skip_fields(&out[k], skip);
        return rc;
    }
    }
}
