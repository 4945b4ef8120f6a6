/* main.c - socks5d: options, limits, signals, and the listening banner. */
#include "socks5d.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

static volatile int stop_requested;
static volatile int stop_signal;

static void on_stop_signal(int sig)
{
	stop_signal = sig;
	stop_requested = 1;
}

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

/* Every session holds two fds; keep a few for listeners, epoll and threads. */
static long max_conns_for(long fd_limit)
{
	long n = (fd_limit - FD_RESERVE) / 2;
	return n < 1 ? 1 : n;
}

static int setup_signals(void)
{
	struct sigaction sa;
	sigset_t block;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL) < 0)
		return -1;
	sa.sa_handler = on_stop_signal;
	sigemptyset(&sa.sa_mask);
	if (sigaction(SIGTERM, &sa, NULL) < 0 || sigaction(SIGINT, &sa, NULL) < 0)
		return -1;
	/* Blocked everywhere except inside epoll_pwait; resolver threads
	 * inherit the mask and so never take these signals. */
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	return sigprocmask(SIG_BLOCK, &block, NULL);
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

int main(int argc, char **argv)
{
	struct config cfg;
	struct server srv;
	int rc;

	rc = options_parse(argc, argv, &cfg);
	if (rc != OPTIONS_OK) {
		options_free(&cfg);
		return rc == OPTIONS_EXIT_OK ? 0 : 2;
	}
	log_init("socks5d", cfg.log_level, 2, NULL);
	long fd_limit = raise_fd_limit();
	long max_conns = cfg.max_conns ? cfg.max_conns : max_conns_for(fd_limit);

	if (setup_signals() < 0) {
		fprintf(stderr, "socks5d: signals: %s\n", strerror(errno));
		return 1;
	}
	if (server_init(&srv, &cfg, max_conns) < 0) {
		server_destroy(&srv);
		options_free(&cfg);
		return 1;
	}
	announce_listeners(&srv);
	log_debug("ready: max-conns=%ld fd-limit=%ld auth=%s", max_conns, fd_limit,
		  cfg.nusers ? "username/password" : "none");

	rc = server_run(&srv, &stop_requested);
	/* Sessions still open are ended (and logged) before the summary. */
	size_t active = srv.nconns;
	server_destroy(&srv);
	log_info("exiting on %s: sessions=%llu ok=%llu failed=%llu rejected=%llu active=%zu up=%llu down=%llu",
		 stop_signal == SIGINT ? "SIGINT" : stop_signal == SIGTERM ? "SIGTERM" : "error",
		 (unsigned long long)srv.stats.sessions, (unsigned long long)srv.stats.ok,
		 (unsigned long long)srv.stats.failed, (unsigned long long)srv.stats.rejected, active,
		 (unsigned long long)srv.stats.up, (unsigned long long)srv.stats.down);
	options_free(&cfg);
	return rc < 0 ? 1 : 0;
}
