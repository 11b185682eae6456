/* Where the CUPTI library of a program to be recorded is (cupti_find.h). */
#define _DEFAULT_SOURCE /* realpath */
#include "gputrace/cupti_find.h"

#include <ctype.h>
#include <dirent.h>
#include <glob.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gputrace/banned.h"

/* The list being built: files joined by ':' in buf, and their real paths
 * so that one file reached through two folders is listed once. */
struct found {
    char *buf;
    size_t len, used, count;
    char real[16][PATH_MAX];
    size_t nreal;
    bool full; /* a file did not fit: later ones are dropped too, keeping the order */
};

static bool is_set(const char *s)
{
    return s != NULL && s[0] != '\0';
}

static void add_file(struct found *f, const char *file)
{
    char real[PATH_MAX];
    if (f->full || strchr(file, ':') != NULL || realpath(file, real) == NULL)
        return;
    for (size_t i = 0; i < f->nreal; i++)
        if (strcmp(f->real[i], real) == 0)
            return;
    size_t n = strlen(file), sep = f->used > 0;
    if (f->nreal == sizeof f->real / sizeof *f->real || f->used + sep + n + 1 > f->len) {
        f->full = true;
        return;
    }
    snprintf(f->real[f->nreal++], PATH_MAX, "%s", real);
    snprintf(f->buf + f->used, f->len - f->used, "%s%s", sep ? ":" : "", file);
    f->used += sep + n;
    f->count++;
}

/* The N of "libcupti.so.N" (digits only: the soname), or -1. */
static long soname_version(const char *name)
{
    static const char prefix[] = "libcupti.so.";
    if (strncmp(name, prefix, sizeof prefix - 1) != 0)
        return -1;
    const char *v = name + sizeof prefix - 1;
    if (*v == '\0' || strlen(v) > 6)
        return -1;
    for (const char *c = v; *c != '\0'; c++)
        if (!isdigit((unsigned char)*c))
            return -1;
    return strtol(v, NULL, 10);
}

/* The best libcupti of folder `dir`: the highest soname, else libcupti.so. */
static void add_folder(struct found *f, const char *dir)
{
    DIR *d = opendir(dir);
    if (d == NULL)
        return;
    char best[NAME_MAX + 1] = "";
    long best_version = -1;
    bool plain = false;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        long v = soname_version(e->d_name);
        if (v > best_version) {
            best_version = v;
            snprintf(best, sizeof best, "%s", e->d_name);
        }
        plain = plain || strcmp(e->d_name, "libcupti.so") == 0;
    }
    closedir(d);
    char file[PATH_MAX];
    if (best_version >= 0 || plain) {
        if (snprintf(file, sizeof file, "%s/%s", dir, best_version >= 0 ? best : "libcupti.so") <
            (int)sizeof file)
            add_file(f, file);
    }
}

/* Every folder matching `prefix` + `pattern` (a glob), in glob's order. */
static void add_glob(struct found *f, const char *prefix, const char *pattern)
{
    char pat[PATH_MAX];
    if (!is_set(prefix) || snprintf(pat, sizeof pat, "%s%s", prefix, pattern) >= (int)sizeof pat)
        return;
    glob_t g;
    if (glob(pat, GLOB_ONLYDIR, NULL, &g) == 0) {
        /* An installation may hold several Pythons (python3.10, python3.11):
         * any may be the program's, so every one is listed. */
        for (size_t i = 0; i < g.gl_pathc; i++)
            add_folder(f, g.gl_pathv[i]);
    }
    globfree(&g);
}

/* pip's NVIDIA wheels under Python prefix `prefix` (a venv, conda env or
 * installation): CUDA 13's layout first, then CUDA 12's. */
static void add_python_prefix(struct found *f, const char *prefix)
{
    static const char *const wheels[] = {
        "/lib/python3*/site-packages/nvidia/cu13/lib",
        "/lib/python3*/site-packages/nvidia/cuda_cupti/lib",
        "/lib/python3*/dist-packages/nvidia/cu13/lib", /* Debian's pip */
        "/lib/python3*/dist-packages/nvidia/cuda_cupti/lib",
        "/local/lib/python3*/dist-packages/nvidia/cu13/lib",
        "/local/lib/python3*/dist-packages/nvidia/cuda_cupti/lib",
    };
    for (size_t i = 0; i < sizeof wheels / sizeof *wheels; i++)
        add_glob(f, prefix, wheels[i]);
}

/* The toolkit rooted at `root`: its CUPTI folder, then its lib64. */
static void add_toolkit(struct found *f, const char *root)
{
    add_glob(f, root, "/extras/CUPTI/lib64");
    add_glob(f, root, "/lib64");
    add_glob(f, root, "/targets/*/lib");
}

/* `command` as a file: itself when it holds a '/', else the first
 * executable of that name in `path`. */
/* An executable regular file: never a FIFO or a device, whose first line
 * script_python would wait for. */
static bool is_program(const char *file)
{
    struct stat st;
    return access(file, X_OK) == 0 && stat(file, &st) == 0 && S_ISREG(st.st_mode);
}

static bool resolve_command(const char *command, const char *path, char *out, size_t len)
{
    if (strchr(command, '/') != NULL)
        return snprintf(out, len, "%s", command) < (int)len && is_program(out);
    for (const char *p = path; is_set(p);) {
        const char *end = strchr(p, ':');
        int n = end != NULL ? (int)(end - p) : (int)strlen(p);
        if (n > 0 && snprintf(out, len, "%.*s/%s", n, p, command) < (int)len && is_program(out))
            return true;
        p = end != NULL ? end + 1 : NULL;
    }
    return false;
}

/* The last component of a path. */
static const char *base_name(const char *file)
{
    const char *slash = strrchr(file, '/');
    return slash != NULL ? slash + 1 : file;
}

static bool names_python(const char *file)
{
    return strncmp(base_name(file), "python", 6) == 0;
}

/* The interpreter of script `file` when its #! line names a Python, either
 * directly (#!/venv/bin/python3) or through env (#!/usr/bin/env python3). */
static bool script_python(const char *file, const char *path, char *out, size_t len)
{
    FILE *fp = fopen(file, "r");
    if (fp == NULL)
        return false;
    char line[512] = "";
    bool ok = fgets(line, sizeof line, fp) != NULL;
    fclose(fp);
    if (!ok || strncmp(line, "#!", 2) != 0)
        return false;
    char *save = NULL, *interp = strtok_r(line + 2, " \t\r\n", &save);
    if (interp == NULL)
        return false;
    if (strcmp(base_name(interp), "env") == 0) {
        char *word;
        while ((word = strtok_r(NULL, " \t\r\n", &save)) != NULL && word[0] == '-')
            ; /* env's own options (-S) */
        return word != NULL && names_python(word) && resolve_command(word, path, out, len);
    }
    return names_python(interp) && snprintf(out, len, "%s", interp) < (int)len;
}

/* The Python prefixes of the command's interpreter: the folder above its
 * bin/ as named (a venv's, whose python is a link to the base one) and as
 * resolved (the base installation's). */
static void add_command_python(struct found *f, const char *command, const char *path)
{
    char file[PATH_MAX], interp[PATH_MAX], real[PATH_MAX];
    if (!is_set(command) || !resolve_command(command, path, file, sizeof file))
        return;
    if (names_python(file))
        snprintf(interp, sizeof interp, "%s", file);
    else if (!script_python(file, path, interp, sizeof interp))
        return;
    const char *names[2] = {interp, realpath(interp, real)};
    for (size_t i = 0; i < 2; i++) {
        char prefix[PATH_MAX];
        if (names[i] == NULL || snprintf(prefix, sizeof prefix, "%s", names[i]) >= PATH_MAX)
            continue;
        for (int up = 0; up < 2; up++) { /* .../bin/python -> ... */
            char *slash = strrchr(prefix, '/');
            if (slash == NULL)
                break;
            *slash = '\0';
        }
        add_python_prefix(f, prefix[0] != '\0' ? prefix : "/");
    }
}

void gt_cupti_env_from_process(struct gt_cupti_env *env)
{
    env->path = getenv("PATH");
    env->virtual_env = getenv("VIRTUAL_ENV");
    env->conda_prefix = getenv("CONDA_PREFIX");
    env->cuda_home = getenv("CUDA_HOME");
    env->cuda_path = getenv("CUDA_PATH");
    env->home = getenv("HOME");
    env->system_cuda = "/usr/local/cuda";
}

size_t gt_cupti_find(const char *command, const struct gt_cupti_env *env, char *buf, size_t len)
{
    struct found *f = calloc(1, sizeof *f);
    if (f == NULL || len == 0) {
        free(f);
        return 0;
    }
    f->buf = buf;
    f->len = len;
    buf[0] = '\0';
    add_command_python(f, command, env->path);
    add_python_prefix(f, env->virtual_env);
    add_python_prefix(f, env->conda_prefix);
    if (is_set(env->home)) {
        char user[PATH_MAX];
        if (snprintf(user, sizeof user, "%s/.local", env->home) < (int)sizeof user)
            add_python_prefix(f, user);
    }
    add_glob(f, env->conda_prefix, "/lib");
    add_toolkit(f, env->cuda_home);
    add_toolkit(f, env->cuda_path);
    add_toolkit(f, env->system_cuda);
    size_t count = f->count;
    free(f);
    return count;
}
