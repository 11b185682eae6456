/* Chrome trace importer (import.h): the memory events of a PyTorch profiler
 * (Kineto) trace, plain JSON or gzipped.
 *
 * The text is streamed (gzfile.h) through a strict pull reader
 * (jsonread.h) and never held: these traces are a few MB to a few hundred
 * MB of mostly unrelated events (python_function, kernels), and a small
 * .json.gz can hold gigabytes of text. Memory is bounded by the selected
 * events, not by the document or its largest entry: each event is walked
 * key by key and only the fields used here are kept.
 *
 * Only "[memory]" events of CUDA devices ("Device Type" 1) become trace
 * events; everything else in the file is someone else's business and is
 * skipped after the grammar check. The selected events are checked
 * completely before the trace is created: a trace built from a guess about
 * a bad event would give wrong answers without saying so. Where a key is
 * repeated, the last one counts, as in Python's json module. */
#include "gputrace/files.h"
#include "gputrace/array.h"
#include "gputrace/import.h"
#include "gputrace/err.h"
#include "gputrace/gzfile.h"
#include "gputrace/jsonread.h"
#include "gputrace/schema.h"
#include "gputrace/trace.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "import_int.h"

#include "gputrace/banned.h"

#ifndef GT_VERSION
#define GT_VERSION "unknown"
#endif

/* Kineto's device type for CUDA in [memory] events (c10::DeviceType::CUDA). */
#define CHROME_DEVICE_CUDA 1
/* ts is in microseconds; beyond this |ts| the nanoseconds, and differences
 * between two of them, would not fit an int64 (about 146 years). */
#define TS_MAX_US 4.6e15

/* One selected [memory] event, everything checked. index is the position in
 * traceEvents: the last sort key, so the order is the file's for equal
 * (ts, Ev Idx), and the number error messages use. ev_idx is -1 when the
 * event has no "Ev Idx" (profilers before it existed). */
struct chrome_event {
    int64_t ts_ns; /* absolute, rebased after sorting */
    int64_t ev_idx;
    size_t index;
    int64_t pid, tid;
    int32_t device;
    int64_t bytes;
    uint64_t addr;
    uint64_t stream;
    bool has_totals;
    int64_t allocated, reserved;
};

/* One row for the devices table, before overrides. order is the position of
 * first appearance, so duplicates in deviceProperties keep the first one.
 * name is owned (NULL when unknown). */
struct chrome_device {
    int32_t id;
    size_t order;
    char *name;
    uint64_t memory;
};

/* A scalar as the reader saw it: absent, null, a number, or anything else
 * (a string, a bool, a container). */
enum field_kind { FIELD_ABSENT, FIELD_NULL, FIELD_NUMBER, FIELD_OTHER };

struct field {
    enum field_kind kind;
    struct gt_json_number num;
};

/* The args of a [memory] event that are used here. */
enum arg {
    ARG_DEVICE_TYPE,
    ARG_DEVICE_ID,
    ARG_ADDR,
    ARG_BYTES,
    ARG_EV_IDX,
    ARG_STREAM,
    ARG_TOTAL_ALLOCATED,
    ARG_TOTAL_RESERVED,
    NARGS
};

static const char *const arg_names[NARGS] = {
    "Device Type", "Device Id",       "Addr",           "Bytes", "Ev Idx",
    "Stream",      "Total Allocated", "Total Reserved",
};

/* One entry of traceEvents, walked: what selection and the checks need. */
struct raw_event {
    bool memory_name; /* "name" is exactly "[memory]" */
    bool args_object; /* "args" is an object */
    struct field ts, pid, tid;
    struct field args[NARGS];
};

/* State of one import. events holds nevents selected events (capacity
 * cap), props the nprops devices of deviceProperties. */
struct importer {
    const char *path;
    struct gt_gzfile *file;
    struct gt_json_reader *json;
    bool have_list;
    struct field base_time;
    struct chrome_event *events;
    size_t nevents, cap;
    struct chrome_device *props;
    size_t nprops, props_cap;
    struct chrome_device *devices;
    size_t ndevices;
    struct gt_trace_writer *w;
    struct gt_import_summary *sum;
    char *errbuf;
    size_t errlen;
};

#define fail_msg(im, ...) (void)gt_errf((im)->errbuf, (im)->errlen, 0, __VA_ARGS__)

/* ------------------------------------------------------------ reading */

static int fill(void *ctx, char *buf, size_t cap, size_t *got)
{
    return gt_gzfile_read(ctx, buf, cap, got);
}

/* The message of a reader error: the reader's own, or the file's when the
 * error came from reading it. */
static int read_failure(struct importer *im, int rc)
{
    const char *msg = gt_json_errmsg(im->json);

    if (msg[0] == '\0')
        msg = gt_gzfile_errmsg(im->file);
    if (msg[0] == '\0')
        msg = gt_strerror(rc);
    fail_msg(im, "%s", msg);
    return rc;
}

static int next(struct importer *im, enum gt_json_token *tok)
{
    int rc = gt_json_next(im->json, tok);

    return rc == GT_OK ? GT_OK : read_failure(im, rc);
}

static int skip(struct importer *im, enum gt_json_token tok)
{
    int rc = gt_json_skip(im->json, tok);

    return rc == GT_OK ? GT_OK : read_failure(im, rc);
}

/* Reads the value after a key as a scalar field. */
static int read_field(struct importer *im, struct field *f)
{
    enum gt_json_token tok;
    int rc = next(im, &tok);

    if (rc != GT_OK)
        return rc;
    memset(f, 0, sizeof *f);
    if (tok == GT_JSON_NUMBER) {
        f->kind = FIELD_NUMBER;
        gt_json_number(im->json, &f->num);
    } else {
        f->kind = tok == GT_JSON_NULL ? FIELD_NULL : FIELD_OTHER;
    }
    return skip(im, tok);
}

/* The members of an object whose '{' was just read, one key at a time:
 * each goes to member(), which must read its value. */
static int walk_object(struct importer *im, int (*member)(struct importer *, void *), void *arg)
{
    enum gt_json_token tok;
    int rc;

    while ((rc = next(im, &tok)) == GT_OK && tok == GT_JSON_KEY)
        if ((rc = member(im, arg)) != GT_OK)
            return rc;
    return rc;
}

static int skip_value(struct importer *im)
{
    enum gt_json_token tok;
    int rc = next(im, &tok);

    return rc == GT_OK ? skip(im, tok) : rc;
}

static int args_member(struct importer *im, void *arg)
{
    struct raw_event *ev = arg;

    for (int i = 0; i < NARGS; i++)
        if (gt_json_text_is(im->json, arg_names[i]))
            return read_field(im, &ev->args[i]);
    return skip_value(im);
}

static int event_member(struct importer *im, void *arg)
{
    struct raw_event *ev = arg;
    enum gt_json_token tok;
    int rc;

    if (gt_json_text_is(im->json, "ts"))
        return read_field(im, &ev->ts);
    if (gt_json_text_is(im->json, "pid"))
        return read_field(im, &ev->pid);
    if (gt_json_text_is(im->json, "tid"))
        return read_field(im, &ev->tid);
    if (gt_json_text_is(im->json, "name")) {
        if ((rc = next(im, &tok)) != GT_OK)
            return rc;
        ev->memory_name = tok == GT_JSON_STRING && gt_json_text_is(im->json, "[memory]");
        return skip(im, tok);
    }
    if (gt_json_text_is(im->json, "args")) {
        if ((rc = next(im, &tok)) != GT_OK)
            return rc;
        memset(ev->args, 0, sizeof ev->args);
        ev->args_object = tok == GT_JSON_OBJECT;
        return ev->args_object ? walk_object(im, args_member, ev) : skip(im, tok);
    }
    return skip_value(im);
}

/* ------------------------------------------------------------ fields */

/* A field of a selected event. Returns 1 when present, 0 when absent (an
 * error unless optional), or GT_EINVAL. */
static int present(struct importer *im, size_t index, const struct field *f, const char *key,
                   bool optional)
{
    if (f->kind == FIELD_ABSENT || f->kind == FIELD_NULL) {
        if (optional)
            return 0;
        fail_msg(im, "event %zu: '%s' is missing", index, key);
        return GT_EINVAL;
    }
    if (f->kind != FIELD_NUMBER) {
        fail_msg(im, "event %zu: '%s' is not a number", index, key);
        return GT_EINVAL;
    }
    return 1;
}

/* present, and an integer (of any size): 1, 0 or GT_EINVAL as present. */
static int present_integer(struct importer *im, size_t index, const struct field *f,
                           const char *key, bool optional)
{
    int rc = present(im, index, f, key, optional);

    if (rc > 0 && f->num.kind == GT_JSON_REAL) {
        fail_msg(im, "event %zu: '%s' is not an integer", index, key);
        return GT_EINVAL;
    }
    return rc;
}

/* An integer field that fits int64; never clamped. */
static int int_field(struct importer *im, size_t index, const struct field *f, const char *key,
                     bool optional, int64_t *out)
{
    int rc = present_integer(im, index, f, key, optional);

    if (rc <= 0)
        return rc;
    if (f->num.kind != GT_JSON_INT) {
        fail_msg(im, "event %zu: '%s' is out of range", index, key);
        return GT_EINVAL;
    }
    *out = f->num.i;
    return 1;
}

/* A non-negative integer up to uint64 (addresses, stream handles). */
static int u64_field(struct importer *im, size_t index, const struct field *f, const char *key,
                     bool optional, uint64_t *out)
{
    int rc = present_integer(im, index, f, key, optional);

    if (rc <= 0)
        return rc;
    if (f->num.kind == GT_JSON_INT && f->num.i < 0) {
        fail_msg(im, "event %zu: '%s' %lld is negative", index, key, (long long)f->num.i);
        return GT_EINVAL;
    }
    if (f->num.kind == GT_JSON_BIG) {
        fail_msg(im, "event %zu: '%s' is out of range", index, key);
        return GT_EINVAL;
    }
    *out = f->num.u;
    return 1;
}

/* ts: microseconds, integer or not; kept as rounded nanoseconds. */
static int ts_field(struct importer *im, size_t index, const struct field *f, int64_t *out)
{
    int rc = present(im, index, f, "ts", false);
    double ts = f->num.d;

    if (rc <= 0)
        return rc;
    if (f->num.kind == GT_JSON_INT) {
        if (f->num.i > (int64_t)TS_MAX_US || f->num.i < -(int64_t)TS_MAX_US) {
            fail_msg(im, "event %zu: 'ts' is out of range", index);
            return GT_EINVAL;
        }
        *out = f->num.i * 1000;
        return 1;
    }
    if (f->num.kind != GT_JSON_REAL || !isfinite(ts) || fabs(ts) > TS_MAX_US) {
        fail_msg(im, "event %zu: 'ts' is out of range", index);
        return GT_EINVAL;
    }
    *out = llround(ts * 1000.0);
    return 1;
}

/* pid and tid are labels for people; a string one (Kineto names some
 * rows) is as good as none. */
static int64_t label(const struct field *f)
{
    return f->kind == FIELD_NUMBER && f->num.kind == GT_JSON_INT ? f->num.i : 0;
}

/* True for a "[memory]" event of a CUDA device. Any other entry is skipped
 * however it is shaped. */
static bool selected(const struct raw_event *ev)
{
    const struct field *type = &ev->args[ARG_DEVICE_TYPE];

    return ev->memory_name && ev->args_object && type->kind == FIELD_NUMBER &&
           type->num.kind == GT_JSON_INT && type->num.i == CHROME_DEVICE_CUDA;
}

static int keep_event(struct importer *im, const struct chrome_event *ce)
{
    struct chrome_event *grown = gt_array_grow(im->events, &im->cap, im->nevents, sizeof *grown);
    if (grown == NULL) {
        fail_msg(im, "out of memory");
        return GT_ENOMEM;
    }
    im->events = grown;
    im->events[im->nevents++] = *ce;
    return GT_OK;
}

/* Checks and keeps one selected event. */
static int take_event(struct importer *im, size_t index, const struct raw_event *ev)
{
    const struct field *a = ev->args;
    struct chrome_event ce = {.index = index, .ev_idx = -1};
    int64_t device = 0;
    int has_alloc, has_reserved, rc;

    if ((rc = ts_field(im, index, &ev->ts, &ce.ts_ns)) < 0 ||
        (rc = int_field(im, index, &a[ARG_DEVICE_ID], "Device Id", false, &device)) < 0 ||
        (rc = u64_field(im, index, &a[ARG_ADDR], "Addr", false, &ce.addr)) < 0 ||
        (rc = int_field(im, index, &a[ARG_BYTES], "Bytes", false, &ce.bytes)) < 0 ||
        (rc = int_field(im, index, &a[ARG_EV_IDX], "Ev Idx", true, &ce.ev_idx)) < 0 ||
        (rc = u64_field(im, index, &a[ARG_STREAM], "Stream", true, &ce.stream)) < 0)
        return rc;
    has_alloc =
        int_field(im, index, &a[ARG_TOTAL_ALLOCATED], "Total Allocated", true, &ce.allocated);
    if (has_alloc < 0)
        return has_alloc;
    has_reserved =
        int_field(im, index, &a[ARG_TOTAL_RESERVED], "Total Reserved", true, &ce.reserved);
    if (has_reserved < 0)
        return has_reserved;
    if (has_alloc != has_reserved) {
        fail_msg(im, "event %zu: '%s' is missing (the event has '%s')", index,
                 has_alloc ? "Total Reserved" : "Total Allocated",
                 has_alloc ? "Total Allocated" : "Total Reserved");
        return GT_EINVAL;
    }
    if (device < 0 || device > INT32_MAX) {
        fail_msg(im, "event %zu: 'Device Id' %lld is out of range", index, (long long)device);
        return GT_EINVAL;
    }
    if (ce.bytes == 0) {
        fail_msg(im, "event %zu: 'Bytes' is 0, neither an allocation nor a free", index);
        return GT_EINVAL;
    }
    ce.device = (int32_t)device;
    ce.has_totals = has_alloc == 1;
    ce.pid = label(&ev->pid);
    ce.tid = label(&ev->tid);
    return keep_event(im, &ce);
}

/* traceEvents: every entry is walked, the selected ones kept. A repeated
 * traceEvents replaces the one before. */
static int read_events(struct importer *im)
{
    enum gt_json_token tok;
    size_t index = 0;
    int rc = next(im, &tok);

    im->nevents = 0;
    im->sum->rows = 0;
    im->have_list = rc == GT_OK && tok == GT_JSON_ARRAY;
    if (rc != GT_OK || !im->have_list)
        return rc == GT_OK ? skip(im, tok) : rc;
    while ((rc = next(im, &tok)) == GT_OK && tok != GT_JSON_ARRAY_END) {
        struct raw_event ev = {0};
        if (tok != GT_JSON_OBJECT)
            rc = skip(im, tok);
        else if ((rc = walk_object(im, event_member, &ev)) == GT_OK && selected(&ev))
            rc = take_event(im, index, &ev);
        if (rc != GT_OK)
            return rc;
        index++;
    }
    im->sum->rows = (int64_t)index;
    return rc;
}

/* ------------------------------------------------------------ devices */

static void free_props(struct importer *im)
{
    for (size_t i = 0; i < im->nprops; i++)
        free(im->props[i].name);
    im->nprops = 0;
}

/* A device name: kept when whole and free of NULs, otherwise unknown. */
static int read_name(struct importer *im, char **name)
{
    enum gt_json_token tok;
    const char *text;
    size_t len;
    bool whole;
    int rc = next(im, &tok);

    if (rc != GT_OK || tok != GT_JSON_STRING)
        return rc == GT_OK ? skip(im, tok) : rc;
    text = gt_json_text(im->json, &len, &whole);
    free(*name);
    *name = NULL;
    if (!whole || memchr(text, '\0', len) != NULL)
        return GT_OK;
    if ((*name = malloc(len + 1)) == NULL) {
        fail_msg(im, "out of memory");
        return GT_ENOMEM;
    }
    memcpy(*name, text, len);
    (*name)[len] = '\0';
    return GT_OK;
}

/* The fields of one deviceProperties entry. */
struct raw_device {
    struct field id, memory;
    char *name;
};

static int device_member(struct importer *im, void *arg)
{
    struct raw_device *d = arg;

    if (gt_json_text_is(im->json, "id"))
        return read_field(im, &d->id);
    if (gt_json_text_is(im->json, "totalGlobalMem"))
        return read_field(im, &d->memory);
    if (gt_json_text_is(im->json, "name"))
        return read_name(im, &d->name);
    return skip_value(im);
}

/* Keeps one entry of deviceProperties. Not ours to police: an entry
 * without a usable id is skipped, a missing name or memory is left
 * unknown. Takes d->name. */
static int keep_device(struct importer *im, struct raw_device *d)
{
    struct chrome_device cd = {.order = im->nprops, .name = d->name};

    d->name = NULL;
    if (d->id.kind != FIELD_NUMBER || d->id.num.kind != GT_JSON_INT || d->id.num.i < 0 ||
        d->id.num.i > INT32_MAX) {
        free(cd.name);
        return GT_OK;
    }
    cd.id = (int32_t)d->id.num.i;
    if (d->memory.kind == FIELD_NUMBER && d->memory.num.kind != GT_JSON_REAL &&
        d->memory.num.kind != GT_JSON_BIG && d->memory.num.u > 0)
        cd.memory = d->memory.num.u;
    struct chrome_device *grown =
        gt_array_grow(im->props, &im->props_cap, im->nprops, sizeof *grown);
    if (grown == NULL) {
        free(cd.name);
        fail_msg(im, "out of memory");
        return GT_ENOMEM;
    }
    im->props = grown;
    im->props[im->nprops++] = cd;
    return GT_OK;
}

/* deviceProperties: what the run had. A repeated one replaces the one
 * before. */
static int read_props(struct importer *im)
{
    enum gt_json_token tok;
    int rc = next(im, &tok);

    free_props(im);
    if (rc != GT_OK || tok != GT_JSON_ARRAY)
        return rc == GT_OK ? skip(im, tok) : rc;
    while ((rc = next(im, &tok)) == GT_OK && tok != GT_JSON_ARRAY_END) {
        struct raw_device d = {0};
        if (tok != GT_JSON_OBJECT)
            rc = skip(im, tok);
        else if ((rc = walk_object(im, device_member, &d)) == GT_OK)
            rc = keep_device(im, &d);
        free(d.name);
        if (rc != GT_OK)
            return rc;
    }
    return rc;
}

static int document_member(struct importer *im, void *arg)
{
    (void)arg;
    if (gt_json_text_is(im->json, "traceEvents"))
        return read_events(im);
    if (gt_json_text_is(im->json, "deviceProperties"))
        return read_props(im);
    if (gt_json_text_is(im->json, "baseTimeNanoseconds"))
        return read_field(im, &im->base_time);
    return skip_value(im);
}

/* Reads the whole file. The first non-blank byte must open an object:
 * Kineto writes nothing else, and anything else is not ours to guess at.
 * Only blank space may follow the document. */
static int read_document(struct importer *im)
{
    enum gt_json_token tok;
    int first, rc;

    rc = gt_gzfile_open(im->path, &im->file, im->errbuf, im->errlen);
    if (rc == GT_OK && (rc = gt_json_reader_new(fill, im->file, &im->json)) != GT_OK)
        fail_msg(im, "out of memory");
    if (rc != GT_OK)
        return rc;
    if ((rc = gt_json_first(im->json, &first)) != GT_OK)
        return read_failure(im, rc);
    if (first < 0) {
        fail_msg(im, "not a chrome trace: the file is empty");
        return GT_EFOREIGN;
    }
    if (first != '{') {
        fail_msg(im, "not a chrome trace: the file is not a JSON object");
        return GT_EFOREIGN;
    }
    if ((rc = next(im, &tok)) != GT_OK || (rc = walk_object(im, document_member, NULL)) != GT_OK ||
        (rc = next(im, &tok)) != GT_OK)
        return rc;
    if (!im->have_list) {
        fail_msg(im, "not a chrome trace: no 'traceEvents' list");
        return GT_EFOREIGN;
    }
    return GT_OK;
}

/* (ts, Ev Idx, file position): Ev Idx orders events of the same
 * microsecond, which two threads can emit out of file order. index makes the
 * key unique, so qsort's result is the stable one. */
static int compare_events(const void *pa, const void *pb)
{
    const struct chrome_event *a = pa, *b = pb;

    if (a->ts_ns != b->ts_ns)
        return a->ts_ns < b->ts_ns ? -1 : 1;
    if (a->ev_idx != b->ev_idx)
        return a->ev_idx < b->ev_idx ? -1 : 1;
    return (a->index > b->index) - (a->index < b->index);
}

/* ------------------------------------------------------------ devices */

static int compare_devices(const void *pa, const void *pb)
{
    const struct chrome_device *a = pa, *b = pb;

    if (a->id != b->id)
        return a->id < b->id ? -1 : 1;
    return (a->order > b->order) - (a->order < b->order);
}

/* The devices of the trace: every entry of deviceProperties (what the run
 * had) and every device with events, once each; the first entry for an id
 * wins. Names are borrowed from im->props. */
static int collect_devices(struct importer *im)
{
    size_t n = 0, kept = 0;

    if (im->nprops > SIZE_MAX / sizeof *im->devices - im->nevents - 1) {
        fail_msg(im, "out of memory");
        return GT_ENOMEM;
    }
    im->devices = malloc((im->nprops + im->nevents + 1) * sizeof *im->devices);
    if (im->devices == NULL) {
        fail_msg(im, "out of memory");
        return GT_ENOMEM;
    }
    for (size_t i = 0; i < im->nprops; i++, n++)
        im->devices[n] = im->props[i];
    for (size_t i = 0; i < im->nevents; i++, n++)
        im->devices[n] = (struct chrome_device){.id = im->events[i].device, .order = n};
    if (n > 1)
        qsort(im->devices, n, sizeof *im->devices, compare_devices);
    for (size_t i = 0; i < n; i++)
        if (kept == 0 || im->devices[kept - 1].id != im->devices[i].id)
            im->devices[kept++] = im->devices[i];
    im->ndevices = kept;
    return GT_OK;
}

/* One row per device whose name or memory is known; the user's options
 * override what the file says (the same card for every device, as for CSV). */
static int write_devices(struct importer *im, const struct gt_import_options *opts)
{
    int rc = GT_OK;

    for (size_t i = 0; i < im->ndevices && rc == GT_OK; i++) {
        const struct chrome_device *d = &im->devices[i];
        const char *name = opts != NULL && opts->device_name != NULL ? opts->device_name
                           : d->name != NULL                         ? d->name
                                                                     : "";
        uint64_t memory =
            opts != NULL && opts->device_memory != 0 ? opts->device_memory : d->memory;

        if (name[0] != '\0' || memory != 0)
            rc = gt_trace_add_device(im->w, d->id, name, memory);
    }
    if (rc != GT_OK)
        fail_msg(im, "cannot write the trace: %s", gt_trace_writer_errmsg(im->w));
    return rc;
}

/* ------------------------------------------------------------ writing */

/* start_time: when the first selected event happened if the trace says
 * (Kineto's ts counts microseconds from baseTimeNanoseconds), otherwise the
 * time of the import, as for CSV. */
static void start_time(struct importer *im, char *when, size_t len)
{
    const struct field *base = &im->base_time;
    time_t secs = time(NULL);
    struct tm tm;

    if (im->nevents > 0 && base->kind == FIELD_NUMBER && base->num.kind == GT_JSON_INT) {
        int64_t b = base->num.i, first = im->events[0].ts_ns;
        /* Both are bounded well inside int64 only if they are sane. */
        if (b >= 0 && b < INT64_MAX / 2 && first > -b && first < INT64_MAX / 2)
            secs = (time_t)((b + first) / 1000000000);
    }
    when[0] = '\0';
    if (gmtime_r(&secs, &tm) != NULL)
        strftime(when, len, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int write_meta(struct importer *im, const struct gt_import_options *opts)
{
    char when[32];
    size_t len = strlen(im->path) + sizeof "chrome:";
    char *source = malloc(len);
    int rc;

    if (source == NULL) {
        fail_msg(im, "out of memory");
        return GT_ENOMEM;
    }
    snprintf(source, len, "chrome:%s", im->path);
    start_time(im, when, sizeof when);
    rc = gt_trace_set_meta(im->w, "tool_version", GT_VERSION);
    if (rc == GT_OK)
        rc = gt_trace_set_meta(im->w, "source", source);
    if (rc == GT_OK)
        rc = gt_trace_set_meta(im->w, "recording_mode", GT_SCHEMA_MODE_IMPORTED);
    if (rc == GT_OK)
        rc = gt_trace_set_meta(im->w, "start_time", when);
    if (rc == GT_OK)
        rc = gt_trace_set_meta(im->w, "command_line", "");
    /* Kineto traces do not record PYTORCH_CUDA_ALLOC_CONF; only the user can. */
    if (rc == GT_OK && opts != NULL && opts->alloc_conf != NULL)
        rc = gt_trace_set_meta(im->w, "alloc_conf", opts->alloc_conf);
    free(source);
    if (rc != GT_OK)
        fail_msg(im, "cannot write the trace: %s", gt_trace_writer_errmsg(im->w));
    return rc;
}

/* Bytes is the block the allocator handed out (already rounded), so it is
 * both the size and, lacking anything better, the request. */
static int write_events(struct importer *im)
{
    int64_t first = im->nevents > 0 ? im->events[0].ts_ns : 0;
    int rc;

    for (size_t i = 0; i < im->nevents; i++) {
        const struct chrome_event *ce = &im->events[i];
        struct gt_event ev = {0};

        ev.ts_ns = ce->ts_ns - first;
        ev.pid = ce->pid;
        ev.tid = ce->tid;
        ev.device = ce->device;
        ev.stream = ce->stream;
        ev.addr = ce->addr;
        if (ce->bytes > 0) {
            ev.kind = GT_EV_ALLOC;
            ev.size = ev.requested = (uint64_t)ce->bytes;
        } else {
            ev.kind = GT_EV_FREE;
            ev.size = (uint64_t)0 - (uint64_t)ce->bytes; /* no overflow at INT64_MIN */
        }
        rc = gt_trace_append(im->w, &ev);
        if (rc == GT_OK && ce->has_totals)
            rc = gt_trace_add_totals(im->w, gt_trace_last_seq(im->w), ce->allocated, ce->reserved);
        if (rc != GT_OK) {
            fail_msg(im, "event %zu: cannot write the trace: %s", ce->index,
                     gt_trace_writer_errmsg(im->w));
            return rc;
        }
        im->sum->events++;
        im->sum->by_kind[ev.kind]++;
    }
    return GT_OK;
}

int gt_import_chrome(const char *json_path, const char *trace_path,
                     const struct gt_import_options *opts, struct gt_import_summary *sum,
                     char *errbuf, size_t errlen)
{
    struct gt_import_summary local;
    struct importer im = {0};
    int rc;

    im.sum = gt_import_start(sum, &local, errbuf, errlen);
    im.errbuf = errbuf;
    im.errlen = errlen;
    if (json_path == NULL || trace_path == NULL) {
        fail_msg(&im, "no path given");
        return GT_EINVAL;
    }
    im.path = json_path;

    rc = read_document(&im);
    gt_json_reader_free(im.json);
    gt_gzfile_close(im.file);
    if (rc == GT_OK && im.nevents == 0) {
        /* Kineto writes [memory] events only when asked to: a trace without
         * them has nothing to replay, and an empty trace would only say so
         * later and less clearly. */
        fail_msg(&im, "no CUDA [memory] events: the profile was recorded without "
                      "profile_memory=True (torch.profiler.profile(..., profile_memory=True))");
        rc = GT_EINVAL;
    }
    if (rc == GT_OK) {
        if (im.nevents > 1) /* qsort's base must not be NULL, even for 0 */
            qsort(im.events, im.nevents, sizeof *im.events, compare_events);
        rc = collect_devices(&im);
    }
    /* Everything is checked; only now does the trace come to exist. */
    if (rc == GT_OK)
        rc = gt_trace_create(trace_path, &im.w, errbuf, errlen);
    if (rc == GT_OK)
        rc = write_meta(&im, opts);
    if (rc == GT_OK)
        rc = write_events(&im);
    if (rc == GT_OK)
        rc = write_devices(&im, opts);

    rc = gt_import_finish(im.w, trace_path, rc, errbuf, errlen);
    free(im.devices);
    free_props(&im);
    free(im.props);
    free(im.events);
    return rc;
}
