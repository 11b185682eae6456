/* A trace's memory over time as Chrome trace-event JSON (export.h), the
 * format ui.perfetto.dev and chrome://tracing both read: counter events
 * ("ph": "C") whose one argument is the value, instant events ("ph": "i")
 * for out-of-memory errors, and process_name metadata ("ph": "M") naming
 * each group of tracks. Times are microseconds, as the format has them.
 *
 * Process ids: 1 + 1000 * d is device index d's comparison of every
 * config; 1 + 1000 * d + 1 + k is config k on that device. */
#include "gputrace/err.h"
#include "gputrace/export.h"
#include "gputrace/files.h"
#include "gputrace/inspect.h"
#include "gputrace/report.h"
#include "gputrace/sim.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "gputrace/banned.h"

/* What was last written for one device under the config being replayed. */
struct last_values {
    int64_t allocated, reserved;
    bool written;
};

struct perfetto {
    FILE *f;
    const struct gt_scenario *scn;
    const struct gt_conf *conf;
    size_t config_index;
    struct last_values last[GT_SCENARIO_MAX_DEVICES];
    struct gt_export_result *res;
};

/* The process of device index d's comparison of every config, and the
 * one of config k on it (the numbering the header comment gives). */
static int compared_pid(size_t d)
{
    return 1 + 1000 * (int)d;
}

static int config_pid(size_t d, size_t k)
{
    return compared_pid(d) + 1 + (int)k;
}

/* Every event but the first is preceded by a comma: the array stays valid
 * JSON however many are written. */
static void begin_event(struct perfetto *p)
{
    fputs(p->res->entries++ ? ",\n" : "\n", p->f);
}

static void time_us(FILE *f, int64_t ts_ns)
{
    /* microseconds with the nanoseconds kept, without a float's rounding */
    int64_t us = ts_ns / 1000, ns = ts_ns % 1000;
    if (ns < 0) {
        us -= 1;
        ns += 1000;
    }
    fprintf(f, "%" PRId64 ".%03" PRId64, us, ns);
}

static void process_name(struct perfetto *p, int pid, int32_t device, const char *what)
{
    begin_event(p);
    fprintf(p->f, "{\"name\":\"process_name\",\"ph\":\"M\",\"pid\":%d,\"args\":{\"name\":", pid);
    char name[400];
    snprintf(name, sizeof name, "GPU %d: %s", (int)device, what);
    gt_report_json_string(p->f, name);
    fputs("}}", p->f);
}

static void counter(struct perfetto *p, int pid, const char *name, const char *label, int64_t ts_ns,
                    int64_t value)
{
    begin_event(p);
    fputs("{\"name\":", p->f);
    if (label != NULL) {
        char full[320];
        snprintf(full, sizeof full, "%s (%s)", name, label);
        gt_report_json_string(p->f, full);
    } else {
        gt_report_json_string(p->f, name);
    }
    fprintf(p->f, ",\"ph\":\"C\",\"pid\":%d,\"ts\":", pid);
    time_us(p->f, ts_ns);
    fprintf(p->f, ",\"args\":{\"bytes\":%" PRId64 "}}", value);
}

static void oom_instant(struct perfetto *p, int pid, const struct gt_inspect_event *ev)
{
    begin_event(p);
    fprintf(p->f, "{\"name\":\"out of memory\",\"ph\":\"i\",\"s\":\"p\",\"pid\":%d,\"ts\":", pid);
    time_us(p->f, ev->ts_ns);
    fprintf(p->f, ",\"args\":{\"requested_bytes\":%" PRIu64 ",\"event\":%" PRId64 "}}",
            ev->requested, ev->index);
}

static int on_event(void *ctx, struct gt_inspect *in, const struct gt_inspect_event *ev)
{
    struct perfetto *p = ctx;
    (void)in;
    /* inspect replays the scenario's devices only: found */
    size_t d = (size_t)(gt_scenario_find(p->scn, ev->device) - p->scn->devices);
    int compared = compared_pid(d), own = config_pid(d, p->config_index);
    const struct gt_sim_stats *st = gt_sim_get_stats(ev->sim);
    int64_t allocated = st->allocated_bytes[GT_SIM_ALL].current;
    int64_t reserved = st->reserved_bytes[GT_SIM_ALL].current;
    struct last_values *l = &p->last[d];
    if (!l->written || allocated != l->allocated)
        counter(p, own, "allocated", NULL, ev->ts_ns, allocated);
    if (!l->written || reserved != l->reserved) {
        counter(p, own, "reserved", NULL, ev->ts_ns, reserved);
        counter(p, compared, "reserved", p->conf->name, ev->ts_ns, reserved);
    }
    *l = (struct last_values){allocated, reserved, true};
    if (ev->result == GT_EOOM)
        oom_instant(p, own, ev);
    return ferror(p->f) ? GT_EIO : 0;
}

struct job {
    const char *trace;
    const struct gt_scenario *scn;
    const struct gt_conf *configs;
    size_t nconfigs;
    struct gt_export_result *res;
    char *detail;
    size_t detail_len;
};

static void name_processes(struct perfetto *p, const struct job *j)
{
    for (size_t d = 0; d < j->scn->ndevices; d++) {
        int32_t dev = j->scn->devices[d].device;
        process_name(p, compared_pid(d), dev, "reserved by config");
        for (size_t k = 0; k < j->nconfigs; k++)
            process_name(p, config_pid(d, k), dev, j->configs[k].name);
    }
}

static int write_json(FILE *f, void *ctx)
{
    const struct job *j = ctx;
    struct perfetto p = {.f = f, .scn = j->scn, .res = j->res};
    int rc = 0;
    fputs("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[", f);
    name_processes(&p, j);
    for (size_t k = 0; k < j->nconfigs && rc == 0; k++) {
        struct gt_inspect_options io = {.scenario = j->scn, .on_event = on_event, .ctx = &p};
        p.conf = &j->configs[k];
        p.config_index = k;
        memset(p.last, 0, sizeof p.last);
        rc = gt_inspect_run(j->trace, p.conf, &io, j->detail, j->detail_len);
    }
    fputs("\n]}\n", f);
    j->res->devices = j->scn->ndevices;
    return rc ? rc : ferror(f) ? GT_EIO : 0;
}

int gt_export_perfetto(const char *trace_path, const char *out_path,
                       const struct gt_scenario *scenario, const struct gt_conf *configs,
                       size_t nconfigs, struct gt_export_result *res, char *errbuf, size_t errlen)
{
    struct gt_export_result local;
    char detail[512] = "";
    if (res == NULL)
        res = &local;
    memset(res, 0, sizeof *res);
    errbuf[0] = '\0';
    if (nconfigs == 0 || nconfigs > GT_EXPORT_MAX_CONFIGS) {
        snprintf(errbuf, errlen, "%zu configs: a timeline compares 1 to %d", nconfigs,
                 GT_EXPORT_MAX_CONFIGS);
        return GT_EINVAL;
    }
    struct job j = {trace_path, scenario, configs, nconfigs, res, detail, sizeof detail};
    int rc = gt_files_write_output(out_path, &trace_path, 1, write_json, &j, errbuf, errlen);
    /* a failure of the trace or the replay is named by its detail */
    if (rc && detail[0] != '\0')
        snprintf(errbuf, errlen, "%s", detail);
    return rc;
}
