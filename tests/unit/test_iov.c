/* test_iov.c - preload/iov.c: capacity, gather and dropping a header from the front,
 * byte by byte over every way of splitting a buffer into pieces. */
#include <stdint.h>
#include <string.h>

#include "../../preload/iov.c" /* pure, and not part of the core objects */
#include "unit.h"

/* Splits a run of total bytes at the cut points (ascending, 0 < cut < total) into iov. */
static size_t split(uint8_t *run, size_t total, const size_t *cuts, size_t ncuts, struct iovec *iov)
{
	size_t from = 0, n = 0;
	for (size_t i = 0; i <= ncuts; i++) {
		size_t to = i < ncuts ? cuts[i] : total;
		iov[n].iov_base = run + from;
		iov[n++].iov_len = to - from;
		from = to;
	}
	return n;
}

/* Every way to cut a 12-byte run in up to three places (empty pieces included), every
 * content length and every skip: the front loses skip bytes, the rest keeps its order,
 * the skip bytes behind it are zero and nothing after len is touched. */
static void drop_front_all_splits(void)
{
	enum { TOTAL = 12 };
	int bad = 0;
	for (size_t c1 = 0; c1 <= TOTAL; c1++)
		for (size_t c2 = c1; c2 <= TOTAL; c2++)
			for (size_t c3 = c2; c3 <= TOTAL; c3++)
				for (size_t len = 0; len <= TOTAL; len++)
					for (size_t skip = 0; skip <= len + 1; skip++) {
						uint8_t run[TOTAL], want[TOTAL];
						struct iovec iov[4];
						size_t cuts[3] = { c1, c2, c3 };
						for (size_t i = 0; i < TOTAL; i++)
							run[i] = (uint8_t)(0x40 + i);
						memcpy(want, run, TOTAL);
						size_t keep = skip < len ? len - skip : 0;
						memmove(want, run + len - keep, keep);
						memset(want + keep, 0, len - keep);
						size_t n = split(run, TOTAL, cuts, 3, iov);
						iov_drop_front(iov, n, skip, len);
						bad += memcmp(run, want, TOTAL) != 0;
					}
	CHECK_INT(bad, 0);
}

int main(void)
{
	uint8_t a[3] = { 1, 2, 3 }, b[1] = { 4 }, c[4] = { 5, 6, 7, 8 }, out[8];
	struct iovec iov[4] = { { a, 3 }, { NULL, 0 }, { b, 1 }, { c, 4 } };
	static const uint8_t all[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };

	CHECK_INT(iov_capacity(iov, 4), 8);
	CHECK_INT(iov_capacity(iov, 0), 0);
	struct iovec huge[2] = { { a, SIZE_MAX - 1 }, { b, 5 } };
	CHECK(iov_capacity(huge, 2) == SIZE_MAX); /* saturates */

	memset(out, 0, sizeof out);
	iov_gather(iov, 4, out, 8);
	CHECK_MEM(out, all, 8);
	memset(out, 0xee, sizeof out);
	iov_gather(iov, 4, out, 5);
	static const uint8_t five[8] = { 1, 2, 3, 4, 5, 0xee, 0xee, 0xee };
	CHECK_MEM(out, five, 8);

	/* a 10-byte SOCKS header in front of a payload in one buffer: one memmove */
	uint8_t d[16];
	for (int i = 0; i < 16; i++)
		d[i] = (uint8_t)i;
	struct iovec one = { d, sizeof d };
	iov_drop_front(&one, 1, 10, 14);
	static const uint8_t moved[16] = { 10, 11, 12, 13, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 14, 15 };
	CHECK_MEM(d, moved, 16);

	/* an empty buffer with no base among them */
	uint8_t e1[4] = { 9, 9, 1, 2 }, e2[2] = { 3, 4 };
	struct iovec holes[3] = { { e1, 4 }, { NULL, 0 }, { e2, 2 } };
	iov_drop_front(holes, 3, 2, 6);
	static const uint8_t e1want[4] = { 1, 2, 3, 4 }, e2want[2] = { 0, 0 };
	CHECK_MEM(e1, e1want, 4);
	CHECK_MEM(e2, e2want, 2);

	drop_front_all_splits();
	return unit_report();
}
