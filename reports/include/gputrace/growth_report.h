/* The writers of the iteration and growth analysis, for people and as JSON. */
#ifndef GPUTRACE_GROWTH_REPORT_H
#define GPUTRACE_GROWTH_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "gputrace/growth.h"

/* Writers: a section per device for people, and
 * the JSON value of "iterations": [{"device", "allocations_searched",
 * "truncated", "found", "period_allocations", "match", "iterations",
 * "boundaries": [{"event", "allocated_bytes"}], "growth_bytes_per_iteration",
 * "leak", "kept_allocations", "kept_bytes", "groups", "top": [as
 * live_at_peak's]}]. 0 or GT_EIO. */
int gt_growth_table_write(FILE *f, const struct gt_growth *g);
int gt_growth_json_write(FILE *f, const struct gt_growth *g);

#endif
