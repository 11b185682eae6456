/* Shared by the files of the trace store (trace.c, trace_batch.c,
 * trace_sql.c): the event batches of format v2 (docs/trace-format.md).
 *
 * Why batches: through SQL, one row per event costs SQLite's statement
 * machine for every event (about 1 M rows/s written, 2.5 M read here). One
 * row per GT_BATCH_EVENTS events, whose fields are packed as varint deltas
 * in a BLOB, costs that once per batch: the writer and the reader go through
 * SQLite's public API only, so locking, journaling, WAL, VACUUM and the
 * lock-byte page stay SQLite's job, and the file is half the size. A
 * checksum per batch catches damage that SQLite's page checks cannot. */
#ifndef GPUTRACE_TRACE_INT_H
#define GPUTRACE_TRACE_INT_H

#include <stddef.h>
#include <stdint.h>

#include "gputrace/trace.h"

#include <sqlite3.h>

/* Events per full batch; the last batch of a commit may hold fewer. */
#define GT_BATCH_EVENTS 1024
/* Fields per event, in the stored order: seq, ts_ns, pid, tid, device,
 * stream, kind, addr, size, requested, result. */
#define GT_BATCH_FIELDS 11
/* A varint of a 64-bit value takes at most 10 bytes. */
#define GT_BATCH_MAX_BYTES ((size_t)GT_BATCH_EVENTS * GT_BATCH_FIELDS * 10)

/* A batch being encoded. Invariants: len bytes of buf hold n events; prev
 * holds the fields of the last one (zero before the first). */
struct gt_batch {
    unsigned char buf[GT_BATCH_MAX_BYTES];
    size_t len;
    uint32_t n;
    int64_t first_seq;
    uint64_t prev[GT_BATCH_FIELDS];
    struct gt_trace_batch_summary sum; /* of its events so far */
};

/* gt_batch_reset: empties b for the next batch. */
void gt_batch_reset(struct gt_batch *b);

/* gt_batch_add: appends ev (with its seq) to b, which must hold fewer than
 * GT_BATCH_EVENTS events. */
void gt_batch_add(struct gt_batch *b, const struct gt_event *ev);

/* gt_batch_checksum: FNV-1a (64-bit) over 64-bit words: first_seq, n, then
 * the data as little-endian words (the last zero-padded) and its length,
 * with h ^= h >> 29 after each multiply (docs/trace-format.md); stored in
 * event_batches.checksum as the int64 with the same bits. */
uint64_t gt_batch_checksum(int64_t first_seq, int64_t n, const unsigned char *data, size_t len);

/* gt_batch_decode: the n events of a stored batch into out (room for n).
 * Checks what a damaged row could break: the checksum, that exactly n
 * events fill the data, that the first seq is first_seq and that seqs
 * follow each other without gaps. 0, or GT_ECORRUPT with a reason in why. */
int gt_batch_decode(int64_t first_seq, int64_t n, uint64_t checksum, const unsigned char *data,
                    size_t len, struct gt_event *out, const char **why);
/* gt_batch_decode_skip: gt_batch_decode with the fields of skip
 * (GT_TRACE_SKIP_*) left 0, their varints only stepped over (the sets of
 * the card pass and of replay cost less than the others); the same checks.
 * sum, unless NULL, receives the summary of the events decoded (with the
 * skipped fields as 0), for the reader to hold against the stored one. */
int gt_batch_decode_skip(int64_t first_seq, int64_t n, uint64_t checksum, const unsigned char *data,
                         size_t len, struct gt_event *out, const char **why, unsigned skip,
                         struct gt_trace_batch_summary *sum);

/* gt_trace_sql_register: makes the eponymous virtual table `events` (one row
 * per event, the columns of format v1's events table) available on db, a
 * connection to a v2 trace. SQLITE_OK or an SQLite error code. */
int gt_trace_sql_register(sqlite3 *db);

/* The VFS of readahead.c: the default VFS, with the main database of a
 * read-only connection read 256 KiB at a time while the reads run forward. */
#define GT_READAHEAD_VFS "gt-readahead"

/* gt_readahead_register: registers that VFS, once in the process (the
 * first call wraps the default VFS of the moment), and sets *name to the
 * name to pass to sqlite3_open_v2. Returns SQLITE_OK, or SQLite's error
 * with *name NULL: the caller opens with the default VFS. Thread-safe. */
int gt_readahead_register(const char **name);

#endif
