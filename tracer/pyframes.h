/* The Python stack of an allocation, for the ALLOC records of a process
 * that runs Python (tracer/include/gputrace/ring.h, "Python stacks").
 *
 * CPython's public C API is found in the process at run time (dlsym: the
 * library links no libpython, and a process without Python costs one
 * lookup at start). The stack is taken only on a thread that holds the GIL,
 * the lock every call into Python requires: taking it ourselves from inside
 * a CUDA call could deadlock against the program (a thread that holds the
 * GIL and waits for the allocator's mutex, which the allocating thread
 * holds), so a thread without it is recorded as GT_RING_STACK_NO_GIL. Each
 * distinct frame and stack is defined once in the ring's frames region; an
 * allocation with a stack seen before costs the walk and two table lookups.
 * docs/record.md, "Python frames", says what this gives for which program. */
#ifndef GPUTRACE_PYFRAMES_H
#define GPUTRACE_PYFRAMES_H

#include <stdint.h>

#include "ring_writer.h"

/* Finds Python's entry points in the process and sets the tables up to
 * define stacks in `ring`. Returns 1 when the process has a usable Python
 * (3.8 or later), 0 otherwise (then gt_pyframes_capture always answers
 * GT_RING_STACK_NONE). Call once, from InitializeInjection, before tracing
 * starts; the tables are allocated here, never in a callback. */
int gt_pyframes_init(struct gt_ringw *ring);

/* The stack id of the calling thread's Python stack (up to
 * GT_RING_MAX_DEPTH frames, innermost first), defining it and its frames in
 * the ring when new; GT_RING_STACK_NO_GIL when the thread does not hold the
 * GIL; GT_RING_STACK_NONE when Python is not running, the thread runs no
 * Python code, or the stack could not be defined (counted in the header's
 * stacks_lost). Safe from CUPTI callbacks on any thread. */
uint32_t gt_pyframes_capture(void);

#endif
