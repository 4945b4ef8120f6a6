"""delayproxy.py (make bench's slow network, reusable by tests): bytes intact and in order, half-close
passed on in order, each upstream chunk held back by the delay, the CLI prints its port and stops on
SIGTERM."""

import os
import signal
import socket
import subprocess
import threading
import time

import pytest

from delayproxy import DelayProxy
import support
from support import PYTHON

HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture
def echo():
    e = support.EchoServer()
    yield e
    e.close()


def recv_until_eof(s, timeout=10):
    s.settimeout(timeout)
    out = bytearray()
    while True:
        b = s.recv(65536)
        if not b:
            return bytes(out)
        out += b


def test_bytes_intact_in_order_and_eof_passed_on(echo):
    data = os.urandom(3 << 20)
    with DelayProxy(("127.0.0.1", echo.port), delay_ms=5) as proxy:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
            writer = threading.Thread(target=lambda: (s.sendall(data), s.shutdown(socket.SHUT_WR)))
            writer.start()
            got = recv_until_eof(s)
            writer.join(10)
    assert got == data


def test_each_answer_is_held_back_by_the_delay(echo):
    """The delay is the proxy's function: an answer never arrives before it (a lower bound, no speed)."""
    delay = 0.3
    with DelayProxy(("127.0.0.1", echo.port), delay_ms=delay * 1000) as proxy:
        with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
            for msg in (b"one", b"two"):
                t0 = time.monotonic()
                s.sendall(msg)
                assert s.recv(16) == msg
                assert time.monotonic() - t0 >= delay * 0.95


def test_upstream_refusing_closes_the_client():
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, not listening: connecting is refused
        with DelayProxy(("127.0.0.1", port), delay_ms=1) as proxy:
            with socket.create_connection(("127.0.0.1", proxy.port), timeout=10) as s:
                assert recv_until_eof(s) == b""


def test_cli_prints_its_port_and_stops_on_sigterm(echo):
    p = subprocess.Popen([PYTHON, os.path.join(HERE, "delayproxy.py"), "--listen", "127.0.0.1:0",
                          "--upstream", "127.0.0.1:%d" % echo.port, "--delay-ms", "1"],
                         stdout=subprocess.PIPE, start_new_session=True)
    try:
        port = int(p.stdout.readline())
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"ping")
            s.shutdown(socket.SHUT_WR)
            assert recv_until_eof(s) == b"ping"
        p.send_signal(signal.SIGTERM)
        assert p.wait(10) == 0
    finally:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()
        p.stdout.close()
