"""A small threaded HTTP/1.0 server for the tests: serves the files of a directory.

  httpd.py DIR ADDR [ADDR...]

Binds every ADDR on one common port (port 0 picks it; retried until all
addresses get the same one), then prints 'httpd: listening on ADDR:PORT' per
address and serves until killed. Each request is logged to stderr with the
client address, so a test can see where a connection came from."""

import http.server
import os
import socket
import socketserver
import sys
import threading


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"
    root = "."

    def do_GET(self):
        name = os.path.basename(self.path.split("?", 1)[0]) or "index"
        path = os.path.join(self.root, name)
        try:
            with open(path, "rb") as f:
                body = f.read()
        except OSError:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, fmt, *args):
        sys.stderr.write("httpd: %s %s\n" % (self.client_address[0], fmt % args))
        sys.stderr.flush()


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = False

    def __init__(self, addr, port):
        self.address_family = socket.AF_INET6 if ":" in addr else socket.AF_INET
        socketserver.TCPServer.__init__(self, (addr, port), Handler, bind_and_activate=False)
        if self.address_family == socket.AF_INET6:
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        try:
            self.server_bind()
            self.server_activate()
        except OSError:
            self.server_close()
            raise


def bind_all(addrs):
    for _ in range(50):
        first = Server(addrs[0], 0)
        port = first.server_address[1]
        servers = [first]
        try:
            for a in addrs[1:]:
                servers.append(Server(a, port))
            return port, servers
        except OSError:
            for s in servers:
                s.server_close()
    raise SystemExit("httpd: could not bind %s on one common port" % addrs)


def main():
    Handler.root = sys.argv[1]
    addrs = sys.argv[2:]
    port, servers = bind_all(addrs)
    for s in servers[1:]:
        threading.Thread(target=s.serve_forever, daemon=True).start()
    for a in addrs:
        print("httpd: listening on %s" % ("[%s]:%d" % (a, port) if ":" in a else "%s:%d" % (a, port)), flush=True)
    servers[0].serve_forever()


if __name__ == "__main__":
    main()
