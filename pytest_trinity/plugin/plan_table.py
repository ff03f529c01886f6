"""`--trinity-plan`: print the selected tests and ramp after scaling, then run nothing."""

from __future__ import annotations

import pytest

from pytest_trinity.plan import Plan, PlanTest, ScaledLevel
from pytest_trinity.plugin.collection import LEVEL_ARG
from pytest_trinity.plugin.state import STATE, get_state, plan_test_of
from pytest_trinity.plugin.tables import format_table


def _selection(items: list[pytest.Item], plan: Plan) -> dict[str, list[ScaledLevel]]:
    selected: dict[str, list[ScaledLevel]] = {}
    for item in items:
        test = plan_test_of(item, plan)
        callspec = getattr(item, "callspec", None)
        if test is not None and callspec is not None and isinstance(callspec.params[LEVEL_ARG], ScaledLevel):
            selected.setdefault(test.id, []).append(callspec.params[LEVEL_ARG])  # (not the [cloud] window case)
    return selected


def _level_span(levels: list[ScaledLevel]) -> str:
    numbers = [lv.number for lv in levels]
    if numbers == list(range(numbers[0], numbers[-1] + 1)) and len(numbers) > 1:
        return f"L{numbers[0]:02d}–L{numbers[-1]:02d}"
    return ",".join(f"L{n:02d}" for n in numbers)


def _test_notes(test: PlanTest) -> list[str]:
    notes = []
    if test.endurance is not None:
        e = test.endurance
        notes.append(
            f"  {test.id}: open model at {e.load_fraction:.0%} of the {e.ceiling_from} ceiling, "
            f"held {e.duration_s:,.0f} s in the plan"
        )
    if test.compare_with:
        notes.append(f"  {test.id}: compared with {test.compare_with}")
    if test.watch:
        notes.append(f"  {test.id}: the plan's key metrics to watch: {', '.join(test.watch)} ({test.budget_min:g} min in the plan)")
    return notes


def render_plan(plan: Plan, selected: dict[str, list[ScaledLevel]], scale: float, target: str) -> list[str]:
    lines = [f"{plan.name} v{plan.version} ({plan.source.name}) · target {target} · scale {scale:g}", ""]
    if not selected:
        return lines + ["no test of the plan was collected: run `pytest tests_perf --trinity-plan`"]
    tests = [plan.tests[tid] for tid in plan.tests if tid in selected]
    lines += format_table(
        ["test", "phase", "protocol", "access path", "topology", "profile", "key", "governor", "streams", "levels", "title"],
        [
            [t.id, t.phase, t.protocol, t.access_path, t.topology, t.profile, t.key_tier, t.governor,
             "+".join(t.streams), _level_span(selected[t.id]), t.title]
            for t in tests
        ],
    )
    notes = [note for t in tests for note in _test_notes(t)]
    if notes:
        lines += ["", *notes]
    levels = {lv.number: lv for lvs in selected.values() for lv in lvs}
    lines += [""] + format_table(
        ["level", "plan requests", "plan concurrent", "requests", "concurrent", "purpose"],
        [[lv.id, lv.level.requests, lv.level.concurrent, lv.requests, lv.concurrent, lv.level.purpose]
         for _, lv in sorted(levels.items())],
    )
    total = sum(lv.requests * len([t for t in tests if lv in selected[t.id]]) for lv in levels.values())
    lines += ["", f"{sum(len(v) for v in selected.values())} cases, {total:,} requests in all; nothing is sent with --trinity-plan"]
    return lines


def pytest_report_collectionfinish(config: pytest.Config, items: list[pytest.Item]) -> list[str] | None:
    if STATE not in config.stash or not get_state(config).settings.show_plan:
        return None
    state = get_state(config)
    if state.plan is None:
        return [f"pytest-trinity: no plan file at {state.settings.profiles}"]
    return render_plan(state.plan, _selection(items, state.plan), state.settings.scale, state.settings.target)


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> bool | None:
    if STATE in session.config.stash and get_state(session.config).settings.show_plan:
        return True  # printed at collection; run nothing
    return None
