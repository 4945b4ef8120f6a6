"""Fixtures for the integration tests: a local HTTP server with known bodies,
socks5d instances on port 0, and helpers to run programs under socksify.sh.

Environment (set by the Makefile):
  SOCKSIFY_BUILD     absolute build dir (default: <repo>/build)
  SOCKSIFY_SANITIZE  1 when the build uses ASan/UBSan: children get the
                     sanitizer runtimes preloaded first (see support.base_env)
"""

import hashlib
import os
import re
import signal

import pytest

import support
from support import PYTHON, Server, hostport


def pytest_report_header(config):
    return "socksify build: %s (sanitize=%s)" % (support.BUILD, int(support.SANITIZE))


@pytest.fixture(scope="session", autouse=True)
def _stop_everything_at_the_end():
    yield
    support.stop_all_servers()


@pytest.fixture(scope="session")
def built():
    """The build under test must exist: a missing binary is a failure, not a skip."""
    for f in (support.SOCKS5D, support.LIB, support.WRAPPER):
        assert os.path.exists(f), "%s is missing (run 'make' first; SOCKSIFY_BUILD=%s)" % (f, support.BUILD)


class Bodies:
    def __init__(self, root):
        self.root = root
        self.data = {}

    def add(self, name, data):
        with open(os.path.join(self.root, name), "wb") as f:
            f.write(data)
        self.data[name] = data

    def sha(self, name):
        return hashlib.sha256(self.data[name]).hexdigest()


@pytest.fixture(scope="session")
def bodies(tmp_path_factory):
    b = Bodies(str(tmp_path_factory.mktemp("www")))
    b.add("body", os.urandom(100 * 1024))  # binary: catches any corruption or truncation
    b.add("small", os.urandom(3000))
    words = [os.urandom(4).hex() for _ in range(400)]
    b.add("text", (" ".join(words) + "\n").encode())
    return b


class HTTPD:
    def __init__(self, server, port, bodies):
        self.server, self.port, self.bodies = server, port, bodies

    def url(self, host, name="body"):
        return "http://%s/%s" % (hostport(host, self.port), name)


@pytest.fixture(scope="session")
def httpd(bodies, tmp_path_factory):
    """One HTTP server on 127.0.0.1 and [::1], same port, serving the bodies."""
    log = str(tmp_path_factory.mktemp("httpd") / "httpd.log")
    s = Server([PYTHON, "-u", support.HTTPD, bodies.root, "127.0.0.1", "::1"], log, name="httpd")
    port = int(s.read_line(r"listening on 127\.0\.0\.1:(\d+)").group(1))
    s.read_line(r"listening on \[::1\]:%d" % port)
    yield HTTPD(s, port, bodies)
    s.stop()


class Socks5d:
    """A running build/socks5d, its listeners and its stderr log."""

    def __init__(self, server, listeners):
        self.server = server
        self.listeners = listeners  # [(host, port)] in -l order
        self.expect_clean_exit = True

    @property
    def host(self):
        return self.listeners[0][0]

    @property
    def port(self):
        return self.listeners[0][1]

    def url(self, i=0, auth=None, scheme="socks5"):
        h, p = self.listeners[i]
        return "%s://%s%s" % (scheme, auth + "@" if auth else "", hostport(h, p))

    def log(self):
        return self.server.log()

    def sessions(self):
        return [l for l in self.log().splitlines() if " session " in l]

    def wait_session(self, target, result="ok", timeout=10, count=1, user=None):
        """Wait for `count` session lines for target ("127.0.0.1:80", "[::1]:80", "name:80")."""
        pat = r"^socks5d\[\d+\]: info: session client=\S+ user=%s cmd=connect target=%s result=%s\b.*$" % (
            re.escape(user) if user else r"\S+", re.escape(target), re.escape(result))
        return [m.group(0) for m in self.server.wait_log(pat, timeout=timeout, count=count)]

    def stop(self, sig=signal.SIGTERM, timeout=5):
        self.server.signal(sig)
        rc = self.server.wait(timeout)
        if rc is None:
            self.server.stop(timeout=1)
            raise AssertionError("socks5d did not exit within %ss of signal %d; log:\n%s" % (timeout, sig, self.log()))
        self.server.stop()
        return rc


@pytest.fixture
def start_socks5d(built, tmp_path):
    """Factory: start_socks5d(*extra_args, listen=[...]) -> Socks5d (stopped after the test;
    its exit must be clean and, in sanitizer mode, free of reports)."""
    started = []

    def start(*args, listen=("127.0.0.1:0", "[::1]:0"), netns=None):
        cmd = [support.SOCKS5D]
        for l in listen:
            cmd += ["-l", l]
        cmd += list(args)
        if netns and not {"-u", "--users", "--allow-open"} & set(args):
            # a veth address inside the test's own namespace: open on purpose
            cmd.append("--allow-open")
        if netns:
            cmd = ["ip", "netns", "exec", netns] + cmd
        env = support.base_env()
        if support.SANITIZE:
            env.pop("LD_PRELOAD", None)  # socks5d links the runtimes itself; leaks in it are ours
            env["ASAN_OPTIONS"] = "detect_leaks=1"
        log = str(tmp_path / ("socks5d-%d.log" % len(started)))
        s = Server(cmd, log, env=env, name="socks5d")
        listeners = []
        for _ in listen:
            m = s.read_line(r"^socks5d: listening on (?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):(\d+)$")
            listeners.append((m.group(1) or m.group(2), int(m.group(3))))
        d = Socks5d(s, listeners)
        started.append(d)
        return d

    yield start
    problems = []
    for d in started:
        if d.server.proc.poll() is None:
            rc = d.stop()
            if d.expect_clean_exit and rc != 0:
                problems.append("socks5d exited with %r on SIGTERM" % rc)
        if support.SANITIZE:
            m = support.SANITIZER_REPORT.search(d.log())
            if m:
                problems.append("socks5d sanitizer report:\n" + d.log()[m.start():m.start() + 3000])
    assert not problems, "\n".join(problems)


@pytest.fixture
def socks5d(start_socks5d):
    """socks5d without auth on 127.0.0.1:0 and [::1]:0."""
    return start_socks5d()
