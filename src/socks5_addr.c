/* socks5_addr.c - socks5_addr <-> sockaddr, printing, and the REP code tables. */
#include "socks5.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

/* Linux connect() accepts the RFC 2133 sockaddr_in6 that ends before sin6_scope_id. */
#define SIN6_LEN_MIN offsetof(struct sockaddr_in6, sin6_scope_id)

static const uint8_t v4mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

int socks5_addr_from_sockaddr(struct socks5_addr *out, const struct sockaddr *sa, size_t salen)
{
	sa_family_t family;

	if (!out || !sa || salen < sizeof family)
		return -1;
	/* memcpy, not casts: callers' sockaddrs need not be aligned. */
	memcpy(&family, (const char *)sa + offsetof(struct sockaddr, sa_family), sizeof family);
	if (family == AF_INET) {
		struct sockaddr_in sin;
		if (salen < sizeof sin)
			return -1;
		memcpy(&sin, sa, sizeof sin);
		memset(out, 0, sizeof *out);
		out->atyp = SOCKS5_ATYP_IPV4;
		memcpy(out->u.ipv4, &sin.sin_addr, 4);
		out->port = ntohs(sin.sin_port);
		return 0;
	}
	if (family == AF_INET6) {
		struct sockaddr_in6 sin6 = { 0 };
		if (salen < SIN6_LEN_MIN)
			return -1;
		memcpy(&sin6, sa, SIN6_LEN_MIN);
		memset(out, 0, sizeof *out);
		if (memcmp(&sin6.sin6_addr, v4mapped_prefix, 12) == 0) {
			out->atyp = SOCKS5_ATYP_IPV4;
			memcpy(out->u.ipv4, (const uint8_t *)&sin6.sin6_addr + 12, 4);
		} else {
			out->atyp = SOCKS5_ATYP_IPV6;
			memcpy(out->u.ipv6, &sin6.sin6_addr, 16);
		}
		out->port = ntohs(sin6.sin6_port);
		return 0;
	}
	return -1;
}

int socks5_addr_to_sockaddr(const struct socks5_addr *a, struct sockaddr *sa, size_t cap)
{
	if (!a || !sa)
		return -1;
	if (a->atyp == SOCKS5_ATYP_IPV4) {
		struct sockaddr_in sin = { 0 };
		if (cap < sizeof sin)
			return -1;
		sin.sin_family = AF_INET;
		sin.sin_port = htons(a->port);
		memcpy(&sin.sin_addr, a->u.ipv4, 4);
		memcpy(sa, &sin, sizeof sin);
		return (int)sizeof sin;
	}
	if (a->atyp == SOCKS5_ATYP_IPV6) {
		struct sockaddr_in6 sin6 = { 0 };
		if (cap < sizeof sin6)
			return -1;
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons(a->port);
		memcpy(&sin6.sin6_addr, a->u.ipv6, 16);
		memcpy(sa, &sin6, sizeof sin6);
		return (int)sizeof sin6;
	}
	return -1;
}

int socks5_addr_set_domain(struct socks5_addr *out, const char *name, uint16_t port)
{
	if (!out || !name)
		return -1;
	size_t n = strnlen(name, 256);
	if (n == 0 || n > 255)
		return -1;
	memset(out, 0, sizeof *out);
	out->atyp = SOCKS5_ATYP_DOMAIN;
	out->u.domain.len = (uint8_t)n;
	memcpy(out->u.domain.name, name, n);
	out->port = port;
	return 0;
}

/* Appends a domain name, as \xHH for anything but printable ASCII so that a
 * hostile name cannot forge log lines. Always leaves buf NUL-terminated. */
static size_t format_domain(char *buf, size_t cap, const char *name, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		if (c > 0x20 && c < 0x7f && c != '\\') {
			if (o + 1 >= cap)
				break;
			buf[o++] = (char)c;
		} else {
			if (o + 4 >= cap)
				break;
			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[c >> 4];
			buf[o++] = hex[c & 15];
		}
	}
	buf[o] = '\0';
	return o;
}

char *socks5_addr_format(const struct socks5_addr *a, char *buf, size_t cap)
{
	char host[4 * 255 + 1];

	if (!buf || cap == 0)
		return buf;
	if (!a) {
		snprintf(buf, cap, "(null)");
		return buf;
	}
	switch (a->atyp) {
	case SOCKS5_ATYP_IPV4:
		inet_ntop(AF_INET, a->u.ipv4, host, sizeof host);
		snprintf(buf, cap, "%s:%u", host, a->port);
		break;
	case SOCKS5_ATYP_IPV6:
		inet_ntop(AF_INET6, a->u.ipv6, host, sizeof host);
		snprintf(buf, cap, "[%s]:%u", host, a->port);
		break;
	case SOCKS5_ATYP_DOMAIN:
		format_domain(host, sizeof host, a->u.domain.name, a->u.domain.len);
		snprintf(buf, cap, "%s:%u", host, a->port);
		break;
	default:
		snprintf(buf, cap, "(atyp %u)", a->atyp);
		break;
	}
	return buf;
}

/* Indexed by REP; codes past the table are unknown. */
static const struct {
	int err;
	const char *text;
} rep_table[] = {
	[SOCKS5_REP_SUCCEEDED] = { 0, "succeeded" },
	[SOCKS5_REP_GENERAL_FAILURE] = { ECONNREFUSED, "general SOCKS server failure" },
	[SOCKS5_REP_NOT_ALLOWED] = { EACCES, "connection not allowed by ruleset" },
	[SOCKS5_REP_NET_UNREACHABLE] = { ENETUNREACH, "network unreachable" },
	[SOCKS5_REP_HOST_UNREACHABLE] = { EHOSTUNREACH, "host unreachable" },
	[SOCKS5_REP_CONN_REFUSED] = { ECONNREFUSED, "connection refused" },
	[SOCKS5_REP_TTL_EXPIRED] = { ETIMEDOUT, "TTL expired" },
	[SOCKS5_REP_CMD_NOT_SUPPORTED] = { EOPNOTSUPP, "command not supported" },
	[SOCKS5_REP_ATYP_NOT_SUPPORTED] = { EAFNOSUPPORT, "address type not supported" },
};

int socks5_rep_to_errno(uint8_t rep)
{
	if (rep >= sizeof rep_table / sizeof rep_table[0])
		return ECONNREFUSED;
	return rep_table[rep].err;
}

const char *socks5_rep_str(uint8_t rep)
{
	if (rep >= sizeof rep_table / sizeof rep_table[0])
		return "unknown reply code";
	return rep_table[rep].text;
}
