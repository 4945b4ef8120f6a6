/* bind.c - with SOCKSIFY_BIND=1, listen() becomes a SOCKS5 BIND (RFC 1928 CMD 0x02);
 * accept()/accept4() hand out the connection the proxy relays; getsockname()
 * tells where the proxy listens for us.
 *
 * listen() opens a BIND session on a socket of its own and, once the first
 * reply names the proxy's listener, dup3()s it onto the program's fd: the fd is
 * then the connection to the proxy, readable exactly when the second reply (the
 * peer) has arrived, so poll/select/epoll need nothing from us. accept() takes
 * that reply, hands the connection out under a new fd number and puts a new
 * BIND session in the fd's place (one connection per BIND): getsockname() then
 * tells the new address. The fd's epoll registrations belong to the file
 * description, which is now the accepted connection's: they move with the fd.
 * A poll() or select() already asleep on fd in another thread keeps watching
 * the old description (the kernel registers once): such a program sees the
 * next session when its wait returns for another reason.
 *
 * DST.ADDR is 0.0.0.0:0 (any peer): the expected peer is often not an address
 * the proxy can check (a name, with remote DNS: socks5d answers REP 08) nor
 * where the data connection comes from (multi-homed servers; Dante then ends
 * the BIND with REP 02, socks5d turns the peer away), and the proxy lets in
 * one connection only. A session that ends without a peer (REP 06, the proxy
 * gone) fails one accept() and is renewed like an accepted one. */
#include "bind.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <string.h>
#include <sys/stat.h>

#include "config.h"
#include "endpoint.h"
#include "export.h"
#include "fdtable.h"
#include "handshake.h"
#include "log.h"
#include "real.h"
#include "sock.h"

/* The epoll registrations of listeners; one lock, held only briefly but for
 * the swap of a listener's session in accept(). */
struct epoll_reg {
	int fd, epfd;
	ino_t ino; /* the listener's socket: a registration belongs to it, not to the number */
	struct epoll_event ev;
};

#define MAX_REGS 256
static struct epoll_reg regs[MAX_REGS];
static size_t nregs;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t fork_once = PTHREAD_ONCE_INIT;

static void fork_prepare(void) { pthread_mutex_lock(&lock); }
static void fork_parent(void) { pthread_mutex_unlock(&lock); }
static void fork_child(void) { pthread_mutex_init(&lock, NULL); }
static void fork_handlers(void) { pthread_atfork(fork_prepare, fork_parent, fork_child); }

static ino_t inode_of(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 ? st.st_ino : 0;
}

/* Locked: removes fd's registrations; with out, keeps those of its socket ino there. */
static size_t regs_take(int fd, ino_t ino, struct epoll_reg *out)
{
	size_t n = 0;
	for (size_t i = 0; i < nregs;) {
		if (regs[i].fd != fd) {
			i++;
			continue;
		}
		if (out && regs[i].ino == ino)
			out[n++] = regs[i];
		regs[i] = regs[--nregs];
	}
	return n;
}

void bind_epoll_noted(int epfd, int op, int fd, const struct epoll_event *ev)
{
	int saved = errno;
	ino_t ino = inode_of(fd);
	pthread_mutex_lock(&lock);
	struct epoll_reg *r = NULL;
	for (size_t i = 0; i < nregs && !r; i++)
		if (regs[i].fd == fd && regs[i].epfd == epfd && regs[i].ino == ino)
			r = &regs[i];
	if (op == EPOLL_CTL_DEL && r) {
		*r = regs[--nregs];
	} else if (op != EPOLL_CTL_DEL && ev) {
		if (!r && nregs < MAX_REGS)
			r = &regs[nregs++];
		if (r)
			*r = (struct epoll_reg){ .fd = fd, .epfd = epfd, .ino = ino, .ev = *ev };
		else
			log_warn("listener fd %d: more than %d epoll registrations of BIND listeners; this one "
				 "stays with the accepted connection", fd, MAX_REGS);
	}
	pthread_mutex_unlock(&lock);
	errno = saved;
}

void bind_forget(int fd)
{
	pthread_mutex_lock(&lock);
	regs_take(fd, 0, NULL);
	pthread_mutex_unlock(&lock);
}

static int is_any(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_addr.s_addr == 0;
	return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

/* BND of the first reply as the program should advertise it: a wildcard or a
 * name (some servers) stands for the proxy's own address. */
static socklen_t bound_address(const struct socks5_addr *bnd, const struct config *c, int family,
			       struct sockaddr_storage *out)
{
	int len = socks5_addr_to_sockaddr(bnd, (struct sockaddr *)out, sizeof *out);
	if (len < 0 || is_any(out)) {
		memcpy(out, &c->proxy_addr, c->proxy_addrlen);
		len = (int)c->proxy_addrlen;
		if (out->ss_family == AF_INET)
			((struct sockaddr_in *)out)->sin_port = htons(bnd->port);
		else
			((struct sockaddr_in6 *)out)->sin6_port = htons(bnd->port);
	}
	return (socklen_t)endpoint_in_family(out, (socklen_t)len, family);
}

static void format_addr(const struct sockaddr_storage *ss, socklen_t len, char *buf, size_t cap)
{
	struct socks5_addr a;
	if (socks5_addr_from_sockaddr(&a, (const struct sockaddr *)ss, len) < 0)
		snprintf(buf, cap, "?");
	else
		socks5_addr_format(&a, buf, cap);
}

/* A new BIND session: a connection to the proxy whose first reply is in, in
 * the program's socket family (what getsockname() and accept() tell must fit
 * it). Returns the socket with *bnd set, or -errno (logged). */
static int bind_open(int domain, const struct config *c, struct sockaddr_storage *bnd, socklen_t *bndlen)
{
	static const struct socks5_addr any_peer = { .atyp = SOCKS5_ATYP_IPV4 };
	struct sockaddr_storage proxy;
	int s = socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	socklen_t plen = s >= 0 ? proxy_addr_for(s, domain, c, &proxy) : 0;
	if (s >= 0 && !plen) { /* an IPv4 socket cannot tell an IPv6 proxy's address */
		REAL(close)(s);
		log_error("listen: an IPv4 socket cannot listen through the IPv6 proxy %s (use an IPv6 socket)",
			  c->proxy_text);
		return -EAFNOSUPPORT;
	}
	if (s < 0) {
		int err = errno;
		log_error("listen: cannot open a socket to reach the proxy: %s", strerror(err));
		return -err;
	}
	struct handshake hs;
	handshake_init(&hs, c, (struct sockaddr *)&proxy, plen, SOCKS5_CMD_BIND, &any_peer);
	int err = handshake_run(&hs, s, monotonic_ms() + c->timeout_ms);
	if (err) {
		log_error("listen: BIND via %s failed: %s", c->proxy_text, hs.why);
		REAL(close)(s);
		return -err;
	}
	*bndlen = bound_address(&hs.bound, c, domain, bnd);
	if (bnd->ss_family != domain) {
		log_error("listen: the proxy %s listens on an IPv6 address, which an IPv4 socket cannot tell",
			  c->proxy_text);
		REAL(close)(s);
		return -EAFNOSUPPORT;
	}
	if (log_get_level() >= LOG_LVL_INFO) {
		char name[300];
		format_addr(bnd, *bndlen, name, sizeof name);
		log_info("listen: BIND via %s: the proxy listens on %s", c->proxy_text, name);
	}
	return s;
}

/* Puts the session s in fd's place, keeping fd's blocking mode and close-on-exec. */
static int bind_install(int s, int fd, const struct sockaddr_storage *bnd, socklen_t bndlen)
{
	int fl = REAL(fcntl)(fd, F_GETFL), fdfl = REAL(fcntl)(fd, F_GETFD);
	REAL(fcntl)(s, F_SETFL, fl >= 0 && (fl & O_NONBLOCK) ? O_NONBLOCK : 0);
	int r = REAL(dup3)(s, fd, fdfl >= 0 && (fdfl & FD_CLOEXEC) ? O_CLOEXEC : 0);
	int err = errno;
	REAL(close)(s);
	if (r < 0)
		return -err;
	fdtable_set_bind(fd, (const struct sockaddr *)bnd, bndlen);
	return 0;
}

static int bind_listen(int fd, int domain, const struct config *c)
{
	struct sockaddr_storage bnd;
	socklen_t bndlen = 0;
	if (!c->proxy_ok) {
		log_error("listen refused: no usable proxy for a BIND (see the SOCKSIFY_PROXY or SOCKSIFY_ROUTE error above)");
		return -ECONNREFUSED;
	}
	pthread_once(&fork_once, fork_handlers);
	int s = bind_open(domain, c, &bnd, &bndlen);
	if (s < 0)
		return s;
	pthread_mutex_lock(&lock);
	regs_take(fd, 0, NULL); /* of an earlier socket on this number */
	int err = bind_install(s, fd, &bnd, bndlen);
	pthread_mutex_unlock(&lock);
	return err;
}

/* A TCP inet socket not bound to a SOCKSIFY_NO_PROXY address listens through
 * the proxy when SOCKSIFY_BIND=1; everything else listens here. */
EXPORT int listen(int fd, int backlog)
{
	int domain = 0, saved = errno;
	const struct config *c = config_get();
	enum fd_kind k = c->bind ? fdtable_kind_checked(fd) : FD_UNMANAGED;
	if (k == FD_BIND_LISTENER)
		return 0; /* listening already; the backlog is the proxy's business */
	if (!c->bind || k != FD_UNMANAGED || sock_inet_type(fd, &domain) != SOCK_STREAM)
		return REAL(listen)(fd, backlog);
	struct sockaddr_storage local;
	socklen_t len = sizeof local;
	if (REAL(getsockname)(fd, (struct sockaddr *)&local, &len) < 0 ||
	    config_is_direct(c, (struct sockaddr *)&local, len)) {
		errno = saved;
		return REAL(listen)(fd, backlog);
	}
	int err = bind_listen(fd, domain, c);
	errno = err ? -err : saved;
	return err ? -1 : 0;
}

/* Peeks at the second reply without taking it: 1 (complete, *rep and *peer
 * set, *size its length), 0 (not yet; *size the bytes of it there are), or
 * -errno (the session ended). */
static int peek_reply(int fd, uint8_t *rep, struct socks5_addr *peer, size_t *size)
{
	*size = 0;
	uint8_t buf[SOCKS5_REQUEST_MAX];
	ssize_t n = REAL(recv)(fd, buf, sizeof buf, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -ECONNABORTED;
	if (n == 0)
		return -ECONNABORTED;
	ssize_t m = socks5_decode_reply(buf, (size_t)n, rep, peer);
	if (m == SOCKS5_SHORT) {
		*size = (size_t)n;
		return 0;
	}
	if (m < 0)
		return -EPROTO;
	*size = (size_t)m;
	return 1;
}

static void copy_addr(const struct sockaddr_storage *ss, socklen_t sslen, struct sockaddr *addr, socklen_t *len)
{
	if (!addr || !len)
		return;
	memcpy(addr, ss, *len < sslen ? *len : sslen);
	*len = sslen;
}

/* Locked: the next session in fd's place, the fd's epoll registrations moved
 * to it. Without one (proxy gone), fd becomes a socket that listens nowhere:
 * accept() says EINVAL, poll() says HUP. */
static void bind_renew(int fd, const struct config *c)
{
	struct epoll_reg moved[MAX_REGS];
	struct sockaddr_storage bnd;
	socklen_t bndlen = 0;
	int domain = AF_INET;
	sock_inet_type(fd, &domain);
	size_t n = regs_take(fd, inode_of(fd), moved);
	for (size_t i = 0; i < n; i++) /* while fd is still the old session's connection */
		REAL(epoll_ctl)(moved[i].epfd, EPOLL_CTL_DEL, fd, NULL);
	int s = bind_open(domain, c, &bnd, &bndlen);
	if (s < 0 || bind_install(s, fd, &bnd, bndlen) < 0) {
		log_error("accept: fd %d listens no more: no new BIND for it", fd);
		int dead = socket(domain, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (dead >= 0) {
			int fdfl = REAL(fcntl)(fd, F_GETFD);
			REAL(dup3)(dead, fd, fdfl >= 0 && (fdfl & FD_CLOEXEC) ? O_CLOEXEC : 0);
			REAL(close)(dead);
		}
		fdtable_forget(fd);
	}
	int listening = fdtable_kind(fd) == FD_BIND_LISTENER;
	ino_t ino = inode_of(fd);
	for (size_t i = 0; i < n; i++) {
		if (REAL(epoll_ctl)(moved[i].epfd, EPOLL_CTL_ADD, fd, &moved[i].ev) == 0 && listening) {
			moved[i].ino = ino;
			regs[nregs++] = moved[i];
		}
	}
}

/* Locked, the second reply complete and successful: the connection leaves
 * under a new number. Returns it, or -errno (nothing taken: try again). */
static int hand_out(int fd, int flags, size_t size, const struct socks5_addr *peer, struct sockaddr *addr,
		    socklen_t *len, const struct config *c)
{
	uint8_t skip[SOCKS5_REQUEST_MAX];
	int domain = 0;
	sock_inet_type(fd, &domain);
	int conn = REAL(fcntl)(fd, flags & SOCK_CLOEXEC ? F_DUPFD_CLOEXEC : F_DUPFD, 0);
	if (conn < 0)
		return -errno;
	if (REAL(recv)(conn, skip, size, MSG_DONTWAIT) != (ssize_t)size) {
		REAL(close)(conn);
		return -ECONNABORTED;
	}
	struct fd_info listener; /* where the peer came to, before the next session replaces it */
	int have_bnd = fdtable_get(fd, &listener) == 0 && listener.locallen;
	bind_renew(fd, c);
	REAL(fcntl)(conn, F_SETFL, flags & SOCK_NONBLOCK ? O_NONBLOCK : 0);

	struct sockaddr_storage ss;
	int sl = socks5_addr_to_sockaddr(peer, (struct sockaddr *)&ss, sizeof ss);
	if (sl < 0) { /* a name: nothing better to tell */
		memset(&ss, 0, sizeof ss);
		ss.ss_family = AF_INET;
		sl = sizeof(struct sockaddr_in);
	}
	socklen_t sslen = (socklen_t)endpoint_in_family(&ss, (socklen_t)sl, domain);
	fdtable_set_proxied(conn, (struct sockaddr *)&ss, sslen);
	if (have_bnd) /* the connection came to the proxy's listener */
		fdtable_set_local(conn, (struct sockaddr *)&listener.local, listener.locallen);
	copy_addr(&ss, sslen, addr, len);
	if (log_get_level() >= LOG_LVL_INFO) {
		char name[300];
		socks5_addr_format(peer, name, sizeof name);
		log_info("accept: %s connected through the proxy's BIND", name);
	}
	return conn;
}

/* A blocking accept() looks again this often: another thread's accept() may
 * have put a new session in fd's place, and a poll() asleep on the old one
 * would not see the new one's peer (the kernel watches what it first found). */
#define RECHECK_MS 250

/* The session ended without a peer: says why, returns the errno for accept(). */
static int session_ended(int fd, int r, uint8_t rep, size_t size, const struct config *c)
{
	uint8_t skip[SOCKS5_REQUEST_MAX];
	if (r > 0) {
		REAL(recv)(fd, skip, size, MSG_DONTWAIT);
		log_error("accept: the BIND via %s ended: %s (REP %u)", c->proxy_text, socks5_rep_str(rep), rep);
		return socks5_rep_to_errno(rep);
	}
	log_error("accept: the BIND via %s ended: %s", c->proxy_text,
		  r == -EPROTO ? "malformed second reply" : "the proxy closed the connection");
	return ECONNABORTED;
}

static int bind_accept(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	const struct config *c = config_get();
	uint8_t rep = 0;
	struct socks5_addr peer;
	size_t size = 0;
	if (flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC))
		return -EINVAL;
	for (;;) {
		pthread_mutex_lock(&lock);
		if (fdtable_kind_checked(fd) != FD_BIND_LISTENER) { /* no BIND listener any more */
			pthread_mutex_unlock(&lock);
			int r = REAL(accept4)(fd, addr, len, flags);
			return r < 0 ? -errno : r;
		}
		int r = peek_reply(fd, &rep, &peer, &size);
		if (r > 0 && rep == SOCKS5_REP_SUCCEEDED) {
			int conn = hand_out(fd, flags, size, &peer, addr, len, c);
			pthread_mutex_unlock(&lock);
			return conn;
		}
		if (r != 0) { /* the proxy gave up (REP 06: nobody came in time), or went away */
			int err = session_ended(fd, r, rep, size, c);
			bind_renew(fd, c); /* the program may go on listening, at a new address */
			pthread_mutex_unlock(&lock);
			return -err;
		}
		pthread_mutex_unlock(&lock);
		int fl = REAL(fcntl)(fd, F_GETFL);
		if (fl < 0 || (fl & O_NONBLOCK))
			return -EAGAIN;
		/* Blocking: wait for the reply, or for the rest of one that came in parts. */
		uint8_t more[SOCKS5_REQUEST_MAX];
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int w = size ? (int)REAL(recv)(fd, more, size + 1, MSG_PEEK | MSG_WAITALL)
			     : REAL(poll)(&p, 1, RECHECK_MS);
		if (w < 0 && errno == EINTR)
			return -EINTR; /* as a blocking accept() interrupted by a signal */
	}
}

EXPORT int accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
	if (fdtable_kind(fd) != FD_BIND_LISTENER)
		return REAL(accept4)(fd, addr, len, flags);
	int saved = errno, r = bind_accept(fd, addr, len, flags);
	errno = r < 0 ? -r : saved;
	return r < 0 ? -1 : r;
}

EXPORT int accept(int fd, struct sockaddr *addr, socklen_t *len)
{
	if (fdtable_kind(fd) != FD_BIND_LISTENER)
		return REAL(accept)(fd, addr, len);
	int saved = errno, r = bind_accept(fd, addr, len, 0);
	errno = r < 0 ? -r : saved;
	return r < 0 ? -1 : r;
}

void bind_note_local(int fd, const struct socks5_addr *bnd)
{
	struct sockaddr_storage ss;
	int domain = 0, saved = errno;
	if (!config_get()->bind || !sock_inet_type(fd, &domain))
		return;
	int len = socks5_addr_to_sockaddr(bnd, (struct sockaddr *)&ss, sizeof ss);
	/* BND, unless a wildcard or an IPv6 address an IPv4 socket cannot hold: the socket's own then */
	if (len > 0 && !is_any(&ss) && !(domain == AF_INET && ss.ss_family == AF_INET6))
		fdtable_set_local(fd, (struct sockaddr *)&ss, (socklen_t)endpoint_in_family(&ss, (socklen_t)len, domain));
	errno = saved;
}

/* A BIND listener is where the proxy listens for it; with SOCKSIFY_BIND=1 a
 * proxied connection is where the proxy connected from. */
EXPORT int getsockname(int fd, struct sockaddr *addr, socklen_t *len)
{
	struct fd_info fi;
	enum fd_kind k = fdtable_kind(fd);
	if ((k != FD_BIND_LISTENER && k != FD_TCP_PROXIED) || !addr || !len || fdtable_get(fd, &fi) < 0 ||
	    !fi.locallen)
		return REAL(getsockname)(fd, addr, len);
	copy_addr((struct sockaddr_storage *)&fi.local, fi.locallen, addr, len);
	return 0;
}
