/* A minimal injection library for fake_selftest: what the real tracer does
 * at InitializeInjection (dlopen CUPTI from $GPUTRACE_CUPTI, subscribe,
 * enable a few cbids), with a callback that only writes down what it saw,
 * so the self-test can check the doubles without the tracer. */
#include <dlfcn.h>
#include <stdint.h>
#include <stdlib.h>

#include "cuda_abi.h"

#define STUB_MAX_EVENTS 64

struct stub_event {
    int domain;
    uint32_t cbid;
    int site;
    int has_ret;
    int ret;
    uint64_t corr_data_at_exit; /* *correlationData as the EXIT site found it */
    uint32_t correlation_id;
    uint32_t device;  /* from cuptiGetDeviceId(context) */
    uint64_t size;    /* bytesize/size of the alloc params, else 0 */
    uint64_t out_ptr; /* *dptr / *devPtr at EXIT, else 0 */
};

/* Invariant: events[0 .. n_events) are complete. Single-threaded use only. */
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

__attribute__((visibility("default"))) struct stub_state stub_state;
__attribute__((visibility("default"))) int InitializeInjection(void);

static void stub_callback(void *userdata, CUpti_CallbackDomain domain, CUpti_CallbackId cbid,
                          const void *data)
{
    (void)userdata;
    if (domain != CUPTI_CB_DOMAIN_DRIVER_API && domain != CUPTI_CB_DOMAIN_RUNTIME_API)
        return;
    const CUpti_CallbackData *cb = data;
    if (stub_state.n_events == STUB_MAX_EVENTS)
        return;
    struct stub_event *e = &stub_state.events[stub_state.n_events++];
    e->domain = (int)domain;
    e->cbid = cbid;
    e->site = cb->callbackSite;
    e->has_ret = cb->functionReturnValue != NULL;
    e->ret = e->has_ret ? *(const int *)cb->functionReturnValue : -1;
    e->correlation_id = cb->correlationId;
    /* ENTER stamps a value derived from the correlation id; EXIT reads it. */
    if (cb->callbackSite == CUPTI_API_ENTER)
        *cb->correlationData = 1000u + cb->correlationId;
    else
        e->corr_data_at_exit = *cb->correlationData;
    stub_state.get_device_id(cb->context, &e->device);
    if (domain == CUPTI_CB_DOMAIN_DRIVER_API && cbid == CUPTI_DRIVER_TRACE_CBID_cuMemAlloc_v2) {
        const cuMemAlloc_v2_params *p = cb->functionParams;
        e->size = p->bytesize;
        if (cb->callbackSite == CUPTI_API_EXIT)
            e->out_ptr = *p->dptr;
    } else if (domain == CUPTI_CB_DOMAIN_RUNTIME_API &&
               cbid == CUPTI_RUNTIME_TRACE_CBID_cudaMalloc_v3020) {
        const cudaMalloc_v3020_params *p = cb->functionParams;
        e->size = p->size;
        if (cb->callbackSite == CUPTI_API_EXIT)
            e->out_ptr = (uintptr_t)*p->devPtr;
    }
}

int InitializeInjection(void)
{
    stub_state.init_calls++;
    const char *path = getenv("GPUTRACE_CUPTI");
    void *lib = dlopen(path != NULL ? path : "libcupti.so.13", RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL)
        return 0;
    *(void **)&stub_state.subscribe_v2 = dlsym(lib, "cuptiSubscribe_v2");
    *(void **)&stub_state.get_device_id = dlsym(lib, "cuptiGetDeviceId");
    CUptiResult (*enable)(uint32_t, CUpti_SubscriberHandle, CUpti_CallbackDomain, CUpti_CallbackId);
    *(void **)&enable = dlsym(lib, "cuptiEnableCallback");
    if (!stub_state.subscribe_v2 || !stub_state.get_device_id || enable == NULL)
        return 0;
    char old[CUPTI_OLD_SUBSCRIBER_NAME_MIN_LEN] = "";
    CUpti_SubscriberParams params = {.structSize = CUpti_SubscriberParams_STRUCT_SIZE,
                                     .subscriberName = "stub",
                                     .oldSubscriberName = old,
                                     .oldSubscriberSize = sizeof old};
    stub_state.subscribe_result =
        stub_state.subscribe_v2(&stub_state.sub, stub_callback, NULL, &params);
    if (stub_state.subscribe_result != CUPTI_SUCCESS)
        return 1;
    enable(1, stub_state.sub, CUPTI_CB_DOMAIN_DRIVER_API, CUPTI_DRIVER_TRACE_CBID_cuMemAlloc_v2);
    enable(1, stub_state.sub, CUPTI_CB_DOMAIN_RUNTIME_API,
           CUPTI_RUNTIME_TRACE_CBID_cudaMalloc_v3020);
    /* bench/tracer.sh: the frees too, so that fake_app's churn pays the
     * doubles' dispatch of every call the tracer would see, with a callback
     * that does nothing after its first 64 events (the dispatch floor). */
    if (getenv("FAKE_STUB_FREES") != NULL) {
        enable(1, stub_state.sub, CUPTI_CB_DOMAIN_DRIVER_API, CUPTI_DRIVER_TRACE_CBID_cuMemFree_v2);
        enable(1, stub_state.sub, CUPTI_CB_DOMAIN_RUNTIME_API,
               CUPTI_RUNTIME_TRACE_CBID_cudaFree_v3020);
    }
    return 1;
}
