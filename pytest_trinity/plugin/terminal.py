"""The end-of-run terminal summary, in the spirit of k6's end-of-test summary.

One table: each plan test's verdict, ceiling, breaking point and baselines; then the
cross-test facts, the comparison with an earlier run, the restore, and where the results are.
"""

from __future__ import annotations

import pytest

from pytest_trinity.plugin.run import RUN
from pytest_trinity.plugin.tables import format_table
from pytest_trinity.results.summary import summarize

def _pct(value: float | None) -> str:
    return f"{value:+.1f} %" if value is not None else "—"


def summary_lines(run) -> list[str]:
    plan = run.plan
    records = run.store.levels
    tests = summarize(plan, records)
    lines = [f"{plan.name} v{plan.version} · target {run.target.name} · scale {run.scale:g}"]
    rows = []
    for t in tests.values():
        vs = "; ".join(f"{b['label'].split(':')[0]} {b['ratio']:.2f}×" for b in t.baselines if b["ratio"] is not None)
        rows.append([t.test_id, t.verdict, f"{t.passed}/{t.passed + t.failed + t.errors + t.skipped + t.interrupted}",
                     t.ceiling_ok_rps, t.ceiling_level or "—", t.breaking_level or "—",
                     t.p50_ms_at_ceiling, t.p99_ms_at_ceiling, vs or "—"])
    lines += format_table(["test", "verdict", "passed", "ceiling ok req/s", "at", "breaks at", "p50 ms", "p99 ms",
                           "vs baseline"], rows)
    lines += _facts(records)
    lines += _comparison(run)
    return lines


def _facts(records: list[dict]) -> list[str]:
    out = []
    by_test: dict[str, list[dict]] = {}
    for r in records:
        if (r.get("facts") or {}).get("compared_with"):
            by_test.setdefault(r["test_id"], []).append(r)
    for test_id, rs in by_test.items():
        other = rs[0]["facts"]["compared_with"]["test"]
        gaps = [r["facts"]["compared_with"]["gap_pct"] for r in rs]
        costs = sorted(r["facts"]["compared_with"]["cost_us_per_request"] for r in rs)
        out.append(f"{test_id} vs {other}: successful req/s {sum(gaps) / len(gaps):+.1f} % on average over "
                   f"{len(rs)} levels; median cost {costs[len(costs) // 2]:+.2f} µs per request")
    return ["", *out] if out else []


def _comparison(run) -> list[str]:
    compared = [r for r in run.store.levels if (r.get("facts") or {}).get("compare")]
    if not compared:
        return []
    run_id = compared[0]["facts"]["compare"]["run_id"]
    rows = []
    for r in compared:
        c = r["facts"]["compare"]
        rows.append([r["test_id"], r["level_id"], c["rps"]["before"], c["rps"]["after"], _pct(c["rps"]["change_pct"]),
                     c["p99"]["before"], c["p99"]["after"], _pct(c["p99"]["change_pct"])])
    return ["", f"compared with run {run_id}:", *format_table(
        ["test", "level", "ok req/s before", "after", "Δ %", "p99 ms before", "after", "Δ %"], rows, indent="  ")]


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    run = config.stash.get(RUN, None)
    if run is None:
        return
    terminalreporter.write_sep("=", "pytest-trinity summary")
    for line in summary_lines(run):
        terminalreporter.write_line(line)
    if run.restore is not None:
        terminalreporter.write_line("")
        terminalreporter.write_line(run.restore.summary, red=not run.restore.ok, bold=not run.restore.ok)
    terminalreporter.write_line(f"results: {run.store.path}")
