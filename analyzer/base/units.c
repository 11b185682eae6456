/* Bounds-checked number parsing and size formatting (units.h).
 *
 * This file is the only place in gpu-trace where text becomes a number: the
 * CLI and the PYTORCH_CUDA_ALLOC_CONF parser both come through here, so every
 * number the tool accepts has the same overflow and junk checks. Integers are
 * parsed digit by digit (no sign, no spaces, no locale); doubles go through
 * strtod with a full-consumption check. */
#include "gputrace/units.h"
#include "gputrace/err.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gputrace/banned.h"

#define SIZE_LIMIT ((uint64_t)1 << 63) /* largest size gt_units_parse_size accepts */

struct unit {
    const char *name;
    unsigned shift; /* multiplier = 2^shift */
};

/* Binary units only: cards are sold in GiB and PyTorch prints GiB, so "8G"
 * and "8GB" mean 8 GiB here as well. */
static const struct unit units[] = {
    {"", 0},     {"b", 0},  {"k", 10},  {"kb", 10},  {"kib", 10}, {"m", 20},  {"mb", 20},
    {"mib", 20}, {"g", 30}, {"gb", 30}, {"gib", 30}, {"t", 40},   {"tb", 40}, {"tib", 40},
};

static void set_err(char *errbuf, size_t errlen, const char *msg, const char *what)
{
    if (errbuf == NULL || errlen == 0)
        return;
    if (what != NULL)
        snprintf(errbuf, errlen, "%s '%.40s'", msg, what);
    else
        snprintf(errbuf, errlen, "%s", msg);
}

static bool is_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

static int lower(char ch)
{
    return (ch >= 'A' && ch <= 'Z') ? ch - 'A' + 'a' : ch;
}

static bool equal_nocase(const char *a, const char *b)
{
    for (; *a != '\0' && *b != '\0'; a++, b++) {
        if (lower(*a) != lower(*b))
            return false;
    }
    return *a == *b;
}

/* Looks a unit suffix up; returns false for an unknown one. */
static bool find_unit(const char *suffix, unsigned *shift)
{
    for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
        if (equal_nocase(suffix, units[i].name)) {
            *shift = units[i].shift;
            return true;
        }
    }
    return false;
}

/* Accumulates the digits at *p into *val; GT_ERANGE once it passes max.
 * Leaves *p on the first non-digit. */
static int take_digits(const char **p, uint64_t max, uint64_t *val)
{
    uint64_t v = 0;
    const char *s = *p;
    int rc = GT_OK;

    for (; is_digit(*s); s++) {
        uint64_t d = (uint64_t)(*s - '0');
        if (rc == GT_OK && (d > max || v > (max - d) / 10))
            rc = GT_ERANGE;
        if (rc == GT_OK)
            v = v * 10 + d;
    }
    *p = s;
    *val = v;
    return rc;
}

int gt_units_parse_u64(const char *text, uint64_t max, uint64_t *out)
{
    const char *p = text;
    uint64_t v;
    int rc;

    if (text == NULL || !is_digit(*text))
        return GT_EINVAL;
    rc = take_digits(&p, max, &v);
    if (*p != '\0')
        return GT_EINVAL;
    if (rc != GT_OK)
        return rc;
    *out = v;
    return GT_OK;
}

/* floor(0.<digits> * 2^shift), exact: folding the digits from the last one
 * with integer division never loses a carry because
 * floor((a + floor(y)) / 10) == floor((a + y) / 10) for integer a. */
static uint64_t fraction_bytes(const char *digits, size_t n, unsigned shift)
{
    uint64_t mult = (uint64_t)1 << shift;
    uint64_t x = 0;

    while (n > 0) {
        n--;
        x = ((uint64_t)(digits[n] - '0') * mult + x) / 10;
    }
    return x;
}

int gt_units_parse_size(const char *text, uint64_t *bytes, char *errbuf, size_t errlen)
{
    const char *p = text;
    const char *frac = NULL;
    size_t frac_len = 0;
    uint64_t whole;
    unsigned shift;

    if (text == NULL || !is_digit(*text)) {
        set_err(errbuf, errlen, "not a size:", text != NULL ? text : "");
        return GT_EINVAL;
    }
    if (take_digits(&p, SIZE_LIMIT, &whole) != GT_OK) {
        set_err(errbuf, errlen, "size too large (the limit is 2^63 bytes):", text);
        return GT_ERANGE;
    }
    if (*p == '.') {
        frac = ++p;
        while (is_digit(*p))
            p++;
        frac_len = (size_t)(p - frac);
        if (frac_len == 0) {
            set_err(errbuf, errlen, "no digits after the decimal point in", text);
            return GT_EINVAL;
        }
    }
    if (!find_unit(p, &shift)) {
        set_err(errbuf, errlen, "unknown unit", p);
        return GT_EINVAL;
    }
    if (whole > (SIZE_LIMIT >> shift)) {
        set_err(errbuf, errlen, "size too large (the limit is 2^63 bytes):", text);
        return GT_ERANGE;
    }
    whole <<= shift;
    if (frac != NULL) {
        uint64_t part = fraction_bytes(frac, frac_len, shift);
        if (part > SIZE_LIMIT - whole) {
            set_err(errbuf, errlen, "size too large (the limit is 2^63 bytes):", text);
            return GT_ERANGE;
        }
        whole += part;
    }
    *bytes = whole;
    return GT_OK;
}

/* Only characters of a decimal floating-point literal: strtod would also take
 * leading spaces, hex floats, "nan" and "inf". */
static bool decimal_chars_only(const char *s)
{
    for (; *s != '\0'; s++) {
        if (!is_digit(*s) && *s != '.' && *s != 'e' && *s != 'E' && *s != '+' && *s != '-')
            return false;
    }
    return true;
}

int gt_units_parse_double(const char *text, double *out)
{
    char *end = NULL;
    double v;

    if (text == NULL || *text == '\0' || !decimal_chars_only(text))
        return GT_EINVAL;
    errno = 0;
    v = strtod(text, &end);
    if (end == text || *end != '\0')
        return GT_EINVAL;
    /* ERANGE with a tiny result is underflow: the value is still finite. */
    if (!isfinite(v) || (errno == ERANGE && fabs(v) > 1.0))
        return GT_ERANGE;
    *out = v;
    return GT_OK;
}

char *gt_units_format_bytes(uint64_t bytes, char *buf, size_t len)
{
    static const char *const names[] = {"KiB", "MiB", "GiB", "TiB"};
    size_t i = 0;
    double scaled;

    if (buf == NULL || len == 0)
        return buf;
    if (bytes < 1024) {
        snprintf(buf, len, "%llu B", (unsigned long long)bytes);
        return buf;
    }
    scaled = (double)bytes / 1024.0;
    while (i + 1 < sizeof names / sizeof names[0] && bytes >= ((uint64_t)1 << (10 * (i + 2)))) {
        scaled /= 1024.0;
        i++;
    }
    snprintf(buf, len, "%.2f %s", scaled, names[i]);
    return buf;
}

char *gt_units_format_torch(uint64_t bytes, char *buf, size_t len)
{
    /* MIRRORS: format_size: <= 1024 -> "N bytes"; <= 1 MiB -> KiB; <= 1 GiB ->
     * MiB; else GiB. */
    if (buf == NULL || len == 0)
        return buf;
    if (bytes <= 1024)
        snprintf(buf, len, "%llu bytes", (unsigned long long)bytes);
    else if (bytes <= ((uint64_t)1 << 20))
        snprintf(buf, len, "%.2f KiB", (double)bytes / 1024.0);
    else if (bytes <= ((uint64_t)1 << 30))
        snprintf(buf, len, "%.2f MiB", (double)bytes / 1048576.0);
    else
        snprintf(buf, len, "%.2f GiB", (double)bytes / 1073741824.0);
    return buf;
}

uint64_t gt_units_add_u64(uint64_t a, uint64_t b)
{
    uint64_t r;
    return __builtin_add_overflow(a, b, &r) ? UINT64_MAX : r;
}

int64_t gt_units_add_i64(int64_t a, int64_t b)
{
    int64_t r;
    if (!__builtin_add_overflow(a, b, &r))
        return r;
    return b > 0 ? INT64_MAX : INT64_MIN;
}

int64_t gt_units_sub_i64(int64_t a, int64_t b)
{
    int64_t r;
    if (!__builtin_sub_overflow(a, b, &r))
        return r;
    return b < 0 ? INT64_MAX : INT64_MIN;
}

int gt_units_utf8_lead(unsigned c, unsigned *lo, unsigned *hi)
{
    *lo = 0x80, *hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
        return 1;
    if (c >= 0xe0 && c <= 0xef) {
        *lo = c == 0xe0 ? 0xa0 : 0x80, *hi = c == 0xed ? 0x9f : 0xbf;
        return 2;
    }
    if (c >= 0xf0 && c <= 0xf4) {
        *lo = c == 0xf0 ? 0x90 : 0x80, *hi = c == 0xf4 ? 0x8f : 0xbf;
        return 3;
    }
    return 0;
}
