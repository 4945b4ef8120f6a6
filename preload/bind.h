/* bind.h - what the other call families tell the BIND listeners (bind.c). */
#ifndef SOCKSIFY_BIND_H
#define SOCKSIFY_BIND_H

#include <sys/epoll.h>

/* epoll_ctl() on a BIND listener succeeded: remember the registration, so that
 * accept() can move it to the listener's next session. errno untouched. */
void bind_epoll_noted(int epfd, int op, int fd, const struct epoll_event *ev);

/* A proxied connection is up; bnd is BND of the proxy's reply. With
 * SOCKSIFY_BIND=1, getsockname() on fd tells it: the address the target sees,
 * which FTP clients advertise in PORT/EPRT. errno untouched. */
struct socks5_addr;
void bind_note_local(int fd, const struct socks5_addr *bnd);

/* The listener fd is closed: forget its registrations. */
void bind_forget(int fd);

#endif
