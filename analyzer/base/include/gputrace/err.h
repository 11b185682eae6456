/* Error codes shared by every gpu-trace module.
 *
 * Library code returns 0 or one of these negative values; it never prints and
 * never exits. Handles keep a detail message next to the code (for example
 * gt_trace_errmsg()); gt_strerror() names the code itself. */
#ifndef GPUTRACE_ERR_H
#define GPUTRACE_ERR_H

#include <stdarg.h>
#include <stddef.h>

enum {
    GT_OK = 0,
    GT_ENOMEM = -1,        /* out of host memory */
    GT_EIO = -2,           /* the OS refused a read, write or open */
    GT_ENOENT = -3,        /* no such file */
    GT_EFOREIGN = -4,      /* a file that is not a gpu-trace trace */
    GT_ENEWER = -5,        /* a trace written by a newer gpu-trace */
    GT_ECORRUPT = -6,      /* a damaged or truncated file */
    GT_EINVAL = -7,        /* an invalid value (config string, size, argument) */
    GT_ERANGE = -8,        /* a number out of its allowed range */
    GT_ESQL = -9,          /* SQLite reported an error not covered above */
    GT_EOOM = -10,         /* a simulated out-of-memory (not an error of the tool) */
    GT_EUNSUPPORTED = -11, /* valid input that gpu-trace does not handle */
};

/* gt_strerror: a short lowercase phrase for an error code; never NULL. */
const char *gt_strerror(int err);

/* gt_errf: writes a detail message, formatted as printf does, into
 * buf[len] (nothing when buf is NULL or len is 0) and returns rc, so that
 * an error path is one line: return gt_errf(err, errlen, GT_EINVAL, ...).
 * The one formatter of the library's detail messages; modules bind their
 * own buffer to it with a macro. */
int gt_errf(char *buf, size_t len, int rc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* gt_verrf: gt_errf for a caller that is variadic itself (a module's
 * sticky error, a message with a prefix), so that they format through the
 * same code. */
int gt_verrf(char *buf, size_t len, int rc, const char *fmt, va_list ap)
    __attribute__((format(printf, 4, 0)));

#endif
