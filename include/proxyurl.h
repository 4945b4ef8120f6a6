/* proxyurl.h - parsing socks5://[user:pass@]host:port URLs (pure, no I/O). */
#ifndef SOCKSIFY_PROXYURL_H
#define SOCKSIFY_PROXYURL_H

#include <stdint.h>
#include <stddef.h>

enum proxy_scheme {
	PROXY_SOCKS5 = 1, /* socks5:// */
	PROXY_SOCKS5H = 2, /* socks5h://: the same here (names always go to the proxy) */
};

struct proxy_url {
	enum proxy_scheme scheme;
	char host[256]; /* a name, an IPv4 literal, or an IPv6 literal without brackets */
	uint16_t port; /* default 1080 when the URL has none */
	int has_auth;
	char user[256], pass[256]; /* percent-decoded, NUL-terminated, 1..255 bytes each */
};

/* Parses s. Returns 0, or -1 with a one-line English reason in err
 * naming the bad part (e.g. "bad port '99999' (must be 1-65535)"). */
int proxy_url_parse(const char *s, struct proxy_url *out, char *err, size_t errlen);

/* Writes the URL with the password replaced by "***" (for logs). */
char *proxy_url_format_safe(const struct proxy_url *u, char *buf, size_t cap);

#endif
