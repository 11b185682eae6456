/* The shared-memory ring between the injection library (the producer, inside
 * a traced process) and `gpu-trace record` (the consumer, the launcher that
 * writes SQLite). Each traced process that initializes CUDA creates its own
 * ring file <GPUTRACE_RING_DIR>/ring-<pid>.bin (O_CREAT|O_EXCL, mode 0600),
 * sizes it, maps it MAP_SHARED and fills the header. Records reach the file's
 * pages the moment they are published, so a SIGKILL, abort() or os._exit of
 * the traced process loses nothing that was published (
 * docs/notes/cupti.md §0.4, §5.4). This header is the contract of both sides; it uses
 * only C11 atomics so the injection library needs no gpu-trace code.
 *
 * Publication: a producer claims index i = head with a compare-and-swap that
 * succeeds only while i - tail < capacity, so a claimed slot is never one the
 * consumer has yet to read. When the ring is full the producer counts the
 * record in `dropped` (it never blocks the program); the next record that
 * fits is preceded by one GT_RING_KIND_DROPPED record whose `size` is the
 * number dropped since the last. A producer fills records[i % capacity] and
 * then stores published = i + 1 with release order. The consumer reads
 * record `tail` when published == tail + 1 (acquire), then advances `tail`
 * (release). A slot claimed but never published (the process died between
 * claim and publish) stalls the consumer until the process is gone; then the
 * consumer skips it and counts it lost. */
#ifndef GPUTRACE_RING_H
#define GPUTRACE_RING_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>

#define GT_RING_MAGIC 0x47525447u /* "GTRG" */
#define GT_RING_VERSION 4         /* 2: the devices table; 3: cupti_path; 4: Python stacks */
/* Records per ring, a power of two: 262144 records of 80 bytes, 20 MiB per
 * traced process, hold about 70 ms of the fastest program through the test
 * doubles (3.8 M events/s) and over half a second of the H100 burst of
 * docs/validation.md; at 65536 that churn lost a third of its events. */
#define GT_RING_DEFAULT_CAPACITY (1u << 18)

/* Environment of the traced program, set by `gpu-trace record`. */
#define GT_RING_ENV_DIR "GPUTRACE_RING_DIR"           /* folder of the ring files */
#define GT_RING_ENV_CAPACITY "GPUTRACE_RING_CAPACITY" /* records, power of two */
#define GT_RING_ENV_CUPTI "GPUTRACE_CUPTI"            /* libcupti to dlopen (tests: the double) */
/* libcupti files `record` found in the program's environment (its Python's
 * NVIDIA wheels, conda, the toolkit), colon-separated, most likely first:
 * tried when the process has no CUPTI mapped yet. */
#define GT_RING_ENV_CUPTI_CANDIDATES "GPUTRACE_CUPTI_CANDIDATES"
#define GT_RING_ENV_FRAMES "GPUTRACE_FRAMES" /* "0": no Python stacks (record --no-frames) */
/* The launchers' rank variables, most specific first: torchrun sets RANK
 * for its workers, srun SLURM_PROCID, Open MPI and PMI-based MPIs (MPICH,
 * Intel MPI) their own. The first one set is a process's rank, for the
 * tracer (the processes table) and for record's -o %r alike. */
#define GT_RING_RANK_VARS                                                                          \
    {                                                                                              \
        "RANK", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK", "PMI_RANK"                                 \
    }

/* The launcher's rank as it wrote it: the value of the first of
 * GT_RING_RANK_VARS that is set and not empty, or NULL; *var (when not NULL)
 * gets that variable's name. Inline: the injection library links no
 * gpu-trace code, and both sides must read the rank the same way. */
static inline const char *gt_ring_rank_env(const char **var)
{
    static const char *const names[] = GT_RING_RANK_VARS;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        const char *v = getenv(names[i]);
        if (v != NULL && v[0] != '\0') {
            if (var != NULL)
                *var = names[i];
            return v;
        }
    }
    return NULL;
}

/* Status of the tracer in one process. */
enum gt_ring_status {
    GT_RING_STARTING = 0,
    GT_RING_ACTIVE = 1,
    GT_RING_UNAVAILABLE = 2, /* no CUPTI, another subscriber...: status_msg says which */
    GT_RING_STOPPED = 3,     /* CUPTI reported a fatal error; tracing stopped */
};

/* What a record is. Raw API facts, interpreted by the launcher: whether an
 * alloc is a tensor (requests mode) or a segment (native mode) is the
 * launcher's decision, not the hot path's. */
enum gt_ring_kind {
    GT_RING_KIND_DROPPED = 0,    /* a claimed index given up because the ring was full */
    GT_RING_KIND_ALLOC = 1,      /* device memory: cudaMalloc, cuMemAlloc, *Async, pitch */
    GT_RING_KIND_FREE = 2,       /* cudaFree, cuMemFree, *FreeAsync */
    GT_RING_KIND_HOST_ALLOC = 3, /* pinned host memory */
    GT_RING_KIND_HOST_FREE = 4,
    GT_RING_KIND_VMM_CREATE = 5,  /* cuMemCreate: physical memory (size, handle in addr) */
    GT_RING_KIND_VMM_RELEASE = 6, /* cuMemRelease (handle in addr) */
    GT_RING_KIND_VMM_MAP = 7,     /* cuMemMap: addr, size */
    GT_RING_KIND_VMM_UNMAP = 8,   /* cuMemUnmap: addr, size */
    GT_RING_KIND_MEMINFO = 9,     /* cudaMemGetInfo: addr = free, size = total; with domain 0
                                   * the tracer's own query right after this thread's
                                   * allocation failed for lack of memory */
    GT_RING_KIND_END = 10,        /* the process's atexit marker */
};

/* A record's result for out of memory: 2 in both APIs
 * (cudaErrorMemoryAllocation, CUDA_ERROR_OUT_OF_MEMORY). */
#define GT_RING_OUT_OF_MEMORY 2

/* One record: fixed size, no pointers. `published` is written last. */
struct gt_ring_record {
    _Atomic uint64_t published; /* index + 1 once the record is complete */
    uint32_t kind;              /* enum gt_ring_kind */
    int32_t result;             /* CUDA/CUresult return code, 0 = success */
    uint16_t domain; /* CUPTI callback domain (driver 1, runtime 2, as CUpti_CallbackDomain) */
    uint16_t nested; /* 1: a record the consumer only counts: a runtime call whose
                      * driver calls were recorded before it (the first call of a
                      * thread, whose ENTER came before CUPTI's subscription). A
                      * driver call made inside a traced runtime call is not
                      * recorded; earlier tracers recorded it with nested = 1,
                      * which the consumer counts and skips the same way. */
    uint32_t cbid;   /* CUPTI callback id */
    int32_t device;  /* device ordinal, -1 unknown */
    uint32_t stack;  /* ALLOC records: the Python stack of the call, an id defined in
                      * the frames region, or GT_RING_STACK_NONE / _NO_GIL */
    int64_t tid;
    int64_t ts_ns;    /* CLOCK_MONOTONIC at API exit */
    int64_t enter_ns; /* CLOCK_MONOTONIC at API enter, for FREE, HOST_FREE and
                       * VMM_UNMAP records (the consumer orders releases by it);
                       * 0 for other kinds and when unknown */
    uint64_t stream;  /* raw stream handle; 0 legacy default */
    uint64_t addr;    /* pointer (or VMM handle, or free bytes for MEMINFO) */
    uint64_t size;    /* bytes (or total bytes for MEMINFO) */
};

/* 80 bytes: a record's size is part of the contract (record_size). */
_Static_assert(sizeof(struct gt_ring_record) == 80, "ring records are 80 bytes");

/* Python stacks (ALLOC records' `stack`). A process running Python
 * defines each distinct frame and stack once, in the frames region after
 * the records, and its records name a stack by id. The region is a
 * sequence of entries, each 8-byte aligned and `size` bytes long
 * (header included): a FRAME entry's data is the file name and the
 * function name, each NUL-terminated; a STACK entry's is `arg` frame ids
 * (uint32_t), innermost first. Ids count from 1 in order of definition, per
 * kind. The producer writes an entry, then stores frames_used past it
 * (release); it defines a stack before it publishes the first record that
 * names it, so a consumer that read that record (acquire) and then loads
 * frames_used (acquire) finds the definition. */
#define GT_RING_FRAMES_BYTES (2u << 20)  /* ~10,000 frames and stacks of 16 */
#define GT_RING_MAX_DEPTH 16             /* frames kept per stack, the innermost */
#define GT_RING_STACK_NONE 0u            /* no Python in the process, or frames off */
#define GT_RING_STACK_NO_GIL 0xffffffffu /* the calling thread did not hold the GIL */
enum gt_ring_frame_type {
    GT_RING_FRAME = 1, /* arg: line number; data: filename NUL name NUL */
    GT_RING_STACK = 2, /* arg: depth (1..GT_RING_MAX_DEPTH); data: frame ids */
};
struct gt_ring_frame_entry {
    uint32_t size; /* bytes of the entry, header included, a multiple of 8 */
    uint32_t type; /* enum gt_ring_frame_type */
    uint32_t id;   /* the frame's or the stack's id */
    uint32_t arg;
    unsigned char data[];
};

/* What a process learned of a device the first time it recorded on it. The
 * producer claims a slot with state 0 -> 1, fills it, then stores 2 (release);
 * the consumer reads it once state is 2 (acquire). */
#define GT_RING_MAX_DEVICES 16
struct gt_ring_device {
    _Atomic uint32_t state; /* 0 unknown, 1 being written, 2 ready */
    uint32_t pad;
    uint64_t total_memory; /* cuDeviceTotalMem: totalGlobalMem, bytes */
    char name[96];         /* cuDeviceGetName, NUL-terminated */
};

struct gt_ring_header {
    uint32_t magic;       /* GT_RING_MAGIC, written last at init (release) */
    uint32_t version;     /* GT_RING_VERSION */
    uint32_t record_size; /* sizeof(struct gt_ring_record) */
    uint32_t capacity;    /* number of records, a power of two */
    int64_t pid, ppid;
    int64_t rank; /* from the first of GT_RING_RANK_VARS set, -1 if none or unreadable */
    int64_t realtime_anchor_ns, monotonic_anchor_ns; /* clocks read together at init */
    _Atomic uint32_t status;                         /* enum gt_ring_status */
    uint32_t pad;
    _Atomic uint64_t head;    /* next index to claim */
    _Atomic uint64_t tail;    /* next index the consumer reads (consumer writes) */
    _Atomic uint64_t dropped; /* records dropped on a full ring */
    char status_msg[160];     /* why tracing is unavailable, NUL-terminated */
    char command[512];        /* /proc/self/cmdline, NULs replaced by spaces */
    char cupti_path[256];     /* the libcupti file traced with, once ACTIVE; NUL-terminated */
    uint32_t frames_bytes;    /* GT_RING_FRAMES_BYTES: the frames region's size */
    uint32_t pad2;
    _Atomic uint64_t frames_used; /* bytes of the frames region written (release) */
    _Atomic uint64_t stacks_lost; /* stacks not defined: region or tables full */
    struct gt_ring_device devices[GT_RING_MAX_DEVICES]; /* by device ordinal */
    struct gt_ring_record records[];                    /* capacity records */
};

/* Bytes of a ring file of `capacity` records: the header, the records,
 * then the frames region. */
#define GT_RING_RECORDS_END(capacity)                                                              \
    (sizeof(struct gt_ring_header) + (uint64_t)(capacity) * sizeof(struct gt_ring_record))
#define GT_RING_BYTES(capacity) (GT_RING_RECORDS_END(capacity) + GT_RING_FRAMES_BYTES)

#endif
