/* fakenames.c - names <-> fake addresses (pure; see fakenames.h). */
#include "fakenames.h"

#include <string.h>
#include <strings.h>

static uint32_t name_hash(const char *name, size_t len)
{
	uint32_t h = 2166136261u; /* FNV-1a over the lower-cased name */
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)name[i];
		h = (h ^ (c >= 'A' && c <= 'Z' ? c + 32u : c)) * 16777619u;
	}
	return h;
}

static void unlink_slot(struct fakenames_table *t, uint32_t i)
{
	uint32_t *link = &t->bucket[t->slot[i].hash % FAKE_SLOTS];
	for (uint32_t steps = 0; *link && steps < FAKE_SLOTS; steps++) {
		if (*link == i + 1) {
			*link = t->slot[i].next;
			return;
		}
		link = &t->slot[*link - 1].next;
	}
}

uint32_t fakenames_find_or_add(struct fakenames_table *t, const char *name, size_t len)
{
	uint32_t h = name_hash(name, len);
	uint32_t *head = &t->bucket[h % FAKE_SLOTS];
	uint32_t s = *head;
	for (uint32_t steps = 0; s && steps < FAKE_SLOTS; steps++) {
		struct fake_slot *e = &t->slot[s - 1];
		if (e->used && e->hash == h && e->len == len && strncasecmp(e->name, name, len) == 0)
			return s - 1;
		s = e->next;
	}
	uint32_t i = t->clock % FAKE_SLOTS;
	t->clock = (i + 1) % FAKE_SLOTS;
	struct fake_slot *e = &t->slot[i];
	if (e->used) {
		unlink_slot(t, i);
		e->gen++;
	}
	e->used = 1;
	e->hash = h;
	e->len = (uint8_t)len;
	memcpy(e->name, name, len);
	e->name[len] = '\0';
	e->next = *head;
	*head = i + 1;
	return i;
}

static uint64_t range_size(const struct netlist_entry *r)
{
	unsigned bits = (r->family == 4 ? 32u : 128u) - r->prefix;
	return bits >= 32 ? (1ull << 32) : (1ull << bits);
}

/* How many generations a range holds besides its network and last address. */
static uint32_t generations(const struct netlist_entry *r)
{
	return (uint32_t)((range_size(r) - 2) / FAKE_SLOTS);
}

int fakenames_range_ok(const struct netlist_entry *r)
{
	return generations(r) != 0;
}

/* Host offsets inside a range: 1 + slot + FAKE_SLOTS * (gen mod generations). */
void fakenames_address(const struct netlist_entry *r, uint32_t slot, uint32_t gen, uint8_t *addr)
{
	uint32_t off = (uint32_t)(1 + slot + (uint64_t)FAKE_SLOTS * (gen % generations(r)));
	size_t n = r->family == 4 ? 4 : 16;
	memcpy(addr, r->addr, n);
	for (size_t k = 0; k < 4; k++)
		addr[n - 1 - k] |= (uint8_t)(off >> (8 * k));
}

int fakenames_in_range(const struct netlist_entry *r, const uint8_t *addr)
{
	unsigned full = r->prefix / 8, rest = r->prefix % 8;
	if (memcmp(addr, r->addr, full) != 0)
		return 0;
	return rest == 0 || ((addr[full] ^ r->addr[full]) & (uint8_t)(0xff << (8 - rest))) == 0;
}

int fakenames_slot_of(const struct netlist_entry *r, const uint8_t *addr, uint32_t *slot, uint32_t *gen)
{
	size_t n = r->family == 4 ? 4 : 16;
	uint32_t low = (uint32_t)addr[n - 4] << 24 | (uint32_t)addr[n - 3] << 16 | (uint32_t)addr[n - 2] << 8 |
		       addr[n - 1];
	uint64_t size = range_size(r);
	uint32_t off = low & (uint32_t)(size - 1);
	if (off == 0 || off > size - 2)
		return -1;
	*slot = (off - 1) % FAKE_SLOTS;
	*gen = (off - 1) / FAKE_SLOTS;
	return 0;
}

int fakenames_name_at(const struct fakenames_table *t, const struct netlist_entry *r, uint32_t slot, uint32_t gen,
		      char *name)
{
	const struct fake_slot *e = &t->slot[slot % FAKE_SLOTS];
	if (!e->used || e->gen % generations(r) != gen)
		return -1;
	memcpy(name, e->name, (size_t)e->len + 1);
	return 1;
}

int fakenames_init(struct fake_names *t, const struct netlist_entry *net4, const struct netlist_entry *net6)
{
	memset(t, 0, sizeof *t);
	if (net4->family != 4 || net6->family != 6)
		return -1;
	t->net4 = *net4;
	t->net6 = *net6;
	return fakenames_range_ok(net4) && fakenames_range_ok(net6) ? 0 : -1;
}

int fakenames_add(struct fake_names *t, const char *name, uint8_t v4[4], uint8_t v6[16])
{
	size_t len = strlen(name);
	if (len > 1 && name[len - 1] == '.')
		len--;
	if (len == 0 || len > FAKE_NAME_MAX || (len == 1 && name[0] == '.'))
		return -1;
	uint32_t i = fakenames_find_or_add(&t->table, name, len);
	fakenames_address(&t->net4, i, t->table.slot[i].gen, v4);
	fakenames_address(&t->net6, i, t->table.slot[i].gen, v6);
	return 0;
}

int fakenames_lookup(const struct fake_names *t, const struct socks5_addr *a, char name[FAKE_NAME_MAX + 1])
{
	const struct netlist_entry *r;
	const uint8_t *addr;
	uint32_t slot, gen;
	if (a->atyp == SOCKS5_ATYP_IPV4 && fakenames_in_range(&t->net4, a->u.ipv4)) {
		r = &t->net4;
		addr = a->u.ipv4;
	} else if (a->atyp == SOCKS5_ATYP_IPV6 && fakenames_in_range(&t->net6, a->u.ipv6)) {
		r = &t->net6;
		addr = a->u.ipv6;
	} else {
		return 0;
	}
	if (fakenames_slot_of(r, addr, &slot, &gen) < 0)
		return -1;
	return fakenames_name_at(&t->table, r, slot, gen, name);
}
