"""The end-of-run terminal summary, in the spirit of k6's end-of-test summary.

One table: each plan test's verdict, ceiling, breaking point and baselines; then the
cross-test facts, the comparison with an earlier run, the restore, and where the results are.
It reads the records it heard of through `pytest_trinity_level_recorded`.
"""

from __future__ import annotations

import pytest

from pytest_trinity.model import LevelRecord, summarize
from pytest_trinity.plan import Plan
from pytest_trinity.plugin.tables import format_table


def _pct(value: float | None) -> str:
    return f"{value:+.1f} %" if value is not None else "—"


def summary_lines(plan: Plan, records: list[LevelRecord], target: str, scale: float, executor: str = "local") -> list[str]:
    load = f" · load on {executor}" if executor != "local" else ""
    lines = [f"{plan.name} v{plan.version} · target {target} · scale {scale:g}{load}"]
    rows: list[list[object]] = []
    for t in summarize(plan, records).values():
        vs = "; ".join(f"{b.short_label} {b.ratio:.2f}×" for b in t.baselines if b.ratio is not None)
        rows.append([t.test_id, t.verdict, f"{t.passed}/{t.total}", t.ceiling_ok_rps, t.ceiling_level or "—", t.breaking_level or "—",
                     t.p50_ms_at_ceiling, t.p99_ms_at_ceiling, vs or "—"])
    lines += format_table(["test", "verdict", "passed", "ceiling ok req/s", "at", "breaks at", "p50 ms", "p99 ms",
                           "vs baseline"], rows)
    return lines + _facts(records) + _comparison(records) + _unmeasured(records) + _client_bound(records)


def _client_bound(records: list[LevelRecord]) -> list[str]:
    """Levels whose stress client was likely the bottleneck (the capacity check)."""
    where: dict[str, list[str]] = {}
    for r in records:
        if r.client is not None and r.client.warning:
            where.setdefault(r.test_id, []).append(r.level_id)
    if not where:
        return []
    rows = [f"  {test}: {', '.join(levels)}" for test, levels in where.items()]
    return ["", "the stress client was likely the bottleneck at (its CPU near its cores; record field `client`):", *rows]


def _unmeasured(records: list[LevelRecord]) -> list[str]:
    """Checks that apply but read no figure: neither passed nor failed, and said so."""
    where: dict[str, dict[str, int]] = {}
    for r in records:
        for check in r.verdict.unmeasured if r.verdict else ():
            tests = where.setdefault(check, {})
            tests[r.test_id] = tests.get(r.test_id, 0) + 1
    if not where:
        return []
    rows = [f"  {check}: " + ", ".join(f"{t} ({n} level{'s' if n > 1 else ''})" for t, n in tests.items())
            for check, tests in where.items()]
    return ["", "not measured (these checks apply, but nothing was read for them: they neither passed nor failed):", *rows]


def _facts(records: list[LevelRecord]) -> list[str]:
    by_test: dict[str, list[LevelRecord]] = {}
    for r in records:
        if r.facts.compared_with is not None:
            by_test.setdefault(r.test_id, []).append(r)
    out = []
    for test_id, rs in by_test.items():
        compared = [r.facts.compared_with for r in rs if r.facts.compared_with is not None]
        gaps = [c.gap_pct for c in compared]
        costs = sorted(c.cost_us_per_request for c in compared)
        out.append(f"{test_id} vs {compared[0].test}: successful req/s {sum(gaps) / len(gaps):+.1f} % on average over "
                   f"{len(rs)} levels; median cost {costs[len(costs) // 2]:+.2f} µs per request")
    return ["", *out] if out else []


def _comparison(records: list[LevelRecord]) -> list[str]:
    compared = [(r, r.facts.compare) for r in records if r.facts.compare is not None]
    if not compared:
        return []
    rows: list[list[object]] = []
    for r, c in compared:
        rps, p99 = c.deltas["rps"], c.deltas["p99"]
        rows.append([r.test_id, r.level_id, rps.before, rps.after, _pct(rps.change_pct), p99.before, p99.after, _pct(p99.change_pct)])
    return ["", f"compared with run {compared[0][1].run_id}:", *format_table(
        ["test", "level", "ok req/s before", "after", "Δ %", "p99 ms before", "after", "Δ %"], rows, indent="  ")]


class TerminalSummary:
    """Collects the recorded levels; prints the summary, the restore and the results path."""

    NAME = "trinity-terminal-summary"

    def __init__(self) -> None:
        self.records: list[LevelRecord] = []

    @pytest.hookimpl
    def pytest_trinity_level_recorded(self, item: pytest.Item, record: LevelRecord) -> None:
        self.records.append(record)

    @pytest.hookimpl
    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter, exitstatus: int, config: pytest.Config) -> None:
        from pytest_trinity.plugin.reports import ResultsJson
        from pytest_trinity.plugin.run import RUN

        run = config.stash.get(RUN, None)
        if run is None:
            return
        terminalreporter.write_sep("=", "pytest-trinity summary")
        for line in summary_lines(run.plan, self.records, run.target.name, run.scale, run.executor_url):
            terminalreporter.write_line(line)
        if run.restore is not None:
            terminalreporter.write_line("")
            terminalreporter.write_line(run.restore.summary, red=not run.restore.ok, bold=not run.restore.ok)
        writer = config.pluginmanager.get_plugin(ResultsJson.NAME)
        if isinstance(writer, ResultsJson):
            terminalreporter.write_line(f"results: {writer.store.path}")
