/* oldkernel.c - runs a program as on a kernel older than the notify mechanism needs (for
 * test_supervise.py): a seccomp filter of its own makes seccomp(SECCOMP_SET_MODE_FILTER) with
 * SECCOMP_FILTER_FLAG_NEW_LISTENER fail with EINVAL (as before 5.0) and pidfd_open/pidfd_getfd
 * with ENOSYS (before 5.3/5.6); with --no-ptrace, ptrace() fails with EPERM too (as under Yama's
 * ptrace_scope 3 or in a container without ptrace); everything else is allowed. Then execs its
 * arguments.
 *
 *   oldkernel [--no-ptrace] PROG [ARGS...] */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif
#ifndef __NR_pidfd_getfd
#define __NR_pidfd_getfd 438
#endif

#define LD(off) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off))
#define ARG_LO(i) (offsetof(struct seccomp_data, args) + 8 * (i))

int main(int argc, char **argv)
{
	int no_ptrace = argc > 1 && strcmp(argv[1], "--no-ptrace") == 0;
	struct sock_filter f[] = {
		LD(offsetof(struct seccomp_data, arch)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		LD(offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_pidfd_open, 11, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_pidfd_getfd, 10, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, no_ptrace ? __NR_ptrace : 0xffffffffu, 10, 0),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_seccomp, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		LD(ARG_LO(0)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SECCOMP_SET_MODE_FILTER, 1, 0),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		LD(ARG_LO(1)),
		BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, SECCOMP_FILTER_FLAG_NEW_LISTENER, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EINVAL),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EPERM),
	};
	struct sock_fprog prog = { sizeof f / sizeof f[0], f };
	argv += no_ptrace;
	argc -= no_ptrace;
	if (argc < 2) {
		fprintf(stderr, "usage: oldkernel [--no-ptrace] PROG [ARGS...]\n");
		return 2;
	}
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 || syscall(__NR_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) < 0) {
		perror("oldkernel: seccomp");
		return 126;
	}
	execvp(argv[1], argv + 1);
	perror("oldkernel: exec");
	return 127;
}
