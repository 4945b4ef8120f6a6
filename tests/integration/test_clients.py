"""Real, unmodified programs fetch a known body through socksify.sh and socks5d.
Each test checks the content and that socks5d logged the session (so the
connection really went through the proxy)."""

import hashlib
import json

import pytest

import support
from support import json_out, needs, pyclient, socksify

TARGETS = [pytest.param("127.0.0.1", "127.0.0.1", id="ipv4"), pytest.param("::1", "[::1]", id="ipv6")]


@needs("curl")
@pytest.mark.parametrize("target, logged", TARGETS)
def test_curl(socks5d, httpd, bodies, tmp_path, target, logged):
    out = tmp_path / "out"
    r = socksify(socks5d.url(), ["curl", "-q", "-sS", "--max-time", "20", "-o", str(out), httpd.url(target)])
    assert r.rc == 0, r
    assert out.read_bytes() == bodies.data["body"]
    socks5d.wait_session("%s:%d" % (logged, httpd.port))


@needs("wget")
@pytest.mark.parametrize("target, logged", TARGETS)
def test_wget(socks5d, httpd, bodies, tmp_path, target, logged):
    out = tmp_path / "out"
    r = socksify(socks5d.url(), ["wget", "--no-config", "-q", "-t", "1", "-T", "20", "-O", str(out), httpd.url(target)])
    assert r.rc == 0, r
    assert out.read_bytes() == bodies.data["body"]
    socks5d.wait_session("%s:%d" % (logged, httpd.port))


@pytest.mark.parametrize("target, logged", TARGETS)
def test_python_blocking_socket(socks5d, httpd, bodies, target, logged):
    out = json_out(socksify(socks5d.url(), pyclient("get", target, httpd.port, "body")))
    assert out["errno"] is None, out
    assert out["sha256"] == bodies.sha("body")
    socks5d.wait_session("%s:%d" % (logged, httpd.port))


@pytest.mark.parametrize("target, logged", TARGETS)
def test_python_urllib(socks5d, httpd, bodies, target, logged):
    out = json_out(socksify(socks5d.url(), pyclient("urllib", httpd.url(target))))
    assert out["status"] == 200 and out["sha256"] == bodies.sha("body"), out
    socks5d.wait_session("%s:%d" % (logged, httpd.port))


@pytest.mark.parametrize("target, logged", TARGETS)
def test_python_asyncio_20_concurrent(socks5d, httpd, bodies, target, logged):
    out = json_out(socksify(socks5d.url(), pyclient("asyncio", 20, target, httpd.port, "body")))
    bad = [r for r in out["results"] if not isinstance(r, dict) or r["sha256"] != bodies.sha("body")]
    assert not bad, bad[:3]
    # asyncio's peername is the target, not the proxy
    assert all(r["peer"] == [target, httpd.port] for r in out["results"]), out["results"][:2]
    socks5d.wait_session("%s:%d" % (logged, httpd.port), count=20)


@pytest.mark.parametrize("target, logged", TARGETS)
def test_python_50_threads(socks5d, httpd, bodies, target, logged):
    out = json_out(socksify(socks5d.url(), pyclient("threads", 50, target, httpd.port, "body")))
    bad = [r for r in out["results"] if r != bodies.sha("body")]
    assert not bad, "%d of 50 failed, e.g. %s" % (len(bad), bad[:3])
    socks5d.wait_session("%s:%d" % (logged, httpd.port), count=50)


@pytest.mark.parametrize("target, logged", TARGETS)
def test_python_nonblocking_connect(socks5d, httpd, bodies, target, logged):
    out = json_out(socksify(socks5d.url(), pyclient("nonblock", target, httpd.port, "body")))
    assert out["errno"] is None, out
    assert out["connect_ex"] in (0, "EINPROGRESS"), out
    assert out["so_error"] == 0, out
    assert out["peer"] == [target, httpd.port], out
    assert out["sha256"] == bodies.sha("body")
    socks5d.wait_session("%s:%d" % (logged, httpd.port))


@pytest.mark.parametrize("target, logged", TARGETS)
def test_getpeername_is_the_target(socks5d, httpd, target, logged):
    out = json_out(socksify(socks5d.url(), pyclient("connect", target, httpd.port)))
    assert out["errno"] is None, out
    assert out["peer"] == [target, httpd.port], "getpeername() should be the target, not the proxy %s: %r" % (
        socks5d.listeners[0], out)
    socks5d.wait_session("%s:%d" % (logged, httpd.port))


NODE_GET = r"""
const http = require('http');
const crypto = require('crypto');
const [host, port, path] = process.argv.slice(1);
http.get({host: host, port: +port, path: path, family: host.includes(':') ? 6 : 4}, (res) => {
  const h = crypto.createHash('sha256');
  res.on('data', (c) => h.update(c));
  res.on('end', () => { console.log(res.statusCode + ' ' + h.digest('hex')); });
}).on('error', (e) => { console.log('error ' + e.code); process.exit(1); });
"""


@needs("node")
@pytest.mark.parametrize("target, logged", TARGETS)
def test_node_http_get(socks5d, httpd, bodies, target, logged):
    r = socksify(socks5d.url(), ["node", "-e", NODE_GET, target, str(httpd.port), "/body"])
    assert r.rc == 0, r
    assert r.out.split() == ["200", bodies.sha("body")], r
    socks5d.wait_session("%s:%d" % (logged, httpd.port))


@needs("curl", "wget")
def test_bash_runs_several_programs(socks5d, httpd, bodies, tmp_path):
    """Children of a socksified shell are socksified too."""
    script = """
set -e
curl -q -sS --max-time 20 -o "$D/curl4" "$U4"
wget --no-config -q -t 1 -T 20 -O "$D/wget6" "$U6"
python3 "$PYCLIENT" get ::1 "$PORT" text > "$D/py6"
( cd "$D" && curl -q -sS --max-time 20 -o curl6 "$U6" )
"""
    env = support.base_env(SOCKSIFY_NO_PROXY="", D=str(tmp_path), U4=httpd.url("127.0.0.1"),
                           U6=httpd.url("::1"), PYCLIENT=support.PYCLIENT, PORT=str(httpd.port))
    r = socksify(socks5d.url(), ["bash", "-c", script], env=env)
    assert r.rc == 0, r
    for name in ("curl4", "wget6", "curl6"):
        assert (tmp_path / name).read_bytes() == bodies.data["body"], name
    assert json.loads((tmp_path / "py6").read_text())["sha256"] == bodies.sha("text")
    socks5d.wait_session("127.0.0.1:%d" % httpd.port, count=1)
    socks5d.wait_session("[::1]:%d" % httpd.port, count=3)


def test_ipv6_proxy_url(socks5d, httpd, bodies):
    """socks5://[::1]:PORT as the proxy."""
    url = socks5d.url(1)
    assert url.startswith("socks5://[::1]:")
    out = json_out(socksify(url, pyclient("get", "127.0.0.1", httpd.port, "body")))
    assert out["sha256"] == bodies.sha("body"), out
    line = socks5d.wait_session("127.0.0.1:%d" % httpd.port)[0]
    assert "client=[::1]:" in line, line


def test_socks5h_scheme(socks5d, httpd, bodies):
    out = json_out(socksify(socks5d.url(scheme="socks5h"), pyclient("get", "::1", httpd.port, "body")))
    assert out["sha256"] == bodies.sha("body"), out
    socks5d.wait_session("[::1]:%d" % httpd.port)


def test_proxy_from_environment(socks5d, httpd, bodies):
    env = support.base_env(SOCKSIFY_NO_PROXY="", SOCKSIFY_PROXY=socks5d.url())
    out = json_out(socksify(None, pyclient("get", "127.0.0.1", httpd.port, "body"), env=env))
    assert out["sha256"] == bodies.sha("body"), out
    socks5d.wait_session("127.0.0.1:%d" % httpd.port)


def test_preload_without_wrapper(socks5d, httpd, bodies):
    env = support.preload_env(SOCKSIFY_NO_PROXY="", SOCKSIFY_PROXY=socks5d.url())
    out = json_out(support.run(pyclient("get", "::1", httpd.port, "body"), env=env))
    assert out["sha256"] == bodies.sha("body"), out
    socks5d.wait_session("[::1]:%d" % httpd.port)


def test_auth_through_wrapper(start_socks5d, httpd, bodies):
    d = start_socks5d("-u", "alice:s3cret")
    out = json_out(socksify(d.url(auth="alice:s3cret"), pyclient("get", "127.0.0.1", httpd.port, "body")))
    assert out["sha256"] == bodies.sha("body"), out
    d.wait_session("127.0.0.1:%d" % httpd.port, user="alice")


def test_loopback_goes_direct_by_default(socks5d, httpd, bodies):
    """Without SOCKSIFY_NO_PROXY the default (127.0.0.0/8,::1) sends loopback direct."""
    env = support.base_env()
    out = json_out(socksify(socks5d.url(), pyclient("get", "127.0.0.1", httpd.port, "body"), env=env))
    assert out["sha256"] == bodies.sha("body"), out
    out = json_out(socksify(socks5d.url(), pyclient("get", "::1", httpd.port, "body"), env=env))
    assert out["sha256"] == bodies.sha("body"), out
    # a proxied control connection afterwards proves the log would have shown them
    out = json_out(socksify(socks5d.url(), pyclient("get", "127.0.0.1", httpd.port, "small")))
    socks5d.wait_session("127.0.0.1:%d" % httpd.port)
    assert len(socks5d.sessions()) == 1, socks5d.sessions()


def test_no_proxy_option(socks5d, httpd, bodies):
    """-n 127.0.0.1 sends 127.0.0.1 direct and [::1] through the proxy."""
    out = json_out(socksify(socks5d.url(), pyclient("get", "127.0.0.1", httpd.port, "body"), opts=["-n", "127.0.0.1"]))
    assert out["sha256"] == bodies.sha("body"), out
    out = json_out(socksify(socks5d.url(), pyclient("get", "::1", httpd.port, "small"), opts=["-n", "127.0.0.1"]))
    assert out["sha256"] == bodies.sha("small"), out
    socks5d.wait_session("[::1]:%d" % httpd.port)
    assert not [l for l in socks5d.sessions() if "target=127.0.0.1:" in l], socks5d.sessions()


@needs("curl")
def test_big_body_both_ways(socks5d, httpd, bodies, tmp_path):
    """A 4 MB body, to exercise the relay beyond one buffer."""
    big = hashlib.sha256(b"seed").digest() * (4 * 1024 * 1024 // 32)
    bodies.add("big", big)
    out = tmp_path / "out"
    r = socksify(socks5d.url(), ["curl", "-q", "-sS", "--max-time", "30", "-o", str(out), httpd.url("::1", "big")])
    assert r.rc == 0, r
    assert out.read_bytes() == big
    line = socks5d.wait_session("[::1]:%d" % httpd.port)[0]
    assert int(line.split(" down=")[1].split()[0]) >= len(big), line


def test_socket_identity_follows_the_fd(socks5d, httpd, bodies):
    """getpeername() through dup, dup2, dup3, fcntl(F_DUPFD), fork, close and fd reuse."""
    out = json_out(socksify(socks5d.url(), pyclient("fdtable", "127.0.0.1", "::1", httpd.port, "body")))
    t4, t6 = ["127.0.0.1", httpd.port], ["::1", httpd.port]
    proxy = list(socks5d.listeners[0])
    bad = {step: out[step] for step in ("orig", "dup", "dup2", "dup3", "fcntl_dupfd", "fork", "dup_after_close")
           if out[step] != t4}
    assert not bad, "getpeername() is not the target %r (the proxy is %r) after: %r" % (t4, proxy, bad)
    assert out["body_via_dup"] == bodies.sha("body"), out
    assert out["reused"] == t6, out
    assert out["reused_by_pipe"] == "error: ENOTSOCK", out
    socks5d.wait_session("127.0.0.1:%d" % httpd.port)
    socks5d.wait_session("[::1]:%d" % httpd.port)


@pytest.mark.parametrize("target", ["127.0.0.1", "::1"])
def test_connected_udp_socket_peer_survives_dup(socks5d, target):
    """connect() on a datagram socket is emulated (README, UDP): its peer must be
    the same through every fd that refers to it."""
    out = json_out(socksify(socks5d.url(), pyclient("udpdup", target, 9)))
    assert out == {"orig": [target, 9], "dup": [target, 9], "dup2": [target, 9]}, out


def test_ipv4_mapped_ipv6_target(socks5d, httpd, bodies):
    """An AF_INET6 socket connecting to ::ffff:127.0.0.1 (as the JVM does) is proxied like IPv4."""
    out = json_out(socksify(socks5d.url(), pyclient("get", "::ffff:127.0.0.1", httpd.port, "body")))
    assert out["errno"] is None and out["sha256"] == bodies.sha("body"), out
    assert out["peer"] == ["::ffff:127.0.0.1", httpd.port], out
    line = socks5d.server.wait_log(r"session .*target=(127\.0\.0\.1|\[::ffff:127\.0\.0\.1\]):%d result=ok" % httpd.port)[0]
    assert line


def test_ipv4_mapped_loopback_is_direct_by_default(socks5d, httpd, bodies):
    out = json_out(socksify(socks5d.url(), pyclient("get", "::ffff:127.0.0.1", httpd.port, "body"), env=support.base_env()))
    assert out["sha256"] == bodies.sha("body"), out
    assert socks5d.sessions() == [], socks5d.sessions()
