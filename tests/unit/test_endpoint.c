/* test_endpoint.c - endpoint keys: IPv4 as v4-mapped, ports, lengths. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "endpoint.h"
#include "unit.h"

static struct sockaddr_in v4(const char *a, int port)
{
	struct sockaddr_in s = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	inet_pton(AF_INET, a, &s.sin_addr);
	return s;
}

static struct sockaddr_in6 v6(const char *a, int port)
{
	struct sockaddr_in6 s = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port) };
	inet_pton(AF_INET6, a, &s.sin6_addr);
	return s;
}

int main(void)
{
	struct sockaddr_in a = v4("10.1.2.3", 80), b = v4("10.1.2.3", 81);
	struct sockaddr_in6 m = v6("::ffff:10.1.2.3", 80), c = v6("2001:db8::1", 80), d = v6("2001:db8::1", 80);
	struct endpoint_key k;
	static const uint8_t want[16] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3 };

	CHECK(endpoint_key_of((struct sockaddr *)&a, sizeof a, &k));
	CHECK_MEM(k.ip, want, 16);
	CHECK_INT(k.port, 80);
	CHECK(endpoint_is_v4(k.ip));
	CHECK(!endpoint_key_of((struct sockaddr *)&a, sizeof a - 1, &k)); /* short */
	CHECK(!endpoint_key_of(NULL, 0, &k));
	struct sockaddr un = { .sa_family = AF_UNIX };
	CHECK(!endpoint_key_of(&un, sizeof un, &k));

	CHECK(endpoint_same((struct sockaddr *)&a, sizeof a, (struct sockaddr *)&m, sizeof m)); /* mapped == plain */
	CHECK(!endpoint_same((struct sockaddr *)&a, sizeof a, (struct sockaddr *)&b, sizeof b)); /* port differs */
	CHECK(endpoint_same((struct sockaddr *)&c, sizeof c, (struct sockaddr *)&d, sizeof d));
	CHECK(!endpoint_same((struct sockaddr *)&a, sizeof a, (struct sockaddr *)&c, sizeof c));
	CHECK(endpoint_key_of((struct sockaddr *)&c, sizeof c, &k) && !endpoint_is_v4(k.ip));

	uint8_t ip[16];
	CHECK(endpoint_ip_of(AF_INET, &a.sin_addr, ip) && memcmp(ip, want, 16) == 0);
	CHECK(endpoint_ip_of(AF_INET6, &c.sin6_addr, ip) && memcmp(ip, &c.sin6_addr, 16) == 0);
	CHECK(!endpoint_ip_of(AF_UNIX, &a.sin_addr, ip));
	/* in an IPv6 socket's terms: v4-mapped; an IPv4 socket's or an IPv6 address: as they are */
	struct sockaddr_storage ss;
	struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
	memset(&ss, 0, sizeof ss);
	in4->sin_family = AF_INET;
	in4->sin_port = htons(1080);
	inet_pton(AF_INET, "192.0.2.7", &in4->sin_addr);
	CHECK_INT(endpoint_in_family(&ss, sizeof *in4, AF_INET), sizeof *in4);
	CHECK_INT(in4->sin_family, AF_INET);
	CHECK_INT(endpoint_in_family(&ss, sizeof *in4, AF_INET6), sizeof(struct sockaddr_in6));
	struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss, want6;
	memset(&want6, 0, sizeof want6);
	want6.sin6_family = AF_INET6;
	want6.sin6_port = htons(1080);
	inet_pton(AF_INET6, "::ffff:192.0.2.7", &want6.sin6_addr);
	CHECK_MEM(in6, &want6, sizeof want6);
	CHECK_INT(endpoint_in_family(&ss, sizeof *in6, AF_INET6), sizeof *in6);
	CHECK_MEM(in6, &want6, sizeof want6);
	return unit_report();
}
