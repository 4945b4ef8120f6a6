/* resolve.h - SOCKSIFY_DNS=resolve: a name lookup by the proxy with Tor's RESOLVE
 * command, for the library's resolver calls (dns.c) and the supervisor's DNS responder. */
#ifndef SOCKSIFY_RESOLVE_H
#define SOCKSIFY_RESOLVE_H

#include <stdint.h>

#include "socks5.h"

struct config;

/* One RESOLVE (F0) or RESOLVE_PTR (F1) exchange with c's proxy, blocking up to
 * SOCKSIFY_TIMEOUT; what names the question in log lines. Returns 0 with *answer
 * set (an address for RESOLVE, a name for RESOLVE_PTR), or an EAI_* code, logged:
 * EAI_NONAME when the proxy found nothing (REP 04, Tor's answer); EAI_AGAIN when
 * the proxy could not be reached or did not answer in time (it may be back later);
 * EAI_FAIL for what asking again cannot mend: a chain or another proxy kind, a
 * proxy that refuses the command (REP 07) or hangs up on it. Never a local lookup:
 * the point of SOCKSIFY_DNS=resolve is that none happens. */
int resolve_by_proxy(const struct config *c, uint8_t cmd, const struct socks5_addr *q, const char *what,
		     struct socks5_addr *answer);

#endif
