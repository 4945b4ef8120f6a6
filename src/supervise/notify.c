/* notify.c - seccomp notifications: receive, find the program's socket, read its memory, reply.
 * The same API over ptrace (ptrace.c) when sup_mech is MECH_PTRACE: each function that differs
 * passes the call on to its ptrace_ counterpart. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "log.h"
#include "supervise.h"

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif
#ifndef SECCOMP_IOCTL_NOTIF_ADDFD
#error "linux/seccomp.h older than 5.9: SECCOMP_IOCTL_NOTIF_ADDFD is needed"
#endif

enum sup_mech sup_mech = MECH_NOTIFY;
static int listener = -1;
static struct seccomp_notif_sizes sizes;

/* The kernel release's major.minor, or 0.0. */
static void kernel_release(int *major, int *minor)
{
	struct utsname u;
	*major = *minor = 0;
	if (uname(&u) == 0)
		sscanf(u.release, "%d.%d", major, minor);
}

int notify_usable(char *why, size_t size)
{
	struct seccomp_notif_sizes sz;
	int major, minor;
	if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sz) < 0) {
		snprintf(why, size, "seccomp(SECCOMP_GET_NOTIF_SIZES): %s", strerror(errno));
		return 0;
	}
	int pfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	if (pfd < 0) {
		snprintf(why, size, "pidfd_open: %s", strerror(errno));
		return 0;
	}
	int fd = (int)syscall(SYS_pidfd_getfd, pfd, pfd, 0);
	int err = errno;
	close(pfd);
	if (fd < 0) {
		snprintf(why, size, "pidfd_getfd: %s", strerror(err));
		return 0;
	}
	close(fd);
	/* ADDFD has no probe short of a listener of our own, which would stay with this process
	 * (and be refused under another supervisor's filter): the release says, as it came after
	 * the others (5.9). */
	kernel_release(&major, &minor);
	if (major < 5 || (major == 5 && minor < 9)) {
		snprintf(why, size, "kernel %d.%d has no SECCOMP_IOCTL_NOTIF_ADDFD (5.9)", major, minor);
		return 0;
	}
	snprintf(why, size, "the kernel has it: notification sizes, pidfd_open, pidfd_getfd, %d.%d >= 5.9", major,
		 minor);
	return 1;
}

int notify_init(int fd)
{
	listener = fd;
	if (syscall(SYS_seccomp, SECCOMP_GET_NOTIF_SIZES, 0, &sizes) < 0)
		return -errno;
	return 0;
}

/* The start of a small /proc file, NUL-terminated in buf: 0, or -1 if it cannot be read. */
static int read_proc(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

pid_t proc_tgid_of(pid_t tid)
{
	char path[64], buf[512];
	snprintf(path, sizeof path, "/proc/%d/status", (int)tid);
	if (read_proc(path, buf, sizeof buf) < 0)
		return -1;
	const char *p = strstr(buf, "\nTgid:");
	return p ? (pid_t)atoi(p + 6) : -1;
}

/* A pidfd for the calling thread (PIDFD_THREAD) or, on older kernels, its process. */
static int pidfd_of(struct call *c)
{
	int pfd = (int)syscall(SYS_pidfd_open, c->pid, PIDFD_THREAD);
	if (pfd >= 0)
		return pfd;
	pfd = (int)syscall(SYS_pidfd_open, c->pid, 0);
	if (pfd >= 0)
		return pfd;
	pid_t tgid = proc_tgid_of(c->pid);
	return tgid > 0 ? (int)syscall(SYS_pidfd_open, tgid, 0) : -1;
}

/* Our copy of the program's fd args[0] and what kind of socket it is. 0, or the errno
 * the program's call would have failed with (EBADF, ENOTSOCK). */
static int fetch_socket(struct call *c)
{
	int pfd = pidfd_of(c);
	if (pfd < 0)
		return ESRCH;
	int fd = (int)syscall(SYS_pidfd_getfd, pfd, (int)c->args[0], 0);
	int err = errno;
	close(pfd);
	if (fd < 0)
		return err == EBADF ? EBADF : err;
	return call_set_socket(c, fd);
}

int call_set_socket(struct call *c, int fd)
{
	int err;
	socklen_t l = sizeof c->family;
	if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &c->family, &l) < 0) {
		err = errno;
		close(fd);
		return err;
	}
	l = sizeof c->type;
	getsockopt(fd, SOL_SOCKET, SO_TYPE, &c->type, &l);
	l = sizeof c->protocol;
	getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &c->protocol, &l);
	c->fd = fd;
	return 0;
}

int notify_read_mem_unchecked(const struct call *c, uint64_t addr, void *buf, size_t len)
{
	struct iovec local = { buf, len }, remote = { (void *)(uintptr_t)addr, len };
	if (len == 0)
		return 0;
	ssize_t n = process_vm_readv(c->pid, &local, 1, &remote, 1, 0);
	return n < 0 || (size_t)n != len ? -EFAULT : 0;
}

int notify_read_mem(const struct call *c, uint64_t addr, void *buf, size_t len)
{
	int r = notify_read_mem_unchecked(c, addr, buf, len);
	if (r < 0)
		return r;
	/* The memory we read belonged to the caller only if the notification is still live
	 * (the thread did not die and its pid get reused meanwhile). */
	return notify_still_valid(c) ? 0 : -ESRCH;
}

int notify_write_mem(const struct call *c, uint64_t addr, const void *buf, size_t len)
{
	struct iovec local = { (void *)buf, len }, remote = { (void *)(uintptr_t)addr, len };
	if (len == 0)
		return 0;
	if (!notify_still_valid(c)) /* never write into a process that reused a dead caller's pid */
		return -ESRCH;
	ssize_t n = process_vm_writev(c->pid, &local, 1, &remote, 1, 0);
	return n < 0 || (size_t)n != len ? -EFAULT : 0;
}

int notify_still_valid(const struct call *c)
{
	if (sup_mech == MECH_PTRACE)
		return ptrace_still_valid(c);
	uint64_t id = c->id;
	return ioctl(listener, SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}

static void send_resp(const struct call *c, int64_t val, int err, uint32_t flags)
{
	struct seccomp_notif_resp *r = calloc(1, sizes.seccomp_notif_resp > sizeof *r ? sizes.seccomp_notif_resp : sizeof *r);
	if (!r)
		return; /* the program's thread stays blocked until we die: then ENOSYS */
	r->id = c->id;
	r->val = val;
	r->error = err ? -err : 0;
	r->flags = flags;
	/* ENOENT: the thread was killed meanwhile; nothing to answer. */
	if (ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, r) < 0 && errno != ENOENT)
		log_error("cannot answer the program's system call %d: %s", c->nr, strerror(errno));
	free(r);
}

void notify_reply_value(const struct call *c, int64_t val)
{
	if (sup_mech == MECH_PTRACE)
		ptrace_reply(c, 0, val);
	else
		send_resp(c, val, 0, 0);
}

void notify_reply_errno(const struct call *c, int err)
{
	if (sup_mech == MECH_PTRACE)
		ptrace_reply(c, 0, -(int64_t)err);
	else
		send_resp(c, 0, err, 0);
}

void notify_reply_continue(const struct call *c)
{
	if (sup_mech == MECH_PTRACE)
		ptrace_reply(c, 1, 0);
	else
		send_resp(c, 0, 0, SECCOMP_USER_NOTIF_FLAG_CONTINUE);
}

int notify_addfd(const struct call *c, int srcfd, int newfd, int cloexec)
{
	if (sup_mech == MECH_PTRACE)
		return ptrace_addfd(c, srcfd, newfd, cloexec);
	struct seccomp_notif_addfd a = {
		.id = c->id,
		.flags = SECCOMP_ADDFD_FLAG_SETFD,
		.srcfd = (uint32_t)srcfd,
		.newfd = (uint32_t)newfd,
		.newfd_flags = cloexec ? O_CLOEXEC : 0,
	};
	return ioctl(listener, SECCOMP_IOCTL_NOTIF_ADDFD, &a) < 0 ? -errno : 0;
}

int notify_fd_cloexec(const struct call *c, int fd)
{
	char path[64], buf[256];
	snprintf(path, sizeof path, "/proc/%d/fdinfo/%d", (int)c->pid, fd);
	if (read_proc(path, buf, sizeof buf) < 0)
		return -1;
	const char *p = strstr(buf, "flags:");
	if (!p)
		return -1;
	return (strtoul(p + 6, NULL, 8) & O_CLOEXEC) ? 1 : 0;
}

void call_free(struct call *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c);
}

void notify_handle_one(void)
{
	size_t size = sizes.seccomp_notif > sizeof(struct seccomp_notif) ? sizes.seccomp_notif
									 : sizeof(struct seccomp_notif);
	struct seccomp_notif *req = calloc(1, size);
	struct call *c = calloc(1, sizeof *c);
	if (!req || !c) {
		free(req);
		free(c);
		return;
	}
	if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, req) < 0) {
		/* ENOENT: the caller went away before we got to it */
		if (errno != ENOENT && errno != EINTR)
			log_debug("SECCOMP_IOCTL_NOTIF_RECV: %s", strerror(errno));
		free(req);
		free(c);
		return;
	}
	c->id = req->id;
	c->pid = (pid_t)req->pid;
	c->nr = req->data.nr;
	memcpy(c->args, req->data.args, sizeof c->args);
	c->fd = -1;
	free(req);

	int err = fetch_socket(c);
	if (err) {
		notify_reply_errno(c, err);
		call_free(c);
		return;
	}
	call_dispatch(c);
}

void call_dispatch(struct call *c)
{
	if (c->family != AF_INET && c->family != AF_INET6) {
		/* Not an inet socket (unix, netlink): the kernel cannot send it anywhere off this
		 * host, whatever address the program races into its memory; see README on the one
		 * race left, the fd number itself. */
		notify_reply_continue(c);
		call_free(c);
		return;
	}
	switch (c->nr) {
	case SYS_connect:
		sockets_connect(c);
		break;
	case SYS_sendto:
		sockets_sendto(c);
		break;
	case SYS_sendmsg:
		sockets_sendmsg(c);
		break;
	case SYS_sendmmsg:
		sockets_sendmmsg(c);
		break;
	case SYS_getpeername:
		sockets_getpeername(c);
		break;
	case SYS_recvfrom:
		sockets_recvfrom(c);
		break;
	default: /* the filter sends nothing else: refuse what we do not know */
		notify_reply_errno(c, ENOSYS);
		call_free(c);
	}
}
