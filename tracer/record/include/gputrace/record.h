/* The drain of `gpu-trace record`: reads the ring files that traced
 * processes write (ring.h, the producer's side) and turns their records into
 * trace events (trace.h, schema.h).
 *
 * The drain owns no process: it watches a folder, maps every ring-<pid>.bin
 * that appears, and on each poll copies the published records into the trace
 * and advances each ring's tail. It is the consumer of ring.h's protocol and
 * nothing else, so it can be tested with ring files written by hand.
 *
 * Conversion (docs/record.md):
 *  - ts_ns: the CLOCK_MONOTONIC time of the call minus the earliest anchor of
 *    the processes, so all processes share one time base. A release (free,
 *    unmap) is placed at the time its call began, everything else at the time
 *    its call returned: a free that made room for an allocation on another
 *    thread then always sorts before that allocation.
 *  - Events of all processes are merged by that time: records are held back
 *    GT_DRAIN_HOLDBACK_NS after their call so that a slower process's records
 *    can still be sorted in; GT_DRAIN_FLUSH and close emit everything.
 *  - Kinds depend on the mode, see enum gt_drain_mode. Nested records (a
 *    driver call inside a traced runtime call) are skipped so nothing is
 *    counted twice. */
#ifndef GPUTRACE_RECORD_H
#define GPUTRACE_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct gt_trace_writer;
struct gt_drain;

/* How long a record waits before it is written, for the merge by time. */
#define GT_DRAIN_HOLDBACK_NS ((int64_t)100 * 1000 * 1000)

enum gt_drain_mode {
    /* Every tensor reached the driver (cudaMallocAsync backend): ALLOC ->
     * GT_EV_ALLOC (requested = size; a failed one keeps its result and is
     * the analyzer's OOM probe), FREE -> GT_EV_FREE (size 0: the analyzer
     * matches by address). VMM records are not events. */
    GT_DRAIN_REQUESTS = 0,
    /* The framework's own allocator ran; the driver saw segments: ALLOC ->
     * GT_EV_SEGMENT_ALLOC, FREE -> GT_EV_SEGMENT_FREE (size filled from the
     * matching allocation), VMM_MAP/UNMAP -> GT_EV_SEGMENT_MAP/UNMAP, a
     * failed ALLOC or cuMemCreate -> GT_EV_OOM (requested = size). */
    GT_DRAIN_NATIVE = 1,
};

struct gt_drain_options {
    enum gt_drain_mode mode;
    /* 0: GT_DRAIN_HOLDBACK_NS; negative: no holdback (write at once). */
    int64_t holdback_ns;
    /* Called once per line worth telling the user: a process whose tracer
     * is unavailable ("4242: libcupti not found"), a ring file that is
     * skipped. msg is only valid during the call. NULL: no calls. */
    void (*notify)(void *ctx, const char *msg);
    /* Called once per line of information, not a problem: the CUPTI file
     * a process traces with ("tracing with CUPTI '/x/libcupti.so.12' (pid
     * 4242)"), once per distinct file. Gets notify_ctx. NULL: no calls. */
    void (*note)(void *ctx, const char *msg);
    void *notify_ctx;
};

struct gt_drain_stats {
    int64_t records;     /* ring records read (or skipped as lost), of every kind */
    int64_t events;      /* events appended to the trace */
    int64_t processes;   /* ring files accepted (one per traced process) */
    int64_t lost;        /* records lost: ring full, torn by a dying process, left unread */
    int64_t nested;      /* nested records skipped */
    int64_t ignored;     /* records that are not events: MEMINFO, VMM_CREATE, failed frees... */
    int64_t bad_files;   /* ring files skipped as damaged or foreign */
    int64_t late;        /* events that arrived after later ones were written */
    int64_t unavailable; /* processes whose tracer reported itself unavailable or stopped */
    int64_t stacks_lost; /* allocations whose Python stack the tracer could not define
                          * (its frames region or tables full): meta python_stacks_lost */
    int64_t probes;      /* requests mode: records of allocation probes dropped (cuDNN's
                          * workspace sizing under cudaMallocAsync), frees included */
    /* events written that are requests the program did not get
     * (gt_event_failed_request, the recorded OOMs `gpu-trace oom` explains) */
    int64_t failed_requests;
};

/* gt_drain_open: a drain of the ring files in dir (which must exist) into
 * w. The drain borrows w and dir's text is copied; w must outlive the
 * drain. opts may be NULL (requests mode, defaults). On success *out owns
 * the handle; on failure *out is NULL, errbuf holds a detail message and the
 * error is GT_EINVAL or GT_ENOMEM. */
int gt_drain_open(const char *dir, struct gt_trace_writer *w, const struct gt_drain_options *opts,
                  struct gt_drain **out, char *errbuf, size_t errlen);

#define GT_DRAIN_FLUSH 1u /* write every record read, without the holdback */

/* gt_drain_poll: looks for new ring files and copies every published record
 * into the trace. A slot claimed but not yet published stops its ring until
 * the next poll while the producer lives, and is skipped and counted lost
 * once it is gone. A damaged ring file is reported through notify, counted
 * and skipped; it is never an error. Returns 0, or the trace writer's error
 * (the detail is gt_drain_errmsg). */
int gt_drain_poll(struct gt_drain *d, unsigned flags);

/* gt_drain_exited: tells the drain that process pid has exited (the
 * launcher reaped it), so its unpublished slots need no waiting. */
void gt_drain_exited(struct gt_drain *d, int64_t pid);

/* gt_drain_done: true when every ring was read up to its head and its
 * producer has either written its END record or is gone: nothing more can
 * arrive from a known process. */
bool gt_drain_done(struct gt_drain *d);

/* gt_drain_close: a last poll, writes everything held back, counts what is
 * still unread as lost, writes the devices rows and the meta keys
 * lost_events, tracer_status (one "<pid>: <message>" per line), cupti_library
 * (the distinct CUPTI files the processes traced with, one per line) and
 * clock_base_realtime_ns (the wall clock at ts_ns 0), unmaps the rings and
 * frees d. The trace writer stays open. st (if not NULL) gets the final
 * counts. Accepts NULL. Returns the first error of the writer, as poll. */
int gt_drain_close(struct gt_drain *d, struct gt_drain_stats *st);

/* gt_drain_stats: the counts so far. */
void gt_drain_stats(const struct gt_drain *d, struct gt_drain_stats *st);

/* gt_drain_errmsg: the detail of the last error. */
const char *gt_drain_errmsg(const struct gt_drain *d);

/* ------------------------------------------------------------ the trace's name */

/* The variable that overrides the host name (trace meta "host" and %h). */
#define GT_RECORD_ENV_HOST "GPUTRACE_HOSTNAME"

/* What the placeholders of `record -o` stand for (docs/record.md, "Many
 * nodes"). */
struct gt_record_name {
    const char *host;     /* %h: gt_record_host's name, "" when unknown */
    const char *rank_var; /* %r: the launcher variable it came from, NULL: none set */
    const char *rank;     /* its value as set */
    int64_t pid;          /* %p: record's own pid */
};

/* gt_record_host: the host name of the recording into buf (always
 * NUL-terminated): GPUTRACE_HOSTNAME when set and not empty, else
 * gethostname(); "" when neither gives one. The one source of the host
 * name, for the trace's meta and for %h, so the two agree. */
void gt_record_host(char *buf, size_t len);

/* gt_record_name_from_env: n for this process: host (gt_record_host into
 * hostbuf), the rank from the first of RANK (torchrun), SLURM_PROCID (srun),
 * OMPI_COMM_WORLD_RANK (Open MPI), PMI_RANK (MPICH, Intel MPI) that is set
 * and not empty, and getpid(). */
void gt_record_name_from_env(struct gt_record_name *n, char *hostbuf, size_t hostlen);

/* gt_record_expand_output: pattern with %h (the host, every byte but
 * letters, digits, '.', '-' and '_' replaced by '_'), %r (the rank, a
 * decimal number), %p (the pid) and %% (a '%') replaced, into out
 * (NUL-terminated). Returns 0; GT_EINVAL for a '%' followed by anything
 * else or by nothing (the pattern is wrong); GT_ENOENT for %r without a
 * rank or %h without a host name; GT_ERANGE for a rank that is not a
 * number or a name longer than len - 1. errbuf gets the problem, naming the
 * placeholder or variable, for the caller's line that names the pattern. */
int gt_record_expand_output(const char *pattern, const struct gt_record_name *n, char *out,
                            size_t len, char *errbuf, size_t errlen);

#endif
