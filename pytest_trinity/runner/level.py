"""One level of a plan test as a pipeline: prepare → drive → collect → judge → record.

`prepare` is the checklist (fixture setup, `PlanSession.prepare`); `run_level` below runs the
rest. Whatever goes wrong while a level runs becomes a record with status "error" and the
reason, never a lost level.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TYPE_CHECKING

from pytest_trinity import drivers
from pytest_trinity.model import EnduranceFact, Facts, LevelFigures, LevelRecord, LoadModel, LoadSummary, Verdict
from pytest_trinity.plan import Plan, PlanTest, ScaledLevel
from pytest_trinity.runner import capacity, loadspec
from pytest_trinity.runner.checklist import SetupError, TargetUnreachable
from pytest_trinity.runner.cloud import pool_size
from pytest_trinity.runner.collect import facts_for, figures_for, poll_summary, rss_points, worst_memory_growth_pct
from pytest_trinity.runner.drive import Driven, drive, recovery_probe
from pytest_trinity.targets import ContractError
from pytest_trinity.telemetry import AdminError

if TYPE_CHECKING:
    from pytest_trinity.runner.session import PlanSession

# Judges a level: the plugin passes its `pytest_trinity_judge_level` hook (the plan's judge, wrapped by plugins).
Judge = Callable[[Plan, PlanTest, ScaledLevel, LevelFigures, Facts], Verdict]
# Extra figures by source for a level: the plugin passes its `pytest_trinity_level_figures` hook.
ExtraFigures = Callable[[PlanTest, ScaledLevel, LevelFigures, LoadSummary], list[dict[str, dict[str, float]]]]

MEASURING_ERRORS = (SetupError, drivers.WorkerError, drivers.ExecutorError, ContractError, AdminError, ValueError, OSError)


def run_level(session: PlanSession, test: PlanTest, level: ScaledLevel, case: str,
              recorded: Callable[[LevelRecord], None]) -> LevelRecord:
    """Drive, collect, judge and record one level; an error while measuring becomes an "error"
    record. `recorded` gets the record before anything else happens (an interrupt included)."""
    started = time.time()
    try:
        record = _measure(session, test, level, case)
    except MEASURING_ERRORS as exc:
        if isinstance(exc, TargetUnreachable):
            session.checklist.mark_unreachable(test, level, SetupError(session.sanitize.text(str(exc))))
        # A failed worker: the other shards' load is kept (which worker ran what, and why one failed).
        partial = exc.partial if isinstance(exc, drivers.WorkerError) else None
        record = LevelRecord.of(test.id, case, level, "error", started, time.time(),
                                message=f"{test.id} {level.id} could not be measured: {exc}",
                                load=LoadSummary.from_json(partial.to_dict()) if partial is not None else None)
    record = session.add(record)
    recorded(record)
    if session.cloud is not None:
        session.cloud.publish(record)  # after the record is safe: publishing may be slow
    if record.status == "interrupted":
        raise KeyboardInterrupt(f"{case} interrupted; partial results saved")
    return record


def _spec(session: PlanSession, test: PlanTest, level: ScaledLevel) -> tuple[drivers.LoadSpec, EnduranceFact | None]:
    plan, target, contract = session.plan, session.target, session.contract
    if test.endurance is None:
        return loadspec.closed_spec(plan, test, target, contract, level, session.processes), None
    ceiling = session.ceiling(test.endurance.ceiling_from)
    if ceiling is None:
        raise SetupError(session.skip_reason(test, level) or f"no {test.endurance.ceiling_from} ceiling")
    window = test.endurance.duration_at(session.scale) / len(plan.levels)
    rate = max(1.0, ceiling.ok_rps * test.endurance.load_fraction)
    spec = loadspec.open_spec(plan, test, target, contract, rate, window, max(1, ceiling.concurrent), session.processes)
    return spec, EnduranceFact(ceiling.ok_rps, ceiling.level_id, ceiling.source, rate, window)


def _drive(session: PlanSession, test: PlanTest, level: ScaledLevel, case: str, spec: drivers.LoadSpec) -> Driven:
    fetchers: dict[str, Callable[[], object]] = {"cluster-stats": session.poll_client(test.topology).cluster_stats}
    if test.topology == "direct":
        fetchers["stress-stats"] = session.poll_client("direct").stress_stats
    overload = test.endurance is None and level.number > session.plan.criteria.full_success_through_level
    recover = (lambda: recovery_probe(session.plan, test, session.target, session.contract)) if overload else None
    progress = session.progress
    return drive(session.plan, test, spec, session.admin(test.topology), fetchers, session.poll_s, recover,
                 on_progress=(lambda p: progress(case, p)) if progress else None,
                 on_finish=progress.finish if progress else None, executor=session.executor)


def _measure(session: PlanSession, test: PlanTest, level: ScaledLevel, case: str) -> LevelRecord:
    plan = session.plan
    spec, endurance = _spec(session, test, level)
    before = capacity.estimate(spec, capacity.previous_record(session.records, test.id))
    driven = _drive(session, test, level, case, spec)
    result = driven.result
    growth = None
    if test.endurance is not None:
        memory = session.memory.setdefault(test.id, {})
        for node, points in rss_points(driven.samples).items():
            memory.setdefault(node, []).extend(points)
        growth = worst_memory_growth_pct(memory)
    load = LoadSummary.from_json(result.to_dict())
    figures = figures_for(plan, test, level.number, result.planned, driven, session.at_reset, growth)
    pool = pool_size(figures, len(driven.final.nodes))
    if pool is not None:
        figures = figures.with_sources({"aurora": {"pool_size": pool}})
    load_ended = time.time()  # the record's end: before any wait for CloudWatch
    cloud, interrupted = None, result.interrupted
    if session.cloud is not None and not interrupted:
        try:
            cloud = session.cloud.level(test, driven.started_at, driven.started_at + result.elapsed)
        except KeyboardInterrupt:  # while waiting for CloudWatch: the load's figures are kept
            interrupted = True
    if cloud is not None:
        figures = figures.with_sources(cloud.sources())
    for extra in session.extra_figures(test, level, figures, load):
        figures = figures.with_sources(extra)
    facts = facts_for(plan, test, level.number, result, figures, session.records, endurance, session.previous_level(test, level))
    verdict = session.judge(plan, test, level, figures, facts)
    if cloud is not None and session.cloud is not None:
        verdict = verdict.with_breaches(*session.cloud.missing(test, level.number, cloud))
    status = "interrupted" if interrupted else ("passed" if verdict.passed else "failed")
    header = f"{test.id} {level.id}: {len(verdict.failures)} breach(es) of the plan"
    message = "interrupted: partial results saved" if interrupted else ("" if verdict.passed else verdict.failure_message(header))
    return LevelRecord.of(test.id, case, level, status, driven.started_at, load_ended,
                          model=LoadModel.from_json(spec.model.to_dict()), figures=figures, verdict=verdict, load=load,
                          cluster=driven.final, polls=poll_summary(driven.samples), facts=facts, message=message, cloud=cloud,
                          client=capacity.check(before, load))
