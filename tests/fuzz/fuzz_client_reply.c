/* fuzz_client_reply.c - what a SOCKS5 client reads from the proxy.
 *
 * The input, whole, is given to each client-side decoder (method choice,
 * RFC 1929 status, CONNECT/BIND/UDP ASSOCIATE reply): see codec.h for the
 * invariants; a decoded message must also encode back to the same bytes.
 *
 * Then the input drives the preload library's handshake machine
 * (preload/handshake.c) with fake real_connect/real_send/real_recv instead of
 * a socket: byte 0 picks the request (bit 5: through a strict chain of a
 * socks5, an http and a socks4a hop), byte 1 how the proxy's bytes arrive, the
 * rest are the proxy's bytes (the hops' answers one after the other). However the bytes are split into arrivals, the
 * outcome must be the same, the machine must never ask to wait while bytes
 * sit unread, and it must never consume a byte past the proxy's last reply. */
#include "codec.h"
#include "config.h"
#include "handshake.h"
#include "real.h"

#include <errno.h>
#include <netinet/in.h>
#include <sys/socket.h>

static ssize_t dec_method(const uint8_t *b, size_t n)
{
	return socks5_decode_method_choice(b, n, NULL);
}

static ssize_t dec_auth_reply(const uint8_t *b, size_t n)
{
	return socks5_decode_auth_reply(b, n, NULL);
}

static ssize_t dec_reply(const uint8_t *b, size_t n)
{
	return socks5_decode_reply(b, n, NULL, NULL);
}

static ssize_t dec_resolve_reply(const uint8_t *b, size_t n)
{
	return socks5_decode_resolve_reply(b, n, NULL, NULL);
}

static ssize_t dec_resolve_ptr_reply(const uint8_t *b, size_t n)
{
	return socks5_decode_resolve_ptr_reply(b, n, NULL, NULL);
}

static ssize_t enc_method(uint8_t *b, size_t cap, const void *arg)
{
	return socks5_encode_method_choice(b, cap, *(const uint8_t *)arg);
}

static ssize_t enc_auth_reply(uint8_t *b, size_t cap, const void *arg)
{
	return socks5_encode_auth_reply(b, cap, *(const uint8_t *)arg);
}

struct coded_addr {
	uint8_t code;
	struct socks5_addr addr;
};

static ssize_t enc_reply(uint8_t *b, size_t cap, const void *arg)
{
	const struct coded_addr *c = arg;
	return socks5_encode_reply(b, cap, c->code, &c->addr);
}

static void check_method_choice(const uint8_t *data, size_t size)
{
	uint8_t *buf = fuzz_copy(data, size);
	uint8_t method = 0xa5;
	ssize_t r = socks5_decode_method_choice(buf, size, &method);

	FUZZ_CHECK(r == dec_method(buf, size));
	fuzz_check_decoder(dec_method, data, size, r, 2);
	if (r > 0) {
		FUZZ_CHECK(r == 2 && buf[0] == SOCKS5_VERSION && method == buf[1]);
		fuzz_check_reencode(enc_method, &method, buf, 2, 0);
	} else {
		FUZZ_CHECK(method == 0xa5);
	}
	free(buf);
}

static void check_auth_reply(const uint8_t *data, size_t size)
{
	uint8_t *buf = fuzz_copy(data, size);
	uint8_t status = 0xa5;
	ssize_t r = socks5_decode_auth_reply(buf, size, &status);

	FUZZ_CHECK(r == dec_auth_reply(buf, size));
	fuzz_check_decoder(dec_auth_reply, data, size, r, 2);
	if (r > 0) {
		/* VER 0x05 is tolerated on input; we always write the RFC 1929 0x01. */
		const uint8_t canonical[2] = { SOCKS5_AUTH_VERSION, buf[1] };
		FUZZ_CHECK(r == 2 && (buf[0] == SOCKS5_AUTH_VERSION || buf[0] == SOCKS5_VERSION));
		FUZZ_CHECK(status == buf[1]);
		fuzz_check_reencode(enc_auth_reply, &status, canonical, 2, 0);
	} else {
		FUZZ_CHECK(status == 0xa5);
	}
	free(buf);
}

/* socks5_addr -> sockaddr -> socks5_addr gives the address back (mapped IPv6 comes back as IPv4). */
static void check_sockaddr_round_trip(const struct socks5_addr *a)
{
	struct sockaddr_storage ss;
	struct socks5_addr back;
	int salen = socks5_addr_to_sockaddr(a, (struct sockaddr *)&ss, sizeof ss);

	if (a->atyp == SOCKS5_ATYP_DOMAIN) {
		FUZZ_CHECK(salen == -1);
		return;
	}
	FUZZ_CHECK(salen > 0);
	FUZZ_CHECK(socks5_addr_from_sockaddr(&back, (struct sockaddr *)&ss, (size_t)salen) == 0);
	FUZZ_CHECK(back.port == a->port);
	if (a->atyp == SOCKS5_ATYP_IPV4) {
		FUZZ_CHECK(back.atyp == SOCKS5_ATYP_IPV4 && memcmp(back.u.ipv4, a->u.ipv4, 4) == 0);
	} else if (back.atyp == SOCKS5_ATYP_IPV4) {
		static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
		FUZZ_CHECK(memcmp(a->u.ipv6, mapped, 12) == 0 && memcmp(back.u.ipv4, a->u.ipv6 + 12, 4) == 0);
	} else {
		FUZZ_CHECK(back.atyp == SOCKS5_ATYP_IPV6 && memcmp(back.u.ipv6, a->u.ipv6, 16) == 0);
	}
}

static void check_reply(const uint8_t *data, size_t size)
{
	uint8_t *buf = fuzz_copy(data, size);
	struct coded_addr c, canary;
	ssize_t r;

	memset(&c, 0xa5, sizeof c);
	canary = c;
	r = socks5_decode_reply(buf, size, &c.code, &c.addr);
	FUZZ_CHECK(r == dec_reply(buf, size));
	fuzz_check_decoder(dec_reply, data, size, r, SOCKS5_REQUEST_MAX);
	if (r <= 0) {
		FUZZ_CHECK(memcmp(&c, &canary, sizeof c) == 0);
		free(buf);
		return;
	}
	/* The preload library reads replies into a SOCKS5_REQUEST_MAX buffer. */
	FUZZ_CHECK(r <= SOCKS5_REQUEST_MAX);
	FUZZ_CHECK(c.code == buf[1]);
	fuzz_check_addr(&c.addr);
	FUZZ_CHECK(r == 3 + socks5_addr_size(&c.addr));
	fuzz_check_reencode(enc_reply, &c, buf, (size_t)r, 1u << 2); /* RSV is ignored, written as 0 */
	check_sockaddr_round_trip(&c.addr);
	for (size_t cap = 0; cap < 8; cap++)
		fuzz_check_format(&c.addr, cap);
	fuzz_check_format(&c.addr, 23);
	fuzz_check_format(&c.addr, 1100);
	FUZZ_CHECK(socks5_rep_str(c.code) != NULL);
	FUZZ_CHECK((socks5_rep_to_errno(c.code) == 0) == (c.code == SOCKS5_REP_SUCCEEDED));
	free(buf);
}

/* ---- the handshake machine over a fake socket ---------------------------- */

#define FAKE_FD 7

static struct fake_net {
	const uint8_t *in; /* what the proxy sends, in order */
	size_t in_len;
	size_t arrived; /* bytes of in that have reached our socket */
	size_t consumed; /* bytes taken by a recv without MSG_PEEK */
	unsigned send_room; /* largest write accepted at once */
	uint8_t sent[2 * (SOCKS5_AUTH_REQUEST_MAX + SOCKS5_REQUEST_MAX) + HTTP_CONNECT_REQUEST_MAX + SOCKS4_REQUEST_MAX];
	size_t sent_len;
	unsigned connects;
} net;

static int fake_connect(int fd, const struct sockaddr *addr, socklen_t len)
{
	FUZZ_CHECK(fd == FAKE_FD && addr != NULL && len > 0);
	net.connects++;
	return 0;
}

static ssize_t fake_send(int fd, const void *buf, size_t len, int flags)
{
	FUZZ_CHECK(fd == FAKE_FD && (flags & MSG_NOSIGNAL) && (flags & MSG_DONTWAIT) && len > 0);
	size_t n = len < net.send_room ? len : net.send_room;
	FUZZ_CHECK(net.sent_len + n <= sizeof net.sent);
	memcpy(net.sent + net.sent_len, buf, n);
	net.sent_len += n;
	return (ssize_t)n;
}

static ssize_t fake_recv(int fd, void *buf, size_t len, int flags)
{
	FUZZ_CHECK(fd == FAKE_FD && (flags & MSG_DONTWAIT));
	size_t ready = net.arrived - net.consumed;
	if (ready == 0) {
		if (net.arrived == net.in_len)
			return 0; /* the proxy closed the connection */
		errno = EAGAIN;
		return -1;
	}
	size_t n = len < ready ? len : ready;
	memcpy(buf, net.in + net.consumed, n);
	if (!(flags & MSG_PEEK))
		net.consumed += n;
	return (ssize_t)n;
}

int (*real_connect)(int fd, const struct sockaddr *addr, socklen_t len) = fake_connect;
ssize_t (*real_send)(int fd, const void *buf, size_t len, int flags) = fake_send;
ssize_t (*real_recv)(int fd, void *buf, size_t len, int flags) = fake_recv;
int (*real_getsockopt)(int fd, int level, int name, void *val, socklen_t *len); /* handshake_run only */
int (*real_poll)(struct pollfd *fds, nfds_t n, int timeout);
/* a failover chain resolves a hop that becomes the first; a single proxy never does */
int (*real_getaddrinfo)(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res);
void (*real_freeaddrinfo)(struct addrinfo *res);

void real_init(void)
{
}

struct outcome {
	enum hs_result result;
	int err;
	uint8_t rep;
	struct socks5_addr bound;
	size_t consumed;
	uint8_t sent[sizeof net.sent];
	size_t sent_len;
};

/* Runs one handshake; arrivals come in chunks drawn from seed (0: all at once). */
static void run_handshake(const struct config *cfg, uint8_t cmd, const struct socks5_addr *target,
			  const uint8_t *in, size_t in_len, unsigned seed, struct outcome *o)
{
	struct sockaddr_in proxy = { .sin_family = AF_INET, .sin_port = htons(1080) };
	struct handshake hs;
	unsigned x = seed;
	enum hs_result r = HS_ERROR;

	memset(&net, 0, sizeof net);
	net.in = in;
	net.in_len = in_len;
	net.arrived = seed ? 0 : in_len;
	net.send_room = seed ? 1 + seed % 5 : ~0u;
	handshake_init(&hs, cfg, (struct sockaddr *)&proxy, sizeof proxy, cmd, target);
	for (int steps = 0;; steps++) {
		FUZZ_CHECK(steps < 16384); /* every step makes progress */
		r = handshake_step(&hs, FAKE_FD);
		if (r == HS_OK || r == HS_ERROR)
			break;
		if (r == HS_WANT_READ) {
			/* Waiting is only right when everything that arrived was taken. */
			FUZZ_CHECK(net.consumed == net.arrived);
			x = x * 1103515245u + 12345u;
			size_t chunk = 1 + (x >> 16) % 9;
			net.arrived += chunk < in_len - net.arrived ? chunk : in_len - net.arrived;
		}
	}
	/* a chain refuses anything but CONNECT before connecting */
	FUZZ_CHECK(net.connects == (cfg->chain.n > 1 && cmd != SOCKS5_CMD_CONNECT ? 0u : 1u));
	FUZZ_CHECK((r == HS_OK) == (hs.state == HS_DONE));
	if (r == HS_ERROR) /* hs.err is meaningful only then (handshake_init leaves it alone) */
		FUZZ_CHECK(hs.err != 0);
	FUZZ_CHECK(memchr(hs.why, '\0', sizeof hs.why) != NULL);
	memset(o, 0, sizeof *o);
	o->result = r;
	o->err = r == HS_ERROR ? hs.err : 0;
	o->rep = hs.rep;
	if (r == HS_OK)
		o->bound = hs.bound;
	o->consumed = net.consumed;
	memcpy(o->sent, net.sent, net.sent_len);
	o->sent_len = net.sent_len;
}

/* What a correct client must have consumed when the handshake succeeded. */
static size_t expected_consumed(const uint8_t *in, size_t len, int used_auth, int chain)
{
	size_t off = 2; /* method choice */
	if (used_auth)
		off += 2;
	FUZZ_CHECK(off <= len);
	ssize_t r = socks5_decode_reply(in + off, len - off, NULL, NULL);
	FUZZ_CHECK(r > 0);
	off += (size_t)r;
	if (!chain)
		return off;
	int status;
	do { /* the http hop: heads up to a 2xx one (1xx are interim) */
		r = http_connect_decode_head(in + off, len - off, &status);
		FUZZ_CHECK(r > 0);
		off += (size_t)r;
	} while (status < 200);
	FUZZ_CHECK(status <= 299);
	r = socks4_decode_reply(in + off, len - off, NULL, NULL); /* the socks4a hop */
	FUZZ_CHECK(r == 8);
	return off + 8;
}

static void check_handshake(const uint8_t *data, size_t size)
{
	static const uint8_t cmds[4] = { SOCKS5_CMD_CONNECT, SOCKS5_CMD_BIND, SOCKS5_CMD_UDP_ASSOCIATE,
					 SOCKS5_CMD_CONNECT };
	static struct config cfg; /* static: it is large */
	struct socks5_addr target;
	struct outcome whole, split;

	if (size < 2)
		return;
	uint8_t ctrl = data[0];
	unsigned seed = data[1] ? data[1] : 1;
	uint8_t *in = fuzz_copy(data + 2, size - 2);
	size_t in_len = size - 2;

	memset(&cfg, 0, sizeof cfg);
	cfg.url.scheme = PROXY_SOCKS5; /* a single socks5:// proxy (chain.n 0: the url alone) */
	cfg.url.has_auth = ctrl & 1;
	cfg.pipeline = (ctrl & 16) ? CONFIG_PIPELINE_ON : CONFIG_PIPELINE_OFF; /* greeting+request at once */
	if (cfg.url.has_auth) {
		strcpy(cfg.url.user, "user");
		strcpy(cfg.url.pass, "secret");
	}
	int chain = (ctrl & 32) != 0;
	if (chain) { /* socks5 -> http://[user:secret@]web.test:3128 -> socks4a://id@10.0.0.3:1080 */
		cfg.chain.n = 3;
		cfg.chain.hop[0] = cfg.url;
		strcpy(cfg.chain.hop[0].host, "10.0.0.1");
		cfg.chain.hop[1] = cfg.url;
		cfg.chain.hop[1].scheme = PROXY_HTTP;
		strcpy(cfg.chain.hop[1].host, "web.test");
		cfg.chain.hop[1].port = 3128;
		cfg.chain.hop[2].scheme = PROXY_SOCKS4A;
		cfg.chain.hop[2].has_auth = 1;
		strcpy(cfg.chain.hop[2].user, "id");
		strcpy(cfg.chain.hop[2].host, "10.0.0.3");
		cfg.chain.hop[2].port = 1080;
		cfg.chain_mode = CONFIG_CHAIN_STRICT;
	}
	if (ctrl & 8) {
		FUZZ_CHECK(socks5_addr_set_domain(&target, "example.com", 443) == 0);
	} else {
		memset(&target, 0, sizeof target);
		target.atyp = SOCKS5_ATYP_IPV4;
		memcpy(target.u.ipv4, "\x0a\x00\x00\x01", 4);
		target.port = 80;
	}
	run_handshake(&cfg, cmds[ctrl >> 1 & 3], &target, in, in_len, 0, &whole);
	run_handshake(&cfg, cmds[ctrl >> 1 & 3], &target, in, in_len, seed, &split);
	if (chain && cmds[ctrl >> 1 & 3] != SOCKS5_CMD_CONNECT) { /* refused before a byte is sent */
		FUZZ_CHECK(whole.result == HS_ERROR && whole.err == EOPNOTSUPP && whole.sent_len == 0);
		FUZZ_CHECK(split.result == HS_ERROR && split.err == EOPNOTSUPP && split.sent_len == 0);
		free(in);
		return;
	}

	FUZZ_CHECK(whole.result == split.result && whole.err == split.err && whole.rep == split.rep);
	/* A failed handshake may have taken some bytes of the bad message: that socket is done for. */
	if (whole.result == HS_OK)
		FUZZ_CHECK(whole.consumed == split.consumed);
	FUZZ_CHECK(whole.sent_len == split.sent_len && memcmp(whole.sent, split.sent, whole.sent_len) == 0);
	FUZZ_CHECK(memcmp(&whole.bound, &split.bound, sizeof whole.bound) == 0);
	/* The greeting always goes first, and is one a server accepts. */
	FUZZ_CHECK(socks5_decode_greeting(whole.sent, whole.sent_len, NULL) > 0);
	if (whole.result == HS_OK) {
		int used_auth = in[1] == SOCKS5_METHOD_USERPASS;
		FUZZ_CHECK(whole.rep == (chain ? SOCKS4_REP_GRANTED : SOCKS5_REP_SUCCEEDED)); /* the last hop's */
		FUZZ_CHECK(whole.consumed == expected_consumed(in, in_len, used_auth, chain));
		fuzz_check_addr(&whole.bound);
	}
	free(in);
}

/* RESOLVE / RESOLVE_PTR replies: a plain reply, refused only when a success
 * answers with the wrong kind of address (a name for RESOLVE, an address for PTR). */
static void check_resolve_replies(const uint8_t *data, size_t size)
{
	uint8_t *buf = fuzz_copy(data, size);
	ssize_t plain = socks5_decode_reply(buf, size, NULL, NULL);

	for (int ptr = 0; ptr <= 1; ptr++) {
		fuzz_decode_fn dec = ptr ? dec_resolve_ptr_reply : dec_resolve_reply;
		struct coded_addr c, canary;
		memset(&c, 0xa5, sizeof c);
		canary = c;
		ssize_t r = ptr ? socks5_decode_resolve_ptr_reply(buf, size, &c.code, &c.addr)
				: socks5_decode_resolve_reply(buf, size, &c.code, &c.addr);
		FUZZ_CHECK(r == dec(buf, size));
		fuzz_check_decoder(dec, data, size, r, SOCKS5_REQUEST_MAX);
		int wrong = size >= 4 && buf[1] == SOCKS5_REP_SUCCEEDED && (buf[3] == SOCKS5_ATYP_DOMAIN) != ptr;
		if (wrong) {
			FUZZ_CHECK(r == SOCKS5_MALFORMED);
		} else {
			FUZZ_CHECK(r == plain);
		}
		if (r <= 0) {
			FUZZ_CHECK(memcmp(&c, &canary, sizeof c) == 0);
			continue;
		}
		FUZZ_CHECK(c.code == buf[1]);
		fuzz_check_addr(&c.addr);
		if (c.code == SOCKS5_REP_SUCCEEDED)
			FUZZ_CHECK((c.addr.atyp == SOCKS5_ATYP_DOMAIN) == ptr);
		fuzz_check_reencode(enc_reply, &c, buf, (size_t)r, 1u << 2);
	}
	free(buf);

	/* The input as a name to RESOLVE: encoded iff 1..255 bytes without NUL, and it decodes back. */
	uint8_t req[SOCKS5_REQUEST_MAX], cmd = 0;
	struct socks5_addr back;
	ssize_t n = socks5_encode_resolve(req, sizeof req, (const char *)data, size);
	int ok = size >= 1 && size <= 255 && !memchr(data, '\0', size);
	FUZZ_CHECK(ok ? n == (ssize_t)(4 + 1 + size + 2) : n == SOCKS5_MALFORMED);
	if (ok) {
		FUZZ_CHECK(socks5_decode_request(req, (size_t)n, &cmd, &back) == n);
		FUZZ_CHECK(cmd == SOCKS5_CMD_RESOLVE && back.atyp == SOCKS5_ATYP_DOMAIN && back.port == 0);
		FUZZ_CHECK(back.u.domain.len == size && memcmp(back.u.domain.name, data, size) == 0);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_resolve_replies(data, size);
	check_method_choice(data, size);
	check_auth_reply(data, size);
	check_reply(data, size);
	check_handshake(data, size);
	return 0;
}
