"""Start of a session: resolve the settings, load the plan and the target, register markers.

Any mistake in the options, the plan file or the targets file becomes a pytest usage error
(exit code 4) whose message names what to fix; nothing here prints a traceback.
"""

from __future__ import annotations

import pytest

from pytest_trinity.plan import PlanError, load_plan
from pytest_trinity.plugin.options import resolve_settings
from pytest_trinity.plugin.state import STATE, TrinityState
from pytest_trinity.results.compare import CompareError
from pytest_trinity.results.compare import load as load_previous
from pytest_trinity.results.compare import resolve as resolve_compare
from pytest_trinity.results.store import StoreError, check_report_dir
from pytest_trinity.targets import TargetError, load_target

MARKERS = (
    "trinity(test_id): a test of the performance plan (e.g. \"2b\"); pytest-trinity parametrizes it over the ramp levels",
    "tcp: a plan test that sends TCP/HTTP load",
    "udp: a plan test that sends UDP load",
    "endurance: a plan test that holds load for a long time (2e)",
)


def phase_marker(number: int) -> str:
    return f"phase{number}"


def pytest_configure(config: pytest.Config) -> None:
    for line in MARKERS:
        config.addinivalue_line("markers", line)
    for number in (1, 2):
        config.addinivalue_line("markers", f"{phase_marker(number)}: a test of phase {number} of the plan")
    if config.getoption("help", False) or config.getoption("version", False):
        return
    settings = resolve_settings(config)
    plan = None
    if settings.profiles_given or settings.profiles.is_file():
        try:
            plan = load_plan(settings.profiles, extra_sources=_declared_sources(config))
        except PlanError as exc:
            raise pytest.UsageError(str(exc)) from None
        for number in plan.phases:
            if number not in (1, 2):
                config.addinivalue_line("markers", f"{phase_marker(number)}: a test of phase {number} of the plan")
        unknown = [n for n in settings.levels or () if n > len(plan.levels)]
        if unknown:
            raise pytest.UsageError(
                f"--trinity-levels names level {unknown[0]}, but {plan.source.name} defines levels 1-{len(plan.levels)}"
            )
    collect_only = config.getoption("collectonly", False) or settings.show_plan
    try:
        target = load_target(settings.target, settings.targets_file, resolve_secrets=not collect_only,
                             counters=plan.telemetry.counters if plan else (), config_keys=plan.config_keys() if plan else ())
    except TargetError as exc:
        raise pytest.UsageError(str(exc)) from None
    if settings.compare_fail and not settings.compare:
        raise pytest.UsageError("--trinity-compare-fail needs --trinity-compare PATH|latest to compare with")
    previous = None
    if not collect_only and plan is not None:
        try:
            check_report_dir(settings.report_dir)  # before any traffic, not after every level
        except StoreError as exc:
            raise pytest.UsageError(str(exc)) from None
    if settings.compare and not settings.show_plan:
        try:
            previous = load_previous(resolve_compare(settings.compare, settings.report_dir, target.name, settings.scale),
                                     settings.scale)
        except CompareError as exc:
            raise pytest.UsageError(str(exc)) from None
    config.stash[STATE] = TrinityState(settings=settings, plan=plan, target=target, previous=previous)
    _register_plugins(config, settings.compare_fail)


def _declared_sources(config: pytest.Config) -> dict[str, list[str]]:
    """The metric sources plugins declare (`pytest_trinity_metric_sources`), merged."""
    sources: dict[str, list[str]] = {}
    for declared in config.hook.pytest_trinity_metric_sources(config=config):
        if not isinstance(declared, dict) or not all(
                isinstance(source, str) and isinstance(names, (list, tuple)) and all(isinstance(n, str) for n in names)
                for source, names in declared.items()):
            raise pytest.UsageError(f"pytest_trinity_metric_sources must return {{source: [metric, ...]}}, got {declared!r}")
        for source, names in declared.items():
            sources.setdefault(source, []).extend(names)
    return sources


def _register_plugins(config: pytest.Config, compare_fail: dict[str, float]) -> None:
    """The plugin's own consumers of its hooks (see plugin/reports.py, terminal.py, compare.py)."""
    from pytest_trinity.plugin.compare import RegressionCheck
    from pytest_trinity.plugin.reports import JunitProperties
    from pytest_trinity.plugin.terminal import TerminalSummary

    manager = config.pluginmanager
    manager.register(JunitProperties(), JunitProperties.NAME)
    manager.register(TerminalSummary(), TerminalSummary.NAME)
    if compare_fail:
        manager.register(RegressionCheck(compare_fail), RegressionCheck.NAME)
