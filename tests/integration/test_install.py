"""make install / make uninstall (issue 8): every file where it belongs with sane modes, the
installed socksify fetching through the installed socks5d, both man pages rendering cleanly
and documenting every option of --help, the systemd unit verified and its command line run,
and uninstall removing exactly what install put there. Always into a DESTDIR under tmp.
(test_wrapper.py checks that bin/socksify preloads the installed library.)"""

import hashlib
import os
import re
import shutil
import signal
import socket
import stat

import pytest

import support
from conftest import Socks5d
from support import PYTHON, Server

pytestmark = pytest.mark.skipif(support.SANITIZE, reason="installs the normal build")

PREFIX = "/usr"
UNIT = "lib/systemd/system/socks5d.service"
# path under DESTDIR/PREFIX -> (kind, mode, what it must be)
EXPECTED = {
    "bin/socksify": ("file", 0o755, os.path.join(support.ROOT, "socksify.sh")),
    "bin/socks5d": ("file", 0o755, os.path.join(support.BUILD, "socks5d")),
    "lib/socksify/socksify": ("file", 0o755, os.path.join(support.BUILD, "socksify")),
    "lib/socksify/libsocksify.so": ("file", 0o644, support.LIB),
    "lib/socksify/socksify-supervise": ("file", 0o755, os.path.join(support.BUILD, "socksify-supervise")),
    "share/man/man1/socksify.1": ("file", 0o644, None),
    "share/man/man8/socks5d.8": ("file", 0o644, None),
    UNIT: ("file", 0o644, None),
}
PAGES = {"socksify": "share/man/man1/socksify.1", "socks5d": "share/man/man8/socks5d.8"}
SECTIONS = ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "ENVIRONMENT", "EXIT STATUS", "FILES",
            "EXAMPLES", "SEE ALSO"]


def make(target, dest, *extra):
    """make install/uninstall, under a strict umask: the modes must not depend on it."""
    r = support.run(["sh", "-c", 'umask 077 && exec "$@"', "sh", "make", "-s", "-C", support.ROOT, target,
                     "BUILD=%s" % support.BUILD, "DESTDIR=%s" % dest, "PREFIX=%s" % PREFIX] + list(extra),
                    timeout=300)
    assert r.rc == 0, r
    return r


def files_under(root):
    """Every non-directory under root, relative to it."""
    found = set()
    for d, _, names in os.walk(root):
        found.update(os.path.relpath(os.path.join(d, n), root) for n in names)
    return found


@pytest.fixture(scope="module")
def installed(built, tmp_path_factory):
    """One `make install DESTDIR=<tmp> PREFIX=/usr`; yields DESTDIR/usr."""
    dest = tmp_path_factory.mktemp("install")
    make("install", dest)
    yield dest / PREFIX.lstrip("/")
    make("uninstall", dest)
    shutil.rmtree(dest)


def test_install_puts_every_file_in_place(installed):
    root = installed.parent
    assert files_under(root) == {os.path.join(PREFIX.lstrip("/"), p) for p in EXPECTED}, files_under(root)
    for path, (kind, mode, what) in EXPECTED.items():
        p = installed / path
        st = os.lstat(p)
        assert stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) == mode, (path, oct(st.st_mode))
        if what:
            with open(p, "rb") as a, open(what, "rb") as b:
                assert a.read() == b.read(), "%s is not a copy of %s" % (path, what)
    for d, dirs, _ in os.walk(root):
        for n in dirs:
            assert stat.S_IMODE(os.stat(os.path.join(d, n)).st_mode) == 0o755, os.path.join(d, n)


def test_installed_text_names_the_installed_paths(installed):
    """The pages and the unit get PREFIX filled in: no placeholder is left."""
    texts = {p: (installed / p).read_text() for p in list(PAGES.values()) + [UNIT]}
    for p, t in texts.items():
        assert not re.search(r"@[A-Z]+@", t), p
    assert "/usr/lib/socksify/libsocksify.so" in texts[PAGES["socksify"]]
    assert "/usr/bin/socks5d" in texts[PAGES["socks5d"]] and "/usr/" + UNIT in texts[PAGES["socks5d"]]
    assert "\nExecStart=/usr/bin/socks5d " in texts[UNIT]


@pytest.mark.parametrize("client", ["curl", "python"])
def test_installed_socksify_fetches_through_installed_socks5d(installed, httpd, client, tmp_path):
    """bin/socksify (the script execs ../lib/socksify/socksify; the library found next to it) -> bin/socks5d -> httpd."""
    if client == "curl" and not support.tool("curl"):
        pytest.skip("curl not installed (tests/install-deps.sh installs it)")
    server = Server([str(installed / "bin/socks5d"), "-l", "127.0.0.1:0"], str(tmp_path / "socks5d.log"),
                    env=support.base_env())
    try:
        port = int(server.read_line(r"listening on 127\.0\.0\.1:(\d+)").group(1))
        proxy = Socks5d(server, [("127.0.0.1", port)])
        url = httpd.url("127.0.0.1")
        fetch = {"curl": ["curl", "-sS", "--fail", "--max-time", "20", url],
                 "python": [PYTHON, "-c", "import sys, urllib.request; sys.stdout.buffer.write("
                            "urllib.request.urlopen(sys.argv[1], timeout=20).read())", url]}[client]
        r = support.run([str(installed / "bin/socksify"), "-x", proxy.url(), "-n", "", "--"] + fetch,
                        env=support.base_env(SOCKSIFY_LIB=None), text=False)
        assert r.rc == 0, r
        assert hashlib.sha256(r.out).hexdigest() == httpd.bodies.sha("body"), r
        proxy.wait_session("127.0.0.1:%d" % httpd.port)
        assert proxy.stop() == 0, proxy.log()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def static_client(tmp_path_factory):
    """test_supervise.py's statically linked HTTP client (what LD_PRELOAD cannot reach)."""
    gcc = support.tool("gcc")
    if not gcc:
        pytest.skip("gcc not installed")
    exe = str(tmp_path_factory.mktemp("static") / "client")
    r = support.run([gcc, "-static", "-O2", "-pthread", "-o", exe,
                     os.path.join(support.HERE, "supervise_progs", "client.c")], env=support.base_env(), timeout=120)
    if r.rc != 0:
        pytest.skip("cannot link statically here: %s" % r.err.strip()[:200])
    return exe


def test_installed_socksify_runs_a_static_program_through_installed_socks5d(installed, httpd, bodies,
                                                                           static_client, tmp_path):
    """bin/socksify -> lib/socksify/socksify -> lib/socksify/socksify-supervise (found next to the
    launcher) -> the static client, whose connection reaches httpd through the installed socks5d."""
    server = Server([str(installed / "bin/socks5d"), "-l", "127.0.0.1:0"], str(tmp_path / "socks5d.log"),
                    env=support.base_env())
    try:
        port = int(server.read_line(r"listening on 127\.0\.0\.1:(\d+)").group(1))
        proxy = Socks5d(server, [("127.0.0.1", port)])
        out = tmp_path / "out"
        r = support.run([str(installed / "bin/socksify"), "-x", proxy.url(), "-n", "", "--", static_client, "get",
                         "127.0.0.1", str(httpd.port), "small", str(out)], env=support.base_env(SOCKSIFY_LIB=None))
        assert r.rc == 0 and '"errno": null' in r.out, r
        assert out.read_bytes() == bodies.data["small"]
        proxy.wait_session("127.0.0.1:%d" % httpd.port)
        assert proxy.stop() == 0, proxy.log()
    finally:
        server.stop()


def render(page, *opts):
    """A page as plain text, unhyphenated so that every option stays whole."""
    r = support.run(["groff", "-man", "-Tutf8", "-rHY=0", "-P-cbou"] + list(opts) + [str(page)])
    assert r.rc == 0 and not r.err, r
    return r.out


def section(text, name):
    m = re.search(r"^%s\n(.*?)(?=^[A-Z][A-Z ]+$|\Z)" % re.escape(name), text, re.S | re.M)
    assert m, "no %s section in:\n%s" % (name, text)
    return m.group(1)


@support.needs("man", "groff")
@pytest.mark.parametrize("name", sorted(PAGES))
def test_man_page_renders_without_warnings(installed, name):
    page = installed / PAGES[name]
    r = support.run(["groff", "-man", "-ww", "-z", str(page)])
    assert r.rc == 0 and not r.err, r
    env = support.base_env(MANWIDTH="80", MANPAGER="cat", PAGER="cat")
    r = support.run(["man", "--warnings=all", "-l", str(page)], env=env)
    assert r.rc == 0 and not r.err, r
    lines = r.out.splitlines()
    assert lines and lines[0].startswith("%s(%s)" % (name.upper(), page.suffix[1:])), r
    assert [l for l in lines if l in SECTIONS] == SECTIONS, r
    assert not [l for l in lines if len(l) > 80], r
    # the footer's version is the program's
    version = support.run([str(installed / "bin" / name), "--version"]).out.split()[-1]
    assert re.match(r"\S+ +%s +\S+ +%s\(" % (re.escape(version), name.upper()), lines[-1]), (version, lines[-1])


def help_options(text):
    """The options that --help defines, one or two per line: '  -x, --proxy URL ...'."""
    opts = set()
    for m in re.finditer(r"^ {2,8}(?:(-[A-Za-z]), +)?(--[a-z][a-z0-9-]*)", text, re.M):
        opts.update(o for o in m.groups() if o)
    return opts


@support.needs("groff")
@pytest.mark.parametrize("name", sorted(PAGES))
def test_man_page_documents_every_help_option(installed, name):
    r = support.run([str(installed / "bin" / name), "--help"], env=support.base_env(SOCKSIFY_LIB=None))
    assert r.rc == 0, r
    wanted = help_options(r.out)
    assert len(wanted) > 10, r  # the parse found the options
    options = section(render(installed / PAGES[name]), "OPTIONS")
    missing = [o for o in sorted(wanted) if not re.search(r"(?<![\w-])%s(?![\w-])" % re.escape(o), options)]
    assert not missing, "%s(%s) OPTIONS lacks %s" % (name, PAGES[name][-1], missing)
    # and the page's option list documents no option that does not exist
    tags = re.findall(r"^ {7}(-\S.*)$", options, re.M)
    documented = {w for t in tags for part in t.split(", ") for w in part.split()[:1] if w != "--"}
    assert documented and documented <= wanted, sorted(documented - wanted)


@support.needs("groff")
def test_socksify_page_documents_every_environment_variable(installed):
    """Every SOCKSIFY_* variable the launcher or the library reads, and every one --help names."""
    used = set()
    for d in ("preload", "src/cli", "include"):
        for f in os.listdir(os.path.join(support.ROOT, d)):
            with open(os.path.join(support.ROOT, d, f), errors="replace") as fh:
                used.update(re.findall(r'"(SOCKSIFY_[A-Z0-9_]+)"', fh.read()))
    r = support.run([str(installed / "bin/socksify"), "--help"])
    used.update(re.findall(r"\b(SOCKSIFY_[A-Z0-9_]+)", r.out))
    assert {"SOCKSIFY_PROXY", "SOCKSIFY_LIB"} <= used, used
    env = section(render(installed / PAGES["socksify"]), "ENVIRONMENT")
    assert not [v for v in sorted(used) if not re.search(r"\b%s\b" % v, env)], env


def unit_entries(text):
    """The unit as [(section, key, value)]: an ini file whose keys may repeat."""
    entries, sect = [], None
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("["):
            assert line.endswith("]"), "line %d: %r" % (n, line)
            sect = line[1:-1]
            continue
        assert sect and "=" in line, "line %d: %r" % (n, line)
        k, v = line.split("=", 1)
        entries.append((sect, k.strip(), v.strip()))
    return entries


def test_unit_is_a_hardened_socks5d_service(installed, tmp_path):
    text = (installed / UNIT).read_text()
    entries = unit_entries(text)
    assert {s for s, _, _ in entries} == {"Unit", "Service", "Install"}, entries
    service = {}
    for s, k, v in entries:
        if s == "Service":
            service.setdefault(k, []).append(v)
    for key, value in [("ExecStart", "/usr/bin/socks5d -l 127.0.0.1:1080"), ("Restart", "on-failure"),
                       ("DynamicUser", "yes"), ("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"),
                       ("PrivateTmp", "yes"), ("CapabilityBoundingSet", ""), ("AmbientCapabilities", "")]:
        assert service.get(key) == [value], (key, service.get(key))
    assert ("Install", "WantedBy", "multi-user.target") in entries
    analyze = support.tool("systemd-analyze")
    if not analyze:
        return
    # verify wants ExecStart to exist and man:socks5d(8) to open: point both into DESTDIR
    copy = tmp_path / "socks5d.service"
    copy.write_text(text.replace("\nExecStart=/", "\nExecStart=%s/" % installed.parent))
    r = support.run([analyze, "verify", str(copy)],
                    env=support.base_env(MANPATH=str(installed / "share/man"), SYSTEMD_LOG_LEVEL="notice"))
    assert r.rc == 0 and not r.out.strip() and not r.err.strip(), r
    # and it stays as confined as it is now ("1.5 OK"; 100 would be a bare unit)
    r = support.run([analyze, "security", "--offline=true", "--threshold=20", str(copy)])
    assert r.rc == 0, r


def syscall_group(analyze, name, seen=None):
    """The system calls of a systemd-analyze syscall-filter group, nested groups expanded."""
    seen = set() if seen is None else seen
    if name in seen:
        return set()
    seen.add(name)
    r = support.run([analyze, "syscall-filter", name])
    assert r.rc == 0, r
    calls = set()
    for line in r.out.splitlines()[1:]:
        word = line.strip().split(" ")[0] if line.strip() and not line.strip().startswith("#") else ""
        if word.startswith("@"):
            calls |= syscall_group(analyze, word, seen)
        elif word:
            calls.add(word)
    return calls


def socks5_request(sock, cmd, atyp_addr, port):
    """One no-auth SOCKS5 request on sock; returns the reply's (REP, bound host, bound port)."""
    sock.sendall(b"\x05\x01\x00")
    assert support.sock_recv_exact(sock, 2) == b"\x05\x00"
    sock.sendall(b"\x05" + bytes([cmd]) + b"\x00" + atyp_addr + port.to_bytes(2, "big"))
    head = support.sock_recv_exact(sock, 4)
    n = {1: 4, 4: 16}[head[3]]
    addr = support.sock_recv_exact(sock, n + 2)
    return head[1], socket.inet_ntop(socket.AF_INET if n == 4 else socket.AF_INET6, addr[:n]), \
        int.from_bytes(addr[n:], "big")


@support.needs("strace", "systemd-analyze")
def test_unit_filters_allow_what_socks5d_calls(installed, httpd, tmp_path):
    """The unit kills socks5d on a system call outside @system-service or in @privileged, and
    refuses sockets of other families: trace a CONNECT by name, a UDP round trip and a clean
    stop, and check every call and socket family against them."""
    analyze = support.tool("systemd-analyze")
    unit = unit_entries((installed / UNIT).read_text())
    filters = [v for _, k, v in unit if k == "SystemCallFilter"]
    assert filters == ["@system-service", "~@privileged"], filters
    allowed = syscall_group(analyze, "@system-service") - syscall_group(analyze, "@privileged")
    families = {v for _, k, v in unit if k == "RestrictAddressFamilies"}.pop().split()
    trace = tmp_path / "strace"
    server = Server(["strace", "-f", "-qq", "-o", str(trace), str(installed / "bin/socks5d"), "-l", "127.0.0.1:0"],
                    str(tmp_path / "socks5d.log"), name="socks5d")
    try:
        port = int(server.read_line(r"listening on 127\.0\.0\.1:(\d+)").group(1))
        with socket.create_connection(("127.0.0.1", port), timeout=10) as c:
            rep, _, _ = socks5_request(c, 1, b"\x03\x09localhost", httpd.port)  # resolved by socks5d
            assert rep == 0
            c.sendall(b"GET /small HTTP/1.0\r\nHost: x\r\n\r\n")
            assert support.recv_all(c).endswith(httpd.bodies.data["small"])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as echo, \
                socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, \
                socket.create_connection(("127.0.0.1", port), timeout=10) as ctl:
            echo.bind(("127.0.0.1", 0))
            u.bind(("127.0.0.1", 0))
            u.settimeout(10)
            echo.settimeout(10)
            rep, rhost, rport = socks5_request(ctl, 3, b"\x01" + socket.inet_aton("127.0.0.1"), u.getsockname()[1])
            assert rep == 0
            hdr = b"\x00\x00\x00\x01" + socket.inet_aton("127.0.0.1") + echo.getsockname()[1].to_bytes(2, "big")
            u.sendto(hdr + b"ping", (rhost, rport))
            data, relay = echo.recvfrom(100)
            assert data == b"ping"
            echo.sendto(b"pong", relay)
            assert u.recvfrom(100)[0] == hdr + b"pong"
        children = open("/proc/%d/task/%d/children" % (server.proc.pid, server.proc.pid)).read().split()
        assert len(children) == 1, children
        os.kill(int(children[0]), signal.SIGTERM)
        assert server.wait(10) == 0, server.log()
    finally:
        server.stop()
    text = trace.read_text()
    called = set(re.findall(r"^\d+ +([a-z0-9_]+)\(", text, re.M))
    assert {"accept4", "connect", "epoll_wait"} <= called, text[-3000:]  # the trace saw the work
    assert not called - allowed, "socks5d calls what the unit's SystemCallFilter kills: %s" % sorted(called - allowed)
    used = set(re.findall(r"\bsocket\((AF_[A-Z0-9]+)", text))
    assert used and not used - set(families), (used, families)


@support.needs_root
@support.needs("unshare", "ip")
def test_unit_command_line_listens_on_its_default(installed, tmp_path):
    """The unit's ExecStart, run as is (binary from DESTDIR) in an empty network namespace,
    where 127.0.0.1:1080 is surely free: it listens there and stops cleanly on SIGTERM."""
    execstart = [v for s, k, v in unit_entries((installed / UNIT).read_text()) if k == "ExecStart"]
    argv = execstart[0].split()
    argv[0] = str(installed.parent) + argv[0]
    server = Server(["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"] + argv,
                    str(tmp_path / "socks5d.log"), name="socks5d")
    try:
        server.read_line(r"^socks5d: listening on 127\.0\.0\.1:1080$")
        server.signal(15)
        assert server.wait(10) == 0, server.log()
    finally:
        server.stop()


@pytest.mark.parametrize("extra", [[], ["SYSTEMD=0"]])
def test_uninstall_removes_exactly_what_install_put(built, tmp_path, extra):
    dest = tmp_path / "dest"
    make("install", dest, *extra)
    installed = files_under(dest)
    want = {os.path.join("usr", p) for p in EXPECTED if not (extra and p == UNIT)}
    assert installed == want, installed
    foreign = dest / "usr/lib/socksify/keep.conf"  # not ours: uninstall must leave it
    foreign.write_text("x")
    make("uninstall", dest, *extra)
    assert files_under(dest) == {"usr/lib/socksify/keep.conf"}
    foreign.unlink()
    make("install", dest, *extra)
    make("uninstall", dest, *extra)
    assert files_under(dest) == set()
    assert not (dest / "usr/lib/socksify").exists()  # made by install, so removed with its files
