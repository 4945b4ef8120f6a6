/* log.h - one-line log messages to a file descriptor. */
#ifndef SOCKSIFY_LOG_H
#define SOCKSIFY_LOG_H

#include <sys/types.h>

enum log_level { LOG_LVL_NONE = -1, LOG_LVL_ERROR = 0, LOG_LVL_WARN = 1, LOG_LVL_INFO = 2, LOG_LVL_DEBUG = 3 };

/* How log lines are written: the preload library passes its real write()
 * so that logging never enters its own hooks. */
typedef ssize_t (*log_write_fn)(int fd, const void *buf, size_t len);

/* prefix e.g. "socksify"; fd defaults to 2. Not thread-safe: call before threads. */
void log_init(const char *prefix, enum log_level level, int fd, log_write_fn writer);
/* Parses "none|error|warn|info|debug" (or 0-3); returns -2 if unknown. */
int log_level_parse(const char *s);
enum log_level log_get_level(void);
/* Each call writes one whole line with a single write(); errno is preserved. */
void log_msg(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...) do { if (log_get_level() >= LOG_LVL_INFO) log_msg(LOG_LVL_INFO, __VA_ARGS__); } while (0)
#define log_debug(...) do { if (log_get_level() >= LOG_LVL_DEBUG) log_msg(LOG_LVL_DEBUG, __VA_ARGS__); } while (0)

#endif
