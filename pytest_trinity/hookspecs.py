"""pytest-trinity's hooks: implement them in a conftest.py or a plugin.

In the style of pytest-benchmark: a `firstresult` hook to *make* something (the target
contract, a level's verdict) and broadcast hooks to *add to* or *hear of* something (extra
figures, each recorded level, results.json before it is written). Every object passed is one
of the public types of `pytest_trinity.model`, `pytest_trinity.plan` or
`pytest_trinity.targets`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pytest_trinity.model import Facts, LevelFigures, LevelRecord, LoadSummary, Verdict
    from pytest_trinity.plan import Plan, PlanTest, ScaledLevel
    from pytest_trinity.targets import Target, TargetContract


@pytest.hookspec(firstresult=True)
def pytest_trinity_contract(config: pytest.Config, target: Target) -> TargetContract | None:
    """Return the contract to talk to `target` with (default: `target.contract`, the
    `[targets.X.contract]` table over the Trinity defaults).

    For a service that needs more than renamed keys, e.g. another snapshot layout::

        # conftest.py
        from pytest_trinity.targets import TrinityContract

        class LegacyContract(TrinityContract):
            def parse_node(self, data, counters, where):
                return super().parse_node(data["payload"], counters, where)

        def pytest_trinity_contract(config, target):
            if target.name == "legacy":
                return LegacyContract()
    """


def pytest_trinity_level_figures(test: PlanTest, level: ScaledLevel, figures: LevelFigures,
                                 load: LoadSummary) -> dict[str, dict[str, float]] | None:
    """Return extra metrics for a level, by source, before it is judged: they are merged into
    `figures.sources`, so a red flag of the plan file (or a judge wrapper) can read them.

        # conftest.py
        def pytest_trinity_level_figures(test, level, figures, load):
            return {"client": {"cpu_us_per_request": load.cpu_seconds * 1e6 / max(1, figures.sent)}}
    """


def pytest_trinity_metric_sources(config: pytest.Config) -> dict[str, list[str]] | None:
    """Return the metric sources and names a plugin's `pytest_trinity_level_figures` adds, so
    the plan file's red flags may use them: a red flag naming a source or metric that no one
    gives is a usage error (see `pytest_trinity/plan/metrics.py` for the built-in ones).

    Called once, when the plan is loaded at `pytest_configure`: implement it in a plugin or a
    conftest.py of the rootdir or of the paths given on the command line (a conftest found
    later, during collection, is too late)::

        # conftest.py
        def pytest_trinity_metric_sources(config):
            return {"client": ["cpu_us_per_request"]}

        def pytest_trinity_level_figures(test, level, figures, load):
            return {"client": {"cpu_us_per_request": load.cpu_seconds * 1e6 / max(1, figures.sent)}}
    """


@pytest.hookspec(firstresult=True)
def pytest_trinity_judge_level(plan: Plan, test: PlanTest, level: ScaledLevel, figures: LevelFigures,
                               facts: Facts) -> Verdict | None:
    """Judge one level. The plugin's implementation applies the plan's criteria, red flags,
    degradation rules and reconciliation; wrap it to add breaches of your own::

        # conftest.py
        import pytest
        from pytest_trinity.model import Breach

        @pytest.hookimpl(wrapper=True)
        def pytest_trinity_judge_level(plan, test, level, figures, facts):
            verdict = yield
            if figures.p50_ms is not None and figures.p50_ms > 2.0:
                return verdict.with_breaches(Breach("p50_2ms", "red_flag", "p50", figures.p50_ms, ">", 2.0, "ms",
                                                    "our own rule: p50 above 2 ms", fails=True))
            return verdict
    """


def pytest_trinity_level_recorded(item: pytest.Item, record: LevelRecord) -> None:
    """A level's record is final (passed, failed, error, skipped or interrupted). The plugin's
    own report writers (results.json, JUnit properties, the terminal summary, the HTML
    report) listen to this; so can yours::

        # conftest.py
        def pytest_trinity_level_recorded(item, record):
            with open("levels.csv", "a") as f:
                f.write(f"{record.test_id},{record.level_id},{record.status},{record.ok_rps:.0f}\\n")
    """


def pytest_trinity_update_results_json(config: pytest.Config, data: dict[str, Any]) -> None:
    """Change results.json's content before it is written (after every level and at the end)::

        # conftest.py
        def pytest_trinity_update_results_json(config, data):
            data["run"]["build"] = os.environ.get("BUILD_ID")
    """
