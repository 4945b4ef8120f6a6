"""A UDP echo server: sends every datagram back to its sender, unchanged.

  udpecho.py ADDR [ADDR...]

Binds the first ADDR on port 0 and the others on the same port, then prints
'udpecho: listening on ADDR:PORT' (IPv6 as [ADDR]:PORT) for each. Each datagram
is logged on stderr as 'from SRC len N' before its echo is sent."""

import select
import socket
import sys


def main():
    socks, port = [], 0
    for addr in sys.argv[1:]:
        fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_DGRAM)
        if fam == socket.AF_INET6:
            s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        s.bind((addr, port))
        port = s.getsockname()[1]
        socks.append(s)
    for s in socks:
        a = s.getsockname()[0]
        print("udpecho: listening on %s:%d" % ("[%s]" % a if ":" in a else a, port), flush=True)
    while True:
        r, _, _ = select.select(socks, [], [])
        for s in r:
            data, src = s.recvfrom(65536)
            print("from %s len %d" % (src[0], len(data)), file=sys.stderr, flush=True)
            s.sendto(data, src)


if __name__ == "__main__":
    sys.exit(main())
