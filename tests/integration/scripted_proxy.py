"""A SOCKS5 "server" whose answers a test chooses: it speaks real SOCKS5 over real
loopback sockets but replies with a given REP code, or never answers (tarpit),
so that each of the library's error paths can be reached on purpose."""

import socket
import struct
import threading


class ScriptedProxy:
    """mode: "rep" (answer the greeting, then REP rep to CONNECT),
    "tarpit" (accept, read, never answer), "close" (accept and close at once),
    "garbage" (answer the greeting with bytes that are not SOCKS5),
    "auth" (require user/pass, then reject)."""

    def __init__(self, mode, rep=0, host="127.0.0.1"):
        self.mode, self.rep = mode, rep
        fam = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.sock = socket.socket(fam, socket.SOCK_STREAM)
        self.sock.bind((host, 0))
        self.sock.listen(64)
        self.host, self.port = host, self.sock.getsockname()[1]
        self.requests = []  # the CONNECT requests received (raw bytes)
        self.accepted = 0
        self._conns = []
        self._stop = False
        self._t = threading.Thread(target=self._loop, daemon=True)
        self._t.start()

    @property
    def url(self):
        return "socks5://%s:%d" % ("[%s]" % self.host if ":" in self.host else self.host, self.port)

    def _loop(self):
        while not self._stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            self._conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _recv(self, c, n):
        buf = b""
        while len(buf) < n:
            chunk = c.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    def _serve(self, c):
        try:
            c.settimeout(30)
            if self.mode == "close":
                c.close()
                return
            if self.mode == "tarpit":
                while c.recv(4096):
                    pass
                return
            ver, n = self._recv(c, 2)
            methods = self._recv(c, n)
            if self.mode == "garbage":
                c.sendall(b"HTTP/1.0 400 Bad Request\r\n\r\n")
                return
            if self.mode == "auth":
                if 2 not in methods:
                    c.sendall(b"\x05\xff")
                    return
                c.sendall(b"\x05\x02")
                _, ulen = self._recv(c, 2)
                self._recv(c, ulen)
                plen = self._recv(c, 1)[0]
                self._recv(c, plen)
                c.sendall(b"\x01\x01")
                return
            c.sendall(b"\x05\x00")
            head = self._recv(c, 4)
            atyp = head[3]
            if atyp == 1:
                rest = self._recv(c, 4 + 2)
            elif atyp == 4:
                rest = self._recv(c, 16 + 2)
            else:
                ln = self._recv(c, 1)
                rest = ln + self._recv(c, ln[0] + 2)
            self.requests.append(head + rest)
            c.sendall(b"\x05" + bytes([self.rep]) + b"\x00\x01" + socket.inet_aton("0.0.0.0") + struct.pack("!H", 0))
            if self.rep != 0:
                c.close()
        except (EOFError, OSError):
            pass

    def close(self):
        self._stop = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept() in the loop thread
        except OSError:
            pass
        self.sock.close()
        for c in self._conns:
            try:
                c.close()
            except OSError:
                pass
