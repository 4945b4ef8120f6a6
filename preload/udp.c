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
#include "config.h"
#include "endpoint.h"
#include "export.h"
#include "fakedns.h"
#include "fdtable.h"
#include "log.h"
#include "real.h"
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

static int is_proxied_dest(const struct config *c, const struct sockaddr *sa, socklen_t len)
{
	return fakedns_is_fake_sockaddr(sa) || !config_is_direct(c, sa, len);
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

static ssize_t udp_sendmsg(int fd, const struct msghdr *msg, int flags)
{
	struct fd_info fi;
	int domain;
	if (fdtable_get(fd, &fi) < 0) {
		/* Stale (closed behind our back): if the number is a datagram socket again, it is a new one. */
		if (sock_inet_type(fd, &domain) != SOCK_DGRAM || fdtable_set_udp(fd, NULL, 0) < 0 ||
		    fdtable_get(fd, &fi) < 0)
			return NOT_OURS;
	}
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
	struct iovec iov[IOV_MAX];
	iov[0].iov_base = hdr;
	iov[0].iov_len = (size_t)hl;
	memcpy(iov + 1, msg->msg_iov, msg->msg_iovlen * sizeof *iov);
	struct msghdr m = *msg;
	m.msg_name = &a->relay;
	m.msg_namelen = a->relaylen;
	m.msg_iov = iov;
	m.msg_iovlen = msg->msg_iovlen + 1;
	ssize_t n = REAL(sendmsg)(fd, &m, flags);
	if (n >= 0)
		assoc_note_sent(a, &wire, dest, dlen);
	assoc_unref(a);
	return n < 0 ? n : n - hl;
}

static size_t scatter(const struct msghdr *msg, const uint8_t *data, size_t len)
{
	size_t done = 0;
	for (size_t i = 0; i < (size_t)msg->msg_iovlen && done < len; i++) {
		size_t n = msg->msg_iov[i].iov_len < len - done ? msg->msg_iov[i].iov_len : len - done;
		memcpy(msg->msg_iov[i].iov_base, data + done, n);
		done += n;
	}
	return done;
}

/* One datagram off fd: the payload if it came through the relay, the datagram
 * as it is if it came direct. Drops what a program must not see. */
static ssize_t udp_recvmsg(int fd, struct msghdr *msg, int flags)
{
	struct fd_info fi;
	if (fdtable_get(fd, &fi) < 0 || (!fi.assoc && !fi.peerlen)) {
		if (fi.assoc)
			assoc_unref(fi.assoc);
		return NOT_OURS;
	}
	uint8_t *buf = recv_buffer();
	ssize_t ret = -1;
	if (!buf)
		errno = ENOMEM;
	while (buf) {
		struct sockaddr_storage src, from;
		socklen_t fromlen = 0;
		struct iovec iov = { buf, RECV_BUF };
		struct msghdr m = { .msg_name = &src, .msg_namelen = sizeof src, .msg_iov = &iov, .msg_iovlen = 1,
				    .msg_control = msg->msg_control, .msg_controllen = msg->msg_controllen };
		ssize_t n = REAL(recvmsg)(fd, &m, flags & ~MSG_TRUNC);
		if (n < 0)
			break;
		const uint8_t *payload = buf;
		size_t plen = (size_t)n;
		if (fi.assoc && assoc_is_relay(fi.assoc, (struct sockaddr *)&src, m.msg_namelen)) {
			uint8_t frag;
			struct socks5_addr hsrc;
			ssize_t hl = socks5_decode_udp_header(buf, (size_t)n, &frag, &hsrc);
			if (hl > 0 && frag == 0) {
				payload = buf + hl;
				plen = (size_t)(n - hl);
				fromlen = assoc_reply_source(fi.assoc, fi.assoc->relay.ss_family, &hsrc, &from);
			}
		} else if (!fi.peerlen && (!fi.assoc || is_direct_source(config_get(), &src, m.msg_namelen))) {
			/* Besides the relay, a proxied socket hears only excluded peers, which it reaches direct. */
			memcpy(&from, &src, m.msg_namelen);
			fromlen = m.msg_namelen;
		}
		/* An emulated connected socket hears only its peer, as a connected one would. */
		if (fromlen && fi.peerlen && !endpoint_same((struct sockaddr *)&from, fromlen, (struct sockaddr *)&fi.peer, fi.peerlen))
			fromlen = 0;
		if (!fromlen) {
			log_debug("fd %d: dropped a datagram of %zd bytes (not from the relay or the peer, or malformed)",
				  fd, n);
			if (flags & MSG_PEEK)
				REAL(recv)(fd, buf, 1, MSG_DONTWAIT); /* consume what we peeked at */
			continue;
		}
		size_t copied = scatter(msg, payload, plen);
		if (msg->msg_name) {
			memcpy(msg->msg_name, &from, fromlen < msg->msg_namelen ? fromlen : msg->msg_namelen);
			msg->msg_namelen = fromlen;
		}
		msg->msg_controllen = m.msg_controllen;
		msg->msg_flags = (m.msg_flags & ~MSG_TRUNC) | (copied < plen || (m.msg_flags & MSG_TRUNC) ? MSG_TRUNC : 0);
		ret = (ssize_t)((flags & MSG_TRUNC) ? plen : copied);
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
	if (k == FD_UDP || k == FD_UDP_PROXIED)
		return ROUTE_UDP; /* udp_sendmsg checks the entry is current */
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

EXPORT ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	if (fdtable_kind(fd) == FD_UNMANAGED && (!msg || !msg->msg_name))
		return REAL(sendmsg)(fd, msg, flags);
	ssize_t n = routed_sendmsg(fd, msg, flags);
	return n == NOT_OURS ? REAL(sendmsg)(fd, msg, flags) : n;
}

EXPORT ssize_t sendto(int fd, const void *buf, size_t len, int flags, const struct sockaddr *addr, socklen_t alen)
{
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
	if (fdtable_kind(fd) != FD_UDP_PROXIED)
		return REAL(send)(fd, buf, len, flags);
	struct iovec iov = { (void *)buf, len };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n = udp_sendmsg(fd, &m, flags);
	return n == NOT_OURS ? REAL(send)(fd, buf, len, flags) : n;
}

EXPORT ssize_t write(int fd, const void *buf, size_t len)
{
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
	ssize_t n = fdtable_kind(fd) == FD_UDP_PROXIED ? udp_recvfrom(fd, buf, len, flags, addr, alen) : NOT_OURS;
	return n == NOT_OURS ? REAL(recvfrom)(fd, buf, len, flags, addr, alen) : n;
}

EXPORT ssize_t recv(int fd, void *buf, size_t len, int flags)
{
	ssize_t n = fdtable_kind(fd) == FD_UDP_PROXIED ? udp_recvfrom(fd, buf, len, flags, NULL, NULL) : NOT_OURS;
	return n == NOT_OURS ? REAL(recv)(fd, buf, len, flags) : n;
}

EXPORT ssize_t read(int fd, void *buf, size_t len)
{
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
