"""Helpers shared by the integration tests: paths, child environments, processes
we start (and always stop), waiting for conditions instead of sleeping."""

import errno
import json
import os
import re
import select
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.abspath(os.environ.get("SOCKSIFY_BUILD") or os.path.join(ROOT, "build"))
SANITIZE = os.environ.get("SOCKSIFY_SANITIZE", "") == "1"

PYTHON = "/usr/bin/python3"  # the pyenv python3 first on PATH is not the one we test with
WRAPPER = os.path.join(ROOT, "socksify.sh")
LIB = os.path.join(BUILD, "libsocksify.so")
SOCKS5D = os.path.join(BUILD, "socks5d")
HTTPD = os.path.join(HERE, "httpd.py")
PYCLIENT = os.path.join(HERE, "pyclient.py")

# A PATH without pyenv shims, so that "python3" in a child shell is /usr/bin/python3.
CLEAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

# Environment variables of the caller that would change what a child does.
_DROP_ENV = re.compile(
    r"^(SOCKSIFY_.*|LD_PRELOAD|ASAN_OPTIONS|UBSAN_OPTIONS|(?i:https?_proxy|all_proxy|no_proxy|ftp_proxy))$")


def tool(name):
    """Absolute path of a program, also looking in sbin dirs; None when missing."""
    return shutil.which(name, path=CLEAN_PATH)


def sanitizer_preload():
    """The sanitizer runtimes that must come first in LD_PRELOAD for an ASan library."""
    libs = []
    for name in ("libasan.so", "libubsan.so"):
        out = subprocess.run(["gcc", "-print-file-name=" + name], capture_output=True, text=True).stdout.strip()
        if not out or not os.path.exists(out):
            raise RuntimeError("SOCKSIFY_SANITIZE=1 but gcc has no %s" % name)
        libs.append(out)
    return libs


_SAN_PRELOAD = None


def base_env(**extra):
    """Environment for a child program: no inherited proxy settings, a clean PATH,
    SOCKSIFY_LIB pointing into the build under test and, in sanitizer mode, the
    ASan/UBSan runtimes preloaded first (socksify.sh appends the library after them).
    Keyword arguments are added; a value of None removes the variable."""
    global _SAN_PRELOAD
    env = {k: v for k, v in os.environ.items() if not _DROP_ENV.match(k)}
    env["PATH"] = CLEAN_PATH
    env["SOCKSIFY_LIB"] = LIB
    env["LC_ALL"] = "C"
    if SANITIZE:
        if _SAN_PRELOAD is None:
            _SAN_PRELOAD = sanitizer_preload()
        env["LD_PRELOAD"] = ":".join(_SAN_PRELOAD)
        # curl's and python's own leaks are not ours; our library is checked by the aborts below.
        env["ASAN_OPTIONS"] = "detect_leaks=0:verify_asan_link_order=0:abort_on_error=0"
        env["UBSAN_OPTIONS"] = "print_stacktrace=1:halt_on_error=1"
    for k, v in extra.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = v
    return env


_P11KIT = {}


def _loads_p11kit(word):
    """True for a program that links libp11-kit (curl, wget: through GnuTLS)."""
    if word not in _P11KIT:
        path = word if os.path.isabs(word) else shutil.which(word, path=CLEAN_PATH)
        if path and os.path.basename(path) == "git":  # git's HTTP transport is a separate helper
            path = "/usr/lib/git-core/git-remote-http"
        found = False
        if path and os.path.isfile(path) and os.access(path, os.X_OK):
            r = subprocess.run(["ldd", path], capture_output=True, text=True)
            found = "libp11-kit" in r.stdout
        _P11KIT[word] = found
    return _P11KIT[word]


def sanitizer_env_for(args, env):
    """Sanitizer mode: libp11-kit's constructor calls newlocale(), whose malloc() is then
    the ASan runtime's first call; ASan initializes inside glibc's locale lock and the
    program deadlocks in setlocale() (seen with curl and wget, with or without our
    library). For runs that involve such a program, the runtimes are not preloaded:
    the library loads them itself (it links them), with verify_asan_link_order=0.
    ASan then checks our library's stack and globals, UBSan everything, but heap
    allocations go to libc's malloc. Programs without p11-kit (python3, bash, node)
    keep the runtimes first and get full heap checking."""
    if not SANITIZE or not env or not env.get("LD_PRELOAD") or _SAN_PRELOAD is None:
        return env
    words = []
    for a in args:
        words.extend(re.findall(r"[A-Za-z0-9_./+-]+", a))
    if not any(_loads_p11kit(w) for w in set(words) if "/" not in w or os.path.isabs(w)):
        return env
    env = dict(env)
    kept = [p for p in env["LD_PRELOAD"].split(":") if p and p not in _SAN_PRELOAD]
    if kept:
        env["LD_PRELOAD"] = ":".join(kept)
    else:
        del env["LD_PRELOAD"]
    return env


def preload_env(**extra):
    """Environment that preloads the library directly (no wrapper)."""
    env = base_env(**extra)
    env["LD_PRELOAD"] = ":".join(filter(None, [env.get("LD_PRELOAD"), LIB]))
    return env


SANITIZER_REPORT = re.compile(r"ERROR: (Address|Leak|Undefined)Sanitizer|runtime error: |AddressSanitizer:")


def assert_no_sanitizer_report(text, what="child"):
    m = SANITIZER_REPORT.search(text or "")
    assert not m, "%s printed a sanitizer report:\n%s" % (what, text[max(0, m.start() - 200):m.start() + 3000])


class Result:
    def __init__(self, args, rc, out, err, elapsed):
        self.args, self.rc, self.out, self.err, self.elapsed = args, rc, out, err, elapsed

    def __repr__(self):
        return "Result(rc=%r, elapsed=%.2fs, args=%r)\n--- stdout:\n%s\n--- stderr:\n%s" % (
            self.rc, self.elapsed, self.args, _clip(self.out), _clip(self.err))


def _clip(b, n=4000):
    if isinstance(b, bytes):
        b = b.decode("utf-8", "replace")
    return b if len(b) <= n else b[:n] + "...[%d more]" % (len(b) - n)


def run(args, env=None, timeout=30, input=None, text=True, cwd=None, check_sanitizer=True):
    """Run a child to completion in its own process group; kill the group on timeout."""
    t0 = time.monotonic()
    env = sanitizer_env_for(args, env if env is not None else base_env())
    p = subprocess.Popen(args, env=env, stdin=subprocess.PIPE if input is not None else subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=text, cwd=cwd, start_new_session=True)
    try:
        out, err = p.communicate(input=input, timeout=timeout)
    except subprocess.TimeoutExpired:
        _killpg(p)
        out, err = p.communicate()
        raise AssertionError("%r did not finish within %ss\n--- stdout:\n%s\n--- stderr:\n%s" % (
            args, timeout, _clip(out), _clip(err)))
    finally:
        _killpg(p, signal.SIGKILL, only_leftovers=True)
    r = Result(args, p.returncode, out, err, time.monotonic() - t0)
    if check_sanitizer and SANITIZE:
        assert_no_sanitizer_report(err if text else err.decode("utf-8", "replace"), repr(args))
    return r


def _killpg(p, sig=signal.SIGKILL, only_leftovers=False):
    """Kill the process group of a child we started (its pid is the group id)."""
    if only_leftovers and p.returncode is None:
        return
    try:
        os.killpg(p.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class Server:
    """A long-running child (socks5d, httpd, microsocks, danted) in its own process
    group. Its stdout is read line by line on demand; stderr goes to a file so that
    it never blocks and can be searched (socks5d's session log)."""

    registry = []  # every Server still running: stopped at the latest at session end

    def __init__(self, args, log_path, env=None, name=None):
        self.args = args
        self.name = name or os.path.basename(args[0])
        self.log_path = log_path
        self._log = open(log_path, "wb")
        if env is None:  # peers and helpers are not under test: no sanitizer runtime in them
            env = base_env(LD_PRELOAD=None, ASAN_OPTIONS=None, UBSAN_OPTIONS=None)
        self.proc = subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=self._log, start_new_session=True)
        self._buf = b""
        self.lines = []
        self._next = 0  # lines before this one were consumed by read_line
        self.returncode = None
        Server.registry.append(self)

    def read_line(self, pattern, timeout=10):
        """Wait for the next stdout line matching pattern (skipping others); returns the match."""
        rx = re.compile(pattern)
        while self._next < len(self.lines):
            m = rx.search(self.lines[self._next])
            self._next += 1
            if m:
                return m
        deadline = time.monotonic() + timeout
        fd = self.proc.stdout.fileno()
        while True:
            while b"\n" in self._buf:
                raw, self._buf = self._buf.split(b"\n", 1)
                line = raw.decode("utf-8", "replace")
                self.lines.append(line)
                self._next = len(self.lines)
                m = rx.search(line)
                if m:
                    return m
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("%s: no stdout line matching %r within %ss; stdout so far %r; stderr:\n%s" % (
                    self.name, pattern, timeout, self.lines, _clip(self.log())))
            r, _, _ = select.select([fd], [], [], left)
            if r:
                chunk = os.read(fd, 65536)
                if not chunk:
                    self.proc.wait()
                    raise AssertionError("%s exited (status %r) before printing %r; stdout %r; stderr:\n%s" % (
                        self.name, self.proc.returncode, pattern, self.lines, _clip(self.log())))
                self._buf += chunk

    def log(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def wait_log(self, pattern, timeout=10, count=1):
        """Poll the stderr log until pattern matches count times; returns the matches."""
        rx = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        while True:
            text = self.log()
            found = list(rx.finditer(text))
            if len(found) >= count:
                return found
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError("%s: %d/%d log lines matching %r (exit status %r); log:\n%s" % (
                    self.name, len(found), count, pattern, self.proc.returncode, _clip(text, 8000)))
            time.sleep(0.02)  # polling interval while waiting for a condition

    def signal(self, sig):
        if self.proc.poll() is None:
            os.kill(self.proc.pid, sig)

    def wait(self, timeout):
        try:
            self.returncode = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.returncode

    def stop(self, timeout=5):
        """SIGTERM, then SIGKILL to the whole group if it does not exit in time.
        Returns the exit status (negative for a signal)."""
        if self.proc.poll() is None:
            # Only the main process: it stops and reaps its own workers (danted's), which
            # would otherwise be orphaned to an init that may never reap them.
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # leftovers of its group (forked workers)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.wait()
        self.returncode = self.proc.returncode
        if self.proc.stdout:
            self.proc.stdout.close()
        self._log.close()
        if self in Server.registry:
            Server.registry.remove(self)
        return self.returncode


def stop_all_servers():
    for s in list(Server.registry):
        s.stop(timeout=2)


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    """A port that was free a moment ago, for servers that cannot bind port 0 and tell us."""
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_port(host, port, timeout=10, proc=None, netns=None):
    """Wait until host:port accepts a TCP connection."""
    deadline = time.monotonic() + timeout
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    while True:
        if proc is not None and proc.proc.poll() is not None:
            raise AssertionError("%s exited (status %r) before accepting on %s:%s; log:\n%s" % (
                proc.name, proc.proc.returncode, host, port, _clip(proc.log())))
        if netns is None:
            s = socket.socket(fam, socket.SOCK_STREAM)
            s.settimeout(1)
            try:
                s.connect((host, port))
                return
            except OSError:
                pass
            finally:
                s.close()
        else:
            r = subprocess.run(["ip", "netns", "exec", netns, PYTHON, "-c",
                                "import socket,sys; socket.create_connection((sys.argv[1], int(sys.argv[2])), 1).close()",
                                host, str(port)], capture_output=True)
            if r.returncode == 0:
                return
        if time.monotonic() > deadline:
            raise AssertionError("nothing accepted on %s:%s within %ss" % (host, port, timeout))
        time.sleep(0.02)  # polling interval while waiting for a condition


def start_on_free_port(tmp_path, name, make_cmd, host="127.0.0.1", attempts=5):
    """Servers that cannot report a port-0 bind: find a free port, start, wait until
    it accepts; retry on the small chance someone took the port meanwhile."""
    last = None
    for i in range(attempts):
        port = free_port()
        s = Server(make_cmd(port), str(tmp_path / ("%s-%d.log" % (name, i))), name=name)
        try:
            wait_port(host, port, timeout=10, proc=s)
            return s, port
        except AssertionError as e:
            last = e
            s.stop()
    raise last


DANTED_HEAD = """\
logoutput: stderr
internal: 127.0.0.1 port = %d
%ssocksmethod: none
clientmethod: none
user.privileged: root
user.unprivileged: nobody
client pass { from: 127.0.0.0/8 to: 0.0.0.0/0 }
"""


def start_danted(tmp_path, rules, name="danted", external=("127.0.0.1",)):
    """Dante's danted on a free loopback port, without authentication, taking clients from
    127.0.0.0/8, its socks rules (the end of its danted.conf) rules; in the foreground (no -D),
    one worker (-N 1), its pid file in tmp_path, not /var/run. Skips the test where it cannot
    run. Returns (Server, port)."""
    if not tool("danted"):
        pytest.skip("not installed: danted (tests/install-deps.sh installs dante-server)")
    if os.geteuid() != 0:
        pytest.skip("danted's user.privileged: root needs root")

    def cmd(port):
        path = tmp_path / ("%s-%d.conf" % (name, port))
        path.write_text(DANTED_HEAD % (port, "".join("external: %s\n" % e for e in external)) + rules)
        return [tool("danted"), "-f", str(path), "-N", "1", "-p", str(tmp_path / ("%s.pid" % name))]

    return start_on_free_port(tmp_path, name, cmd)


def closed_port(host="127.0.0.1"):
    """A port on which nothing listens (bound but never listened, so nobody takes it meanwhile).
    Returns (socket, port): keep the socket open while the port must stay closed."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_STREAM)
    s.bind((host, 0))
    return s, s.getsockname()[1]


def hostport(host, port):
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)


def errno_name(n):
    return errno.errorcode.get(n, str(n))


def sock_recv_exact(s, n, timeout=5):
    s.settimeout(timeout)
    buf = b""
    while len(buf) < n:
        chunk = s.recv(n - len(buf))
        if not chunk:
            raise AssertionError("peer closed after %d of %d bytes: %r" % (len(buf), n, buf))
        buf += chunk
    return buf


def recv_all(s, timeout=10):
    s.settimeout(timeout)
    chunks = []
    while True:
        c = s.recv(65536)
        if not c:
            return b"".join(chunks)
        chunks.append(c)


def socksify(proxy, cmd, opts=(), env=None, timeout=60, **kw):
    """Run cmd under ./socksify.sh -x proxy. By default loopback is proxied too
    (SOCKSIFY_NO_PROXY=""), since all our targets are on loopback."""
    if env is None:
        env = base_env(SOCKSIFY_NO_PROXY="")
    args = [WRAPPER] + (["-x", proxy] if proxy else []) + list(opts) + ["--"] + list(cmd)
    return run(args, env=env, timeout=timeout, **kw)


def pyclient(*args):
    return [PYTHON, PYCLIENT] + [str(a) for a in args]


def json_out(r):
    """The JSON object a pyclient run printed; fails with the whole run on anything else."""
    lines = [l for l in r.out.splitlines() if l.startswith("{")]
    assert r.rc == 0 and lines, "client failed: %r" % r
    return json.loads(lines[-1])


def needs(*tools):
    missing = [t for t in tools if not tool(t)]
    return pytest.mark.skipif(bool(missing), reason="not installed: %s (tests/install-deps.sh installs it)" % ", ".join(missing))


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces, nftables)")


if __name__ == "__main__":
    print(ROOT, BUILD, SANITIZE, file=sys.stderr)


# ---- small peers and helpers shared by the test modules ------------------------------------

SLOW = 2.0 if SANITIZE else 1.0  # sanitizer builds run slower: waits stretch by this


def wait_until(cond, timeout, what):
    """Polls cond() until it returns something true (returned); fails with what (a string or a
    function giving one) after timeout * SLOW seconds."""
    deadline = time.monotonic() + timeout * SLOW
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            raise AssertionError("not within %.1fs: %s" % (timeout * SLOW, what() if callable(what) else what))
        time.sleep(0.02)  # polling interval while waiting for a condition


def socks_addr(host, port):
    """ATYP + DST.ADDR + DST.PORT of a SOCKS5 request for an IPv4/IPv6 literal or a name."""
    for fam, atyp in ((socket.AF_INET, b"\x01"), (socket.AF_INET6, b"\x04")):
        try:
            return atyp + socket.inet_pton(fam, host) + struct.pack("!H", port)
        except OSError:
            pass
    name = host.encode()
    return b"\x03" + bytes([len(name)]) + name + struct.pack("!H", port)


def socks_greet(s, auth=None):
    """The SOCKS5 greeting on a connected socket, and the RFC 1929 login when auth is (user, password)."""
    if auth:
        s.sendall(b"\x05\x01\x02")
        assert sock_recv_exact(s, 2) == b"\x05\x02"
        u, p = auth[0].encode(), auth[1].encode()
        s.sendall(b"\x01" + bytes([len(u)]) + u + bytes([len(p)]) + p)
        assert sock_recv_exact(s, 2) == b"\x01\x00"
    else:
        s.sendall(b"\x05\x01\x00")
        assert sock_recv_exact(s, 2) == b"\x05\x00"


class EchoServer:
    """A TCP echo server on 127.0.0.1 (and with udp=True a UDP one), in threads. TCP
    connections are half-closed after the client's EOF. .port is the TCP port."""

    def __init__(self, udp=False):
        self.tcp = socket.socket()
        self.tcp.bind(("127.0.0.1", 0))
        self.tcp.listen(1024)
        self.port = self.tcp.getsockname()[1]
        self.udp = None
        threading.Thread(target=self._accept, daemon=True).start()
        if udp:
            self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.udp.bind(("127.0.0.1", 0))
            threading.Thread(target=self._udp_echo, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.tcp.accept()
            except OSError:
                return
            threading.Thread(target=self._echo, args=(c,), daemon=True).start()

    @staticmethod
    def _echo(c):
        with c:
            try:
                while True:
                    data = c.recv(65536)
                    if not data:
                        c.shutdown(socket.SHUT_WR)
                        return
                    c.sendall(data)
            except OSError:
                pass

    def _udp_echo(self):
        while True:
            try:
                data, src = self.udp.recvfrom(65536)
                self.udp.sendto(data, src)
            except OSError:
                return

    def close(self):
        self.tcp.close()
        if self.udp:
            self.udp.close()
