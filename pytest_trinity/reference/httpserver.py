"""A small HTTP/1.1 keep-alive server on a raw asyncio Protocol, built for the /price hot path.

The request head is parsed by hand (measured faster than httptools' callbacks here: see
docs/reference-cluster.md) and identical heads — a load generator repeats itself — are parsed
once and looked up after that. A handler returns the whole response as bytes (answered at once)
or an awaitable of bytes (the slow path); answers leave in request order, pipelining included.
Chunked request bodies are refused (501); the API and admin calls carry none.
"""

from __future__ import annotations

import asyncio
import json
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote

from pytest_trinity.reference.telemetry import NetBytes

MAX_HEAD = 16 * 1024
MAX_BODY = 1024 * 1024
HEAD_CACHE_SIZE = 4096
MAX_QUEUED = 256
REASONS = {
    200: "OK", 400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
    405: "Method Not Allowed", 413: "Payload Too Large", 429: "Too Many Requests", 431: "Request Header Fields Too Large",
    500: "Internal Server Error", 501: "Not Implemented", 503: "Service Unavailable",
}


def response(status: int, body: bytes, extra: bytes = b"") -> bytes:
    return b"HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n%s" % (
        status, REASONS.get(status, "Unknown").encode(), len(body), extra, body)


def json_response(status: int, data: Any, extra: bytes = b"") -> bytes:
    return response(status, json.dumps(data, separators=(",", ":")).encode(), extra)


def _close_variant(resp: bytes) -> bytes:
    return resp.replace(b"\r\n", b"\r\nConnection: close\r\n", 1)


class BadRequest(ValueError):
    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


@dataclass(frozen=True, slots=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    api_key: bytes | None
    admin_token: bytes | None
    keep_alive: bool
    content_length: int


def parse_head(head: bytes) -> Request:
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not parts[2].startswith(b"HTTP/1."):
        raise BadRequest(400, "bad_request_line")
    method, target, version = parts
    raw_path, _, qs = target.partition(b"?")
    try:
        path = unquote(raw_path.decode("ascii"))
        query = dict(parse_qsl(qs.decode("ascii"), keep_blank_values=True)) if qs else {}
    except UnicodeDecodeError:
        raise BadRequest(400, "bad_target") from None
    api_key = admin_token = connection = None
    length = 0
    for line in lines[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            raise BadRequest(400, "bad_header")
        name = name.strip().lower()
        value = value.strip()
        if name == b"x-api-key":
            api_key = value
        elif name == b"x-admin-token":
            admin_token = value
        elif name == b"connection":
            connection = value.lower()
        elif name == b"content-length":
            if not value.isdigit():
                raise BadRequest(400, "bad_content_length")
            length = int(value)
            if length > MAX_BODY:
                raise BadRequest(413, "body_too_large")
        elif name == b"transfer-encoding":
            raise BadRequest(501, "chunked_not_supported")
    keep_alive = connection != b"close" if version == b"HTTP/1.1" else connection == b"keep-alive"
    return Request(method.decode("ascii", "replace"), path, query, api_key, admin_token, keep_alive, length)


Handler = Callable[[Request, bytes], "bytes | Awaitable[bytes]"]


class HttpProtocol(asyncio.Protocol):
    __slots__ = ("handler", "cache", "net", "transport", "buf", "queue", "closing", "paused")

    def __init__(self, handler: Handler, cache: dict[bytes, Request], net: NetBytes) -> None:
        self.handler = handler
        self.cache = cache
        self.net = net
        self.transport: asyncio.Transport | None = None
        self.buf = b""
        self.queue: deque[Any] = deque()   # bytes or tasks, in request order, behind a slow answer
        self.closing = False
        self.paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        for item in self.queue:
            if isinstance(item, asyncio.Task):
                item.cancel()
        self.queue.clear()
        self.transport = None

    def data_received(self, data: bytes) -> None:
        self.net.rx += len(data)
        if self.closing:
            return
        if self.buf:
            data = self.buf + data
            self.buf = b""
        out: list[bytes] = []
        pos, n = 0, len(data)
        cache, handler, queue = self.cache, self.handler, self.queue
        while pos < n:
            end = data.find(b"\r\n\r\n", pos)
            if end < 0:
                if n - pos > MAX_HEAD:
                    self._fail(out, BadRequest(431, "head_too_large"))
                    return
                break
            head = data[pos:end]
            req = cache.get(head)
            if req is None:
                try:
                    req = parse_head(head)
                except BadRequest as exc:
                    self._fail(out, exc)
                    return
                if len(cache) >= HEAD_CACHE_SIZE:
                    cache.clear()
                cache[head] = req
            start = end + 4
            if req.content_length:
                if n - start < req.content_length:
                    break
                body = data[start:start + req.content_length]
                pos = start + req.content_length
            else:
                body = b""
                pos = start
            result = handler(req, body)
            if not req.keep_alive:
                self.closing = True
            if isinstance(result, bytes):
                if not req.keep_alive:
                    result = _close_variant(result)
                if queue:
                    queue.append(result)
                else:
                    out.append(result)
            else:
                if out:
                    self._write(out)
                    out = []
                task = asyncio.ensure_future(self._finish(result, req.keep_alive))
                queue.append(task)
                task.add_done_callback(self._drain)
            if self.closing:
                break
        if pos < n and not self.closing:
            self.buf = data[pos:]
        if out:
            self._write(out)
        if self.closing and not queue and self.transport is not None:
            self.transport.close()
        elif len(queue) > MAX_QUEUED and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()

    def _write(self, out: list[bytes]) -> None:
        data = b"".join(out)
        self.net.tx += len(data)
        self.transport.write(data)  # type: ignore[union-attr]  # callers hold a live transport

    @staticmethod
    async def _finish(pending: Awaitable[bytes], keep_alive: bool) -> bytes:
        result = await pending
        return result if keep_alive else _close_variant(result)

    def _drain(self, _: object = None) -> None:
        queue, out = self.queue, []
        while queue:
            head = queue[0]
            if type(head) is bytes:
                out.append(queue.popleft())
                continue
            if not head.done():
                break
            queue.popleft()
            if head.cancelled():
                continue
            exc = head.exception()
            out.append(json_response(500, {"error": "internal"}) if exc else head.result())
        if self.transport is None:
            return
        if out:
            self._write(out)
        if self.closing and not queue:
            self.transport.close()
        elif self.paused and len(queue) <= MAX_QUEUED // 2:
            self.paused = False
            self.transport.resume_reading()

    def _fail(self, out: list[bytes], exc: BadRequest) -> None:
        self.closing = True
        out.append(_close_variant(json_response(exc.status, {"error": exc.error})))
        if self.queue:
            self.queue.extend(out)
        elif self.transport is not None:
            self._write(out)
            self.transport.close()


async def serve_http(handler: Handler, host: str, port: int, net: NetBytes | None = None) -> asyncio.base_events.Server:
    """Serve `handler` on host:port; `net` counts the bytes read and written (the node's network counters)."""
    loop = asyncio.get_running_loop()
    cache: dict[bytes, Request] = {}
    counter = net or NetBytes()
    return await loop.create_server(lambda: HttpProtocol(handler, cache, counter), host, port, backlog=4096, reuse_address=True)
