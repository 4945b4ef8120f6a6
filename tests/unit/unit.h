/* unit.h - a tiny test harness: CHECK macros and one summary line.
 *
 * Each test binary ends with `return unit_report();`, which prints exactly
 * "N passed, N failed" on a line of its own and returns non-zero on failure.
 * A failing check prints file:line and what was compared, then carries on.
 */
#ifndef SOCKSIFY_UNIT_H
#define SOCKSIFY_UNIT_H

#include <stdio.h>
#include <string.h>

static int unit_passed, unit_failed;

static inline int unit_check(int ok, const char *file, int line, const char *what)
{
	if (ok) {
		unit_passed++;
		return 1;
	}
	unit_failed++;
	fprintf(stderr, "%s:%d: FAIL: %s\n", file, line, what);
	return 0;
}

static inline void unit_check_long(long got, long want, const char *file, int line, const char *what)
{
	if (!unit_check(got == want, file, line, what))
		fprintf(stderr, "    got %ld, want %ld\n", got, want);
}

static inline void unit_hexdump(const char *label, const unsigned char *p, size_t n)
{
	fprintf(stderr, "    %s:", label);
	for (size_t i = 0; i < n; i++)
		fprintf(stderr, " %02x", p[i]);
	fprintf(stderr, "\n");
}

static inline void unit_check_mem(const void *got, const void *want, size_t n, const char *file, int line,
				  const char *what)
{
	if (!unit_check(memcmp(got, want, n) == 0, file, line, what)) {
		unit_hexdump("got ", got, n);
		unit_hexdump("want", want, n);
	}
}

static inline void unit_check_str(const char *got, const char *want, const char *file, int line,
				  const char *what)
{
	int same = got && want ? strcmp(got, want) == 0 : got == want;
	if (!unit_check(same, file, line, what))
		fprintf(stderr, "    got  \"%s\"\n    want \"%s\"\n", got ? got : "(null)", want ? want : "(null)");
}

/* s filled with n times c and a NUL (s has room for n + 1): the longest names and logins. */
static inline char *unit_string(char *s, char c, size_t n)
{
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

static inline int unit_report(void)
{
	printf("%d passed, %d failed\n", unit_passed, unit_failed);
	return unit_failed ? 1 : 0;
}

#define CHECK(cond) unit_check(!!(cond), __FILE__, __LINE__, #cond)
#define CHECK_INT(got, want) unit_check_long((long)(got), (long)(want), __FILE__, __LINE__, #got " == " #want)
#define CHECK_MEM(got, want, n) unit_check_mem((got), (want), (n), __FILE__, __LINE__, #got " == " #want)
#define CHECK_STR(got, want) unit_check_str((got), (want), __FILE__, __LINE__, #got " == " #want)

#endif
