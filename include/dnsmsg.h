/* dnsmsg.h - the few DNS messages the supervisor answers itself (RFC 1035; pure, no I/O).
 *
 * A query is one question, uncompressed, no answer or authority records (an EDNS OPT
 * record in the additional section is allowed and ignored). The answers built here carry
 * that question back and at most one record, so they are small and need no compression
 * beyond the pointer to the question's name. */
#ifndef SOCKSIFY_DNSMSG_H
#define SOCKSIFY_DNSMSG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define DNS_HEADER_LEN 12
#define DNS_TYPE_A 1
#define DNS_TYPE_PTR 12
#define DNS_TYPE_AAAA 28
#define DNS_CLASS_IN 1

enum {
	DNS_RCODE_NOERROR = 0,
	DNS_RCODE_FORMERR = 1,
	DNS_RCODE_SERVFAIL = 2,
	DNS_RCODE_NXDOMAIN = 3,
	DNS_RCODE_NOTIMP = 4,
	DNS_RCODE_REFUSED = 5,
};

struct dns_question {
	uint16_t id;
	uint16_t flags; /* as in the query: RD is copied into the answer */
	char name[254]; /* dotted, no trailing dot; "" for the root */
	uint16_t qtype, qclass;
	size_t end; /* offset just past the question in the query */
};

/* Parses a standard query (QR 0, OPCODE 0, QDCOUNT 1, ANCOUNT 0, NSCOUNT 0) with a
 * name of printable labels (no '.', no space or control byte inside a label).
 * Returns 0, or DNS_RCODE_FORMERR / DNS_RCODE_NOTIMP for what an answer should say,
 * or -1 when the bytes are no query to answer at all (shorter than a header, or QR 1). */
int dnsmsg_parse_query(const uint8_t *msg, size_t len, struct dns_question *q);

/* Writes an answer to the query q was parsed from (msg: its bytes, for the question):
 * the question and, when rdata is not NULL, one record of q's type and class with the
 * given TTL. Returns the length, or -1 if cap is too small. */
ssize_t dnsmsg_build_answer(uint8_t *out, size_t cap, const struct dns_question *q, const uint8_t *msg,
			    int rcode, const void *rdata, uint16_t rdlen, uint32_t ttl);

/* An answer with no question for a query that could not be parsed (only its header is
 * used; msg holds at least DNS_HEADER_LEN bytes): same ID, QR 1, the rcode. Returns 12
 * or -1 when cap is too small. */
ssize_t dnsmsg_build_error(uint8_t *out, size_t cap, const uint8_t *msg, int rcode);

/* An answer too long for a datagram of max bytes, cut to its header and question with
 * TC set (the client retries over TCP). Works in place; returns the new length, or len
 * unchanged when it fits or is not an answer with one question. */
size_t dnsmsg_truncate(uint8_t *msg, size_t len, size_t max);

#endif
