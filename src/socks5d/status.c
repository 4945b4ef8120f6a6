/* status.c - the status line socks5d logs on SIGUSR1. Each worker owns its
 * counters and touches nothing shared while relaying; only when the main
 * thread asks (an eventfd per worker) does it add them up, its open sessions
 * included, into its own slot. The main thread waits (bounded) for every
 * slot, sums them and writes one line. */
#include "socks5d.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

/* How long the main thread waits for busy workers before logging without them. */
#define STATUS_WAIT_MS 1000

int status_slot_init(struct server *srv)
{
	struct status_slot *slot = &srv->status;

	pthread_mutex_init(&slot->lock, NULL);
	slot->w.kind = WATCH_STATUS;
	slot->ask_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (slot->ask_fd < 0) {
		fprintf(stderr, "socks5d: eventfd: %s\n", strerror(errno));
		return -1;
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &slot->w };
	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, slot->ask_fd, &ev) < 0) {
		fprintf(stderr, "socks5d: epoll_ctl: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

void status_slot_destroy(struct status_slot *slot)
{
	if (slot->ask_fd < 0)
		return;
	close(slot->ask_fd);
	slot->ask_fd = -1;
	pthread_mutex_destroy(&slot->lock);
}

static void count_state(struct status_counts *n, enum conn_state st)
{
	switch (st) {
	case ST_GREETING:
	case ST_AUTH:
	case ST_REQUEST:
		n->handshake++;
		break;
	case ST_RESOLVING:
	case ST_CONNECTING:
		n->connecting++;
		break;
	case ST_RELAY:
		n->relay++;
		break;
	case ST_UDP:
		n->udp++;
		break;
	case ST_BIND_WAIT:
		n->bind++;
		break;
	case ST_LINGER:
	case ST_CLOSED:
		n->closing++;
		break;
	}
}

/* Ended sessions (srv->stats) plus what the open ones have moved so far. */
static void worker_counts(const struct server *srv, struct status_counts *n)
{
	memset(n, 0, sizeof *n);
	n->sessions = srv->stats.sessions;
	n->rejected = srv->stats.rejected;
	n->up = srv->stats.up;
	n->down = srv->stats.down;
	n->dgrams_up = srv->stats.dgrams_up;
	n->dgrams_down = srv->stats.dgrams_down;
	for (const struct conn *c = srv->conns; c; c = c->next) {
		uint64_t up, down, dup, ddown;
		n->conns++;
		count_state(n, c->state);
		conn_counts(c, &up, &down, &dup, &ddown);
		n->up += up;
		n->down += down;
		n->dgrams_up += dup;
		n->dgrams_down += ddown;
	}
}

/* Worker side: the main thread wrote our ask_fd. */
void server_status_reply(struct server *srv)
{
	struct status_slot *slot = &srv->status;
	struct status_counts n;
	uint64_t asked;
	const uint64_t one = 1;

	if (read(slot->ask_fd, &asked, sizeof asked) != (ssize_t)sizeof asked)
		return;
	worker_counts(srv, &n);
	pthread_mutex_lock(&slot->lock);
	slot->counts = n;
	slot->seq++;
	pthread_mutex_unlock(&slot->lock);
	if (write(srv->shared->status_done_fd, &one, sizeof one) < 0 && errno != EAGAIN)
		log_error("status eventfd: %s", strerror(errno));
}

static uint64_t slot_seq(struct status_slot *slot)
{
	pthread_mutex_lock(&slot->lock);
	uint64_t seq = slot->seq;
	pthread_mutex_unlock(&slot->lock);
	return seq;
}

static void counts_add(struct status_counts *sum, const struct status_counts *n)
{
	sum->conns += n->conns;
	sum->handshake += n->handshake;
	sum->connecting += n->connecting;
	sum->relay += n->relay;
	sum->udp += n->udp;
	sum->bind += n->bind;
	sum->closing += n->closing;
	sum->sessions += n->sessions;
	sum->rejected += n->rejected;
	sum->up += n->up;
	sum->down += n->down;
	sum->dgrams_up += n->dgrams_up;
	sum->dgrams_down += n->dgrams_down;
}

/* Adds the slots whose seq moved past before[i]; returns how many have answered. */
static int collect_answers(struct status_slot *const *slots, int n, const uint64_t *before, bool *answered,
			   struct status_counts *sum)
{
	int count = 0;

	for (int i = 0; i < n; i++) {
		if (!answered[i]) {
			pthread_mutex_lock(&slots[i]->lock);
			if (slots[i]->seq != before[i]) {
				counts_add(sum, &slots[i]->counts);
				answered[i] = true;
			}
			pthread_mutex_unlock(&slots[i]->lock);
		}
		count += answered[i];
	}
	return count;
}

/* Asks every worker and waits for them, STATUS_WAIT_MS at most; returns how many answered. */
static int status_gather(struct status_slot *const *slots, int n, int done_fd, struct status_counts *sum)
{
	uint64_t *before = calloc((size_t)n, sizeof *before);
	bool *answered = calloc((size_t)n, sizeof *answered);
	const uint64_t one = 1;
	uint64_t drain;
	int got = 0;

	memset(sum, 0, sizeof *sum);
	if (!before || !answered)
		goto out;
	while (read(done_fd, &drain, sizeof drain) > 0) /* answers that came too late last time */
		;
	for (int i = 0; i < n; i++) {
		before[i] = slot_seq(slots[i]);
		if (write(slots[i]->ask_fd, &one, sizeof one) < 0)
			log_error("status eventfd: %s", strerror(errno));
	}
	int64_t deadline = clock_now_ms() + STATUS_WAIT_MS;
	while ((got = collect_answers(slots, n, before, answered, sum)) < n) {
		int64_t left = deadline - clock_now_ms();
		struct pollfd p = { .fd = done_fd, .events = POLLIN };
		if (left <= 0)
			break;
		if (poll(&p, 1, (int)left) > 0)
			while (read(done_fd, &drain, sizeof drain) > 0)
				;
	}
out:
	free(before);
	free(answered);
	return got;
}

/* Main thread. Written whatever the log level (it was asked for), as one
 * write() like every log line. */
void status_log(struct status_slot *const *slots, int n, const struct shared *sh, int64_t started_ms)
{
	struct status_counts s;
	char line[768], missing[48] = "";
	int64_t up_ms = clock_now_ms() - started_ms;

	int got = status_gather(slots, n, sh->status_done_fd, &s);
	if (got < n)
		snprintf(missing, sizeof missing, " unanswered=%d", n - got);
	int len = snprintf(line, sizeof line,
		"socks5d[%d]: status: uptime=%lld.%llds workers=%d conns=%llu (handshake=%llu connecting=%llu "
		"relay=%llu udp=%llu bind=%llu closing=%llu) udp_assocs=%llu sessions_total=%llu "
		"bytes_up=%llu bytes_down=%llu udp_datagrams_up=%llu udp_datagrams_down=%llu refused=%llu "
		"max_conns=%ld%s\n",
		(int)getpid(), (long long)(up_ms / 1000), (long long)(up_ms % 1000 / 100), n,
		(unsigned long long)s.conns, (unsigned long long)s.handshake, (unsigned long long)s.connecting,
		(unsigned long long)s.relay, (unsigned long long)s.udp, (unsigned long long)s.bind,
		(unsigned long long)s.closing, (unsigned long long)s.udp, (unsigned long long)s.sessions,
		(unsigned long long)s.up, (unsigned long long)s.down, (unsigned long long)s.dgrams_up,
		(unsigned long long)s.dgrams_down, (unsigned long long)s.rejected, sh->max_conns, missing);
	if (len > 0 && write(2, line, (size_t)len < sizeof line ? (size_t)len : sizeof line - 1) < 0)
		return; /* stderr is gone: nowhere to say so */
}
