/* udp.c - UDP ASSOCIATE (RFC 1928 section 7).
 *
 * The sockets of one association:
 *  - the client-facing relay socket, bound to the local address of the
 *    client's TCP connection with port 0, so that BND.ADDR in the reply is an
 *    address the client already reaches us at (never 0.0.0.0). It accepts
 *    datagrams from the client only, and sends it the wrapped replies.
 *  - one target-facing socket per family, made on first use, unconnected
 *    and unbound (but to the --external address of its family, if any): a
 *    client on IPv4 can still reach IPv6 targets (and the reverse), any
 *    target can answer, and nothing a target sends can reach
 *    the client-facing port. One dual-stack socket would only work where
 *    IPv6 is enabled; two plain ones always work.
 * Datagrams move in batches: one recvmmsg fills up to UDP_MMSG slots of the
 * worker's buffers (replies read leaving room in front for the SOCKS
 * header), and what they become goes out with one sendmmsg per socket.
 * Nothing is allocated and nothing logged per datagram (but debug lines),
 * except those queued while a name is being looked up. The TCP connection
 * only keeps the association alive. */
#include "endpoint.h"
#include "socks5d.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <unistd.h>

#define UDP_HDR_ROOM SOCKS5_UDP_HEADER_MAX
#define UDP_BUF_SIZE (UDP_HDR_ROOM + 65536)
/* Datagrams per recvmmsg/sendmmsg, and batches per wakeup and socket: a
 * busy client cannot starve the rest. */
#define UDP_MMSG 32
#define UDP_ROUNDS 2
#define UDP_NAMES 8 /* names cached per association */
#define UDP_NAME_PORTS 4 /* ports remembered per name, to label replies */
#define UDP_QUEUE_MAX 16 /* datagrams waiting for lookups, per association */
#define UDP_NAME_TTL_MS 60000 /* then looked up again, the old address used meanwhile */
#define UDP_NAME_FAIL_TTL_MS 5000 /* a failed lookup is retried after this */
#define CONTROL_READS 16
/* Room to absorb bursts while the loop is busy elsewhere: UDP has no flow
 * control, so a full receive queue means lost datagrams. The kernel caps it
 * at net.core.rmem_max and charges only for datagrams actually queued. */
#define UDP_SOCK_RCVBUF (1024 * 1024)
/* Far enough in the past for any TTL, whatever the monotonic clock reads
 * (it may be near 0 in a fresh VM or sandbox). */
#define NEVER_MS (INT64_MIN / 4)

/* A worker's datagram buffers, made with its first association. The slots
 * are only touched as far as datagrams fill them. */
struct udp_batch {
	struct mmsghdr in[UDP_MMSG];
	struct iovec in_iov[UDP_MMSG];
	union sockaddr_any from[UDP_MMSG];
	/* Queued for one sendmmsg, all on out_fd, all of one association. */
	struct mmsghdr out[UDP_MMSG];
	struct iovec out_iov[UDP_MMSG];
	union sockaddr_any to[UDP_MMSG];
	const union sockaddr_any *peer[UDP_MMSG]; /* named in a drop's debug line */
	uint32_t payload[UDP_MMSG]; /* bytes counted as relayed */
	unsigned nout;
	int out_fd;
	bool out_up; /* client -> target */
	uint8_t slot[UDP_MMSG][UDP_BUF_SIZE];
};

struct udp_sock {
	struct watch w; /* first: the epoll data */
	int fd;
	struct udp_assoc *assoc;
};

/* A name the client sent datagrams to, and where it points. */
struct udp_name {
	struct udp_assoc *assoc;
	struct resolve_job *job; /* lookup in flight */
	int64_t resolved_ms; /* when the last lookup ended; NEVER_MS: not yet */
	int64_t used_ms; /* for eviction */
	union sockaddr_any addr; /* port 0 */
	bool have_addr;
	uint8_t nports, next_port;
	uint16_t ports[UDP_NAME_PORTS]; /* replies from addr on these carry the name */
	uint8_t len;
	char name[256]; /* NUL-terminated */
};

struct udp_queued {
	struct udp_queued *next;
	struct udp_name *name;
	uint16_t port;
	uint32_t len;
	uint8_t data[];
};

struct udp_assoc {
	struct conn *conn;
	struct udp_sock client, target4, target6;
	/* Who may send: the TCP peer's address, narrowed by the request's
	 * DST.ADDR/DST.PORT when non-zero; then only the first valid source. */
	uint8_t peer_ip[16]; /* IPv4 as v4-mapped */
	uint8_t want_ip[16];
	bool want_ip_set;
	uint16_t want_port;
	bool client_known;
	uint8_t client_ip[16];
	uint16_t client_port;
	union sockaddr_any client_src;
	socklen_t client_len;
	struct udp_name *names; /* UDP_NAMES entries, allocated with the first name */
	struct udp_queued *queue_head, *queue_tail;
	unsigned nqueued;
	uint64_t bytes_up, bytes_down, dgrams_up, dgrams_down, dropped;
	uint64_t denied; /* refused by the target rules; not in dropped */
};

static socklen_t sockaddr_len(const union sockaddr_any *a)
{
	return a->sa.sa_family == AF_INET6 ? sizeof a->sin6 : sizeof a->sin;
}

/* ::ffff:a.b.c.d becomes a.b.c.d: target sockets of family AF_INET6 are
 * IPv6-only, and replies from an IPv4 target arrive on the IPv4 one. */
static void unmap_v4(union sockaddr_any *a)
{
	if (a->sa.sa_family != AF_INET6 || !endpoint_is_v4(a->sin6.sin6_addr.s6_addr))
		return;
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = a->sin6.sin6_port };
	memcpy(&sin.sin_addr, (const uint8_t *)&a->sin6.sin6_addr + 12, 4);
	memset(a, 0, sizeof *a);
	a->sin = sin;
}

static void set_port(union sockaddr_any *a, uint16_t port)
{
	if (a->sa.sa_family == AF_INET6)
		a->sin6.sin6_port = htons(port);
	else
		a->sin.sin_port = htons(port);
}

static void udp_drop(struct udp_assoc *a, const union sockaddr_any *from, const char *why)
{
	a->dropped++;
	if (log_get_level() >= LOG_LVL_DEBUG) {
		char client[64], src[64] = "-";
		sockaddr_format(&a->conn->peer, client, sizeof client);
		if (from)
			sockaddr_format(from, src, sizeof src);
		log_debug("udp (client=%s): dropped a datagram from %s: %s", client, src, why);
	}
}

static void udp_drop_named(struct udp_assoc *a, const char *name, uint16_t port, const char *why)
{
	a->dropped++;
	if (log_get_level() >= LOG_LVL_DEBUG) {
		char client[64], esc[4 * 255 + 1];
		sockaddr_format(&a->conn->peer, client, sizeof client);
		escape_for_log(esc, sizeof esc, name, strnlen(name, 255));
		log_debug("udp (client=%s): dropped a datagram to %s:%u: %s", client, esc, port, why);
	}
}

/* Every datagram passed on, either way, restarts the idle timeout. */
static void udp_touch(struct server *srv, struct udp_assoc *a)
{
	struct timer *t = &a->conn->timer;
	if (t->next && t->deadline_ms == srv->now_ms + srv->udp_timers.duration_ms)
		return;
	timer_arm(&srv->udp_timers, t, srv->now_ms);
}

static int watch_fd(struct server *srv, struct udp_sock *s)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &s->w };
	return epoll_ctl(srv->epfd, EPOLL_CTL_ADD, s->fd, &ev);
}

static int udp_socket(int family)
{
	int one = 1, rcvbuf = UDP_SOCK_RCVBUF;
	int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd >= 0)
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
	/* IPv6-only: each family has its own socket, and the client-facing
	 * socket must not answer on IPv4 when it was announced on IPv6. */
	if (fd >= 0 && family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The target-facing socket for family, made on first use; NULL with errno. */
static struct udp_sock *target_sock(struct server *srv, struct udp_assoc *a, int family)
{
	struct udp_sock *s = family == AF_INET6 ? &a->target6 : &a->target4;

	if (s->fd >= 0)
		return s;
	s->fd = udp_socket(family);
	if (s->fd < 0)
		return NULL;
	const union sockaddr_any *ext = config_external(srv->cfg, family);
	if ((ext && bind(s->fd, &ext->sa, sockaddr_len(ext)) < 0) || watch_fd(srv, s) < 0) {
		int err = errno;
		close(s->fd);
		s->fd = -1;
		errno = err;
		return NULL;
	}
	return s;
}

/* Sends what is queued; a datagram the socket refuses is dropped and the
 * rest still go. */
static void out_flush(struct server *srv, struct udp_assoc *a)
{
	struct udp_batch *b = srv->udp;
	unsigned i = 0;

	while (i < b->nout) {
		int n = sendmmsg(b->out_fd, b->out + i, b->nout - i, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			udp_drop(a, b->peer[i], strerror(n < 0 ? errno : EIO));
			i++;
			continue;
		}
		for (unsigned k = i; k < i + (unsigned)n; k++) {
			if (b->out_up) {
				a->dgrams_up++;
				a->bytes_up += b->payload[k];
			} else {
				a->dgrams_down++;
				a->bytes_down += b->payload[k];
			}
		}
		i += (unsigned)n;
	}
	b->nout = 0;
}

/* Queues one datagram for out_flush; data must stay put until then. */
static void out_push(struct server *srv, struct udp_assoc *a, int fd, bool up, const union sockaddr_any *to,
		     socklen_t tolen, const union sockaddr_any *peer, uint8_t *data, size_t len, size_t payload)
{
	struct udp_batch *b = srv->udp;

	if (b->nout == UDP_MMSG || (b->nout > 0 && (b->out_fd != fd || b->out_up != up)))
		out_flush(srv, a);
	unsigned i = b->nout++;
	b->to[i] = *to;
	b->out_iov[i] = (struct iovec){ .iov_base = data, .iov_len = len };
	b->out[i].msg_hdr = (struct msghdr){ .msg_name = &b->to[i], .msg_namelen = tolen,
					     .msg_iov = &b->out_iov[i], .msg_iovlen = 1 };
	b->peer[i] = peer == to ? &b->to[i] : peer;
	b->payload[i] = (uint32_t)payload;
	b->out_fd = fd;
	b->out_up = up;
}

/* Reads up to UDP_MMSG datagrams into the slots, each at offset; the count, or -1. */
static int in_batch(struct udp_batch *b, int fd, size_t offset)
{
	int n;

	for (unsigned i = 0; i < UDP_MMSG; i++) {
		b->in_iov[i] = (struct iovec){ .iov_base = b->slot[i] + offset, .iov_len = UDP_BUF_SIZE - offset };
		b->in[i].msg_hdr = (struct msghdr){ .msg_name = &b->from[i], .msg_namelen = sizeof b->from[i],
						    .msg_iov = &b->in_iov[i], .msg_iovlen = 1 };
	}
	do
		n = recvmmsg(fd, b->in, UDP_MMSG, MSG_DONTWAIT, NULL);
	while (n < 0 && errno == EINTR);
	return n;
}

/* Queues one payload to a target (see out_flush); on a refusal counts the
 * drop and returns -1. */
static int send_to_target(struct server *srv, struct udp_assoc *a, const union sockaddr_any *dst,
			  uint8_t *data, size_t len)
{
	struct udp_sock *s;

	enum target_verdict v = target_check(srv, dst);
	if (v != TARGET_OK) {
		a->denied++;
		if (log_get_level() >= LOG_LVL_DEBUG) {
			char client[64], to[64];
			sockaddr_format(&a->conn->peer, client, sizeof client);
			sockaddr_format(dst, to, sizeof to);
			log_debug("udp (client=%s): refused a datagram to %s: %s", client, to, target_verdict_reason(v));
		}
		return -1;
	}
	s = target_sock(srv, a, dst->sa.sa_family);
	if (!s) {
		udp_drop(a, dst, strerror(errno));
		return -1;
	}
	out_push(srv, a, s->fd, true, dst, sockaddr_len(dst), dst, data, len, len);
	return 0;
}

/* --- names ------------------------------------------------------------ */

static void name_note_port(struct udp_name *e, uint16_t port)
{
	for (unsigned i = 0; i < e->nports; i++)
		if (e->ports[i] == port)
			return;
	if (e->nports < UDP_NAME_PORTS) {
		e->ports[e->nports++] = port;
		return;
	}
	e->ports[e->next_port] = port;
	e->next_port = (uint8_t)((e->next_port + 1) % UDP_NAME_PORTS);
}

/* The client now sends to dst by address: replies from there stop carrying
 * a name, until it sends through the name again. The latest choice wins. */
static void names_forget(struct udp_assoc *a, const union sockaddr_any *dst)
{
	uint8_t ip[16], eip[16];
	uint16_t port, eport;

	if (!a->names || !sockaddr_ip16(dst, ip, &port))
		return;
	for (unsigned i = 0; i < UDP_NAMES; i++) {
		struct udp_name *e = &a->names[i];
		if (!e->have_addr || !sockaddr_ip16(&e->addr, eip, &eport) || memcmp(ip, eip, 16) != 0)
			continue;
		for (unsigned k = 0; k < e->nports; k++) {
			if (e->ports[k] != port)
				continue;
			e->ports[k] = e->ports[--e->nports];
			e->next_port = 0;
			break;
		}
	}
}

static struct udp_name *name_find(struct udp_assoc *a, const struct socks5_addr *dst)
{
	for (unsigned i = 0; i < UDP_NAMES; i++) {
		struct udp_name *e = &a->names[i];
		if (e->len == dst->u.domain.len && strncasecmp(e->name, dst->u.domain.name, e->len) == 0)
			return e;
	}
	return NULL;
}

/* A free entry, or the least recently used one without a lookup in flight. */
static struct udp_name *name_new(struct udp_assoc *a, const struct socks5_addr *dst)
{
	struct udp_name *victim = NULL;

	for (unsigned i = 0; i < UDP_NAMES; i++) {
		struct udp_name *e = &a->names[i];
		if (e->len == 0) {
			victim = e;
			break;
		}
		if (!e->job && (!victim || e->used_ms < victim->used_ms))
			victim = e;
	}
	if (!victim)
		return NULL;
	memset(victim, 0, sizeof *victim);
	victim->assoc = a;
	victim->resolved_ms = NEVER_MS;
	victim->len = dst->u.domain.len;
	memcpy(victim->name, dst->u.domain.name, victim->len);
	return victim;
}

/* The name whose address and a port it was sent to match src, if any:
 * replies from there are labelled with the name the client used. */
static const struct udp_name *name_of_source(const struct udp_assoc *a, const union sockaddr_any *src)
{
	const struct udp_name *best = NULL;
	uint8_t ip[16], eip[16];
	uint16_t port, eport;

	if (!a->names || !sockaddr_ip16(src, ip, &port))
		return NULL;
	for (unsigned i = 0; i < UDP_NAMES; i++) {
		const struct udp_name *e = &a->names[i];
		if (!e->have_addr || !sockaddr_ip16(&e->addr, eip, &eport) || memcmp(ip, eip, 16) != 0)
			continue;
		for (unsigned k = 0; k < e->nports; k++)
			if (e->ports[k] == port && (!best || e->used_ms > best->used_ms))
				best = e;
	}
	return best;
}

static void queue_flush(struct server *srv, struct udp_assoc *a, struct udp_name *e);

static void udp_on_resolved(struct server *srv, struct resolve_job *job)
{
	struct udp_name *e = job->owner;
	struct udp_assoc *a = e->assoc;

	e->job = NULL;
	e->resolved_ms = srv->now_ms;
	if (job->gai_err == 0 && job->naddrs > 0) {
		/* The first address in getaddrinfo's order whose family we can use. */
		for (unsigned i = 0; i < job->naddrs; i++) {
			if (target_sock(srv, a, job->addrs[i].sa.sa_family)) {
				e->addr = job->addrs[i];
				unmap_v4(&e->addr);
				e->have_addr = true;
				break;
			}
		}
	} else {
		char esc[4 * 255 + 1];
		escape_for_log(esc, sizeof esc, e->name, e->len);
		log_debug("udp: resolve %s: %s%s", esc, job->gai_err ? gai_strerror(job->gai_err) : "no addresses",
			  e->have_addr ? " (keeping the old address)" : "");
	}
	queue_flush(srv, a, e);
	out_flush(srv, a);
}

/* Looks a name up: a literal address at once, anything else in the
 * resolver threads. Failure to submit leaves the entry unresolved. */
static void name_lookup(struct server *srv, struct udp_name *e)
{
	union sockaddr_any lit = { 0 };

	if (inet_pton(AF_INET, e->name, &lit.sin.sin_addr) == 1) {
		lit.sin.sin_family = AF_INET;
	} else if (inet_pton(AF_INET6, e->name, &lit.sin6.sin6_addr) == 1) {
		lit.sin6.sin6_family = AF_INET6;
		unmap_v4(&lit);
	}
	if (lit.sa.sa_family) {
		e->addr = lit;
		e->have_addr = true;
		e->resolved_ms = INT64_MAX / 2; /* never looked up again */
		return;
	}
	struct resolve_job *job = calloc(1, sizeof *job);
	if (!job)
		return;
	memcpy(job->host, e->name, (size_t)e->len + 1);
	job->owner = e;
	job->on_done = udp_on_resolved;
	e->job = job;
	if (resolver_submit(srv->resolver, job) < 0) {
		e->job = NULL;
		free(job);
	}
}

static void queue_push(struct udp_assoc *a, struct udp_name *e, uint16_t port, const uint8_t *data, size_t len)
{
	struct udp_queued *q;

	if (a->nqueued >= UDP_QUEUE_MAX) {
		udp_drop_named(a, e->name, port, "too many datagrams waiting for name lookups");
		return;
	}
	q = malloc(sizeof *q + len);
	if (!q) {
		udp_drop_named(a, e->name, port, "out of memory");
		return;
	}
	q->next = NULL;
	q->name = e;
	q->port = port;
	q->len = (uint32_t)len;
	memcpy(q->data, data, len);
	if (a->queue_tail)
		a->queue_tail->next = q;
	else
		a->queue_head = q;
	a->queue_tail = q;
	a->nqueued++;
}

/* Sends (or, if the lookup failed, drops) the datagrams waiting for e, in order. */
static void queue_flush(struct server *srv, struct udp_assoc *a, struct udp_name *e)
{
	struct udp_queued **pp = &a->queue_head, *q;

	a->queue_tail = NULL;
	while ((q = *pp)) {
		if (q->name != e) {
			a->queue_tail = q;
			pp = &q->next;
			continue;
		}
		*pp = q->next;
		a->nqueued--;
		if (e->have_addr) {
			union sockaddr_any dst = e->addr;
			set_port(&dst, q->port);
			if (send_to_target(srv, a, &dst, q->data, q->len) == 0)
				out_flush(srv, a); /* before q goes */
		} else {
			udp_drop_named(a, e->name, q->port, "name not resolved");
		}
		free(q);
	}
}

static void send_to_name(struct server *srv, struct udp_assoc *a, const struct socks5_addr *dst,
			 uint8_t *data, size_t len)
{
	struct udp_name *e;

	if (strlen(dst->u.domain.name) != dst->u.domain.len) {
		udp_drop_named(a, dst->u.domain.name, dst->port, "NUL byte in the name");
		return;
	}
	if (!a->names && !(a->names = calloc(UDP_NAMES, sizeof *a->names))) {
		udp_drop_named(a, dst->u.domain.name, dst->port, "out of memory");
		return;
	}
	e = name_find(a, dst);
	if (!e && !(e = name_new(a, dst))) {
		udp_drop_named(a, dst->u.domain.name, dst->port, "too many names being looked up");
		return;
	}
	e->used_ms = srv->now_ms;
	if (!e->job && srv->now_ms - e->resolved_ms >= (e->have_addr ? UDP_NAME_TTL_MS : UDP_NAME_FAIL_TTL_MS))
		name_lookup(srv, e);
	if (e->have_addr) {
		union sockaddr_any to = e->addr;
		set_port(&to, dst->port);
		if (send_to_target(srv, a, &to, data, len) == 0)
			name_note_port(e, dst->port);
	} else if (e->job) {
		name_note_port(e, dst->port);
		queue_push(a, e, dst->port, data, len);
	} else {
		udp_drop_named(a, e->name, dst->port, "name not resolved");
	}
}

/* --- datagrams ---------------------------------------------------------- */

static bool client_allowed(const struct udp_assoc *a, const union sockaddr_any *src)
{
	uint8_t ip[16];
	uint16_t port;

	if (!sockaddr_ip16(src, ip, &port))
		return false;
	if (a->client_known)
		return port == a->client_port && memcmp(ip, a->client_ip, 16) == 0;
	if (memcmp(ip, a->peer_ip, 16) != 0)
		return false;
	if (a->want_ip_set && memcmp(ip, a->want_ip, 16) != 0)
		return false;
	return a->want_port == 0 || port == a->want_port;
}

static void client_datagram(struct server *srv, struct udp_assoc *a, uint8_t *buf, size_t n,
			    const union sockaddr_any *src, socklen_t slen)
{
	struct socks5_addr dst;
	union sockaddr_any to;
	uint8_t frag;

	if (!client_allowed(a, src)) {
		udp_drop(a, src, "not the client");
		return;
	}
	/* RSV is not checked: it carries nothing, and some clients fill it. */
	ssize_t hl = socks5_decode_udp_header(buf, n, &frag, &dst);
	if (hl < 0) {
		udp_drop(a, src, "malformed header");
		return;
	}
	if (frag != 0) {
		udp_drop(a, src, "fragment (FRAG != 0)");
		return;
	}
	if (dst.port == 0) {
		udp_drop(a, src, "destination port 0");
		return;
	}
	if (!a->client_known) {
		a->client_known = true;
		sockaddr_ip16(src, a->client_ip, &a->client_port);
		a->client_src = *src;
		a->client_len = slen;
	}
	udp_touch(srv, a);
	if (dst.atyp == SOCKS5_ATYP_DOMAIN) {
		send_to_name(srv, a, &dst, buf + hl, n - (size_t)hl);
		return;
	}
	memset(&to, 0, sizeof to);
	if (socks5_addr_to_sockaddr(&dst, &to.sa, sizeof to) < 0) {
		udp_drop(a, src, "bad destination");
		return;
	}
	unmap_v4(&to);
	if (send_to_target(srv, a, &to, buf + hl, n - (size_t)hl) == 0)
		names_forget(a, &to);
}

static void from_client(struct server *srv, struct udp_assoc *a)
{
	struct udp_batch *b = srv->udp;

	for (int round = 0; round < UDP_ROUNDS; round++) {
		int n = in_batch(b, a->client.fd, 0);
		if (n < 0) {
			if (errno != EAGAIN)
				log_debug("udp relay recvmmsg: %s", strerror(errno));
			return;
		}
		for (int i = 0; i < n; i++)
			client_datagram(srv, a, b->slot[i], b->in[i].msg_len, &b->from[i], b->in[i].msg_hdr.msg_namelen);
		out_flush(srv, a);
		if (n < UDP_MMSG)
			return;
	}
}

static void target_datagram(struct server *srv, struct udp_assoc *a, uint8_t *payload, size_t n,
			    const union sockaddr_any *src, socklen_t slen)
{
	struct socks5_addr from;
	const struct udp_name *e;

	if (!a->client_known) {
		udp_drop(a, src, "client address not known yet");
		return;
	}
	e = name_of_source(a, src);
	if (e) {
		uint8_t ip[16];
		uint16_t port = 0;
		sockaddr_ip16(src, ip, &port);
		socks5_addr_set_domain(&from, e->name, port);
	} else if (socks5_addr_from_sockaddr(&from, &src->sa, slen) < 0) {
		udp_drop(a, src, "unknown address family");
		return;
	}
	ssize_t hl = 3 + socks5_addr_size(&from);
	uint8_t *hdr = payload - hl;
	if (socks5_encode_udp_header(hdr, (size_t)hl, 0, &from) != hl) {
		udp_drop(a, src, "cannot encode header");
		return;
	}
	out_push(srv, a, a->client.fd, false, &a->client_src, a->client_len, src, hdr, (size_t)hl + n, n);
	udp_touch(srv, a);
}

static void from_target(struct server *srv, struct udp_assoc *a, struct udp_sock *s)
{
	struct udp_batch *b = srv->udp;

	for (int round = 0; round < UDP_ROUNDS; round++) {
		int n = in_batch(b, s->fd, UDP_HDR_ROOM);
		if (n < 0) {
			if (errno != EAGAIN)
				log_debug("udp target recvmmsg: %s", strerror(errno));
			return;
		}
		for (int i = 0; i < n; i++)
			target_datagram(srv, a, b->slot[i] + UDP_HDR_ROOM, b->in[i].msg_len, &b->from[i],
					b->in[i].msg_hdr.msg_namelen);
		out_flush(srv, a);
		if (n < UDP_MMSG)
			return;
	}
}

void udp_on_event(struct server *srv, struct watch *w, uint32_t events)
{
	struct udp_sock *s = (struct udp_sock *)w;
	struct udp_assoc *a = s->assoc;

	/* Closed earlier in this batch of events. */
	if (s->fd < 0 || a->conn->state == ST_CLOSED)
		return;
	if (events & EPOLLERR) {
		int err = 0;
		socklen_t len = sizeof err;
		getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &err, &len); /* clears it */
		log_debug("udp socket error: %s", strerror(err));
	}
	if (!(events & EPOLLIN))
		return;
	if (s == &a->client)
		from_client(srv, a);
	else
		from_target(srv, a, s);
}

/* --- the association ---------------------------------------------------- */

static bool addr_is_zero(const struct socks5_addr *d)
{
	static const uint8_t zero[16];
	if (d->atyp == SOCKS5_ATYP_IPV4)
		return memcmp(d->u.ipv4, zero, 4) == 0;
	if (d->atyp == SOCKS5_ATYP_IPV6)
		return memcmp(d->u.ipv6, zero, 16) == 0;
	return true; /* a name says nothing we could check cheaply */
}

/* The TCP connection's local address, port 0, bound; the bound address in *bnd. */
static int open_client_sock(struct server *srv, struct conn *c, struct udp_assoc *a, union sockaddr_any *bnd)
{
	socklen_t len = sizeof *bnd;

	if (getsockname(c->client.fd, &bnd->sa, &len) < 0)
		return -1;
	set_port(bnd, 0);
	a->client.fd = udp_socket(bnd->sa.sa_family);
	if (a->client.fd < 0)
		return -1;
	if (bind(a->client.fd, &bnd->sa, sockaddr_len(bnd)) < 0)
		return -1;
	len = sizeof *bnd;
	if (getsockname(a->client.fd, &bnd->sa, &len) < 0)
		return -1;
	return watch_fd(srv, &a->client);
}

void udp_assoc_start(struct server *srv, struct conn *c, const struct socks5_addr *dst)
{
	struct socks5_addr bnd_wire;
	union sockaddr_any bnd;
	uint8_t reply[SOCKS5_REQUEST_MAX];
	struct udp_assoc *a;
	uint16_t port;

	if (!srv->udp && !(srv->udp = malloc(sizeof *srv->udp)))
		goto fail;
	a = calloc(1, sizeof *a);
	if (!a)
		goto fail;
	c->udp = a;
	a->conn = c;
	a->client = (struct udp_sock){ .w.kind = WATCH_UDP, .fd = -1, .assoc = a };
	a->target4 = a->target6 = a->client;
	if (open_client_sock(srv, c, a, &bnd) < 0) {
		/* Likely out of fds: say so once per 10 s, not once per client. */
		if (srv->udp_warned_ms == 0 || srv->now_ms - srv->udp_warned_ms >= 10000) {
			srv->udp_warned_ms = srv->now_ms;
			log_warn("udp associate: cannot open a relay socket: %s", strerror(errno));
		}
		goto fail;
	}
	sockaddr_ip16(&c->peer, a->peer_ip, &port);
	a->want_port = dst->port;
	if (!addr_is_zero(dst)) {
		union sockaddr_any want = { 0 };
		socks5_addr_to_sockaddr(dst, &want.sa, sizeof want);
		a->want_ip_set = sockaddr_ip16(&want, a->want_ip, &port);
	}
	if (dst->port == 0 && addr_is_zero(dst)) {
		free(c->target_name); /* logged as '-': the client did not say */
		c->target_name = NULL;
	}
	if (socks5_addr_from_sockaddr(&bnd_wire, &bnd.sa, sockaddr_len(&bnd)) < 0)
		goto fail;
	ssize_t n = socks5_encode_reply(reply, sizeof reply, SOCKS5_REP_SUCCEEDED, &bnd_wire);
	if (n < 0 || buf_append(srv, &c->down.buf, reply, (size_t)n) < 0)
		goto fail;
	c->reply_bytes += (uint32_t)n;
	free(c->hs); /* anything pipelined after the request is discarded */
	c->hs = NULL;
	c->state = ST_UDP;
	conn_set_result(c, RES_OK);
	timer_arm(&srv->udp_timers, &c->timer, srv->now_ms);
	if (log_get_level() >= LOG_LVL_DEBUG) {
		char client[64], relay[64];
		sockaddr_format(&c->peer, client, sizeof client);
		sockaddr_format(&bnd, relay, sizeof relay);
		log_debug("udp associate client=%s relay=%s", client, relay);
	}
	if (flow_flush(srv, &c->down, c->client.fd) < 0)
		conn_close(srv, c, true);
	return;
fail:
	if (c->udp) {
		udp_assoc_close(srv, c->udp);
		udp_assoc_free(c->udp);
		c->udp = NULL;
	}
	session_reply_and_linger(srv, c, SOCKS5_REP_GENERAL_FAILURE, RES_ERROR);
}

/* The control connection: anything the client sends is read and dropped;
 * its end, or an error, ends the association. */
void udp_on_control(struct server *srv, struct conn *c, uint32_t events)
{
	if (events & EPOLLERR) {
		log_debug("udp associate: control connection error");
		conn_close(srv, c, false);
		return;
	}
	if ((events & EPOLLOUT) && flow_flush(srv, &c->down, c->client.fd) < 0) {
		conn_close(srv, c, true);
		return;
	}
	if (!(events & (EPOLLIN | EPOLLHUP)))
		return;
	for (int i = 0; i < CONTROL_READS; i++) {
		ssize_t n = recv(c->client.fd, srv->udp->slot[0], UDP_BUF_SIZE, 0);
		if (n > 0)
			continue;
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		log_debug("udp associate: control connection %s", n == 0 ? "closed" : strerror(errno));
		conn_close(srv, c, false);
		return;
	}
}

void udp_on_idle(struct server *srv, struct conn *c)
{
	log_debug("udp associate: idle for %lld ms, ending it", (long long)srv->udp_timers.duration_ms);
	conn_close(srv, c, false);
}

static void sock_close(struct udp_sock *s)
{
	if (s->fd >= 0)
		close(s->fd); /* also leaves the epoll set */
	s->fd = -1;
}

/* Releases the sockets, lookups and queue; the struct itself stays until
 * the current batch of events is done (udp_assoc_free). */
void udp_assoc_close(struct server *srv, struct udp_assoc *a)
{
	sock_close(&a->client);
	sock_close(&a->target4);
	sock_close(&a->target6);
	while (a->queue_head) {
		struct udp_queued *q = a->queue_head;
		a->queue_head = q->next;
		a->dropped++;
		free(q);
	}
	a->queue_tail = NULL;
	a->nqueued = 0;
	if (a->names) {
		for (unsigned i = 0; i < UDP_NAMES; i++)
			if (a->names[i].job)
				a->names[i].job->owner = NULL; /* the resolver frees it */
		free(a->names);
		a->names = NULL;
	}
}

void udp_assoc_free(struct udp_assoc *a)
{
	free(a);
}

void udp_batch_free(struct udp_batch *b)
{
	free(b);
}

int udp_assoc_format_counts(const struct udp_assoc *a, char *buf, size_t cap, uint64_t *up, uint64_t *down)
{
	*up = a->bytes_up;
	*down = a->bytes_down;
	return snprintf(buf, cap, " dgrams_up=%llu dgrams_down=%llu dropped=%llu denied=%llu",
			(unsigned long long)a->dgrams_up, (unsigned long long)a->dgrams_down,
			(unsigned long long)a->dropped, (unsigned long long)a->denied);
}

void udp_assoc_counts(const struct udp_assoc *a, uint64_t *up, uint64_t *down, uint64_t *dgrams_up,
		      uint64_t *dgrams_down)
{
	*up = a->bytes_up;
	*down = a->bytes_down;
	*dgrams_up = a->dgrams_up;
	*dgrams_down = a->dgrams_down;
}
