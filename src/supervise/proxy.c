/* proxy.c - reaching a target through the proxy or chain of SOCKSIFY_PROXY on a socket of
 * ours, with a deadline: the library's hop machine (preload/handshake.c) does it, so the
 * supervisor speaks every hop kind (socks5, socks4/4a, http), chains strict and failover,
 * pipelines and falls back from a stalled pipelined request exactly as the library does. */
#include <errno.h>
#include <poll.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "endpoint.h"
#include "handshake.h"
#include "log.h"
#include "supervise.h"

int64_t now_ms(void)
{
	return monotonic_ms(); /* the hop machine's clock: deadlines pass between the two */
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

/* The first hop's address as a socket of family reaches it (v4-mapped for an IPv6 socket). */
static socklen_t proxy_addr_for(const struct config *c, int family, struct sockaddr_storage *pa)
{
	*pa = c->proxy_addr;
	return (socklen_t)endpoint_in_family(pa, c->proxy_addrlen, family);
}

int proxy_connect(int fd, const struct socks5_addr *dst, int64_t deadline_ms)
{
	return proxy_connect_via(sup_config.lib, fd, dst, deadline_ms);
}

int proxy_connect_via(const struct config *c, int fd, const struct socks5_addr *dst, int64_t deadline_ms)
{
	char text[300];
	int family = 0;
	socklen_t l = sizeof family;
	getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &family, &l);
	struct sockaddr_storage pa;
	socklen_t palen = proxy_addr_for(c, family, &pa);
	struct handshake hs;
	handshake_init(&hs, c, (struct sockaddr *)&pa, palen, SOCKS5_CMD_CONNECT, dst);
	int err = handshake_run(&hs, fd, deadline_ms);
	socks5_addr_format(dst, text, sizeof text);
	if (err && hs.stalled) { /* microsocks: the same request again, step by step (as tcp.c) */
		log_warn("connect to %s: %s; asking step by step from now on (SOCKSIFY_PIPELINE=off skips the try)",
			 text, hs.why);
		handshake_restart(&hs, fd);
		err = handshake_run(&hs, fd, deadline_ms);
	}
	if (err)
		log_error("connect to %s via %s failed: %s", text, c->proxy_text, hs.why);
	return err;
}

int proxy_is_direct(const struct sockaddr *sa, socklen_t len)
{
	return config_is_direct(sup_config.lib, sa, len);
}
