/* udp.c - datagram sockets: every datagram to a proxied destination travels
 * through a SOCKS5 UDP association (RFC 1928 section 7) with a header naming
 * its target; replies reach the program with the target as their source.
 *
 * The program's own socket sends to the relay and receives from it, so its
 * poll/select/epoll keep working on its fd. A connect()ed datagram socket is
 * emulated: the peer is remembered here, the kernel socket stays unconnected
 * so that it can reach the relay, and datagrams from anyone but the peer (via
 * the relay) are dropped, as the kernel would. Datagrams to excluded
 * (SOCKSIFY_NO_PROXY) addresses go direct; no other datagram ever does. */
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "assoc.h"
#include "async.h"
#include "config.h"
#include "endpoint.h"
#include "export.h"
#include "fakedns.h"
#include "fdtable.h"
#include "iov.h"
#include "log.h"
#include "real.h"
#include "route.h"
#include "sock.h"

#define RECV_BUF (65536 + SOCKS5_UDP_HEADER_MAX)
/* From udp_sendmsg/udp_recvmsg: the fd is not (or no longer) one of ours; make the program's own call. */
#define NOT_OURS (-2)

/* One receive buffer per thread that receives proxied datagrams, freed with the thread. */
static pthread_key_t recv_key;
static pthread_once_t recv_key_once = PTHREAD_ONCE_INIT;

static void recv_key_make(void)
{
	pthread_key_create(&recv_key, free);
}

static uint8_t *recv_buffer(void)
{
	pthread_once(&recv_key_once, recv_key_make);
	uint8_t *b = pthread_getspecific(recv_key);
	if (!b && (b = malloc(RECV_BUF)))
		pthread_setspecific(recv_key, b);
	return b;
}

/* SOCKSIFY_ROUTE: the route for a datagram to sa (a fake address's by its name), as route_choose. */
static const struct config *udp_route(const struct config *c, const struct sockaddr *sa, socklen_t len, int *index,
				      char name[256])
{
	struct socks5_addr a;
	int fake = 0;
	name[0] = '\0';
	if (fakedns_is_fake_sockaddr(sa)) {
		socks5_addr_from_sockaddr(&a, sa, len);
		if ((fake = fakedns_lookup(&a, name)) <= 0) {
			*index = -1;
			return c; /* udp_send refuses a stale fake address */
		}
	}
	return route_choose(c, sa, fake ? name : NULL, index);
}

static int is_proxied_dest(const struct config *c, const struct sockaddr *sa, socklen_t len)
{
	if (fakedns_is_fake_sockaddr(sa))
		return 1;
	if (config_is_direct(c, sa, len))
		return 0;
	int index;
	char name[256];
	return !c->routes || udp_route(c, sa, len, &index, name) != NULL; /* a route may say direct */
}

/* A datagram whose route names another proxy than SOCKSIFY_PROXY: a socket has one
 * association, with that proxy; it never goes through another proxy, nor direct. 0 or EOPNOTSUPP. */
static int udp_route_refuses(const struct config *c, const struct sockaddr *sa, socklen_t len)
{
	int index;
	char name[256], text[300];
	if (udp_route(c, sa, len, &index, name) == c)
		return 0;
	struct socks5_addr a;
	socks5_addr_from_sockaddr(&a, sa, len);
	if (name[0])
		socks5_addr_set_domain(&a, name, a.port);
	socks5_addr_format(&a, text, sizeof text);
	log_error("datagram to %s refused: route %d (%s) sends it %s; UDP goes through SOCKSIFY_PROXY only", text,
		  index + 1, route_dests(c, index), c->routes->r[index].direct ? "direct" : "through another proxy");
	return EOPNOTSUPP;
}

static int is_direct_source(const struct config *c, const struct sockaddr_storage *ss, socklen_t len)
{
	const struct sockaddr *sa = (const struct sockaddr *)ss;
	return sock_is_inet_addr(sa, len) && !is_proxied_dest(c, sa, len);
}

/* Binds an unbound socket to the wildcard address, as connect() would. */
static void bind_if_unbound(int fd, int domain)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	if (getsockname(fd, (struct sockaddr *)&ss, &len) < 0)
		return;
	int port = domain == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port : ((struct sockaddr_in6 *)&ss)->sin6_port;
	if (port != 0)
		return;
	memset(&ss, 0, sizeof ss);
	ss.ss_family = (sa_family_t)domain;
	bind(fd, (struct sockaddr *)&ss, domain == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
}

int udp_connect(int fd, int domain, const struct sockaddr *addr, socklen_t len)
{
	int saved = errno;
	const struct config *c = config_get();
	if (addr->sa_family == AF_UNSPEC || !is_proxied_dest(c, addr, len)) {
		if (fdtable_kind(fd) != FD_UNMANAGED)
			fdtable_set_udp(fd, NULL, 0);
		return REAL(connect)(fd, addr, len);
	}
	int err = c->routes ? udp_route_refuses(c, addr, len) : 0;
	if (err) {
		errno = err;
		return -1;
	}
	/* Undo a real connect() made earlier: the socket must be able to reach the relay. */
	struct sockaddr unspec = { .sa_family = AF_UNSPEC };
	REAL(connect)(fd, &unspec, sizeof unspec);
	bind_if_unbound(fd, domain);
	if (fdtable_set_udp(fd, addr, len) < 0) {
		errno = ENOMEM;
		return -1;
	}
	errno = saved;
	return 0;
}

/* The association of fd, made now if it has none or the proxy ended it.
 * Takes over the reference in have. Returns a reference, or NULL with errno set. */
static struct udp_assoc *assoc_of(int fd, struct udp_assoc *have, const struct config *c)
{
	int err, domain;
	if (have && assoc_alive(have))
		return have;
	if (have)
		log_info("fd %d: the proxy ended its UDP association; making a new one", fd);
	if (sock_inet_type(fd, &domain) != SOCK_DGRAM) {
		errno = ENOTSOCK;
		return NULL;
	}
	struct udp_assoc *a = assoc_open(fd, domain, c, &err);
	if (!a) {
		if (have)
			assoc_unref(have);
		errno = err;
		return NULL;
	}
	/* another thread may have been first */
	struct udp_assoc *won = fdtable_attach_assoc(fd, a, have);
	assoc_unref(a);
	if (have)
		assoc_unref(have);
	if (!won)
		errno = EBADF;
	return won;
}

/* fd's entry for a datagram call: trusted (see fdtable_get_udp_trusted) or
 * checked. A stale entry whose number is a datagram socket again starts anew. */
static int udp_entry(int fd, struct fd_info *fi, int trusted)
{
	int domain;
	if ((trusted ? fdtable_get_udp_trusted(fd, fi) : fdtable_get(fd, fi)) == 0)
		return 0;
	/* Stale (closed behind our back): if the number is a datagram socket again, it is a new one. */
	if (sock_inet_type(fd, &domain) != SOCK_DGRAM || fdtable_set_udp(fd, NULL, 0) < 0 || fdtable_get(fd, fi) < 0)
		return -1;
	return 0;
}

/* A call on a trusted entry failed with err: 1 if fd turned out to be something
 * else now (closed behind our back and reused), the entry then forgotten. */
static int turned_stale(int fd, int err)
{
	switch (err) {
	case EBADF: case ENOTSOCK: case EOPNOTSUPP: case EISCONN: case ENOTCONN: case EDESTADDRREQ:
	case EAFNOSUPPORT: case EINVAL: case EPIPE:
		return fdtable_kind_checked(fd) == FD_UNMANAGED;
	}
	return 0;
}

/* From udp_send: the entry was trusted and is stale; try again with a checked one. */
#define RETRY (-3)

static ssize_t udp_send(int fd, const struct msghdr *msg, int flags, int trusted)
{
	struct fd_info fi;
	if (udp_entry(fd, &fi, trusted) < 0)
		return NOT_OURS;
	const struct sockaddr *dest = msg->msg_name;
	socklen_t dlen = msg->msg_namelen;
	if (!dest || !dlen) {
		dest = (const struct sockaddr *)&fi.peer;
		dlen = fi.peerlen;
	}
	const struct config *c = config_get();
	if (!dlen || !sock_is_inet_addr(dest, dlen) || !is_proxied_dest(c, dest, dlen)) {
		if (fi.assoc)
			assoc_unref(fi.assoc);
		return REAL(sendmsg)(fd, msg, flags); /* direct, or the kernel's own error */
	}
	int err = c->routes ? udp_route_refuses(c, dest, dlen) : 0;
	if (err) {
		if (fi.assoc)
			assoc_unref(fi.assoc);
		errno = err;
		return -1;
	}
	if ((size_t)msg->msg_iovlen >= IOV_MAX) {
		if (fi.assoc)
			assoc_unref(fi.assoc);
		errno = EMSGSIZE;
		return -1;
	}
	struct udp_assoc *a = assoc_of(fd, fi.assoc, c);
	if (!a)
		return -1;

	struct socks5_addr wire;
	char name[256];
	socks5_addr_from_sockaddr(&wire, dest, dlen);
	int fake = fakedns_lookup(&wire, name);
	if (fake > 0)
		socks5_addr_set_domain(&wire, name, wire.port);
	uint8_t hdr[SOCKS5_UDP_HEADER_MAX];
	ssize_t hl = fake < 0 ? -1 : socks5_encode_udp_header(hdr, sizeof hdr, 0, &wire);
	if (hl < 0) {
		assoc_unref(a);
		errno = EHOSTUNREACH; /* a stale fake address */
		return -1;
	}
	/* header and payload gathered by the kernel: no copy of the payload */
	struct iovec iov[IOV_MAX];
	iov[0].iov_base = hdr;
	iov[0].iov_len = (size_t)hl;
	memcpy(iov + 1, msg->msg_iov, msg->msg_iovlen * sizeof *iov);
	struct msghdr m = *msg;
	m.msg_name = &a->relay;
	m.msg_namelen = a->relaylen;
	m.msg_iov = iov;
	m.msg_iovlen = msg->msg_iovlen + 1;
	/* MSG_NOSIGNAL changes nothing for a datagram socket; should a trusted entry be a
	 * stream socket now, the program's own call below raises its SIGPIPE, not this one */
	ssize_t n = REAL(sendmsg)(fd, &m, flags | MSG_NOSIGNAL);
	if (n >= 0)
		assoc_note_sent(a, &wire, dest, dlen);
	assoc_unref(a);
	if (n < 0 && trusted && turned_stale(fd, errno))
		return RETRY;
	return n < 0 ? n : n - hl;
}

/* One datagram from the program: to the relay, direct (excluded destination),
 * or NOT_OURS. The fd's identity is not checked per datagram: what could be
 * sent on a stale entry goes to the relay, never direct; a send that fails
 * because the fd is something else now is retried on a checked entry. */
static ssize_t udp_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	ssize_t n = udp_send(fd, msg, flags, 1);
	return n == RETRY ? udp_send(fd, msg, flags, 0) : n;
}

/* Whatever a socket receives fits in this: a datagram is never truncated. */
#define DGRAM_MAX 65535

/* The datagram in m (n bytes, from src) passed on as the kernel gave it: fd is no longer ours. */
static ssize_t as_received(struct msghdr *msg, const struct msghdr *m, ssize_t n)
{
	if (msg->msg_name) {
		memcpy(msg->msg_name, m->msg_name, m->msg_namelen < msg->msg_namelen ? m->msg_namelen : msg->msg_namelen);
		msg->msg_namelen = m->msg_namelen;
	}
	msg->msg_controllen = m->msg_controllen;
	msg->msg_flags = m->msg_flags;
	return n;
}

/* The SOCKS header of a relayed datagram of n bytes in m's buffers: its
 * length (payload from there on), or 0 if malformed or fragmented. */
static size_t relayed_header(const struct msghdr *m, size_t n, struct socks5_addr *src)
{
	uint8_t head[SOCKS5_UDP_HEADER_MAX], frag;
	size_t hn = n < sizeof head ? n : sizeof head;
	const uint8_t *h = head;
	if (m->msg_iovlen && m->msg_iov[0].iov_len >= hn)
		h = m->msg_iov[0].iov_base;
	else
		iov_gather(m->msg_iov, m->msg_iovlen, head, hn);
	ssize_t hl = socks5_decode_udp_header(h, hn, &frag, src);
	return hl > 0 && frag == 0 ? (size_t)hl : 0;
}

/* One datagram off fd: the payload if it came through the relay, the datagram
 * as it is if it came direct. Drops what a program must not see.
 *
 * One recvmsg() straight into the program's buffers (the header then dropped
 * from the front with one memmove); buffers too small for any datagram get a
 * spill buffer behind them, so that the payload is never cut by the header's
 * length. With no spill buffer nothing is read beyond what the program asked
 * for, so the fd's identity need not be checked first: if it turns out to be
 * no datagram socket of ours any more, the program gets what it read as is. */
static ssize_t udp_recvmsg(int fd, struct msghdr *msg, int flags)
{
	struct fd_info fi;
	if (flags & MSG_ERRQUEUE)
		return NOT_OURS; /* the kernel's report on a datagram we sent: nothing relayed */
	size_t cap = iov_capacity(msg->msg_iov, msg->msg_iovlen);
	int trusted = cap >= DGRAM_MAX;
	if ((trusted ? fdtable_get_udp_trusted(fd, &fi) : fdtable_get(fd, &fi)) < 0)
		return NOT_OURS;
	if (!fi.assoc && !fi.peerlen)
		return NOT_OURS; /* nothing proxied on it yet */
	struct iovec iov[IOV_MAX];
	uint8_t *spill = NULL;
	ssize_t ret = -1;
	if (!trusted) {
		if ((size_t)msg->msg_iovlen >= IOV_MAX) {
			errno = EMSGSIZE;
		} else if (!(spill = recv_buffer())) {
			errno = ENOMEM;
		} else {
			memcpy(iov, msg->msg_iov, msg->msg_iovlen * sizeof *iov);
			iov[msg->msg_iovlen].iov_base = spill;
			iov[msg->msg_iovlen].iov_len = RECV_BUF;
		}
	}
	while (trusted || spill) {
		struct sockaddr_storage src, from;
		socklen_t fromlen = 0;
		struct msghdr m = *msg;
		m.msg_name = &src;
		m.msg_namelen = sizeof src;
		if (spill) {
			m.msg_iov = iov;
			m.msg_iovlen = msg->msg_iovlen + 1;
		}
		ssize_t n = REAL(recvmsg)(fd, &m, flags);
		if (n < 0) {
			if (trusted && turned_stale(fd, errno))
				ret = NOT_OURS;
			break;
		}
		if (!sock_is_inet_addr((struct sockaddr *)&src, m.msg_namelen) && trusted) {
			fdtable_kind_checked(fd); /* not a datagram from the network: not our socket now */
			ret = as_received(msg, &m, n);
			break;
		}
		size_t hl = 0;
		if (fi.assoc && assoc_is_relay(fi.assoc, (struct sockaddr *)&src, m.msg_namelen)) {
			struct socks5_addr hsrc;
			hl = relayed_header(&m, (size_t)n, &hsrc);
			if (hl)
				fromlen = assoc_reply_source(fi.assoc, fi.assoc->relay.ss_family, &hsrc, &from);
		} else if (!fi.peerlen && (!fi.assoc || is_direct_source(config_get(), &src, m.msg_namelen))) {
			/* Besides the relay, a proxied socket hears only excluded peers, which it reaches direct. */
			memcpy(&from, &src, m.msg_namelen);
			fromlen = m.msg_namelen;
		}
		/* An emulated connected socket hears only its peer, as a connected one would. */
		if (fromlen && fi.peerlen && !endpoint_same((struct sockaddr *)&from, fromlen, (struct sockaddr *)&fi.peer, fi.peerlen))
			fromlen = 0;
		if (!fromlen) {
			if (trusted && fdtable_kind_checked(fd) == FD_UNMANAGED) { /* a new socket on the old number */
				ret = as_received(msg, &m, n);
				break;
			}
			log_debug("fd %d: dropped a datagram of %zd bytes (not from the relay or the peer, or malformed)",
				  fd, n);
			if (flags & MSG_PEEK) {
				char c;
				REAL(recv)(fd, &c, 1, MSG_DONTWAIT); /* consume what we peeked at */
			}
			continue;
		}
		size_t plen = (size_t)n - hl;
		iov_drop_front(m.msg_iov, m.msg_iovlen, hl, (size_t)n);
		if (msg->msg_name) {
			memcpy(msg->msg_name, &from, fromlen < msg->msg_namelen ? fromlen : msg->msg_namelen);
			msg->msg_namelen = fromlen;
		}
		msg->msg_controllen = m.msg_controllen;
		msg->msg_flags = (m.msg_flags & ~MSG_TRUNC) | (plen > cap || (m.msg_flags & MSG_TRUNC) ? MSG_TRUNC : 0);
		ret = (ssize_t)((flags & MSG_TRUNC) || plen < cap ? plen : cap);
		break;
	}
	if (fi.assoc)
		assoc_unref(fi.assoc);
	return ret;
}

/* Whether a send on fd is ours: a datagram socket (remembered after the first
 * look), or a TCP Fast Open connect in disguise. */
enum send_route { ROUTE_PASS, ROUTE_UDP, ROUTE_TFO };

static enum send_route send_route(int fd, const struct sockaddr *addr, socklen_t alen, int flags)
{
	int domain;
	enum fd_kind k = fdtable_kind(fd);
	if ((k == FD_UDP || k == FD_UDP_PROXIED) && (flags & MSG_FASTOPEN))
		k = fdtable_kind_checked(fd); /* a Fast Open connect on a reused number must not pass as a datagram */
	if (k == FD_UDP || k == FD_UDP_PROXIED)
		return ROUTE_UDP; /* udp_sendmsg copes with a stale entry */
	if (!sock_is_inet_addr(addr, alen))
		return ROUTE_PASS;
	/* An address on a socket we think is something else: make sure it still is. */
	if (k != FD_UNMANAGED && fdtable_kind_checked(fd) != FD_UNMANAGED)
		return ROUTE_PASS;
	switch (sock_inet_type(fd, &domain)) {
	case SOCK_DGRAM:
		fdtable_set_udp(fd, NULL, 0);
		return ROUTE_UDP;
	case SOCK_STREAM:
		return (flags & MSG_FASTOPEN) && is_proxied_dest(config_get(), addr, alen) ? ROUTE_TFO : ROUTE_PASS;
	}
	return ROUTE_PASS;
}

/* sendto(MSG_FASTOPEN) connects as it sends: connect through the proxy, then send. */
static ssize_t tfo_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	int domain;
	sock_inet_type(fd, &domain);
	if (tcp_connect(fd, domain, msg->msg_name, msg->msg_namelen) < 0 && errno != EISCONN)
		return -1;
	struct msghdr m = *msg;
	m.msg_name = NULL;
	m.msg_namelen = 0;
	return REAL(sendmsg)(fd, &m, flags & ~MSG_FASTOPEN);
}

/* Every send: the datagram path, the TFO path, or the program's own call. */
static ssize_t routed_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	ssize_t n = NOT_OURS;
	switch (send_route(fd, msg->msg_name, msg->msg_namelen, flags)) {
	case ROUTE_UDP:
		n = udp_sendmsg(fd, msg, flags);
		break;
	case ROUTE_TFO:
		n = tfo_sendmsg(fd, msg, flags);
		break;
	case ROUTE_PASS:
		break;
	}
	return n;
}

/* A proxied TCP socket whose non-blocking connect is still in its handshake
 * (async.c): the program's read or write waits for the end, or says EAGAIN. */
static int handshake_pending(int fd)
{
	return async_active() && fdtable_kind(fd) == FD_TCP_PROXIED && async_io_ready(fd) < 0;
}

EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	if (handshake_pending(fd))
		return -1;
	if (fdtable_kind(fd) == FD_UNMANAGED && (!msg || !msg->msg_name))
		return REAL(sendmsg)(fd, msg, flags);
	ssize_t n = routed_sendmsg(fd, msg, flags);
	return n == NOT_OURS ? REAL(sendmsg)(fd, msg, flags) : n;
}

EXPORT ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *addr, socklen_t alen)
{
	if (handshake_pending(fd))
		return -1;
	if (fdtable_kind(fd) == FD_UNMANAGED && !addr)
		return REAL(sendto)(fd, buf, len, flags, addr, alen);
	struct iovec iov = { (void *)buf, len };
	struct msghdr m = { .msg_name = (void *)addr, .msg_namelen = alen, .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n = routed_sendmsg(fd, &m, flags);
	return n == NOT_OURS ? REAL(sendto)(fd, buf, len, flags, addr, alen) : n;
}

/* send() and write() without an address: ours only on an emulated connected socket. */
EXPORT ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	if (handshake_pending(fd))
		return -1;
	if (fdtable_kind(fd) != FD_UDP_PROXIED)
		return REAL(send)(fd, buf, len, flags);
	struct iovec iov = { (void *)buf, len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n = udp_sendmsg(fd, &m, flags);
	return n == NOT_OURS ? REAL(send)(fd, buf, len, flags) : n;
}

EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
	if (handshake_pending(fd))
		return -1;
	if (fdtable_kind(fd) != FD_UDP_PROXIED)
		return REAL(write)(fd, buf, len);
	struct iovec iov = { (void *)buf, len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n = udp_sendmsg(fd, &m, 0);
	return n == NOT_OURS ? REAL(write)(fd, buf, len) : n;
}

EXPORT int sendmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags)
{
	if (!vec || !vlen || (fdtable_kind(fd) == FD_UNMANAGED && !vec[0].msg_hdr.msg_name))
		return REAL(sendmmsg)(fd, vec, vlen, flags);
	unsigned int i;
	for (i = 0; i < vlen; i++) {
		ssize_t n = routed_sendmsg(fd, &vec[i].msg_hdr, flags);
		if (n == NOT_OURS)
			n = REAL(sendmsg)(fd, &vec[i].msg_hdr, flags);
		if (n < 0)
			return i ? (int)i : -1;
		vec[i].msg_len = (unsigned int)n;
	}
	return (int)i;
}

EXPORT ssize_t recvmsg(int fd, struct msghdr *msg, int flags)
{
	if (handshake_pending(fd))
		return -1;
	ssize_t n = fdtable_kind(fd) == FD_UDP_PROXIED ? udp_recvmsg(fd, msg, flags) : NOT_OURS;
	return n == NOT_OURS ? REAL(recvmsg)(fd, msg, flags) : n;
}

static ssize_t udp_recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr, socklen_t *alen)
{
	struct iovec iov = { buf, len };
	struct msghdr m = { .msg_name = addr, .msg_namelen = addr && alen ? *alen : 0, .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n = udp_recvmsg(fd, &m, flags);
	if (n >= 0 && addr && alen)
		*alen = m.msg_namelen;
	return n;
}

EXPORT ssize_t recvfrom(int fd, void *buf, size_t len, int flags, struct sockaddr *addr, socklen_t *alen)
{
	if (handshake_pending(fd))
		return -1;
	ssize_t n = fdtable_kind(fd) == FD_UDP_PROXIED ? udp_recvfrom(fd, buf, len, flags, addr, alen) : NOT_OURS;
	return n == NOT_OURS ? REAL(recvfrom)(fd, buf, len, flags, addr, alen) : n;
}

EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	if (handshake_pending(fd))
		return -1;
	ssize_t n = fdtable_kind(fd) == FD_UDP_PROXIED ? udp_recvfrom(fd, buf, len, flags, NULL, NULL) : NOT_OURS;
	return n == NOT_OURS ? REAL(recv)(fd, buf, len, flags) : n;
}

EXPORT ssize_t read(int fd, void *buf, size_t len)
{
	if (handshake_pending(fd))
		return -1;
	ssize_t n = fdtable_kind(fd) == FD_UDP_PROXIED ? udp_recvfrom(fd, buf, len, 0, NULL, NULL) : NOT_OURS;
	return n == NOT_OURS ? REAL(read)(fd, buf, len) : n;
}

EXPORT int recvmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags, struct timespec *timeout)
{
	if (fdtable_kind(fd) != FD_UDP_PROXIED)
		return REAL(recvmmsg)(fd, vec, vlen, flags, timeout);
	/* Stops at the first would-block after one datagram; the timeout is not applied. */
	unsigned int i;
	for (i = 0; i < vlen; i++) {
		int f = flags & ~MSG_WAITFORONE;
		if (i > 0 && (flags & MSG_WAITFORONE))
			f |= MSG_DONTWAIT;
		ssize_t n = udp_recvmsg(fd, &vec[i].msg_hdr, f);
		if (n == NOT_OURS && i == 0)
			return REAL(recvmmsg)(fd, vec, vlen, flags, timeout);
		if (n < 0)
			return i ? (int)i : -1;
		vec[i].msg_len = (unsigned int)n;
	}
	return (int)i;
}
