/* What inject.c shares with its unit test (tracer/test_callback.c): the
 * callback, the table of enabled cbids, and, built with GT_INJECT_TESTING,
 * hooks that stand in for InitializeInjection's start. */
#ifndef GPUTRACE_INJECT_INT_H
#define GPUTRACE_INJECT_INT_H

#include <stddef.h>
#include <stdint.h>

#include "cuda_abi.h"

#include "ring_writer.h"

struct gt_inject_cbid {
    CUpti_CallbackDomain domain;
    CUpti_CallbackId cbid;
};

/* The cbids InitializeInjection enables (docs/notes/cupti.md §2.3), besides the STATE
 * domain's fatal error. */
extern const struct gt_inject_cbid gt_inject_cbids[];
extern const size_t gt_inject_ncbids;

/* The CUPTI callback. */
void CUPTIAPI gt_inject_callback(void *userdata, CUpti_CallbackDomain domain, CUpti_CallbackId cbid,
                                 const void *data);

#ifdef GT_INJECT_TESTING
/* Opens the process's ring in `dir` with `capacity` records and turns
 * tracing on, as InitializeInjection does after a successful subscribe.
 * Returns gt_ringw_open's result. */
int gt_inject_test_begin(const char *dir, uint64_t capacity);
/* The ring of gt_inject_test_begin. */
struct gt_ringw *gt_inject_test_ring(void);
/* Runs the exit hook (END record, tracing off). */
void gt_inject_test_end(void);
/* Runs the fork child handler in this process. */
void gt_inject_test_atfork_child(void);
#endif

#endif
