/* Text from files, traces and arguments on its way to a terminal or a
 * one-line message: one rule for what is shown, so that no input can move
 * the cursor, forge a line or end a script line. */
#ifndef GPUTRACE_TEXT_H
#define GPUTRACE_TEXT_H

#include <stddef.h>

/* gt_text_shown: the byte c as shown: '?' for a control character (below
 * 0x20, and DEL), else c. Escaping writers (JSON, HTML, gnuplot) escape
 * their own quotes first and pass everything else through this. */
static inline char gt_text_shown(unsigned char c)
{
    return c < 0x20 || c == 0x7f ? '?' : (char)c;
}

/* gt_text_clean: copies text into buf (always NUL-terminated, truncated to
 * len - 1 bytes) through gt_text_shown. buf may be text itself (cleaned in
 * place). Returns buf. */
char *gt_text_clean(const char *text, char *buf, size_t len);

#endif
