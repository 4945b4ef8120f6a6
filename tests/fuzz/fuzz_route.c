/* fuzz_route.c - SOCKSIFY_ROUTE: routelist_parse and routelist_match.
 *
 * Input: 19 bytes for a destination (byte 0 picks IPv4 or IPv6; 16 address
 * bytes; 2 port bytes), then the SOCKSIFY_ROUTE text up to a NUL, then a host
 * name up to the next NUL.
 *
 * Checks: all or nothing (a failure leaves no route and a one-line reason
 * naming a route; a success at most ROUTELIST_MAX routes); each route is
 * direct or has a well-formed chain, and has destinations; a route's dests
 * text is terminated; the match is the first route whose lists match, as a
 * plain loop over netlist_match / namelist_match finds; a password in the
 * proxy part never appears in the reason; parsing is deterministic. */
#include "fuzz.h"
#include "routelist.h"

#include <netinet/in.h>
#include <sys/socket.h>

static int ref_match(const struct routelist *l, const struct sockaddr *sa, const char *name)
{
	for (size_t i = 0; i < l->n; i++)
		if (name ? namelist_match(&l->r[i].names, name) : netlist_match(&l->r[i].nets, sa))
			return (int)i;
	return -1;
}

static int one_line(const char *s, size_t cap)
{
	const char *nul = memchr(s, '\0', cap);
	return nul && nul > s && !memchr(s, '\n', (size_t)(nul - s));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct routelist l, again; /* static: they are large */
	struct sockaddr_storage ss;
	char err[300], err2[300];

	if (size < 19)
		return 0;
	memset(&ss, 0, sizeof ss);
	if (data[0] & 1) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, data + 1, 16);
		s6->sin6_port = (uint16_t)(data[17] << 8 | data[18]);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, data + 1, 4);
		s4->sin_port = (uint16_t)(data[17] << 8 | data[18]);
	}
	char *text = fuzz_cstr(data + 19, size - 19);
	size_t tlen = strlen(text);
	char *name = fuzz_cstr(data + 19 + tlen + (19 + tlen < size), size - 19 - tlen - (19 + tlen < size));

	memset(&l, 0xa5, sizeof l); /* cleared by the parser, whatever was there */
	int rc = routelist_parse(text, &l, err, sizeof err);
	if (rc < 0) {
		FUZZ_CHECK(l.n == 0);
		FUZZ_CHECK(one_line(err, sizeof err));
		FUZZ_CHECK(strncmp(err, "route ", 6) == 0 || strncmp(err, "more than ", 10) == 0);
		/* one route with "u:SECRET@" in its proxy part: the reason never shows SECRET */
		const char *at = strstr(text, "SECRET@"), *eq = strchr(text, '=');
		if (at && eq && at > eq && at[-1] == ':' && !strpbrk(text, ";\n"))
			FUZZ_CHECK(!strstr(err, ":SECRET@"));
	} else {
		FUZZ_CHECK(rc == 0 && l.n <= ROUTELIST_MAX);
		for (size_t i = 0; i < l.n; i++) {
			const struct route *r = &l.r[i];
			FUZZ_CHECK(memchr(r->dests, '\0', sizeof r->dests) != NULL);
			FUZZ_CHECK(r->nets.n + r->names.n + (size_t)r->names.match_all > 0);
			FUZZ_CHECK(r->direct == 0 || r->direct == 1);
			if (!r->direct) {
				FUZZ_CHECK(r->chain.n >= 1 && r->chain.n <= PROXY_CHAIN_MAX);
				for (size_t h = 0; h < r->chain.n; h++)
					FUZZ_CHECK(r->chain.hop[h].port != 0 && r->chain.hop[h].host[0]);
			}
		}
	}
	FUZZ_CHECK(routelist_match(&l, (struct sockaddr *)&ss, NULL) == ref_match(&l, (struct sockaddr *)&ss, NULL));
	FUZZ_CHECK(routelist_match(&l, NULL, name) == ref_match(&l, NULL, name));

	FUZZ_CHECK(routelist_parse(text, &again, err2, sizeof err2) == rc);
	FUZZ_CHECK(again.n == l.n);
	if (rc < 0)
		FUZZ_CHECK(strcmp(err, err2) == 0);
	free(text);
	free(name);
	return 0;
}
