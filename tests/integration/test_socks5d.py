"""socks5d on its own: command line, listeners, signals, and the SOCKS5 protocol
as spoken by a small client written here byte by byte (RFC 1928 / RFC 1929)."""

import hashlib
import signal
import socket
import struct
import time

import pytest

import support
from support import hostport, recv_all, sock_recv_exact


def test_help_exits_zero(built):
    r = support.run([support.SOCKS5D, "--help"])
    assert r.rc == 0, r
    assert "-l" in r.out + r.err, r


def test_bad_option_fails(built):
    r = support.run([support.SOCKS5D, "--no-such-option"], timeout=10)
    assert r.rc != 0, r
    assert r.err.strip(), "a bad option should say why on stderr: %r" % r


@pytest.mark.parametrize("listen", ["127.0.0.1:notaport", "[::1:0", "999.1.1.1:0", "127.0.0.1:65536"])
def test_bad_listen_address_fails(built, listen):
    r = support.run([support.SOCKS5D, "-l", listen], timeout=10)
    assert r.rc != 0, r
    assert "listening on" not in r.out, r


def test_port_in_use_fails(built):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    try:
        r = support.run([support.SOCKS5D, "-l", "127.0.0.1:%d" % s.getsockname()[1]], timeout=10)
    finally:
        s.close()
    assert r.rc != 0, r
    assert "listening on" not in r.out, r


def test_listens_on_ipv4_and_ipv6_port_zero(start_socks5d):
    d = start_socks5d(listen=("127.0.0.1:0", "[::1]:0"))
    (h4, p4), (h6, p6) = d.listeners
    assert (h4, h6) == ("127.0.0.1", "::1")
    assert p4 > 0 and p6 > 0
    for fam, addr in ((socket.AF_INET, (h4, p4)), (socket.AF_INET6, (h6, p6))):
        with socket.socket(fam) as s:
            s.settimeout(5)
            s.connect(addr)
            s.sendall(b"\x05\x01\x00")
            assert sock_recv_exact(s, 2) == b"\x05\x00"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_signal_exits_zero_promptly(start_socks5d, httpd, sig):
    d = start_socks5d()
    # An idle client and an established session must not keep it from exiting.
    idle = socket.create_connection((d.host, d.port), 5)
    busy = socks_connect(d.host, d.port, ("127.0.0.1", httpd.port))
    t0 = time.monotonic()
    rc = d.stop(sig, timeout=3)
    elapsed = time.monotonic() - t0
    idle.close()
    busy.close()
    assert rc == 0, "exit status %r after signal %d; log:\n%s" % (rc, sig, d.log())
    assert elapsed < 2, "took %.2fs to exit" % elapsed


# --- a byte-level SOCKS5 client ---------------------------------------------

def enc_addr(target):
    host, port = target
    try:
        return b"\x01" + socket.inet_pton(socket.AF_INET, host) + struct.pack("!H", port)
    except OSError:
        pass
    try:
        return b"\x04" + socket.inet_pton(socket.AF_INET6, host) + struct.pack("!H", port)
    except OSError:
        pass
    name = host.encode()
    return b"\x03" + bytes([len(name)]) + name + struct.pack("!H", port)


def read_reply(s):
    """Reads a whole CONNECT reply; returns (rep, atyp, bound_addr_bytes, port)."""
    head = sock_recv_exact(s, 4)
    assert head[0] == 5 and head[2] == 0, "bad reply header %r" % head
    atyp = head[3]
    if atyp == 1:
        addr = sock_recv_exact(s, 4)
    elif atyp == 4:
        addr = sock_recv_exact(s, 16)
    elif atyp == 3:
        addr = sock_recv_exact(s, sock_recv_exact(s, 1)[0])
    else:
        raise AssertionError("bad ATYP %d in reply %r" % (atyp, head))
    port = struct.unpack("!H", sock_recv_exact(s, 2))[0]
    return head[1], atyp, addr, port


def socks_connect(phost, pport, target, auth=None, expect_rep=0):
    fam = socket.AF_INET6 if ":" in phost else socket.AF_INET
    s = socket.socket(fam)
    s.settimeout(10)
    s.connect((phost, pport))
    support.socks_greet(s, auth)
    s.sendall(b"\x05\x01\x00" + enc_addr(target))
    rep, atyp, addr, port = read_reply(s)
    assert rep == expect_rep, "REP %d, expected %d" % (rep, expect_rep)
    return s


def http_get_on(s, host, name):
    s.sendall(("GET /%s HTTP/1.0\r\nHost: %s\r\n\r\n" % (name, host)).encode())
    data = recv_all(s)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200"), head[:200]
    return body


@pytest.mark.parametrize("target_host, logged", [
    ("127.0.0.1", "127.0.0.1"),
    ("::1", "[::1]"),
    ("localhost", "localhost"),
])
def test_python_client_connect(socks5d, httpd, bodies, target_host, logged):
    s = socks_connect(socks5d.host, socks5d.port, (target_host, httpd.port))
    body = http_get_on(s, target_host, "body")
    s.close()
    assert body == bodies.data["body"]
    line = socks5d.wait_session("%s:%d" % (logged, httpd.port))[0]
    assert "user=-" in line or "user=" in line
    # up/down count the relayed bytes: the whole body came down.
    down = int(line.split(" down=")[1].split()[0])
    assert down >= len(bodies.data["body"]), line


def test_python_client_over_ipv6_listener(socks5d, httpd, bodies):
    h6, p6 = socks5d.listeners[1]
    s = socks_connect(h6, p6, ("127.0.0.1", httpd.port))
    assert http_get_on(s, "127.0.0.1", "small") == bodies.data["small"]
    s.close()
    line = socks5d.wait_session("127.0.0.1:%d" % httpd.port)[0]
    assert "client=[::1]:" in line, line


def test_whole_handshake_in_one_segment(socks5d, httpd, bodies):
    """Greeting, request and HTTP request pipelined: the server must not drop what
    follows a message in the same read."""
    s = socket.create_connection((socks5d.host, socks5d.port), 10)
    req = b"GET /small HTTP/1.0\r\nHost: x\r\n\r\n"
    s.sendall(b"\x05\x01\x00" + b"\x05\x01\x00" + enc_addr(("127.0.0.1", httpd.port)) + req)
    assert sock_recv_exact(s, 2) == b"\x05\x00"
    assert read_reply(s)[0] == 0
    data = recv_all(s)
    s.close()
    assert data.partition(b"\r\n\r\n")[2] == bodies.data["small"]


def test_handshake_split_into_single_bytes(socks5d, httpd, bodies):
    """One byte per segment: the server must not assume one recv() is one message."""
    s = socket.create_connection((socks5d.host, socks5d.port), 10)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    msg = b"\x05\x02\x01\x00" + b"\x05\x01\x00" + enc_addr(("::1", httpd.port))
    for i, b in enumerate(msg):
        s.send(bytes([b]))
        if i == 3:
            assert sock_recv_exact(s, 2) == b"\x05\x00"
        time.sleep(0.005)  # pacing so the bytes leave as separate segments, not a wait
    assert read_reply(s)[0] == 0
    assert http_get_on(s, "::1", "small") == bodies.data["small"]
    s.close()


def test_closed_port_gives_rep_05(socks5d):
    keep, port = support.closed_port()
    try:
        s = socks_connect(socks5d.host, socks5d.port, ("127.0.0.1", port), expect_rep=5)
        s.close()
    finally:
        keep.close()
    socks5d.wait_session("127.0.0.1:%d" % port, result="refused")


def test_unknown_command_is_refused_with_rep_07(socks5d):
    s = socket.create_connection((socks5d.host, socks5d.port), 10)
    s.sendall(b"\x05\x01\x00")
    assert sock_recv_exact(s, 2) == b"\x05\x00"
    s.sendall(b"\x05\x09\x00" + enc_addr(("127.0.0.1", 9)))
    assert read_reply(s)[0] == 7
    s.close()
    socks5d.server.wait_log(r"session .*result=cmd-unsupported")


def test_udp_associate_names_a_relay(socks5d):
    """UDP ASSOCIATE (socks5d supports it): REP 00 and a relay address one can send to."""
    s = socket.create_connection((socks5d.host, socks5d.port), 10)
    s.sendall(b"\x05\x01\x00")
    assert sock_recv_exact(s, 2) == b"\x05\x00"
    s.sendall(b"\x05\x03\x00" + enc_addr(("0.0.0.0", 0)))
    rep, atyp, addr, port = read_reply(s)
    assert rep == 0 and port != 0, (rep, atyp, addr, port)
    s.close()


def test_no_acceptable_method(socks5d):
    s = socket.create_connection((socks5d.host, socks5d.port), 10)
    s.sendall(b"\x05\x01\x01")  # GSSAPI only
    assert sock_recv_exact(s, 2) == b"\x05\xff"
    assert recv_all(s) == b"", "connection should be closed after 0xFF"
    s.close()
    socks5d.server.wait_log(r"session .*result=no-acceptable-method")


def test_wrong_version_is_a_bad_request(socks5d):
    s = socket.create_connection((socks5d.host, socks5d.port), 10)
    s.sendall(b"\x04\x01\x00\x50\x7f\x00\x00\x01\x00")  # a SOCKS4 request
    data = recv_all(s)
    s.close()
    assert data in (b"", b"\x05\xff"), data
    socks5d.server.wait_log(r"session .*result=bad-request")


def test_handshake_timeout(start_socks5d):
    d = start_socks5d("--handshake-timeout", "1", listen=("127.0.0.1:0",))
    s = socket.create_connection((d.host, d.port), 10)
    s.sendall(b"\x05")  # half a greeting, then silence
    t0 = time.monotonic()
    assert recv_all(s, timeout=5) == b""
    s.close()
    assert time.monotonic() - t0 < 3
    d.server.wait_log(r"session .*result=handshake-timeout")


# --- RFC 1929 ---------------------------------------------------------------

def test_auth_right_password(start_socks5d, httpd, bodies):
    d = start_socks5d("-u", "alice:s3cret", "-u", "bob:other")
    s = socks_connect(d.host, d.port, ("127.0.0.1", httpd.port), auth=("alice", "s3cret"))
    assert http_get_on(s, "127.0.0.1", "small") == bodies.data["small"]
    s.close()
    d.wait_session("127.0.0.1:%d" % httpd.port, user="alice")


def test_auth_users_file(start_socks5d, httpd, bodies, tmp_path):
    users = tmp_path / "users"
    users.write_text("# test users\ncarol:pa:ss\ndave:x\n")
    users.chmod(0o600)  # socks5d refuses a users file others can read
    d = start_socks5d("--users", str(users))
    s = socks_connect(d.host, d.port, ("::1", httpd.port), auth=("carol", "pa:ss"))
    assert http_get_on(s, "::1", "small") == bodies.data["small"]
    s.close()
    d.wait_session("[::1]:%d" % httpd.port, user="carol")


@pytest.mark.parametrize("user, password", [("alice", "wrong"), ("mallory", "s3cret"), ("alice", "s3cre")])
def test_auth_wrong_credentials(start_socks5d, user, password):
    d = start_socks5d("-u", "alice:s3cret")
    s = socket.create_connection((d.host, d.port), 10)
    s.sendall(b"\x05\x01\x02")
    assert sock_recv_exact(s, 2) == b"\x05\x02"
    u, p = user.encode(), password.encode()
    s.sendall(b"\x01" + bytes([len(u)]) + u + bytes([len(p)]) + p)
    reply = sock_recv_exact(s, 2)
    assert reply[0] == 1 and reply[1] != 0, reply
    assert recv_all(s) == b"", "connection must close after a failed login"
    s.close()
    d.server.wait_log(r"session .*result=auth-failed")


def test_auth_required_refuses_noauth_client(start_socks5d):
    d = start_socks5d("-u", "alice:s3cret")
    s = socket.create_connection((d.host, d.port), 10)
    s.sendall(b"\x05\x01\x00")
    assert sock_recv_exact(s, 2) == b"\x05\xff"
    s.close()
    d.server.wait_log(r"session .*result=no-acceptable-method")


# --- curl's own SOCKS5 client against socks5d --------------------------------

def curl(*args):
    return support.run(["curl", "-q", "-sS", "--max-time", "20"] + list(args))


@pytest.mark.parametrize("opt, target, logged", [
    ("--socks5", "127.0.0.1", "127.0.0.1"),
    ("--socks5", "::1", "[::1]"),
    ("--socks5-hostname", "localhost", "localhost"),
    ("--socks5-hostname", "127.0.0.1", "127.0.0.1"),
])
def test_curl_native_socks5(socks5d, httpd, bodies, tmp_path, opt, target, logged):
    out = tmp_path / "out"
    r = curl(opt, hostport(socks5d.host, socks5d.port), "-o", str(out), httpd.url(target))
    assert r.rc == 0, r
    assert out.read_bytes() == bodies.data["body"]
    socks5d.wait_session("%s:%d" % (logged, httpd.port))


def test_curl_native_via_ipv6_listener(socks5d, httpd, bodies, tmp_path):
    out = tmp_path / "out"
    r = curl("-x", socks5d.url(1, scheme="socks5h"), "-o", str(out), httpd.url("localhost"))
    assert r.rc == 0, r
    assert out.read_bytes() == bodies.data["body"]
    line = socks5d.wait_session("localhost:%d" % httpd.port)[0]
    assert "client=[::1]:" in line


def test_curl_native_auth(start_socks5d, httpd, bodies, tmp_path):
    d = start_socks5d("-u", "alice:s3cret")
    out = tmp_path / "out"
    r = curl("-x", d.url(auth="alice:s3cret"), "-o", str(out), httpd.url("127.0.0.1"))
    assert r.rc == 0, r
    assert out.read_bytes() == bodies.data["body"]
    d.wait_session("127.0.0.1:%d" % httpd.port, user="alice")


def test_curl_native_auth_wrong_password(start_socks5d, httpd):
    d = start_socks5d("-u", "alice:s3cret")
    r = curl("-x", d.url(auth="alice:nope"), "-o", "/dev/null", httpd.url("127.0.0.1"))
    assert r.rc == 97, r  # CURLE_PROXY: the SOCKS handshake failed
    d.server.wait_log(r"session .*result=auth-failed")


def test_curl_native_closed_port(socks5d):
    keep, port = support.closed_port()
    try:
        r = curl("--socks5", hostport(socks5d.host, socks5d.port), "http://127.0.0.1:%d/" % port)
    finally:
        keep.close()
    assert r.rc == 97, r
    socks5d.wait_session("127.0.0.1:%d" % port, result="refused")


def test_many_parallel_sessions(socks5d, httpd, bodies):
    """40 sessions at once through one socks5d, each body intact."""
    socks = [socks_connect(socks5d.host, socks5d.port, ("127.0.0.1", httpd.port)) for _ in range(40)]
    for s in socks:
        s.sendall(b"GET /body HTTP/1.0\r\nHost: x\r\n\r\n")
    want = hashlib.sha256(bodies.data["body"]).hexdigest()
    for s in socks:
        data = recv_all(s)
        s.close()
        assert hashlib.sha256(data.partition(b"\r\n\r\n")[2]).hexdigest() == want
    socks5d.wait_session("127.0.0.1:%d" % httpd.port, count=40)
