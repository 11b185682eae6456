/* A strict, streaming JSON reader: the document is pulled one token at a
 * time from a byte source, so memory is bounded by the nesting depth and a
 * fixed buffer, never by the document.
 *
 * Strict means RFC 8259 and nothing else: no comments, single quotes,
 * trailing commas, NaN or Infinity, leading zeros or '+', control
 * characters or invalid UTF-8 in strings, and only blank space after the
 * document. The reader checks the grammar; what the values mean is the
 * caller's business. Numbers are never clamped: an integer is exact or it
 * says it does not fit (gt_json_number). */
#ifndef GPUTRACE_JSONREAD_H
#define GPUTRACE_JSONREAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Deeper nesting is an error: the reader's stack is fixed, and no document
 * gpu-trace reads nests more than a few levels. */
#define GT_JSON_MAX_DEPTH 256
/* A string or key keeps at most this many decoded bytes; a longer one is
 * still checked whole, and gt_json_text says it was cut. */
#define GT_JSON_TEXT_MAX 4096

enum gt_json_token {
    GT_JSON_END,        /* after the document: only blank space followed */
    GT_JSON_OBJECT,     /* '{' */
    GT_JSON_OBJECT_END, /* '}' */
    GT_JSON_ARRAY,      /* '[' */
    GT_JSON_ARRAY_END,  /* ']' */
    GT_JSON_KEY,        /* an object's key (its ':' already read) */
    GT_JSON_STRING,
    GT_JSON_NUMBER,
    GT_JSON_TRUE,
    GT_JSON_FALSE,
    GT_JSON_NULL,
};

/* What a number token is. Integers are exact: INT fits int64, UINT is above
 * INT64_MAX and fits uint64, BIG fits neither (never clamped). REAL has a
 * fraction or an exponent; d is its value (HUGE_VAL when it overflows). */
enum gt_json_number_kind {
    GT_JSON_INT,
    GT_JSON_UINT,
    GT_JSON_BIG,
    GT_JSON_REAL,
};

struct gt_json_number {
    enum gt_json_number_kind kind;
    int64_t i;  /* INT */
    uint64_t u; /* INT when >= 0, and UINT */
    double d;   /* every kind, as near as a double gets */
};

/* The byte source: fills buf with up to cap bytes and sets *got, 0 at the
 * end of the input. Returns 0, or a negative GT_E* code that the reader
 * passes back unchanged (the source keeps its own message). */
typedef int (*gt_json_fill_fn)(void *ctx, char *buf, size_t cap, size_t *got);

struct gt_json_reader;

/* gt_json_reader_new: a reader over fill(ctx). 0 with *out set (free it
 * with gt_json_reader_free), or GT_ENOMEM with *out NULL. */
int gt_json_reader_new(gt_json_fill_fn fill, void *ctx, struct gt_json_reader **out);

/* gt_json_reader_free: frees r; NULL is a no-op. */
void gt_json_reader_free(struct gt_json_reader *r);

/* gt_json_first: the first byte of the document after blank space and a
 * UTF-8 byte order mark (editors write one), without consuming it; -1 when
 * the input holds nothing else. Call before the first gt_json_next; lets a
 * caller say "not a JSON object" before any grammar error. Returns 0 or the
 * fill's error. */
int gt_json_first(struct gt_json_reader *r, int *byte);

/* gt_json_next: the next token in *tok. Returns 0, GT_ECORRUPT (invalid or
 * truncated JSON, data after the document; gt_json_errmsg says what and at
 * which byte), or the fill's error (gt_json_errmsg is then ""). After an
 * error the reader only repeats it. */
int gt_json_next(struct gt_json_reader *r, enum gt_json_token *tok);

/* gt_json_skip: given the token just read, skips the rest of its value: the
 * whole object or array after GT_JSON_OBJECT or GT_JSON_ARRAY, nothing after
 * a scalar. Errors as gt_json_next. */
int gt_json_skip(struct gt_json_reader *r, enum gt_json_token tok);

/* gt_json_depth: how many objects and arrays are open. */
size_t gt_json_depth(const struct gt_json_reader *r);

/* gt_json_text: the decoded bytes of the last string or key (not NUL-free:
 * "\u0000" decodes to a NUL), *len of them; *whole is false when the string
 * was longer than GT_JSON_TEXT_MAX and only its start is kept. */
const char *gt_json_text(const struct gt_json_reader *r, size_t *len, bool *whole);

/* gt_json_text_is: true when the last string or key is exactly s. */
bool gt_json_text_is(const struct gt_json_reader *r, const char *s);

/* gt_json_number: the value of the last number token. */
void gt_json_number(const struct gt_json_reader *r, struct gt_json_number *n);

/* gt_json_offset: the byte offset in the text where the last token began. */
uint64_t gt_json_offset(const struct gt_json_reader *r);

/* gt_json_errmsg: the last error ("invalid JSON at byte 17: ..."), or "". */
const char *gt_json_errmsg(const struct gt_json_reader *r);

#endif
