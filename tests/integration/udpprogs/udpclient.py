"""UDP client programs for test_udp.py; each mode prints one JSON object (the last
line starting with '{'). An OSError ends the mode with {"errno": NAME, "where": STEP}.

  udpclient.py sizes 4|6 HOST PORT N,N,...   sendto/recvfrom of each size: content, source
  udpclient.py connected 4|6 HOST PORT       connect, getpeername, send/recv, write/read
  udpclient.py peek 4|6 HOST PORT            recvfrom(MSG_PEEK) then recvfrom: the same datagram
  udpclient.py trunc 4|6 HOST PORT           short buffers: recvmsg flags, recv_into(MSG_TRUNC)
  udpclient.py nonblock 4|6 HOST PORT        EAGAIN, select and poll readiness, recvfrom
  udpclient.py scatter 4|6 HOST PORT         recvmsg_into() over several buffers, large and small
  udpclient.py reused 4|6 HOST PORT          the socket closed behind the library (fclose of an
                                             fdopen): a socketpair and then a new datagram socket
                                             get its number; what each call on them does
  udpclient.py stranger 4|6 HOST PORT plain|connected
                                             one exchange, prints {"port": P}, waits for a line
                                             on stdin and for the socket to be readable, then
                                             one more exchange: what the next recv returned
  udpclient.py pause 4|6 HOST PORT           one exchange, prints {"port": P}, waits for a line on
                                             stdin, one more exchange (its errno if it fails)
  udpclient.py mixed 4|6 HOST PORT LHOST LPORT
                                             one socket, two peers (HOST proxied, LHOST direct):
                                             each in turn, then both at once; replies and sources
  udpclient.py dnslib 4|6 HOST PORT NAME     dnslib DNSRecord.question(NAME).send(HOST, PORT)

HOST may be a name: it is resolved with getaddrinfo (under socksify: a fake
address), and that address is the destination and the expected reply source."""

import errno
import json
import os
import select
import socket
import sys

TIMEOUT = 5


class Step(Exception):
    pass


where = ["start"]


def step(name):
    where[0] = name


def family(f):
    return socket.AF_INET6 if f == "6" else socket.AF_INET


def dest(fam, host, port):
    """(sockaddr, address) of host: the first getaddrinfo answer of the family."""
    step("getaddrinfo")
    ai = socket.getaddrinfo(host, int(port), fam, socket.SOCK_DGRAM)
    return ai[0][4], ai[0][4][0]


def src_of(addr):
    return [addr[0], addr[1]] if addr else None


def new_socket(fam):
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.settimeout(TIMEOUT)
    return s


def mode_sizes(f, host, port, sizes):
    fam = family(f)
    to, addr = dest(fam, host, port)
    s = new_socket(fam)
    results = []
    for n in [int(x) for x in sizes.split(",")]:
        payload = os.urandom(n)
        step("sendto %d" % n)
        sent = s.sendto(payload, to)
        step("recvfrom %d" % n)
        data, src = s.recvfrom(65536)
        results.append({"size": n, "sent": sent, "len": len(data), "same": data == payload, "src": src_of(src)})
    return {"dest": [addr, int(port)], "results": results}


def mode_connected(f, host, port):
    fam = family(f)
    to, addr = dest(fam, host, port)
    s = new_socket(fam)
    step("connect")
    s.connect(to)
    out = {"dest": [addr, int(port)], "peer": src_of(s.getpeername())}
    step("send")
    s.send(b"connected send")
    step("recvfrom")
    data, src = s.recvfrom(65536)
    out["send_recv"] = [data.decode(), src_of(src)]
    step("os.write")
    os.write(s.fileno(), b"connected write")
    step("os.read")
    select.select([s], [], [], TIMEOUT)
    out["write_read"] = os.read(s.fileno(), 65536).decode()
    step("sendto peer")
    s.sendto(b"connected sendto", to)
    out["sendto_recv"] = s.recv(65536).decode()
    return out


def mode_peek(f, host, port):
    fam = family(f)
    to, addr = dest(fam, host, port)
    s = new_socket(fam)
    out = {"dest": [addr, int(port)]}
    step("sendto")
    s.sendto(b"peek me", to)
    step("recvfrom peek")
    d1, src1 = s.recvfrom(65536, socket.MSG_PEEK)
    d2, src2 = s.recvfrom(65536, socket.MSG_PEEK)
    step("recvfrom")
    d3, src3 = s.recvfrom(65536)
    out["peeked"] = [[d1.decode(), src_of(src1)], [d2.decode(), src_of(src2)]]
    out["received"] = [d3.decode(), src_of(src3)]
    step("recvmsg peek")
    s.sendto(b"second", to)
    d4, _, flags4, src4 = s.recvmsg(3, 0, socket.MSG_PEEK)
    d5, _, flags5, src5 = s.recvmsg(100)
    out["recvmsg"] = [[d4.decode(), bool(flags4 & socket.MSG_TRUNC), src_of(src4)],
                      [d5.decode(), bool(flags5 & socket.MSG_TRUNC), src_of(src5)]]
    return out


def mode_trunc(f, host, port):
    """The same calls run with and without socksify; the test compares the two."""
    fam = family(f)
    to, addr = dest(fam, host, port)
    s = new_socket(fam)
    payload = bytes(range(100))
    out = {}
    step("recvmsg short")
    s.sendto(payload, to)
    data, _, flags, _ = s.recvmsg(10)
    out["recvmsg"] = [data.hex(), bool(flags & socket.MSG_TRUNC)]
    step("recv_into MSG_TRUNC")
    s.sendto(payload, to)
    buf = bytearray(10)
    n = s.recv_into(buf, 10, socket.MSG_TRUNC)
    out["recv_into_trunc"] = [n, bytes(buf).hex()]
    step("recv short")
    s.sendto(payload, to)
    out["recv"] = s.recv(7).hex()
    step("rest is discarded")
    s.sendto(b"next", to)
    out["next"] = s.recv(100).decode()
    step("recvfrom_into short")
    s.sendto(payload, to)
    buf = bytearray(50)
    n, src = s.recvfrom_into(buf, 50)
    out["recvfrom_into"] = [n, bytes(buf).hex(), src_of(src) == [addr, int(port)]]
    step("zero-length datagram")
    s.sendto(b"", to)
    data, src = s.recvfrom(100)
    out["empty"] = [data.hex(), src_of(src) == [addr, int(port)]]
    return out


def mode_scatter(f, host, port):
    """The same calls run with and without socksify; the test compares the two. Buffers
    split where a SOCKS header would end, and smaller than it, with room for any datagram
    and without."""
    fam = family(f)
    to, addr = dest(fam, host, port)
    s = new_socket(fam)
    payload = bytes(range(200))
    out = {}
    for sizes in ((1, 3, 65536), (10, 65536), (4, 6, 65530), (2, 5, 10), (25, 25), (300,), (0, 7, 0, 500)):
        step("recvmsg_into %r" % (sizes,))
        s.sendto(payload, to)
        bufs = [bytearray(n) for n in sizes]
        n, _, flags, src = s.recvmsg_into(bufs)
        out[",".join(map(str, sizes))] = [n, b"".join(bytes(b) for b in bufs).hex(),
                                          bool(flags & socket.MSG_TRUNC), src_of(src) == [addr, int(port)]]
    return out


def close_behind(fd):
    """Closes fd the way glibc's fclose() does, with no close() call the library could see."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.fdopen.restype = ctypes.c_void_p
    libc.fdopen.argtypes = [ctypes.c_int, ctypes.c_char_p]
    libc.fclose.argtypes = [ctypes.c_void_p]
    if libc.fclose(libc.fdopen(fd, b"r")) != 0:
        raise OSError(ctypes.get_errno(), "fclose")


def mode_reused(f, host, port):
    fam = family(f)
    to, addr = dest(fam, host, port)
    s = new_socket(fam)
    out = {"dest": [addr, int(port)]}
    step("first exchange")
    s.sendto(b"first", to)
    d, src = s.recvfrom(65536)
    out["first"] = [d.decode(), src_of(src)]
    fd = s.detach()
    close_behind(fd)
    step("socketpair")
    a, b = socket.socketpair()
    mine, other = (a, b) if a.fileno() == fd else (b, a)
    out["pair_reused"] = mine.fileno() == fd
    mine.settimeout(TIMEOUT)
    step("stream recv")
    other.sendall(b"stream bytes")
    out["stream_recv"] = mine.recv(65536).decode()
    step("stream send")
    mine.sendall(b"sent")
    out["stream_sent"] = other.recv(100).decode()
    step("stream read/write")
    os.write(other.fileno(), b"0123456789")
    out["stream_read"] = os.read(mine.fileno(), 4).decode() + os.read(mine.fileno(), 65536).decode()
    os.write(mine.fileno(), b"written")
    out["stream_written"] = other.recv(100).decode()
    mine.close()
    other.close()
    step("second exchange")
    s = new_socket(fam)
    s.sendto(b"second", to)
    d, src = s.recvfrom(65536)
    out["second"] = [d.decode(), src_of(src)]
    fd = s.detach()
    close_behind(fd)
    step("new datagram socket")
    u = new_socket(fam)
    out["udp_reused"] = u.fileno() == fd
    # the library may take it for the old socket for a while: its first datagrams
    # may be lost (the relay knows the old port), never sent anywhere but the proxy
    u.settimeout(0.3)
    for i in range(30):
        step("new socket exchange %d" % i)
        u.sendto(b"again", to)
        try:
            d, src = u.recvfrom(65536)
        except socket.timeout:
            continue
        out["again"] = [d.decode(), src_of(src)]
        out["again_tries"] = i + 1
        break
    return out


def mode_nonblock(f, host, port):
    fam = family(f)
    to, addr = dest(fam, host, port)
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.setblocking(False)
    out = {"dest": [addr, int(port)]}
    step("sendto")
    s.sendto(b"first", to)  # after this the socket is the library's (association made)
    step("select")
    r, _, _ = select.select([s], [], [], TIMEOUT)
    out["select"] = bool(r)
    step("recvfrom")
    d, src = s.recvfrom(65536)
    out["first"] = [d.decode(), src_of(src)]
    step("recv when empty")
    try:
        s.recv(100)
        out["empty"] = "data"
    except BlockingIOError as e:
        out["empty"] = errno.errorcode[e.errno]
    step("poll")
    p = select.poll()
    p.register(s, select.POLLIN)
    s.sendto(b"second", to)
    ev = p.poll(TIMEOUT * 1000)
    out["poll"] = bool(ev and ev[0][1] & select.POLLIN)
    d, src = s.recvfrom(65536)
    out["second"] = [d.decode(), src_of(src)]
    step("epoll")
    ep = select.epoll()
    ep.register(s.fileno(), select.EPOLLIN)
    s.sendto(b"third", to)
    ev = ep.poll(TIMEOUT)
    out["epoll"] = bool(ev)
    d, src = s.recvfrom(65536)
    out["third"] = [d.decode(), src_of(src)]
    return out


def mode_stranger(f, host, port, how):
    fam = family(f)
    to, addr = dest(fam, host, port)
    s = new_socket(fam)
    if how == "connected":
        step("connect")
        s.connect(to)
        exchange = lambda m: (s.send(m), s.recvfrom(65536))[1]  # noqa: E731
    else:
        exchange = lambda m: (s.sendto(m, to), s.recvfrom(65536))[1]  # noqa: E731
    step("first exchange")
    d, src = exchange(b"before")
    first = [d.decode(), src_of(src)]
    print(json.dumps({"port": s.getsockname()[1]}), flush=True)
    step("wait for go")
    sys.stdin.readline()
    step("wait for the junk")
    r, _, _ = select.select([s], [], [], TIMEOUT)  # the junk is queued: it comes before the echo
    step("second exchange")
    d, src = exchange(b"after")
    return {"dest": [addr, int(port)], "first": first, "junk_was_queued": bool(r),
            "next": [d.decode("utf-8", "replace"), src_of(src)]}


def mode_pause(f, host, port):
    fam = family(f)
    to, addr = dest(fam, host, port)
    s = new_socket(fam)
    step("first exchange")
    s.sendto(b"before", to)
    d, src = s.recvfrom(65536)
    out = {"dest": [addr, int(port)], "first": [d.decode(), src_of(src)]}
    print(json.dumps({"port": s.getsockname()[1]}), flush=True)
    step("wait for go")
    sys.stdin.readline()
    try:
        s.sendto(b"after", to)
        d, src = s.recvfrom(65536)
        out["next"] = [d.decode(), src_of(src)]
    except OSError as e:
        out["next_errno"] = errno.errorcode.get(e.errno or 0, type(e).__name__)
    return out


def mode_mixed(f, host, port, lhost, lport):
    fam = family(f)
    to, addr = dest(fam, host, port)
    lto, laddr = dest(fam, lhost, lport)
    s = new_socket(fam)
    out = {"dest": [addr, int(port)], "local": [laddr, int(lport)], "replies": []}
    for i, peer in enumerate((to, lto, to, lto)):
        step("exchange %d" % i)
        s.sendto(b"one by one %d" % i, peer)
        d, src = s.recvfrom(65536)
        out["replies"].append([d.decode(), src_of(src)])
    step("both at once")
    s.sendto(b"both: proxied", to)
    s.sendto(b"both: direct", lto)
    got = [s.recvfrom(65536) for _ in range(2)]
    out["both"] = sorted([d.decode(), src_of(src)] for d, src in got)
    return out


def mode_dnslib(f, host, port, name):
    from dnslib import DNSRecord
    step("query")
    q = DNSRecord.question(name, "AAAA" if f == "6" else "A")
    reply = DNSRecord.parse(q.send(host, int(port), timeout=TIMEOUT, ipv6=(f == "6")))
    return {"id_matches": reply.header.id == q.header.id, "rcode": reply.header.rcode,
            "answers": [str(rr.rdata) for rr in reply.rr]}


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    try:
        out = globals()["mode_" + mode](*args)
    except OSError as e:
        out = {"errno": errno.errorcode.get(e.errno or 0, type(e).__name__), "where": where[0], "error": str(e)}
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
