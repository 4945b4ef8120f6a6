/* async.h - a non-blocking connect() through the proxy that never blocks the program.
 *
 * connect() on a non-blocking socket starts the SOCKS5 handshake and returns
 * EINPROGRESS at once. Until the proxy's reply is in, the socket is pending:
 * the program's poll/select/epoll waits (poll.c) do not see it ready; they
 * wait for what the handshake needs instead and move it on. The program sees
 * the socket writable once the target is connected through the proxy, or
 * sees it fail, with the errno in getsockopt(SO_ERROR) as after a direct
 * connect. No thread: the program's own waits drive the handshakes.
 *
 * One table of pending sockets for the process, one lock; async_active() is
 * one atomic load, so every hook costs nothing while no connect is pending. */
#ifndef SOCKSIFY_ASYNC_H
#define SOCKSIFY_ASYNC_H

#include <stdint.h>
#include <sys/epoll.h>

#include "fork.h"
#include "handshake.h"

/* Takes over a copy of hs (just initialised) for fd. Returns EINPROGRESS
 * (pending), 0 (connected already), or the errno of a failure (logged). */
int async_start(int fd, const struct handshake *hs, const char *tname, long long deadline_ms);

/* Nonzero when any socket is pending or holds an uncollected failure. */
int async_active(void);

/* For poll/select: 1 if fd is pending, with the events its handshake waits for. */
int async_poll_events(int fd, short *events);

/* Moves fd's handshake on (after its wait returned, or to check). Returns 1
 * if it is no longer pending (connected, or failed), 0 if still pending. */
int async_drive(int fd);

/* The earliest deadline or stall timer among pending sockets (CLOCK_MONOTONIC
 * ms), or 0 if none: no wait may outlast it. */
long long async_next_timer(void);

/* Finishes every pending socket whose timer ran out by now. Returns the count. */
int async_expire(long long now_ms);

/* epoll_ctl on a pending fd: the registration is kept and replaced by one for
 * the handshake, tagged; the program's own comes back once it is done.
 * Returns 1 with the result in *ret if fd was pending, else 0. */
int async_epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev, int *ret);

/* An event from epoll_wait: 1 if it was one of ours (handled; drop it). */
int async_epoll_event(int epfd, const struct epoll_event *ev);

/* Before the program reads or writes fd: 0 if it may (not pending, connected,
 * or failed: the socket reports that itself); -1/EAGAIN while a non-blocking
 * socket's handshake is pending. A blocking socket waits for the end. */
int async_io_ready(int fd);

/* connect() again on fd: -1 if fd is not ours here; else the errno to report
 * (EALREADY while pending, the failure's errno once, then forgotten). */
int async_connect_again(int fd);

/* getsockopt(SO_ERROR): 1 with *err set if fd is pending (0) or failed (its
 * errno, then forgotten); 0 if the kernel's answer is the right one. */
int async_so_error(int fd, int *err);

/* The fd is closed: forget it. */
void async_forget(int fd);

void async_fork(enum fork_phase phase);

#endif
