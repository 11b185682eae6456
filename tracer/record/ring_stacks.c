/* The Python stacks of a ring's frames region (ring_stacks_int.h). */
#include "ring_stacks_int.h"

#include "gputrace/array.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gputrace/banned.h"

/* The length of the NUL-terminated string at p, within `max` bytes; -1
 * when it has no NUL there. */
static long bounded_len(const unsigned char *p, size_t max)
{
    const unsigned char *nul = memchr(p, '\0', max);
    return nul != NULL ? (long)(nul - p) : -1;
}

/* A FRAME entry: `data` (len bytes) holds the file name and the function
 * name, each NUL-terminated; copied with the lengths measured here, so a
 * producer that rewrites its region meanwhile cannot lead past the entry. */
static int add_frame(struct gt_ring_stacks *s, const struct gt_ring_frame_entry *head,
                     const unsigned char *data, size_t len, const char **why)
{
    long flen = bounded_len(data, len);
    long nlen = flen < 0 ? -1 : bounded_len(data + flen + 1, len - (size_t)flen - 1);
    if (nlen < 0) {
        *why = "a frame's names are not NUL-terminated";
        return -1;
    }
    struct gt_ring_frame_copy *frames =
        gt_array_grow(s->frames, &s->capframes, s->nframes, sizeof *frames);
    if (frames == NULL)
        return -2;
    s->frames = frames;
    char *f = strndup((const char *)data, (size_t)flen);
    char *n = strndup((const char *)data + flen + 1, (size_t)nlen);
    if (f == NULL || n == NULL) {
        free(f);
        free(n);
        return -2;
    }
    s->frames[s->nframes++] = (struct gt_ring_frame_copy){f, n, head->arg};
    return 0;
}

/* A STACK entry: head->arg frame ids, innermost first. */
static int add_stack(struct gt_ring_stacks *s, const struct gt_ring_frame_entry *head,
                     const unsigned char *data, size_t len, const char **why)
{
    uint32_t depth = head->arg;
    if (depth == 0 || depth > GT_RING_MAX_DEPTH || (size_t)depth * sizeof(uint32_t) > len) {
        *why = "a stack's depth does not fit its entry";
        return -1;
    }
    struct gt_ring_stack_copy st = {.depth = depth};
    memcpy(st.frames, data, depth * sizeof(uint32_t));
    for (uint32_t k = 0; k < depth; k++)
        if (st.frames[k] == 0 || st.frames[k] > s->nframes) {
            *why = "a stack names a frame not defined before it";
            return -1;
        }
    struct gt_ring_stack_copy *stacks =
        gt_array_grow(s->stacks, &s->capstacks, s->nstacks, sizeof *stacks);
    if (stacks == NULL)
        return -2;
    s->stacks = stacks;
    s->stacks[s->nstacks++] = st;
    return 0;
}

/* Checks and copies the entry at s->read. Returns 0, -1 (damaged) or -2. */
static int take_entry(struct gt_ring_stacks *s, const unsigned char *region, uint64_t used,
                      const char **why)
{
    struct gt_ring_frame_entry head;
    size_t hsize = sizeof head;
    if (used - s->read < hsize) {
        *why = "an entry runs past the region's end";
        return -1;
    }
    memcpy(&head, region + s->read, hsize);
    if (head.size < hsize || head.size % 8 != 0 || head.size > used - s->read) {
        *why = "an entry's size is wrong";
        return -1;
    }
    const unsigned char *data = region + s->read + hsize;
    size_t len = head.size - hsize;
    int rc;
    if (head.type == GT_RING_FRAME && head.id == s->nframes + 1)
        rc = add_frame(s, &head, data, len, why);
    else if (head.type == GT_RING_STACK && head.id == s->nstacks + 1)
        rc = add_stack(s, &head, data, len, why);
    else {
        *why = "an entry of an unknown type or out of order";
        rc = -1;
    }
    if (rc == 0)
        s->read += head.size;
    return rc;
}

int gt_ring_stacks_read(struct gt_ring_stacks *s, const unsigned char *region, uint64_t bytes,
                        uint64_t used, char *why, size_t len)
{
    if (s->bad)
        return 0;
    const char *what = NULL;
    int rc = 0;
    if (used > bytes || used % 8 != 0) {
        what = "its used size is beyond the region";
        rc = -1;
    }
    while (rc == 0 && s->read < used)
        rc = take_entry(s, region, used, &what);
    if (rc == -1) {
        s->bad = true;
        snprintf(why, len, "frames region damaged at byte %llu: %s", (unsigned long long)s->read,
                 what);
    }
    return rc;
}

size_t gt_ring_stacks_get(const struct gt_ring_stacks *s, uint32_t id, struct gt_frame *out)
{
    if (id == 0 || id > s->nstacks)
        return 0;
    const struct gt_ring_stack_copy *st = &s->stacks[id - 1];
    for (uint32_t k = 0; k < st->depth; k++) {
        const struct gt_ring_frame_copy *f = &s->frames[st->frames[k] - 1];
        out[k] = (struct gt_frame){.filename = f->filename, .name = f->name, .line = f->line};
    }
    return st->depth;
}

void gt_ring_stacks_free(struct gt_ring_stacks *s)
{
    for (uint32_t i = 0; i < s->nframes; i++) {
        free(s->frames[i].filename);
        free(s->frames[i].name);
    }
    free(s->frames);
    free(s->stacks);
    memset(s, 0, sizeof *s);
}
