/* fdtable.c - a two-level table indexed by fd, pages allocated on first use. */
#include "fdtable.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define PAGE_BITS 10
#define PAGE_SIZE (1 << PAGE_BITS)
#define PAGES 1024 /* fds 0 .. 1M-1 */

struct fd_entry {
	_Atomic unsigned char kind;
	socklen_t peerlen;
	struct sockaddr_storage peer;
};

struct fd_page {
	struct fd_entry e[PAGE_SIZE];
};

static _Atomic(struct fd_page *) pages[PAGES];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

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

enum fd_kind fdtable_kind(int fd)
{
	struct fd_entry *e = entry_of(fd);
	return e ? (enum fd_kind)atomic_load_explicit(&e->kind, memory_order_relaxed) : FD_UNMANAGED;
}

int fdtable_set_proxied(int fd, const struct sockaddr *sa, socklen_t len)
{
	if (len > sizeof(struct sockaddr_storage))
		return -1;
	pthread_mutex_lock(&lock);
	struct fd_entry *e = entry_alloc(fd);
	if (e) {
		memcpy(&e->peer, sa, len);
		e->peerlen = len;
		atomic_store_explicit(&e->kind, FD_TCP_PROXIED, memory_order_relaxed);
	}
	pthread_mutex_unlock(&lock);
	return e ? 0 : -1;
}

int fdtable_get_peer(int fd, struct sockaddr *sa, socklen_t *len)
{
	int rc = -1;
	pthread_mutex_lock(&lock);
	struct fd_entry *e = entry_of(fd);
	if (e && atomic_load_explicit(&e->kind, memory_order_relaxed) == FD_TCP_PROXIED) {
		socklen_t n = *len < e->peerlen ? *len : e->peerlen;
		memcpy(sa, &e->peer, n);
		*len = e->peerlen;
		rc = 0;
	}
	pthread_mutex_unlock(&lock);
	return rc;
}

void fdtable_forget(int fd)
{
	struct fd_entry *e = entry_of(fd);
	if (!e || atomic_load_explicit(&e->kind, memory_order_relaxed) == FD_UNMANAGED)
		return;
	pthread_mutex_lock(&lock);
	atomic_store_explicit(&e->kind, FD_UNMANAGED, memory_order_relaxed);
	pthread_mutex_unlock(&lock);
}

void fdtable_dup(int oldfd, int newfd)
{
	if (oldfd == newfd)
		return;
	if (fdtable_kind(oldfd) == FD_UNMANAGED) {
		fdtable_forget(newfd);
		return;
	}
	pthread_mutex_lock(&lock);
	struct fd_entry *from = entry_of(oldfd), *to = entry_alloc(newfd);
	if (from && to) {
		to->peer = from->peer;
		to->peerlen = from->peerlen;
		atomic_store_explicit(&to->kind, atomic_load_explicit(&from->kind, memory_order_relaxed),
				      memory_order_relaxed);
	}
	pthread_mutex_unlock(&lock);
}

void fdtable_atfork_prepare(void) { pthread_mutex_lock(&lock); }
void fdtable_atfork_parent(void) { pthread_mutex_unlock(&lock); }
void fdtable_atfork_child(void) { pthread_mutex_init(&lock, NULL); }
