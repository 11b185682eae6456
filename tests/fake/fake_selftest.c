/* fake_selftest STUB_INJECTION FAKE_CUPTI: checks the doubles without the
 * tracer. The fake driver must load the injection once from cuInit, the
 * injection's dlopen of the fake CUPTI must reach the same copy the driver
 * reports to, and callbacks must carry what a tracer reads: nesting order,
 * correlationData kept from ENTER to EXIT, results at EXIT only, params,
 * devices per context, OOM over budget, the subscriber conflict. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_abi.h"

#include "fake_cuda.h"

/* Mirrors fake_inject_stub.c. */
#define STUB_MAX_EVENTS 64
struct stub_event {
    int domain;
    uint32_t cbid;
    int site;
    int has_ret;
    int ret;
    uint64_t corr_data_at_exit;
    uint32_t correlation_id;
    uint32_t device;
    uint64_t size;
    uint64_t out_ptr;
};
struct stub_state {
    int init_calls;
    int subscribe_result;
    int n_events;
    struct stub_event events[STUB_MAX_EVENTS];
    CUpti_SubscriberHandle sub;
    CUptiResult (*subscribe_v2)(CUpti_SubscriberHandle *, CUpti_CallbackFunc, void *,
                                CUpti_SubscriberParams *);
    CUptiResult (*get_device_id)(CUcontext, uint32_t *);
};

static int failures;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fake_selftest:%d: check failed: %s\n", __LINE__, #cond);              \
            failures++;                                                                            \
        }                                                                                          \
    } while (0)

static void check_event(const struct stub_event *e, int domain, uint32_t cbid, int site)
{
    CHECK(e->domain == domain);
    CHECK(e->cbid == cbid);
    CHECK(e->site == site);
    /* functionReturnValue exists at EXIT only. */
    CHECK(e->has_ret == (site == CUPTI_API_EXIT));
}

int main(int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: fake_selftest STUB_INJECTION FAKE_CUPTI\n");
        return 2;
    }
    setenv("CUDA_INJECTION64_PATH", argv[1], 1);
    setenv("GPUTRACE_CUPTI", argv[2], 1);
    setenv("FAKE_CUDA_MEMORY", "64M", 1);
    unsetenv("FAKE_CUPTI_BUSY");

    /* Before cuInit the driver refuses, as the real one does. */
    CUdeviceptr d = 0;
    CHECK(cuMemAlloc_v2(&d, 4096) == CUDA_ERROR_NOT_INITIALIZED);
    CHECK(cuInit(0) == CUDA_SUCCESS);
    CHECK(cuInit(0) == CUDA_SUCCESS);

    /* The driver loaded the stub RTLD_LOCAL; this dlopen returns that copy. */
    void *stub = dlopen(argv[1], RTLD_NOW | RTLD_NOLOAD);
    CHECK(stub != NULL);
    if (stub == NULL)
        return 1;
    struct stub_state *st = dlsym(stub, "stub_state");
    CHECK(st != NULL);
    if (st == NULL)
        return 1;
    CHECK(st->init_calls == 1);
    CHECK(st->subscribe_result == CUPTI_SUCCESS);

    /* Runtime malloc: rt ENTER, drv ENTER, drv EXIT, rt EXIT on device 0. */
    void *p = NULL;
    CHECK(fake_cudaMalloc(&p, 1 << 20) == 0);
    CHECK(p != NULL);
    CHECK(st->n_events == 4);
    const struct stub_event *e = st->events;
    check_event(&e[0], CUPTI_CB_DOMAIN_RUNTIME_API, CUPTI_RUNTIME_TRACE_CBID_cudaMalloc_v3020,
                CUPTI_API_ENTER);
    check_event(&e[1], CUPTI_CB_DOMAIN_DRIVER_API, CUPTI_DRIVER_TRACE_CBID_cuMemAlloc_v2,
                CUPTI_API_ENTER);
    check_event(&e[2], CUPTI_CB_DOMAIN_DRIVER_API, CUPTI_DRIVER_TRACE_CBID_cuMemAlloc_v2,
                CUPTI_API_EXIT);
    check_event(&e[3], CUPTI_CB_DOMAIN_RUNTIME_API, CUPTI_RUNTIME_TRACE_CBID_cudaMalloc_v3020,
                CUPTI_API_EXIT);
    CHECK(e[2].ret == 0 && e[3].ret == 0);
    CHECK(e[0].correlation_id != e[1].correlation_id);
    CHECK(e[2].corr_data_at_exit == 1000u + e[1].correlation_id);
    CHECK(e[3].corr_data_at_exit == 1000u + e[0].correlation_id);
    CHECK(e[2].correlation_id == e[1].correlation_id);
    CHECK(e[3].size == 1 << 20 && e[2].size == 1 << 20);
    CHECK(e[3].out_ptr == (uintptr_t)p && e[2].out_ptr == (uintptr_t)p);
    CHECK(e[0].device == 0 && e[3].device == 0);

    /* Not enabled: cuMemFree_v2 and cudaFree deliver nothing. */
    CHECK(fake_cudaFree(p) == 0);
    CHECK(st->n_events == 4);
    CHECK(fake_cudaFree(p) == CUDA_ERROR_INVALID_VALUE); /* double free */

    /* Over the 64 MiB budget: OOM (2) in both domains, NULL pointer. */
    st->n_events = 0;
    CHECK(fake_cudaMalloc(&p, 65u << 20) == 2);
    CHECK(p == NULL);
    CHECK(st->n_events == 4 && st->events[2].ret == 2 && st->events[3].ret == 2);
    CHECK(st->events[3].size == 65u << 20 && st->events[3].out_ptr == 0);

    /* Device 1: its context maps back to device 1; its budget is its own. */
    CHECK(fakecuda_set_device(1) == 0);
    CHECK(fakecuda_set_device(2) == CUDA_ERROR_INVALID_VALUE);
    st->n_events = 0;
    CHECK(cuMemAlloc_v2(&d, 60u << 20) == CUDA_SUCCESS);
    CHECK(st->n_events == 2 && st->events[1].device == 1);
    CHECK(d >= 0x7f0000000000ull + 0x010000000000ull);
    size_t free_bytes = 0, total_bytes = 0;
    CHECK(cuMemGetInfo_v2(&free_bytes, &total_bytes) == CUDA_SUCCESS);
    CHECK(total_bytes == 64u << 20 && free_bytes == 4u << 20);
    CHECK(fakecuda_set_device(0) == 0);

    /* A second subscriber is refused and told who holds CUPTI. */
    char old[CUPTI_OLD_SUBSCRIBER_NAME_MIN_LEN] = "";
    CUpti_SubscriberParams params = {.structSize = CUpti_SubscriberParams_STRUCT_SIZE,
                                     .subscriberName = "second",
                                     .oldSubscriberName = old,
                                     .oldSubscriberSize = sizeof old};
    CUpti_SubscriberHandle sub2 = NULL;
    CHECK(st->subscribe_v2(&sub2, NULL, NULL, &params) ==
          CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED);
    CHECK(sub2 == NULL);
    CHECK(strcmp(old, "CUPTI for stub") == 0);

    /* FAKE_CUPTI_BUSY=1 stands for Nsight holding CUPTI. */
    setenv("FAKE_CUPTI_BUSY", "1", 1);
    old[0] = '\0';
    CHECK(st->subscribe_v2(&sub2, NULL, NULL, &params) ==
          CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED);
    CHECK(strcmp(old, "nsight-fake") == 0);

    if (failures == 0)
        printf("fake_selftest: all checks passed\n");
    return failures == 0 ? 0 : 1;
}
