/* async.c - pending non-blocking connects: the table, and moving handshakes on. */
#include "async.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bind.h"
#include "config.h"
#include "fdtable.h"
#include "log.h"
#include "real.h"

/* epoll data of a registration made for a handshake: never a user-space
 * pointer (not canonical), and carries the fd. */
#define TAG_HIGH 0x50C4F1D5ull
#define TAG(fd) ((TAG_HIGH << 32) | (uint32_t)(fd))
#define IS_TAG(u64) (((u64) >> 32) == TAG_HIGH)

#define MAX_REGS 4 /* epoll sets one pending socket can be in */
#define BUCKETS 64

enum { PENDING, FAILED };

struct reg {
	int epfd;
	struct epoll_event ev; /* the program's own */
};

struct pending {
	struct pending *next;
	int fd, state, err;
	long long deadline_ms;
	uint32_t want; /* EPOLLIN or EPOLLOUT: what the handshake waits for */
	int nregs;
	struct reg regs[MAX_REGS];
	struct sockaddr_storage proxy; /* hs.proxy points here */
	struct handshake hs;
	char tname[300];
};

/* One lock over the table; count lets every hook skip it while empty. */
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct pending *table[BUCKETS];
static atomic_int count;

int async_active(void)
{
	return atomic_load_explicit(&count, memory_order_acquire) != 0;
}

static struct pending **slot(int fd)
{
	struct pending **pp = &table[(unsigned)fd % BUCKETS];
	while (*pp && (*pp)->fd != fd)
		pp = &(*pp)->next;
	return pp;
}

static struct pending *find(int fd)
{
	return *slot(fd);
}

static void drop(int fd)
{
	struct pending **pp = slot(fd), *p = *pp;
	if (p) {
		*pp = p->next;
		free(p);
		atomic_fetch_sub_explicit(&count, 1, memory_order_release);
	}
}

static void register_all(struct pending *p, int ours)
{
	for (int i = 0; i < p->nregs; i++) {
		struct epoll_event ev = p->regs[i].ev;
		if (ours) {
			ev.events = p->want;
			ev.data.u64 = TAG(p->fd);
		}
		REAL(epoll_ctl)(p->regs[i].epfd, EPOLL_CTL_MOD, p->fd, &ev);
	}
}

/* A proxy that stalled on the pipelined request: start over without pipelining. */
static enum hs_result restart(struct pending *p)
{
	log_info("connect to %s: %s; retrying without pipelining", p->tname, p->hs.why);
	handshake_restart(&p->hs, p->fd);
	return handshake_step(&p->hs, p->fd);
}

/* Steps p's handshake as far as it goes. 0: still pending; 1: connected; -1: failed. */
static int advance(struct pending *p, long long now)
{
	enum hs_result r = handshake_step(&p->hs, p->fd);
	if ((r == HS_WANT_READ || r == HS_WANT_WRITE) && handshake_check_timer(&p->hs, now))
		r = !p->hs.stalled ? handshake_step(&p->hs, p->fd) /* a silent hop: fail over */
		    : now < p->deadline_ms ? restart(p) : HS_ERROR;
	if ((r == HS_WANT_READ || r == HS_WANT_WRITE) && now >= p->deadline_ms) {
		handshake_fail_timeout(&p->hs);
		r = HS_ERROR;
	}
	if (r == HS_OK)
		return 1;
	if (r == HS_ERROR)
		return -1;
	uint32_t want = r == HS_WANT_READ ? EPOLLIN : EPOLLOUT;
	if (want != p->want) {
		p->want = want;
		register_all(p, 1);
	}
	return 0;
}

/* The handshake ended: give the program its registrations back. Connected
 * sockets leave the table; failed ones stay until SO_ERROR or connect() reports. */
static void finish(struct pending *p, int result)
{
	register_all(p, 0);
	if (result > 0) {
		bind_note_local(p->fd, &p->hs.bound);
		log_info("connect to %s via %s: ok", p->tname, p->hs.cfg->proxy_text);
		drop(p->fd);
		return;
	}
	log_error("connect to %s via %s failed: %s", p->tname, p->hs.cfg->proxy_text, p->hs.why);
	handshake_dissolve(p->fd);
	fdtable_forget(p->fd);
	p->state = FAILED;
	p->err = p->hs.err;
}

/* Locked: moves p on; 1 if it is no longer pending. */
static int drive_locked(struct pending *p, long long now)
{
	if (p->state != PENDING)
		return 1;
	int r = advance(p, now);
	if (r)
		finish(p, r);
	return r != 0;
}

int async_start(int fd, const struct handshake *hs, const char *tname, long long deadline_ms)
{
	struct pending *p = calloc(1, sizeof *p);
	if (!p)
		return ENOMEM;
	p->fd = fd;
	p->state = PENDING;
	p->deadline_ms = deadline_ms;
	p->hs = *hs;
	memcpy(&p->proxy, hs->proxy, hs->proxylen);
	p->hs.proxy = (struct sockaddr *)&p->proxy;
	snprintf(p->tname, sizeof p->tname, "%s", tname);

	pthread_mutex_lock(&lock);
	drop(fd); /* a failure nobody collected, on an fd closed behind our back */
	int r = advance(p, monotonic_ms());
	int err = r > 0 ? 0 : r < 0 ? p->hs.err : EINPROGRESS;
	if (r == 0) {
		struct pending **pp = &table[(unsigned)fd % BUCKETS];
		p->next = *pp;
		*pp = p;
		atomic_fetch_add_explicit(&count, 1, memory_order_release);
	} else if (r > 0) {
		bind_note_local(fd, &p->hs.bound);
		log_info("connect to %s via %s: ok", p->tname, p->hs.cfg->proxy_text);
	} else {
		log_error("connect to %s via %s failed: %s", p->tname, p->hs.cfg->proxy_text, p->hs.why);
		handshake_dissolve(fd);
	}
	pthread_mutex_unlock(&lock);
	if (r != 0)
		free(p);
	return err;
}

int async_poll_events(int fd, short *events)
{
	pthread_mutex_lock(&lock);
	struct pending *p = find(fd);
	int pending = p && p->state == PENDING;
	if (pending)
		*events = p->want == EPOLLIN ? POLLIN : POLLOUT;
	pthread_mutex_unlock(&lock);
	return pending;
}

int async_drive(int fd)
{
	pthread_mutex_lock(&lock);
	struct pending *p = find(fd);
	int done = p ? drive_locked(p, monotonic_ms()) : 1;
	pthread_mutex_unlock(&lock);
	return done;
}

long long async_next_timer(void)
{
	long long next = 0;
	pthread_mutex_lock(&lock);
	for (int b = 0; b < BUCKETS; b++)
		for (struct pending *p = table[b]; p; p = p->next) {
			if (p->state != PENDING)
				continue;
			long long t = handshake_timer(&p->hs);
			if (!t || t > p->deadline_ms)
				t = p->deadline_ms;
			if (!next || t < next)
				next = t;
		}
	pthread_mutex_unlock(&lock);
	return next;
}

int async_expire(long long now_ms)
{
	int n = 0;
	pthread_mutex_lock(&lock);
	for (int b = 0; b < BUCKETS; b++) {
		struct pending *p = table[b];
		while (p) {
			struct pending *next = p->next; /* p may be freed */
			long long t = handshake_timer(&p->hs);
			if (p->state == PENDING && (now_ms >= p->deadline_ms || (t && now_ms >= t)))
				n += drive_locked(p, now_ms);
			p = next;
		}
	}
	pthread_mutex_unlock(&lock);
	return n;
}

static struct reg *find_reg(struct pending *p, int epfd)
{
	for (int i = 0; i < p->nregs; i++)
		if (p->regs[i].epfd == epfd)
			return &p->regs[i];
	return NULL;
}

int async_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev, int *ret)
{
	pthread_mutex_lock(&lock);
	struct pending *p = find(fd);
	if (!p || p->state != PENDING || (op != EPOLL_CTL_DEL && !ev)) {
		pthread_mutex_unlock(&lock);
		return 0;
	}
	struct reg *r = find_reg(p, epfd);
	if (op == EPOLL_CTL_DEL) {
		*ret = REAL(epoll_ctl)(epfd, op, fd, ev);
		if (r)
			*r = p->regs[--p->nregs];
	} else if (!r && p->nregs == MAX_REGS) {
		*ret = REAL(epoll_ctl)(epfd, op, fd, ev); /* beyond what we track: the program's own */
	} else {
		struct epoll_event mine = { .events = p->want, .data.u64 = TAG(fd) };
		*ret = REAL(epoll_ctl)(epfd, op, fd, &mine);
		if (*ret == 0) {
			if (!r)
				r = &p->regs[p->nregs++];
			r->epfd = epfd;
			r->ev = *ev;
		}
	}
	pthread_mutex_unlock(&lock);
	return 1;
}

int async_epoll_event(int epfd, const struct epoll_event *ev)
{
	if (!IS_TAG(ev->data.u64))
		return 0;
	int fd = (int)(uint32_t)ev->data.u64;
	pthread_mutex_lock(&lock);
	struct pending *p = find(fd);
	if (p)
		drive_locked(p, monotonic_ms());
	else /* its socket left the table without us seeing it (closed, with a dup still open) */
		REAL(epoll_ctl)(epfd, EPOLL_CTL_DEL, fd, NULL);
	pthread_mutex_unlock(&lock);
	return 1;
}

int async_io_ready(int fd)
{
	pthread_mutex_lock(&lock);
	struct pending *p = find(fd);
	while (p && !drive_locked(p, monotonic_ms())) {
		int fl = REAL(fcntl)(fd, F_GETFL);
		if (fl < 0 || (fl & O_NONBLOCK)) {
			pthread_mutex_unlock(&lock);
			errno = EAGAIN;
			return -1;
		}
		/* A blocking socket waits for its handshake, as a blocking connect() would have. */
		struct pollfd w = { .fd = fd, .events = p->want == EPOLLIN ? POLLIN : POLLOUT };
		long long t = handshake_timer(&p->hs), now = monotonic_ms();
		if (!t || t > p->deadline_ms)
			t = p->deadline_ms;
		pthread_mutex_unlock(&lock);
		REAL(poll)(&w, 1, t > now ? (int)(t - now) : 0);
		pthread_mutex_lock(&lock);
		p = find(fd);
	}
	pthread_mutex_unlock(&lock);
	return 0; /* connected, or failed: the socket itself now says so */
}

int async_connect_again(int fd)
{
	int err = -1;
	pthread_mutex_lock(&lock);
	struct pending *p = find(fd);
	if (p && !drive_locked(p, monotonic_ms())) {
		err = EALREADY;
	} else if ((p = find(fd)) && p->state == FAILED) { /* find again: a connected p is gone */
		err = p->err;
		drop(fd);
	}
	pthread_mutex_unlock(&lock);
	return err;
}

int async_so_error(int fd, int *err)
{
	int handled = 0;
	pthread_mutex_lock(&lock);
	struct pending *p = find(fd);
	if (p && !drive_locked(p, monotonic_ms())) {
		*err = 0;
		handled = 1;
	} else if ((p = find(fd)) && p->state == FAILED) {
		*err = p->err;
		handled = 1;
		drop(fd);
	}
	pthread_mutex_unlock(&lock);
	return handled;
}

void async_forget(int fd)
{
	pthread_mutex_lock(&lock);
	drop(fd);
	pthread_mutex_unlock(&lock);
}

void async_fork(enum fork_phase phase)
{
	if (phase == FORK_PREPARE)
		pthread_mutex_lock(&lock);
	else if (phase == FORK_PARENT)
		pthread_mutex_unlock(&lock);
	else
		pthread_mutex_init(&lock, NULL);
}
