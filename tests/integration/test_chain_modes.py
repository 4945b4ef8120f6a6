"""SOCKSIFY_CHAIN=random and round_robin with SOCKSIFY_CHAIN_LEN (proxychains' random_chain,
round_robin_chain, chain_len), and SOCKSIFY_ISOLATE / -i (torsocks' IsolatePID), against real
socks5d hops. Every hop logs what it was asked to CONNECT to, and with which login, so the logs
show each connection's path: the tests count them, they never time them. Targets are listeners
of this process on 127.0.0.1 (the kernel completes the connections; nothing is read), one port
per connection where the order matters."""

import re
import select
import socket
import threading

import pytest

import support
from support import PYTHON, json_out, pyclient, socksify
from test_chain import hop
from test_supervise import SUPERVISE, progs  # noqa: F401 (fixture)

# Connects to 127.0.0.1 at each port given, in order, one connection at a time.
SEQ = """import socket, sys
for p in sys.argv[1:]:
    try:
        socket.create_connection(("127.0.0.1", int(p)), timeout=20).close()
        print("ok", p)
    except OSError as e:
        print("error", p, e)
"""

# Connects, forks; the child connects; then the parent again. Prints both pids.
FORK = """import os, socket, sys
port = int(sys.argv[1])
def once():
    socket.create_connection(("127.0.0.1", port), timeout=20).close()
once()
pid = os.fork()
if pid == 0:
    once()
    os._exit(0)
os.waitpid(pid, 0)
once()
print(os.getpid(), pid)
"""

SESSION = re.compile(r"session client=\S+ user=(\S+) cmd=connect target=(\S+) result=(\S+)")


@pytest.fixture
def targets():
    """Listeners on 127.0.0.1 that close each connection at once, so that the hops end and
    log their sessions (factory: targets(n) -> their ports); closed after the test."""
    socks, stop = [], threading.Event()

    def serve():
        while not stop.is_set():
            ready, _, _ = select.select(list(socks), [], [], 0.05)
            for s in ready:
                try:
                    s.accept()[0].close()
                except OSError:
                    pass

    def make(n):
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            s.listen(128)
            socks.append(s)
        return [s.getsockname()[1] for s in socks[-n:]]
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield make
    stop.set()
    t.join()
    for s in socks:
        s.close()


@pytest.fixture
def hops3(start_socks5d):
    return [start_socks5d(listen=("127.0.0.1:0",)) for _ in range(3)]


def sessions(d):
    """(user, target, result) of each session d logged, in order."""
    return [m.groups() for m in map(SESSION.search, d.sessions()) if m]


def wait_sessions(hops, total, what):
    return support.wait_until(lambda: sum(len(sessions(h)) for h in hops) >= total or None, 10,
                              lambda: "%d sessions (%s): %r" % (total, what, [h.log() for h in hops]))


def env(mode=None, length=None, **extra):
    e = support.base_env(**dict(dict(SOCKSIFY_NO_PROXY="", SOCKSIFY_LOG="info"), **extra))
    if mode:
        e["SOCKSIFY_CHAIN"] = mode
    if length is not None:
        e["SOCKSIFY_CHAIN_LEN"] = str(length)
    return e


def seq(proxy, ports, e, opts=()):
    r = socksify(proxy, [PYTHON, "-c", SEQ] + [str(p) for p in ports], env=e, opts=opts)
    assert r.rc == 0, r
    return r


def targets_of(h):
    return [t for _, t, _ in sessions(h)]


# ---- random -----------------------------------------------------------------------------------

def test_random_picks_chain_len_hops_in_varied_orders(hops3, targets):
    """30 connections, chain_len 2 of 3 hops: each takes exactly 2 hops, and the pairs vary
    (all 30 on one of the 6 ordered pairs, or on 3 or fewer, is a 1-in-10^5 chance)."""
    port, = targets(1)
    out = json_out(socksify(",".join(hop(h) for h in hops3), pyclient("threads", 30, "127.0.0.1", port, "x"),
                            env=env("random", 2)))
    assert len(out["results"]) == 30
    wait_sessions(hops3, 60, "2 per connection")
    by_port = {h.port: i for i, h in enumerate(hops3)}
    pairs, lasts, firsts = {}, [0, 0, 0], [0, 0, 0]
    for i, h in enumerate(hops3):
        for t in targets_of(h):
            tp = int(t.rsplit(":", 1)[1])
            if tp == port:
                lasts[i] += 1
            else:
                assert tp in by_port, t
                pairs[(i, by_port[tp])] = pairs.get((i, by_port[tp]), 0) + 1
                firsts[i] += 1
    assert sum(lasts) == 30 and sum(pairs.values()) == 30, (pairs, lasts)
    assert len(pairs) >= 4, pairs
    assert all(firsts) and all(lasts), (firsts, lasts)


def test_random_chain_len_1_is_one_random_hop_per_connection(hops3, targets):
    port, = targets(1)
    out = json_out(socksify(",".join(hop(h) for h in hops3), pyclient("threads", 24, "127.0.0.1", port, "x"),
                            env=env("random")))  # chain_len defaults to 1, as in proxychains
    assert len(out["results"]) == 24
    wait_sessions(hops3, 24, "1 per connection")
    counts = [len(targets_of(h)) for h in hops3]
    assert sum(counts) == 24 and all(counts), counts  # 3 * (2/3)^24: 1 in 5000 that one is unused
    assert all(t == "127.0.0.1:%d" % port for h in hops3 for t in targets_of(h))


# ---- round_robin ------------------------------------------------------------------------------

@pytest.mark.parametrize("length", [1, 2])
def test_round_robin_rotates_the_start(hops3, targets, length):
    """Connection i takes length consecutive hops, wrapping, starting after the previous one's last
    (proxychains' round_robin_chain): at hop i*length mod 3."""
    ports = targets(6)
    r = seq(",".join(hop(h) for h in hops3), ports, env("round_robin", length, SOCKSIFY_LOG="debug"))
    paths = re.findall(r"round_robin chain: this connection goes through hops (\S+)", r.err)
    assert paths == [",".join(str((i * length + k) % 3 + 1) for k in range(length)) for i in range(6)], r
    wait_sessions(hops3, 6 * length, "%d per connection" % length)
    for i, p in enumerate(ports):
        first, last = i * length % 3, (i * length + length - 1) % 3
        assert targets_of(hops3[last]).count("127.0.0.1:%d" % p) == 1, (i, [targets_of(h) for h in hops3])
        if length == 2:
            assert "127.0.0.1:%d" % hops3[last].port in targets_of(hops3[first])
    for i, h in enumerate(hops3):  # each hop's log: its connections (logged as they end: sorted)
        want = ["127.0.0.1:%d" % p for j, p in enumerate(ports) if (j * length + length - 1) % 3 == i]
        got = [t for t in targets_of(h) if int(t.rsplit(":", 1)[1]) in ports]
        assert sorted(got) == sorted(want), (i, targets_of(h))


def test_round_robin_skips_a_dead_hop(hops3, targets):
    h1, _, h3 = hops3
    keep, dead = support.closed_port()
    ports = targets(6)
    try:
        r = seq(",".join([hop(h1), "socks5://127.0.0.1:%d" % dead, hop(h3)]), ports, env("round_robin"))
    finally:
        keep.close()
    assert r.out.split().count("ok") == 6, r
    wait_sessions([h1, h3], 6, "1 per connection")
    t = lambda i: "127.0.0.1:%d" % ports[i]  # noqa: E731
    # which hop carried which connection (a hop logs a session when it ends: not always in order)
    assert sorted(targets_of(h1)) == sorted([t(0), t(3)]), targets_of(h1)
    assert sorted(targets_of(h3)) == sorted([t(1), t(2), t(4), t(5)]), targets_of(h3)  # the dead hop's turns go to the next
    assert "round_robin: hop 2 (socks5://127.0.0.1:%d) is dead" % dead in r.err, r


def test_round_robin_too_few_live_hops_fails_naming_it(hops3, targets):
    h1, _, _ = hops3
    keep, dead = support.closed_port()
    port, = targets(1)
    try:
        r = seq(",".join([hop(h1), "socks5://127.0.0.1:%d" % dead]), [port], env("round_robin", 2))
    finally:
        keep.close()
    assert "error" in r.out, r
    assert "fewer than SOCKSIFY_CHAIN_LEN=2 hops of the round_robin chain are alive" in r.err, r


# ---- settings ---------------------------------------------------------------------------------

def test_chain_len_over_the_hops_is_a_clear_error(hops3, targets):
    port, = targets(1)
    proxy = ",".join(hop(h) for h in hops3)
    r = socksify(proxy, [PYTHON, "-c", SEQ, str(port)], env=env("random", 4))
    assert r.rc == 2 and "chain length 4 is more than the 3 hops of the proxy chain" in r.err, r
    # the library alone (no launcher): every connection fails, saying why
    r = support.run([PYTHON, "-c", SEQ, str(port)],
                    env=support.preload_env(SOCKSIFY_PROXY=proxy, SOCKSIFY_NO_PROXY="", SOCKSIFY_CHAIN="round_robin",
                                            SOCKSIFY_CHAIN_LEN="4"))
    assert r.rc == 0 and r.out.startswith("error"), r
    assert "SOCKSIFY_CHAIN_LEN=4, but SOCKSIFY_PROXY has only 3 hops" in r.err, r
    assert not any(sessions(h) for h in hops3)


@pytest.mark.parametrize("value", ["0", "9", "two", "-1"])
def test_bad_chain_len_is_logged_and_defaults_to_1(hops3, targets, value):
    ports = targets(3)
    proxy = ",".join(hop(h) for h in hops3)
    r = support.run([PYTHON, "-c", SEQ] + [str(p) for p in ports],
                    env=support.preload_env(SOCKSIFY_PROXY=proxy, SOCKSIFY_NO_PROXY="", SOCKSIFY_CHAIN="round_robin",
                                            SOCKSIFY_CHAIN_LEN=value))
    assert r.out.split().count("ok") == 3, r
    assert "SOCKSIFY_CHAIN_LEN='%s' is not a number of hops from 1 to 8; using 1" % value in r.err, r
    wait_sessions(hops3, 3, "1 per connection")
    assert [targets_of(h) for h in hops3] == [["127.0.0.1:%d" % p] for p in ports]
    r = socksify(proxy, [PYTHON, "-c", SEQ], opts=["--chain", "round_robin", "--chain-len", value], env=env())
    assert r.rc == 2 and "bad chain length '%s'" % value in r.err, r


def test_bad_chain_mode_is_logged(hops3, targets):
    port, = targets(1)
    r = support.run([PYTHON, "-c", SEQ, str(port)],
                    env=support.preload_env(SOCKSIFY_PROXY=hop(hops3[0]), SOCKSIFY_NO_PROXY="", SOCKSIFY_CHAIN="roundrobin"))
    assert "SOCKSIFY_CHAIN='roundrobin' is not strict, failover, random or round_robin; using strict" in r.err, r


def test_launcher_options_and_config_file(hops3, targets, tmp_path):
    ports = targets(3)
    conf = tmp_path / "conf"
    conf.write_text("chain = round_robin\nchain-len = 2\nisolate = off\n")
    proxy = ",".join(hop(h) for h in hops3)
    seq(proxy, ports, env(SOCKSIFY_CONFIG=str(conf)))
    wait_sessions(hops3, 6, "2 per connection")
    assert ["127.0.0.1:%d" % ports[0]] == [t for t in targets_of(hops3[1]) if t.endswith(":%d" % ports[0])]
    conf.write_text("chain-len = 0\n")
    r = socksify(proxy, ["true"], env=env(SOCKSIFY_CONFIG=str(conf)))
    assert r.rc == 2 and "bad chain-len '0': a number of hops from 1 to 8" in r.err, r
    h = support.run([support.WRAPPER, "--help"])
    assert "--chain-len N" in h.out and "-i, --isolate" in h.out and "round_robin" in h.out, h


# ---- isolation --------------------------------------------------------------------------------

@pytest.fixture
def tor_like(start_socks5d):
    """A socks5d that, as Tor does, takes any login and logs the user name."""
    return start_socks5d("--auth-any", listen=("127.0.0.1:0",))


def isolation_users(r):
    return re.findall(r"isolation: socks5 hops without a login get user '([^']+)'", r.err)


@pytest.mark.parametrize("pipeline", ["auto", "on"])
def test_isolate_gives_each_process_its_own_login(tor_like, targets, pipeline):
    port, = targets(1)
    e = env(SOCKSIFY_PIPELINE=pipeline)  # a login is never pipelined, even with SOCKSIFY_PIPELINE=on
    a = seq(hop(tor_like), [port, port], e, opts=["-i"])
    b = seq(hop(tor_like), [port], e, opts=["--isolate"])
    assert a.out.split().count("ok") == 2 and b.out.split().count("ok") == 1, (a, b)
    wait_sessions([tor_like], 3, "3 connections")
    users = [u for u, _, res in sessions(tor_like)]
    assert all(re.fullmatch(r"socksify-\d+-\d+", u) for u in users), users
    assert users[0] == users[1] != users[2], users
    assert isolation_users(a) == users[:1] and isolation_users(b) == users[2:], (a, b)


def test_isolate_forked_child_gets_its_own_login(tor_like, targets):
    port, = targets(1)
    r = socksify(hop(tor_like), [PYTHON, "-c", FORK, str(port)], env=env(SOCKSIFY_ISOLATE="1"))
    assert r.rc == 0, r
    parent, child = r.out.split()
    wait_sessions([tor_like], 3, "3 connections")
    users = [u for u, _, _ in sessions(tor_like)]
    assert users[0].startswith("socksify-%s-" % parent) and users[2] == users[0], users
    assert users[1].startswith("socksify-%s-" % child), users
    assert sorted(isolation_users(r)) == sorted(set(users)), r


def test_isolate_keeps_a_configured_login(tor_like, start_socks5d, targets):
    port, = targets(1)
    alice = start_socks5d("-u", "alice:s3cret", listen=("127.0.0.1:0",))
    # a hop without a login gets the process's, the one with a login keeps it
    seq(",".join([hop(tor_like), hop(alice, auth="alice:s3cret")]), [port], env(), opts=["-i"])
    seq(hop(tor_like, auth="bob:pw"), [port], env(), opts=["-i"])
    wait_sessions([tor_like, alice], 3, "3 sessions")
    assert re.fullmatch(r"socksify-\d+-\d+", sessions(tor_like)[0][0]), sessions(tor_like)
    assert sessions(tor_like)[1][0] == "bob", sessions(tor_like)
    assert sessions(alice)[0][0] == "alice", sessions(alice)


def test_without_isolate_no_login_is_sent(tor_like, targets):
    port, = targets(1)
    r = seq(hop(tor_like), [port], env())
    assert "error" in r.out, r  # --auth-any requires a login: without -i there is none to give
    assert "proxy requires authentication" in r.err, r


# ---- the supervisor (static programs) ---------------------------------------------------------

def supervised(proxy, cmd, **extra):
    e = support.base_env(SOCKSIFY_PROXY=proxy, SOCKSIFY_NO_PROXY="", SOCKSIFY_LOG="info", **extra)
    return support.run([SUPERVISE, "-v", "--"] + [str(a) for a in cmd], env=e, timeout=60)


def test_supervised_static_program_round_robin_and_isolate(hops3, tor_like, httpd, progs, tmp_path):  # noqa: F811
    proxy = ",".join(hop(h) for h in hops3)
    get2 = [progs["client"], "twice", "127.0.0.1", httpd.port, "body", tmp_path / "out"]
    r = supervised(proxy, get2, SOCKSIFY_CHAIN="round_robin")
    assert r.rc == 0, r
    wait_sessions(hops3, 2, "1 per connection")
    target = "127.0.0.1:%d" % httpd.port
    assert [targets_of(h) for h in hops3] == [[target], [target], []], [h.log() for h in hops3]
    r = supervised(proxy, get2, SOCKSIFY_CHAIN="random", SOCKSIFY_CHAIN_LEN="3")
    assert r.rc == 0, r
    wait_sessions(hops3, 8, "then 3 per connection")
    assert sum(targets_of(h).count(target) for h in hops3) == 4
    a = supervised(hop(tor_like), get2, SOCKSIFY_ISOLATE="1")
    b = supervised(hop(tor_like), get2, SOCKSIFY_ISOLATE="1")
    assert a.rc == 0 and b.rc == 0, (a, b)
    wait_sessions([tor_like], 4, "4 connections")
    users = [u for u, _, _ in sessions(tor_like)]
    assert users[0] == users[1] != users[2] == users[3], users  # one login per supervised run
    assert all(u.startswith("socksify-") for u in users), users
