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
from time import monotonic_ns
from typing import Any

import httptools

from pytest_trinity.drivers.core import KindState, ShardRun
from pytest_trinity.drivers.openplan import OpenPlan
from pytest_trinity.drivers.registry import register_driver
from pytest_trinity.drivers.spec import HttpRequest, OpenModel, Target

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

    def __init__(self, driver: HttpDriver) -> None:
        self.driver = driver
        self.run = driver.run
        self.view = driver.run.view
        self.transport: Any = None
        self.parser: Any = None
        self.kind: KindState  # set by each send; read only while `busy`
        self.t_send = 0
        self.t_plan = 0
        self.busy = False
        self.body = b""
        self.got = 0
        self.closed: asyncio.Future[None] = driver.loop.create_future()
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
            self.kind.tally.reset += 1
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
        kind.raw.append(lat)
        if self.open:
            kind.raw_service.append((now - self.t_send) // 1000)
        body = self.body
        if body:
            self.body = b""
        if 200 <= code <= 299:
            kind.tally.ok += 1
            probe = kind.cache_probe
            if probe is not None and probe in body and kind.cache_re.search(body):
                kind.tally.cache_hits += 1
                kind.raw_cache.append(lat)
        else:
            kind.tally.status(code, body, kind.refusals)
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
            tally = self.kind.tally
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
        super().__init__(run)
        self.target = run.spec.target
        self.ssl = client_ssl_context(self.target)
        host_header = self.target.header_host()
        for k in run.kinds:
            if not isinstance(k.spec, HttpRequest):
                raise TypeError(f"the HTTP driver got a {type(k.spec).__name__} ({k.name!r})")
            k.payload = k.spec.request_bytes(host_header)
        self.conns: set[HttpConnection] = set()
        self.conn_class = StreamHttpConnection if _is_uvloop(self.loop) else BufferedHttpConnection
        self.idle: list[HttpConnection] = []
        self.slots: list[asyncio.Task[None]] = []
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
            except (OSError, TimeoutError, ssl.SSLError):
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

    # --- open-plan hooks -----------------------------------------------------------------
    def _send_due(self) -> None:
        """Hand the due sends to idle connections."""
        run = self.run
        backlog = self.backlog
        idle = self.idle
        while backlog and idle:
            idle.pop().send(run.pick(), self._plan_for_send())

    def _in_flight(self) -> bool:
        return any(c.busy for c in self.conns)

    def _drained(self) -> None:
        self.done.set_result(None)

    def _abandon_in_flight(self) -> None:
        for conn in list(self.conns):
            if conn.busy:
                conn.busy = False
                conn.kind.tally.abandoned += 1
            if conn.transport is not None:
                conn.transport.abort()
        for task in self.slots:
            task.cancel()

    # --- bounds --------------------------------------------------------------------------
    def check_timeouts(self, now: int) -> None:
        limit = now - self.run.timeout_ns
        for conn in [c for c in self.conns if c.busy and c.t_send < limit]:
            conn.fail("timeout")
        backlog = self.backlog
        while backlog and backlog[0] < limit:  # waited a whole timeout for a connection: give up
            backlog.popleft()
            self.run.unsent += 1
        if self.started and not self.generating and not self.done.done():
            # In-flight requests of a finished open run get one timeout to come back. (Not while
            # the connections are still being opened: then nothing has been planned yet.)
            if now > self.plan_end_ns + self.run.timeout_ns:
                self.on_stop()
                self.done.set_result(None)

    # --- running -------------------------------------------------------------------------
    async def drive(self) -> None:
        run = self.run
        model = run.model
        n_slots = min(model.connections, max(1, run.total)) if isinstance(model, OpenModel) else min(model.concurrency, run.total)
        if run.total <= 0:
            return
        self.slots = [asyncio.ensure_future(self.slot()) for _ in range(n_slots)]
        if isinstance(model, OpenModel):
            await self._connect_all(n_slots)
            self._start_plan(model)
            await self.done
            self.generating = False
            for conn in list(self.conns):
                conn.transport.close()
            for t in self.slots:
                t.cancel()
        await asyncio.gather(*self.slots, return_exceptions=True)

    async def _connect_all(self, n_slots: int) -> None:
        """Open model: connections first (bounded by the timeout), then the clock starts."""
        deadline = self.loop.time() + self.run.spec.timeout
        while len(self.idle) < n_slots and self.loop.time() < deadline and not self.run.stopping:
            if all(t.done() for t in self.slots):
                break
            await asyncio.sleep(0.005)


async def drive_http(run: ShardRun) -> None:
    await HttpDriver(run).drive()


register_driver("http", drive_http)
