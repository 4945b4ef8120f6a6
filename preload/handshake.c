/* handshake.c - SOCKS5 client side (RFC 1928, RFC 1929 auth). */
#include "handshake.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "config.h"
#include "real.h"

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

static enum hs_result step_connect(struct handshake *hs, int fd)
{
	if (hs->state == HS_CONNECT) {
		hs->state = HS_CONNECTING;
		if (REAL(connect)(fd, hs->proxy, hs->proxylen) < 0) {
			if (errno == EINPROGRESS || errno == EINTR)
				return HS_WANT_WRITE;
			return fail(hs, ECONNREFUSED, "cannot reach the proxy: %s", strerror(errno));
		}
	} else {
		int err = 0;
		socklen_t len = sizeof err;
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
			err = errno;
		if (err)
			return fail(hs, ECONNREFUSED, "cannot reach the proxy: %s", strerror(err));
	}
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
			return fail(hs, ECONNREFUSED, "proxy connection failed: %s", strerror(errno));
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
		case HS_CONNECTING:
			r = step_connect(hs, fd);
			if (r != HS_WANT_WRITE || hs->state == HS_CONNECTING)
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
			n = recv_message(hs, fd, hs->state == HS_RECV_METHOD ? decode_method
						 : hs->state == HS_RECV_AUTH ? decode_auth
									     : decode_reply);
			if (n < 0)
				return HS_ERROR;
			if (n == 0)
				return HS_WANT_READ;
			r = hs->state == HS_RECV_METHOD ? on_method(hs)
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
		long long left = deadline_ms - monotonic_ms();
		if (left <= 0) {
			fail(hs, ETIMEDOUT, "%s", "proxy did not answer in time (SOCKSIFY_TIMEOUT)");
			return ETIMEDOUT;
		}
		/* A signal only shortens this wait; the deadline still holds. */
		if (poll(&p, 1, (int)left) < 0 && errno != EINTR) {
			fail(hs, ECONNREFUSED, "poll failed: %s", strerror(errno));
			return hs->err;
		}
	}
}
