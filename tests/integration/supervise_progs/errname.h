/* errname.h - the errno names the supervise test programs print (their tests compare names, not
 * numbers; glibc's strerrorname_np() is not in musl). */
#ifndef SUPERVISE_PROGS_ERRNAME_H
#define SUPERVISE_PROGS_ERRNAME_H

#include <errno.h>
#include <stddef.h>

static const char *errname(int e)
{
	static const struct {
		int e;
		const char *n;
	} t[] = { { ECONNREFUSED, "ECONNREFUSED" }, { ENOSYS, "ENOSYS" }, { ENETUNREACH, "ENETUNREACH" },
		  { EPERM, "EPERM" }, { EHOSTUNREACH, "EHOSTUNREACH" }, { ETIMEDOUT, "ETIMEDOUT" },
		  { EACCES, "EACCES" }, { EAFNOSUPPORT, "EAFNOSUPPORT" }, { EINVAL, "EINVAL" },
		  { EOPNOTSUPP, "EOPNOTSUPP" }, { EBADMSG, "EBADMSG" }, { ENOBUFS, "ENOBUFS" },
		  { EAGAIN, "EAGAIN" } };
	for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
		if (t[i].e == e)
			return t[i].n;
	return "EOTHER";
}

#endif
