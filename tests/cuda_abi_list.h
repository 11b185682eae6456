/* Every size, member offset and value that tracer/cuda_abi.h declares, as
 * an X-macro list: SIZE(type), FIELD(type, member), VALUE(constant).
 * tests/cuda_abi_test.c expands it once over the project's declarations and
 * tests/cuda_abi_real.c once over the CUDA toolkit's headers; the test
 * compares the two tables entry by entry. A declaration added to
 * cuda_abi.h belongs here too. */
#ifndef GPUTRACE_CUDA_ABI_LIST_H
#define GPUTRACE_CUDA_ABI_LIST_H

#include <stddef.h>

/* One measured fact: "sizeof(CUpti_CallbackData)" = 64. */
struct gt_abi_entry {
    const char *name;
    unsigned long long value;
};

#define GT_ABI_SIZE(t) {"sizeof(" #t ")", sizeof(t)},
#define GT_ABI_FIELD(t, m)                                                                         \
    {"offsetof(" #t ", " #m ")", offsetof(t, m)}, {"sizeof(" #t "." #m ")", sizeof(((t *)0)->m)},
#define GT_ABI_VALUE(c) {#c, (unsigned long long)(c)},

/* The table over the toolkit's headers (tests/cuda_abi_real.c). */
extern const struct gt_abi_entry gt_cuda_abi_real[];
extern const size_t gt_cuda_abi_real_count;

#define GT_CUDA_ABI_LIST(SIZE, FIELD, VALUE)                                                       \
    SIZE(CUdeviceptr)                                                                              \
    SIZE(CUdevice)                                                                                 \
    SIZE(CUcontext)                                                                                \
    SIZE(CUstream)                                                                                 \
    SIZE(CUmemoryPool)                                                                             \
    SIZE(CUmemGenericAllocationHandle)                                                             \
    SIZE(cudaStream_t)                                                                             \
    SIZE(cudaMemPool_t)                                                                            \
    SIZE(CUpti_CallbackId)                                                                         \
    SIZE(CUpti_SubscriberHandle)                                                                   \
    SIZE(struct cudaPitchedPtr)                                                                    \
    FIELD(struct cudaPitchedPtr, ptr)                                                              \
    FIELD(struct cudaPitchedPtr, pitch)                                                            \
    FIELD(struct cudaPitchedPtr, xsize)                                                            \
    FIELD(struct cudaPitchedPtr, ysize)                                                            \
    SIZE(struct cudaExtent)                                                                        \
    FIELD(struct cudaExtent, width)                                                                \
    FIELD(struct cudaExtent, height)                                                               \
    FIELD(struct cudaExtent, depth)                                                                \
    SIZE(CUmemLocation)                                                                            \
    FIELD(CUmemLocation, type)                                                                     \
    FIELD(CUmemLocation, id)                                                                       \
    SIZE(CUmemAllocationProp)                                                                      \
    FIELD(CUmemAllocationProp, type)                                                               \
    FIELD(CUmemAllocationProp, requestedHandleTypes)                                               \
    FIELD(CUmemAllocationProp, location)                                                           \
    FIELD(CUmemAllocationProp, win32HandleMetaData)                                                \
    FIELD(CUmemAllocationProp, allocFlags.compressionType)                                         \
    FIELD(CUmemAllocationProp, allocFlags.gpuDirectRDMACapable)                                    \
    FIELD(CUmemAllocationProp, allocFlags.usage)                                                   \
    FIELD(CUmemAllocationProp, allocFlags.reserved)                                                \
    FIELD(CUmemAllocationProp, location.type)                                                      \
    FIELD(CUmemAllocationProp, location.id)                                                        \
    SIZE(CUpti_CallbackData)                                                                       \
    FIELD(CUpti_CallbackData, callbackSite)                                                        \
    FIELD(CUpti_CallbackData, functionName)                                                        \
    FIELD(CUpti_CallbackData, functionParams)                                                      \
    FIELD(CUpti_CallbackData, functionReturnValue)                                                 \
    FIELD(CUpti_CallbackData, symbolName)                                                          \
    FIELD(CUpti_CallbackData, context)                                                             \
    FIELD(CUpti_CallbackData, contextUid)                                                          \
    FIELD(CUpti_CallbackData, correlationData)                                                     \
    FIELD(CUpti_CallbackData, correlationId)                                                       \
    SIZE(CUpti_ResourceData)                                                                       \
    FIELD(CUpti_ResourceData, context)                                                             \
    FIELD(CUpti_ResourceData, resourceHandle.stream)                                               \
    FIELD(CUpti_ResourceData, resourceDescriptor)                                                  \
    SIZE(CUpti_StateData)                                                                          \
    FIELD(CUpti_StateData, notification.result)                                                    \
    FIELD(CUpti_StateData, notification.message)                                                   \
    SIZE(CUpti_SubscriberParams)                                                                   \
    FIELD(CUpti_SubscriberParams, structSize)                                                      \
    FIELD(CUpti_SubscriberParams, subscriberName)                                                  \
    FIELD(CUpti_SubscriberParams, oldSubscriberName)                                               \
    FIELD(CUpti_SubscriberParams, oldSubscriberSize)                                               \
    SIZE(cuMemFreeHost_params)                                                                     \
    FIELD(cuMemFreeHost_params, p)                                                                 \
    SIZE(cuMemHostAlloc_params)                                                                    \
    FIELD(cuMemHostAlloc_params, pp)                                                               \
    FIELD(cuMemHostAlloc_params, bytesize)                                                         \
    FIELD(cuMemHostAlloc_params, Flags)                                                            \
    SIZE(cuMemGetInfo_v2_params)                                                                   \
    FIELD(cuMemGetInfo_v2_params, free)                                                            \
    FIELD(cuMemGetInfo_v2_params, total)                                                           \
    SIZE(cuMemAlloc_v2_params)                                                                     \
    FIELD(cuMemAlloc_v2_params, dptr)                                                              \
    FIELD(cuMemAlloc_v2_params, bytesize)                                                          \
    SIZE(cuMemAllocPitch_v2_params)                                                                \
    FIELD(cuMemAllocPitch_v2_params, dptr)                                                         \
    FIELD(cuMemAllocPitch_v2_params, pPitch)                                                       \
    FIELD(cuMemAllocPitch_v2_params, WidthInBytes)                                                 \
    FIELD(cuMemAllocPitch_v2_params, Height)                                                       \
    FIELD(cuMemAllocPitch_v2_params, ElementSizeBytes)                                             \
    SIZE(cuMemFree_v2_params)                                                                      \
    FIELD(cuMemFree_v2_params, dptr)                                                               \
    SIZE(cuMemAllocHost_v2_params)                                                                 \
    FIELD(cuMemAllocHost_v2_params, pp)                                                            \
    FIELD(cuMemAllocHost_v2_params, bytesize)                                                      \
    SIZE(cuMemAllocManaged_params)                                                                 \
    FIELD(cuMemAllocManaged_params, dptr)                                                          \
    FIELD(cuMemAllocManaged_params, bytesize)                                                      \
    FIELD(cuMemAllocManaged_params, flags)                                                         \
    SIZE(cuMemAddressReserve_params)                                                               \
    FIELD(cuMemAddressReserve_params, ptr)                                                         \
    FIELD(cuMemAddressReserve_params, size)                                                        \
    FIELD(cuMemAddressReserve_params, alignment)                                                   \
    FIELD(cuMemAddressReserve_params, addr)                                                        \
    FIELD(cuMemAddressReserve_params, flags)                                                       \
    SIZE(cuMemAddressFree_params)                                                                  \
    FIELD(cuMemAddressFree_params, ptr)                                                            \
    FIELD(cuMemAddressFree_params, size)                                                           \
    SIZE(cuMemCreate_params)                                                                       \
    FIELD(cuMemCreate_params, handle)                                                              \
    FIELD(cuMemCreate_params, size)                                                                \
    FIELD(cuMemCreate_params, prop)                                                                \
    FIELD(cuMemCreate_params, flags)                                                               \
    SIZE(cuMemRelease_params)                                                                      \
    FIELD(cuMemRelease_params, handle)                                                             \
    SIZE(cuMemMap_params)                                                                          \
    FIELD(cuMemMap_params, ptr)                                                                    \
    FIELD(cuMemMap_params, size)                                                                   \
    FIELD(cuMemMap_params, offset)                                                                 \
    FIELD(cuMemMap_params, handle)                                                                 \
    FIELD(cuMemMap_params, flags)                                                                  \
    SIZE(cuMemUnmap_params)                                                                        \
    FIELD(cuMemUnmap_params, ptr)                                                                  \
    FIELD(cuMemUnmap_params, size)                                                                 \
    SIZE(cuMemAllocAsync_params)                                                                   \
    FIELD(cuMemAllocAsync_params, dptr)                                                            \
    FIELD(cuMemAllocAsync_params, bytesize)                                                        \
    FIELD(cuMemAllocAsync_params, hStream)                                                         \
    SIZE(cuMemAllocAsync_ptsz_params)                                                              \
    FIELD(cuMemAllocAsync_ptsz_params, dptr)                                                       \
    FIELD(cuMemAllocAsync_ptsz_params, bytesize)                                                   \
    FIELD(cuMemAllocAsync_ptsz_params, hStream)                                                    \
    SIZE(cuMemFreeAsync_params)                                                                    \
    FIELD(cuMemFreeAsync_params, dptr)                                                             \
    FIELD(cuMemFreeAsync_params, hStream)                                                          \
    SIZE(cuMemAllocFromPoolAsync_params)                                                           \
    FIELD(cuMemAllocFromPoolAsync_params, dptr)                                                    \
    FIELD(cuMemAllocFromPoolAsync_params, bytesize)                                                \
    FIELD(cuMemAllocFromPoolAsync_params, pool)                                                    \
    FIELD(cuMemAllocFromPoolAsync_params, hStream)                                                 \
    SIZE(cudaMalloc_v3020_params)                                                                  \
    FIELD(cudaMalloc_v3020_params, devPtr)                                                         \
    FIELD(cudaMalloc_v3020_params, size)                                                           \
    SIZE(cudaMallocPitch_v3020_params)                                                             \
    FIELD(cudaMallocPitch_v3020_params, devPtr)                                                    \
    FIELD(cudaMallocPitch_v3020_params, pitch)                                                     \
    FIELD(cudaMallocPitch_v3020_params, width)                                                     \
    FIELD(cudaMallocPitch_v3020_params, height)                                                    \
    SIZE(cudaFree_v3020_params)                                                                    \
    FIELD(cudaFree_v3020_params, devPtr)                                                           \
    SIZE(cudaMallocHost_v3020_params)                                                              \
    FIELD(cudaMallocHost_v3020_params, ptr)                                                        \
    FIELD(cudaMallocHost_v3020_params, size)                                                       \
    SIZE(cudaFreeHost_v3020_params)                                                                \
    FIELD(cudaFreeHost_v3020_params, ptr)                                                          \
    SIZE(cudaHostAlloc_v3020_params)                                                               \
    FIELD(cudaHostAlloc_v3020_params, pHost)                                                       \
    FIELD(cudaHostAlloc_v3020_params, size)                                                        \
    FIELD(cudaHostAlloc_v3020_params, flags)                                                       \
    SIZE(cudaMemGetInfo_v3020_params)                                                              \
    FIELD(cudaMemGetInfo_v3020_params, free)                                                       \
    FIELD(cudaMemGetInfo_v3020_params, total)                                                      \
    SIZE(cudaMalloc3D_v3020_params)                                                                \
    FIELD(cudaMalloc3D_v3020_params, pitchedDevPtr)                                                \
    FIELD(cudaMalloc3D_v3020_params, extent)                                                       \
    SIZE(cudaMallocManaged_v6000_params)                                                           \
    FIELD(cudaMallocManaged_v6000_params, devPtr)                                                  \
    FIELD(cudaMallocManaged_v6000_params, size)                                                    \
    FIELD(cudaMallocManaged_v6000_params, flags)                                                   \
    SIZE(cudaMallocAsync_v11020_params)                                                            \
    FIELD(cudaMallocAsync_v11020_params, devPtr)                                                   \
    FIELD(cudaMallocAsync_v11020_params, size)                                                     \
    FIELD(cudaMallocAsync_v11020_params, hStream)                                                  \
    SIZE(cudaMallocAsync_ptsz_v11020_params)                                                       \
    FIELD(cudaMallocAsync_ptsz_v11020_params, devPtr)                                              \
    FIELD(cudaMallocAsync_ptsz_v11020_params, size)                                                \
    FIELD(cudaMallocAsync_ptsz_v11020_params, hStream)                                             \
    SIZE(cudaFreeAsync_v11020_params)                                                              \
    FIELD(cudaFreeAsync_v11020_params, devPtr)                                                     \
    FIELD(cudaFreeAsync_v11020_params, hStream)                                                    \
    SIZE(cudaFreeAsync_ptsz_v11020_params)                                                         \
    FIELD(cudaFreeAsync_ptsz_v11020_params, devPtr)                                                \
    FIELD(cudaFreeAsync_ptsz_v11020_params, hStream)                                               \
    SIZE(cudaMallocFromPoolAsync_v11020_params)                                                    \
    FIELD(cudaMallocFromPoolAsync_v11020_params, ptr)                                              \
    FIELD(cudaMallocFromPoolAsync_v11020_params, size)                                             \
    FIELD(cudaMallocFromPoolAsync_v11020_params, memPool)                                          \
    FIELD(cudaMallocFromPoolAsync_v11020_params, stream)                                           \
    SIZE(CUresult)                                                                                 \
    VALUE(CUDA_SUCCESS)                                                                            \
    VALUE(CUDA_ERROR_INVALID_VALUE)                                                                \
    VALUE(CUDA_ERROR_OUT_OF_MEMORY)                                                                \
    VALUE(CUDA_ERROR_NOT_INITIALIZED)                                                              \
    VALUE(CUDA_ERROR_INVALID_DEVICE)                                                               \
    SIZE(CUmemAllocationHandleType)                                                                \
    VALUE(CU_MEM_HANDLE_TYPE_NONE)                                                                 \
    SIZE(CUmemLocationType)                                                                        \
    VALUE(CU_MEM_LOCATION_TYPE_INVALID)                                                            \
    VALUE(CU_MEM_LOCATION_TYPE_DEVICE)                                                             \
    SIZE(CUmemAllocationType)                                                                      \
    VALUE(CU_MEM_ALLOCATION_TYPE_INVALID)                                                          \
    VALUE(CU_MEM_ALLOCATION_TYPE_PINNED)                                                           \
    SIZE(cudaError_t)                                                                              \
    VALUE(cudaSuccess)                                                                             \
    VALUE(cudaErrorMemoryAllocation)                                                               \
    SIZE(CUptiResult)                                                                              \
    VALUE(CUPTI_SUCCESS)                                                                           \
    VALUE(CUPTI_ERROR_INVALID_PARAMETER)                                                           \
    VALUE(CUPTI_ERROR_INVALID_DEVICE)                                                              \
    VALUE(CUPTI_ERROR_INVALID_CONTEXT)                                                             \
    VALUE(CUPTI_ERROR_MAX_LIMIT_REACHED)                                                           \
    VALUE(CUPTI_ERROR_NOT_SUPPORTED)                                                               \
    VALUE(CUPTI_ERROR_MULTIPLE_SUBSCRIBERS_NOT_SUPPORTED)                                          \
    VALUE(CUPTI_ERROR_UNKNOWN)                                                                     \
    SIZE(CUpti_ApiCallbackSite)                                                                    \
    VALUE(CUPTI_API_ENTER)                                                                         \
    VALUE(CUPTI_API_EXIT)                                                                          \
    SIZE(CUpti_CallbackDomain)                                                                     \
    VALUE(CUPTI_CB_DOMAIN_INVALID)                                                                 \
    VALUE(CUPTI_CB_DOMAIN_DRIVER_API)                                                              \
    VALUE(CUPTI_CB_DOMAIN_RUNTIME_API)                                                             \
    VALUE(CUPTI_CB_DOMAIN_RESOURCE)                                                                \
    VALUE(CUPTI_CB_DOMAIN_SYNCHRONIZE)                                                             \
    VALUE(CUPTI_CB_DOMAIN_NVTX)                                                                    \
    VALUE(CUPTI_CB_DOMAIN_STATE)                                                                   \
    VALUE(CUPTI_CB_DOMAIN_SIZE)                                                                    \
    SIZE(CUpti_CallbackIdResource)                                                                 \
    VALUE(CUPTI_CBID_RESOURCE_CONTEXT_CREATED)                                                     \
    VALUE(CUPTI_CBID_RESOURCE_STREAM_CREATED)                                                      \
    SIZE(CUpti_CallbackIdState)                                                                    \
    VALUE(CUPTI_CBID_STATE_FATAL_ERROR)                                                            \
    SIZE(CUpti_driver_api_trace_cbid)                                                              \
    VALUE(CUPTI_DRIVER_TRACE_CBID_cuMemFreeHost)                                                   \
    VALUE(CUPTI_DRIVER_TRACE_CBID_cuMemHostAlloc)                                                  \
    VALUE(CUPTI_DRIVER_TRACE_CBID_cuMemGetInfo_v2)                                                 \
    VALUE(CUPTI_DRIVER_TRACE_CBID_cuMemAlloc_v2)                                                   \
    VALUE(CUPTI_DRIVER_TRACE_CBID_cuMemAllocPitch_v2)                                              \
    VALUE(CUPTI_DRIVER_TRACE_CBID_cuMemFree_v2)                                                    \
    VALUE(CUPTI_DRIVER_TRACE_CBID_cuMemAllocHost_v2)                                               \
    VALUE(CUPTI_DRIVER_TRACE_CBID_cuCtxGetCurrent)                                                 \
    VALUE(CUPTI_DRIVER_TRACE_CBID_cuMemAllocManaged)                                               \
    VALUE(CUPTI_DRIVER_TRACE_CBID_cuMemAddressReserve)                                             \
    VALUE(CUPTI_DRIVER_TRACE_CBID_cuMemAddressFree)                                                \
    VALUE(CUPTI_DRIVER_TRACE_CBID_cuMemCreate)                                                     \
    VALUE(CUPTI_DRIVER_TRACE_CBID_cuMemRelease)                                                    \
    VALUE(CUPTI_DRIVER_TRACE_CBID_cuMemMap)                                                        \
    VALUE(CUPTI_DRIVER_TRACE_CBID_cuMemUnmap)                                                      \
    VALUE(CUPTI_DRIVER_TRACE_CBID_cuMemAllocAsync)                                                 \
    VALUE(CUPTI_DRIVER_TRACE_CBID_cuMemAllocAsync_ptsz)                                            \
    VALUE(CUPTI_DRIVER_TRACE_CBID_cuMemFreeAsync)                                                  \
    VALUE(CUPTI_DRIVER_TRACE_CBID_cuMemFreeAsync_ptsz)                                             \
    VALUE(CUPTI_DRIVER_TRACE_CBID_cuMemAllocFromPoolAsync)                                         \
    VALUE(CUPTI_DRIVER_TRACE_CBID_cuMemAllocFromPoolAsync_ptsz)                                    \
    SIZE(CUpti_runtime_api_trace_cbid)                                                             \
    VALUE(CUPTI_RUNTIME_TRACE_CBID_cudaMalloc_v3020)                                               \
    VALUE(CUPTI_RUNTIME_TRACE_CBID_cudaMallocPitch_v3020)                                          \
    VALUE(CUPTI_RUNTIME_TRACE_CBID_cudaFree_v3020)                                                 \
    VALUE(CUPTI_RUNTIME_TRACE_CBID_cudaMallocHost_v3020)                                           \
    VALUE(CUPTI_RUNTIME_TRACE_CBID_cudaFreeHost_v3020)                                             \
    VALUE(CUPTI_RUNTIME_TRACE_CBID_cudaHostAlloc_v3020)                                            \
    VALUE(CUPTI_RUNTIME_TRACE_CBID_cudaMemGetInfo_v3020)                                           \
    VALUE(CUPTI_RUNTIME_TRACE_CBID_cudaMemcpy_v3020)                                               \
    VALUE(CUPTI_RUNTIME_TRACE_CBID_cudaMalloc3D_v3020)                                             \
    VALUE(CUPTI_RUNTIME_TRACE_CBID_cudaMallocManaged_v6000)                                        \
    VALUE(CUPTI_RUNTIME_TRACE_CBID_cudaMallocAsync_v11020)                                         \
    VALUE(CUPTI_RUNTIME_TRACE_CBID_cudaMallocAsync_ptsz_v11020)                                    \
    VALUE(CUPTI_RUNTIME_TRACE_CBID_cudaFreeAsync_v11020)                                           \
    VALUE(CUPTI_RUNTIME_TRACE_CBID_cudaFreeAsync_ptsz_v11020)                                      \
    VALUE(CUPTI_RUNTIME_TRACE_CBID_cudaMallocFromPoolAsync_v11020)                                 \
    VALUE(CUPTI_RUNTIME_TRACE_CBID_cudaMallocFromPoolAsync_ptsz_v11020)                            \
    VALUE(CUPTI_SUBSCRIBER_NAME_MAX_LEN)                                                           \
    VALUE(CUPTI_OLD_SUBSCRIBER_NAME_MIN_LEN)                                                       \
    VALUE(CUpti_SubscriberParams_STRUCT_SIZE)

#endif
