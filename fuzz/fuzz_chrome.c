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

#include "fuzz_files.h"
#include "gputrace/import.h"

#include "gputrace/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gt_import_summary sum;
    char err[256], json_path[128], trace_path[128];

    if (fuzz_path("chrome", "in.json", json_path, sizeof json_path) != 0 ||
        fuzz_path("chrome", "out.db", trace_path, sizeof trace_path) != 0 ||
        fuzz_write(json_path, data, size) != 0)
        return 0;
    if (gt_import_chrome(json_path, trace_path, NULL, &sum, err, sizeof err) != 0) {
        /* The importer must not leave a trace behind on failure. */
        if (access(trace_path, F_OK) == 0)
            abort();
    }
    unlink(trace_path);
    unlink(json_path);
    return 0;
}
