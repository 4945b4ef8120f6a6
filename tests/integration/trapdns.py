"""A trap DNS server: logs every query it receives, answers NXDOMAIN (or a fixed
address for the names given with --answer), on UDP and TCP.

  trapdns.py --listen ADDR --log FILE [--answer NAME=ADDR]...

Prints 'trapdns: listening on udp ADDR:53' and '... tcp ADDR:53' once both
sockets are bound. Each query becomes one log line 'PROTO QNAME QTYPE', written
before the reply is sent, so a client that got its answer has been logged."""

import argparse
import ipaddress
import select
import socket
import struct
import sys

QTYPES = {1: "A", 28: "AAAA", 12: "PTR", 5: "CNAME", 33: "SRV", 65: "HTTPS", 255: "ANY"}


def parse_question(msg):
    """(id, flags, qname, qtype, end of question) of a DNS query."""
    qid, flags, qd = struct.unpack("!HHH", msg[:6])
    i, labels = 12, []
    while True:
        n = msg[i]
        if n == 0:
            i += 1
            break
        if n & 0xC0:
            raise ValueError("compressed name in a question")
        labels.append(msg[i + 1:i + 1 + n].decode("ascii", "replace"))
        i += 1 + n
    qtype, qclass = struct.unpack("!HH", msg[i:i + 4])
    return qid, flags, ".".join(labels), qtype, i + 4


def reply(msg, answers):
    qid, flags, qname, qtype, end = parse_question(msg)
    records = []
    for a in answers.get(qname.lower().rstrip("."), []):
        if (a.version == 4 and qtype == 1) or (a.version == 6 and qtype == 28):
            records.append(struct.pack("!HHHIH", 0xC00C, qtype, 1, 5, len(a.packed)) + a.packed)
    known = qname.lower().rstrip(".") in answers
    rcode = 0 if known else 3  # NXDOMAIN for everything we were not told about
    rflags = 0x8000 | (flags & 0x0100) | 0x0080 | rcode  # QR, RD copied, RA
    head = struct.pack("!HHHHHH", qid, rflags, 1, len(records), 0, 0)
    return head + msg[12:end] + b"".join(records), qname, qtype


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--listen", required=True)
    ap.add_argument("--port", type=int, default=53)
    ap.add_argument("--log", required=True)
    ap.add_argument("--answer", action="append", default=[])
    a = ap.parse_args()
    answers = {}
    for item in a.answer:
        name, addr = item.split("=", 1)
        answers.setdefault(name.lower().rstrip("."), []).append(ipaddress.ip_address(addr))
    fam = socket.AF_INET6 if ":" in a.listen else socket.AF_INET
    udp = socket.socket(fam, socket.SOCK_DGRAM)
    udp.bind((a.listen, a.port))
    tcp = socket.socket(fam, socket.SOCK_STREAM)
    tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    tcp.bind((a.listen, a.port))
    tcp.listen(16)
    log = open(a.log, "a", buffering=1)
    print("trapdns: listening on udp %s:%d" % (a.listen, a.port), flush=True)
    print("trapdns: listening on tcp %s:%d" % (a.listen, a.port), flush=True)
    conns = {}  # one select loop: queries are logged in the order they arrive

    def handle(proto, msg):
        try:
            out, qname, qtype = reply(msg, answers)
        except (ValueError, IndexError, struct.error) as e:
            log.write("%s ? malformed(%s)\n" % (proto, e))
            return None
        log.write("%s %s %s\n" % (proto, qname, QTYPES.get(qtype, str(qtype))))
        return out

    while True:
        r, _, _ = select.select([udp, tcp] + list(conns), [], [])
        for s in r:
            if s is udp:
                msg, peer = udp.recvfrom(4096)
                out = handle("udp", msg)
                if out:
                    udp.sendto(out, peer)
            elif s is tcp:
                c, _ = tcp.accept()
                conns[c] = b""
            else:
                data = s.recv(4096)
                if not data:
                    conns.pop(s).close()
                    continue
                buf = conns[s] + data
                while len(buf) >= 2 and len(buf) >= 2 + struct.unpack("!H", buf[:2])[0]:
                    n = struct.unpack("!H", buf[:2])[0]
                    out = handle("tcp", buf[2:2 + n])
                    buf = buf[2 + n:]
                    if out:
                        s.sendall(struct.pack("!H", len(out)) + out)
                conns[s] = buf


if __name__ == "__main__":
    sys.exit(main())
