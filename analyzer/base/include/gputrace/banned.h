/* Functions that are easy to misuse; including this header turns any use into
 * a compile error. Use snprintf, the bounded parsers of units.h, and strtoull
 * only inside those parsers. */
#ifndef GPUTRACE_BANNED_H
#define GPUTRACE_BANNED_H

#define GT_BANNED(func) sorry_##func##_is_a_banned_function

#undef strcpy
#define strcpy(x, y) GT_BANNED(strcpy)
#undef strcat
#define strcat(x, y) GT_BANNED(strcat)
#undef strncpy
#define strncpy(x, y, n) GT_BANNED(strncpy)
#undef strncat
#define strncat(x, y, n) GT_BANNED(strncat)
#undef sprintf
#define sprintf(...) GT_BANNED(sprintf)
#undef vsprintf
#define vsprintf(...) GT_BANNED(vsprintf)
#undef strtok
#define strtok(x, y) GT_BANNED(strtok)
#undef atoi
#define atoi(x) GT_BANNED(atoi)
#undef atol
#define atol(x) GT_BANNED(atol)
#undef atoll
#define atoll(x) GT_BANNED(atoll)
#undef atof
#define atof(x) GT_BANNED(atof)
#undef gets
#define gets(x) GT_BANNED(gets)

#endif
