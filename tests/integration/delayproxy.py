#!/usr/bin/python3
"""A TCP relay that delays every chunk it forwards from the upstream to the client by D ms.

There is no netem on these machines: put this in front of a SOCKS5 server (or any TCP server) to give
it a slow network in one direction. Client -> upstream bytes pass at once; each chunk read from the
upstream is written to the client D ms after it arrived (chunks keep their order and are not
serialised: two chunks read 1 ms apart leave 1 ms apart, both D ms late). An EOF is passed on in
order too, after the data before it.

As a module (tests, make bench):

    with DelayProxy(("127.0.0.1", 1080), delay_ms=50) as proxy:   # its own thread and event loop
        ... connect to ("127.0.0.1", proxy.port) ...

    or, inside a running asyncio loop:  server = await start_delay_proxy(upstream, 50)

From a shell (prints its port on stdout, then runs until SIGTERM/SIGINT or stdin closes with --stdin):

    python3 delayproxy.py --listen 127.0.0.1:0 --upstream 127.0.0.1:1080 --delay-ms 50
"""

import argparse
import asyncio
import signal
import socket
import sys
import threading

CHUNK = 65536


def _split_hostport(text):
    host, _, port = text.rpartition(":")
    return host.strip("[]") or "127.0.0.1", int(port)


async def _pipe(reader, writer, delay_s):
    """Copy reader -> writer; with delay_s > 0, each chunk (and the EOF) leaves delay_s after it came."""
    loop = asyncio.get_running_loop()
    queue = asyncio.Queue()

    async def sender():
        while True:
            due, data = await queue.get()
            wait = due - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            if data is None:
                if writer.can_write_eof():
                    writer.write_eof()
                return
            writer.write(data)
            await writer.drain()

    task = asyncio.ensure_future(sender()) if delay_s > 0 else None
    try:
        while True:
            data = await reader.read(CHUNK)
            if task is None:
                if not data:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()
                continue
            queue.put_nowait((loop.time() + delay_s, data or None))
            if not data or task.done():
                break
        await task
    except (ConnectionError, OSError):
        writer.close()  # the other direction then ends too: its peer sees this one close
    finally:
        if task is not None and not task.done():
            task.cancel()


async def _close(writer):
    writer.close()
    try:
        await writer.wait_closed()
    except (ConnectionError, OSError):
        pass


def _handler(upstream, delay_s):
    async def handle(creader, cwriter):
        try:
            ureader, uwriter = await asyncio.open_connection(*upstream)
        except OSError:
            await _close(cwriter)
            return
        for w in (cwriter, uwriter):
            sock = w.get_extra_info("socket")
            if sock is not None:
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            await asyncio.gather(_pipe(creader, uwriter, 0), _pipe(ureader, cwriter, delay_s))
        finally:
            await _close(uwriter)
            await _close(cwriter)
    return handle


async def start_delay_proxy(upstream, delay_ms=50, listen=("127.0.0.1", 0)):
    """An asyncio Server relaying to upstream (host, port) with the upstream's chunks delayed;
    its port: server.sockets[0].getsockname()[1]."""
    return await asyncio.start_server(_handler(tuple(upstream), delay_ms / 1000.0), listen[0], listen[1],
                                      backlog=4096)


class DelayProxy:
    """The relay in a thread of its own, with its own event loop: for synchronous tests."""

    def __init__(self, upstream, delay_ms=50, listen=("127.0.0.1", 0)):
        self.upstream, self.delay_ms, self.listen = tuple(upstream), delay_ms, listen
        self.port = None
        self._loop = None
        self._thread = None
        self._server = None

    def start(self):
        ready = threading.Event()
        failure = []

        def run():
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            try:
                self._server = self._loop.run_until_complete(
                    start_delay_proxy(self.upstream, self.delay_ms, self.listen))
                self.port = self._server.sockets[0].getsockname()[1]
            except OSError as e:
                failure.append(e)
                ready.set()
                self._loop.close()
                return
            ready.set()
            self._loop.run_forever()
            self._server.close()
            tasks = asyncio.all_tasks(self._loop)
            for t in tasks:
                t.cancel()
            self._loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
            self._loop.close()

        self._thread = threading.Thread(target=run, name="delayproxy", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        if self.port is None:
            raise RuntimeError("delay proxy did not start")
        return self

    def stop(self):
        if self._loop is not None and self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def main(argv=None):
    ap = argparse.ArgumentParser(description="TCP relay delaying upstream->client chunks by D ms")
    ap.add_argument("--listen", default="127.0.0.1:0", help="HOST:PORT to listen on (port 0 = any)")
    ap.add_argument("--upstream", required=True, help="HOST:PORT to relay to")
    ap.add_argument("--delay-ms", type=float, default=50.0)
    ap.add_argument("--stdin", action="store_true", help="also exit when stdin reaches EOF")
    args = ap.parse_args(argv)

    async def run():
        server = await start_delay_proxy(_split_hostport(args.upstream), args.delay_ms,
                                         _split_hostport(args.listen))
        print(server.sockets[0].getsockname()[1], flush=True)
        done = asyncio.get_running_loop().create_future()
        for sig in (signal.SIGTERM, signal.SIGINT):
            asyncio.get_running_loop().add_signal_handler(sig, lambda: done.done() or done.set_result(None))
        if args.stdin:
            asyncio.get_running_loop().add_reader(
                sys.stdin.fileno(), lambda: sys.stdin.buffer.raw.read(4096) or done.done() or done.set_result(None))
        await done
        server.close()

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
