/* direct.h - addresses that SOCKSIFY_NO_PROXY names resolved to: connections to them go direct. */
#ifndef SOCKSIFY_DIRECT_H
#define SOCKSIFY_DIRECT_H

#include <sys/socket.h>

struct addrinfo;
struct hostent;

/* Remembers the addresses of an excluded name (the newest 256 are kept). */
void direct_note_addrinfo(const struct addrinfo *ai);
void direct_note_hostent(const struct hostent *he);

/* 1 if sa's address was noted (any port). Lock-free when nothing was noted. */
int direct_has(const struct sockaddr *sa, socklen_t len);

#endif
