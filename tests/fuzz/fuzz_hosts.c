/* fuzz_hosts.c - /etc/hosts text: hosts_lookup_name and hosts_lookup_addr.
 *
 * Input: byte 0 picks the family filter and how many results there is room
 * for, byte 1 the size of the name buffer; then the name to look up, up to a
 * NUL; the rest is the file's text (an exact-size copy: no NUL, no final '\n').
 *
 * Checks: results agree with a plain line-by-line reference reading of
 * hosts(5); never more than max are written; AF_UNSPEC finds what AF_INET
 * and AF_INET6 find together; case and one trailing dot do not matter;
 * every address found maps back (hosts_lookup_addr) to a name that finds it;
 * the name written is terminated within any cap. */
#include "fuzz.h"
#include "hostsfile.h"

#include <arpa/inet.h>
#include <sys/socket.h>

#define REF_MAX 64

static int is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f';
}

static char lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* Equal as hosts names: ASCII case folded, one trailing dot on each ignored. */
static int same_name(const char *a, size_t alen, const char *b, size_t blen)
{
	if (alen > 0 && a[alen - 1] == '.')
		alen--;
	if (blen > 0 && b[blen - 1] == '.')
		blen--;
	if (alen != blen)
		return 0;
	for (size_t i = 0; i < alen; i++)
		if (lower(a[i]) != lower(b[i]))
			return 0;
	return 1;
}

/* The next blank-separated field in text[*i..stop): sets *f and *flen, or returns 0. */
static int ref_field(const char *text, size_t *i, size_t stop, size_t *f, size_t *flen)
{
	while (*i < stop && is_blank(text[*i]))
		(*i)++;
	if (*i == stop)
		return 0;
	*f = *i;
	while (*i < stop && !is_blank(text[*i]))
		(*i)++;
	*flen = *i - *f;
	return 1;
}

/* The reference: hosts(5) read the obvious way, one line at a time. */
static size_t ref_lookup_name(const char *text, size_t len, const char *name, int family,
			      struct hosts_addr *out, size_t max)
{
	size_t found = 0, nlen = strlen(name), pos = 0;

	if (nlen == 0 || strcmp(name, ".") == 0)
		return 0;
	while (pos < len) {
		size_t end = pos, stop, i, f, flen;
		while (end < len && text[end] != '\n')
			end++;
		for (stop = pos; stop < end && text[stop] != '#' && text[stop] != '\0'; stop++)
			; /* '#' and NUL end the line's text */
		i = pos;
		pos = end + 1;
		if (!ref_field(text, &i, stop, &f, &flen))
			continue;
		char buf[64];
		struct hosts_addr a = { 0 };
		if (flen >= 46 || memchr(text + f, '%', flen))
			continue;
		memcpy(buf, text + f, flen);
		buf[flen] = '\0';
		if (inet_pton(AF_INET, buf, a.addr) == 1)
			a.family = AF_INET;
		else if (inet_pton(AF_INET6, buf, a.addr) == 1)
			a.family = AF_INET6;
		else
			continue;
		if (family != AF_UNSPEC && a.family != family)
			continue;
		while (ref_field(text, &i, stop, &f, &flen)) {
			if (same_name(text + f, flen, name, nlen)) {
				if (found < max)
					out[found] = a;
				found++;
				break;
			}
		}
	}
	return found;
}

static size_t lookup(const char *text, size_t len, const char *name, int family, struct hosts_addr *out,
		     size_t max)
{
	size_t n = hosts_lookup_name(text, len, name, family, out, max);
	struct hosts_addr ref[REF_MAX];
	size_t nref = ref_lookup_name(text, len, name, family, ref, REF_MAX);
	FUZZ_CHECK(n == nref);
	for (size_t i = 0; i < n && i < max && i < REF_MAX; i++)
		FUZZ_CHECK(out[i].family == ref[i].family &&
			   memcmp(out[i].addr, ref[i].addr, out[i].family == AF_INET ? 4 : 16) == 0);
	return n;
}

/* The address maps back to a name, and that name finds the address again. */
static void check_reverse(const char *text, size_t len, const struct hosts_addr *a, size_t cap)
{
	char full[1024];
	static struct hosts_addr again[REF_MAX];

	FUZZ_CHECK(hosts_lookup_addr(text, len, a->family, a->addr, full, sizeof full) == 1);
	size_t flen = strlen(full);
	FUZZ_CHECK(flen >= 1);
	for (size_t i = 0; i < flen; i++)
		FUZZ_CHECK(!is_blank(full[i]) && full[i] != '#' && full[i] != '\n');
	char *small = (char *)fuzz_alloc(cap);
	FUZZ_CHECK(hosts_lookup_addr(text, len, a->family, a->addr, small, cap) == 1);
	if (cap > 0) {
		size_t n = strnlen(small, cap);
		FUZZ_CHECK(n == (flen < cap ? flen : cap - 1) && memcmp(small, full, n) == 0);
	}
	free(small);
	if (strcmp(full, ".") == 0)
		return;
	size_t n = lookup(text, len, full, a->family, again, REF_MAX);
	FUZZ_CHECK(n >= 1);
	if (n > REF_MAX)
		return;
	size_t i = 0;
	while (i < n && memcmp(again[i].addr, a->addr, a->family == AF_INET ? 4 : 16) != 0)
		i++;
	FUZZ_CHECK(i < n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int families[4] = { AF_UNSPEC, AF_INET, AF_INET6, AF_UNIX };
	static struct hosts_addr v4[REF_MAX], v6[REF_MAX], any[REF_MAX];
	char alt[600];

	if (size < 2)
		return 0;
	int family = families[data[0] & 3];
	size_t max = data[0] >> 2 & 15;
	size_t cap = data[1];
	char *name = fuzz_cstr(data + 2, size - 2 < 300 ? size - 2 : 300);
	size_t nlen = strlen(name);
	size_t off = 2 + nlen + (2 + nlen < size);
	char *text = (char *)fuzz_copy(data + off, size - off);
	size_t len = size - off;

	struct hosts_addr *out = (struct hosts_addr *)fuzz_alloc(max * sizeof *out);
	size_t n = hosts_lookup_name(text, len, name, family, out, max);
	FUZZ_CHECK(hosts_lookup_name(text, len, name, family, NULL, 0) == n);
	if (family == AF_UNIX) {
		FUZZ_CHECK(n == 0);
	} else {
		FUZZ_CHECK(lookup(text, len, name, family, out, max) == n);
		for (size_t i = 0; i < n && i < max; i++) {
			FUZZ_CHECK(out[i].family == AF_INET || out[i].family == AF_INET6);
			FUZZ_CHECK(family == AF_UNSPEC || out[i].family == family);
			check_reverse(text, len, &out[i], cap);
		}
	}
	free(out);

	size_t n4 = lookup(text, len, name, AF_INET, v4, REF_MAX);
	size_t n6 = lookup(text, len, name, AF_INET6, v6, REF_MAX);
	size_t nany = lookup(text, len, name, AF_UNSPEC, any, REF_MAX);
	FUZZ_CHECK(nany == n4 + n6);

	/* Case and one trailing dot do not matter. */
	if (nlen > 0 && nlen < sizeof alt - 1 && name[nlen - 1] != '.') {
		for (size_t i = 0; i < nlen; i++)
			alt[i] = name[i] >= 'a' && name[i] <= 'z' ? (char)(name[i] - 'a' + 'A') : lower(name[i]);
		alt[nlen] = '.';
		alt[nlen + 1] = '\0';
		FUZZ_CHECK(hosts_lookup_name(text, len, alt, AF_UNSPEC, NULL, 0) == nany);
	}

	/* An address from the input: no match is fine; a match has a name. */
	if (size >= 18) {
		char nm[300];
		if (hosts_lookup_addr(text, len, AF_INET6, data + 2, nm, sizeof nm))
			FUZZ_CHECK(nm[0] != '\0');
		if (hosts_lookup_addr(text, len, AF_INET, data + 2, nm, sizeof nm))
			FUZZ_CHECK(nm[0] != '\0');
	}
	FUZZ_CHECK(hosts_lookup_addr(text, len, AF_UNIX, data, NULL, 0) == 0);
	free(name);
	free(text);
	return 0;
}
