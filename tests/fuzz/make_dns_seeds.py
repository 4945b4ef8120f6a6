#!/usr/bin/env python3
"""make_dns_seeds.py - write the seed corpus of fuzz_dns_query under tests/fuzz/corpus/dns_query/:
queries as glibc, Go and musl send them (with and without EDNS), and edge cases."""
import hashlib
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def query(name, qtype=1, qid=0x1234, flags=0x0100, ar=b"", arcount=0, qd=1):
    wire = b"".join(bytes([len(l)]) + l for l in name.encode().split(b".") if l) + b"\0"
    return struct.pack("!HHHHHH", qid, flags, qd, 0, 0, arcount) + wire + struct.pack("!HH", qtype, 1) + ar


OPT = b"\0" + struct.pack("!HHIH", 41, 1232, 0, 0)


def seeds():
    return [
        query("example.com"),
        query("target.sfy.test", 28),
        query("go.example", 28, ar=OPT, arcount=1),
        query("a" * 63 + "." + "b" * 63 + "." + "c" * 63 + "." + "d" * 61),
        query("", 1),
        query("x", 16),
        query("status", flags=0x1000),
        query("two", qd=2),
        b"\x12\x34\x81\x80" + b"\0" * 8,
        b"\x00\x01\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\xc0\x0c\x00\x01\x00\x01",
    ]


def main():
    d = os.path.join(HERE, "corpus", "dns_query")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for s in seeds():
        with open(os.path.join(d, hashlib.sha1(s).hexdigest()[:16]), "wb") as f:
            f.write(s)


if __name__ == "__main__":
    main()
