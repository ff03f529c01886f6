"""What the load driver did during a level, as the record keeps it: the model it ran, the
outcome counts, the latency histograms and the per-second series.

The driver's own result types (`pytest_trinity.drivers`) carry the same data with the
machinery to measure and merge it; `LoadSummary.from_json(result.to_dict())` is the one
crossing point, so nothing above the drivers depends on them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hdrh.histogram import HdrHistogram


@dataclass(frozen=True)
class LoadModel:
    """The load model the driver ran: closed (N requests, C in flight) or open (a rate)."""

    kind: str  # "closed" or "open"
    requests: int | None = None
    concurrency: int | None = None
    rate: float | None = None
    duration: float | None = None
    connections: int | None = None
    late_send_us: int | None = None

    @property
    def is_open(self) -> bool:
        return self.kind == "open"

    def to_json(self) -> dict[str, Any]:
        if self.is_open:
            return {"model": "open", "rate": self.rate, "duration": self.duration, "connections": self.connections,
                    "late_send_us": self.late_send_us}
        return {"model": self.kind, "requests": self.requests, "concurrency": self.concurrency}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LoadModel:
        return cls(str(data["model"]), data.get("requests"), data.get("concurrency"), data.get("rate"), data.get("duration"),
                   data.get("connections"), data.get("late_send_us"))


@dataclass(frozen=True)
class Histogram:
    """A latency distribution: the encoded HdrHistogram plus a few ready numbers (µs)."""

    encoded: str
    count: int
    min_us: int
    max_us: int
    mean_us: float
    percentiles_us: dict[str, int]

    def percentiles_ms(self) -> list[tuple[float, float]]:
        """(percentile, ms) of the stored percentiles, ascending; zeros left out."""
        return sorted((float(k.lstrip("p")), v / 1000.0) for k, v in self.percentiles_us.items() if v)

    def spectrum_ms(self, percentiles: Iterable[float]) -> list[tuple[float, float]]:
        """(percentile, ms) at each of `percentiles`, read from the full histogram; the stored
        percentiles when it has none (or nothing was recorded)."""
        if not (self.encoded and self.count):
            return self.percentiles_ms()
        hist = HdrHistogram.decode(self.encoded.encode("ascii"))
        return [(p, hist.get_value_at_percentile(p) / 1000.0) for p in percentiles]

    def to_json(self) -> dict[str, Any]:
        return {"encoded": self.encoded, "count": self.count, "min_us": self.min_us, "max_us": self.max_us,
                "mean_us": self.mean_us, "percentiles_us": dict(self.percentiles_us)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Histogram:
        return cls(str(data["encoded"]), int(data["count"]), int(data["min_us"]), int(data["max_us"]), float(data["mean_us"]),
                   {str(k): int(v) for k, v in data["percentiles_us"].items()})


@dataclass(frozen=True)
class Second:
    """One second of the series (t: seconds since the level's load started)."""

    t: int
    requests: int
    errors: int
    p50_us: int
    p99_us: int

    def to_json(self) -> dict[str, Any]:
        return {"t": self.t, "requests": self.requests, "errors": self.errors, "p50_us": self.p50_us, "p99_us": self.p99_us}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Second:
        return cls(int(data["t"]), int(data["requests"]), int(data["errors"]), int(data["p50_us"]), int(data["p99_us"]))


@dataclass(frozen=True)
class KindLoad:
    """One request kind (a stream of the test) and what became of its requests."""

    name: str
    outcomes: dict[str, Any]  # outcome class -> count (maps by status code / error text for some classes)
    latency: Histogram
    service_time: Histogram
    cache_hits: Histogram

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "outcomes": dict(self.outcomes), "latency": self.latency.to_json(),
                "service_time": self.service_time.to_json(), "cache_hits": self.cache_hits.to_json()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> KindLoad:
        return cls(str(data["name"]), dict(data["outcomes"]), Histogram.from_json(data["latency"]),
                   Histogram.from_json(data["service_time"]), Histogram.from_json(data["cache_hits"]))


@dataclass(frozen=True)
class ShardLoad:
    """One shard of the level's load: the worker that ran it and what it did."""

    shard: int
    worker: str
    streams: tuple[str, ...]
    started_at: float
    elapsed: float
    requests: int
    errors: int
    cpu_seconds: float
    stop_reason: str
    latency: Histogram
    error: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"shard": self.shard, "worker": self.worker, "streams": list(self.streams), "started_at": self.started_at,
                "elapsed": self.elapsed, "requests": self.requests, "errors": self.errors, "cpu_seconds": self.cpu_seconds,
                "stop_reason": self.stop_reason, "latency": self.latency.to_json(), "error": self.error}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ShardLoad:
        return cls(int(data["shard"]), str(data["worker"]), tuple(str(s) for s in data["streams"]), float(data["started_at"]),
                   float(data["elapsed"]), int(data["requests"]), int(data["errors"]), float(data["cpu_seconds"]),
                   str(data["stop_reason"]), Histogram.from_json(data["latency"]), str(data.get("error", "")))


@dataclass(frozen=True)
class LoadSummary:
    """The level's load as the driver measured it. `executor` is where its shards ran
    ("local" or "dask://host:port"), `by_shard` which worker ran each, `start_skew_ms` how far
    apart the first and the last shard started (None with a single shard)."""

    protocol: str
    model: LoadModel
    kinds: dict[str, KindLoad]
    outcomes: dict[str, Any]  # the totals over all kinds
    latency: Histogram
    cache_hits: Histogram
    requests_per_second: float
    series: tuple[Second, ...]
    elapsed: float
    stop_reason: str
    shards: int
    late_sends: int
    unsent: int
    max_send_lag_us: int
    cpu_seconds: float
    errors: tuple[str, ...]
    peak_rss_bytes: int
    peak_connections: int
    executor: str = "local"
    by_shard: tuple[ShardLoad, ...] = ()
    start_skew_ms: float | None = None

    @property
    def interrupted(self) -> bool:
        return self.stop_reason == "interrupted"

    def to_json(self) -> dict[str, Any]:
        return {"protocol": self.protocol, "model": self.model.to_json(), "kinds": {n: k.to_json() for n, k in self.kinds.items()},
                "totals": {"outcomes": dict(self.outcomes), "latency": self.latency.to_json(), "cache_hits": self.cache_hits.to_json(),
                           "requests_per_second": self.requests_per_second},
                "series": [s.to_json() for s in self.series], "elapsed": self.elapsed, "stop_reason": self.stop_reason,
                "interrupted": self.interrupted, "shards": self.shards, "late_sends": self.late_sends, "unsent": self.unsent,
                "max_send_lag_us": self.max_send_lag_us, "cpu_seconds": self.cpu_seconds, "errors": list(self.errors),
                "peak_rss_bytes": self.peak_rss_bytes, "peak_connections": self.peak_connections,
                "executor": self.executor, "by_shard": [s.to_json() for s in self.by_shard], "start_skew_ms": self.start_skew_ms}

    @property
    def client_cpu_use(self) -> float | None:
        """The stress client's CPU use over the level: CPU seconds / (elapsed x shards), 0..1."""
        return self.cpu_seconds / (self.elapsed * self.shards) if self.elapsed > 0 and self.shards else None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LoadSummary:
        totals = data["totals"]
        return cls(
            protocol=str(data["protocol"]), model=LoadModel.from_json(data["model"]),
            kinds={str(n): KindLoad.from_json(k) for n, k in data["kinds"].items()}, outcomes=dict(totals["outcomes"]),
            latency=Histogram.from_json(totals["latency"]), cache_hits=Histogram.from_json(totals["cache_hits"]),
            requests_per_second=float(totals["requests_per_second"]), series=tuple(Second.from_json(s) for s in data["series"]),
            elapsed=float(data["elapsed"]), stop_reason=str(data["stop_reason"]), shards=int(data["shards"]),
            late_sends=int(data.get("late_sends", 0)), unsent=int(data.get("unsent", 0)),
            max_send_lag_us=int(data.get("max_send_lag_us", 0)), cpu_seconds=float(data.get("cpu_seconds", 0.0)),
            errors=tuple(str(e) for e in data.get("errors", ())), peak_rss_bytes=int(data.get("peak_rss_bytes", 0)),
            peak_connections=int(data.get("peak_connections", 0)), executor=str(data.get("executor", "local")),
            by_shard=tuple(ShardLoad.from_json(s) for s in data.get("by_shard", ())),
            start_skew_ms=None if data.get("start_skew_ms") is None else float(data["start_skew_ms"]))


@dataclass(frozen=True)
class ClientCapacity:
    """Could the stress client apply the level's load? `estimate`: what the previous level of
    the test predicted before this one ran ("" without one); `cpu_use`: the client's measured
    CPU use over this level (0..1 of its shards' cores); `warning`: set when the client is
    likely the bottleneck (the level's numbers then describe the client as much as the service)."""

    executor: str
    cores: int
    cpu_use: float | None
    estimate: str = ""
    warning: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"executor": self.executor, "cores": self.cores, "cpu_use": self.cpu_use, "estimate": self.estimate,
                "warning": self.warning}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClientCapacity:
        use = data.get("cpu_use")
        return cls(str(data["executor"]), int(data["cores"]), None if use is None else float(use), str(data.get("estimate", "")),
                   str(data.get("warning", "")))
