"""The HTTP API port: /price (the three-layer lookup) and /reports/usage (LRS), plus /healthz
(the load balancer's health check; 503 while the `unhealthy` fault is set).

Errors are answered from responses built once at start, under the dialect's `error` words; a
map hit is the prebuilt answer of the price entry. Slow steps go through `Serving`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable
from datetime import UTC, datetime

from pytest_trinity.reference import keys as K
from pytest_trinity.reference.counters import Counters
from pytest_trinity.reference.db import DbPool
from pytest_trinity.reference.dialect import Dialect
from pytest_trinity.reference.governor import Overloaded
from pytest_trinity.reference.httpserver import Request, json_response
from pytest_trinity.reference.prices import body_for, ok_response, valid_symbol
from pytest_trinity.reference.serving import Serving

log = logging.getLogger("trinity.node")

RETRY_AFTER = b"Retry-After: 1\r\n"


class HttpErrors:
    """The API's error answers (whole HTTP responses), built once under the dialect's words."""

    def __init__(self, dialect: Dialect) -> None:
        w = dialect.refusal
        self.unauthorized = json_response(401, {"error": w("unauthorized")})
        self.rate_limited = json_response(429, {"error": w("rate_limited")})
        self.monthly_cap = json_response(429, {"error": w("monthly_cap")})
        self.not_found = json_response(404, {"error": w("not_found")})
        self.missing_symbol = json_response(400, {"error": w("missing_symbol")})
        self.bad_symbol = json_response(400, {"error": w("bad_symbol")})
        self.internal = json_response(500, {"error": w("internal")})
        self.overloaded = json_response(503, {"error": w("overloaded")}, RETRY_AFTER)
        self.forbidden = json_response(403, {"error": w("forbidden"), "message": "a key may read its own usage only"})
        self.bad_range = json_response(400, {"error": w("bad_range"), "message": "from/to: epoch seconds or ISO 8601"})
        # admission verdict -> (status, answer)
        self.refusals = {K.UNAUTHORIZED: (401, self.unauthorized), K.RATE_LIMITED: (429, self.rate_limited),
                         K.MONTHLY_CAP: (429, self.monthly_cap)}

    def failure(self, status: int) -> bytes:
        """The answer for a status `Serving` reports (503 shed, else 500)."""
        return self.overloaded if status == 503 else self.internal


def _epoch(text: str | None, default: float) -> float:
    if text is None or text == "":
        return default
    try:
        return float(text)
    except ValueError:
        pass
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def _month_start(now: float) -> float:
    t = time.gmtime(now)
    return datetime(t.tm_year, t.tm_mon, 1, tzinfo=UTC).timestamp()


class Api:
    """The handler of the API port (httpserver's `Handler`)."""

    def __init__(self, serving: Serving, keys: K.KeyRing, pool: DbPool, dialect: Dialect) -> None:
        self.serving = serving
        self.name = serving.name
        self.counters: Counters = serving.counters
        self.keys = keys
        self.prices = serving.prices
        self.pool = pool
        self.errors = HttpErrors(dialect)
        self.refusals = self.errors.refusals
        self.log_usage = serving.log_usage
        self.healthz = json_response(200, {"node": self.name, "status": "ok"})
        self.sick = json_response(503, {"node": self.name, "status": "unhealthy"})

    def handle(self, req: Request, body: bytes) -> bytes | Awaitable[bytes]:
        path = req.path
        if path == "/healthz":
            return self.sick if self.serving.faults.unhealthy else self.healthz
        c = self.counters
        c.tcp_requests += 1
        if path == "/reports/usage":
            c.lrs_requests += 1
        if self.serving.fault_gate:
            return self._faulted(req)
        return self._route(req)

    def _route(self, req: Request) -> bytes | Awaitable[bytes]:
        c = self.counters
        ks = self.keys.by_bytes.get(req.api_key) if req.api_key is not None else None
        path = req.path
        if path == "/price":
            symbol = req.query.get("symbol", "")
            verdict = self.keys.admit(ks)
            if verdict:
                status, resp = self.refusals[verdict]
                c.errors_4xx += 1
                self.log_usage(ks, "tcp", path, symbol, status)
                return resp
            entry = self.prices.get_fresh(symbol)
            if entry is not None:
                self.log_usage(ks, "tcp", path, symbol, 200)
                return entry.http_response
            if not symbol or not valid_symbol(symbol):
                c.errors_4xx += 1
                self.log_usage(ks, "tcp", path, symbol, 400)
                return self.errors.missing_symbol if not symbol else self.errors.bad_symbol
            return self._price_slow(ks, symbol)
        if path == "/reports/usage":
            verdict = self.keys.admit(ks)
            if verdict:
                status, resp = self.refusals[verdict]
                c.errors_4xx += 1
                self.log_usage(ks, "tcp", path, "", status)
                return resp
            assert ks is not None  # admit() refuses a missing key
            return self._report(ks, req.query)
        c.errors_4xx += 1
        self.log_usage(ks, "tcp", "other", "", 404)
        return self.errors.not_found

    async def _faulted(self, req: Request) -> bytes:
        status = await self.serving.injected_fault("tcp", req.path)
        if status is not None:
            return self.errors.failure(status)
        result = self._route(req)
        return result if isinstance(result, bytes) else await result

    async def _price_slow(self, ks: K.KeyState | None, symbol: str) -> bytes:
        found = await self.serving.slow_price(ks, "tcp", symbol)
        if isinstance(found, int):
            return self.errors.failure(found)
        entry, source = found
        return ok_response(body_for(symbol, entry.price, entry.ts, source))

    async def _report(self, ks: K.KeyState, query: dict[str, str]) -> bytes:
        c = self.counters
        key_id = query.get("key_id") or ks.key_id
        if key_id != ks.key_id:
            c.errors_4xx += 1
            self.log_usage(ks, "tcp", "/reports/usage", "", 403)
            return self.errors.forbidden
        now = time.time()
        try:
            t_from = _epoch(query.get("from"), _month_start(now))
            t_to = _epoch(query.get("to"), now + 1)
        except ValueError:
            c.errors_4xx += 1
            self.log_usage(ks, "tcp", "/reports/usage", "", 400)
            return self.errors.bad_range
        try:
            summary = await self.serving.governor.run(self.pool.run("summary", key_id, t_from, t_to))
        except Overloaded:
            status = 503
        except Exception as exc:
            log.error("usage report failed: %s", type(exc).__name__)
            status = 500
        else:
            self.log_usage(ks, "tcp", "/reports/usage", "", 200)
            return json_response(200, {"key_id": key_id, "from": t_from, "to": t_to, "node": self.name, **summary})
        c.errors_5xx += 1
        self.log_usage(ks, "tcp", "/reports/usage", "", status)
        return self.errors.failure(status)
