"""The library's SOCKS5 BIND (SOCKSIFY_BIND=1): listen() through the proxy,
accept() of the peer the proxy relays, getsockname() telling the proxy's
listener. Real programs: python's ftplib in active mode against pyftpdlib, and
bindprog.py waiting in blocking accept, select, poll and epoll."""

import hashlib
import json
import os
import queue
import re
import socket
import struct
import subprocess
import threading

import pytest

import support
from support import PYTHON, Server, json_out, needs, socksify, wait_until

HERE = os.path.dirname(os.path.abspath(__file__))
BINDPROG = os.path.join(HERE, "bindprog.py")
FTPD = os.path.join(HERE, "ftpd.py")
FTPCLIENT = os.path.join(HERE, "ftpclient.py")

needs_pyftpdlib = pytest.mark.skipif(
    subprocess.run([PYTHON, "-c", "import pyftpdlib"], capture_output=True).returncode != 0,
    reason="not installed: python3-pyftpdlib (tests/install-deps.sh installs it)")

BIND_LINE = r"^socks5d\[\d+\]: info: session client=\S+ user=\S+ cmd=bind target=0\.0\.0\.0:0 result=%s\b.*$"


def bind_env(proxy, **extra):
    kw = dict(SOCKSIFY_PROXY=proxy, SOCKSIFY_BIND="1", SOCKSIFY_LOG="info")
    kw.update(extra)
    return support.preload_env(**kw)


class Prog:
    """bindprog.py under the library, spoken to line by line."""

    def __init__(self, env, *args):
        env = support.sanitizer_env_for([PYTHON], env)
        self.p = subprocess.Popen([PYTHON, BINDPROG] + [str(a) for a in args], env=env, stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)

    def read(self, timeout=20):
        out = json.loads(read_line(self.p, timeout))
        assert out["event"] != "error", "%r; stderr:\n%s" % (out, self.stderr())
        return out

    def go(self):
        self.p.stdin.write("go\n")
        self.p.stdin.flush()

    def stderr(self):
        self.p.kill()
        self.p.wait()
        return self.p.stderr.read()

    def finish(self):
        rc = self.p.wait(20 * support.SLOW)
        err = self.p.stderr.read()
        if support.SANITIZE:
            support.assert_no_sanitizer_report(err, "bindprog")
        assert rc == 0, "bindprog exited with %r; stderr:\n%s" % (rc, err)
        return err


def read_line(p, timeout=20):
    """The next stdout line of p; fails (telling where p is) rather than wait forever.
    A thread reads the lines: select() on the pipe would miss lines already buffered."""
    if not hasattr(p, "lines"):
        p.lines = queue.Queue()

        def reader():
            for l in iter(p.stdout.readline, ""):
                p.lines.put(l)
            p.lines.put("")  # EOF

        threading.Thread(target=reader, daemon=True).start()
    try:
        return p.lines.get(timeout=timeout * support.SLOW)
    except queue.Empty:
        where = [open("/proc/%d/task/%s/syscall" % (p.pid, t)).read().split()[0]
                 for t in os.listdir("/proc/%d/task" % p.pid)]
        p.kill()
        raise AssertionError("no output within %ss (threads in system calls %s); stderr:\n%s" % (
            timeout * support.SLOW, where, p.stderr.read()))


def rest(p, timeout=20):
    """(stdout lines not read yet, stderr) once p exited, like communicate()."""
    p.wait(timeout * support.SLOW)
    out = []
    while True:
        line = read_line(p, timeout)
        if not line:
            return "".join(out), p.stderr.read()
        out.append(line)


def peer(addr, data):
    s = socket.create_connection(tuple(addr), timeout=10 * support.SLOW)
    s.sendall(data)
    return s


# --- waiting for the peer -----------------------------------------------------

@pytest.mark.parametrize("wait,flags", [
    ("blocking", "accept"),
    ("select", "cloexec"),
    ("poll", "nonblock+cloexec"),
    ("epoll", "nonblock"),
    ("epoll", "0"),
])
def test_listener_through_socks5d(socks5d, wait, flags):
    """The listener is the proxy's: not readable (EAGAIN) until a peer connects
    there, readable then; accept()/accept4() give the peer with its address and
    the flags asked for; the listener then has a new BIND (one peer per BIND)
    that a second peer reaches. With epoll, the registration moved to the new
    listener: unread data on the accepted connection does not wake it."""
    prog = Prog(bind_env(socks5d.url()), wait, flags)
    try:
        first = prog.read()
        host, port = first["addr"]
        assert host == "127.0.0.1" and port not in (0, socks5d.port), first
        if wait != "blocking":
            assert first["readable"] is False and first["eagain"] is True, first
        p1 = peer(first["addr"], b"onetwo")
        prog.go()
        acc = prog.read()
        assert acc["peer"] == ["127.0.0.1", p1.getsockname()[1]], acc
        assert acc["getpeername"] == acc["peer"], acc
        assert acc["sockname"] == first["addr"], acc  # where the peer came to: the proxy's listener
        assert acc["data"] == "one", acc
        assert acc["nonblock"] is ("nonblock" in flags), acc
        assert acc["cloexec"] is ("cloexec" in flags), acc
        assert acc["readable_after"] is False, acc
        assert acc["addr"][0] == "127.0.0.1" and acc["addr"][1] not in (port, 0), acc
        p2 = peer(acc["addr"], b"three")
        prog.go()
        acc2 = prog.read()
        assert acc2["peer"] == ["127.0.0.1", p2.getsockname()[1]] and acc2["data"] == "three", acc2
        err = prog.finish()
        p1.close()
        p2.close()
    finally:
        if prog.p.poll() is None:
            prog.p.kill()
            prog.p.wait()
    assert "listen: BIND via socks5://127.0.0.1:%d: the proxy listens on 127.0.0.1:%d" % (socks5d.port, port) in err, err
    socks5d.server.wait_log(BIND_LINE % "ok", count=2)


def accept_one_on_ipv6(env, wait, peer_host):
    """Prog listening on :: accepts one peer, which comes from peer_host to the port the
    listener was told. Returns what the listener said, what accept() said, the peer's port."""
    prog = Prog(env, wait, "cloexec", "::")
    try:
        first = prog.read()
        p1 = peer((peer_host, first["addr"][1]), b"onetwo")
        prog.go()
        acc = prog.read()
        port = p1.getsockname()[1]
        p1.close()
    finally:
        prog.p.kill()
        prog.p.wait()
    return first, acc, port


def test_listener_ipv6_socket_gets_mapped_addresses(socks5d):
    """An IPv6 listener with an IPv4 proxy: the addresses come v4-mapped, as the kernel's would."""
    first, acc, port = accept_one_on_ipv6(bind_env(socks5d.url()), "poll", "127.0.0.1")
    assert first["addr"][0] == "::ffff:127.0.0.1", first
    assert acc["peer"] == ["::ffff:127.0.0.1", port], acc


# --- FTP in active mode ---------------------------------------------------------

@pytest.fixture
def ftpd(tmp_path):
    root = tmp_path / "ftp"
    root.mkdir()
    data = os.urandom(300 * 1024)
    (root / "file.bin").write_bytes(data)
    s = Server([PYTHON, "-u", FTPD, str(root), "127.0.0.1"], str(tmp_path / "ftpd.log"), name="ftpd")
    port = int(s.read_line(r"^ftpd: listening on 127\.0\.0\.1:(\d+)$").group(1))
    yield root, port, hashlib.sha256(data).hexdigest()
    s.stop()


def ftp_through(proxy, root, port, sha, env_extra=None):
    env = support.base_env(SOCKSIFY_NO_PROXY="", SOCKSIFY_BIND="1", SOCKSIFY_LOG="info", **(env_extra or {}))
    r = socksify(proxy, [PYTHON, FTPCLIENT, "127.0.0.1", str(port), "file.bin", "up.bin"], env=env)
    out = json_out(r)
    assert out["sha256"] == sha, out
    assert (root / "up.bin").read_bytes() == (root / "file.bin").read_bytes()
    assert out["listing"] == ["file.bin", "up.bin"], out
    # RETR, STOR and NLST each listened through the proxy (and each accept() opened the next BIND)
    assert len(re.findall(r"listen: BIND via \S+: the proxy listens on 127\.0\.0\.1:\d+", r.err)) == 6, r
    assert len(re.findall(r"accept: 127\.0\.0\.1:\d+ connected through the proxy's BIND", r.err)) == 3, r
    return r


@needs_pyftpdlib
def test_ftp_active_mode_through_socks5d(socks5d, ftpd):
    root, port, sha = ftpd
    ftp_through(socks5d.url(), root, port, sha)
    socks5d.server.wait_log(BIND_LINE % "ok", count=3)
    socks5d.wait_session("127.0.0.1:%d" % port)  # the control connection went through it too


@needs_pyftpdlib
def test_ftp_active_mode_with_login(start_socks5d, ftpd):
    d = start_socks5d("-u", "alice:s3cret")
    root, port, sha = ftpd
    ftp_through(d.url(auth="alice:s3cret"), root, port, sha)
    d.server.wait_log(r"cmd=bind target=0\.0\.0\.0:0 result=ok", count=3)
    assert all("user=alice" in l for l in d.sessions()), d.sessions()


# --- failures -------------------------------------------------------------------

LISTEN_ONCE = """
import errno, socket, sys
s = socket.socket()
s.bind((sys.argv[1], 0))
try:
    s.listen()
except OSError as e:
    print("listen", errno.errorcode[e.errno]); sys.exit(0)
print("listen ok", s.getsockname()[0], s.getsockname()[1], flush=True)
if len(sys.argv) > 2:
    try:
        s.accept()
        print("accept ok")
    except OSError as e:
        print("accept", errno.errorcode[e.errno])
"""


def test_proxy_down_fails_listen(tmp_path):
    keep, closed = support.closed_port()
    try:
        r = support.run([PYTHON, "-c", LISTEN_ONCE, "0.0.0.0"], env=bind_env("socks5://127.0.0.1:%d" % closed))
    finally:
        keep.close()
    assert r.rc == 0 and r.out.strip() == "listen ECONNREFUSED", r
    assert "listen: BIND via socks5://127.0.0.1:%d failed: cannot reach the proxy" % closed in r.err, r


ACCEPT_TWICE = """
import errno, socket, sys
s = socket.socket()
s.bind(("0.0.0.0", 0))
s.listen()
print("listen ok", s.getsockname()[1], flush=True)
for _ in range(2):
    try:
        s.accept()
        print("accept ok")
    except OSError as e:
        print("accept", errno.errorcode[e.errno], s.getsockname()[1], flush=True)
"""


def test_bind_timeout_fails_accept(start_socks5d):
    """socks5d --bind-timeout 1: nobody comes, REP 06; accept() says ETIMEDOUT, no hang.
    The listener goes on through a new BIND (a new port), which times out the same way."""
    d = start_socks5d("--bind-timeout", "1")
    r = support.run([PYTHON, "-c", ACCEPT_TWICE], env=bind_env(d.url()), timeout=20)
    lines = [l.split() for l in r.out.splitlines()]
    assert r.rc == 0 and len(lines) == 3, r
    ports = [lines[0][2], lines[1][2], lines[2][2]]
    assert [l[:2] for l in lines[1:]] == [["accept", "ETIMEDOUT"]] * 2, r
    assert len(set(ports)) == 3, r
    assert r.err.count("TTL expired (REP 6)") == 2, r
    assert r.elapsed < 10, r
    d.server.wait_log(BIND_LINE % "timeout", count=2)


def listen_and_connect(env, host):
    """LISTEN_ONCE on host; the test connects to the address it tells. Returns its output."""
    p = subprocess.Popen([PYTHON, "-c", LISTEN_ONCE, host, "accept"], env=support.sanitizer_env_for([PYTHON], env),
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        first = read_line(p).split()
        assert first[:2] == ["listen", "ok"], (first, p.stderr.read())
        socket.create_connection(("127.0.0.1", int(first[3])), timeout=5).close()
        out, err = rest(p)
    finally:
        p.kill()
        p.wait()
    if support.SANITIZE:
        support.assert_no_sanitizer_report(err)
    return first, out, err


def test_loopback_listener_stays_local(socks5d):
    """127.0.0.1 is in the default SOCKSIFY_NO_PROXY: a program's own IPC stays local."""
    first, out, err = listen_and_connect(bind_env(socks5d.url()), "127.0.0.1")
    assert first[2] == "127.0.0.1" and out.strip() == "accept ok", (first, out, err)
    assert "BIND" not in err and "cmd=bind" not in socks5d.log(), err


def test_bind_off_by_default(socks5d):
    """Without SOCKSIFY_BIND a listener is the kernel's, also on the wildcard address."""
    env = support.preload_env(SOCKSIFY_PROXY=socks5d.url(), SOCKSIFY_LOG="info", SOCKSIFY_NO_PROXY="")
    first, out, err = listen_and_connect(env, "0.0.0.0")
    assert first[2] == "0.0.0.0" and out.strip() == "accept ok", (first, out, err)
    assert "BIND" not in err and "cmd=bind" not in socks5d.log(), err


def test_close_releases_the_session(socks5d):
    """close() of a listener nobody connected to ends its session at the proxy."""
    code = LISTEN_ONCE + "\ns.close()\nprint('closed', flush=True)\nsys.stdin.readline()\n"
    p = subprocess.Popen([PYTHON, "-c", code, "0.0.0.0"], env=support.sanitizer_env_for([PYTHON], bind_env(socks5d.url())),
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert read_line(p).startswith("listen ok"), p.stderr
        assert read_line(p).strip() == "closed"
        # the program still runs: the proxy saw the client leave, not a process exit
        socks5d.server.wait_log(BIND_LINE % r"\S+")
        assert p.poll() is None
    finally:
        p.kill()
        p.wait()


# --- other servers: Dante (danted) and microsocks ---------------------------------

DANTED_CONNECT_RULE = """\
socks pass {
	from: 127.0.0.0/8 to: 127.0.0.0/8
	command: connect
	log: connect disconnect
}
"""

# bind: the client asks for a listener (to: what it names as the peer, 0.0.0.0 here);
# bindreply: the peer that connects there (from) and the client it reaches (to).
DANTED_BIND_RULES = """\
socks pass {
	from: 127.0.0.0/8 to: 0.0.0.0/0
	command: bind
	log: connect disconnect
}
socks pass {
	from: 0.0.0.0/0 to: 127.0.0.0/8
	command: bindreply
	log: connect disconnect
}
"""


@pytest.fixture
def danted_bind(tmp_path):
    started = []

    def start(bind_rules=DANTED_BIND_RULES):
        s, port = support.start_danted(tmp_path, bind_rules + DANTED_CONNECT_RULE)
        started.append(s)
        return s, port

    yield start
    for s in started:
        s.stop()


@needs_pyftpdlib
def test_ftp_active_mode_through_danted(danted_bind, ftpd):
    server, dport = danted_bind()
    root, port, sha = ftpd
    ftp_through("socks5://127.0.0.1:%d" % dport, root, port, sha)
    # danted logged the three binds and the FTP server's connections to them
    server.wait_log(r"pass\(\d+\): tcp/bind \[: 127\.0\.0\.1\.\d+ 127\.0\.0\.1\.%d -> 127\.0\.0\.1\.\d+ 0\.0\.0\.0\.0" % dport,
                    count=3)
    server.wait_log(r"pass\(\d+\): tcp/bindreply \[: 127\.0\.0\.1\.\d+ 127\.0\.0\.1\.\d+ -> ", count=3)
    server.wait_log(r"pass\(\d+\): tcp/connect \[: .* 127\.0\.0\.1\.%d\b" % port)


def test_danted_without_bind_rule_fails_listen(danted_bind):
    """No rule passes the BIND: danted answers REP 02 (not allowed), listen() says EACCES."""
    server, dport = danted_bind(bind_rules="")
    r = support.run([PYTHON, "-c", LISTEN_ONCE, "0.0.0.0"], env=bind_env("socks5://127.0.0.1:%d" % dport))
    assert r.rc == 0 and r.out.strip() == "listen EACCES", r
    assert "listen: BIND via socks5://127.0.0.1:%d failed: proxy answered: " % dport in r.err, r


@needs("microsocks")
def test_microsocks_refuses_bind(tmp_path):
    """microsocks has no BIND (REP 07): listen() fails with EOPNOTSUPP and a log line."""
    from test_interop import start_on_free_port
    s, port = start_on_free_port(tmp_path, "microsocks",
                                 lambda p: [support.tool("microsocks"), "-i", "127.0.0.1", "-p", str(p)])
    try:
        r = support.run([PYTHON, "-c", LISTEN_ONCE, "0.0.0.0"], env=bind_env("socks5://127.0.0.1:%d" % port))
    finally:
        s.stop()
    assert r.rc == 0 and r.out.strip() in ("listen EOPNOTSUPP", "listen ENOTSUP"), r  # one number on Linux
    assert "(REP 7)" in r.err, r


# --- no leak: a client namespace that reaches nothing but the proxy's port ------------

BIND_LEAK_TABLE = """
table inet sfybind {{
  counter to_socks {{}}
  counter other {{}}
  chain out {{
    type filter hook output priority 0; policy accept;
    oifname "lo" accept
    ip daddr {p4} tcp dport {port} counter name to_socks accept
    meta l4proto {{ tcp, udp }} counter name other
  }}
}}
"""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces and nftables")
@needs("ip", "nft")
@needs_pyftpdlib
@pytest.mark.parametrize("where,external", [("veth", None), ("target", None), ("target", "target")])
def test_ftp_active_mode_in_namespace_sends_only_to_the_proxy(start_socks5d, tmp_path, where, external):
    """ftplib in namespace C, socks5d and the FTP server in P. C sends nothing but to
    socks5d's port: the control connection is a CONNECT, each data connection a BIND.
    ftplib advertises the control connection's getsockname() address, which with
    SOCKSIFY_BIND=1 is the proxy's side of it (BND), the address the FTP server sees the
    control connection come from (pyftpdlib refuses any other), with the BIND listener's
    port. where=veth: the FTP server on P's veth address, the one C reaches socks5d by.
    where=target: on P's loopback address 198.18.0.1, which C cannot reach: socks5d's
    connection to it comes from 198.18.0.1, not from the client-facing 10.200.0.1, so
    the BIND listener must be reachable there too (a wildcard listener, or
    --external 198.18.0.1 for both)."""
    import test_netns
    net = test_netns.Net()
    sh = test_netns.sh
    ftp_host = test_netns.PROXY4 if where == "veth" else test_netns.TARGET4

    def counters():
        r = sh("ip", "netns", "exec", net.c, "nft", "-j", "list", "table", "inet", "sfybind")
        return {i["counter"]["name"]: i["counter"]["packets"] for i in json.loads(r.stdout)["nftables"] if "counter" in i}

    try:
        net.remove_leftovers()
        c, p = net.c, net.p
        test_netns.link_pair(c, p, v6=False)
        args = ("--external", test_netns.TARGET4) if external else ()
        proxy = start_socks5d(*args, listen=("%s:0" % test_netns.PROXY4,), netns=p)
        root = tmp_path / "ftp"
        root.mkdir()
        data = os.urandom(200 * 1024)
        (root / "file.bin").write_bytes(data)
        ftpd = Server(["ip", "netns", "exec", p, PYTHON, "-u", FTPD, str(root), ftp_host],
                      str(tmp_path / "ftpd-netns.log"), name="ftpd-netns")
        port = int(ftpd.read_line(r"^ftpd: listening on \S+:(\d+)$").group(1))
        r = subprocess.run(["ip", "netns", "exec", c, "nft", "-f", "-"], capture_output=True, text=True, timeout=30,
                           input=BIND_LEAK_TABLE.format(p4=test_netns.PROXY4, port=proxy.port))
        assert r.returncode == 0, r.stderr

        env = support.base_env(SOCKSIFY_BIND="1", SOCKSIFY_LOG="info")  # default SOCKSIFY_NO_PROXY
        r = support.run(net.in_c([support.WRAPPER, "-x", proxy.url(), "--", PYTHON, FTPCLIENT, ftp_host,
                                  str(port), "file.bin", "up.bin"]), env=env, timeout=60)
        out = json_out(r)
        assert out["sha256"] == hashlib.sha256(data).hexdigest(), out
        assert (root / "up.bin").read_bytes() == data
        proxy.server.wait_log(BIND_LINE % "ok", count=3)
        proxy.wait_session("%s:%d" % (ftp_host, port))
        n = counters()
        assert n["other"] == 0 and n["to_socks"] > 0, n
        # positive control: a connection from C to P's veth address, not to socks5d's port, is counted
        r = support.run(net.in_c([PYTHON, "-c", "import socket,sys\ntry: socket.create_connection((sys.argv[1], int(sys.argv[2])), 5).close()\nexcept OSError: pass",
                                  test_netns.PROXY4, str(port)]), env=support.base_env())
        assert r.rc == 0, r
        assert counters()["other"] > 0
        proxy.stop()
        ftpd.stop()
    finally:
        net.teardown()


# --- the listener's life: dup, fork, the proxy going away ---------------------------

FORK_PROG = """
import os, socket, sys
s = socket.socket()
s.bind(("0.0.0.0", 0))
s.listen()
addr = s.getsockname()
d = os.dup(s.fileno())
same = socket.socket(fileno=os.dup(d)).getsockname() == addr
os.close(d)  # a dup closed: the listener is still there
print("listen", addr[0], addr[1], same, flush=True)
pid = os.fork()
if pid == 0:
    c, peer = s.accept()
    print("child accepted", c.recv(2).decode(), peer[0], flush=True)
    os._exit(0)
s.close()  # the parent's copy: the child's listener goes on
_, status = os.waitpid(pid, 0)
print("parent done", status, flush=True)
"""


def test_dup_and_fork_share_the_listener(socks5d):
    env = support.sanitizer_env_for([PYTHON], bind_env(socks5d.url()))
    p = subprocess.Popen([PYTHON, "-c", FORK_PROG], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, start_new_session=True)
    try:
        first = read_line(p).split()
        assert first[:2] == ["listen", "127.0.0.1"] and first[3] == "True", (first, p.stderr.read())
        c = peer(("127.0.0.1", int(first[2])), b"hi")
        out, err = rest(p)
        c.close()
    finally:
        p.kill()
        p.wait()
    assert out.splitlines() == ["child accepted hi 127.0.0.1", "parent done 0"], (out, err)
    if support.SANITIZE:
        support.assert_no_sanitizer_report(err)
    socks5d.server.wait_log(BIND_LINE % "ok")


def test_proxy_going_away_fails_accept(start_socks5d):
    """socks5d stops while the program waits in accept(): ECONNABORTED, no hang; with
    no proxy for a new BIND, the socket listens no more: the next accept() says EINVAL."""
    d = start_socks5d()
    p = subprocess.Popen([PYTHON, "-c", ACCEPT_TWICE], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True,
                         env=support.sanitizer_env_for([PYTHON], bind_env(d.url())))
    try:
        assert read_line(p).startswith("listen ok"), p.stderr.read()
        d.stop()
        out, err = rest(p)
    finally:
        p.kill()
        p.wait()
    lines = [l.split()[:2] for l in out.splitlines()]
    assert lines == [["accept", "ECONNABORTED"], ["accept", "EINVAL"]], (out, err)
    assert "listens no more: no new BIND for it" in err, err
    if support.SANITIZE:
        support.assert_no_sanitizer_report(err)
    assert "accept: the BIND via %s ended: the proxy closed the connection" % d.url() in err, err


ASYNCIO_SERVER = """
import asyncio, sys

async def main():
    done = asyncio.Event()
    served = []

    async def handle(reader, writer):
        line = await reader.readline()
        writer.write(line.upper())
        await writer.drain()
        writer.close()
        served.append(writer.get_extra_info("peername")[1])
        print("served", served[-1], "next", server.sockets[0].getsockname()[1], flush=True)
        if len(served) == 2:
            done.set()

    server = await asyncio.start_server(handle, "0.0.0.0", 0)
    print("listening", server.sockets[0].getsockname()[1], flush=True)
    await done.wait()
    server.close()

asyncio.run(main())
"""


def test_asyncio_server_through_socks5d(socks5d):
    """An asyncio server (epoll, non-blocking accept loop) serves two clients one after
    the other, each through its own BIND; the second at the address the first left."""
    p = subprocess.Popen([PYTHON, "-c", ASYNCIO_SERVER], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True, env=support.sanitizer_env_for([PYTHON], bind_env(socks5d.url())))
    try:
        line = read_line(p).split()
        assert line[0] == "listening", (line, p.stderr.read())
        port = int(line[1])
        for word in (b"first", b"second"):
            c = peer(("127.0.0.1", port), word + b"\n")
            assert support.recv_all(c, 10 * support.SLOW) == word.upper() + b"\n"
            line = read_line(p).split()
            assert line[:2] == ["served", str(c.getsockname()[1])], (line, p.stderr.read())
            c.close()
            port = int(line[3])
        out, err = rest(p)
    finally:
        p.kill()
        p.wait()
    assert p.returncode == 0, err
    if support.SANITIZE:
        support.assert_no_sanitizer_report(err)
    socks5d.server.wait_log(BIND_LINE % "ok", count=2)


# --- a proxy that paces its replies -----------------------------------------------

class PacedBindProxy:
    """A BIND "server" whose replies the test paces: the first names 0.0.0.0:4321 (as
    some servers do), the second comes in two parts, the peer's first bytes in the
    same segment as the second part."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(4)
        self.port = self.sock.getsockname()[1]
        self.part = [threading.Event(), threading.Event()]
        self.sent_first_part = threading.Event()
        self.request = None
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self):
        self.conns = []
        while True:  # the first session is paced; the next ones (accept() renews the BIND) just wait
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            c.settimeout(30)
            assert support.sock_recv_exact(c, 3) == b"\x05\x01\x00"
            c.sendall(b"\x05\x00")
            request = support.sock_recv_exact(c, 10)
            c.sendall(b"\x05\x00\x00\x01" + socket.inet_aton("0.0.0.0") + struct.pack("!H", 4321 + len(self.conns) - 1))
            if len(self.conns) == 1:
                self.request = request
                threading.Thread(target=self._pace, args=(c,), daemon=True).start()

    def _pace(self, c):
        self.part[0].wait(30)
        c.sendall(b"\x05\x00\x00\x01\xc0\x00")
        self.sent_first_part.set()
        self.part[1].wait(30)
        c.sendall(b"\x02\x09" + struct.pack("!H", 7777) + b"payload")

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


PEER_AND_DATA = """
import socket
s = socket.socket()
s.listen()
print("listen", *s.getsockname(), flush=True)
c, peer = s.accept()
print("accepted", *peer, c.recv(100).decode(), flush=True)
"""


def in_syscall(pid, number):
    try:
        with open("/proc/%d/syscall" % pid) as f:
            return f.read().split()[0] == str(number)
    except OSError:
        return False


def test_second_reply_in_parts(tmp_path):
    """The first reply's 0.0.0.0 stands for the proxy's address; a second reply in two
    parts is waited for (in recv, not a spinning poll), and the bytes after it are the
    peer's, left to the program."""
    proxy = PacedBindProxy()
    p = subprocess.Popen([PYTHON, "-c", PEER_AND_DATA], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True,
                         env=support.sanitizer_env_for([PYTHON], bind_env("socks5://127.0.0.1:%d" % proxy.port)))
    try:
        assert read_line(p).split() == ["listen", "127.0.0.1", "4321"], p.stderr.read()
        assert proxy.request == b"\x05\x02\x00\x01\x00\x00\x00\x00\x00\x00", proxy.request  # BIND 0.0.0.0:0
        proxy.part[0].set()
        assert proxy.sent_first_part.wait(10)
        if os.uname().machine == "x86_64":  # blocked in recvfrom (45), waiting for the rest
            wait_until(lambda: in_syscall(p.pid, 45), 10, "the program never waits in recvfrom for the rest of the reply")
        proxy.part[1].set()
        out, err = rest(p)
    finally:
        p.kill()
        p.wait()
        proxy.close()
    assert out.split() == ["accepted", "192.0.2.9", "7777", "payload"], (out, err)


THREADS_PROG = """
import errno, socket, sys, threading
s = socket.socket()
s.bind(("0.0.0.0", 0))
s.listen()
try:
    s.getpeername()
    nopeer = "peer?"
except OSError as e:
    nopeer = errno.errorcode[e.errno]
print("listen", s.getsockname()[1], nopeer, flush=True)
got = []

def acceptor():
    c, peer = s.accept()
    got.append(peer[1])
    print("accepted", peer[1], "next", s.getsockname()[1], flush=True)

threads = [threading.Thread(target=acceptor) for _ in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join()
"""


def test_two_threads_block_in_accept(socks5d):
    """Two threads wait in accept() on one listener: the first peer wakes one of them,
    the second peer (at the address the listener has then) the other. A listener has
    no peer: getpeername() says ENOTCONN."""
    p = subprocess.Popen([PYTHON, "-c", THREADS_PROG], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True, env=support.sanitizer_env_for([PYTHON], bind_env(socks5d.url())))
    try:
        line = read_line(p).split()
        assert line[0] == "listen" and line[2] == "ENOTCONN", (line, p.stderr.read())
        port, peers = int(line[1]), []
        for _ in range(2):
            c = peer(("127.0.0.1", port), b"x")  # no more bytes: the accepted connection stays idle
            peers.append(c)
            line = read_line(p).split()
            assert line[:2] == ["accepted", str(c.getsockname()[1])], (line, p.stderr.read())
            port = int(line[3])
        out, err = rest(p)
        for c in peers:
            c.close()
    finally:
        p.kill()
        p.wait()
    assert p.returncode == 0, err
    if support.SANITIZE:
        support.assert_no_sanitizer_report(err)


# --- the launcher: --bind, the config key bind -------------------------------------

def test_launcher_bind_option_and_config_key(socks5d, tmp_path):
    from test_shell_mode import config_env
    r = support.run([support.WRAPPER, "--bind", "-x", socks5d.url(), "--", PYTHON, "-c", LISTEN_ONCE, "0.0.0.0"],
                    env=support.base_env(SOCKSIFY_LOG="info"))
    assert r.rc == 0 and r.out.startswith("listen ok 127.0.0.1 ") and "listen: BIND via" in r.err, r
    # bind = on in a config file: the library takes "on" too
    r = support.run([support.WRAPPER, "-x", socks5d.url(), "--", PYTHON, "-c", LISTEN_ONCE, "0.0.0.0"],
                    env=config_env(tmp_path, "bind = on\nlog = info\n"))
    assert r.rc == 0 and r.out.startswith("listen ok 127.0.0.1 ") and "listen: BIND via" in r.err, r
    socks5d.server.wait_log(r"cmd=bind target=0\.0\.0\.0:0 result=", count=2)
    env = config_env(tmp_path, "bind = maybe\n")
    r = support.run([support.WRAPPER, "-x", socks5d.url(), "--", PYTHON, "-c", "pass"], env=env)
    path = os.path.join(env["XDG_CONFIG_HOME"], "socksify", "config")
    assert r.rc == 2 and "%s:1: bad bind 'maybe'" % path in r.err, r


def test_ipv6_proxy(socks5d):
    """Through socks5d's [::1] listener: an IPv6 listener works (BND [::1]); an IPv4
    socket could not tell an IPv6 address, so its listen() fails with EAFNOSUPPORT."""
    first, acc, port = accept_one_on_ipv6(bind_env(socks5d.url(1)), "epoll", "::1")
    assert first["addr"][0] == "::1", first
    assert acc["peer"] == ["::1", port] and acc["data"] == "one", acc
    r = support.run([PYTHON, "-c", LISTEN_ONCE, "0.0.0.0"], env=bind_env(socks5d.url(1)))
    assert r.rc == 0 and r.out.strip() == "listen EAFNOSUPPORT", r
    assert "an IPv4 socket cannot listen through the IPv6 proxy" in r.err, r


SOCKNAME_PROG = """
import socket, sys
c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
print(*c.getsockname(), flush=True)
c.recv(1)
"""


@pytest.mark.parametrize("bind", ["1", None])
def test_getsockname_of_a_proxied_connection(socks5d, bind):
    """With SOCKSIFY_BIND=1 a proxied connection's getsockname() is where the target
    sees it come from (the proxy's side, BND); without, the kernel's, untouched."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    env = support.preload_env(SOCKSIFY_PROXY=socks5d.url(), SOCKSIFY_NO_PROXY="", SOCKSIFY_BIND=bind)
    p = subprocess.Popen([PYTHON, "-c", SOCKNAME_PROG, str(srv.getsockname()[1])], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True,
                         env=support.sanitizer_env_for([PYTHON], env))
    try:
        srv.settimeout(10 * support.SLOW)
        conn, seen = srv.accept()
        host, port = read_line(p).split()
        conn.sendall(b"x")
        rest(p)
        conn.close()
    finally:
        p.kill()
        p.wait()
        srv.close()
    if bind:
        assert (host, int(port)) == seen, (host, port, seen)
    else:  # the program's end of its connection to the proxy (the kernel may reuse a port number for both)
        socks5d.server.wait_log(r"session client=127\.0\.0\.1:%s .*cmd=connect" % port)
