/* fakedns.h - names stand behind fake addresses that only we hand out.
 *
 * A name resolved remotely is answered with a fake IPv4 and a fake IPv6
 * address; connect() or sendto() to one becomes a SOCKS request carrying the
 * name. The table lives in shared memory (a memfd) created by the first
 * process of a socksify run and inherited by every process after it, so
 * threads, forked and exec'd children all agree. It has a fixed number of
 * slots, recycled oldest first: memory stays bounded however many names are
 * resolved. A recycled slot gets a new generation, and so new addresses: a
 * stale fake address fails (EHOSTUNREACH) instead of reaching another name. */
#ifndef SOCKSIFY_FAKEDNS_H
#define SOCKSIFY_FAKEDNS_H

#include <netinet/in.h>
#include <stddef.h>

#include "socks5.h"

/* In the constructor: creates the table if this is the first process of the
 * run (SOCKSIFY_DNS_SHM unset) so that children forked before any lookup share it. */
void fakedns_init_early(void);

/* The fake addresses of name (found or allocated). Returns 0, or -1 if the
 * table cannot be used (then nothing was resolved). */
int fakedns_resolve(const char *name, struct in_addr *v4, struct in6_addr *v6);

/* For an address on the wire: 0 if it is not in a fake range; 1 and the name
 * in name[256] if it is ours; -1 if it is in a fake range but stale or unknown. */
int fakedns_lookup(const struct socks5_addr *a, char name[256]);

/* 1 if sa lies in a fake range (IPv4, IPv6, or IPv4-mapped IPv6). */
int fakedns_is_fake_sockaddr(const struct sockaddr *sa);


#endif
