/* dnsmsg.c - parse one-question DNS queries and build the supervisor's answers (pure). */
#include "dnsmsg.h"

#include <string.h>

#define FLAG_QR 0x8000
#define FLAG_TC 0x0200
#define FLAG_RD 0x0100
#define FLAG_RA 0x0080
#define OPCODE(f) (((f) >> 11) & 0xf)

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* A label byte we hand on as part of a host name: printable, not the separator. */
static int label_byte_ok(uint8_t c)
{
	return c > 0x20 && c < 0x7f && c != '.';
}

int dnsmsg_parse_query(const uint8_t *msg, size_t len, struct dns_question *q)
{
	if (len < DNS_HEADER_LEN)
		return -1;
	uint16_t flags = get16(msg + 2);
	if (flags & FLAG_QR)
		return -1; /* an answer: never answer one */
	memset(q, 0, sizeof *q);
	q->id = get16(msg);
	q->flags = flags;
	if (OPCODE(flags) != 0)
		return DNS_RCODE_NOTIMP;
	if (get16(msg + 4) != 1 || get16(msg + 6) != 0 || get16(msg + 8) != 0)
		return DNS_RCODE_FORMERR;
	size_t i = DNS_HEADER_LEN, n = 0;
	for (;;) {
		if (i >= len)
			return DNS_RCODE_FORMERR;
		uint8_t l = msg[i++];
		if (l == 0)
			break;
		if (l > 63 || l > len - i) /* compression (0xC0) and reserved kinds are > 63 */
			return DNS_RCODE_FORMERR;
		if (n + (n ? 1 : 0) + l > sizeof q->name - 1)
			return DNS_RCODE_FORMERR;
		if (n)
			q->name[n++] = '.';
		for (uint8_t k = 0; k < l; k++) {
			if (!label_byte_ok(msg[i + k]))
				return DNS_RCODE_FORMERR;
			q->name[n++] = (char)msg[i + k];
		}
		i += l;
	}
	q->name[n] = '\0';
	if (len - i < 4)
		return DNS_RCODE_FORMERR;
	q->qtype = get16(msg + i);
	q->qclass = get16(msg + i + 2);
	q->end = i + 4;
	return 0;
}

static void put_header(uint8_t *out, uint16_t id, uint16_t qflags, int rcode, uint16_t qd, uint16_t an)
{
	put16(out, id);
	put16(out + 2, (uint16_t)(FLAG_QR | FLAG_RA | (qflags & FLAG_RD) | (rcode & 0xf)));
	put16(out + 4, qd);
	put16(out + 6, an);
	put16(out + 8, 0);
	put16(out + 10, 0);
}

ssize_t dnsmsg_build_answer(uint8_t *out, size_t cap, const struct dns_question *q, const uint8_t *msg,
			    int rcode, const void *rdata, uint16_t rdlen, uint32_t ttl)
{
	size_t qlen = q->end - DNS_HEADER_LEN;
	size_t need = DNS_HEADER_LEN + qlen + (rdata ? 12u + rdlen : 0u);
	if (q->end < DNS_HEADER_LEN || need > cap)
		return -1;
	put_header(out, q->id, q->flags, rcode, 1, rdata ? 1 : 0);
	memmove(out + DNS_HEADER_LEN, msg + DNS_HEADER_LEN, qlen);
	if (rdata) {
		uint8_t *r = out + DNS_HEADER_LEN + qlen;
		put16(r, 0xC000 | DNS_HEADER_LEN); /* the question's name */
		put16(r + 2, q->qtype);
		put16(r + 4, q->qclass);
		put16(r + 6, (uint16_t)(ttl >> 16));
		put16(r + 8, (uint16_t)ttl);
		put16(r + 10, rdlen);
		memcpy(r + 12, rdata, rdlen);
	}
	return (ssize_t)need;
}

ssize_t dnsmsg_build_error(uint8_t *out, size_t cap, const uint8_t *msg, int rcode)
{
	if (cap < DNS_HEADER_LEN)
		return -1;
	uint16_t id = get16(msg), flags = get16(msg + 2);
	put_header(out, id, flags, rcode, 0, 0);
	return DNS_HEADER_LEN;
}

size_t dnsmsg_truncate(uint8_t *msg, size_t len, size_t max)
{
	if (len <= max || len < DNS_HEADER_LEN || !(get16(msg + 2) & FLAG_QR) || get16(msg + 4) != 1)
		return len;
	size_t i = DNS_HEADER_LEN;
	while (i < len && msg[i] != 0) {
		if (msg[i] > 63)
			return len;
		i += 1u + msg[i];
	}
	if (i + 5 > len || i + 5 > max)
		return len;
	put16(msg + 2, get16(msg + 2) | FLAG_TC);
	put16(msg + 6, 0);
	put16(msg + 8, 0);
	put16(msg + 10, 0);
	return i + 5;
}
