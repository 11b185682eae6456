/* The trace's file name for `record -o` (record.h): placeholders that make
 * one pattern name a different file on each node and rank of a job, so that
 * `srun gpu-trace record -o 'run-%h-%r.db' -- ...` on a shared file system
 * never has two records reach for one name (docs/record.md, "Many nodes"). */
#include "gputrace/record.h"
#include "gputrace/err.h"
#include "gputrace/ring.h"
#include "gputrace/text.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gputrace/banned.h"

#define MAX_RANK_DIGITS 18 /* fits int64_t whatever the digits */

void gt_record_host(char *buf, size_t len)
{
    const char *env = getenv(GT_RECORD_ENV_HOST);

    if (len == 0)
        return;
    if (env != NULL && env[0] != '\0') {
        snprintf(buf, len, "%s", env);
        return;
    }
    /* POSIX leaves a truncated name's termination open. */
    if (gethostname(buf, len) != 0)
        buf[0] = '\0';
    buf[len - 1] = '\0';
}

void gt_record_name_from_env(struct gt_record_name *n, char *hostbuf, size_t hostlen)
{
    memset(n, 0, sizeof *n);
    gt_record_host(hostbuf, hostlen);
    n->host = hostbuf;
    /* A `record` started by a launcher reads the rank variable it set. */
    n->rank = gt_ring_rank_env(&n->rank_var);
    n->pid = (int64_t)getpid();
}

/* Its error messages go through the library's one formatter. */
#define fail(rc, buf, len, ...) gt_errf(buf, len, rc, __VA_ARGS__)

/* A rank as a launcher writes it: decimal digits only. Leading zeros are
 * dropped so that "01" and "1" cannot name two files for one rank. */
static bool parse_rank(const char *text, int64_t *out)
{
    int64_t v = 0;
    size_t n = 0;

    for (const char *p = text; *p != '\0'; p++, n++) {
        if (*p < '0' || *p > '9' || n == MAX_RANK_DIGITS)
            return false;
        v = v * 10 + (*p - '0');
    }
    *out = v;
    return n > 0;
}

int gt_record_expand_output(const char *pattern, const struct gt_record_name *n, char *out,
                            size_t len, char *errbuf, size_t errlen)
{
    size_t at = 0;
    char num[32];
    int64_t rank;

    if (len == 0)
        return fail(GT_ERANGE, errbuf, errlen, "no room for the name");
    for (const char *p = pattern; *p != '\0'; p++) {
        const char *put = NULL; /* text to append, else the byte *p */
        bool host = false;      /* put is the host name: sanitize it */

        if (*p == '%') {
            switch (p[1]) {
            case '%':
                put = "%";
                break;
            case 'h':
                if (n->host == NULL || n->host[0] == '\0')
                    return fail(GT_ENOENT, errbuf, errlen,
                                "%%h: the host has no name (set " GT_RECORD_ENV_HOST ")");
                put = n->host;
                host = true;
                break;
            case 'r':
                if (n->rank_var == NULL)
                    return fail(GT_ENOENT, errbuf, errlen,
                                "%%r: no rank in the environment (none of RANK, SLURM_PROCID, "
                                "OMPI_COMM_WORLD_RANK, PMI_RANK is set)");
                if (!parse_rank(n->rank, &rank))
                    return fail(GT_ERANGE, errbuf, errlen, "%%r: %s is '%.64s', not a rank",
                                n->rank_var, n->rank);
                snprintf(num, sizeof num, "%" PRId64, rank);
                put = num;
                break;
            case 'p':
                snprintf(num, sizeof num, "%" PRId64, n->pid);
                put = num;
                break;
            case '\0':
                return fail(GT_EINVAL, errbuf, errlen,
                            "a '%%' ends the name (write %%%% for a '%%'; placeholders: %%h %%r "
                            "%%p %%%%)");
            default:
                return fail(GT_EINVAL, errbuf, errlen,
                            "unknown placeholder '%%%c' (placeholders: %%h %%r %%p %%%%)",
                            (unsigned char)p[1] >= 0x80 ? '?' : gt_text_shown((unsigned char)p[1]));
            }
            p++;
        }
        for (const char *q = put != NULL ? put : p; *q != '\0'; q++) {
            char c = *q;
            if (host && !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                          (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_'))
                c = '_';
            if (at + 1 >= len)
                return fail(GT_ERANGE, errbuf, errlen, "the name is longer than %zu bytes",
                            len - 1);
            out[at++] = c;
            if (put == NULL)
                break;
        }
    }
    out[at] = '\0';
    return GT_OK;
}
