"""socksify-supervise through chains and the other hop kinds: the library's hop machine
(preload/handshake.c) and settings parser (preload/config.c), linked into the supervisor.
In dnsnet.py's namespaces (C has no route to the target, its resolver is a trap), a static C
client and a Go program fetch BY NAME through the hops, all in P: the first hop on P's veth
address, the others on P's loopback, reached by the hop before (by name: "localhost"). Each
hop logs what it was asked to CONNECT to, so each test shows the path; the trap sees no
query and nothing leaves C but to the first hop. Then: a dead hop (strict, failover), the
launcher with a chain, UDP through a chain, SOCKSIFY_NO_PROXY names (resolved locally,
connected direct: as the library does, and only for them) and SOCKSIFY_DNS=local."""

import re

import pytest

import support
from dnsnet import CORP_NAME, LOCAL_NAME, TARGET_NAME, dnsnet, dnsnet_module  # noqa: F401 (fixtures)
from support import PYTHON
from test_chain import PEER, hop
from test_supervise import counters, goget, lines, one, progs, proxy, pytestmark, supervised  # noqa: F401 (as there)



@pytest.fixture
def hops(dnsnet, proxy, start_socks5d):
    """The first hop (on P's veth address) and two more on P's loopback; the third wants a login."""
    return (proxy, start_socks5d(listen=("127.0.0.1:0",), netns=dnsnet.p),
            start_socks5d("-u", "alice:s3cret", listen=("127.0.0.1:0",), netns=dnsnet.p))


def chain_of(hops, n=3):
    h1, h2, h3 = hops
    urls = [hop(h1), hop(h2, "localhost"), hop(h3, "localhost", "alice:s3cret")]
    return ",".join(urls[:n - 1] + urls[-1:]) if n == 2 else ",".join(urls)


@pytest.fixture
def tinyproxy_in_p(dnsnet, tmp_path):
    """tinyproxy on P's loopback (CONNECT to the HTTP target's port only): (server, port)."""
    tool = support.tool("tinyproxy")
    if not tool:
        pytest.skip("not installed: tinyproxy (tests/install-deps.sh installs it)")
    port = dnsnet.free_port_in_p()
    conf = tmp_path / "tinyproxy.conf"
    conf.write_text("Port %d\nListen 127.0.0.1\nTimeout 30\nLogLevel Info\nMaxClients 64\nConnectPort %d\n"
                    % (port, dnsnet.http_port))
    s = dnsnet.start(dnsnet.p, ["/bin/sh", "-c", 'exec "$0" -d -c "$1" 1>&2', tool, str(conf)], "tinyproxy")
    try:
        support.wait_port("127.0.0.1", port, proc=s, netns=dnsnet.p)
        yield s, port
    finally:
        s.stop()


@pytest.fixture
def socks4a_in_p(dnsnet):
    """test_chain.py's SOCKS4a peer on P's loopback; it resolves names in P (its /etc/hosts)."""
    s = dnsnet.start(dnsnet.p, [PYTHON, "-u", PEER], "socks4a_peer")
    try:
        port = int(s.read_line(r"listening on 127\.0\.0\.1:(\d+)").group(1))
        yield s, port
    finally:
        s.stop()


def fetch_static(dnsnet, url, progs, tmp_path, env=None, opts=()):
    out = tmp_path / "out"
    r = supervised(dnsnet, url, [progs["client"], "get", TARGET_NAME, dnsnet.http_port, "body", out], env=env,
                   opts=opts)
    return r, out


def fetch_static_and_go(dnsnet, url, progs, goget, bodies, tmp_path, env=None):
    """The static C client and the Go program each fetch by name through url; returns the
    supervisor's result for the C client (its -v log)."""
    r, out = fetch_static(dnsnet, url, progs, tmp_path, env=env)
    assert r.rc == 0 and one(r)["errno"] is None, r
    assert out.read_bytes() == bodies.data["body"]
    g = supervised(dnsnet, url, [goget, dnsnet.url("small")], env=env)
    assert g.rc == 0 and lines(g)[0]["sha256"] == bodies.sha("small"), g
    return r


def by_name(dnsnet):
    return "%s:%d" % (TARGET_NAME, dnsnet.http_port)


# ---- socks5 hops ----------------------------------------------------------------------------

@pytest.mark.parametrize("n, mech", [(2, "notify"), (3, "notify"), (3, "ptrace")])
def test_static_and_go_through_socks5_hops_by_name(dnsnet, hops, counters, progs, goget, bodies, tmp_path, n, mech):
    h1, h2, h3 = hops
    chain = chain_of(hops, n)
    env = support.base_env(SOCKSIFY_SUPERVISE_MECH=mech)
    r = fetch_static_and_go(dnsnet, chain, progs, goget, bodies, tmp_path, env=env)
    assert "via %s" % chain.replace("alice:s3cret", "alice:***") in r.err, r  # -v: the path, no password
    # each hop CONNECTed to the next one by name, and only the last one to the target, by name
    if n == 3:
        h1.wait_session("localhost:%d" % h2.port, count=2)
        h2.wait_session("localhost:%d" % h3.port, count=2)
    else:
        h1.wait_session("localhost:%d" % h3.port, count=2)
    h3.wait_session(by_name(dnsnet), count=2, user="alice")
    assert not [l for l in h1.sessions() + h2.sessions() if "target=%s" % TARGET_NAME in l]
    dnsnet.trap.assert_empty("a chain of socks5 hops")
    assert counters.assert_nothing_direct()["to_proxy"] > 0


# ---- other hop kinds ------------------------------------------------------------------------

def test_socks5_then_http_hop(dnsnet, proxy, tinyproxy_in_p, counters, progs, goget, bodies, tmp_path):
    server, port = tinyproxy_in_p
    chain = "%s,http://localhost:%d" % (hop(proxy), port)
    fetch_static_and_go(dnsnet, chain, progs, goget, bodies, tmp_path)
    proxy.wait_session("localhost:%d" % port, count=2)
    server.wait_log(r"Request \(file descriptor \d+\): CONNECT %s HTTP/1\.1" % re.escape(by_name(dnsnet)),
                    count=2)
    dnsnet.trap.assert_empty("socks5 then http")
    counters.assert_nothing_direct()


def test_socks5_then_socks4a_hop_by_name(dnsnet, proxy, socks4a_in_p, counters, progs, goget, bodies, tmp_path):
    peer, port = socks4a_in_p
    chain = "%s,socks4a://bob@localhost:%d" % (hop(proxy), port)
    fetch_static_and_go(dnsnet, chain, progs, goget, bodies, tmp_path)
    proxy.wait_session("localhost:%d" % port, count=2)
    peer.wait_log(r"connect user=bob target=%s kind=4a result=ok" % re.escape(by_name(dnsnet)), count=2)
    dnsnet.trap.assert_empty("socks5 then socks4a")
    counters.assert_nothing_direct()


# ---- dead hops ------------------------------------------------------------------------------

def test_strict_dead_middle_hop_fails_naming_it(dnsnet, hops, counters, progs, goget, tmp_path):
    h1, h2, h3 = hops
    dead = dnsnet.free_port_in_p()  # nothing listens there in P
    chain = ",".join([hop(h1), "socks5://localhost:%d" % dead, hop(h3, "localhost", "alice:s3cret")])
    r, _ = fetch_static(dnsnet, chain, progs, tmp_path)
    res = one(r)
    assert (res["step"], res["errno"]) == ("connect", "ECONNREFUSED"), r
    assert r.elapsed < 5, r
    assert re.search(r"error: connect to %s via .* failed: hop 1 \(socks5://%s:%d\) cannot reach hop 2 "
                     r"\(socks5://localhost:%d\): " % (re.escape(by_name(dnsnet)), re.escape(dnsnet.p4), h1.port,
                                                       dead), r.err), r
    g = supervised(dnsnet, chain, [goget, dnsnet.url("small")])
    assert g.rc == 1 and "connection refused" in lines(g)[0]["error"], g
    assert not h3.sessions(), "the hop after the dead one was reached"
    dnsnet.trap.assert_empty("a dead middle hop")
    counters.assert_nothing_direct()


def test_failover_skips_a_dead_hop(dnsnet, hops, counters, progs, bodies, tmp_path):
    h1, h2, h3 = hops
    dead = dnsnet.free_port_in_p()
    urls = [hop(h1), "socks5://localhost:%d" % dead, hop(h3, "localhost", "alice:s3cret")]
    r, out = fetch_static(dnsnet, ",".join(urls), progs, tmp_path,
                          env=support.base_env(SOCKSIFY_CHAIN="failover"))
    assert r.rc == 0 and one(r)["errno"] is None, r
    assert out.read_bytes() == bodies.data["body"]
    assert "warn: failover: hop 2 (%s) is dead" % urls[1] in r.err, r
    h1.wait_session("localhost:%d" % h3.port)
    h3.wait_session(by_name(dnsnet), user="alice")
    dnsnet.trap.assert_empty("failover")
    counters.assert_nothing_direct()


# ---- the launcher, UDP ----------------------------------------------------------------------

def test_socksify_sh_with_a_chain_and_a_static_program(dnsnet, hops, counters, progs, bodies, tmp_path):
    """./socksify.sh -x 'socks5://a,socks5://b' ./static-client, as a user would: the launcher
    no longer refuses (exit 2); the supervisor takes the chain."""
    h1, h2, h3 = hops
    chain = ",".join([hop(h1), hop(h2, "localhost")])
    out = tmp_path / "out"
    r = dnsnet.run(dnsnet.c, [support.WRAPPER, "-x", chain, "-v", progs["client"], "get", TARGET_NAME,
                              dnsnet.http_port, "body", out], env=support.base_env())
    assert r.rc == 0 and one(r)["errno"] is None, r
    assert out.read_bytes() == bodies.data["body"]
    assert "socksify-supervise" in r.err and "via %s" % chain in r.err, r
    h1.wait_session("localhost:%d" % h2.port)
    h2.wait_session(by_name(dnsnet))
    dnsnet.trap.assert_empty("socksify.sh with a chain")
    counters.assert_nothing_direct()


def test_udp_through_a_chain_is_refused_never_direct(dnsnet, hops, counters, progs):
    """UDP ASSOCIATE needs a single socks5:// proxy: with a chain the datagram fails with EOPNOTSUPP
    and the library's log line (the supervisor relays UDP otherwise, test_supervise_udp.py)."""
    r = supervised(dnsnet, chain_of(hops), [progs["client"], "udp", dnsnet.target4, 9, "-", "-"])
    assert one(r)["errno"] == "EOPNOTSUPP", r
    assert "UDP needs a single socks5:// proxy" in r.err, r
    counters.assert_nothing_direct()


# ---- SOCKSIFY_NO_PROXY names ----------------------------------------------------------------

@pytest.fixture
def corp_httpd(dnsnet, bodies):
    """An HTTP server on P's veth address: what the trap answers CORP_NAME with."""
    s = dnsnet.start(dnsnet.p, [PYTHON, "-u", support.HTTPD, bodies.root, dnsnet.p4], "corp-httpd")
    try:
        yield int(s.read_line(r"listening on [0-9.]+:(\d+)").group(1))
    finally:
        s.stop()


def test_no_proxy_name_goes_direct_and_only_it(dnsnet, hops, counters, corp_httpd, progs, goget, bodies, tmp_path):
    """As the library (test_dns.py): a SOCKSIFY_NO_PROXY name pattern is resolved by the system
    resolver (the trap sees that name, and only it) and its connection goes direct (the proxy logs
    no session for it); a name outside it still reaches the chain by name, unresolved in C."""
    h1, h2, h3 = hops
    chain = chain_of(hops)
    env = support.base_env(SOCKSIFY_NO_PROXY=".corp.test")
    out = tmp_path / "corp"
    r = supervised(dnsnet, chain, [progs["client"], "get", CORP_NAME, corp_httpd, "small", out], env=env)
    res = one(r)
    assert res["errno"] is None and res["addr"] == dnsnet.p4, r  # the real address, not a fake one
    assert out.read_bytes() == bodies.data["small"]
    assert dnsnet.trap.names(dnsnet.trap.take()) == [CORP_NAME]
    g = supervised(dnsnet, chain, [goget, "http://%s:%d/small" % (CORP_NAME, corp_httpd)], env=env)
    assert g.rc == 0 and lines(g)[0]["sha256"] == bodies.sha("small"), g
    assert dnsnet.trap.names(dnsnet.trap.take()) == [CORP_NAME]
    r, out = fetch_static(dnsnet, chain, progs, tmp_path, env=env)
    assert r.rc == 0 and one(r)["errno"] is None, r
    # after the two above: each hop logged theirs by now, had they gone through the chain
    h1.wait_session("localhost:%d" % h2.port)
    h3.wait_session(by_name(dnsnet), user="alice")
    through = [l for h in hops for l in h.sessions() if CORP_NAME in l or "target=%s:" % dnsnet.p4 in l]
    assert not through, "a connection to a NO_PROXY name went through the chain: %s" % through
    dnsnet.trap.assert_empty("a name outside SOCKSIFY_NO_PROXY")
    c = counters.read()
    assert c["to_target"] == 0 and c["to_other"] == 0, c


def test_dns_local_resolves_here_and_still_proxies(dnsnet, proxy, counters, progs, bodies, tmp_path):
    """SOCKSIFY_DNS=local, as in the library: the system resolver answers (the trap sees the name)
    and the connection goes to the proxy by that address, not direct."""
    out = tmp_path / "out"
    r = supervised(dnsnet, proxy.url(), [progs["client"], "get", LOCAL_NAME, dnsnet.http_port, "small", out],
                   env=support.base_env(SOCKSIFY_DNS="local"))
    res = one(r)
    assert res["errno"] is None and res["addr"] == dnsnet.target4, r
    assert out.read_bytes() == bodies.data["small"]
    assert dnsnet.trap.names(dnsnet.trap.take()) == [LOCAL_NAME]
    proxy.wait_session("%s:%d" % (dnsnet.target4, dnsnet.http_port))
    counters.assert_nothing_direct()
