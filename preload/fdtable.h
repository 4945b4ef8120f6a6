/* fdtable.h - which fds the library manages, and what it knows about them.
 *
 * One table for the process, one lock for writers. The question every hook
 * asks first ("is this fd ours?") is answered without the lock, allocation or
 * a syscall: two atomic loads. */
#ifndef SOCKSIFY_FDTABLE_H
#define SOCKSIFY_FDTABLE_H

#include <sys/socket.h>

enum fd_kind {
	FD_UNMANAGED = 0,
	FD_TCP_PROXIED = 1, /* connected through the proxy; peer is the target */
};

/* Lock-free: the kind of fd, FD_UNMANAGED for anything we never marked. */
enum fd_kind fdtable_kind(int fd);

/* Marks fd as a proxied TCP socket whose peer is sa. Returns 0, or -1 if the
 * fd is out of the table's range or memory ran out (the caller goes on: only
 * getpeername() loses the target). */
int fdtable_set_proxied(int fd, const struct sockaddr *sa, socklen_t len);

/* Copies the peer into sa/len with getpeername()'s truncation rules. Returns 0, or -1 if unmanaged. */
int fdtable_get_peer(int fd, struct sockaddr *sa, socklen_t *len);

void fdtable_forget(int fd);
/* After dup-like calls: newfd now refers to what oldfd refers to. */
void fdtable_dup(int oldfd, int newfd);

/* pthread_atfork handlers: the child never inherits a held lock. */
void fdtable_atfork_prepare(void);
void fdtable_atfork_parent(void);
void fdtable_atfork_child(void);

#endif
