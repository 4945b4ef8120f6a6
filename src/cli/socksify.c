/* socksify - the launcher: parses the options, checks the proxy URL and the program,
 * sets the SOCKSIFY_* environment, appends the library to LD_PRELOAD and execs the
 * program. No fork of its own; built static (with musl where available) so that it
 * costs about one exec. socksify.sh finds and execs it. */
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

#define VERSION "0.1.0"
#define LIBNAME "libsocksify.so"
#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

static const char usage_text[] =
	"Usage: socksify [OPTIONS] [--] COMMAND [ARGS...]\n"
	"       socksify --check [-x URL] [-t SECS] [--check-target HOST:PORT]\n"
	"       (./socksify.sh in the source tree)\n"
	"\n"
	"Run COMMAND with its TCP connections sent through a SOCKS5 proxy (LD_PRELOAD).\n"
	"Nothing goes direct: if the proxy is unusable, connections fail.\n"
	"\n"
	"Options:\n"
	"  -x, --proxy URL       proxy, socks5://[user:pass@]host[:port] (socks5h:// is the same;\n"
	"                        IPv6 as socks5://[::1]:1080). Default: $SOCKSIFY_PROXY\n"
	"  -t, --timeout SECS    deadline for reaching the proxy and its answer (default 10)\n"
	"  -n, --no-proxy LIST   addresses/CIDRs that go direct, comma separated\n"
	"                        (default 127.0.0.0/8,::1; \"\" sends everything to the proxy)\n"
	"  -v, --verbose         log each proxied connection (-vv: debug)\n"
	"  -q, --quiet           log nothing, not even errors\n"
	"      --log-file FILE   append log lines to FILE instead of stderr\n"
	"      --force           run COMMAND even if it is static, setuid or Go (it will NOT be proxied)\n"
	"      --check           test the proxy instead of running a command: its methods, the login,\n"
	"                        a CONNECT by name, UDP ASSOCIATE, the handshake round trip; exit 0\n"
	"                        when it is usable for TCP, 1 if not (nothing is sent but to the proxy)\n"
	"      --check-target HOST:PORT  what --check asks the proxy to CONNECT to\n"
	"                        (default localhost:<the proxy's port>, resolved by the proxy)\n"
	"  -h, --help            show this help\n"
	"  -V, --version         show the version\n"
	"\n"
	"Environment: SOCKSIFY_PROXY, SOCKSIFY_TIMEOUT, SOCKSIFY_NO_PROXY, SOCKSIFY_LOG\n"
	"(none|error|warn|info|debug), SOCKSIFY_LOG_FILE, SOCKSIFY_LIB (library to preload).\n"
	"Options win over the environment.\n"
	"\n"
	"Examples:\n"
	"  socksify -x socks5://127.0.0.1:1080 curl http://example.com/\n"
	"  SOCKSIFY_PROXY=socks5://alice:secret@proxy:1080 socksify git fetch\n";

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

struct options {
	int verbose, quiet, force, check;
	const char *check_target;
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
		} else if (strcmp(a, "--check") == 0) {
			o->check = 1;
		} else if (is_option(a, NULL, "--check-target", &eq)) {
			o->check_target = option_value(argv, &i, eq);
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

/* The library: $SOCKSIFY_LIB, else next to us, in build/, or in ../lib/socksify (installed). */
static const char *find_library(const char *argv0, char *buf, size_t cap)
{
	static const char *const places[] = { "", "/build", "/../lib/socksify" };
	const char *env = getenv("SOCKSIFY_LIB");
	char dir[PATH_MAX];
	if (env && *env)
		return env;
	self_dir(argv0, dir, sizeof dir);
	for (size_t i = 0; i < sizeof places / sizeof places[0]; i++) {
		if (snprintf(buf, cap, "%s%s/" LIBNAME, dir, places[i]) < (int)cap && access(buf, F_OK) == 0)
			return buf;
	}
	die(2, "cannot find " LIBNAME " next to %s (run 'make' first?)", dir);
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

/* Why LD_PRELOAD cannot reach cmd, or NULL if it can (or we cannot tell). */
static const char *unreachable_why(const char *cmd)
{
	struct stat st;
	int fd = open(cmd, O_RDONLY); /* closed before any exec */
	if (fd < 0)
		return NULL;
	enum exe_kind kind = EXE_UNKNOWN;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode))
		kind = exe_kind_of(read_fd, &fd);
	close(fd);
	if (kind == EXE_UNKNOWN)
		return NULL;
	if (st.st_mode & (S_ISUID | S_ISGID))
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
	const char *old = getenv("LD_PRELOAD");
	if (!old || !*old) {
		set("LD_PRELOAD", lib);
		return;
	}
	size_t n = strlen(old) + 1 + strlen(lib) + 1;
	char *both = malloc(n);
	if (!both)
		die(2, "out of memory");
	snprintf(both, n, "%s:%s", old, lib);
	set("LD_PRELOAD", both);
	free(both);
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

/* --check: the proxy URL and -t as for a run, no command. */
static int check(const char *proxy, const struct options *o, const char *extra)
{
	struct proxy_url url;
	char err[200], *end;
	const char *t = getenv("SOCKSIFY_TIMEOUT");
	double timeout = 10;
	if (extra)
		die(2, "--check takes no command ('%s')", extra);
	if (proxy_url_parse(proxy, &url, err, sizeof err) < 0)
		die(2, "bad proxy URL '%s': %s", proxy, err);
	if (t && *t) {
		timeout = strtod(t, &end);
		if (*end || !(timeout > 0 && timeout <= 86400))
			die(2, "bad timeout '%s' (seconds, more than 0)", t);
	}
	return check_proxy(&url, o->check_target, timeout);
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	char libbuf[PATH_MAX], cmdbuf[PATH_MAX], err[200];
	struct proxy_url url;
	(void)argc;

	int first = parse_options(argv, &o);
	if (o.verbose >= 2)
		set("SOCKSIFY_LOG", "debug");
	else if (o.verbose == 1)
		set("SOCKSIFY_LOG", "info");
	else if (o.quiet)
		set("SOCKSIFY_LOG", "none");
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
	if (proxy_url_parse(proxy, &url, err, sizeof err) < 0)
		die(2, "bad proxy URL '%s': %s", proxy, err);

	const char *cmd = find_command(argv[first], cmdbuf, sizeof cmdbuf);
	if (!cmd)
		die(127, "%s: command not found", argv[first]);
	const char *why = unreachable_why(cmd);
	if (why && !o.force)
		die(126, "refusing to run %s: it %s, so its traffic would NOT go through the proxy"
			 " (use --force to run it anyway)", cmd, why);
	if (why)
		fprintf(stderr, "socksify: warning: %s %s; its traffic will NOT go through the proxy\n", cmd, why);
	else
		create_name_table();
	append_preload(lib);
	run(cmd, argv + first);
}
