/* Plain or gzipped input files (gzfile.h), through zlib's inflate rather
 * than gzread, which cannot say that a member was followed by junk. */
#include "gputrace/gzfile.h"
#include "gputrace/err.h"
#include "gputrace/files.h"

#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "gputrace/banned.h"

/* Compressed (or plain) bytes read from the file at a time. */
#define IN_SIZE (64 * 1024)

/* Invariants: z.next_in points at z.avail_in bytes of in read from the file
 * but not consumed; file_read counts the bytes read from the file, so the
 * next unconsumed byte is at file offset file_read - z.avail_in. text
 * counts the bytes handed out. member_done: a gzip member ended and what
 * follows is not yet looked at. err is the first error, repeated by every
 * later read. */
struct gt_gzfile {
    int fd;
    char *path;
    bool gzip, inflating, in_eof, member_done, done;
    z_stream z;
    unsigned char *in;
    uint64_t file_read, text;
    int err;
    char msg[512];
};

static int fail(struct gt_gzfile *f, int err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(struct gt_gzfile *f, int err, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    f->err = gt_verrf(f->msg, sizeof f->msg, err, fmt, ap);
    va_end(ap);
    return err;
}

/* Tops the input up to at least want unconsumed bytes, or to the end of the
 * file. */
static int fill_input(struct gt_gzfile *f, size_t want)
{
    if (f->z.avail_in > 0 && f->z.next_in != f->in)
        memmove(f->in, f->z.next_in, f->z.avail_in);
    f->z.next_in = f->in;
    while (f->z.avail_in < want && !f->in_eof) {
        ssize_t n = read(f->fd, f->in + f->z.avail_in, IN_SIZE - f->z.avail_in);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return fail(f, GT_EIO, "cannot read '%s': %s", f->path, strerror(errno));
        if (n == 0)
            f->in_eof = true;
        f->z.avail_in += (uInt)n;
        f->file_read += (uint64_t)n;
    }
    return GT_OK;
}

int gt_gzfile_open(const char *path, struct gt_gzfile **out, char *errbuf, size_t errlen)
{
    struct gt_gzfile *f;
    char why[128];
    int fd, rc;

    *out = NULL;
    if ((rc = gt_files_open_input(path, &fd, NULL, why, sizeof why)) != GT_OK) {
        snprintf(errbuf, errlen, "cannot read '%s': %s", path, why);
        return rc;
    }
    f = calloc(1, sizeof *f);
    if (f == NULL || (f->path = malloc(strlen(path) + 1)) == NULL ||
        (f->in = malloc(IN_SIZE)) == NULL) {
        if (f != NULL)
            free(f->path);
        free(f);
        close(fd);
        snprintf(errbuf, errlen, "out of memory");
        return GT_ENOMEM;
    }
    memcpy(f->path, path, strlen(path) + 1);
    f->z.next_in = f->in;
    f->fd = fd;
    if (fill_input(f, 2) != GT_OK) {
        snprintf(errbuf, errlen, "%s", f->msg);
        gt_gzfile_close(f);
        return GT_EIO;
    }
    f->gzip = f->z.avail_in >= 2 && f->in[0] == 0x1f && f->in[1] == 0x8b;
    if (f->gzip) {
        /* 16 + window bits: gzip headers only, not zlib's or raw deflate. */
        if (inflateInit2(&f->z, 16 + MAX_WBITS) != Z_OK) {
            snprintf(errbuf, errlen, "out of memory");
            gt_gzfile_close(f);
            return GT_ENOMEM;
        }
        f->inflating = true;
    }
    *out = f;
    return GT_OK;
}

static int read_plain(struct gt_gzfile *f, char *buf, size_t cap, size_t *got)
{
    while (*got < cap) {
        size_t n;
        if (f->z.avail_in == 0 && fill_input(f, 1) != GT_OK)
            return f->err;
        if (f->z.avail_in == 0)
            break;
        n = cap - *got < f->z.avail_in ? cap - *got : f->z.avail_in;
        memcpy(buf + *got, f->z.next_in, n);
        f->z.next_in += n;
        f->z.avail_in -= (uInt)n;
        *got += n;
    }
    return GT_OK;
}

/* After a member: the end of the file, or the magic of the next member. */
static int next_member(struct gt_gzfile *f)
{
    if (fill_input(f, 2) != GT_OK)
        return f->err;
    if (f->z.avail_in == 0) {
        f->done = true;
        return GT_OK;
    }
    if (f->z.avail_in < 2 || f->z.next_in[0] != 0x1f || f->z.next_in[1] != 0x8b)
        return fail(f, GT_ECORRUPT, "unexpected data after the gzip stream at byte %llu of '%s'",
                    (unsigned long long)(f->file_read - f->z.avail_in), f->path);
    if (inflateReset(&f->z) != Z_OK)
        return fail(f, GT_ECORRUPT, "damaged gzip data after %llu bytes of text",
                    (unsigned long long)f->text);
    f->member_done = false;
    return GT_OK;
}

static int read_gzip(struct gt_gzfile *f, char *buf, size_t cap, size_t *got)
{
    f->z.next_out = (Bytef *)buf;
    f->z.avail_out = (uInt)cap;
    while (f->z.avail_out > 0 && !f->done) {
        int zrc;
        if (f->member_done) {
            if (next_member(f) != GT_OK)
                return f->err;
            continue;
        }
        if (f->z.avail_in == 0 && fill_input(f, 1) != GT_OK)
            return f->err;
        if (f->z.avail_in == 0)
            return fail(f, GT_ECORRUPT,
                        "the gzip stream ends early after %llu bytes of text (truncated file?)",
                        (unsigned long long)(f->text + (cap - f->z.avail_out)));
        zrc = inflate(&f->z, Z_NO_FLUSH);
        if (zrc == Z_STREAM_END)
            f->member_done = true;
        else if (zrc == Z_MEM_ERROR)
            return fail(f, GT_ENOMEM, "out of memory");
        else if (zrc != Z_OK && zrc != Z_BUF_ERROR)
            return fail(f, GT_ECORRUPT, "damaged gzip data after %llu bytes of text: %s",
                        (unsigned long long)(f->text + (cap - f->z.avail_out)),
                        f->z.msg != NULL ? f->z.msg : "unknown zlib error");
    }
    *got = cap - f->z.avail_out;
    return GT_OK;
}

int gt_gzfile_read(struct gt_gzfile *f, char *buf, size_t cap, size_t *got)
{
    int rc;

    *got = 0;
    if (f->err != 0)
        return f->err;
    if (cap > UINT32_MAX)
        cap = UINT32_MAX; /* zlib counts in uInt */
    rc = f->gzip ? read_gzip(f, buf, cap, got) : read_plain(f, buf, cap, got);
    f->text += *got;
    return rc;
}

const char *gt_gzfile_errmsg(const struct gt_gzfile *f)
{
    return f->msg;
}

void gt_gzfile_close(struct gt_gzfile *f)
{
    if (f == NULL)
        return;
    if (f->inflating)
        inflateEnd(&f->z);
    if (f->fd >= 0)
        close(f->fd);
    free(f->in);
    free(f->path);
    free(f);
}
