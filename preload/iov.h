/* iov.h - an iovec array seen as one run of bytes: what the datagram path
 * needs to receive a relayed datagram straight into the program's buffers.
 * Pure: no I/O, no allocation. */
#ifndef SOCKSIFY_IOV_H
#define SOCKSIFY_IOV_H

#include <stddef.h>
#include <sys/uio.h>

/* Total length of the n buffers, at most SIZE_MAX. */
size_t iov_capacity(const struct iovec *iov, size_t n);

/* Copies the first len bytes held in the buffers (len <= their capacity) to out. */
void iov_gather(const struct iovec *iov, size_t n, void *out, size_t len);

/* The buffers hold len bytes (len <= their capacity): moves bytes [skip, len)
 * to the front, in order, and zeroes the skip bytes vacated behind them, so that
 * a received payload is followed by what a kernel leaves there: nothing new (the
 * program's zeroed buffer still reads as a terminated string). */
void iov_drop_front(const struct iovec *iov, size_t n, size_t skip, size_t len);

#endif
