/* Strict streaming JSON reader (jsonread.h).
 *
 * A pull tokenizer with the grammar's state kept explicitly: a stack of
 * open containers (one byte each, fixed size) and what may come next. Every
 * byte is looked at once; strings are checked whole (escapes, UTF-8,
 * control characters) but only their first GT_JSON_TEXT_MAX bytes are
 * kept, numbers are checked whole and kept up to NUMBER_MAX characters, so
 * no input makes the reader grow. Error messages name the byte offset in
 * the text and, for the leniencies other readers accept (single quotes,
 * NaN, comments, trailing commas), say so by name. */
#include "gputrace/jsonread.h"
#include "gputrace/units.h"
#include "gputrace/err.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gputrace/banned.h"

/* Bytes asked of the source at a time. */
#define BUFFER_SIZE (64 * 1024)
/* Characters of a number kept for strtod: 17 significant digits round-trip
 * a double, so a longer number only adds digits that cannot change much;
 * one longer than this is still checked, and converted from its start. */
#define NUMBER_MAX 511

/* What may come next. */
enum expect {
    EXPECT_VALUE,          /* the document, after ':' and after ',' in an array */
    EXPECT_VALUE_OR_CLOSE, /* after '[' */
    EXPECT_KEY_OR_CLOSE,   /* after '{' */
    EXPECT_KEY,            /* after ',' in an object */
    EXPECT_COMMA_OR_CLOSE, /* after a value inside a container */
    EXPECT_END,            /* after the document */
};

/* Invariants: buf[pos..len) is unread text, base is the text offset of
 * buf[0]; stack[0..depth) holds '{' or '[' for each open container; err is
 * the first error (0 until one), repeated by every later call. */
struct gt_json_reader {
    gt_json_fill_fn fill;
    void *ctx;
    char *buf;
    size_t len, pos;
    uint64_t base;
    bool eof;
    int err;
    enum expect expect;
    size_t depth;
    char stack[GT_JSON_MAX_DEPTH];
    uint64_t token_offset;
    char text[GT_JSON_TEXT_MAX];
    size_t text_len;
    bool text_whole;
    uint32_t high_surrogate; /* of a \u escape, until the next one */
    char number[NUMBER_MAX + 1];
    size_t number_len;
    bool number_integral, number_negative, number_overflow, number_cut;
    uint64_t magnitude;
    char msg[160];
};

int gt_json_reader_new(gt_json_fill_fn fill, void *ctx, struct gt_json_reader **out)
{
    struct gt_json_reader *r = calloc(1, sizeof *r);

    *out = NULL;
    if (r == NULL || (r->buf = malloc(BUFFER_SIZE)) == NULL) {
        free(r);
        return GT_ENOMEM;
    }
    r->fill = fill;
    r->ctx = ctx;
    r->expect = EXPECT_VALUE;
    *out = r;
    return GT_OK;
}

void gt_json_reader_free(struct gt_json_reader *r)
{
    if (r == NULL)
        return;
    free(r->buf);
    free(r);
}

static int fail(struct gt_json_reader *r, uint64_t at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records an invalid-JSON error at text offset at. */
static int fail(struct gt_json_reader *r, uint64_t at, const char *fmt, ...)
{
    char what[112];
    va_list ap;

    va_start(ap, fmt);
    gt_verrf(what, sizeof what, GT_ECORRUPT, fmt, ap);
    va_end(ap);
    snprintf(r->msg, sizeof r->msg, "invalid JSON at byte %llu: %s", (unsigned long long)at, what);
    r->err = GT_ECORRUPT;
    return r->err;
}

static uint64_t here(const struct gt_json_reader *r)
{
    return r->base + r->pos;
}

static int truncated(struct gt_json_reader *r)
{
    snprintf(r->msg, sizeof r->msg, "the JSON ends early at byte %llu (truncated file?)",
             (unsigned long long)here(r));
    r->err = GT_ECORRUPT;
    return r->err;
}

/* Makes buf[pos] readable. Returns 1 when a byte is there, 0 at the end of
 * the input, or a negative error. */
static int more(struct gt_json_reader *r)
{
    size_t got = 0;
    int rc;

    if (r->pos < r->len)
        return 1;
    if (r->eof)
        return 0;
    r->base += r->len;
    r->pos = r->len = 0;
    rc = r->fill(r->ctx, r->buf, BUFFER_SIZE, &got);
    if (rc != GT_OK) {
        r->msg[0] = '\0';
        r->err = rc;
        return rc;
    }
    if (got == 0 || got > BUFFER_SIZE) {
        r->eof = true;
        return 0;
    }
    r->len = got;
    return 1;
}

/* The next byte, consumed, in *byte (-1 at the end). Returns 0 or the
 * fill's error. */
static int take(struct gt_json_reader *r, int *byte)
{
    int rc = more(r);

    if (rc < 0)
        return rc;
    *byte = rc == 0 ? -1 : (unsigned char)r->buf[r->pos++];
    return GT_OK;
}

static bool is_blank(int c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Skips blank space; *byte is the next byte (not consumed) or -1. */
static int skip_blank(struct gt_json_reader *r, int *byte)
{
    for (;;) {
        int rc = more(r);
        if (rc < 0)
            return rc;
        if (rc == 0) {
            *byte = -1;
            return GT_OK;
        }
        while (r->pos < r->len && is_blank((unsigned char)r->buf[r->pos]))
            r->pos++;
        if (r->pos < r->len) {
            *byte = (unsigned char)r->buf[r->pos];
            return GT_OK;
        }
    }
}

int gt_json_first(struct gt_json_reader *r, int *byte)
{
    static const unsigned char mark[3] = {0xef, 0xbb, 0xbf};
    int rc = more(r);

    if (rc < 0)
        return rc;
    /* Byte by byte, so a source that returns one byte at a time is read
     * the same; a partial mark is left as the first byte ('\xef' is no
     * JSON either way). */
    for (int i = 0; i < 3 && here(r) == (uint64_t)i && rc == 1; i++) {
        if ((unsigned char)r->buf[r->pos] != mark[i])
            break;
        r->pos++;
        if ((rc = more(r)) < 0)
            return rc;
    }
    return skip_blank(r, byte);
}

/* ------------------------------------------------------------ strings */

static void keep(struct gt_json_reader *r, const char *bytes, size_t n)
{
    size_t room = GT_JSON_TEXT_MAX - r->text_len;

    if (n > room) {
        n = room;
        r->text_whole = false;
    }
    memcpy(r->text + r->text_len, bytes, n);
    r->text_len += n;
}

static void keep_code_point(struct gt_json_reader *r, uint32_t cp)
{
    char u[4];
    size_t n;

    if (cp < 0x80) {
        u[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        u[0] = (char)(0xc0 | cp >> 6);
        u[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        /* A lone surrogate is valid JSON grammar (Python writes them); it is
         * kept as its 3-byte form, which no comparison here will match. */
        u[0] = (char)(0xe0 | cp >> 12);
        u[1] = (char)(0x80 | (cp >> 6 & 0x3f));
        u[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        u[0] = (char)(0xf0 | cp >> 18);
        u[1] = (char)(0x80 | (cp >> 12 & 0x3f));
        u[2] = (char)(0x80 | (cp >> 6 & 0x3f));
        u[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    keep(r, u, n);
}

/* Four hex digits of a \u escape. */
static int hex4(struct gt_json_reader *r, uint32_t *cp)
{
    *cp = 0;
    for (int i = 0; i < 4; i++) {
        int c, rc = take(r, &c);
        if (rc != GT_OK)
            return rc;
        if (c < 0)
            return truncated(r);
        if (c >= '0' && c <= '9')
            *cp = *cp << 4 | (uint32_t)(c - '0');
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            *cp = *cp << 4 | (uint32_t)((c | 0x20) - 'a' + 10);
        else
            return fail(r, here(r) - 1, "'\\u' needs four hex digits");
    }
    return GT_OK;
}

/* A high surrogate is held back until the next escape says whether it
 * opens a pair; anything else that follows makes it a lone one. */
static void flush_surrogate(struct gt_json_reader *r)
{
    if (r->high_surrogate != 0)
        keep_code_point(r, r->high_surrogate);
    r->high_surrogate = 0;
}

static int unicode_escape(struct gt_json_reader *r)
{
    uint32_t cp;
    int rc = hex4(r, &cp);

    if (rc != GT_OK)
        return rc;
    if (r->high_surrogate != 0 && cp >= 0xdc00 && cp < 0xe000) {
        keep_code_point(r, 0x10000 + ((r->high_surrogate - 0xd800) << 10) + (cp - 0xdc00));
        r->high_surrogate = 0;
        return GT_OK;
    }
    flush_surrogate(r);
    if (cp >= 0xd800 && cp < 0xdc00)
        r->high_surrogate = cp;
    else
        keep_code_point(r, cp);
    return GT_OK;
}

static int escape(struct gt_json_reader *r)
{
    int c, rc = take(r, &c);
    char out;

    if (rc != GT_OK)
        return rc;
    switch (c) {
    case -1:
        return truncated(r);
    case '"':
    case '\\':
    case '/':
        out = (char)c;
        break;
    case 'b':
        out = '\b';
        break;
    case 'f':
        out = '\f';
        break;
    case 'n':
        out = '\n';
        break;
    case 'r':
        out = '\r';
        break;
    case 't':
        out = '\t';
        break;
    case 'u':
        return unicode_escape(r);
    default:
        flush_surrogate(r);
        return fail(r, here(r) - 2, "invalid escape '\\%c'", c >= 0x20 && c < 0x7f ? c : '?');
    }
    flush_surrogate(r);
    keep(r, &out, 1);
    return GT_OK;
}

/* One multi-byte UTF-8 sequence whose lead byte c was consumed
 * (gt_units_utf8_lead says which continuation bytes may follow). */
static int utf8_sequence(struct gt_json_reader *r, int c)
{
    unsigned char seq[4] = {(unsigned char)c};
    unsigned lo, hi;
    int need = gt_units_utf8_lead((unsigned)c, &lo, &hi);

    if (need == 0)
        return fail(r, here(r) - 1, "invalid UTF-8 in a string");
    flush_surrogate(r);
    for (int i = 1; i <= need; i++) {
        int b, rc = take(r, &b);
        if (rc != GT_OK)
            return rc;
        if (b < 0)
            return truncated(r);
        if ((unsigned)b < lo || (unsigned)b > hi)
            return fail(r, here(r) - 1, "invalid UTF-8 in a string");
        seq[i] = (unsigned char)b;
        lo = 0x80, hi = 0xbf;
    }
    keep(r, (const char *)seq, (size_t)need + 1);
    return GT_OK;
}

/* Bytes that stand for themselves in a string: printable ASCII but '"' and
 * '\\'. */
static bool is_plain(unsigned char c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

/* A string whose opening '"' was consumed. */
static int string(struct gt_json_reader *r)
{
    r->text_len = 0;
    r->text_whole = true;
    r->high_surrogate = 0;
    for (;;) {
        int c, rc = more(r);
        size_t start = r->pos;

        if (rc < 0)
            return rc;
        if (rc == 0)
            return truncated(r);
        while (r->pos < r->len && is_plain((unsigned char)r->buf[r->pos]))
            r->pos++;
        if (r->pos > start) {
            flush_surrogate(r);
            keep(r, r->buf + start, r->pos - start);
        }
        if (r->pos == r->len)
            continue;
        c = (unsigned char)r->buf[r->pos++];
        if (c == '"') {
            flush_surrogate(r);
            return GT_OK;
        }
        if (c == '\\')
            rc = escape(r);
        else if (c < 0x20)
            rc = fail(r, here(r) - 1, "a control character in a string");
        else
            rc = utf8_sequence(r, c);
        if (rc != GT_OK)
            return rc;
    }
}

/* ------------------------------------------------------------ numbers */

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

/* Consumes c into the number's text. */
static void number_char(struct gt_json_reader *r, int c)
{
    if (r->number_len < NUMBER_MAX)
        r->number[r->number_len++] = (char)c;
    else
        r->number_cut = true;
    r->pos++;
}

/* A run of digits (at least one); integral ones are accumulated. */
static int digits(struct gt_json_reader *r, bool accumulate, const char *what)
{
    int c, rc, n = 0;

    for (;;) {
        if ((rc = more(r)) < 0)
            return rc;
        c = rc == 0 ? -1 : (unsigned char)r->buf[r->pos];
        if (!is_digit(c))
            break;
        if (accumulate) {
            uint64_t d = (uint64_t)(c - '0');
            if (r->magnitude > (UINT64_MAX - d) / 10)
                r->number_overflow = true;
            else
                r->magnitude = r->magnitude * 10 + d;
        }
        number_char(r, c);
        n++;
    }
    if (n > 0)
        return GT_OK;
    if (c < 0)
        return truncated(r);
    return fail(r, here(r), "a number needs digits %s", what);
}

/* Peeks the next byte of a number: -1 at the end. */
static int number_peek(struct gt_json_reader *r, int *c)
{
    int rc = more(r);

    if (rc < 0)
        return rc;
    *c = rc == 0 ? -1 : (unsigned char)r->buf[r->pos];
    return GT_OK;
}

/* -? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)? */
static int number(struct gt_json_reader *r)
{
    int c, rc;

    r->number_len = 0;
    r->number_integral = true;
    r->number_negative = false;
    r->number_overflow = false;
    r->number_cut = false;
    r->magnitude = 0;
    if ((rc = number_peek(r, &c)) != GT_OK)
        return rc;
    if (c == '-') {
        r->number_negative = true;
        number_char(r, c);
        if ((rc = number_peek(r, &c)) != GT_OK)
            return rc;
        if (c == 'I' || c == 'N')
            return fail(r, r->token_offset, "NaN and Infinity are not JSON");
    }
    if (c == '0') {
        number_char(r, c);
        if ((rc = number_peek(r, &c)) != GT_OK)
            return rc;
        if (is_digit(c))
            return fail(r, r->token_offset, "a number with a leading zero");
    } else if ((rc = digits(r, true, "after '-'")) != GT_OK) {
        return rc;
    }
    if ((rc = number_peek(r, &c)) != GT_OK)
        return rc;
    if (c == '.') {
        r->number_integral = false;
        number_char(r, c);
        if ((rc = digits(r, false, "after '.'")) != GT_OK || (rc = number_peek(r, &c)) != GT_OK)
            return rc;
    }
    if (c == 'e' || c == 'E') {
        r->number_integral = false;
        number_char(r, c);
        if ((rc = number_peek(r, &c)) != GT_OK)
            return rc;
        if (c == '+' || c == '-')
            number_char(r, c);
        if ((rc = digits(r, false, "in its exponent")) != GT_OK)
            return rc;
    }
    r->number[r->number_len] = '\0';
    return GT_OK;
}

void gt_json_number(const struct gt_json_reader *r, struct gt_json_number *n)
{
    memset(n, 0, sizeof *n);
    /* The start of a longer number is not its value (its exponent may be
     * what was cut): NaN, which no range check accepts. */
    n->d = r->number_cut ? NAN : strtod(r->number, NULL);
    if (!r->number_integral) {
        n->kind = GT_JSON_REAL;
    } else if (r->number_overflow) {
        n->kind = GT_JSON_BIG;
    } else if (!r->number_negative) {
        n->kind = r->magnitude <= (uint64_t)INT64_MAX ? GT_JSON_INT : GT_JSON_UINT;
        n->u = r->magnitude;
        n->i = n->kind == GT_JSON_INT ? (int64_t)r->magnitude : 0;
    } else if (r->magnitude <= (uint64_t)INT64_MAX + 1) {
        n->kind = GT_JSON_INT;
        /* -2^63 negates in unsigned arithmetic without overflow. */
        n->i = r->magnitude == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)r->magnitude;
    } else {
        n->kind = GT_JSON_BIG;
    }
}

/* ------------------------------------------------------------ grammar */

/* true, false and null: every byte must match. */
static int literal(struct gt_json_reader *r, const char *word)
{
    for (const char *w = word; *w != '\0'; w++) {
        int c, rc = take(r, &c);
        if (rc != GT_OK)
            return rc;
        if (c < 0)
            return truncated(r);
        if (c != *w)
            return fail(r, r->token_offset, "invalid literal (did you mean '%s'?)", word);
    }
    return GT_OK;
}

static void after_value(struct gt_json_reader *r)
{
    r->expect = r->depth == 0 ? EXPECT_END : EXPECT_COMMA_OR_CLOSE;
}

static int open_container(struct gt_json_reader *r, char c, enum gt_json_token *tok)
{
    if (r->depth == GT_JSON_MAX_DEPTH)
        return fail(r, r->token_offset, "nested deeper than %d levels", GT_JSON_MAX_DEPTH);
    r->stack[r->depth++] = c;
    r->pos++;
    r->expect = c == '{' ? EXPECT_KEY_OR_CLOSE : EXPECT_VALUE_OR_CLOSE;
    *tok = c == '{' ? GT_JSON_OBJECT : GT_JSON_ARRAY;
    return GT_OK;
}

static int close_container(struct gt_json_reader *r, char c, enum gt_json_token *tok)
{
    char open = c == '}' ? '{' : '[';

    if (r->depth == 0 || r->stack[r->depth - 1] != open)
        return fail(r, r->token_offset, "'%c' does not close the open '%c'", c,
                    r->depth > 0 ? r->stack[r->depth - 1] : '?');
    r->depth--;
    r->pos++;
    after_value(r);
    *tok = c == '}' ? GT_JSON_OBJECT_END : GT_JSON_ARRAY_END;
    return GT_OK;
}

/* Names the leniencies other readers accept; anything else is just
 * unexpected. */
static int unexpected(struct gt_json_reader *r, int c, const char *wanted)
{
    if (c == '\'')
        return fail(r, r->token_offset, "single quotes are not JSON");
    if (c == '/')
        return fail(r, r->token_offset, "comments are not JSON");
    if (c == 'N' || c == 'I')
        return fail(r, r->token_offset, "NaN and Infinity are not JSON");
    if (c >= 0x20 && c < 0x7f)
        return fail(r, r->token_offset, "'%c' where %s was expected", c, wanted);
    return fail(r, r->token_offset, "byte 0x%02x where %s was expected", (unsigned)c, wanted);
}

static int value(struct gt_json_reader *r, int c, enum gt_json_token *tok)
{
    int rc;

    switch (c) {
    case '{':
    case '[':
        return open_container(r, (char)c, tok);
    case '"':
        r->pos++;
        *tok = GT_JSON_STRING;
        rc = string(r);
        break;
    case 't':
        *tok = GT_JSON_TRUE;
        rc = literal(r, "true");
        break;
    case 'f':
        *tok = GT_JSON_FALSE;
        rc = literal(r, "false");
        break;
    case 'n':
        *tok = GT_JSON_NULL;
        rc = literal(r, "null");
        break;
    default:
        if (c != '-' && !is_digit(c))
            return unexpected(r, c, "a value");
        *tok = GT_JSON_NUMBER;
        rc = number(r);
        break;
    }
    if (rc == GT_OK)
        after_value(r);
    return rc;
}

static int key(struct gt_json_reader *r, int c, enum gt_json_token *tok)
{
    int rc;

    if (c != '"')
        return unexpected(r, c, "a key in double quotes");
    r->pos++;
    if ((rc = string(r)) != GT_OK || (rc = skip_blank(r, &c)) != GT_OK)
        return rc;
    if (c < 0)
        return truncated(r);
    if (c != ':')
        return fail(r, here(r), "a key must be followed by ':'");
    r->pos++;
    r->expect = EXPECT_VALUE;
    *tok = GT_JSON_KEY;
    return GT_OK;
}

/* After ',': anything but a value or key is an error, a close above all. */
static int after_comma(struct gt_json_reader *r, int c, enum gt_json_token *tok)
{
    if (c == ']' || c == '}')
        return fail(r, r->token_offset, "a trailing ',' before '%c' is not JSON", c);
    return r->expect == EXPECT_KEY ? key(r, c, tok) : value(r, c, tok);
}

int gt_json_next(struct gt_json_reader *r, enum gt_json_token *tok)
{
    int c, rc;

    if (r->err != 0)
        return r->err;
    for (;;) {
        if ((rc = skip_blank(r, &c)) != GT_OK)
            return rc;
        r->token_offset = here(r);
        if (c < 0) {
            if (r->expect != EXPECT_END)
                return truncated(r);
            *tok = GT_JSON_END;
            return GT_OK;
        }
        switch (r->expect) {
        case EXPECT_VALUE:
            return value(r, c, tok);
        case EXPECT_VALUE_OR_CLOSE:
            return c == ']' ? close_container(r, ']', tok) : value(r, c, tok);
        case EXPECT_KEY_OR_CLOSE:
            return c == '}' ? close_container(r, '}', tok) : key(r, c, tok);
        case EXPECT_KEY:
            return after_comma(r, c, tok);
        case EXPECT_COMMA_OR_CLOSE:
            if (c == ']' || c == '}')
                return close_container(r, (char)c, tok);
            if (c != ',')
                return unexpected(r, c,
                                  r->stack[r->depth - 1] == '{' ? "',' or '}'" : "',' or ']'");
            r->pos++;
            if ((rc = skip_blank(r, &c)) != GT_OK)
                return rc;
            r->token_offset = here(r);
            if (c < 0)
                return truncated(r);
            r->expect = r->stack[r->depth - 1] == '{' ? EXPECT_KEY : EXPECT_VALUE;
            if (r->expect == EXPECT_VALUE && c == ']')
                return fail(r, r->token_offset, "a trailing ',' before ']' is not JSON");
            return after_comma(r, c, tok);
        case EXPECT_END:
            snprintf(r->msg, sizeof r->msg, "unexpected data after the JSON document at byte %llu",
                     (unsigned long long)r->token_offset);
            r->err = GT_ECORRUPT;
            return r->err;
        }
    }
}

int gt_json_skip(struct gt_json_reader *r, enum gt_json_token tok)
{
    size_t target;
    int rc;

    if (tok != GT_JSON_OBJECT && tok != GT_JSON_ARRAY)
        return r->err;
    target = r->depth - 1;
    while (r->depth > target) {
        if ((rc = gt_json_next(r, &tok)) != GT_OK)
            return rc;
    }
    return GT_OK;
}

size_t gt_json_depth(const struct gt_json_reader *r)
{
    return r->depth;
}

const char *gt_json_text(const struct gt_json_reader *r, size_t *len, bool *whole)
{
    *len = r->text_len;
    *whole = r->text_whole;
    return r->text;
}

bool gt_json_text_is(const struct gt_json_reader *r, const char *s)
{
    size_t n = strlen(s);

    return r->text_whole && r->text_len == n && memcmp(r->text, s, n) == 0;
}

uint64_t gt_json_offset(const struct gt_json_reader *r)
{
    return r->token_offset;
}

const char *gt_json_errmsg(const struct gt_json_reader *r)
{
    return r->msg;
}
