"""Two report writers, each a consumer of `pytest_trinity_level_recorded`: results.json
(rewritten after every level) and the JUnit properties of each case. (The terminal summary
and the HTML report are the other two: terminal.py, html_report.py.)

Only the process that runs the plan writes; nothing here measures or judges.
"""

from __future__ import annotations

from typing import Any

import pytest

from pytest_trinity.model import LevelRecord
from pytest_trinity.results import RunStore
from pytest_trinity.results.junit import junit_properties
from pytest_trinity.runner import PlanSession, RestoreReport


class ResultsJson:
    """`<report dir>/<run id>/results.json`, written after every level and at the end."""

    NAME = "trinity-results-json"

    def __init__(self, config: pytest.Config, session: PlanSession, run_info: dict[str, Any], compare_fail: dict[str, float]):
        self.config = config
        self.store = RunStore(session.report_dir, session.plan, dict(run_info, target=session.target.name, scale=session.scale))
        if session.previous is not None:
            self.store.extra["compare"] = {"run_id": session.previous[0], "fail_limits": compare_fail}

    @pytest.hookimpl
    def pytest_trinity_level_recorded(self, item: pytest.Item, record: LevelRecord) -> None:
        self.store.levels.append(record)
        self.write()

    def write(self, ended: bool = False) -> None:
        data = self.store.document(ended)
        self.config.hook.pytest_trinity_update_results_json(config=self.config, data=data)
        self.store.write(data)

    def finish(self, restore: RestoreReport) -> None:
        self.store.extra["restore"] = {"ok": restore.ok, "summary": restore.summary}
        self.write(ended=True)


class JunitProperties:
    """Each case's JUnit properties, for dashboards."""

    NAME = "trinity-junit-properties"

    @pytest.hookimpl
    def pytest_trinity_level_recorded(self, item: pytest.Item, record: LevelRecord) -> None:
        item.user_properties.extend(junit_properties(record))
