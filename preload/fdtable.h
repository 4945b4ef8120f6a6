/* fdtable.h - which fds the library manages, and what it knows about them.
 *
 * One table for the process, one lock for writers. The question every hook
 * asks first ("is this fd ours?") is answered without the lock, allocation or
 * a syscall: two atomic loads. The datagram hot path (fdtable_get_udp_trusted)
 * takes only its own entry's lock, no system call. */
#ifndef SOCKSIFY_FDTABLE_H
#define SOCKSIFY_FDTABLE_H

#include <netinet/in.h>
#include <sys/socket.h>

struct udp_assoc;

#define FDTABLE_MAX_FD (1u << 20) /* fds the table can describe */

enum fd_kind {
	FD_UNMANAGED = 0,
	FD_TCP_PROXIED, /* connected through the proxy; peer is the target */
	FD_UDP, /* a datagram socket seen by a hook; nothing of it is proxied yet */
	FD_UDP_PROXIED, /* a datagram socket with an association or an emulated peer */
	FD_INTERNAL, /* the library's own fd (a UDP association's control connection) */
	FD_BIND_LISTENER, /* listen() made it a BIND session (bind.c); local is the proxy's listener */
};

struct fd_info {
	enum fd_kind kind;
	socklen_t peerlen; /* 0: no peer */
	struct sockaddr_storage peer; /* TCP: the target; UDP: the peer set by connect() */
	socklen_t locallen; /* 0: none */
	struct sockaddr_in6 local; /* TCP: BND of the proxy's reply (a sockaddr_in fits too) */
	struct udp_assoc *assoc; /* UDP: a reference the caller drops with assoc_unref(), or NULL */
};

/* Lock-free: the kind of fd, FD_UNMANAGED for anything we never marked.
 * May be stale if the fd was closed behind our back: decisions that must
 * not be wrong (connect, close of our own fds) use fdtable_kind_checked. */
enum fd_kind fdtable_kind(int fd);

/* The kind after checking (fstat) that fd still refers to what we marked;
 * a stale entry is forgotten. errno untouched. */
enum fd_kind fdtable_kind_checked(int fd);

/* 1 and forgets the entry if fd is still a's control connection (the caller closes it); else 0. */
int fdtable_release_internal(int fd, struct udp_assoc *a);

/* Copies the entry (taking a reference on its association). Returns 0, or -1
 * if unmanaged or stale (then forgotten). errno untouched. */
int fdtable_get(int fd, struct fd_info *out);

/* For the datagram hot path: like fdtable_get, for an FD_UDP or FD_UDP_PROXIED
 * entry only, but trusting an identity check made in the last FDTABLE_TRUST_MS
 * (no fstat per datagram). Only for calls whose every outcome is the relay, a
 * destination that goes direct anyway, or a retry through fdtable_get: an fd
 * closed behind our back and reused may still be taken for the old socket
 * that long. */
#define FDTABLE_TRUST_MS 200
int fdtable_get_udp_trusted(int fd, struct fd_info *out);

/* Marks fd as a proxied TCP socket whose peer is sa. Returns 0, or -1 if the
 * fd is out of the table's range or memory ran out (the caller goes on: only
 * getpeername() loses the target). */
int fdtable_set_proxied(int fd, const struct sockaddr *sa, socklen_t len);

/* Marks fd as a BIND listener whose proxy listens at bnd (what getsockname() tells). */
int fdtable_set_bind(int fd, const struct sockaddr *bnd, socklen_t len);

/* Sets the local address of a proxied TCP socket or BIND listener: BND of the
 * proxy's reply. Returns 0, or -1 if fd is neither. */
int fdtable_set_local(int fd, const struct sockaddr *sa, socklen_t len);

/* Marks fd as a datagram socket; with len > 0 sets its emulated peer, with
 * len == 0 clears it. Keeps an existing association. */
int fdtable_set_udp(int fd, const struct sockaddr *peer, socklen_t len);

/* Gives fd the association a unless it already has one other than stale
 * (NULL: none). Returns the one fd now has, with a reference for the caller
 * (NULL if fd is not a UDP entry). */
struct udp_assoc *fdtable_attach_assoc(int fd, struct udp_assoc *a, struct udp_assoc *stale);

/* Marks one of the library's own fds (a's control connection, or with a
 * NULL the name table). The program's close() and close_range() leave it
 * open; a dup2() onto its number first moves it (fdtable_evacuate). */
int fdtable_set_internal(int fd, struct udp_assoc *a);

/* Before the program takes the number fd: move our own fd elsewhere (the
 * association learns its new number) or, for the name table, let it go. */
void fdtable_evacuate(int fd);

/* The library's own fds within [first, last], ascending, at most max. Returns the count. */
size_t fdtable_internal_in(unsigned int first, unsigned int last, int *out, size_t max);

/* Copies the peer into sa/len with getpeername()'s truncation rules. Returns 0, or -1 if none. */
int fdtable_get_peer(int fd, struct sockaddr *sa, socklen_t *len);

/* The fd no longer refers to what we knew (closed, or replaced). */
void fdtable_forget(int fd);
/* After dup-like calls: newfd now refers to what oldfd refers to. */
void fdtable_dup(int oldfd, int newfd);


#endif
