/* namelist.h - host name patterns such as the names in SOCKSIFY_NO_PROXY (pure, no I/O). */
#ifndef SOCKSIFY_NAMELIST_H
#define SOCKSIFY_NAMELIST_H

#include <stddef.h>

#define NAMELIST_MAX 64

struct namelist {
	size_t n;
	struct {
		char suffix[254]; /* lower case, no leading or trailing dot */
		int subdomains_only; /* ".example.com": subdomains, not the domain itself */
	} e[NAMELIST_MAX];
	int match_all; /* "*" */
};

/* 1 if item is a host name pattern (a name, ".name", "*.name" or "*"), not an address. */
int namelist_is_name(const char *item);

/* Adds one pattern, curl NO_PROXY style: "example.com" and "*.example.com" match
 * example.com and every subdomain; ".example.com" only subdomains; "*" everything.
 * Returns 0, or -1 with a one-line reason in err. */
int namelist_add(struct namelist *l, const char *item, char *err, size_t errlen);

/* 1 when name (any case, trailing dot ignored) matches a pattern. */
int namelist_match(const struct namelist *l, const char *name);

#endif
