/* fuzz_udp_header.c - the SOCKS5 UDP request header (RFC 1928 section 7).
 *
 * Both ends decode it from whole datagrams: the input is one datagram. A
 * decoded header encodes back to the same bytes (RSV, ignored on input, is
 * written as 0), and the payload starts right after it. Then the other way:
 * an address built from the input is encoded into a buffer of a chosen size
 * (NOSPACE when too small, never a write past it) and decodes back to itself. */
#include "codec.h"

static ssize_t dec_udp(const uint8_t *b, size_t n)
{
	return socks5_decode_udp_header(b, n, NULL, NULL);
}

struct coded_addr {
	uint8_t frag;
	struct socks5_addr addr;
};

static ssize_t enc_udp(uint8_t *b, size_t cap, const void *arg)
{
	const struct coded_addr *c = arg;
	return socks5_encode_udp_header(b, cap, c->frag, &c->addr);
}

static void check_decode(const uint8_t *data, size_t size)
{
	uint8_t *buf = fuzz_copy(data, size);
	struct coded_addr c, canary;
	ssize_t r;

	memset(&c, 0xa5, sizeof c);
	canary = c;
	r = socks5_decode_udp_header(buf, size, &c.frag, &c.addr);
	FUZZ_CHECK(r == dec_udp(buf, size));
	fuzz_check_decoder(dec_udp, data, size, r, SOCKS5_UDP_HEADER_MAX);
	if (r <= 0) {
		FUZZ_CHECK(memcmp(&c, &canary, sizeof c) == 0);
		free(buf);
		return;
	}
	FUZZ_CHECK(r <= SOCKS5_UDP_HEADER_MAX);
	FUZZ_CHECK(c.frag == buf[2]);
	fuzz_check_addr(&c.addr);
	FUZZ_CHECK(r == 3 + socks5_addr_size(&c.addr));
	fuzz_check_reencode(enc_udp, &c, buf, (size_t)r, 1u << 0 | 1u << 1);
	fuzz_check_format(&c.addr, 0);
	fuzz_check_format(&c.addr, 1);
	fuzz_check_format(&c.addr, 30);
	free(buf);
}

/* An address from the input: byte 0 picks ATYP and frag, byte 1 the buffer size, then address bytes. */
static void check_encode(const uint8_t *data, size_t size)
{
	struct socks5_addr a;
	uint8_t frag, atyps[4] = { SOCKS5_ATYP_IPV4, SOCKS5_ATYP_IPV6, SOCKS5_ATYP_DOMAIN, 0x05 };

	if (size < 4)
		return;
	memset(&a, 0, sizeof a);
	a.atyp = atyps[data[0] & 3];
	frag = data[0] >> 2;
	size_t cap = data[1] + (size_t)(data[0] & 0x80 ? 256 : 0);
	a.port = (uint16_t)(data[2] << 8 | data[3]);
	const uint8_t *p = data + 4;
	size_t n = size - 4;
	if (a.atyp == SOCKS5_ATYP_IPV4)
		memcpy(a.u.ipv4, p, n < 4 ? n : 4);
	else if (a.atyp == SOCKS5_ATYP_IPV6)
		memcpy(a.u.ipv6, p, n < 16 ? n : 16);
	else if (a.atyp == SOCKS5_ATYP_DOMAIN) {
		a.u.domain.len = (uint8_t)(n < 255 ? n : 255); /* 0 and embedded NULs must be refused */
		memcpy(a.u.domain.name, p, a.u.domain.len);
	}

	ssize_t want = socks5_addr_size(&a);
	uint8_t *buf = fuzz_alloc(cap);
	ssize_t r = socks5_encode_udp_header(buf, cap, frag, &a);
	if (want < 0) {
		FUZZ_CHECK(r == SOCKS5_MALFORMED);
		FUZZ_CHECK(a.atyp != SOCKS5_ATYP_IPV4 && a.atyp != SOCKS5_ATYP_IPV6);
		free(buf);
		return;
	}
	if (cap < 3 + (size_t)want) {
		FUZZ_CHECK(r == SOCKS5_NOSPACE);
		free(buf);
		return;
	}
	FUZZ_CHECK(r == 3 + want);
	struct coded_addr back;
	FUZZ_CHECK(socks5_decode_udp_header(buf, (size_t)r, &back.frag, &back.addr) == r);
	FUZZ_CHECK(back.frag == frag && memcmp(&back.addr, &a, sizeof a) == 0);
	free(buf);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	check_decode(data, size);
	check_encode(data, size);
	return 0;
}
