"""The governor: runs a request's slow step (a Redis or REST lookup, a usage query, an injected
delay) under an in-flight limit, and sheds it (`Overloaded`, answered 503) when the limit is
reached while the governor is on (`adaptive_enabled`). Map hits never wait, so never pass here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")


class Overloaded(Exception):
    """The governor shed this request."""


class Governor:
    """The in-flight count of slow steps, the limit and how many were shed since the last reset."""

    __slots__ = ("enabled", "limit", "inflight", "shed")

    def __init__(self, enabled: bool = False, limit: int = 1) -> None:
        self.enabled = enabled
        self.limit = limit
        self.inflight = 0
        self.shed = 0

    async def run(self, aw: Awaitable[T]) -> T:
        """Await `aw` counted as in flight; above `limit` in flight (governor on), shed it instead."""
        if self.enabled and self.inflight >= self.limit:
            self.shed += 1
            if asyncio.iscoroutine(aw):
                aw.close()
            raise Overloaded
        self.inflight += 1
        try:
            return await aw
        finally:
            self.inflight -= 1

    def view(self) -> dict[str, Any]:
        return {"inflight": self.inflight, "limit": self.limit, "shed": self.shed}
