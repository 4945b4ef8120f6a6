"""socks5d's BIND (RFC 1928 CMD 0x02, issue 8): a listener of its own, the
first reply naming it, exactly one inbound peer (the one the client named, if
it named one), the second reply naming that peer, then a relay like CONNECT's.
A raw SOCKS5 client over loopback; every wait is for a condition."""

import os
import re
import resource
import socket
import struct
import threading

import pytest

import support
from support import recv_all, sock_recv_exact

SLOW, wait_until = support.SLOW, support.wait_until
enc_addr = support.socks_addr


# --- a byte-level BIND client -----------------------------------------------

def read_reply(s, timeout=10):
    """(REP, host, port) of one SOCKS5 reply."""
    head = sock_recv_exact(s, 4, timeout * SLOW)
    assert head[0] == 5 and head[2] == 0, "bad reply header %r" % head
    fam = {1: socket.AF_INET, 4: socket.AF_INET6}.get(head[3])
    assert fam, "reply ATYP %d" % head[3]
    addr = socket.inet_ntop(fam, sock_recv_exact(s, 4 if fam == socket.AF_INET else 16))
    port = struct.unpack("!H", sock_recv_exact(s, 2))[0]
    return head[1], addr, port


def bind_request(proxy, peer=("0.0.0.0", 0), data=b""):
    """Greeting and BIND on a new connection to proxy=(host, port); data is
    pipelined after the request. Returns the socket and the first reply."""
    fam = socket.AF_INET6 if ":" in proxy[0] else socket.AF_INET
    s = socket.socket(fam)
    s.settimeout(10 * SLOW)
    s.connect(proxy)
    s.sendall(b"\x05\x01\x00" + b"\x05\x02\x00" + enc_addr(*peer) + data)
    assert sock_recv_exact(s, 2) == b"\x05\x00"
    return s, read_reply(s)


def connect_from(addr, src=None):
    """A peer: a TCP connection to addr, from src=(host, port) if given."""
    s = socket.socket(socket.AF_INET6 if ":" in addr[0] else socket.AF_INET)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if src:
        s.bind(src)
    s.settimeout(10 * SLOW)
    s.connect(addr)
    return s


def closed_by_peer(s, timeout=10):
    """True once s reads EOF or a reset (never data)."""
    s.settimeout(timeout * SLOW)
    try:
        data = s.recv(1)
    except ConnectionResetError:
        return True
    assert data == b"", "got data %r instead of a close" % data
    return True


def turned_away(addr, src=None):
    """A peer connecting from src is let into the backlog, then reset (the
    reset may already be there when connect() returns)."""
    try:
        s = connect_from(addr, src)
    except ConnectionResetError:
        return True
    with s:
        return closed_by_peer(s)


def refused(addr):
    try:
        connect_from(addr).close()
    except ConnectionRefusedError:
        return True
    return False


def fd_count(d):
    return len(os.listdir("/proc/%d/fd" % d.server.proc.pid))


def bind_session(d, result):
    pat = r"^socks5d\[\d+\]: info: session client=\S+ user=\S+ cmd=bind target=\S+ result=%s\b.*$" % result
    return d.server.wait_log(pat)[0].group(0)


# --- tests ------------------------------------------------------------------

@pytest.mark.parametrize("workers", ["1", "2"])
def test_bind_replies_and_relay_both_ways(start_socks5d, workers):
    """First reply: the listener, on the address the client reached us by.
    Second: the peer. Then bytes both ways (also those the client sent
    during the wait), each half-close passed on, counted in the session line."""
    d = start_socks5d("--workers", workers)
    s, (rep, host, port) = bind_request((d.host, d.port), data=b"early ")
    assert rep == 0 and host == "127.0.0.1" and port not in (0, d.port)

    peer = connect_from((host, port))
    rep, phost, pport = read_reply(s)
    assert (rep, phost, pport) == (0, "127.0.0.1", peer.getsockname()[1])

    s.sendall(b"bird")
    assert sock_recv_exact(peer, 10) == b"early bird"
    peer.sendall(b"worm")
    assert sock_recv_exact(s, 4) == b"worm"

    s.shutdown(socket.SHUT_WR)  # client -> peer ends; peer -> client goes on
    assert recv_all(peer) == b""
    peer.sendall(b"after half-close")
    peer.shutdown(socket.SHUT_WR)
    assert recv_all(s) == b"after half-close"
    s.close()
    peer.close()
    line = bind_session(d, "ok")
    assert " up=10 down=20 " in line, line
    assert "target=0.0.0.0:0" in line, line


def test_concurrent_binds_across_workers(start_socks5d):
    """Eight BINDs at once over two workers: each listener is its session's,
    each peer reaches its own client, whatever the order they come in."""
    d = start_socks5d("--workers", "2")
    binds = [bind_request((d.host, d.port)) for _ in range(8)]
    assert len({port for _, (_, _, port) in binds}) == 8
    peers = {}
    for i, (s, (rep, host, port)) in reversed(list(enumerate(binds))):
        assert rep == 0
        peers[i] = connect_from((host, port))
    for i, (s, _) in enumerate(binds):
        assert read_reply(s) == (0, "127.0.0.1", peers[i].getsockname()[1])
        peers[i].sendall(b"to %d" % i)
    for i, (s, _) in enumerate(binds):
        assert sock_recv_exact(s, len(b"to %d" % i)) == b"to %d" % i
        s.close()
        assert recv_all(peers[i]) == b""
        peers[i].close()
    d.server.wait_log(r"cmd=bind .*result=ok", count=8)


def test_sigterm_with_a_bind_waiting_exits_cleanly(start_socks5d):
    """The waiting listener is closed with its session (the fixture checks
    the exit status and, under ASan, that nothing leaked)."""
    d = start_socks5d()
    s, (rep, host, port) = bind_request((d.host, d.port))
    assert rep == 0
    assert d.stop() == 0
    assert closed_by_peer(s)
    s.close()
    assert refused((host, port))


def test_bind_on_ipv6(start_socks5d):
    d = start_socks5d()
    s, (rep, host, port) = bind_request(d.listeners[1], peer=("::", 0))
    assert (rep, host) == (0, "::1") and port != 0
    peer = connect_from((host, port))
    assert read_reply(s) == (0, "::1", peer.getsockname()[1])
    peer.sendall(b"six")
    assert sock_recv_exact(s, 3) == b"six"
    s.sendall(b"ack")
    assert sock_recv_exact(peer, 3) == b"ack"
    s.close()
    assert recv_all(peer) == b""
    peer.close()
    bind_session(d, "ok")


def test_bind_only_the_named_peer_address(start_socks5d):
    """DST.ADDR 127.0.0.2, port 0: a peer from 127.0.0.1 is refused and the
    wait goes on; one from 127.0.0.2 (any port) is the one relayed."""
    d = start_socks5d()
    s, (rep, host, port) = bind_request((d.host, d.port), peer=("127.0.0.2", 0))
    assert rep == 0

    assert turned_away((host, port), src=("127.0.0.1", 0))
    d.server.wait_log(r"refused peer=127\.0\.0\.1:\d+: not the expected peer")

    right = connect_from((host, port), src=("127.0.0.2", 0))
    assert read_reply(s) == (0, "127.0.0.2", right.getsockname()[1])
    right.sendall(b"it is me")
    assert sock_recv_exact(s, 8) == b"it is me"
    s.close()
    right.close()
    bind_session(d, "ok")


def test_bind_only_the_named_peer_port(start_socks5d):
    d = start_socks5d()
    keep = socket.socket()
    keep.bind(("127.0.0.1", 0))
    want_port = keep.getsockname()[1]
    keep.close()
    s, (rep, host, port) = bind_request((d.host, d.port), peer=("127.0.0.1", want_port))
    assert rep == 0

    assert turned_away((host, port))  # from another (ephemeral) port

    right = connect_from((host, port), src=("127.0.0.1", want_port))
    assert read_reply(s) == (0, "127.0.0.1", want_port)
    s.close()
    right.close()
    bind_session(d, "ok")


def test_bind_second_inbound_connection_is_refused(start_socks5d):
    d = start_socks5d()
    s, (rep, host, port) = bind_request((d.host, d.port))
    first = connect_from((host, port))
    assert read_reply(s)[0] == 0
    assert refused((host, port)), "the BIND listener still accepts after its one peer"
    first.sendall(b"still here")
    assert sock_recv_exact(s, 10) == b"still here"
    s.close()
    first.close()
    bind_session(d, "ok")


def test_bind_timeout_answers_rep_06(start_socks5d):
    d = start_socks5d("--bind-timeout", "0.5")
    s, (rep, host, port) = bind_request((d.host, d.port))
    assert rep == 0
    assert read_reply(s, timeout=30)[0] == 6
    assert recv_all(s) == b""
    s.close()
    bind_session(d, "timeout")
    assert refused((host, port)), "the listener outlived its BIND"


def test_bind_client_gone_during_the_wait_closes_the_listener(start_socks5d):
    d = start_socks5d()
    base = fd_count(d)
    s, (rep, host, port) = bind_request((d.host, d.port))
    assert rep == 0
    assert fd_count(d) == base + 2  # the client and the listener
    s.close()
    wait_until(lambda: fd_count(d) == base, 10,
               lambda: "socks5d has %d fds after the client left, baseline %d" % (fd_count(d), base))
    assert refused((host, port))
    bind_session(d, "error")

    # A client reset during the wait, too.
    s, (rep, host, port) = bind_request((d.host, d.port))
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    wait_until(lambda: fd_count(d) == base, 10,
               lambda: "socks5d has %d fds after the client reset, baseline %d" % (fd_count(d), base))
    assert refused((host, port))


def test_bind_refused_to_allow_from_outsiders(start_socks5d):
    d = start_socks5d("--allow-from", "10.0.0.0/8")
    s = socket.create_connection((d.host, d.port), 10)
    s.sendall(b"\x05\x01\x00\x05\x02\x00" + enc_addr("0.0.0.0", 0))
    assert closed_by_peer(s)
    s.close()
    d.server.wait_log(r"refused client=127\.0\.0\.1:\d+: not in --allow-from")


def test_bind_naming_our_own_listener_is_refused(start_socks5d):
    d = start_socks5d()
    s, (rep, _, _) = bind_request((d.host, d.port), peer=(d.host, d.port))
    assert rep == 2
    s.close()
    bind_session(d, "not-allowed")


def test_bind_naming_a_peer_by_name_gets_rep_08(start_socks5d):
    """A peer filter needs an address: a name is not looked up for it."""
    d = start_socks5d()
    s, (rep, _, _) = bind_request((d.host, d.port), peer=("peer.invalid", 0))
    assert rep == 8
    s.close()
    s, (rep, _, _) = bind_request((d.host, d.port), peer=("127.0.0.1", 0))  # a literal as a name works
    assert rep == 0
    s.close()


def test_bind_and_deny_to(start_socks5d):
    """A named peer --deny-to refuses gets REP 02; an unnamed BIND does not
    let such a peer in either."""
    d = start_socks5d("--deny-to", "127.0.0.2")
    s, (rep, _, _) = bind_request((d.host, d.port), peer=("127.0.0.2", 0))
    assert rep == 2
    s.close()
    bind_session(d, "not-allowed")

    s, (rep, host, port) = bind_request((d.host, d.port))
    assert turned_away((host, port), src=("127.0.0.2", 0))
    ok = connect_from((host, port), src=("127.0.0.3", 0))
    assert read_reply(s) == (0, "127.0.0.3", ok.getsockname()[1])
    s.close()
    ok.close()


def test_bind_waiting_counts_against_max_conns(start_socks5d):
    d = start_socks5d("--max-conns", "1")
    s, (rep, host, port) = bind_request((d.host, d.port))
    assert rep == 0
    other = socket.create_connection((d.host, d.port), 10)
    assert closed_by_peer(other)
    other.close()
    peer = connect_from((host, port))
    assert read_reply(s)[0] == 0
    s.close()
    peer.close()
    bind_session(d, "ok")


def test_bind_with_the_listener_out_of_fds_fails_cleanly(start_socks5d):
    """No fd for the BIND listener: REP 01, and socks5d goes on serving."""
    d = start_socks5d("--workers", "1")
    pid = d.server.proc.pid
    soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (fd_count(d) + 1, hard))  # the client, not the listener
    try:
        s = socket.create_connection((d.host, d.port), 10)
        s.sendall(b"\x05\x01\x00\x05\x02\x00" + enc_addr("0.0.0.0", 0))
        assert sock_recv_exact(s, 2) == b"\x05\x00"
        assert read_reply(s)[0] == 1
        s.close()
        bind_session(d, "error")
    finally:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
    s, (rep, host, port) = bind_request((d.host, d.port))
    assert rep == 0
    s.close()


def test_bind_peer_arriving_with_no_fd_left_fails_cleanly(start_socks5d):
    """No fd to accept the peer with: REP 01 in the second reply instead of
    a listener that stays readable (a busy loop); the listener is gone."""
    d = start_socks5d("--workers", "1")
    pid = d.server.proc.pid
    s, (rep, host, port) = bind_request((d.host, d.port))
    assert rep == 0
    soft, hard = resource.prlimit(pid, resource.RLIMIT_NOFILE)
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (fd_count(d), hard))
    try:
        try:
            peer = connect_from((host, port))
        except ConnectionResetError:  # the listener closed before connect() returned
            peer = None
        assert read_reply(s)[0] == 1
        if peer:
            assert closed_by_peer(peer)
            peer.close()
        s.close()
        bind_session(d, "error")
    finally:
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (soft, hard))
    assert refused((host, port))
    s, (rep, host, port) = bind_request((d.host, d.port))
    assert rep == 0
    s.close()


# --- interop: an FTP-like active-mode transfer through socks5d ---------------

class ActiveModeServer(threading.Thread):
    """A tiny FTP-like server: on 'PORT h1,h2,h3,h4,p1,p2' it connects to that
    address, sends the file, closes the data connection and says '226'."""

    def __init__(self, payload):
        super().__init__(daemon=True)
        self.payload = payload
        self.lsock = socket.create_server(("127.0.0.1", 0))
        self.lsock.settimeout(30)
        self.data_peer = None
        self.error = None

    def run(self):
        try:
            ctl, _ = self.lsock.accept()
            with ctl:
                f = ctl.makefile("rwb")
                f.write(b"220 ready\r\n")
                f.flush()
                line = f.readline().decode().strip()
                m = re.match(r"PORT (\d+),(\d+),(\d+),(\d+),(\d+),(\d+)$", line)
                n = [int(x) for x in m.groups()]
                addr = ("%d.%d.%d.%d" % tuple(n[:4]), n[4] * 256 + n[5])
                f.write(b"200 PORT ok\r\n150 opening data connection\r\n")
                f.flush()
                with socket.create_connection(addr, 10) as data:
                    self.data_peer = data.getsockname()
                    data.sendall(self.payload)
                f.write(b"226 transfer complete\r\n")
                f.flush()
        except Exception as e:  # reported by the test
            self.error = e


def test_bind_carries_an_active_mode_ftp_like_transfer(start_socks5d):
    """Control over a CONNECT, data over a BIND naming the server as peer:
    the server is told the BND address in a PORT command and connects there."""
    d = start_socks5d()
    payload = os.urandom(300 * 1024)  # enough to move the flow to splice()
    srv = ActiveModeServer(payload)
    srv.start()
    server_addr = srv.lsock.getsockname()

    ctl = socket.create_connection((d.host, d.port), 10)
    ctl.sendall(b"\x05\x01\x00\x05\x01\x00" + enc_addr(*server_addr))
    assert sock_recv_exact(ctl, 2) == b"\x05\x00"
    assert read_reply(ctl)[0] == 0
    f = ctl.makefile("rwb")
    assert f.readline().startswith(b"220")

    data, (rep, host, port) = bind_request((d.host, d.port), peer=(server_addr[0], 0))
    assert rep == 0
    f.write(("PORT %s,%d,%d\r\n" % (host.replace(".", ","), port >> 8, port & 255)).encode())
    f.flush()
    assert f.readline().startswith(b"200")
    assert f.readline().startswith(b"150")
    rep, phost, pport = read_reply(data)
    assert rep == 0
    assert recv_all(data) == payload
    assert f.readline().startswith(b"226")
    srv.join(10)
    assert srv.error is None, srv.error
    assert (phost, pport) == srv.data_peer
    data.close()
    f.close()
    ctl.close()
    line = bind_session(d, "ok")
    assert " up=0 down=%d " % len(payload) in line, line


# --- where the listener goes: --external, the wildcard, the route's source -----

class PeerReporter:
    """A TCP and a UDP server on host that tell each peer its own address
    ("ip port"), so a test sees where socks5d's connections come from."""

    def __init__(self, host="127.0.0.1"):
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.tcp = socket.socket(fam)
        self.tcp.bind((host, 0))
        self.tcp.listen(8)
        self.udp = socket.socket(fam, socket.SOCK_DGRAM)
        self.udp.bind((host, 0))
        self.tcp_addr, self.udp_addr = self.tcp.getsockname()[:2], self.udp.getsockname()[:2]
        threading.Thread(target=self._tcp, daemon=True).start()
        threading.Thread(target=self._udp, daemon=True).start()

    def _tcp(self):
        while True:
            try:
                c, peer = self.tcp.accept()
            except OSError:
                return
            with c:
                c.sendall(("%s %d\n" % peer[:2]).encode())

    def _udp(self):
        while True:
            try:
                _, peer = self.udp.recvfrom(2048)
                self.udp.sendto(("%s %d\n" % peer[:2]).encode(), peer)
            except OSError:
                return

    def close(self):
        self.tcp.close()
        self.udp.close()


def connect_request(proxy, target):
    """A CONNECT through proxy to target; (socket, (REP, BND.ADDR, BND.PORT))."""
    s = socket.socket(socket.AF_INET6 if ":" in proxy[0] else socket.AF_INET)
    s.settimeout(10 * SLOW)
    s.connect(proxy)
    s.sendall(b"\x05\x01\x00\x05\x01\x00" + enc_addr(*target))
    assert sock_recv_exact(s, 2) == b"\x05\x00"
    return s, read_reply(s)


def seen_by_target_tcp(proxy, target):
    s, (rep, bnd, _) = connect_request(proxy, target)
    assert rep == 0
    with s:
        seen = recv_all(s).decode().split()[0]
    return seen, bnd


def seen_by_target_udp(proxy, target):
    """One datagram to target through a UDP association; the source target saw."""
    ctl = socket.create_connection(proxy, 10 * SLOW)
    ctl.sendall(b"\x05\x01\x00\x05\x03\x00" + enc_addr("0.0.0.0", 0))
    assert sock_recv_exact(ctl, 2) == b"\x05\x00"
    rep, rhost, rport = read_reply(ctl)
    assert rep == 0
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.settimeout(10 * SLOW)
    u.sendto(b"\x00\x00\x00" + enc_addr(*target) + b"who", (rhost, rport))
    reply, _ = u.recvfrom(2048)
    u.close()
    ctl.close()
    head = 3 + len(enc_addr(*target))
    return reply[head:].decode().split()[0]


def route_source(dst):
    """The source address the kernel picks towards dst (no packet is sent)."""
    u = socket.socket(socket.AF_INET6 if ":" in dst else socket.AF_INET, socket.SOCK_DGRAM)
    with u:
        u.connect((dst, 9))
        return u.getsockname()[0]


def test_external_is_the_source_of_connect_udp_and_bind(start_socks5d):
    """--external 127.0.0.3: the target sees CONNECTs and datagrams come from there (and
    the CONNECT reply says so), and a BIND listens there only and announces it. An IPv6
    target, with no IPv6 --external, is reached from the address the kernel picks."""
    d = start_socks5d("--external", "127.0.0.3")
    t = PeerReporter()
    t6 = PeerReporter("::1")
    try:
        assert seen_by_target_tcp((d.host, d.port), t.tcp_addr) == ("127.0.0.3", "127.0.0.3")
        assert seen_by_target_udp((d.host, d.port), t.udp_addr) == "127.0.0.3"
        assert seen_by_target_tcp((d.host, d.port), t6.tcp_addr) == ("::1", "::1")
    finally:
        t.close()
        t6.close()
    d.wait_session("127.0.0.1:%d" % t.tcp_addr[1])

    for peer_named in (("0.0.0.0", 0), ("127.0.0.2", 0)):
        s, (rep, host, port) = bind_request((d.host, d.port), peer=peer_named)
        assert (rep, host) == (0, "127.0.0.3"), (peer_named, host)
        assert refused(("127.0.0.1", port)), "the BIND listener is not on --external only"
        peer = connect_from((host, port), src=("127.0.0.2", 0))
        assert read_reply(s) == (0, "127.0.0.2", peer.getsockname()[1])
        peer.sendall(b"via external")
        assert sock_recv_exact(s, 12) == b"via external"
        s.close()
        peer.close()
    d.server.wait_log(r"cmd=bind .*result=ok", count=2)


def test_external_from_the_config_file(start_socks5d, tmp_path):
    conf = tmp_path / "socks5d.conf"
    conf.write_text("external 127.0.0.4\n")
    conf.chmod(0o600)
    d = start_socks5d("-c", str(conf))
    # the command line's --external replaces the file's of the same family
    d2 = start_socks5d("-c", str(conf), "--external", "127.0.0.5")
    t = PeerReporter()
    try:
        assert seen_by_target_tcp((d.host, d.port), t.tcp_addr)[0] == "127.0.0.4"
        assert seen_by_target_tcp((d2.host, d2.port), t.tcp_addr)[0] == "127.0.0.5"
    finally:
        t.close()


@pytest.mark.parametrize("args,err", [
    (["--external", "192.0.2.1"], "socks5d: --external 192.0.2.1: not an address of this host"),
    (["--external", "[2001:db8::1]"], "socks5d: --external [2001:db8::1]: not an address of this host"),
    (["--external", "127.0.0.3", "--external", "127.0.0.4"], "more than one IPv4 --external address"),
    (["--external", "0.0.0.0"], "bad --external '0.0.0.0' (a wildcard address"),
    (["--external", "localhost"], "bad --external 'localhost' (want an IPv4 or IPv6 address)"),
])
def test_bad_external_exits_2(args, err, tmp_path):
    r = support.run([support.SOCKS5D, "-l", "127.0.0.1:0"] + args, timeout=10)
    assert r.rc == 2 and err in r.err and "listening" not in r.out, r


def test_bad_external_in_the_config_file_exits_2(tmp_path):
    conf = tmp_path / "socks5d.conf"
    conf.write_text("external 192.0.2.1\n")
    conf.chmod(0o600)
    r = support.run([support.SOCKS5D, "-l", "127.0.0.1:0", "-c", str(conf)], timeout=10)
    assert r.rc == 2 and "--external 192.0.2.1: not an address of this host" in r.err, r


def test_bind_naming_no_peer_listens_on_every_local_address(start_socks5d):
    """DST 0.0.0.0: the reply names the address the client reached us by, as before,
    but a peer reaching this host by another local address (127.0.0.2) gets in too."""
    d = start_socks5d()
    s, (rep, host, port) = bind_request((d.host, d.port))
    assert (rep, host) == (0, "127.0.0.1")
    peer = connect_from(("127.0.0.2", port))
    assert read_reply(s) == (0, peer.getsockname()[0], peer.getsockname()[1])
    peer.sendall(b"other door")
    assert sock_recv_exact(s, 10) == b"other door"
    s.close()
    peer.close()
    bind_session(d, "ok")


@pytest.mark.parametrize("named", ["127.0.0.2", "::ffff:127.0.0.2"])
def test_bind_naming_a_peer_listens_on_the_route_source(start_socks5d, named):
    """The client reaches socks5d by 127.0.0.5; the BIND names peer 127.0.0.2, towards
    which the kernel's source address is another (127.0.0.1): that is where the
    listener goes and what the reply names, not the client-facing address. Named
    v4-mapped, it gets the same IPv4 listener."""
    src = route_source("127.0.0.2")
    assert src != "127.0.0.5", src
    d = start_socks5d(listen=("127.0.0.5:0",))
    s, (rep, host, port) = bind_request((d.host, d.port), peer=(named, 0))
    assert (rep, host) == (0, src)
    assert refused(("127.0.0.5", port)), "the listener is on the client-facing address"
    peer = connect_from((host, port), src=("127.0.0.2", 0))
    assert read_reply(s) == (0, "127.0.0.2", peer.getsockname()[1])
    s.close()
    peer.close()
    bind_session(d, "ok")
