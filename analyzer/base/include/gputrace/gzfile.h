/* Reading a file that may be gzip-compressed: the bytes of a plain file as
 * they are, or the text of a gzip file, one or more members after each
 * other (what `cat a.gz b.gz` and pigz make).
 *
 * Stricter than zlib's gzread, which stops quietly at the first bytes after
 * a member that are not another member: here anything after the last
 * member is an error, as are a member cut short and damaged data, each
 * named with the offset in the text where it was found. The input must be
 * a regular file (a FIFO would hang, a device stream forever). */
#ifndef GPUTRACE_GZFILE_H
#define GPUTRACE_GZFILE_H

#include <stddef.h>
#include <stdint.h>

struct gt_gzfile;

/* gt_gzfile_open: opens path for reading. 0 with *out set (close it with
 * gt_gzfile_close); GT_ENOENT, GT_EIO (not a regular file, cannot open) or
 * GT_ENOMEM with *out NULL and the reason in errbuf
 * ("cannot read 'x.json': is a directory"). */
int gt_gzfile_open(const char *path, struct gt_gzfile **out, char *errbuf, size_t errlen);

/* gt_gzfile_read: up to cap bytes of text into buf, *got of them; fewer
 * than cap only at the end, 0 once the end is reached. Returns 0,
 * GT_ECORRUPT (damaged, cut short, or followed by data that is not gzip),
 * GT_EIO or GT_ENOMEM; gt_gzfile_errmsg says which. */
int gt_gzfile_read(struct gt_gzfile *f, char *buf, size_t cap, size_t *got);

/* gt_gzfile_errmsg: the last error's message, or "". */
const char *gt_gzfile_errmsg(const struct gt_gzfile *f);

/* gt_gzfile_close: closes f; NULL is a no-op. */
void gt_gzfile_close(struct gt_gzfile *f);

#endif
