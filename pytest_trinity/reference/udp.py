"""The UDP request handler: one JSON datagram `{"id","key","symbol"}` in, one answer out
(`{"id",…price…}` or `{"id","error"}`). The sockets, queues and workers are udpserver.py's.

Error replies are byte templates built once under the dialect's `error` words; only the id is
formatted in per reply.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable
from typing import Any

from pytest_trinity.reference import keys as K
from pytest_trinity.reference.counters import Counters
from pytest_trinity.reference.dialect import Dialect
from pytest_trinity.reference.prices import valid_symbol
from pytest_trinity.reference.serving import Serving


def _template(word: str) -> bytes:
    """`{"id":%d,"error":"<word>"}` for bytes %-formatting (a % in the word is escaped)."""
    return b'{"id":%%d,"error":%s}' % json.dumps(word).encode().replace(b"%", b"%%")


class UdpErrors:
    """The UDP error replies, as templates taking the request id."""

    def __init__(self, dialect: Dialect) -> None:
        w = dialect.refusal
        self.bad_request = b'{"id":null,"error":%s}' % json.dumps(w("bad_request")).encode()
        self.bad_symbol = _template(w("bad_symbol"))
        self.overloaded = _template(w("overloaded"))
        self.internal = _template(w("internal"))
        # admission verdict -> (status logged, reply template)
        self.refusals = {K.UNAUTHORIZED: (401, _template(w("unauthorized"))), K.RATE_LIMITED: (429, _template(w("rate_limited"))),
                         K.MONTHLY_CAP: (429, _template(w("monthly_cap")))}

    def failure(self, status: int) -> bytes:
        return self.overloaded if status == 503 else self.internal


class UdpApi:
    """The handler of the UDP port (udpserver's `DatagramHandler`)."""

    def __init__(self, serving: Serving, keys: K.KeyRing, dialect: Dialect) -> None:
        self.serving = serving
        self.counters: Counters = serving.counters
        self.keys = keys
        self.prices = serving.prices
        self.errors = UdpErrors(dialect)
        self.refusals = self.errors.refusals
        self.log_usage = serving.log_usage

    def handle(self, data: bytes) -> bytes | Awaitable[bytes] | None:
        c = self.counters
        c.udp_requests += 1
        try:
            msg = json.loads(data)
            rid = msg["id"]
            if type(rid) is not int or rid < 0:
                raise ValueError
        except (ValueError, KeyError, TypeError):
            c.errors_4xx += 1
            self.log_usage(None, "udp", "/price", "", 400)
            return self.errors.bad_request
        if self.serving.fault_gate:
            return self._faulted(rid, msg)
        return self._route(rid, msg)

    def _route(self, rid: int, msg: dict[str, Any]) -> bytes | Awaitable[bytes]:
        c = self.counters
        key = msg.get("key")
        ks = self.keys.by_text.get(key) if type(key) is str else None
        symbol = msg.get("symbol")
        if type(symbol) is not str:
            symbol = ""
        verdict = self.keys.admit(ks)
        if verdict:
            status, template = self.refusals[verdict]
            c.errors_4xx += 1
            self.log_usage(ks, "udp", "/price", symbol, status)
            return template % rid
        entry = self.prices.get_fresh(symbol)
        if entry is not None:
            self.log_usage(ks, "udp", "/price", symbol, 200)
            return b'{"id":%d%s' % (rid, entry.udp_tail)
        if not valid_symbol(symbol):
            c.errors_4xx += 1
            self.log_usage(ks, "udp", "/price", symbol, 400)
            return self.errors.bad_symbol % rid
        return self._slow(rid, ks, symbol)

    async def _slow(self, rid: int, ks: K.KeyState | None, symbol: str) -> bytes:
        found = await self.serving.slow_price(ks, "udp", symbol)
        if isinstance(found, int):
            return self.errors.failure(found) % rid
        return b'{"id":%d%s' % (rid, found[0].udp_tail)

    async def _faulted(self, rid: int, msg: dict[str, Any]) -> bytes:
        status = await self.serving.injected_fault("udp", "/price")
        if status is not None:
            return self.errors.failure(status) % rid
        result = self._route(rid, msg)
        return result if isinstance(result, bytes) else await result
