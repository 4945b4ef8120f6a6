/* fuzz_http_head.c - what an HTTP CONNECT hop answers: http_connect_decode_head.
 *
 * The input, whole, is the proxy's bytes: see codec.h for the decoder
 * invariants; here the "message" is the response head, so a reader that
 * takes exactly its length never takes a byte of the tunnel or of a
 * refusal's body. A decoded head ends in the first CRLFCRLF, starts with
 * "HTTP/d.d ddd", and its status maps to an errno. The input also drives the
 * request encoder as a host name with Basic credentials: the request is one
 * of the expected form, or refused, never a header injection. */
#include "codec.h"
#include "httpconnect.h"

#include <errno.h>

static ssize_t dec(const uint8_t *b, size_t n)
{
	return http_connect_decode_head(b, n, NULL);
}

static void check_encode(const uint8_t *data, size_t size)
{
	static uint8_t out[HTTP_CONNECT_REQUEST_MAX];
	struct socks5_addr dst;
	char *s = fuzz_cstr(data, size);
	size_t n = strlen(s), half = n / 2;
	char user[256], pass[256];
	snprintf(user, sizeof user, "%.*s", (int)(half < 255 ? half : 255), s);
	snprintf(pass, sizeof pass, "%.255s", s + half);
	if (socks5_addr_set_domain(&dst, s, 443) == 0) {
		ssize_t r = http_connect_encode(out, sizeof out, &dst, user[0] ? user : NULL, pass);
		FUZZ_CHECK(r > 0 || r == SOCKS5_MALFORMED);
		if (r > 0) {
			/* exactly three CRLFs and the empty line at the end: nothing injected */
			int crlf = 0;
			for (ssize_t i = 0; i + 1 < r; i++) {
				FUZZ_CHECK(out[i] != '\r' || out[i + 1] == '\n');
				FUZZ_CHECK(out[i + 1] != '\n' || out[i] == '\r');
				crlf += out[i] == '\r';
			}
			FUZZ_CHECK(crlf == (user[0] ? 4 : 3));
			FUZZ_CHECK(memcmp(out, "CONNECT ", 8) == 0 && memcmp(out + r - 4, "\r\n\r\n", 4) == 0);
			FUZZ_CHECK(http_connect_encode(out, (size_t)r - 1, &dst, user[0] ? user : NULL, pass) ==
				   SOCKS5_NOSPACE);
		}
	}
	free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *buf = fuzz_copy(data, size);
	int status = -1;
	ssize_t r = http_connect_decode_head(buf, size, &status);
	FUZZ_CHECK(r == dec(buf, size));
	fuzz_check_decoder(dec, data, size, r, HTTP_CONNECT_HEAD_MAX);
	if (r > 0) {
		FUZZ_CHECK(r >= 16 && memcmp(buf, "HTTP/", 5) == 0 && memcmp(buf + r - 4, "\r\n\r\n", 4) == 0);
		/* the first CRLFCRLF ends it */
		for (ssize_t i = 0; i + 4 < r; i++)
			FUZZ_CHECK(memcmp(buf + i, "\r\n\r\n", 4) != 0);
		FUZZ_CHECK(status >= 100 && status <= 599);
		FUZZ_CHECK(status == (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0'));
		int e = http_status_to_errno(status);
		FUZZ_CHECK((e == 0) == (status >= 200 && status <= 299));
	} else {
		FUZZ_CHECK(status == -1);
	}
	free(buf);
	check_encode(data, size);
	return 0;
}
