"""A listening program for test_bind.py, run under the library: it listens,
tells its address, and accepts two peers one after the other, waiting for each
in the way its first argument names. It talks in JSON lines on stdout and
waits for "go" lines on stdin where the test must act in between.

  bindprog.py WAIT FLAGS [HOST]
    WAIT   blocking (accept() blocks), select, poll, epoll (a non-blocking listener)
    FLAGS  accept4() flags: 0, nonblock, cloexec, nonblock+cloexec; "accept" for accept()
    HOST   the address to bind before listen() (default 0.0.0.0)

  out {"event": "listening", "addr": [h, p], "readable": bool, "eagain": bool}
  in  go      (the test connected peer 1 and sent "onetwo")
  out {"event": "accepted", "peer": [h, p], "getpeername": [h, p], "sockname": [h, p], "data": "one",
       "nonblock": bool, "cloexec": bool, "readable_after": bool, "addr": [h, p]}
  in  go      (peer 2 connected to the new addr and sent "three")
  out {"event": "accepted2", "peer": [h, p], "data": "three"}
"""

import ctypes
import fcntl
import json
import os
import select
import socket
import struct
import sys

libc = ctypes.CDLL(None, use_errno=True)
SOCK_NONBLOCK, SOCK_CLOEXEC = 0o4000, 0o2000000
WAIT, FLAGS = sys.argv[1], sys.argv[2]
HOST = sys.argv[3] if len(sys.argv) > 3 else "0.0.0.0"


def say(**kw):
    print(json.dumps(kw), flush=True)


def sockaddr(buf, n):
    fam = struct.unpack_from("H", buf, 0)[0]
    if fam == socket.AF_INET:
        return [socket.inet_ntop(fam, buf[4:8]), struct.unpack_from("!H", buf, 2)[0]]
    return [socket.inet_ntop(fam, buf[8:24]), struct.unpack_from("!H", buf, 2)[0]]


def readable(fd, timeout):
    if WAIT == "select":
        return bool(select.select([fd], [], [], timeout)[0])
    if WAIT == "epoll":
        return any(f == fd for f, _ in ep.poll(timeout))
    p = select.poll()
    p.register(fd, select.POLLIN)
    return bool(p.poll(None if timeout is None else timeout * 1000))


def accept(fd):
    """accept()/accept4() through ctypes (so the flags are exactly ours): (fd, peer)."""
    buf = ctypes.create_string_buffer(128)
    n = ctypes.c_uint(128)
    if FLAGS == "accept":
        r = libc.accept(fd, buf, ctypes.byref(n))
    else:
        flags = (SOCK_NONBLOCK if "nonblock" in FLAGS else 0) | (SOCK_CLOEXEC if "cloexec" in FLAGS else 0)
        r = libc.accept4(fd, buf, ctypes.byref(n), flags)
    if r < 0:
        e = ctypes.get_errno()
        return None, errno_name(e)
    return r, sockaddr(buf.raw, n.value)


def errno_name(e):
    import errno
    return errno.errorcode.get(e, str(e))


def recv_exactly(fd, n):
    s = socket.socket(fileno=os.dup(fd))
    s.setblocking(True)
    s.settimeout(20)
    data = b""
    while len(data) < n:
        chunk = s.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    s.close()
    return data.decode()


def wait_accept(fd):
    if WAIT != "blocking" and not readable(fd, 20):
        say(event="error", what="not readable within 20 s")
        sys.exit(1)
    conn, peer = accept(fd)
    if conn is None:
        say(event="error", what="accept failed: %s" % peer)
        sys.exit(1)
    return conn, peer


ls = socket.socket(socket.AF_INET6 if ":" in HOST else socket.AF_INET)
ls.bind((HOST, 0))
ls.listen(5)
fd = ls.fileno()
if WAIT != "blocking":
    ls.setblocking(False)
ep = None
if WAIT == "epoll":
    ep = select.epoll()
    ep.register(fd, select.EPOLLIN)
eagain = False
if WAIT != "blocking":
    c, peer = accept(fd)
    eagain = c is None and peer == "EAGAIN"
say(event="listening", addr=list(ls.getsockname()[:2]), readable=WAIT != "blocking" and readable(fd, 0), eagain=eagain)

sys.stdin.readline()
conn, peer = wait_accept(fd)
fl, fdfl = fcntl.fcntl(conn, fcntl.F_GETFL), fcntl.fcntl(conn, fcntl.F_GETFD)  # before python's recv sets them
data = recv_exactly(conn, 3)  # "one"; "two" stays unread on the accepted connection
cs = socket.socket(fileno=os.dup(conn))
say(event="accepted", peer=peer, getpeername=list(cs.getpeername()[:2]), sockname=list(cs.getsockname()[:2]), data=data,
    nonblock=bool(fl & os.O_NONBLOCK), cloexec=bool(fdfl & fcntl.FD_CLOEXEC),
    readable_after=WAIT != "blocking" and readable(fd, 0), addr=list(ls.getsockname()[:2]))

sys.stdin.readline()
conn2, peer2 = wait_accept(fd)
say(event="accepted2", peer=peer2, data=recv_exactly(conn2, 5))
