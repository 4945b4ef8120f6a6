/* threads.c - datagrams from several threads at once, while other threads dup and
 * close the shared socket's number and the process forks.
 *
 *   threads ADDR PORT ROUNDS
 *
 * Four threads each exchange ROUNDS datagrams on a socket of their own and ROUNDS on
 * one shared socket (lock-step, resent after 1 s without an answer); a fifth thread
 * dup()s the shared socket and closes the copy, over and over; the main thread forks
 * three children meanwhile, each of which makes one exchange on a new socket. Prints
 * one JSON line: per thread the echoes that came back intact on its own socket, the
 * echoes heard on the shared one, and the children's exit codes. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define THREADS 4

static struct sockaddr_storage to;
static socklen_t tolen;
static int fam, rounds, shared;
static atomic_int stop_dup;

struct result {
	int index, own, shared;
};

/* Sends text on fd until an answer arrives (at most 5 tries); 1 if it is text. */
static int exchange(int fd, const char *text)
{
	char buf[128];
	for (int tries = 0; tries < 5; tries++) {
		if (sendto(fd, text, strlen(text), 0, (struct sockaddr *)&to, tolen) < 0)
			return 0;
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 1000) <= 0)
			continue;
		ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
		return n == (ssize_t)strlen(text) && memcmp(buf, text, (size_t)n) == 0;
	}
	return 0;
}

static void *worker(void *arg)
{
	struct result *r = arg;
	int fd = socket(fam, SOCK_DGRAM, 0);
	char text[64], buf[128];
	for (int i = 0; i < rounds; i++) {
		snprintf(text, sizeof text, "thread %d round %d", r->index, i);
		r->own += exchange(fd, text);
		/* the shared socket: any thread may read any echo; count what this one hears */
		sendto(shared, text, strlen(text), 0, (struct sockaddr *)&to, tolen);
		struct pollfd p = { .fd = shared, .events = POLLIN };
		if (poll(&p, 1, 50) > 0 && recv(shared, buf, sizeof buf, MSG_DONTWAIT) > 0)
			r->shared++;
	}
	close(fd);
	return NULL;
}

static void *dupper(void *arg)
{
	(void)arg;
	while (!atomic_load(&stop_dup)) {
		int d = dup(shared);
		if (d >= 0)
			close(d);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	if (argc != 4)
		return 2;
	fam = strchr(argv[1], ':') ? AF_INET6 : AF_INET;
	if (fam == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&to;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((unsigned short)atoi(argv[2]));
		inet_pton(AF_INET6, argv[1], &s6->sin6_addr);
		tolen = sizeof *s6;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&to;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((unsigned short)atoi(argv[2]));
		inet_pton(AF_INET, argv[1], &s4->sin_addr);
		tolen = sizeof *s4;
	}
	rounds = atoi(argv[3]);
	shared = socket(fam, SOCK_DGRAM, 0);
	struct result res[THREADS];
	memset(res, 0, sizeof res);
	pthread_t t[THREADS], d;
	for (int i = 0; i < THREADS; i++) {
		res[i].index = i;
		pthread_create(&t[i], NULL, worker, &res[i]);
	}
	pthread_create(&d, NULL, dupper, NULL);
	int child[3];
	for (int k = 0; k < 3; k++) {
		usleep(50000);
		pid_t pid = fork();
		if (pid == 0) {
			int fd = socket(fam, SOCK_DGRAM, 0);
			_exit(exchange(fd, "child") ? 0 : 1);
		}
		int st = 0;
		waitpid(pid, &st, 0);
		child[k] = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	}
	for (int i = 0; i < THREADS; i++)
		pthread_join(t[i], NULL);
	atomic_store(&stop_dup, 1);
	pthread_join(d, NULL);
	printf("{\"own\": [");
	for (int i = 0; i < THREADS; i++)
		printf("%s%d", i ? ", " : "", res[i].own);
	printf("], \"shared\": [");
	for (int i = 0; i < THREADS; i++)
		printf("%s%d", i ? ", " : "", res[i].shared);
	printf("], \"children\": [%d, %d, %d]}\n", child[0], child[1], child[2]);
	return 0;
}
