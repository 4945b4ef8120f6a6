/* execthread.c - exec from a thread that is not the main one, while the main thread makes
 * trapped calls (for test_supervise.py; built with gcc -static -pthread): under ptrace the
 * exec'ing thread takes the process's pid and the others vanish without an exit of their own.
 *
 *   execthread PORT PROG [ARGS...]   connect()s to 127.0.0.1:PORT in the main thread, execv(PROG)
 *                                    in a second one; exits 5 if the exec failed */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static char **prog;

static void *run(void *arg)
{
	(void)arg;
	execv(prog[0], prog);
	perror("execthread: execv");
	exit(5);
}

int main(int argc, char **argv)
{
	if (argc < 3) {
		fprintf(stderr, "usage: execthread PORT PROG [ARGS...]\n");
		return 2;
	}
	prog = argv + 2;
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[1])) };
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	pthread_t t;
	if (pthread_create(&t, NULL, run, NULL) != 0)
		return 5;
	for (;;) { /* until the exec ends this thread */
		int s = socket(AF_INET, SOCK_STREAM, 0);
		connect(s, (struct sockaddr *)&a, sizeof a);
		close(s);
	}
}
