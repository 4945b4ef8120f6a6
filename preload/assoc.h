/* assoc.h - a SOCKS5 UDP association (RFC 1928 section 7) behind one datagram socket.
 *
 * Made on the first proxied datagram, shared by the socket's dup'd fds
 * (reference counted), closed with the last one. Its TCP control connection
 * is the library's own fd; if the program closes it, the association stops
 * using that number (it may be the program's again). */
#ifndef SOCKSIFY_ASSOC_H
#define SOCKSIFY_ASSOC_H

#include <pthread.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <time.h>

#include "socks5.h"

struct config;

/* Milliseconds of a monotonic clock at the kernel tick's resolution (a few ms):
 * a vDSO read, no system call, cheap enough for every datagram. */
static inline long long coarse_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

#define ASSOC_RECENT 16

struct udp_assoc {
	atomic_int refs;
	atomic_int ctrl; /* TCP control connection, -1 once lost */
	atomic_llong checked_ms; /* when assoc_alive() last looked at ctrl */
	struct sockaddr_storage relay; /* in the datagram socket's family */
	socklen_t relaylen;
	/* What the program sent to recently, to give replies the source it expects:
	 * a name's replies come from the fake address the program used for it. */
	pthread_mutex_t lock;
	unsigned long long id; /* unique in the process: a thread's cache of it is never another's */
	atomic_uint changes; /* bumped (under lock) whenever recent[] is written */
	unsigned next;
	struct {
		struct socks5_addr wire; /* as put in the header (ATYP DOMAIN for names) */
		struct sockaddr_storage sent; /* as the program wrote it */
		socklen_t sentlen;
	} recent[ASSOC_RECENT];
};

/* Sets up an association for the datagram socket fd of family domain.
 * Returns it with one reference, or NULL with *err set (an errno). */
struct udp_assoc *assoc_open(int fd, int domain, const struct config *c, int *err);

void assoc_ref(struct udp_assoc *a);
void assoc_unref(struct udp_assoc *a);
/* The program closed or replaced the control fd: never touch that number again. */
void assoc_ctrl_lost(struct udp_assoc *a);

/* 0 once the proxy has ended the association (its control connection closed,
 * or the program closed our fd of it). Looks at most every ASSOC_CHECK_MS. */
#define ASSOC_CHECK_MS 200
int assoc_alive(struct udp_assoc *a);

/* 1 if sa is the association's relay. */
int assoc_is_relay(const struct udp_assoc *a, const struct sockaddr *sa, socklen_t len);

/* Remembers that the program sent to sent (header address wire). */
void assoc_note_sent(struct udp_assoc *a, const struct socks5_addr *wire, const struct sockaddr *sent,
		     socklen_t sentlen);

/* The source address to report for a reply whose header says src, in the
 * socket's family. Returns its length. */
socklen_t assoc_reply_source(struct udp_assoc *a, int domain, const struct socks5_addr *src,
			     struct sockaddr_storage *out);

#endif
