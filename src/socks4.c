/* socks4.c - SOCKS4 / SOCKS4a request encoder and reply decoder (a client's side only). */
#include "socks4.h"

#include <errno.h>
#include <string.h>

ssize_t socks4_encode_request(uint8_t *buf, size_t cap, uint8_t cmd, const struct socks5_addr *dst,
			      const char *userid)
{
	size_t ulen = userid ? strlen(userid) : 0, hlen = 0, need;

	if (!dst || ulen > SOCKS4_USERID_MAX)
		return SOCKS5_MALFORMED;
	if (dst->atyp == SOCKS5_ATYP_DOMAIN) {
		hlen = dst->u.domain.len;
		if (hlen == 0 || memchr(dst->u.domain.name, '\0', hlen))
			return SOCKS5_MALFORMED;
	} else if (dst->atyp != SOCKS5_ATYP_IPV4) {
		return SOCKS5_MALFORMED;
	}
	need = 8 + ulen + 1 + (hlen ? hlen + 1 : 0);
	if (!buf || cap < need)
		return SOCKS5_NOSPACE;
	buf[0] = SOCKS4_VERSION;
	buf[1] = cmd;
	buf[2] = (uint8_t)(dst->port >> 8);
	buf[3] = (uint8_t)dst->port;
	if (hlen) { /* SOCKS4a: 0.0.0.x with x nonzero says "the name follows" */
		static const uint8_t marker[4] = { 0, 0, 0, 1 };
		memcpy(buf + 4, marker, 4);
	} else {
		memcpy(buf + 4, dst->u.ipv4, 4);
	}
	memcpy(buf + 8, userid ? userid : "", ulen);
	buf[8 + ulen] = '\0';
	if (hlen) {
		memcpy(buf + 8 + ulen + 1, dst->u.domain.name, hlen);
		buf[need - 1] = '\0';
	}
	return (ssize_t)need;
}

ssize_t socks4_decode_reply(const uint8_t *buf, size_t len, uint8_t *code, struct socks5_addr *bound)
{
	if (len < 1)
		return SOCKS5_SHORT;
	if (buf[0] != 0 && buf[0] != SOCKS4_VERSION)
		return SOCKS5_MALFORMED;
	if (len < SOCKS4_REPLY_LEN)
		return SOCKS5_SHORT;
	if (code)
		*code = buf[1];
	if (bound) {
		memset(bound, 0, sizeof *bound);
		bound->atyp = SOCKS5_ATYP_IPV4;
		bound->port = (uint16_t)(buf[2] << 8 | buf[3]);
		memcpy(bound->u.ipv4, buf + 4, 4);
	}
	return SOCKS4_REPLY_LEN;
}

int socks4_code_to_errno(uint8_t code)
{
	switch (code) {
	case SOCKS4_REP_GRANTED:
		return 0;
	case SOCKS4_REP_NO_IDENTD:
	case SOCKS4_REP_IDENTD_MISMATCH:
		return EACCES;
	default: /* 91 says "rejected or failed", nothing finer */
		return ECONNREFUSED;
	}
}

const char *socks4_code_str(uint8_t code)
{
	switch (code) {
	case SOCKS4_REP_GRANTED:
		return "request granted";
	case SOCKS4_REP_REJECTED:
		return "request rejected or failed";
	case SOCKS4_REP_NO_IDENTD:
		return "rejected: the proxy cannot reach our identd";
	case SOCKS4_REP_IDENTD_MISMATCH:
		return "rejected: identd reports another user id";
	default:
		return "unknown reply code";
	}
}
