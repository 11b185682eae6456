/* fake_app SCENARIO: a "CUDA program" for the record pipeline tests. It
 * links the fake driver (libcuda.so.1 from fake_cuda.c), calls cuInit(0) so
 * the driver loads the injection library, then replays the scenario file:
 * one command per line, '#' starts a comment. Sizes take binary K/M/G/T
 * suffixes; sN names stream N (s0 = legacy default); dN names device N.
 * Allocating commands remember their result under an optional NAME (a word
 * that is not sN/dN), which later commands use.
 *
 *   malloc SIZE [NAME]             runtime cudaMalloc (-> cuMemAlloc_v2)
 *   free NAME                      runtime cudaFree (-> cuMemFree_v2)
 *   mallocasync SIZE sN [NAME]     runtime cudaMallocAsync (-> cuMemAllocAsync)
 *   freeasync NAME sN              runtime cudaFreeAsync (-> cuMemFreeAsync)
 *   mallochost SIZE [NAME]         runtime cudaMallocHost (-> cuMemHostAlloc)
 *   freehost NAME                  runtime cudaFreeHost (-> cuMemFreeHost)
 *   drvmalloc SIZE [NAME]          driver cuMemAlloc_v2; drvfree NAME
 *   drvmallocasync SIZE sN [NAME]  driver cuMemAllocAsync; drvfreeasync NAME sN
 *   hostalloc SIZE [NAME]          driver cuMemHostAlloc; drvfreehost NAME
 *   vmm_reserve SIZE [NAME]        cuMemAddressReserve; vmm_free NAME
 *   vmm_create SIZE dN [NAME]      cuMemCreate on device N; vmm_release NAME
 *   vmm_map VA OFFSET SIZE HANDLE  cuMemMap(VA + OFFSET, SIZE, 0, HANDLE)
 *   vmm_unmap VA OFFSET SIZE       cuMemUnmap(VA + OFFSET, SIZE)
 *   meminfo                        cuMemGetInfo_v2
 *   oom SIZE                       runtime cudaMalloc that must fail with 2
 *   device N                       make device N current (all threads)
 *   churn N SIZE [sN]              N runtime malloc/free pairs (async with sN);
 *                                  with FAKE_APP_TIMING set, their time goes
 *                                  to stderr (bench/tracer.sh)
 *   thread N FILE                  replay FILE (relative to this file) on N
 *                                  threads at once, each with its own names
 *   fork                           fork a child that exits without CUDA calls
 *   spawn FILE                     run fake_app FILE (relative to this file) as
 *                                  a new process, like a spawn DataLoader
 *                                  worker, and wait for it to exit 0
 *   sleep MS | exit N | abort | kill9
 *   lazy_init                      first line only: skip the initial cuInit,
 *                                  so the first runtime call initializes the
 *                                  driver between its ENTER and EXIT
 *
 * Exit status: what the scenario says, else 0; 2 for a malformed scenario,
 * 3 when a call's result is not the expected one. */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cuda_abi.h"

#include "fake_cuda.h"

#define MAX_TOKENS 8
#define MAX_NAMES 4096
#define MAX_LINE 512 /* only for the lazy_init peek */
#define MAX_THREADS 256

struct name {
    char name[32];
    uint64_t value;
};

/* One replay of one file on one thread. Names are per replay so that the
 * threads of `thread N FILE` do not see each other's pointers. */
struct replay {
    const char *path;
    unsigned line;
    struct name names[MAX_NAMES];
    size_t n_names;
};

/* Prints "fake_app: FILE:LINE: what 'arg'" and exits with `code`. */
static void die(const struct replay *r, int code, const char *what, const char *arg)
{
    if (arg != NULL)
        fprintf(stderr, "fake_app: %s:%u: %s '%s'\n", r->path, r->line, what, arg);
    else
        fprintf(stderr, "fake_app: %s:%u: %s\n", r->path, r->line, what);
    exit(code);
}

static int parse_u64(const char *s, uint64_t *out)
{
    if (s == NULL || *s < '0' || *s > '9')
        return -1;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0)
        return -1;
    int shift = 0;
    if (*end == 'K')
        shift = 10;
    else if (*end == 'M')
        shift = 20;
    else if (*end == 'G')
        shift = 30;
    else if (*end == 'T')
        shift = 40;
    else if (*end != '\0')
        return -1;
    if (shift && (end[1] != '\0' || v > (UINT64_MAX >> shift)))
        return -1;
    *out = (uint64_t)v << shift;
    return 0;
}

static uint64_t need_u64(struct replay *r, const char *s)
{
    uint64_t v;
    if (parse_u64(s, &v) != 0)
        die(r, 2, "not a number:", s != NULL ? s : "(missing)");
    return v;
}

/* "s7" -> 7, "d1" -> 1; -1 if `s` is not of that form. */
static long prefixed(const char *s, char prefix)
{
    uint64_t v;
    if (s == NULL || s[0] != prefix || parse_u64(s + 1, &v) != 0 || v > 4095)
        return -1;
    return (long)v;
}

static void *need_stream(struct replay *r, const char *s)
{
    long n = prefixed(s, 's');
    if (n < 0)
        die(r, 2, "not a stream (sN):", s != NULL ? s : "(missing)");
    return fakecuda_stream((unsigned)n);
}

static void remember(struct replay *r, const char *name, uint64_t value)
{
    if (name == NULL)
        return;
    for (size_t i = 0; i < r->n_names; i++) {
        if (strcmp(r->names[i].name, name) == 0) {
            r->names[i].value = value;
            return;
        }
    }
    if (r->n_names == MAX_NAMES || strlen(name) >= sizeof r->names[0].name)
        die(r, 2, "too many names or name too long:", name);
    snprintf(r->names[r->n_names].name, sizeof r->names[0].name, "%s", name);
    r->names[r->n_names++].value = value;
}

static uint64_t recall(struct replay *r, const char *name)
{
    for (size_t i = 0; name != NULL && i < r->n_names; i++)
        if (strcmp(r->names[i].name, name) == 0)
            return r->names[i].value;
    die(r, 2, "unknown name", name != NULL ? name : "(missing)");
    return 0;
}

/* The optional NAME of an allocating command: the first token from `from`
 * that is neither a stream nor a device. */
static const char *name_arg(char **tok, int n, int from)
{
    for (int i = from; i < n; i++)
        if (prefixed(tok[i], 's') < 0 && prefixed(tok[i], 'd') < 0)
            return tok[i];
    return NULL;
}

static void expect(struct replay *r, int got, int want, const char *what)
{
    if (got != want) {
        char msg[96];
        snprintf(msg, sizeof msg, "%s returned %d, expected %d", what, got, want);
        die(r, 3, msg, NULL);
    }
}

static void replay_file(const char *path, int first_file);
static void sibling_path(const struct replay *r, const char *file, char *out, size_t cap);

struct thread_job {
    char path[4096];
    pthread_t id;
};

static void *thread_main(void *arg)
{
    struct thread_job *job = arg;
    replay_file(job->path, 0);
    return NULL;
}

static void run_threads(struct replay *r, uint64_t n, const char *file)
{
    if (n == 0 || n > MAX_THREADS || file == NULL)
        die(r, 2, "thread needs 1..256 threads and a file", NULL);
    static struct thread_job jobs[MAX_THREADS];
    for (uint64_t i = 0; i < n; i++) {
        sibling_path(r, file, jobs[i].path, sizeof jobs[i].path);
        if (pthread_create(&jobs[i].id, NULL, thread_main, &jobs[i]) != 0)
            die(r, 3, "cannot start a thread", NULL);
    }
    for (uint64_t i = 0; i < n; i++)
        pthread_join(jobs[i].id, NULL);
}

static void do_fork(struct replay *r)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        die(r, 3, "fork failed:", strerror(errno));
    if (pid == 0)
        exit(0); /* through atexit handlers: the tracer's must do nothing here */
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            die(r, 3, "waitpid failed:", strerror(errno));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die(r, 3, "the forked child did not exit 0", NULL);
}

/* FILE relative to the folder of the scenario being replayed. */
static void sibling_path(const struct replay *r, const char *file, char *out, size_t cap)
{
    const char *slash = strrchr(r->path, '/');
    if (file[0] == '/' || slash == NULL)
        snprintf(out, cap, "%s", file);
    else
        snprintf(out, cap, "%.*s/%s", (int)(slash - r->path), r->path, file);
}

static void do_spawn(struct replay *r, const char *file)
{
    if (file == NULL)
        die(r, 2, "spawn needs a file", NULL);
    char path[4096];
    sibling_path(r, file, path, sizeof path);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0)
        die(r, 3, "fork failed:", strerror(errno));
    if (pid == 0) {
        /* A fresh image: its own cuInit, its own injection, its own ring. */
        char *argv[] = {(char *)"fake_app", path, NULL};
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            die(r, 3, "waitpid failed:", strerror(errno));
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die(r, 3, "the spawned fake_app did not exit 0", NULL);
}

static void sleep_ms(uint64_t ms)
{
    struct timespec ts = {.tv_sec = (time_t)(ms / 1000), .tv_nsec = (long)(ms % 1000) * 1000000};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

static void run_command(struct replay *r, char **tok, int n)
{
    const char *cmd = tok[0];
    void *p = NULL;
    CUdeviceptr d = 0;

    if (strcmp(cmd, "malloc") == 0) {
        expect(r, fake_cudaMalloc(&p, need_u64(r, tok[1])), 0, cmd);
        remember(r, name_arg(tok, n, 2), (uintptr_t)p);
    } else if (strcmp(cmd, "free") == 0) {
        expect(r, fake_cudaFree((void *)(uintptr_t)recall(r, tok[1])), 0, cmd);
    } else if (strcmp(cmd, "mallocasync") == 0) {
        expect(r, fake_cudaMallocAsync(&p, need_u64(r, tok[1]), need_stream(r, tok[2])), 0, cmd);
        remember(r, name_arg(tok, n, 3), (uintptr_t)p);
    } else if (strcmp(cmd, "freeasync") == 0) {
        expect(r, fake_cudaFreeAsync((void *)(uintptr_t)recall(r, tok[1]), need_stream(r, tok[2])),
               0, cmd);
    } else if (strcmp(cmd, "mallochost") == 0) {
        expect(r, fake_cudaMallocHost(&p, need_u64(r, tok[1])), 0, cmd);
        remember(r, name_arg(tok, n, 2), (uintptr_t)p);
    } else if (strcmp(cmd, "freehost") == 0) {
        expect(r, fake_cudaFreeHost((void *)(uintptr_t)recall(r, tok[1])), 0, cmd);
    } else if (strcmp(cmd, "drvmalloc") == 0) {
        expect(r, cuMemAlloc_v2(&d, need_u64(r, tok[1])), 0, cmd);
        remember(r, name_arg(tok, n, 2), d);
    } else if (strcmp(cmd, "drvfree") == 0) {
        expect(r, cuMemFree_v2(recall(r, tok[1])), 0, cmd);
    } else if (strcmp(cmd, "drvmallocasync") == 0) {
        expect(r, cuMemAllocAsync(&d, need_u64(r, tok[1]), need_stream(r, tok[2])), 0, cmd);
        remember(r, name_arg(tok, n, 3), d);
    } else if (strcmp(cmd, "drvfreeasync") == 0) {
        expect(r, cuMemFreeAsync(recall(r, tok[1]), need_stream(r, tok[2])), 0, cmd);
    } else if (strcmp(cmd, "hostalloc") == 0) {
        expect(r, cuMemHostAlloc(&p, need_u64(r, tok[1]), 0), 0, cmd);
        remember(r, name_arg(tok, n, 2), (uintptr_t)p);
    } else if (strcmp(cmd, "drvfreehost") == 0) {
        expect(r, cuMemFreeHost((void *)(uintptr_t)recall(r, tok[1])), 0, cmd);
    } else if (strcmp(cmd, "vmm_reserve") == 0) {
        expect(r, cuMemAddressReserve(&d, need_u64(r, tok[1]), 0, 0, 0), 0, cmd);
        remember(r, name_arg(tok, n, 2), d);
    } else if (strcmp(cmd, "vmm_free") == 0) {
        expect(r, cuMemAddressFree(recall(r, tok[1]), 0), 0, cmd);
    } else if (strcmp(cmd, "vmm_create") == 0) {
        long dev = prefixed(n > 2 ? tok[2] : NULL, 'd');
        if (dev < 0)
            die(r, 2, "vmm_create needs a device dN", NULL);
        CUmemAllocationProp prop = {
            .type = CU_MEM_ALLOCATION_TYPE_PINNED,
            .location = {.type = CU_MEM_LOCATION_TYPE_DEVICE, .id = (int)dev}};
        CUmemGenericAllocationHandle h = 0;
        expect(r, cuMemCreate(&h, need_u64(r, tok[1]), &prop, 0), 0, cmd);
        remember(r, name_arg(tok, n, 3), h);
    } else if (strcmp(cmd, "vmm_release") == 0) {
        expect(r, cuMemRelease(recall(r, tok[1])), 0, cmd);
    } else if (strcmp(cmd, "vmm_map") == 0) {
        uint64_t va = recall(r, tok[1]) + need_u64(r, n > 2 ? tok[2] : NULL);
        uint64_t h = recall(r, n > 4 ? tok[4] : NULL);
        expect(r, cuMemMap(va, need_u64(r, n > 3 ? tok[3] : NULL), 0, h, 0), 0, cmd);
    } else if (strcmp(cmd, "vmm_unmap") == 0) {
        uint64_t va = recall(r, tok[1]) + need_u64(r, n > 2 ? tok[2] : NULL);
        expect(r, cuMemUnmap(va, need_u64(r, n > 3 ? tok[3] : NULL)), 0, cmd);
    } else if (strcmp(cmd, "meminfo") == 0) {
        size_t free_bytes, total_bytes;
        expect(r, cuMemGetInfo_v2(&free_bytes, &total_bytes), 0, cmd);
    } else if (strcmp(cmd, "cudnn_probe") == 0) {
        /* PyTorch's cacheInfo under backend:cudaMallocAsync: ask what is
         * free, try that much, halve after each failure, free the success. */
        size_t free_bytes, total_bytes;
        void *s = need_stream(r, tok[1]);
        expect(r, cuMemGetInfo_v2(&free_bytes, &total_bytes), 0, cmd);
        for (uint64_t guess = free_bytes; guess > 0; guess >>= 1) {
            if (fake_cudaMallocAsync(&p, guess, s) == 0) {
                expect(r, fake_cudaFreeAsync(p, s), 0, cmd);
                break;
            }
        }
    } else if (strcmp(cmd, "oom") == 0) {
        expect(r, fake_cudaMalloc(&p, need_u64(r, tok[1])), 2, cmd);
    } else if (strcmp(cmd, "device") == 0) {
        expect(r, fakecuda_set_device((int)need_u64(r, tok[1])), 0, cmd);
    } else if (strcmp(cmd, "churn") == 0) {
        uint64_t count = need_u64(r, tok[1]), size = need_u64(r, n > 2 ? tok[2] : NULL);
        void *stream = n > 3 ? need_stream(r, tok[3]) : NULL;
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        for (uint64_t i = 0; i < count; i++) {
            if (n > 3) {
                expect(r, fake_cudaMallocAsync(&p, size, stream), 0, "mallocasync");
                expect(r, fake_cudaFreeAsync(p, stream), 0, "freeasync");
            } else {
                expect(r, fake_cudaMalloc(&p, size), 0, "malloc");
                expect(r, fake_cudaFree(p), 0, "free");
            }
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (getenv("FAKE_APP_TIMING") != NULL)
            fprintf(stderr, "churn: %" PRIu64 " pairs in %lld ns\n", count,
                    (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec));
    } else if (strcmp(cmd, "thread") == 0) {
        run_threads(r, need_u64(r, tok[1]), n > 2 ? tok[2] : NULL);
    } else if (strcmp(cmd, "fork") == 0) {
        do_fork(r);
    } else if (strcmp(cmd, "spawn") == 0) {
        do_spawn(r, tok[1]);
    } else if (strcmp(cmd, "sleep") == 0) {
        sleep_ms(need_u64(r, tok[1]));
    } else if (strcmp(cmd, "exit") == 0) {
        fflush(NULL);
        exit((int)need_u64(r, tok[1]));
    } else if (strcmp(cmd, "abort") == 0) {
        fflush(NULL);
        abort();
    } else if (strcmp(cmd, "kill9") == 0) {
        fflush(NULL);
        raise(SIGKILL);
    } else if (strcmp(cmd, "lazy_init") == 0) {
        /* handled in main before anything else runs */
    } else {
        die(r, 2, "unknown command", cmd);
    }
}

/* Splits `line` in place at blanks, stopping at '#'. Returns the count. */
static int tokenize(char *line, char **tok)
{
    int n = 0;
    char *s = line;
    for (;;) {
        while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
            s++;
        if (*s == '\0' || *s == '#' || n == MAX_TOKENS)
            break;
        tok[n++] = s;
        while (*s != '\0' && *s != ' ' && *s != '\t' && *s != '\r' && *s != '\n')
            s++;
        if (*s != '\0')
            *s++ = '\0';
    }
    for (int i = n; i < MAX_TOKENS; i++)
        tok[i] = NULL;
    return n;
}

/* Reads all of `path` into a NUL-terminated heap buffer, or dies. The
 * whole file is read before any command runs: a forked child's exit()
 * repositions the file offset it shares with the parent, which would make a
 * FILE still open in the parent skip or repeat lines. */
static char *slurp(struct replay *r)
{
    FILE *f = fopen(r->path, "r");
    if (f == NULL)
        die(r, 2, "cannot open:", strerror(errno));
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t got;
    while (buf != NULL && (got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (len + 1 == cap) {
            char *bigger = realloc(buf, cap * 2);
            if (bigger == NULL)
                free(buf);
            buf = bigger;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf == NULL)
        die(r, 3, "out of memory", NULL);
    buf[len] = '\0';
    return buf;
}

static void replay_file(const char *path, int first_file)
{
    /* Heap, not stack: the name table is large and threads have small stacks. */
    struct replay *r = calloc(1, sizeof *r);
    if (r == NULL) {
        fprintf(stderr, "fake_app: out of memory\n");
        exit(3);
    }
    r->path = path;
    char *text = slurp(r);
    for (char *line = text; *line != '\0';) {
        char *eol = strchr(line, '\n');
        char *next = eol != NULL ? eol + 1 : line + strlen(line);
        if (eol != NULL)
            *eol = '\0';
        r->line++;
        char *tok[MAX_TOKENS];
        int n = tokenize(line, tok);
        if (n > 0) {
            if (strcmp(tok[0], "lazy_init") == 0 && !(first_file && r->line == 1))
                die(r, 2, "lazy_init must be the first line of the main scenario", NULL);
            run_command(r, tok, n);
        }
        line = next;
    }
    free(text);
    free(r);
}

/* Whether the scenario's first line is lazy_init. */
static int wants_lazy_init(const char *path)
{
    FILE *f = fopen(path, "r");
    if (f == NULL)
        return 0;
    char line[MAX_LINE];
    int lazy = fgets(line, sizeof line, f) != NULL && strncmp(line, "lazy_init", 9) == 0;
    fclose(f);
    return lazy;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: fake_app SCENARIO\n");
        return 2;
    }
    if (!wants_lazy_init(argv[1])) {
        CUresult rc = cuInit(0);
        if (rc != CUDA_SUCCESS) {
            fprintf(stderr, "fake_app: cuInit returned %d\n", (int)rc);
            return 3;
        }
    }
    replay_file(argv[1], 1);
    return 0;
}
