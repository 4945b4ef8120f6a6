/* bind.c - BIND (RFC 1928 CMD 0x02): a listener of our own, announced in a
 * first reply, for exactly one inbound connection; the peer that connects is
 * announced in a second reply and then relayed like a CONNECT's target.
 * While the session waits, c->target holds the listener, and c->addrs the
 * peer the client named (none: any peer may connect). */
#include "endpoint.h"
#include "socks5d.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

/* Few peers are expected; a wrong one is refused, so a short queue is enough. */
#define BIND_BACKLOG 8

static void bind_fail(struct server *srv, struct conn *c, uint8_t rep, enum session_result r)
{
	endpoint_close(&c->target, false);
	session_reply_and_linger(srv, c, rep, r);
}

/* DST as a socket address; a name only as a literal (no lookup for a filter). */
static int expected_peer(const struct socks5_addr *dst, union sockaddr_any *out)
{
	memset(out, 0, sizeof *out);
	if (dst->atyp != SOCKS5_ATYP_DOMAIN)
		return socks5_addr_to_sockaddr(dst, &out->sa, sizeof *out) < 0 ? -1 : 0;
	if (inet_pton(AF_INET, dst->u.domain.name, &out->sin.sin_addr) == 1) {
		out->sin.sin_family = AF_INET;
		out->sin.sin_port = htons(dst->port);
		return 0;
	}
	if (inet_pton(AF_INET6, dst->u.domain.name, &out->sin6.sin6_addr) == 1) {
		out->sin6.sin6_family = AF_INET6;
		out->sin6.sin6_port = htons(dst->port);
		return 0;
	}
	return -1;
}

static socklen_t sockaddr_len(const union sockaddr_any *a)
{
	return a->sa.sa_family == AF_INET6 ? sizeof a->sin6 : sizeof a->sin;
}

static void set_port(union sockaddr_any *a, uint16_t port)
{
	if (a->sa.sa_family == AF_INET6)
		a->sin6.sin6_port = htons(port);
	else
		a->sin.sin_port = htons(port);
}

/* A listener on addr, port chosen by the kernel. */
static int bind_listen(const union sockaddr_any *addr)
{
	union sockaddr_any a = *addr;
	int one = 1;

	set_port(&a, 0);
	int fd = socket(a.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if ((a.sa.sa_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0) ||
	    bind(fd, &a.sa, sockaddr_len(&a)) < 0 || listen(fd, BIND_BACKLOG) < 0) {
		int err = errno;
		close(fd);
		errno = err;
		return -1;
	}
	return fd;
}

/* The source address the kernel would use towards dst: a UDP socket's
 * connect() only looks the route up, it sends nothing. */
static int route_source(const union sockaddr_any *dst, union sockaddr_any *src)
{
	union sockaddr_any to = *dst;
	socklen_t len = sizeof *src;
	int rc = -1;

	if (to.sa.sa_family == AF_INET ? to.sin.sin_port == 0 : to.sin6.sin6_port == 0)
		set_port(&to, 9); /* any port will do; some stacks refuse 0 */
	int fd = socket(to.sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, &to.sa, sockaddr_len(&to)) == 0 && getsockname(fd, &src->sa, &len) == 0)
		rc = 0;
	int err = errno;
	close(fd);
	errno = err;
	return rc;
}

/* ::ffff:a.b.c.d as a.b.c.d: our IPv6 listeners are IPv6-only. */
static void unmap_v4(union sockaddr_any *a)
{
	uint8_t ip[16];
	uint16_t port;

	if (a->sa.sa_family != AF_INET6 || !sockaddr_ip16(a, ip, &port) || !endpoint_is_v4(ip))
		return;
	memset(a, 0, sizeof *a);
	a->sin.sin_family = AF_INET;
	memcpy(&a->sin.sin_addr, ip + 12, 4);
	a->sin.sin_port = htons(port);
}

/* Where the listener goes and what the first reply announces:
 *  - the --external address of the family, for both;
 *  - a peer named by address: the address routed towards it, for both;
 *  - no peer named: every address of the client's family (a peer reaching
 *    this host by its outside address gets here too), announcing the one
 *    the client reached us by, as a client that uses it expects.
 * A wildcard listener is open to anyone for at most --bind-timeout and for
 * one connection only; that is the price of not knowing where the peer is. */
static int bind_choose(struct server *srv, struct conn *c, const union sockaddr_any *want,
		       union sockaddr_any *listen_at, union sockaddr_any *announce)
{
	union sockaddr_any peer = *want;
	socklen_t len = sizeof *announce;
	int family;

	if (getsockname(c->client.fd, &announce->sa, &len) < 0)
		return -1;
	unmap_v4(&peer);
	family = sockaddr_is_any(&peer) ? announce->sa.sa_family : peer.sa.sa_family;
	const union sockaddr_any *ext = config_external(srv->cfg, family);
	if (ext) {
		*listen_at = *announce = *ext;
		return 0;
	}
	if (!sockaddr_is_any(&peer)) {
		if (route_source(&peer, listen_at) < 0)
			return -1;
		*announce = *listen_at;
		return 0;
	}
	memset(listen_at, 0, sizeof *listen_at);
	listen_at->sa.sa_family = (sa_family_t)family;
	if (family == AF_INET6)
		listen_at->sin6.sin6_addr = in6addr_any;
	return 0;
}

/* Queues a success reply naming addr; -1 if it does not fit. */
static int queue_success(struct server *srv, struct conn *c, const union sockaddr_any *addr)
{
	struct socks5_addr bnd = { .atyp = SOCKS5_ATYP_IPV4 };
	uint8_t reply[SOCKS5_REQUEST_MAX];

	socks5_addr_from_sockaddr(&bnd, &addr->sa, sizeof *addr);
	ssize_t n = socks5_encode_reply(reply, sizeof reply, SOCKS5_REP_SUCCEEDED, &bnd);
	if (n < 0 || buf_append(srv, &c->down.buf, reply, (size_t)n) < 0)
		return -1;
	c->reply_bytes += (uint32_t)n;
	return 0;
}

/* Remembers the peer the client named (in *want too), if it named one and the rules let it. */
static bool bind_set_expected(struct server *srv, struct conn *c, const struct socks5_addr *dst,
			      union sockaddr_any *want_out)
{
	union sockaddr_any want;

	if (expected_peer(dst, &want) < 0) {
		log_info("refusing bind peer=%s: not an address", c->target_name);
		session_reply_and_linger(srv, c, SOCKS5_REP_ATYP_NOT_SUPPORTED, RES_BAD_REQUEST);
		return false;
	}
	*want_out = want;
	if (sockaddr_is_any(&want))
		return true;
	enum target_verdict v = target_check(srv, &want);
	if (v != TARGET_OK) {
		log_info("refusing bind peer=%s: %s", c->target_name, target_verdict_reason(v));
		session_reply_and_linger(srv, c, SOCKS5_REP_NOT_ALLOWED, RES_NOT_ALLOWED);
		return false;
	}
	c->addrs = malloc(sizeof *c->addrs);
	if (!c->addrs) {
		session_reply_and_linger(srv, c, SOCKS5_REP_GENERAL_FAILURE, RES_ERROR);
		return false;
	}
	*c->addrs = want;
	c->naddrs = 1;
	return true;
}

/* The route towards the named peer failed: answered like a CONNECT there. */
static void bind_fail_route(struct server *srv, struct conn *c, int err)
{
	log_info("bind (for %s): no address to listen on towards the peer: %s", c->target_name, strerror(err));
	if (err == ENETUNREACH)
		bind_fail(srv, c, SOCKS5_REP_NET_UNREACHABLE, RES_NET_UNREACHABLE);
	else if (err == EHOSTUNREACH)
		bind_fail(srv, c, SOCKS5_REP_HOST_UNREACHABLE, RES_HOST_UNREACHABLE);
	else
		bind_fail(srv, c, SOCKS5_REP_GENERAL_FAILURE, RES_ERROR);
}

void bind_start(struct server *srv, struct conn *c, const struct socks5_addr *dst)
{
	union sockaddr_any want, listen_at, bnd, announce;
	socklen_t blen = sizeof bnd;

	if (!bind_set_expected(srv, c, dst, &want))
		return;
	if (bind_choose(srv, c, &want, &listen_at, &announce) < 0) {
		bind_fail_route(srv, c, errno);
		return;
	}
	if ((c->target.fd = bind_listen(&listen_at)) < 0 || getsockname(c->target.fd, &bnd.sa, &blen) < 0) {
		log_warn("bind (for %s): cannot listen: %s", c->target_name, strerror(errno));
		bind_fail(srv, c, SOCKS5_REP_GENERAL_FAILURE, RES_ERROR);
		return;
	}
	set_port(&announce, ntohs(bnd.sa.sa_family == AF_INET6 ? bnd.sin6.sin6_port : bnd.sin.sin_port));
	if (queue_success(srv, c, &announce) < 0) {
		conn_close(srv, c, true);
		return;
	}
	if (log_get_level() >= LOG_LVL_DEBUG) {
		char name[64], at[64];
		sockaddr_format(&announce, name, sizeof name);
		sockaddr_format(&bnd, at, sizeof at);
		log_debug("bind (for %s): listening on %s, announced as %s", c->target_name, at, name);
	}
	c->state = ST_BIND_WAIT;
	timer_arm(&srv->bind_timers, &c->timer, srv->now_ms);
	conn_update_interest(srv, c);
}

/* The named peer's address (and port, unless 0), and the --deny-to rules. */
static bool peer_wanted(struct server *srv, const struct conn *c, const union sockaddr_any *peer)
{
	uint8_t ip[16], want_ip[16];
	uint16_t port, want_port;

	if (target_check(srv, peer) != TARGET_OK)
		return false;
	if (c->naddrs == 0)
		return true;
	if (!sockaddr_ip16(peer, ip, &port) || !sockaddr_ip16(c->addrs, want_ip, &want_port))
		return false;
	return memcmp(ip, want_ip, 16) == 0 && (want_port == 0 || want_port == port);
}

/* Closed with an RST: the peer learns at once that it was not let in. */
static void refuse_peer(const struct conn *c, int fd, const union sockaddr_any *peer)
{
	struct linger lg = { .l_onoff = 1, .l_linger = 0 };
	char name[64];

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	close(fd);
	sockaddr_format(peer, name, sizeof name);
	log_info("bind (for %s): refused peer=%s: not the expected peer", c->target_name, name);
}

/* The one peer is here: no other may come (the listener goes), the client
 * learns who it is, and the relay starts. */
static void bind_connected(struct server *srv, struct conn *c, int fd, const union sockaddr_any *peer)
{
	struct socks5_addr bnd = { .atyp = SOCKS5_ATYP_IPV4 };

	endpoint_close(&c->target, false);
	c->target.fd = fd;
	socket_tune(fd);
	socks5_addr_from_sockaddr(&bnd, &peer->sa, sizeof *peer);
	if (log_get_level() >= LOG_LVL_DEBUG) {
		char name[64];
		sockaddr_format(peer, name, sizeof name);
		log_debug("bind (for %s): peer=%s connected", c->target_name, name);
	}
	relay_start_reply(srv, c, &bnd);
}

static void bind_on_listener(struct server *srv, struct conn *c)
{
	union sockaddr_any peer;

	for (;;) {
		int fd = accept_nonblock(srv, c->target.fd, &peer);
		if (fd >= 0 && !peer_wanted(srv, c, &peer)) {
			refuse_peer(c, fd, &peer);
			continue;
		}
		if (fd >= 0) {
			bind_connected(srv, c, fd, &peer);
			return;
		}
		if (errno == EAGAIN)
			return;
		if (accept_error_is_transient(errno))
			continue;
		/* Out of fds or memory: the peer would keep the listener
		 * readable and wake us in a loop; give up this BIND instead. */
		log_warn("bind (for %s): accept: %s", c->target_name, strerror(errno));
		bind_fail(srv, c, SOCKS5_REP_GENERAL_FAILURE, RES_ERROR);
		return;
	}
}

/* While waiting we read nothing from the client (what it sends is for the
 * peer); we only watch for it going away, which ends the wait. */
static void bind_on_client(struct server *srv, struct conn *c, uint32_t events)
{
	if ((events & EPOLLOUT) && flow_flush(srv, &c->down, c->client.fd) < 0) {
		conn_close(srv, c, true);
		return;
	}
	if (events & (EPOLLERR | EPOLLHUP | EPOLLRDHUP)) {
		log_debug("bind (for %s): the client left during the wait", c->target_name);
		conn_close(srv, c, (events & EPOLLERR) != 0);
	}
}

void bind_on_event(struct server *srv, struct conn *c, struct endpoint *ep, uint32_t events)
{
	if (ep == &c->target)
		bind_on_listener(srv, c);
	else
		bind_on_client(srv, c, events);
}

void bind_on_timeout(struct server *srv, struct conn *c)
{
	if (c->state != ST_BIND_WAIT)
		return;
	log_debug("bind (for %s): no peer came", c->target_name);
	bind_fail(srv, c, SOCKS5_REP_TTL_EXPIRED, RES_TIMEOUT);
}
