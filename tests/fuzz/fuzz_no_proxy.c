/* fuzz_no_proxy.c - SOCKSIFY_NO_PROXY: netlist_parse, namelist_is_name/add/match, netlist_match.
 *
 * Input: 19 bytes for a destination (byte 0 picks IPv4, IPv6 or IPv4-mapped
 * IPv6; 16 address bytes; 2 port bytes), then the SOCKSIFY_NO_PROXY text up
 * to a NUL, then a host name up to the next NUL.
 *
 * The text is parsed whole by netlist_parse (all or nothing, appending), and
 * item by item the way preload/config.c's config_no_proxy splits it: names to
 * the namelist, the rest to the netlist. Checks: every entry is well formed;
 * an item netlist_parse accepts is never taken for a name (that would
 * silently exclude nothing); every entry matches its own address; a parsed
 * name matches itself and its subdomains as documented; netlist_match and
 * namelist_match agree with plain reference implementations; errors are one
 * terminated line. */
#include "fuzz.h"
#include "namelist.h"
#include "netlist.h"

#include <netinet/in.h>
#include <sys/socket.h>

#define ITEM_CAP 300 /* config_no_proxy's item buffer */

static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* A destination as netlist_match sees it: family 4 or 6, address, port. */
struct dest {
	unsigned family;
	uint8_t addr[16];
	uint16_t port;
};

static void make_sockaddr(const struct dest *d, int mapped, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof *ss);
	if (d->family == 4 && !mapped) {
		struct sockaddr_in *sin = (struct sockaddr_in *)ss;
		sin->sin_family = AF_INET;
		sin->sin_port = htons(d->port);
		memcpy(&sin->sin_addr, d->addr, 4);
	} else {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(d->port);
		if (d->family == 4) {
			memcpy(&sin6->sin6_addr, v4mapped, 12);
			memcpy((uint8_t *)&sin6->sin6_addr + 12, d->addr, 4);
		} else {
			memcpy(&sin6->sin6_addr, d->addr, 16);
		}
	}
}

static int bit(const uint8_t *a, unsigned i)
{
	return a[i / 8] >> (7 - i % 8) & 1;
}

static int ref_net_match(const struct netlist *l, const struct dest *dst)
{
	struct dest v4 = { .family = 4, .port = dst->port };
	const struct dest *d = dst;

	if (dst->family == 6 && memcmp(dst->addr, v4mapped, 12) == 0) { /* compared as IPv4 */
		memcpy(v4.addr, dst->addr + 12, 4);
		d = &v4;
	}
	for (size_t i = 0; i < l->n; i++) {
		const struct netlist_entry *e = &l->e[i];
		if (e->family != d->family || (e->port != 0 && e->port != d->port))
			continue;
		unsigned b = 0;
		while (b < e->prefix && bit(d->addr, b) == bit(e->addr, b))
			b++;
		if (b == e->prefix)
			return 1;
	}
	return 0;
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static int ref_name_match(const struct namelist *l, const char *name)
{
	size_t n = strlen(name);

	if (l->match_all)
		return 1;
	if (n > 0 && name[n - 1] == '.')
		n--;
	for (size_t i = 0; i < l->n; i++) {
		const char *s = l->e[i].suffix;
		size_t slen = strlen(s), k;
		if (slen > n)
			continue;
		for (k = 0; k < slen && lower(name[n - slen + k]) == s[k]; k++)
			;
		if (k < slen)
			continue;
		if (n == slen ? !l->e[i].subdomains_only : name[n - slen - 1] == '.')
			return 1;
	}
	return 0;
}

static void check_entries(const struct netlist *l, size_t from)
{
	FUZZ_CHECK(l->n <= NETLIST_MAX);
	for (size_t i = from; i < l->n; i++) {
		const struct netlist_entry *e = &l->e[i];
		unsigned max = e->family == 4 ? 32 : 128;
		FUZZ_CHECK(e->family == 4 || e->family == 6);
		FUZZ_CHECK(e->prefix <= max);
		for (unsigned b = e->prefix; b < 128; b++) /* host bits clear, and nothing past an IPv4 address */
			FUZZ_CHECK(bit(e->addr, b) == 0);
		/* An IPv4-mapped network is stored as IPv4, where netlist_match looks for it. */
		if (e->family == 6 && e->prefix >= 96)
			FUZZ_CHECK(memcmp(e->addr, v4mapped, 12) != 0);
	}
}

/* Every entry matches its own network address (and, for IPv4, its mapped form). */
static void check_self_match(const struct netlist *l, size_t from)
{
	struct sockaddr_storage ss;
	for (size_t i = from; i < l->n; i++) {
		struct dest d = { .family = l->e[i].family, .port = l->e[i].port ? l->e[i].port : 1 };
		memcpy(d.addr, l->e[i].addr, 16);
		make_sockaddr(&d, 0, &ss);
		FUZZ_CHECK(netlist_match(l, (struct sockaddr *)&ss) == 1);
		if (d.family == 4) {
			make_sockaddr(&d, 1, &ss);
			FUZZ_CHECK(netlist_match(l, (struct sockaddr *)&ss) == 1);
		}
	}
}

static void check_name_entry(const struct namelist *l, size_t i)
{
	char buf[600];
	const char *s = l->e[i].suffix;
	size_t slen = strnlen(s, sizeof l->e[i].suffix);

	FUZZ_CHECK(slen >= 1 && slen <= 253);
	FUZZ_CHECK(s[0] != '.' && s[slen - 1] != '.');
	for (size_t k = 0; k < slen; k++)
		FUZZ_CHECK(lower(s[k]) == s[k]);
	struct namelist one = { .n = 1 };
	one.e[0] = l->e[i];
	FUZZ_CHECK(namelist_match(&one, s) == !l->e[i].subdomains_only);
	snprintf(buf, sizeof buf, "%s.", s);
	FUZZ_CHECK(namelist_match(&one, buf) == !l->e[i].subdomains_only);
	snprintf(buf, sizeof buf, "Sub.%s", s);
	FUZZ_CHECK(namelist_match(&one, buf) == 1);
	for (char *p = buf; *p; p++)
		*p = *p >= 'a' && *p <= 'z' ? (char)(*p - 'a' + 'A') : *p;
	FUZZ_CHECK(namelist_match(&one, buf) == 1);
	snprintf(buf, sizeof buf, "x%s", s); /* not at a label boundary */
	FUZZ_CHECK(namelist_match(&one, buf) == 0);
}

/* config_no_proxy's loop, with checks on each item. */
static void parse_items(const char *s, struct netlist *net, struct namelist *names)
{
	char item[ITEM_CAP], err[200];

	while (*s) {
		size_t n = strcspn(s, ", \t");
		if (n > 0 && n < sizeof item) {
			memcpy(item, s, n);
			item[n] = '\0';
			int is_name = namelist_is_name(item);
			struct netlist alone = { 0 };
			int as_net = netlist_parse(item, &alone, err, sizeof err);
			FUZZ_CHECK(as_net == 0 || fuzz_is_one_line(err, sizeof err));
			if (as_net == 0 && alone.n > 0) {
				/* (config_no_proxy splits on ", \t" only; netlist_parse also on "\n\r\v\f",
				 * so "10.0.0.1\n" is a netlist address but a bad name: refused and logged, fail closed.) */
				if (!strpbrk(item, "\n\r\v\f"))
					FUZZ_CHECK(!is_name || strcmp(item, "*") == 0);
				check_entries(&alone, 0);
				check_self_match(&alone, 0);
			}
			if (is_name) {
				size_t before = names->n;
				int r = namelist_add(names, item, err, sizeof err);
				if (r == 0 && strcmp(item, "*") != 0) {
					FUZZ_CHECK(names->n == before + 1);
					check_name_entry(names, before);
				} else if (r == 0) {
					FUZZ_CHECK(names->match_all && names->n == before);
				} else {
					FUZZ_CHECK(names->n == before && fuzz_is_one_line(err, sizeof err));
				}
			} else {
				size_t before = net->n;
				if (netlist_parse(item, net, err, sizeof err) == 0)
					check_entries(net, before);
				else
					FUZZ_CHECK(net->n == before);
			}
		}
		s += n;
		s += strspn(s, ", \t");
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct netlist whole, items; /* static: they are large */
	static struct namelist names;
	struct sockaddr_storage ss;
	struct dest d = { 0 };
	char err[200];

	if (size < 19)
		return 0;
	d.family = data[0] & 1 ? 6 : 4;
	memcpy(d.addr, data + 1, d.family == 4 ? 4 : 16);
	d.port = (uint16_t)(data[17] << 8 | data[18]);
	char *text = fuzz_cstr(data + 19, size - 19);
	size_t tlen = strlen(text);
	char *name = fuzz_cstr(data + 19 + tlen + (19 + tlen < size), size - 19 - tlen - (19 + tlen < size));

	/* Whole: appends to what is there, all or nothing. */
	memset(&whole, 0, sizeof whole);
	FUZZ_CHECK(netlist_parse("192.0.2.0/24", &whole, err, sizeof err) == 0 && whole.n == 1);
	if (netlist_parse(text, &whole, err, sizeof err) == 0) {
		FUZZ_CHECK(whole.e[0].family == 4 && whole.e[0].prefix == 24);
		check_entries(&whole, 0);
		check_self_match(&whole, 0);
	} else {
		FUZZ_CHECK(whole.n == 1 && fuzz_is_one_line(err, sizeof err));
	}

	memset(&items, 0, sizeof items);
	memset(&names, 0, sizeof names);
	parse_items(text, &items, &names);

	make_sockaddr(&d, data[0] & 2, &ss);
	FUZZ_CHECK(netlist_match(&whole, (struct sockaddr *)&ss) == ref_net_match(&whole, &d));
	FUZZ_CHECK(netlist_match(&items, (struct sockaddr *)&ss) == ref_net_match(&items, &d));
	FUZZ_CHECK(namelist_match(&names, name) == ref_name_match(&names, name));
	free(text);
	free(name);
	return 0;
}
