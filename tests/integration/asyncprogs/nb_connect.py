"""A non-blocking connect() waited for with poll, select or epoll, in two phases:
connect and look (is the socket writable within 0.3 s?), then, after a line on
stdin, wait for it, read SO_ERROR, and echo 4 bytes. Prints one JSON line per phase.

    nb_connect.py poll|select|epoll HOST PORT [early-io]

early-io: right after connect(), also try send() and recv() (a program that does not wait)."""
import errno
import json
import select
import socket
import sys

mech, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
early_io = sys.argv[4:] == ["early-io"]
s = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
s.setblocking(False)
ep = None


def writable(timeout):
    global ep
    if mech == "poll":
        p = select.poll()
        p.register(s, select.POLLOUT)
        return bool(p.poll(int(timeout * 1000)))
    if mech == "select":
        return bool(select.select([], [s], [], timeout)[1])
    if ep is None:
        ep = select.epoll()
        ep.register(s.fileno(), select.EPOLLOUT)
    return bool(ep.poll(timeout))


def attempt(f):
    try:
        f()
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, e.errno)


rc = s.connect_ex((host, port))
started = {"phase": "started", "rc": errno.errorcode.get(rc, rc), "early": writable(0.3)}
if early_io:
    started["send"] = attempt(lambda: s.send(b"early"))
    started["recv"] = attempt(lambda: s.recv(10))
print(json.dumps(started), flush=True)
sys.stdin.readline()
ready = writable(20)
err = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
out = {"phase": "done", "ready": ready, "so_error": errno.errorcode.get(err, err)}
if err == 0:
    out["peer"] = list(s.getpeername()[:2])
    s.setblocking(True)
    s.settimeout(10)
    s.sendall(b"ping")
    got = b""
    while len(got) < 4:
        b = s.recv(4 - len(got))
        if not b:
            break
        got += b
    out["echo"] = got.decode()
print(json.dumps(out), flush=True)
