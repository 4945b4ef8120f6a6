/* test_netlist.c - SOCKSIFY_NO_PROXY lists: parsing, errors, prefix boundaries, ports. */
#include "netlist.h"
#include "unit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>

static char err[256];

/* A sockaddr from "1.2.3.4" or "::1" text and a port. */
static struct sockaddr_storage sa_of(const char *ip, uint16_t port)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
	} else if (inet_pton(AF_INET6, ip, &sin6->sin6_addr) == 1) {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
	} else {
		fprintf(stderr, "test bug: bad address %s\n", ip);
		abort();
	}
	return ss;
}

static int matches(const struct netlist *l, const char *ip, uint16_t port)
{
	struct sockaddr_storage ss = sa_of(ip, port);
	return netlist_match(l, (struct sockaddr *)&ss);
}

/* Parses a list that must be good into a fresh netlist. */
static struct netlist list_of(const char *s)
{
	struct netlist l;
	memset(&l, 0x55, sizeof l);
	l.n = 0;
	err[0] = '\0';
	if (!CHECK(netlist_parse(s, &l, err, sizeof err) == 0))
		fprintf(stderr, "    list \"%s\": %s\n", s, err);
	return l;
}

#define CHECK_MATCH(l, ip, port) unit_check(matches(&(l), (ip), (port)) == 1, __FILE__, __LINE__, "match " ip)
#define CHECK_NO_MATCH(l, ip, port) unit_check(matches(&(l), (ip), (port)) == 0, __FILE__, __LINE__, "no match " ip)

/* A list that must fail with exactly this error, leaving out as it was. */
#define CHECK_BAD(list, want) check_bad((list), (want), __LINE__)

static void check_bad(const char *s, const char *want, int line)
{
	struct netlist l = list_of("1.1.1.1");
	strcpy(err, "unset");
	unit_check_long(netlist_parse(s, &l, err, sizeof err), -1, __FILE__, line, s);
	unit_check_long((long)l.n, 1, __FILE__, line, "all or nothing");
	unit_check_str(err, want, __FILE__, line, s);
}

static void test_parse_forms(void)
{
	struct netlist l = list_of("127.0.0.1, 10.0.0.0/8 ::1 [::1] fd00::/8\t192.168.1.5:8080\n[::1]:80,*");
	CHECK_INT(l.n, 9); /* "*" is one IPv4 and one IPv6 entry */
	CHECK_INT(l.e[0].family, 4);
	CHECK_INT(l.e[0].prefix, 32);
	CHECK_MEM(l.e[0].addr, "\x7f\x00\x00\x01", 4);
	CHECK_INT(l.e[0].port, 0);
	CHECK_INT(l.e[1].prefix, 8);
	CHECK_INT(l.e[2].family, 6);
	CHECK_INT(l.e[2].prefix, 128);
	CHECK_INT(l.e[3].family, 6);
	CHECK_INT(l.e[4].prefix, 8);
	CHECK_INT(l.e[4].addr[0], 0xfd);
	CHECK_INT(l.e[5].port, 8080);
	CHECK_INT(l.e[6].family, 6);
	CHECK_INT(l.e[6].port, 80);
	CHECK_INT(l.e[7].family, 4);
	CHECK_INT(l.e[7].prefix, 0);
	CHECK_INT(l.e[8].family, 6);
	CHECK_INT(l.e[8].prefix, 0);

	/* Prefix and port together, both families. */
	l = list_of("10.0.0.0/8:443 [fd00::]/8:53");
	CHECK_INT(l.n, 2);
	CHECK_INT(l.e[0].prefix, 8);
	CHECK_INT(l.e[0].port, 443);
	CHECK_INT(l.e[1].family, 6);
	CHECK_INT(l.e[1].prefix, 8);
	CHECK_INT(l.e[1].port, 53);

	/* Empty items are skipped; nothing at all is fine. */
	CHECK_INT(list_of(",, ,\t\n\r,").n, 0);
	CHECK_INT(list_of("").n, 0);
	CHECK_INT(list_of(NULL).n, 0);
	CHECK_INT(list_of(" ,10.0.0.1,, 10.0.0.2 ,").n, 2);

	/* Appends. */
	l = list_of("1.1.1.1");
	CHECK(netlist_parse("2.2.2.2 ::2", &l, err, sizeof err) == 0);
	CHECK_INT(l.n, 3);
	CHECK(matches(&l, "1.1.1.1", 1) && matches(&l, "2.2.2.2", 1) && matches(&l, "::2", 1));
}

static void test_host_bits(void)
{
	struct netlist l = list_of("10.1.2.3/8 192.168.1.77/25 2001:db8:ffff::1/33");
	CHECK_MEM(l.e[0].addr, "\x0a\x00\x00\x00", 4);
	CHECK_MEM(l.e[1].addr, "\xc0\xa8\x01\x00", 4);
	CHECK_MEM(l.e[2].addr, "\x20\x01\x0d\xb8\x80\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00", 16);
	CHECK_MATCH(l, "10.200.0.1", 1);
	CHECK_MATCH(l, "192.168.1.0", 1);
	CHECK_NO_MATCH(l, "192.168.1.128", 1);
	CHECK_MATCH(l, "2001:db8:8000::", 1);
	CHECK_NO_MATCH(l, "2001:db8:7fff::", 1);
}

static void test_boundaries(void)
{
	struct netlist l = list_of("10.0.0.0/8");
	CHECK_MATCH(l, "10.0.0.0", 80);
	CHECK_MATCH(l, "10.255.255.255", 80);
	CHECK_NO_MATCH(l, "9.255.255.255", 80);
	CHECK_NO_MATCH(l, "11.0.0.0", 80);

	l = list_of("192.168.1.0/25");
	CHECK_MATCH(l, "192.168.1.127", 1);
	CHECK_NO_MATCH(l, "192.168.1.128", 1);
	CHECK_NO_MATCH(l, "192.168.0.255", 1);

	l = list_of("0.0.0.0/1");
	CHECK_MATCH(l, "127.255.255.255", 1);
	CHECK_NO_MATCH(l, "128.0.0.0", 1);

	l = list_of("1.2.3.4/31");
	CHECK_MATCH(l, "1.2.3.4", 1);
	CHECK_MATCH(l, "1.2.3.5", 1);
	CHECK_NO_MATCH(l, "1.2.3.6", 1);
	CHECK_NO_MATCH(l, "1.2.3.3", 1);

	l = list_of("1.2.3.4");
	CHECK_MATCH(l, "1.2.3.4", 1);
	CHECK_NO_MATCH(l, "1.2.3.5", 1);
	CHECK_NO_MATCH(l, "::1.2.3.4", 1);

	l = list_of("0.0.0.0/0");
	CHECK_MATCH(l, "0.0.0.0", 1);
	CHECK_MATCH(l, "255.255.255.255", 1);
	CHECK_NO_MATCH(l, "::1", 1);

	l = list_of("fd00::/8");
	CHECK_MATCH(l, "fd00::", 1);
	CHECK_MATCH(l, "fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 1);
	CHECK_NO_MATCH(l, "fc00::", 1);
	CHECK_NO_MATCH(l, "fe00::", 1);

	l = list_of("2001:db8::/127");
	CHECK_MATCH(l, "2001:db8::", 1);
	CHECK_MATCH(l, "2001:db8::1", 1);
	CHECK_NO_MATCH(l, "2001:db8::2", 1);

	l = list_of("::/0");
	CHECK_MATCH(l, "::", 1);
	CHECK_MATCH(l, "ffff::1", 1);
	CHECK_NO_MATCH(l, "1.2.3.4", 1);
}

/* Byte-wise reference for "the first p bits agree". */
static int same_prefix(const uint8_t *a, const uint8_t *b, unsigned p)
{
	for (unsigned bit = 0; bit < p; bit++) {
		unsigned mask = 0x80u >> (bit % 8);
		if ((a[bit / 8] & mask) != (b[bit / 8] & mask))
			return 0;
	}
	return 1;
}

static uint32_t rng_state = 4242;

static uint8_t rng_byte(void)
{
	rng_state = rng_state * 1103515245u + 12345u;
	return (uint8_t)(rng_state >> 16);
}

/* Every prefix length of both families against addresses that differ in exactly one bit. */
static void test_every_prefix(void)
{
	int ok = 1;
	char text[80], ip[INET6_ADDRSTRLEN];

	for (int fam = 4; fam <= 6; fam += 2) {
		unsigned bits = fam == 4 ? 32 : 128, bytes = bits / 8;
		uint8_t net[16], probe[16];
		for (unsigned i = 0; i < bytes; i++)
			net[i] = rng_byte();
		if (fam == 6)
			net[0] = 0x20; /* keep clear of ::ffff:0:0/96, which is stored as IPv4 */
		for (unsigned p = 0; p <= bits; p++) {
			inet_ntop(fam == 4 ? AF_INET : AF_INET6, net, ip, sizeof ip);
			snprintf(text, sizeof text, "%s/%u", ip, p);
			struct netlist l = { 0 };
			if (netlist_parse(text, &l, err, sizeof err) != 0 || l.n != 1) {
				ok = 0;
				continue;
			}
			if (!matches(&l, ip, 1))
				ok = 0;
			for (unsigned flip = 0; flip < bits; flip++) {
				memcpy(probe, net, bytes);
				probe[flip / 8] ^= (uint8_t)(0x80u >> (flip % 8));
				inet_ntop(fam == 4 ? AF_INET : AF_INET6, probe, ip, sizeof ip);
				int want = same_prefix(probe, net, p);
				if (matches(&l, ip, 1) != want) {
					fprintf(stderr, "    %s vs %s: want %d\n", text, ip, want);
					ok = 0;
				}
			}
		}
	}
	CHECK(ok);
}

static void test_mapped(void)
{
	/* A mapped IPv6 address is compared as IPv4... */
	struct netlist l = list_of("10.0.0.0/8 127.0.0.1:53");
	CHECK_MATCH(l, "::ffff:10.1.2.3", 1);
	CHECK_NO_MATCH(l, "::ffff:11.1.2.3", 1);
	CHECK_MATCH(l, "::ffff:127.0.0.1", 53);
	CHECK_NO_MATCH(l, "::ffff:127.0.0.1", 54);
	CHECK_NO_MATCH(l, "::10.1.2.3", 1); /* IPv4-compatible is not mapped */

	/* ...and a mapped entry is stored as IPv4, so it matches both spellings. */
	l = list_of("::ffff:192.168.0.0/112 [::ffff:1.2.3.4]:80");
	CHECK_INT(l.e[0].family, 4);
	CHECK_INT(l.e[0].prefix, 16);
	CHECK_INT(l.e[1].family, 4);
	CHECK_INT(l.e[1].prefix, 32);
	CHECK_MATCH(l, "192.168.5.5", 1);
	CHECK_MATCH(l, "::ffff:192.168.5.5", 1);
	CHECK_NO_MATCH(l, "192.169.0.0", 1);
	CHECK_MATCH(l, "1.2.3.4", 80);
	CHECK_MATCH(l, "::ffff:1.2.3.4", 80);
	CHECK_NO_MATCH(l, "1.2.3.4", 81);

	/* A prefix shorter than the mapped block stays IPv6 (and so cannot match mapped peers). */
	l = list_of("::ffff:0:0/95");
	CHECK_INT(l.e[0].family, 6);
	CHECK_NO_MATCH(l, "::ffff:1.2.3.4", 1);
}

static void test_ports(void)
{
	struct netlist l = list_of("192.168.1.5:8080 [::1]:80 10.0.0.0/8:443");
	CHECK_MATCH(l, "192.168.1.5", 8080);
	CHECK_NO_MATCH(l, "192.168.1.5", 8081);
	CHECK_NO_MATCH(l, "192.168.1.5", 80);
	CHECK_MATCH(l, "::1", 80);
	CHECK_NO_MATCH(l, "::1", 81);
	CHECK_MATCH(l, "10.9.9.9", 443);
	CHECK_NO_MATCH(l, "10.9.9.9", 444);

	l = list_of("1.1.1.1:1 1.1.1.1:65535");
	CHECK_MATCH(l, "1.1.1.1", 1);
	CHECK_MATCH(l, "1.1.1.1", 65535);
	CHECK_NO_MATCH(l, "1.1.1.1", 2);

	/* No port in the entry: every port, including 0 (as in a UDP sendto). */
	l = list_of("1.1.1.1");
	CHECK_MATCH(l, "1.1.1.1", 0);
	CHECK_MATCH(l, "1.1.1.1", 65535);
}

static void test_keywords(void)
{
	struct netlist l = list_of("*");
	CHECK_MATCH(l, "1.2.3.4", 1);
	CHECK_MATCH(l, "::", 1);
	CHECK_MATCH(l, "2001:db8::5", 65535);
	CHECK_MATCH(l, "::ffff:8.8.8.8", 53);

	l = list_of("*:443");
	CHECK_MATCH(l, "8.8.8.8", 443);
	CHECK_MATCH(l, "2001:db8::5", 443);
	CHECK_NO_MATCH(l, "8.8.8.8", 80);

	l = list_of("localhost");
	CHECK_INT(l.n, 2);
	CHECK_MATCH(l, "127.0.0.1", 1);
	CHECK_MATCH(l, "127.255.255.254", 1);
	CHECK_MATCH(l, "::1", 1);
	CHECK_MATCH(l, "::ffff:127.0.0.53", 1);
	CHECK_NO_MATCH(l, "128.0.0.1", 1);
	CHECK_NO_MATCH(l, "126.255.255.255", 1);
	CHECK_NO_MATCH(l, "::2", 1);

	l = list_of("LocalHost:53");
	CHECK_MATCH(l, "127.0.0.53", 53);
	CHECK_MATCH(l, "::1", 53);
	CHECK_NO_MATCH(l, "127.0.0.53", 54);
}

static void test_errors(void)
{
	CHECK_BAD("10.0.0.0/33", "bad prefix '/33' in '10.0.0.0/33' (must be 0-32)");
	CHECK_BAD("fd00::/129", "bad prefix '/129' in 'fd00::/129' (must be 0-128)");
	CHECK_BAD("[fd00::]/200:80", "bad prefix '/200' in '[fd00::]/200:80' (must be 0-128)");
	CHECK_BAD("10.0.0.0/", "bad prefix '/' in '10.0.0.0/' (must be 0-32)");
	CHECK_BAD("10.0.0.0/-1", "bad prefix '/-1' in '10.0.0.0/-1' (must be 0-32)");
	CHECK_BAD("10.0.0.0/8a", "bad prefix '/8a' in '10.0.0.0/8a' (must be 0-32)");
	CHECK_BAD("10.0.0.0/0000000008", "bad prefix '/0000000008' in '10.0.0.0/0000000008' (must be 0-32)");
	CHECK_BAD("1.2.3.4:0", "bad port '0' in '1.2.3.4:0' (must be 1-65535)");
	CHECK_BAD("1.2.3.4:65536", "bad port '65536' in '1.2.3.4:65536' (must be 1-65535)");
	CHECK_BAD("1.2.3.4:", "bad port '' in '1.2.3.4:' (must be 1-65535)");
	CHECK_BAD("1.2.3.4:http", "bad port 'http' in '1.2.3.4:http' (must be 1-65535)");
	CHECK_BAD("[::1]:99999", "bad port '99999' in '[::1]:99999' (must be 1-65535)");
	CHECK_BAD("localhost:0", "bad port '0' in 'localhost:0' (must be 1-65535)");
	CHECK_BAD("example.com",
		  "bad entry 'example.com' (not an IP address or CIDR; names are not supported)");
	CHECK_BAD("10.0.0.1, .local",
		  "bad entry '.local' (not an IP address or CIDR; names are not supported)");
	CHECK_BAD("1.2.3", "bad entry '1.2.3' (not an IP address or CIDR; names are not supported)");
	CHECK_BAD("[1.2.3.4]", "bad entry '[1.2.3.4]' (not an IP address or CIDR; names are not supported)");
	CHECK_BAD("localhost/8", "bad entry 'localhost/8' (not an IP address or CIDR; names are not supported)");
	CHECK_BAD("**", "bad entry '**' (not an IP address or CIDR; names are not supported)");
	CHECK_BAD("[::1", "unterminated '[' in '[::1'");
	CHECK_BAD("[::1]x", "unexpected 'x' after ']' in '[::1]x'");
	CHECK_BAD("::1/128:80", "bad entry '::1/128:80' (write an IPv6 address with a port as [addr]:port)");
	CHECK_BAD("1.2.3.4\x01", "bad entry '1.2.3.4?' (not an IP address or CIDR; names are not supported)");

	/* Over-long items are quoted shortened. */
	char item[300];
	memset(item, '1', sizeof item - 1);
	item[sizeof item - 1] = '\0';
	struct netlist l = { 0 };
	CHECK(netlist_parse(item, &l, err, sizeof err) == -1);
	CHECK(strstr(err, "(too long)") != NULL);
	CHECK(strlen(err) < 120);

	/* err may be NULL, or tiny. */
	CHECK(netlist_parse("bogus", &l, NULL, 0) == -1);
	char tiny[6];
	CHECK(netlist_parse("bogus", &l, tiny, sizeof tiny) == -1);
	CHECK_STR(tiny, "bad e");
}

static void test_too_many(void)
{
	char s[NETLIST_MAX * 16 + 32], *p = s;
	for (int i = 0; i < NETLIST_MAX; i++)
		p += sprintf(p, "10.0.%d.%d,", i / 256, i % 256);
	struct netlist l = list_of(s);
	CHECK_INT(l.n, NETLIST_MAX);
	CHECK_MATCH(l, "10.0.0.63", 1);

	CHECK(netlist_parse("10.1.0.0", &l, err, sizeof err) == -1);
	CHECK_STR(err, "too many entries (more than 64)");
	CHECK_INT(l.n, NETLIST_MAX);

	/* One over in a single call: nothing of that call is kept. */
	struct netlist m = list_of("1.1.1.1");
	p = s;
	for (int i = 0; i < NETLIST_MAX; i++)
		p += sprintf(p, "10.0.0.%d ", i);
	CHECK(netlist_parse(s, &m, err, sizeof err) == -1);
	CHECK_STR(err, "too many entries (more than 64)");
	CHECK_INT(m.n, 1);

	/* "*" takes two slots, so it does not fit in the last one. */
	m = list_of("");
	p = s;
	for (int i = 0; i < NETLIST_MAX - 1; i++)
		p += sprintf(p, "10.0.0.%d ", i);
	strcpy(p, "*");
	CHECK(netlist_parse(s, &m, err, sizeof err) == -1);
	CHECK_INT(m.n, 0);
}

static void test_match_edges(void)
{
	struct netlist l = list_of("*");
	struct sockaddr_un sun = { .sun_family = AF_UNIX, .sun_path = "/tmp/x" };
	CHECK_INT(netlist_match(&l, (struct sockaddr *)&sun), 0);
	CHECK_INT(netlist_match(&l, NULL), 0);
	struct sockaddr_storage ss = sa_of("1.2.3.4", 1);
	CHECK_INT(netlist_match(NULL, (struct sockaddr *)&ss), 0);

	struct netlist empty = list_of("");
	CHECK_INT(netlist_match(&empty, (struct sockaddr *)&ss), 0);

	/* Unaligned sockaddrs are read safely. */
	struct netlist v6 = list_of("[2001:db8::7]:9");
	unsigned char raw[1 + sizeof(struct sockaddr_in6)];
	struct sockaddr_storage s6 = sa_of("2001:db8::7", 9);
	memcpy(raw + 1, &s6, sizeof(struct sockaddr_in6));
	CHECK_INT(netlist_match(&v6, (struct sockaddr *)(raw + 1)), 1);
}

int main(void)
{
	test_parse_forms();
	test_host_bits();
	test_boundaries();
	test_every_prefix();
	test_mapped();
	test_ports();
	test_keywords();
	test_errors();
	test_too_many();
	test_match_edges();
	return unit_report();
}
