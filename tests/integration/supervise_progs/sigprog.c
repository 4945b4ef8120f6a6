/* sigprog.c - a static program's signals while its connect()s are the supervisor's (for
 * test_supervise.py; built with gcc -static -pthread).
 *
 *   sigprog alarm HOST PORT   SIGALRM (no SA_RESTART) 200 ms into one blocking connect() to
 *                             HOST:PORT (a numeric address): its handler must run
 *   sigprog storm PORT N      connect()s to 127.0.0.1:PORT (refused) in a loop, while a second
 *                             thread queues N SIGRTMIN with values 1..N to the first: each must
 *                             be handled exactly once, with its value (siginfo kept)
 * Prints one JSON line. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t alarms, handled;
static volatile long value_sum;
static volatile int storm_done;
static pthread_t main_thread;

static void on_alarm(int sig)
{
	(void)sig;
	alarms++;
}

static void on_rt(int sig, siginfo_t *si, void *ctx)
{
	(void)sig;
	(void)ctx;
	handled++;
	value_sum += si->si_value.sival_int;
}

static int connect_to(const char *host, int port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	memset(&ss, 0, sizeof ss);
	struct sockaddr_in *a4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&ss;
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		a4->sin_family = AF_INET;
		a4->sin_port = htons((unsigned short)port);
		len = sizeof *a4;
	} else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((unsigned short)port);
		len = sizeof *a6;
	} else {
		return EINVAL;
	}
	int s = socket(ss.ss_family, SOCK_STREAM, 0);
	if (s < 0)
		return errno;
	int err = connect(s, (struct sockaddr *)&ss, len) == 0 ? 0 : errno;
	close(s);
	return err;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int alarm_mode(const char *host, int port)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_alarm; /* no SA_RESTART */
	sigaction(SIGALRM, &sa, NULL);
	struct itimerval it = { { 0, 0 }, { 0, 200000 } };
	setitimer(ITIMER_REAL, &it, NULL);
	double t0 = now();
	int err = connect_to(host, port);
	double t1 = now();
	printf("{\"errno\": \"%s\", \"alarms\": %d, \"seconds\": %.3f}\n", err ? strerrorname_np(err) : "",
	       (int)alarms, t1 - t0);
	return 0;
}

static void *storm(void *arg)
{
	int n = *(int *)arg;
	for (int i = 1; i <= n; i++) {
		union sigval v = { .sival_int = i };
		while (pthread_sigqueue(main_thread, SIGRTMIN, v) != 0) /* EAGAIN: the queue is full */
			sched_yield();
		struct timespec pause = { 0, 100000 };
		nanosleep(&pause, NULL);
	}
	storm_done = 1;
	return NULL;
}

static int storm_mode(int port, int n)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = on_rt;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigaction(SIGRTMIN, &sa, NULL);
	main_thread = pthread_self();
	pthread_t t;
	pthread_create(&t, NULL, storm, &n);
	int connects = 0, odd = 0;
	while (!storm_done) {
		int err = connect_to("127.0.0.1", port);
		connects++;
		if (err != ECONNREFUSED && err != EINTR)
			odd++;
	}
	pthread_join(t, NULL);
	/* the last ones may still be on their way (held by a ptrace supervisor, sent again): they
	 * are delivered on the way out of a system call; wait for them, up to 10 s */
	for (double end = now() + 10; handled < n && now() < end;) {
		struct timespec pause = { 0, 1000000 };
		nanosleep(&pause, NULL);
	}
	long want = (long)n * (n + 1) / 2;
	printf("{\"handled\": %d, \"sum\": %ld, \"want_sum\": %ld, \"connects\": %d, \"odd\": %d}\n", (int)handled,
	       (long)value_sum, want, connects, odd);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 4 && strcmp(argv[1], "alarm") == 0)
		return alarm_mode(argv[2], atoi(argv[3]));
	if (argc == 4 && strcmp(argv[1], "storm") == 0)
		return storm_mode(atoi(argv[2]), atoi(argv[3]));
	fprintf(stderr, "usage: sigprog alarm HOST PORT | sigprog storm PORT N\n");
	return 2;
}
