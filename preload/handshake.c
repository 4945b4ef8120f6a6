/* handshake.c - the client side over a chain of hops: SOCKS5 (RFC 1928, RFC 1929 auth),
 * SOCKS4/4a, HTTP CONNECT. */
#include "handshake.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "fork.h"
#include "log.h"
#include "real.h"
#include "routelist.h"

/* Set once a proxy stalled on a pipelined request; one owner: this atomic. */
static atomic_int pipeline_refused;

/* Per chain (SOCKSIFY_PROXY's, then each SOCKSIFY_ROUTE route's: config.chain_slot) ... */
#define CHAIN_SLOTS (1 + ROUTELIST_MAX)

/* ... failover: until when (CLOCK_MONOTONIC ms) each chain position counts as dead;
 * one owner per slot: these atomics. Dead hops are tried last, not never. */
static atomic_llong dead_until[CHAIN_SLOTS][PROXY_CHAIN_MAX];

/* ... round_robin: the next connection's start, chain_len hops after this one's (proxychains'
 * round_robin_chain: the hop after the previous chain's last); one owner: this atomic (a forked
 * child goes on from its copy). */
static atomic_uint round_robin_next[CHAIN_SLOTS];

/* SOCKSIFY_ISOLATE: the login of this process, made at its first use (again in
 * a forked child: the pid differs). Written under the lock, then read-only. */
static struct {
	char user[64], pass[33];
} isolation;
static atomic_int isolation_pid;
static pthread_mutex_t isolation_lock = PTHREAD_MUTEX_INITIALIZER;

/* How long a pipelined CONNECT may wait for its reply after the method choice
 * arrived: several greeting round trips, and never less than this. */
#define STALL_MIN_MS 200
#define STALL_RTTS 4

/* The configured hops: the chain, or (a config filled in by hand) its url alone. */
static const struct proxy_url *chain_hops(const struct config *c, int *n)
{
	*n = c->chain.n ? (int)c->chain.n : 1;
	return c->chain.n ? c->chain.hop : &c->url;
}

/* A socks5 hop without a login that SOCKSIFY_ISOLATE gives this process's. */
static int isolated(const struct config *c, const struct proxy_url *u)
{
	return c->isolate && !u->has_auth && proxy_url_is_socks5(u);
}

static void isolation_make(pid_t pid)
{
	uint8_t r[16];
	static const char hex[] = "0123456789abcdef";
	ssize_t got = getrandom(r, sizeof r, 0);
	if (got != (ssize_t)sizeof r) { /* no getrandom (old kernel): unique still, if guessable */
		long long t = monotonic_ms() ^ (long long)pid << 32;
		for (size_t i = 0; i < sizeof r; i++)
			r[i] = (uint8_t)(t >> (i % 8 * 8)) ^ (uint8_t)i;
	}
	for (size_t i = 0; i < sizeof r; i++) {
		isolation.pass[2 * i] = hex[r[i] >> 4];
		isolation.pass[2 * i + 1] = hex[r[i] & 15];
	}
	isolation.pass[2 * sizeof r] = '\0';
	snprintf(isolation.user, sizeof isolation.user, "socksify-%d-%lld", (int)pid, (long long)time(NULL));
	log_info("isolation: socks5 hops without a login get user '%s' in this process", isolation.user);
}

/* This process's isolation login (user, password), made on first use. */
static void isolation_get(const char **user, const char **pass)
{
	pid_t pid = getpid();
	if (atomic_load_explicit(&isolation_pid, memory_order_acquire) != pid) {
		pthread_mutex_lock(&isolation_lock);
		if (atomic_load_explicit(&isolation_pid, memory_order_relaxed) != pid) {
			isolation_make(pid);
			atomic_store_explicit(&isolation_pid, pid, memory_order_release);
		}
		pthread_mutex_unlock(&isolation_lock);
	}
	*user = isolation.user;
	*pass = isolation.pass;
}

void handshake_fork(enum fork_phase phase)
{
	if (phase == FORK_PREPARE)
		pthread_mutex_lock(&isolation_lock);
	else if (phase == FORK_PARENT)
		pthread_mutex_unlock(&isolation_lock);
	else
		pthread_mutex_init(&isolation_lock, NULL);
}

/* The login for socks5 hop u: its own, or the isolation one; 0 when none. */
static int hop_login(const struct config *c, const struct proxy_url *u, const char **user, const char **pass)
{
	if (u->has_auth) {
		*user = u->user;
		*pass = u->pass;
		return 1;
	}
	if (!isolated(c, u))
		return 0;
	isolation_get(user, pass);
	return 1;
}

static int may_pipeline(const struct config *c, uint8_t cmd)
{
	if (cmd != SOCKS5_CMD_CONNECT || c->url.has_auth || isolated(c, &c->url) || c->pipeline == CONFIG_PIPELINE_OFF)
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

/* why, formatted, cut to fit. */
static void __attribute__((format(printf, 2, 3))) set_why(struct handshake *hs, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(hs->why, sizeof hs->why, fmt, ap);
	va_end(ap);
}

/* "hop 2 (socks5://localhost:1080)" for chain position pos, for a why. */
static void hop_name(const struct handshake *hs, int pos, char *buf, size_t cap)
{
	int n;
	const struct proxy_url *hops = chain_hops(hs->cfg, &n);
	char url[200];
	proxy_url_format_safe(&hops[pos], url, sizeof url);
	snprintf(buf, cap, "hop %d (%s)", pos + 1, url);
}

/* Fails hs: the errno for the program, and why for the log line. A failure
 * while speaking to a hop of a chain names it, and blames it (failover drops it). */
static enum hs_result __attribute__((format(printf, 3, 4))) fail(struct handshake *hs, int err, const char *fmt, ...)
{
	char msg[sizeof hs->why], hop[260];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	hs->state = HS_FAILED;
	hs->err = err;
	hs->blame = -1;
	if (hs->nchain < 2) {
		set_why(hs, "%s", msg);
		return HS_ERROR;
	}
	hs->blame = hs->path[hs->hop];
	hop_name(hs, hs->blame, hop, sizeof hop);
	set_why(hs, "%s: %s", hop, msg);
	return HS_ERROR;
}

/* A failure that no hop is to blame for (a request that cannot be made). */
static enum hs_result __attribute__((format(printf, 3, 4)))
fail_request(struct handshake *hs, int err, const char *fmt, ...)
{
	char msg[sizeof hs->why];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	fail(hs, err, "%s", msg);
	hs->blame = -1;
	return HS_ERROR;
}

/* The hop refused or failed the CONNECT it was asked for: the next hop is
 * dead (failover drops it), or, from the last hop, the target cannot be reached. */
static enum hs_result fail_reply(struct handshake *hs, int err, const char *text)
{
	char hop[260], next[260];
	if (hs->nchain < 2 || hs->hop + 1 == hs->nhops) {
		fail(hs, err, "proxy answered: %s", text);
		hs->blame = -1;
		return HS_ERROR;
	}
	fail(hs, err, "%s", text);
	hs->blame = hs->path[hs->hop + 1];
	hop_name(hs, hs->path[hs->hop], hop, sizeof hop);
	hop_name(hs, hs->blame, next, sizeof next);
	set_why(hs, "%s cannot reach %s: %s", hop, next, text);
	return HS_ERROR;
}

void handshake_fail_timeout(struct handshake *hs)
{
	fail(hs, ETIMEDOUT, "%s", hs->nchain < 2 ? "proxy did not answer in time (SOCKSIFY_TIMEOUT)"
						: "no answer in time (SOCKSIFY_TIMEOUT)");
	hs->blame = -1; /* the deadline is the whole connect's: nothing is left to try */
}

int handshake_single_socks5(const struct config *cfg, char *why, size_t cap)
{
	int n;
	const struct proxy_url *hops = chain_hops(cfg, &n);
	if (n == 1 && proxy_url_is_socks5(hops))
		return 1;
	if (n > 1)
		snprintf(why, cap, "a chain of %d proxies", n);
	else
		snprintf(why, cap, "a%s %s:// proxy", hops->scheme == PROXY_HTTP ? "n" : "",
			 proxy_scheme_name(hops->scheme));
	return 0;
}

/* random and round_robin: a path of chain_len hops; else all of them. */
static int selects(const struct config *c)
{
	return c->chain_mode == CONFIG_CHAIN_RANDOM || c->chain_mode == CONFIG_CHAIN_ROUND_ROBIN;
}

/* The order in which chain positions are taken: in order, from the
 * round_robin start, or (random) shuffled with bytes from getrandom. */
static void hop_order(const struct handshake *hs, int n, uint8_t *order)
{
	uint8_t r[PROXY_CHAIN_MAX];
	for (int i = 0; i < n; i++)
		order[i] = (uint8_t)((i + hs->rr_start) % n);
	if (hs->cfg->chain_mode != CONFIG_CHAIN_RANDOM)
		return;
	if (getrandom(r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) /* old kernel, or too early in boot: the clock */
		for (int i = 0; i < n; i++)
			r[i] = (uint8_t)(monotonic_ms() >> i ^ (unsigned)i * 37u);
	for (int i = n - 1; i > 0; i--) { /* Fisher-Yates; the modulo bias of a byte is harmless here */
		int j = r[i] % (i + 1);
		uint8_t t = order[i];
		order[i] = order[j];
		order[j] = t;
	}
}

/* The path: the chain's positions in order (random, round_robin: chain_len of
 * them in their order), without those found dead in this connect and, if that
 * leaves enough, without those remembered dead. */
static int build_path(struct handshake *hs)
{
	int n;
	uint8_t order[PROXY_CHAIN_MAX];
	chain_hops(hs->cfg, &n);
	int take = selects(hs->cfg) ? hs->cfg->chain_len : n, need = selects(hs->cfg) ? take : 1;
	long long now = hs->failover ? monotonic_ms() : 0;
	hop_order(hs, n, order);
	for (int pass = 0; pass < 2; pass++) {
		hs->nhops = 0;
		for (int k = 0; k < n && hs->nhops < take; k++) {
			int i = order[k];
			if (hs->excluded >> i & 1)
				continue;
			if (pass == 0 && hs->failover &&
			    atomic_load_explicit(&dead_until[hs->cfg->chain_slot][i], memory_order_relaxed) > now)
				continue;
			hs->path[hs->nhops++] = (uint8_t)i;
		}
		if (hs->nhops >= need)
			return 1;
	}
	return 0;
}

/* A hop other than the chain's first starts a failover path: resolve it here
 * (it must be reached directly now), in the family of the socket. */
static int resolve_first(struct handshake *hs, const struct proxy_url *u)
{
	int family = hs->proxy->sa_family;
	struct addrinfo hints = { .ai_family = family, .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_NUMERICSERV | (family == AF_INET6 ? AI_V4MAPPED : 0) };
	struct addrinfo *res = NULL;
	char port[8];
	snprintf(port, sizeof port, "%u", u->port);
	int rc = REAL(getaddrinfo)(u->host, port, &hints, &res);
	if (rc != 0 || !res || res->ai_addrlen > sizeof hs->first_addr) {
		log_warn("failover: cannot resolve proxy host '%s' of hop %d: %s", u->host,
			 (int)(u - chain_hops(hs->cfg, &family)) + 1, rc ? gai_strerror(rc) : "no address");
		if (res)
			REAL(freeaddrinfo)(res);
		return -1;
	}
	memcpy(&hs->first_addr, res->ai_addr, res->ai_addrlen);
	hs->first_len = res->ai_addrlen;
	REAL(freeaddrinfo)(res);
	return 0;
}

/* Chooses the path and where it starts. 0 when no hop is left. */
static int choose_path(struct handshake *hs)
{
	int n;
	const struct proxy_url *hops = chain_hops(hs->cfg, &n);
	while (build_path(hs)) {
		hs->first_len = 0;
		if (hs->path[0] == 0 || resolve_first(hs, &hops[hs->path[0]]) == 0)
			return 1;
		hs->excluded |= 1u << hs->path[0];
	}
	return 0;
}

void handshake_init(struct handshake *hs, const struct config *cfg, const struct sockaddr *proxy,
		    socklen_t proxylen, uint8_t cmd, const struct socks5_addr *target)
{
	char why[64];
	memset(hs, 0, offsetof(struct handshake, out));
	hs->cfg = cfg;
	hs->proxy = proxy;
	hs->proxylen = proxylen;
	hs->cmd = cmd;
	hs->target = *target;
	hs->state = HS_CONNECT;
	hs->out_len = hs->out_off = hs->in_len = 0;
	hs->blame = -1;
	chain_hops(cfg, &hs->nchain);
	hs->failover = hs->nchain > 1 && cfg->chain_mode != CONFIG_CHAIN_STRICT;
	hs->pipelined = hs->nchain == 1 && may_pipeline(cfg, cmd);
	if (cmd != SOCKS5_CMD_CONNECT && !handshake_single_socks5(cfg, why, sizeof why)) {
		fail_request(hs, EOPNOTSUPP, "%s", "");
		set_why(hs, "%s needs a single socks5:// proxy; SOCKSIFY_PROXY is %s",
			 cmd == SOCKS5_CMD_BIND ? "BIND" : "UDP", why);
		return;
	}
	if (hs->nchain == 1) { /* the single proxy: no path to choose */
		hs->nhops = 1;
		hs->hop_url = chain_hops(cfg, &hs->nchain);
		return;
	}
	if (selects(cfg) && cfg->chain_len > hs->nchain) {
		fail_request(hs, ECONNREFUSED, "%s", "");
		if (cfg->chain_slot)
			set_why(hs, "SOCKSIFY_CHAIN_LEN=%d, but route %d of SOCKSIFY_ROUTE has only %d hops", cfg->chain_len,
				cfg->chain_slot, hs->nchain);
		else
			set_why(hs, "SOCKSIFY_CHAIN_LEN=%d, but SOCKSIFY_PROXY has only %d hops", cfg->chain_len, hs->nchain);
		return;
	}
	if (cfg->chain_mode == CONFIG_CHAIN_ROUND_ROBIN) {
		atomic_uint *next = &round_robin_next[cfg->chain_slot];
		unsigned start = atomic_fetch_add_explicit(next, (unsigned)cfg->chain_len, memory_order_relaxed);
		hs->rr_start = (int)(start % (unsigned)hs->nchain);
	}
	if (!choose_path(hs)) { /* only when no hop could be resolved to start from */
		fail_request(hs, ECONNREFUSED, "%s", "");
		set_why(hs, "%s", "no hop of the chain can be reached (none resolves)");
	} else if (selects(cfg) && log_get_level() >= LOG_LVL_DEBUG) {
		char path[2 * PROXY_CHAIN_MAX + 1]; /* "3,1": hop numbers have one digit */
		size_t off = 0;
		for (int i = 0; i < hs->nhops; i++)
			off += (size_t)snprintf(path + off, sizeof path - off, "%s%d", i ? "," : "", hs->path[i] + 1);
		log_debug("%s chain: this connection goes through hops %s",
			  cfg->chain_mode == CONFIG_CHAIN_RANDOM ? "random" : "round_robin", path);
	}
}

static void queue(struct handshake *hs, ssize_t n, enum hs_state next)
{
	hs->out_len = (size_t)n;
	hs->out_off = 0;
	hs->state = HS_SEND;
	hs->after_send = next;
}

/* The command for the hop spoken to: CONNECT to the next hop, or the request itself. */
static uint8_t hop_cmd(const struct handshake *hs)
{
	return hs->hop + 1 < hs->nhops ? SOCKS5_CMD_CONNECT : hs->cmd;
}

static enum hs_result queue_greeting(struct handshake *hs)
{
	static const uint8_t noauth[] = { SOCKS5_METHOD_NOAUTH };
	static const uint8_t both[] = { SOCKS5_METHOD_NOAUTH, SOCKS5_METHOD_USERPASS };
	const char *user, *pass;
	int auth = hop_login(hs->cfg, hs->hop_url, &user, &pass);
	ssize_t n = socks5_encode_greeting(hs->out, sizeof hs->out, auth ? both : noauth, auth ? 2 : 1);
	if (n < 0)
		return fail(hs, ECONNREFUSED, "%s", "cannot encode the greeting");
	if (hs->pipelined) {
		ssize_t r = socks5_encode_request(hs->out + n, sizeof hs->out - (size_t)n, hs->cmd, &hs->next);
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
	ssize_t n = socks5_encode_request(hs->out, sizeof hs->out, hop_cmd(hs), &hs->next);
	if (n < 0)
		return fail_request(hs, EINVAL, "%s", "cannot encode the request");
	queue(hs, n, HS_RECV_REPLY);
	return HS_WANT_WRITE;
}

static enum hs_result queue_socks4(struct handshake *hs)
{
	const struct proxy_url *u = hs->hop_url;
	const char *kind = proxy_scheme_name(u->scheme);
	char t[300];
	socks5_addr_format(&hs->next, t, sizeof t);
	if (hs->next.atyp == SOCKS5_ATYP_IPV6)
		return fail_request(hs, EAFNOSUPPORT, "%s:// cannot carry an IPv6 destination (%s)", kind, t);
	if (hs->next.atyp == SOCKS5_ATYP_DOMAIN && u->scheme == PROXY_SOCKS4)
		return fail_request(hs, EAFNOSUPPORT,
				    "socks4:// cannot carry a host name (%s): use socks4a://, or SOCKSIFY_DNS=local", t);
	ssize_t n = socks4_encode_request(hs->out, sizeof hs->out, SOCKS4_CMD_CONNECT, &hs->next,
					  u->has_auth ? u->user : NULL);
	if (n < 0)
		return fail_request(hs, EINVAL, "cannot encode the SOCKS4 request for %s", t);
	queue(hs, n, HS_RECV_SOCKS4);
	return HS_WANT_WRITE;
}

static enum hs_result queue_http(struct handshake *hs)
{
	const struct proxy_url *u = hs->hop_url;
	char t[300];
	ssize_t n = http_connect_encode(hs->out, sizeof hs->out, &hs->next, u->has_auth ? u->user : NULL, u->pass);
	if (n < 0) {
		socks5_addr_format(&hs->next, t, sizeof t);
		return fail_request(hs, EINVAL, "cannot encode the HTTP CONNECT request for %s", t);
	}
	queue(hs, n, HS_RECV_HTTP);
	return HS_WANT_WRITE;
}

/* A hop given by name is reached by name: only the hop before resolves it. */
static void hop_addr(const struct proxy_url *u, struct socks5_addr *out)
{
	memset(out, 0, sizeof *out);
	if (inet_pton(AF_INET, u->host, out->u.ipv4) == 1)
		out->atyp = SOCKS5_ATYP_IPV4;
	else if (inet_pton(AF_INET6, u->host, out->u.ipv6) == 1)
		out->atyp = SOCKS5_ATYP_IPV6;
	else
		socks5_addr_set_domain(out, u->host, u->port);
	out->port = u->port;
}

/* Speaks to hop hs->hop (connected to it, through the hops before): its first message. */
static enum hs_result start_hop(struct handshake *hs)
{
	int n;
	const struct proxy_url *hops = chain_hops(hs->cfg, &n);
	hs->hop_url = &hops[hs->path[hs->hop]];
	if (hs->hop + 1 < hs->nhops)
		hop_addr(&hops[hs->path[hs->hop + 1]], &hs->next);
	else
		hs->next = hs->target;
	switch (hs->hop_url->scheme) {
	case PROXY_SOCKS4:
	case PROXY_SOCKS4A:
		return queue_socks4(hs);
	case PROXY_HTTP:
		return queue_http(hs);
	default:
		return queue_greeting(hs);
	}
}

static enum hs_result queue_auth(struct handshake *hs)
{
	const char *user = "", *pass = "";
	hop_login(hs->cfg, hs->hop_url, &user, &pass);
	ssize_t n = socks5_encode_auth_request(hs->out, sizeof hs->out, user, strlen(user), pass, strlen(pass));
	if (n < 0)
		return fail_request(hs, EACCES, "%s", "cannot encode the username/password");
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
		/* SOCKS replies are short: peek no more than the longest (an HTTP head may fill in[]) */
		size_t cap = hs->state == HS_RECV_HTTP ? sizeof hs->in : 2 + SOCKS5_REQUEST_MAX;
		size_t room = cap - hs->in_len;
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
			fail(hs, ECONNREFUSED, "%s",
			     hs->state == HS_RECV_HTTP	  ? "proxy sent a malformed HTTP response, or a head over 4096 bytes"
			     : hs->state == HS_RECV_SOCKS4 ? "proxy sent a malformed SOCKS4 reply"
							   : "proxy sent a malformed reply");
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

static ssize_t decode_socks4(struct handshake *hs, const uint8_t *b, size_t len)
{
	return socks4_decode_reply(b, len, &hs->rep, &hs->bound);
}

static ssize_t decode_http(struct handshake *hs, const uint8_t *b, size_t len)
{
	return http_connect_decode_head(b, len, &hs->http_status);
}

static enum hs_result on_method(struct handshake *hs)
{
	const char *user, *pass;
	int login = hop_login(hs->cfg, hs->hop_url, &user, &pass);
	if (hs->rep == SOCKS5_METHOD_NOAUTH)
		return queue_request(hs);
	if (hs->rep == SOCKS5_METHOD_USERPASS && login)
		return queue_auth(hs);
	if (hs->rep == SOCKS5_METHOD_NONE_ACCEPTABLE)
		return fail(hs, EACCES, "%s",
			    login ? "proxy accepts none of our methods (no-auth, username/password)"
						  : "proxy requires authentication; put user:pass@ in the proxy URL");
	return fail(hs, ECONNREFUSED, "%s", "proxy chose a method we did not offer");
}

static enum hs_result on_auth(struct handshake *hs)
{
	const char *user = "", *pass;
	hop_login(hs->cfg, hs->hop_url, &user, &pass);
	if (hs->rep != SOCKS5_AUTH_SUCCESS)
		return fail(hs, EACCES, "proxy rejected username/password for user '%.60s'", user);
	return queue_request(hs);
}

/* The hop did what it was asked: on to the next hop, or done. */
static enum hs_result hop_done(struct handshake *hs)
{
	if (hs->hop + 1 < hs->nhops) {
		hs->hop++;
		if (hs->failover)
			hs->hop_since_ms = monotonic_ms();
		return start_hop(hs);
	}
	hs->state = HS_DONE;
	return HS_OK;
}

static enum hs_result on_reply(struct handshake *hs)
{
	hs->replied = 1;
	if (hs->rep != SOCKS5_REP_SUCCEEDED) {
		char t[80];
		snprintf(t, sizeof t, "%s (REP %u)", socks5_rep_str(hs->rep), hs->rep);
		return fail_reply(hs, socks5_rep_to_errno(hs->rep), t);
	}
	return hop_done(hs);
}

static enum hs_result on_socks4(struct handshake *hs)
{
	if (hs->rep != SOCKS4_REP_GRANTED) {
		char t[100];
		snprintf(t, sizeof t, "%s (SOCKS4 code %u)", socks4_code_str(hs->rep), hs->rep);
		return fail_reply(hs, socks4_code_to_errno(hs->rep), t);
	}
	return hop_done(hs);
}

/* The status line of the head in hs->in, printable bytes only. */
static void status_line(const struct handshake *hs, char *buf, size_t cap)
{
	size_t o = 0;
	for (size_t i = 0; i < sizeof hs->in && hs->in[i] != '\r' && o + 1 < cap && o < 120; i++)
		buf[o++] = hs->in[i] >= 0x20 && hs->in[i] < 0x7f ? (char)hs->in[i] : '?';
	buf[o] = '\0';
}

static enum hs_result on_http(struct handshake *hs)
{
	char line[130], t[200];
	int st = hs->http_status;
	if (st >= 100 && st <= 199) { /* interim: the real answer follows */
		hs->state = HS_RECV_HTTP;
		return HS_WANT_READ;
	}
	if (st >= 200 && st <= 299)
		return hop_done(hs);
	status_line(hs, line, sizeof line);
	if (st == 407 || st == 401) /* 401: tinyproxy's word for it */
		return fail(hs, EACCES, "%s ('%s')",
			    hs->hop_url->has_auth ? "proxy rejected username/password"
						  : "proxy requires authentication; put user:pass@ in the proxy URL",
			    line);
	snprintf(t, sizeof t, "'%s'", line);
	return fail_reply(hs, http_status_to_errno(st), t);
}

/* Connects and queues the greeting at once: the first send() finds out
 * whether the connection is up (EAGAIN: not yet, wait to write; an error:
 * the proxy cannot be reached), which saves a wait and a SO_ERROR look
 * whenever the connection is made at once, as on loopback. */
static enum hs_result step_connect(struct handshake *hs, int fd)
{
	const struct sockaddr *to = hs->first_len ? (const struct sockaddr *)&hs->first_addr : hs->proxy;
	socklen_t tolen = hs->first_len ? hs->first_len : hs->proxylen;
	if (hs->first_len && to->sa_family == AF_INET6) {
		int off = 0; /* a v4-mapped first hop: as tcp.c does for the chain's own first */
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
	}
	if (REAL(connect)(fd, to, tolen) < 0 && errno != EINPROGRESS && errno != EINTR)
		return fail(hs, ECONNREFUSED, "cannot reach the proxy: %s", strerror(errno));
	if (hs->failover)
		hs->hop_since_ms = monotonic_ms();
	hs->hop = 0;
	return start_hop(hs);
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

static decode_fn decoder(const struct handshake *hs)
{
	switch (hs->state) {
	case HS_RECV_METHOD:
		return hs->pipelined ? decode_method_reply : decode_method;
	case HS_RECV_AUTH:
		return decode_auth;
	case HS_RECV_SOCKS4:
		return decode_socks4;
	case HS_RECV_HTTP:
		return decode_http;
	default:
		return decode_reply;
	}
}

static enum hs_result on_message(struct handshake *hs)
{
	if (hs->got_reply)
		return on_reply(hs);
	switch (hs->state) {
	case HS_RECV_METHOD:
		return on_method(hs);
	case HS_RECV_AUTH:
		return on_auth(hs);
	case HS_RECV_SOCKS4:
		return on_socks4(hs);
	case HS_RECV_HTTP:
		return on_http(hs);
	default:
		return on_reply(hs);
	}
}

static enum hs_result advance(struct handshake *hs, int fd)
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
		case HS_RECV_SOCKS4:
		case HS_RECV_HTTP:
			n = recv_message(hs, fd, decoder(hs));
			if (n < 0)
				return HS_ERROR;
			if (n == 0)
				return HS_WANT_READ;
			r = on_message(hs);
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

/* Failover: the hop blamed is dead. Rebuild the path without it on a fresh
 * connection of fd; 0 when no hop is left (hs stays failed). */
static int failover(struct handshake *hs, int fd)
{
	char hop[260];
	int dead = hs->blame;
	hs->blame = -1;
	atomic_store_explicit(&dead_until[hs->cfg->chain_slot][dead], monotonic_ms() + HS_DEAD_HOP_MS, memory_order_relaxed);
	hs->excluded |= 1u << dead;
	hop_name(hs, dead, hop, sizeof hop);
	const char *mode = hs->cfg->chain_mode == CONFIG_CHAIN_RANDOM	     ? "random"
			   : hs->cfg->chain_mode == CONFIG_CHAIN_ROUND_ROBIN ? "round_robin"
									     : "failover";
	if (!choose_path(hs)) {
		char last[sizeof hs->why];
		snprintf(last, sizeof last, "%s", hs->why);
		if (selects(hs->cfg))
			set_why(hs, "fewer than SOCKSIFY_CHAIN_LEN=%d hops of the %s chain are alive; the last dead: %s",
				hs->cfg->chain_len, mode, last);
		else
			set_why(hs, "every hop of the failover chain is dead; the last: %s", last);
		return 0;
	}
	log_warn("%s: %s is dead (%s); trying the chain without it", mode, hop, hs->why);
	handshake_dissolve(fd);
	hs->state = HS_CONNECT;
	hs->out_len = hs->out_off = hs->in_len = 0;
	hs->reached = hs->got_reply = 0;
	hs->hop = 0;
	hs->err = 0;
	hs->why[0] = '\0';
	return 1;
}

enum hs_result handshake_step(struct handshake *hs, int fd)
{
	for (;;) {
		enum hs_result r = advance(hs, fd);
		if (r != HS_ERROR || !hs->failover || hs->blame < 0 || !failover(hs, fd))
			return r;
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
	handshake_dissolve(fd); /* a single proxy's stall: hs->proxy is where it is */
	handshake_init(hs, hs->cfg, hs->proxy, hs->proxylen, hs->cmd, &target);
}

static long long stall_timer(const struct handshake *hs)
{
	return hs->state == HS_RECV_METHOD || hs->state == HS_RECV_REPLY ? hs->stall_at_ms : 0;
}

/* Waiting for the last hop's answer about the target: that takes what it takes. */
static int awaits_target_reply(const struct handshake *hs)
{
	return hs->hop + 1 == hs->nhops &&
	       (hs->state == HS_RECV_REPLY || hs->state == HS_RECV_SOCKS4 || hs->state == HS_RECV_HTTP);
}

/* The hops a connection goes through: the chain, or (random, round_robin) chain_len of them. */
static int path_len(const struct handshake *hs)
{
	return selects(hs->cfg) ? hs->cfg->chain_len : hs->nchain;
}

static int hop_budget_ms(const struct handshake *hs)
{
	int ms = hs->cfg->timeout_ms / path_len(hs);
	return ms > 100 ? ms : 100;
}

/* Failover: a hop that does not answer within its share of the deadline is dead too. */
static long long hop_timer(const struct handshake *hs)
{
	if (!hs->failover || !hs->hop_since_ms || hs->state == HS_CONNECT || hs->state == HS_DONE ||
	    hs->state == HS_FAILED || awaits_target_reply(hs))
		return 0;
	return hs->hop_since_ms + hop_budget_ms(hs);
}

long long handshake_timer(const struct handshake *hs)
{
	long long s = stall_timer(hs), h = hop_timer(hs);
	return !s ? h : !h ? s : s < h ? s : h;
}

int handshake_check_timer(struct handshake *hs, long long now_ms)
{
	long long stall = stall_timer(hs), hop = hop_timer(hs);
	if (stall && now_ms >= stall) {
		atomic_store_explicit(&pipeline_refused, 1, memory_order_relaxed);
		fail(hs, ETIMEDOUT, "%s", "proxy answered the greeting but not the pipelined request");
		hs->blame = -1;
		hs->stalled = 1;
		return 1;
	}
	if (!hop || now_ms < hop)
		return 0;
	char t[100];
	snprintf(t, sizeof t, "no answer within %d ms (SOCKSIFY_TIMEOUT / %d hops)", hop_budget_ms(hs), path_len(hs));
	if (hs->state == HS_RECV_REPLY || hs->state == HS_RECV_SOCKS4 || hs->state == HS_RECV_HTTP)
		fail_reply(hs, ETIMEDOUT, t); /* its CONNECT to the next hop hangs: that hop is the silent one */
	else
		fail(hs, ETIMEDOUT, "%s", t);
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
			handshake_fail_timeout(hs);
			return ETIMEDOUT;
		}
		if (handshake_check_timer(hs, now)) {
			if (hs->stalled)
				return hs->err;
			continue; /* a silent hop: the next step fails over, or reports it */
		}
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
