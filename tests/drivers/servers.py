"""Small loopback servers for the driver tests, run as separate processes:

    python servers.py http PORT [--stall-after N --stall-seconds S] [--delay-ms D]
    python servers.py udp PORT --timeout-ms T

HTTP: behaviour chosen by the path (see `respond`); `GET /__stats` returns the request count
per path as JSON (not counted itself). With --delay-ms, a thread-per-connection server answers
every request after exactly that delay (slept, then spun for the last bit).
UDP: answers the JSON codec; ids with id % 10 == 3 are dropped, == 5 answered after 3x the
client's timeout (late), == 7 answered with {"error":"rate_limited"}; `stats` returns counts.
Prints "ready" on stdout once listening.
"""

from __future__ import annotations

import asyncio
import json
import socket
import struct
import sys
import threading
import time
from collections import Counter

COUNTS: Counter = Counter()
STALL = {"after": 0, "seconds": 0.0, "until": 0.0, "seen": 0}


def response(code: int, body: bytes, extra: str = "", reason: str = "X") -> bytes:
    return (f"HTTP/1.1 {code} {reason}\r\nContent-Length: {len(body)}\r\nContent-Type: application/json\r\n"
            f"{extra}\r\n").encode() + body


def respond(path: str) -> tuple[bytes | None, str]:
    """(bytes to send or None, action) for a request path. action: keep|close|reset|hang."""
    if path == "/__stats":
        return response(200, json.dumps(COUNTS).encode()), "keep"
    COUNTS[path] += 1
    parts = path.split("/")
    if path.startswith("/status/"):
        return response(int(parts[2]), b'{"status":%d}' % int(parts[2])), "keep"
    if path.startswith("/429/"):
        return response(429, json.dumps({"error": parts[2]}).encode()), "keep"
    if path == "/price/syncmap":
        return response(200, b'{"symbol":"BTC-USD","price":1.5,"source":"syncmap","ts":1}'), "keep"
    if path == "/price/rest":
        return response(200, b'{"symbol":"BTC-USD","price":1.5,"source": "rest","ts":1}'), "keep"
    if path == "/chunked":
        body = b"5\r\nhello\r\n7\r\n world!\r\n0\r\n\r\n"
        return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + body, "keep"
    if path == "/close":
        return response(200, b"bye", "Connection: close\r\n"), "close"
    if path == "/eof":
        return b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil-eof", "close"
    if path == "/reset":
        return None, "reset"
    if path == "/garbage":
        return b"NOT-HTTP garbage\r\n\r\n", "keep"
    if path == "/hang":
        return None, "hang"
    return response(200, b'{"ok":true}'), "keep"


class HttpProto(asyncio.Protocol):
    def __init__(self) -> None:
        self.buf = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while b"\r\n\r\n" in self.buf:
            head, self.buf = self.buf.split(b"\r\n\r\n", 1)
            path = head.split(b" ", 2)[1].decode()
            out, action = respond(path)
            if path != "/__stats" and STALL["after"]:
                STALL["seen"] += 1
                now = time.monotonic()
                if STALL["seen"] == STALL["after"]:
                    STALL["until"] = now + STALL["seconds"]
                if STALL["until"] > now:
                    asyncio.get_running_loop().call_later(STALL["until"] - now, self.finish, out, action)
                    continue
            self.finish(out, action)

    def finish(self, out: bytes | None, action: str) -> None:
        t = self.transport
        if t is None or t.is_closing():
            return
        if action == "reset":
            sock = t.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            t.abort()
            return
        if out is not None:
            t.write(out)
        if action == "close":
            t.close()


def delay_server(port: int, delay: float) -> None:
    """Thread per connection; each response leaves exactly `delay` s after its request arrived."""
    srv = socket.create_server(("127.0.0.1", port), backlog=128)
    print("ready", flush=True)

    def serve(conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buf = b""
        with conn:
            while True:
                data = conn.recv(65536)
                if not data:
                    return
                buf += data
                while b"\r\n\r\n" in buf:
                    t0 = time.perf_counter()
                    head, buf = buf.split(b"\r\n\r\n", 1)
                    path = head.split(b" ", 2)[1].decode()
                    out, _ = respond(path)
                    if path != "/__stats":
                        end = t0 + delay
                        left = end - time.perf_counter()
                        if left > 0.0005:
                            time.sleep(left - 0.0004)
                        while time.perf_counter() < end:
                            pass
                    conn.sendall(out or b"")

    while True:
        c, _ = srv.accept()
        threading.Thread(target=serve, args=(c,), daemon=True).start()


def udp_server(port: int, timeout_ms: int) -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    sock.bind(("127.0.0.1", port))
    counts: Counter = Counter()
    late: list[tuple[float, bytes, tuple]] = []
    print("ready", flush=True)
    sock.settimeout(0.005)
    while True:
        now = time.monotonic()
        while late and late[0][0] <= now:
            _, out, addr = late.pop(0)
            sock.sendto(out, addr)
        try:
            data, addr = sock.recvfrom(2048)
        except TimeoutError:
            continue
        if data == b"stats":
            sock.sendto(json.dumps(counts).encode(), addr)
            continue
        req = json.loads(data)
        rid = req["id"]
        counts["received"] += 1
        rule = rid % 10
        if rule == 3:
            counts["dropped"] += 1
            continue
        if rule == 7:
            sock.sendto(json.dumps({"id": rid, "error": "rate_limited"}).encode(), addr)
            continue
        out = json.dumps({"id": rid, "symbol": req.get("symbol"), "price": 1.5, "ts": 1}).encode()
        if rule == 5:
            counts["delayed"] += 1
            late.append((time.monotonic() + 3 * timeout_ms / 1000, out, addr))
            continue
        sock.sendto(out, addr)


def main(argv: list[str]) -> None:
    kind, port = argv[0], int(argv[1])
    opts = dict(zip(argv[2::2], argv[3::2], strict=False))
    if kind == "udp":
        udp_server(port, int(opts["--timeout-ms"]))
        return
    if "--delay-ms" in opts:
        delay_server(port, float(opts["--delay-ms"]) / 1000)
        return
    STALL["after"] = int(opts.get("--stall-after", 0))
    STALL["seconds"] = float(opts.get("--stall-seconds", 0))

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        server = await loop.create_server(HttpProto, "127.0.0.1", port, backlog=1024)
        print("ready", flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(serve())


if __name__ == "__main__":
    main(sys.argv[1:])
