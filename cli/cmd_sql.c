/* gpu-trace sql: runs SQL on a trace, with `events` one row per event
 * whatever the format version (trace.h gt_trace_sql_open), and prints each
 * result as CSV. The connection is read-only: nothing a query does changes
 * the trace. */
#include "cli_int.h"
#include "gputrace/err.h"
#include "gputrace/report.h"
#include "gputrace/trace.h"

#include <getopt.h>
#include <stdbool.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "gputrace/banned.h"

#define QUERY_CAP ((size_t)1 << 20) /* a query read from stdin */

static void usage(FILE *f)
{
    fputs("Usage: gpu-trace sql TRACE [QUERY] [--format csv|list]\n"
          "\n"
          "Runs QUERY (SQL; read from standard input when absent or '-') on TRACE,\n"
          "opened read-only, and prints each result: CSV with a header line, or as the\n"
          "sqlite3 shell's list mode (values joined by '|', no header). The\n"
          "table `events` has one row per event (seq, ts_ns, pid, tid, device, stream,\n"
          "kind, addr, size, requested, result) in every trace format: format 2 stores\n"
          "events in batches (event_batches), which `events` decodes as it goes. The\n"
          "other tables (meta, devices, processes, kinds, frames, stacks, ...) are\n"
          "plain tables (docs/trace-format.md).\n"
          "\n"
          "Options:\n"
          "  -f, --format FORMAT  csv (default) or list\n"
          "  -h, --help           show this help and exit\n"
          "\n"
          "Exit status: 0 when every statement ran, 1 when the trace cannot be read\n"
          "or a statement fails, 2 for a usage error.\n"
          "\n"
          "EXAMPLES\n"
          "  gpu-trace sql run.db 'SELECT count(*) FROM events'\n"
          "  gpu-trace sql run.db \"SELECT k.name, count(*) FROM events e JOIN kinds k\n"
          "      USING (kind) GROUP BY kind\"\n"
          "  echo 'SELECT * FROM events WHERE seq BETWEEN 100 AND 200' | gpu-trace sql run.db\n"
          "  gpu-trace sql run.db 'SELECT max(seq) FROM events' --format list\n",
          f);
}

/* list: the sqlite3 shell's list mode, values as they are, no header. */
static bool list_mode;

/* A text field: CSV's, or as it is in list mode (report.h). */
static void put_text(const unsigned char *t)
{
    gt_report_csv_field(stdout, (const char *)t,
                        list_mode ? GT_CSV_QUOTE_NEVER : GT_CSV_QUOTE_NEEDED);
}

static void put_value(sqlite3_stmt *st, int i)
{
    switch (sqlite3_column_type(st, i)) {
    case SQLITE_INTEGER:
        printf("%" PRId64, (int64_t)sqlite3_column_int64(st, i));
        break;
    case SQLITE_FLOAT:
        printf("%.17g", sqlite3_column_double(st, i));
        break;
    case SQLITE_TEXT:
        put_text(sqlite3_column_text(st, i));
        break;
    case SQLITE_BLOB: {
        const unsigned char *b = sqlite3_column_blob(st, i);
        int n = sqlite3_column_bytes(st, i);
        fputs("X'", stdout);
        for (int k = 0; k < n; k++)
            printf("%02x", b[k]);
        putchar('\'');
        break;
    }
    default: /* NULL: an empty field */
        break;
    }
}

/* Runs one statement, printing its rows. */
static int run_one(sqlite3 *db, sqlite3_stmt *st, const char *trace)
{
    int cols = sqlite3_column_count(st), rc;

    for (int i = 0; i < cols && !list_mode; i++) {
        if (i > 0)
            putchar(',');
        put_text((const unsigned char *)sqlite3_column_name(st, i));
    }
    if (cols > 0 && !list_mode)
        putchar('\n');
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
        for (int i = 0; i < cols; i++) {
            if (i > 0)
                putchar(list_mode ? '|' : ',');
            put_value(st, i);
        }
        putchar('\n');
    }
    if (rc != SQLITE_DONE) {
        cli_error("query on '%s' failed: %s", trace, sqlite3_errmsg(db));
        return CLI_EXIT_ERROR;
    }
    return 0;
}

static int run_all(sqlite3 *db, const char *sql, const char *trace)
{
    const char *tail = sql;
    int rc = 0;

    while (rc == 0 && tail != NULL && *tail != '\0') {
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(db, tail, -1, &st, &tail) != SQLITE_OK) {
            cli_error("query on '%s' failed: %s", trace, sqlite3_errmsg(db));
            return CLI_EXIT_ERROR;
        }
        if (st != NULL) /* NULL: only whitespace or a comment was left */
            rc = run_one(db, st, trace);
        sqlite3_finalize(st);
    }
    return rc;
}

/* The query from standard input; NULL after printing the error. */
static char *read_query(void)
{
    char *buf = malloc(QUERY_CAP + 1);
    size_t n = 0, k;

    if (buf == NULL) {
        cli_error("out of memory");
        return NULL;
    }
    while (n < QUERY_CAP && (k = fread(buf + n, 1, QUERY_CAP - n, stdin)) > 0)
        n += k;
    if (n == QUERY_CAP && fgetc(stdin) != EOF) {
        cli_error("the query on standard input is longer than %zu bytes", QUERY_CAP);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

int cmd_sql(int argc, char **argv)
{
    static const struct option longopts[] = {{"format", required_argument, NULL, 'f'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    char err[512] = "", *owned = NULL;
    const char *query;
    sqlite3 *db = NULL;
    int c, rc;

    opterr = 0;
    list_mode = false;
    while ((c = getopt_long(argc, argv, ":f:h", longopts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            return CLI_EXIT_OK;
        }
        if (c != 'f')
            return cli_option_error("sql", c, argv);
        if (strcmp(optarg, "csv") != 0 && strcmp(optarg, "list") != 0) {
            cli_error("invalid format '%s': expected csv or list", optarg);
            return CLI_EXIT_ERROR;
        }
        list_mode = strcmp(optarg, "list") == 0;
    }
    if (optind >= argc)
        return cli_usage_error("sql", "missing TRACE argument");
    if (optind + 2 < argc)
        return cli_usage_error("sql", "unexpected argument '%s'", argv[optind + 2]);
    query = optind + 1 < argc ? argv[optind + 1] : "-";
    if (strcmp(query, "-") == 0 && (query = owned = read_query()) == NULL)
        return CLI_EXIT_ERROR;
    rc = gt_trace_sql_open(argv[optind], &db, err, sizeof err);
    if (rc != 0) {
        cli_trace_error(argv[optind], rc, err);
        free(owned);
        return CLI_EXIT_ERROR;
    }
    rc = run_all(db, query, argv[optind]);
    sqlite3_close(db);
    free(owned);
    return rc;
}
