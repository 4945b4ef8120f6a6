#!/usr/bin/env python3
"""make_seeds.py - write the seed corpora under tests/fuzz/corpus/<target>/.

Valid messages of every ATYP and edge cases, a handful per target; the layouts
are the ones each fuzz_<target>.c describes. Run from anywhere:
    python3 tests/fuzz/make_seeds.py
It rewrites the corpus directories from scratch, so the files stay reproducible.
"""
import hashlib
import os
import shutil
import socket
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def addr_v4(ip, port):
    return b"\x01" + socket.inet_pton(socket.AF_INET, ip) + struct.pack(">H", port)


def addr_v6(ip, port):
    return b"\x04" + socket.inet_pton(socket.AF_INET6, ip) + struct.pack(">H", port)


def addr_name(name, port):
    name = name.encode() if isinstance(name, str) else name
    return b"\x03" + bytes([len(name)]) + name + struct.pack(">H", port)


def reply(rep, addr, rsv=0):
    return bytes([5, rep, rsv]) + addr


def request(cmd, addr, rsv=0):
    return bytes([5, cmd, rsv]) + addr


def auth_request(user, password):
    return b"\x01" + bytes([len(user)]) + user + bytes([len(password)]) + password


def udp(frag, addr, payload=b""):
    return bytes([0, 0, frag]) + addr + payload


def client_reply():
    replies = [
        reply(0, addr_v4("10.0.0.2", 40000)),
        reply(0, addr_v6("2001:db8::7", 1080)),
        reply(0, addr_name("proxy.example", 443)),
        reply(0, addr_name(b"x" * 255, 65535)),  # the largest reply
        reply(5, addr_v4("0.0.0.0", 0)),  # connection refused
        reply(0, addr_v4("127.0.0.1", 9), rsv=0x42),  # RSV is ignored on replies
    ]
    seeds = [b"\x05\x00", b"\x05\x02", b"\x05\xff", b"\x01\x00", b"\x01\x01", b"\x05\x01"] + replies
    seeds += [
        b"", b"\x05", b"\x04\x00",
        b"\x05\x00\x00\x03\x00\x00\x50",  # empty domain
        b"\x05\x00\x00\x03\x03a\x00b\x00\x50",  # NUL inside a domain
        b"\x05\x00\x00\x07\x01\x02\x03\x04\x00\x50",  # unknown ATYP
    ]
    # Whole handshakes: ctrl (bit 0 auth, bits 1-2 command, bit 3 domain target), arrival seed, proxy bytes.
    seeds += [
        b"\x00\x03" + b"\x05\x00" + replies[0],
        b"\x09\x07" + b"\x05\x02" + b"\x01\x00" + replies[2],
        b"\x04\x01" + b"\x05\x00" + replies[1],  # UDP ASSOCIATE
        b"\x02\x05" + b"\x05\x00" + replies[0] + replies[1],  # BIND: two replies
        b"\x01\x02" + b"\x05\x02" + b"\x01\x01",  # credentials refused
        b"\x00\x09" + b"\x05\xff",
        b"\x00\x04" + b"\x05\x00" + replies[3] + b"program data",
    ]
    # Through a chain (ctrl bit 5): socks5, then an HTTP head, then a SOCKS4 reply.
    http_ok = b"HTTP/1.0 200 Connection established\r\nProxy-agent: x\r\n\r\n"
    s4_ok = b"\x00\x5a\x00\x00\x00\x00\x00\x00"
    seeds += [
        b"\x28\x03" + b"\x05\x00" + replies[0] + http_ok + s4_ok + b"program data",
        b"\x29\x05" + b"\x05\x02\x01\x00" + replies[2] + b"HTTP/1.1 100 Continue\r\n\r\n" + http_ok + s4_ok,
        b"\x21\x02" + b"\x05\x02\x01\x00" + replies[0] + b"HTTP/1.1 407 Auth\r\nContent-Length: 3\r\n\r\nabc",
        b"\x20\x07" + b"\x05\x00" + replies[0] + http_ok + b"\x00\x5b\x00\x00\x00\x00\x00\x00",
        b"\x24\x01" + b"\x05\x00" + replies[1],  # UDP through a chain: refused before connecting
    ]
    return seeds


def server_request():
    return [
        b"\x05\x01\x00",
        b"\x05\x02\x00\x02",
        b"\x05\xff" + bytes(range(255)),
        b"\x05\x00",  # no methods
        auth_request(b"user", b"secret"),
        auth_request(b"u" * 255, b"p" * 255),
        b"\x01\x00\x01p",  # empty user name
        b"\x01\x01a\x02\x00b",  # NUL in the password
        request(1, addr_v4("93.184.216.34", 80)),
        request(1, addr_v6("::1", 22)),
        request(1, addr_name("example.com", 443)),
        request(1, addr_name(b"n" * 255, 1)),
        request(2, addr_v4("0.0.0.0", 0)),  # BIND
        request(3, addr_v4("0.0.0.0", 0)),  # UDP ASSOCIATE
        request(1, addr_v4("1.2.3.4", 80), rsv=1),  # RSV must be 0
        b"", b"\x05", b"\x05\x01\x00\x03",
    ]


def udp_header():
    return [
        udp(0, addr_v4("8.8.8.8", 53), b"\x12\x34payload"),
        udp(0, addr_v6("2001:4860:4860::8888", 53), b"q"),
        udp(0, addr_name("dns.example", 5353), b"data"),
        udp(1, addr_v4("10.0.0.1", 9)),  # a fragment
        udp(0, addr_name(b"d" * 255, 65535)),
        b"\xff\xff\x00" + addr_v4("1.1.1.1", 1),  # RSV ignored
        b"", b"\x00\x00\x00", b"\x00\x00\x00\x03\x00",
    ]


def proxy_url():
    urls = [
        "socks5://127.0.0.1:1080",
        "socks5h://user:pass@proxy.example:1080/",
        "[::1]:9050",
        "socks5://u%3A:p%40ss@[2001:db8::1]",
        "SOCKS5H://a:b:c@d@host",
        "localhost",
        "socks5://h:0",
        "socks5://h:65536",
        "http://x",
        "socks5://user@h",
        "socks5://:p@h",
        "socks5://1.2.3.999",
        "socks5://[zz]",
        "socks5://h/path",
        "socks5://u:%zz@h",
        "socks4://10.0.0.1:1080",
        "socks4a://userid@proxy.lan",
        "http://alice:secret@[::1]:3128",
        "socks5://a:1080,socks4a://b:1081,http://u:p@c:3128",
        "socks4://a,socks5://b",
        "a, b ,c,d,e,f,g,h",
        "a,b,c,d,e,f,g,h,i",
        "a,,b",
    ]
    return [u.encode() for u in urls]


def socks4_reply():
    return [
        b"\x00\x5a\x04\x38\x7f\x00\x00\x01",  # granted
        b"\x00\x5b\x00\x00\x00\x00\x00\x00",  # rejected
        b"\x04\x5c\x00\x00\x00\x00\x00\x00",  # VN 4, identd
        b"\x00\x5a\x00\x50\x0a\x00\x00\x01SSH-2.0-x\r\n",  # with the tunnel's first bytes
        b"\x05\x00", b"", b"\x00\x5a",
    ]


def http_head():
    return [
        b"HTTP/1.1 200 Connection established\r\n\r\n",
        b"HTTP/1.0 200 OK\r\nProxy-agent: tinyproxy/1.11.1\r\n\r\nSSH-2.0-banner\r\n",
        b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm=\"x\"\r\n"
        b"Content-Length: 5\r\n\r\nbody!",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
        b"HTTP/1.0 401 Unauthorized\r\n\r\n",
        b"HTTP/1.1 200\r\n\r\n",
        b"HTTP/1.1 200 OK\n\n",
        b"\x05\x00",
        b"example.com",
    ]


def dest(family, ip, port):
    """The 19-byte destination of fuzz_no_proxy.c: selector, 16 address bytes, port."""
    if family == "v4":
        raw = socket.inet_pton(socket.AF_INET, ip)
        sel = 0
    elif family == "mapped":
        raw = socket.inet_pton(socket.AF_INET, ip)
        sel = 2
    else:
        raw = socket.inet_pton(socket.AF_INET6, ip)
        sel = 1
    return bytes([sel]) + raw.ljust(16, b"\0") + struct.pack(">H", port)


def no_proxy():
    full = "127.0.0.0/8,::1,localhost,*.example.com,.corp.local,10.0.0.0/8:80,[fd00::]/8:443"
    return [
        dest("v4", "10.1.2.3", 80) + full.encode() + b"\0www.Example.COM.",
        dest("v6", "::1", 22) + b"127.0.0.0/8,::1" + b"\0localhost",
        dest("mapped", "10.9.9.9", 8080) + b"192.168.1.5:8080 [::1]:80\tfd00::/8 ::ffff:10.0.0.0/104" + b"\0x",
        dest("v4", "192.0.2.1", 1) + b"*" + b"\0anything",
        dest("v4", "203.0.113.9", 443) + b"*:443,localhost:8080" + b"\0a.b",
        dest("v6", "fd00::1", 443) + b"10.0.0.0/33,bad_name..,a:b,[::1" + b"\0corp.local",
        dest("v4", "1.2.3.4", 5) + b".corp.local,corp.local.,*.x.y" + b"\0sub.corp.local",
        dest("v4", "0.0.0.0", 0) + (",".join("10.%d.0.0/16" % i for i in range(70))).encode() + b"\0",
    ]


def route():
    return [
        dest("v4", "10.1.2.3", 80) + b"10.0.0.0/8=socks5://10.0.0.1:1080;.corp.example=direct\0db.corp.example",
        dest("v6", "::1", 22) + b" ::1 , [fd00::]/8:443 = socks5h://u:SECRET@[::1]:9050 \n*=http://p:3128\0x.y",
        dest("mapped", "10.9.9.9", 8080) + b"*.onion=socks5://a:1,socks4a://b@c:2,http://d\0a.onion",
        dest("v4", "192.0.2.1", 1) + b"10.0.0.0/8;=direct;x=;x=Direct;x=socks9://h\0",
        dest("v4", "1.2.3.4", 5) + (";".join("10.%d.0.0/16=direct" % i for i in range(17))).encode() + b"\0",
    ]


def hosts():
    text = (b"# /etc/hosts\r\n"
            b"127.0.0.1\tlocalhost\r\n"
            b"::1 localhost ip6-localhost ip6-loopback\n"
            b"10.0.0.5   db.internal. db  # the database\n"
            b"fe80::1%eth0 router\n"
            b"2001:db8::5 db.internal\n"
            b"bad line here\n"
            b"192.168.1.1\n"
            b"10.0.0.6 DB.Internal")  # no final newline
    return [
        b"\x3c\xff" + b"db.internal\0" + text,
        b"\x01\x04" + b"localhost\0" + text,
        b"\x0a\x00" + b"DB.INTERNAL.\0" + text,
        b"\x00\x08" + b"router\0" + text,
        b"\x3c\x02" + b"a\0" + b"1.2.3.4 a\n1.2.3.4 b\n::ffff:1.2.3.4 a\n",
        b"\x04\x10" + b"x\0" + b"1.1.1.1 x\x00y\n2.2.2.2 y#x x\n",
    ]


def write(target, seeds):
    d = os.path.join(HERE, "corpus", target)
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    for s in seeds:
        with open(os.path.join(d, hashlib.sha1(s).hexdigest()[:16]), "wb") as f:
            f.write(s)


def main():
    for target, make in [("client_reply", client_reply), ("server_request", server_request),
                         ("udp_header", udp_header), ("proxy_url", proxy_url), ("no_proxy", no_proxy),
                         ("route", route),
                         ("hosts", hosts), ("socks4_reply", socks4_reply), ("http_head", http_head)]:
        write(target, make())


if __name__ == "__main__":
    main()
