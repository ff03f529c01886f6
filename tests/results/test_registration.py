"""The pytest-html hooks are registered only when pytest-html writes a report, and the plugin
works without pytest-html at all."""

from __future__ import annotations

import pytest

from pytest_trinity.plugin.html_report import PLUGIN_NAME

CONFTEST = f"""
def pytest_collection_finish(session):
    registered = session.config.pluginmanager.has_plugin({PLUGIN_NAME!r})
    print("html hooks registered:", registered)
"""


@pytest.mark.parametrize(("args", "registered"), [
    (("--html", "report.html"), True),
    ((), False),
    (("-p", "no:html"), False),
])
def test_hooks_follow_the_html_option(plan_project: pytest.Pytester, args: tuple[str, ...], registered: bool) -> None:
    plan_project.makeconftest(CONFTEST)
    result = plan_project.runpytest_subprocess("tests_perf", "--trinity-plan", "-s", "-k", "2b", *args)
    assert result.ret == 0, result.stdout.str()
    result.stdout.fnmatch_lines([f"html hooks registered: {registered}"])
    assert plan_project.path.joinpath("report.html").is_file() == ("--html" in args)
