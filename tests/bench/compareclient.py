"""The programs `make compare` runs under each wrapper (besides curl and dig). Each prints one
JSON line: {"ok": true|false, "error": "...", ...} and exits 0 unless it crashed.

  compareclient.py udp HOST PORT      one datagram to a UDP echo server, waits 3 s for it back
  compareclient.py udpconn HOST PORT  the same on a connected socket: connect(), send(), recv()
  compareclient.py async HOST PORT    asyncio open_connection + GET /ok, 5 s at most; also
                                      reports the event loop's longest stall (a 5 ms ticker)"""

import asyncio
import errno
import json
import socket
import sys
import time


def out(**kw):
    print(json.dumps(kw), flush=True)


def error_text(e):
    return "%s: %s" % (errno.errorcode.get(e.errno, type(e).__name__), e.strerror) if e.errno else repr(e)


def udp(host, port, connected):
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM)
    s.settimeout(3)
    msg = b"compare-udp-%d" % time.monotonic_ns()
    stage = "connect"
    try:
        if connected:
            s.connect((host, port))
            stage = "send"
            s.send(msg)
        else:
            stage = "sendto"
            s.sendto(msg, (host, port))
        stage = "recv"
        data, src = s.recvfrom(65536)
    except socket.timeout:
        return out(ok=False, stage=stage, error="no reply within 3 s")
    except OSError as e:
        return out(ok=False, stage=stage, error=error_text(e))
    out(ok=data == msg, source=list(src[:2]), error=None if data == msg else "wrong reply %r" % data[:40])


async def fetch(host, port):
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(b"GET /ok HTTP/1.0\r\n\r\n")
    data = await reader.read(-1)
    writer.close()
    return data


async def ticker(stall):
    last = time.monotonic()
    while True:
        await asyncio.sleep(0.005)
        now = time.monotonic()
        stall[0] = max(stall[0], now - last - 0.005)
        last = now


async def async_main(host, port):
    stall = [0.0]
    tick = asyncio.ensure_future(ticker(stall))
    await asyncio.sleep(0.02)
    try:
        data = await asyncio.wait_for(fetch(host, port), 5)
        ok, err = data.startswith(b"HTTP/1.0 200") and data.endswith(b"compare-ok\n"), None
        if not ok:
            err = "unexpected answer %r" % data[:60]
    except asyncio.TimeoutError:
        ok, err = False, "no answer within 5 s"
    except OSError as e:
        ok, err = False, error_text(e)
    tick.cancel()
    out(ok=ok, error=err, stall_ms=round(stall[0] * 1000, 1))


def main():
    mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode in ("udp", "udpconn"):
        udp(host, port, mode == "udpconn")
    elif mode == "async":
        asyncio.run(async_main(host, port))
    else:
        sys.exit("unknown mode %r" % mode)


if __name__ == "__main__":
    main()
