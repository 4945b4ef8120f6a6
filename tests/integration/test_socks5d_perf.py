"""socks5d's fast paths (issue 7): bulk data spliced through per-direction
pipes, and several worker threads each with its own SO_REUSEPORT listener.

What must hold whatever path the bytes take: every byte arrives, in order,
both ways at once; a FIN is passed on only after the data before it; the
session line counts what was relayed; running out of fds for a pipe falls
back to copying; and the limits and UDP associations work across workers."""

import hashlib
import os
import re
import resource
import socket
import struct
import threading

import pytest

import support
from support import recv_all, sock_recv_exact

BIG = 8 << 20  # far past the 64 KiB after which a direction is spliced
SLOW, wait_until = support.SLOW, support.wait_until


def enc_target(host, port):
    return b"\x01" + socket.inet_aton(host) + struct.pack(">H", port)


def socks_connect(phost, pport, host, port, timeout=10):
    """A no-auth CONNECT with greeting and request pipelined; returns the socket after the reply."""
    s = socket.create_connection((phost, pport), timeout=timeout)
    s.sendall(b"\x05\x01\x00" + b"\x05\x01\x00" + enc_target(host, port))
    assert sock_recv_exact(s, 2) == b"\x05\x00"
    rep = sock_recv_exact(s, 4)
    assert rep[1] == 0, "REP %d" % rep[1]
    sock_recv_exact(s, 6 if rep[3] == 1 else 18)
    return s


class Target:
    """A TCP server on 127.0.0.1 that, for each connection, sends `payload`
    while it reads everything the client sends until EOF, then records the
    sha256 of what it read. With close_first it shuts its side down after
    sending and before the client has finished; otherwise it sends the digest
    after the client's FIN and closes."""

    def __init__(self, payload, close_first=False):
        self.payload = payload
        self.close_first = close_first
        self.digests = []
        self.errors = []
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.threads = []
        self.done = threading.Event()
        t = threading.Thread(target=self._accept_loop, daemon=True)
        t.start()

    def _accept_loop(self):
        while not self.done.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            t = threading.Thread(target=self._serve, args=(c,), daemon=True)
            t.start()
            self.threads.append(t)

    def _send(self, c):
        try:
            c.sendall(self.payload)
        except OSError:
            pass  # the reading side reports what happened

    def _serve(self, c):
        try:
            c.settimeout(30)
            sender = threading.Thread(target=self._send, args=(c,))
            sender.start()
            if self.close_first:
                sender.join()
                c.shutdown(socket.SHUT_WR)
            h = hashlib.sha256()
            while True:
                chunk = c.recv(1 << 16)
                if not chunk:
                    break
                h.update(chunk)
            sender.join()
            self.digests.append(h.digest())
            if not self.close_first:
                c.sendall(h.digest())
        except OSError as e:
            self.errors.append(e)
        finally:
            c.close()

    def close(self):
        self.done.set()
        self.sock.close()
        for t in self.threads:
            t.join(30)


def exchange(s, upload, timeout=30):
    """Sends upload and then FIN while reading until the peer's EOF; returns what was read."""
    s.settimeout(timeout)
    err = []

    def send():
        try:
            s.sendall(upload)
            s.shutdown(socket.SHUT_WR)
        except OSError as e:
            err.append(e)
    t = threading.Thread(target=send)
    t.start()
    data = recv_all(s, timeout)
    t.join(timeout)
    assert not err, err
    return data


def session_counts(d, port, count=1):
    lines = d.wait_session("127.0.0.1:%d" % port, count=count, timeout=30)
    return [tuple(int(x) for x in re.search(r" up=(\d+) down=(\d+)", l).groups()) for l in lines]


@pytest.mark.parametrize("close_first", ["client", "target"])
def test_bulk_both_ways_spliced_with_half_close(start_socks5d, close_first):
    """8 MiB each way at once; one side half-closes while the other direction is
    still flowing through its pipe. Every byte checked by sha256 on both ends."""
    d = start_socks5d("-v", "--workers", "1")
    down_payload, up_payload = os.urandom(BIG), os.urandom(BIG)
    tgt = Target(down_payload, close_first=(close_first == "target"))
    try:
        s = socks_connect(d.host, d.port, "127.0.0.1", tgt.port)
        got = exchange(s, up_payload)
        s.close()
    finally:
        tgt.close()
    assert not tgt.errors, tgt.errors
    assert tgt.digests == [hashlib.sha256(up_payload).digest()]
    tail = b"" if close_first == "target" else hashlib.sha256(up_payload).digest()
    assert len(got) == BIG + len(tail)
    assert hashlib.sha256(got[:BIG]).digest() == hashlib.sha256(down_payload).digest()
    assert got[BIG:] == tail
    assert session_counts(d, tgt.port) == [(BIG, BIG + len(tail))]
    log = d.log()
    assert "relay: splicing client->target" in log and "relay: splicing target->client" in log, log[-3000:]


def test_client_reset_mid_splice_ends_the_target(start_socks5d):
    """A client that vanishes with an RST while 32 MiB are being spliced to it:
    the target's connection ends too, the session is logged, and socks5d is
    back to its fds. (Usually the target gets an RST; when the kernel hands
    the client's reset to a write first, a later read sees a plain EOF and
    the target may get a FIN just before the RST.)"""
    d = start_socks5d("-v", "--workers", "1", listen=("127.0.0.1:0",))
    pid = d.server.proc.pid
    base = fd_count(pid)
    tgt = Target(os.urandom(4 << 20) * 8)
    try:
        s = socks_connect(d.host, d.port, "127.0.0.1", tgt.port)
        sock_recv_exact(s, 1 << 20, timeout=30)
        d.server.wait_log(r"relay: splicing target->client")
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        s.close()
        wait_until(lambda: tgt.errors or tgt.digests, 10, "the target's connection to end")
    finally:
        tgt.close()
    d.wait_session("127.0.0.1:%d" % tgt.port)
    wait_until(lambda: fd_count(pid) == base, 10, lambda: "fds %d, baseline %d: %s" % (
        fd_count(pid), base, fd_list(pid)))


def test_small_exchange_is_not_spliced(start_socks5d):
    """A short exchange never gets pipes (they would cost 4 fds per session)."""
    d = start_socks5d("-v", "--workers", "1")
    tgt = Target(b"x" * 1000)
    try:
        s = socks_connect(d.host, d.port, "127.0.0.1", tgt.port)
        got = exchange(s, b"y" * 1000)
        s.close()
    finally:
        tgt.close()
    assert got[:1000] == b"x" * 1000 and got[1000:] == hashlib.sha256(b"y" * 1000).digest()
    assert session_counts(d, tgt.port) == [(1000, 1032)]
    assert "relay: splicing" not in d.log()


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def fd_list(pid):
    out = []
    for fd in sorted(os.listdir("/proc/%d/fd" % pid), key=int):
        try:
            out.append("%s:%s" % (fd, os.readlink("/proc/%d/fd/%s" % (pid, fd))))
        except OSError:
            pass
    return " ".join(out)


def test_no_fds_for_a_pipe_falls_back_to_copying(start_socks5d):
    """With the fd limit just above what one session needs, pipe2() fails: the
    transfer still completes intact, through read/write."""
    d = start_socks5d("-v", "--workers", "1", listen=("127.0.0.1:0",))
    pid = d.server.proc.pid
    # Room for the session's two sockets and the spare fd kept for accept
    # storms, none for a pipe (two fds).
    base = fd_count(pid)
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (base + 3, base + 3))
    down_payload, up_payload = os.urandom(BIG // 4), os.urandom(BIG // 4)
    tgt = Target(down_payload)
    try:
        s = socks_connect(d.host, d.port, "127.0.0.1", tgt.port)
        got = exchange(s, up_payload)
        s.close()
    finally:
        tgt.close()
    assert hashlib.sha256(got).digest() == hashlib.sha256(down_payload + hashlib.sha256(up_payload).digest()).digest()
    assert session_counts(d, tgt.port) == [(BIG // 4, BIG // 4 + 32)]
    log = d.log()
    assert "relay: no pipe for client->target" in log, log[-3000:]
    assert "relay: splicing" not in log


def test_many_spliced_sessions_at_once(start_socks5d):
    """16 sessions moving 8 MiB each at the same time, then all fds back."""
    d = start_socks5d("-v", listen=("127.0.0.1:0",))
    pid = d.server.proc.pid
    base = fd_count(pid)
    payload = os.urandom(BIG)
    want = hashlib.sha256(payload).digest()
    tgt = Target(payload)
    results, errors = [], []

    def one():
        try:
            s = socks_connect(d.host, d.port, "127.0.0.1", tgt.port)
            results.append(exchange(s, payload[: BIG // 2]))
            s.close()
        except (OSError, AssertionError) as e:
            errors.append(e)
    threads = [threading.Thread(target=one) for _ in range(16)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    finally:
        tgt.close()
    assert not errors and not tgt.errors, (errors, tgt.errors)
    half = hashlib.sha256(payload[: BIG // 2]).digest()
    assert len(results) == 16
    for got in results:
        assert hashlib.sha256(got[:BIG]).digest() == want and got[BIG:] == half
    session_counts(d, tgt.port, count=16)
    wait_until(lambda: fd_count(pid) == base, 10, lambda: "fds %d, baseline %d: %s" % (
        fd_count(pid), base, fd_list(pid)))


# --- workers -------------------------------------------------------------------

def worker_sessions(d):
    """Stops socks5d; returns {worker: sessions} from its exit lines."""
    assert d.stop() == 0, d.log()[-3000:]
    found = re.findall(r"info: worker (\d+): sessions=(\d+) ", d.log())
    return {int(w): int(n) for w, n in found}


def test_two_workers_both_serve_on_the_announced_ports(start_socks5d):
    """With --workers 2 both threads accept on the ports announced once per
    listener (port 0 chosen by the first, shared by the second); over 200
    sessions each worker serves some: the kernel spreads them."""
    d = start_socks5d("--workers", "2")
    pid = d.server.proc.pid
    names = set()
    for t in os.listdir("/proc/%d/task" % pid):
        with open("/proc/%d/task/%s/comm" % (pid, t)) as f:
            names.add(f.read().strip())
    assert {"socks5d-w0", "socks5d-w1"} <= names, names
    assert len(d.server.lines) == 2, d.server.lines  # one "listening on" line per -l
    tgt = Target(b"pong")
    try:
        for i in range(200):
            host, port = d.listeners[i % 2]
            s = socket.create_connection((host, port), timeout=10)
            s.sendall(b"\x05\x01\x00\x05\x01\x00" + enc_target("127.0.0.1", tgt.port))
            assert sock_recv_exact(s, 12)[:4] == b"\x05\x00\x05\x00"
            assert exchange(s, b"ping") == b"pong" + hashlib.sha256(b"ping").digest()
            s.close()
        session_counts(d, tgt.port, count=200)
    finally:
        tgt.close()
    per_worker = worker_sessions(d)
    assert set(per_worker) == {0, 1} and sum(per_worker.values()) == 200, per_worker
    assert min(per_worker.values()) > 0, per_worker


def closed_by_peer(s):
    try:
        s.setblocking(False)
        return s.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


@pytest.mark.parametrize("workers", ["1", "2"])
def test_max_conns_holds_across_workers(start_socks5d, workers):
    """--max-conns 10 with 40 clients: exactly 10 kept whichever worker took
    them, the other 30 closed at once; the kept ones still work."""
    d = start_socks5d("--workers", workers, "--max-conns", "10", "--handshake-timeout", "60",
                      listen=("127.0.0.1:0",))
    socks = [socket.create_connection((d.host, d.port), timeout=10) for _ in range(40)]
    wait_until(lambda: sum(closed_by_peer(s) for s in socks) >= 30, 10,
               lambda: "%d of 40 closed, want 30" % sum(closed_by_peer(s) for s in socks))
    kept = [s for s in socks if not closed_by_peer(s)]
    assert len(kept) == 10
    for s in kept:
        s.setblocking(True)
        s.settimeout(10)
        s.sendall(b"\x05\x01\x00")
        assert sock_recv_exact(s, 2) == b"\x05\x00"
    for s in socks:
        s.close()
    # The places come back: 10 new clients are all kept.
    wait_until(lambda: len(d.sessions()) >= 10, 10, "the 10 sessions to end")
    again = [socket.create_connection((d.host, d.port), timeout=10) for _ in range(10)]
    for s in again:
        s.sendall(b"\x05\x01\x00")
        assert sock_recv_exact(s, 2) == b"\x05\x00"
        s.close()


class UdpEcho:
    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while True:
            try:
                data, peer = self.sock.recvfrom(65536)
                self.sock.sendto(data, peer)
            except OSError:
                return

    def close(self):
        self.sock.close()


def test_udp_associations_served_by_both_workers(start_socks5d):
    """20 UDP associations through --workers 2: each relay answers in the
    worker of its control connection, every datagram comes back intact, and
    both workers held some."""
    d = start_socks5d("--workers", "2", listen=("127.0.0.1:0",))
    echo = UdpEcho()
    try:
        for i in range(20):
            u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            u.bind(("127.0.0.1", 0))
            u.settimeout(10)
            ctl = socket.create_connection((d.host, d.port), timeout=10)
            ctl.sendall(b"\x05\x01\x00\x05\x03\x00" + enc_target(*u.getsockname()))
            rep = sock_recv_exact(ctl, 12)
            assert rep[:4] == b"\x05\x00\x05\x00" and rep[5] == 1, rep
            relay = (socket.inet_ntoa(rep[6:10]), struct.unpack(">H", rep[10:12])[0])
            for k in range(5):
                payload = os.urandom(100 + k)
                u.sendto(b"\x00\x00\x00" + enc_target("127.0.0.1", echo.port) + payload, relay)
                got, src = u.recvfrom(65536)
                assert src == relay
                assert got == b"\x00\x00\x00" + enc_target("127.0.0.1", echo.port) + payload
            ctl.close()
            u.close()
        d.server.wait_log(r"cmd=udp-associate .*dgrams_up=5 dgrams_down=5 dropped=0", count=20)
    finally:
        echo.close()
    per_worker = worker_sessions(d)
    assert sum(per_worker.values()) == 20 and min(per_worker.values()) > 0, per_worker


@pytest.mark.parametrize("value", ["0", "257", "two"])
def test_bad_workers_value_fails(built, value):
    r = support.run([support.SOCKS5D, "--workers", value])
    assert r.rc == 2 and "--workers" in r.err, r
