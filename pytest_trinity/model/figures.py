"""What one level measured, reduced to the figures the plan's checks read.

Client figures come from the load driver; server figures come from the telemetry, keyed by
the red flags' `source` (e.g. "cluster-stats", "container-insights"). A figure that was not
measured is absent (or None), never zero: an unmeasured check is reported as such.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any


@dataclass(frozen=True)
class LevelFigures:
    level: int
    planned: int  # the requests the level was to make
    sent: int  # the requests that went out on the wire
    ok: int
    errors_5xx: int
    silent_failures: int  # timeouts, resets, connect/protocol errors, lost packets, never finished
    p50_ms: float | None
    p99_ms: float | None
    cache_hit_p50_ms: float | None
    rps: float
    sources: dict[str, dict[str, float]] = field(default_factory=dict)
    server_requests: int | None = None  # the servers' count of this level's requests
    admin_polls: int = 0  # admin (cluster-stats) polls made while the level ran
    admin_polls_ok: int = 0
    recovery_sent: int | None = None  # the recovery probe after the level (None: not run)
    recovery_ok: int = 0
    recovery_detail: str = ""
    memory_growth_pct: float | None = None  # endurance: fitted RSS growth over the hold so far
    failure_classes: dict[str, int] = field(default_factory=dict)  # e.g. {"429 rate_limited": 3, "timeout": 1}
    unsent: int = 0  # due requests the driver could not send before the run's end
    abandoned: int = 0  # requests still in flight when the run ended (not awaited)

    @property
    def shortfall(self) -> int:
        """Planned requests the driver did not send or await: the client's shortfall, not the service's."""
        return self.unsent + self.abandoned

    @property
    def attempted(self) -> int:
        """What success is measured against: every planned request except the shortfall."""
        return self.planned - self.shortfall

    @property
    def success_pct(self) -> float:
        """ok / attempted: a request refused at connect, or never answered, failed."""
        if self.attempted <= 0:
            return 100.0 if self.planned == 0 else 0.0
        return 100.0 * self.ok / self.attempted

    @property
    def silent_failure_pct(self) -> float:
        return 100.0 * self.silent_failures / self.attempted if self.attempted > 0 else 0.0

    def metric(self, source: str, name: str) -> float | None:
        return self.sources.get(source, {}).get(name)

    def with_sources(self, extra: dict[str, dict[str, float]]) -> LevelFigures:
        """These figures with more metrics per source (a `pytest_trinity_level_figures` hook's)."""
        sources = {name: dict(metrics) for name, metrics in self.sources.items()}
        for name, metrics in extra.items():
            sources.setdefault(name, {}).update(metrics)
        return replace(self, sources=sources)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["success_pct"] = self.success_pct
        data["silent_failure_pct"] = self.silent_failure_pct
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LevelFigures:
        return cls(**{f.name: data[f.name] for f in fields(cls) if f.name in data})
