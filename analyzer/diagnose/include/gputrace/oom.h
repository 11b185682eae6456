/* Out-of-memory diagnosis: for each request a config cannot serve (the
 * recording failed there, or the OOM is predicted on the card asked about),
 * the numbers of PyTorch's OOM message, a verdict (fragmentation or genuine),
 * the largest live allocations with their Python frames, how far the peak
 * must shrink, and the configs of the default sweep that avoid it: the
 * answer `gpu-trace oom` prints (docs/notes/users.md, need 1). */
#ifndef GPUTRACE_OOM_H
#define GPUTRACE_OOM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gputrace/conf.h"
#include "gputrace/replay.h"
#include "gputrace/scenario.h"

#define GT_OOM_MAX_DETAILED 20 /* OOMs described in full; the rest are counted */
#define GT_OOM_TOP_ALLOCS 10   /* largest live allocations kept per OOM */
#define GT_OOM_TOP_STACKS 5    /* largest groups by call stack kept per OOM */
#define GT_OOM_MAX_FRAMES 8    /* frames kept per allocation */
#define GT_OOM_MAX_DEVICES 64  /* as GT_REPLAY_MAX_DEVICES */

enum gt_oom_verdict {
    /* live memory plus the request fit in the card, but no free block and
     * no growth could serve it: the memory exists in pieces too small */
    GT_OOM_FRAGMENTATION = 1,
    /* live memory plus the request exceed the card */
    GT_OOM_GENUINE = 2,
};

/* One stack frame; file and function are owned by the report. */
struct gt_oom_frame {
    char *file;
    char *function;
    int64_t line;
};

/* A live allocation at the OOM. Frames are the event's stack filtered so
 * that a person sees their own code: frames of .py files first (innermost
 * first), then the first few others, at most GT_OOM_MAX_FRAMES. */
struct gt_oom_alloc {
    uint64_t size;  /* bytes asked */
    uint64_t block; /* the simulated block holding it */
    uint64_t stream;
    int64_t event;      /* the alloc event's position among the trace's events */
    int64_t seq;        /* and its seq (gt_trace_stack) */
    int64_t age_events; /* events from that alloc to the OOM */
    int64_t age_ns;     /* time from that alloc to the OOM */
    size_t nframes;
    struct gt_oom_frame frames[GT_OOM_MAX_FRAMES];
};

/* One OOM. Invariants: reserved_unallocated = reserved - allocated; all
 * byte counts are those after the allocator's release-and-retry, as
 * PyTorch's message prints them; shrink_needed is 0 unless genuine. */
struct gt_peak_group;

struct gt_oom {
    int64_t event; /* 0-based position among all the trace's events */
    int64_t ts_ns;
    int32_t device;
    uint64_t stream;
    bool recorded;          /* the recording itself failed here */
    bool after_first;       /* an earlier OOM already failed this run: a consequence */
    uint64_t recorded_free; /* recorded: the device's free memory then, 0 unknown */
    uint64_t requested;
    /* get_allocation_size(round_size(requested)): the segment PyTorch tries,
     * its "Tried to allocate" figure */
    uint64_t tried_to_allocate;
    /* the memory the allocator may hold: the device memory replayed, times
     * per_process_memory_fraction when one is set ("N allowed") */
    uint64_t capacity;
    uint64_t allocated; /* allocated_bytes.all.current */
    uint64_t reserved;  /* reserved_bytes.all.current */
    uint64_t reserved_unallocated;
    uint64_t largest_free_block;
    enum gt_oom_verdict verdict;
    /* allocated + round_size(requested): what must be live at once, counted
     * in blocks as allocated_bytes counts them */
    uint64_t need;
    uint64_t shrink_needed; /* need - capacity when genuine, else 0 */
    double shrink_fraction; /* shrink_needed / need */
    size_t ntop;            /* largest live allocations, largest first */
    struct gt_oom_alloc top[GT_OOM_TOP_ALLOCS];
    size_t live_count; /* live allocations of the device at the OOM */
    /* the same live allocations grouped by call stack, largest first
     * (peak.h): nstacks kept of nstacks_total; owned */
    struct gt_peak_group *stacks;
    size_t nstacks, nstacks_total;
};

/* A config of the default sweep on a device: those that never run out of
 * memory avoid the OOMs (with what they leave free: capacity - peak
 * reserved); the others say how far they get. */
struct gt_oom_avoid {
    int32_t device;
    char config[320]; /* the config replayed (with the analysed memory fraction) */
    uint64_t peak_reserved;
    uint64_t margin;
    int64_t num_ooms;
    int64_t first_oom_event; /* -1 when none */
    size_t sweep_index;      /* position in the sweep: breaks ties */
};

struct gt_oom_device {
    int32_t device;
    struct gt_scenario_device card; /* the card, its source, the start state */
    uint64_t device_memory;         /* the cap replayed (0 = unlimited) */
    uint64_t capacity;              /* with the memory fraction (0 = unlimited) */
};

struct gt_oom_report {
    char config[256];     /* the config analysed, as named */
    bool config_recorded; /* it is the one the trace was recorded under */
    /* its per_process_memory_fraction (1 = none), kept by the sweep */
    double memory_fraction;
    uint64_t device_memory;        /* the first device's card (0 = unlimited) */
    int64_t events;                /* requests replayed */
    int64_t last_event;            /* index of the last request replayed, -1 if none */
    int64_t ooms_total;            /* every OOM, detailed or not */
    int64_t recorded_ooms;         /* OOMs in the recording, served by this config or not */
    int64_t recorded_served;       /* of those, how many this config serves */
    int64_t first_recorded_served; /* event of the first served one, or -1 */
    size_t nooms;                  /* detailed: the first GT_OOM_MAX_DETAILED */
    struct gt_oom *ooms;
    /* every sweep result per device: first those without OOM, most margin
     * first, then those that get furthest */
    size_t navoid;
    struct gt_oom_avoid *avoid;
    size_t ndevices; /* devices with requests, in order of first request */
    struct gt_oom_device devices[GT_OOM_MAX_DEVICES];
};

/* gt_oom_analyze: replays the trace at path under conf (NULL: the settings
 * the trace was recorded under when they parse, else PyTorch's defaults) on
 * the cards and from the start state of scn (borrowed; NULL builds one with
 * no card given) and describes each
 * OOM; when there is one, the configs of the sweep that avoid it come from
 * sweep (analyze's replay of the default sweep on the same scenario,
 * borrowed), or, when sweep is NULL or conf has a per_process_memory_fraction,
 * from a replay of the default sweep and the recorded settings (with conf's
 * fraction); nocache is left out: it is not advice.
 * On success *out owns a new report (gt_oom_report_free). On failure *out is
 * NULL and errbuf names the problem. Errors: those of gt_inspect_run,
 * gt_trace_open and gt_replay_trace (GT_ENOENT, GT_EFOREIGN, GT_ENEWER,
 * GT_ECORRUPT, GT_EUNSUPPORTED, GT_ESQL), GT_ENOMEM. */
int gt_oom_analyze(const char *path, const struct gt_scenario *scn, const struct gt_conf *conf,
                   const struct gt_analysis *sweep, struct gt_oom_report **out, char *errbuf,
                   size_t errlen);
void gt_oom_report_free(struct gt_oom_report *r); /* accepts NULL */

/* gt_oom_analyze in three steps, for a command whose one replay of the
 * config serves other analyses too (gt_inspect_run_shared; the report's
 * stats watch the same replay): gt_oom_begin opens the trace, picks the
 * config as gt_oom_analyze does and puts it in *replay (owned by the pass)
 * and the analysis' callbacks and scenario in *observer; the caller replays
 * *replay with them; gt_oom_end takes the replay's result (0 or its error),
 * finds the configs that avoid the OOMs from sweep (as gt_oom_analyze) and
 * puts the report in *out. errbuf must stay valid from begin to end (the
 * observer writes its errors there). On success *pass is owned until
 * gt_oom_end, which always frees it; on failure of either errbuf names the
 * problem and nothing is left to free. gt_oom_analyze is these around
 * gt_inspect_run, so that `oom` and `report` are the same code. */
struct gt_oom_pass;
struct gt_inspect_options;
int gt_oom_begin(const char *path, const struct gt_scenario *scn, const struct gt_conf *conf,
                 struct gt_oom_pass **pass, const struct gt_conf **replay,
                 struct gt_inspect_options *observer, char *errbuf, size_t errlen);
int gt_oom_end(struct gt_oom_pass *pass, int rc, const char *path, const struct gt_analysis *sweep,
               struct gt_oom_report **out, char *errbuf, size_t errlen);
/* gt_oom_pass_free: a pass given up before gt_oom_end; accepts NULL. */
void gt_oom_pass_free(struct gt_oom_pass *pass);

/* gt_oom_verdict_name: "fragmentation", "genuine", or "unknown". */
const char *gt_oom_verdict_name(enum gt_oom_verdict v);

#endif
