/* session.c - the SOCKS5 handshake: greeting, RFC 1929 login, request.
 *
 * Bytes are parsed from a per-session input buffer, never one message per
 * recv(): a client may send greeting, login, request and its first data in
 * one segment, or one byte at a time. */
#include "socks5d.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>

/* Parse results of one handshake message. */
enum { HS_NEED_MORE, HS_NEXT, HS_DONE };

static void hs_consume(struct conn *c, size_t n)
{
	struct handshake *hs = c->hs;
	memmove(hs->in, hs->in + n, hs->len - n);
	hs->len -= (uint32_t)n;
}

static int queue_reply(struct server *srv, struct conn *c, const uint8_t *msg, ssize_t n)
{
	if (n < 0 || buf_append(srv, &c->down.buf, msg, (size_t)n) < 0)
		return -1;
	c->reply_bytes += (uint32_t)n;
	return 0;
}

/* Stops reading requests: the client gets what is queued, then our FIN, and
 * we drain its input for a while so that closing does not send an RST. */
static void enter_linger(struct server *srv, struct conn *c, enum session_result r)
{
	conn_set_result(c, r);
	c->state = ST_LINGER;
	c->down.eof = true;
	timer_arm(&srv->linger_timers, &c->timer, srv->now_ms);
}

/* Sends what the handshake queued; in linger, follows it with our FIN. */
static void session_flush(struct server *srv, struct conn *c)
{
	if (flow_flush(srv, &c->down, c->client.fd) < 0) {
		conn_close(srv, c, true);
		return;
	}
	if (c->state == ST_LINGER && c->down.eof && !c->down.shut && c->down.buf.len == 0) {
		shutdown(c->client.fd, SHUT_WR);
		c->down.shut = true;
	}
}

/* Answers the request with an error and closes; callable from any state
 * before the relay (the target socket, if any, is already closed). */
void session_reply_and_linger(struct server *srv, struct conn *c, uint8_t rep, enum session_result r)
{
	static const struct socks5_addr none = { .atyp = SOCKS5_ATYP_IPV4 };
	session_answer_and_linger(srv, c, rep, &none, r);
}

/* The same with a BND.ADDR: the last reply of a session that relays nothing (RESOLVE). */
void session_answer_and_linger(struct server *srv, struct conn *c, uint8_t rep, const struct socks5_addr *bnd,
			       enum session_result r)
{
	uint8_t msg[SOCKS5_REQUEST_MAX];

	if (queue_reply(srv, c, msg, socks5_encode_reply(msg, sizeof msg, rep, bnd)) < 0) {
		conn_set_result(c, r);
		conn_close(srv, c, true);
		return;
	}
	enter_linger(srv, c, r);
	session_flush(srv, c);
	if (c->state != ST_CLOSED)
		conn_update_interest(srv, c);
}

static uint8_t choose_method(const struct config *cfg, const struct socks5_greeting *g)
{
	uint8_t want = cfg->nusers || cfg->auth_any ? SOCKS5_METHOD_USERPASS : SOCKS5_METHOD_NOAUTH;
	for (unsigned i = 0; i < g->nmethods; i++)
		if (g->methods[i] == want)
			return want;
	return SOCKS5_METHOD_NONE_ACCEPTABLE;
}

static int handle_greeting(struct server *srv, struct conn *c)
{
	struct socks5_greeting g;
	uint8_t msg[2];
	ssize_t n = socks5_decode_greeting(c->hs->in, c->hs->len, &g);

	if (n == SOCKS5_SHORT)
		return HS_NEED_MORE;
	if (n < 0) {
		/* Not SOCKS5 at all: no reply a client could understand. */
		if (c->hs->in[0] != SOCKS5_VERSION) {
			conn_set_result(c, RES_BAD_REQUEST);
			conn_close(srv, c, false);
			return HS_DONE;
		}
		queue_reply(srv, c, msg, socks5_encode_method_choice(msg, sizeof msg, SOCKS5_METHOD_NONE_ACCEPTABLE));
		enter_linger(srv, c, RES_BAD_REQUEST);
		return HS_DONE;
	}
	hs_consume(c, (size_t)n);
	uint8_t method = choose_method(srv->cfg, &g);
	if (queue_reply(srv, c, msg, socks5_encode_method_choice(msg, sizeof msg, method)) < 0) {
		conn_close(srv, c, true);
		return HS_DONE;
	}
	if (method == SOCKS5_METHOD_NONE_ACCEPTABLE) {
		enter_linger(srv, c, RES_NO_ACCEPTABLE_METHOD);
		return HS_DONE;
	}
	c->state = method == SOCKS5_METHOD_USERPASS ? ST_AUTH : ST_REQUEST;
	return HS_NEXT;
}

static char *escaped_copy(const char *s, size_t len)
{
	char tmp[4 * 255 + 1];
	escape_for_log(tmp, sizeof tmp, s, len);
	return strdup(tmp);
}

static int handle_auth(struct server *srv, struct conn *c)
{
	struct socks5_credentials cred;
	uint8_t msg[2];
	ssize_t n = socks5_decode_auth_request(c->hs->in, c->hs->len, &cred);

	if (n == SOCKS5_SHORT)
		return HS_NEED_MORE;
	if (n < 0) {
		queue_reply(srv, c, msg, socks5_encode_auth_reply(msg, sizeof msg, SOCKS5_AUTH_FAILURE));
		enter_linger(srv, c, RES_BAD_REQUEST);
		return HS_DONE;
	}
	/* The password leaves our memory as soon as it is checked. */
	explicit_bzero(c->hs->in, (size_t)n);
	hs_consume(c, (size_t)n);
	bool ok = srv->cfg->auth_any || auth_check(srv->cfg, &cred) != NULL;
	explicit_bzero(cred.pass, sizeof cred.pass);
	c->user = escaped_copy(cred.user, cred.ulen);

	uint8_t status = ok ? SOCKS5_AUTH_SUCCESS : SOCKS5_AUTH_FAILURE;
	if (queue_reply(srv, c, msg, socks5_encode_auth_reply(msg, sizeof msg, status)) < 0) {
		conn_close(srv, c, true);
		return HS_DONE;
	}
	if (!ok) {
		/* RFC 1929: on failure the server MUST close the connection. */
		enter_linger(srv, c, RES_AUTH_FAILED);
		return HS_DONE;
	}
	c->state = ST_REQUEST;
	return HS_NEXT;
}

/* host:port as the client asked for it, safe to print in a log line. */
static char *format_target(const struct socks5_addr *a)
{
	char buf[4 * 255 + 16];

	if (a->atyp != SOCKS5_ATYP_DOMAIN)
		return strdup(socks5_addr_format(a, buf, sizeof buf));
	size_t n = escape_for_log(buf, sizeof buf - 8, a->u.domain.name, a->u.domain.len);
	snprintf(buf + n, sizeof buf - n, ":%u", a->port);
	return strdup(buf);
}

static bool atyp_known(uint8_t atyp)
{
	return atyp == SOCKS5_ATYP_IPV4 || atyp == SOCKS5_ATYP_IPV6 || atyp == SOCKS5_ATYP_DOMAIN;
}

static int handle_request(struct server *srv, struct conn *c)
{
	const uint8_t *in = c->hs->in;
	struct socks5_addr dst;
	uint8_t cmd;

	/* The codec cannot size an unknown address type; answer it by name. */
	if (c->hs->len >= 4 && in[0] == SOCKS5_VERSION && !atyp_known(in[3])) {
		c->cmd = in[1];
		session_reply_and_linger(srv, c, SOCKS5_REP_ATYP_NOT_SUPPORTED, RES_BAD_REQUEST);
		return HS_DONE;
	}
	ssize_t n = socks5_decode_request(in, c->hs->len, &cmd, &dst);
	if (n == SOCKS5_SHORT)
		return HS_NEED_MORE;
	if (n < 0) {
		session_reply_and_linger(srv, c, SOCKS5_REP_GENERAL_FAILURE, RES_BAD_REQUEST);
		return HS_DONE;
	}
	hs_consume(c, (size_t)n);
	c->cmd = cmd;
	c->target_name = format_target(&dst);

	switch (cmd) {
	case SOCKS5_CMD_CONNECT:
		timer_arm(&srv->connect_timers, &c->timer, srv->now_ms);
		connect_start(srv, c, &dst);
		return HS_DONE;
	case SOCKS5_CMD_UDP_ASSOCIATE:
		udp_assoc_start(srv, c, &dst);
		return HS_DONE;
	case SOCKS5_CMD_BIND:
		bind_start(srv, c, &dst);
		return HS_DONE;
	case SOCKS5_CMD_RESOLVE:
	case SOCKS5_CMD_RESOLVE_PTR:
		resolve_start(srv, c, cmd, &dst);
		return HS_DONE;
	default:
		session_reply_and_linger(srv, c, SOCKS5_REP_CMD_NOT_SUPPORTED, RES_CMD_UNSUPPORTED);
		return HS_DONE;
	}
}

/* Handles every complete message in the input buffer, in order. */
static void hs_parse(struct server *srv, struct conn *c)
{
	int r = HS_NEXT;

	while (r == HS_NEXT && c->hs->len > 0) {
		switch (c->state) {
		case ST_GREETING:
			r = handle_greeting(srv, c);
			break;
		case ST_AUTH:
			r = handle_auth(srv, c);
			break;
		case ST_REQUEST:
			r = handle_request(srv, c);
			break;
		default:
			return;
		}
	}
	/* Every message fits the buffer, so a full buffer that parses as a
	 * prefix cannot happen; refuse rather than stall if it ever does. */
	if (r == HS_NEED_MORE && c->hs->len == HS_BUF_SIZE) {
		conn_set_result(c, RES_BAD_REQUEST);
		conn_close(srv, c, false);
	}
}

static void hs_read(struct server *srv, struct conn *c)
{
	struct handshake *hs = c->hs;
	ssize_t n;

	do
		n = recv(c->client.fd, hs->in + hs->len, HS_BUF_SIZE - hs->len, 0);
	while (n < 0 && errno == EINTR);
	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		/* The client hung up (or reset) before finishing the handshake. */
		conn_close(srv, c, n < 0);
		return;
	}
	hs->len += (uint32_t)n;
	hs_parse(srv, c);
}

static void linger_drain(struct server *srv, struct conn *c)
{
	uint8_t sink[4096];
	ssize_t n = recv(c->client.fd, sink, sizeof sink, 0);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		conn_close(srv, c, false);
}

void session_start(struct server *srv, struct conn *c)
{
	c->state = ST_GREETING;
	timer_arm(&srv->hs_timers, &c->timer, srv->now_ms);
	conn_update_interest(srv, c);
}

/* Client events in every state but the relay. */
void session_on_client(struct server *srv, struct conn *c, uint32_t events)
{
	if (events & EPOLLERR) {
		conn_close(srv, c, true);
		return;
	}
	if (events & EPOLLOUT) {
		if (flow_flush(srv, &c->down, c->client.fd) < 0) {
			conn_close(srv, c, true);
			return;
		}
	}
	switch (c->state) {
	case ST_GREETING:
	case ST_AUTH:
	case ST_REQUEST:
		if (events & (EPOLLIN | EPOLLHUP))
			hs_read(srv, c);
		break;
	case ST_LINGER:
		if (events & (EPOLLIN | EPOLLHUP))
			linger_drain(srv, c);
		break;
	case ST_RESOLVING:
	case ST_CONNECTING:
		/* We are not reading the client now, so HUP means it is gone. */
		if (events & EPOLLHUP)
			conn_close(srv, c, true);
		return;
	default:
		return;
	}
	/* Resolving or connecting: what is queued goes out with the reply (relay_start). */
	if (c->state != ST_CLOSED && c->state != ST_RELAY && c->state != ST_RESOLVING && c->state != ST_CONNECTING)
		session_flush(srv, c);
}

void session_on_timeout(struct server *srv, struct conn *c)
{
	conn_set_result(c, RES_HANDSHAKE_TIMEOUT);
	conn_close(srv, c, false);
}
