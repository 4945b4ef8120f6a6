/* config.c - SOCKSIFY_* environment variables, parsed once per process. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "direct.h"
#include "endpoint.h"
#include "log.h"
#include "real.h"
#include "route.h"

static struct config config;
static pthread_once_t config_once = PTHREAD_ONCE_INIT;

static void config_logging(void)
{
	int level = LOG_LVL_ERROR;
	const char *s = getenv("SOCKSIFY_LOG");
	int bad = 0;
	if (s && *s) {
		level = log_level_parse(s);
		if (level < LOG_LVL_NONE) {
			level = LOG_LVL_ERROR;
			bad = 1;
		}
	}
	int fd = 2;
	const char *file = getenv("SOCKSIFY_LOG_FILE");
	if (file && *file) {
		int lfd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		if (lfd >= 0)
			fd = lfd;
	}
	log_init("socksify", (enum log_level)level, fd, REAL(write));
	if (bad)
		log_error("SOCKSIFY_LOG='%s' is not one of none, error, warn, info, debug; using error", s);
}

static int parse_timeout_ms(const char *s)
{
	char *end;
	errno = 0;
	double secs = strtod(s, &end);
	if (errno || end == s || *end || !(secs > 0) || secs > 86400)
		return -1;
	return (int)(secs * 1000 + 0.5);
}

int resolve_proxy(struct config *c)
{
	/* No AI_ADDRCONFIG: glibc's check for it takes a lock that a forked child of
	 * a threaded program may find held forever, and settings can load in such a child. */
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	char port[8];
	snprintf(port, sizeof port, "%u", c->url.port);
	/* The proxy's own name is resolved locally: it has to be, to reach the proxy. */
	int rc = REAL(getaddrinfo)(c->url.host, port, &hints, &res);
	if (rc != 0 || !res) {
		log_error("cannot resolve proxy host '%s': %s", c->url.host, gai_strerror(rc));
		return -1;
	}
	memcpy(&c->proxy_addr, res->ai_addr, res->ai_addrlen);
	c->proxy_addrlen = res->ai_addrlen;
	REAL(freeaddrinfo)(res);
	return 0;
}

/* Items are addresses (netlist) or names (namelist). Unset means loopback
 * only; set but empty means nothing is excluded. */
#define NO_PROXY_SEPARATORS ", \t\n\r\v\f" /* as netlist_parse splits */

static void config_no_proxy(struct config *c)
{
	char item[300], err[200];
	const char *s = getenv("SOCKSIFY_NO_PROXY");
	if (!s)
		s = CONFIG_DEFAULT_NO_PROXY;
	while (*s) {
		size_t n = strcspn(s, NO_PROXY_SEPARATORS);
		if (n > 0 && n < sizeof item) {
			memcpy(item, s, n);
			item[n] = '\0';
			int rc = namelist_is_name(item) ? namelist_add(&c->no_proxy_names, item, err, sizeof err)
							 : netlist_parse(item, &c->no_proxy, err, sizeof err);
			if (rc == 0 && strcmp(item, "*") == 0) /* every name and every address */
				rc = netlist_parse(item, &c->no_proxy, err, sizeof err);
			if (rc < 0) /* fail closed: a bad item excludes nothing */
				log_error("SOCKSIFY_NO_PROXY: %s; ignoring it", err);
		} else if (n > 0) {
			log_error("SOCKSIFY_NO_PROXY: item of %zu bytes is too long; ignoring it", n);
		}
		s += n;
		s += strspn(s, NO_PROXY_SEPARATORS);
	}
}

static void parse_fake_net(const char *var, const char *def, int family, struct netlist_entry *out)
{
	char err[200];
	struct netlist l = { 0 };
	const char *s = getenv(var);
	unsigned max_prefix = family == 4 ? 14 : 110; /* room for the table's 65536 slots */
	if (s && *s && netlist_parse(s, &l, err, sizeof err) == 0 && l.n == 1 && l.e[0].family == family &&
	    l.e[0].prefix <= max_prefix && l.e[0].port == 0) {
		*out = l.e[0];
		return;
	}
	if (s && *s)
		log_error("%s='%s' is not one IPv%d network of /%u or larger; using %s", var, s, family, max_prefix,
			  def);
	l.n = 0;
	netlist_parse(def, &l, err, sizeof err);
	*out = l.e[0];
}

static void config_dns(struct config *c)
{
	const char *s = getenv("SOCKSIFY_DNS");
	c->dns_remote = 1;
	if (s && strcmp(s, "local") == 0)
		c->dns_remote = 0;
	else if (s && strcmp(s, "resolve") == 0)
		c->dns_resolve = 1;
	else if (s && *s && strcmp(s, "remote") != 0)
		log_error("SOCKSIFY_DNS='%s' is not remote, local or resolve; using remote", s);
	parse_fake_net("SOCKSIFY_FAKE_NET4", CONFIG_DEFAULT_FAKE_NET4, 4, &c->fake4);
	parse_fake_net("SOCKSIFY_FAKE_NET6", CONFIG_DEFAULT_FAKE_NET6, 6, &c->fake6);
}

static void config_pipeline(struct config *c)
{
	const char *s = getenv("SOCKSIFY_PIPELINE");
	c->pipeline = CONFIG_PIPELINE_AUTO;
	if (!s || !*s || strcmp(s, "auto") == 0)
		return;
	if (strcmp(s, "1") == 0 || strcmp(s, "on") == 0)
		c->pipeline = CONFIG_PIPELINE_ON;
	else if (strcmp(s, "0") == 0 || strcmp(s, "off") == 0)
		c->pipeline = CONFIG_PIPELINE_OFF;
	else
		log_error("SOCKSIFY_PIPELINE='%s' is not auto, on or off; using auto", s);
}

static void config_chain_mode(struct config *c)
{
	const char *s = getenv("SOCKSIFY_CHAIN"), *len = getenv("SOCKSIFY_CHAIN_LEN"), *iso = getenv("SOCKSIFY_ISOLATE");
	c->chain_mode = CONFIG_CHAIN_STRICT;
	c->chain_len = PROXY_CHAIN_LEN_DEFAULT;
	if (s && *s && (c->chain_mode = proxy_chain_mode_parse(s)) < 0) {
		c->chain_mode = CONFIG_CHAIN_STRICT;
		log_error("SOCKSIFY_CHAIN='%s' is not strict, failover, random or round_robin; using strict", s);
	}
	if (len && *len && (c->chain_len = proxy_chain_len_parse(len)) < 0) {
		c->chain_len = PROXY_CHAIN_LEN_DEFAULT;
		log_error("SOCKSIFY_CHAIN_LEN='%s' is not a number of hops from 1 to %d; using %d", len,
			  PROXY_CHAIN_MAX, PROXY_CHAIN_LEN_DEFAULT);
	}
	c->isolate = iso && (strcmp(iso, "1") == 0 || strcmp(iso, "on") == 0);
	if (iso && *iso && !c->isolate && strcmp(iso, "0") != 0 && strcmp(iso, "off") != 0)
		log_error("SOCKSIFY_ISOLATE='%s' is not 1 or 0; not isolating", iso);
}

static void config_bind(struct config *c)
{
	const char *s = getenv("SOCKSIFY_BIND");
	c->bind = s && (strcmp(s, "1") == 0 || strcmp(s, "on") == 0);
	if (s && *s && !c->bind && strcmp(s, "0") != 0 && strcmp(s, "off") != 0)
		log_error("SOCKSIFY_BIND='%s' is not 1 or 0; listening locally", s);
}

void config_read_env(struct config *c)
{
	char err[200];
	c->timeout_ms = CONFIG_DEFAULT_TIMEOUT_MS;
	const char *t = getenv("SOCKSIFY_TIMEOUT");
	if (t && *t) {
		int ms = parse_timeout_ms(t);
		if (ms > 0)
			c->timeout_ms = ms;
		else
			log_error("SOCKSIFY_TIMEOUT='%s' is not a number of seconds; using %d", t,
				  CONFIG_DEFAULT_TIMEOUT_MS / 1000);
	}

	config_no_proxy(c);
	config_dns(c);
	config_pipeline(c);
	config_chain_mode(c);
	config_bind(c);
	int routes_bad = route_read_env(c) < 0;

	const char *p = getenv("SOCKSIFY_PROXY");
	if (!p || !*p) {
		log_error("SOCKSIFY_PROXY is not set; connections will fail rather than go direct");
		return;
	}
	if (proxy_chain_parse(p, &c->chain, err, sizeof err) < 0) {
		log_error("SOCKSIFY_PROXY: %s; connections will fail rather than go direct", err);
		return;
	}
	c->url = c->chain.hop[0];
	proxy_chain_format_safe(&c->chain, c->proxy_text, sizeof c->proxy_text);
	if (resolve_proxy(c) < 0)
		return;
	c->proxy_ok = !routes_bad; /* a malformed SOCKSIFY_ROUTE fails closed */
	log_debug("proxy %s%s, timeout %d ms, %zu exclusions", c->proxy_text,
		  c->chain.n < 2 ? "" : c->chain_mode == CONFIG_CHAIN_FAILOVER ? " (failover chain)"
				      : c->chain_mode == CONFIG_CHAIN_RANDOM ? " (random chain)"
				      : c->chain_mode == CONFIG_CHAIN_ROUND_ROBIN ? " (round_robin chain)"
										  : " (strict chain)",
		  c->timeout_ms, c->no_proxy.n);
}

static void config_load(void)
{
	config_logging();
	config_read_env(&config);
}

const struct config *config_get(void)
{
	pthread_once(&config_once, config_load);
	return &config;
}

int config_resolves_locally(const struct config *c, const char *name)
{
	return !c->dns_remote || namelist_match(&c->no_proxy_names, name) ||
	       (c->routes && route_name_is_direct(c, name));
}

int config_is_direct(const struct config *c, const struct sockaddr *sa, socklen_t len)
{
	if (c->proxy_ok && endpoint_same(sa, len, (const struct sockaddr *)&c->proxy_addr, c->proxy_addrlen))
		return 1;
	if (c->routes && route_is_proxy(c, sa, len))
		return 1;
	return netlist_match(&c->no_proxy, sa) || direct_has(sa, len);
}
