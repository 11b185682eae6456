/* What gpu-trace may read and what it may replace: inputs must be regular
 * files (a FIFO would hang a reader, a device would stream forever) and an
 * output is created beside its target and renamed only over a regular file
 * that is none of the inputs (never over a FIFO, a device node, or the
 * trace being read). */
#ifndef GPUTRACE_FILES_H
#define GPUTRACE_FILES_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

/* gt_files_check_input: 0 when path is a regular file (symlinks followed);
 * GT_ENOENT when it does not exist, GT_EIO otherwise, with the reason in
 * errbuf ("is a directory", "is not a regular file (a FIFO)"). */
int gt_files_check_input(const char *path, char *errbuf, size_t errlen);

/* gt_files_open_input: opens path for reading as a regular file, without
 * the window between a check and the open in which a FIFO (the open would
 * hang) or a device could be put in its place: the file is opened
 * non-blocking, refused after fstat unless regular, then made blocking
 * again. On success *fd is the caller's (close it) and *size (may be NULL)
 * the file's size; on error *fd is -1 and nothing is left open. Errors as
 * gt_files_check_input's, in the same words ("is not a regular file (a
 * FIFO)"; "cannot open: <reason>" when open or fstat fails); errbuf has
 * the reason alone, for the caller's line that names the file. */
int gt_files_open_input(const char *path, int *fd, uint64_t *size, char *errbuf, size_t errlen);

/* gt_files_check_output: 0 when out may be written: it does not exist, or
 * it is a regular file (not followed if a symlink: the link is replaced)
 * that is not the same file as any of the n inputs. GT_EIO with the reason
 * in errbuf otherwise. */
int gt_files_check_output(const char *out, const char *const *inputs, size_t n, char *errbuf,
                          size_t errlen);

/* gt_files_write_atomically: writes out whole or not at all: out is checked
 * with gt_files_check_output against the n inputs, then write(f, ctx) fills
 * a new temporary file beside it (mode bits given), which is flushed to
 * disk and renamed over out. On any failure the temporary file is removed
 * and out is untouched. Returns 0; GT_EIO with "cannot write 'out': why" in
 * errbuf; or write's own non-zero value with "cannot write 'out': " and its
 * gt_strerror. */
int gt_files_write_atomically(const char *out, const char *const *inputs, size_t n, mode_t mode,
                              int (*write)(FILE *f, void *ctx), void *ctx, char *errbuf,
                              size_t errlen);

/* gt_files_write_output: gt_files_write_atomically with mode 0644 (an
 * output is for sharing), or, when out is "-", write(stdout, ctx) then a
 * flush (a pipe cannot be replaced whole: what was written stays). */
int gt_files_write_output(const char *out, const char *const *inputs, size_t n,
                          int (*write)(FILE *f, void *ctx), void *ctx, char *errbuf, size_t errlen);

#endif
