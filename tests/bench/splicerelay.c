/* splicerelay: the reference relay of make bench (issue 7): a plain TCP relay to one fixed target that
 * moves bytes with splice() through a pipe pair, so they never enter user space. No SOCKS: it shows what
 * relaying itself costs on this machine, the bound a SOCKS server's data path can approach.
 *
 *   splicerelay LISTENHOST LISTENPORT TARGETHOST TARGETPORT     (port 0 = any; prints "port=N")
 *
 * One thread, edge-triggered epoll, non-blocking sockets. Each direction owns a pipe: splice(in -> pipe)
 * then splice(pipe -> out); an EOF is passed on as shutdown(SHUT_WR) once the pipe is drained. A
 * connection ends when both directions have ended or on any error. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define PIPE_SIZE (1 << 20)

struct dir {
	int from, to;   /* sockets */
	int pipe[2];    /* [0] read end, [1] write end */
	size_t queued;  /* bytes in the pipe */
	size_t cap;     /* pipe capacity */
	int eof, shut;
};

struct conn {
	int client, upstream;
	int connected;
	struct dir up, down; /* client -> upstream, upstream -> client */
};

static void die(const char *what)
{
	fprintf(stderr, "splicerelay: %s: %s\n", what, strerror(errno));
	exit(1);
}

static struct sockaddr_in addr_of(const char *host, const char *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(port)) };
	if (inet_pton(AF_INET, host, &sa.sin_addr) != 1) {
		errno = EINVAL;
		die(host);
	}
	return sa;
}

static int dir_init(struct dir *d, int from, int to)
{
	memset(d, 0, sizeof *d);
	d->from = from;
	d->to = to;
	if (pipe2(d->pipe, O_NONBLOCK | O_CLOEXEC) < 0)
		return -1;
	int cap = fcntl(d->pipe[1], F_SETPIPE_SZ, PIPE_SIZE);
	if (cap < 0)
		cap = fcntl(d->pipe[1], F_GETPIPE_SZ);
	d->cap = cap > 0 ? (size_t)cap : 65536;
	return 0;
}

static void dir_close(struct dir *d)
{
	if (d->pipe[0] >= 0)
		close(d->pipe[0]);
	if (d->pipe[1] >= 0)
		close(d->pipe[1]);
	d->pipe[0] = d->pipe[1] = -1;
}

/* Move what can be moved now, until both splices would block. 0, or -1 on an error of either socket. */
static int dir_pump(struct dir *d)
{
	for (;;) {
		int progress = 0;
		if (d->queued > 0) {
			ssize_t n = splice(d->pipe[0], NULL, d->to, NULL, d->queued, SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n > 0) {
				d->queued -= (size_t)n;
				progress = 1;
			} else if (n < 0 && errno != EAGAIN && errno != EINTR) {
				return -1;
			}
		}
		if (!d->eof && d->queued < d->cap) {
			ssize_t n = splice(d->from, NULL, d->pipe[1], NULL, d->cap - d->queued,
					   SPLICE_F_MOVE | SPLICE_F_NONBLOCK);
			if (n > 0) {
				d->queued += (size_t)n;
				progress = 1;
			} else if (n == 0) {
				d->eof = 1;
				progress = 1;
			} else if (errno != EAGAIN && errno != EINTR) {
				return -1;
			}
		}
		if (!progress)
			break;
	}
	if (d->eof && d->queued == 0 && !d->shut) {
		shutdown(d->to, SHUT_WR);
		d->shut = 1;
	}
	return 0;
}

static void conn_free(int ep, struct conn *c)
{
	epoll_ctl(ep, EPOLL_CTL_DEL, c->client, NULL);
	epoll_ctl(ep, EPOLL_CTL_DEL, c->upstream, NULL);
	close(c->client);
	close(c->upstream);
	dir_close(&c->up);
	dir_close(&c->down);
	free(c);
}

static void conn_event(int ep, struct conn *c)
{
	if (!c->connected) {
		int err = 0;
		socklen_t len = sizeof err;
		if (getsockopt(c->upstream, SOL_SOCKET, SO_ERROR, &err, &len) < 0 || err) {
			conn_free(ep, c);
			return;
		}
		struct sockaddr_in peer;
		len = sizeof peer;
		if (getpeername(c->upstream, (struct sockaddr *)&peer, &len) < 0)
			return; /* still connecting: EPOLLOUT will come */
		c->connected = 1;
	}
	if (dir_pump(&c->up) < 0 || dir_pump(&c->down) < 0 || (c->up.shut && c->down.shut))
		conn_free(ep, c);
}

static int watch(int ep, int fd, struct conn *c)
{
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, .data.ptr = c };
	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

static void on_accept(int ep, int lfd, const struct sockaddr_in *target)
{
	int fd;
	while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		int up = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
		struct conn *c = calloc(1, sizeof *c);
		if (up < 0 || !c) {
			close(fd);
			if (up >= 0)
				close(up);
			free(c);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		setsockopt(up, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
		c->client = fd;
		c->upstream = up;
		c->up.pipe[0] = c->up.pipe[1] = c->down.pipe[0] = c->down.pipe[1] = -1;
		if (dir_init(&c->up, fd, up) < 0 || dir_init(&c->down, up, fd) < 0 ||
		    (connect(up, (const struct sockaddr *)target, sizeof *target) < 0 && errno != EINPROGRESS) ||
		    watch(ep, fd, c) < 0 || watch(ep, up, c) < 0) {
			conn_free(ep, c);
			continue;
		}
	}
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: splicerelay LISTENHOST LISTENPORT TARGETHOST TARGETPORT\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN);
	struct sockaddr_in listen_at = addr_of(argv[1], argv[2]), target = addr_of(argv[3], argv[4]);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
	if (lfd < 0)
		die("socket");
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (bind(lfd, (struct sockaddr *)&listen_at, sizeof listen_at) < 0 || listen(lfd, 4096) < 0)
		die("listen");
	socklen_t len = sizeof listen_at;
	getsockname(lfd, (struct sockaddr *)&listen_at, &len);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event lev = { .events = EPOLLIN, .data.ptr = NULL };
	if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &lev) < 0)
		die("epoll");
	printf("port=%u\n", ntohs(listen_at.sin_port));
	fflush(stdout);
	struct epoll_event evs[256];
	for (;;) {
		int k = epoll_wait(ep, evs, 256, -1);
		if (k < 0 && errno != EINTR)
			die("epoll_wait");
		/* A connection freed while handling one event may still have a second event in this batch:
		 * handle each connection once per batch, in a pass that skips what was freed. */
		for (int j = 0; j < k; j++) {
			struct conn *c = evs[j].data.ptr;
			if (!c) {
				on_accept(ep, lfd, &target);
				continue;
			}
			int seen = 0;
			for (int i = 0; i < j; i++)
				if (evs[i].data.ptr == c)
					seen = 1;
			if (!seen)
				conn_event(ep, c);
		}
	}
}
