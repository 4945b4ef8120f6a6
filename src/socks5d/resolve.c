/* resolve.c - Tor's RESOLVE (F0) and RESOLVE_PTR (F1): a name lookup for the
 * client, answered in BND.ADDR, then the connection ends. The lookup runs on
 * the resolver threads like a CONNECT's, and the --allow-to/--deny-to rules
 * apply to the addresses asked about or handed out. */
#include "socks5d.h"

#include <netdb.h>
#include <stdlib.h>
#include <string.h>

static void resolve_answer(struct server *srv, struct conn *c, const struct socks5_addr *answer)
{
	if (log_get_level() >= LOG_LVL_DEBUG) {
		char text[300];
		log_debug("resolve %s: %s", c->target_name, socks5_addr_format(answer, text, sizeof text));
	}
	session_answer_and_linger(srv, c, SOCKS5_REP_SUCCEEDED, answer, RES_OK);
}

/* The first address the rules allow, IPv4 first as Tor answers; false if none is. */
static bool pick_answer(struct server *srv, const union sockaddr_any *addrs, unsigned n, struct socks5_addr *out)
{
	for (int want = AF_INET; ; want = AF_INET6) {
		for (unsigned i = 0; i < n; i++) {
			if (addrs[i].sa.sa_family != want || target_check(srv, &addrs[i]) != TARGET_OK)
				continue;
			if (socks5_addr_from_sockaddr(out, &addrs[i].sa, sizeof addrs[i]) == 0) {
				out->port = 0;
				return true;
			}
		}
		if (want == AF_INET6)
			return false;
	}
}

static void resolve_on_done(struct server *srv, struct resolve_job *job)
{
	struct conn *c = job->owner;
	struct socks5_addr answer;

	c->job = NULL;
	if (job->gai_err == EAI_SYSTEM || job->gai_err == EAI_MEMORY) {
		log_debug("resolve %s: %s", c->target_name, gai_strerror(job->gai_err));
		session_reply_and_linger(srv, c, SOCKS5_REP_GENERAL_FAILURE, RES_ERROR);
	} else if (job->gai_err || (!job->reverse && job->naddrs == 0)) {
		/* No such name (or address without a name): REP 04, as Tor answers. */
		log_debug("resolve %s: %s", c->target_name, job->gai_err ? gai_strerror(job->gai_err) : "no addresses");
		session_reply_and_linger(srv, c, SOCKS5_REP_HOST_UNREACHABLE, RES_HOST_UNREACHABLE);
	} else if (job->reverse) {
		socks5_addr_set_domain(&answer, job->host, 0);
		resolve_answer(srv, c, &answer);
	} else if (pick_answer(srv, job->addrs, job->naddrs, &answer)) {
		resolve_answer(srv, c, &answer);
	} else {
		log_info("refusing resolve target=%s: every address %s", c->target_name,
			 target_verdict_reason(TARGET_DENIED));
		session_reply_and_linger(srv, c, SOCKS5_REP_NOT_ALLOWED, RES_NOT_ALLOWED);
	}
	if (c->state != ST_CLOSED)
		conn_update_interest(srv, c);
}

void resolve_start(struct server *srv, struct conn *c, uint8_t cmd, const struct socks5_addr *dst)
{
	bool reverse = cmd == SOCKS5_CMD_RESOLVE_PTR;
	union sockaddr_any sa;

	memset(&sa, 0, sizeof sa);
	if (reverse && dst->atyp == SOCKS5_ATYP_DOMAIN) {
		session_reply_and_linger(srv, c, SOCKS5_REP_ATYP_NOT_SUPPORTED, RES_BAD_REQUEST);
		return;
	}
	if (dst->atyp != SOCKS5_ATYP_DOMAIN) {
		socks5_addr_to_sockaddr(dst, &sa.sa, sizeof sa);
		if (target_check(srv, &sa) != TARGET_OK) {
			log_info("refusing resolve target=%s: %s", c->target_name, target_verdict_reason(TARGET_DENIED));
			session_reply_and_linger(srv, c, SOCKS5_REP_NOT_ALLOWED, RES_NOT_ALLOWED);
			return;
		}
		if (!reverse) { /* an address needs no lookup: it is its own answer */
			struct socks5_addr answer = *dst;
			answer.port = 0;
			resolve_answer(srv, c, &answer);
			return;
		}
	}
	struct resolve_job *job = calloc(1, sizeof *job);
	if (!job) {
		session_reply_and_linger(srv, c, SOCKS5_REP_GENERAL_FAILURE, RES_ERROR);
		return;
	}
	job->reverse = reverse;
	if (reverse)
		job->reverse_addr = sa;
	else
		memcpy(job->host, dst->u.domain.name, sizeof job->host);
	job->owner = c;
	job->on_done = resolve_on_done;
	c->job = job;
	c->state = ST_RESOLVING;
	timer_arm(&srv->connect_timers, &c->timer, srv->now_ms);
	resolver_submit(srv->resolver, job);
	conn_update_interest(srv, c);
}
