/* libFuzzer target for the whole snapshot import: each input is written to
 * a file and imported with gt_import_snapshot into a new trace, which, when
 * the import succeeds, is read back to its end. Snapshots come from other
 * people: any bytes must give an error or a readable trace, never a crash,
 * a hang, a leak or a half-written trace left behind. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gputrace/import.h"
#include "gputrace/trace.h"

#include "fuzz_files.h"
#include "gputrace/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gt_import_summary sum;
    struct gt_trace_reader *r = NULL;
    struct gt_event buf[64];
    char err[512], in_path[128], out_path[128];
    size_t n;

    if (fuzz_path("snap", "in.pickle", in_path, sizeof in_path) != 0 ||
        fuzz_path("snap", "out.db", out_path, sizeof out_path) != 0 ||
        fuzz_write(in_path, data, size) != 0)
        return 0;
    unlink(out_path);
    int rc = gt_import_snapshot(in_path, out_path, NULL, &sum, err, sizeof err);
    if (rc != 0 && access(out_path, F_OK) == 0)
        abort(); /* a failed import must leave nothing */
    if (rc == 0 && gt_trace_open(out_path, &r, err, sizeof err) == 0) {
        int64_t got = 0;
        while (gt_trace_read(r, buf, 64, &n) == 0 && n > 0)
            got += (int64_t)n;
        if (got != sum.events)
            abort(); /* the trace holds what the import said it wrote */
        gt_trace_close(r);
    }
    unlink(out_path);
    return 0;
}
