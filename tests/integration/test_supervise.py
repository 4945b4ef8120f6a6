"""socksify-supervise: programs LD_PRELOAD cannot reach (static C, Go) run under a seccomp
user-notification filter (the tests that matter run again with the ptrace mechanism, and an "old
kernel" must get it by itself). In the namespaces of dnsnet.py (C has no route to the target,
its resolver is a trap that records every query), they fetch by name through socks5d in P;
the trap sees no query and an nftables table in C counts every packet that leaves C for
anything but the proxy: 0. Then the ways it must fail closed: proxy down, UDP elsewhere,
musl's unconnected DNS datagrams, the supervisor killed, the filter not installable,
x32/i386 system call numbers."""

import json
import os
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import time

import pytest

import support
from dnsnet import TARGET_NAME, TRAPDNS, dnsnet, dnsnet_module  # noqa: F401 (fixtures)
from support import PYTHON, needs

HERE = os.path.dirname(os.path.abspath(__file__))
PROGS = os.path.join(HERE, "supervise_progs")
SUPERVISE = os.path.join(support.BUILD, "socksify-supervise")

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces, nftables)"),
    needs("ip", "nft", "gcc"),
]


def build(args, what):
    r = support.run(args, env=support.base_env(), timeout=300)
    assert r.rc == 0, "cannot build %s: %r" % (what, r)


@pytest.fixture(scope="module")
def progs(tmp_path_factory):
    """The test programs, built here: a static glibc client, the same with musl (when
    musl-gcc is there), the x32/i386 probe, the signal program and the "old kernel" wrapper."""
    d = tmp_path_factory.mktemp("supprogs")
    out = {"client": str(d / "client"), "arch": str(d / "arch"), "sigprog": str(d / "sigprog"),
           "oldkernel": str(d / "oldkernel"), "execthread": str(d / "execthread")}
    build(["gcc", "-static", "-O2", "-pthread", "-o", out["client"], os.path.join(PROGS, "client.c")], "client")
    build(["gcc", "-static", "-no-pie", "-O2", "-o", out["arch"], os.path.join(PROGS, "arch.c")], "arch")
    build(["gcc", "-static", "-O2", "-pthread", "-o", out["sigprog"], os.path.join(PROGS, "sigprog.c")], "sigprog")
    build(["gcc", "-O2", "-o", out["oldkernel"], os.path.join(PROGS, "oldkernel.c")], "oldkernel")
    build(["gcc", "-static", "-O2", "-pthread", "-o", out["execthread"], os.path.join(PROGS, "execthread.c")],
          "execthread")
    if support.tool("musl-gcc"):
        out["musl"] = str(d / "client-musl")
        build(["musl-gcc", "-static", "-O2", "-o", out["musl"], os.path.join(PROGS, "client.c")], "musl client")
    return out


def build_go(tmp_path_factory, name):
    """supervise_progs/NAME built with CGO_ENABLED=0: Go's own resolver, raw system calls."""
    go = support.tool("go")
    if not go:
        pytest.skip("not installed: go (golang-go; tests/install-deps.sh installs it)")
    d = tmp_path_factory.mktemp("go" + name)
    exe = str(d / name)
    env = support.base_env(CGO_ENABLED="0", GOCACHE=str(d / "cache"), GOPATH=str(d / "gopath"), HOME=str(d),
                           GOFLAGS=None, GOPROXY="off", GOTOOLCHAIN="local")
    r = support.run([go, "build", "-o", exe, "."], env=env, cwd=os.path.join(PROGS, name), timeout=300)
    assert r.rc == 0, "cannot build the Go program %s: %r" % (name, r)
    return exe


@pytest.fixture(scope="module")
def goget(tmp_path_factory):
    return build_go(tmp_path_factory, "get")


@pytest.fixture
def proxy(dnsnet, start_socks5d):
    """socks5d in P, on its veth addresses."""
    return start_socks5d(listen=("%s:0" % dnsnet.p4, "[%s]:0" % dnsnet.p6), netns=dnsnet.p)


LEAK_TABLE = """
table inet sfysup {{
  counter to_target {{}}
  counter to_other {{}}
  counter to_proxy {{}}
  chain out {{
    type filter hook output priority 0; policy accept;
    ip daddr {t4} counter name to_target
    ip6 daddr {t6} counter name to_target
    ip daddr {p4} counter name to_proxy
    ip6 daddr {p6} counter name to_proxy
    oifname != "lo" ip daddr != {p4} counter name to_other
    oifname != "lo" ip6 daddr != {p6} meta l4proto != ipv6-icmp counter name to_other
  }}
}}
"""


class Counters:
    def __init__(self, ns):
        self.ns = ns

    def read(self):
        r = subprocess.run(["ip", "netns", "exec", self.ns, "nft", "-j", "list", "table", "inet", "sfysup"],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        return {i["counter"]["name"]: i["counter"]["packets"] for i in json.loads(r.stdout)["nftables"]
                if "counter" in i}

    def assert_nothing_direct(self):
        c = self.read()
        assert c["to_target"] == 0 and c["to_other"] == 0, "packets left C for something but the proxy: %r" % c
        return c


@pytest.fixture
def counters(dnsnet):
    table = LEAK_TABLE.format(t4=dnsnet.target4, t6=dnsnet.target6, p4=dnsnet.p4, p6=dnsnet.p6)
    r = subprocess.run(["ip", "netns", "exec", dnsnet.c, "nft", "-f", "-"], input=table, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    try:
        yield Counters(dnsnet.c)
    finally:
        subprocess.run(["ip", "netns", "exec", dnsnet.c, "nft", "delete", "table", "inet", "sfysup"],
                       capture_output=True, timeout=30)


# The tests that matter run with each mechanism: seccomp user notification and ptrace.
MECHS = pytest.mark.parametrize("mech", ["notify", "ptrace"])


def mech_env(mech, **extra):
    return support.base_env(SOCKSIFY_SUPERVISE_MECH=mech, **extra)


def supervised(dnsnet, proxy_url, cmd, opts=(), env=None, timeout=60, mech=None):
    args = [SUPERVISE, "-x", proxy_url, "-v"] + list(opts) + ["--"] + [str(a) for a in cmd]
    if env is None:
        env = support.base_env()
    if mech:
        env = dict(env, SOCKSIFY_SUPERVISE_MECH=mech)
    return dnsnet.run(dnsnet.c, args, env=env, timeout=timeout)


def lines(r):
    return [json.loads(l) for l in r.out.splitlines() if l.startswith("{")]


def one(r):
    found = lines(r)
    assert len(found) == 1, "expected one JSON line: %r" % r
    return found[0]


def test_built():
    assert os.access(SUPERVISE, os.X_OK), "%s is missing (make)" % SUPERVISE


def test_without_supervisor_the_target_is_out_of_reach(dnsnet, progs, tmp_path):
    """The control: run directly in C, the static client asks the trap (which says NXDOMAIN)
    and the target's address has no route. So a fetch that works below went through the proxy."""
    r = dnsnet.run(dnsnet.c, [progs["client"], "get", TARGET_NAME, dnsnet.http_port, "body", tmp_path / "o"])
    assert one(r)["step"] == "getaddrinfo", r
    assert TARGET_NAME in dnsnet.trap.names(dnsnet.trap.take())
    r = dnsnet.run(dnsnet.c, [progs["client"], "get", dnsnet.target4, dnsnet.http_port, "body", tmp_path / "o"])
    assert one(r)["errno"] == "ENETUNREACH", r


@pytest.mark.parametrize("mode", ["get", "thread", "fork", "epoll"])
@MECHS
def test_static_client_fetches_by_name(dnsnet, proxy, counters, progs, bodies, tmp_path, mode, mech):
    """getaddrinfo() of static glibc asks the supervisor's responder (a fake address), the
    connect() becomes a CONNECT carrying the name: in the main thread, another thread, a
    forked child, and on a non-blocking socket added to epoll before connect() (kept: the
    handshake runs on the program's own socket)."""
    out = tmp_path / "out"
    r = supervised(dnsnet, proxy.url(), [progs["client"], mode, TARGET_NAME, dnsnet.http_port, "body", out], mech=mech)
    assert r.rc == 0, r
    res = one(r)
    assert res["errno"] is None, r
    assert res["peer"] == res["addr"] and res["addr"].startswith(("240.", "100::")), r  # the fake address
    assert out.read_bytes() == bodies.data["body"]
    proxy.wait_session("%s:%d" % (TARGET_NAME, dnsnet.http_port))
    assert "via socks5://" in r.err, r  # -v: the supervisor's line for the connection
    dnsnet.trap.assert_empty("the static client")
    assert counters.assert_nothing_direct()["to_proxy"] > 0


@MECHS
def test_static_client_ipv6_literal(dnsnet, proxy, counters, progs, bodies, tmp_path, mech):
    out = tmp_path / "out"
    r = supervised(dnsnet, proxy.url(1), [progs["client"], "get", dnsnet.target6, dnsnet.http_port, "small", out],
                   mech=mech)
    assert one(r)["errno"] is None, r
    assert one(r)["peer"] == dnsnet.target6, r  # getpeername(): the target, not the proxy
    assert out.read_bytes() == bodies.data["small"]
    line = proxy.wait_session("[%s]:%d" % (dnsnet.target6, dnsnet.http_port))[0]
    assert "client=[%s]" % dnsnet.c6 in line, line
    counters.assert_nothing_direct()


@MECHS
def test_connect_with_no_fd_free(dnsnet, proxy, counters, progs, bodies, tmp_path, mech):
    """connect() allocates no fd, so a program at its RLIMIT_NOFILE connects as without us (ptrace
    fetches the socket with a socket() injected into the program: EMFILE there is not the
    program's error)."""
    out = tmp_path / "out"
    r = supervised(dnsnet, proxy.url(), [progs["client"], "fdlimit", TARGET_NAME, dnsnet.http_port, "small", out],
                   mech=mech)
    assert one(r)["errno"] is None, r
    assert out.read_bytes() == bodies.data["small"]
    counters.assert_nothing_direct()


@MECHS
def test_new_socket_installed_with_no_fd_free(dnsnet, proxy, counters, progs, bodies, tmp_path, mech):
    """The same where the supervisor installs a socket of its own over the program's fd (an IPv4
    socket, an IPv6 proxy): ptrace's injected calls need no fd of the program's limit either."""
    out = tmp_path / "out"
    r = supervised(dnsnet, proxy.url(1), [progs["client"], "fdlimit", dnsnet.target4, dnsnet.http_port, "small", out],
                   mech=mech)
    assert one(r)["errno"] is None, r
    assert out.read_bytes() == bodies.data["small"]
    counters.assert_nothing_direct()


@pytest.mark.parametrize("mode", ["get", "thread"])
@MECHS
def test_ipv4_socket_ipv6_proxy_gets_a_new_socket(dnsnet, proxy, counters, progs, bodies, tmp_path, mode, mech):
    """An IPv4 socket cannot reach an IPv6 proxy: the supervisor connects a socket of its own and
    installs it over the program's fd (SECCOMP_IOCTL_NOTIF_ADDFD). (An epoll registration made
    before connect() is lost with the old socket then: see README.)"""
    out = tmp_path / "out"
    r = supervised(dnsnet, proxy.url(1), [progs["client"], mode, dnsnet.target4, dnsnet.http_port, "small", out],
                   mech=mech)
    assert one(r)["errno"] is None, r
    assert one(r)["peer"] == dnsnet.target4, r
    assert out.read_bytes() == bodies.data["small"]
    line = proxy.wait_session("%s:%d" % (dnsnet.target4, dnsnet.http_port))[0]
    assert "client=[%s]" % dnsnet.c6 in line, line
    counters.assert_nothing_direct()


@MECHS
def test_go_fetches_by_name(dnsnet, proxy, counters, goget, bodies, mech):
    """Go's pure resolver (UDP to the resolv.conf nameserver) and its raw connect()s, from
    several goroutines (threads) at once: by name twice and by IPv6 literal."""
    urls = [dnsnet.url("body"), dnsnet.url("small"), dnsnet.url("text", host="[%s]" % dnsnet.target6)]
    r = supervised(dnsnet, proxy.url(), [goget] + urls, mech=mech)
    assert r.rc == 0, r
    res = {x["url"]: x for x in lines(r)}
    for url, name in zip(urls, ["body", "small", "text"]):
        assert res[url]["status"] == 200 and res[url]["sha256"] == bodies.sha(name), res[url]
    proxy.wait_session("%s:%d" % (TARGET_NAME, dnsnet.http_port), count=2)
    proxy.wait_session("[%s]:%d" % (dnsnet.target6, dnsnet.http_port))
    dnsnet.trap.assert_empty("the Go program")
    counters.assert_nothing_direct()


@pytest.mark.parametrize("via", [0, 1], ids=["proxy4", "proxy6"])
@MECHS
def test_go_many_at_once(dnsnet, proxy, counters, goget, bodies, via, mech):
    """20 fetches by name at once (goroutines on several threads, each blocked in its connect()
    while the supervisor's workers run the handshakes), through the IPv4 and the IPv6 proxy
    address: with the IPv6 one, Go's IPv4 sockets get the supervisor's own socket (ADDFD), which
    Go registers with its poller only after connect() returns."""
    names = ["small", "text", "body"]
    urls = [dnsnet.url(names[i % 3]) + "?%d" % i for i in range(20)]
    r = supervised(dnsnet, proxy.url(via), [goget] + urls, opts=["-q"], mech=mech)
    assert r.rc == 0, r
    res = {x["url"]: x for x in lines(r)}
    for i, url in enumerate(urls):
        assert res[url]["sha256"] == bodies.sha(names[i % 3]), res[url]
    proxy.wait_session("%s:%d" % (TARGET_NAME, dnsnet.http_port), count=20)
    dnsnet.trap.assert_empty("20 Go fetches")
    counters.assert_nothing_direct()


@MECHS
def test_go_dns_over_tcp(dnsnet, proxy, counters, goget, bodies, mech):
    """resolv.conf 'options use-vc': Go asks over TCP; that connection goes to the responder too."""
    path = os.path.join("/etc/netns", dnsnet.c, "resolv.conf")
    with open(path) as f:
        saved = f.read()
    try:
        with open(path, "w") as f:
            f.write(saved + "options use-vc\n")
        r = supervised(dnsnet, proxy.url(), [goget, dnsnet.url("small")], opts=["-vv"], mech=mech)
    finally:
        with open(path, "w") as f:
            f.write(saved)
    assert r.rc == 0 and lines(r)[0]["sha256"] == bodies.sha("small"), r
    assert "TCP to port 53" in r.err and "UDP to port 53" not in r.err, r
    proxy.wait_session("%s:%d" % (TARGET_NAME, dnsnet.http_port))
    dnsnet.trap.assert_empty("Go over TCP")
    counters.assert_nothing_direct()


@MECHS
def test_through_socksify_sh_as_a_user_would(dnsnet, proxy, counters, progs, goget, bodies, tmp_path, mech):
    """./socksify.sh -x socks5://... ./static-client (and a Go program) by name: the launcher sees
    programs LD_PRELOAD cannot reach and execs socksify-supervise with them; -v reaches the
    supervisor through SOCKSIFY_LOG. No query reaches the trap, nothing leaves C but to the proxy."""
    out = tmp_path / "out"
    r = dnsnet.run(dnsnet.c, [support.WRAPPER, "-x", proxy.url(), "-vv", progs["client"], "get", TARGET_NAME,
                              dnsnet.http_port, "body", out], env=mech_env(mech))
    assert r.rc == 0 and one(r)["errno"] is None, r
    assert out.read_bytes() == bodies.data["body"]
    assert "socksify-supervise" in r.err and "via socks5://" in r.err, r  # its -v line
    assert "mechanism: %s" % ("ptrace (asked for)" if mech == "ptrace" else "seccomp user notification") in r.err, r
    proxy.wait_session("%s:%d" % (TARGET_NAME, dnsnet.http_port))
    r = dnsnet.run(dnsnet.c, [support.WRAPPER, "-x", proxy.url(), goget, dnsnet.url("small")],
                   env=mech_env(mech))
    assert r.rc == 0 and lines(r)[0]["sha256"] == bodies.sha("small"), r
    proxy.wait_session("%s:%d" % (TARGET_NAME, dnsnet.http_port), count=2)
    dnsnet.trap.assert_empty("socksify.sh with a static and a Go program")
    counters.assert_nothing_direct()


def test_old_kernel_gets_the_ptrace_mechanism(dnsnet, proxy, counters, progs, bodies, tmp_path):
    """Under oldkernel (seccomp's NEW_LISTENER refused with EINVAL, pidfd_open/pidfd_getfd ENOSYS,
    as on a kernel before 5.0), socksify.sh with a static program: the supervisor picks ptrace by
    itself and says why; the fetch by name works the same, nothing asked of the trap, nothing
    direct. Asked for notify there: status 126, the program not run."""
    out = tmp_path / "out"
    r = dnsnet.run(dnsnet.c, [progs["oldkernel"], support.WRAPPER, "-x", proxy.url(), "-vv", progs["client"], "get",
                              TARGET_NAME, dnsnet.http_port, "body", out], env=support.base_env())
    assert r.rc == 0 and one(r)["errno"] is None, r
    assert "mechanism: ptrace (pidfd_open: Function not implemented)" in r.err, r
    assert out.read_bytes() == bodies.data["body"]
    proxy.wait_session("%s:%d" % (TARGET_NAME, dnsnet.http_port))
    r = dnsnet.run(dnsnet.c, [progs["oldkernel"], SUPERVISE, "-x", proxy.url(), "--mechanism", "notify", "--",
                              progs["client"], "get", TARGET_NAME, dnsnet.http_port, "body", out],
                   env=support.base_env())
    assert r.rc == 126 and "notify mechanism cannot work here: pidfd_open" in r.err, r
    assert r.out == "", "the program ran: %r" % r
    dnsnet.trap.assert_empty("the static client on an old kernel")
    counters.assert_nothing_direct()


def test_go_without_supervisor_asks_the_trap(dnsnet, goget):
    """The control for Go: run directly, it asks the trap itself (LD_PRELOAD would not see that)."""
    r = dnsnet.run(dnsnet.c, [goget, dnsnet.url("small")], env=support.base_env())
    assert r.rc != 0, r
    assert TARGET_NAME in dnsnet.trap.names(dnsnet.trap.take())


def test_other_queries_go_through_the_proxy_to_dns_server(dnsnet, proxy, counters, goget, tmp_path):
    """A TXT query (not answered by the supervisor): with --dns-server, asked over TCP through a
    CONNECT to that resolver (a trap in P here, logging it); without, REFUSED. Never asked in C."""
    log = str(tmp_path / "p-dns.log")
    open(log, "w").close()
    s = dnsnet.start(dnsnet.p, [PYTHON, "-u", TRAPDNS, "--listen", dnsnet.p4, "--log", log,
                                "--answer", "txt.sfy.test=192.0.2.1"], "p-dns")
    s.read_line(r"listening on tcp")
    r = supervised(dnsnet, proxy.url(), [goget, "-txt", "txt.sfy.test"], opts=["--dns-server", dnsnet.p4])
    res = one(r)
    assert "no such host" in res["error"] or res["txt"] == [], r  # the trap knows the name, has no TXT
    support.wait_until(lambda: "tcp txt.sfy.test 16" in open(log).read(), 10, lambda: open(log).read())
    proxy.wait_session("%s:53" % dnsnet.p4)
    r = supervised(dnsnet, proxy.url(), [goget, "-txt", "other.sfy.test"])
    assert one(r)["error"], r
    assert "other.sfy.test" not in open(log).read()
    dnsnet.trap.assert_empty("TXT lookups")
    counters.assert_nothing_direct()


@pytest.fixture
def slow_dns_ns():
    """A namespace of its own whose resolv.conf names 127.0.0.1, where a DNS server answers every
    A query with 10.9.9.9 after 100 ms (queries at once are answered at once: one timer each)."""
    from dnsnet import ns_socket
    ns = "sfysup-sdns-%d" % os.getpid()
    etc = "/etc/netns/" + ns
    subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    subprocess.run(["ip", "netns", "add", ns], check=True)
    os.makedirs(etc, exist_ok=True)
    with open(etc + "/resolv.conf", "w") as f:
        f.write("nameserver 127.0.0.1\noptions timeout:5 attempts:2\n")
    server = None
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        server = ns_socket(ns)
        server.bind(("127.0.0.1", 53))
        asked = []

        def answer(msg, peer):
            reply = struct.pack("!HHHHHH", struct.unpack("!H", msg[:2])[0], 0x8180, 1, 1, 0, 0) + msg[12:]
            reply += struct.pack("!HHHIH", 0xC00C, 1, 1, 5, 4) + socket.inet_aton("10.9.9.9")
            try:
                server.sendto(reply, peer)
            except OSError:
                pass

        def serve():
            while True:
                try:
                    msg, peer = server.recvfrom(4096)
                except OSError:
                    return
                asked.append(msg)
                if struct.unpack("!H", msg[-4:-2])[0] == 1:  # A; nothing for the rest
                    t = threading.Timer(0.1, answer, (msg, peer))
                    t.daemon = True
                    t.start()

        threading.Thread(target=serve, daemon=True).start()
        yield ns, asked
    finally:
        if server:
            server.close()
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)
        shutil.rmtree(etc, ignore_errors=True)


@MECHS
def test_no_proxy_name_burst_uses_few_resolver_threads(slow_dns_ns, mech):
    """200 A queries at once for SOCKSIFY_NO_PROXY names (each resolved by the supervisor with the
    system resolver: 100 ms here): at most 8 resolver threads run at a time (counted in
    /proc/PID/task of the supervisor), the other queries wait their turn, and every answer comes
    back."""
    ns, asked = slow_dns_ns
    args = ["ip", "netns", "exec", ns, SUPERVISE, "-x", "socks5://127.0.0.1:1", "--", PYTHON,
            os.path.join(PROGS, "dnsburst.py"), "200", "burst.test"]
    p = subprocess.Popen(args, env=mech_env(mech, SOCKSIFY_NO_PROXY=".burst.test"), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    most = 0
    try:
        sup = None
        while p.poll() is None:
            if sup is None:
                sup = next((k for k in children_of(p.pid) if exe_of(k) == SUPERVISE), None)
            if sup is not None:
                try:
                    most = max(most, len(os.listdir("/proc/%d/task" % sup)))
                except FileNotFoundError:
                    pass
            time.sleep(0.005)
        out, err = p.communicate(timeout=60)
    finally:
        kill_group(p)
    assert p.returncode == 0, (out, err)
    support.assert_no_sanitizer_report(err, "the supervisor of a DNS burst")
    assert json.loads(out)["ok"] == 200, (out, err)
    assert len(asked) >= 200, "the names were not resolved by the system resolver"
    # the event loop, the resolvers, a worker or two (the connect to port 53 needs none)
    assert 0 < most <= 1 + 8 + 2, "the supervisor ran %d threads at once" % most


@MECHS
def test_proxy_with_login(dnsnet, start_socks5d, counters, progs, bodies, tmp_path, mech):
    d = start_socks5d("-u", "alice:s3cret", listen=("%s:0" % dnsnet.p4,), netns=dnsnet.p)
    out = tmp_path / "out"
    r = supervised(dnsnet, d.url(auth="alice:s3cret"), [progs["client"], "get", TARGET_NAME, dnsnet.http_port,
                                                         "small", out], mech=mech)
    assert one(r)["errno"] is None, r
    assert out.read_bytes() == bodies.data["small"]
    d.wait_session("%s:%d" % (TARGET_NAME, dnsnet.http_port), user="alice")
    r = supervised(dnsnet, d.url(auth="alice:wrong"), [progs["client"], "get", TARGET_NAME, dnsnet.http_port,
                                                       "small", out], mech=mech)
    assert one(r)["errno"] == "EACCES", r
    counters.assert_nothing_direct()


@MECHS
def test_silent_proxy_times_out(dnsnet, counters, progs, tmp_path, mech):
    """A proxy address nobody answers for: the connect fails with ETIMEDOUT after -t."""
    r = supervised(dnsnet, "socks5://10.201.%d.78:1080" % dnsnet.x,
                   [progs["client"], "get", TARGET_NAME, dnsnet.http_port, "body", tmp_path / "o"], opts=["-t", "1"],
                   mech=mech)
    assert one(r)["errno"] == "ETIMEDOUT", r
    assert 0.8 <= r.elapsed < 4, r
    assert counters.read()["to_target"] == 0  # (its SYNs to the silent proxy count as to_other)


UDP_ECHO_CLIENT = r"""
import json, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
s.sendto(b"ping-through-the-relay", (sys.argv[1], int(sys.argv[2])))
data, src = s.recvfrom(100)
print(json.dumps({"data": data.decode(), "src": src[0]}))
"""


def test_library_in_a_dynamic_child_under_the_supervisor(dnsnet, proxy, counters, tmp_path):
    """A socksify run started under the supervisor (the launcher itself runs supervised programs
    without the library; this is the library preloaded into a program under the filter). The library's connection to the proxy is
    direct for the supervisor, and so are its datagrams to the proxy's UDP relay (the proxy's
    address, another port): a UDP exchange works end to end, nothing else leaves C."""
    echo = dnsnet.start(dnsnet.p, [PYTHON, "-u", os.path.join(HERE, "udpprogs", "udpecho.py"), dnsnet.target4],
                        "udpecho-sup")
    port = echo.read_line(r"listening on [0-9.]+:(\d+)").group(1)
    env = support.base_env(SOCKSIFY_NO_PROXY="")
    r = supervised(dnsnet, proxy.url(), [support.WRAPPER, "-x", proxy.url(), "--", PYTHON, "-c", UDP_ECHO_CLIENT,
                                         dnsnet.target4, port], env=env)
    assert r.rc == 0, r
    res = one(r)
    assert res == {"data": "ping-through-the-relay", "src": dnsnet.target4}, r
    counters.assert_nothing_direct()


@MECHS
def test_proxy_down_is_a_connect_error(dnsnet, counters, progs, goget, tmp_path, mech):
    """Nothing listens where the proxy should be: the program's connect() fails, nothing
    goes anywhere else."""
    url = "socks5://%s:1" % dnsnet.p4
    r = supervised(dnsnet, url, [progs["client"], "get", TARGET_NAME, dnsnet.http_port, "body", tmp_path / "o"],
                   mech=mech)
    res = one(r)
    assert (res["step"], res["errno"]) == ("connect", "ECONNREFUSED"), r
    r = supervised(dnsnet, url, [goget, dnsnet.url("small")], mech=mech)
    assert r.rc == 1 and "connection refused" in lines(r)[0]["error"], r
    dnsnet.trap.assert_empty("proxy down")
    c = counters.assert_nothing_direct()
    assert c["to_proxy"] >= 2, "the attempts did not even reach for the proxy: %r" % c


def test_udp_elsewhere_goes_through_the_proxy(dnsnet, proxy, counters, progs, tmp_path):
    """A datagram to anything but a DNS port or SOCKSIFY_NO_PROXY: through a UDP ASSOCIATE of the
    supervisor's (test_supervise_udp.py has the rest), never sent direct; a stale fake address
    (no name behind it) is refused."""
    r = supervised(dnsnet, proxy.url(), [progs["client"], "udp", dnsnet.target4, 9, "-", "-"])
    assert one(r)["errno"] is None, r
    proxy.server.wait_log(r"cmd=udp-associate .*dgrams_up=1 ")
    r = supervised(dnsnet, proxy.url(), [progs["client"], "udp", "240.0.255.254", 9, "-", "-"])
    assert one(r)["errno"] == "EHOSTUNREACH", r
    counters.assert_nothing_direct()


@MECHS
def test_musl_static_client_fetches_by_name(dnsnet, proxy, counters, progs, bodies, tmp_path, mech):
    """musl's resolver sends its queries with sendto() on an unconnected socket to each nameserver
    and takes answers only from a nameserver's address: the queries go to the responder, and
    recvfrom() names the nameserver as their source. By name and by address, through the proxy."""
    if "musl" not in progs:
        pytest.skip("not installed: musl-gcc")
    out = tmp_path / "out"
    r = supervised(dnsnet, proxy.url(), [progs["musl"], "get", TARGET_NAME, dnsnet.http_port, "body", out],
                   opts=["-vv"], mech=mech)
    assert one(r)["errno"] is None, r
    assert out.read_bytes() == bodies.data["body"]
    assert "unconnected socket goes to the responder" in r.err, r
    proxy.wait_session("%s:%d" % (TARGET_NAME, dnsnet.http_port))
    r = supervised(dnsnet, proxy.url(), [progs["musl"], "get", dnsnet.target4, dnsnet.http_port, "small", out],
                   mech=mech)
    assert one(r)["errno"] is None, r
    assert out.read_bytes() == bodies.data["small"]
    dnsnet.trap.assert_empty("musl")
    counters.assert_nothing_direct()


# ---- on the host's loopback: failing closed ----------------------------------------------------

def listener():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(16)
    s.setblocking(False)
    return s


def accepted(s):
    try:
        c, _ = s.accept()
        c.close()
        return True
    except BlockingIOError:
        return False


def children_of(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(x) for x in f.read().split()]
    except FileNotFoundError:
        return []


def exe_of(pid):
    try:
        return os.readlink("/proc/%d/exe" % pid)
    except OSError:
        return None


def kill_group(p):
    """Ends a test's process group (started with start_new_session), whatever is left of it."""
    try:
        os.killpg(p.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


@MECHS
def test_supervisor_killed_fails_closed(progs, tmp_path, mech):
    """SIGKILL to the supervisor process (the child of socksify-supervise that serves the
    notifications, and the program's parent) while the program runs: the program's next
    connect() fails (the kernel answers ENOSYS for a filter without listener), the target sees
    nothing, and the program's status still comes back (it is reparented to socksify-supervise).
    ptrace: the program dies with its tracer (PTRACE_O_EXITKILL: without it a connect() that
    stops while the tracer dies is let through by the kernel), status 128 + SIGKILL."""
    target = listener()
    port = target.getsockname()[1]
    env = mech_env(mech, SOCKSIFY_NO_PROXY="")
    p = subprocess.Popen([SUPERVISE, "-x", "socks5://127.0.0.1:1", "--", progs["client"], "wait", "127.0.0.1",
                          str(port), "x", str(tmp_path / "o")], env=env, stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        def started():  # the supervisor process, and its child the program exec'd (before that, it
            # would not run at all: closed too)
            sup = [k for k in children_of(p.pid) if exe_of(k) == SUPERVISE]
            prog = [k for k in children_of(sup[0]) if exe_of(k) == progs["client"]] if sup else []
            return {SUPERVISE: sup[0], progs["client"]: prog[0]} if prog else None

        kids = support.wait_until(started, 10, "the supervised program did not start")
        os.kill(kids[SUPERVISE], signal.SIGKILL)
        p.stdin.write("go\n")
        p.stdin.close()
        out = p.stdout.read()
        if mech == "ptrace":
            assert out == "" and p.wait(10) == 128 + signal.SIGKILL, out
        else:
            assert '"errno": "ENOSYS"' in out and '"step": "connect"' in out, out
            assert p.wait(10) == 1
        assert "supervisor process has died" in p.stderr.read()
        assert not accepted(target), "the program reached the target directly"
    finally:
        kill_group(p)
        target.close()


@MECHS
@pytest.mark.parametrize("stdin", ["open", "closed"])
def test_descendants_outliving_the_program_stay_covered(progs, httpd, socks5d, bodies, tmp_path, stdin, mech):
    """The program starts a background child and exits: socksify-supervise returns the program's
    status at once, and the child's later connect still goes through the proxy; the supervisor
    process ends when the last process under the filter has. Also when started with fd 0 closed
    (its own fds must not take the numbers 0-2)."""
    out, report = tmp_path / "out", tmp_path / "report"
    script = "(sleep 0.5; %s get 127.0.0.1 %d small %s > %s) </dev/null >/dev/null 2>&1 & exit 3" % (
        progs["client"], httpd.port, out, report)
    # not support.run: it kills the process group when the program is done, background child too
    t0 = time.monotonic()
    prefix = ["sh", "-c", 'exec 0<&- "$@"', "sh"] if stdin == "closed" else []
    p = subprocess.Popen(prefix + [SUPERVISE, "-x", socks5d.url(), "--", "sh", "-c", script],
                         env=mech_env(mech, SOCKSIFY_NO_PROXY=""), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        _, err = p.communicate(timeout=10)  # the supervisor process lets go of the pipes too
        assert p.returncode == 3 and time.monotonic() - t0 < 0.5, (p.returncode, err)
        support.wait_until(lambda: report.exists() and report.read_text(), 10, "the background child did not report")
        assert json.loads(report.read_text())["errno"] is None, report.read_text()
        assert out.read_bytes() == bodies.data["small"]
        socks5d.wait_session("127.0.0.1:%d" % httpd.port)
        def left():
            found = []
            for pid in map(int, filter(str.isdigit, os.listdir("/proc"))):
                try:
                    if exe_of(pid) == SUPERVISE and os.getpgid(pid) == p.pid:
                        found.append(pid)
                except OSError:
                    pass
            return found

        support.wait_until(lambda: not left(), 10, lambda: "the supervisor process stayed: %r" % left())
    finally:
        kill_group(p)


@MECHS
def test_signal_handler_runs_during_a_slow_connect(progs, mech):
    """SIGALRM (no SA_RESTART) comes 200 ms into a connect() whose handshake the supervisor is
    waiting on (a proxy that accepts and never answers): the connect fails after -t with
    ETIMEDOUT, and the program's handler has run (ptrace: the signal waits in the stopped
    thread and is delivered as it returns)."""
    silent = listener()
    try:
        r = support.run([SUPERVISE, "-x", "socks5://127.0.0.1:%d" % silent.getsockname()[1], "-t", "1", "--",
                         progs["sigprog"], "alarm", "127.0.0.1", "9"], env=mech_env(mech, SOCKSIFY_NO_PROXY=""))
        res = json.loads(r.out)
        assert res["errno"] == "ETIMEDOUT" and res["alarms"] == 1, r
        assert 0.8 <= res["seconds"] < 4, r
    finally:
        silent.close()


@MECHS
def test_exec_from_another_thread(progs, httpd, bodies, tmp_path, mech):
    """A second thread execs the client while the main thread makes trapped connect()s: the exec'd
    program is served as any (its fetch, direct: loopback is in SOCKSIFY_NO_PROXY), and the
    supervisor ends with it (ptrace: no vanished thread left behind in its tables)."""
    out = tmp_path / "out"
    r = support.run([SUPERVISE, "-x", "socks5://127.0.0.1:1", "--", progs["execthread"], "9", progs["client"], "get",
                     "127.0.0.1", str(httpd.port), "small", str(out)], env=mech_env(mech))
    assert r.rc == 0 and one(r)["errno"] is None, r
    assert out.read_bytes() == bodies.data["small"]


@MECHS
def test_execute_only_program_fails_closed(progs, httpd, tmp_path, mech):
    """A program its user may not read (mode 0111, run as nobody) is not dumpable: the supervisor
    may not look into it (ptrace: its memory, with the tracer attached since before the exec), so
    its connect() fails with EPERM - never direct (a direct connect to httpd would work)."""
    d = tempfile.mkdtemp(prefix="sfy-supx-")
    try:
        os.chmod(d, 0o1777)
        xonly = os.path.join(d, "client")
        shutil.copy(progs["client"], xonly)
        os.chmod(xonly, 0o111)
        r = support.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", SUPERVISE, "-x",
                         "socks5://127.0.0.1:1", "-n", "", "--", xonly, "get", "127.0.0.1", str(httpd.port), "small",
                         os.path.join(d, "out")], env=mech_env(mech, HOME=d))
        assert r.rc == 1 and '"step": "connect", "errno": "EPERM"' in r.out, r
    finally:
        shutil.rmtree(d, ignore_errors=True)


@MECHS
def test_job_control_stop_and_continue(mech):
    """The program stops itself (SIGSTOP): it stays stopped (ptrace: a group-stop the tracer
    answers with PTRACE_LISTEN, not by letting it run) until SIGCONT, then goes on."""
    p = subprocess.Popen([SUPERVISE, "-x", "socks5://127.0.0.1:1", "--", "sh", "-c", "kill -STOP $$; echo resumed"],
                         env=mech_env(mech), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         start_new_session=True)
    try:
        def stopped():
            sup = children_of(p.pid)
            prog = children_of(sup[0]) if sup else []
            try:
                with open("/proc/%d/stat" % prog[0]) as f:
                    return prog[0] if f.read().rsplit(")", 1)[1].split()[0] in "Tt" else None
            except (IndexError, OSError):
                return None

        prog = support.wait_until(stopped, 10, "the program did not stop")
        assert stopped() == prog and p.poll() is None, "it went on by itself"
        os.kill(prog, signal.SIGCONT)
        out, err = p.communicate(timeout=10)
        assert (p.returncode, out) == (0, "resumed\n"), (p.returncode, out, err)
    finally:
        kill_group(p)


@MECHS
def test_signals_during_trapped_calls_keep_their_siginfo(progs, mech):
    """300 SIGRTMIN queued with values 1..300 to a thread making connect()s in a loop (trapped,
    connected directly: refused): each handled once, with its own value. With ptrace most come
    during injected calls, are held there and sent again with their siginfo put back."""
    r = support.run([SUPERVISE, "-x", "socks5://127.0.0.1:1", "-vv", "--", progs["sigprog"], "storm", "9", "300"],
                    env=mech_env(mech))
    res = one(r)
    assert res["handled"] == 300 and res["sum"] == res["want_sum"] and res["odd"] == 0, r
    if mech == "ptrace":
        assert "held during an injected call" in r.err, "no signal came during an injection: %r" % r


def test_filter_not_installed_program_not_run(progs, tmp_path):
    """A supervisor inside a supervised program cannot install its own listener (the kernel
    allows one per filter chain): it refuses to run the program, status 126."""
    target = listener()
    port = target.getsockname()[1]
    env = support.base_env(SOCKSIFY_NO_PROXY="127.0.0.0/8")
    inner = [SUPERVISE, "-x", "socks5://127.0.0.1:1", "--", progs["client"], "get", "127.0.0.1", str(port), "x",
             str(tmp_path / "o")]
    r = support.run([SUPERVISE, "-x", "socks5://127.0.0.1:1", "--"] + inner, env=env)
    assert r.rc == 126, r
    assert "refusing to run" in r.err and "seccomp" in r.err, r
    assert r.out == "", "the program ran: %r" % r
    assert not accepted(target)
    target.close()


def test_mechanism_that_cannot_work_is_refused(progs, tmp_path):
    """No notify (an "old kernel") and no ptrace either (--no-ptrace: PTRACE_SEIZE fails as under
    Yama's ptrace_scope 3): auto and a forced ptrace refuse to run the program, status 126; a
    mechanism that does not exist is a usage error."""
    target = listener()
    port = target.getsockname()[1]
    env = support.base_env(SOCKSIFY_NO_PROXY="")
    prog = [progs["client"], "get", "127.0.0.1", str(port), "x", str(tmp_path / "o")]
    try:
        for opts in ([], ["--mechanism", "ptrace"]):
            r = support.run([progs["oldkernel"], "--no-ptrace", SUPERVISE, "-x", "socks5://127.0.0.1:1"] + opts +
                            ["--"] + prog, env=env)
            assert r.rc == 126 and "cannot trace it" in r.err and r.out == "", r
        r = support.run([SUPERVISE, "--mechanism", "seccomp", "-x", "socks5://127.0.0.1:1", "--"] + prog, env=env)
        assert r.rc == 2 and "bad mechanism" in r.err and r.out == "", r
        assert not accepted(target)
    finally:
        target.close()


def test_x32_and_i386_numbers_are_refused(progs):
    """connect() through the x32 ABI and through int 0x80 (i386): EPERM from the filter,
    where without it the kernel would have run them (or had no such entry)."""
    target = listener()
    port = str(target.getsockname()[1])
    try:
        plain = json.loads(support.run([progs["arch"], port]).out)
        while accepted(target):
            pass
        r = support.run([SUPERVISE, "-x", "socks5://127.0.0.1:1", "--", progs["arch"], port],
                        env=support.base_env(SOCKSIFY_NO_PROXY=""))
        res = json.loads(r.out)
        assert res["x32"] == -1, (plain, res)  # -EPERM: the filter, not the kernel's -ENOSYS
        if plain["i386"] == "crash":
            assert res["i386"] == "crash", res  # this kernel has the i386 entry turned off
        else:
            assert res["i386"] == -1, (plain, res)
        assert not accepted(target)
    finally:
        target.close()


def test_usage_errors():
    r = support.run([SUPERVISE, "--", "true"], env=support.base_env())
    assert r.rc == 2 and "no proxy" in r.err, r
    r = support.run([SUPERVISE, "-x", "socks5://h:99999", "--", "true"], env=support.base_env())
    assert r.rc == 2 and "bad port" in r.err, r
    # -q silences the parser's log line: the message itself says what is wrong
    r = support.run([SUPERVISE, "-q", "-x", "sock5://127.0.0.1:1", "--", "true"], env=support.base_env())
    assert r.rc == 2 and "bad proxy URL: unsupported scheme 'sock5'" in r.err, r
    r = support.run([SUPERVISE, "-q", "-x", "socks5://no-such-host.invalid:1", "--", "true"], env=support.base_env())
    assert r.rc == 2 and "no-such-host.invalid:1 (its host cannot be resolved)" in r.err, r
    r = support.run([SUPERVISE, "-x", "socks5://127.0.0.1:1", "--", "/nonexistent/prog"], env=support.base_env())
    assert r.rc == 127, r
    r = support.run([SUPERVISE, "-x", "socks5://127.0.0.1:1", "--", "sh", "-c", "exit 7"], env=support.base_env())
    assert r.rc == 7, r


@needs("microsocks")
def test_microsocks_stalls_pipelining_then_step_by_step(progs, httpd, bodies, tmp_path):
    """microsocks drops a CONNECT that came in one segment with the greeting: the supervisor sees
    the stall (auto mode), asks again step by step on the same socket, and then stops pipelining."""
    from test_interop import start_on_free_port
    s, port = start_on_free_port(tmp_path, "microsocks",
                                 lambda p: [support.tool("microsocks"), "-i", "127.0.0.1", "-p", str(p)])
    try:
        out = tmp_path / "out"
        env = support.base_env(SOCKSIFY_NO_PROXY="")
        r = support.run([SUPERVISE, "-x", "socks5://127.0.0.1:%d" % port, "-v", "--", progs["client"], "fork",
                         "127.0.0.1", str(httpd.port), "small", str(out)], env=env)
        assert one(r)["errno"] is None, r
        assert out.read_bytes() == bodies.data["small"]
        assert r.err.count("step by step") == 1, r
        r = support.run([SUPERVISE, "-x", "socks5://127.0.0.1:%d" % port, "--", progs["client"], "get",
                         "127.0.0.1", str(httpd.port), "small", str(out)], env=support.base_env(SOCKSIFY_NO_PROXY="",
                                                                                             SOCKSIFY_PIPELINE="off"))
        assert one(r)["errno"] is None and r.elapsed < 1, r
    finally:
        s.stop()
