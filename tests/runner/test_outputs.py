"""What a run leaves for people and dashboards: results.json (valid against its schema),
JUnit properties that agree with it, comparisons with an earlier run, live progress in a CI
log, and no secret anywhere."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import junitparser
import pytest

import pytest_trinity.results
from tests.runner.conftest import ENV, conftest_fault

SCHEMA = json.loads((Path(pytest_trinity.results.__file__).parent / "results.schema.json").read_text())


def _results(project) -> dict:
    return json.loads((project.path / "reports" / "latest" / "results.json").read_text())


def test_junit_properties_agree_with_results_json_which_validates(project, admin):
    result = project.runpytest_subprocess("tests_perf", "-k", "2b or 2c", "--trinity-levels", "1-3", "--junitxml", "junit.xml")
    result.assert_outcomes(passed=6)
    data = _results(project)
    jsonschema.validate(data, SCHEMA)
    assert data["run"]["target"] == "ref" and data["run"]["scale"] == 0.01 and data["run"]["machine"]["cores"] >= 1
    assert set(data["tests"]) == {"2b", "2c"} and data["tests"]["2b"]["verdict"] == "passed"
    by_case = {r["case"]: r for r in data["levels"]}
    cases = [case for suite in junitparser.JUnitXml.fromfile(str(project.path / "junit.xml")) for case in suite]
    assert len(cases) == 6
    for case in cases:
        props = {p.name: p.value for p in case.child(junitparser.Properties)}
        record = by_case[case.name]
        assert props["trinity_test"] == record["test_id"] and props["level"] == record["level_id"]
        assert props["verdict"] == "passed" and props["red_flags"] == ""
        assert float(props["success_pct"]) == record["figures"]["success_pct"] == 100.0
        assert int(props["errors_5xx"]) == record["figures"]["errors_5xx"] == 0
        assert float(props["rps"]) == pytest.approx(record["figures"]["rps"], abs=0.001)
        assert float(props["p99_ms"]) == pytest.approx(record["figures"]["p99_ms"], abs=0.001)
        assert float(props["udp_drop_pct"]) == record["figures"]["sources"]["cluster-stats"]["udp_drop_pct"]
    # 2c's levels carry the 2b comparison: the per-request cost of the rate limiter.
    fact = by_case["test_2c_udp_nlb_public[L03-c300]"]["facts"]["compared_with"]
    assert fact["test"] == "2b" and fact["their_ok_rps"] > 0


def test_compare_with_latest_prints_deltas_and_fails_a_regression_with_both_numbers(project, admin):
    project.runpytest_subprocess("tests_perf", "-k", "2a", "--trinity-levels", "3-4").assert_outcomes(passed=2)
    first = _results(project)["run"]["run_id"]
    again = project.runpytest_subprocess("tests_perf", "-k", "2a", "--trinity-levels", "3-4", "--trinity-compare", "latest")
    again.assert_outcomes(passed=2)
    again.stdout.fnmatch_lines([f"compared with run {first}:", "*2a*L03-c300*", "*2a*L04-c600*"])
    second = _results(project)
    assert second["compare"]["run_id"] == first
    assert all(r["facts"]["compare"]["rps"]["before"] > 0 for r in second["levels"])
    # A slower service: +200 ms on every request of both levels. p99 over a few dozen requests is
    # noisy, so the limit is wide: only a service slowed this much can exceed it, every time.
    project.makeconftest(conftest_fault(3, 'admin_get("/admin/faults", node="all", latency_ms="200")'))
    slow = project.runpytest_subprocess("tests_perf", "-k", "2a", "--trinity-levels", "3-4", "--trinity-compare", "latest",
                                        "--trinity-compare-fail", "p99:200%")
    slow.assert_outcomes(failed=2)
    pattern = rf".*p99 rose from [\d.,]+ to [\d.,]+ vs run {second['run']['run_id']}: [\d.,]+ % > 200 %.*"
    assert len([line for line in slow.outlines if re.match(pattern, line)]) >= 2, slow.stdout.str()


def test_compare_needs_a_readable_earlier_run_of_the_same_scale(project):
    # an earlier run at another scale: `latest` passes it over, naming it is a usage error
    other = project.path / "reports" / "20261101T000000-1" / "results.json"
    other.parent.mkdir(parents=True)
    other.write_text(json.dumps({"run": {"run_id": "20261101T000000-1", "target": "ref", "scale": 0.5}, "levels": []}))
    missing = project.runpytest_subprocess("tests_perf", "-k", "2a", "--trinity-compare", "latest")
    assert missing.ret == pytest.ExitCode.USAGE_ERROR
    missing.stderr.fnmatch_lines(["*--trinity-compare latest: no earlier run against target 'ref' at --trinity-scale 0.01 in *reports*"])
    scaled = project.runpytest_subprocess("tests_perf", "-k", "2a", "--trinity-compare", str(other.parent))
    assert scaled.ret == pytest.ExitCode.USAGE_ERROR
    scaled.stderr.fnmatch_lines(["*--trinity-compare: run 20261101T000000-1 (*results.json) ran at --trinity-scale 0.5, "
                                 "this run at 0.01; compare runs of the same scale*"])
    lone = project.runpytest_subprocess("tests_perf", "-k", "2a", "--trinity-compare-fail", "rps:10%")
    lone.stderr.fnmatch_lines(["*--trinity-compare-fail needs --trinity-compare PATH|latest*"])
    bad = project.runpytest_subprocess("tests_perf", "--trinity-compare-fail", "speed:10%")
    bad.stderr.fnmatch_lines(["*--trinity-compare-fail: must be METRIC:PCT%,… with METRIC one of rps, p50, p99*"])
    assert "Traceback" not in missing.stderr.str() + scaled.stderr.str()


def test_live_progress_in_a_ci_log(project, admin):
    # 2b L10 at scale 0.1 is 150,000 datagrams: several seconds, so at least one progress line.
    result = project.runpytest_subprocess("tests_perf", "-k", "2b", "--trinity-levels", "10", "--trinity-scale", "0.1", "-s")
    result.assert_outcomes(passed=1)
    lines = [line for line in result.outlines if "[trinity] test_2b_udp_nlb_partner[L10-c12000]:" in line]
    assert lines, result.stdout.str()
    done = [int(m.group(1).replace(",", "")) for line in lines if (m := re.search(r"([\d,]+)/150,000 requests", line))]
    assert done and done == sorted(done) and all(0 <= d <= 150_000 for d in done)


def test_no_secret_reaches_reports_logs_or_junit(project, admin, monkeypatch):
    import os

    secrets = [os.environ[var] for var in ENV.values()]
    assert all(len(s) > 16 for s in secrets)
    project.makeconftest(conftest_fault(2, 'admin_get("/admin/faults", node="all", error_5xx_ratio="1")'))
    result = project.runpytest_subprocess("tests_perf", "-k", "1a or 2c", "--trinity-levels", "1-2", "--junitxml",
                                          "reports/junit.xml", "-rA", "-vv")
    result.assert_outcomes(passed=1, failed=3)  # the fault stays on from 1a L02 through 2c
    written = [p for p in (project.path / "reports").rglob("*") if p.is_file()]
    assert any(p.name == "results.json" for p in written) and any(p.name == "junit.xml" for p in written)
    texts = [p.read_text(errors="replace") for p in written] + [result.stdout.str(), result.stderr.str()]
    for secret in secrets:
        assert not any(secret in text for text in texts)
