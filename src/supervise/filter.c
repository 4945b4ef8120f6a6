/* filter.c - the seccomp filter the program runs under, installed by the child before exec.
 *
 * Fast path first: every system call but the few below is allowed by the filter itself,
 * with no round trip to the supervisor. What reaches the supervisor (the trap action:
 * SECCOMP_RET_USER_NOTIF, or SECCOMP_RET_TRACE for the ptrace mechanism, see ptrace.c):
 * connect, sendmsg, sendmmsg, getpeername (a proxied socket's peer is its target, not the
 * proxy), recvfrom with a source address (musl's DNS answers, see sockets.c), and sendto
 * with a destination address (sendto(..., NULL, 0)
 * on a connected socket, the common case, is allowed here: its address is a register,
 * not memory, so there is nothing to race). Decided here, as registers suffice:
 *  - socket(): AF_UNIX, AF_NETLINK, AF_INET and AF_INET6 only (no AF_PACKET, no other
 *    family a datagram could leave by); no SOCK_RAW/SOCK_PACKET inet sockets;
 *  - setsockopt() of a source route (IP_OPTIONS, IPV6_RTHDR, IPV6_2292RTHDR, and
 *    IPV6_2292PKTOPTIONS, which may carry one): EPERM, as the kernel would send by way of
 *    the route's first hop, also what the supervisor sends from the program's socket (a
 *    proxy connect, a datagram to the DNS responder);
 *  - io_uring_setup: ENOSYS (a ring's connect or sendmsg would never reach this filter);
 *  - x32 system calls (the 0x40000000 bit) fail with EPERM; i386 ones (int 0x80 in a 64-bit
 *    process, or a 32-bit program) may do anything but sockets: socketcall and the socket
 *    calls fail with EPERM;
 *  - any other architecture kills the process. */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "supervise.h"

#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif
#ifndef SECCOMP_FILTER_FLAG_NEW_LISTENER
#define SECCOMP_FILTER_FLAG_NEW_LISTENER (1UL << 3)
#endif

#define X32_SYSCALL_BIT 0x40000000u
#define NR_IO_URING_SETUP 425 /* the same number on x86_64 and i386 */
#define I386_SOCKETCALL 102
#define I386_SENDMMSG 345
#define I386_RECVMMSG 337
#define I386_SOCKET_FIRST 359 /* socket .. shutdown */
#define I386_SOCKET_LAST 373
#define ARG_LO(i) (offsetof(struct seccomp_data, args) + 8 * (i))
#define ARG_HI(i) (offsetof(struct seccomp_data, args) + 8 * (i) + 4)

/* A BPF program written with labels: jumps name a label (or NEXT), resolved when built. */
enum label { NEXT, L_ALLOW, L_TRAP, L_EPERM, L_ENOSYS, L_KILL, L_SENDTO, L_SOCKET, L_INET, L_SOCKOPT, L_SOCKOPT6, L_I386, L_N };
struct ins {
	uint16_t code;
	uint32_t k;
	enum label jt, jf;
	enum label here; /* when code is LABEL: this instruction only marks a position */
};
#define LABEL 0xffff
#define AT(l) { LABEL, 0, NEXT, NEXT, l }
#define LD(off) { BPF_LD | BPF_W | BPF_ABS, (uint32_t)(off), NEXT, NEXT, NEXT }
#define IF_EQ(v, t, f) { BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)(v), t, f, NEXT }
#define IF_GE(v, t, f) { BPF_JMP | BPF_JGE | BPF_K, (uint32_t)(v), t, f, NEXT }
#define IF_GT(v, t, f) { BPF_JMP | BPF_JGT | BPF_K, (uint32_t)(v), t, f, NEXT }
#define AND(v) { BPF_ALU | BPF_AND | BPF_K, (uint32_t)(v), NEXT, NEXT, NEXT }
#define RET(v) { BPF_RET | BPF_K, (uint32_t)(v), NEXT, NEXT, NEXT }

static const struct ins program[] = {
	LD(offsetof(struct seccomp_data, arch)),
	IF_EQ(AUDIT_ARCH_X86_64, NEXT, L_I386),
	LD(offsetof(struct seccomp_data, nr)),
	IF_GE(X32_SYSCALL_BIT, L_EPERM, NEXT),
	IF_EQ(__NR_connect, L_TRAP, NEXT),
	IF_EQ(__NR_sendmsg, L_TRAP, NEXT),
	IF_EQ(__NR_sendmmsg, L_TRAP, NEXT),
	IF_EQ(__NR_getpeername, L_TRAP, NEXT),
	IF_EQ(__NR_sendto, L_SENDTO, NEXT),
	IF_EQ(__NR_recvfrom, L_SENDTO, NEXT), /* with a source address: see sockets_recvfrom */
	IF_EQ(__NR_socket, L_SOCKET, NEXT),
	IF_EQ(__NR_setsockopt, L_SOCKOPT, NEXT),
	IF_EQ(NR_IO_URING_SETUP, L_ENOSYS, L_ALLOW),

	AT(L_SENDTO),
	LD(ARG_LO(4)), /* sendto's dest_addr, recvfrom's src_addr */
	IF_EQ(0, NEXT, L_TRAP),
	LD(ARG_HI(4)),
	IF_EQ(0, L_ALLOW, L_TRAP),

	AT(L_SOCKET),
	LD(ARG_LO(0)), /* domain */
	IF_EQ(AF_UNIX, L_ALLOW, NEXT),
	IF_EQ(AF_NETLINK, L_ALLOW, NEXT),
	IF_EQ(AF_INET, L_INET, NEXT),
	IF_EQ(AF_INET6, L_INET, NEXT),
	RET(SECCOMP_RET_ERRNO | EAFNOSUPPORT),
	AT(L_INET),
	LD(ARG_LO(1)), /* type, without SOCK_NONBLOCK/SOCK_CLOEXEC */
	AND(0xf),
	IF_EQ(SOCK_RAW, L_EPERM, NEXT),
	IF_EQ(SOCK_PACKET, L_EPERM, L_ALLOW),

	AT(L_SOCKOPT), /* source routes: the kernel would send by way of their first hop, off the host */
	LD(ARG_LO(1)), /* level */
	IF_EQ(IPPROTO_IP, NEXT, L_SOCKOPT6),
	LD(ARG_LO(2)), /* optname */
	IF_EQ(IP_OPTIONS, L_EPERM, L_ALLOW),
	AT(L_SOCKOPT6),
	IF_EQ(IPPROTO_IPV6, NEXT, L_ALLOW),
	LD(ARG_LO(2)),
	IF_EQ(IPV6_RTHDR, L_EPERM, NEXT),
	IF_EQ(IPV6_2292RTHDR, L_EPERM, NEXT),
	IF_EQ(IPV6_2292PKTOPTIONS, L_EPERM, L_ALLOW), /* sticky control data: a routing header too */

	AT(L_I386),
	IF_EQ(AUDIT_ARCH_I386, NEXT, L_KILL),
	LD(offsetof(struct seccomp_data, nr)),
	IF_EQ(I386_SOCKETCALL, L_EPERM, NEXT),
	IF_EQ(I386_SENDMMSG, L_EPERM, NEXT),
	IF_EQ(I386_RECVMMSG, L_EPERM, NEXT),
	IF_EQ(NR_IO_URING_SETUP, L_ENOSYS, NEXT),
	IF_GE(I386_SOCKET_FIRST, NEXT, L_ALLOW),
	IF_GT(I386_SOCKET_LAST, L_ALLOW, L_EPERM),

	AT(L_ALLOW), RET(SECCOMP_RET_ALLOW),
	AT(L_TRAP), RET(SECCOMP_RET_USER_NOTIF),
	AT(L_EPERM), RET(SECCOMP_RET_ERRNO | EPERM),
	AT(L_ENOSYS), RET(SECCOMP_RET_ERRNO | ENOSYS),
	AT(L_KILL), RET(SECCOMP_RET_KILL_PROCESS),
};

#define N_INS (sizeof program / sizeof program[0])

/* Resolves the labels into relative jumps, with action as the trap's verdict (the program's
 * one RET of SECCOMP_RET_USER_NOTIF). Returns the instruction count, or -1. */
static int assemble(struct sock_filter *out, uint32_t action)
{
	int pos[L_N], n = 0;
	for (size_t i = 0; i < N_INS; i++) {
		if (program[i].code == LABEL)
			pos[program[i].here] = n;
		else
			n++;
	}
	n = 0;
	for (size_t i = 0; i < N_INS; i++) {
		const struct ins *p = &program[i];
		if (p->code == LABEL)
			continue;
		int jt = p->jt == NEXT ? 0 : pos[p->jt] - (n + 1);
		int jf = p->jf == NEXT ? 0 : pos[p->jf] - (n + 1);
		if (jt < 0 || jt > 255 || jf < 0 || jf > 255)
			return -1;
		uint32_t k = p->code == (BPF_RET | BPF_K) && p->k == SECCOMP_RET_USER_NOTIF ? action : p->k;
		out[n++] = (struct sock_filter){ p->code, (uint8_t)jt, (uint8_t)jf, k };
	}
	return n;
}

int filter_build(struct sock_filter *out, size_t cap, uint32_t action)
{
	return cap < N_INS ? -1 : assemble(out, action);
}

int filter_install(uint32_t action)
{
	struct sock_filter code[N_INS];
	int n = assemble(code, action);
	if (n < 0)
		return -EINVAL;
	struct sock_fprog prog = { .len = (unsigned short)n, .filter = code };
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		return -errno;
	if (action == SECCOMP_RET_TRACE) /* no listener: the tracer (already attached) gets the stops */
		return syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0 ? -errno : 0;
	/* WAIT_KILLABLE_RECV (5.19): once we hold a notification, only a fatal signal ends the
	 * program's wait, so a signal (Go's SIGURG) cannot restart a connect we are carrying out. */
	long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
			  SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, &prog);
	if (fd < 0 && errno == EINVAL)
		fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
	return fd < 0 ? -errno : (int)fd;
}
