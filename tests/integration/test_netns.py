"""Proof that nothing leaks, in two network namespaces this test creates:

  C (client) --veth 10.200.0.0/24, fd00:5f::/64-- P (proxy)
                                                  lo: 198.18.0.1, fd00:5f:1::1 (targets)

C has only the veth's connected routes: it cannot reach the targets, which only P
has. So a fetch that works from C went through socks5d in P. An nftables table in C
counts every packet C sends to the targets (and every TCP/UDP packet to anything but
the proxy); those counters must stay 0 while a positive control shows they count."""

import json
import os
import re
import subprocess

import pytest

import support
from support import PYTHON, Server, json_out, needs, pyclient

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for network namespaces and nftables"),
    needs("ip", "nft"),
]

PROXY4, CLIENT4 = "10.200.0.1", "10.200.0.2"
PROXY6, CLIENT6 = "fd00:5f::1", "fd00:5f::2"
TARGET4, TARGET6 = "198.18.0.1", "fd00:5f:1::1"
NOROUTE4, NOROUTE6 = "203.0.113.7", "2001:db8::7"  # P has no route to these
UNREACH4 = "192.0.2.7"  # P has an 'unreachable' route for 192.0.2.0/24: EHOSTUNREACH
# On the veth subnet, nobody has them (no ARP answer). One address per test: a failed
# neighbour entry left by one test would make the next one fail at once instead of waiting.
SPARE4 = "10.200.0.77"  # the counters' positive control
SILENT_PROXY4 = "10.200.0.78"  # a proxy address that never answers
SILENT_TARGET4 = "10.200.0.79"  # a target that never answers (seen from P)
SILENT_TARGET4B = "10.200.0.80"  # another one, for the pipelined-answers test


def sh(*args, check=True):
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=30)
    if check and r.returncode != 0:
        raise AssertionError("%s failed (%d): %s" % (" ".join(args), r.returncode, r.stderr.strip()))
    return r


def link_pair(c, p, v6=True):
    """Namespaces C and P joined by a veth (CLIENT4/6 -- PROXY4/6), TARGET4 on P's loopback."""
    sh("ip", "netns", "add", c)
    sh("ip", "netns", "add", p)
    # Created inside C with its peer inside P: no interface ever exists in our namespace.
    sh("ip", "-n", c, "link", "add", "v-c", "type", "veth", "peer", "name", "v-p", "netns", p)
    for ns, dev, a4, a6 in ((c, "v-c", CLIENT4, CLIENT6), (p, "v-p", PROXY4, PROXY6)):
        sh("ip", "-n", ns, "link", "set", "lo", "up")
        sh("ip", "-n", ns, "addr", "add", a4 + "/24", "dev", dev)
        if v6:
            sh("ip", "-n", ns, "-6", "addr", "add", a6 + "/64", "dev", dev, "nodad")
        sh("ip", "-n", ns, "link", "set", dev, "up")
    sh("ip", "-n", p, "addr", "add", TARGET4 + "/32", "dev", "lo")


class Net:
    def __init__(self):
        tag = "%d" % os.getpid()
        self.c, self.p = "sfy-c-" + tag, "sfy-p-" + tag
        self.httpd = None
        self.port = None

    @staticmethod
    def remove_leftovers():
        """Namespaces of an earlier run of this module whose pytest is gone (killed)."""
        for line in sh("ip", "netns", "list").stdout.splitlines():
            m = re.match(r"^(sfy-[cp]-(\d+))(\s|$)", line)
            if m and not os.path.exists("/proc/" + m.group(2)):
                sh("ip", "netns", "del", m.group(1), check=False)

    def setup(self, www_root, log_dir):
        self.remove_leftovers()
        c, p = self.c, self.p
        link_pair(c, p)
        sh("ip", "-n", p, "-6", "addr", "add", TARGET6 + "/128", "dev", "lo", "nodad")
        sh("ip", "-n", p, "route", "add", "unreachable", "192.0.2.0/24")
        self.httpd = Server(["ip", "netns", "exec", p, PYTHON, "-u", support.HTTPD, www_root, TARGET4, TARGET6],
                            os.path.join(log_dir, "httpd-netns.log"), name="httpd-netns")
        self.port = int(self.httpd.read_line(r"listening on 198\.18\.0\.1:(\d+)").group(1))
        self.httpd.read_line(r"listening on \[fd00:5f:1::1\]:%d" % self.port)

    def teardown(self):
        if self.httpd:
            self.httpd.stop()
        for ns in (self.c, self.p):
            # Anything still running inside a namespace we made is ours: stop it first.
            r = sh("ip", "netns", "pids", ns, check=False)
            for pid in r.stdout.split():
                try:
                    os.kill(int(pid), 9)
                except (ProcessLookupError, ValueError):
                    pass
            sh("ip", "netns", "del", ns, check=False)
        left = sh("ip", "netns", "list").stdout
        assert self.c not in left and self.p not in left, "namespaces left behind: %s" % left

    def in_c(self, args):
        return ["ip", "netns", "exec", self.c] + list(args)

    def url(self, host, name="body"):
        return "http://%s/%s" % (support.hostport(host, self.port), name)


@pytest.fixture(scope="module")
def net(bodies, tmp_path_factory):
    n = Net()
    try:
        n.setup(bodies.root, str(tmp_path_factory.mktemp("netns")))
        yield n
    finally:
        n.teardown()


@pytest.fixture
def proxy(net, start_socks5d):
    """socks5d inside P, on its veth addresses only."""
    return start_socks5d(listen=("%s:0" % PROXY4, "[%s]:0" % PROXY6), netns=net.p)


LEAK_TABLE = """
table inet sfyleak {{
  counter to_target {{}}
  counter to_other {{}}
  counter to_proxy {{}}
  chain out {{
    type filter hook output priority 0; policy accept;
    ip daddr {t4} counter name to_target
    ip6 daddr {t6} counter name to_target
    ip daddr {p4} counter name to_proxy
    ip6 daddr {p6} counter name to_proxy
    oifname != "lo" meta l4proto {{ tcp, udp }} ip daddr != {p4} counter name to_other
    oifname != "lo" meta l4proto {{ tcp, udp }} ip6 daddr != {p6} counter name to_other
  }}
}}
"""


class Counters:
    def __init__(self, ns):
        self.ns = ns

    def read(self):
        r = sh("ip", "netns", "exec", self.ns, "nft", "-j", "list", "table", "inet", "sfyleak")
        out = {}
        for item in json.loads(r.stdout)["nftables"]:
            if "counter" in item:
                out[item["counter"]["name"]] = item["counter"]["packets"]
        return out

    def reset(self):
        sh("ip", "netns", "exec", self.ns, "nft", "reset", "counters", "table", "inet", "sfyleak")


@pytest.fixture
def counters(net):
    r = subprocess.run(["ip", "netns", "exec", net.c, "nft", "-f", "-"], input=LEAK_TABLE.format(
        t4=TARGET4, t6=TARGET6, p4=PROXY4, p6=PROXY6), capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    try:
        yield Counters(net.c)
    finally:
        sh("ip", "netns", "exec", net.c, "nft", "delete", "table", "inet", "sfyleak", check=False)


def socksified_in_c(net, proxy_url, cmd, opts=(), timeout=60):
    env = support.base_env(SOCKSIFY_NO_PROXY="")
    args = net.in_c([support.WRAPPER, "-x", proxy_url] + list(opts) + ["--"] + list(cmd))
    return support.run(args, env=env, timeout=timeout)


def direct_in_c(net, cmd, timeout=30):
    return support.run(net.in_c(cmd), env=support.base_env(), timeout=timeout)


@needs("curl")
@pytest.mark.parametrize("target, logged", [(TARGET4, TARGET4), (TARGET6, "[%s]" % TARGET6)], ids=["ipv4", "ipv6"])
@pytest.mark.parametrize("via", [0, 1], ids=["proxy4", "proxy6"])
def test_target_only_reachable_through_proxy(net, proxy, counters, bodies, tmp_path, target, logged, via):
    out = tmp_path / "out"
    r = socksified_in_c(net, proxy.url(via), ["curl", "-q", "-sS", "--max-time", "20", "-o", str(out), net.url(target)])
    assert r.rc == 0, r
    assert out.read_bytes() == bodies.data["body"]
    line = proxy.wait_session("%s:%d" % (logged, net.port))[0]
    assert "client=%s:" % (CLIENT4 if via == 0 else "[%s]" % CLIENT6) in line, line
    c = counters.read()
    assert c["to_target"] == 0 and c["to_other"] == 0, c
    assert c["to_proxy"] > 0, c
    # The same fetch without socksify has no way there.
    r = direct_in_c(net, ["curl", "-q", "-sS", "--max-time", "5", "-o", "/dev/null", net.url(target)])
    assert r.rc != 0, "the target is reachable from C without the proxy, the test proves nothing: %r" % r
    res = json_out(direct_in_c(net, pyclient("connect", target, net.port)))
    assert res["errno"] == "ENETUNREACH", res


@pytest.mark.parametrize("target", [TARGET4, TARGET6], ids=["ipv4", "ipv6"])
def test_python_clients_in_namespace(net, proxy, bodies, target):
    for mode in (("get", target, net.port, "body"), ("nonblock", target, net.port, "body")):
        res = json_out(socksified_in_c(net, proxy.url(), pyclient(*mode)))
        assert res["sha256"] == bodies.sha("body"), res
        assert res["peer"] == [target, net.port], res
    res = json_out(socksified_in_c(net, proxy.url(1), pyclient("threads", 20, target, net.port, "small")))
    assert res["results"] == [bodies.sha("small")] * 20, res["results"][:3]


@pytest.mark.parametrize("target", [TARGET4, TARGET6], ids=["ipv4", "ipv6"])
def test_proxy_down_fails_fast_and_sends_nothing(net, counters, target):
    """Nothing listens at the proxy address: ECONNREFUSED in < 2 s, no packet to the target."""
    res = json_out(socksified_in_c(net, "socks5://%s:1" % PROXY4, pyclient("connect", target, net.port)))
    assert res["errno"] == "ECONNREFUSED", res
    assert res["elapsed"] < 2, res
    res = json_out(socksified_in_c(net, "socks5://[%s]:1" % PROXY6, pyclient("get", target, net.port, "body")))
    assert res["errno"] == "ECONNREFUSED", res
    c = counters.read()
    assert c["to_target"] == 0 and c["to_other"] == 0, c
    assert c["to_proxy"] >= 2, "the attempts to reach the proxy were not even counted: %r" % c


@needs("curl", "wget")
def test_proxy_down_curl_and_wget_send_nothing(net, counters):
    r = socksified_in_c(net, "socks5://%s:1" % PROXY4, ["curl", "-q", "-sS", "--max-time", "5", "-o", "/dev/null", net.url(TARGET4)])
    assert r.rc == 7, r  # couldn't connect
    assert r.elapsed < 3, r
    r = socksified_in_c(net, "socks5://%s:1" % PROXY4, ["wget", "--no-config", "-q", "-t", "1", "-T", "5", "-O", "/dev/null", net.url(TARGET6)])
    assert r.rc != 0, r
    c = counters.read()
    assert c["to_target"] == 0 and c["to_other"] == 0, c
    assert c["to_proxy"] >= 2, "curl and wget did not even try the proxy: %r" % c


def test_no_proxy_configured_sends_nothing(net, counters):
    """The library preloaded with no SOCKSIFY_PROXY at all: fails closed, no packet."""
    env = support.preload_env(SOCKSIFY_NO_PROXY="", SOCKSIFY_PROXY=None)
    for target in (TARGET4, TARGET6, SPARE4):
        res = json_out(support.run(net.in_c(pyclient("connect", target, net.port)), env=env))
        assert res["errno"] is not None, res
    c = counters.read()
    assert c["to_target"] == 0 and c["to_other"] == 0 and c["to_proxy"] == 0, c


def test_counters_count(net, counters):
    """Positive control: with a route to the targets, a direct connection is counted
    (and succeeds, via P), and so is a UDP datagram to some other address."""
    routes = [("-4", TARGET4 + "/32", PROXY4), ("-6", TARGET6 + "/128", PROXY6)]
    for fam, dst, via in routes:
        sh("ip", "-n", net.c, fam, "route", "add", dst, "via", via)
    try:
        for target in (TARGET4, TARGET6):
            res = json_out(direct_in_c(net, pyclient("connect", target, net.port)))
            assert res["errno"] is None, res
    finally:
        for fam, dst, via in routes:
            sh("ip", "-n", net.c, fam, "route", "del", dst, "via", via, check=False)
    r = direct_in_c(net, [PYTHON, "-c", "import socket; socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('%s', 9))" % SPARE4])
    assert r.rc == 0, r
    c = counters.read()
    assert c["to_target"] >= 2, c
    assert c["to_other"] >= 3, c  # two SYNs and the datagram
    counters.reset()
    assert counters.read()["to_target"] == 0


@pytest.mark.parametrize("target, err, result", [
    (NOROUTE4, "ENETUNREACH", "net-unreachable"),
    (NOROUTE6, "ENETUNREACH", "net-unreachable"),
    (UNREACH4, "EHOSTUNREACH", "host-unreachable"),
])
def test_unreachable_targets(net, proxy, counters, target, err, result):
    res = json_out(socksified_in_c(net, proxy.url(), pyclient("connect", target, 80)))
    assert res["errno"] == err, res
    assert res["elapsed"] < 2, res
    proxy.wait_session("%s:80" % ("[%s]" % target if ":" in target else target), result=result)
    c = counters.read()
    assert c["to_other"] == 0, c


def test_closed_port_in_namespace(net, proxy):
    res = json_out(socksified_in_c(net, proxy.url(), pyclient("connect", TARGET4, 1)))
    assert res["errno"] == "ECONNREFUSED", res
    proxy.wait_session("%s:1" % TARGET4, result="refused")


def test_proxy_without_route_is_econnrefused(net, counters):
    """A proxy address C has no route to: ECONNREFUSED at once, nothing sent anywhere."""
    res = json_out(socksified_in_c(net, "socks5://198.51.100.1:1080", pyclient("connect", TARGET4, net.port)))
    assert res["errno"] == "ECONNREFUSED", res
    assert res["elapsed"] < 2, res
    c = counters.read()
    assert c["to_target"] == 0 and c["to_other"] == 0, c


def test_silent_proxy_address_times_out(net, counters):
    """A proxy address on the link that nobody answers for: ETIMEDOUT after -t, not a hang."""
    res = json_out(socksified_in_c(net, "socks5://%s:1080" % SILENT_PROXY4, pyclient("connect", TARGET6, net.port), opts=["-t", "1"]))
    assert res["errno"] == "ETIMEDOUT", res
    assert 0.8 <= res["elapsed"] < 2.5, res
    assert counters.read()["to_target"] == 0


def test_target_that_never_answers_times_out_at_the_proxy(net, start_socks5d):
    """socks5d --connect-timeout 1 and a target nobody answers for (no ARP reply): the
    session ends with result=timeout in about a second and the client gets an error."""
    d = start_socks5d("--connect-timeout", "1", listen=("%s:0" % PROXY4,), netns=net.p)
    res = json_out(socksified_in_c(net, d.url(), pyclient("connect", SILENT_TARGET4, 80)))
    assert res["errno"] in ("ETIMEDOUT", "EHOSTUNREACH"), res
    assert 0.8 <= res["elapsed"] < 2.5, res
    d.wait_session("%s:80" % SILENT_TARGET4, result="timeout")


PIPELINED_CLIENT = r"""
import json, socket, sys, time
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), 10)
s.settimeout(10)
t0 = time.monotonic()
s.sendall(b"\x05\x01\x00" + b"\x05\x01\x00\x01" + socket.inet_aton(sys.argv[3]) + b"\x00\x50")
first = s.recv(100)
print(json.dumps({"first": first.hex(), "elapsed": time.monotonic() - t0}))
"""


def test_pipelined_answers_wait_for_the_reply(net, start_socks5d):
    """A pipelined greeting+request to a target that takes its time: socks5d sends the
    method choice together with the reply (here the connect timeout's), not before it,
    so the client wakes once. Separate sends would show as a first read of 2 bytes."""
    d = start_socks5d("--connect-timeout", "1", listen=("%s:0" % PROXY4,), netns=net.p)
    r = direct_in_c(net, [PYTHON, "-c", PIPELINED_CLIENT, PROXY4, str(d.port), SILENT_TARGET4B])
    res = json_out(r)
    first = bytes.fromhex(res["first"])
    assert first[:2] == b"\x05\x00" and len(first) == 12 and first[2] == 5 and first[3] in (4, 6), res


BIND_FROM_C = r"""
import json, socket, struct, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), 10)
peer = socket.inet_aton(sys.argv[3])
s.sendall(b"\x05\x01\x00" + b"\x05\x02\x00\x01" + peer + struct.pack("!H", 0))
head = b""
while len(head) < 12:
    chunk = s.recv(12 - len(head))
    if not chunk:
        break
    head += chunk
print(json.dumps({"rep": head[3], "addr": socket.inet_ntoa(head[6:10]), "port": struct.unpack("!H", head[10:12])[0]}))
"""


@pytest.mark.parametrize("peer, rep, result", [
    (TARGET4, 0, None),
    (NOROUTE4, 3, "net-unreachable"),
    (UNREACH4, 4, "host-unreachable"),
])
def test_bind_listens_on_the_source_routed_towards_the_named_peer(net, proxy, peer, rep, result):
    """C reaches socks5d by 10.200.0.1; a BIND naming peer 198.18.0.1 (P's loopback) listens
    on the address P would connect to that peer from (198.18.0.1 itself) and says so. A peer
    P has no route to gets the REP a CONNECT there would."""
    res = json_out(direct_in_c(net, [PYTHON, "-c", BIND_FROM_C, PROXY4, str(proxy.port), peer]))
    assert res["rep"] == rep, res
    if rep == 0:
        assert res["addr"] == TARGET4 and res["port"] != 0, res
    else:
        proxy.server.wait_log(r"cmd=bind target=%s:0 result=%s\b" % (re.escape(peer), result))
