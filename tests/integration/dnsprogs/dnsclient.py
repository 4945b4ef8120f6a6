"""Client programs for the remote-DNS tests; each mode prints one JSON object.

  dnsclient.py create_connection HOST PORT PATH   socket.create_connection by name, GET
  dnsclient.py families HOST PORT PATH            getaddrinfo(AF_UNSPEC): connect and GET on each
                                                  answer, reverse lookups of each
  dnsclient.py semantics HOST PORT                getaddrinfo flag/service/family cases (JSON)
  dnsclient.py resolve HOST PORT                  getaddrinfo(HOST) as a list of [family, addr]
  dnsclient.py fork_after HOST PORT PATH          resolve, fork two children (address / by name), parent too
  dnsclient.py fork_before HOST PORT PATH         fork first; the parent resolves and pipes the address
  dnsclient.py close_fds HOST PORT PATH           resolve, run a subprocess (close_fds=True) on the address
  dnsclient.py get_addr ADDR PORT PATH HOSTNAME   connect to a numeric ADDR, GET
  dnsclient.py connect HOST PORT                  connect(): errno name and elapsed time
"""

import errno
import hashlib
import json
import os
import socket
import subprocess
import sys
import time


def err_name(e):
    return errno.errorcode.get(getattr(e, "errno", None) or 0, type(e).__name__)


def get_on(s, host, path):
    s.sendall(("GET /%s HTTP/1.0\r\nHost: %s\r\n\r\n" % (path, host)).encode())
    chunks = []
    while True:
        c = s.recv(65536)
        if not c:
            break
        chunks.append(c)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    return {"status": int(head.split(b" ", 2)[1]), "len": len(body), "sha256": hashlib.sha256(body).hexdigest()}


def get_addr(family, addr, port, path, host):
    """GET over a socket connected to one sockaddr; errors reported, not raised."""
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(20)
    try:
        s.connect((addr, int(port)) if family == socket.AF_INET else (addr, int(port), 0, 0))
        out = get_on(s, host, path)
        out["peer"] = list(s.getpeername()[:2])
        return out
    except OSError as e:
        return {"errno": err_name(e), "error": str(e)}
    finally:
        s.close()


def mode_create_connection(host, port, path):
    s = socket.create_connection((host, int(port)), timeout=20)
    out = get_on(s, host, path)
    out["peer"] = list(s.getpeername()[:2])
    s.close()
    return out


def mode_resolve(host, port):
    return {"answers": [[ai[0].name, ai[4][0]] for ai in socket.getaddrinfo(host, int(port), 0, socket.SOCK_STREAM)]}


def mode_families(host, port, path):
    out = {"answers": []}
    for fam, st, proto, canon, sa in socket.getaddrinfo(host, int(port), socket.AF_UNSPEC, socket.SOCK_STREAM):
        one = {"family": fam.name, "addr": sa[0]}
        one.update(get_addr(fam, sa[0], port, path, host))
        one["getnameinfo"] = list(socket.getnameinfo(sa, socket.NI_NAMEREQD))
        hn, aliases, addrs = socket.gethostbyaddr(sa[0])
        one["gethostbyaddr"] = [hn, addrs]
        out["answers"].append(one)
    out["gethostbyname_ex"] = list(socket.gethostbyname_ex(host))
    return out


def gai(host, port, family=0, type=0, proto=0, flags=0):
    """getaddrinfo as JSON: a list of [family, socktype, proto, canonname, addr, port] or an error name."""
    try:
        res = socket.getaddrinfo(host, port, family, type, proto, flags)
    except socket.gaierror as e:
        names = {getattr(socket, n): n for n in dir(socket) if n.startswith("EAI_")}
        return names.get(e.errno, str(e.errno))
    return [[r[0].name, r[1].name if hasattr(r[1], "name") else int(r[1]), r[2], r[3], r[4][0], r[4][1]] for r in res]


def mode_semantics(host, port):
    """Cases whose answers the test compares, keyed by a description."""
    S = socket
    p = int(port)
    return {
        "numeric4": gai("198.18.0.7", p),
        "numeric6": gai("fd00::7", p, S.AF_INET6, S.SOCK_STREAM),
        "numeric4_as_v6_mapped": gai("198.18.0.7", p, S.AF_INET6, S.SOCK_STREAM, 0, S.AI_V4MAPPED),
        "numerichost_flag_name": gai(host, p, 0, 0, 0, S.AI_NUMERICHOST),
        "null_passive": gai(None, p, 0, S.SOCK_STREAM, 0, S.AI_PASSIVE),
        "null_passive6": gai(None, p, S.AF_INET6, 0, 0, S.AI_PASSIVE),
        "null_active": gai(None, p, 0, S.SOCK_STREAM),
        "service_name": gai(host, "http", 0, S.SOCK_STREAM),
        "service_number": gai(host, "8080", 0, S.SOCK_STREAM),
        "service_none": gai(host, None, 0, S.SOCK_STREAM),
        "bad_service": gai(host, "no-such-service-x", 0, S.SOCK_STREAM),
        "numericserv_name": gai(host, "http", 0, S.SOCK_STREAM, 0, S.AI_NUMERICSERV),
        "any_socktype": gai(host, p),
        "dgram": gai(host, p, 0, S.SOCK_DGRAM),
        "udp_proto": gai(host, p, 0, 0, S.IPPROTO_UDP),
        "tcp_proto": gai(host, p, 0, 0, S.IPPROTO_TCP),
        "canonname": gai(host, p, 0, S.SOCK_STREAM, 0, S.AI_CANONNAME),
        "inet_only": gai(host, p, S.AF_INET, S.SOCK_STREAM),
        "inet6_only": gai(host, p, S.AF_INET6, S.SOCK_STREAM),
        "v4mapped": gai(host, p, S.AF_INET6, S.SOCK_STREAM, 0, S.AI_V4MAPPED),
        "v4mapped_all": gai(host, p, S.AF_INET6, S.SOCK_STREAM, 0, S.AI_V4MAPPED | S.AI_ALL),
        "addrconfig": gai(host, p, 0, S.SOCK_STREAM, 0, S.AI_ADDRCONFIG),
    }


def send_line(fd, text):
    os.write(fd, (text + "\n").encode())


def read_line(fd):
    buf = b""
    while not buf.endswith(b"\n"):
        c = os.read(fd, 1024)
        if not c:
            break
        buf += c
    return buf.decode().strip()


def child(fn):
    """Run fn in a forked child; its JSON result comes back over a pipe."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            res = fn()
        except Exception as e:
            res = {"error": repr(e)}
        send_line(w, json.dumps(res))
        os._exit(0)
    os.close(w)
    return pid, r


def collect(pid, r):
    line = read_line(r)
    os.close(r)
    os.waitpid(pid, 0)
    return json.loads(line) if line else {"error": "child said nothing"}


def first4(host, port):
    return socket.getaddrinfo(host, int(port), socket.AF_INET, socket.SOCK_STREAM)[0][4][0]


def mode_fork_after(host, port, path):
    addr = first4(host, port)
    kids = [child(lambda: get_addr(socket.AF_INET, addr, port, path, host)),
            child(lambda: dict(get_addr(socket.AF_INET, first4(host, port), port, path, host),
                               addr=first4(host, port)))]
    parent = get_addr(socket.AF_INET, addr, port, path, host)
    return {"addr": addr, "parent": parent, "child_inherited": collect(*kids[0]), "child_by_name": collect(*kids[1])}


def mode_fork_before(host, port, path):
    r, w = os.pipe()
    kid = child(lambda: (os.close(w), get_addr(socket.AF_INET, read_line(r), port, path, host))[1])
    os.close(r)
    addr = first4(host, port)  # resolved after the fork: the child learns it only through the pipe
    send_line(w, addr)
    os.close(w)
    return {"addr": addr, "child": collect(*kid), "parent": get_addr(socket.AF_INET, addr, port, path, host)}


def mode_close_fds(host, port, path):
    addr = first4(host, port)
    p = subprocess.run([sys.executable, os.path.abspath(__file__), "get_addr", addr, port, path, host],
                       close_fds=True, capture_output=True, text=True, timeout=30)
    return {"addr": addr, "rc": p.returncode, "child": json.loads(p.stdout) if p.stdout.strip() else None,
            "stderr": p.stderr}


def mode_get_addr(addr, port, path, host):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    return get_addr(fam, addr, port, path, host)


def mode_connect(host, port):
    t0 = time.monotonic()
    out = {}
    try:
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        out["addr"] = first4(host, port)
        s.connect((out["addr"], int(port)))
        out["errno"] = None
        s.close()
    except OSError as e:
        out["errno"] = err_name(e)
        out["error"] = str(e)
    out["elapsed"] = time.monotonic() - t0
    return out


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    print(json.dumps(globals()["mode_" + mode](*args)), flush=True)


if __name__ == "__main__":
    main()
