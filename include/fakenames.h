/* fakenames.h - the table of names behind fake addresses (pure: no I/O, no locks; the caller locks).
 *
 * A name gets one address from each of two reserved ranges (240.0.0.0/4 and 100::/64 by
 * default); a connect() to one becomes a SOCKS5 request carrying the name. Slots are recycled
 * oldest first and each reuse bumps the slot's generation, which is part of the address: a
 * stale address is told apart from the name that took its slot (the program gets EHOSTUNREACH).
 *
 * The library keeps a struct fakenames_table in memory shared by a run's processes, behind its
 * own lock (preload/fakedns.c); the supervisor keeps a struct fake_names, table and ranges together. */
#ifndef SOCKSIFY_FAKENAMES_H
#define SOCKSIFY_FAKENAMES_H

#include <stddef.h>
#include <stdint.h>

#include "netlist.h"
#include "socks5.h"

#define FAKE_SLOTS 65536 /* a fake range must hold at least FAKE_SLOTS + 2 addresses */
#define FAKE_SLOT_NAME_MAX 255 /* what a slot holds */
#define FAKE_NAME_MAX 253 /* what fakenames_add takes: a DNS name's limit */

struct fake_slot {
	uint32_t gen; /* bumped each time the slot is recycled */
	uint32_t hash;
	uint32_t next; /* next slot + 1 in the bucket's chain, 0 = end */
	uint8_t used, len;
	char name[FAKE_SLOT_NAME_MAX + 1];
};

struct fakenames_table {
	uint32_t clock; /* the next slot to hand out */
	uint32_t bucket[FAKE_SLOTS]; /* first slot + 1, 0 = empty */
	struct fake_slot slot[FAKE_SLOTS];
};

/* The slot of name[0..len) (1 <= len <= FAKE_SLOT_NAME_MAX; any case), found or allocated. */
uint32_t fakenames_find_or_add(struct fakenames_table *t, const char *name, size_t len);

/* Nonzero when r holds at least one generation of FAKE_SLOTS addresses. */
int fakenames_range_ok(const struct netlist_entry *r);

/* The address (4 or 16 bytes, by r's family) of slot in generation gen. */
void fakenames_address(const struct netlist_entry *r, uint32_t slot, uint32_t gen, uint8_t *addr);

/* Nonzero when addr (4 or 16 bytes, by r's family) is in r. */
int fakenames_in_range(const struct netlist_entry *r, const uint8_t *addr);

/* The slot and generation addr (in r) stands for: 0, or -1 when no address was ever handed out there. */
int fakenames_slot_of(const struct netlist_entry *r, const uint8_t *addr, uint32_t *slot, uint32_t *gen);

/* 1 and the name of slot in name[] (room for the longest name put in t) when it is still in
 * generation gen (of r), else -1. */
int fakenames_name_at(const struct fakenames_table *t, const struct netlist_entry *r, uint32_t slot, uint32_t gen,
		      char *name);

/* The supervisor's table: the ranges and the slots. */
struct fake_names {
	struct netlist_entry net4, net6; /* at least a /14 and a /110 */
	struct fakenames_table table;
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
