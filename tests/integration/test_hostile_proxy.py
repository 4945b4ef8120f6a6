"""A hostile or broken proxy, seen from the library (issue 6, parts A and C).

Everything runs in dnsnet's two namespaces: the program in C (no route to the
target, a trap DNS that logs every query), hostileprogs/hostile_proxy.py in P.
Each broken answer must give the program README's errno within the deadline and
a 'socksify[PID]: error:' line, never a crash, a hang, a direct connection (the
nftables counters in C see packets to the proxy only), a DNS query (the trap
stays empty) or a byte of the proxy's reply as data. Where the answer is odd but
valid, the connection must work and the program must read exactly what the
"target" (the proxy itself, after its reply) sent."""

import json
import os
import re
import socket

import pytest

import support
from dnsnet import TARGET_NAME, dnsnet, dnsnet_module  # noqa: F401 (fixtures)
from support import PYTHON, Server, needs
from udpnet import leaks, udpnet  # noqa: F401 (fixtures)

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces, nftables)"),
    needs("ip", "nft"),
]

HERE = os.path.dirname(os.path.abspath(__file__))
HOSTILE = os.path.join(HERE, "hostileprogs", "hostile_proxy.py")
HCLIENT = os.path.join(HERE, "hostileprogs", "hclient.py")
ERROR_LINE = re.compile(r"^socksify\[\d+\]: error: .+", re.M)
BANNER = bytes(range(256)) * 3 + b"\x05\x00\x00\x01banner-end"  # reply-like bytes inside on purpose
SEND = b"from the program \x05\x00\x00\x01" + os.urandom(64)


ALL_MODES = ["badver", "badmethod", "methodff", "authfail", "badatyp", "domlen0", "domlong", "domlongstall",
             "split", "withdata", "closemid", "rst", "rstmid", "rstgreeting", "close", "never", "bndabsurd",
             "udpabsurd", "badverreply", "bnddomain"]


class Hostile:
    """One mode's listener of the hostile proxy process; what it saw since mark()."""

    def __init__(self, server, mode, host, port):
        self.server, self.mode, self.host, self.port = server, mode, host, port
        self.base = 0

    def url(self, auth=None):
        return "socks5://%s%s:%d" % (auth + "@" if auth else "", self.host, self.port)

    def _numbered(self, what):
        rx = r"^%s %s (\d+)(?: (.*))?$" % (what, re.escape(self.mode))
        return [(int(m.group(1)), m.group(2)) for m in re.finditer(rx, self.server.log(), re.M)]

    def mark(self):
        self.base = max([n for n, _ in self._numbered("conn")] or [0])

    def requests(self):
        return [bytes.fromhex(rest) for n, rest in self._numbered("request") if n > self.base]

    def wait(self, what, rest=".*"):
        """Wait for an event of this test's first connection: 'conn', 'auth', 'echo', 'end'."""
        return self.server.wait_log(r"^%s %s %d(?: %s)?$" % (what, re.escape(self.mode), self.base + 1, rest),
                                    timeout=10)


@pytest.fixture(scope="module")
def hostile_proc(udpnet, tmp_path_factory):
    log = str(tmp_path_factory.mktemp("hostile") / "hostile.log")
    cmd = ["ip", "netns", "exec", udpnet.p, PYTHON, "-u", HOSTILE, "--listen", udpnet.net.p4,
           "--mode", ",".join(ALL_MODES), "--banner-hex", BANNER.hex()]
    s = Server(cmd, log, name="hostile-proxy")
    ports = {}
    for _ in ALL_MODES:
        m = s.read_line(r"^hostile: (\w+) listening on [0-9.]+:(\d+)$")
        ports[m.group(1)] = int(m.group(2))
    yield s, ports
    s.stop(timeout=2)


@pytest.fixture
def hostile(udpnet, hostile_proc):
    s, ports = hostile_proc

    def get(mode):
        assert s.proc.poll() is None, "the hostile proxy died: %s" % s.log()[-3000:]
        h = Hostile(s, mode, udpnet.net.p4, ports[mode])
        h.mark()
        return h

    return get


def target_args(udpnet, tid):
    """(family, host) given to the program: the name only P resolves, or an address only P has."""
    return {"name4": ("4", TARGET_NAME), "name6": ("6", TARGET_NAME),
            "ipv4": ("4", udpnet.target4), "ipv6": ("6", udpnet.target6)}[tid]


def run_client(udpnet, proxy_url, args, env=None, timeout=20):
    env = env if env is not None else support.base_env(SOCKSIFY_NO_PROXY="")
    r = udpnet.socksified(proxy_url, [PYTHON, HCLIENT] + [str(a) for a in args], env=env, timeout=timeout)
    lines = [l for l in r.out.splitlines() if l.startswith("{")]
    assert r.rc == 0 and lines, "the program failed or died (no crash allowed): %r" % r
    return json.loads(lines[-1]), r


def check_clean(udpnet, dnsnet, leaks, what):
    c = leaks.assert_no_leak(what)
    assert c["to_proxy"] > 0, "nothing reached the proxy either: the counters prove nothing: %r" % c
    dnsnet.trap.assert_empty(what)


# mode -> (errno README promises, options, deadline in s)
FAILURES = {
    "badver": ("ECONNREFUSED", (), 2),
    "badmethod": ("ECONNREFUSED", (), 2),
    "methodff": ("EACCES", (), 2),
    "badverreply": ("ECONNREFUSED", (), 2),
    "badatyp": ("ECONNREFUSED", (), 2),
    "domlen0": ("ECONNREFUSED", (), 2),
    "domlong": ("ECONNREFUSED", (), 2),
    "domlongstall": ("ETIMEDOUT", ("-t", "1"), 2.5),
    "closemid": ("ECONNREFUSED", (), 2),
    "rst": ("ECONNREFUSED", (), 2),
    "rstmid": ("ECONNREFUSED", (), 2),
    "rstgreeting": ("ECONNREFUSED", (), 2),
    "close": ("ECONNREFUSED", (), 2),
    "never": ("ETIMEDOUT", ("-t", "1"), 2.5),
}


@pytest.mark.parametrize("mode, tid", [(m, "name4") for m in sorted(FAILURES)] +
                         [(m, "ipv6") for m in ("badver", "domlong", "rstmid", "never")])
def test_broken_answer_fails_cleanly(udpnet, dnsnet, leaks, hostile, mode, tid):
    err, opts, deadline = FAILURES[mode]
    h = hostile(mode)
    fam, host = target_args(udpnet, tid)
    env = support.base_env(SOCKSIFY_NO_PROXY="")
    if opts:
        env["SOCKSIFY_TIMEOUT"] = opts[1]
    out, r = run_client(udpnet, h.url(), ["tcp", fam, host, udpnet.echo_port, SEND.hex()], env=env)
    assert out["errno"] == err, (out, r)
    assert out["elapsed"] < deadline, out
    if err == "ETIMEDOUT":
        assert out["elapsed"] >= 0.8, "timed out before SOCKSIFY_TIMEOUT=1: %r" % out
    assert ERROR_LINE.search(r.err), "no 'socksify: error:' line: %r" % r
    assert not out["after"].startswith("data"), "proxy bytes reached the program after the failure: %r" % out
    h.wait("conn")
    check_clean(udpnet, dnsnet, leaks, mode)


def test_auth_failure(udpnet, dnsnet, leaks, hostile):
    h = hostile("authfail")
    out, r = run_client(udpnet, h.url("mallory:pw"), ["tcp", "4", TARGET_NAME, udpnet.echo_port, SEND.hex()])
    assert out["errno"] == "EACCES", (out, r)
    assert out["elapsed"] < 2, out
    assert ERROR_LINE.search(r.err), r
    assert not out["after"].startswith("data"), out
    h.wait("auth", "mallory")
    check_clean(udpnet, dnsnet, leaks, "authfail")


# odd but valid answers: the connection works, and the program reads only what the target sent
@pytest.mark.parametrize("mode, tid", [("split", "name4"), ("split", "ipv6"), ("withdata", "name4"),
                                       ("withdata", "ipv6"), ("bndabsurd", "name4"), ("bnddomain", "ipv6")])
def test_odd_answer_still_connects(udpnet, dnsnet, leaks, hostile, mode, tid):
    h = hostile(mode)
    fam, host = target_args(udpnet, tid)
    out, r = run_client(udpnet, h.url(), ["tcp", fam, host, udpnet.echo_port, SEND.hex()])
    assert out["errno"] is None, (out, r)
    assert out["peer"] == out["dest"], "getpeername() is not the target: %r" % out
    data = bytes.fromhex(out["data"])
    assert data == BANNER + SEND, "the program read %d bytes, not banner+echo (%d): first %r" % (
        len(data), len(BANNER + SEND), data[:40])
    assert out["elapsed"] < 2, out
    reqs = h.requests()
    assert len(reqs) == 1, reqs
    if tid == "name4":
        assert reqs[0][:5] == b"\x05\x01\x00\x03" + bytes([len(TARGET_NAME)]), reqs
        assert TARGET_NAME.encode() in reqs[0], reqs
    else:
        assert reqs[0] == b"\x05\x01\x00\x04" + socket.inet_pton(socket.AF_INET6, host) + \
            udpnet.echo_port.to_bytes(2, "big"), reqs
    h.wait("echo", str(len(SEND)))
    check_clean(udpnet, dnsnet, leaks, mode)


@pytest.mark.parametrize("mode, fam", [("udpabsurd", "4"), ("udpabsurd", "6"), ("bnddomain", "4")])
def test_udp_associate_unusable_relay(udpnet, dnsnet, leaks, hostile, mode, fam):
    """UDP ASSOCIATE answered with BND = ffff:...:ffff port 0 (or a name): no usable relay.
    sendto() must fail with an errno and a log line saying why; nothing goes anywhere but
    the proxy."""
    h = hostile(mode)
    out, r = run_client(udpnet, h.url(), ["udp", fam, TARGET_NAME, udpnet.echo_port])
    assert out["errno"] is not None, "sendto() through an unusable relay 'succeeded': %r" % (out,)
    assert out["elapsed"] < 2, out
    assert ERROR_LINE.search(r.err), "no 'socksify: error:' line for the unusable relay: %r" % r
    reqs = h.requests()
    assert reqs and reqs[0][:2] == b"\x05\x03", reqs
    check_clean(udpnet, dnsnet, leaks, "%s/%s" % (mode, fam))


@pytest.mark.parametrize("mode", ["methodff", "badatyp", "domlen0", "rstmid", "never"])
def test_broken_answer_to_udp_associate(udpnet, dnsnet, leaks, hostile, mode):
    """The same broken answers to UDP ASSOCIATE: sendto() fails with README's errno and a log line."""
    err, opts, deadline = FAILURES[mode]
    h = hostile(mode)
    env = support.base_env(SOCKSIFY_NO_PROXY="")
    if opts:
        env["SOCKSIFY_TIMEOUT"] = opts[1]
    out, r = run_client(udpnet, h.url(), ["udp", "4", TARGET_NAME, udpnet.echo_port], env=env)
    assert out["errno"] == err, (out, r)
    assert out["elapsed"] < deadline, out
    assert ERROR_LINE.search(r.err), "no 'socksify: error:' line: %r" % r
    h.wait("conn")
    check_clean(udpnet, dnsnet, leaks, "udp " + mode)
