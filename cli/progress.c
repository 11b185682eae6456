/* The progress bar of long analyses (cli_int.h): drawn on stderr only when
 * it is a terminal, so that logs and pipes get nothing but messages. */
#include "cli_int.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "gputrace/banned.h"

#define BAR_WIDTH 40

bool cli_progress_start(struct cli_progress *p, const char *label)
{
    p->label = label;
    p->shown = -1;
    return isatty(STDERR_FILENO) != 0;
}

void cli_progress_draw(void *ctx, int64_t done, int64_t total)
{
    struct cli_progress *p = ctx;
    int pct = total > 0 ? (int)(done * 100 / total) : 0;

    if (pct > 100)
        pct = 100;
    if (pct == p->shown)
        return;
    p->shown = pct;
    fprintf(stderr, "\r%s: [%-*.*s] %3d%%", p->label, BAR_WIDTH, pct * BAR_WIDTH / 100,
            "########################################", pct);
    fflush(stderr);
}

void cli_progress_clear(const struct cli_progress *p)
{
    /* label, ": [", the bar, "] ", "100%": at least what analyze always
     * cleared (60 columns). */
    int width = (int)strlen(p->label) + BAR_WIDTH + 9;

    if (p->shown >= 0)
        fprintf(stderr, "\r%*s\r", width > 60 ? width : 60, "");
}
