"""A deliberately broken SOCKS5 proxy for test_hostile_proxy.py / test_hostile_programs.py.

  hostile_proxy.py --listen ADDR --mode MODE[,MODE...] [--banner-hex HEX] [--delay SECS]

One listener per mode; prints 'hostile: MODE listening on ADDR:PORT' on stdout for each
once all are bound. Every event goes to stderr, one line each, flushed, tagged with
the mode and the connection number: 'conn MODE N', 'greeting MODE N HEX', 'auth MODE N
USER', 'request MODE N HEX', 'sent HEX', 'echo MODE N BYTES', 'end MODE N'.
It never connects anywhere: where a mode "succeeds",
the proxy itself plays the target: it sends --banner-hex right after the reply,
then echoes what it gets until EOF, then closes. So whatever the program reads
must be exactly banner + its own bytes; any reply byte among them is a bug.

Modes (what the proxy answers):
  badver        greeting answered 04 00
  badmethod     greeting answered 05 03 (a method nobody offered)
  methodff      greeting answered 05 ff
  authfail      chooses user/pass (05 02), then answers 01 01
  badverreply   a CONNECT reply that starts 04 00 (greeting fine)
  badatyp       reply 05 00 00 07 ...
  domlen0       reply with ATYP DOMAIN, length 0
  domlong       reply with ATYP DOMAIN, length 255, 10 bytes of it, then close
  domlongstall  the same, but the connection stays open
  split         a good reply, one byte per TCP segment, 20 ms apart
  withdata      a good reply and the banner in one send()
  closemid      4 bytes of a reply, then close
  rst           reads the request, then RST (SO_LINGER 0)
  rstmid        4 bytes of a reply, then RST
  rstgreeting   05 00, then RST before reading the request
  close         accept and close at once
  never         reads the request, never answers
  slow          a good reply after --delay seconds (default 0.3)
  bndabsurd     a good reply with BND = ATYP IPv6 ffff:...:ffff port 0
  udpabsurd     like bndabsurd (for UDP ASSOCIATE: the relay is unusable)
  bnddomain     a good reply with BND = ATYP DOMAIN "relay.invalid" port 1080
                (for CONNECT: informational; for UDP ASSOCIATE: a relay we cannot send to)
"""

import argparse
import socket
import struct
import sys
import threading
import time

GOOD_REPLY = b"\x05\x00\x00\x01" + socket.inet_aton("10.9.8.7") + struct.pack("!H", 4321)
ABSURD_REPLY = b"\x05\x00\x00\x04" + b"\xff" * 16 + b"\x00\x00"
DOMAIN_REPLY = b"\x05\x00\x00\x03\x0drelay.invalid\x04\x38"

lock = threading.Lock()


def log(*words):
    with lock:
        sys.stderr.write(" ".join(str(w) for w in words) + "\n")
        sys.stderr.flush()


def recv_exact(c, n):
    buf = b""
    while len(buf) < n:
        chunk = c.recv(n - len(buf))
        if not chunk:
            raise EOFError("peer closed after %d of %d bytes" % (len(buf), n))
        buf += chunk
    return buf


def read_request(c):
    head = recv_exact(c, 4)
    atyp = head[3]
    if atyp == 1:
        rest = recv_exact(c, 6)
    elif atyp == 4:
        rest = recv_exact(c, 18)
    elif atyp == 3:
        ln = recv_exact(c, 1)
        rest = ln + recv_exact(c, ln[0] + 2)
    else:
        raise EOFError("bad request ATYP %d" % atyp)
    return head + rest


def rst(c):
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()


def send(c, data):
    c.sendall(data)
    log("sent", data.hex())


def play_target(c, n, banner):
    """After a good reply: the banner, then echo until EOF."""
    if banner:
        c.sendall(banner)
    total = 0
    while True:
        data = c.recv(65536)
        if not data:
            break
        c.sendall(data)
        total += len(data)
    log("echo", n, total)


def serve(c, n, a, mode):
    tag = "%s %d" % (mode, n)
    banner = bytes.fromhex(a.banner_hex)
    c.settimeout(30)
    try:
        if mode == "close":
            c.close()
            return
        g = recv_exact(c, 2)
        g += recv_exact(c, g[1])
        log("greeting", tag, g.hex())
        if mode == "badver":
            return send(c, b"\x04\x00")
        if mode == "badmethod":
            return send(c, b"\x05\x03")
        if mode == "methodff":
            return send(c, b"\x05\xff")
        if mode == "authfail":
            send(c, b"\x05\x02")
            ver, ulen = recv_exact(c, 2)
            user = recv_exact(c, ulen)
            plen = recv_exact(c, 1)[0]
            recv_exact(c, plen)
            log("auth", tag, user.decode("ascii", "replace"))
            return send(c, b"\x01\x01")
        send(c, b"\x05\x00")
        if mode == "rstgreeting":
            return rst(c)
        req = read_request(c)
        log("request", tag, req.hex())
        if mode == "badverreply":
            return send(c, b"\x04" + GOOD_REPLY[1:])
        if mode == "badatyp":
            return send(c, b"\x05\x00\x00\x07" + b"\x01\x02\x03\x04\x00\x50")
        if mode == "domlen0":
            return send(c, b"\x05\x00\x00\x03\x00\x00\x50")
        if mode in ("domlong", "domlongstall"):
            send(c, b"\x05\x00\x00\x03\xff" + b"abcdefghij")
            if mode == "domlongstall":
                while c.recv(4096):
                    pass
            return
        if mode in ("closemid", "rstmid"):
            send(c, GOOD_REPLY[:4])
            time.sleep(0.05)  # the partial reply arrives on its own before the end
            return rst(c) if mode == "rstmid" else None
        if mode == "rst":
            return rst(c)
        if mode == "never":
            while c.recv(4096):
                pass
            return
        if mode == "split":
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for b in GOOD_REPLY:
                c.sendall(bytes([b]))
                time.sleep(0.02)
            log("sent", GOOD_REPLY.hex())
            return play_target(c, tag, banner)
        if mode == "withdata":
            c.sendall(GOOD_REPLY + banner)
            log("sent", GOOD_REPLY.hex(), "+banner")
            return play_target(c, tag, b"")
        if mode == "slow":
            time.sleep(a.delay)
            send(c, GOOD_REPLY)
            return play_target(c, tag, banner)
        if mode in ("bndabsurd", "udpabsurd", "bnddomain"):
            send(c, DOMAIN_REPLY if mode == "bnddomain" else ABSURD_REPLY)
            if req[1] == 3:  # UDP ASSOCIATE: hold the control connection open
                while c.recv(4096):
                    pass
                return
            return play_target(c, tag, banner)
        log("unknown mode", mode)
    except (EOFError, OSError) as e:
        log("error", tag, e)
    finally:
        try:
            c.close()
        except OSError:
            pass
        log("end", tag)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", default="127.0.0.1")
    ap.add_argument("--mode", required=True)
    ap.add_argument("--banner-hex", default="")
    ap.add_argument("--delay", type=float, default=0.3)
    a = ap.parse_args()
    fam = socket.AF_INET6 if ":" in a.listen else socket.AF_INET
    listeners = []
    for mode in a.mode.split(","):
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.bind((a.listen, 0))
        s.listen(64)
        listeners.append((mode, s))
    for mode, s in listeners:
        print("hostile: %s listening on %s:%d" % (mode, "[%s]" % a.listen if ":" in a.listen else a.listen,
                                                   s.getsockname()[1]), flush=True)
    threads = [threading.Thread(target=accept_loop, args=(s, mode, a), daemon=True) for mode, s in listeners]
    for t in threads:
        t.start()
    for t in threads:
        t.join()


def accept_loop(s, mode, a):
    n = 0
    while True:
        c, peer = s.accept()
        n += 1
        log("conn", mode, n, peer[0])
        threading.Thread(target=serve, args=(c, n, a, mode), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main())
