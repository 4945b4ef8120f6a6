/* tcp.c - connect() on TCP sockets becomes a SOCKS5 CONNECT; getpeername() tells the target. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <unistd.h>

#include "async.h"
#include "bind.h"
#include "config.h"
#include "export.h"
#include "fakedns.h"
#include "fdtable.h"
#include "handshake.h"
#include "log.h"
#include "real.h"
#include "route.h"
#include "sock.h"

/* The proxy's address in the socket's family: an IPv6 socket reaches an IPv4
 * proxy through a v4-mapped address. Returns the length, or 0 if impossible. */
socklen_t proxy_addr_for(int fd, int domain, const struct config *c, struct sockaddr_storage *out)
{
	const struct sockaddr *p = (const struct sockaddr *)&c->proxy_addr;
	if (p->sa_family == domain) {
		memcpy(out, &c->proxy_addr, c->proxy_addrlen);
		return c->proxy_addrlen;
	}
	if (domain != AF_INET6)
		return 0;
	const struct sockaddr_in *p4 = (const struct sockaddr_in *)p;
	struct sockaddr_in6 *m = (struct sockaddr_in6 *)out;
	memset(m, 0, sizeof *m);
	m->sin6_family = AF_INET6;
	m->sin6_port = p4->sin_port;
	m->sin6_addr.s6_addr[10] = m->sin6_addr.s6_addr[11] = 0xff;
	memcpy(&m->sin6_addr.s6_addr[12], &p4->sin_addr, 4);
	int off = 0; /* an unconnected socket may still drop IPV6_V6ONLY */
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
	return sizeof *m;
}

/* An IPv4 socket cannot reach an IPv6 proxy: put a socket of the proxy's
 * family in its place, keeping the flags and options programs commonly set. */
static int replace_socket(int fd, int family)
{
	static const struct { int level, name; } opts[] = {
		{ SOL_SOCKET, SO_KEEPALIVE }, { SOL_SOCKET, SO_RCVBUF }, { SOL_SOCKET, SO_SNDBUF },
		{ IPPROTO_TCP, TCP_NODELAY }, { SOL_SOCKET, SO_OOBINLINE },
	};
	int fdflags = REAL(fcntl)(fd, F_GETFD), flflags = REAL(fcntl)(fd, F_GETFL);
	int s = socket(family, SOCK_STREAM, 0);
	if (s < 0 || fdflags < 0 || flflags < 0)
		goto fail;
	for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++) {
		int v;
		socklen_t vl = sizeof v;
		if (REAL(getsockopt)(fd, opts[i].level, opts[i].name, &v, &vl) == 0)
			setsockopt(s, opts[i].level, opts[i].name, &v, vl);
	}
	REAL(fcntl)(s, F_SETFL, flflags);
	if (REAL(dup3)(s, fd, (fdflags & FD_CLOEXEC) ? O_CLOEXEC : 0) < 0)
		goto fail;
	REAL(close)(s);
	return 0;
fail:
	if (s >= 0)
		REAL(close)(s);
	return -1;
}

static int connect_blocking(int fd, int flags, struct handshake *hs, const char *tname, long long deadline,
			    const struct sockaddr *addr, socklen_t len);

/* Returns 0 or the errno for the program (EINPROGRESS: a non-blocking socket's handshake goes on). */
static int connect_via_proxy(int fd, int domain, const struct sockaddr *addr, socklen_t len,
			     const struct config *c)
{
	struct socks5_addr target;
	char tname[300], name[256];
	socks5_addr_from_sockaddr(&target, addr, len);
	int fake = fakedns_lookup(&target, name);
	if (fake > 0)
		socks5_addr_set_domain(&target, name, target.port);
	socks5_addr_format(&target, tname, sizeof tname);
	if (fake < 0) {
		log_error("connect to %s refused: no name stands behind this fake address (stale, or from another run)",
			  tname);
		return EHOSTUNREACH;
	}
	if (!c->proxy_ok) {
		log_error("connect to %s refused: no usable proxy (see the SOCKSIFY_PROXY or SOCKSIFY_ROUTE error above)", tname);
		return ECONNREFUSED;
	}

	struct sockaddr_storage proxy;
	socklen_t plen = proxy_addr_for(fd, domain, c, &proxy);
	if (!plen) {
		if (replace_socket(fd, c->proxy_addr.ss_family) < 0) {
			log_error("connect to %s: cannot open a socket to reach the proxy: %s", tname, strerror(errno));
			return ECONNREFUSED;
		}
		plen = proxy_addr_for(fd, c->proxy_addr.ss_family, c, &proxy);
	}

	struct handshake hs;
	long long deadline = monotonic_ms() + c->timeout_ms;
	handshake_init(&hs, c, (struct sockaddr *)&proxy, plen, SOCKS5_CMD_CONNECT, &target);
	int flags = REAL(fcntl)(fd, F_GETFL);
	if (flags >= 0 && (flags & O_NONBLOCK)) {
		/* The program waits in poll/select/epoll, which finish the handshake (async.c). */
		fdtable_set_proxied(fd, addr, len);
		int err = async_start(fd, &hs, tname, deadline);
		if (err && err != EINPROGRESS)
			fdtable_forget(fd);
		if (err != ENOMEM)
			return err;
	}
	return connect_blocking(fd, flags, &hs, tname, deadline, addr, len);
}

/* The handshake inside connect(): a blocking socket waits as for a direct connect. */
static int connect_blocking(int fd, int flags, struct handshake *hs, const char *tname, long long deadline,
			    const struct sockaddr *addr, socklen_t len)
{
	const struct config *c = hs->cfg;
	if (flags >= 0 && !(flags & O_NONBLOCK))
		REAL(fcntl)(fd, F_SETFL, flags | O_NONBLOCK);
	int err = handshake_run(hs, fd, deadline);
	if (err && hs->stalled) {
		log_info("connect to %s: %s; retrying without pipelining", tname, hs->why);
		handshake_restart(hs, fd);
		err = handshake_run(hs, fd, deadline);
	}
	if (flags >= 0 && !(flags & O_NONBLOCK))
		REAL(fcntl)(fd, F_SETFL, flags);

	if (err) {
		log_error("connect to %s via %s failed: %s", tname, c->proxy_text, hs->why);
		handshake_dissolve(fd); /* the socket can be used again, as after a failed connect */
		return err;
	}
	fdtable_set_proxied(fd, addr, len);
	bind_note_local(fd, &hs->bound);
	log_info("connect to %s via %s: ok", tname, c->proxy_text);
	return 0;
}

int sock_is_inet_addr(const struct sockaddr *sa, socklen_t len)
{
	return sa && ((sa->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) ||
		      (sa->sa_family == AF_INET6 && len >= sizeof(struct sockaddr_in6) - 4));
}

int sock_inet_type(int fd, int *domain)
{
	int saved = errno, type = 0;
	socklen_t tl = sizeof type, dl = sizeof *domain;
	if (REAL(getsockopt)(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 ||
	    REAL(getsockopt)(fd, SOL_SOCKET, SO_DOMAIN, domain, &dl) < 0 || (*domain != AF_INET && *domain != AF_INET6))
		type = 0;
	errno = saved;
	return type == SOCK_STREAM || type == SOCK_DGRAM ? type : 0;
}

/* SOCKSIFY_ROUTE: the settings a connection to addr goes with (a fake address's by
 * its name), or NULL for direct; NULL with *err set when it can go nowhere. */
static const struct config *tcp_route(const struct config *c, const struct sockaddr *addr, socklen_t len, int *err)
{
	struct socks5_addr target;
	char name[256];
	int index, fake = 0;
	*err = 0;
	if (fakedns_is_fake_sockaddr(addr)) {
		socks5_addr_from_sockaddr(&target, addr, len);
		fake = fakedns_lookup(&target, name);
		if (fake <= 0)
			return c; /* connect_via_proxy refuses a stale fake address */
	}
	const struct config *rc = route_choose(c, addr, fake ? name : NULL, &index);
	if (!rc && fake) { /* a name routed direct is resolved locally; this one was not */
		log_error("connect to %s refused: route %d (%s) says direct, but the name has no real address here",
			  name, index + 1, route_dests(c, index));
		*err = EHOSTUNREACH;
	}
	return rc;
}

int tcp_connect(int fd, int domain, const struct sockaddr *addr, socklen_t len)
{
	int saved = errno;
	const struct config *c = config_get();
	int again = async_active() ? async_connect_again(fd) : -1;
	if (again >= 0) {
		errno = again;
		return -1;
	}
	/* A fake address means a name: it can only be reached through the proxy. */
	if (fdtable_kind_checked(fd) != FD_UNMANAGED || (!fakedns_is_fake_sockaddr(addr) && config_is_direct(c, addr, len)))
		return REAL(connect)(fd, addr, len);
	int err;
	if (c->routes && !(c = tcp_route(c, addr, len, &err))) {
		if (!err)
			return REAL(connect)(fd, addr, len);
		errno = err;
		return -1;
	}
	err = connect_via_proxy(fd, domain, addr, len, c);
	errno = err ? err : saved;
	return err ? -1 : 0;
}

/* Stream and datagram sockets of the inet families are ours; everything else passes through. */
EXPORT int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	int domain = 0;
	if (sock_is_inet_addr(addr, len)) {
		switch (sock_inet_type(fd, &domain)) {
		case SOCK_STREAM:
			return tcp_connect(fd, domain, addr, len);
		case SOCK_DGRAM:
			return udp_connect(fd, domain, addr, len);
		}
	} else if (addr && len >= sizeof(sa_family_t) && addr->sa_family == AF_UNSPEC &&
		   fdtable_kind(fd) != FD_UNMANAGED) {
		if (sock_inet_type(fd, &domain) == SOCK_DGRAM)
			return udp_connect(fd, domain, addr, len); /* dissolves the emulated peer */
		fdtable_forget(fd); /* disconnected: the next connect() is a new one, proxied again */
	}
	return REAL(connect)(fd, addr, len);
}

EXPORT int getpeername(int fd, struct sockaddr *addr, socklen_t *len)
{
	if (fdtable_kind(fd) == FD_UNMANAGED || !addr || !len)
		return REAL(getpeername)(fd, addr, len);
	if (fdtable_kind_checked(fd) == FD_BIND_LISTENER) { /* a listener has no peer (bind.c) */
		errno = ENOTCONN;
		return -1;
	}
	if (fdtable_get_peer(fd, addr, len) == 0)
		return 0;
	return REAL(getpeername)(fd, addr, len);
}

/* A pending non-blocking connect reports its outcome here, as the kernel would. */
EXPORT int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	int err;
	if (level == SOL_SOCKET && name == SO_ERROR && val && len && *len >= (socklen_t)sizeof err &&
	    async_active() && async_so_error(fd, &err)) {
		memcpy(val, &err, sizeof err);
		*len = sizeof err;
		return 0;
	}
	return REAL(getsockopt)(fd, level, name, val, len);
}
