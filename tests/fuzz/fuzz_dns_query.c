/* fuzz_dns_query.c - the supervisor's DNS responder (src/supervise/dnsmsg.c).
 *
 * The input is one datagram as a program's resolver sends it. Whatever it holds, the
 * parser reads nothing past it; a parsed query gives a dotted name of printable bytes
 * without empty labels, and an answer built from it carries its question back byte for
 * byte, with one record of exactly the size asked for, and parses back (as a query, QR
 * and the record taken away) to the same question. Cutting the answer to a datagram
 * size keeps header and question only. Seeds: tests/fuzz/make_dns_seeds.py. */
#include "dnsmsg.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t *msg = fuzz_copy(data, size);
	struct dns_question q;
	int rc = dnsmsg_parse_query(msg, size, &q);
	FUZZ_CHECK(rc == -1 || rc == 0 || rc == DNS_RCODE_FORMERR || rc == DNS_RCODE_NOTIMP);
	if (rc == -1)
		FUZZ_CHECK(size < DNS_HEADER_LEN || (msg[2] & 0x80));
	uint8_t out[DNS_HEADER_LEN + 300 + 12 + 16];
	if (rc > 0) {
		FUZZ_CHECK(dnsmsg_build_error(out, sizeof out, msg, rc) == DNS_HEADER_LEN);
		FUZZ_CHECK(out[0] == msg[0] && out[1] == msg[1] && (out[3] & 0xf) == rc);
	}
	if (rc != 0) {
		free(msg);
		return 0;
	}
	size_t n = strlen(q.name);
	FUZZ_CHECK(n <= 253 && q.end <= size && q.end >= DNS_HEADER_LEN + 5);
	FUZZ_CHECK(n == 0 || (q.name[0] != '.' && q.name[n - 1] != '.' && !strstr(q.name, "..")));
	for (size_t i = 0; i < n; i++)
		FUZZ_CHECK(q.name[i] > 0x20 && q.name[i] < 0x7f);

	static const uint8_t rdata[16] = { 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 7 };
	uint16_t rdlen = q.qtype == DNS_TYPE_A ? 4 : 16;
	ssize_t a = dnsmsg_build_answer(out, sizeof out, &q, msg, DNS_RCODE_NOERROR, rdata, rdlen, 60);
	FUZZ_CHECK(a == (ssize_t)(q.end + 12 + rdlen));
	FUZZ_CHECK(memcmp(out + DNS_HEADER_LEN, msg + DNS_HEADER_LEN, q.end - DNS_HEADER_LEN) == 0);
	FUZZ_CHECK(memcmp(out + q.end + 12, rdata, rdlen) == 0);
	FUZZ_CHECK(dnsmsg_build_answer(out, (size_t)a - 1, &q, msg, 0, rdata, rdlen, 60) == -1);

	/* the answer's question, read back as a query */
	uint8_t back[sizeof out];
	memcpy(back, out, q.end);
	back[2] &= 0x7f;
	back[6] = back[7] = 0;
	struct dns_question q2;
	FUZZ_CHECK(dnsmsg_parse_query(back, q.end, &q2) == 0);
	FUZZ_CHECK(strcmp(q.name, q2.name) == 0 && q.qtype == q2.qtype && q.qclass == q2.qclass && q.id == q2.id);

	size_t t = dnsmsg_truncate(out, (size_t)a, q.end);
	FUZZ_CHECK(t == q.end && (out[2] & 0x02) && out[7] == 0);
	free(msg);
	return 0;
}
