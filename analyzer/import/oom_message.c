/* PyTorch's out-of-memory message, read from pasted text (oom_message.h).
 *
 * Pasted text is messy: wrapped by a terminal mid-word, indented, inside a
 * traceback, after log prefixes. The message is read from a copy with
 * every blank removed, so "total capa-|city" wrapped anywhere still reads
 * "totalcapacity", and the patterns below are the words of PyTorch's own
 * format strings without their spaces. */
#include "gputrace/oom_message.h"
#include "gputrace/err.h"
#include "gputrace/files.h"
#include "gputrace/units.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "gputrace/banned.h"

/* A pasted log is read up to this size; the message is near its end. */
#define READ_MAX ((size_t)4 << 20)
/* and no further than this: standard input may never end */
#define READ_TOTAL_MAX ((size_t)256 << 20)
/* How far after its first words a message's numbers may be. */
#define MESSAGE_SPAN 4096
#define MIB ((uint64_t)1 << 20)
#define GIB ((uint64_t)1 << 30)
/* A CUDA context and its libraries take up to about this much outside the
 * allocator; the 1.x wording cannot tell it from other processes. */
#define CONTEXT_ALLOWANCE GIB

/* The compact text and a read position in it. */
struct cursor {
    const char *s;
    size_t len, pos;
};

static bool is_blank(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Length of what a pasted line may start with before the message goes
 * on: quoting and comment marks ("# ", "> ", "| ", "* ", "`") and
 * torchrun's "[rank0]:". */
static size_t line_prefix(const char *t, size_t len)
{
    size_t i = 0;

    for (;;) {
        while (i < len && (is_blank((unsigned char)t[i]) || strchr("#>|*`", t[i]) != NULL) &&
               t[i] != '\n' && t[i] != '\0')
            i++;
        if (i + 6 < len && memcmp(t + i, "[rank", 5) == 0) {
            size_t j = i + 5;
            while (j < len && t[j] >= '0' && t[j] <= '9')
                j++;
            if (j + 1 < len && t[j] == ']' && t[j + 1] == ':') {
                i = j + 2;
                continue;
            }
        }
        return i;
    }
}

/* The text without blanks and line prefixes; NULL when out of memory. */
static char *compact(const char *text, size_t len, size_t *out_len)
{
    char *c = malloc(len + 1);
    size_t n = 0;

    if (c == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        if (i == 0 || text[i - 1] == '\n')
            i += line_prefix(text + i, len - i);
        if (i < len && !is_blank((unsigned char)text[i]) && text[i] != '\0')
            c[n++] = text[i];
    }
    c[n] = '\0';
    *out_len = n;
    return c;
}

/* Position of the last occurrence of word in s[0..len), or SIZE_MAX. */
static size_t find_last(const char *s, size_t len, const char *word)
{
    size_t w = strlen(word);

    for (size_t i = len >= w ? len - w + 1 : 0; i-- > 0;)
        if (memcmp(s + i, word, w) == 0)
            return i;
    return SIZE_MAX;
}

/* Moves past the next occurrence of word before limit; false (cursor
 * unmoved) if there is none. */
static bool seek(struct cursor *c, const char *word, size_t limit)
{
    size_t w = strlen(word), end = limit < c->len ? limit : c->len;

    for (size_t i = c->pos; i + w <= end; i++) {
        if (memcmp(c->s + i, word, w) == 0) {
            c->pos = i + w;
            return true;
        }
    }
    return false;
}

static bool take(struct cursor *c, const char *word)
{
    size_t w = strlen(word);

    if (c->pos + w > c->len || memcmp(c->s + c->pos, word, w) != 0)
        return false;
    c->pos += w;
    return true;
}

static bool integer(struct cursor *c, int64_t *out)
{
    int64_t v = 0;
    size_t start = c->pos;

    while (c->pos < c->len && c->s[c->pos] >= '0' && c->s[c->pos] <= '9' && c->pos - start < 18)
        v = v * 10 + (c->s[c->pos++] - '0');
    *out = v;
    return c->pos > start;
}

/* Units as format_size prints them (bytes, KiB, MiB, GiB), and those of
 * other backends (MPS prints GB, of 1024^3 bytes). Longest first. */
static const struct {
    const char *name;
    uint64_t bytes;
} units[] = {
    {"bytes", 1},
    {"byte", 1},
    {"TiB", (uint64_t)1 << 40},
    {"GiB", GIB},
    {"MiB", MIB},
    {"KiB", 1024},
    {"TB", (uint64_t)1 << 40},
    {"GB", GIB},
    {"MB", MIB},
    {"KB", 1024},
    {"kB", 1024},
    {"B", 1},
};

/* "20.00MiB": a number and its unit. */
static bool size(struct cursor *c, struct gt_oom_msg_value *v)
{
    size_t start = c->pos, digits = 0, frac = 0;
    double whole = 0, part = 0, scale = 1;

    while (c->pos < c->len && c->s[c->pos] >= '0' && c->s[c->pos] <= '9' && digits < 20) {
        whole = whole * 10 + (c->s[c->pos++] - '0');
        digits++;
    }
    if (digits > 0 && c->pos < c->len && c->s[c->pos] == '.') {
        c->pos++;
        while (c->pos < c->len && c->s[c->pos] >= '0' && c->s[c->pos] <= '9' && frac < 9) {
            part = part * 10 + (c->s[c->pos++] - '0');
            scale *= 10;
            frac++;
        }
    }
    for (size_t u = 0; digits > 0 && u < sizeof units / sizeof units[0]; u++) {
        if (take(c, units[u].name)) {
            double b = (whole + part / scale) * (double)units[u].bytes;
            v->known = true;
            v->bytes = b >= 1.8e19 ? UINT64_MAX : (uint64_t)llround(b);
            /* half a unit of the last digit printed */
            v->slack = (uint64_t)((double)units[u].bytes / scale / 2);
            return true;
        }
    }
    c->pos = start;
    return false;
}

static void set(struct gt_oom_msg_value *v, uint64_t bytes, uint64_t slack)
{
    v->known = true;
    v->derived = true;
    v->bytes = bytes;
    v->slack = slack;
}

/* ------------------------------------------------------------ wordings */

/* "Process 12345 has 14.74 GiB memory in use." before limit. */
static void processes(struct cursor *c, size_t limit, struct gt_oom_message *m)
{
    int64_t pid;
    struct gt_oom_msg_value v = {0};

    while (seek(c, "Process", limit)) {
        if (!integer(c, &pid) || !take(c, "has") || !size(c, &v) || !take(c, "memoryinuse"))
            continue;
        if (m->nprocesses_listed++ < GT_OOM_MSG_MAX_PROCESSES) {
            m->processes[m->nprocesses].pid = pid;
            m->processes[m->nprocesses++].bytes = v.bytes;
        }
    }
}

/* Drops this process from the list (PyTorch lists every process on the
 * card, this one included): the entry of its in-use memory, or the only
 * entry when the message does not say this process's. NVML in a container
 * reports 0 bytes for this process: that says nothing. */
static void drop_self(struct gt_oom_message *m)
{
    if (m->process_in_use.known && m->process_in_use.bytes == 0)
        m->process_in_use = (struct gt_oom_msg_value){0};
    if (!m->process_in_use.known && m->nprocesses == 1 && m->nprocesses_listed == 1) {
        set(&m->process_in_use, m->processes[0].bytes, 0);
        m->nprocesses = 0;
        return;
    }
    /* Without its own clause, this process is the one that holds at least
     * what its allocator reserved, and the least such. */
    if (!m->process_in_use.known && m->reserved.known) {
        size_t best = SIZE_MAX;
        uint64_t floor =
            m->reserved.bytes > m->reserved.slack ? m->reserved.bytes - m->reserved.slack : 0;
        for (size_t i = 0; i < m->nprocesses; i++)
            if (m->processes[i].bytes >= floor &&
                (best == SIZE_MAX || m->processes[i].bytes < m->processes[best].bytes))
                best = i;
        if (best != SIZE_MAX)
            set(&m->process_in_use, m->processes[best].bytes, 0);
    }
    for (size_t i = 0; m->process_in_use.known && i < m->nprocesses; i++) {
        if (m->processes[i].bytes == m->process_in_use.bytes) {
            m->processes[i] = m->processes[--m->nprocesses];
            return;
        }
    }
}

/* 2.1+ (and HIP, XPU): "GPU 0 has a total capacity of T of which F is free.
 * [Process P has M memory in use.] Including non-PyTorch memory, this
 * process has U memory in use. Of the allocated memory A is allocated by
 * PyTorch, [with P allocated in private pools (e.g., CUDA Graphs),] and R
 * is reserved by PyTorch but unallocated." Some releases spell it
 * "capacty". */
static bool new_wording(struct cursor *c, size_t end, struct gt_oom_message *m)
{
    struct cursor k = *c, g = *c;
    size_t including;
    bool found = false;

    /* Each part is read where it is: a pasted message may be cut. */
    if (seek(&g, "GPU", end) && integer(&g, &m->gpu_index) && take(&g, "hasatotalcapac")) {
        m->gpu_known = found = true;
        if (seek(&g, "of", g.pos + 8))
            size(&g, &m->total);
        if (take(&g, "ofwhich"))
            size(&g, &m->free);
        k = g;
    }
    struct cursor in = k;
    including = seek(&in, "Includingnon-PyTorchmemory,thisprocesshas", end) ? in.pos : end;
    struct cursor all = k;
    processes(&all, end, m); /* before or after the clause about this process */
    if (including < end) {
        k.pos = including;
        found |= size(&k, &m->process_in_use);
    }
    if (seek(&k, "Oftheallocatedmemory", end) && size(&k, &m->allocated)) {
        found = true;
        if (take(&k, "isallocatedbyPyTorch,with") && size(&k, &m->private_pools))
            seek(&k, "allocatedinprivatepools", end);
        if (seek(&k, "and", k.pos + 40) && size(&k, &m->reserved_unallocated) && m->allocated.known)
            set(&m->reserved, m->allocated.bytes + m->reserved_unallocated.bytes,
                m->allocated.slack + m->reserved_unallocated.slack);
    }
    drop_self(m);
    return found;
}

/* 1.4-2.0: "(GPU 0; T total capacity; A already allocated; F free; [L
 * allowed;] R reserved in total by PyTorch)"; before 1.4 the last is "C
 * cached", the cached memory not allocated; XPU's omits the free memory.
 * Read as a list of "SIZE words" items up to the ')'. */
static bool old_wording(struct cursor *c, size_t end, struct gt_oom_message *m)
{
    static const struct {
        const char *words;
        size_t offset;
    } items[] = {
        {"totalcapacity", offsetof(struct gt_oom_message, total)},
        {"alreadyallocated", offsetof(struct gt_oom_message, allocated)},
        {"free", offsetof(struct gt_oom_message, free)},
        {"allowed", offsetof(struct gt_oom_message, limit)},
        {"reservedintotalbyPyTorch", offsetof(struct gt_oom_message, reserved)},
        {"cached", offsetof(struct gt_oom_message, reserved_unallocated)},
    };
    struct cursor k = *c;
    bool cached = false;

    if (!seek(&k, "(GPU", end) || !integer(&k, &m->gpu_index))
        return false;
    m->gpu_known = true;
    while (take(&k, ";")) {
        struct gt_oom_msg_value v = {0};
        if (!size(&k, &v))
            break;
        for (size_t i = 0; i < sizeof items / sizeof items[0]; i++) {
            if (take(&k, items[i].words)) {
                *(struct gt_oom_msg_value *)((char *)m + items[i].offset) = v;
                cached |= i == 5;
                break;
            }
        }
    }
    if (cached && m->allocated.known)
        set(&m->reserved, m->allocated.bytes + m->reserved_unallocated.bytes,
            m->allocated.slack + m->reserved_unallocated.slack);
    else if (m->reserved.known && m->allocated.known && m->reserved.bytes >= m->allocated.bytes)
        set(&m->reserved_unallocated, m->reserved.bytes - m->allocated.bytes,
            m->reserved.slack + m->allocated.slack);
    if (m->format == GT_OOM_MSG_CUDA)
        m->format = cached ? GT_OOM_MSG_CUDA_CACHED : GT_OOM_MSG_CUDA_1X;
    return true;
}

/* A size after its label, for each label in order; a missing one is
 * skipped. */
struct labelled {
    const char *label;
    size_t offset; /* of the struct gt_oom_msg_value in the message */
};

static void labelled_sizes(const struct cursor *c, size_t end, const struct labelled *v, size_t n,
                           struct gt_oom_message *m)
{
    struct cursor k = *c;

    for (size_t i = 0; i < n; i++) {
        struct cursor at = k;
        if (seek(&at, v[i].label, end)) {
            size(&at, (struct gt_oom_msg_value *)((char *)m + v[i].offset));
            k = at;
        }
    }
}

/* backend:cudaMallocAsync: "Allocation on device 0 would exceed allowed
 * memory. (out of memory) Currently allocated : A Requested : X Device
 * limit : T Free (according to CUDA): F PyTorch limit (set by
 * user-supplied memory fraction) : L" */
static void async_wording(struct cursor *c, size_t end, struct gt_oom_message *m)
{
    static const struct labelled v[] = {
        {"Currentlyallocated:", offsetof(struct gt_oom_message, allocated)},
        {"Requested:", offsetof(struct gt_oom_message, tried)},
        {"Devicelimit:", offsetof(struct gt_oom_message, total)},
        {"Free(accordingtoCUDA):", offsetof(struct gt_oom_message, free)},
        {"PyTorchlimit(setbyuser-suppliedmemoryfraction):", offsetof(struct gt_oom_message, limit)},
    };
    struct cursor k = *c;

    m->format = GT_OOM_MSG_CUDA_ASYNC;
    if (seek(&k, "Allocationondevice", end) && integer(&k, &m->gpu_index))
        m->gpu_known = true;
    labelled_sizes(c, end, v, sizeof v / sizeof v[0], m);
}

/* "MPS backend out of memory (MPS allocated: A, other allocations: O, max
 * allowed: L). Tried to allocate X on private pool." */
static void mps_wording(struct cursor *c, size_t end, struct gt_oom_message *m)
{
    static const struct labelled v[] = {
        {"MPSallocated:", offsetof(struct gt_oom_message, allocated)},
        {"otherallocations:", offsetof(struct gt_oom_message, other_allocations)},
        {"maxallowed:", offsetof(struct gt_oom_message, limit)},
        {"Triedtoallocate", offsetof(struct gt_oom_message, tried)},
    };

    m->format = GT_OOM_MSG_MPS;
    labelled_sizes(c, end, v, sizeof v / sizeof v[0], m);
}

/* The last message's first words: which wording, and where. */
static size_t anchor(const char *s, size_t len, enum gt_oom_msg_format *format)
{
    static const struct {
        const char *words;
        enum gt_oom_msg_format format;
    } marks[] = {
        {"CUDAoutofmemory", GT_OOM_MSG_CUDA},
        {"HIPoutofmemory", GT_OOM_MSG_HIP},
        {"XPUoutofmemory", GT_OOM_MSG_XPU},
        {"MPSbackendoutofmemory", GT_OOM_MSG_MPS},
        {"wouldexceedallowedmemory", GT_OOM_MSG_CUDA_ASYNC},
    };
    size_t best = SIZE_MAX;

    for (size_t i = 0; i < sizeof marks / sizeof marks[0]; i++) {
        size_t at = find_last(s, len, marks[i].words);
        if (at != SIZE_MAX && (best == SIZE_MAX || at > best)) {
            best = at;
            *format = marks[i].format;
        }
    }
    /* A message cut before its first words still has its numbers. */
    static const char *const cut[] = {"Triedtoallocate", "Includingnon-PyTorchmemory",
                                      "Oftheallocatedmemory"};
    for (size_t i = 0; best == SIZE_MAX && i < sizeof cut / sizeof cut[0]; i++) {
        best = find_last(s, len, cut[i]);
        *format = GT_OOM_MSG_CUDA;
    }
    /* The async block names its device before its first words. */
    if (best != SIZE_MAX && *format == GT_OOM_MSG_CUDA_ASYNC)
        best = best >= 40 ? best - 40 : 0;
    return best;
}

/* ------------------------------------------------------------ verdict */

static void why(struct gt_oom_message *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void why(struct gt_oom_message *m, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    gt_verrf(m->why, sizeof m->why, GT_OK, fmt, ap);
    va_end(ap);
}

static void next_steps(struct gt_oom_message *m, const char *first)
{
    char card[32] = "SIZE", measure[600];

    if (m->total.known) {
        /* "14.75 GiB" as one shell word: 14.75GiB, which --device-memory reads */
        char spaced[32];
        size_t n = 0;
        gt_units_format_bytes(m->total.bytes, spaced, sizeof spaced);
        for (const char *p = spaced; *p != '\0' && n + 1 < sizeof card; p++)
            if (*p != ' ')
                card[n++] = *p;
        card[n] = '\0';
    }
    snprintf(measure, sizeof measure,
             "to measure instead of guess: record the run (gpu-trace record -- python train.py) "
             "or dump a snapshot (torch.cuda.memory._record_memory_history(max_entries=100000) "
             "before the step, torch.cuda.memory._dump_snapshot(\"snap.pickle\") in the except "
             "block, then gpu-trace import snap.pickle -o run.db), and run gpu-trace analyze "
             "run.db --device-memory %s",
             card);
    snprintf(m->next, sizeof m->next, "%s; %s", first, measure);
}

/* Memory held on the card outside this process's PyTorch allocator, and
 * how much of it other processes hold (known from the list or the 2.1+
 * totals, else estimated beyond a context allowance). */
static uint64_t others_of(const struct gt_oom_message *m)
{
    uint64_t listed = 0;

    for (size_t i = 0; i < m->nprocesses; i++)
        listed = gt_units_add_u64(listed, m->processes[i].bytes);
    if (listed > 0)
        return listed;
    if (m->total.known && m->free.known && m->process_in_use.known &&
        m->total.bytes > m->free.bytes + m->process_in_use.bytes)
        return m->total.bytes - m->free.bytes - m->process_in_use.bytes;
    if (!m->process_in_use.known && m->total.known && m->free.known && m->reserved.known &&
        m->total.bytes > m->free.bytes + m->reserved.bytes + CONTEXT_ALLOWANCE)
        return m->total.bytes - m->free.bytes - m->reserved.bytes - CONTEXT_ALLOWANCE;
    return 0;
}

/* MIRRORS: CUDACachingAllocator get_allocation_size: what a request asks
 * of the driver when no cached block serves it: 2 MiB up to 1 MiB, 20 MiB
 * below 10 MiB, else its size rounded up to 2 MiB. */
static uint64_t segment_of(uint64_t size)
{
    if (size <= MIB)
        return 2 * MIB;
    if (size < 10 * MIB)
        return 20 * MIB;
    return size > UINT64_MAX - 2 * MIB ? size : (size + 2 * MIB - 1) / (2 * MIB) * (2 * MIB);
}

static void fragmentation_next(struct gt_oom_message *m, const char *conf_var)
{
    char first[256];

    snprintf(first, sizeof first,
             "try %s=expandable_segments:True (segments grow in place instead of being cut), "
             "or max_split_size_mb / garbage_collection_threshold",
             conf_var);
    next_steps(m, first);
}

static void caching_verdict(struct gt_oom_message *m, const char *conf_var)
{
    char x[32], f[32], ru[32], o[32], s[32], first[256];
    uint64_t X = m->tried.bytes, F = m->free.bytes, RU = m->reserved_unallocated.bytes;
    uint64_t tol = m->tried.slack + m->free.slack + m->reserved_unallocated.slack;
    uint64_t others = others_of(m);

    gt_units_format_bytes(X, x, sizeof x);
    gt_units_format_bytes(F, f, sizeof f);
    gt_units_format_bytes(RU, ru, sizeof ru);
    if (RU >= X + tol) {
        m->verdict = GT_OOM_MSG_FRAGMENTATION;
        why(m,
            "%s was asked for and PyTorch held %s reserved but unallocated: the cache alone "
            "could have held it had it not been cut into smaller blocks (fragmentation)",
            x, ru);
        fragmentation_next(m, conf_var);
        return;
    }
    if (segment_of(X) <= F) {
        m->verdict = GT_OOM_MSG_UNCLEAR;
        why(m,
            "%s was asked for and the card reports %s free, enough for the segment it needs: a "
            "limit (per_process_memory_fraction) or the driver refused; the message alone cannot "
            "tell",
            x, f);
        next_steps(m, "check torch.cuda.set_per_process_memory_fraction and "
                      "PYTORCH_CUDA_ALLOC_CONF in the run");
        return;
    }
    if (X + tol > F + RU && X <= F + RU + tol) {
        m->verdict = GT_OOM_MSG_UNCLEAR;
        why(m,
            "%s was asked for; %s free and %s cached come to about as much: PyTorch prints its "
            "sizes rounded, and within that rounding the request either fits in bytes "
            "(fragmentation) or does not (genuine)",
            x, f, ru);
        snprintf(first, sizeof first,
                 "treat it as both: try %s=expandable_segments:True and make the peak a little "
                 "smaller",
                 conf_var);
        next_steps(m, first);
        return;
    }
    if (X <= F + RU) {
        m->verdict = GT_OOM_MSG_FRAGMENTATION;
        why(m,
            "%s was asked for; the card had %s free and PyTorch held %s reserved but "
            "unallocated: enough in bytes together, but a cached block cannot grow into free "
            "memory next to it (fragmentation)",
            x, f, ru);
        fragmentation_next(m, conf_var);
        return;
    }
    uint64_t missing = X - F - RU;
    m->shrink_bytes = missing;
    gt_units_format_bytes(missing, s, sizeof s);
    gt_units_format_bytes(others, o, sizeof o);
    if (others >= missing) {
        m->verdict = GT_OOM_MSG_OTHER_PROCESS;
        why(m,
            "%s was asked for but only %s was free and %s cached; memory outside this process's "
            "allocator (%s%s) is more than the %s missing",
            x, f, ru, o,
            m->nprocesses > 0 ? " held by the other processes listed" : ", other processes", s);
        next_steps(m, "look at the other processes on the card (nvidia-smi), or run alone");
        return;
    }
    m->verdict = GT_OOM_MSG_GENUINE;
    why(m,
        "%s was asked for but only %s was free and %s cached: what PyTorch holds allocated plus "
        "the request exceeds what the card can give this process by %s",
        x, f, ru, s);
    snprintf(first, sizeof first,
             "the peak must shrink by at least %s (smaller batch or sequence, activation "
             "checkpointing, lower precision); no allocator setting creates memory",
             s);
    next_steps(m, first);
}

static void decide(struct gt_oom_message *m)
{
    if (m->format == GT_OOM_MSG_MPS) {
        m->verdict = GT_OOM_MSG_UNCLEAR;
        why(m, "the MPS backend has no caching-allocator settings to change; its limit is the "
               "high watermark");
        snprintf(m->next, sizeof m->next,
                 "reduce the peak, or raise PYTORCH_MPS_HIGH_WATERMARK_RATIO (0.0 removes the "
                 "limit and may make the system unstable)");
        return;
    }
    if (m->format == GT_OOM_MSG_CUDA_ASYNC) {
        /* cudaMallocAsync keeps its pool in the driver: no split cache of
         * PyTorch's to blame, and no count of what the pool holds unused. */
        if (m->tried.known && m->allocated.known && m->total.known &&
            m->allocated.bytes + m->tried.bytes > m->total.bytes) {
            m->verdict = GT_OOM_MSG_GENUINE;
            m->shrink_bytes = m->allocated.bytes + m->tried.bytes - m->total.bytes;
            why(m, "what PyTorch holds allocated plus the request exceeds the device limit");
            next_steps(m, "the peak must shrink; no allocator setting creates memory");
            return;
        }
        m->verdict = GT_OOM_MSG_UNCLEAR;
        why(m, "the request fits the device limit next to what PyTorch holds, but the driver had "
               "less free: the CUDA context, other processes or memory the cudaMallocAsync pool "
               "keeps unused hold the rest, and the message does not say which");
        next_steps(m, "look at the other processes on the card (nvidia-smi), or try the native "
                      "allocator (PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True)");
        return;
    }
    if (!m->tried.known || !m->free.known || !m->reserved_unallocated.known) {
        m->verdict = GT_OOM_MSG_UNCLEAR;
        why(m, "the message does not give the request, the free memory and the cached memory "
               "together");
        next_steps(m, "paste the whole message");
        return;
    }
    caching_verdict(m, m->format == GT_OOM_MSG_HIP ? "PYTORCH_HIP_ALLOC_CONF"
                                                   : "PYTORCH_CUDA_ALLOC_CONF");
}

/* ------------------------------------------------------------ entry */

static bool any_number(const struct gt_oom_message *m)
{
    return m->tried.known || m->total.known || m->free.known || m->allocated.known ||
           m->reserved.known || m->limit.known;
}

int gt_oom_message_parse(const char *text, size_t len, struct gt_oom_message *out, char *errbuf,
                         size_t errlen)
{
    size_t n = 0, at;
    char *s = compact(text, len, &n);

    memset(out, 0, sizeof *out);
    if (s == NULL) {
        snprintf(errbuf, errlen, "out of memory");
        return GT_ENOMEM;
    }
    at = anchor(s, n, &out->format);
    if (at == SIZE_MAX) {
        free(s);
        snprintf(errbuf, errlen,
                 "no PyTorch out-of-memory message (\"CUDA out of memory. Tried "
                 "to allocate ...\") in the text");
        return GT_EINVAL;
    }
    struct cursor c = {s, n, at};
    size_t end = at + MESSAGE_SPAN < n ? at + MESSAGE_SPAN : n;
    if (out->format == GT_OOM_MSG_CUDA_ASYNC) {
        async_wording(&c, end, out);
    } else if (out->format == GT_OOM_MSG_MPS) {
        mps_wording(&c, end, out);
    } else {
        struct cursor k = c;
        if (seek(&k, "Triedtoallocate", end))
            size(&k, &out->tried);
        if (!new_wording(&c, end, out))
            old_wording(&c, end, out);
    }
    free(s);
    if (!any_number(out)) {
        snprintf(errbuf, errlen,
                 "the out-of-memory message has no numbers (PyTorch releases before 0.4 printed "
                 "none): paste the whole message, or record the run with gpu-trace record");
        return GT_EINVAL;
    }
    decide(out);
    return 0;
}

int gt_oom_message_read(const char *path, struct gt_oom_message *out, char *errbuf, size_t errlen)
{
    bool stdin_ = strcmp(path, "-") == 0;
    char *buf = NULL, why_[256] = "";
    size_t len = 0, total = 0;
    int rc = GT_OK;

    /* A FIFO would hang the read and /dev/zero never end it. */
    if (!stdin_ && (rc = gt_files_check_input(path, why_, sizeof why_)) != GT_OK) {
        snprintf(errbuf, errlen, "cannot read '%s': %s", path, why_);
        return rc;
    }
    FILE *f = stdin_ ? stdin : fopen(path, "rb");
    if (f == NULL) {
        int e = errno;
        snprintf(errbuf, errlen, "cannot read '%s': %s", path, strerror(e));
        return e == ENOENT ? GT_ENOENT : GT_EIO;
    }
    buf = malloc(READ_MAX);
    if (buf == NULL) {
        if (!stdin_)
            fclose(f);
        snprintf(errbuf, errlen, "out of memory");
        return GT_ENOMEM;
    }
    /* The end of a longer log is kept: the last message is there. */
    for (;;) {
        size_t got = fread(buf + len, 1, READ_MAX - len, f);
        len += got;
        total += got;
        if (len < READ_MAX || got == 0)
            break;
        if (total >= READ_TOTAL_MAX) { /* standard input that never ends */
            rc = GT_EINVAL;
            break;
        }
        memmove(buf, buf + READ_MAX / 2, READ_MAX / 2);
        len = READ_MAX / 2;
    }
    if (ferror(f))
        rc = GT_EIO;
    if (!stdin_)
        fclose(f);
    if (rc != GT_OK) {
        free(buf);
        snprintf(errbuf, errlen, "cannot read '%s'%s", path,
                 rc == GT_EINVAL ? ": more than 256 MiB of text; paste the error, not the log"
                                 : "");
        return rc;
    }
    rc = gt_oom_message_parse(buf, len, out, why_, sizeof why_);
    free(buf);
    if (rc != 0)
        snprintf(errbuf, errlen, "'%s': %s", path, why_);
    return rc;
}

const char *gt_oom_message_format_name(enum gt_oom_msg_format f)
{
    switch (f) {
    case GT_OOM_MSG_CUDA:
        return "cuda";
    case GT_OOM_MSG_CUDA_1X:
        return "cuda-1.x";
    case GT_OOM_MSG_CUDA_CACHED:
        return "cuda-cached";
    case GT_OOM_MSG_CUDA_ASYNC:
        return "cuda-async";
    case GT_OOM_MSG_HIP:
        return "hip";
    case GT_OOM_MSG_XPU:
        return "xpu";
    case GT_OOM_MSG_MPS:
        return "mps";
    }
    return "unknown";
}

const char *gt_oom_message_verdict_name(enum gt_oom_msg_verdict v)
{
    switch (v) {
    case GT_OOM_MSG_FRAGMENTATION:
        return "fragmentation";
    case GT_OOM_MSG_GENUINE:
        return "genuine";
    case GT_OOM_MSG_OTHER_PROCESS:
        return "other_process";
    case GT_OOM_MSG_UNCLEAR:
        return "unclear";
    }
    return "unclear";
}
