/* namelist.c - host name patterns (the names in SOCKSIFY_NO_PROXY), curl NO_PROXY style.
 *
 * Pattern forms: example.com  *.example.com  .example.com  *
 * "example.com" and "*.example.com" match the domain and every name under it;
 * ".example.com" only names under it; a match starts at a label boundary, so
 * none of them matches "badexample.com". One trailing dot is ignored on
 * patterns and names, and case is ASCII-folded (the program's locale must not
 * matter). Addresses, CIDRs and the netlist keywords "localhost[:port]" and
 * "*:port" are not names: netlist handles them.
 */
#include "namelist.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "parse_error.h"

#define NAME_MAX_LEN 253
#define LABEL_MAX_LEN 63
#define QUOTE_MAX 80 /* longest piece of the input quoted in an error */


static char ascii_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static int is_label_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

static size_t strip_trailing_dot(const char *s, size_t n)
{
	return n > 0 && s[n - 1] == '.' ? n - 1 : n;
}

/* name[0..n) ends in suffix, case folded; suffix is already lower case. */
static int ends_with(const char *name, size_t n, const char *suffix, size_t slen)
{
	if (slen > n)
		return 0;
	for (size_t i = 0; i < slen; i++)
		if (ascii_lower(name[n - slen + i]) != suffix[i])
			return 0;
	return 1;
}

/* An address or CIDR, with or without a port: "[v6]...", a bare v6 (two
 * colons), anything with a '/', or a host part whose last label is all digits
 * (1.2.3.4, 1.2.3, 8080): no top-level domain is numeric (RFC 3696 2). */
static int looks_like_address(const char *item)
{
	const char *colon = strchr(item, ':');
	size_t hostlen = colon ? (size_t)(colon - item) : strlen(item);
	size_t end = strip_trailing_dot(item, hostlen), start = end;

	if (item[0] == '[' || strchr(item, '/') || (colon && strchr(colon + 1, ':')))
		return 1;
	while (start > 0 && item[start - 1] != '.')
		start--;
	return start < end && strspn(item + start, "0123456789") >= end - start;
}

/* "localhost[:port]" and "*:port" are netlist keywords; a bare "*" is ours. */
static int is_netlist_keyword(const char *item)
{
	const char *colon = strchr(item, ':');
	size_t hostlen = colon ? (size_t)(colon - item) : strlen(item);

	if (hostlen == 9 && ends_with(item, hostlen, "localhost", 9))
		return 1;
	return colon && hostlen == 1 && item[0] == '*';
}

int namelist_is_name(const char *item)
{
	if (!item || !*item)
		return 0;
	return !looks_like_address(item) && !is_netlist_keyword(item);
}

/* Checks labels of name[0..n) and writes them lower-cased into out (n+1 bytes). */
static int copy_name(const char *name, size_t n, char *out, const char *quoted, char *err, size_t errlen)
{
	size_t label = 0;

	if (n == 0)
		return parse_error(err, errlen, "bad name '%s' (empty)", quoted);
	if (n > NAME_MAX_LEN)
		return parse_error(err, errlen, "bad name '%s' (longer than %d characters)", quoted, NAME_MAX_LEN);
	for (size_t i = 0; i < n; i++) {
		if (name[i] == '.') {
			if (label == 0)
				return parse_error(err, errlen, "bad name '%s' (empty label)", quoted);
			label = 0;
		} else if (!is_label_char(name[i])) {
			return parse_error(err, errlen, "bad name '%s' (character '%c' is not a letter, digit, '-' or '_')",
					  quoted, name[i]);
		} else if (++label > LABEL_MAX_LEN) {
			return parse_error(err, errlen, "bad name '%s' (label longer than %d characters)", quoted,
					  LABEL_MAX_LEN);
		}
		out[i] = ascii_lower(name[i]);
	}
	if (label == 0)
		return parse_error(err, errlen, "bad name '%s' (empty label)", quoted);
	out[n] = '\0';
	return 0;
}

int namelist_add(struct namelist *l, const char *item, char *err, size_t errlen)
{
	char quoted[QUOTE_MAX + 4];
	const char *name;
	int subdomains_only = 0;

	if (!l)
		return parse_error(err, errlen, "no list to fill");
	if (l->n > NAMELIST_MAX)
		return parse_error(err, errlen, "list not initialised");
	if (!item)
		item = "";
	size_t len = strlen(item);
	snprintf(quoted, sizeof quoted, "%.*s%s", (int)(len < QUOTE_MAX ? len : QUOTE_MAX), item,
		 len <= QUOTE_MAX ? "" : "...");
	if (looks_like_address(item))
		return parse_error(err, errlen, "bad name '%s' (an address, not a host name)", quoted);
	if (strchr(item, ':'))
		return parse_error(err, errlen, "ports are not supported on names: '%s'", quoted);
	if (strcmp(item, "*") == 0) {
		l->match_all = 1;
		return 0;
	}
	if (item[0] == '*' && item[1] == '.') {
		name = item + 2;
	} else if (item[0] == '.') {
		name = item + 1;
		subdomains_only = 1;
	} else {
		name = item;
	}
	if (l->n >= NAMELIST_MAX)
		return parse_error(err, errlen, "too many names (more than %d)", NAMELIST_MAX);
	/* Validated into place; l->n moves only when the whole name was good. */
	if (copy_name(name, strip_trailing_dot(name, strlen(name)), l->e[l->n].suffix, quoted, err, errlen) < 0)
		return -1;
	l->e[l->n].subdomains_only = subdomains_only;
	l->n++;
	return 0;
}

int namelist_match(const struct namelist *l, const char *name)
{
	if (!l || !name)
		return 0;
	if (l->match_all)
		return 1;
	size_t n = strip_trailing_dot(name, strlen(name));
	for (size_t i = 0; i < l->n && i < NAMELIST_MAX; i++) {
		const char *suffix = l->e[i].suffix;
		size_t slen = strnlen(suffix, sizeof l->e[i].suffix);
		if (slen == 0 || !ends_with(name, n, suffix, slen))
			continue;
		if (n == slen ? !l->e[i].subdomains_only : name[n - slen - 1] == '.')
			return 1;
	}
	return 0;
}
