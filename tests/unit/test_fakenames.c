/* test_fakenames.c - names behind fake addresses (src/fakenames.c: the library's and the supervisor's table). */
#include "fakenames.h"
#include "unit.h"

#include <stdlib.h>

static struct fake_names *table(const char *n4, const char *n6)
{
	struct netlist l4 = { 0 }, l6 = { 0 };
	char err[200];
	struct fake_names *t = malloc(sizeof *t);
	if (!t || netlist_parse(n4, &l4, err, sizeof err) < 0 || netlist_parse(n6, &l6, err, sizeof err) < 0)
		abort();
	if (fakenames_init(t, &l4.e[0], &l6.e[0]) < 0) {
		free(t);
		return NULL;
	}
	return t;
}

static struct socks5_addr v4(const uint8_t a[4])
{
	struct socks5_addr s = { .atyp = SOCKS5_ATYP_IPV4, .port = 80 };
	memcpy(s.u.ipv4, a, 4);
	return s;
}

static struct socks5_addr v6(const uint8_t a[16])
{
	struct socks5_addr s = { .atyp = SOCKS5_ATYP_IPV6, .port = 80 };
	memcpy(s.u.ipv6, a, 16);
	return s;
}

int main(void)
{
	struct fake_names *t = table("240.0.0.0/4", "100::/64");
	uint8_t a4[4], a6[16], b4[4], b6[16];
	char name[FAKE_NAME_MAX + 1];
	CHECK(t != NULL);

	/* the first name: slot 0, generation 0: offset 1 in both ranges */
	CHECK_INT(fakenames_add(t, "Example.com.", a4, a6), 0);
	static const uint8_t first4[4] = { 240, 0, 0, 1 };
	static const uint8_t first6[16] = { 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1 };
	CHECK_MEM(a4, first4, 4);
	CHECK_MEM(a6, first6, 16);
	struct socks5_addr s = v4(a4);
	CHECK_INT(fakenames_lookup(t, &s, name), 1);
	CHECK_STR(name, "Example.com"); /* the trailing dot is dropped, the case kept */
	s = v6(a6);
	CHECK_INT(fakenames_lookup(t, &s, name), 1);
	CHECK_STR(name, "Example.com");

	/* the same name in another case: the same addresses; another name: the next ones */
	CHECK_INT(fakenames_add(t, "EXAMPLE.COM", b4, b6), 0);
	CHECK_MEM(b4, a4, 4);
	CHECK_INT(fakenames_add(t, "other.test", b4, b6), 0);
	static const uint8_t second4[4] = { 240, 0, 0, 2 };
	CHECK_MEM(b4, second4, 4);

	/* not fake, fake but never handed out, the range's network address */
	static const uint8_t real4[4] = { 198, 18, 0, 1 }, unused4[4] = { 240, 0, 9, 9 }, net4[4] = { 240, 0, 0, 0 };
	s = v4(real4);
	CHECK_INT(fakenames_lookup(t, &s, name), 0);
	s = v4(unused4);
	CHECK_INT(fakenames_lookup(t, &s, name), -1);
	s = v4(net4);
	CHECK_INT(fakenames_lookup(t, &s, name), -1);
	struct socks5_addr d = { .atyp = SOCKS5_ATYP_DOMAIN };
	CHECK_INT(fakenames_lookup(t, &d, name), 0);

	/* bad names */
	CHECK_INT(fakenames_add(t, "", b4, b6), -1);
	CHECK_INT(fakenames_add(t, ".", b4, b6), -1);
	char longname[300];
	memset(longname, 'a', 254);
	longname[254] = '\0';
	CHECK_INT(fakenames_add(t, longname, b4, b6), -1);
	longname[253] = '\0';
	CHECK_INT(fakenames_add(t, longname, b4, b6), 0);

	/* after every slot is reused once, the first name's address is stale (another generation) */
	for (unsigned i = 0; i < FAKE_SLOTS; i++) {
		char n[32];
		snprintf(n, sizeof n, "n%u.test", i);
		fakenames_add(t, n, b4, b6);
	}
	s = v4(a4);
	CHECK_INT(fakenames_lookup(t, &s, name), -1);
	CHECK_INT(fakenames_add(t, "example.com", b4, b6), 0);
	CHECK(memcmp(b4, a4, 4) != 0); /* a new generation: a new address */
	s = v4(b4);
	CHECK_INT(fakenames_lookup(t, &s, name), 1);
	CHECK_STR(name, "example.com");
	free(t);

	/* ranges too small for the slots */
	CHECK(table("10.0.0.0/16", "100::/64") == NULL);
	CHECK(table("10.0.0.0/15", "100::/112") == NULL);
	t = table("10.0.0.0/15", "fd00::/111");
	CHECK(t != NULL);
	free(t);

	/* the bare table, as the library uses it under its lock: names up to FAKE_SLOT_NAME_MAX */
	struct fakenames_table *bare = calloc(1, sizeof *bare);
	struct netlist l14 = { 0 };
	char err[200], slotname[FAKE_SLOT_NAME_MAX + 1];
	CHECK(bare != NULL);
	CHECK_INT(netlist_parse("10.0.0.0/14", &l14, err, sizeof err), 0);
	CHECK(fakenames_range_ok(&l14.e[0]));
	memset(longname, 'b', FAKE_SLOT_NAME_MAX);
	uint32_t i = fakenames_find_or_add(bare, longname, FAKE_SLOT_NAME_MAX);
	CHECK_INT(i, 0);
	CHECK_INT(fakenames_find_or_add(bare, "B.test", 6), 1);
	CHECK_INT(fakenames_find_or_add(bare, "b.TEST", 6), 1);
	fakenames_address(&l14.e[0], 1, 5, b4); /* generation 5 of 3 in a /14 is generation 2 */
	static const uint8_t gen2[4] = { 10, 2, 0, 2 };
	CHECK_MEM(b4, gen2, 4);
	CHECK(fakenames_in_range(&l14.e[0], b4));
	uint32_t slot, gen;
	CHECK_INT(fakenames_slot_of(&l14.e[0], b4, &slot, &gen), 0);
	CHECK_INT(slot, 1);
	CHECK_INT(gen, 2);
	CHECK_INT(fakenames_name_at(bare, &l14.e[0], slot, gen, slotname), -1); /* slot 1 is in generation 0 */
	fakenames_address(&l14.e[0], 0, 0, b4);
	CHECK_INT(fakenames_slot_of(&l14.e[0], b4, &slot, &gen), 0);
	CHECK_INT(fakenames_name_at(bare, &l14.e[0], slot, gen, slotname), 1);
	CHECK_INT(strlen(slotname), FAKE_SLOT_NAME_MAX);
	static const uint8_t last14[4] = { 10, 3, 255, 255 };
	CHECK_INT(fakenames_slot_of(&l14.e[0], last14, &slot, &gen), -1);
	free(bare);
	return unit_report();
}
