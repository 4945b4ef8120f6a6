/* arch.c - system calls that try to get past a filter written for x86_64 numbers: connect()
 * through int 0x80 (the i386 entry, socketcall-era number 362) and through the x32 ABI
 * (__X32_SYSCALL_BIT | 42), on a TCP socket made the ordinary way, to 127.0.0.1:PORT.
 * Built with gcc -static -no-pie, so that the address is below 4 GiB for the i386 entry.
 *   arch PORT   prints {"i386": RET, "x32": RET} (0 or -errno; i386 "crash" where the kernel
 *               has the i386 entry turned off: int 0x80 is then a general protection fault) */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static struct sockaddr_in target; /* in .bss: below 4 GiB in a non-PIE static binary */

static long i386_connect(int fd)
{
	long ret;
	__asm__ volatile("int $0x80" : "=a"(ret) : "a"(362L), "b"((long)fd), "c"((long)&target), "d"((long)sizeof target)
			 : "memory");
	return ret;
}

static long x32_connect(int fd)
{
	long ret;
	register long r10 __asm__("r10") = 0;
	__asm__ volatile("syscall" : "=a"(ret) : "a"(0x40000000L | 42L), "D"((long)fd), "S"((long)&target),
			 "d"((long)sizeof target), "r"(r10) : "rcx", "r11", "memory");
	return ret;
}

int main(int argc, char **argv)
{
	if (argc != 2)
		return 2;
	target.sin_family = AF_INET;
	target.sin_port = htons((unsigned short)atoi(argv[1]));
	target.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int a = socket(AF_INET, SOCK_STREAM, 0), b = socket(AF_INET, SOCK_STREAM, 0);
	int p[2];
	long r1 = 0;
	if (pipe(p) < 0)
		return 2;
	pid_t pid = fork(); /* the i386 attempt in a child: it may die of it */
	if (pid == 0) {
		r1 = i386_connect(a);
		write(p[1], &r1, sizeof r1);
		_exit(0);
	}
	close(p[1]);
	int status;
	ssize_t got = read(p[0], &r1, sizeof r1);
	waitpid(pid, &status, 0);
	long r2 = x32_connect(b);
	if (got == (ssize_t)sizeof r1)
		printf("{\"i386\": %ld, \"x32\": %ld}\n", r1, r2);
	else
		printf("{\"i386\": \"crash\", \"x32\": %ld}\n", r2);
	return 0;
}
