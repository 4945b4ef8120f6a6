"""Our library against other SOCKS5 servers: microsocks and Dante (danted).
(Our server against other clients - curl's own SOCKS5 - is in test_socks5d.py.)"""


import pytest

import support
from support import json_out, needs, pyclient, socksify, start_danted, start_on_free_port  # noqa: F401 (test_check, test_chain import them from here)


@pytest.fixture
def microsocks(tmp_path):
    started = []

    def start(*auth):
        args = ["-u", auth[0], "-P", auth[1]] if auth else []
        s, port = start_on_free_port(tmp_path, "microsocks",
                                     lambda p: [support.tool("microsocks"), "-i", "127.0.0.1", "-p", str(p)] + args)
        started.append(s)
        return port

    yield start
    for s in started:
        s.stop()


@needs("microsocks")
@pytest.mark.parametrize("target", ["127.0.0.1", "::1"])
def test_microsocks_no_auth(microsocks, httpd, bodies, target):
    port = microsocks()
    out = json_out(socksify("socks5://127.0.0.1:%d" % port, pyclient("get", target, httpd.port, "body")))
    assert out["sha256"] == bodies.sha("body"), out
    assert out["peer"] == [target, httpd.port], out


@needs("microsocks", "curl")
def test_microsocks_auth_curl(microsocks, httpd, bodies, tmp_path):
    port = microsocks("alice", "s3cret")
    out = tmp_path / "out"
    r = socksify("socks5://alice:s3cret@127.0.0.1:%d" % port,
                 ["curl", "-q", "-sS", "--max-time", "20", "-o", str(out), httpd.url("::1")])
    assert r.rc == 0, r
    assert out.read_bytes() == bodies.data["body"]


@needs("microsocks")
def test_microsocks_auth_wrong_password(microsocks, httpd):
    port = microsocks("alice", "s3cret")
    out = json_out(socksify("socks5://alice:wrong@127.0.0.1:%d" % port, pyclient("connect", "127.0.0.1", httpd.port)))
    assert out["errno"] == "EACCES", out
    assert out["elapsed"] < 2, out


@needs("microsocks")
def test_microsocks_auth_not_given(microsocks, httpd):
    port = microsocks("alice", "s3cret")
    out = json_out(socksify("socks5://127.0.0.1:%d" % port, pyclient("connect", "127.0.0.1", httpd.port)))
    assert out["errno"] == "EACCES", out


@needs("microsocks")
def test_microsocks_closed_port(microsocks):
    port = microsocks()
    keep, closed = support.closed_port()
    try:
        out = json_out(socksify("socks5://127.0.0.1:%d" % port, pyclient("connect", "127.0.0.1", closed)))
    finally:
        keep.close()
    assert out["errno"] == "ECONNREFUSED", out


@needs("microsocks")
def test_microsocks_50_threads(microsocks, httpd, bodies):
    port = microsocks()
    out = json_out(socksify("socks5://127.0.0.1:%d" % port, pyclient("threads", 50, "127.0.0.1", httpd.port, "body")))
    bad = [r for r in out["results"] if r != bodies.sha("body")]
    assert not bad, bad[:3]


DANTED_RULES = """\
socks pass { from: 127.0.0.0/8 to: 127.0.0.0/8 log: connect disconnect }
socks pass { from: 127.0.0.0/8 to: ::1/128 log: connect disconnect }
"""
DANTED_EXTERNAL = ("127.0.0.1", "::1")


@pytest.fixture
def danted(tmp_path):
    s, port = start_danted(tmp_path, DANTED_RULES, external=DANTED_EXTERNAL)
    yield s, port
    s.stop()


@pytest.mark.parametrize("target", ["127.0.0.1", "::1"])
def test_danted(danted, httpd, bodies, target):
    server, port = danted
    out = json_out(socksify("socks5://127.0.0.1:%d" % port, pyclient("get", target, httpd.port, "body")))
    assert out["sha256"] == bodies.sha("body"), out
    # danted logged the connect to our target (it went through the proxy)
    server.wait_log(r"pass\(\d+\): tcp/connect .*%s\.%d" % (target.replace(".", r"\."), httpd.port))


@needs("curl", "wget")
def test_danted_curl_and_wget(danted, httpd, bodies, tmp_path):
    server, port = danted
    proxy = "socks5://127.0.0.1:%d" % port
    r = socksify(proxy, ["curl", "-q", "-sS", "--max-time", "20", "-o", str(tmp_path / "c"), httpd.url("127.0.0.1")])
    assert r.rc == 0, r
    r = socksify(proxy, ["wget", "--no-config", "-q", "-t", "1", "-T", "20", "-O", str(tmp_path / "w"), httpd.url("::1")])
    assert r.rc == 0, r
    assert (tmp_path / "c").read_bytes() == bodies.data["body"]
    assert (tmp_path / "w").read_bytes() == bodies.data["body"]


def test_danted_closed_port(danted):
    server, port = danted
    keep, closed = support.closed_port()
    try:
        out = json_out(socksify("socks5://127.0.0.1:%d" % port, pyclient("connect", "127.0.0.1", closed)))
    finally:
        keep.close()
    assert out["errno"] == "ECONNREFUSED", out


def test_danted_ruleset_block_is_eacces(tmp_path, httpd):
    """A Dante 'socks block' rule answers REP 02 (not allowed): EACCES."""
    s, port = start_danted(tmp_path, DANTED_RULES.replace("socks pass", "socks block", 1), "danted-block",
                           external=DANTED_EXTERNAL)
    try:
        out = json_out(socksify("socks5://127.0.0.1:%d" % port, pyclient("connect", "127.0.0.1", httpd.port)))
    finally:
        s.stop()
    assert out["errno"] == "EACCES", out
