/* A statically linked HTTP/1.0 GET for `make compare`: no dynamic loader, so no LD_PRELOAD
 * library ever sees its connect().  compare_static IPV4 PORT: prints the response's body. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct sockaddr_in sin = {.sin_family = AF_INET};
	char buf[4096];
	size_t got = 0;
	ssize_t n;
	int fd;

	if (argc != 3 || inet_pton(AF_INET, argv[1], &sin.sin_addr) != 1) {
		fprintf(stderr, "usage: compare_static IPV4 PORT\n");
		return 2;
	}
	sin.sin_port = htons((unsigned short)atoi(argv[2]));
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sin, sizeof sin) != 0) {
		perror("compare_static: connect");
		return 1;
	}
	static const char req[] = "GET /ok HTTP/1.0\r\n\r\n";
	if (write(fd, req, sizeof req - 1) != (ssize_t)(sizeof req - 1)) {
		perror("compare_static: write");
		return 1;
	}
	while (got < sizeof buf - 1 && (n = read(fd, buf + got, sizeof buf - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	char *body = strstr(buf, "\r\n\r\n");
	fputs(body ? body + 4 : buf, stdout);
	return body ? 0 : 1;
}
