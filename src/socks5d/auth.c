/* auth.c - RFC 1929 username/password checks. */
#include "socks5d.h"

#include <string.h>

/* Compares in time that depends only on the length of the expected secret,
 * so a client cannot learn the password byte by byte. */
static int secret_equal(const char *expected, size_t elen, const char *given, size_t glen)
{
	volatile unsigned char diff = (unsigned char)(elen != glen);
	for (size_t i = 0; i < elen; i++) {
		unsigned char g = i < glen ? (unsigned char)given[i] : 0;
		diff |= (unsigned char)expected[i] ^ g;
	}
	return diff == 0;
}

/* Returns the matching user, or NULL. An unknown user still costs one
 * comparison, so timing does not tell which user names exist. */
const struct user *auth_check(const struct config *cfg, const struct socks5_credentials *cred)
{
	static const char dummy[] = "socks5d-no-such-user-password";
	const struct user *found = NULL;

	/* Every name is compared, in constant time, with no early exit. */
	for (size_t i = 0; i < cfg->nusers; i++) {
		const struct user *u = &cfg->users[i];
		if (secret_equal(u->name, u->name_len, cred->user, cred->ulen) && !found)
			found = u;
	}
	if (!found) {
		(void)secret_equal(dummy, sizeof dummy - 1, cred->pass, cred->plen);
		return NULL;
	}
	return secret_equal(found->pass, found->pass_len, cred->pass, cred->plen) ? found : NULL;
}

/* Copies src into dst so that a log line stays one line of key=value:
 * bytes outside printable ASCII, spaces, '=' and '\' become \xHH. */
size_t escape_for_log(char *dst, size_t cap, const char *src, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t o = 0;

	if (cap == 0)
		return 0;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)src[i];
		if (ch > 0x20 && ch < 0x7f && ch != '\\' && ch != '=') {
			if (o + 1 >= cap)
				break;
			dst[o++] = (char)ch;
		} else {
			if (o + 4 >= cap)
				break;
			dst[o++] = '\\';
			dst[o++] = 'x';
			dst[o++] = hex[ch >> 4];
			dst[o++] = hex[ch & 15];
		}
	}
	dst[o] = '\0';
	return o;
}
