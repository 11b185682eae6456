/* Where the CUPTI library of a program to be recorded is. Most PyTorch users
 * have no CUDA toolkit: pip's wheels bring libcupti inside the Python
 * environment (site-packages/nvidia/cuda_cupti/lib for CUDA 12,
 * site-packages/nvidia/cu13/lib for CUDA 13), conda puts it in
 * $CONDA_PREFIX/lib, and only a toolkit install has it under
 * /usr/local/cuda. None of those folders is on the loader's search path, so
 * `gpu-trace record` looks for them and hands the tracer the list
 * (GPUTRACE_CUPTI_CANDIDATES); the tracer still prefers a CUPTI the process
 * has already mapped (docs/record.md, "Which CUPTI"). */
#ifndef GPUTRACE_CUPTI_FIND_H
#define GPUTRACE_CUPTI_FIND_H

#include <stddef.h>

/* What the search looks at; any field may be NULL or "" (not set). */
struct gt_cupti_env {
    const char *path;         /* $PATH, to find the command */
    const char *virtual_env;  /* $VIRTUAL_ENV */
    const char *conda_prefix; /* $CONDA_PREFIX */
    const char *cuda_home;    /* $CUDA_HOME */
    const char *cuda_path;    /* $CUDA_PATH */
    const char *home;         /* $HOME, for pip's --user installs */
    const char *system_cuda;  /* the toolkit's usual place, /usr/local/cuda */
};

/* The environment of this process, with system_cuda "/usr/local/cuda". */
void gt_cupti_env_from_process(struct gt_cupti_env *env);

/* Writes to buf[len] the libcupti files the program `command` (the first
 * word of the command line, a name looked up in env->path or a path) may
 * load, most likely first, separated by ':': the NVIDIA wheels of its
 * Python (when the command is python or a script run by one, such as
 * torchrun: its #! line names the interpreter), of $VIRTUAL_ENV, of
 * $CONDA_PREFIX and of the user's site-packages, then conda's lib, then
 * $CUDA_HOME, $CUDA_PATH and the system toolkit. In each folder the
 * highest "libcupti.so.N" is taken, else "libcupti.so". Each file appears
 * once (by its real path); a path holding ':' is left out, and a file that
 * does not fit in buf is dropped with the rest. Returns the number listed. */
size_t gt_cupti_find(const char *command, const struct gt_cupti_env *env, char *buf, size_t len);

#endif
