/* socks5.h - the RFC 1928 (SOCKS5) and RFC 1929 (username/password) wire codec.
 *
 * Pure functions: bytes in, struct out, or struct in, bytes out. No I/O, no
 * allocation, no globals. Every decoder returns:
 *   > 0              the number of bytes the message occupies in buf (consumed)
 *   SOCKS5_SHORT     buf holds a valid prefix; read more bytes and call again
 *   SOCKS5_MALFORMED buf can never become a valid message
 * Every encoder returns the number of bytes written, or SOCKS5_NOSPACE when
 * cap is too small, or SOCKS5_MALFORMED when the struct cannot be encoded
 * (e.g. a domain of 0 or more than 255 bytes).
 */
#ifndef SOCKSIFY_SOCKS5_H
#define SOCKSIFY_SOCKS5_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define SOCKS5_VERSION 0x05
#define SOCKS5_AUTH_VERSION 0x01 /* RFC 1929 sub-negotiation version */

#define SOCKS5_SHORT (-1)
#define SOCKS5_MALFORMED (-2)
#define SOCKS5_NOSPACE (-3)

/* METHOD values (RFC 1928 section 3) */
enum {
	SOCKS5_METHOD_NOAUTH = 0x00,
	SOCKS5_METHOD_GSSAPI = 0x01,
	SOCKS5_METHOD_USERPASS = 0x02,
	SOCKS5_METHOD_NONE_ACCEPTABLE = 0xFF,
};

/* CMD values (section 4) */
enum {
	SOCKS5_CMD_CONNECT = 0x01,
	SOCKS5_CMD_BIND = 0x02,
	SOCKS5_CMD_UDP_ASSOCIATE = 0x03,
	/* Tor's extensions (socks-extensions.txt section 2): a name lookup by the
	 * proxy. RESOLVE carries a domain and is answered with an IPv4 or IPv6
	 * BND.ADDR; RESOLVE_PTR carries an address and is answered with a domain. */
	SOCKS5_CMD_RESOLVE = 0xF0,
	SOCKS5_CMD_RESOLVE_PTR = 0xF1,
};

/* ATYP values (section 4) */
enum {
	SOCKS5_ATYP_IPV4 = 0x01,
	SOCKS5_ATYP_DOMAIN = 0x03,
	SOCKS5_ATYP_IPV6 = 0x04,
};

/* REP values (section 6) */
enum {
	SOCKS5_REP_SUCCEEDED = 0x00,
	SOCKS5_REP_GENERAL_FAILURE = 0x01,
	SOCKS5_REP_NOT_ALLOWED = 0x02,
	SOCKS5_REP_NET_UNREACHABLE = 0x03,
	SOCKS5_REP_HOST_UNREACHABLE = 0x04,
	SOCKS5_REP_CONN_REFUSED = 0x05,
	SOCKS5_REP_TTL_EXPIRED = 0x06,
	SOCKS5_REP_CMD_NOT_SUPPORTED = 0x07,
	SOCKS5_REP_ATYP_NOT_SUPPORTED = 0x08,
};

/* RFC 1929 status: 0x00 success, anything else failure. */
#define SOCKS5_AUTH_SUCCESS 0x00
#define SOCKS5_AUTH_FAILURE 0x01

/* Largest messages, for sizing buffers. */
#define SOCKS5_GREETING_MAX (2 + 255)
#define SOCKS5_AUTH_REQUEST_MAX (3 + 255 + 255)
#define SOCKS5_REQUEST_MAX (4 + 1 + 255 + 2) /* also the largest reply */
#define SOCKS5_UDP_HEADER_MAX (3 + 1 + 1 + 255 + 2)

/* An address as carried on the wire: DST.ADDR/DST.PORT or BND.ADDR/BND.PORT. */
struct socks5_addr {
	uint8_t atyp; /* SOCKS5_ATYP_* */
	union {
		uint8_t ipv4[4];
		uint8_t ipv6[16];
		struct {
			uint8_t len; /* 1..255 */
			char name[256]; /* NUL-terminated for convenience */
		} domain;
	} u;
	uint16_t port; /* host byte order */
};

struct socks5_greeting {
	uint8_t nmethods; /* 1..255 */
	uint8_t methods[255];
};

struct socks5_credentials {
	uint8_t ulen, plen; /* 1..255 each */
	char user[256], pass[256]; /* NUL-terminated for convenience */
};

/* Greeting: VER NMETHODS METHODS... (client -> server) */
ssize_t socks5_encode_greeting(uint8_t *buf, size_t cap, const uint8_t *methods, size_t nmethods);
ssize_t socks5_decode_greeting(const uint8_t *buf, size_t len, struct socks5_greeting *out);

/* Method choice: VER METHOD (server -> client) */
ssize_t socks5_encode_method_choice(uint8_t *buf, size_t cap, uint8_t method);
ssize_t socks5_decode_method_choice(const uint8_t *buf, size_t len, uint8_t *method);

/* RFC 1929 request: VER ULEN UNAME PLEN PASSWD; reply: VER STATUS */
ssize_t socks5_encode_auth_request(uint8_t *buf, size_t cap, const char *user, size_t ulen,
				   const char *pass, size_t plen);
ssize_t socks5_decode_auth_request(const uint8_t *buf, size_t len, struct socks5_credentials *out);
ssize_t socks5_encode_auth_reply(uint8_t *buf, size_t cap, uint8_t status);
ssize_t socks5_decode_auth_reply(const uint8_t *buf, size_t len, uint8_t *status);

/* Request: VER CMD RSV ATYP DST.ADDR DST.PORT (client -> server) */
ssize_t socks5_encode_request(uint8_t *buf, size_t cap, uint8_t cmd, const struct socks5_addr *dst);
ssize_t socks5_decode_request(const uint8_t *buf, size_t len, uint8_t *cmd, struct socks5_addr *dst);

/* Reply: VER REP RSV ATYP BND.ADDR BND.PORT (server -> client) */
ssize_t socks5_encode_reply(uint8_t *buf, size_t cap, uint8_t rep, const struct socks5_addr *bnd);
ssize_t socks5_decode_reply(const uint8_t *buf, size_t len, uint8_t *rep, struct socks5_addr *bnd);

/* RESOLVE request: VER F0 RSV ATYP=03 LEN NAME PORT=0. name need not be
 * NUL-terminated; len 1..255 without a NUL byte, else SOCKS5_MALFORMED. */
ssize_t socks5_encode_resolve(uint8_t *buf, size_t cap, const char *name, size_t len);
/* RESOLVE_PTR request: VER F1 RSV ATYP ADDR PORT=0; addr must be IPv4 or IPv6
 * (its port is ignored), else SOCKS5_MALFORMED. */
ssize_t socks5_encode_resolve_ptr(uint8_t *buf, size_t cap, const struct socks5_addr *addr);
/* Their replies: a reply as socks5_decode_reply reads it, except that a
 * success (REP 00) must answer the question: IPv4/IPv6 for RESOLVE, a domain
 * for RESOLVE_PTR; another ATYP is SOCKS5_MALFORMED as soon as it is read.
 * On a failure REP, BND.ADDR is whatever the server sent (Tor: 0.0.0.0). */
ssize_t socks5_decode_resolve_reply(const uint8_t *buf, size_t len, uint8_t *rep, struct socks5_addr *addr);
ssize_t socks5_decode_resolve_ptr_reply(const uint8_t *buf, size_t len, uint8_t *rep, struct socks5_addr *name);

/* UDP request header: RSV(2) FRAG ATYP DST.ADDR DST.PORT DATA (section 7).
 * decode returns the header length; the payload starts there. */
ssize_t socks5_encode_udp_header(uint8_t *buf, size_t cap, uint8_t frag, const struct socks5_addr *addr);
ssize_t socks5_decode_udp_header(const uint8_t *buf, size_t len, uint8_t *frag, struct socks5_addr *addr);

/* Encoded size of an address (ATYP + ADDR + PORT), or SOCKS5_MALFORMED. */
ssize_t socks5_addr_size(const struct socks5_addr *a);

/* Helpers between socks5_addr and struct sockaddr (pure; no resolving).
 * from_sockaddr accepts AF_INET and AF_INET6; an IPv4-mapped IPv6 address
 * (::ffff:a.b.c.d) becomes ATYP IPv4. Returns 0, or -1 for another family. */
struct sockaddr;
int socks5_addr_from_sockaddr(struct socks5_addr *out, const struct sockaddr *sa, size_t salen);
/* Returns the sockaddr length written, or -1 for a domain address or a short buffer. */
int socks5_addr_to_sockaddr(const struct socks5_addr *a, struct sockaddr *sa, size_t cap);
/* Sets a domain address; returns 0, or -1 if the name is empty or longer than 255 bytes. */
int socks5_addr_set_domain(struct socks5_addr *out, const char *name, uint16_t port);
/* "1.2.3.4:80", "[::1]:80", "example.com:80" into buf; returns buf. */
char *socks5_addr_format(const struct socks5_addr *a, char *buf, size_t cap);

/* The errno a program expects for a REP code (documented in README). */
int socks5_rep_to_errno(uint8_t rep);
/* A short English text for a REP code ("connection refused"). */
const char *socks5_rep_str(uint8_t rep);

#endif
