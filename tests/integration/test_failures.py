"""Failure paths: each must give the program a clean errno within the deadline,
and never fall back to a direct connection."""

import os
import re
import socket

import pytest

import support
from scripted_proxy import ScriptedProxy
from support import PYTHON, json_out, pyclient, socksify


def connect_errno(proxy, host, port, opts=(), env=None, timeout=30):
    r = socksify(proxy, pyclient("connect", host, port), opts=opts, env=env, timeout=timeout)
    return json_out(r), r


@pytest.fixture
def scripted():
    made = []

    def make(mode, rep=0, host="127.0.0.1"):
        p = ScriptedProxy(mode, rep, host)
        made.append(p)
        return p

    yield make
    for p in made:
        p.close()


class Listener:
    """A listening socket that records whether anyone connected: the target of
    tests where a connection must NOT reach it directly."""

    def __init__(self, host="127.0.0.1"):
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.sock.setblocking(False)
        self.host, self.port = host, self.sock.getsockname()[1]

    def connections(self):
        n = 0
        while True:
            try:
                c, _ = self.sock.accept()
            except BlockingIOError:
                return n
            c.close()
            n += 1

    def close(self):
        self.sock.close()


@pytest.fixture
def listener():
    made = []

    def make(host="127.0.0.1"):
        l = Listener(host)
        made.append(l)
        return l

    yield make
    for l in made:
        l.close()


@pytest.mark.parametrize("target", ["127.0.0.1", "::1"])
def test_closed_target_port(socks5d, target):
    keep, port = support.closed_port(target)
    try:
        out, r = connect_errno(socks5d.url(), target, port)
    finally:
        keep.close()
    assert out["errno"] == "ECONNREFUSED", out
    assert out["elapsed"] < 2, out
    socks5d.wait_session("%s:%d" % ("[::1]" if target == "::1" else target, port), result="refused")


def test_proxy_down(listener):
    """Nothing listens on the proxy port: ECONNREFUSED at once, and no direct connection."""
    proxy_keep, proxy_port = support.closed_port()
    target = listener()
    try:
        out, r = connect_errno("socks5://127.0.0.1:%d" % proxy_port, target.host, target.port)
    finally:
        proxy_keep.close()
    assert out["errno"] == "ECONNREFUSED", out
    assert out["elapsed"] < 2, out
    assert target.connections() == 0, "the connection went direct to the target"


@pytest.mark.parametrize("how", ["env", "option"])
def test_tarpit_proxy_times_out(scripted, listener, how):
    """A proxy that accepts and never answers: ETIMEDOUT after SOCKSIFY_TIMEOUT, not a hang."""
    tarpit = scripted("tarpit")
    target = listener()
    if how == "env":
        env = support.base_env(SOCKSIFY_NO_PROXY="", SOCKSIFY_TIMEOUT="1")
        out, r = connect_errno(tarpit.url, target.host, target.port, env=env)
    else:
        out, r = connect_errno(tarpit.url, target.host, target.port, opts=["-t", "1"])
    assert out["errno"] == "ETIMEDOUT", out
    assert 0.8 <= out["elapsed"] < 2.5, out
    assert tarpit.accepted == 1
    assert target.connections() == 0


def test_decimal_timeout(scripted, listener):
    tarpit = scripted("tarpit")
    target = listener()
    out, r = connect_errno(tarpit.url, target.host, target.port, opts=["-t", "0.5"])
    assert out["errno"] == "ETIMEDOUT", out
    assert 0.3 <= out["elapsed"] < 1.5, out


@pytest.mark.parametrize("rep, err", [
    (1, "ECONNREFUSED"), (2, "EACCES"), (3, "ENETUNREACH"), (4, "EHOSTUNREACH"),
    (5, "ECONNREFUSED"), (6, "ETIMEDOUT"), (7, "EOPNOTSUPP"), (8, "EAFNOSUPPORT"),
])
def test_reply_code_to_errno(scripted, listener, rep, err):
    proxy = scripted("rep", rep)
    target = listener()
    out, r = connect_errno(proxy.url, target.host, target.port)
    assert out["errno"] == err, out
    assert out["elapsed"] < 2, out
    # the proxy saw a CONNECT for exactly our target, and the target saw nothing
    assert proxy.requests == [b"\x05\x01\x00\x01" + socket.inet_aton("127.0.0.1") + target.port.to_bytes(2, "big")]
    assert target.connections() == 0


@pytest.mark.parametrize("mode", ["close", "garbage"])
def test_broken_proxy(scripted, listener, mode):
    proxy = scripted(mode)
    target = listener()
    out, r = connect_errno(proxy.url, target.host, target.port)
    assert out["errno"] == "ECONNREFUSED", out
    assert out["elapsed"] < 2, out
    assert target.connections() == 0


def test_wrong_credentials(start_socks5d, listener):
    d = start_socks5d("-u", "alice:s3cret")
    target = listener()
    out, r = connect_errno(d.url(auth="alice:wrong"), target.host, target.port)
    assert out["errno"] == "EACCES", out
    assert out["elapsed"] < 2, out
    assert "auth" in r.err.lower() or "password" in r.err.lower(), "no log line about the rejected login: %r" % r
    assert "wrong" not in r.err, "the password leaked into the log: %r" % r.err
    d.server.wait_log(r"session .*result=auth-failed")
    assert target.connections() == 0


def test_credentials_missing(start_socks5d, listener):
    d = start_socks5d("-u", "alice:s3cret")
    target = listener()
    out, r = connect_errno(d.url(), target.host, target.port)
    assert out["errno"] == "EACCES", out
    assert target.connections() == 0


def test_credentials_rejected_by_scripted_proxy(scripted, listener):
    proxy = scripted("auth")
    target = listener()
    out, r = connect_errno(proxy.url.replace("socks5://", "socks5://bob:pw@"), target.host, target.port)
    assert out["errno"] == "EACCES", out


# --- the wrapper refuses bad configuration before running anything ----------

@pytest.mark.parametrize("url, names", [
    ("socks5://127.0.0.1:99999", ["99999"]),
    ("socks5://127.0.0.1:0", ["port"]),
    ("socks5://127.0.0.1:abc", ["abc"]),
    ("https://127.0.0.1:1080", ["https"]),
    ("socks4://bob:pw@127.0.0.1:1080", ["socks4", "password"]),
    ("socks5://127.0.0.1:1080,socks5://127.0.0.1:0", ["hop 2"]),
    ("socks4://127.0.0.1:1080,socks5://localhost:1080", ["socks4", "name"]),
    (",".join(["socks5://127.0.0.1:1080"] * 9), ["at most 8"]),
    ("socks5://::1:1080", ["bracket"]),
    ("socks5://", ["host"]),
    ("socks5://[::1:1080", ["["]),
    ("socks5://user:@127.0.0.1:1080", ["password"]),
])
def test_malformed_url(built, tmp_path, url, names):
    marker = tmp_path / "ran"
    r = socksify(url, ["touch", str(marker)])
    assert r.rc == 2, r
    lines = r.err.strip().splitlines()
    assert len(lines) == 1, "expected one line on stderr: %r" % r
    assert any(n.lower() in lines[0].lower() for n in names), "message does not name the bad part (%s): %r" % (names, lines[0])
    assert not marker.exists(), "the command ran despite the bad URL"


def test_no_proxy_configured(built, tmp_path):
    marker = tmp_path / "ran"
    r = socksify(None, ["touch", str(marker)])
    assert r.rc != 0, r
    assert "proxy" in r.err.lower(), r
    assert not marker.exists()


@pytest.mark.parametrize("proxy", [None, "", "garbage", "socks5://127.0.0.1:99999"])
def test_library_fails_closed(built, listener, proxy):
    """Preloaded directly with no or a bad SOCKSIFY_PROXY: connections fail, never go direct."""
    target = listener()
    env = support.preload_env(SOCKSIFY_NO_PROXY="", SOCKSIFY_PROXY=proxy)
    out = json_out(support.run(pyclient("connect", target.host, target.port), env=env))
    assert out["errno"] is not None, "connect() succeeded with SOCKSIFY_PROXY=%r: %r" % (proxy, out)
    assert out["errno"] == "ECONNREFUSED", out
    assert target.connections() == 0, "the connection went direct"


def test_library_fails_closed_ipv6(built, listener):
    target = listener("::1")
    env = support.preload_env(SOCKSIFY_NO_PROXY="", SOCKSIFY_PROXY=None)
    out = json_out(support.run(pyclient("connect", target.host, target.port), env=env))
    assert out["errno"] == "ECONNREFUSED", out
    assert target.connections() == 0


# --- logging options -----------------------------------------------------------

def closed_target_run(socks5d, opts=(), env=None):
    keep, port = support.closed_port()
    try:
        out, r = connect_errno(socks5d.url(), "127.0.0.1", port, opts=opts, env=env)
    finally:
        keep.close()
    assert out["errno"] == "ECONNREFUSED", out
    socks5d.wait_session("127.0.0.1:%d" % port, result="refused")  # it did go through the library
    return r


LOGLINE = r"^socksify\[\d+\]: (error|warn|info|debug): "


def test_error_is_logged_by_default(socks5d):
    r = closed_target_run(socks5d)
    assert re.search(LOGLINE.replace("(error|warn|info|debug)", "error"), r.err, re.M), r


def test_quiet_logs_nothing(socks5d):
    r = closed_target_run(socks5d, opts=["-q"])
    assert "socksify[" not in r.err, r


def test_verbose_logs_info_and_debug(socks5d, httpd):
    r = socksify(socks5d.url(), pyclient("get", "127.0.0.1", httpd.port, "small"), opts=["-v"])
    assert r.rc == 0, r
    assert re.search(r"^socksify\[\d+\]: info: .*127\.0\.0\.1:%d" % httpd.port, r.err, re.M), r
    assert "debug:" not in r.err, r
    r = socksify(socks5d.url(), pyclient("get", "127.0.0.1", httpd.port, "small"), opts=["-vv"])
    assert r.rc == 0, r
    assert re.search(r"^socksify\[\d+\]: debug: ", r.err, re.M), r


def test_log_file(socks5d, tmp_path):
    log = tmp_path / "socksify.log"
    r = closed_target_run(socks5d, opts=["--log-file", str(log)])
    assert "socksify[" not in r.err, r
    assert re.search(r"^socksify\[\d+\]: error: ", log.read_text(), re.M), log.read_text()


# --- the wrapper itself ------------------------------------------------------

def test_wrapper_help_and_version(built):
    r = support.run([support.WRAPPER, "--help"])
    assert r.rc == 0 and "-x" in r.out, r
    r = support.run([support.WRAPPER, "-h"])
    assert r.rc == 0, r
    r = support.run([support.WRAPPER, "--version"])
    assert r.rc == 0 and r.out.strip(), r


def test_wrapper_bad_option(built):
    r = support.run([support.WRAPPER, "--bogus", "true"])
    assert r.rc != 0 and "--bogus" in r.err, r


def test_wrapper_appends_to_ld_preload(socks5d):
    extra = "/lib/x86_64-linux-gnu/libz.so.1"
    if not os.path.exists(extra):
        pytest.skip("no %s to preload" % extra)
    env = support.base_env(SOCKSIFY_NO_PROXY="")
    before = ":".join(filter(None, [env.get("LD_PRELOAD"), extra]))
    env["LD_PRELOAD"] = before
    r = socksify(socks5d.url(), [PYTHON, "-c", "import os; print(os.environ['LD_PRELOAD'])"], env=env)
    assert r.rc == 0, r
    assert r.out.strip() == before + ":" + support.LIB, r


def test_wrapper_finds_library_next_to_itself(socks5d, httpd, bodies):
    """Without SOCKSIFY_LIB the wrapper finds build/libsocksify.so by itself."""
    if support.BUILD != os.path.join(support.ROOT, "build"):
        pytest.skip("the wrapper looks in <repo>/build, not in %s" % support.BUILD)
    env = support.base_env(SOCKSIFY_NO_PROXY="", SOCKSIFY_LIB=None)
    out = json_out(socksify(socks5d.url(), pyclient("get", "127.0.0.1", httpd.port, "small"), env=env))
    assert out["sha256"] == bodies.sha("small")
    socks5d.wait_session("127.0.0.1:%d" % httpd.port)


@pytest.fixture
def static_program(tmp_path):
    gcc = support.tool("gcc")
    if not gcc:
        pytest.skip("gcc not installed")
    src = tmp_path / "hello.c"
    src.write_text('#include <stdio.h>\nint main(void) { puts("static ran"); return 0; }\n')
    exe = tmp_path / "hello-static"
    r = support.run([gcc, "-static", "-o", str(exe), str(src)], env=support.base_env(LD_PRELOAD=None))
    if r.rc != 0:
        pytest.skip("cannot link statically here: %s" % r.err.strip()[:200])
    return str(exe)


def test_static_program_warning(socks5d, static_program):
    # By default it runs under socksify-supervise (test_wrapper.py checks that it is proxied).
    r = socksify(socks5d.url(), [static_program])
    assert r.rc == 0 and "static ran" in r.out and not r.err, r
    # --supervise never: refused unless --force, which runs it with a warning.
    r = socksify(socks5d.url(), [static_program], opts=["--supervise", "never"])
    assert r.rc == 126 and "statically linked" in r.err, r
    r = socksify(socks5d.url(), [static_program], opts=["--supervise", "never", "--force"])
    assert r.rc == 0 and "static ran" in r.out, r
    assert "statically linked" in r.err, r


def test_setuid_program_warning(socks5d, tmp_path):
    exe = tmp_path / "true-setuid"
    with open("/usr/bin/true", "rb") as src:
        exe.write_bytes(src.read())
    os.chmod(exe, 0o4755)
    r = socksify(socks5d.url(), [str(exe)])
    assert "setuid" in r.err, r
    r = socksify(socks5d.url(), [str(exe)], opts=["--force"])
    assert r.rc == 0, r
    assert "setuid" in r.err, r
