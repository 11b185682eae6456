/* libFuzzer target for the chrome trace importer: each input is written to a
 * file and imported into a fresh trace, both removed afterwards. The input
 * goes through the same file reader as a real file, so plain JSON seeds
 * exercise the JSON reader and the event checks, gzip seeds the truncation and
 * damage handling. Finds crashes, leaks and sanitizer reports; a rejected
 * input is a normal outcome. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gputrace/import.h"

#include "gputrace/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char dir[64];
static char json_path[96];
static char trace_path[96];

/* One directory for the whole run; /dev/shm when there is one, because every
 * input creates a SQLite file. */
static int setup(void)
{
    if (dir[0] != '\0')
        return 0;
    snprintf(dir, sizeof dir, "%s/gt-fuzz-chrome-XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (mkdtemp(dir) == NULL)
        return -1;
    snprintf(json_path, sizeof json_path, "%s/in.json", dir);
    snprintf(trace_path, sizeof trace_path, "%s/out.db", dir);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gt_import_summary sum;
    char err[256];
    FILE *f;

    if (setup() != 0)
        return 0;
    f = fopen(json_path, "wb");
    if (f == NULL)
        return 0;
    if (size > 0 && fwrite(data, 1, size, f) != size) {
        fclose(f);
        return 0;
    }
    fclose(f);
    if (gt_import_chrome(json_path, trace_path, NULL, &sum, err, sizeof err) != 0) {
        /* The importer must not leave a trace behind on failure. */
        if (access(trace_path, F_OK) == 0)
            abort();
    }
    unlink(trace_path);
    unlink(json_path);
    return 0;
}
