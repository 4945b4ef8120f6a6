"""socks5d's Tor RESOLVE (F0) and RESOLVE_PTR (F1), spoken byte by byte by a client in
namespace C to socks5d in namespace P, where the names resolve (see dnsnet.py)."""

import socket
import struct

import pytest

import support
from dnsnet import TARGET6_NAME, TARGET_NAME, dnsnet, dnsnet_module, ns_socket  # noqa: F401
from support import sock_recv_exact
from test_socks5d import enc_addr, read_reply


@pytest.fixture
def proxy(dnsnet, start_socks5d):
    return start_socks5d(listen=("%s:0" % dnsnet.p4,), netns=dnsnet.p)


def client(dnsnet, proxy):
    s = ns_socket(dnsnet.c, socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect((proxy.host, proxy.port))
    return s


def resolve(dnsnet, proxy, cmd, target):
    """One RESOLVE/RESOLVE_PTR request; returns (rep, atyp, addr bytes, port), and that the
    server then closed the connection."""
    s = client(dnsnet, proxy)
    try:
        support.socks_greet(s)
        s.sendall(bytes([5, cmd, 0]) + enc_addr(target))
        reply = read_reply(s)
        assert s.recv(1) == b"", "socks5d kept the connection open after answering"
        return reply
    finally:
        s.close()


def test_resolve_ipv4_first(dnsnet, proxy):
    rep, atyp, addr, port = resolve(dnsnet, proxy, 0xF0, (TARGET_NAME, 0))
    assert (rep, atyp, port) == (0, 1, 0)
    assert socket.inet_ntop(socket.AF_INET, addr) == dnsnet.target4
    proxy.server.wait_log(r"session .*cmd=resolve target=%s:0 result=ok" % TARGET_NAME)


def test_resolve_ipv6_only_name(dnsnet, proxy):
    rep, atyp, addr, port = resolve(dnsnet, proxy, 0xF0, (TARGET6_NAME, 0))
    assert (rep, atyp) == (0, 4)
    assert socket.inet_ntop(socket.AF_INET6, addr) == dnsnet.target6


def test_resolve_unknown_name_is_rep_04(dnsnet, proxy):
    rep = resolve(dnsnet, proxy, 0xF0, ("nosuch.sfy.test", 0))[0]
    assert rep == 4
    proxy.server.wait_log(r"session .*cmd=resolve target=nosuch.sfy.test:0 result=host-unreachable")


def test_resolve_ptr(dnsnet, proxy):
    for addr in (dnsnet.target4, dnsnet.target6):
        rep, atyp, name, port = resolve(dnsnet, proxy, 0xF1, (addr, 0))
        assert (rep, atyp, name) == (0, 3, TARGET_NAME.encode()), addr
    proxy.server.wait_log(r"session .*cmd=resolve-ptr target=%s:0 result=ok" % dnsnet.target4)


def test_resolve_ptr_without_a_name_is_rep_04(dnsnet, proxy):
    assert resolve(dnsnet, proxy, 0xF1, (dnsnet.c4, 0))[0] == 4


def test_resolve_ptr_of_a_name_is_rep_08(dnsnet, proxy):
    assert resolve(dnsnet, proxy, 0xF1, (TARGET_NAME, 0))[0] == 8


def test_resolve_obeys_deny_to(dnsnet, start_socks5d):
    d = start_socks5d("--deny-to", dnsnet.target4 + "/32", listen=("%s:0" % dnsnet.p4,), netns=dnsnet.p)
    # the denied IPv4 address is not handed out; the allowed IPv6 one is
    rep, atyp, addr, _ = resolve(dnsnet, d, 0xF0, (TARGET_NAME, 0))
    assert (rep, atyp, socket.inet_ntop(socket.AF_INET6, addr)) == (0, 4, dnsnet.target6)
    assert resolve(dnsnet, d, 0xF1, (dnsnet.target4, 0))[0] == 2
    d2 = start_socks5d("--allow-to", "10.0.0.0/8", "--deny-to", "0.0.0.0/0", "--deny-to", "::/0",
                       listen=("%s:0" % dnsnet.p4,), netns=dnsnet.p)
    assert resolve(dnsnet, d2, 0xF0, (TARGET_NAME, 0))[0] == 2


@pytest.mark.parametrize("request_bytes, rep", [
    (b"\x05\xf0\x00\x09\x01\x02", 8),  # unknown ATYP
    (b"\x05\xf0\x00\x03\x00\x00\x00", 1),  # empty name
    (b"\x05\xf0\x00\x03\x03a\x00b\x00\x00", 1),  # NUL inside the name
    (b"\x05\xf1\x01\x01\x7f\x00\x00\x01\x00\x00", 1),  # RSV not zero
])
def test_hostile_requests_get_a_clean_error(dnsnet, proxy, request_bytes, rep):
    s = client(dnsnet, proxy)
    support.socks_greet(s)
    s.sendall(request_bytes)
    assert read_reply(s)[0] == rep
    s.close()
    # and the server still answers
    assert resolve(dnsnet, proxy, 0xF0, (TARGET_NAME, 0))[0] == 0


def test_truncated_request_then_hangup(dnsnet, proxy):
    for cut in (2, 4, 5, 10):
        s = client(dnsnet, proxy)
        support.socks_greet(s)
        s.sendall((b"\x05\xf0\x00" + enc_addr((TARGET_NAME, 0)))[:cut])
        s.close()
    assert resolve(dnsnet, proxy, 0xF0, (TARGET_NAME, 0))[0] == 0


def test_client_gone_while_resolving(dnsnet, proxy):
    """A client that hangs up before the answer: the late answer is dropped, nothing breaks."""
    for _ in range(5):
        s = client(dnsnet, proxy)
        support.socks_greet(s)
        s.sendall(b"\x05\xf0\x00" + enc_addr(("nosuch%d.sfy.test" % _, 0)))
        s.close()
    assert resolve(dnsnet, proxy, 0xF0, (TARGET_NAME, 0))[0] == 0
