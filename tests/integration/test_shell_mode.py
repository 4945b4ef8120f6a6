"""Living with it (issue 8): the config files the launcher reads (/etc/socksify.conf, then
$XDG_CONFIG_HOME/socksify/config; the environment wins over them, options over everything),
and the shell mode: '. socksify on [OPTIONS]' exports into the current shell what the
launcher would set for a program, '. socksify off' takes back exactly that."""

import hashlib
import json
import os
import shutil
import stat

import pytest

import support
from support import PYTHON, WRAPPER

SHOW_ENV = [PYTHON, "-c", "import os, json; print(json.dumps({k: v for k, v in os.environ.items() "
                          "if k.startswith('SOCKSIFY_') or k == 'LD_PRELOAD'}))"]
URL = "socks5://127.0.0.1:1"


def config_env(tmp_path, text, **extra):
    """An environment whose ~/.config/socksify/config (via XDG_CONFIG_HOME) holds text."""
    d = tmp_path / "xdg" / "socksify"
    d.mkdir(parents=True, exist_ok=True)
    (d / "config").write_text(text)
    os.chmod(d / "config", 0o600)
    return support.base_env(XDG_CONFIG_HOME=str(tmp_path / "xdg"), HOME=str(tmp_path / "home"),
                            SOCKSIFY_CONFIG=None, **extra)


def env_seen(r):
    assert r.rc == 0, r
    return json.loads(r.out.strip().splitlines()[-1])


# ---- the config file ----

FULL = """# every key
proxy = socks5://127.0.0.1:1080

timeout=2.5
no-proxy = ""
log = warn
log-file = /tmp/socksify-test.log
pipeline = off
dns = local
"""


def test_config_values_reach_the_program(built, tmp_path):
    seen = env_seen(support.run([WRAPPER] + SHOW_ENV, env=config_env(tmp_path, FULL)))
    want = {"SOCKSIFY_PROXY": "socks5://127.0.0.1:1080", "SOCKSIFY_TIMEOUT": "2.5", "SOCKSIFY_NO_PROXY": "",
            "SOCKSIFY_LOG": "warn", "SOCKSIFY_LOG_FILE": "/tmp/socksify-test.log", "SOCKSIFY_PIPELINE": "off",
            "SOCKSIFY_DNS": "local"}
    assert {k: seen.get(k) for k in want} == want, seen


def test_home_config_without_xdg(built, tmp_path):
    d = tmp_path / "home" / ".config" / "socksify"
    d.mkdir(parents=True)
    (d / "config").write_text("proxy = socks5://127.0.0.1:1081\n")
    env = support.base_env(HOME=str(tmp_path / "home"), XDG_CONFIG_HOME=None, SOCKSIFY_CONFIG=None)
    assert env_seen(support.run([WRAPPER] + SHOW_ENV, env=env))["SOCKSIFY_PROXY"] == "socks5://127.0.0.1:1081"


def test_environment_wins_over_config_and_options_over_both(built, tmp_path):
    env = config_env(tmp_path, "proxy = socks5://127.0.0.1:1080\ntimeout = 3\nlog = warn\n",
                     SOCKSIFY_TIMEOUT="4", SOCKSIFY_LOG="error")
    seen = env_seen(support.run([WRAPPER, "-t", "5"] + SHOW_ENV, env=env))
    assert seen["SOCKSIFY_PROXY"] == "socks5://127.0.0.1:1080", seen  # only in the file
    assert seen["SOCKSIFY_LOG"] == "error", seen  # the environment over the file
    assert seen["SOCKSIFY_TIMEOUT"] == "5", seen  # the option over both
    seen = env_seen(support.run([WRAPPER, "-q"] + SHOW_ENV, env=env))
    assert seen["SOCKSIFY_LOG"] == "none", seen


@pytest.mark.parametrize("how", ["--config", "--config=", "SOCKSIFY_CONFIG"])
def test_named_config_is_the_only_one_read(built, tmp_path, how):
    env = config_env(tmp_path, "proxy = socks5://127.0.0.1:1080\ntimeout = 3\n")
    named = tmp_path / "named.conf"
    named.write_text("proxy = socks5://127.0.0.1:2080\n")
    if how == "SOCKSIFY_CONFIG":
        env["SOCKSIFY_CONFIG"], opts = str(named), []
    else:
        opts = [how + str(named)] if how.endswith("=") else [how, str(named)]
    seen = env_seen(support.run([WRAPPER] + opts + SHOW_ENV, env=env))
    assert seen["SOCKSIFY_PROXY"] == "socks5://127.0.0.1:2080", seen
    assert "SOCKSIFY_TIMEOUT" not in seen, seen  # the XDG file was not read
    r = support.run([WRAPPER, "--config", str(tmp_path / "missing.conf")] + SHOW_ENV, env=env)
    assert r.rc == 2 and "missing.conf" in r.err, r


@pytest.mark.parametrize("line, says", [
    ("colour = blue", "unknown key 'colour'"),
    ("proxy", "expected 'key = value'"),
    ("timeout = soon", "bad timeout 'soon'"),
    ("timeout = 0", "bad timeout '0'"),
    ("log = loud", "bad log 'loud'"),
    ("pipeline = maybe", "bad pipeline 'maybe'"),
    ("dns = both", "bad dns 'both'"),
    ("proxy = ftp://h:1", "bad proxy"),
    ("proxy = socks5://a:1,socks5://b:0", "bad proxy"),
    ("chain = dynamic", "bad chain 'dynamic': strict, failover, random or round_robin"),
])
def test_bad_config_line_names_file_and_line(built, tmp_path, line, says):
    env = config_env(tmp_path, "# fine\nlog = info\n\n%s\n" % line)
    path = os.path.join(env["XDG_CONFIG_HOME"], "socksify", "config")
    r = support.run([WRAPPER, "-x", URL] + SHOW_ENV, env=env)
    assert r.rc == 2 and "%s:4: %s" % (path, says) in r.err and not r.out, r
    assert len(r.err.strip().splitlines()) == 1, r


def test_config_password_readable_by_others_is_a_warning(built, tmp_path):
    env = config_env(tmp_path, "proxy = socks5://alice:secret@127.0.0.1:1080\n")
    path = os.path.join(env["XDG_CONFIG_HOME"], "socksify", "config")
    r = support.run([WRAPPER] + SHOW_ENV, env=env)
    assert r.rc == 0 and "warning" not in r.err, r  # 0600
    os.chmod(path, 0o640)
    r = support.run([WRAPPER] + SHOW_ENV, env=env)
    assert r.rc == 0 and "%s holds a proxy password" % path in r.err and "secret" not in r.err, r
    assert env_seen(r)["SOCKSIFY_PROXY"] == "socks5://alice:secret@127.0.0.1:1080"


# ---- shell mode ----

PICK = "env | grep -E '^(LD_PRELOAD|SOCKSIFY_)' | sort"
SESSION = """
%(pick)s > "$OUT/before"
%(on)s
echo "on: $?"
%(pick)s > "$OUT/during"
curl -sS --fail --max-time 20 -o "$OUT/body" "$TARGET" || echo "curl failed: $?"
%(off)s
echo "off: $?"
%(pick)s > "$OUT/after"
set | grep '^_socksify' | sed 's/^/left: /'
echo "still here"
"""
SHELLS = {
    "bash": (["bash", "-c"], '. "$SOCKSIFY_SH" on %s', '. "$SOCKSIFY_SH" off'),
    # dash passes '.' no arguments: the words are the shell's own
    "dash": (["dash", "-c"], 'set -- on %s; . "$SOCKSIFY_SH"', 'set -- off; . "$SOCKSIFY_SH"'),
    "zsh": (["zsh", "-c"], '. "$SOCKSIFY_SH" on %s', '. "$SOCKSIFY_SH" off'),
}


def shell_session(shell, script, opts, env, out, target, cwd=None):
    argv, on, off = SHELLS[shell]
    if not shutil.which(argv[0]):
        pytest.skip("%s not installed" % argv[0])
    env = dict(env, SOCKSIFY_SH=script, OUT=str(out), TARGET=target)
    r = support.run(argv + [SESSION % {"pick": PICK, "on": on % opts, "off": off}], env=env, cwd=cwd)
    assert r.rc == 0 and "on: 0\n" in r.out and "off: 0\n" in r.out and "still here" in r.out, r
    lines = r.out.splitlines()
    assert not [l for l in lines if l.startswith(("curl failed", "left: "))], r  # nothing of ours left behind
    return r, {n: (out / n).read_text() for n in ("before", "during", "after")}


def need_curl():
    if not support.tool("curl"):
        pytest.skip("curl not installed (tests/install-deps.sh installs it)")


@pytest.mark.parametrize("shell", ["bash", "dash", "zsh"])
def test_shell_on_socksifies_the_shell_and_off_restores_it(built, socks5d, httpd, tmp_path, shell):
    need_curl()
    env = support.base_env(SOCKSIFY_TIMEOUT="7", SOCKSIFY_CONFIG=os.devnull)
    out = tmp_path / "out"
    out.mkdir()
    opts = "-x %s -n '' -t 9" % socks5d.url()
    r, seen = shell_session(shell, WRAPPER, opts, env, out, httpd.url("127.0.0.1"))
    socks5d.wait_session("127.0.0.1:%d" % httpd.port)
    assert hashlib.sha256((out / "body").read_bytes()).hexdigest() == httpd.bodies.sha("body"), r
    during = dict(l.split("=", 1) for l in seen["during"].splitlines())
    assert during["SOCKSIFY_PROXY"] == socks5d.url() and during["SOCKSIFY_TIMEOUT"] == "9", seen
    assert during["SOCKSIFY_NO_PROXY"] == "" and during["LD_PRELOAD"].endswith(":" + support.LIB) or \
        during["LD_PRELOAD"] == support.LIB, seen
    assert seen["after"] == seen["before"] and "SOCKSIFY_TIMEOUT=7\n" in seen["after"], seen


def test_shell_on_quotes_what_it_exports(built, tmp_path):
    """A password with quotes, $ and spaces reaches programs as it was given."""
    pw = "it's $HOME `x` \"q\" ;"
    url = "socks5://bob:%s@127.0.0.1:1" % "".join("%%%02X" % ord(c) for c in pw)
    env = support.base_env(SOCKSIFY_CONFIG=os.devnull, URL=url, S=WRAPPER)
    r = support.run(["bash", "-c", '. "$S" on -x "$URL" && "$@"', "sh"] + SHOW_ENV, env=env)
    assert env_seen(r)["SOCKSIFY_PROXY"] == url, r


def test_shell_on_twice_off_twice_and_bad_words(built, tmp_path):
    env = support.base_env(SOCKSIFY_CONFIG=os.devnull, S=WRAPPER)
    script = ('. "$S" on -x %s; echo "a $?"; . "$S" on -x %s; echo "b $?"; . "$S" status; . "$S" off; '
              'echo "c $?"; . "$S" off; echo "d $?"; . "$S" status; . "$S" fly; echo "e $?"; '
              '. "$S" on -x bogus://x; echo "f $?"; echo "[$LD_PRELOAD]"; echo "still here"') % (URL, URL)
    r = support.run(["bash", "-c", script], env=env)
    want = ["a 0", "b 1", "socksify: on", "c 0", "d 1", "socksify: off", "e 2", "f 2",
            "[%s]" % (env.get("LD_PRELOAD") or ""), "still here"]
    assert r.out.splitlines() == want, r
    assert "socksified already" in r.err and "not socksified" in r.err and "bad proxy URL" in r.err, r


@pytest.mark.parametrize("word", ["on", "off"])
def test_executed_with_on_says_source_it(built, word):
    r = support.run([WRAPPER, word, "-x", URL])
    assert r.rc == 2 and "source it: . socksify %s" % word in r.err and not r.out, r


def test_shell_on_takes_the_config_file(built, tmp_path):
    env = config_env(tmp_path, "proxy = socks5://127.0.0.1:1080\ndns = local\n", SOCKSIFY_DNS="remote", S=WRAPPER)
    r = support.run(["bash", "-c", '. "$S" on && "$@"', "sh"] + SHOW_ENV, env=env)
    seen = env_seen(r)
    assert seen["SOCKSIFY_PROXY"] == "socks5://127.0.0.1:1080" and seen["SOCKSIFY_DNS"] == "remote", seen


# ---- the installed command ----

@pytest.fixture(scope="module")
def installed(built, tmp_path_factory):
    """make install DESTDIR=<tmp> PREFIX=/usr; yields DESTDIR."""
    if support.SANITIZE:
        pytest.skip("installs the normal build")
    dest = tmp_path_factory.mktemp("install")
    r = support.run(["make", "-s", "-C", support.ROOT, "install", "BUILD=%s" % support.BUILD,
                     "DESTDIR=%s" % dest, "PREFIX=/usr"], timeout=300)
    assert r.rc == 0, r
    yield dest
    shutil.rmtree(dest)


@pytest.mark.parametrize("shell", ["bash", "dash"])
def test_installed_socksify_sources_from_its_destdir(installed, socks5d, httpd, tmp_path, shell):
    """'. DESTDIR/usr/bin/socksify on' (bash says where the file is; dash does not, so it is
    found on PATH as '. socksify' finds it) preloads DESTDIR/usr/lib/socksify/libsocksify.so."""
    need_curl()
    bindir = installed / "usr" / "bin"
    env = support.base_env(SOCKSIFY_LIB=None, SOCKSIFY_CONFIG=os.devnull)
    script = str(bindir / "socksify")
    if shell == "dash":
        env["PATH"] = "%s:%s" % (bindir, env["PATH"])
        script = "socksify"
    out = tmp_path / "out"
    out.mkdir()
    r, seen = shell_session(shell, script, "-x %s -n ''" % socks5d.url(), env, out, httpd.url("127.0.0.1"),
                            cwd=str(tmp_path))
    socks5d.wait_session("127.0.0.1:%d" % httpd.port)
    lib = str(installed / "usr" / "lib" / "socksify" / "libsocksify.so")
    assert ("LD_PRELOAD=%s\n" % lib) in seen["during"] or (":%s\n" % lib) in seen["during"], seen
    assert seen["after"] == seen["before"], seen


def test_installed_socksify_is_the_script_and_runs_without_a_shell_mode(installed):
    cmd = installed / "usr" / "bin" / "socksify"
    st = os.lstat(cmd)
    assert stat.S_ISREG(st.st_mode) and open(cmd).read() == open(WRAPPER).read()
    r = support.run([str(cmd), "on", "-x", URL], env=support.base_env(SOCKSIFY_LIB=None))
    assert r.rc == 2 and "source it: . socksify on" in r.err, r
    r = support.run([str(cmd), "-x", URL] + SHOW_ENV, env=support.base_env(SOCKSIFY_LIB=None,
                                                                          SOCKSIFY_CONFIG=os.devnull))
    assert env_seen(r)["SOCKSIFY_PROXY"] == URL, r
