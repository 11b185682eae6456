/* CSV importer (import.h): the interchange format
 * "ts_ns,action,addr,size,stream,device", one event per row.
 *
 * The file is streamed with getline, so memory does not grow with the number
 * of rows. Every row is checked completely before it is written, and any row
 * that cannot be read stops the import with its line number: a trace built
 * from a guess about a bad row would give wrong answers without saying so.
 * On any failure the half-written trace is removed. */
#include "gputrace/files.h"
#include "gputrace/import.h"
#include "gputrace/err.h"
#include "gputrace/schema.h"
#include "gputrace/text.h"
#include "gputrace/trace.h"
#include "gputrace/units.h"

#include <errno.h>
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

#define CSV_FIELDS 6
/* Far longer than any valid row (six numbers and a short name); a longer
 * line is not this format, and quoting all of it would not help anyone. */
#define MAX_LINE 4096
#define QUOTE_MAX 40
#define UTF8_BOM "\xef\xbb\xbf"

/* State of one import; line is the 1-based number of the line being read. */
/* Devices the CSV names, in order of first appearance (bounded: a CSV of
 * more devices than this gets device rows for the first ones only). */
#define IMPORT_MAX_DEVICES 64

struct importer {
    const char *csv_path;
    int32_t devices[IMPORT_MAX_DEVICES];
    size_t ndevices;
    FILE *in;
    struct gt_trace_writer *w;
    struct gt_import_summary *sum;
    char *line;
    size_t line_cap;
    int64_t line_no;
    char *errbuf;
    size_t errlen;
};

#define fail_msg(im, ...) (void)gt_errf((im)->errbuf, (im)->errlen, 0, __VA_ARGS__)

/* Copies at most QUOTE_MAX bytes of text for an error message, with control
 * characters replaced: the text comes from the file and ends up on a
 * terminal. */
static const char *quote(const char *text, char *buf, size_t len)
{
    size_t i = 0, out = 0;

    for (; text[i] != '\0' && i < QUOTE_MAX && out + 1 < len; i++)
        buf[out++] = gt_text_shown((unsigned char)text[i]);
    if (text[i] != '\0' && out + 4 < len) {
        memcpy(buf + out, "...", 3);
        out += 3;
    }
    buf[out] = '\0';
    return buf;
}

static int hex_value(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Hex digits after "0x"; units.h parses decimal only, and addresses and
 * stream handles are often printed in hex. Same contract as
 * gt_units_parse_u64: GT_EINVAL for junk, GT_ERANGE past UINT64_MAX. */
static int parse_hex(const char *digits, uint64_t *out)
{
    uint64_t v = 0;
    bool over = false;

    if (*digits == '\0')
        return GT_EINVAL;
    for (const char *p = digits; *p != '\0'; p++) {
        int d = hex_value(*p);
        if (d < 0)
            return GT_EINVAL;
        if (v > (UINT64_MAX >> 4))
            over = true;
        v = v << 4 | (uint64_t)d;
    }
    if (over)
        return GT_ERANGE;
    *out = v;
    return GT_OK;
}

/* Parses one numeric field. An empty field is 0 when optional, an error
 * otherwise; hex is accepted where hex_ok. */
static int parse_field(struct importer *im, const char *name, const char *text, bool optional,
                       bool hex_ok, uint64_t max, uint64_t *out)
{
    char q[QUOTE_MAX + 8];
    int rc;

    if (*text == '\0') {
        if (optional) {
            *out = 0;
            return GT_OK;
        }
        fail_msg(im, "line %lld: %s is empty", (long long)im->line_no, name);
        return GT_EINVAL;
    }
    if (hex_ok && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
        rc = parse_hex(text + 2, out);
        if (rc == GT_OK && *out > max)
            rc = GT_ERANGE;
    } else {
        rc = gt_units_parse_u64(text, max, out);
    }
    if (rc == GT_ERANGE) {
        fail_msg(im, "line %lld: %s '%s' is out of range", (long long)im->line_no, name,
                 quote(text, q, sizeof q));
        return GT_EINVAL;
    }
    if (rc != GT_OK) {
        fail_msg(im, "line %lld: %s '%s' is not a number", (long long)im->line_no, name,
                 quote(text, q, sizeof q));
        return GT_EINVAL;
    }
    return GT_OK;
}

/* Reads the next line into im->line without its line end. Returns 1 for a
 * line, 0 at the end of the file, or a negative GT_E* code. The line is
 * read into a buffer of MAX_LINE bytes and a longer one is an error as soon
 * as it overflows: a hostile file cannot make it take memory. */
static int next_line(struct importer *im, size_t *len)
{
    size_t n = 0;
    int c;

    if (im->line == NULL && (im->line = malloc(MAX_LINE + 1)) == NULL) {
        fail_msg(im, "out of memory");
        return GT_ENOMEM;
    }
    im->line_cap = MAX_LINE + 1;
    while ((c = getc(im->in)) != EOF && c != '\n') {
        if (n == MAX_LINE) {
            fail_msg(im, "line %lld: longer than %d bytes", (long long)im->line_no + 1, MAX_LINE);
            return GT_EINVAL;
        }
        if (c == '\0') {
            fail_msg(im, "line %lld: contains a NUL byte", (long long)im->line_no + 1);
            return GT_EINVAL;
        }
        im->line[n++] = (char)c;
    }
    if (c == EOF && ferror(im->in)) {
        fail_msg(im, "cannot read '%s': %s", im->csv_path, strerror(errno));
        return GT_EIO;
    }
    if (c == EOF && n == 0)
        return 0;
    im->line_no++;
    if (n > 0 && im->line[n - 1] == '\r')
        n--;
    im->line[n] = '\0';
    *len = n;
    return 1;
}

static int check_header(struct importer *im)
{
    char q[QUOTE_MAX + 8];
    const char *text;
    size_t len = 0;
    int rc = next_line(im, &len);

    if (rc < 0)
        return rc;
    if (rc == 0) {
        fail_msg(im, "line 1: the file is empty; expected the header '" GT_IMPORT_CSV_HEADER "'");
        return GT_EINVAL;
    }
    text = im->line;
    if (strncmp(text, UTF8_BOM, 3) == 0)
        text += 3;
    if (strcmp(text, GT_IMPORT_CSV_HEADER) != 0) {
        fail_msg(im, "line 1: header is '%s', expected '" GT_IMPORT_CSV_HEADER "'",
                 quote(text, q, sizeof q));
        return GT_EINVAL;
    }
    return GT_OK;
}

/* Splits line in place at the commas; GT_EINVAL unless there are exactly
 * CSV_FIELDS fields. */
static int split_fields(struct importer *im, char *line, char *field[CSV_FIELDS])
{
    int count = 1;

    for (const char *p = line; *p != '\0'; p++)
        count += *p == ',';
    if (count != CSV_FIELDS) {
        fail_msg(im, "line %lld: expected %d fields, got %d", (long long)im->line_no, CSV_FIELDS,
                 count);
        return GT_EINVAL;
    }
    field[0] = line;
    for (int i = 1; i < CSV_FIELDS; i++) {
        char *comma = strchr(field[i - 1], ',');
        *comma = '\0';
        field[i] = comma + 1;
    }
    return GT_OK;
}

/* Turns one data row into an event; the row's rules depend on its action. */
static int parse_row(struct importer *im, char *line, struct gt_event *ev)
{
    char *field[CSV_FIELDS];
    char q[QUOTE_MAX + 8];
    uint64_t ts, addr, size, stream, device;
    int32_t kind;
    bool addr_optional, size_optional, size_is_request;
    int rc;

    if ((rc = split_fields(im, line, field)) != GT_OK)
        return rc;
    kind = gt_trace_kind_parse(field[1]);
    if (kind == 0) {
        fail_msg(im, "line %lld: unknown action '%s'", (long long)im->line_no,
                 quote(field[1], q, sizeof q));
        return GT_EINVAL;
    }
    addr_optional = kind == GT_EV_EMPTY_CACHE || kind == GT_EV_OOM;
    size_optional = kind == GT_EV_EMPTY_CACHE || kind == GT_EV_FREE || kind == GT_EV_HOST_FREE ||
                    kind == GT_EV_FREE_REQUESTED || kind == GT_EV_FREE_COMPLETED;
    size_is_request = kind == GT_EV_ALLOC || kind == GT_EV_HOST_ALLOC || kind == GT_EV_OOM;

    if ((rc = parse_field(im, "ts_ns", field[0], false, false, INT64_MAX, &ts)) != GT_OK ||
        (rc = parse_field(im, "addr", field[2], addr_optional, true, UINT64_MAX, &addr)) != GT_OK ||
        (rc = parse_field(im, "size", field[3], size_optional, true, UINT64_MAX, &size)) != GT_OK ||
        (rc = parse_field(im, "stream", field[4], false, true, UINT64_MAX, &stream)) != GT_OK ||
        (rc = parse_field(im, "device", field[5], false, false, INT32_MAX, &device)) != GT_OK)
        return rc;

    memset(ev, 0, sizeof *ev);
    ev->ts_ns = (int64_t)ts;
    ev->device = (int32_t)device;
    ev->kind = kind;
    ev->stream = stream;
    ev->addr = addr;
    ev->size = size;
    /* The CSV has one size column; for a request it is the bytes asked. */
    ev->requested = size_is_request ? size : 0;
    return GT_OK;
}

static int write_meta(struct importer *im)
{
    char when[32] = "";
    time_t now = time(NULL);
    struct tm tm;
    size_t len = strlen(im->csv_path) + sizeof "csv:";
    char *source = malloc(len);
    int rc;

    if (source == NULL) {
        fail_msg(im, "out of memory");
        return GT_ENOMEM;
    }
    snprintf(source, len, "csv:%s", im->csv_path);
    if (gmtime_r(&now, &tm) != NULL)
        strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
    rc = gt_trace_set_meta(im->w, "tool_version", GT_VERSION);
    if (rc == GT_OK)
        rc = gt_trace_set_meta(im->w, "source", source);
    if (rc == GT_OK)
        rc = gt_trace_set_meta(im->w, "recording_mode", GT_SCHEMA_MODE_IMPORTED);
    if (rc == GT_OK)
        rc = gt_trace_set_meta(im->w, "start_time", when);
    if (rc == GT_OK)
        rc = gt_trace_set_meta(im->w, "command_line", "");
    free(source);
    if (rc != GT_OK)
        fail_msg(im, "cannot write the trace: %s", gt_trace_writer_errmsg(im->w));
    return rc;
}

static void note_device(int32_t *seen, size_t *nseen, int32_t device)
{
    for (size_t i = 0; i < *nseen; i++)
        if (seen[i] == device)
            return;
    if (*nseen < IMPORT_MAX_DEVICES)
        seen[(*nseen)++] = device;
}

static int write_options(struct importer *im, const struct gt_import_options *opts,
                         const int32_t *seen, size_t nseen)
{
    int rc = GT_OK;
    if (opts->alloc_conf != NULL)
        rc = gt_trace_set_meta(im->w, "alloc_conf", opts->alloc_conf);
    if (opts->device_name != NULL || opts->device_memory)
        for (size_t i = 0; i < nseen && rc == GT_OK; i++)
            rc = gt_trace_add_device(im->w, seen[i],
                                     opts->device_name != NULL ? opts->device_name : "",
                                     opts->device_memory);
    if (rc != GT_OK)
        fail_msg(im, "cannot write the trace: %s", gt_trace_writer_errmsg(im->w));
    return rc;
}

static int import_rows(struct importer *im)
{
    struct gt_event ev;
    size_t len;
    int rc;

    while ((rc = next_line(im, &len)) == 1) {
        if (len == 0)
            continue;
        im->sum->rows++;
        if ((rc = parse_row(im, im->line, &ev)) != GT_OK)
            return rc;
        if ((rc = gt_trace_append(im->w, &ev)) != GT_OK) {
            fail_msg(im, "line %lld: cannot write the trace: %s", (long long)im->line_no,
                     gt_trace_writer_errmsg(im->w));
            return rc;
        }
        im->sum->events++;
        im->sum->by_kind[ev.kind]++;
        note_device(im->devices, &im->ndevices, ev.device);
    }
    return rc;
}

int gt_import_csv(const char *csv_path, const char *trace_path, struct gt_import_summary *sum,
                  char *errbuf, size_t errlen)
{
    return gt_import_csv_with(csv_path, trace_path, NULL, sum, errbuf, errlen);
}

int gt_import_csv_with(const char *csv_path, const char *trace_path,
                       const struct gt_import_options *opts, struct gt_import_summary *sum,
                       char *errbuf, size_t errlen)
{
    struct gt_import_summary local;
    struct importer im = {0};
    int rc;

    im.sum = gt_import_start(sum, &local, errbuf, errlen);
    im.errbuf = errbuf;
    im.errlen = errlen;
    if (csv_path == NULL || trace_path == NULL) {
        fail_msg(&im, "no path given");
        return GT_EINVAL;
    }
    im.csv_path = csv_path;
    char why[128];
    if ((rc = gt_files_check_input(csv_path, why, sizeof why)) != GT_OK) {
        fail_msg(&im, "cannot read '%s': %s", csv_path, why);
        return rc;
    }
    im.in = fopen(csv_path, "r");
    if (im.in == NULL) {
        int e = errno;
        fail_msg(&im, "cannot open '%s': %s", csv_path, strerror(e));
        return e == ENOENT ? GT_ENOENT : GT_EIO;
    }
    rc = check_header(&im);
    if (rc == GT_OK)
        rc = gt_trace_create(trace_path, &im.w, errbuf, errlen);
    if (rc == GT_OK)
        rc = write_meta(&im);
    if (rc == GT_OK)
        rc = import_rows(&im);
    if (rc == GT_OK && opts != NULL)
        rc = write_options(&im, opts, im.devices, im.ndevices);

    rc = gt_import_finish(im.w, trace_path, rc, errbuf, errlen);
    free(im.line);
    fclose(im.in);
    return rc;
}
