/* hostsfile.h - lookups in the text of /etc/hosts (pure: the caller reads the file). */
#ifndef SOCKSIFY_HOSTSFILE_H
#define SOCKSIFY_HOSTSFILE_H

#include <stddef.h>
#include <stdint.h>

struct hosts_addr {
	int family; /* AF_INET or AF_INET6 */
	uint8_t addr[16]; /* 4 or 16 bytes used */
};

/* Every address whose line names `name` (canonical name or alias, compared
 * case-insensitively, a trailing dot on `name` ignored), in file order, at
 * most max. family AF_UNSPEC, AF_INET or AF_INET6 filters. Returns the count
 * found (may exceed max; only max are written). Malformed lines are skipped. */
size_t hosts_lookup_name(const char *text, size_t len, const char *name, int family, struct hosts_addr *out,
			 size_t max);

/* The canonical (first) name of the first line whose address equals addr.
 * Returns 1 and writes the NUL-terminated name (truncated to cap-1), or 0. */
int hosts_lookup_addr(const char *text, size_t len, int family, const uint8_t *addr, char *name, size_t cap);

#endif
