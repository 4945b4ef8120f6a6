/* main.c - socks5d: options, limits, signals, the worker threads and the
 * listening banner. */
#include "socks5d.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <unistd.h>

/* Raises the soft fd limit to the hard one; returns the resulting limit. */
static long raise_fd_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rlim_t want = rl.rlim_max == RLIM_INFINITY ? 1048576 : rl.rlim_max;
		struct rlimit raised = { .rlim_cur = want, .rlim_max = rl.rlim_max };
		if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
			rl.rlim_cur = want;
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > 1048576)
		return 1048576;
	return (long)rl.rlim_cur;
}

/* Every session holds two fds (four more while it splices, but pipes are
 * optional); keep a few for listeners, epoll, eventfds and threads. */
static long max_conns_for(long fd_limit, int workers)
{
	long n = (fd_limit - FD_RESERVE - 8L * workers) / 2;
	return n < 1 ? 1 : n;
}

/* SIGTERM, SIGINT and SIGUSR1 are blocked in every thread and read from a
 * signalfd by the main thread, which then tells the workers to stop, or
 * logs the status line. */
static int setup_signals(sigset_t *stop_set)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) < 0)
		return -1;
	sigemptyset(stop_set);
	sigaddset(stop_set, SIGTERM);
	sigaddset(stop_set, SIGINT);
	sigaddset(stop_set, SIGUSR1);
	/* Before any thread: they all inherit the mask. */
	return sigprocmask(SIG_BLOCK, stop_set, NULL);
}

static void announce_listeners(const struct server *srv)
{
	char name[64];
	for (size_t i = 0; i < srv->nlisteners; i++) {
		sockaddr_format(&srv->listeners[i].addr, name, sizeof name);
		printf("socks5d: listening on %s\n", name);
	}
	fflush(stdout);
}

static int cpu_count(void)
{
	cpu_set_t set;
	if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 0 ? (int)n : 1;
}

struct worker {
	struct server srv;
	pthread_t thread;
	bool inited, started;
	int rc;
};

static void stop_workers(struct shared *sh)
{
	const uint64_t one = 1;
	if (write(sh->stop_fd, &one, sizeof one) < 0 && errno != EAGAIN)
		log_error("stop eventfd: %s", strerror(errno));
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;

	w->rc = server_run(&w->srv);
	if (w->rc < 0)
		stop_workers(w->srv.shared); /* one worker failing ends the process, cleanly */
	return NULL;
}

/* Waits for SIGTERM/SIGINT on sfd, or for a worker that failed, logging
 * the status line on each SIGUSR1; returns the signal or 0. */
static int wait_for_stop(int sfd, struct shared *sh, struct status_slot *const *slots, int n)
{
	struct pollfd p[2] = { { .fd = sfd, .events = POLLIN }, { .fd = sh->stop_fd, .events = POLLIN } };
	struct signalfd_siginfo si;
	int64_t started_ms = clock_now_ms();

	for (;;) {
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return 0;
		}
		if (!(p[0].revents & POLLIN) || read(sfd, &si, sizeof si) != (ssize_t)sizeof si)
			return 0;
		if (si.ssi_signo != SIGUSR1)
			return (int)si.ssi_signo;
		status_log(slots, n, sh, started_ms);
	}
}

/* Opens every worker's listeners (the first binds, the others share its
 * ports), drops privileges, then starts resolvers and threads. */
static int workers_start(struct worker *w, int n, const struct config *cfg, struct shared *sh)
{
	int per_worker_resolvers = cfg->resolver_threads / n > 0 ? cfg->resolver_threads / n : 1;

	for (int i = 0; i < n; i++) {
		w[i].inited = true;
		if (server_init(&w[i].srv, cfg, sh, (unsigned)i, i ? &w[0].srv : NULL, n > 1) < 0)
			return -1;
	}
	/* Before any thread exists, so every thread runs as the new user. */
	if (cfg->run_as && privileges_drop(cfg->run_as) < 0)
		return -1;
	for (int i = 0; i < n; i++)
		if (server_start(&w[i].srv, per_worker_resolvers) < 0)
			return -1;
	for (int i = 0; i < n; i++) {
		char name[16];
		if (pthread_create(&w[i].thread, NULL, worker_main, &w[i]) != 0) {
			fprintf(stderr, "socks5d: cannot start worker threads\n");
			return -1;
		}
		w[i].started = true;
		/* Here, not in the thread: named before 'listening on' is printed (top -H, tests). */
		snprintf(name, sizeof name, "socks5d-w%u", (unsigned)i % 1000);
		pthread_setname_np(w[i].thread, name);
	}
	return 0;
}

/* Joins the workers, ends their sessions (each logged), and sums their counts. */
static int workers_finish(struct worker *w, int n, struct server_stats *total, size_t *active)
{
	int rc = 0;

	memset(total, 0, sizeof *total);
	*active = 0;
	for (int i = 0; i < n; i++) {
		if (w[i].started) {
			pthread_join(w[i].thread, NULL);
			if (w[i].rc < 0)
				rc = -1;
		}
	}
	for (int i = 0; i < n; i++) {
		struct server_stats *st = &w[i].srv.stats;
		if (!w[i].inited)
			continue;
		*active += w[i].srv.nconns;
		server_destroy(&w[i].srv);
		if (n > 1 && w[i].started)
			log_info("worker %d: sessions=%llu ok=%llu failed=%llu rejected=%llu up=%llu down=%llu spliced=%llu",
				 i, (unsigned long long)st->sessions, (unsigned long long)st->ok,
				 (unsigned long long)st->failed, (unsigned long long)st->rejected,
				 (unsigned long long)st->up, (unsigned long long)st->down,
				 (unsigned long long)st->spliced);
		total->sessions += st->sessions;
		total->ok += st->ok;
		total->failed += st->failed;
		total->rejected += st->rejected;
		total->up += st->up;
		total->down += st->down;
		total->spliced += st->spliced;
	}
	return rc;
}

int main(int argc, char **argv)
{
	struct config cfg;
	struct shared sh = { .spare_lock = PTHREAD_MUTEX_INITIALIZER, .spare_fd = -1,
			     .stop_watch.kind = WATCH_STOP, .stop_fd = -1, .status_done_fd = -1 };
	struct status_slot **slots = NULL;
	struct server_stats total;
	struct worker *w = NULL;
	sigset_t stop_set;
	size_t active;
	int rc, sig = 0;

	rc = options_parse(argc, argv, &cfg);
	if (rc != OPTIONS_OK) {
		options_free(&cfg);
		return rc == OPTIONS_EXIT_OK ? 0 : 2;
	}
	log_init("socks5d", cfg.log_level, 2, NULL);
	int nworkers = cfg.workers ? cfg.workers : cpu_count();
	long fd_limit = raise_fd_limit();
	sh.max_conns = cfg.max_conns ? cfg.max_conns : max_conns_for(fd_limit, nworkers);

	if (setup_signals(&stop_set) < 0) {
		fprintf(stderr, "socks5d: signals: %s\n", strerror(errno));
		return 1;
	}
	int sfd = signalfd(-1, &stop_set, SFD_CLOEXEC);
	sh.stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	sh.status_done_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	sh.spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	w = calloc((size_t)nworkers, sizeof *w);
	slots = calloc((size_t)nworkers, sizeof *slots);
	if (sfd < 0 || sh.stop_fd < 0 || sh.status_done_fd < 0 || !w || !slots) {
		fprintf(stderr, "socks5d: %s\n", strerror(errno));
		return 1;
	}
	rc = workers_start(w, nworkers, &cfg, &sh);
	if (rc == 0) {
		announce_listeners(&w[0].srv);
		log_debug("ready: workers=%d max-conns=%ld fd-limit=%ld auth=%s", nworkers, sh.max_conns, fd_limit,
			  cfg.auth_any ? "any username/password" : cfg.nusers ? "username/password" : "none");
		for (int i = 0; i < nworkers; i++)
			slots[i] = &w[i].srv.status;
		sig = wait_for_stop(sfd, &sh, slots, nworkers);
	}
	stop_workers(&sh);
	/* Sessions still open are ended (and logged) before the summary. */
	if (workers_finish(w, nworkers, &total, &active) < 0)
		sig = 0;
	if (rc == 0)
		log_info("exiting on %s: sessions=%llu ok=%llu failed=%llu rejected=%llu active=%zu up=%llu down=%llu",
			 sig == SIGINT ? "SIGINT" : sig == SIGTERM ? "SIGTERM" : "error",
			 (unsigned long long)total.sessions, (unsigned long long)total.ok,
			 (unsigned long long)total.failed, (unsigned long long)total.rejected, active,
			 (unsigned long long)total.up, (unsigned long long)total.down);
	free(w);
	free(slots);
	close(sh.stop_fd);
	close(sh.status_done_fd);
	close(sfd);
	if (sh.spare_fd >= 0)
		close(sh.spare_fd);
	options_free(&cfg);
	if (rc < 0)
		return 1;
	return sig ? 0 : 1;
}
