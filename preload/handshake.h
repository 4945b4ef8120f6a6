/* handshake.h - the client side of a proxy request (CONNECT, UDP ASSOCIATE, BIND), as a resumable state machine.
 *
 * A machine over the hops of SOCKSIFY_PROXY: it connects to the first hop,
 * speaks that hop's protocol (SOCKS5, SOCKS4/4a, HTTP CONNECT) to have it
 * CONNECT to the next hop (by name when the hop is given by name: only the
 * hop before resolves it), and so on; the last hop gets the request for the
 * target. A single socks5:// hop is exactly the SOCKS5 handshake it always
 * was (greeting and request pipelined when allowed); hops of a chain are
 * spoken to one message at a time. UDP ASSOCIATE and BIND need a single
 * socks5:// hop: otherwise the machine fails at once with EOPNOTSUPP.
 * In failover mode (SOCKSIFY_CHAIN=failover) a dead hop (unreachable, refused
 * by the hop before it, or silent for SOCKSIFY_TIMEOUT / hops) is left out and
 * the chain rebuilt on a fresh connection of the same fd; dead hops are
 * remembered by the process for a while (HS_DEAD_HOP_MS) and tried last.
 * SOCKSIFY_CHAIN=random and round_robin take SOCKSIFY_CHAIN_LEN hops for each
 * connection (random ones in random order; consecutive ones from a start that
 * moves one hop on per connection), and drop dead hops as failover does.
 * With SOCKSIFY_ISOLATE=1, a socks5 hop without a login is given this
 * process's own (a new one after fork), so that Tor isolates its circuits.
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

#include "httpconnect.h"
#include "proxyurl.h"
#include "socks4.h"
#include "socks5.h"

struct config;

enum hs_state {
	HS_CONNECT, /* connect() to the proxy not issued yet */
	HS_SEND, /* flushing out[] */
	HS_RECV_METHOD,
	HS_RECV_AUTH,
	HS_RECV_REPLY,
	HS_RECV_SOCKS4, /* a SOCKS4(a) hop's 8-byte reply */
	HS_RECV_HTTP, /* an HTTP hop's response head */
	HS_DONE,
	HS_FAILED,
};

enum hs_result { HS_WANT_READ, HS_WANT_WRITE, HS_OK, HS_ERROR };

#define HS_DEAD_HOP_MS 30000 /* failover: how long a dead hop is tried last */

#define HS_MAX(a, b) ((a) > (b) ? (a) : (b))
#define HS_OUT_MAX HS_MAX(SOCKS5_AUTH_REQUEST_MAX + SOCKS5_REQUEST_MAX, HS_MAX(SOCKS4_REQUEST_MAX, HTTP_CONNECT_REQUEST_MAX))
#define HS_IN_MAX HS_MAX(2 + SOCKS5_REQUEST_MAX, HTTP_CONNECT_HEAD_MAX)

struct handshake {
	enum hs_state state, after_send;
	const struct config *cfg;
	const struct sockaddr *proxy; /* the first hop of the chain, in the socket's own family */
	socklen_t proxylen;
	socklen_t first_len; /* failover: nonzero when the path starts elsewhere (at first_addr) */
	uint8_t cmd; /* SOCKS5_CMD_* */
	int pipelined; /* greeting and request went out in one segment */
	int stalled; /* failed because the proxy never answered a pipelined request */
	int reached; /* the first bytes went out: the proxy was reached */
	int got_reply; /* pipelined: the method choice came with the reply */
	long long sent_ms; /* when the greeting was queued */
	long long stall_at_ms; /* pipelined, method chosen: give up waiting for the reply then (0: never) */
	int nchain; /* hops in the configured chain (1: a single proxy) */
	int failover; /* a chain whose dead hops are dropped: SOCKSIFY_CHAIN=failover, random, round_robin */
	int rr_start; /* round_robin: the chain position this connection starts from */
	int nhops, hop; /* hops on the path in use; the one being spoken to (0: connected to) */
	uint8_t path[PROXY_CHAIN_MAX]; /* the path: chain positions (failover leaves dead hops out) */
	unsigned excluded; /* chain positions found dead during this connect */
	int blame; /* the chain position a failure shows dead (failover drops it), or -1 */
	const struct proxy_url *hop_url; /* the hop being spoken to */
	struct socks5_addr next; /* what it is asked to reach: the next hop, or the target */
	int http_status;
	long long hop_since_ms; /* failover: when the hop being spoken to was connected to */
	struct socks5_addr target;
	uint8_t rep; /* the proxy's REP once received (SOCKS4: CD) */
	int replied; /* a SOCKS5 request's reply was read: rep is its REP */
	struct socks5_addr bound; /* BND.ADDR/BND.PORT of a successful reply */
	int err; /* errno for the program when state == HS_FAILED */
	char why[512]; /* for the log line */
	uint8_t out[HS_OUT_MAX];
	size_t out_len, out_off;
	uint8_t in[HS_IN_MAX]; /* pipelined: method choice and reply together; an HTTP head */
	size_t in_len;
	struct sockaddr_storage first_addr;
};

void handshake_init(struct handshake *hs, const struct config *cfg, const struct sockaddr *proxy,
		    socklen_t proxylen, uint8_t cmd, const struct socks5_addr *target);

/* Advances as far as possible without blocking. */
enum hs_result handshake_step(struct handshake *hs, int fd);

/* 1 when cfg's proxy is a single socks5:// (socks5h://) hop, the only kind that
 * carries UDP ASSOCIATE and BIND; else 0, with what it is in why ("a chain of
 * 3 proxies", "an http:// proxy") for a log line. */
int handshake_single_socks5(const struct config *cfg, char *why, size_t cap);

/* Fails hs at its deadline: ETIMEDOUT, and a why naming the hop of a chain. */
void handshake_fail_timeout(struct handshake *hs);

/* Drives the machine to the end, waiting with poll() until deadline_ms
 * (CLOCK_MONOTONIC). Returns 0, or an errno (ETIMEDOUT at the deadline). */
int handshake_run(struct handshake *hs, int fd, long long deadline_ms);

/* The time (CLOCK_MONOTONIC ms) at which a pipelined request counts as
 * stalled, or a failover chain's hop as silent (it had SOCKSIFY_TIMEOUT / hops
 * to answer), or 0 if no such timer runs. An event loop waits no longer. */
long long handshake_timer(const struct handshake *hs);

/* At or past the timer: fails hs and returns 1; else 0. After a stall,
 * stalled = 1: the caller retries on a fresh connection (this process
 * pipelines no more). After a silent hop, the caller steps hs again:
 * failover drops the hop and rebuilds the chain, or reports the failure. */
int handshake_check_timer(struct handshake *hs, long long now_ms);

/* Undoes fd's connection to the proxy (connect AF_UNSPEC): the socket can be
 * connected again, as after a failed connect(). */
void handshake_dissolve(int fd);

/* After a stall: a fresh connection on fd and the same request, not pipelined
 * (handshake_check_timer already stopped pipelining for the process). */
void handshake_restart(struct handshake *hs, int fd);

long long monotonic_ms(void);

#endif
