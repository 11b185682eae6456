/* Shared inside the scenario module: the start state of a profiler window
 * on a warm allocator (scenario_warm.c), and the pieces of scenario.c it
 * builds on, so that both passes read and collect alike. */
#ifndef GPUTRACE_SCENARIO_INT_H
#define GPUTRACE_SCENARIO_INT_H

#include <stddef.h>
#include <stdint.h>

#include "gputrace/scenario.h"
#include "gputrace/trace.h"

/* A growable array of start-state blocks; the caller owns v (free() it,
 * also after an error). */
struct gt_block_list {
    struct gt_initial_block *v;
    size_t n, cap;
};

/* gt_scenario_keep_block: appends a copy of *b to the gt_block_list ctx; a
 * callback of gt_trace_initial_blocks, so one way of growing the start
 * state serves the recorded and the rebuilt one. 0 or GT_ENOMEM (the list
 * is unchanged then). */
int gt_scenario_keep_block(void *ctx, const struct gt_initial_block *b);

/* gt_scenario_warm_start: for every device of s without a recorded start
 * state whose first request carries totals (a profiler trace), appends to
 * s->blocks the start state those totals and the window's frees imply and
 * sets the device's start_inferred; s->blocks stays in (device, addr)
 * order. Reads the trace again through r (rewound). Call before the start
 * state is attached to the devices. Returns 0, GT_ENOMEM, or an error of
 * the reader (errbuf says which). */
int gt_scenario_warm_start(struct gt_scenario *s, struct gt_trace_reader *r, char *errbuf,
                           size_t errlen);

#endif
