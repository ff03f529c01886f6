"""The plan runner inside pytest: the session's `PlanSession`, each case's checklist and
level, and the restore report at the end (printed, and failing the run when production was
not restored). Every record a case makes is announced with `pytest_trinity_level_recorded`.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from pytest_trinity import __version__
from pytest_trinity.drivers import ExecutorError
from pytest_trinity.model import Facts, LevelFigures, LevelRecord, LoadSummary, Verdict
from pytest_trinity.plan import Plan, PlanTest, ScaledLevel
from pytest_trinity.plugin.progress import LiveProgress
from pytest_trinity.plugin.reports import ResultsJson
from pytest_trinity.plugin.state import get_state
from pytest_trinity.results.machine import git_commit, machine_info
from pytest_trinity.runner import PlanSession, RestoreReport, SetupError, run_level
from pytest_trinity.runner.cloud import CloudWindowCase
from pytest_trinity.runner.lock import LockHeld
from pytest_trinity.services import ServiceError
from pytest_trinity.targets import Target

RUN = pytest.StashKey[PlanSession]()


def _session(config: pytest.Config, plan: Plan, target: Target) -> PlanSession:
    settings, state = get_state(config).settings, get_state(config)
    hook = config.hook

    def judge(plan: Plan, test: PlanTest, level: ScaledLevel, figures: LevelFigures, facts: Facts) -> Verdict:
        verdict: Verdict = hook.pytest_trinity_judge_level(plan=plan, test=test, level=level, figures=figures, facts=facts)
        return verdict

    def extra_figures(test: PlanTest, level: ScaledLevel, figures: LevelFigures, load: LoadSummary) -> list[dict[str, dict[str, float]]]:
        found = hook.pytest_trinity_level_figures(test=test, level=level, figures=figures, load=load)
        return [extra for extra in found if extra]

    return PlanSession(plan, target, settings.scale, settings.report_dir, settings.stop_after,
                       contract_for=lambda t: hook.pytest_trinity_contract(config=config, target=t), previous=state.previous,
                       judge=judge, extra_figures=extra_figures, executor=settings.executor)


@pytest.fixture(scope="session")
def trinity_run(pytestconfig: pytest.Config, trinity_plan: Plan, trinity_target: Target) -> Iterator[PlanSession]:
    """The session's run of the plan: target (the local cluster is started here), records, restore."""
    if hasattr(pytestconfig, "workerinput"):
        # Before anything touches the target: xdist workers would each load it at once (and
        # each switch its profile, or each start a local cluster), and no worker reports the plan.
        pytest.fail("pytest-trinity: plan tests do not run under pytest-xdist: its workers would load the target "
                    "at the same time and change its profile under each other. Run them in one process: "
                    "without -n, or with -n 0 or -p no:xdist.", pytrace=False)
    settings = get_state(pytestconfig).settings
    run = _session(pytestconfig, trinity_plan, trinity_target)
    run_info = {"plugin_version": __version__, "plan": f"{trinity_plan.name} v{trinity_plan.version}",
                "tests_commit": git_commit(pytestconfig.rootpath), "machine": machine_info(),
                "levels": list(settings.levels) if settings.levels else None}
    writer = ResultsJson(pytestconfig, run, run_info, settings.compare_fail)
    pytestconfig.pluginmanager.register(writer, ResultsJson.NAME)
    run.exclude_dir, run.run_id, run.break_lock = writer.store.dir, writer.store.run_id, settings.break_lock
    pytestconfig.stash[RUN] = run
    run.progress = LiveProgress(pytestconfig)
    try:
        run.start()
        problem = None
    except LockHeld as exc:
        problem = f"pytest-trinity: target {trinity_target.name!r}: {exc}"
    except ExecutorError as exc:
        problem = f"pytest-trinity: {exc}"
    except (ServiceError, OSError) as exc:
        problem = f"pytest-trinity: the target {trinity_target.name!r} could not be started: {exc}"
    except Exception as exc:  # e.g. boto3 without a usable AWS profile: still closed, restored and reported
        problem = f"pytest-trinity: the target {trinity_target.name!r} could not be started: {type(exc).__name__}: {exc}"
    if run.lock_note:
        writer.store.run["lock"] = run.lock_note
    if problem is not None:
        _finish(run, writer)
        pytest.fail(problem, pytrace=False)
    try:
        yield run
    finally:
        _finish(run, writer)


def _finish(run: PlanSession, writer: ResultsJson) -> None:
    """Restore production, then store the outcome in results.json, whatever interrupts the
    restore: its report (or, if it never returned one, a NOT RESTORED one saying so) always
    reaches `run.restore` (the terminal summary) and results.json (`restore`, `ended_at`)."""
    try:
        run.close()
    finally:
        if run.restore is None:
            run.restore = RestoreReport(False, run.plan.restore.profile, run.plan.restore.governor,
                                        "the restore did not finish: it was interrupted or failed (see the error above)")
        with _signals_ignored():
            writer.finish(run.restore)


@contextlib.contextmanager
def _signals_ignored() -> Iterator[None]:
    """SIGINT and SIGTERM are ignored while results.json is written (a few milliseconds), so
    that a signal cannot leave it without its ending. The run ends right after anyway; raised
    again here, a KeyboardInterrupt would escape pytest's session teardown (INTERNALERROR)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    old: dict[int, Any] = {signum: signal.signal(signum, signal.SIG_IGN) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for signum, handler in old.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


def recorded(item: pytest.Item, record: LevelRecord) -> None:
    item.config.hook.pytest_trinity_level_recorded(item=item, record=record)


@dataclass
class LevelRunner:
    """What a plan test holds: its level, prepared by the checklist, ready to `run()`."""

    session: PlanSession
    test: PlanTest
    level: ScaledLevel
    node: pytest.Item

    def run(self) -> LevelRecord:
        return run_level(self.session, self.test, self.level, self.node.name, lambda record: recorded(self.node, record))


def _setup_record(run: PlanSession, test: PlanTest, level: ScaledLevel, node: pytest.Item, status: str, message: str) -> None:
    now = time.time()
    recorded(node, run.add(LevelRecord.of(test.id, node.name, level, status, now, now, message=message)))


@dataclass
class WindowRunner:
    """What a test's cloud-window case holds: `run()` judges CloudWatch over the test's window."""

    session: PlanSession
    test: PlanTest
    node: pytest.Item

    def run(self) -> LevelRecord:
        assert self.session.cloud is not None
        record = self.session.add(self.session.cloud.window(self.test, self.node.name, self.session.records))
        recorded(self.node, record)
        if record.status == "skipped":
            pytest.skip(record.message)
        return record


@pytest.fixture
def trinity_runner(request: pytest.FixtureRequest, trinity_run: PlanSession, trinity_test: PlanTest,
                   trinity_level: ScaledLevel | CloudWindowCase) -> LevelRunner | WindowRunner:
    """The plan's pre-test checklist for this level (profile, governor, reset, verify), then a
    runner for the level itself. A failing step is a setup error naming the node and keys."""
    node = request.node
    if isinstance(trinity_level, CloudWindowCase):
        return WindowRunner(trinity_run, trinity_test, node)
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
