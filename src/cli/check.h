/* check.h - socksify --check: probe the proxy and print what it supports. */
#ifndef SOCKSIFY_CHECK_H
#define SOCKSIFY_CHECK_H

#include "proxyurl.h"

/* Parses "HOST:PORT" or "[IPv6]:PORT" (pure). Returns 0, or -1 if malformed. */
int check_parse_target(const char *s, char *host, size_t hostcap, unsigned *port);

/* Probes the proxy (only it is ever sent anything), one line per finding on stdout.
 * target: "HOST:PORT" for the CONNECT by name, or NULL for localhost:<proxy port>.
 * Returns the exit status: 0 usable for TCP, 1 not, 2 bad target. */
int check_proxy(const struct proxy_url *url, const char *target, double timeout_secs);

/* --check for SOCKSIFY_PROXY as a whole: a chain's first hop only (said on a line
 * of its own), probed as above if it is socks5://, else only whether it is reachable. */
int check_chain(const struct proxy_chain *chain, const char *target, double timeout_secs);

#endif
