"""SOCKSIFY_DNS=resolve: programs in namespace C ask for TARGET_NAME, which only the proxy
side (namespace P) can resolve; the library asks the proxy with Tor's RESOLVE command and
the program gets the REAL address, then connects to it through the proxy. C's resolver is
the trap (dnsnet.py): no test may leave a query there but the ones it expects."""

import json
import os
import re
import time

import pytest

import support
from dnsnet import CORP_NAME, PROGS, TARGET6_NAME, TARGET_NAME, dnsnet, dnsnet_module  # noqa: F401
from support import PYTHON, needs

GAI = """
import socket, sys
try:
    print(sorted({a[4][0] for a in socket.getaddrinfo(sys.argv[1], 80, type=socket.SOCK_STREAM)}))
except socket.gaierror as e:
    print("gaierror", e.errno)
"""


def resolve_env(**extra):
    return support.base_env(SOCKSIFY_DNS="resolve", **extra)


@pytest.fixture
def proxy(dnsnet, start_socks5d):
    return start_socks5d(listen=("%s:0" % dnsnet.p4,), netns=dnsnet.p)


def gai(dnsnet, proxy_url, name, env=None, timeout=30):
    r = dnsnet.socksify(proxy_url, [PYTHON, "-c", GAI, name], env=env or resolve_env(), timeout=timeout)
    assert r.rc == 0, r
    return r.out.strip().splitlines()[-1], r


def test_getaddrinfo_gives_the_address_the_proxy_resolved(dnsnet, proxy):
    out, r = gai(dnsnet, proxy.url(), TARGET_NAME)
    assert out == str([dnsnet.target4]), r
    out, r = gai(dnsnet, proxy.url(), TARGET6_NAME)
    assert out == str([dnsnet.target6]), r
    proxy.server.wait_log(r"session .*cmd=resolve target=%s:0 result=ok" % re.escape(TARGET_NAME))
    proxy.server.wait_log(r"session .*cmd=resolve target=%s:0 result=ok" % re.escape(TARGET6_NAME))
    dnsnet.trap.assert_empty("getaddrinfo with SOCKSIFY_DNS=resolve")


def test_unknown_name_fails_without_a_local_query(dnsnet, proxy):
    out, r = gai(dnsnet, proxy.url(), "nosuch.sfy.test")
    assert out == "gaierror -2", r  # EAI_NONAME: the proxy's REP 04
    dnsnet.trap.assert_empty("an unknown name with SOCKSIFY_DNS=resolve")


@needs("curl")
def test_curl_fetches_by_the_real_address(dnsnet, proxy, bodies, tmp_path):
    out = tmp_path / "out"
    r = dnsnet.socksify(proxy.url(), ["curl", "-q", "-sS", "--max-time", "20", "-o", str(out), dnsnet.url()],
                        env=resolve_env())
    assert r.rc == 0, r
    assert out.read_bytes() == bodies.data["body"]
    # the proxy resolved the name, and was then asked to CONNECT to the real address
    proxy.server.wait_log(r"session .*cmd=resolve target=%s:0 result=ok" % re.escape(TARGET_NAME))
    proxy.wait_session("%s:%d" % (dnsnet.target4, dnsnet.http_port))
    dnsnet.trap.assert_empty("curl with SOCKSIFY_DNS=resolve")


def test_getent_gets_the_real_address(dnsnet, proxy):
    r = dnsnet.socksify(proxy.url(), ["bash", "-c", "getent ahostsv4 $0 && getent hosts $0", TARGET_NAME],
                        env=resolve_env())
    assert r.rc == 0, r
    lines = [l.split() for l in r.out.splitlines()]
    assert lines[0] == [dnsnet.target4, "STREAM", TARGET_NAME], r
    assert lines[-1] == [dnsnet.target4, TARGET_NAME], r
    dnsnet.trap.assert_empty("getent with SOCKSIFY_DNS=resolve")


def test_no_proxy_names_stay_local(dnsnet, proxy):
    out, r = gai(dnsnet, proxy.url(), CORP_NAME, env=resolve_env(SOCKSIFY_NO_PROXY=CORP_NAME))
    assert out == str([dnsnet.p4]), r
    assert dnsnet.trap.names(dnsnet.trap.take()) == [CORP_NAME]
    assert "cmd=resolve" not in proxy.log()


def test_a_chain_fails_the_lookup_and_says_why(dnsnet, proxy):
    t0 = time.monotonic()
    out, r = gai(dnsnet, "%s,%s" % (proxy.url(), proxy.url()), TARGET_NAME)
    assert out == "gaierror -4", r  # EAI_FAIL
    assert time.monotonic() - t0 < 10
    assert "RESOLVE needs a single socks5:// proxy, not a chain of 2 proxies" in r.err, r
    dnsnet.trap.assert_empty("a chain with SOCKSIFY_DNS=resolve")


def test_an_http_proxy_fails_the_lookup(dnsnet, proxy):
    out, r = gai(dnsnet, "http://%s:%d" % (dnsnet.p4, proxy.port), TARGET_NAME)
    assert out == "gaierror -4", r
    assert "not an http:// proxy" in r.err, r
    dnsnet.trap.assert_empty()


def test_remote_stays_the_default(dnsnet, proxy):
    out, r = gai(dnsnet, proxy.url(), TARGET_NAME, env=support.base_env())
    assert out.startswith("['240.") or out.startswith("['100::"), r  # fake addresses, as before
    assert "cmd=resolve" not in proxy.log()
    dnsnet.trap.assert_empty()


def unsupported(dnsnet, url, server):
    """microsocks answers REP 07, danted hangs up: either way EAI_FAIL at once, and a hint."""
    t0 = time.monotonic()
    out, r = gai(dnsnet, url, TARGET_NAME)
    assert out == "gaierror -4", r
    assert time.monotonic() - t0 < 10, "took %.1fs" % (time.monotonic() - t0)
    assert "not know Tor's RESOLVE command" in r.err and "use SOCKSIFY_DNS=remote" in r.err, r
    dnsnet.trap.assert_empty("RESOLVE via %s" % server)


@needs("microsocks")
def test_microsocks_refuses_resolve_cleanly(dnsnet):
    port = dnsnet.free_port_in_p()
    s = dnsnet.start(dnsnet.p, [support.tool("microsocks"), "-i", dnsnet.p4, "-p", str(port)], "microsocks")
    try:
        support.wait_port(dnsnet.p4, port, proc=s, netns=dnsnet.c)
        unsupported(dnsnet, "socks5://%s:%d" % (dnsnet.p4, port), "microsocks")
    finally:
        s.stop()


@needs("danted")
def test_danted_refuses_resolve_cleanly(dnsnet, tmp_path):
    from test_dns import danted_in_p
    with danted_in_p(dnsnet, tmp_path) as (_, port):
        unsupported(dnsnet, "socks5://%s:%d" % (dnsnet.p4, port), "danted")


# ---- under the supervisor: a static program's own DNS queries ----

@pytest.fixture(scope="module")
def static_client(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("resolveprogs") / "client")
    r = support.run(["gcc", "-static", "-O2", "-pthread", "-o", out,
                     os.path.join(os.path.dirname(PROGS), "supervise_progs", "client.c")], timeout=120)
    assert r.rc == 0, r
    return out


def test_supervised_static_client_gets_the_real_address(dnsnet, proxy, static_client, bodies, tmp_path):
    """The supervisor's DNS responder answers A with the address the proxy resolved (and AAAA
    with no data: RESOLVE gave an IPv4 one); the fetch then goes by that address."""
    out = tmp_path / "out"
    sup = os.path.join(support.BUILD, "socksify-supervise")
    r = dnsnet.run(dnsnet.c, [sup, "-x", proxy.url(), "--", static_client, "get", TARGET_NAME, dnsnet.http_port,
                              "body", out], env=resolve_env())
    assert r.rc == 0, r
    res = [l for l in r.out.splitlines() if l.startswith("{")]
    assert res and '"addr": "%s"' % dnsnet.target4 in res[-1].replace('":"', '": "'), r
    assert out.read_bytes() == bodies.data["body"]
    proxy.wait_session("%s:%d" % (dnsnet.target4, dnsnet.http_port))
    dnsnet.trap.assert_empty("the supervised static client")


def test_launcher_config_key(dnsnet, proxy, tmp_path):
    conf = tmp_path / "conf"
    conf.write_text("dns = resolve\n")
    out, r = gai(dnsnet, proxy.url(), TARGET_NAME, env=support.base_env(SOCKSIFY_CONFIG=str(conf)))
    assert out == str([dnsnet.target4]), r
    conf.write_text("dns = resolved\n")
    r = dnsnet.socksify(proxy.url(), ["true"], env=support.base_env(SOCKSIFY_CONFIG=str(conf)))
    assert r.rc == 2 and "remote, local or resolve" in r.err, r
    h = support.run([support.WRAPPER, "--help"])
    assert "dns (remote|local|resolve)" in h.out, h
    dnsnet.trap.assert_empty()


REVERSE = """
import json, socket, sys
out = {}
for a in sys.argv[1:]:
    try:
        out[a] = [socket.gethostbyaddr(a)[0]]
    except socket.herror as e:
        out[a] = ["herror", e.errno]
    out[a].append(socket.getnameinfo((a, 80), socket.NI_NUMERICSERV)[0])
print(json.dumps(out))
"""


def test_reverse_lookups_ask_the_proxy(dnsnet, proxy):
    """gethostbyaddr()/getnameinfo() of an address only P knows a name for: RESOLVE_PTR;
    an address P has no name for stays not found (getnameinfo: numeric); no local query."""
    unknown = "198.18.%d.7" % dnsnet.x
    r = dnsnet.socksify(proxy.url(), [PYTHON, "-c", REVERSE, dnsnet.target4, dnsnet.target6, unknown],
                        env=resolve_env())
    assert r.rc == 0, r
    out = json.loads(r.out.strip().splitlines()[-1])
    assert out[dnsnet.target4] == [TARGET_NAME, TARGET_NAME], r
    assert out[dnsnet.target6] == [TARGET_NAME, TARGET_NAME], r
    assert out[unknown] == ["herror", 1, unknown], r
    proxy.server.wait_log(r"session .*cmd=resolve-ptr target=%s:0 result=ok" % re.escape(dnsnet.target4))
    dnsnet.trap.assert_empty("reverse lookups with SOCKSIFY_DNS=resolve")
