/* netlist.h - address/CIDR lists such as SOCKSIFY_NO_PROXY (pure, no I/O). */
#ifndef SOCKSIFY_NETLIST_H
#define SOCKSIFY_NETLIST_H

#include <stddef.h>
#include <stdint.h>

struct sockaddr;

#define NETLIST_MAX 64

struct netlist_entry {
	uint8_t family; /* 4 or 6 */
	uint8_t prefix; /* 0..32 or 0..128 */
	uint8_t addr[16]; /* network address, host bits cleared */
	uint16_t port; /* 0 = any port */
};

struct netlist {
	size_t n;
	struct netlist_entry e[NETLIST_MAX];
};

/* Parses a comma (or space) separated list of entries:
 *   127.0.0.1   10.0.0.0/8   ::1   [::1]   fd00::/8   192.168.1.5:8080   [::1]:80   *
 * ("*" matches everything). Empty items are skipped. Returns 0, or -1 with a
 * one-line reason in err naming the bad item. Appends to out (does not clear). */
int netlist_parse(const char *s, struct netlist *out, char *err, size_t errlen);

/* 1 when sa (AF_INET or AF_INET6, IPv4-mapped IPv6 compared as IPv4) matches an entry. */
int netlist_match(const struct netlist *l, const struct sockaddr *sa);

#endif
