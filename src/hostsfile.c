/* hostsfile.c - lookups in the text of /etc/hosts, hosts(5) format.
 *
 * Decided once:
 *  - a line is "ADDR NAME [ALIASES...]"; fields are split by spaces, tabs and
 *    '\r' (so CRLF files work); '#' ends the line's text, and so does a NUL
 *    byte, as it would for glibc, which reads lines as C strings;
 *  - an address with a scope ("fe80::1%eth0") is skipped: hosts_addr has no
 *    room for the scope, and a link-local address without it cannot be used;
 *  - a line whose address does not parse, or that names nothing, is skipped;
 *  - names compare in ASCII case only (the program's locale must not matter),
 *    and one trailing dot is ignored on the query and on the file's names;
 *  - what the file says is reported as it is: no IPv4-mapped conversion, no
 *    "::1 localhost" folding, duplicates kept.
 * Nothing here reads text[len] or beyond; text need not end in NUL or '\n'.
 */
#include "hostsfile.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

struct hosts_line {
	struct hosts_addr addr;
	const char *names; /* the text after the address */
	const char *end; /* end of the line's text: before '\n', '#' or NUL */
};

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* The next field in [p, end): returns its start and sets *flen, or NULL when none is left. */
static const char *next_field(const char *p, const char *end, size_t *flen)
{
	while (p < end && is_blank(*p))
		p++;
	if (p == end)
		return NULL;
	const char *q = p;
	while (q < end && !is_blank(*q))
		q++;
	*flen = (size_t)(q - p);
	return p;
}

/* inet_pton wants a C string, so the field is copied into a buffer that any
 * valid address fits ("ffff:...:255.255.255.255" is 45 bytes). */
static int parse_addr(const char *field, size_t flen, struct hosts_addr *a)
{
	char buf[INET6_ADDRSTRLEN];

	if (flen >= sizeof buf || memchr(field, '%', flen))
		return 0;
	memcpy(buf, field, flen);
	buf[flen] = '\0';
	memset(a, 0, sizeof *a);
	if (inet_pton(AF_INET, buf, a->addr) == 1) {
		a->family = AF_INET;
		return 1;
	}
	if (inet_pton(AF_INET6, buf, a->addr) == 1) {
		a->family = AF_INET6;
		return 1;
	}
	return 0;
}

/* Reads the line at text[*pos] and moves *pos past it. Returns 1 when the
 * line has a good address and at least one name, 0 when it is to be skipped. */
static int next_line(const char *text, size_t len, size_t *pos, struct hosts_line *line)
{
	const char *start = text + *pos;
	size_t left = len - *pos;
	const char *nl = memchr(start, '\n', left);
	size_t linelen = nl ? (size_t)(nl - start) : left;
	const char *field;
	size_t flen;

	*pos += nl ? linelen + 1 : linelen;
	line->end = start;
	while (line->end < start + linelen && *line->end != '#' && *line->end != '\0')
		line->end++;
	field = next_field(start, line->end, &flen);
	if (!field || !parse_addr(field, flen, &line->addr))
		return 0;
	line->names = field + flen;
	return next_field(line->names, line->end, &flen) != NULL;
}

static size_t strip_trailing_dot(const char *s, size_t n)
{
	return n > 0 && s[n - 1] == '.' ? n - 1 : n;
}

/* name and nlen come with their trailing dot already stripped. */
static int name_equal(const char *field, size_t flen, const char *name, size_t nlen)
{
	flen = strip_trailing_dot(field, flen);
	if (flen != nlen)
		return 0;
	for (size_t i = 0; i < nlen; i++)
		if (ascii_lower(field[i]) != ascii_lower(name[i]))
			return 0;
	return 1;
}

static int line_has_name(const struct hosts_line *line, const char *name, size_t nlen)
{
	const char *p = line->names;
	size_t flen;

	while ((p = next_field(p, line->end, &flen)) != NULL) {
		if (name_equal(p, flen, name, nlen))
			return 1;
		p += flen;
	}
	return 0;
}

size_t hosts_lookup_name(const char *text, size_t len, const char *name, int family, struct hosts_addr *out,
			 size_t max)
{
	struct hosts_line line;
	size_t pos = 0, found = 0, nlen;

	if (!text || !name || (family != AF_UNSPEC && family != AF_INET && family != AF_INET6))
		return 0;
	nlen = strip_trailing_dot(name, strlen(name));
	if (nlen == 0)
		return 0;
	while (pos < len) {
		if (!next_line(text, len, &pos, &line))
			continue;
		if (family != AF_UNSPEC && line.addr.family != family)
			continue;
		if (!line_has_name(&line, name, nlen))
			continue;
		if (out && found < max)
			out[found] = line.addr;
		found++;
	}
	return found;
}

int hosts_lookup_addr(const char *text, size_t len, int family, const uint8_t *addr, char *name, size_t cap)
{
	struct hosts_line line;
	size_t pos = 0, alen, flen;

	if (!text || !addr || (family != AF_INET && family != AF_INET6))
		return 0;
	alen = family == AF_INET ? 4 : 16;
	while (pos < len) {
		if (!next_line(text, len, &pos, &line))
			continue;
		if (line.addr.family != family || memcmp(line.addr.addr, addr, alen) != 0)
			continue;
		const char *canonical = next_field(line.names, line.end, &flen);
		if (name && cap > 0) {
			size_t n = flen < cap - 1 ? flen : cap - 1;
			memcpy(name, canonical, n);
			name[n] = '\0';
		}
		return 1;
	}
	return 0;
}
