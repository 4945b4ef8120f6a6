"""The wrapper: socksify.sh finds and execs the launcher (build/socksify), which parses
the options, checks the URL and the program, sets the environment and execs. Every
option form, every refusal and exit status, the installed layout, no forks of its own,
and the run's name table that the launcher creates for all processes of the run.
Nothing here touches a network: name lookups run in an empty network namespace."""

import json
import os
import shutil
import tempfile
import stat
import subprocess

import pytest

import support
from support import PYTHON, WRAPPER

LAUNCHER = os.path.join(support.BUILD, "socksify")
URL = "socks5://127.0.0.1:1"
SHOW_ENV = [PYTHON, "-c", "import os, json; print(json.dumps({k: v for k, v in os.environ.items() "
                          "if k.startswith('SOCKSIFY_') or k == 'LD_PRELOAD'}))"]


def preloaded(lib=None):
    """LD_PRELOAD as the program sees it: the caller's (the sanitizer runtimes, in that mode), then lib."""
    return ":".join(filter(None, [support.base_env().get("LD_PRELOAD"), lib or support.LIB]))


def env_seen(r):
    assert r.rc == 0, r
    return json.loads(r.out.strip().splitlines()[-1])


def wrap(args, env=None, wrapper=WRAPPER, **kw):
    return support.run([wrapper] + list(args), env=env if env is not None else support.base_env(), **kw)


@pytest.fixture(params=["socksify.sh", "launcher"])
def wrapper(request, built):
    """Both ways in: the sh script, and the launcher it execs (what `make install` installs)."""
    if request.param == "launcher":
        assert os.path.exists(LAUNCHER), "%s is missing (run 'make')" % LAUNCHER
        return LAUNCHER
    return WRAPPER


# ---- every option form ----

@pytest.mark.parametrize("opts, want", [
    (["-x", URL], {"SOCKSIFY_PROXY": URL}),
    (["--proxy", URL], {"SOCKSIFY_PROXY": URL}),
    (["--proxy=" + URL], {"SOCKSIFY_PROXY": URL}),
    (["-x", URL, "-t", "2.5"], {"SOCKSIFY_TIMEOUT": "2.5"}),
    (["-x", URL, "--timeout", "7"], {"SOCKSIFY_TIMEOUT": "7"}),
    (["-x", URL, "--timeout=0.5"], {"SOCKSIFY_TIMEOUT": "0.5"}),
    (["-x", URL, "-n", "10.0.0.0/8,::1"], {"SOCKSIFY_NO_PROXY": "10.0.0.0/8,::1"}),
    (["-x", URL, "--no-proxy", ""], {"SOCKSIFY_NO_PROXY": ""}),
    (["-x", URL, "--no-proxy=a.test,b.test"], {"SOCKSIFY_NO_PROXY": "a.test,b.test"}),
    (["-x", URL, "--log-file", "/tmp/x.log"], {"SOCKSIFY_LOG_FILE": "/tmp/x.log"}),
    (["-x", URL, "--log-file=/tmp/y.log"], {"SOCKSIFY_LOG_FILE": "/tmp/y.log"}),
    (["-x", URL, "-v"], {"SOCKSIFY_LOG": "info"}),
    (["-x", URL, "--verbose"], {"SOCKSIFY_LOG": "info"}),
    (["-x", URL, "-vv"], {"SOCKSIFY_LOG": "debug"}),
    (["-x", URL, "-v", "--verbose"], {"SOCKSIFY_LOG": "debug"}),
    (["-x", URL, "-q"], {"SOCKSIFY_LOG": "none"}),
    (["-x", URL, "--quiet"], {"SOCKSIFY_LOG": "none"}),
    (["-x", URL, "-q", "-v"], {"SOCKSIFY_LOG": "info"}),  # verbose wins, whatever the order
    (["-v", "-x", URL, "-q"], {"SOCKSIFY_LOG": "info"}),
    (["-x", URL, "--force"], {"SOCKSIFY_PROXY": URL}),  # nothing to force: runs as usual
    (["-x", URL, "--supervise", "never"], {"SOCKSIFY_SUPERVISE": "never"}),
    (["-x", URL, "--supervise=auto"], {"SOCKSIFY_SUPERVISE": "auto"}),  # a dynamic program: the library
    (["-x", URL, "--"], {"SOCKSIFY_PROXY": URL}),
    (["-x", "socks5://first:1", "-x", URL], {"SOCKSIFY_PROXY": URL}),  # the last one wins
])
def test_option_forms(wrapper, opts, want):
    seen = env_seen(wrap(opts + SHOW_ENV, wrapper=wrapper))
    for k, v in want.items():
        assert seen.get(k) == v, (opts, seen)
    assert seen["LD_PRELOAD"] == preloaded(), seen


def test_options_win_over_the_environment(wrapper):
    env = support.base_env(SOCKSIFY_PROXY="socks5://env:1", SOCKSIFY_TIMEOUT="9", SOCKSIFY_LOG="debug")
    seen = env_seen(wrap(["-x", URL, "-t", "3", "-q"] + SHOW_ENV, env=env, wrapper=wrapper))
    assert (seen["SOCKSIFY_PROXY"], seen["SOCKSIFY_TIMEOUT"], seen["SOCKSIFY_LOG"]) == (URL, "3", "none"), seen


def test_proxy_from_the_environment(wrapper):
    seen = env_seen(wrap(SHOW_ENV, env=support.base_env(SOCKSIFY_PROXY=URL), wrapper=wrapper))
    assert seen["SOCKSIFY_PROXY"] == URL and "SOCKSIFY_LOG" not in seen, seen


def test_options_stop_at_the_command(wrapper):
    """The command's own options are its own; "--" ends ours even before a word starting with '-'."""
    r = wrap(["-x", URL, "sh", "-c", 'echo "$@"', "sh", "-x", "-q", "--bogus"], wrapper=wrapper)
    assert r.rc == 0 and r.out.strip() == "-x -q --bogus", r
    r = wrap(["-x", URL, "--", "-q"], wrapper=wrapper)
    assert r.rc == 127 and "-q: command not found" in r.err, r


@pytest.mark.parametrize("opts, words", [
    (["-x"], ["-x", "needs a value"]),
    (["-x", URL, "--timeout"], ["--timeout", "needs a value"]),
    (["-x", URL, "-n"], ["-n", "needs a value"]),
    (["-x", URL, "--log-file"], ["--log-file", "needs a value"]),
    (["-x", URL, "--bogus", "true"], ["unknown option '--bogus'"]),
    (["-x", URL, "-vvv", "true"], ["unknown option '-vvv'"]),
    (["-x", URL, "-", "true"], ["unknown option '-'"]),
    (["-x", URL, "--proxy-x=1", "true"], ["unknown option '--proxy-x=1'"]),
    (["-x", URL], ["no command given"]),
    (["-x", URL, "--"], ["no command given"]),
    (["true"], ["no proxy given"]),
    (["-x", "", "true"], ["no proxy given"]),
    (["-x", "socks5://h:99999", "true"], ["bad proxy URL 'socks5://h:99999'", "99999"]),
    (["-x", URL, "--supervise", "sometimes", "true"], ["bad supervise mode 'sometimes'", "auto, always or never"]),
    (["-x", URL, "--supervise"], ["--supervise", "needs a value"]),
])
def test_usage_errors_exit_2_with_one_line(wrapper, opts, words):
    r = wrap(opts, wrapper=wrapper)
    assert r.rc == 2, r
    lines = r.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("socksify: "), r
    for w in words:
        assert w in lines[0], (w, r)


def test_help_and_version(wrapper):
    for opt in ("-h", "--help"):
        r = wrap([opt, "--bogus"], wrapper=wrapper)  # nothing after it is looked at
        assert r.rc == 0 and "Usage:" in r.out and "--log-file" in r.out and not r.err, r
    for opt in ("-V", "--version"):
        r = wrap([opt], wrapper=wrapper)
        assert r.rc == 0 and r.out.startswith("socksify "), r


# ---- finding and judging the command ----

def test_missing_command_is_127(wrapper, tmp_path):
    r = wrap(["-x", URL, "no-such-command-here"], wrapper=wrapper)
    assert r.rc == 127 and "no-such-command-here: command not found" in r.err, r
    r = wrap(["-x", URL, str(tmp_path / "nothing")], wrapper=wrapper)
    assert r.rc == 127 and "command not found" in r.err, r


def test_path_search_skips_what_cannot_run(wrapper, tmp_path):
    """Like execvp: a non-executable file or a directory earlier in PATH is skipped;
    an empty PATH entry is the current directory."""
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    (first / "tool").write_text("#!/bin/sh\necho wrong\n")  # not executable
    (first / "dir").mkdir()
    good = second / "tool"
    good.write_text("#!/bin/sh\necho right \"$0\" \"$@\"\n")
    good.chmod(0o755)
    env = support.base_env(PATH="%s:%s:%s" % (first, second, support.CLEAN_PATH))
    r = wrap(["-x", URL, "tool", "arg"], env=env, wrapper=wrapper)
    assert r.rc == 0 and r.out.strip() == "right %s arg" % good, r  # a script's $0 is its path
    env = support.base_env(PATH=":" + support.CLEAN_PATH)
    r = support.run([wrapper if os.path.isabs(wrapper) else os.path.abspath(wrapper), "-x", URL, "tool", "x"],
                    env=env, cwd=str(second))
    assert r.rc == 0 and r.out.strip() == "right tool x", r


def test_not_executable_is_126(wrapper, tmp_path):
    f = tmp_path / "plain"
    f.write_text("echo no\n")
    r = wrap(["-x", URL, str(f)], wrapper=wrapper)
    assert r.rc == 126 and "Permission denied" in r.err, r


def test_script_without_shebang_runs_with_sh(wrapper, tmp_path):
    f = tmp_path / "noshebang"
    f.write_text('echo "ran $1 with $LD_PRELOAD"\n')
    f.chmod(0o755)
    r = wrap(["-x", URL, str(f), "one"], wrapper=wrapper)
    assert r.rc == 0 and r.out.strip() == "ran one with %s" % preloaded(), r


def test_command_keeps_its_argv0(wrapper):
    r = wrap(["-x", URL, "sh", "-c", 'echo "$0"', "given-name"], wrapper=wrapper)
    assert r.out.strip() == "given-name", r
    r = wrap(["-x", URL, PYTHON, "-c", "import sys; print(sys.argv)", "a b", ""], wrapper=wrapper)
    assert r.out.strip() == str(["-c", "a b", ""]), r


def compile_c(tmp_path, name, source, *flags):
    gcc = support.tool("gcc")
    if not gcc:
        pytest.skip("gcc not installed")
    src = tmp_path / (name + ".c")
    src.write_text(source)
    exe = tmp_path / name
    r = support.run([gcc, "-o", str(exe), str(src)] + list(flags), env=support.base_env(LD_PRELOAD=None))
    if r.rc != 0 and flags:  # no static libc here
        pytest.skip("cannot build %s here: %s" % (name, r.err.strip()[:200]))
    assert r.rc == 0, r
    return str(exe)


HELLO = '#include <stdio.h>\nint main(void) { puts("it ran"); return 0; }\n'
# What Go's linker writes at the start of .go.buildinfo (debug/buildinfo looks for it there).
FAKE_GO = ('#include <stdio.h>\n'
           '__attribute__((used, aligned(16), section(".go.buildinfo")))\n'
           'static const char buildinfo[32] = "\\xff Go buildinf:\\x08\\x02";\n'
           'int main(void) { puts("it ran"); return 0; }\n')


UNREACHABLE = [
    ("static", HELLO, ["-static"], ["statically linked"]),
    ("static-pie", HELLO, ["-static-pie"], ["statically linked"]),
    ("go", FAKE_GO, [], ["Go program"]),
]
SUPERVISE = os.path.join(support.BUILD, "socksify-supervise")
CLIENT_C = os.path.join(support.HERE, "supervise_progs", "client.c")
GO_MARK = FAKE_GO.split("int main")[0]  # the .go.buildinfo section alone


@pytest.mark.parametrize("kind, source, flags, words", UNREACHABLE)
def test_unreachable_programs_are_refused_with_supervise_never(wrapper, tmp_path, kind, source, flags, words):
    """--supervise never (or SOCKSIFY_SUPERVISE=never, or the config key): the old refusal,
    and --force runs them unproxied with a warning."""
    exe = compile_c(tmp_path, kind, source, *flags)
    conf = tmp_path / "conf"
    conf.write_text("supervise = never\n")
    for opts, env in ((["--supervise", "never"], None), ([], support.base_env(SOCKSIFY_SUPERVISE="never")),
                      (["--config", str(conf)], None)):
        r = wrap(["-x", URL] + opts + [exe], env=env, wrapper=wrapper)
        assert r.rc == 126 and "it ran" not in r.out, r
        assert "refusing to run %s" % exe in r.err and "--force" in r.err, r
        for w in words:
            assert w in r.err, r
    r = wrap(["-x", URL, "--supervise=never", "--force", exe], wrapper=wrapper)
    assert r.rc == 0 and r.out.strip() == "it ran", r
    assert "warning:" in r.err and "will NOT go through the proxy" in r.err, r


def build_client(tmp_path, kind):
    """supervise_progs/client.c (an HTTP GET) as a static, static-pie or (fake) Go program."""
    gcc = support.tool("gcc")
    if not gcc:
        pytest.skip("gcc not installed")
    exe = str(tmp_path / ("client-" + kind))
    srcs, flags = [CLIENT_C], {"static": ["-static"], "static-pie": ["-static-pie"], "go": []}[kind]
    if kind == "go":
        mark = tmp_path / "gomark.c"
        mark.write_text(GO_MARK)
        srcs.append(str(mark))
    r = support.run([gcc, "-O2", "-pthread", "-o", exe] + srcs + flags, env=support.base_env(LD_PRELOAD=None),
                    timeout=120)
    if r.rc != 0 and flags:
        pytest.skip("cannot build %s here: %s" % (kind, r.err.strip()[:200]))
    assert r.rc == 0, r
    return exe


@pytest.mark.parametrize("kind", ["static", "static-pie", "go"])
def test_unreachable_programs_run_proxied_under_the_supervisor(wrapper, socks5d, httpd, bodies, tmp_path, kind):
    """By default (--supervise auto) a static, static-pie or Go program runs under socksify-supervise:
    its connection reaches httpd through socks5d (its session line shows it), without a warning."""
    exe = build_client(tmp_path, kind)
    out = tmp_path / "out"
    r = wrap(["-x", socks5d.url(), "-n", "", exe, "get", "127.0.0.1", str(httpd.port), "small", str(out)],
             wrapper=wrapper)
    assert r.rc == 0 and '"errno": null' in r.out and not r.err, r
    assert out.read_bytes() == bodies.data["small"]
    socks5d.wait_session("127.0.0.1:%d" % httpd.port)
    # --force changes nothing here: the supervisor can proxy it, so it does
    r = wrap(["-x", socks5d.url(), "-n", "", "--force", exe, "get", "127.0.0.1", str(httpd.port), "small",
              str(out)], wrapper=wrapper)
    assert r.rc == 0 and '"errno": null' in r.out and not r.err, r
    socks5d.wait_session("127.0.0.1:%d" % httpd.port, count=2)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to run the program as another user")
def test_execute_only_program_runs_under_the_supervisor(wrapper, socks5d, httpd, tmp_path):
    """A program the launcher cannot read (mode 0111, run by a user who is not root) cannot be
    inspected: it may be static, so it runs under the supervisor rather than unproxied. The kernel
    makes such a process non-dumpable, so the supervisor cannot look into its sockets either: its
    connects fail (EPERM) - closed, never direct (a direct connect to httpd would succeed)."""
    exe = build_client(tmp_path, "static")
    d = tempfile.mkdtemp(prefix="sfy-xonly-")
    try:
        os.chmod(d, 0o1777)  # nobody writes the body here
        xonly = os.path.join(d, "client")
        shutil.copy(exe, xonly)
        os.chmod(xonly, 0o111)
        cmd = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", wrapper, "-x", socks5d.url(),
               "-n", "", xonly, "get", "127.0.0.1", str(httpd.port), "small", os.path.join(d, "out")]
        env = support.base_env(HOME=d, XDG_CONFIG_HOME=None)
        r = support.run(cmd, env=env)
        assert r.rc != 0 and '"step": "connect", "errno": "EPERM"' in r.out, r
        r = support.run(cmd[:5] + ["-x", socks5d.url(), "--supervise", "never"] + cmd[7:], env=env)
        assert r.rc == 126 and "cannot be read" in r.err, r
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_supervised_program_exit_status_and_argv(wrapper, tmp_path):
    exe = compile_c(tmp_path, "status", '#include <stdio.h>\nint main(int c, char **v) '
                    '{ printf("%s|%s\\n", v[0], v[c - 1]); return 7; }\n', "-static")
    r = wrap(["-x", URL, exe, "a b"], wrapper=wrapper)
    assert r.rc == 7 and r.out.strip() == "%s|a b" % exe, r


def test_supervise_always_runs_dynamic_programs_under_it_too(wrapper, socks5d, httpd, bodies, tmp_path):
    """--supervise always: a dynamic program runs under the supervisor alone (the library is taken
    out of LD_PRELOAD: one name table, the supervisor's), and is proxied by it."""
    seen = env_seen(wrap(["-x", URL, "--supervise", "always"] + SHOW_ENV, wrapper=wrapper,
                         env=support.base_env(LD_PRELOAD=preloaded())))
    assert support.LIB not in seen.get("LD_PRELOAD", "") and seen["SOCKSIFY_SUPERVISE"] == "always", seen
    assert "SOCKSIFY_DNS_SHM" not in seen, seen
    r = wrap(["-x", socks5d.url(), "-n", "", "--supervise", "always", PYTHON, "-c",
              "import socket, sys; s = socket.create_connection(('127.0.0.1', int(sys.argv[1])));"
              "s.sendall(b'GET /small HTTP/1.0\\r\\n\\r\\n'); print(len(s.recv(100)))", str(httpd.port)],
             wrapper=wrapper)
    assert r.rc == 0 and int(r.out) > 0, r
    line = socks5d.wait_session("127.0.0.1:%d" % httpd.port)[0]
    assert "cmd=connect" in line, line


@pytest.mark.parametrize("mode", ["auto", "always", "never"])
def test_setuid_program_is_refused_with_126(wrapper, tmp_path, mode):
    exe = tmp_path / "true-setuid"
    shutil.copy("/usr/bin/true", exe)
    os.chmod(exe, 0o4755)
    r = wrap(["-x", URL, "--supervise", mode, str(exe)], wrapper=wrapper)
    assert r.rc == 126 and "setuid" in r.err and "refusing to run" in r.err, r


def test_supervisor_missing_fails_closed(built, tmp_path):
    """The supervisor is found like the library, next to the launcher (or SOCKSIFY_SUPERVISE_BIN);
    without it, a static program is not run: 126 and a line saying why."""
    exe = compile_c(tmp_path, "hello-static", HELLO, "-static")
    d = tmp_path / "somewhere"
    d.mkdir()
    for f in ("socksify", "libsocksify.so"):
        shutil.copy(os.path.join(support.BUILD, f), d / f)
    env = support.base_env(SOCKSIFY_LIB=None)
    r = support.run([str(d / "socksify"), "-x", URL, exe], env=env)
    assert r.rc == 126 and "it ran" not in r.out, r
    assert "refusing to run %s" % exe in r.err and "socksify-supervise" in r.err and str(d) in r.err, r
    shutil.copy(SUPERVISE, d / "socksify-supervise")
    r = support.run([str(d / "socksify"), "-x", URL, exe], env=env)
    assert r.rc == 0 and r.out.strip() == "it ran", r
    r = support.run([str(d / "socksify"), "-x", URL, exe],
                    env=support.base_env(SOCKSIFY_LIB=None, SOCKSIFY_SUPERVISE_BIN=str(tmp_path / "nothing")))
    assert r.rc == 126 and "it ran" not in r.out and "cannot run" in r.err, r


def test_supervisor_that_cannot_attach_fails_closed(wrapper, tmp_path):
    """Under a supervisor already, the launcher's supervisor cannot install its filter: 126,
    the program does not run."""
    exe = compile_c(tmp_path, "hello-static", HELLO, "-static")
    r = support.run([SUPERVISE, "-x", URL, "--", wrapper, "-x", URL, exe])
    assert r.rc == 126 and "it ran" not in r.out, r
    assert "refusing to run" in r.err and "seccomp" in r.err, r


@pytest.mark.parametrize("proxy", ["socks5://127.0.0.1:1,socks5://127.0.0.1:2", "socks4://127.0.0.1:1",
                                   "socks4a://127.0.0.1:1", "http://127.0.0.1:1"])
def test_static_program_with_a_chain_or_other_kind_runs(wrapper, tmp_path, proxy):
    """The supervisor speaks every hop kind and chains (the library's hop machine): the launcher
    runs a static program under it whatever the proxy is, as it runs a dynamic one."""
    exe = compile_c(tmp_path, "hello-static", HELLO, "-static")
    r = wrap(["-x", proxy, exe], wrapper=wrapper)
    assert r.rc == 0 and r.out.strip() == "it ran" and not r.err, r
    r = wrap(["-x", proxy, "true"], wrapper=wrapper)
    assert r.rc == 0, r


def test_static_program_through_a_chain(wrapper, start_socks5d, httpd, bodies, tmp_path):
    """socksify -x 'socks5://a,socks5://b' ./static-client, as a user runs it: hop a CONNECTs to
    hop b, which CONNECTs to the target."""
    a, b = start_socks5d(listen=("127.0.0.1:0",)), start_socks5d(listen=("127.0.0.1:0",))
    exe = build_client(tmp_path, "static")
    out = tmp_path / "out"
    chain = "%s,socks5://localhost:%d" % (a.url(), b.port)
    r = wrap(["-x", chain, "-n", "", exe, "get", "127.0.0.1", str(httpd.port), "small", str(out)], wrapper=wrapper)
    assert r.rc == 0 and '"errno": null' in r.out and not r.err, r
    assert out.read_bytes() == bodies.data["small"]
    a.wait_session("localhost:%d" % b.port)
    b.wait_session("127.0.0.1:%d" % httpd.port)


def test_a_c_program_that_only_mentions_go_runs(wrapper, tmp_path):
    """The Go header elsewhere in a program (here: in its read-only data) is not Go."""
    src = ('#include <stdio.h>\n__attribute__((used, aligned(16))) static const char magic[] = "\\xff Go buildinf:";\n'
           'int main(void) { puts("it ran"); return magic[1] != 32; }\n')
    exe = compile_c(tmp_path, "mentions-go", src)
    r = wrap(["-x", URL, exe], wrapper=wrapper)
    assert r.rc == 0 and r.out.startswith("it ran"), r


def test_dynamic_programs_and_scripts_run(wrapper):
    for cmd in (["true"], ["sh", "-c", "exit 0"], [PYTHON, "-c", "pass"]):
        r = wrap(["-x", URL] + cmd, wrapper=wrapper)
        assert r.rc == 0 and not r.err, r


# ---- where the launcher and the library are found ----

def test_wrapper_follows_its_symlinks(built, tmp_path):
    link = tmp_path / "bin" / "socksify-link"
    link.parent.mkdir()
    link.symlink_to(WRAPPER)
    seen = env_seen(support.run([str(link), "-x", URL] + SHOW_ENV))
    assert seen["LD_PRELOAD"] == preloaded(), seen


def test_wrapper_alone_says_what_is_missing(built, tmp_path):
    lone = tmp_path / "socksify.sh"
    shutil.copy(WRAPPER, lone)
    r = support.run([str(lone), "-x", URL, "true"], env=support.base_env(SOCKSIFY_LIB=None))
    assert r.rc == 2 and "cannot find the launcher" in r.err, r


def test_library_found_next_to_the_launcher(built, tmp_path):
    """Without SOCKSIFY_LIB: next to the launcher (through its symlinks), else an error."""
    d = tmp_path / "somewhere"
    d.mkdir()
    shutil.copy(LAUNCHER, d / "socksify")
    link = tmp_path / "linked"
    link.symlink_to(d / "socksify")
    env = support.base_env(SOCKSIFY_LIB=None)
    r = support.run([str(link), "-x", URL, "true"], env=env)
    assert r.rc == 2 and "cannot find libsocksify.so next to %s" % d in r.err, r
    shutil.copy(support.LIB, d / "libsocksify.so")
    seen = env_seen(support.run([str(link), "-x", URL] + SHOW_ENV, env=env))
    assert seen["LD_PRELOAD"] == preloaded(str(d / "libsocksify.so")), seen


def test_unreadable_library_is_an_error(wrapper, tmp_path):
    r = wrap(["-x", URL, "true"], env=support.base_env(SOCKSIFY_LIB=str(tmp_path / "nope.so")), wrapper=wrapper)
    assert r.rc == 2 and "cannot read the library" in r.err, r


@pytest.mark.skipif(support.SANITIZE, reason="installs the normal build")
def test_make_install_layout(built, tmp_path):
    """make install DESTDIR=...: bin/socksify runs the installed launcher, which preloads the
    installed library; make uninstall removes them."""
    dest = tmp_path / "dest"
    r = support.run(["make", "-s", "-C", support.ROOT, "install", "DESTDIR=%s" % dest, "PREFIX=/usr"], timeout=300)
    assert r.rc == 0, r
    cmd = dest / "usr" / "bin" / "socksify"
    lib = dest / "usr" / "lib" / "socksify" / "libsocksify.so"
    assert cmd.exists() and lib.exists(), r
    seen = env_seen(support.run([str(cmd), "-x", URL] + SHOW_ENV, env=support.base_env(SOCKSIFY_LIB=None)))
    assert seen["LD_PRELOAD"] == preloaded(str(lib)), seen
    r = support.run([str(cmd), "--version"])
    assert r.rc == 0 and r.out.startswith("socksify "), r
    r = support.run(["make", "-s", "-C", support.ROOT, "uninstall", "DESTDIR=%s" % dest, "PREFIX=/usr"])
    assert r.rc == 0 and not cmd.exists() and not lib.exists(), r


# ---- costs: no forks of its own ----

@support.needs("strace")
def test_wrapper_forks_nothing(built, tmp_path):
    """socksify.sh -> launcher -> program: three execs in one process, no fork, no clone."""
    log = tmp_path / "strace"
    r = support.run(["strace", "-f", "-qq", "-o", str(log), "-e", "trace=execve,fork,vfork,clone,clone3",
                     WRAPPER, "-x", URL, "/bin/true"])
    assert r.rc == 0, r
    calls = [l.split(None, 1)[1] for l in log.read_text().splitlines() if "(" in l]
    assert not [c for c in calls if not c.startswith("execve(")], calls
    assert len(calls) == 3 and calls[-1].startswith('execve("/bin/true"'), calls


# ---- the run's name table ----

NAME_TABLE = r"""
import ctypes, json, os, sys
libc = ctypes.CDLL(None)
libc.getenv.restype = ctypes.c_char_p
v = libc.getenv(b"SOCKSIFY_DNS_SHM")
fd = None
if v:
    pid, fd, ino = v.decode().split(":")
    fd = int(fd)
print(json.dumps({"env": v and v.decode(), "pid": os.getpid(),
                  "target": os.readlink("/proc/self/fd/%d" % fd) if fd is not None else None}))
"""


def test_launcher_creates_the_name_table(wrapper):
    out = env_seen(wrap(["-x", URL, PYTHON, "-c", NAME_TABLE], wrapper=wrapper))
    pid, fd, ino = out["env"].split(":")
    assert int(pid) == out["pid"] and int(fd) >= 900, out  # names the program itself
    assert out["target"].startswith("/memfd:socksify-dns"), out


def test_no_name_table_with_local_dns_or_for_forced_programs(wrapper):
    out = env_seen(wrap(["-x", URL, PYTHON, "-c", NAME_TABLE], env=support.base_env(SOCKSIFY_DNS="local"),
                        wrapper=wrapper))
    assert out["env"] is None, out


def test_nested_run_keeps_the_outer_table(wrapper):
    inner = [wrapper, "-x", URL, PYTHON, "-c", NAME_TABLE]
    r = wrap(["-x", URL, "sh", "-c", 'echo "$SOCKSIFY_DNS_SHM"; exec "$@"', "sh"] + inner, wrapper=wrapper)
    assert r.rc == 0, r
    outer, last = r.out.strip().splitlines()[0], json.loads(r.out.strip().splitlines()[-1])
    assert outer.split(":")[1:] == last["env"].split(":")[1:], r  # same fd and inode
    assert last["target"].startswith("/memfd:socksify-dns"), r


def test_preloaded_alone_the_constructor_makes_no_table(built):
    out = env_seen(support.run([PYTHON, "-c", NAME_TABLE], env=support.preload_env(SOCKSIFY_PROXY=URL)))
    assert out["env"] is None, out


# A child resolves a name (a fake address: no query), the parent, which resolved
# nothing, names that address: only a shared table knows it.
SHARED = r"""
import json, os, socket, subprocess, sys
name = "shared.sfy.test"
if sys.argv[1] == "child":
    print(socket.getaddrinfo(name, 80, socket.AF_INET, socket.SOCK_STREAM)[0][4][0])
    sys.exit(0)
if sys.argv[1] == "fork":
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(w, socket.getaddrinfo(name, 80, socket.AF_INET, socket.SOCK_STREAM)[0][4][0].encode())
        os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    addr = os.read(r, 100).decode()
else:  # posix_spawn (vfork): no fork handlers run
    addr = subprocess.run([sys.executable, sys.argv[0], "child"], capture_output=True, text=True,
                          close_fds=sys.argv[1] == "close_fds").stdout.strip()
try:
    back = socket.getnameinfo((addr, 80), socket.NI_NAMEREQD)[0]
except socket.gaierror as e:
    back = "error: %s" % e
print(json.dumps({"addr": addr, "back": back}))
"""


def unshared(args):
    """args in a new, empty network namespace: a lookup that escaped the library reaches nothing."""
    if os.geteuid() != 0 or not support.tool("unshare"):
        pytest.skip("needs root and unshare")
    return ["unshare", "-n", "--"] + args


@pytest.mark.parametrize("how", ["fork", "spawn", "close_fds"])
def test_children_share_the_launchers_table(wrapper, tmp_path, how):
    script = tmp_path / "shared.py"
    script.write_text(SHARED)
    r = support.run(unshared([wrapper, "-x", URL, PYTHON, str(script), how]))
    out = env_seen(r)
    assert out["addr"].startswith("240.") and out["back"] == "shared.sfy.test", out


def test_preloaded_alone_fork_children_share_a_table(built, tmp_path):
    """Without the launcher the table is made before the first fork, so a forked child shares it."""
    script = tmp_path / "shared.py"
    script.write_text(SHARED)
    out = env_seen(support.run(unshared([PYTHON, str(script), "fork"]), env=support.preload_env(SOCKSIFY_PROXY=URL)))
    assert out["addr"].startswith("240.") and out["back"] == "shared.sfy.test", out
