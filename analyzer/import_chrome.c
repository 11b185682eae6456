/* Chrome trace importer (import.h): the memory events of a PyTorch profiler
 * (Kineto) trace, plain JSON or gzipped.
 *
 * The file is read through zlib (gzread passes plain files through) in
 * chunks fed to json-c's incremental tokener, so neither the compressed nor
 * the decompressed text is ever held whole: only the json-c document is.
 * These traces are a few MB to a few hundred MB of mostly unrelated events
 * (python_function, kernels), so holding the text and the tree together
 * would double the peak for nothing.
 *
 * Only "[memory]" events of CUDA devices ("Device Type" 1) become trace
 * events; everything else in the file is someone else's business and is
 * skipped without checks. The selected events are checked completely before
 * the trace is created: a trace built from a guess about a bad event would
 * give wrong answers without saying so. */
#include "gputrace/files.h"
#include "gputrace/import.h"
#include "gputrace/err.h"
#include "gputrace/schema.h"
#include "gputrace/trace.h"

#include <errno.h>
#include <json-c/json.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "gputrace/banned.h"

#ifndef GT_VERSION
#define GT_VERSION "unknown"
#endif

/* Decompressed bytes handed to the tokener at a time. */
#define CHUNK (64 * 1024)
/* Kineto's documents nest about six levels deep (metadata); json-c's
 * default of 32 would do, a little more room costs nothing and a hostile
 * file still cannot exhaust the stack. */
#define MAX_DEPTH 64
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
 * first appearance, so duplicates in deviceProperties keep the first one. */
struct chrome_device {
    int32_t id;
    size_t order;
    const char *name; /* owned by the json-c document */
    uint64_t memory;
};

/* State of one import. events holds nevents selected events (capacity cap);
 * root owns every json_object the walk looks at. */
struct importer {
    const char *path;
    struct json_object *root;
    struct chrome_event *events;
    size_t nevents, cap;
    struct chrome_device *devices;
    size_t ndevices;
    struct gt_trace_writer *w;
    struct gt_import_summary *sum;
    char *errbuf;
    size_t errlen;
};

static void fail_msg(struct importer *im, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void fail_msg(struct importer *im, const char *fmt, ...)
{
    va_list ap;

    if (im->errbuf == NULL || im->errlen == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(im->errbuf, im->errlen, fmt, ap);
    va_end(ap);
}

static bool is_space(unsigned char ch)
{
    return ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r';
}

/* Maps a gzread failure to an error; n bytes of text had been read. */
static int gz_failure(struct importer *im, gzFile gz, size_t n)
{
    int zerr = Z_OK;
    const char *msg = gzerror(gz, &zerr);

    switch (zerr) {
    case Z_ERRNO:
        fail_msg(im, "cannot read '%s': %s", im->path, strerror(errno));
        return GT_EIO;
    case Z_MEM_ERROR:
        fail_msg(im, "out of memory");
        return GT_ENOMEM;
    case Z_BUF_ERROR:
        /* zlib's name for input that stops inside the compressed stream. */
        fail_msg(im, "the gzip stream ends early after %zu bytes of text (truncated file?)", n);
        return GT_ECORRUPT;
    default:
        fail_msg(im, "damaged gzip data after %zu bytes of text: %s", n,
                 msg != NULL ? msg : "unknown zlib error");
        return GT_ECORRUPT;
    }
}

/* Feeds len bytes at buf (starting at byte offset of the text) to the
 * tokener. Returns 1 when the document is complete (*root set, *used the
 * bytes of buf it took), 0 when it wants more, or a negative GT_E* code. */
static int feed(struct importer *im, struct json_tokener *tok, const char *buf, size_t len,
                size_t offset, struct json_object **root, size_t *used)
{
    enum json_tokener_error jerr;
    struct json_object *obj;

    if (len > INT32_MAX)
        return GT_EINVAL; /* never: callers pass at most CHUNK */
    obj = json_tokener_parse_ex(tok, buf, (int)len);
    jerr = json_tokener_get_error(tok);
    if (jerr == json_tokener_continue)
        return 0;
    if (jerr == json_tokener_success && obj == NULL) {
        /* json-c 0.16 has no error code of its own for a failed malloc. */
        fail_msg(im, "out of memory");
        return GT_ENOMEM;
    }
    if (jerr != json_tokener_success) {
        json_object_put(obj);
        fail_msg(im, "invalid JSON at byte %zu: %s", offset + json_tokener_get_parse_end(tok),
                 json_tokener_error_desc(jerr));
        return GT_ECORRUPT;
    }
    *root = obj;
    *used = json_tokener_get_parse_end(tok);
    return 1;
}

/* Reads the whole file into im->root. The first non-blank byte must open
 * an object: Kineto writes nothing else, and anything else is not ours to
 * guess at. Only blank space may follow the document. */
static int parse_file(struct importer *im)
{
    struct json_tokener *tok = NULL;
    char *buf = NULL;
    gzFile gz;
    size_t offset = 0; /* text bytes handed over before buf */
    bool started = false, done = false;
    int rc = GT_OK, n;

    errno = 0;
    gz = gzopen(im->path, "rb");
    if (gz == NULL) {
        int e = errno;
        if (e == 0) {
            fail_msg(im, "out of memory");
            return GT_ENOMEM;
        }
        fail_msg(im, "cannot open '%s': %s", im->path, strerror(e));
        return e == ENOENT ? GT_ENOENT : GT_EIO;
    }
    buf = malloc(CHUNK);
    tok = json_tokener_new_ex(MAX_DEPTH);
    if (buf == NULL || tok == NULL) {
        fail_msg(im, "out of memory");
        rc = GT_ENOMEM;
        goto out;
    }
    /* Strict JSON: comments, single quotes, trailing commas and other
     * leniencies are errors, not guesses about what the writer meant. */
    json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_ALLOW_TRAILING_CHARS |
                                    JSON_TOKENER_VALIDATE_UTF8);
    while (rc == GT_OK && (n = gzread(gz, buf, CHUNK)) != 0) {
        size_t len, skip = 0, used = 0;

        if (n < 0) {
            rc = gz_failure(im, gz, offset);
            break;
        }
        len = (size_t)n;
        if (!started) {
            /* A UTF-8 byte order mark is not JSON, but editors write it. */
            if (offset == 0 && len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
                skip = 3;
            while (skip < len && is_space((unsigned char)buf[skip]))
                skip++;
            if (skip < len) {
                started = true;
                if (buf[skip] != '{') {
                    fail_msg(im, "not a chrome trace: the file is not a JSON object");
                    rc = GT_EFOREIGN;
                    break;
                }
            }
        }
        if (started && !done) {
            rc = feed(im, tok, buf + skip, len - skip, offset + skip, &im->root, &used);
            if (rc == 1) {
                done = true;
                skip += used;
                rc = GT_OK;
            }
        } else {
            skip = done ? 0 : len;
        }
        if (rc == GT_OK && done) {
            for (; skip < len; skip++) {
                if (!is_space((unsigned char)buf[skip])) {
                    fail_msg(im, "unexpected data after the JSON document at byte %zu",
                             offset + skip);
                    rc = GT_ECORRUPT;
                    break;
                }
            }
        }
        offset += len;
    }
    /* gzread reports a gzip stream cut short as the end of the file; only
     * gzerror tells the difference. */
    if (rc == GT_OK) {
        int zerr = Z_OK;
        gzerror(gz, &zerr);
        if (zerr != Z_OK)
            rc = gz_failure(im, gz, offset);
    }
    if (rc == GT_OK && !started) {
        fail_msg(im, "not a chrome trace: the file is empty");
        rc = GT_EFOREIGN;
    } else if (rc == GT_OK && !done) {
        fail_msg(im, "the JSON ends early at byte %zu (truncated file?)", offset);
        rc = GT_ECORRUPT;
    }
out:
    json_tokener_free(tok);
    free(buf);
    gzclose(gz);
    return rc;
}

/* ------------------------------------------------------------ fields */

/* Looks up a field of a selected event. Returns 1 when present, 0 when
 * absent (an error unless optional), or GT_EINVAL. */
static int field(struct importer *im, size_t index, struct json_object *args, const char *key,
                 bool optional, struct json_object **out)
{
    if (!json_object_object_get_ex(args, key, out) || json_object_is_type(*out, json_type_null)) {
        if (optional)
            return 0;
        fail_msg(im, "event %zu: '%s' is missing", index, key);
        return GT_EINVAL;
    }
    return 1;
}

/* An integer field. json-c clamps integers beyond int64/uint64 to the limits,
 * so range checks on the result are what can be checked. */
static int int_field(struct importer *im, size_t index, struct json_object *args, const char *key,
                     bool optional, int64_t *out)
{
    struct json_object *v;
    int rc = field(im, index, args, key, optional, &v);

    if (rc <= 0)
        return rc;
    if (json_object_is_type(v, json_type_double)) {
        fail_msg(im, "event %zu: '%s' is not an integer", index, key);
        return GT_EINVAL;
    }
    if (!json_object_is_type(v, json_type_int)) {
        fail_msg(im, "event %zu: '%s' is not a number", index, key);
        return GT_EINVAL;
    }
    *out = json_object_get_int64(v);
    return 1;
}

/* A non-negative integer up to uint64 (addresses, stream handles). */
static int u64_field(struct importer *im, size_t index, struct json_object *args, const char *key,
                     bool optional, uint64_t *out)
{
    int64_t v = 0;
    int rc = int_field(im, index, args, key, optional, &v);
    struct json_object *o;

    if (rc <= 0)
        return rc;
    if (v < 0) {
        fail_msg(im, "event %zu: '%s' %lld is negative", index, key, (long long)v);
        return GT_EINVAL;
    }
    json_object_object_get_ex(args, key, &o);
    *out = json_object_get_uint64(o);
    return 1;
}

/* ts: microseconds, integer or not; kept as rounded nanoseconds. */
static int ts_field(struct importer *im, size_t index, struct json_object *ev, int64_t *out)
{
    struct json_object *v;
    double ts;
    int rc = field(im, index, ev, "ts", false, &v);

    if (rc <= 0)
        return rc;
    if (!json_object_is_type(v, json_type_int) && !json_object_is_type(v, json_type_double)) {
        fail_msg(im, "event %zu: 'ts' is not a number", index);
        return GT_EINVAL;
    }
    if (json_object_is_type(v, json_type_int)) {
        int64_t us = json_object_get_int64(v);
        if (us > (int64_t)TS_MAX_US || us < -(int64_t)TS_MAX_US) {
            fail_msg(im, "event %zu: 'ts' is out of range", index);
            return GT_EINVAL;
        }
        *out = us * 1000;
        return 1;
    }
    ts = json_object_get_double(v);
    if (!isfinite(ts) || fabs(ts) > TS_MAX_US) {
        fail_msg(im, "event %zu: 'ts' is out of range", index);
        return GT_EINVAL;
    }
    *out = llround(ts * 1000.0);
    return 1;
}

/* pid and tid are labels for people; a string one (Kineto names some
 * rows) is as good as none. */
static int64_t label(struct json_object *ev, const char *key)
{
    struct json_object *v;

    if (json_object_object_get_ex(ev, key, &v) && json_object_is_type(v, json_type_int))
        return json_object_get_int64(v);
    return 0;
}

/* True for a "[memory]" event of a CUDA device; *args gets its args. Any
 * other entry is skipped however it is shaped. */
static bool selected(struct json_object *ev, struct json_object **args)
{
    struct json_object *name, *type;

    if (!json_object_is_type(ev, json_type_object) ||
        !json_object_object_get_ex(ev, "name", &name) ||
        !json_object_is_type(name, json_type_string) || json_object_get_string_len(name) != 8 ||
        memcmp(json_object_get_string(name), "[memory]", 8) != 0)
        return false;
    if (!json_object_object_get_ex(ev, "args", args) ||
        !json_object_is_type(*args, json_type_object))
        return false;
    return json_object_object_get_ex(*args, "Device Type", &type) &&
           json_object_is_type(type, json_type_int) &&
           json_object_get_int64(type) == CHROME_DEVICE_CUDA;
}

/* Checks and keeps one selected event. */
static int take_event(struct importer *im, size_t index, struct json_object *ev,
                      struct json_object *args)
{
    struct chrome_event ce = {.index = index, .ev_idx = -1};
    int64_t device = 0;
    int has_alloc, has_reserved, rc;

    if ((rc = ts_field(im, index, ev, &ce.ts_ns)) < 0 ||
        (rc = int_field(im, index, args, "Device Id", false, &device)) < 0 ||
        (rc = u64_field(im, index, args, "Addr", false, &ce.addr)) < 0 ||
        (rc = int_field(im, index, args, "Bytes", false, &ce.bytes)) < 0 ||
        (rc = int_field(im, index, args, "Ev Idx", true, &ce.ev_idx)) < 0 ||
        (rc = u64_field(im, index, args, "Stream", true, &ce.stream)) < 0)
        return rc;
    if ((has_alloc = int_field(im, index, args, "Total Allocated", true, &ce.allocated)) < 0)
        return has_alloc;
    if ((has_reserved = int_field(im, index, args, "Total Reserved", true, &ce.reserved)) < 0)
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
    ce.pid = label(ev, "pid");
    ce.tid = label(ev, "tid");

    if (im->nevents == im->cap) {
        size_t cap = im->cap != 0 ? im->cap * 2 : 1024;
        struct chrome_event *grown = realloc(im->events, cap * sizeof *grown);
        if (grown == NULL) {
            fail_msg(im, "out of memory");
            return GT_ENOMEM;
        }
        im->events = grown;
        im->cap = cap;
    }
    im->events[im->nevents++] = ce;
    return GT_OK;
}

static int collect_events(struct importer *im, struct json_object *list)
{
    size_t n = json_object_array_length(list);
    struct json_object *args;
    int rc;

    im->sum->rows = (int64_t)n;
    for (size_t i = 0; i < n; i++) {
        struct json_object *ev = json_object_array_get_idx(list, i);
        if (!selected(ev, &args))
            continue;
        if ((rc = take_event(im, i, ev, args)) != GT_OK)
            return rc;
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
 * had) and every device with events, once each. deviceProperties is not
 * ours to police: an entry without a usable id is skipped, a missing name or
 * memory is left unknown. */
static int collect_devices(struct importer *im)
{
    struct json_object *props = NULL;
    size_t nprops = 0, n = 0, kept = 0;

    if (json_object_object_get_ex(im->root, "deviceProperties", &props) &&
        json_object_is_type(props, json_type_array))
        nprops = json_object_array_length(props);
    if (nprops > SIZE_MAX / sizeof *im->devices - im->nevents - 1) {
        fail_msg(im, "out of memory");
        return GT_ENOMEM;
    }
    im->devices = malloc((nprops + im->nevents + 1) * sizeof *im->devices);
    if (im->devices == NULL) {
        fail_msg(im, "out of memory");
        return GT_ENOMEM;
    }
    for (size_t i = 0; i < nprops; i++) {
        struct json_object *p = json_object_array_get_idx(props, i), *v;
        struct chrome_device d = {.order = n, .name = ""};
        int64_t id;

        if (!json_object_is_type(p, json_type_object) || !json_object_object_get_ex(p, "id", &v) ||
            !json_object_is_type(v, json_type_int))
            continue;
        id = json_object_get_int64(v);
        if (id < 0 || id > INT32_MAX)
            continue;
        d.id = (int32_t)id;
        if (json_object_object_get_ex(p, "name", &v) && json_object_is_type(v, json_type_string))
            d.name = json_object_get_string(v);
        if (json_object_object_get_ex(p, "totalGlobalMem", &v) &&
            json_object_is_type(v, json_type_int) && json_object_get_int64(v) > 0)
            d.memory = json_object_get_uint64(v);
        im->devices[n++] = d;
    }
    for (size_t i = 0; i < im->nevents; i++, n++)
        im->devices[n] = (struct chrome_device){.id = im->events[i].device, .order = n, .name = ""};
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
        const char *name = opts != NULL && opts->device_name != NULL ? opts->device_name : d->name;
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
    struct json_object *base;
    time_t secs = time(NULL);
    struct tm tm;

    if (im->nevents > 0 && json_object_object_get_ex(im->root, "baseTimeNanoseconds", &base) &&
        json_object_is_type(base, json_type_int)) {
        int64_t b = json_object_get_int64(base), first = im->events[0].ts_ns;
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
    struct json_object *list;
    int rc, close_rc;

    im.sum = sum != NULL ? sum : &local;
    memset(im.sum, 0, sizeof *im.sum);
    im.errbuf = errbuf;
    im.errlen = errlen;
    if (errbuf != NULL && errlen > 0)
        errbuf[0] = '\0';
    if (json_path == NULL || trace_path == NULL) {
        fail_msg(&im, "no path given");
        return GT_EINVAL;
    }
    im.path = json_path;

    char why[128];
    rc = gt_files_check_input(json_path, why, sizeof why);
    if (rc != GT_OK)
        fail_msg(&im, "cannot read '%s': %s", json_path, why);
    if (rc == GT_OK)
        rc = parse_file(&im);
    if (rc == GT_OK && (!json_object_object_get_ex(im.root, "traceEvents", &list) ||
                        !json_object_is_type(list, json_type_array))) {
        fail_msg(&im, "not a chrome trace: no 'traceEvents' list");
        rc = GT_EFOREIGN;
    }
    if (rc == GT_OK)
        rc = collect_events(&im, list);
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

    if (im.w != NULL) {
        close_rc = gt_trace_writer_close(im.w);
        if (rc == GT_OK && close_rc != GT_OK) {
            fail_msg(&im, "cannot write '%s': %s", trace_path, gt_strerror(close_rc));
            rc = close_rc;
        }
        /* The trace was created by this call, so removing it on failure
         * never touches anything that was there before. */
        if (rc != GT_OK)
            unlink(trace_path);
    }
    free(im.devices);
    free(im.events);
    json_object_put(im.root);
    return rc;
}
