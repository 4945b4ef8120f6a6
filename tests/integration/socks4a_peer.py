"""A minimal SOCKS4/SOCKS4a server: a test peer for the chain tests (no Debian package
speaks SOCKS4a; danted speaks SOCKS4 only). CONNECT only, no identd.
    socks4a_peer.py [NAME=IPV4]...
resolves each NAME to IPV4 itself (other names by the system resolver). Prints
"listening on 127.0.0.1:PORT" on stdout, then one line per request on stderr:
"connect user=USERID target=HOST:PORT kind=4|4a result=ok|failed"."""

import socket
import struct
import sys
import threading


def read_until_nul(c, limit=1024):
    out = b""
    while not out.endswith(b"\0"):
        b = c.recv(1)
        if not b or len(out) > limit:
            raise OSError("short request")
        out += b
    return out[:-1].decode("latin-1")


def relay(a, b):
    try:
        while True:
            d = a.recv(65536)
            if not d:
                break
            b.sendall(d)
    except OSError:
        pass
    try:
        b.shutdown(socket.SHUT_WR)
    except OSError:
        pass


NAMES = {}


def serve(c):
    with c:
        head = c.recv(8, socket.MSG_WAITALL)
        if len(head) != 8 or head[0] != 4 or head[1] != 1:
            return
        port = struct.unpack("!H", head[2:4])[0]
        user = read_until_nul(c)
        if head[4:7] == b"\0\0\0" and head[7] != 0:
            host, kind = read_until_nul(c), "4a"
        else:
            host, kind = socket.inet_ntoa(head[4:8]), "4"
        try:
            up = socket.create_connection((NAMES.get(host, host), port), timeout=5)
            up.settimeout(None)
        except OSError:
            print("connect user=%s target=%s:%d kind=%s result=failed" % (user, host, port, kind), file=sys.stderr, flush=True)
            c.sendall(b"\0\x5b" + b"\0" * 6)
            return
        print("connect user=%s target=%s:%d kind=%s result=ok" % (user, host, port, kind), file=sys.stderr, flush=True)
        c.sendall(b"\0\x5a" + head[2:4] + socket.inet_aton("0.0.0.0"))
        t = threading.Thread(target=relay, args=(up, c), daemon=True)
        t.start()
        relay(c, up)
        t.join()
        up.close()


def main():
    for a in sys.argv[1:]:
        name, ip = a.split("=", 1)
        NAMES[name] = ip
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(128)
    print("listening on 127.0.0.1:%d" % s.getsockname()[1], flush=True)
    while True:
        c, _ = s.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
