/* fuzz_server_request.c - what a SOCKS5 server (socks5d) reads from a client.
 *
 * The input, whole, is given to each server-side decoder: the greeting, the
 * RFC 1929 username/password request, and the CONNECT/BIND/UDP ASSOCIATE
 * request. Besides the decoder invariants in codec.h: a decoded message
 * encodes back to exactly the same bytes (requests have no ignored bytes),
 * and user, password and domain are C strings of their stated lengths, so a
 * server never compares a truncated name. */
#include "codec.h"

static ssize_t dec_greeting(const uint8_t *b, size_t n)
{
	return socks5_decode_greeting(b, n, NULL);
}

static ssize_t dec_auth_request(const uint8_t *b, size_t n)
{
	return socks5_decode_auth_request(b, n, NULL);
}

static ssize_t dec_request(const uint8_t *b, size_t n)
{
	return socks5_decode_request(b, n, NULL, NULL);
}

static ssize_t enc_greeting(uint8_t *b, size_t cap, const void *arg)
{
	const struct socks5_greeting *g = arg;
	return socks5_encode_greeting(b, cap, g->methods, g->nmethods);
}

static ssize_t enc_auth_request(uint8_t *b, size_t cap, const void *arg)
{
	const struct socks5_credentials *c = arg;
	return socks5_encode_auth_request(b, cap, c->user, c->ulen, c->pass, c->plen);
}

struct coded_addr {
	uint8_t code;
	struct socks5_addr addr;
};

static ssize_t enc_request(uint8_t *b, size_t cap, const void *arg)
{
	const struct coded_addr *c = arg;
	return socks5_encode_request(b, cap, c->code, &c->addr);
}

static void check_greeting(const uint8_t *data, size_t size)
{
	uint8_t *buf = fuzz_copy(data, size);
	struct socks5_greeting g, canary;
	ssize_t r;

	memset(&g, 0xa5, sizeof g);
	canary = g;
	r = socks5_decode_greeting(buf, size, &g);
	FUZZ_CHECK(r == dec_greeting(buf, size));
	fuzz_check_decoder(dec_greeting, data, size, r, SOCKS5_GREETING_MAX);
	if (r > 0) {
		FUZZ_CHECK(r <= SOCKS5_GREETING_MAX);
		FUZZ_CHECK(g.nmethods >= 1 && r == 2 + g.nmethods);
		fuzz_check_reencode(enc_greeting, &g, buf, (size_t)r, 0);
	} else {
		FUZZ_CHECK(memcmp(&g, &canary, sizeof g) == 0);
	}
	free(buf);
}

static void check_auth_request(const uint8_t *data, size_t size)
{
	uint8_t *buf = fuzz_copy(data, size);
	struct socks5_credentials c, canary;
	ssize_t r;

	memset(&c, 0xa5, sizeof c);
	canary = c;
	r = socks5_decode_auth_request(buf, size, &c);
	FUZZ_CHECK(r == dec_auth_request(buf, size));
	fuzz_check_decoder(dec_auth_request, data, size, r, SOCKS5_AUTH_REQUEST_MAX);
	if (r > 0) {
		FUZZ_CHECK(r <= SOCKS5_AUTH_REQUEST_MAX);
		FUZZ_CHECK(c.ulen >= 1 && c.plen >= 1 && r == 3 + c.ulen + c.plen);
		FUZZ_CHECK(strlen(c.user) == c.ulen && strlen(c.pass) == c.plen);
		fuzz_check_reencode(enc_auth_request, &c, buf, (size_t)r, 0);
	} else {
		FUZZ_CHECK(memcmp(&c, &canary, sizeof c) == 0);
	}
	free(buf);
}

static void check_request(const uint8_t *data, size_t size)
{
	uint8_t *buf = fuzz_copy(data, size);
	struct coded_addr c, canary;
	ssize_t r;

	memset(&c, 0xa5, sizeof c);
	canary = c;
	r = socks5_decode_request(buf, size, &c.code, &c.addr);
	FUZZ_CHECK(r == dec_request(buf, size));
	fuzz_check_decoder(dec_request, data, size, r, SOCKS5_REQUEST_MAX);
	if (r <= 0) {
		FUZZ_CHECK(memcmp(&c, &canary, sizeof c) == 0);
		free(buf);
		return;
	}
	FUZZ_CHECK(r <= SOCKS5_REQUEST_MAX);
	FUZZ_CHECK(buf[2] == 0x00); /* RSV is checked on requests */
	FUZZ_CHECK(c.code == buf[1]);
	fuzz_check_addr(&c.addr);
	FUZZ_CHECK(r == 3 + socks5_addr_size(&c.addr));
	fuzz_check_reencode(enc_request, &c, buf, (size_t)r, 0);
	/* What socks5d logs about a request must fit any buffer it is given. */
	for (size_t cap = 0; cap < 8; cap++)
		fuzz_check_format(&c.addr, cap);
	fuzz_check_format(&c.addr, 64);
	fuzz_check_format(&c.addr, 1100);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_greeting(data, size);
	check_auth_request(data, size);
	check_request(data, size);
	return 0;
}
