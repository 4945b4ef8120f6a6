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
LIB = os.path.join(BUILD, "libsocksify.so")
SOCKS5D = os.path.join(BUILD, "socks5d")
WRAPPER = os.path.join(ROOT, "socksify.sh")
HOST = "127.0.0.1"
GIB = 1 << 30

QUICK = "--quick" in sys.argv[1:] or os.environ.get("BENCH_QUICK", "") not in ("", "0")
CFG = {
    "connect_n": 200 if QUICK else 2000,
    "startup_runs": 30 if QUICK else 200,
    "bulk_bytes": (256 << 20) if QUICK else GIB,
    "conc_sizes": [100, 1000] if QUICK else [100, 1000, 5000],
    "conc_seconds": 1.0 if QUICK else 3.0,
    "udp_seconds": 1.0 if QUICK else 3.0,
    "udp_window": 32,
    "udp_size": 64,
}
TIMEOUT = {"connect": 30, "startup": 10, "bulk": 60, "conc": 40, "udp": 20}
BUDGET = 50 if QUICK else 540  # seconds for the whole run; what is left over is reported as skipped
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
    ports = dict(kv.split("=") for kv in line.split())
    return p, int(ports["echo"]), int(ports["sink"]), int(ports["udp"])


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


def lib_env(proxy_port):
    env = dict(os.environ)
    env.update(LD_PRELOAD=LIB, SOCKSIFY_PROXY="socks5://%s:%d" % (HOST, proxy_port),
               SOCKSIFY_NO_PROXY="", SOCKSIFY_LOG="error")
    return env


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
        return record(section, row, None, e, **extra)


# ---- 1. connect cost ------------------------------------------------------------------------------

def bench_connect(servers, echo_port):
    """Rows are collected first, then run in CONNECT_ROUNDS interleaved turns of N/ROUNDS
    connections each, so that a noisy moment of the machine hits every row alike."""
    chunk = str(max(1, CFG["connect_n"] // CONNECT_ROUNDS))
    target = [HOST, str(echo_port)]
    rows = []  # (row, run one turn -> samples, extra)

    def connect(mode, port=None, env=None, prefix=()):
        def turn():
            args = ["connect", mode] + target + [chunk] + ([HOST, str(port)] if port else [])
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


# ---- 2. start-up cost -----------------------------------------------------------------------------

def bench_startup(pc_conf):
    runs = CFG["startup_runs"]
    env_lib = dict(os.environ, LD_PRELOAD=LIB)
    cases = [("direct: /bin/true", ["/bin/true"], None, "direct", False),
             ("socksify.sh -x ... /bin/true", [WRAPPER, "-x", "socks5://127.0.0.1:1", "/bin/true"], None, "client",
              True),
             ("LD_PRELOAD=libsocksify.so /bin/true", ["/bin/true"], env_lib, "client", True)]
    pc = shutil.which("proxychains4")
    cases.append(("proxychains4 /bin/true", [pc or "proxychains4", "-q", "-f", pc_conf, "/bin/true"], None,
                  "client", False))
    # interleaved, so that a noisy moment hits every case alike
    times = {c[0]: [] for c in cases}
    errors = {} if pc else {"proxychains4 /bin/true": "not installed"}
    deadline = time.monotonic() + remaining(20 if QUICK else 90)
    for _ in range(runs):
        if time.monotonic() > deadline:
            break
        for name, cmd, env, _, _ in cases:
            if name in errors:
                continue
            t0 = time.perf_counter()
            try:
                r = subprocess.run(cmd, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL, timeout=TIMEOUT["startup"], start_new_session=True)
                if r.returncode != 0:
                    errors[name] = "exit status %d" % r.returncode
            except subprocess.TimeoutExpired:
                errors[name] = "timed out"
            times[name].append((time.perf_counter() - t0) * 1e3)
    for name, _, _, group, ours in cases:
        if name in errors:
            record("startup", name, None, errors[name], group=group, ours=ours)
        else:
            t = times[name]
            record("startup", name, statistics.median(t), unit="ms median", group=group, ours=ours,
                   raw={"runs": len(t), "median_ms": statistics.median(t), "min_ms": min(t)})


# ---- 3. bulk --------------------------------------------------------------------------------------

def bench_bulk(servers, sink_port):
    nbytes = CFG["bulk_bytes"]

    def bulk(srv, mode):
        def fn():
            args = ["bulk", mode, HOST, str(sink_port), str(nbytes)] + ([HOST, str(srv.port)] if srv else [])
            cpu0 = cpu_seconds(srv.proc.pid) if srv else 0
            raw = run_tool(args, TIMEOUT["bulk"])
            cpu = cpu_seconds(srv.proc.pid) - cpu0 if srv else 0
            mbps = raw["bytes"] / max(raw["seconds"], 1e-6) / 1e6
            raw.update(mb_per_s=mbps, server_cpu_s=cpu, server_cpu_s_per_gb=cpu / (raw["bytes"] / 1e9))
            return mbps, raw
        return fn

    measure("bulk", "direct", bulk(None, "plain"), unit="MB/s", group="direct", ours=False, higher=True)
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
                line = read_line(p, remaining(CFG["conc_seconds"] + 15))
                if not line or not line.startswith("ok"):
                    raise RuntimeError("no round-trip result: %r" % line)
                raw = parse_kv(line)
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
                raw.update(server_cpu_s=cpu, server_rss_kib_idle=mem0[0], server_rss_kib_open=mem_open[0],
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
    def udp(srv):
        def fn():
            args = ["udp", HOST, str(udp_port), str(CFG["udp_seconds"]), str(CFG["udp_window"]),
                    str(CFG["udp_size"])]
            cpu0 = cpu_seconds(srv.proc.pid) if srv else 0
            raw = run_tool(args, TIMEOUT["udp"], env=lib_env(srv.port) if srv else None)
            raw["server_cpu_s"] = cpu_seconds(srv.proc.pid) - cpu0 if srv else 0
            raw["loss"] = (raw["sent"] - raw["received"]) / raw["sent"] if raw["sent"] else 0
            rate = raw["received"] / max(raw["seconds"], 1e-6)
            raw["dgrams_per_s"] = rate
            return rate, raw
        return fn

    measure("udp", "direct", udp(None), unit="datagrams/s", group="direct", ours=False, higher=True)
    for name in ("socks5d", "danted"):
        srv = servers.get(name)
        row = "libsocksify -> %s" % name
        if srv is None:
            record("udp", row, None, "server did not start", group="server", ours=(name == "socks5d"))
            continue
        measure("udp", row, udp(srv), unit="datagrams/s", group="server", ours=(name == "socks5d"), higher=True)


# ---- report ---------------------------------------------------------------------------------------

def ratios():
    """Per row: value / direct, and value / best peer of its group (best = fastest)."""
    for sec, rows in results["sections"].items():
        direct = next((e.get("value") for e in rows.values() if e.get("group") == "direct"), None)
        for row, e in rows.items():
            higher = e.get("higher", False)
            peers = [p["value"] for p in rows.values()
                     if p.get("group") == e.get("group") and not p.get("ours") and p.get("value") is not None]
            best = (max(peers) if higher else min(peers)) if peers else None
            v = e.get("value")
            e["vs_direct"] = v / direct if v is not None and direct else None
            e["vs_best_peer"] = v / best if v is not None and best and e.get("group") != "direct" else None
            e["best_peer_value"] = best


def fmt(x, digits=2):
    return "-" if x is None else ("%.*f" % (digits, x))


def table():
    lines = ["", "socksify bench (%s): ratios within this one run; absolute values are noise" %
             ("quick" if QUICK else "normal"),
             "  x direct: this row / the direct row (time: >1 = slower; rate: <1 = slower)",
             "  x best peer: this row / the best row of microsocks, danted, proxychains4 in the same group", ""]
    head = "%-22s %-38s %12s %-16s %9s %11s  %s" % ("section", "row", "value", "unit", "x direct", "x best peer",
                                                     "notes")
    lines += [head, "-" * len(head)]
    for sec, rows in results["sections"].items():
        for row, e in rows.items():
            note = ""
            raw = e.get("raw") or {}
            if e.get("value") is None:
                val, note = "failed", e.get("error", "")[:60]
            else:
                val = fmt(e["value"], 1)
                if sec == "connect":
                    note = "p99 %s us" % fmt(raw.get("p99_us"), 0)
                elif sec == "bulk" and row != "direct":
                    note = "server %s CPU s/GB" % fmt(raw.get("server_cpu_s_per_gb"))
                elif sec.startswith("concurrency"):
                    note = "%s/%s up" % (raw.get("established"), raw.get("n"))
                    if "server_cpu_s" in raw:
                        note += ", server RSS %s MiB (PSS %s), CPU %s s" % (
                            fmt(raw["server_rss_kib_busy"] / 1024, 1), fmt(raw["server_pss_kib_busy"] / 1024, 1),
                            fmt(raw["server_cpu_s"]))
                elif sec == "udp":
                    note = "loss %s%%" % fmt(100 * raw.get("loss", 0), 3)
                    if row != "direct":
                        note += ", server CPU %s s" % fmt(raw.get("server_cpu_s"))
            ours = "*" if e.get("ours") else " "
            lines.append("%-22s %-38s %12s %-16s %9s %11s  %s" % (
                sec, ours + row, val, e.get("unit", ""), fmt(e.get("vs_direct")), fmt(e.get("vs_best_peer")), note))
        lines.append("")
    lines.append("* = our code in the path (socks5d or libsocksify)")
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
    fig, axes = plt.subplots(len(secs), 1, figsize=(10, 2.2 * len(secs) + 1))
    if len(secs) == 1:
        axes = [axes]
    for ax, sec in zip(axes, secs):
        rows = results["sections"][sec]
        names = list(rows)
        vals = [rows[r].get("vs_direct") or 0 for r in names]
        colors = ["tab:orange" if rows[r].get("ours") else "tab:blue" for r in names]
        ax.barh(names, vals, color=colors)
        unit = next((rows[r].get("unit") for r in names if rows[r].get("unit")), "")
        ax.set_title("%s: %s, ratio to direct (orange = ours)" % (sec, unit), fontsize=9)
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
        target, echo_port, sink_port, udp_port = start_target()
        servers = {}
        for name, start in (("socks5d", start_socks5d), ("microsocks", start_microsocks),
                            ("danted", start_danted)):
            try:
                servers[name] = start()
                log("%s on %s:%d" % (name, HOST, servers[name].port))
            except Exception as e:  # noqa: BLE001
                log("%s: failed to start: %s" % (name, e))
                servers[name] = None
        sections = [
            ("connect", lambda: bench_connect(servers, echo_port)),
            ("startup", lambda: bench_startup(proxychains_conf(servers["socks5d"].port if servers["socks5d"]
                                                               else 1))),
            ("bulk", lambda: bench_bulk(servers, sink_port)),
        ] + [("concurrency %d" % n, lambda n=n: bench_conc(servers, echo_port, n)) for n in sizes] + [
            ("udp", lambda: bench_udp(servers, udp_port)),
        ]
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
    with open(os.path.join(OUT, "results.json"), "w") as f:
        json.dump(results, f, indent=1, sort_keys=True)
    print(table())
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
