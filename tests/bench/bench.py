#!/usr/bin/python3
"""make bench (issue 7): socksify and socks5d side by side with their peers, in one run, on loopback.

Absolute numbers on a shared machine are noise; the table reports ratios between rows measured in the
same run: to the direct path (no proxy at all) and to the best peer (microsocks, danted, proxychains4)
in the same comparison group. Raw numbers go to build/bench/results.json, a chart to build/bench/bench.png.

    /usr/bin/python3 tests/bench/bench.py [--quick]     (BENCH_QUICK=1 in the environment = --quick)

Every section is bounded in time; a peer that is missing or fails is reported as "failed" and the run
goes on. Every process started here runs in its own process group and is killed at the end."""

import json
import os
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.join(ROOT, os.environ.get("BUILD", "build"))
OUT = os.path.join(BUILD, "bench")
TOOL = os.path.join(OUT, "benchtool")
SPLICE = os.path.join(OUT, "splicerelay")
ASYNCCONN = os.path.join(ROOT, "tests", "bench", "asyncconn.py")
DELAYPROXY = os.path.join(ROOT, "tests", "integration", "delayproxy.py")
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable
LIB = os.path.join(BUILD, "libsocksify.so")
SOCKS5D = os.path.join(BUILD, "socks5d")
WRAPPER = os.path.join(ROOT, "socksify.sh")
HOST = "127.0.0.1"
GIB = 1 << 30

QUICK = "--quick" in sys.argv[1:] or os.environ.get("BENCH_QUICK", "") not in ("", "0")
CFG = {
    "connect_n": 100 if QUICK else 2000,
    "startup_runs": 30 if QUICK else 200,
    "bulk_bytes": (128 << 20) if QUICK else GIB,
    "conc_sizes": [100, 1000] if QUICK else [100, 1000, 5000],
    "conc_seconds": 0.5 if QUICK else 3.0,
    "udp_seconds": 0.5 if QUICK else 3.0,
    "udp_window": 32,
    "udp_size": 64,
    "udp_rtt_n": 300 if QUICK else 2000,
    "syscall_n": (5, 25) if QUICK else (5, 105),  # two runs: the difference / (n2 - n1) is per connection
    "async_n": 20 if QUICK else 200,
    "async_delay_ms": 50,
    "async_cap_s": 5 if QUICK else 30,
}
TIMEOUT = {"connect": 30, "startup": 10, "bulk": 60, "conc": 40, "udp": 20, "syscalls": 60}
BUDGET = 50 if QUICK else 570  # seconds for the whole run; what is left over is reported as skipped
CONNECT_ROUNDS = 2 if QUICK else 4  # connect rows run interleaved, N/ROUNDS connections per turn
T0 = time.monotonic()


def remaining(want):
    """A timeout: want, cut to what is left of the run's budget; raises when nothing is left."""
    left = BUDGET - (time.monotonic() - T0)
    if left < 1:
        raise RuntimeError("skipped: the run's %d s time budget is used up" % BUDGET)
    return min(want, left)

started = []  # every Popen this script started
tmpdir = os.path.join(OUT, "run")  # configs and server logs of the last run, kept for a look after a failure


def log(msg):
    print("bench: " + msg, file=sys.stderr, flush=True)


# ---- processes ------------------------------------------------------------------------------------

def spawn(cmd, env=None, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, name=None):
    logf = open(os.path.join(tmpdir, "%s.log" % (name or os.path.basename(cmd[0]))), "ab")
    p = subprocess.Popen(cmd, env=env, stdin=stdin, stdout=stdout, stderr=logf, start_new_session=True)
    logf.close()
    started.append(p)
    return p


def stop(p):
    """End one process this script started, and its process group (danted forks helpers)."""
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            p.wait(timeout=3)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(p.pid, signal.SIGKILL)  # helpers left behind in the group
    except (ProcessLookupError, PermissionError):
        pass
    try:
        p.wait(timeout=3)
    except subprocess.TimeoutExpired:
        pass


def stop_all():
    for p in reversed(started):
        stop(p)
    started.clear()


def read_line(p, timeout):
    """One line of a child's stdout, or None after timeout or EOF."""
    import select
    end = time.monotonic() + timeout
    buf = b""
    fd = p.stdout.fileno()
    while time.monotonic() < end:
        r, _, _ = select.select([fd], [], [], max(0.0, end - time.monotonic()))
        if not r:
            break
        c = os.read(fd, 1)
        if not c:
            break
        if c == b"\n":
            return buf.decode(errors="replace")
        buf += c
    return None


def free_port():
    import socket
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def wait_port(port, p, timeout=10):
    import socket
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if p.poll() is not None:
            return False
        try:
            with socket.create_connection((HOST, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def run_tool(args, timeout, env=None, prefix=(), lines=None):
    """Run a client to completion; its 'ok k=v ...' line as a dict, or raise RuntimeError.
    lines, a list, gets every line it printed."""
    timeout = remaining(timeout)
    try:
        r = subprocess.run(list(prefix) + [TOOL] + args, env=env, stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=timeout, start_new_session=True)
    except subprocess.TimeoutExpired:
        raise RuntimeError("timed out after %ss" % timeout)
    line = r.stdout.decode(errors="replace").strip().splitlines()
    if lines is not None:
        lines.extend(line)
    last = line[-1] if line else ""
    if r.returncode != 0 or not last.startswith("ok"):
        raise RuntimeError((last or r.stderr.decode(errors="replace").strip()[-200:] or "rc=%d" % r.returncode))
    return parse_kv(last)


def parse_kv(line):
    out = {}
    for word in line.split()[1:]:
        k, _, v = word.partition("=")
        try:
            out[k] = float(v) if "." in v else int(v)
        except ValueError:
            out[k] = v
    return out


# ---- /proc sampling -------------------------------------------------------------------------------

TICK = os.sysconf("SC_CLK_TCK")


def proc_tree(pid):
    """pid and its descendants (danted works in forked children)."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                st = f.read()
            ppid = int(st[st.rindex(")") + 2:].split()[1])
        except (OSError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(d))
    tree, todo = [], [pid]
    while todo:
        q = todo.pop()
        tree.append(q)
        todo.extend(children.get(q, []))
    return tree


def cpu_seconds(pid):
    """utime+stime of pid and its live descendants, plus what reaped children left (cutime+cstime)."""
    total = 0
    for q in proc_tree(pid):
        try:
            with open("/proc/%d/stat" % q) as f:
                st = f.read()
            fields = st[st.rindex(")") + 2:].split()
            total += sum(int(x) for x in fields[11:15])
        except (OSError, ValueError):
            pass
    return total / TICK


def memory_kib(pid):
    """VmRSS and PSS summed over pid and its descendants; PSS shares pages out fairly, so a forking
    server (danted) is not charged its shared libraries once per process."""
    rss = pss = 0
    for q in proc_tree(pid):
        for path, key in (("/proc/%d/status" % q, "VmRSS:"), ("/proc/%d/smaps_rollup" % q, "Pss:")):
            try:
                with open(path) as f:
                    for line in f:
                        if line.startswith(key):
                            if key == "Pss:":
                                pss += int(line.split()[1])
                            else:
                                rss += int(line.split()[1])
                            break
            except (OSError, ValueError):
                pass
    return rss, pss


# ---- servers --------------------------------------------------------------------------------------

class Server:
    def __init__(self, name, proc, port):
        self.name, self.proc, self.port = name, proc, port


def start_target():
    p = spawn([TOOL, "server"], name="target")
    line = read_line(p, 10)
    if not line:
        raise RuntimeError("benchtool server did not start")
    return p, {k: int(v) for k, v in (kv.split("=") for kv in line.split())}


def start_socks5d():
    p = spawn([SOCKS5D, "-l", "%s:0" % HOST, "-q"], name="socks5d")
    line = read_line(p, 10) or ""
    if "listening on" not in line:
        stop(p)
        raise RuntimeError("socks5d did not start: %r" % line)
    return Server("socks5d", p, int(line.rsplit(":", 1)[1]))


def start_on_free_port(name, make_cmd):
    for _ in range(5):
        port = free_port()
        p = spawn(make_cmd(port), stdout=subprocess.DEVNULL, name=name)
        if wait_port(port, p):
            return Server(name, p, port)
        stop(p)
    raise RuntimeError("%s did not start" % name)


DANTED_CONF = """\
logoutput: stderr
internal: 127.0.0.1 port = {port}
external: 127.0.0.1
socksmethod: none
clientmethod: none
user.privileged: root
user.unprivileged: nobody
client pass {{ from: 127.0.0.0/8 to: 0.0.0.0/0 }}
socks pass {{ from: 127.0.0.0/8 to: 127.0.0.0/8 }}
"""


def start_microsocks():
    exe = shutil.which("microsocks")
    if not exe:
        raise RuntimeError("not installed")
    return start_on_free_port("microsocks", lambda port: [exe, "-i", HOST, "-p", str(port)])


def start_danted():
    exe = shutil.which("danted") or ("/usr/sbin/danted" if os.path.exists("/usr/sbin/danted") else None)
    if not exe:
        raise RuntimeError("not installed")
    if os.geteuid() != 0:
        raise RuntimeError("needs root (user.privileged: root)")

    def cmd(port):
        conf = os.path.join(tmpdir, "danted-%d.conf" % port)
        with open(conf, "w") as f:
            f.write(DANTED_CONF.format(port=port))
        return [exe, "-f", conf, "-N", "1", "-p", os.path.join(tmpdir, "danted.pid")]
    return start_on_free_port("danted", cmd)


def proxychains_conf(port):
    path = os.path.join(tmpdir, "proxychains-%d.conf" % port)
    with open(path, "w") as f:
        f.write("strict_chain\nquiet_mode\ntcp_read_time_out 15000\ntcp_connect_time_out 8000\n"
                "[ProxyList]\nsocks5 %s %d\n" % (HOST, port))
    return path


def clean_env():
    """The environment without proxy settings another tool could pick up (curl reads *_proxy)."""
    return {k: v for k, v in os.environ.items()
            if not k.lower().endswith("_proxy") and not k.startswith(("SOCKSIFY_", "SOCKS_"))
            and k != "LD_PRELOAD"}


def lib_env(proxy_port):
    env = clean_env()
    env.update(LD_PRELOAD=LIB, SOCKSIFY_PROXY="socks5://%s:%d" % (HOST, proxy_port),
               SOCKSIFY_NO_PROXY="", SOCKSIFY_LOG="error")
    return env


def wrapper_cmd(proxy_port):
    """socksify.sh sending everything (loopback too) to the proxy, with this build's library."""
    return [WRAPPER, "-n", "", "-q", "-x", "socks5://%s:%d" % (HOST, proxy_port)]


def wrapper_env():
    env = clean_env()
    env["SOCKSIFY_LIB"] = LIB
    return env


def dante_socksify(search=None):
    """dante-client's socksify (a shell script preloading libdsocks), not ours that 'make install' may
    have put earlier on PATH (or search) under the same name; None if not installed."""
    for d in (search or os.environ.get("PATH", "")).split(os.pathsep):
        path = os.path.join(d, "socksify")
        try:
            with open(path, "rb") as f:
                if b"dsocks" in f.read(65536):
                    return path
        except OSError:
            continue
    return None


def dante_env(proxy_port):
    """Environment for dante's socksify through a SOCKS5 proxy. Its library routes the addresses of
    local interfaces (loopback included) direct unless SOCKS_AUTOADD_LANROUTES=no."""
    conf = os.path.join(tmpdir, "dante-client-%d.conf" % proxy_port)
    with open(conf, "w") as f:
        f.write("route {\n  from: 0.0.0.0/0 to: 0.0.0.0/0 via: %s port = %d\n  proxyprotocol: socks_v5\n"
                "  protocol: tcp udp\n}\n" % (HOST, proxy_port))
    env = clean_env()
    env.update(SOCKS_CONF=conf, SOCKS_AUTOADD_LANROUTES="no")
    return env


def start_splice(target_port):
    if not os.path.exists(SPLICE):
        raise RuntimeError("%s not built" % SPLICE)
    p = spawn([SPLICE, HOST, "0", HOST, str(target_port)], name="splicerelay")
    line = read_line(p, 10) or ""
    if not line.startswith("port="):
        stop(p)
        raise RuntimeError("splicerelay did not start: %r" % line)
    return Server("splice relay", p, int(line[5:]))


def start_delay(upstream_port, delay_ms):
    p = spawn([PYTHON, DELAYPROXY, "--listen", "%s:0" % HOST, "--upstream", "%s:%d" % (HOST, upstream_port),
               "--delay-ms", str(delay_ms)], name="delayproxy")
    line = read_line(p, 15) or ""
    if not line.strip().isdigit():
        stop(p)
        raise RuntimeError("delayproxy did not start: %r" % line)
    return Server("delay", p, int(line))


def forget(p):
    """stop() a process started in a section and drop it from the list."""
    stop(p)
    if p in started:
        started.remove(p)


# ---- results --------------------------------------------------------------------------------------

results = {"config": CFG, "quick": QUICK, "sections": {}}


def record(section, row, value=None, error=None, **extra):
    """One measurement; value None and error set = 'failed'."""
    entry = dict(extra)
    entry["value"] = value
    if error:
        entry["error"] = str(error)
        log("%s / %s: failed: %s" % (section, row, error))
    results["sections"].setdefault(section, {})[row] = entry
    return entry


def measure(section, row, fn, **extra):
    try:
        value, raw = fn()
        return record(section, row, value, raw=raw, **extra)
    except Exception as e:  # noqa: BLE001 - any failure of a peer is a 'failed' row, never a crash
        return record(section, row, None, e, raw=getattr(e, "raw", None), **extra)


# ---- 1. connect cost ------------------------------------------------------------------------------

def bench_connect(servers, echo_port, relay):
    """Rows are collected first, then run in CONNECT_ROUNDS interleaved turns of N/ROUNDS
    connections each, so that a noisy moment of the machine hits every row alike."""
    chunk = str(max(1, CFG["connect_n"] // CONNECT_ROUNDS))
    target = [HOST, str(echo_port)]
    rows = []  # (row, run one turn -> samples, extra)

    def connect(mode, port=None, env=None, prefix=(), to=None):
        def turn():
            args = ["connect", mode] + (to or target) + [chunk] + ([HOST, str(port)] if port else [])
            out = []
            run_tool(args, TIMEOUT["connect"], env=env, prefix=prefix, lines=out)
            return [float(x) for line in out if line.startswith("samples ") for x in line.split()[1:]]
        return turn

    sec = "connect"

    def add(row, turn, why=None, **extra):
        """A row to run; why = the reason it cannot run (a 'failed' row in its place)."""
        if why:
            def turn():
                raise RuntimeError(why)
        rows.append((row, turn, extra))

    add("direct", connect("plain"), unit="us median", group="direct", ours=False)
    add("plain relay (splice, no SOCKS)", relay and connect("plain", to=[HOST, str(relay.port)]),
        None if relay else "splice relay did not start", unit="us median", group="reference", ours=False)
    for name, srv in servers.items():
        # pipelined greeting+request only with our server; also sequential there, to compare like with like
        modes = [("s5pipe", " (pipelined)"), ("s5seq", " (sequential)")] if name == "socks5d" else [("s5seq", "")]
        for mode, label in modes:
            add("C client -> %s%s" % (name, label), srv and connect(mode, srv.port),
                None if srv else "server did not start", unit="us median", group="server", ours=(name == "socks5d"))
    for name, srv in servers.items():
        add("libsocksify -> %s" % name, srv and connect("plain", env=lib_env(srv.port)),
            None if srv else "server did not start", unit="us median", group="client", ours=True)
    pc = shutil.which("proxychains4")
    for name in ("socks5d", "microsocks"):
        srv = servers.get(name)
        why = "not installed" if not pc else None if srv else "server did not start"
        add("proxychains4 -> %s" % name,
            None if why else connect("plain", prefix=(pc, "-q", "-f", proxychains_conf(srv.port))), why,
            unit="us median", group="client", ours=(name == "socks5d"))
    ds = dante_socksify()
    for name in ("socks5d", "danted"):
        srv = servers.get(name)
        why = "not installed" if not ds else None if srv else "server did not start"
        add("dante socksify -> %s" % name, None if why else connect("plain", env=dante_env(srv.port), prefix=(ds,)),
            why, unit="us median", group="client", ours=(name == "socks5d"))
    samples = {row: [] for row, _, _ in rows}
    errors = {}
    for _ in range(CONNECT_ROUNDS):
        for row, turn, _ in rows:
            if row in errors:
                continue
            try:
                samples[row].extend(turn())
            except Exception as e:  # noqa: BLE001 - a failing peer is a 'failed' row
                errors[row] = e
    for row, _, extra in rows:
        t = sorted(samples[row])
        if row in errors or not t:
            record(sec, row, None, errors.get(row, "no samples"), **extra)
            continue
        raw = {"n": len(t), "rounds": CONNECT_ROUNDS, "median_us": statistics.median(t),
               "p99_us": t[min(len(t) - 1, (len(t) * 99) // 100)], "min_us": t[0]}
        record(sec, row, raw["median_us"], raw=raw, **extra)


# ---- 1b. syscalls per connect ---------------------------------------------------------------------

READISH = ("read", "readv", "recv", "recvfrom", "recvmsg", "recvmmsg")
WRITEISH = ("write", "writev", "send", "sendto", "sendmsg", "sendmmsg")


def strace_counts(path):
    """{syscall: calls} from an 'strace -c -o path' summary."""
    counts = {}
    with open(path) as f:
        for line in f:
            words = line.split()
            if len(words) < 5 or not words[0][0].isdigit() or words[-1] == "total":
                continue
            try:
                counts[words[-1]] = int(words[3])
            except ValueError:
                pass
    return counts


def bench_syscalls(servers, echo_port):
    """The sequential connect client under 'strace -f -c', twice (n1 and n2 connections): the
    difference of the two counts / (n2 - n1) is what one connection costs, start-up excluded."""
    sec = "syscalls per connect"
    strace = shutil.which("strace")
    n1, n2 = CFG["syscall_n"]

    def counted(mode, port=None, env=None, prefix=()):
        def fn():
            if not strace:
                raise RuntimeError("strace not installed")
            per = []
            tracer_env, preload = dict(env or os.environ), ()
            if "LD_PRELOAD" in tracer_env:  # for the traced program only, not strace itself
                preload = ("-E", "LD_PRELOAD=" + tracer_env.pop("LD_PRELOAD"))
            for n in (n1, n2):
                out = os.path.join(tmpdir, "strace-%d.txt" % n)
                args = ["connect", mode, HOST, str(echo_port), str(n)] + ([HOST, str(port)] if port else [])
                run_tool(args, TIMEOUT["syscalls"], env=tracer_env,
                         prefix=(strace, "-f", "-c", "-o", out) + preload + tuple(prefix))
                per.append(strace_counts(out))
            calls = {k: (per[1].get(k, 0) - per[0].get(k, 0)) / (n2 - n1) for k in set(per[0]) | set(per[1])}
            calls = {k: round(v, 2) for k, v in calls.items() if abs(v) >= 0.01}
            total = sum(calls.values())
            raw = {"per_connection": calls, "total": total, "n": [n1, n2],
                   "readish": sum(calls.get(k, 0) for k in READISH),
                   "writeish": sum(calls.get(k, 0) for k in WRITEISH)}
            return total, raw
        return fn

    common = dict(unit="syscalls/conn")
    measure(sec, "direct", counted("plain"), group="direct", ours=False, **common)
    srv = servers.get("socks5d")
    if srv is None:
        record(sec, "(socks5d)", None, "server did not start")
        return
    measure(sec, "C client -> socks5d (pipelined)", counted("s5pipe", srv.port), group="native", ours=True, **common)
    measure(sec, "C client -> socks5d (sequential)", counted("s5seq", srv.port), group="native", ours=True, **common)
    measure(sec, "libsocksify -> socks5d", counted("plain", env=lib_env(srv.port)), group="client", ours=True,
            **common)
    pc = shutil.which("proxychains4")
    if pc:
        measure(sec, "proxychains4 -> socks5d", counted("plain", prefix=(pc, "-q", "-f", proxychains_conf(srv.port))),
                group="client", ours=True, peer=True, **common)
    else:
        record(sec, "proxychains4 -> socks5d", None, "not installed", group="client", ours=True, peer=True)
    ds = dante_socksify()
    if ds:
        measure(sec, "dante socksify -> socks5d", counted("plain", env=dante_env(srv.port), prefix=(ds,)),
                group="client", ours=True, peer=True, **common)
    else:
        record(sec, "dante socksify -> socks5d", None, "not installed", group="client", ours=True, peer=True)


# ---- 2. start-up cost -----------------------------------------------------------------------------

def run_startup(sec, cases, seconds):
    """cases: (row, cmd, env, group, ours, peer); every case run in turn (interleaved, so that a noisy
    moment hits them alike) up to CFG startup_runs times or for seconds; median wall time per run."""
    times = {c[0]: [] for c in cases}
    errors = {c[0]: c[1] for c in cases if isinstance(c[1], str)}  # a str cmd: why it cannot run
    deadline = time.monotonic() + remaining(seconds)
    for _ in range(CFG["startup_runs"]):
        if time.monotonic() > deadline:
            break
        for name, cmd, env, _, _, _ in cases:
            if name in errors:
                continue
            t0 = time.perf_counter()
            try:
                r = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, timeout=TIMEOUT["startup"], start_new_session=True)
                if r.returncode != 0:
                    errors[name] = "exit status %d %s" % (r.returncode, r.stderr.decode(errors="replace")[-80:])
            except subprocess.TimeoutExpired:
                errors[name] = "timed out after %s s" % TIMEOUT["startup"]
            times[name].append((time.perf_counter() - t0) * 1e3)
    for name, _, _, group, ours, peer in cases:
        t = times[name]
        if name in errors or not t:
            record(sec, name, None, errors.get(name, "no run"), group=group, ours=ours, peer=peer)
        else:
            record(sec, name, statistics.median(t), unit="ms median", group=group, ours=ours, peer=peer,
                   raw={"runs": len(t), "median_ms": statistics.median(t), "min_ms": min(t)})


def bench_startup(pc_conf, proxy_port):
    pc, ds = shutil.which("proxychains4"), dante_socksify()
    env_lib = dict(clean_env(), LD_PRELOAD=LIB)
    cases = [("direct: /bin/true", ["/bin/true"], None, "direct", False, False),
             ("socksify.sh -x ... /bin/true", [WRAPPER, "-x", "socks5://127.0.0.1:1", "/bin/true"], wrapper_env(),
              "client", True, False),
             ("LD_PRELOAD=libsocksify.so /bin/true", ["/bin/true"], env_lib, "client", True, False),
             ("proxychains4 /bin/true", [pc, "-q", "-f", pc_conf, "/bin/true"] if pc else "not installed", None,
              "client", False, True),
             ("dante socksify /bin/true", [ds, "/bin/true"] if ds else "not installed",
              dante_env(proxy_port or 1), "client", False, True)]
    run_startup("startup", cases, 5 if QUICK else 60)


def bench_startup_curl(pc_conf, proxy_port, http_port):
    """A one-shot curl of a one-page local HTTP server, bare and through socks5d under each wrapper."""
    curl = shutil.which("curl")
    if not curl:
        record("startup curl", "(curl)", None, "curl not installed")
        return
    pc, ds = shutil.which("proxychains4"), dante_socksify()
    get = [curl, "-s", "-f", "-o", "/dev/null", "--max-time", "5", "http://%s:%d/" % (HOST, http_port)]
    why = None if proxy_port else "socks5d did not start"
    cases = [("direct: curl", get, clean_env(), "direct", False, False),
             ("socksify.sh curl -> socks5d", why or wrapper_cmd(proxy_port) + get, wrapper_env(), "client", True,
              False),
             ("LD_PRELOAD curl -> socks5d", why or get, proxy_port and lib_env(proxy_port), "client", True, False),
             ("proxychains4 curl -> socks5d", why or ([pc, "-q", "-f", pc_conf] + get if pc else "not installed"),
              clean_env(), "client", True, True),
             ("dante socksify curl -> socks5d", why or ([ds] + get if ds else "not installed"),
              proxy_port and dante_env(proxy_port), "client", True, True)]
    run_startup("startup curl", cases, 6 if QUICK else 75)


# ---- 3. bulk --------------------------------------------------------------------------------------

def bench_bulk(servers, sink_port, relay):
    nbytes = CFG["bulk_bytes"]

    def bulk(srv, mode):
        def fn():
            if mode == "relay":  # the splice relay: a plain connect to it, it goes on to the sink itself
                args = ["bulk", "plain", HOST, str(srv.port), str(nbytes)]
            else:
                args = ["bulk", mode, HOST, str(sink_port), str(nbytes)] + ([HOST, str(srv.port)] if srv else [])
            cpu0 = cpu_seconds(srv.proc.pid) if srv else 0
            raw = run_tool(args, TIMEOUT["bulk"])
            cpu = cpu_seconds(srv.proc.pid) - cpu0 if srv else 0
            mbps = raw["bytes"] / max(raw["seconds"], 1e-6) / 1e6
            raw.update(mb_per_s=mbps, server_cpu_s=cpu, server_cpu_s_per_gb=cpu / (raw["bytes"] / 1e9))
            return mbps, raw
        return fn

    measure("bulk", "direct", bulk(None, "plain"), unit="MB/s", group="direct", ours=False, higher=True)
    if relay:
        measure("bulk", "splice relay (reference)", bulk(relay, "relay"), unit="MB/s", group="reference", ours=False,
                higher=True)
    else:
        record("bulk", "splice relay (reference)", None, "splice relay did not start", group="reference")
    # danted's first relay of a run is slower (it forks its i/o child then): every proxy gets a warm-up
    for srv in servers.values():
        if srv:
            try:
                run_tool(["bulk", "s5seq", HOST, str(sink_port), str(1 << 20), HOST, str(srv.port)], 10)
            except RuntimeError:
                pass
    for name, srv in servers.items():
        if srv is None:
            record("bulk", name, None, "server did not start", group="server", ours=(name == "socks5d"))
            continue
        measure("bulk", name, bulk(srv, "s5pipe" if name == "socks5d" else "s5seq"), unit="MB/s",
                group="server", ours=(name == "socks5d"), higher=True)


# ---- 4. concurrency -------------------------------------------------------------------------------

def bench_conc(servers, echo_port, n):
    def conc(srv, name):
        def fn():
            mode = "plain" if srv is None else "s5pipe" if name == "socks5d" else "s5seq"
            cmd = [TOOL, "conc", mode, HOST, str(echo_port), str(n), str(CFG["conc_seconds"])]
            if srv:
                cmd += [HOST, str(srv.port)]
            pid = srv.proc.pid if srv else os.getpid()  # direct: nothing to sample, harmless numbers
            mem0, cpu0 = memory_kib(pid), cpu_seconds(pid)
            p = spawn(cmd, stdin=subprocess.PIPE, name="conc")
            try:
                first = read_line(p, remaining(TIMEOUT["conc"]))
                if not first or not first.startswith("established"):
                    raise RuntimeError("no handshake result: %r" % first)
                est = parse_kv(first)
                mem_open = memory_kib(pid)
                cpu_est, t_est = cpu_seconds(pid), time.monotonic()
                line = read_line(p, remaining(CFG["conc_seconds"] + 15))
                if not line or not line.startswith("ok"):
                    raise RuntimeError("no round-trip result: %r" % line)
                raw = parse_kv(line)
                cores = (cpu_seconds(pid) - cpu_est) / max(time.monotonic() - t_est, 1e-3)
                mem_busy = memory_kib(pid)
                cpu = cpu_seconds(pid) - cpu0
            finally:
                stop(p)
                if p in started:
                    started.remove(p)
            if not raw.get("established") or not raw.get("seconds"):
                raise RuntimeError("0 of %d connections established" % n)
            rate = raw["rtts"] / raw["seconds"]
            raw.update(all_established=(est["ok"] == n), rtt_per_s=rate)
            if srv:
                raw.update(server_cpu_s=cpu, server_cores_busy=cores, server_rss_kib_idle=mem0[0],
                           server_rss_kib_open=mem_open[0],
                           server_rss_kib_busy=mem_busy[0], server_pss_kib_idle=mem0[1],
                           server_pss_kib_busy=mem_busy[1],
                           server_pss_kib_per_conn=max(0, mem_busy[1] - mem0[1]) / n)
            return rate, raw
        return fn

    sec = "concurrency %d" % n
    measure(sec, "direct", conc(None, "direct"), unit="round trips/s", group="direct", ours=False, higher=True)
    for name, srv in servers.items():
        if srv is None:
            record(sec, name, None, "server did not start", group="server", ours=(name == "socks5d"))
            continue
        e = measure(sec, name, conc(srv, name), unit="round trips/s", group="server", ours=(name == "socks5d"),
                    higher=True)
        if e.get("raw") and not e["raw"]["all_established"]:
            log("%s / %s: only %s of %d connections established" % (sec, name, e["raw"]["established"], n))
        time.sleep(0.5)  # let the server's closes settle before the next one starts


# ---- 5. UDP ---------------------------------------------------------------------------------------

def bench_udp(servers, udp_port):
    ds = dante_socksify()

    def udp(srv, dante=False):
        def fn():
            args = ["udp", HOST, str(udp_port), str(CFG["udp_seconds"]), str(CFG["udp_window"]),
                    str(CFG["udp_size"])]
            cpu0 = cpu_seconds(srv.proc.pid) if srv else 0
            env = (dante_env(srv.port) if dante else lib_env(srv.port)) if srv else None
            raw = run_tool(args, TIMEOUT["udp"], env=env, prefix=(ds,) if dante else ())
            raw["server_cpu_s"] = cpu_seconds(srv.proc.pid) - cpu0 if srv else 0
            raw["loss"] = (raw["sent"] - raw["received"]) / raw["sent"] if raw["sent"] else 0
            rate = raw["received"] / max(raw["seconds"], 1e-6)
            raw["dgrams_per_s"] = rate
            return rate, raw
        return fn

    measure("udp", "direct", udp(None), unit="datagrams/s", group="direct", ours=False, higher=True)
    for row, name, dante in (("libsocksify -> socks5d", "socks5d", False), ("libsocksify -> danted", "danted", False),
                             ("dante socksify -> danted", "danted", True)):
        srv = servers.get(name)
        extra = dict(unit="datagrams/s", group="server", ours=(name == "socks5d"), higher=True)
        if srv is None:
            record("udp", row, None, "server did not start", **extra)
        elif dante and not ds:
            record("udp", row, None, "dante socksify not installed", **extra)
        else:
            measure("udp", row, udp(srv, dante), **extra)


def bench_udp_latency(servers, udp_port):
    """One datagram at a time: the round trip a request/response program (DNS) waits for. Rows run
    in interleaved turns, as in the connect section."""
    sec = "udp latency"
    ds = dante_socksify()
    chunk = str(max(1, CFG["udp_rtt_n"] // CONNECT_ROUNDS))
    rows = [("direct", None, (), "", dict(group="direct", ours=False))]
    for row, name, dante in (("libsocksify -> socks5d", "socks5d", False), ("libsocksify -> danted", "danted", False),
                             ("dante socksify -> danted", "danted", True)):
        srv = servers.get(name)
        why = "server did not start" if srv is None else "dante socksify not installed" if dante and not ds else ""
        env = None if why else dante_env(srv.port) if dante else lib_env(srv.port)
        rows.append((row, env, (ds,) if dante and ds else (), why, dict(group="server", ours=(name == "socks5d"))))
    samples = {r[0]: [] for r in rows}
    errors = {r[0]: r[3] for r in rows if r[3]}
    lost = {r[0]: 0 for r in rows}
    for _ in range(CONNECT_ROUNDS):
        for row, env, prefix, _, _ in rows:
            if row in errors:
                continue
            out = []
            try:
                raw = run_tool(["udprtt", HOST, str(udp_port), chunk], TIMEOUT["udp"], env=env, prefix=prefix,
                               lines=out)
            except Exception as e:  # noqa: BLE001 - a failing peer is a 'failed' row
                errors[row] = e
                continue
            lost[row] += raw.get("lost", 0)
            samples[row] += [float(x) for line in out if line.startswith("samples ") for x in line.split()[1:]]
    for row, _, _, _, extra in rows:
        t = sorted(samples[row])
        if row in errors or not t:
            record(sec, row, None, errors.get(row) or "no samples", unit="us median", **extra)
            continue
        raw = {"n": len(t), "lost": lost[row], "median_us": statistics.median(t),
               "p99_us": t[min(len(t) - 1, (len(t) * 99) // 100)], "min_us": t[0]}
        record(sec, row, raw["median_us"], raw=raw, unit="us median", **extra)


# ---- 6. non-blocking connect through a slow proxy ----------------------------------------------------

def bench_async(servers, echo_port):
    """asyncconn.py: N connections at once from one asyncio loop, through a relay that delays every
    answer of the SOCKS server by D ms. A client that keeps the handshake off the program's thread
    finishes in a few D; one that does it inside connect() needs about 2 D per connection."""
    sec = "async connect"
    n, delay, cap = CFG["async_n"], CFG["async_delay_ms"], CFG["async_cap_s"]
    srv = servers.get("socks5d")
    extra = dict(unit="s wall", delay_ms=delay)
    procs = []
    try:
        try:
            to_echo = start_delay(echo_port, delay)
            procs.append(to_echo.proc)
            to_proxy = start_delay(srv.port, delay) if srv else None
            if to_proxy:
                procs.append(to_proxy.proc)
        except RuntimeError as e:
            record(sec, "(delay proxy)", None, e)
            return

        def run(args, env=None, prefix=()):
            def fn():
                cmd = list(prefix) + [PYTHON, ASYNCCONN, "--n", str(n), "--cap", str(cap)] + args
                timeout = remaining(cap + 20)
                try:
                    r = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout,
                                       start_new_session=True)
                except subprocess.TimeoutExpired:
                    e = RuntimeError("timed out after %d s (killed)" % timeout)
                    e.raw = {"seconds": timeout, "done": None, "n": n, "delays": timeout * 1000 / delay}
                    raise e
                out = r.stdout.decode(errors="replace").strip().splitlines()
                last = out[-1] if out else ""
                if not last.startswith(("ok", "timeout", "failed")):
                    raise RuntimeError(last or r.stderr.decode(errors="replace").strip()[-120:]
                                       or "rc=%d" % r.returncode)
                raw = parse_kv(last)
                raw["errors"] = [x for x in out if x.startswith("error:")][:3]
                raw["delays"] = raw["seconds"] * 1000 / delay
                if last.startswith(("timeout", "failed")):
                    e = RuntimeError("timed out after %d s (%d of %d done)" % (cap, raw["done"], n)
                                     if last.startswith("timeout") else
                                     "%d of %d failed: %s" % (raw["failed"], n, (raw["errors"] or ["?"])[0]))
                    e.raw = raw
                    raise e
                return raw["seconds"], raw
            return fn

        target = ["--target", "%s:%d" % (HOST, echo_port)]
        measure(sec, "direct -> delay -> echo", run(["--target", "%s:%d" % (HOST, to_echo.port)], clean_env()),
                group="direct", ours=False, **extra)
        if not to_proxy:
            record(sec, "(socks5d)", None, "server did not start")
            return
        measure(sec, "native asyncio SOCKS5 -> delay -> socks5d",
                run(target + ["--socks5", "%s:%d" % (HOST, to_proxy.port)], clean_env()),
                group="native", ours=True, **extra)
        measure(sec, "libsocksify -> delay -> socks5d", run(target, lib_env(to_proxy.port)), group="client", ours=True,
                **extra)
        pc = shutil.which("proxychains4")
        if pc:
            measure(sec, "proxychains4 -> delay -> socks5d",
                    run(target, clean_env(), (pc, "-q", "-f", proxychains_conf(to_proxy.port))),
                    group="client", ours=True, peer=True, **extra)
        else:
            record(sec, "proxychains4 -> delay -> socks5d", None, "not installed", group="client")
    finally:
        for p in procs:
            forget(p)


# ---- report ---------------------------------------------------------------------------------------

def ratios():
    """Per row: value / direct, and value / best peer of its group (best = fastest)."""
    for sec, rows in results["sections"].items():
        direct = next((e.get("value") for e in rows.values() if e.get("group") == "direct"), None)
        for row, e in rows.items():
            higher = e.get("higher", False)
            # a peer: a row without our code, or one marked peer (a peer wrapper through our server,
            # where the wrappers are what is compared)
            peers = [p["value"] for p in rows.values()
                     if p.get("group") == e.get("group") and p.get("peer", not p.get("ours"))
                     and p.get("value") is not None]
            best = (max(peers) if higher else min(peers)) if peers else None
            v = e.get("value")
            e["vs_direct"] = v / direct if v is not None and direct else None
            e["vs_best_peer"] = (v / best if v is not None and best and e.get("group") not in ("direct", "reference")
                                 else None)
            e["best_peer_value"] = best


def fmt(x, digits=2):
    return "-" if x is None else ("%.*f" % (digits, x))


def value_text(v):
    return fmt(v, 2 if abs(v) < 100 else 1)


def note_for(sec, row, e):
    raw = e.get("raw") or {}
    if e.get("value") is None:
        return e.get("error", "")[:72]
    if sec == "connect":
        return "p99 %s us" % fmt(raw.get("p99_us"), 0)
    if sec == "udp latency":
        return "min %s us, p99 %s us, %s lost (200 ms timeout)" % (fmt(raw.get("min_us"), 0), fmt(raw.get("p99_us"), 0),
                                                                 raw.get("lost", 0))
    if sec.startswith("syscalls"):
        others = sorted(((v, k) for k, v in raw.get("per_connection", {}).items()
                         if k not in READISH and k not in WRITEISH), reverse=True)[:3]
        return "reads %s, writes %s; %s" % (fmt(raw.get("readish"), 1), fmt(raw.get("writeish"), 1),
                                           ", ".join("%s %s" % (k, fmt(v, 1)) for v, k in others))
    if sec == "bulk" and row != "direct":
        note = "server %s CPU s/GB" % fmt(raw.get("server_cpu_s_per_gb"))
        ref = results["sections"]["bulk"].get("splice relay (reference)", {})
        if e.get("group") == "server" and ref.get("value"):
            note += "; x splice: %s, CPU %s" % (fmt(e["value"] / ref["value"]), fmt(
                raw.get("server_cpu_s_per_gb", 0) / max((ref.get("raw") or {}).get("server_cpu_s_per_gb", 0), 1e-9)))
        return note
    if sec.startswith("concurrency"):
        note = "%s/%s up" % (raw.get("established"), raw.get("n"))
        if "server_cpu_s" in raw:
            note += ", server RSS %s MiB (PSS %s), CPU %s s, %s cores busy" % (
                fmt(raw["server_rss_kib_busy"] / 1024, 1), fmt(raw["server_pss_kib_busy"] / 1024, 1),
                fmt(raw["server_cpu_s"]), fmt(raw.get("server_cores_busy")))
        return note
    if sec == "udp":
        note = "loss %s%%" % fmt(100 * raw.get("loss", 0), 3)
        if row != "direct":
            note += ", server CPU %s s" % fmt(raw.get("server_cpu_s"))
        return note
    if sec.startswith("async"):
        return "%s delays of %s ms, %s/%s done" % (fmt(raw.get("delays"), 1), e.get("delay_ms"), raw.get("done"),
                                                   raw.get("n"))
    return ""


def table():
    lines = ["", "socksify bench (%s): ratios within this one run; absolute values are noise" %
             ("quick" if QUICK else "normal"),
             "  x direct: this row / the direct row (time: >1 = slower; rate: <1 = slower)",
             "  x best peer: this row / the best row of microsocks, danted, proxychains4, dante's socksify in the"
             " same group", ""]
    form = "%-20s %-43s %10s %-14s %8s %9s  %s"
    head = form % ("section", "row", "value", "unit", "x direct", "x peer", "notes")
    lines += [head, "-" * len(head)]
    for sec, rows in results["sections"].items():
        for row, e in rows.items():
            val = "failed" if e.get("value") is None else value_text(e["value"])
            ours = "*" if e.get("ours") else " "
            lines.append(form % (sec, ours + row, val, e.get("unit", ""), fmt(e.get("vs_direct")),
                                 fmt(e.get("vs_best_peer")), note_for(sec, row, e)))
        lines.append("")
    lines.append("* = our code in the path (socks5d or libsocksify)")
    return "\n".join(lines)


# ---- issue 7 targets ------------------------------------------------------------------------------

def entry(sec, row):
    return results["sections"].get(sec, {}).get(row) or {}


def val(sec, row):
    return entry(sec, row).get("value")


def why_missing(*pairs):
    for sec, row in pairs:
        e = entry(sec, row)
        if e.get("value") is None:
            return "%s / %s: %s" % (sec, row, (e.get("error") or "not measured")[:50])
    return None


def targets():
    """Each issue 7 target: what was measured, and PASS / MISS (or n/a and why)."""
    out = []

    def add(name, measured, ok, text=None, margin=None, why=None):
        out.append({"target": name, "measured": measured, "pass": ok, "text": text, "margin": margin,
                    "why": why})

    def ratio(name, a, b, op, limit, unit="x"):
        """a / b compared with limit; op '<=' or '>=' (or '<', '>')."""
        why = why_missing(a, b)
        if why:
            return add(name, None, None, why=why)
        r = val(*a) / val(*b)
        ok = {"<=": r <= limit, "<": r < limit, ">=": r >= limit, ">": r > limit}[op]
        margin = r / limit if op.startswith("<") else limit / max(r, 1e-9)
        add(name, r, ok, "%.2f%s" % (r, unit), margin)

    def diff(name, a, b, limit, unit):
        why = why_missing(a, b)
        if why:
            return add(name, None, None, why=why)
        d = val(*a) - val(*b)
        add(name, d, d < limit, "%+.3f %s" % (d, unit), max(d, 0) / limit)

    c = "connect"
    ratio("connect: lib vs native client on socks5d <= 1.10x", (c, "libsocksify -> socks5d"),
          (c, "C client -> socks5d (pipelined)"), "<=", 1.10)
    ratio("connect: lib vs native client on microsocks <= 1.10x", (c, "libsocksify -> microsocks"),
          (c, "C client -> microsocks"), "<=", 1.10)
    ratio("connect: lib vs native client on danted <= 1.10x", (c, "libsocksify -> danted"),
          (c, "C client -> danted"), "<=", 1.10)
    ratio("connect: lib + socks5d vs direct <= 2.00x", (c, "libsocksify -> socks5d"), (c, "direct"), "<=", 2.0)
    sc = "syscalls per connect"
    ratio("syscalls: lib per connect < proxychains4's", (sc, "libsocksify -> socks5d"),
          (sc, "proxychains4 -> socks5d"), "<", 1.0)
    a = "async connect"
    e, d = entry(a, "libsocksify -> delay -> socks5d"), entry(a, "direct -> delay -> echo")
    delay = CFG["async_delay_ms"] / 1000.0
    name = "async: lib, %d conns at once, extra delays over direct <= 5" % CFG["async_n"]
    if d.get("value") is None:
        add(name, None, None, why=why_missing((a, "direct -> delay -> echo")))
    elif e.get("value") is not None:
        x = (e["value"] - d["value"]) / delay
        add(name, x, x <= 5, "%.1f delays" % x, max(x, 0) / 5)
    elif (e.get("raw") or {}).get("seconds"):  # timed out: at least this many
        x = (e["raw"]["seconds"] - d["value"]) / delay
        add(name, x, False, "> %.0f delays (timed out)" % x, max(x, 0) / 5)
    else:
        add(name, None, None, why=why_missing((a, "libsocksify -> delay -> socks5d")))
    st = "startup"
    diff("start-up: socksify.sh /bin/true adds < 0.5 ms", (st, "socksify.sh -x ... /bin/true"),
         (st, "direct: /bin/true"), 0.5, "ms")
    diff("start-up: LD_PRELOAD alone adds < 0.05 ms", (st, "LD_PRELOAD=libsocksify.so /bin/true"),
         (st, "direct: /bin/true"), 0.05, "ms")
    b = "bulk"
    ratio("bulk: socks5d >= 0.95x the splice relay", (b, "socks5d"), (b, "splice relay (reference)"), ">=", 0.95)
    ratio("bulk: socks5d >= 1.4x danted", (b, "socks5d"), (b, "danted"), ">=", 1.4)
    why = why_missing((b, "socks5d"), (b, "splice relay (reference)"))
    if why:
        add("bulk: socks5d CPU/GB < the splice relay's", None, None, why=why)
    else:
        r = entry(b, "socks5d")["raw"]["server_cpu_s_per_gb"] / max(
            entry(b, "splice relay (reference)")["raw"]["server_cpu_s_per_gb"], 1e-9)
        add("bulk: socks5d CPU/GB < the splice relay's", r, r < 1.0, "%.2fx" % r, r)
    sizes = sorted(int(k.split()[1]) for k in results["sections"] if k.startswith("concurrency "))
    n = sizes[-1] if sizes else 5000
    cc = "concurrency %d" % n
    label = "concurrency %d%s" % (n, "" if n == 5000 else " (5000 not run)")
    s5 = entry(cc, "socks5d")
    raw = s5.get("raw") or {}
    if s5.get("value") is None:
        add(label + ": socks5d all established", None, None, why=why_missing((cc, "socks5d")))
    else:
        add(label + ": socks5d all established", raw["established"], raw["all_established"],
            "%d/%d" % (raw["established"], raw["n"]))
        mib = raw["server_rss_kib_busy"] / 1024
        add(label + ": socks5d RSS < 16 MiB", mib, mib < 16, "%.1f MiB" % mib, mib / 16)
        cores = raw.get("server_cores_busy", 0)
        add(label + ": socks5d uses both cores (CPU/wall > 1.0)", cores, cores > 1.0, "%.2f" % cores,
            1.0 / max(cores, 1e-9))
    ratio(label + ": socks5d round trips/s > danted", (cc, "socks5d"), (cc, "danted"), ">", 1.0)
    u = "udp"
    ratio("udp: lib -> socks5d >= 0.50x direct", (u, "libsocksify -> socks5d"), (u, "direct"), ">=", 0.5)
    ratio("udp: lib -> socks5d >= 3x lib -> danted", (u, "libsocksify -> socks5d"), (u, "libsocksify -> danted"),
          ">=", 3.0)
    e = entry(u, "libsocksify -> socks5d")
    if e.get("value") is None:
        add("udp: zero loss at window %d" % CFG["udp_window"], None, None,
            why=why_missing((u, "libsocksify -> socks5d")))
    else:
        lost = e["raw"]["sent"] - e["raw"]["received"]
        add("udp: zero loss at window %d" % CFG["udp_window"], lost, lost == 0, "%d lost" % lost)
    return out


def targets_table(rows):
    lines = ["", "issue 7 targets (one run on a noisy machine: repeat before believing a PASS or a MISS)", "-" * 26]
    for t in rows:
        status = "n/a" if t["pass"] is None else "PASS" if t["pass"] else "MISS"
        lines.append("%-74s %-24s %s" % (t["target"] + ":", t["text"] or "-",
                                         status + ("  (%s)" % t["why"] if t["why"] else "")))
    return "\n".join(lines)


def chart(path):
    try:
        import matplotlib
    except ImportError:
        matplotlib = None
    if matplotlib is None and not QUICK and os.geteuid() == 0 and shutil.which("apt-get"):
        log("python3-matplotlib missing: apt-get install -y python3-matplotlib (at most 180 s)")
        try:
            subprocess.run(["apt-get", "install", "-y", "-q", "python3-matplotlib"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL, timeout=180)
            import matplotlib  # noqa: F811
        except (subprocess.TimeoutExpired, ImportError, OSError):
            matplotlib = None
    if matplotlib is None:
        log("no python3-matplotlib: no chart (install it, as root: apt-get install python3-matplotlib)")
        return None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    secs = [s for s in results["sections"]]
    goals = [t for t in results.get("targets", []) if t.get("margin") is not None]
    panels = len(secs) + (1 if goals else 0)
    heights = [1.0] * len(secs) + ([max(1.0, len(goals) / 6.0)] if goals else [])
    fig, axes = plt.subplots(panels, 1, figsize=(11, 2.3 * sum(heights) + 1),
                             gridspec_kw={"height_ratios": heights})
    if panels == 1:
        axes = [axes]
    if goals:
        ax = axes[-1]
        names = [t["target"] for t in goals]
        vals = [t["margin"] for t in goals]
        ax.barh(names, vals, color=["tab:green" if t["pass"] else "tab:red" for t in goals])
        ax.axvline(1.0, color="black", linewidth=0.8)
        ax.set_title("issue 7 targets: measured / goal, oriented so that <= 1 passes (green)", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.set_xscale("symlog", linthresh=2)
        ax.invert_yaxis()
        for i, t in enumerate(goals):
            ax.text(t["margin"], i, " " + (t["text"] or ""), va="center", fontsize=7)
    for ax, sec in zip(axes, secs):
        rows = results["sections"][sec]
        names = list(rows)
        has_direct = any(rows[r].get("group") == "direct" and rows[r].get("value") for r in names)
        vals = [(rows[r].get("vs_direct") if has_direct else rows[r].get("value")) or 0 for r in names]
        colors = ["tab:orange" if rows[r].get("ours") else "tab:blue" for r in names]
        ax.barh(names, vals, color=colors)
        unit = next((rows[r].get("unit") for r in names if rows[r].get("unit")), "")
        ax.set_title("%s: %s%s (orange = ours)" % (sec, unit, ", ratio to direct" if has_direct else ""), fontsize=9)
        ax.tick_params(labelsize=7)
        ax.invert_yaxis()
        for i, v in enumerate(vals):
            ax.text(v, i, " %.2f" % v if v else " failed", va="center", fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


# ---- main -----------------------------------------------------------------------------------------

def main():
    shutil.rmtree(tmpdir, ignore_errors=True)
    os.makedirs(tmpdir)
    for path in (TOOL, LIB, SOCKS5D):
        if not os.path.exists(path):
            sys.exit("bench: %s missing (run 'make bench', which builds it)" % path)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # inherited by every server and client
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    sizes = [n for n in CFG["conc_sizes"] if n <= 1000 or nofile >= 3 * n + 100]
    if sizes != CFG["conc_sizes"]:
        log("RLIMIT_NOFILE %d: skipping concurrency %s" % (nofile, sorted(set(CFG["conc_sizes"]) - set(sizes))))
    results["rlimit_nofile"] = nofile
    t_start = time.monotonic()

    def on_signal(signum, frame):
        raise SystemExit(128 + signum)  # not an Exception: no row catches it; the finally below cleans up
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        target, ports = start_target()
        echo_port, sink_port, udp_port = ports["echo"], ports["sink"], ports["udp"]
        relays = {}
        for name, port in (("echo", echo_port), ("sink", sink_port)):
            try:
                relays[name] = start_splice(port)
            except Exception as e:  # noqa: BLE001
                log("splice relay to %s: failed to start: %s" % (name, e))
                relays[name] = None
        servers = {}
        for name, start in (("socks5d", start_socks5d), ("microsocks", start_microsocks),
                            ("danted", start_danted)):
            try:
                servers[name] = start()
                log("%s on %s:%d" % (name, HOST, servers[name].port))
            except Exception as e:  # noqa: BLE001
                log("%s: failed to start: %s" % (name, e))
                servers[name] = None
        s5port = servers["socks5d"].port if servers["socks5d"] else None
        pc_conf = proxychains_conf(s5port or 1)
        sections = [
            ("connect", lambda: bench_connect(servers, echo_port, relays["echo"])),
            ("syscalls per connect", lambda: bench_syscalls(servers, echo_port)),
            ("async connect", lambda: bench_async(servers, echo_port)),
            ("startup", lambda: bench_startup(pc_conf, s5port)),
            ("startup curl", lambda: bench_startup_curl(pc_conf, s5port, ports.get("http"))),
            ("bulk", lambda: bench_bulk(servers, sink_port, relays["sink"])),
            ("udp", lambda: bench_udp(servers, udp_port)),
            ("udp latency", lambda: bench_udp_latency(servers, udp_port)),
        ] + [("concurrency %d" % n, lambda n=n: bench_conc(servers, echo_port, n)) for n in sizes]
        for name, fn in sections:
            t0 = time.monotonic()
            log("%s ..." % name)
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - a broken section must not lose the others
                record(name, "(section)", None, e)
            results.setdefault("section_seconds", {})[name] = round(time.monotonic() - t0, 2)
    finally:
        stop_all()
    results["total_seconds"] = round(time.monotonic() - t_start, 2)
    ratios()
    try:
        results["targets"] = targets()
    except Exception as e:  # noqa: BLE001 - a bug there must not lose the measurements
        log("targets failed: %s" % e)
        results["targets"] = []
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump(results, f, indent=1, sort_keys=True)
    print(table())
    print(targets_table(results["targets"]))
    png = None
    try:
        png = chart(os.path.join(OUT, "bench.png"))
    except Exception as e:  # noqa: BLE001 - a chart problem must not hide the table
        log("chart failed: %s" % e)
    print("\nraw numbers: %s%s  (%.0f s)" % (os.path.relpath(os.path.join(OUT, "results.json"), ROOT),
                                              ", chart: " + os.path.relpath(png, ROOT) if png else "",
                                              results["total_seconds"]))


if __name__ == "__main__":
    main()
