/* test_httpconnect.c - the HTTP CONNECT codec and base64, byte by byte. */
#include "httpconnect.h"
#include "unit.h"

#include <errno.h>

static uint8_t buf[HTTP_CONNECT_REQUEST_MAX];

#define CHECK_REQUEST(dst, user, pass, want) check_request((dst), (user), (pass), (want), __LINE__)

static void check_request(const struct socks5_addr *dst, const char *user, const char *pass, const char *want,
			  int line)
{
	size_t n = strlen(want);
	memset(buf, 0xAA, sizeof buf);
	ssize_t r = http_connect_encode(buf, sizeof buf, dst, user, pass);
	unit_check_long(r, (long)n, __FILE__, line, "request length");
	if (r == (ssize_t)n)
		unit_check_mem(buf, want, n, __FILE__, line, want);
	unit_check(buf[n] == 0xAA, __FILE__, line, "nothing written past the request");
	/* exactly enough room works; one byte less is NOSPACE */
	unit_check_long(http_connect_encode(buf, n, dst, user, pass), (long)n, __FILE__, line, "exact room");
	unit_check_long(http_connect_encode(buf, n - 1, dst, user, pass), SOCKS5_NOSPACE, __FILE__, line, "no room");
}

static void test_base64(void)
{
	char out[32];
	/* RFC 4648 section 10 test vectors */
	static const char *const vec[][2] = { { "", "" },	  { "f", "Zg==" },	   { "fo", "Zm8=" },
					       { "foo", "Zm9v" },  { "foob", "Zm9vYg==" }, { "fooba", "Zm9vYmE=" },
					       { "foobar", "Zm9vYmFy" } };
	for (size_t i = 0; i < sizeof vec / sizeof vec[0]; i++) {
		CHECK_INT(http_base64(out, sizeof out, (const uint8_t *)vec[i][0], strlen(vec[i][0])), strlen(vec[i][1]));
		CHECK_STR(out, vec[i][1]);
	}
	/* RFC 7617's example, and every bit pattern of the alphabet's ends */
	CHECK_INT(http_base64(out, sizeof out, (const uint8_t *)"Aladdin:open sesame", 19), 28);
	CHECK_STR(out, "QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
	CHECK_INT(http_base64(out, sizeof out, (const uint8_t *)"\xfb\xff\xbf", 3), 4);
	CHECK_STR(out, "+/+/");
	CHECK_INT(http_base64(out, 5, (const uint8_t *)"foo", 3), 4);
	CHECK_INT(http_base64(out, 4, (const uint8_t *)"foo", 3), SOCKS5_NOSPACE);
}

static void test_encode(void)
{
	struct socks5_addr a;
	memset(&a, 0, sizeof a);
	a.atyp = SOCKS5_ATYP_IPV4;
	memcpy(a.u.ipv4, "\xc0\x00\x02\x07", 4);
	a.port = 443;
	CHECK_REQUEST(&a, NULL, NULL, "CONNECT 192.0.2.7:443 HTTP/1.1\r\nHost: 192.0.2.7:443\r\n\r\n");

	memset(&a, 0, sizeof a);
	a.atyp = SOCKS5_ATYP_IPV6;
	a.u.ipv6[15] = 1;
	a.port = 8080;
	CHECK_REQUEST(&a, NULL, NULL, "CONNECT [::1]:8080 HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n");

	socks5_addr_set_domain(&a, "example.com", 80);
	CHECK_REQUEST(&a, "Aladdin", "open sesame",
		      "CONNECT example.com:80 HTTP/1.1\r\nHost: example.com:80\r\n"
		      "Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n\r\n");
	CHECK_REQUEST(&a, "u", "", "CONNECT example.com:80 HTTP/1.1\r\nHost: example.com:80\r\n"
				  "Proxy-Authorization: Basic dTo=\r\n\r\n");

	/* the longest: a 255-byte name, 255-byte user and password */
	char name[256], user[256];
	unit_string(user, 'u', 255);
	socks5_addr_set_domain(&a, unit_string(name, 'n', 255), 65535);
	ssize_t r = http_connect_encode(buf, sizeof buf, &a, user, user);
	CHECK(r > 1000 && r <= HTTP_CONNECT_REQUEST_MAX);
}

static void test_encode_refused(void)
{
	struct socks5_addr a;
	/* bytes that would change the request's meaning */
	static const char *const bad[] = { "a b", "a\r\nX: y", "a/b", "a@b", "a:b", "a?b", "a%20" };
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		socks5_addr_set_domain(&a, bad[i], 80);
		CHECK_INT(http_connect_encode(buf, sizeof buf, &a, NULL, NULL), SOCKS5_MALFORMED);
	}
	socks5_addr_set_domain(&a, "ok.example", 80);
	CHECK_INT(http_connect_encode(buf, sizeof buf, &a, "a:b", "c"), SOCKS5_MALFORMED); /* RFC 7617 */
	CHECK_INT(http_connect_encode(buf, sizeof buf, NULL, NULL, NULL), SOCKS5_MALFORMED);
	memset(&a, 0, sizeof a);
	a.atyp = 2;
	CHECK_INT(http_connect_encode(buf, sizeof buf, &a, NULL, NULL), SOCKS5_MALFORMED);
}

#define CHECK_HEAD(s, want_len, want_status) check_head((s), sizeof(s) - 1, (want_len), (want_status), __LINE__)

static void check_head(const char *s, size_t len, ssize_t want, int want_status, int line)
{
	int status = -7;
	ssize_t r = http_connect_decode_head((const uint8_t *)s, len, &status);
	unit_check_long(r, want, __FILE__, line, s);
	unit_check_long(status, r > 0 ? want_status : -7, __FILE__, line, "status (untouched unless complete)");
	if (r > 0) /* every prefix of a complete head is SHORT */
		for (size_t k = 0; k < (size_t)r; k++)
			unit_check_long(http_connect_decode_head((const uint8_t *)s, k, NULL), SOCKS5_SHORT, __FILE__, line,
					"prefix");
}

static void test_decode(void)
{
	CHECK_HEAD("HTTP/1.1 200 Connection established\r\n\r\n", 39, 200);
	/* the tunnel's first bytes after the head are not part of it */
	CHECK_HEAD("HTTP/1.0 200 OK\r\nProxy-agent: tinyproxy/1.11.1\r\n\r\nSSH-2.0-banner\r\n\r\n", 50, 200);
	CHECK_HEAD("HTTP/1.1 200\r\n\r\n", 16, 200);
	CHECK_HEAD("HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"x\"\r\n"
		   "Content-Length: 5\r\n\r\nbody!",
		   102, 407);
	CHECK_HEAD("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n", 25, 100);
	CHECK_HEAD("HTTP/1.1 502 Bad Gateway\r\n\r\n", 28, 502);

	/* not yet */
	CHECK_HEAD("HTTP/1.1 200 OK\r\n", SOCKS5_SHORT, 0);
	CHECK_HEAD("HTTP/1.1 200 OK\r\n\r", SOCKS5_SHORT, 0);
	CHECK_HEAD("HTTP/1.1 200 OK\n\n", SOCKS5_SHORT, 0); /* bare LFs do not end it */
	CHECK_HEAD("", SOCKS5_SHORT, 0);

	/* wrong from the first bad byte on */
	CHECK_HEAD("\x05\x00", SOCKS5_MALFORMED, 0);
	CHECK_HEAD("HTTP/2 200\r\n\r\n", SOCKS5_MALFORMED, 0);
	CHECK_HEAD("HTTP/1.1  200 OK", SOCKS5_MALFORMED, 0);
	CHECK_HEAD("HTTP/1.1 20x", SOCKS5_MALFORMED, 0);
	CHECK_HEAD("http/1.1 200 OK\r\n\r\n", SOCKS5_MALFORMED, 0);
	/* wrong once the head is complete */
	CHECK_HEAD("HTTP/1.1 200X\r\n\r\n", SOCKS5_MALFORMED, 0);
	CHECK_HEAD("HTTP/1.1 099 Low\r\n\r\n", SOCKS5_MALFORMED, 0);
	CHECK_HEAD("HTTP/1.1 600 High\r\n\r\n", SOCKS5_MALFORMED, 0);
	CHECK_HEAD("HTTP/1.1 200 O\x01K\r\n\r\n", SOCKS5_MALFORMED, 0);
	CHECK_HEAD("HTTP/1.1 200 OK\rX\r\n\r\n", SOCKS5_MALFORMED, 0);

	/* too long: SHORT below the limit, MALFORMED at it, even if the end comes later */
	static uint8_t big[HTTP_CONNECT_HEAD_MAX + 8];
	memset(big, 'x', sizeof big);
	memcpy(big, "HTTP/1.1 200 OK\r\nX: ", 20);
	CHECK_INT(http_connect_decode_head(big, HTTP_CONNECT_HEAD_MAX - 1, NULL), SOCKS5_SHORT);
	CHECK_INT(http_connect_decode_head(big, HTTP_CONNECT_HEAD_MAX, NULL), SOCKS5_MALFORMED);
	memcpy(big + HTTP_CONNECT_HEAD_MAX, "\r\n\r\n", 4);
	CHECK_INT(http_connect_decode_head(big, sizeof big, NULL), SOCKS5_MALFORMED);
	/* ...and a head that ends exactly at the limit is fine */
	memcpy(big + HTTP_CONNECT_HEAD_MAX - 4, "\r\n\r\n", 4);
	CHECK_INT(http_connect_decode_head(big, sizeof big, NULL), HTTP_CONNECT_HEAD_MAX);
}

static void test_errno(void)
{
	CHECK_INT(http_status_to_errno(200), 0);
	CHECK_INT(http_status_to_errno(204), 0);
	CHECK_INT(http_status_to_errno(407), EACCES);
	CHECK_INT(http_status_to_errno(403), EACCES);
	CHECK_INT(http_status_to_errno(401), EACCES);
	CHECK_INT(http_status_to_errno(502), EHOSTUNREACH);
	CHECK_INT(http_status_to_errno(404), EHOSTUNREACH);
	CHECK_INT(http_status_to_errno(504), ETIMEDOUT);
	CHECK_INT(http_status_to_errno(500), ECONNREFUSED);
	CHECK_INT(http_status_to_errno(503), ECONNREFUSED);
	CHECK_INT(http_status_to_errno(301), ECONNREFUSED);
}

int main(void)
{
	test_base64();
	test_encode();
	test_encode_refused();
	test_decode();
	test_errno();
	return unit_report();
}
