"""A TCP server for half-close tests: reads each connection to EOF, then answers
'N FNV1A64HEX\n' (byte count and FNV-1a 64 of what it got) and closes.

  eofserver.py ADDR     prints 'eofserver: listening on ADDR:PORT'; logs 'got N' on stderr"""

import socket
import sys
import threading


def serve(c):
    h, n = 1469598103934665603, 0
    with c:
        c.settimeout(20)
        while True:
            data = c.recv(65536)
            if not data:
                break
            n += len(data)
            for b in data:
                h = ((h ^ b) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
        print("got %d" % n, file=sys.stderr, flush=True)
        c.sendall(b"%d %016x\n" % (n, h))


def main():
    s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET)
    s.bind((sys.argv[1], 0))
    s.listen(16)
    print("eofserver: listening on %s:%d" % (sys.argv[1], s.getsockname()[1]), flush=True)
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


if __name__ == "__main__":
    main()
