/* Growth across iterations: a training run repeats one step, so its
 * allocation requests repeat with a period. Finding that period gives the
 * iteration boundaries; the memory allocated at each boundary shows whether
 * the run holds steady or grows step after step (a leak), and the
 * allocations made in a later iteration and never freed by the last
 * boundary are what grows, grouped by the call stack that made them.
 *
 * The iteration is found from the requests alone: an allocation request's
 * token is its size; a period P (in allocation requests) is accepted when
 * tok[i] == tok[i + P] for at least 90% of the requests, the smallest such
 * period among the candidates close to the best (a step, not two); the
 * boundary is the request in the first repeating period before which the
 * least memory was allocated (where a training step starts: the previous
 * step's activations freed), then every P requests. */
#ifndef GPUTRACE_GROWTH_H
#define GPUTRACE_GROWTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gputrace/peak.h"
#include "gputrace/scenario.h"

/* The allocation requests of one device searched for a period; past this
 * the rest of the trace is not searched (the output says so). */
#define GT_GROWTH_MAX_ALLOCS ((size_t)1 << 21)
/* A period needs this share of requests repeating (tok[i] == tok[i + P]). */
#define GT_GROWTH_MATCH 0.90

struct gt_growth_device {
    int32_t device;
    size_t allocs;       /* allocation requests searched */
    bool truncated;      /* the device made more than GT_GROWTH_MAX_ALLOCS */
    bool found;          /* a period repeats at least three times */
    size_t period;       /* allocation requests per iteration */
    double match;        /* share of requests that repeat one period later */
    size_t iterations;   /* boundaries: iterations started */
    int64_t *boundary;   /* [iterations] event index of each iteration's first request */
    uint64_t *allocated; /* [iterations] allocated bytes just before it (the config's replay) */
    /* Growth from the second boundary on (the first step allocates what a
     * run keeps, such as optimizer state): bytes per iteration (least
     * squares), and whether it never shrinks and adds up to more than
     * 1 MiB and 1% (then: a leak). */
    double growth_per_iteration;
    bool leak;
    /* allocations made after the second boundary still live at the last */
    size_t kept_allocs;
    uint64_t kept_bytes;
    size_t ngroups, ngroups_total;
    struct gt_peak_group *groups;
};

struct gt_growth {
    char config[256];
    size_t ndevices;
    struct gt_growth_device devices[GT_SCENARIO_MAX_DEVICES];
};

/* gt_growth_compute: replays the trace at path under config from scn's
 * start state (borrowed) twice: to find each device's iterations and the
 * memory at their boundaries, then to group what the later iterations
 * kept (the top largest groups; 0: all). On success *out owns the result
 * (gt_growth_free). Errors: those of gt_inspect_run and the trace reader
 * (errbuf says which), GT_EINVAL for a config that does not parse,
 * GT_ENOMEM. */
int gt_growth_compute(const char *path, const struct gt_scenario *scn, const char *config,
                      size_t top, struct gt_growth **out, char *errbuf, size_t errlen);
void gt_growth_free(struct gt_growth *g); /* accepts NULL */

/* gt_growth_compute in steps, as peak.h's gt_peak_begin/gt_peak_end: the
 * first replay (the requests and the memory at each) is one the caller
 * shares (`stats --iterations` with its stats); gt_growth_end finds the
 * iterations and replays again for what they kept. gt_growth_end always
 * frees *pass; gt_growth_pass_free frees one given up before (accepts
 * NULL). */
struct gt_growth_pass;
int gt_growth_begin(const struct gt_scenario *scn, const char *config, size_t top,
                    struct gt_growth_pass **pass, const struct gt_conf **replay,
                    struct gt_inspect_options *observer, char *errbuf, size_t errlen);
int gt_growth_end(struct gt_growth_pass *pass, int rc, const char *path, struct gt_growth **out,
                  char *errbuf, size_t errlen);
void gt_growth_pass_free(struct gt_growth_pass *pass);

#endif
