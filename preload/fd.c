/* fd.c - close and dup family: a proxied socket's state follows its fd. */
#include <errno.h>
#include <stdarg.h>
#include <fcntl.h>
#include <unistd.h>

#include "export.h"
#include "fdtable.h"
#include "real.h"

EXPORT int close(int fd)
{
	fdtable_forget(fd);
	return REAL(close)(fd);
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
	int r = REAL(dup2)(oldfd, newfd);
	if (fdtable_kind(oldfd) == FD_UNMANAGED && fdtable_kind(newfd) == FD_UNMANAGED)
		return r;
	return after_dup(oldfd, r);
}

EXPORT int dup3(int oldfd, int newfd, int flags)
{
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
