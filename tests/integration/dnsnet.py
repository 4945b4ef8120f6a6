"""Two network namespaces for the remote-DNS tests, and a trap DNS server.

  C (client) --veth-- P (proxy side)

C: 10.201.X.2/24, fd00:201:X::2/64; its /etc/resolv.conf (ip netns exec bind-mounts
/etc/netns/C/resolv.conf) names the trap DNS server on 127.0.0.53 inside C, which
logs every query. C has no route to the target.
P: 10.201.X.1/24, fd00:201:X::1/64, and the target addresses 198.18.X.1 and
fd00:198:X::1 on its lo; an HTTP server on the target addresses and a static
server (git's dumb HTTP) on 198.18.X.1. Its /etc/hosts is the only place where
TARGET_NAME resolves; its resolv.conf names 127.0.0.1, where nothing listens, so
an unknown name fails there at once.

Everything is created with names unique to this run and removed at the end,
also when a test fails; leftovers of a killed run are removed at the next start."""

import ctypes
import os
import random
import re
import shutil
import socket
import struct
import subprocess
import threading
import time

import pytest

import support
from support import PYTHON, Server

HERE = os.path.dirname(os.path.abspath(__file__))
TRAPDNS = os.path.join(HERE, "trapdns.py")
PROGS = os.path.join(HERE, "dnsprogs")

TARGET_NAME = "target.sfy.test"  # resolves only in P
TARGET6_NAME = "target6.sfy.test"  # resolves only in P, to its IPv6 target address only
HOSTS_NAME = "c-hosts.sfy.test"  # in C's /etc/hosts: 10.201.X.2
DUAL_NAME = "c-dual.sfy.test"  # in C's /etc/hosts: 10.201.X.2 and fd00:201:X::2
CORP_NAME = "db.corp.test"  # the trap answers it (10.201.X.1): for SOCKSIFY_NO_PROXY names
LOCAL_NAME = "dnslocal.sfy.test"  # the trap answers it (198.18.X.1): for SOCKSIFY_DNS=local
TRAP_ADDR = "127.0.0.53"
PREFIX = "sfydns-"
CLONE_NEWNET = 0x40000000

_libc = ctypes.CDLL(None, use_errno=True)


def ip(*args, check=True):
    r = subprocess.run(["ip"] + list(args), capture_output=True, text=True)
    if check and r.returncode != 0:
        raise AssertionError("ip %s failed: %s" % (" ".join(args), r.stderr.strip()))
    return r


def ns_socket(ns, family=socket.AF_INET, type=socket.SOCK_DGRAM):
    """A socket that lives in namespace ns: created by a thread that entered ns
    (a network namespace is per thread), then used from anywhere."""
    out = {}

    def make():
        fd = os.open("/run/netns/" + ns, os.O_RDONLY)
        try:
            if _libc.setns(fd, CLONE_NEWNET) != 0:
                out["error"] = OSError(ctypes.get_errno(), "setns(%s)" % ns)
                return
            out["sock"] = socket.socket(family, type)
        finally:
            os.close(fd)  # the thread ends here: its namespace goes with it

    t = threading.Thread(target=make)
    t.start()
    t.join()
    if "error" in out:
        raise out["error"]
    return out["sock"]


def _remove_leftovers():
    """Namespaces and /etc/netns dirs of earlier runs whose pytest is gone."""
    for line in ip("netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        m = re.match(re.escape(PREFIX) + r"[cp]-(\d+)-", name)
        if m and not os.path.exists("/proc/" + m.group(1)):
            ip("netns", "del", name, check=False)
    if os.path.isdir("/etc/netns"):
        for d in os.listdir("/etc/netns"):
            m = re.match(re.escape(PREFIX) + r"[cp]-(\d+)-", d)
            if m and not os.path.exists("/proc/" + m.group(1)):
                shutil.rmtree(os.path.join("/etc/netns", d), ignore_errors=True)


class Trap:
    """The trap DNS server's query log, read since a mark."""

    def __init__(self, net, server, log_path):
        self.net, self.server, self.log_path = net, server, log_path
        self.mark = 0
        self._sync_n = 0

    def _lines(self):
        with open(self.log_path) as f:
            return f.read().splitlines()

    def sync(self):
        """Send a query of our own and wait for its answer: every query that reached the
        trap before it is logged by then (one loop, logged before answering)."""
        self._sync_n += 1
        name = "sync-%d.trap.invalid" % self._sync_n
        q = struct.pack("!HHHHHH", self._sync_n & 0xFFFF, 0x0100, 1, 0, 0, 0)
        q += b"".join(bytes([len(l)]) + l.encode() for l in name.split(".")) + b"\0" + struct.pack("!HH", 1, 1)
        s = ns_socket(self.net.c)
        try:
            s.settimeout(5)
            s.sendto(q, (TRAP_ADDR, 53))
            s.recvfrom(4096)
        finally:
            s.close()
        deadline = time.monotonic() + 5
        while not any(name in l for l in self._lines()):
            assert time.monotonic() < deadline, "trap DNS did not log its sync query %s" % name
            time.sleep(0.01)  # polling interval while waiting for a condition

    def queries(self):
        """Queries logged since the mark, without our sync queries: ['udp NAME TYPE', ...]."""
        self.sync()
        return [l for l in self._lines()[self.mark:] if ".trap.invalid " not in l]

    def take(self):
        """The queries since the mark; moves the mark past them."""
        q = self.queries()
        self.mark = len(self._lines())
        return q

    def names(self, queries):
        return sorted({l.split()[1] for l in queries})

    def assert_empty(self, what="the test"):
        q = self.take()
        assert not q, "%s leaked DNS queries to the trap in C: %s" % (what, q)


class DnsNet:
    def __init__(self, tmp):
        self.tmp = tmp
        tag = "%d-%04x" % (os.getpid(), random.getrandbits(16))
        self.c, self.p = PREFIX + "c-" + tag, PREFIX + "p-" + tag
        x = random.randint(1, 254)
        self.x = x
        self.p4, self.c4 = "10.201.%d.1" % x, "10.201.%d.2" % x
        self.p6, self.c6 = "fd00:201:%x::1" % x, "fd00:201:%x::2" % x
        self.target4, self.target6 = "198.18.%d.1" % x, "fd00:198:%x::1" % x
        self.servers = []
        self.etc_dirs = []
        self.trap = None

    # -- setup / teardown --

    def _etc(self, ns, files):
        d = os.path.join("/etc/netns", ns)
        os.makedirs(d)
        self.etc_dirs.append(d)
        for name, text in files.items():
            with open(os.path.join(d, name), "w") as f:
                f.write(text)

    def setup(self, bodies_root):
        _remove_leftovers()
        ip("netns", "add", self.c)
        ip("netns", "add", self.p)
        ip("link", "add", "vc", "netns", self.c, "type", "veth", "peer", "name", "vp", "netns", self.p)
        for ns, dev, a4, a6 in ((self.c, "vc", self.c4, self.c6), (self.p, "vp", self.p4, self.p6)):
            ip("-n", ns, "link", "set", "lo", "up")
            ip("-n", ns, "addr", "add", a4 + "/24", "dev", dev)
            ip("-n", ns, "-6", "addr", "add", a6 + "/64", "dev", dev, "nodad")
            ip("-n", ns, "link", "set", dev, "up")
        ip("-n", self.p, "addr", "add", self.target4 + "/32", "dev", "lo")
        ip("-n", self.p, "-6", "addr", "add", self.target6 + "/128", "dev", "lo", "nodad")
        self._etc(self.p, {
            "hosts": "127.0.0.1 localhost\n::1 localhost\n%s %s\n%s %s\n%s %s\n" % (
                self.target4, TARGET_NAME, self.target6, TARGET_NAME, self.target6, TARGET6_NAME),
            "resolv.conf": "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n",
        })
        self._etc(self.c, {
            "hosts": "127.0.0.1 localhost\n::1 localhost ip6-localhost\n%s %s\n%s %s\n%s %s\n" % (
                self.c4, HOSTS_NAME, self.c4, DUAL_NAME, self.c6, DUAL_NAME),
            "resolv.conf": "nameserver %s\noptions timeout:2 attempts:1\n" % TRAP_ADDR,
        })
        # the trap DNS server, inside C
        self.trap_log = os.path.join(self.tmp, "trap-queries.log")
        open(self.trap_log, "w").close()
        trap = self.start(self.c, [PYTHON, "-u", TRAPDNS, "--listen", TRAP_ADDR, "--log", self.trap_log,
                                   "--answer", "%s=%s" % (CORP_NAME, self.p4),
                                   "--answer", "%s=%s" % (LOCAL_NAME, self.target4)], "trapdns")
        trap.read_line(r"listening on udp")
        trap.read_line(r"listening on tcp")
        self.trap = Trap(self, trap, self.trap_log)
        # the HTTP target, inside P, on addresses C cannot reach
        self.httpd = self.start(self.p, [PYTHON, "-u", support.HTTPD, bodies_root, self.target4, self.target6], "httpd")
        self.http_port = int(self.httpd.read_line(r"listening on [0-9.]+:(\d+)").group(1))
        self.httpd.read_line(r"listening on \[")
        # a bare git repository for git's dumb HTTP, served as static files
        self.git_root = os.path.join(self.tmp, "git")
        self.git_file = self._make_repo(self.git_root)
        self.gitd = self.start(self.p, [PYTHON, "-u", "-m", "http.server", "0", "--bind", self.target4,
                                        "--directory", self.git_root], "git-httpd")
        self.git_port = int(self.gitd.read_line(r"^Serving HTTP on \S+ port (\d+)").group(1))

    def _make_repo(self, root):
        work = os.path.join(self.tmp, "git-work")
        env = support.base_env(HOME=self.tmp, GIT_CONFIG_NOSYSTEM="1", GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@t",
                               GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@t")
        content = "remote dns %s\n" % os.urandom(8).hex()
        os.makedirs(work)
        with open(os.path.join(work, "README"), "w") as f:
            f.write(content)
        for args, cwd in ((["git", "init", "-q", "-b", "main", work], None),
                          (["git", "add", "README"], work),
                          (["git", "commit", "-q", "-m", "first"], work),
                          (["git", "clone", "-q", "--bare", work, os.path.join(root, "repo.git")], None),
                          (["git", "update-server-info"], os.path.join(root, "repo.git"))):
            r = support.run(args, env=env, cwd=cwd)
            assert r.rc == 0, r
        return content

    def start(self, ns, args, name):
        s = Server(["ip", "netns", "exec", ns] + args, os.path.join(self.tmp, name + ".log"), name=name)
        self.servers.append(s)
        return s

    def teardown(self):
        for s in self.servers:
            s.stop(timeout=2)
        for ns in (self.c, self.p):
            ip("netns", "del", ns, check=False)
        for d in self.etc_dirs:
            shutil.rmtree(d, ignore_errors=True)

    # -- running things --

    def run(self, ns, args, env=None, timeout=30, **kw):
        return support.run(["ip", "netns", "exec", ns] + [str(a) for a in args], env=env, timeout=timeout, **kw)

    def socksify(self, proxy, cmd, env=None, opts=(), timeout=30, **kw):
        """cmd under ./socksify.sh -x proxy, in C."""
        args = [support.WRAPPER, "-x", proxy] + list(opts) + ["--"] + list(cmd)
        return self.run(self.c, args, env=env if env is not None else support.base_env(), timeout=timeout, **kw)

    def url(self, name="body", host=TARGET_NAME, port=None):
        return "http://%s:%d/%s" % (host, port or self.http_port, name)

    def free_port_in_p(self):
        """A port free on P's veth address, for servers that cannot bind port 0 and say so."""
        s = ns_socket(self.p, socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind((self.p4, 0))
            return s.getsockname()[1]
        finally:
            s.close()


@pytest.fixture(scope="module")
def dnsnet_module(built, bodies, tmp_path_factory):
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces, /etc/netns)")
    net = DnsNet(str(tmp_path_factory.mktemp("dnsnet")))
    try:
        net.setup(bodies.root)
        yield net
    finally:
        net.teardown()


@pytest.fixture
def dnsnet(dnsnet_module):
    """The namespaces, with the trap's log marked at the start of the test; the test
    must account for every query (take() them) - any other query fails it."""
    net = dnsnet_module
    net.trap.take()  # queries of an earlier, failed test are not this test's
    yield net
    net.trap.assert_empty("the test (checked after it)")
