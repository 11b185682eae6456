/* libFuzzer target for the CSV importer: each input is written to a file and
 * imported into a fresh trace, both removed afterwards. Finds crashes, leaks
 * and sanitizer reports; a rejected input is a normal outcome. */
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
    char err[256], csv_path[128], trace_path[128];

    if (fuzz_path("csv", "in.csv", csv_path, sizeof csv_path) != 0 ||
        fuzz_path("csv", "out.db", trace_path, sizeof trace_path) != 0 ||
        fuzz_write(csv_path, data, size) != 0)
        return 0;
    if (gt_import_csv(csv_path, trace_path, &sum, err, sizeof err) != 0) {
        /* The importer must not leave a trace behind on failure. */
        if (access(trace_path, F_OK) == 0)
            abort();
    }
    unlink(trace_path);
    unlink(csv_path);
    return 0;
}
