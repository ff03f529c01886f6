"""Per-test summaries of a run: ceiling, breaking point, verdict, and the plan's baselines.

The one definition for every consumer (the run itself, the terminal, results.json, the HTML
report, JUnit, the 2e ceiling lookup): the ceiling is the best successful req/s over a
test's measured levels, the breaking point the first judged level (not an interrupted one)
below the plan's full-success rate, and a test passes when every one of its levels passed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from pytest_trinity.model.facts import BaselineFact, ratio
from pytest_trinity.model.record import LevelRecord
from pytest_trinity.plan import Plan

VERDICT_ORDER = ("interrupted", "error", "failed")  # the first of these among a test's levels is its verdict


def ceiling_record(records: Iterable[LevelRecord]) -> LevelRecord | None:
    """The measured level with the best successful req/s."""
    return max((r for r in records if r.measured), key=lambda r: r.ok_rps, default=None)


def breaking_record(plan: Plan, records: Iterable[LevelRecord]) -> LevelRecord | None:
    """The first judged level (by level number) below the plan's full-success rate. An
    interrupted level is not one: it stopped because it was told to, not because the service broke."""
    return next((r for r in sorted(records, key=lambda r: r.level)
                 if r.figures is not None and r.judged and r.figures.success_pct < plan.criteria.min_success_pct), None)


def baseline_facts(plan: Plan, test_id: str, ok_rps: float | None) -> tuple[BaselineFact, ...]:
    """The plan's baselines of `test_id`, each with the ratio `ok_rps` reaches."""
    return tuple(BaselineFact(b.id, b.kind, b.label, b.rps, ratio(ok_rps, b.rps)) for b in plan.baselines_for(test_id))


def verdict_of(statuses: list[str]) -> str:
    """"passed", "failed", "error", "interrupted", "skipped", or "incomplete" (passed and skipped levels)."""
    found = next((s for s in VERDICT_ORDER if s in statuses), None)
    if found:
        return found
    return "passed" if set(statuses) == {"passed"} else "skipped" if set(statuses) == {"skipped"} else "incomplete"


@dataclass(frozen=True)
class TestSummary:
    __test__ = False  # not a pytest test class

    test_id: str
    title: str
    levels_run: int
    passed: int
    failed: int
    errors: int
    skipped: int
    interrupted: int
    verdict: str
    ceiling_ok_rps: float | None
    ceiling_level: str | None
    breaking_level: str | None
    p50_ms_at_ceiling: float | None
    p99_ms_at_ceiling: float | None
    baselines: tuple[BaselineFact, ...] = ()

    @property
    def total(self) -> int:
        return self.passed + self.failed + self.errors + self.skipped + self.interrupted

    def to_json(self) -> dict[str, Any]:
        return {"test_id": self.test_id, "title": self.title, "levels_run": self.levels_run, "passed": self.passed,
                "failed": self.failed, "errors": self.errors, "skipped": self.skipped, "interrupted": self.interrupted,
                "verdict": self.verdict, "ceiling_ok_rps": self.ceiling_ok_rps, "ceiling_level": self.ceiling_level,
                "breaking_level": self.breaking_level, "p50_ms_at_ceiling": self.p50_ms_at_ceiling,
                "p99_ms_at_ceiling": self.p99_ms_at_ceiling, "baselines": [b.to_json() for b in self.baselines]}


def summarize_test(plan: Plan, test_id: str, records: Iterable[LevelRecord]) -> TestSummary | None:
    mine = sorted((r for r in records if r.test_id == test_id), key=lambda r: r.level)
    if not mine:
        return None
    statuses = [r.status for r in mine]
    best, breaking = ceiling_record(mine), breaking_record(plan, mine)
    ceiling = best.ok_rps if best else None
    figures = best.figures if best else None
    return TestSummary(
        test_id=test_id, title=plan.tests[test_id].title, levels_run=sum(1 for r in mine if r.measured),
        passed=statuses.count("passed"), failed=statuses.count("failed"), errors=statuses.count("error"),
        skipped=statuses.count("skipped"), interrupted=statuses.count("interrupted"), verdict=verdict_of(statuses),
        ceiling_ok_rps=ceiling, ceiling_level=best.level_id if best else None,
        breaking_level=breaking.level_id if breaking else None,
        p50_ms_at_ceiling=figures.p50_ms if figures else None, p99_ms_at_ceiling=figures.p99_ms if figures else None,
        baselines=baseline_facts(plan, test_id, ceiling),
    )


def summarize(plan: Plan, records: Iterable[LevelRecord]) -> dict[str, TestSummary]:
    """Summaries of every plan test that has records, in plan order."""
    records = list(records)
    out = {}
    for test_id in plan.tests:
        summary = summarize_test(plan, test_id, records)
        if summary is not None:
            out[test_id] = summary
    return out
