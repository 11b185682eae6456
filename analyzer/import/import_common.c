/* How an import starts and ends (import_int.h). */
#include "import_int.h"

#include <string.h>
#include <unistd.h>

#include "gputrace/err.h"

#include "gputrace/banned.h"

struct gt_import_summary *gt_import_start(struct gt_import_summary *sum,
                                          struct gt_import_summary *local, char *errbuf,
                                          size_t errlen)
{
    struct gt_import_summary *s = sum != NULL ? sum : local;

    memset(s, 0, sizeof *s);
    if (errbuf != NULL && errlen > 0)
        errbuf[0] = '\0';
    return s;
}

int gt_import_finish(struct gt_trace_writer *w, const char *trace_path, int rc, char *errbuf,
                     size_t errlen)
{
    if (w == NULL)
        return rc;
    int close_rc = gt_trace_writer_close(w);
    if (rc == GT_OK && close_rc != GT_OK)
        rc = gt_errf(errbuf, errlen, close_rc, "cannot write '%s': %s", trace_path,
                     gt_strerror(close_rc));
    if (rc != GT_OK)
        unlink(trace_path);
    return rc;
}
