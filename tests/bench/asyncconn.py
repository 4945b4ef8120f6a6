#!/usr/bin/python3
"""make bench (issue 7): an asyncio program opening N connections at once, each a 1-byte echo then close.

    asyncconn.py --target HOST:PORT [--socks5 HOST:PORT] [--n 200] [--cap SECONDS]

Without --socks5 it calls asyncio.open_connection(target) on the default event loop: run it under
libsocksify or proxychains4 and they decide what connect() does. With --socks5 it speaks SOCKS5 itself
(no-auth greeting, then CONNECT, each answer awaited: what any client that must also work with microsocks
does), the reference for what the event loop can do when nothing blocks it.

Prints one line: 'ok n=N done=N failed=0 seconds=S' or, when the cap is reached first,
'timeout n=N done=K failed=F seconds=S' (S: from the first connect to the last close, start-up excluded).
A failure's reason is printed as 'error: ...' before it."""

import argparse
import asyncio
import ipaddress
import os
import struct
import sys
import threading
import time


def hostport(text):
    host, _, port = text.rpartition(":")
    return host, int(port)


async def socks5_open(proxy, target):
    reader, writer = await asyncio.open_connection(*proxy)
    writer.write(b"\x05\x01\x00")
    if await reader.readexactly(2) != b"\x05\x00":
        raise ConnectionError("SOCKS5 greeting refused")
    addr = ipaddress.IPv4Address(target[0]).packed
    writer.write(b"\x05\x01\x00\x01" + addr + struct.pack(">H", target[1]))
    head = await reader.readexactly(4)
    if head[1] != 0:
        raise ConnectionError("SOCKS5 CONNECT refused: REP %d" % head[1])
    rest = {1: 6, 4: 18}.get(head[3])
    if rest is None:
        rest = (await reader.readexactly(1))[0] + 2
    await reader.readexactly(rest)
    return reader, writer


async def one(args, counts, errors):
    try:
        if args.socks5:
            reader, writer = await socks5_open(args.socks5, args.target)
        else:
            reader, writer = await asyncio.open_connection(*args.target)
        writer.write(b"x")
        if await reader.readexactly(1) != b"x":
            raise ConnectionError("wrong echo")
        writer.close()
        await writer.wait_closed()
        counts["done"] += 1
    except (OSError, asyncio.IncompleteReadError) as e:
        counts["failed"] += 1
        if not errors:
            errors.append("%s: %s" % (type(e).__name__, e))


def watchdog(args, counts, t0):
    """The cap holds even when a connect() blocks the event loop's thread (a library doing the
    handshake inside it): a thread reports what is done so far and ends the process."""
    def fire():
        print("timeout n=%d done=%d failed=%d seconds=%.4f" % (args.n, counts["done"], counts["failed"],
                                                              time.monotonic() - t0), flush=True)
        os._exit(1)
    t = threading.Timer(args.cap + 1.0, fire)
    t.daemon = True
    t.start()
    return t


async def run(args):
    counts = {"done": 0, "failed": 0}
    errors = []
    t0 = time.monotonic()
    dog = watchdog(args, counts, t0)
    tasks = [asyncio.ensure_future(one(args, counts, errors)) for _ in range(args.n)]
    _, pending = await asyncio.wait(tasks, timeout=args.cap)
    seconds = time.monotonic() - t0
    dog.cancel()
    for t in pending:
        t.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for e in errors:
        print("error: " + e)
    state = "timeout" if pending else "ok" if counts["failed"] == 0 else "failed"
    print("%s n=%d done=%d failed=%d seconds=%.4f" % (state, args.n, counts["done"], counts["failed"], seconds))
    return 0 if state == "ok" else 1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--target", type=hostport, required=True)
    ap.add_argument("--socks5", type=hostport)
    ap.add_argument("--n", type=int, default=200)
    ap.add_argument("--cap", type=float, default=30.0)
    args = ap.parse_args()
    sys.stdout.flush()
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
