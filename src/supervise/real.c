/* real.c - the real_* pointers of preload/real.h, for the library's files the supervisor
 * links (handshake.c, config.c, direct.c: one proxy client and one settings parser for both).
 * The supervisor interposes nothing, so each real function is simply libc's; real_init()
 * runs once in main() before any thread starts, and REAL() never finds a pointer unset. */
#include <dlfcn.h>

#include "real.h"

#define HOOK(ret, name, params, args) ret(*real_##name) params;
#define USE HOOK
#include "hooks.def"
#undef HOOK
#undef USE

void real_init(void)
{
	/* dlsym, not &name: some of these (__poll_chk) have no declaration to take one from */
#define HOOK(ret, name, params, args) \
	if (!real_##name) \
		real_##name = (ret(*) params)dlsym(RTLD_DEFAULT, #name);
#define USE HOOK
#include "hooks.def"
#undef HOOK
#undef USE
}
