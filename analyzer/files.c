/* Input and output checks (files.h). */
#include "gputrace/files.h"
#include "gputrace/err.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

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

int gt_files_check_input(const char *path, char *errbuf, size_t errlen)
{
    struct stat sb;

    if (stat(path, &sb) != 0) {
        int e = errno;
        snprintf(errbuf, errlen, "cannot open: %s", strerror(e));
        return e == ENOENT || e == ENOTDIR ? GT_ENOENT : GT_EIO;
    }
    if (S_ISDIR(sb.st_mode)) {
        snprintf(errbuf, errlen, "is a directory");
        return GT_EIO;
    }
    if (!S_ISREG(sb.st_mode)) {
        snprintf(errbuf, errlen, "is not a regular file (%s)", kind_of(sb.st_mode));
        return GT_EIO;
    }
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
