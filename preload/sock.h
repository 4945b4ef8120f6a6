/* sock.h - small socket facts shared by the call families. */
#ifndef SOCKSIFY_SOCK_H
#define SOCKSIFY_SOCK_H

#include <sys/socket.h>

/* 1 for an AF_INET/AF_INET6 address of a plausible length. */
int sock_is_inet_addr(const struct sockaddr *sa, socklen_t len);

/* SOCK_STREAM or SOCK_DGRAM for an AF_INET/AF_INET6 socket (its family in
 * *domain), 0 for anything else. Two getsockopt() calls; errno untouched. */
int sock_inet_type(int fd, int *domain);

/* The proxy's address in the socket's family (an IPv6 socket reaches an IPv4
 * proxy v4-mapped). Returns its length, or 0 if the family cannot reach it. */
struct config;
socklen_t proxy_addr_for(int fd, int domain, const struct config *c, struct sockaddr_storage *out);

/* The connect() of each family, once the hook knows the socket's type. */
int tcp_connect(int fd, int domain, const struct sockaddr *addr, socklen_t len);
int udp_connect(int fd, int domain, const struct sockaddr *addr, socklen_t len);

#endif
