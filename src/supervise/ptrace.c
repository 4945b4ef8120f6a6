/* ptrace.c - the ptrace mechanism: the same filter with SECCOMP_RET_TRACE, the supervisor the
 * program's tracer, for kernels without seccomp user notification with ADDFD (5.9) or without
 * pidfd_getfd (5.6). Only facilities older than 5.0: PTRACE_SEIZE and its options, the seccomp
 * stop (4.8 order), process_vm_readv/writev, SCM_RIGHTS.
 *
 * It emulates notify.c's API, so that sockets.c's handlers run unchanged:
 *  - a seccomp stop is a call: its registers give nr and args; the thread stays stopped until
 *    the reply, so it is "still valid" while we hold it (checked against the tracee table);
 *  - our copy of the program's socket: system calls injected into the stopped thread
 *    (socket(AF_UNIX, SOCK_DGRAM), sendmsg with SCM_RIGHTS to our channel, close), the
 *    sender checked by SCM_CREDENTIALS; ADDFD the other way (socket, bind, recvmsg, dup3, close);
 *  - a reply: the call skipped (syscall number -1) with the value in rax, or run as it is.
 * Every ptrace request comes from the tracer thread (the main thread of the supervisor):
 * workers queue their replies and ADDFD requests for it (wake_fd in its poll set).
 *
 * Injection: the thread is in its seccomp stop (the first injected call replaces the stopped
 * one) or at the exit stop of the previous injected call (rip - 2 runs the `syscall`
 * instruction again). Scratch memory for the messages: one page per process, mapped by an
 * injected mmap (below the stack pointer is not ours to use: a Go goroutine's stack may end
 * there). A signal that comes during an injection is held and sent again (with its siginfo)
 * once the thread runs on its own again. Between calls the thread is parked with the
 * registers of its call and -ENOSYS in rax. Were the supervisor killed, the program is too
 * (PTRACE_O_EXITKILL, see ptrace_seize). */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/user.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "supervise.h"

#define PTRACE_OPTIONS                                                                                      \
	(PTRACE_O_TRACESECCOMP | PTRACE_O_TRACECLONE | PTRACE_O_TRACEFORK | PTRACE_O_TRACEVFORK |             \
	 PTRACE_O_TRACEEXEC | PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL)
#define SYSCALL_STOP (SIGTRAP | 0x80)
#define INJ_GONE (-100000L) /* the thread died or left our hands during an injection */
#define SCRATCH_SIZE 4096
/* The scratch page: one message, its iovec, payload, an address and control data. */
#define OFF_MSG 0
#define OFF_IOV 64
#define OFF_DATA 96
#define OFF_ADDR 128
#define OFF_CTRL 256
#define CTRL_SIZE 64
#define TOKEN_SIZE 16

/* Signals in order of arrival (a real-time signal's queue may be long: it grows). */
struct siglist {
	siginfo_t *si;
	int n, cap;
};

struct tracee {
	struct tracee *next;
	pid_t tid, tgid;
	uint64_t pending; /* the call it is stopped in, 0: none (read by workers under table_lock) */
	int at_exit; /* injected into: at a syscall-exit stop (else in its seccomp stop) */
	int text_checked; /* the `syscall` instruction before regs.rip was seen */
	struct user_regs_struct regs; /* at its seccomp stop */
	int pass; /* CONTINUE after an injection: let the call through when it stops again */
	struct user_regs_struct pass_regs;
	struct siglist held; /* came during an injection: to send again after it */
	struct siglist redo; /* sent again: their siginfo, set at their signal-delivery stop */
};

#define BUCKETS 256
static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static struct tracee *bucket[BUCKETS]; /* changed by the tracer thread only, under table_lock */
static int ntracees;

/* The tracer thread's own state. */
struct scratch {
	struct scratch *next;
	pid_t tgid;
	uint64_t addr;
};
static struct scratch *scratches;
struct deferred {
	struct deferred *next;
	pid_t tid;
	int status;
};
static struct deferred *deferred; /* statuses an injection's wait took that were not its own */
static pthread_t tracer;
static pid_t program_pid;
static int program_status, program_reaped;
static uint64_t next_call_id;
static int seccomp_stop_first; /* kernels before 4.8: the seccomp stop comes before syscall entry */
static int chan = -1; /* our end for the program's fds (SCM_RIGHTS), an abstract unix name */
static struct sockaddr_un chan_addr;
static socklen_t chan_len;
static unsigned char token[TOKEN_SIZE]; /* in every message of ours, checked on arrival */
static unsigned name_counter;

/* Workers' replies and ADDFD requests, for the tracer thread. */
struct request {
	struct request *next;
	int addfd; /* else a reply */
	pid_t tid;
	uint64_t id;
	int cont;
	int64_t val;
	int srcfd, newfd, cloexec;
	int result, done; /* ADDFD: set by the tracer; the worker waits on queue_cond */
};
static pthread_mutex_t queue_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t queue_cond = PTHREAD_COND_INITIALIZER;
static struct request *queue_head, *queue_tail;
static int wake_fd = -1;

static struct tracee *tracee_find(pid_t tid)
{
	struct tracee *t = bucket[(unsigned)tid % BUCKETS];
	while (t && t->tid != tid)
		t = t->next;
	return t;
}

static struct tracee *tracee_add(pid_t tid, pid_t tgid)
{
	struct tracee *t = tracee_find(tid);
	if (t)
		return t;
	t = calloc(1, sizeof *t);
	if (!t)
		return NULL;
	t->tid = tid;
	t->tgid = tgid > 0 ? tgid : tid;
	pthread_mutex_lock(&table_lock);
	t->next = bucket[(unsigned)tid % BUCKETS];
	bucket[(unsigned)tid % BUCKETS] = t;
	ntracees++;
	pthread_mutex_unlock(&table_lock);
	return t;
}

/* Unlinks tid's entry (returned, for the caller to free or re-add), or NULL. */
static struct tracee *tracee_unlink(pid_t tid)
{
	pthread_mutex_lock(&table_lock);
	struct tracee **link = &bucket[(unsigned)tid % BUCKETS];
	while (*link && (*link)->tid != tid)
		link = &(*link)->next;
	struct tracee *t = *link;
	if (t) {
		*link = t->next;
		ntracees--;
	}
	pthread_mutex_unlock(&table_lock);
	return t;
}

static void set_pending(struct tracee *t, uint64_t id)
{
	pthread_mutex_lock(&table_lock);
	t->pending = id;
	pthread_mutex_unlock(&table_lock);
}

int ptrace_tracees(void)
{
	return ntracees;
}

int ptrace_still_valid(const struct call *c)
{
	pthread_mutex_lock(&table_lock);
	struct tracee *t = tracee_find(c->pid);
	int valid = t && t->pending == c->id;
	pthread_mutex_unlock(&table_lock);
	return valid;
}

static struct scratch **scratch_link(pid_t tgid)
{
	struct scratch **link = &scratches;
	while (*link && (*link)->tgid != tgid)
		link = &(*link)->next;
	return link;
}

static void scratch_forget(pid_t tgid)
{
	struct scratch **link = scratch_link(tgid), *s = *link;
	if (s) {
		*link = s->next;
		free(s);
	}
}

static void scratch_set(pid_t tgid, uint64_t addr)
{
	struct scratch *s = *scratch_link(tgid);
	if (!s && (s = calloc(1, sizeof *s)) != NULL) {
		s->tgid = tgid;
		s->next = scratches;
		scratches = s;
	}
	if (s)
		s->addr = addr;
}

static int kernel_older_than(int major, int minor)
{
	struct utsname u;
	int ma = 0, mi = 0;
	if (uname(&u) < 0 || sscanf(u.release, "%d.%d", &ma, &mi) != 2)
		return 0;
	return ma < major || (ma == major && mi < minor);
}

int ptrace_init(void)
{
	tracer = pthread_self();
	seccomp_stop_first = kernel_older_than(4, 8);
	wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (wake_fd < 0)
		return -errno;
	if (getrandom(token, sizeof token, 0) != (ssize_t)sizeof token)
		return -EIO;
	chan = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	int on = 1;
	if (chan < 0 || setsockopt(chan, SOL_SOCKET, SO_PASSCRED, &on, sizeof on) < 0)
		return -errno;
	/* abstract, so that no file is left behind; unguessable, and the sender is checked anyway */
	chan_addr.sun_family = AF_UNIX;
	int n = snprintf(chan_addr.sun_path + 1, sizeof chan_addr.sun_path - 1, "socksify-supervise/%d/%02x%02x%02x%02x",
			 (int)getpid(), token[0], token[1], token[2], token[3]);
	chan_len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
	if (bind(chan, (struct sockaddr *)&chan_addr, chan_len) < 0)
		return -errno;
	return 0;
}

int ptrace_wake_fd(void)
{
	return wake_fd;
}

int ptrace_seize(pid_t pid)
{
	/* PTRACE_O_EXITKILL: the program dies with us. Without it, its trapped calls would fail
	 * with ENOSYS once we are gone (as with a notify listener gone), but a call that stopped
	 * while we were dying is woken by the detach, and the kernel runs it unexamined (the
	 * filter's recheck after a trace stop allows it): measured, a connect() went out then. */
	if (ptrace(PTRACE_SEIZE, pid, 0, (void *)(long)PTRACE_OPTIONS) < 0)
		return -errno;
	program_pid = pid;
	return tracee_add(pid, pid) ? 0 : -ENOMEM;
}

static void defer(pid_t tid, int status)
{
	struct deferred *d = malloc(sizeof *d), **link = &deferred;
	if (!d) {
		log_error("out of memory: a stop of thread %d is lost", (int)tid);
		return;
	}
	*d = (struct deferred){ NULL, tid, status };
	while (*link)
		link = &(*link)->next;
	*link = d;
}

static int set_regs(pid_t tid, const struct user_regs_struct *r)
{
	return ptrace(PTRACE_SETREGS, tid, 0, (void *)r) < 0 ? -errno : 0;
}

static int siglist_push(struct siglist *l, const siginfo_t *si)
{
	if (l->n == l->cap) {
		int cap = l->cap ? 2 * l->cap : 8;
		siginfo_t *p = realloc(l->si, (size_t)cap * sizeof *p);
		if (!p)
			return -1;
		l->si = p;
		l->cap = cap;
	}
	l->si[l->n++] = *si;
	return 0;
}

/* Takes the first of signal signo off the list into *si: 1, or 0 if there is none. */
static int siglist_take(struct siglist *l, int signo, siginfo_t *si)
{
	for (int i = 0; i < l->n; i++)
		if (l->si[i].si_signo == signo) {
			*si = l->si[i];
			memmove(&l->si[i], &l->si[i + 1], (size_t)(l->n - i - 1) * sizeof l->si[0]);
			l->n--;
			return 1;
		}
	return 0;
}

static void tracee_free(struct tracee *t)
{
	if (t) {
		free(t->held.si);
		free(t->redo.si);
		free(t);
	}
}

/* Sends the held signals again, now that the thread runs on its own: each comes back as a
 * signal-delivery stop, where its first siginfo is put back. */
static void redeliver(struct tracee *t)
{
	for (int i = 0; i < t->held.n; i++) {
		if (siglist_push(&t->redo, &t->held.si[i]) < 0)
			log_error("out of memory: signal %d goes to thread %d without its siginfo", t->held.si[i].si_signo,
				  (int)t->tid);
		syscall(SYS_tgkill, t->tgid, t->tid, t->held.si[i].si_signo);
	}
	t->held.n = 0;
}

/* If si is one we sent again (tgkill from us), the siginfo it stands for, taken off the list. */
static int take_redo(struct tracee *t, siginfo_t *si)
{
	if (t->redo.n == 0 || si->si_code != SI_TKILL || si->si_pid != getpid())
		return 0;
	return siglist_take(&t->redo, si->si_signo, si);
}

static void hold_signal(struct tracee *t)
{
	siginfo_t si;
	if (ptrace(PTRACE_GETSIGINFO, t->tid, 0, &si) < 0)
		return;
	take_redo(t, &si); /* held again: as what it stands for */
	/* the same standard signal twice is one pending signal anyway */
	for (int i = 0; i < t->held.n; i++)
		if (t->held.si[i].si_signo == si.si_signo && si.si_signo < SIGRTMIN)
			return;
	if (siglist_push(&t->held, &si) < 0)
		log_error("out of memory: signal %d to thread %d lost", si.si_signo, (int)t->tid);
	else
		log_debug("signal %d to thread %d held during an injected call", si.si_signo, (int)t->tid);
}

static int wait_tid(pid_t tid, int *status)
{
	for (;;) {
		pid_t w = waitpid(tid, status, __WALL);
		if (w == tid)
			return 0;
		if (w < 0 && errno == EINTR)
			continue;
		return -1;
	}
}

/* Runs one system call in the stopped thread t: its result (-errno on failure), or INJ_GONE. */
static long inject_once(struct tracee *t, long nr, const uint64_t a[6])
{
	struct user_regs_struct r = t->regs;
	r.orig_rax = (unsigned long long)nr;
	r.rax = (unsigned long long)nr;
	r.rdi = a[0], r.rsi = a[1], r.rdx = a[2], r.r10 = a[3], r.r8 = a[4], r.r9 = a[5];
	if (t->at_exit)
		r.rip = t->regs.rip - 2; /* the `syscall` instruction again (2 bytes, checked below) */
	if (set_regs(t->tid, &r) < 0 || ptrace(PTRACE_SYSCALL, t->tid, 0, 0) < 0)
		return INJ_GONE;
	/* From the seccomp stop the entry is behind us (4.8+); else its syscall-enter stop comes. */
	int entered = !t->at_exit && !seccomp_stop_first;
	for (;;) {
		int st;
		if (wait_tid(t->tid, &st) < 0)
			return INJ_GONE;
		if (!WIFSTOPPED(st)) {
			defer(t->tid, st);
			return INJ_GONE;
		}
		int sig = WSTOPSIG(st), ev = (unsigned)st >> 16;
		if (sig == SYSCALL_STOP) {
			struct user_regs_struct now;
			if (ptrace(PTRACE_GETREGS, t->tid, 0, &now) < 0)
				return INJ_GONE;
			/* entry: rax is -ENOSYS there on x86_64; anything else is the result */
			if (!entered && (long long)now.rax == -ENOSYS && now.orig_rax == (unsigned long long)nr) {
				entered = 1;
			} else {
				t->at_exit = 1;
				return (long)now.rax;
			}
		} else if (ev == PTRACE_EVENT_SECCOMP || ev == PTRACE_EVENT_STOP) {
			/* our own call through the filter; a group-stop or an interrupt: we finish first */
		} else if (ev == 0) {
			hold_signal(t);
		} else { /* another thread's exec took this tid: the thread we had is gone */
			defer(t->tid, st);
			return INJ_GONE;
		}
		if (ptrace(PTRACE_SYSCALL, t->tid, 0, 0) < 0)
			return INJ_GONE;
	}
}

static int is_restart(long r)
{
	return r == -512 || r == -513 || r == -514 || r == -516; /* -ERESTARTSYS .. -ERESTART_RESTARTBLOCK */
}

static long inject(struct tracee *t, long nr, uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4,
		   uint64_t a5)
{
	const uint64_t a[6] = { a0, a1, a2, a3, a4, a5 };
	if (t->at_exit && !t->text_checked) { /* run again only what is a `syscall` instruction */
		errno = 0;
		long word = ptrace(PTRACE_PEEKTEXT, t->tid, (void *)(uintptr_t)(t->regs.rip - 2), 0);
		if (errno == ESRCH)
			return INJ_GONE;
		if (errno == EIO || errno == EPERM) /* it exec'd a program it may not read: not dumpable */
			return -EPERM;
		if (errno || (word & 0xffff) != 0x050f) { /* not for us to guess: the call fails */
			log_error("thread %d: no syscall instruction before %#llx to run injected calls with",
				  (int)t->tid, t->regs.rip);
			return -EFAULT;
		}
		t->text_checked = 1;
	}
	long r;
	int tries = 0;
	do /* interrupted by a signal (held now): the kernel would have run it again */
		r = inject_once(t, nr, a);
	while (is_restart(r) && ++tries < 16);
	return r;
}

/* Leaves the thread stopped with its call's registers and -ENOSYS: what it gets if we die. */
static void park(struct tracee *t)
{
	struct user_regs_struct r = t->regs;
	r.rax = (unsigned long long)-ENOSYS;
	if (!t->at_exit)
		r.orig_rax = (unsigned long long)-1;
	set_regs(t->tid, &r);
}

/* 0, or -errno: EPERM where the process is no longer ours to look into (it exec'd a program
 * it may not read: not dumpable), EFAULT if the page is gone. */
static int write_scratch(const struct tracee *t, uint64_t at, const void *buf, size_t len)
{
	struct iovec local = { (void *)buf, len }, remote = { (void *)(uintptr_t)at, len };
	ssize_t n = process_vm_writev(t->tid, &local, 1, &remote, 1, 0);
	return n == (ssize_t)len ? 0 : n < 0 && errno == EPERM ? -EPERM : -EFAULT;
}

static int read_scratch(const struct tracee *t, uint64_t at, void *buf, size_t len)
{
	struct iovec local = { buf, len }, remote = { (void *)(uintptr_t)at, len };
	ssize_t n = process_vm_readv(t->tid, &local, 1, &remote, 1, 0);
	return n == (ssize_t)len ? 0 : n < 0 && errno == EPERM ? -EPERM : -EFAULT;
}

/* The process's scratch page (mapped on first use): 0 or an errno. */
static int scratch_of(struct tracee *t, uint64_t *addr)
{
	struct scratch *s = *scratch_link(t->tgid);
	if (s) {
		*addr = s->addr;
		return 0;
	}
	long a = inject(t, SYS_mmap, 0, SCRATCH_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			(uint64_t)-1, 0);
	if (a == INJ_GONE)
		return ESRCH;
	if (a < 0 && a > -4096)
		return (int)-a;
	scratch_set(t->tgid, (uint64_t)a);
	*addr = (uint64_t)a;
	return 0;
}

/* A message as the program sees it at scratch s: one iovec of the token, name and control
 * (each optional) already written at OFF_ADDR and OFF_CTRL. */
static int write_msghdr(const struct tracee *t, uint64_t s, socklen_t namelen, size_t ctrllen)
{
	struct msghdr m = {
		.msg_name = namelen ? (void *)(uintptr_t)(s + OFF_ADDR) : NULL,
		.msg_namelen = namelen,
		.msg_iov = (struct iovec *)(uintptr_t)(s + OFF_IOV),
		.msg_iovlen = 1,
		.msg_control = (void *)(uintptr_t)(s + OFF_CTRL),
		.msg_controllen = ctrllen,
	};
	struct iovec iov = { (void *)(uintptr_t)(s + OFF_DATA), TOKEN_SIZE };
	int r = write_scratch(t, s + OFF_DATA, token, sizeof token);
	if (r == 0)
		r = write_scratch(t, s + OFF_IOV, &iov, sizeof iov);
	return r ? r : write_scratch(t, s + OFF_MSG, &m, sizeof m);
}

static void close_rights(struct msghdr *m)
{
	for (struct cmsghdr *h = CMSG_FIRSTHDR(m); h; h = CMSG_NXTHDR(m, h))
		if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS)
			for (size_t i = 0; i < (h->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++)
				close(((int *)CMSG_DATA(h))[i]);
}

/* The fd the program (process tgid) sent to our channel: 0 or an errno. Anything else that
 * came (another sender, a message of an earlier try) is dropped. */
static int receive_fd(pid_t tgid, int *fd)
{
	for (;;) {
		unsigned char data[TOKEN_SIZE];
		union {
			char buf[CMSG_SPACE(sizeof(int)) + CMSG_SPACE(sizeof(struct ucred))];
			struct cmsghdr align;
		} u;
		struct iovec iov = { data, sizeof data };
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf };
		ssize_t n = recvmsg(chan, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0)
			return errno == EAGAIN ? EPROTO : errno;
		int got = -1, from = 0;
		for (struct cmsghdr *h = CMSG_FIRSTHDR(&m); h; h = CMSG_NXTHDR(&m, h)) {
			if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_CREDENTIALS) {
				struct ucred cr;
				memcpy(&cr, CMSG_DATA(h), sizeof cr);
				from = cr.pid;
			} else if (h->cmsg_level == SOL_SOCKET && h->cmsg_type == SCM_RIGHTS &&
				   h->cmsg_len == CMSG_LEN(sizeof(int))) {
				memcpy(&got, CMSG_DATA(h), sizeof got);
			}
		}
		if (from == tgid && got >= 0 && n == TOKEN_SIZE && memcmp(data, token, TOKEN_SIZE) == 0 &&
		    !(m.msg_flags & MSG_CTRUNC)) {
			*fd = got;
			return 0;
		}
		close_rights(&m);
	}
}

static void drain_chan(void)
{
	int fd;
	while (receive_fd(-2, &fd) != EPROTO)
		;
}

/* A unix datagram socket made in the thread, for our messages: its fd, -errno or INJ_GONE. A
 * process at its RLIMIT_NOFILE gets it with the soft limit one higher for that moment: the
 * program's own call (connect, sendmsg...) needs no fd, so EMFILE is not its error. */
static long inject_unix_socket(struct tracee *t)
{
	long p = inject(t, SYS_socket, AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, 0, 0, 0);
	struct rlimit old, more;
	if (p != -EMFILE || prlimit(t->tgid, RLIMIT_NOFILE, NULL, &old) < 0 || old.rlim_cur >= old.rlim_max)
		return p;
	more = old;
	more.rlim_cur++;
	if (prlimit(t->tgid, RLIMIT_NOFILE, &more, NULL) < 0)
		return p;
	p = inject(t, SYS_socket, AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, 0, 0, 0);
	prlimit(t->tgid, RLIMIT_NOFILE, &old, NULL);
	return p;
}

/* Our copy of the program's fd args[0] (SCM_RIGHTS from a socket made in the thread): 0 or
 * an errno for the program (EBADF: not an fd). */
static int fetch_by_injection(struct tracee *t, int progfd, int *fd)
{
	uint64_t s;
	int err = scratch_of(t, &s);
	if (err)
		return err;
	drain_chan();
	long p = inject_unix_socket(t);
	if (p == INJ_GONE)
		return ESRCH;
	if (p < 0)
		return (int)-p;
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	memset(&u, 0, sizeof u);
	struct cmsghdr *h = &u.align;
	h->cmsg_len = CMSG_LEN(sizeof(int));
	h->cmsg_level = SOL_SOCKET;
	h->cmsg_type = SCM_RIGHTS;
	memcpy(CMSG_DATA(h), &progfd, sizeof progfd);
	long n = write_scratch(t, s + OFF_ADDR, &chan_addr, chan_len);
	if (n == 0)
		n = write_scratch(t, s + OFF_CTRL, u.buf, sizeof u.buf);
	if (n == 0)
		n = write_msghdr(t, s, chan_len, sizeof u.buf);
	if (n == 0)
		n = inject(t, SYS_sendmsg, (uint64_t)p, s + OFF_MSG, MSG_DONTWAIT | MSG_NOSIGNAL, 0, 0, 0);
	long closed = n == INJ_GONE ? INJ_GONE : inject(t, SYS_close, (uint64_t)p, 0, 0, 0, 0, 0);
	if (n == INJ_GONE || closed == INJ_GONE)
		return ESRCH;
	if (n < 0)
		return (int)-n; /* EBADF: progfd is no fd of the program's */
	return receive_fd(t->tgid, fd);
}

/* Our socket srcfd installed as the program's fd newfd: received in the thread from a socket
 * bound there for this (socket, bind, recvmsg), dup3 over newfd, closes. 0 or -errno. */
static int addfd_by_injection(struct tracee *t, int srcfd, int newfd, int cloexec)
{
	uint64_t s;
	int err = scratch_of(t, &s);
	if (err)
		return -err;
	long p = inject(t, SYS_socket, AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, 0, 0, 0);
	if (p == INJ_GONE)
		return -ESRCH;
	if (p < 0)
		return (int)p;
	struct sockaddr_un to = { .sun_family = AF_UNIX };
	int len = snprintf(to.sun_path + 1, sizeof to.sun_path - 1, "%s/%u", chan_addr.sun_path + 1, ++name_counter);
	socklen_t tolen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)len);
	long r = write_scratch(t, s + OFF_ADDR, &to, tolen) < 0 ? -EFAULT
								  : inject(t, SYS_bind, (uint64_t)p, s + OFF_ADDR, tolen, 0, 0, 0);
	if (r == 0) { /* send it there, then the program receives it */
		union {
			char buf[CMSG_SPACE(sizeof(int))];
			struct cmsghdr align;
		} u;
		memset(&u, 0, sizeof u);
		u.align.cmsg_len = CMSG_LEN(sizeof(int));
		u.align.cmsg_level = SOL_SOCKET;
		u.align.cmsg_type = SCM_RIGHTS;
		memcpy(CMSG_DATA(&u.align), &srcfd, sizeof srcfd);
		struct iovec iov = { token, sizeof token };
		struct msghdr m = { &to, tolen, &iov, 1, u.buf, sizeof u.buf, 0 };
		r = sendmsg(chan, &m, MSG_DONTWAIT | MSG_NOSIGNAL) < 0 ? -errno : 0;
	}
	char ctrl[CTRL_SIZE] = { 0 };
	if (r == 0)
		r = write_scratch(t, s + OFF_CTRL, ctrl, sizeof ctrl) < 0 || write_msghdr(t, s, 0, sizeof ctrl) < 0
			    ? -EFAULT
			    : inject(t, SYS_recvmsg, (uint64_t)p, s + OFF_MSG, MSG_DONTWAIT | MSG_CMSG_CLOEXEC, 0, 0, 0);
	int got = -1;
	if (r >= 0 && r != INJ_GONE) { /* what arrived: ours (the token) and one fd */
		struct msghdr m;
		unsigned char data[TOKEN_SIZE];
		if (read_scratch(t, s + OFF_MSG, &m, sizeof m) == 0 && read_scratch(t, s + OFF_CTRL, ctrl, sizeof ctrl) == 0 &&
		    read_scratch(t, s + OFF_DATA, data, sizeof data) == 0 && m.msg_controllen >= CMSG_LEN(sizeof(int))) {
			struct cmsghdr h;
			memcpy(&h, ctrl, sizeof h);
			if (h.cmsg_level == SOL_SOCKET && h.cmsg_type == SCM_RIGHTS && h.cmsg_len == CMSG_LEN(sizeof(int)))
				memcpy(&got, ctrl + CMSG_LEN(0), sizeof got);
			if (got >= 0 && (r != TOKEN_SIZE || memcmp(data, token, TOKEN_SIZE) != 0)) {
				inject(t, SYS_close, (uint64_t)got, 0, 0, 0, 0, 0); /* not ours */
				got = -1;
			}
		}
		if (got < 0 && read_scratch(t, s + OFF_MSG, &m, sizeof m) == 0 && (m.msg_flags & MSG_CTRUNC))
			r = -EMFILE; /* the kernel dropped the fd: no number left for it */
		else
			r = got >= 0 ? 0 : -EPROTO;
	}
	if (r == 0 && got != newfd) {
		r = inject(t, SYS_dup3, (uint64_t)got, (uint64_t)newfd, cloexec ? O_CLOEXEC : 0, 0, 0, 0);
		if (r != INJ_GONE)
			inject(t, SYS_close, (uint64_t)got, 0, 0, 0, 0, 0);
	} else if (r == 0) { /* newfd was closed meanwhile and the lowest free number is it */
		r = inject(t, SYS_fcntl, (uint64_t)got, F_SETFD, cloexec ? FD_CLOEXEC : 0, 0, 0, 0);
	}
	if (r != INJ_GONE)
		inject(t, SYS_close, (uint64_t)p, 0, 0, 0, 0, 0);
	if (r == INJ_GONE)
		return -ESRCH;
	return r < 0 ? (int)r : 0;
}

/* Lets the thread run on: its call answered (regs set) or passed on. Held signals are sent
 * again while it is still stopped, so they are pending when it leaves the call, as a signal that
 * came during the call would be (sent after PTRACE_CONT, they could come any time later). */
static void resume(struct tracee *t, const struct user_regs_struct *r)
{
	set_pending(t, 0);
	if (set_regs(t->tid, r) < 0)
		return; /* killed meanwhile: its exit comes */
	if (!t->pass)
		redeliver(t);
	if (ptrace(PTRACE_CONT, t->tid, 0, 0) < 0)
		return;
	t->at_exit = 0;
}

static void apply_reply(pid_t tid, uint64_t id, int cont, int64_t val)
{
	struct tracee *t = tracee_find(tid);
	if (!t || t->pending != id)
		return; /* gone, or the call is no longer the one it is stopped in */
	struct user_regs_struct r = t->regs;
	if (cont && t->at_exit) { /* the call itself again: it stops once more, and passes then */
		r.rip -= 2;
		r.rax = r.orig_rax;
		t->pass = 1;
		t->pass_regs = t->regs;
	} else if (!cont) {
		if (!t->at_exit)
			r.orig_rax = (unsigned long long)-1; /* skipped: rax is its result */
		r.rax = (unsigned long long)val;
	} /* else in the seccomp stop: the kernel runs it as it is (the filter allows it on recheck) */
	resume(t, &r);
}

static int on_tracer(void)
{
	return pthread_equal(pthread_self(), tracer);
}

static void post(struct request *q)
{
	pthread_mutex_lock(&queue_lock);
	if (queue_tail)
		queue_tail->next = q;
	else
		queue_head = q;
	queue_tail = q;
	pthread_mutex_unlock(&queue_lock);
	uint64_t one = 1;
	if (write(wake_fd, &one, sizeof one) < 0)
		log_debug("eventfd: %s", strerror(errno));
}

void ptrace_reply(const struct call *c, int cont, int64_t val)
{
	if (on_tracer()) {
		apply_reply(c->pid, c->id, cont, val);
		return;
	}
	struct request *q = calloc(1, sizeof *q);
	if (!q) { /* the thread stays stopped until we die: then ENOSYS */
		log_error("out of memory: cannot answer the program's system call %d", c->nr);
		return;
	}
	q->tid = c->pid;
	q->id = c->id;
	q->cont = cont;
	q->val = val;
	post(q);
}

static int addfd_now(pid_t tid, uint64_t id, int srcfd, int newfd, int cloexec)
{
	struct tracee *t = tracee_find(tid);
	if (!t || t->pending != id)
		return -ESRCH;
	int r = addfd_by_injection(t, srcfd, newfd, cloexec);
	struct rlimit lim, more;
	if (r == -EMFILE && prlimit(t->tgid, RLIMIT_NOFILE, NULL, &lim) == 0 &&
	    lim.rlim_cur < lim.rlim_max && lim.rlim_max - lim.rlim_cur >= 2) {
		/* at its RLIMIT_NOFILE: our two injected fds, for the moment (as inject_unix_socket) */
		more = lim;
		more.rlim_cur += 2;
		if (prlimit(t->tgid, RLIMIT_NOFILE, &more, NULL) == 0) {
			r = addfd_by_injection(t, srcfd, newfd, cloexec);
			prlimit(t->tgid, RLIMIT_NOFILE, &lim, NULL);
		}
	}
	if (r == -ESRCH)
		set_pending(t, 0);
	else
		park(t);
	if (r < 0 && r != -ESRCH)
		log_error("cannot install a socket as fd %d of thread %d (injected calls): %s", newfd, (int)tid,
			  strerror(-r));
	return r;
}

int ptrace_addfd(const struct call *c, int srcfd, int newfd, int cloexec)
{
	if (on_tracer())
		return addfd_now(c->pid, c->id, srcfd, newfd, cloexec);
	struct request q = { .addfd = 1, .tid = c->pid, .id = c->id, .srcfd = srcfd, .newfd = newfd, .cloexec = cloexec };
	post(&q);
	pthread_mutex_lock(&queue_lock);
	while (!q.done)
		pthread_cond_wait(&queue_cond, &queue_lock);
	pthread_mutex_unlock(&queue_lock);
	return q.result;
}

/* Carries out what the workers queued. Returns how many. */
static int run_queue(void)
{
	uint64_t n;
	if (read(wake_fd, &n, sizeof n) < 0 && errno != EAGAIN)
		log_debug("eventfd: %s", strerror(errno));
	pthread_mutex_lock(&queue_lock);
	struct request *q = queue_head;
	queue_head = queue_tail = NULL;
	pthread_mutex_unlock(&queue_lock);
	int count = 0;
	while (q) {
		struct request *next = q->next;
		count++;
		if (q->addfd) {
			int r = addfd_now(q->tid, q->id, q->srcfd, q->newfd, q->cloexec);
			pthread_mutex_lock(&queue_lock);
			q->result = r;
			q->done = 1;
			pthread_cond_broadcast(&queue_cond);
			pthread_mutex_unlock(&queue_lock);
		} else {
			apply_reply(q->tid, q->id, q->cont, q->val);
			free(q);
		}
		q = next;
	}
	return count;
}

/* A seccomp stop: a call for sockets.c, its socket fetched by injection. */
static void on_seccomp(struct tracee *t)
{
	struct user_regs_struct r;
	if (ptrace(PTRACE_GETREGS, t->tid, 0, &r) < 0)
		return; /* killed meanwhile: its exit comes */
	if (t->pass) {
		int same = r.orig_rax == t->pass_regs.orig_rax && r.rip == t->pass_regs.rip &&
			   r.rdi == t->pass_regs.rdi && r.rsi == t->pass_regs.rsi && r.rdx == t->pass_regs.rdx &&
			   r.r10 == t->pass_regs.r10 && r.r8 == t->pass_regs.r8 && r.r9 == t->pass_regs.r9;
		t->pass = 0;
		if (same) {
			redeliver(t); /* pending before it runs on (see resume()) */
			ptrace(PTRACE_CONT, t->tid, 0, 0);
			return;
		}
	}
	t->regs = r;
	t->at_exit = 0;
	t->text_checked = 0;
	park(t); /* from here on, were we to die, the call would fail rather than run unexamined */
	struct call *c = calloc(1, sizeof *c);
	if (!c) {
		apply_reply(t->tid, 0, 0, -ENOMEM);
		return;
	}
	c->id = ++next_call_id;
	c->pid = t->tid;
	c->tgid = t->tgid;
	c->nr = (int)r.orig_rax;
	uint64_t args[6] = { r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9 };
	memcpy(c->args, args, sizeof args);
	c->fd = -1;
	set_pending(t, c->id);
	int fd = -1;
	int err = fetch_by_injection(t, (int)c->args[0], &fd);
	if (err == ESRCH) {
		set_pending(t, 0); /* it died, or is not what it was: nobody to answer */
		call_free(c);
		return;
	}
	park(t);
	if (!err)
		err = call_set_socket(c, fd);
	if (err) {
		notify_reply_errno(c, err);
		call_free(c);
		return;
	}
	call_dispatch(c);
}

/* A new thread or process: traced already (the options are inherited); its first stop may
 * come before or after this event of its parent's. */
static void on_new(struct tracee *parent, int event)
{
	unsigned long msg;
	if (ptrace(PTRACE_GETEVENTMSG, parent->tid, 0, &msg) < 0)
		return;
	pid_t tid = (pid_t)msg;
	if (tracee_find(tid))
		return;
	pid_t tgid = proc_tgid_of(tid);
	tracee_add(tid, tgid);
	/* A vfork child shares the parent's memory, so its scratch page too. A forked child has a copy
	 * of the page only if the parent mapped it before the fork, which another thread of the parent
	 * may have done after it: the child maps a page of its own when it first needs one, rather than
	 * the supervisor writing at an address that may be unmapped, or something else, in the child. */
	if (event == PTRACE_EVENT_VFORK && (tgid == tid || tgid <= 0)) {
		struct scratch *s = *scratch_link(parent->tgid);
		if (s)
			scratch_set(tid, s->addr);
	}
}

/* An exec: the thread that exec'd has the process's pid as its tid now. */
static void on_exec(struct tracee *t)
{
	unsigned long former;
	pid_t tid = t->tid;
	scratch_forget(tid);
	if (ptrace(PTRACE_GETEVENTMSG, tid, 0, &former) == 0 && (pid_t)former != tid) {
		/* t is the old leader's entry; the exec'ing thread's own entry takes its place */
		struct tracee *moved = tracee_unlink((pid_t)former);
		tracee_free(tracee_unlink(tid));
		if (moved) {
			moved->tid = moved->tgid = tid;
			pthread_mutex_lock(&table_lock);
			moved->next = bucket[(unsigned)moved->tid % BUCKETS];
			bucket[(unsigned)moved->tid % BUCKETS] = moved;
			ntracees++;
			pthread_mutex_unlock(&table_lock);
			t = moved;
		} else {
			return;
		}
	}
	t->tgid = t->tid;
	t->pass = 0;
	set_pending(t, 0);
}

static void on_exit_status(pid_t tid, int status)
{
	struct tracee *t = tracee_unlink(tid);
	if (t && t->tid == t->tgid)
		scratch_forget(tid);
	tracee_free(t);
	if (tid == program_pid) {
		program_status = status;
		program_reaped = 1;
	}
}

/* At a signal-delivery stop: if it is one we sent again (tgkill from us), its first siginfo
 * back in place. Another signal of the same number may come first: its siginfo is its own. */
static void restore_siginfo(struct tracee *t)
{
	siginfo_t si;
	if (t->redo.n > 0 && ptrace(PTRACE_GETSIGINFO, t->tid, 0, &si) == 0 && take_redo(t, &si))
		ptrace(PTRACE_SETSIGINFO, t->tid, 0, &si);
}

static void on_status(pid_t tid, int status)
{
	if (WIFEXITED(status) || WIFSIGNALED(status)) {
		on_exit_status(tid, status);
		return;
	}
	if (!WIFSTOPPED(status))
		return;
	struct tracee *t = tracee_find(tid);
	if (!t && !(t = tracee_add(tid, proc_tgid_of(tid))))
		return;
	int sig = WSTOPSIG(status), ev = (unsigned)status >> 16;
	long resume_sig = 0;
	switch (ev) {
	case PTRACE_EVENT_SECCOMP:
		on_seccomp(t);
		return;
	case PTRACE_EVENT_CLONE:
	case PTRACE_EVENT_FORK:
	case PTRACE_EVENT_VFORK:
		on_new(t, ev);
		break;
	case PTRACE_EVENT_EXEC:
		on_exec(t);
		break;
	case PTRACE_EVENT_STOP:
		if (sig == SIGSTOP || sig == SIGTSTP || sig == SIGTTIN || sig == SIGTTOU) {
			ptrace(PTRACE_LISTEN, tid, 0, 0); /* a group-stop: it stays stopped, as without us */
			return;
		}
		break; /* a new tracee's first stop, or the end of a group-stop */
	case 0:
		if (sig == SYSCALL_STOP)
			break; /* a syscall stop left over (PTRACE_SYSCALL): nothing to do */
		resume_sig = sig; /* a signal for the program: delivered */
		restore_siginfo(t);
		break;
	default:
		break;
	}
	ptrace(PTRACE_CONT, tid, 0, (void *)resume_sig);
}

int ptrace_events(int *status)
{
	for (;;) {
		int st, progress = 0;
		pid_t tid;
		while (deferred) {
			struct deferred *d = deferred;
			deferred = d->next;
			on_status(d->tid, d->status);
			free(d);
			progress = 1;
		}
		while ((tid = waitpid(-1, &st, __WALL | WNOHANG)) > 0) {
			on_status(tid, st);
			progress = 1;
		}
		if (run_queue() > 0)
			progress = 1;
		if (!progress)
			break;
	}
	if (program_reaped == 1) {
		program_reaped = 2; /* reported once */
		*status = program_status;
		return 1;
	}
	return 0;
}
