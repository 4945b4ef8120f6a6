"""Python client programs run by the tests (under socksify.sh or LD_PRELOAD).
Each mode prints one JSON object on stdout.

  pyclient.py connect HOST PORT           blocking connect(): errno name, elapsed, peer
  pyclient.py get HOST PORT PATH          raw-socket HTTP GET: sha256 of the body, peer
  pyclient.py urllib URL                  urllib.request GET: sha256 of the body
  pyclient.py threads N HOST PORT PATH    N threads each doing a raw GET
  pyclient.py asyncio N HOST PORT PATH    N concurrent asyncio connections
  pyclient.py nonblock HOST PORT PATH     setblocking(False) + connect_ex + select, then GET
  pyclient.py fdtable HOST4 HOST6 PORT PATH  peer names across dup/dup2/fork/close
  pyclient.py udpdup HOST PORT            a connected UDP socket's peer through dup/dup2
"""

import asyncio
import errno
import hashlib
import json
import os
import select
import socket
import sys
import threading
import time
import urllib.request


def family(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def err_name(e):
    if not getattr(e, "errno", None):
        return type(e).__name__
    if e.errno == errno.EOPNOTSUPP:
        return "EOPNOTSUPP"  # the same number as ENOTSUP on Linux; the name the contract uses
    return errno.errorcode.get(e.errno, str(e.errno))


def request(host, path):
    h = "[%s]" % host if ":" in host else host
    return ("GET /%s HTTP/1.0\r\nHost: %s\r\nUser-Agent: pyclient\r\n\r\n" % (path.lstrip("/"), h)).encode()


def parse_response(data):
    head, sep, body = data.partition(b"\r\n\r\n")
    if not sep:
        raise ValueError("no HTTP header end in %d bytes: %r" % (len(data), data[:200]))
    status = int(head.split(b" ", 2)[1])
    return status, body


def digest(status, body):
    return {"status": status, "len": len(body), "sha256": hashlib.sha256(body).hexdigest()}


def raw_get(host, port, path, timeout=20):
    s = socket.socket(family(host), socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((host, port))
        peer = s.getpeername()[:2]
        s.sendall(request(host, path))
        chunks = []
        while True:
            c = s.recv(65536)
            if not c:
                break
            chunks.append(c)
    finally:
        s.close()
    out = digest(*parse_response(b"".join(chunks)))
    out["peer"] = list(peer)
    return out


def mode_connect(host, port):
    s = socket.socket(family(host), socket.SOCK_STREAM)
    t0 = time.monotonic()
    out = {}
    try:
        s.connect((host, int(port)))
        out["errno"] = None
        out["peer"] = list(s.getpeername()[:2])
    except OSError as e:
        out["errno"] = err_name(e)
        out["error"] = str(e)
    out["elapsed"] = time.monotonic() - t0
    s.close()
    return out


def mode_get(host, port, path):
    t0 = time.monotonic()
    try:
        out = raw_get(host, int(port), path)
        out["errno"] = None
    except OSError as e:
        out = {"errno": err_name(e), "error": str(e)}
    out["elapsed"] = time.monotonic() - t0
    return out


def mode_urllib(url):
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=20) as r:
        return digest(r.status, r.read())


def mode_threads(n, host, port, path):
    results = [None] * int(n)

    def one(i):
        try:
            results[i] = raw_get(host, int(port), path)["sha256"]
        except Exception as e:  # reported, not raised: the test counts failures
            results[i] = "error: %s %s" % (err_name(e), e)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(int(n))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return {"results": results}


def mode_asyncio(n, host, port, path):
    async def one():
        r, w = await asyncio.open_connection(host, int(port))
        peer = w.get_extra_info("peername")[:2]
        w.write(request(host, path))
        await w.drain()
        data = await r.read()
        w.close()
        await w.wait_closed()
        out = digest(*parse_response(data))
        out["peer"] = list(peer)
        return out

    async def all_of_them():
        return await asyncio.wait_for(asyncio.gather(*[one() for _ in range(int(n))], return_exceptions=True), 30)

    res = asyncio.run(all_of_them())
    return {"results": [r if isinstance(r, dict) else "error: %s %r" % (err_name(r), r) for r in res]}


def mode_nonblock(host, port, path):
    s = socket.socket(family(host), socket.SOCK_STREAM)
    s.setblocking(False)
    rc = s.connect_ex((host, int(port)))
    out = {"connect_ex": errno.errorcode.get(rc, rc) if rc else 0}
    if rc not in (0, errno.EINPROGRESS):
        out["errno"] = out["connect_ex"]
        return out
    _, w, _ = select.select([], [s], [], 15)
    if not w:
        out["errno"] = "select timed out"
        return out
    so_error = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
    out["so_error"] = errno.errorcode.get(so_error, so_error) if so_error else 0
    if so_error:
        out["errno"] = out["so_error"]
        return out
    out["peer"] = list(s.getpeername()[:2])
    data = request(host, path)
    while data:
        select.select([], [s], [], 15)
        try:
            data = data[s.send(data):]
        except BlockingIOError:
            pass
    chunks = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        r, _, _ = select.select([s], [], [], 15)
        if not r:
            break
        try:
            c = s.recv(65536)
        except BlockingIOError:
            continue
        if not c:
            break
        chunks.append(c)
    s.close()
    out.update(digest(*parse_response(b"".join(chunks))))
    out["errno"] = None
    return out


def libc_getpeername(libc, fd):
    """getpeername(2) called through libc (so through our hook), on any fd."""
    import ctypes
    buf = ctypes.create_string_buffer(128)
    ln = ctypes.c_uint32(128)
    if libc.getpeername(fd, buf, ctypes.byref(ln)) != 0:
        e = ctypes.get_errno()
        return "error: " + errno.errorcode.get(e, str(e))
    raw = buf.raw[:ln.value]
    fam = int.from_bytes(raw[0:2], sys.byteorder)
    port = int.from_bytes(raw[2:4], "big")
    if fam == socket.AF_INET:
        return [socket.inet_ntop(socket.AF_INET, raw[4:8]), port]
    if fam == socket.AF_INET6:
        return [socket.inet_ntop(socket.AF_INET6, raw[8:24]), port]
    return "family %d" % fam


def mode_fdtable(host4, host6, port, path):
    """A proxied socket's identity must follow its fd through dup/dup2/dup3/fcntl/fork/close.
    The libc calls are made through ctypes: Python's os.dup() is fcntl(F_DUPFD_CLOEXEC)."""
    import ctypes
    import fcntl
    libc = ctypes.CDLL(None, use_errno=True)
    port = int(port)
    out = {}

    def peer_of(fd):
        return libc_getpeername(libc, fd)

    a = socket.socket(family(host4), socket.SOCK_STREAM)
    a.connect((host4, port))
    out["orig"] = peer_of(a.fileno())
    d = libc.dup(a.fileno())
    out["dup"] = peer_of(d)
    out["dup2"] = peer_of(libc.dup2(a.fileno(), 100))
    out["dup3"] = peer_of(libc.dup3(a.fileno(), 102, os.O_CLOEXEC))
    fd_f = fcntl.fcntl(a.fileno(), fcntl.F_DUPFD_CLOEXEC, 0)
    out["fcntl_dupfd"] = peer_of(fd_f)
    os.close(fd_f)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.write(w, json.dumps(peer_of(a.fileno())).encode())
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    out["fork"] = json.loads(os.read(r, 4096))
    # the data path works on the duplicate after the original is closed
    dupsock = socket.socket(fileno=d)
    a.close()
    out["dup_after_close"] = peer_of(d)
    dupsock.sendall(request(host4, path))
    chunks = []
    while True:
        c = dupsock.recv(65536)
        if not c:
            break
        chunks.append(c)
    out["body_via_dup"] = digest(*parse_response(b"".join(chunks)))["sha256"]
    dupsock.close()
    # fd 100 reused by another proxied connection: the new target, not the old one
    b = socket.socket(family(host6), socket.SOCK_STREAM)
    b.connect((host6, port))
    out["reused"] = peer_of(libc.dup2(b.fileno(), 100))
    # and by a plain pipe: not a socket at all any more
    p_r, p_w = os.pipe()
    libc.dup2(p_r, 100)
    out["reused_by_pipe"] = peer_of(100)
    return out


def mode_udpdup(host, port):
    """A connected datagram socket keeps its peer through dup() and dup2()."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    out = {}
    u = socket.socket(family(host), socket.SOCK_DGRAM)
    u.connect((host, int(port)))
    for name, fd in (("orig", u.fileno()), ("dup", libc.dup(u.fileno())), ("dup2", libc.dup2(u.fileno(), 101))):
        out[name] = libc_getpeername(libc, fd)
    return out


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    out = globals()["mode_" + mode](*args)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
