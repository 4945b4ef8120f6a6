/* endpoint.c - inet addresses and ports in one comparable form. */
#include "endpoint.h"

#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

const uint8_t endpoint_v4mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

bool endpoint_ip_of(int family, const void *addr, uint8_t ip[16])
{
	if (family == AF_INET) {
		memcpy(ip, endpoint_v4mapped_prefix, 12);
		memcpy(ip + 12, addr, 4);
		return true;
	}
	if (family == AF_INET6) {
		memcpy(ip, addr, 16);
		return true;
	}
	return false;
}

bool endpoint_key_of(const struct sockaddr *sa, size_t len, struct endpoint_key *k)
{
	if (!sa)
		return false;
	if (sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)sa;
		k->port = ntohs(s->sin_port);
		return endpoint_ip_of(AF_INET, &s->sin_addr, k->ip);
	}
	if (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6)) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)sa;
		k->port = ntohs(s->sin6_port);
		return endpoint_ip_of(AF_INET6, &s->sin6_addr, k->ip);
	}
	return false;
}

bool endpoint_is_v4(const uint8_t ip[16])
{
	return memcmp(ip, endpoint_v4mapped_prefix, 12) == 0;
}

bool endpoint_same(const struct sockaddr *a, size_t alen, const struct sockaddr *b, size_t blen)
{
	struct endpoint_key x, y;
	return endpoint_key_of(a, alen, &x) && endpoint_key_of(b, blen, &y) && x.port == y.port &&
	       memcmp(x.ip, y.ip, 16) == 0;
}

size_t endpoint_in_family(struct sockaddr_storage *ss, size_t len, int family)
{
	if (family != AF_INET6 || ss->ss_family != AF_INET)
		return len;
	struct sockaddr_in v4;
	memcpy(&v4, ss, sizeof v4);
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;
	memset(v6, 0, sizeof *v6);
	v6->sin6_family = AF_INET6;
	v6->sin6_port = v4.sin_port;
	v6->sin6_addr.s6_addr[10] = v6->sin6_addr.s6_addr[11] = 0xff;
	memcpy(&v6->sin6_addr.s6_addr[12], &v4.sin_addr, 4);
	return sizeof *v6;
}
