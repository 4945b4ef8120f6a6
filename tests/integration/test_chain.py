"""Chains of proxies and the other hop kinds, against real servers: three of our own
socks5d, tinyproxy (HTTP CONNECT), danted (SOCKS4) and a small SOCKS4a test peer
(socks4a_peer.py: no Debian server speaks SOCKS4a). Every hop logs what it was asked
to CONNECT to, so each test shows the path the connection took."""

import os
import re
import socket
import time

import pytest

import support
from support import PYTHON, Server, json_out, needs, pyclient, socksify
from test_interop import start_on_free_port

HERE = os.path.dirname(os.path.abspath(__file__))
PEER = os.path.join(HERE, "socks4a_peer.py")
NAME = "chain-target.test"  # not in /etc/hosts: a fake address, the name goes to the last hop


def hop(d, host=None, auth=None, scheme="socks5"):
    """A socks5d's URL as a hop, optionally by another host name (resolved by the hop before)."""
    return "%s://%s%s:%d" % (scheme, auth + "@" if auth else "", host or d.host, d.port)


def chain_env(mode=None, **extra):
    env = support.base_env(SOCKSIFY_NO_PROXY="", SOCKSIFY_LOG="info", **extra)
    if mode:
        env["SOCKSIFY_CHAIN"] = mode
    return env


@pytest.fixture
def three(start_socks5d):
    """Three socks5d on loopback; the third wants a login."""
    return (start_socks5d(listen=("127.0.0.1:0",)), start_socks5d(listen=("127.0.0.1:0",)),
            start_socks5d("-u", "alice:s3cret", listen=("127.0.0.1:0",)))


def chain_of(three):
    h1, h2, h3 = three
    return ",".join([hop(h1), hop(h2, "localhost"), hop(h3, "localhost", "alice:s3cret")])


# ---- three socks5d hops ---------------------------------------------------------------

@needs("curl")
def test_three_hops_curl_and_python(three, httpd, bodies, tmp_path):
    h1, h2, h3 = three
    proxy = chain_of(three)
    out = tmp_path / "out"
    r = socksify(proxy, ["curl", "-q", "-sS", "--max-time", "20", "-o", str(out), httpd.url("127.0.0.1")],
                 env=chain_env())
    assert r.rc == 0, r
    assert out.read_bytes() == bodies.data["body"]
    got = json_out(socksify(proxy, pyclient("get", "127.0.0.1", httpd.port, "body"), env=chain_env()))
    assert got["sha256"] == bodies.sha("body") and got["peer"] == ["127.0.0.1", httpd.port], got
    # each hop CONNECTed to the next one, by name (hop 1 got a domain-name request, never the
    # target), and only the last one to the target, with its login
    h1.wait_session("localhost:%d" % h2.port, count=2)
    h2.wait_session("localhost:%d" % h3.port, count=2)
    h3.wait_session("127.0.0.1:%d" % httpd.port, count=2, user="alice")
    assert not [l for l in h1.sessions() + h2.sessions() if "target=127.0.0.1:%d" % httpd.port in l]
    assert "via %s" % proxy.replace("alice:s3cret", "alice:***") in r.err, r


def test_three_hops_asyncio(three, httpd, bodies):
    """Non-blocking connects in an event loop (epoll) go through the whole chain."""
    out = json_out(socksify(chain_of(three), pyclient("asyncio", 20, "127.0.0.1", httpd.port, "body"),
                            env=chain_env()))
    bad = [x for x in out["results"] if not isinstance(x, dict) or x["sha256"] != bodies.sha("body")]
    assert len(out["results"]) == 20 and not bad, bad[:3]
    three[2].wait_session("127.0.0.1:%d" % httpd.port, count=20, user="alice")


def test_three_hops_nonblocking_select(three, httpd, bodies):
    out = json_out(socksify(chain_of(three), pyclient("nonblock", "127.0.0.1", httpd.port, "body"), env=chain_env()))
    assert out["sha256"] == bodies.sha("body"), out


def test_hop_with_wrong_login_is_eacces(three, httpd):
    h1, h2, h3 = three
    proxy = ",".join([hop(h1), hop(h2, "localhost"), hop(h3, "localhost", "alice:wrong")])
    r = socksify(proxy, pyclient("connect", "127.0.0.1", httpd.port), env=chain_env())
    out = json_out(r)
    assert out["errno"] == "EACCES", out
    assert "hop 3 (socks5://alice:***@localhost:%d): proxy rejected username/password" % h3.port in r.err, r


def test_strict_dead_middle_hop_fails_fast_naming_it(three, httpd):
    h1, h2, h3 = three
    keep, dead = support.closed_port()
    try:
        proxy = ",".join([hop(h1), "socks5://localhost:%d" % dead, hop(h3, "localhost", "alice:s3cret")])
        r = socksify(proxy, pyclient("connect", "127.0.0.1", httpd.port), env=chain_env())
        out = json_out(r)
        c = socksify(proxy, ["curl", "-q", "-sS", "--max-time", "20", "-o", "/dev/null", httpd.url("127.0.0.1")],
                     env=chain_env())
    finally:
        keep.close()
    assert out["errno"] in ("ECONNREFUSED", "EHOSTUNREACH"), out
    assert out["elapsed"] < 2, out
    assert re.search(r"error: connect to 127\.0\.0\.1:%d via .* failed: hop 1 \(socks5://127\.0\.0\.1:%d\) cannot "
                     r"reach hop 2 \(socks5://localhost:%d\): " % (httpd.port, h1.port, dead), r.err), r
    assert c.rc == 7, c  # curl: couldn't connect
    assert not h3.sessions(), "the hop after the dead one was reached"


# ---- failover ---------------------------------------------------------------------------

@pytest.mark.parametrize("dead", [0, 1, 2])
def test_failover_skips_a_dead_hop(three, httpd, bodies, dead):
    h1, h2, h3 = three
    keep, port = support.closed_port()
    urls = [hop(h1), hop(h2, "localhost"), hop(h3, "localhost", "alice:s3cret")]
    urls[dead] = "socks5://%s:%d" % ("127.0.0.1" if dead == 0 else "localhost", port)
    try:
        r = socksify(",".join(urls), pyclient("get", "127.0.0.1", httpd.port, "body"), opts=["--chain", "failover"],
                     env=chain_env())
    finally:
        keep.close()
    out = json_out(r)
    assert out["sha256"] == bodies.sha("body"), out
    assert "warn: failover: hop %d (%s) is dead" % (dead + 1, urls[dead]) in r.err, r
    alive = [h for i, h in enumerate((h1, h2, h3)) if i != dead]
    # the path without the dead hop: the first alive one reaches the second, which reaches the target
    nxt = "localhost:%d" % alive[1].port
    alive[0].wait_session(nxt)
    alive[1].wait_session("127.0.0.1:%d" % httpd.port, user="alice" if alive[1] is h3 else None)


def test_failover_asyncio_dead_first_hop(three, httpd, bodies):
    """Non-blocking connects rebuild the chain inside the program's own event loop."""
    h1, h2, h3 = three
    keep, port = support.closed_port()
    try:
        proxy = ",".join(["socks5://127.0.0.1:%d" % port, hop(h2, "localhost"), hop(h3, "localhost", "alice:s3cret")])
        r = socksify(proxy, pyclient("asyncio", 10, "127.0.0.1", httpd.port, "body"), env=chain_env("failover"))
    finally:
        keep.close()
    out = json_out(r)
    bad = [x for x in out["results"] if not isinstance(x, dict) or x["sha256"] != bodies.sha("body")]
    assert len(out["results"]) == 10 and not bad, bad[:3]
    assert "warn: failover: hop 1 (socks5://127.0.0.1:%d) is dead" % port in r.err, r
    h2.wait_session("localhost:%d" % h3.port, count=10)


def silent_port():
    """A port that accepts connections (the kernel does) and never answers: a hung proxy.
    Returns (socket, port): keep the socket open while it must stay silent."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    return s, s.getsockname()[1]


@pytest.mark.parametrize("silent, client", [(0, "get"), (1, "get"), (0, "asyncio")])
def test_failover_skips_a_silent_hop(three, httpd, bodies, silent, client):
    """A hop that accepts but never answers gets SOCKSIFY_TIMEOUT / hops (here 3 s / 3) and is
    dropped: the first hop itself, or the second one, which the first reaches but which stays
    silent. Blocking connect and an event loop alike."""
    h1, h2, h3 = three
    keep, port = silent_port()
    urls = [hop(h1), hop(h2, "localhost"), hop(h3, "localhost", "alice:s3cret")]
    urls[silent] = "socks5://%s:%d" % ("127.0.0.1" if silent == 0 else "localhost", port)
    args = ("get", "127.0.0.1", httpd.port, "body") if client == "get" else ("asyncio", 5, "127.0.0.1", httpd.port,
                                                                              "body")
    t0 = time.monotonic()
    try:
        r = socksify(",".join(urls), pyclient(*args), env=chain_env("failover", SOCKSIFY_TIMEOUT="3"))
    finally:
        keep.close()
    elapsed = time.monotonic() - t0
    out = json_out(r)
    results = [out] if client == "get" else out["results"]
    assert all(isinstance(x, dict) and x["sha256"] == bodies.sha("body") for x in results), out
    assert "warn: failover: hop %d (%s) is dead (hop %d (%s): no answer within 1000 ms (SOCKSIFY_TIMEOUT / 3 hops))" % (
        silent + 1, urls[silent], silent + 1, urls[silent]) in r.err, r
    assert 0.9 < elapsed < 3 * support.SLOW + 1, elapsed
    h3.wait_session("127.0.0.1:%d" % httpd.port, user="alice", count=len(results))


def test_strict_chain_waits_the_whole_timeout_for_a_silent_hop(three, httpd):
    h1, h2, h3 = three
    keep, port = silent_port()
    try:
        proxy = ",".join([hop(h1), "socks5://localhost:%d" % port, hop(h3, "localhost", "alice:s3cret")])
        r = socksify(proxy, pyclient("connect", "127.0.0.1", httpd.port), env=chain_env(SOCKSIFY_TIMEOUT="1.5"))
    finally:
        keep.close()
    out = json_out(r)
    assert out["errno"] == "ETIMEDOUT" and out["elapsed"] >= 1.4, out
    assert "hop 2 (socks5://localhost:%d): no answer in time (SOCKSIFY_TIMEOUT)" % port in r.err, r


def test_failover_every_hop_dead(httpd):
    keeps = [support.closed_port() for _ in range(3)]
    try:
        proxy = ",".join("socks5://127.0.0.1:%d" % p for _, p in keeps)
        r = socksify(proxy, pyclient("connect", "127.0.0.1", httpd.port), env=chain_env("failover"))
    finally:
        for k, _ in keeps:
            k.close()
    out = json_out(r)
    assert out["errno"] == "ECONNREFUSED", out
    assert out["elapsed"] < 2, out
    assert "every hop of the failover chain is dead; the last: hop 3" in r.err, r


def test_failover_target_refused_is_not_a_dead_hop(three):
    """The last hop cannot reach the target: that is the answer, no hop is dropped."""
    keep, closed = support.closed_port()
    try:
        r = socksify(chain_of(three), pyclient("connect", "127.0.0.1", closed), env=chain_env("failover"))
    finally:
        keep.close()
    out = json_out(r)
    assert out["errno"] == "ECONNREFUSED", out
    assert "failover:" not in r.err and "proxy answered: connection refused" in r.err, r


def test_bad_chain_mode_is_a_usage_error(built):
    r = socksify("socks5://127.0.0.1:1,socks5://127.0.0.1:2", ["true"], opts=["--chain", "dynamic"])
    assert r.rc == 2 and "bad chain mode 'dynamic' (strict, failover, random or round_robin)" in r.err, r


def test_check_says_only_the_first_hop_is_checked(three):
    r = support.run([support.WRAPPER, "--check", "-t", "5", "-x", chain_of(three)], env=support.base_env())
    assert "chain of 3 proxies: only hop 1 is checked" in r.out, r
    assert "proxy socks5://127.0.0.1:%d" % three[0].port in r.out, r


def test_check_of_an_http_first_hop_tries_reachability(tinyproxy, httpd):
    server, port = tinyproxy([httpd.port])
    r = support.run([support.WRAPPER, "--check", "-t", "5", "-x", "http://127.0.0.1:%d" % port], env=support.base_env())
    assert r.rc == 0, r
    assert "http:// is not probed further: --check speaks SOCKS5" in r.out, r
    keep, closed = support.closed_port()
    try:
        r = support.run([support.WRAPPER, "--check", "-t", "5", "-x", "http://127.0.0.1:%d" % closed],
                        env=support.base_env())
    finally:
        keep.close()
    assert r.rc == 1 and "unreachable" in r.out, r


# ---- UDP needs a single socks5:// proxy -------------------------------------------------

UDP_CLIENT = r"""
import errno, json, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
try:
    s.sendto(b"hello", ("127.0.0.1", int(sys.argv[1])))
    print(json.dumps({"errno": None}))
except OSError as e:
    print(json.dumps({"errno": "EOPNOTSUPP" if e.errno == errno.EOPNOTSUPP else errno.errorcode.get(e.errno)}))
"""


@pytest.mark.parametrize("kind", ["chain", "http"])
def test_udp_through_a_chain_is_refused_and_nothing_leaves(three, kind):
    target = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    target.bind(("127.0.0.1", 0))
    target.setblocking(False)
    proxy = chain_of(three) if kind == "chain" else "http://127.0.0.1:%d" % three[0].port
    try:
        r = socksify(proxy, [PYTHON, "-c", UDP_CLIENT, str(target.getsockname()[1])], env=chain_env())
        out = json_out(r)
        assert out["errno"] == "EOPNOTSUPP", r
        want = "a chain of 3 proxies" if kind == "chain" else "an http:// proxy"
        assert "UDP needs a single socks5:// proxy; SOCKSIFY_PROXY is %s" % want in r.err, r
        # a datagram sent direct would be queued on the target by now (loopback delivers at once)
        with pytest.raises(BlockingIOError):
            target.recvfrom(100)
    finally:
        target.close()
    assert not [l for h in three for l in h.sessions() if "cmd=udp" in l]


# ---- other hop kinds: tinyproxy, danted, the SOCKS4a peer -------------------------------

@pytest.fixture
def tinyproxy(tmp_path):
    """Factory: tinyproxy(ports, auth=None) -> (server, port), CONNECT allowed to ports only."""
    if not support.tool("tinyproxy"):
        pytest.skip("not installed: tinyproxy (tests/install-deps.sh installs it)")
    started = []

    def start(ports, auth=None):
        def cmd(port):
            conf = tmp_path / ("tinyproxy-%d.conf" % port)
            lines = ["Port %d" % port, "Listen 127.0.0.1", "Timeout 30", "LogLevel Info", "MaxClients 64"]
            lines += ["ConnectPort %d" % p for p in ports]
            if auth:
                lines.append("BasicAuth %s %s" % auth)
            conf.write_text("\n".join(lines) + "\n")
            # in the foreground; its log (on stdout) to the file Server searches
            return ["/bin/sh", "-c", 'exec "$0" -d -c "$1" 1>&2', support.tool("tinyproxy"), str(conf)]

        s, port = start_on_free_port(tmp_path, "tinyproxy", cmd)
        started.append(s)
        return s, port

    yield start
    for s in started:
        s.stop()


@pytest.fixture
def socks4a_peer(tmp_path):
    s = Server([PYTHON, "-u", PEER, "%s=127.0.0.1" % NAME], str(tmp_path / "socks4a.log"), name="socks4a_peer")
    port = int(s.read_line(r"listening on 127\.0\.0\.1:(\d+)").group(1))
    yield s, port
    s.stop()


DANTED_SOCKS4_RULES = """\
socks pass { from: 127.0.0.0/8 to: 127.0.0.0/8 log: connect disconnect }
"""


@pytest.fixture
def danted4(tmp_path):
    s, port = support.start_danted(tmp_path, DANTED_SOCKS4_RULES)
    yield s, port
    s.stop()


def test_http_hop_without_auth(tinyproxy, httpd, bodies):
    server, port = tinyproxy([httpd.port])
    out = json_out(socksify("http://127.0.0.1:%d" % port, pyclient("get", "127.0.0.1", httpd.port, "body"),
                            env=chain_env()))
    assert out["sha256"] == bodies.sha("body"), out
    server.wait_log(r"Request \(file descriptor \d+\): CONNECT 127\.0\.0\.1:%d HTTP/1\.1" % httpd.port)


@needs("curl")
def test_http_hop_with_basic_auth_by_name(tinyproxy, httpd, bodies, tmp_path):
    """curl resolves NAME through us: the name itself goes to tinyproxy, which cannot resolve it."""
    server, port = tinyproxy([httpd.port], auth=("alice", "s3cret"))
    out = tmp_path / "out"
    r = socksify("http://alice:s3cret@127.0.0.1:%d" % port,
                 ["curl", "-q", "-sS", "--max-time", "20", "-o", str(out), httpd.url("127.0.0.1")], env=chain_env())
    assert r.rc == 0, r
    assert out.read_bytes() == bodies.data["body"]
    r = socksify("http://alice:s3cret@127.0.0.1:%d" % port, pyclient("connect", NAME, httpd.port), env=chain_env())
    assert json_out(r)["errno"] in ("ECONNREFUSED", "EHOSTUNREACH"), r
    server.wait_log(r"CONNECT %s:%d HTTP/1\.1" % (re.escape(NAME), httpd.port))
    assert re.search(r"proxy answered: 'HTTP/1\.\d 5\d\d [^']*'", r.err), r


def test_http_hop_wrong_password_is_eacces(tinyproxy, httpd):
    server, port = tinyproxy([httpd.port], auth=("alice", "s3cret"))
    r = socksify("http://alice:nope@127.0.0.1:%d" % port, pyclient("connect", "127.0.0.1", httpd.port), env=chain_env())
    out = json_out(r)
    assert out["errno"] == "EACCES", out
    assert re.search(r"failed: proxy rejected username/password \('HTTP/1\.\d 40[17] ", r.err), r
    r = socksify("http://127.0.0.1:%d" % port, pyclient("connect", "127.0.0.1", httpd.port), env=chain_env())
    assert json_out(r)["errno"] == "EACCES", r
    assert "proxy requires authentication; put user:pass@ in the proxy URL" in r.err, r


def test_socks4a_hop_by_name(socks4a_peer, httpd, bodies):
    server, port = socks4a_peer
    out = json_out(socksify("socks4a://bob@127.0.0.1:%d" % port, pyclient("get", NAME, httpd.port, "body"),
                            env=chain_env()))
    assert out["sha256"] == bodies.sha("body"), out
    server.wait_log(r"connect user=bob target=%s:%d kind=4a result=ok" % (re.escape(NAME), httpd.port))


def test_socks4_hop_danted(danted4, httpd, bodies):
    server, port = danted4
    out = json_out(socksify("socks4://127.0.0.1:%d" % port, pyclient("get", "127.0.0.1", httpd.port, "body"),
                            env=chain_env()))
    assert out["sha256"] == bodies.sha("body"), out
    server.wait_log(r"pass\(\d+\): tcp/connect .*127\.0\.0\.1\.%d" % httpd.port)


def test_socks4_with_a_name_is_a_clear_error(danted4, httpd):
    server, port = danted4
    r = socksify("socks4://127.0.0.1:%d" % port, pyclient("connect", NAME, httpd.port), env=chain_env())
    out = json_out(r)
    assert out["errno"] == "EAFNOSUPPORT", out
    assert "socks4:// cannot carry a host name (%s:%d): use socks4a://" % (NAME, httpd.port) in r.err, r
    r = socksify("socks4://127.0.0.1:%d" % port, pyclient("connect", "::1", httpd.port), env=chain_env())
    out = json_out(r)
    assert out["errno"] == "EAFNOSUPPORT", out
    assert "socks4:// cannot carry an IPv6 destination" in r.err, r


def test_mixed_chain_socks5_http_socks4a(start_socks5d, tinyproxy, socks4a_peer, httpd, bodies):
    """socks5 -> http -> socks4a -> the target by name, each hop reached by name."""
    h1 = start_socks5d(listen=("127.0.0.1:0",))
    peer, peer_port = socks4a_peer
    tp, tp_port = tinyproxy([peer_port])
    proxy = "socks5://127.0.0.1:%d,http://localhost:%d,socks4a://localhost:%d" % (h1.port, tp_port, peer_port)
    out = json_out(socksify(proxy, pyclient("get", NAME, httpd.port, "body"), env=chain_env()))
    assert out["sha256"] == bodies.sha("body"), out
    h1.wait_session("localhost:%d" % tp_port)
    tp.wait_log(r"CONNECT localhost:%d HTTP/1\.1" % peer_port)
    peer.wait_log(r"connect user= target=%s:%d kind=4a result=ok" % (re.escape(NAME), httpd.port))


def test_mixed_chain_through_danted_socks4_by_address(start_socks5d, danted4, httpd, bodies):
    """A socks4:// hop is reached by name (socks5d before it resolves it) and reaches the next hop by address."""
    h1 = start_socks5d(listen=("127.0.0.1:0",))
    h3 = start_socks5d(listen=("127.0.0.1:0",))
    d, dport = danted4
    proxy = "socks5://127.0.0.1:%d,socks4://localhost:%d,socks5://127.0.0.1:%d" % (h1.port, dport, h3.port)
    out = json_out(socksify(proxy, pyclient("get", "127.0.0.1", httpd.port, "body"), env=chain_env()))
    assert out["sha256"] == bodies.sha("body"), out
    h1.wait_session("localhost:%d" % dport)
    d.wait_log(r"pass\(\d+\): tcp/connect .*127\.0\.0\.1\.%d" % h3.port)
    h3.wait_session("127.0.0.1:%d" % httpd.port)


def test_http_hop_to_an_ipv6_target(tinyproxy, httpd, bodies):
    server, port = tinyproxy([httpd.port])
    out = json_out(socksify("http://127.0.0.1:%d" % port, pyclient("get", "::1", httpd.port, "body"), env=chain_env()))
    assert out["sha256"] == bodies.sha("body") and out["peer"] == ["::1", httpd.port], out
    server.wait_log(r"CONNECT \[::1\]:%d HTTP/1\.1" % httpd.port)


def test_failover_past_a_hop_an_http_proxy_cannot_reach(start_socks5d, tinyproxy, httpd, bodies):
    """tinyproxy answers 500 for a CONNECT to a dead hop: that hop is dropped, the rest used."""
    h1, h3 = start_socks5d(listen=("127.0.0.1:0",)), start_socks5d(listen=("127.0.0.1:0",))
    keep, dead = support.closed_port()
    try:
        tp, tp_port = tinyproxy([dead, h3.port])
        proxy = "socks5://127.0.0.1:%d,http://localhost:%d,socks5://127.0.0.1:%d,socks5://127.0.0.1:%d" % (
            h1.port, tp_port, dead, h3.port)
        r = socksify(proxy, pyclient("get", "127.0.0.1", httpd.port, "body"), env=chain_env("failover"))
        strict = socksify(proxy, pyclient("connect", "127.0.0.1", httpd.port), env=chain_env())
    finally:
        keep.close()
    out = json_out(r)
    assert out["sha256"] == bodies.sha("body"), out
    assert re.search(r"warn: failover: hop 3 \(socks5://127\.0\.0\.1:%d\) is dead \(hop 2 \(http://localhost:%d\) "
                     r"cannot reach hop 3 .*: 'HTTP/1\.\d 5\d\d " % (dead, tp_port), r.err), r
    tp.wait_log(r"CONNECT 127\.0\.0\.1:%d HTTP/1\.1" % h3.port)
    h3.wait_session("127.0.0.1:%d" % httpd.port)
    assert json_out(strict)["errno"] == "ECONNREFUSED", strict
    assert "hop 2 (http://localhost:%d) cannot reach hop 3" % tp_port in strict.err, strict


def test_chain_from_a_config_file(three, httpd, bodies, tmp_path):
    h1, h2, h3 = three
    keep, dead = support.closed_port()
    conf = tmp_path / "socksify.conf"
    conf.write_text("proxy = socks5://127.0.0.1:%d, %s, %s\nchain = failover\nno-proxy = \"\"\n" % (
        dead, hop(h2, "localhost"), hop(h3, "localhost", "alice:s3cret")))
    conf.chmod(0o600)
    try:
        r = support.run([support.WRAPPER, "--config", str(conf), "-v", "--"] +
                        pyclient("get", "127.0.0.1", httpd.port, "body"), env=support.base_env())
    finally:
        keep.close()
    assert json_out(r)["sha256"] == bodies.sha("body"), r
    assert "failover: hop 1" in r.err, r
