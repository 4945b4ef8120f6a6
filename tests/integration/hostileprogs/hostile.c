/* hostile.c - programs that do hostile things to the library under them
 * (test_hostile_programs.py). Every mode prints "key=value" lines; the test
 * reads them. Targets are given by name (resolved with getaddrinfo: a fake
 * address under socksify) or by address.
 *
 *   closeall loop|range|syscall|closefrom NAME HTTPPORT UDPPORT
 *   fclose NAME HTTPPORT TARGETADDR
 *   dup2 NAME HTTPPORT UDPPORT
 *   nonblock NAME HTTPPORT
 *   eintr restart|norestart NAME PORT
 *   sigpipe dfl|ign|catch NAME PORT
 *   forkthreads NAME HTTPPORT NFORKS
 *   spawn vfork|posix NAME HTTPPORT
 *   child NAME HTTPPORT FAKEADDR        (run by spawn and closeall)
 *   halfclose NAME PORT NBYTES
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <spawn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;
static const char *self_path;

static void out(const char *key, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void out(const char *key, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	printf("%s=", key);
	vprintf(fmt, ap);
	printf("\n");
	fflush(stdout);
	va_end(ap);
}

static const char *ename(int e)
{
	static char buf[32];
	switch (e) {
#define E(x) case x: return #x;
	E(EINTR) E(ECONNREFUSED) E(ETIMEDOUT) E(EACCES) E(EHOSTUNREACH) E(ENETUNREACH) E(EAGAIN) E(EBADF)
	E(ENOTSOCK) E(EPIPE) E(ECONNRESET) E(EINVAL) E(EAFNOSUPPORT) E(EOPNOTSUPP) E(ENOTCONN) E(EISCONN)
	E(EINPROGRESS) E(EALREADY) E(ENOENT)
#undef E
	}
	snprintf(buf, sizeof buf, "E%d", e);
	return buf;
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* getaddrinfo(name) in one family: 0 and the address, or the EAI code. */
static int resolve(const char *name, int port, int family, struct sockaddr_storage *ss, socklen_t *len)
{
	struct addrinfo hints = { .ai_family = family, .ai_socktype = SOCK_STREAM }, *res;
	int rc = getaddrinfo(name, NULL, &hints, &res);
	if (rc)
		return rc;
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	if (ss->ss_family == AF_INET)
		((struct sockaddr_in *)ss)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)ss)->sin6_port = htons(port);
	freeaddrinfo(res);
	return 0;
}

static const char *addr_text(const struct sockaddr_storage *ss)
{
	static char buf[INET6_ADDRSTRLEN];
	if (ss->ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)ss)->sin_addr, buf, sizeof buf);
	else
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)ss)->sin6_addr, buf, sizeof buf);
	return buf;
}

static int read_all(int fd, char *buf, size_t cap, int timeout_ms)
{
	size_t n = 0;
	long long end = now_ms() + timeout_ms;
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		long long left = end - now_ms();
		if (left <= 0)
			return -2;
		int pr = poll(&p, 1, (int)left);
		if (pr < 0 && errno == EINTR)
			continue;
		if (pr <= 0)
			return -2;
		ssize_t r = read(fd, buf + n, cap - 1 - n);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0)
			return -1;
		if (r == 0)
			break;
		n += (size_t)r;
		if (n == cap - 1)
			break;
	}
	buf[n] = 0;
	return (int)n;
}

/* An HTTP GET of /small on a connected socket: "ok" or what went wrong. */
static const char *http_check(int fd)
{
	static char buf[8192];
	static const char req[] = "GET /small HTTP/1.0\r\nHost: t\r\n\r\n";
	if (send(fd, req, sizeof req - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof req - 1))
		return ename(errno);
	int n = read_all(fd, buf, sizeof buf, 5000);
	if (n < 0)
		return n == -2 ? "timeout" : ename(errno);
	if (strncmp(buf, "HTTP/1.", 7) || !strstr(buf, " 200 "))
		return "bad-response";
	return "ok";
}

/* connect + GET through a fresh socket: "ok" or the errno name. fd_out keeps the socket open. */
static const char *http_via(const struct sockaddr_storage *ss, socklen_t len, int *fd_out)
{
	int fd = socket(ss->ss_family, SOCK_STREAM, 0);
	if (fd < 0)
		return ename(errno);
	if (connect(fd, (const struct sockaddr *)ss, len) < 0) {
		const char *e = ename(errno);
		close(fd);
		return e;
	}
	const char *r = http_check(fd);
	if (fd_out)
		*fd_out = fd;
	else
		close(fd);
	return r;
}

/* One datagram to dest and its echo: "ok", "timeout", "mismatch" or the errno name. */
static const char *udp_exchange(int fd, const struct sockaddr_storage *dest, socklen_t len, const char *payload)
{
	char buf[2048];
	if (sendto(fd, payload, strlen(payload), 0, (const struct sockaddr *)dest, len) < 0)
		return ename(errno);
	struct pollfd p = { fd, POLLIN, 0 };
	if (poll(&p, 1, 5000) <= 0)
		return "timeout";
	ssize_t n = recvfrom(fd, buf, sizeof buf, MSG_DONTWAIT, NULL, NULL);
	if (n < 0)
		return ename(errno);
	return (size_t)n == strlen(payload) && memcmp(buf, payload, (size_t)n) == 0 ? "ok" : "mismatch";
}

/* The open fds >= from: "N:kind,..." with kind socket/memfd/pipe/file. */
static void list_fds(const char *key, int from)
{
	char line[4096] = "", path[64], target[256];
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int dfd = dirfd(d);
	while ((e = readdir(d))) {
		int fd = atoi(e->d_name);
		if (e->d_name[0] == '.' || fd < from || fd == dfd)
			continue;
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
		ssize_t n = readlink(path, target, sizeof target - 1);
		target[n > 0 ? n : 0] = 0;
		const char *kind = strncmp(target, "socket:", 7) == 0 ? "socket"
				   : strstr(target, "memfd:") ? "memfd"
				   : strncmp(target, "pipe:", 5) == 0 ? "pipe" : "file";
		size_t l = strlen(line);
		snprintf(line + l, sizeof line - l, "%s%d:%s", l ? "," : "", fd, kind);
	}
	closedir(d);
	out(key, "%s", line);
}

static int first_socket_at_or_above(int from)
{
	char path[64], target[256];
	for (int fd = from; fd < from + 200; fd++) {
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
		ssize_t n = readlink(path, target, sizeof target - 1);
		if (n > 0 && strncmp(target, "socket:", 7) == 0)
			return fd;
	}
	return -1;
}

static int first_memfd_at_or_above(int from)
{
	char path[64], target[256];
	for (int fd = from; fd < from + 200; fd++) {
		snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
		ssize_t n = readlink(path, target, sizeof target - 1);
		target[n > 0 ? n : 0] = 0;
		if (n > 0 && strstr(target, "memfd:"))
			return fd;
	}
	return -1;
}

/* Nothing written to the peer of our own fd, and the fd still open. */
static const char *untouched(int ours, int peer)
{
	char c;
	if (fcntl(ours, F_GETFD) < 0)
		return "closed";
	ssize_t n = recv(peer, &c, 1, MSG_DONTWAIT);
	if (n > 0)
		return "written";
	if (n == 0)
		return "eof";
	return errno == EAGAIN ? "ok" : ename(errno);
}

/* ---- closeall ---- */

static int spawn_child(const char *name, const char *port, const char *fake, int use_vfork);

static int mode_closeall(int argc, char **argv)
{
	const char *how = argv[2], *name = argv[3];
	int hport = atoi(argv[4]), uport = atoi(argv[5]);
	struct sockaddr_storage web, echo;
	socklen_t wl, el;
	if (resolve(name, hport, AF_INET, &web, &wl) || resolve(name, uport, AF_INET, &echo, &el)) {
		out("resolve", "failed");
		return 1;
	}
	out("fake", "%s", addr_text(&web));
	int u = socket(AF_INET, SOCK_DGRAM, 0);
	out("udp_before", "%s", udp_exchange(u, &echo, el, "one"));
	int t = -1;
	out("tcp_before", "%s", http_via(&web, wl, &t)); /* left open: its fd number gets reused below */
	out("fds_u_t", "%d,%d", u, t);
	list_fds("fds_before", 3);

	if (strcmp(how, "range") == 0)
		out("close_range", "%d", close_range(3, ~0U, 0) == 0 ? 0 : errno);
	else if (strcmp(how, "syscall") == 0)
		out("close_range", "%ld", syscall(SYS_close_range, 3, ~0U, 0) == 0 ? 0L : (long)errno);
	else if (strcmp(how, "closefrom") == 0)
		closefrom(3);
	else
		for (int fd = 3; fd <= 1024; fd++)
			close(fd);
	/* New sockets first, so that they get the numbers of the closed proxied ones. */
	int u2 = socket(AF_INET, SOCK_DGRAM, 0), t2 = socket(AF_INET, SOCK_STREAM, 0);
	out("fds_u2_t2", "%d,%d", u2, t2);
	/* The program's own fds where the library had its own: socketpairs at >= 700 and >= 900. */
	int sp1[2], sp2[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, sp1);
	socketpair(AF_UNIX, SOCK_STREAM, 0, sp2);
	int mine700 = fcntl(sp1[0], F_DUPFD, 700), mine900 = fcntl(sp2[0], F_DUPFD, 900);
	close(sp1[0]);
	close(sp2[0]);
	out("mine", "%d,%d", mine700, mine900);

	/* the names still resolve to the same fake address, and connect */
	struct sockaddr_storage web2;
	socklen_t wl2;
	out("resolve_after", "%s", resolve(name, hport, AF_INET, &web2, &wl2) ? "failed"
				   : strcmp(addr_text(&web2), addr_text(&web)) == 0 ? "same" : addr_text(&web2));
	out("udp_after", "%s", udp_exchange(u2, &echo, el, "two"));
	out("tcp_after", "%s", connect(t2, (struct sockaddr *)&web, wl) < 0 ? ename(errno) : http_check(t2));
	close(u2);
	close(t2);
	out("mine700", "%s", untouched(mine700, sp1[1]));
	out("mine900", "%s", untouched(mine900, sp2[1]));
	/* and ours to close */
	close(mine700);
	close(mine900);
	out("own_close", "%s", fcntl(mine700, F_GETFD) < 0 && fcntl(mine900, F_GETFD) < 0 ? "ok" : "still-open");
	/* an exec'd child connects to the fake address this process got */
	char port[16];
	snprintf(port, sizeof port, "%d", hport);
	out("child", "%d", spawn_child(name, port, addr_text(&web), 0));
	list_fds("fds_end", 3);
	return 0;
}

/* ---- fclose: glibc closes the fd of a FILE without calling close() ---- */

static int mode_fclose(int argc, char **argv)
{
	struct sockaddr_storage web, ip;
	socklen_t wl, il = sizeof(struct sockaddr_in);
	int port = atoi(argv[3]);
	if (resolve(argv[2], port, AF_INET, &web, &wl)) {
		out("resolve", "failed");
		return 1;
	}
	memset(&ip, 0, sizeof ip);
	((struct sockaddr_in *)&ip)->sin_family = AF_INET;
	((struct sockaddr_in *)&ip)->sin_port = htons(port);
	inet_pton(AF_INET, argv[4], &((struct sockaddr_in *)&ip)->sin_addr);
	for (int round = 0; round < 2; round++) {
		int s = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(s, (struct sockaddr *)&web, wl) < 0) {
			out("first", "%s", ename(errno));
			return 0;
		}
		out("first", "ok");
		if (round == 0) {
			FILE *f = fdopen(s, "r+");
			fprintf(f, "GET /small HTTP/1.0\r\n\r\n");
			fflush(f);
			fclose(f);
		} else {
			syscall(SYS_close, s);
		}
		int t = socket(AF_INET, SOCK_STREAM, 0); /* the same number again */
		out(round ? "same_fd_syscall" : "same_fd_fclose", "%d", t == s);
		struct sockaddr_storage peer;
		socklen_t pl = sizeof peer;
		out(round ? "peer_before_syscall" : "peer_before_fclose", "%s",
		    getpeername(t, (struct sockaddr *)&peer, &pl) < 0 ? ename(errno) : addr_text(&peer));
		int rc = connect(t, (struct sockaddr *)&ip, il);
		out(round ? "second_syscall" : "second_fclose", "%s", rc < 0 ? ename(errno) : http_check(t));
		close(t);
	}
	return 0;
}

/* ---- dup2 ---- */

static int mode_dup2(int argc, char **argv)
{
	const char *name = argv[2];
	int hport = atoi(argv[3]), uport = atoi(argv[4]);
	struct sockaddr_storage web, echo;
	socklen_t wl, el;
	if (resolve(name, hport, AF_INET, &web, &wl) || resolve(name, uport, AF_INET, &echo, &el)) {
		out("resolve", "failed");
		return 1;
	}
	int s = -1;
	out("tcp_first", "%s", http_via(&web, wl, &s));
	int p[2];
	pipe(p);
	dup2(p[0], s); /* a pipe over the proxied socket */
	struct sockaddr_storage peer;
	socklen_t pl = sizeof peer;
	out("peer_after_pipe", "%s", getpeername(s, (struct sockaddr *)&peer, &pl) < 0 ? ename(errno) : addr_text(&peer));
	int t = socket(AF_INET, SOCK_STREAM, 0);
	dup2(t, s); /* a fresh socket over it: its connect must be proxied again */
	close(t);
	if (connect(s, (struct sockaddr *)&web, wl) < 0)
		out("tcp_on_dup2", "%s", ename(errno));
	else
		out("tcp_on_dup2", "%s", http_check(s));
	close(s);

	/* dup2 over the UDP association's control connection */
	int u = socket(AF_INET, SOCK_DGRAM, 0);
	out("udp_first", "%s", udp_exchange(u, &echo, el, "one"));
	int ctrl = first_socket_at_or_above(700);
	out("ctrl", "%d", ctrl);
	int q[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, q);
	if (ctrl >= 0)
		dup2(q[0], ctrl);
	out("udp_after_dup2", "%s", udp_exchange(u, &echo, el, "two"));
	close(u);
	if (ctrl >= 0)
		out("mine_at_ctrl", "%s", untouched(ctrl, q[1]));

	/* dup2 over the name table's fd; then an exec'd child connects to our fake address */
	int table = first_memfd_at_or_above(900);
	out("table", "%d", table);
	int r[2];
	socketpair(AF_UNIX, SOCK_STREAM, 0, r);
	if (table >= 0)
		dup2(r[0], table);
	char port[16];
	snprintf(port, sizeof port, "%d", hport);
	out("child_after_dup2_table", "%d", spawn_child(name, port, addr_text(&web), 0));
	if (table >= 0)
		out("mine_at_table", "%s", untouched(table, r[1]));
	return 0;
}

/* ---- nonblock ---- */

static int mode_nonblock(int argc, char **argv)
{
	struct sockaddr_storage web;
	socklen_t wl;
	if (resolve(argv[2], atoi(argv[3]), AF_INET, &web, &wl)) {
		out("resolve", "failed");
		return 1;
	}
	int s = socket(AF_INET, SOCK_STREAM, 0);
	out("connect", "%s", connect(s, (struct sockaddr *)&web, wl) < 0 ? ename(errno) : "ok");
	int fl = fcntl(s, F_GETFL);
	out("setfl", "%d", fcntl(s, F_SETFL, fl | O_NONBLOCK));
	out("nonblock_kept", "%d", (fcntl(s, F_GETFL) & O_NONBLOCK) != 0);
	char c;
	long long t0 = now_ms();
	ssize_t n = recv(s, &c, 1, 0);
	out("early_recv", "%s", n < 0 ? ename(errno) : n == 0 ? "eof" : "data");
	out("early_recv_ms", "%lld", now_ms() - t0);
	out("http", "%s", http_check(s));
	close(s);
	return 0;
}

/* ---- eintr ---- */

static volatile sig_atomic_t signals;
static void on_signal(int sig) { signals++; }

static int mode_eintr(int argc, char **argv)
{
	struct sockaddr_storage dst;
	socklen_t dl;
	if (resolve(argv[3], atoi(argv[4]), AF_INET, &dst, &dl)) {
		out("resolve", "failed");
		return 1;
	}
	struct sigaction sa = { .sa_handler = on_signal };
	sa.sa_flags = strcmp(argv[2], "restart") == 0 ? SA_RESTART : 0;
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = { { 0, 2000 }, { 0, 2000 } };
	int s = socket(AF_INET, SOCK_STREAM, 0);
	setitimer(ITIMER_REAL, &it, NULL);
	long long t0 = now_ms();
	int rc = connect(s, (struct sockaddr *)&dst, dl);
	int e = errno;
	long long ms = now_ms() - t0;
	int during = signals;
	struct itimerval off = { { 0, 0 }, { 0, 0 } };
	setitimer(ITIMER_REAL, &off, NULL);
	out("connect", "%s", rc < 0 ? ename(e) : "ok");
	out("ms", "%lld", ms);
	out("signals", "%d", during);
	if (rc < 0 && e == EINTR) {
		/* POSIX: the connection goes on; wait for it like a program would */
		struct pollfd p = { s, POLLOUT, 0 };
		poll(&p, 1, 5000);
		int err = 0;
		socklen_t l = sizeof err;
		getsockopt(s, SOL_SOCKET, SO_ERROR, &err, &l);
		out("after_eintr", "%s", err ? ename(err) : "ok");
	}
	static const char msg[] = "after-the-handshake";
	send(s, msg, sizeof msg - 1, MSG_NOSIGNAL);
	shutdown(s, SHUT_WR);
	static char buf[65536];
	int n = read_all(s, buf, sizeof buf, 5000);
	printf("data=");
	for (int i = 0; i < n; i++)
		printf("%02x", (unsigned char)buf[i]);
	printf("\n");
	return 0;
}

/* ---- sigpipe ---- */

static int mode_sigpipe(int argc, char **argv)
{
	struct sockaddr_storage dst;
	socklen_t dl;
	if (resolve(argv[3], atoi(argv[4]), AF_INET, &dst, &dl)) {
		out("resolve", "failed");
		return 1;
	}
	if (strcmp(argv[2], "ign") == 0)
		signal(SIGPIPE, SIG_IGN);
	else if (strcmp(argv[2], "catch") == 0)
		signal(SIGPIPE, on_signal);
	else
		signal(SIGPIPE, SIG_DFL);
	for (int i = 0; i < 5; i++) { /* several tries: the RST must land at every point of the handshake */
		int s = socket(AF_INET, SOCK_STREAM, 0);
		int rc = connect(s, (struct sockaddr *)&dst, dl);
		out("connect", "%s", rc < 0 ? ename(errno) : "ok");
		close(s);
		int u = socket(AF_INET, SOCK_DGRAM, 0);
		rc = (int)sendto(u, "x", 1, 0, (struct sockaddr *)&dst, dl);
		out("sendto", "%s", rc < 0 ? ename(errno) : "ok");
		close(u);
	}
	out("sigpipes", "%d", signals);
	out("alive", "1");
	return 0;
}

/* ---- forkthreads ---- */

static volatile int stop_threads;
static const char *g_name;
static int g_port;

static void *resolver_thread(void *arg)
{
	long id = (long)arg;
	char name[128];
	for (unsigned i = 0; !stop_threads; i++) {
		struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *res;
		snprintf(name, sizeof name, "t%ld-%u.sfy.test", id, i % 50);
		if (getaddrinfo(name, "80", &hints, &res) == 0)
			freeaddrinfo(res);
		if (i % 20 == 0) {
			struct sockaddr_storage ss;
			socklen_t l;
			if (resolve(g_name, g_port, AF_INET, &ss, &l) == 0)
				http_via(&ss, l, NULL);
		}
	}
	return NULL;
}

static int mode_forkthreads(int argc, char **argv)
{
	g_name = argv[2];
	g_port = atoi(argv[3]);
	int forks = atoi(argv[4]);
	pthread_t th[4];
	for (long i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, resolver_thread, (void *)i);
	int ok = 0, hung = 0, failed = 0;
	for (int i = 0; i < forks; i++) {
		pid_t pid = fork();
		if (pid == 0) {
			alarm(5); /* a deadlock in the child ends as SIGALRM */
			struct sockaddr_storage ss;
			socklen_t l;
			if (resolve(g_name, g_port, AF_INET, &ss, &l))
				_exit(3);
			_exit(strcmp(http_via(&ss, l, NULL), "ok") == 0 ? 0 : 4);
		}
		int st;
		waitpid(pid, &st, 0);
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
			ok++;
		else if (WIFSIGNALED(st) && WTERMSIG(st) == SIGALRM)
			hung++;
		else
			failed++;
	}
	stop_threads = 1;
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	out("children_ok", "%d", ok);
	out("children_hung", "%d", hung);
	out("children_failed", "%d", failed);
	return 0;
}

/* ---- spawn / child ---- */

static int spawn_child(const char *name, const char *port, const char *fake, int use_vfork)
{
	char *args[] = { (char *)self_path, "child", (char *)name, (char *)port, (char *)fake, NULL };
	pid_t pid;
	if (use_vfork == 1) {
		pid = vfork();
		if (pid == 0) {
			execve(self_path, args, environ);
			_exit(127);
		}
	} else if (posix_spawn(&pid, self_path, NULL, NULL, args, environ) != 0) {
		return -1;
	}
	int st;
	if (pid < 0 || waitpid(pid, &st, 0) < 0)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int mode_child(int argc, char **argv)
{
	struct sockaddr_storage ss;
	socklen_t l = sizeof(struct sockaddr_in);
	int port = atoi(argv[3]);
	memset(&ss, 0, sizeof ss);
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	s4->sin_family = AF_INET;
	s4->sin_port = htons(port);
	inet_pton(AF_INET, argv[4], &s4->sin_addr);
	const char *by_parent = http_via(&ss, l, NULL);
	out("child_parent_fake", "%s", by_parent);
	const char *own = resolve(argv[2], port, AF_INET, &ss, &l) ? "resolve-failed" : http_via(&ss, l, NULL);
	out("child_own_name", "%s", own);
	return strcmp(by_parent, "ok") == 0 && strcmp(own, "ok") == 0 ? 0 : 1;
}

static int mode_spawn(int argc, char **argv)
{
	struct sockaddr_storage web;
	socklen_t wl;
	if (resolve(argv[3], atoi(argv[4]), AF_INET, &web, &wl)) {
		out("resolve", "failed");
		return 1;
	}
	out("status", "%d", spawn_child(argv[3], argv[4], addr_text(&web), strcmp(argv[2], "vfork") == 0));
	return 0;
}

/* ---- halfclose ---- */

static int mode_halfclose(int argc, char **argv)
{
	struct sockaddr_storage dst;
	socklen_t dl;
	if (resolve(argv[2], atoi(argv[3]), AF_INET, &dst, &dl)) {
		out("resolve", "failed");
		return 1;
	}
	size_t n = (size_t)atol(argv[4]);
	uint64_t h = 1469598103934665603ULL;
	char *data = malloc(n);
	for (size_t i = 0; i < n; i++) {
		data[i] = (char)((i * 7 + i / 251) & 0xff);
		h = (h ^ (unsigned char)data[i]) * 1099511628211ULL;
	}
	int s = socket(AF_INET, SOCK_STREAM, 0);
	if (connect(s, (struct sockaddr *)&dst, dl) < 0) {
		out("connect", "%s", ename(errno));
		return 0;
	}
	out("connect", "ok");
	for (size_t off = 0; off < n;) {
		ssize_t w = send(s, data + off, n - off, MSG_NOSIGNAL);
		if (w < 0) {
			out("send", "%s", ename(errno));
			return 0;
		}
		off += (size_t)w;
	}
	out("shutdown", "%d", shutdown(s, SHUT_WR));
	char buf[256];
	int r = read_all(s, buf, sizeof buf, 5000);
	out("reply", "%s", r < 0 ? (r == -2 ? "timeout" : ename(errno)) : strtok(buf, "\n") ? buf : "");
	out("expected", "%zu %016llx", n, (unsigned long long)h);
	return 0;
}

int main(int argc, char **argv)
{
	self_path = "/proc/self/exe";
	static char exe[4096];
	ssize_t l = readlink("/proc/self/exe", exe, sizeof exe - 1);
	if (l > 0) {
		exe[l] = 0;
		self_path = exe;
	}
	if (argc < 2)
		return 2;
	const char *m = argv[1];
	if (!strcmp(m, "closeall") && argc == 6) return mode_closeall(argc, argv);
	if (!strcmp(m, "fclose") && argc == 5) return mode_fclose(argc, argv);
	if (!strcmp(m, "dup2") && argc == 5) return mode_dup2(argc, argv);
	if (!strcmp(m, "nonblock") && argc == 4) return mode_nonblock(argc, argv);
	if (!strcmp(m, "eintr") && argc == 5) return mode_eintr(argc, argv);
	if (!strcmp(m, "sigpipe") && argc == 5) return mode_sigpipe(argc, argv);
	if (!strcmp(m, "forkthreads") && argc == 5) return mode_forkthreads(argc, argv);
	if (!strcmp(m, "spawn") && argc == 5) return mode_spawn(argc, argv);
	if (!strcmp(m, "child") && argc == 5) return mode_child(argc, argv);
	if (!strcmp(m, "halfclose") && argc == 5) return mode_halfclose(argc, argv);
	fprintf(stderr, "usage: see the top of hostile.c\n");
	return 2;
}
