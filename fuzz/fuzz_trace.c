/* libFuzzer target for the trace reader: each input is written to a file,
 * opened with gt_trace_open and read to the end with every reader call.
 * Traces come from users and crashed recorders, so any bytes must give an
 * error or events, never a crash or a hang. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fuzz_files.h"
#include "gputrace/trace.h"

#include "gputrace/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Takes every other summary it is offered, so that both the batches passed
 * over and those decoded after them are exercised. */
static bool take_every_other(void *ctx, const struct gt_trace_batch_summary *s)
{
    unsigned *k = ctx;
    if (s->n < 1)
        abort(); /* the reader offers only well-formed summaries */
    return (*k)++ % 2 == 0;
}

/* The view under a summary filter: kinds it knows, seqs rising. */
static void read_summarized(struct gt_trace_reader *r)
{
    const struct gt_event *evs;
    unsigned k = 0;
    int64_t last = 0;
    size_t n;

    gt_trace_summarize(r, take_every_other, &k);
    while (gt_trace_read_view(r, &evs, &n) == 0 && n > 0) {
        for (size_t i = 0; i < n; i++) {
            if (evs[i].kind < 1 || gt_trace_kind_name(evs[i].kind) == NULL || evs[i].seq <= last)
                abort();
            last = evs[i].seq;
        }
    }
    gt_trace_summarize(r, NULL, NULL);
    gt_trace_rewind(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gt_trace_reader *r = NULL;
    struct gt_event buf[7];
    char err[256], text[64];
    uint64_t mem;
    int64_t count;
    size_t n;
    char trace_path[128];

    if (fuzz_path("trace", "in.db", trace_path, sizeof trace_path) != 0 ||
        fuzz_write(trace_path, data, size) != 0)
        return 0;
    if (gt_trace_open(trace_path, &r, err, sizeof err) == 0) {
        gt_trace_event_count(r, &count);
        gt_trace_meta(r, "tool_version", text, sizeof text);
        gt_trace_device(r, 0, text, sizeof text, &mem);
        for (int pass = 0; pass < 2; pass++) {
            while (gt_trace_read(r, buf, sizeof buf / sizeof buf[0], &n) == 0 && n > 0) {
                for (size_t i = 0; i < n; i++) {
                    /* The reader promises kinds it knows, in seq order. */
                    if (buf[i].kind < 1 || gt_trace_kind_name(buf[i].kind) == NULL)
                        abort();
                    if (i > 0 && buf[i].seq <= buf[i - 1].seq)
                        abort();
                }
            }
            gt_trace_rewind(r);
        }
        read_summarized(r);
        gt_trace_close(r);
    }
    unlink(trace_path);
    return 0;
}
