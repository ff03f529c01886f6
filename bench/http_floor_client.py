"""The floor under any asyncio HTTP client: a uvloop `Protocol` that writes the next request
whenever a read arrives, with no parsing, no classification and no latency recording (so it
is only correct against a server whose every response arrives in one read, like the fixed-cost
nginx). Not a driver: `http_vs_wrk.py` runs it as the "floor" row, to show how much of the
driver's cost per request is the event loop and the kernel, which no Python code can remove.

    python bench/http_floor_client.py PORT CONNECTIONS SECONDS
    -> prints "FLOOR <responses> <seconds> <cpu seconds, user+sys, during the run>"
"""

from __future__ import annotations

import asyncio
import resource
import sys
import time

import uvloop

REQUEST = b"GET /price?symbol=BTC-USD HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


class Floor(asyncio.Protocol):
    count = 0
    stop = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.write = transport.write  # type: ignore[attr-defined]
        self.write(REQUEST)

    def data_received(self, data: bytes) -> None:
        Floor.count += 1
        if not Floor.stop:
            self.write(REQUEST)


async def main(port: int, connections: int, seconds: float) -> None:
    loop = asyncio.get_running_loop()
    transports = [(await loop.create_connection(Floor, "127.0.0.1", port))[0] for _ in range(connections)]
    ru0, t0, n0 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic(), Floor.count
    await asyncio.sleep(seconds)
    Floor.stop = True
    ru1, t1, n1 = resource.getrusage(resource.RUSAGE_SELF), time.monotonic(), Floor.count
    for t in transports:
        t.close()
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    print(f"FLOOR {n1 - n0} {t1 - t0:.4f} {cpu:.4f}")


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    uvloop.run(main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])))
