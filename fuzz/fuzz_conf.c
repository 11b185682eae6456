/* libFuzzer target for gt_conf_parse: any text either parses into a
 * configuration that keeps the invariants of struct gt_conf, or is rejected
 * with a message. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gputrace/conf.h"
#include "gputrace/err.h"

#include "gputrace/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int is_pow2_or_zero(uint32_t v)
{
    return (v & (v - 1)) == 0;
}

static void check_conf(const struct gt_conf *c)
{
    if (c->max_split_size != GT_CONF_UNLIMITED && c->max_split_size < c->large_segment_size)
        __builtin_trap();
    if (c->large_segment_size <= 10 * GT_CONF_MIB || c->large_segment_size % GT_CONF_MIB != 0)
        __builtin_trap();
    if (c->max_non_split_rounding < c->large_segment_size)
        __builtin_trap();
    for (int i = 0; i < GT_CONF_DIVISION_INTERVALS; i++) {
        if (!is_pow2_or_zero(c->roundup_divisions[i]))
            __builtin_trap();
    }
    if (!(c->gc_threshold >= 0.0 && c->gc_threshold < 1.0))
        __builtin_trap();
    if (!(c->memory_fraction >= 0.0 && c->memory_fraction <= 1.0))
        __builtin_trap();
    if (c->backend != GT_CONF_BACKEND_NATIVE && c->backend != GT_CONF_BACKEND_ASYNC)
        __builtin_trap();
    if (memchr(c->name, '\0', sizeof c->name) == NULL)
        __builtin_trap();
    for (unsigned shift = 0; shift < 64; shift++) {
        uint32_t d = gt_conf_divisions_for(c, (uint64_t)1 << shift);
        if (!is_pow2_or_zero(d))
            __builtin_trap();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    char err[256];
    struct gt_conf c;
    int rc;

    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    err[0] = 'x';
    rc = gt_conf_parse(text, &c, err, sizeof err);
    if (rc == GT_OK) {
        if (err[0] != '\0')
            __builtin_trap();
        check_conf(&c);
    } else {
        if (rc != GT_EINVAL && rc != GT_EUNSUPPORTED && rc != GT_ENOMEM)
            __builtin_trap();
        if (err[0] == '\0' || memchr(err, '\0', sizeof err) == NULL)
            __builtin_trap();
        /* on error c holds the defaults */
        if (c.max_split_size != GT_CONF_UNLIMITED || c.no_caching)
            __builtin_trap();
    }
    free(text);
    return 0;
}
