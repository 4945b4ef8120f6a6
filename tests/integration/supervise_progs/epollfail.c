/* epollfail.c - preloaded into socksify-supervise itself (gcc -shared) by test_supervise_udp.py:
 * adding a UDP relay socket (a datagram socket connected to anything but loopback) to an epoll
 * set fails with ENOSPC, as when fs.epoll.max_user_watches is reached, after a pause that lets the
 * relay thread take an event of the control connection added just before (a proxy that closed
 * it at once). What udp.c must survive without touching the association it gave up. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>

int epoll_ctl(int ep, int op, int fd, struct epoll_event *ev)
{
	static int (*real)(int, int, int, struct epoll_event *);
	if (!real)
		real = (int (*)(int, int, int, struct epoll_event *))dlsym(RTLD_NEXT, "epoll_ctl");
	int type = 0;
	socklen_t tl = sizeof type;
	struct sockaddr_storage peer;
	socklen_t pl = sizeof peer;
	if (op == EPOLL_CTL_ADD && getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) == 0 && type == SOCK_DGRAM &&
	    getpeername(fd, (struct sockaddr *)&peer, &pl) == 0 && peer.ss_family == AF_INET &&
	    ((struct sockaddr_in *)&peer)->sin_addr.s_addr != htonl(INADDR_LOOPBACK)) {
		struct timespec pause = { 0, 300 * 1000 * 1000 };
		nanosleep(&pause, NULL);
		errno = ENOSPC;
		return -1;
	}
	return real(ep, op, fd, ev);
}
