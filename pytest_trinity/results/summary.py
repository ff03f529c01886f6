"""Per-test summaries of a run: ceiling, breaking point, verdict, and the plan's baselines.

One definition for every consumer (terminal, results.json, HTML, JUnit): the ceiling is the
best successful req/s over a test's levels, the breaking point the first level below the
plan's full-success rate, and a test passes when every one of its levels passed.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from pytest_trinity.plan import Plan


@dataclass(frozen=True)
class TestSummary:
    test_id: str
    title: str
    levels_run: int
    passed: int
    failed: int
    errors: int
    skipped: int
    interrupted: int
    verdict: str  # "passed", "failed", "error", "interrupted", "skipped", or "incomplete" (passed + skipped levels)
    ceiling_ok_rps: float | None
    ceiling_level: str | None
    breaking_level: str | None
    p50_ms_at_ceiling: float | None
    p99_ms_at_ceiling: float | None
    baselines: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ok_rps(record: dict[str, Any]) -> float:
    if "ok_rps" in record:
        return float(record["ok_rps"])
    elapsed = (record.get("load") or {}).get("elapsed") or 0.0
    return record.get("figures", {}).get("ok", 0) / elapsed if elapsed else 0.0


def summarize(plan: Plan, records: list[dict[str, Any]]) -> dict[str, TestSummary]:
    """Summaries of every plan test that has records, in plan order."""
    out: dict[str, TestSummary] = {}
    for test_id, test in plan.tests.items():
        mine = sorted((r for r in records if r["test_id"] == test_id), key=lambda r: r["level"])
        if not mine:
            continue
        statuses = [r["status"] for r in mine]
        measured = [r for r in mine if r["status"] in ("passed", "failed", "interrupted") and r.get("figures")]
        best = max(measured, key=_ok_rps, default=None)
        breaking = next((r["level_id"] for r in measured
                         if r["figures"].get("success_pct", 100.0) < plan.criteria.min_success_pct), None)
        verdict = next((s for s in ("interrupted", "error", "failed") if s in statuses), None) or (
            "passed" if set(statuses) == {"passed"} else "skipped" if set(statuses) == {"skipped"} else "incomplete")
        ceiling = _ok_rps(best) if best else None
        out[test_id] = TestSummary(
            test_id=test_id, title=test.title, levels_run=len(measured),
            passed=statuses.count("passed"), failed=statuses.count("failed"), errors=statuses.count("error"),
            skipped=statuses.count("skipped"), interrupted=statuses.count("interrupted"), verdict=verdict, ceiling_ok_rps=ceiling,
            ceiling_level=best["level_id"] if best else None, breaking_level=breaking,
            p50_ms_at_ceiling=best["figures"].get("p50_ms") if best else None,
            p99_ms_at_ceiling=best["figures"].get("p99_ms") if best else None,
            baselines=tuple({"id": b.id, "kind": b.kind, "label": b.label, "rps": b.rps,
                             "ratio": (ceiling / b.rps) if ceiling is not None and b.rps else None}
                            for b in plan.baselines_for(test_id)),
        )
    return out
