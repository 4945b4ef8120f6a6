"""SOCKSIFY_ROUTE: a proxy (or none) per destination. Two socks5d, A (SOCKSIFY_PROXY, the
default) and B (a route's); each logs the targets it was asked to CONNECT to, so each test
shows which proxy carried which connection. On loopback: by address, a chain as a route,
direct, asyncio, UDP, the launcher's --route and config key, a malformed route failing
closed. In dnsnet.py's namespaces (C has no route to the target, its resolver is a trap): a
name routed by its suffix with remote DNS (no query seen), a name routed direct (resolved
locally, connected direct), and a static program under the supervisor."""

import json
import os

import pytest

import support
from dnsnet import CORP_NAME, TARGET_NAME, dnsnet, dnsnet_module  # noqa: F401 (fixtures)
from support import PYTHON, json_out, needs, pyclient, socksify
from test_chain import hop

UDP_PROBE = r"""
import errno, json, socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(5)
try:
    s.sendto(b"ping", (sys.argv[1], int(sys.argv[2])))
    data, src = s.recvfrom(100)
    print(json.dumps({"errno": None, "data": data.decode(), "from": list(src)}))
except OSError as e:
    print(json.dumps({"errno": errno.errorcode.get(e.errno, str(e.errno))}))
"""


def env_with(routes, **extra):
    return support.base_env(SOCKSIFY_NO_PROXY="", SOCKSIFY_LOG="info", SOCKSIFY_ROUTE=routes, **extra)


def targets(d):
    return [l.split(" target=")[1].split()[0] for l in d.sessions()]


@pytest.fixture
def ab(start_socks5d):
    return start_socks5d(listen=("127.0.0.1:0",)), start_socks5d(listen=("127.0.0.1:0",))


# ---- loopback ---------------------------------------------------------------------------

@needs("curl")
def test_route_by_address_picks_the_proxy(ab, httpd, bodies, tmp_path):
    """127.0.0.0/8 goes through B, the rest (here [::1]) through A: each log shows only its own."""
    a, b = ab
    env = env_with("127.0.0.0/8=%s" % b.url())
    for host in ("127.0.0.1", "::1"):
        out = tmp_path / "out"
        r = socksify(a.url(), ["curl", "-q", "-sS", "--max-time", "20", "-o", str(out), httpd.url(host)], env=env)
        assert r.rc == 0, r
        assert out.read_bytes() == bodies.data["body"]
    b.wait_session("127.0.0.1:%d" % httpd.port)
    a.wait_session("[::1]:%d" % httpd.port)
    assert targets(a) == ["[::1]:%d" % httpd.port] and targets(b) == ["127.0.0.1:%d" % httpd.port]
    assert "via %s: ok" % b.url() in r.err or "via %s: ok" % a.url() in r.err, r


def test_first_matching_route_wins_and_port_entries(ab, httpd):
    a, b = ab
    env = env_with(" 127.0.0.1:%d = %s ; 127.0.0.0/8=%s\n" % (httpd.port, b.url(), a.url()))
    got = json_out(socksify(a.url(), pyclient("get", "127.0.0.1", httpd.port, "body"), env=env))
    assert got["sha256"], got
    b.wait_session("127.0.0.1:%d" % httpd.port)
    assert targets(a) == []


def test_chain_as_a_route(start_socks5d, ab, httpd):
    a, b = ab
    c = start_socks5d(listen=("127.0.0.1:0",))
    env = env_with("127.0.0.1=%s,%s" % (hop(b), hop(c, "localhost")))
    got = json_out(socksify(a.url(), pyclient("get", "127.0.0.1", httpd.port, "body"), env=env))
    assert got["peer"] == ["127.0.0.1", httpd.port], got
    b.wait_session("localhost:%d" % c.port)
    c.wait_session("127.0.0.1:%d" % httpd.port)
    assert targets(a) == []


def test_failover_route_chain_keeps_its_own_dead_hops(start_socks5d, ab, httpd):
    """A failover chain remembers its dead hops per chain: route [::1]'s first hop (dead) is not
    taken for the default chain's first hop (A), which still carries the next connection."""
    a, b = ab
    c = start_socks5d(listen=("127.0.0.1:0",))
    keep, dead = support.closed_port()
    script = ("import socket, sys\n"
              "for h in ('::1', '127.0.0.1'):\n"
              "    socket.create_connection((h, int(sys.argv[1])), timeout=20).close()\n"
              "print('ok')\n")
    try:
        env = env_with("[::1]=socks5://127.0.0.1:%d,%s" % (dead, hop(c)), SOCKSIFY_CHAIN="failover")
        r = socksify("%s,%s" % (hop(a), hop(b)), [PYTHON, "-c", script, str(httpd.port)], env=env)
    finally:
        keep.close()
    assert r.rc == 0 and r.out.strip() == "ok", r
    c.wait_session("[::1]:%d" % httpd.port)
    b.wait_session("127.0.0.1:%d" % httpd.port)
    a.wait_session("127.0.0.1:%d" % b.port)  # the default chain still starts at A


def test_route_chain_shorter_than_chain_len_names_the_route(start_socks5d, ab, httpd):
    """SOCKSIFY_CHAIN_LEN applies to a route's chain too; one too short says which route."""
    a, b = ab
    c = start_socks5d(listen=("127.0.0.1:0",))
    env = support.preload_env(SOCKSIFY_PROXY="%s,%s,%s" % (hop(a), hop(b), hop(c)), SOCKSIFY_NO_PROXY="",
                              SOCKSIFY_CHAIN="random", SOCKSIFY_CHAIN_LEN="3",
                              SOCKSIFY_ROUTE="[::1]=direct;127.0.0.1=%s,%s" % (hop(b), hop(c)))
    r = support.run(pyclient("connect", "127.0.0.1", httpd.port), env=env)
    assert json_out(r)["errno"] == "ECONNREFUSED", r
    assert "SOCKSIFY_CHAIN_LEN=3, but route 2 of SOCKSIFY_ROUTE has only 2 hops" in r.err, r
    assert targets(a) == [] and targets(b) == [] and targets(c) == []


def test_direct_route_by_address(ab, httpd):
    a, b = ab
    env = env_with("[::1]=%s; 127.0.0.1 = direct" % b.url())
    got = json_out(socksify(a.url(), pyclient("get", "127.0.0.1", httpd.port, "body"), env=env))
    assert got["peer"] == ["127.0.0.1", httpd.port], got
    json_out(socksify(a.url(), pyclient("get", "::1", httpd.port, "body"), env=env))
    b.wait_session("[::1]:%d" % httpd.port)  # once B logged this one, it logged any before
    assert targets(a) == [] and targets(b) == ["[::1]:%d" % httpd.port]


def test_asyncio_uses_the_route(ab, httpd, bodies):
    """Non-blocking connects finished in the event loop (async.c) go through the route's proxy."""
    a, b = ab
    env = env_with("127.0.0.1=%s" % b.url())
    out = json_out(socksify(a.url(), pyclient("asyncio", 10, "127.0.0.1", httpd.port, "body"), env=env))
    bad = [x for x in out["results"] if not isinstance(x, dict) or x["sha256"] != bodies.sha("body")]
    assert len(out["results"]) == 10 and not bad, bad[:3]
    b.wait_session("127.0.0.1:%d" % httpd.port, count=10)
    assert targets(a) == []


@pytest.mark.parametrize("how", ["no-equals", "bad-proxy", "no-dests"])
def test_malformed_route_fails_closed(ab, httpd, how):
    """Preloaded directly (no launcher to refuse it): every proxied connection fails with
    ECONNREFUSED and one line names the route; nothing goes direct or through A."""
    a, b = ab
    route = {"no-equals": "10.0.0.0/8=%s;127.0.0.1" % b.url(), "bad-proxy": "127.0.0.1=socks9://x:1",
             "no-dests": "=%s" % b.url()}[how]
    env = support.preload_env(SOCKSIFY_PROXY=a.url(), SOCKSIFY_NO_PROXY="", SOCKSIFY_ROUTE=route)
    r = support.run(pyclient("connect", "127.0.0.1", httpd.port), env=env)
    assert json_out(r)["errno"] == "ECONNREFUSED", r
    want = {"no-equals": "SOCKSIFY_ROUTE: route 2: no '='", "bad-proxy": "SOCKSIFY_ROUTE: route 1 (127.0.0.1): ",
            "no-dests": "SOCKSIFY_ROUTE: route 1 (): no destinations"}[how]
    assert want in r.err and "connections will fail" in r.err, r
    assert "no usable proxy (see the SOCKSIFY_PROXY or SOCKSIFY_ROUTE error above)" in r.err, r
    assert targets(a) == [] and targets(b) == []
    # the launcher refuses to start the program at all
    r = socksify(a.url(), pyclient("connect", "127.0.0.1", httpd.port), env=env_with(route))
    assert r.rc == 2 and "bad SOCKSIFY_ROUTE: " in r.err and not r.out, r


def test_route_to_an_unresolvable_proxy_fails_closed(ab, httpd):
    a, _ = ab
    env = env_with("127.0.0.1=socks5://no-such-proxy.invalid:1080")
    r = socksify(a.url(), pyclient("connect", "127.0.0.1", httpd.port), env=env)
    assert json_out(r)["errno"] == "ECONNREFUSED", r
    assert "cannot resolve proxy host 'no-such-proxy.invalid'" in r.err, r
    assert targets(a) == []


def test_udp_direct_route_and_other_proxy_refused(ab):
    a, b = ab
    echo = support.EchoServer(udp=True)
    try:
        port = echo.udp.getsockname()[1]
        probe = [PYTHON, "-c", UDP_PROBE, "127.0.0.1", str(port)]
        res = json_out(socksify(a.url(), probe, env=env_with("127.0.0.1:%d=direct" % port)))
        assert res["errno"] is None and res["data"] == "ping", res
        r = socksify(a.url(), probe, env=env_with("127.0.0.1=%s" % b.url()))
        assert json_out(r)["errno"] in ("EOPNOTSUPP", "ENOTSUP"), r  # the same number on Linux
        assert "datagram to 127.0.0.1:%d refused: route 1 (127.0.0.1) sends it through another proxy" % port in r.err
        # the control: with no route, the datagram goes through A's association
        res = json_out(socksify(a.url(), probe, env=env_with("")))
        assert res["errno"] is None and res["data"] == "ping", res
    finally:
        echo.close()
    assert " cmd=connect " not in b.log() and "cmd=udp" not in b.log()


def test_launcher_route_option_and_config_key(ab, httpd, tmp_path):
    a, b = ab
    env = support.base_env(SOCKSIFY_NO_PROXY="", SOCKSIFY_ROUTE="127.0.0.1=direct")
    opts = ["--route", "[::2]=direct", "--route=127.0.0.1=%s" % b.url()]  # replaces the environment's
    got = json_out(socksify(a.url(), pyclient("get", "127.0.0.1", httpd.port, "body"), opts=opts, env=env))
    assert got["peer"] == ["127.0.0.1", httpd.port], got
    b.wait_session("127.0.0.1:%d" % httpd.port)
    conf = tmp_path / "socksify.conf"
    conf.write_text("proxy = %s\nno-proxy = \"\"\nroute = [::2]=direct\nroute = ::1 = %s\n" % (a.url(), b.url()))
    env = support.base_env(SOCKSIFY_CONFIG=str(conf))
    env.pop("SOCKSIFY_NO_PROXY", None)
    env.pop("SOCKSIFY_ROUTE", None)
    r = support.run([support.WRAPPER, "--", *pyclient("get", "::1", httpd.port, "body")], env=env)
    assert json_out(r)["peer"][1] == httpd.port, r
    b.wait_session("[::1]:%d" % httpd.port)
    assert targets(a) == []
    conf.write_text("proxy = %s\nroute = 10.0.0.0/8\n" % a.url())
    r = support.run([support.WRAPPER, "--", "true"], env=env)
    assert r.rc == 2 and "bad route: route 1: no '='" in r.err, r


def test_check_validates_routes(ab):
    a, b = ab
    r = support.run([support.WRAPPER, "--check", "-x", a.url()], env=env_with("10.0.0.0/8=%s;::1=direct" % b.url()))
    assert r.rc == 0 and "routes: 2, well formed" in r.out, r
    r = support.run([support.WRAPPER, "--check", "-x", a.url()], env=env_with("10.0.0.0/8=socks5://u:pw@"))
    assert r.rc == 2 and "bad SOCKSIFY_ROUTE: route 1 (10.0.0.0/8): " in r.err and "pw" not in r.err, r


# ---- names, in the namespaces -----------------------------------------------------------

@pytest.fixture
def ab_in_p(dnsnet, start_socks5d):
    return (start_socks5d(listen=("%s:0" % dnsnet.p4,), netns=dnsnet.p),
            start_socks5d(listen=("%s:0" % dnsnet.p4,), netns=dnsnet.p))


@needs("curl")
def test_name_routed_by_suffix_with_remote_dns(dnsnet, ab_in_p, bodies, tmp_path):
    """The name gets a fake address; its connection is routed by the name (B), carries the
    name, and nothing is asked of the local resolver. The target's address goes through A."""
    a, b = ab_in_p
    env = support.base_env(SOCKSIFY_ROUTE="10.0.0.0/8=direct; .sfy.test=%s" % b.url(), SOCKSIFY_LOG="info")
    out = tmp_path / "out"
    r = dnsnet.socksify(a.url(), ["curl", "-q", "-sS", "--max-time", "20", "-o", str(out), dnsnet.url()], env=env)
    assert r.rc == 0, r
    assert out.read_bytes() == bodies.data["body"]
    b.wait_session("%s:%d" % (TARGET_NAME, dnsnet.http_port))
    r = dnsnet.socksify(a.url(), pyclient("get", dnsnet.target4, dnsnet.http_port, "body"), env=env)
    assert json_out(r)["peer"] == [dnsnet.target4, dnsnet.http_port], r
    a.wait_session("%s:%d" % (dnsnet.target4, dnsnet.http_port))
    assert targets(a) == ["%s:%d" % (dnsnet.target4, dnsnet.http_port)], a.log()
    assert targets(b) == ["%s:%d" % (TARGET_NAME, dnsnet.http_port)], b.log()
    dnsnet.trap.assert_empty("a name routed by its suffix")


def test_name_routed_direct_is_resolved_locally(dnsnet, ab_in_p):
    """As a SOCKSIFY_NO_PROXY name: the trap answers db.corp.test with P's veth address, where
    nothing listens on this port: direct gives ECONNREFUSED from P's kernel, no proxy hears it."""
    a, b = ab_in_p
    env = support.base_env(SOCKSIFY_ROUTE="corp.test=direct;*=%s" % b.url())
    port = dnsnet.free_port_in_p()
    r = dnsnet.socksify(a.url(), pyclient("connect", CORP_NAME, port), env=env)
    assert json_out(r)["errno"] == "ECONNREFUSED", r
    assert dnsnet.trap.names(dnsnet.trap.take()) == [CORP_NAME]
    r = dnsnet.socksify(a.url(), pyclient("get", TARGET_NAME, dnsnet.http_port, "small"), env=env)
    assert json_out(r)["sha256"], r
    b.wait_session("%s:%d" % (TARGET_NAME, dnsnet.http_port))  # '*' matches every other name
    assert targets(a) == [] and targets(b) == ["%s:%d" % (TARGET_NAME, dnsnet.http_port)]
    dnsnet.trap.assert_empty()


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)")
@needs("gcc")
def test_static_program_under_the_supervisor_uses_the_route(dnsnet, ab_in_p, tmp_path):
    a, b = ab_in_p
    client = str(tmp_path / "client")
    build = support.run(["gcc", "-static", "-O2", "-pthread", "-o", client,
                         os.path.join(os.path.dirname(os.path.abspath(__file__)), "supervise_progs", "client.c")],
                        env=support.base_env(), timeout=300)
    assert build.rc == 0, build
    out = tmp_path / "out"
    env = support.base_env(SOCKSIFY_ROUTE=".sfy.test=%s" % b.url())
    args = [os.path.join(support.BUILD, "socksify-supervise"), "-x", a.url(), "-v", "--",
            client, "get", TARGET_NAME, str(dnsnet.http_port), "body", str(out)]
    r = dnsnet.run(dnsnet.c, args, env=env, timeout=60)
    res = [json.loads(l) for l in r.out.splitlines() if l.startswith("{")]
    assert r.rc == 0 and res and res[0]["errno"] is None, r
    b.wait_session("%s:%d" % (TARGET_NAME, dnsnet.http_port))
    assert targets(a) == [], a.log()
    dnsnet.trap.assert_empty("a static program")
    # a real address, not routed: the default proxy
    r = dnsnet.run(dnsnet.c, args[:5] + [client, "get", dnsnet.target4, str(dnsnet.http_port), "body", str(out)],
                   env=env, timeout=60)
    assert r.rc == 0, r
    a.wait_session("%s:%d" % (dnsnet.target4, dnsnet.http_port))
    # UDP: a datagram routed to B fails (the association is with A); one routed direct goes
    # direct, and C has no route to the target: ENETUNREACH (through A it would be sent)
    udp = [client, "udp", dnsnet.target4, "9", "-", "-"]
    for route, want in (("%s=%s" % (dnsnet.target4, b.url()), ("EOPNOTSUPP", "ENOTSUP")),
                        ("%s:9=direct" % dnsnet.target4, ("ENETUNREACH",))):
        r = dnsnet.run(dnsnet.c, args[:5] + udp, env=support.base_env(SOCKSIFY_ROUTE=route), timeout=60)
        res = [json.loads(l) for l in r.out.splitlines() if l.startswith("{")]
        assert res and res[0]["step"] == "sendto" and res[0]["errno"] in want, r
        if "direct" not in route:
            assert "route 1 (%s) sends it through another proxy" % dnsnet.target4 in r.err, r
    assert " cmd=udp" not in a.log() + b.log()
    # a route's malformed: the supervisor refuses to start
    r = dnsnet.run(dnsnet.c, args, env=support.base_env(SOCKSIFY_ROUTE="sfy.test"), timeout=60)
    assert r.rc == 2 and "bad SOCKSIFY_ROUTE: route 1: no '='" in r.err, r
