/* The out-of-memory error PyTorch printed, read from pasted text, with a
 * verdict and no trace.
 *
 * Most users arrive with nothing but this message: whole or cut, wrapped by
 * a terminal, inside a traceback, with log prefixes around it. The reader
 * looks for the last message in the text and takes PyTorch's numbers from
 * it, in every wording PyTorch has printed (c10/cuda/CUDACachingAllocator.cpp
 * and its ROCm, XPU, MPS and cudaMallocAsync siblings). Sizes are printed by
 * PyTorch's format_size with 2 decimals, so each is known to within half a
 * unit of its last digit; verdicts allow for that. */
#ifndef GPUTRACE_OOM_MESSAGE_H
#define GPUTRACE_OOM_MESSAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The wordings, newest first. */
enum gt_oom_msg_format {
    GT_OOM_MSG_CUDA,        /* 2.1+: "GPU 0 has a total capacity of ... of which ... is free" */
    GT_OOM_MSG_CUDA_1X,     /* 1.4-2.0: "(GPU 0; T total capacity; A already allocated; ...)" */
    GT_OOM_MSG_CUDA_CACHED, /* before 1.4: "...; F free; C cached)", C = reserved - allocated */
    GT_OOM_MSG_CUDA_ASYNC,  /* backend:cudaMallocAsync: "Allocation on device 0 would exceed ..." */
    GT_OOM_MSG_HIP,         /* ROCm: "HIP out of memory", PYTORCH_HIP_ALLOC_CONF */
    GT_OOM_MSG_XPU,         /* Intel GPUs: "XPU out of memory" */
    GT_OOM_MSG_MPS,         /* Apple: "MPS backend out of memory" */
};

enum gt_oom_msg_verdict {
    GT_OOM_MSG_FRAGMENTATION, /* the cached memory could have held the request, unsplit */
    GT_OOM_MSG_GENUINE,       /* allocated + request exceed what the card can give */
    GT_OOM_MSG_OTHER_PROCESS, /* memory outside this process's allocator is what is missing */
    GT_OOM_MSG_UNCLEAR,
};

/* One number of the message: absent, printed, or derived from others.
 * slack: how far the true value may be from bytes (half the last printed
 * digit, summed over the numbers a derived one comes from). */
struct gt_oom_msg_value {
    bool known, derived;
    uint64_t bytes, slack;
};

#define GT_OOM_MSG_MAX_PROCESSES 32

struct gt_oom_message {
    enum gt_oom_msg_format format;
    bool gpu_known;
    int64_t gpu_index;
    struct gt_oom_msg_value tried, total, free, process_in_use, allocated, reserved,
        reserved_unallocated, private_pools, limit, other_allocations;
    /* the processes the message lists, but this one (the entry equal to
     * process_in_use); nprocesses_listed counts them all */
    size_t nprocesses, nprocesses_listed;
    struct {
        int64_t pid;
        uint64_t bytes;
    } processes[GT_OOM_MSG_MAX_PROCESSES];
    enum gt_oom_msg_verdict verdict;
    uint64_t shrink_bytes; /* genuine: what the peak must shrink by, at least */
    char why[640];
    char next[1024];
};

/* gt_oom_message_parse: reads the last PyTorch out-of-memory message in
 * text[0..len) into *out, with its verdict. Returns 0, or GT_EINVAL when the
 * text holds no such message with numbers (errbuf says which: none at all,
 * or one without numbers, as very old releases printed). */
int gt_oom_message_parse(const char *text, size_t len, struct gt_oom_message *out, char *errbuf,
                         size_t errlen);

/* gt_oom_message_read: the same from a file ("-": standard input), read up
 * to 4 MiB (a pasted log; the message is at its end). Errors as parse, and
 * GT_ENOENT/GT_EIO naming the file in errbuf. */
int gt_oom_message_read(const char *path, struct gt_oom_message *out, char *errbuf, size_t errlen);

/* The words of the JSON output. */
const char *gt_oom_message_format_name(enum gt_oom_msg_format f);
const char *gt_oom_message_verdict_name(enum gt_oom_msg_verdict v);

#endif
