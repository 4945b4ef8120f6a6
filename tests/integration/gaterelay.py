"""A TCP relay in front of a proxy that holds every byte the proxy sends back
until it is released: while it holds, no SOCKS handshake through it can finish.

    g = GateRelay(upstream_port); ... g.port ...; g.wait_clients(n); g.release(); g.close()

It counts the client connections that have sent something (their greeting) and
keeps each one's first chunk, so a test can see what left in the first segment."""

import socket
import threading


class GateRelay:
    def __init__(self, upstream_port, upstream_host="127.0.0.1", hold=True):
        self.upstream = (upstream_host, upstream_port)
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(1024)
        self.port = self.lsock.getsockname()[1]
        self.cond = threading.Condition()
        self.open = not hold
        self.first_chunks = []  # per client, in arrival order
        self.max_waiting = 0  # clients that had sent their greeting while the gate was still closed
        self.closed = False
        self.socks = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            u = socket.create_connection(self.upstream, timeout=10)
            u.settimeout(None)
        except OSError:
            c.close()
            return
        with self.cond:
            self.socks += [c, u]
        threading.Thread(target=self._down, args=(u, c), daemon=True).start()
        first = True
        try:
            while True:
                b = c.recv(65536)
                if first:
                    with self.cond:
                        self.first_chunks.append(b)
                        if not self.open:
                            self.max_waiting = max(self.max_waiting, len(self.first_chunks))
                        self.cond.notify_all()
                    first = False
                if not b:
                    break
                u.sendall(b)
        except OSError:
            pass
        finally:
            try:
                u.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def _down(self, u, c):
        try:
            while True:
                b = u.recv(65536)
                with self.cond:
                    while not self.open and not self.closed:
                        self.cond.wait()
                if not b or self.closed:
                    break
                c.sendall(b)
        except OSError:
            pass
        finally:
            try:
                c.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def wait_clients(self, n, timeout=30):
        """Wait until n clients have sent their first bytes; returns how many had."""
        with self.cond:
            self.cond.wait_for(lambda: len(self.first_chunks) >= n, timeout)
            return len(self.first_chunks)

    def release(self):
        with self.cond:
            self.open = True
            self.cond.notify_all()

    def close(self):
        with self.cond:
            self.closed = True
            self.cond.notify_all()
            socks = list(self.socks)
        self.lsock.close()
        for s in socks:
            try:
                s.close()
            except OSError:
                pass
