/* check.c - socksify --check: connects to the proxy (and only to it), probes the methods
 * it accepts, the login, a CONNECT to a name it must resolve, UDP ASSOCIATE and the
 * handshake round trip, and prints one line per finding. Every wait has the -t deadline. */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "socks5.h"

/* A pipelined handshake not answered within this long is taken as stalled (microsocks). */
#define STALL_SECS 2.0

struct probe {
	const struct proxy_url *url;
	struct sockaddr_storage sa;
	socklen_t salen;
	double timeout;
};

struct conn {
	int fd;
	uint8_t buf[SOCKS5_REQUEST_MAX + 64];
	size_t have;
	double deadline;
	int timed_out;
	const char *why; /* what went wrong, when a step returns -1 */
};

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 1 when fd is ready for ev, 0 at the deadline, -1 on a poll error. */
static int wait_fd(int fd, short ev, double deadline)
{
	for (;;) {
		double left = deadline - now();
		if (left <= 0)
			return 0;
		struct pollfd p = { .fd = fd, .events = ev };
		int r = poll(&p, 1, (int)(left * 1000) + 1);
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return -1;
	}
}

static void conn_close(struct conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static int conn_fail(struct conn *c, const char *why)
{
	c->why = why;
	return -1;
}

/* Opens a non-blocking connection to the proxy; its deadline starts now. */
static int conn_open(const struct probe *p, struct conn *c)
{
	memset(c, 0, sizeof *c);
	c->deadline = now() + p->timeout;
	c->fd = socket(p->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return conn_fail(c, strerror(errno));
	if (connect(c->fd, (const struct sockaddr *)&p->sa, p->salen) == 0)
		return 0;
	if (errno != EINPROGRESS)
		return conn_fail(c, strerror(errno));
	int w = wait_fd(c->fd, POLLOUT, c->deadline), err = 0;
	socklen_t len = sizeof err;
	if (w == 0) {
		c->timed_out = 1;
		return conn_fail(c, "timed out");
	}
	if (w < 0 || getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
		return conn_fail(c, strerror(errno));
	return err ? conn_fail(c, strerror(err)) : 0;
}

static int send_all(struct conn *c, const uint8_t *b, ssize_t n)
{
	if (n < 0)
		return conn_fail(c, "cannot encode the message");
	while (n > 0) {
		ssize_t k = send(c->fd, b, (size_t)n, MSG_NOSIGNAL);
		if (k > 0) {
			b += k;
			n -= k;
		} else if (errno != EAGAIN && errno != EINTR) {
			return conn_fail(c, strerror(errno));
		} else if (wait_fd(c->fd, POLLOUT, c->deadline) <= 0) {
			c->timed_out = 1;
			return conn_fail(c, "timed out sending");
		}
	}
	return 0;
}

/* Appends what the proxy sent to c->buf. */
static int recv_more(struct conn *c)
{
	if (c->have == sizeof c->buf)
		return conn_fail(c, "an answer too long for SOCKS5");
	for (;;) {
		ssize_t k = recv(c->fd, c->buf + c->have, sizeof c->buf - c->have, 0);
		if (k > 0) {
			c->have += (size_t)k;
			return 0;
		}
		if (k == 0)
			return conn_fail(c, "the proxy closed the connection");
		if (errno != EAGAIN && errno != EINTR)
			return conn_fail(c, strerror(errno));
		int w = wait_fd(c->fd, POLLIN, c->deadline);
		if (w == 0) {
			c->timed_out = 1;
			return conn_fail(c, "no answer (timed out)");
		}
		if (w < 0)
			return conn_fail(c, strerror(errno));
	}
}

/* After a decoder's result n: drops the message from c->buf, or fails on garbage. */
static int consume(struct conn *c, ssize_t n)
{
	if (n < 0)
		return conn_fail(c, "an answer that is not SOCKS5");
	c->have -= (size_t)n;
	memmove(c->buf, c->buf + n, c->have);
	return 0;
}

static int recv_method(struct conn *c, uint8_t *method)
{
	ssize_t n;
	while ((n = socks5_decode_method_choice(c->buf, c->have, method)) == SOCKS5_SHORT)
		if (recv_more(c) < 0)
			return -1;
	return consume(c, n);
}

static int recv_auth_reply(struct conn *c, uint8_t *status)
{
	ssize_t n;
	while ((n = socks5_decode_auth_reply(c->buf, c->have, status)) == SOCKS5_SHORT)
		if (recv_more(c) < 0)
			return -1;
	return consume(c, n);
}

static int recv_reply(struct conn *c, uint8_t *rep, struct socks5_addr *bnd)
{
	ssize_t n;
	while ((n = socks5_decode_reply(c->buf, c->have, rep, bnd)) == SOCKS5_SHORT)
		if (recv_more(c) < 0)
			return -1;
	return consume(c, n);
}

static ssize_t encode_login(uint8_t *buf, size_t cap, const struct proxy_url *u)
{
	return socks5_encode_auth_request(buf, cap, u->user, strlen(u->user), u->pass, strlen(u->pass));
}

/* On a new connection, a greeting offering only method: the method chosen (0xFF: none), or -1. */
static int probe_method(const struct probe *p, struct conn *c, uint8_t method)
{
	uint8_t b[4], chosen;
	if (conn_open(p, c) < 0 || send_all(c, b, socks5_encode_greeting(b, sizeof b, &method, 1)) < 0 ||
	    recv_method(c, &chosen) < 0)
		return -1;
	return chosen;
}

/* RFC 1929 login on c (after the proxy chose it): its status (0 ok), or -1. */
static int probe_login(struct conn *c, const struct proxy_url *u)
{
	uint8_t b[SOCKS5_AUTH_REQUEST_MAX], status;
	if (send_all(c, b, encode_login(b, sizeof b, u)) < 0 || recv_auth_reply(c, &status) < 0)
		return -1;
	return status;
}

struct answer {
	uint8_t rep;
	struct socks5_addr bnd;
	double ms; /* first byte sent to the reply */
};

/* A whole handshake with method and request cmd dst on a new connection, either all
 * messages in one write (pipelined, allowed STALL_SECS) or each after its answer. */
static int handshake(const struct probe *p, struct conn *c, uint8_t method, uint8_t cmd,
		     const struct socks5_addr *dst, int pipelined, struct answer *a)
{
	uint8_t out[SOCKS5_GREETING_MAX + SOCKS5_AUTH_REQUEST_MAX + SOCKS5_REQUEST_MAX];
	uint8_t chosen, status;
	ssize_t n, k;
	if (conn_open(p, c) < 0)
		return -1;
	double t0 = now();
	if (pipelined && t0 + STALL_SECS < c->deadline)
		c->deadline = t0 + STALL_SECS;
	n = socks5_encode_greeting(out, sizeof out, &method, 1);
	if (pipelined && n > 0 && method == SOCKS5_METHOD_USERPASS) {
		k = encode_login(out + n, sizeof out - (size_t)n, p->url);
		n = k < 0 ? k : n + k;
	}
	if (pipelined && n > 0) {
		k = socks5_encode_request(out + n, sizeof out - (size_t)n, cmd, dst);
		n = k < 0 ? k : n + k;
	}
	if (send_all(c, out, n) < 0 || recv_method(c, &chosen) < 0)
		return -1;
	if (chosen != method)
		return conn_fail(c, "the proxy refused the method it accepted before");
	if (method == SOCKS5_METHOD_USERPASS) {
		if (!pipelined && send_all(c, out, encode_login(out, sizeof out, p->url)) < 0)
			return -1;
		if (recv_auth_reply(c, &status) < 0)
			return -1;
		if (status != SOCKS5_AUTH_SUCCESS)
			return conn_fail(c, "the login was refused");
	}
	if (!pipelined && send_all(c, out, socks5_encode_request(out, sizeof out, cmd, dst)) < 0)
		return -1;
	if (recv_reply(c, &a->rep, &a->bnd) < 0)
		return -1;
	a->ms = (now() - t0) * 1000;
	return 0;
}

int check_parse_target(const char *s, char *host, size_t hostcap, unsigned *port)
{
	const char *colon, *start = s, *end;
	if (s[0] == '[') {
		start = s + 1;
		end = strchr(start, ']');
		if (!end || end[1] != ':')
			return -1;
		colon = end + 1;
	} else {
		colon = strchr(s, ':');
		if (!colon || strchr(colon + 1, ':'))
			return -1;
		end = colon;
	}
	char *stop;
	size_t len = (size_t)(end - start);
	if (len == 0 || len >= hostcap || len > 255 || colon[1] < '0' || colon[1] > '9')
		return -1;
	errno = 0;
	unsigned long v = strtoul(colon + 1, &stop, 10);
	if (*stop || errno || v < 1 || v > 65535)
		return -1;
	memcpy(host, start, len);
	host[len] = '\0';
	*port = (unsigned)v;
	return 0;
}

/* An IP literal goes as one; anything else as a name, for the proxy to resolve. */
static void target_addr(const char *host, unsigned port, struct socks5_addr *dst)
{
	memset(dst, 0, sizeof *dst);
	if (inet_pton(AF_INET, host, dst->u.ipv4) == 1)
		dst->atyp = SOCKS5_ATYP_IPV4;
	else if (inet_pton(AF_INET6, host, dst->u.ipv6) == 1)
		dst->atyp = SOCKS5_ATYP_IPV6;
	else
		socks5_addr_set_domain(dst, host, (uint16_t)port);
	dst->port = (uint16_t)port;
}

/* Connects to the first address of the proxy that answers; prints the first line. */
static int reach_proxy(struct probe *p, struct conn *c, const char *safe)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV }, *res, *ai;
	char port[8], text[300];
	snprintf(port, sizeof port, "%u", p->url->port);
	int r = getaddrinfo(p->url->host, port, &hints, &res);
	if (r != 0) {
		printf("proxy %s: cannot resolve %s: %s\n", safe, p->url->host, gai_strerror(r));
		return -1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		struct socks5_addr a;
		memcpy(&p->sa, ai->ai_addr, ai->ai_addrlen);
		p->salen = ai->ai_addrlen;
		if (socks5_addr_from_sockaddr(&a, ai->ai_addr, ai->ai_addrlen) < 0)
			continue;
		socks5_addr_format(&a, text, sizeof text);
		double t0 = now();
		if (conn_open(p, c) == 0) {
			printf("proxy %s (%s): reachable, TCP connect %.1f ms\n", safe, text, (now() - t0) * 1000);
			break;
		}
		printf("proxy %s (%s): unreachable: %s\n", safe, text, c->why);
		conn_close(c);
	}
	freeaddrinfo(res);
	return ai ? 0 : -1;
}

static const char *method_result(int chosen, uint8_t offered)
{
	if (chosen == offered)
		return "accepted";
	return chosen == SOCKS5_METHOD_NONE_ACCEPTABLE ? "rejected" : "answered with another method";
}

/* The method probes and the auth line; returns the method to use, or -1. */
static int check_methods(const struct probe *p)
{
	const struct proxy_url *u = p->url;
	struct conn c;
	int noauth = probe_method(p, &c, SOCKS5_METHOD_NOAUTH), userpass = -2, login = -2;
	const char *why = c.why;
	conn_close(&c);
	if (noauth < 0) {
		printf("methods: no usable answer to a greeting: %s\n", why);
		return -1;
	}
	if (u->has_auth) {
		userpass = probe_method(p, &c, SOCKS5_METHOD_USERPASS);
		if (userpass == SOCKS5_METHOD_USERPASS)
			login = probe_login(&c, u);
		why = c.why;
		conn_close(&c);
	}
	printf("methods: no-auth %s; username/password %s\n", method_result(noauth, SOCKS5_METHOD_NOAUTH),
	       userpass == -2 ? "not offered (no user in the URL)" :
	       userpass == -1 ? why : method_result(userpass, SOCKS5_METHOD_USERPASS));
	if (login == SOCKS5_AUTH_SUCCESS) {
		printf("auth: ok as '%s'\n", u->user);
		return SOCKS5_METHOD_USERPASS;
	}
	if (login > 0)
		printf("auth: failed (wrong user/password)\n");
	else if (login == -1)
		printf("auth: failed: %s\n", why);
	else if (noauth == SOCKS5_METHOD_NOAUTH)
		printf("auth: not needed\n");
	else if (!u->has_auth)
		printf("auth: needed, but the URL has no user:password\n");
	else
		printf("auth: failed: the proxy accepts neither no-auth nor username/password\n");
	if (login > 0 || login == -1)
		return -1;
	return noauth == SOCKS5_METHOD_NOAUTH ? SOCKS5_METHOD_NOAUTH : -1;
}

enum dns_result { DNS_FAILED, DNS_OK, DNS_UNVERIFIED };

static const char *connect_label(const struct socks5_addr *dst)
{
	return dst->atyp == SOCKS5_ATYP_DOMAIN ? "CONNECT by name" : "CONNECT";
}

/* The CONNECT line, and what it says about the proxy resolving the name: REP 05 comes
 * from the target, so the name was resolved; REP 02 may come before any resolving. */
static enum dns_result report_connect(const struct socks5_addr *dst, const struct answer *a)
{
	char text[300];
	socks5_addr_format(dst, text, sizeof text);
	const char *what = connect_label(dst);
	if (a->rep == SOCKS5_REP_SUCCEEDED) {
		printf("%s (%s): ok\n", what, text);
		return DNS_OK;
	}
	printf("%s (%s): REP %02x %s%s\n", what, text, a->rep, socks5_rep_str(a->rep),
	       a->rep == SOCKS5_REP_CONN_REFUSED ? " (the proxy resolved the name; nothing listens there)" :
	       a->rep == SOCKS5_REP_HOST_UNREACHABLE ? " (the proxy could not resolve or reach it)" :
	       a->rep == SOCKS5_REP_NOT_ALLOWED ? " (the proxy's rules refuse this target; try --check-target)" : "");
	if (a->rep == SOCKS5_REP_CONN_REFUSED)
		return DNS_OK;
	return a->rep == SOCKS5_REP_NOT_ALLOWED ? DNS_UNVERIFIED : DNS_FAILED;
}

/* UDP ASSOCIATE, then close: 1 ok, 0 not. */
static int check_udp(const struct probe *p, uint8_t method)
{
	struct socks5_addr any = { .atyp = p->sa.ss_family == AF_INET6 ? SOCKS5_ATYP_IPV6 : SOCKS5_ATYP_IPV4 };
	struct answer a;
	struct conn c;
	char text[300];
	int r = handshake(p, &c, method, SOCKS5_CMD_UDP_ASSOCIATE, &any, 0, &a);
	conn_close(&c);
	if (r < 0)
		printf("UDP ASSOCIATE: failed: %s\n", c.why);
	else if (a.rep == SOCKS5_REP_SUCCEEDED)
		printf("UDP ASSOCIATE: ok (relay %s)\n", socks5_addr_format(&a.bnd, text, sizeof text));
	else if (a.rep == SOCKS5_REP_CMD_NOT_SUPPORTED)
		printf("UDP ASSOCIATE: not supported (REP 07)\n");
	else
		printf("UDP ASSOCIATE: REP %02x %s\n", a.rep, socks5_rep_str(a.rep));
	return r == 0 && a.rep == SOCKS5_REP_SUCCEEDED;
}

static int problems(const char *what)
{
	printf("result: PROBLEMS (%s)\n", what);
	return 1;
}

int check_proxy(const struct proxy_url *url, const char *target, double timeout_secs)
{
	struct probe p = { .url = url, .timeout = timeout_secs };
	struct socks5_addr dst;
	struct answer a;
	struct conn c;
	char host[256], safe[700];
	unsigned port = url->port;

	snprintf(host, sizeof host, "localhost");
	if (target && check_parse_target(target, host, sizeof host, &port) < 0) {
		fprintf(stderr, "socksify: bad --check-target '%s' (HOST:PORT or [IPv6]:PORT)\n", target);
		return 2;
	}
	target_addr(host, port, &dst);
	setvbuf(stdout, NULL, _IOLBF, 0);
	proxy_url_format_safe(url, safe, sizeof safe);
	if (reach_proxy(&p, &c, safe) < 0)
		return problems("the proxy is unreachable");
	conn_close(&c);
	int method = check_methods(&p);
	if (method < 0)
		return problems("no usable method or login");

	const char *how = "yes";
	int r = handshake(&p, &c, (uint8_t)method, SOCKS5_CMD_CONNECT, &dst, 1, &a);
	conn_close(&c);
	if (r < 0) { /* some proxies do not read ahead (microsocks): one message at a time */
		how = c.timed_out ? "stalled -> sequential" : "refused -> sequential";
		r = handshake(&p, &c, (uint8_t)method, SOCKS5_CMD_CONNECT, &dst, 0, &a);
		conn_close(&c);
	}
	if (r < 0) {
		printf("handshake: failed: %s\n", c.why);
		return problems("no complete handshake");
	}
	printf("handshake round trip: %.1f ms (greeting+request pipelined: %s)\n", a.ms, how);
	enum dns_result dns = report_connect(&dst, &a);
	int udp_ok = check_udp(&p, (uint8_t)method);
	if (dns == DNS_OK && udp_ok) {
		printf("result: OK\n");
		return 0;
	}
	printf("result: OK for TCP (");
	if (dns == DNS_FAILED)
		printf("%s failed%s", connect_label(&dst), udp_ok ? "" : "; ");
	if (!udp_ok)
		printf("no UDP ASSOCIATE%s", dns == DNS_UNVERIFIED ? "; " : "");
	if (dns == DNS_UNVERIFIED)
		printf("%s", dst.atyp == SOCKS5_ATYP_DOMAIN ? "remote DNS not verified" : "CONNECT not allowed");
	printf(")\n");
	return 0;
}

int check_chain(const struct proxy_chain *chain, const char *target, double timeout_secs)
{
	const struct proxy_url *first = &chain->hop[0];
	struct probe p = { .url = first, .timeout = timeout_secs };
	struct conn c;
	char safe[700];

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (chain->n > 1)
		printf("chain of %zu proxies: only hop 1 is checked (the others are reached through it)\n", chain->n);
	if (proxy_url_is_socks5(first))
		return check_proxy(first, target, timeout_secs);
	proxy_url_format_safe(first, safe, sizeof safe);
	if (reach_proxy(&p, &c, safe) < 0)
		return problems("the proxy is unreachable");
	conn_close(&c);
	printf("%s:// is not probed further: --check speaks SOCKS5\n", proxy_scheme_name(first->scheme));
	printf("result: OK for TCP (reachable; not probed)\n");
	return 0;
}
