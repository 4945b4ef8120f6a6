/* proxyurl.c - socks5://[user:pass@]host[:port][/] URLs (also socks5h, socks4, socks4a, http),
 * and comma-separated chains of them.
 *
 * Decided once:
 *  - no scheme ("host:port", as proxychains and curl users type it) means socks5://;
 *  - the port defaults to 1080, or 80 for http:// (the scheme's own);
 *  - socks4/socks4a take a user id alone (USER@host, sent as the SOCKS4 USERID);
 *    socks5 and http take user:password (RFC 1929; HTTP Basic);
 *  - user info ends at the last '@', so a raw '@', ':' or '/' in a password
 *    still works; the user name ends at the first ':' (write %3A in a name);
 *  - error texts never quote the user info, so passwords stay out of logs.
 */
#include "proxyurl.h"

#include <arpa/inet.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "parse_error.h"

#define PROXY_DEFAULT_PORT 1080
#define HTTP_DEFAULT_PORT 80
#define QUOTE_MAX 64 /* longest piece of the input quoted in an error */


static int quote_len(size_t n)
{
	return n > QUOTE_MAX ? QUOTE_MAX : (int)n;
}

static int is_scheme_char(char c, int first)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
		return 1;
	return !first && ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.');
}

/* Length of the scheme before "://", or 0 when s does not start with one. */
static size_t scheme_len(const char *s)
{
	size_t n = 0;

	while (is_scheme_char(s[n], n == 0))
		n++;
	return n > 0 && strncmp(s + n, "://", 3) == 0 ? n : 0;
}

static int parse_scheme(const char **s, enum proxy_scheme *scheme, char *err, size_t errlen)
{
	size_t n = scheme_len(*s);

	if (n == 0) {
		*scheme = PROXY_SOCKS5;
		return 0;
	}
	if (n == 6 && strncasecmp(*s, "socks5", 6) == 0)
		*scheme = PROXY_SOCKS5;
	else if (n == 7 && strncasecmp(*s, "socks5h", 7) == 0)
		*scheme = PROXY_SOCKS5H;
	else if (n == 6 && strncasecmp(*s, "socks4", 6) == 0)
		*scheme = PROXY_SOCKS4;
	else if (n == 7 && strncasecmp(*s, "socks4a", 7) == 0)
		*scheme = PROXY_SOCKS4A;
	else if (n == 4 && strncasecmp(*s, "http", 4) == 0)
		*scheme = PROXY_HTTP;
	else
		return parse_error(err, errlen,
				 "unsupported scheme '%.*s' (use socks5://, socks5h://, socks4://, socks4a:// or http://)",
				 quote_len(n), *s);
	*s += n + 3;
	return 0;
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Percent-decodes s[0..n) into out[256]; what names the field in errors. */
static int percent_decode(const char *s, size_t n, char *out, const char *what, char *err, size_t errlen)
{
	size_t o = 0;

	if (n == 0)
		return parse_error(err, errlen, "empty %s (%s 1-255 bytes)", what,
				 strcmp(what, "user id") == 0 ? "needs" : "RFC 1929 needs");
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c == '%') {
			int hi = i + 2 < n ? hex_value(s[i + 1]) : -1;
			int lo = hi >= 0 ? hex_value(s[i + 2]) : -1;
			if (lo < 0)
				return parse_error(err, errlen, "bad percent-encoding in %s (use %%XX with two hex digits)",
						 what);
			c = (char)(hi << 4 | lo);
			if (c == '\0')
				return parse_error(err, errlen, "NUL byte (%%00) in %s", what);
			i += 2;
		}
		if (o == 255)
			return parse_error(err, errlen, "%s longer than 255 bytes", what);
		out[o++] = c;
	}
	out[o] = '\0';
	return 0;
}

/* user:pass, both required by RFC 1929; a SOCKS4 user id alone. */
static int parse_userinfo(const char *s, size_t n, struct proxy_url *u, char *err, size_t errlen)
{
	const char *colon = memchr(s, ':', n);

	if (u->scheme == PROXY_SOCKS4 || u->scheme == PROXY_SOCKS4A) {
		if (colon)
			return parse_error(err, errlen, "%s:// takes a user id alone (%s://USERID@host), no password",
					 proxy_scheme_name(u->scheme), proxy_scheme_name(u->scheme));
		if (percent_decode(s, n, u->user, "user id", err, errlen) < 0)
			return -1;
		u->has_auth = 1;
		return 0;
	}
	if (!colon)
		return parse_error(err, errlen, "user name without password (RFC 1929 needs user:password@)");
	if (percent_decode(s, (size_t)(colon - s), u->user, "user name", err, errlen) < 0)
		return -1;
	if (percent_decode(colon + 1, n - (size_t)(colon - s) - 1, u->pass, "password", err, errlen) < 0)
		return -1;
	u->has_auth = 1;
	return 0;
}

static int parse_port(const char *s, size_t n, uint16_t *port, char *err, size_t errlen)
{
	unsigned long v = 0;

	if (n == 0)
		return parse_error(err, errlen, "missing port after ':'");
	for (size_t i = 0; i < n && v <= 65535; i++) {
		if (s[i] < '0' || s[i] > '9') {
			v = 0;
			break;
		}
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v < 1 || v > 65535)
		return parse_error(err, errlen, "bad port '%.*s' (must be 1-65535)", quote_len(n), s);
	*port = (uint16_t)v;
	return 0;
}

static int is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
	       c == '.' || c == '_';
}

/* [v6] with brackets stripped into host; returns the length used from s. */
static ssize_t parse_bracket_host(const char *s, size_t n, char *host, char *err, size_t errlen)
{
	const char *close = memchr(s, ']', n);
	struct in6_addr a6;

	if (!close)
		return parse_error(err, errlen, "unterminated '[' in IPv6 address");
	size_t len = (size_t)(close - s) - 1;
	if (len == 0)
		return parse_error(err, errlen, "missing host");
	if (len >= INET6_ADDRSTRLEN)
		return parse_error(err, errlen, "bad IPv6 address '%.*s'", quote_len(len), s + 1);
	memcpy(host, s + 1, len);
	host[len] = '\0';
	if (inet_pton(AF_INET6, host, &a6) != 1)
		return parse_error(err, errlen, "bad IPv6 address '%s'", host);
	return (ssize_t)len + 2;
}

/* A name or an IPv4 literal, up to ':' or the end. */
static ssize_t parse_plain_host(const char *s, size_t n, char *host, char *err, size_t errlen)
{
	const char *colon = memchr(s, ':', n);
	size_t len = colon ? (size_t)(colon - s) : n;
	int only_digits_and_dots = 1;
	struct in_addr a4;

	if (colon && memchr(colon + 1, ':', n - len - 1))
		return parse_error(err, errlen, "IPv6 address must be in brackets, e.g. socks5://[::1]:1080");
	if (len == 0)
		return parse_error(err, errlen, "missing host");
	if (len > 255)
		return parse_error(err, errlen, "host name longer than 255 bytes");
	for (size_t i = 0; i < len; i++) {
		if (!is_name_char(s[i]))
			return parse_error(err, errlen, "bad character in host '%.*s'", quote_len(len), s);
		if (s[i] != '.' && (s[i] < '0' || s[i] > '9'))
			only_digits_and_dots = 0;
	}
	memcpy(host, s, len);
	host[len] = '\0';
	/* "1.2.3.999" or "1234" would be half-parsed by inet_aton as a number; refuse. */
	if (only_digits_and_dots && inet_pton(AF_INET, host, &a4) != 1)
		return parse_error(err, errlen, "bad IPv4 address '%.*s'", quote_len(len), host);
	return (ssize_t)len;
}

/* host[:port] with nothing after it. */
static int parse_hostport(const char *s, size_t n, struct proxy_url *u, char *err, size_t errlen)
{
	ssize_t used;

	if (n > 0 && s[0] == '[')
		used = parse_bracket_host(s, n, u->host, err, errlen);
	else
		used = parse_plain_host(s, n, u->host, err, errlen);
	if (used < 0)
		return -1;
	s += used;
	n -= (size_t)used;
	u->port = u->scheme == PROXY_HTTP ? HTTP_DEFAULT_PORT : PROXY_DEFAULT_PORT;
	if (n == 0)
		return 0;
	if (s[0] != ':')
		return parse_error(err, errlen, "unexpected '%.*s' after host", quote_len(n), s);
	return parse_port(s + 1, n - 1, &u->port, err, errlen);
}

int proxy_url_parse(const char *s, struct proxy_url *out, char *err, size_t errlen)
{
	struct proxy_url u;

	memset(&u, 0, sizeof u);
	if (!s || !*s)
		return parse_error(err, errlen, "empty proxy URL");
	if (parse_scheme(&s, &u.scheme, err, errlen) < 0)
		return -1;

	const char *at = strrchr(s, '@');
	if (at) {
		if (parse_userinfo(s, (size_t)(at - s), &u, err, errlen) < 0)
			return -1;
		s = at + 1;
	}

	size_t n = strcspn(s, "/?#");
	if (s[n] != '\0' && strcmp(s + n, "/") != 0)
		return parse_error(err, errlen, "unexpected '%.*s' after host and port (only a trailing '/' is allowed)",
				 quote_len(strlen(s + n)), s + n);
	if (parse_hostport(s, n, &u, err, errlen) < 0)
		return -1;
	if (out)
		*out = u;
	return 0;
}

/* Percent-encodes everything but RFC 3986 unreserved characters, so the output parses back. */
static void percent_encode(const char *s, char *out, size_t cap)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t o = 0;

	for (; *s && o + 3 < cap; s++) {
		unsigned char c = (unsigned char)*s;
		if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
		    c == '.' || c == '_' || c == '~') {
			out[o++] = (char)c;
		} else {
			out[o++] = '%';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		}
	}
	out[o] = '\0';
}

char *proxy_url_format_safe(const struct proxy_url *u, char *buf, size_t cap)
{
	char user[3 * 255 + 1];
	const char *scheme;
	int v6;

	if (!buf || cap == 0)
		return buf;
	if (!u) {
		snprintf(buf, cap, "(none)");
		return buf;
	}
	scheme = proxy_scheme_name(u->scheme);
	v6 = strchr(u->host, ':') != NULL;
	if (u->has_auth)
		percent_encode(u->user, user, sizeof user);
	snprintf(buf, cap, "%s://%s%s%s%s%s:%u", scheme, u->has_auth ? user : "",
		 !u->has_auth ? "" : u->pass[0] ? ":***@" : "@", v6 ? "[" : "", u->host, v6 ? "]" : "", u->port);
	return buf;
}

const char *proxy_scheme_name(enum proxy_scheme s)
{
	switch (s) {
	case PROXY_SOCKS5H:
		return "socks5h";
	case PROXY_SOCKS4:
		return "socks4";
	case PROXY_SOCKS4A:
		return "socks4a";
	case PROXY_HTTP:
		return "http";
	default:
		return "socks5";
	}
}

int proxy_url_is_socks5(const struct proxy_url *u)
{
	return u->scheme == PROXY_SOCKS5 || u->scheme == PROXY_SOCKS5H;
}

/* A SOCKS4 request carries an IPv4 address: the hop after a socks4:// one must be given as one. */
static int socks4_reaches(const struct proxy_url *next)
{
	struct in_addr a4;
	return inet_pton(AF_INET, next->host, &a4) == 1;
}

int proxy_chain_parse(const char *s, struct proxy_chain *out, char *err, size_t errlen)
{
	struct proxy_chain c;
	char item[2048], why[256];
	size_t total = 1;

	if (!s || !*s)
		return parse_error(err, errlen, "empty proxy URL");
	for (const char *p = s; *p; p++)
		total += *p == ',';
	if (total == 1) { /* one URL: exactly proxy_url_parse */
		memset(&c, 0, sizeof c);
		if (proxy_url_parse(s, &c.hop[0], err, errlen) < 0)
			return -1;
		c.n = 1;
		if (out)
			*out = c;
		return 0;
	}
	if (total > PROXY_CHAIN_MAX)
		return parse_error(err, errlen, "%zu proxies in the chain; at most %d", total, PROXY_CHAIN_MAX);
	memset(&c, 0, sizeof c);
	for (;;) {
		size_t n = strcspn(s, ",");
		const char *b = s, *e = s + n;
		while (b < e && (*b == ' ' || *b == '\t'))
			b++;
		while (e > b && (e[-1] == ' ' || e[-1] == '\t'))
			e--;
		if (b == e)
			return parse_error(err, errlen, "hop %zu of %zu: empty (two commas, or one at an end)", c.n + 1,
					 total);
		if ((size_t)(e - b) >= sizeof item)
			return parse_error(err, errlen, "hop %zu of %zu: URL longer than %zu bytes", c.n + 1, total,
					 sizeof item - 1);
		memcpy(item, b, (size_t)(e - b));
		item[e - b] = '\0';
		if (proxy_url_parse(item, &c.hop[c.n], why, sizeof why) < 0)
			return parse_error(err, errlen, "hop %zu of %zu: %s", c.n + 1, total, why);
		c.n++;
		if (!s[n])
			break;
		s += n + 1;
	}
	for (size_t i = 0; i + 1 < c.n; i++)
		if (c.hop[i].scheme == PROXY_SOCKS4 && !socks4_reaches(&c.hop[i + 1]))
			return parse_error(err, errlen,
					 "hop %zu of %zu is a socks4:// proxy, which cannot reach hop %zu by %s "
					 "(SOCKS4 carries IPv4 addresses only; use socks4a:// or an IPv4 address)",
					 i + 1, c.n, i + 2, strchr(c.hop[i + 1].host, ':') ? "an IPv6 address" : "name");
	if (out)
		*out = c;
	return 0;
}

char *proxy_chain_format_safe(const struct proxy_chain *c, char *buf, size_t cap)
{
	char one[1100];
	size_t off = 0;

	if (!buf || cap == 0)
		return buf;
	buf[0] = '\0';
	for (size_t i = 0; c && i < c->n && off + 1 < cap; i++) {
		proxy_url_format_safe(&c->hop[i], one, sizeof one);
		int w = snprintf(buf + off, cap - off, "%s%s", i ? "," : "", one);
		if (w < 0)
			break;
		off += (size_t)w < cap - off ? (size_t)w : cap - off - 1;
	}
	if (!c)
		snprintf(buf, cap, "(none)");
	return buf;
}

int proxy_chain_mode_parse(const char *s)
{
	static const char *const names[] = { "strict", "failover", "random", "round_robin" };
	if (!s)
		return -1;
	if (strcmp(s, "round-robin") == 0)
		return PROXY_CHAIN_ROUND_ROBIN;
	for (int i = 0; i < (int)(sizeof names / sizeof names[0]); i++)
		if (strcmp(s, names[i]) == 0)
			return i;
	return -1;
}

int proxy_chain_len_parse(const char *s)
{
	int n = 0;
	if (!s || !*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || n > PROXY_CHAIN_MAX)
			return -1;
		n = n * 10 + (*s - '0');
	}
	return n >= 1 && n <= PROXY_CHAIN_MAX ? n : -1;
}
