/* Trace format v2: the contract between everything that writes traces (the
 * CUPTI tracer, the importers) and everything that reads them (the analyzer).
 * docs/trace-format.md describes it for people; this header is the source of
 * truth for code. A change that old readers would misread bumps
 * GT_SCHEMA_VERSION. */
#ifndef GPUTRACE_SCHEMA_H
#define GPUTRACE_SCHEMA_H

#include <stdint.h>

/* PRAGMA application_id: "GPUt" in ASCII. Set before any other write. */
#define GT_SCHEMA_APPLICATION_ID 0x47505574
/* PRAGMA user_version: the format version this build writes and the newest
 * it reads. Version 2 stores events in batches (event_batches); version 1
 * stored one row per event (events, GT_SCHEMA_SQL_V1_EVENTS) and is still
 * read. */
#define GT_SCHEMA_VERSION 2
#define GT_SCHEMA_VERSION_ROWS 1

/* Event kinds, stored as integers in events.kind. Values are never reused;
 * readers skip kinds they do not know and count them. */
enum gt_event_kind {
    GT_EV_ALLOC = 1,         /* the program asked for memory: requested = bytes asked,
                                size = bytes of the block when the recorder knows it */
    GT_EV_FREE = 2,          /* the program released the allocation at addr */
    GT_EV_SEGMENT_ALLOC = 3, /* the allocator got a segment from the driver (cudaMalloc) */
    GT_EV_SEGMENT_FREE = 4,  /* the allocator returned a segment (cudaFree) */
    GT_EV_SEGMENT_MAP = 5,   /* expandable segment: pages mapped at addr */
    GT_EV_SEGMENT_UNMAP = 6, /* expandable segment: pages unmapped at addr */
    GT_EV_OOM = 7,           /* an allocation failed: requested = bytes asked, addr =
                                free device memory at that moment when known */
    GT_EV_EMPTY_CACHE = 8,   /* torch.cuda.empty_cache() or an equivalent release */
    GT_EV_HOST_ALLOC = 9,    /* pinned host memory (cudaHostAlloc and friends) */
    GT_EV_HOST_FREE = 10,
    GT_EV_FREE_REQUESTED = 11, /* the program released the allocation at addr while other
                                  streams still used it (record_stream): allocated drops,
                                  the block stays active and unusable until... */
    GT_EV_FREE_COMPLETED = 12, /* ...the events on those streams completed: the block at addr
                                  goes back to its pool */
    GT_EV_KIND_MAX = 12
};

/* Values of meta.recording_mode. */
#define GT_SCHEMA_MODE_REQUESTS "requests" /* every tensor reached the driver */
#define GT_SCHEMA_MODE_NATIVE "native"     /* the framework's allocator ran; segments are real */
#define GT_SCHEMA_MODE_IMPORTED "imported" /* converted from another tool's file */

/* The schema, executed once when a trace is created. Addresses are stored
 * as the int64 with the same bits as the uint64 address. Events come in
 * batches of up to 1024 (docs/trace-format.md): first_seq, the seq of the
 * batch's first event, is the rowid, so reading in order needs no index;
 * data packs the events' fields as varint deltas; checksum is FNV-1a of
 * first_seq, n and data. kinds, device and pid sum the batch up
 * (gt_trace_batch_summary; NULL device or pid: its events differ), before
 * data so that reading them leaves the blob's overflow pages alone; files
 * written before they existed lack them. GT_SCHEMA_SUMMARY_INDEX holds the
 * summaries apart from the batches, so that a pass over them reads the few
 * pages of the index instead of every leaf page of the table, each shared
 * with a batch's first bytes. `gpu-trace sql` shows the events as the v1
 * table `events`, one row per event. */
#define GT_SCHEMA_SQL                                                                              \
    "CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL) WITHOUT ROWID;"                  \
    "CREATE TABLE kinds(kind INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);"                     \
    "CREATE TABLE devices(device INTEGER PRIMARY KEY, name TEXT NOT NULL,"                         \
    " total_memory INTEGER NOT NULL);"                                                             \
    "CREATE TABLE processes(pid INTEGER PRIMARY KEY, rank INTEGER NOT NULL,"                       \
    " command TEXT NOT NULL DEFAULT '');"                                                          \
    "CREATE TABLE event_batches(first_seq INTEGER PRIMARY KEY, n INTEGER NOT NULL,"                \
    " checksum INTEGER NOT NULL, kinds INTEGER, device INTEGER, pid INTEGER,"                      \
    " data BLOB NOT NULL);" GT_SCHEMA_SUMMARY_INDEX ";"

/* The index of the batch summaries, as sqlite_master keeps its text: the
 * reader takes summaries from an index of that name only when its text is
 * exactly this one (docs/trace-format.md). */
#define GT_SCHEMA_SUMMARY_INDEX_NAME "event_batches_summary"
#define GT_SCHEMA_SUMMARY_INDEX                                                                    \
    "CREATE INDEX " GT_SCHEMA_SUMMARY_INDEX_NAME                                                   \
    " ON event_batches(first_seq, n, kinds, device, pid)"

/* Format v1's events table, one row per event (read, no longer written). */
#define GT_SCHEMA_SQL_V1_EVENTS                                                                    \
    "CREATE TABLE events(seq INTEGER PRIMARY KEY, ts_ns INTEGER NOT NULL,"                         \
    " pid INTEGER NOT NULL, tid INTEGER NOT NULL, device INTEGER NOT NULL,"                        \
    " stream INTEGER NOT NULL, kind INTEGER NOT NULL, addr INTEGER NOT NULL,"                      \
    " size INTEGER NOT NULL, requested INTEGER NOT NULL, result INTEGER NOT NULL);"

/* Optional tables (since format v1), created with every new trace and empty unless
 * an importer or recorder fills them. Readers treat a missing optional table
 * as empty (files written before they existed), so adding one is not a
 * version change.
 *  - frames/stacks/event_stacks: the Python (and C++) frames of an event, as
 *    PyTorch snapshots record them; frames and stacks are deduplicated.
 *  - event_totals: ground truth a recording carries per event (chrome traces:
 *    "Total Allocated" / "Total Reserved").
 *  - initial_blocks: the allocator's state before the first event (a
 *    snapshot that starts mid-run, rebuilt by undoing the trace): every block
 *    of every segment, free (allocated 0), allocated (1) or pending a free
 *    that waits on other streams (2; older readers take it for 1).
 *  - final_blocks: the state the recording reports at its end (a snapshot's
 *    segments), for validate to compare the replay's end state with.
 *  - initial_pools: the start segments that belong to a private pool (CUDA
 *    graph or torch.cuda.MemPool): its MempoolId_t (pool_first,
 *    pool_second) and whether it was given up before the first event. */
#define GT_SCHEMA_SQL_OPTIONAL                                                                     \
    "CREATE TABLE frames(frame INTEGER PRIMARY KEY, filename TEXT NOT NULL,"                       \
    " line INTEGER NOT NULL, name TEXT NOT NULL);"                                                 \
    "CREATE TABLE stacks(stack INTEGER NOT NULL, depth INTEGER NOT NULL,"                          \
    " frame INTEGER NOT NULL, PRIMARY KEY(stack, depth)) WITHOUT ROWID;"                           \
    "CREATE TABLE event_stacks(seq INTEGER PRIMARY KEY, stack INTEGER NOT NULL);"                  \
    "CREATE TABLE event_totals(seq INTEGER PRIMARY KEY, allocated INTEGER NOT NULL,"               \
    " reserved INTEGER NOT NULL);"                                                                 \
    "CREATE TABLE initial_blocks(device INTEGER NOT NULL, addr INTEGER NOT NULL,"                  \
    " size INTEGER NOT NULL, requested INTEGER NOT NULL, allocated INTEGER NOT NULL,"              \
    " segment INTEGER NOT NULL, segment_size INTEGER NOT NULL, stream INTEGER NOT NULL,"           \
    " small_pool INTEGER NOT NULL, expandable INTEGER NOT NULL,"                                   \
    " PRIMARY KEY(device, addr)) WITHOUT ROWID;"                                                   \
    "CREATE TABLE final_blocks(device INTEGER NOT NULL, addr INTEGER NOT NULL,"                    \
    " size INTEGER NOT NULL, requested INTEGER NOT NULL, allocated INTEGER NOT NULL,"              \
    " segment INTEGER NOT NULL, segment_size INTEGER NOT NULL, stream INTEGER NOT NULL,"           \
    " small_pool INTEGER NOT NULL, expandable INTEGER NOT NULL,"                                   \
    " PRIMARY KEY(device, addr)) WITHOUT ROWID;"                                                   \
    "CREATE TABLE initial_pools(device INTEGER NOT NULL, segment INTEGER NOT NULL,"                \
    " pool_first INTEGER NOT NULL, pool_second INTEGER NOT NULL, released INTEGER NOT NULL,"       \
    " PRIMARY KEY(device, segment)) WITHOUT ROWID;"

#endif
