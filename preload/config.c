/* config.c - SOCKSIFY_* environment variables, parsed once per process. */
#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "real.h"

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

static int resolve_proxy(struct config *c)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG };
	struct addrinfo *res = NULL;
	char port[8];
	snprintf(port, sizeof port, "%u", c->url.port);
	/* The proxy's own name is resolved locally: it has to be, to reach the proxy. */
	int rc = REAL(getaddrinfo)(c->url.host, port, &hints, &res);
	if (rc == EAI_ADDRFAMILY || rc == EAI_NONAME) {
		hints.ai_flags &= ~AI_ADDRCONFIG;
		rc = REAL(getaddrinfo)(c->url.host, port, &hints, &res);
	}
	if (rc != 0 || !res) {
		log_error("cannot resolve proxy host '%s': %s", c->url.host, gai_strerror(rc));
		return -1;
	}
	memcpy(&c->proxy_addr, res->ai_addr, res->ai_addrlen);
	c->proxy_addrlen = res->ai_addrlen;
	REAL(freeaddrinfo)(res);
	return 0;
}

static void config_load(void)
{
	struct config *c = &config;
	char err[200];
	config_logging();

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

	/* Unset means loopback only; set but empty means nothing is excluded. */
	const char *np = getenv("SOCKSIFY_NO_PROXY");
	if (!np)
		np = CONFIG_DEFAULT_NO_PROXY;
	if (netlist_parse(np, &c->no_proxy, err, sizeof err) < 0) {
		/* Failing closed: a bad exclusion list excludes nothing. */
		log_error("SOCKSIFY_NO_PROXY: %s; nothing is excluded", err);
		c->no_proxy.n = 0;
	}

	const char *p = getenv("SOCKSIFY_PROXY");
	if (!p || !*p) {
		log_error("SOCKSIFY_PROXY is not set; connections will fail rather than go direct");
		return;
	}
	if (proxy_url_parse(p, &c->url, err, sizeof err) < 0) {
		log_error("SOCKSIFY_PROXY: %s; connections will fail rather than go direct", err);
		return;
	}
	proxy_url_format_safe(&c->url, c->proxy_text, sizeof c->proxy_text);
	if (resolve_proxy(c) < 0)
		return;
	c->proxy_ok = 1;
	log_debug("proxy %s, timeout %d ms, %zu exclusions", c->proxy_text, c->timeout_ms, c->no_proxy.n);
}

const struct config *config_get(void)
{
	pthread_once(&config_once, config_load);
	return &config;
}

static int same_endpoint(const struct sockaddr *a, const struct sockaddr_storage *b)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	uint8_t aa[16], ba[16];
	uint16_t ap, bp;
	const struct sockaddr *sb = (const struct sockaddr *)b;
	const struct sockaddr *in[2] = { a, sb };
	uint8_t *out[2] = { aa, ba };
	uint16_t *port[2] = { &ap, &bp };
	for (int i = 0; i < 2; i++) {
		if (in[i]->sa_family == AF_INET) {
			const struct sockaddr_in *s4 = (const struct sockaddr_in *)in[i];
			memcpy(out[i], mapped, 12);
			memcpy(out[i] + 12, &s4->sin_addr, 4);
			*port[i] = s4->sin_port;
		} else if (in[i]->sa_family == AF_INET6) {
			const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)in[i];
			memcpy(out[i], &s6->sin6_addr, 16);
			*port[i] = s6->sin6_port;
		} else {
			return 0;
		}
	}
	return ap == bp && memcmp(aa, ba, 16) == 0;
}

int config_is_direct(const struct config *c, const struct sockaddr *sa, socklen_t len)
{
	if (c->proxy_ok && same_endpoint(sa, &c->proxy_addr))
		return 1;
	return netlist_match(&c->no_proxy, sa);
}
