"""pytest-html hooks: each plan case's figures and plots as extras, the plan summary and every
test's level table and plots in the report's summary.

The hooks live in a class registered at session start only when pytest-html is loaded
and a report is asked for (`--html`), so the plugin works without pytest-html and a run
without a report never imports matplotlib. Under xdist the extras are made where the case
ran; only the controller writes the summary.

pytest-html builds the report in `pytest_sessionfinish`, after the restore (the `trinity_run`
fixture's teardown) and before the terminal summary. A Ctrl-C or SIGTERM there used to end
pytest with an INTERNALERROR: no summary, no restore line, no report. While the report is
built the first such signal is held (the report is finished, then one line says so and the
run exits "interrupted"); a second one abandons the report, and one line says that instead.
"""

from __future__ import annotations

import signal
import threading
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
        self.signals: list[str] = []  # the signals that came while the report was built
        self.abandoned = False  # a second signal stopped the report before it was written

    @pytest.hookimpl(wrapper=True, trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> Generator[None, None, None]:
        """Inside the terminal reporter's wrapper and around pytest-html's writer: hold the
        first SIGINT or SIGTERM while the report is built, and catch the interrupt of a second."""
        if threading.current_thread() is not threading.main_thread():
            return (yield)

        def held(signum: int, frame: Any) -> None:
            self.signals.append(signal.Signals(signum).name)
            if len(self.signals) > 1:
                raise KeyboardInterrupt(f"{self.signals[-1]} while the HTML report was built")

        old = {signum: signal.signal(signum, held) for signum in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        except KeyboardInterrupt:
            self.abandoned = True
        finally:
            for signum, handler in old.items():
                signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        if self.signals and session.exitstatus in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            session.exitstatus = pytest.ExitCode.INTERRUPTED
        return None

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
        if not self.signals:
            return
        path = config.getoption("htmlpath", None)
        if self.abandoned:
            terminalreporter.write_line(f"HTML report NOT written ({path}): interrupted while it was being built "
                                        f"({', then '.join(self.signals)})", red=True, bold=True)
        else:
            terminalreporter.write_line(f"HTML report written ({path}) although interrupted while it was being built "
                                        f"({self.signals[0]} held until it was done)", yellow=True)

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
