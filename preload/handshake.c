/* handshake.c - SOCKS5 client side (RFC 1928, RFC 1929 auth). */
#include "handshake.h"

#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "real.h"

/* Set once a proxy stalled on a pipelined request; one owner: this atomic. */
static atomic_int pipeline_refused;

/* How long a pipelined CONNECT may wait for its reply after the method choice
 * arrived: several greeting round trips, and never less than this. */
#define STALL_MIN_MS 200
#define STALL_RTTS 4

static int may_pipeline(const struct config *c, uint8_t cmd)
{
	if (cmd != SOCKS5_CMD_CONNECT || c->url.has_auth || c->pipeline == CONFIG_PIPELINE_OFF)
		return 0;
	return c->pipeline == CONFIG_PIPELINE_ON || !atomic_load_explicit(&pipeline_refused, memory_order_relaxed);
}

/* The method choice of a pipelined request is in: the reply should follow
 * within a few round trips unless the proxy is waiting for a request it dropped. */
static void start_stall_timer(struct handshake *hs)
{
	if (hs->stall_at_ms || hs->cfg->pipeline != CONFIG_PIPELINE_AUTO)
		return;
	long long now = monotonic_ms(), rtt = now - hs->sent_ms;
	hs->stall_at_ms = now + (rtt * STALL_RTTS > STALL_MIN_MS ? rtt * STALL_RTTS : STALL_MIN_MS);
}

static enum hs_result fail(struct handshake *hs, int err, const char *fmt, const char *arg)
{
	hs->state = HS_FAILED;
	hs->err = err;
	snprintf(hs->why, sizeof hs->why, fmt, arg);
	return HS_ERROR;
}

void handshake_init(struct handshake *hs, const struct config *cfg, const struct sockaddr *proxy,
		    socklen_t proxylen, uint8_t cmd, const struct socks5_addr *target)
{
	memset(hs, 0, offsetof(struct handshake, out));
	hs->cfg = cfg;
	hs->proxy = proxy;
	hs->proxylen = proxylen;
	hs->cmd = cmd;
	hs->target = *target;
	hs->state = HS_CONNECT;
	hs->out_len = hs->out_off = hs->in_len = 0;
	hs->rep = 0;
	hs->err = 0;
	hs->why[0] = '\0';
	hs->pipelined = may_pipeline(cfg, cmd);
	hs->stalled = hs->reached = hs->got_reply = 0;
	hs->sent_ms = hs->stall_at_ms = 0;
}

static void queue(struct handshake *hs, ssize_t n, enum hs_state next)
{
	hs->out_len = (size_t)n;
	hs->out_off = 0;
	hs->state = HS_SEND;
	hs->after_send = next;
}

static enum hs_result queue_greeting(struct handshake *hs)
{
	static const uint8_t noauth[] = { SOCKS5_METHOD_NOAUTH };
	static const uint8_t both[] = { SOCKS5_METHOD_NOAUTH, SOCKS5_METHOD_USERPASS };
	int auth = hs->cfg->url.has_auth;
	ssize_t n = socks5_encode_greeting(hs->out, sizeof hs->out, auth ? both : noauth, auth ? 2 : 1);
	if (n < 0)
		return fail(hs, ECONNREFUSED, "%s", "cannot encode the greeting");
	if (hs->pipelined) {
		ssize_t r = socks5_encode_request(hs->out + n, sizeof hs->out - (size_t)n, hs->cmd, &hs->target);
		if (r < 0)
			return fail(hs, EINVAL, "%s", "cannot encode the request");
		n += r;
		hs->sent_ms = monotonic_ms();
	}
	queue(hs, n, HS_RECV_METHOD);
	return HS_WANT_WRITE;
}

static enum hs_result queue_request(struct handshake *hs)
{
	ssize_t n = socks5_encode_request(hs->out, sizeof hs->out, hs->cmd, &hs->target);
	if (n < 0)
		return fail(hs, EINVAL, "%s", "cannot encode the request");
	queue(hs, n, HS_RECV_REPLY);
	return HS_WANT_WRITE;
}

static enum hs_result queue_auth(struct handshake *hs)
{
	const struct proxy_url *u = &hs->cfg->url;
	ssize_t n = socks5_encode_auth_request(hs->out, sizeof hs->out, u->user, strlen(u->user), u->pass,
					       strlen(u->pass));
	if (n < 0)
		return fail(hs, EACCES, "%s", "cannot encode the username/password");
	queue(hs, n, HS_RECV_AUTH);
	return HS_WANT_WRITE;
}

/* Reads one whole message into hs->in without consuming anything after it:
 * peek, and take exactly the message's bytes once it is complete. Bytes of an
 * incomplete message are taken at once, so waiting for more never spins.
 * Returns the message length, 0 to wait, or -1 (hs failed). */
typedef ssize_t (*decode_fn)(struct handshake *hs, const uint8_t *buf, size_t len);

static ssize_t recv_message(struct handshake *hs, int fd, decode_fn decode)
{
	for (;;) {
		size_t room = sizeof hs->in - hs->in_len;
		ssize_t n = REAL(recv)(fd, hs->in + hs->in_len, room, MSG_PEEK | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n < 0) {
			fail(hs, ECONNREFUSED, "proxy connection failed: %s", strerror(errno));
			return -1;
		}
		if (n == 0) {
			fail(hs, ECONNREFUSED, "%s", "proxy closed the connection during the handshake");
			return -1;
		}
		ssize_t msg = decode(hs, hs->in, hs->in_len + (size_t)n);
		if (msg == SOCKS5_MALFORMED) {
			fail(hs, ECONNREFUSED, "%s", "proxy sent a malformed reply");
			return -1;
		}
		/* The complete message, or everything peeked of an incomplete one. */
		size_t take = msg > 0 ? (size_t)msg - hs->in_len : (size_t)n;
		if (msg == SOCKS5_SHORT && take == room) {
			fail(hs, ECONNREFUSED, "%s", "proxy reply too long");
			return -1;
		}
		ssize_t got;
		do
			got = REAL(recv)(fd, hs->in + hs->in_len, take, MSG_DONTWAIT);
		while (got < 0 && errno == EINTR);
		if (got != (ssize_t)take) {
			fail(hs, ECONNREFUSED, "%s", "proxy connection failed while reading its reply");
			return -1;
		}
		hs->in_len += take;
		if (msg > 0) {
			hs->in_len = 0;
			return msg;
		}
	}
}

static ssize_t decode_method(struct handshake *hs, const uint8_t *b, size_t len)
{
	uint8_t m;
	ssize_t n = socks5_decode_method_choice(b, len, &m);
	if (n > 0)
		hs->rep = m;
	return n;
}

/* Pipelined: the method choice, and the reply if it came along, taken in one
 * read. A method other than no-auth is taken alone (on_method says why). */
static ssize_t decode_method_reply(struct handshake *hs, const uint8_t *b, size_t len)
{
	ssize_t n = decode_method(hs, b, len);
	if (n <= 0 || hs->rep != SOCKS5_METHOD_NOAUTH)
		return n;
	start_stall_timer(hs);
	ssize_t r = socks5_decode_reply(b + n, len - (size_t)n, &hs->rep, &hs->bound);
	if (r <= 0) {
		hs->rep = SOCKS5_METHOD_NOAUTH;
		return r;
	}
	hs->got_reply = 1;
	return n + r;
}

static ssize_t decode_auth(struct handshake *hs, const uint8_t *b, size_t len)
{
	uint8_t st;
	ssize_t n = socks5_decode_auth_reply(b, len, &st);
	if (n > 0)
		hs->rep = st;
	return n;
}

static ssize_t decode_reply(struct handshake *hs, const uint8_t *b, size_t len)
{
	return socks5_decode_reply(b, len, &hs->rep, &hs->bound);
}

static enum hs_result on_method(struct handshake *hs)
{
	if (hs->rep == SOCKS5_METHOD_NOAUTH)
		return queue_request(hs);
	if (hs->rep == SOCKS5_METHOD_USERPASS && hs->cfg->url.has_auth)
		return queue_auth(hs);
	if (hs->rep == SOCKS5_METHOD_NONE_ACCEPTABLE)
		return fail(hs, EACCES, "%s",
			    hs->cfg->url.has_auth ? "proxy accepts none of our methods (no-auth, username/password)"
						  : "proxy requires authentication; put user:pass@ in the proxy URL");
	return fail(hs, ECONNREFUSED, "%s", "proxy chose a method we did not offer");
}

static enum hs_result on_auth(struct handshake *hs)
{
	if (hs->rep != SOCKS5_AUTH_SUCCESS)
		return fail(hs, EACCES, "proxy rejected username/password for user '%.60s'", hs->cfg->url.user);
	return queue_request(hs);
}

static enum hs_result on_reply(struct handshake *hs)
{
	if (hs->rep != SOCKS5_REP_SUCCEEDED) {
		char t[80];
		snprintf(t, sizeof t, "%s (REP %u)", socks5_rep_str(hs->rep), hs->rep);
		return fail(hs, socks5_rep_to_errno(hs->rep), "proxy answered: %s", t);
	}
	hs->state = HS_DONE;
	return HS_OK;
}

/* Connects and queues the greeting at once: the first send() finds out
 * whether the connection is up (EAGAIN: not yet, wait to write; an error:
 * the proxy cannot be reached), which saves a wait and a SO_ERROR look
 * whenever the connection is made at once, as on loopback. */
static enum hs_result step_connect(struct handshake *hs, int fd)
{
	if (REAL(connect)(fd, hs->proxy, hs->proxylen) < 0 && errno != EINPROGRESS && errno != EINTR)
		return fail(hs, ECONNREFUSED, "cannot reach the proxy: %s", strerror(errno));
	return queue_greeting(hs);
}

static enum hs_result step_send(struct handshake *hs, int fd)
{
	while (hs->out_off < hs->out_len) {
		ssize_t n = REAL(send)(fd, hs->out + hs->out_off, hs->out_len - hs->out_off,
				       MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return HS_WANT_WRITE;
		if (n < 0)
			return fail(hs, ECONNREFUSED, hs->reached ? "proxy connection failed: %s" : "cannot reach the proxy: %s",
				    strerror(errno));
		hs->reached = 1;
		hs->out_off += (size_t)n;
	}
	hs->state = hs->after_send;
	return HS_WANT_READ;
}

enum hs_result handshake_step(struct handshake *hs, int fd)
{
	for (;;) {
		enum hs_result r;
		ssize_t n;
		switch (hs->state) {
		case HS_CONNECT:
			r = step_connect(hs, fd);
			if (r == HS_ERROR)
				return r;
			break;
		case HS_SEND:
			r = step_send(hs, fd);
			if (r != HS_WANT_READ)
				return r;
			break;
		case HS_RECV_METHOD:
		case HS_RECV_AUTH:
		case HS_RECV_REPLY:
			n = recv_message(hs, fd, hs->state == HS_RECV_METHOD ? (hs->pipelined ? decode_method_reply : decode_method)
						 : hs->state == HS_RECV_AUTH ? decode_auth
									     : decode_reply);
			if (n < 0)
				return HS_ERROR;
			if (n == 0)
				return HS_WANT_READ;
			r = hs->got_reply ? on_reply(hs)
			    : hs->state == HS_RECV_METHOD ? on_method(hs)
			    : hs->state == HS_RECV_AUTH ? on_auth(hs)
							: on_reply(hs);
			if (r == HS_OK || r == HS_ERROR)
				return r;
			break;
		case HS_DONE:
			return HS_OK;
		case HS_FAILED:
			return HS_ERROR;
		}
	}
}

void handshake_dissolve(int fd)
{
	struct sockaddr unspec = { .sa_family = AF_UNSPEC };
	REAL(connect)(fd, &unspec, sizeof unspec);
}

void handshake_restart(struct handshake *hs, int fd)
{
	struct socks5_addr target = hs->target;
	handshake_dissolve(fd);
	handshake_init(hs, hs->cfg, hs->proxy, hs->proxylen, hs->cmd, &target);
}

long long handshake_timer(const struct handshake *hs)
{
	return hs->state == HS_RECV_METHOD || hs->state == HS_RECV_REPLY ? hs->stall_at_ms : 0;
}

int handshake_check_timer(struct handshake *hs, long long now_ms)
{
	long long t = handshake_timer(hs);
	if (!t || now_ms < t)
		return 0;
	atomic_store_explicit(&pipeline_refused, 1, memory_order_relaxed);
	fail(hs, ETIMEDOUT, "%s", "proxy answered the greeting but not the pipelined request");
	hs->stalled = 1;
	return 1;
}

long long monotonic_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int handshake_run(struct handshake *hs, int fd, long long deadline_ms)
{
	for (;;) {
		enum hs_result r = handshake_step(hs, fd);
		if (r == HS_OK)
			return 0;
		if (r == HS_ERROR)
			return hs->err;
		struct pollfd p = { .fd = fd, .events = r == HS_WANT_READ ? POLLIN : POLLOUT };
		long long now = monotonic_ms(), until = deadline_ms, t = handshake_timer(hs);
		if (now >= deadline_ms) {
			fail(hs, ETIMEDOUT, "%s", "proxy did not answer in time (SOCKSIFY_TIMEOUT)");
			return ETIMEDOUT;
		}
		if (handshake_check_timer(hs, now))
			return hs->err;
		if (t && t < until)
			until = t;
		long long left = until - now;
		/* A signal only shortens this wait; the deadline still holds. */
		if (REAL(poll)(&p, 1, (int)left) < 0 && errno != EINTR) {
			fail(hs, ECONNREFUSED, "poll failed: %s", strerror(errno));
			return hs->err;
		}
	}
}
