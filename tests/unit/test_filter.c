/* test_filter.c - the supervisor's seccomp filter (src/supervise/filter.c), run here on
 * seccomp_data made up for each case by a small classic-BPF interpreter: what it decides for
 * every architecture and call it must tell apart, including the i386 entry, which the kernel
 * of the test machine may have turned off (so the integration test cannot reach it). */
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <stddef.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include "supervise.h"
#include "unit.h"

static struct sock_filter prog[256];
static int prog_len;

/* Runs the program on d; returns its verdict, or 0xdead on a fault (a jump or load out of range). */
static uint32_t run(const struct seccomp_data *d)
{
	uint32_t a = 0;
	for (int pc = 0; pc >= 0 && pc < prog_len; pc++) {
		const struct sock_filter *f = &prog[pc];
		switch (f->code) {
		case BPF_LD | BPF_W | BPF_ABS:
			if (f->k + 4 > sizeof *d || f->k % 4)
				return 0xdead;
			memcpy(&a, (const char *)d + f->k, 4);
			break;
		case BPF_ALU | BPF_AND | BPF_K:
			a &= f->k;
			break;
		case BPF_JMP | BPF_JEQ | BPF_K:
			pc += a == f->k ? f->jt : f->jf;
			break;
		case BPF_JMP | BPF_JGE | BPF_K:
			pc += a >= f->k ? f->jt : f->jf;
			break;
		case BPF_JMP | BPF_JGT | BPF_K:
			pc += a > f->k ? f->jt : f->jf;
			break;
		case BPF_RET | BPF_K:
			return f->k;
		default:
			return 0xdead;
		}
	}
	return 0xdead;
}

static uint32_t decide(uint32_t arch, int nr, uint64_t a0, uint64_t a1, uint64_t a4)
{
	struct seccomp_data d = { .nr = nr, .arch = arch, .args = { a0, a1, 0, 0, a4, 0 } };
	return run(&d);
}

static uint32_t decide_sockopt(int level, int optname)
{
	struct seccomp_data d = { .nr = __NR_setsockopt, .arch = AUDIT_ARCH_X86_64, .args = { 3, level, optname, 0, 8, 0 } };
	return run(&d);
}

#define X64 AUDIT_ARCH_X86_64
#define I386 AUDIT_ARCH_I386
#define ALLOW SECCOMP_RET_ALLOW
#define DENY(e) (SECCOMP_RET_ERRNO | (e))

/* Every decision of the filter built with trap (SECCOMP_RET_USER_NOTIF or SECCOMP_RET_TRACE) as
 * the verdict for the calls the supervisor sees. */
static void check_filter(uint32_t trap)
{
	const uint32_t NOTIFY = trap;
	prog_len = filter_build(prog, sizeof prog / sizeof prog[0], trap);
	CHECK(prog_len > 0 && prog_len <= BPF_MAXINSNS);
	CHECK_INT(filter_build(prog, 3, trap), -1);

	/* x86_64: the socket calls that carry an address go to the supervisor */
	CHECK_INT(decide(X64, __NR_connect, 3, 0, 0), NOTIFY);
	CHECK_INT(decide(X64, __NR_sendmsg, 3, 0, 0), NOTIFY);
	CHECK_INT(decide(X64, __NR_sendmmsg, 3, 0, 0), NOTIFY);
	CHECK_INT(decide(X64, __NR_getpeername, 3, 0, 0), NOTIFY);
	/* sendto: only with an address (either half of the pointer set) */
	CHECK_INT(decide(X64, __NR_sendto, 3, 0, 0), ALLOW);
	CHECK_INT(decide(X64, __NR_sendto, 3, 0, 0x7ffc0000u), NOTIFY);
	CHECK_INT(decide(X64, __NR_sendto, 3, 0, 0x7ffc00000000ull), NOTIFY);
	/* recvfrom: only with a source address (musl's DNS answers) */
	CHECK_INT(decide(X64, __NR_recvfrom, 3, 0, 0), ALLOW);
	CHECK_INT(decide(X64, __NR_recvfrom, 3, 0, 0x7ffc0000u), NOTIFY);
	/* everything else at full speed */
	CHECK_INT(decide(X64, __NR_read, 0, 0, 0), ALLOW);
	CHECK_INT(decide(X64, __NR_getpid, 0, 0, 0), ALLOW);
	CHECK_INT(decide(X64, __NR_bind, 3, 0, 0), ALLOW);
	CHECK_INT(decide(X64, __NR_recvmsg, 3, 0, 1), ALLOW);
	CHECK_INT(decide(X64, __NR_execve, 0, 0, 0), ALLOW);
	/* socket(): four families, no raw or packet inet sockets */
	CHECK_INT(decide(X64, __NR_socket, AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), ALLOW);
	CHECK_INT(decide(X64, __NR_socket, AF_INET6, SOCK_DGRAM, 0), ALLOW);
	CHECK_INT(decide(X64, __NR_socket, AF_UNIX, SOCK_STREAM, 0), ALLOW);
	CHECK_INT(decide(X64, __NR_socket, AF_NETLINK, SOCK_RAW, 0), ALLOW);
	CHECK_INT(decide(X64, __NR_socket, AF_INET, SOCK_RAW, 0), DENY(EPERM));
	CHECK_INT(decide(X64, __NR_socket, AF_INET6, SOCK_RAW | SOCK_CLOEXEC, 0), DENY(EPERM));
	CHECK_INT(decide(X64, __NR_socket, AF_INET, SOCK_PACKET, 0), DENY(EPERM));
	CHECK_INT(decide(X64, __NR_socket, AF_PACKET, SOCK_RAW, 0), DENY(EAFNOSUPPORT));
	CHECK_INT(decide(X64, __NR_socket, AF_INET | (1ull << 32), SOCK_STREAM, 0), ALLOW); /* int: low half */

	/* setsockopt(): source routes refused, everything else allowed */
	CHECK_INT(decide_sockopt(IPPROTO_IP, IP_OPTIONS), DENY(EPERM));
	CHECK_INT(decide_sockopt(IPPROTO_IPV6, IPV6_RTHDR), DENY(EPERM));
	CHECK_INT(decide_sockopt(IPPROTO_IPV6, IPV6_2292RTHDR), DENY(EPERM));
	CHECK_INT(decide_sockopt(IPPROTO_IPV6, IPV6_2292PKTOPTIONS), DENY(EPERM));
	CHECK_INT(decide_sockopt(IPPROTO_IP, IP_TOS), ALLOW);
	CHECK_INT(decide_sockopt(IPPROTO_IPV6, IPV6_V6ONLY), ALLOW);
	CHECK_INT(decide_sockopt(SOL_SOCKET, SO_REUSEADDR), ALLOW);
	CHECK_INT(decide_sockopt(IPPROTO_TCP, IP_OPTIONS), ALLOW); /* TCP's option 4 is TCP_KEEPIDLE */
	/* io_uring would carry connects past the filter */
	CHECK_INT(decide(X64, 425, 0, 0, 0), DENY(ENOSYS));
	/* x32 numbers, and anything at or above its bit */
	CHECK_INT(decide(X64, 0x40000000 | __NR_connect, 3, 0, 0), DENY(EPERM));
	CHECK_INT(decide(X64, 0x40000000 | __NR_getpid, 0, 0, 0), DENY(EPERM));
	CHECK_INT(decide(X64, -1, 0, 0, 0), DENY(EPERM));

	/* i386: socketcall and the socket calls 359..373 (socket .. shutdown), sendmmsg, recvmmsg */
	CHECK_INT(decide(I386, 102, 3, 0, 0), DENY(EPERM));
	for (int nr = 359; nr <= 373; nr++)
		if (!CHECK(decide(I386, nr, 3, 0, 0) == DENY(EPERM)))
			fprintf(stderr, "    i386 %d\n", nr);
	CHECK_INT(decide(I386, 345, 3, 0, 0), DENY(EPERM));
	CHECK_INT(decide(I386, 337, 3, 0, 0), DENY(EPERM));
	CHECK_INT(decide(I386, 358, 0, 0, 0), ALLOW); /* execveat */
	CHECK_INT(decide(I386, 374, 0, 0, 0), ALLOW); /* userfaultfd */
	CHECK_INT(decide(I386, 425, 0, 0, 0), DENY(ENOSYS));
	CHECK_INT(decide(I386, 20, 0, 0, 0), ALLOW); /* getpid */
	CHECK_INT(decide(I386, 42, 0, 0, 0), ALLOW); /* pipe there, connect on x86_64: numbers differ */

	/* any other architecture: the process is killed */
	CHECK_INT(decide(AUDIT_ARCH_AARCH64, __NR_getpid, 0, 0, 0), SECCOMP_RET_KILL_PROCESS);
	CHECK_INT(decide(0, 0, 0, 0, 0), SECCOMP_RET_KILL_PROCESS);
}

int main(void)
{
	static struct sock_filter notify[256], trace[256];
	check_filter(SECCOMP_RET_USER_NOTIF);
	check_filter(SECCOMP_RET_TRACE);
	/* the two mechanisms' programs: the same, but for the trap's verdict */
	int n = filter_build(notify, 256, SECCOMP_RET_USER_NOTIF);
	CHECK_INT(filter_build(trace, 256, SECCOMP_RET_TRACE), n);
	int differ = 0;
	for (int i = 0; i < n; i++)
		if (memcmp(&notify[i], &trace[i], sizeof notify[i]) != 0) {
			differ++;
			CHECK_INT(notify[i].code, BPF_RET | BPF_K);
			CHECK_INT(notify[i].k, SECCOMP_RET_USER_NOTIF);
			CHECK_INT(trace[i].k, SECCOMP_RET_TRACE);
		}
	CHECK_INT(differ, 1);
	return unit_report();
}
