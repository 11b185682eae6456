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

#include "gputrace/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64], in_path[96], out_path[96];

static int setup(void)
{
    if (dir[0] != '\0')
        return 0;
    snprintf(dir, sizeof dir, "%s/gt-fuzz-snap-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(in_path, sizeof in_path, "%s/in.pickle", dir);
    snprintf(out_path, sizeof out_path, "%s/out.db", dir);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gt_import_summary sum;
    struct gt_trace_reader *r = NULL;
    struct gt_event buf[64];
    char err[512];
    size_t n;
    FILE *f;

    if (setup() != 0 || (f = fopen(in_path, "wb")) == NULL)
        return 0;
    if (size > 0 && fwrite(data, 1, size, f) != size) {
        fclose(f);
        return 0;
    }
    fclose(f);
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
