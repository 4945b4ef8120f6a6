/* manynames.c - resolves a million distinct names through the preloaded library
 * and reports what that cost: RSS, the shared table's size, and what became of
 * an address handed out before the table wrapped around.
 *
 *   manynames TARGET PORT COUNT BODYFILE
 *
 * The first 10000 names are resolved by one thread (then RSS is the baseline),
 * the rest by two threads: each lookup makes about a dozen system calls, and two
 * cores halve the wait.
 * Prints one JSON object. The body fetched by a fresh lookup of TARGET is
 * written to BODYFILE for the test to compare. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static long rss_kb(void)
{
	char line[256];
	long kb = -1;
	FILE *f = fopen("/proc/self/status", "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof line, f))
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	return kb;
}

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* The first IPv4 answer for name, as text; rc is getaddrinfo's return. */
static int resolve4(const char *name, const char *port, struct sockaddr_in *out)
{
	struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *res;
	int rc = getaddrinfo(name, port, &hints, &res);
	if (rc == 0) {
		memcpy(out, res->ai_addr, sizeof *out);
		freeaddrinfo(res);
	}
	return rc;
}

static const char *text(const struct sockaddr_in *a, char *buf)
{
	return inet_ntop(AF_INET, &a->sin_addr, buf, INET_ADDRSTRLEN);
}

/* connect() to a; returns 0 or errno; the connected fd in *fd. */
static int try_connect(const struct sockaddr_in *a, int *fd, double *elapsed)
{
	double t0 = now();
	int s = socket(AF_INET, SOCK_STREAM, 0);
	int err = connect(s, (const struct sockaddr *)a, sizeof *a) == 0 ? 0 : errno;
	*elapsed = now() - t0;
	if (err)
		close(s);
	else
		*fd = s;
	return err;
}

static long fetch(int fd, const char *path, const char *host, const char *bodyfile)
{
	char req[512], buf[65536];
	int n = snprintf(req, sizeof req, "GET /%s HTTP/1.0\r\nHost: %s\r\n\r\n", path, host);
	if (write(fd, req, (size_t)n) != n)
		return -1;
	FILE *f = fopen(bodyfile, "wb");
	long total = 0;
	ssize_t r;
	while ((r = read(fd, buf, sizeof buf)) > 0) {
		fwrite(buf, 1, (size_t)r, f);
		total += r;
	}
	fclose(f);
	return total;
}

#define BASELINE 10000
#define THREADS 2

struct range {
	long from, to, failures;
	const char *port;
};

static long rss_max;

static void *resolve_range(void *arg)
{
	struct range *r = arg;
	char name[64];
	struct sockaddr_in a;
	for (long i = r->from; i < r->to; i++) {
		snprintf(name, sizeof name, "n%ld.many.test", i);
		if (resolve4(name, r->port, &a))
			r->failures++;
		if (i % 50000 == 0) {
			long kb = rss_kb();
			if (kb > __atomic_load_n(&rss_max, __ATOMIC_RELAXED))
				__atomic_store_n(&rss_max, kb, __ATOMIC_RELAXED);
		}
	}
	return NULL;
}

static long table_size(void)
{
	const char *env = getenv("SOCKSIFY_DNS_SHM");
	int pid, fd;
	unsigned long ino;
	struct stat st;
	if (!env || sscanf(env, "%d:%d:%lu", &pid, &fd, &ino) != 3 || fstat(fd, &st) < 0)
		return -1;
	return (long)st.st_size;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: manynames TARGET PORT COUNT BODYFILE\n");
		return 2;
	}
	const char *target = argv[1], *port = argv[2], *bodyfile = argv[4];
	long count = atol(argv[3]);
	char t[INET_ADDRSTRLEN], t2[INET_ADDRSTRLEN], e[INET_ADDRSTRLEN], e2[INET_ADDRSTRLEN],
		e3[INET_ADDRSTRLEN];
	struct sockaddr_in target_early, early;
	long failures = 0, rss_base;
	if (resolve4(target, port, &target_early) || resolve4("early.many.test", port, &early)) {
		fprintf(stderr, "first lookups failed\n");
		return 1;
	}
	long size_start = table_size(); /* the table is sized at its first use */
	double t0 = now();
	struct range first = { 0, count < BASELINE ? count : BASELINE, 0, port }, part[THREADS];
	resolve_range(&first);
	rss_base = rss_kb();
	failures = first.failures;
	pthread_t th[THREADS];
	long rest = count - first.to;
	for (int k = 0; k < THREADS; k++) {
		part[k] = (struct range){ first.to + rest * k / THREADS, first.to + rest * (k + 1) / THREADS, 0, port };
		pthread_create(&th[k], NULL, resolve_range, &part[k]);
	}
	for (int k = 0; k < THREADS; k++) {
		pthread_join(th[k], NULL);
		failures += part[k].failures;
	}
	double loop_secs = now() - t0;
	long rss_end = rss_kb();
	if (rss_end > rss_max)
		rss_max = rss_end;

	/* The target's first address: its slot has been recycled since. */
	int fd = -1;
	double stale_secs;
	int stale_err = try_connect(&target_early, &fd, &stale_secs);
	if (!stale_err)
		close(fd);
	struct sockaddr_in sa = target_early;
	char host[300];
	int stale_ni = getnameinfo((struct sockaddr *)&sa, sizeof sa, host, sizeof host, NULL, 0, NI_NAMEREQD);

	/* The early name again: a new address, the same one on every lookup from now on. */
	struct sockaddr_in early2, early3;
	resolve4("early.many.test", port, &early2);
	resolve4("early.many.test", port, &early3);

	/* A fresh lookup of the target connects and fetches. */
	struct sockaddr_in fresh;
	int fresh_rc = resolve4(target, port, &fresh);
	double fresh_secs = 0;
	int fresh_err = fresh_rc ? -1 : try_connect(&fresh, &fd, &fresh_secs);
	long body = -1;
	if (!fresh_rc && !fresh_err) {
		body = fetch(fd, "body", target, bodyfile);
		close(fd);
	}
	printf("{\"count\": %ld, \"failures\": %ld, \"loop_secs\": %.3f, \"rss_base_kb\": %ld, \"rss_max_kb\": %ld, "
	       "\"rss_end_kb\": %ld, \"table_size_start\": %ld, \"table_size_end\": %ld, "
	       "\"target_early\": \"%s\", \"stale_errno\": \"%s\", \"stale_secs\": %.3f, \"stale_getnameinfo\": %d, "
	       "\"early\": \"%s\", \"early_again\": [\"%s\", \"%s\"], "
	       "\"target_fresh\": \"%s\", \"fresh_errno\": %d, \"body_len\": %ld}\n",
	       count, failures, loop_secs, rss_base, rss_max, rss_end, size_start, table_size(), text(&target_early, t),
	       stale_err ? (strerrorname_np(stale_err) ? strerrorname_np(stale_err) : "?") : "0", stale_secs, stale_ni,
	       text(&early, e), text(&early2, e2), text(&early3, e3), text(&fresh, t2), fresh_err, body);
	return 0;
}
