/* A decoder for the subset of Python's pickle format that PyTorch memory
 * snapshots use (torch.cuda.memory._dump_snapshot): dict, list, tuple, str,
 * bytes, int of any length, float, bool, None, with memo and frame opcodes,
 * protocols 2 to 5. Opcodes that would import or call anything (GLOBAL,
 * STACK_GLOBAL, REDUCE, BUILD, INST, OBJ, NEWOBJ, NEWOBJ_EX, EXT1/2/4,
 * PERSID, BINPERSID, ...) are refused: opening a file never runs code.
 *
 * The result is a tree (a DAG where the memo shares objects) in one arena;
 * every node lives until gt_pickle_free. It never has cycles: a recursive
 * structure is refused. Sets and frozensets read as lists, bytearrays as
 * bytes. */
#ifndef GPUTRACE_PICKLE_H
#define GPUTRACE_PICKLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum gt_pk_type {
    GT_PK_NONE = 0,
    GT_PK_BOOL,
    GT_PK_INT,    /* fits int64_t: value in .i */
    GT_PK_BIGINT, /* an int outside int64_t: .str holds its little-endian two's-complement bytes */
    GT_PK_FLOAT,
    GT_PK_STR, /* UTF-8 as stored, NUL-terminated copy; len excludes the NUL */
    GT_PK_BYTES,
    GT_PK_LIST,
    GT_PK_TUPLE,
    GT_PK_DICT, /* keys and values in insertion order */
};

struct gt_pk {
    enum gt_pk_type type;
    union {
        bool b;
        int64_t i;
        double f;
        struct {
            const char *s;
            size_t len;
        } str;
        struct {
            struct gt_pk **items;
            size_t n;
        } seq;
        struct {
            struct gt_pk **keys;
            struct gt_pk **vals;
            size_t n;
        } dict;
    } u;
};

struct gt_pickle;

/* GT_PICKLE_MAX_DEPTH: containers nest at most this deep (an empty one has
 * depth 1), so a recursive walk of a document needs bounded stack; deeper
 * documents are refused with GT_EUNSUPPORTED. */
#define GT_PICKLE_MAX_DEPTH 1000

/* gt_pickle_load: decodes the pickle file at path. On success *out owns the
 * document. Errors: GT_ENOENT, GT_EIO, GT_ENOMEM, GT_EFOREIGN (not a pickle,
 * or an unsupported protocol), GT_EUNSUPPORTED (an opcode that would import
 * or call code: errbuf names it, e.g. "opcode GLOBAL at byte 2 would import
 * 'os system'; refused"), GT_ECORRUPT (truncated or malformed: errbuf names
 * the byte offset). errbuf may be NULL. */
int gt_pickle_load(const char *path, struct gt_pickle **out, char *errbuf, size_t errlen);
/* gt_pickle_load_mem: the same from a buffer (the fuzz target uses it). */
int gt_pickle_load_mem(const void *data, size_t len, struct gt_pickle **out, char *errbuf,
                       size_t errlen);
void gt_pickle_free(struct gt_pickle *p); /* accepts NULL */

/* gt_pickle_root: the object the pickle's STOP returned. */
const struct gt_pk *gt_pickle_root(const struct gt_pickle *p);

/* gt_pk_get: the value of the str key `key` in a dict, or NULL (also when
 * d is NULL or not a dict). Constant time: a dict of more than 8 keys is
 * found through the document's hash index, so a large dict shared by many
 * places costs no more per lookup than a small one. */
const struct gt_pk *gt_pk_get(const struct gt_pk *d, const char *key);
/* gt_pk_int: *out = the value of an int (or bool) node; GT_EINVAL otherwise
 * (NULL, another type, a big int). */
int gt_pk_int(const struct gt_pk *v, int64_t *out);
/* gt_pk_str: the string of a str node, or NULL. */
const char *gt_pk_str(const struct gt_pk *v);
/* gt_pk_len: items of a list or tuple, entries of a dict, else 0. */
size_t gt_pk_len(const struct gt_pk *v);
/* gt_pk_at: item i of a list or tuple, or NULL. */
const struct gt_pk *gt_pk_at(const struct gt_pk *v, size_t i);

#endif
