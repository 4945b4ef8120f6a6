"""socksify --check: one line per finding about the proxy, and the exit status
(0 usable for TCP, 1 not, 2 usage), against real servers on loopback and hostile ones."""

import re

import pytest

import support
from scripted_proxy import ScriptedProxy
from support import WRAPPER, needs
from test_interop import danted, microsocks, start_on_free_port  # noqa: F401 (fixtures)


def check(*args, env=None, timeout=60):
    return support.run([WRAPPER, "--check"] + [str(a) for a in args], env=env or support.base_env(), timeout=timeout)


def lines(r):
    """The finding lines by their label: {"methods": "no-auth accepted; ...", ...}."""
    found = {}
    for l in r.out.splitlines():
        m = re.match(r"^(proxy|methods|auth|handshake round trip|handshake|CONNECT by name|CONNECT|"
                     r"UDP ASSOCIATE|result)\b.*?: (.*)$", l)
        assert m, "not a finding line: %r in %r" % (l, r)
        found[m.group(1)] = m.group(2)
    return found


def test_socks5d_everything_works(start_socks5d):
    proxy, other = start_socks5d(), start_socks5d()
    r = check("-x", proxy.url(), "--check-target", "localhost:%d" % other.port)
    f = lines(r)
    assert r.rc == 0, r
    assert re.match(r"reachable, TCP connect \d+\.\d ms$", f["proxy"]), r
    assert "(127.0.0.1:%d)" % proxy.port in r.out, r
    assert f["methods"] == "no-auth accepted; username/password not offered (no user in the URL)", r
    assert f["auth"] == "not needed", r
    assert re.match(r"\d+\.\d ms \(greeting\+request pipelined: yes\)$", f["handshake round trip"]), r
    assert f["CONNECT by name"] == "ok", r
    assert f["UDP ASSOCIATE"] == "ok (relay 127.0.0.1:%s)" % re.search(r"relay 127\.0\.0\.1:(\d+)", r.out).group(1), r
    assert f["result"] == "OK", r
    # the name went to the proxy, which resolved it
    proxy.wait_session("localhost:%d" % other.port)


def test_proxy_from_environment_and_wrapper_options(start_socks5d):
    proxy = start_socks5d()
    r = support.run([WRAPPER, "-t", "5", "--check"], env=support.base_env(SOCKSIFY_PROXY=proxy.url()))
    assert r.rc == 0, r
    assert "(127.0.0.1:%d): reachable" % proxy.port in r.out, r


def test_default_target_is_the_proxy_itself(start_socks5d):
    """localhost:<proxy port>: socks5d refuses its own listener, so remote DNS stays unverified."""
    proxy = start_socks5d()
    r = check("-x", proxy.url())
    f = lines(r)
    assert r.rc == 0, r
    assert f["CONNECT by name"].startswith("REP 02 "), r
    assert f["result"] == "OK for TCP (remote DNS not verified)", r


def test_name_resolved_but_nothing_listens(start_socks5d):
    """REP 05 comes from the target's address: the proxy did resolve the name."""
    proxy = start_socks5d()
    keep, closed = support.closed_port()
    try:
        r = check("-x", proxy.url(), "--check-target", "localhost:%d" % closed)
    finally:
        keep.close()
    f = lines(r)
    assert r.rc == 0, r
    assert f["CONNECT by name"] == "REP 05 connection refused (the proxy resolved the name; nothing listens there)", r
    assert f["result"] == "OK", r


def test_socks5d_login(start_socks5d):
    proxy, other = start_socks5d("-u", "alice:secret"), start_socks5d()
    r = check("-x", proxy.url(auth="alice:secret"), "--check-target", "localhost:%d" % other.port)
    f = lines(r)
    assert r.rc == 0, r
    assert "secret" not in r.out, r
    assert f["methods"] == "no-auth rejected; username/password accepted", r
    assert f["auth"] == "ok as 'alice'", r
    assert f["CONNECT by name"] == "ok", r
    assert f["result"] == "OK", r
    proxy.wait_session("localhost:%d" % other.port, user="alice")


def test_socks5d_wrong_password(start_socks5d):
    proxy = start_socks5d("-u", "alice:secret")
    r = check("-x", proxy.url(auth="alice:wrong"))
    f = lines(r)
    assert r.rc == 1, r
    assert f["auth"] == "failed (wrong user/password)", r
    assert f["result"].startswith("PROBLEMS"), r
    assert "CONNECT by name" not in f, r


def test_socks5d_login_missing_from_url(start_socks5d):
    proxy = start_socks5d("-u", "alice:secret")
    r = check("-x", proxy.url())
    f = lines(r)
    assert r.rc == 1, r
    assert f["methods"] == "no-auth rejected; username/password not offered (no user in the URL)", r
    assert f["auth"] == "needed, but the URL has no user:password", r


def test_credentials_for_a_proxy_without_login(start_socks5d):
    proxy = start_socks5d()
    r = check("-x", proxy.url(auth="alice:secret"), "--check-target", "[::1]:%d" % proxy.port)
    f = lines(r)
    assert r.rc == 0, r
    assert f["methods"] == "no-auth accepted; username/password rejected", r
    assert f["auth"] == "not needed", r


@needs("microsocks")
@pytest.mark.parametrize("auth", [(), ("alice", "secret")])
def test_microsocks_no_udp_and_no_pipelining(microsocks, auth):
    port = microsocks(*auth)
    url = "socks5://%s127.0.0.1:%d" % ("alice:secret@" if auth else "", port)
    r = check("-x", url)
    f = lines(r)
    assert r.rc == 0, r
    assert f["auth"] == ("ok as 'alice'" if auth else "not needed"), r
    assert f["handshake round trip"].endswith("(greeting+request pipelined: stalled -> sequential)"), r
    assert f["CONNECT by name"] == "ok", r
    assert f["UDP ASSOCIATE"] == "not supported (REP 07)", r
    assert f["result"] == "OK for TCP (no UDP ASSOCIATE)", r


def test_danted(danted, httpd):  # noqa: F811
    """Its test rules pass IP targets only (a name would get REP 02): an address target here."""
    _, port = danted
    r = check("-x", "socks5://127.0.0.1:%d" % port, "--check-target", "127.0.0.1:%d" % httpd.port)
    f = lines(r)
    assert r.rc == 0, r
    assert f["methods"] == "no-auth accepted; username/password not offered (no user in the URL)", r
    assert f["auth"] == "not needed", r
    assert f["handshake round trip"].endswith("(greeting+request pipelined: yes)"), r
    assert f["CONNECT"] == "ok", r
    assert f["UDP ASSOCIATE"].startswith("ok (relay 127.0.0.1:"), r
    assert f["result"] == "OK", r


def test_closed_port():
    keep, port = support.closed_port()
    try:
        r = check("-x", "socks5://127.0.0.1:%d" % port)
    finally:
        keep.close()
    f = lines(r)
    assert r.rc == 1, r
    assert f["proxy"] == "unreachable: Connection refused", r
    assert f["result"] == "PROBLEMS (the proxy is unreachable)", r


@pytest.mark.parametrize("mode, why", [
    ("garbage", "an answer that is not SOCKS5"),
    ("tarpit", "no answer (timed out)"),
    ("close", None),
])
def test_hostile_proxy(mode, why):
    p = ScriptedProxy(mode)
    try:
        r = check("-t", "1", "-x", p.url)
    finally:
        p.close()
    f = lines(r)
    assert r.rc == 1, r
    assert f["methods"].startswith("no usable answer to a greeting: "), r
    if why:
        assert f["methods"].endswith(why), r
    assert f["result"].startswith("PROBLEMS"), r


def test_unresolved_name_is_reported():
    """REP 04 (here scripted: no name is looked up anywhere) is what the proxy says when it
    cannot resolve the name; the proxy is still usable for TCP."""
    p = ScriptedProxy("rep", rep=4)
    try:
        r = check("-x", p.url, "--check-target", "no-such-name.example:80")
    finally:
        p.close()
    f = lines(r)
    assert r.rc == 0, r
    assert f["CONNECT by name"] == "REP 04 host unreachable (the proxy could not resolve or reach it)", r
    assert f["result"].startswith("OK for TCP (CONNECT by name failed"), r
    name = b"no-such-name.example"
    assert p.requests[0] == b"\x05\x01\x00\x03" + bytes([len(name)]) + name + b"\x00\x50", p.requests


@pytest.mark.parametrize("args, env, message", [
    ([], {}, "no proxy given"),
    (["-x", "ftp://127.0.0.1:1"], {}, "bad proxy URL"),
    (["-x", "socks5://127.0.0.1:1,"], {}, "bad proxy URL"),
    (["-x", "socks5://127.0.0.1:1", "--check-target", "nope"], {}, "bad --check-target"),
    (["-x", "socks5://127.0.0.1:1", "--check-target", "[::1]:0"], {}, "bad --check-target"),
    (["-x", "socks5://127.0.0.1:1", "ls"], {}, "--check takes no command"),
    (["-x", "socks5://127.0.0.1:1"], {"SOCKSIFY_TIMEOUT": "soon"}, "bad timeout"),
])
def test_usage_errors(args, env, message):
    r = check(*args, env=support.base_env(**env))
    assert r.rc == 2, r
    assert message in r.err, r
    assert r.out == "", r
