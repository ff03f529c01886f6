"""Turn each `@pytest.mark.trinity("<id>")` test into one case per selected ramp level.

Ids are stable and deterministic (`test_2b_udp_nlb_partner[L05-c900]`), the same on every
xdist worker and at every scale. A target with cloud metrics (`[aws]`) adds one more case per
test, `[cloud]`, after its levels: the test's cloud window (runner/cloud.py). Each case also gets the markers its plan test implies
(phase, protocol, endurance) and the plan test id as a `-k` keyword.
"""

from __future__ import annotations

import pytest

from pytest_trinity.plan import Plan, PlanTest, ScaledLevel, scale_level
from pytest_trinity.plugin.configure import phase_marker
from pytest_trinity.plugin.state import STATE, get_state, plan_test_of, require_plan
from pytest_trinity.runner.cloud import CloudWindowCase

LEVEL_ARG = "trinity_level"


def cloud_window_on(config: pytest.Config) -> bool:
    target = get_state(config).target
    return target is not None and target.aws is not None and target.aws.cloud_on


def selected_levels(config: pytest.Config, plan: Plan) -> list[ScaledLevel]:
    settings = get_state(config).settings
    numbers = settings.levels or range(1, len(plan.levels) + 1)
    return [scale_level(plan.level(n), settings.scale) for n in numbers]


def _marks(test: PlanTest) -> list[pytest.MarkDecorator]:
    marks = [getattr(pytest.mark, phase_marker(test.phase)), getattr(pytest.mark, test.protocol)]
    if test.endurance is not None:
        marks.append(pytest.mark.endurance)
    return marks


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if metafunc.definition.get_closest_marker("trinity") is None:
        return
    plan = require_plan(metafunc.config)
    test = plan_test_of(metafunc.definition, plan)
    assert test is not None
    if LEVEL_ARG not in metafunc.fixturenames:
        pytest.fail(f"{metafunc.definition.nodeid}: a plan test must take the argument {LEVEL_ARG!r}", pytrace=False)
    marks = _marks(test)
    params = [pytest.param(level, id=level.id, marks=marks) for level in selected_levels(metafunc.config, plan)]
    if cloud_window_on(metafunc.config):
        params.append(pytest.param(CloudWindowCase(), id=CloudWindowCase.id, marks=marks))
    metafunc.parametrize(LEVEL_ARG, params)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    plan = config.stash[STATE].plan if STATE in config.stash else None
    if plan is None:
        return
    for item in items:
        test = plan_test_of(item, plan)
        if test is not None:
            item.extra_keyword_matches.add(test.id)
