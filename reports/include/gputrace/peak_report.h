/* The writers of what was live at the peak: groups of allocations by call
 * stack, for people and as JSON. */
#ifndef GPUTRACE_PEAK_REPORT_H
#define GPUTRACE_PEAK_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "gputrace/peak.h"

/* gt_peak_groups_table_write: one line per group ("  10 x 4.94 GiB (asked
 * ...) file:line function < ..."), after indent. gt_peak_groups_json_write:
 * the JSON list of groups as in "top" below. */
void gt_peak_groups_table_write(FILE *f, const char *indent, const struct gt_peak_group *g,
                                size_t n);
void gt_peak_groups_json_write(FILE *f, const struct gt_peak_group *g, size_t n);

/* Writers: a section per device for people, and
 * the JSON value of "live_at_peak": [{"device", "event", "reserved_bytes",
 * "allocated_bytes", "allocations", "groups", "top": [{"count",
 * "requested_bytes", "block_bytes", "origin" ("stack", "no_frames",
 * "start_state"), "frames": [{"file", "line", "function"}]}]}]. 0 or GT_EIO. */
int gt_peak_live_table_write(FILE *f, const struct gt_peak_live *p);
int gt_peak_live_json_write(FILE *f, const struct gt_peak_live *p);

#endif
