"""The plan runner inside pytest: the session's `PlanRun`, each case's checklist and level,
and the restore report at the end (printed, and failing the run when production was not
restored).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from pytest_trinity import __version__
from pytest_trinity.plan import Plan, PlanTest, ScaledLevel
from pytest_trinity.plugin.progress import LiveProgress
from pytest_trinity.results.junit import junit_properties
from pytest_trinity.results.machine import git_commit, machine_info
from pytest_trinity.runner import LevelRecord, PlanRun, SetupError
from pytest_trinity.plugin.state import get_state
from pytest_trinity.services import ServiceError
from pytest_trinity.targets import Target

RUN = pytest.StashKey[PlanRun]()
RECORD = pytest.StashKey[LevelRecord]()  # on each plan-test item: its level's record, once known


@pytest.fixture(scope="session")
def trinity_run(pytestconfig: pytest.Config, trinity_plan: Plan, trinity_target: Target) -> Iterator[PlanRun]:
    """The session's run of the plan: target (the local cluster is started here), store, restore."""
    if hasattr(pytestconfig, "workerinput"):
        # Before anything touches the target: xdist workers would each load it at once (and
        # each switch its profile, or each start a local cluster), and no worker reports the plan.
        pytest.fail("pytest-trinity: plan tests do not run under pytest-xdist: its workers would load the target "
                    "at the same time and change its profile under each other. Run them in one process: "
                    "without -n, or with -n 0 or -p no:xdist.", pytrace=False)
    settings = get_state(pytestconfig).settings
    run_info = {"plugin_version": __version__, "plan": f"{trinity_plan.name} v{trinity_plan.version}",
                "tests_commit": git_commit(pytestconfig.rootpath), "machine": machine_info(),
                "levels": list(settings.levels) if settings.levels else None}
    state = get_state(pytestconfig)
    run = PlanRun(trinity_plan, trinity_target, settings.scale, settings.report_dir, settings.stop_after, run_info=run_info,
                  previous=state.previous, compare_fail=settings.compare_fail)
    pytestconfig.stash[RUN] = run
    run.progress = LiveProgress(pytestconfig)
    try:
        run.start()
        problem = None
    except (ServiceError, OSError) as exc:
        problem = f"pytest-trinity: the target {trinity_target.name!r} could not be started: {exc}"
    if problem is not None:
        run.close()
        pytest.fail(problem, pytrace=False)
    try:
        yield run
    finally:
        run.close()


@dataclass
class LevelRunner:
    """What a plan test holds: its level, prepared by the checklist, ready to `run()`."""

    run_: PlanRun
    test: PlanTest
    level: ScaledLevel
    node: pytest.Item

    def run(self) -> LevelRecord:
        record = self.run_.run_level(self.test, self.level, self.node.name)
        _attach(self.node, record)
        return record


def _setup_record(run: PlanRun, test: PlanTest, level: ScaledLevel, node: pytest.Item, status: str, message: str) -> None:
    now = time.time()
    record = LevelRecord(test_id=test.id, case=node.name, level=level.number, level_id=level.id,
                         plan_requests=level.level.requests, plan_concurrent=level.level.concurrent,
                         requests=level.requests, concurrent=level.concurrent, scale=level.scale,
                         status=status, started_at=now, ended_at=now, message=message)
    run.add(record)
    _attach(node, record)


def _attach(node: pytest.Item, record: LevelRecord) -> None:
    """Give the case its record (for report hooks) and its JUnit properties (for dashboards)."""
    node.stash[RECORD] = record
    node.user_properties.extend(junit_properties(record.to_dict()))


@pytest.fixture
def trinity_runner(request: pytest.FixtureRequest, trinity_run: PlanRun, trinity_test: PlanTest,
                   trinity_level: ScaledLevel) -> LevelRunner:
    """The plan's pre-test checklist for this level (profile, governor, reset, verify), then a
    runner for the level itself. A failing step is a setup error naming the node and keys."""
    node = request.node
    reason = trinity_run.skip_reason(trinity_test, trinity_level)
    if reason:
        _setup_record(trinity_run, trinity_test, trinity_level, node, "skipped", reason)
        pytest.skip(reason)
    try:
        trinity_run.prepare(trinity_test, trinity_level)
        problem = None
    except SetupError as exc:
        problem = str(exc)
    if problem is not None:  # failed outside the except block: no chained traceback in the report
        _setup_record(trinity_run, trinity_test, trinity_level, node, "error", problem)
        pytest.fail(f"pre-test checklist failed for {trinity_test.id} {trinity_level.id}: {problem}", pytrace=False)
    return LevelRunner(trinity_run, trinity_test, trinity_level, node)


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session) -> None:
    run = session.config.stash.get(RUN, None)
    if run is not None and run.restore is not None and not run.restore.ok and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
