"""socks5d's status line on SIGUSR1 and its config file (issue 8). Loopback
only; every wait is for a condition (a reply, a log line), never a timing."""

import os
import re
import signal
import socket
import struct

import pytest

import support
from support import sock_recv_exact

STATUS = re.compile(r"^socks5d\[\d+\]: status: (.*)$", re.M)


# --- peers: a TCP and a UDP echo server ---------------------------------------

@pytest.fixture
def echo():
    e = support.EchoServer(udp=True)
    yield e
    e.close()


# --- a byte-level SOCKS5 client ------------------------------------------------

def enc_v4(host, port):
    return b"\x01" + socket.inet_aton(host) + struct.pack("!H", port)


def greet(proxy, auth=None):
    s = socket.create_connection(proxy, 10)
    support.socks_greet(s, auth)
    return s


def request(s, cmd, host, port):
    """Sends a request; returns the reply's (host, port). IPv4 replies only (loopback IPv4 here)."""
    s.sendall(b"\x05" + bytes([cmd]) + b"\x00" + enc_v4(host, port))
    head = sock_recv_exact(s, 4)
    assert head[:3] == b"\x05\x00\x00" and head[3] == 1, "reply %r" % head
    addr = socket.inet_ntoa(sock_recv_exact(s, 4))
    return addr, struct.unpack("!H", sock_recv_exact(s, 2))[0]


def connect_via(proxy, target, auth=None):
    s = greet(proxy, auth)
    request(s, 1, *target)
    return s


def echo_through(s, n):
    data = os.urandom(n)
    s.sendall(data)
    assert sock_recv_exact(s, n, 10) == data


def udp_association(proxy, target, payload):
    """A UDP ASSOCIATE whose one datagram to target came back; returns (control, udp socket)."""
    ctl = greet(proxy)
    relay = request(ctl, 3, "0.0.0.0", 0)
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind(("127.0.0.1", 0))
    u.settimeout(10)
    head = b"\x00\x00\x00" + enc_v4(*target)
    u.sendto(head + payload, relay)
    data, _ = u.recvfrom(65536)
    assert data == head + payload
    return ctl, u


def status(d, count):
    """Sends SIGUSR1 and waits for the count-th status line; returns its fields."""
    d.server.signal(signal.SIGUSR1)
    line = d.server.wait_log(STATUS.pattern, count=count)[count - 1].group(1)
    fields = dict(re.findall(r"(\w+)=(\d+(?:\.\d+)?)", line))
    return {k: (float(v) if "." in v else int(v)) for k, v in fields.items()}


def expect(fields, **want):
    got = {k: fields.get(k) for k in want}
    assert got == want, "status fields %r, expected %r (all: %r)" % (got, want, fields)


# --- the status line -------------------------------------------------------------

@pytest.mark.parametrize("workers", [1, 2])
def test_status_counts_open_sessions(start_socks5d, echo, workers):
    d = start_socks5d("--workers", str(workers), "--max-conns", "50", listen=("127.0.0.1:0",))
    proxy = (d.host, d.port)
    tcp_target = echo.tcp.getsockname()
    udp_target = echo.udp.getsockname()

    idle = greet(proxy)  # the method reply came: the request is awaited
    relay = connect_via(proxy, tcp_target)
    echo_through(relay, 3000)
    ctl, u = udp_association(proxy, udp_target, b"x" * 100)

    f = status(d, 1)
    expect(f, workers=workers, conns=3, handshake=1, connecting=0, relay=1, udp=1, bind=0, closing=0,
           udp_assocs=1, sessions_total=3, bytes_up=3100, bytes_down=3100, udp_datagrams_up=1,
           udp_datagrams_down=1, refused=0, max_conns=50)
    assert "unanswered" not in f

    # An ended session's bytes stay counted; it no longer counts as open.
    relay.close()
    d.wait_session("127.0.0.1:%d" % tcp_target[1])
    f = status(d, 2)
    expect(f, conns=2, handshake=1, relay=0, udp=1, udp_assocs=1, sessions_total=3,
           bytes_up=3100, bytes_down=3100)

    # Still serving after two SIGUSR1s.
    again = connect_via(proxy, tcp_target)
    echo_through(again, 500)
    f = status(d, 3)
    expect(f, conns=3, relay=1, sessions_total=4, bytes_up=3600, bytes_down=3600)
    for s in (again, idle, ctl, u):
        s.close()


def test_status_counts_a_waiting_bind(start_socks5d):
    d = start_socks5d("--workers", "2", listen=("127.0.0.1:0",))
    s = greet((d.host, d.port))
    request(s, 2, "0.0.0.0", 0)  # the first reply: socks5d listens for the peer
    expect(status(d, 1), conns=1, bind=1, handshake=0, relay=0, sessions_total=1)
    s.close()


def test_status_line_is_logged_when_quiet(start_socks5d):
    d = start_socks5d("-q", listen=("127.0.0.1:0",))
    f = status(d, 1)
    expect(f, conns=0, sessions_total=0)
    assert f["uptime"] >= 0


def test_status_counts_refused_clients(start_socks5d):
    d = start_socks5d("--max-conns", "1", "--workers", "1", listen=("127.0.0.1:0",))
    first = greet((d.host, d.port))
    second = socket.create_connection((d.host, d.port), 10)
    assert second.recv(1) == b""  # accepted and closed at once: over --max-conns
    expect(status(d, 1), conns=1, refused=1, sessions_total=1)
    first.close()
    second.close()


# --- the config file ---------------------------------------------------------------

LISTENING = r"^socks5d: listening on ([0-9.]+):(\d+)$"


def config_file(tmp_path, text, mode=0o600):
    path = tmp_path / "socks5d.conf"
    path.write_text(text)
    path.chmod(mode)
    return str(path)


def start_with_config(start_socks5d, path, *args):
    """socks5d -c path args..., listening where the file says; returns it and its first listener."""
    d = start_socks5d("-c", path, *args, listen=())
    m = d.server.read_line(LISTENING)
    return d, (m.group(1), int(m.group(2)))


def test_config_file_listen_and_login(start_socks5d, echo, tmp_path):
    path = config_file(tmp_path, "# socks5d for the tests\n\n  listen 127.0.0.1:0  \n"
                       "login alice:s3cret\n\tworkers 1\n")
    d, proxy = start_with_config(start_socks5d, path)
    s = connect_via(proxy, echo.tcp.getsockname(), auth=("alice", "s3cret"))
    echo_through(s, 100)
    s.close()
    d.wait_session("127.0.0.1:%d" % echo.tcp.getsockname()[1], user="alice")
    # The login is required: a client without one is refused.
    s = socket.create_connection(proxy, 10)
    s.sendall(b"\x05\x01\x00")
    assert sock_recv_exact(s, 2) == b"\x05\xff"
    s.close()


def test_command_line_wins_over_config_file(start_socks5d, echo, tmp_path):
    """Single-value options: the command line's; repeatable ones (-l): both."""
    path = config_file(tmp_path, "listen 127.0.0.1:0\nworkers 2\nmax-conns 7\n")
    d = start_socks5d("-c", path, "--workers", "1", listen=("127.0.0.1:0",))
    ports = {int(d.server.read_line(LISTENING).group(2)), d.port}
    assert len(ports) == 2, "expected the file's listener and the command line's: %r" % d.server.lines
    expect(status(d, 1), workers=1, max_conns=7)
    for port in ports:
        s = connect_via(("127.0.0.1", port), echo.tcp.getsockname())
        echo_through(s, 10)
        s.close()


@pytest.mark.parametrize("text, lineno, what", [
    ("listen 127.0.0.1:0\n# fine\nworkers many\n", 3, "--workers"),
    ("\nno-such-option 1\n", 2, "unknown option 'no-such-option'"),
    ("listen\n", 1, "needs a value"),
    ("allow-open yes\n", 1, "takes no value"),
    ("config /etc/other.conf\n", 1, "no config file option"),
])
def test_config_file_bad_line(built, tmp_path, text, lineno, what):
    path = config_file(tmp_path, text)
    r = support.run([support.SOCKS5D, "-c", path], timeout=10)
    assert r.rc == 2, r
    assert "%s:%d:" % (path, lineno) in r.err and what in r.err, r.stderr


@pytest.mark.parametrize("mode, text", [
    (0o666, "listen 127.0.0.1:0\n"),  # others may rewrite it
    (0o620, "listen 127.0.0.1:0\n"),  # the group may
    (0o644, "login alice:s3cret\n"),  # holds a password others may read
])
def test_unsafe_config_file_is_refused(built, tmp_path, mode, text):
    path = config_file(tmp_path, text, mode)
    r = support.run([support.SOCKS5D, "-c", path], timeout=10)
    assert r.rc == 2, r
    assert "refusing it" in r.err and path in r.err, r.stderr
    assert "s3cret" not in r.err


def test_readable_config_file_without_logins_is_used(start_socks5d, tmp_path):
    d, proxy = start_with_config(start_socks5d, config_file(tmp_path, "listen 127.0.0.1:0\n", 0o644))
    greet(proxy).close()
