/* addrs.c - a statically linked UDP client for test_supervise_udp.py: addresses in the forms the
 * kernel accepts and reports, and blocking sends.
 *
 *   addrs dual IPV4 PORT FORM   an IPv6 (dual-stack) socket sends to an IPv4 echo server, the
 *                               destination as FORM "in" (a sockaddr_in) or "mapped"
 *                               (::ffff:a.b.c.d): recvfrom() with room for any address, then with
 *                               room for a sockaddr_in only; connect(), getpeername() likewise
 *   addrs rfc2133 IPV6 PORT     an IPv6 sockaddr of 24 bytes (SIN6_LEN_RFC2133: no scope id), as
 *                               sendto()'s and connect()'s destination
 *   addrs block IPV4 PORT N HOW N datagrams of 1400 bytes on a blocking socket with a small send
 *                               buffer, HOW "sendto" or "sendmsg" (connected): each send blocks
 *                               until the buffer has room; PORT 0: to a socket of its own on IPV4
 * Prints one JSON line: {"mode", "errno": null|"ENAME", "step", "ok", and per mode the addresses
 * reported ("src", "peer": [ADDR]:PORT and their lengths, "cut": the length reported with room
 * for a sockaddr_in only)}. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "errname.h"

static const char *mode;

static void text_of(const struct sockaddr_storage *ss, char *buf, size_t size)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	int port = 0;
	if (ss->ss_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, ip, sizeof ip);
		port = ntohs(((const struct sockaddr_in *)ss)->sin_port);
	} else if (ss->ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, ip, sizeof ip);
		port = ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	}
	snprintf(buf, size, ss->ss_family == AF_INET6 ? "[%s]:%d" : "%s:%d", ip, port);
}

static int fail(const char *step, int err, long ok)
{
	printf("{\"mode\": \"%s\", \"step\": \"%s\", \"errno\": \"%s\", \"ok\": %ld}\n", mode, step, errname(err), ok);
	return 1;
}

static int readable(int fd)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, 5000) == 1;
}

/* One datagram to `to` (NULL: connected) and its echo; the source reported in *src and *srclen
 * (room: *srclen on entry). 0 or an errno. */
static int exchange(int s, const struct sockaddr *to, socklen_t tolen, struct sockaddr_storage *src, socklen_t *srclen)
{
	char in[64];
	ssize_t n = to ? sendto(s, "ping", 4, 0, to, tolen) : send(s, "ping", 4, 0);
	if (n != 4)
		return n < 0 ? errno : EINVAL;
	if (!readable(s))
		return ETIMEDOUT;
	memset(src, 0, sizeof *src);
	n = recvfrom(s, in, sizeof in, 0, (struct sockaddr *)src, srclen);
	if (n < 0)
		return errno;
	return n == 4 && memcmp(in, "ping", 4) == 0 ? 0 : EBADMSG;
}

static int dual(const char *ip, int port, const char *form)
{
	struct sockaddr_storage to = { 0 }, got;
	socklen_t tolen, len;
	struct sockaddr_in *v4 = (struct sockaddr_in *)&to;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&to;
	char src[80], peer[80];
	if (strcmp(form, "in") == 0) {
		v4->sin_family = AF_INET;
		v4->sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, ip, &v4->sin_addr);
		tolen = sizeof *v4;
	} else {
		char mapped[64];
		snprintf(mapped, sizeof mapped, "::ffff:%s", ip);
		v6->sin6_family = AF_INET6;
		v6->sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, mapped, &v6->sin6_addr);
		tolen = sizeof *v6;
	}
	int s = socket(AF_INET6, SOCK_DGRAM, 0), off = 0;
	if (s < 0 || setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off) < 0)
		return fail("socket", errno, 0);
	len = sizeof got;
	int err = exchange(s, (struct sockaddr *)&to, tolen, &got, &len);
	if (err)
		return fail("sendto", err, 0);
	text_of(&got, src, sizeof src);
	socklen_t srclen = len;
	len = sizeof(struct sockaddr_in);
	err = exchange(s, (struct sockaddr *)&to, tolen, &got, &len);
	if (err)
		return fail("sendto-cut", err, 1);
	socklen_t srccut = len;
	if (connect(s, (struct sockaddr *)&to, tolen) < 0)
		return fail("connect", errno, 2);
	len = sizeof got;
	if (getpeername(s, (struct sockaddr *)&got, &len) < 0)
		return fail("getpeername", errno, 2);
	text_of(&got, peer, sizeof peer);
	socklen_t peerlen = len;
	len = sizeof(struct sockaddr_in);
	if (getpeername(s, (struct sockaddr *)&got, &len) < 0)
		return fail("getpeername-cut", errno, 2);
	socklen_t peercut = len;
	char in[16];
	if (send(s, "ping", 4, 0) != 4 || !readable(s) || recv(s, in, sizeof in, 0) != 4)
		return fail("send", errno, 2);
	printf("{\"mode\": \"%s\", \"step\": \"done\", \"errno\": null, \"ok\": 3, \"src\": \"%s\", \"srclen\": %u, "
	       "\"srccut\": %u, \"peer\": \"%s\", \"peerlen\": %u, \"peercut\": %u}\n",
	       mode, src, srclen, srccut, peer, peerlen, peercut);
	return 0;
}

static int rfc2133(const char *ip, int port)
{
	struct sockaddr_in6 to = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port) };
	struct sockaddr_storage got;
	socklen_t len = sizeof got;
	inet_pton(AF_INET6, ip, &to.sin6_addr);
	int s = socket(AF_INET6, SOCK_DGRAM, 0);
	if (s < 0)
		return fail("socket", errno, 0);
	int err = exchange(s, (struct sockaddr *)&to, 24, &got, &len);
	if (err)
		return fail("sendto", err, 0);
	if (connect(s, (struct sockaddr *)&to, 24) < 0)
		return fail("connect", errno, 1);
	len = sizeof got;
	err = exchange(s, NULL, 0, &got, &len);
	if (err)
		return fail("send", err, 1);
	printf("{\"mode\": \"%s\", \"step\": \"done\", \"errno\": null, \"ok\": 2}\n", mode);
	return 0;
}

static int block(const char *ip, int port, long n, const char *how)
{
	struct sockaddr_in to = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, ip, &to.sin_addr);
	if (port == 0) { /* a sink of our own: a connected socket would hear of no receiver (ECONNREFUSED) */
		socklen_t l = sizeof to;
		int sink = socket(AF_INET, SOCK_DGRAM, 0);
		if (sink < 0 || bind(sink, (struct sockaddr *)&to, sizeof to) < 0 ||
		    getsockname(sink, (struct sockaddr *)&to, &l) < 0)
			return fail("sink", errno, 0);
	}
	int s = socket(AF_INET, SOCK_DGRAM, 0), small = 1;
	if (s < 0 || setsockopt(s, SOL_SOCKET, SO_SNDBUF, &small, sizeof small) < 0)
		return fail("socket", errno, 0);
	int connected = strcmp(how, "sendmsg") == 0;
	if (connected && connect(s, (struct sockaddr *)&to, sizeof to) < 0)
		return fail("connect", errno, 0);
	static char buf[1400];
	for (long i = 0; i < n; i++) {
		struct iovec v = { buf, sizeof buf };
		struct msghdr m = { .msg_iov = &v, .msg_iovlen = 1 };
		ssize_t r = connected ? sendmsg(s, &m, 0) : sendto(s, buf, sizeof buf, 0, (struct sockaddr *)&to, sizeof to);
		if (r != (ssize_t)sizeof buf)
			return fail(how, r < 0 ? errno : EINVAL, i);
	}
	printf("{\"mode\": \"%s\", \"step\": \"done\", \"errno\": null, \"ok\": %ld}\n", mode, n);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc < 4) {
		fprintf(stderr, "usage: addrs MODE ADDR PORT [ARGS]\n");
		return 2;
	}
	mode = argv[1];
	int port = atoi(argv[3]);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (strcmp(mode, "dual") == 0 && argc > 4)
		return dual(argv[2], port, argv[4]);
	if (strcmp(mode, "rfc2133") == 0)
		return rfc2133(argv[2], port);
	if (strcmp(mode, "block") == 0 && argc > 5)
		return block(argv[2], port, atol(argv[4]), argv[5]);
	fprintf(stderr, "addrs: bad arguments\n");
	return 2;
}
