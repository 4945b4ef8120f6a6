/* init.c - the library's constructor: almost nothing, so start-up stays cheap.
 * Settings are read on the first call that needs them (config.c). */
#include <pthread.h>

#include "fakedns.h"
#include "fdtable.h"
#include "real.h"

__attribute__((constructor)) static void socksify_init(void)
{
	real_init();
	fakedns_init_early();
	pthread_atfork(fdtable_atfork_prepare, fdtable_atfork_parent, fdtable_atfork_child);
}
