/* supbench.c - what the seccomp filter of socksify-supervise costs a program's other system
 * calls (tests/bench/supervise_bench.py runs it with and without the supervisor):
 *
 *   supbench N   N x getpid() (a raw system call: no vDSO, no cache), N x read(1 byte of
 *                /dev/zero), N x send() on a connected UDP socket (sendto without address:
 *                decided in the filter), N x sendmsg() on it (sent to the supervisor, which
 *                answers CONTINUE for a connected socket: a round trip through it each)
 * Prints one line "getpid_ns=.. read_ns=.. send_ns=.. sendmsg_ns=.." (medians of 5 rounds). */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

enum what { GETPID, READ, SEND, SENDMSG };

static double round_ns(enum what w, long n, int zero, int udp)
{
	char c;
	struct iovec iov = { &c, 1 };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1 };
	double t0 = now_ns();
	for (long i = 0; i < n; i++) {
		switch (w) {
		case GETPID:
			syscall(SYS_getpid);
			break;
		case READ:
			if (read(zero, &c, 1) != 1)
				exit(1);
			break;
		case SEND:
			if (send(udp, &c, 1, 0) != 1)
				exit(1);
			break;
		case SENDMSG:
			if (sendmsg(udp, &m, 0) != 1)
				exit(1);
			break;
		}
	}
	return (now_ns() - t0) / n;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 100000;
	int zero = open("/dev/zero", O_RDONLY);
	/* a datagram sink on loopback that nobody reads: sends still succeed (the buffer drops) */
	int sink = socket(AF_INET, SOCK_DGRAM, 0), udp = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof sa;
	if (zero < 0 || sink < 0 || udp < 0 || bind(sink, (struct sockaddr *)&sa, sizeof sa) < 0 ||
	    getsockname(sink, (struct sockaddr *)&sa, &len) < 0 || connect(udp, (struct sockaddr *)&sa, len) < 0) {
		perror("supbench setup");
		return 1;
	}
	const char *names[] = { "getpid_ns", "read_ns", "send_ns", "sendmsg_ns" };
	for (int w = GETPID; w <= SENDMSG; w++) {
		double r[5];
		long rounds_n = w == SENDMSG ? n / 10 : n; /* the slow one: fewer */
		for (int k = 0; k < 5; k++)
			r[k] = round_ns((enum what)w, rounds_n, zero, udp);
		qsort(r, 5, sizeof r[0], cmp);
		printf("%s%s=%.1f", w ? " " : "", names[w], r[2]);
	}
	putchar('\n');
	return 0;
}
