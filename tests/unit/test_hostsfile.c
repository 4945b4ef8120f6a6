/* test_hostsfile.c - /etc/hosts lookups: format corners, families, and text cut at every byte.
 *
 * Texts are copied into heap buffers of exactly len bytes, so that under
 * SANITIZE=1 any read past len is an AddressSanitizer error.
 */
#include "hostsfile.h"
#include "unit.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <strings.h>
#include <sys/socket.h>

#define OUT_MAX 8

/* A heap copy of text[0..len) with no byte to spare. */
static char *exact_copy(const char *text, size_t len)
{
	char *p = malloc(len ? len : 1);
	if (!p)
		abort();
	memcpy(p, text, len);
	return p;
}

static struct hosts_addr addr_of(const char *ip)
{
	struct hosts_addr a;
	memset(&a, 0, sizeof a);
	if (inet_pton(AF_INET, ip, a.addr) == 1) {
		a.family = AF_INET;
	} else if (inet_pton(AF_INET6, ip, a.addr) == 1) {
		a.family = AF_INET6;
	} else {
		fprintf(stderr, "test bug: bad address %s\n", ip);
		abort();
	}
	return a;
}

static int same_addr(const struct hosts_addr *a, const struct hosts_addr *b)
{
	return a->family == b->family && memcmp(a->addr, b->addr, a->family == AF_INET ? 4 : 16) == 0;
}

/* The results of one name lookup in a NUL-terminated text (heap copy without the NUL). */
struct found {
	size_t n;
	struct hosts_addr a[OUT_MAX];
};

static struct found lookup_len(const char *text, size_t len, const char *name, int family)
{
	struct found f;
	char *copy = exact_copy(text, len);
	memset(&f, 0, sizeof f);
	f.n = hosts_lookup_name(copy, len, name, family, f.a, OUT_MAX);
	free(copy);
	return f;
}

static struct found lookup(const char *text, const char *name, int family)
{
	return lookup_len(text, strlen(text), name, family);
}

/* 1 when the lookup found exactly the addresses listed (text, in order), NULL-terminated. */
static int found_exactly(const struct found *f, const char *const *ips)
{
	size_t n = 0;
	while (ips[n])
		n++;
	if (f->n != n)
		return 0;
	for (size_t i = 0; i < n; i++) {
		struct hosts_addr want = addr_of(ips[i]);
		if (!same_addr(&f->a[i], &want))
			return 0;
	}
	return 1;
}

#define CHECK_FOUND(text, name, family, ...)                                                                       \
	do {                                                                                                       \
		struct found f_ = lookup((text), (name), (family));                                                \
		const char *const want_[] = { __VA_ARGS__, NULL };                                                 \
		unit_check(found_exactly(&f_, want_), __FILE__, __LINE__, "lookup " #name " in " #text);           \
	} while (0)
#define CHECK_NONE(text, name, family)                                                                             \
	unit_check_long((long)lookup((text), (name), (family)).n, 0, __FILE__, __LINE__, "none " #name " in " #text)

/* Reverse lookup in a heap copy; returns 1/0 and the name in buf. */
static int reverse_len(const char *text, size_t len, const char *ip, char *buf, size_t cap)
{
	struct hosts_addr a = addr_of(ip);
	char *copy = exact_copy(text, len);
	int rc = hosts_lookup_addr(copy, len, a.family, a.addr, buf, cap);
	free(copy);
	return rc;
}

static const char *reverse(const char *text, const char *ip)
{
	static char buf[256];
	strcpy(buf, "unset");
	return reverse_len(text, strlen(text), ip, buf, sizeof buf) ? buf : NULL;
}

static const char sample[] = "# /etc/hosts\n"
			     "127.0.0.1\tlocalhost\n"
			     "127.0.1.1\tbox.example.org box\n"
			     "\n"
			     "# The following lines are desirable for IPv6 capable hosts\n"
			     "::1     localhost ip6-localhost ip6-loopback\n"
			     "ff02::1 ip6-allnodes\n"
			     "10.0.0.5 web www # web-old\n"
			     "2001:db8::5 web\n"
			     "10.0.0.6 web\n";

static void test_sample(void)
{
	CHECK_FOUND(sample, "localhost", AF_UNSPEC, "127.0.0.1", "::1");
	CHECK_FOUND(sample, "localhost", AF_INET, "127.0.0.1");
	CHECK_FOUND(sample, "localhost", AF_INET6, "::1");
	CHECK_FOUND(sample, "box", AF_UNSPEC, "127.0.1.1");
	CHECK_FOUND(sample, "box.example.org", AF_UNSPEC, "127.0.1.1");
	CHECK_FOUND(sample, "ip6-loopback", AF_UNSPEC, "::1");
	CHECK_FOUND(sample, "ip6-allnodes", AF_UNSPEC, "ff02::1");
	CHECK_NONE(sample, "ip6-allnodes", AF_INET);
	CHECK_FOUND(sample, "web", AF_UNSPEC, "10.0.0.5", "2001:db8::5", "10.0.0.6");
	CHECK_FOUND(sample, "web", AF_INET, "10.0.0.5", "10.0.0.6");
	CHECK_FOUND(sample, "web", AF_INET6, "2001:db8::5");
	CHECK_FOUND(sample, "www", AF_UNSPEC, "10.0.0.5");

	/* Not the comment, not parts of names, not the addresses themselves. */
	CHECK_NONE(sample, "web-old", AF_UNSPEC);
	CHECK_NONE(sample, "box.example", AF_UNSPEC);
	CHECK_NONE(sample, "example.org", AF_UNSPEC);
	CHECK_NONE(sample, "bo", AF_UNSPEC);
	CHECK_NONE(sample, "boxx", AF_UNSPEC);
	CHECK_NONE(sample, "10.0.0.5", AF_UNSPEC);
	CHECK_NONE(sample, "The", AF_UNSPEC);
	CHECK_NONE(sample, "etc", AF_UNSPEC);
	CHECK_NONE(sample, "", AF_UNSPEC);
	CHECK_NONE(sample, ".", AF_UNSPEC);

	/* Unknown families find nothing. */
	CHECK_NONE(sample, "localhost", AF_UNIX);
	CHECK_NONE(sample, "localhost", -1);

	CHECK_STR(reverse(sample, "127.0.0.1"), "localhost");
	CHECK_STR(reverse(sample, "127.0.1.1"), "box.example.org");
	CHECK_STR(reverse(sample, "::1"), "localhost");
	CHECK_STR(reverse(sample, "10.0.0.5"), "web");
	CHECK_STR(reverse(sample, "2001:db8::5"), "web");
	CHECK_STR(reverse(sample, "10.0.0.6"), "web");
	CHECK_STR(reverse(sample, "10.0.0.7"), NULL);
	CHECK_STR(reverse(sample, "::2"), NULL);
	CHECK_STR(reverse(sample, "::ffff:127.0.0.1"), NULL); /* as the file says: no mapping */
}

static void test_case_and_dots(void)
{
	const char *t = "1.1.1.1 Mixed.Case.EXAMPLE\n2.2.2.2 dotted.example.\n3.3.3.3 two.dots..\n";

	CHECK_FOUND(t, "mixed.case.example", AF_UNSPEC, "1.1.1.1");
	CHECK_FOUND(t, "MIXED.CASE.EXAMPLE", AF_UNSPEC, "1.1.1.1");
	CHECK_FOUND(t, "mixed.case.example.", AF_UNSPEC, "1.1.1.1");
	CHECK_NONE(t, "mixed.case.example..", AF_UNSPEC);
	CHECK_NONE(t, ".mixed.case.example", AF_UNSPEC);
	CHECK_FOUND(t, "dotted.example", AF_UNSPEC, "2.2.2.2");
	CHECK_FOUND(t, "Dotted.Example.", AF_UNSPEC, "2.2.2.2");
	/* Only one trailing dot goes, on either side. */
	CHECK_FOUND(t, "two.dots..", AF_UNSPEC, "3.3.3.3");
	CHECK_NONE(t, "two.dots.", AF_UNSPEC);
	CHECK_NONE(t, "two.dots", AF_UNSPEC);

	/* The reverse answer is the name as written. */
	CHECK_STR(reverse(t, "1.1.1.1"), "Mixed.Case.EXAMPLE");
	CHECK_STR(reverse(t, "2.2.2.2"), "dotted.example.");

	/* Case folding is ASCII only: bytes above 0x7f are compared as they are. */
	CHECK_FOUND("4.4.4.4 caf\xc3\xa9\n", "CAF\xc3\xa9", AF_UNSPEC, "4.4.4.4");
	CHECK_NONE("4.4.4.4 caf\xc3\xa9\n", "caf\xc3\x89", AF_UNSPEC);
}

static void test_comments(void)
{
	CHECK_NONE("# 1.2.3.4 commented\n", "commented", AF_UNSPEC);
	CHECK_NONE("#1.2.3.4 commented", "commented", AF_UNSPEC);
	CHECK_NONE("  # 1.2.3.4 commented", "commented", AF_UNSPEC);
	CHECK_FOUND("1.2.3.4 name # alias\n", "name", AF_UNSPEC, "1.2.3.4");
	CHECK_NONE("1.2.3.4 name # alias\n", "alias", AF_UNSPEC);
	CHECK_NONE("1.2.3.4 name # alias\n", "#", AF_UNSPEC);
	/* '#' inside a field ends the line there too. */
	CHECK_FOUND("1.2.3.4 name#alias other\n", "name", AF_UNSPEC, "1.2.3.4");
	CHECK_NONE("1.2.3.4 name#alias other\n", "alias", AF_UNSPEC);
	CHECK_NONE("1.2.3.4 name#alias other\n", "other", AF_UNSPEC);
	CHECK_NONE("1.2.3.4 name#alias other\n", "name#alias", AF_UNSPEC);
	/* An address cut by a comment has no names left: skipped. */
	CHECK_NONE("1.2.3.4#name\n", "name", AF_UNSPEC);
	CHECK_NONE("1.2.3.4 #name\n", "name", AF_UNSPEC);
	CHECK_STR(reverse("1.2.3.4 #name\n1.2.3.4 later\n", "1.2.3.4"), "later");
	/* A comment ends at its line. */
	CHECK_FOUND("# a comment\n1.2.3.4 after\n", "after", AF_UNSPEC, "1.2.3.4");
	CHECK_FOUND("1.2.3.4 a # x\n5.6.7.8 a\n", "a", AF_UNSPEC, "1.2.3.4", "5.6.7.8");
}

static void test_whitespace_and_lines(void)
{
	CHECK_FOUND("1.2.3.4\t\tname\talias", "alias", AF_UNSPEC, "1.2.3.4");
	CHECK_FOUND("  \t1.2.3.4 \t name  \t ", "name", AF_UNSPEC, "1.2.3.4");
	CHECK_FOUND("1.2.3.4 name\r\n5.6.7.8 name\r\n", "name", AF_UNSPEC, "1.2.3.4", "5.6.7.8");
	CHECK_FOUND("1.2.3.4 name\r\n", "name", AF_INET, "1.2.3.4");
	CHECK_FOUND("1.2.3.4\r name \r\n", "name", AF_UNSPEC, "1.2.3.4");
	CHECK_STR(reverse("1.2.3.4 name\r\n", "1.2.3.4"), "name");
	CHECK_STR(reverse("1.2.3.4\tname\talias", "1.2.3.4"), "name");
	CHECK_FOUND("\n\n\r\n  \n\t\n1.2.3.4 name\n\n", "name", AF_UNSPEC, "1.2.3.4");
	CHECK_FOUND("1.2.3.4 name", "name", AF_UNSPEC, "1.2.3.4"); /* no final newline */
	CHECK_FOUND("1.2.3.4 x\n5.6.7.8 name", "name", AF_UNSPEC, "5.6.7.8");
	CHECK_NONE("", "name", AF_UNSPEC);
	CHECK_NONE("\n", "name", AF_UNSPEC);
	CHECK_STR(reverse("", "1.2.3.4"), NULL);

	/* A line break inside a line makes two lines: the second starts with a name. */
	CHECK_FOUND("1.2.3.4 one\ntwo\n", "one", AF_UNSPEC, "1.2.3.4");
	CHECK_NONE("1.2.3.4 one\ntwo\n", "two", AF_UNSPEC);

	/* One line naming the name twice counts once. */
	CHECK_FOUND("1.2.3.4 dup dup DUP\n", "dup", AF_UNSPEC, "1.2.3.4");
	/* The same address on two lines is reported twice: as the file says. */
	CHECK_FOUND("1.2.3.4 twice\n1.2.3.4 twice\n", "twice", AF_UNSPEC, "1.2.3.4", "1.2.3.4");

	/* A very long line of aliases. */
	char big[4096] = "9.9.9.9";
	for (int i = 0; i < 300; i++)
		snprintf(big + strlen(big), sizeof big - strlen(big), " a%d", i);
	CHECK_FOUND(big, "a299", AF_UNSPEC, "9.9.9.9");
	CHECK_FOUND(big, "a0", AF_UNSPEC, "9.9.9.9");
	CHECK_NONE(big, "a300", AF_UNSPEC);
}

static void test_nul_bytes(void)
{
	/* A NUL byte ends the line's text, as it would for a C-string reader. */
	static const char t[] = "1.2.3.4 a\0b c\n5.6.7.8 c\n9.9.9.9\0 d\n";
	size_t len = sizeof t - 1;

	CHECK_INT(lookup_len(t, len, "a", AF_UNSPEC).n, 1);
	CHECK_INT(lookup_len(t, len, "b", AF_UNSPEC).n, 0);
	struct found f = lookup_len(t, len, "c", AF_UNSPEC);
	struct hosts_addr want = addr_of("5.6.7.8");
	CHECK_INT(f.n, 1);
	CHECK(same_addr(&f.a[0], &want));
	CHECK_INT(lookup_len(t, len, "d", AF_UNSPEC).n, 0);

	/* "1.2.3.4\0junk" is not the address 1.2.3.4. */
	static const char u[] = "1.2.3.4\0junk e\n";
	CHECK_INT(lookup_len(u, sizeof u - 1, "e", AF_UNSPEC).n, 0);
}

static void test_malformed(void)
{
	const char *t = "1.2.3 short\n"
			"256.1.1.1 big\n"
			"1.2.3.4.5 long\n"
			"01.2.3.4x junk\n"
			"name 1.2.3.4\n"
			"1.2.3.4\n"
			"1.2.3.4   \n"
			"::1::2 badsix\n"
			"[::1] bracket\n"
			"1.2.3.4/24 cidr\n"
			"fe80::1%lo scoped\n"
			"fe80::2%eth0 scoped\n"
			"ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255 longest\n"
			"ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.2550 toolong\n"
			"::ffff:10.1.2.3 mapped\n"
			"1.2.3.4 good\n";

	CHECK_NONE(t, "short", AF_UNSPEC);
	CHECK_NONE(t, "big", AF_UNSPEC);
	CHECK_NONE(t, "long", AF_UNSPEC);
	CHECK_NONE(t, "junk", AF_UNSPEC);
	CHECK_NONE(t, "1.2.3.4", AF_UNSPEC);
	CHECK_NONE(t, "badsix", AF_UNSPEC);
	CHECK_NONE(t, "bracket", AF_UNSPEC);
	CHECK_NONE(t, "cidr", AF_UNSPEC);
	CHECK_NONE(t, "scoped", AF_UNSPEC);
	CHECK_FOUND(t, "longest", AF_INET6, "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255");
	CHECK_NONE(t, "toolong", AF_UNSPEC);
	CHECK_FOUND(t, "mapped", AF_UNSPEC, "::ffff:10.1.2.3"); /* reported as IPv6, as written */
	CHECK_NONE(t, "mapped", AF_INET);
	CHECK_FOUND(t, "good", AF_UNSPEC, "1.2.3.4");
	/* The address-only lines above it are skipped, not taken as its reverse name. */
	CHECK_STR(reverse(t, "1.2.3.4"), "good");
	CHECK_STR(reverse(t, "fe80::1"), NULL);
	CHECK_STR(reverse(t, "::ffff:10.1.2.3"), "mapped");
	CHECK_STR(reverse(t, "10.1.2.3"), NULL);

	/* An address field far longer than any address. */
	char huge[300];
	memset(huge, '1', 200);
	strcpy(huge + 200, " huge\n");
	CHECK_NONE(huge, "huge", AF_UNSPEC);
}

static void test_max(void)
{
	const char *t = "1.1.1.1 n\n2.2.2.2 n\n::3 n\n4.4.4.4 n\n";
	struct hosts_addr out[4], sentinel;
	size_t len = strlen(t);
	char *copy = exact_copy(t, len);

	memset(&sentinel, 0xa5, sizeof sentinel);
	for (size_t i = 0; i < 4; i++)
		out[i] = sentinel;
	CHECK_INT(hosts_lookup_name(copy, len, "n", AF_UNSPEC, out, 2), 4);
	struct hosts_addr a1 = addr_of("1.1.1.1"), a2 = addr_of("2.2.2.2"), a3 = addr_of("::3");
	CHECK(same_addr(&out[0], &a1));
	CHECK(same_addr(&out[1], &a2));
	CHECK_MEM(&out[2], &sentinel, sizeof sentinel);
	CHECK_INT(hosts_lookup_name(copy, len, "n", AF_INET6, out, 1), 1);
	CHECK(same_addr(&out[0], &a3));
	CHECK_INT(hosts_lookup_name(copy, len, "n", AF_UNSPEC, NULL, 0), 4);
	CHECK_INT(hosts_lookup_name(copy, len, "n", AF_INET, NULL, 0), 3);
	CHECK_INT(hosts_lookup_name(copy, 0, "n", AF_UNSPEC, out, 4), 0);
	CHECK_INT(hosts_lookup_name(NULL, 0, "n", AF_UNSPEC, out, 4), 0);
	CHECK_INT(hosts_lookup_name(copy, len, NULL, AF_UNSPEC, out, 4), 0);
	free(copy);
}

static void test_reverse_buffer(void)
{
	const char *t = "10.0.0.1 canonical alias\n";
	size_t len = strlen(t);
	char buf[32];
	uint8_t v4[4] = { 10, 0, 0, 1 };
	char *copy = exact_copy(t, len);

	memset(buf, 'x', sizeof buf);
	CHECK_INT(hosts_lookup_addr(copy, len, AF_INET, v4, buf, 5), 1);
	CHECK_STR(buf, "cano");
	CHECK_INT(buf[5], 'x');
	CHECK_INT(hosts_lookup_addr(copy, len, AF_INET, v4, buf, 10), 1);
	CHECK_STR(buf, "canonical");
	CHECK_INT(hosts_lookup_addr(copy, len, AF_INET, v4, buf, 1), 1);
	CHECK_STR(buf, "");
	memset(buf, 'x', sizeof buf);
	CHECK_INT(hosts_lookup_addr(copy, len, AF_INET, v4, buf, 0), 1);
	CHECK_INT(buf[0], 'x');
	CHECK_INT(hosts_lookup_addr(copy, len, AF_INET, v4, NULL, 0), 1);
	/* The same bytes as another family are not the same address. */
	CHECK_INT(hosts_lookup_addr(copy, len, AF_INET6, (const uint8_t *)"\x0a\0\0\x01\0\0\0\0\0\0\0\0\0\0\0\0",
				    buf, sizeof buf),
		  0);
	CHECK_INT(hosts_lookup_addr(copy, len, AF_UNSPEC, v4, buf, sizeof buf), 0);
	CHECK_INT(hosts_lookup_addr(copy, len, AF_INET, NULL, buf, sizeof buf), 0);
	CHECK_INT(hosts_lookup_addr(NULL, 0, AF_INET, v4, buf, sizeof buf), 0);
	free(copy);
}

/* An independent reference: lines by memchr, then libc string functions on a
 * NUL-terminated copy of each (which also stops at a NUL byte, as intended). */
struct oracle_line {
	struct hosts_addr a;
	size_t n;
	char *names[64];
	char buf[1024];
};

/* Parses the line at text[*pos] into l and moves *pos past it; 0 for a line to skip. */
static int oracle_next(const char *text, size_t len, size_t *pos, struct oracle_line *l)
{
	const char *nl = memchr(text + *pos, '\n', len - *pos);
	size_t n = nl ? (size_t)(nl - (text + *pos)) : len - *pos;
	char *save, *field;

	snprintf(l->buf, sizeof l->buf, "%.*s", (int)n, text + *pos);
	*pos += n + 1;
	l->buf[strcspn(l->buf, "#")] = '\0';
	field = strtok_r(l->buf, " \t\r\v\f", &save);
	memset(&l->a, 0, sizeof l->a);
	if (!field || strchr(field, '%'))
		return 0;
	if (inet_pton(AF_INET, field, l->a.addr) == 1)
		l->a.family = AF_INET;
	else if (inet_pton(AF_INET6, field, l->a.addr) == 1)
		l->a.family = AF_INET6;
	else
		return 0;
	l->n = 0;
	while (l->n < 64 && (field = strtok_r(NULL, " \t\r\v\f", &save)) != NULL)
		l->names[l->n++] = field;
	return l->n > 0;
}

static int oracle_same_name(const char *field, const char *want)
{
	char a[256];

	snprintf(a, sizeof a, "%s", field);
	if (*a && a[strlen(a) - 1] == '.')
		a[strlen(a) - 1] = '\0';
	return *want && strcasecmp(a, want) == 0;
}

static struct found oracle_name(const char *text, size_t len, const char *name, int family)
{
	static struct oracle_line l;
	struct found f = { 0 };
	char want[256];
	size_t pos = 0;

	snprintf(want, sizeof want, "%s", name);
	if (*want && want[strlen(want) - 1] == '.')
		want[strlen(want) - 1] = '\0';
	while (pos < len) {
		if (!oracle_next(text, len, &pos, &l) || (family != AF_UNSPEC && family != l.a.family))
			continue;
		for (size_t i = 0; i < l.n; i++) {
			if (oracle_same_name(l.names[i], want)) {
				if (f.n < OUT_MAX)
					f.a[f.n] = l.a;
				f.n++;
				break;
			}
		}
	}
	return f;
}

/* The first name of the first line with address a, or NULL. */
static const char *oracle_addr(const char *text, size_t len, const struct hosts_addr *a)
{
	static struct oracle_line l;
	size_t pos = 0;

	while (pos < len)
		if (oracle_next(text, len, &pos, &l) && same_addr(&l.a, a))
			return l.names[0];
	return NULL;
}

static int same_found(const struct found *a, const struct found *b)
{
	if (a->n != b->n)
		return 0;
	for (size_t i = 0; i < a->n && i < OUT_MAX; i++)
		if (!same_addr(&a->a[i], &b->a[i]))
			return 0;
	return 1;
}

static const char *const probe_names[] = { "localhost", "LOCALHOST.", "local", "web", "we", "www", "ww", "alias",
					   "a", "al", "six", "six6", "six-two", "scoped", "last", "las", "l",
					   "web2", "x", "z", NULL };
static const char *const probe_addrs[] = { "127.0.0.1", "10.0.0.12", "10.0.0.1", "::1", "2001:db8::1",
					   "2001:db8::", "fe80::1", "1.2.3.4", "1.2.3.45", NULL };

/* Lookups in text cut at every length agree with the reference (and, under ASan, stay in bounds). */
static void check_every_cut(const char *text, size_t total)
{
	int ok = 1;
	static const int families[] = { AF_UNSPEC, AF_INET, AF_INET6 };

	for (size_t len = 0; len <= total; len++) {
		char *copy = exact_copy(text, len);
		for (size_t i = 0; probe_names[i]; i++) {
			for (size_t j = 0; j < 3; j++) {
				struct found got = { 0 };
				got.n = hosts_lookup_name(copy, len, probe_names[i], families[j], got.a, OUT_MAX);
				struct found want = oracle_name(text, len, probe_names[i], families[j]);
				if (!same_found(&got, &want)) {
					fprintf(stderr, "    cut %zu, %s/%d: got %zu, want %zu\n", len, probe_names[i],
						families[j], got.n, want.n);
					ok = 0;
				}
			}
		}
		for (size_t i = 0; probe_addrs[i]; i++) {
			struct hosts_addr a = addr_of(probe_addrs[i]);
			char name[64];
			int rc = hosts_lookup_addr(copy, len, a.family, a.addr, name, sizeof name);
			const char *want = oracle_addr(text, len, &a);
			if (rc != (want != NULL) || (rc && strcmp(name, want) != 0)) {
				fprintf(stderr, "    cut %zu, reverse %s: got %s, want %s\n", len, probe_addrs[i],
					rc ? name : "none", want ? want : "none");
				ok = 0;
			}
		}
		free(copy);
	}
	CHECK(ok);
}

static void test_every_cut(void)
{
	static const char t[] = "127.0.0.1 localhost\n"
				"10.0.0.12\tweb www # web2\r\n"
				"  ::1 localhost six\n"
				"#10.0.0.1 x\n"
				"\n"
				"fe80::1%lo scoped\n"
				"2001:db8::1 six-two six6\t\r\n"
				"1.2.3.45 alias a\n"
				"1.2.3.4 last";
	check_every_cut(t, sizeof t - 1);

	static const char u[] = "1.2.3.4 a\0z x\n10.0.0.12 web\r\r\n\n#\n";
	check_every_cut(u, sizeof u - 1);
}

static uint32_t rng_state = 1234;

static uint32_t rng(void)
{
	rng_state = rng_state * 1103515245u + 12345u;
	return rng_state >> 16;
}

/* Random texts from the format's own bytes: no crash, no read past len, agreement with the reference. */
static void test_random(void)
{
	static const char *const pieces[] = { "1.2.3.4",     "10.0.0.12", "::1",           "2001:db8::1", "fe80::1%lo",
					      "1.2.3",       " ",         "\t",            "\r",          "\n",
					      "#",           "web",       "a",             "www",         ".",
					      ":",           "\0",        "local",         "\n1.2.3.4 ",  "\n::1\t",
					      "\n10.0.0.12 ", " web",      " www\r\n",      " a.",         " LOCAL" };
	const size_t npieces = sizeof pieces / sizeof pieces[0];
	char text[512];
	int ok = 1, hits = 0, reverse_hits = 0;

	for (int round = 0; round < 3000; round++) {
		size_t len = 0, want_pieces = rng() % 40;
		for (size_t i = 0; i < want_pieces; i++) {
			const char *p = pieces[rng() % npieces];
			size_t n = *p ? strlen(p) : 1;
			if (len + n > sizeof text)
				break;
			memcpy(text + len, p, n);
			len += n;
		}
		char *copy = exact_copy(text, len);
		for (size_t i = 0; probe_names[i]; i++) {
			struct found got = { 0 };
			got.n = hosts_lookup_name(copy, len, probe_names[i], AF_UNSPEC, got.a, OUT_MAX);
			struct found want = oracle_name(text, len, probe_names[i], AF_UNSPEC);
			if (!same_found(&got, &want))
				ok = 0;
			hits += got.n > 0;
		}
		for (size_t i = 0; probe_addrs[i]; i++) {
			struct hosts_addr a = addr_of(probe_addrs[i]);
			char name[sizeof text + 1];
			int rc = hosts_lookup_addr(copy, len, a.family, a.addr, name, sizeof name);
			const char *want = oracle_addr(text, len, &a);
			if (rc != (want != NULL) || (rc && strcmp(name, want) != 0))
				ok = 0;
			reverse_hits += rc;
		}
		free(copy);
	}
	CHECK(ok);
	/* The texts are random, but not so random that nothing is ever found. */
	CHECK(hits > 300);
	CHECK(reverse_hits > 300);
}

int main(void)
{
	test_sample();
	test_case_and_dots();
	test_comments();
	test_whitespace_and_lines();
	test_nul_bytes();
	test_malformed();
	test_max();
	test_reverse_buffer();
	test_every_cut();
	test_random();
	return unit_report();
}
