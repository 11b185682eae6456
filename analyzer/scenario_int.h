/* Shared inside the scenario module: the start state of a profiler window
 * on a warm allocator (scenario_warm.c). */
#ifndef GPUTRACE_SCENARIO_INT_H
#define GPUTRACE_SCENARIO_INT_H

#include <stddef.h>

#include "gputrace/scenario.h"
#include "gputrace/trace.h"

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
