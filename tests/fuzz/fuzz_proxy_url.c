/* fuzz_proxy_url.c - SOCKSIFY_PROXY URLs: proxy_url_parse and proxy_url_format_safe,
 * and chains of them: proxy_chain_parse and proxy_chain_format_safe.
 *
 * The input, up to its first NUL, is the URL. Checks: the result does not
 * depend on the error buffer's size; an error is one NUL-terminated line
 * within any errlen, never quotes the user name or password, and leaves out
 * untouched; a parsed URL has sane fields; its password-free printout fits
 * any buffer (truncated, terminated, never past cap) and parses back to the
 * same URL with "***" as the password. A chain: without a comma the very same
 * verdict and error as one URL; else 1..PROXY_CHAIN_MAX hops, each as sane as
 * one URL, an error one line naming the hop, and the printout parsing back to
 * as many hops of the same kinds, hosts and ports. */
#include "fuzz.h"
#include "proxyurl.h"

#include <arpa/inet.h>

/* Where the user info lies in url, as proxy_url_parse finds it: after "scheme://", before the last '@'. */
static int find_userinfo(const char *url, size_t *start, size_t *end)
{
	const char *sep = strstr(url, "://");
	const char *at = strrchr(url, '@');
	size_t s = 0;

	if (sep && sep > url && ((url[0] >= 'a' && url[0] <= 'z') || (url[0] >= 'A' && url[0] <= 'Z'))) {
		size_t n = (size_t)(sep - url);
		if (strspn(url, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-.") == n)
			s = n + 3;
	}
	if (!at || (size_t)(at - url) < s)
		return 0;
	*start = s;
	*end = (size_t)(at - url);
	return 1;
}

/* An error is one line, and never quotes the user info: the same URL with
 * the user info's letters in the other case and its non-ASCII bytes changed
 * (which parses the same way) must give the very same verdict and text. */
static void check_error(const char *url, int r, const char *err, size_t errlen)
{
	size_t start, end;
	char err2[256];

	FUZZ_CHECK(fuzz_is_one_line(err, errlen));
	FUZZ_CHECK(err[0] != '\0');
	if (!find_userinfo(url, &start, &end))
		return;
	char *other = fuzz_cstr(url, strlen(url));
	for (size_t i = start; i < end; i++) {
		unsigned char c = (unsigned char)other[i];
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
			other[i] = (char)(c ^ 0x20);
		else if (c >= 0x80)
			other[i] = (char)(c ^ 0x01);
	}
	FUZZ_CHECK(proxy_url_parse(other, NULL, err2, sizeof err2) == r);
	FUZZ_CHECK(strcmp(err, err2) == 0);
	free(other);
}

static void check_fields(const struct proxy_url *u)
{
	struct in6_addr a6;

	FUZZ_CHECK(u->scheme >= PROXY_SOCKS5 && u->scheme <= PROXY_HTTP);
	size_t hlen = strnlen(u->host, sizeof u->host);
	FUZZ_CHECK(hlen >= 1 && hlen < sizeof u->host);
	if (strchr(u->host, ':'))
		FUZZ_CHECK(inet_pton(AF_INET6, u->host, &a6) == 1);
	else
		FUZZ_CHECK(strspn(u->host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._") ==
			   hlen);
	FUZZ_CHECK(u->port >= 1);
	size_t ulen = strnlen(u->user, sizeof u->user), plen = strnlen(u->pass, sizeof u->pass);
	FUZZ_CHECK(ulen < sizeof u->user && plen < sizeof u->pass);
	if (u->has_auth && (u->scheme == PROXY_SOCKS4 || u->scheme == PROXY_SOCKS4A))
		FUZZ_CHECK(ulen >= 1 && plen == 0); /* a user id alone */
	else if (u->has_auth)
		FUZZ_CHECK(ulen >= 1 && plen >= 1);
	else
		FUZZ_CHECK(ulen == 0 && plen == 0);
}

static void check_format(const struct proxy_url *u)
{
	static char full[2048];
	struct proxy_url back;
	char err[256];

	FUZZ_CHECK(proxy_url_format_safe(u, full, sizeof full) == full);
	size_t n = strlen(full);
	FUZZ_CHECK(n < sizeof full - 1); /* the longest printout fits with room to spare */
	FUZZ_CHECK(proxy_url_parse(full, &back, err, sizeof err) == 0);
	FUZZ_CHECK(back.scheme == u->scheme && back.port == u->port && back.has_auth == u->has_auth);
	FUZZ_CHECK(strcmp(back.host, u->host) == 0);
	if (u->has_auth)
		FUZZ_CHECK(strcmp(back.user, u->user) == 0 && strcmp(back.pass, u->pass[0] ? "***" : "") == 0);

	/* Any smaller buffer gets a terminated prefix, and nothing past cap is written. */
	for (size_t cap = 0; cap <= n + 1; cap += 1 + cap / 4) {
		char *buf = (char *)fuzz_alloc(cap);
		FUZZ_CHECK(proxy_url_format_safe(u, buf, cap) == buf);
		if (cap > 0) {
			size_t got = strnlen(buf, cap);
			FUZZ_CHECK(got == (n < cap ? n : cap - 1));
			FUZZ_CHECK(memcmp(buf, full, got) == 0);
		}
		free(buf);
	}
}

static void check_chain(const char *s, int one_r, const char *one_err)
{
	static struct proxy_chain c, back, canary;
	static char full[PROXY_CHAIN_MAX * 1100];
	char err[300], err2[300];

	memset(&c, 0x5a, sizeof c);
	canary = c;
	int r = proxy_chain_parse(s, &c, err, sizeof err);
	FUZZ_CHECK(r == 0 || r == -1);
	FUZZ_CHECK(proxy_chain_parse(s, NULL, NULL, 0) == r);
	if (!strchr(s, ',')) { /* one URL: exactly proxy_url_parse */
		FUZZ_CHECK(r == one_r);
		if (r < 0)
			FUZZ_CHECK(strcmp(err, one_err) == 0);
	}
	if (r < 0) {
		FUZZ_CHECK(memcmp(&c, &canary, sizeof c) == 0);
		FUZZ_CHECK(fuzz_is_one_line(err, sizeof err) && err[0]);
		FUZZ_CHECK(proxy_chain_parse(s, NULL, err2, sizeof err2) == r && strcmp(err, err2) == 0);
		return;
	}
	FUZZ_CHECK(c.n >= 1 && c.n <= PROXY_CHAIN_MAX);
	for (size_t i = 0; i < c.n; i++) {
		check_fields(&c.hop[i]);
		if (i + 1 < c.n && c.hop[i].scheme == PROXY_SOCKS4) /* SOCKS4 reaches IPv4 addresses only */
			FUZZ_CHECK(strspn(c.hop[i + 1].host, "0123456789.") == strlen(c.hop[i + 1].host));
	}
	FUZZ_CHECK(proxy_chain_format_safe(&c, full, sizeof full) == full);
	FUZZ_CHECK(strlen(full) < sizeof full - 1);
	FUZZ_CHECK(proxy_chain_parse(full, &back, err, sizeof err) == 0);
	FUZZ_CHECK(back.n == c.n);
	for (size_t i = 0; i < c.n; i++)
		FUZZ_CHECK(back.hop[i].scheme == c.hop[i].scheme && back.hop[i].port == c.hop[i].port &&
			   strcmp(back.hop[i].host, c.hop[i].host) == 0 && back.hop[i].has_auth == c.hop[i].has_auth);
	/* any buffer gets a terminated prefix of the whole */
	size_t n = strlen(full);
	for (size_t cap = 0; cap <= n + 1; cap += 1 + cap / 3) {
		char *buf = (char *)fuzz_alloc(cap);
		FUZZ_CHECK(proxy_chain_format_safe(&c, buf, cap) == buf);
		if (cap > 0) {
			size_t got = strnlen(buf, cap);
			FUZZ_CHECK(got < cap && memcmp(buf, full, got) == 0);
		}
		free(buf);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *url = fuzz_cstr(data, size);
	struct proxy_url u, canary;
	char err[256];

	memset(&u, 0xa5, sizeof u);
	canary = u;
	int r = proxy_url_parse(url, &u, err, sizeof err);
	FUZZ_CHECK(r == 0 || r == -1);
	FUZZ_CHECK(proxy_url_parse(url, NULL, NULL, 0) == r);
	/* A small error buffer: the same verdict, and a terminated message inside it. */
	size_t errlen = size % 17;
	char *small = (char *)fuzz_alloc(errlen);
	FUZZ_CHECK(proxy_url_parse(url, NULL, small, errlen) == r);
	if (r < 0 && errlen > 0)
		FUZZ_CHECK(fuzz_is_one_line(small, errlen));
	free(small);

	if (r < 0) {
		FUZZ_CHECK(memcmp(&u, &canary, sizeof u) == 0);
		check_error(url, r, err, sizeof err);
	} else {
		check_fields(&u);
		check_format(&u);
	}
	check_chain(url, r, err);
	free(url);
	return 0;
}
