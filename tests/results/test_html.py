"""The report's content as pure functions of real level records (from a real run) and the
plan: ceilings, breaking points, verdicts, the plan's own limits, escaping, and the plots."""

from __future__ import annotations

import base64
import dataclasses
import io
import re

import pytest

from pytest_trinity.model import CompareFact, LevelRecord, LoadModel, MetricDelta
from pytest_trinity.model.numbers import num
from pytest_trinity.results import plots
from pytest_trinity.results.html import case_html, outcome_of, plan_summary_html, plots_of, ran_text, section_html, spectrum_of
from tests.results.conftest import ReportRun


def records_of(run: ReportRun, test_id: str) -> list[LevelRecord]:
    return sorted((r for r in run.records if r.test_id == test_id), key=lambda r: r.level)


def with_success(record: LevelRecord, pct: float) -> LevelRecord:
    """The record with as many successful requests as make at most `pct` % success."""
    assert record.figures is not None
    ok = int(record.figures.attempted * pct / 100.0)
    return dataclasses.replace(record, figures=dataclasses.replace(record.figures, ok=ok))


def success_pct(record: LevelRecord) -> float:
    assert record.figures is not None
    return record.figures.success_pct


def test_ceiling_is_the_best_successful_rps_and_verdict_failed_with_a_failing_level(report_run: ReportRun) -> None:
    records = records_of(report_run, "2b")
    outcome = outcome_of(report_run.plan, report_run.plan.tests["2b"], reversed(records))
    assert outcome.ceiling is max(records, key=lambda r: r.ok_rps)
    assert [r.level for r in outcome.records] == [1, 2, 3]
    assert outcome.breaking is None and outcome.verdict == "failed"


@pytest.mark.parametrize(("statuses", "verdict"), [
    (("passed", "passed", "passed"), "passed"),
    (("passed", "error", "skipped"), "error"),
    (("passed", "failed", "error"), "error"),
    (("passed", "failed", "passed"), "failed"),
    (("skipped", "skipped", "skipped"), "skipped"),
    (("passed", "skipped", "skipped"), "incomplete"),
    ((), "not run"),
])
def test_verdict_of_a_test(report_run: ReportRun, statuses: tuple[str, ...], verdict: str) -> None:
    records = [dataclasses.replace(r, status=s) for r, s in zip(records_of(report_run, "2a"), statuses, strict=False)]
    assert outcome_of(report_run.plan, report_run.plan.tests["2a"], records).verdict == verdict


def test_breaking_point_is_the_first_level_below_the_plans_minimum(report_run: ReportRun) -> None:
    plan = report_run.plan
    below = plan.criteria.min_success_pct - 1
    l1, l2, l3 = records_of(report_run, "2c")
    records = [l1, with_success(l2, below), with_success(l3, below - 10)]
    assert success_pct(records[1]) <= below and success_pct(records[2]) <= below - 10
    outcome = outcome_of(plan, plan.tests["2c"], records)
    assert outcome.breaking is records[1]
    shown = num(success_pct(records[1]), 2)
    section = section_html(outcome, plan, 0.01)
    assert re.search(r'<tr class="breaking"><td>L02-c90(<br><b>ceiling</b>)?<br><b>breaking point</b>', section)
    assert section.count("<b>breaking point</b>") == 1
    assert f"breaking point: L02-c90 ({shown} % success)" in section
    summary = plan_summary_html(plan, records, 0.01, "local")
    assert f"L02-c90 ({shown} % success)" in summary


def test_limits_come_from_the_plan(report_run: ReportRun) -> None:
    plan = report_run.plan
    other = dataclasses.replace(plan, criteria=dataclasses.replace(plan.criteria, cache_hit_p50_ms=7.5,
                                                                   full_success_through_level=6))
    summary = plan_summary_html(other, report_run.records, 0.01, "local")
    assert "through L06: " in summary and "cache-hit p50 under 7.5 ms" in summary
    assert "cache-hit p50 under 7.5 ms" not in plan_summary_html(plan, report_run.records, 0.01, "local")


def test_summary_names_only_the_target(report_run: ReportRun) -> None:
    summary = plan_summary_html(report_run.plan, report_run.records, 0.01, "staging")
    assert "Target staging, scale 0.01, 9 level record(s)." in summary
    assert "https://" not in summary and "127.0.0.1" not in summary


def test_text_from_records_is_escaped(report_run: ReportRun) -> None:
    record = dataclasses.replace(records_of(report_run, "2a")[0], status="error",
                                 message="checklist failed: <script>alert(1)</script>")
    html = case_html(record, report_run.plan)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "<script>" not in html
    assert "data:image/png" not in html  # nothing measured: no plot


def test_a_title_and_advice_from_the_plan_are_escaped(report_run: ReportRun) -> None:
    plan = report_run.plan
    test = dataclasses.replace(plan.tests["2b"], title="<script>title()</script>")
    records = records_of(report_run, "2b")
    failed = next(r for r in records if r.verdict is not None and r.verdict.breaches)
    assert failed.verdict is not None
    breaches = tuple(dataclasses.replace(b, advice="<script>advice()</script>") for b in failed.verdict.breaches)
    failed = dataclasses.replace(failed, verdict=dataclasses.replace(failed.verdict, breaches=breaches))
    section = section_html(outcome_of(plan, test, [failed]), plan, 0.01)
    case = case_html(failed, plan)
    for html in (section, case):
        assert "<script>" not in html
    assert "&lt;script&gt;title()&lt;/script&gt;" in section
    assert "&lt;script&gt;advice()&lt;/script&gt;" in section and "&lt;script&gt;advice()&lt;/script&gt;" in case


def test_baselines_compare_the_ceiling_and_say_the_scale(report_run: ReportRun) -> None:
    plan = report_run.plan
    records = [dataclasses.replace(r, test_id="1a") for r in records_of(report_run, "2a")]
    outcome = outcome_of(plan, plan.tests["1a"], records)
    section = section_html(outcome, plan, 0.01)
    baseline = plan.baselines_for("1a")[0]
    assert "Comparison with the baseline" in section and baseline.label in section
    assert num(outcome.ceiling.ok_rps / baseline.rps, 3) in section
    assert "scale 0.01" in section
    assert "scale 1:" not in section_html(outcome, plan, 1.0) and "not a like-for-like" not in \
        section_html(outcome, plan, 1.0)


def test_comparison_with_an_earlier_run_is_shown_per_level(report_run: ReportRun) -> None:
    plan = report_run.plan
    record = records_of(report_run, "2b")[0]
    compare = CompareFact("20260101T000000-1", {"rps": MetricDelta(100.0, 80.0), "p99": MetricDelta(1.0, 1.5)})
    changed = dataclasses.replace(record, facts=dataclasses.replace(record.facts, compare=compare))
    section = section_html(outcome_of(plan, plan.tests["2b"], [changed]), plan, 0.01)
    assert "Comparison with the baseline run 20260101T000000-1" in section
    assert "100.00 → 80.00 (-20.0 %)" in section
    assert "vs run 20260101T000000-1: rps 100.00 → 80.00 (-20.0 %)" in case_html(changed, plan)


def test_spectrum_is_the_levels_full_histogram(report_run: ReportRun) -> None:
    for record in records_of(report_run, "2a"):
        spectrum = spectrum_of(record)
        latencies = [ms for _, ms in spectrum.points]
        assert latencies == sorted(latencies) and len(latencies) == len(plots.SPECTRUM_PERCENTILES)
        p50 = dict(spectrum.points)[50.0]
        assert record.load is not None
        assert p50 == record.load.latency.percentiles_us["p50"] / 1000.0


def test_plots_are_real_pngs(report_run: ReportRun) -> None:
    from PIL import Image

    plan = report_run.plan
    outcome = outcome_of(plan, plan.tests["2c"], report_run.records)
    uris = plots_of(outcome, plan)
    assert len(uris) == 4
    for alt, uri in uris:
        assert uri.startswith("data:image/png;base64,"), alt
        with Image.open(io.BytesIO(base64.b64decode(uri.split(",", 1)[1]))) as image:
            assert image.format == "PNG"
            assert image.size == (round(plots.WIDTH_IN * plots.DPI), round(plots.HEIGHT_IN * plots.DPI))
            assert len(image.convert("RGB").getcolors(maxcolors=1 << 16) or []) > 50, alt


def test_number_formatting() -> None:
    assert [num(None, 1), num(1234, 1), num(1234.0, 1), num(3.14159, 1), num(99.5, 1), num(12.345, 2), num(0.001, 2),
            num(0.0, 1), num(True, 1)] == ["—", "1,234", "1,234", "3.14", "99.5", "12.35", "0.001", "0.00", "yes"]


def test_a_level_with_no_answer_plots_without_a_warning(report_run: ReportRun) -> None:
    record = records_of(report_run, "2b")[0]
    assert record.load is not None
    nothing = dataclasses.replace(record.load.latency, encoded="", count=0, percentiles_us={"p50": 0, "p99": 0})
    silent = dataclasses.replace(record, load=dataclasses.replace(record.load, latency=nothing))
    assert spectrum_of(silent).points == ()
    uri = plots.spectrum_plot("nothing answered", [spectrum_of(silent)])  # filterwarnings = error: a warning fails
    assert uri.startswith("data:image/png;base64,")


def test_an_open_model_level_shows_its_rate_not_the_ramp(report_run: ReportRun) -> None:
    record = records_of(report_run, "2a")[0]
    assert ran_text(record) == f"{num(record.requests, 1)} × {num(record.concurrent, 1)}"
    held = dataclasses.replace(record, model=LoadModel("open", rate=5422.7, duration=2.0, connections=90))
    assert ran_text(held) == "5,422.7 req/s for 2.00 s on 90"
    assert "5,422.7 req/s for 2.00 s on 90" in case_html(held, report_run.plan)
