/* PYTORCH_CUDA_ALLOC_CONF: parsing and validation with PyTorch's grammar and
 * error messages (c10/core/AllocatorConfig.cpp and
 * c10/cuda/CUDAAllocatorConfig.cpp, newest release, ~2.9+; see
 * docs/notes/pytorch-allocator.md §11), plus the two names gpu-trace adds:
 * "default" (no settings) and "nocache" (PYTORCH_NO_CUDA_MEMORY_CACHING=1). */
#ifndef GPUTRACE_CONF_H
#define GPUTRACE_CONF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GT_CONF_MIB ((uint64_t)1 << 20)
#define GT_CONF_UNLIMITED UINT64_MAX
#define GT_CONF_DIVISION_INTERVALS 16 /* MIRRORS: kRoundUpPowerOfTwoIntervals = 16 */

enum gt_conf_backend { GT_CONF_BACKEND_NATIVE = 0, GT_CONF_BACKEND_ASYNC = 1 };

/* A parsed allocator configuration. Invariants after a successful parse:
 * max_split_size is GT_CONF_UNLIMITED or >= large_segment_size; every
 * roundup_divisions entry is 0 or a power of two; 0 <= gc_threshold < 1;
 * 0 <= memory_fraction <= 1 (1 = no limit). */
struct gt_conf {
    uint64_t max_split_size;         /* bytes; GT_CONF_UNLIMITED by default */
    uint64_t max_non_split_rounding; /* bytes; default 20 MiB */
    uint64_t large_segment_size;     /* bytes; default 20 MiB (kLargeBuffer) */
    uint32_t roundup_divisions[GT_CONF_DIVISION_INTERVALS]; /* 0 = plain 512 B rounding */
    double gc_threshold;    /* garbage_collection_threshold; 0 = off */
    double memory_fraction; /* per_process_memory_fraction; 1.0 = no limit */
    bool expandable_segments;
    bool release_lock_on_cudamalloc; /* parsed, no memory effect */
    bool no_caching;                 /* "nocache": PYTORCH_NO_CUDA_MEMORY_CACHING=1 */
    enum gt_conf_backend backend;
    char name[256]; /* the text as given, for reports */
};

/* gt_conf_init_default: PyTorch with no settings. */
void gt_conf_init_default(struct gt_conf *c);

/* gt_conf_parse: parses "default", "nocache", "" (= default) or a
 * PYTORCH_CUDA_ALLOC_CONF string into c (initialised to the defaults first).
 * What PyTorch rejects is rejected: GT_EINVAL with PyTorch's reason in errbuf,
 * e.g. "CachingAllocator option max_split_size_mb too small, must be >= 20".
 * Host-only (pinned_*) keys are accepted and ignored as PyTorch's device
 * allocator ignores them. GT_EUNSUPPORTED for valid settings whose effect is
 * not simulated (throw_on_cudamalloc_oom:True), GT_ENOMEM if the token list
 * cannot be allocated. On any error *c holds the defaults. errbuf may be NULL
 * (errlen 0); docs/alloc-conf.md lists the keys. */
int gt_conf_parse(const char *text, struct gt_conf *c, char *errbuf, size_t errlen);

/* gt_conf_same_settings: x and y simulate the same allocator: every field
 * that changes the simulation is equal. The name is only how they were
 * written: "" and "default", or "max_split_size_mb:64,expandable_segments:True"
 * and the other order, are the same settings. */
bool gt_conf_same_settings(const struct gt_conf *x, const struct gt_conf *y);

/* gt_conf_max_split_reported: max_split_size as memory_stats and
 * allocator_settings report it: bytes, -1 when unlimited. */
int64_t gt_conf_max_split_reported(const struct gt_conf *c);

/* gt_conf_divisions_for: the roundup_power2_divisions entry that applies to a
 * size (MIRRORS: AcceleratorAllocatorConfig::roundup_power2_divisions). */
uint32_t gt_conf_divisions_for(const struct gt_conf *c, uint64_t size);

#endif
