/* The writers of `validate`: a paragraph per device and a JSON document. */
#ifndef GPUTRACE_VALIDATE_REPORT_H
#define GPUTRACE_VALIDATE_REPORT_H

#include <stdint.h>
#include <stdio.h>

#include "gputrace/validate.h"

/* Writers: a paragraph per device for people,
 * and the JSON document {"trace", "alloc_conf", "devices": [...]} that
 * docs/cli.md describes. 0 or GT_EIO. */
int gt_validate_table_write(FILE *f, const char *trace, const struct gt_validation *v);
int gt_validate_json_write(FILE *f, const char *trace, const struct gt_validation *v);

#endif
