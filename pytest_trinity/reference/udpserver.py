"""UDP listeners in the v6 shape: several SO_REUSEPORT sockets on one port, each drained by its
own reader into its own bounded queue and answered by its own pool of workers.

A datagram that finds its socket's queue full (or that the drop fault picks) is counted in
`udp_dropped` and never answered, exactly what a client sees as a lost packet.
"""

from __future__ import annotations

import asyncio
import random
import socket
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any

from pytest_trinity.reference.telemetry import NetBytes

READ_BURST = 256      # datagrams read per readiness event before yielding to the loop
WORK_BURST = 256      # datagrams a worker answers before yielding to the loop
RCVBUF = 4 * 1024 * 1024

DatagramHandler = Callable[[bytes], "bytes | Awaitable[bytes] | None"]


def reuseport_socket(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    for opt in (socket.SO_RCVBUF, socket.SO_SNDBUF):
        try:
            sock.setsockopt(socket.SOL_SOCKET, opt, RCVBUF)
        except OSError:
            pass
    sock.bind((host, port))
    sock.setblocking(False)
    return sock


class UdpListener:
    """One socket, its reader, its bounded queue and its workers."""

    def __init__(self, sock: socket.socket, handler: DatagramHandler, counters: Any, capacity: int, workers: int,
                 net: NetBytes | None = None) -> None:
        self.sock = sock
        self.net = net or NetBytes()
        self.handler = handler
        self.counters = counters
        self.capacity = capacity
        self.n_workers = workers
        self.queue: deque[tuple[bytes, Any]] = deque()
        self.wake = asyncio.Event()
        self.drop_ratio = 0.0
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        asyncio.get_running_loop().add_reader(self.sock.fileno(), self._readable)
        for i in range(self.n_workers):
            self._tasks.append(asyncio.create_task(self._worker(), name=f"udp-worker-{self.sock.fileno()}-{i}"))

    def _readable(self) -> None:
        sock, q, c, net = self.sock, self.queue, self.counters, self.net
        for _ in range(READ_BURST):
            try:
                data, addr = sock.recvfrom(65535)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                continue  # e.g. an ICMP error queued on the socket; the next read goes on
            c.packets_received += 1
            net.rx += len(data)
            if len(q) >= self.capacity or (self.drop_ratio and random.random() < self.drop_ratio):
                c.udp_dropped += 1
                continue
            q.append((data, addr))
        if q:
            self.wake.set()

    async def _worker(self) -> None:
        q, handler = self.queue, self.handler
        while True:
            if not q:
                self.wake.clear()
                await self.wake.wait()
                continue
            for _ in range(WORK_BURST):
                if not q:
                    break
                data, addr = q.popleft()
                result = handler(data)
                if result is None:
                    continue
                if not isinstance(result, bytes):
                    result = await result
                self._send(result, addr)
            await asyncio.sleep(0)

    def _send(self, payload: bytes, addr: Any) -> None:
        try:
            self.sock.sendto(payload, addr)
        except (BlockingIOError, InterruptedError):
            self.counters.udp_dropped += 1  # no room for the answer: the client sees a loss
            return
        except OSError:
            return
        self.counters.packets_sent += 1
        self.net.tx += len(payload)

    async def stop(self) -> None:
        try:
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
        except (ValueError, OSError):
            pass
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.sock.close()


class UdpServer:
    def __init__(self, host: str, port: int, sockets: int, handler: DatagramHandler, counters: Any, capacity: int, workers: int,
                 net: NetBytes | None = None) -> None:
        self.listeners = [
            UdpListener(reuseport_socket(host, port), handler, counters, capacity, workers, net) for _ in range(max(sockets, 1))
        ]

    def start(self) -> None:
        for listener in self.listeners:
            listener.start()

    def set_drop_ratio(self, ratio: float) -> None:
        for listener in self.listeners:
            listener.drop_ratio = ratio

    async def stop(self) -> None:
        for listener in self.listeners:
            await listener.stop()
