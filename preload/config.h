/* config.h - the library's settings, read once from the environment. */
#ifndef SOCKSIFY_CONFIG_H
#define SOCKSIFY_CONFIG_H

#include <sys/socket.h>

#include "namelist.h"
#include "netlist.h"
#include "proxyurl.h"
#include "routelist.h"

#define CONFIG_DEFAULT_TIMEOUT_MS 10000
#define CONFIG_DEFAULT_NO_PROXY "127.0.0.0/8,::1"
#define CONFIG_DEFAULT_FAKE_NET4 "240.0.0.0/4" /* reserved, never a real destination */
#define CONFIG_DEFAULT_FAKE_NET6 "100::/64" /* RFC 6666 discard-only prefix */

enum {
	CONFIG_PIPELINE_OFF, /* greeting, wait, request, wait */
	CONFIG_PIPELINE_ON, /* greeting+request in one segment, always */
	CONFIG_PIPELINE_AUTO, /* pipelined until a proxy stalls on it, then never again (default) */
};

enum { /* SOCKSIFY_CHAIN, as proxyurl.h parses it */
	CONFIG_CHAIN_STRICT = PROXY_CHAIN_STRICT,
	CONFIG_CHAIN_FAILOVER = PROXY_CHAIN_FAILOVER,
	CONFIG_CHAIN_RANDOM = PROXY_CHAIN_RANDOM,
	CONFIG_CHAIN_ROUND_ROBIN = PROXY_CHAIN_ROUND_ROBIN,
};

struct config {
	int proxy_ok; /* 0: none or malformed; every proxied call fails closed */
	struct proxy_url url; /* the first hop (the only one, but for a chain) */
	struct proxy_chain chain; /* SOCKSIFY_PROXY's hops; chain.hop[0] == url */
	int chain_mode; /* SOCKSIFY_CHAIN: CONFIG_CHAIN_* */
	int chain_len; /* SOCKSIFY_CHAIN_LEN: hops per connection, random and round_robin */
	int chain_slot; /* 0: SOCKSIFY_PROXY's chain; 1 + i: route i's (its own dead hops, round_robin turn) */
	int isolate; /* SOCKSIFY_ISOLATE=1: socks5 hops without a login get one per process */
	struct sockaddr_storage proxy_addr; /* the first hop's, resolved once */
	socklen_t proxy_addrlen;
	char proxy_text[1024]; /* for log lines, passwords hidden: the hops, comma-separated */
	int timeout_ms; /* deadline for the whole proxy handshake */
	int pipeline; /* SOCKSIFY_PIPELINE: CONFIG_PIPELINE_* */
	struct netlist no_proxy; /* destinations that go direct */
	struct namelist no_proxy_names; /* names resolved locally (and so connected direct) */
	int dns_remote; /* SOCKSIFY_DNS: 1 remote (default) or resolve, 0 local */
	int dns_resolve; /* SOCKSIFY_DNS=resolve: the proxy resolves names (Tor's RESOLVE), real addresses */
	struct netlist_entry fake4, fake6; /* where fake addresses come from */
	int bind; /* SOCKSIFY_BIND=1: listen() becomes a SOCKS5 BIND (bind.c) */
	const struct routelist *routes; /* SOCKSIFY_ROUTE (route.c), NULL when unset */
};

/* The settings; loaded on first use, then read-only (one owner: config_once). */
const struct config *config_get(void);

/* Fills c (zeroed) from the SOCKSIFY_* variables, logging what is wrong with them;
 * config_get() is this after setting up logging. socksify-supervise, which logs
 * its own way, calls it directly: one parser for the library and the supervisor. */
void config_read_env(struct config *c);

/* Resolves c->url (the first hop), locally, into c->proxy_addr; logs a failure. Returns 0 or -1. */
int resolve_proxy(struct config *c);

/* 1 when name must be resolved by the system resolver: SOCKSIFY_DNS=local, or SOCKSIFY_NO_PROXY names it,
 * or a SOCKSIFY_ROUTE route sends it direct. */
int config_resolves_locally(const struct config *c, const char *name);

/* 1 when a connection to sa must go direct: excluded by SOCKSIFY_NO_PROXY, or the proxy itself
 * (or a route's). */
int config_is_direct(const struct config *c, const struct sockaddr *sa, socklen_t len);

#endif
