/* A private temporary folder for each test, as a Check fixture
 * (tcase_add_checked_fixture(tc, make_dir, remove_dir)), shared by the suites
 * that write files. Header-only: each suite is its own program. */
#ifndef GPUTRACE_TEST_TMPDIR_H
#define GPUTRACE_TEST_TMPDIR_H

#include <check.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[PATH_MAX];

static inline void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/gt-test-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

/* Removes the files the test left and the folder (no subfolders). */
static inline void remove_dir(void)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char p[PATH_MAX + 300];

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

/* dir/name; four calls can be in use at once (rotating buffers). */
static inline const char *path_of(const char *name)
{
    static char p[4][PATH_MAX + 64];
    static int next;
    char *out = p[next++ % 4];

    snprintf(out, sizeof p[0], "%s/%s", dir, name);
    return out;
}

#endif
