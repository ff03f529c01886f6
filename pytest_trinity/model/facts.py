"""Cross-test facts of a level: what the plan asks to compare it with.

2d's streams and 2b-vs-2c's rate-limit cost, the baselines of 1a and 1b, 2e's ceiling, and a
comparison with an earlier run (`--trinity-compare`). Each is optional; `Facts()` is none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


def ratio(value: float | None, baseline: float | None) -> float | None:
    """value / baseline, or None when either is missing or the baseline is 0: the one baseline ratio."""
    return value / baseline if value is not None and baseline else None


@dataclass(frozen=True)
class StreamFact:
    """One stream of a multi-stream test (2d: /price and /reports/usage at once)."""

    ok_rps: float
    ok: int
    sent: int

    def to_json(self) -> dict[str, Any]:
        return {"ok_rps": self.ok_rps, "ok": self.ok, "sent": self.sent}


@dataclass(frozen=True)
class ComparedWith:
    """This level against the same level of the test the plan compares it with (2c vs 2b, 2d vs 2a)."""

    test: str
    their_ok_rps: float
    our_ok_rps: float

    @property
    def gap_pct(self) -> float:
        return 100.0 * (self.our_ok_rps - self.their_ok_rps) / self.their_ok_rps

    @property
    def cost_us_per_request(self) -> float:
        return 1e6 / self.our_ok_rps - 1e6 / self.their_ok_rps

    def to_json(self) -> dict[str, Any]:
        return {"test": self.test, "their_ok_rps": self.their_ok_rps, "our_ok_rps": self.our_ok_rps,
                "gap_pct": self.gap_pct, "cost_us_per_request": self.cost_us_per_request}


@dataclass(frozen=True)
class BaselineFact:
    id: str
    kind: str
    label: str
    rps: float
    ratio: float | None

    @property
    def short_label(self) -> str:
        return self.label.split(":")[0]

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "kind": self.kind, "label": self.label, "rps": self.rps, "ratio": self.ratio}


@dataclass(frozen=True)
class EnduranceFact:
    """2e: the ceiling it runs at a fraction of, and the rate and window that gave."""

    ceiling_rps: float
    ceiling_level: str
    ceiling_source: str
    rate: float
    window_s: float

    def to_json(self) -> dict[str, Any]:
        return {"ceiling_rps": self.ceiling_rps, "ceiling_level": self.ceiling_level, "ceiling_source": self.ceiling_source,
                "rate": self.rate, "window_s": self.window_s}


@dataclass(frozen=True)
class MetricDelta:
    before: float | None
    after: float | None

    @property
    def change_pct(self) -> float | None:
        if not self.before or self.after is None:
            return None
        return 100.0 * (self.after - self.before) / self.before

    def to_json(self) -> dict[str, Any]:
        return {"before": self.before, "after": self.after, "change_pct": self.change_pct}


@dataclass(frozen=True)
class CompareFact:
    """This level against the same level of an earlier run (`--trinity-compare`)."""

    run_id: str
    deltas: dict[str, MetricDelta]  # "rps", "p50", "p99"

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run_id, **{name: d.to_json() for name, d in self.deltas.items()}}


@dataclass(frozen=True)
class Facts:
    streams: dict[str, StreamFact] = field(default_factory=dict)
    compared_with: ComparedWith | None = None
    baselines: tuple[BaselineFact, ...] = ()
    endurance: EnduranceFact | None = None
    compare: CompareFact | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.endurance is not None:
            out["endurance"] = self.endurance.to_json()
        if self.streams:
            out["streams"] = {n: s.to_json() for n, s in self.streams.items()}
        if self.compared_with is not None:
            out["compared_with"] = self.compared_with.to_json()
        if self.baselines:
            out["baselines"] = [b.to_json() for b in self.baselines]
        if self.compare is not None:
            out["compare"] = self.compare.to_json()
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Facts:
        e, c, cmp = data.get("endurance"), data.get("compared_with"), data.get("compare")
        return cls(
            streams={str(n): StreamFact(float(s["ok_rps"]), int(s["ok"]), int(s["sent"])) for n, s in (data.get("streams") or {}).items()},
            compared_with=ComparedWith(str(c["test"]), float(c["their_ok_rps"]), float(c["our_ok_rps"])) if c else None,
            baselines=tuple(BaselineFact(str(b["id"]), str(b["kind"]), str(b["label"]), float(b["rps"]), b.get("ratio"))
                            for b in data.get("baselines") or ()),
            endurance=EnduranceFact(float(e["ceiling_rps"]), str(e["ceiling_level"]), str(e["ceiling_source"]), float(e["rate"]),
                                    float(e["window_s"])) if e else None,
            compare=CompareFact(str(cmp["run_id"]), {n: MetricDelta(d.get("before"), d.get("after"))
                                                     for n, d in cmp.items() if isinstance(d, dict)}) if cmp else None,
        )
