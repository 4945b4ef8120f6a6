/* udp.c - the program's datagrams to proxied destinations, through a SOCKS5 UDP ASSOCIATE
 * (RFC 1928 section 7) that the supervisor holds per program socket.
 *
 * An association (made on the socket's first proxied datagram or connect()) is a TCP control
 * connection to the proxy and a UDP socket of ours connected to the relay it named, so the
 * kernel drops datagrams from anyone else. Datagrams the program sends with an address are
 * wrapped by the supervisor (sockets.c hands them here) and sent from that socket; the
 * program's own socket never sends to anything but loopback.
 *
 * Replies come back from a stand-in: a loopback UDP socket of ours per remote peer of that
 * program socket, connected to the program's socket (bound first if it was not), so that the
 * stand-in's port names the peer. recvfrom() is rewritten to the peer (sockets.c asks
 * udp_source_of()), getpeername() too, and a UDP connect() connects the program's socket to the
 * stand-in: then plain send/write/recv/read need no supervisor; what the program writes to a
 * stand-in is wrapped and forwarded here.
 *
 * One thread (the relay thread) moves the datagrams and owns freeing: it notices a control
 * connection the proxy closed and, every GC_MS, program sockets that are gone (their inode is
 * no longer in /proc/net/udp{,6}), and closes their associations. Everything here is behind
 * udp_lock; handlers (the event loop, workers) take it to look up and send. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "endpoint.h"
#include "handshake.h"
#include "log.h"
#include "supervise.h"

#define BUCKETS 256
#define MAX_PEERS 256 /* stand-ins per program socket */
#define GC_MS 1000
#define DGRAM_MAX 65535
#define BATCH 16

struct assoc;

/* What an epoll event is about. */
struct watch {
	enum { W_CTRL, W_RELAY, W_STANDIN } kind;
	struct assoc *a;
	struct standin *s;
};

struct standin {
	struct standin *next;
	int fd; /* bound to loopback, connected to the program's socket */
	struct sockaddr_storage local; /* its address: what the program sees as the source */
	socklen_t locallen;
	struct socks5_addr wire; /* the peer as the relay knows it (a name for a fake address) */
	struct sockaddr_storage shown; /* the peer as the program knows it */
	socklen_t shownlen;
	struct watch w;
};

struct assoc {
	struct assoc *next; /* in its bucket */
	ino_t ino; /* of the program's socket */
	int family; /* of the program's socket */
	int ctrl, relay;
	struct sockaddr_storage prog; /* the program's socket, as a stand-in reaches it */
	socklen_t proglen;
	struct standin *peers;
	unsigned npeers;
	int dead;
	int64_t created_ms;
	struct watch wctrl, wrelay;
};

static pthread_mutex_t udp_lock = PTHREAD_MUTEX_INITIALIZER;
static struct assoc *buckets[BUCKETS];
static unsigned nassoc;
static int ep = -1;
static pthread_once_t relay_once = PTHREAD_ONCE_INIT;

static void *relay_main(void *arg);

/* ::1 can be bound (IPv6 may be off on lo while the program's sockets are IPv6 ones: then the
 * stand-ins of IPv6 sockets are ::ffff:127.0.0.1). Set once by relay_start(). */
static int ip6_loopback;

static int probe_ip6_loopback(void)
{
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	int s = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	int ok = s >= 0 && bind(s, (struct sockaddr *)&a, sizeof a) == 0;
	if (s >= 0)
		close(s);
	return ok;
}

/* The relay thread and its epoll set, once, in the supervisor process (not before the fork). */
static void relay_start(void)
{
	struct rlimit rl;
	/* fds: 2 per association and 1 per peer; the hard limit is ours to take */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	ip6_loopback = probe_ip6_loopback();
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep >= 0 && thread_start_detached(relay_main, NULL, 256 * 1024) != 0) {
		close(ep);
		ep = -1;
	}
	if (ep < 0)
		log_error("cannot start the UDP relay thread: datagrams to proxied destinations fail");
}

static int watch_add(int fd, struct watch *w, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = w };
	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

static ino_t inode_of(int fd)
{
	struct stat st;
	return fstat(fd, &st) == 0 ? st.st_ino : 0;
}

static struct assoc *assoc_find(ino_t ino)
{
	for (struct assoc *a = buckets[ino % BUCKETS]; a; a = a->next)
		if (a->ino == ino && !a->dead)
			return a;
	return NULL;
}

static void set_loopback(struct sockaddr_storage *ss)
{
	struct in6_addr *a6 = &((struct sockaddr_in6 *)ss)->sin6_addr;
	if (ss->ss_family == AF_INET) {
		((struct sockaddr_in *)ss)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else if (ip6_loopback) {
		*a6 = in6addr_loopback;
	} else {
		memset(a6, 0, sizeof *a6);
		a6->s6_addr[10] = a6->s6_addr[11] = 0xff;
		a6->s6_addr[12] = 127;
		a6->s6_addr[15] = 1;
	}
}

static int is_wildcard(const struct sockaddr_storage *ss)
{
	if (ss->ss_family == AF_INET)
		return ((const struct sockaddr_in *)ss)->sin_addr.s_addr == htonl(INADDR_ANY);
	return IN6_IS_ADDR_UNSPECIFIED(&((const struct sockaddr_in6 *)ss)->sin6_addr);
}

static uint16_t port_of(const struct sockaddr_storage *ss)
{
	return ntohs(ss->ss_family == AF_INET ? ((const struct sockaddr_in *)ss)->sin_port
					      : ((const struct sockaddr_in6 *)ss)->sin6_port);
}

/* The program's socket bound (to the wildcard address, as the kernel's autobind would) and
 * its address as a stand-in reaches it. 0 or an errno. */
static int program_address(int fd, int family, struct sockaddr_storage *ss, socklen_t *len)
{
	*len = sizeof *ss;
	if (getsockname(fd, (struct sockaddr *)ss, len) < 0)
		return errno;
	if (port_of(ss) == 0) {
		struct sockaddr_storage any = { .ss_family = (sa_family_t)family };
		socklen_t alen = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
		*len = sizeof *ss;
		if (bind(fd, (struct sockaddr *)&any, alen) < 0 || getsockname(fd, (struct sockaddr *)ss, len) < 0)
			return errno;
	}
	if (is_wildcard(ss))
		set_loopback(ss);
	return 0;
}

/* ---- the UDP ASSOCIATE ------------------------------------------------------------------------ */

/* Asks the proxy for an association on ctrl (connected here) with the library's hop machine, as
 * preload/assoc.c does: UDP needs a single socks5:// proxy (else EOPNOTSUPP, never direct). The
 * relay's address in *relay. 0 or the errno for the program. */
static int associate(int ctrl, struct sockaddr_storage *relay, socklen_t *relaylen, int64_t deadline)
{
	const struct config *cfg = sup_config.lib;
	char why[64];
	if (!cfg->proxy_ok)
		return ECONNREFUSED;
	if (!handshake_single_socks5(cfg, why, sizeof why)) {
		log_error("UDP datagram refused: UDP needs a single socks5:// proxy; SOCKSIFY_PROXY is %s", why);
		return EOPNOTSUPP;
	}
	/* RFC 1928: all zeros when the client does not know where it will send from */
	struct socks5_addr any = { .atyp = cfg->proxy_addr.ss_family == AF_INET6 ? SOCKS5_ATYP_IPV6 : SOCKS5_ATYP_IPV4 };
	struct handshake hs;
	handshake_init(&hs, cfg, (const struct sockaddr *)&cfg->proxy_addr, cfg->proxy_addrlen,
		       SOCKS5_CMD_UDP_ASSOCIATE, &any);
	int err = handshake_run(&hs, ctrl, deadline);
	if (err && hs.stalled) { /* microsocks: the same request again, step by step (as proxy.c) */
		handshake_restart(&hs, ctrl);
		err = handshake_run(&hs, ctrl, deadline);
	}
	if (err) {
		log_error("UDP ASSOCIATE via %s failed: %s", cfg->proxy_text, hs.why);
		return err;
	}
	int len = socks5_addr_to_sockaddr(&hs.bound, (struct sockaddr *)relay, sizeof *relay);
	if (len < 0 || hs.bound.port == 0) {
		log_error("UDP ASSOCIATE via %s: the proxy named no relay we can send to", cfg->proxy_text);
		return ECONNREFUSED;
	}
	*relaylen = (socklen_t)len;
	if (is_wildcard(relay)) { /* "0.0.0.0": the relay is at the proxy's own address */
		*relay = cfg->proxy_addr;
		*relaylen = cfg->proxy_addrlen;
		if (relay->ss_family == AF_INET)
			((struct sockaddr_in *)relay)->sin_port = htons(hs.bound.port);
		else
			((struct sockaddr_in6 *)relay)->sin6_port = htons(hs.bound.port);
	}
	return 0;
}

/* Our socket to the relay, from the address the control connection came from (the proxy
 * accepts datagrams from the client's address only), connected: nobody else gets through. */
static int relay_socket(int ctrl, const struct sockaddr_storage *relay, socklen_t relaylen)
{
	struct sockaddr_storage local;
	socklen_t llen = sizeof local;
	int s = socket(relay->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -errno;
	int size = 4 << 20;
	setsockopt(s, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
	if (getsockname(ctrl, (struct sockaddr *)&local, &llen) == 0 && local.ss_family == relay->ss_family) {
		if (local.ss_family == AF_INET)
			((struct sockaddr_in *)&local)->sin_port = 0;
		else
			((struct sockaddr_in6 *)&local)->sin6_port = 0;
		bind(s, (struct sockaddr *)&local, llen);
	}
	if (connect(s, (const struct sockaddr *)relay, relaylen) < 0) {
		int err = errno;
		close(s);
		return -err;
	}
	return s;
}

static void standin_close_all(struct assoc *a)
{
	struct standin *s = a->peers;
	while (s) {
		struct standin *next = s->next;
		close(s->fd);
		free(s);
		s = next;
	}
	a->peers = NULL;
	a->npeers = 0;
}

static void assoc_free(struct assoc *a)
{
	standin_close_all(a);
	if (a->ctrl >= 0)
		close(a->ctrl);
	if (a->relay >= 0)
		close(a->relay);
	free(a);
}

/* A new association for the program's socket c->fd (blocks: a worker's). 0 or an errno. */
static int assoc_open(const struct call *c, ino_t ino, struct assoc **out)
{
	struct assoc *a = calloc(1, sizeof *a);
	if (!a)
		return ENOMEM;
	a->ino = ino;
	a->family = c->family;
	a->relay = -1;
	a->created_ms = now_ms();
	int err = program_address(c->fd, c->family, &a->prog, &a->proglen);
	const struct config *cfg = sup_config.lib;
	a->ctrl = err ? -1 : socket(cfg->proxy_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (!err && a->ctrl < 0)
		err = errno;
	struct sockaddr_storage relay;
	socklen_t relaylen = 0;
	if (!err)
		err = associate(a->ctrl, &relay, &relaylen, now_ms() + cfg->timeout_ms);
	if (!err) {
		a->relay = relay_socket(a->ctrl, &relay, relaylen);
		err = a->relay < 0 ? -a->relay : 0;
		if (err)
			log_error("UDP association via %s: no socket to its relay: %s", cfg->proxy_text, strerror(err));
	}
	if (err) {
		assoc_free(a);
		return err;
	}
	struct socks5_addr r;
	char text[300];
	socks5_addr_from_sockaddr(&r, (struct sockaddr *)&relay, relaylen);
	log_info("UDP association via %s: relay %s", cfg->proxy_text, socks5_addr_format(&r, text, sizeof text));
	*out = a;
	return 0;
}

/* The live association of the program's socket, made if it has none and the caller may wait
 * (else *err = SUP_MUST_WAIT). Returns with udp_lock held, or NULL (lock not held) and *err. */
static struct assoc *assoc_get(const struct call *c, int can_wait, int *err)
{
	ino_t ino = inode_of(c->fd);
	pthread_once(&relay_once, relay_start);
	pthread_mutex_lock(&udp_lock);
	struct assoc *a = assoc_find(ino);
	if (a)
		return a;
	pthread_mutex_unlock(&udp_lock);
	if (ep < 0) {
		*err = ENOBUFS;
		return NULL;
	}
	if (!can_wait) {
		*err = SUP_MUST_WAIT;
		return NULL;
	}
	struct assoc *fresh;
	if ((*err = assoc_open(c, ino, &fresh)) != 0)
		return NULL;
	pthread_mutex_lock(&udp_lock);
	if ((a = assoc_find(ino)) != NULL) { /* another thread of the program was first */
		assoc_free(fresh);
		return a;
	}
	fresh->wctrl = (struct watch){ W_CTRL, fresh, NULL };
	fresh->wrelay = (struct watch){ W_RELAY, fresh, NULL };
	if (watch_add(fresh->ctrl, &fresh->wctrl, EPOLLIN | EPOLLRDHUP) < 0 ||
	    watch_add(fresh->relay, &fresh->wrelay, EPOLLIN) < 0) {
		/* Not freed here: once the control connection is in the epoll set, the relay thread may
		 * have an event of it in hand (epoll_wait returned it before we took the lock). It is
		 * published dead instead: the relay thread skips its events and frees it, with none left. */
		*err = errno;
		fresh->dead = 1;
	}
	fresh->next = buckets[ino % BUCKETS];
	buckets[ino % BUCKETS] = fresh;
	nassoc++;
	if (!fresh->dead)
		return fresh;
	pthread_mutex_unlock(&udp_lock);
	return NULL;
}

/* ---- stand-ins --------------------------------------------------------------------------- */

static int same_wire(const struct socks5_addr *x, const struct socks5_addr *y)
{
	if (x->atyp != y->atyp || x->port != y->port)
		return 0;
	if (x->atyp == SOCKS5_ATYP_IPV4)
		return memcmp(x->u.ipv4, y->u.ipv4, 4) == 0;
	if (x->atyp == SOCKS5_ATYP_IPV6)
		return memcmp(x->u.ipv6, y->u.ipv6, 16) == 0;
	return x->u.domain.len == y->u.domain.len && strncasecmp(x->u.domain.name, y->u.domain.name, x->u.domain.len) == 0;
}

/* A new stand-in for the peer (wire, as the program knows it: shown). NULL and errno. */
static struct standin *standin_new(struct assoc *a, const struct socks5_addr *wire, const struct sockaddr_storage *shown,
				   socklen_t shownlen)
{
	if (a->npeers >= MAX_PEERS) {
		errno = ENOBUFS;
		return NULL;
	}
	struct standin *s = calloc(1, sizeof *s);
	if (!s)
		return NULL;
	s->fd = socket(a->prog.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	struct sockaddr_storage lo = { .ss_family = a->prog.ss_family };
	set_loopback(&lo);
	s->locallen = a->prog.ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
	socklen_t len = sizeof s->local;
	s->w = (struct watch){ W_STANDIN, a, s };
	if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&lo, s->locallen) < 0 ||
	    getsockname(s->fd, (struct sockaddr *)&s->local, &len) < 0 ||
	    connect(s->fd, (struct sockaddr *)&a->prog, a->proglen) < 0 || watch_add(s->fd, &s->w, EPOLLIN) < 0) {
		int err = errno;
		if (s->fd >= 0)
			close(s->fd);
		free(s);
		errno = err;
		return NULL;
	}
	s->locallen = len;
	s->wire = *wire;
	s->shown = *shown;
	s->shownlen = shownlen;
	s->next = a->peers;
	a->peers = s;
	a->npeers++;
	return s;
}

static struct standin *standin_by_wire(struct assoc *a, const struct socks5_addr *wire)
{
	for (struct standin *s = a->peers; s; s = s->next)
		if (same_wire(&s->wire, wire))
			return s;
	return NULL;
}

static struct standin *standin_by_local(struct assoc *a, const struct sockaddr *sa, socklen_t len)
{
	for (struct standin *s = a->peers; s; s = s->next)
		if (endpoint_same(sa, len, (struct sockaddr *)&s->local, s->locallen))
			return s;
	return NULL;
}

/* What the relay names as a datagram's source, as a stand-in: the one for that address; for an
 * address a name was sent to (a relay that answers with the name's address, as dante does),
 * the newest name on that port; else a new one (the program may hear from anyone). */
static struct standin *standin_for_source(struct assoc *a, const struct socks5_addr *src)
{
	struct standin *s = standin_by_wire(a, src);
	if (s)
		return s;
	if (src->atyp != SOCKS5_ATYP_DOMAIN)
		for (s = a->peers; s; s = s->next)
			if (s->wire.atyp == SOCKS5_ATYP_DOMAIN && s->wire.port == src->port)
				return s;
	struct socks5_addr shown_wire = *src;
	if (src->atyp == SOCKS5_ATYP_DOMAIN) { /* shown as the name's fake address */
		uint8_t v4[4], v6[16];
		pthread_mutex_lock(&sup_fake_lock);
		int r = fakenames_add(sup_fake, src->u.domain.name, v4, v6);
		pthread_mutex_unlock(&sup_fake_lock);
		if (r < 0)
			return NULL;
		shown_wire.atyp = a->family == AF_INET6 ? SOCKS5_ATYP_IPV6 : SOCKS5_ATYP_IPV4;
		if (a->family == AF_INET6)
			memcpy(shown_wire.u.ipv6, v6, 16);
		else
			memcpy(shown_wire.u.ipv4, v4, 4);
	}
	struct sockaddr_storage shown;
	int len = socks5_addr_to_sockaddr(&shown_wire, (struct sockaddr *)&shown, sizeof shown);
	if (len < 0)
		return NULL;
	len = (int)endpoint_in_family(&shown, (size_t)len, a->family);
	if (a->family == AF_INET && shown.ss_family != AF_INET)
		return NULL; /* an IPv6 source for an IPv4 socket: it could not have heard from it */
	return standin_new(a, src, &shown, (socklen_t)len);
}

/* ---- what sockets.c calls ------------------------------------------------------------------ */

/* The peer dst (as the program gave it) as the relay must name it: 0 or an errno. */
static int wire_of(const struct sockaddr_storage *dst, socklen_t len, struct socks5_addr *wire)
{
	char name[FAKE_NAME_MAX + 1];
	if (socks5_addr_from_sockaddr(wire, (const struct sockaddr *)dst, len) < 0)
		return EAFNOSUPPORT;
	int fake = sup_fake_lookup(wire, name);
	if (fake < 0)
		return EHOSTUNREACH; /* a stale fake address */
	if (fake > 0)
		socks5_addr_set_domain(wire, name, wire->port);
	return 0;
}

/* The stand-in for dst in a (made if new); dst may be a stand-in's own address (from recvmsg,
 * which names it). Under udp_lock. NULL and errno. */
static struct standin *standin_for_dest(struct assoc *a, const struct sockaddr_storage *dst, socklen_t len,
					const struct socks5_addr *wire)
{
	struct standin *s = standin_by_local(a, (const struct sockaddr *)dst, len);
	if (!s)
		s = standin_by_wire(a, wire);
	return s ? s : standin_new(a, wire, dst, len);
}

static ssize_t send_wrapped(int relay, const struct socks5_addr *wire, const void *data, size_t n)
{
	uint8_t hdr[SOCKS5_UDP_HEADER_MAX];
	ssize_t hl = socks5_encode_udp_header(hdr, sizeof hdr, 0, wire);
	if (hl < 0)
		return -EHOSTUNREACH;
	struct iovec iov[2] = { { hdr, (size_t)hl }, { (void *)data, n } };
	struct msghdr m = { .msg_iov = iov, .msg_iovlen = 2 };
	ssize_t r = sendmsg(relay, &m, MSG_DONTWAIT | MSG_NOSIGNAL);
	return r < 0 ? -errno : r - hl;
}

ssize_t udp_send(const struct call *c, const struct sockaddr_storage *dst, socklen_t len, const void *data, size_t n,
		 int can_wait)
{
	struct socks5_addr wire;
	int err = wire_of(dst, len, &wire);
	if (err)
		return -err;
	struct assoc *a = assoc_get(c, can_wait, &err);
	if (!a)
		return err == SUP_MUST_WAIT ? SUP_MUST_WAIT : -err;
	struct standin *s = standin_for_dest(a, dst, len, &wire);
	ssize_t r = s ? send_wrapped(a->relay, &s->wire, data, n) : -errno;
	pthread_mutex_unlock(&udp_lock);
	return r;
}

int udp_connect_peer(const struct call *c, const struct sockaddr_storage *dst, socklen_t len, int can_wait,
		     struct sockaddr_storage *standin, socklen_t *standinlen)
{
	struct socks5_addr wire;
	int err = wire_of(dst, len, &wire);
	if (err)
		return err;
	struct assoc *a = assoc_get(c, can_wait, &err);
	if (!a)
		return err;
	struct standin *s = standin_for_dest(a, dst, len, &wire);
	if (s) {
		*standin = s->local;
		*standinlen = s->locallen;
	}
	err = s ? 0 : errno;
	pthread_mutex_unlock(&udp_lock);
	return err;
}

int udp_is_associated(int fd)
{
	ino_t ino = inode_of(fd);
	pthread_mutex_lock(&udp_lock);
	int found = nassoc && assoc_find(ino) != NULL;
	pthread_mutex_unlock(&udp_lock);
	return found;
}

int udp_source_of(int fd, struct sockaddr_storage *src, socklen_t *len)
{
	ino_t ino = inode_of(fd);
	int found = 0;
	pthread_mutex_lock(&udp_lock);
	struct assoc *a = nassoc ? assoc_find(ino) : NULL;
	struct standin *s = a ? standin_by_local(a, (struct sockaddr *)src, *len) : NULL;
	if (s) {
		*src = s->shown;
		*len = s->shownlen;
		found = 1;
	}
	pthread_mutex_unlock(&udp_lock);
	return found;
}

/* ---- the relay thread ------------------------------------------------------------------------ */

struct rbuf {
	uint8_t data[BATCH][DGRAM_MAX + SOCKS5_UDP_HEADER_MAX];
	struct iovec iov[BATCH][2];
	struct mmsghdr m[BATCH];
	struct standin *to[BATCH];
};

/* Receives up to BATCH datagrams from fd into b->data: how many (0 on error). */
static int receive_batch(int fd, struct rbuf *b)
{
	for (int i = 0; i < BATCH; i++) {
		b->iov[i][0] = (struct iovec){ b->data[i], sizeof b->data[i] };
		b->m[i] = (struct mmsghdr){ .msg_hdr = { .msg_iov = b->iov[i], .msg_iovlen = 1 } };
	}
	int n = recvmmsg(fd, b->m, BATCH, MSG_DONTWAIT, NULL);
	return n > 0 ? n : 0;
}

/* Sends m[0..n) on fd in as few calls as it takes; one a full socket cannot take is lost, as a
 * datagram may be. */
static void send_batch(int fd, struct mmsghdr *m, int n)
{
	for (int done = 0; done < n;) {
		int r = sendmmsg(fd, m + done, (unsigned)(n - done), MSG_DONTWAIT | MSG_NOSIGNAL);
		done += r > 0 ? r : 1;
	}
}

/* Datagrams from the relay: unwrapped and delivered from their peer's stand-in, a run of
 * datagrams for one peer in one call. Malformed or fragmented ones are dropped (the kernel
 * dropped those from anyone but the relay). */
static void from_relay(struct assoc *a, struct rbuf *b)
{
	int n = receive_batch(a->relay, b), k = 0;
	for (int i = 0; i < n; i++) {
		struct socks5_addr src;
		uint8_t frag;
		size_t len = b->m[i].msg_len;
		ssize_t hl = socks5_decode_udp_header(b->data[i], len, &frag, &src);
		if (hl < 0 || frag != 0) {
			log_debug("a datagram from the UDP relay dropped: %s", hl < 0 ? "malformed" : "a fragment");
			continue;
		}
		struct standin *s = standin_for_source(a, &src);
		if (!s)
			continue;
		b->iov[i][0] = (struct iovec){ b->data[i] + hl, len - (size_t)hl };
		b->m[k] = b->m[i]; /* its iov stays b->iov[i] */
		b->to[k++] = s;
	}
	for (int start = 0, end; start < k; start = end) {
		for (end = start + 1; end < k && b->to[end] == b->to[start]; end++)
			;
		send_batch(b->to[start]->fd, b->m + start, end - start);
	}
}

/* Datagrams the program wrote to a stand-in (its connected socket): wrapped (one header for
 * them all: one peer), to the relay. */
static void from_program(struct assoc *a, struct standin *s, struct rbuf *b)
{
	uint8_t hdr[SOCKS5_UDP_HEADER_MAX];
	ssize_t hl = socks5_encode_udp_header(hdr, sizeof hdr, 0, &s->wire);
	int n = receive_batch(s->fd, b);
	if (hl < 0)
		return;
	for (int i = 0; i < n; i++) {
		b->iov[i][1] = (struct iovec){ b->data[i], b->m[i].msg_len };
		b->iov[i][0] = (struct iovec){ hdr, (size_t)hl };
		b->m[i].msg_hdr.msg_iovlen = 2;
	}
	send_batch(a->relay, b->m, n);
}

/* The control connection said something: the proxy closed it (the association is over) or sent
 * bytes it should not (ignored). */
static void from_ctrl(struct assoc *a)
{
	char buf[256];
	ssize_t n = recv(a->ctrl, buf, sizeof buf, MSG_DONTWAIT);
	if (n > 0 || (n < 0 && (errno == EAGAIN || errno == EINTR)))
		return;
	log_info("the proxy ended a UDP association: the program's datagrams on that socket fail until a new one");
	a->dead = 1;
}

/* Closes and frees the dead associations (only this thread frees: nothing else holds one
 * without the lock). Their stand-ins go too: a program socket connected to one gets
 * ECONNREFUSED from its next send or receive. */
static void reap_dead(void)
{
	for (int i = 0; i < BUCKETS; i++) {
		struct assoc **link = &buckets[i];
		while (*link) {
			struct assoc *a = *link;
			if (!a->dead) {
				link = &a->next;
				continue;
			}
			*link = a->next;
			nassoc--;
			assoc_free(a);
		}
	}
}

/* The inodes of this network namespace's UDP sockets, sorted. NULL if they cannot be read. */
static int cmp_ino(const void *x, const void *y)
{
	ino_t a = *(const ino_t *)x, b = *(const ino_t *)y;
	return a < b ? -1 : a > b;
}

static ino_t *udp_inodes(size_t *count)
{
	static const char *const files[] = { "/proc/net/udp", "/proc/net/udp6" };
	size_t n = 0, cap = 256;
	ino_t *v = malloc(cap * sizeof *v);
	for (int f = 0; v && f < 2; f++) {
		FILE *fp = fopen(files[f], "re");
		char line[512];
		if (!fp)
			continue;
		while (v && fgets(line, sizeof line, fp)) {
			unsigned long ino;
			if (sscanf(line, " %*s %*s %*s %*s %*s %*s %*s %*s %*s %lu", &ino) != 1)
				continue; /* the header line */
			if (n == cap) {
				ino_t *w = realloc(v, (cap *= 2) * sizeof *v);
				if (!w) {
					free(v);
					v = NULL;
					break;
				}
				v = w;
			}
			v[n++] = (ino_t)ino;
		}
		fclose(fp);
	}
	if (v)
		qsort(v, n, sizeof *v, cmp_ino);
	*count = n;
	return v;
}

/* Associations of program sockets that are gone (closed by every process) are marked dead.
 * Only those made before the inodes were read: a newer one's socket may not be in the list. */
static void collect_closed(void)
{
	int64_t when = now_ms();
	size_t n;
	ino_t *v = udp_inodes(&n);
	if (!v)
		return;
	pthread_mutex_lock(&udp_lock);
	for (int i = 0; i < BUCKETS; i++)
		for (struct assoc *a = buckets[i]; a; a = a->next)
			if (a->created_ms < when && !bsearch(&a->ino, v, n, sizeof *v, cmp_ino))
				a->dead = 1;
	reap_dead();
	pthread_mutex_unlock(&udp_lock);
	free(v);
}

static void *relay_main(void *arg)
{
	(void)arg;
	struct rbuf *b = malloc(sizeof *b);
	if (!b) {
		log_error("the UDP relay thread has no memory: datagrams to proxied destinations are lost");
		return NULL;
	}
	int64_t next_gc = now_ms() + GC_MS;
	for (;;) {
		struct epoll_event ev[32];
		int n = epoll_wait(ep, ev, 32, GC_MS);
		pthread_mutex_lock(&udp_lock);
		for (int i = 0; i < n; i++) {
			struct watch *w = ev[i].data.ptr;
			if (w->a->dead)
				continue;
			if (w->kind == W_RELAY)
				from_relay(w->a, b);
			else if (w->kind == W_STANDIN)
				from_program(w->a, w->s, b);
			else
				from_ctrl(w->a);
		}
		int any = nassoc > 0;
		reap_dead();
		pthread_mutex_unlock(&udp_lock);
		if (any && now_ms() >= next_gc) {
			collect_closed();
			next_gc = now_ms() + GC_MS;
		}
	}
}
