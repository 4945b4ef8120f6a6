/* fdtable.c - a two-level table indexed by fd, pages allocated on first use. */
#include "fdtable.h"

#include <fcntl.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <sys/stat.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "assoc.h"
#include "fork.h"
#include "real.h"

#define PAGE_BITS 10
#define PAGE_SIZE (1 << PAGE_BITS)
#define PAGES 1024 /* fds 0 .. 1M-1 */

struct fd_entry {
	_Atomic unsigned char kind;
	socklen_t peerlen;
	struct sockaddr_storage peer;
	socklen_t locallen;
	struct sockaddr_in6 local; /* or a sockaddr_in in its first bytes */
	struct udp_assoc *assoc; /* UDP: owned reference; INTERNAL: the owner, not a reference */
	dev_t dev; /* what the fd referred to when we marked it: an fd closed behind our */
	ino_t ino; /* back (fclose, a raw syscall) and reused is not mistaken for it */
	_Atomic long long seen_ms; /* when dev/ino were last found current (coarse_ms) */
	atomic_uchar busy; /* entry_lock: kind, peer, assoc change only under it (and the table's lock) */
};

struct fd_page {
	struct fd_entry e[PAGE_SIZE];
};

static _Atomic(struct fd_page *) pages[PAGES];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* The FD_INTERNAL fds, so that close_range() can step around them without scanning the table. */
#define INTERNAL_MAX 256
static int internal[INTERNAL_MAX];
static size_t ninternal;

static void internal_remove(int fd)
{
	for (size_t i = 0; i < ninternal; i++)
		if (internal[i] == fd) {
			internal[i] = internal[--ninternal];
			return;
		}
}

static struct fd_entry *entry_of(int fd)
{
	if (fd < 0 || fd >= PAGES * PAGE_SIZE)
		return NULL;
	struct fd_page *p = atomic_load_explicit(&pages[fd >> PAGE_BITS], memory_order_acquire);
	return p ? &p->e[fd & (PAGE_SIZE - 1)] : NULL;
}

/* Called with the lock held. */
static struct fd_entry *entry_alloc(int fd)
{
	struct fd_entry *e = entry_of(fd);
	if (e || fd < 0 || fd >= PAGES * PAGE_SIZE)
		return e;
	struct fd_page *p = calloc(1, sizeof *p);
	if (!p)
		return NULL;
	atomic_store_explicit(&pages[fd >> PAGE_BITS], p, memory_order_release);
	return &p->e[fd & (PAGE_SIZE - 1)];
}

/* The datagram hot path reads an entry under this alone, never the table's lock:
 * held for a copy or an update of a few fields, contended only on one fd. */
static void entry_lock(struct fd_entry *e)
{
	while (atomic_exchange_explicit(&e->busy, 1, memory_order_acquire))
		sched_yield();
}

static void entry_unlock(struct fd_entry *e)
{
	atomic_store_explicit(&e->busy, 0, memory_order_release);
}

static enum fd_kind kind_of(const struct fd_entry *e)
{
	return (enum fd_kind)atomic_load_explicit(&e->kind, memory_order_relaxed);
}

static void set_kind(struct fd_entry *e, enum fd_kind k)
{
	atomic_store_explicit(&e->kind, (unsigned char)k, memory_order_relaxed);
}

enum fd_kind fdtable_kind(int fd)
{
	struct fd_entry *e = entry_of(fd);
	return e ? kind_of(e) : FD_UNMANAGED;
}

static void entry_seen(struct fd_entry *e)
{
	atomic_store_explicit(&e->seen_ms, coarse_ms(), memory_order_relaxed);
}

/* Records what fd refers to now. */
static void entry_identify(int fd, struct fd_entry *e)
{
	struct stat st;
	if (fstat(fd, &st) == 0) {
		e->dev = st.st_dev;
		e->ino = st.st_ino;
	} else {
		e->dev = 0;
		e->ino = 0;
	}
	entry_seen(e);
}

/* 1 if fd still refers to what e describes. */
static int entry_current(int fd, struct fd_entry *e)
{
	struct stat st;
	if (fstat(fd, &st) != 0 || st.st_dev != e->dev || st.st_ino != e->ino)
		return 0;
	entry_seen(e);
	return 1;
}

/* Empties e, with both locks held. Returns a reference the caller must drop after unlocking. */
static struct udp_assoc *entry_clear(int fd, struct fd_entry *e)
{
	struct udp_assoc *drop = NULL;
	if (kind_of(e) == FD_INTERNAL) {
		if (e->assoc)
			assoc_ctrl_lost(e->assoc);
		internal_remove(fd);
	} else {
		drop = e->assoc;
	}
	e->assoc = NULL;
	e->peerlen = 0;
	e->locallen = 0;
	set_kind(e, FD_UNMANAGED);
	return drop;
}

/* With the lock held: e, or NULL after forgetting it if fd now refers to something else. */
static struct fd_entry *entry_checked(int fd, struct udp_assoc **drop)
{
	struct fd_entry *e = entry_of(fd);
	if (!e || kind_of(e) == FD_UNMANAGED)
		return NULL;
	if (!entry_current(fd, e)) {
		entry_lock(e);
		*drop = entry_clear(fd, e);
		entry_unlock(e);
		return NULL;
	}
	return e;
}

enum fd_kind fdtable_kind_checked(int fd)
{
	struct udp_assoc *drop = NULL;
	if (fdtable_kind(fd) == FD_UNMANAGED)
		return FD_UNMANAGED;
	int saved = errno;
	pthread_mutex_lock(&lock);
	struct fd_entry *e = entry_checked(fd, &drop);
	enum fd_kind k = e ? kind_of(e) : FD_UNMANAGED;
	pthread_mutex_unlock(&lock);
	if (drop)
		assoc_unref(drop);
	errno = saved;
	return k;
}

/* With the lock held: copies e into out, with a reference on its association. */
static void entry_copy(const struct fd_entry *e, struct fd_info *out)
{
	out->kind = kind_of(e);
	out->peerlen = e->peerlen;
	memcpy(&out->peer, &e->peer, e->peerlen);
	out->locallen = e->locallen;
	memcpy(&out->local, &e->local, e->locallen);
	out->assoc = e->assoc;
	if (out->assoc)
		assoc_ref(out->assoc);
}

int fdtable_get(int fd, struct fd_info *out)
{
	int rc = -1, saved = errno;
	struct udp_assoc *drop = NULL;
	pthread_mutex_lock(&lock);
	struct fd_entry *e = entry_checked(fd, &drop);
	if (e && kind_of(e) != FD_INTERNAL) {
		entry_copy(e, out);
		rc = 0;
	}
	pthread_mutex_unlock(&lock);
	if (drop)
		assoc_unref(drop);
	errno = saved;
	return rc;
}

int fdtable_get_udp_trusted(int fd, struct fd_info *out)
{
	struct fd_entry *e = entry_of(fd);
	if (!e || (kind_of(e) != FD_UDP && kind_of(e) != FD_UDP_PROXIED))
		return -1;
	if (coarse_ms() - atomic_load_explicit(&e->seen_ms, memory_order_relaxed) >= FDTABLE_TRUST_MS)
		return fdtable_get(fd, out); /* time to look again */
	int rc = -1;
	entry_lock(e);
	if (kind_of(e) == FD_UDP || kind_of(e) == FD_UDP_PROXIED) {
		entry_copy(e, out);
		rc = 0;
	}
	entry_unlock(e);
	return rc;
}

/* peer (sa) and local (la) in one step: nobody sees the kind without them. */
static int set_tcp(int fd, enum fd_kind kind, const struct sockaddr *sa, socklen_t len, const struct sockaddr *la,
		   socklen_t llen)
{
	struct udp_assoc *drop = NULL;
	if (len > sizeof(struct sockaddr_storage) || llen > sizeof(struct sockaddr_in6))
		return -1;
	pthread_mutex_lock(&lock);
	struct fd_entry *e = entry_alloc(fd);
	if (e) {
		entry_lock(e);
		enum fd_kind was = kind_of(e);
		drop = entry_clear(fd, e);
		if (was == kind) /* a new BIND session in a listener's place: never unmanaged meanwhile */
			set_kind(e, kind);
		if (len)
			memcpy(&e->peer, sa, len);
		e->peerlen = len;
		if (llen)
			memcpy(&e->local, la, llen);
		e->locallen = llen;
		entry_identify(fd, e);
		set_kind(e, kind);
		entry_unlock(e);
	}
	pthread_mutex_unlock(&lock);
	if (drop)
		assoc_unref(drop);
	return e ? 0 : -1;
}

int fdtable_set_proxied(int fd, const struct sockaddr *sa, socklen_t len)
{
	return set_tcp(fd, FD_TCP_PROXIED, sa, len, NULL, 0);
}

int fdtable_set_bind(int fd, const struct sockaddr *bnd, socklen_t len)
{
	return set_tcp(fd, FD_BIND_LISTENER, NULL, 0, bnd, len);
}

int fdtable_set_local(int fd, const struct sockaddr *sa, socklen_t len)
{
	int rc = -1;
	if (len > sizeof(struct sockaddr_in6))
		return -1;
	pthread_mutex_lock(&lock);
	struct fd_entry *e = entry_of(fd);
	if (e && (kind_of(e) == FD_TCP_PROXIED || kind_of(e) == FD_BIND_LISTENER)) {
		entry_lock(e);
		memcpy(&e->local, sa, len);
		e->locallen = len;
		entry_unlock(e);
		rc = 0;
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

int fdtable_set_udp(int fd, const struct sockaddr *peer, socklen_t len)
{
	struct udp_assoc *drop = NULL;
	if (len > sizeof(struct sockaddr_storage))
		return -1;
	pthread_mutex_lock(&lock);
	struct fd_entry *e = entry_alloc(fd);
	if (e) {
		int same = (kind_of(e) == FD_UDP || kind_of(e) == FD_UDP_PROXIED) && entry_current(fd, e);
		entry_lock(e);
		if (!same) {
			drop = entry_clear(fd, e); /* not this UDP socket before: nothing to keep */
			entry_identify(fd, e);
		}
		if (len)
			memcpy(&e->peer, peer, len);
		e->peerlen = len;
		set_kind(e, e->assoc || len ? FD_UDP_PROXIED : FD_UDP);
		entry_unlock(e);
	}
	pthread_mutex_unlock(&lock);
	if (drop)
		assoc_unref(drop);
	return e ? 0 : -1;
}

struct udp_assoc *fdtable_attach_assoc(int fd, struct udp_assoc *a, struct udp_assoc *stale)
{
	struct udp_assoc *have = NULL, *drop = NULL;
	pthread_mutex_lock(&lock);
	struct fd_entry *e = entry_of(fd);
	if (e && (kind_of(e) == FD_UDP || kind_of(e) == FD_UDP_PROXIED)) {
		entry_lock(e);
		if (!e->assoc || e->assoc == stale) {
			drop = e->assoc;
			assoc_ref(a);
			e->assoc = a;
		}
		have = e->assoc;
		assoc_ref(have);
		set_kind(e, FD_UDP_PROXIED);
		entry_unlock(e);
	}
	pthread_mutex_unlock(&lock);
	if (drop)
		assoc_unref(drop);
	return have;
}

int fdtable_set_internal(int fd, struct udp_assoc *a)
{
	struct udp_assoc *drop = NULL;
	pthread_mutex_lock(&lock);
	struct fd_entry *e = entry_alloc(fd);
	if (e && ninternal < INTERNAL_MAX) {
		entry_lock(e);
		drop = entry_clear(fd, e);
		e->assoc = a;
		entry_identify(fd, e);
		set_kind(e, FD_INTERNAL);
		entry_unlock(e);
		internal[ninternal++] = fd;
	}
	pthread_mutex_unlock(&lock);
	if (drop)
		assoc_unref(drop);
	return e ? 0 : -1;
}

int fdtable_get_peer(int fd, struct sockaddr *sa, socklen_t *len)
{
	int rc = -1, saved = errno;
	struct udp_assoc *drop = NULL;
	pthread_mutex_lock(&lock);
	struct fd_entry *e = entry_checked(fd, &drop);
	if (e && e->peerlen && (kind_of(e) == FD_TCP_PROXIED || kind_of(e) == FD_UDP_PROXIED)) {
		socklen_t n = *len < e->peerlen ? *len : e->peerlen;
		memcpy(sa, &e->peer, n);
		*len = e->peerlen;
		rc = 0;
	}
	pthread_mutex_unlock(&lock);
	if (drop)
		assoc_unref(drop);
	errno = saved;
	return rc;
}

void fdtable_forget(int fd)
{
	struct fd_entry *e = entry_of(fd);
	if (!e || kind_of(e) == FD_UNMANAGED)
		return;
	pthread_mutex_lock(&lock);
	entry_lock(e);
	struct udp_assoc *drop = entry_clear(fd, e);
	entry_unlock(e);
	pthread_mutex_unlock(&lock);
	if (drop)
		assoc_unref(drop);
}

void fdtable_dup(int oldfd, int newfd)
{
	struct udp_assoc *drop = NULL;
	if (oldfd == newfd)
		return;
	enum fd_kind k = fdtable_kind(oldfd);
	if (k == FD_UNMANAGED || k == FD_INTERNAL) {
		fdtable_forget(newfd); /* a copy of our internal fd is the program's own */
		return;
	}
	pthread_mutex_lock(&lock);
	struct fd_entry *from = entry_of(oldfd), *to = entry_alloc(newfd);
	if (from && to) {
		entry_lock(to);
		drop = entry_clear(newfd, to);
		to->peer = from->peer;
		to->peerlen = from->peerlen;
		to->local = from->local;
		to->locallen = from->locallen;
		to->assoc = from->assoc;
		to->dev = from->dev;
		to->ino = from->ino;
		atomic_store_explicit(&to->seen_ms, atomic_load_explicit(&from->seen_ms, memory_order_relaxed),
				      memory_order_relaxed);
		if (to->assoc)
			assoc_ref(to->assoc);
		set_kind(to, kind_of(from));
		entry_unlock(to);
	}
	pthread_mutex_unlock(&lock);
	if (drop)
		assoc_unref(drop);
}

int fdtable_release_internal(int fd, struct udp_assoc *a)
{
	int ours = 0;
	pthread_mutex_lock(&lock);
	struct fd_entry *e = entry_of(fd);
	if (e && kind_of(e) == FD_INTERNAL && e->assoc == a && entry_current(fd, e)) {
		entry_lock(e);
		e->assoc = NULL;
		entry_clear(fd, e);
		entry_unlock(e);
		ours = 1;
	}
	pthread_mutex_unlock(&lock);
	return ours;
}

void fdtable_evacuate(int fd)
{
	if (fdtable_kind(fd) != FD_INTERNAL)
		return;
	pthread_mutex_lock(&lock);
	struct fd_entry *e = entry_of(fd), *to = NULL;
	struct udp_assoc *a = e ? e->assoc : NULL;
	int moved = -1;
	if (e && kind_of(e) == FD_INTERNAL) {
		if (ninternal < INTERNAL_MAX) /* the name table's fd stays inheritable */
			moved = REAL(fcntl)(fd, a ? F_DUPFD_CLOEXEC : F_DUPFD, fd + 1);
		if (moved >= 0 && (to = entry_alloc(moved))) {
			entry_lock(to);
			to->assoc = a;
			to->dev = e->dev;
			to->ino = e->ino;
			entry_seen(to);
			set_kind(to, FD_INTERNAL);
			entry_unlock(to);
			internal[ninternal++] = moved;
			if (a)
				atomic_store(&a->ctrl, moved);
			e->assoc = NULL; /* so clearing e does not tell a it lost its connection */
		} else if (moved >= 0) {
			REAL(close)(moved);
		}
		entry_lock(e);
		entry_clear(fd, e); /* the number is the program's now; a (if not moved) stops using it */
		entry_unlock(e);
	}
	pthread_mutex_unlock(&lock);
}

size_t fdtable_internal_in(unsigned int first, unsigned int last, int *out, size_t max)
{
	size_t n = 0;
	pthread_mutex_lock(&lock);
	for (size_t i = 0; i < ninternal && n < max; i++)
		if ((unsigned int)internal[i] >= first && (unsigned int)internal[i] <= last)
			out[n++] = internal[i];
	pthread_mutex_unlock(&lock);
	for (size_t i = 1; i < n; i++) /* ascending, for stepping around them */
		for (size_t j = i; j > 0 && out[j - 1] > out[j]; j--) {
			int t = out[j];
			out[j] = out[j - 1];
			out[j - 1] = t;
		}
	return n;
}

void fdtable_fork(enum fork_phase phase)
{
	if (phase == FORK_PREPARE) {
		pthread_mutex_lock(&lock);
		return;
	}
	if (phase == FORK_CHILD) { /* another thread may have held an entry's or association's lock: */
		for (size_t p = 0; p < PAGES; p++) { /* the child has no such thread */
			struct fd_page *page = atomic_load_explicit(&pages[p], memory_order_relaxed);
			for (size_t i = 0; page && i < PAGE_SIZE; i++)
				entry_unlock(&page->e[i]);
		}
		for (size_t i = 0; i < ninternal; i++) {
			struct fd_entry *e = entry_of(internal[i]);
			if (e && e->assoc)
				pthread_mutex_init(&e->assoc->lock, NULL);
		}
	}
	pthread_mutex_unlock(&lock);
}
