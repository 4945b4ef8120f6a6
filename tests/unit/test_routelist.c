/* test_routelist.c - SOCKSIFY_ROUTE: routelist_parse and routelist_match, byte by byte. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "routelist.h"
#include "unit.h"

static struct routelist l; /* large: static */
static char err[400];

static int parse(const char *s)
{
	err[0] = '\0';
	return routelist_parse(s, &l, err, sizeof err);
}

static struct sockaddr_storage addr(const char *a, int port)
{
	struct sockaddr_storage ss;
	memset(&ss, 0, sizeof ss);
	if (strchr(a, ':')) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, a, &s6->sin6_addr);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, a, &s4->sin_addr);
	}
	return ss;
}

static int match_addr(const char *a, int port)
{
	struct sockaddr_storage ss = addr(a, port);
	return routelist_match(&l, (struct sockaddr *)&ss, NULL);
}

static void test_one_route(void)
{
	CHECK_INT(parse("10.0.0.0/8=socks5://10.1.1.1:1081"), 0);
	CHECK_INT(l.n, 1);
	CHECK_INT(l.r[0].nets.n, 1);
	CHECK_INT(l.r[0].nets.e[0].family, 4);
	CHECK_INT(l.r[0].nets.e[0].prefix, 8);
	CHECK_INT(l.r[0].names.n, 0);
	CHECK_INT(l.r[0].direct, 0);
	CHECK_INT(l.r[0].chain.n, 1);
	CHECK_STR(l.r[0].chain.hop[0].host, "10.1.1.1");
	CHECK_INT(l.r[0].chain.hop[0].port, 1081);
	CHECK_STR(l.r[0].dests, "10.0.0.0/8");
	CHECK_INT(match_addr("10.200.3.4", 80), 0);
	CHECK_INT(match_addr("::ffff:10.200.3.4", 80), 0); /* v4-mapped: as IPv4 */
	CHECK_INT(match_addr("11.0.0.1", 80), -1);
	CHECK_INT(routelist_match(&l, NULL, "example.com"), -1); /* names: by the name list only */
}

static void test_many_and_separators(void)
{
	/* ';' and newlines separate routes; blanks around everything; empty routes skipped */
	CHECK_INT(parse(" ;\n 192.168.0.0/16 , .corp.example ,[::1]:80 = direct ;;\n"
			"*.onion = socks5h://127.0.0.1:9050\r\n"
			"* = socks5://a:1, http://u:p@b:3128 ;"),
		  0);
	CHECK_INT(l.n, 3);
	CHECK_INT(l.r[0].direct, 1);
	CHECK_INT(l.r[0].nets.n, 2);
	CHECK_INT(l.r[0].names.n, 1);
	CHECK_STR(l.r[0].names.e[0].suffix, "corp.example");
	CHECK_INT(l.r[0].names.e[0].subdomains_only, 1);
	CHECK_STR(l.r[0].dests, "192.168.0.0/16 , .corp.example ,[::1]:80");
	CHECK_INT(l.r[1].chain.hop[0].scheme, PROXY_SOCKS5H);
	CHECK_INT(l.r[1].chain.hop[0].port, 9050);
	CHECK_INT(l.r[2].chain.n, 2); /* a chain */
	CHECK_INT(l.r[2].chain.hop[1].scheme, PROXY_HTTP);
	CHECK_STR(l.r[2].chain.hop[1].pass, "p");
	CHECK_INT(l.r[2].names.match_all, 1); /* '*': every name and every address */
	CHECK_INT(l.r[2].nets.n, 2); /* '*' in the netlist: IPv4 and IPv6 */

	CHECK_INT(match_addr("192.168.7.7", 1), 0);
	CHECK_INT(match_addr("::1", 80), 0);
	CHECK_INT(match_addr("::1", 81), 2); /* the port differs: on to '*' */
	CHECK_INT(match_addr("8.8.8.8", 53), 2);
	CHECK_INT(routelist_match(&l, NULL, "db.corp.example"), 0);
	CHECK_INT(routelist_match(&l, NULL, "corp.example"), 2); /* ".name": subdomains only */
	CHECK_INT(routelist_match(&l, NULL, "x.ONION."), 1); /* any case, trailing dot */
	CHECK_INT(routelist_match(&l, NULL, "onion"), 1); /* "*.name" as curl: the name too */
	CHECK_INT(routelist_match(&l, NULL, "example.com"), 2);
}

static void test_split_at_first_equals(void)
{
	/* the proxy part may hold '=' (a password, percent-encoded or not) */
	CHECK_INT(parse("10.0.0.1=socks5://u:a=b@h:1"), 0);
	CHECK_STR(l.r[0].chain.hop[0].pass, "a=b");
	CHECK_INT(parse("10.0.0.1=direct"), 0);
	CHECK_INT(l.r[0].direct, 1);
	CHECK_INT(parse("10.0.0.1= \tdirect\t "), 0);
	CHECK_INT(l.r[0].direct, 1);
	/* "direct" only as the whole word, in lower case; a proxy host may be called directx */
	CHECK_INT(parse("10.0.0.1=directx"), 0);
	CHECK_INT(l.r[0].direct, 0);
	CHECK_STR(l.r[0].chain.hop[0].host, "directx");
	CHECK_INT(parse("10.0.0.1=Direct"), -1); /* not taken for a proxy host called Direct */
	CHECK_STR(err, "route 1 (10.0.0.1): 'Direct': the word is direct, in lower case");
}

static void test_errors(void)
{
	CHECK_INT(parse("10.0.0.0/8"), -1);
	CHECK_STR(err, "route 1: no '=' (a route is DESTS=PROXY)");
	CHECK_INT(l.n, 0);
	CHECK_INT(parse("10.0.0.0/8=direct;;\n11.0.0.0/8"), -1); /* numbered as written, empty ones not counted */
	CHECK_STR(err, "route 2: no '=' (a route is DESTS=PROXY)");
	CHECK_INT(l.n, 0); /* all or nothing */
	CHECK_INT(parse("=socks5://h:1"), -1);
	CHECK_STR(err, "route 1 (): no destinations before '='");
	CHECK_INT(parse(" , =socks5://h:1"), -1);
	CHECK_STR(err, "route 1 (,): no destinations before '='");
	CHECK_INT(parse("10.0.0.0/8="), -1);
	CHECK_STR(err, "route 1 (10.0.0.0/8): no proxy after '=' (a proxy URL or chain, or direct)");
	CHECK_INT(parse("10.0.0.0/8=  "), -1);
	CHECK_STR(err, "route 1 (10.0.0.0/8): no proxy after '=' (a proxy URL or chain, or direct)");
	CHECK_INT(parse("10.0.0.0/33=direct"), -1);
	CHECK(strncmp(err, "route 1 (10.0.0.0/33): ", 23) == 0);
	CHECK_INT(parse("exa mple..com=direct"), -1);
	CHECK(strncmp(err, "route 1 (exa mple..com): ", 25) == 0);
	CHECK_INT(parse("10.0.0.1=socks9://h:1"), -1);
	CHECK(strncmp(err, "route 1 (10.0.0.1): ", 20) == 0);
	CHECK(strstr(err, "socks9") != NULL);
	CHECK_INT(parse("10.0.0.1=socks5://u:secret@h:99999"), -1); /* the password is not echoed */
	CHECK(strstr(err, "secret") == NULL);
	CHECK(strncmp(err, "route 1 (10.0.0.1): ", 20) == 0);
	CHECK_INT(parse("10.0.0.1=socks5://h:1,socks5://h:1,socks5://h:1,socks5://h:1,socks5://h:1,socks5://h:1,"
			"socks5://h:1,socks5://h:1,socks5://h:1"),
		  -1); /* a chain of 9 */
	CHECK(strstr(err, "route 1 (10.0.0.1): ") == err);
}

static void test_limits(void)
{
	char s[4096] = "";
	for (int i = 0; i < ROUTELIST_MAX; i++)
		snprintf(s + strlen(s), sizeof s - strlen(s), "10.0.0.%d=direct;", i);
	CHECK_INT(parse(s), 0);
	CHECK_INT(l.n, ROUTELIST_MAX);
	CHECK_INT(match_addr("10.0.0.15", 1), 15);
	strcat(s, "10.0.0.99=direct");
	CHECK_INT(parse(s), -1);
	CHECK_STR(err, "more than 16 routes");
	CHECK_INT(l.n, 0);

	/* a destination item longer than the item buffer */
	char big[400];
	memset(big, 'a', 350);
	strcpy(big + 350, "=direct");
	CHECK_INT(parse(big), -1);
	char want[400];
	snprintf(want, sizeof want, "route 1 (%.127s): destination of 350 bytes is too long", big); /* truncated */
	CHECK_STR(err, want);
	/* empty input: no routes */
	CHECK_INT(parse(""), 0);
	CHECK_INT(l.n, 0);
	CHECK_INT(parse(" ;\n; "), 0);
	CHECK_INT(l.n, 0);
	/* a small err buffer is still terminated */
	char small[8];
	CHECK_INT(routelist_parse("x", &l, small, sizeof small), -1);
	CHECK_INT(strlen(small), 7);
}

int main(void)
{
	test_one_route();
	test_many_and_separators();
	test_split_at_first_equals();
	test_errors();
	test_limits();
	return unit_report();
}
