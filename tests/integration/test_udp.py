"""UDP through SOCKS5 UDP ASSOCIATE (RFC 1928 section 7), in network namespaces.

Programs in C (which has no route to the target addresses, and whose DNS is a
trap) talk to a UDP echo server and DNS servers that only P can reach, through a
proxy in P: danted (UDP configured) and our socks5d (xfail, decided by a live
probe, until it answers UDP ASSOCIATE with REP 0). Each test checks the payloads,
the reply SOURCE the program sees (the target, or for a name the fake address it
sent to), that nftables in C counted no packet that did not go to the proxy, and
(the dnsnet fixture) that the trap DNS saw no query. See udpnet.py and dnsnet.py."""

import errno
import ipaddress
import json
import os
import select
import signal
import socket
import subprocess
import time

import pytest

import support
import udpnet as udpnet_mod
from dnsnet import TARGET_NAME, dnsnet, dnsnet_module  # noqa: F401 (fixtures)
from support import PYTHON, needs
from udpnet import (DGRAM_JS, DNS_ANSWER4, DNS_ANSWER6, DNS_NAME, danted_p, json_of, leaks,  # noqa: F401
                    microsocks_p, ns_socket, socks5_udp_probe, udpclient, udpnet)

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces, nftables)"),
    needs("ip", "nft"),
]

SIZES = "1,2,100,512,1400,1472,2000,4000"


def in_fake(addr):
    a = ipaddress.ip_address(addr)
    return a in ipaddress.ip_network("240.0.0.0/4") or a in ipaddress.ip_network("100::/64")


class Proxy:
    def __init__(self, kind, url, server):
        self.kind, self.url, self.server = kind, url, server


@pytest.fixture(params=["danted", "socks5d"])
def proxy(request, udpnet, start_socks5d):
    """The proxy in P. socks5d's tests are expected to fail while it answers UDP
    ASSOCIATE with anything but REP 0 (a probe decides, so they pass once it does)."""
    if request.param == "danted":
        server, url = request.getfixturevalue("danted_p")
        return Proxy("danted", url, server)
    d = start_socks5d(listen=("%s:0" % udpnet.net.p4,), netns=udpnet.p)
    rep = socks5_udp_probe(udpnet.c, d.host, d.port)
    if rep != 0:
        request.node.add_marker(pytest.mark.xfail(
            strict=False, reason="socks5d does not support UDP ASSOCIATE yet (probe answer: REP %r)" % (rep,)))
    return Proxy("socks5d", d.url(), d.server)


ALL_TARGETS = ["ipv4", "ipv6", "name4", "name6"]


def target(udpnet, tid):
    """(family, host) a program is given for a target id: an address only P has, or
    the name only P resolves (asked for in one family)."""
    return {"ipv4": ("4", udpnet.target4), "ipv6": ("6", udpnet.target6),
            "name4": ("4", TARGET_NAME), "name6": ("6", TARGET_NAME)}[tid]


def check_dest(udpnet, tid, res):
    """The address the program sent to: the target itself, or a fake one for the name."""
    assert "errno" not in res, res
    addr, port = res["dest"]
    if tid.startswith("name"):
        assert in_fake(addr), "getaddrinfo(%s) in C did not give a fake address: %r" % (TARGET_NAME, res)
        assert (":" in addr) == (tid == "name6"), res
    else:
        assert addr == target(udpnet, tid)[1], res
    assert port == udpnet.echo_port
    return [addr, port]


def no_leak(udpnet, leaks, what):
    c = leaks.assert_no_leak(what)
    assert c["to_proxy"] > 0, "nothing went to the proxy either, the counters prove nothing: %r" % c
    sources = set(udpnet.echo_sources())
    assert not sources & {udpnet.net.c4, udpnet.net.c6}, "the echo server heard C directly: %s" % sources


# ---- the set-up itself ----

def test_echo_reachable_only_from_p(udpnet, dnsnet, leaks):
    """Positive controls: the target is unreachable from C without the proxy; with a
    route, a direct exchange works and the counters count it; from P the echo answers."""
    res = json_of(support.run(udpnet.in_c(udpclient("sizes", "4", udpnet.target4, udpnet.echo_port, "1"))))
    assert res["errno"] == "ENETUNREACH", res
    res = json_of(support.run(["ip", "netns", "exec", udpnet.p] + udpclient(
        "sizes", "6", udpnet.target6, udpnet.echo_port, SIZES)))
    assert all(r["same"] for r in res["results"]), res
    routes = [("-4", udpnet.target4 + "/32", udpnet.net.p4), ("-6", udpnet.target6 + "/128", udpnet.net.p6)]
    try:
        for fam, dst, via in routes:
            r = support.run(["ip", "-n", udpnet.c, fam, "route", "add", dst, "via", via])
            assert r.rc == 0, r
        for fam, host in (("4", udpnet.target4), ("6", udpnet.target6)):
            res = json_of(support.run(udpnet.in_c(udpclient("sizes", fam, host, udpnet.echo_port, "1,100"))))
            assert [r["same"] for r in res["results"]] == [True, True], res
    finally:
        for fam, dst, via in routes:
            support.run(["ip", "-n", udpnet.c, fam, "route", "del", dst, "via", via])
    c = leaks.read()
    assert c["to_target"] >= 4 and c["to_other"] >= 4, c


# ---- python sockets ----

@pytest.mark.parametrize("tid", ALL_TARGETS)
def test_sendto_recvfrom_sizes(udpnet, dnsnet, proxy, leaks, tid):
    fam, host = target(udpnet, tid)
    res = json_of(udpnet.socksified(proxy.url, udpclient("sizes", fam, host, udpnet.echo_port, SIZES)))
    dest = check_dest(udpnet, tid, res)
    for r in res["results"]:
        assert r["same"] and r["len"] == r["size"] == r["sent"], res
        assert r["src"] == dest, "reply source is not what the program sent to: %r" % res
    assert [r["size"] for r in res["results"]] == [int(n) for n in SIZES.split(",")]
    no_leak(udpnet, leaks, "sendto/recvfrom")


@pytest.mark.parametrize("tid", ["ipv4", "ipv6", "name4"])
def test_connected_socket(udpnet, dnsnet, proxy, leaks, tid):
    fam, host = target(udpnet, tid)
    res = json_of(udpnet.socksified(proxy.url, udpclient("connected", fam, host, udpnet.echo_port)))
    dest = check_dest(udpnet, tid, res)
    assert res["peer"] == dest, res
    assert res["send_recv"] == ["connected send", dest], res
    assert res["write_read"] == "connected write", res
    assert res["sendto_recv"] == "connected sendto", res
    no_leak(udpnet, leaks, "connected UDP")


@pytest.mark.parametrize("tid", ["ipv4", "name6"])
def test_msg_peek(udpnet, dnsnet, proxy, leaks, tid):
    fam, host = target(udpnet, tid)
    res = json_of(udpnet.socksified(proxy.url, udpclient("peek", fam, host, udpnet.echo_port)))
    dest = check_dest(udpnet, tid, res)
    assert res["peeked"] == [["peek me", dest]] * 2, res
    assert res["received"] == ["peek me", dest], res
    assert res["recvmsg"] == [["sec", True, dest], ["second", False, dest]], res
    no_leak(udpnet, leaks, "MSG_PEEK")


@pytest.mark.parametrize("fam", ["4", "6"])
def test_truncation_as_without_proxy(udpnet, dnsnet, proxy, leaks, fam):
    """Short buffers, MSG_TRUNC, zero-length datagrams: the same results as the same
    program run directly in P."""
    host = udpnet.target4 if fam == "4" else udpnet.target6
    direct = json_of(support.run(["ip", "netns", "exec", udpnet.p] + udpclient("trunc", fam, host, udpnet.echo_port)))
    assert direct["recv_into_trunc"][0] == 100 and direct["recvmsg"][1] is True, direct  # the kernel's behaviour
    res = json_of(udpnet.socksified(proxy.url, udpclient("trunc", fam, host, udpnet.echo_port)))
    assert res == direct
    no_leak(udpnet, leaks, "truncation")


@pytest.mark.parametrize("fam", ["4", "6"])
def test_scattered_receive_as_without_proxy(udpnet, dnsnet, proxy, leaks, fam):
    """recvmsg() into several buffers (split inside where the SOCKS header would be, smaller
    than it, with and without room for any datagram): the same bytes, lengths, MSG_TRUNC and
    sources as the same program run directly in P."""
    host = udpnet.target4 if fam == "4" else udpnet.target6
    direct = json_of(support.run(["ip", "netns", "exec", udpnet.p] + udpclient("scatter", fam, host,
                                                                                udpnet.echo_port)))
    assert direct["25,25"][2] is True and direct["1,3,65536"][0] == 200, direct  # the kernel's behaviour
    res = json_of(udpnet.socksified(proxy.url, udpclient("scatter", fam, host, udpnet.echo_port)))
    assert res == direct
    no_leak(udpnet, leaks, "scattered receive")


@pytest.mark.parametrize("tid", ["ipv4", "name4"])
def test_socket_closed_behind_the_library_and_reused(udpnet, dnsnet, proxy, leaks, tid):
    """The datagram path does not re-check an fd's identity for every datagram. A proxied
    socket closed behind the library (fclose of an fdopen) whose number a socketpair takes:
    recv, send, read and write on it move the program's bytes untouched; then a new
    datagram socket on that number: its exchange works (after a lost datagram or two at
    most), and nothing goes anywhere but the proxy."""
    fam, host = target(udpnet, tid)
    res = json_of(udpnet.socksified(proxy.url, udpclient("reused", fam, host, udpnet.echo_port)))
    dest = check_dest(udpnet, tid, res)
    assert res["first"] == ["first", dest], res
    assert res["pair_reused"] is True and res["udp_reused"] is True, "the number was not reused: %r" % res
    assert res["stream_recv"] == "stream bytes" and res["stream_sent"] == "sent", res
    assert res["stream_read"] == "0123456789" and res["stream_written"] == "written", res
    assert res["second"] == ["second", dest] and res["again"] == ["again", dest], res
    no_leak(udpnet, leaks, "closed behind the library")


@pytest.mark.parametrize("tid", ["ipv4", "ipv6"])
def test_nonblocking_readiness(udpnet, dnsnet, proxy, leaks, tid):
    fam, host = target(udpnet, tid)
    res = json_of(udpnet.socksified(proxy.url, udpclient("nonblock", fam, host, udpnet.echo_port)))
    dest = check_dest(udpnet, tid, res)
    assert res["select"] and res["poll"] and res["epoll"], res
    assert res["empty"] == "EAGAIN", res
    assert [res["first"], res["second"], res["third"]] == [["first", dest], ["second", dest], ["third", dest]], res
    no_leak(udpnet, leaks, "non-blocking")


@pytest.mark.parametrize("how", ["plain", "connected"])
def test_stranger_datagram_not_delivered(udpnet, dnsnet, proxy, leaks, how):
    """Junk sent straight to the client's port by another socket in C (one looks like a
    SOCKS UDP header claiming to come from the target) never reaches the program: its
    next recv is the echo, from the target."""
    p = udpnet.popen_socksified(proxy.url, udpclient("stranger", "4", udpnet.target4, udpnet.echo_port, how))
    junk = ns_socket(udpnet.c)
    try:
        line = _read_line(p, 10)
        port = json.loads(line)["port"]
        spoof = b"\0\0\0\x01" + socket.inet_aton(udpnet.target4) + udpnet.echo_port.to_bytes(2, "big") + b"after"
        for dst in ((udpnet.net.c4, port), ("127.0.0.1", port)):
            junk.sendto(b"garbage from a stranger", dst)
            junk.sendto(spoof, dst)
        out, err = p.communicate("go\n", timeout=20)
    finally:
        junk.close()
        _kill(p)
    lines = [l for l in out.splitlines() if l.startswith("{")]
    assert p.returncode == 0 and lines, "client failed (%r):\n%s\n%s" % (p.returncode, out, err)
    if support.SANITIZE:
        support.assert_no_sanitizer_report(err, "the stranger client")
    res = json.loads(lines[-1])
    dest = [udpnet.target4, udpnet.echo_port]
    assert res.get("first") == ["before", dest], res
    assert res["junk_was_queued"], res
    assert res["next"] == ["after", dest], "the program received a stranger's datagram: %r" % res
    no_leak(udpnet, leaks, "stranger")


def _read_line(p, timeout):
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        r, _, _ = select.select([p.stdout], [], [], max(left, 0))
        if r:
            line = p.stdout.readline()
            if not line:
                _kill_group(p)
                raise AssertionError("%r exited early (%r): %s" % (p.args, p.wait(), p.stderr.read()))
            return line
        if left <= 0:
            _kill_group(p)
            raise AssertionError("no line from %r within %ss; stderr: %s" % (p.args, timeout, p.stderr.read()))


def _kill_group(p):
    if p.returncode is not None:
        return
    try:
        os.killpg(p.pid, signal.SIGKILL)  # its own session: the wrapper and the program
    except ProcessLookupError:
        pass


def _kill(p):
    _kill_group(p)
    p.wait()
    for f in (p.stdin, p.stdout, p.stderr):
        if f and not f.closed:
            f.close()


# ---- real programs ----

@needs("dig")
@pytest.mark.parametrize("server", ["ipv4", "name4"])
def test_dig(udpnet, dnsnet, proxy, leaks, server):
    """dig (BIND 9 on libuv: probes sendmmsg through syscall(), sends with sendmsg)."""
    _dig(udpnet, proxy.url, leaks, server)


@needs("dig")
def test_dig_ipv6_via_ipv6_proxy(udpnet, dnsnet, danted_p, leaks):
    """dig's IPv6 sockets are IPV6_V6ONLY: they reach the relay when the proxy is
    reached over IPv6 (danted on P's IPv6 address)."""
    _dig(udpnet, danted_p[0].url6, leaks, "ipv6")


@needs("dig")
def test_dig_ipv6_via_ipv4_proxy(udpnet, dnsnet, danted_p, leaks):
    """An IPV6_V6ONLY socket (dig -6) cannot send to a relay on an IPv4 address. Either
    it works some day, or it must fail as an IPv4 socket with an IPv6 relay does: a log
    line saying why, nothing sent anywhere else. Not a silent timeout."""
    r = udpnet.socksified(danted_p[1], ["dig", "-6", "@" + udpnet.target6, "-p", "53", "+notcp", "+tries=1",
                                        "+time=2", "+short", DNS_NAME, "A"])
    if r.rc != 0:
        assert "relay" in r.err and "IPv6" in r.err, "dig -6 failed without a word from socksify: %r" % r
    else:
        assert r.out.strip() == DNS_ANSWER4, r
    leaks.assert_no_leak("dig -6 via an IPv4 proxy")


def _dig(udpnet, url, leaks, server):
    fam, host = target(udpnet, server)
    before = udpnet.dns_queries()
    for qtype, answer in (("A", DNS_ANSWER4), ("AAAA", DNS_ANSWER6)):
        r = udpnet.socksified(url, ["dig", "-" + fam, "@" + host, "-p", "53", "+notcp", "+tries=1", "+time=3",
                                    "+short", DNS_NAME, qtype])
        assert r.rc == 0 and r.out.strip() == answer, r
    new = {addr: q[len(before[addr]):] for addr, q in udpnet.dns_queries().items()}
    if server.startswith("name"):  # the proxy resolves the name: either address of the target
        new = {"any": sum(new.values(), [])}
    else:
        assert not any(q for addr, q in new.items() if addr != host), new
        new = {"any": new[host]}
    assert new == {"any": ["udp %s A" % DNS_NAME, "udp %s AAAA" % DNS_NAME]}
    no_leak(udpnet, leaks, "dig")


def _have_dnslib():
    return subprocess.run([PYTHON, "-c", "import dnslib"], capture_output=True).returncode == 0


@pytest.mark.skipif(not _have_dnslib(), reason="not installed: python3-dnslib (not in tests/install-deps.sh)")
@pytest.mark.parametrize("fam", ["4", "6"])
def test_python_dnslib(udpnet, dnsnet, proxy, leaks, fam):
    host = udpnet.target4 if fam == "4" else udpnet.target6
    res = json_of(udpnet.socksified(proxy.url, udpclient("dnslib", fam, host, 53, DNS_NAME)))
    assert res == {"id_matches": True, "rcode": 0, "answers": [DNS_ANSWER4 if fam == "4" else DNS_ANSWER6]}, res
    no_leak(udpnet, leaks, "dnslib")


@needs("socat")
@pytest.mark.parametrize("tid", ["ipv4", "ipv6", "name4"])
def test_socat(udpnet, dnsnet, proxy, leaks, tid):
    fam, host = target(udpnet, tid)
    addr = "UDP%s:%s:%d" % (fam, "[%s]" % host if ":" in host else host, udpnet.echo_port)
    p = udpnet.popen_socksified(proxy.url, ["socat", "-", addr])
    try:
        lines = []
        for text in ("hello socat\n", "second line\n"):
            p.stdin.write(text)
            p.stdin.flush()
            lines.append(_read_line(p, 10))
    finally:
        _kill(p)
    assert lines == ["hello socat\n", "second line\n"]
    no_leak(udpnet, leaks, "socat")


@needs("node")
@pytest.mark.parametrize("tid", ALL_TARGETS)
def test_node_dgram(udpnet, dnsnet, proxy, leaks, tid):
    fam, host = target(udpnet, tid)
    r = udpnet.socksified(proxy.url, ["node", DGRAM_JS, "udp" + fam, host, udpnet.echo_port, 5])
    lines = [json.loads(l) for l in r.out.splitlines() if l.startswith("{")]
    assert r.rc == 0 and len(lines) == 2, r
    lookup, res = lines
    if tid.startswith("name"):
        assert in_fake(lookup["lookup"]), lookup
    else:
        assert lookup["lookup"] == host
    assert res["error"] is None and res["sent"] == 5 and len(res["got"]) == 5, r
    for g in res["got"]:
        assert g["ok"] and g["address"] == lookup["lookup"] and g["port"] == udpnet.echo_port, res
    no_leak(udpnet, leaks, "node dgram")


@pytest.fixture(scope="module")
def local_echo(udpnet):
    """A UDP echo server in C on loopback (excluded from the proxy by default): its port."""
    s = udpnet.net.start(udpnet.c, [PYTHON, "-u", udpnet_mod.UDPECHO, "127.0.0.1", "::1"], "udpecho-c")
    port = int(s.read_line(r"listening on 127\.0\.0\.1:(\d+)").group(1))
    s.read_line(r"listening on \[::1\]:%d" % port)
    return port


@pytest.mark.parametrize("tid", ["ipv4", "name6"])
def test_one_socket_proxied_and_direct_peers(udpnet, dnsnet, proxy, leaks, local_echo, tid):
    """Default SOCKSIFY_NO_PROXY (loopback direct): one socket talks to the target through
    the proxy and to a loopback peer directly; every reply has its own peer as source."""
    fam, host = target(udpnet, tid)
    lhost = "127.0.0.1" if fam == "4" else "::1"
    r = udpnet.socksified(proxy.url, udpclient("mixed", fam, host, udpnet.echo_port, lhost, local_echo),
                          env=support.base_env())
    res = json_of(r)
    dest = check_dest(udpnet, tid, res)
    local = [lhost, local_echo]
    assert res["replies"] == [["one by one 0", dest], ["one by one 1", local], ["one by one 2", dest],
                              ["one by one 3", local]], res
    assert res["both"] == [["both: direct", local], ["both: proxied", dest]], res
    no_leak(udpnet, leaks, "proxied and direct peers")


@pytest.fixture(scope="module")
def mmsg_prog(tmp_path_factory):
    if not support.tool("gcc"):
        pytest.skip("not installed: gcc")
    exe = str(tmp_path_factory.mktemp("mmsg") / "mmsg")
    r = support.run(["gcc", "-Wall", "-Wextra", "-Werror", "-o", exe, os.path.join(udpnet_mod.PROGS, "mmsg.c")])
    assert r.rc == 0, r
    return exe


@pytest.mark.parametrize("tid", ["ipv4", "ipv6"])
def test_raw_syscall_sendmmsg_and_recvmmsg(udpnet, dnsnet, proxy, leaks, mmsg_prog, tid):
    """syscall(SYS_sendmmsg), as libuv sends, and recvmmsg(MSG_WAITFORONE)."""
    fam, host = target(udpnet, tid)
    r = udpnet.socksified(proxy.url, [mmsg_prog, host, udpnet.echo_port, 4])
    lines = [l for l in r.out.splitlines() if l.startswith("{")]
    assert lines, r
    res = json.loads(lines[-1])
    assert res["sent"] == 4, r
    assert sorted(res["replies"]) == [["mmsg %d" % i, host, udpnet.echo_port] for i in range(4)], r
    assert r.rc == 0, r
    no_leak(udpnet, leaks, "sendmmsg/recvmmsg")


@pytest.fixture(scope="module")
def threads_prog(tmp_path_factory):
    if not support.tool("gcc"):
        pytest.skip("not installed: gcc")
    exe = str(tmp_path_factory.mktemp("threads") / "threads")
    r = support.run(["gcc", "-Wall", "-Wextra", "-Werror", "-pthread", "-o", exe,
                     os.path.join(udpnet_mod.PROGS, "threads.c")])
    assert r.rc == 0, r
    return exe


@pytest.mark.parametrize("tid", ["ipv4", "ipv6"])
def test_threads_dup_and_fork(udpnet, dnsnet, proxy, leaks, threads_prog, tid):
    """Four threads exchange datagrams on their own sockets and on a shared one while
    another dup()s and closes the shared one's number and the process forks: every echo
    on the own sockets comes back intact, each child's exchange works, nothing crashes."""
    fam, host = target(udpnet, tid)
    rounds = 100
    r = udpnet.socksified(proxy.url, [threads_prog, host, udpnet.echo_port, rounds], timeout=120)
    lines = [l for l in r.out.splitlines() if l.startswith("{")]
    assert r.rc == 0 and lines, r
    res = json.loads(lines[-1])
    assert res["own"] == [rounds] * 4, r
    assert res["children"] == [0, 0, 0], r
    assert sum(res["shared"]) > 0, r
    no_leak(udpnet, leaks, "threads")


def test_association_ended_by_proxy(udpnet, dnsnet, start_socks5d, leaks):
    """socks5d ends an idle association (closes the control connection, RFC 1928: the
    association ends with it). The program's next datagram must not vanish in silence:
    either the library makes a new association and the exchange works, or the send or
    the receive fails with an error. A 5 s receive timeout is the silent loss."""
    d = start_socks5d("-v", "--udp-timeout", "1", listen=("%s:0" % udpnet.net.p4,), netns=udpnet.p)
    if socks5_udp_probe(udpnet.c, d.host, d.port) != 0:
        pytest.xfail("socks5d does not support UDP ASSOCIATE yet")
    fam, host = target(udpnet, "ipv4")
    p = udpnet.popen_socksified(d.url(), udpclient("pause", fam, host, udpnet.echo_port))
    try:
        json.loads(_read_line(p, 10))
        d.server.wait_log(r"udp associate: idle for \d+ ms, ending it", timeout=10)  # ours (the probe's just closed)
        d.server.wait_log(r"info: session .* cmd=udp-associate .* dgrams_up=1 ", timeout=10)
        out, err = p.communicate("go\n", timeout=20)
    finally:
        _kill(p)
    res = json.loads([l for l in out.splitlines() if l.startswith("{")][-1])
    dest = check_dest(udpnet, "ipv4", res)
    assert res["first"] == ["before", dest], res
    assert res.get("next") == ["after", dest] or res.get("next_errno") not in (None, "TimeoutError"), \
        "the datagram after the proxy ended the association was lost in silence: %r; stderr: %s" % (res, err)
    leaks.assert_no_leak("association ended")


# ---- failures ----

@pytest.mark.parametrize("tid", ["ipv4", "ipv6", "name4"])
def test_proxy_down(udpnet, dnsnet, leaks, tid):
    """Nothing listens at the proxy address: sendto fails with ECONNREFUSED at once and
    nothing goes anywhere else."""
    fam, host = target(udpnet, tid)
    t0 = time.monotonic()
    r = udpnet.socksified("socks5://%s:1" % udpnet.net.p4, udpclient("sizes", fam, host, udpnet.echo_port, "1"))
    res = json_of(r)
    assert res["errno"] == "ECONNREFUSED" and res["where"] == "sendto 1", r
    assert time.monotonic() - t0 < 5, r
    c = leaks.assert_no_leak("proxy down")
    assert c["to_proxy"] >= 1, "the attempt to reach the proxy was not even counted: %r" % c


@pytest.mark.parametrize("tid", ["ipv4", "name6"])
def test_microsocks_without_udp(udpnet, dnsnet, microsocks_p, leaks, tid):
    """A proxy without UDP ASSOCIATE: EOPNOTSUPP, a log line, nothing sent direct."""
    server, url = microsocks_p
    fam, host = target(udpnet, tid)
    r = udpnet.socksified(url, udpclient("sizes", fam, host, udpnet.echo_port, "1"))
    res = json_of(r)
    assert res["errno"] == errno.errorcode[errno.EOPNOTSUPP] and res["where"] == "sendto 1", r
    assert "UDP ASSOCIATE" in r.err, r
    c = leaks.assert_no_leak("microsocks")
    assert c["to_proxy"] >= 1, c
