/* route.h - SOCKSIFY_ROUTE in the library and the supervisor: a proxy (or none) per destination. */
#ifndef SOCKSIFY_ROUTE_H
#define SOCKSIFY_ROUTE_H

#include <sys/socket.h>

struct config;

/* Reads SOCKSIFY_ROUTE into c->routes (left NULL when unset or empty). Each route
 * gets settings of its own: c's (read so far) with the route's proxy, resolved.
 * Returns 0, or -1 when it is malformed (logged): then nothing may be proxied. */
int route_read_env(struct config *c);

/* The settings a connection to sa (a name's fake address: by the name, when name
 * is not NULL) goes with: c itself when no route matches, a route's (its proxy),
 * or NULL when the route is "direct". *index: the route's, or -1. */
const struct config *route_choose(const struct config *c, const struct sockaddr *sa, const char *name, int *index);

/* 1 when a route says name goes direct: it is resolved locally, as a SOCKSIFY_NO_PROXY name. */
int route_name_is_direct(const struct config *c, const char *name);

/* 1 when sa is a route's proxy (its first hop), which is connected to directly. */
int route_is_proxy(const struct config *c, const struct sockaddr *sa, socklen_t len);

/* A route's DESTS as written, for log lines. */
const char *route_dests(const struct config *c, int index);

#endif
