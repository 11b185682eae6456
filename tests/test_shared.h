/* The main of a Check suite that also has cases reading the real traces of
 * ../shared (GT_SHARED_TRACES, set by tests/CMakeLists.txt). Check has no
 * "skipped" of its own and CTest reads one exit code per program, so such a
 * suite is two suites in one program: its self-contained cases, run by
 * `test_NAME`, and its shared-data cases, run by `test_NAME --shared`, which
 * tests/CMakeLists.txt registers as the CTest case test_NAME_shared (every
 * suite that includes this header). Without the traces test_NAME still runs
 * in full and test_NAME_shared exits GT_TEST_SKIP, CTest's SKIP_RETURN_CODE
 * for it, after one line naming what is missing. Header-only: each suite is
 * its own program. */
#ifndef GPUTRACE_TEST_SHARED_H
#define GPUTRACE_TEST_SHARED_H

#include <check.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The exit code CTest counts as skipped (the automake convention the
 * other skipping tests of tests/CMakeLists.txt use too). */
#define GT_TEST_SKIP 77

/* Whether the shared traces are there; if not, says so in one line. */
static inline bool shared_traces_present(void)
{
    struct stat st;

    if (stat(GT_SHARED_TRACES, &st) == 0 && S_ISDIR(st.st_mode))
        return true;
    printf("skipped: no shared traces at %s\n", GT_SHARED_TRACES);
    return false;
}

/* Runs s (and frees it); EXIT_FAILURE if a case failed. */
static inline int run_suite(Suite *s)
{
    SRunner *sr = srunner_create(s);
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

/* The main of a suite with shared-data cases: own() without arguments,
 * shared() with --shared when the traces are there, else GT_TEST_SKIP. */
static inline int shared_main(int argc, char **argv, Suite *(*own)(void), Suite *(*shared)(void))
{
    if (argc == 2 && strcmp(argv[1], "--shared") == 0)
        return shared_traces_present() ? run_suite(shared()) : GT_TEST_SKIP;
    if (argc != 1) {
        fprintf(stderr, "usage: %s [--shared]\n", argv[0]);
        return EXIT_FAILURE;
    }
    return run_suite(own());
}

#endif
