/* gpu-trace record: runs a program with the CUPTI injection library and
 * writes what its processes allocate into a new trace.
 *
 * The launcher is the consumer of ring.h: it never links CUDA. It starts the
 * program with CUDA_INJECTION64_PATH and GPUTRACE_RING_DIR set, and while
 * the program runs it drains the ring files of every traced process into
 * SQLite (record.h does the draining). The program's exit status becomes
 * ours, so `gpu-trace record -- cmd` can stand in for `cmd` in a script. */
#define _XOPEN_SOURCE 700 /* realpath */
#include "cli_int.h"
#include "gputrace/cupti_find.h"
#include "gputrace/err.h"
#include "gputrace/record.h"
#include "gputrace/report.h"
#include "gputrace/ring.h"
#include "gputrace/schema.h"
#include "gputrace/trace.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "gputrace/banned.h"

#define INJECT_NAME "libgputrace-inject.so"
#define POLL_MS 20 /* how often the rings are drained when little comes */
/* A poll that read this many records goes on at once: at 20 ms a poll, a
 * program making more than ~200 k records/s would fill a ring of 65536 records
 * within a few polls (it filled in 11 ms in bench/tracer.sh's churn). */
#define BUSY_RECORDS 4096
#define LINGER_NS 2000000000LL /* how long to wait for grandchildren's rings */
#define EXIT_CANNOT_RUN 127    /* the shell's code for a command that did not start */
#define MAX_SUFFIX 1000        /* default names tried: x.db, x-1.db ... */

struct record_args {
    const char *output; /* NULL: a new gpu-trace-YYYYMMDD-HHMMSS.db; placeholders expanded */
    enum gt_drain_mode mode;
    bool no_frames; /* --no-frames */
    char **cmd;     /* borrowed from argv, NULL-terminated */
};

/* Signals the launcher passes on. SIGINT, SIGQUIT and SIGHUP that the
 * terminal sent have reached the whole foreground group, the program
 * included: only those sent to the launcher alone are forwarded. */
static const int forwarded[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2};
#define NFORWARDED (sizeof forwarded / sizeof forwarded[0])

static int sig_pipe[2] = {-1, -1};

static void usage(FILE *f)
{
    fputs("Usage: gpu-trace record [-o FILE] [--mode requests|native] [--no-frames] [--]\n"
          "                        COMMAND [ARG]...\n"
          "\n"
          "Runs COMMAND with the CUPTI injection library and records every GPU memory\n"
          "allocation of it and of the processes it starts into a new trace. The exit\n"
          "status is COMMAND's (128+N if a signal N ended it, 127 if it could not start).\n"
          "\n"
          "Options:\n"
          "  -o, --output FILE  the trace to create (never overwritten); default:\n"
          "                     gpu-trace-YYYYMMDD-HHMMSS.db in the current folder.\n"
          "                     In FILE: %h the host name, %r the rank (the first\n"
          "                     of RANK, SLURM_PROCID, OMPI_COMM_WORLD_RANK and\n"
          "                     PMI_RANK set; an error if none is), %p record's\n"
          "                     pid, %% a '%'\n"
          "  -m, --mode MODE    requests (default): PyTorch, JAX and TensorFlow are\n"
          "                     switched to allocators that call CUDA for every\n"
          "                     tensor, so the trace holds each request; native: the\n"
          "                     program's own allocator runs and the trace holds the\n"
          "                     segments it got from CUDA\n"
          "      --no-frames    do not take the Python stack of each allocation (taken\n"
          "                     by default on threads that hold the GIL, so that oom,\n"
          "                     stats and report can say which line allocated)\n"
          "  -h, --help         show this help and exit\n"
          "\n"
          "When COMMAND failed and the trace holds a failed allocation, the last\n"
          "line says that the program ran out of GPU memory and names the\n"
          "`gpu-trace oom` command that explains it.\n"
          "\n"
          "Environment: GPUTRACE_INJECT names the injection library (default: " INJECT_NAME "\n"
          "next to gpu-trace, in ../lib or in the build tree's tracer/). CUDA_INJECTION64_PATH\n"
          "must not be set: another CUDA tool (Nsight) would be attached already.\n"
          "GPUTRACE_HOSTNAME, when set, is the host name (for %h and the trace).\n"
          "\n"
          "EXAMPLES\n"
          "  gpu-trace record -- python train.py --epochs 1\n"
          "  gpu-trace record -o run.db torchrun --nproc-per-node 2 train.py\n"
          "  gpu-trace record --mode native -o native.db python train.py\n"
          "  srun gpu-trace record -o 'run-%h-%r.db' -- python train.py\n"
          "  gpu-trace analyze run.db\n",
          f);
}

static int parse_mode(const char *text, enum gt_drain_mode *out)
{
    if (strcmp(text, GT_SCHEMA_MODE_REQUESTS) == 0) {
        *out = GT_DRAIN_REQUESTS;
        return 0;
    }
    if (strcmp(text, GT_SCHEMA_MODE_NATIVE) == 0) {
        *out = GT_DRAIN_NATIVE;
        return 0;
    }
    cli_error("invalid mode '%s': expected requests or native", text);
    return CLI_EXIT_ERROR;
}

/* Fills args from argv; returns 0, -1 after --help, or the exit code of a
 * printed error. The leading '+' stops at COMMAND, so its own options stay
 * its own: `record python -u x.py` does not see -u. */
static int parse_args(int argc, char **argv, struct record_args *args)
{
    static const struct option longopts[] = {{"output", required_argument, NULL, 'o'},
                                             {"mode", required_argument, NULL, 'm'},
                                             {"no-frames", no_argument, NULL, 'F'},
                                             {"help", no_argument, NULL, 'h'},
                                             {NULL, 0, NULL, 0}};
    const char *mode = NULL;
    int c;

    opterr = 0;
    while ((c = getopt_long(argc, argv, "+:o:m:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'o':
            args->output = optarg;
            break;
        case 'm':
            mode = optarg;
            break;
        case 'F':
            args->no_frames = true;
            break;
        case 'h':
            usage(stdout);
            return -1;
        default:
            return cli_option_error("record", c, argv);
        }
    }
    if (optind >= argc)
        return cli_usage_error("record", "missing COMMAND to run");
    if (args->output != NULL && args->output[0] == '\0')
        return cli_usage_error("record", "empty output file name");
    args->cmd = argv + optind;
    if (mode != NULL && parse_mode(mode, &args->mode) != 0)
        return CLI_EXIT_ERROR;
    return 0;
}

/* ------------------------------------------------------------ setup */

/* Replaces args->output by its expansion in out (len bytes): %h, %r, %p
 * and %% (gt_record_expand_output). 0, or the exit code of the printed
 * error: a usage error for a pattern no environment could expand. */
static int expand_output(struct record_args *args, const struct gt_record_name *name, char *out,
                         size_t len)
{
    char err[256] = "";
    int rc;

    if (args->output == NULL)
        return 0;
    rc = gt_record_expand_output(args->output, name, out, len, err, sizeof err);
    if (rc == GT_EINVAL)
        return cli_usage_error("record", "-o '%s': %s", args->output, err);
    if (rc != GT_OK) {
        cli_error("cannot name the trace '%s': %s", args->output, err);
        return CLI_EXIT_ERROR;
    }
    args->output = out;
    return 0;
}

/* NULL if path is a readable regular file, else why not. */
static const char *unreadable(const char *path)
{
    struct stat sb;

    if (stat(path, &sb) != 0 || access(path, R_OK) != 0)
        return strerror(errno);
    return S_ISREG(sb.st_mode) ? NULL : "not a regular file";
}

/* The injection library as an absolute path (the driver dlopens it from the
 * program's working folder, which may not be ours). */
static int find_inject(char *out, size_t len)
{
    static const char *const rel[] = {INJECT_NAME, "../lib/" INJECT_NAME, "tracer/" INJECT_NAME};
    const char *env = getenv("GPUTRACE_INJECT");
    char exe[PATH_MAX], cand[PATH_MAX + 64], abs[PATH_MAX];
    ssize_t n;

    if (env != NULL && env[0] != '\0') {
        const char *why = unreadable(env);
        if (why == NULL && realpath(env, abs) == NULL)
            why = strerror(errno);
        if (why != NULL) {
            cli_error("cannot use the injection library '%s' (GPUTRACE_INJECT): %s", env, why);
            return CLI_EXIT_ERROR;
        }
        snprintf(out, len, "%s", abs);
        return 0;
    }
    n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash != NULL)
            *slash = '\0';
        for (size_t i = 0; i < sizeof rel / sizeof rel[0]; i++) {
            snprintf(cand, sizeof cand, "%s/%s", exe, rel[i]);
            if (unreadable(cand) == NULL && realpath(cand, abs) != NULL &&
                (size_t)snprintf(out, len, "%s", abs) < len)
                return 0;
        }
    } else {
        snprintf(exe, sizeof exe, "?");
    }
    cli_error("cannot find the injection library '" INJECT_NAME
              "' next to '%s', in ../lib or tracer/; set GPUTRACE_INJECT to its path",
              exe);
    return CLI_EXIT_ERROR;
}

/* Creates the trace: args->output, or the first free default name. The
 * writer creates with O_EXCL, so a name taken between the check and the
 * create is an error there, never an overwrite. */
static int create_trace(const struct record_args *args, char *path, size_t len,
                        struct gt_trace_writer **w)
{
    char err[256] = "", stamp[32];
    struct stat sb;
    struct tm tm;
    time_t now = time(NULL);
    int rc;

    if (args->output != NULL) {
        snprintf(path, len, "%s", args->output);
        if (lstat(path, &sb) == 0) {
            cli_error("cannot create '%s': the file exists (a trace is never overwritten)", path);
            return CLI_EXIT_ERROR;
        }
    } else {
        localtime_r(&now, &tm);
        strftime(stamp, sizeof stamp, "%Y%m%d-%H%M%S", &tm);
        for (int i = 0;; i++) {
            if (i == MAX_SUFFIX) {
                cli_error("cannot create 'gpu-trace-%s.db': %d names taken; use -o", stamp,
                          MAX_SUFFIX);
                return CLI_EXIT_ERROR;
            }
            if (i == 0)
                snprintf(path, len, "gpu-trace-%s.db", stamp);
            else
                snprintf(path, len, "gpu-trace-%s-%d.db", stamp, i);
            if (lstat(path, &sb) != 0 && errno == ENOENT)
                break;
        }
    }
    rc = gt_trace_create(path, w, err, sizeof err);
    if (rc != GT_OK) {
        cli_error("cannot create '%s': %s", path, err[0] != '\0' ? err : gt_strerror(rc));
        return CLI_EXIT_ERROR;
    }
    return 0;
}

/* The allocator settings the program would have run with (the newer
 * spelling first, as PyTorch reads it). */
static const char *user_alloc_conf(const char **name)
{
    const char *v = getenv("PYTORCH_ALLOC_CONF");

    *name = "PYTORCH_ALLOC_CONF";
    if (v == NULL) {
        v = getenv("PYTORCH_CUDA_ALLOC_CONF");
        *name = "PYTORCH_CUDA_ALLOC_CONF";
    }
    return v;
}

static int set_meta(struct gt_trace_writer *w, const char *key, const char *value)
{
    int rc = gt_trace_set_meta(w, key, value);

    if (rc != GT_OK)
        cli_error("cannot write the trace: %s", gt_trace_writer_errmsg(w));
    return rc;
}

static int write_start_meta(struct gt_trace_writer *w, const struct record_args *args,
                            const char *host)
{
    char when[32], *line;
    const char *conf_name, *conf = user_alloc_conf(&conf_name);
    size_t len = 1;
    struct tm tm;
    time_t now = time(NULL);
    int rc;

    for (char **a = args->cmd; *a != NULL; a++)
        len += strlen(*a) + 1;
    if ((line = malloc(len)) == NULL) {
        cli_error("out of memory");
        return GT_ENOMEM;
    }
    line[0] = '\0';
    for (char **a = args->cmd, *p = line; *a != NULL; a++)
        p += snprintf(p, len - (size_t)(p - line), "%s%s", a == args->cmd ? "" : " ", *a);
    gmtime_r(&now, &tm);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);

    rc = set_meta(w, "tool_version", GT_VERSION);
    if (rc == GT_OK)
        rc = set_meta(w, "command_line", line);
    if (rc == GT_OK)
        rc = set_meta(w, "host", host);
    if (rc == GT_OK)
        rc = set_meta(w, "start_time", when);
    if (rc == GT_OK)
        rc = set_meta(w, "recording_mode",
                      args->mode == GT_DRAIN_NATIVE ? GT_SCHEMA_MODE_NATIVE
                                                    : GT_SCHEMA_MODE_REQUESTS);
    /* Requests mode replaces the allocator for the recording; the analyzer
     * wants the settings the program runs with otherwise. Unset is the
     * default config, which "" says. */
    if (rc == GT_OK)
        rc = set_meta(w, "alloc_conf", conf != NULL ? conf : "");
    free(line);
    return rc;
}

/* Rings go to /dev/shm when it is a tmpfs with room to spare: its pages are
 * never written back, while on a disk file system each writeback
 * write-protects the ring's pages again and the program's next record
 * takes a fault (bench/tracer.sh: ~155 -> ~121 ns a callback). "Room" is
 * GT_SHM_MIN_FREE, far above a ring (~6 MiB) times the processes of a
 * run, so a container's small /dev/shm (64 MiB in Docker) is passed over. */
#define GT_SHM_DIR "/dev/shm"
#define GT_SHM_MIN_FREE ((uint64_t)1 << 30)
#define GT_TMPFS_MAGIC 0x01021994 /* linux/magic.h TMPFS_MAGIC */

static bool shm_roomy(void)
{
    struct statfs fs;
    if (statfs(GT_SHM_DIR, &fs) != 0 || (unsigned long)fs.f_type != GT_TMPFS_MAGIC)
        return false;
    return (uint64_t)fs.f_bavail * (uint64_t)fs.f_bsize >= GT_SHM_MIN_FREE &&
           access(GT_SHM_DIR, W_OK | X_OK) == 0;
}

/* A private folder for the rings: 0700, so no other user can plant or read
 * a ring file. In /dev/shm (above), else in $TMPDIR or /tmp. */
static int make_ring_dir(char *out, size_t len)
{
    const char *tmp = getenv("TMPDIR");

    if (tmp == NULL || tmp[0] == '\0')
        tmp = "/tmp";
    if (shm_roomy() && (size_t)snprintf(out, len, "%s/gpu-trace-XXXXXX", GT_SHM_DIR) < len &&
        mkdtemp(out) != NULL)
        return 0;
    if ((size_t)snprintf(out, len, "%s/gpu-trace-XXXXXX", tmp) >= len || mkdtemp(out) == NULL) {
        cli_error("cannot create a folder for the ring files in '%s': %s", tmp, strerror(errno));
        return CLI_EXIT_ERROR;
    }
    return 0;
}

static void remove_ring_dir(const char *dir)
{
    char path[PATH_MAX + 300];
    struct dirent *e;
    DIR *d = opendir(dir);

    if (d == NULL)
        return;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        unlink(path);
    }
    closedir(d);
    rmdir(dir);
}

/* ------------------------------------------------------------ signals */

/* Async-signal-safe: one byte for the signal, one for whether a process
 * sent it (si_code <= 0 on Linux: kill, sigqueue, tgkill) rather than the
 * terminal or the kernel. */
static void on_signal(int sig, siginfo_t *info, void *uctx)
{
    unsigned char msg[2] = {(unsigned char)sig, info != NULL && info->si_code <= 0};
    int saved = errno;

    (void)uctx;
    if (write(sig_pipe[1], msg, sizeof msg) < 0) {
        /* a full pipe: the signal is dropped, as a pending one would be */
    }
    errno = saved;
}

static int set_cloexec_nonblock(int fd)
{
    int fl = fcntl(fd, F_GETFD);

    if (fl < 0 || fcntl(fd, F_SETFD, fl | FD_CLOEXEC) < 0)
        return -1;
    fl = fcntl(fd, F_GETFL);
    return fl < 0 ? -1 : fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static int install_signals(struct sigaction *old)
{
    struct sigaction sa;

    if (pipe(sig_pipe) != 0 || set_cloexec_nonblock(sig_pipe[0]) != 0 ||
        set_cloexec_nonblock(sig_pipe[1]) != 0) {
        cli_error("cannot set up signal forwarding: %s", strerror(errno));
        return CLI_EXIT_ERROR;
    }
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_signal;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    for (size_t i = 0; i < NFORWARDED; i++) {
        /* A signal ignored on entry (nohup, a shell's background job) stays
         * ignored, for us and for the program, as the shell promised. */
        sigaction(forwarded[i], NULL, &old[i]);
        if (old[i].sa_handler != SIG_IGN)
            sigaction(forwarded[i], &sa, NULL);
    }
    return 0;
}

static void restore_signals(const struct sigaction *old)
{
    for (size_t i = 0; i < NFORWARDED; i++)
        sigaction(forwarded[i], &old[i], NULL);
    for (int i = 0; i < 2; i++) {
        if (sig_pipe[i] >= 0)
            close(sig_pipe[i]);
        sig_pipe[i] = -1;
    }
}

/* Passes on what arrived since the last call; true if anything arrived. */
static bool forward_signals(pid_t child, bool child_running)
{
    unsigned char msg[2];
    bool any = false;

    while (read(sig_pipe[0], msg, sizeof msg) == (ssize_t)sizeof msg) {
        any = true;
        bool group_got_it = !msg[1] && (msg[0] == SIGINT || msg[0] == SIGQUIT || msg[0] == SIGHUP);
        if (child_running && !group_got_it)
            kill(child, msg[0]);
    }
    return any;
}

/* ------------------------------------------------------------ the child */

/* In the child, between fork and exec: the environment of the traced
 * program. Returns 0 or an errno value. */
static int child_env(const struct record_args *args, const char *inject, const char *ring_dir)
{
    if (setenv("CUDA_INJECTION64_PATH", inject, 1) != 0 ||
        setenv(GT_RING_ENV_DIR, ring_dir, 1) != 0 ||
        setenv(GT_RING_ENV_FRAMES, args->no_frames ? "0" : "1", 1) != 0)
        return errno;
    if (args->mode == GT_DRAIN_NATIVE)
        return 0;
    /* Requests mode: allocators that call CUDA for every tensor (docs/notes/cupti.md
     * §4.2, §4.3). PyTorch reads PYTORCH_ALLOC_CONF first where it knows
     * it, so both spellings are set. */
    if (setenv("PYTORCH_CUDA_ALLOC_CONF", "backend:cudaMallocAsync", 1) != 0 ||
        setenv("PYTORCH_ALLOC_CONF", "backend:cudaMallocAsync", 1) != 0 ||
        setenv("XLA_PYTHON_CLIENT_ALLOCATOR", "platform", 1) != 0 ||
        setenv("TF_GPU_ALLOCATOR", "cuda_malloc_async", 1) != 0)
        return errno;
    return 0;
}

/* Never returns: execs the program, or reports errno through fd and exits
 * 127. Only async-signal-safe calls besides setenv, which is safe here
 * because the launcher has a single thread. */
static void run_child(const struct record_args *args, const char *inject, const char *ring_dir,
                      const struct sigaction *old, const sigset_t *mask, int fd)
{
    int err;

    for (size_t i = 0; i < NFORWARDED; i++)
        sigaction(forwarded[i], &old[i], NULL);
    sigprocmask(SIG_SETMASK, mask, NULL);
    err = child_env(args, inject, ring_dir);
    if (err == 0) {
        execvp(args->cmd[0], args->cmd);
        err = errno;
    }
    if (write(fd, &err, sizeof err) < 0) {
        /* the parent then sees no error and an exit of 127 */
    }
    _exit(EXIT_CANNOT_RUN);
}

/* Forks and execs the program. Returns its pid, or -1 after printing why it
 * could not start. */
static pid_t start_child(const struct record_args *args, const char *inject, const char *ring_dir,
                         const struct sigaction *old)
{
    int fds[2], err = 0;
    sigset_t block, saved;
    pid_t pid;
    ssize_t n;

    if (pipe(fds) != 0 || set_cloexec_nonblock(fds[1]) != 0) {
        cli_error("cannot run '%s': %s", args->cmd[0], strerror(errno));
        return -1;
    }
    fcntl(fds[0], F_SETFD, FD_CLOEXEC);
    /* No handler may run in the child before it restored the defaults. */
    sigemptyset(&block);
    for (size_t i = 0; i < NFORWARDED; i++)
        sigaddset(&block, forwarded[i]);
    sigprocmask(SIG_BLOCK, &block, &saved);
    pid = fork();
    if (pid == 0) {
        close(fds[0]);
        run_child(args, inject, ring_dir, old, &saved, fds[1]);
    }
    err = errno;
    sigprocmask(SIG_SETMASK, &saved, NULL);
    close(fds[1]);
    if (pid < 0) {
        close(fds[0]);
        cli_error("cannot run '%s': %s", args->cmd[0], strerror(err));
        return -1;
    }
    /* exec closes the write end: EOF means it ran, 4 bytes are its errno. */
    do
        n = read(fds[0], &err, sizeof err);
    while (n < 0 && errno == EINTR);
    close(fds[0]);
    if (n == (ssize_t)sizeof err) {
        waitpid(pid, NULL, 0);
        cli_error("cannot run '%s': %s", args->cmd[0], strerror(err));
        return -1;
    }
    return pid;
}

/* ------------------------------------------------------------ recording */

struct session {
    const char *trace;
    struct gt_trace_writer *w;
    struct gt_drain *d;
    bool drain_failed;
};

static void on_notify(void *ctx, const char *msg)
{
    (void)ctx;
    cli_warning("%s", msg);
}

static void on_note(void *ctx, const char *msg)
{
    (void)ctx;
    fprintf(stderr, "gpu-trace: %s\n", msg);
}

/* Tells the tracer where the program's environment keeps CUPTI (pip's
 * wheels, conda, the toolkit: cupti_find.h), unless the user named one.
 * Set in the launcher, before the fork, so the search runs once. */
static void export_cupti_candidates(const char *command)
{
    static char found[8192];
    struct gt_cupti_env env;

    if (getenv(GT_RING_ENV_CUPTI) != NULL)
        return;
    gt_cupti_env_from_process(&env);
    if (gt_cupti_find(command, &env, found, sizeof found) > 0)
        setenv(GT_RING_ENV_CUPTI_CANDIDATES, found, 1);
    else
        unsetenv(GT_RING_ENV_CUPTI_CANDIDATES);
}

static int64_t mono_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* One poll of the rings; true when it read enough to poll again at once. */
static bool drain_step(struct session *s)
{
    struct gt_drain_stats before, after;

    if (s->drain_failed)
        return false;
    gt_drain_stats(s->d, &before);
    if (gt_drain_poll(s->d, 0) != GT_OK) {
        /* The program keeps running: its rings fill up and count drops. */
        cli_error("cannot write '%s': %s", s->trace, gt_drain_errmsg(s->d));
        s->drain_failed = true;
        return false;
    }
    gt_drain_stats(s->d, &after);
    return after.records - before.records >= BUSY_RECORDS;
}

/* Drains until the child exits and its processes' rings are done (or the
 * grace period for grandchildren is over). Returns its wait status. */
static int supervise(struct session *s, pid_t child)
{
    int status = 0;
    bool running = true;
    int64_t deadline = 0;
    struct pollfd pfd = {.fd = sig_pipe[0], .events = POLLIN};
    bool busy = false;

    for (;;) {
        poll(&pfd, 1, busy ? 0 : POLL_MS);
        bool signalled = forward_signals(child, running);
        if (running) {
            pid_t r = waitpid(child, &status, WNOHANG);
            if (r == child || (r < 0 && errno == ECHILD)) {
                running = false;
                gt_drain_exited(s->d, child);
                deadline = mono_ns() + LINGER_NS;
            }
        } else if (signalled) {
            break; /* asked to stop while waiting for stragglers: stop now */
        }
        busy = drain_step(s);
        if (!running && (s->drain_failed || gt_drain_done(s->d) || mono_ns() >= deadline))
            break;
    }
    return status;
}

static int exit_code(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return CLI_EXIT_ERROR;
}

static void write_end_meta(struct gt_trace_writer *w, int status)
{
    char buf[32];

    if (WIFEXITED(status)) {
        snprintf(buf, sizeof buf, "%d", WEXITSTATUS(status));
        set_meta(w, "exit_code", buf);
    } else if (WIFSIGNALED(status)) {
        snprintf(buf, sizeof buf, "%d", WTERMSIG(status));
        set_meta(w, "exit_signal", buf);
    }
}

/* The summary line. When the program failed and the trace holds a request
 * it did not get (the OOMs `gpu-trace oom` explains: st->failed_requests
 * counts gt_event_failed_request, its definition), the program died of an
 * out-of-memory error, and the line ends with the command that explains
 * it, the path quoted for the shell. */
static void print_summary(const char *trace, const struct gt_drain_stats *st, int status)
{
    char lost[64] = "";
    bool died_of_oom = exit_code(status) != 0 && st->failed_requests > 0;

    if (st->lost > 0)
        snprintf(lost, sizeof lost, ", %" PRId64 " %s lost", st->lost,
                 st->lost == 1 ? "event" : "events");
    fprintf(stderr, "gpu-trace: recorded %" PRId64 " %s from %" PRId64 " %s into '%s'%s%s",
            st->events, st->events == 1 ? "event" : "events", st->processes,
            st->processes == 1 ? "process" : "processes", trace, lost,
            st->processes == 0 ? " (no process started CUDA)" : "");
    if (died_of_oom) {
        fputs("; the program ran out of GPU memory: gpu-trace oom ", stderr);
        /* A name starting with '-' would be read as an option. */
        if (trace[0] == '-')
            fputs("./", stderr);
        gt_report_shell_word(stderr, trace);
    }
    fputc('\n', stderr);
}

int cmd_record(int argc, char **argv)
{
    struct record_args args = {0};
    struct sigaction old[NFORWARDED];
    struct gt_drain_stats st = {0};
    struct session s = {0};
    struct gt_record_name name;
    char inject[PATH_MAX], ring_dir[PATH_MAX], trace[PATH_MAX], err[256] = "";
    char host[256], output[PATH_MAX];
    const char *incumbent;
    int rc, status;
    pid_t child;

    rc = parse_args(argc, argv, &args);
    if (rc != 0)
        return rc < 0 ? CLI_EXIT_OK : rc;
    gt_record_name_from_env(&name, host, sizeof host);
    if ((rc = expand_output(&args, &name, output, sizeof output)) != 0)
        return rc;
    incumbent = getenv("CUDA_INJECTION64_PATH");
    if (incumbent != NULL && incumbent[0] != '\0') {
        cli_error("CUDA_INJECTION64_PATH is already set to '%s': another CUDA tool (such as "
                  "Nsight) is attached; unset it to record",
                  incumbent);
        return CLI_EXIT_ERROR;
    }
    if (find_inject(inject, sizeof inject) != 0)
        return CLI_EXIT_ERROR;
    if (create_trace(&args, trace, sizeof trace, &s.w) != 0)
        return CLI_EXIT_ERROR;
    s.trace = trace;
    struct gt_drain_options opts = {.mode = args.mode, .notify = on_notify, .note = on_note};
    if (write_start_meta(s.w, &args, host) != GT_OK ||
        make_ring_dir(ring_dir, sizeof ring_dir) != 0) {
        gt_trace_writer_close(s.w);
        unlink(trace);
        return CLI_EXIT_ERROR;
    }
    rc = gt_drain_open(ring_dir, s.w, &opts, &s.d, err, sizeof err);
    if (rc == GT_OK && install_signals(old) != 0)
        rc = GT_EIO;
    else if (rc != GT_OK)
        cli_error("cannot record: %s", err[0] != '\0' ? err : gt_strerror(rc));
    if (rc != GT_OK) {
        gt_drain_close(s.d, NULL);
        gt_trace_writer_close(s.w);
        unlink(trace);
        remove_ring_dir(ring_dir);
        return CLI_EXIT_ERROR;
    }

    export_cupti_candidates(args.cmd[0]);
    child = start_child(&args, inject, ring_dir, old);
    if (child < 0) {
        restore_signals(old);
        gt_drain_close(s.d, NULL);
        gt_trace_writer_close(s.w);
        unlink(trace);
        remove_ring_dir(ring_dir);
        return EXIT_CANNOT_RUN;
    }
    status = supervise(&s, child);
    restore_signals(old);

    write_end_meta(s.w, status);
    rc = gt_drain_close(s.d, &st);
    if (rc != GT_OK && !s.drain_failed) {
        cli_error("cannot write '%s': %s", trace, gt_strerror(rc));
        s.drain_failed = true;
    }
    if (gt_trace_writer_close(s.w) != GT_OK && !s.drain_failed) {
        cli_error("cannot write '%s': the last events were not saved", trace);
        s.drain_failed = true;
    }
    if (s.drain_failed)
        /* What the trace lacks is still in the rings: keep them. */
        cli_warning("the ring files are kept in '%s'", ring_dir);
    else
        remove_ring_dir(ring_dir);
    print_summary(trace, &st, status);
    return exit_code(status);
}
