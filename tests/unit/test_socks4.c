/* test_socks4.c - the SOCKS4/SOCKS4a client codec, byte by byte. */
#include "socks4.h"
#include "unit.h"

#include <errno.h>

static struct socks5_addr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port)
{
	struct socks5_addr x;
	memset(&x, 0, sizeof x);
	x.atyp = SOCKS5_ATYP_IPV4;
	x.u.ipv4[0] = a, x.u.ipv4[1] = b, x.u.ipv4[2] = c, x.u.ipv4[3] = d;
	x.port = port;
	return x;
}

static void test_encode_socks4(void)
{
	uint8_t buf[SOCKS4_REQUEST_MAX];
	struct socks5_addr dst = v4(192, 0, 2, 7, 443);
	static const uint8_t plain[] = { 4, 1, 0x01, 0xbb, 192, 0, 2, 7, 0 };
	CHECK_INT(socks4_encode_request(buf, sizeof buf, SOCKS4_CMD_CONNECT, &dst, NULL), sizeof plain);
	CHECK_MEM(buf, plain, sizeof plain);
	CHECK_INT(socks4_encode_request(buf, sizeof buf, SOCKS4_CMD_CONNECT, &dst, ""), sizeof plain);
	CHECK_MEM(buf, plain, sizeof plain);

	static const uint8_t user[] = { 4, 2, 0, 80, 10, 0, 0, 1, 'b', 'o', 'b', 0 };
	dst = v4(10, 0, 0, 1, 80);
	CHECK_INT(socks4_encode_request(buf, sizeof buf, SOCKS4_CMD_BIND, &dst, "bob"), sizeof user);
	CHECK_MEM(buf, user, sizeof user);

	/* exactly enough room, and one byte less */
	CHECK_INT(socks4_encode_request(buf, sizeof user, SOCKS4_CMD_BIND, &dst, "bob"), sizeof user);
	CHECK_INT(socks4_encode_request(buf, sizeof user - 1, SOCKS4_CMD_BIND, &dst, "bob"), SOCKS5_NOSPACE);
	CHECK_INT(socks4_encode_request(NULL, 0, SOCKS4_CMD_BIND, &dst, "bob"), SOCKS5_NOSPACE);
}

static void test_encode_socks4a(void)
{
	uint8_t buf[SOCKS4_REQUEST_MAX];
	struct socks5_addr dst;
	socks5_addr_set_domain(&dst, "example.com", 8080);
	static const uint8_t want[] = { 4, 1, 0x1f, 0x90, 0, 0, 0, 1, 'u', 0,
					'e', 'x', 'a', 'm', 'p', 'l', 'e', '.', 'c', 'o', 'm', 0 };
	CHECK_INT(socks4_encode_request(buf, sizeof buf, SOCKS4_CMD_CONNECT, &dst, "u"), sizeof want);
	CHECK_MEM(buf, want, sizeof want);
	CHECK_INT(socks4_encode_request(buf, sizeof want - 1, SOCKS4_CMD_CONNECT, &dst, "u"), SOCKS5_NOSPACE);

	/* no user id: the name follows the empty one */
	static const uint8_t anon[] = { 4, 1, 0, 22, 0, 0, 0, 1, 0, 'h', 0 };
	socks5_addr_set_domain(&dst, "h", 22);
	CHECK_INT(socks4_encode_request(buf, sizeof buf, SOCKS4_CMD_CONNECT, &dst, NULL), sizeof anon);
	CHECK_MEM(buf, anon, sizeof anon);

	/* the largest request fits SOCKS4_REQUEST_MAX */
	char name[256], uid[256];
	unit_string(uid, 'u', 255);
	socks5_addr_set_domain(&dst, unit_string(name, 'n', 255), 1);
	CHECK_INT(socks4_encode_request(buf, sizeof buf, SOCKS4_CMD_CONNECT, &dst, uid), SOCKS4_REQUEST_MAX);
	CHECK_INT(buf[SOCKS4_REQUEST_MAX - 1], 0);
	CHECK_INT(buf[8 + 255], 0);
}

static void test_encode_refused(void)
{
	uint8_t buf[SOCKS4_REQUEST_MAX];
	struct socks5_addr dst;
	memset(&dst, 0, sizeof dst);
	dst.atyp = SOCKS5_ATYP_IPV6;
	dst.u.ipv6[15] = 1;
	CHECK_INT(socks4_encode_request(buf, sizeof buf, SOCKS4_CMD_CONNECT, &dst, NULL), SOCKS5_MALFORMED);
	dst.atyp = 9;
	CHECK_INT(socks4_encode_request(buf, sizeof buf, SOCKS4_CMD_CONNECT, &dst, NULL), SOCKS5_MALFORMED);
	CHECK_INT(socks4_encode_request(buf, sizeof buf, SOCKS4_CMD_CONNECT, NULL, NULL), SOCKS5_MALFORMED);
	char uid[300];
	memset(uid, 'u', 256);
	uid[256] = '\0';
	dst = v4(1, 2, 3, 4, 5);
	CHECK_INT(socks4_encode_request(buf, sizeof buf, SOCKS4_CMD_CONNECT, &dst, uid), SOCKS5_MALFORMED);
	/* a domain of length 0, or with a NUL inside, cannot be sent */
	memset(&dst, 0, sizeof dst);
	dst.atyp = SOCKS5_ATYP_DOMAIN;
	CHECK_INT(socks4_encode_request(buf, sizeof buf, SOCKS4_CMD_CONNECT, &dst, NULL), SOCKS5_MALFORMED);
	dst.u.domain.len = 3;
	memcpy(dst.u.domain.name, "a\0b", 3);
	CHECK_INT(socks4_encode_request(buf, sizeof buf, SOCKS4_CMD_CONNECT, &dst, NULL), SOCKS5_MALFORMED);
}

static void test_decode_reply(void)
{
	static const uint8_t granted[] = { 0, 90, 0x04, 0x38, 127, 0, 0, 1, 0xEE };
	uint8_t code = 0;
	struct socks5_addr b;
	for (size_t k = 0; k < 8; k++)
		CHECK_INT(socks4_decode_reply(granted, k, &code, &b), SOCKS5_SHORT);
	CHECK_INT(code, 0);
	/* 8 bytes exactly, the byte after them never part of it */
	CHECK_INT(socks4_decode_reply(granted, sizeof granted, &code, &b), 8);
	CHECK_INT(code, 90);
	CHECK_INT(b.atyp, SOCKS5_ATYP_IPV4);
	CHECK_INT(b.port, 1080);
	CHECK_MEM(b.u.ipv4, "\x7f\x00\x00\x01", 4);
	CHECK_INT(socks4_decode_reply(granted, 8, NULL, NULL), 8);

	static const uint8_t v4[] = { 4, 91, 0, 0, 0, 0, 0, 0 };
	CHECK_INT(socks4_decode_reply(v4, 8, &code, NULL), 8);
	CHECK_INT(code, 91);

	/* a SOCKS5 answer (05 ..) or HTTP ("HTTP/") is malformed at its first byte */
	CHECK_INT(socks4_decode_reply((const uint8_t *)"\x05\x00", 1, &code, NULL), SOCKS5_MALFORMED);
	CHECK_INT(socks4_decode_reply((const uint8_t *)"HTTP/1.0 ", 9, &code, NULL), SOCKS5_MALFORMED);
	CHECK_INT(socks4_decode_reply(NULL, 0, NULL, NULL), SOCKS5_SHORT);
}

static void test_codes(void)
{
	CHECK_INT(socks4_code_to_errno(90), 0);
	CHECK_INT(socks4_code_to_errno(91), ECONNREFUSED);
	CHECK_INT(socks4_code_to_errno(92), EACCES);
	CHECK_INT(socks4_code_to_errno(93), EACCES);
	CHECK_INT(socks4_code_to_errno(0), ECONNREFUSED);
	CHECK_STR(socks4_code_str(91), "request rejected or failed");
	CHECK_STR(socks4_code_str(92), "rejected: the proxy cannot reach our identd");
	CHECK_STR(socks4_code_str(7), "unknown reply code");
}

int main(void)
{
	test_encode_socks4();
	test_encode_socks4a();
	test_encode_refused();
	test_decode_reply();
	test_codes();
	return unit_report();
}
