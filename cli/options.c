/* Option values shared by several commands, parsed once here so every
 * command accepts and rejects them the same way, with the same message. */
#include "cli_int.h"
#include "gputrace/err.h"
#include "gputrace/units.h"

#include "gputrace/banned.h"

int cli_parse_device_memory(const char *text, uint64_t *out)
{
    char err[256] = "";
    int rc = gt_units_parse_size(text, out, err, sizeof err);

    if (rc == 0 && *out == 0) {
        cli_error("invalid size '%s': the device memory must be more than 0 bytes", text);
        return CLI_EXIT_ERROR;
    }
    if (rc != 0) {
        cli_error("invalid size '%s': %s", text, err[0] != '\0' ? err : gt_strerror(rc));
        return CLI_EXIT_ERROR;
    }
    return 0;
}
