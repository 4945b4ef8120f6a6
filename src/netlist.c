/* netlist.c - address/CIDR lists (SOCKSIFY_NO_PROXY) and matching against a sockaddr.
 *
 * Item forms: 1.2.3.4  1.2.3.0/24  1.2.3.4:80  1.2.3.0/24:80  ::1  fd00::/8
 * [::1]  [::1]:80  [fd00::]/8:80  localhost[:port]  *[:port]
 * An IPv4-mapped entry (::ffff:10.0.0.0/104) is stored as IPv4, because
 * netlist_match compares mapped addresses as IPv4. Names other than
 * "localhost" are refused: we match addresses, not what they resolved from.
 */
#include "netlist.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "parse_error.h"

#define ITEM_MAX 80 /* longer than any valid item: [v6 with dotted tail]/128:65535 */

static const uint8_t v4mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };


static int is_separator(char c)
{
	return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

/* Decimal of at most 5 digits into *v; 0 if s is empty or not all digits. */
static int parse_decimal(const char *s, unsigned long *v)
{
	size_t n = strlen(s);

	if (n == 0 || n > 5 || strspn(s, "0123456789") != n)
		return 0;
	*v = 0;
	for (size_t i = 0; i < n; i++)
		*v = *v * 10 + (unsigned long)(s[i] - '0');
	return 1;
}

static void clear_host_bits(struct netlist_entry *e)
{
	size_t bytes = e->family == 4 ? 4 : 16;

	for (size_t i = 0; i < bytes; i++) {
		unsigned bits_here = e->prefix > i * 8 ? e->prefix - i * 8 : 0;
		if (bits_here < 8)
			e->addr[i] &= (uint8_t)(0xff00 >> bits_here);
	}
}

static int list_add(struct netlist *l, const struct netlist_entry *e, char *err, size_t errlen)
{
	if (l->n >= NETLIST_MAX)
		return parse_error(err, errlen, "too many entries (more than %d)", NETLIST_MAX);
	l->e[l->n] = *e;
	clear_host_bits(&l->e[l->n]);
	l->n++;
	return 0;
}

/* An entry from its parts; addr is the text of the address alone. */
struct item_parts {
	const char *addr;
	const char *prefix; /* NULL when absent */
	const char *port; /* NULL when absent */
	int bracketed;
};

/* Splits buf in place: [v6][/prefix][:port], v6[/prefix], or v4[/prefix][:port]. */
static int split_item(char *buf, struct item_parts *p, const char *item, char *err, size_t errlen)
{
	char *rest;

	memset(p, 0, sizeof *p);
	if (buf[0] == '[') {
		char *close = strchr(buf, ']');
		if (!close)
			return parse_error(err, errlen, "unterminated '[' in '%s'", item);
		*close = '\0';
		p->addr = buf + 1;
		p->bracketed = 1;
		rest = close + 1;
		if (*rest != '\0' && *rest != '/' && *rest != ':')
			return parse_error(err, errlen, "unexpected '%s' after ']' in '%s'", rest, item);
	} else {
		char *first = strchr(buf, ':');
		int bare_v6 = first && strchr(first + 1, ':');
		p->addr = buf;
		rest = buf + strcspn(buf, bare_v6 ? "/" : "/:");
	}
	if (*rest == '/') {
		*rest++ = '\0';
		p->prefix = rest;
		rest += strcspn(rest, ":");
	}
	if (*rest == ':') {
		*rest++ = '\0';
		p->port = rest;
	} else {
		*rest = '\0';
	}
	return 0;
}

/* Fills family and addr from text; IPv4-mapped IPv6 becomes IPv4 (prefix adjusted later). */
static int parse_address(const struct item_parts *p, struct netlist_entry *e)
{
	if (!p->bracketed && inet_pton(AF_INET, p->addr, e->addr) == 1) {
		e->family = 4;
		return 0;
	}
	if (inet_pton(AF_INET6, p->addr, e->addr) == 1) {
		e->family = 6;
		return 0;
	}
	return -1;
}

static int parse_prefix(const struct item_parts *p, struct netlist_entry *e, const char *item, char *err,
			size_t errlen)
{
	unsigned max = e->family == 4 ? 32 : 128;
	unsigned long v;

	if (!p->prefix) {
		e->prefix = (uint8_t)max;
		return 0;
	}
	if (!parse_decimal(p->prefix, &v) || v > max)
		return parse_error(err, errlen, "bad prefix '/%s' in '%s' (must be 0-%u)", p->prefix, item, max);
	e->prefix = (uint8_t)v;
	return 0;
}

static int parse_port(const struct item_parts *p, uint16_t *port, const char *item, char *err, size_t errlen)
{
	unsigned long v;

	*port = 0;
	if (!p->port)
		return 0;
	if (!parse_decimal(p->port, &v) || v < 1 || v > 65535)
		return parse_error(err, errlen, "bad port '%s' in '%s' (must be 1-65535)", p->port, item);
	*port = (uint16_t)v;
	return 0;
}

/* ::ffff:a.b.c.d/96+n is a.b.c.d/n: store it the way netlist_match will look for it. */
static void unmap_v4(struct netlist_entry *e)
{
	if (e->family != 6 || e->prefix < 96 || memcmp(e->addr, v4mapped_prefix, 12) != 0)
		return;
	memmove(e->addr, e->addr + 12, 4);
	memset(e->addr + 4, 0, 12);
	e->family = 4;
	e->prefix -= 96;
}

/* "*[:port]" and "localhost[:port]": each is one IPv4 and one IPv6 entry.
 * Returns 1 when the item was a keyword, 0 when not, -1 on error. */
static int parse_keyword(const struct item_parts *p, struct netlist *l, const char *item, char *err,
			 size_t errlen)
{
	struct netlist_entry v4 = { .family = 4 }, v6 = { .family = 6 };

	if (p->bracketed || p->prefix)
		return 0;
	if (strcmp(p->addr, "*") == 0) {
		v4.prefix = 0;
		v6.prefix = 0;
	} else if (strcasecmp(p->addr, "localhost") == 0) {
		v4.prefix = 8;
		v4.addr[0] = 127;
		v6.prefix = 128;
		v6.addr[15] = 1;
	} else {
		return 0;
	}
	if (parse_port(p, &v4.port, item, err, errlen) < 0)
		return -1;
	v6.port = v4.port;
	if (list_add(l, &v4, err, errlen) < 0 || list_add(l, &v6, err, errlen) < 0)
		return -1;
	return 1;
}

static int parse_item(const char *item, size_t len, struct netlist *l, char *err, size_t errlen)
{
	char quoted[ITEM_MAX + 4], buf[ITEM_MAX];
	struct item_parts p;
	struct netlist_entry e = { 0 };

	snprintf(quoted, sizeof quoted, "%.*s%s", (int)(len < ITEM_MAX ? len : ITEM_MAX), item,
		 len < ITEM_MAX ? "" : "...");
	if (len >= sizeof buf)
		return parse_error(err, errlen, "bad entry '%s' (too long)", quoted);
	memcpy(buf, item, len);
	buf[len] = '\0';
	if (split_item(buf, &p, quoted, err, errlen) < 0)
		return -1;

	int keyword = parse_keyword(&p, l, quoted, err, errlen);
	if (keyword != 0)
		return keyword < 0 ? -1 : 0;
	if (parse_address(&p, &e) < 0)
		return parse_error(err, errlen, "bad entry '%s' (not an IP address or CIDR; names are not supported)",
				  quoted);
	if (p.port && e.family == 6 && !p.bracketed)
		return parse_error(err, errlen, "bad entry '%s' (write an IPv6 address with a port as [addr]:port)",
				  quoted);
	if (parse_prefix(&p, &e, quoted, err, errlen) < 0 || parse_port(&p, &e.port, quoted, err, errlen) < 0)
		return -1;
	unmap_v4(&e);
	return list_add(l, &e, err, errlen);
}

int netlist_parse(const char *s, struct netlist *out, char *err, size_t errlen)
{
	if (!out)
		return parse_error(err, errlen, "no list to fill");
	if (out->n > NETLIST_MAX)
		return parse_error(err, errlen, "list not initialised");
	size_t saved = out->n;
	while (s && *s) {
		if (is_separator(*s)) {
			s++;
			continue;
		}
		size_t len = 0;
		while (s[len] && !is_separator(s[len]))
			len++;
		if (parse_item(s, len, out, err, errlen) < 0) {
			out->n = saved; /* all or nothing */
			return -1;
		}
		s += len;
	}
	return 0;
}

static int prefix_equal(const uint8_t *a, const uint8_t *net, unsigned prefix)
{
	unsigned full = prefix / 8, rest = prefix % 8;

	if (memcmp(a, net, full) != 0)
		return 0;
	if (rest == 0)
		return 1;
	uint8_t mask = (uint8_t)(0xff00 >> rest);
	return (a[full] & mask) == net[full];
}

int netlist_match(const struct netlist *l, const struct sockaddr *sa)
{
	sa_family_t family;
	uint8_t addr[16];
	uint16_t port_be;
	unsigned fam;
	const char *raw = (const char *)sa;

	if (!l || !sa)
		return 0;
	/* memcpy, not casts: callers' sockaddrs need not be aligned. */
	memcpy(&family, raw + offsetof(struct sockaddr, sa_family), sizeof family);
	if (family == AF_INET) {
		memcpy(addr, raw + offsetof(struct sockaddr_in, sin_addr), 4);
		memcpy(&port_be, raw + offsetof(struct sockaddr_in, sin_port), 2);
		fam = 4;
	} else if (family == AF_INET6) {
		memcpy(addr, raw + offsetof(struct sockaddr_in6, sin6_addr), 16);
		memcpy(&port_be, raw + offsetof(struct sockaddr_in6, sin6_port), 2);
		fam = 6;
		if (memcmp(addr, v4mapped_prefix, 12) == 0) {
			memmove(addr, addr + 12, 4);
			fam = 4;
		}
	} else {
		return 0;
	}
	uint16_t port = ntohs(port_be);
	for (size_t i = 0; i < l->n && i < NETLIST_MAX; i++) {
		const struct netlist_entry *e = &l->e[i];
		if (e->family == fam && (e->port == 0 || e->port == port) && prefix_equal(addr, e->addr, e->prefix))
			return 1;
	}
	return 0;
}
