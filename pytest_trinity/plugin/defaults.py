"""The plugin's own implementations of its firstresult hooks: the hookspecs themselves
(`pytest_addhooks`), the target's contract from its targets file, and the plan's judge."""

from __future__ import annotations

import pytest

from pytest_trinity import hookspecs
from pytest_trinity.model import Facts, LevelFigures, Verdict
from pytest_trinity.plan import Plan, PlanTest, ScaledLevel
from pytest_trinity.targets import Target, TargetContract
from pytest_trinity.verdict import judge_level


def pytest_addhooks(pluginmanager: pytest.PytestPluginManager) -> None:
    pluginmanager.add_hookspecs(hookspecs)


@pytest.hookimpl(trylast=True)
def pytest_trinity_contract(config: pytest.Config, target: Target) -> TargetContract:
    return target.contract


@pytest.hookimpl(trylast=True)
def pytest_trinity_judge_level(plan: Plan, test: PlanTest, level: ScaledLevel, figures: LevelFigures, facts: Facts) -> Verdict:
    return judge_level(plan, test, figures)
