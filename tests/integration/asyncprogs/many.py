"""N asyncio connections opened at once to HOST PORT, each echoes one byte.
Prints {"ok": n, "errors": {...}}.   many.py N HOST PORT"""
import asyncio
import collections
import json
import sys

n, host, port = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])


async def one():
    r, w = await asyncio.open_connection(host, port)
    try:
        w.write(b"x")
        await w.drain()
        return await asyncio.wait_for(r.readexactly(1), 30) == b"x"
    finally:
        w.close()


async def main():
    res = await asyncio.gather(*[one() for _ in range(n)], return_exceptions=True)
    errors = collections.Counter(type(r).__name__ for r in res if r is not True)
    print(json.dumps({"ok": sum(r is True for r in res), "errors": errors}), flush=True)


asyncio.run(main())
