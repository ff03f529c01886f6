"""`PlanSession`: one pytest session's run of the plan.

It owns the target (starting the local reference cluster when asked), its admin clients,
SIGTERM handling, the restore at the end, and the one list of level records that cross-test
facts read (ceilings, breaking points, compared tests). Levels themselves run in the pipeline
of `runner.level`; reports are written by the plugin's consumers of each recorded level.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pytest_trinity.drivers import ShardExecutor
from pytest_trinity.drivers.dask_cluster import open_executor
from pytest_trinity.model import ClusterStats, Facts, LevelFigures, LevelRecord, Verdict, breaking_record, ceiling_record
from pytest_trinity.plan import Plan, PlanTest, ScaledLevel
from pytest_trinity.results import newest_records
from pytest_trinity.runner.checklist import SetupError
from pytest_trinity.runner.cloud import CloudSide
from pytest_trinity.runner.level import ExtraFigures, Judge
from pytest_trinity.runner.local import start_local
from pytest_trinity.runner.lock import RunLock
from pytest_trinity.runner.prepare import Checklist
from pytest_trinity.runner.restore import RestoreReport, restore_production
from pytest_trinity.runner.sanitize import Sanitizer
from pytest_trinity.targets import Secret, Target, TargetContract
from pytest_trinity.telemetry import AdminClient
from pytest_trinity.verdict import judge_level

MIN_CADENCE_S = 0.2  # the fastest telemetry cadence a scaled-down run asks for


@dataclass(frozen=True)
class Ceiling:
    test_id: str
    ok_rps: float
    concurrent: int
    level_id: str
    source: str  # "this run" or "stored run"


def _plain_judge(plan: Plan, test: PlanTest, level: ScaledLevel, figures: LevelFigures, facts: Facts) -> Verdict:
    return judge_level(plan, test, figures)


class PlanSession:
    def __init__(self, plan: Plan, target: Target, scale: float, report_dir: Path, stop_after: int | None = None,
                 contract_for: Callable[[Target], TargetContract] | None = None, processes: int | None = None,
                 previous: tuple[str, dict[tuple[str, str], LevelRecord]] | None = None,
                 judge: Judge = _plain_judge, extra_figures: ExtraFigures = lambda *_: [], executor: str = "local"):
        self.plan, self.target, self.scale = plan, target, scale
        # The target's contract (the plugin passes its `pytest_trinity_contract` hook); the local
        # cluster's target exists only once it has started.
        self._contract_for = contract_for or (lambda t: t.contract)
        self.contract: TargetContract = target.contract if target.local else self._contract_for(target)
        self.report_dir, self.stop_after, self.processes = report_dir, stop_after, processes
        self.previous, self.judge, self.extra_figures = previous, judge, extra_figures
        self.poll_s = max(MIN_CADENCE_S, plan.telemetry.poll_s * scale)
        self.publish_s = max(MIN_CADENCE_S, plan.telemetry.publish_s * scale)
        self.records: list[LevelRecord] = []
        self.memory: dict[str, dict[str, list[tuple[float, float]]]] = {}  # test -> node -> (t, rss bytes)
        self.restore: RestoreReport | None = None
        self.exclude_dir: Path | None = None  # this run's own results folder, left out of stored-run lookups
        self.run_id = ""  # the results store's run id, set by the plugin (names this run in the target's run lock)
        self.break_lock = False  # --trinity-break-lock: take the target's run lock even if another run holds it
        self.lock_note = ""  # what happened to the run lock, for the record
        # Live progress, set by the plugin: called as progress(case, Progress), then progress.finish().
        self.progress: Any = None
        self.checklist = Checklist(plan, self.admin, trim_usage=target.local)
        self.at_reset: ClusterStats | None = None  # the verified-zero snapshot the current level starts from
        self.sanitize = Sanitizer(target.secrets())
        self._stack = contextlib.ExitStack()
        self._admins: dict[tuple[str, bool], AdminClient] = {}
        self._old_sigterm: Any = None
        self._taken = False  # the target is this run's to drive (and to restore)
        self.cloud: CloudSide | None = None  # the target's AWS side (runner/cloud.py), once started
        self.executor_url = executor  # --trinity-executor
        self.executor: ShardExecutor | None = None  # where the levels' shards run, once started

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        # First: a scheduler that does not answer stops the run before the target is touched.
        self.executor = open_executor(self.executor_url, dict(self.target.workers))
        self._stack.callback(self.executor.close)
        if self.target.local:
            self.target = start_local(self.plan, self._stack, self.publish_s, self.target)
            self.contract = self._contract_for(self.target)
            self.sanitize = Sanitizer(self.target.secrets())
        else:
            self._take_lock()
        self._taken = True
        self.cloud = CloudSide(self.plan, self.target, time.time())
        if threading.current_thread() is threading.main_thread():
            self._old_sigterm = signal.signal(signal.SIGTERM, _sigterm_as_sigint)

    def _take_lock(self) -> None:
        """One run at a time on a remote target (runner/lock.py); needs the target's `redis_url`."""
        url = self.target.redis_url
        if url is None:
            self.lock_note = "no run lock: the target has no redis_url"
            return
        lock = RunLock(url.reveal() if isinstance(url, Secret) else url, self.run_id or f"pid {os.getpid()}")
        broken = lock.acquire(force=self.break_lock)
        self._stack.callback(lock.release)
        self.lock_note = f"run lock taken (broke the lock of {broken.describe()})" if broken else "run lock taken"

    def close(self) -> RestoreReport:
        try:
            # A run that could not take the target (its lock is another run's) leaves it alone.
            admins = [self.admin(t) for t in ("balanced", "direct") if self._has(t)] if self._taken else []
            restore = restore_production(self.plan, admins, self.plan.checklist.verify_reset_timeout_s)
            problems = self.cloud.close() if self.cloud is not None else []
            placement = self.cloud.summary() if self.cloud is not None else ""
            detail = "; ".join([restore.detail, *problems] + ([placement] if placement and not problems else []))
            self.restore = dataclasses.replace(restore, ok=restore.ok and not problems, detail=self.sanitize.text(detail))
        finally:
            if self._old_sigterm is not None:
                signal.signal(signal.SIGTERM, self._old_sigterm)
            self._stack.close()
        return self.restore

    def _client(self, topology: str, polling: bool) -> AdminClient:
        key = (topology, polling)
        if key not in self._admins:
            endpoints = self.target.endpoints(topology)
            timeout = max(self.poll_s, 1.0) if polling else 5.0
            self._admins[key] = self._stack.enter_context(AdminClient(
                endpoints.admin, self.target.admin_token, self.contract, self.plan.telemetry.nodes, self.plan.telemetry.counters,
                ca_file=self.target.ca_file, timeout=timeout))
        return self._admins[key]

    def admin(self, topology: str) -> AdminClient:
        return self._client(topology, polling=False)

    def poll_client(self, topology: str) -> AdminClient:
        """A second client for the poller's thread, with a timeout of one poll."""
        return self._client(topology, polling=True)

    def _has(self, topology: str) -> bool:
        try:
            self.target.endpoints(topology)
        except ValueError:
            return False
        return True

    # -- the checklist, as fixture setup -----------------------------------------------------
    def skip_reason(self, test: PlanTest, level: ScaledLevel) -> str | None:
        if test.id in self.checklist.unreachable:
            return self.checklist.unreachable[test.id]
        if self.stop_after is not None and test.endurance is None:
            broke = breaking_record(self.plan, (r for r in self.records if r.test_id == test.id))
            if broke is not None and level.number > broke.level + self.stop_after:
                return f"--trinity-stop-after {self.stop_after}: {test.id} broke at L{broke.level:02d}"
        if test.endurance is not None and self.ceiling(test.endurance.ceiling_from) is None:
            return (f"{test.id} runs at {test.endurance.load_fraction:.0%} of the {test.endurance.ceiling_from} ceiling, "
                    f"and no {test.endurance.ceiling_from} result exists in this run or in {self.report_dir} "
                    f"(target {self.target.name}, scale {self.scale:g}): run {test.endurance.ceiling_from} first")
        return None

    def prepare(self, test: PlanTest, level: ScaledLevel) -> None:
        """The checklist for `level`; a SetupError's message has no secret in it."""
        try:
            if self.cloud is not None:
                self.cloud.before_test(test)
            self.at_reset = self.checklist.prepare(test, level)
        except SetupError as exc:
            message = self.sanitize.text(str(exc))
        else:
            return
        if test.id in self.checklist.unreachable:
            self.checklist.unreachable[test.id] = self.sanitize.text(self.checklist.unreachable[test.id])
        raise SetupError(message)

    # -- what the levels read across tests ----------------------------------------------------
    def ceiling(self, test_id: str) -> Ceiling | None:
        """The best level of `test_id` in this run, else in the newest stored run against the
        same target at the same scale."""
        best = ceiling_record(r for r in self.records if r.test_id == test_id and r.judged)
        source = "this run"
        if best is None:
            stored = newest_records(self.report_dir, test_id, self.target.name, self.scale, exclude=self.exclude_dir)
            best, source = ceiling_record(stored), "stored run"
        if best is None:
            return None
        return Ceiling(test_id, best.ok_rps, best.concurrent, best.level_id, source)

    def previous_level(self, test: PlanTest, level: ScaledLevel) -> tuple[str, LevelRecord] | None:
        """The same level of the earlier run given with --trinity-compare, if it has one."""
        if self.previous is None:
            return None
        before = self.previous[1].get((test.id, level.id))
        return (self.previous[0], before) if before is not None else None

    def add(self, record: LevelRecord) -> LevelRecord:
        """Keep `record`, with every secret redacted and its error texts bounded; returns what was kept."""
        record = self.sanitize.record(record)
        self.records.append(record)
        return record


def _sigterm_as_sigint(signum: int, frame: Any) -> None:
    """SIGTERM takes the same path as Ctrl-C: partial results saved, production restored."""
    os.kill(os.getpid(), signal.SIGINT)


