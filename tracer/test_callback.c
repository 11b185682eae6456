/* Tests of the CUPTI callback of libgputrace-inject.so (docs/notes/cupti.md §6.2, CI
 * layer 1): synthetic CUpti_CallbackData with the real *_params structs of
 * CUPTI's headers, fed to the callback, and the ring records it writes. The
 * library's sources are compiled in, so the test reaches the seam's statics
 * (a cuptiGetDeviceId stand-in). Each Check test runs in its own process,
 * with fresh library state. */
#define _GNU_SOURCE
#define GT_INJECT_TESTING
#include "ring_writer.c"
#include "gpu_cupti.c"
#include "pyframes.c"
#include "inject.c"

#include <check.h>
#include <dirent.h>
#include <sys/wait.h>

static char dir[64];
static struct gt_ring_header *hdr;

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/gt-test-callback-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    ck_assert_int_eq(gt_inject_test_begin(dir, 64), 0);
    hdr = gt_inject_test_ring()->hdr;
}

static void teardown(void)
{
    char path[512];
    snprintf(path, sizeof path, "%s/ring-%ld.bin", dir, (long)getpid());
    unlink(path);
    rmdir(dir);
}

static uint64_t nrecords(void)
{
    return atomic_load(&hdr->head);
}

static const struct gt_ring_record *rec(uint64_t i)
{
    ck_assert_uint_lt(i, nrecords());
    const struct gt_ring_record *r = &hdr->records[i];
    ck_assert_uint_eq(atomic_load(&r->published), i + 1);
    return r;
}

#define CTX ((CUcontext)(uintptr_t)0xc0)
#define RT CUPTI_CB_DOMAIN_RUNTIME_API
#define DRV CUPTI_CB_DOMAIN_DRIVER_API

/* One API invocation as CUPTI presents it: ENTER, then whatever `inside`
 * does (a nested call), then EXIT with the return code. */
struct call {
    CUpti_CallbackDomain domain;
    CUpti_CallbackId cbid;
    void *params;
    int ret;
    uint64_t corr;
    CUpti_CallbackData cb;
};

static void enter(struct call *c)
{
    memset(&c->cb, 0, sizeof c->cb);
    c->cb.callbackSite = CUPTI_API_ENTER;
    c->cb.functionName = "api";
    c->cb.functionParams = c->params;
    c->cb.context = CTX;
    c->cb.contextUid = 1;
    c->cb.correlationData = &c->corr;
    gt_inject_callback(NULL, c->domain, c->cbid, &c->cb);
}

static void leave(struct call *c)
{
    c->cb.callbackSite = CUPTI_API_EXIT;
    c->cb.functionReturnValue = &c->ret;
    gt_inject_callback(NULL, c->domain, c->cbid, &c->cb);
}

static void api(CUpti_CallbackDomain domain, CUpti_CallbackId cbid, void *params, int ret)
{
    struct call c = {domain, cbid, params, ret, 0, {0}};
    enter(&c);
    leave(&c);
}

START_TEST(a_successful_cudaMalloc_records_pointer_size_thread_and_its_exit_time)
{
    void *ptr = (void *)(uintptr_t)0x7f0000000000;
    cudaMalloc_v3020_params p = {&ptr, 1 << 20};
    int64_t before = gt_ringw_now_ns();
    api(RT, CUPTI_RUNTIME_TRACE_CBID_cudaMalloc_v3020, &p, 0);
    ck_assert_uint_eq(nrecords(), 1);
    const struct gt_ring_record *r = rec(0);
    ck_assert_uint_eq(r->kind, GT_RING_KIND_ALLOC);
    ck_assert_int_eq(r->result, 0);
    ck_assert_uint_eq(r->domain, CUPTI_CB_DOMAIN_RUNTIME_API);
    ck_assert_uint_eq(r->cbid, CUPTI_RUNTIME_TRACE_CBID_cudaMalloc_v3020);
    ck_assert_uint_eq(r->addr, 0x7f0000000000);
    ck_assert_uint_eq(r->size, 1 << 20);
    ck_assert_uint_eq(r->nested, 0);
    ck_assert_uint_eq(r->stream, 0);
    ck_assert_int_eq(r->device, -1); /* no cuptiGetDeviceId loaded */
    ck_assert_int_eq(r->tid, (int64_t)syscall(SYS_gettid));
    ck_assert_int_ge(r->ts_ns, before);
    ck_assert_int_eq(r->enter_ns, 0); /* an allocation is ordered by its exit */
}
END_TEST

/* The launcher orders a release by its enter time: every call that frees
 * (runtime, driver, async, pinned, VMM unmap) has it, no allocation does. */
START_TEST(releases_record_their_enter_time_and_allocations_do_not)
{
    void *ptr = (void *)(uintptr_t)0x7f0000000000;
    CUdeviceptr dptr = 0x7f0000000000;
    cudaStream_t st = (cudaStream_t)(uintptr_t)0x77;
    cudaFree_v3020_params f = {ptr};
    cudaFreeHost_v3020_params fh = {ptr};
    cudaFreeAsync_v11020_params fa = {ptr, st};
    cuMemFree_v2_params df = {dptr};
    cuMemFreeAsync_params dfa = {dptr, (CUstream)st};
    cuMemFreeHost_params dfh = {ptr};
    cuMemUnmap_params du = {dptr, 1 << 21};
    cudaMallocAsync_v11020_params ma = {&ptr, 4096, st};
    cuMemAlloc_v2_params da = {&dptr, 4096};
    int64_t before = gt_ringw_now_ns();

    api(RT, CUPTI_RUNTIME_TRACE_CBID_cudaFree_v3020, &f, 0);
    api(RT, CUPTI_RUNTIME_TRACE_CBID_cudaFreeHost_v3020, &fh, 0);
    api(RT, CUPTI_RUNTIME_TRACE_CBID_cudaFreeAsync_v11020, &fa, 0);
    api(DRV, CUPTI_DRIVER_TRACE_CBID_cuMemFree_v2, &df, 0);
    api(DRV, CUPTI_DRIVER_TRACE_CBID_cuMemFreeAsync, &dfa, 0);
    api(DRV, CUPTI_DRIVER_TRACE_CBID_cuMemFreeHost, &dfh, 0);
    api(DRV, CUPTI_DRIVER_TRACE_CBID_cuMemUnmap, &du, 0);
    api(RT, CUPTI_RUNTIME_TRACE_CBID_cudaMallocAsync_v11020, &ma, 0);
    api(DRV, CUPTI_DRIVER_TRACE_CBID_cuMemAlloc_v2, &da, 0);
    ck_assert_uint_eq(nrecords(), 9);
    for (size_t i = 0; i < 7; i++) {
        ck_assert_int_ge(rec(i)->enter_ns, before);
        ck_assert_int_ge(rec(i)->ts_ns, rec(i)->enter_ns);
    }
    ck_assert_uint_eq(rec(6)->kind, GT_RING_KIND_VMM_UNMAP);
    for (size_t i = 7; i < 9; i++) {
        ck_assert_uint_eq(rec(i)->kind, GT_RING_KIND_ALLOC);
        ck_assert_int_eq(rec(i)->enter_ns, 0);
        ck_assert_int_ge(rec(i)->ts_ns, before);
    }
}
END_TEST

START_TEST(a_failed_allocation_keeps_the_requested_size_and_code_but_no_pointer)
{
    void *ptr = (void *)(uintptr_t)0xdead; /* what the output holds is not read */
    cudaMalloc_v3020_params p = {&ptr, (size_t)80 << 30};
    api(RT, CUPTI_RUNTIME_TRACE_CBID_cudaMalloc_v3020, &p, 2 /* cudaErrorMemoryAllocation */);
    cuMemAlloc_v2_params d = {NULL, 4096}; /* and a NULL output pointer */
    api(DRV, CUPTI_DRIVER_TRACE_CBID_cuMemAlloc_v2, &d, 0);
    ck_assert_uint_eq(nrecords(), 2);
    ck_assert_int_eq(rec(0)->result, 2);
    ck_assert_uint_eq(rec(0)->addr, 0);
    ck_assert_uint_eq(rec(0)->size, (uint64_t)80 << 30);
    ck_assert_int_eq(rec(1)->result, 0);
    ck_assert_uint_eq(rec(1)->addr, 0);
    ck_assert_uint_eq(rec(1)->size, 4096);
}
END_TEST

START_TEST(pitched_and_3d_allocations_record_the_bytes_reserved_or_requested)
{
    void *ptr = (void *)(uintptr_t)0x1000;
    size_t pitch = 512;
    cudaMallocPitch_v3020_params p = {&ptr, &pitch, 500, 10};
    api(RT, CUPTI_RUNTIME_TRACE_CBID_cudaMallocPitch_v3020, &p, 0);
    api(RT, CUPTI_RUNTIME_TRACE_CBID_cudaMallocPitch_v3020, &p, 2);
    CUdeviceptr dptr = 0x2000;
    size_t dpitch = 1024;
    cuMemAllocPitch_v2_params d = {&dptr, &dpitch, 1000, 3, 4};
    api(DRV, CUPTI_DRIVER_TRACE_CBID_cuMemAllocPitch_v2, &d, 0);
    struct cudaPitchedPtr pp = {(void *)(uintptr_t)0x3000, 256, 200, 4};
    cudaMalloc3D_v3020_params m = {&pp, {200, 4, 5}};
    api(RT, CUPTI_RUNTIME_TRACE_CBID_cudaMalloc3D_v3020, &m, 0);
    api(RT, CUPTI_RUNTIME_TRACE_CBID_cudaMalloc3D_v3020, &m, 2);
    /* Sizes that overflow saturate instead of wrapping to something small. */
    cudaMallocPitch_v3020_params big = {&ptr, NULL, SIZE_MAX / 2, 3};
    api(RT, CUPTI_RUNTIME_TRACE_CBID_cudaMallocPitch_v3020, &big, 2);

    ck_assert_uint_eq(rec(0)->size, 512 * 10);
    ck_assert_uint_eq(rec(0)->addr, 0x1000);
    ck_assert_uint_eq(rec(1)->size, 500 * 10);
    ck_assert_uint_eq(rec(1)->addr, 0);
    ck_assert_uint_eq(rec(2)->size, 1024 * 3);
    ck_assert_uint_eq(rec(2)->addr, 0x2000);
    ck_assert_uint_eq(rec(3)->size, 256 * 4 * 5);
    ck_assert_uint_eq(rec(3)->addr, 0x3000);
    ck_assert_uint_eq(rec(4)->size, 200 * 4 * 5);
    ck_assert_uint_eq(rec(4)->addr, 0);
    ck_assert_uint_eq(rec(5)->size, UINT64_MAX);
}
END_TEST

START_TEST(a_driver_call_inside_a_runtime_call_is_left_out_and_others_are_not)
{
    CUdeviceptr dptr = 0x5000;
    void *ptr = (void *)(uintptr_t)0x5000;
    cudaMalloc_v3020_params rp = {&ptr, 4096};
    cuMemAlloc_v2_params dp = {&dptr, 4096};
    struct call outer = {RT, CUPTI_RUNTIME_TRACE_CBID_cudaMalloc_v3020, &rp, 0, 0, {0}};
    enter(&outer);
    api(DRV, CUPTI_DRIVER_TRACE_CBID_cuMemAlloc_v2, &dp, 0);
    leave(&outer);
    api(DRV, CUPTI_DRIVER_TRACE_CBID_cuMemAlloc_v2, &dp, 0);

    /* The driver call inside the runtime call is not recorded: the runtime
     * record stands for it. The one after it is. */
    ck_assert_uint_eq(nrecords(), 2);
    ck_assert_uint_eq(rec(0)->domain, CUPTI_CB_DOMAIN_RUNTIME_API);
    ck_assert_uint_eq(rec(0)->nested, 0);
    ck_assert_int_gt(rec(0)->ts_ns, 0);
    ck_assert_uint_eq(rec(1)->domain, CUPTI_CB_DOMAIN_DRIVER_API);
    ck_assert_uint_eq(rec(1)->nested, 0);
    ck_assert_int_gt(rec(1)->ts_ns, 0);
}
END_TEST

/* cuInit runs inside the program's first runtime call, so that call's EXIT
 * arrives without its ENTER: no enter time, and no depth left below zero. */
START_TEST(an_exit_without_its_enter_has_no_enter_time_and_leaves_nesting_alone)
{
    void *ptr = (void *)(uintptr_t)0x1000;
    cudaFree_v3020_params rp = {ptr};
    struct call first = {RT, CUPTI_RUNTIME_TRACE_CBID_cudaFree_v3020, &rp, 0, 0, {0}};
    enter(&first); /* build the data, then pretend ENTER never came: */
    tls.rt_depth = 0;
    first.corr = 12345;
    leave(&first);
    CUdeviceptr dptr = 0x2000;
    cuMemAlloc_v2_params dp = {&dptr, 64};
    api(DRV, CUPTI_DRIVER_TRACE_CBID_cuMemAlloc_v2, &dp, 0);
    ck_assert_int_eq(rec(0)->enter_ns, 0);
    ck_assert_uint_eq(rec(0)->nested, 0); /* nothing else recorded it */
    ck_assert_uint_eq(tls.rt_depth, 0);
    ck_assert_uint_eq(rec(1)->nested, 0);
}
END_TEST

/* Lazy initialization: the runtime call that ran cuInit made a driver call
 * after it, recorded unnested; that one is counted, the runtime record is
 * nested. The next runtime call is back to normal. */
START_TEST(the_call_that_initialized_cuda_is_counted_once_through_its_driver_call)
{
    void *ptr = (void *)(uintptr_t)0x1000;
    cudaMalloc_v3020_params rp = {&ptr, 64};
    CUdeviceptr dptr = 0x1000;
    cuMemAlloc_v2_params dp = {&dptr, 64};
    struct call first = {RT, CUPTI_RUNTIME_TRACE_CBID_cudaMalloc_v3020, &rp, 0, 0, {0}};
    enter(&first);
    tls.rt_depth = 0; /* that ENTER came before InitializeInjection */
    api(DRV, CUPTI_DRIVER_TRACE_CBID_cuMemAlloc_v2, &dp, 0);
    leave(&first);
    struct call second = {RT, CUPTI_RUNTIME_TRACE_CBID_cudaMalloc_v3020, &rp, 0, 0, {0}};
    enter(&second);
    api(DRV, CUPTI_DRIVER_TRACE_CBID_cuMemAlloc_v2, &dp, 0);
    leave(&second);
    api(DRV, CUPTI_DRIVER_TRACE_CBID_cuMemAlloc_v2, &dp, 0);

    ck_assert_uint_eq(nrecords(), 4);
    ck_assert_uint_eq(rec(0)->domain, CUPTI_CB_DOMAIN_DRIVER_API);
    ck_assert_uint_eq(rec(0)->nested, 0);
    ck_assert_uint_eq(rec(1)->domain, CUPTI_CB_DOMAIN_RUNTIME_API);
    ck_assert_uint_eq(rec(1)->nested, 1);
    ck_assert_int_eq(rec(1)->enter_ns, 0);
    /* The driver call inside the second call is not recorded. */
    ck_assert_uint_eq(rec(2)->domain, CUPTI_CB_DOMAIN_RUNTIME_API);
    ck_assert_uint_eq(rec(2)->nested, 0); /* the second call itself */
    ck_assert_int_gt(rec(2)->ts_ns, 0);
    ck_assert_uint_eq(rec(3)->domain, CUPTI_CB_DOMAIN_DRIVER_API);
    ck_assert_uint_eq(rec(3)->nested, 0); /* a direct driver call */
}
END_TEST

START_TEST(async_allocations_record_their_stream_for_plain_and_per_thread_cbids)
{
    void *ptr = (void *)(uintptr_t)0xa000;
    cudaStream_t s = (cudaStream_t)(uintptr_t)0x5151;
    cudaMallocAsync_v11020_params a = {&ptr, 256, s};
    api(RT, CUPTI_RUNTIME_TRACE_CBID_cudaMallocAsync_v11020, &a, 0);
    cudaMallocAsync_ptsz_v11020_params ap = {&ptr, 256, s};
    api(RT, CUPTI_RUNTIME_TRACE_CBID_cudaMallocAsync_ptsz_v11020, &ap, 0);
    cudaFreeAsync_ptsz_v11020_params f = {ptr, s};
    api(RT, CUPTI_RUNTIME_TRACE_CBID_cudaFreeAsync_ptsz_v11020, &f, 0);
    cudaMallocFromPoolAsync_v11020_params fp = {&ptr, 128, NULL, s};
    api(RT, CUPTI_RUNTIME_TRACE_CBID_cudaMallocFromPoolAsync_v11020, &fp, 0);
    CUdeviceptr d = 0xb000;
    cuMemAllocAsync_ptsz_params da = {&d, 512, (CUstream)(uintptr_t)0x77};
    api(DRV, CUPTI_DRIVER_TRACE_CBID_cuMemAllocAsync_ptsz, &da, 0);
    cuMemFreeAsync_params df = {d, (CUstream)(uintptr_t)0x77};
    api(DRV, CUPTI_DRIVER_TRACE_CBID_cuMemFreeAsync, &df, 0);
    cuMemAllocFromPoolAsync_params dfp = {&d, 64, NULL, (CUstream)(uintptr_t)0x78};
    api(DRV, CUPTI_DRIVER_TRACE_CBID_cuMemAllocFromPoolAsync, &dfp, 0);

    ck_assert_uint_eq(nrecords(), 7);
    uint64_t streams[] = {0x5151, 0x5151, 0x5151, 0x5151, 0x77, 0x77, 0x78};
    uint32_t kinds[] = {GT_RING_KIND_ALLOC, GT_RING_KIND_ALLOC, GT_RING_KIND_FREE,
                        GT_RING_KIND_ALLOC, GT_RING_KIND_ALLOC, GT_RING_KIND_FREE,
                        GT_RING_KIND_ALLOC};
    for (uint64_t i = 0; i < 7; i++) {
        ck_assert_uint_eq(rec(i)->stream, streams[i]);
        ck_assert_uint_eq(rec(i)->kind, kinds[i]);
    }
    ck_assert_uint_eq(rec(1)->cbid, CUPTI_RUNTIME_TRACE_CBID_cudaMallocAsync_ptsz_v11020);
    ck_assert_uint_eq(rec(2)->addr, 0xa000);
    ck_assert_uint_eq(rec(4)->addr, 0xb000);
    ck_assert_uint_eq(rec(4)->size, 512);
}
END_TEST

START_TEST(vmm_calls_record_handles_mappings_and_the_device_asked_for)
{
    CUmemGenericAllocationHandle h = 0x4242;
    CUmemAllocationProp prop;
    memset(&prop, 0, sizeof prop);
    prop.type = CU_MEM_ALLOCATION_TYPE_PINNED;
    prop.location.type = CU_MEM_LOCATION_TYPE_DEVICE;
    prop.location.id = 3;
    cuMemCreate_params c = {&h, 2 << 20, &prop, 0};
    api(DRV, CUPTI_DRIVER_TRACE_CBID_cuMemCreate, &c, 0);
    api(DRV, CUPTI_DRIVER_TRACE_CBID_cuMemCreate, &c, 2); /* OOM: size and device kept */
    cuMemMap_params m = {0x7000000, 2 << 20, 0, h, 0};
    api(DRV, CUPTI_DRIVER_TRACE_CBID_cuMemMap, &m, 0);
    cuMemUnmap_params u = {0x7000000, 2 << 20};
    api(DRV, CUPTI_DRIVER_TRACE_CBID_cuMemUnmap, &u, 0);
    cuMemRelease_params r = {h};
    api(DRV, CUPTI_DRIVER_TRACE_CBID_cuMemRelease, &r, 0);

    ck_assert_uint_eq(rec(0)->kind, GT_RING_KIND_VMM_CREATE);
    ck_assert_uint_eq(rec(0)->addr, 0x4242);
    ck_assert_uint_eq(rec(0)->size, 2 << 20);
    ck_assert_int_eq(rec(0)->device, 3);
    ck_assert_int_eq(rec(1)->result, 2);
    ck_assert_uint_eq(rec(1)->addr, 0);
    ck_assert_uint_eq(rec(1)->size, 2 << 20);
    ck_assert_int_eq(rec(1)->device, 3);
    ck_assert_uint_eq(rec(2)->kind, GT_RING_KIND_VMM_MAP);
    ck_assert_uint_eq(rec(2)->addr, 0x7000000);
    ck_assert_uint_eq(rec(2)->size, 2 << 20);
    ck_assert_uint_eq(rec(3)->kind, GT_RING_KIND_VMM_UNMAP);
    ck_assert_uint_eq(rec(3)->addr, 0x7000000);
    ck_assert_uint_eq(rec(4)->kind, GT_RING_KIND_VMM_RELEASE);
    ck_assert_uint_eq(rec(4)->addr, 0x4242);
}
END_TEST

START_TEST(pinned_host_memory_and_memory_info_have_their_own_kinds)
{
    void *host = (void *)(uintptr_t)0x9000;
    cudaHostAlloc_v3020_params ha = {&host, 100, 0};
    api(RT, CUPTI_RUNTIME_TRACE_CBID_cudaHostAlloc_v3020, &ha, 0);
    cudaMallocHost_v3020_params mh = {&host, 200};
    api(RT, CUPTI_RUNTIME_TRACE_CBID_cudaMallocHost_v3020, &mh, 0);
    cudaFreeHost_v3020_params fh = {host};
    api(RT, CUPTI_RUNTIME_TRACE_CBID_cudaFreeHost_v3020, &fh, 0);
    cuMemHostAlloc_params dha = {&host, 300, 0};
    api(DRV, CUPTI_DRIVER_TRACE_CBID_cuMemHostAlloc, &dha, 0);
    cuMemFreeHost_params dfh = {host};
    api(DRV, CUPTI_DRIVER_TRACE_CBID_cuMemFreeHost, &dfh, 0);
    size_t fr = 1000, total = 8000;
    cudaMemGetInfo_v3020_params mi = {&fr, &total};
    api(RT, CUPTI_RUNTIME_TRACE_CBID_cudaMemGetInfo_v3020, &mi, 0);
    cuMemGetInfo_v2_params dmi = {&fr, NULL};
    api(DRV, CUPTI_DRIVER_TRACE_CBID_cuMemGetInfo_v2, &dmi, 0);

    uint32_t kinds[] = {GT_RING_KIND_HOST_ALLOC, GT_RING_KIND_HOST_ALLOC, GT_RING_KIND_HOST_FREE,
                        GT_RING_KIND_HOST_ALLOC, GT_RING_KIND_HOST_FREE,  GT_RING_KIND_MEMINFO,
                        GT_RING_KIND_MEMINFO};
    ck_assert_uint_eq(nrecords(), 7);
    for (uint64_t i = 0; i < 7; i++)
        ck_assert_uint_eq(rec(i)->kind, kinds[i]);
    ck_assert_uint_eq(rec(0)->addr, 0x9000);
    ck_assert_uint_eq(rec(0)->size, 100);
    ck_assert_uint_eq(rec(2)->addr, 0x9000);
    ck_assert_uint_eq(rec(5)->addr, 1000);
    ck_assert_uint_eq(rec(5)->size, 8000);
    ck_assert_uint_eq(rec(6)->addr, 1000);
    ck_assert_uint_eq(rec(6)->size, 0);
}
END_TEST

/* Every enabled cbid translates to a record of the enabled domain: the table
 * and the translation cannot drift apart. Zeroed params: NULL outputs. */
START_TEST(every_enabled_cbid_makes_a_record_and_others_make_none)
{
    uint64_t params[16] = {0};
    for (size_t i = 0; i < gt_inject_ncbids; i++)
        api(gt_inject_cbids[i].domain, gt_inject_cbids[i].cbid, params, 1);
    ck_assert_uint_eq(nrecords(), gt_inject_ncbids);
    ck_assert_uint_eq(gt_inject_ncbids, 33);
    for (size_t i = 0; i < gt_inject_ncbids; i++) {
        ck_assert_uint_eq(rec(i)->domain, gt_inject_cbids[i].domain);
        ck_assert_uint_eq(rec(i)->cbid, gt_inject_cbids[i].cbid);
        ck_assert_uint_ne(rec(i)->kind, GT_RING_KIND_DROPPED);
        ck_assert_int_eq(rec(i)->result, 1);
    }
    api(RT, CUPTI_RUNTIME_TRACE_CBID_cudaMemcpy_v3020, params, 0);
    api(DRV, CUPTI_DRIVER_TRACE_CBID_cuCtxGetCurrent, params, 0);
    api(DRV, CUPTI_DRIVER_TRACE_CBID_cuMemAlloc_v2, NULL, 0); /* no params: nothing */
    ck_assert_uint_eq(nrecords(), gt_inject_ncbids);
}
END_TEST

static int device_calls;

/* cuptiGetDeviceId's stand-in; calls the callback back, as a CUPTI that
 * traced its own driver calls would, to check the recursion guard. */
static CUptiResult CUPTIAPI fake_device_id(CUcontext ctx, uint32_t *dev)
{
    device_calls++;
    CUdeviceptr d = 1;
    cuMemAlloc_v2_params p = {&d, 1};
    api(DRV, CUPTI_DRIVER_TRACE_CBID_cuMemAlloc_v2, &p, 0);
    if (ctx == CTX) {
        *dev = 5;
        return CUPTI_SUCCESS;
    }
    return CUPTI_ERROR_INVALID_CONTEXT;
}

START_TEST(the_device_comes_from_cupti_once_per_context_and_never_recurses)
{
    g_cupti.device_id = fake_device_id;
    void *ptr = (void *)(uintptr_t)0x1000;
    cudaMalloc_v3020_params p = {&ptr, 64};
    api(RT, CUPTI_RUNTIME_TRACE_CBID_cudaMalloc_v3020, &p, 0);
    api(RT, CUPTI_RUNTIME_TRACE_CBID_cudaMalloc_v3020, &p, 0);
    ck_assert_uint_eq(nrecords(), 2); /* the callback's own call made no record */
    ck_assert_int_eq(rec(0)->device, 5);
    ck_assert_int_eq(rec(1)->device, 5);
    ck_assert_int_eq(device_calls, 1);
    /* A context CUPTI cannot place is -1, and CUPTI is not asked again. */
    struct call c = {RT, CUPTI_RUNTIME_TRACE_CBID_cudaMalloc_v3020, &p, 0, 0, {0}};
    for (int i = 0; i < 2; i++) {
        enter(&c);
        c.cb.context = (CUcontext)(uintptr_t)0xbad;
        c.cb.contextUid = 2;
        leave(&c);
    }
    ck_assert_int_eq(rec(2)->device, -1);
    ck_assert_int_eq(rec(3)->device, -1);
    ck_assert_int_eq(device_calls, 2);
    /* No context: no question. */
    enter(&c);
    c.cb.context = NULL;
    leave(&c);
    ck_assert_int_eq(rec(4)->device, -1);
    ck_assert_int_eq(device_calls, 2);
    /* Another context whose uid shares the cached slot is asked afresh. */
    enter(&c);
    c.cb.context = CTX;
    c.cb.contextUid = 1 + 64;
    leave(&c);
    ck_assert_int_eq(rec(5)->device, 5);
    ck_assert_int_eq(device_calls, 3);
}
END_TEST

/* The thread remembers its last context's device: a thread that switches
 * between contexts must still get each one's own device, and a context
 * CUPTI already placed is not asked about again. */
START_TEST(a_thread_alternating_contexts_records_each_ones_device)
{
    g_cupti.device_id = fake_device_id;
    void *ptr = (void *)(uintptr_t)0x1000;
    cudaMalloc_v3020_params p = {&ptr, 64};
    struct call c = {RT, CUPTI_RUNTIME_TRACE_CBID_cudaMalloc_v3020, &p, 0, 0, {0}};
    for (int i = 0; i < 6; i++) {
        enter(&c);
        c.cb.context = i % 2 == 0 ? CTX : (CUcontext)(uintptr_t)0xbad;
        c.cb.contextUid = i % 2 == 0 ? 1 : 2;
        leave(&c);
    }
    ck_assert_uint_eq(nrecords(), 6);
    for (uint64_t i = 0; i < 6; i++)
        ck_assert_int_eq(rec(i)->device, i % 2 == 0 ? 5 : -1);
    ck_assert_int_eq(device_calls, 2);
}
END_TEST

START_TEST(exit_publishes_one_end_record_and_stops_tracing)
{
    cudaFree_v3020_params p = {(void *)(uintptr_t)0x1000};
    api(RT, CUPTI_RUNTIME_TRACE_CBID_cudaFree_v3020, &p, 0);
    gt_inject_test_end();
    api(RT, CUPTI_RUNTIME_TRACE_CBID_cudaFree_v3020, &p, 0);
    gt_inject_test_end();
    ck_assert_uint_eq(nrecords(), 2);
    ck_assert_uint_eq(rec(0)->kind, GT_RING_KIND_FREE);
    ck_assert_uint_eq(rec(1)->kind, GT_RING_KIND_END);
    ck_assert_int_eq(rec(1)->tid, (int64_t)syscall(SYS_gettid));
}
END_TEST

START_TEST(a_forked_child_neither_traces_nor_ends_the_parents_ring)
{
    cudaFree_v3020_params p = {(void *)(uintptr_t)0x1000};
    pid_t child = fork();
    ck_assert_int_ge(child, 0);
    if (child == 0) {
        gt_inject_test_atfork_child(); /* what pthread_atfork runs */
        api(RT, CUPTI_RUNTIME_TRACE_CBID_cudaFree_v3020, &p, 0);
        at_exit();
        _exit(tls.tid == 0 ? 0 : 1);
    }
    int status = 0;
    ck_assert_int_eq(waitpid(child, &status, 0), child);
    ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    ck_assert_uint_eq(nrecords(), 0);
    /* The parent goes on. */
    api(RT, CUPTI_RUNTIME_TRACE_CBID_cudaFree_v3020, &p, 0);
    ck_assert_uint_eq(nrecords(), 1);
}
END_TEST

START_TEST(a_cupti_fatal_error_stops_tracing_and_says_why_in_the_ring)
{
    CUpti_StateData sd;
    memset(&sd, 0, sizeof sd);
    sd.notification.result = CUPTI_ERROR_UNKNOWN;
    sd.notification.message = "device lost";
    gt_inject_callback(NULL, CUPTI_CB_DOMAIN_STATE, CUPTI_CBID_STATE_FATAL_ERROR, &sd);
    ck_assert_uint_eq(atomic_load(&hdr->status), GT_RING_STOPPED);
    ck_assert_ptr_nonnull(strstr(hdr->status_msg, "device lost"));
    cudaFree_v3020_params p = {(void *)(uintptr_t)0x1000};
    api(RT, CUPTI_RUNTIME_TRACE_CBID_cudaFree_v3020, &p, 0);
    gt_inject_test_end();
    ck_assert_uint_eq(nrecords(), 0);
}
END_TEST

/* With no CUPTI mapped, the first of `record`'s candidates that loads is
 * used, and the ring names it by its full path. GT_FAKE_CUPTI is the CUPTI
 * double (set by CTest); a missing file before it is skipped. */
START_TEST(the_first_candidate_that_loads_is_used_and_named_in_full)
{
    const char *fake = getenv("GT_FAKE_CUPTI");
    ck_assert_msg(fake != NULL && fake[0] == '/', "GT_FAKE_CUPTI must name the CUPTI double");
    char list[1024], err[160] = "";
    snprintf(list, sizeof list, "/nonexistent/libcupti.so.12:%s", fake);
    ck_assert_int_eq(gt_cupti_load(NULL, list, err, sizeof err), 0);
    char real[PATH_MAX];
    ck_assert_ptr_nonnull(realpath(fake, real));
    ck_assert_str_eq(gt_cupti_loaded_path(), real);
    gt_ringw_set_cupti(gt_inject_test_ring(), gt_cupti_loaded_path());
    ck_assert_str_eq(hdr->cupti_path, real);
}
END_TEST

/* A path the user chose is taken or refused, never replaced by a candidate. */
START_TEST(a_chosen_path_that_fails_is_an_error_even_with_candidates)
{
    const char *fake = getenv("GT_FAKE_CUPTI");
    ck_assert_ptr_nonnull(fake);
    char err[160] = "";
    ck_assert_int_eq(gt_cupti_load("/nonexistent/libcupti.so.13", fake, err, sizeof err), -1);
    ck_assert_ptr_nonnull(strstr(err, "cannot load CUPTI"));
}
END_TEST

/* The process's rank comes from the launcher's variable, as record's %r:
 * the first of RANK, SLURM_PROCID, OMPI_COMM_WORLD_RANK, PMI_RANK that is
 * set and not empty; one that is not a number is no rank. */
START_TEST(the_rank_is_the_first_launcher_variable_set)
{
    static const char *const vars[] = GT_RING_RANK_VARS;
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        unsetenv(vars[i]);
    setenv(GT_RING_ENV_DIR, "/nonexistent", 1);
    struct config c;
    read_config(&c);
    ck_assert_int_eq(c.rank, -1);
    setenv("PMI_RANK", "9", 1);
    setenv("SLURM_PROCID", "5", 1);
    read_config(&c);
    ck_assert_int_eq(c.rank, 5);
    setenv("RANK", "", 1); /* empty: not set */
    read_config(&c);
    ck_assert_int_eq(c.rank, 5);
    setenv("RANK", "3", 1);
    read_config(&c);
    ck_assert_int_eq(c.rank, 3);
    setenv("RANK", "three", 1);
    read_config(&c);
    ck_assert_int_eq(c.rank, -1);
}
END_TEST

static Suite *callback_suite(void)
{
    Suite *s = suite_create("inject_callback");
    TCase *tc = tcase_create("callback");

    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, a_successful_cudaMalloc_records_pointer_size_thread_and_its_exit_time);
    tcase_add_test(tc, releases_record_their_enter_time_and_allocations_do_not);
    tcase_add_test(tc, a_failed_allocation_keeps_the_requested_size_and_code_but_no_pointer);
    tcase_add_test(tc, pitched_and_3d_allocations_record_the_bytes_reserved_or_requested);
    tcase_add_test(tc, a_driver_call_inside_a_runtime_call_is_left_out_and_others_are_not);
    tcase_add_test(tc, an_exit_without_its_enter_has_no_enter_time_and_leaves_nesting_alone);
    tcase_add_test(tc, the_call_that_initialized_cuda_is_counted_once_through_its_driver_call);
    tcase_add_test(tc, async_allocations_record_their_stream_for_plain_and_per_thread_cbids);
    tcase_add_test(tc, vmm_calls_record_handles_mappings_and_the_device_asked_for);
    tcase_add_test(tc, pinned_host_memory_and_memory_info_have_their_own_kinds);
    tcase_add_test(tc, every_enabled_cbid_makes_a_record_and_others_make_none);
    tcase_add_test(tc, the_device_comes_from_cupti_once_per_context_and_never_recurses);
    tcase_add_test(tc, a_thread_alternating_contexts_records_each_ones_device);
    tcase_add_test(tc, exit_publishes_one_end_record_and_stops_tracing);
    tcase_add_test(tc, a_forked_child_neither_traces_nor_ends_the_parents_ring);
    tcase_add_test(tc, a_cupti_fatal_error_stops_tracing_and_says_why_in_the_ring);
    tcase_add_test(tc, the_first_candidate_that_loads_is_used_and_named_in_full);
    tcase_add_test(tc, a_chosen_path_that_fails_is_an_error_even_with_candidates);
    tcase_add_test(tc, the_rank_is_the_first_launcher_variable_set);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(callback_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
