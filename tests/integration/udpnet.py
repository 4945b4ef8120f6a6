"""The UDP tests' world, on top of dnsnet's two namespaces (see dnsnet.py):

  C (client, trap DNS on 127.0.0.53) --veth-- P (proxy side; targets on its lo)

In P: a UDP echo server on the target addresses (198.18.X.1 and fd00:198:X::1,
which C has no route to; TARGET_NAME resolves to them only in P) and a small DNS
server on each target address, port 53 (trapdns.py: answers DNS_NAME, logs every
query). In C, per test: an nftables table counting what C sends (to the targets,
to the proxy, anything else leaving the veth). Proxies in P: danted (UDP
ASSOCIATE configured), microsocks (no UDP), socks5d."""

import json
import os
import socket
import subprocess

import pytest

import support
from dnsnet import PYTHON, TARGET_NAME, TRAPDNS, ns_socket  # noqa: F401 (re-exported for the tests)
from support import Server

HERE = os.path.dirname(os.path.abspath(__file__))
PROGS = os.path.join(HERE, "udpprogs")
UDPECHO = os.path.join(PROGS, "udpecho.py")
UDPCLIENT = os.path.join(PROGS, "udpclient.py")
DGRAM_JS = os.path.join(PROGS, "dgram.js")

DNS_NAME = "udp-answer.sfy.test"  # the DNS servers in P answer it with these
DNS_ANSWER4, DNS_ANSWER6 = "192.0.2.53", "2001:db8::53"


def nft_in(ns, *args, input=None):
    r = subprocess.run(["ip", "netns", "exec", ns, "nft"] + list(args), input=input, capture_output=True,
                       text=True, timeout=30)
    assert r.returncode == 0, "nft %s in %s failed: %s" % (" ".join(args), ns, r.stderr.strip())
    return r.stdout


LEAK_TABLE = """
table inet sfyudp {{
  counter to_target {{}}
  counter to_fake {{}}
  counter to_proxy {{}}
  counter to_other {{}}
  chain out {{
    type filter hook output priority 0; policy accept;
    ip daddr {t4} counter name to_target
    ip6 daddr {t6} counter name to_target
    ip daddr 240.0.0.0/4 counter name to_fake
    ip6 daddr 100::/64 counter name to_fake
    ip daddr {p4} counter name to_proxy
    ip6 daddr {p6} counter name to_proxy
    oifname != "lo" meta l4proto {{ tcp, udp }} ip daddr != {p4} counter name to_other
    oifname != "lo" meta l4proto {{ tcp, udp }} ip6 daddr != {p6} counter name to_other
  }}
}}
"""


class Counters:
    """Packets C sent since the table was made (or reset)."""

    def __init__(self, ns):
        self.ns = ns

    def read(self):
        out = {}
        for item in json.loads(nft_in(self.ns, "-j", "list", "table", "inet", "sfyudp"))["nftables"]:
            if "counter" in item:
                out[item["counter"]["name"]] = item["counter"]["packets"]
        return out

    def assert_no_leak(self, what):
        c = self.read()
        assert c["to_target"] == 0 and c["to_fake"] == 0 and c["to_other"] == 0, \
            "%s: packets from C that did not go to the proxy: %r" % (what, c)
        return c


class UdpNet:
    def __init__(self, net, tmp):
        self.net, self.tmp = net, tmp
        self.c, self.p = net.c, net.p
        self.target4, self.target6 = net.target4, net.target6

    def setup(self):
        self.echo = self.net.start(self.net.p, [PYTHON, "-u", UDPECHO, self.target4, self.target6], "udpecho")
        self.echo_port = int(self.echo.read_line(r"listening on [0-9.]+:(\d+)").group(1))
        self.echo.read_line(r"listening on \[[0-9a-f:]+\]:%d" % self.echo_port)
        self.dns_logs = {}
        for addr, answer in ((self.target4, DNS_ANSWER4), (self.target6, DNS_ANSWER6)):
            log = os.path.join(self.tmp, "dns-%s.log" % addr.replace(":", "_"))
            open(log, "w").close()
            s = self.net.start(self.net.p, [PYTHON, "-u", TRAPDNS, "--listen", addr, "--log", log,
                                            "--answer", "%s=%s" % (DNS_NAME, DNS_ANSWER4),
                                            "--answer", "%s=%s" % (DNS_NAME, DNS_ANSWER6)],
                               "dns-" + addr)
            s.read_line(r"listening on udp")
            s.read_line(r"listening on tcp")
            self.dns_logs[addr] = log

    def dns_queries(self):
        """{server address: [query log lines]} of the DNS servers in P."""
        out = {}
        for addr, log in self.dns_logs.items():
            with open(log) as f:
                out[addr] = f.read().splitlines()
        return out

    def echo_sources(self):
        """The sources of the datagrams the echo server got since mark_echo() (from its log)."""
        return [l.split()[1] for l in self.echo.log().splitlines() if l.startswith("from ")][self.echo_mark:]

    def mark_echo(self):
        self.echo_mark = 0
        self.echo_mark = len(self.echo_sources())

    def in_c(self, args):
        return ["ip", "netns", "exec", self.c] + [str(a) for a in args]

    def socksified(self, proxy_url, cmd, env=None, opts=(), **kw):
        """cmd under ./socksify.sh in C, loopback proxied too (nothing is direct)."""
        env = env if env is not None else support.base_env(SOCKSIFY_NO_PROXY="")
        args = self.in_c([support.WRAPPER, "-x", proxy_url] + list(opts) + ["--"] + list(cmd))
        return support.run(args, env=env, **kw)

    def popen_socksified(self, proxy_url, cmd, env=None):
        env = env if env is not None else support.base_env(SOCKSIFY_NO_PROXY="")
        args = self.in_c([support.WRAPPER, "-x", proxy_url, "--"] + list(cmd))
        return subprocess.Popen(args, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)

    def free_port_in_p(self):
        return self.net.free_port_in_p()


def udpclient(*args):
    return [PYTHON, UDPCLIENT] + [str(a) for a in args]


def json_of(r):
    lines = [l for l in r.out.splitlines() if l.startswith("{")]
    assert r.rc == 0 and lines, "client failed: %r" % r
    return json.loads(lines[-1])


def socks5_udp_probe(ns, host, port, timeout=5):
    """REP of a UDP ASSOCIATE request (no auth) to the proxy at host:port, sent from ns;
    a string saying what went wrong when there is no reply at all."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = ns_socket(ns, fam, socket.SOCK_STREAM)
    try:
        s.settimeout(timeout)
        s.connect((host, port))
        s.sendall(b"\x05\x01\x00")
        if support.sock_recv_exact(s, 2, timeout) != b"\x05\x00":
            return "no-auth refused"
        s.sendall(b"\x05\x03\x00\x01" + b"\0" * 6)
        head = s.recv(4)
        return head[1] if len(head) >= 2 and head[0] == 5 else "reply %r" % head
    except OSError as e:
        return "probe failed: %s" % e
    finally:
        s.close()


DANTED_CONF = """\
logoutput: stderr
internal: {p4} port = {port}
internal: {p6} port = {port}
external: {p4}
external: {p6}
socksmethod: none
clientmethod: none
user.privileged: root
user.unprivileged: nobody
client pass {{ from: 0/0 to: 0/0 }}
socks pass {{
  from: 0/0 to: 0/0
  command: bind connect udpassociate udpreply
  log: connect disconnect error
}}
"""


def start_in_p(udpnet, name, make_cmd, attempts=5):
    """A server in P that cannot report a port-0 bind: free port, start, wait until it accepts."""
    last = None
    for i in range(attempts):
        port = udpnet.free_port_in_p()
        s = Server(["ip", "netns", "exec", udpnet.p] + make_cmd(port),
                   os.path.join(udpnet.tmp, "%s-%d.log" % (name, i)), name=name)
        try:
            support.wait_port(udpnet.net.p4, port, timeout=10, proc=s, netns=udpnet.p)
            return s, port
        except AssertionError as e:
            last = e
            s.stop()
    raise last


@pytest.fixture(scope="module")
def udpnet(dnsnet_module, tmp_path_factory):
    u = UdpNet(dnsnet_module, str(tmp_path_factory.mktemp("udpnet")))
    u.setup()  # its servers are dnsnet's: stopped with the namespaces
    u.mark_echo()
    return u


@pytest.fixture
def leaks(udpnet):
    """The counting table in C for this test; removed after it. Marks the echo's log too."""
    udpnet.mark_echo()
    nft_in(udpnet.c, "-f", "-", input=LEAK_TABLE.format(t4=udpnet.target4, t6=udpnet.target6,
                                                          p4=udpnet.net.p4, p6=udpnet.net.p6))
    try:
        yield Counters(udpnet.c)
    finally:
        subprocess.run(["ip", "netns", "exec", udpnet.c, "nft", "delete", "table", "inet", "sfyudp"],
                       capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def danted_p(udpnet):
    """danted in P on its veth addresses (one port), UDP ASSOCIATE allowed: (server, url);
    url is the IPv4 one, server.url6 the IPv6 one."""
    if not support.tool("danted"):
        pytest.skip("not installed: danted (tests/install-deps.sh installs dante-server)")

    def cmd(port):
        conf = os.path.join(udpnet.tmp, "danted-%d.conf" % port)
        with open(conf, "w") as f:
            f.write(DANTED_CONF.format(p4=udpnet.net.p4, p6=udpnet.net.p6, port=port))
        return [support.tool("danted"), "-f", conf, "-N", "1", "-p", os.path.join(udpnet.tmp, "danted.pid")]

    s, port = start_in_p(udpnet, "danted", cmd)
    s.url6 = "socks5://[%s]:%d" % (udpnet.net.p6, port)
    yield s, "socks5://%s:%d" % (udpnet.net.p4, port)
    s.stop()


@pytest.fixture
def microsocks_p(udpnet):
    if not support.tool("microsocks"):
        pytest.skip("not installed: microsocks (tests/install-deps.sh installs it)")
    s, port = start_in_p(udpnet, "microsocks",
                         lambda p: [support.tool("microsocks"), "-i", udpnet.net.p4, "-p", str(p)])
    yield s, "socks5://%s:%d" % (udpnet.net.p4, port)
    s.stop()
