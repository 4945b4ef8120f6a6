/* socks5.c - RFC 1928 / RFC 1929 message encoders and decoders.
 *
 * Every decoder checks each byte as soon as it is in buf, so a prefix that
 * is already wrong is SOCKS5_MALFORMED at once rather than SOCKS5_SHORT, and
 * nothing at or past len is ever read. Decoders fill their out parameters
 * (which may be NULL) only when they return > 0.
 *
 * Leniency, decided once:
 *  - request RSV must be 0x00 (RFC 1928); reply RSV and UDP RSV are ignored;
 *  - CMD, REP, METHOD, STATUS and FRAG values are passed through unchecked:
 *    the caller answers or reports them (e.g. REP 0x07 for an unknown CMD);
 *  - a NUL byte inside a domain, user name or password is malformed, since
 *    the structs hand these out as C strings and a server must not compare
 *    a truncated name;
 *  - the RFC 1929 reply may carry VER 0x05, which some servers send.
 */
#include "socks5.h"

#include <string.h>

/* Size of ATYP ADDR PORT starting at p, or SOCKS5_SHORT / SOCKS5_MALFORMED. */
static ssize_t wire_addr_measure(const uint8_t *p, size_t len)
{
	size_t size;

	if (len < 1)
		return SOCKS5_SHORT;
	switch (p[0]) {
	case SOCKS5_ATYP_IPV4:
		size = 1 + 4 + 2;
		break;
	case SOCKS5_ATYP_IPV6:
		size = 1 + 16 + 2;
		break;
	case SOCKS5_ATYP_DOMAIN:
		if (len < 2)
			return SOCKS5_SHORT;
		if (p[1] == 0)
			return SOCKS5_MALFORMED;
		size_t seen = len - 2 < p[1] ? len - 2 : p[1];
		if (memchr(p + 2, '\0', seen))
			return SOCKS5_MALFORMED;
		size = 1 + 1 + (size_t)p[1] + 2;
		break;
	default:
		return SOCKS5_MALFORMED;
	}
	return len < size ? SOCKS5_SHORT : (ssize_t)size;
}

/* Fills out from an address that wire_addr_measure accepted. */
static void wire_addr_fill(const uint8_t *p, struct socks5_addr *out)
{
	const uint8_t *port;

	memset(out, 0, sizeof *out);
	out->atyp = p[0];
	switch (p[0]) {
	case SOCKS5_ATYP_IPV4:
		memcpy(out->u.ipv4, p + 1, 4);
		port = p + 1 + 4;
		break;
	case SOCKS5_ATYP_IPV6:
		memcpy(out->u.ipv6, p + 1, 16);
		port = p + 1 + 16;
		break;
	default: /* SOCKS5_ATYP_DOMAIN */
		out->u.domain.len = p[1];
		memcpy(out->u.domain.name, p + 2, p[1]);
		port = p + 2 + p[1];
		break;
	}
	out->port = (uint16_t)(port[0] << 8 | port[1]);
}

ssize_t socks5_addr_size(const struct socks5_addr *a)
{
	if (!a)
		return SOCKS5_MALFORMED;
	switch (a->atyp) {
	case SOCKS5_ATYP_IPV4:
		return 1 + 4 + 2;
	case SOCKS5_ATYP_IPV6:
		return 1 + 16 + 2;
	case SOCKS5_ATYP_DOMAIN:
		if (a->u.domain.len == 0 || memchr(a->u.domain.name, '\0', a->u.domain.len))
			return SOCKS5_MALFORMED;
		return 1 + 1 + a->u.domain.len + 2;
	default:
		return SOCKS5_MALFORMED;
	}
}

/* Writes ATYP ADDR PORT; the caller has checked the space with socks5_addr_size. */
static size_t wire_addr_write(uint8_t *p, const struct socks5_addr *a)
{
	size_t n = 0;

	p[n++] = a->atyp;
	switch (a->atyp) {
	case SOCKS5_ATYP_IPV4:
		memcpy(p + n, a->u.ipv4, 4);
		n += 4;
		break;
	case SOCKS5_ATYP_IPV6:
		memcpy(p + n, a->u.ipv6, 16);
		n += 16;
		break;
	default: /* SOCKS5_ATYP_DOMAIN */
		p[n++] = a->u.domain.len;
		memcpy(p + n, a->u.domain.name, a->u.domain.len);
		n += a->u.domain.len;
		break;
	}
	p[n++] = (uint8_t)(a->port >> 8);
	p[n++] = (uint8_t)a->port;
	return n;
}

/* Encodes B0 B1 B2 followed by an address: requests, replies and UDP headers share it. */
static ssize_t encode_head_and_addr(uint8_t *buf, size_t cap, uint8_t b0, uint8_t b1, uint8_t b2,
				    const struct socks5_addr *a)
{
	ssize_t asize = socks5_addr_size(a);

	if (asize < 0)
		return asize;
	if (!buf || cap < 3 + (size_t)asize)
		return SOCKS5_NOSPACE;
	buf[0] = b0;
	buf[1] = b1;
	buf[2] = b2;
	return (ssize_t)(3 + wire_addr_write(buf + 3, a));
}

ssize_t socks5_encode_greeting(uint8_t *buf, size_t cap, const uint8_t *methods, size_t nmethods)
{
	if (nmethods < 1 || nmethods > 255 || !methods)
		return SOCKS5_MALFORMED;
	if (!buf || cap < 2 + nmethods)
		return SOCKS5_NOSPACE;
	buf[0] = SOCKS5_VERSION;
	buf[1] = (uint8_t)nmethods;
	memcpy(buf + 2, methods, nmethods);
	return (ssize_t)(2 + nmethods);
}

ssize_t socks5_decode_greeting(const uint8_t *buf, size_t len, struct socks5_greeting *out)
{
	if (len < 1)
		return SOCKS5_SHORT;
	if (buf[0] != SOCKS5_VERSION)
		return SOCKS5_MALFORMED;
	if (len < 2)
		return SOCKS5_SHORT;
	if (buf[1] == 0)
		return SOCKS5_MALFORMED;
	size_t size = 2 + (size_t)buf[1];
	if (len < size)
		return SOCKS5_SHORT;
	if (out) {
		memset(out, 0, sizeof *out);
		out->nmethods = buf[1];
		memcpy(out->methods, buf + 2, buf[1]);
	}
	return (ssize_t)size;
}

/* Two-byte messages: method choice (VER 0x05) and RFC 1929 reply (VER 0x01). */
static ssize_t encode_pair(uint8_t *buf, size_t cap, uint8_t ver, uint8_t value)
{
	if (!buf || cap < 2)
		return SOCKS5_NOSPACE;
	buf[0] = ver;
	buf[1] = value;
	return 2;
}

ssize_t socks5_encode_method_choice(uint8_t *buf, size_t cap, uint8_t method)
{
	return encode_pair(buf, cap, SOCKS5_VERSION, method);
}

ssize_t socks5_decode_method_choice(const uint8_t *buf, size_t len, uint8_t *method)
{
	if (len < 1)
		return SOCKS5_SHORT;
	if (buf[0] != SOCKS5_VERSION)
		return SOCKS5_MALFORMED;
	if (len < 2)
		return SOCKS5_SHORT;
	if (method)
		*method = buf[1];
	return 2;
}

/* 1..255 bytes without a NUL: what RFC 1929 fields must hold for us. */
static int auth_field_ok(const char *s, size_t n)
{
	return s && n >= 1 && n <= 255 && !memchr(s, '\0', n);
}

ssize_t socks5_encode_auth_request(uint8_t *buf, size_t cap, const char *user, size_t ulen,
				   const char *pass, size_t plen)
{
	if (!auth_field_ok(user, ulen) || !auth_field_ok(pass, plen))
		return SOCKS5_MALFORMED;
	size_t size = 3 + ulen + plen;
	if (!buf || cap < size)
		return SOCKS5_NOSPACE;
	buf[0] = SOCKS5_AUTH_VERSION;
	buf[1] = (uint8_t)ulen;
	memcpy(buf + 2, user, ulen);
	buf[2 + ulen] = (uint8_t)plen;
	memcpy(buf + 3 + ulen, pass, plen);
	return (ssize_t)size;
}

/* Checks a length-prefixed RFC 1929 field at p: SHORT, MALFORMED, or its size with the length byte. */
static ssize_t auth_field_measure(const uint8_t *p, size_t len)
{
	if (len < 1)
		return SOCKS5_SHORT;
	if (p[0] == 0)
		return SOCKS5_MALFORMED;
	size_t seen = len - 1 < p[0] ? len - 1 : p[0];
	if (memchr(p + 1, '\0', seen))
		return SOCKS5_MALFORMED;
	return len - 1 < p[0] ? SOCKS5_SHORT : 1 + (ssize_t)p[0];
}

ssize_t socks5_decode_auth_request(const uint8_t *buf, size_t len, struct socks5_credentials *out)
{
	if (len < 1)
		return SOCKS5_SHORT;
	if (buf[0] != SOCKS5_AUTH_VERSION)
		return SOCKS5_MALFORMED;
	ssize_t ufield = auth_field_measure(buf + 1, len - 1);
	if (ufield < 0)
		return ufield;
	ssize_t pfield = auth_field_measure(buf + 1 + ufield, len - 1 - (size_t)ufield);
	if (pfield < 0)
		return pfield;
	if (out) {
		memset(out, 0, sizeof *out);
		out->ulen = buf[1];
		memcpy(out->user, buf + 2, out->ulen);
		out->plen = buf[1 + ufield];
		memcpy(out->pass, buf + 2 + ufield, out->plen);
	}
	return 1 + ufield + pfield;
}

ssize_t socks5_encode_auth_reply(uint8_t *buf, size_t cap, uint8_t status)
{
	return encode_pair(buf, cap, SOCKS5_AUTH_VERSION, status);
}

ssize_t socks5_decode_auth_reply(const uint8_t *buf, size_t len, uint8_t *status)
{
	if (len < 1)
		return SOCKS5_SHORT;
	if (buf[0] != SOCKS5_AUTH_VERSION && buf[0] != SOCKS5_VERSION)
		return SOCKS5_MALFORMED;
	if (len < 2)
		return SOCKS5_SHORT;
	if (status)
		*status = buf[1];
	return 2;
}

ssize_t socks5_encode_request(uint8_t *buf, size_t cap, uint8_t cmd, const struct socks5_addr *dst)
{
	return encode_head_and_addr(buf, cap, SOCKS5_VERSION, cmd, 0x00, dst);
}

/* VER CODE RSV ATYP ...: request (RSV must be 0) and reply (RSV ignored). */
static ssize_t decode_head_and_addr(const uint8_t *buf, size_t len, int strict_rsv, uint8_t *code,
				    struct socks5_addr *a)
{
	if (len < 1)
		return SOCKS5_SHORT;
	if (buf[0] != SOCKS5_VERSION)
		return SOCKS5_MALFORMED;
	if (len < 3)
		return SOCKS5_SHORT;
	if (strict_rsv && buf[2] != 0x00)
		return SOCKS5_MALFORMED;
	ssize_t asize = wire_addr_measure(buf + 3, len - 3);
	if (asize < 0)
		return asize;
	if (code)
		*code = buf[1];
	if (a)
		wire_addr_fill(buf + 3, a);
	return 3 + asize;
}

ssize_t socks5_decode_request(const uint8_t *buf, size_t len, uint8_t *cmd, struct socks5_addr *dst)
{
	return decode_head_and_addr(buf, len, 1, cmd, dst);
}

ssize_t socks5_encode_reply(uint8_t *buf, size_t cap, uint8_t rep, const struct socks5_addr *bnd)
{
	return encode_head_and_addr(buf, cap, SOCKS5_VERSION, rep, 0x00, bnd);
}

ssize_t socks5_decode_reply(const uint8_t *buf, size_t len, uint8_t *rep, struct socks5_addr *bnd)
{
	return decode_head_and_addr(buf, len, 0, rep, bnd);
}

ssize_t socks5_encode_resolve(uint8_t *buf, size_t cap, const char *name, size_t len)
{
	struct socks5_addr a = { .atyp = SOCKS5_ATYP_DOMAIN };

	if (!name || len < 1 || len > 255 || memchr(name, '\0', len))
		return SOCKS5_MALFORMED;
	a.u.domain.len = (uint8_t)len;
	memcpy(a.u.domain.name, name, len);
	return encode_head_and_addr(buf, cap, SOCKS5_VERSION, SOCKS5_CMD_RESOLVE, 0x00, &a);
}

ssize_t socks5_encode_resolve_ptr(uint8_t *buf, size_t cap, const struct socks5_addr *addr)
{
	if (!addr || (addr->atyp != SOCKS5_ATYP_IPV4 && addr->atyp != SOCKS5_ATYP_IPV6))
		return SOCKS5_MALFORMED;
	struct socks5_addr a = *addr;
	a.port = 0;
	return encode_head_and_addr(buf, cap, SOCKS5_VERSION, SOCKS5_CMD_RESOLVE_PTR, 0x00, &a);
}

/* A reply whose success must carry an answer of the expected kind; a wrong
 * one is refused once its ATYP is in, like any other malformed byte. */
static ssize_t decode_answer(const uint8_t *buf, size_t len, int want_name, uint8_t *rep, struct socks5_addr *out)
{
	if (len >= 4 && buf[1] == SOCKS5_REP_SUCCEEDED && (buf[3] == SOCKS5_ATYP_DOMAIN) != want_name)
		return SOCKS5_MALFORMED;
	return decode_head_and_addr(buf, len, 0, rep, out);
}

ssize_t socks5_decode_resolve_reply(const uint8_t *buf, size_t len, uint8_t *rep, struct socks5_addr *addr)
{
	return decode_answer(buf, len, 0, rep, addr);
}

ssize_t socks5_decode_resolve_ptr_reply(const uint8_t *buf, size_t len, uint8_t *rep, struct socks5_addr *name)
{
	return decode_answer(buf, len, 1, rep, name);
}

ssize_t socks5_encode_udp_header(uint8_t *buf, size_t cap, uint8_t frag, const struct socks5_addr *addr)
{
	return encode_head_and_addr(buf, cap, 0x00, 0x00, frag, addr);
}

ssize_t socks5_decode_udp_header(const uint8_t *buf, size_t len, uint8_t *frag, struct socks5_addr *addr)
{
	if (len < 3)
		return SOCKS5_SHORT;
	ssize_t asize = wire_addr_measure(buf + 3, len - 3);
	if (asize < 0)
		return asize;
	if (frag)
		*frag = buf[2];
	if (addr)
		wire_addr_fill(buf + 3, addr);
	return 3 + asize;
}
