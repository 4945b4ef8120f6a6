/* proxy.c - the SOCKS5 CONNECT on a socket of ours, with a deadline (the codec is src/socks5.c). */
#include <errno.h>
#include <poll.h>
#include <stdatomic.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "endpoint.h"
#include "log.h"
#include "supervise.h"

int64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int wait_fd(int fd, short events, int64_t deadline_ms)
{
	for (;;) {
		int64_t left = deadline_ms - now_ms();
		if (left <= 0)
			return 0;
		struct pollfd p = { .fd = fd, .events = events };
		int n = poll(&p, 1, left > 60000 ? 60000 : (int)left);
		if (n > 0)
			return 1;
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

int read_exact(int fd, void *buf, size_t n, int64_t deadline_ms)
{
	size_t got = 0;
	while (got < n) {
		ssize_t r = recv(fd, (char *)buf + got, n - got, MSG_DONTWAIT);
		if (r > 0) {
			got += (size_t)r;
			continue;
		}
		if (r == 0)
			return -ECONNRESET;
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		int w = wait_fd(fd, POLLIN, deadline_ms);
		if (w <= 0)
			return w == 0 ? -ETIMEDOUT : w;
	}
	return 0;
}

int write_all(int fd, const void *buf, size_t n, int64_t deadline_ms)
{
	size_t done = 0;
	while (done < n) {
		ssize_t r = send(fd, (const char *)buf + done, n - done, MSG_DONTWAIT | MSG_NOSIGNAL);
		if (r >= 0) {
			done += (size_t)r;
			continue;
		}
		if (errno != EAGAIN && errno != EINTR)
			return -errno;
		int w = wait_fd(fd, POLLOUT, deadline_ms);
		if (w <= 0)
			return w == 0 ? -ETIMEDOUT : w;
	}
	return 0;
}

int connect_until(int fd, const struct sockaddr *sa, socklen_t len, int64_t deadline_ms)
{
	if (connect(fd, sa, len) == 0)
		return 0;
	if (errno != EINPROGRESS && errno != EINTR)
		return -errno;
	int w = wait_fd(fd, POLLOUT, deadline_ms);
	if (w <= 0)
		return w == 0 ? -ETIMEDOUT : w;
	int err = 0;
	socklen_t l = sizeof err;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &l) < 0)
		return -errno;
	return -err;
}

/* Reads a reply (VER REP RSV ATYP ADDR PORT) exactly: bytes after it are the target's. */
static int read_reply(int fd, uint8_t *rep, int64_t deadline_ms)
{
	uint8_t buf[SOCKS5_REQUEST_MAX];
	int r = read_exact(fd, buf, 5, deadline_ms);
	if (r < 0)
		return r;
	size_t rest;
	switch (buf[3]) {
	case SOCKS5_ATYP_IPV4:
		rest = 4 + 2 - 1;
		break;
	case SOCKS5_ATYP_IPV6:
		rest = 16 + 2 - 1;
		break;
	case SOCKS5_ATYP_DOMAIN:
		rest = (size_t)buf[4] + 2;
		break;
	default:
		return -EPROTO;
	}
	if ((r = read_exact(fd, buf + 5, rest, deadline_ms)) < 0)
		return r;
	if (socks5_decode_reply(buf, 5 + rest, rep, NULL) != (ssize_t)(5 + rest))
		return -EPROTO;
	return 0;
}

/* The errno for a failure on the way: as the library's table in README. */
static int io_errno(int neg)
{
	return neg == -ETIMEDOUT ? ETIMEDOUT : ECONNREFUSED;
}

/* Pipelining (SOCKSIFY_PIPELINE, as the library): without credentials the greeting and the
 * CONNECT leave in one write, one round trip to the proxy instead of two. In auto mode a proxy
 * that answers the greeting but not the request within max(200 ms, 4 greeting round trips)
 * (microsocks reads one message per recv() and drops the rest) is asked again step by step, on
 * the same socket reconnected, and the supervisor stops pipelining. One owner: this atomic. */
#define STALL_MIN_MS 200
#define STALL_RTTS 4
static atomic_int pipeline_refused;

static int may_pipeline(const struct sup_config *cfg)
{
	if (cfg->url.has_auth || cfg->pipeline == PIPELINE_OFF)
		return 0;
	return cfg->pipeline == PIPELINE_ON || !atomic_load_explicit(&pipeline_refused, memory_order_relaxed);
}

/* The proxy's address as a socket of family reaches it (v4-mapped for an IPv6 socket). */
static socklen_t proxy_addr_for(int family, struct sockaddr_storage *pa)
{
	*pa = sup_config.proxy_addr;
	return (socklen_t)endpoint_in_family(pa, sup_config.proxy_addrlen, family);
}

static int check_choice(const uint8_t *buf, uint8_t method)
{
	uint8_t choice;
	if (socks5_decode_method_choice(buf, 2, &choice) != 2)
		return ECONNREFUSED;
	if (choice != method)
		return choice == SOCKS5_METHOD_NONE_ACCEPTABLE ? EACCES : ECONNREFUSED;
	return 0;
}

static int reply_errno(uint8_t rep)
{
	return rep == SOCKS5_REP_SUCCEEDED ? 0 : socks5_rep_to_errno(rep);
}

/* Greeting and CONNECT in one write. Returns 0 or an errno; -EAGAIN when the proxy stalled
 * on the request (then the caller goes step by step). */
static int connect_pipelined(int fd, const struct socks5_addr *dst, int64_t deadline_ms)
{
	uint8_t buf[2 + 1 + SOCKS5_REQUEST_MAX];
	uint8_t method = SOCKS5_METHOD_NOAUTH, rep;
	ssize_t g = socks5_encode_greeting(buf, sizeof buf, &method, 1);
	ssize_t n = socks5_encode_request(buf + g, sizeof buf - (size_t)g, SOCKS5_CMD_CONNECT, dst);
	if (n < 0)
		return EHOSTUNREACH;
	int64_t sent = now_ms();
	int r = write_all(fd, buf, (size_t)(g + n), deadline_ms);
	if (r < 0 || (r = read_exact(fd, buf, 2, deadline_ms)) < 0)
		return io_errno(r);
	if ((r = check_choice(buf, method)) != 0)
		return r;
	int64_t rtt = now_ms() - sent, stall = deadline_ms;
	if (sup_config.pipeline == PIPELINE_AUTO) {
		int64_t wait = rtt * STALL_RTTS > STALL_MIN_MS ? rtt * STALL_RTTS : STALL_MIN_MS;
		stall = now_ms() + wait < deadline_ms ? now_ms() + wait : deadline_ms;
	}
	r = read_reply(fd, &rep, stall);
	if (r == -ETIMEDOUT && stall < deadline_ms) {
		atomic_store_explicit(&pipeline_refused, 1, memory_order_relaxed);
		log_warn("the proxy answered the greeting but not the pipelined request: asking step by step "
			 "from now on (SOCKSIFY_PIPELINE=off skips the try)");
		return -EAGAIN;
	}
	return r < 0 ? io_errno(r) : reply_errno(rep);
}

static int connect_step_by_step(int fd, const struct socks5_addr *dst, int64_t deadline_ms)
{
	const struct sup_config *cfg = &sup_config;
	uint8_t buf[SOCKS5_AUTH_REQUEST_MAX], rep;
	uint8_t method = cfg->url.has_auth ? SOCKS5_METHOD_USERPASS : SOCKS5_METHOD_NOAUTH;
	ssize_t n = socks5_encode_greeting(buf, sizeof buf, &method, 1);
	int r = write_all(fd, buf, (size_t)n, deadline_ms);
	if (r < 0 || (r = read_exact(fd, buf, 2, deadline_ms)) < 0)
		return io_errno(r);
	if ((r = check_choice(buf, method)) != 0)
		return r;
	if (method == SOCKS5_METHOD_USERPASS) {
		uint8_t status;
		n = socks5_encode_auth_request(buf, sizeof buf, cfg->url.user, strlen(cfg->url.user), cfg->url.pass,
					       strlen(cfg->url.pass));
		if (n < 0)
			return EACCES;
		if ((r = write_all(fd, buf, (size_t)n, deadline_ms)) < 0 ||
		    (r = read_exact(fd, buf, 2, deadline_ms)) < 0)
			return io_errno(r);
		if (socks5_decode_auth_reply(buf, 2, &status) != 2)
			return ECONNREFUSED;
		if (status != SOCKS5_AUTH_SUCCESS)
			return EACCES;
	}
	n = socks5_encode_request(buf, sizeof buf, SOCKS5_CMD_CONNECT, dst);
	if (n < 0)
		return EHOSTUNREACH;
	if ((r = write_all(fd, buf, (size_t)n, deadline_ms)) < 0 || (r = read_reply(fd, &rep, deadline_ms)) < 0)
		return io_errno(r);
	return reply_errno(rep);
}

int proxy_connect(int fd, const struct socks5_addr *dst, int64_t deadline_ms)
{
	int family = 0;
	socklen_t l = sizeof family;
	getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &l);
	struct sockaddr_storage pa;
	socklen_t palen = proxy_addr_for(family, &pa);
	int r = connect_until(fd, (struct sockaddr *)&pa, palen, deadline_ms);
	if (r < 0)
		return r == -ETIMEDOUT ? ETIMEDOUT : ECONNREFUSED;
	if (may_pipeline(&sup_config)) {
		r = connect_pipelined(fd, dst, deadline_ms);
		if (r != -EAGAIN)
			return r;
		/* the stalled session goes; the same socket, disconnected, connects again */
		struct sockaddr unspec = { .sa_family = AF_UNSPEC };
		if (connect(fd, &unspec, sizeof unspec) < 0)
			return ECONNREFUSED;
		r = connect_until(fd, (struct sockaddr *)&pa, palen, deadline_ms);
		if (r < 0)
			return r == -ETIMEDOUT ? ETIMEDOUT : ECONNREFUSED;
	}
	return connect_step_by_step(fd, dst, deadline_ms);
}
