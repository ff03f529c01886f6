"""API-key admission: who the key is, its QPS + burst token bucket and its monthly cap.

Public keys are limited (bucket from the profile's `qps`/`burst`, per node) and capped
(monthly usage, cluster-wide: each node adds its local count to a Redis counter once per
publish period, so through the load balancer the cap is exact only up to one period's
traffic; on one node it is exact). Partner keys are never limited or capped, only counted.
"""

from __future__ import annotations

import time
from typing import Any

from pytest_trinity.reference.secrets import KeySpec

OK = 0
UNAUTHORIZED = 1
RATE_LIMITED = 2
MONTHLY_CAP = 3


def month_tag(epoch: float | None = None) -> str:
    return time.strftime("%Y%m", time.gmtime(epoch))


class KeyState:
    """The mutable state of one key on this node."""

    __slots__ = ("spec", "key_id", "public", "cap", "tokens", "last", "month_local", "month_synced")

    def __init__(self, spec: KeySpec, burst: float) -> None:
        self.spec = spec
        self.key_id = spec.key_id
        self.public = spec.tier == "public"
        self.cap = spec.monthly_cap if self.public else None
        self.tokens = float(burst)
        self.last = time.monotonic()
        self.month_local = 0    # admitted here since the last sync
        self.month_synced = 0   # the cluster-wide total at the last sync


class KeyRing:
    """Admission control. `admit` is on the hot path of every API request (TCP and UDP)."""

    def __init__(self, specs: tuple[KeySpec, ...], counters: Any) -> None:
        self.counters = counters
        self.qps = 1.0
        self.burst = 1.0
        self.states = [KeyState(s, self.burst) for s in specs]
        self.by_text: dict[str, KeyState] = {s.spec.key.value: s for s in self.states}
        self.by_bytes: dict[bytes, KeyState] = {k.encode(): s for k, s in self.by_text.items()}
        self.by_id: dict[str, KeyState] = {s.key_id: s for s in self.states}

    def configure(self, qps: float, burst: float) -> None:
        """A new profile: new bucket size and rate; every bucket starts full."""
        self.qps, self.burst = float(qps), float(burst)
        now = time.monotonic()
        for s in self.states:
            s.tokens, s.last = self.burst, now

    def admit(self, state: KeyState | None) -> int:
        c = self.counters
        if state is None:
            c.auth_failures += 1
            return UNAUTHORIZED
        if state.public:
            if state.cap is not None and state.month_synced + state.month_local >= state.cap:
                c.monthly_cap_hits += 1
                return MONTHLY_CAP
            now = time.monotonic()
            tokens = state.tokens + (now - state.last) * self.qps
            if tokens > self.burst:
                tokens = self.burst
            state.last = now
            if tokens < 1.0:
                state.tokens = tokens
                c.rate_limit_hits += 1
                return RATE_LIMITED
            state.tokens = tokens - 1.0
        state.month_local += 1
        return OK

    async def sync_monthly(self, redis: Any) -> None:
        """Add each key's local monthly count to the cluster-wide Redis counter, read the total."""
        tag = month_tag()
        pipe = redis.pipeline(transaction=False)
        moved: list[tuple[KeyState, int]] = []
        for s in self.states:
            n, s.month_local = s.month_local, 0
            moved.append((s, n))
            pipe.incrby(f"usage:month:{tag}:{s.key_id}", n)
        try:
            totals = await pipe.execute()
        except BaseException:
            for s, n in moved:  # not synced: keep the counts for the next period
                s.month_local += n
            raise
        for (s, _), total in zip(moved, totals, strict=True):
            s.month_synced = int(total)
