"""In-process peers for the hostile-client tests: a TCP firehose (sends until the
connection breaks), a TCP echo server and a UDP echo server, each on 127.0.0.1
port 0, in daemon threads. They count what they see, so a test can tell that
socks5d passed an abort on to the target, or that a stranger's datagram never
reached it."""

import socket
import threading


class _Base:
    def __init__(self, kind):
        self.sock = socket.socket(socket.AF_INET, kind)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.open = 0  # TCP: connections not yet ended
        self.accepted = 0
        self.received = []  # UDP: (src, payload)
        self._stop = False

    def close(self):
        self._stop = True
        try:
            self.sock.close()
        except OSError:
            pass


class TcpPeer(_Base):
    """mode "firehose": writes 64 KiB chunks until a send fails.
    mode "echo": sends back what it reads; shuts its side when the peer does."""

    def __init__(self, mode):
        super().__init__(socket.SOCK_STREAM)
        self.mode = mode
        self.sock.listen(512)
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def _accept_loop(self):
        while not self._stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            with self.lock:
                self.open += 1
                self.accepted += 1
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            c.settimeout(30)
            if self.mode == "firehose":
                chunk = b"\xa5" * 65536
                while True:
                    c.sendall(chunk)
            else:
                while True:
                    data = c.recv(65536)
                    if not data:
                        c.shutdown(socket.SHUT_WR)
                        break
                    c.sendall(data)
        except OSError:
            pass
        finally:
            c.close()
            with self.lock:
                self.open -= 1


class UdpEcho(_Base):
    def __init__(self):
        super().__init__(socket.SOCK_DGRAM)
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self):
        while not self._stop:
            try:
                data, src = self.sock.recvfrom(65536)
            except OSError:
                return
            with self.lock:
                self.received.append((src, data))
            try:
                self.sock.sendto(data, src)
            except OSError:
                pass

    def count(self):
        with self.lock:
            return len(self.received)
