/* A streaming writer of Python pickles (protocol 2), the inverse of
 * pickle.h for the types a PyTorch memory snapshot holds: dict, list,
 * tuple, str, int of up to 64 bits signed or unsigned, float and bool.
 * Containers are written as they are filled (EMPTY_DICT/EMPTY_LIST, MARK,
 * items, SETITEMS/APPENDS in batches of 1000, as Python's own pickler does),
 * so a list of millions of entries costs no memory. Nothing is memoized:
 * a snapshot shares no objects.
 *
 * Errors are sticky: after the first failed write (or a misuse: a container
 * closed that was not opened, nesting past GT_PKW_MAX_DEPTH) every call does
 * nothing and gt_pkw_finish returns the error. */
#ifndef GPUTRACE_PKWRITE_H
#define GPUTRACE_PKWRITE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define GT_PKW_MAX_DEPTH 16

/* Invariant: depth containers are open; kind[i] is 'd', 'l' or 't' and
 * items[i] counts what was written into level i since its last batch. */
struct gt_pkw {
    FILE *f;
    int rc;
    int depth;
    char kind[GT_PKW_MAX_DEPTH];
    uint32_t items[GT_PKW_MAX_DEPTH];
};

/* gt_pkw_init: starts a pickle on f (borrowed; the caller closes it). */
void gt_pkw_init(struct gt_pkw *w, FILE *f);
/* gt_pkw_finish: writes STOP; 0, or GT_EIO (a write failed) or GT_EINVAL
 * (containers left open or closed twice). Does not close f. */
int gt_pkw_finish(struct gt_pkw *w);

void gt_pkw_dict_begin(struct gt_pkw *w);
void gt_pkw_dict_end(struct gt_pkw *w);
void gt_pkw_list_begin(struct gt_pkw *w);
void gt_pkw_list_end(struct gt_pkw *w);
void gt_pkw_tuple_begin(struct gt_pkw *w);
void gt_pkw_tuple_end(struct gt_pkw *w);

/* gt_pkw_str: a str. Bytes that are not valid UTF-8 (a trace's file names
 * may hold any) become U+FFFD, since Python refuses to load a pickle whose
 * str is not UTF-8. */
void gt_pkw_str(struct gt_pkw *w, const char *s);
void gt_pkw_int(struct gt_pkw *w, int64_t v);
void gt_pkw_uint(struct gt_pkw *w, uint64_t v);
void gt_pkw_bool(struct gt_pkw *w, bool v);
void gt_pkw_float(struct gt_pkw *w, double v);

/* gt_pkw_key_*: one key and its value of the dict being written. */
void gt_pkw_key_str(struct gt_pkw *w, const char *key, const char *v);
void gt_pkw_key_int(struct gt_pkw *w, const char *key, int64_t v);
void gt_pkw_key_uint(struct gt_pkw *w, const char *key, uint64_t v);
void gt_pkw_key_bool(struct gt_pkw *w, const char *key, bool v);

#endif
