"""The run's state in `config.stash`: the settings, the plan and the target."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from pytest_trinity.model import LevelRecord
from pytest_trinity.plan import Plan, PlanTest
from pytest_trinity.plugin.options import Settings
from pytest_trinity.targets import Target


@dataclass(frozen=True)
class TrinityState:
    settings: Settings
    plan: Plan | None  # None when no plan file exists and none was asked for
    target: Target | None
    previous: tuple[str, dict[tuple[str, str], LevelRecord]] | None = None  # --trinity-compare: (run id, records by (test, level id))


STATE = pytest.StashKey[TrinityState]()


def get_state(config: pytest.Config) -> TrinityState:
    return config.stash[STATE]


def require_plan(config: pytest.Config) -> Plan:
    """The loaded plan, or a collection failure that says how to provide one."""
    state = get_state(config)
    if state.plan is None:
        pytest.fail(
            f"pytest-trinity: no plan file at {state.settings.profiles}; "
            "put profiles.toml in the rootdir or give --trinity-profiles PATH",
            pytrace=False,
        )
    return state.plan


def plan_test_of(node: pytest.Item | pytest.Function, plan: Plan) -> PlanTest | None:
    """The plan test a node belongs to (from its `trinity` marker), or None."""
    marker = node.get_closest_marker("trinity")
    if marker is None:
        return None
    if len(marker.args) != 1 or not isinstance(marker.args[0], str):
        pytest.fail(f"{node.nodeid}: use @pytest.mark.trinity(\"<test id>\"), e.g. @pytest.mark.trinity(\"2b\")", pytrace=False)
    test_id = marker.args[0]
    if test_id not in plan.tests:
        known = ", ".join(plan.tests)
        pytest.fail(f"{node.nodeid}: @pytest.mark.trinity({test_id!r}) names a test that {plan.source.name} does not define (defined: {known})", pytrace=False)
    return plan.tests[test_id]
