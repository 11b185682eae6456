/* Importers: turn recordings made by other tools into gpu-trace traces, so
 * the analyzer has one input format (schema.h). */
#ifndef GPUTRACE_IMPORT_H
#define GPUTRACE_IMPORT_H

#include <stddef.h>
#include <stdint.h>

#include "gputrace/schema.h"

/* What an import read and wrote. rows counts data rows (not the header, not
 * blank lines); events counts events written, by_kind the same per enum
 * gt_event_kind (index 0 is unused). */
struct gt_import_summary {
    int64_t rows;
    int64_t events;
    int64_t by_kind[GT_EV_KIND_MAX + 1];
    /* Snapshots: what was already there before the first event (rebuilt by
     * undoing the trace), over all devices; and rows dropped on purpose. */
    int64_t initial_segments;
    int64_t initial_reserved_bytes;
    int64_t initial_allocated_bytes;
    int64_t skipped_events;       /* free_completed, snapshot, annotations */
    int64_t inferred_empty_cache; /* empty_cache events inserted (docs/notes/pytorch-allocator.md
                                     §20.4) */
};

/* gt_import_trace: a gpu-trace trace of any version this build reads (v1:
 * one row per event, v2: batches) into a new trace of the current format
 * at dst (never overwritten): every event and every other table the source
 * has (metadata, devices, processes, stacks, totals, start and end blocks).
 * The source's events must be numbered 1, 2, ... as every writer numbers
 * them (the other tables refer to them by seq). sum (may be NULL) counts
 * the events. On failure no output is left behind and errbuf names the
 * problem; errors: those of gt_trace_open and gt_trace_create, GT_EINVAL
 * (events not numbered 1..n), GT_ESQL. */
int gt_import_trace(const char *src, const char *dst, struct gt_import_summary *sum, char *errbuf,
                    size_t errlen);

/* gt_import_csv: converts the CSV interchange format into a new trace at
 * trace_path (created as by gt_trace_create: never overwrites).
 *
 * The first line must be exactly "ts_ns,action,addr,size,stream,device"
 * (a UTF-8 BOM and a trailing \r are allowed). Each row is one event; action is
 * a kind name of gt_trace_kind_name ("alloc", "free", "segment_alloc",
 * "segment_free", "segment_map", "segment_unmap", "oom", "empty_cache",
 * "host_alloc", "host_free"). ts_ns and device are decimal; addr, size and
 * stream are decimal or 0x-hex. addr and size may be empty for empty_cache,
 * size for free, addr for oom (where addr is the free device memory and size
 * the bytes asked). Blank lines are skipped.
 *
 * sum (may be NULL) is zeroed first and filled as rows are read. On success
 * returns 0. On failure no output file is left behind (a file that existed
 * before is never touched), errbuf (if not NULL) gets a one-line message such
 * as "line 17: unknown action 'allocate'", and the result is GT_EINVAL (a bad
 * header or row), GT_ENOENT (no such CSV file), GT_EIO (the CSV cannot be
 * read, the trace cannot be written, or trace_path exists), GT_ENOMEM or
 * GT_ESQL. */
int gt_import_csv(const char *csv_path, const char *trace_path, struct gt_import_summary *sum,
                  char *errbuf, size_t errlen);

/* What a CSV cannot say about the run, given by the user at import. */
struct gt_import_options {
    const char *alloc_conf;  /* PYTORCH_CUDA_ALLOC_CONF the run used (meta alloc_conf); NULL:
                                unknown, "" : none set */
    const char *device_name; /* name of every device in the CSV, or NULL */
    uint64_t device_memory;  /* total memory of every device in the CSV, 0 = unknown */
};

/* gt_import_csv_with: gt_import_csv with options (opts may be NULL). A
 * device row is written for each device the CSV names when a name or memory
 * is given. */
int gt_import_csv_with(const char *csv_path, const char *trace_path,
                       const struct gt_import_options *opts, struct gt_import_summary *sum,
                       char *errbuf, size_t errlen);

/* gt_import_chrome: converts a PyTorch profiler (Kineto) chrome trace,
 * plain JSON or gzipped (json_path may be either; the content decides), into
 * a new trace at trace_path (created as by gt_trace_create: never
 * overwrites). The text is streamed through zlib into json-c; only the parsed
 * document is held in memory.
 *
 * Events named "[memory]" whose args have "Device Type" 1 (CUDA) become
 * events of device "Device Id", ordered by (ts, "Ev Idx", position in the
 * file). "Bytes" > 0 is an alloc of that many bytes at "Addr" (requested =
 * size = Bytes: the block is already rounded and the request is lost),
 * "Bytes" < 0 a free of -Bytes. ts (microseconds, integer or not) becomes
 * nanoseconds after the first such event. stream is args "Stream" when
 * present, else 0. "Total Allocated" and "Total Reserved" are stored as the
 * event's totals (gt_trace_add_totals). deviceProperties gives device rows
 * (name, totalGlobalMem); opts (may be NULL) override both for every device
 * and give meta alloc_conf. Every other entry of traceEvents is skipped
 * unexamined.
 *
 * sum (may be NULL) is zeroed first; rows is the length of traceEvents,
 * events and by_kind what was written. On success returns 0. On failure no
 * output file is left behind, errbuf (if not NULL) gets a one-line message,
 * and the result is GT_EFOREIGN (not a JSON object, or no traceEvents list),
 * GT_ECORRUPT (truncated or damaged gzip or JSON: "the JSON ends early at
 * byte 5120 (truncated file?)"), GT_EINVAL (a CUDA [memory] event with a
 * field missing or of the wrong type, numbered by its index in traceEvents:
 * "event 17: 'Bytes' is not a number"; ts, Device Id, Addr and Bytes are
 * required, Ev Idx, Stream and the totals optional), GT_ENOENT, GT_EIO,
 * GT_ENOMEM or GT_ESQL. */
int gt_import_chrome(const char *json_path, const char *trace_path,
                     const struct gt_import_options *opts, struct gt_import_summary *sum,
                     char *errbuf, size_t errlen);

/* gt_import_snapshot: converts a PyTorch memory snapshot (the pickle that
 * torch.cuda.memory._dump_snapshot writes; docs/notes/pytorch-allocator.md §14) into a new trace.
 * The pickle is decoded without running code (pickle.h). Every device trace
 * becomes events (alloc, free = free_requested, segment_*, oom); the frames
 * of allocations and OOMs are kept; allocator_settings' PYTORCH_CUDA_ALLOC_CONF
 * becomes meta alloc_conf; empty_cache calls, absent from snapshots, are
 * inferred from runs of segment_free (docs/notes/pytorch-allocator.md §20.4); the allocator state
 * before the first event is rebuilt from the final segments by undoing the trace
 * (docs/notes/pytorch-allocator.md §20.3) and stored in initial_blocks. Errors as gt_import_csv,
 * plus those of gt_pickle_load and GT_EFOREIGN for a pickle that is not a snapshot. */
int gt_import_snapshot(const char *path, const char *trace_path,
                       const struct gt_import_options *opts, struct gt_import_summary *sum,
                       char *errbuf, size_t errlen);

/* The input formats, told apart by what a file starts with. */
enum gt_import_format {
    GT_IMPORT_UNKNOWN,
    GT_IMPORT_CSV,
    GT_IMPORT_CHROME,   /* a profiler trace: JSON, or gzip around it */
    GT_IMPORT_SNAPSHOT, /* a pickle: first byte 0x80, the PROTO opcode */
    GT_IMPORT_TRACE,    /* an SQLite file: a gpu-trace trace of any version */
};

/* gt_import_sniff: the format of path from its first bytes. Returns 0 with
 * *format set, or -1 with errno when the file cannot be read. A file named
 * .csv whose header is wrong is still GT_IMPORT_CSV, so that the CSV
 * importer's message says what the header should be; for
 * GT_IMPORT_UNKNOWN, *why gets a phrase saying what was expected. */
int gt_import_sniff(const char *path, enum gt_import_format *format, const char **why);

/* gt_import_file: runs the importer of format (not GT_IMPORT_UNKNOWN, which
 * gives GT_EINVAL) from path into a new trace at trace_path, with opts (may
 * be NULL; a trace's own metadata is copied, not opts). As the importer it
 * runs. */
int gt_import_file(enum gt_import_format format, const char *path, const char *trace_path,
                   const struct gt_import_options *opts, struct gt_import_summary *sum,
                   char *errbuf, size_t errlen);

#endif
