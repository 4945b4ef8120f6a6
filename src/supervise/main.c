/* main.c - socksify-supervise: options and environment, the program started under the
 * filter (fail closed), the event loop, the program's exit status as ours.
 *
 *   socksify-supervise -x URL[,URL...] [-t SECS] [-n LIST]
 *                      [--dns-server IP[:PORT]] [--mechanism auto|notify|ptrace]
 *                      [-v|-vv|-q] [--] PROG ARGS...
 *
 * Exit status as the launcher's: 2 usage, 127 PROG not found, 126 PROG cannot run or
 * cannot be supervised (the filter did not install: it is NOT run), else PROG's status
 * (128 + N when a signal N ended it). */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config.h"
#include "log.h"
#include "real.h"
#include "supervise.h"

struct sup_config sup_config;
struct fake_names *sup_fake;
pthread_mutex_t sup_fake_lock = PTHREAD_MUTEX_INITIALIZER;

static const char usage_text[] =
	"Usage: " SUPERVISE_NAME " [OPTIONS] [--] PROG [ARGS...]\n"
	"\n"
	"Run PROG (a static or Go program too) with its TCP connections sent through a proxy\n"
	"or a chain of proxies and its DNS answered without leaving the host, by intercepting\n"
	"its socket system calls with seccomp user notification (or, where the kernel lacks it,\n"
	"as PROG's tracer with ptrace). Nothing goes direct; if the filter cannot be installed,\n"
	"PROG is not run. SOCKSIFY_* settings as for the library (SOCKSIFY_CHAIN,\n"
	"SOCKSIFY_CHAIN_LEN, SOCKSIFY_ISOLATE: one login per run, SOCKSIFY_PIPELINE,\n"
	"SOCKSIFY_FAKE_NET4/6, ...).\n"
	"\n"
	"Options:\n"
	"  -x, --proxy URL[,URL...]  socks5://[user:pass@]host[:port], socks4://, socks4a://,\n"
	"                         http://; several: a chain (default: $SOCKSIFY_PROXY)\n"
	"  -t, --timeout SECS     deadline for the proxy's answer (default 10; $SOCKSIFY_TIMEOUT)\n"
	"  -n, --no-proxy LIST    addresses/CIDRs connected directly, and names (.corp.example)\n"
	"                         resolved here and connected directly (default 127.0.0.0/8,::1;\n"
	"                         $SOCKSIFY_NO_PROXY)\n"
	"      --dns-server IP[:PORT]  resolver asked, through the proxy over TCP, for DNS queries\n"
	"                         other than A/AAAA (default: none, they are REFUSED;\n"
	"                         $SOCKSIFY_DNS_SERVER)\n"
	"      --mechanism M      how the calls reach the supervisor: auto (default: notify where\n"
	"                         the kernel has seccomp user notification with ADDFD and pidfd_getfd,\n"
	"                         5.9+, else ptrace), notify, ptrace ($SOCKSIFY_SUPERVISE_MECH);\n"
	"                         a forced one that cannot work here: status 126, PROG not run\n"
	"  -v, --verbose          log each proxied connection (-vv: debug)\n"
	"  -q, --quiet            log nothing\n"
	"  -h, --help\n";

__attribute__((noreturn, format(printf, 2, 3))) static void die(int status, const char *fmt, ...);

static void die(int status, const char *fmt, ...)
{
	va_list ap;
	fputs(SUPERVISE_NAME ": ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(status);
}

struct options {
	const char *proxy, *timeout, *no_proxy, *dns_server, *mechanism;
	int verbose, quiet;
};

static int take(char **argv, int *i, const char *shortname, const char *longname, const char **out)
{
	const char *a = argv[*i];
	size_t n = strlen(longname);
	if ((shortname && strcmp(a, shortname) == 0) || strcmp(a, longname) == 0) {
		if (!argv[*i + 1])
			die(2, "option %s needs a value (see --help)", a);
		*out = argv[++*i];
		return 1;
	}
	if (strncmp(a, longname, n) == 0 && a[n] == '=') {
		*out = a + n + 1;
		return 1;
	}
	return 0;
}

static int parse_options(char **argv, struct options *o)
{
	int i = 1;
	for (; argv[i]; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--") == 0)
			return i + 1;
		if (a[0] != '-' || a[1] == '\0')
			return i;
		if (take(argv, &i, "-x", "--proxy", &o->proxy) || take(argv, &i, "-t", "--timeout", &o->timeout) ||
		    take(argv, &i, "-n", "--no-proxy", &o->no_proxy) ||
		    take(argv, &i, NULL, "--dns-server", &o->dns_server) ||
		    take(argv, &i, NULL, "--mechanism", &o->mechanism))
			continue;
		if (strcmp(a, "-v") == 0 || strcmp(a, "--verbose") == 0)
			o->verbose++;
		else if (strcmp(a, "-vv") == 0)
			o->verbose += 2;
		else if (strcmp(a, "-q") == 0 || strcmp(a, "--quiet") == 0)
			o->quiet = 1;
		else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
			fputs(usage_text, stdout);
			exit(0);
		} else
			die(2, "unknown option '%s' (see --help)", a);
	}
	return i;
}

static const char *env_or(const char *opt, const char *name, const char *def)
{
	const char *v = getenv(name);
	return opt ? opt : v ? v : def;
}

static void setup_logging(const struct options *o)
{
	int level = LOG_LVL_ERROR;
	const char *s = getenv("SOCKSIFY_LOG");
	if (s && *s && log_level_parse(s) >= LOG_LVL_NONE)
		level = log_level_parse(s);
	if (o->verbose)
		level = o->verbose >= 2 ? LOG_LVL_DEBUG : LOG_LVL_INFO;
	if (o->quiet)
		level = LOG_LVL_NONE;
	int fd = 2;
	const char *file = getenv("SOCKSIFY_LOG_FILE");
	if (file && *file) {
		int lfd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
		if (lfd < 0)
			die(2, "cannot open log file '%s': %s", file, strerror(errno));
		fd = lfd;
	}
	log_init(SUPERVISE_NAME, (enum log_level)level, fd, NULL);
}

static void parse_dns_server(struct sup_config *c, const char *s)
{
	char err[200];
	struct netlist l = { 0 };
	/* IP, IP:PORT, [v6]:PORT: the address-list syntax of SOCKSIFY_NO_PROXY, one item */
	if (netlist_parse(s, &l, err, sizeof err) < 0 || l.n != 1 ||
	    l.e[0].prefix != (l.e[0].family == 4 ? 32 : 128))
		die(2, "bad --dns-server '%s' (an IPv4 or IPv6 address, optionally :PORT)", s);
	memset(&c->dns_server, 0, sizeof c->dns_server);
	if (l.e[0].family == 4) {
		c->dns_server.atyp = SOCKS5_ATYP_IPV4;
		memcpy(c->dns_server.u.ipv4, l.e[0].addr, 4);
	} else {
		c->dns_server.atyp = SOCKS5_ATYP_IPV6;
		memcpy(c->dns_server.u.ipv6, l.e[0].addr, 16);
	}
	c->dns_server.port = l.e[0].port ? l.e[0].port : 53;
	c->dns_forward = 1;
}

/* An option given on the command line wins over the environment: set there, it reaches the
 * one parser of SOCKSIFY_* (the library's), and programs of the run that load the library. */
static void option_to_env(const char *value, const char *name)
{
	if (value && setenv(name, value, 1) < 0)
		die(2, "cannot set %s: %s", name, strerror(errno));
}

static void configure(const struct options *o)
{
	static struct config lib; /* one owner: filled here, read-only once threads start */
	struct sup_config *c = &sup_config;
	option_to_env(o->proxy, "SOCKSIFY_PROXY");
	option_to_env(o->timeout, "SOCKSIFY_TIMEOUT");
	option_to_env(o->no_proxy, "SOCKSIFY_NO_PROXY");
	const char *proxy = getenv("SOCKSIFY_PROXY");
	if (!proxy || !*proxy)
		die(2, "no proxy given: use -x socks5://host:port or set SOCKSIFY_PROXY");
	real_init(); /* libc's functions, for the library's parser and hop machine */
	config_read_env(&lib);
	if (!lib.proxy_ok) { /* the parser logged why, unless -q: the message says it again */
		struct proxy_chain chain;
		char err[200];
		static struct routelist routes;
		const char *route = getenv("SOCKSIFY_ROUTE");
		if (proxy_chain_parse(proxy, &chain, err, sizeof err) < 0)
			die(2, "bad proxy URL: %s", err);
		if (route && routelist_parse(route, &routes, err, sizeof err) < 0)
			die(2, "bad SOCKSIFY_ROUTE: %s", err);
		die(2, "no usable proxy: %s (its host cannot be resolved)", lib.proxy_text);
	}
	c->lib = &lib;
	const char *dns = env_or(o->dns_server, "SOCKSIFY_DNS_SERVER", NULL);
	if (dns && *dns)
		parse_dns_server(c, dns);
	sup_fake = calloc(1, sizeof *sup_fake);
	if (!sup_fake || fakenames_init(sup_fake, &lib.fake4, &lib.fake6) < 0)
		die(2, "cannot set up the fake-address table");
}

int sup_fake_lookup(const struct socks5_addr *a, char name[FAKE_NAME_MAX + 1])
{
	pthread_mutex_lock(&sup_fake_lock);
	int r = fakenames_lookup(sup_fake, a, name);
	pthread_mutex_unlock(&sup_fake_lock);
	return r;
}

/* notify where the kernel has all it needs (see notify_usable), else ptrace; a forced
 * mechanism that cannot work ends here (notify) or at the start (ptrace), with 126. */
static void choose_mechanism(const struct options *o)
{
	const char *m = env_or(o->mechanism, "SOCKSIFY_SUPERVISE_MECH", "auto");
	char why[200];
	int usable = notify_usable(why, sizeof why);
	if (strcmp(m, "notify") == 0) {
		if (!usable)
			die(126, "refusing to run the program: the notify mechanism cannot work here: %s", why);
		sup_mech = MECH_NOTIFY;
	} else if (strcmp(m, "ptrace") == 0) {
		sup_mech = MECH_PTRACE;
		snprintf(why, sizeof why, "asked for");
	} else if (!*m || strcmp(m, "auto") == 0) {
		sup_mech = usable ? MECH_NOTIFY : MECH_PTRACE;
	} else {
		die(2, "bad mechanism '%s' (auto, notify or ptrace)", m);
	}
	log_debug("mechanism: %s (%s)", sup_mech == MECH_PTRACE ? "ptrace" : "seccomp user notification", why);
}

/* What the child tells the parent: the listener's fd number in the child, or why not. */
struct start_msg {
	int err, lfd;
};

/* The child: filter, then the listener's number to the parent, then exec once the parent
 * holds it. Any failure before exec ends the child without running PROG. The parent takes
 * the listener with pidfd_getfd(): passing it with SCM_RIGHTS would need sendmsg(), which
 * the filter already sends to the supervisor, who is not listening yet. */
static void child(int sock, char **argv, const sigset_t *oldmask)
{
	int tracing = sup_mech == MECH_PTRACE;
	if (tracing) {
		/* Traced, every signal is a stop for the tracer, which is busy starting us: held
		 * until exec. The filter only once the tracer is there (RET_TRACE would be ENOSYS). */
		sigset_t all;
		sigfillset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		char seized;
		if (send(sock, "r", 1, MSG_NOSIGNAL) != 1 || recv(sock, &seized, 1, 0) != 1)
			_exit(126);
	} else {
		sigprocmask(SIG_SETMASK, oldmask, NULL);
	}
	int lfd = filter_install(tracing ? SECCOMP_RET_TRACE : SECCOMP_RET_USER_NOTIF);
	struct start_msg msg = { lfd < 0 ? -lfd : 0, lfd };
	if (send(sock, &msg, sizeof msg, MSG_NOSIGNAL) != (ssize_t)sizeof msg || lfd < 0)
		_exit(126);
	char go;
	if (recv(sock, &go, 1, 0) != 1)
		_exit(126); /* the supervisor is not there: do not run unsupervised */
	if (tracing)
		sigprocmask(SIG_SETMASK, oldmask, NULL);
	else
		close(lfd); /* the program must never hold its own listener: it could answer itself */
	execvp(argv[0], argv);
	int err = errno;
	send(sock, &err, sizeof err, MSG_NOSIGNAL);
	_exit(err == ENOENT ? 127 : 126);
}

/* The parent's side of the start: the listener, or an exit with the child's reason. */
static int receive_listener(int sock, pid_t pid, const char *prog)
{
	struct start_msg msg = { 0, -1 };
	int lfd = -1, err = 0;
	ssize_t n = recv(sock, &msg, sizeof msg, 0);
	if (n == (ssize_t)sizeof msg && msg.err == 0 && msg.lfd >= 0) {
		int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
		if (pfd >= 0)
			lfd = (int)syscall(SYS_pidfd_getfd, pfd, msg.lfd, 0);
		err = errno;
		if (pfd >= 0)
			close(pfd);
	} else {
		err = n == (ssize_t)sizeof msg ? msg.err : 0;
	}
	if (lfd < 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		die(126, "refusing to run %s: cannot install the seccomp filter that would keep its traffic from "
			 "going direct: %s", prog, err ? strerror(err) : "the child failed");
	}
	return lfd;
}

/* The ptrace mechanism's start: the child seized before it installs the filter (then exec'd
 * as with notify). Any failure: the child is killed, we exit 126. */
static void start_traced(int sock, pid_t pid, const char *prog)
{
	char ready;
	int rc = ptrace_init();
	if (rc == 0 && recv(sock, &ready, 1, 0) != 1)
		rc = -EPIPE;
	if (rc == 0)
		rc = ptrace_seize(pid);
	if (rc == 0 && send(sock, "s", 1, MSG_NOSIGNAL) != 1)
		rc = -EPIPE;
	struct start_msg msg = { 0, -1 };
	if (rc == 0) {
		ssize_t n = recv(sock, &msg, sizeof msg, 0);
		if (n != (ssize_t)sizeof msg || msg.err) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, __WALL);
			die(126, "refusing to run %s: cannot install the seccomp filter that would keep its traffic from "
				 "going direct: %s", prog, n == (ssize_t)sizeof msg ? strerror(msg.err) : "the child failed");
		}
		return;
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, __WALL);
	die(126, "refusing to run %s: cannot trace it to install its seccomp filter (the ptrace mechanism: "
		 "PTRACE_SEIZE; Yama's ptrace_scope, a container without ptrace, traced already?): %s", prog, strerror(-rc));
}

/* What the supervisor process tells the process the caller waits for. */
struct status_msg {
	int kind; /* MSG_STARTED (value: the program's pid) or MSG_EXITED (value: its status) */
	int value;
};
enum { MSG_STARTED = 1, MSG_EXITED = 2 };

static int exit_status_of(int status)
{
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The program has been reaped: its status to the waiting process, which may be gone. */
static void report_exit(int report, int status, int null)
{
	struct status_msg m = { MSG_EXITED, exit_status_of(status) };
	(void)send(report, &m, sizeof m, MSG_NOSIGNAL); /* fails if nobody waits any more */
	log_debug("the program has exited; serving its descendants until they are gone");
	if (null >= 0) { /* a SOCKSIFY_LOG_FILE has an fd of its own */
		dup2(null, 1);
		dup2(null, 2);
	}
}

/* The supervisor proper: the program's parent, and a subreaper, so that it stays an ancestor of
 * every process of the program (Yama's ptrace_scope 1 lets it read their memory and take their
 * fds only so), orphans included. It serves until no process is left under the filter (the
 * listener hangs up after the last one is reaped; tracing: no tracee is left), so a daemon or
 * a `cmd &` that outlives the program stays covered; it reports the program's start and exit
 * to the waiting process at once. Terminal signals are not its business; once the program is
 * gone it lets go of the caller's stdout and stderr, so that `x=$(socksify-supervise ... prog)`
 * ends with the program. exec_sock (tracing, see start_traced) says why the exec failed, or
 * hangs up when it worked. */
static void serve(int lfd, pid_t program, int report, int exec_sock, const char *prog)
{
	static const int ignored[] = { SIGINT, SIGQUIT, SIGHUP, SIGTSTP, SIGTTIN, SIGTTOU };
	for (size_t i = 0; i < sizeof ignored / sizeof ignored[0]; i++)
		signal(ignored[i], SIG_IGN);
	sigset_t chld;
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_SETMASK, &chld, NULL);
	int sfd = signalfd(-1, &chld, SFD_CLOEXEC | SFD_NONBLOCK);
	int null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null >= 0)
		dup2(null, 0);
	int tracing = sup_mech == MECH_PTRACE, reaped = 0;
	struct pollfd p[8];
	for (;;) {
		int n = 0;
		p[n++] = (struct pollfd){ .fd = tracing ? ptrace_wake_fd() : lfd, .events = POLLIN };
		p[n++] = (struct pollfd){ .fd = sfd, .events = POLLIN };
		p[n++] = (struct pollfd){ .fd = exec_sock, .events = POLLIN }; /* -1: ignored */
		int dns0 = n;
		n += dns_poll_fds(p + n, (int)(sizeof p / sizeof p[0]) - n);
		if (poll(p, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_error("poll: %s", strerror(errno));
			_exit(1);
		}
		if (p[2].revents) { /* before the exit it explains, which we would report first */
			int err = 0;
			if (recv(exec_sock, &err, sizeof err, 0) == (ssize_t)sizeof err && err)
				log_error("cannot run %s: %s", prog, strerror(err));
			close(exec_sock);
			exec_sock = -1;
		}
		if (p[1].revents & POLLIN) {
			struct signalfd_siginfo si;
			while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si)
				;
			int status;
			pid_t w;
			/* the program, and orphans: reaped (by ptrace_events when tracing: all are tracees) */
			while (!tracing && (w = waitpid(-1, &status, WNOHANG)) > 0)
				if (w == program)
					report_exit(report, status, null);
		}
		if (tracing) { /* every time: the stops, exits and queued replies there are */
			int status;
			if (ptrace_events(&status)) {
				reaped = 1;
				report_exit(report, status, null);
			}
			if (reaped && ptrace_tracees() == 0)
				_exit(0); /* no process of the program's is left */
		} else if (p[0].revents & POLLIN) {
			notify_handle_one();
		} else if (p[0].revents & (POLLHUP | POLLERR | POLLNVAL)) {
			/* no process is left under the filter; the hang-up can come before SIGCHLD, so the
			 * program may still be to reap and report (else the waiting process takes our exit
			 * for a death) */
			int status;
			if (waitpid(program, &status, 0) == program) {
				struct status_msg m = { MSG_EXITED, exit_status_of(status) };
				(void)send(report, &m, sizeof m, MSG_NOSIGNAL);
			}
			_exit(0);
		}
		dns_serve(p + dns0, n - dns0);
	}
}

/* The supervisor process: starts the program under the filter, tells the waiting process its
 * pid, serves. Any failure before the program runs ends it with the launcher's status. */
static void supervisor_main(char **argv, const sigset_t *oldmask, int report)
{
	int sv[2];
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
		die(126, "cannot start: %s", strerror(errno));
	pid_t pid = fork();
	if (pid < 0)
		die(126, "cannot fork: %s", strerror(errno));
	if (pid == 0) {
		close(sv[0]);
		close(report);
		signal(SIGPIPE, SIG_DFL);
		child(sv[1], argv, oldmask);
	}
	close(sv[1]);
	int lfd = -1;
	if (sup_mech == MECH_PTRACE) {
		start_traced(sv[0], pid, argv[0]);
	} else {
		lfd = receive_listener(sv[0], pid, argv[0]);
		int rc = notify_init(lfd);
		if (rc < 0) {
			kill(pid, SIGKILL);
			die(126, "refusing to run %s: seccomp notifications unusable: %s", argv[0], strerror(-rc));
		}
	}
	struct status_msg m = { MSG_STARTED, pid };
	if (send(report, &m, sizeof m, MSG_NOSIGNAL) != (ssize_t)sizeof m || send(sv[0], "g", 1, MSG_NOSIGNAL) != 1) {
		kill(pid, SIGKILL);
		die(126, "cannot start %s", argv[0]);
	}
	log_debug("supervising %s (pid %d) via %s", argv[0], (int)pid, sup_config.lib->proxy_text);
	if (sup_mech == MECH_PTRACE) { /* the exec stops for us: the answer comes while we serve */
		serve(-1, pid, report, sv[0], argv[0]);
		return;
	}
	/* exec failed: the child says why before it exits (127/126, passed on as its status) */
	int err = 0;
	if (recv(sv[0], &err, sizeof err, 0) == (ssize_t)sizeof err && err)
		log_error("cannot run %s: %s", argv[0], strerror(err));
	close(sv[0]);
	serve(lfd, pid, report, -1, argv[0]);
}

static void server_died(void)
{
	if (sup_mech == MECH_PTRACE) /* PTRACE_O_EXITKILL: see ptrace_seize */
		log_error("the supervisor process has died: the program has been killed with it");
	else
		log_error("the supervisor process has died: the program's connections and datagrams fail from now "
			  "on (ENOSYS)");
}

/* Fds 0-2 open (on /dev/null if the caller closed them), so that no fd of ours gets one of
 * those numbers, which the supervisor later points at /dev/null and the program inherits. */
static void standard_fds_open(void)
{
	struct stat st;
	for (int fd = 0; fd < 3; fd++)
		if (fstat(fd, &st) < 0 && open("/dev/null", O_RDWR) != fd)
			die(126, "cannot open /dev/null: %s", strerror(errno));
}

/* Reads every report the supervisor process has queued: the program's pid, or its exit
 * status (returned; else -1). Closes *fd when the supervisor is gone. */
static int read_reports(int *fd, pid_t *pid)
{
	struct status_msg m;
	while (*fd >= 0) {
		ssize_t n = recv(*fd, &m, sizeof m, MSG_DONTWAIT);
		if (n == (ssize_t)sizeof m && m.kind == MSG_STARTED) {
			*pid = m.value;
		} else if (n == (ssize_t)sizeof m && m.kind == MSG_EXITED) {
			return m.value;
		} else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
			break;
		} else if (n <= 0) {
			close(*fd); /* the supervisor is gone: the program, if any, is ours now */
			*fd = -1;
		}
	}
	return -1;
}

int main(int argc, char **argv)
{
	struct options o = { 0 };
	(void)argc;
	standard_fds_open();
	int first = parse_options(argv, &o);
	setup_logging(&o);
	if (!argv[first])
		die(2, "no program given (see --help)");
	configure(&o);
	choose_mechanism(&o);
	if (dns_init() < 0)
		die(126, "cannot open the DNS responder on loopback: %s", strerror(errno));

	/* Two processes: this one, which the caller waits for, only waits for the program's status
	 * and passes signals on; its child, the supervisor, starts the program and serves it. This
	 * one is a subreaper too: if the supervisor dies, the program becomes its child, and its
	 * status still comes back. */
	sigset_t mask, old;
	sigemptyset(&mask);
	sigaddset(&mask, SIGCHLD);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	sigaddset(&mask, SIGQUIT);
	sigprocmask(SIG_BLOCK, &mask, &old);
	signal(SIGPIPE, SIG_IGN);
	int sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	int rp[2];
	if (sfd < 0 || prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0 ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, rp) < 0)
		die(126, "cannot start: %s", strerror(errno));
	pid_t server = fork();
	if (server < 0)
		die(126, "cannot fork: %s", strerror(errno));
	if (server == 0) {
		close(rp[0]);
		close(sfd);
		supervisor_main(argv + first, &old, rp[1]);
	}
	close(rp[1]);
	dns_close(); /* this process serves nothing */

	pid_t pid = -1; /* the program, once the supervisor has started it */
	for (;;) {
		struct pollfd p[2] = { { .fd = sfd, .events = POLLIN }, { .fd = rp[0], .events = POLLIN } };
		if (poll(p, rp[0] >= 0 ? 2 : 1, -1) < 0) {
			if (errno == EINTR)
				continue;
			die(1, "poll: %s", strerror(errno));
		}
		int reported = read_reports(&rp[0], &pid);
		if (reported >= 0)
			return reported;
		if (!(p[0].revents & POLLIN))
			continue;
		struct signalfd_siginfo si;
		while (read(sfd, &si, sizeof si) == (ssize_t)sizeof si) {
			/* a terminal's signal reached the whole group already (si_pid 0) */
			if (si.ssi_signo != SIGCHLD && si.ssi_pid != 0 && pid > 0)
				kill(pid, (int)si.ssi_signo);
		}
		int status;
		pid_t w;
		while ((w = waitpid(-1, &status, WNOHANG)) > 0) {
			if (w == server) {
				server = -1;
				/* it reports the program's start and exit before it ends: maybe since we looked */
				if ((reported = read_reports(&rp[0], &pid)) >= 0)
					return reported;
				if (pid < 0) /* it never started the program: its status is the answer */
					return exit_status_of(status);
				server_died();
			} else if (w == pid) {
				return exit_status_of(status); /* reparented to us after the supervisor died */
			}
		}
	}
}
