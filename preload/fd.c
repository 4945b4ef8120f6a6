/* fd.c - close and dup family: a proxied socket's state follows its fd. */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <stdio.h>
#include <linux/close_range.h>
#include <unistd.h>

#include "async.h"
#include "bind.h"
#include "export.h"
#include "fdtable.h"
#include "real.h"

/* The library's own fds (UDP association control connections, the name
 * table) survive programs that close every fd: closing one "succeeds" and
 * leaves it to us; nothing of the program's can ever get that number. */
EXPORT int close(int fd)
{
	enum fd_kind k = fdtable_kind(fd);
	if (k == FD_INTERNAL && fdtable_kind_checked(fd) == FD_INTERNAL)
		return 0;
	if (k == FD_BIND_LISTENER)
		bind_forget(fd);
	if (k != FD_UNMANAGED)
		fdtable_forget(fd);
	if (async_active())
		async_forget(fd);
	return REAL(close)(fd);
}

/* fclose() closes its fd inside libc, out of close()'s sight: forget the fd first. */
EXPORT int fclose(FILE *f)
{
	int saved = errno, fd = f ? fileno(f) : -1;
	errno = saved;
	if (fd >= 0) {
		enum fd_kind k = fdtable_kind(fd);
		if (k != FD_UNMANAGED && k != FD_INTERNAL)
			fdtable_forget(fd);
		if (async_active())
			async_forget(fd);
	}
	return REAL(fclose)(f);
}

static int close_span(unsigned int first, unsigned int last, int flags)
{
	if (!(flags & CLOSE_RANGE_CLOEXEC))
		for (unsigned int fd = first; fd <= last && fd < FDTABLE_MAX_FD; fd++)
			if (fdtable_kind((int)fd) != FD_UNMANAGED)
				fdtable_forget((int)fd);
	return REAL(close_range)(first, last, flags);
}

/* Closes [first, last] but for our own fds: the spans between them. */
EXPORT int close_range(unsigned int first, unsigned int last, int flags)
{
	int ours[64];
	size_t n = first <= last ? fdtable_internal_in(first, last, ours, 64) : 0;
	unsigned int from = first;
	for (size_t i = 0; i < n; i++) {
		if ((unsigned int)ours[i] > from && close_span(from, (unsigned int)ours[i] - 1, flags) < 0)
			return -1;
		from = (unsigned int)ours[i] + 1;
	}
	if (n && from > last)
		return 0;
	return close_span(from, last, flags);
}

/* glibc's closefrom() makes the close_range system call itself: route it through ours. */
EXPORT void closefrom(int lowfd)
{
	if (lowfd >= 0 && close_range((unsigned int)lowfd, ~0U, 0) == 0)
		return;
	REAL(closefrom)(lowfd);
}

static int after_dup(int oldfd, int newfd)
{
	if (newfd >= 0) {
		int saved = errno;
		fdtable_dup(oldfd, newfd);
		errno = saved;
	}
	return newfd;
}

EXPORT int dup(int fd)
{
	int r = REAL(dup)(fd);
	return fdtable_kind(fd) == FD_UNMANAGED ? r : after_dup(fd, r);
}

EXPORT int dup2(int oldfd, int newfd)
{
	if (oldfd != newfd)
		fdtable_evacuate(newfd);
	int r = REAL(dup2)(oldfd, newfd);
	if (fdtable_kind(oldfd) == FD_UNMANAGED && fdtable_kind(newfd) == FD_UNMANAGED)
		return r;
	return after_dup(oldfd, r);
}

EXPORT int dup3(int oldfd, int newfd, int flags)
{
	if (oldfd != newfd)
		fdtable_evacuate(newfd);
	int r = REAL(dup3)(oldfd, newfd, flags);
	if (fdtable_kind(oldfd) == FD_UNMANAGED && fdtable_kind(newfd) == FD_UNMANAGED)
		return r;
	return after_dup(oldfd, r);
}

/* F_DUPFD and F_DUPFD_CLOEXEC duplicate like dup(); every other command passes through.
 * The third argument is an int or a pointer: forwarding it as a long carries either. */
static int fcntl_common(int (*real)(int, int, ...), int fd, int cmd, long arg)
{
	int r = real(fd, cmd, arg);
	if ((cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC) && fdtable_kind(fd) != FD_UNMANAGED)
		return after_dup(fd, r);
	return r;
}

EXPORT int fcntl(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	long arg = va_arg(ap, long);
	va_end(ap);
	return fcntl_common(REAL(fcntl), fd, cmd, arg);
}

EXPORT int fcntl64(int fd, int cmd, ...)
{
	va_list ap;
	va_start(ap, cmd);
	long arg = va_arg(ap, long);
	va_end(ap);
	return fcntl_common(REAL(fcntl64), fd, cmd, arg);
}
