"""Results of a load run as JSON-serialisable frozen data: per-kind outcomes and latency,
a per-second series, open-model send accounting, and how the run ended.

A `ShardResult` is what one worker returns (picklable plain data); `LoadResult.merge` sums
shards (counters added, histograms merged with decode/add, series summed by second) and keeps
a `ShardReport` per shard: which worker ran it, when it started, what it did.
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
    started_at: float = 0.0  # wall clock (time.time()) of the shard's first request; 0: never started
    planned: int = 0  # requests this shard planned (its share of the run's budget)

    @property
    def completed(self) -> int:
        return sum(k.outcomes.completed for k in self.kinds)

    def to_dict(self) -> dict[str, Any]:
        return {"index": self.index, "peak_rss_bytes": self.peak_rss_bytes, "peak_connections": self.peak_connections,
                "started_at": self.started_at, "planned": self.planned,
                "kinds": [k.to_dict() for k in self.kinds],
                "series": [dict(s.to_dict(), encoded=s.encoded) for s in self.series], "elapsed": self.elapsed,
                "stop_reason": self.stop_reason, "late_sends": self.late_sends, "unsent": self.unsent,
                "max_send_lag_us": self.max_send_lag_us, "cpu_seconds": self.cpu_seconds}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ShardResult:
        return cls(d["index"], tuple(KindResult.from_dict(k) for k in d["kinds"]),
                   tuple(SecondSample.from_dict(s) for s in d["series"]), d["elapsed"], d["stop_reason"],
                   d.get("late_sends", 0), d.get("unsent", 0), d.get("max_send_lag_us", 0), d.get("cpu_seconds", 0.0),
                   d.get("peak_rss_bytes", 0), d.get("peak_connections", 0), d.get("started_at", 0.0), d.get("planned", 0))


@dataclass(frozen=True)
class ShardReport:
    """Which worker ran one shard and what it did (`error`: why it has no result)."""

    index: int
    worker: str  # "tcp://10.0.1.5:40331" on Dask, "local pid 1234" in the local pool
    streams: tuple[str, ...]
    started_at: float
    elapsed: float
    requests: int  # completed
    errors: int
    cpu_seconds: float
    stop_reason: str
    latency: Latency
    error: str = ""

    @classmethod
    def of(cls, result: ShardResult, worker: str) -> ShardReport:
        failures = sum(k.outcomes.failures for k in result.kinds)
        return cls(result.index, worker, tuple(k.name for k in result.kinds), result.started_at, result.elapsed,
                   result.completed, failures, result.cpu_seconds, result.stop_reason, merge(k.latency for k in result.kinds))

    @classmethod
    def failed(cls, index: int, worker: str, streams: tuple[str, ...], error: str) -> ShardReport:
        return cls(index, worker, streams, 0.0, 0.0, 0, 0, 0.0, "failed", Latency.empty(), error)

    def to_dict(self) -> dict[str, Any]:
        return {"shard": self.index, "worker": self.worker, "streams": list(self.streams), "started_at": self.started_at,
                "elapsed": self.elapsed, "requests": self.requests, "errors": self.errors, "cpu_seconds": self.cpu_seconds,
                "stop_reason": self.stop_reason, "latency": self.latency.to_dict(), "error": self.error}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ShardReport:
        return cls(int(d["shard"]), str(d["worker"]), tuple(d["streams"]), float(d["started_at"]), float(d["elapsed"]),
                   int(d["requests"]), int(d["errors"]), float(d["cpu_seconds"]), str(d["stop_reason"]),
                   Latency.from_dict(d["latency"]), str(d.get("error", "")))


def start_skew(reports: tuple[ShardReport, ...]) -> float | None:
    """Seconds between the first and the last shard's start (None with fewer than two started).
    Each start is read on its own machine's clock, the clock it waited on: an offset between
    two machines' clocks is real skew this does not show (NTP keeps it well under a ms)."""
    starts = [r.started_at for r in reports if r.started_at > 0]
    return max(starts) - min(starts) if len(starts) > 1 else None


@dataclass(frozen=True)
class LoadResult:
    """A whole run: per-kind results (`kinds[name]`), the totals over all kinds, the series.

    Open model: `late_sends` counts sends made more than the model's `late_send_us` after
    their planned time, `unsent` planned sends never made (no free connection/window within
    the timeout, or still waiting when the plan ended), `max_send_lag_us` the worst lag.
    Latency histograms hold every completed HTTP response (any status) and every answered
    UDP request (ok or error reply); timeouts, resets, lost and late requests have none.
    `peak_rss_bytes` sums the shards' peak RSS; `peak_connections` sums their most-open.
    `planned` is what the shards planned to send (an open model's shards round their share
    down); `executor` names where the shards ran ("local" or "dask://host:port"), `by_shard`
    which worker ran each, and `start_skew_s` how far apart they started.
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
    planned: int = 0
    executor: str = "local"
    by_shard: tuple[ShardReport, ...] = ()
    start_skew_s: float | None = None

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
              stop_reason: str | None = None, errors: tuple[str, ...] = (), executor: str = "local",
              by_shard: tuple[ShardReport, ...] | None = None) -> LoadResult:
        """The run of `shards`; `by_shard` (default: one report per shard, worker unnamed)
        also lists shards that failed without a result."""
        kinds: dict[str, KindResult] = {}
        for sh in shards:
            for k in sh.kinds:
                kinds[k.name] = kinds[k.name] + k if k.name in kinds else k
        if stop_reason is None:
            reasons = {sh.stop_reason for sh in shards}
            stop_reason = next((r for r in ("failed", "interrupted", "time_limit", "request_limit") if r in reasons),
                               "completed")
        reports = by_shard if by_shard is not None else tuple(ShardReport.of(sh, "") for sh in shards)
        return cls(protocol, model, kinds, tuple(merge_series(sh.series for sh in shards)),
                   max((sh.elapsed for sh in shards), default=0.0), stop_reason, len(reports),
                   sum(sh.late_sends for sh in shards), sum(sh.unsent for sh in shards),
                   max((sh.max_send_lag_us for sh in shards), default=0), sum(sh.cpu_seconds for sh in shards),
                   errors, sum(sh.peak_rss_bytes for sh in shards),
                   sum(sh.peak_connections for sh in shards), sum(sh.planned for sh in shards), executor, reports,
                   start_skew(reports))

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
                "peak_rss_bytes": self.peak_rss_bytes, "peak_connections": self.peak_connections,
                "planned": self.planned, "executor": self.executor, "by_shard": [r.to_dict() for r in self.by_shard],
                "start_skew_ms": None if self.start_skew_s is None else round(self.start_skew_s * 1000, 3)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> LoadResult:
        skew = d.get("start_skew_ms")
        return cls(d["protocol"], dict(d["model"]), {n: KindResult.from_dict(k) for n, k in d["kinds"].items()},
                   tuple(SecondSample.from_dict(s) for s in d["series"]), d["elapsed"], d["stop_reason"],
                   d["shards"], d.get("late_sends", 0), d.get("unsent", 0), d.get("max_send_lag_us", 0),
                   d.get("cpu_seconds", 0.0), tuple(d.get("errors", ())),
                   d.get("peak_rss_bytes", 0), d.get("peak_connections", 0), d.get("planned", 0), d.get("executor", "local"),
                   tuple(ShardReport.from_dict(r) for r in d.get("by_shard", ())), None if skew is None else skew / 1000)
