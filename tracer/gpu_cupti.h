/* The one seam between the injection library and CUPTI: every CUPTI call of
 * the tracer goes through these functions, which call CUPTI through
 * pointers resolved with dlsym. The library is never linked against libcupti
 * (docs/notes/cupti.md §0.5, §1.6): it binds to the CUPTI the process already has
 * mapped (PyTorch's wheel preloads one), or to $GPUTRACE_CUPTI, which is how
 * the tests substitute their double. Only the types and enums of cuda_abi.h are
 * used at compile time. */
#ifndef GPUTRACE_GPU_CUPTI_H
#define GPUTRACE_GPU_CUPTI_H

#include <stddef.h>
#include <stdint.h>

#include "cuda_abi.h"

/* Loads CUPTI and resolves its entry points: `path` if not NULL (no
 * fallback: a path the user chose that fails is an error), else a libcupti
 * already mapped in the process (.so.13, .so.12, .so), else the first of
 * the colon-separated files in `candidates` (may be NULL) that loads, else
 * libcupti.so.13, .so.12 or .so from the loader's search path. Returns 0,
 * or -1 with a reason in err[errlen]. Call once, before any other function
 * here. */
int gt_cupti_load(const char *path, const char *candidates, char *err, size_t errlen);

/* The file CUPTI was loaded from, with the folder the loader found it in,
 * or "" before gt_cupti_load. */
const char *gt_cupti_loaded_path(void);

/* Subscribes `cb` with cuptiSubscribe_v2 (subscriber name "gpu-trace"), or
 * cuptiSubscribe when the loaded CUPTI lacks _v2. Returns CUPTI_SUCCESS or
 * CUPTI's error, with a sentence in err[errlen] that names the code and, when
 * CUPTI reported one, the subscriber already active. */
CUptiResult gt_cupti_subscribe(CUpti_CallbackFunc cb, void *userdata, char *err, size_t errlen);

/* cuptiEnableCallback(1, subscriber, domain, cbid). */
CUptiResult gt_cupti_enable(CUpti_CallbackDomain domain, CUpti_CallbackId cbid);

/* cuptiUnsubscribe, for a failed start only: never at exit (docs/notes/cupti.md §1.3). */
void gt_cupti_unsubscribe(void);

/* CUPTI's name for `r` ("CUPTI_ERROR_UNKNOWN"), or "CUPTI error" when the
 * loaded CUPTI cannot name it. Never NULL. */
const char *gt_cupti_result_name(CUptiResult r);

/* The device ordinal of `ctx`, -1 when ctx is NULL or CUPTI cannot tell. The
 * answer is cached per context uid in a fixed lock-free table, so the hot
 * path calls cuptiGetDeviceId once per context (docs/notes/cupti.md §2.4, §5.2). Safe
 * from callbacks on any thread. */
int32_t gt_cupti_device(CUcontext ctx, uint32_t context_uid);

/* The name and total memory of device `ordinal`, from the CUDA driver the
 * process has loaded (cuDeviceGet, cuDeviceGetName, cuDeviceTotalMem_v2,
 * resolved with dlsym; none of them is a traced call). Returns 0, or -1 when
 * the driver or a function is missing or fails. Called once per device, from
 * a callback: driver calls that are not traced are allowed there. */
int gt_cupti_describe_device(int32_t ordinal, char *name, size_t len, uint64_t *total);

/* gt_cupti_memory_now: the driver's free and total bytes of the current
 * context's device (cuMemGetInfo_v2, resolved like the above). Returns 0, or
 * -1 when the driver or the call fails. Called from a callback right after
 * an allocation failed; the recursion guard hides the call from the tracer. */
int gt_cupti_memory_now(uint64_t *free_bytes, uint64_t *total_bytes);

#endif
