"""Issue 7: a non-blocking connect() through the proxy never blocks the program's
thread, and the handshake takes one round trip (greeting and request pipelined),
falling back for proxies that cannot take that (microsocks).

A gate relay (gaterelay.py) sits between the program and the proxy and holds
everything the proxy sends back until the test releases it: while it holds, no
handshake can finish, so what the program sees meanwhile shows whether the
library blocked, or reported the socket ready too early."""

import json
import os
import subprocess
import threading

import pytest

import support
from gaterelay import GateRelay
from support import PYTHON, needs

HERE = os.path.dirname(os.path.abspath(__file__))
PROGS = os.path.join(HERE, "asyncprogs")


@pytest.fixture(scope="module")
def echo():
    e = support.EchoServer()
    yield e
    e.close()


@pytest.fixture
def gate(request):
    made = []

    def make(port, hold=True):
        g = GateRelay(port, hold=hold)
        made.append(g)
        return g

    yield make
    for g in made:
        g.close()


def env_for(proxy_port, **extra):
    return support.preload_env(SOCKSIFY_PROXY="socks5://127.0.0.1:%d" % proxy_port, SOCKSIFY_NO_PROXY="",
                               SOCKSIFY_LOG="info", **extra)


def start_child(args, env):
    env = support.sanitizer_env_for(args, env)
    return subprocess.Popen(args, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def read_json(p, timeout=30):
    """The child's next JSON line (fails with its stderr if it ends first)."""
    result = {}

    def reader():
        result["line"] = p.stdout.readline()

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    t.join(timeout)
    line = result.get("line")
    if not line:
        p.kill()
        raise AssertionError("child printed nothing within %ss; stderr:\n%s" % (timeout, p.stderr.read()))
    return json.loads(line)


def finish(p):
    try:
        out, err = p.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        p.kill()
        out, err = p.communicate()
        raise AssertionError("child did not exit; stderr:\n" + err)
    if support.SANITIZE:
        support.assert_no_sanitizer_report(err)
    return err


@pytest.mark.parametrize("mech", ["poll", "select", "epoll"])
def test_nonblocking_connect_returns_at_once_and_is_ready_only_when_proxied(socks5d, echo, gate, mech):
    g = gate(socks5d.port)
    p = start_child([PYTHON, os.path.join(PROGS, "nb_connect.py"), mech, "127.0.0.1", str(echo.port)],
                    env_for(g.port))
    try:
        started = read_json(p)
        # connect() came back while the proxy's answer was still held, and the socket did not
        # look writable: writing then would have gone into the middle of the handshake
        assert started == {"phase": "started", "rc": "EINPROGRESS", "early": False}
        assert g.wait_clients(1) == 1
        g.release()
        p.stdin.write("go\n")
        p.stdin.flush()
        done = read_json(p)
        assert done == {"phase": "done", "ready": True, "so_error": 0, "peer": ["127.0.0.1", echo.port],
                        "echo": "ping"}
    finally:
        err = finish(p)
    socks5d.wait_session("127.0.0.1:%d" % echo.port)
    assert "connect to 127.0.0.1:%d via" % echo.port in err


def test_reads_and_writes_during_the_handshake_wait(socks5d, echo, gate):
    """A program that writes or reads before its wait said writable gets EAGAIN, as on a
    socket still connecting; nothing it tried reaches the proxy in mid-handshake."""
    g = gate(socks5d.port)
    p = start_child([PYTHON, os.path.join(PROGS, "nb_connect.py"), "poll", "127.0.0.1", str(echo.port), "early-io"],
                    env_for(g.port))
    try:
        started = read_json(p)
        assert started == {"phase": "started", "rc": "EINPROGRESS", "early": False, "send": "EAGAIN",
                           "recv": "EAGAIN"}
        g.release()
        p.stdin.write("go\n")
        p.stdin.flush()
        assert read_json(p)["echo"] == "ping"  # not "earl": the early send never went out
    finally:
        finish(p)


@pytest.mark.parametrize("mech", ["poll", "epoll"])
def test_nonblocking_connect_failure_is_reported_in_so_error(socks5d, gate, mech):
    hold, port = support.closed_port()
    g = gate(socks5d.port, hold=False)
    p = start_child([PYTHON, os.path.join(PROGS, "nb_connect.py"), mech, "127.0.0.1", str(port)], env_for(g.port))
    try:
        rc = read_json(p)["rc"]
        p.stdin.write("go\n")
        p.stdin.flush()
        done = read_json(p)
        # on a busy machine the whole refusal may already be in when connect() looks: then
        # connect() itself says so, as a direct non-blocking connect may
        if rc == "EINPROGRESS":
            assert done == {"phase": "done", "ready": True, "so_error": "ECONNREFUSED"}
        else:
            assert rc == "ECONNREFUSED"
    finally:
        err = finish(p)
    assert "REP 5" in err


def test_nonblocking_connect_times_out_with_etimedout(socks5d, echo, gate):
    g = gate(socks5d.port)  # never released: the proxy never answers
    p = start_child([PYTHON, os.path.join(PROGS, "nb_connect.py"), "epoll", "127.0.0.1", str(echo.port)],
                    env_for(g.port, SOCKSIFY_TIMEOUT="1"))
    try:
        assert read_json(p)["rc"] == "EINPROGRESS"
        p.stdin.write("go\n")
        p.stdin.flush()
        assert read_json(p) == {"phase": "done", "ready": True, "so_error": "ETIMEDOUT"}
    finally:
        err = finish(p)
    assert "did not answer in time" in err


def test_asyncio_opens_200_connections_at_once(socks5d, echo, gate):
    """All 200 handshakes are in flight together: the gate holds every proxy answer until
    it has seen all 200 greetings. A connect() that waited for its answer would leave the
    gate with one greeting, and the program stuck until the gate gave up."""
    n = 200
    g = gate(socks5d.port)
    p = start_child([PYTHON, os.path.join(PROGS, "many.py"), str(n), "127.0.0.1", str(echo.port)], env_for(g.port))
    try:
        seen = g.wait_clients(n, timeout=60)
        g.release()
        out = read_json(p, timeout=60)
    finally:
        g.release()
        finish(p)
    assert seen == n and g.max_waiting == n, "only %d of %d handshakes were in flight together" % (g.max_waiting, n)
    assert out == {"ok": n, "errors": {}}


def test_asyncio_connection_refused_through_proxy(socks5d):
    hold, port = support.closed_port()
    r = support.run([PYTHON, os.path.join(PROGS, "many.py"), "3", "127.0.0.1", str(port)],
                    env=env_for(socks5d.port))
    assert json.loads(r.out.splitlines()[-1]) == {"ok": 0, "errors": {"ConnectionRefusedError": 3}}, r


# ---- one round trip: greeting and request pipelined ------------------------------------------

GREETING = b"\x05\x01\x00"


def request_for(port):
    return b"\x05\x01\x00\x01\x7f\x00\x00\x01" + port.to_bytes(2, "big")


@pytest.mark.parametrize("mode", ["auto", "off"])
def test_greeting_and_request_leave_in_one_segment(socks5d, echo, gate, mode):
    g = gate(socks5d.port, hold=False)
    r = support.run([PYTHON, os.path.join(PROGS, "many.py"), "1", "127.0.0.1", str(echo.port)],
                    env=env_for(g.port, SOCKSIFY_PIPELINE=mode))
    assert json.loads(r.out.splitlines()[-1])["ok"] == 1, r
    # without pipelining the request cannot leave before the proxy chose a method
    want = GREETING + request_for(echo.port) if mode == "auto" else GREETING
    assert g.first_chunks[0] == want


@pytest.mark.parametrize("blocking", [True, False], ids=["blocking", "nonblocking"])
@needs("microsocks")
def test_microsocks_stalls_on_pipelining_and_we_fall_back(tmp_path, echo, blocking):
    """microsocks reads one message per recv() and drops what follows the greeting: the
    library notices the stall, retries without pipelining, and stops pipelining."""
    port = support.free_port()
    ms = support.Server([support.tool("microsocks"), "-i", "127.0.0.1", "-p", str(port)],
                        str(tmp_path / "microsocks.log"), name="microsocks")
    try:
        support.wait_port("127.0.0.1", port, proc=ms)
        if blocking:
            args = [PYTHON, "-c", "import socket,sys\nfor i in range(3):\n"
                    "    s=socket.create_connection(('127.0.0.1',%d),timeout=20); s.sendall(b'ab')\n"
                    "    assert s.recv(2)==b'ab'; s.close()\nprint('{\"ok\": 3}')" % echo.port]
        else:
            args = [PYTHON, os.path.join(PROGS, "many.py"), "3", "127.0.0.1", str(echo.port)]
        r = support.run(args, env=env_for(port))
        assert json.loads(r.out.splitlines()[-1])["ok"] == 3, r
        # sequential connects: only the first stalls; concurrent ones all started pipelined
        retries = r.err.count("retrying without pipelining")
        assert retries == 1 if blocking else 1 <= retries <= 3, r.err
        # forcing pipelining on shows what the fallback saves the program from
        r = support.run([PYTHON, os.path.join(PROGS, "many.py"), "1", "127.0.0.1", str(echo.port)],
                        env=env_for(port, SOCKSIFY_PIPELINE="on", SOCKSIFY_TIMEOUT="1"))
        assert json.loads(r.out.splitlines()[-1]) == {"ok": 0, "errors": {"TimeoutError": 1}}, r
    finally:
        ms.stop()
