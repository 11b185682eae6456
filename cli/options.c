/* Option values shared by several commands, parsed once here so every
 * command accepts and rejects them the same way, with the same message. */
#include "cli_int.h"
#include "gputrace/err.h"
#include "gputrace/replay.h"
#include "gputrace/scenario.h"
#include "gputrace/units.h"

#include <inttypes.h>
#include <stdbool.h>

#include "gputrace/banned.h"

/* A bare number is bytes; one this small is a unit left out ("8" for 8 GiB). */
#define SMALLEST_BARE_SIZE ((uint64_t)1 << 20)

static bool has_unit(const char *text)
{
    for (const char *p = text; *p != '\0'; p++)
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z'))
            return true;
    return false;
}

int cli_parse_threads(const char *text, int *out)
{
    uint64_t n;

    if (gt_units_parse_u64(text, CLI_MAX_THREADS, &n) != 0) {
        cli_error("invalid thread count '%s': expected 0 (one per CPU) to %d", text,
                  CLI_MAX_THREADS);
        return CLI_EXIT_ERROR;
    }
    *out = (int)n;
    return 0;
}

int cli_parse_device_memory(const char *text, uint64_t *out)
{
    char err[256] = "";
    int rc = gt_units_parse_size(text, out, err, sizeof err);

    if (rc == 0 && *out == 0) {
        cli_error("invalid size '%s': the device memory must be more than 0 bytes", text);
        return CLI_EXIT_ERROR;
    }
    if (rc == 0 && *out < SMALLEST_BARE_SIZE && !has_unit(text)) {
        cli_error("invalid size '%s': a bare number is bytes, and %" PRIu64
                  " bytes is no card; did you mean %sGiB?",
                  text, *out, text);
        return CLI_EXIT_ERROR;
    }
    if (rc != 0) {
        cli_error("invalid size '%s': %s", text, err[0] != '\0' ? err : gt_strerror(rc));
        return CLI_EXIT_ERROR;
    }
    return 0;
}

bool cli_start_exceeds_card(const char *trace, const struct gt_scenario *scn)
{
    bool exceeds = false;
    for (size_t i = 0; i < scn->ndevices; i++) {
        const struct gt_scenario_device *d = &scn->devices[i];
        char live[32], pinned[32], res[32], card[200], over[32];
        /* Devices are keyed by ordinal: processes that each see their GPU as
         * device 0 would be summed into one allocator without a word. */
        if (d->other_process_requests > 0)
            cli_warning("'%s': device %" PRId32 ": %" PRId64 " of its %" PRId64
                        " requests come from processes other than %" PRId64
                        " on the same ordinal: they are replayed as one allocator, so every "
                        "number here is their sum, not one process's",
                        trace, d->device, d->other_process_requests, d->requests, d->pid);
        if (d->memory == 0 || d->start_reserved <= d->memory)
            continue;
        gt_units_format_bytes(d->start_allocated, live, sizeof live);
        gt_units_format_bytes(d->start_pinned, pinned, sizeof pinned);
        gt_units_format_bytes(d->start_reserved, res, sizeof res);
        gt_scenario_card_line(d, card, sizeof card);
        if (d->start_pinned > d->memory) {
            cli_error("'%s': device %" PRId32 ": the memory live before the first event (%s "
                      "allocated, in segments of %s) already exceeds the card (%s): no "
                      "allocator setting can run this on it; it must shrink by %s",
                      trace, d->device, live, pinned, card,
                      gt_units_format_bytes(d->start_pinned - d->memory, over, sizeof over));
            exceeds = true;
        } else {
            cli_warning("'%s': device %" PRId32 ": %s were reserved before the first event, "
                        "more than the card (%s): the replay starts with the free cached "
                        "segments released, as empty_cache() would, keeping the %s that hold "
                        "live memory",
                        trace, d->device, res, card, pinned);
        }
    }
    return exceeds;
}

int cli_scenario_open(const char *trace, uint64_t device_memory, struct gt_scenario **out)
{
    char err[512] = "";
    int rc = gt_scenario_build(trace, device_memory, out, err, sizeof err);
    if (rc != 0) {
        cli_trace_error(trace, rc, err);
        *out = NULL;
        return CLI_EXIT_ERROR;
    }
    if (cli_start_exceeds_card(trace, *out)) {
        gt_scenario_free(*out);
        *out = NULL;
        return CLI_EXIT_ERROR;
    }
    return 0;
}

void cli_trace_error(const char *trace, int rc, const char *err)
{
    const char *detail = err[0] != '\0' ? err : gt_strerror(rc);

    if (rc == GT_ENOMEM)
        cli_error("cannot analyze '%s': out of memory", trace);
    else if (rc == GT_EUNSUPPORTED || rc == GT_EINVAL)
        cli_error("cannot analyze '%s': %s", trace, detail);
    else
        cli_error("cannot read '%s': %s", trace, detail);
}
