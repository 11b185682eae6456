/* Shared by the fuzz targets that go through files: one private folder for
 * the whole run (in /dev/shm when there is one: every input writes a file,
 * often an SQLite one) and the input written to a path in it. Header-only:
 * each target is its own program. */
#ifndef GPUTRACE_FUZZ_FILES_H
#define GPUTRACE_FUZZ_FILES_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

/* fuzz_path: dir/name in the run's folder (made on the first call with tag
 * in its name) into buf; -1 when the folder cannot be made. */
static inline int fuzz_path(const char *tag, const char *name, char *buf, size_t len)
{
    static char dir[64];

    if (dir[0] == '\0') {
        snprintf(dir, sizeof dir, "%s/gt-fuzz-%s-XXXXXX",
                 access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp", tag);
        if (mkdtemp(dir) == NULL) {
            dir[0] = '\0';
            return -1;
        }
    }
    snprintf(buf, len, "%s/%s", dir, name);
    return 0;
}

/* fuzz_write: the input's bytes into path; -1 when they cannot be written. */
static inline int fuzz_write(const char *path, const uint8_t *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    int ok = f != NULL && (size == 0 || fwrite(data, 1, size, f) == size);

    if (f != NULL && fclose(f) != 0)
        ok = 0;
    return ok ? 0 : -1;
}

#endif
