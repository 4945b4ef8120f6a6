/* client.c - a statically linked HTTP client for test_supervise.py (built there with gcc -static
 * or musl-gcc -static): what LD_PRELOAD cannot reach.
 *
 *   client MODE HOST PORT PATH OUT
 *     get     getaddrinfo(HOST) + connect + GET /PATH, the body into OUT
 *     thread  the same in a second thread
 *     twice   "get" twice in a row (two JSON lines)
 *     fork    the same in a forked child (the parent waits and reports)
 *     wait    reads a line from stdin first, then does "get"
 *     epoll   a non-blocking socket added to epoll BEFORE connect(), then the GET driven by
 *             epoll_wait() (the case the LD_PRELOAD library cannot cover)
 *     udp     sendto() one datagram to HOST:PORT (a numeric address)
 *     fdlimit "get" with no fd free at connect() (RLIMIT_NOFILE lowered to just after the socket)
 * Prints one JSON line: {"mode": ..., "errno": null|"ENAME", "step": ..., "bytes": N, "addr": the
 * address connected to, "peer": what getpeername() said after connect}. */
#define _GNU_SOURCE
#include <errno.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "errname.h"

static const char *mode, *host, *port, *path, *out;
static int at_fd_limit; /* mode fdlimit */
static char addr_text[INET6_ADDRSTRLEN] = "", peer_text[INET6_ADDRSTRLEN] = "";

static void text_of(const struct sockaddr *sa, char *buf)
{
	const void *a = sa->sa_family == AF_INET ? (const void *)&((const struct sockaddr_in *)sa)->sin_addr
						 : (const void *)&((const struct sockaddr_in6 *)sa)->sin6_addr;
	if (!inet_ntop(sa->sa_family, a, buf, INET6_ADDRSTRLEN))
		strcpy(buf, "?");
}

/* After connect(): the address we gave and the peer the kernel (or the supervisor) names. */
static void note_peer(int s, const struct sockaddr *to)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof ss;
	text_of(to, addr_text);
	if (getpeername(s, (struct sockaddr *)&ss, &len) == 0)
		text_of((struct sockaddr *)&ss, peer_text);
	else
		strcpy(peer_text, "none");
}

static void report(const char *step, int err, long bytes)
{
	if (err)
		printf("{\"mode\": \"%s\", \"step\": \"%s\", \"errno\": \"%s\", \"bytes\": %ld", mode, step,
		       errname(err), bytes);
	else
		printf("{\"mode\": \"%s\", \"step\": \"%s\", \"errno\": null, \"bytes\": %ld", mode, step, bytes);
	printf(", \"addr\": \"%s\", \"peer\": \"%s\"}\n", addr_text, peer_text);
	fflush(stdout);
}

/* Returns 0 on success; reports either way. */
static int fetch(void)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
	int rc = getaddrinfo(host, port, &hints, &res);
	if (rc) {
		printf("{\"mode\": \"%s\", \"step\": \"getaddrinfo\", \"errno\": \"EAI\", \"gai\": \"%s\", \"bytes\": 0}\n",
		       mode, gai_strerror(rc));
		fflush(stdout);
		return 1;
	}
	int s = socket(res->ai_family, SOCK_STREAM, 0);
	struct rlimit full, none_free;
	if (at_fd_limit && s >= 0 && getrlimit(RLIMIT_NOFILE, &full) == 0) {
		none_free = full;
		none_free.rlim_cur = (rlim_t)s + 1;
		setrlimit(RLIMIT_NOFILE, &none_free);
	}
	int connected = s < 0 ? -1 : connect(s, res->ai_addr, res->ai_addrlen);
	int err = errno;
	if (at_fd_limit && s >= 0)
		setrlimit(RLIMIT_NOFILE, &full); /* fopen() needs one */
	if (connected < 0) {
		report(s < 0 ? "socket" : "connect", err, 0);
		return 1;
	}
	note_peer(s, res->ai_addr);
	char req[600];
	snprintf(req, sizeof req, "GET /%s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n", path, host);
	if (write(s, req, strlen(req)) != (ssize_t)strlen(req)) {
		report("write", errno, 0);
		return 1;
	}
	size_t cap = 1 << 20, len = 0;
	char *buf = malloc(cap);
	ssize_t n;
	while (buf && len < cap && (n = read(s, buf + len, cap - len)) > 0)
		len += (size_t)n;
	close(s);
	char *body = buf ? memmem(buf, len, "\r\n\r\n", 4) : NULL;
	if (!body) {
		report("read", EINVAL, (long)len);
		return 1;
	}
	body += 4;
	FILE *f = fopen(out, "wb");
	size_t blen = len - (size_t)(body - buf);
	if (!f || fwrite(body, 1, blen, f) != blen || fclose(f) != 0) {
		report("write-out", errno, 0);
		return 1;
	}
	report("done", 0, (long)blen);
	return 0;
}

/* Waits for events on the epoll set; 0 or an errno. */
static int wait_for(int ep, int s, uint32_t events)
{
	struct epoll_event ev = { .events = events | EPOLLERR | EPOLLHUP, .data.fd = s }, got;
	if (epoll_ctl(ep, EPOLL_CTL_MOD, s, &ev) < 0)
		return errno;
	int n = epoll_wait(ep, &got, 1, 10000);
	return n == 1 ? 0 : n == 0 ? ETIMEDOUT : errno;
}

static int fetch_epoll(void)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
	if (getaddrinfo(host, port, &hints, &res) != 0) {
		report("getaddrinfo", EINVAL, 0);
		return 1;
	}
	int s = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK, 0), ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLOUT, .data.fd = s };
	if (s < 0 || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) < 0) {
		report("epoll", errno, 0);
		return 1;
	}
	if (connect(s, res->ai_addr, res->ai_addrlen) < 0 && errno != EINPROGRESS) {
		report("connect", errno, 0);
		return 1;
	}
	int err = wait_for(ep, s, EPOLLOUT);
	socklen_t l = sizeof err;
	if (err || getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &l) < 0 || err) {
		report("connect-wait", err ? err : errno, 0);
		return 1;
	}
	note_peer(s, res->ai_addr);
	char req[600];
	snprintf(req, sizeof req, "GET /%s HTTP/1.0\r\nHost: %s\r\n\r\n", path, host);
	if (write(s, req, strlen(req)) != (ssize_t)strlen(req)) {
		report("write", errno, 0);
		return 1;
	}
	static char buf[1 << 20];
	size_t len = 0;
	for (;;) {
		if ((err = wait_for(ep, s, EPOLLIN)) != 0) {
			report("read-wait", err, (long)len);
			return 1;
		}
		ssize_t n = read(s, buf + len, sizeof buf - len);
		if (n == 0)
			break;
		if (n < 0 && errno != EAGAIN) {
			report("read", errno, (long)len);
			return 1;
		}
		len += n > 0 ? (size_t)n : 0;
	}
	char *body = memmem(buf, len, "\r\n\r\n", 4);
	FILE *f = fopen(out, "wb");
	size_t blen = body ? len - (size_t)(body + 4 - buf) : 0;
	if (!body || !f || fwrite(body + 4, 1, blen, f) != blen || fclose(f) != 0) {
		report("write-out", EINVAL, 0);
		return 1;
	}
	report("done", 0, (long)blen);
	return 0;
}

static void *fetch_thread(void *arg)
{
	(void)arg;
	return (void *)(long)fetch();
}

int main(int argc, char **argv)
{
	if (argc != 6) {
		fprintf(stderr, "usage: client MODE HOST PORT PATH OUT\n");
		return 2;
	}
	mode = argv[1], host = argv[2], port = argv[3], path = argv[4], out = argv[5];
	if (strcmp(mode, "get") == 0)
		return fetch();
	if (strcmp(mode, "epoll") == 0)
		return fetch_epoll();
	if (strcmp(mode, "twice") == 0) {
		int rc = fetch();
		return rc ? rc : fetch();
	}
	if (strcmp(mode, "fdlimit") == 0) {
		at_fd_limit = 1;
		return fetch();
	}
	if (strcmp(mode, "wait") == 0) {
		char line[16];
		if (!fgets(line, sizeof line, stdin))
			return 2;
		return fetch();
	}
	if (strcmp(mode, "thread") == 0) {
		pthread_t t;
		void *r;
		if (pthread_create(&t, NULL, fetch_thread, NULL) != 0 || pthread_join(t, &r) != 0)
			return 2;
		return (int)(long)r;
	}
	if (strcmp(mode, "fork") == 0) {
		pid_t pid = fork();
		if (pid == 0)
			_exit(fetch());
		int status;
		if (pid < 0 || waitpid(pid, &status, 0) != pid)
			return 2;
		return WIFEXITED(status) ? WEXITSTATUS(status) : 2;
	}
	if (strcmp(mode, "udp") == 0) {
		struct addrinfo hints = { .ai_socktype = SOCK_DGRAM, .ai_flags = AI_NUMERICHOST }, *res;
		if (getaddrinfo(host, port, &hints, &res) != 0)
			return 2;
		int s = socket(res->ai_family, SOCK_DGRAM, 0);
		ssize_t n = sendto(s, "x", 1, 0, res->ai_addr, res->ai_addrlen);
		report("sendto", n < 0 ? errno : 0, (long)n);
		return n < 0;
	}
	return 2;
}
