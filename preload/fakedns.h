/* fakedns.h - names stand behind fake addresses that only we hand out.
 *
 * A name resolved remotely is answered with a fake IPv4 and a fake IPv6
 * address; connect() or sendto() to one becomes a SOCKS request carrying the
 * name. The table lives in shared memory (a memfd) that the launcher creates
 * before the program starts (include/dnstable.h) and every process of the run
 * inherits, so threads, forked, spawned and exec'd children all agree. It has a fixed number of
 * slots, recycled oldest first: memory stays bounded however many names are
 * resolved. A recycled slot gets a new generation, and so new addresses: a
 * stale fake address fails (EHOSTUNREACH) instead of reaching another name. */
#ifndef SOCKSIFY_FAKEDNS_H
#define SOCKSIFY_FAKEDNS_H

#include <netinet/in.h>
#include <stddef.h>

#include "socks5.h"

/* In the constructor, cheap: holds the run's table fd and names this process
 * in SOCKSIFY_DNS_SHM (for its children); maps nothing. Without a run's table
 * (preloaded without the launcher), one is made at the first lookup or fork. */
void fakedns_init_early(void);

/* Before fork(): makes the table if it is still to be made, so that parent and
 * child share it. Children started with vfork/posix_spawn before that do not. */
void fakedns_before_fork(void);

/* The fake addresses of name (found or allocated). Returns 0, or -1 if the
 * table cannot be used (then nothing was resolved). */
int fakedns_resolve(const char *name, struct in_addr *v4, struct in6_addr *v6);

/* For an address on the wire: 0 if it is not in a fake range; 1 and the name
 * in name[256] if it is ours; -1 if it is in a fake range but stale or unknown. */
int fakedns_lookup(const struct socks5_addr *a, char name[256]);

/* 1 if sa lies in a fake range (IPv4, IPv6, or IPv4-mapped IPv6). */
int fakedns_is_fake_sockaddr(const struct sockaddr *sa);


#endif
