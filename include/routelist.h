/* routelist.h - SOCKSIFY_ROUTE: which proxy (or none) each destination goes through (pure, no I/O). */
#ifndef SOCKSIFY_ROUTELIST_H
#define SOCKSIFY_ROUTELIST_H

#include <stddef.h>

#include "namelist.h"
#include "netlist.h"
#include "proxyurl.h"

struct sockaddr;

#define ROUTELIST_MAX 16

struct route {
	struct netlist nets; /* DESTS: addresses, networks, "*" */
	struct namelist names; /* DESTS: names, "*" */
	int direct; /* PROXY is the word "direct" */
	struct proxy_chain chain; /* else PROXY: a URL or chain, as SOCKSIFY_PROXY */
	char dests[128]; /* DESTS as written, for log lines (no secrets), truncated */
};

struct routelist {
	size_t n;
	struct route r[ROUTELIST_MAX];
};

/* Parses "DESTS=PROXY;DESTS=PROXY..." (routes also separated by newlines; empty
 * ones skipped). Each route is split at its first '='. DESTS: items as in
 * SOCKSIFY_NO_PROXY (addresses, CIDRs, [addr]:port, names, ".name", "*.name",
 * "*"), separated by commas or blanks, at least one. PROXY: "direct" or a proxy
 * URL or chain (proxy_chain_parse). All or nothing: returns 0, or -1 with a
 * one-line reason in err naming the route ("route 2 (10.0.0.0/8): ..."); out is
 * cleared first. */
int routelist_parse(const char *s, struct routelist *out, char *err, size_t errlen);

/* The index of the first route whose DESTS match, or -1: by address (sa, AF_INET or
 * AF_INET6), or by name when name is not NULL (then addresses are not looked at). */
int routelist_match(const struct routelist *l, const struct sockaddr *sa, const char *name);

#endif
