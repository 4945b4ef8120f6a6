/* init.c - the library's constructor: almost nothing, so start-up stays cheap.
 * Settings are read on the first call that needs them (config.c). */
#include <pthread.h>

#include "async.h"
#include "fakedns.h"
#include "fork.h"
#include "real.h"

/* Locks in one order: hosts cache, direct ring, fd table, pending connects, isolation login. */
static void fork_prepare(void)
{
	fakedns_before_fork(); /* takes the fd table's lock itself: before any is held */
	dns_fork(FORK_PREPARE);
	direct_fork(FORK_PREPARE);
	fdtable_fork(FORK_PREPARE);
	async_fork(FORK_PREPARE);
	handshake_fork(FORK_PREPARE);
}

static void fork_parent(void)
{
	handshake_fork(FORK_PARENT);
	async_fork(FORK_PARENT);
	fdtable_fork(FORK_PARENT);
	direct_fork(FORK_PARENT);
	dns_fork(FORK_PARENT);
}

static void fork_child(void)
{
	handshake_fork(FORK_CHILD);
	async_fork(FORK_CHILD);
	fdtable_fork(FORK_CHILD);
	direct_fork(FORK_CHILD);
	dns_fork(FORK_CHILD);
}

__attribute__((constructor)) static void socksify_init(void)
{
	real_init();
	fakedns_init_early();
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}
