/* Input and output checks (files.h). */
#include "gputrace/files.h"
#include "gputrace/err.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gputrace/banned.h"

static const char *kind_of(mode_t m)
{
    if (S_ISDIR(m))
        return "a directory";
    if (S_ISFIFO(m))
        return "a FIFO";
    if (S_ISSOCK(m))
        return "a socket";
    if (S_ISCHR(m))
        return "a character device";
    if (S_ISBLK(m))
        return "a block device";
    if (S_ISLNK(m))
        return "a symbolic link";
    return "not a regular file";
}

/* The reason a stat or open of an input failed, in one wording whichever
 * call it was; a missing file is GT_ENOENT so callers can say so. */
static int cannot_open(int e, char *errbuf, size_t errlen)
{
    snprintf(errbuf, errlen, "cannot open: %s", strerror(e));
    return e == ENOENT || e == ENOTDIR ? GT_ENOENT : GT_EIO;
}

/* 0 for a regular file; otherwise GT_EIO and what it is instead, so the
 * check before an open and the one after it refuse in the same words. */
static int refuse_special(mode_t m, char *errbuf, size_t errlen)
{
    if (S_ISDIR(m)) {
        snprintf(errbuf, errlen, "is a directory");
        return GT_EIO;
    }
    if (!S_ISREG(m)) {
        snprintf(errbuf, errlen, "is not a regular file (%s)", kind_of(m));
        return GT_EIO;
    }
    return 0;
}

int gt_files_check_input(const char *path, char *errbuf, size_t errlen)
{
    struct stat sb;

    if (stat(path, &sb) != 0)
        return cannot_open(errno, errbuf, errlen);
    return refuse_special(sb.st_mode, errbuf, errlen);
}

int gt_files_open_input(const char *path, int *fd, uint64_t *size, char *errbuf, size_t errlen)
{
    struct stat sb;
    int rc, flags;

    *fd = -1;
    /* Special files are refused before they are opened: opening a device
     * can act on it by itself, and a socket cannot be opened at all. */
    if ((rc = gt_files_check_input(path, errbuf, errlen)) != 0)
        return rc;
    /* O_NONBLOCK: a FIFO put there since the check must not hang the open;
     * O_NOCTTY: nor may a terminal become the controlling one. */
    int f = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (f < 0)
        return cannot_open(errno, errbuf, errlen);
    if (fstat(f, &sb) != 0) {
        rc = cannot_open(errno, errbuf, errlen);
    } else if ((rc = refuse_special(sb.st_mode, errbuf, errlen)) == 0) {
        /* reads of a regular file never block; the flag only guarded the
         * open, and callers expect ordinary blocking reads */
        if ((flags = fcntl(f, F_GETFL)) < 0 || fcntl(f, F_SETFL, flags & ~O_NONBLOCK) < 0)
            rc = cannot_open(errno, errbuf, errlen);
    }
    if (rc != 0) {
        close(f);
        return rc;
    }
    if (size != NULL)
        *size = (uint64_t)sb.st_size;
    *fd = f;
    return 0;
}

int gt_files_check_output(const char *out, const char *const *inputs, size_t n, char *errbuf,
                          size_t errlen)
{
    struct stat o, in;

    if (lstat(out, &o) != 0)
        return 0; /* absent (or unreachable: creating it will say why) */
    if (S_ISLNK(o.st_mode))
        return 0; /* the link itself is replaced, never its target */
    if (!S_ISREG(o.st_mode)) {
        snprintf(errbuf, errlen, "cannot write '%s': it exists and is %s", out, kind_of(o.st_mode));
        return GT_EIO;
    }
    for (size_t i = 0; i < n; i++) {
        if (inputs[i] != NULL && stat(inputs[i], &in) == 0 && in.st_dev == o.st_dev &&
            in.st_ino == o.st_ino) {
            snprintf(errbuf, errlen, "cannot write '%s': it is the input '%s'", out, inputs[i]);
            return GT_EIO;
        }
    }
    return 0;
}

/* The temporary file beside out: ".NAME.XXXXXX" in out's folder, so that
 * the rename stays within one file system. */
static int temp_name(const char *out, char *tmp, size_t len)
{
    const char *slash = strrchr(out, '/');
    int n;
    if (slash != NULL)
        n = snprintf(tmp, len, "%.*s/.%s.XXXXXX", (int)(slash - out), out, slash + 1);
    else
        n = snprintf(tmp, len, ".%s.XXXXXX", out);
    return n < 0 || (size_t)n >= len ? GT_EIO : 0;
}

int gt_files_write_atomically(const char *out, const char *const *inputs, size_t n, mode_t mode,
                              int (*write)(FILE *f, void *ctx), void *ctx, char *errbuf,
                              size_t errlen)
{
    char tmp[4096];
    int fd, rc, saved = 0;
    FILE *f;

    if (temp_name(out, tmp, sizeof tmp) != 0) {
        snprintf(errbuf, errlen, "cannot write '%s': the path is too long", out);
        return GT_EIO;
    }
    /* the rename below replaces a regular file only, and never an input */
    if (gt_files_check_output(out, inputs, n, errbuf, errlen) != 0)
        return GT_EIO;
    fd = mkstemp(tmp);
    if (fd < 0) {
        snprintf(errbuf, errlen, "cannot write '%s': %s", out, strerror(errno));
        return GT_EIO;
    }
    if (fchmod(fd, mode) != 0 || (f = fdopen(fd, "w")) == NULL) {
        saved = errno;
        close(fd);
        unlink(tmp);
        snprintf(errbuf, errlen, "cannot write '%s': %s", out, strerror(saved));
        return GT_EIO;
    }
    rc = write(f, ctx);
    if (fflush(f) != 0 || fsync(fileno(f)) != 0) {
        saved = errno;
        rc = rc != 0 ? rc : GT_EIO;
    }
    if (fclose(f) != 0 && rc == 0) {
        saved = errno;
        rc = GT_EIO;
    }
    if (rc == 0 && rename(tmp, out) != 0) {
        saved = errno;
        rc = GT_EIO;
    }
    if (rc != 0) {
        unlink(tmp);
        snprintf(errbuf, errlen, "cannot write '%s': %s", out,
                 rc == GT_EIO && saved != 0 ? strerror(saved) : gt_strerror(rc));
    }
    return rc;
}

int gt_files_write_output(const char *out, const char *const *inputs, size_t n,
                          int (*write)(FILE *f, void *ctx), void *ctx, char *errbuf, size_t errlen)
{
    if (strcmp(out, "-") != 0)
        return gt_files_write_atomically(out, inputs, n, 0644, write, ctx, errbuf, errlen);
    int rc = write(stdout, ctx);
    if (fflush(stdout) != 0 && rc == 0)
        rc = GT_EIO;
    if (rc != 0)
        snprintf(errbuf, errlen, "cannot write to standard output: %s",
                 rc == GT_EIO ? strerror(errno) : gt_strerror(rc));
    return rc;
}
