/* httpconnect.c - HTTP CONNECT request encoder and response head decoder.
 *
 * Decided once:
 *  - the status line must be HTTP/<digit>.<digit>, one space, three digits,
 *    then a space and a reason or nothing; its first bytes are checked as soon
 *    as they arrive, so a non-HTTP peer is MALFORMED at once;
 *  - lines end in CRLF and the head in CRLFCRLF (a bare LF is not an end);
 *  - header fields are not interpreted: a 2xx response has no content (RFC 9110:
 *    a client ignores Content-Length and Transfer-Encoding in it), and any
 *    other status ends the attempt without reading its body.
 */
#include "httpconnect.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

ssize_t http_base64(char *out, size_t cap, const uint8_t *in, size_t n)
{
	static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t need = (n + 2) / 3 * 4, o = 0;

	if (!out || cap < need + 1)
		return SOCKS5_NOSPACE;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = abc[v >> 18 & 63];
		out[o++] = abc[v >> 12 & 63];
		out[o++] = i + 1 < n ? abc[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? abc[v & 63] : '=';
	}
	out[o] = '\0';
	return (ssize_t)o;
}

/* RFC 3986 reg-name characters we send (letters, digits, - . _ ~), enough for DNS names. */
static int authority_name_ok(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
		      c == '.' || c == '_' || c == '~'))
			return 0;
	}
	return n > 0;
}

/* "host:port" of dst into out[cap]; returns the length or a negative code. */
static int format_authority(const struct socks5_addr *dst, char *out, size_t cap)
{
	char ip[64];

	switch (dst->atyp) {
	case SOCKS5_ATYP_IPV4:
		snprintf(ip, sizeof ip, "%u.%u.%u.%u", dst->u.ipv4[0], dst->u.ipv4[1], dst->u.ipv4[2], dst->u.ipv4[3]);
		return snprintf(out, cap, "%s:%u", ip, dst->port);
	case SOCKS5_ATYP_IPV6:
		/* socks5_addr_format prints "[v6]:port" already */
		socks5_addr_format(dst, out, cap);
		return (int)strlen(out);
	case SOCKS5_ATYP_DOMAIN:
		if (!authority_name_ok(dst->u.domain.name, dst->u.domain.len) ||
		    strlen(dst->u.domain.name) != dst->u.domain.len)
			return SOCKS5_MALFORMED;
		return snprintf(out, cap, "%s:%u", dst->u.domain.name, dst->port);
	default:
		return SOCKS5_MALFORMED;
	}
}

ssize_t http_connect_encode(uint8_t *buf, size_t cap, const struct socks5_addr *dst, const char *user,
			    const char *pass)
{
	char auth[700 + 32], cred[255 + 1 + 255 + 1], b64[((sizeof cred + 2) / 3) * 4 + 1];
	char authority[300];
	if (!dst || format_authority(dst, authority, sizeof authority) < 0)
		return SOCKS5_MALFORMED;
	auth[0] = '\0';
	if (user) {
		size_t ulen = strlen(user), plen = pass ? strlen(pass) : 0;
		if (ulen > 255 || plen > 255 || strchr(user, ':'))
			return SOCKS5_MALFORMED;
		memcpy(cred, user, ulen);
		cred[ulen] = ':';
		memcpy(cred + ulen + 1, pass ? pass : "", plen);
		http_base64(b64, sizeof b64, (const uint8_t *)cred, ulen + 1 + plen);
		snprintf(auth, sizeof auth, "Proxy-Authorization: Basic %s\r\n", b64);
	}
	char msg[HTTP_CONNECT_REQUEST_MAX + 1];
	int need = snprintf(msg, sizeof msg, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n%s\r\n", authority, authority, auth);
	if (need < 0 || (size_t)need >= sizeof msg)
		return SOCKS5_MALFORMED;
	if (!buf || cap < (size_t)need)
		return SOCKS5_NOSPACE;
	memcpy(buf, msg, (size_t)need);
	return need;
}

ssize_t http_connect_decode_head(const uint8_t *buf, size_t len, int *status)
{
	static const char proto[] = "HTTP/"; /* then D.D SP DDD */
	size_t scan = len < HTTP_CONNECT_HEAD_MAX ? len : HTTP_CONNECT_HEAD_MAX;

	/* The status line's fixed part, byte by byte as it arrives. */
	for (size_t i = 0; i < scan && i < 12; i++) {
		uint8_t c = buf[i];
		int ok;
		if (i < 5)
			ok = c == (uint8_t)proto[i];
		else if (i == 5 || i == 7 || (i >= 9 && i <= 11))
			ok = c >= '0' && c <= '9';
		else if (i == 6)
			ok = c == '.';
		else /* i == 8 */
			ok = c == ' ';
		if (!ok)
			return SOCKS5_MALFORMED;
	}
	const uint8_t *end = NULL;
	for (size_t i = 3; i < scan; i++)
		if (buf[i] == '\n' && buf[i - 1] == '\r' && buf[i - 2] == '\n' && buf[i - 3] == '\r') {
			end = buf + i + 1;
			break;
		}
	if (!end)
		return len >= HTTP_CONNECT_HEAD_MAX ? SOCKS5_MALFORMED : SOCKS5_SHORT;
	/* After the code: CRLF, or a space and a reason without control bytes but tab. */
	if (end - buf < 14)
		return SOCKS5_MALFORMED;
	const uint8_t *eol = memchr(buf, '\r', (size_t)(end - buf));
	if (eol < buf + 12 || (eol > buf + 12 && buf[12] != ' ') || eol[1] != '\n')
		return SOCKS5_MALFORMED;
	for (const uint8_t *p = buf + 12; p < eol; p++)
		if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
			return SOCKS5_MALFORMED;
	int code = (buf[9] - '0') * 100 + (buf[10] - '0') * 10 + (buf[11] - '0');
	if (code < 100 || code > 599)
		return SOCKS5_MALFORMED;
	if (status)
		*status = code;
	return end - buf;
}

int http_status_to_errno(int status)
{
	if (status >= 200 && status <= 299)
		return 0;
	switch (status) {
	case 401: /* tinyproxy's answer to wrong Basic credentials */
	case 403:
	case 407:
		return EACCES;
	case 504:
		return ETIMEDOUT;
	case 404:
	case 502:
		return EHOSTUNREACH;
	default:
		return ECONNREFUSED;
	}
}
