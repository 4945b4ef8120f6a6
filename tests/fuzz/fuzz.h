/* fuzz.h - what every libFuzzer target shares: the entry point's prototype,
 * an invariant check that stops the run with a message, and exact-size copies.
 *
 * Inputs are copied into heap buffers of exactly the size the code under test
 * may read, so AddressSanitizer reports any read past len, including reads
 * past a prefix that a decoder was told is all there is. */
#ifndef SOCKSIFY_FUZZ_H
#define SOCKSIFY_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* abort() is right here: this is the fuzzer's process, and libFuzzer saves the input. */
#define FUZZ_CHECK(cond)                                                                        \
	do {                                                                                    \
		if (!(cond)) {                                                                  \
			fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                                \
		}                                                                               \
	} while (0)

/* A heap buffer of exactly n bytes (malloc(0) may return NULL; 1 byte keeps it simple). */
static inline uint8_t *fuzz_alloc(size_t n)
{
	uint8_t *b = malloc(n ? n : 1);
	FUZZ_CHECK(b != NULL);
	return b;
}

/* A heap copy of p[0..n), of exactly n bytes. */
static inline uint8_t *fuzz_copy(const void *p, size_t n)
{
	uint8_t *b = fuzz_alloc(n);
	if (n)
		memcpy(b, p, n);
	return b;
}

/* A NUL-terminated heap copy of p[0..n), cut at the first NUL. */
static inline char *fuzz_cstr(const void *p, size_t n)
{
	const uint8_t *nul = memchr(p, '\0', n);
	size_t len = nul ? (size_t)(nul - (const uint8_t *)p) : n;
	char *s = malloc(len + 1);
	FUZZ_CHECK(s != NULL);
	memcpy(s, p, len);
	s[len] = '\0';
	return s;
}

/* A one-line message: NUL-terminated within cap and free of control characters. */
static inline int fuzz_is_one_line(const char *s, size_t cap)
{
	const char *nul = memchr(s, '\0', cap);
	if (!nul)
		return 0;
	for (const char *p = s; p < nul; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

#endif
