"""The node's 24 telemetry counters, and the figures derived from them (rates and percentages).

Counters are plain attributes incremented on the event loop's thread (one node = one loop), so
they are exact without locks. `db_open`, `db_in_use` and `db_max_open` are gauges read from the
DB pool when a snapshot is taken; a reset leaves them as they are (they describe the pool, not
traffic). Every other counter is cumulative since start or since the last reset.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

COUNTER_NAMES = (
    "tcp_requests", "udp_requests", "lrs_requests", "syncmap_hits", "cache_hits",
    "rest_fallbacks", "packets_received", "packets_sent", "udp_dropped", "bg_submitted",
    "bg_completed", "bg_dropped", "rows_queued", "batch_flushes", "batch_flush_errors",
    "rate_limit_hits", "monthly_cap_hits", "auth_failures", "errors_4xx", "errors_5xx",
    "db_open", "db_in_use", "db_wait_count", "db_max_open",
)
GAUGES = ("db_open", "db_in_use", "db_max_open")


class Counters:
    __slots__ = COUNTER_NAMES
    tcp_requests: int
    udp_requests: int
    lrs_requests: int
    syncmap_hits: int
    cache_hits: int
    rest_fallbacks: int
    packets_received: int
    packets_sent: int
    udp_dropped: int
    bg_submitted: int
    bg_completed: int
    bg_dropped: int
    rows_queued: int
    batch_flushes: int
    batch_flush_errors: int
    rate_limit_hits: int
    monthly_cap_hits: int
    auth_failures: int
    errors_4xx: int
    errors_5xx: int
    db_open: int
    db_in_use: int
    db_wait_count: int
    db_max_open: int
    # (one annotation per counter, for the type checker; checked against COUNTER_NAMES below)

    def __init__(self) -> None:
        self.zero()

    def zero(self) -> None:
        for name in COUNTER_NAMES:
            if name not in GAUGES or not hasattr(self, name):
                setattr(self, name, 0)

    def as_dict(self, names: tuple[str, ...] = COUNTER_NAMES) -> dict[str, int]:
        """The counters in `names` order (the plan's list); names this node lacks are left out."""
        return {n: getattr(self, n) for n in names if n in COUNTER_NAMES}


assert tuple(Counters.__annotations__) == COUNTER_NAMES, "Counters' annotations must list COUNTER_NAMES"


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 4) if whole else None


@dataclass(frozen=True)
class RateSample:
    at: float
    tcp: int
    udp: int


class Derived:
    """Rates over the last sampling window, and the plan's percentages (None when undefined)."""

    def __init__(self) -> None:
        self.previous = RateSample(time.monotonic(), 0, 0)
        self.latest = self.previous

    def sample(self, c: Counters) -> None:
        """Called once per publish period: the rates describe the window between two samples."""
        self.previous, self.latest = self.latest, RateSample(time.monotonic(), c.tcp_requests, c.udp_requests)

    def restart(self) -> None:
        now = time.monotonic()
        self.previous = self.latest = RateSample(now, 0, 0)

    def compute(self, c: Counters) -> dict[str, float | None]:
        now = time.monotonic()
        base = self.latest if now - self.latest.at >= 0.5 else self.previous
        span = max(now - base.at, 1e-6)
        tcp_rps = max(c.tcp_requests - base.tcp, 0) / span
        udp_rps = max(c.udp_requests - base.udp, 0) / span
        lookups = c.syncmap_hits + c.cache_hits + c.rest_fallbacks
        return {
            "tcp_rps": round(tcp_rps, 2),
            "udp_rps": round(udp_rps, 2),
            "total_rps": round(tcp_rps + udp_rps, 2),
            "syncmap_hit_pct": _pct(c.syncmap_hits, lookups),
            "cache_hit_pct": _pct(c.cache_hits, lookups),
            "udp_drop_pct": _pct(c.udp_dropped, c.packets_received),
            "bg_drop_pct": _pct(c.bg_dropped, c.bg_submitted),
        }


def derive_totals(totals: dict[str, int]) -> dict[str, float | None]:
    """Cluster-wide percentages from summed counters (rates are summed by the caller)."""
    g = totals.get
    lookups = g("syncmap_hits", 0) + g("cache_hits", 0) + g("rest_fallbacks", 0)
    return {
        "syncmap_hit_pct": _pct(g("syncmap_hits", 0), lookups),
        "cache_hit_pct": _pct(g("cache_hits", 0), lookups),
        "udp_drop_pct": _pct(g("udp_dropped", 0), g("packets_received", 0)),
        "bg_drop_pct": _pct(g("bg_dropped", 0), g("bg_submitted", 0)),
    }
