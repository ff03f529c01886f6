"""Two report writers, each a consumer of `pytest_trinity_level_recorded`: results.json
(rewritten after every level) and the JUnit properties of each case. (The terminal summary
and the HTML report are the other two: terminal.py, html_report.py.)

Only the process that runs the plan writes; nothing here measures or judges.
"""

from __future__ import annotations

import contextlib
import sys
from typing import Any

import pytest

from pytest_trinity.model import LevelRecord
from pytest_trinity.results import RunStore
from pytest_trinity.results.junit import junit_properties
from pytest_trinity.results.store import StoreError, check_report_dir
from pytest_trinity.runner import PlanSession, RestoreReport


class ResultsJson:
    """`<report dir>/<run id>/results.json`, written after every level and at the end.

    A report dir that cannot hold results fails the run here, before any load is sent. A
    write that fails later fails no level: it is reported (one line per distinct problem) and
    the records stay in memory, so the next write, or the final one, carries them all."""

    NAME = "trinity-results-json"

    def __init__(self, config: pytest.Config, session: PlanSession, run_info: dict[str, Any], compare_fail: dict[str, float]):
        self.config, self.session = config, session
        self.reported: set[str] = set()
        try:
            check_report_dir(session.report_dir)
            problem = None
        except StoreError as exc:
            problem = str(exc)
        if problem is not None:  # failed outside the except block: no chained traceback in the report
            pytest.fail(f"pytest-trinity: {problem}", pytrace=False)
        self.store = RunStore(session.report_dir, session.plan, dict(run_info, target=session.target.name, scale=session.scale))
        if session.previous is not None:
            self.store.extra["compare"] = {"run_id": session.previous[0], "fail_limits": compare_fail}

    @pytest.hookimpl
    def pytest_trinity_level_recorded(self, item: pytest.Item, record: LevelRecord) -> None:
        if any(r is record for r in self.store.levels):
            return  # heard twice: recorded once
        self.store.levels.append(record)
        self.write()

    def write(self, ended: bool = False) -> None:
        if self.session.cloud is not None and self.session.cloud.actions:
            # What the run did on the target's AWS side (placement, publishing, the stress client, usage_logs).
            self.store.extra["cloud"] = {"actions": [self.session.sanitize.value(a) for a in self.session.cloud.actions]}
        data = self.store.document(ended)
        self.config.hook.pytest_trinity_update_results_json(config=self.config, data=data)
        try:
            problem = self.store.write(data)
        except StoreError as exc:
            problem = f"{exc}; {len(self.store.levels)} level record(s) kept for the next write"
        if problem is not None:
            self.warn(problem)

    def warn(self, problem: str) -> None:
        """One line on the terminal (around output capture) for each distinct problem; not
        `warnings.warn`, which a `filterwarnings = error` would turn into a failed level."""
        key = problem.split(";")[0]
        if key in self.reported:
            return
        self.reported.add(key)
        line = f"pytest-trinity: warning: {problem}"
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        if reporter is None:
            print(line, file=sys.stderr)
            return
        with capture.global_and_fixture_disabled() if capture is not None else contextlib.nullcontext():
            reporter.ensure_newline()
            reporter.write_line(line, yellow=True)

    def finish(self, restore: RestoreReport) -> None:
        self.store.extra["restore"] = {"ok": restore.ok, "summary": restore.summary}
        self.write(ended=True)


class JunitProperties:
    """Each case's JUnit properties, for dashboards."""

    NAME = "trinity-junit-properties"

    @pytest.hookimpl
    def pytest_trinity_level_recorded(self, item: pytest.Item, record: LevelRecord) -> None:
        item.user_properties.extend(junit_properties(record))
