"""The program under socksify in test_hostile_proxy.py. Prints one JSON line.

  hclient.py tcp 4|6 HOST PORT SEND_HEX   getaddrinfo + connect; on success getpeername,
                                          send SEND_HEX, shutdown(SHUT_WR), read to EOF
                                          ("data": hex of every byte read); on failure,
                                          what a recv() on the socket gives ("after")
  hclient.py udp 4|6 HOST PORT            getaddrinfo + sendto of one datagram: errno
"""

import errno
import json
import socket
import sys
import time


def ename(e):
    if getattr(e, "errno", None) is None:
        return type(e).__name__
    if e.errno == errno.EOPNOTSUPP:
        return "EOPNOTSUPP"
    return errno.errorcode.get(e.errno, str(e.errno))


def resolve(f, host, port, socktype):
    fam = socket.AF_INET6 if f == "6" else socket.AF_INET
    return fam, socket.getaddrinfo(host, int(port), fam, socktype)[0][4]


def mode_tcp(f, host, port, send_hex):
    out = {}
    fam, addr = resolve(f, host, port, socket.SOCK_STREAM)
    out["dest"] = list(addr[:2])
    s = socket.socket(fam, socket.SOCK_STREAM)
    t0 = time.monotonic()
    try:
        s.connect(addr)
        out["errno"] = None
    except OSError as e:
        out["errno"] = ename(e)
        out["error"] = str(e)
    out["elapsed"] = time.monotonic() - t0
    if out["errno"] is None:
        out["peer"] = list(s.getpeername()[:2])
        s.settimeout(10)
        s.sendall(bytes.fromhex(send_hex))
        s.shutdown(socket.SHUT_WR)
        chunks = []
        try:
            while True:
                c = s.recv(65536)
                if not c:
                    break
                chunks.append(c)
        except OSError as e:
            out["read_error"] = ename(e)
        out["data"] = b"".join(chunks).hex()
    else:
        # a failed connect leaves no proxy bytes behind to read
        s.setblocking(False)
        try:
            got = s.recv(65536)
            out["after"] = "data " + got.hex() if got else "eof"
        except OSError as e:
            out["after"] = ename(e)
    s.close()
    return out


def mode_udp(f, host, port):
    out = {}
    fam, addr = resolve(f, host, port, socket.SOCK_DGRAM)
    out["dest"] = list(addr[:2])
    s = socket.socket(fam, socket.SOCK_DGRAM)
    t0 = time.monotonic()
    try:
        s.sendto(b"hostile?", addr)
        out["errno"] = None
    except OSError as e:
        out["errno"] = ename(e)
        out["error"] = str(e)
    out["elapsed"] = time.monotonic() - t0
    s.close()
    return out


def main():
    out = globals()["mode_" + sys.argv[1]](*sys.argv[2:])
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
