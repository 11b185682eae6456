/* The Python stack of an allocation (pyframes.h). */
#define _GNU_SOURCE /* RTLD_DEFAULT */
#include "pyframes.h"

#include <dlfcn.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

/* CPython's objects stay opaque: only their addresses pass through here. */
typedef struct gt_pyobject PyObj;

/* CPython's entry points. The required ones exist in every CPython 3
 * since 3.4; the optional ones make the walk cheaper where they exist. */
static struct {
    int (*is_initialized)(void);
    int (*gil_check)(void);
    PyObj *(*get_frame)(void); /* borrowed reference */
    int (*line_number)(PyObj *frame);
    PyObj *(*getattr)(PyObj *o, const char *name);
    const char *(*as_utf8)(PyObj *str);
    void (*incref)(PyObj *o);
    void (*decref)(PyObj *o);
    void (*err_fetch)(PyObj **type, PyObj **value, PyObj **tb);
    void (*err_restore)(PyObj *type, PyObj *value, PyObj *tb);
    PyObj *none; /* &_Py_NoneStruct: what 3.8's f_back is at the bottom */
    /* 3.8 walks with attributes: their names as interned str objects, made
     * at the first walk (a thread holding the GIL), kept for good. */
    PyObj *(*getattr_obj)(PyObj *o, PyObj *name);
    PyObj *(*intern)(const char *text);
    PyObj *f_code, *f_back;
    /* Optional. */
    PyObj *(*frame_code)(PyObj *frame); /* 3.9: new reference */
    PyObj *(*frame_back)(PyObj *frame); /* 3.9: new reference or NULL */
    int (*frame_lasti)(PyObj *frame);   /* 3.11 */
    int (*gc_disable)(void);            /* 3.10: returns whether it was on */
    int (*gc_enable)(void);
} py;

/* Interning tables, open addressing, allocated at init. A frame is keyed
 * by its code object and its instruction offset where Python tells it
 * (3.11, which saves computing the line from the line table on every
 * allocation), else its line. The code objects a table holds are kept
 * alive (a reference each) so that an address never names two codes. */
#define FRAME_SLOTS (1u << 14)
#define STACK_SLOTS (1u << 13)
#define NAME_MAX_BYTES 1024 /* of a file name or a function name */

struct frame_slot {
    PyObj *code; /* NULL: empty */
    int32_t key;
    uint32_t id;
};

struct stack_slot {
    uint32_t id; /* 0: empty */
    uint32_t depth;
    uint32_t frames[GT_RING_MAX_DEPTH];
};

static struct frame_slot *g_py_frames;
static struct stack_slot *g_py_stacks;
static uint32_t g_py_nframes, g_py_nstacks;
static struct gt_ringw *g_py_ring;
/* Held while walking and defining. Only threads that hold the GIL take
 * it, so it is contended only between interpreters with a GIL each. */
static atomic_flag g_py_lock = ATOMIC_FLAG_INIT;

/* dlsym's result copied bytewise into a function pointer, as POSIX intends. */
static bool find(const char *name, void *fnptr, size_t size)
{
    void *sym = dlsym(RTLD_DEFAULT, name);
    if (sym != NULL)
        memcpy(fnptr, &sym, size);
    return sym != NULL;
}
#define FIND(name, field) find(name, &py.field, sizeof py.field)

int gt_pyframes_init(struct gt_ringw *ring)
{
    bool ok = FIND("Py_IsInitialized", is_initialized) && FIND("PyGILState_Check", gil_check) &&
              FIND("PyEval_GetFrame", get_frame) && FIND("PyFrame_GetLineNumber", line_number) &&
              FIND("PyObject_GetAttrString", getattr) && FIND("PyUnicode_AsUTF8", as_utf8) &&
              FIND("Py_IncRef", incref) && FIND("Py_DecRef", decref) &&
              FIND("PyErr_Fetch", err_fetch) && FIND("PyErr_Restore", err_restore);
    py.none = dlsym(RTLD_DEFAULT, "_Py_NoneStruct");
    bool by_attribute = FIND("PyObject_GetAttr", getattr_obj) &&
                        FIND("PyUnicode_InternFromString", intern) && py.none != NULL;
    (void)FIND("PyFrame_GetCode", frame_code);
    (void)FIND("PyFrame_GetBack", frame_back);
    (void)FIND("PyFrame_GetLasti", frame_lasti);
    if (!FIND("PyGC_Disable", gc_disable) || !FIND("PyGC_Enable", gc_enable))
        py.gc_disable = NULL;
    /* Without PyFrame_GetBack (3.8) the walk reads f_back, None at the end. */
    if (!ok || ((py.frame_code == NULL || py.frame_back == NULL) && !by_attribute))
        return 0;
    g_py_frames = calloc(FRAME_SLOTS, sizeof *g_py_frames);
    g_py_stacks = calloc(STACK_SLOTS, sizeof *g_py_stacks);
    if (g_py_frames == NULL || g_py_stacks == NULL) {
        free(g_py_frames);
        free(g_py_stacks);
        g_py_frames = NULL;
        g_py_stacks = NULL;
        return 0;
    }
    g_py_ring = ring;
    return 1;
}

/* The code object of `frame`: a new reference, or NULL. */
static PyObj *code_of(PyObj *frame)
{
    return py.frame_code != NULL ? py.frame_code(frame) : py.getattr_obj(frame, py.f_code);
}

/* The frame that called `frame`: a new reference, or NULL at the bottom. */
static PyObj *back_of(PyObj *frame)
{
    if (py.frame_back != NULL)
        return py.frame_back(frame);
    PyObj *back = py.getattr_obj(frame, py.f_back);
    if (back == py.none) {
        py.decref(back);
        back = NULL;
    }
    return back;
}

/* Appends attribute `name` of `code` (a str) to buf at *at, with its NUL. */
static void put_name(PyObj *code, const char *name, char *buf, size_t *at)
{
    PyObj *s = py.getattr(code, name);
    const char *text = s != NULL ? py.as_utf8(s) : NULL;
    size_t n = text != NULL ? strnlen(text, NAME_MAX_BYTES - 1) : 1;
    memcpy(buf + *at, text != NULL ? text : "?", n);
    buf[*at + n] = '\0';
    *at += n + 1;
    if (s != NULL)
        py.decref(s);
}

/* The program's pending exception, set aside while we call Python code
 * that could raise (an unencodable file name, memory), then put back with
 * ours, if any, dropped: the program sees the error state it had. */
struct py_err {
    PyObj *type, *value, *tb;
};

static void err_set_aside(struct py_err *e)
{
    py.err_fetch(&e->type, &e->value, &e->tb);
}

static void err_put_back(struct py_err *e)
{
    struct py_err ours;
    py.err_fetch(&ours.type, &ours.value, &ours.tb);
    py.decref(ours.type); /* Py_DecRef accepts NULL */
    py.decref(ours.value);
    py.decref(ours.tb);
    py.err_restore(e->type, e->value, e->tb);
}

/* Defines a frame in the ring; its id, or 0 when the region is full. */
static uint32_t define_frame(PyObj *code, int line)
{
    char buf[2 * NAME_MAX_BYTES];
    size_t len = 0;
    struct py_err saved;
    err_set_aside(&saved);
    put_name(code, "co_filename", buf, &len);
    put_name(code, "co_name", buf, &len);
    err_put_back(&saved);
    uint32_t id = g_py_nframes + 1;
    if (gt_ringw_frames_append(g_py_ring, GT_RING_FRAME, id, line > 0 ? (uint32_t)line : 0, buf,
                               len) != 0)
        return 0;
    g_py_nframes = id;
    return id;
}

static uint32_t hash_words(uint64_t a, uint64_t b)
{
    uint64_t h = (a ^ (b * 0x9e3779b97f4a7c15u)) * 0xff51afd7ed558ccdu;
    return (uint32_t)(h ^ (h >> 32));
}

/* The id of the frame `frame` is executing, defined when new; 0 when the
 * table or the region is full. */
static uint32_t frame_id(PyObj *frame)
{
    PyObj *code = code_of(frame);
    if (code == NULL)
        return 0;
    int32_t key = py.frame_lasti != NULL ? py.frame_lasti(frame) : py.line_number(frame);
    uint32_t i = hash_words((uint64_t)(uintptr_t)code, (uint32_t)key) & (FRAME_SLOTS - 1);
    uint32_t id = 0;
    while (g_py_frames[i].code != NULL &&
           (g_py_frames[i].code != code || g_py_frames[i].key != key))
        i = (i + 1) & (FRAME_SLOTS - 1);
    if (g_py_frames[i].code != NULL) {
        id = g_py_frames[i].id;
    } else if (g_py_nframes < FRAME_SLOTS / 4 * 3) {
        int line = py.frame_lasti != NULL ? py.line_number(frame) : key;
        if ((id = define_frame(code, line)) != 0) {
            py.incref(code); /* the table's reference */
            g_py_frames[i] = (struct frame_slot){code, key, id};
        }
    }
    py.decref(code);
    return id;
}

/* The id of the stack frames[0..depth), defined when new; 0 when full. */
static uint32_t stack_id(const uint32_t *frames, uint32_t depth)
{
    uint64_t h = depth;
    for (uint32_t k = 0; k < depth; k++)
        h = h * 0x100000001b3u ^ frames[k];
    uint32_t i = hash_words(h, depth) & (STACK_SLOTS - 1);
    size_t bytes = depth * sizeof *frames;
    while (g_py_stacks[i].id != 0 &&
           (g_py_stacks[i].depth != depth || memcmp(g_py_stacks[i].frames, frames, bytes) != 0))
        i = (i + 1) & (STACK_SLOTS - 1);
    if (g_py_stacks[i].id != 0)
        return g_py_stacks[i].id;
    if (g_py_nstacks >= STACK_SLOTS / 4 * 3)
        return 0;
    uint32_t id = g_py_nstacks + 1;
    if (gt_ringw_frames_append(g_py_ring, GT_RING_STACK, id, depth, frames, bytes) != 0)
        return 0;
    g_py_nstacks = id;
    g_py_stacks[i].id = id;
    g_py_stacks[i].depth = depth;
    memcpy(g_py_stacks[i].frames, frames, bytes);
    return id;
}

/* Makes 3.8's attribute names; false (and Python's error state as it was)
 * when Python is out of memory. */
static bool intern_names(void)
{
    struct py_err saved;
    err_set_aside(&saved);
    py.f_code = py.f_code != NULL ? py.f_code : py.intern("f_code");
    py.f_back = py.f_code != NULL ? py.intern("f_back") : NULL;
    err_put_back(&saved);
    return py.f_back != NULL;
}

/* Walks the calling thread's frames, innermost first. Returns the depth,
 * 0 when the thread runs no Python code, -1 when a frame could not be
 * defined. The collector is held off for the walk: where Python makes frame
 * objects on demand (3.11) one could start a collection here, and
 * finalizers running inside a CUDA call would change what the program does. */
static int walk(uint32_t *frames)
{
    if ((py.frame_code == NULL || py.frame_back == NULL) && py.f_back == NULL && !intern_names())
        return -1;
    int gc_was_on = py.gc_disable != NULL ? py.gc_disable() : 0;
    PyObj *f = py.get_frame();
    int depth = 0;
    py.incref(f); /* Py_IncRef accepts NULL */
    while (f != NULL && depth < GT_RING_MAX_DEPTH) {
        uint32_t id = frame_id(f);
        if (id == 0) {
            depth = -1;
            break;
        }
        frames[depth++] = id;
        PyObj *back = back_of(f);
        py.decref(f);
        f = back;
    }
    if (f != NULL)
        py.decref(f);
    if (gc_was_on > 0)
        py.gc_enable();
    return depth;
}

uint32_t gt_pyframes_capture(void)
{
    if (g_py_ring == NULL || !py.is_initialized())
        return GT_RING_STACK_NONE;
    if (!py.gil_check())
        return GT_RING_STACK_NO_GIL;
    while (atomic_flag_test_and_set_explicit(&g_py_lock, memory_order_acquire))
        ;
    uint32_t frames[GT_RING_MAX_DEPTH];
    int depth = walk(frames);
    uint32_t stack = depth > 0 ? stack_id(frames, (uint32_t)depth) : GT_RING_STACK_NONE;
    if (depth != 0 && stack == GT_RING_STACK_NONE)
        atomic_fetch_add_explicit(&g_py_ring->hdr->stacks_lost, 1, memory_order_relaxed);
    atomic_flag_clear_explicit(&g_py_lock, memory_order_release);
    return stack;
}
