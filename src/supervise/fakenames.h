/* fakenames.h - the supervisor's table of names behind fake addresses (pure: the caller locks).
 *
 * The supervisor answers a program's A and AAAA queries with addresses from two reserved
 * ranges (240.0.0.0/4 and 100::/64 by default, as the library); a connect() to one becomes
 * a SOCKS5 CONNECT carrying the name. Slots are recycled oldest first and each reuse bumps
 * the slot's generation, which is part of the address: a stale address is told apart from
 * the name that took its slot (lookup answers -1, the program gets EHOSTUNREACH). */
#ifndef SOCKSIFY_FAKENAMES_H
#define SOCKSIFY_FAKENAMES_H

#include <stdint.h>

#include "netlist.h"
#include "socks5.h"

#define FAKE_SLOTS 65536
#define FAKE_NAME_MAX 253

struct fake_slot {
	uint32_t gen, hash, next; /* next: slot + 1 in the bucket's chain, 0 = end */
	uint8_t used, len;
	char name[FAKE_NAME_MAX + 1];
};

struct fake_names {
	struct netlist_entry net4, net6; /* at least a /14 and a /110 */
	uint32_t clock; /* the next slot to hand out */
	uint32_t bucket[FAKE_SLOTS]; /* first slot + 1, 0 = empty */
	struct fake_slot slot[FAKE_SLOTS];
};

/* Returns 0, or -1 when a range is too small for the slots (then t is unusable). */
int fakenames_init(struct fake_names *t, const struct netlist_entry *net4, const struct netlist_entry *net6);

/* The fake addresses of name (any case, a trailing dot ignored), found or allocated.
 * Returns 0, or -1 for an empty name or one longer than FAKE_NAME_MAX. */
int fakenames_add(struct fake_names *t, const char *name, uint8_t v4[4], uint8_t v6[16]);

/* 0 when a is not in a fake range; 1 and the name in name[] when it is ours; -1 when it
 * is in a range but stale or never handed out. */
int fakenames_lookup(const struct fake_names *t, const struct socks5_addr *a, char name[FAKE_NAME_MAX + 1]);

#endif
