/* gt_strerror: names for the error codes of err.h. */
#include "gputrace/err.h"

#include <stdarg.h>
#include <stdio.h>

int gt_verrf(char *buf, size_t len, int rc, const char *fmt, va_list ap)
{
    if (buf != NULL && len > 0)
        vsnprintf(buf, len, fmt, ap);
    return rc;
}

int gt_errf(char *buf, size_t len, int rc, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    gt_verrf(buf, len, rc, fmt, ap);
    va_end(ap);
    return rc;
}

const char *gt_strerror(int err)
{
    switch (err) {
    case GT_OK:
        return "success";
    case GT_ENOMEM:
        return "out of memory";
    case GT_EIO:
        return "input/output error";
    case GT_ENOENT:
        return "no such file";
    case GT_EFOREIGN:
        return "not a gpu-trace file";
    case GT_ENEWER:
        return "written by a newer gpu-trace";
    case GT_ECORRUPT:
        return "corrupt or truncated";
    case GT_EINVAL:
        return "invalid value";
    case GT_ERANGE:
        return "value out of range";
    case GT_ESQL:
        return "database error";
    case GT_EOOM:
        return "simulated out of memory";
    case GT_EUNSUPPORTED:
        return "not supported";
    default:
        return "unknown error";
    }
}
