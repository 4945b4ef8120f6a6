/* real.h - the real libc functions behind our hooks, found with dlsym(RTLD_NEXT). */
#ifndef SOCKSIFY_REAL_H
#define SOCKSIFY_REAL_H

#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/types.h>

#define HOOK(ret, name, params, args) extern ret(*real_##name) params;
#define USE HOOK
#include "hooks.def"
#undef HOOK
#undef USE

/* Looks every symbol up; idempotent and cheap after the first call. A symbol
 * that cannot be found, or that would resolve to our own hook, is replaced by
 * a stub failing with ENOSYS, and logged. */
void real_init(void);

/* Hooks call this first: the program may call us before our constructor ran. */
#define REAL(name) (__builtin_expect(real_##name != 0, 1) ? real_##name : (real_init(), real_##name))

#endif
