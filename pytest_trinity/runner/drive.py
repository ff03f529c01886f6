"""Stage 2 of a level, drive: the load, with the telemetry poller running beside it, then
the telemetry after it and, above the full-success levels, the recovery probe.

Everything here is measured; nothing is judged.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from pytest_trinity import drivers
from pytest_trinity.model import ClusterStats
from pytest_trinity.plan import Plan, PlanTest
from pytest_trinity.runner import loadspec
from pytest_trinity.runner.checklist import SetupError, call, fresh_stats
from pytest_trinity.targets import Target, TargetContract
from pytest_trinity.telemetry import AdminClient, PollSample, TelemetryPoller


@dataclass(frozen=True)
class Recovery:
    """The short probe after an overload level: does the service answer again?"""

    sent: int
    ok: int
    detail: str


@dataclass(frozen=True)
class Driven:
    """What the drive stage measured."""

    spec: drivers.LoadSpec
    result: drivers.LoadResult
    samples: list[PollSample]
    final: ClusterStats  # every node's snapshot after the load
    recovery: Recovery | None
    started_at: float


ProgressFn = Callable[[drivers.Progress], None]


def drive(plan: Plan, test: PlanTest, spec: drivers.LoadSpec, admin: AdminClient, fetchers: dict[str, Callable[[], object]],
          poll_s: float, recover: Callable[[], Recovery] | None, on_progress: ProgressFn | None = None,
          on_finish: Callable[[], None] | None = None, executor: drivers.ShardExecutor | None = None) -> Driven:
    """Run `spec` on `executor` (default: the local pool) with the poller calling `fetchers`
    every `poll_s`; `recover` (when given) runs after a load that was not interrupted."""
    max_polls = int(plan.limits.max_level_s / poll_s) + 1
    started = time.time()
    with TelemetryPoller(fetchers, poll_s, max_polls) as poller:
        try:
            result = drivers.run_load(spec, executor=executor, on_progress=on_progress)
        finally:
            if on_finish is not None:
                on_finish()
    samples = poller.stop()
    try:
        # Snapshots newer than the ones visible right after the load were taken after it ended.
        at_end = call("read telemetry after the level", admin.cluster_stats)
        final = fresh_stats(admin, at_end, plan.telemetry.publish_s * 2 + 1)
    except SetupError:
        if not result.interrupted:
            raise
        # Interrupted: the partial load is kept and the interrupt goes on (the telemetry may be
        # what was interrupted); the level's server figures are unmeasured.
        final = ClusterStats(nodes={}, missing=admin.nodes)
    recovery = recover() if recover is not None and not result.interrupted else None
    return Driven(spec, result, samples, final, recovery, started)


def recovery_probe(plan: Plan, test: PlanTest, target: Target, contract: TargetContract) -> Recovery:
    """A few requests, one at a time, after the level: the plan's "can the system stabilize?"."""
    d = plan.degradation
    spec = drivers.LoadSpec(
        target=loadspec.driver_target(test, target), kinds=loadspec.request_kinds(test, target, contract),
        model=drivers.ClosedModel(requests=d.recovery_probe_requests, concurrency=plan.limits.recovery_concurrency),
        max_requests=d.recovery_probe_requests, max_seconds=d.recovery_probe_timeout_s,
        timeout=min(plan.limits.request_timeout_s, d.recovery_probe_timeout_s), processes=1)
    probe = drivers.run_load_inline(spec, handle_sigint=False)
    o = probe.outcomes
    return Recovery(d.recovery_probe_requests, o.ok, f"{o.ok} ok, {o.failures} failed, stop: {probe.stop_reason}")
