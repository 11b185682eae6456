/* Which importer a file needs, from its first bytes (import.h). The CLI
 * asks; the decision is the import layer's, next to the formats. */
#include "gputrace/import.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "gputrace/err.h"
#include "import_int.h"

#include "gputrace/banned.h"

/* Enough to see past the blank space before a JSON document's '{'. */
#define SNIFF_BYTES 512

static bool has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);

    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* The format of the n bytes at buf, read from path. */
static enum gt_import_format format_of(const unsigned char *buf, size_t n, const char *path,
                                       const char **why)
{
    size_t i = 0;

    if (n >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
        i = 3; /* a UTF-8 byte order mark, as editors write it */
    if (n >= 2 && buf[0] == 0x80 && buf[1] >= 2)
        return GT_IMPORT_SNAPSHOT;
    if (n >= 16 && memcmp(buf, "SQLite format 3", 16) == 0)
        return GT_IMPORT_TRACE; /* the reader checks that it is ours */
    if (n >= 2 && buf[0] == 0x1f && buf[1] == 0x8b)
        return GT_IMPORT_CHROME; /* gzip: the importer reads what is inside */
    size_t header = strlen(GT_IMPORT_CSV_HEADER);
    if (n - i >= header && memcmp(buf + i, GT_IMPORT_CSV_HEADER, header) == 0)
        return GT_IMPORT_CSV;
    while (i < n && (buf[i] == ' ' || buf[i] == '\t' || buf[i] == '\n' || buf[i] == '\r'))
        i++;
    if (i < n && buf[i] == '{')
        return GT_IMPORT_CHROME;
    if (has_suffix(path, ".csv"))
        return GT_IMPORT_CSV;
    if (n == 0)
        *why = "the file is empty";
    return GT_IMPORT_UNKNOWN;
}

int gt_import_sniff(const char *path, enum gt_import_format *format, const char **why)
{
    unsigned char buf[SNIFF_BYTES];
    FILE *f = fopen(path, "rb");

    *format = GT_IMPORT_UNKNOWN;
    *why = "expected the header '" GT_IMPORT_CSV_HEADER "', a JSON object, gzip data or a pickle";
    if (f == NULL)
        return -1;
    size_t n = fread(buf, 1, sizeof buf, f);
    if (ferror(f)) {
        int e = errno;
        fclose(f);
        errno = e;
        return -1;
    }
    fclose(f);
    *format = format_of(buf, n, path, why);
    return 0;
}

int gt_import_file(enum gt_import_format format, const char *path, const char *trace_path,
                   const struct gt_import_options *opts, struct gt_import_summary *sum,
                   char *errbuf, size_t errlen)
{
    switch (format) {
    case GT_IMPORT_CSV:
        return gt_import_csv_with(path, trace_path, opts, sum, errbuf, errlen);
    case GT_IMPORT_CHROME:
        return gt_import_chrome(path, trace_path, opts, sum, errbuf, errlen);
    case GT_IMPORT_SNAPSHOT:
        return gt_import_snapshot(path, trace_path, opts, sum, errbuf, errlen);
    case GT_IMPORT_TRACE:
        return gt_import_trace(path, trace_path, sum, errbuf, errlen);
    case GT_IMPORT_UNKNOWN:
        break;
    }
    return gt_errf(errbuf, errlen, GT_EINVAL, "not a format gpu-trace imports");
}
