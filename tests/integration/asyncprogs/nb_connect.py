"""A non-blocking connect() waited for with poll, select or epoll, in two phases:
connect and look (is the socket writable within 0.3 s?), then, after a line on
stdin, wait for it, read SO_ERROR, and echo 4 bytes. Prints one JSON line per phase.

    nb_connect.py poll|select|epoll HOST PORT"""
import errno
import json
import select
import socket
import sys

mech, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
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


rc = s.connect_ex((host, port))
print(json.dumps({"phase": "started", "rc": errno.errorcode.get(rc, rc), "early": writable(0.3)}), flush=True)
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
