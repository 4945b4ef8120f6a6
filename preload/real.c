/* real.c - one place that looks up the real libc symbols. */
#include "real.h"

#include <dlfcn.h>
#include <errno.h>
#include <string.h>

#include "log.h"

#define HOOK(ret, name, params, args) ret(*real_##name) params;
#define USE HOOK
#include "hooks.def"
#undef HOOK
#undef USE

/* Our own exported definitions, to refuse a lookup that finds itself
 * (it would recurse forever). USE entries are not ours: nothing to compare. */
#define HOOK(ret, name, params, args) extern ret name params __attribute__((visibility("default")));
#define USE(ret, name, params, args)
#include "hooks.def"
#undef HOOK
#undef USE

static long stub_enosys(void)
{
	errno = ENOSYS;
	return -1;
}

static const char *missing; /* the last symbol not found; logged once every lookup is done */

static void *lookup(const char *name, void *self)
{
	void *p = dlsym(RTLD_NEXT, name);
	if (!p || p == self) {
		missing = name;
		return (void *)stub_enosys;
	}
	return p;
}

void real_init(void)
{
#define HOOK(ret, name, params, args) \
	if (!real_##name) \
		real_##name = (ret(*) params)lookup(#name, (void *)name);
#define USE(ret, name, params, args) \
	if (!real_##name) \
		real_##name = (ret(*) params)lookup(#name, NULL);
#include "hooks.def"
#undef HOOK
#undef USE
	/* Only now: logging writes through real_write. */
	if (missing)
		log_error("cannot find the real %s(); calls to it will fail with ENOSYS", missing);
}
