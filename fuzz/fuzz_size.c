/* libFuzzer target for the number parsers of units.h: sizes stay within
 * 2^63 bytes, integers within their bound, doubles finite; a rejected input
 * leaves the output untouched and, for sizes, says why. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gputrace/err.h"
#include "gputrace/units.h"

#include "gputrace/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_size(const char *text)
{
    char err[128];
    char buf[32];
    uint64_t v = 42;
    int rc;

    err[0] = '\0';
    rc = gt_units_parse_size(text, &v, err, sizeof err);
    if (rc == GT_OK) {
        if (v > ((uint64_t)1 << 63))
            __builtin_trap();
        gt_units_format_bytes(v, buf, sizeof buf);
        if (memchr(buf, '\0', sizeof buf) == NULL)
            __builtin_trap();
        return;
    }
    if ((rc != GT_EINVAL && rc != GT_ERANGE) || v != 42 || err[0] == '\0')
        __builtin_trap();
}

static void check_u64(const char *text, uint64_t max)
{
    uint64_t v = 42;
    int rc = gt_units_parse_u64(text, max, &v);

    if (rc == GT_OK && v > max)
        __builtin_trap();
    if (rc != GT_OK && ((rc != GT_EINVAL && rc != GT_ERANGE) || v != 42))
        __builtin_trap();
}

static void check_double(const char *text)
{
    double d = 42.0;
    int rc = gt_units_parse_double(text, &d);

    if (rc == GT_OK && !isfinite(d))
        __builtin_trap();
    if (rc != GT_OK && d != 42.0)
        __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    uint64_t max = 0;

    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    for (size_t i = 0; i < size && i < 8; i++)
        max = (max << 8) | data[i];
    check_size(text);
    check_u64(text, UINT64_MAX);
    check_u64(text, max);
    check_double(text);
    free(text);
    return 0;
}
