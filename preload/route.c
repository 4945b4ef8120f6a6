/* route.c - SOCKSIFY_ROUTE: per-destination proxies, on top of the pure parser (src/routelist.c).
 *
 * Each proxied route owns a whole struct config, a copy of the main one with its
 * own proxy or chain, so that the hop machine (handshake.c) and everything that
 * takes a config serve a route unchanged. Read once with the settings, then
 * read-only; the storage is untouched (bss) when SOCKSIFY_ROUTE is unset. */
#include "route.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "endpoint.h"
#include "log.h"
#include "routelist.h"

static struct routelist routes;
static struct config route_config[ROUTELIST_MAX];

int route_read_env(struct config *c)
{
	char err[400];
	const char *s = getenv("SOCKSIFY_ROUTE");
	if (!s || !s[strspn(s, " \t\r\n\v\f;")])
		return 0;
	if (routelist_parse(s, &routes, err, sizeof err) < 0) {
		log_error("SOCKSIFY_ROUTE: %s; connections will fail rather than go direct or through another proxy",
			  err);
		return -1;
	}
	for (size_t i = 0; i < routes.n; i++) {
		const struct route *r = &routes.r[i];
		struct config *rc = &route_config[i];
		if (r->direct)
			continue;
		*rc = *c;
		rc->chain = r->chain;
		rc->chain_slot = 1 + (int)i;
		rc->url = r->chain.hop[0];
		proxy_chain_format_safe(&rc->chain, rc->proxy_text, sizeof rc->proxy_text);
		rc->proxy_ok = resolve_proxy(rc) == 0; /* else this route's connections fail closed */
		log_debug("route %zu: %s via %s", i + 1, r->dests, rc->proxy_text);
	}
	c->routes = &routes;
	return 0;
}

const struct config *route_choose(const struct config *c, const struct sockaddr *sa, const char *name, int *index)
{
	*index = c->routes ? routelist_match(c->routes, sa, name) : -1;
	if (*index < 0)
		return c;
	if (c->routes->r[*index].direct)
		return NULL;
	return &route_config[*index];
}

int route_name_is_direct(const struct config *c, const char *name)
{
	int i = routelist_match(c->routes, NULL, name);
	return i >= 0 && c->routes->r[i].direct;
}

int route_is_proxy(const struct config *c, const struct sockaddr *sa, socklen_t len)
{
	for (size_t i = 0; i < c->routes->n; i++) {
		const struct config *rc = &route_config[i];
		if (!c->routes->r[i].direct && rc->proxy_ok &&
		    endpoint_same(sa, len, (const struct sockaddr *)&rc->proxy_addr, rc->proxy_addrlen))
			return 1;
	}
	return 0;
}

const char *route_dests(const struct config *c, int index)
{
	return c->routes->r[index].dests;
}
