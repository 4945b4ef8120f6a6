/* server.c - listeners, accept, the epoll loop, timers and session teardown. */
#include "socks5d.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define MAX_EVENTS 256
#define ACCEPT_BATCH 64

static void spare_retake(struct shared *sh);

static const char *const result_names[] = {
	[RES_OK] = "ok",
	[RES_REFUSED] = "refused",
	[RES_NET_UNREACHABLE] = "net-unreachable",
	[RES_HOST_UNREACHABLE] = "host-unreachable",
	[RES_TIMEOUT] = "timeout",
	[RES_AUTH_FAILED] = "auth-failed",
	[RES_NO_ACCEPTABLE_METHOD] = "no-acceptable-method",
	[RES_BAD_REQUEST] = "bad-request",
	[RES_CMD_UNSUPPORTED] = "cmd-unsupported",
	[RES_HANDSHAKE_TIMEOUT] = "handshake-timeout",
	[RES_NOT_ALLOWED] = "not-allowed",
	[RES_ERROR] = "error",
};

static int64_t clock_now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int endpoint_set_events(struct server *srv, struct endpoint *ep, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = ep };

	if (ep->fd < 0)
		return 0;
	if (events == 0 && ep->hup) {
		/* EPOLLHUP cannot be masked; park the fd until we want it again. */
		if (ep->registered)
			epoll_ctl(srv->epfd, EPOLL_CTL_DEL, ep->fd, NULL);
		ep->registered = false;
		ep->events = 0;
		return 0;
	}
	if (ep->registered && ep->events == events)
		return 0;
	if (epoll_ctl(srv->epfd, ep->registered ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, ep->fd, &ev) < 0) {
		log_error("epoll_ctl: %s", strerror(errno));
		return -1;
	}
	ep->registered = true;
	ep->events = events;
	return 0;
}

void endpoint_close(struct endpoint *ep, bool reset)
{
	if (ep->fd < 0)
		return;
	if (reset) {
		/* Pass an abort on as an RST, not as a FIN that looks like a clean end. */
		struct linger lg = { .l_onoff = 1, .l_linger = 0 };
		setsockopt(ep->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
	}
	close(ep->fd);
	ep->fd = -1;
	ep->registered = false;
	ep->events = 0;
}

/* The first result set wins: later failures are consequences of it. */
void conn_set_result(struct conn *c, enum session_result r)
{
	if (c->result_set)
		return;
	c->result = r;
	c->result_set = true;
}

static const char *cmd_name(uint8_t cmd)
{
	switch (cmd) {
	case 0:
		return "-";
	case SOCKS5_CMD_CONNECT:
		return "connect";
	case SOCKS5_CMD_BIND:
		return "bind";
	case SOCKS5_CMD_UDP_ASSOCIATE:
		return "udp-associate";
	case SOCKS5_CMD_RESOLVE:
		return "resolve";
	case SOCKS5_CMD_RESOLVE_PTR:
		return "resolve-ptr";
	}
	return "unknown";
}

/* A session's relayed bytes so far; a UDP association counts datagram
 * payloads, not control bytes. */
void conn_counts(const struct conn *c, uint64_t *up, uint64_t *down, uint64_t *dgrams_up, uint64_t *dgrams_down)
{
	*up = c->up.bytes;
	*down = c->down.bytes > c->reply_bytes ? c->down.bytes - c->reply_bytes : 0;
	*dgrams_up = *dgrams_down = 0;
	if (c->udp)
		udp_assoc_counts(c->udp, up, down, dgrams_up, dgrams_down);
}

static void conn_log(struct server *srv, struct conn *c)
{
	char client[64], counts[96] = "";
	uint64_t up, down, dgrams_up, dgrams_down;
	int64_t us = clock_now_us() - c->start_us;

	conn_counts(c, &up, &down, &dgrams_up, &dgrams_down);
	if (c->udp)
		udp_assoc_format_counts(c->udp, counts, sizeof counts, &up, &down);

	srv->stats.up += up;
	srv->stats.down += down;
	srv->stats.dgrams_up += dgrams_up;
	srv->stats.dgrams_down += dgrams_down;
	if (c->result == RES_OK)
		srv->stats.ok++;
	else
		srv->stats.failed++;
	if (log_get_level() < LOG_LVL_INFO)
		return;
	sockaddr_format(&c->peer, client, sizeof client);
	log_info("session client=%s user=%s cmd=%s target=%s result=%s up=%llu down=%llu%s duration=%lld.%03llds",
		client, c->user ? c->user : "-", cmd_name(c->cmd),
		c->target_name ? c->target_name : "-", result_names[c->result],
		(unsigned long long)up, (unsigned long long)down, counts,
		(long long)(us / 1000000), (long long)(us % 1000000 / 1000));
}

/* Ends a session: closes its fds, logs it, releases everything but the struct itself, which
 * stays on the dead list until the current batch of events is handled. */
void conn_close(struct server *srv, struct conn *c, bool reset)
{
	if (c->state == ST_CLOSED)
		return;
	if (!c->result_set)
		conn_set_result(c, RES_ERROR);
	if (c->udp)
		udp_assoc_close(srv, c->udp); /* first: datagrams still queued count as dropped */
	timer_cancel(&c->timer);
	if (c->job) {
		c->job->owner = NULL; /* the resolver frees it when it comes back */
		c->job = NULL;
	}
	endpoint_close(&c->client, reset);
	endpoint_close(&c->target, reset);
	flow_release(srv, &c->up);
	flow_release(srv, &c->down);
	conn_log(srv, c); /* after its fds are closed: whoever reads the line may count them */
	free(c->hs);
	free(c->user);
	free(c->target_name);
	free(c->addrs);
	c->hs = NULL;
	c->user = c->target_name = NULL;
	c->addrs = NULL;
	c->state = ST_CLOSED;
	atomic_fetch_sub(&srv->shared->nconns, 1);
	spare_retake(srv->shared);

	if (c->prev)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	c->prev = NULL;
	c->next = srv->dead;
	srv->dead = c;
	srv->nconns--;
}

static void free_dead(struct server *srv)
{
	while (srv->dead) {
		struct conn *c = srv->dead;
		srv->dead = c->next;
		if (c->udp)
			udp_assoc_free(c->udp);
		free(c);
	}
}

/* Level-triggered interest, recomputed after every event of a session. */
void conn_update_interest(struct server *srv, struct conn *c)
{
	uint32_t cl = 0, tg = 0;
	bool down_pending = flow_pending(&c->down);
	bool up_pending = flow_pending(&c->up);

	/* A pipelined request's answers (method choice, login status) wait for the
	 * reply to the request itself and leave with it: one segment, one wake-up. */
	if (down_pending && c->state != ST_RESOLVING && c->state != ST_CONNECTING)
		cl |= EPOLLOUT;
	switch (c->state) {
	case ST_GREETING:
	case ST_AUTH:
	case ST_REQUEST:
	case ST_LINGER:
	case ST_UDP:
		cl |= EPOLLIN;
		break;
	case ST_RESOLVING:
		break;
	case ST_CONNECTING:
		tg = EPOLLOUT;
		break;
	case ST_BIND_WAIT:
		/* The client's bytes are for the peer: only its leaving matters now. */
		cl |= EPOLLRDHUP;
		tg = EPOLLIN;
		break;
	case ST_RELAY:
		/* Read a side only when what we read from it last was passed on:
		 * the kernel's socket buffers do the queueing, not us. */
		if (!c->up.eof && !up_pending)
			cl |= EPOLLIN;
		if (!c->down.eof && !down_pending)
			tg |= EPOLLIN;
		if (up_pending)
			tg |= EPOLLOUT;
		break;
	case ST_CLOSED:
		return;
	}
	if (endpoint_set_events(srv, &c->client, cl) < 0 || endpoint_set_events(srv, &c->target, tg) < 0)
		conn_close(srv, c, true);
}

void socket_tune(int fd)
{
	int one = 1;
	/* A relay must not add Nagle delay on top of the sender's own. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	/* Sessions have no idle timeout; keepalive ends those whose peer vanished. */
	setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
}

static struct conn *conn_new(struct server *srv, int fd, const union sockaddr_any *peer)
{
	struct conn *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	c->hs = malloc(sizeof *c->hs);
	if (!c->hs) {
		free(c);
		return NULL;
	}
	c->hs->len = 0;
	c->client = (struct endpoint){ .w.kind = WATCH_CLIENT, .fd = fd, .conn = c };
	c->target = (struct endpoint){ .w.kind = WATCH_TARGET, .fd = -1, .conn = c };
	flow_init(&c->up);
	flow_init(&c->down);
	c->peer = *peer;
	c->start_us = clock_now_us();
	c->next = srv->conns;
	if (srv->conns)
		srv->conns->prev = c;
	srv->conns = c;
	srv->nconns++;
	return c;
}

#define LISTEN_PAUSE_MS 50

/* Stops accepting for a moment: out of fds with no spare to free, the
 * listener would stay readable and wake us in a loop. */
static void listeners_pause(struct server *srv)
{
	struct epoll_event ev = { .events = 0 };

	for (size_t i = 0; i < srv->nlisteners; i++) {
		ev.data.ptr = &srv->listeners[i];
		epoll_ctl(srv->epfd, EPOLL_CTL_MOD, srv->listeners[i].fd, &ev);
	}
	srv->listen_resume_ms = srv->now_ms + LISTEN_PAUSE_MS;
}

static void listeners_resume(struct server *srv)
{
	struct epoll_event ev = { .events = EPOLLIN };

	for (size_t i = 0; i < srv->nlisteners; i++) {
		ev.data.ptr = &srv->listeners[i];
		epoll_ctl(srv->epfd, EPOLL_CTL_MOD, srv->listeners[i].fd, &ev);
	}
	srv->listen_resume_ms = 0;
}

/* Out of fds: free the spare one, take the pending connection and close it,
 * so the listener stops being readable instead of waking us in a loop.
 * Returns false when it could not (nothing pending: accept fails with
 * EMFILE even on an empty queue; or another thread took the freed fd
 * first), and then pauses the listeners. */
static bool accept_drop_with_spare(struct server *srv, int lfd)
{
	struct shared *sh = srv->shared;
	int fd;

	pthread_mutex_lock(&sh->spare_lock);
	if (sh->spare_fd >= 0) {
		close(sh->spare_fd);
		sh->spare_fd = -1;
	}
	fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0)
		close(fd);
	sh->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	pthread_mutex_unlock(&sh->spare_lock);
	if (fd < 0) {
		if (errno != EAGAIN)
			listeners_pause(srv);
		return false;
	}
	srv->stats.rejected++;
	log_warn("out of file descriptors; dropped a client");
	return true;
}

/* Refused by --allow-from: one log line per second at most, counting the
 * ones in between, so a scan cannot flood the log. */
static void refuse_client(struct server *srv, int fd, const union sockaddr_any *peer)
{
	close(fd);
	srv->stats.rejected++;
	if (srv->from_warned_ms != 0 && srv->now_ms - srv->from_warned_ms < 1000) {
		srv->from_refused_unlogged++;
		return;
	}
	char name[64], more[80] = "";
	sockaddr_format(peer, name, sizeof name);
	if (srv->from_refused_unlogged)
		snprintf(more, sizeof more, " (and %llu more since the last such line)",
			 (unsigned long long)srv->from_refused_unlogged);
	log_info("refused client=%s: not in --allow-from%s", name, more);
	srv->from_warned_ms = srv->now_ms;
	srv->from_refused_unlogged = 0;
}

static void accept_one(struct server *srv, int fd, const union sockaddr_any *peer)
{
	struct conn *c;

	if (!client_allowed_by_rules(srv->cfg, peer)) {
		refuse_client(srv, fd, peer);
		return;
	}

	/* Counted before the session exists, so that workers accepting at
	 * the same moment cannot both take the last place. */
	if (atomic_fetch_add(&srv->shared->nconns, 1) >= srv->shared->max_conns) {
		atomic_fetch_sub(&srv->shared->nconns, 1);
		srv->stats.rejected++;
		/* A client flood must not flood the log too: one line per 10 s (per worker). */
		if (srv->now_ms - srv->limit_warned_ms >= 10000 || srv->limit_warned_ms == 0) {
			srv->limit_warned_ms = srv->now_ms;
			log_warn("connection limit (%ld) reached; dropping new clients", srv->shared->max_conns);
		}
		close(fd);
		return;
	}
	c = conn_new(srv, fd, peer);
	if (!c) {
		atomic_fetch_sub(&srv->shared->nconns, 1);
		log_error("out of memory, dropping a client");
		srv->stats.rejected++;
		close(fd);
		return;
	}
	socket_tune(fd);
	srv->stats.sessions++;
	if (log_get_level() >= LOG_LVL_DEBUG) {
		char name[64];
		sockaddr_format(peer, name, sizeof name);
		log_debug("accepted client=%s worker=%u sessions=%zu", name, srv->index, srv->nconns);
	}
	session_start(srv, c);
}

/* A socket() elsewhere may have taken the fd freed for the spare (another
 * worker, a resolver thread): take it back once an fd is free again. */
static void spare_retake(struct shared *sh)
{
	if (sh->spare_fd >= 0)
		return;
	pthread_mutex_lock(&sh->spare_lock);
	if (sh->spare_fd < 0)
		sh->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	pthread_mutex_unlock(&sh->spare_lock);
}

/* Under the spare lock: an accept may not take the fd another worker
 * freed to drop a client when out of fds. */
int accept_nonblock(struct server *srv, int lfd, union sockaddr_any *peer)
{
	socklen_t plen = sizeof *peer;

	pthread_mutex_lock(&srv->shared->spare_lock);
	int fd = accept4(lfd, &peer->sa, &plen, SOCK_NONBLOCK | SOCK_CLOEXEC);
	int err = errno;
	pthread_mutex_unlock(&srv->shared->spare_lock);
	errno = err;
	return fd;
}

/* accept() failures after which the next connection may be taken at once. */
bool accept_error_is_transient(int err)
{
	return err == EINTR || err == ECONNABORTED || err == EPROTO || err == EPERM;
}

static void listener_on_readable(struct server *srv, struct listener *l)
{
	for (int i = 0; i < ACCEPT_BATCH; i++) {
		union sockaddr_any peer;
		int fd = accept_nonblock(srv, l->fd, &peer);
		if (fd >= 0) {
			accept_one(srv, fd, &peer);
			continue;
		}
		if (accept_error_is_transient(errno))
			continue;
		switch (errno) {
		case EAGAIN:
			return;
		case EMFILE:
		case ENFILE:
			if (!accept_drop_with_spare(srv, l->fd))
				return;
			continue;
		default:
			/* ENOBUFS, ENOMEM: nothing we can fix now; the next wakeup retries. */
			log_error("accept: %s", strerror(errno));
			return;
		}
	}
}

/* With reuseport, every worker has a listener of its own on the same
 * address, and the kernel spreads new connections over them. */
static int listener_open(struct server *srv, struct listener *l, const struct listen_spec *spec, bool reuseport)
{
	char name[64];
	int one = 1;
	socklen_t len = sizeof l->addr;

	sockaddr_format(&spec->addr, name, sizeof name);
	l->w.kind = WATCH_LISTENER;
	l->fd = socket(spec->addr.sa.sa_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0)
		goto fail;
	setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (reuseport && setsockopt(l->fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0)
		goto fail;
	if (spec->addr.sa.sa_family == AF_INET6 &&
	    setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) < 0)
		goto fail;
	if (bind(l->fd, &spec->addr.sa, spec->len) < 0 || listen(l->fd, SOMAXCONN) < 0)
		goto fail;
	if (getsockname(l->fd, &l->addr.sa, &len) < 0)
		goto fail;
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = l };
	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, l->fd, &ev) < 0)
		goto fail;
	return 0;
fail:
	fprintf(stderr, "socks5d: cannot listen on %s: %s\n", name, strerror(errno));
	return -1;
}

int server_init(struct server *srv, const struct config *cfg, struct shared *sh, unsigned index,
		const struct server *first, bool reuseport)
{
	memset(srv, 0, sizeof *srv);
	srv->status.ask_fd = -1;
	srv->epfd = -1;
	srv->cfg = cfg;
	srv->shared = sh;
	srv->index = index;
	timerq_init(&srv->hs_timers, cfg->handshake_timeout_ms);
	timerq_init(&srv->connect_timers, cfg->connect_timeout_ms);
	timerq_init(&srv->linger_timers, LINGER_MS);
	timerq_init(&srv->udp_timers, cfg->udp_timeout_ms);
	timerq_init(&srv->bind_timers, cfg->bind_timeout_ms);
	srv->now_ms = clock_now_ms();

	srv->epfd = epoll_create1(EPOLL_CLOEXEC);
	if (srv->epfd < 0) {
		fprintf(stderr, "socks5d: epoll_create1: %s\n", strerror(errno));
		return -1;
	}
	srv->listeners = calloc(cfg->nlistens, sizeof *srv->listeners);
	if (!srv->listeners)
		return -1;
	for (size_t i = 0; i < cfg->nlistens; i++) {
		struct listen_spec spec = cfg->listens[i];
		if (first) /* the port the first worker got, if it asked for port 0 */
			spec.addr = first->listeners[i].addr;
		srv->listeners[i].fd = -1;
		srv->nlisteners++;
		if (listener_open(srv, &srv->listeners[i], &spec, reuseport) < 0)
			return -1;
	}
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &sh->stop_watch };
	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, sh->stop_fd, &ev) < 0) {
		fprintf(stderr, "socks5d: epoll_ctl: %s\n", strerror(errno));
		return -1;
	}
	return status_slot_init(srv);
}

int server_start(struct server *srv, int resolver_threads)
{
	srv->resolver = resolver_start(resolver_threads, srv->epfd);
	if (!srv->resolver) {
		fprintf(stderr, "socks5d: cannot start resolver threads\n");
		return -1;
	}
	return 0;
}

static int next_timeout_ms(struct server *srv)
{
	int64_t next = timerq_next_deadline(&srv->hs_timers);
	int64_t t = timerq_next_deadline(&srv->connect_timers);
	if (t < next)
		next = t;
	t = timerq_next_deadline(&srv->linger_timers);
	if (t < next)
		next = t;
	t = timerq_next_deadline(&srv->udp_timers);
	if (t < next)
		next = t;
	t = timerq_next_deadline(&srv->bind_timers);
	if (t < next)
		next = t;
	if (srv->listen_resume_ms && srv->listen_resume_ms < next)
		next = srv->listen_resume_ms;
	if (next == INT64_MAX)
		return -1;
	if (next <= srv->now_ms)
		return 0;
	t = next - srv->now_ms;
	return t > 60000 ? 60000 : (int)t;
}

#define conn_of_timer(t) ((struct conn *)((char *)(t) - offsetof(struct conn, timer)))

static void run_timers(struct server *srv)
{
	struct timer *t;

	while ((t = timerq_pop_expired(&srv->hs_timers, srv->now_ms)))
		session_on_timeout(srv, conn_of_timer(t));
	while ((t = timerq_pop_expired(&srv->connect_timers, srv->now_ms)))
		connect_on_timeout(srv, conn_of_timer(t));
	while ((t = timerq_pop_expired(&srv->linger_timers, srv->now_ms)))
		conn_close(srv, conn_of_timer(t), false);
	while ((t = timerq_pop_expired(&srv->udp_timers, srv->now_ms)))
		udp_on_idle(srv, conn_of_timer(t));
	while ((t = timerq_pop_expired(&srv->bind_timers, srv->now_ms)))
		bind_on_timeout(srv, conn_of_timer(t));
	if (srv->listen_resume_ms && srv->listen_resume_ms <= srv->now_ms)
		listeners_resume(srv);
}

static void conn_on_event(struct server *srv, struct endpoint *ep, uint32_t events)
{
	struct conn *c = ep->conn;

	switch (c->state) {
	case ST_GREETING:
	case ST_AUTH:
	case ST_REQUEST:
	case ST_RESOLVING:
	case ST_LINGER:
		session_on_client(srv, c, events);
		break;
	case ST_CONNECTING:
		if (ep == &c->target)
			connect_on_target(srv, c, events);
		else
			session_on_client(srv, c, events);
		break;
	case ST_RELAY:
		relay_on_event(srv, c, ep, events);
		break;
	case ST_UDP:
		udp_on_control(srv, c, events);
		break;
	case ST_BIND_WAIT:
		bind_on_event(srv, c, ep, events);
		break;
	case ST_CLOSED:
		return;
	}
	if (c->state != ST_CLOSED)
		conn_update_interest(srv, c);
}

/* Returns false when the worker is told to stop. */
static bool dispatch(struct server *srv, struct epoll_event *ev)
{
	struct watch *w = ev->data.ptr;

	switch (w->kind) {
	case WATCH_LISTENER:
		listener_on_readable(srv, (struct listener *)w);
		break;
	case WATCH_CLIENT:
	case WATCH_TARGET:
		conn_on_event(srv, (struct endpoint *)w, ev->events);
		break;
	case WATCH_RESOLVER:
		resolver_dispatch(srv, srv->resolver);
		break;
	case WATCH_UDP:
		udp_on_event(srv, w, ev->events);
		break;
	case WATCH_STATUS:
		server_status_reply(srv);
		break;
	case WATCH_STOP:
		return false;
	}
	return true;
}

/* Runs until the shared stop eventfd becomes readable (it stays readable,
 * so every worker sees it). Signals are the main thread's business. */
int server_run(struct server *srv)
{
	struct epoll_event events[MAX_EVENTS];
	bool running = true;

	while (running) {
		int n = epoll_wait(srv->epfd, events, MAX_EVENTS, next_timeout_ms(srv));
		if (n < 0 && errno != EINTR) {
			log_error("epoll_wait: %s", strerror(errno));
			return -1;
		}
		srv->now_ms = clock_now_ms();
		for (int i = 0; i < n && running; i++)
			running = dispatch(srv, &events[i]);
		run_timers(srv);
		free_dead(srv);
	}
	return 0;
}

void server_destroy(struct server *srv)
{
	for (size_t i = 0; i < srv->nlisteners; i++)
		if (srv->listeners[i].fd >= 0)
			close(srv->listeners[i].fd);
	while (srv->conns)
		conn_close(srv, srv->conns, false);
	free_dead(srv);
	if (srv->resolver)
		resolver_stop(srv->resolver);
	if (srv->epfd >= 0)
		close(srv->epfd);
	bufpool_destroy(&srv->pool);
	udp_batch_free(srv->udp);
	free(srv->listeners);
	status_slot_destroy(&srv->status);
}
