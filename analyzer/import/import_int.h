/* Shared by the importers: how an import starts and ends, so that every
 * format leaves the same things behind on success and on failure. */
#ifndef GPUTRACE_IMPORT_INT_H
#define GPUTRACE_IMPORT_INT_H

#include <stddef.h>

#include "gputrace/import.h"
#include "gputrace/trace.h"

/* The CSV interchange format's header line, which also tells it apart. */
#define GT_IMPORT_CSV_HEADER "ts_ns,action,addr,size,stream,device"

/* gt_import_start: the summary an import fills: sum, or local when the
 * caller wants none; zeroed. errbuf[errlen] (may be NULL) is emptied, so a
 * success leaves no stale message. */
struct gt_import_summary *gt_import_start(struct gt_import_summary *sum,
                                          struct gt_import_summary *local, char *errbuf,
                                          size_t errlen);

/* gt_import_finish: ends an import whose outcome so far is rc: closes w
 * (NULL when no trace was created), a failed close becoming the error
 * ("cannot write 'PATH': ..."), and on any error removes trace_path. The
 * trace was created by this import (gt_trace_create never opens a file
 * that exists), so removing it loses nothing that was there before.
 * Returns the outcome. */
int gt_import_finish(struct gt_trace_writer *w, const char *trace_path, int rc, char *errbuf,
                     size_t errlen);

#endif
