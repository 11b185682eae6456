/* A CUPTI double, built as libcupti.so.13, for running the tracer without a
 * GPU (docs/notes/cupti.md §6.2). It implements the entry points an
 * injection library resolves, with CUPTI's prototypes (tracer/cuda_abi.h,
 * checked against the toolkit's cupti.h by tests/cuda_abi_test.c) and the
 * semantics the tracer depends on:
 *  - one subscriber at a time; a second subscribe, or FAKE_CUPTI_BUSY=1,
 *    fails with CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED (39) and
 *    names the incumbent, as CUDA 13.0's CUPTI does (§1.2 step 3);
 *  - a per-(domain, cbid) enable table: only enabled callbacks are
 *    delivered, and cuptiEnableDomain enables every cbid of a domain;
 *  - callbacks are delivered with a real CUpti_CallbackData, from whatever
 *    thread the fake driver runs on, concurrently.
 * The activity API is absent, as the tracer never uses it (§3: activity is
 * optional). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_abi.h"

#include "fake_cupti.h"

/* Callback ids of every domain are below this (driver: 807 in CUDA 13.0). */
#define FAKE_MAX_CBID 1024
/* Deepest nesting of API calls on one thread: runtime -> driver is 2. */
#define FAKE_MAX_DEPTH 32

/* The one subscriber. `name` is what a rejected second subscriber is told. */
struct CUpti_Subscriber_st {
    char name[CUPTI_SUBSCRIBER_NAME_MAX_LEN + 16];
};

static struct CUpti_Subscriber_st g_sub;
static pthread_mutex_t g_sub_lock = PTHREAD_MUTEX_INITIALIZER;
/* Read without the lock on every delivery, from any thread. */
static _Atomic(CUpti_CallbackFunc) g_callback;
static _Atomic(void *) g_userdata;
static atomic_bool g_subscribed;
static _Atomic uint8_t g_enabled[CUPTI_CB_DOMAIN_SIZE][FAKE_MAX_CBID];
static atomic_uint g_correlation;
static _Atomic uint64_t g_delivered;

/* One invocation between its ENTER and EXIT: CUPTI keeps correlationData
 * per invocation (cupti_callbacks.h:384-389), so nested calls on a thread
 * each get their own slot. */
struct invocation {
    uint64_t data;
    uint32_t correlation_id;
};

static _Thread_local struct invocation t_stack[FAKE_MAX_DEPTH];
static _Thread_local int t_depth;
/* The context of this thread's latest call: what "current context" means
 * to cuptiGetDeviceId(NULL, ...). */
static _Thread_local void *t_context;
static _Thread_local CUptiResult t_last_error;

static CUptiResult fail(CUptiResult r)
{
    t_last_error = r;
    return r;
}

static int valid_domain(int domain)
{
    return domain > CUPTI_CB_DOMAIN_INVALID && domain < CUPTI_CB_DOMAIN_SIZE;
}

/* Copies at most `cap - 1` bytes and always terminates, unlike strncpy. */
static void copy_name(char *dst, size_t cap, const char *src)
{
    if (dst == NULL || cap == 0)
        return;
    snprintf(dst, cap, "%s", src != NULL ? src : "");
}

static CUptiResult subscribe(CUpti_SubscriberHandle *subscriber, CUpti_CallbackFunc callback,
                             void *userdata, CUpti_SubscriberParams *params)
{
    if (subscriber == NULL)
        return fail(CUPTI_ERROR_INVALID_PARAMETER);
    *subscriber = NULL;
    char *old_name = NULL;
    size_t old_cap = 0;
    if (params != NULL && params->structSize >= CUpti_SubscriberParams_STRUCT_SIZE) {
        old_name = params->oldSubscriberName;
        old_cap = params->oldSubscriberSize;
    }

    const char *busy = getenv("FAKE_CUPTI_BUSY");
    if (busy != NULL && strcmp(busy, "1") == 0) {
        /* Another tool (Nsight, a profiler) holds CUPTI in this process. */
        copy_name(old_name, old_cap, "nsight-fake");
        return fail(CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED);
    }

    pthread_mutex_lock(&g_sub_lock);
    if (atomic_load(&g_subscribed)) {
        copy_name(old_name, old_cap, g_sub.name);
        pthread_mutex_unlock(&g_sub_lock);
        return fail(CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED);
    }
    const char *name = params != NULL && params->structSize >= CUpti_SubscriberParams_STRUCT_SIZE
                           ? params->subscriberName
                           : NULL;
    /* CUPTI prefixes the name it reports to later subscribers. */
    snprintf(g_sub.name, sizeof g_sub.name, "CUPTI for %s", name != NULL ? name : "unnamed");
    for (int d = 0; d < CUPTI_CB_DOMAIN_SIZE; d++)
        for (int c = 0; c < FAKE_MAX_CBID; c++)
            atomic_store_explicit(&g_enabled[d][c], 0, memory_order_relaxed);
    atomic_store(&g_userdata, userdata);
    atomic_store(&g_callback, callback);
    atomic_store(&g_subscribed, true);
    pthread_mutex_unlock(&g_sub_lock);
    *subscriber = &g_sub;
    return CUPTI_SUCCESS;
}

CUptiResult CUPTIAPI cuptiSubscribe(CUpti_SubscriberHandle *subscriber, CUpti_CallbackFunc callback,
                                    void *userdata)
{
    return subscribe(subscriber, callback, userdata, NULL);
}

CUptiResult CUPTIAPI cuptiSubscribe_v2(CUpti_SubscriberHandle *subscriber,
                                       CUpti_CallbackFunc callback, void *userdata,
                                       CUpti_SubscriberParams *pParams)
{
    return subscribe(subscriber, callback, userdata, pParams);
}

CUptiResult CUPTIAPI cuptiUnsubscribe(CUpti_SubscriberHandle subscriber)
{
    if (subscriber != &g_sub)
        return fail(CUPTI_ERROR_INVALID_PARAMETER);
    pthread_mutex_lock(&g_sub_lock);
    atomic_store(&g_subscribed, false);
    atomic_store(&g_callback, NULL);
    pthread_mutex_unlock(&g_sub_lock);
    return CUPTI_SUCCESS;
}

CUptiResult CUPTIAPI cuptiEnableCallback(uint32_t enable, CUpti_SubscriberHandle subscriber,
                                         CUpti_CallbackDomain domain, CUpti_CallbackId cbid)
{
    if (subscriber != &g_sub || !atomic_load(&g_subscribed) || !valid_domain((int)domain) ||
        cbid >= FAKE_MAX_CBID)
        return fail(CUPTI_ERROR_INVALID_PARAMETER);
    atomic_store(&g_enabled[domain][cbid], enable ? 1 : 0);
    return CUPTI_SUCCESS;
}

CUptiResult CUPTIAPI cuptiEnableDomain(uint32_t enable, CUpti_SubscriberHandle subscriber,
                                       CUpti_CallbackDomain domain)
{
    if (subscriber != &g_sub || !atomic_load(&g_subscribed) || !valid_domain((int)domain))
        return fail(CUPTI_ERROR_INVALID_PARAMETER);
    for (int c = 0; c < FAKE_MAX_CBID; c++)
        atomic_store(&g_enabled[domain][c], enable ? 1 : 0);
    return CUPTI_SUCCESS;
}

/* The fake driver's contexts are the small integers device + 1, so the
 * device is the context value minus one: no table to keep in sync. */
CUptiResult CUPTIAPI cuptiGetDeviceId(CUcontext context, uint32_t *deviceId)
{
    if (deviceId == NULL)
        return fail(CUPTI_ERROR_INVALID_PARAMETER);
    uintptr_t c = (uintptr_t)(context != NULL ? (void *)context : t_context);
    if (c == 0 || c > 64)
        return fail(CUPTI_ERROR_INVALID_DEVICE);
    *deviceId = (uint32_t)(c - 1);
    return CUPTI_SUCCESS;
}

CUptiResult CUPTIAPI cuptiGetResultString(CUptiResult result, const char **str)
{
    if (str == NULL)
        return fail(CUPTI_ERROR_INVALID_PARAMETER);
    switch (result) {
    case CUPTI_SUCCESS:
        *str = "CUPTI_SUCCESS";
        break;
    case CUPTI_ERROR_INVALID_PARAMETER:
        *str = "CUPTI_ERROR_INVALID_PARAMETER";
        break;
    case CUPTI_ERROR_INVALID_DEVICE:
        *str = "CUPTI_ERROR_INVALID_DEVICE";
        break;
    case CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED:
        *str = "CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED";
        break;
    case CUPTI_ERROR_NOT_SUPPORTED:
        *str = "CUPTI_ERROR_NOT_SUPPORTED";
        break;
    default:
        *str = "CUPTI_ERROR_UNKNOWN";
        break;
    }
    return CUPTI_SUCCESS;
}

CUptiResult CUPTIAPI cuptiGetLastError(void)
{
    CUptiResult r = t_last_error;
    t_last_error = CUPTI_SUCCESS;
    return r;
}

CUptiResult CUPTIAPI cuptiFinalize(void)
{
    pthread_mutex_lock(&g_sub_lock);
    atomic_store(&g_subscribed, false);
    atomic_store(&g_callback, NULL);
    pthread_mutex_unlock(&g_sub_lock);
    return CUPTI_SUCCESS;
}

/* Test hooks. */

static void deliver(int domain, uint32_t cbid, const void *cbdata)
{
    if (!valid_domain(domain) || cbid >= FAKE_MAX_CBID || !atomic_load(&g_subscribed) ||
        !atomic_load_explicit(&g_enabled[domain][cbid], memory_order_relaxed))
        return;
    CUpti_CallbackFunc cb = atomic_load(&g_callback);
    if (cb == NULL)
        return;
    atomic_fetch_add_explicit(&g_delivered, 1, memory_order_relaxed);
    cb(atomic_load(&g_userdata), (CUpti_CallbackDomain)domain, (CUpti_CallbackId)cbid, cbdata);
}

void fakecupti_emit(int domain, uint32_t cbid, int site, const char *fnName, void *params, int ret,
                    void *ctx, uint32_t contextUid)
{
    struct invocation *inv;
    if (site == CUPTI_API_ENTER) {
        if (t_depth >= FAKE_MAX_DEPTH) {
            /* Only a broken fake driver nests this deep: stop loudly. */
            fprintf(stderr, "fake_cupti: API calls nested deeper than %d\n", FAKE_MAX_DEPTH);
            abort();
        }
        inv = &t_stack[t_depth++];
        inv->data = 0;
        inv->correlation_id = atomic_fetch_add(&g_correlation, 1) + 1;
    } else {
        if (t_depth <= 0) {
            fprintf(stderr, "fake_cupti: API_EXIT without API_ENTER (cbid %u)\n", cbid);
            abort();
        }
        inv = &t_stack[t_depth - 1];
    }
    t_context = ctx;

    CUpti_CallbackData data = {
        .callbackSite = (CUpti_ApiCallbackSite)site,
        .functionName = fnName,
        .functionParams = params,
        .functionReturnValue = site == CUPTI_API_EXIT ? (void *)&ret : NULL,
        .symbolName = NULL,
        .context = (CUcontext)ctx,
        .contextUid = contextUid,
        .correlationData = &inv->data,
        .correlationId = inv->correlation_id,
    };
    deliver(domain, cbid, &data);
    if (site == CUPTI_API_EXIT)
        t_depth--;
}

void fakecupti_emit_resource(uint32_t cbid, void *ctx, void *stream)
{
    CUpti_ResourceData data = {.context = (CUcontext)ctx, .resourceDescriptor = NULL};
    data.resourceHandle.stream = (CUstream)stream;
    deliver(CUPTI_CB_DOMAIN_RESOURCE, cbid, &data);
}

uint64_t fakecupti_delivered(void)
{
    return atomic_load(&g_delivered);
}
