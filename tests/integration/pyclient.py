"""Python client programs run by the tests (under socksify.sh or LD_PRELOAD).
Each mode prints one JSON object on stdout.

  pyclient.py connect HOST PORT           blocking connect(): errno name, elapsed, peer
  pyclient.py get HOST PORT PATH          raw-socket HTTP GET: sha256 of the body, peer
  pyclient.py urllib URL                  urllib.request GET: sha256 of the body
  pyclient.py threads N HOST PORT PATH    N threads each doing a raw GET
  pyclient.py asyncio N HOST PORT PATH    N concurrent asyncio connections
  pyclient.py nonblock HOST PORT PATH     setblocking(False) + connect_ex + select, then GET
  pyclient.py fdtable HOST4 HOST6 PORT PATH  peer names across dup/dup2/fork/close
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


def mode_fdtable(host4, host6, port, path):
    """A proxied socket's identity must follow its fd through dup/dup2/fork/close."""
    port = int(port)
    out = {}
    a = socket.socket(family(host4), socket.SOCK_STREAM)
    a.connect((host4, port))
    def peer_of(fd):  # wraps a duplicate: the socket object closes it, not fd
        s = socket.socket(fileno=os.dup(fd))
        try:
            return list(s.getpeername()[:2])
        finally:
            s.close()

    d = os.dup(a.fileno())
    out["dup"] = peer_of(d)
    os.dup2(a.fileno(), 100)
    out["dup2"] = peer_of(100)
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            os.write(w, json.dumps(list(a.getpeername()[:2])).encode())
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    out["fork"] = json.loads(os.read(r, 4096))
    # the data path works on the duplicate after the original is closed
    dupsock = socket.socket(fileno=d)
    a.close()
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
    os.dup2(b.fileno(), 100)
    out["reused"] = peer_of(100)
    # and by a socket we never proxied (a connected UDP socket): its own peer
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.connect(("127.0.0.1", 9))
    os.dup2(u.fileno(), 100)
    out["udp"] = peer_of(100)
    return out


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    out = globals()["mode_" + mode](*args)
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
