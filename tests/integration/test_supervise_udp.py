"""socksify-supervise and UDP: a static (glibc, musl) or Go program's datagrams travel through a
SOCKS5 UDP ASSOCIATE the supervisor holds per program socket (src/supervise/udp.c). In the
namespaces of dnsnet.py/udpnet.py (C has no route to the targets, its resolver is a trap), they
reach the echo server in P by name and by address, through socks5d or danted in P; replies name
the peer the program sent to; nftables in C counts every packet that leaves C for anything but the
proxy: 0, and the trap sees no query. Then a hostile relay (garbage, fragments, a stranger), a
proxy without UDP, one that ends the association, a dead one; loss over a window; and a long run
of sockets that must not leave associations or fds behind in the supervisor."""

import ipaddress
import os
import socket
import struct
import subprocess
import threading

import pytest

import support
from dnsnet import TARGET_NAME, dnsnet, dnsnet_module  # noqa: F401 (fixtures)
from support import needs
from test_supervise import MECHS, PROGS, SUPERVISE, build, build_go, counters, exe_of, lines, mech_env, one, proxy, supervised  # noqa: F401
from udpnet import danted_p, microsocks_p, ns_socket, udpnet  # noqa: F401 (fixtures)

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces, nftables)"),
    needs("ip", "nft", "gcc"),
]

LIBCS = ["glibc", "musl"]


@pytest.fixture(scope="module")
def udpprogs(tmp_path_factory):
    """supervise_progs/udp.c, static with glibc and (when musl-gcc is there) with musl."""
    d = tmp_path_factory.mktemp("supudp")
    out = {"glibc": str(d / "udp")}
    build(["gcc", "-static", "-O2", "-o", out["glibc"], os.path.join(PROGS, "udp.c")], "udp client")
    if support.tool("musl-gcc"):
        out["musl"] = str(d / "udp-musl")
        build(["musl-gcc", "-static", "-O2", "-o", out["musl"], os.path.join(PROGS, "udp.c")], "musl udp client")
    return out


def prog(udpprogs, libc):
    if libc not in udpprogs:
        pytest.skip("not installed: musl-gcc")
    return udpprogs[libc]


@pytest.fixture(scope="module")
def addrs(tmp_path_factory):
    """supervise_progs/addrs.c: address forms and blocking sends."""
    exe = str(tmp_path_factory.mktemp("supaddrs") / "addrs")
    build(["gcc", "-static", "-O2", "-o", exe, os.path.join(PROGS, "addrs.c")], "addrs")
    return exe


@pytest.fixture(scope="module")
def udpgo(tmp_path_factory):
    return build_go(tmp_path_factory, "udpgo")


def in_fake(addr):
    a = ipaddress.ip_address(addr.strip("[]"))
    return a in ipaddress.ip_network("240.0.0.0/4") or a in ipaddress.ip_network("100::/64")


def host_port(text):
    host, port = text.rsplit(":", 1)
    return host.strip("[]"), int(port)


def assert_clean(dnsnet, counters, what):
    dnsnet.trap.assert_empty(what)
    c = counters.assert_nothing_direct()
    assert c["to_proxy"] > 0, "%s did not even reach for the proxy: %r" % (what, c)


def udp_sessions(proxy, count=1):
    return proxy.server.wait_log(r"cmd=udp-associate .*result=ok", count=count)


# ---- (a) static C programs, by name ------------------------------------------------------------

@MECHS
@pytest.mark.parametrize("libc", LIBCS)
def test_static_sendto_recvfrom_by_name(dnsnet, udpnet, proxy, counters, udpprogs, libc, mech):
    """Unconnected: sendto(fake address of the name) and recvfrom() naming that same address as
    the source of each echo (checked byte for byte by the program)."""
    r = supervised(dnsnet, proxy.url(), [prog(udpprogs, libc), "sendto", TARGET_NAME, udpnet.echo_port, 5], mech=mech)
    res = one(r)
    assert (res["errno"], res["ok"]) == (None, 5), r
    assert in_fake(host_port(res["addr"])[0]) and res["src"] == res["addr"], r
    assert "UDP association via" in r.err, r  # -v
    udp_sessions(proxy)
    assert_clean(dnsnet, counters, "the %s program" % libc)


@MECHS
@pytest.mark.parametrize("libc", LIBCS)
def test_static_connect_send_recv_by_name(dnsnet, udpnet, proxy, counters, udpprogs, libc, mech):
    """connect() then plain send()/recv() (not trapped: the socket is connected to the peer's
    loopback stand-in); getpeername() names the fake address connected to."""
    r = supervised(dnsnet, proxy.url(), [prog(udpprogs, libc), "connect", TARGET_NAME, udpnet.echo_port, 5], mech=mech)
    res = one(r)
    assert (res["errno"], res["ok"]) == (None, 5), r
    assert in_fake(host_port(res["addr"])[0]) and res["peer"] == res["addr"], r
    udp_sessions(proxy)
    assert_clean(dnsnet, counters, "the %s program, connected" % libc)


def test_through_danted(dnsnet, udpnet, danted_p, counters, udpprogs):
    """danted answers a name's datagrams from the name's address (not the name): still delivered
    as from the fake address the program sent to."""
    _, url = danted_p
    for mode in ("sendto", "connect"):
        r = supervised(dnsnet, url, [udpprogs["glibc"], mode, TARGET_NAME, udpnet.echo_port, 3])
        res = one(r)
        assert (res["errno"], res["ok"]) == (None, 3), r
        assert res["src" if mode == "sendto" else "peer"] == res["addr"], r
    assert_clean(dnsnet, counters, "the program through danted")


@pytest.mark.parametrize("libc", LIBCS)
def test_gso_send_is_split_into_datagrams(dnsnet, udpnet, proxy, counters, udpprogs, libc):
    """sendmsg() with UDP_SEGMENT (GSO, as QUIC stacks send): the supervisor sends each segment as a
    datagram of its own through the relay; the echoes come back one by one."""
    r = supervised(dnsnet, proxy.url(), [prog(udpprogs, libc), "gso", TARGET_NAME, udpnet.echo_port, 3])
    res = one(r)
    assert (res["errno"], res["ok"]) == (None, 3), r
    assert res["src"] == res["addr"], r
    proxy.server.wait_log(r"cmd=udp-associate .*dgrams_up=9 dgrams_down=9 ")
    assert_clean(dnsnet, counters, "GSO sends")


# ---- (b) Go --------------------------------------------------------------------------------------

@MECHS
@pytest.mark.parametrize("mode", ["dial", "listen"])
def test_go_by_name(dnsnet, udpnet, proxy, counters, udpgo, mode, mech):
    """net.Dial("udp", name:port) + Write/Read, and net.ListenUDP + WriteTo/ReadFromUDP: the echoes
    come back, and the peer Go reports is the (fake) address it resolved."""
    r = supervised(dnsnet, proxy.url(), [udpgo, mode, "%s:%d" % (TARGET_NAME, udpnet.echo_port), 5], mech=mech)
    res = lines(r)[0]
    assert (res["error"], res["ok"]) == ("", 5), r
    assert in_fake(host_port(res["sent_to"])[0]) and res["remote"] == res["sent_to"], r
    udp_sessions(proxy)
    assert_clean(dnsnet, counters, "the Go program (%s)" % mode)


# ---- (c) through socksify.sh, as a user runs it --------------------------------------------------

def test_through_socksify_sh(dnsnet, udpnet, proxy, counters, udpprogs, udpgo):
    r = dnsnet.run(dnsnet.c, [support.WRAPPER, "-x", proxy.url(), udpprogs["glibc"], "sendto", TARGET_NAME,
                              udpnet.echo_port, 3], env=support.base_env())
    assert r.rc == 0 and one(r)["ok"] == 3, r
    r = dnsnet.run(dnsnet.c, [support.WRAPPER, "-x", proxy.url(), udpgo, "dial",
                              "%s:%d" % (TARGET_NAME, udpnet.echo_port), 3], env=support.base_env())
    assert r.rc == 0 and lines(r)[0]["ok"] == 3, r
    udp_sessions(proxy, count=2)
    assert_clean(dnsnet, counters, "socksify.sh with static and Go UDP programs")


# ---- (d) IPv6 target literal ---------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["sendto", "connect"])
def test_ipv6_literal(dnsnet, udpnet, proxy, counters, udpprogs, mode):
    r = supervised(dnsnet, proxy.url(), [udpprogs["glibc"], mode, udpnet.target6, udpnet.echo_port, 3])
    res = one(r)
    want = "[%s]:%d" % (udpnet.target6, udpnet.echo_port)
    assert (res["errno"], res["ok"], res["addr"]) == (None, 3, want), r
    assert res["src" if mode == "sendto" else "peer"] == want, r
    assert_clean(dnsnet, counters, "IPv6 literal")


# ---- (d2) address forms as the kernel takes and gives them ----------------------------------------

@MECHS
@pytest.mark.parametrize("form", ["in", "mapped"])
def test_dual_stack_socket_reports_v4_mapped(dnsnet, udpnet, proxy, counters, addrs, form, mech):
    """An IPv6 socket (not V6ONLY) sends to an IPv4 peer, named by a sockaddr_in or v4-mapped:
    recvfrom() and getpeername() report the peer as the kernel does on an IPv6 socket,
    [::ffff:a.b.c.d] in a sockaddr_in6 (28 bytes), also when the room given is a sockaddr_in's
    (cut to it, the full length reported)."""
    r = supervised(dnsnet, proxy.url(), [addrs, "dual", udpnet.target4, udpnet.echo_port, form], mech=mech)
    res = one(r)
    want = "[::ffff:%s]:%d" % (udpnet.target4, udpnet.echo_port)
    assert (res["errno"], res["ok"]) == (None, 3), r
    assert (res["src"], res["srclen"], res["srccut"]) == (want, 28, 28), r
    assert (res["peer"], res["peerlen"], res["peercut"]) == (want, 28, 28), r
    assert_clean(dnsnet, counters, "a dual-stack socket to an IPv4 peer")


@MECHS
def test_rfc2133_sized_sockaddr_in6_accepted(dnsnet, udpnet, proxy, counters, addrs, mech):
    """A 24-byte sockaddr_in6 (SIN6_LEN_RFC2133: no scope id), which the kernel takes, as
    sendto()'s and connect()'s destination: the echoes come back through the proxy."""
    r = supervised(dnsnet, proxy.url(), [addrs, "rfc2133", udpnet.target6, udpnet.echo_port], mech=mech)
    assert (one(r)["errno"], one(r)["ok"]) == (None, 2), r
    assert_clean(dnsnet, counters, "a 24-byte sockaddr_in6")


@pytest.fixture
def slow_lo(tmp_path):
    """A namespace of its own whose loopback sends at 1 Mbit/s (tbf): a socket's send buffer
    fills, as on a slow link."""
    if not support.tool("tc"):
        pytest.skip("not installed: tc (iproute2)")
    ns = "sfysup-slow-%d" % os.getpid()
    subprocess.run(["ip", "netns", "del", ns], capture_output=True)
    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        tc = subprocess.run(["ip", "netns", "exec", ns, "tc", "qdisc", "add", "dev", "lo", "root", "tbf", "rate",
                             "1mbit", "burst", "4k", "latency", "5s"], capture_output=True, text=True)
        if tc.returncode != 0:  # a kernel without sch_tbf
            pytest.skip("tc cannot add a tbf qdisc here: " + tc.stderr.strip())
        yield ns
    finally:
        subprocess.run(["ip", "netns", "del", ns], capture_output=True)


@MECHS
@pytest.mark.parametrize("how", ["sendto", "sendmsg"])
def test_direct_send_on_a_full_blocking_socket_waits(slow_lo, addrs, how, mech):
    """Datagrams to SOCKSIFY_NO_PROXY (loopback), which the supervisor sends from the program's
    socket: on a blocking socket whose send buffer is full each send waits for room, as the
    kernel's would (not EAGAIN), without holding up the supervisor (a worker waits)."""
    args = ["ip", "netns", "exec", slow_lo, SUPERVISE, "-x", "socks5://127.0.0.1:1", "--", addrs, "block",
            "127.0.0.1", "0", "60", how]
    r = support.run(args, env=mech_env(mech, SOCKSIFY_NO_PROXY="127.0.0.0/8"), timeout=60)
    res = one(r)
    assert (res["errno"], res["ok"]) == (None, 60), r
    assert r.elapsed > 0.3, r  # 84 kB at 1 Mbit/s: it did wait


# ---- (e) a hostile relay -------------------------------------------------------------------------

def _recv_exact(c, n):
    b = b""
    while len(b) < n:
        chunk = c.recv(n - len(b))
        if not chunk:
            raise EOFError
        b += chunk
    return b


def _udp_header_len(d):
    atyp = d[3]
    return 4 + {1: 4, 4: 16}.get(atyp, 1 + d[4] if len(d) > 4 else 0) + 2


class FakeUdpProxy:
    """A SOCKS5 server in P, run by the test, that answers UDP ASSOCIATE itself and echoes each
    datagram (wrapped with the destination as its source). Before each echo, when hostile, it
    sends the client: garbage, a fragment (FRAG 1) and, from another socket, a well-formed
    datagram (a stranger). end_after=N: after N echoes it closes the control connection and its
    listener (new associations are refused). end_at_once: it ends each control connection right
    after its reply."""

    def __init__(self, net, hostile=True, end_after=None, end_at_once=False):
        self.hostile, self.end_after, self.end_at_once = hostile, end_after, end_at_once
        self.tcp = ns_socket(net.p, socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.bind((net.p4, 0))
        self.tcp.listen(16)
        self.udp = ns_socket(net.p, socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((net.p4, 0))
        self.stranger = ns_socket(net.p, socket.AF_INET, socket.SOCK_DGRAM)
        self.stranger.bind((net.p4, 0))
        self.url = "socks5://%s:%d" % (net.p4, self.tcp.getsockname()[1])
        self.echoed = self.junk_sent = 0
        self.ctrl = []
        self.done = threading.Event()
        threading.Thread(target=self._accept, daemon=True).start()
        threading.Thread(target=self._relay, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.tcp.accept()
            except OSError:
                return
            try:
                _recv_exact(c, 3)  # 05 01 00
                c.sendall(b"\x05\x00")
                _recv_exact(c, 10)  # 05 03 00 01 0.0.0.0:0
                self.ctrl.append(c)  # before the reply: no datagram can come before it is known
                c.sendall(b"\x05\x00\x00\x01" + socket.inet_aton(self.udp.getsockname()[0]) +
                          struct.pack("!H", self.udp.getsockname()[1]))
                if self.end_at_once:
                    c.shutdown(socket.SHUT_WR)
            except (OSError, EOFError):
                c.close()

    def _relay(self):
        while True:
            try:
                d, src = self.udp.recvfrom(70000)
            except OSError:
                return
            hl = _udp_header_len(d)
            head, payload = d[3:hl], d[hl:]
            if self.hostile:
                self.udp.sendto(b"\x05garbage, no SOCKS header", src)
                self.udp.sendto(b"\0\0\x01" + head + b"a fragment", src)
                self.stranger.sendto(b"\0\0\0" + head + b"from a stranger", src)
                self.junk_sent += 3
            self.udp.sendto(b"\0\0\0" + head + payload, src)
            self.echoed += 1
            if self.end_after is not None and self.echoed >= self.end_after:
                self.tcp.shutdown(socket.SHUT_RDWR)  # wakes the accept(): no longer listening
                self.tcp.close()
                for c in self.ctrl:
                    c.close()
                self.done.set()
                return

    def close(self):
        for s in [self.tcp, self.udp, self.stranger] + self.ctrl:
            s.close()


def test_hostile_relay_garbage_fragments_strangers_dropped(dnsnet, udpnet, counters, udpprogs, udpgo):
    """Garbage and a fragment from the relay's address, and a well-formed datagram from another
    address, before each echo: none reaches the program (each reply is checked to be the echo of
    what it sent), which goes on unharmed; the Go program too."""
    fake = FakeUdpProxy(dnsnet)
    try:
        for mode in ("sendto", "connect"):
            r = supervised(dnsnet, fake.url, [udpprogs["glibc"], mode, TARGET_NAME, 9, 5])
            res = one(r)
            assert (res["errno"], res["ok"]) == (None, 5), r
        r = supervised(dnsnet, fake.url, [udpgo, "listen", "%s:9" % TARGET_NAME, 5])
        assert lines(r)[0]["ok"] == 5, r
        assert fake.junk_sent == 45
    finally:
        fake.close()
    assert_clean(dnsnet, counters, "a hostile relay")


# ---- (f) no UDP ASSOCIATE, the association ended, a dead proxy -----------------------------------

def test_proxy_without_udp_associate(dnsnet, udpnet, microsocks_p, counters, udpprogs, udpgo):
    """microsocks answers UDP ASSOCIATE with REP 07: EOPNOTSUPP, as from the library; nothing direct."""
    _, url = microsocks_p
    r = supervised(dnsnet, url, [udpprogs["glibc"], "sendto", TARGET_NAME, udpnet.echo_port, 1])
    assert one(r)["errno"] == "EOPNOTSUPP", r
    r = supervised(dnsnet, url, [udpprogs["glibc"], "connect", TARGET_NAME, udpnet.echo_port, 1])
    assert (one(r)["step"], one(r)["errno"]) == ("connect", "EOPNOTSUPP"), r
    r = supervised(dnsnet, url, [udpgo, "dial", "%s:%d" % (TARGET_NAME, udpnet.echo_port), 1])
    assert "operation not supported" in lines(r)[0]["error"], r
    assert_clean(dnsnet, counters, "a proxy without UDP")


@MECHS
@pytest.mark.parametrize("mode", ["srcroute", "srcroute-cmsg"])
def test_source_route_refused(dnsnet, udpnet, proxy, counters, udpprogs, mode, mech):
    """An IPv4 source route (IP_OPTIONS set on the socket, or IP_RETOPTS in sendmsg's control
    data) makes the kernel send by way of the route's first hop: a datagram the supervisor sends
    from the program's socket (here to the DNS responder, port 53) would leave C for a host on
    C's link. Refused with EPERM; nothing leaves C."""
    hop = str(ipaddress.ip_address(dnsnet.p4) + 2)
    r = supervised(dnsnet, proxy.url(), [udpprogs["glibc"], mode, dnsnet.target4, 53, 1, hop], mech=mech)
    counters.assert_nothing_direct()
    assert one(r)["errno"] == "EPERM", r


def test_proxy_down(dnsnet, udpnet, counters, udpprogs):
    url = "socks5://%s:1" % dnsnet.p4
    for mode in ("sendto", "connect"):
        r = supervised(dnsnet, url, [udpprogs["glibc"], mode, TARGET_NAME, udpnet.echo_port, 1])
        assert one(r)["errno"] == "ECONNREFUSED", r
    assert_clean(dnsnet, counters, "proxy down")


def test_association_ended_next_send_fails(dnsnet, udpnet, counters, udpprogs):
    """The proxy closes the control connection after the first echo and accepts no new one: the
    supervisor ends the association and the program's next sends fail (ECONNREFUSED: a new
    association is refused), never direct. 'untilfail' sends until a send fails."""
    fake = FakeUdpProxy(dnsnet, hostile=False, end_after=1)
    try:
        r = supervised(dnsnet, fake.url, [udpprogs["glibc"], "untilfail", TARGET_NAME, 9, 200])
        res = one(r)
        assert res["errno"] == "ECONNREFUSED" and res["ok"] >= 1, (res, r.err)
        assert "the proxy ended a UDP association" in r.err, r
    finally:
        fake.close()
    assert_clean(dnsnet, counters, "an association the proxy ended")


def test_relay_socket_not_watched_association_dropped_safely(dnsnet, udpnet, counters, udpprogs, tmp_path):
    """Adding the relay socket to the relay thread's epoll set fails (supervise_progs/epollfail.c,
    preloaded into the supervisor: ENOSPC, after a pause) while the proxy has already ended the
    control connection, added just before: the relay thread holds that event. The send fails,
    and the association given up is left to the relay thread to free, after it skipped the event
    (freed at once, the thread read it after free: its log then said the proxy ended it, or
    ASan saw a heap-use-after-free)."""
    shim = str(tmp_path / "epollfail.so")
    build(["gcc", "-shared", "-fPIC", "-O2", "-o", shim, os.path.join(PROGS, "epollfail.c"), "-ldl"], "epollfail")
    env = support.base_env()
    env["LD_PRELOAD"] = ":".join(filter(None, [env.get("LD_PRELOAD"), shim]))
    fake = FakeUdpProxy(dnsnet, hostile=False, end_at_once=True)
    try:
        r = supervised(dnsnet, fake.url, [udpprogs["glibc"], "sendto", TARGET_NAME, 9, 1], env=env)
        assert one(r)["errno"] is not None, r
    finally:
        fake.close()
    assert "the proxy ended a UDP association" not in r.err, r
    support.assert_no_sanitizer_report(r.err, "the supervisor")
    assert_clean(dnsnet, counters, "an association not watched")


# ---- (g) many datagrams --------------------------------------------------------------------------

def test_thousand_datagrams_no_loss(dnsnet, udpnet, proxy, counters, udpprogs):
    r = supervised(dnsnet, proxy.url(), [udpprogs["glibc"], "window", udpnet.target4, udpnet.echo_port, 1000, 32])
    res = one(r)
    assert (res["errno"], res["ok"]) == (None, 1000), r
    proxy.server.wait_log(r"cmd=udp-associate .*dgrams_up=1000 dgrams_down=1000 dropped=0")
    assert_clean(dnsnet, counters, "1000 datagrams")


# ---- (h) a long run of sockets -------------------------------------------------------------------

def descendants(pid):
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            with open("/proc/%d/task/%d/children" % (p, p)) as f:
                kids = [int(x) for x in f.read().split()]
        except OSError:
            kids = []
        out += kids
        todo += kids
    return out


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def test_many_sockets_leave_nothing_behind(dnsnet, udpnet, proxy, counters, udpprogs):
    """200 sockets opened, used (one exchange each) and closed: the supervisor closes each one's
    association once the socket is gone, so its fds come back to what they were after the
    first one (and socks5d sees every association end)."""
    args = ["ip", "netns", "exec", dnsnet.c, SUPERVISE, "-x", proxy.url(), "-q", "--", udpprogs["glibc"], "churn",
            TARGET_NAME, str(udpnet.echo_port), "200"]
    p = subprocess.Popen(args, env=support.base_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert '"ready"' in p.stdout.readline()

        def supervisor():  # the process whose child is the program
            for pid in descendants(p.pid):
                if exe_of(pid) == SUPERVISE and any(exe_of(k) == udpprogs["glibc"] for k in descendants(pid)):
                    return pid

        sup = support.wait_until(supervisor, 10, "the supervisor process not found")
        base = fd_count(sup)
        p.stdin.write("go\n")
        p.stdin.flush()
        assert '"done"' in p.stdout.readline()
        support.wait_until(lambda: fd_count(sup) <= base, 10,
                           lambda: "the supervisor holds %d fds, %d before the 200 sockets" % (fd_count(sup), base))
        proxy.server.wait_log(r"cmd=udp-associate .*result=ok", count=201)
        p.stdin.write("go\n")
        p.stdin.close()
        out = p.stdout.read()
        err = p.stderr.read()
        assert p.wait(10) == 0, (out, err)
        support.assert_no_sanitizer_report(err, "the supervisor of 200 sockets")
        assert one(support.Result(args, 0, out, "", 0))["ok"] == 200
    finally:
        try:
            os.killpg(p.pid, 9)
        except ProcessLookupError:
            pass
    assert_clean(dnsnet, counters, "200 sockets")
