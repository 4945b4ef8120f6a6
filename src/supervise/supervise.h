/* supervise.h - socksify-supervise: runs a program under a seccomp user-notification
 * filter and carries out its inet connect()s and sends itself (see README, "Static and
 * Go programs"). One file per concern:
 *   main.c     options, environment, starting the program, the event loop, exit status
 *   filter.c   the BPF program and its installation in the child (fail closed)
 *   notify.c   receiving notifications, reading the program's memory, its sockets, replies
 *   sockets.c  what connect/sendto/sendmsg/sendmmsg of an inet socket become
 *   proxy.c    reaching the target through the proxy or chain: the library's hop machine
 *              (preload/handshake.c, with libc as its real_* functions: real.c)
 *   dns.c      the loopback DNS responder: fake addresses, SOCKSIFY_NO_PROXY names resolved
 *              here, other queries through the proxy
 *   udp.c      datagrams to proxied destinations: a UDP ASSOCIATE per program socket */
#ifndef SOCKSIFY_SUPERVISE_H
#define SOCKSIFY_SUPERVISE_H

#include <linux/seccomp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <sys/socket.h>

#include "fakenames.h"
#include "netlist.h"
#include "proxyurl.h"
#include "socks5.h"

#define SUPERVISE_NAME "socksify-supervise"

struct config; /* preload/config.h */

/* Settings, filled once by main() before any thread starts; read-only afterwards. */
struct sup_config {
	/* SOCKSIFY_* (the proxy or chain, timeout, NO_PROXY addresses and names, pipelining,
	 * fake networks) as the library reads them, by its own parser (preload/config.c) */
	const struct config *lib;
	int dns_forward; /* a resolver is configured for queries other than A/AAAA */
	struct socks5_addr dns_server; /* ... reached through the proxy, over TCP */
};

extern struct sup_config sup_config;

/* The fake-name table and its lock (dns.c hands names out, sockets.c looks them up). */
extern struct fake_names *sup_fake;
extern pthread_mutex_t sup_fake_lock;
int sup_fake_lookup(const struct socks5_addr *a, char name[FAKE_NAME_MAX + 1]);

/* How trapped calls reach the supervisor: seccomp user notification, or (kernels before 5.9,
 * or without pidfd_getfd) the supervisor as the program's tracer. Set by main() before any
 * thread starts; read-only afterwards. */
enum sup_mech { MECH_NOTIFY, MECH_PTRACE };
extern enum sup_mech sup_mech;

/* filter.c: in the child, with the trap action (SECCOMP_RET_USER_NOTIF: returns the listener
 * fd; SECCOMP_RET_TRACE: returns 0), or -errno. */
int filter_install(uint32_t action);
/* The BPF program itself (for tests): its length, or -1 if cap (instructions) is too small. */
struct sock_filter;
int filter_build(struct sock_filter *out, size_t cap, uint32_t action);

/* One trapped system call, copied out of the kernel's notification. */
struct call {
	uint64_t id;
	pid_t pid; /* the calling thread, in our pid namespace */
	int nr;
	uint64_t args[6];
	int fd; /* our copy of the program's fd args[0] (pidfd_getfd), or -1 */
	int family, type, protocol; /* of that socket */
	pid_t tgid; /* the calling thread's process */
};

/* notify.c */
int notify_init(int listener);
/* Receives and handles one notification (the listener is readable). */
void notify_handle_one(void);
int notify_read_mem(const struct call *c, uint64_t addr, void *buf, size_t len);
/* The same without the validity check: for several reads followed by one notify_still_valid(). */
int notify_read_mem_unchecked(const struct call *c, uint64_t addr, void *buf, size_t len);
int notify_still_valid(const struct call *c);
int notify_write_mem(const struct call *c, uint64_t addr, const void *buf, size_t len);
void notify_reply_value(const struct call *c, int64_t val);
void notify_reply_errno(const struct call *c, int err);
void notify_reply_continue(const struct call *c);
/* Installs srcfd as the program's fd number newfd (ADDFD with SETFD); 0 or -errno. */
int notify_addfd(const struct call *c, int srcfd, int newfd, int cloexec);
/* The FD_CLOEXEC state of the program's fd (from /proc/PID/fdinfo): 1, 0, or -1. */
int notify_fd_cloexec(const struct call *c, int fd);
void call_free(struct call *c);
/* Takes fd as the call's copy of the program's socket (its family, type, protocol): 0, or an
 * errno for the program (ENOTSOCK; fd is closed then). */
int call_set_socket(struct call *c, int fd);
/* A call with its socket: to the handler in sockets.c (or CONTINUE for a non-inet socket). */
void call_dispatch(struct call *c);
/* The process a thread belongs to, from /proc, or -1. */
pid_t proc_tgid_of(pid_t tid);

/* ptrace.c: the same API where the supervisor is the program's tracer (see ptrace.c). */
/* Whether this kernel has what the notify mechanism needs; else why not, in why. */
int notify_usable(char *why, size_t size);
/* In the supervisor, before the child installs the filter: 0 or -errno. */
int ptrace_seize(pid_t pid);
int ptrace_init(void);
/* Readable when a worker has queued a reply or a request for the tracer thread. */
int ptrace_wake_fd(void);
/* Handles every stop and exit waiting, and the queued replies. Returns 1 (once) when the
 * program (the first process seized) has been reaped, its wait status in *status; else 0. */
int ptrace_events(int *status);
/* How many threads are still traced (the program's and its descendants'). */
int ptrace_tracees(void);
int ptrace_still_valid(const struct call *c);
/* Answers the call: cont, or the value (a negative one: -errno). From any thread. */
void ptrace_reply(const struct call *c, int cont, int64_t val);
int ptrace_addfd(const struct call *c, int srcfd, int newfd, int cloexec);

/* sockets.c: decide and carry out; each replies to c and frees it. */
void sockets_connect(struct call *c);
void sockets_sendto(struct call *c);
void sockets_sendmsg(struct call *c);
void sockets_sendmmsg(struct call *c);
void sockets_getpeername(struct call *c);
void sockets_recvfrom(struct call *c);
/* Runs fn(c) in a thread of its own (the handshake blocks only the calling program thread). */
void sockets_in_worker(struct call *c, void (*fn)(struct call *));
/* Starts fn(arg) in a detached thread with a stack of that size: 0, or pthread_create's error
 * (then arg is the caller's to free). */
int thread_start_detached(void *(*fn)(void *), void *arg, size_t stack);

/* proxy.c: connects fd (non-blocking, not connected, ours) through the proxy or chain to dst
 * before deadline_ms (CLOCK_MONOTONIC), logging why not. Returns 0 or the errno the program
 * gets. */
int proxy_connect(int fd, const struct socks5_addr *dst, int64_t deadline_ms);
/* The same through c's proxy or chain (a SOCKSIFY_ROUTE route's settings, route.h). */
int proxy_connect_via(const struct config *c, int fd, const struct socks5_addr *dst, int64_t deadline_ms);
/* 1 when a connection to sa goes direct: SOCKSIFY_NO_PROXY (an address, or one of a name
 * resolved by dns.c), or the proxy itself. */
int proxy_is_direct(const struct sockaddr *sa, socklen_t len);
int64_t now_ms(void);
/* Waits for events on fd until deadline_ms: 1 ready, 0 timed out, -errno. */
int wait_fd(int fd, short events, int64_t deadline_ms);
/* Reads/writes exactly n bytes before deadline_ms: 0, or -errno (-ETIMEDOUT, -ECONNRESET at EOF). */
int read_exact(int fd, void *buf, size_t n, int64_t deadline_ms);
int write_all(int fd, const void *buf, size_t n, int64_t deadline_ms);

/* dns.c */
int dns_init(void);
void dns_close(void); /* in the process that only waits for the program */
/* Adds the responder's fds to a poll set (returns how many) and serves those ready. */
int dns_poll_fds(struct pollfd *p, int max);
void dns_serve(const struct pollfd *p, int n);
/* The responder address for a socket of family (AF_INET/AF_INET6) and type. */
int dns_responder_addr(int family, int type, int v6only, struct sockaddr_storage *sa, socklen_t *len);

/* udp.c. A handler that must not block gets SUP_MUST_WAIT when an association is still to be
 * made: it then runs the call again in a worker (sockets_in_worker) with can_wait set. */
#define SUP_MUST_WAIT (-0x10000)
/* Sends data to dst (proxied) through the association of the program's socket c->fd: the
 * payload's length, -errno or SUP_MUST_WAIT. */
ssize_t udp_send(const struct call *c, const struct sockaddr_storage *dst, socklen_t len, const void *data, size_t n,
		 int can_wait);
/* The loopback stand-in for peer dst that the program's socket is to be connected to: 0, an
 * errno or SUP_MUST_WAIT. */
int udp_connect_peer(const struct call *c, const struct sockaddr_storage *dst, socklen_t len, int can_wait,
		     struct sockaddr_storage *standin, socklen_t *standinlen);
/* Whether the socket fd (ours, a copy of the program's) has an association. */
int udp_is_associated(int fd);
/* A datagram's source *src on fd: rewritten to the peer it stands for when it is one of fd's
 * stand-ins (1), else left (0). */
int udp_source_of(int fd, struct sockaddr_storage *src, socklen_t *len);

#endif
