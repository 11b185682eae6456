/* The one-file HTML report of `gpu-trace report`: the trace summary
 * (stats.h), the ranked default sweep with the recommended setting
 * (replay.h), the four plots (plot.h) inlined as SVG, the OOM findings
 * (oom.h) and the lines that export the recommendation.
 *
 * The file is self-contained: inline <style> and <svg>, no script, no
 * reference to any other file or to the network, so it opens offline and
 * can be mailed or attached to a bug report as it is. */
#ifndef GPUTRACE_HTML_H
#define GPUTRACE_HTML_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "gputrace/scenario.h"

struct gt_html_options {
    uint64_t device_memory; /* the card asked about; 0 = the one the trace reveals */
    /* The trace's scenario (scenario.h), borrowed; NULL builds one from
     * device_memory. */
    const struct gt_scenario *scenario;
    int threads;         /* replay worker threads; 0 = one per online CPU */
    const char *gnuplot; /* program to run; NULL = "gnuplot" found on PATH */
    /* Called now and then with the work done so far out of total (all
     * stages together); may be NULL. */
    void (*progress)(void *ctx, int64_t done, int64_t total);
    void *progress_ctx;
};

/* What the caller should tell the user about a report that was written. */
struct gt_html_result {
    /* The plots could not be drawn (gnuplot missing or failing): the report
     * says so in their place and plots_error has the one-line reason. */
    bool plots_missing;
    char plots_error[256];
    /* The trace's recorded settings cannot be replayed (stats.h
     * config_error), or "". */
    char config_error[256];
};

/* gt_html_report_write: analyzes the trace at trace_path and writes the
 * report to out_path, atomically: into a temporary file in the same folder
 * that is renamed over out_path at the end (mode 0644), so a reader never
 * sees half a report and a failure leaves any earlier report in place. The
 * plots are drawn into a private temporary folder (mode 0700) that is
 * removed afterwards. res (may be NULL) is zeroed first and filled.
 * Errors: those of the trace reader and of replay (GT_ENOENT, GT_EFOREIGN,
 * GT_ENEWER, GT_ECORRUPT, GT_EUNSUPPORTED, GT_ESQL), GT_EIO (the report
 * cannot be written; errbuf names the file), GT_ENOMEM. Plots that cannot be
 * drawn are not an error (see gt_html_result). errbuf gets a one-line
 * message. */
int gt_html_report_write(const char *trace_path, const char *out_path,
                         const struct gt_html_options *opts, struct gt_html_result *res,
                         char *errbuf, size_t errlen);

/* gt_html_escape: writes text as HTML character data or attribute value:
 * & < > " ' become entities and control characters (< 0x20, 0x7f) '?', so
 * that text from a trace can neither open markup nor hide in the page. */
void gt_html_escape(FILE *f, const char *text);

/* gt_html_svg_inline: writes the <svg> element of an SVG document (len
 * bytes, need not be NUL-terminated) for inlining in HTML: what precedes
 * <svg (XML prolog, DOCTYPE, comments) and follows </svg> is dropped, and
 * so are the xmlns attributes (an HTML parser puts inline SVG in its
 * namespace by itself); every id="x" becomes id="<prefix>x" together with
 * the references "#x" and url(#x) to it, so that several plots in one page
 * keep distinct ids. Returns 0, GT_EINVAL when there is no <svg ...>...</svg>
 * or the SVG holds active content (<script>, <foreignObject>, on...=
 * handlers, references to other files), GT_ENOMEM, GT_EIO on a write error
 * of f. Except on GT_EIO, nothing is written when it fails. */
int gt_html_svg_inline(FILE *f, const char *svg, size_t len, const char *prefix);

#endif
