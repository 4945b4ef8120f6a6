"""socks5d against hostile clients and with its secure defaults (issue 6).

Storms of idle connections, slowloris handshakes, garbage, half-closed and
vanishing clients, strangers' datagrams; after each, socks5d's fd count must
come back exactly to its baseline and its RSS close to it, and a well-behaved
client must have kept working. Then the rules: --deny-to/--allow-to,
--allow-from, the refusal to relay into its own listeners, the refusal of an
open non-loopback listener and of a users file others can read, --user."""

import os
import pwd
import re
import resource
import select
import signal
import socket
import struct
import subprocess
import threading
import time

import pytest

import support
from conftest import Socks5d
from hostile import peers
from support import Server, hostport, recv_all, sock_recv_exact

# RSS may stay a little above the baseline (malloc keeps freed chunks); ASan
# also keeps freed memory in quarantine. Leaks proper are ASan's job at exit.
RSS_SLACK_KB = 64 * 1024 if support.SANITIZE else 6 * 1024
SLOW, wait_until = support.SLOW, support.wait_until
enc_addr = support.socks_addr


@pytest.fixture(scope="module", autouse=True)
def _many_fds():
    """The storms hold thousands of sockets in this process."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = min(hard, 16384) if hard != resource.RLIM_INFINITY else 16384
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.fixture
def start(built, tmp_path):
    """start(*args, listen=[...], prefix=[...], env_extra={}) -> Socks5d. Like conftest's
    start_socks5d, but the command may be wrapped (prlimit, unshare) and the
    environment changed; each is stopped after the test and must exit 0 without
    a sanitizer report."""
    started = []

    def start_(*args, listen=("127.0.0.1:0",), prefix=(), asan_options=None):
        cmd = list(prefix) + [support.SOCKS5D]
        for l in listen:
            cmd += ["-l", l]
        cmd += list(args)
        env = support.base_env()
        if support.SANITIZE:
            env.pop("LD_PRELOAD", None)
            env["ASAN_OPTIONS"] = asan_options or "detect_leaks=1"
        log = str(tmp_path / ("socks5d-%d.log" % len(started)))
        s = Server(cmd, log, env=env, name="socks5d")
        listeners = []
        for _ in listen:
            m = s.read_line(r"^socks5d: listening on (?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):(\d+)$")
            listeners.append((m.group(1) or m.group(2), int(m.group(3))))
        d = Socks5d(s, listeners)
        d.pid = s.proc.pid
        started.append(d)
        return d

    yield start_
    problems = []
    for d in started:
        if d.server.proc.poll() is None:
            rc = d.stop()
            if rc != 0:
                problems.append("socks5d exited with %r on SIGTERM; log:\n%s" % (rc, d.log()[-3000:]))
        elif d.server.returncode is None:  # not stopped by the test itself
            problems.append("socks5d died during the test (status %r); log:\n%s" % (
                d.server.proc.returncode, d.log()[-3000:]))
        if support.SANITIZE:
            m = support.SANITIZER_REPORT.search(d.log())
            if m:
                problems.append("socks5d sanitizer report:\n" + d.log()[m.start():m.start() + 3000])
    assert not problems, "\n".join(problems)


# --- measuring socks5d ------------------------------------------------------

def fd_count(d):
    return len(os.listdir("/proc/%d/fd" % d.pid))


def rss_kb(d):
    with open("/proc/%d/status" % d.pid) as f:
        return int(re.search(r"^VmRSS:\s+(\d+) kB", f.read(), re.M).group(1))


def status_field(pid, name, task=None):
    path = "/proc/%d/task/%d/status" % (pid, task) if task else "/proc/%d/status" % pid
    with open(path) as f:
        return re.search(r"^%s:\s*(.*)$" % name, f.read(), re.M).group(1).split()


class Baseline:
    """socks5d's fds and RSS once it has served one session (pools warmed up)."""

    def __init__(self, d):
        self.d = d
        # The session of the warm-up fetch must be over, its two fds closed.
        d.server.wait_log(r"session .*result=ok")
        self.fds = fd_count(d)
        self.rss = rss_kb(d)

    def check(self, what):
        d = self.d
        assert d.server.proc.poll() is None, "socks5d died after %s; log:\n%s" % (what, d.log()[-3000:])
        wait_until(lambda: fd_count(d) == self.fds, 10,
                   lambda: "%s: socks5d has %d fds, baseline %d: %s" % (
                       what, fd_count(d), self.fds, sorted(os.listdir("/proc/%d/fd" % d.pid))))
        rss = rss_kb(d)
        assert rss - self.rss <= RSS_SLACK_KB, "%s: RSS %d kB, baseline %d kB" % (what, rss, self.rss)
        print("%s: fds %d -> %d, RSS %d kB -> %d kB" % (what, self.fds, fd_count(d), self.rss, rss))
        return rss


# --- a byte-level client ----------------------------------------------------

def read_reply(s):
    head = sock_recv_exact(s, 4)
    assert head[0] == 5 and head[2] == 0, "bad reply header %r" % head
    n = {1: 4, 4: 16}.get(head[3])
    if n is None:
        n = sock_recv_exact(s, 1)[0]
    addr = sock_recv_exact(s, n)
    port = struct.unpack("!H", sock_recv_exact(s, 2))[0]
    return head[1], head[3], addr, port


def socks_request(s, host, port, cmd=1, auth=None):
    """Greeting (+ login) and request on a connected socket; returns the reply tuple."""
    s.settimeout(10 * SLOW)
    support.socks_greet(s, auth)
    s.sendall(bytes([5, cmd, 0]) + enc_addr(host, port))
    return read_reply(s)


def connect_proxy(d, i=0):
    h, p = d.listeners[i]
    return socket.create_connection((h, p), 10 * SLOW)


def socks_connect(d, host, port, expect_rep=0, i=0, auth=None):
    s = connect_proxy(d, i)
    rep = socks_request(s, host, port, auth=auth)[0]
    assert rep == expect_rep, "REP %d, expected %d for %s" % (rep, expect_rep, hostport(host, port))
    return s


def http_get(s, name):
    s.sendall(("GET /%s HTTP/1.0\r\nHost: x\r\n\r\n" % name).encode())
    data = recv_all(s, timeout=20 * SLOW)
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.0 200"), head[:200]
    return body


def fetch(d, httpd, bodies, name="small", target="127.0.0.1"):
    """The well-behaved client: one GET through socks5d, content checked."""
    s = socks_connect(d, target, httpd.port)
    try:
        assert http_get(s, name) == bodies.data[name]
    finally:
        s.close()


def curl(d, url, out):
    return support.run([support.tool("curl"), "-sS", "--max-time", "20", "--socks5", hostport(*d.listeners[0]),
                        "-o", out, url], timeout=30)


class Bystander:
    """A well-behaved client fetching in a loop in a thread while a storm runs."""

    def __init__(self, d, httpd, bodies):
        self.ok, self.errors = 0, []
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, args=(d, httpd, bodies), daemon=True)
        self._t.start()

    def _run(self, d, httpd, bodies):
        while not self._stop.is_set():
            try:
                fetch(d, httpd, bodies)
                self.ok += 1
            except (AssertionError, OSError) as e:
                self.errors.append(repr(e))
            time.sleep(0.05)  # pacing: a client that fetches now and then, not a flood

    def finish(self):
        self._stop.set()
        self._t.join(30)
        assert not self.errors, "the well-behaved client failed during the storm: %s" % self.errors[:5]
        assert self.ok >= 1, "the well-behaved client never got through"
        return self.ok


def closed_by_peer(s):
    """True when the peer has closed (FIN or RST): nothing more will come."""
    try:
        s.setblocking(False)
        data = s.recv(65536)
        while data:
            data = s.recv(65536)
        return True
    except BlockingIOError:
        return False
    except OSError:
        return True


def drain_until_closed(s, timeout):
    """Reads until EOF or RST; returns what came, or fails after timeout."""
    s.settimeout(timeout * SLOW)
    got = b""
    try:
        while True:
            c = s.recv(65536)
            if not c:
                return got
            got += c
    except socket.timeout:
        raise AssertionError("still open after %.1fs (got %r)" % (timeout * SLOW, got[:64]))
    except ConnectionResetError:
        return got


def connect_many(d, n):
    socks = []
    h, p = d.listeners[0]
    for _ in range(n):
        s = socket.socket(socket.AF_INET6 if ":" in h else socket.AF_INET)
        s.settimeout(10)
        s.connect((h, p))
        socks.append(s)
    return socks


# --- storms -----------------------------------------------------------------

def test_idle_connection_storm_beyond_max_conns(start, httpd, bodies):
    """5000 idle clients against --max-conns 1000: the first 1000 are kept, the
    others closed at once, nothing crashes; kept ones still work; all fds and
    (nearly) all memory come back."""
    d = start("--max-conns", "1000", "--handshake-timeout", "60")
    fetch(d, httpd, bodies)
    base = Baseline(d)

    socks = connect_many(d, 5000)
    poller = select.poll()
    for s in socks:
        poller.register(s, select.POLLIN)

    def refused():
        readable = {fd for fd, _ in poller.poll(0)}
        return [s for s in socks if s.fileno() in readable]

    wait_until(lambda: len(refused()) == 4000, 20, lambda: "%d of 5000 clients closed, want 4000" % len(refused()))
    gone = set(map(id, refused()))
    kept = [s for s in socks if id(s) not in gone]
    assert fd_count(d) == base.fds + 1000, "socks5d holds %d fds for 1000 sessions (baseline %d)" % (
        fd_count(d), base.fds)
    for s in socks:
        if id(s) in gone:
            assert closed_by_peer(s)
    d.server.wait_log(r"connection limit \(1000\) reached")
    print("storm: 1000 sessions at %d fds, RSS %d kB (baseline %d fds, %d kB)" % (
        fd_count(d), rss_kb(d), base.fds, base.rss))

    # At the limit, a newcomer is closed promptly rather than left hanging.
    late = connect_proxy(d)
    assert drain_until_closed(late, 5) == b""
    late.close()

    # Sessions that were kept are unaffected: they finish a handshake and fetch.
    for s in kept[:3] + kept[-2:]:
        s.setblocking(True)
        assert socks_request(s, "127.0.0.1", httpd.port)[0] == 0
        assert http_get(s, "small") == bodies.data["small"]
    for s in socks:
        s.close()
    after_first = base.check("5000 idle clients")
    fetch(d, httpd, bodies)

    # Again: freed memory is reused, so a leak per session shows as growth here.
    socks = connect_many(d, 5000)
    wait_until(lambda: fd_count(d) == base.fds + 1000, 20, lambda: "socks5d has %d fds" % fd_count(d))
    for s in socks:
        s.close()
    after_second = base.check("5000 idle clients, second round")
    # Under ASan freed memory sits in quarantine instead; its leak check at exit covers this.
    if not support.SANITIZE:
        assert after_second - after_first <= 512, (
            "RSS grew by %d kB in the second round of the same storm" % (after_second - after_first))


def test_fd_exhaustion_drops_clients_cleanly(start, httpd, bodies):
    """With only 128 fds and a --max-conns far above it, accept() runs out of fds:
    socks5d must drop newcomers (its spare-fd trick), not spin or leave them hanging."""
    d = start("--max-conns", "1000", "--handshake-timeout", "60", prefix=["prlimit", "--nofile=128:128", "--"])
    fetch(d, httpd, bodies)
    base = Baseline(d)
    socks = connect_many(d, 600)
    wait_until(lambda: sum(closed_by_peer(s) for s in socks[-100:]) == 100, 10,
               "the last 100 of 600 clients should have been dropped")
    late = connect_proxy(d)
    assert drain_until_closed(late, 5) == b""
    late.close()
    d.server.wait_log(r"out of file descriptors; dropped a client")
    # Idle ones occupy all fds; once they go, service resumes.
    for s in socks:
        s.close()
    base.check("600 clients at RLIMIT_NOFILE 128")
    fetch(d, httpd, bodies)


def test_slowloris_handshakes_cut_at_handshake_timeout(start, httpd, bodies):
    """Clients that dribble a byte every 300 ms never stop looking alive; the
    handshake timeout is a deadline from accept, so they go after ~1 s."""
    d = start("--handshake-timeout", "1")
    fetch(d, httpd, bodies)
    base = Baseline(d)
    by = Bystander(d, httpd, bodies)

    socks = connect_many(d, 200)
    t0 = time.monotonic()
    greeting = b"\x05\xff" + bytes(range(1, 256))  # 255 methods, one a step: ~77 s if never cut
    closed_at = {}
    step = 0
    while len(closed_at) < len(socks) and time.monotonic() - t0 < 5 * SLOW:
        for s in socks:
            if s in closed_at:
                continue
            if closed_by_peer(s):
                closed_at[s] = time.monotonic() - t0
                continue
            try:
                s.send(greeting[step:step + 1])
            except OSError:
                closed_at[s] = time.monotonic() - t0
        step += 1
        time.sleep(0.3)  # the dribble rate under test
    assert len(closed_at) == len(socks), "%d of %d slow clients still open after %.1fs" % (
        len(socks) - len(closed_at), len(socks), time.monotonic() - t0)
    first, last = min(closed_at.values()), max(closed_at.values())
    assert first >= 0.9, "a slow client was closed after %.2fs, before the 1 s timeout" % first
    assert last <= 2.5 * SLOW, "slow clients lasted up to %.2fs with a 1 s timeout" % last
    for s in socks:
        s.close()
    d.server.wait_log(r"result=handshake-timeout", count=200)
    print("slowloris: 200 clients closed between %.2fs and %.2fs; bystander fetched %d times" % (
        first, last, by.finish()))
    base.check("200 slowloris clients")


def garbage_payloads():
    import random
    rnd = random.Random(6)
    # Random bytes, but never a byte 5 where a request's VER could start: garbage
    # must not turn into a CONNECT to a name (a DNS lookup outside our control).
    junk = bytes(b if b != 5 else 6 for b in rnd.randbytes(4096))
    return {
        "random": b"\x00" + junk,
        "socks5-then-random": b"\x05\x08" + bytes(range(0x80, 0x88)) + junk,
        "http": b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        "socks4": b"\x04\x01\x00\x50\x7f\x00\x00\x01user\x00",
        "request-wrong-version": b"\x05\x01\x00" + b"\x04\x01\x00\x01\x7f\x00\x00\x01\x00\x50",
        "request-zero-flood": b"\x05\x01\x00" + bytes(65536),
        "empty-domain": b"\x05\x01\x00" + b"\x05\x01\x00\x03\x00\x00\x50",
        "unknown-atyp": b"\x05\x01\x00" + b"\x05\x01\x00\x09" + junk[:32],
        "unknown-cmd": b"\x05\x01\x00" + b"\x05\x7f\x00\x01\x7f\x00\x00\x01\x00\x50",
        "bad-login": b"\x05\x01\x02" + b"\x02\x00\x00",
        "greeting-no-methods": b"\x05\x00",
        "truncated-request": b"\x05\x01\x00\x05\x01\x00\x04\x00\x00",
    }


def test_garbage_clients(start, httpd, bodies):
    d = start("--handshake-timeout", "1")
    fetch(d, httpd, bodies)
    base = Baseline(d)
    by = Bystander(d, httpd, bodies)
    socks = []
    for name, payload in garbage_payloads().items():
        for _ in range(10):
            s = connect_proxy(d)
            try:
                s.sendall(payload)
            except OSError:
                pass  # closed before we finished: fine, that is the point
            socks.append((name, s))
    for name, s in socks:
        try:
            drain_until_closed(s, 4)
        except AssertionError as e:
            raise AssertionError("%s: %s" % (name, e))
        s.close()
    by.finish()
    base.check("garbage clients")


def test_half_closed_clients(start, httpd, bodies):
    d = start("--handshake-timeout", "2")
    echo = peers.TcpPeer("echo")
    fetch(d, httpd, bodies)
    base = Baseline(d)
    by = Bystander(d, httpd, bodies)
    try:
        for _ in range(20):
            # FIN right after the greeting: the answer still comes, then our close.
            s = connect_proxy(d)
            s.sendall(b"\x05\x01\x00")
            s.shutdown(socket.SHUT_WR)
            assert drain_until_closed(s, 5) == b"\x05\x00"
            s.close()

            # FIN right after the HTTP request: the whole answer still comes back.
            s = connect_proxy(d)
            s.sendall(b"\x05\x01\x00" + b"\x05\x01\x00" + enc_addr("127.0.0.1", httpd.port) +
                      b"GET /body HTTP/1.0\r\nHost: x\r\n\r\n")
            s.shutdown(socket.SHUT_WR)
            data = drain_until_closed(s, 10)
            s.close()
            head, _, body = data[2 + 10:].partition(b"\r\n\r\n")
            assert data[:4] == b"\x05\x00\x05\x00" and body == bodies.data["body"], data[:64]

            # FIN mid-relay: everything sent is echoed back, then the FIN comes back.
            s = socks_connect(d, "127.0.0.1", echo.port)
            payload = os.urandom(200 * 1024)
            threading.Thread(target=lambda: (s.sendall(payload), s.shutdown(socket.SHUT_WR)), daemon=True).start()
            assert drain_until_closed(s, 10) == payload
            s.close()
        wait_until(lambda: echo.open == 0, 5, "echo peer still has %d connections" % echo.open)
        by.finish()
        base.check("half-closed clients")
    finally:
        echo.close()


def test_clients_vanishing_mid_transfer(start, httpd, bodies):
    """RST (SO_LINGER 0) from the client while the target is still sending, and
    during the handshake: socks5d must end the session and pass the abort on."""
    d = start()
    hose = peers.TcpPeer("firehose")
    fetch(d, httpd, bodies)
    base = Baseline(d)
    by = Bystander(d, httpd, bodies)
    rst = struct.pack("ii", 1, 0)
    try:
        socks = []
        for _ in range(50):
            s = socks_connect(d, "127.0.0.1", hose.port)
            sock_recv_exact(s, 100 * 1024)
            socks.append(s)
        wait_until(lambda: hose.open == 50, 5, lambda: "firehose has %d connections" % hose.open)
        for s in socks:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, rst)
            s.close()
        for _ in range(50):
            s = connect_proxy(d)
            s.sendall(b"\x05\x01\x00")
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, rst)
            s.close()
        wait_until(lambda: hose.open == 0, 10, lambda: "firehose still has %d connections" % hose.open)
        by.finish()
        base.check("clients vanishing mid-transfer")
    finally:
        hose.close()


def udp_associate(d, client_udp):
    """UDP ASSOCIATE announcing the client's UDP address; returns (control, relay addr)."""
    ctl = connect_proxy(d)
    h, p = client_udp.getsockname()[:2]
    rep, atyp, addr, port = socks_request(ctl, h, p, cmd=3)
    assert rep == 0, "UDP ASSOCIATE: REP %d" % rep
    fam = socket.AF_INET if atyp == 1 else socket.AF_INET6
    return ctl, (socket.inet_ntop(fam, addr), port)


def udp_wrap(host, port, payload):
    return b"\x00\x00\x00" + enc_addr(host, port) + payload


def test_udp_strangers_to_relay_port(start, httpd, bodies):
    d = start()
    echo = peers.UdpEcho()
    fetch(d, httpd, bodies)
    base = Baseline(d)
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.bind(("127.0.0.1", 0))
    client.settimeout(5)
    stranger = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    stranger.bind(("127.0.0.1", 0))
    try:
        ctl, relay = udp_associate(d, client)
        # Before the client's first datagram and after it: strangers are dropped.
        for rnd in range(2):
            for i in range(50):
                stranger.sendto(udp_wrap("127.0.0.1", echo.port, b"stranger %d" % i), relay)
                stranger.sendto(os.urandom(i * 20), relay)
            client.sendto(udp_wrap("127.0.0.1", echo.port, b"hello %d" % rnd), relay)
            data, src = client.recvfrom(65536)
            assert src[1] == relay[1] and data == udp_wrap("127.0.0.1", echo.port, b"hello %d" % rnd), data
        assert [p for _, p in echo.received] == [b"hello 0", b"hello 1"], echo.received[:5]
        ctl.close()
        line = d.server.wait_log(r"session .*cmd=udp-associate .*result=ok.*$")[0].group(0)
        assert "dgrams_up=2 " in line and "dropped=200 " in line, line
        base.check("UDP strangers")
        fetch(d, httpd, bodies)
    finally:
        echo.close()
        client.close()
        stranger.close()


# --- rules ------------------------------------------------------------------

CURL_PROXY_ERROR = 97  # CURLE_PROXY: curl >= 7.73 reports a SOCKS REP this way


@support.needs("curl")
def test_deny_to_gives_rep_02(start, httpd, bodies, tmp_path):
    d = start("--allow-to", "127.0.0.1:%d" % httpd.port, "--deny-to", "127.0.0.0/8", "--deny-to", "[::1]")
    fetch(d, httpd, bodies)  # allowed by the first rule
    keep, closed = support.closed_port()
    try:
        # Denied before any connect: REP 02, not the REP 05 the closed port would give.
        socks_connect(d, "127.0.0.1", closed, expect_rep=2).close()
        socks_connect(d, "::1", httpd.port, expect_rep=2).close()
        # A name is checked per resolved address; "localhost" here is only 127.0.0.1.
        socks_connect(d, "localhost", closed, expect_rep=2).close()
        # A literal address sent as a name (ATYP 3) is no way around the rules.
        s = connect_proxy(d)
        s.sendall(b"\x05\x01\x00")
        assert sock_recv_exact(s, 2) == b"\x05\x00"
        s.sendall(b"\x05\x01\x00\x03\x09127.0.0.1" + struct.pack("!H", closed))
        assert read_reply(s)[0] == 2
        s.close()
    finally:
        keep.close()
    out = str(tmp_path / "out")
    r = curl(d, "http://[::1]:%d/small" % httpd.port, out)
    # curl 7.88: "(97) Can't complete SOCKS5 connection to ::1. (2)": the REP code last.
    assert r.rc == CURL_PROXY_ERROR and "(2)" in r.err, r
    r = curl(d, "http://127.0.0.1:%d/small" % httpd.port, out)
    assert r.rc == 0, r
    with open(out, "rb") as f:
        assert f.read() == bodies.data["small"]
    d.wait_session("[::1]:%d" % httpd.port, result="not-allowed", count=2)
    d.wait_session("127.0.0.1:%d" % closed, result="not-allowed")


def test_domain_target_skips_denied_addresses(start, httpd, bodies, tmp_path):
    """A name with two addresses, one denied: the other is used; both denied: REP 02.
    socks5d runs in its own mount namespace with a hosts file of ours over /etc/hosts,
    so no DNS server is asked."""
    if os.geteuid() != 0 or not support.tool("unshare"):
        pytest.skip("needs root and unshare (a private /etc/hosts)")
    hosts = tmp_path / "hosts"
    hosts.write_text("127.0.0.1 localhost\n127.0.0.1 both.hostile.test\n::1 both.hostile.test\n")
    wrap = ["unshare", "-m", "--propagation", "private", "sh", "-c",
            'mount --bind "$0" /etc/hosts && exec "$@"', str(hosts)]
    d = start("--deny-to", "127.0.0.0/8", "-v", prefix=wrap)
    s = socks_connect(d, "both.hostile.test", httpd.port)
    assert http_get(s, "small") == bodies.data["small"]
    s.close()
    line = d.wait_session("both.hostile.test:%d" % httpd.port)[0]
    assert "skipping target=both.hostile.test:%d (127.0.0.1:%d)" % (httpd.port, httpd.port) in d.log(), d.log()
    d2 = start("--deny-to", "127.0.0.0/8", "--deny-to", "::1", prefix=wrap)
    socks_connect(d2, "both.hostile.test", httpd.port, expect_rep=2).close()
    d2.wait_session("both.hostile.test:%d" % httpd.port, result="not-allowed")
    assert line


def test_deny_to_applies_to_udp_datagrams(start):
    echo = peers.UdpEcho()
    other = peers.UdpEcho()
    d = start("--deny-to", "127.0.0.1:%d" % echo.port)
    client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    client.bind(("127.0.0.1", 0))
    client.settimeout(5)
    try:
        ctl, relay = udp_associate(d, client)
        for i in range(5):
            client.sendto(udp_wrap("127.0.0.1", echo.port, b"denied %d" % i), relay)
        # Also to socks5d's own listener: a loop, refused like a denied target.
        client.sendto(udp_wrap("127.0.0.1", d.port, b"loop"), relay)
        client.sendto(udp_wrap("127.0.0.1", other.port, b"allowed"), relay)
        data, _ = client.recvfrom(65536)
        assert data == udp_wrap("127.0.0.1", other.port, b"allowed")
        ctl.close()
        line = d.server.wait_log(r"session .*cmd=udp-associate .*$")[0].group(0)
        assert "dgrams_up=1 " in line and "denied=6 " in line, line
        assert echo.count() == 0, echo.received
    finally:
        echo.close()
        other.close()
        client.close()


def test_allow_from_closes_other_clients(start, httpd, bodies):
    d = start("--allow-from", "127.0.0.1", listen=("127.0.0.1:0", "[::1]:0"))
    fetch(d, httpd, bodies)  # from 127.0.0.1 over the IPv4 listener
    base = Baseline(d)
    for _ in range(20):
        s = connect_proxy(d, 1)  # from ::1: not in the list
        try:
            s.sendall(b"\x05\x01\x00")
        except OSError:
            pass
        assert drain_until_closed(s, 5) == b""
        s.close()
    d.server.wait_log(r"refused client=\[::1\]:\d+: not in --allow-from")
    # One line a second at most: a scan does not flood the log.
    assert len(re.findall("refused client=", d.log())) <= 3, d.log()
    d3 = start("--allow-from", "10.0.0.0/8", "--allow-from", "192.168.0.0/16")
    s = connect_proxy(d3)
    assert drain_until_closed(s, 5) == b""
    s.close()
    d3.server.wait_log(r"refused client=127\.0\.0\.1:\d+: not in --allow-from")
    base.check("refused clients")


def test_connect_to_own_listener_is_refused(start, httpd, bodies):
    d = start(listen=("127.0.0.1:0", "[::1]:0"))
    (h4, p4), (h6, p6) = d.listeners
    for host, port in ((h4, p4), (h6, p6), ("0.0.0.0", p4), ("::", p6)):
        socks_connect(d, host, port, expect_rep=2).close()
    d.server.wait_log(r"refusing target=.*one of socks5d's own listeners", count=4)
    d.server.wait_log(r"session .*target=127\.0\.0\.1:%d result=not-allowed" % p4)
    # Same port on an address it does not listen on is somebody else: not a loop.
    socks_connect(d, "127.0.0.2", p4, expect_rep=5).close()
    fetch(d, httpd, bodies)


def test_connect_to_own_wildcard_listener_is_refused(start, httpd, bodies):
    d = start("--allow-open", listen=("0.0.0.0:0",))
    port = d.port
    for host in ("127.0.0.1", "127.0.0.2", "0.0.0.0"):
        socks_connect(d, host, port, expect_rep=2).close()
    # Any other local address: the first non-loopback IPv4 of this host, if any.
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope", "global"], capture_output=True, text=True).stdout
    m = re.search(r"inet (\d+\.\d+\.\d+\.\d+)/", out)
    if m:
        socks_connect(d, m.group(1), port, expect_rep=2).close()
    keep, closed = support.closed_port()
    try:
        socks_connect(d, "127.0.0.1", closed, expect_rep=5).close()  # other ports are not us
    finally:
        keep.close()
    s = socks_connect(d, "127.0.0.1", httpd.port)
    assert http_get(s, "small") == bodies.data["small"]
    s.close()
    # An IPv6 wildcard listener is IPv6-only: the same port over IPv4 is not us.
    d6 = start("--allow-open", listen=("[::]:0",))
    for host in ("::1", "::"):
        socks_connect(d6, host, d6.port, expect_rep=2).close()
    s = connect_proxy(d6)
    assert socks_request(s, "127.0.0.1", d6.port)[0] != 2
    s.close()


@pytest.mark.parametrize("listen", ["0.0.0.0:0", "[::]:0", "192.0.2.1:0"])
def test_open_listener_without_auth_is_refused(built, listen):
    r = support.run([support.SOCKS5D, "-l", "127.0.0.1:0", "-l", listen], timeout=10)
    assert r.rc == 2, r
    assert "listening on" not in r.out, r
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and listen.replace(":0", "") in lines[0] and "--allow-open" in lines[0], r


def test_open_listener_allowed_with_allow_open_or_login(start, httpd, bodies):
    d = start("--allow-open", listen=("0.0.0.0:0",))
    s = socket.create_connection(("127.0.0.1", d.port), 5)
    assert socks_request(s, "127.0.0.1", httpd.port)[0] == 0
    assert http_get(s, "small") == bodies.data["small"]
    s.close()
    d2 = start("-u", "alice:s3cret", listen=("[::]:0",))
    s = socket.create_connection(("::1", d2.port), 5)
    assert socks_request(s, "::1", httpd.port, auth=("alice", "s3cret"))[0] == 0
    s.close()


def test_users_file_must_be_private(built, start, httpd, bodies, tmp_path):
    users = tmp_path / "users"
    users.write_text("carol:t0psecret\n")
    for mode in (0o644, 0o640, 0o604, 0o620):
        users.chmod(mode)
        r = support.run([support.SOCKS5D, "-l", "127.0.0.1:0", "--users", str(users)], timeout=10)
        assert r.rc == 2 and "listening on" not in r.out, r
        assert "%04o" % mode in r.err and "chmod 600" in r.err and "t0psecret" not in r.err, r
    users.chmod(0o600)
    if os.geteuid() == 0:
        os.chown(str(users), 65534, 65534)  # someone else's file: they could rewrite it
        r = support.run([support.SOCKS5D, "-l", "127.0.0.1:0", "--users", str(users)], timeout=10)
        assert r.rc == 2 and "owned by uid 65534" in r.err, r
        os.chown(str(users), 0, 0)
    d = start("--users", str(users))
    s = socks_connect(d, "127.0.0.1", httpd.port, auth=("carol", "t0psecret"))
    assert http_get(s, "small") == bodies.data["small"]
    s.close()


def test_passwords_never_logged(start, httpd):
    d = start("-v", "-u", "alice:Pa55-word", "-u", "bob:0ther-Secret")
    socks_connect(d, "127.0.0.1", httpd.port, auth=("alice", "Pa55-word")).close()
    s = connect_proxy(d)
    s.sendall(b"\x05\x01\x02\x01\x05alice\x0cwrong-Secret")
    assert sock_recv_exact(s, 4) == b"\x05\x02\x01\x01"
    s.close()
    d.server.wait_log(r"result=auth-failed")
    with open("/proc/%d/cmdline" % d.pid, "rb") as f:
        cmdline = f.read()
    d.stop()
    for secret in ("Pa55-word", "0ther-Secret", "wrong-Secret"):
        assert secret not in d.log(), d.log()
        assert secret.encode() not in cmdline, cmdline


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to switch users")
def test_user_drops_privileges(start, httpd, bodies):
    nobody = pwd.getpwnam("nobody")
    d = start("--user", "nobody", "--resolver-threads", "4")
    # "localhost" is not numeric: it goes through a resolver thread.
    s = socks_connect(d, "localhost", httpd.port)
    assert http_get(s, "small") == bodies.data["small"]
    s.close()
    want = [str(nobody.pw_uid)] * 4
    assert status_field(d.pid, "Uid") == want, status_field(d.pid, "Uid")
    assert status_field(d.pid, "Gid") == [str(nobody.pw_gid)] * 4
    assert "0" not in status_field(d.pid, "Groups")
    tasks = [int(t) for t in os.listdir("/proc/%d/task" % d.pid)]
    assert len(tasks) >= 2, "no resolver thread running"
    for t in tasks:
        assert status_field(d.pid, "Uid", task=t) == want, "thread %d: %s" % (t, status_field(d.pid, "Uid", t))
    r = support.run([support.SOCKS5D, "-l", "127.0.0.1:0", "--user", "no-such-user-hostile"], timeout=10)
    assert r.rc != 0 and "no-such-user-hostile" in r.err and "listening on" not in r.out, r


def test_user_switch_fails_hard_without_root(built):
    prefix = []
    if os.geteuid() == 0:
        if not support.tool("setpriv"):
            pytest.skip("not installed: setpriv (to run socks5d as nobody)")
        prefix = [support.tool("setpriv"), "--reuid", "nobody", "--regid", "nogroup", "--clear-groups"]
    r = support.run(prefix + [support.SOCKS5D, "-l", "127.0.0.1:0", "--user", "root"], timeout=10)
    assert r.rc != 0 and "--user root" in r.err and "listening on" not in r.out, r


def test_old_style_user_option_is_refused(built):
    r = support.run([support.SOCKS5D, "-l", "127.0.0.1:0", "--user", "alice:s3cret"], timeout=10)
    assert r.rc == 2 and "-u/--login" in r.err and "s3cret" not in r.err, r


def test_help_documents_the_secure_defaults(built):
    r = support.run([support.SOCKS5D, "--help"])
    assert r.rc == 0, r
    for opt in ("--allow-open", "--allow-to", "--deny-to", "--allow-from", "--user NAME", "--users FILE",
                "--max-conns", "--handshake-timeout", "chmod 600", "own listeners", "REP 02"):
        assert opt in r.out, "--help does not mention %r:\n%s" % (opt, r.out)


@pytest.mark.parametrize("arg", ["--allow-to=10.0.0.0/33", "--deny-to=example.com", "--allow-from=", "--deny-to=[::1"])
def test_bad_rules_fail(built, arg):
    r = support.run([support.SOCKS5D, "-l", "127.0.0.1:0", arg], timeout=10)
    assert r.rc == 2 and r.err.strip() and "listening on" not in r.out, r
