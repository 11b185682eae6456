/* libFuzzer target for the pasted out-of-memory message reader
 * (oom_message.h), from memory. Finds crashes, hangs and sanitizer reports;
 * checks that a parsed message's derived sizes agree with their sources and
 * that its texts are filled. Text without a message is a normal outcome. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "gputrace/oom_message.h"

#include "gputrace/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gt_oom_message m;
    char err[256];

    if (gt_oom_message_parse((const char *)data, size, &m, err, sizeof err) != 0)
        return 0;
    if (m.why[0] == '\0' || m.next[0] == '\0' || m.nprocesses > GT_OOM_MSG_MAX_PROCESSES)
        abort();
    if (m.reserved.derived && m.allocated.known && m.reserved_unallocated.known &&
        m.reserved.bytes != m.allocated.bytes + m.reserved_unallocated.bytes)
        abort();
    return 0;
}
