/* socks5d.h - the SOCKS5 server: N worker threads, each with its own epoll
 * loop, its own SO_REUSEPORT listeners, resolver and timers (struct server),
 * small per-connection state. A session, and a UDP association with it,
 * lives and dies in the worker that accepted it; the only state workers
 * share is struct shared. */
#ifndef SOCKS5D_H
#define SOCKS5D_H

#include <netinet/in.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "log.h"
#include "netlist.h"
#include "socks5.h"

#define SOCKS5D_VERSION "0.1.0"

/* Relay buffers are taken from a pool only while data is in flight, so an
 * idle session costs no buffer memory at all. */
#define RELAY_BUF_SIZE (16 * 1024)
#define BUFPOOL_KEEP 64
/* Holds the largest handshake message (an RFC 1929 request, 513 bytes). */
#define HS_BUF_SIZE 1024
#define MAX_TARGET_ADDRS 16
/* After an error reply: how long we drain the client before closing, so
 * that unread bytes do not turn our close into an RST that eats the reply. */
#define LINGER_MS 2000
#define FD_RESERVE 32

union sockaddr_any {
	struct sockaddr sa;
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
};

struct user {
	char *name, *pass;
	size_t name_len, pass_len;
};

struct listen_spec {
	union sockaddr_any addr;
	socklen_t len;
};

/* One --allow-to or --deny-to; the rules are tried in command-line order. */
struct target_rule {
	bool allow;
	struct netlist net;
};

struct config {
	struct listen_spec *listens;
	size_t nlistens;
	struct user *users; /* RFC 1929 is required iff nusers > 0 */
	size_t nusers;
	bool allow_open; /* a non-loopback listener without auth is allowed */
	bool auth_any; /* --auth-any: RFC 1929 required, any login accepted (and logged) */
	struct target_rule *target_rules;
	size_t ntarget_rules;
	struct netlist *allow_from; /* NULL: every client */
	const char *run_as; /* --user: drop to this account after binding */
	int connect_timeout_ms;
	int handshake_timeout_ms;
	long max_conns; /* 0: derive from RLIMIT_NOFILE */
	int resolver_threads;
	int udp_timeout_ms; /* idle UDP associations end after this */
	int bind_timeout_ms; /* a BIND waits this long for its peer */
	int workers; /* 0: one per CPU */
	/* --external: source of outgoing connections and UDP, BIND's listener;
	 * sa_family 0 where not given (the kernel chooses). */
	union sockaddr_any external4, external6;
	enum log_level log_level;
	char **strings; /* -c FILE's values, owned here (run_as may point into them) */
	size_t nstrings;
};

/* rules.c: address as 16 bytes (IPv4 as v4-mapped) and port; false for other families */
bool sockaddr_ip16(const union sockaddr_any *a, uint8_t ip[16], uint16_t *port);
/* rules.c: 0.0.0.0, :: or ::ffff:0.0.0.0 (or not an IP address at all) */
bool sockaddr_is_any(const union sockaddr_any *a);

/* options.c */
enum { OPTIONS_OK, OPTIONS_EXIT_OK, OPTIONS_BAD };
int options_parse(int argc, char **argv, struct config *cfg);
void options_free(struct config *cfg);
int sockaddr_format(const union sockaddr_any *a, char *buf, size_t cap);
/* the --external address for family (port 0), or NULL */
const union sockaddr_any *config_external(const struct config *cfg, int family);

/* rules.c: who may use us, and where to */
enum target_verdict { TARGET_OK, TARGET_DENIED, TARGET_LOOP };
struct server;
bool client_allowed_by_rules(const struct config *cfg, const union sockaddr_any *peer);
enum target_verdict target_check(const struct server *srv, const union sockaddr_any *dst);
const char *target_verdict_reason(enum target_verdict v);
int privileges_drop(const char *name);

/* auth.c */
const struct user *auth_check(const struct config *cfg, const struct socks5_credentials *cred);
size_t escape_for_log(char *dst, size_t cap, const char *src, size_t len);

/* timer.c: FIFO queues of deadlines. Every entry of one queue has the same
 * duration, so appending keeps it sorted and all operations are O(1). */
struct timer {
	struct timer *prev, *next;
	int64_t deadline_ms;
};

struct timerq {
	struct timer head;
	int64_t duration_ms;
};

void timerq_init(struct timerq *q, int64_t duration_ms);
void timer_arm(struct timerq *q, struct timer *t, int64_t now_ms);
void timer_cancel(struct timer *t);
struct timer *timerq_pop_expired(struct timerq *q, int64_t now_ms);
int64_t timerq_next_deadline(const struct timerq *q);
int64_t clock_now_ms(void);

/* What epoll_event.data.ptr points at: the first member of each watched object. */
enum watch_kind {
	WATCH_LISTENER,
	WATCH_CLIENT,
	WATCH_TARGET,
	WATCH_RESOLVER,
	WATCH_UDP,
	WATCH_STOP,
	WATCH_STATUS,
};

struct watch {
	enum watch_kind kind;
};

struct endpoint {
	struct watch w;
	int fd;
	uint32_t events; /* interest currently registered with epoll */
	bool registered;
	bool hup; /* epoll said HUP: watching it with no interest would spin */
	struct conn *conn;
};

struct listener {
	struct watch w;
	int fd;
	union sockaddr_any addr;
};

enum conn_state {
	ST_GREETING,
	ST_AUTH,
	ST_REQUEST,
	ST_RESOLVING,
	ST_CONNECTING,
	ST_RELAY,
	ST_UDP, /* UDP ASSOCIATE: the TCP connection only keeps the association alive */
	ST_BIND_WAIT, /* BIND: the first reply sent, c->target is our listener */
	ST_LINGER,
	ST_CLOSED,
};

enum session_result {
	RES_OK,
	RES_REFUSED,
	RES_NET_UNREACHABLE,
	RES_HOST_UNREACHABLE,
	RES_TIMEOUT,
	RES_AUTH_FAILED,
	RES_NO_ACCEPTABLE_METHOD,
	RES_BAD_REQUEST,
	RES_CMD_UNSUPPORTED,
	RES_HANDSHAKE_TIMEOUT,
	RES_NOT_ALLOWED,
	RES_ERROR,
};

/* Bytes waiting to be written; data is a pool buffer, NULL when empty. */
struct buf {
	uint8_t *data;
	uint32_t off, len;
};

/* After this many bytes a direction moves its data with splice() through
 * its own pipe: short exchanges (and idle sessions) never pay two fds for it. */
#define SPLICE_AFTER_BYTES (64 * 1024)
/* Asked for with F_SETPIPE_SZ; the default (64 KiB) is kept if refused. */
#define SPLICE_PIPE_SIZE (256 * 1024)
#define SPLICE_MIN_PIPE_SIZE (64 * 1024) /* a smaller pipe is not worth its fds */

/* One direction of a session. Its data sits either in buf (read/write) or
 * in the pipe (splice), never in both at once. */
struct flow {
	struct buf buf;
	int pipe_rd, pipe_wr; /* -1 until the flow has moved SPLICE_AFTER_BYTES */
	uint32_t in_pipe; /* bytes spliced in, not yet out */
	bool no_splice; /* pipe creation failed once: stay with read/write */
	uint64_t bytes; /* written to the destination */
	bool eof; /* the source sent FIN */
	bool shut; /* FIN passed on to the destination */
};

struct handshake {
	uint32_t len;
	uint8_t in[HS_BUF_SIZE];
};

struct resolve_job;
struct udp_assoc;
struct udp_batch;

struct conn {
	struct endpoint client, target;
	struct conn *prev, *next; /* all sessions, or the dead list once closed */
	enum conn_state state;
	enum session_result result;
	bool result_set;
	uint8_t cmd; /* 0 until a request was read */
	struct flow up; /* client -> target */
	struct flow down; /* target -> client; also carries our replies */
	uint32_t reply_bytes; /* our own bytes in down, not counted as relayed */
	struct timer timer;
	struct handshake *hs; /* freed when the relay starts */
	char *user; /* as sent by the client, escaped for the log */
	char *target_name; /* as requested, escaped for the log */
	union sockaddr_any *addrs; /* where to connect, in order; BIND: the expected peer */
	uint8_t naddrs, next_addr;
	int connect_errno; /* last failure, for the REP code */
	struct resolve_job *job;
	struct udp_assoc *udp; /* UDP ASSOCIATE only; freed with the struct */
	union sockaddr_any peer;
	int64_t start_us;
};

struct bufpool {
	void *free_list;
	size_t nfree;
};

struct server_stats {
	uint64_t sessions, ok, failed, rejected, up, down;
	uint64_t spliced; /* flows that moved to splice() */
	uint64_t dgrams_up, dgrams_down; /* UDP datagrams of ended associations */
};

/* One worker's numbers for the SIGUSR1 status line: ended sessions plus
 * the ones still open, taken by the worker itself when asked. */
struct status_counts {
	uint64_t conns, handshake, connecting, relay, udp, bind, closing;
	uint64_t sessions, rejected, up, down, dgrams_up, dgrams_down;
};

/* A worker's reply slot: the worker fills it and bumps seq under the lock
 * (only when asked, so the relay never pays for it), then writes done_fd. */
struct status_slot {
	struct watch w; /* WATCH_STATUS: ask_fd became readable */
	int ask_fd; /* eventfd, written by the main thread */
	pthread_mutex_t lock;
	uint64_t seq;
	struct status_counts counts;
};

/* What every worker may touch: the session count behind --max-conns, the
 * spare fd (fds are the process's, so one spare, under a lock), and the
 * eventfd that, once written, tells every worker to stop. */
struct shared {
	_Atomic long nconns;
	long max_conns;
	pthread_mutex_t spare_lock; /* held around accept4 too: one accept may not take another's spare */
	_Atomic int spare_fd; /* closed to accept-and-drop when out of fds; -1: lost, retaken on a close */
	struct watch stop_watch;
	int stop_fd;
	int status_done_fd; /* eventfd: a worker has filled its status slot */
};

struct server {
	const struct config *cfg;
	struct shared *shared;
	unsigned index; /* worker number, for logs */
	int epfd;
	struct listener *listeners;
	size_t nlisteners;
	int64_t listen_resume_ms; /* listeners paused after running out of fds; 0: not */
	struct timerq hs_timers, connect_timers, linger_timers, udp_timers, bind_timers;
	struct conn *conns; /* live sessions */
	struct conn *dead; /* closed during this batch, freed after it */
	size_t nconns; /* this worker's */
	struct bufpool pool;
	struct resolver *resolver;
	struct udp_batch *udp; /* datagram buffers, made with the first association */
	int64_t now_ms;
	int64_t limit_warned_ms;
	int64_t udp_warned_ms;
	int64_t from_warned_ms;
	uint64_t from_refused_unlogged; /* --allow-from refusals not logged yet */
	struct server_stats stats;
	struct status_slot status;
};

/* server.c. server_init opens the listeners; with a first worker given, its
 * bound addresses (port 0 resolved) are shared with SO_REUSEPORT.
 * server_start starts the resolver: after the privilege drop. */
int server_init(struct server *srv, const struct config *cfg, struct shared *sh, unsigned index,
		const struct server *first, bool reuseport);
int server_start(struct server *srv, int resolver_threads);
int server_run(struct server *srv);
void server_destroy(struct server *srv);
void conn_update_interest(struct server *srv, struct conn *c);
void conn_set_result(struct conn *c, enum session_result r);
void conn_close(struct server *srv, struct conn *c, bool reset);
void conn_counts(const struct conn *c, uint64_t *up, uint64_t *down, uint64_t *dgrams_up, uint64_t *dgrams_down);

/* status.c: the SIGUSR1 status line. Workers answer in their own loop;
 * status_log runs in the main thread, asks them all and logs the sum. */
int status_slot_init(struct server *srv);
void status_slot_destroy(struct status_slot *slot);
void server_status_reply(struct server *srv);
void status_log(struct status_slot *const *slots, int n, const struct shared *sh, int64_t started_ms);
int endpoint_set_events(struct server *srv, struct endpoint *ep, uint32_t events);
void endpoint_close(struct endpoint *ep, bool reset);
void socket_tune(int fd);
int accept_nonblock(struct server *srv, int lfd, union sockaddr_any *peer);
bool accept_error_is_transient(int err);

/* session.c: the handshake up to the request */
void session_start(struct server *srv, struct conn *c);
void session_on_client(struct server *srv, struct conn *c, uint32_t events);
void session_reply_and_linger(struct server *srv, struct conn *c, uint8_t rep, enum session_result r);
void session_on_timeout(struct server *srv, struct conn *c);
void session_answer_and_linger(struct server *srv, struct conn *c, uint8_t rep, const struct socks5_addr *bnd,
			       enum session_result r);

/* resolve.c: Tor's RESOLVE and RESOLVE_PTR */
void resolve_start(struct server *srv, struct conn *c, uint8_t cmd, const struct socks5_addr *dst);

/* connect.c: reaching the target */
struct addrinfo;
int addrs_from_addrinfo(const struct addrinfo *ai, uint16_t port, union sockaddr_any **out, uint8_t *count);
void connect_start(struct server *srv, struct conn *c, const struct socks5_addr *dst);
void connect_on_target(struct server *srv, struct conn *c, uint32_t events);
void connect_on_resolved(struct server *srv, struct resolve_job *job);
void connect_on_timeout(struct server *srv, struct conn *c);

/* relay.c */
void relay_start(struct server *srv, struct conn *c);
void relay_start_reply(struct server *srv, struct conn *c, const struct socks5_addr *bnd);
void relay_on_event(struct server *srv, struct conn *c, struct endpoint *ep, uint32_t events);
int flow_flush(struct server *srv, struct flow *f, int dst_fd);
bool flow_pending(const struct flow *f);
void flow_init(struct flow *f);
void flow_release(struct server *srv, struct flow *f);
int buf_append(struct server *srv, struct buf *b, const void *data, size_t len);
void buf_release(struct server *srv, struct buf *b);
void bufpool_destroy(struct bufpool *p);

/* bind.c: BIND */
void bind_start(struct server *srv, struct conn *c, const struct socks5_addr *dst);
void bind_on_event(struct server *srv, struct conn *c, struct endpoint *ep, uint32_t events);
void bind_on_timeout(struct server *srv, struct conn *c);

/* udp.c: UDP ASSOCIATE */
void udp_assoc_start(struct server *srv, struct conn *c, const struct socks5_addr *dst);
void udp_on_control(struct server *srv, struct conn *c, uint32_t events);
void udp_on_event(struct server *srv, struct watch *w, uint32_t events);
void udp_on_idle(struct server *srv, struct conn *c);
void udp_assoc_close(struct server *srv, struct udp_assoc *a);
void udp_assoc_free(struct udp_assoc *a);
void udp_batch_free(struct udp_batch *b);
void udp_assoc_counts(const struct udp_assoc *a, uint64_t *up, uint64_t *down, uint64_t *dgrams_up,
		      uint64_t *dgrams_down);
int udp_assoc_format_counts(const struct udp_assoc *a, char *buf, size_t cap, uint64_t *up, uint64_t *down);

/* resolver.c: getaddrinfo in worker threads, results back through an eventfd */
struct resolve_job {
	struct resolve_job *next;
	/* Main thread only. owner is whoever asked (a session, a UDP name);
	 * it sets owner to NULL when it goes away, and then on_done is not called. */
	void *owner;
	void (*on_done)(struct server *srv, struct resolve_job *job);
	char host[256]; /* the name to look up; for a reverse lookup, the name found */
	uint16_t port;
	bool reverse; /* RESOLVE_PTR: getnameinfo() of reverse_addr */
	union sockaddr_any reverse_addr;
	int gai_err;
	union sockaddr_any *addrs;
	uint8_t naddrs;
};

struct resolver *resolver_start(int nthreads, int epfd);
int resolver_submit(struct resolver *r, struct resolve_job *job);
void resolver_dispatch(struct server *srv, struct resolver *r);
void resolver_stop(struct resolver *r);
void resolve_job_free(struct resolve_job *job);

#endif
