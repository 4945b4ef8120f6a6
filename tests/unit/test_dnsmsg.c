/* test_dnsmsg.c - the supervisor's DNS messages, byte by byte (src/supervise/dnsmsg.c). */
#include "dnsmsg.h"
#include "unit.h"

/* A query for example.com A, id 0x1234, RD set: what glibc and Go send. */
static const uint8_t query_a[] = {
	0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
	7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0,
	0x00, 0x01, 0x00, 0x01,
};

/* The same with an EDNS OPT record in the additional section (Go 1.19 sends one). */
static const uint8_t query_edns[] = {
	0xab, 0xcd, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
	1, 'X', 2, 'y', 'Z', 0,
	0x00, 0x1c, 0x00, 0x01,
	0x00, 0x00, 0x29, 0x04, 0xd0, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
};

static void test_parse(void)
{
	struct dns_question q;
	CHECK_INT(dnsmsg_parse_query(query_a, sizeof query_a, &q), 0);
	CHECK_INT(q.id, 0x1234);
	CHECK_INT(q.flags, 0x0100);
	CHECK_STR(q.name, "example.com");
	CHECK_INT(q.qtype, DNS_TYPE_A);
	CHECK_INT(q.qclass, DNS_CLASS_IN);
	CHECK_INT(q.end, sizeof query_a);

	CHECK_INT(dnsmsg_parse_query(query_edns, sizeof query_edns, &q), 0);
	CHECK_STR(q.name, "X.yZ"); /* case kept: the proxy gets the name as asked */
	CHECK_INT(q.qtype, DNS_TYPE_AAAA);
	CHECK_INT(q.end, 22);

	/* every prefix of a query is short of something: never parsed as a query */
	for (size_t n = 0; n < sizeof query_a; n++) {
		int r = dnsmsg_parse_query(query_a, n, &q);
		if (!CHECK(n < DNS_HEADER_LEN ? r == -1 : r == DNS_RCODE_FORMERR))
			fprintf(stderr, "    prefix %zu gave %d\n", n, r);
	}
}

static void test_parse_refusals(void)
{
	struct dns_question q;
	uint8_t m[sizeof query_a];

	memcpy(m, query_a, sizeof m);
	m[2] |= 0x80; /* QR: an answer */
	CHECK_INT(dnsmsg_parse_query(m, sizeof m, &q), -1);

	memcpy(m, query_a, sizeof m);
	m[2] |= 0x10; /* OPCODE 2 (status) */
	CHECK_INT(dnsmsg_parse_query(m, sizeof m, &q), DNS_RCODE_NOTIMP);
	CHECK_INT(q.id, 0x1234);

	memcpy(m, query_a, sizeof m);
	m[5] = 2; /* QDCOUNT 2 */
	CHECK_INT(dnsmsg_parse_query(m, sizeof m, &q), DNS_RCODE_FORMERR);

	memcpy(m, query_a, sizeof m);
	m[7] = 1; /* ANCOUNT 1 */
	CHECK_INT(dnsmsg_parse_query(m, sizeof m, &q), DNS_RCODE_FORMERR);

	memcpy(m, query_a, sizeof m);
	m[12] = 0xc0; /* a compression pointer in a question */
	CHECK_INT(dnsmsg_parse_query(m, sizeof m, &q), DNS_RCODE_FORMERR);

	memcpy(m, query_a, sizeof m);
	m[15] = '.'; /* a dot inside a label would change the name */
	CHECK_INT(dnsmsg_parse_query(m, sizeof m, &q), DNS_RCODE_FORMERR);
	m[15] = ' ';
	CHECK_INT(dnsmsg_parse_query(m, sizeof m, &q), DNS_RCODE_FORMERR);
	m[15] = 0;
	CHECK_INT(dnsmsg_parse_query(m, sizeof m, &q), DNS_RCODE_FORMERR);

	memcpy(m, query_a, sizeof m);
	m[12] = 20; /* a label longer than the message */
	CHECK_INT(dnsmsg_parse_query(m, sizeof m, &q), DNS_RCODE_FORMERR);

	/* the root name: parsed (answered REFUSED by the responder) */
	static const uint8_t root[] = { 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1 };
	CHECK_INT(dnsmsg_parse_query(root, sizeof root, &q), 0);
	CHECK_STR(q.name, "");
}

static void test_long_names(void)
{
	/* 4 labels of 63: 255 bytes of wire name, 253 dotted, the most a name can be */
	uint8_t m[12 + 4 * 64 + 1 + 4] = { 0, 7, 0, 0, 0, 1 };
	size_t i = 12;
	for (int l = 0; l < 4; l++) {
		m[i++] = l < 3 ? 63 : 61;
		memset(m + i, 'a' + l, l < 3 ? 63 : 61);
		i += l < 3 ? 63 : 61;
	}
	m[i++] = 0;
	m[i + 1] = 1, m[i + 3] = 1;
	i += 4;
	struct dns_question q;
	CHECK_INT(dnsmsg_parse_query(m, i, &q), 0);
	CHECK_INT(strlen(q.name), 253);
	/* one more byte in the last label: 254 dotted, too long */
	uint8_t m2[sizeof m + 1] = { 0, 7, 0, 0, 0, 1 };
	i = 12;
	for (int l = 0; l < 4; l++) {
		m2[i++] = l < 3 ? 63 : 62;
		memset(m2 + i, 'a', l < 3 ? 63 : 62);
		i += l < 3 ? 63 : 62;
	}
	m2[i++] = 0;
	m2[i + 1] = 1, m2[i + 3] = 1;
	CHECK_INT(dnsmsg_parse_query(m2, i + 4, &q), DNS_RCODE_FORMERR);
}

static void test_answer(void)
{
	struct dns_question q;
	uint8_t out[512];
	static const uint8_t addr[4] = { 240, 0, 0, 1 };
	dnsmsg_parse_query(query_a, sizeof query_a, &q);
	ssize_t n = dnsmsg_build_answer(out, sizeof out, &q, query_a, DNS_RCODE_NOERROR, addr, 4, 60);
	static const uint8_t want[] = {
		0x12, 0x34, 0x81, 0x80, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00,
		7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 3, 'c', 'o', 'm', 0,
		0x00, 0x01, 0x00, 0x01,
		0xc0, 0x0c, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x3c, 0x00, 0x04, 240, 0, 0, 1,
	};
	CHECK_INT(n, sizeof want);
	CHECK_MEM(out, want, sizeof want);
	/* exactly the space needed, and one byte less */
	CHECK_INT(dnsmsg_build_answer(out, sizeof want, &q, query_a, 0, addr, 4, 60), sizeof want);
	CHECK_INT(dnsmsg_build_answer(out, sizeof want - 1, &q, query_a, 0, addr, 4, 60), -1);

	/* REFUSED without a record; the EDNS record of the query is not echoed; RD 0 stays 0 */
	uint8_t m[sizeof query_edns];
	memcpy(m, query_edns, sizeof m);
	m[2] = 0;
	dnsmsg_parse_query(m, sizeof m, &q);
	n = dnsmsg_build_answer(out, sizeof out, &q, m, DNS_RCODE_REFUSED, NULL, 0, 0);
	static const uint8_t refused[] = {
		0xab, 0xcd, 0x80, 0x85, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
		1, 'X', 2, 'y', 'Z', 0, 0x00, 0x1c, 0x00, 0x01,
	};
	CHECK_INT(n, sizeof refused);
	CHECK_MEM(out, refused, sizeof refused);

	/* in place: the answer may be built over the query */
	uint8_t inplace[64];
	memcpy(inplace, query_a, sizeof query_a);
	dnsmsg_parse_query(inplace, sizeof query_a, &q);
	CHECK_INT(dnsmsg_build_answer(inplace, sizeof inplace, &q, inplace, 0, addr, 4, 60), sizeof want);
	CHECK_MEM(inplace, want, sizeof want);
}

static void test_error_and_truncate(void)
{
	uint8_t out[64];
	CHECK_INT(dnsmsg_build_error(out, sizeof out, query_a, DNS_RCODE_FORMERR), 12);
	static const uint8_t formerr[] = { 0x12, 0x34, 0x81, 0x81, 0, 0, 0, 0, 0, 0, 0, 0 };
	CHECK_MEM(out, formerr, 12);
	CHECK_INT(dnsmsg_build_error(out, 11, query_a, DNS_RCODE_FORMERR), -1);

	/* an answer of 45 bytes cut to 30: header and question, TC, counts 0 */
	struct dns_question q;
	uint8_t a[64];
	static const uint8_t addr[4] = { 1, 2, 3, 4 };
	dnsmsg_parse_query(query_a, sizeof query_a, &q);
	ssize_t n = dnsmsg_build_answer(a, sizeof a, &q, query_a, 0, addr, 4, 1);
	CHECK_INT(dnsmsg_truncate(a, (size_t)n, 100), n); /* fits: unchanged */
	CHECK_INT(dnsmsg_truncate(a, (size_t)n, 40), sizeof query_a);
	CHECK_INT(a[2], 0x83);
	CHECK_INT(a[7], 0);
	CHECK_MEM(a + 12, query_a + 12, sizeof query_a - 12);
	/* a query (QR 0) is never truncated */
	uint8_t qq[sizeof query_a];
	memcpy(qq, query_a, sizeof qq);
	CHECK_INT(dnsmsg_truncate(qq, sizeof qq, 12), sizeof qq);
}

int main(void)
{
	test_parse();
	test_parse_refusals();
	test_long_names();
	test_answer();
	test_error_and_truncate();
	return unit_report();
}
