/* resolve.c - SOCKSIFY_DNS=resolve: Tor's RESOLVE through the library's hop machine
 * (handshake.c), which sends the command like any other on a single socks5 hop. */
#include <errno.h>
#include <netdb.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "config.h"
#include "handshake.h"
#include "log.h"
#include "real.h"
#include "resolve.h"

int resolve_by_proxy(const struct config *c, uint8_t cmd, const struct socks5_addr *q, const char *what,
		     struct socks5_addr *answer)
{
	char why[128];
	if (!c->proxy_ok) {
		log_error("SOCKSIFY_DNS=resolve: cannot resolve %s: no usable proxy (see the SOCKSIFY_PROXY error)", what);
		return EAI_FAIL;
	}
	if (!handshake_single_socks5(c, why, sizeof why)) {
		log_error("SOCKSIFY_DNS=resolve: cannot resolve %s: RESOLVE needs a single socks5:// proxy, not %s",
			  what, why);
		return EAI_FAIL;
	}
	int s = socket(c->proxy_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s < 0) {
		log_error("SOCKSIFY_DNS=resolve: cannot resolve %s: socket: %s", what, strerror(errno));
		return EAI_AGAIN;
	}
	struct handshake hs;
	handshake_init(&hs, c, (const struct sockaddr *)&c->proxy_addr, c->proxy_addrlen, cmd, q);
	int err = handshake_run(&hs, s, monotonic_ms() + c->timeout_ms);
	REAL(close)(s);
	int want_name = cmd == SOCKS5_CMD_RESOLVE_PTR;
	if (!err && (hs.bound.atyp == SOCKS5_ATYP_DOMAIN) != want_name) {
		log_error("SOCKSIFY_DNS=resolve: the proxy %s answered %s with %s", c->proxy_text, what,
			  want_name ? "an address, not a name" : "a name, not an address");
		return EAI_FAIL;
	}
	if (!err) {
		*answer = hs.bound;
		return 0;
	}
	if (hs.replied) {
		if (hs.rep == SOCKS5_REP_HOST_UNREACHABLE) {
			log_debug("SOCKSIFY_DNS=resolve: %s: not found by the proxy", what);
			return EAI_NONAME;
		}
		if (hs.rep == SOCKS5_REP_CMD_NOT_SUPPORTED) {
			log_error("SOCKSIFY_DNS=resolve: the proxy %s does not know Tor's RESOLVE command (%s); "
				  "use SOCKSIFY_DNS=remote with it", c->proxy_text, hs.why);
			return EAI_FAIL;
		}
	}
	if (!hs.reached || err == ETIMEDOUT) {
		log_error("SOCKSIFY_DNS=resolve: cannot resolve %s via %s: %s", what, c->proxy_text, hs.why);
		return EAI_AGAIN;
	}
	/* Servers without the command may just hang up on it (danted does). */
	log_error("SOCKSIFY_DNS=resolve: cannot resolve %s via %s: %s (a proxy that does not know Tor's RESOLVE "
		  "command may answer so: use SOCKSIFY_DNS=remote with it)", what, c->proxy_text, hs.why);
	return EAI_FAIL;
}
