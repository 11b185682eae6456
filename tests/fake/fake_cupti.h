/* Test-only hooks of the CUPTI double (libcupti.so.13 built from
 * fake_cupti.c). The fake driver (fake_cuda.c) calls them where the real
 * driver would hand control to CUPTI, so the tracer under test sees the same
 * callback traffic it would see on a GPU host. Nothing here exists in the
 * real libcupti. */
#ifndef GPUTRACE_FAKE_CUPTI_H
#define GPUTRACE_FAKE_CUPTI_H

#include <stdint.h>

/* Delivers one API callback (domain DRIVER_API or RUNTIME_API) at `site`
 * (CUPTI_API_ENTER or CUPTI_API_EXIT) to the subscriber, if one is
 * subscribed and (domain, cbid) is enabled. `params` is the real
 * <api>_params struct, borrowed for the duration of the call. `ret` becomes
 * functionReturnValue at EXIT only (NULL at ENTER, as in CUPTI). An ENTER
 * and its EXIT must come from the same thread and nest (LIFO): the
 * correlationData slot and correlationId of an invocation are kept on a
 * per-thread stack from ENTER to EXIT, whether or not the callback fired at
 * ENTER. */
void fakecupti_emit(int domain, uint32_t cbid, int site, const char *fnName, void *params, int ret,
                    void *ctx, uint32_t contextUid);

/* Delivers one RESOURCE-domain callback (CONTEXT_CREATED, STREAM_CREATED...)
 * with a real CUpti_ResourceData. */
void fakecupti_emit_resource(uint32_t cbid, void *ctx, void *stream);

/* Number of callbacks delivered so far (all domains), for self-tests. */
uint64_t fakecupti_delivered(void);

#endif
