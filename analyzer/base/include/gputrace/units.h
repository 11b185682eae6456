/* Bounds-checked number parsing and size formatting shared by the CLI and the
 * config parser: the only place where text becomes a number. */
#ifndef GPUTRACE_UNITS_H
#define GPUTRACE_UNITS_H

#include <stddef.h>
#include <stdint.h>

/* gt_units_parse_size: "8GiB", "8G", "8GB", "7.5GiB", "512MiB", "1048576" ->
 * bytes. Units are binary (K=KiB=KB=1024, M, G, T), because cards are sold in
 * GiB and PyTorch prints GiB. Case-insensitive; no sign, no spaces inside.
 * Returns GT_EINVAL for text that is not a size (errbuf names the problem, e.g.
 * "unknown unit 'XB'") and GT_ERANGE past 2^63 bytes. */
int gt_units_parse_size(const char *text, uint64_t *bytes, char *errbuf, size_t errlen);

/* gt_units_parse_u64: a plain decimal integer without sign or spaces;
 * GT_EINVAL if not a number, GT_ERANGE if above max. */
int gt_units_parse_u64(const char *text, uint64_t max, uint64_t *out);
/* gt_units_parse_double: a finite decimal number ("0.8", "1", "1e-3"). */
int gt_units_parse_double(const char *text, double *out);

/* gt_units_format_bytes: "512 B", "1.50 KiB", "20.00 MiB", "7.93 GiB" (two
 * decimals, PyTorch's style); always NUL-terminates buf. Returns buf. */
char *gt_units_format_bytes(uint64_t bytes, char *buf, size_t len);

/* gt_units_format_torch: a size as PyTorch's OOM message prints it
 * (format_size in CUDACachingAllocator.cpp): "N bytes" up to 1024, then KiB,
 * MiB or GiB with two decimals, never TiB ("800000000.00 GiB"). Returns buf. */
char *gt_units_format_torch(uint64_t bytes, char *buf, size_t len);

/* gt_units_log2_floor: floor(log2 v), 0 for v = 0 and 1; one instruction,
 * since the simulator's roundup_power2_divisions rules take it on every
 * malloc. */
static inline unsigned gt_units_log2_floor(uint64_t v)
{
    return v ? (unsigned)(63 - __builtin_clzll(v)) : 0;
}

/* Checked arithmetic for numbers that come from files (sizes, timestamps):
 * sums and differences saturate at the type's limits instead of wrapping
 * or overflowing, so a hostile value gives a huge answer, never a small
 * wrong one or undefined behaviour. */
uint64_t gt_units_add_u64(uint64_t a, uint64_t b);
int64_t gt_units_add_i64(int64_t a, int64_t b);
int64_t gt_units_sub_i64(int64_t a, int64_t b);

/* gt_units_utf8_lead: for a lead byte c of a multi-byte UTF-8 sequence,
 * the continuation bytes that follow (1 to 3) and the range [*lo, *hi] of
 * the first of them (RFC 3629: no overlong forms, no surrogates, nothing
 * past U+10FFFF; later ones are 0x80..0xbf). 0 when c cannot lead one. The
 * one reading of UTF-8's rules, for the JSON reader and the pickle writer. */
int gt_units_utf8_lead(unsigned c, unsigned *lo, unsigned *hi);

#endif
