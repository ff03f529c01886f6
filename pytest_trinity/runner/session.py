"""`PlanRun`: one pytest session's run of the plan.

It owns the target (starting the local reference cluster when asked), the admin clients, the
results store and the cross-test facts (breaking points, ceilings, comparisons). Plan tests
call `prepare` (the checklist, as fixture setup) and `run_level` (the load, the telemetry and
the verdict); `close` restores production whatever happened before.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from dataclasses import dataclass
from typing import Any

from pytest_trinity import drivers
from pytest_trinity.plan import Plan, PlanTest, ScaledLevel
from pytest_trinity.results import RunStore, newest_records
from pytest_trinity.results.compare import deltas, regressions
from pytest_trinity.results.summary import summarize
from pytest_trinity.runner import loadspec
from pytest_trinity.runner.checklist import (
    SetupError, TargetUnreachable, apply_profile, call, config_diffs, fresh_stats, reset_and_verify, trim_usage_logs,
)
from pytest_trinity.runner.measure import figures_for, worst_memory_growth_pct
from pytest_trinity.runner.record import LevelRecord
from pytest_trinity.runner.restore import RestoreReport, restore_production
from pytest_trinity.targets import Target
from pytest_trinity.targets.local import start_local
from pytest_trinity.telemetry import AdminClient, ClusterStats, TelemetryError, TelemetryPoller
from pytest_trinity.verdict import Verdict, judge_level

MIN_CADENCE_S = 0.2  # the fastest telemetry cadence a scaled-down run asks for


@dataclass(frozen=True)
class Ceiling:
    test_id: str
    ok_rps: float
    concurrent: int
    level_id: str
    source: str  # "this run" or the stored run it came from


class PlanRun:
    def __init__(self, plan: Plan, target: Target, scale: float, report_dir, stop_after: int | None,
                 processes: int | None = None, run_info: dict[str, Any] | None = None,
                 previous: tuple[str, dict] | None = None, compare_fail: dict[str, float] | None = None):
        self.plan, self.target, self.scale = plan, target, scale
        self.report_dir, self.stop_after, self.processes = report_dir, stop_after, processes
        self.poll_s = max(MIN_CADENCE_S, plan.telemetry.poll_s * scale)
        self.publish_s = max(MIN_CADENCE_S, plan.telemetry.publish_s * scale)
        self.store = RunStore(report_dir, dict(run_info or {}, target=target.name, scale=scale))
        self.records: list[LevelRecord] = []
        self.applied: dict[str, str] = {}  # topology -> plan test whose profile is in force there
        self.unreachable: dict[str, str] = {}  # plan test -> why its remaining levels skip
        self.broken: dict[str, int] = {}  # plan test -> first level below full success
        self.memory: dict[str, dict[str, list[tuple[float, float]]]] = {}  # test -> node -> (t, rss bytes)
        self.restore: RestoreReport | None = None
        self.previous, self.compare_fail = previous, compare_fail or {}
        # Live progress, set by the plugin: called as progress(case, Progress), then progress.finish().
        self.progress: Any = None
        if previous is not None:
            self.store.extra["compare"] = {"run_id": previous[0], "fail_limits": self.compare_fail}
        self._stack = contextlib.ExitStack()
        self._admins: dict[str, AdminClient] = {}
        self._old_sigterm: Any = None
        self._at_reset: ClusterStats | None = None  # the verified-zero snapshot the current level starts from

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        if self.target.local:
            self.target = start_local(self.plan, self._stack, self.publish_s)
        if threading_main():
            self._old_sigterm = signal.signal(signal.SIGTERM, _sigterm_as_sigint)

    def admin(self, topology: str) -> AdminClient:
        if topology not in self._admins:
            endpoints = self.target.endpoints(topology)
            token = self.target.admin_token.reveal() if self.target.admin_token else None
            self._admins[topology] = self._stack.enter_context(AdminClient(
                endpoints.admin, token, self.plan.telemetry.nodes, self.plan.telemetry.counters, ca_file=self.target.ca_file))
        return self._admins[topology]

    def close(self) -> RestoreReport:
        try:
            admins = [self.admin(t) for t in ("balanced", "direct") if self._has(t)]
            self.restore = restore_production(self.plan, admins, self.plan.checklist.verify_reset_timeout_s)
            self.store.extra["restore"] = {"ok": self.restore.ok, "summary": self.restore.summary}
            self.store.write(ended=True)
        finally:
            if self._old_sigterm is not None:
                signal.signal(signal.SIGTERM, self._old_sigterm)
            self._stack.close()
        return self.restore

    def _has(self, topology: str) -> bool:
        try:
            self.target.endpoints(topology)
        except ValueError:
            return False
        return True

    # -- the checklist, as fixture setup -----------------------------------------------------
    def skip_reason(self, test: PlanTest, level: ScaledLevel) -> str | None:
        if test.id in self.unreachable:
            return self.unreachable[test.id]
        broke = self.broken.get(test.id)
        if self.stop_after is not None and broke is not None and level.number > broke + self.stop_after:
            return f"--trinity-stop-after {self.stop_after}: {test.id} broke at L{broke:02d}"
        if test.endurance is not None and self.ceiling(test.endurance.ceiling_from) is None:
            return (f"{test.id} runs at {test.endurance.load_fraction:.0%} of the {test.endurance.ceiling_from} ceiling, "
                    f"and no {test.endurance.ceiling_from} result exists in this run or in {self.report_dir} "
                    f"(target {self.target.name}, scale {self.scale:g}): run {test.endurance.ceiling_from} first")
        return None

    def prepare(self, test: PlanTest, level: ScaledLevel) -> ClusterStats:
        """Apply the profile and governor (once per test), reset and verify zero (every level)."""
        admin = self.admin(test.topology)
        profile = self.plan.profile_for(test)
        try:
            if self.applied.get(test.topology) != test.id:
                apply_profile(admin, self.plan, profile, test.governor)
                if self.target.local:
                    trim_usage_logs(admin, self.plan)
                self.applied[test.topology] = test.id
            stats = reset_and_verify(admin, self.plan)
            self._at_reset = stats
        except TargetUnreachable as exc:
            self.unreachable[test.id] = f"target unreachable since {level.id}: {exc}"
            raise
        drift = config_diffs(stats, profile, test.governor)
        if drift:
            self.applied.pop(test.topology, None)
            raise SetupError(f"profile drift: the target no longer runs {profile.name} "
                             f"(governor {'on' if test.governor else 'off'}):\n  "
                             + "\n  ".join(f"node {n}: " + "; ".join(keys) for n, keys in drift.items()))
        return stats

    # -- one level -------------------------------------------------------------------------
    def ceiling(self, test_id: str) -> Ceiling | None:
        here = [r for r in self.records if r.test_id == test_id and r.status in ("passed", "failed")]
        if here:
            best = max(here, key=lambda r: r.ok_rps)
            return Ceiling(test_id, best.ok_rps, best.concurrent, best.level_id, "this run")
        stored = newest_records(self.report_dir, test_id, self.target.name, self.scale, exclude=self.store.dir)
        if not stored:
            return None
        best = max(stored, key=lambda r: r.get("ok_rps", 0.0))
        return Ceiling(test_id, float(best.get("ok_rps", 0.0)), int(best["concurrent"]), best["level_id"], "stored run")

    def _spec(self, test: PlanTest, level: ScaledLevel) -> tuple[drivers.LoadSpec, dict[str, Any]]:
        if test.endurance is None:
            return loadspec.closed_spec(self.plan, test, self.target, level, self.processes), {}
        ceiling = self.ceiling(test.endurance.ceiling_from)
        assert ceiling is not None  # skip_reason() ran first
        window = test.endurance.duration_at(self.scale) / len(self.plan.levels)
        rate = max(1.0, ceiling.ok_rps * test.endurance.load_fraction)
        spec = loadspec.open_spec(self.plan, test, self.target, rate, window, max(1, ceiling.concurrent), self.processes)
        return spec, {"endurance": {"ceiling_rps": ceiling.ok_rps, "ceiling_level": ceiling.level_id,
                                    "ceiling_source": ceiling.source, "rate": rate, "window_s": window}}

    def run_level(self, test: PlanTest, level: ScaledLevel, case: str) -> LevelRecord:
        """Run one level; whatever goes wrong becomes a record with status "error" and the reason."""
        started = time.time()
        try:
            return self._run_level(test, level, case)
        except (SetupError, drivers.WorkerError, TelemetryError, ValueError, OSError) as exc:
            if isinstance(exc, TargetUnreachable):
                self.unreachable[test.id] = f"target unreachable since {level.id}: {exc}"
            record = LevelRecord(
                test_id=test.id, case=case, level=level.number, level_id=level.id,
                plan_requests=level.level.requests, plan_concurrent=level.level.concurrent, requests=level.requests,
                concurrent=level.concurrent, scale=self.scale, status="error", started_at=started, ended_at=time.time(),
                message=f"{test.id} {level.id} could not be measured: {exc}")
            self.add(record)
            return record

    def _run_level(self, test: PlanTest, level: ScaledLevel, case: str) -> LevelRecord:
        admin = self.admin(test.topology)
        spec, facts = self._spec(test, level)
        fetchers = {"cluster-stats": self._poll_client(test.topology).cluster_stats}
        if test.topology == "direct":
            fetchers["stress-stats"] = self._poll_client("direct").stress_stats
        max_polls = int(self.plan.limits.max_level_s / self.poll_s) + 1
        started = time.time()
        on_progress = (lambda p: self.progress(case, p)) if self.progress else None
        with TelemetryPoller(fetchers, self.poll_s, max_polls) as poller:
            try:
                result = drivers.run_load(spec, on_progress=on_progress)
            finally:
                if self.progress:
                    self.progress.finish()
        samples = poller.stop()
        # Snapshots newer than the ones visible right after the load were taken after it ended.
        at_end = call("read telemetry after the level", admin.cluster_stats)
        final = fresh_stats(admin, at_end, self.plan.telemetry.publish_s * 2 + 1)
        extra: dict[str, Any] = {}
        strict_until = self.plan.criteria.full_success_through_level
        if test.endurance is None and level.number > strict_until and not result.interrupted:
            extra.update(self._recovery_probe(test))
        if test.endurance is not None:
            by_node = self.memory.setdefault(test.id, {})
            for s in samples:
                if s.ok and isinstance(s.value, ClusterStats):
                    for name, node in s.value.nodes.items():
                        rss = node.process.get("rss_bytes")
                        if isinstance(rss, (int, float)):
                            by_node.setdefault(name, []).append((s.at, float(rss)))
            extra["memory_growth_pct"] = worst_memory_growth_pct(by_node)
        planned = loadspec.planned_requests(spec)
        figures = figures_for(self.plan, test, level.number, planned, result, final, samples, before=self._at_reset, **extra)
        verdict = judge_level(self.plan, test, figures)
        facts.update(self._facts(test, level, result, figures.rps))
        before = self.previous[1].get((test.id, level.id)) if self.previous else None
        if before is not None:
            ok_rps = figures.ok / result.elapsed if result.elapsed else 0.0
            changes = deltas(before, {"ok_rps": ok_rps, "figures": figures.to_dict()})
            facts["compare"] = {"run_id": self.previous[0], **changes}
            worse = regressions(changes, self.compare_fail, self.previous[0])
            if worse:
                verdict = Verdict(False, verdict.breaches + tuple(worse), verdict.unmeasured)
        if figures.success_pct < self.plan.criteria.min_success_pct and test.id not in self.broken and test.endurance is None:
            self.broken[test.id] = level.number
        status = "interrupted" if result.interrupted else ("passed" if verdict.passed else "failed")
        header = f"{test.id} {level.id}: {len(verdict.failures)} breach(es) of the plan"
        record = LevelRecord(
            test_id=test.id, case=case, level=level.number, level_id=level.id,
            plan_requests=level.level.requests, plan_concurrent=level.level.concurrent,
            requests=level.requests, concurrent=level.concurrent, scale=self.scale, status=status,
            started_at=started, ended_at=time.time(), model=spec.model.to_dict(), figures=figures.to_dict(),
            verdict=verdict.to_dict(), load=result.to_dict(), cluster=final.to_dict(), polls=_poll_summary(samples),
            facts=facts,
            message="interrupted: partial results saved" if result.interrupted else
            ("" if verdict.passed else verdict.failure_message(header)),
        )
        self.add(record)
        if result.interrupted:
            raise KeyboardInterrupt(f"{case} interrupted; partial results saved in {self.store.path}")
        return record

    def add(self, record: LevelRecord) -> None:
        self.records.append(record)
        self.store.levels.append(record.to_dict())
        self.store.extra["tests"] = {k: v.to_dict() for k, v in summarize(self.plan, self.store.levels).items()}
        self.store.write()

    def _poll_client(self, topology: str) -> AdminClient:
        key = f"poll-{topology}"
        if key not in self._admins:
            endpoints = self.target.endpoints(topology)
            token = self.target.admin_token.reveal() if self.target.admin_token else None
            self._admins[key] = self._stack.enter_context(AdminClient(
                endpoints.admin, token, self.plan.telemetry.nodes, self.plan.telemetry.counters,
                ca_file=self.target.ca_file, timeout=max(self.poll_s, 1.0)))
        return self._admins[key]

    def _recovery_probe(self, test: PlanTest) -> dict[str, Any]:
        d = self.plan.degradation
        kinds = loadspec.request_kinds(test, self.target)
        spec = drivers.LoadSpec(
            target=loadspec.driver_target(test, self.target), kinds=kinds,
            model=drivers.ClosedModel(requests=d.recovery_probe_requests, concurrency=self.plan.limits.recovery_concurrency),
            max_requests=d.recovery_probe_requests, max_seconds=d.recovery_probe_timeout_s,
            timeout=min(self.plan.limits.request_timeout_s, d.recovery_probe_timeout_s), processes=1)
        probe = drivers.run_load_inline(spec, handle_sigint=False)
        o = probe.outcomes
        return {"recovery_sent": d.recovery_probe_requests, "recovery_ok": o.ok,
                "recovery_detail": f"{o.ok} ok, {o.failures} failed, stop: {probe.stop_reason}"}

    def _facts(self, test: PlanTest, level: ScaledLevel, result: drivers.LoadResult, rps: float) -> dict[str, Any]:
        facts: dict[str, Any] = {}
        if len(result.kinds) > 1 and result.elapsed:
            facts["streams"] = {name: {"ok_rps": k.outcomes.ok / result.elapsed, "ok": k.outcomes.ok, "sent": k.outcomes.sent}
                                for name, k in result.kinds.items()}
        ok_rps = result.outcomes.ok / result.elapsed if result.elapsed else 0.0
        if test.compare_with:
            other = next((r for r in self.records if r.test_id == test.compare_with and r.level == level.number), None)
            if other is not None and other.ok_rps and ok_rps:
                facts["compared_with"] = {
                    "test": test.compare_with, "their_ok_rps": other.ok_rps, "our_ok_rps": ok_rps,
                    "gap_pct": 100.0 * (ok_rps - other.ok_rps) / other.ok_rps,
                    "cost_us_per_request": 1e6 / ok_rps - 1e6 / other.ok_rps,
                }
        baselines = self.plan.baselines_for(test.id)
        if baselines:
            facts["baselines"] = [{"id": b.id, "kind": b.kind, "label": b.label, "rps": b.rps,
                                   "ratio": ok_rps / b.rps if b.rps else None} for b in baselines]
        return facts


def _poll_summary(samples) -> dict[str, Any]:
    return {
        "count": len(samples),
        "failed": [{"source": s.source, "at": s.at, "error": s.error} for s in samples if not s.ok],
        "max_duration_s": max((s.duration_s for s in samples), default=0.0),
    }


def threading_main() -> bool:
    return threading.current_thread() is threading.main_thread()


def _sigterm_as_sigint(signum: int, frame: Any) -> None:
    """SIGTERM takes the same path as Ctrl-C: partial results saved, production restored."""
    os.kill(os.getpid(), signal.SIGINT)
