/* The gnuplot driver (plot.h).
 *
 * The numbers come from the same replay as `analyze` (one gt_replay_trace
 * over the default sweep) and, for the per-event views, from one
 * gt_inspect_run_shared per distinct config, or the caller's replay of that
 * config (gt_plot_observer); gnuplot only draws. Everything gnuplot reads
 * or writes lives in a private mkdtemp folder: the script and data use
 * fixed relative names there, so no path the user gave ever appears inside
 * a gnuplot string, and the finished images are copied into the output
 * folder with O_NOFOLLOW, so a planted symlink cannot redirect the write. */
#include "gputrace/plot.h"
#include "gputrace/report.h"
#include "gputrace/array.h"
#include "gputrace/conf.h"
#include "gputrace/err.h"
#include "gputrace/files.h"
#include "gputrace/inspect.h"
#include "gputrace/replay.h"
#include "gputrace/schema.h"
#include "gputrace/sim.h"
#include "gputrace/text.h"
#include "gputrace/trace.h"
#include "gputrace/units.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gputrace/banned.h"

#define GNUPLOT_MISSING                                                                            \
    "gnuplot not found: install the gnuplot-nox package (apt-get install gnuplot-nox)"
/* gnuplot draws a few thousand points per plot in well under a second; a
 * minute means it is stuck (waiting on a font cache, a broken terminal). */
#define GNUPLOT_TIMEOUT_S 60
#define PATH_CAP 4096
#define GIB ((double)(1ull << 30))
#define MIB ((double)(1ull << 20))
#define SWEEP_CAP 32
#define SPLIT_ROWS 5
/* Timeline downsampling: each bucket keeps its first, lowest, highest and
 * last point, so peaks and the shape between them survive and a series has
 * at most 4 * TL_BUCKETS points whatever the trace's length. */
#define TL_BUCKETS 500
#define TL_MAX_CONFIGS 3
#define TL_MAX_OOM_MARKS 200
#define SEG_MAX_ROWS 60
#define READ_BATCH 4096
#define HIST_BINS 65
#define SMALL_POOL_BIN 20 /* bin k holds sizes in (2^(k-1), 2^k]: bin 20 ends at 1 MiB */

static const char *const plot_names[GT_PLOT_COUNT] = GT_PLOT_NAMES;
static const char *const colors[TL_MAX_CONFIGS] = {"#1f77b4", "#ff7f0e", "#2ca02c"};

/* ---- errors --------------------------------------------------------------- */

/* ---- what the plots are about --------------------------------------------- */

struct tl_run;
struct seg_map;

struct plot_job {
    const char *trace;
    const struct gt_plot_options *opts;
    char *errbuf;
    size_t errlen;
    char tmp[PATH_CAP];          /* the private folder; "" until created */
    const char *ext;             /* "png" or "svg" */
    const struct gt_analysis *a; /* the sweep: opts->sweep or own_a */
    struct gt_analysis *own_a;
    const struct gt_scenario *scn; /* opts->scenario or own_scn */
    struct gt_scenario *own_scn;
    const uint64_t *fit; /* smallest card per config of a: opts->fit or own_fit */
    uint64_t *own_fit;
    bool have_device; /* the trace has requests: d and device are valid */
    size_t d;         /* index into a->devices */
    int32_t device;
    uint64_t cap; /* device memory replayed, 0 = unlimited */
    double unit;  /* bytes per unit of the memory axes: GiB, or MiB for small runs */
    const char *unit_name;
    char subtitle[512];   /* trace, card and memory, for every title */
    long default_index;   /* config of plain default in a->configs, -1 if none */
    int64_t default_peak; /* event index where default's reserved first peaked, -1 */
    const char *dir;      /* the output folder */
    bool made_dir;        /* gt_plot_begin created it: a failure removes it */
    char prog[PATH_CAP];  /* gnuplot */
    struct tl_run *runs;  /* the timeline's series, TL_MAX_CONFIGS of them */
    size_t nruns;
    struct seg_map *seg; /* the segment map, taken in the default's replay */
    /* The per-event views grouped by the settings they replay, so that one
     * replay of each distinct config serves them all (issue 13). */
    struct plot_group {
        const struct gt_conf *conf;
        struct tl_run *runs[TL_MAX_CONFIGS];
        size_t nruns;
        struct seg_map *seg; /* the segment map when it watches this replay */
        bool served;         /* a caller's replay fed it (gt_plot_observer) */
    } groups[TL_MAX_CONFIGS];
    size_t ngroups;
};

static const char *base_name(const char *path)
{
    const char *slash = strrchr(path, '/');

    return slash != NULL && slash[1] != '\0' ? slash + 1 : path;
}

static void put_bytes(char *buf, size_t len, uint64_t bytes)
{
    gt_units_format_bytes(bytes, buf, len);
}

/* Writes s as a gnuplot single-quoted string: only '' needs escaping there,
 * and control characters from traces are replaced so they cannot end the
 * script line. */
static void put_quoted(FILE *f, const char *s)
{
    fputc('\'', f);
    for (; *s != '\0'; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '\'')
            fputs("''", f);
        else
            fputc(gt_text_shown(ch), f);
    }
    fputc('\'', f);
}

/* set title '<first line>' . "\n" . '<subtitle>' */
static void put_title(FILE *f, const struct plot_job *job, const char *first)
{
    fputs("set title ", f);
    put_quoted(f, first);
    fputs(" . \"\\n\" . ", f);
    put_quoted(f, job->subtitle);
    fputs(" font ',11'\n", f);
}

static void put_terminal(FILE *f, const struct plot_job *job, const char *name, int w, int h)
{
    fputs("reset\n", f);
    if (job->opts->format == GT_PLOT_SVG) {
        fprintf(f,
                "set terminal svg size %d,%d noenhanced font 'sans,10' "
                "background rgb 'white'\n",
                w, h);
    } else {
        /* pngcairo draws antialiased text; the libgd png terminal is the
         * fallback of builds without cairo. */
        fprintf(f,
                "if (strstrt(GPVAL_TERMINALS, 'pngcairo') > 0) {\n"
                "    set terminal pngcairo size %d,%d noenhanced font 'sans,10'\n"
                "} else {\n"
                "    set terminal png size %d,%d noenhanced\n"
                "}\n",
                w, h, w, h);
    }
    fprintf(f, "set output '%s.%s'\n", name, job->ext);
}

/* A horizontal line at the device memory when there is a cap. It is named
 * in the key (put_cap_key) rather than by a label, which would sit on top
 * of bars that reach the cap. */
static void put_cap_line(FILE *f, const struct plot_job *job)
{
    if (job->cap == 0)
        return;
    fprintf(f,
            "set arrow 9 from graph 0, first %.6f to graph 1, first %.6f nohead front "
            "lc rgb '#d62728' lw 2 dt 2\n",
            (double)job->cap / job->unit, (double)job->cap / job->unit);
}

/* The key entry of the device-memory line: a clause of the plot command. */
static void put_cap_key(FILE *f, const struct plot_job *job)
{
    char mem[32];

    if (job->cap == 0)
        return;
    put_bytes(mem, sizeof mem, job->cap);
    fprintf(f, ", \\\n     NaN with lines lc rgb '#d62728' lw 2 dt 2 title 'device memory %s'",
            mem);
}

/* A plot with nothing to show still has to be a valid image. */
static void put_empty(FILE *f, const char *why)
{
    fputs("set label 1 ", f);
    put_quoted(f, why);
    fputs(" at graph 0.5, graph 0.5 center\n"
          "unset xtics\nunset ytics\n"
          "plot [0:1][0:1] NaN notitle\n",
          f);
}

static FILE *open_data(const struct plot_job *job, const char *name)
{
    char path[PATH_CAP];
    int fd;
    FILE *f;

    if ((size_t)snprintf(path, sizeof path, "%s/%s", job->tmp, name) >= sizeof path)
        return NULL;
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0)
        return NULL;
    f = fdopen(fd, "w");
    if (f == NULL)
        close(fd);
    return f;
}

/* Closes a data file or the script; GT_EIO with a message if anything
 * written to it was lost. */
static int close_data(struct plot_job *job, FILE *f, const char *name)
{
    int bad = ferror(f);

    if (fclose(f) != 0 || bad)
        return gt_errf(job->errbuf, job->errlen, GT_EIO, "cannot write '%s/%s': %s", job->tmp, name,
                       strerror(errno));
    return 0;
}

static int data_open_failed(struct plot_job *job, const char *name)
{
    return gt_errf(job->errbuf, job->errlen, GT_EIO, "cannot create '%s/%s': %s", job->tmp, name,
                   strerror(errno));
}

/* ---- configs -------------------------------------------------------------- */

static long find_config(const struct gt_analysis *a, const struct gt_conf *want)
{
    for (size_t i = 0; i < a->nconfigs; i++) {
        if (gt_conf_same_settings(&a->configs[i], want))
            return (long)i;
    }
    return -1;
}

/* Config c's result on device d; NULL for c = -1 (no such config). */
static const struct gt_replay_result *result_of(const struct gt_analysis *a, size_t d, long c)
{
    return c >= 0 ? gt_report_result_of(a, d, (size_t)c) : NULL;
}

/* The ten configs of the split-size plot, row by row: max_split_size_mb
 * 64..512 then unlimited, expandable off and on. */
static void split_conf(size_t row, bool expandable, struct gt_conf *c)
{
    static const unsigned mb[SPLIT_ROWS] = {64, 128, 256, 512, 0};

    gt_conf_init_default(c);
    if (mb[row] != 0)
        c->max_split_size = (uint64_t)mb[row] * GT_CONF_MIB;
    c->expandable_segments = expandable;
}

/* One replay answers the split-size plot and names the best config: the
 * default sweep already holds all ten split configs; any that a future sweep
 * drops is added rather than assumed. */
static bool has_conf(const struct gt_conf *confs, size_t n, const struct gt_conf *want)
{
    for (size_t i = 0; i < n; i++)
        if (gt_conf_same_settings(&confs[i], want))
            return true;
    return false;
}

/* Whether the configs hold every row of the split-size plot. */
static bool has_split_rows(const struct gt_conf *confs, size_t n)
{
    for (size_t row = 0; row < SPLIT_ROWS; row++) {
        for (int e = 0; e < 2; e++) {
            struct gt_conf want;
            split_conf(row, e != 0, &want);
            if (!has_conf(confs, n, &want))
                return false;
        }
    }
    return true;
}

static int replay_all(struct plot_job *job)
{
    struct gt_conf confs[SWEEP_CAP];
    struct gt_replay_options ro = {0};
    size_t n = gt_replay_default_sweep(confs, SWEEP_CAP - 2 * SPLIT_ROWS);

    if (job->opts->sweep != NULL &&
        has_split_rows(job->opts->sweep->configs, job->opts->sweep->nconfigs)) {
        job->a = job->opts->sweep;
        return 0;
    }
    for (size_t row = 0; row < SPLIT_ROWS; row++) {
        for (int e = 0; e < 2; e++) {
            struct gt_conf want;
            split_conf(row, e != 0, &want);
            if (!has_conf(confs, n, &want))
                confs[n++] = want;
        }
    }
    ro.scenario = job->scn;
    ro.add_recorded_conf = 1;
    int rc = gt_replay_trace(job->trace, confs, n, &ro, &job->own_a, job->errbuf, job->errlen);
    job->a = job->own_a;
    return rc;
}

/* The device the plots show: the one with the most requests, since a plot
 * per device would mostly repeat the busy one. */
static int pick_device(struct plot_job *job)
{
    const struct gt_analysis *a = job->a;
    char card[256];
    int64_t most = -1;
    struct gt_conf def;

    for (size_t i = 0; i < a->ndevices; i++) {
        bool pick = job->opts->has_device ? a->devices[i].device == job->opts->device
                                          : a->devices[i].events > most;
        if (pick) {
            most = a->devices[i].events;
            job->d = i;
        }
    }
    if (job->opts->has_device && most < 0) {
        char list[256] = "";
        for (size_t i = 0, n = 0; i < a->ndevices && n + 16 < sizeof list; i++)
            n += (size_t)snprintf(list + n, sizeof list - n, "%s%" PRId32, i ? ", " : "",
                                  a->devices[i].device);
        return gt_errf(job->errbuf, job->errlen, GT_EINVAL,
                       "cannot plot '%s': device %" PRId32 " has no requests in it (devices with "
                       "requests: %s)",
                       job->trace, job->opts->device, a->ndevices ? list : "none");
    }
    job->have_device = a->ndevices > 0;
    gt_conf_init_default(&def);
    job->default_index = find_config(a, &def);
    job->default_peak = -1;
    job->unit = GIB;
    job->unit_name = "GiB";
    if (!job->have_device) {
        snprintf(job->subtitle, sizeof job->subtitle, "trace %s", base_name(job->trace));
        return 0;
    }
    job->device = a->devices[job->d].device;
    job->cap = a->devices[job->d].device_memory;
    /* Axes in GiB read badly as 0.05, 0.10, ... for a run of a few MiB. */
    most = (int64_t)(job->cap / 2);
    for (size_t c = 0; c < a->nconfigs; c++) {
        const struct gt_replay_result *r = &a->results[job->d * a->nconfigs + c];
        most = (int64_t)r->peak_reserved > most ? (int64_t)r->peak_reserved : most;
    }
    if ((double)most < GIB) {
        job->unit = MIB;
        job->unit_name = "MiB";
    }
    gt_scenario_card_line(&a->devices[job->d].card, card, sizeof card);
    snprintf(job->subtitle, sizeof job->subtitle, "trace %s, device %" PRId32 "%s%s%s, card %s",
             base_name(job->trace), job->device, a->devices[job->d].name[0] != '\0' ? " (" : "",
             a->devices[job->d].name, a->devices[job->d].name[0] != '\0' ? ")" : "", card);
    return 0;
}

/* ---- plot 1: split sizes --------------------------------------------------- */

static int write_split_sizes(struct plot_job *job, FILE *gp)
{
    static const char *const labels[SPLIT_ROWS] = {"64", "128", "256", "512", "unlimited"};
    const struct gt_analysis *a = job->a;
    double ymax = (double)job->cap / job->unit;
    size_t nooms = 0;
    FILE *f, *o;
    int rc;

    put_terminal(gp, job, "split-sizes", 1000, 600);
    put_title(gp, job, "Peak reserved memory and fragmentation at the peak by max_split_size_mb");
    if (!job->have_device) {
        put_empty(gp, "no allocation requests in this trace");
        return 0;
    }
    if ((f = open_data(job, "split-sizes.dat")) == NULL)
        return data_open_failed(job, "split-sizes.dat");
    if ((o = open_data(job, "split-ooms.dat")) == NULL) {
        fclose(f);
        return data_open_failed(job, "split-ooms.dat");
    }
    fputs("# row label peak_off_gib frag_off_pct peak_on_gib frag_on_pct\n", f);
    for (size_t row = 0; row < SPLIT_ROWS; row++) {
        fprintf(f, "%zu %s", row, labels[row]);
        for (int e = 0; e < 2; e++) {
            struct gt_conf want;
            const struct gt_replay_result *r;
            double x = (double)row + (e ? 0.2 : -0.2), peak;
            split_conf(row, e != 0, &want);
            r = result_of(a, job->d, find_config(a, &want));
            if (r == NULL) {
                fputs(" NaN NaN", f);
                continue;
            }
            peak = (double)r->peak_reserved / job->unit;
            ymax = peak > ymax ? peak : ymax;
            fprintf(f, " %.6f %.3f", peak, r->fragmentation_at_peak * 100.0);
            if (r->num_ooms > 0) {
                fprintf(o, "%.2f %.6f \"%" PRId64 " OOM%s\"\n", x, peak, r->num_ooms,
                        r->num_ooms == 1 ? "" : "s");
                nooms++;
            }
        }
        fputc('\n', f);
    }
    if ((rc = close_data(job, f, "split-sizes.dat")) != 0) {
        fclose(o);
        return rc;
    }
    if ((rc = close_data(job, o, "split-ooms.dat")) != 0)
        return rc;

    fprintf(gp,
            "set style fill solid 0.85 border -1\n"
            "set xrange [-0.6:4.6]\n"
            "set yrange [0:%.6f]\n"
            "set y2range [0:100]\n"
            "set xtics ('64' 0, '128' 1, '256' 2, '512' 3, 'unlimited' 4) nomirror\n"
            "set ytics nomirror\n"
            "set y2tics 0,10,100\n"
            "set grid ytics\n"
            "set xlabel 'max_split_size_mb (MiB)'\n"
            "set ylabel 'peak reserved (%s)'\n"
            "set y2label 'fragmentation at peak (%%)'\n"
            "set key top center horizontal maxrows 3 opaque box\n",
            ymax > 0 ? ymax * 1.45 : 1.0, job->unit_name);
    put_cap_line(gp, job);
    fputs("plot 'split-sizes.dat' using ($1-0.2):3:(0.38) with boxes lc rgb '#1f77b4' "
          "title 'peak reserved, expandable_segments off', \\\n"
          "     '' using ($1+0.2):5:(0.38) with boxes lc rgb '#ff7f0e' "
          "title 'peak reserved, expandable_segments:True', \\\n"
          "     '' using ($1-0.2):3:(sprintf('%.2f', $3)) with labels offset 0,0.6 font ',8' "
          "notitle, \\\n"
          "     '' using ($1+0.2):5:(sprintf('%.2f', $5)) with labels offset 0,0.6 font ',8' "
          "notitle, \\\n"
          "     '' using ($1-0.2):4 axes x1y2 with linespoints lw 2 pt 7 lc rgb '#0b3c6b' "
          "title 'fragmentation at peak, expandable off', \\\n"
          "     '' using ($1+0.2):6 axes x1y2 with linespoints lw 2 pt 5 dt 2 lc rgb '#a34a00' "
          "title 'fragmentation at peak, expandable on'",
          gp);
    if (nooms > 0)
        fputs(", \\\n     'split-ooms.dat' using 1:2:3 with labels offset 0,1.6 font ',8' "
              "tc rgb '#d62728' notitle",
              gp);
    put_cap_key(gp, job);
    fputc('\n', gp);
    return 0;
}

/* ---- plot 2: timeline ------------------------------------------------------ */

struct tl_point {
    int64_t index, ts;
    uint64_t v;
};

struct tl_bucket {
    struct tl_point first, lo, hi, last;
    bool used;
};

/* One config's run: allocated and reserved of the plotted device, bucketed
 * by event index; the OOMs this config hits; where reserved first peaked. */
struct tl_run {
    int32_t device;
    int64_t events; /* all the trace's events, for the bucket of an index */
    struct tl_bucket alloc[TL_BUCKETS], res[TL_BUCKETS];
    uint64_t peak_res, peak_alloc;
    int64_t peak_index;
    bool seen, ts_backwards;
    int64_t first_ts, last_ts;
    struct tl_point ooms[TL_MAX_OOM_MARKS];
    size_t nooms;
    int64_t ooms_total;
    long config;     /* index into a->configs */
    char label[300]; /* "name (role, role)" */
    int roles;       /* roles in the label: 0 means no parenthesis to close */
};

static void tl_add(struct tl_bucket *b, int64_t index, int64_t ts, uint64_t v)
{
    struct tl_point p = {index, ts, v};

    if (!b->used) {
        b->first = b->lo = b->hi = p;
        b->used = true;
    }
    if (v < b->lo.v)
        b->lo = p;
    if (v > b->hi.v)
        b->hi = p;
    b->last = p;
}

static int tl_on_event(void *ctx, struct gt_inspect *in, const struct gt_inspect_event *ev)
{
    struct tl_run *run = ctx;
    const struct gt_sim_stats *st;
    uint64_t alloc, res;
    size_t bucket;

    (void)in;
    if (ev->device != run->device || ev->sim == NULL)
        return 0;
    st = gt_sim_get_stats(ev->sim);
    alloc = (uint64_t)st->allocated_bytes[GT_SIM_ALL].current;
    res = (uint64_t)st->reserved_bytes[GT_SIM_ALL].current;
    if (!run->seen) {
        run->first_ts = ev->ts_ns;
        run->seen = true;
    } else if (ev->ts_ns < run->last_ts) {
        run->ts_backwards = true;
    }
    run->last_ts = ev->ts_ns;
    bucket = run->events > 0 && ev->index >= 0 && ev->index < run->events
                 ? (size_t)((double)ev->index * TL_BUCKETS / (double)run->events)
                 : TL_BUCKETS - 1;
    if (bucket >= TL_BUCKETS)
        bucket = TL_BUCKETS - 1;
    tl_add(&run->alloc[bucket], ev->index, ev->ts_ns, alloc);
    tl_add(&run->res[bucket], ev->index, ev->ts_ns, res);
    if (res > run->peak_res) {
        run->peak_res = res;
        run->peak_index = ev->index;
    }
    if (alloc > run->peak_alloc)
        run->peak_alloc = alloc;
    if (ev->result == GT_EOOM) {
        run->ooms_total++;
        if (run->nooms < TL_MAX_OOM_MARKS)
            run->ooms[run->nooms++] = (struct tl_point){ev->index, ev->ts_ns, res};
    }
    return 0;
}

static int cmp_point(const void *x, const void *y)
{
    const struct tl_point *p = x, *q = y;

    return (p->index > q->index) - (p->index < q->index);
}

/* x of a point: time since t0 in units of scale nanoseconds, or the event
 * index when scale is 0. */
static double tl_x(const struct tl_point *p, double scale, int64_t t0)
{
    /* in double: timestamps come from files and their difference may not
     * fit an int64 */
    return scale > 0 ? ((double)p->ts - (double)t0) / scale : (double)p->index;
}

static int tl_write_series(struct plot_job *job, const char *name, const struct tl_bucket *b,
                           double scale, int64_t t0)
{
    FILE *f = open_data(job, name);

    if (f == NULL)
        return data_open_failed(job, name);
    for (size_t i = 0; i < TL_BUCKETS; i++) {
        struct tl_point p[4];
        if (!b[i].used)
            continue;
        p[0] = b[i].first;
        p[1] = b[i].lo;
        p[2] = b[i].hi;
        p[3] = b[i].last;
        qsort(p, 4, sizeof p[0], cmp_point);
        for (size_t k = 0; k < 4; k++) {
            if (k > 0 && p[k].index == p[k - 1].index)
                continue;
            fprintf(f, "%.9g %.6f\n", tl_x(&p[k], scale, t0), (double)p[k].v / job->unit);
        }
    }
    return close_data(job, f, name);
}

/* Adds config c to the runs with its role, or the role to the run that
 * already has it ("default (recorded)"). */
static void tl_add_role(struct plot_job *job, struct tl_run *runs, size_t *n, long c,
                        const char *role)
{
    const char *name;

    struct tl_run *run = NULL;
    size_t len;

    if (c < 0 || (size_t)c >= job->a->nconfigs)
        return;
    for (size_t i = 0; i < *n && run == NULL; i++)
        run = runs[i].config == c ? &runs[i] : NULL;
    if (run == NULL) {
        if (*n >= TL_MAX_CONFIGS)
            return;
        run = &runs[(*n)++];
        name = job->a->configs[c].name[0] != '\0' ? job->a->configs[c].name : "default";
        run->config = c;
        snprintf(run->label, sizeof run->label, "%s", name);
    }
    /* "default (default)" says nothing twice. */
    if (strcmp(run->label, role) == 0)
        return;
    len = strlen(run->label);
    snprintf(run->label + len, sizeof run->label - len, "%s%s", run->roles++ ? ", " : " (", role);
}

/* The timeline's series: the best config, the default and the recorded
 * one, a config with several roles drawn once. */
static int tl_setup(struct plot_job *job)
{
    const struct gt_analysis *a = job->a;
    const struct gt_replay_result *best = gt_replay_best(a, job->d);
    struct tl_run *runs = calloc(TL_MAX_CONFIGS, sizeof *runs);
    size_t n = 0;

    if (runs == NULL)
        return gt_errf(job->errbuf, job->errlen, GT_ENOMEM, "out of memory");
    job->runs = runs;
    tl_add_role(job, runs, &n, best != NULL ? (long)best->config_index : -1, "best");
    tl_add_role(job, runs, &n, job->default_index, "default");
    if (a->has_recorded_conf)
        tl_add_role(job, runs, &n, a->recorded_index, "recorded");
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(runs[i].label);
        if (runs[i].roles > 0)
            snprintf(runs[i].label + len, sizeof runs[i].label - len, ")");
        runs[i].device = job->device;
        runs[i].events = a->events;
        runs[i].peak_index = -1;
    }
    job->nruns = n;
    return 0;
}

static int write_timeline(struct plot_job *job, FILE *gp)
{
    struct tl_run *runs = job->runs;
    size_t n = job->nruns;
    bool clock_ok = true;
    double scale = 1e9;
    const char *xlabel = "time since the first request (s)";
    int64_t t0 = 0, t1 = 0;
    double ymax = (double)job->cap / job->unit;
    int rc = 0;

    put_terminal(gp, job, "timeline", 1000, 600);
    put_title(gp, job, "Allocated and reserved memory over the run");
    if (!job->have_device) {
        put_empty(gp, "no allocation requests in this trace");
        return 0;
    }
    /* Time reads better than event numbers, but only when the clock is
     * usable: imports without times carry zeros, and merged traces can
     * step back. */
    for (size_t i = 0; i < n && rc == 0; i++) {
        if (runs[i].ts_backwards || !runs[i].seen)
            clock_ok = false;
        t0 = runs[i].first_ts;
        t1 = runs[i].last_ts;
    }
    if (t1 <= t0 || !clock_ok) {
        scale = 0;
        xlabel = "event index";
    } else if ((double)t1 - (double)t0 < 1e6) {
        scale = 1e3;
        xlabel = "time since the first request (us)";
    } else if ((double)t1 - (double)t0 < 1e9) {
        scale = 1e6;
        xlabel = "time since the first request (ms)";
    }
    for (size_t i = 0; i < n && rc == 0; i++) {
        char name[64];
        double peak = (double)runs[i].peak_res / job->unit;
        ymax = peak > ymax ? peak : ymax;
        snprintf(name, sizeof name, "timeline-%zu-res.dat", i);
        rc = tl_write_series(job, name, runs[i].res, scale, t0);
        snprintf(name, sizeof name, "timeline-%zu-alloc.dat", i);
        if (rc == 0)
            rc = tl_write_series(job, name, runs[i].alloc, scale, t0);
        snprintf(name, sizeof name, "timeline-%zu-oom.dat", i);
        if (rc == 0 && runs[i].nooms > 0) {
            FILE *f = open_data(job, name);
            if (f == NULL) {
                rc = data_open_failed(job, name);
                break;
            }
            for (size_t k = 0; k < runs[i].nooms; k++)
                fprintf(f, "%.9g %.6f\n", tl_x(&runs[i].ooms[k], scale, t0),
                        (double)runs[i].ooms[k].v / job->unit);
            rc = close_data(job, f, name);
        }
    }
    if (rc != 0)
        return rc;

    fprintf(gp,
            "set yrange [0:%.6f]\n"
            "set grid\n"
            "set autoscale xfix\n"
            "set ylabel 'memory (%s)'\n"
            "set xlabel '%s'\n"
            "set key below horizontal maxrows 3\n",
            ymax > 0 ? ymax * 1.15 : 1.0, job->unit_name, xlabel);
    put_cap_line(gp, job);
    fputs("plot ", gp);
    for (size_t i = 0; i < n; i++) {
        char peak[32], title[400];
        put_bytes(peak, sizeof peak, runs[i].peak_res);
        fprintf(gp, "%s'timeline-%zu-res.dat' using 1:2 with steps lw 2 lc rgb '%s' title ",
                i > 0 ? ", \\\n     " : "", i, colors[i]);
        snprintf(title, sizeof title, "reserved, %s, peak %s", runs[i].label, peak);
        put_quoted(gp, title);
        put_bytes(peak, sizeof peak, runs[i].peak_alloc);
        fprintf(gp,
                ", \\\n     'timeline-%zu-alloc.dat' using 1:2 with steps lw 1 dt 2 "
                "lc rgb '%s' title ",
                i, colors[i]);
        snprintf(title, sizeof title, "allocated, %s, peak %s", runs[i].label, peak);
        put_quoted(gp, title);
        if (runs[i].nooms > 0) {
            fprintf(gp,
                    ", \\\n     'timeline-%zu-oom.dat' using 1:2 with points pt 2 ps 1.5 "
                    "lw 2 lc rgb '%s' title ",
                    i, colors[i]);
            snprintf(title, sizeof title, "OOM, %s (%" PRId64 ")", runs[i].label,
                     runs[i].ooms_total);
            put_quoted(gp, title);
        }
    }
    put_cap_key(gp, job);
    fputc('\n', gp);
    return 0;
}

/* ---- plot 3: request sizes ------------------------------------------------- */

/* Bin k holds sizes in (2^(k-1), 2^k], so that the allocator's rule "small
 * pool when the size is at most 1 MiB" falls exactly between two bins. */
static unsigned size_bin(uint64_t size)
{
    unsigned k = 0;

    while (k < 64 && ((uint64_t)1 << k) < size)
        k++;
    return k;
}

static void pow2_label(unsigned k, char *buf, size_t len)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};

    snprintf(buf, len, "%llu %s", 1ull << (k % 10), units[k / 10]);
}

static int count_requests(struct plot_job *job, uint64_t *count, uint64_t *bytes)
{
    struct gt_trace_reader *r = NULL;
    struct gt_event *buf;
    size_t n = 0;
    int rc;

    buf = malloc(READ_BATCH * sizeof *buf);
    if (buf == NULL)
        return gt_errf(job->errbuf, job->errlen, GT_ENOMEM, "out of memory");
    rc = gt_trace_open(job->trace, &r, job->errbuf, job->errlen);
    while (rc == 0 && (rc = gt_trace_read(r, buf, READ_BATCH, &n)) == 0 && n > 0) {
        for (size_t i = 0; i < n; i++) {
            uint64_t size = buf[i].requested != 0 ? buf[i].requested : buf[i].size;
            unsigned k;
            if (buf[i].kind != GT_EV_ALLOC || buf[i].device != job->device || size == 0)
                continue;
            k = size_bin(size);
            count[k]++;
            bytes[k] += size;
        }
    }
    if (rc != 0 && r != NULL)
        gt_errf(job->errbuf, job->errlen, rc, "%s", gt_trace_errmsg(r));
    gt_trace_close(r);
    free(buf);
    return rc;
}

static int write_request_sizes(struct plot_job *job, FILE *gp)
{
    uint64_t count[HIST_BINS] = {0}, bytes[HIST_BINS] = {0}, total = 0, most = 0, heaviest = 0;
    double unit = GIB;
    const char *unit_name = "GiB";
    unsigned lo = HIST_BINS, hi = 0;
    FILE *f;
    int rc;

    put_terminal(gp, job, "request-sizes", 1000, 600);
    put_title(gp, job, "Allocation request sizes (log2 bins)");
    if (job->have_device && (rc = count_requests(job, count, bytes)) != 0)
        return rc;
    for (unsigned k = 0; k < HIST_BINS; k++) {
        if (count[k] == 0)
            continue;
        lo = k < lo ? k : lo;
        hi = k;
        total += count[k];
        most = count[k] > most ? count[k] : most;
        heaviest = bytes[k] > heaviest ? bytes[k] : heaviest;
    }
    if (total == 0) {
        put_empty(gp, "no allocation requests in this trace");
        return 0;
    }
    /* Always show both pools, so the boundary line has a side each. */
    lo = lo > SMALL_POOL_BIN ? SMALL_POOL_BIN : lo;
    hi = hi < SMALL_POOL_BIN + 1 ? SMALL_POOL_BIN + 1 : hi;
    if ((double)heaviest < GIB) {
        unit = MIB;
        unit_name = "MiB";
    }
    if ((f = open_data(job, "request-sizes.dat")) == NULL)
        return data_open_failed(job, "request-sizes.dat");
    fprintf(f, "# bin requests bytes_%s (bin k: sizes in (2^(k-1), 2^k])\n", unit_name);
    for (unsigned k = lo; k <= hi; k++)
        fprintf(f, "%u %" PRIu64 " %.6f\n", k, count[k], (double)bytes[k] / unit);
    if ((rc = close_data(job, f, "request-sizes.dat")) != 0)
        return rc;

    fputs("set xtics (", gp);
    for (unsigned k = lo; k <= hi; k++) {
        char label[32];
        pow2_label(k, label, sizeof label);
        fprintf(gp, "%s'%s' %u", k > lo ? ", " : "", label, k);
    }
    fprintf(gp,
            ") rotate by 45 right nomirror\n"
            "set xrange [%f:%f]\n"
            "set yrange [0:*]\n"
            "set y2range [0:*]\n"
            "set offsets 0, 0, graph 0.12, 0\n"
            "set ytics nomirror%s\n"
            "set y2tics\n"
            "set grid ytics\n"
            "set style fill solid 0.8 border -1\n"
            "set boxwidth 0.8\n"
            "set xlabel 'request size, up to (bin k holds sizes in (2^(k-1), 2^k])'\n"
            "set ylabel 'requests'\n"
            "set y2label 'bytes requested (%s)'\n"
            "set key below horizontal\n"
            "set arrow 8 from %f, graph 0 to %f, graph 1 nohead front lc rgb '#d62728' lw 2 dt 2\n"
            "set label 8 'small pool (<= 1 MiB) ' at %f, graph 0.95 right front "
            "tc rgb '#d62728'\n"
            "set label 7 ' large pool (> 1 MiB)' at %f, graph 0.95 left front tc rgb '#d62728'\n"
            "plot 'request-sizes.dat' using 1:2 with boxes lc rgb '#1f77b4' "
            "title 'requests (%" PRIu64 " in all)', \\\n"
            "     '' using 1:2:($2 > 0 ? sprintf('%%d', int($2)) : '') with labels offset 0,0.7 "
            "font ',8' notitle, \\\n"
            "     '' using 1:3 axes x1y2 with linespoints lw 2 pt 7 lc rgb '#ff7f0e' "
            "title 'bytes requested (%s)'\n",
            lo - 0.6, hi + 0.6, most < 10 ? " 1" : "", unit_name, SMALL_POOL_BIN + 0.5,
            SMALL_POOL_BIN + 0.5, SMALL_POOL_BIN + 0.5, SMALL_POOL_BIN + 0.5, total, unit_name);
    return 0;
}

/* ---- plot 4: segment map --------------------------------------------------- */

struct seg_row {
    uint64_t addr, size, allocated;
    bool small_pool, expandable;
    size_t first_block, nblocks;
};

struct seg_block {
    uint64_t addr, size;
    bool allocated;
};

/* The segments and blocks at the event where reserved first peaked.
 * Invariant: the blocks of segs[i] are blks[segs[i].first_block ..][.nblocks],
 * in address order, because gt_sim_segments reports a segment and then its
 * blocks. */
struct seg_map {
    int32_t device;
    int64_t at;       /* the event of the map, -1 before reserved grows */
    uint64_t max_res; /* reserved there */
    uint64_t target;  /* the sweep's peak reserved for this config, 0 = unknown */
    bool nomem;
    struct seg_row *segs;
    size_t nsegs, capsegs;
    struct seg_block *blks;
    size_t nblks, capblks;
};

static void seg_on_segment(void *ctx, const struct gt_sim_segment_info *seg)
{
    struct seg_map *m = ctx;

    struct seg_row *grown;

    if (m->nomem)
        return;
    grown = gt_array_grow(m->segs, &m->capsegs, m->nsegs, sizeof *m->segs);
    if (grown == NULL) {
        m->nomem = true;
        return;
    }
    m->segs = grown;
    m->segs[m->nsegs++] = (struct seg_row){
        seg->addr, seg->size, seg->allocated, seg->small_pool, seg->expandable, m->nblks, 0};
}

static void seg_on_block(void *ctx, uint64_t addr, uint64_t size, bool allocated)
{
    struct seg_map *m = ctx;

    struct seg_block *grown;

    if (m->nomem || m->nsegs == 0)
        return;
    grown = gt_array_grow(m->blks, &m->capblks, m->nblks, sizeof *m->blks);
    if (grown == NULL) {
        m->nomem = true;
        return;
    }
    m->blks = grown;
    m->blks[m->nblks++] = (struct seg_block){addr, size, allocated};
    m->segs[m->nsegs - 1].nblocks++;
}

/* The map is taken once, in the replay the timeline watches too, at the
 * first event where reserved stands at the peak the sweep found for the
 * same config (the same simulation from the same start state: the "first
 * peaked" event). Without the sweep's figure it is retaken at every new
 * high of reserved, which costs a walk of all segments per segment made:
 * on 20000 live 11 MiB requests each making a segment, 3.3 s of `plot`
 * against 1.4 s for the map taken once (2-core VM). */
static void seg_on_event(struct seg_map *m, const struct gt_inspect_event *ev)
{
    uint64_t res;

    if (ev->device != m->device || ev->sim == NULL)
        return;
    res = (uint64_t)gt_sim_get_stats(ev->sim)->reserved_bytes[GT_SIM_ALL].current;
    if (res <= m->max_res || (m->target != 0 && res != m->target))
        return;
    m->max_res = res;
    m->at = ev->index;
    m->nsegs = 0;
    m->nblks = 0;
    gt_sim_segments(ev->sim, seg_on_segment, seg_on_block, m);
}

static int cmp_seg(const void *x, const void *y)
{
    const struct seg_row *p = x, *q = y;

    if (p->size != q->size)
        return p->size < q->size ? 1 : -1;
    return (p->addr > q->addr) - (p->addr < q->addr);
}

static int seg_write_data(struct plot_job *job, const struct seg_map *m, size_t rows)
{
    FILE *fa = open_data(job, "segments-alloc.dat"), *ff = NULL;
    int rc;

    if (fa == NULL)
        return data_open_failed(job, "segments-alloc.dat");
    if ((ff = open_data(job, "segments-free.dat")) == NULL) {
        fclose(fa);
        return data_open_failed(job, "segments-free.dat");
    }
    /* boxxyerror: x y xlow xhigh ylow yhigh, one rectangle per block */
    for (size_t r = 0; r < rows; r++) {
        const struct seg_row *s = &m->segs[r];
        for (size_t i = 0; i < s->nblocks; i++) {
            const struct seg_block *b = &m->blks[s->first_block + i];
            double x0 = (double)(b->addr - s->addr) / MIB, x1 = x0 + (double)b->size / MIB;
            fprintf(b->allocated ? fa : ff, "%.6f %zu %.6f %.6f %.2f %.2f\n", (x0 + x1) / 2, r, x0,
                    x1, (double)r - 0.38, (double)r + 0.38);
        }
    }
    rc = close_data(job, fa, "segments-alloc.dat");
    if (rc != 0) {
        fclose(ff);
        return rc;
    }
    return close_data(job, ff, "segments-free.dat");
}

static int write_segments(struct plot_job *job, FILE *gp)
{
    static struct seg_map none;
    struct seg_map *mp = job->seg != NULL ? job->seg : &none;
    struct seg_map m = *mp; /* the arrays stay the job's */
    size_t rows;
    bool any_alloc = false, any_free = false;
    uint64_t reserved = 0, allocated = 0, hidden_bytes = 0;
    char first[256], res_s[32], alloc_s[32];
    int rc = 0;

    if (!job->have_device || job->default_peak < 0 || job->default_index < 0) {
        put_terminal(gp, job, "segments", 1000, 500);
        put_title(gp, job, "Segment map at the reserved peak, default config");
        put_empty(gp, "no segments: the default config reserved no memory");
        return 0;
    }
    if (m.nomem)
        return gt_errf(job->errbuf, job->errlen, GT_ENOMEM, "out of memory");
    /* One truth: the map's replay peaks where the timeline's does, at the
     * sweep's figure; a map from another moment must not be drawn. */
    if (m.at != job->default_peak)
        return gt_errf(job->errbuf, job->errlen, GT_EUNSUPPORTED,
                       "the segment map's replay did not peak where the sweep did (event %lld, "
                       "not %lld)",
                       (long long)m.at, (long long)job->default_peak);
    if (m.nsegs > 1) /* qsort's base must not be NULL, even for 0 */
        qsort(m.segs, m.nsegs, sizeof *m.segs, cmp_seg);
    rows = m.nsegs < SEG_MAX_ROWS ? m.nsegs : SEG_MAX_ROWS;
    for (size_t i = 0; i < m.nsegs; i++) {
        reserved += m.segs[i].size;
        allocated += m.segs[i].allocated;
        if (i >= rows)
            hidden_bytes += m.segs[i].size;
    }
    for (size_t i = 0; i < m.nblks; i++) {
        any_alloc |= m.blks[i].allocated;
        any_free |= !m.blks[i].allocated;
    }
    put_terminal(gp, job, "segments", 1000, rows > 20 ? (int)(200 + 11 * rows) : 500);
    put_bytes(res_s, sizeof res_s, reserved);
    put_bytes(alloc_s, sizeof alloc_s, allocated);
    snprintf(first, sizeof first,
             "Segment map at the reserved peak of the default config (event %" PRId64
             "): %s reserved, %s allocated",
             m.at, res_s, alloc_s);
    put_title(gp, job, first);
    if (rows == 0 || (!any_alloc && !any_free)) {
        put_empty(gp, "no segments at the reserved peak");
        goto out;
    }
    if ((rc = seg_write_data(job, &m, rows)) != 0)
        goto out;

    fputs("set ytics (", gp);
    for (size_t r = 0; r < rows; r++) {
        char size[32];
        put_bytes(size, sizeof size, m.segs[r].size);
        fprintf(gp, "%s'%s%s' %zu", r > 0 ? ", " : "", size,
                m.segs[r].expandable   ? " exp"
                : m.segs[r].small_pool ? " small"
                                       : "",
                r);
    }
    fprintf(gp,
            ") font ',8'\n"
            "set yrange [%f:-0.7]\n"
            "set xrange [0:*]\n"
            "set autoscale xfixmax\n"
            "set grid xtics\n"
            "set style fill solid 1.0 noborder\n"
            "set xlabel 'offset in segment (MiB)'\n"
            "set ylabel 'segment (size; largest first)'\n"
            "set key below horizontal\n",
            (double)rows - 0.3);
    if (m.nsegs > rows) {
        char hidden[32];
        put_bytes(hidden, sizeof hidden, hidden_bytes);
        fprintf(gp,
                "set label 6 '%zu smaller segments not shown (%s)' at graph 0.99, graph 0.03 "
                "right front\n",
                m.nsegs - rows, hidden);
    }
    fputs("plot ", gp);
    if (any_alloc)
        fputs("'segments-alloc.dat' using 1:2:3:4:5:6 with boxxyerror lc rgb '#1f77b4' "
              "title 'allocated block'",
              gp);
    if (any_free)
        fprintf(gp,
                "%s'segments-free.dat' using 1:2:3:4:5:6 with boxxyerror lc rgb '#ff7f0e' "
                "title 'free (cached) block'",
                any_alloc ? ", \\\n     " : "");
    fputc('\n', gp);
out:
    return rc;
}

/* ---- running gnuplot ------------------------------------------------------- */

/* The program to run, found on PATH as execvp would, so that "not
 * installed" is known before the long replay and the child needs no PATH
 * search between fork and exec. The path is made absolute because the child
 * changes into the private folder before exec. */
static int resolve_program(const char *name, char *out, size_t len)
{
    const char *path = getenv("PATH"), *p;
    char cwd[PATH_CAP], rel[PATH_CAP];
    bool found = false;

    if (name[0] == '\0')
        return GT_ENOENT;
    if (strchr(name, '/') != NULL) {
        found = (size_t)snprintf(out, len, "%s", name) < len && access(out, X_OK) == 0;
    } else {
        if (path == NULL || path[0] == '\0')
            path = "/usr/local/bin:/usr/bin:/bin";
        for (p = path; !found; p++) {
            const char *end = strchr(p, ':');
            size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
            struct stat sb;
            /* An empty PATH entry means the current directory. */
            if (n == 0)
                found = (size_t)snprintf(out, len, "./%s", name) < len;
            else
                found = (size_t)snprintf(out, len, "%.*s/%s", (int)n, p, name) < len;
            found = found && stat(out, &sb) == 0 && S_ISREG(sb.st_mode) && access(out, X_OK) == 0;
            if (end == NULL)
                break;
            p = end;
        }
    }
    if (!found)
        return GT_ENOENT;
    if (out[0] != '/') {
        if (getcwd(cwd, sizeof cwd) == NULL)
            return GT_ENOENT;
        if ((size_t)snprintf(rel, sizeof rel, "%s", out) >= sizeof rel ||
            (size_t)snprintf(out, len, "%s/%s", cwd, rel) >= len)
            return GT_ENOENT;
    }
    return 0;
}

/* The last non-empty line of gnuplot's output, for the error message. */
static void last_log_line(const char *path, char *buf, size_t len)
{
    char line[512];
    FILE *f = fopen(path, "r");

    snprintf(buf, len, "no output");
    if (f == NULL)
        return;
    while (fgets(line, sizeof line, f) != NULL) {
        size_t n = strlen(line);
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' '))
            line[--n] = '\0';
        if (n == 0)
            continue;
        gt_text_clean(line, buf, len);
    }
    fclose(f);
}

static double elapsed_s(const struct timespec *start)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return (double)(now.tv_sec - start->tv_sec) + (double)(now.tv_nsec - start->tv_nsec) / 1e9;
}

/* Runs `gnuplot -d plots.gp` in the private folder, stdin from /dev/null,
 * stdout and stderr into gnuplot.log there. -d skips the user's
 * ~/.gnuplot, which could change terminals or styles. */
static int run_gnuplot(struct plot_job *job, const char *prog)
{
    char log[PATH_CAP], last[512];
    char arg0[] = "gnuplot", arg1[] = "-d", arg2[] = "plots.gp";
    char *argv[] = {arg0, arg1, arg2, NULL};
    int devnull = -1, logfd = -1, pfd[2] = {-1, -1}, status = 0, rc = 0;
    int child_err[2] = {0, 0}; /* {step, errno} of a failed start */
    struct timespec start;
    bool timed_out = false;
    pid_t pid;
    ssize_t got;

    /* job->tmp is short (make_tmp), but the compiler cannot see it */
    if (snprintf(log, sizeof log, "%s/gnuplot.log", job->tmp) >= (int)sizeof log)
        return gt_errf(job->errbuf, job->errlen, GT_EIO, "temporary folder name too long");
    devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    logfd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (devnull < 0 || logfd < 0 || pipe(pfd) != 0 || fcntl(pfd[0], F_SETFD, FD_CLOEXEC) != 0 ||
        fcntl(pfd[1], F_SETFD, FD_CLOEXEC) != 0) {
        rc = gt_errf(job->errbuf, job->errlen, GT_EIO, "cannot start gnuplot: %s", strerror(errno));
        goto out;
    }
    pid = fork();
    if (pid < 0) {
        rc = gt_errf(job->errbuf, job->errlen, GT_EIO, "cannot start gnuplot: %s", strerror(errno));
        goto out;
    }
    if (pid == 0) {
        /* Only async-signal-safe calls between fork and exec. */
        int e[2] = {1, 0};
        if (chdir(job->tmp) == 0 && dup2(devnull, 0) >= 0 && dup2(logfd, 1) >= 0 &&
            dup2(logfd, 2) >= 0) {
            e[0] = 2;
            execv(prog, argv);
        }
        e[1] = errno;
        if (write(pfd[1], e, sizeof e) < 0)
            _exit(127);
        _exit(127);
    }
    close(pfd[1]);
    pfd[1] = -1;
    /* The pipe closes on a successful exec (close-on-exec) or carries the
     * errno of the step that failed. */
    do
        got = read(pfd[0], child_err, sizeof child_err);
    while (got < 0 && errno == EINTR);
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        pid_t w = waitpid(pid, &status, WNOHANG);
        struct timespec nap = {0, 10 * 1000 * 1000};
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR) {
            rc = gt_errf(job->errbuf, job->errlen, GT_EIO, "cannot wait for gnuplot: %s",
                         strerror(errno));
            goto out;
        }
        if (elapsed_s(&start) > GNUPLOT_TIMEOUT_S) {
            kill(pid, SIGKILL);
            while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
                ;
            timed_out = true;
            break;
        }
        nanosleep(&nap, NULL);
    }
    if (got == (ssize_t)sizeof child_err) {
        if (child_err[0] == 2)
            rc = gt_errf(job->errbuf, job->errlen, GT_ENOENT, "%s", GNUPLOT_MISSING);
        else
            rc = gt_errf(job->errbuf, job->errlen, GT_EIO, "cannot start gnuplot: %s",
                         strerror(child_err[1]));
    } else if (timed_out) {
        rc = gt_errf(job->errbuf, job->errlen, GT_EIO, "gnuplot did not finish within %d s",
                     GNUPLOT_TIMEOUT_S);
    } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        last_log_line(log, last, sizeof last);
        if (WIFSIGNALED(status))
            rc = gt_errf(job->errbuf, job->errlen, GT_EIO, "gnuplot killed by signal %d: %s",
                         WTERMSIG(status), last);
        else
            rc = gt_errf(job->errbuf, job->errlen, GT_EIO, "gnuplot failed (exit %d): %s",
                         WEXITSTATUS(status), last);
    }
out:
    if (devnull >= 0)
        close(devnull);
    if (logfd >= 0)
        close(logfd);
    if (pfd[0] >= 0)
        close(pfd[0]);
    if (pfd[1] >= 0)
        close(pfd[1]);
    return rc;
}

/* ---- files ----------------------------------------------------------------- */

static int copy_out(struct plot_job *job, int dirfd, const char *dir, const char *file)
{
    char src[PATH_CAP], buf[65536];
    int in, out, rc = 0;
    ssize_t n;

    if (snprintf(src, sizeof src, "%s/%s", job->tmp, file) >= (int)sizeof src)
        return gt_errf(job->errbuf, job->errlen, GT_EIO, "temporary folder name too long");
    in = open(src, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (in < 0)
        return gt_errf(job->errbuf, job->errlen, GT_EIO, "gnuplot wrote no '%s'", file);
    /* A new file beside the plot, renamed over it at the end: an old plot
     * that is a hard link to another file, or a symlink, is replaced as a
     * name, never written through; a FIFO or the trace itself is refused. */
    char out_path[PATH_CAP], tmp_name[PATH_CAP];
    snprintf(out_path, sizeof out_path, "%s/%s", dir, file);
    if (gt_files_check_output(out_path, &job->trace, 1, job->errbuf, job->errlen) != 0) {
        close(in);
        return GT_EIO;
    }
    snprintf(tmp_name, sizeof tmp_name, ".%s.%ld.tmp", file, (long)getpid());
    out = openat(dirfd, tmp_name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    if (out < 0) {
        rc = gt_errf(job->errbuf, job->errlen, GT_EIO, "cannot write '%s/%s': %s", dir, file,
                     strerror(errno));
        close(in);
        return rc;
    }
    while ((n = read(in, buf, sizeof buf)) != 0) {
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            rc = gt_errf(job->errbuf, job->errlen, GT_EIO, "cannot read '%s': %s", src,
                         strerror(errno));
            break;
        }
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(out, buf + off, (size_t)(n - off));
            if (w < 0 && errno == EINTR)
                continue;
            if (w < 0) {
                rc = gt_errf(job->errbuf, job->errlen, GT_EIO, "cannot write '%s/%s': %s", dir,
                             file, strerror(errno));
                break;
            }
            off += w;
        }
        if (rc != 0)
            break;
    }
    if (close(out) != 0 && rc == 0)
        rc = gt_errf(job->errbuf, job->errlen, GT_EIO, "cannot write '%s/%s': %s", dir, file,
                     strerror(errno));
    if (rc == 0 && renameat(dirfd, tmp_name, dirfd, file) != 0)
        rc = gt_errf(job->errbuf, job->errlen, GT_EIO, "cannot write '%s/%s': %s", dir, file,
                     strerror(errno));
    if (rc != 0)
        unlinkat(dirfd, tmp_name, 0);
    close(in);
    return rc;
}

static int copy_all(struct plot_job *job, const char *dir)
{
    int dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

    if (dirfd < 0)
        return gt_errf(job->errbuf, job->errlen, GT_EIO, "cannot open '%s': %s", dir,
                       strerror(errno));
    for (size_t i = 0; i < GT_PLOT_COUNT && rc == 0; i++) {
        char file[64];
        snprintf(file, sizeof file, "%s.%s", plot_names[i], job->ext);
        rc = copy_out(job, dirfd, dir, file);
    }
    close(dirfd);
    return rc;
}

/* Removes the private folder and everything in it (flat: nothing creates
 * subfolders there). */
static void remove_tmp(struct plot_job *job)
{
    DIR *d;
    struct dirent *e;

    if (job->tmp[0] == '\0')
        return;
    d = opendir(job->tmp);
    if (d != NULL) {
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
                unlinkat(dirfd(d), e->d_name, 0);
        }
        closedir(d);
    }
    rmdir(job->tmp);
    job->tmp[0] = '\0';
}

static int make_tmp(struct plot_job *job)
{
    const char *base = getenv("TMPDIR");

    /* A relative or overlong TMPDIR is ignored, as mktemp(1) would not
     * help either: the folder must not move with the current directory. */
    if (base == NULL || base[0] != '/' || strlen(base) > sizeof job->tmp - 32)
        base = "/tmp";
    snprintf(job->tmp, sizeof job->tmp, "%s/gpu-trace-plot-XXXXXX", base);
    /* mkdtemp creates the folder 0700: no other user can read the data or
     * swap the script. */
    if (mkdtemp(job->tmp) == NULL) {
        int e = errno;
        job->tmp[0] = '\0';
        return gt_errf(job->errbuf, job->errlen, GT_EIO,
                       "cannot create a temporary folder in '%s': %s", base, strerror(e));
    }
    return 0;
}

/* ---- plot 5: the smallest card ---------------------------------------------- */

/* Card sizes people buy, in GB as sold (the memory a card reports is close
 * to that many GiB): the marks of the fit plot. */
static const unsigned common_cards_gb[] = {4, 6, 8, 10, 12, 16, 20, 24, 32, 40, 48, 80, 96, 141};

/* The smallest card of each config, found once for every config of the
 * sweep on every device (gt_replay_fit), unless the caller has it; from the
 * caller's uncapped replay of the sweep when it has one. */
static int find_fit(struct plot_job *job)
{
    struct gt_replay_options ro = {0};
    struct gt_analysis *own_uncapped = NULL;
    const struct gt_analysis *uncapped = job->opts->uncapped;
    int rc = 0;

    job->fit = job->opts->fit;
    if (job->fit != NULL || !job->have_device)
        return 0;
    ro.scenario = job->scn;
    if (uncapped == NULL) {
        rc = gt_replay_uncapped(job->trace, job->a, &ro, &own_uncapped, job->errbuf, job->errlen);
        uncapped = own_uncapped;
    }
    if (rc == 0)
        rc = gt_replay_fit(job->trace, job->a, uncapped, &ro, &job->own_fit, job->errbuf,
                           job->errlen);
    gt_analysis_free(own_uncapped);
    job->fit = job->own_fit;
    return rc;
}

static int write_fit_data(struct plot_job *job, double *xmax, size_t *rows)
{
    const struct gt_analysis *a = job->a;
    FILE *f = open_data(job, "fit.dat");

    if (f == NULL)
        return data_open_failed(job, "fit.dat");
    fputs("# row smallest_card_gib config\n", f);
    *rows = 0;
    for (size_t c = 0; c < a->nconfigs; c++) {
        uint64_t min = job->fit[c * a->ndevices + job->d];
        const char *name = a->configs[c].name[0] ? a->configs[c].name : "default";
        if (min == 0)
            continue;
        double v = (double)min / GIB;
        *xmax = v > *xmax ? v : *xmax;
        /* gnuplot takes a double-quoted data column whole; config names
         * have no double quotes, and control characters are replaced */
        fprintf(f, "%zu %.6f \"", (*rows)++, v);
        for (const char *p = name; *p != '\0'; p++)
            fputc(*p == '"' || (unsigned char)*p < 0x20 ? '?' : *p, f);
        fputs("\"\n", f);
    }
    return close_data(job, f, "fit.dat");
}

static int write_fit(struct plot_job *job, FILE *gp)
{
    double xmax = 0;
    size_t rows = 0;
    int rc;

    put_terminal(gp, job, "fit", 1000, 600);
    put_title(gp, job, "The smallest card on which each config runs without an OOM");
    if (!job->have_device || job->fit == NULL) {
        put_empty(gp, "no allocation requests in this trace");
        return 0;
    }
    if ((rc = write_fit_data(job, &xmax, &rows)) != 0)
        return rc;
    if (rows == 0) {
        put_empty(gp, "no config runs without an OOM on any card");
        return 0;
    }
    xmax = xmax * 1.25 + 1;
    fprintf(gp,
            "set style fill solid 0.85 border -1\n"
            "set yrange [-0.6:%zu.4]\n"
            "set xrange [0:%.3f]\n"
            "set ytics nomirror font ',8'\n"
            "set grid xtics\n"
            "set xlabel 'smallest card (GiB), found to 2 MiB'\n"
            "unset key\n",
            rows - 1, xmax);
    for (size_t k = 0; k < sizeof common_cards_gb / sizeof common_cards_gb[0]; k++) {
        if (common_cards_gb[k] > xmax)
            break;
        fprintf(gp,
                "set arrow %zu from first %u, graph 0 to first %u, graph 1 nohead back "
                "lc rgb '#888888' dt 3\n"
                "set label %zu '%u GB' at first %u, graph 1.01 center font ',8' tc rgb '#555555'\n",
                k + 10, common_cards_gb[k], common_cards_gb[k], k + 10, common_cards_gb[k],
                common_cards_gb[k]);
    }
    fputs("plot 'fit.dat' using (0.5*$2):1:(0.5*$2):(0.35):ytic(3) with boxxyerror "
          "lc rgb '#1f77b4', \\\n"
          "     '' using 2:1:(sprintf(' %.2f GiB', $2)) with labels left font ',8'\n",
          gp);
    return 0;
}

static int write_script(struct plot_job *job)
{
    FILE *gp = open_data(job, "plots.gp");
    int rc;

    if (gp == NULL)
        return data_open_failed(job, "plots.gp");
    fputs("set encoding utf8\n", gp);
    rc = write_split_sizes(job, gp);
    if (rc == 0)
        rc = write_timeline(job, gp); /* also finds the default config's peak */
    if (rc == 0)
        rc = write_request_sizes(job, gp);
    if (rc == 0)
        rc = write_segments(job, gp);
    if (rc == 0)
        rc = write_fit(job, gp);
    if (rc != 0) {
        fclose(gp);
        return rc;
    }
    fputs("unset output\n", gp);
    return close_data(job, gp, "plots.gp");
}

/* ---- the replays of the per-event views ----------------------------------- */

struct gt_plot_pass {
    struct plot_job job;
    struct gt_plot_options opts; /* the caller's, kept until gt_plot_end */
};

static int group_on_event(void *ctx, struct gt_inspect *in, const struct gt_inspect_event *ev)
{
    const struct plot_group *g = ctx;

    for (size_t i = 0; i < g->nruns; i++)
        tl_on_event(g->runs[i], in, ev);
    if (g->seg != NULL)
        seg_on_event(g->seg, ev);
    return 0;
}

/* The peak reserved the sweep found for config on the plotted device; 0
 * when it has none. */
static uint64_t sweep_peak_reserved(const struct plot_job *job, long config)
{
    const struct gt_replay_result *r = result_of(job->a, job->d, config);
    return r != NULL ? r->peak_reserved : 0;
}

/* Puts every series in the group of its config's settings (best, default
 * and recorded may be the same settings under other names) and the
 * segment map in the default's. */
static int groups_setup(struct plot_job *job)
{
    for (size_t i = 0; i < job->nruns; i++) {
        struct tl_run *run = &job->runs[i];
        const struct gt_conf *conf = &job->a->configs[run->config];
        struct plot_group *g = NULL;
        for (size_t k = 0; k < job->ngroups && g == NULL; k++)
            g = gt_conf_same_settings(job->groups[k].conf, conf) ? &job->groups[k] : NULL;
        if (g == NULL) {
            g = &job->groups[job->ngroups++];
            g->conf = conf;
        }
        g->runs[g->nruns++] = run;
        if (run->config == job->default_index) {
            job->seg = calloc(1, sizeof *job->seg);
            if (job->seg == NULL)
                return gt_errf(job->errbuf, job->errlen, GT_ENOMEM, "out of memory");
            job->seg->device = job->device;
            job->seg->at = -1;
            job->seg->target = sweep_peak_reserved(job, job->default_index);
            g->seg = job->seg;
        }
    }
    return 0;
}

static void group_observer(struct plot_group *g, struct gt_inspect_options *observer)
{
    memset(observer, 0, sizeof *observer);
    observer->on_event = group_on_event;
    observer->ctx = g;
}

/* One replay for each group that no caller's replay served. */
static int replay_groups(struct plot_job *job)
{
    int rc = 0;

    for (size_t k = 0; k < job->ngroups && rc == 0; k++) {
        struct gt_inspect_options o;
        const struct gt_inspect_options *obs[1] = {&o};
        int orc = 0;
        if (job->groups[k].served)
            continue;
        group_observer(&job->groups[k], &o);
        rc = gt_inspect_run_shared(job->trace, job->groups[k].conf, job->scn, obs, &orc, 1,
                                   job->errbuf, job->errlen);
        rc = rc != 0 ? rc : orc;
    }
    for (size_t i = 0; i < job->nruns && rc == 0; i++) {
        if (job->runs[i].config == job->default_index)
            job->default_peak = job->runs[i].peak_index;
    }
    return rc;
}

static void pass_free(struct gt_plot_pass *pass, bool failed)
{
    struct plot_job *job = &pass->job;

    remove_tmp(job);
    gt_analysis_free(job->own_a);
    gt_scenario_free(job->own_scn);
    free(job->own_fit);
    free(job->runs);
    if (job->seg != NULL) {
        free(job->seg->segs);
        free(job->seg->blks);
        free(job->seg);
    }
    /* A folder this pass made is not left behind empty by a failure. */
    if (failed && job->made_dir)
        rmdir(job->dir);
    free(pass);
}

int gt_plot_begin(const char *trace, const char *dir, const struct gt_plot_options *opts,
                  struct gt_plot_pass **out, char *errbuf, size_t errlen)
{
    static const struct gt_plot_options defaults = {.format = GT_PLOT_PNG};
    struct gt_plot_pass *pass;
    struct plot_job *job;
    struct gt_trace_reader *r = NULL;
    struct stat sb;
    int rc;

    *out = NULL;
    if (errbuf != NULL && errlen > 0)
        errbuf[0] = '\0';
    if (trace == NULL || dir == NULL || dir[0] == '\0')
        return gt_errf(errbuf, errlen, GT_EINVAL, "no trace or output folder given");
    pass = calloc(1, sizeof *pass);
    if (pass == NULL)
        return gt_errf(errbuf, errlen, GT_ENOMEM, "out of memory");
    job = &pass->job;
    pass->opts = opts != NULL ? *opts : defaults;
    job->trace = trace;
    job->dir = dir;
    job->opts = &pass->opts;
    job->errbuf = errbuf;
    job->errlen = errlen;
    job->ext = job->opts->format == GT_PLOT_SVG ? "svg" : "png";
    /* The cheap checks first, so that a missing file or program is reported
     * at once rather than after the replay. */
    if ((rc = gt_trace_open(trace, &r, errbuf, errlen)) != 0)
        goto out;
    gt_trace_close(r);
    if (resolve_program(job->opts->gnuplot != NULL ? job->opts->gnuplot : "gnuplot", job->prog,
                        sizeof job->prog) != 0) {
        rc = gt_errf(errbuf, errlen, GT_ENOENT, "%s", GNUPLOT_MISSING);
        goto out;
    }
    if (mkdir(dir, 0700) == 0) {
        job->made_dir = true;
    } else {
        int e = errno;
        if (e != EEXIST) {
            rc = gt_errf(errbuf, errlen, GT_EIO, "cannot create '%s': %s", dir, strerror(e));
            goto out;
        }
        if (stat(dir, &sb) != 0 || !S_ISDIR(sb.st_mode)) {
            rc = gt_errf(errbuf, errlen, GT_EIO, "cannot create '%s': not a directory", dir);
            goto out;
        }
    }

    job->scn = job->opts->scenario;
    if (job->scn == NULL) {
        rc = gt_scenario_build(trace, job->opts->device_memory, &job->own_scn, errbuf, errlen);
        job->scn = job->own_scn;
    }
    if (rc == 0)
        rc = replay_all(job);
    if (rc == 0)
        rc = pick_device(job);
    if (rc == 0)
        rc = find_fit(job);
    if (rc == 0 && job->have_device)
        rc = tl_setup(job);
    if (rc == 0)
        rc = groups_setup(job);
out:
    if (rc != 0) {
        pass_free(pass, true);
        return rc;
    }
    *out = pass;
    return 0;
}

bool gt_plot_observer(struct gt_plot_pass *pass, const struct gt_conf *conf,
                      struct gt_inspect_options *observer)
{
    struct plot_job *job = &pass->job;

    for (size_t k = 0; k < job->ngroups; k++) {
        struct plot_group *g = &job->groups[k];
        if (!g->served && gt_conf_same_settings(g->conf, conf)) {
            g->served = true;
            group_observer(g, observer);
            return true;
        }
    }
    return false;
}

int gt_plot_end(struct gt_plot_pass *pass, int rc, char *errbuf, size_t errlen)
{
    struct plot_job *job;

    if (pass == NULL)
        return rc;
    job = &pass->job;
    job->errbuf = errbuf;
    job->errlen = errlen;
    if (rc != 0 && errbuf != NULL && errlen > 0 && errbuf[0] == '\0')
        gt_errf(errbuf, errlen, rc, "%s", gt_strerror(rc));
    if (rc == 0)
        rc = make_tmp(job);
    if (rc == 0)
        rc = replay_groups(job);
    if (rc == 0)
        rc = write_script(job);
    if (rc == 0)
        rc = run_gnuplot(job, job->prog);
    if (rc == 0)
        rc = copy_all(job, job->dir);
    pass_free(pass, rc != 0);
    return rc;
}

int gt_plot_all(const char *trace, const char *dir, const struct gt_plot_options *opts,
                char *errbuf, size_t errlen)
{
    struct gt_plot_pass *pass;
    int rc = gt_plot_begin(trace, dir, opts, &pass, errbuf, errlen);

    return rc != 0 ? rc : gt_plot_end(pass, 0, errbuf, errlen);
}
