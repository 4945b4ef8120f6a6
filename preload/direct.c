/* direct.c - the addresses behind SOCKSIFY_NO_PROXY names.
 *
 * A name excluded from the proxy is resolved by the system resolver, and the
 * program then connects by address: this is how the connect() hooks learn
 * that the address stands for an excluded name. A small ring, newest first
 * to be kept; forked children inherit it. */
#include "direct.h"
#include "endpoint.h"
#include "fork.h"

#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#define DIRECT_MAX 256

static struct {
	pthread_mutex_t lock;
	atomic_uint count; /* entries in use, at most DIRECT_MAX */
	unsigned next;
	uint8_t addr[DIRECT_MAX][16]; /* IPv4 stored v4-mapped */
} ring = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void note(int family, const void *addr)
{
	uint8_t key[16];
	if (!endpoint_ip_of(family, addr, key))
		return;
	pthread_mutex_lock(&ring.lock);
	unsigned n = atomic_load(&ring.count);
	int known = 0;
	for (unsigned i = 0; i < n && !known; i++)
		known = memcmp(ring.addr[i], key, 16) == 0;
	if (!known) {
		memcpy(ring.addr[ring.next], key, 16);
		ring.next = (ring.next + 1) % DIRECT_MAX;
		if (n < DIRECT_MAX)
			atomic_store(&ring.count, n + 1);
	}
	pthread_mutex_unlock(&ring.lock);
}

void direct_fork(enum fork_phase phase)
{
	if (phase == FORK_PREPARE)
		pthread_mutex_lock(&ring.lock);
	else
		pthread_mutex_unlock(&ring.lock);
}

void direct_note_addrinfo(const struct addrinfo *ai)
{
	for (; ai; ai = ai->ai_next) {
		if (ai->ai_family == AF_INET)
			note(AF_INET, &((const struct sockaddr_in *)ai->ai_addr)->sin_addr);
		else if (ai->ai_family == AF_INET6)
			note(AF_INET6, &((const struct sockaddr_in6 *)ai->ai_addr)->sin6_addr);
	}
}

void direct_note_hostent(const struct hostent *he)
{
	for (char **p = he ? he->h_addr_list : NULL; p && *p; p++)
		note(he->h_addrtype, *p);
}

int direct_has(const struct sockaddr *sa, socklen_t len)
{
	struct endpoint_key k;
	if (atomic_load_explicit(&ring.count, memory_order_relaxed) == 0 || !endpoint_key_of(sa, len, &k))
		return 0;
	int found = 0;
	pthread_mutex_lock(&ring.lock);
	unsigned n = atomic_load(&ring.count);
	for (unsigned i = 0; i < n && !found; i++)
		found = memcmp(ring.addr[i], k.ip, 16) == 0;
	pthread_mutex_unlock(&ring.lock);
	return found;
}
