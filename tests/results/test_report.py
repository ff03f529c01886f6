"""The HTML report of a real plan run: every test's plots and tables, the plan summary, the
per-case extras, and what headless Chromium actually renders."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from pytest_trinity.model.numbers import num
from tests.results.conftest import TIGHT_P99_MS, ReportRun

SELECTED = ("2a", "2b", "2c")
PNG = '<img src="data:image/png;base64,'
PLOT_ALTS = ("requests per second against level", "p50 and p99 against level", "success % against level",
             "latency percentile spectrum per level")


def section(html: str, test_id: str) -> str:
    """The raw HTML of one plan test's section in the report's summary."""
    start = html.index(f'id="trinity-test-{test_id}"')
    end = html.find('<div class="trinity trinity-test"', start)
    return html[start:end if end != -1 else len(html)]


def summary_row(html: str, test_id: str) -> str:
    summary = html[html.index('id="trinity-summary"'):html.index("Cross-test facts")]
    row = re.search(rf"<tr><td>(?:<a [^>]*>)?{re.escape(test_id)}(?:</a>)?</td>.*?</tr>", summary)
    assert row, f"no summary row for {test_id}"
    return row.group(0)


def test_the_run_failed_only_on_the_tightened_p99(report_run: ReportRun) -> None:
    assert report_run.returncode == 1, report_run.output
    statuses = {(r.test_id, r.level): r.status for r in report_run.records}
    assert statuses == {(t, level): ("passed" if level == 1 else "failed") for t in SELECTED for level in (1, 2, 3)}


def test_every_selected_test_has_its_table_and_four_plots(report_run: ReportRun) -> None:
    html = report_run.html
    for test_id in SELECTED:
        part = section(html, test_id)
        images = re.findall(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]{1000,}" alt="([^"]+)"', part)
        assert images == [f"{test_id} {alt}" for alt in PLOT_ALTS]
        for level_id in ("L01-c30", "L02-c90", "L03-c300"):
            assert re.search(rf'<tr(?: class="\w+")?><td>{level_id}', part), level_id
        assert part.count('<span class="v-failed">failed</span>') >= 2  # L02 and L03 rows


def test_tests_not_selected_have_no_section(report_run: ReportRun) -> None:
    for test_id in report_run.plan.tests:
        assert (f'id="trinity-test-{test_id}"' in report_run.html) == (test_id in SELECTED)


def test_plan_summary_lists_every_test_with_ceiling_breaking_point_and_verdict(report_run: ReportRun) -> None:
    html = report_run.html
    records = report_run.records
    for test_id in report_run.plan.tests:
        row = summary_row(html, test_id)
        if test_id in SELECTED:
            best = max((r for r in records if r.test_id == test_id), key=lambda r: r.ok_rps)
            assert f"{num(best.ok_rps, 1)} at {best.level_id}" in row
            assert "none through L03-c300" in row  # every level had full success
            assert '<span class="v-failed">failed</span>' in row
        else:
            assert '<span class="v-not-run">not run</span>' in row


def test_summary_states_the_rules_with_the_plans_numbers(report_run: ReportRun) -> None:
    assert f"p99 under {float(TIGHT_P99_MS):g} ms" in report_run.html
    assert "L02–L03" in report_run.html


def test_cross_test_facts_compare_2c_with_2b_and_1a_with_its_baseline(report_run: ReportRun) -> None:
    facts = report_run.html[report_run.html.index("Cross-test facts"):]
    line = re.search(r"<li>2c vs 2b: ceilings [^<]*</li>", facts)
    assert line and all(f"L0{n}-c" in line.group(0) for n in (1, 2, 3)), facts[:2000]
    assert "2d vs 2a: not measured" in facts
    baseline = report_run.plan.baselines_for("1a")[0]
    assert f"1a vs {baseline.label}: 1a not measured." in facts


def test_breaches_carry_the_plans_advice(report_run: ReportRun) -> None:
    advice = report_run.plan.criteria.advice["p99_ms"]
    for test_id in SELECTED:
        part = section(report_run.html, test_id)
        flags = part[part.index("Red flags and advice"):]
        assert "p99_ms" in flags and advice in flags and "L02-c90, L03-c300" in flags
        assert f"{TIGHT_P99_MS} ms" in flags  # the limit as the plan states it


def test_each_case_has_exactly_one_extra_with_its_figures_breaches_and_spectrum(report_run: ReportRun) -> None:
    data = report_run.test_data()
    cases = {nodeid: rows for nodeid, rows in data.items() if "test_2" in nodeid}
    assert len(cases) == len(SELECTED) * 3
    advice = report_run.plan.criteria.advice["p99_ms"]
    for nodeid, rows in cases.items():
        extras = [e for row in rows for e in row["extras"]]
        assert len(extras) == 1 and extras[0]["format_type"] == "html", nodeid
        content = extras[0]["content"]
        assert content.count(PNG) == 1 and "latency percentile spectrum" in content
        assert "successful req/s" in content
        assert (advice in content) == ("[L01-c30]" not in nodeid), nodeid


def test_skipped_cases_say_why_in_their_extra_and_the_summary(skipped_run: ReportRun) -> None:
    assert skipped_run.returncode == 0, skipped_run.output
    data = skipped_run.test_data()
    cases = {nodeid: rows for nodeid, rows in data.items() if "test_2e" in nodeid}
    assert len(cases) == 2
    for nodeid, rows in cases.items():
        extras = [e for row in rows for e in row["extras"]]
        assert len(extras) == 1, nodeid
        assert "run 2a first" in extras[0]["content"] and PNG not in extras[0]["content"]
    row = summary_row(skipped_run.html, "2e")
    assert '<span class="v-skipped">skipped</span>' in row and "0 run, 2 skipped or errored" in row
    assert "nothing to plot" in section(skipped_run.html, "2e")


# -- what a browser shows --------------------------------------------------------------------
def chromium() -> str:
    path = shutil.which("chromium")
    if path is None:
        pytest.fail("headless Chromium is needed to render the HTML report: install the Debian package "
                    "`chromium` (apt-get install -y chromium)", pytrace=False)
    return path


def run_chromium(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'chromium-profile'}"]
    return subprocess.run([chromium(), *flags, *args], capture_output=True, text=True, timeout=120)


def test_chromium_renders_the_plots_and_tables(report_run: ReportRun, tmp_path: Path) -> None:
    dom = run_chromium(tmp_path, "--dump-dom", report_run.html_path.as_uri()).stdout
    # Rendered elements only: in the page's JSON data the same markup is escaped.
    expected_images = len(SELECTED) * len(PLOT_ALTS) + len(SELECTED) * 3  # sections, one spectrum per case
    assert dom.count(PNG) == expected_images
    assert 'id="trinity-summary"' in dom and dom.count('class="trinity trinity-case"') == len(SELECTED) * 3
    assert dom.count('<table class="trinity-table">') >= 1 + len(SELECTED) * 2


def test_chromium_screenshot_is_not_blank(report_run: ReportRun, tmp_path: Path) -> None:
    from PIL import Image

    shot = tmp_path / "report.png"
    done = run_chromium(tmp_path, f"--screenshot={shot}", "--window-size=1400,3000", report_run.html_path.as_uri())
    assert shot.is_file(), done.stderr[-2000:]
    with Image.open(shot) as image:
        rgb = image.convert("RGB")
        colours = rgb.getcolors(maxcolors=1 << 20) or []
        assert rgb.size == (1400, 3000)
    assert len(colours) > 500  # text, tables and antialiased plots; a blank page has one colour
    dark = sum(count for count, (r, g, b) in colours if r + g + b < 200)
    assert dark > 5000  # readable dark text and lines
