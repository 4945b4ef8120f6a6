/* endpoint.h - an inet address and port in one comparable form (pure, no I/O).
 *
 * IPv4 is stored v4-mapped (::ffff:a.b.c.d), so an IPv4 sockaddr and the same
 * address in an IPv6 socket compare equal. */
#ifndef SOCKSIFY_ENDPOINT_H
#define SOCKSIFY_ENDPOINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct sockaddr;
struct sockaddr_storage;

struct endpoint_key {
	uint8_t ip[16];
	uint16_t port; /* host byte order */
};

extern const uint8_t endpoint_v4mapped_prefix[12];

/* Fills k from an AF_INET or AF_INET6 sockaddr of at least its size; false otherwise. */
bool endpoint_key_of(const struct sockaddr *sa, size_t len, struct endpoint_key *k);
/* Fills ip[16] from a raw address of family (AF_INET: 4 bytes, AF_INET6: 16); false otherwise. */
bool endpoint_ip_of(int family, const void *addr, uint8_t ip[16]);
bool endpoint_is_v4(const uint8_t ip[16]);
/* Both are inet sockaddrs with the same address and port. */
bool endpoint_same(const struct sockaddr *a, size_t alen, const struct sockaddr *b, size_t blen);
/* An IPv4 address in ss (of length len) in the terms of a socket of family: v4-mapped for an
 * AF_INET6 one, as the kernel reports it, rewritten in place. Returns ss's length now. */
size_t endpoint_in_family(struct sockaddr_storage *ss, size_t len, int family);

#endif
