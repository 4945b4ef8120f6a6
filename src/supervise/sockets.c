/* sockets.c - what the program's connect(), sends and getpeername() on inet sockets become.
 *
 * The rule that makes the supervisor safe against a program that changes its own memory
 * under us (TOCTOU): for an inet socket it never answers CONTINUE after looking at an
 * address in the program's memory, since the kernel would read that memory again. It acts
 * on its own copy instead, on its own duplicate of the program's socket (pidfd_getfd):
 *  - TCP connect: connects that same socket (same open file: options, bind, O_NONBLOCK,
 *    epoll registrations are kept) to the proxy and runs the SOCKS5 CONNECT on it; when
 *    the socket's family cannot reach the proxy (an IPv4 socket and an IPv6 proxy, or an
 *    IPV6_V6ONLY socket and an IPv4 one) it makes a new socket and installs it over the
 *    program's fd with SECCOMP_IOCTL_NOTIF_ADDFD (options set before connect are lost).
 *    Destinations in SOCKSIFY_NO_PROXY and the proxy itself: connected by us, directly.
 *  - UDP connect to port 53 (Go's and glibc's resolvers): connected by us to the loopback
 *    responder (dns.c); to SOCKSIFY_NO_PROXY: connected by us; anything else: connected by us
 *    to the peer's loopback stand-in of the socket's UDP association (udp.c).
 *  - sendto/sendmsg/sendmmsg on UDP: sent by us from our copy of payload, address and
 *    control data, to the socket's peer (vetted at connect), SOCKSIFY_NO_PROXY or the
 *    proxy's host; anything else through the socket's UDP association (udp.c; port 53: see
 *    README, musl).
 * CONTINUE is used only where the kernel cannot send anything off the host whatever the
 * memory says: a non-inet socket, TCP sends without MSG_FASTOPEN (TCP ignores the address),
 * getpeername of a socket that is not ours, recvfrom on a socket that is not ours. */
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <netinet/udp.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "endpoint.h"
#include "log.h"
#include "route.h"
#include "supervise.h"

#ifndef IPPROTO_MPTCP
#define IPPROTO_MPTCP 262
#endif
#define MAX_DATAGRAM 65535
#define MAX_MMSG 1024 /* UIO_MAXIOV: the kernel's own limit for vlen and iovlen */
#define SIN6_LEN_RFC2133 24 /* a sockaddr_in6 without sin6_scope_id: the kernel takes it */

static int is_tcp(const struct call *c)
{
	return c->type == SOCK_STREAM && (c->protocol == IPPROTO_TCP || c->protocol == IPPROTO_MPTCP);
}

static int is_udp(const struct call *c)
{
	return c->type == SOCK_DGRAM && c->protocol == IPPROTO_UDP;
}

static void finish(struct call *c, int err)
{
	if (err)
		notify_reply_errno(c, err);
	else
		notify_reply_value(c, 0);
	call_free(c);
}

/* Answers a call that was carried out: n >= 0 is its value, else -n its errno; -ESRCH:
 * the program's thread is gone, there is nobody to answer. */
static void finish_value(struct call *c, ssize_t n)
{
	if (n == -ESRCH)
		call_free(c);
	else if (n < 0)
		finish(c, (int)-n);
	else {
		notify_reply_value(c, n);
		call_free(c);
	}
}

int thread_start_detached(void *(*fn)(void *), void *arg, size_t stack)
{
	pthread_attr_t a;
	pthread_t t;
	pthread_attr_init(&a);
	pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&a, stack);
	int rc = pthread_create(&t, &a, fn, arg);
	pthread_attr_destroy(&a);
	return rc;
}

/* Workers: a pool of threads that carry out calls which wait (a handshake, a blocking direct
 * connect). A call never waits for a free worker: when every worker is busy, one more starts
 * (their number is bounded by the program's threads, each blocked in its own call). Idle
 * workers stay for a while, so that a program's next connect does not pay for a new thread. */
#define WORKER_IDLE_SECONDS 30
#define WORKERS_KEPT 4

struct job {
	struct job *next;
	struct call *c;
	void (*fn)(struct call *);
};

static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_wake = PTHREAD_COND_INITIALIZER;
static struct job *queue_head, *queue_tail;
static int pool_idle, pool_queued, pool_threads;

static void *worker_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&pool_lock);
	for (;;) {
		while (!queue_head) {
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += WORKER_IDLE_SECONDS;
			pool_idle++;
			int rc = pthread_cond_timedwait(&pool_wake, &pool_lock, &until);
			pool_idle--;
			if (rc == ETIMEDOUT && !queue_head && pool_threads > WORKERS_KEPT) {
				pool_threads--;
				pthread_mutex_unlock(&pool_lock);
				return NULL;
			}
		}
		struct job *j = queue_head;
		queue_head = j->next;
		if (!queue_head)
			queue_tail = NULL;
		pool_queued--;
		pthread_mutex_unlock(&pool_lock);
		j->fn(j->c);
		free(j);
		pthread_mutex_lock(&pool_lock);
	}
}

void sockets_in_worker(struct call *c, void (*fn)(struct call *))
{
	struct job *j = malloc(sizeof *j);
	if (!j) {
		finish(c, ENOMEM);
		return;
	}
	*j = (struct job){ NULL, c, fn };
	pthread_mutex_lock(&pool_lock);
	if (queue_tail)
		queue_tail->next = j;
	else
		queue_head = j;
	queue_tail = j;
	pool_queued++;
	int start = pool_queued > pool_idle;
	if (!start)
		pthread_cond_signal(&pool_wake);
	else
		pool_threads++;
	pthread_mutex_unlock(&pool_lock);
	if (!start)
		return;
	int rc = thread_start_detached(worker_main, NULL, 256 * 1024);
	if (rc == 0)
		return;
	/* No thread: take the job back if nobody has yet, and fail the call rather than stall it. */
	log_error("cannot start a worker thread: %s", strerror(rc));
	pthread_mutex_lock(&pool_lock);
	pool_threads--;
	struct job **link = &queue_head, *prev = NULL;
	while (*link && *link != j) {
		prev = *link;
		link = &(*link)->next;
	}
	int taken_back = *link == j;
	if (taken_back) {
		*link = j->next;
		if (queue_tail == j)
			queue_tail = prev;
		pool_queued--;
	}
	pthread_mutex_unlock(&pool_lock);
	if (taken_back) {
		free(j);
		finish(c, EAGAIN);
	}
}

/* Reads the program's sockaddr (at addr, len bytes) into ss. 0, or the errno for the program. */
static int read_sockaddr(const struct call *c, uint64_t addr, uint64_t len, struct sockaddr_storage *ss,
			 socklen_t *sslen)
{
	if (len > sizeof *ss || len < sizeof(sa_family_t))
		return EINVAL;
	memset(ss, 0, sizeof *ss);
	int r = notify_read_mem(c, addr, ss, (size_t)len);
	if (r < 0)
		return -r;
	*sslen = (socklen_t)len;
	if (ss->ss_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
		*sslen = sizeof(struct sockaddr_in);
		return 0;
	}
	/* as the kernel, also the RFC 2133 size (no sin6_scope_id: 0, the memset's) */
	if (ss->ss_family == AF_INET6 && len >= SIN6_LEN_RFC2133) {
		*sslen = sizeof(struct sockaddr_in6);
		return c->family == AF_INET6 ? 0 : EAFNOSUPPORT;
	}
	if (ss->ss_family == AF_UNSPEC)
		return 0;
	return ss->ss_family == AF_INET || ss->ss_family == AF_INET6 ? EINVAL : EAFNOSUPPORT;
}

static uint16_t port_of(const struct sockaddr_storage *ss)
{
	return ntohs(ss->ss_family == AF_INET ? ((const struct sockaddr_in *)ss)->sin_port
					      : ((const struct sockaddr_in6 *)ss)->sin6_port);
}

static int is_direct(const struct sockaddr_storage *ss, socklen_t len)
{
	return proxy_is_direct((const struct sockaddr *)ss, len);
}

/* Datagrams may also go to the proxy's host on any port: that is where a SOCKS5 UDP relay is
 * (the library, preloaded into a dynamic child of the program, sends its datagrams there). */
static int is_direct_udp(const struct sockaddr_storage *ss, socklen_t len)
{
	struct endpoint_key a, p;
	if (is_direct(ss, len))
		return 1;
	return endpoint_key_of((const struct sockaddr *)ss, len, &a) &&
	       endpoint_key_of((const struct sockaddr *)&sup_config.lib->proxy_addr, sup_config.lib->proxy_addrlen,
			       &p) &&
	       memcmp(a.ip, p.ip, sizeof a.ip) == 0;
}

/* SOCKSIFY_ROUTE for a datagram to ss (a fake address: by its name): 0 its route is
 * SOCKSIFY_PROXY's (or none matches), 1 direct, -EOPNOTSUPP another proxy's (logged): a
 * socket has one association, with SOCKSIFY_PROXY, and a datagram never goes through
 * another proxy than its route's, nor direct when it has one. */
static int udp_route(const struct sockaddr_storage *ss, socklen_t len)
{
	const struct config *lib = sup_config.lib;
	struct socks5_addr dst;
	char name[FAKE_NAME_MAX + 1], text[300];
	int route;
	if (!lib->routes)
		return 0;
	socks5_addr_from_sockaddr(&dst, (const struct sockaddr *)ss, len);
	int fake = sup_fake_lookup(&dst, name);
	if (fake < 0)
		return 0; /* stale: refused on the proxied path */
	const struct config *rc = route_choose(lib, (const struct sockaddr *)ss, fake ? name : NULL, &route);
	if (rc == lib)
		return 0;
	if (!rc && !fake)
		return 1;
	if (fake)
		socks5_addr_set_domain(&dst, name, dst.port);
	socks5_addr_format(&dst, text, sizeof text);
	log_error("datagram to %s refused: route %d (%s) sends it %s; UDP goes through SOCKSIFY_PROXY only", text,
		  route + 1, route_dests(lib, route), rc ? "through another proxy" : "direct");
	return -EOPNOTSUPP;
}

/* An address per socket, keyed by the socket's inode (the same whatever fd number or process
 * holds it), direct-mapped: a socket whose slot was taken by a newer one is not found. */
struct inode_slot {
	ino_t ino;
	socklen_t len; /* 0 = empty */
	struct sockaddr_storage sa;
};

struct inode_table {
	pthread_mutex_t lock;
	size_t size;
	struct inode_slot *slot;
};

static void inode_table_remember(struct inode_table *t, int fd, const struct sockaddr_storage *sa, socklen_t len)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return;
	pthread_mutex_lock(&t->lock);
	struct inode_slot *p = &t->slot[st.st_ino % t->size];
	p->ino = st.st_ino;
	p->sa = *sa;
	p->len = len;
	pthread_mutex_unlock(&t->lock);
}

static int inode_table_lookup(struct inode_table *t, int fd, struct sockaddr_storage *sa, socklen_t *len)
{
	struct stat st;
	int found = 0;
	if (fstat(fd, &st) < 0)
		return 0;
	pthread_mutex_lock(&t->lock);
	struct inode_slot *p = &t->slot[st.st_ino % t->size];
	if (p->ino == st.st_ino && p->len) {
		*sa = p->sa;
		*len = p->len;
		found = 1;
	}
	pthread_mutex_unlock(&t->lock);
	return found;
}

static void inode_table_forget(struct inode_table *t, int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return;
	pthread_mutex_lock(&t->lock);
	struct inode_slot *p = &t->slot[st.st_ino % t->size];
	if (p->ino == st.st_ino)
		p->len = 0;
	pthread_mutex_unlock(&t->lock);
}

/* The targets of proxied sockets, for getpeername(): a socket not found (or whose slot was
 * taken by a newer one) gets the kernel's answer, the proxy's address. */
#define PEER_SLOTS 4096
static struct inode_slot peer_slots[PEER_SLOTS];
static struct inode_table peers = { PTHREAD_MUTEX_INITIALIZER, PEER_SLOTS, peer_slots };

/* Unconnected DNS sockets (musl's resolver: sendto() to each nameserver, answers taken only
 * from a nameserver's address): their queries go to the responder, and recvfrom() on them names
 * the nameserver the program asked (the address it sent its last query to) as the source of the
 * responder's answers. */
#define DNS_SOCKET_SLOTS 256
static struct inode_slot dns_socket_slots[DNS_SOCKET_SLOTS];
static struct inode_table dns_sockets = { PTHREAD_MUTEX_INITIALIZER, DNS_SOCKET_SLOTS, dns_socket_slots };

/* The peer of a proxied socket (fd: ours, the program's or the one installed over it), as
 * getpeername() reports it on the socket the program made: an IPv4 one v4-mapped on an IPv6
 * socket, as the kernel does (a socket installed over an IPv4 one is IPv6, the program's was not). */
static void remember_peer(const struct call *c, int fd, const struct sockaddr_storage *sa, socklen_t len)
{
	struct sockaddr_storage shown = *sa;
	len = (socklen_t)endpoint_in_family(&shown, len, c->family);
	inode_table_remember(&peers, fd, &shown, len);
}

static int v6only(int fd)
{
	int on = 0;
	socklen_t l = sizeof on;
	return getsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, &l) == 0 && on;
}

/* The program's own fd does the connect, with the flags it has: exactly what the kernel
 * would have done, on an address that is ours. */
static int connect_as_program(struct call *c, const struct sockaddr *sa, socklen_t len)
{
	return connect(c->fd, sa, len) == 0 ? 0 : errno;
}

struct tcp_job {
	struct sockaddr_storage ss;
	socklen_t len;
};

struct dns_job {
	struct sockaddr_storage ns;
	socklen_t len;
};

static int socket_reaches_proxy(const struct call *c, const struct config *cfg)
{
	int pf = cfg->proxy_addr.ss_family;
	if (c->family == pf)
		return 1;
	return c->family == AF_INET6 && pf == AF_INET && !v6only(c->fd);
}

/* A new socket to the proxy, installed over the program's fd. 0 or an errno; our copy of the
 * socket in *out (the caller closes it) when it was installed. */
static int proxy_on_new_socket(struct call *c, const struct config *cfg, const struct socks5_addr *dst,
			       int64_t deadline, int was_nonblock, int *out)
{
	int s = socket(cfg->proxy_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0)
		return errno;
	int err = proxy_connect_via(cfg, s, dst, deadline);
	if (!err && !was_nonblock)
		fcntl(s, F_SETFL, fcntl(s, F_GETFL) & ~O_NONBLOCK);
	if (!err) {
		int one = 1;
		setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		int cloexec = notify_fd_cloexec(c, (int)c->args[0]);
		int r = notify_addfd(c, s, (int)c->args[0], cloexec == 1);
		if (r < 0)
			err = -r;
	}
	if (err)
		close(s);
	else
		*out = s;
	return err;
}

static void tcp_connect_worker(struct call *c)
{
	struct tcp_job *job = (struct tcp_job *)(c + 1);
	struct socks5_addr dst;
	char name[FAKE_NAME_MAX + 1], text[300];
	int err;
	socks5_addr_from_sockaddr(&dst, (struct sockaddr *)&job->ss, job->len);
	int fake = sup_fake_lookup(&dst, name);
	socks5_addr_format(&dst, text, sizeof text);
	if (fake < 0) {
		log_error("connect to %s: a fake address no name stands behind (stale)", text);
		finish(c, EHOSTUNREACH);
		return;
	}
	if (fake > 0)
		socks5_addr_set_domain(&dst, name, dst.port);
	if (fake == 0 && is_direct(&job->ss, job->len)) {
		err = connect_as_program(c, (struct sockaddr *)&job->ss, job->len);
		log_debug("connect to %s: direct (SOCKSIFY_NO_PROXY): %s", text, err ? strerror(err) : "ok");
		finish(c, err);
		return;
	}
	const struct config *cfg = sup_config.lib;
	if (cfg->routes) { /* SOCKSIFY_ROUTE: a fake address by its name, a real one by itself */
		int route;
		cfg = route_choose(cfg, (struct sockaddr *)&job->ss, fake > 0 ? name : NULL, &route);
		if (!cfg && fake > 0) { /* a name routed direct is resolved here, never faked */
			log_error("connect to %s refused: route %d (%s) says direct, but the name has no real address here",
				  name, route + 1, route_dests(sup_config.lib, route));
			finish(c, EHOSTUNREACH);
			return;
		}
		if (!cfg) {
			err = connect_as_program(c, (struct sockaddr *)&job->ss, job->len);
			log_debug("connect to %s: direct (route %d): %s", text, route + 1, err ? strerror(err) : "ok");
			finish(c, err);
			return;
		}
	}
	socks5_addr_format(&dst, text, sizeof text);
	struct sockaddr_storage peer;
	socklen_t plen = sizeof peer;
	if (getpeername(c->fd, (struct sockaddr *)&peer, &plen) == 0) {
		finish(c, EISCONN); /* connected already (by us): as the kernel says, and left as it is */
		return;
	}
	int64_t deadline = now_ms() + cfg->timeout_ms;
	int new_fd = -1;
	int flags = fcntl(c->fd, F_GETFL);
	int nonblock = flags >= 0 && (flags & O_NONBLOCK);
	if (socket_reaches_proxy(c, cfg)) {
		if (!nonblock)
			fcntl(c->fd, F_SETFL, flags | O_NONBLOCK);
		err = proxy_connect_via(cfg, c->fd, &dst, deadline);
		if (err) { /* disconnected again, as after a failed connect: the program may retry */
			struct sockaddr unspec = { .sa_family = AF_UNSPEC };
			connect(c->fd, &unspec, sizeof unspec);
		}
		if (!nonblock)
			fcntl(c->fd, F_SETFL, flags);
	} else {
		int nfd = -1;
		err = proxy_on_new_socket(c, cfg, &dst, deadline, nonblock, &nfd);
		new_fd = nfd;
	}
	if (!err) { /* a failure was logged by proxy_connect(), with the hop to blame */
		log_info("connect to %s via %s: ok", text, cfg->proxy_text);
		remember_peer(c, new_fd >= 0 ? new_fd : c->fd, &job->ss, job->len);
	}
	if (new_fd >= 0)
		close(new_fd);
	finish(c, err);
}

struct udp_job {
	struct sockaddr_storage ss;
	socklen_t len;
};

/* A UDP connect() to a proxied peer: the program's socket is connected to the peer's loopback
 * stand-in (udp.c), so its plain send()/recv() need no supervisor; getpeername() names the peer. */
static int udp_connect_proxied(struct call *c, const struct sockaddr_storage *ss, socklen_t len, int can_wait)
{
	struct sockaddr_storage standin;
	socklen_t slen = 0;
	int err = udp_connect_peer(c, ss, len, can_wait, &standin, &slen);
	if (err)
		return err;
	err = connect_as_program(c, (struct sockaddr *)&standin, slen);
	if (!err)
		remember_peer(c, c->fd, ss, len);
	return err;
}

static void udp_connect_worker(struct call *c)
{
	struct udp_job *j = (struct udp_job *)(c + 1);
	finish(c, udp_connect_proxied(c, &j->ss, j->len, 1));
}

static void udp_connect(struct call *c, struct sockaddr_storage *ss, socklen_t len)
{
	inode_table_forget(&peers, c->fd); /* whatever it was connected to before */
	if (port_of(ss) == 53) {
		struct sockaddr_storage ra;
		socklen_t ralen;
		if (dns_responder_addr(c->family, SOCK_DGRAM, v6only(c->fd), &ra, &ralen) < 0) {
			finish(c, ENETUNREACH);
			return;
		}
		log_debug("a DNS socket (UDP to port 53) goes to the supervisor's responder");
		finish(c, connect_as_program(c, (struct sockaddr *)&ra, ralen));
		return;
	}
	int route = is_direct_udp(ss, len) ? 1 : udp_route(ss, len);
	if (route < 0) {
		finish(c, -route);
		return;
	}
	if (route) {
		finish(c, connect_as_program(c, (struct sockaddr *)ss, len));
		return;
	}
	int err = udp_connect_proxied(c, ss, len, 0);
	if (err != SUP_MUST_WAIT) {
		finish(c, err);
		return;
	}
	struct call *big = realloc(c, sizeof *c + sizeof(struct udp_job)); /* freed with the call */
	if (!big) {
		finish(c, ENOMEM);
		return;
	}
	c = big;
	struct udp_job *j = (struct udp_job *)(c + 1);
	j->ss = *ss;
	j->len = len;
	sockets_in_worker(c, udp_connect_worker);
}

void sockets_connect(struct call *c)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int err = read_sockaddr(c, c->args[1], c->args[2], &ss, &len);
	if (err == ESRCH) { /* the caller is gone */
		call_free(c);
		return;
	}
	if (err) {
		finish(c, err);
		return;
	}
	if (ss.ss_family == AF_UNSPEC) { /* dissolve an association: nothing is sent */
		inode_table_forget(&peers, c->fd);
		finish(c, connect_as_program(c, (struct sockaddr *)&ss, len));
		return;
	}
	if (is_udp(c)) {
		udp_connect(c, &ss, len);
		return;
	}
	if (!is_tcp(c)) {
		log_error("connect on an inet socket of type %d protocol %d refused: only TCP and UDP", c->type,
			  c->protocol);
		finish(c, EPERM);
		return;
	}
	if (port_of(&ss) == 53) { /* DNS over TCP (a truncated answer): to the responder */
		struct socks5_addr a;
		char name[FAKE_NAME_MAX + 1];
		socks5_addr_from_sockaddr(&a, (struct sockaddr *)&ss, len);
		if (sup_fake_lookup(&a, name) == 0) {
			struct sockaddr_storage ra;
			socklen_t ralen;
			if (dns_responder_addr(c->family, SOCK_STREAM, v6only(c->fd), &ra, &ralen) < 0) {
				finish(c, ENETUNREACH);
				return;
			}
			log_debug("a DNS socket (TCP to port 53) goes to the supervisor's responder");
			finish(c, connect_as_program(c, (struct sockaddr *)&ra, ralen));
			return;
		}
	}
	/* The job rides behind the call, freed with it. */
	struct call *big = realloc(c, sizeof *c + sizeof(struct tcp_job));
	if (!big) {
		finish(c, ENOMEM);
		return;
	}
	c = big;
	struct tcp_job *job = (struct tcp_job *)(c + 1);
	job->ss = ss;
	job->len = len;
	sockets_in_worker(c, tcp_connect_worker);
}

/* One datagram of the program's, copied out of its memory: payload, destination, control. */
#define MAX_CONTROL 1024

struct datagram {
	char data[MAX_DATAGRAM];
	size_t len;
	struct sockaddr_storage name;
	socklen_t namelen; /* 0: the socket's peer */
	_Alignas(struct cmsghdr) char control[MAX_CONTROL]; /* read as cmsghdrs (gso_size) */
	size_t controllen;
};

/* Copies the message m points into (in the program) into d. 0 or -errno for the program. */
static int copy_datagram(const struct call *c, const struct msghdr *m, struct datagram *d)
{
	d->len = 0;
	d->namelen = 0;
	d->controllen = 0;
	if (m->msg_name) {
		int err = read_sockaddr(c, (uintptr_t)m->msg_name, m->msg_namelen, &d->name, &d->namelen);
		if (!err && d->name.ss_family == AF_UNSPEC)
			err = EINVAL;
		if (err)
			return -err;
	}
	if (m->msg_iovlen > MAX_MMSG)
		return -EMSGSIZE;
	if (m->msg_controllen > MAX_CONTROL)
		return -ENOBUFS;
	struct iovec iov[MAX_MMSG];
	int r = notify_read_mem_unchecked(c, (uintptr_t)m->msg_iov, iov, m->msg_iovlen * sizeof *iov);
	for (size_t i = 0; r == 0 && i < m->msg_iovlen; i++) {
		if (iov[i].iov_len > MAX_DATAGRAM - d->len)
			return -EMSGSIZE;
		r = notify_read_mem_unchecked(c, (uintptr_t)iov[i].iov_base, d->data + d->len, iov[i].iov_len);
		d->len += r == 0 ? iov[i].iov_len : 0;
	}
	if (r == 0 && m->msg_controllen) {
		r = notify_read_mem_unchecked(c, (uintptr_t)m->msg_control, d->control, m->msg_controllen);
		d->controllen = m->msg_controllen;
	}
	/* one check for all the reads: they were the caller's memory if it is still waiting */
	return r == 0 && !notify_still_valid(c) ? -ESRCH : r;
}

/* The segment size of a UDP GSO send (UDP_SEGMENT in the control data, else set on the socket):
 * the kernel would send the payload as datagrams of that size (QUIC stacks do this); 0 if none. */
static size_t gso_size(const struct call *c, const struct datagram *d)
{
	struct msghdr m = { .msg_control = (void *)d->control, .msg_controllen = d->controllen };
	for (struct cmsghdr *h = d->controllen ? CMSG_FIRSTHDR(&m) : NULL; h; h = CMSG_NXTHDR(&m, h))
		if (h->cmsg_level == SOL_UDP && h->cmsg_type == UDP_SEGMENT && h->cmsg_len >= CMSG_LEN(sizeof(uint16_t))) {
			uint16_t seg;
			memcpy(&seg, CMSG_DATA(h), sizeof seg);
			return seg;
		}
	int seg = 0;
	socklen_t l = sizeof seg;
	return getsockopt(c->fd, SOL_UDP, UDP_SEGMENT, &seg, &l) == 0 && seg > 0 ? (size_t)seg : 0;
}

/* Whether d's control data holds a source route (IPv4 options, an IPv6 routing header): the
 * kernel would send it by way of the route's first hop, wherever the destination is. */
static int has_source_route(const struct datagram *d)
{
	struct msghdr m = { .msg_control = (void *)d->control, .msg_controllen = d->controllen };
	for (struct cmsghdr *h = d->controllen ? CMSG_FIRSTHDR(&m) : NULL; h; h = CMSG_NXTHDR(&m, h))
		if ((h->cmsg_level == SOL_IP && h->cmsg_type == IP_RETOPTS) ||
		    (h->cmsg_level == SOL_IPV6 && (h->cmsg_type == IPV6_RTHDR || h->cmsg_type == IPV6_2292RTHDR)))
			return 1;
	return 0;
}

/* The deadline of a blocking receive or send on the socket (opt: SO_RCVTIMEO, SO_SNDTIMEO), or -1
 * for none. */
static int64_t timeout_deadline(int fd, int opt)
{
	struct timeval tv;
	socklen_t l = sizeof tv;
	if (getsockopt(fd, SOL_SOCKET, opt, &tv, &l) < 0 || (tv.tv_sec == 0 && tv.tv_usec == 0))
		return -1;
	return now_ms() + (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

/* m sent from the program's socket as the kernel would send it. When its send buffer is full and
 * the program would wait (a blocking socket, no MSG_DONTWAIT), the event loop must not: it gets
 * SUP_MUST_WAIT, and a worker (can_wait) waits for room until SO_SNDTIMEO (EAGAIN, as the kernel)
 * or the caller is gone (-ESRCH). The count, or -errno. */
static ssize_t send_as_program(const struct call *c, const struct msghdr *m, int flags, int can_wait)
{
	ssize_t r = sendmsg(c->fd, m, flags | MSG_DONTWAIT | MSG_NOSIGNAL);
	if (r >= 0 || errno != EAGAIN || (flags & MSG_DONTWAIT))
		return r < 0 ? -errno : r;
	int fl = fcntl(c->fd, F_GETFL);
	if (fl < 0 || (fl & O_NONBLOCK))
		return -EAGAIN;
	if (!can_wait)
		return SUP_MUST_WAIT;
	int64_t deadline = timeout_deadline(c->fd, SO_SNDTIMEO);
	for (;;) {
		int64_t left = deadline < 0 ? 500 : deadline - now_ms();
		if (left <= 0)
			return -EAGAIN;
		struct pollfd p = { .fd = c->fd, .events = POLLOUT };
		if (poll(&p, 1, left < 500 ? (int)left : 500) == 0 && !notify_still_valid(c))
			return -ESRCH; /* the caller is gone */
		r = sendmsg(c->fd, m, flags | MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r >= 0 || errno != EAGAIN)
			return r < 0 ? -errno : r;
	}
}

/* d through the socket's UDP association, one datagram per GSO segment; other control data is
 * not passed on (it would be about our socket to the relay). */
static ssize_t send_proxied(const struct call *c, const struct datagram *d, int can_wait)
{
	size_t seg = gso_size(c, d);
	if (seg == 0 || seg >= d->len)
		return udp_send(c, &d->name, d->namelen, d->data, d->len, can_wait);
	for (size_t off = 0; off < d->len; off += seg) {
		size_t n = d->len - off < seg ? d->len - off : seg;
		ssize_t r = udp_send(c, &d->name, d->namelen, d->data + off, n, can_wait);
		if (r < 0)
			return off ? (ssize_t)off : r; /* SUP_MUST_WAIT comes only before the first */
	}
	return (ssize_t)d->len;
}

/* Sends d: from the program's socket if its destination may be reached directly (the DNS
 * responder, SOCKSIFY_NO_PROXY, the proxy's host), else through the socket's UDP association.
 * Returns the count, -errno or SUP_MUST_WAIT (an association to make, or a full send buffer to wait
 * for). With no name, the socket's peer, set by a connect() the supervisor vetted (a stand-in of
 * the association for a proxied peer). */
static ssize_t send_datagram(const struct call *c, struct datagram *d, int flags, int can_wait)
{
	int route;
	if (d->namelen) {
		if (port_of(&d->name) == 53) {
			struct sockaddr_storage ra;
			socklen_t ralen;
			if (dns_responder_addr(c->family, SOCK_DGRAM, v6only(c->fd), &ra, &ralen) < 0)
				return -ENETUNREACH;
			inode_table_remember(&dns_sockets, c->fd, &d->name, d->namelen);
			log_debug("a DNS query sent to port 53 on an unconnected socket goes to the responder");
			d->name = ra;
			d->namelen = ralen;
		} else if (!is_direct_udp(&d->name, d->namelen) && (route = udp_route(&d->name, d->namelen)) != 1) {
			if (route < 0)
				return route;
			ssize_t n = send_proxied(c, d, can_wait);
			if (n == -EAGAIN && !(flags & MSG_DONTWAIT) && !(fcntl(c->fd, F_GETFL) & O_NONBLOCK))
				n = -ENOBUFS; /* the relay socket is full: what a blocking UDP send may say */
			return n;
		}
	}
	if (has_source_route(d)) {
		log_error("a datagram with a source route in its control data refused (it would leave by way of the route)");
		return -EPERM;
	}
	struct iovec iov = { d->data, d->len };
	struct msghdr m = {
		.msg_name = d->namelen ? &d->name : NULL,
		.msg_namelen = d->namelen,
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = d->controllen ? d->control : NULL,
		.msg_controllen = d->controllen,
	};
	return send_as_program(c, &m, flags, can_wait);
}

/* TCP: the kernel ignores the address; only a Fast Open connect would use it. */
static int tcp_send_passes(struct call *c, int flags)
{
	if (!is_tcp(c))
		return 0;
	if (flags & MSG_FASTOPEN)
		finish(c, EOPNOTSUPP);
	else {
		notify_reply_continue(c);
		call_free(c);
	}
	return 1;
}

/* 1: a UDP send for the supervisor to carry out; 0: the call is answered (TCP, or neither: EPERM). */
static int udp_send_ours(struct call *c, int flags)
{
	if (tcp_send_passes(c, flags))
		return 0;
	if (!is_udp(c)) {
		finish(c, EPERM);
		return 0;
	}
	return 1;
}

/* Runs carry(c, can_wait) now and, when it needs a UDP association made first or must wait for
 * room in a blocking socket's send buffer, again in a worker.
 * Each carry reads the program's memory itself: the worker acts on its own copy. */
static ssize_t sendto_carry(struct call *c, int can_wait);
static ssize_t sendmsg_carry(struct call *c, int can_wait);
static ssize_t sendmmsg_carry(struct call *c, int can_wait);

static void sendto_worker(struct call *c)
{
	finish_value(c, sendto_carry(c, 1));
}

static void sendmsg_worker(struct call *c)
{
	finish_value(c, sendmsg_carry(c, 1));
}

static void sendmmsg_worker(struct call *c)
{
	finish_value(c, sendmmsg_carry(c, 1));
}

static void carry_out(struct call *c, ssize_t (*carry)(struct call *, int), void (*worker)(struct call *))
{
	ssize_t n = carry(c, 0);
	if (n == SUP_MUST_WAIT)
		sockets_in_worker(c, worker);
	else
		finish_value(c, n);
}

static ssize_t sendto_carry(struct call *c, int can_wait)
{
	int flags = (int)c->args[3];
	struct datagram *d = malloc(sizeof *d);
	int r = d ? 0 : -ENOMEM;
	if (r == 0) {
		d->controllen = 0;
		int err = read_sockaddr(c, c->args[4], c->args[5], &d->name, &d->namelen);
		if (!err && d->name.ss_family == AF_UNSPEC)
			err = EINVAL;
		r = -err;
	}
	if (r == 0 && c->args[2] > MAX_DATAGRAM)
		r = -EMSGSIZE;
	if (r == 0) {
		d->len = (size_t)c->args[2];
		r = notify_read_mem(c, c->args[1], d->data, d->len);
	}
	ssize_t n = r == 0 ? send_datagram(c, d, flags, can_wait) : r;
	free(d);
	return n;
}

/* sendto() with an address on UDP: the supervisor sends its copy (directly or through the
 * socket's association), or refuses. */
void sockets_sendto(struct call *c)
{
	if (udp_send_ours(c, (int)c->args[3]))
		carry_out(c, sendto_carry, sendto_worker);
}

static ssize_t sendmsg_carry(struct call *c, int can_wait)
{
	struct msghdr m;
	struct datagram *d = malloc(sizeof *d);
	int r = d ? notify_read_mem_unchecked(c, c->args[1], &m, sizeof m) : -ENOMEM;
	if (r == 0)
		r = copy_datagram(c, &m, d);
	ssize_t n = r == 0 ? send_datagram(c, d, (int)c->args[2], can_wait) : r;
	free(d);
	return n;
}

/* sendmsg() on UDP: carried out by the supervisor from its copy of the message (payload,
 * address, control), also on a connected socket: answering CONTINUE there would let the kernel
 * read msg_name again, which another thread of the program could have set meanwhile. */
void sockets_sendmsg(struct call *c)
{
	if (udp_send_ours(c, (int)c->args[2]))
		carry_out(c, sendmsg_carry, sendmsg_worker);
}

/* Each message as sendmsg(), its msg_len written back; stops at the first failure, as the kernel
 * does (the count so far, or the error when it is the first). A message that needs an
 * association made or must wait for room ends the call there too (a short count: the program
 * sends the rest again), or, the first, sends the call to a worker. */
static ssize_t sendmmsg_carry(struct call *c, int can_wait)
{
	int flags = (int)c->args[3];
	size_t vlen = c->args[2] > MAX_MMSG ? MAX_MMSG : (size_t)c->args[2];
	struct datagram *d = malloc(sizeof *d);
	ssize_t sent = 0, err = d ? 0 : -ENOMEM;
	for (size_t i = 0; !err && i < vlen; i++) {
		struct mmsghdr h;
		uint64_t at = c->args[1] + i * sizeof h;
		ssize_t n = notify_read_mem_unchecked(c, at, &h, sizeof h);
		if (n == 0)
			n = copy_datagram(c, &h.msg_hdr, d);
		if (n == 0)
			n = send_datagram(c, d, flags, can_wait);
		if (n >= 0) {
			unsigned int len = (unsigned int)n;
			n = notify_write_mem(c, at + offsetof(struct mmsghdr, msg_len), &len, sizeof len);
		}
		if (n < 0)
			err = n;
		else
			sent++;
	}
	free(d);
	return sent > 0 && err != -ESRCH ? sent : err;
}

/* sendmmsg() on UDP. */
void sockets_sendmmsg(struct call *c)
{
	if (udp_send_ours(c, (int)c->args[3]))
		carry_out(c, sendmmsg_carry, sendmmsg_worker);
}

void sockets_getpeername(struct call *c)
{
	struct sockaddr_storage sa;
	socklen_t len;
	int32_t cap;
	if ((!is_tcp(c) && !is_udp(c)) || !inode_table_lookup(&peers, c->fd, &sa, &len) || c->args[2] == 0) {
		notify_reply_continue(c); /* not ours: the kernel answers (it sends nothing) */
		call_free(c);
		return;
	}
	int r = notify_read_mem(c, c->args[2], &cap, sizeof cap);
	if (!r && cap < 0)
		r = -EINVAL;
	if (!r)
		r = notify_write_mem(c, c->args[1], &sa, (size_t)cap < len ? (size_t)cap : len);
	if (!r) {
		int32_t full = (int32_t)len;
		r = notify_write_mem(c, c->args[2], &full, sizeof full);
	}
	finish_value(c, r);
}

/* The source a received datagram is reported with: the nameserver the program asked for the
 * responder's answers (ns, when nslen), the peer a stand-in of the socket's association stands
 * for, else the kernel's; an IPv4 one on an IPv6 socket v4-mapped, as the kernel reports it. */
static void report_source(const struct call *c, const struct sockaddr_storage *ns, socklen_t nslen,
			  struct sockaddr_storage *src, socklen_t *srclen)
{
	struct sockaddr_storage resp;
	socklen_t resplen;
	if (nslen && dns_responder_addr(c->family, SOCK_DGRAM, v6only(c->fd), &resp, &resplen) == 0 &&
	    *srclen == resplen && memcmp(src, &resp, resplen) == 0) {
		*src = *ns; /* the answer of the nameserver it asked */
		*srclen = nslen;
	} else {
		udp_source_of(c->fd, src, srclen);
	}
	*srclen = (socklen_t)endpoint_in_family(src, *srclen, c->family);
}

/* recvfrom() with a source address on a socket of ours (a DNS socket of musl's, or one with a
 * UDP association): the supervisor receives the datagram itself and reports its source (see
 * report_source); a blocking one waits here, in a worker, until a datagram, SO_RCVTIMEO, or the
 * caller gives up (a fatal signal). */
static void recvfrom_now(struct call *c, const struct sockaddr_storage *ns, socklen_t nslen, int wait)
{
	size_t cap = c->args[2] > MAX_DATAGRAM ? MAX_DATAGRAM : (size_t)c->args[2];
	int flags = (int)c->args[3];
	char *buf = malloc(cap ? cap : 1);
	struct sockaddr_storage src;
	socklen_t srclen = sizeof src;
	if (!buf) {
		finish(c, ENOMEM);
		return;
	}
	int64_t deadline = wait ? timeout_deadline(c->fd, SO_RCVTIMEO) : -1;
	ssize_t n;
	for (;;) {
		n = recvfrom(c->fd, buf, cap, flags | MSG_DONTWAIT, (struct sockaddr *)&src, &srclen);
		if (n >= 0 || errno != EAGAIN || !wait)
			break;
		int64_t left = deadline < 0 ? 500 : deadline - now_ms();
		if (left <= 0)
			break; /* EAGAIN, as the kernel says after SO_RCVTIMEO */
		struct pollfd p = { .fd = c->fd, .events = POLLIN };
		if (poll(&p, 1, left < 500 ? (int)left : 500) == 0 && !notify_still_valid(c)) { /* the caller is gone */
			free(buf);
			call_free(c);
			return;
		}
		srclen = sizeof src;
	}
	if (n < 0) {
		free(buf);
		finish(c, errno);
		return;
	}
	report_source(c, ns, nslen, &src, &srclen);
	size_t copied = (size_t)n < cap ? (size_t)n : cap;
	int32_t room;
	int r = notify_write_mem(c, c->args[1], buf, copied);
	if (!r)
		r = notify_read_mem(c, c->args[5], &room, sizeof room);
	if (!r && room < 0)
		r = -EINVAL; /* as the kernel: the datagram is taken all the same */
	if (!r && room > 0) /* cut to the room, the full length reported */
		r = notify_write_mem(c, c->args[4], &src, (size_t)room < srclen ? (size_t)room : srclen);
	if (!r) {
		int32_t full = (int32_t)srclen;
		r = notify_write_mem(c, c->args[5], &full, sizeof full);
	}
	free(buf);
	finish_value(c, r < 0 ? r : n);
}

static void recvfrom_worker(struct call *c)
{
	struct dns_job *j = (struct dns_job *)(c + 1);
	recvfrom_now(c, &j->ns, j->len, 1);
}

/* recvfrom() with a source address: carried out by the supervisor on a DNS socket of musl's and
 * on a socket with a UDP association (its sources are stand-ins); on any other socket CONTINUE
 * (receiving sends nothing). */
void sockets_recvfrom(struct call *c)
{
	struct sockaddr_storage ns;
	socklen_t len = 0;
	if (!is_udp(c) || c->args[5] == 0 ||
	    (!inode_table_lookup(&dns_sockets, c->fd, &ns, &len) && !udp_is_associated(c->fd))) {
		notify_reply_continue(c);
		call_free(c);
		return;
	}
	int fl = fcntl(c->fd, F_GETFL);
	if ((fl >= 0 && (fl & O_NONBLOCK)) || ((int)c->args[3] & MSG_DONTWAIT)) {
		recvfrom_now(c, &ns, len, 0); /* musl's and Go's case: non-blocking, after poll() */
		return;
	}
	struct call *big = realloc(c, sizeof *c + sizeof(struct dns_job));
	if (!big) {
		finish(c, ENOMEM);
		return;
	}
	c = big;
	struct dns_job *j = (struct dns_job *)(c + 1);
	j->ns = ns;
	j->len = len;
	sockets_in_worker(c, recvfrom_worker);
}
