"""The run's AWS side: placement per phase, cloud figures per level and per test window,
publishing, and at the end the placement restore, the stress client and the stress rows.

Everything here is opt-in by the target's `[aws]` and `[usage_logs]` tables (docs/aws.md);
a run without them never makes an AWS call. Every action is logged in `actions` (JSON, for
results.json's `run.cloud`), with what it did and how long it took.

The timing rule (profiles.toml `[cloud]`): a level that spans whole CloudWatch periods is
judged on them (its figures merged into the level's sources); the test's strict levels
(through `full_success_through_level`, every window of an endurance test) are judged together
once more in the test's cloud-window case, over the whole periods of their span (or, when the
span is shorter than a period, the periods that cover it). Missing datapoints are breaches.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

from pytest_trinity.cloud.clients import client
from pytest_trinity.cloud.reader import whole_periods
from pytest_trinity.cloud.watch import CloudWatcher
from pytest_trinity.model import LevelFigures, LevelRecord
from pytest_trinity.model.cloud import CLOUD_WINDOW_ID, JUDGED_LEVEL, JUDGED_WINDOW, CloudFigures
from pytest_trinity.plan import Plan, PlanTest
from pytest_trinity.runner.checklist import SetupError
from pytest_trinity.targets import Target
from pytest_trinity.verdict.cloud import judge_window, missing_breaches
from pytest_trinity.verdict.judge import strict_level


class CloudWindowCase:
    """The parameter of a test's cloud-window case (`test_2a_…[cloud]`): after the test's levels,
    CloudWatch's figures over their window are judged as a pass or fail of their own."""

    id = "cloud"

    def __repr__(self) -> str:
        return "CloudWindowCase()"


def pool_size(figures: LevelFigures | None, nodes: int) -> float | None:
    """Aurora's connection budget as the nodes' pools see it: db_max_open on every node."""
    if figures is None:
        return None
    max_open = figures.metric("cluster-stats", "db_max_open")
    return max_open * nodes if max_open and nodes else None


class CloudSide:
    def __init__(self, plan: Plan, target: Target, started_at: float):
        self.plan, self.target, self.started_at = plan, target, started_at
        self.aws = target.aws
        self.actions: list[dict[str, Any]] = []
        self.watcher = CloudWatcher(self.aws, plan.cloud) if self.aws is not None and self.aws.cloud_on else None
        self.placed: str | None = None      # the placement this run put in force
        self.failed: dict[str, str] = {}    # placement -> why it could not be applied (not tried again)
        self.moved = False                  # the run changed the placement: the restore puts it back
        self.trimmed: set[str] = set()      # tests whose usage_logs trim ran
        self._clients: dict[str, Any] = {}

    def client(self, service: str) -> Any:
        """One boto3 client per service for the run (making one costs tens of milliseconds)."""
        assert self.aws is not None
        if service not in self._clients:
            self._clients[service] = client(self.aws, service)
        return self._clients[service]

    @property
    def places(self) -> bool:
        return self.aws is not None and bool(self.aws.subnets) and bool(self.aws.services) and self.aws.ecs_cluster is not None

    def _log(self, action: str, ok: bool, detail: str, began: float, report: dict[str, Any] | None = None, **where: str) -> None:
        entry: dict[str, Any] = {"action": action, "ok": ok, "detail": detail, "at": time.time(),
                                 "elapsed_s": round(time.monotonic() - began, 3), **where}
        if report is not None:
            entry["report"] = report
        self.actions.append(entry)

    # -- before a test ---------------------------------------------------------------------
    def before_test(self, test: PlanTest) -> None:
        """The phase's placement (once per change) and the usage_logs trim (once per test)."""
        wanted = self.plan.phases[test.phase].placement
        if self.places and wanted in self.failed:
            raise SetupError(self.failed[wanted])
        if self.places and self.placed != wanted:
            # A phase change restarts every service ("restart for ALB/NLB pool sizes"); the first placement does not.
            report = self._place(wanted, restart=self.aws is not None and self.aws.force_new_deployment and self.placed is not None)
            if not report.ok:
                self.failed[wanted] = f"placement {wanted} for phase {test.phase} failed: {report.detail}"
                raise SetupError(self.failed[wanted])
        if self.target.usage_logs is not None and not self.target.local and test.id not in self.trimmed:
            from pytest_trinity.runner.usage_logs import UsageLogsError, trim_to_limit

            began = time.monotonic()
            try:
                trim = trim_to_limit(self.target.usage_logs, self.plan.checklist.usage_logs_max_rows)
            except UsageLogsError as exc:
                self._log("usage_logs trim", False, str(exc), began, test=test.id)
                raise SetupError(f"usage_logs trim failed: {exc}") from None
            self.trimmed.add(test.id)
            self._log("usage_logs trim", True, trim.summary, began, trim.to_json(), test=test.id)

    def _place(self, name: str, restart: bool = False) -> Any:
        """Apply placement `name`; `restart` also redeploys the services already in place (the
        plan's "restart for ALB/NLB pool sizes" at a phase change)."""
        from pytest_trinity.cloud.placement import apply_placement

        assert self.aws is not None
        began = time.monotonic()
        self.moved = True  # before the call: a Ctrl-C while it waits for the services still restores
        report = apply_placement(self.client("ecs"), self.client("ec2"), self.aws, name,
                                 self.plan.placements[name], self.aws.stable_timeout_s, restart=restart)
        self.placed = name if report.ok else None
        self._log(f"placement {name}", report.ok, report.detail, began, report.to_json())
        return report

    # -- a level, a window ---------------------------------------------------------------------
    def level(self, test: PlanTest, started: float, ended: float) -> CloudFigures | None:
        """The level's own whole periods, or None (it is judged in the test's window)."""
        if self.watcher is None:
            return None
        return self.watcher.figures(test, started, ended, JUDGED_LEVEL)

    def missing(self, test: PlanTest, level: int, cloud: CloudFigures) -> list[Any]:
        return missing_breaches(self.plan, test, cloud, strict_level(self.plan, test, level))

    def window(self, test: PlanTest, case: str, records: list[LevelRecord]) -> LevelRecord:
        """The test's cloud-window record (level 0, id "cloud")."""
        assert self.watcher is not None and self.aws is not None
        mine = sorted((r for r in records if r.test_id == test.id and r.judged and strict_level(self.plan, test, r.level)),
                      key=lambda r: r.started_at)
        now = time.time()

        def record(status: str, message: str, cloud: CloudFigures | None = None, verdict: Any = None) -> LevelRecord:
            return LevelRecord(test.id, case, 0, CLOUD_WINDOW_ID, 0, 0, 0, 0, mine[0].scale if mine else 1.0, status,
                               mine[0].started_at if mine else now, mine[-1].ended_at if mine else now, verdict=verdict,
                               message=message, cloud=cloud)

        if not mine:
            return record("skipped", f"{test.id}: no level through L{self.plan.criteria.full_success_through_level:02d} "
                                     "ran to its end, so there is no window to judge")
        start, end = mine[0].started_at, mine[-1].ended_at
        period = self.aws.period_s
        note = ""
        if not whole_periods(start, end, period):
            start, end = math.floor(start / period) * period, math.ceil(end / period) * period
            note = f"the window ({mine[-1].ended_at - mine[0].started_at:.1f} s) holds no whole period: judged on the periods that cover it"
        cloud = self.watcher.figures(test, start, end, JUDGED_WINDOW, tuple(r.level_id for r in mine))
        assert cloud is not None
        if note:
            cloud = dataclasses.replace(cloud, note=note)
        pools = [p for r in mine if (p := pool_size(r.figures, len(r.cluster.nodes) if r.cluster else 0)) is not None]
        verdict = judge_window(self.plan, test, cloud, {"aurora": {"pool_size": max(pools)}} if pools else {})
        header = f"{test.id} cloud window ({len(mine)} levels, {len(cloud.metrics)} cloud metrics): {len(verdict.failures)} breach(es)"
        return record("passed" if verdict.passed else "failed", "" if verdict.passed else verdict.failure_message(header),
                      cloud, verdict)

    def publish(self, record: LevelRecord) -> None:
        """The level's figures and the plan's cluster-stats metrics, to `[aws].publish_namespace`."""
        if self.aws is None or self.aws.publish_namespace is None or record.figures is None or not record.judged:
            return
        from pytest_trinity.cloud.publish import publish_level

        began = time.monotonic()
        f = record.figures
        figures: dict[str, float] = {"ok_rps": record.ok_rps, "success_pct": f.success_pct, "errors_5xx": float(f.errors_5xx)}
        for name, value in (("p50_ms", f.p50_ms), ("p99_ms", f.p99_ms)):
            if value is not None:
                figures[name] = value
        for name in self.plan.cloud.publish:
            if (value := f.metric("cluster-stats", name)) is not None:
                figures[name] = value
        try:
            count = publish_level(self.client("cloudwatch"), self.aws.publish_namespace,
                                  {"Target": self.target.name, "Test": record.test_id, "Level": record.level_id}, figures, record.ended_at)
        except Exception as exc:  # publishing is reporting: it never fails the level
            self._log("publish", False, str(exc), began, level=f"{record.test_id} {record.level_id}")
            return
        self._log("publish", True, f"{count} datums to {self.aws.publish_namespace}", began, level=f"{record.test_id} {record.level_id}")

    # -- the end -------------------------------------------------------------------------------
    def close(self) -> list[str]:
        """Restore the placement (if the run moved it), terminate the stress client (opt-in),
        remove the run's stress rows; returns what failed, for the restore report."""
        problems: list[str] = []
        if self.moved and self.places:
            report = self._place(self.plan.restore.placement)
            if not report.ok:
                problems.append(f"placement {self.plan.restore.placement} NOT restored: {report.detail}")
        if self.target.usage_logs is not None and not self.target.local:
            from pytest_trinity.runner.usage_logs import UsageLogsError, remove_stress_rows

            began = time.monotonic()
            try:
                removed = remove_stress_rows(self.target.usage_logs, self.started_at)
                self._log("usage_logs remove stress rows", True, removed.summary, began, removed.to_json())
            except UsageLogsError as exc:
                self._log("usage_logs remove stress rows", False, str(exc), began)
                problems.append(f"usage_logs stress rows not removed: {exc}")
        if self.aws is not None and self.aws.stress_client is not None and self.aws.stress_client.terminate:
            from pytest_trinity.cloud.stress_client import terminate_stress_client

            began = time.monotonic()
            try:
                done = terminate_stress_client(self.client("ec2"), self.aws.stress_client)
                self._log("terminate stress client", not done.refused, done.detail, began, done.to_json())
                if done.refused:
                    problems.append(f"stress client not terminated: {done.detail}")
            except Exception as exc:
                self._log("terminate stress client", False, str(exc), began)
                problems.append(f"stress client not terminated: {exc}")
        return problems

    def summary(self) -> str:
        placement = [a for a in self.actions if a["action"].startswith("placement")]
        return "; ".join(f"{a['action']}: {'ok' if a['ok'] else 'FAILED'} ({a['detail']})" for a in placement)
