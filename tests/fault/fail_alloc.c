/* Allocation-failure injection (SQLite's test_malloc is the model): linked
 * into gpu-trace-fault with -Wl,--wrap=malloc,--wrap=calloc,--wrap=realloc,
 * so every allocation of gpu-trace's own code (not SQLite's or zlib's)
 * goes through here.
 *   GT_FAIL_ALLOC=N        the Nth allocation (1-based) fails, the others
 *                          succeed (0 or unset: none fails)
 *   GT_FAIL_ALLOC_COUNT=1  print "allocations: K" on stderr at exit
 * tests/fault_test.sh runs the commands with every N. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);

static long count, fail_at = -1;

static void report(void)
{
    fprintf(stderr, "allocations: %ld\n", count);
}

/* Read once: getenv and strtol allocate nothing. */
static int should_fail(void)
{
    if (fail_at < 0) {
        const char *v = getenv("GT_FAIL_ALLOC");
        fail_at = v != NULL ? strtol(v, NULL, 10) : 0;
        if (getenv("GT_FAIL_ALLOC_COUNT"))
            atexit(report);
    }
    return ++count == fail_at;
}

void *__wrap_malloc(size_t n)
{
    return should_fail() ? NULL : __real_malloc(n);
}

void *__wrap_calloc(size_t n, size_t size)
{
    return should_fail() ? NULL : __real_calloc(n, size);
}

void *__wrap_realloc(void *p, size_t n)
{
    return should_fail() ? NULL : __real_realloc(p, n);
}
