"""make compare: what socksify.sh and its peers (proxychains4, torsocks, dante's socksify, tsocks)
actually do with a program's traffic, measured, all through the same socks5d.

  C (client) --veth 10.209.0.0/24, fd00:5e::/64-- P (proxy side)
                                                  lo: 198.18.0.1, fd00:5e:1::1 (targets)
                                                      198.18.0.53 (trap DNS)

P runs socks5d on its veth addresses, an HTTP server and a UDP echo server on the targets, and a
trap DNS server that logs every query and answers NXDOMAIN. P's /etc/hosts is the only place where
NAME resolves (ip netns exec bind-mounts /etc/netns/<ns>/hosts and resolv.conf over /etc's).
C's resolv.conf names the trap, its hosts file only localhost. C has routes to the targets and
the trap through P: a wrapper that goes direct is not stopped, it is seen. An nftables table in
C counts every TCP/UDP packet that leaves C for anything but the proxy (and those to the trap).
The asyncio scenario goes through tests/integration/delayproxy.py in P, which delays every answer
of socks5d by DELAY_MS: a wrapper that handshakes inside connect() stalls the event loop by two.

Each scenario runs one program under each wrapper in C and gets a verdict: proxied, leaked (N
packets direct), refused (a clean error, no packet out), failed (how), hang (the bounded wait
expired). A peer failing a scenario is a result; the exit status is 0 unless the harness broke.

  compare.py [--wrappers a,b] [--scenarios a,b] [--out DIR]
Output: a table on stdout, DIR/results.json (DIR: $BUILD/compare)."""

import argparse
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

from bench import dante_socksify  # the same directory

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BUILD = os.path.abspath(os.environ.get("BUILD") or os.environ.get("SOCKSIFY_BUILD") or os.path.join(ROOT, "build"))
PYTHON = "/usr/bin/python3"
CLEAN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HTTPD = os.path.join(ROOT, "tests", "integration", "httpd.py")
TRAPDNS = os.path.join(ROOT, "tests", "integration", "trapdns.py")
CLIENT = os.path.join(HERE, "compareclient.py")

PROXY4, CLIENT4 = "10.209.0.1", "10.209.0.2"
PROXY6, CLIENT6 = "fd00:5e::1", "fd00:5e::2"
TARGET4, TARGET6, TRAP4 = "198.18.0.1", "fd00:5e:1::1", "198.18.0.53"
NAME = "web.compare.test"  # resolves in P only
BODY = b"compare-ok\n"
PREFIX = "cmp-"  # namespaces cmp-c-PID, cmp-p-PID: never test_netns.py's sfy-c-/sfy-p-

RUN_TIMEOUT = 10  # a program still running after this is a hang
DELAY_MS = 100  # the delaying relay's lateness, for the asyncio scenario
DELAYPROXY = os.path.join(ROOT, "tests", "integration", "delayproxy.py")
UDP_ECHO = ("import socket,sys\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.bind((sys.argv[1],0))\n"
            "print('udpecho: listening on %s:%d' % s.getsockname(), flush=True)\n"
            "while True:\n d,a=s.recvfrom(65536)\n s.sendto(d,a)\n")

LEAK_TABLE = """
table inet cmpleak {{
  counter to_proxy {{}}
  counter to_dns {{}}
  counter direct {{}}
  chain out {{
    type filter hook output priority 0; policy accept;
    oifname "lo" accept
    ip daddr {p4} counter name to_proxy accept
    ip6 daddr {p6} counter name to_proxy accept
    ip daddr {trap} counter name to_dns
    meta l4proto {{ tcp, udp }} counter name direct
  }}
}}
"""


def log(msg):
    print("compare: " + msg, file=sys.stderr, flush=True)


def sh(*args, check=True, input=None):
    r = subprocess.run(list(args), capture_output=True, text=True, timeout=30, input=input)
    if check and r.returncode != 0:
        raise RuntimeError("%s failed (%d): %s" % (" ".join(args), r.returncode, r.stderr.strip()))
    return r


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items()
           if not re.match(r"^(SOCKSIFY_.*|SOCKS_.*|TORSOCKS_.*|TSOCKS_.*|PROXYCHAINS_.*|LD_PRELOAD|"
                           r"(?i:https?_proxy|all_proxy|no_proxy|ftp_proxy))$", k)}
    env.update(PATH=CLEAN_PATH, LC_ALL="C")
    env.update(extra)
    return env


def version(pkg):
    r = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", pkg], capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 and r.stdout.strip() else None


# ---- the two namespaces and what runs in P ----------------------------------------------------

class Net:
    def __init__(self, workdir):
        tag = "%d" % os.getpid()
        self.c, self.p = PREFIX + "c-" + tag, PREFIX + "p-" + tag
        self.workdir = workdir
        self.procs = []  # Popen of every server we started
        self.socks5d = None
        self.proxy_port = None

    @staticmethod
    def remove_leftovers():
        """Namespaces (and their /etc/netns files) of an earlier run whose process is gone."""
        for line in sh("ip", "netns", "list").stdout.splitlines():
            m = re.match(r"^(%s[cp]-(\d+))(\s|$)" % PREFIX, line)
            if m and not os.path.exists("/proc/" + m.group(2)):
                sh("ip", "netns", "del", m.group(1), check=False)
                shutil.rmtree("/etc/netns/" + m.group(1), ignore_errors=True)

    def etc(self, ns, hosts, resolv):
        d = "/etc/netns/" + ns
        os.makedirs(d, exist_ok=True)
        for name, text in (("hosts", hosts), ("resolv.conf", resolv)):
            with open(os.path.join(d, name), "w") as f:
                f.write(text)

    def setup(self):
        self.remove_leftovers()
        c, p = self.c, self.p
        self.etc(c, "127.0.0.1 localhost\n::1 localhost\n", "nameserver %s\noptions timeout:1 attempts:1\n" % TRAP4)
        self.etc(p, "127.0.0.1 localhost\n::1 localhost\n%s %s\n" % (TARGET4, NAME),
                 "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n")
        sh("ip", "netns", "add", c)
        sh("ip", "netns", "add", p)
        sh("ip", "-n", c, "link", "add", "v-c", "type", "veth", "peer", "name", "v-p", "netns", p)
        for ns, dev, a4, a6 in ((c, "v-c", CLIENT4, CLIENT6), (p, "v-p", PROXY4, PROXY6)):
            sh("ip", "-n", ns, "link", "set", "lo", "up")
            sh("ip", "-n", ns, "addr", "add", a4 + "/24", "dev", dev)
            sh("ip", "-n", ns, "-6", "addr", "add", a6 + "/64", "dev", dev, "nodad")
            sh("ip", "-n", ns, "link", "set", dev, "up")
        for a in (TARGET4 + "/32", TRAP4 + "/32"):
            sh("ip", "-n", p, "addr", "add", a, "dev", "lo")
        sh("ip", "-n", p, "-6", "addr", "add", TARGET6 + "/128", "dev", "lo", "nodad")
        # Direct paths exist, as on any real machine: a leak is not stopped, it is counted.
        sh("ip", "-n", c, "route", "add", "198.18.0.0/24", "via", PROXY4)
        sh("ip", "-n", c, "-6", "route", "add", "fd00:5e:1::/64", "via", PROXY6)
        sh("ip", "netns", "exec", c, "nft", "-f", "-",
           input=LEAK_TABLE.format(p4=PROXY4, p6=PROXY6, trap=TRAP4))

        www = os.path.join(self.workdir, "www")
        os.makedirs(www, exist_ok=True)
        with open(os.path.join(www, "ok"), "wb") as f:
            f.write(BODY)
        httpd = self.start("httpd", [PYTHON, "-u", HTTPD, www, TARGET4, TARGET6])
        self.http_port = int(self.read_line(httpd, r"listening on 198\.18\.0\.1:(\d+)").group(1))
        echo = self.start("udpecho", [PYTHON, "-c", UDP_ECHO, TARGET4])
        self.udp_port = int(self.read_line(echo, r"listening on [\d.]+:(\d+)").group(1))
        self.trap_log = os.path.join(self.workdir, "trapdns-queries.log")
        open(self.trap_log, "w").close()
        trap = self.start("trapdns", [PYTHON, "-u", TRAPDNS, "--listen", TRAP4, "--log", self.trap_log])
        self.read_line(trap, r"trapdns: listening on tcp")
        self.start_socks5d()

    def start_socks5d(self):
        exe = os.path.join(BUILD, "socks5d")
        self.socks5d_log = os.path.join(self.workdir, "socks5d.log")
        self.socks5d = self.start("socks5d", [exe, "-l", "%s:0" % PROXY4, "-l", "[%s]:0" % PROXY6,
                                              "--allow-open", "--workers", "1"])
        self.proxy_port = int(self.read_line(self.socks5d, r"listening on 10\.209\.0\.1:(\d+)").group(1))
        delay = self.start("delayproxy", [PYTHON, "-u", DELAYPROXY, "--listen", "%s:0" % PROXY4,
                                          "--upstream", "%s:%d" % (PROXY4, self.proxy_port), "--delay-ms", str(DELAY_MS)])
        self.delay_port = int(self.read_line(delay, r"^(\d+)").group(1))

    def stop_socks5d(self):
        p, self.socks5d = self.socks5d, None
        os.kill(p.pid, signal.SIGTERM)
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(5)

    def start(self, name, cmd):
        logf = open(os.path.join(self.workdir, name + ".log"), "ab")
        proc = subprocess.Popen(["ip", "netns", "exec", self.p] + cmd, stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=logf, env=clean_env(), start_new_session=True)
        logf.close()
        self.procs.append(proc)
        return proc

    @staticmethod
    def read_line(proc, pattern, timeout=10):
        import select
        end, buf = time.monotonic() + timeout, b""
        while time.monotonic() < end:
            r, _, _ = select.select([proc.stdout], [], [], max(0.0, end - time.monotonic()))
            if not r:
                break
            chunk = os.read(proc.stdout.fileno(), 4096)
            if not chunk:
                break
            buf += chunk
            m = re.search(pattern, buf.decode("utf-8", "replace"))
            if m:
                return m
        raise RuntimeError("%r printed no line matching %r within %ds: %r" % (proc.args, pattern, timeout, buf))

    def teardown(self):
        for proc in self.procs:
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                    proc.wait(3)
                except (ProcessLookupError, subprocess.TimeoutExpired):
                    pass
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait()
        for ns in (self.c, self.p):
            # whatever still runs in a namespace this run made is this run's
            for pid in sh("ip", "netns", "pids", ns, check=False).stdout.split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            sh("ip", "netns", "del", ns, check=False)
            shutil.rmtree("/etc/netns/" + ns, ignore_errors=True)

    # ---- what a run leaves behind: counters, trap queries, proxy sessions ----

    def counters(self):
        r = sh("ip", "netns", "exec", self.c, "nft", "-j", "list", "table", "inet", "cmpleak")
        return {item["counter"]["name"]: item["counter"]["packets"]
                for item in json.loads(r.stdout)["nftables"] if "counter" in item}

    def reset_counters(self):
        sh("ip", "netns", "exec", self.c, "nft", "reset", "counters", "table", "inet", "cmpleak")

    def trap_queries(self):
        with open(self.trap_log) as f:
            return f.read().splitlines()

    def sessions(self):
        try:
            with open(self.socks5d_log) as f:
                return [l for l in f.read().splitlines() if " session " in l]
        except FileNotFoundError:
            return []


# ---- the wrappers -----------------------------------------------------------------------------

class Wrapper:
    def __init__(self, name, label, package, exe):
        self.name, self.label, self.package, self.exe = name, label, package, exe
        self.missing = None if exe and os.path.exists(exe) else "not installed (%s)" % package

    def command(self, port, cfgdir, cmd):
        """(argv, env) running cmd under this wrapper through the proxy at PROXY4:port."""
        raise NotImplementedError


class Socksify(Wrapper):
    def command(self, port, cfgdir, cmd):
        env = clean_env(SOCKSIFY_LIB=os.path.join(BUILD, "libsocksify.so"))
        return [self.exe, "-x", "socks5://%s:%d" % (PROXY4, port), "-t", "5", "--"] + cmd, env


class Proxychains(Wrapper):
    def __init__(self, name, label, proxy_dns):
        super().__init__(name, label, "proxychains4", shutil.which("proxychains4", path=CLEAN_PATH))
        self.proxy_dns = proxy_dns

    def command(self, port, cfgdir, cmd):
        conf = os.path.join(cfgdir, "%s.conf" % self.name)
        with open(conf, "w") as f:
            f.write("strict_chain\n%stcp_read_time_out 5000\ntcp_connect_time_out 3000\n[ProxyList]\nsocks5 %s %d\n"
                    % ("proxy_dns\nremote_dns_subnet 224\n" if self.proxy_dns else "", PROXY4, port))
        return [self.exe, "-q", "-f", conf] + cmd, clean_env()


class Torsocks(Wrapper):
    def command(self, port, cfgdir, cmd):
        conf = os.path.join(cfgdir, "torsocks.conf")
        with open(conf, "w") as f:
            f.write("TorAddress %s\nTorPort %d\n" % (PROXY4, port))
        return [self.exe] + cmd, clean_env(TORSOCKS_CONF_FILE=conf)


class DanteSocksify(Wrapper):
    def command(self, port, cfgdir, cmd):
        conf = os.path.join(cfgdir, "dante.conf")
        route = ("route {\n  from: %s to: %s via: %s port = %d\n  proxyprotocol: socks_v5\n"
                 "  protocol: tcp udp\n  command: connect udpassociate\n}\n")
        with open(conf, "w") as f:
            f.write("resolveprotocol: fake\n" + route % ("0.0.0.0/0", "0.0.0.0/0", PROXY4, port)
                    + route % ("::/0", "::/0", PROXY4, port))
        return [self.exe] + cmd, clean_env(SOCKS_CONF=conf, SOCKS_AUTOADD_LANROUTES="no")


class Tsocks(Wrapper):
    def command(self, port, cfgdir, cmd):
        conf = os.path.join(cfgdir, "tsocks.conf")
        with open(conf, "w") as f:
            f.write("local = 10.209.0.0/255.255.255.0\nserver = %s\nserver_port = %d\nserver_type = 5\n"
                    % (PROXY4, port))
        return [self.exe] + cmd, clean_env(TSOCKS_CONF_FILE=conf)


def wrappers():
    return [
        Socksify("socksify", "socksify.sh", "this build", os.path.join(ROOT, "socksify.sh")),
        Proxychains("proxychains4", "proxychains4 (proxy_dns)", True),
        Proxychains("proxychains4-nodns", "proxychains4 (no proxy_dns)", False),
        Torsocks("torsocks", "torsocks", "torsocks", shutil.which("torsocks", path=CLEAN_PATH)),
        DanteSocksify("dante", "dante socksify", "dante-client", dante_socksify(CLEAN_PATH)),
        Tsocks("tsocks", "tsocks", "tsocks", shutil.which("tsocks", path=CLEAN_PATH)),
    ]


# ---- the scenarios ----------------------------------------------------------------------------

def curl(url):
    return ["curl", "-q", "-sS", "--max-time", "5", url]


class Scenario:
    """letter, id, title, the program (a function of net) and how to tell it worked. refusal:
    whether a quick error with nothing sent direct reads 'refused' (not where the wrapper should
    have done the job: a name it could not get resolved is 'failed'). delayed: through a relay
    that delays every answer of socks5d by DELAY_MS (shows a handshake that blocks the caller)."""

    def __init__(self, letter, sid, title, program, check, refusal=True, delayed=False):
        self.letter, self.id, self.title, self.program, self.check = letter, sid, title, program, check
        self.refusal, self.delayed = refusal, delayed


def body_ok(r):
    return r["rc"] == 0 and r["stdout"].endswith(BODY.decode())


def json_ok(r):
    line = [l for l in r["stdout"].splitlines() if l.startswith("{")]
    if not line:
        return False
    r["json"] = json.loads(line[-1])
    return bool(r["json"].get("ok"))


def dig_ok(r):
    return "status: NXDOMAIN" in r["stdout"] or "status: NOERROR" in r["stdout"]


def hp(host, port):
    return "[%s]:%d" % (host, port) if ":" in host else "%s:%d" % (host, port)


# In the order they run: proxy-down last, as it stops socks5d. Printed in letter order.
SCENARIOS = [
    Scenario("a", "tcp-ip", "TCP to an IPv4 literal (curl)",
             lambda n: curl("http://%s/ok" % hp(TARGET4, n.http_port)), body_ok),
    Scenario("b", "tcp-name", "TCP to a name only the proxy can resolve (curl)",
             lambda n: curl("http://%s/ok" % hp(NAME, n.http_port)), body_ok, refusal=False),
    Scenario("c", "udp", "UDP datagram to an echo server (python sendto/recvfrom)",
             lambda n: [PYTHON, CLIENT, "udp", TARGET4, str(n.udp_port)], json_ok),
    Scenario("i", "udp-connected", "UDP on a connected socket (python connect/send/recv)",
             lambda n: [PYTHON, CLIENT, "udpconn", TARGET4, str(n.udp_port)], json_ok),
    Scenario("d", "dns-udp", "the program's own DNS query over UDP (dig @trap)",
             lambda n: ["dig", "+tries=1", "+time=3", "@" + TRAP4, NAME, "A"], dig_ok),
    Scenario("e", "asyncio", "non-blocking connect in asyncio (open_connection to IPv4), proxy answers delayed",
             lambda n: [PYTHON, CLIENT, "async", TARGET4, str(n.http_port)], json_ok, delayed=True),
    Scenario("f", "tcp-ipv6", "TCP to an IPv6 literal (curl)",
             lambda n: curl("http://%s/ok" % hp(TARGET6, n.http_port)), body_ok),
    Scenario("h", "static", "a statically linked TCP client (gcc -static)",
             lambda n: [n.static_exe, TARGET4, str(n.http_port)], body_ok),
    Scenario("g", "proxy-down", "proxy down (socks5d stopped), TCP to an IPv4 literal (curl)",
             lambda n: curl("http://%s/ok" % hp(TARGET4, n.http_port)), body_ok),
]


def run_in_c(net, argv, env, timeout=RUN_TIMEOUT):
    t0 = time.monotonic()
    p = subprocess.Popen(["ip", "netns", "exec", net.c] + argv, env=env, stdin=subprocess.DEVNULL,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    timed_out = False
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
    finally:
        try:
            os.killpg(p.pid, signal.SIGKILL)  # leftovers of the run (a daemon a wrapper forked)
        except (ProcessLookupError, PermissionError):
            pass
    return {"rc": p.returncode, "timed_out": timed_out, "elapsed": round(time.monotonic() - t0, 2),
            "stdout": out.decode("utf-8", "replace"), "stderr": err.decode("utf-8", "replace")}


def how(r):
    """A short reason for a failure: the program's own error line, else its exit status."""
    j = r.get("json")
    if j and j.get("error"):
        return j["error"]
    lines = [l.strip() for l in (r["stderr"] + "\n" + r["stdout"]).splitlines() if l.strip()]
    if r["rc"] is not None and r["rc"] < 0:
        return "killed by %s" % signal.Signals(-r["rc"]).name
    lines = [l for l in lines if re.search(r"error|fail|refus|denied|not permitted|timed out", l, re.I)] or lines
    text = re.sub(r"^\d+ ", "", lines[-1].lstrip("; ")) if lines else "exit status %d, no message" % r["rc"]
    return text if len(text) <= 110 else text[:107] + "..."


def measure(net, cfgdir, w, sc):
    argv, env = w.command(net.delay_port if sc.delayed else net.proxy_port, cfgdir, sc.program(net))
    sessions0, trap0 = len(net.sessions()), len(net.trap_queries())
    net.reset_counters()
    r = run_in_c(net, argv, env)
    ok = not r["timed_out"] and sc.check(r)
    deadline = time.monotonic() + 1.0
    while ok and sc.id != "proxy-down" and len(net.sessions()) == sessions0 and time.monotonic() < deadline:
        time.sleep(0.05)  # socks5d logs a session when it ends, just after the program's exit
    c = net.counters()
    lines = net.sessions()[sessions0:]
    res = {"ok": ok, "direct_packets": c.get("direct", 0), "dns_packets": c.get("to_dns", 0),
           "proxy_packets": c.get("to_proxy", 0), "trap_queries": net.trap_queries()[trap0:],
           "socks5d_sessions": [re.sub(r"^socks5d\[\d+\]: info: session ", "", l) for l in lines],
           "proxy_sessions": len(lines),
           "rc": r["rc"], "elapsed": r["elapsed"], "timed_out": r["timed_out"],
           "stdout": r["stdout"][-600:], "stderr": r["stderr"][-1200:]}
    if r.get("json"):
        res["json"] = r["json"]
    leak = res["direct_packets"]
    if r["timed_out"]:
        kind, v = "hang", "hang (no exit in %d s)" % RUN_TIMEOUT + (", leaked %d packets direct" % leak if leak else "")
    elif ok and not leak:
        kind = v = "proxied" if res["proxy_sessions"] else "worked, no proxy session seen"
    elif ok:
        kind, v = "leaked", "leaked (%d packets direct)" % leak
    elif leak:
        kind, v = "leaked", "leaked (%d packets direct), then failed: %s" % (leak, how(r))
    elif sc.refusal and r["rc"] >= 0 and not re.search(r"timed out|no reply|no answer|unexpected",
                                                        r["stdout"] + r["stderr"] + how(r), re.I):
        kind, v = "refused", "refused (clean error: %s)" % how(r)
    else:
        kind, v = "failed", "failed (%s)" % how(r)
    res["kind"] = kind
    stall = (res.get("json") or {}).get("stall_ms")
    if sc.delayed and ok and stall is not None:
        v += " (event loop stalled %d ms at most; proxy answers %d ms late)" % (stall, DELAY_MS)
    # the trap's queries are a local-DNS leak, except dig's own query in dns-udp (it may be proxied)
    counted = sc.id == "tcp-name" or (sc.id != "dns-udp" and res["trap_queries"])
    res["local_dns"] = len(res["trap_queries"]) if counted else None
    if res["local_dns"] is not None:
        v += "; local DNS: %d queries" % res["local_dns"]
    # what went wrong at the proxy, in socks5d's own words
    odd = [m.group(1) + " " + m.group(2) for m in (re.search(r"(cmd=\S+) .*(result=\S+)", l) for l in lines)
           if m and m.group(2) != "result=ok"]
    odd += ["dropped=%s" % m.group(1) for m in (re.search(r" dropped=([1-9]\d*)", l) for l in lines) if m]
    if odd:
        v += "; socks5d: " + ", ".join(odd)
    res["verdict"] = v
    return res


def cell(res):
    """A cell of the printed table: the kind of verdict, packets direct, local DNS queries."""
    if "kind" not in res:
        return res["verdict"]
    out = res["kind"]
    if res["direct_packets"]:
        out += " (%d pkts)" % res["direct_packets"] if out == "leaked" else ", %d pkts direct" % res["direct_packets"]
    if not res["ok"] and out.startswith("leaked"):
        out += ", failed"
    if res["local_dns"] is not None:
        out += ", %d DNS q" % res["local_dns"]
    return out


def build_static(out):
    exe = os.path.join(out, "compare_static")
    src = os.path.join(HERE, "compare_static.c")
    if not os.path.exists(exe) or os.path.getmtime(exe) < os.path.getmtime(src):
        sh("gcc", "-static", "-O2", "-Wall", "-Wextra", "-Werror", "-o", exe, src)
    return exe


def table(names, labels, rows, results):
    width0 = max(len(t) for _, t in rows) + 2
    cells = {(s, w): cell(results[s][w]) if w in results[s] else "-" for s, _ in rows for w in names}
    widths = [max([len(labels[w])] + [len(cells[(s, w)]) for s, _ in rows]) + 2 for w in names]
    lines = ["".ljust(width0) + "".join(labels[w].ljust(n) for w, n in zip(names, widths))]
    for s, title in rows:
        lines.append(title.ljust(width0) + "".join(cells[(s, w)].ljust(n) for w, n in zip(names, widths)))
    return "\n".join(l.rstrip() for l in lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wrappers", help="comma-separated: " + ",".join(w.name for w in wrappers()))
    ap.add_argument("--scenarios", help="comma-separated: " + ",".join(s.id for s in SCENARIOS))
    ap.add_argument("--out", default=os.path.join(BUILD, "compare"))
    a = ap.parse_args()
    if os.geteuid() != 0:
        log("needs root (network namespaces, nftables, /etc/netns)")
        return 1
    for tool in ("ip", "nft", "curl", "dig", "gcc"):
        if not shutil.which(tool, path=CLEAN_PATH):
            log("%s is not installed (sh tests/install-deps.sh bench)" % tool)
            return 1
    ws = wrappers()
    if a.wrappers:
        want = a.wrappers.split(",")
        ws = [w for w in ws if w.name in want]
    scs = SCENARIOS
    if a.scenarios:
        want = a.scenarios.split(",")
        scs = [s for s in SCENARIOS if s.id in want]
    os.makedirs(a.out, exist_ok=True)
    t0 = time.monotonic()
    workdir = os.path.join(a.out, "run")  # configs and server logs of the last run, kept for a look
    shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(workdir)
    net = Net(workdir)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("compare: terminated"))  # tear down on the way out
    results = {s.id: {} for s in scs}
    try:
        net.static_exe = build_static(a.out)
        net.setup()
        for sc in scs:
            if sc.id == "proxy-down":
                net.stop_socks5d()
            for w in ws:
                if w.missing:
                    results[sc.id][w.name] = {"verdict": "n/a: " + w.missing}
                    continue
                res = measure(net, workdir, w, sc)
                results[sc.id][w.name] = res
                log("%-10s %-20s %s (%.1fs)" % (sc.id, w.name, res["verdict"], res["elapsed"]))
    finally:
        net.teardown()
    versions = {p: version(p) for p in ("proxychains4", "torsocks", "dante-client", "tsocks", "curl", "bind9-dnsutils")}
    head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    versions = dict({"socksify": "git " + head.stdout.strip() if head.returncode == 0 else None}, **versions)
    now = datetime.datetime.now(datetime.timezone.utc)
    scs = sorted(scs, key=lambda s: s.letter)
    rows = [(s.id, "%s %s" % (s.letter, s.id)) for s in scs]
    labels = {w.name: w.label for w in ws}
    print()
    print("make compare, %s UTC, %.0f s; %s" % (now.strftime("%Y-%m-%d %H:%M"),
                                                time.monotonic() - t0,
                                                ", ".join("%s %s" % kv for kv in versions.items() if kv[1])))
    print(table([w.name for w in ws], labels, rows, results))
    print()
    for s in scs:
        print("%s %s: %s" % (s.letter, s.id, s.title))
        for w in ws:
            print("    %-28s %s" % (w.label, results[s.id][w.name]["verdict"]))
    with open(os.path.join(a.out, "results.json"), "w") as f:
        json.dump({"date": now.isoformat(timespec="seconds"), "versions": versions,
                   "wrappers": [{"name": w.name, "label": w.label, "exe": w.exe, "missing": w.missing} for w in ws],
                   "scenarios": [{"letter": s.letter, "id": s.id, "title": s.title} for s in scs],
                   "results": results, "seconds": round(time.monotonic() - t0, 1)}, f, indent=1)
    print("\nraw results: %s" % os.path.join(a.out, "results.json"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
