#!/usr/bin/env python3
"""The cost of socksify-supervise (issue 9), on loopback; part of make bench (make bench-supervise alone).

1. Per-connect cost: benchtool's sequential connect client (connect, one byte echoed, close),
   the median over N connections to a loopback echo server, through one socks5d:
     direct                    no proxy, no supervisor
     libsocksify               LD_PRELOAD, the library's handshake (pipelined greeting+CONNECT)
     supervisor                socksify-supervise: the notification, pidfd_getfd, the handshake
                               done by the supervisor on the program's socket, the reply
     supervisor, no-proxy      the same destination in SOCKSIFY_NO_PROXY: the supervisor connects
                               it directly: what the interception alone costs
     ... (ptrace)              the same two with --mechanism ptrace: a seccomp stop, the program's
                               socket fetched by calls injected into the stopped thread, the reply
                               in its registers
   The rows run interleaved, N/ROUNDS connections per turn, so that a noisy moment of the shared
   machine hits all alike.
2. What the filter costs other system calls: supbench (getpid, read, send on a connected UDP
   socket, all decided inside the filter; sendmsg, which goes to the supervisor) with and without,
   under each mechanism (the filter is the same; only sendmsg's round trip differs).
3. UDP to a loopback echo server: benchtool's udp (datagrams/s of 64 bytes with 32 in flight,
   sendto + recv) and udprtt (one datagram at a time: round-trip latency), direct, through the
   library's UDP ASSOCIATE and through the supervisor's, via a socks5d on 127.0.0.2 (the
   supervisor sends datagrams to the proxy's own host directly: that is where a relay is).

Prints a table; writes build/bench/supervise.json."""

import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BUILD = os.path.abspath(os.environ.get("BUILD") or os.path.join(ROOT, "build"))
QUICK = os.environ.get("BENCH_QUICK", "") not in ("", "0")
TOOL = os.path.join(BUILD, "bench", "benchtool")
SUPBENCH = os.path.join(BUILD, "bench", "supbench")
SOCKS5D = os.path.join(BUILD, "socks5d")
SUPERVISE = os.path.join(BUILD, "socksify-supervise")
LIB = os.path.join(BUILD, "libsocksify.so")
HOST = "127.0.0.1"
N = 100 if QUICK else 500
ROUNDS = 2 if QUICK else 5
SYSCALL_N = 20000 if QUICK else 200000
UDP_SECONDS = 0.5 if QUICK else 3.0
UDP_RTT_N = 300 if QUICK else 2000


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOCKSIFY_") and k != "LD_PRELOAD"}
    env.update(extra)
    return env


def start(cmd):
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = p.stdout.readline()
    if not line:
        raise RuntimeError("%s did not start" % cmd[0])
    return p, line


def samples(prefix, port, env, n):
    r = subprocess.run(prefix + [TOOL, "connect", "plain", HOST, str(port), str(n)], env=env,
                       capture_output=True, text=True, timeout=120)
    for line in r.stdout.splitlines():
        if line.startswith("samples "):
            return [float(x) for x in line.split()[1:]]
    raise RuntimeError("%s: %s %s" % (" ".join(prefix) or "direct", r.stdout[-300:], r.stderr[-300:]))


def tool_line(prefix, args, env):
    r = subprocess.run(prefix + [TOOL] + args, env=env, capture_output=True, text=True, timeout=120)
    for line in r.stdout.splitlines():
        if line.startswith("ok "):
            return {k: float(v) for k, v in (kv.split("=") for kv in line.split()[1:])}
    raise RuntimeError("%s %s: %s %s" % (" ".join(prefix) or "direct", args[0], r.stdout[-300:], r.stderr[-300:]))


def bench_udp(udp_port, out):
    proxy, line = start([SOCKS5D, "-l", "127.0.0.2:0", "-q"])
    url = "socks5://127.0.0.2:%d" % int(line.rsplit(":", 1)[1])
    rows = [
        ("direct", [], clean_env()),
        ("libsocksify (LD_PRELOAD)", [], clean_env(LD_PRELOAD=LIB, SOCKSIFY_PROXY=url, SOCKSIFY_NO_PROXY="")),
        ("socksify-supervise", [SUPERVISE, "-x", url, "--"], clean_env(SOCKSIFY_NO_PROXY="")),
    ]
    try:
        print("UDP to a loopback echo server (64-byte datagrams; through socks5d's relay but direct):")
        for name, prefix, env in rows:
            t = tool_line(prefix, ["udp", HOST, str(udp_port), str(UDP_SECONDS), "32", "64"], env)
            l = tool_line(prefix, ["udprtt", HOST, str(udp_port), str(UDP_RTT_N)], env)
            out["udp"][name] = {"datagrams_per_s": t["received"] / t["seconds"], "lost": t["sent"] - t["received"],
                                "rtt_median_us": l["median_us"], "rtt_p99_us": l["p99_us"]}
            u = out["udp"][name]
            print("  %-40s %9.0f datagrams/s (window 32, %d lost)  rtt median %7.1f us (p99 %7.1f)" % (
                name, u["datagrams_per_s"], u["lost"], u["rtt_median_us"], u["rtt_p99_us"]))
    finally:
        proxy.terminate()
        proxy.wait()


def main():
    for f in (TOOL, SUPBENCH, SOCKS5D, SUPERVISE, LIB):
        if not os.path.exists(f):
            sys.exit("supervise_bench: %s is missing (make bench builds it)" % f)
    target, line = start([TOOL, "server"])
    ports = {k: int(v) for k, v in (kv.split("=") for kv in line.split())}
    proxy, line = start([SOCKS5D, "-l", "%s:0" % HOST, "-q"])
    pport = int(line.rsplit(":", 1)[1])
    url = "socks5://%s:%d" % (HOST, pport)
    rows = [
        ("direct", [], clean_env()),
        ("libsocksify (LD_PRELOAD)", [], clean_env(LD_PRELOAD=LIB, SOCKSIFY_PROXY=url, SOCKSIFY_NO_PROXY="")),
        ("socksify-supervise", [SUPERVISE, "-x", url, "--"], clean_env(SOCKSIFY_NO_PROXY="")),
        ("socksify-supervise, no-proxy (direct)", [SUPERVISE, "-x", url, "--"], clean_env()),
        ("socksify-supervise --mechanism ptrace", [SUPERVISE, "--mechanism", "ptrace", "-x", url, "--"],
         clean_env(SOCKSIFY_NO_PROXY="")),
        ("ptrace, no-proxy (direct)", [SUPERVISE, "--mechanism", "ptrace", "-x", url, "--"], clean_env()),
    ]
    out = {"connect": {}, "syscalls": {}, "udp": {}, "n": N, "rounds": ROUNDS, "when": time.strftime("%Y-%m-%d %H:%M:%S")}
    try:
        got = {name: [] for name, _, _ in rows}
        for _ in range(ROUNDS):
            for name, prefix, env in rows:
                got[name] += samples(prefix, ports["echo"], env, N // ROUNDS)
        print("connect + 1-byte echo + close on loopback, median of %d (us):" % (N // ROUNDS * ROUNDS))
        base = statistics.median(got["direct"])
        for name, _, _ in rows:
            med = statistics.median(got[name])
            p90 = sorted(got[name])[int(len(got[name]) * 0.9)]
            out["connect"][name] = {"median_us": med, "p90_us": p90}
            print("  %-40s %8.1f  (p90 %7.1f)  %5.2fx direct" % (name, med, p90, med / base))
        for name, prefix in (("plain", []), ("under socksify-supervise", [SUPERVISE, "-x", url, "--"]),
                             ("under socksify-supervise (ptrace)", [SUPERVISE, "--mechanism", "ptrace", "-x", url,
                                                                    "--"])):
            r = subprocess.run(prefix + [SUPBENCH, str(SYSCALL_N)], env=clean_env(), capture_output=True, text=True,
                               timeout=300)
            if r.returncode != 0:
                raise RuntimeError("supbench %s: %s" % (name, r.stderr))
            out["syscalls"][name] = {k: float(v) for k, v in (kv.split("=") for kv in r.stdout.split())}
        notify, ptrace = (statistics.median(got[k]) for k in ("socksify-supervise",
                                                                 "socksify-supervise --mechanism ptrace"))
        notify_np, ptrace_np = (statistics.median(got[k]) for k in ("socksify-supervise, no-proxy (direct)",
                                                                       "ptrace, no-proxy (direct)"))
        out["ptrace_over_notify"] = {"proxied": ptrace / notify, "no-proxy": ptrace_np / notify_np}
        print("  ptrace / notify: %.2fx proxied, %.2fx no-proxy (interception: +%.1f us notify, +%.1f us ptrace)"
              % (ptrace / notify, ptrace_np / notify_np, notify_np - base, ptrace_np - base))
        print("per system call (ns), median of 5 rounds:")
        plain, sup = out["syscalls"]["plain"], out["syscalls"]["under socksify-supervise"]
        tr = out["syscalls"]["under socksify-supervise (ptrace)"]
        for k in plain:
            print("  %-12s %9.1f plain  %9.1f notify (+%.1f)  %9.1f ptrace (+%.1f)"
                  % (k, plain[k], sup[k], sup[k] - plain[k], tr[k], tr[k] - plain[k]))
        bench_udp(ports["udp"], out)
    finally:
        for p in (target, proxy):
            p.terminate()
            p.wait()
    os.makedirs(os.path.join(BUILD, "bench"), exist_ok=True)
    with open(os.path.join(BUILD, "bench", "supervise.json"), "w") as f:
        json.dump(out, f, indent=1)


if __name__ == "__main__":
    main()
