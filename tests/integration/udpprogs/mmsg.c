/* mmsg.c - datagrams through syscall(SYS_sendmmsg) (as libuv sends them) and recvmmsg().
 *
 *   mmsg ADDR PORT COUNT
 *
 * Sends COUNT datagrams ("mmsg 0", "mmsg 1", ...) to ADDR:PORT (IPv4 or IPv6) in one
 * raw syscall(SYS_sendmmsg), receives with recvmmsg(MSG_WAITFORONE) until COUNT came
 * back (5 s poll deadline), prints one JSON line: the sendmmsg result and each
 * reply's payload and source. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX 16

int main(int argc, char **argv)
{
	if (argc != 4)
		return 2;
	struct sockaddr_storage to = { 0 };
	socklen_t tolen;
	int fam = strchr(argv[1], ':') ? AF_INET6 : AF_INET;
	if (fam == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&to;
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((unsigned short)atoi(argv[2]));
		inet_pton(AF_INET6, argv[1], &s6->sin6_addr);
		tolen = sizeof *s6;
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&to;
		s4->sin_family = AF_INET;
		s4->sin_port = htons((unsigned short)atoi(argv[2]));
		inet_pton(AF_INET, argv[1], &s4->sin_addr);
		tolen = sizeof *s4;
	}
	int count = atoi(argv[3]);
	if (count < 1 || count > MAX)
		return 2;
	int fd = socket(fam, SOCK_DGRAM, 0);
	char out[MAX][32], in[MAX][64];
	struct iovec oiov[MAX], iiov[MAX];
	struct mmsghdr ov[MAX], iv[MAX];
	struct sockaddr_storage src[MAX];
	memset(ov, 0, sizeof ov);
	for (int i = 0; i < count; i++) {
		oiov[i].iov_base = out[i];
		oiov[i].iov_len = (size_t)snprintf(out[i], sizeof out[i], "mmsg %d", i);
		ov[i].msg_hdr.msg_name = &to;
		ov[i].msg_hdr.msg_namelen = tolen;
		ov[i].msg_hdr.msg_iov = &oiov[i];
		ov[i].msg_hdr.msg_iovlen = 1;
	}
	long sent = syscall(SYS_sendmmsg, fd, ov, (unsigned)count, 0);
	int sent_errno = sent < 0 ? errno : 0;
	printf("{\"sent\": %ld, \"send_errno\": %d, \"replies\": [", sent, sent_errno);
	int got = 0;
	while (sent > 0 && got < count) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		if (poll(&p, 1, 5000) <= 0)
			break;
		memset(iv, 0, sizeof iv);
		for (int i = 0; i < count - got; i++) {
			iiov[i].iov_base = in[i];
			iiov[i].iov_len = sizeof in[i] - 1;
			iv[i].msg_hdr.msg_name = &src[i];
			iv[i].msg_hdr.msg_namelen = sizeof src[i];
			iv[i].msg_hdr.msg_iov = &iiov[i];
			iv[i].msg_hdr.msg_iovlen = 1;
		}
		int n = recvmmsg(fd, iv, (unsigned)(count - got), MSG_WAITFORONE, NULL);
		if (n < 0)
			break;
		for (int i = 0; i < n; i++, got++) {
			char a[INET6_ADDRSTRLEN] = "?";
			int port = 0;
			if (src[i].ss_family == AF_INET6) {
				inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&src[i])->sin6_addr, a, sizeof a);
				port = ntohs(((struct sockaddr_in6 *)&src[i])->sin6_port);
			} else if (src[i].ss_family == AF_INET) {
				inet_ntop(AF_INET, &((struct sockaddr_in *)&src[i])->sin_addr, a, sizeof a);
				port = ntohs(((struct sockaddr_in *)&src[i])->sin_port);
			}
			in[i][iv[i].msg_len] = 0;
			printf("%s[\"%s\", \"%s\", %d]", got ? ", " : "", in[i], a, port);
		}
	}
	printf("]}\n");
	return got == count ? 0 : 1;
}
