"""dnsburst.py N DOMAIN: N A queries (n0.DOMAIN ... ) sent at once on a UDP socket connected to
port 53 (under the supervisor: its responder), each asked again every 3 s until answered, as a
resolver does; gives up after 30 s. Prints {"ok": answered with an address, "servfail": N}."""
import json
import socket
import struct
import sys
import time


def query(i, domain):
    name = b"".join(bytes([len(l)]) + l.encode() for l in ("n%d" % i + "." + domain).split("."))
    return struct.pack("!HHHHHH", i, 0x0100, 1, 0, 0, 0) + name + b"\0" + struct.pack("!HH", 1, 1)


def main():
    n, domain = int(sys.argv[1]), sys.argv[2]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.connect(("127.0.0.1", 53))
    s.settimeout(0.2)
    pending, servfail = set(range(n)), 0
    for i in range(n):
        s.send(query(i, domain))
    asked, give_up = time.monotonic(), time.monotonic() + 30
    while pending and time.monotonic() < give_up:
        try:
            d = s.recv(4096)
            qid, flags, _, ancount = struct.unpack("!HHHH", d[:8])
            if flags & 15 == 2:
                servfail += 1
            elif qid in pending and flags & 15 == 0 and ancount == 1:
                pending.discard(qid)
        except socket.timeout:
            pass
        if time.monotonic() - asked > 3:
            for i in pending:
                s.send(query(i, domain))
            asked = time.monotonic()
    print(json.dumps({"ok": n - len(pending), "servfail": servfail}), flush=True)


main()
