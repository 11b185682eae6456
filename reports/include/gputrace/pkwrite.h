/* A streaming writer of Python pickles (protocol 2), the inverse of
 * pickle.h for the types a PyTorch memory snapshot holds: dict, list,
 * tuple, str, int of up to 64 bits signed or unsigned, float and bool.
 * Containers are written as they are filled (EMPTY_DICT/EMPTY_LIST, MARK,
 * items, SETITEMS/APPENDS in batches of 1000, as Python's own pickler does),
 * so a list of millions of entries costs no memory. Repeated values are
 * written once and referred to through the pickle's memo, as Python's
 * pickler and PyTorch's snapshots do: every str, and the dicts the caller
 * names with a key (a stack frame, repeated in every event of that stack).
 * The memo costs memory by distinct value, not by value written.
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

struct gt_pkw_memo;

#define GT_PKW_BUFFER 65536

/* Invariant: depth containers are open; kind[i] is 'd', 'l' or 't' and
 * items[i] counts what was written into level i since its last batch;
 * memo holds next_memo entries, numbered from 0 in the order written;
 * buf[0..nbuf) is written but not yet handed to f (opcodes are a byte or
 * a few: one fwrite each would cost more than the rest of the writer). */
struct gt_pkw {
    FILE *f;
    unsigned char buf[GT_PKW_BUFFER];
    size_t nbuf;
    int rc;
    int depth;
    char kind[GT_PKW_MAX_DEPTH];
    uint32_t items[GT_PKW_MAX_DEPTH];
    struct gt_pkw_memo *memo;
    uint32_t next_memo;
};

/* gt_pkw_init: starts a pickle on f (borrowed; the caller closes it). */
void gt_pkw_init(struct gt_pkw *w, FILE *f);
/* gt_pkw_finish: writes STOP, hands everything to f and frees the memo; 0, or GT_EIO (a write
 * failed), GT_EINVAL (containers left open or closed twice) or GT_ENOMEM
 * (the memo could not grow). Does not close f. */
int gt_pkw_finish(struct gt_pkw *w);

void gt_pkw_dict_begin(struct gt_pkw *w);
void gt_pkw_dict_end(struct gt_pkw *w);
void gt_pkw_list_begin(struct gt_pkw *w);
void gt_pkw_list_end(struct gt_pkw *w);
/* gt_pkw_dict_ref: when a dict was written before under key (len bytes),
 * writes a reference to it and returns true; else false, and the caller
 * writes the dict with gt_pkw_dict_begin ... gt_pkw_dict_end_memo. */
bool gt_pkw_dict_ref(struct gt_pkw *w, const void *key, size_t len);
void gt_pkw_dict_end_memo(struct gt_pkw *w, const void *key, size_t len);
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
