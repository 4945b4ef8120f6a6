/* proxyurl.h - parsing proxy URLs and comma-separated chains of them (pure, no I/O). */
#ifndef SOCKSIFY_PROXYURL_H
#define SOCKSIFY_PROXYURL_H

#include <stdint.h>
#include <stddef.h>

enum proxy_scheme {
	PROXY_SOCKS5 = 1, /* socks5:// */
	PROXY_SOCKS5H = 2, /* socks5h://: the same here (names always go to the proxy) */
	PROXY_SOCKS4 = 3, /* socks4://: IPv4 destinations only */
	PROXY_SOCKS4A = 4, /* socks4a://: IPv4 or a name */
	PROXY_HTTP = 5, /* http://: HTTP CONNECT (RFC 9110 section 9.3.6) */
};

#define PROXY_CHAIN_MAX 8 /* hops in a chain */
#define PROXY_CHAIN_LEN_DEFAULT 1 /* SOCKSIFY_CHAIN_LEN unset: proxychains' chain_len default */

/* SOCKSIFY_CHAIN: how a connection's path is taken from the chain's hops. */
enum proxy_chain_mode {
	PROXY_CHAIN_STRICT, /* every hop, in order; any dead hop fails the connect (default) */
	PROXY_CHAIN_FAILOVER, /* dead hops are left out, in order; at least one must be alive */
	PROXY_CHAIN_RANDOM, /* chain_len hops picked at random, in random order */
	PROXY_CHAIN_ROUND_ROBIN, /* chain_len consecutive hops, each connection starting one further */
};

struct proxy_url {
	enum proxy_scheme scheme;
	char host[256]; /* a name, an IPv4 literal, or an IPv6 literal without brackets */
	uint16_t port; /* default 1080 when the URL has none (80 for http://) */
	int has_auth;
	char user[256], pass[256]; /* percent-decoded, NUL-terminated, 1..255 bytes each;
				    * socks4/socks4a: a user id alone, pass empty */
};

/* A chain: hop[0] is connected to directly, each later hop through the one before. */
struct proxy_chain {
	size_t n; /* 1..PROXY_CHAIN_MAX */
	struct proxy_url hop[PROXY_CHAIN_MAX];
};

/* Parses s. Returns 0, or -1 with a one-line English reason in err
 * naming the bad part (e.g. "bad port '99999' (must be 1-65535)"). */
int proxy_url_parse(const char *s, struct proxy_url *out, char *err, size_t errlen);

/* Writes the URL with the password replaced by "***" (for logs). */
char *proxy_url_format_safe(const struct proxy_url *u, char *buf, size_t cap);

/* Parses "URL[,URL]..." (spaces around the commas allowed; a comma inside
 * credentials is written %2C). A list of one is exactly proxy_url_parse; in a
 * longer one an error starts with "hop N of M: ". Also refused: more than
 * PROXY_CHAIN_MAX hops, and a socks4:// hop followed by a hop given as a name
 * or an IPv6 address (SOCKS4 carries IPv4 addresses only). */
int proxy_chain_parse(const char *s, struct proxy_chain *out, char *err, size_t errlen);

/* The whole chain, hops separated by ',', passwords hidden; truncated to cap. */
char *proxy_chain_format_safe(const struct proxy_chain *c, char *buf, size_t cap);

/* "strict", "failover", "random", "round_robin" (also "round-robin"): the
 * proxy_chain_mode, or -1 for anything else (NULL and "" included). */
int proxy_chain_mode_parse(const char *s);

/* A chain length, "1".."8" (PROXY_CHAIN_MAX) in decimal: the number, or -1. */
int proxy_chain_len_parse(const char *s);

/* "socks5", "socks5h", "socks4", "socks4a", "http". */
const char *proxy_scheme_name(enum proxy_scheme s);

/* 1 for socks5:// and socks5h://. */
int proxy_url_is_socks5(const struct proxy_url *u);

#endif
