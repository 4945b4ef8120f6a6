/* fd.c - close and dup family: a proxied socket's state follows its fd. */
#include <errno.h>
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
