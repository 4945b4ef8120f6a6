"""Remote DNS: programs in namespace C reach TARGET_NAME, a name that only the proxy
side (namespace P) can resolve, through socksify.sh. C's resolver points at a trap
DNS server that logs every query; every test checks that it saw none (or exactly
the queries the test expects), that the content is right, and that the proxy got
the NAME (socks5d logs target=NAME:PORT), not an address. See dnsnet.py."""

import contextlib
import ipaddress
import json
import os
import re
import time

import pytest

import support
from dnsnet import (CORP_NAME, DUAL_NAME, HOSTS_NAME, LOCAL_NAME, PROGS, TARGET_NAME, dnsnet,  # noqa: F401
                    dnsnet_module)
from support import PYTHON, needs, pyclient

DNSCLIENT = os.path.join(PROGS, "dnsclient.py")


def dnsclient(*args):
    return [PYTHON, DNSCLIENT] + [str(a) for a in args]


def json_of(r):
    lines = [l for l in r.out.splitlines() if l.startswith("{")]
    assert r.rc == 0 and lines, "client failed: %r" % r
    return json.loads(lines[-1])


def in_fake4(addr):
    return ipaddress.ip_address(addr) in ipaddress.ip_network("240.0.0.0/4")


def in_fake6(addr):
    return ":" in addr and ipaddress.ip_address(addr) in ipaddress.ip_network("100::/64")


@pytest.fixture
def proxy(dnsnet, start_socks5d):
    """socks5d in P on its veth address (port 0)."""
    return start_socks5d(listen=("%s:0" % dnsnet.p4,), netns=dnsnet.p)


def by_name(dnsnet, port=None):
    return "%s:%d" % (TARGET_NAME, port or dnsnet.http_port)


# ---- the set-up itself ----

def test_trap_sees_a_plain_lookup(dnsnet):
    """Positive control: without socksify, a lookup in C reaches the trap (and fails)."""
    r = dnsnet.run(dnsnet.c, [PYTHON, "-c", "import socket; socket.getaddrinfo('x.sfy.test', 80)"])
    assert r.rc != 0 and "gaierror" in r.err, r
    q = dnsnet.trap.take()
    assert dnsnet.trap.names(q) == ["x.sfy.test"], q


def test_target_is_unreachable_from_c_without_the_proxy(dnsnet):
    """C has no route to the target: only the proxy can reach it."""
    r = dnsnet.run(dnsnet.c, pyclient("connect", dnsnet.target4, dnsnet.http_port))
    assert json.loads(r.out)["errno"] == "ENETUNREACH", r


# ---- real programs, by name ----

@needs("curl")
def test_curl(dnsnet, proxy, bodies, tmp_path):
    out = tmp_path / "out"
    r = dnsnet.socksify(proxy.url(), ["curl", "-q", "-sS", "--max-time", "20", "-o", str(out), dnsnet.url()])
    assert r.rc == 0, r
    assert out.read_bytes() == bodies.data["body"]
    proxy.wait_session(by_name(dnsnet))
    dnsnet.trap.assert_empty("curl")


@needs("wget")
def test_wget(dnsnet, proxy, bodies, tmp_path):
    out = tmp_path / "out"
    r = dnsnet.socksify(proxy.url(), ["wget", "--no-config", "-q", "-t", "1", "-T", "20", "-O", str(out),
                                      dnsnet.url("text")])
    assert r.rc == 0, r
    assert out.read_bytes() == bodies.data["text"]
    proxy.wait_session(by_name(dnsnet))
    dnsnet.trap.assert_empty("wget")


@needs("git")
def test_git_clone_dumb_http(dnsnet, proxy, tmp_path):
    dest = tmp_path / "clone"
    env = support.base_env(HOME=str(tmp_path), GIT_CONFIG_NOSYSTEM="1", GIT_TERMINAL_PROMPT="0")
    r = dnsnet.socksify(proxy.url(), ["git", "clone", "-q", dnsnet.url("repo.git", port=dnsnet.git_port), str(dest)],
                        env=env)
    assert r.rc == 0, r
    assert (dest / "README").read_text() == dnsnet.git_file
    proxy.wait_session(by_name(dnsnet, dnsnet.git_port))
    dnsnet.trap.assert_empty("git clone")


def test_python_create_connection(dnsnet, proxy, bodies):
    out = json_of(dnsnet.socksify(proxy.url(), dnsclient("create_connection", TARGET_NAME, dnsnet.http_port, "body")))
    assert (out["status"], out["sha256"]) == (200, bodies.sha("body")), out
    proxy.wait_session(by_name(dnsnet))
    dnsnet.trap.assert_empty()


def test_python_asyncio_20_concurrent(dnsnet, proxy, bodies):
    out = json_of(dnsnet.socksify(proxy.url(), pyclient("asyncio", 20, TARGET_NAME, dnsnet.http_port, "body")))
    bad = [r for r in out["results"] if not isinstance(r, dict) or r["sha256"] != bodies.sha("body")]
    assert not bad, bad[:3]
    proxy.wait_session(by_name(dnsnet), count=20)
    dnsnet.trap.assert_empty()


def test_python_50_threads(dnsnet, proxy, bodies):
    out = json_of(dnsnet.socksify(proxy.url(), pyclient("threads", 50, TARGET_NAME, dnsnet.http_port, "small")))
    bad = [r for r in out["results"] if r != bodies.sha("small")]
    assert not bad, bad[:3]
    proxy.wait_session(by_name(dnsnet), count=50)
    dnsnet.trap.assert_empty()


@needs("node")
def test_node_http_get(dnsnet, proxy, bodies):
    if support.SANITIZE:
        pytest.skip("node does not run with the ASan runtime preloaded (see test_clients.py)")
    r = dnsnet.socksify(proxy.url(), ["node", os.path.join(PROGS, "nodeget.js"), TARGET_NAME, dnsnet.http_port, "body"])
    out = json_of(r)
    assert (out["status"], out["sha256"]) == (200, bodies.sha("body")), out
    proxy.wait_session(by_name(dnsnet))
    dnsnet.trap.assert_empty("node")


@needs("java", "javac")  # the single-file source launcher needs the JDK
def test_java_httpurlconnection_and_socket(dnsnet, proxy, bodies):
    if support.SANITIZE:
        pytest.skip("the JVM does not run with the ASan runtime preloaded")
    r = dnsnet.socksify(proxy.url(), ["java", "-Xshare:auto", os.path.join(PROGS, "DnsTest.java"), TARGET_NAME,
                                      dnsnet.http_port, "body"], timeout=60)
    out = json_of(r)
    assert out["status"] == 200, out
    assert out["url_sha256"] == bodies.sha("body") and out["socket_sha256"] == bodies.sha("body"), out
    proxy.wait_session(by_name(dnsnet), count=2)
    dnsnet.trap.assert_empty("java")


# ---- what the resolver calls answer ----

def test_unspec_gives_both_families_and_each_connects(dnsnet, proxy, bodies):
    out = json_of(dnsnet.socksify(proxy.url(), dnsclient("families", TARGET_NAME, dnsnet.http_port, "small")))
    ans = out["answers"]
    assert [a["family"] for a in ans] == ["AF_INET6", "AF_INET"], out  # IPv6 first: C has IPv6 (RFC 6724)
    assert in_fake6(ans[0]["addr"]) and in_fake4(ans[1]["addr"]), out
    for a in ans:
        assert a.get("sha256") == bodies.sha("small"), a
        assert a["peer"] == [a["addr"], dnsnet.http_port], a  # getpeername: the address the program used
        assert a["getnameinfo"] == [TARGET_NAME, str(dnsnet.http_port)], a
        assert a["gethostbyaddr"] == [TARGET_NAME, [a["addr"]]], a
    # gethostbyname_r: the same IPv4 fake
    assert out["gethostbyname_ex"] == [TARGET_NAME, [], [ans[1]["addr"]]], out
    proxy.wait_session(by_name(dnsnet), count=2)
    dnsnet.trap.assert_empty()


def shape(res):
    """A getaddrinfo answer without its addresses: what glibc decides from the hints."""
    return res if isinstance(res, str) else [[f, st, pr, port] for f, st, pr, _, _, port in res]


def test_getaddrinfo_semantics_match_glibc(dnsnet, proxy):
    """Cases compared with glibc itself: for the fake name against glibc's answer for
    DUAL_NAME, a /etc/hosts name with one IPv6 and one IPv4 address (no query)."""
    port = dnsnet.http_port
    glibc = json_of(dnsnet.run(dnsnet.c, dnsclient("semantics", DUAL_NAME, port)))
    dnsnet.trap.assert_empty("glibc on an /etc/hosts name")
    ours = json_of(dnsnet.socksify(proxy.url(), dnsclient("semantics", TARGET_NAME, port)))
    dnsnet.trap.assert_empty("getaddrinfo under socksify")

    # numeric and NULL hosts are untouched
    for case in ("numeric4", "numeric6", "numeric4_as_v6_mapped", "null_passive", "null_passive6", "null_active"):
        assert ours[case] == glibc[case], case
    assert ours["numerichost_flag_name"] == glibc["numerichost_flag_name"] == "EAI_NONAME", (ours, glibc)
    assert ours["bad_service"] == glibc["bad_service"] == "EAI_SERVICE", (ours, glibc)
    assert ours["numericserv_name"] == glibc["numericserv_name"] == "EAI_NONAME", (ours, glibc)
    for case in ("service_name", "service_number", "service_none", "any_socktype", "dgram", "udp_proto",
                 "tcp_proto", "inet_only", "inet6_only", "v4mapped", "addrconfig", "canonname"):
        assert shape(ours[case]) == shape(glibc[case]), (case, ours[case], glibc[case])
    assert {r[5] for r in ours["service_name"]} == {80}
    assert {r[5] for r in ours["service_number"]} == {8080}
    assert ours["canonname"][0][3] == TARGET_NAME, ours["canonname"]
    six, four = ours["inet6_only"][0][4], ours["inet_only"][0][4]
    assert in_fake6(six) and in_fake4(four), ours
    # AF_INET6 + AI_V4MAPPED with an IPv6 answer: the IPv6 fake only, as glibc
    assert [r[4] for r in ours["v4mapped"]] == [six], ours["v4mapped"]
    # every case of one name gives the same pair of fakes
    addrs = {r[4] for k, case in ours.items() if isinstance(case, list) and k != "v4mapped_all" for r in case}
    assert addrs - {"198.18.0.7", "fd00::7", "::ffff:198.18.0.7", "0.0.0.0", "::", "127.0.0.1", "::1"} == {six, four}, ours


def test_v4mapped_all_adds_the_mapped_ipv4_fake(dnsnet, proxy):
    """AF_INET6 + AI_V4MAPPED|AI_ALL: glibc answers the IPv6 addresses AND the IPv4 ones
    as ::ffff:a.b.c.d (checked on DUAL_NAME); a fake name must answer the same way."""
    port = dnsnet.http_port
    glibc = json_of(dnsnet.run(dnsnet.c, dnsclient("semantics", DUAL_NAME, port)))
    assert [r[4] for r in glibc["v4mapped_all"]] == [dnsnet.c6, "::ffff:" + dnsnet.c4], glibc["v4mapped_all"]
    ours = json_of(dnsnet.socksify(proxy.url(), dnsclient("semantics", TARGET_NAME, port)))
    six, four = ours["inet6_only"][0][4], ours["inet_only"][0][4]
    assert [r[4] for r in ours["v4mapped_all"]] == [six, "::ffff:" + four], ours["v4mapped_all"]
    dnsnet.trap.assert_empty()


def test_mapped_fake_address_connects(dnsnet, proxy, bodies):
    """The IPv4 fake as ::ffff:a.b.c.d on an IPv6 socket (as the JVM connects) reaches the name too."""
    r = dnsnet.socksify(proxy.url(), [PYTHON, "-c", """
import socket, sys, json
sys.path.insert(0, sys.argv[1])
import dnsclient
four = socket.getaddrinfo(sys.argv[2], int(sys.argv[3]), socket.AF_INET, socket.SOCK_STREAM)[0][4][0]
mapped = '::ffff:' + four
print(json.dumps(dict(dnsclient.get_addr(socket.AF_INET6, mapped, sys.argv[3], 'small', sys.argv[2]), addr=mapped)))
""", PROGS, TARGET_NAME, str(dnsnet.http_port)])
    out = json_of(r)
    assert out.get("sha256") == bodies.sha("small"), out
    assert out["peer"] == [out["addr"], dnsnet.http_port], out
    proxy.wait_session(by_name(dnsnet))
    dnsnet.trap.assert_empty()


LOCAL_NAMES = [("localhost", lambda n: {"::1", "127.0.0.1"}), (HOSTS_NAME, lambda n: {n.c4}),
               (DUAL_NAME, lambda n: {n.c4, n.c6})]


def test_localhost_and_hosts_names_resolve_locally(dnsnet, proxy):
    """localhost and C's /etc/hosts names: their real addresses, without a query."""
    for name, want in LOCAL_NAMES:
        ours = json_of(dnsnet.socksify(proxy.url(), dnsclient("resolve", name, 80)))
        assert {a for _, a in ours["answers"]} == want(dnsnet), (name, ours)
    dnsnet.trap.assert_empty()


def distinct(res):
    """Answers without repeats (glibc repeats 127.0.0.1 for AF_INET localhost when /etc/hosts
    also has '::1 localhost': a glibc quirk, not a behaviour to copy)."""
    if isinstance(res, str):
        return res
    out = []
    for r in res:
        if r not in out:
            out.append(r)
    return out


def test_hosts_names_come_in_glibcs_order(dnsnet, proxy):
    """...and in the order glibc gives them (RFC 6724: here IPv6 first), for every hint."""
    for name, _ in LOCAL_NAMES:
        plain = json_of(dnsnet.run(dnsnet.c, dnsclient("semantics", name, 80)))
        dnsnet.trap.take()  # glibc itself may ask DNS (AAAA of an IPv4-only hosts name): not ours
        ours = json_of(dnsnet.socksify(proxy.url(), dnsclient("semantics", name, 80)))
        diff = {k: (ours[k], plain[k]) for k in plain if distinct(ours[k]) != distinct(plain[k])}
        assert not diff, "%s: socksified (first) vs glibc (second): %s" % (name, diff)
    dnsnet.trap.assert_empty()


def test_getent_uses_the_gethostbyname2_hooks(dnsnet, proxy):
    """getent (C, gethostbyname2 and getaddrinfo): fakes of both families, no query."""
    r = dnsnet.socksify(proxy.url(), ["bash", "-c", "getent hosts $0 && getent ahostsv4 $0 && getent ahosts $0",
                                      TARGET_NAME])
    assert r.rc == 0, r
    lines = [l.split() for l in r.out.splitlines()]
    six = lines[0][0]
    assert in_fake6(six) and lines[0][1:] == [TARGET_NAME], r
    four = lines[1][0]
    assert in_fake4(four) and lines[1][1:] == ["STREAM", TARGET_NAME], r
    assert [l[0] for l in lines[4:] if len(l) > 1 and l[1] == "STREAM"] == [six, four], r
    dnsnet.trap.assert_empty("getent")


REVERSE = """
import json, socket, sys
out = {}
try:
    out["gethostbyaddr"] = list(socket.gethostbyaddr(sys.argv[1]))
except socket.herror as e:
    out["gethostbyaddr"] = ["herror", e.errno]
out["getnameinfo"] = list(socket.getnameinfo((sys.argv[1], 80), socket.NI_NUMERICSERV))
print(json.dumps(out))
"""


def test_reverse_lookup_of_a_real_address_sends_no_query(dnsnet, proxy):
    """A reverse lookup of a real address would tell the resolver whom we talk to: under
    socksify it is answered without a query (not found; getnameinfo numerically), with the
    h_errno glibc reports for an unknown host (HOST_NOT_FOUND = 1)."""
    addr = "198.18.0.7"
    plain = json_of(dnsnet.run(dnsnet.c, [PYTHON, "-c", REVERSE, addr]))
    q = dnsnet.trap.take()
    assert dnsnet.trap.names(q) == ["7.0.18.198.in-addr.arpa"], q  # control: glibc asks
    assert plain["gethostbyaddr"] == ["herror", 1], plain
    ours = json_of(dnsnet.socksify(proxy.url(), [PYTHON, "-c", REVERSE, addr]))
    dnsnet.trap.assert_empty("reverse lookups under socksify")
    assert ours["getnameinfo"] == [addr, "80"], ours
    assert ours["gethostbyaddr"] == plain["gethostbyaddr"], (ours, plain)


def test_no_proxy_name_goes_to_the_system_resolver(dnsnet, proxy):
    """A SOCKSIFY_NO_PROXY name pattern is resolved by the system resolver: the trap sees
    exactly that name (and answers it with a real address); other names stay remote."""
    env = support.base_env(SOCKSIFY_NO_PROXY=".corp.test,intranet.test")
    out = json_of(dnsnet.socksify(proxy.url(), dnsclient("resolve", CORP_NAME, 80), env=env))
    assert out["answers"] == [["AF_INET", dnsnet.p4]], out
    assert dnsnet.trap.names(dnsnet.trap.take()) == [CORP_NAME]
    out = json_of(dnsnet.socksify(proxy.url(), dnsclient("resolve", "other.corp.test.example", 80), env=env))
    assert all(in_fake4(a) or in_fake6(a) for _, a in out["answers"]), out
    dnsnet.trap.assert_empty("a name outside SOCKSIFY_NO_PROXY")


def test_no_proxy_name_connects_direct(dnsnet, proxy):
    """A SOCKSIFY_NO_PROXY name is meant to be reached directly (config.h: 'names resolved
    locally (and so connected direct)'), like curl's NO_PROXY: its connection must not go
    to the proxy. The trap answers db.corp.test with P's veth address, where nothing listens
    on this port: direct gives ECONNREFUSED from P's kernel, and socks5d logs no session."""
    env = support.base_env(SOCKSIFY_NO_PROXY=".corp.test")
    keep = dnsnet.free_port_in_p()
    out = json_of(dnsnet.socksify(proxy.url(), dnsclient("connect", CORP_NAME, keep), env=env))
    assert dnsnet.trap.names(dnsnet.trap.take()) == [CORP_NAME]
    assert out["addr"] == dnsnet.p4 and out["errno"] == "ECONNREFUSED", out
    # a session of our own after it: once socks5d (one thread) logged that one, it logged any before
    json_of(dnsnet.socksify(proxy.url(), dnsclient("create_connection", TARGET_NAME, dnsnet.http_port, "small")))
    proxy.wait_session(by_name(dnsnet))
    sessions = [l for l in proxy.log().splitlines() if "target=%s:" % dnsnet.p4 in l]
    assert not sessions, "the connection to a NO_PROXY name went through the proxy: %s" % sessions


def test_dns_local_uses_the_system_resolver(dnsnet, proxy, bodies, tmp_path):
    """SOCKSIFY_DNS=local (the difference documented): the name is resolved in C by the
    system resolver - the trap sees it - and the proxy gets an address, not the name."""
    out = tmp_path / "out"
    env = support.base_env(SOCKSIFY_DNS="local")
    r = dnsnet.socksify(proxy.url(), ["curl", "-q", "-sS", "--max-time", "20", "-o", str(out),
                                      dnsnet.url("small", host=LOCAL_NAME)], env=env)
    assert r.rc == 0, r
    assert out.read_bytes() == bodies.data["small"]
    assert dnsnet.trap.names(dnsnet.trap.take()) == [LOCAL_NAME]
    proxy.wait_session("%s:%d" % (dnsnet.target4, dnsnet.http_port))
    # and the proxy-only name does not resolve at all in C
    out = json_of(dnsnet.socksify(proxy.url(), dnsclient("connect", TARGET_NAME, dnsnet.http_port), env=env))
    assert out["errno"] == "gaierror" and "Name or service not known" in out["error"], out
    assert dnsnet.trap.names(dnsnet.trap.take()) == [TARGET_NAME]


# ---- sharing the name table between processes ----

def test_fork_after_resolving(dnsnet, proxy, bodies):
    out = json_of(dnsnet.socksify(proxy.url(), dnsclient("fork_after", TARGET_NAME, dnsnet.http_port, "small")))
    for who in ("parent", "child_inherited", "child_by_name"):
        assert out[who].get("sha256") == bodies.sha("small"), (who, out)
    assert out["child_by_name"]["addr"] == out["addr"], out  # the child got the parent's fake
    proxy.wait_session(by_name(dnsnet), count=3)
    dnsnet.trap.assert_empty()


def test_fork_before_resolving(dnsnet, proxy, bodies):
    out = json_of(dnsnet.socksify(proxy.url(), dnsclient("fork_before", TARGET_NAME, dnsnet.http_port, "small")))
    assert out["child"].get("sha256") == bodies.sha("small"), out
    assert out["parent"].get("sha256") == bodies.sha("small"), out
    proxy.wait_session(by_name(dnsnet), count=2)
    dnsnet.trap.assert_empty()


def test_subprocess_close_fds(dnsnet, proxy, bodies):
    """A child that did not inherit the table's fd still finds the name behind its parent's fake."""
    out = json_of(dnsnet.socksify(proxy.url(), dnsclient("close_fds", TARGET_NAME, dnsnet.http_port, "small")))
    assert out["rc"] == 0 and out["child"].get("sha256") == bodies.sha("small"), out
    proxy.wait_session(by_name(dnsnet))
    dnsnet.trap.assert_empty()


def test_close_fds_child_after_the_first_process_exited(dnsnet, proxy, bodies, tmp_path):
    """The shell that started the run (the table's creator) has exited; a python it left
    running resolves, then starts a close_fds=True child on the address: the child must
    still find the name (it shares the run's table through its parent, who is alive)."""
    out_file = tmp_path / "out"
    script = 'python3 "$CLIENT" close_fds "$NAME" "$PORT" small > "$OUT" & exit 0'
    env = support.base_env(CLIENT=DNSCLIENT, NAME=TARGET_NAME, PORT=str(dnsnet.http_port), OUT=str(out_file))
    r = dnsnet.socksify(proxy.url(), ["bash", "-c", script], env=env)
    assert r.rc == 0, r
    deadline = time.monotonic() + 20
    while not out_file.exists() or not out_file.read_text().endswith("\n"):
        assert time.monotonic() < deadline, "the background python wrote nothing"
        time.sleep(0.02)  # polling interval while waiting for a condition
    out = json.loads(out_file.read_text())
    assert out["child"] and out["child"].get("sha256") == bodies.sha("small"), out
    dnsnet.trap.assert_empty()


@needs("curl")
def test_bash_runs_several_programs(dnsnet, proxy, bodies, tmp_path):
    """curl, then python by name, then a python that connects to an address another
    python resolved (sibling processes exec'd by one shell share the table)."""
    script = r"""
set -e
curl -q -sS --max-time 20 -o "$D/curl" "$URL"
python3 "$CLIENT" create_connection "$NAME" "$PORT" small > "$D/py"
addr=$(python3 -c 'import socket,sys; print(socket.getaddrinfo(sys.argv[1], 80, socket.AF_INET)[0][4][0])' "$NAME")
python3 "$CLIENT" get_addr "$addr" "$PORT" text "$NAME" > "$D/sibling"
echo "$addr" > "$D/addr"
"""
    env = support.base_env(D=str(tmp_path), URL=dnsnet.url(), CLIENT=DNSCLIENT, NAME=TARGET_NAME,
                           PORT=str(dnsnet.http_port))
    r = dnsnet.socksify(proxy.url(), ["bash", "-c", script], env=env)
    assert r.rc == 0, r
    assert (tmp_path / "curl").read_bytes() == bodies.data["body"]
    assert json.loads((tmp_path / "py").read_text())["sha256"] == bodies.sha("small")
    assert in_fake4((tmp_path / "addr").read_text().strip())
    assert json.loads((tmp_path / "sibling").read_text()).get("sha256") == bodies.sha("text")
    proxy.wait_session(by_name(dnsnet), count=3)
    dnsnet.trap.assert_empty()


# ---- failures ----

def test_unknown_name_fails_fast_with_ehostunreach(dnsnet, proxy):
    out = json_of(dnsnet.socksify(proxy.url(), dnsclient("connect", "nosuch.sfy.test", dnsnet.http_port)))
    assert out["errno"] == "EHOSTUNREACH", out
    assert out["elapsed"] < 2, out
    assert in_fake4(out["addr"]), out
    proxy.wait_session("nosuch.sfy.test:%d" % dnsnet.http_port, result="host-unreachable")
    dnsnet.trap.assert_empty()


MANY = 1000000


@needs("cc")
def test_a_million_names_keep_memory_bounded(dnsnet, proxy, bodies, tmp_path):
    exe = str(tmp_path / "manynames")
    r = support.run(["cc", "-O2", "-Wall", "-o", exe, os.path.join(PROGS, "manynames.c"), "-pthread"])
    assert r.rc == 0, r
    body = tmp_path / "body"
    env = support.base_env()
    if support.SANITIZE:  # ASan's quarantine of freed blocks (256 MB) is not growth; leaks are checked instead
        env["ASAN_OPTIONS"] = env["ASAN_OPTIONS"].replace("detect_leaks=0", "detect_leaks=1") + ":quarantine_size_mb=1"
    r = dnsnet.socksify(proxy.url(), [exe, TARGET_NAME, str(dnsnet.http_port), str(MANY), str(body)], env=env,
                        timeout=120)
    out = json_of(r)
    print("manynames:", out)  # shown with -s: the cost of a lookup and the memory it took
    assert out["failures"] == 0, out
    mb = 1024
    assert out["rss_max_kb"] - out["rss_base_kb"] < 40 * mb, out
    assert out["table_size_start"] == out["table_size_end"] < 32 * mb * 1024, out
    # the target's first fake: its slot was recycled, so it fails at once, without a proxy session
    assert out["stale_errno"] == "EHOSTUNREACH" and out["stale_secs"] < 1, out
    assert out["stale_getnameinfo"] != 0, out  # and no longer names the target
    # an early name gets a new address, the same on every lookup
    assert out["early_again"][0] == out["early_again"][1] != out["early"], out
    # a fresh lookup connects and fetches
    assert out["fresh_errno"] == 0 and out["target_fresh"] != out["target_early"], out
    assert body.read_bytes().split(b"\r\n\r\n", 1)[1] == bodies.data["body"]
    proxy.wait_session(by_name(dnsnet))
    assert len(proxy.sessions()) == 1, proxy.sessions()  # the stale address never reached the proxy
    dnsnet.trap.assert_empty()


# ---- other SOCKS5 servers resolve the name too ----

@needs("microsocks", "curl")
def test_microsocks_by_name(dnsnet, bodies, tmp_path):
    port = dnsnet.free_port_in_p()
    s = dnsnet.start(dnsnet.p, [support.tool("microsocks"), "-i", dnsnet.p4, "-p", str(port)], "microsocks")
    try:
        support.wait_port(dnsnet.p4, port, proc=s, netns=dnsnet.c)
        out = tmp_path / "out"
        r = dnsnet.socksify("socks5://%s:%d" % (dnsnet.p4, port),
                            ["curl", "-q", "-sS", "--max-time", "20", "-o", str(out), dnsnet.url()])
        assert r.rc == 0, r
        assert out.read_bytes() == bodies.data["body"]
    finally:
        s.stop()
    dnsnet.trap.assert_empty("curl via microsocks")


DANTED_CONF = """\
logoutput: stderr
internal: {p4} port = {port}
external: {target4}
external: {target6}
socksmethod: none
clientmethod: none
user.privileged: root
user.unprivileged: nobody
client pass {{ from: {net}/24 to: 0.0.0.0/0 }}
socks pass {{ from: {net}/24 to: 0.0.0.0/0 log: connect disconnect }}
socks pass {{ from: {net}/24 to: ::/0 log: connect disconnect }}
"""


@contextlib.contextmanager
def danted_in_p(dnsnet, tmp_path):
    """danted in the proxy namespace P, up: yields (its process, its port); stopped after."""
    port = dnsnet.free_port_in_p()
    conf = tmp_path / "danted.conf"
    conf.write_text(DANTED_CONF.format(p4=dnsnet.p4, port=port, target4=dnsnet.target4, target6=dnsnet.target6,
                                       net="10.201.%d.0" % dnsnet.x))
    s = dnsnet.start(dnsnet.p, [support.tool("danted"), "-f", str(conf), "-N", "1", "-p", str(tmp_path / "pid")],
                     "danted")
    try:
        support.wait_port(dnsnet.p4, port, proc=s, netns=dnsnet.c)
        yield s, port
    finally:
        s.stop()


@needs("danted", "curl")
def test_danted_by_name(dnsnet, bodies, tmp_path):
    with danted_in_p(dnsnet, tmp_path) as (s, port):
        out = tmp_path / "out"
        r = dnsnet.socksify("socks5://%s:%d" % (dnsnet.p4, port),
                            ["curl", "-q", "-sS", "--max-time", "20", "-o", str(out), dnsnet.url()])
        assert r.rc == 0, r
        assert out.read_bytes() == bodies.data["body"]
        # danted logs the address it resolved the name to: one only P knows (C sent the name)
        s.wait_log(r"pass\(\d+\): tcp/connect .* -> %s\.\d+ %s\.%d" % (
            re.escape(dnsnet.target4), re.escape(dnsnet.target4), dnsnet.http_port))
    dnsnet.trap.assert_empty("curl via danted")
