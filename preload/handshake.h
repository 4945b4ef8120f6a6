/* handshake.h - the client side of a SOCKS5 request (CONNECT, UDP ASSOCIATE), as a resumable state machine.
 *
 * handshake_step() does only non-blocking I/O and says what it waits for, so
 * the same machine can be driven by a blocking loop with a deadline (today,
 * inside connect()) or by an event loop (later, to keep non-blocking connects
 * from holding the program's thread). It never reads a byte past the proxy's
 * reply: what follows belongs to the program. */
#ifndef SOCKSIFY_HANDSHAKE_H
#define SOCKSIFY_HANDSHAKE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "socks5.h"

struct config;

enum hs_state {
	HS_CONNECT, /* connect() to the proxy not issued yet */
	HS_SEND, /* flushing out[] */
	HS_RECV_METHOD,
	HS_RECV_AUTH,
	HS_RECV_REPLY,
	HS_DONE,
	HS_FAILED,
};

enum hs_result { HS_WANT_READ, HS_WANT_WRITE, HS_OK, HS_ERROR };

struct handshake {
	enum hs_state state, after_send;
	const struct config *cfg;
	const struct sockaddr *proxy; /* in the socket's own family */
	socklen_t proxylen;
	uint8_t cmd; /* SOCKS5_CMD_* */
	int pipelined; /* greeting and request went out in one segment */
	int stalled; /* failed because the proxy never answered a pipelined request */
	int reached; /* the first bytes went out: the proxy was reached */
	int got_reply; /* pipelined: the method choice came with the reply */
	long long sent_ms; /* when the greeting was queued */
	long long stall_at_ms; /* pipelined, method chosen: give up waiting for the reply then (0: never) */
	struct socks5_addr target;
	uint8_t out[SOCKS5_AUTH_REQUEST_MAX + SOCKS5_REQUEST_MAX];
	size_t out_len, out_off;
	uint8_t in[2 + SOCKS5_REQUEST_MAX]; /* pipelined: method choice and reply together */
	size_t in_len;
	uint8_t rep; /* the proxy's REP once received */
	struct socks5_addr bound; /* BND.ADDR/BND.PORT of a successful reply */
	int err; /* errno for the program when state == HS_FAILED */
	char why[160]; /* for the log line */
};

void handshake_init(struct handshake *hs, const struct config *cfg, const struct sockaddr *proxy,
		    socklen_t proxylen, uint8_t cmd, const struct socks5_addr *target);

/* Advances as far as possible without blocking. */
enum hs_result handshake_step(struct handshake *hs, int fd);

/* Drives the machine to the end, waiting with poll() until deadline_ms
 * (CLOCK_MONOTONIC). Returns 0, or an errno (ETIMEDOUT at the deadline). */
int handshake_run(struct handshake *hs, int fd, long long deadline_ms);

/* The time (CLOCK_MONOTONIC ms) at which a pipelined request counts as
 * stalled, or 0 if no such timer runs. An event loop waits no longer. */
long long handshake_timer(const struct handshake *hs);

/* At or past the timer: fails hs with stalled = 1 (the caller retries on a
 * fresh connection; this process pipelines no more) and returns 1; else 0. */
int handshake_check_timer(struct handshake *hs, long long now_ms);

/* Undoes fd's connection to the proxy (connect AF_UNSPEC): the socket can be
 * connected again, as after a failed connect(). */
void handshake_dissolve(int fd);

/* After a stall: a fresh connection on fd and the same request, not pipelined
 * (handshake_check_timer already stopped pipelining for the process). */
void handshake_restart(struct handshake *hs, int fd);

long long monotonic_ms(void);

#endif
