"""What answering an API request does the same way on TCP and UDP: the usage-log row, the
injected faults (/admin/faults latency and 5xx ratio) and the governed slow price lookup.

The protocol handlers (api.py, udp.py) only parse and format; the outcome of a slow lookup or a
fault comes back from here as a status (already counted and logged) or the price found.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time

from pytest_trinity.reference.counters import Counters
from pytest_trinity.reference.faults import Faults
from pytest_trinity.reference.governor import Governor, Overloaded
from pytest_trinity.reference.keys import KeyState
from pytest_trinity.reference.prices import Entry, PriceBook
from pytest_trinity.reference.usage import Housekeeping

log = logging.getLogger("trinity.node")


class Serving:
    """The request plumbing both protocols share, and the faults in force for requests."""

    def __init__(self, name: str, counters: Counters, prices: PriceBook, usage: Housekeeping, governor: Governor) -> None:
        self.name = name
        self.counters = counters
        self.prices = prices
        self.usage = usage
        self.governor = governor
        self.faults = Faults()
        self.fault_gate = False   # the hot path's one check: does any fault touch requests?

    def set_faults(self, faults: Faults) -> None:
        self.faults = faults
        self.fault_gate = faults.affects_requests

    def log_usage(self, ks: KeyState | None, proto: str, path: str, symbol: str, status: int) -> None:
        self.usage.submit((time.time(), self.name, ks.key_id if ks is not None else "-", proto, path, symbol, status))

    async def injected_fault(self, proto: str, path: str) -> int | None:
        """Apply /admin/faults to one request: its added latency (under the governor, which may
        shed it: 503) and its 5xx ratio (500). The status it failed with, counted and logged."""
        f = self.faults
        status = None
        if f.latency_ms:
            try:
                await self.governor.run(asyncio.sleep(f.latency_ms / 1000.0))
            except Overloaded:
                status = 503
        if status is None and f.error_5xx_ratio and random.random() < f.error_5xx_ratio:
            status = 500
        if status is not None:
            self.counters.errors_5xx += 1
            self.log_usage(None, proto, path, "", status)
        return status

    async def slow_price(self, ks: KeyState | None, proto: str, symbol: str) -> tuple[Entry, str] | int:
        """A map miss: Redis, then REST, under the governor. `(entry, source)` (logged 200), or
        the status it failed with (503 shed, 500 lookup error), counted and logged."""
        try:
            found = await self.governor.run(self.prices.resolve(symbol))
        except Overloaded:
            status = 503
        except Exception as exc:
            log.error("price lookup for %s failed: %s", symbol, type(exc).__name__)
            status = 500
        else:
            self.log_usage(ks, proto, "/price", symbol, 200)
            return found
        self.counters.errors_5xx += 1
        self.log_usage(ks, proto, "/price", symbol, status)
        return status
