/* test_proxyurl.c - proxy URL parsing (socks5, socks4, socks4a, http), chains, error texts,
 * and the password-free printout. */
#include "proxyurl.h"
#include "unit.h"

#include <stdlib.h>

static char err[256];

/* Parses a URL that must be good; returns the result for field checks. */
static struct proxy_url good(const char *s)
{
	struct proxy_url u;
	memset(&u, 0x55, sizeof u);
	err[0] = '\0';
	if (!CHECK(proxy_url_parse(s, &u, err, sizeof err) == 0))
		fprintf(stderr, "    url \"%s\": %s\n", s, err);
	return u;
}

/* A URL that must fail with exactly this error, leaving out untouched. */
#define CHECK_BAD(url, want) check_bad((url), (want), __LINE__)

static void check_bad(const char *s, const char *want, int line)
{
	struct proxy_url u, before;
	memset(&u, 0x55, sizeof u);
	before = u;
	strcpy(err, "unset");
	int r = proxy_url_parse(s, &u, err, sizeof err);
	unit_check_long(r, -1, __FILE__, line, s ? s : "(null)");
	unit_check(memcmp(&u, &before, sizeof u) == 0, __FILE__, line, "out untouched on error");
	unit_check_str(err, want, __FILE__, line, s ? s : "(null)");
}

static void test_plain(void)
{
	struct proxy_url u = good("socks5://127.0.0.1:1080");
	CHECK_INT(u.scheme, PROXY_SOCKS5);
	CHECK_STR(u.host, "127.0.0.1");
	CHECK_INT(u.port, 1080);
	CHECK_INT(u.has_auth, 0);

	u = good("socks5h://proxy.example.com:9050/");
	CHECK_INT(u.scheme, PROXY_SOCKS5H);
	CHECK_STR(u.host, "proxy.example.com");
	CHECK_INT(u.port, 9050);

	u = good("SOCKS5H://Proxy-1.lan_x");
	CHECK_INT(u.scheme, PROXY_SOCKS5H);
	CHECK_STR(u.host, "Proxy-1.lan_x");
	CHECK_INT(u.port, 1080);

	u = good("Socks5://h:1");
	CHECK_INT(u.scheme, PROXY_SOCKS5);
	CHECK_INT(u.port, 1);
	u = good("socks5://h:65535");
	CHECK_INT(u.port, 65535);
	u = good("socks5://h:01080");
	CHECK_INT(u.port, 1080);
}

static void test_ipv6(void)
{
	struct proxy_url u = good("socks5://[::1]:1081");
	CHECK_STR(u.host, "::1");
	CHECK_INT(u.port, 1081);

	u = good("socks5h://[2001:db8::1]");
	CHECK_STR(u.host, "2001:db8::1");
	CHECK_INT(u.port, 1080);

	u = good("socks5://[::ffff:192.0.2.1]/");
	CHECK_STR(u.host, "::ffff:192.0.2.1");
	CHECK_INT(u.port, 1080);
}

static void test_no_scheme(void)
{
	struct proxy_url u = good("localhost:9050");
	CHECK_INT(u.scheme, PROXY_SOCKS5);
	CHECK_STR(u.host, "localhost");
	CHECK_INT(u.port, 9050);

	u = good("proxy");
	CHECK_STR(u.host, "proxy");
	CHECK_INT(u.port, 1080);

	u = good("[::1]:2000");
	CHECK_STR(u.host, "::1");

	/* "user:a" is not a scheme, so "://" inside a password is harmless. */
	u = good("user:a://b@10.0.0.1:1");
	CHECK_INT(u.has_auth, 1);
	CHECK_STR(u.user, "user");
	CHECK_STR(u.pass, "a://b");
	CHECK_STR(u.host, "10.0.0.1");
}

static void test_auth(void)
{
	struct proxy_url u = good("socks5://user:pass@host:1");
	CHECK_INT(u.has_auth, 1);
	CHECK_STR(u.user, "user");
	CHECK_STR(u.pass, "pass");
	CHECK_STR(u.host, "host");

	u = good("socks5://us%40er:p%3Ass%25%2f@host:65535");
	CHECK_STR(u.user, "us@er");
	CHECK_STR(u.pass, "p:ss%/");

	/* Raw '@', ':' and '/' in the password: user info ends at the last '@'. */
	u = good("socks5://user:p@s:s/w@[::1]:2000/");
	CHECK_STR(u.user, "user");
	CHECK_STR(u.pass, "p@s:s/w");
	CHECK_STR(u.host, "::1");
	CHECK_INT(u.port, 2000);

	/* Any byte but NUL, e.g. UTF-8 and '+' (not a space here). */
	u = good("socks5://%C3%A9+:%ff@h");
	CHECK_STR(u.user, "\xc3\xa9+");
	CHECK_STR(u.pass, "\xff");

	/* 255 bytes each, after decoding. */
	char url[2000], name[300];
	memset(name, 'u', 255);
	name[255] = '\0';
	char *p = url + sprintf(url, "socks5://%s:", name);
	for (int i = 0; i < 255; i++)
		p += sprintf(p, "%%41");
	strcpy(p, "@h");
	u = good(url);
	CHECK_INT(strlen(u.user), 255);
	CHECK_INT(strlen(u.pass), 255);
	CHECK_INT(u.pass[0], 'A');

	sprintf(url, "socks5://%su:p@h", name);
	CHECK_BAD(url, "user name longer than 255 bytes");
	sprintf(url, "socks5://u:%sx@h", name);
	CHECK_BAD(url, "password longer than 255 bytes");
}

static void test_errors(void)
{
	CHECK_BAD("https://proxy:3128",
		  "unsupported scheme 'https' (use socks5://, socks5h://, socks4://, socks4a:// or http://)");
	CHECK_BAD("socks://h:1080",
		  "unsupported scheme 'socks' (use socks5://, socks5h://, socks4://, socks4a:// or http://)");
	CHECK_BAD("", "empty proxy URL");
	CHECK_BAD(NULL, "empty proxy URL");
	CHECK_BAD("socks5://", "missing host");
	CHECK_BAD("socks5://:1080", "missing host");
	CHECK_BAD("socks5://u:p@", "missing host");
	CHECK_BAD("socks5:///", "missing host");
	CHECK_BAD("socks5://[]:1080", "missing host");
	CHECK_BAD("socks5://host:99999", "bad port '99999' (must be 1-65535)");
	CHECK_BAD("socks5://host:65536", "bad port '65536' (must be 1-65535)");
	CHECK_BAD("socks5://host:0", "bad port '0' (must be 1-65535)");
	CHECK_BAD("socks5://host:abc", "bad port 'abc' (must be 1-65535)");
	CHECK_BAD("socks5://host:-1", "bad port '-1' (must be 1-65535)");
	CHECK_BAD("socks5://host:80x", "bad port '80x' (must be 1-65535)");
	CHECK_BAD("socks5://host:99999999999999999999999", "bad port '99999999999999999999999' (must be 1-65535)");
	CHECK_BAD("socks5://host:", "missing port after ':'");
	CHECK_BAD("socks5://[::1", "unterminated '[' in IPv6 address");
	CHECK_BAD("socks5://[::1:1080", "unterminated '[' in IPv6 address");
	CHECK_BAD("socks5://[zz::1]:1080", "bad IPv6 address 'zz::1'");
	CHECK_BAD("socks5://[1.2.3.4]", "bad IPv6 address '1.2.3.4'");
	CHECK_BAD("socks5://[fe80::1%eth0]", "bad IPv6 address 'fe80::1%eth0'");
	CHECK_BAD("socks5://::1:1080", "IPv6 address must be in brackets, e.g. socks5://[::1]:1080");
	CHECK_BAD("socks5://[::1]x", "unexpected 'x' after host");
	CHECK_BAD("socks5://[::1]:", "missing port after ':'");
	CHECK_BAD("socks5://host:1080/path",
		  "unexpected '/path' after host and port (only a trailing '/' is allowed)");
	CHECK_BAD("socks5://host//", "unexpected '//' after host and port (only a trailing '/' is allowed)");
	CHECK_BAD("socks5://host?x=1", "unexpected '?x=1' after host and port (only a trailing '/' is allowed)");
	CHECK_BAD("socks5://host#frag", "unexpected '#frag' after host and port (only a trailing '/' is allowed)");
	CHECK_BAD("socks5://user@host", "user name without password (RFC 1929 needs user:password@)");
	CHECK_BAD("socks5://user:@host", "empty password (RFC 1929 needs 1-255 bytes)");
	CHECK_BAD("socks5://:pass@host", "empty user name (RFC 1929 needs 1-255 bytes)");
	CHECK_BAD("socks5://@host", "user name without password (RFC 1929 needs user:password@)");
	CHECK_BAD("socks5://u:%zz@host", "bad percent-encoding in password (use %XX with two hex digits)");
	CHECK_BAD("socks5://u:%4@host", "bad percent-encoding in password (use %XX with two hex digits)");
	CHECK_BAD("socks5://u:x%@host", "bad percent-encoding in password (use %XX with two hex digits)");
	CHECK_BAD("socks5://%g0:p@host", "bad percent-encoding in user name (use %XX with two hex digits)");
	CHECK_BAD("socks5://u:%00@host", "NUL byte (%00) in password");
	CHECK_BAD("socks5://ho st:1", "bad character in host 'ho st'");
	CHECK_BAD("socks5://h%41:1", "bad character in host 'h%41'");
	CHECK_BAD("socks5://1.2.3.999", "bad IPv4 address '1.2.3.999'");
	CHECK_BAD("socks5://1234:80", "bad IPv4 address '1234'");
	CHECK_BAD("socks5://127.1", "bad IPv4 address '127.1'");

	char url[600], host[300];
	memset(host, 'h', 255);
	host[255] = '\0';
	sprintf(url, "socks5://%s:1", host);
	CHECK(good(url).port == 1);
	sprintf(url, "socks5://%sh:1", host);
	CHECK_BAD(url, "host name longer than 255 bytes");

	/* A long all-digits host is quoted like any other piece (64 bytes), so the
	 * message fits any error buffer of 256 bytes whole (the fuzzer found the
	 * message of a 255-digit host cut at 255 bytes in one buffer, not in another). */
	memset(host, '2', 255);
	sprintf(url, "socks5://%s:1", host);
	char want[128];
	snprintf(want, sizeof want, "bad IPv4 address '%.64s'", host);
	CHECK_BAD(url, want);
}

static void test_error_hygiene(void)
{
	struct proxy_url u;

	/* The password never appears in an error text. */
	CHECK(proxy_url_parse("socks5://user:hunter2@[zz]", &u, err, sizeof err) == -1);
	CHECK(strstr(err, "hunter2") == NULL);
	CHECK(proxy_url_parse("socks5://hunter2@h", &u, err, sizeof err) == -1);
	CHECK(strstr(err, "hunter2") == NULL);
	CHECK(proxy_url_parse("socks5://u:hunter2%zz@h", &u, err, sizeof err) == -1);
	CHECK(strstr(err, "hunter2") == NULL);

	/* One line, whatever the input holds. */
	CHECK(proxy_url_parse("socks5://host:\n1", &u, err, sizeof err) == -1);
	CHECK_STR(err, "bad port '?1' (must be 1-65535)");

	/* Quoted input is bounded; err is bounded and terminated. */
	char url[2000];
	memset(url, '9', sizeof url - 1);
	memcpy(url, "socks5://h:", 11);
	url[sizeof url - 1] = '\0';
	CHECK(proxy_url_parse(url, &u, err, sizeof err) == -1);
	CHECK(strlen(err) < 120);
	char tiny[8];
	memset(tiny, 'Z', sizeof tiny);
	CHECK(proxy_url_parse("ftp://x", &u, tiny, sizeof tiny) == -1);
	CHECK_STR(tiny, "unsuppo");
	CHECK(proxy_url_parse("ftp://x", &u, NULL, 0) == -1);
	CHECK(proxy_url_parse("socks5://h", NULL, NULL, 0) == 0);
}

static void test_format_safe(void)
{
	char buf[1000];
	struct proxy_url u = good("socks5://user:secret@host:1080");
	CHECK_STR(proxy_url_format_safe(&u, buf, sizeof buf), "socks5://user:***@host:1080");

	u = good("socks5h://[::1]");
	CHECK_STR(proxy_url_format_safe(&u, buf, sizeof buf), "socks5h://[::1]:1080");

	u = good("socks5://us%40er%3a:p@10.0.0.1:9");
	CHECK_STR(proxy_url_format_safe(&u, buf, sizeof buf), "socks5://us%40er%3A:***@10.0.0.1:9");

	/* Without a password the printout is a URL that parses back to the same thing. */
	u = good("Socks5H://example.org");
	struct proxy_url back = good(proxy_url_format_safe(&u, buf, sizeof buf));
	CHECK_INT(back.scheme, u.scheme);
	CHECK_STR(back.host, u.host);
	CHECK_INT(back.port, u.port);

	/* ...and with one, everything but the password survives. */
	u = good("socks5://%C3%A9%20x:pw@[2001:db8::2]:77");
	back = good(proxy_url_format_safe(&u, buf, sizeof buf));
	CHECK_STR(back.user, u.user);
	CHECK_STR(back.pass, "***");
	CHECK_STR(back.host, "2001:db8::2");
	CHECK_INT(back.port, 77);

	/* The longest user name, every byte escaped, fits when buf is big enough. */
	char url[2000];
	char *p = url + sprintf(url, "socks5://");
	for (int i = 0; i < 255; i++)
		p += sprintf(p, "%%2F");
	strcpy(p, ":p@h");
	u = good(url);
	proxy_url_format_safe(&u, buf, sizeof buf);
	CHECK_INT(strlen(buf), strlen("socks5://") + 255 * 3 + strlen(":***@h:1080"));

	memset(buf, 'Z', sizeof buf);
	u = good("socks5://user:secret@host:1080");
	CHECK(proxy_url_format_safe(&u, buf, 10) == buf);
	CHECK_STR(buf, "socks5://");
	CHECK_INT(buf[10], 'Z');
	buf[0] = 'Z';
	proxy_url_format_safe(&u, buf, 0);
	CHECK_INT(buf[0], 'Z');
}

static void test_other_kinds(void)
{
	char buf[600];
	struct proxy_url u = good("socks4://10.0.0.1:1081");
	CHECK_INT(u.scheme, PROXY_SOCKS4);
	CHECK_INT(u.port, 1081);
	CHECK_INT(u.has_auth, 0);

	u = good("SOCKS4A://proxy.lan");
	CHECK_INT(u.scheme, PROXY_SOCKS4A);
	CHECK_INT(u.port, 1080);

	/* SOCKS4: a user id alone, percent-decoded; printed back as it is (no secret in it). */
	u = good("socks4a://b%40b@h:9");
	CHECK_INT(u.has_auth, 1);
	CHECK_STR(u.user, "b@b");
	CHECK_STR(u.pass, "");
	CHECK_STR(proxy_url_format_safe(&u, buf, sizeof buf), "socks4a://b%40b@h:9");
	CHECK_BAD("socks4://bob:pw@h", "socks4:// takes a user id alone (socks4://USERID@host), no password");
	CHECK_BAD("socks4a://@h", "empty user id (needs 1-255 bytes)");

	/* HTTP: port 80 by default (the scheme's own), user:password for Basic. */
	u = good("http://proxy.example");
	CHECK_INT(u.scheme, PROXY_HTTP);
	CHECK_INT(u.port, 80);
	u = good("Http://alice:s%3Acret@[::1]:3128/");
	CHECK_INT(u.scheme, PROXY_HTTP);
	CHECK_STR(u.user, "alice");
	CHECK_STR(u.pass, "s:cret");
	CHECK_INT(u.port, 3128);
	CHECK_STR(proxy_url_format_safe(&u, buf, sizeof buf), "http://alice:***@[::1]:3128");
	CHECK_BAD("http://alice@h", "user name without password (RFC 1929 needs user:password@)");

	CHECK_STR(proxy_scheme_name(PROXY_SOCKS5), "socks5");
	CHECK_STR(proxy_scheme_name(PROXY_SOCKS5H), "socks5h");
	CHECK_STR(proxy_scheme_name(PROXY_SOCKS4), "socks4");
	CHECK_STR(proxy_scheme_name(PROXY_SOCKS4A), "socks4a");
	CHECK_STR(proxy_scheme_name(PROXY_HTTP), "http");
	CHECK(proxy_url_is_socks5(&(struct proxy_url){ .scheme = PROXY_SOCKS5H }));
	CHECK(!proxy_url_is_socks5(&(struct proxy_url){ .scheme = PROXY_SOCKS4A }));
}

static struct proxy_chain chain;

#define CHECK_CHAIN_BAD(s, want) check_chain_bad((s), (want), __LINE__)

static void check_chain_bad(const char *s, const char *want, int line)
{
	static struct proxy_chain before;
	memset(&chain, 0x55, sizeof chain);
	before = chain;
	strcpy(err, "unset");
	unit_check_long(proxy_chain_parse(s, &chain, err, sizeof err), -1, __FILE__, line, s ? s : "(null)");
	unit_check(memcmp(&chain, &before, sizeof chain) == 0, __FILE__, line, "chain untouched on error");
	unit_check_str(err, want, __FILE__, line, s ? s : "(null)");
}

static void test_chain(void)
{
	char buf[2000];

	/* One URL: the same as proxy_url_parse, errors word for word. */
	CHECK_INT(proxy_chain_parse("socks5://u:p@h:2", &chain, err, sizeof err), 0);
	CHECK_INT(chain.n, 1);
	CHECK_STR(chain.hop[0].pass, "p");
	CHECK_CHAIN_BAD("socks5://h:99999", "bad port '99999' (must be 1-65535)");
	CHECK_CHAIN_BAD("", "empty proxy URL");
	CHECK_CHAIN_BAD(NULL, "empty proxy URL");

	CHECK_INT(proxy_chain_parse("socks5://a:1080, socks4a://b:1081 ,\thttp://u:p@c:3128", &chain, err, sizeof err), 0);
	CHECK_INT(chain.n, 3);
	CHECK_INT(chain.hop[0].scheme, PROXY_SOCKS5);
	CHECK_STR(chain.hop[0].host, "a");
	CHECK_INT(chain.hop[1].scheme, PROXY_SOCKS4A);
	CHECK_INT(chain.hop[1].port, 1081);
	CHECK_INT(chain.hop[2].scheme, PROXY_HTTP);
	CHECK_STR(chain.hop[2].user, "u");
	CHECK_STR(proxy_chain_format_safe(&chain, buf, sizeof buf),
		  "socks5://a:1080,socks4a://b:1081,http://u:***@c:3128");
	/* cut to any size, terminated */
	memset(buf, 'Z', sizeof buf);
	CHECK_STR(proxy_chain_format_safe(&chain, buf, 20), "socks5://a:1080,soc");
	CHECK_INT(buf[20], 'Z');

	/* A comma in a password is %2C; a raw '@' still works, per hop. */
	CHECK_INT(proxy_chain_parse("u:a%2Cb@h1,u:c@d@h2", &chain, err, sizeof err), 0);
	CHECK_STR(chain.hop[0].pass, "a,b");
	CHECK_STR(chain.hop[1].pass, "c@d");
	CHECK_STR(chain.hop[1].host, "h2");

	/* socks4:// then an IPv4 hop is fine; a name or IPv6 hop is not. */
	CHECK_INT(proxy_chain_parse("socks4://a,socks5://10.1.2.3:9", &chain, err, sizeof err), 0);
	CHECK_CHAIN_BAD("socks4://a,socks5://b",
			"hop 1 of 2 is a socks4:// proxy, which cannot reach hop 2 by name (SOCKS4 carries IPv4 "
			"addresses only; use socks4a:// or an IPv4 address)");
	CHECK_CHAIN_BAD("socks5://x,socks4://a,http://[::1]:3",
			"hop 2 of 3 is a socks4:// proxy, which cannot reach hop 3 by an IPv6 address (SOCKS4 "
			"carries IPv4 addresses only; use socks4a:// or an IPv4 address)");

	/* Errors name the hop. */
	CHECK_CHAIN_BAD("socks5://a,socks5://b:0", "hop 2 of 2: bad port '0' (must be 1-65535)");
	CHECK_CHAIN_BAD("socks5://a,,socks5://b", "hop 2 of 3: empty (two commas, or one at an end)");
	CHECK_CHAIN_BAD("socks5://a,", "hop 2 of 2: empty (two commas, or one at an end)");
	CHECK_CHAIN_BAD(" ,a", "hop 1 of 2: empty (two commas, or one at an end)");
	CHECK_CHAIN_BAD("a,ftp://b", "hop 2 of 2: unsupported scheme 'ftp' (use socks5://, socks5h://, socks4://, "
				     "socks4a:// or http://)");
	CHECK_CHAIN_BAD("a,socks5://u:hunter2@[zz]", "hop 2 of 2: bad IPv6 address 'zz'");

	/* Eight hops at most. */
	CHECK_INT(proxy_chain_parse("a,b,c,d,e,f,g,h", &chain, err, sizeof err), 0);
	CHECK_INT(chain.n, 8);
	CHECK_STR(chain.hop[7].host, "h");
	CHECK_CHAIN_BAD("a,b,c,d,e,f,g,h,i", "9 proxies in the chain; at most 8");
	CHECK_CHAIN_BAD(",,,,,,,,,,", "11 proxies in the chain; at most 8");

	/* NULL out: a check only. */
	CHECK_INT(proxy_chain_parse("a,b", NULL, NULL, 0), 0);
	CHECK_INT(proxy_chain_parse("a,b:x", NULL, NULL, 0), -1);
}

static void test_chain_mode_and_len(void)
{
	CHECK_INT(proxy_chain_mode_parse("strict"), PROXY_CHAIN_STRICT);
	CHECK_INT(proxy_chain_mode_parse("failover"), PROXY_CHAIN_FAILOVER);
	CHECK_INT(proxy_chain_mode_parse("random"), PROXY_CHAIN_RANDOM);
	CHECK_INT(proxy_chain_mode_parse("round_robin"), PROXY_CHAIN_ROUND_ROBIN);
	CHECK_INT(proxy_chain_mode_parse("round-robin"), PROXY_CHAIN_ROUND_ROBIN);
	CHECK_INT(proxy_chain_mode_parse("Random"), -1);
	CHECK_INT(proxy_chain_mode_parse("random_chain"), -1);
	CHECK_INT(proxy_chain_mode_parse(""), -1);
	CHECK_INT(proxy_chain_mode_parse(NULL), -1);

	CHECK_INT(PROXY_CHAIN_LEN_DEFAULT, 1); /* proxychains' default chain_len */
	CHECK_INT(proxy_chain_len_parse("1"), 1);
	CHECK_INT(proxy_chain_len_parse("2"), 2);
	CHECK_INT(proxy_chain_len_parse("8"), 8);
	CHECK_INT(proxy_chain_len_parse("08"), 8);
	CHECK_INT(proxy_chain_len_parse("9"), -1);
	CHECK_INT(proxy_chain_len_parse("0"), -1);
	CHECK_INT(proxy_chain_len_parse("-1"), -1);
	CHECK_INT(proxy_chain_len_parse("+2"), -1);
	CHECK_INT(proxy_chain_len_parse(" 2"), -1);
	CHECK_INT(proxy_chain_len_parse("2x"), -1);
	CHECK_INT(proxy_chain_len_parse("99999999999999999999"), -1);
	CHECK_INT(proxy_chain_len_parse(""), -1);
	CHECK_INT(proxy_chain_len_parse(NULL), -1);
}

int main(void)
{
	test_plain();
	test_ipv6();
	test_no_scheme();
	test_auth();
	test_errors();
	test_error_hygiene();
	test_format_safe();
	test_other_kinds();
	test_chain();
	test_chain_mode_and_len();
	return unit_report();
}
