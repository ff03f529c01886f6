"""Real plan runs with an HTML report, made once per session and shared by the report tests.

The sessions are pytest subprocesses (like `pytester.runpytest_subprocess`) of a copy of this
repository's tests_perf/ and plan, against the bundled local reference cluster. They are
session-scoped because each costs seconds of real load and telemetry, and pytester is a
per-test fixture. The plan copy tightens the p99 rule (a tiny limit, applied at levels 2–3)
so the report has failing levels, breaches and advice to show without any fault injection.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pytest_trinity.model import LevelRecord
from pytest_trinity.plan import Plan, load_plan
from tests.conftest import INI, REPO

TIGHT_P99_MS = "0.001"
TIGHT_P99_LEVELS = "[2, 3]"
RUN_TIMEOUT_S = 300


@dataclass(frozen=True)
class ReportRun:
    """One finished pytest session with `--html report.html --self-contained-html`."""

    root: Path
    returncode: int
    output: str
    plan: Plan

    @property
    def html_path(self) -> Path:
        return self.root / "report.html"

    @property
    def html(self) -> str:
        return self.html_path.read_text(encoding="utf-8")

    @property
    def results(self) -> dict[str, Any]:
        return json.loads((self.root / "reports" / "latest" / "results.json").read_text(encoding="utf-8"))

    @property
    def records(self) -> list[LevelRecord]:
        return [LevelRecord.from_json(level) for level in self.results["levels"]]

    def test_data(self) -> dict[str, Any]:
        """pytest-html's per-case data (results table rows and their extras)."""
        import html

        blob = re.search(r'data-jsonblob="([^"]*)"', self.html)
        assert blob, "no data-jsonblob in the report"
        return json.loads(html.unescape(blob.group(1)))["tests"]


def tight_plan_text() -> str:
    """The repository's plan with a p99 limit no level can meet, applied at levels 2 and 3."""
    text = (REPO / "profiles.toml").read_text(encoding="utf-8")
    text, n_ms = re.subn(r"(?m)^p99_ms = [0-9._]+", f"p99_ms = {TIGHT_P99_MS}", text)
    text, n_levels = re.subn(r"(?m)^p99_levels = \[[^\]]*\]", f"p99_levels = {TIGHT_P99_LEVELS}", text)
    assert n_ms == 1 and n_levels == 1, "profiles.toml [criteria] changed shape: update tight_plan_text()"
    return text


def run_report_session(root: Path, *args: str) -> ReportRun:
    shutil.copytree(REPO / "tests_perf", root / "tests_perf")
    (root / "profiles.toml").write_text(tight_plan_text(), encoding="utf-8")
    (root / "pytest.ini").write_text(INI, encoding="utf-8")
    cmd = [sys.executable, "-m", "pytest", "tests_perf", "-p", "no:cacheprovider", "-rA", "--trinity-scale", "0.01",
           "--html", "report.html", "--self-contained-html", *args]
    done = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    return ReportRun(root, done.returncode, done.stdout + done.stderr, load_plan(root / "profiles.toml"))


@pytest.fixture(scope="session")
def report_run(tmp_path_factory: pytest.TempPathFactory) -> ReportRun:
    """2a, 2b and 2c at levels 1–3 (scale 0.01): 2a–2c fail at L02–L03 on the tight p99."""
    run = run_report_session(tmp_path_factory.mktemp("report"), "--trinity-levels", "1-3", "-k", "2a or 2b or 2c",
                             "--junitxml", "junit.xml")
    assert run.html_path.is_file(), run.output
    return run


@pytest.fixture(scope="session")
def skipped_run(tmp_path_factory: pytest.TempPathFactory) -> ReportRun:
    """2e alone in a fresh report dir: no 2a ceiling anywhere, so every level skips with the reason."""
    run = run_report_session(tmp_path_factory.mktemp("skipped"), "--trinity-levels", "1-2", "-k", "2e")
    assert run.html_path.is_file(), run.output
    return run
