/* codec.h - invariants every socks5.h decoder must keep, shared by the codec targets. */
#ifndef SOCKSIFY_FUZZ_CODEC_H
#define SOCKSIFY_FUZZ_CODEC_H

#include "fuzz.h"
#include "socks5.h"

#include <sanitizer/asan_interface.h>

/* A decoder with its out parameters left NULL. */
typedef ssize_t (*fuzz_decode_fn)(const uint8_t *buf, size_t len);

/* r = dec(data, size); max is the longest message dec can return. Checks:
 *  - r is a length within size and max, SHORT or MALFORMED;
 *  - SHORT only while fewer than max bytes are there (a reader with a
 *    max-byte buffer is never asked for more);
 *  - every prefix of a complete message is SHORT (so a reader waiting for
 *    more bytes is never told "malformed" early, nor handed a message early);
 *  - once a prefix is MALFORMED every longer one is, and SHORT comes only
 *    before that (a reader can decide as bytes arrive);
 *  - the message alone decodes to the same length: nothing past it was read.
 * The bytes past each prefix are poisoned, so ASan reports any read of them. */
static inline void fuzz_check_decoder(fuzz_decode_fn dec, const uint8_t *data, size_t size, ssize_t r, size_t max)
{
	FUZZ_CHECK(r == SOCKS5_SHORT || r == SOCKS5_MALFORMED || (r > 0 && (size_t)r <= size && (size_t)r <= max));
	if (size >= max)
		FUZZ_CHECK(r != SOCKS5_SHORT);
	size_t upto = r > 0 ? (size_t)r : (size < max ? size : max);
	uint8_t *p = fuzz_copy(data, upto);
	int malformed_seen = 0;
	for (size_t k = 0; k <= upto; k++) {
		ASAN_POISON_MEMORY_REGION(p + k, upto - k);
		ssize_t rk = dec(p, k);
		ASAN_UNPOISON_MEMORY_REGION(p + k, upto - k);
		if (r > 0) {
			FUZZ_CHECK(k < (size_t)r ? rk == SOCKS5_SHORT : rk == r);
			continue;
		}
		FUZZ_CHECK(rk == SOCKS5_SHORT || rk == SOCKS5_MALFORMED);
		if (malformed_seen)
			FUZZ_CHECK(rk == SOCKS5_MALFORMED);
		malformed_seen |= rk == SOCKS5_MALFORMED;
		if (r == SOCKS5_SHORT)
			FUZZ_CHECK(rk == SOCKS5_SHORT);
	}
	if (r == SOCKS5_MALFORMED)
		FUZZ_CHECK(malformed_seen);
	free(p);
}

/* A decoded address is one the encoder accepts, its domain a C string of its length. */
static inline void fuzz_check_addr(const struct socks5_addr *a)
{
	ssize_t asize = socks5_addr_size(a);
	FUZZ_CHECK(asize > 0);
	if (a->atyp == SOCKS5_ATYP_DOMAIN) {
		FUZZ_CHECK(a->u.domain.len >= 1);
		FUZZ_CHECK(strlen(a->u.domain.name) == a->u.domain.len);
		FUZZ_CHECK(asize == 1 + 1 + a->u.domain.len + 2);
	} else {
		FUZZ_CHECK(a->atyp == SOCKS5_ATYP_IPV4 || a->atyp == SOCKS5_ATYP_IPV6);
	}
}

/* Printing an address into any buffer stays inside it and ends in NUL. */
static inline void fuzz_check_format(const struct socks5_addr *a, size_t cap)
{
	char *buf = (char *)fuzz_alloc(cap);
	FUZZ_CHECK(socks5_addr_format(a, buf, cap) == buf);
	if (cap > 0)
		FUZZ_CHECK(memchr(buf, '\0', cap) != NULL);
	free(buf);
}

/* An encoder given exactly n-1 bytes of room says NOSPACE; given n, writes want[0..n). */
typedef ssize_t (*fuzz_encode_fn)(uint8_t *buf, size_t cap, const void *arg);

static inline void fuzz_check_reencode(fuzz_encode_fn enc, const void *arg, const uint8_t *want, size_t n,
				       size_t ignore_mask)
{
	uint8_t *small = fuzz_alloc(n - 1);
	FUZZ_CHECK(enc(small, n - 1, arg) == SOCKS5_NOSPACE);
	free(small);
	uint8_t *out = fuzz_alloc(n);
	FUZZ_CHECK(enc(out, n, arg) == (ssize_t)n);
	/* ignore_mask: bits 0..7 mark header bytes the decoder ignores and the encoder writes as 0 */
	for (size_t i = 0; i < n; i++) {
		if (i < 8 && (ignore_mask >> i & 1))
			FUZZ_CHECK(out[i] == 0);
		else
			FUZZ_CHECK(out[i] == want[i]);
	}
	free(out);
}

#endif
