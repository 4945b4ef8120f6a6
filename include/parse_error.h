/* parse_error.h - one-line error messages for the parsers (pure, no I/O). */
#ifndef SOCKSIFY_PARSE_ERROR_H
#define SOCKSIFY_PARSE_ERROR_H

#include <stddef.h>

/* Formats the reason into err (if err and errlen); control characters from
 * the input become '?' so the message stays one line. Returns -1, so that a
 * parser can `return parse_error(...)`. */
int parse_error(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
