/* config.h - the library's settings, read once from the environment. */
#ifndef SOCKSIFY_CONFIG_H
#define SOCKSIFY_CONFIG_H

#include <sys/socket.h>

#include "netlist.h"
#include "proxyurl.h"

#define CONFIG_DEFAULT_TIMEOUT_MS 10000
#define CONFIG_DEFAULT_NO_PROXY "127.0.0.0/8,::1"

struct config {
	int proxy_ok; /* 0: none or malformed; every proxied call fails closed */
	struct proxy_url url;
	struct sockaddr_storage proxy_addr; /* resolved once */
	socklen_t proxy_addrlen;
	char proxy_text[300]; /* for log lines, password hidden */
	int timeout_ms; /* deadline for the whole proxy handshake */
	struct netlist no_proxy; /* destinations that go direct */
};

/* The settings; loaded on first use, then read-only (one owner: config_once). */
const struct config *config_get(void);

/* 1 when a connection to sa must go direct: excluded by SOCKSIFY_NO_PROXY, or the proxy itself. */
int config_is_direct(const struct config *c, const struct sockaddr *sa, socklen_t len);

#endif
