/* test_namelist.c - host name patterns: which items are names, validation, suffix boundaries. */
#include "namelist.h"
#include "netlist.h"
#include "unit.h"

#include <stdlib.h>

static char err[256];

/* Adds patterns that must be good to a fresh list (garbage beyond n, as in real use). */
static struct namelist list_of(const char *const *items)
{
	struct namelist l;
	memset(&l, 0x55, sizeof l);
	l.n = 0;
	l.match_all = 0;
	for (size_t i = 0; items[i]; i++) {
		err[0] = '\0';
		if (!CHECK(namelist_add(&l, items[i], err, sizeof err) == 0))
			fprintf(stderr, "    item \"%s\": %s\n", items[i], err);
	}
	return l;
}

#define LIST(...) list_of((const char *const[]){ __VA_ARGS__, NULL })
#define CHECK_MATCH(l, name) unit_check(namelist_match(&(l), (name)) == 1, __FILE__, __LINE__, "match " #name)
#define CHECK_NO_MATCH(l, name) unit_check(namelist_match(&(l), (name)) == 0, __FILE__, __LINE__, "no match " #name)
#define CHECK_IS_NAME(item, want) unit_check_long(namelist_is_name(item), (want), __FILE__, __LINE__, "is_name " #item)

/* An item that must be refused with exactly this error, leaving the list as it was. */
#define CHECK_BAD(item, want) check_bad((item), (want), __LINE__)

static void check_bad(const char *item, const char *want, int line)
{
	struct namelist l = LIST("keep.example");
	strcpy(err, "unset");
	unit_check_long(namelist_add(&l, item, err, sizeof err), -1, __FILE__, line, item ? item : "(null)");
	unit_check_long((long)l.n, 1, __FILE__, line, "list unchanged");
	unit_check_long(l.match_all, 0, __FILE__, line, "match_all unchanged");
	unit_check_str(l.e[0].suffix, "keep.example", __FILE__, line, "entry unchanged");
	unit_check_str(err, want, __FILE__, line, item ? item : "(null)");
}

static void test_is_name(void)
{
	CHECK_IS_NAME("example.com", 1);
	CHECK_IS_NAME("*.example.com", 1);
	CHECK_IS_NAME(".example.com", 1);
	CHECK_IS_NAME("*", 1);
	CHECK_IS_NAME("intranet", 1);
	CHECK_IS_NAME("EXAMPLE.COM.", 1);
	CHECK_IS_NAME("a_b.example", 1);
	CHECK_IS_NAME("1.2.3.4.example", 1);
	CHECK_IS_NAME("123.com", 1);
	CHECK_IS_NAME("0x7f", 1);
	CHECK_IS_NAME("localhost.example", 1);
	CHECK_IS_NAME("foo.localhost", 1);
	CHECK_IS_NAME("*.localhost", 1);
	CHECK_IS_NAME("localhost.", 1);
	CHECK_IS_NAME("localhosts", 1);
	/* Names with a port are names (refused by namelist_add, with a reason about ports). */
	CHECK_IS_NAME("example.com:80", 1);
	CHECK_IS_NAME("example.com:", 1);
	CHECK_IS_NAME("*.example.com:443", 1);
	/* Malformed names are still names, so the error speaks of names. */
	CHECK_IS_NAME("a..b", 1);
	CHECK_IS_NAME("*example.com", 1);
	CHECK_IS_NAME("**", 1);
	CHECK_IS_NAME(".", 1);

	CHECK_IS_NAME("1.2.3.4", 0);
	CHECK_IS_NAME("10.0.0.0/8", 0);
	CHECK_IS_NAME("1.2.3.4:80", 0);
	CHECK_IS_NAME("10.0.0.0/8:443", 0);
	CHECK_IS_NAME("::1", 0);
	CHECK_IS_NAME("::", 0);
	CHECK_IS_NAME("fd00::/8", 0);
	CHECK_IS_NAME("[::1]", 0);
	CHECK_IS_NAME("[::1]:80", 0);
	CHECK_IS_NAME("[fd00::]/8:53", 0);
	CHECK_IS_NAME("::ffff:1.2.3.4", 0);
	CHECK_IS_NAME("2001:db8::1", 0);
	CHECK_IS_NAME("localhost", 0);
	CHECK_IS_NAME("LocalHost", 0);
	CHECK_IS_NAME("localhost:53", 0);
	CHECK_IS_NAME("*:443", 0);
	/* Not valid addresses, but not names either: netlist gives the error. */
	CHECK_IS_NAME("1.2.3", 0);
	CHECK_IS_NAME("8080", 0);
	CHECK_IS_NAME("1.2.3.4.", 0);
	CHECK_IS_NAME("999.1.1.1", 0);
	CHECK_IS_NAME("1.2.3.4:http", 0);
	CHECK_IS_NAME("example.com/24", 0);
	CHECK_IS_NAME("", 0);
	CHECK_IS_NAME(NULL, 0);
}

/* Everything netlist accepts except "*" is not a name; each valid name is refused by netlist. */
static void test_is_name_against_netlist(void)
{
	static const char *const items[] = { "127.0.0.1", "10.0.0.0/8", "::1", "[::1]", "fd00::/8", "1.2.3.4:80",
					     "[::1]:80", "10.0.0.0/8:443", "[fd00::]/8:53", "localhost",
					     "LOCALHOST:53", "*:443", "::ffff:10.0.0.0/104", "0.0.0.0/0", "::/0",
					     "example.com", "*.example.com", ".example.com", "intranet", "a-b.c_d",
					     "example.com.", "*", NULL };
	int ok = 1;

	for (size_t i = 0; items[i]; i++) {
		struct netlist nl = { 0 };
		struct namelist l = { 0 };
		int address = netlist_parse(items[i], &nl, err, sizeof err) == 0;
		int name = namelist_add(&l, items[i], err, sizeof err) == 0;
		int is_name = namelist_is_name(items[i]);
		int want = strcmp(items[i], "*") == 0 ? 1 : !address;
		/* Only "*" is both: every address and every name. */
		if (is_name != want || (is_name && !name) || (is_name && address && strcmp(items[i], "*") != 0)) {
			fprintf(stderr, "    %s: address %d, name %d, is_name %d\n", items[i], address, name, is_name);
			ok = 0;
		}
	}
	CHECK(ok);
}

static void test_forms(void)
{
	struct namelist l = LIST("Example.COM", "*.wild.example", ".sub.example", "trailing.example.", "local", "a_b");
	CHECK_INT(l.n, 6);
	CHECK_INT(l.match_all, 0);
	CHECK_STR(l.e[0].suffix, "example.com");
	CHECK_INT(l.e[0].subdomains_only, 0);
	CHECK_STR(l.e[1].suffix, "wild.example");
	CHECK_INT(l.e[1].subdomains_only, 0);
	CHECK_STR(l.e[2].suffix, "sub.example");
	CHECK_INT(l.e[2].subdomains_only, 1);
	CHECK_STR(l.e[3].suffix, "trailing.example");
	CHECK_STR(l.e[4].suffix, "local");
	CHECK_STR(l.e[5].suffix, "a_b");

	/* "*" is a flag and takes no slot. */
	l = LIST("*");
	CHECK_INT(l.n, 0);
	CHECK_INT(l.match_all, 1);
	l = LIST("a.example", "*", "b.example");
	CHECK_INT(l.n, 2);
	CHECK_INT(l.match_all, 1);
}

static void test_match_domain(void)
{
	struct namelist l = LIST("example.com");
	CHECK_MATCH(l, "example.com");
	CHECK_MATCH(l, "EXAMPLE.com");
	CHECK_MATCH(l, "example.com.");
	CHECK_MATCH(l, "www.example.com");
	CHECK_MATCH(l, "a.b.example.com");
	CHECK_MATCH(l, "A.B.Example.COM.");
	CHECK_MATCH(l, "-.example.com");
	CHECK_NO_MATCH(l, "badexample.com");
	CHECK_NO_MATCH(l, "xample.com");
	CHECK_NO_MATCH(l, "example.co");
	CHECK_NO_MATCH(l, "example.comm");
	CHECK_NO_MATCH(l, "example.com.au");
	CHECK_NO_MATCH(l, "example.com..");
	CHECK_NO_MATCH(l, "example");
	CHECK_NO_MATCH(l, "com");
	CHECK_NO_MATCH(l, ".com");
	CHECK_NO_MATCH(l, "");
	CHECK_NO_MATCH(l, ".");
	CHECK_NO_MATCH(l, "www.example.com.evil");
	CHECK_NO_MATCH(l, "www-example.com");
	CHECK_NO_MATCH(l, "www_example.com");

	/* "*.example.com" is the same pattern. */
	l = LIST("*.example.com");
	CHECK_MATCH(l, "example.com");
	CHECK_MATCH(l, "x.example.com");
	CHECK_NO_MATCH(l, "badexample.com");
	CHECK_NO_MATCH(l, "*.example.com.x");

	/* Pattern with a trailing dot: the same again. */
	l = LIST("example.com.");
	CHECK_MATCH(l, "example.com");
	CHECK_MATCH(l, "example.com.");
	CHECK_MATCH(l, "x.example.com");
	CHECK_NO_MATCH(l, "badexample.com");

	/* One label. */
	l = LIST("local");
	CHECK_MATCH(l, "local");
	CHECK_MATCH(l, "printer.local");
	CHECK_MATCH(l, "printer.LOCAL.");
	CHECK_NO_MATCH(l, "printerlocal");
	CHECK_NO_MATCH(l, "local.printer");
	CHECK_NO_MATCH(l, "loca");
	CHECK_NO_MATCH(l, "ocal");
}

static void test_match_subdomains_only(void)
{
	struct namelist l = LIST(".example.com");
	CHECK_NO_MATCH(l, "example.com");
	CHECK_NO_MATCH(l, "example.com.");
	CHECK_NO_MATCH(l, "EXAMPLE.COM");
	CHECK_MATCH(l, "www.example.com");
	CHECK_MATCH(l, "a.b.example.com.");
	CHECK_MATCH(l, "X.Example.Com");
	CHECK_NO_MATCH(l, "badexample.com");
	CHECK_NO_MATCH(l, "b.adexample.com");
	CHECK_NO_MATCH(l, "xample.com");

	/* Both forms of one domain: then the domain matches too. */
	l = LIST(".example.com", "example.com");
	CHECK_MATCH(l, "example.com");
	CHECK_MATCH(l, "x.example.com");
}

static void test_match_all_and_many(void)
{
	struct namelist l = LIST("*");
	CHECK_MATCH(l, "anything");
	CHECK_MATCH(l, "a.b.c");
	CHECK_MATCH(l, "");

	l = LIST("one.example", ".two.example", "*.three.example", "corp");
	CHECK_MATCH(l, "one.example");
	CHECK_MATCH(l, "x.two.example");
	CHECK_NO_MATCH(l, "two.example");
	CHECK_MATCH(l, "three.example");
	CHECK_MATCH(l, "a.corp");
	CHECK_NO_MATCH(l, "four.example");
	CHECK_NO_MATCH(l, "example");

	struct namelist empty = LIST(NULL);
	CHECK_NO_MATCH(empty, "example.com");
	CHECK_NO_MATCH(empty, "");
	CHECK_INT(namelist_match(NULL, "example.com"), 0);
	CHECK_INT(namelist_match(&l, NULL), 0);
}

/* Every prefix of a name against its pattern: only those that end on a label boundary match. */
static void test_every_suffix(void)
{
	const char *name = "a.bb.example.com";
	size_t n = strlen(name);
	int ok = 1;

	for (size_t start = 0; start < n; start++) {
		const char *suffix = name + start;
		if (*suffix == '.')
			continue;
		struct namelist plain = { 0 }, sub = { 0 };
		char dotted[64];
		snprintf(dotted, sizeof dotted, ".%s", suffix);
		if (namelist_add(&plain, suffix, err, sizeof err) != 0 ||
		    namelist_add(&sub, dotted, err, sizeof err) != 0) {
			ok = 0;
			continue;
		}
		for (size_t cut = 0; cut < n; cut++) {
			const char *probe = name + cut;
			int boundary = cut == 0 || name[cut - 1] == '.';
			if (!boundary)
				continue;
			/* probe is under suffix when suffix is a label-aligned tail of it. */
			size_t pl = strlen(probe), sl = strlen(suffix);
			int want_plain = pl >= sl && strcmp(probe + pl - sl, suffix) == 0 &&
					 (pl == sl || probe[pl - sl - 1] == '.');
			int want_sub = want_plain && pl > sl;
			if (namelist_match(&plain, probe) != want_plain || namelist_match(&sub, probe) != want_sub) {
				fprintf(stderr, "    %s against %s: want %d/%d\n", probe, suffix, want_plain, want_sub);
				ok = 0;
			}
		}
	}
	CHECK(ok);
}

static void test_errors(void)
{
	CHECK_BAD("example.com:80", "ports are not supported on names: 'example.com:80'");
	CHECK_BAD("*.example.com:443", "ports are not supported on names: '*.example.com:443'");
	CHECK_BAD("example.com:", "ports are not supported on names: 'example.com:'");
	CHECK_BAD("localhost:53", "ports are not supported on names: 'localhost:53'");
	CHECK_BAD("1.2.3.4", "bad name '1.2.3.4' (an address, not a host name)");
	CHECK_BAD("::1", "bad name '::1' (an address, not a host name)");
	CHECK_BAD("[::1]:80", "bad name '[::1]:80' (an address, not a host name)");
	CHECK_BAD("10.0.0.0/8", "bad name '10.0.0.0/8' (an address, not a host name)");
	CHECK_BAD("", "bad name '' (empty)");
	CHECK_BAD(NULL, "bad name '' (empty)");
	CHECK_BAD(".", "bad name '.' (empty)");
	CHECK_BAD("*.", "bad name '*.' (empty)");
	CHECK_BAD("..", "bad name '..' (empty)");
	CHECK_BAD("a..b", "bad name 'a..b' (empty label)");
	CHECK_BAD("..example.com", "bad name '..example.com' (empty label)");
	CHECK_BAD("*..example.com", "bad name '*..example.com' (empty label)");
	CHECK_BAD("example.com..", "bad name 'example.com..' (empty label)");
	CHECK_BAD("*example.com", "bad name '*example.com' (character '*' is not a letter, digit, '-' or '_')");
	CHECK_BAD("*.*.example.com",
		  "bad name '*.*.example.com' (character '*' is not a letter, digit, '-' or '_')");
	CHECK_BAD("**", "bad name '**' (character '*' is not a letter, digit, '-' or '_')");
	CHECK_BAD("exa mple", "bad name 'exa mple' (character ' ' is not a letter, digit, '-' or '_')");
	CHECK_BAD("ex!ample", "bad name 'ex!ample' (character '!' is not a letter, digit, '-' or '_')");
	CHECK_BAD("a\x01.b", "bad name 'a?.b' (character '?' is not a letter, digit, '-' or '_')");
	CHECK_BAD("a.b\n", "bad name 'a.b?' (character '?' is not a letter, digit, '-' or '_')");

	/* Label and name lengths at their limits. */
	char name[300], want[400];
	memset(name, 'a', 63);
	strcpy(name + 63, ".com");
	struct namelist l = LIST(name);
	CHECK_INT(l.n, 1);
	CHECK_MATCH(l, "x.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.com");
	memset(name, 'a', 64);
	strcpy(name + 64, ".com");
	snprintf(want, sizeof want, "bad name '%s' (label longer than 63 characters)", name);
	CHECK_BAD(name, want);

	/* 253 characters: three labels of 63 and one of 61. */
	size_t n = 0;
	for (int i = 0; i < 3; i++) {
		memset(name + n, 'a' + i, 63);
		n += 63;
		name[n++] = '.';
	}
	memset(name + n, 'd', 61);
	n += 61;
	name[n] = '\0';
	CHECK_INT(strlen(name), 253);
	l = LIST(name);
	CHECK_INT(l.n, 1);
	CHECK_INT(strlen(l.e[0].suffix), 253);
	CHECK_MATCH(l, name);
	strcat(name, ".");
	l = LIST(name); /* the trailing dot does not count */
	CHECK_MATCH(l, name);
	char star[300];
	snprintf(star, sizeof star, "*.%s", name);
	l = LIST(star); /* nor does the "*." */
	CHECK_INT(l.n, 1);
	name[253] = 'd';
	name[254] = '\0';
	CHECK(namelist_add(&l, name, err, sizeof err) == -1);
	CHECK(strstr(err, "(longer than 253 characters)") != NULL);
	/* Long items are quoted shortened, with the reason still there. */
	CHECK(strlen(err) < 140);
	CHECK(strstr(err, "...'") != NULL);

	/* err may be NULL, or tiny. */
	CHECK(namelist_add(&l, "bad!", NULL, 0) == -1);
	char tiny[6];
	CHECK(namelist_add(&l, "bad!", tiny, sizeof tiny) == -1);
	CHECK_STR(tiny, "bad n");
	CHECK(namelist_add(NULL, "example.com", err, sizeof err) == -1);
	CHECK_STR(err, "no list to fill");
	struct namelist garbage;
	memset(&garbage, 0x55, sizeof garbage);
	CHECK(namelist_add(&garbage, "example.com", err, sizeof err) == -1);
	CHECK_STR(err, "list not initialised");
}

static void test_too_many(void)
{
	struct namelist l = { 0 };
	char item[32];

	for (int i = 0; i < NAMELIST_MAX; i++) {
		snprintf(item, sizeof item, "h%d.example", i);
		if (namelist_add(&l, item, err, sizeof err) != 0)
			break;
	}
	CHECK_INT(l.n, NAMELIST_MAX);
	CHECK_MATCH(l, "h63.example");
	CHECK_MATCH(l, "x.h0.example");
	CHECK(namelist_add(&l, "one.more", err, sizeof err) == -1);
	CHECK_STR(err, "too many names (more than 64)");
	CHECK_INT(l.n, NAMELIST_MAX);
	CHECK_NO_MATCH(l, "one.more");
	/* "*" still fits: it takes no slot. */
	CHECK(namelist_add(&l, "*", err, sizeof err) == 0);
	CHECK_MATCH(l, "one.more");
}

int main(void)
{
	test_is_name();
	test_is_name_against_netlist();
	test_forms();
	test_match_domain();
	test_match_subdomains_only();
	test_match_all_and_many();
	test_every_suffix();
	test_errors();
	test_too_many();
	return unit_report();
}
