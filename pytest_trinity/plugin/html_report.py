"""pytest-html hooks: each plan case's figures and plots as extras, the plan summary and every
test's level table and plots in the report's summary.

The hooks live in a class registered at session start only when pytest-html is loaded
and a report is asked for (`--html`), so the plugin works without pytest-html and a run
without a report never imports matplotlib. Under xdist the extras are made where the case
ran; only the controller writes the summary.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from pytest_trinity.model import LevelRecord
from pytest_trinity.plugin.run import RUN

PLUGIN_NAME = "trinity-html-report"
RECORD = pytest.StashKey[LevelRecord]()  # on each plan-test item: its level's record, once known


class TrinityHtmlReport:
    """The pytest-html hook implementations (registered by `pytest_sessionstart` below), and a
    consumer of each recorded level: its case's extra, and the summary's records."""

    def __init__(self) -> None:
        self.records: list[LevelRecord] = []

    @pytest.hookimpl
    def pytest_trinity_level_recorded(self, item: pytest.Item, record: LevelRecord) -> None:
        item.stash[RECORD] = record
        self.records.append(record)

    @pytest.hookimpl(hookwrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, None]:
        outcome = yield
        report: pytest.TestReport = outcome.get_result()
        record = item.stash.get(RECORD, None)
        # A case that ran has a "call" report; one skipped or errored in setup has only its setup
        # report (which pytest-html shows when not passed): one extra either way, never two.
        if record is None or not (report.when == "call" or (report.when == "setup" and not report.passed)):
            return
        run = item.config.stash.get(RUN, None)
        if run is None:
            return
        from pytest_html import extras

        from pytest_trinity.results.html import case_html

        report.extras = [*getattr(report, "extras", []), extras.html(case_html(record, run.plan))]  # type: ignore[attr-defined]

    def pytest_html_results_summary(self, prefix: list[str], summary: list[str], postfix: list[str],
                                    session: pytest.Session) -> None:
        if hasattr(session.config, "workerinput"):
            return
        run = session.config.stash.get(RUN, None)
        if run is None:
            return
        from pytest_trinity.results.html import plan_summary_html, sections_html

        records = list(self.records)
        summary.append(plan_summary_html(run.plan, records, run.scale, run.target.name))
        postfix.extend(sections_html(run.plan, records, run.scale))


def pytest_sessionstart(session: pytest.Session) -> None:
    """Register the pytest-html hooks when pytest-html is loaded and writes a report."""
    config = session.config
    if (config.pluginmanager.hasplugin("html") and config.getoption("htmlpath", None)
            and not config.pluginmanager.has_plugin(PLUGIN_NAME)):
        config.pluginmanager.register(TrinityHtmlReport(), PLUGIN_NAME)
