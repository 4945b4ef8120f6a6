/* rules.c - who may use the server and where to: --allow-from, the
 * --allow-to/--deny-to list, the refusal of connections back to our own
 * listeners, and dropping root after the listeners are bound. */
#include "endpoint.h"
#include "socks5d.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

bool client_allowed_by_rules(const struct config *cfg, const union sockaddr_any *peer)
{
	return !cfg->allow_from || netlist_match(cfg->allow_from, &peer->sa);
}

/* Address as 16 bytes (IPv4 as v4-mapped) and port; false for other families. */
bool sockaddr_ip16(const union sockaddr_any *a, uint8_t ip[16], uint16_t *port)
{
	struct endpoint_key k;
	if (!endpoint_key_of(&a->sa, sizeof *a, &k))
		return false;
	memcpy(ip, k.ip, 16);
	*port = k.port;
	return true;
}

static bool ip16_is_any(const uint8_t ip[16])
{
	static const uint8_t zero[16];
	return memcmp(ip, zero, 16) == 0 ||
	       (endpoint_is_v4(ip) && memcmp(ip + 12, zero, 4) == 0);
}

bool sockaddr_is_any(const union sockaddr_any *a)
{
	uint8_t ip[16];
	uint16_t port;

	return !sockaddr_ip16(a, ip, &port) || ip16_is_any(ip);
}

/* Linux connects 0.0.0.0 and :: to the loopback address of that family. */
static void ip16_any_to_loopback(uint8_t ip[16])
{
	if (!ip16_is_any(ip))
		return;
	if (endpoint_is_v4(ip)) {
		static const uint8_t lo4[4] = { 127, 0, 0, 1 };
		memcpy(ip + 12, lo4, 4);
	} else {
		memset(ip, 0, 16);
		ip[15] = 1;
	}
}

/* Whether ip is an address of this host right now: a socket can be bound
 * to it. Asked only when the port is a wildcard listener's, so the syscalls
 * cost nothing for ordinary targets; if we cannot tell, we say yes
 * (refusing one target beats relaying into ourselves). */
static bool ip16_is_local(const uint8_t ip[16])
{
	union sockaddr_any a;
	socklen_t len;

	memset(&a, 0, sizeof a);
	if (endpoint_is_v4(ip)) {
		if (ip[12] == 127)
			return true;
		a.sin.sin_family = AF_INET;
		memcpy(&a.sin.sin_addr, ip + 12, 4);
		len = sizeof a.sin;
	} else {
		if (IN6_IS_ADDR_LOOPBACK((const struct in6_addr *)ip))
			return true;
		a.sin6.sin6_family = AF_INET6;
		memcpy(&a.sin6.sin6_addr, ip, 16);
		len = sizeof a.sin6;
	}
	int fd = socket(a.sa.sa_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return true;
	int rc = bind(fd, &a.sa, len);
	int err = errno;
	close(fd);
	return rc == 0 || err != EADDRNOTAVAIL;
}

/* A target that is one of our own listeners would make us relay to
 * ourselves, each hop costing two more fds, until they run out. */
static bool target_is_listener(const struct server *srv, const union sockaddr_any *dst)
{
	uint8_t ip[16], lip[16];
	uint16_t port, lport;

	if (!sockaddr_ip16(dst, ip, &port))
		return false;
	ip16_any_to_loopback(ip);
	bool v4 = endpoint_is_v4(ip);
	for (size_t i = 0; i < srv->nlisteners; i++) {
		if (!sockaddr_ip16(&srv->listeners[i].addr, lip, &lport) || lport != port)
			continue;
		/* Listeners are IPV6_V6ONLY: [::]:P does not hear IPv4, 0.0.0.0:P not IPv6. */
		if (v4 != (endpoint_is_v4(lip)))
			continue;
		if (ip16_is_any(lip) ? ip16_is_local(ip) : memcmp(ip, lip, 16) == 0)
			return true;
	}
	return false;
}

enum target_verdict target_check(const struct server *srv, const union sockaddr_any *dst)
{
	const struct config *cfg = srv->cfg;

	if (target_is_listener(srv, dst))
		return TARGET_LOOP;
	for (size_t i = 0; i < cfg->ntarget_rules; i++)
		if (netlist_match(&cfg->target_rules[i].net, &dst->sa))
			return cfg->target_rules[i].allow ? TARGET_OK : TARGET_DENIED;
	return TARGET_OK;
}

const char *target_verdict_reason(enum target_verdict v)
{
	switch (v) {
	case TARGET_OK:
		return "allowed";
	case TARGET_DENIED:
		return "denied by --deny-to/--allow-to";
	case TARGET_LOOP:
		return "one of socks5d's own listeners";
	}
	return "?";
}

/* Groups, then gid, then uid: after setuid we could no longer change the
 * others. glibc applies each to every thread of the process. Then we check
 * that root cannot be regained. */
int privileges_drop(const char *name)
{
	errno = 0;
	struct passwd *pw = getpwnam(name);
	if (!pw) {
		fprintf(stderr, "socks5d: --user %s: %s\n", name, errno ? strerror(errno) : "no such user");
		return -1;
	}
	uid_t uid = pw->pw_uid;
	gid_t gid = pw->pw_gid;
	if (uid != 0 && getuid() == uid && geteuid() == uid && getgid() == gid && getegid() == gid)
		return 0; /* already that account, nothing more we could drop */
	if (initgroups(name, gid) < 0 && setgroups(1, &gid) < 0) {
		fprintf(stderr, "socks5d: --user %s: cannot set groups: %s%s\n", name, strerror(errno),
			errno == EPERM ? " (start socks5d as root to use --user)" : "");
		return -1;
	}
	if (setgid(gid) < 0 || setuid(uid) < 0) {
		fprintf(stderr, "socks5d: --user %s: cannot switch to uid %u gid %u: %s%s\n", name, (unsigned)uid,
			(unsigned)gid, strerror(errno), errno == EPERM ? " (start socks5d as root to use --user)" : "");
		return -1;
	}
	if (getuid() != uid || geteuid() != uid || getgid() != gid || getegid() != gid ||
	    (uid != 0 && setuid(0) == 0)) {
		fprintf(stderr, "socks5d: --user %s: the switch to uid %u did not stick; refusing to run\n", name,
			(unsigned)uid);
		return -1;
	}
	return 0;
}
