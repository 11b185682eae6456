/* The trace store: create, write and read gpu-trace files (format v2 written,
 * v1 and v2 read; see schema.h and docs/trace-format.md).
 *
 * A writer batches events into transactions; a reader checks that the file is
 * a gpu-trace trace of a version it understands and streams events in seq
 * order without loading the table. Both handles are opaque. */
#ifndef GPUTRACE_TRACE_H
#define GPUTRACE_TRACE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gputrace/schema.h"

/* One event as stored. size and requested are bytes; 0 means unknown. */
struct gt_event {
    int64_t seq;   /* position in the trace, strictly increasing */
    int64_t ts_ns; /* nanoseconds since the recording started (or an epoch) */
    int64_t pid;
    int64_t tid;
    int32_t device;  /* CUDA device ordinal */
    int32_t kind;    /* enum gt_event_kind */
    int32_t result;  /* CUDA result code of the call, 0 = success */
    uint64_t stream; /* stream handle, 0 = legacy default stream */
    uint64_t addr;
    uint64_t size;
    uint64_t requested;
};

/* The bytes an alloc or oom event asked for: requested, or size when the
 * source knew only the block. */
static inline uint64_t gt_event_asked(const struct gt_event *ev)
{
    return ev->requested ? ev->requested : ev->size;
}

/* A request the recording did not get: an oom event or a failed alloc. Its
 * addr is the free device memory when known (trace-format.md). */
static inline bool gt_event_failed_request(const struct gt_event *ev)
{
    return ev->kind == GT_EV_OOM || (ev->kind == GT_EV_ALLOC && ev->result != 0);
}

struct gt_trace_writer;
struct gt_trace_reader;

/* gt_trace_create: creates a new trace at path with mode 0600 and the v1
 * schema (application_id and user_version set first). Fails with GT_EIO if
 * the file exists, so no trace is ever overwritten. On success *out owns the
 * handle; on failure *out is NULL and errbuf (if not NULL) holds a detail
 * message. */
int gt_trace_create(const char *path, struct gt_trace_writer **out, char *errbuf, size_t errlen);

/* gt_trace_set_meta: stores one metadata key (tool_version, command_line, host,
 * start_time, alloc_conf, recording_mode, source, lost_events, ...). */
int gt_trace_set_meta(struct gt_trace_writer *w, const char *key, const char *value);
int gt_trace_add_device(struct gt_trace_writer *w, int32_t device, const char *name,
                        uint64_t total_memory);
int gt_trace_add_process(struct gt_trace_writer *w, int64_t pid, int64_t rank, const char *command);

/* gt_trace_append: appends one event; ev->seq is ignored and assigned in
 * order. Events are committed in batches; a crash loses at most the open
 * batch. */
int gt_trace_append(struct gt_trace_writer *w, const struct gt_event *ev);

/* gt_trace_last_seq: the seq assigned by the last gt_trace_append (0 before
 * any), to attach optional rows to that event. */
int64_t gt_trace_last_seq(const struct gt_trace_writer *w);

/* One frame of a stack; filename and name are copied by the writer. */
struct gt_frame {
    const char *filename;
    const char *name;
    int64_t line;
};

/* gt_trace_set_stack: attaches a stack (innermost frame first, as PyTorch
 * records them) to the event seq. Frames and whole stacks are deduplicated
 * in memory, so a trace of millions of events with the same few thousand
 * stacks stores each once. */
int gt_trace_set_stack(struct gt_trace_writer *w, int64_t seq, const struct gt_frame *frames,
                       size_t n);

/* gt_trace_add_totals: ground truth carried by the recording for event seq. */
int gt_trace_add_totals(struct gt_trace_writer *w, int64_t seq, int64_t allocated,
                        int64_t reserved);

/* One block of the allocator's state before the first event (table
 * initial_blocks). segment is the address of the segment holding the block
 * and segment_size its total size (for expandable segments: the contiguous
 * mapped range). */
struct gt_initial_block {
    int32_t device;
    uint64_t addr, size, requested;
    bool allocated;
    uint64_t segment, segment_size, stream;
    bool small_pool, expandable;
    /* with allocated: freed while other streams still used it
     * (record_stream; active_pending_free), until a free_completed event;
     * stored as allocated = 2 */
    bool pending;
    /* the address the trace's events name the block by, when a rebuilt
     * start state places it elsewhere (0: addr); not stored in the trace */
    uint64_t key;
    /* the MempoolId_t of the private pool holding the segment ((0, 0): the
     * default pools), and whether the trace shows that pool given up
     * (releasePool); from table initial_pools, filled in by
     * gt_scenario_build, not stored with the block */
    int64_t pool_first, pool_second;
    bool pool_released;
};

/* A start segment that belongs to a private pool (table initial_pools):
 * its MempoolId_t, and whether the pool was given up (use count 0) before
 * the first event. */
struct gt_initial_pool {
    int32_t device;
    uint64_t segment;
    int64_t pool_first, pool_second;
    bool released;
};
int gt_trace_add_initial_pool(struct gt_trace_writer *w, const struct gt_initial_pool *p);

/* gt_initial_block_key: the address a free of the block names. */
static inline uint64_t gt_initial_block_key(const struct gt_initial_block *b)
{
    return b->key != 0 ? b->key : b->addr;
}
int gt_trace_add_initial_block(struct gt_trace_writer *w, const struct gt_initial_block *b);
/* gt_trace_add_final_block: one block of the state the recording reports at
 * its end (table final_blocks, same fields). */
int gt_trace_add_final_block(struct gt_trace_writer *w, const struct gt_initial_block *b);

/* gt_trace_commit: commits what has been appended so far and opens the next
 * batch, so a crash of the writer loses nothing older (the launcher calls it
 * every 100 ms). A no-op when nothing is pending. */
int gt_trace_commit(struct gt_trace_writer *w);

/* gt_trace_writer_close: commits what is pending and closes; accepts NULL.
 * Returns the first error of the commit. */
int gt_trace_writer_close(struct gt_trace_writer *w);
const char *gt_trace_writer_errmsg(const struct gt_trace_writer *w);

/* gt_trace_open: opens path read-only and validates it. Errors: GT_ENOENT,
 * GT_EFOREIGN (not SQLite, or another application_id), GT_ENEWER (a newer
 * user_version), GT_ECORRUPT (damaged, or a table or column missing). errbuf
 * gets a one-line detail such as "table 'events' has no column 'stream'". */
int gt_trace_open(const char *path, struct gt_trace_reader **out, char *errbuf, size_t errlen);
void gt_trace_close(struct gt_trace_reader *r);
const char *gt_trace_errmsg(const struct gt_trace_reader *r);

/* gt_trace_meta: copies the value of key into buf; GT_ENOENT if absent. */
int gt_trace_meta(struct gt_trace_reader *r, const char *key, char *buf, size_t len);
/* gt_trace_device: name and total memory of a device; GT_ENOENT if unknown. */
int gt_trace_device(struct gt_trace_reader *r, int32_t device, char *name, size_t len,
                    uint64_t *total_memory);
/* gt_trace_event_count: number of rows in events (max seq for speed). */
int gt_trace_event_count(struct gt_trace_reader *r, int64_t *count);

/* gt_trace_read: fills up to cap events in seq order, continuing where the
 * last call stopped; *n is 0 at the end. Events of unknown kinds are skipped
 * and counted (gt_trace_skipped). A row that cannot be read (corruption,
 * truncation) returns GT_ECORRUPT after the events before it were delivered. */
int gt_trace_read(struct gt_trace_reader *r, struct gt_event *buf, size_t cap, size_t *n);
int64_t gt_trace_skipped(const struct gt_trace_reader *r);
/* gt_trace_read_view: gt_trace_read without the copy, for the passes over
 * every event (the card pass, replay): *evs points at the next *n events in
 * the reader's own memory, valid until the next read, rewind or close of r;
 * *n is 0 at the end. At most one batch a call; skipping, counting and
 * errors as gt_trace_read's. Saves the copy of 80 bytes an event that a
 * caller's buffer costs. */
int gt_trace_read_view(struct gt_trace_reader *r, const struct gt_event **evs, size_t *n);
/* Fields a pass over every event can do without (gt_trace_skip_fields). */
#define GT_TRACE_SKIP_TS 1u
#define GT_TRACE_SKIP_PID 2u
#define GT_TRACE_SKIP_TID 4u
#define GT_TRACE_SKIP_STREAM 8u
#define GT_TRACE_SKIP_REQUESTED 16u
/* what the card pass reads: kind, device, pid, addr, size, result */
#define GT_TRACE_SKIP_CARD                                                                         \
    (GT_TRACE_SKIP_TS | GT_TRACE_SKIP_TID | GT_TRACE_SKIP_STREAM | GT_TRACE_SKIP_REQUESTED)
/* what replay reads: kind, device, stream, addr, size, requested, result,
 * and pid, which it does not use but which checks the batch summaries that
 * the card pass trusted (gt_trace_summarize) */
#define GT_TRACE_SKIP_REPLAY (GT_TRACE_SKIP_TS | GT_TRACE_SKIP_TID)

/* gt_event_skip_fields: zeroes the fields of skip in ev. */
static inline void gt_event_skip_fields(struct gt_event *ev, unsigned skip)
{
    if (skip & GT_TRACE_SKIP_TS)
        ev->ts_ns = 0;
    if (skip & GT_TRACE_SKIP_PID)
        ev->pid = 0;
    if (skip & GT_TRACE_SKIP_TID)
        ev->tid = 0;
    if (skip & GT_TRACE_SKIP_STREAM)
        ev->stream = 0;
    if (skip & GT_TRACE_SKIP_REQUESTED)
        ev->requested = 0;
}

/* gt_trace_skip_fields: events read from then on carry 0 for the fields of
 * skip (GT_TRACE_SKIP_*; a batch already decoded keeps them), which v2
 * steps over instead of decoding: 48 of 240 instructions an event for the
 * card pass. 0 reads every field again. Checks and errors are unchanged. */
void gt_trace_skip_fields(struct gt_trace_reader *r, unsigned skip);
/* What one batch of format v2 holds, as the writer summed it up in the
 * batch's summary columns (docs/trace-format.md): the kinds of its events
 * and, when all its events share them, their device and pid. */
struct gt_trace_batch_summary {
    int64_t first_seq; /* the seq of its first event */
    int64_t n;         /* its events */
    uint64_t kinds;    /* gt_trace_kind_bit of every event, or-ed */
    int64_t device;    /* every event's device, when one_device */
    int64_t pid;       /* every event's pid, when one_pid */
    bool one_device, one_pid;
};
/* Bit 0 of kinds: an event whose result is not 0 (a failed call). */
#define GT_TRACE_KINDS_FAILED ((uint64_t)1)
/* Bit 63 of kinds: an event of a kind outside 1..62. */
#define GT_TRACE_KINDS_OTHER ((uint64_t)1 << 63)

/* gt_trace_kind_bits: the bits of kinds one event sets. */
static inline uint64_t gt_trace_kind_bits(const struct gt_event *ev)
{
    uint64_t bits =
        ev->kind >= 1 && ev->kind <= 62 ? (uint64_t)1 << ev->kind : GT_TRACE_KINDS_OTHER;
    return ev->result != 0 ? bits | GT_TRACE_KINDS_FAILED : bits;
}

/* gt_trace_summary_add: counts ev into s (zeroed before the first event);
 * inline, since checking a summary runs it for every event replayed. */
static inline void gt_trace_summary_add(struct gt_trace_batch_summary *s, const struct gt_event *ev)
{
    if (s->n == 0) {
        s->first_seq = ev->seq;
        s->device = ev->device;
        s->pid = ev->pid;
        s->one_device = s->one_pid = true;
    }
    s->n++;
    s->kinds |= gt_trace_kind_bits(ev);
    s->one_device = s->one_device && ev->device == s->device;
    s->one_pid = s->one_pid && ev->pid == s->pid;
}

/* gt_trace_summarize: from then on, before gt_trace_read_view decodes a
 * batch of a file that carries batch summaries, it shows the summary to fn;
 * when fn returns true the summary was all the caller needed, and the
 * batch's events are passed over undecoded. A batch with events of kinds
 * this reader does not know is always decoded, so that they are skipped and
 * counted as usual. fn NULL, or a file without summaries: every batch is
 * decoded. Whether a summary tells the truth is
 * checked whenever its batch is decoded (GT_ECORRUPT otherwise), so a pass
 * that trusted one is followed by a replay that would find it out. */
void gt_trace_summarize(struct gt_trace_reader *r,
                        bool (*fn)(void *ctx, const struct gt_trace_batch_summary *s), void *ctx);
/* gt_trace_has_summaries: whether the file's batches carry summaries. */
bool gt_trace_has_summaries(const struct gt_trace_reader *r);
/* gt_trace_rewind: the next gt_trace_read starts at the first event again. */
int gt_trace_rewind(struct gt_trace_reader *r);

/* gt_trace_initial_blocks: calls fn for every initial block in (device,
 * addr) order; stops early and returns fn's value when it is non-zero. A
 * trace without the table has none. */
int gt_trace_initial_blocks(struct gt_trace_reader *r,
                            int (*fn)(void *ctx, const struct gt_initial_block *b), void *ctx);
/* gt_trace_final_blocks: the same for final_blocks. */
int gt_trace_final_blocks(struct gt_trace_reader *r,
                          int (*fn)(void *ctx, const struct gt_initial_block *b), void *ctx);
/* gt_trace_initial_pools: calls fn for every row of initial_pools in
 * (device, segment) order; none for a file without the table. */
int gt_trace_initial_pools(struct gt_trace_reader *r,
                           int (*fn)(void *ctx, const struct gt_initial_pool *p), void *ctx);
/* gt_trace_stack: calls fn for each frame of event seq's stack, innermost
 * first (depth 0); 0 and no call when the event has none. */
int gt_trace_stack(struct gt_trace_reader *r, int64_t seq,
                   int (*fn)(void *ctx, size_t depth, const struct gt_frame *f), void *ctx);
/* gt_trace_totals: calls fn for every event_totals row in seq order. */
int gt_trace_totals(struct gt_trace_reader *r,
                    int (*fn)(void *ctx, int64_t seq, int64_t allocated, int64_t reserved),
                    void *ctx);

/* Every event_totals row, in seq order, for lookups by seq. */
struct gt_totals {
    int64_t *seq, *allocated, *reserved;
    size_t n, cap;
};
/* gt_trace_totals_load: reads every row into *t (zeroed first; free it with
 * gt_totals_release, also on error). 0, GT_ENOMEM or a reader error. */
int gt_trace_totals_load(struct gt_trace_reader *r, struct gt_totals *t);
/* gt_totals_find: the totals recorded after event seq; false if none. */
bool gt_totals_find(const struct gt_totals *t, int64_t seq, int64_t *allocated, int64_t *reserved);
void gt_totals_release(struct gt_totals *t);

/* gt_trace_version: the format version of an open trace (1 or 2). */
int gt_trace_version(const struct gt_trace_reader *r);

/* gt_trace_sql_open: a read-only SQLite connection to the trace at path (the
 * caller closes it with sqlite3_close) on which `events` is one row per
 * event whatever the format version: v1's table, or for v2 a virtual table
 * over event_batches (a damaged batch is an SQLITE_CORRUPT error naming its
 * seq). The file is validated as gt_trace_open does first. Errors: those of
 * gt_trace_open, GT_ESQL, GT_ENOMEM; errbuf names the problem. */
struct sqlite3;
int gt_trace_sql_open(const char *path, struct sqlite3 **out, char *errbuf, size_t errlen);

/* gt_trace_kind_name: "alloc", "free", ... or NULL for an unknown kind. */
const char *gt_trace_kind_name(int32_t kind);
/* gt_trace_kind_parse: the kind for a name, or 0 if there is none. */
int32_t gt_trace_kind_parse(const char *name);

#endif
