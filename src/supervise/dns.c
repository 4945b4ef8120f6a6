/* dns.c - the program's own DNS: a responder on loopback that the supervisor points the
 * program's port-53 sockets at (sockets.c), so no query ever leaves the host.
 *
 * A and AAAA queries are answered here with fake addresses (fakenames.h); the name comes
 * back to the supervisor at connect time and reaches the proxy in the CONNECT request.
 * "localhost" and its subdomains are answered with loopback. A name the library would have
 * the system resolver resolve (SOCKSIFY_NO_PROXY names it, or SOCKSIFY_DNS=local) is
 * resolved here by the system resolver, and an excluded name's addresses then connect
 * direct, as in the library (preload/dns.c, direct.c). With SOCKSIFY_DNS=resolve, A and
 * AAAA queries are answered with the real address the proxy resolved (Tor's RESOLVE,
 * preload/resolve.c) instead of fake ones. Other queries go, over TCP,
 * through a SOCKS5 CONNECT to --dns-server when one is configured, and are REFUSED when
 * not. UDP is served from the event loop, queries that wait on a resolver by a few threads
 * (RESOLVERS); TCP connections in threads of their own. */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "direct.h"
#include "dnsmsg.h"
#include "log.h"
#include "resolve.h"
#include "route.h"
#include "supervise.h"

#define FAKE_TTL 60
#define UDP_ANSWER_MAX 1232 /* what Go and glibc read; longer answers get TC and go over TCP */
#define TCP_IDLE_MS 10000

static int udp4 = -1, udp6 = -1, tcp4 = -1, tcp6 = -1;
static uint16_t udp4_port, udp6_port, tcp4_port, tcp6_port;

static int bind_loopback(int family, int type, uint16_t *port)
{
	int s = socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	struct sockaddr_storage ss = { 0 };
	socklen_t len;
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)&ss;
		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof *a;
	} else {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
		int on = 1;
		setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
		a->sin6_family = AF_INET6;
		a->sin6_addr = in6addr_loopback;
		len = sizeof *a;
	}
	if (bind(s, (struct sockaddr *)&ss, len) < 0 || (type == SOCK_STREAM && listen(s, 64) < 0) ||
	    getsockname(s, (struct sockaddr *)&ss, &len) < 0) {
		close(s);
		return -1;
	}
	*port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
					: ((struct sockaddr_in6 *)&ss)->sin6_port);
	return s;
}

int dns_init(void)
{
	udp4 = bind_loopback(AF_INET, SOCK_DGRAM, &udp4_port);
	tcp4 = bind_loopback(AF_INET, SOCK_STREAM, &tcp4_port);
	udp6 = bind_loopback(AF_INET6, SOCK_DGRAM, &udp6_port); /* optional: IPv6 may be off */
	tcp6 = bind_loopback(AF_INET6, SOCK_STREAM, &tcp6_port);
	return udp4 >= 0 && tcp4 >= 0 ? 0 : -1;
}

void dns_close(void)
{
	int *fds[4] = { &udp4, &udp6, &tcp4, &tcp6 };
	for (int i = 0; i < 4; i++)
		if (*fds[i] >= 0) {
			close(*fds[i]);
			*fds[i] = -1;
		}
}

int dns_responder_addr(int family, int type, int v6only, struct sockaddr_storage *sa, socklen_t *len)
{
	int udp = type == SOCK_DGRAM;
	memset(sa, 0, sizeof *sa);
	if (family == AF_INET) {
		struct sockaddr_in *a = (struct sockaddr_in *)sa;
		a->sin_family = AF_INET;
		a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		a->sin_port = htons(udp ? udp4_port : tcp4_port);
		*len = sizeof *a;
		return 0;
	}
	struct sockaddr_in6 *a = (struct sockaddr_in6 *)sa;
	a->sin6_family = AF_INET6;
	*len = sizeof *a;
	if ((udp ? udp6 : tcp6) >= 0) {
		a->sin6_addr = in6addr_loopback;
		a->sin6_port = htons(udp ? udp6_port : tcp6_port);
		return 0;
	}
	if (v6only)
		return -1;
	a->sin6_addr.s6_addr[10] = a->sin6_addr.s6_addr[11] = 0xff; /* ::ffff:127.0.0.1 */
	a->sin6_addr.s6_addr[12] = 127;
	a->sin6_addr.s6_addr[15] = 1;
	a->sin6_port = htons(udp ? udp4_port : tcp4_port);
	return 0;
}

static int is_localhost(const char *name)
{
	size_t n = strlen(name);
	return strcasecmp(name, "localhost") == 0 || (n > 10 && strcasecmp(name + n - 10, ".localhost") == 0);
}

#define NEEDS_THREAD (-2)

/* The answer to query q (len bytes) into out: its length, -1 to drop the query, or
 * NEEDS_THREAD when a resolver that may take its time must answer it (answer_fully()). */
static ssize_t answer_query(const uint8_t *q, size_t len, uint8_t *out, size_t cap)
{
	struct dns_question qs;
	int rc = dnsmsg_parse_query(q, len, &qs);
	if (rc < 0)
		return -1;
	if (rc > 0)
		return dnsmsg_build_error(out, cap, q, rc);
	if (qs.qclass != DNS_CLASS_IN || (qs.qtype != DNS_TYPE_A && qs.qtype != DNS_TYPE_AAAA)) {
		if (sup_config.dns_forward)
			return NEEDS_THREAD;
		log_debug("DNS query for %s type %u refused (no --dns-server)", qs.name, qs.qtype);
		return dnsmsg_build_answer(out, cap, &qs, q, DNS_RCODE_REFUSED, NULL, 0, 0);
	}
	uint8_t v4[4], v6[16];
	if (is_localhost(qs.name)) {
		static const uint8_t lo4[4] = { 127, 0, 0, 1 };
		memcpy(v4, lo4, 4);
		memcpy(v6, &in6addr_loopback, 16);
	} else if (config_resolves_locally(sup_config.lib, qs.name) || sup_config.lib->dns_resolve) {
		return NEEDS_THREAD;
	} else {
		pthread_mutex_lock(&sup_fake_lock);
		rc = fakenames_add(sup_fake, qs.name, v4, v6);
		pthread_mutex_unlock(&sup_fake_lock);
		if (rc < 0)
			return dnsmsg_build_answer(out, cap, &qs, q, DNS_RCODE_REFUSED, NULL, 0, 0);
		log_debug("DNS %s %s: a fake address (the proxy will resolve it)", qs.qtype == DNS_TYPE_A ? "A" : "AAAA",
			  qs.name);
	}
	return qs.qtype == DNS_TYPE_A ? dnsmsg_build_answer(out, cap, &qs, q, 0, v4, 4, FAKE_TTL)
				      : dnsmsg_build_answer(out, cap, &qs, q, 0, v6, 16, FAKE_TTL);
}

/* Asks the configured resolver through the proxy (DNS over TCP). Returns the answer's
 * length in out, or -1 (then the caller answers SERVFAIL). */
static ssize_t forward_query(const uint8_t *q, size_t len, uint8_t *out, size_t cap)
{
	int64_t deadline = now_ms() + sup_config.lib->timeout_ms;
	int s = socket(sup_config.lib->proxy_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0)
		return -1;
	uint8_t lenbuf[2] = { (uint8_t)(len >> 8), (uint8_t)len };
	ssize_t got = -1;
	int err = proxy_connect(s, &sup_config.dns_server, deadline);
	if (err)
		log_debug("DNS query not forwarded: the connection through the proxy failed");
	else if (write_all(s, lenbuf, 2, deadline) == 0 && write_all(s, q, len, deadline) == 0 &&
		 read_exact(s, lenbuf, 2, deadline) == 0) {
		size_t n = (size_t)lenbuf[0] << 8 | lenbuf[1];
		if (n <= cap && read_exact(s, out, n, deadline) == 0)
			got = (ssize_t)n;
	}
	close(s);
	return got;
}

static int rcode_of_gai(int rc)
{
	if (rc == EAI_NONAME)
		return DNS_RCODE_NXDOMAIN;
	return rc == EAI_NODATA || rc == EAI_ADDRFAMILY ? DNS_RCODE_NOERROR : DNS_RCODE_SERVFAIL;
}

/* An A or AAAA query for a name resolved by the system resolver (the first address answers). */
static ssize_t answer_locally(const struct dns_question *qs, const uint8_t *q, uint8_t *out, size_t cap)
{
	int family = qs->qtype == DNS_TYPE_A ? AF_INET : AF_INET6;
	struct addrinfo hints = { .ai_family = family, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	int rc = getaddrinfo(qs->name, NULL, &hints, &res);
	if (rc != 0 || !res) {
		log_debug("DNS %s: the system resolver says %s", qs->name, gai_strerror(rc));
		return dnsmsg_build_answer(out, cap, qs, q, rcode_of_gai(rc), NULL, 0, 0);
	}
	const struct config *c = sup_config.lib;
	int direct = namelist_match(&c->no_proxy_names, qs->name) || (c->routes && route_name_is_direct(c, qs->name));
	if (direct)
		direct_note_addrinfo(res); /* what config_is_direct() finds at connect time */
	log_debug("DNS %s: resolved here (%s)", qs->name, direct ? "SOCKSIFY_NO_PROXY or a direct route: connected direct"
								  : "SOCKSIFY_DNS=local");
	const void *a = family == AF_INET ? (const void *)&((struct sockaddr_in *)res->ai_addr)->sin_addr
					  : (const void *)&((struct sockaddr_in6 *)res->ai_addr)->sin6_addr;
	ssize_t n = dnsmsg_build_answer(out, cap, qs, q, 0, a, family == AF_INET ? 4 : 16, FAKE_TTL);
	freeaddrinfo(res);
	return n;
}

/* SOCKSIFY_DNS=resolve: an A or AAAA query answered with the address the proxy resolved.
 * RESOLVE gives one address, of the proxy's choice: a query for the other family gets
 * no data (as for a name that has none), a name the proxy does not find NXDOMAIN. */
static ssize_t answer_by_proxy(const struct dns_question *qs, const uint8_t *q, uint8_t *out, size_t cap)
{
	struct socks5_addr name, a;
	if (socks5_addr_set_domain(&name, qs->name, 0) < 0)
		return dnsmsg_build_answer(out, cap, qs, q, DNS_RCODE_NXDOMAIN, NULL, 0, 0);
	int rc = resolve_by_proxy(sup_config.lib, SOCKS5_CMD_RESOLVE, &name, qs->name, &a);
	if (rc)
		return dnsmsg_build_answer(out, cap, qs, q, rc == EAI_NONAME ? DNS_RCODE_NXDOMAIN : DNS_RCODE_SERVFAIL,
					   NULL, 0, 0);
	int v4 = a.atyp == SOCKS5_ATYP_IPV4;
	if (v4 != (qs->qtype == DNS_TYPE_A))
		return dnsmsg_build_answer(out, cap, qs, q, DNS_RCODE_NOERROR, NULL, 0, 0);
	log_debug("DNS %s %s: resolved by the proxy", v4 ? "A" : "AAAA", qs->name);
	return dnsmsg_build_answer(out, cap, qs, q, 0, v4 ? a.u.ipv4 : a.u.ipv6, v4 ? 4 : 16, FAKE_TTL);
}

/* The answer to q, resolving or forwarding if needed; SERVFAIL when the resolver fails. */
static ssize_t answer_fully(const uint8_t *q, size_t len, uint8_t *out, size_t cap)
{
	struct dns_question qs;
	ssize_t n = answer_query(q, len, out, cap);
	if (n != NEEDS_THREAD)
		return n;
	dnsmsg_parse_query(q, len, &qs); /* parsed already: answer_query() said so */
	if (qs.qclass == DNS_CLASS_IN && (qs.qtype == DNS_TYPE_A || qs.qtype == DNS_TYPE_AAAA))
		return config_resolves_locally(sup_config.lib, qs.name) ? answer_locally(&qs, q, out, cap)
									: answer_by_proxy(&qs, q, out, cap);
	n = forward_query(q, len, out, cap);
	return n >= 0 ? n : dnsmsg_build_error(out, cap, q, DNS_RCODE_SERVFAIL);
}

struct udp_job {
	struct udp_job *next;
	int fd;
	struct sockaddr_storage from;
	socklen_t fromlen;
	size_t len;
	uint8_t q[];
};

static void send_udp_answer(int fd, uint8_t *a, size_t n, const struct sockaddr_storage *to, socklen_t tolen)
{
	n = dnsmsg_truncate(a, n, UDP_ANSWER_MAX);
	sendto(fd, a, n, MSG_DONTWAIT, (const struct sockaddr *)to, tolen);
}

/* UDP queries that wait on a resolver (the system's, or the proxy for a forwarded one) are
 * answered by at most RESOLVERS threads; the others wait in a queue (a program's resolver waits
 * for its answer and asks again after a few seconds: a late answer is better than SERVFAIL, which
 * glibc and Go take as a failure of the name). A query already queued (the same bytes from the
 * same socket: a retry) is not queued again; beyond QUEUED_MAX queries one is dropped, as a
 * datagram may be (the program asks again). Idle threads end after RESOLVER_IDLE_SECONDS. */
#define RESOLVERS 8
#define QUEUED_MAX 512
#define RESOLVER_IDLE_SECONDS 5

static pthread_mutex_t rq_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t rq_wake = PTHREAD_COND_INITIALIZER;
static struct udp_job *rq_head, *rq_tail;
static int rq_queued, rq_threads, rq_idle;

static void *resolver_main(void *arg)
{
	uint8_t *out = malloc(65535);
	(void)arg;
	pthread_mutex_lock(&rq_lock);
	for (;;) {
		while (!rq_head) {
			struct timespec until;
			clock_gettime(CLOCK_REALTIME, &until);
			until.tv_sec += RESOLVER_IDLE_SECONDS;
			rq_idle++;
			int rc = pthread_cond_timedwait(&rq_wake, &rq_lock, &until);
			rq_idle--;
			if (rc == ETIMEDOUT && !rq_head) {
				rq_threads--;
				pthread_mutex_unlock(&rq_lock);
				free(out);
				return NULL;
			}
		}
		struct udp_job *j = rq_head;
		rq_head = j->next;
		if (!rq_head)
			rq_tail = NULL;
		rq_queued--;
		pthread_mutex_unlock(&rq_lock);
		ssize_t n = out ? answer_fully(j->q, j->len, out, 65535) : -1;
		if (n > 0)
			send_udp_answer(j->fd, out, (size_t)n, &j->from, j->fromlen);
		free(j);
		pthread_mutex_lock(&rq_lock);
	}
}

static int same_query(const struct udp_job *a, const struct udp_job *b)
{
	return a->fd == b->fd && a->fromlen == b->fromlen && memcmp(&a->from, &b->from, a->fromlen) == 0 &&
	       a->len == b->len && memcmp(a->q, b->q, a->len) == 0;
}

/* Queues j for a resolver thread (started if none is idle and fewer than RESOLVERS run); j is
 * freed here when it is not queued. */
static void resolve_later(struct udp_job *j)
{
	pthread_mutex_lock(&rq_lock);
	int dup = 0;
	for (struct udp_job *k = rq_head; k && !dup; k = k->next)
		dup = same_query(k, j);
	int full = !dup && rq_queued >= QUEUED_MAX;
	if (full)
		log_debug("DNS query dropped: %d queries wait for a resolver already", rq_queued);
	if (!dup && !full) {
		j->next = NULL;
		if (rq_tail)
			rq_tail->next = j;
		else
			rq_head = j;
		rq_tail = j;
		rq_queued++;
		j = NULL;
	}
	int start = rq_queued > rq_idle && rq_threads < RESOLVERS;
	if (start)
		rq_threads++;
	else
		pthread_cond_signal(&rq_wake);
	pthread_mutex_unlock(&rq_lock);
	free(j);
	if (start && thread_start_detached(resolver_main, NULL, 512 * 1024) != 0) {
		/* the query stays queued for a thread that runs, or the next query starts one */
		pthread_mutex_lock(&rq_lock);
		rq_threads--;
		pthread_mutex_unlock(&rq_lock);
	}
}

static void serve_udp(int fd)
{
	uint8_t q[4096], out[2048];
	for (int i = 0; i < 64; i++) {
		struct sockaddr_storage from;
		socklen_t fromlen = sizeof from;
		ssize_t len = recvfrom(fd, q, sizeof q, MSG_DONTWAIT, (struct sockaddr *)&from, &fromlen);
		if (len < 0)
			return;
		ssize_t n = answer_query(q, (size_t)len, out, sizeof out);
		if (n >= 0) {
			send_udp_answer(fd, out, (size_t)n, &from, fromlen);
		} else if (n == NEEDS_THREAD) {
			struct udp_job *j = malloc(sizeof *j + (size_t)len);
			if (!j)
				continue;
			j->fd = fd;
			j->from = from;
			j->fromlen = fromlen;
			j->len = (size_t)len;
			memcpy(j->q, q, (size_t)len);
			resolve_later(j);
		}
	}
}

/* One DNS-over-TCP client: length-prefixed queries until it closes or idles. */
static void *tcp_client_thread(void *arg)
{
	int s = *(int *)arg;
	free(arg);
	uint8_t *q = malloc(65535), *out = malloc(65535);
	while (q && out) {
		uint8_t lenbuf[2];
		int64_t deadline = now_ms() + TCP_IDLE_MS;
		if (read_exact(s, lenbuf, 2, deadline) < 0)
			break;
		size_t len = (size_t)lenbuf[0] << 8 | lenbuf[1];
		if (read_exact(s, q, len, deadline) < 0)
			break;
		ssize_t n = answer_fully(q, len, out, 65535);
		if (n < 0)
			break;
		lenbuf[0] = (uint8_t)(n >> 8);
		lenbuf[1] = (uint8_t)n;
		if (write_all(s, lenbuf, 2, deadline) < 0 || write_all(s, out, (size_t)n, deadline) < 0)
			break;
	}
	free(q);
	free(out);
	close(s);
	return NULL;
}

static void serve_tcp(int fd)
{
	for (int i = 0; i < 16; i++) {
		int s = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (s < 0)
			return;
		int *arg = malloc(sizeof *arg);
		if (!arg) {
			close(s);
			continue;
		}
		*arg = s;
		if (thread_start_detached(tcp_client_thread, arg, 512 * 1024) != 0) {
			free(arg);
			close(s);
		}
	}
}

int dns_poll_fds(struct pollfd *p, int max)
{
	int fds[4] = { udp4, udp6, tcp4, tcp6 }, n = 0;
	for (int i = 0; i < 4 && n < max; i++)
		if (fds[i] >= 0)
			p[n++] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
	return n;
}

void dns_serve(const struct pollfd *p, int n)
{
	for (int i = 0; i < n; i++) {
		if (!(p[i].revents & POLLIN))
			continue;
		if (p[i].fd == udp4 || p[i].fd == udp6)
			serve_udp(p[i].fd);
		else
			serve_tcp(p[i].fd);
	}
}
