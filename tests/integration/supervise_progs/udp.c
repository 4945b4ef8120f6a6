/* udp.c - a statically linked UDP client for test_supervise_udp.py (gcc -static or musl-gcc -static).
 *
 *   udp MODE HOST PORT N [WINDOW]
 *     sendto   getaddrinfo(HOST) + N x (sendto, recvfrom with a source address), each echo checked
 *     connect  getaddrinfo(HOST) + connect + getpeername + N x (send, recv), each echo checked
 *     window   N datagrams of 64 bytes through sendto/recv with up to WINDOW in flight: how many came back
 *     cwindow  the same on a connected socket (connect, send/recv); both print "per_s" too
 *     gso      N x one sendmsg() with UDP_SEGMENT (GSO: 3 datagrams of 100, 100 and 50 bytes in one
 *              call, as QUIC stacks send), each of the 3 echoes received and checked
 *     untilfail  up to N x (sendto, an echo awaited 100 ms): until a sendto() fails (its errno)
 *     churn    one exchange on a socket of its own, prints {"phase": "ready"} and waits for a line on
 *              stdin; then N sockets, each: sendto, recvfrom, close; prints {"phase": "done"} and waits
 *              for a line again
 * Prints one JSON line: {"mode", "errno": null|"ENAME", "step", "ok": echoes checked, "addr": the
 * address sent to, "src": the source recvfrom() named (ADDR:PORT), "peer": getpeername()}. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "errname.h"

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif

static const char *mode;
static char addr_text[80] = "", src_text[80] = "", peer_text[80] = "";

static void text_of(const struct sockaddr *sa, char *buf)
{
	char ip[INET6_ADDRSTRLEN] = "?";
	int port;
	if (sa->sa_family == AF_INET) {
		inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, ip, sizeof ip);
		port = ntohs(((const struct sockaddr_in *)sa)->sin_port);
	} else {
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, ip, sizeof ip);
		port = ntohs(((const struct sockaddr_in6 *)sa)->sin6_port);
	}
	snprintf(buf, 80, sa->sa_family == AF_INET6 ? "[%s]:%d" : "%s:%d", ip, port);
}

static int report(const char *step, int err, long ok)
{
	printf("{\"mode\": \"%s\", \"step\": \"%s\", \"errno\": ", mode, step);
	printf(err ? "\"%s\"" : "null", errname(err));
	printf(", \"ok\": %ld, \"addr\": \"%s\", \"src\": \"%s\", \"peer\": \"%s\"}\n", ok, addr_text, src_text, peer_text);
	fflush(stdout);
	return err ? 1 : 0;
}

/* Waits up to ms for fd to be readable: 0, or ETIMEDOUT. */
static int readable(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	return poll(&p, 1, ms) == 1 ? 0 : ETIMEDOUT;
}

/* One datagram sent and its echo received (with its source when with_src); 0 or an errno. */
static int exchange(int s, const struct addrinfo *to, int i, int with_src)
{
	char msg[64], buf[256];
	int len = snprintf(msg, sizeof msg, "datagram %d from %s", i, mode);
	ssize_t n = to ? sendto(s, msg, (size_t)len, 0, to->ai_addr, to->ai_addrlen) : send(s, msg, (size_t)len, 0);
	if (n != len)
		return n < 0 ? errno : EINVAL;
	if (readable(s, 5000))
		return ETIMEDOUT;
	struct sockaddr_storage src;
	socklen_t slen = sizeof src;
	n = with_src ? recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&src, &slen) : recv(s, buf, sizeof buf, 0);
	if (n < 0)
		return errno;
	if (with_src)
		text_of((struct sockaddr *)&src, src_text);
	return n == len && memcmp(buf, msg, (size_t)len) == 0 ? 0 : EBADMSG;
}

static double now_s(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* to NULL: s is connected */
static int window(int s, const struct addrinfo *to, long n, long w)
{
	char buf[64];
	long sent = 0, got = 0;
	double t0 = now_s();
	memset(buf, 'w', sizeof buf);
	while (got < n) {
		while (sent < n && sent - got < w) {
			ssize_t r = to ? sendto(s, buf, sizeof buf, 0, to->ai_addr, to->ai_addrlen) : send(s, buf, sizeof buf, 0);
			if (r < 0)
				return report("sendto", errno, got);
			sent++;
		}
		if (readable(s, 2000))
			break; /* the rest is lost */
		char in[256];
		if (recv(s, in, sizeof in, 0) == (ssize_t)sizeof buf)
			got++;
	}
	fprintf(stderr, "per_s=%.0f\n", (double)got / (now_s() - t0));
	return report("done", got == n ? 0 : ETIMEDOUT, got);
}

static int until_fail(int s, const struct addrinfo *to, long n)
{
	long ok = 0;
	for (long i = 0; i < n; i++) {
		char msg[32], in[64];
		int len = snprintf(msg, sizeof msg, "until-fail %ld", i);
		if (sendto(s, msg, (size_t)len, 0, to->ai_addr, to->ai_addrlen) < 0)
			return report("sendto", errno, ok);
		if (readable(s, 100) == 0 && recv(s, in, sizeof in, 0) == len)
			ok++;
	}
	return report("done", 0, ok);
}

/* One GSO send of 3 segments and their 3 echoes; 0 or an errno. */
static int gso_exchange(int s, const struct addrinfo *to, int i)
{
	char msg[250], in[256];
	for (size_t k = 0; k < sizeof msg; k++)
		msg[k] = (char)('a' + (k / 100) * 3 + i % 3);
	uint16_t seg = 100;
	union {
		char buf[CMSG_SPACE(sizeof(uint16_t))];
		struct cmsghdr align;
	} u;
	struct iovec v = { msg, sizeof msg };
	struct msghdr m = { .msg_name = to->ai_addr, .msg_namelen = to->ai_addrlen, .msg_iov = &v, .msg_iovlen = 1,
			    .msg_control = u.buf, .msg_controllen = sizeof u.buf };
	struct cmsghdr *h = CMSG_FIRSTHDR(&m);
	h->cmsg_level = IPPROTO_UDP;
	h->cmsg_type = UDP_SEGMENT;
	h->cmsg_len = CMSG_LEN(sizeof seg);
	memcpy(CMSG_DATA(h), &seg, sizeof seg);
	ssize_t n = sendmsg(s, &m, 0);
	if (n != (ssize_t)sizeof msg)
		return n < 0 ? errno : EINVAL;
	for (int k = 0; k < 3; k++) {
		if (readable(s, 5000))
			return ETIMEDOUT;
		struct sockaddr_storage src;
		socklen_t slen = sizeof src;
		n = recvfrom(s, in, sizeof in, 0, (struct sockaddr *)&src, &slen);
		size_t want = k < 2 ? 100 : 50;
		if (n != (ssize_t)want || memcmp(in, msg + 100 * k, want) != 0)
			return EBADMSG;
		text_of((struct sockaddr *)&src, src_text);
	}
	return 0;
}

static void wait_line(const char *phase)
{
	char line[16];
	printf("{\"phase\": \"%s\"}\n", phase);
	fflush(stdout);
	if (!fgets(line, sizeof line, stdin))
		exit(2);
}

static int churn(const struct addrinfo *to, long n)
{
	for (long i = 0; i <= n; i++) {
		int s = socket(to->ai_family, SOCK_DGRAM, 0);
		int err = s < 0 ? errno : exchange(s, to, (int)i, 1);
		if (s >= 0)
			close(s);
		if (err)
			return report("churn", err, i);
		if (i == 0)
			wait_line("ready");
	}
	wait_line("done");
	return report("done", 0, n);
}

int main(int argc, char **argv)
{
	if (argc < 5) {
		fprintf(stderr, "usage: udp MODE HOST PORT N [WINDOW]\n");
		return 2;
	}
	mode = argv[1];
	long n = atol(argv[4]), ok = 0;
	struct addrinfo hints = { .ai_socktype = SOCK_DGRAM }, *res;
	int rc = getaddrinfo(argv[2], argv[3], &hints, &res);
	if (rc) {
		printf("{\"mode\": \"%s\", \"step\": \"getaddrinfo\", \"errno\": \"EAI\", \"gai\": \"%s\"}\n", mode,
		       gai_strerror(rc));
		return 1;
	}
	text_of(res->ai_addr, addr_text);
	if (strcmp(mode, "churn") == 0)
		return churn(res, n);
	int s = socket(res->ai_family, SOCK_DGRAM, 0);
	if (s < 0)
		return report("socket", errno, 0);
	if (strcmp(mode, "window") == 0)
		return window(s, res, n, argc > 5 ? atol(argv[5]) : 32);
	if (strcmp(mode, "cwindow") == 0) {
		if (connect(s, res->ai_addr, res->ai_addrlen) < 0)
			return report("connect", errno, 0);
		return window(s, NULL, n, argc > 5 ? atol(argv[5]) : 32);
	}
	if (strcmp(mode, "untilfail") == 0)
		return until_fail(s, res, n);
	if (strcmp(mode, "srcroute") == 0 || strcmp(mode, "srcroute-cmsg") == 0) {
		/* an IPv4 loose source route by way of argv[5] (on the socket, or in the control data) */
		unsigned char opt[8] = { 1, 0x83, 7, 4 };
		char control[CMSG_SPACE(sizeof opt)] = { 0 };
		struct iovec iov = { "x", 1 };
		struct msghdr m = { .msg_name = res->ai_addr, .msg_namelen = res->ai_addrlen, .msg_iov = &iov, .msg_iovlen = 1 };
		inet_pton(AF_INET, argc > 5 ? argv[5] : "127.0.0.1", opt + 4);
		if (strcmp(mode, "srcroute") == 0) {
			if (setsockopt(s, IPPROTO_IP, IP_OPTIONS, opt, sizeof opt) < 0)
				return report("setsockopt", errno, 0);
		} else {
			struct cmsghdr *h = (struct cmsghdr *)control;
			h->cmsg_level = IPPROTO_IP;
			h->cmsg_type = IP_RETOPTS;
			h->cmsg_len = CMSG_LEN(sizeof opt);
			memcpy(CMSG_DATA(h), opt, sizeof opt);
			m.msg_control = control;
			m.msg_controllen = sizeof control;
		}
		if (sendmsg(s, &m, 0) < 0)
			return report("sendmsg", errno, 0);
		return report("done", 0, 1);
	}
	if (strcmp(mode, "gso") == 0) {
		for (; ok < n; ok++) {
			int err = gso_exchange(s, res, (int)ok);
			if (err)
				return report("sendmsg", err, ok);
		}
		return report("done", 0, ok);
	}
	int connected = strcmp(mode, "connect") == 0;
	if (connected) {
		struct sockaddr_storage peer;
		socklen_t plen = sizeof peer;
		if (connect(s, res->ai_addr, res->ai_addrlen) < 0)
			return report("connect", errno, 0);
		if (getpeername(s, (struct sockaddr *)&peer, &plen) == 0)
			text_of((struct sockaddr *)&peer, peer_text);
	}
	for (; ok < n; ok++) {
		int err = exchange(s, connected ? NULL : res, (int)ok, !connected);
		if (err)
			return report(connected ? "send" : "sendto", err, ok);
	}
	return report("done", 0, ok);
}
