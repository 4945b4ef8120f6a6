/* httpconnect.h - the client side of an HTTP CONNECT tunnel (RFC 9110 section 9.3.6).
 *
 * Pure functions, no I/O, with socks5.h's return conventions (SOCKS5_SHORT,
 * SOCKS5_MALFORMED, SOCKS5_NOSPACE). The response head ends at the first
 * CRLFCRLF; the decoder says where, so a reader takes exactly the head and
 * never a byte of what follows (the tunnel's data, or a refusal's body). */
#ifndef SOCKSIFY_HTTPCONNECT_H
#define SOCKSIFY_HTTPCONNECT_H

#include "socks5.h"

/* The longest response head accepted; a longer one is SOCKS5_MALFORMED. */
#define HTTP_CONNECT_HEAD_MAX 4096
/* The longest request: the authority twice, and Basic credentials of 255+1+255 bytes. */
#define HTTP_CONNECT_REQUEST_MAX 1400

/* "CONNECT host:port HTTP/1.1", a Host header of the same authority (IPv6 in
 * brackets) and, with user (then pass too, may be empty), "Proxy-Authorization:
 * Basic base64(user:pass)". SOCKS5_MALFORMED for a name holding bytes that
 * are not allowed in an authority (space, CR, LF, '/', '@'...), or a user id
 * holding ':' (RFC 7617 cannot carry it). */
ssize_t http_connect_encode(uint8_t *buf, size_t cap, const struct socks5_addr *dst, const char *user,
			    const char *pass);

/* The response head "HTTP/1.x SSS [reason]\r\n" headers... "\r\n": returns
 * its length including the final CRLFCRLF, with *status (100-599). Malformed:
 * a status line of any other form, a head longer than HTTP_CONNECT_HEAD_MAX. */
ssize_t http_connect_decode_head(const uint8_t *buf, size_t len, int *status);

/* The errno for a status: 0 for 2xx; 407, 401 and 403 EACCES; 504 ETIMEDOUT;
 * 404/502 (no such host, or unreachable) EHOSTUNREACH; others ECONNREFUSED. */
int http_status_to_errno(int status);

/* Standard base64 (RFC 4648 section 4, with padding) of in[0..n) into out,
 * NUL-terminated. Returns the length, or SOCKS5_NOSPACE. */
ssize_t http_base64(char *out, size_t cap, const uint8_t *in, size_t n);

#endif
