/* syscall.c - the socket calls some libraries make through syscall().
 *
 * libuv (node, BIND's dig) sends and receives datagrams with
 * syscall(__NR_sendmmsg/__NR_recvmmsg): without this hook those datagrams
 * would bypass the library; closefrom-style code closes fds with
 * syscall(SYS_close_range). Only the calls we handle are routed to
 * their hooks; every other number goes to the real syscall() untouched. */
#include <stdarg.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "export.h"
#include "real.h"

EXPORT long syscall(long number, ...)
{
	va_list ap;
	va_start(ap, number);
	long a1 = va_arg(ap, long), a2 = va_arg(ap, long), a3 = va_arg(ap, long);
	long a4 = va_arg(ap, long), a5 = va_arg(ap, long), a6 = va_arg(ap, long);
	va_end(ap);
	switch (number) {
	case SYS_connect:
		return connect((int)a1, (const struct sockaddr *)a2, (socklen_t)a3);
	case SYS_sendto:
		return sendto((int)a1, (const void *)a2, (size_t)a3, (int)a4, (const struct sockaddr *)a5, (socklen_t)a6);
	case SYS_sendmsg:
		return sendmsg((int)a1, (const struct msghdr *)a2, (int)a3);
	case SYS_sendmmsg:
		return sendmmsg((int)a1, (struct mmsghdr *)a2, (unsigned int)a3, (int)a4);
	case SYS_recvfrom:
		return recvfrom((int)a1, (void *)a2, (size_t)a3, (int)a4, (struct sockaddr *)a5, (socklen_t *)a6);
	case SYS_recvmsg:
		return recvmsg((int)a1, (struct msghdr *)a2, (int)a3);
	case SYS_recvmmsg:
		return recvmmsg((int)a1, (struct mmsghdr *)a2, (unsigned int)a3, (int)a4, (struct timespec *)a5);
	/* fd bookkeeping: our state must follow the program's fds on this path too */
	case SYS_close:
		return close((int)a1);
	case SYS_close_range:
		return close_range((unsigned int)a1, (unsigned int)a2, (int)a3);
	case SYS_dup:
		return dup((int)a1);
	case SYS_dup2:
		return dup2((int)a1, (int)a2);
	case SYS_dup3:
		return dup3((int)a1, (int)a2, (int)a3);
	default:
		return REAL(syscall)(number, a1, a2, a3, a4, a5, a6);
	}
}
