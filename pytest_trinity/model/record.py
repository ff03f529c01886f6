"""One level's result record: everything measured, the verdict with its breaches and advice,
and the cross-test facts; `to_json`/`from_json` are results.json's schema v1 for a level.

`check()` is what a plan test calls: it fails the case with every breach.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pytest_trinity.model.cloud import CloudFigures
from pytest_trinity.model.facts import Facts
from pytest_trinity.model.figures import LevelFigures
from pytest_trinity.model.load import ClientCapacity, LoadModel, LoadSummary
from pytest_trinity.model.telemetry import ClusterStats
from pytest_trinity.model.verdict import Verdict
from pytest_trinity.plan import ScaledLevel

MEASURED = ("passed", "failed", "interrupted")  # statuses whose record holds figures
JUDGED = ("passed", "failed")  # statuses whose load ran to its end: what ceilings and comparisons use


@dataclass(frozen=True)
class PollFailure:
    source: str
    at: float
    error: str

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source, "at": self.at, "error": self.error}


@dataclass(frozen=True)
class PollSummary:
    """The telemetry polls made while the level ran."""

    count: int
    failed: tuple[PollFailure, ...]
    max_duration_s: float

    def to_json(self) -> dict[str, Any]:
        return {"count": self.count, "failed": [f.to_json() for f in self.failed], "max_duration_s": self.max_duration_s}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PollSummary:
        return cls(int(data["count"]), tuple(PollFailure(str(f["source"]), float(f["at"]), str(f["error"])) for f in data["failed"]),
                   float(data["max_duration_s"]))


@dataclass(frozen=True)
class LevelRecord:
    test_id: str
    case: str
    level: int
    level_id: str
    plan_requests: int
    plan_concurrent: int
    requests: int
    concurrent: int
    scale: float
    status: str  # "passed", "failed", "error", "skipped" or "interrupted"
    started_at: float
    ended_at: float
    model: LoadModel | None = None
    figures: LevelFigures | None = None
    verdict: Verdict | None = None
    load: LoadSummary | None = None
    cluster: ClusterStats | None = None
    polls: PollSummary | None = None
    facts: Facts = field(default_factory=Facts)
    message: str = ""
    cloud: CloudFigures | None = None  # CloudWatch's view of the level, or of the test's window (level 0)
    client: ClientCapacity | None = None  # the capacity check: was the stress client the bottleneck?

    @classmethod
    def of(cls, test_id: str, case: str, level: ScaledLevel, status: str, started_at: float, ended_at: float,
           **measured: Any) -> LevelRecord:
        """A record of `level` of `test_id`; without `measured` fields, one of a level that
        was skipped or could not be measured (its `message` says why)."""
        return cls(test_id=test_id, case=case, level=level.number, level_id=level.id, plan_requests=level.level.requests,
                   plan_concurrent=level.level.concurrent, requests=level.requests, concurrent=level.concurrent,
                   scale=level.scale, status=status, started_at=started_at, ended_at=ended_at, **measured)

    @property
    def measured(self) -> bool:
        return self.status in MEASURED and self.figures is not None

    @property
    def judged(self) -> bool:
        return self.status in JUDGED and self.figures is not None

    @property
    def ok_rps(self) -> float:
        """Successful requests per second: what "ceiling" means in this plugin."""
        elapsed = self.load.elapsed if self.load is not None else 0.0
        return self.figures.ok / elapsed if self.figures is not None and elapsed else 0.0

    def check(self) -> None:
        """Fail the calling test with the verdict's message unless the level passed."""
        __tracebackhide__ = True
        if self.status != "passed":
            raise AssertionError(self.message)

    def to_json(self) -> dict[str, Any]:
        def part(value: Any) -> dict[str, Any]:
            return value.to_json() if value is not None else {}

        return {
            "test_id": self.test_id, "case": self.case, "level": self.level, "level_id": self.level_id,
            "plan_requests": self.plan_requests, "plan_concurrent": self.plan_concurrent, "requests": self.requests,
            "concurrent": self.concurrent, "scale": self.scale, "status": self.status, "started_at": self.started_at,
            "ended_at": self.ended_at, "model": part(self.model), "figures": part(self.figures), "verdict": part(self.verdict),
            "load": part(self.load), "cluster": part(self.cluster), "polls": part(self.polls), "facts": self.facts.to_json(),
            "message": self.message, "ok_rps": self.ok_rps, "cloud": part(self.cloud), "client": part(self.client),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LevelRecord:
        """A record as results.json stores it. Raises KeyError, TypeError or ValueError on
        data of another shape (the caller names the file)."""
        def part(key: str, parse: Any) -> Any:
            value = data.get(key)
            return parse(value) if value else None

        return cls(
            test_id=str(data["test_id"]), case=str(data["case"]), level=int(data["level"]), level_id=str(data["level_id"]),
            plan_requests=int(data["plan_requests"]), plan_concurrent=int(data["plan_concurrent"]), requests=int(data["requests"]),
            concurrent=int(data["concurrent"]), scale=float(data["scale"]), status=str(data["status"]),
            started_at=float(data["started_at"]), ended_at=float(data["ended_at"]), model=part("model", LoadModel.from_json),
            figures=part("figures", LevelFigures.from_json), verdict=part("verdict", Verdict.from_json),
            load=part("load", LoadSummary.from_json), cluster=part("cluster", ClusterStats.from_json),
            polls=part("polls", PollSummary.from_json), facts=Facts.from_json(data.get("facts") or {}),
            message=str(data.get("message", "")), cloud=part("cloud", CloudFigures.from_json),
            client=part("client", ClientCapacity.from_json),
        )
