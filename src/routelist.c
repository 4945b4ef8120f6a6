/* routelist.c - parsing SOCKSIFY_ROUTE and finding a destination's route (pure, no I/O). */
#include "routelist.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#define ROUTE_SEPARATORS ";\n"
#define DEST_SEPARATORS ", \t\r\v\f" /* as SOCKSIFY_NO_PROXY (its newline separates routes here) */
#define BLANKS " \t\r\v\f"

/* s[0..n) without leading and trailing blanks, into buf (cap bytes); 0 if it does not fit. */
static int copy_trimmed(const char *s, size_t n, char *buf, size_t cap)
{
	while (n && strchr(BLANKS, s[0]) && s[0])
		s++, n--;
	while (n && strchr(BLANKS, s[n - 1]) && s[n - 1])
		n--;
	if (n >= cap)
		return 0;
	memcpy(buf, s, n);
	buf[n] = '\0';
	return 1;
}

/* One DESTS item, the way SOCKSIFY_NO_PROXY takes it: a name pattern or an address entry. */
static int add_dest(struct route *r, const char *item, char *err, size_t errlen)
{
	if (!namelist_is_name(item))
		return netlist_parse(item, &r->nets, err, errlen);
	if (namelist_add(&r->names, item, err, errlen) < 0)
		return -1;
	if (strcmp(item, "*") == 0) /* every name and every address */
		return netlist_parse(item, &r->nets, err, errlen);
	return 0;
}

static int parse_dests(struct route *r, const char *s, char *err, size_t errlen)
{
	char item[300];
	int count = 0;
	while (*s) {
		size_t n = strcspn(s, DEST_SEPARATORS);
		if (n >= sizeof item) {
			snprintf(err, errlen, "destination of %zu bytes is too long", n);
			return -1;
		}
		if (n > 0) {
			memcpy(item, s, n);
			item[n] = '\0';
			if (add_dest(r, item, err, errlen) < 0)
				return -1;
			count++;
		}
		s += n;
		s += strspn(s, DEST_SEPARATORS);
	}
	if (!count) {
		snprintf(err, errlen, "no destinations before '='");
		return -1;
	}
	return 0;
}

/* One route's text (no separators in it, blanks trimmed, not empty). */
static int parse_route(struct route *r, const char *text, char *err, size_t errlen)
{
	char dests[2048], why[200];
	const char *eq = strchr(text, '=');
	if (!eq) {
		snprintf(err, errlen, ": no '=' (a route is DESTS=PROXY)");
		return -1;
	}
	if (!copy_trimmed(text, (size_t)(eq - text), dests, sizeof dests)) {
		snprintf(err, errlen, ": destinations too long");
		return -1;
	}
	size_t k = strlen(dests) < sizeof r->dests ? strlen(dests) : sizeof r->dests - 1;
	memcpy(r->dests, dests, k); /* (truncated: for log lines only) */
	if (parse_dests(r, dests, why, sizeof why) < 0) {
		snprintf(err, errlen, " (%s): %s", r->dests, why);
		return -1;
	}
	const char *p = eq + 1;
	p += strspn(p, BLANKS);
	size_t plen = strlen(p);
	while (plen && strchr(BLANKS, p[plen - 1]))
		plen--;
	if (plen == 6 && strncmp(p, "direct", 6) == 0) {
		r->direct = 1;
		return 0;
	}
	if (plen == 6 && strncasecmp(p, "direct", 6) == 0) {
		snprintf(err, errlen, " (%s): '%.6s': the word is direct, in lower case", r->dests, p);
		return -1;
	}
	if (plen == 0) {
		snprintf(err, errlen, " (%s): no proxy after '=' (a proxy URL or chain, or direct)", r->dests);
		return -1;
	}
	char proxy[8192];
	if (plen >= sizeof proxy) {
		snprintf(err, errlen, " (%s): proxy too long", r->dests);
		return -1;
	}
	memcpy(proxy, p, plen);
	proxy[plen] = '\0';
	if (proxy_chain_parse(proxy, &r->chain, why, sizeof why) < 0) {
		snprintf(err, errlen, " (%s): %s", r->dests, why);
		return -1;
	}
	return 0;
}

int routelist_parse(const char *s, struct routelist *out, char *err, size_t errlen)
{
	char text[8192], why[300];
	size_t number = 0;
	memset(out, 0, sizeof *out);
	while (*s) {
		size_t n = strcspn(s, ROUTE_SEPARATORS);
		if (!copy_trimmed(s, n, text, sizeof text)) {
			snprintf(err, errlen, "route %zu: %zu bytes is too long", number + 1, n);
			goto fail;
		}
		s += n;
		s += strspn(s, ROUTE_SEPARATORS);
		if (!text[0])
			continue;
		number++;
		if (out->n == ROUTELIST_MAX) {
			snprintf(err, errlen, "more than %d routes", ROUTELIST_MAX);
			goto fail;
		}
		if (parse_route(&out->r[out->n], text, why, sizeof why) < 0) {
			snprintf(err, errlen, "route %zu%s", number, why);
			goto fail;
		}
		out->n++;
	}
	return 0;
fail:
	memset(out, 0, sizeof *out);
	return -1;
}

int routelist_match(const struct routelist *l, const struct sockaddr *sa, const char *name)
{
	for (size_t i = 0; i < l->n; i++) {
		if (name ? namelist_match(&l->r[i].names, name) : netlist_match(&l->r[i].nets, sa))
			return (int)i;
	}
	return -1;
}
