/* log.c - one-line log messages, written with a single write() each. */
#include "log.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

static const char *log_prefix = "socksify";
static enum log_level log_level = LOG_LVL_ERROR;
static int log_fd = 2;
static log_write_fn log_writer = write;

void log_init(const char *prefix, enum log_level level, int fd, log_write_fn writer)
{
	if (prefix)
		log_prefix = prefix;
	log_level = level;
	log_fd = fd >= 0 ? fd : 2;
	if (writer)
		log_writer = writer;
}

enum log_level log_get_level(void) { return log_level; }

int log_level_parse(const char *s)
{
	static const char *names[] = { "error", "warn", "info", "debug" };
	if (!s)
		return -2;
	if (strcasecmp(s, "none") == 0 || strcasecmp(s, "quiet") == 0)
		return LOG_LVL_NONE;
	for (int i = 0; i < 4; i++)
		if (strcasecmp(s, names[i]) == 0 || (s[0] == '0' + i && s[1] == '\0'))
			return i;
	if (strcasecmp(s, "warning") == 0)
		return LOG_LVL_WARN;
	return -2;
}

void log_msg(enum log_level level, const char *fmt, ...)
{
	static const char *tags[] = { "error", "warn", "info", "debug" };
	char line[1024];
	int saved = errno;
	if (level > log_level || level < 0)
		return;
	int n = snprintf(line, sizeof line, "%s[%d]: %s: ", log_prefix, (int)getpid(), tags[level]);
	if (n < 0 || (size_t)n >= sizeof line)
		n = 0;
	va_list ap;
	va_start(ap, fmt);
	int m = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	size_t len = (size_t)n + (size_t)m;
	if (len > sizeof line - 2)
		len = sizeof line - 2;
	line[len++] = '\n';
	(void)log_writer(log_fd, line, len);
	errno = saved;
}
