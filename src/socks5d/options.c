/* options.c - command line and users file. */
#include "socks5d.h"

#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define DEFAULT_TIMEOUT_MS 10000
#define DEFAULT_RESOLVER_THREADS 32
#define DEFAULT_UDP_TIMEOUT_MS 120000
#define DEFAULT_BIND_TIMEOUT_MS 120000

static void usage(FILE *f)
{
	fputs("usage: socks5d [options]\n"
	      "A SOCKS5 server (RFC 1928, RFC 1929 username/password).\n"
	      "\n"
	      "  -c, --config FILE           read options from FILE first: one a line, a long\n"
	      "                              option without its dashes and its value ('listen\n"
	      "                              127.0.0.1:1080', 'login alice:secret'), # comments;\n"
	      "                              the command line wins for single-value options and\n"
	      "                              adds to repeatable ones. FILE must be owned by us or\n"
	      "                              root, not writable by group or others, and, if it\n"
	      "                              has a login, not readable by them either\n"
	      "  -l, --listen ADDR:PORT      listen here (repeatable; default 127.0.0.1:1080)\n"
	      "                              IPv4 127.0.0.1:1080, IPv6 [::1]:1080; port 0 = any\n"
	      "  -u, --login USER:PASS       require RFC 1929 login; accept this user (repeatable)\n"
	      "      --users FILE            users from FILE, one USER:PASS a line, # comments;\n"
	      "                              FILE must be owned by us or root and not readable\n"
	      "                              or writable by group or others (chmod 600)\n"
	      "      --auth-any              require an RFC 1929 login but accept any user and\n"
	      "                              password, logging the user (as Tor does, whose\n"
	      "                              circuits follow the login: socksify -i); no access\n"
	      "                              control, so a non-loopback listener needs --allow-open\n"
	      "      --allow-open            allow a non-loopback listener without a login\n"
	      "                              (refused otherwise: anyone reaching it could use us)\n"
	      "\n"
	      "Access rules (ADDR, ADDR/PREFIX, [IPv6]/PREFIX, optionally :PORT; '*' = any):\n"
	      "      --allow-to CIDR[:PORT]  targets that may be reached (repeatable)\n"
	      "      --deny-to CIDR[:PORT]   targets that may not be reached (repeatable);\n"
	      "                              --allow-to/--deny-to are tried in order, the first\n"
	      "                              match wins, no match allows. A denied CONNECT gets\n"
	      "                              REP 02 (not allowed by ruleset); for a name, denied\n"
	      "                              addresses are skipped. Denied UDP datagrams are\n"
	      "                              dropped and counted (denied=N in the session line).\n"
	      "      --allow-from CIDR       only these clients (repeatable); others are closed\n"
	      "                              right after accept\n"
	      "  Targets that are socks5d's own listeners are always refused (REP 02): the\n"
	      "  listener's address and port, or for a 0.0.0.0/:: listener its port on any\n"
	      "  local address (one that a socket can be bound to right now), 0.0.0.0 and ::.\n"
	      "\n"
	      "      --user NAME             after binding, before any thread starts, switch to\n"
	      "                              account NAME (groups, gid, uid; needs root); if that\n"
	      "                              fails, socks5d exits instead of running on as root\n"
	      "      --connect-timeout SEC   give up connecting to a target after SEC (default 10)\n"
	      "      --handshake-timeout SEC drop clients that do not finish the handshake (default 10)\n"
	      "      --max-conns N           at most N sessions (default from RLIMIT_NOFILE);\n"
	      "                              clients beyond it are accepted and closed at once\n"
	      "      --resolver-threads N    at most N threads for name lookups (default 32),\n"
	      "                              shared out among the workers (at least one each)\n"
	      "      --udp-timeout SEC       end UDP associations idle for SEC (default 120)\n"
	      "      --bind-timeout SEC      a BIND waits SEC for its peer to connect (default\n"
	      "                              120), then gets REP 06 (TTL expired)\n"
	      "      --workers N             N event loops in threads, each accepting on its own\n"
	      "                              SO_REUSEPORT listener (default: one per CPU); a\n"
	      "                              session and its UDP relay stay in one worker\n"
	      "      --external ADDR         outgoing connections and UDP leave from ADDR, and a\n"
	      "                              BIND listens on it and announces it (repeatable:\n"
	      "                              one IPv4, one IPv6; ADDR must be local). Without\n"
	      "                              it the kernel picks the source, and a BIND naming\n"
	      "                              its peer's address listens on the address routed\n"
	      "                              towards that peer; a BIND naming none (0.0.0.0,\n"
	      "                              ::) listens on every local address of the client's\n"
	      "                              family and announces the one the client reached us\n"
	      "                              by: anyone who reaches this host may take its one\n"
	      "                              connection within --bind-timeout\n"
	      "  -q, --quiet                 log errors only\n"
	      "  -v, --verbose               log debug messages\n"
	      "  -h, --help                  show this help\n"
	      "  -V, --version               show the version\n"
	      "\n"
	      "Each listener is announced on stdout as 'socks5d: listening on ADDR:PORT'.\n"
	      "One line per session is logged on stderr when it ends; passwords never are.\n"
	      "SIGUSR1 logs one status line (open sessions by state, UDP associations,\n"
	      "bytes and datagrams, refused clients), whatever the log level.\n"
	      "Exit status: 0 on SIGTERM/SIGINT, 2 on a bad command line or config file or an\n"
	      "unsafe setup (open listener, users file others can read, config file others\n"
	      "can write), 1 on any other failure to start.\n",
	      f);
}

static int bad_option(const char *fmt, const char *arg)
{
	fputs("socks5d: ", stderr);
	fprintf(stderr, fmt, arg);
	fputs(" (see socks5d --help)\n", stderr);
	return OPTIONS_BAD;
}

int sockaddr_format(const union sockaddr_any *a, char *buf, size_t cap)
{
	char host[INET6_ADDRSTRLEN];
	if (a->sa.sa_family == AF_INET6) {
		inet_ntop(AF_INET6, &a->sin6.sin6_addr, host, sizeof host);
		return snprintf(buf, cap, "[%s]:%u", host, ntohs(a->sin6.sin6_port));
	}
	if (a->sa.sa_family == AF_INET) {
		inet_ntop(AF_INET, &a->sin.sin_addr, host, sizeof host);
		return snprintf(buf, cap, "%s:%u", host, ntohs(a->sin.sin_port));
	}
	return snprintf(buf, cap, "?");
}

static int parse_port(const char *s, uint16_t *port)
{
	char *end;
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	unsigned long v = strtoul(s, &end, 10);
	if (errno || *end || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

/* "127.0.0.1:1080" or "[::1]:1080". */
static int parse_listen(const char *s, struct listen_spec *out)
{
	char host[INET6_ADDRSTRLEN + 1];
	const char *colon;
	size_t hlen;
	uint16_t port;

	memset(out, 0, sizeof *out);
	if (s[0] == '[') {
		const char *close = strchr(s, ']');
		if (!close || close[1] != ':')
			return -1;
		hlen = (size_t)(close - s - 1);
		colon = close + 1;
		s++;
	} else {
		colon = strrchr(s, ':');
		if (!colon)
			return -1;
		hlen = (size_t)(colon - s);
	}
	if (hlen == 0 || hlen >= sizeof host || parse_port(colon + 1, &port) < 0)
		return -1;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (inet_pton(AF_INET, host, &out->addr.sin.sin_addr) == 1) {
		out->addr.sin.sin_family = AF_INET;
		out->addr.sin.sin_port = htons(port);
		out->len = sizeof out->addr.sin;
		return 0;
	}
	if (s[-1] == '[' && inet_pton(AF_INET6, host, &out->addr.sin6.sin6_addr) == 1) {
		out->addr.sin6.sin6_family = AF_INET6;
		out->addr.sin6.sin6_port = htons(port);
		out->len = sizeof out->addr.sin6;
		return 0;
	}
	return -1;
}

static int add_listen(struct config *cfg, const char *arg)
{
	struct listen_spec spec;
	if (parse_listen(arg, &spec) < 0)
		return bad_option("bad listen address '%s' (want 127.0.0.1:1080 or [::1]:1080)", arg);
	struct listen_spec *n = realloc(cfg->listens, (cfg->nlistens + 1) * sizeof *n);
	if (!n)
		return bad_option("%s", "out of memory");
	n[cfg->nlistens++] = spec;
	cfg->listens = n;
	return OPTIONS_OK;
}

/* "user:pass"; the password may itself contain ':'. Returns 0 or -1. */
static int add_user(struct config *cfg, const char *s, size_t len)
{
	const char *colon = memchr(s, ':', len);
	if (!colon)
		return -1;
	size_t ulen = (size_t)(colon - s), plen = len - ulen - 1;
	if (ulen < 1 || ulen > 255 || plen < 1 || plen > 255)
		return -1;
	struct user *n = realloc(cfg->users, (cfg->nusers + 1) * sizeof *n);
	if (!n)
		return -1;
	cfg->users = n;
	struct user *u = &n[cfg->nusers];
	u->name = strndup(s, ulen);
	u->pass = strndup(colon + 1, plen);
	if (!u->name || !u->pass) {
		free(u->name);
		free(u->pass);
		return -1;
	}
	u->name_len = ulen;
	u->pass_len = plen;
	cfg->nusers++;
	return 0;
}

/* Blanks the password in our argv, so ps and /proc/PID/cmdline do not show it. */
static void hide_password(char *arg)
{
	char *colon = strchr(arg, ':');
	if (colon)
		memset(colon + 1, '*', strlen(colon + 1));
}

/* Like ssh with a private key: a password file others can read, or that
 * someone else owns (and so may rewrite), is refused, not silently used.
 * what names the file ("users file"); mask is the mode bits refused. */
static bool file_unsafe(FILE *f, const char *path, const char *what, unsigned mask)
{
	struct stat st;

	if (fstat(fileno(f), &st) < 0) {
		fprintf(stderr, "socks5d: %s '%s': %s\n", what, path, strerror(errno));
		return true;
	}
	if (!S_ISREG(st.st_mode)) {
		fprintf(stderr, "socks5d: %s '%s' is not a regular file\n", what, path);
		return true;
	}
	if (st.st_uid != geteuid() && st.st_uid != 0) {
		fprintf(stderr, "socks5d: %s '%s' is owned by uid %u, not by us (uid %u) or root; refusing it\n",
			what, path, (unsigned)st.st_uid, (unsigned)geteuid());
		return true;
	}
	if (st.st_mode & mask) {
		fprintf(stderr, "socks5d: %s '%s' has mode %04o: group or others may %s it; "
			"refusing it (fix: chmod %s '%s')\n", what, path, (unsigned)(st.st_mode & 07777),
			mask == 077 ? "access" : mask == 022 ? "write" : "read", mask == 022 ? "go-w" : "600", path);
		return true;
	}
	return false;
}

static bool users_file_unsafe(FILE *f, const char *path)
{
	return file_unsafe(f, path, "users file", 077);
}

static int load_users_file(struct config *cfg, const char *path)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	int lineno = 0, rc = OPTIONS_OK;

	if (!f) {
		fprintf(stderr, "socks5d: cannot read users file '%s': %s\n", path, strerror(errno));
		return OPTIONS_BAD;
	}
	if (users_file_unsafe(f, path)) {
		fclose(f);
		return OPTIONS_BAD;
	}
	while ((n = getline(&line, &cap, f)) >= 0) {
		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		size_t lead = strspn(line, " \t");
		if (line[lead] == '\0' || line[lead] == '#')
			continue;
		if (add_user(cfg, line, (size_t)n) < 0) {
			/* Never echo the line: it holds a password. */
			fprintf(stderr, "socks5d: %s:%d: bad entry (want user:pass, 1-255 bytes each)\n",
				path, lineno);
			rc = OPTIONS_BAD;
			break;
		}
	}
	free(line);
	fclose(f);
	return rc;
}

/* Seconds, fractions allowed, into milliseconds. */
static int parse_seconds(const char *s, int *ms)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (errno || end == s || *end || !(v > 0 && v <= 86400))
		return -1;
	*ms = (int)(v * 1000 + 0.999); /* round up: never a 0 ms timeout */
	return 0;
}

static int parse_count(const char *s, long min, long max, long *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

static int add_target_rule(struct config *cfg, bool allow, const char *arg)
{
	char err[160] = "";
	struct target_rule *n = realloc(cfg->target_rules, (cfg->ntarget_rules + 1) * sizeof *n);

	if (!n)
		return bad_option("%s", "out of memory");
	cfg->target_rules = n;
	struct target_rule *r = &n[cfg->ntarget_rules];
	memset(r, 0, sizeof *r);
	r->allow = allow;
	if (netlist_parse(arg, &r->net, err, sizeof err) < 0 || r->net.n == 0) {
		fprintf(stderr, "socks5d: bad --%s '%s': %s (see socks5d --help)\n", allow ? "allow-to" : "deny-to",
			arg, r->net.n == 0 && !err[0] ? "empty" : err);
		return OPTIONS_BAD;
	}
	cfg->ntarget_rules++;
	return OPTIONS_OK;
}

static int add_allow_from(struct config *cfg, const char *arg)
{
	char err[160] = "";

	if (!cfg->allow_from && !(cfg->allow_from = calloc(1, sizeof *cfg->allow_from)))
		return bad_option("%s", "out of memory");
	size_t before = cfg->allow_from->n;
	if (netlist_parse(arg, cfg->allow_from, err, sizeof err) < 0 || cfg->allow_from->n == before) {
		fprintf(stderr, "socks5d: bad --allow-from '%s': %s (see socks5d --help)\n", arg,
			err[0] ? err : "empty");
		return OPTIONS_BAD;
	}
	return OPTIONS_OK;
}

/* "192.0.2.1", "2001:db8::1" or "[2001:db8::1]"; one of each family. */
static int add_external(struct config *cfg, const char *arg)
{
	char host[INET6_ADDRSTRLEN + 2];
	union sockaddr_any a;
	size_t n = strlen(arg);

	memset(&a, 0, sizeof a);
	if (n >= 2 && arg[0] == '[' && arg[n - 1] == ']' && n - 2 < sizeof host) {
		memcpy(host, arg + 1, n - 2);
		host[n - 2] = '\0';
	} else if (n < sizeof host) {
		memcpy(host, arg, n + 1);
	} else {
		host[0] = '\0';
	}
	if (inet_pton(AF_INET, host, &a.sin.sin_addr) == 1 && arg[0] != '[')
		a.sin.sin_family = AF_INET;
	else if (inet_pton(AF_INET6, host, &a.sin6.sin6_addr) == 1)
		a.sin6.sin6_family = AF_INET6;
	else
		return bad_option("bad --external '%s' (want an IPv4 or IPv6 address)", arg);
	if (sockaddr_is_any(&a))
		return bad_option("bad --external '%s' (a wildcard address; give one of this host's)", arg);
	union sockaddr_any *slot = a.sa.sa_family == AF_INET ? &cfg->external4 : &cfg->external6;
	if (slot->sa.sa_family)
		return bad_option("more than one %s --external address", a.sa.sa_family == AF_INET ? "IPv4" : "IPv6");
	*slot = a;
	return OPTIONS_OK;
}

const union sockaddr_any *config_external(const struct config *cfg, int family)
{
	const union sockaddr_any *a = family == AF_INET6 ? &cfg->external6 : &cfg->external4;
	return a->sa.sa_family == family ? a : NULL;
}

/* An --external address must be one of ours now: bind() says so. */
static int check_external(const union sockaddr_any *a)
{
	char name[64];

	if (!a->sa.sa_family)
		return OPTIONS_OK;
	int fd = socket(a->sa.sa_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	socklen_t len = a->sa.sa_family == AF_INET6 ? sizeof a->sin6 : sizeof a->sin;
	int rc = fd < 0 ? -1 : bind(fd, &a->sa, len);
	int err = errno;
	if (fd >= 0)
		close(fd);
	if (rc == 0)
		return OPTIONS_OK;
	sockaddr_format(a, name, sizeof name);
	*strrchr(name, ':') = '\0'; /* no port */
	fprintf(stderr, "socks5d: --external %s: %s (%s)\n", name,
		err == EADDRNOTAVAIL ? "not an address of this host" : "cannot bind to it", strerror(err));
	return OPTIONS_BAD;
}

#define OPTSTRING ":c:l:u:qvhV"

enum {
	OPT_USERS = 256,
	OPT_RUN_AS,
	OPT_ALLOW_OPEN,
	OPT_AUTH_ANY,
	OPT_ALLOW_TO,
	OPT_DENY_TO,
	OPT_ALLOW_FROM,
	OPT_CONNECT_TIMEOUT,
	OPT_HANDSHAKE_TIMEOUT,
	OPT_MAX_CONNS,
	OPT_RESOLVER_THREADS,
	OPT_UDP_TIMEOUT,
	OPT_BIND_TIMEOUT,
	OPT_WORKERS,
	OPT_EXTERNAL,
};

static const struct option long_options[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "listen", required_argument, NULL, 'l' },
	{ "login", required_argument, NULL, 'u' },
	{ "user", required_argument, NULL, OPT_RUN_AS },
	{ "allow-open", no_argument, NULL, OPT_ALLOW_OPEN },
	{ "auth-any", no_argument, NULL, OPT_AUTH_ANY },
	{ "allow-to", required_argument, NULL, OPT_ALLOW_TO },
	{ "deny-to", required_argument, NULL, OPT_DENY_TO },
	{ "allow-from", required_argument, NULL, OPT_ALLOW_FROM },
	{ "users", required_argument, NULL, OPT_USERS },
	{ "connect-timeout", required_argument, NULL, OPT_CONNECT_TIMEOUT },
	{ "handshake-timeout", required_argument, NULL, OPT_HANDSHAKE_TIMEOUT },
	{ "max-conns", required_argument, NULL, OPT_MAX_CONNS },
	{ "resolver-threads", required_argument, NULL, OPT_RESOLVER_THREADS },
	{ "udp-timeout", required_argument, NULL, OPT_UDP_TIMEOUT },
	{ "bind-timeout", required_argument, NULL, OPT_BIND_TIMEOUT },
	{ "workers", required_argument, NULL, OPT_WORKERS },
	{ "external", required_argument, NULL, OPT_EXTERNAL },
	{ "quiet", no_argument, NULL, 'q' },
	{ "verbose", no_argument, NULL, 'v' },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 },
};

static int apply_option(struct config *cfg, int opt, const char *arg)
{
	long v;

	switch (opt) {
	case 'l':
		return add_listen(cfg, arg);
	case 'u':
		if (add_user(cfg, arg, strlen(arg)) < 0)
			return bad_option("%s", "bad -u value (want user:pass, 1-255 bytes each)");
		hide_password((char *)arg);
		return OPTIONS_OK;
	case OPT_USERS:
		return load_users_file(cfg, arg);
	case OPT_RUN_AS:
		/* Account names cannot hold ':'; this is an old-style --user USER:PASS. */
		if (strchr(arg, ':')) {
			hide_password((char *)arg);
			return bad_option("%s", "--user takes the account to run as; give logins with -u/--login USER:PASS");
		}
		if (!*arg)
			return bad_option("%s", "--user needs an account name");
		cfg->run_as = arg;
		return OPTIONS_OK;
	case OPT_ALLOW_OPEN:
		cfg->allow_open = true;
		return OPTIONS_OK;
	case OPT_AUTH_ANY:
		cfg->auth_any = true;
		return OPTIONS_OK;
	case OPT_ALLOW_TO:
	case OPT_DENY_TO:
		return add_target_rule(cfg, opt == OPT_ALLOW_TO, arg);
	case OPT_ALLOW_FROM:
		return add_allow_from(cfg, arg);
	case OPT_CONNECT_TIMEOUT:
		if (parse_seconds(arg, &cfg->connect_timeout_ms) < 0)
			return bad_option("bad --connect-timeout '%s' (seconds, > 0)", arg);
		return OPTIONS_OK;
	case OPT_HANDSHAKE_TIMEOUT:
		if (parse_seconds(arg, &cfg->handshake_timeout_ms) < 0)
			return bad_option("bad --handshake-timeout '%s' (seconds, > 0)", arg);
		return OPTIONS_OK;
	case OPT_MAX_CONNS:
		if (parse_count(arg, 1, 100000000, &cfg->max_conns) < 0)
			return bad_option("bad --max-conns '%s' (a number >= 1)", arg);
		return OPTIONS_OK;
	case OPT_RESOLVER_THREADS:
		if (parse_count(arg, 1, 256, &v) < 0)
			return bad_option("bad --resolver-threads '%s' (1-256)", arg);
		cfg->resolver_threads = (int)v;
		return OPTIONS_OK;
	case OPT_UDP_TIMEOUT:
		if (parse_seconds(arg, &cfg->udp_timeout_ms) < 0)
			return bad_option("bad --udp-timeout '%s' (seconds, > 0)", arg);
		return OPTIONS_OK;
	case OPT_BIND_TIMEOUT:
		if (parse_seconds(arg, &cfg->bind_timeout_ms) < 0)
			return bad_option("bad --bind-timeout '%s' (seconds, > 0)", arg);
		return OPTIONS_OK;
	case OPT_WORKERS:
		if (parse_count(arg, 1, 256, &v) < 0)
			return bad_option("bad --workers '%s' (1-256)", arg);
		cfg->workers = (int)v;
		return OPTIONS_OK;
	case OPT_EXTERNAL:
		return add_external(cfg, arg);
	case 'q':
		cfg->log_level = LOG_LVL_ERROR;
		return OPTIONS_OK;
	case 'v':
		cfg->log_level = LOG_LVL_DEBUG;
		return OPTIONS_OK;
	case 'c':
		return OPTIONS_OK; /* read before the rest of the command line */
	case 'h':
		usage(stdout);
		return OPTIONS_EXIT_OK;
	case 'V':
		printf("socks5d (socksify) %s\n", SOCKS5D_VERSION);
		return OPTIONS_EXIT_OK;
	}
	return OPTIONS_BAD;
}

/* Config file values live as long as the config: --user keeps a pointer to its. */
static char *keep_string(struct config *cfg, const char *s)
{
	char **n = realloc(cfg->strings, (cfg->nstrings + 1) * sizeof *n);
	if (!n)
		return NULL;
	cfg->strings = n;
	if (!(n[cfg->nstrings] = strdup(s)))
		return NULL;
	return n[cfg->nstrings++];
}

static const struct option *option_named(const char *name)
{
	for (const struct option *o = long_options; o->name; o++)
		if (strcmp(o->name, name) == 0)
			return o;
	return NULL;
}

/* "name value" or "name" (trimmed, not a comment): applies it like --name value. */
static int apply_config_line(struct config *cfg, char *line, const char *path, int lineno, bool *has_login)
{
	char *value = line + strcspn(line, " \t");
	const struct option *o;

	if (*value) {
		*value++ = '\0';
		value += strspn(value, " \t");
	}
	o = option_named(line);
	if (!o || o->val == 'c' || o->val == 'h' || o->val == 'V') {
		fprintf(stderr, "socks5d: %s:%d: %s option '%s'\n", path, lineno, o ? "no config file" : "unknown",
			line);
		return OPTIONS_BAD;
	}
	if ((o->has_arg == required_argument) != (*value != '\0')) {
		fprintf(stderr, "socks5d: %s:%d: option '%s' %s\n", path, lineno, line,
			*value ? "takes no value" : "needs a value");
		return OPTIONS_BAD;
	}
	if (o->val == 'u')
		*has_login = true;
	char *arg = *value ? keep_string(cfg, value) : NULL;
	if (*value && !arg)
		return bad_option("%s", "out of memory");
	if (apply_option(cfg, o->val, arg) != OPTIONS_OK) {
		fprintf(stderr, "socks5d: %s:%d: the line above was refused\n", path, lineno);
		return OPTIONS_BAD;
	}
	return OPTIONS_OK;
}

static void trim(char *line)
{
	size_t n = strlen(line), lead = strspn(line, " \t");
	while (n > lead && strchr(" \t\r\n", line[n - 1]))
		line[--n] = '\0';
	memmove(line, line + lead, n - lead + 1);
}

/* -c FILE: options one a line, applied before the command line's. */
static int load_config_file(struct config *cfg, const char *path)
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	int lineno = 0, rc = OPTIONS_OK;
	bool has_login = false;

	if (!f) {
		fprintf(stderr, "socks5d: cannot read config file '%s': %s\n", path, strerror(errno));
		return OPTIONS_BAD;
	}
	if (file_unsafe(f, path, "config file", 022))
		rc = OPTIONS_BAD;
	while (rc == OPTIONS_OK && getline(&line, &cap, f) >= 0) {
		lineno++;
		trim(line);
		if (line[0] != '\0' && line[0] != '#')
			rc = apply_config_line(cfg, line, path, lineno, &has_login);
	}
	/* Passwords (or where they are) must not be readable by others either. */
	if (rc == OPTIONS_OK && has_login && file_unsafe(f, path, "config file with logins", 044))
		rc = OPTIONS_BAD;
	if (line)
		explicit_bzero(line, cap);
	free(line);
	fclose(f);
	return rc;
}

/* Finds -c/--config before anything else is applied, so that the command
 * line, read after the file, wins over it. */
static int find_config_arg(int argc, char **argv, const char **path)
{
	int opt;

	*path = NULL;
	opterr = 0;
	optind = 0;
	while ((opt = getopt_long(argc, argv, OPTSTRING, long_options, NULL)) != -1) {
		if (opt != 'c')
			continue;
		if (*path)
			return bad_option("%s", "only one -c/--config");
		*path = optarg;
	}
	optind = 0;
	return OPTIONS_OK;
}

static bool is_loopback(const union sockaddr_any *a)
{
	static const uint8_t v4mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (a->sa.sa_family == AF_INET)
		return ((const uint8_t *)&a->sin.sin_addr)[0] == 127;
	if (IN6_IS_ADDR_LOOPBACK(&a->sin6.sin6_addr))
		return true;
	return memcmp(&a->sin6.sin6_addr, v4mapped, 12) == 0 && a->sin6.sin6_addr.s6_addr[12] == 127;
}

/* An open proxy on a reachable address is how proxies end up abused:
 * without a login, only loopback unless the operator says otherwise. */
static int check_open_listeners(const struct config *cfg)
{
	char name[64];

	if (cfg->nusers > 0 || cfg->allow_open)
		return OPTIONS_OK;
	for (size_t i = 0; i < cfg->nlistens; i++) {
		if (is_loopback(&cfg->listens[i].addr))
			continue;
		sockaddr_format(&cfg->listens[i].addr, name, sizeof name);
		fprintf(stderr, "socks5d: refusing to listen on %s without authentication (anyone who reaches it "
			"could use this proxy); require a login with -u USER:PASS or --users FILE, "
			"or pass --allow-open if an open proxy is intended\n", name);
		return OPTIONS_BAD;
	}
	return OPTIONS_OK;
}

int options_parse(int argc, char **argv, struct config *cfg)
{
	int opt, rc;

	memset(cfg, 0, sizeof *cfg);
	cfg->connect_timeout_ms = DEFAULT_TIMEOUT_MS;
	cfg->handshake_timeout_ms = DEFAULT_TIMEOUT_MS;
	cfg->resolver_threads = DEFAULT_RESOLVER_THREADS;
	cfg->udp_timeout_ms = DEFAULT_UDP_TIMEOUT_MS;
	cfg->bind_timeout_ms = DEFAULT_BIND_TIMEOUT_MS;
	cfg->log_level = LOG_LVL_INFO;

	const char *config_path;
	rc = find_config_arg(argc, argv, &config_path);
	if (rc == OPTIONS_OK && config_path)
		rc = load_config_file(cfg, config_path);
	if (rc != OPTIONS_OK)
		return rc;
	/* One --external per family: the command line's replaces the file's. */
	union sockaddr_any file_ext4 = cfg->external4, file_ext6 = cfg->external6;
	memset(&cfg->external4, 0, sizeof cfg->external4);
	memset(&cfg->external6, 0, sizeof cfg->external6);
	while ((opt = getopt_long(argc, argv, OPTSTRING, long_options, NULL)) != -1) {
		if (opt == '?') {
			if (optopt) {
				char name[3] = { '-', (char)optopt, '\0' };
				return bad_option("unknown option '%s'", name);
			}
			return bad_option("unknown option '%s'", argv[optind - 1]);
		}
		if (opt == ':')
			return bad_option("option '%s' needs a value", argv[optind - 1]);
		rc = apply_option(cfg, opt, optarg);
		if (rc != OPTIONS_OK)
			return rc;
	}
	if (optind < argc)
		return bad_option("unexpected argument '%s'", argv[optind]);
	if (cfg->nlistens == 0 && add_listen(cfg, "127.0.0.1:1080") != OPTIONS_OK)
		return OPTIONS_BAD;
	if (!cfg->external4.sa.sa_family)
		cfg->external4 = file_ext4;
	if (!cfg->external6.sa.sa_family)
		cfg->external6 = file_ext6;
	if (check_external(&cfg->external4) != OPTIONS_OK || check_external(&cfg->external6) != OPTIONS_OK)
		return OPTIONS_BAD;
	return check_open_listeners(cfg);
}

void options_free(struct config *cfg)
{
	for (size_t i = 0; i < cfg->nusers; i++) {
		/* Do not leave passwords lying around in freed memory. */
		explicit_bzero(cfg->users[i].pass, cfg->users[i].pass_len);
		free(cfg->users[i].name);
		free(cfg->users[i].pass);
	}
	free(cfg->users);
	for (size_t i = 0; i < cfg->nstrings; i++) {
		explicit_bzero(cfg->strings[i], strlen(cfg->strings[i])); /* logins from a config file */
		free(cfg->strings[i]);
	}
	free(cfg->strings);
	cfg->strings = NULL;
	cfg->nstrings = 0;
	free(cfg->listens);
	free(cfg->target_rules);
	free(cfg->allow_from);
	cfg->users = NULL;
	cfg->listens = NULL;
	cfg->target_rules = NULL;
	cfg->allow_from = NULL;
	cfg->ntarget_rules = 0;
	cfg->nusers = cfg->nlistens = 0;
}
