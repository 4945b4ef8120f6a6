/* poll.c - poll, select and epoll: a socket whose proxy handshake is pending
 * (async.c) is not ready for the program; its wait moves the handshake on.
 * With no handshake pending (nearly always), every call goes straight through. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "async.h"
#include "bind.h"
#include "export.h"
#include "fdtable.h"
#include "real.h"

/* glibc's _FORTIFY_SOURCE entry points (declared only under fortify). */
int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen);
int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask, size_t fdslen);

#define NO_DEADLINE (-1LL)

static long long deadline_from_ms(int timeout_ms)
{
	return timeout_ms < 0 ? NO_DEADLINE : monotonic_ms() + timeout_ms;
}

static long long deadline_from_ts(const struct timespec *ts)
{
	if (!ts)
		return NO_DEADLINE;
	return monotonic_ms() + (long long)ts->tv_sec * 1000 + (ts->tv_nsec + 999999) / 1000000;
}

/* How long the next wait may take: to the caller's deadline, or the first
 * handshake timer if sooner; 0 if asked to only look. In ms, -1 = forever. */
static int wait_ms(long long deadline, int look)
{
	long long now = monotonic_ms(), until = deadline, t = async_next_timer();
	if (look)
		return 0;
	if (t && (until == NO_DEADLINE || t < until))
		until = t;
	if (until == NO_DEADLINE)
		return -1;
	return until <= now ? 0 : until - now > 0x7fffffff ? 0x7fffffff : (int)(until - now);
}

static int expired(long long deadline)
{
	return deadline != NO_DEADLINE && monotonic_ms() >= deadline;
}

/* poll with pending sockets in fds: they wait for their handshake's event and
 * report nothing until it ended; then one more look reports them as they are. */
static int poll_pending(struct pollfd *fds, nfds_t n, long long deadline, const sigset_t *mask)
{
	struct pollfd small[32], *tmp = n <= 32 ? small : malloc(n * sizeof *tmp);
	char mark_small[32], *mark = n <= 32 ? mark_small : malloc(n);
	int ret = -1, look = 0;
	if (!tmp || !mark) {
		errno = ENOMEM;
		goto out;
	}
	for (;;) {
		for (nfds_t i = 0; i < n; i++) {
			tmp[i] = fds[i];
			mark[i] = fds[i].fd >= 0 && async_poll_events(fds[i].fd, &tmp[i].events);
		}
		int ms = wait_ms(deadline, look);
		struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
		int r = REAL(ppoll)(tmp, n, ms < 0 ? NULL : &ts, mask);
		if (r < 0)
			goto out;
		int ended = 0, ready = 0;
		for (nfds_t i = 0; i < n; i++) {
			if (mark[i] && tmp[i].revents)
				ended |= async_drive(fds[i].fd);
			fds[i].revents = mark[i] ? (short)(tmp[i].revents & POLLNVAL) : tmp[i].revents;
			ready += fds[i].revents != 0;
		}
		/* timers of every pending socket, also those this wait does not watch: none may spin it */
		ended |= async_expire(monotonic_ms()) > 0;
		if (ended) {
			look = 1; /* report the ended ones as they are now */
			continue;
		}
		if (ready || expired(deadline)) {
			ret = ready;
			goto out;
		}
		look = 0;
	}
out:
	if (tmp != small)
		free(tmp);
	if (mark != mark_small)
		free(mark);
	return ret;
}

EXPORT int poll(struct pollfd *fds, nfds_t n, int timeout)
{
	if (!async_active())
		return REAL(poll)(fds, n, timeout);
	return poll_pending(fds, n, deadline_from_ms(timeout), NULL);
}

EXPORT int __poll_chk(struct pollfd *fds, nfds_t n, int timeout, size_t fdslen)
{
	if (!async_active())
		return REAL(__poll_chk)(fds, n, timeout, fdslen);
	return poll_pending(fds, n, deadline_from_ms(timeout), NULL);
}

EXPORT int ppoll(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask)
{
	if (!async_active())
		return REAL(ppoll)(fds, n, ts, mask);
	return poll_pending(fds, n, deadline_from_ts(ts), mask);
}

EXPORT int __ppoll_chk(struct pollfd *fds, nfds_t n, const struct timespec *ts, const sigset_t *mask,
		       size_t fdslen)
{
	if (!async_active())
		return REAL(__ppoll_chk)(fds, n, ts, mask, fdslen);
	return poll_pending(fds, n, deadline_from_ts(ts), mask);
}

/* select as poll: the sets become a pollfd array and back. */
static int select_pending(int nfds, fd_set *rd, fd_set *wr, fd_set *ex, long long deadline, const sigset_t *mask)
{
	struct pollfd fds[FD_SETSIZE];
	nfds_t n = 0;
	if (nfds < 0 || nfds > FD_SETSIZE) {
		errno = EINVAL;
		return -1;
	}
	for (int fd = 0; fd < nfds; fd++) {
		short ev = (short)((rd && FD_ISSET(fd, rd) ? POLLIN : 0) | (wr && FD_ISSET(fd, wr) ? POLLOUT : 0) |
				   (ex && FD_ISSET(fd, ex) ? POLLPRI : 0));
		if (ev)
			fds[n++] = (struct pollfd){ .fd = fd, .events = ev };
	}
	int r = poll_pending(fds, n, deadline, mask);
	if (r < 0)
		return -1;
	int count = 0;
	for (nfds_t i = 0; i < n; i++) {
		int fd = fds[i].fd;
		short re = fds[i].revents;
		if (re & POLLNVAL) {
			errno = EBADF;
			return -1;
		}
		if (rd && FD_ISSET(fd, rd) && !(re & (POLLIN | POLLHUP | POLLERR)))
			FD_CLR(fd, rd);
		if (wr && FD_ISSET(fd, wr) && !(re & (POLLOUT | POLLERR)))
			FD_CLR(fd, wr);
		if (ex && FD_ISSET(fd, ex) && !(re & POLLPRI))
			FD_CLR(fd, ex);
		count += (rd && FD_ISSET(fd, rd)) + (wr && FD_ISSET(fd, wr)) + (ex && FD_ISSET(fd, ex));
	}
	return count;
}

static void time_left(long long deadline, struct timeval *tv)
{
	long long left = deadline == NO_DEADLINE ? 0 : deadline - monotonic_ms();
	if (left < 0)
		left = 0;
	tv->tv_sec = left / 1000;
	tv->tv_usec = (left % 1000) * 1000;
}

EXPORT int select(int n, fd_set *r, fd_set *w, fd_set *e, struct timeval *tv)
{
	if (!async_active())
		return REAL(select)(n, r, w, e, tv);
	long long deadline = tv ? monotonic_ms() + tv->tv_sec * 1000LL + (tv->tv_usec + 999) / 1000 : NO_DEADLINE;
	int ret = select_pending(n, r, w, e, deadline, NULL);
	if (tv) /* Linux reports the time not slept */
		time_left(deadline, tv);
	return ret;
}

EXPORT int pselect(int n, fd_set *r, fd_set *w, fd_set *e, const struct timespec *ts, const sigset_t *mask)
{
	if (!async_active())
		return REAL(pselect)(n, r, w, e, ts, mask);
	return select_pending(n, r, w, e, deadline_from_ts(ts), mask);
}

EXPORT int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev)
{
	int ret;
	if (async_active() && async_epoll_ctl(epfd, op, fd, ev, &ret))
		return ret;
	ret = REAL(epoll_ctl)(epfd, op, fd, ev);
	if (ret == 0 && fdtable_kind(fd) == FD_BIND_LISTENER)
		bind_epoll_noted(epfd, op, fd, ev); /* accept() moves it to the next session */
	return ret;
}

/* Our registrations' events move handshakes on and are not the program's to see. */
static int epoll_pending(int epfd, struct epoll_event *ev, int max, long long deadline, const sigset_t *mask)
{
	for (;;) {
		int r = REAL(epoll_pwait)(epfd, ev, max, wait_ms(deadline, 0), mask);
		if (r < 0)
			return r; /* a handshake timer's wake-up (r == 0) is not the program's */
		int out = 0;
		for (int i = 0; i < r; i++)
			if (!async_epoll_event(epfd, &ev[i]))
				ev[out++] = ev[i];
		async_expire(monotonic_ms());
		if (out || expired(deadline))
			return out;
		if (!async_active()) /* nothing pending any more: one plain wait for the rest */
			return REAL(epoll_pwait)(epfd, ev, max, wait_ms(deadline, 0), mask);
	}
}

EXPORT int epoll_wait(int epfd, struct epoll_event *ev, int max, int timeout)
{
	if (!async_active())
		return REAL(epoll_wait)(epfd, ev, max, timeout);
	return epoll_pending(epfd, ev, max, deadline_from_ms(timeout), NULL);
}

EXPORT int epoll_pwait(int epfd, struct epoll_event *ev, int max, int timeout, const sigset_t *mask)
{
	if (!async_active())
		return REAL(epoll_pwait)(epfd, ev, max, timeout, mask);
	return epoll_pending(epfd, ev, max, deadline_from_ms(timeout), mask);
}

EXPORT int epoll_pwait2(int epfd, struct epoll_event *ev, int max, const struct timespec *timeout,
			const sigset_t *mask)
{
	if (!async_active())
		return REAL(epoll_pwait2)(epfd, ev, max, timeout, mask);
	return epoll_pending(epfd, ev, max, deadline_from_ts(timeout), mask);
}
