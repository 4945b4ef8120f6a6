/* test_check.c - the pure part of socksify --check: its HOST:PORT target parser. */
#include "check.h"
#include "unit.h"

static int parse(const char *s, char *host, unsigned *port)
{
	strcpy(host, "untouched");
	*port = 7;
	return check_parse_target(s, host, 256, port);
}

static void test_good(void)
{
	char host[256];
	unsigned port;
	CHECK_INT(parse("localhost:1080", host, &port), 0);
	CHECK_STR(host, "localhost");
	CHECK_INT(port, 1080);
	CHECK_INT(parse("127.0.0.1:1", host, &port), 0);
	CHECK_STR(host, "127.0.0.1");
	CHECK_INT(port, 1);
	CHECK_INT(parse("[::1]:65535", host, &port), 0);
	CHECK_STR(host, "::1");
	CHECK_INT(port, 65535);
}

static void test_bad(void)
{
	static const char *const bad[] = {
		"", "localhost", "localhost:", ":80", "[]:80", "::1:80", "[::1]80", "[::1", "host:0",
		"host:65536", "host:-1", "host:+1", "host:80x", "host: 80", "a:b:80",
	};
	char host[256];
	unsigned port;
	for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		if (!CHECK(parse(bad[i], host, &port) == -1))
			fprintf(stderr, "    accepted \"%s\"\n", bad[i]);
		CHECK_STR(host, "untouched");
		CHECK_INT(port, 7);
	}
}

static void test_name_lengths(void)
{
	char s[300], host[256];
	unsigned port;
	memset(s, 'a', 255);
	strcpy(s + 255, ":80");
	CHECK_INT(parse(s, host, &port), 0);
	CHECK_INT(strlen(host), 255);
	memset(s, 'a', 256);
	strcpy(s + 256, ":80");
	CHECK_INT(parse(s, host, &port), -1);
	CHECK_INT(check_parse_target("abcd:80", host, 4, &port), -1); /* does not fit the buffer */
}

int main(void)
{
	test_good();
	test_bad();
	test_name_lengths();
	return unit_report();
}
