"""Fixtures a plan test or a user's conftest can ask for: the plan, the test, the target."""

from __future__ import annotations

import pytest

from pytest_trinity.plan import Plan, PlanTest, Profile
from pytest_trinity.plugin.options import Settings
from pytest_trinity.plugin.state import get_state, plan_test_of, require_plan
from pytest_trinity.targets import Target


@pytest.fixture(scope="session")
def trinity_settings(pytestconfig: pytest.Config) -> Settings:
    """The resolved `--trinity-*` settings of this run."""
    return get_state(pytestconfig).settings


@pytest.fixture(scope="session")
def trinity_plan(pytestconfig: pytest.Config) -> Plan:
    """The loaded plan (profiles.toml)."""
    return require_plan(pytestconfig)


@pytest.fixture(scope="session")
def trinity_target(pytestconfig: pytest.Config) -> Target:
    """The selected target (`--trinity-target`)."""
    target = get_state(pytestconfig).target
    assert target is not None
    return target


@pytest.fixture
def trinity_test(request: pytest.FixtureRequest, trinity_plan: Plan) -> PlanTest:
    """The plan test (1a … 2e) of the requesting test function."""
    test = plan_test_of(request.node, trinity_plan)
    if test is None:
        pytest.fail(f"{request.node.nodeid} is not a plan test: mark it @pytest.mark.trinity(\"<id>\")", pytrace=False)
    return test


@pytest.fixture
def trinity_profile(trinity_plan: Plan, trinity_test: PlanTest) -> Profile:
    """The stress profile the plan assigns to the requesting test."""
    return trinity_plan.profile_for(trinity_test)
