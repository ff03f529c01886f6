"""A level's verdict as data: each breach with its measured value, limit and advice.

The judge (`pytest_trinity.verdict`) makes these; every report reads them. A `Verdict` is
immutable: a judge wrapper (the `pytest_trinity_judge_level` hook) adds breaches with
`with_breaches`, which also recomputes `passed`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pytest_trinity.model.numbers import num

BREACH_KINDS = ("criterion", "red_flag", "degradation", "reconciliation", "driver", "regression", "cloud")


def _number(value: object) -> float:
    """A stored number as it was measured: a count stays an int (so it prints as one)."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return float(value)  # type: ignore[arg-type]


@dataclass(frozen=True)
class Breach:
    check: str  # criterion name, red-flag id, "degradation:<what>", "reconciliation", "driver:…", "regression:…" or "cloud:…"
    kind: str  # one of BREACH_KINDS, or a kind of a user's own (a conftest's judge wrapper)
    metric: str
    measured: float
    op: str  # the comparison that holds and should not, e.g. ">"
    limit: float
    unit: str
    advice: str
    fails: bool

    @property
    def message(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        return f"{self.metric} {num(self.measured)}{unit} {self.op} {num(self.limit)}{unit}: {self.advice}"

    def to_json(self) -> dict[str, Any]:
        return dict(asdict(self), message=self.message)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Breach:
        return cls(str(data["check"]), str(data["kind"]), str(data["metric"]), _number(data["measured"]), str(data["op"]),
                   _number(data["limit"]), str(data.get("unit", "")), str(data["advice"]), bool(data["fails"]))


@dataclass(frozen=True)
class Verdict:
    passed: bool
    breaches: tuple[Breach, ...]
    unmeasured: tuple[str, ...]  # checks that apply but had no figure to read

    @property
    def failures(self) -> tuple[Breach, ...]:
        return tuple(b for b in self.breaches if b.fails)

    @property
    def warnings(self) -> tuple[Breach, ...]:
        return tuple(b for b in self.breaches if not b.fails)

    @property
    def red_flags(self) -> tuple[Breach, ...]:
        return tuple(b for b in self.breaches if b.kind == "red_flag")

    def with_breaches(self, *more: Breach) -> Verdict:
        """This verdict with `more` breaches; it fails if any breach fails."""
        breaches = self.breaches + tuple(more)
        return Verdict(not any(b.fails for b in breaches), breaches, self.unmeasured)

    def failure_message(self, header: str) -> str:
        lines = [header] + [f"  - {b.message}" for b in self.failures]
        if self.warnings:
            lines.append("  also reported (not failing at this level):")
            lines += [f"  - {b.message}" for b in self.warnings]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {"passed": self.passed, "breaches": [b.to_json() for b in self.breaches], "unmeasured": list(self.unmeasured)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Verdict:
        return cls(bool(data["passed"]), tuple(Breach.from_json(b) for b in data.get("breaches", ())),
                   tuple(str(u) for u in data.get("unmeasured", ())))
