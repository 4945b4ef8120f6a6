/* socks4.h - the SOCKS4 and SOCKS4a client codec (a proxy hop of a chain).
 *
 * Pure functions, no I/O, as socks5.h; the same return conventions
 * (SOCKS5_SHORT, SOCKS5_MALFORMED, SOCKS5_NOSPACE) and the same address type.
 *   request: VN=4 CD DSTPORT(2) DSTIP(4) USERID NUL            (SOCKS4)
 *            VN=4 CD DSTPORT(2) 0.0.0.x USERID NUL HOST NUL     (SOCKS4a, x != 0)
 *   reply:   VN=0 CD DSTPORT(2) DSTIP(4)                       (8 bytes)
 */
#ifndef SOCKSIFY_SOCKS4_H
#define SOCKSIFY_SOCKS4_H

#include "socks5.h"

#define SOCKS4_VERSION 0x04
#define SOCKS4_REPLY_LEN 8
#define SOCKS4_USERID_MAX 255
#define SOCKS4_REQUEST_MAX (8 + SOCKS4_USERID_MAX + 1 + 255 + 1)

enum {
	SOCKS4_CMD_CONNECT = 0x01,
	SOCKS4_CMD_BIND = 0x02,
};

enum {
	SOCKS4_REP_GRANTED = 90,
	SOCKS4_REP_REJECTED = 91, /* rejected or failed */
	SOCKS4_REP_NO_IDENTD = 92, /* the proxy cannot reach our identd */
	SOCKS4_REP_IDENTD_MISMATCH = 93, /* identd says another user id */
};

/* dst: ATYP IPv4 gives a SOCKS4 request, ATYP DOMAIN a SOCKS4a one (0.0.0.1
 * and the name after the user id); IPv6 is SOCKS5_MALFORMED (neither can carry
 * it), and so is a user id of more than 255 bytes. userid may be NULL (empty). */
ssize_t socks4_encode_request(uint8_t *buf, size_t cap, uint8_t cmd, const struct socks5_addr *dst,
			      const char *userid);

/* The 8-byte reply. VN must be 0 (4, which a few servers send, is accepted
 * too). *code gets CD; bound (may be NULL) gets DSTPORT/DSTIP as ATYP IPv4. */
ssize_t socks4_decode_reply(const uint8_t *buf, size_t len, uint8_t *code, struct socks5_addr *bound);

/* The errno a program expects for a reply code (0 for 90), and a short text. */
int socks4_code_to_errno(uint8_t code);
const char *socks4_code_str(uint8_t code);

#endif
