/* dns.c - resolver calls: a name is answered with fake addresses and later
 * resolved by the proxy, so no DNS query ever leaves this machine. With
 * SOCKSIFY_DNS=resolve the proxy resolves the name at once instead (Tor's
 * RESOLVE command) and the program gets the real address.
 *
 * Answered locally, without a query: numeric hosts, names in /etc/hosts,
 * localhost. Passed to the system resolver: everything when SOCKSIFY_DNS=local,
 * and names matching SOCKSIFY_NO_PROXY. Results are built by the real
 * getaddrinfo() from numeric addresses, so service names, socktype/protocol
 * filtering, EAI_* codes and memory layout are glibc's own, and glibc's
 * freeaddrinfo() frees them: it needs no hook. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "config.h"
#include "export.h"
#include "direct.h"
#include "fakedns.h"
#include "fork.h"
#include "handshake.h"
#include "hostsfile.h"
#include "log.h"
#include "real.h"
#include "resolve.h"
#include "route.h"

#define MAX_ADDRS 16

struct addr_list {
	size_t n;
	struct hosts_addr a[MAX_ADDRS];
	const char *canon; /* the name to report as canonical */
	char canon_buf[256];
};

static int is_localhost(const char *name)
{
	size_t n = strlen(name);
	if (n && name[n - 1] == '.')
		n--;
	return (n == 9 && strncasecmp(name, "localhost", 9) == 0) ||
	       (n > 10 && strncasecmp(name + n - 10, ".localhost", 10) == 0);
}

/* /etc/hosts, read again only when it changed (one stat() per lookup). */
static struct {
	pthread_mutex_t lock;
	char text[65536];
	size_t len;
	struct stat st;
} hosts = { .lock = PTHREAD_MUTEX_INITIALIZER };

static void hosts_acquire_lock_only(void)
{
	pthread_mutex_lock(&hosts.lock);
}

/* Locks the cache and returns its text up to date; unlock with hosts_release(). */
static const char *hosts_acquire(size_t *len)
{
	struct stat st;
	pthread_mutex_lock(&hosts.lock);
	int have = stat("/etc/hosts", &st) == 0;
	if (!have) {
		hosts.len = 0;
	} else if (st.st_ino != hosts.st.st_ino || st.st_size != hosts.st.st_size ||
		   st.st_mtim.tv_sec != hosts.st.st_mtim.tv_sec || st.st_mtim.tv_nsec != hosts.st.st_mtim.tv_nsec) {
		hosts.st = st;
		hosts.len = 0;
		int fd = open("/etc/hosts", O_RDONLY | O_CLOEXEC);
		while (fd >= 0 && hosts.len < sizeof hosts.text) {
			ssize_t n = REAL(read)(fd, hosts.text + hosts.len, sizeof hosts.text - hosts.len);
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			hosts.len += (size_t)n;
		}
		if (fd >= 0)
			REAL(close)(fd);
		if (hosts.len == sizeof hosts.text) /* larger than the buffer: drop the cut last line */
			while (hosts.len > 0 && hosts.text[hosts.len - 1] != '\n')
				hosts.len--;
	}
	*len = hosts.len;
	return hosts.text;
}

static void hosts_release(void)
{
	pthread_mutex_unlock(&hosts.lock);
}

void dns_fork(enum fork_phase phase)
{
	if (phase == FORK_PREPARE)
		hosts_acquire_lock_only();
	else
		hosts_release();
}

/* Addresses for a name without asking any server: /etc/hosts, then localhost. */
static size_t local_addresses(const char *name, int family, struct addr_list *out)
{
	size_t len;
	const char *text = hosts_acquire(&len);
	size_t n = hosts_lookup_name(text, len, name, family, out->a, MAX_ADDRS);
	hosts_release();
	out->n = n < MAX_ADDRS ? n : MAX_ADDRS;
	if (out->n == 0 && is_localhost(name)) {
		static const uint8_t lo6[16] = { [15] = 1 }, lo4[4] = { 127, 0, 0, 1 };
		if (family != AF_INET) {
			out->a[out->n].family = AF_INET6;
			memcpy(out->a[out->n++].addr, lo6, 16);
		}
		if (family != AF_INET6) {
			out->a[out->n].family = AF_INET;
			memcpy(out->a[out->n++].addr, lo4, 4);
		}
	}
	out->canon = name;
	return out->n;
}

/* Which families have a usable (non-loopback, non-link-local) address: bit 0
 * IPv4, bit 1 IPv6. Asked again at most every few seconds. */
static int configured_families(void)
{
	static atomic_int cached = -1;
	static atomic_llong checked_ms;
	long long now = monotonic_ms();
	int fams = atomic_load(&cached);
	if (fams >= 0 && now - atomic_load(&checked_ms) < 5000)
		return fams;
	struct ifaddrs *ifa, *i;
	if (getifaddrs(&ifa) < 0)
		return 3;
	fams = 0;
	for (i = ifa; i; i = i->ifa_next) {
		if (!i->ifa_addr)
			continue;
		if (i->ifa_addr->sa_family == AF_INET) {
			const struct sockaddr_in *s4 = (const struct sockaddr_in *)i->ifa_addr;
			if ((ntohl(s4->sin_addr.s_addr) >> 24) != 127)
				fams |= 1;
		} else if (i->ifa_addr->sa_family == AF_INET6) {
			const struct in6_addr *a = &((const struct sockaddr_in6 *)i->ifa_addr)->sin6_addr;
			if (!IN6_IS_ADDR_LOOPBACK(a) && !IN6_IS_ADDR_LINKLOCAL(a))
				fams |= 2;
		}
	}
	freeifaddrs(ifa);
	atomic_store(&cached, fams);
	atomic_store(&checked_ms, now);
	return fams;
}

/* glibc's default precedence table (gai.conf, from RFC 3484): IPv4 last. */
static int precedence(const struct hosts_addr *a)
{
	const uint8_t *p = a->addr;
	static const uint8_t loop6[16] = { [15] = 1 }, zero12[12];
	if (a->family == AF_INET || IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)p))
		return 10;
	if (memcmp(p, loop6, 16) == 0)
		return 50;
	if (p[0] == 0x20 && p[1] == 0x02)
		return 30;
	if (memcmp(p, zero12, 12) == 0)
		return 20;
	return 40;
}

/* Rule 1: a destination of a family this machine has no address of is unusable (loopback always works). */
static int usable(const struct hosts_addr *a, int fams)
{
	if (!fams)
		return 1;
	if (a->family == AF_INET)
		return (fams & 1) || a->addr[0] == 127;
	return (fams & 2) || IN6_IS_ADDR_LOOPBACK((const struct in6_addr *)a->addr);
}

/* Orders addresses as glibc's getaddrinfo would (RFC 3484 rules 1 and 6; stable otherwise). */
static void sort_addresses(struct addr_list *l)
{
	int fams = configured_families();
	for (size_t i = 1; i < l->n; i++) {
		struct hosts_addr x = l->a[i];
		int kx = usable(&x, fams) * 100 + precedence(&x);
		size_t j = i;
		while (j > 0 && usable(&l->a[j - 1], fams) * 100 + precedence(&l->a[j - 1]) < kx) {
			l->a[j] = l->a[j - 1];
			j--;
		}
		l->a[j] = x;
	}
}

/* The fake addresses of a name. With AI_ADDRCONFIG only the families this
 * machine has; an IPv6 query keeps the IPv4 fake for AI_V4MAPPED. */
static int fake_addresses(const char *name, int family, int flags, struct addr_list *out)
{
	struct in_addr v4;
	struct in6_addr v6;
	if (fakedns_resolve(name, &v4, &v6) < 0)
		return -1;
	int fams = configured_families();
	int want4 = family != AF_INET6 || (flags & AI_V4MAPPED), want6 = family != AF_INET;
	if (flags & AI_ADDRCONFIG && (fams & 3)) {
		want4 &= fams & 1;
		want6 &= (fams >> 1) & 1;
	}
	out->n = 0;
	if (want6) {
		out->a[out->n].family = AF_INET6;
		memcpy(out->a[out->n++].addr, &v6, 16);
	}
	if (want4) {
		out->a[out->n].family = AF_INET;
		memcpy(out->a[out->n++].addr, &v4, 4);
	}
	out->canon = name;
	return 0;
}

/* SOCKSIFY_DNS=resolve: the real address of name, as the proxy found it (one: RESOLVE carries one). */
static int resolved_addresses(const struct config *c, const char *name, struct addr_list *out)
{
	struct socks5_addr q, a;
	if (socks5_addr_set_domain(&q, name, 0) < 0)
		return EAI_NONAME;
	int rc = resolve_by_proxy(c, SOCKS5_CMD_RESOLVE, &q, name, &a);
	if (rc)
		return rc;
	out->n = 1;
	out->a[0].family = a.atyp == SOCKS5_ATYP_IPV4 ? AF_INET : AF_INET6;
	memcpy(out->a[0].addr, a.atyp == SOCKS5_ATYP_IPV4 ? a.u.ipv4 : a.u.ipv6, a.atyp == SOCKS5_ATYP_IPV4 ? 4 : 16);
	out->canon = name;
	log_debug("getaddrinfo(%s): resolved by the proxy", name);
	return 0;
}

/* Builds the result list from numeric addresses with the real getaddrinfo. */
static int gai_from_addresses(const struct addr_list *l, const char *service, const struct addrinfo *hints,
			      struct addrinfo **res)
{
	struct addrinfo h = { 0 }, *head = NULL, **tail = &head;
	int family = hints ? hints->ai_family : AF_UNSPEC, flags = hints ? hints->ai_flags : 0;
	int have6 = 0, rc = EAI_NONAME;
	if (hints)
		h = *hints;
	h.ai_flags = (flags & ~(AI_CANONNAME | AI_ADDRCONFIG | AI_V4MAPPED | AI_ALL)) | AI_NUMERICHOST;
	h.ai_canonname = NULL;
	h.ai_addr = NULL;
	h.ai_next = NULL;
	for (size_t i = 0; i < l->n; i++)
		have6 |= l->a[i].family == AF_INET6;
	for (size_t i = 0; i < l->n; i++) {
		char text[INET6_ADDRSTRLEN + 8] = "::ffff:";
		int af = l->a[i].family;
		if (family == AF_INET6 && af == AF_INET) {
			/* glibc: mapped IPv4 only with AI_V4MAPPED, and with IPv6 answers only with AI_ALL too */
			if (!(flags & AI_V4MAPPED) || (have6 && !(flags & AI_ALL)))
				continue;
			inet_ntop(AF_INET, l->a[i].addr, text + 7, sizeof text - 7);
			h.ai_family = AF_INET6;
		} else if (family != AF_UNSPEC && family != af) {
			continue;
		} else {
			inet_ntop(af, l->a[i].addr, text, sizeof text);
			h.ai_family = af;
		}
		struct addrinfo *part = NULL;
		rc = REAL(getaddrinfo)(text, service, &h, &part);
		if (rc != 0) {
			if (rc == EAI_SERVICE || rc == EAI_SOCKTYPE || rc == EAI_BADFLAGS || rc == EAI_MEMORY)
				break; /* the same for every address */
			continue;
		}
		*tail = part;
		while (*tail)
			tail = &(*tail)->ai_next;
	}
	if (!head) {
		if (rc == 0 || rc == EAI_FAMILY || rc == EAI_ADDRFAMILY)
			rc = EAI_NONAME;
		return rc;
	}
	if (head && (flags & AI_CANONNAME) && !(head->ai_canonname = strdup(l->canon))) {
		REAL(freeaddrinfo)(head);
		return EAI_MEMORY;
	}
	*res = head;
	return 0;
}

EXPORT int getaddrinfo(const char *node, const char *service, const struct addrinfo *hints, struct addrinfo **res)
{
	int family = hints ? hints->ai_family : AF_UNSPEC, flags = hints ? hints->ai_flags : 0;
	if (!node || !res || (family != AF_UNSPEC && family != AF_INET && family != AF_INET6))
		return REAL(getaddrinfo)(node, service, hints, res);
	const struct config *c = config_get();
	if (config_resolves_locally(c, node)) {
		int rc = REAL(getaddrinfo)(node, service, hints, res);
		if (rc == 0 && (namelist_match(&c->no_proxy_names, node) || (c->routes && route_name_is_direct(c, node))))
			direct_note_addrinfo(*res); /* an excluded name: its addresses connect direct */
		return rc;
	}

	/* A numeric host: the real resolver answers it without a query. */
	struct addrinfo h = hints ? *hints : (struct addrinfo){ .ai_family = AF_UNSPEC };
	h.ai_flags |= AI_NUMERICHOST;
	int rc = REAL(getaddrinfo)(node, service, &h, res);
	if (rc != EAI_NONAME || (flags & AI_NUMERICHOST))
		return rc;

	struct addr_list l;
	size_t len = strlen(node);
	if (len == 0 || len > 255)
		return EAI_NONAME;
	if (local_addresses(node, AF_UNSPEC, &l) == 0) {
		if (c->dns_resolve) {
			rc = resolved_addresses(c, node, &l);
			if (rc)
				return rc;
		} else if (fake_addresses(node, family, flags, &l) < 0) {
			return EAI_AGAIN;
		}
	}
	sort_addresses(&l);
	rc = gai_from_addresses(&l, service, hints, res);
	log_debug("getaddrinfo(%s): %s", node, rc == 0 ? "answered without a query" : gai_strerror(rc));
	return rc;
}

/* ---- gethostbyname family ---- */

/* Lays out a hostent for n addresses of one family inside buf. Returns 0 or ERANGE. */
static int fill_hostent(struct hostent *he, char *buf, size_t buflen, const char *name, int af,
			const struct addr_list *l)
{
	size_t alen = af == AF_INET ? 4 : 16, naddr = 0;
	for (size_t i = 0; i < l->n; i++)
		naddr += l->a[i].family == af;
	size_t nlen = strlen(name) + 1;
	size_t pad = (sizeof(char *) - ((uintptr_t)buf % sizeof(char *))) % sizeof(char *);
	size_t need = pad + sizeof(char *) * (naddr + 2) + naddr * alen + nlen;
	if (buflen < need)
		return ERANGE;
	char **ptrs = (char **)(void *)(buf + pad);
	char *data = (char *)(ptrs + naddr + 2);
	he->h_aliases = ptrs; /* no aliases: ptrs[0] = NULL */
	ptrs[0] = NULL;
	he->h_addr_list = ptrs + 1;
	size_t k = 0;
	for (size_t i = 0; i < l->n; i++) {
		if (l->a[i].family != af)
			continue;
		memcpy(data, l->a[i].addr, alen);
		he->h_addr_list[k++] = data;
		data += alen;
	}
	he->h_addr_list[k] = NULL;
	memcpy(data, name, nlen);
	he->h_name = data;
	he->h_addrtype = af;
	he->h_length = (int)alen;
	return 0;
}

static int is_numeric(const char *name)
{
	struct in6_addr a;
	struct in_addr b;
	return inet_pton(AF_INET6, name, &a) == 1 || inet_aton(name, &b) != 0;
}

/* 0: answered in *result; 1: not ours, ask the real function; else an errno (ERANGE). */
static int hostbyname(const char *name, int af, struct hostent *ret, char *buf, size_t buflen,
		      struct hostent **result, int *h_errnop)
{
	const struct config *c = config_get();
	if (!name || (af != AF_INET && af != AF_INET6) || config_resolves_locally(c, name) || is_numeric(name))
		return 1;
	struct addr_list l;
	*result = NULL;
	size_t len = strlen(name);
	if (len == 0 || len > 255) {
		h_errno = *h_errnop = HOST_NOT_FOUND;
		return 0;
	}
	if (local_addresses(name, af, &l) == 0) {
		int rc = c->dns_resolve ? resolved_addresses(c, name, &l) : fake_addresses(name, af, 0, &l) < 0 ? EAI_AGAIN : 0;
		if (rc == 0 && c->dns_resolve && l.a[0].family != af)
			rc = EAI_NONAME; /* the proxy's one answer is of the other family */
		if (rc) {
			h_errno = *h_errnop = rc == EAI_NONAME ? HOST_NOT_FOUND : rc == EAI_AGAIN ? TRY_AGAIN : NO_RECOVERY;
			return 0;
		}
	}
	sort_addresses(&l);
	int err = fill_hostent(ret, buf, buflen, name, af, &l);
	if (err) {
		h_errno = *h_errnop = NETDB_INTERNAL;
		return err;
	}
	*result = ret;
	return 0;
}

/* After the system resolver answered: an excluded name's addresses connect direct. */
static void note_if_excluded(const char *name, const struct hostent *he)
{
	const struct config *c = config_get();
	if (name && he && (namelist_match(&c->no_proxy_names, name) || (c->routes && route_name_is_direct(c, name))))
		direct_note_hostent(he);
}

EXPORT int gethostbyname2_r(const char *name, int af, struct hostent *ret, char *buf, size_t buflen,
			    struct hostent **result, int *h_errnop)
{
	int rc = hostbyname(name, af, ret, buf, buflen, result, h_errnop);
	if (rc != 1)
		return rc;
	rc = REAL(gethostbyname2_r)(name, af, ret, buf, buflen, result, h_errnop);
	note_if_excluded(name, rc == 0 ? *result : NULL);
	return rc;
}

EXPORT int gethostbyname_r(const char *name, struct hostent *ret, char *buf, size_t buflen,
			   struct hostent **result, int *h_errnop)
{
	int rc = hostbyname(name, AF_INET, ret, buf, buflen, result, h_errnop);
	if (rc != 1)
		return rc;
	rc = REAL(gethostbyname_r)(name, ret, buf, buflen, result, h_errnop);
	note_if_excluded(name, rc == 0 ? *result : NULL);
	return rc;
}

/* The non-reentrant calls keep one result per thread (glibc keeps one per process). */
static __thread struct hostent tls_hostent;
static __thread char tls_hostbuf[1024];

EXPORT struct hostent *gethostbyname2(const char *name, int af)
{
	struct hostent *result;
	int rc = hostbyname(name, af, &tls_hostent, tls_hostbuf, sizeof tls_hostbuf, &result, &h_errno);
	if (rc != 1)
		return result;
	result = REAL(gethostbyname2)(name, af);
	note_if_excluded(name, result);
	return result;
}

EXPORT struct hostent *gethostbyname(const char *name)
{
	struct hostent *result;
	int rc = hostbyname(name, AF_INET, &tls_hostent, tls_hostbuf, sizeof tls_hostbuf, &result, &h_errno);
	if (rc != 1)
		return result;
	result = REAL(gethostbyname)(name);
	note_if_excluded(name, result);
	return result;
}

/* ---- reverse lookups: fake addresses give their name back; others never leave the machine ---- */

/* The name for an address without a query: 1 found, 0 not found. */
static int name_of_address(int af, const uint8_t *addr, char *name, size_t cap)
{
	struct socks5_addr a = { .atyp = af == AF_INET ? SOCKS5_ATYP_IPV4 : SOCKS5_ATYP_IPV6 };
	char fake[256];
	memcpy(af == AF_INET ? a.u.ipv4 : a.u.ipv6, addr, af == AF_INET ? 4 : 16);
	if (af == AF_INET6 && IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)addr)) {
		a.atyp = SOCKS5_ATYP_IPV4;
		memcpy(a.u.ipv4, addr + 12, 4);
	}
	if (fakedns_lookup(&a, fake) == 1) {
		snprintf(name, cap, "%s", fake);
		return 1;
	}
	size_t len;
	const char *text = hosts_acquire(&len);
	int found = hosts_lookup_addr(text, len, af, addr, name, cap);
	hosts_release();
	return found;
}

/* SOCKSIFY_DNS=resolve: the name the proxy finds for an address (RESOLVE_PTR), unless
 * the address goes direct (SOCKSIFY_NO_PROXY: not the proxy's business). 1 found, 0 not. */
static int name_by_proxy(const struct config *c, int af, const uint8_t *addr, char *name, size_t cap)
{
	struct sockaddr_storage ss = { 0 };
	struct socks5_addr q, a;
	socklen_t len;
	char what[INET6_ADDRSTRLEN];
	if (af == AF_INET) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, addr, 4);
		len = sizeof *s4;
	} else {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, addr, 16);
		len = sizeof *s6;
	}
	if (config_is_direct(c, (struct sockaddr *)&ss, len) ||
	    socks5_addr_from_sockaddr(&q, (struct sockaddr *)&ss, len) < 0)
		return 0;
	inet_ntop(af, addr, what, sizeof what);
	if (resolve_by_proxy(c, SOCKS5_CMD_RESOLVE_PTR, &q, what, &a) != 0 || a.u.domain.len >= cap)
		return 0;
	memcpy(name, a.u.domain.name, (size_t)a.u.domain.len + 1);
	return 1;
}

static int hostbyaddr(const void *addr, socklen_t len, int type, struct hostent *ret, char *buf, size_t buflen,
		      struct hostent **result, int *h_errnop)
{
	const struct config *c = config_get();
	if (!c->dns_remote || !addr || (type != AF_INET && type != AF_INET6) ||
	    len != (type == AF_INET ? 4u : 16u))
		return 1;
	char name[256];
	*result = NULL;
	if (!name_of_address(type, addr, name, sizeof name) &&
	    !(c->dns_resolve && name_by_proxy(c, type, addr, name, sizeof name))) {
		h_errno = *h_errnop = HOST_NOT_FOUND; /* glibc's _r calls set both; programs read either */
		return 0;
	}
	struct addr_list l = { .n = 1 };
	l.a[0].family = type;
	memcpy(l.a[0].addr, addr, len);
	int err = fill_hostent(ret, buf, buflen, name, type, &l);
	if (err) {
		h_errno = *h_errnop = NETDB_INTERNAL;
		return err;
	}
	*result = ret;
	return 0;
}

EXPORT int gethostbyaddr_r(const void *addr, socklen_t len, int type, struct hostent *ret, char *buf,
			   size_t buflen, struct hostent **result, int *h_errnop)
{
	int rc = hostbyaddr(addr, len, type, ret, buf, buflen, result, h_errnop);
	return rc == 1 ? REAL(gethostbyaddr_r)(addr, len, type, ret, buf, buflen, result, h_errnop) : rc;
}

EXPORT struct hostent *gethostbyaddr(const void *addr, socklen_t len, int type)
{
	struct hostent *result;
	int rc = hostbyaddr(addr, len, type, &tls_hostent, tls_hostbuf, sizeof tls_hostbuf, &result, &h_errno);
	return rc == 1 ? REAL(gethostbyaddr)(addr, len, type) : result;
}

EXPORT int getnameinfo(const struct sockaddr *sa, socklen_t salen, char *host, socklen_t hostlen, char *serv,
		       socklen_t servlen, int flags)
{
	const struct config *c = config_get();
	if (!c->dns_remote || !host || !hostlen || (flags & NI_NUMERICHOST) || !sa ||
	    (sa->sa_family != AF_INET && sa->sa_family != AF_INET6) ||
	    salen < (sa->sa_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)))
		return REAL(getnameinfo)(sa, salen, host, hostlen, serv, servlen, flags);
	const uint8_t *addr = sa->sa_family == AF_INET
				      ? (const uint8_t *)&((const struct sockaddr_in *)sa)->sin_addr
				      : ((const struct sockaddr_in6 *)sa)->sin6_addr.s6_addr;
	char name[256];
	if (!name_of_address(sa->sa_family, addr, name, sizeof name) &&
	    !(c->dns_resolve && name_by_proxy(c, sa->sa_family, addr, name, sizeof name))) {
		/* A reverse query would tell the local resolver whom we talk to: answer numerically. */
		if (flags & NI_NAMEREQD)
			return EAI_NONAME;
		return REAL(getnameinfo)(sa, salen, host, hostlen, serv, servlen, flags | NI_NUMERICHOST);
	}
	if (strlen(name) >= hostlen)
		return EAI_OVERFLOW;
	if (serv && servlen) {
		int rc = REAL(getnameinfo)(sa, salen, NULL, 0, serv, servlen, flags);
		if (rc)
			return rc;
	}
	strcpy(host, name);
	return 0;
}
