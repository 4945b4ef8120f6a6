/* test_socks5.c - the SOCKS5 codec, byte by byte against RFC 1928 and RFC 1929.
 *
 * Decoders always get heap buffers of exactly len bytes, so under SANITIZE=1
 * any read past len is an AddressSanitizer error rather than a silent pass.
 */
#include "socks5.h"
#include "unit.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>

/* Everything any encoder takes, so one NOSPACE/prefix checker serves all. */
struct msg {
	uint8_t code; /* method, status, CMD, REP or FRAG */
	const struct socks5_addr *addr;
	const uint8_t *methods;
	size_t nmethods;
	const char *user, *pass;
	size_t ulen, plen;
};

typedef ssize_t (*encode_fn)(uint8_t *buf, size_t cap, const struct msg *m);
typedef ssize_t (*decode_fn)(const uint8_t *buf, size_t len);

static ssize_t enc_greeting(uint8_t *b, size_t cap, const struct msg *m)
{
	return socks5_encode_greeting(b, cap, m->methods, m->nmethods);
}

static ssize_t enc_method_choice(uint8_t *b, size_t cap, const struct msg *m)
{
	return socks5_encode_method_choice(b, cap, m->code);
}

static ssize_t enc_auth_request(uint8_t *b, size_t cap, const struct msg *m)
{
	return socks5_encode_auth_request(b, cap, m->user, m->ulen, m->pass, m->plen);
}

static ssize_t enc_auth_reply(uint8_t *b, size_t cap, const struct msg *m)
{
	return socks5_encode_auth_reply(b, cap, m->code);
}

static ssize_t enc_request(uint8_t *b, size_t cap, const struct msg *m)
{
	return socks5_encode_request(b, cap, m->code, m->addr);
}

static ssize_t enc_reply(uint8_t *b, size_t cap, const struct msg *m)
{
	return socks5_encode_reply(b, cap, m->code, m->addr);
}

static ssize_t enc_udp_header(uint8_t *b, size_t cap, const struct msg *m)
{
	return socks5_encode_udp_header(b, cap, m->code, m->addr);
}

static ssize_t dec_greeting(const uint8_t *b, size_t len)
{
	struct socks5_greeting g;
	return socks5_decode_greeting(b, len, &g);
}

static ssize_t dec_method_choice(const uint8_t *b, size_t len)
{
	uint8_t method;
	return socks5_decode_method_choice(b, len, &method);
}

static ssize_t dec_auth_request(const uint8_t *b, size_t len)
{
	struct socks5_credentials c;
	return socks5_decode_auth_request(b, len, &c);
}

static ssize_t dec_auth_reply(const uint8_t *b, size_t len)
{
	uint8_t status;
	return socks5_decode_auth_reply(b, len, &status);
}

static ssize_t dec_request(const uint8_t *b, size_t len)
{
	struct socks5_addr a;
	uint8_t cmd;
	return socks5_decode_request(b, len, &cmd, &a);
}

static ssize_t dec_reply(const uint8_t *b, size_t len)
{
	struct socks5_addr a;
	uint8_t rep;
	return socks5_decode_reply(b, len, &rep, &a);
}

static ssize_t dec_udp_header(const uint8_t *b, size_t len)
{
	struct socks5_addr a;
	uint8_t frag;
	return socks5_decode_udp_header(b, len, &frag, &a);
}

static ssize_t enc_resolve(uint8_t *b, size_t cap, const struct msg *m)
{
	return socks5_encode_resolve(b, cap, m->user, m->ulen);
}

static ssize_t enc_resolve_ptr(uint8_t *b, size_t cap, const struct msg *m)
{
	return socks5_encode_resolve_ptr(b, cap, m->addr);
}

static ssize_t dec_resolve_reply(const uint8_t *b, size_t len)
{
	struct socks5_addr a;
	uint8_t rep;
	return socks5_decode_resolve_reply(b, len, &rep, &a);
}

static ssize_t dec_resolve_ptr_reply(const uint8_t *b, size_t len)
{
	struct socks5_addr a;
	uint8_t rep;
	return socks5_decode_resolve_ptr_reply(b, len, &rep, &a);
}

/* Runs dec on a heap copy of exactly len bytes. */
static ssize_t decode_exact(decode_fn dec, const uint8_t *bytes, size_t len)
{
	uint8_t *copy = malloc(len ? len : 1);
	memcpy(copy, bytes, len);
	ssize_t r = dec(copy, len);
	free(copy);
	return r;
}

/* want must encode to exactly these n bytes, and every smaller cap is
 * NOSPACE without a single byte written. */
static void check_encode(encode_fn enc, const struct msg *m, const uint8_t *want, size_t n)
{
	uint8_t *exact = malloc(n);
	CHECK_INT(enc(exact, n, m), n);
	CHECK_MEM(exact, want, n);
	free(exact);

	uint8_t big[1024], canary[1024];
	memset(canary, 0xAA, sizeof canary);
	CHECK_INT(enc(big, sizeof big, m), n);
	int nospace_ok = 1, untouched = 1;
	for (size_t cap = 0; cap < n; cap++) {
		memset(big, 0xAA, sizeof big);
		if (enc(big, cap, m) != SOCKS5_NOSPACE)
			nospace_ok = 0;
		if (memcmp(big, canary, sizeof big) != 0)
			untouched = 0;
	}
	CHECK(nospace_ok);
	CHECK(untouched);
	CHECK_INT(enc(NULL, 0, m), SOCKS5_NOSPACE);
}

/* The whole message decodes to n, every proper prefix is SHORT, and
 * trailing bytes (the next message, or UDP payload) are not consumed. */
static void check_decode(decode_fn dec, const uint8_t *msg, size_t n)
{
	CHECK_INT(decode_exact(dec, msg, n), n);
	int all_short = 1;
	for (size_t i = 0; i < n; i++) {
		if (decode_exact(dec, msg, i) != SOCKS5_SHORT) {
			fprintf(stderr, "    prefix of %zu/%zu bytes not SHORT\n", i, n);
			all_short = 0;
		}
	}
	CHECK(all_short);

	uint8_t *longer = malloc(n + 3);
	memcpy(longer, msg, n);
	memcpy(longer + n, "\x05\x01\x00", 3);
	CHECK_INT(dec(longer, n + 3), n);
	free(longer);
}

/* A macro so that a failure names the caller's line. */
#define CHECK_MALFORMED(dec, bytes, n) CHECK_INT(decode_exact((dec), (const uint8_t *)(bytes), (n)), SOCKS5_MALFORMED)

static struct socks5_addr addr_ipv4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port)
{
	struct socks5_addr x = { .atyp = SOCKS5_ATYP_IPV4, .port = port };
	x.u.ipv4[0] = a;
	x.u.ipv4[1] = b;
	x.u.ipv4[2] = c;
	x.u.ipv4[3] = d;
	return x;
}

static struct socks5_addr addr_ipv6_loopback(uint16_t port)
{
	struct socks5_addr x = { .atyp = SOCKS5_ATYP_IPV6, .port = port };
	x.u.ipv6[15] = 1;
	return x;
}

/* A domain of len bytes "aaa...", with its wire form ATYP LEN NAME PORT in wire. */
static struct socks5_addr addr_domain(size_t len, uint16_t port, uint8_t *wire, size_t *wlen)
{
	char name[256];
	struct socks5_addr x;
	memset(name, 'a', len);
	name[len] = '\0';
	name[len - 1] = 'z';
	socks5_addr_set_domain(&x, name, port);
	wire[0] = 0x03;
	wire[1] = (uint8_t)len;
	memcpy(wire + 2, name, len);
	wire[2 + len] = (uint8_t)(port >> 8);
	wire[3 + len] = (uint8_t)port;
	*wlen = 4 + len;
	return x;
}

static void test_greeting(void)
{
	static const uint8_t methods[] = { SOCKS5_METHOD_NOAUTH, SOCKS5_METHOD_USERPASS };
	static const uint8_t wire[] = { 0x05, 0x02, 0x00, 0x02 };
	struct msg m = { .methods = methods, .nmethods = 2 };
	check_encode(enc_greeting, &m, wire, sizeof wire);
	check_decode(dec_greeting, wire, sizeof wire);

	struct socks5_greeting g;
	memset(&g, 0x55, sizeof g);
	CHECK_INT(socks5_decode_greeting(wire, sizeof wire, &g), 4);
	CHECK_INT(g.nmethods, 2);
	CHECK_INT(g.methods[0], 0x00);
	CHECK_INT(g.methods[1], 0x02);
	CHECK_INT(socks5_decode_greeting(wire, sizeof wire, NULL), 4);

	/* One method, and all 255. */
	static const uint8_t one[] = { 0x05, 0x01, 0x00 };
	m.nmethods = 1;
	check_encode(enc_greeting, &m, one, sizeof one);
	check_decode(dec_greeting, one, sizeof one);

	uint8_t all[255], wire_all[SOCKS5_GREETING_MAX];
	for (int i = 0; i < 255; i++)
		all[i] = (uint8_t)i;
	wire_all[0] = 0x05;
	wire_all[1] = 0xff;
	memcpy(wire_all + 2, all, 255);
	m.methods = all;
	m.nmethods = 255;
	check_encode(enc_greeting, &m, wire_all, sizeof wire_all);
	check_decode(dec_greeting, wire_all, sizeof wire_all);
	CHECK_INT(socks5_decode_greeting(wire_all, sizeof wire_all, &g), 257);
	CHECK_INT(g.nmethods, 255);
	CHECK_MEM(g.methods, all, 255);

	/* Not encodable: no methods, more than 255. */
	uint8_t b[600];
	CHECK_INT(socks5_encode_greeting(b, sizeof b, methods, 0), SOCKS5_MALFORMED);
	CHECK_INT(socks5_encode_greeting(b, sizeof b, all, 256), SOCKS5_MALFORMED);
	CHECK_INT(socks5_encode_greeting(b, sizeof b, NULL, 1), SOCKS5_MALFORMED);

	/* Wrong version (SOCKS4 and HTTP), NMETHODS 0: malformed from the first bad byte. */
	CHECK_MALFORMED(dec_greeting, "\x04", 1);
	CHECK_MALFORMED(dec_greeting, "\x04\x01\x00", 3);
	CHECK_MALFORMED(dec_greeting, "GET / HTTP/1.1", 14);
	CHECK_MALFORMED(dec_greeting, "\x05\x00", 2);
	CHECK_MALFORMED(dec_greeting, "\x05\x00\x00", 3);
}

static void test_method_choice(void)
{
	static const uint8_t wire[] = { 0x05, 0x02 };
	struct msg m = { .code = SOCKS5_METHOD_USERPASS };
	check_encode(enc_method_choice, &m, wire, sizeof wire);
	check_decode(dec_method_choice, wire, sizeof wire);

	uint8_t method = 0;
	CHECK_INT(socks5_decode_method_choice((const uint8_t *)"\x05\xff", 2, &method), 2);
	CHECK_INT(method, SOCKS5_METHOD_NONE_ACCEPTABLE);
	CHECK_INT(socks5_decode_method_choice((const uint8_t *)"\x05\x00", 2, &method), 2);
	CHECK_INT(method, SOCKS5_METHOD_NOAUTH);

	CHECK_MALFORMED(dec_method_choice, "\x04", 1);
	CHECK_MALFORMED(dec_method_choice, "\x01\x00", 2);
	CHECK_MALFORMED(dec_method_choice, "\x00\x5a", 2); /* a SOCKS4 reply */
}

static void test_auth_request(void)
{
	static const uint8_t wire[] = { 0x01, 0x04, 'u', 's', 'e', 'r', 0x06, 's', 'e', 'c', 'r', 'e', 't' };
	struct msg m = { .user = "user", .ulen = 4, .pass = "secret", .plen = 6 };
	check_encode(enc_auth_request, &m, wire, sizeof wire);
	check_decode(dec_auth_request, wire, sizeof wire);

	struct socks5_credentials c;
	memset(&c, 0x55, sizeof c);
	CHECK_INT(socks5_decode_auth_request(wire, sizeof wire, &c), sizeof wire);
	CHECK_INT(c.ulen, 4);
	CHECK_INT(c.plen, 6);
	CHECK_STR(c.user, "user");
	CHECK_STR(c.pass, "secret");

	/* Shortest: one byte each. */
	static const uint8_t tiny[] = { 0x01, 0x01, 'u', 0x01, 'p' };
	struct msg t = { .user = "u", .ulen = 1, .pass = "p", .plen = 1 };
	check_encode(enc_auth_request, &t, tiny, sizeof tiny);
	check_decode(dec_auth_request, tiny, sizeof tiny);

	/* Longest: 255 bytes each (any byte but NUL, including 0xff and ':'). */
	char user[255], pass[255];
	uint8_t big[SOCKS5_AUTH_REQUEST_MAX];
	for (int i = 0; i < 255; i++) {
		user[i] = (char)(i + 1);
		pass[i] = (char)(255 - i);
	}
	big[0] = 0x01;
	big[1] = 0xff;
	memcpy(big + 2, user, 255);
	big[257] = 0xff;
	memcpy(big + 258, pass, 255);
	struct msg l = { .user = user, .ulen = 255, .pass = pass, .plen = 255 };
	check_encode(enc_auth_request, &l, big, sizeof big);
	check_decode(dec_auth_request, big, sizeof big);
	CHECK_INT(socks5_decode_auth_request(big, sizeof big, &c), 513);
	CHECK_INT(c.ulen, 255);
	CHECK_INT(c.plen, 255);
	CHECK_MEM(c.user, user, 255);
	CHECK_MEM(c.pass, pass, 255);
	CHECK_INT(c.user[255], 0);
	CHECK_INT(c.pass[255], 0);

	/* Not encodable: empty, too long, or holding a NUL. */
	uint8_t b[600];
	CHECK_INT(socks5_encode_auth_request(b, sizeof b, "", 0, "p", 1), SOCKS5_MALFORMED);
	CHECK_INT(socks5_encode_auth_request(b, sizeof b, "u", 1, "", 0), SOCKS5_MALFORMED);
	CHECK_INT(socks5_encode_auth_request(b, sizeof b, (char *)big, 256, "p", 1), SOCKS5_MALFORMED);
	CHECK_INT(socks5_encode_auth_request(b, sizeof b, "u", 1, (char *)big, 256), SOCKS5_MALFORMED);
	CHECK_INT(socks5_encode_auth_request(b, sizeof b, "a\0b", 3, "p", 1), SOCKS5_MALFORMED);
	CHECK_INT(socks5_encode_auth_request(b, sizeof b, "u", 1, "a\0b", 3), SOCKS5_MALFORMED);
	CHECK_INT(socks5_encode_auth_request(b, sizeof b, NULL, 1, "p", 1), SOCKS5_MALFORMED);

	/* Wrong VER (0x05 is a common client bug, still wrong), ULEN 0, PLEN 0, NULs. */
	CHECK_MALFORMED(dec_auth_request, "\x05", 1);
	CHECK_MALFORMED(dec_auth_request, "\x05\x01u\x01p", 5);
	CHECK_MALFORMED(dec_auth_request, "\x01\x00", 2);
	CHECK_MALFORMED(dec_auth_request, "\x01\x00\x01p", 4);
	CHECK_MALFORMED(dec_auth_request, "\x01\x01u\x00", 4);
	CHECK_MALFORMED(dec_auth_request, "\x01\x03u\x00x\x01p", 7);
	CHECK_MALFORMED(dec_auth_request, "\x01\x03u\x00", 4); /* bad before complete */
	CHECK_MALFORMED(dec_auth_request, "\x01\x01u\x03p\x00", 6);
	/* admin\0junk must not reach a server as "admin". */
	CHECK_MALFORMED(dec_auth_request, "\x01\x0a" "admin\0junk" "\x01p", 14);
}

static void test_auth_reply(void)
{
	static const uint8_t ok[] = { 0x01, 0x00 };
	static const uint8_t fail[] = { 0x01, 0x01 };
	struct msg m = { .code = SOCKS5_AUTH_SUCCESS };
	check_encode(enc_auth_reply, &m, ok, sizeof ok);
	check_decode(dec_auth_reply, ok, sizeof ok);
	m.code = SOCKS5_AUTH_FAILURE;
	check_encode(enc_auth_reply, &m, fail, sizeof fail);
	check_decode(dec_auth_reply, fail, sizeof fail);

	uint8_t status = 0x77;
	CHECK_INT(socks5_decode_auth_reply(ok, 2, &status), 2);
	CHECK_INT(status, 0x00);
	CHECK_INT(socks5_decode_auth_reply((const uint8_t *)"\x01\xfe", 2, &status), 2);
	CHECK_INT(status, 0xfe);
	/* Lenient: some servers answer with VER 0x05. */
	CHECK_INT(socks5_decode_auth_reply((const uint8_t *)"\x05\x00", 2, &status), 2);
	CHECK_INT(status, 0x00);

	CHECK_MALFORMED(dec_auth_reply, "\x00", 1);
	CHECK_MALFORMED(dec_auth_reply, "\x02\x00", 2);
	CHECK_MALFORMED(dec_auth_reply, "\x04\x00", 2);
}

/* Wire bytes of VER/RSV-prefixed messages built from an address's wire form. */
static size_t build(uint8_t *out, uint8_t b0, uint8_t b1, uint8_t b2, const uint8_t *addr, size_t alen)
{
	out[0] = b0;
	out[1] = b1;
	out[2] = b2;
	memcpy(out + 3, addr, alen);
	return 3 + alen;
}

static int addr_equal(const struct socks5_addr *a, const struct socks5_addr *b)
{
	if (a->atyp != b->atyp || a->port != b->port)
		return 0;
	switch (a->atyp) {
	case SOCKS5_ATYP_IPV4:
		return memcmp(a->u.ipv4, b->u.ipv4, 4) == 0;
	case SOCKS5_ATYP_IPV6:
		return memcmp(a->u.ipv6, b->u.ipv6, 16) == 0;
	default:
		return a->u.domain.len == b->u.domain.len &&
		       memcmp(a->u.domain.name, b->u.domain.name, a->u.domain.len) == 0 &&
		       b->u.domain.name[b->u.domain.len] == '\0';
	}
}

/* Every address form: IPv4, IPv6, domains of 1, 11 and 255 bytes. */
struct addr_case {
	struct socks5_addr addr;
	uint8_t wire[1 + 1 + 255 + 2];
	size_t wlen;
};

static size_t addr_cases(struct addr_case *c)
{
	static const uint8_t v4[] = { 0x01, 192, 0, 2, 1, 0x00, 0x50 };
	static const uint8_t v6[] = { 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0x01, 0xbb };
	static const uint8_t ex[] = { 0x03, 11, 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o', 'm', 0xff, 0xff };

	c[0].addr = addr_ipv4(192, 0, 2, 1, 80);
	memcpy(c[0].wire, v4, sizeof v4);
	c[0].wlen = sizeof v4;
	c[1].addr = addr_ipv6_loopback(443);
	memcpy(c[1].wire, v6, sizeof v6);
	c[1].wlen = sizeof v6;
	socks5_addr_set_domain(&c[2].addr, "example.com", 65535);
	memcpy(c[2].wire, ex, sizeof ex);
	c[2].wlen = sizeof ex;
	c[3].addr = addr_domain(1, 0, c[3].wire, &c[3].wlen);
	c[4].addr = addr_domain(255, 1, c[4].wire, &c[4].wlen);
	return 5;
}

static void test_request(void)
{
	struct addr_case c[5];
	size_t n = addr_cases(c);
	uint8_t wire[SOCKS5_REQUEST_MAX];
	static const uint8_t cmds[] = { SOCKS5_CMD_CONNECT, SOCKS5_CMD_BIND, SOCKS5_CMD_UDP_ASSOCIATE };

	for (size_t i = 0; i < n; i++) {
		for (size_t k = 0; k < sizeof cmds; k++) {
			size_t wlen = build(wire, 0x05, cmds[k], 0x00, c[i].wire, c[i].wlen);
			struct msg m = { .code = cmds[k], .addr = &c[i].addr };
			check_encode(enc_request, &m, wire, wlen);
			check_decode(dec_request, wire, wlen);

			struct socks5_addr got;
			uint8_t cmd = 0;
			memset(&got, 0x55, sizeof got);
			CHECK_INT(socks5_decode_request(wire, wlen, &cmd, &got), wlen);
			CHECK_INT(cmd, cmds[k]);
			CHECK(addr_equal(&c[i].addr, &got));
		}
	}
	CHECK_INT(c[4].wlen + 3, SOCKS5_REQUEST_MAX);

	/* Spelled out once, straight from RFC 1928 section 4. */
	static const uint8_t connect_v4[] = { 0x05, 0x01, 0x00, 0x01, 10, 0, 0, 1, 0x1f, 0x90 };
	struct socks5_addr a = addr_ipv4(10, 0, 0, 1, 8080);
	uint8_t b[64];
	CHECK_INT(socks5_encode_request(b, sizeof b, SOCKS5_CMD_CONNECT, &a), 10);
	CHECK_MEM(b, connect_v4, 10);

	/* Unknown CMD passes through: the server answers REP 0x07. */
	uint8_t cmd = 0;
	CHECK_INT(socks5_decode_request((const uint8_t *)"\x05\x09\x00\x01\x01\x02\x03\x04\x00\x01", 10, &cmd, NULL), 10);
	CHECK_INT(cmd, 0x09);

	CHECK_MALFORMED(dec_request, "\x04", 1);
	CHECK_MALFORMED(dec_request, "\x04\x01\x00\x50\x7f\x00\x00\x01", 8); /* SOCKS4 */
	CHECK_MALFORMED(dec_request, "\x05\x01\x01", 3); /* RSV */
	CHECK_MALFORMED(dec_request, "\x05\x01\x80\x01\x01\x02\x03\x04\x00\x50", 10);
	CHECK_MALFORMED(dec_request, "\x05\x01\x00\x00", 4); /* ATYP 0 */
	CHECK_MALFORMED(dec_request, "\x05\x01\x00\x02", 4); /* ATYP 2 */
	CHECK_MALFORMED(dec_request, "\x05\x01\x00\x05", 4); /* ATYP 5 */
	CHECK_MALFORMED(dec_request, "\x05\x01\x00\xff\x00\x00", 6);
	CHECK_MALFORMED(dec_request, "\x05\x01\x00\x03\x00", 5); /* domain len 0 */
	CHECK_MALFORMED(dec_request, "\x05\x01\x00\x03\x00\x00\x50", 7);
	CHECK_MALFORMED(dec_request, "\x05\x01\x00\x03\x03" "a\0b" "\x00\x50", 10);
	CHECK_MALFORMED(dec_request, "\x05\x01\x00\x03\x03" "a\0", 7); /* NUL seen early */
}

static void test_reply(void)
{
	struct addr_case c[5];
	size_t n = addr_cases(c);
	uint8_t wire[SOCKS5_REQUEST_MAX];

	for (size_t i = 0; i < n; i++) {
		for (unsigned rep = 0; rep <= 9; rep++) {
			size_t wlen = build(wire, 0x05, (uint8_t)rep, 0x00, c[i].wire, c[i].wlen);
			struct msg m = { .code = (uint8_t)rep, .addr = &c[i].addr };
			check_encode(enc_reply, &m, wire, wlen);
			check_decode(dec_reply, wire, wlen);

			struct socks5_addr got;
			uint8_t r = 0x77;
			CHECK_INT(socks5_decode_reply(wire, wlen, &r, &got), wlen);
			CHECK_INT(r, rep);
			CHECK(addr_equal(&c[i].addr, &got));
		}
	}

	/* RFC 1928 section 6: a CONNECT success bound to 0.0.0.0:0. */
	static const uint8_t ok[] = { 0x05, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0 };
	struct socks5_addr zero = addr_ipv4(0, 0, 0, 0, 0);
	uint8_t b[64];
	CHECK_INT(socks5_encode_reply(b, sizeof b, SOCKS5_REP_SUCCEEDED, &zero), 10);
	CHECK_MEM(b, ok, 10);

	/* Lenient: a nonzero RSV in a reply is ignored. */
	uint8_t rep = 0x77;
	struct socks5_addr got;
	CHECK_INT(socks5_decode_reply((const uint8_t *)"\x05\x00\xaa\x01\x7f\x00\x00\x01\x04\x38", 10, &rep, &got), 10);
	CHECK_INT(rep, 0);
	CHECK_INT(got.port, 1080);

	CHECK_MALFORMED(dec_reply, "\x00", 1);
	CHECK_MALFORMED(dec_reply, "\x00\x5a\x00\x50\x7f\x00\x00\x01", 8); /* SOCKS4 */
	CHECK_MALFORMED(dec_reply, "HTTP/1.1 400", 12);
	CHECK_MALFORMED(dec_reply, "\x05\x00\x00\x00", 4);
	CHECK_MALFORMED(dec_reply, "\x05\x00\x00\x02", 4);
	CHECK_MALFORMED(dec_reply, "\x05\x00\x00\x05\x00\x00", 6);
	CHECK_MALFORMED(dec_reply, "\x05\x00\x00\x03\x00", 5);
	CHECK_MALFORMED(dec_reply, "\x05\x00\x00\x03\x00\x00\x50", 7);
}

static void test_udp_header(void)
{
	struct addr_case c[5];
	size_t n = addr_cases(c);
	uint8_t wire[SOCKS5_UDP_HEADER_MAX + 4];

	for (size_t i = 0; i < n; i++) {
		size_t wlen = build(wire, 0x00, 0x00, 0x00, c[i].wire, c[i].wlen);
		struct msg m = { .code = 0, .addr = &c[i].addr };
		check_encode(enc_udp_header, &m, wire, wlen);
		check_decode(dec_udp_header, wire, wlen);

		/* The payload follows the header untouched. */
		memcpy(wire + wlen, "DATA", 4);
		struct socks5_addr got;
		uint8_t frag = 0x77;
		CHECK_INT(socks5_decode_udp_header(wire, wlen + 4, &frag, &got), wlen);
		CHECK_INT(frag, 0);
		CHECK(addr_equal(&c[i].addr, &got));
	}
	CHECK_INT(c[4].wlen + 3, SOCKS5_UDP_HEADER_MAX);

	/* FRAG passes through for the caller to drop. */
	static const uint8_t frag3[] = { 0x00, 0x00, 0x03, 0x01, 8, 8, 8, 8, 0x00, 0x35 };
	struct socks5_addr dns = addr_ipv4(8, 8, 8, 8, 53);
	struct msg m = { .code = 3, .addr = &dns };
	check_encode(enc_udp_header, &m, frag3, sizeof frag3);
	uint8_t frag = 0;
	CHECK_INT(socks5_decode_udp_header(frag3, sizeof frag3, &frag, NULL), 10);
	CHECK_INT(frag, 3);

	/* Lenient: a nonzero RSV is ignored. */
	CHECK_INT(socks5_decode_udp_header((const uint8_t *)"\xff\xff\x00\x01\x01\x02\x03\x04\x00\x35", 10, &frag, NULL), 10);

	CHECK_MALFORMED(dec_udp_header, "\x00\x00\x00\x00", 4);
	CHECK_MALFORMED(dec_udp_header, "\x00\x00\x00\x02", 4);
	CHECK_MALFORMED(dec_udp_header, "\x00\x00\x00\x03\x00", 5);
	CHECK_MALFORMED(dec_udp_header, "\x00\x00\x00\x03\x02z\x00", 7);
}

static void test_encode_bad_addr(void)
{
	uint8_t b[600];
	struct socks5_addr a = addr_ipv4(1, 2, 3, 4, 5);

	a.atyp = 0x02;
	CHECK_INT(socks5_encode_request(b, sizeof b, 1, &a), SOCKS5_MALFORMED);
	CHECK_INT(socks5_encode_reply(b, sizeof b, 0, &a), SOCKS5_MALFORMED);
	CHECK_INT(socks5_encode_udp_header(b, sizeof b, 0, &a), SOCKS5_MALFORMED);
	CHECK_INT(socks5_addr_size(&a), SOCKS5_MALFORMED);
	/* MALFORMED wins over NOSPACE: a bigger buffer would not help. */
	CHECK_INT(socks5_encode_request(b, 0, 1, &a), SOCKS5_MALFORMED);

	a.atyp = SOCKS5_ATYP_DOMAIN;
	a.u.domain.len = 0;
	CHECK_INT(socks5_encode_request(b, sizeof b, 1, &a), SOCKS5_MALFORMED);
	CHECK_INT(socks5_encode_reply(b, sizeof b, 0, &a), SOCKS5_MALFORMED);
	CHECK_INT(socks5_encode_udp_header(b, sizeof b, 0, &a), SOCKS5_MALFORMED);
	memcpy(a.u.domain.name, "a\0b", 4);
	a.u.domain.len = 3;
	CHECK_INT(socks5_encode_request(b, sizeof b, 1, &a), SOCKS5_MALFORMED);
	CHECK_INT(socks5_encode_request(b, sizeof b, 1, NULL), SOCKS5_MALFORMED);
	CHECK_INT(socks5_addr_size(NULL), SOCKS5_MALFORMED);

	struct socks5_addr v4 = addr_ipv4(1, 2, 3, 4, 5), v6 = addr_ipv6_loopback(1), d;
	socks5_addr_set_domain(&d, "abc", 1);
	CHECK_INT(socks5_addr_size(&v4), 7);
	CHECK_INT(socks5_addr_size(&v6), 19);
	CHECK_INT(socks5_addr_size(&d), 7);
}

static void test_rep(void)
{
	static const int want[] = { 0, ECONNREFUSED, EACCES, ENETUNREACH, EHOSTUNREACH,
				    ECONNREFUSED, ETIMEDOUT, EOPNOTSUPP, EAFNOSUPPORT };
	int table_ok = 1, text_ok = 1;
	for (unsigned rep = 0; rep < 256; rep++) {
		int e = rep < 9 ? want[rep] : ECONNREFUSED;
		if (socks5_rep_to_errno((uint8_t)rep) != e) {
			fprintf(stderr, "    REP %u: errno %d, want %d\n", rep, socks5_rep_to_errno((uint8_t)rep), e);
			table_ok = 0;
		}
		const char *s = socks5_rep_str((uint8_t)rep);
		if (!s || !*s)
			text_ok = 0;
	}
	CHECK(table_ok);
	CHECK(text_ok);
	CHECK_STR(socks5_rep_str(SOCKS5_REP_CONN_REFUSED), "connection refused");
	CHECK_STR(socks5_rep_str(SOCKS5_REP_SUCCEEDED), "succeeded");
	CHECK_STR(socks5_rep_str(0x09), "unknown reply code");
	CHECK_STR(socks5_rep_str(0xff), "unknown reply code");
}

static void test_from_sockaddr(void)
{
	struct socks5_addr a;
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(8080) };
	inet_pton(AF_INET, "203.0.113.7", &sin.sin_addr);

	CHECK_INT(socks5_addr_from_sockaddr(&a, (struct sockaddr *)&sin, sizeof sin), 0);
	CHECK_INT(a.atyp, SOCKS5_ATYP_IPV4);
	CHECK_MEM(a.u.ipv4, "\xcb\x00\x71\x07", 4);
	CHECK_INT(a.port, 8080);
	CHECK_INT(socks5_addr_from_sockaddr(&a, (struct sockaddr *)&sin, sizeof sin - 1), -1);
	CHECK_INT(socks5_addr_from_sockaddr(&a, (struct sockaddr *)&sin, 0), -1);
	CHECK_INT(socks5_addr_from_sockaddr(&a, NULL, sizeof sin), -1);

	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_port = htons(443) };
	inet_pton(AF_INET6, "2001:db8::1", &sin6.sin6_addr);
	CHECK_INT(socks5_addr_from_sockaddr(&a, (struct sockaddr *)&sin6, sizeof sin6), 0);
	CHECK_INT(a.atyp, SOCKS5_ATYP_IPV6);
	CHECK_MEM(a.u.ipv6, &sin6.sin6_addr, 16);
	CHECK_INT(a.port, 443);
	/* 24 bytes (RFC 2133, no scope id) is what Linux connect() still accepts. */
	CHECK_INT(socks5_addr_from_sockaddr(&a, (struct sockaddr *)&sin6, 24), 0);
	CHECK_INT(socks5_addr_from_sockaddr(&a, (struct sockaddr *)&sin6, 23), -1);
	CHECK_INT(socks5_addr_from_sockaddr(&a, (struct sockaddr *)&sin6, sizeof sin), -1);

	/* ::ffff:10.1.2.3 is IPv4 on the wire. */
	inet_pton(AF_INET6, "::ffff:10.1.2.3", &sin6.sin6_addr);
	CHECK_INT(socks5_addr_from_sockaddr(&a, (struct sockaddr *)&sin6, sizeof sin6), 0);
	CHECK_INT(a.atyp, SOCKS5_ATYP_IPV4);
	CHECK_MEM(a.u.ipv4, "\x0a\x01\x02\x03", 4);
	CHECK_INT(a.port, 443);
	/* ...but ::10.1.2.3 (deprecated IPv4-compatible) and ::1 stay IPv6. */
	inet_pton(AF_INET6, "::10.1.2.3", &sin6.sin6_addr);
	CHECK_INT(socks5_addr_from_sockaddr(&a, (struct sockaddr *)&sin6, sizeof sin6), 0);
	CHECK_INT(a.atyp, SOCKS5_ATYP_IPV6);
	inet_pton(AF_INET6, "::1", &sin6.sin6_addr);
	CHECK_INT(socks5_addr_from_sockaddr(&a, (struct sockaddr *)&sin6, sizeof sin6), 0);
	CHECK_INT(a.atyp, SOCKS5_ATYP_IPV6);

	struct sockaddr_un sun = { .sun_family = AF_UNIX, .sun_path = "/tmp/x" };
	CHECK_INT(socks5_addr_from_sockaddr(&a, (struct sockaddr *)&sun, sizeof sun), -1);

	/* Unaligned input is fine (read by memcpy). */
	unsigned char raw[1 + sizeof(struct sockaddr_in6)];
	sin6.sin6_port = htons(53);
	memcpy(raw + 1, &sin6, sizeof sin6);
	CHECK_INT(socks5_addr_from_sockaddr(&a, (struct sockaddr *)(raw + 1), sizeof sin6), 0);
	CHECK_INT(a.port, 53);
}

static void test_to_sockaddr(void)
{
	struct sockaddr_storage ss;
	struct socks5_addr v4 = addr_ipv4(127, 0, 0, 1, 1080), v6 = addr_ipv6_loopback(9050), d, back;

	CHECK_INT(socks5_addr_to_sockaddr(&v4, (struct sockaddr *)&ss, sizeof ss), sizeof(struct sockaddr_in));
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	CHECK_INT(sin->sin_family, AF_INET);
	CHECK_INT(ntohs(sin->sin_port), 1080);
	CHECK_INT(ntohl(sin->sin_addr.s_addr), 0x7f000001);
	CHECK_INT(socks5_addr_from_sockaddr(&back, (struct sockaddr *)&ss, sizeof *sin), 0);
	CHECK(addr_equal(&v4, &back));
	CHECK_INT(socks5_addr_to_sockaddr(&v4, (struct sockaddr *)&ss, sizeof *sin - 1), -1);

	CHECK_INT(socks5_addr_to_sockaddr(&v6, (struct sockaddr *)&ss, sizeof ss), sizeof(struct sockaddr_in6));
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	CHECK_INT(sin6->sin6_family, AF_INET6);
	CHECK_INT(ntohs(sin6->sin6_port), 9050);
	CHECK(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
	CHECK_INT(sin6->sin6_scope_id, 0);
	CHECK_INT(socks5_addr_from_sockaddr(&back, (struct sockaddr *)&ss, sizeof *sin6), 0);
	CHECK(addr_equal(&v6, &back));
	CHECK_INT(socks5_addr_to_sockaddr(&v6, (struct sockaddr *)&ss, sizeof *sin6 - 1), -1);

	socks5_addr_set_domain(&d, "example.com", 80);
	CHECK_INT(socks5_addr_to_sockaddr(&d, (struct sockaddr *)&ss, sizeof ss), -1);
}

static void test_set_domain(void)
{
	struct socks5_addr a;
	char name[300];

	CHECK_INT(socks5_addr_set_domain(&a, "x", 7), 0);
	CHECK_INT(a.atyp, SOCKS5_ATYP_DOMAIN);
	CHECK_INT(a.u.domain.len, 1);
	CHECK_STR(a.u.domain.name, "x");
	CHECK_INT(a.port, 7);
	CHECK_INT(socks5_addr_set_domain(&a, "", 7), -1);
	CHECK_INT(socks5_addr_set_domain(&a, NULL, 7), -1);
	memset(name, 'n', 255);
	name[255] = '\0';
	CHECK_INT(socks5_addr_set_domain(&a, name, 7), 0);
	CHECK_INT(a.u.domain.len, 255);
	CHECK_INT(a.u.domain.name[255], 0);
	memset(name, 'n', 256);
	name[256] = '\0';
	CHECK_INT(socks5_addr_set_domain(&a, name, 7), -1);
}

static void test_format(void)
{
	char buf[1100];
	struct socks5_addr v4 = addr_ipv4(1, 2, 3, 4, 80), v6 = addr_ipv6_loopback(80), d;

	CHECK_STR(socks5_addr_format(&v4, buf, sizeof buf), "1.2.3.4:80");
	CHECK_STR(socks5_addr_format(&v6, buf, sizeof buf), "[::1]:80");
	socks5_addr_set_domain(&d, "example.com", 80);
	CHECK_STR(socks5_addr_format(&d, buf, sizeof buf), "example.com:80");
	/* A hostile name cannot put a newline in a log line. */
	socks5_addr_set_domain(&d, "evil\n[x] ok\\", 1);
	CHECK_STR(socks5_addr_format(&d, buf, sizeof buf), "evil\\x0a[x]\\x20ok\\x5c:1");

	/* Truncated, always terminated, never past cap. */
	memset(buf, 'Z', sizeof buf);
	CHECK(socks5_addr_format(&v4, buf, 5) == buf);
	CHECK_STR(buf, "1.2.");
	CHECK_INT(buf[5], 'Z');
	buf[0] = 'Z';
	socks5_addr_format(&v4, buf, 0);
	CHECK_INT(buf[0], 'Z');

	/* The longest name, all escaped, still fits in a big buffer. */
	uint8_t wire[300];
	size_t wlen;
	d = addr_domain(255, 65535, wire, &wlen);
	memset(d.u.domain.name, 0x01, 255);
	socks5_addr_format(&d, buf, sizeof buf);
	CHECK_INT(strlen(buf), 255 * 4 + 6);
}

/* Deterministic noise: every decoder on random bytes stays within len and,
 * whenever it accepts, re-encodes to exactly the bytes it consumed. */
static uint32_t rng_state = 12345;

static uint32_t rng(void)
{
	rng_state = rng_state * 1103515245u + 12345u;
	return rng_state >> 8;
}

static void fill_plausible(uint8_t *b, size_t len)
{
	static const uint8_t likely[] = { 0x00, 0x01, 0x03, 0x04, 0x05, 0xff };
	for (size_t i = 0; i < len; i++)
		b[i] = rng() % 3 ? likely[rng() % sizeof likely] : (uint8_t)rng();
	if (len > 4 && rng() % 2)
		b[4] = (uint8_t)(rng() % 20);
}

static int reencodes(const uint8_t *b, size_t len, int which)
{
	uint8_t out[600];
	struct socks5_addr a;
	struct socks5_greeting g;
	struct socks5_credentials c;
	uint8_t code;
	ssize_t n, m = -100;

	switch (which) {
	case 0:
		if ((n = socks5_decode_greeting(b, len, &g)) > 0)
			m = socks5_encode_greeting(out, sizeof out, g.methods, g.nmethods);
		break;
	case 1:
		if ((n = socks5_decode_auth_request(b, len, &c)) > 0)
			m = socks5_encode_auth_request(out, sizeof out, c.user, c.ulen, c.pass, c.plen);
		break;
	case 2:
		if ((n = socks5_decode_request(b, len, &code, &a)) > 0)
			m = socks5_encode_request(out, sizeof out, code, &a);
		break;
	case 3:
		if ((n = socks5_decode_reply(b, len, &code, &a)) > 0) {
			m = socks5_encode_reply(out, sizeof out, code, &a);
			out[2] = b[2]; /* RSV is ignored on decode */
		}
		break;
	default:
		if ((n = socks5_decode_udp_header(b, len, &code, &a)) > 0) {
			m = socks5_encode_udp_header(out, sizeof out, code, &a);
			out[0] = b[0];
			out[1] = b[1];
		}
		break;
	}
	if (n == SOCKS5_SHORT || n == SOCKS5_MALFORMED)
		return 1;
	if (n <= 0 || (size_t)n > len)
		return 0;
	return m == n && memcmp(out, b, (size_t)n) == 0;
}

static void test_random(void)
{
	static const decode_fn decs[] = { dec_greeting, dec_method_choice, dec_auth_request, dec_auth_reply,
					  dec_request, dec_reply, dec_udp_header };
	int in_bounds = 1, round_trip = 1;
	long accepted = 0;

	for (int iter = 0; iter < 20000; iter++) {
		size_t len = rng() % 40;
		if (rng() % 8 == 0)
			len = rng() % 600;
		uint8_t *b = malloc(len ? len : 1);
		fill_plausible(b, len);
		for (size_t k = 0; k < sizeof decs / sizeof decs[0]; k++) {
			ssize_t r = decs[k](b, len);
			if (r > 0)
				accepted++;
			if (!(r == SOCKS5_SHORT || r == SOCKS5_MALFORMED || (r > 0 && (size_t)r <= len)))
				in_bounds = 0;
		}
		for (int w = 0; w < 5; w++)
			if (!reencodes(b, len, w))
				round_trip = 0;
		free(b);
	}
	CHECK(in_bounds);
	CHECK(round_trip);
	CHECK(accepted > 1000); /* the noise did reach the accepting paths */
}

/* Tor's RESOLVE (F0) and RESOLVE_PTR (F1), socks-extensions.txt section 2. */
static void test_resolve(void)
{
	/* RESOLVE example.com: a domain target, port 0. */
	static const uint8_t req[] = { 0x05, 0xf0, 0x00, 0x03, 11, 'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o', 'm', 0, 0 };
	struct msg m = { .user = "example.com", .ulen = 11 };
	check_encode(enc_resolve, &m, req, sizeof req);
	uint8_t b[SOCKS5_REQUEST_MAX], cmd = 0;
	struct socks5_addr got;
	CHECK_INT(socks5_decode_request(req, sizeof req, &cmd, &got), sizeof req);
	CHECK_INT(cmd, SOCKS5_CMD_RESOLVE);
	CHECK(strcmp(got.u.domain.name, "example.com") == 0);
	/* The name need not end in NUL; its length says where it stops. */
	CHECK_INT(socks5_encode_resolve(b, sizeof b, "example.comXYZ", 11), sizeof req);
	CHECK_MEM(b, req, sizeof req);

	char big[256];
	memset(big, 'a', sizeof big);
	CHECK_INT(socks5_encode_resolve(b, sizeof b, big, 255), 4 + 1 + 255 + 2);
	CHECK_INT(socks5_encode_resolve(b, sizeof b, big, 256), SOCKS5_MALFORMED);
	CHECK_INT(socks5_encode_resolve(b, sizeof b, big, 0), SOCKS5_MALFORMED);
	CHECK_INT(socks5_encode_resolve(b, sizeof b, "a\0b", 3), SOCKS5_MALFORMED);
	CHECK_INT(socks5_encode_resolve(b, sizeof b, NULL, 3), SOCKS5_MALFORMED);

	/* RESOLVE_PTR 192.0.2.7 and ::1: the address's port is not sent. */
	static const uint8_t ptr4[] = { 0x05, 0xf1, 0x00, 0x01, 192, 0, 2, 7, 0, 0 };
	struct socks5_addr a4 = addr_ipv4(192, 0, 2, 7, 8080);
	m = (struct msg){ .addr = &a4 };
	check_encode(enc_resolve_ptr, &m, ptr4, sizeof ptr4);
	static const uint8_t ptr6[] = { 0x05, 0xf1, 0x00, 0x04, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0 };
	struct socks5_addr a6 = addr_ipv6_loopback(53);
	m = (struct msg){ .addr = &a6 };
	check_encode(enc_resolve_ptr, &m, ptr6, sizeof ptr6);
	struct socks5_addr dom;
	socks5_addr_set_domain(&dom, "example.com", 0);
	CHECK_INT(socks5_encode_resolve_ptr(b, sizeof b, &dom), SOCKS5_MALFORMED);
	CHECK_INT(socks5_encode_resolve_ptr(b, sizeof b, NULL), SOCKS5_MALFORMED);

	/* RESOLVE replies: an IPv4 or IPv6 answer. */
	static const uint8_t ok4[] = { 0x05, 0x00, 0x00, 0x01, 10, 1, 2, 3, 0, 0 };
	static const uint8_t ok6[] = { 0x05, 0x00, 0x00, 0x04, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9, 0, 0 };
	uint8_t rep = 0x77;
	check_decode(dec_resolve_reply, ok4, sizeof ok4);
	check_decode(dec_resolve_reply, ok6, sizeof ok6);
	CHECK_INT(socks5_decode_resolve_reply(ok4, sizeof ok4, &rep, &got), sizeof ok4);
	CHECK_INT(rep, 0);
	CHECK_INT(got.atyp, SOCKS5_ATYP_IPV4);
	CHECK_MEM(got.u.ipv4, "\x0a\x01\x02\x03", 4);
	CHECK_INT(socks5_decode_resolve_reply(ok6, sizeof ok6, &rep, &got), sizeof ok6);
	CHECK_INT(got.atyp, SOCKS5_ATYP_IPV6);
	CHECK_INT(got.u.ipv6[15], 9);
	/* Tor's failure: REP 04 with 0.0.0.0; REP 07 from a server without the extension. */
	static const uint8_t fail4[] = { 0x05, 0x04, 0x00, 0x01, 0, 0, 0, 0, 0, 0 };
	static const uint8_t fail7[] = { 0x05, 0x07, 0x00, 0x01, 0, 0, 0, 0, 0, 0 };
	CHECK_INT(socks5_decode_resolve_reply(fail4, sizeof fail4, &rep, &got), sizeof fail4);
	CHECK_INT(rep, SOCKS5_REP_HOST_UNREACHABLE);
	CHECK_INT(socks5_decode_resolve_reply(fail7, sizeof fail7, &rep, &got), sizeof fail7);
	CHECK_INT(rep, SOCKS5_REP_CMD_NOT_SUPPORTED);
	/* A success answering a name with a name is malformed as soon as ATYP is read. */
	CHECK_MALFORMED(dec_resolve_reply, "\x05\x00\x00\x03", 4);
	CHECK_MALFORMED(dec_resolve_reply, "\x05\x00\x00\x03\x01x\x00\x00", 8);
	CHECK_INT(decode_exact(dec_resolve_reply, (const uint8_t *)"\x05\x04\x00\x03\x01x\x00\x00", 8), 8);
	CHECK_MALFORMED(dec_resolve_reply, "\x05\x00\x00\x09", 4);
	CHECK_MALFORMED(dec_resolve_reply, "\x04\x00", 2);
	CHECK_INT(decode_exact(dec_resolve_reply, ok4, 3), SOCKS5_SHORT);

	/* RESOLVE_PTR replies: a domain answer. */
	static const uint8_t okname[] = { 0x05, 0x00, 0x00, 0x03, 4, 'h', 'o', 's', 't', 0, 0 };
	check_decode(dec_resolve_ptr_reply, okname, sizeof okname);
	CHECK_INT(socks5_decode_resolve_ptr_reply(okname, sizeof okname, &rep, &got), sizeof okname);
	CHECK_INT(rep, 0);
	CHECK_INT(got.atyp, SOCKS5_ATYP_DOMAIN);
	CHECK(strcmp(got.u.domain.name, "host") == 0);
	CHECK_INT(socks5_decode_resolve_ptr_reply(fail4, sizeof fail4, &rep, &got), sizeof fail4);
	CHECK_INT(rep, SOCKS5_REP_HOST_UNREACHABLE);
	CHECK_MALFORMED(dec_resolve_ptr_reply, ok4, sizeof ok4);
	CHECK_MALFORMED(dec_resolve_ptr_reply, ok6, 4);
	CHECK_MALFORMED(dec_resolve_ptr_reply, "\x05\x00\x00\x03\x00", 5);
	CHECK_MALFORMED(dec_resolve_ptr_reply, "\x05\x00\x00\x03\x03" "a\x00b\x00\x00", 10);
	/* Out parameters are left alone on failure. */
	rep = 0x77;
	CHECK_INT(socks5_decode_resolve_ptr_reply(ok4, sizeof ok4, &rep, NULL), SOCKS5_MALFORMED);
	CHECK_INT(rep, 0x77);
}

int main(void)
{
	test_greeting();
	test_method_choice();
	test_auth_request();
	test_auth_reply();
	test_request();
	test_reply();
	test_udp_header();
	test_resolve();
	test_encode_bad_addr();
	test_rep();
	test_from_sockaddr();
	test_to_sockaddr();
	test_set_domain();
	test_format();
	test_random();
	return unit_report();
}
