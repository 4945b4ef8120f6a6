/* Helpers for tests/bench/bench.py (issue 7): a loopback echo/sink server and the load clients.
 *
 *   benchtool server                         TCP echo + TCP sink + UDP echo + a one-page HTTP server on
 *                                            127.0.0.1, ports printed
 *   benchtool connect MODE HOST PORT N [PROXYHOST PROXYPORT]
 *   benchtool bulk MODE HOST PORT BYTES [PROXYHOST PROXYPORT]
 *   benchtool conc MODE HOST PORT NCONN SECONDS [PROXYHOST PROXYPORT]
 *   benchtool udp HOST PORT SECONDS WINDOW SIZE
 *   benchtool udprtt HOST PORT N             N one-datagram round trips, one at a time (latency)
 *
 * MODE: plain (an ordinary connect(), what a preloaded library or proxychains sees), s5pipe (our own
 * SOCKS5 client, greeting and request in one write), s5seq (the same, waiting for each answer).
 * Clients print one result line ("ok ...") or "fail REASON" and exit 1; bench.py parses them. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum mode { MODE_PLAIN, MODE_S5PIPE, MODE_S5SEQ };

static void fail(const char *what)
{
	printf("fail %s: %s\n", what, strerror(errno));
	fflush(stdout);
	exit(1);
}

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static struct sockaddr_in addr_of(const char *host, const char *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port)) };
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		errno = EINVAL;
		fail("address");
	}
	return sa;
}

static enum mode mode_of(const char *s)
{
	if (!strcmp(s, "s5pipe"))
		return MODE_S5PIPE;
	if (!strcmp(s, "s5seq"))
		return MODE_S5SEQ;
	return MODE_PLAIN;
}

static int read_full(int fd, void *buf, size_t n)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = read(fd, (char *)buf + got, n - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

static int write_full(int fd, const void *buf, size_t n)
{
	size_t put = 0;
	while (put < n) {
		ssize_t w = write(fd, (const char *)buf + put, n - put);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		put += (size_t)w;
	}
	return 0;
}

/* The SOCKS5 CONNECT request for an IPv4 target, after the no-auth greeting (3 bytes). */
static size_t s5_messages(unsigned char *buf, const struct sockaddr_in *target)
{
	unsigned char msg[] = { 5, 1, 0, 5, 1, 0, 1 };
	memcpy(buf, msg, sizeof msg);
	memcpy(buf + 7, &target->sin_addr, 4);
	memcpy(buf + 11, &target->sin_port, 2);
	return 13;
}

/* Length of a CONNECT reply whose first 5 bytes are in r, or 0 if it is not a success. */
static size_t s5_reply_len(const unsigned char *r)
{
	if (r[0] != 5 || r[1] != 0)
		return 0;
	switch (r[3]) {
	case 1: return 10;
	case 4: return 22;
	case 3: return 7 + r[4];
	}
	return 0;
}

/* Connect to the target, directly or through the proxy; a connected socket or -1. */
static int open_stream(enum mode mode, const struct sockaddr_in *target, const struct sockaddr_in *proxy)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0)
		return -1;
	struct timeval tv = { .tv_sec = 10 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	const struct sockaddr_in *to = mode == MODE_PLAIN ? target : proxy;
	if (connect(fd, (const struct sockaddr *)to, sizeof *to) < 0)
		goto bad;
	if (mode == MODE_PLAIN)
		return fd;
	unsigned char msg[16], reply[300];
	s5_messages(msg, target);
	if (mode == MODE_S5PIPE) {
		if (write_full(fd, msg, 13) < 0 || read_full(fd, reply, 2) < 0)
			goto bad;
	} else {
		if (write_full(fd, msg, 3) < 0 || read_full(fd, reply, 2) < 0 || write_full(fd, msg + 3, 10) < 0)
			goto bad;
	}
	if (reply[0] != 5 || reply[1] != 0 || read_full(fd, reply, 5) < 0)
		goto bad;
	size_t len = s5_reply_len(reply);
	if (len == 0 || read_full(fd, reply + 5, len - 5) < 0)
		goto bad;
	return fd;
bad:
	close(fd);
	return -1;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static int cmd_connect(int argc, char **argv)
{
	if (argc < 5)
		return 2;
	enum mode mode = mode_of(argv[1]);
	struct sockaddr_in target = addr_of(argv[2], argv[3]), proxy = target;
	int n = atoi(argv[4]);
	if (mode != MODE_PLAIN) {
		if (argc < 7)
			return 2;
		proxy = addr_of(argv[5], argv[6]);
	}
	double *us = calloc((size_t)n, sizeof *us);
	if (!us)
		fail("calloc");
	for (int i = 0; i < n; i++) {
		double t0 = now_s();
		int fd = open_stream(mode, &target, &proxy);
		if (fd < 0)
			fail("connect");
		char c = 'x';
		if (write_full(fd, &c, 1) < 0 || read_full(fd, &c, 1) < 0)
			fail("echo");
		close(fd);
		us[i] = (now_s() - t0) * 1e6;
	}
	/* every sample, so that bench.py can merge interleaved rounds into one distribution */
	fputs("samples", stdout);
	for (int i = 0; i < n; i++)
		printf(" %.1f", us[i]);
	putchar('\n');
	qsort(us, (size_t)n, sizeof *us, cmp_double);
	printf("ok n=%d median_us=%.1f p99_us=%.1f\n", n, us[n / 2], us[(n * 99) / 100 < n ? (n * 99) / 100 : n - 1]);
	return 0;
}

static int cmd_bulk(int argc, char **argv)
{
	if (argc < 5)
		return 2;
	enum mode mode = mode_of(argv[1]);
	struct sockaddr_in target = addr_of(argv[2], argv[3]), proxy = target;
	long long total = atoll(argv[4]);
	if (mode != MODE_PLAIN) {
		if (argc < 7)
			return 2;
		proxy = addr_of(argv[5], argv[6]);
	}
	int fd = open_stream(mode, &target, &proxy);
	if (fd < 0)
		fail("connect");
	static char buf[256 * 1024];
	memset(buf, 'b', sizeof buf);
	double t0 = now_s();
	uint64_t header = (uint64_t)total;
	if (write_full(fd, &header, sizeof header) < 0)
		fail("write");
	for (long long sent = 0; sent < total;) {
		size_t chunk = total - sent < (long long)sizeof buf ? (size_t)(total - sent) : sizeof buf;
		ssize_t w = write(fd, buf, chunk);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			fail("write");
		sent += w;
	}
	uint64_t counted = 0;
	if (read_full(fd, &counted, sizeof counted) < 0)
		fail("sink count");
	double secs = now_s() - t0;
	if ((long long)counted != total) {
		errno = EIO;
		fail("sink counted a different length");
	}
	printf("ok bytes=%lld seconds=%.6f\n", total, secs);
	return 0;
}

/* ---- many connections at once --------------------------------------------------------------- */

enum conn_state { C_CONNECTING, C_GREETING, C_REPLY, C_READY, C_WAIT_ECHO, C_DEAD };

struct conn {
	int fd;
	enum conn_state state;
	unsigned char buf[300];
	size_t have;
};

static void conn_send_request(struct conn *c, const struct sockaddr_in *target, enum mode mode)
{
	unsigned char msg[16];
	s5_messages(msg, target);
	if (mode == MODE_S5PIPE) {
		if (write(c->fd, msg, 13) != 13)
			c->state = C_DEAD;
		else
			c->state = C_GREETING;
	} else {
		if (write(c->fd, msg, 3) != 3)
			c->state = C_DEAD;
		else
			c->state = C_GREETING;
	}
}

static int cmd_conc(int argc, char **argv)
{
	if (argc < 6)
		return 2;
	enum mode mode = mode_of(argv[1]);
	struct sockaddr_in target = addr_of(argv[2], argv[3]), proxy = target;
	if (mode != MODE_PLAIN) {
		if (argc < 8)
			return 2;
		proxy = addr_of(argv[6], argv[7]);
	}
	int n = atoi(argv[4]);
	double seconds = atof(argv[5]);
	struct conn *conns = calloc((size_t)n, sizeof *conns);
	int ep = epoll_create1(0);
	if (!conns || ep < 0)
		fail("setup");
	double t0 = now_s();
	int opened = 0;
	for (int i = 0; i < n; i++) {
		struct conn *c = &conns[i];
		c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (c->fd < 0) {
			c->state = C_DEAD;
			continue;
		}
		int one = 1;
		setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		const struct sockaddr_in *to = mode == MODE_PLAIN ? &target : &proxy;
		if (connect(c->fd, (const struct sockaddr *)to, sizeof *to) < 0 && errno != EINPROGRESS) {
			c->state = C_DEAD;
			continue;
		}
		c->state = C_CONNECTING;
		struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLET, .data.ptr = c };
		epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
		opened++;
	}
	/* Phase 1: every connection through its handshake, or the deadline. */
	int established = 0, dead = n - opened;
	double deadline = t0 + 30;
	struct epoll_event evs[256];
	while (established + dead < n && now_s() < deadline) {
		int k = epoll_wait(ep, evs, 256, 200);
		for (int j = 0; j < k; j++) {
			struct conn *c = evs[j].data.ptr;
			if (c->state == C_DEAD || c->state == C_READY)
				continue;
			if (c->state == C_CONNECTING) {
				int err = 0;
				socklen_t len = sizeof err;
				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);
				if (err) {
					c->state = C_DEAD;
					dead++;
					continue;
				}
				if (!(evs[j].events & EPOLLOUT))
					continue;
				if (mode == MODE_PLAIN) {
					c->state = C_READY;
					established++;
					continue;
				}
				conn_send_request(c, &target, mode);
				if (c->state == C_DEAD) {
					dead++;
					continue;
				}
			}
			for (;;) {
				size_t want = c->state == C_GREETING ? 2 : 5;
				if (c->state == C_REPLY && c->have >= 5) {
					want = s5_reply_len(c->buf);
					if (want == 0) {
						c->state = C_DEAD;
						dead++;
						break;
					}
				}
				if (c->have >= want) {
					if (c->state == C_GREETING) {
						if (c->buf[0] != 5 || c->buf[1] != 0) {
							c->state = C_DEAD;
							dead++;
							break;
						}
						c->have = 0;
						c->state = C_REPLY;
						if (mode == MODE_S5SEQ) {
							unsigned char msg[16];
							s5_messages(msg, &target);
							if (write(c->fd, msg + 3, 10) != 10) {
								c->state = C_DEAD;
								dead++;
								break;
							}
						}
						continue;
					}
					if (c->have >= 5 && c->have >= s5_reply_len(c->buf)) {
						c->state = C_READY;
						established++;
						break;
					}
				}
				ssize_t r = read(c->fd, c->buf + c->have, want - c->have);
				if (r > 0) {
					c->have += (size_t)r;
					continue;
				}
				if (r < 0 && (errno == EAGAIN || errno == EINTR))
					break;
				c->state = C_DEAD;
				dead++;
				break;
			}
		}
	}
	double setup = now_s() - t0;
	printf("established n=%d ok=%d setup_s=%.4f\n", n, established, setup);
	fflush(stdout);
	/* Phase 2: each ready connection does 1-byte round trips for the given time. */
	long long rtts = 0;
	for (int i = 0; i < n; i++) {
		struct conn *c = &conns[i];
		if (c->state != C_READY)
			continue;
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = c };
		epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
		if (write(c->fd, "r", 1) == 1)
			c->state = C_WAIT_ECHO;
		else
			c->state = C_DEAD;
	}
	double t1 = now_s(), end = t1 + seconds;
	while (established > 0 && now_s() < end) {
		int k = epoll_wait(ep, evs, 256, 100);
		for (int j = 0; j < k; j++) {
			struct conn *c = evs[j].data.ptr;
			if (c->state != C_WAIT_ECHO)
				continue;
			char b[64];
			ssize_t r = read(c->fd, b, sizeof b);
			if (r > 0) {
				rtts += r;
				if (write(c->fd, "r", 1) != 1)
					c->state = C_DEAD;
			} else if (!(r < 0 && errno == EAGAIN)) {
				c->state = C_DEAD;
			}
		}
	}
	printf("ok n=%d established=%d setup_s=%.4f rtts=%lld seconds=%.4f\n", n, established, setup, rtts, now_s() - t1);
	fflush(stdout);
	/* Hold every connection open until bench.py has sampled the server, then close. */
	char b[16];
	while (read(0, b, sizeof b) > 0)
		;
	return 0;
}

static int cmd_udprtt(int argc, char **argv)
{
	if (argc < 4)
		return 2;
	struct sockaddr_in target = addr_of(argv[1], argv[2]);
	int n = atoi(argv[3]);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || n < 1)
		fail("socket");
	struct timeval tv = { .tv_usec = 200000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	double *us = calloc((size_t)n, sizeof *us);
	if (!us)
		fail("calloc");
	int got = 0, lost = 0;
	char buf[2048];
	for (int i = 0; i < n; i++) {
		uint32_t seq = (uint32_t)i;
		double t0 = now_s();
		if (sendto(fd, &seq, sizeof seq, 0, (struct sockaddr *)&target, sizeof target) < 0)
			fail("sendto");
		for (;;) { /* a late answer to an earlier, timed-out datagram is skipped */
			ssize_t r = recvfrom(fd, buf, sizeof buf, 0, NULL, NULL);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				lost++;
				break;
			}
			if (r == sizeof seq && !memcmp(buf, &seq, sizeof seq)) {
				us[got++] = (now_s() - t0) * 1e6;
				break;
			}
		}
	}
	if (got == 0) {
		errno = ETIMEDOUT;
		fail("no answer");
	}
	fputs("samples", stdout);
	for (int i = 0; i < got; i++)
		printf(" %.1f", us[i]);
	putchar('\n');
	qsort(us, (size_t)got, sizeof *us, cmp_double);
	printf("ok n=%d lost=%d median_us=%.1f p99_us=%.1f min_us=%.1f\n", got, lost, us[got / 2],
	       us[(got * 99) / 100 < got ? (got * 99) / 100 : got - 1], us[0]);
	return 0;
}

static int cmd_udp(int argc, char **argv)
{
	if (argc < 6)
		return 2;
	struct sockaddr_in target = addr_of(argv[1], argv[2]);
	double seconds = atof(argv[3]);
	int window = atoi(argv[4]);
	size_t size = (size_t)atoi(argv[5]);
	char buf[65536];
	if (size > sizeof buf)
		size = sizeof buf;
	memset(buf, 'u', size);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		fail("socket");
	struct timeval tv = { .tv_usec = 200000 };
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	long long sent = 0, received = 0;
	int inflight = 0;
	double t0 = now_s(), end = t0 + seconds;
	while (now_s() < end) {
		while (inflight < window) {
			if (sendto(fd, buf, size, 0, (struct sockaddr *)&target, sizeof target) < 0)
				fail("sendto");
			sent++;
			inflight++;
		}
		ssize_t r = recvfrom(fd, buf, sizeof buf, 0, NULL, NULL);
		if (r >= 0) {
			received++;
			inflight--;
		} else if (errno == EAGAIN || errno == EWOULDBLOCK) {
			inflight = 0; /* the whole window is lost; late arrivals still count below */
		} else if (errno != EINTR) {
			fail("recvfrom");
		}
	}
	double secs = now_s() - t0;
	for (;;) { /* drain what is still on its way */
		ssize_t r = recvfrom(fd, buf, sizeof buf, 0, NULL, NULL);
		if (r < 0)
			break;
		received++;
	}
	printf("ok sent=%lld received=%lld seconds=%.4f\n", sent, received, secs);
	return 0;
}

/* ---- the target server ---------------------------------------------------------------------- */

enum { KIND_ECHO_LISTEN = 1, KIND_SINK_LISTEN, KIND_HTTP_LISTEN, KIND_UDP, KIND_ECHO, KIND_SINK, KIND_HTTP };

/* A sink connection starts with the 8-byte length of what follows and gets that count back once it
 * has read it all: no half-close needed, which microsocks does not pass on. */
struct peer {
	int fd, kind;
	uint64_t count, expect;
	size_t header_have;
};

static int listen_tcp(uint16_t port)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0), one = 1;
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0 || listen(fd, 4096) < 0)
		fail("listen");
	return fd;
}

static uint16_t port_of(int fd)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof sa;
	getsockname(fd, (struct sockaddr *)&sa, &len);
	return ntohs(sa.sin_port);
}

static void watch(int ep, int fd, int kind)
{
	struct peer *p = calloc(1, sizeof *p);
	if (!p)
		fail("calloc");
	p->fd = fd;
	p->kind = kind;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = p };
	epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

static void drop(int ep, struct peer *p)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, p->fd, NULL);
	close(p->fd);
	free(p);
}

/* One page for a one-shot curl: the request is one small write of the client, read in one go. */
static void http_answer(int fd, const char *req, size_t len)
{
	static const char page[] = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
				   "Connection: close\r\n\r\nok\n";
	if (len >= 4 && !memcmp(req, "GET ", 4))
		write_full(fd, page, sizeof page - 1);
}

__attribute__((noreturn)) static void cmd_server(void)
{
	int echo = listen_tcp(0), sink = listen_tcp(0), http = listen_tcp(0);
	int udp = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int rcvbuf = 4 << 20;
	setsockopt(udp, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
	if (udp < 0 || bind(udp, (struct sockaddr *)&sa, sizeof sa) < 0)
		fail("udp");
	int ep = epoll_create1(0);
	watch(ep, echo, KIND_ECHO_LISTEN);
	watch(ep, sink, KIND_SINK_LISTEN);
	watch(ep, http, KIND_HTTP_LISTEN);
	watch(ep, udp, KIND_UDP);
	printf("echo=%u sink=%u udp=%u http=%u\n", port_of(echo), port_of(sink), port_of(udp), port_of(http));
	fflush(stdout);
	static char buf[256 * 1024];
	struct epoll_event evs[256];
	for (;;) {
		int k = epoll_wait(ep, evs, 256, -1);
		for (int j = 0; j < k; j++) {
			struct peer *p = evs[j].data.ptr;
			if (p->kind == KIND_ECHO_LISTEN || p->kind == KIND_SINK_LISTEN || p->kind == KIND_HTTP_LISTEN) {
				int fd;
				while ((fd = accept4(p->fd, NULL, NULL, 0)) >= 0) {
					int one = 1;
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
					/* Blocking sockets: an echo answers at most what it just read, which
					 * the peer's buffer always takes; a sink only reads. */
					watch(ep, fd, p->kind == KIND_ECHO_LISTEN ? KIND_ECHO :
						      p->kind == KIND_SINK_LISTEN ? KIND_SINK : KIND_HTTP);
				}
			} else if (p->kind == KIND_UDP) {
				for (;;) {
					struct sockaddr_in from;
					socklen_t len = sizeof from;
					ssize_t r = recvfrom(p->fd, buf, sizeof buf, 0, (struct sockaddr *)&from, &len);
					if (r < 0)
						break;
					sendto(p->fd, buf, (size_t)r, 0, (struct sockaddr *)&from, len);
				}
			} else {
				ssize_t r = read(p->fd, buf, sizeof buf);
				if (r > 0 && p->kind == KIND_HTTP) {
					http_answer(p->fd, buf, (size_t)r);
					drop(ep, p);
				} else if (r > 0 && p->kind == KIND_ECHO) {
					if (write_full(p->fd, buf, (size_t)r) < 0)
						drop(ep, p);
				} else if (r > 0) {
					size_t off = 0;
					while (p->header_have < sizeof p->expect && off < (size_t)r)
						((char *)&p->expect)[p->header_have++] = buf[off++];
					p->count += (uint64_t)r - off;
					if (p->header_have == sizeof p->expect && p->count >= p->expect) {
						write_full(p->fd, &p->count, sizeof p->count);
						drop(ep, p);
					}
				} else if (!(r < 0 && errno == EINTR)) {
					drop(ep, p);
				}
			}
		}
	}
}

int main(int argc, char **argv)
{
	int rc = 2;
	if (argc >= 2 && !strcmp(argv[1], "server"))
		cmd_server();
	else if (argc >= 2 && !strcmp(argv[1], "connect"))
		rc = cmd_connect(argc - 1, argv + 1);
	else if (argc >= 2 && !strcmp(argv[1], "bulk"))
		rc = cmd_bulk(argc - 1, argv + 1);
	else if (argc >= 2 && !strcmp(argv[1], "conc"))
		rc = cmd_conc(argc - 1, argv + 1);
	else if (argc >= 2 && !strcmp(argv[1], "udp"))
		rc = cmd_udp(argc - 1, argv + 1);
	else if (argc >= 2 && !strcmp(argv[1], "udprtt"))
		rc = cmd_udprtt(argc - 1, argv + 1);
	if (rc == 2)
		fprintf(stderr, "usage: see the comment at the top of tests/bench/benchtool.c\n");
	return rc;
}
