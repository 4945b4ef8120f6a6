/* assoc.c - UDP ASSOCIATE: the control connection and what replies map back to. */
#include "assoc.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config.h"
#include "endpoint.h"
#include "fakedns.h"
#include "fdtable.h"
#include "handshake.h"
#include "log.h"
#include "real.h"

#define HIGH_FD 700 /* keep our own fds away from the low numbers programs dup2() onto */

static atomic_ullong next_id = 1;

/* Per thread, what it last noted and last mapped a reply for: while the association's
 * table has not changed since, the answer is the same, and the lock is not needed.
 * initial-exec: the library is preloaded, its TLS is in the initial block (no
 * __tls_get_addr call per datagram). */
#define THREAD_LOCAL __thread __attribute__((tls_model("initial-exec")))

static THREAD_LOCAL struct {
	unsigned long long id;
	unsigned changes;
	socklen_t len;
	struct sockaddr_storage sent;
} noted;

static THREAD_LOCAL struct {
	unsigned long long id;
	unsigned changes;
	int domain;
	struct socks5_addr src;
	socklen_t len;
	struct sockaddr_storage out;
} mapped;

static int move_high(int fd)
{
	int high = REAL(fcntl)(fd, F_DUPFD_CLOEXEC, HIGH_FD);
	if (high < 0)
		return fd;
	REAL(close)(fd);
	return high;
}

/* addr (IPv4 or IPv6) as a sockaddr of family domain: IPv4 in an IPv6 socket is v4-mapped. */
static socklen_t to_family(int domain, const struct socks5_addr *addr, struct sockaddr_storage *out)
{
	memset(out, 0, sizeof *out);
	if (domain == AF_INET6 && addr->atyp == SOCKS5_ATYP_IPV4) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)out;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons(addr->port);
		s6->sin6_addr.s6_addr[10] = s6->sin6_addr.s6_addr[11] = 0xff;
		memcpy(&s6->sin6_addr.s6_addr[12], addr->u.ipv4, 4);
		return sizeof *s6;
	}
	if ((domain == AF_INET) != (addr->atyp == SOCKS5_ATYP_IPV4))
		return 0;
	int n = socks5_addr_to_sockaddr(addr, (struct sockaddr *)out, sizeof *out);
	return n > 0 ? (socklen_t)n : 0;
}

static int is_unspecified(const struct socks5_addr *a)
{
	static const uint8_t zero[16];
	return (a->atyp == SOCKS5_ATYP_IPV4 && memcmp(a->u.ipv4, zero, 4) == 0) ||
	       (a->atyp == SOCKS5_ATYP_IPV6 && memcmp(a->u.ipv6, zero, 16) == 0);
}

/* A relay we can send to: a port, and not a multicast, broadcast or unspecified address. */
static int usable_relay(const struct socks5_addr *r)
{
	if (r->port == 0)
		return 0;
	if (r->atyp == SOCKS5_ATYP_IPV4)
		return r->u.ipv4[0] < 224 && !is_unspecified(r);
	if (r->atyp == SOCKS5_ATYP_IPV6)
		return r->u.ipv6[0] != 0xff && !is_unspecified(r);
	return 1; /* a name: refused later, with its own message */
}

/* An IPv6 socket reaches an IPv4 relay only without IPV6_V6ONLY (dropped if it still can be). */
static int reaches_ipv4(int fd)
{
	int v6only = 0, off = 0;
	socklen_t len = sizeof v6only;
	if (getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, &len) < 0 || !v6only)
		return 1;
	return setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) == 0;
}

struct udp_assoc *assoc_open(int fd, int domain, const struct config *c, int *err)
{
	char relay_text[300], why[64];
	if (!c->proxy_ok) {
		log_error("UDP datagram refused: no usable proxy (see the SOCKSIFY_PROXY or SOCKSIFY_ROUTE error above)");
		*err = ECONNREFUSED;
		return NULL;
	}
	if (!handshake_single_socks5(c, why, sizeof why)) {
		/* as for a proxy without UDP (REP 07): the datagram is refused, never sent direct */
		log_error("UDP datagram refused: UDP needs a single socks5:// proxy; SOCKSIFY_PROXY is %s", why);
		*err = EOPNOTSUPP;
		return NULL;
	}
	int ctrl = socket(c->proxy_addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (ctrl < 0) {
		*err = errno;
		return NULL;
	}
	ctrl = move_high(ctrl);
	/* RFC 1928: all zeros when the client does not know where it will send from;
	 * in the proxy's family, which is also how our datagrams will reach it. */
	struct socks5_addr any = { .atyp = c->proxy_addr.ss_family == AF_INET6 ? SOCKS5_ATYP_IPV6 : SOCKS5_ATYP_IPV4 };
	struct handshake hs;
	handshake_init(&hs, c, (const struct sockaddr *)&c->proxy_addr, c->proxy_addrlen, SOCKS5_CMD_UDP_ASSOCIATE,
		       &any);
	*err = handshake_run(&hs, ctrl, monotonic_ms() + c->timeout_ms);
	if (*err) {
		log_error("UDP ASSOCIATE via %s failed: %s", c->proxy_text, hs.why);
		REAL(close)(ctrl);
		return NULL;
	}
	struct socks5_addr relay = hs.bound;
	if (relay.atyp != SOCKS5_ATYP_DOMAIN && is_unspecified(&relay)) {
		/* "0.0.0.0": the relay is at the proxy's own address */
		socks5_addr_from_sockaddr(&relay, (const struct sockaddr *)&c->proxy_addr, c->proxy_addrlen);
		relay.port = hs.bound.port;
	}
	socks5_addr_format(&relay, relay_text, sizeof relay_text);
	if (!usable_relay(&relay)) {
		log_error("UDP ASSOCIATE via %s: the proxy named an unusable relay %s", c->proxy_text, relay_text);
		REAL(close)(ctrl);
		*err = ECONNREFUSED;
		return NULL;
	}
	struct udp_assoc *a = calloc(1, sizeof *a);
	if (a && !(domain == AF_INET6 && relay.atyp == SOCKS5_ATYP_IPV4 && !reaches_ipv4(fd)))
		a->relaylen = relay.atyp == SOCKS5_ATYP_DOMAIN ? 0 : to_family(domain, &relay, &a->relay);
	if (!a || !a->relaylen) {
		log_error("UDP ASSOCIATE via %s: cannot send to relay %s from an IPv%d socket%s", c->proxy_text,
			  relay_text, domain == AF_INET6 ? 6 : 4,
			  domain == AF_INET6 ? " set to IPV6_V6ONLY (use an IPv6 proxy address)" : "");
		free(a);
		REAL(close)(ctrl);
		*err = a ? EAFNOSUPPORT : ENOMEM;
		return NULL;
	}
	atomic_init(&a->refs, 1);
	atomic_init(&a->ctrl, ctrl);
	atomic_init(&a->checked_ms, coarse_ms());
	pthread_mutex_init(&a->lock, NULL);
	a->id = atomic_fetch_add(&next_id, 1);
	fdtable_set_internal(ctrl, a);
	log_info("UDP association via %s for fd %d: relay %s", c->proxy_text, fd, relay_text);
	return a;
}

void assoc_ref(struct udp_assoc *a)
{
	atomic_fetch_add_explicit(&a->refs, 1, memory_order_relaxed);
}

void assoc_unref(struct udp_assoc *a)
{
	if (atomic_fetch_sub_explicit(&a->refs, 1, memory_order_acq_rel) != 1)
		return;
	int ctrl = atomic_exchange(&a->ctrl, -1);
	if (ctrl >= 0 && fdtable_release_internal(ctrl, a)) /* never close a number that is the program's now */
		REAL(close)(ctrl);
	pthread_mutex_destroy(&a->lock);
	free(a);
}

void assoc_ctrl_lost(struct udp_assoc *a)
{
	atomic_store(&a->ctrl, -1);
}

int assoc_alive(struct udp_assoc *a)
{
	int ctrl = atomic_load(&a->ctrl);
	if (ctrl < 0)
		return 0;
	long long now = coarse_ms();
	if (now - atomic_load_explicit(&a->checked_ms, memory_order_relaxed) < ASSOC_CHECK_MS)
		return 1;
	atomic_store_explicit(&a->checked_ms, now, memory_order_relaxed);
	char c;
	ssize_t n = REAL(recv)(ctrl, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	return n > 0 || (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR));
}

int assoc_is_relay(const struct udp_assoc *a, const struct sockaddr *sa, socklen_t len)
{
	return endpoint_same(sa, len, (const struct sockaddr *)&a->relay, a->relaylen);
}

static int same_wire(const struct socks5_addr *x, const struct socks5_addr *y)
{
	if (x->atyp != y->atyp || x->port != y->port)
		return 0;
	switch (x->atyp) {
	case SOCKS5_ATYP_IPV4:
		return memcmp(x->u.ipv4, y->u.ipv4, 4) == 0;
	case SOCKS5_ATYP_IPV6:
		return memcmp(x->u.ipv6, y->u.ipv6, 16) == 0;
	default:
		return x->u.domain.len == y->u.domain.len &&
		       strncasecmp(x->u.domain.name, y->u.domain.name, x->u.domain.len) == 0;
	}
}

void assoc_note_sent(struct udp_assoc *a, const struct socks5_addr *wire, const struct sockaddr *sent,
		     socklen_t sentlen)
{
	/* The same address as this thread noted last, the table unchanged since: it is in
	 * there (an address the program sends to always has the same header address). */
	if (noted.id == a->id && noted.len == sentlen &&
	    atomic_load_explicit(&a->changes, memory_order_acquire) == noted.changes &&
	    memcmp(&noted.sent, sent, sentlen) == 0)
		return;
	pthread_mutex_lock(&a->lock);
	unsigned last = (a->next + ASSOC_RECENT - 1) % ASSOC_RECENT;
	if (!(a->recent[last].sentlen == sentlen && same_wire(&a->recent[last].wire, wire))) {
		unsigned i = a->next;
		for (unsigned k = 0; k < ASSOC_RECENT; k++) /* already known: keep one entry per destination */
			if (a->recent[k].sentlen == sentlen && same_wire(&a->recent[k].wire, wire))
				i = k;
		a->recent[i].wire = *wire;
		memcpy(&a->recent[i].sent, sent, sentlen);
		a->recent[i].sentlen = sentlen;
		if (i == a->next)
			a->next = (a->next + 1) % ASSOC_RECENT;
		atomic_fetch_add_explicit(&a->changes, 1, memory_order_release);
	}
	noted.id = a->id;
	noted.changes = atomic_load_explicit(&a->changes, memory_order_relaxed);
	noted.len = sentlen;
	memcpy(&noted.sent, sent, sentlen);
	pthread_mutex_unlock(&a->lock);
}

socklen_t assoc_reply_source(struct udp_assoc *a, int domain, const struct socks5_addr *src,
			     struct sockaddr_storage *out)
{
	socklen_t len = 0;
	int guess = -1;
	if (mapped.id == a->id && mapped.domain == domain &&
	    atomic_load_explicit(&a->changes, memory_order_acquire) == mapped.changes && same_wire(&mapped.src, src)) {
		memcpy(out, &mapped.out, mapped.len);
		return mapped.len;
	}
	pthread_mutex_lock(&a->lock);
	for (unsigned k = 0; k < ASSOC_RECENT && !len; k++) {
		unsigned i = (a->next + ASSOC_RECENT - 1 - k) % ASSOC_RECENT; /* newest first */
		if (!a->recent[i].sentlen)
			continue;
		if (same_wire(&a->recent[i].wire, src)) {
			memcpy(out, &a->recent[i].sent, a->recent[i].sentlen);
			len = a->recent[i].sentlen;
		} else if (guess < 0 && src->atyp != SOCKS5_ATYP_DOMAIN &&
			   a->recent[i].wire.atyp == SOCKS5_ATYP_DOMAIN && a->recent[i].wire.port == src->port) {
			/* A server that answers a name's datagrams from the name's address: most
			 * likely the newest name we sent to on that port. */
			guess = (int)i;
		}
	}
	if (!len && guess >= 0) {
		memcpy(out, &a->recent[guess].sent, a->recent[guess].sentlen);
		len = a->recent[guess].sentlen;
	}
	if (len) { /* an answer from the table alone: the same while it does not change */
		mapped.id = a->id;
		mapped.changes = atomic_load_explicit(&a->changes, memory_order_relaxed);
		mapped.domain = domain;
		mapped.src = *src;
		mapped.len = len;
		memcpy(&mapped.out, out, len);
	}
	pthread_mutex_unlock(&a->lock);
	if (len)
		return len;
	if (src->atyp == SOCKS5_ATYP_DOMAIN) {
		struct socks5_addr fake = { .port = src->port };
		struct in_addr v4;
		struct in6_addr v6;
		if (fakedns_resolve(src->u.domain.name, &v4, &v6) < 0)
			return 0;
		fake.atyp = domain == AF_INET6 ? SOCKS5_ATYP_IPV6 : SOCKS5_ATYP_IPV4;
		if (domain == AF_INET6)
			memcpy(fake.u.ipv6, &v6, 16);
		else
			memcpy(fake.u.ipv4, &v4, 4);
		return to_family(domain, &fake, out);
	}
	return to_family(domain, src, out);
}
