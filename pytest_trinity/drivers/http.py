"""The HTTP/1.1 hot path: one keep-alive connection per in-flight slot, responses parsed by
httptools (llhttp), request bytes built once per kind, TLS optional. On stock asyncio a
`BufferedProtocol` reads into one buffer shared by the shard's connections; on uvloop a
plain `Protocol` takes uvloop's bytes (one Python call per read). Drives the closed model (N
requests, C in flight) and the open model (fixed arrival rate, latency from the planned
send time) for one shard.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import deque
from time import monotonic_ns
from typing import Any

import httptools

from pytest_trinity.drivers.openplan import OpenPlan
from pytest_trinity.drivers.shard import KindState, ShardRun
from pytest_trinity.drivers.spec import OpenModel, Target

_ParserError = httptools.HttpParserError


def client_ssl_context(target: Target) -> ssl.SSLContext | None:
    """TLS context for the target: verify against `ca_file`, else the system trust store."""
    if not target.tls:
        return None
    return ssl.create_default_context(cafile=target.ca_file)


def _is_uvloop(loop: asyncio.AbstractEventLoop) -> bool:
    return type(loop).__module__.startswith("uvloop")


class HttpConnection:
    """One connection (protocol callbacks shared by the two reading styles below). The
    driver's `next` hands it the next request when one completes; in the closed model the
    next request goes out from `on_message_complete` directly."""

    __slots__ = ("run", "driver", "transport", "parser", "kind", "t_send", "t_plan", "busy", "body",
                 "got", "closed", "view", "open", "write", "feed", "status", "keep_alive")

    def __init__(self, driver: "HttpDriver") -> None:
        self.driver = driver
        self.run = driver.run
        self.view = driver.run.view
        self.transport: Any = None
        self.parser: Any = None
        self.kind: KindState | None = None
        self.t_send = 0
        self.t_plan = 0
        self.busy = False
        self.body = b""
        self.got = 0
        self.closed: asyncio.Future = driver.loop.create_future()
        self.open = driver.open

    # --- asyncio callbacks ---------------------------------------------------------------
    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        self.write = transport.write
        self.parser = httptools.HttpResponseParser(self)
        self.feed = self.parser.feed_data
        self.status = self.parser.get_status_code
        self.keep_alive = self.parser.should_keep_alive
        conns = self.driver.conns
        conns.add(self)
        if len(conns) > self.run.peak_connections:
            self.run.peak_connections = len(conns)

    def eof_received(self) -> bool:
        if self.busy and self.got:
            # A body delimited by the end of the connection (no length, not chunked) ends here.
            try:
                status = self.parser.get_status_code()
                keep = self.parser.should_keep_alive()
            except Exception:
                status, keep = 0, True
            if status and not keep:
                self.on_message_complete()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self.driver.conns.discard(self)
        if self.busy:
            self.busy = False
            self.kind.tally.reset += 1  # type: ignore[union-attr]
        self.driver.forget(self)
        if not self.closed.done():
            self.closed.set_result(None)

    # --- httptools callbacks -------------------------------------------------------------
    def on_message_complete(self) -> None:
        now = monotonic_ns()
        if not self.busy:  # a response nobody asked for
            self.fail("protocol_error")
            return
        kind = self.kind
        self.busy = False
        self.got = 0
        code = self.status()
        lat = (now - self.t_plan) // 1000
        kind.raw.append(lat)  # type: ignore[union-attr]
        if self.open:
            kind.raw_service.append((now - self.t_send) // 1000)  # type: ignore[union-attr]
        body = self.body
        if body:
            self.body = b""
        if 200 <= code <= 299:
            kind.tally.ok += 1  # type: ignore[union-attr]
            probe = kind.cache_probe  # type: ignore[union-attr]
            if probe is not None and probe in body and kind.cache_re.search(body):  # type: ignore[union-attr]
                kind.tally.cache_hits += 1  # type: ignore[union-attr]
                kind.raw_cache.append(lat)  # type: ignore[union-attr]
        else:
            kind.tally.status(code, body)  # type: ignore[union-attr]
        if not self.keep_alive():
            self.transport.close()
            return
        if self.open:
            self.driver.next(self)
            return
        # closed model, inlined: the next request goes out at once on this connection
        run = self.run
        if run.remaining > 0:
            run.remaining -= 1
            i = run.cycle_pos
            run.cycle_pos = i + 1
            kind = run.cycle_kinds[i % run.cycle_len]
            self.kind = kind
            self.busy = True
            self.t_send = self.t_plan = now
            kind.tally.sent += 1
            self.write(kind.payload)
        else:
            self.transport.close()

    # --- sending and failing -------------------------------------------------------------
    def send(self, kind: KindState, planned_ns: int) -> None:
        self.kind = kind
        self.busy = True
        t = monotonic_ns()
        self.t_send = t
        self.t_plan = planned_ns or t
        kind.tally.sent += 1
        self.transport.write(kind.payload)

    def fail(self, outcome: str) -> None:
        """End the in-flight request with `outcome` and drop the connection."""
        if self.busy:
            self.busy = False
            tally = self.kind.tally  # type: ignore[union-attr]
            setattr(tally, outcome, getattr(tally, outcome) + 1)
        if self.transport is not None:
            self.transport.abort()


class BufferedHttpConnection(HttpConnection, asyncio.BufferedProtocol):
    """Reads into the shard's one shared buffer (no bytes object per read): the faster
    style on stock asyncio."""

    __slots__ = ()

    def on_body(self, body: bytes) -> None:
        self.body = self.body + body if self.body else body

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.view

    def buffer_updated(self, nbytes: int) -> None:
        self.got = 1
        try:
            self.feed(self.view[:nbytes])
        except (_ParserError, httptools.HttpParserUpgrade):
            self.fail("protocol_error")


class StreamHttpConnection(HttpConnection, asyncio.Protocol):
    """Takes uvloop's bytes per read: one Python call per read instead of two, and no
    `on_body` callback: the status and cache checks search the response's raw bytes
    (headers included), kept from its first read to its end."""

    __slots__ = ()

    def data_received(self, data: bytes) -> None:
        self.body = self.body + data if self.got else data
        self.got = 1
        try:
            self.feed(data)
        except (_ParserError, httptools.HttpParserUpgrade):
            self.fail("protocol_error")


class HttpDriver(OpenPlan):
    """Runs one shard's HTTP load (closed or open model)."""

    def __init__(self, run: ShardRun) -> None:
        self.run = run
        self.loop = asyncio.get_running_loop()
        spec = run.spec
        self.target = spec.target
        self.ssl = client_ssl_context(self.target)
        host_header = self.target.header_host()
        for k in run.kinds:
            k.payload = k.spec.request_bytes(host_header)
        self.conns: set[HttpConnection] = set()
        self.conn_class = StreamHttpConnection if _is_uvloop(self.loop) else BufferedHttpConnection
        self.open = run.open
        self.idle: list[HttpConnection] = []
        self.backlog: deque[int] = deque()
        self.planned = 0
        self.ns_per_request = 0.0
        self.next_plan_ns = 0
        self.plan_end_ns = 0
        self.generating = False
        self.started = False
        self.slots: list[asyncio.Task] = []
        self.all_done: asyncio.Future = self.loop.create_future()
        run.stop_hooks.append(self.on_stop)
        run.housekeepers.append(self.check_timeouts)

    # --- connections ---------------------------------------------------------------------
    async def connect(self) -> HttpConnection:
        conn = self.conn_class(self)
        t = self.target
        await asyncio.wait_for(
            self.loop.create_connection(lambda: conn, t.host, t.port, ssl=self.ssl,
                                        server_hostname=(t.server_hostname or t.host) if self.ssl else None),
            self.run.spec.timeout)
        return conn

    def wanted(self) -> bool:
        """Should a slot (re)connect?"""
        if self.run.stopping:
            return False
        if self.open:
            return not self.started or self.generating or bool(self.backlog)
        return self.run.remaining > 0

    async def slot(self) -> None:
        run = self.run
        while self.wanted():
            try:
                conn = await self.connect()
            except (OSError, asyncio.TimeoutError, ssl.SSLError):
                self.connect_failed()
                await asyncio.sleep(0.001 if not self.open else 0.01)
                continue
            if run.stopping:
                conn.transport.abort()
                return
            self.next(conn)
            await conn.closed

    def connect_failed(self) -> None:
        if self.open:
            if self.backlog:
                self.backlog.popleft()
                self.run.pick().tally.connect_error += 1
        else:
            kind = self.run.take()
            if kind is not None:
                kind.tally.connect_error += 1

    # --- hot path: what a free connection does next --------------------------------------
    def next(self, conn: HttpConnection) -> None:
        run = self.run
        if self.open:
            if self.generating and not self.backlog:
                self._fill_due(monotonic_ns())
            if self.backlog and not run.stopping:
                conn.send(run.pick(), self._plan_for_send())
            else:
                self.idle.append(conn)
                self._maybe_done()
            return
        if run.remaining > 0:
            run.remaining -= 1
            conn.send(run.pick(), 0)
        else:
            conn.transport.close()

    def forget(self, conn: HttpConnection) -> None:
        if self.open:
            try:
                self.idle.remove(conn)
            except ValueError:
                pass
            self._maybe_done()

    # --- open model ----------------------------------------------------------------------
    def _generate(self) -> None:
        """Timer: plan what is due, hand it to idle connections, re-arm. Completions also
        plan inline (`next`), so the timer need not fire more often than once a millisecond
        (a shorter uvloop timer would spin the loop)."""
        if not self.generating or self.run.stopping:
            return
        now = monotonic_ns()
        run = self.run
        backlog = self.backlog
        self._fill_due(now)
        while backlog and self.idle:
            conn = self.idle.pop()
            conn.send(run.pick(), self._plan_for_send())
        self._rearm(now)

    def _maybe_done(self) -> None:
        if self.open and self.started and not self.generating and not self.backlog and not self.all_done.done():
            if not any(c.busy for c in self.conns):
                self.all_done.set_result(None)

    # --- bounds --------------------------------------------------------------------------
    def check_timeouts(self, now: int) -> None:
        limit = now - self.run.timeout_ns
        for conn in [c for c in self.conns if c.busy and c.t_send < limit]:
            conn.fail("timeout")
        backlog = self.backlog
        while backlog and backlog[0] < limit:  # waited a whole timeout for a connection: give up
            backlog.popleft()
            self.run.unsent += 1
        if self.open and self.started and not self.generating and not self.all_done.done():
            # In-flight requests of a finished open run get one timeout to come back. (Not while
            # the connections are still being opened: then nothing has been planned yet.)
            if now > self.plan_end_ns + self.run.timeout_ns:
                self.on_stop()
                self.all_done.set_result(None)

    def on_stop(self) -> None:
        self.generating = False
        self.run.unsent += len(self.backlog)
        self.backlog.clear()
        for conn in list(self.conns):
            if conn.busy:
                conn.busy = False
                conn.kind.tally.abandoned += 1  # type: ignore[union-attr]
            if conn.transport is not None:
                conn.transport.abort()
        for task in self.slots:
            task.cancel()

    async def drive(self) -> None:
        run = self.run
        if isinstance(run.model, OpenModel):
            m = run.model
            self.late_send_us = m.late_send_us
            self.ns_per_request = 1e9 / m.rate
            n_slots = min(m.connections, max(1, run.total))
        else:
            n_slots = min(run.model.concurrency, run.total)
        if run.total <= 0:
            return
        self.slots = [asyncio.ensure_future(self.slot()) for _ in range(n_slots)]
        if self.open:
            # connections first (bounded by the timeout), then the clock starts
            deadline = self.loop.time() + run.spec.timeout
            while len(self.idle) < n_slots and self.loop.time() < deadline and not run.stopping:
                if all(t.done() for t in self.slots):
                    break
                await asyncio.sleep(0.005)
            self.plan_start_ns = monotonic_ns()
            self.next_plan_ns = self.plan_start_ns
            self.plan_end_ns = self.plan_start_ns + int(run.model.duration * 1e9)
            self.generating = True
            self.started = True
            self._generate()
            await self.all_done
            self.generating = False
            for conn in list(self.conns):
                conn.transport.close()
            for t in self.slots:
                t.cancel()
        await asyncio.gather(*self.slots, return_exceptions=True)


async def drive_http(run: ShardRun) -> None:
    await HttpDriver(run).drive()
