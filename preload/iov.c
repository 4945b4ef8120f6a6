/* iov.c - an iovec array seen as one run of bytes. */
#include "iov.h"

#include <stdint.h>
#include <string.h>

size_t iov_capacity(const struct iovec *iov, size_t n)
{
	size_t total = 0;
	for (size_t i = 0; i < n; i++)
		total = iov[i].iov_len > SIZE_MAX - total ? SIZE_MAX : total + iov[i].iov_len;
	return total;
}

void iov_gather(const struct iovec *iov, size_t n, void *out, size_t len)
{
	uint8_t *o = out;
	for (size_t i = 0; i < n && len; i++) {
		size_t k = iov[i].iov_len < len ? iov[i].iov_len : len;
		if (k) /* an empty buffer may have a NULL base */
			memcpy(o, iov[i].iov_base, k);
		o += k;
		len -= k;
	}
}

/* Buffer i and offset *off of logical byte pos, from a cursor (i, start of i) at or before it. */
static size_t seek(const struct iovec *iov, size_t n, size_t i, size_t *pos)
{
	while (i < n && *pos >= iov[i].iov_len) {
		*pos -= iov[i].iov_len;
		i++;
	}
	return i;
}

/* Zeroes len bytes from buffer i, offset off on. */
static void zero_from(const struct iovec *iov, size_t n, size_t i, size_t off, size_t len)
{
	for (; i < n && len; i++, off = 0) {
		size_t k = iov[i].iov_len - off < len ? iov[i].iov_len - off : len;
		if (k)
			memset((uint8_t *)iov[i].iov_base + off, 0, k);
		len -= k;
	}
}

void iov_drop_front(const struct iovec *iov, size_t n, size_t skip, size_t len)
{
	if (skip > len)
		skip = len;
	if (!skip)
		return;
	size_t left = len - skip, di = 0, doff = 0, soff = skip;
	size_t si = seek(iov, n, 0, &soff);
	while (left) {
		/* the source is always ahead of the destination: copying forward never overwrites
		 * a byte still to be read (memmove for the overlap within one buffer) */
		size_t k = iov[di].iov_len - doff;
		if (iov[si].iov_len - soff < k)
			k = iov[si].iov_len - soff;
		if (left < k)
			k = left;
		memmove((uint8_t *)iov[di].iov_base + doff, (const uint8_t *)iov[si].iov_base + soff, k);
		left -= k;
		doff += k;
		soff += k;
		di = seek(iov, n, di, &doff);
		si = seek(iov, n, si, &soff);
	}
	di = seek(iov, n, di, &doff);
	zero_from(iov, n, di, doff, skip);
}
