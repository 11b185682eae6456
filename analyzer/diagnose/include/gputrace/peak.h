/* What is live at the peak, without an OOM: the allocations live when
 * reserved memory stood at its peak under one config, grouped by the call
 * stack that made them, largest first ("10 x 4.94 GiB at models.py:174
 * update_nodes"). The peak is the one every command reports: the request
 * after which reserved memory was highest, with the most allocated among
 * equal ones, replayed from the scenario's start state. */
#ifndef GPUTRACE_PEAK_H
#define GPUTRACE_PEAK_H

#include <stddef.h>
#include <stdint.h>

#include "gputrace/inspect.h"
#include "gputrace/scenario.h"
#include "gputrace/trace.h"

#define GT_PEAK_FRAMES 3 /* innermost frames kept per group, for people */

enum gt_peak_origin {
    GT_PEAK_STACK,     /* allocations made at one call stack */
    GT_PEAK_NO_FRAMES, /* the trace has no stack for them */
    GT_PEAK_START,     /* live before the trace's first event (the start state) */
};

/* Invariant: frames[0..nframes) innermost first; strings are NUL-terminated
 * copies (control characters kept: writers clean them). */
struct gt_peak_group {
    enum gt_peak_origin origin;
    size_t count;
    uint64_t requested, blocks; /* bytes asked, bytes of the blocks held */
    size_t nframes;
    struct {
        char file[160], function[96];
        int64_t line;
    } frames[GT_PEAK_FRAMES];
};

struct gt_peak_device {
    int32_t device;
    int64_t event; /* the request after which reserved memory was at its peak; -1 none */
    uint64_t reserved, allocated;
    size_t allocs;        /* live allocations then */
    size_t ngroups_total; /* distinct groups */
    size_t ngroups;       /* kept: the largest, up to the top asked for */
    struct gt_peak_group *groups;
};

struct gt_peak_live {
    char config[256];
    size_t ndevices;
    struct gt_peak_device devices[GT_SCENARIO_MAX_DEVICES];
};

/* gt_peak_live_compute: replays the trace at path under config (a
 * PYTORCH_CUDA_ALLOC_CONF string or "default") from the start state of scn
 * (borrowed), twice: to find each device's peak, then to group what is
 * live there. Keeps the top largest groups per device (0: all). On success
 * *out owns the result (gt_peak_live_free). Errors: those of
 * gt_inspect_run and the trace reader (errbuf says which), GT_EINVAL for a
 * config that does not parse, GT_ENOMEM. */
int gt_peak_live_compute(const char *path, const struct gt_scenario *scn, const char *config,
                         size_t top, struct gt_peak_live **out, char *errbuf, size_t errlen);
void gt_peak_live_free(struct gt_peak_live *p); /* accepts NULL */

/* gt_peak_live_compute in steps, for a command that replays config for
 * other analyses too (gt_inspect_run_shared: `stats --top` finds the peak
 * in the replay of its stats): gt_peak_begin parses config into *replay
 * (owned by the pass) and puts the callbacks that find each device's peak
 * in *observer; the caller replays *replay with them; gt_peak_end takes
 * that replay's result (0 or its error), replays again to the peak and
 * groups what is live there into *out. gt_peak_end always frees *pass;
 * gt_peak_pass_free frees one given up before (accepts NULL). Errors as
 * gt_peak_live_compute's, which is these around gt_inspect_run. */
struct gt_peak_pass;
int gt_peak_begin(const struct gt_scenario *scn, const char *config, size_t top,
                  struct gt_peak_pass **pass, const struct gt_conf **replay,
                  struct gt_inspect_options *observer, char *errbuf, size_t errlen);
int gt_peak_end(struct gt_peak_pass *pass, int rc, const char *path, struct gt_peak_live **out,
                char *errbuf, size_t errlen);
void gt_peak_pass_free(struct gt_peak_pass *pass);

/* Where a frame's code comes from, in the order frames are shown: the
 * user's own Python first, then the Python that came installed (the
 * standard library and packages such as torch or einops: the frames
 * PyTorch puts innermost), then C++ and compiled code. */
enum gt_peak_frame_kind {
    GT_PEAK_FRAME_USER,
    GT_PEAK_FRAME_LIBRARY,
    GT_PEAK_FRAME_OTHER,
    GT_PEAK_FRAME_KINDS
};

/* gt_peak_classify_frame: the kind of a frame by its file (may be NULL:
 * other): a .py file under site-packages, dist-packages or a lib/python
 * directory is library code, any other .py file the user's. One rule, so
 * that peak's groups and oom's lists agree on which frames are the user's. */
enum gt_peak_frame_kind gt_peak_classify_frame(const char *file);

/* A growable list of live allocations; the caller owns v (free() it, also
 * after an error). */
struct gt_peak_allocs {
    struct gt_inspect_alloc *v;
    size_t n, cap;
};

/* gt_peak_list_live: replaces the contents of *l with every live allocation
 * of device, in gt_inspect_live's order, for gt_peak_group_allocs and for
 * oom's list of the largest; only valid inside an on_event callback of
 * gt_inspect_run. 0, or GT_ENOMEM with l holding those listed before. */
int gt_peak_list_live(const struct gt_inspect *in, int32_t device, struct gt_peak_allocs *l);

/* gt_peak_group_allocs: groups n live allocations by the call stack of the
 * event that made each (frames read through r), largest blocks first,
 * keeping the top largest (0: all). On success *groups is malloc'd (free
 * it; NULL when n is 0), *ngroups the kept, *ntotal the distinct groups.
 * Errors: GT_ENOMEM, or the reader's. */
int gt_peak_group_allocs(struct gt_trace_reader *r, const struct gt_inspect_alloc *live, size_t n,
                         size_t top, struct gt_peak_group **groups, size_t *ngroups,
                         size_t *ntotal);

#endif
