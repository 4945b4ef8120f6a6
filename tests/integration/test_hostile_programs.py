"""Hostile programs, seen from the library (issue 6, parts B and C).

Programs (hostileprogs/hostile.c, compiled here) that close every fd, dup2() over
proxied sockets and over the library's own fds, switch to non-blocking after
connecting, take signals during the handshake, leave SIGPIPE at its default, fork
while other threads resolve and connect, vfork/posix_spawn children, half-close,
or speak SOCKS5 themselves. All in dnsnet's namespaces: the program in C (no
route to the targets, a trap DNS), the proxies and targets in P; after each
test the nftables counters in C show packets to the proxy only and the trap DNS
saw no query."""

import os
import re

import pytest

import support
from dnsnet import TARGET_NAME, dnsnet, dnsnet_module  # noqa: F401 (fixtures)
from support import PYTHON, Server, needs
from udpnet import leaks, udpnet  # noqa: F401 (fixtures)

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces, nftables)"),
    needs("ip", "nft", "cc"),
]

HERE = os.path.dirname(os.path.abspath(__file__))
PROGS = os.path.join(HERE, "hostileprogs")
HOSTILE_PROXY = os.path.join(PROGS, "hostile_proxy.py")
EOFSERVER = os.path.join(PROGS, "eofserver.py")
BANNER = b"banner \x05\x00\x00\x01 from the target\n"
ERROR_LINE = re.compile(r"^socksify\[\d+\]: error: .+", re.M)


@pytest.fixture(scope="module")
def prog(tmp_path_factory):
    exe = str(tmp_path_factory.mktemp("hostileprogs") / "hostile")
    r = support.run([support.tool("cc"), "-Wall", "-O1", "-g", "-pthread", "-o", exe, os.path.join(PROGS, "hostile.c")],
                    env=support.base_env(LD_PRELOAD=None), check_sanitizer=False)
    assert r.rc == 0, r
    return exe


@pytest.fixture
def socks5d_p(udpnet, start_socks5d):
    return start_socks5d(listen=("%s:0" % udpnet.net.p4,), netns=udpnet.p)


@pytest.fixture(scope="module")
def hostile_p(udpnet, tmp_path_factory):
    """The hostile proxy in P: {mode: url} for the modes these tests need."""
    modes = ["slow", "close", "rstgreeting"]
    s = Server(["ip", "netns", "exec", udpnet.p, PYTHON, "-u", HOSTILE_PROXY, "--listen", udpnet.net.p4,
                "--mode", ",".join(modes), "--delay", "0.3", "--banner-hex", BANNER.hex()],
               str(tmp_path_factory.mktemp("hostile-p") / "hostile.log"), name="hostile-proxy")
    urls = {}
    for _ in modes:
        m = s.read_line(r"^hostile: (\w+) listening on ([0-9.]+:\d+)$")
        urls[m.group(1)] = "socks5://" + m.group(2)
    yield urls
    s.stop(timeout=2)


@pytest.fixture(scope="module")
def eofserver_p(udpnet):
    s = udpnet.net.start(udpnet.p, [PYTHON, "-u", EOFSERVER, udpnet.target4], "eofserver")
    return int(s.read_line(r"listening on [0-9.]+:(\d+)$").group(1)), s


def run_prog(udpnet, proxy_url, args, env=None, timeout=40):
    r = udpnet.socksified(proxy_url, [str(a) for a in args], env=env, timeout=timeout)
    out = {}
    for line in r.out.splitlines():
        k, sep, v = line.partition("=")
        if sep:
            out.setdefault(k, []).append(v)
    flat = {k: v[-1] for k, v in out.items()}
    flat["_all"] = out
    return flat, r


def expect(out, r, **want):
    """Every key=value the test wants, all reported at once."""
    bad = ["%s: want %r, got %r" % (k, v, out.get(k)) for k, v in want.items() if out.get(k) != v]
    assert not bad, "\n".join(bad) + "\n%r" % r


def no_leak(udpnet, dnsnet, leaks, what):
    c = leaks.assert_no_leak(what)
    assert c["to_proxy"] > 0, "nothing reached the proxy: the counters prove nothing: %r" % c
    dnsnet.trap.assert_empty(what)


def sockets_in(fdlist):
    return [int(x.split(":")[0]) for x in fdlist.split(",") if x.endswith(":socket")]


# ---- closing every fd ----

@pytest.mark.parametrize("how", ["loop", "range", "syscall", "closefrom"],
                         ids=["close-loop", "close_range", "syscall-close_range", "closefrom"])
def test_close_every_fd(udpnet, dnsnet, leaks, socks5d_p, prog, how):
    """A UDP exchange and a TCP connect by name, then close(3..1024), close_range(3, ~0U, 0),
    syscall(SYS_close_range, ...) or closefrom(3) (glibc's makes the system call itself),
    then new sockets (they get the closed proxied sockets' numbers) and the program's own socketpairs at fd >= 700 and >= 900 (where the library keeps its
    association control connection and its name table): the library must neither write to
    them nor close them; the name still resolves to the same address; a new UDP exchange
    (a new association) and a new connect through the same fd numbers are proxied; the
    program can close its own fds there; an exec'd child connects to the fake address this
    process got; nothing leaks."""
    out, r = run_prog(udpnet, socks5d_p.url(), [prog, "closeall", how, TARGET_NAME, udpnet.net.http_port,
                                                udpnet.echo_port])
    assert r.rc == 0, r
    before = out.get("fds_before", "")
    assert out.get("udp_before") == "ok" and out.get("tcp_before") == "ok", "set-up failed: %r" % r
    assert any(s >= 700 for s in sockets_in(before)), "no association control connection at >= 700: %s" % before
    assert re.search(r"(^|,)9\d\d:memfd", before), "no name table memfd at >= 900: %s" % before
    problems = ["%s: want %r, got %r" % (k, v, out.get(k)) for k, v in (
        ("resolve_after", "same"), ("udp_after", "ok"), ("tcp_after", "ok"),
        ("mine700", "ok"), ("mine900", "ok"), ("own_close", "ok"), ("child", "0")) if out.get(k) != v]
    end_sockets = sockets_in(out.get("fds_end", ""))
    if len(end_sockets) != 2:  # the other ends of the program's socketpairs, nothing of the library's
        problems.append("sockets left at the end: want only the program's 2, got %s" % out.get("fds_end"))
    assert not problems, "\n".join(problems) + "\n%r" % r
    socks5d_p.wait_session("%s:%d" % (TARGET_NAME, udpnet.net.http_port), count=2)
    no_leak(udpnet, dnsnet, leaks, "closeall " + how)


def test_fd_closed_behind_the_library_is_not_reused_direct(udpnet, dnsnet, leaks, socks5d_p, prog):
    """fclose() of an fdopen()ed proxied socket closes the fd inside glibc (no close() call),
    and so does syscall(SYS_close): a new socket that gets the same number must still be
    proxied (not connected direct because of what the library remembered of the old one)."""
    out, r = run_prog(udpnet, socks5d_p.url(), [prog, "fclose", TARGET_NAME, udpnet.net.http_port, udpnet.target4])
    assert r.rc == 0, r
    assert out.get("same_fd_fclose") == "1" and out.get("same_fd_syscall") == "1", r
    expect(out, r, second_fclose="ok", second_syscall="ok", peer_before_fclose="ENOTCONN",
           peer_before_syscall="ENOTCONN")
    no_leak(udpnet, dnsnet, leaks, "fclose")


def test_dup2_over_proxied_socket_and_library_fds(udpnet, dnsnet, leaks, socks5d_p, prog):
    out, r = run_prog(udpnet, socks5d_p.url(), [prog, "dup2", TARGET_NAME, udpnet.net.http_port, udpnet.echo_port])
    assert r.rc == 0, r
    assert out.get("ctrl", "-1") != "-1" and int(out["ctrl"]) >= 700, r
    assert int(out.get("table", "-1")) >= 900, r
    expect(out, r, tcp_first="ok", peer_after_pipe="ENOTSOCK", tcp_on_dup2="ok", udp_first="ok",
           udp_after_dup2="ok", mine_at_ctrl="ok", child_after_dup2_table="0", child_parent_fake="ok",
           mine_at_table="ok")
    socks5d_p.wait_session("%s:%d" % (TARGET_NAME, udpnet.net.http_port), count=2)
    no_leak(udpnet, dnsnet, leaks, "dup2")


def test_nonblocking_after_connect(udpnet, dnsnet, leaks, socks5d_p, prog):
    out, r = run_prog(udpnet, socks5d_p.url(), [prog, "nonblock", TARGET_NAME, udpnet.net.http_port])
    assert r.rc == 0, r
    expect(out, r, connect="ok", setfl="0", nonblock_kept="1", early_recv="EAGAIN", http="ok")
    assert int(out["early_recv_ms"]) < 500, out
    no_leak(udpnet, dnsnet, leaks, "nonblock")


@pytest.mark.parametrize("restart", ["restart", "norestart"])
def test_signals_during_handshake(udpnet, dnsnet, leaks, hostile_p, prog, restart):
    """SIGALRM every 2 ms while the proxy takes 300 ms to answer: connect() succeeds or
    fails with EINTR (and the connection completes); the data afterwards is intact."""
    out, r = run_prog(udpnet, hostile_p["slow"], [prog, "eintr", restart, TARGET_NAME, 80])
    assert r.rc == 0, r
    assert out.get("connect") in ("ok", "EINTR"), r
    if out["connect"] == "EINTR":
        assert out.get("after_eintr") == "ok", r
    assert int(out["signals"]) >= 20, "the timer did not fire during the handshake: %r" % r
    assert 250 <= int(out["ms"]) < 2500, r
    assert bytes.fromhex(out.get("data", "")) == BANNER + b"after-the-handshake", r
    no_leak(udpnet, dnsnet, leaks, "eintr " + restart)


@pytest.mark.parametrize("mode", ["close", "rstgreeting"])
@pytest.mark.parametrize("disposition", ["dfl", "ign", "catch"])
def test_handshake_never_raises_sigpipe(udpnet, dnsnet, leaks, hostile_p, prog, mode, disposition):
    out, r = run_prog(udpnet, hostile_p[mode], [prog, "sigpipe", disposition, TARGET_NAME, 80])
    assert r.rc == 0, "the program died (a signal shows as a negative status): %r" % r
    assert out.get("alive") == "1" and out.get("sigpipes") == "0", r
    assert out["_all"]["connect"] == ["ECONNREFUSED"] * 5, r
    assert out["_all"]["sendto"] == ["ECONNREFUSED"] * 5, r
    assert ERROR_LINE.search(r.err), r
    no_leak(udpnet, dnsnet, leaks, "sigpipe %s %s" % (mode, disposition))


@pytest.mark.skipif(support.SANITIZE, reason="gcc 12's ASan runtime itself deadlocks now and then in a child "
                    "forked while other threads allocate (reproduced with no libsocksify preloaded)")
def test_fork_while_threads_resolve_and_connect(udpnet, dnsnet, leaks, socks5d_p, prog):
    """Four threads resolve names and connect while the main thread forks 30 times; each
    child resolves and connects at once (a lock inherited held would hang it: SIGALRM)."""
    out, r = run_prog(udpnet, socks5d_p.url(), [prog, "forkthreads", TARGET_NAME, udpnet.net.http_port, 30])
    assert r.rc == 0, r
    expect(out, r, children_ok="30", children_hung="0", children_failed="0")
    no_leak(udpnet, dnsnet, leaks, "forkthreads")


@pytest.mark.parametrize("how", ["vfork", "posix"], ids=["vfork", "posix_spawn"])
def test_spawned_child_connects_by_name(udpnet, dnsnet, leaks, socks5d_p, prog, how):
    out, r = run_prog(udpnet, socks5d_p.url(), [prog, "spawn", how, TARGET_NAME, udpnet.net.http_port])
    assert r.rc == 0, r
    expect(out, r, child_parent_fake="ok", child_own_name="ok", status="0")
    socks5d_p.wait_session("%s:%d" % (TARGET_NAME, udpnet.net.http_port), count=2)
    no_leak(udpnet, dnsnet, leaks, how)


def test_shutdown_half_close(udpnet, dnsnet, leaks, socks5d_p, eofserver_p, prog):
    """shutdown(SHUT_WR) on a proxied socket: the target sees EOF after every byte, and the
    program still reads the target's answer."""
    port, server = eofserver_p
    out, r = run_prog(udpnet, socks5d_p.url(), [prog, "halfclose", TARGET_NAME, port, 300000])
    assert r.rc == 0, r
    expect(out, r, connect="ok", shutdown="0")
    assert out.get("reply") == out.get("expected"), r
    no_leak(udpnet, dnsnet, leaks, "halfclose")


@needs("curl")
@pytest.mark.parametrize("flag, host", [("--socks5-hostname", "name"), ("--socks5", "ipv4")])
def test_program_that_speaks_socks5_itself(udpnet, dnsnet, leaks, socks5d_p, bodies, tmp_path, flag, host):
    """curl --socks5 to the proxy, under socksify.sh with that proxy: curl's own connection
    to the proxy goes direct, so socks5d logs exactly one session, with the real target."""
    target = TARGET_NAME if host == "name" else udpnet.target4
    dest = tmp_path / "body"
    r = udpnet.socksified(socks5d_p.url(), ["curl", "-q", "-sS", "--max-time", "10", flag,
                                            "%s:%d" % (socks5d_p.host, socks5d_p.port), "-o", str(dest),
                                            "http://%s:%d/small" % (target, udpnet.net.http_port)])
    assert r.rc == 0, r
    assert dest.read_bytes() == bodies.data["small"]
    socks5d_p.wait_session("%s:%d" % (target, udpnet.net.http_port))
    sessions = socks5d_p.sessions()
    assert len(sessions) == 1, "double wrapping: %s" % sessions
    no_leak(udpnet, dnsnet, leaks, "curl " + flag)
