"""Results of a load run as JSON-serialisable frozen data: per-kind outcomes and latency,
a per-second series, open-model send accounting, and how the run ended.

A `ShardResult` is what one worker returns (picklable plain data); `LoadResult.merge` sums
shards (counters added, histograms merged with decode/add, series summed by second).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pytest_trinity.drivers.latency import Latency, SecondSample, merge, merge_series
from pytest_trinity.drivers.outcomes import Outcomes

STOP_REASONS = ("completed", "request_limit", "time_limit", "interrupted", "failed")


@dataclass(frozen=True)
class KindResult:
    """One request kind's outcomes and latencies.

    `latency`: closed model, from the actual send; open model, from the planned send time
    (coordinated-omission corrected). `service_time`: always from the actual send (in the
    closed model it equals `latency`). `cache_hits`: latency of 2xx cache-hit responses.
    """

    name: str
    outcomes: Outcomes
    latency: Latency
    service_time: Latency
    cache_hits: Latency

    def __add__(self, other: KindResult) -> KindResult:
        return KindResult(self.name, self.outcomes + other.outcomes, self.latency + other.latency,
                          self.service_time + other.service_time, self.cache_hits + other.cache_hits)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "outcomes": self.outcomes.to_dict(), "latency": self.latency.to_dict(),
                "service_time": self.service_time.to_dict(), "cache_hits": self.cache_hits.to_dict()}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> KindResult:
        return cls(d["name"], Outcomes.from_dict(d["outcomes"]), Latency.from_dict(d["latency"]),
                   Latency.from_dict(d["service_time"]), Latency.from_dict(d["cache_hits"]))


@dataclass(frozen=True)
class ShardResult:
    """What one shard returns: plain data, picklable, JSON-able."""

    index: int
    kinds: tuple[KindResult, ...]
    series: tuple[SecondSample, ...]
    elapsed: float
    stop_reason: str
    late_sends: int = 0
    unsent: int = 0
    max_send_lag_us: int = 0
    cpu_seconds: float = 0.0
    peak_rss_bytes: int = 0
    peak_connections: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "peak_rss_bytes": self.peak_rss_bytes, "peak_connections": self.peak_connections,
                "kinds": [k.to_dict() for k in self.kinds],
                "series": [dict(s.to_dict(), encoded=s.encoded) for s in self.series], "elapsed": self.elapsed,
                "stop_reason": self.stop_reason, "late_sends": self.late_sends, "unsent": self.unsent,
                "max_send_lag_us": self.max_send_lag_us, "cpu_seconds": self.cpu_seconds}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ShardResult:
        return cls(d["index"], tuple(KindResult.from_dict(k) for k in d["kinds"]),
                   tuple(SecondSample.from_dict(s) for s in d["series"]), d["elapsed"], d["stop_reason"],
                   d.get("late_sends", 0), d.get("unsent", 0), d.get("max_send_lag_us", 0), d.get("cpu_seconds", 0.0),
                   d.get("peak_rss_bytes", 0), d.get("peak_connections", 0))


@dataclass(frozen=True)
class LoadResult:
    """A whole run: per-kind results (`kinds[name]`), the totals over all kinds, the series.

    Open model: `late_sends` counts sends made more than the model's `late_send_us` after
    their planned time, `unsent` planned sends never made (no free connection/window within
    the timeout, or still waiting when the plan ended), `max_send_lag_us` the worst lag.
    Latency histograms hold every completed HTTP response (any status) and every answered
    UDP request (ok or error reply); timeouts, resets, lost and late requests have none.
    `peak_rss_bytes` sums the shards' peak RSS; `peak_connections` sums their most-open.
    """

    protocol: str
    model: dict[str, Any]
    kinds: dict[str, KindResult]
    series: tuple[SecondSample, ...]
    elapsed: float
    stop_reason: str
    shards: int
    late_sends: int = 0
    unsent: int = 0
    max_send_lag_us: int = 0
    cpu_seconds: float = 0.0
    errors: tuple[str, ...] = field(default=())
    peak_rss_bytes: int = 0
    peak_connections: int = 0

    @property
    def interrupted(self) -> bool:
        return self.stop_reason == "interrupted"

    @cached_property
    def outcomes(self) -> Outcomes:
        total = Outcomes()
        for k in self.kinds.values():
            total = total + k.outcomes
        return total

    @cached_property
    def latency(self) -> Latency:
        return merge(k.latency for k in self.kinds.values())

    @cached_property
    def service_time(self) -> Latency:
        return merge(k.service_time for k in self.kinds.values())

    @cached_property
    def cache_hits(self) -> Latency:
        return merge(k.cache_hits for k in self.kinds.values())

    @property
    def requests_per_second(self) -> float:
        """Completed requests per second of the run."""
        return self.outcomes.completed / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def cpu_us_per_request(self) -> float:
        n = self.outcomes.completed
        return self.cpu_seconds * 1e6 / n if n else 0.0

    @classmethod
    def merge(cls, protocol: str, model: dict[str, Any], shards: list[ShardResult],
              stop_reason: str | None = None, errors: tuple[str, ...] = ()) -> LoadResult:
        kinds: dict[str, KindResult] = {}
        for sh in shards:
            for k in sh.kinds:
                kinds[k.name] = kinds[k.name] + k if k.name in kinds else k
        if stop_reason is None:
            reasons = {sh.stop_reason for sh in shards}
            stop_reason = next((r for r in ("failed", "interrupted", "time_limit", "request_limit") if r in reasons),
                               "completed")
        return cls(protocol, model, kinds, tuple(merge_series(sh.series for sh in shards)),
                   max((sh.elapsed for sh in shards), default=0.0), stop_reason, len(shards),
                   sum(sh.late_sends for sh in shards), sum(sh.unsent for sh in shards),
                   max((sh.max_send_lag_us for sh in shards), default=0), sum(sh.cpu_seconds for sh in shards),
                   errors, sum(sh.peak_rss_bytes for sh in shards),
                   sum(sh.peak_connections for sh in shards))

    def summary(self) -> str:
        o = self.outcomes
        lat = self.latency
        return (f"{self.protocol} {self.model.get('model')}: {o.completed} done in {self.elapsed:.2f}s "
                f"({self.requests_per_second:.0f}/s), ok={o.ok}, failures={o.failures}, "
                f"p50={lat.percentile_ms(50):.3f}ms p99={lat.percentile_ms(99):.3f}ms, stop={self.stop_reason}")

    def to_dict(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "model": dict(self.model),
                "kinds": {n: k.to_dict() for n, k in self.kinds.items()},
                "totals": {"outcomes": self.outcomes.to_dict(), "latency": self.latency.to_dict(),
                           "cache_hits": self.cache_hits.to_dict(),
                           "requests_per_second": self.requests_per_second},
                "series": [s.to_dict() for s in self.series], "elapsed": self.elapsed,
                "stop_reason": self.stop_reason, "interrupted": self.interrupted, "shards": self.shards,
                "late_sends": self.late_sends, "unsent": self.unsent, "max_send_lag_us": self.max_send_lag_us,
                "cpu_seconds": self.cpu_seconds, "errors": list(self.errors),
                "peak_rss_bytes": self.peak_rss_bytes, "peak_connections": self.peak_connections}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LoadResult:
        return cls(d["protocol"], dict(d["model"]), {n: KindResult.from_dict(k) for n, k in d["kinds"].items()},
                   tuple(SecondSample.from_dict(s) for s in d["series"]), d["elapsed"], d["stop_reason"],
                   d["shards"], d.get("late_sends", 0), d.get("unsent", 0), d.get("max_send_lag_us", 0),
                   d.get("cpu_seconds", 0.0), tuple(d.get("errors", ())),
                   d.get("peak_rss_bytes", 0), d.get("peak_connections", 0))
