/* Text as shown (gputrace/text.h). */
#include "gputrace/text.h"

#include "gputrace/banned.h"

char *gt_text_clean(const char *text, char *buf, size_t len)
{
    size_t i = 0;

    if (buf == NULL || len == 0)
        return buf;
    for (; text != NULL && text[i] != '\0' && i + 1 < len; i++)
        buf[i] = gt_text_shown((unsigned char)text[i]);
    buf[i] = '\0';
    return buf;
}
