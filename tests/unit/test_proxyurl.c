/* test_proxyurl.c - socks5:// URL parsing, error texts, and the password-free printout. */
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
	CHECK_BAD("http://proxy:3128", "unsupported scheme 'http' (use socks5:// or socks5h://)");
	CHECK_BAD("socks4://h:1080", "unsupported scheme 'socks4' (use socks5:// or socks5h://)");
	CHECK_BAD("socks4a://h", "unsupported scheme 'socks4a' (use socks5:// or socks5h://)");
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
	CHECK(proxy_url_parse("http://x", &u, tiny, sizeof tiny) == -1);
	CHECK_STR(tiny, "unsuppo");
	CHECK(proxy_url_parse("http://x", &u, NULL, 0) == -1);
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

int main(void)
{
	test_plain();
	test_ipv6();
	test_no_scheme();
	test_auth();
	test_errors();
	test_error_hygiene();
	test_format_safe();
	return unit_report();
}
