/* connect.c - reaching the target: every address of the name in turn,
 * non-blocking, with the failure mapped to a REP code. */
#include "socks5d.h"

#include <errno.h>
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

int addrs_from_addrinfo(const struct addrinfo *ai, uint16_t port, union sockaddr_any **out, uint8_t *count)
{
	size_t n = 0;

	for (const struct addrinfo *p = ai; p && n < MAX_TARGET_ADDRS; p = p->ai_next)
		if (p->ai_family == AF_INET || p->ai_family == AF_INET6)
			n++;
	*out = NULL;
	*count = 0;
	if (n == 0)
		return 0;
	union sockaddr_any *a = calloc(n, sizeof *a);
	if (!a)
		return -1;
	n = 0;
	for (const struct addrinfo *p = ai; p && n < MAX_TARGET_ADDRS; p = p->ai_next) {
		if (p->ai_family == AF_INET) {
			memcpy(&a[n].sin, p->ai_addr, sizeof a[n].sin);
			a[n++].sin.sin_port = htons(port);
		} else if (p->ai_family == AF_INET6) {
			memcpy(&a[n].sin6, p->ai_addr, sizeof a[n].sin6);
			a[n++].sin6.sin6_port = htons(port);
		}
	}
	*out = a;
	*count = (uint8_t)n;
	return 0;
}

static void connect_fail(struct server *srv, struct conn *c, uint8_t rep, enum session_result r)
{
	endpoint_close(&c->target, false);
	session_reply_and_linger(srv, c, rep, r);
}

static void connect_fail_errno(struct server *srv, struct conn *c, int err)
{
	switch (err) {
	case ECONNREFUSED:
		connect_fail(srv, c, SOCKS5_REP_CONN_REFUSED, RES_REFUSED);
		break;
	case ENETUNREACH:
		connect_fail(srv, c, SOCKS5_REP_NET_UNREACHABLE, RES_NET_UNREACHABLE);
		break;
	case EHOSTUNREACH:
		connect_fail(srv, c, SOCKS5_REP_HOST_UNREACHABLE, RES_HOST_UNREACHABLE);
		break;
	case ETIMEDOUT:
		connect_fail(srv, c, SOCKS5_REP_TTL_EXPIRED, RES_TIMEOUT);
		break;
	default:
		connect_fail(srv, c, SOCKS5_REP_GENERAL_FAILURE, RES_ERROR);
		break;
	}
}

static socklen_t sockaddr_len(const union sockaddr_any *a)
{
	return a->sa.sa_family == AF_INET6 ? sizeof a->sin6 : sizeof a->sin;
}

/* The --external address of fd's family as its source, if there is one.
 * IP_BIND_ADDRESS_NO_PORT leaves the port to connect(), which may reuse it
 * towards other targets: without it bind() would reserve one port per
 * connection and run out of them. */
static int bind_external(const struct config *cfg, int fd, int family)
{
	const union sockaddr_any *ext = config_external(cfg, family);
	int one = 1;

	if (!ext)
		return 0;
	setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
	return bind(fd, &ext->sa, sockaddr_len(ext));
}

/* Starts a connect to the next untried address; on the last failure,
 * answers the client with the REP code of that failure. */
static void connect_next(struct server *srv, struct conn *c)
{
	while (c->next_addr < c->naddrs) {
		const union sockaddr_any *a = &c->addrs[c->next_addr++];
		int fd = socket(a->sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0) {
			c->connect_errno = errno;
			continue;
		}
		socket_tune(fd);
		c->target.fd = fd;
		if (bind_external(srv->cfg, fd, a->sa.sa_family) < 0) {
			c->connect_errno = errno;
			endpoint_close(&c->target, false);
			continue;
		}
		if (connect(fd, &a->sa, sockaddr_len(a)) == 0) {
			relay_start(srv, c);
			return;
		}
		if (errno == EINPROGRESS) {
			c->state = ST_CONNECTING;
			conn_update_interest(srv, c);
			return;
		}
		c->connect_errno = errno;
		endpoint_close(&c->target, false);
	}
	connect_fail_errno(srv, c, c->connect_errno);
}

void connect_on_target(struct server *srv, struct conn *c, uint32_t events)
{
	int err = 0;
	socklen_t len = sizeof err;

	if (getsockopt(c->target.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		err = errno;
	if (err == 0 && (events & (EPOLLERR | EPOLLHUP)))
		err = ECONNREFUSED;
	if (err == 0) {
		relay_start(srv, c);
		return;
	}
	if (err == EINPROGRESS || err == EAGAIN)
		return;
	if (log_get_level() >= LOG_LVL_DEBUG) {
		char name[64];
		sockaddr_format(&c->addrs[c->next_addr - 1], name, sizeof name);
		log_debug("connect %s (for %s): %s", name, c->target_name, strerror(err));
	}
	c->connect_errno = err;
	endpoint_close(&c->target, false);
	connect_next(srv, c);
}

/* Drops the addresses the rules refuse, keeping the order of the rest.
 * False, with the client answered REP 02, when none remain. */
static bool addrs_filter(struct server *srv, struct conn *c)
{
	uint8_t kept = 0;

	for (uint8_t i = 0; i < c->naddrs; i++) {
		enum target_verdict v = target_check(srv, &c->addrs[i]);
		if (v == TARGET_OK) {
			c->addrs[kept++] = c->addrs[i];
			continue;
		}
		char name[64];
		sockaddr_format(&c->addrs[i], name, sizeof name);
		if (v == TARGET_LOOP)
			log_info("refusing target=%s (%s): %s", c->target_name, name, target_verdict_reason(v));
		else
			log_debug("skipping target=%s (%s): %s", c->target_name, name, target_verdict_reason(v));
	}
	c->naddrs = kept;
	if (kept > 0)
		return true;
	connect_fail(srv, c, SOCKS5_REP_NOT_ALLOWED, RES_NOT_ALLOWED);
	return false;
}

/* The first connect of a session, once its addresses are known. */
static void connect_first(struct server *srv, struct conn *c)
{
	if (addrs_filter(srv, c))
		connect_next(srv, c);
}

static int gai_to_addrs(struct conn *c, const char *host, uint16_t port)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICHOST };
	struct addrinfo *res;

	if (getaddrinfo(host, NULL, &hints, &res) != 0)
		return -1;
	int rc = addrs_from_addrinfo(res, port, &c->addrs, &c->naddrs);
	freeaddrinfo(res);
	return rc < 0 || c->naddrs == 0 ? -1 : 0;
}

void connect_start(struct server *srv, struct conn *c, const struct socks5_addr *dst)
{
	c->next_addr = c->naddrs = 0;
	c->connect_errno = EHOSTUNREACH;
	c->state = ST_RESOLVING;
	if (dst->atyp != SOCKS5_ATYP_DOMAIN) {
		c->addrs = calloc(1, sizeof *c->addrs);
		if (!c->addrs || socks5_addr_to_sockaddr(dst, &c->addrs->sa, sizeof *c->addrs) < 0) {
			connect_fail(srv, c, SOCKS5_REP_GENERAL_FAILURE, RES_ERROR);
			return;
		}
		c->naddrs = 1;
		connect_first(srv, c);
		return;
	}
	/* A literal address sent as a name needs no lookup thread. */
	if (gai_to_addrs(c, dst->u.domain.name, dst->port) == 0) {
		connect_first(srv, c);
		return;
	}
	struct resolve_job *job = calloc(1, sizeof *job);
	if (!job) {
		connect_fail(srv, c, SOCKS5_REP_GENERAL_FAILURE, RES_ERROR);
		return;
	}
	memcpy(job->host, dst->u.domain.name, sizeof job->host);
	job->port = dst->port;
	job->owner = c;
	job->on_done = connect_on_resolved;
	c->job = job;
	if (resolver_submit(srv->resolver, job) < 0) {
		c->job = NULL;
		free(job);
		connect_fail(srv, c, SOCKS5_REP_GENERAL_FAILURE, RES_ERROR);
		return;
	}
	conn_update_interest(srv, c);
}

static void connect_use_resolved(struct server *srv, struct conn *c, struct resolve_job *job)
{
	if (job->gai_err || job->naddrs == 0) {
		log_debug("resolve %s: %s", c->target_name,
			  job->gai_err ? gai_strerror(job->gai_err) : "no addresses");
		switch (job->gai_err) {
		case EAI_SYSTEM:
		case EAI_MEMORY:
			connect_fail(srv, c, SOCKS5_REP_GENERAL_FAILURE, RES_ERROR);
			break;
		default: /* no such name, no data, lookup failure */
			connect_fail(srv, c, SOCKS5_REP_HOST_UNREACHABLE, RES_HOST_UNREACHABLE);
			break;
		}
		return;
	}
	c->addrs = job->addrs;
	c->naddrs = job->naddrs;
	job->addrs = NULL;
	connect_first(srv, c);
}

void connect_on_resolved(struct server *srv, struct resolve_job *job)
{
	struct conn *c = job->owner;

	c->job = NULL;
	connect_use_resolved(srv, c, job);
	if (c->state != ST_CLOSED)
		conn_update_interest(srv, c);
}

/* The timeout applies to each address in turn, so a blackholed first
 * address does not keep the others from being tried. */
void connect_on_timeout(struct server *srv, struct conn *c)
{
	if (c->state == ST_CONNECTING && c->next_addr < c->naddrs) {
		log_debug("connect (for %s): timed out, trying the next address", c->target_name);
		c->connect_errno = ETIMEDOUT;
		endpoint_close(&c->target, false);
		timer_arm(&srv->connect_timers, &c->timer, srv->now_ms);
		connect_next(srv, c);
		if (c->state != ST_CLOSED)
			conn_update_interest(srv, c);
		return;
	}
	if (c->state != ST_RESOLVING && c->state != ST_CONNECTING)
		return;
	if (c->job) {
		c->job->owner = NULL;
		c->job = NULL;
	}
	connect_fail(srv, c, SOCKS5_REP_TTL_EXPIRED, RES_TIMEOUT);
}
