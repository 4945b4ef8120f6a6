/* fuzz_socks4_reply.c - what a SOCKS4(a) hop answers: socks4_decode_reply.
 *
 * The input, whole, is the proxy's bytes: see codec.h for the decoder
 * invariants (never a byte past the 8 of the reply, SHORT only before them,
 * malformed from the first bad byte on). A decoded reply fills its fields
 * from exactly those bytes, and its code maps to an errno and a text; the
 * input's first bytes also drive the encoder (any user id and name must
 * fit SOCKS4_REQUEST_MAX, or be refused). */
#include "codec.h"
#include "socks4.h"

#include <errno.h>

static ssize_t dec(const uint8_t *b, size_t n)
{
	return socks4_decode_reply(b, n, NULL, NULL);
}

static void check_encode(const uint8_t *data, size_t size)
{
	static uint8_t out[SOCKS4_REQUEST_MAX];
	struct socks5_addr dst;
	char uid[300];
	if (size < 2)
		return;
	/* byte 0: user id length; the rest, to the first NUL, a name */
	size_t ulen = data[0] > size - 1 ? size - 1 : data[0];
	memset(uid, 'u', ulen);
	uid[ulen] = '\0';
	char *name = fuzz_cstr(data + 1, size - 1);
	if (socks5_addr_set_domain(&dst, name, 80) == 0) {
		ssize_t r = socks4_encode_request(out, sizeof out, SOCKS4_CMD_CONNECT, &dst, uid);
		FUZZ_CHECK(r > 0 && (size_t)r == 8 + ulen + 1 + strlen(name) + 1);
		FUZZ_CHECK(out[0] == 4 && out[4] == 0 && out[5] == 0 && out[6] == 0 && out[7] != 0);
		FUZZ_CHECK(out[r - 1] == 0 && memcmp(out + 8 + ulen + 1, name, strlen(name)) == 0);
		FUZZ_CHECK(socks4_encode_request(out, (size_t)r - 1, SOCKS4_CMD_CONNECT, &dst, uid) == SOCKS5_NOSPACE);
	}
	free(name);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = fuzz_copy(data, size);
	uint8_t code = 0xa5;
	struct socks5_addr b, canary;
	memset(&b, 0x5a, sizeof b);
	canary = b;
	ssize_t r = socks4_decode_reply(buf, size, &code, &b);
	FUZZ_CHECK(r == dec(buf, size));
	fuzz_check_decoder(dec, data, size, r, SOCKS4_REPLY_LEN);
	if (r > 0) {
		FUZZ_CHECK(r == SOCKS4_REPLY_LEN && (buf[0] == 0 || buf[0] == 4));
		FUZZ_CHECK(code == buf[1] && b.atyp == SOCKS5_ATYP_IPV4);
		FUZZ_CHECK(b.port == (buf[2] << 8 | buf[3]) && memcmp(b.u.ipv4, buf + 4, 4) == 0);
		FUZZ_CHECK((socks4_code_to_errno(code) == 0) == (code == SOCKS4_REP_GRANTED));
		FUZZ_CHECK(socks4_code_str(code) != NULL);
	} else {
		FUZZ_CHECK(code == 0xa5 && memcmp(&b, &canary, sizeof b) == 0);
	}
	free(buf);
	check_encode(data, size);
	return 0;
}
