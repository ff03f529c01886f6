"""One level's result record: everything measured, the verdict, the breaches and the advice.

Plain JSON-serialisable data (`to_dict`), so it can be stored, compared and shipped between
xdist workers. `check()` is what a plan test calls: it fails the case with every breach.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

STATUSES = ("passed", "failed", "error", "skipped", "interrupted")


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
    status: str
    started_at: float
    ended_at: float
    model: dict[str, Any] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    verdict: dict[str, Any] = field(default_factory=dict)
    load: dict[str, Any] = field(default_factory=dict)
    cluster: dict[str, Any] = field(default_factory=dict)
    polls: dict[str, Any] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    message: str = ""

    @property
    def ok_rps(self) -> float:
        """Successful requests per second: what "ceiling" means in this plugin."""
        elapsed = self.load.get("elapsed") or 0.0
        return self.figures.get("ok", 0) / elapsed if elapsed else 0.0

    def check(self) -> None:
        """Fail the calling test with the verdict's message unless the level passed."""
        __tracebackhide__ = True
        if self.status != "passed":
            raise AssertionError(self.message)

    def to_dict(self) -> dict[str, Any]:
        return dict(asdict(self), ok_rps=self.ok_rps)
