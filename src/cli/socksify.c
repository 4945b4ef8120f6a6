/* socksify - the launcher: parses the options, checks the proxy URL and the program,
 * sets the SOCKSIFY_* environment, appends the library to LD_PRELOAD and execs the
 * program; a program LD_PRELOAD cannot reach (static, Go) it execs under
 * socksify-supervise instead. No fork of its own; built static (with musl where
 * available) so that it costs about one exec. socksify.sh finds and execs it. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "dnstable.h"
#include "exekind.h"
#include "proxyurl.h"
#include "routelist.h"

#define VERSION "0.1.0"
#define LIBNAME "libsocksify.so"
#define SUPERVISOR "socksify-supervise"
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static const char usage_text[] =
	"Usage: socksify [OPTIONS] [--] COMMAND [ARGS...]\n"
	"       socksify --check [-x URL] [-t SECS] [--check-target HOST:PORT]\n"
	"       (./socksify.sh in the source tree)\n"
	"\n"
	"Run COMMAND with its TCP connections sent through a SOCKS5 proxy, or a chain of proxies (LD_PRELOAD;\n"
	"static and Go programs: under " SUPERVISOR ", a seccomp supervisor).\n"
	"Nothing goes direct: if the proxy is unusable, connections fail.\n"
	"\n"
	"Options:\n"
	"  -x, --proxy URL       proxy, socks5://[user:pass@]host[:port] (socks5h:// is the same;\n"
	"                        IPv6 as socks5://[::1]:1080). Default: $SOCKSIFY_PROXY\n"
	"                        Also socks4://, socks4a://, http:// (HTTP CONNECT), and chains:\n"
	"                        URL,URL,... (up to 8 hops; the first is connected to directly)\n"
	"      --chain MODE      strict (default: every hop, in order), failover (dead hops are\n"
	"                        skipped, in order; at least one must be alive), random (each\n"
	"                        connection: --chain-len hops picked at random, in random order)\n"
	"                        or round_robin (--chain-len consecutive hops, each connection\n"
	"                        starting after the last one's, wrapping); random and round_robin\n"
	"                        skip dead hops as failover does\n"
	"      --chain-len N     hops per connection for random and round_robin (default 1)\n"
	"  -i, --isolate         every socks5 hop without a login gets a username/password of\n"
	"                        the process's own (a new one after fork): Tor gives each\n"
	"                        process its own circuit (torsocks' IsolatePID)\n"
	"  -t, --timeout SECS    deadline for reaching the proxy and its answer (default 10)\n"
	"  -n, --no-proxy LIST   addresses/CIDRs that go direct, comma separated\n"
	"                        (default 127.0.0.0/8,::1; \"\" sends everything to the proxy)\n"
	"      --route DESTS=PROXY  DESTS (a list as for --no-proxy: addresses, CIDRs, names)\n"
	"                        go through PROXY (a URL or chain, or the word direct) instead\n"
	"                        of --proxy; repeatable, the first matching route wins\n"
	"                        (SOCKSIFY_ROUTE: routes separated by ';')\n"
	"  -v, --verbose         log each proxied connection (-vv: debug)\n"
	"  -q, --quiet           log nothing, not even errors\n"
	"      --log-file FILE   append log lines to FILE instead of stderr\n"
	"      --bind            listen() on a non-loopback address goes through the proxy\n"
	"                        (SOCKS5 BIND: active FTP, ncat -l); sets SOCKSIFY_BIND=1\n"
	"      --supervise MODE  auto (default): static and Go programs, which LD_PRELOAD cannot\n"
	"                        reach, run under " SUPERVISOR " (seccomp; chains and every\n"
	"                        proxy kind too); always: every program does; never: they are\n"
	"                        refused\n"
	"      --force           run a setuid program (or, with --supervise never, a static or Go\n"
	"                        one) anyway: it will NOT be proxied\n"
	"      --check           test the proxy instead of running a command: its methods, the login,\n"
	"                        a CONNECT by name, UDP ASSOCIATE, the handshake round trip; exit 0\n"
	"                        when it is usable for TCP, 1 if not (nothing is sent but to the proxy)\n"
	"      --check-target HOST:PORT  what --check asks the proxy to CONNECT to\n"
	"                        (default localhost:<the proxy's port>, resolved by the proxy)\n"
	"      --config FILE     read FILE instead of /etc/socksify.conf and\n"
	"                        ~/.config/socksify/config (also: SOCKSIFY_CONFIG=FILE)\n"
	"  -h, --help            show this help\n"
	"  -V, --version         show the version\n"
	"\n"
	"Environment: SOCKSIFY_PROXY, SOCKSIFY_CHAIN, SOCKSIFY_CHAIN_LEN, SOCKSIFY_ISOLATE, SOCKSIFY_TIMEOUT, SOCKSIFY_NO_PROXY,\n"
	"SOCKSIFY_ROUTE, SOCKSIFY_LOG "
	"(none|error|warn|info|debug), SOCKSIFY_LOG_FILE, SOCKSIFY_BIND, SOCKSIFY_LIB (library to preload),\n"
	"SOCKSIFY_SUPERVISE (auto|always|never), SOCKSIFY_SUPERVISE_BIN (the supervisor to run),\n"
	"SOCKSIFY_SUPERVISE_MECH (auto|notify|ptrace: how the supervisor traps the calls).\n"
	"Options win over the environment, which wins over the config files: /etc/socksify.conf,\n"
	"then $XDG_CONFIG_HOME/socksify/config (~/.config/...); 'key = value' lines, keys\n"
	"proxy, chain, chain-len, isolate (on|off), timeout, no-proxy, log, log-file, pipeline (auto|on|off),\n"
	"dns (remote|local|resolve), bind (on|off), supervise (auto|always|never), route (DESTS=PROXY; one route a line,\n"
	"repeatable).\n"
	"\n"
	"Shell mode: '. socksify on [OPTIONS]' socksifies every command the current shell runs\n"
	"(bash, dash, zsh); '. socksify off' undoes it. Static, setuid and Go programs run from\n"
	"such a shell are NOT refused, and NOT proxied (no supervisor there: run them as\n"
	"'socksify COMMAND').\n"
	"\n"
	"Examples:\n"
	"  socksify -x socks5://127.0.0.1:1080 curl http://example.com/\n"
	"  SOCKSIFY_PROXY=socks5://alice:secret@proxy:1080 socksify git fetch\n"
	"  socksify -x socks5://10.0.0.1:1080,http://u:p@web-proxy:3128 curl http://example.com/\n";

__attribute__((noreturn, format(printf, 2, 3))) static void die(int status, const char *fmt, ...);

static void die(int status, const char *fmt, ...)
{
	va_list ap;
	fputs("socksify: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}

static void set(const char *name, const char *value)
{
	if (setenv(name, value, 1) < 0)
		die(2, "cannot set %s: %s", name, strerror(errno));
}

/* "a<sep>b" in a new string (the caller frees it). */
static char *joined(const char *a, char sep, const char *b)
{
	size_t n = strlen(a) + 1 + strlen(b) + 1;
	char *both = malloc(n);
	if (!both)
		die(2, "out of memory");
	snprintf(both, n, "%s%c%s", a, sep, b);
	return both;
}

/* Sets name to its value, then sep, then more; or to more alone when it is unset or empty. */
static void set_appended(const char *name, char sep, const char *more)
{
	const char *old = getenv(name);
	if (!old || !*old) {
		set(name, more);
		return;
	}
	char *both = joined(old, sep, more);
	set(name, both);
	free(both);
}

struct options {
	int verbose, quiet, force, check, shell_env, routes;
	const char *check_target, *config;
};

/* The value of option argv[*i] (its "--name=value" part, or the next word); advances *i. */
static const char *option_value(char **argv, int *i, const char *eq)
{
	if (eq)
		return eq + 1;
	if (!argv[*i + 1])
		die(2, "option %s needs a value (see --help)", argv[*i]);
	return argv[++*i];
}

/* Matches arg against a short and a long name, alone or as "--long=value". */
static int is_option(const char *arg, const char *shortname, const char *longname, const char **eq)
{
	size_t n = strlen(longname);
	*eq = NULL;
	if ((shortname && strcmp(arg, shortname) == 0) || strcmp(arg, longname) == 0)
		return 1;
	if (strncmp(arg, longname, n) == 0 && arg[n] == '=') {
		*eq = arg + n;
		return 1;
	}
	return 0;
}

/* --route: the first replaces SOCKSIFY_ROUTE, the next ones are appended to it. */
static void add_route(const char *route, int append)
{
	if (append)
		set_appended("SOCKSIFY_ROUTE", ';', route);
	else
		set("SOCKSIFY_ROUTE", route);
}

/* Sets the environment from the options; returns the index of the command word. */
static int parse_options(char **argv, struct options *o)
{
	static const struct {
		const char *shortname, *longname, *env;
	} valued[] = {
		{ "-x", "--proxy", "SOCKSIFY_PROXY" },
		{ "-t", "--timeout", "SOCKSIFY_TIMEOUT" },
		{ "-n", "--no-proxy", "SOCKSIFY_NO_PROXY" },
		{ NULL, "--log-file", "SOCKSIFY_LOG_FILE" },
		{ NULL, "--chain", "SOCKSIFY_CHAIN" },
		{ NULL, "--chain-len", "SOCKSIFY_CHAIN_LEN" },
		{ NULL, "--supervise", "SOCKSIFY_SUPERVISE" },
	};
	int i = 1;
	for (; argv[i]; i++) {
		const char *a = argv[i], *eq;
		size_t k;
		for (k = 0; k < sizeof valued / sizeof valued[0]; k++)
			if (is_option(a, valued[k].shortname, valued[k].longname, &eq))
				break;
		if (k < sizeof valued / sizeof valued[0]) {
			set(valued[k].env, option_value(argv, &i, eq));
		} else if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0) {
			o->verbose++;
		} else if (strcmp(a, "-vv") == 0) {
			o->verbose += 2;
		} else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0) {
			o->quiet = 1;
		} else if (is_option(a, NULL, "--route", &eq)) {
			add_route(option_value(argv, &i, eq), o->routes++ > 0);
		} else if (strcmp(a, "--check") == 0) {
			o->check = 1;
		} else if (is_option(a, NULL, "--check-target", &eq)) {
			o->check_target = option_value(argv, &i, eq);
		} else if (is_option(a, NULL, "--config", &eq)) {
			o->config = option_value(argv, &i, eq);
		} else if (strcmp(a, "--shell-env") == 0) {
			o->shell_env = 1;
		} else if (strcmp(a, "--bind") == 0) {
			set("SOCKSIFY_BIND", "1");
		} else if (strcmp(a, "-i") == 0 || strcmp(a, "--isolate") == 0) {
			set("SOCKSIFY_ISOLATE", "1");
		} else if (strcmp(a, "--force") == 0) {
			o->force = 1;
		} else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(usage_text, stdout);
			exit(0);
		} else if (strcmp(a, "-V") == 0 || strcmp(a, "--version") == 0) {
			puts("socksify " VERSION);
			exit(0);
		} else if (strcmp(a, "--") == 0) {
			return i + 1;
		} else if (a[0] == '-') {
			die(2, "unknown option '%s' (see --help)", a);
		} else {
			break;
		}
	}
	return i;
}

/* The directory this program's file is in, symlinks resolved. */
static void self_dir(const char *argv0, char *dir, size_t cap)
{
	char path[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", path, sizeof path - 1);
	if (n > 0) {
		path[n] = '\0';
	} else if (!realpath(argv0, path)) {
		snprintf(path, sizeof path, "%s", argv0);
	}
	char *slash = strrchr(path, '/');
	if (slash)
		*slash = '\0';
	snprintf(dir, cap, "%s", slash ? (path[0] ? path : "/") : ".");
}

/* One of our files: $env if set, else the one next to us, in build/, or in ../lib/socksify
 * (installed); NULL if there is none (dir says where we looked). */
static const char *find_ours(const char *argv0, const char *name, const char *env, char *buf, size_t cap, char *dir,
			     size_t dircap)
{
	static const char *const places[] = { "", "/build", "/../lib/socksify" };
	const char *v = getenv(env);
	if (v && *v)
		return v;
	self_dir(argv0, dir, dircap);
	for (size_t i = 0; i < sizeof places / sizeof places[0]; i++) {
		if (snprintf(buf, cap, "%s%s/%s", dir, places[i], name) < (int)cap && access(buf, F_OK) == 0)
			return buf;
	}
	return NULL;
}

/* The library: $SOCKSIFY_LIB, else next to us, in build/, or in ../lib/socksify (installed). */
static const char *find_library(const char *argv0, char *buf, size_t cap)
{
	char dir[PATH_MAX];
	const char *lib = find_ours(argv0, LIBNAME, "SOCKSIFY_LIB", buf, cap, dir, sizeof dir);
	if (!lib)
		die(2, "cannot find " LIBNAME " next to %s (run 'make' first?)", dir);
	return lib;
}

static int is_executable_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode) && access(path, X_OK) == 0;
}

/* The file execvp would run for name (PATH search unless it has a slash), or NULL. */
static const char *find_command(const char *name, char *buf, size_t cap)
{
	if (strchr(name, '/'))
		return access(name, F_OK) == 0 ? name : NULL;
	const char *path = getenv("PATH");
	if (!path)
		path = DEFAULT_PATH;
	while (1) {
		size_t n = strcspn(path, ":");
		/* An empty PATH entry is the current directory. */
		if ((int)n < (int)cap && snprintf(buf, cap, "%.*s%s%s", (int)n, path, n ? "/" : "", name) < (int)cap &&
		    is_executable_file(buf))
			return buf;
		if (!path[n])
			return NULL;
		path += n + 1;
	}
}

static ssize_t read_fd(void *ctx, void *buf, size_t n, uint64_t off)
{
	return pread(*(int *)ctx, buf, n, (off_t)off);
}

/* Why LD_PRELOAD cannot reach cmd, or NULL if it can (or we cannot tell); *setuid says
 * that the reason is setuid/setgid, which the supervisor does not help with either. */
static const char *unreachable_why(const char *cmd, int *setuid)
{
	struct stat st;
	int fd = open(cmd, O_RDONLY); /* closed before any exec */
	if (fd < 0 && errno == EACCES && stat(cmd, &st) == 0 && S_ISREG(st.st_mode)) {
		/* Execute-only: it may be static; only the supervisor is sure to see it. */
		*setuid = (st.st_mode & (S_ISUID | S_ISGID)) != 0;
		return *setuid ? "is setuid/setgid: the dynamic loader ignores LD_PRELOAD for it"
			       : "cannot be read, so whether LD_PRELOAD reaches it cannot be told";
	}
	if (fd < 0)
		return NULL;
	enum exe_kind kind = EXE_UNKNOWN;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		kind = exe_kind_of(read_fd, &fd);
	close(fd);
	if (kind == EXE_UNKNOWN)
		return NULL;
	*setuid = (st.st_mode & (S_ISUID | S_ISGID)) != 0;
	if (*setuid)
		return "is setuid/setgid: the dynamic loader ignores LD_PRELOAD for it";
	if (kind == EXE_STATIC)
		return "is statically linked: LD_PRELOAD cannot reach it";
	if (kind == EXE_GO)
		return "is a Go program: it makes its own system calls, which LD_PRELOAD cannot see";
	return NULL;
}

/* Creates the run's name table (empty; the library sets it up on first use) and
 * names it in the environment, so that every process of the run shares it. A
 * nested run keeps the outer one's; without it each process makes its own. */
static void create_name_table(void)
{
	const char *dns = getenv("SOCKSIFY_DNS");
	struct stat st;
	char env[64];
	if (getenv(DNSTABLE_ENV) || (dns && strcmp(dns, "local") == 0))
		return;
	int fd = memfd_create(DNSTABLE_MEMFD_NAME, 0); /* inherited on exec, on purpose */
	if (fd < 0)
		return;
	int high = fcntl(fd, F_DUPFD, DNSTABLE_HIGH_FD);
	if (high >= 0) {
		close(fd);
		fd = high;
	}
	if (fstat(fd, &st) < 0) {
		close(fd);
		return;
	}
	snprintf(env, sizeof env, DNSTABLE_ENV_FORMAT, (int)getpid(), fd, (unsigned long)st.st_ino);
	set(DNSTABLE_ENV, env);
}

static void append_preload(const char *lib)
{
	set_appended("LD_PRELOAD", ':', lib);
}

/* ---- config files: /etc/socksify.conf, then ~/.config/socksify/config ---- */

#ifndef SYSTEM_CONFIG
#define SYSTEM_CONFIG "/etc/socksify.conf"
#endif

static const struct {
	const char *key, *env;
} config_keys[] = {
	{ "proxy", "SOCKSIFY_PROXY" },	     { "timeout", "SOCKSIFY_TIMEOUT" },	  { "no-proxy", "SOCKSIFY_NO_PROXY" },
	{ "log", "SOCKSIFY_LOG" },	     { "log-file", "SOCKSIFY_LOG_FILE" }, { "pipeline", "SOCKSIFY_PIPELINE" },
	{ "dns", "SOCKSIFY_DNS" },	     { "chain", "SOCKSIFY_CHAIN" },
	{ "bind", "SOCKSIFY_BIND" },	     { "supervise", "SOCKSIFY_SUPERVISE" },
	{ "chain-len", "SOCKSIFY_CHAIN_LEN" }, { "isolate", "SOCKSIFY_ISOLATE" },
	{ "route", "SOCKSIFY_ROUTE" },
};
#define N_CONFIG_KEYS (sizeof config_keys / sizeof config_keys[0])

static int one_of(const char *v, const char *const *words)
{
	for (; *words; words++)
		if (strcmp(v, *words) == 0)
			return 1;
	return 0;
}

/* Why value v is bad for key k (into err), or NULL; *password set when it is a URL with one. */
static const char *config_value_error(const char *key, const char *v, int *password, char *err, size_t cap)
{
	static const char *const logs[] = { "none", "error", "warn", "info", "debug", NULL };
	static const char *const pipelines[] = { "auto", "on", "off", "1", "0", NULL };
	static const char *const dnses[] = { "remote", "local", "resolve", NULL };
	static struct proxy_chain chain;
	static struct routelist routes;
	static const char *const binds[] = { "on", "off", "1", "0", NULL };
	static const char *const supervises[] = { "auto", "always", "never", NULL };
	char *end;
	if (strcmp(key, "proxy") == 0) {
		if (proxy_chain_parse(v, &chain, err, cap) < 0)
			return err;
		for (size_t i = 0; i < chain.n; i++)
			*password |= chain.hop[i].pass[0] != '\0';
	} else if (strcmp(key, "route") == 0) {
		if (routelist_parse(v, &routes, err, cap) < 0)
			return err;
		for (size_t r = 0; r < routes.n; r++)
			for (size_t i = 0; i < routes.r[r].chain.n; i++)
				*password |= routes.r[r].chain.hop[i].pass[0] != '\0';
	} else if (strcmp(key, "chain") == 0 && proxy_chain_mode_parse(v) < 0) {
		return "strict, failover, random or round_robin";
	} else if (strcmp(key, "chain-len") == 0 && proxy_chain_len_parse(v) < 0) {
		return "a number of hops from 1 to 8";
	} else if (strcmp(key, "isolate") == 0 && !one_of(v, binds)) {
		return "on or off";
	} else if (strcmp(key, "timeout") == 0) {
		double t = strtod(v, &end);
		if (!*v || *end || !(t > 0 && t <= 86400))
			return "seconds, more than 0";
	} else if (strcmp(key, "log") == 0 && !one_of(v, logs)) {
		return "none, error, warn, info or debug";
	} else if (strcmp(key, "log-file") == 0 && !*v) {
		return "a file name";
	} else if (strcmp(key, "pipeline") == 0 && !one_of(v, pipelines)) {
		return "auto, on or off";
	} else if (strcmp(key, "dns") == 0 && !one_of(v, dnses)) {
		return "remote, local or resolve";
	} else if (strcmp(key, "bind") == 0 && !one_of(v, binds)) {
		return "on or off";
	} else if (strcmp(key, "supervise") == 0 && !one_of(v, supervises)) {
		return "auto, always or never";
	}
	return NULL;
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t' || s[n - 1] == '\n' || s[n - 1] == '\r'))
		s[--n] = '\0';
	if (n >= 2 && (s[0] == '"' || s[0] == '\'') && s[n - 1] == s[0]) { /* no-proxy = "" */
		s[n - 1] = '\0';
		s++;
	}
	return s;
}

/* Reads path into values[] (a later file's value replaces an earlier one's). A missing
 * file is skipped unless it was named (--config, SOCKSIFY_CONFIG). */
static void config_read(const char *path, int named, char *values[])
{
	char line[4096], err[200];
	int lineno = 0, password = 0, routes = 0;
	struct stat st;
	FILE *f = fopen(path, "re");
	if (!f) {
		if (named || (errno != ENOENT && errno != ENOTDIR))
			die(2, "cannot read %s: %s", path, strerror(errno));
		return;
	}
	while (fgets(line, sizeof line, f)) {
		lineno++;
		if (!strchr(line, '\n') && !feof(f))
			die(2, "%s:%d: line too long", path, lineno);
		char *s = trim(line), *eq = strchr(s, '=');
		if (!*s || *s == '#')
			continue;
		if (!eq)
			die(2, "%s:%d: expected 'key = value', not '%s'", path, lineno, s);
		*eq = '\0';
		const char *key = trim(s), *value = trim(eq + 1), *why;
		int is_route = strcmp(key, "route") == 0;
		size_t k = 0;
		while (k < N_CONFIG_KEYS && strcmp(key, config_keys[k].key) != 0)
			k++;
		if (k == N_CONFIG_KEYS)
			die(2, "%s:%d: unknown key '%s' (known: proxy, chain, chain-len, isolate, timeout, no-proxy, log, log-file, "
			    "pipeline, dns, bind, supervise, route)",
			    path, lineno, key);
		if ((why = config_value_error(key, value, &password, err, sizeof err)))
			die(2, "%s:%d: bad %s%s%s%s: %s", path, lineno, key, k && !is_route ? " '" : "",
			    k && !is_route ? value : "", k && !is_route ? "'" : "",
			    why); /* a proxy URL may hold a password: not echoed */
		if (is_route && routes++ > 0) { /* route lines add up (a later file's replace them) */
			char *both = joined(values[k], ';', value);
			free(values[k]);
			values[k] = both;
			continue;
		}
		free(values[k]);
		if (!(values[k] = strdup(value)))
			die(2, "out of memory");
	}
	if (password && fstat(fileno(f), &st) == 0 && (st.st_mode & (S_IRGRP | S_IROTH)))
		fprintf(stderr, "socksify: warning: %s holds a proxy password and is readable by others (chmod 600 it)\n",
			path);
	fclose(f);
}

/* Exports what the config files say for each variable the environment (or an option) has not set. */
static void config_load(const struct options *o)
{
	char *values[N_CONFIG_KEYS] = { 0 }, path[PATH_MAX];
	const char *named = o->config ? o->config : getenv("SOCKSIFY_CONFIG");
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME");
	if (named && *named) {
		config_read(named, 1, values);
	} else {
		config_read(SYSTEM_CONFIG, 0, values);
		if (xdg && xdg[0] == '/') /* a relative one is invalid (XDG Base Directory spec) */
			snprintf(path, sizeof path, "%s/socksify/config", xdg);
		else if (home && *home)
			snprintf(path, sizeof path, "%s/.config/socksify/config", home);
		else
			path[0] = '\0';
		if (path[0])
			config_read(path, 0, values);
	}
	for (size_t k = 0; k < N_CONFIG_KEYS; k++) {
		if (values[k] && setenv(config_keys[k].env, values[k], 0) < 0)
			die(2, "cannot set %s: %s", config_keys[k].env, strerror(errno));
		free(values[k]);
	}
}

/* ---- shell mode: what `. socksify on` exports into the shell ---- */

static void put_quoted(FILE *out, const char *s)
{
	fputc('\'', out);
	for (; *s; s++) {
		if (*s == '\'')
			fputs("'\\''", out);
		else
			fputc(*s, out);
	}
	fputc('\'', out);
}

/* One "export NAME='value'" (or "unset NAME") line. */
static void put_assignment(FILE *out, const char *name, const char *value)
{
	if (!value) {
		fprintf(out, "unset %s\n", name);
		return;
	}
	fprintf(out, "export %s=", name);
	put_quoted(out, value);
	fputc('\n', out);
}

/* Prints the shell lines that set, in the calling shell, what a run would set (the
 * variables in before[] changed since the start, LD_PRELOAD with lib appended), and
 * _socksify_off: the lines that restore each of them. */
static int shell_env(char **words, char *before[], const char *lib)
{
	char *undo = NULL;
	size_t undo_len = 0;
	if (!words[0] || strcmp(words[0], "on") != 0 || words[1])
		die(2, "--shell-env takes options and 'on' (the socksify script's '. socksify on')");
	FILE *u = open_memstream(&undo, &undo_len);
	if (!u)
		die(2, "out of memory");
	put_assignment(u, "LD_PRELOAD", before[N_CONFIG_KEYS]);
	for (size_t k = 0; k < N_CONFIG_KEYS; k++) {
		const char *now = getenv(config_keys[k].env);
		if (now && (!before[k] || strcmp(before[k], now) != 0))
			put_assignment(u, config_keys[k].env, before[k]);
	}
	if (fclose(u) != 0)
		die(2, "out of memory");
	fputs("_socksify_off=", stdout);
	put_quoted(stdout, undo);
	fputc('\n', stdout);
	free(undo);
	append_preload(lib);
	put_assignment(stdout, "LD_PRELOAD", getenv("LD_PRELOAD"));
	for (size_t k = 0; k < N_CONFIG_KEYS; k++) {
		const char *now = getenv(config_keys[k].env);
		if (now && (!before[k] || strcmp(before[k], now) != 0))
			put_assignment(stdout, config_keys[k].env, now);
	}
	return fflush(stdout) == 0 ? 0 : 2;
}

/* exec, and like execvp: a file the kernel will not run is a shell script. */
static void run(const char *cmd, char **argv)
{
	execv(cmd, argv);
	if (errno == ENOEXEC) {
		int n = 0;
		while (argv[n])
			n++;
		char **sh = calloc((size_t)n + 2, sizeof *sh);
		if (sh) {
			sh[0] = "sh";
			sh[1] = (char *)cmd;
			memcpy(sh + 2, argv + 1, (size_t)n * sizeof *sh); /* argv[n] is the NULL */
			execv("/bin/sh", sh);
			errno = ENOEXEC;
		}
	}
	die(errno == ENOENT ? 127 : 126, "cannot run %s: %s", cmd, strerror(errno));
}

/* ---- programs LD_PRELOAD cannot reach: under socksify-supervise ---- */

enum supervise_mode { SUPERVISE_AUTO, SUPERVISE_ALWAYS, SUPERVISE_NEVER };

static enum supervise_mode supervise_mode(void)
{
	const char *m = getenv("SOCKSIFY_SUPERVISE");
	if (!m || !*m || strcmp(m, "auto") == 0)
		return SUPERVISE_AUTO;
	if (strcmp(m, "always") == 0)
		return SUPERVISE_ALWAYS;
	if (strcmp(m, "never") == 0)
		return SUPERVISE_NEVER;
	die(2, "bad supervise mode '%s' (auto, always or never)", m);
}

/* Takes our library out of LD_PRELOAD (the name, or $SOCKSIFY_LIB): in the supervisor it
 * would proxy the supervisor's own connections (to its DNS responder on loopback, when
 * loopback is not excluded), and the supervised program has one name table, the supervisor's.
 * Other entries (a sanitizer's runtime) stay, in order. */
static void drop_library_from_preload(const char *lib)
{
	const char *old = getenv("LD_PRELOAD");
	if (!old || !*old)
		return;
	char *kept = malloc(strlen(old) + 1), *k = kept;
	if (!kept)
		die(2, "out of memory");
	for (const char *p = old; *p;) {
		size_t n = strcspn(p, ": ");
		const char *base = memrchr(p, '/', n);
		base = base ? base + 1 : p;
		int ours = (n == strlen(lib) && strncmp(p, lib, n) == 0) ||
			   ((size_t)(p + n - base) == strlen(LIBNAME) && strncmp(base, LIBNAME, strlen(LIBNAME)) == 0);
		if (n && !ours) {
			if (k != kept)
				*k++ = ':';
			memcpy(k, p, n);
			k += n;
		}
		p += n;
		p += strspn(p, ": ");
	}
	*k = '\0';
	if (*kept)
		set("LD_PRELOAD", kept);
	else if (unsetenv("LD_PRELOAD") < 0)
		die(2, "cannot unset LD_PRELOAD: %s", strerror(errno));
	free(kept);
}

/* Execs cmd under the supervisor, with the SOCKSIFY_* environment set for the library (it reads
 * the same variables). Fails closed: without a supervisor the program does not run. */
__attribute__((noreturn)) static void supervise(const char *argv0, const char *cmd, char **args, const char *why,
						 const char *lib)
{
	char buf[PATH_MAX], dir[PATH_MAX];
	char reason[300];
	if (why)
		snprintf(reason, sizeof reason, "it %s", why);
	else
		snprintf(reason, sizeof reason, "with --supervise always every program runs under " SUPERVISOR);
	const char *sup = find_ours(argv0, SUPERVISOR, "SOCKSIFY_SUPERVISE_BIN", buf, sizeof buf, dir, sizeof dir);
	if (!sup)
		die(126, "refusing to run %s: %s, and " SUPERVISOR ", which would proxy it, is not next to %s "
			 "(run 'make'?); its traffic would NOT go through the proxy", cmd, reason, dir);
	drop_library_from_preload(lib);
	int n = 0;
	while (args[n])
		n++;
	char **argv = calloc((size_t)n + 3, sizeof *argv);
	if (!argv)
		die(2, "out of memory");
	argv[0] = (char *)sup;
	argv[1] = "--";
	argv[2] = (char *)cmd; /* the file we looked at, not another one PATH may hold */
	memcpy(argv + 3, args + 1, (size_t)n * sizeof *argv); /* args[n] is the NULL */
	execv(sup, argv);
	die(126, "refusing to run %s: %s, and the supervisor %s cannot run: %s", cmd, reason, sup, strerror(errno));
}

/* SOCKSIFY_ROUTE's syntax (the library would fail every proxied connection on a bad one);
 * with report, a line saying how many routes there are. */
static void check_routes(int report)
{
	static struct routelist routes;
	char err[400];
	const char *r = getenv("SOCKSIFY_ROUTE");
	if (!r || !*r)
		return;
	if (routelist_parse(r, &routes, err, sizeof err) < 0)
		die(2, "bad SOCKSIFY_ROUTE: %s", err); /* not echoed: a proxy URL may hold a password */
	if (report)
		printf("routes: %zu, well formed (their proxies are not checked)\n", routes.n);
}

/* --check: the proxy URL and -t as for a run, no command. */
static int check(const char *proxy, const struct options *o, const char *extra)
{
	static struct proxy_chain chain;
	char err[300], *end;
	const char *t = getenv("SOCKSIFY_TIMEOUT");
	double timeout = 10;
	if (extra)
		die(2, "--check takes no command ('%s')", extra);
	if (proxy_chain_parse(proxy, &chain, err, sizeof err) < 0)
		die(2, "bad proxy URL '%s': %s", proxy, err);
	check_routes(1);
	if (t && *t) {
		timeout = strtod(t, &end);
		if (*end || !(timeout > 0 && timeout <= 86400))
			die(2, "bad timeout '%s' (seconds, more than 0)", t);
	}
	return check_chain(&chain, o->check_target, timeout);
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	char libbuf[PATH_MAX], cmdbuf[PATH_MAX], err[300];
	static struct proxy_chain chain;
	char *before[N_CONFIG_KEYS + 1]; /* the environment's values, for --shell-env; then LD_PRELOAD */
	(void)argc;

	for (size_t k = 0; k <= N_CONFIG_KEYS; k++) {
		const char *v = getenv(k < N_CONFIG_KEYS ? config_keys[k].env : "LD_PRELOAD");
		if ((before[k] = v ? strdup(v) : NULL) == NULL && v)
			die(2, "out of memory");
	}
	int first = parse_options(argv, &o);
	if (o.verbose >= 2)
		set("SOCKSIFY_LOG", "debug");
	else if (o.verbose == 1)
		set("SOCKSIFY_LOG", "info");
	else if (o.quiet)
		set("SOCKSIFY_LOG", "none");
	config_load(&o);
	if (!argv[first] && !o.check)
		die(2, "no command given (see --help)");
	const char *proxy = getenv("SOCKSIFY_PROXY");
	if (!proxy || !*proxy)
		die(2, "no proxy given: use -x socks5://host:port or set SOCKSIFY_PROXY");
	if (o.check)
		return check(proxy, &o, argv[first]);

	const char *lib = find_library(argv[0], libbuf, sizeof libbuf);
	if (access(lib, R_OK) < 0)
		die(2, "cannot read the library '%s'", lib);
	if (proxy_chain_parse(proxy, &chain, err, sizeof err) < 0)
		die(2, "bad proxy URL '%s': %s", proxy, err);
	check_routes(0);
	const char *mode = getenv("SOCKSIFY_CHAIN"), *len = getenv("SOCKSIFY_CHAIN_LEN");
	int m = mode && *mode ? proxy_chain_mode_parse(mode) : PROXY_CHAIN_STRICT;
	int hops = len && *len ? proxy_chain_len_parse(len) : PROXY_CHAIN_LEN_DEFAULT;
	if (m < 0)
		die(2, "bad chain mode '%s' (strict, failover, random or round_robin)", mode);
	if (hops < 0)
		die(2, "bad chain length '%s' (a number of hops from 1 to %d)", len, PROXY_CHAIN_MAX);
	if ((m == PROXY_CHAIN_RANDOM || m == PROXY_CHAIN_ROUND_ROBIN) && (size_t)hops > chain.n)
		die(2, "chain length %d is more than the %zu hop%s of the proxy chain", hops, chain.n,
		    chain.n == 1 ? "" : "s");
	enum supervise_mode sup = supervise_mode();
	if (o.shell_env)
		return shell_env(argv + first, before, lib);

	const char *cmd = find_command(argv[first], cmdbuf, sizeof cmdbuf);
	if (!cmd)
		die(127, "%s: command not found", argv[first]);
	int setuid = 0;
	const char *why = unreachable_why(cmd, &setuid);
	if (!setuid && (sup == SUPERVISE_ALWAYS || (why && sup == SUPERVISE_AUTO)))
		supervise(argv[0], cmd, argv + first, why, lib);
	if (why && !o.force)
		die(126, "refusing to run %s: it %s, so its traffic would NOT go through the proxy"
			 " (%suse --force to run it anyway)", cmd, why,
		    setuid ? "" : "--supervise never; ");
	if (why)
		fprintf(stderr, "socksify: warning: %s %s; its traffic will NOT go through the proxy\n", cmd, why);
	else
		create_name_table();
	append_preload(lib);
	run(cmd, argv + first);
}
