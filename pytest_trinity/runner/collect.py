"""Stage 3 of a level, collect: reduce what the drive stage measured to the judge's
`LevelFigures` and the level's cross-test `Facts`.

Client side: the driver's outcomes and histograms. Server side: the level's counters (the
level starts from a verified reset, so the final snapshot *is* the delta), the plan's derived
percentages recomputed from those totals, the DB-pool gauges at their worst over the polls,
and per-node CPU and RSS (the local analogue of Container Insights).
"""

from __future__ import annotations

from collections.abc import Iterable

from pytest_trinity.drivers import LoadResult, Outcomes
from pytest_trinity.model import (
    ClusterStats,
    ComparedWith,
    CompareFact,
    EnduranceFact,
    Facts,
    LevelFigures,
    LevelRecord,
    MetricDelta,
    NodeSnapshot,
    PollFailure,
    PollSummary,
    StreamFact,
    baseline_facts,
)
from pytest_trinity.model.trend import fitted_growth
from pytest_trinity.plan import Plan, PlanTest
from pytest_trinity.runner.drive import Driven
from pytest_trinity.runner.sanitize import ERROR_REPLY, bounded
from pytest_trinity.telemetry import PollSample

SILENT = ("timeout", "connect_error", "reset", "protocol_error", "lost", "late")  # failures with no answer
# The servers' count of a level's requests, by protocol: what the client's count is reconciled with.
REQUEST_COUNTER = {"tcp": "tcp_requests", "udp": "packets_received"}
# Counts that say something only once their activity happened: batch_flush_errors = 0 over a
# level too short for any batch flush is not "no flush failed", it is unmeasured.
ACTIVITY = {"batch_flush_errors": ("batch_flushes", "batch_flush_errors")}


def _pct(part: float, whole: float) -> float | None:
    return 100.0 * part / whole if whole else None


def reported_totals(plan: Plan, stats: ClusterStats) -> dict[str, int]:
    """Level totals of the traffic counters that every node reports. A counter some node omits
    is left out, so the checks that read it say "unmeasured" instead of reading a 0."""
    gauges = set(plan.telemetry.gauges)
    return {c: stats.total(c) for c in plan.telemetry.counters
            if c not in gauges and stats.nodes and all(c in s.counters for s in stats.nodes.values())}


def cluster_metrics(plan: Plan, stats: ClusterStats, elapsed: float) -> dict[str, float]:
    """The level's counter totals and the plan's derived metrics (absent when undefined)."""
    totals = reported_totals(plan, stats)
    metrics: dict[str, float] = dict(totals)
    for count, activity in ACTIVITY.items():
        if count in metrics and not any(totals.get(a) for a in activity):
            del metrics[count]

    def pct(part: str, *whole: str) -> float | None:
        if part not in totals or any(w not in totals for w in whole):
            return None
        return _pct(totals[part], sum(totals[w] for w in whole))

    derived = {
        "syncmap_hit_pct": pct("syncmap_hits", "syncmap_hits", "cache_hits", "rest_fallbacks"),
        "cache_hit_pct": pct("cache_hits", "syncmap_hits", "cache_hits", "rest_fallbacks"),
        "udp_drop_pct": pct("udp_dropped", "packets_received"),
        "bg_drop_pct": pct("bg_dropped", "bg_submitted"),
    }
    metrics.update({k: v for k, v in derived.items() if v is not None})
    if elapsed > 0:
        for rate, counter in (("tcp_rps", "tcp_requests"), ("udp_rps", "udp_requests")):
            if counter in totals:
                metrics[rate] = totals[counter] / elapsed
        if "tcp_rps" in metrics and "udp_rps" in metrics:
            metrics["total_rps"] = metrics["tcp_rps"] + metrics["udp_rps"]
    return metrics


def _snapshots(final: ClusterStats, samples: list[PollSample]) -> list[NodeSnapshot]:
    snaps = list(final.nodes.values())
    for sample in samples:
        if sample.ok and isinstance(sample.value, ClusterStats):
            snaps.extend(sample.value.nodes.values())
        elif sample.ok and isinstance(sample.value, NodeSnapshot):
            snaps.append(sample.value)
    return snaps


def pool_gauges(snaps: list[NodeSnapshot]) -> dict[str, float]:
    """db_in_use and db_max_open of the node and moment closest to saturation."""
    worst: tuple[float, int, int] | None = None
    for s in snaps:
        in_use, max_open = s.counters.get("db_in_use"), s.counters.get("db_max_open")
        if in_use is None or not max_open:
            continue
        candidate = (in_use / max_open, in_use, max_open)
        if worst is None or candidate > worst:
            worst = candidate
    if worst is None:
        return {}
    open_now = max((s.counters.get("db_open", 0) for s in snaps), default=0)
    return {"db_in_use": worst[1], "db_max_open": worst[2], "db_open": open_now}


def process_metrics(before: ClusterStats | None, final: ClusterStats, snaps: list[NodeSnapshot]) -> dict[str, float]:
    """Per-node CPU and RSS, the local analogue of Container Insights.

    CPU is what each node used during this level: the change of its cumulative `cpu_seconds`
    between the snapshot verified at the reset and the one after the level (a node's own
    `cpu_pct` covers its last publish window, which may still hold the previous level). The
    busiest node counts. Without `cpu_seconds`, the nodes' own `cpu_pct` is used.
    """
    out: dict[str, float] = {}
    cpu = []
    for name, after in final.nodes.items():
        start = before.nodes.get(name) if before else None
        a, b = after.process.get("cpu_seconds"), start.process.get("cpu_seconds") if start else None
        if start is not None and isinstance(a, (int, float)) and isinstance(b, (int, float)) and after.ts > start.ts:
            cpu.append(100.0 * (a - b) / (after.ts - start.ts))
    if not cpu:
        cpu = [float(s.process["cpu_pct"]) for s in snaps if isinstance(s.process.get("cpu_pct"), (int, float))]
    if cpu:
        out["cpu_pct"] = max(cpu)
    rss = {s.node: float(s.process["rss_bytes"]) for s in snaps if isinstance(s.process.get("rss_bytes"), (int, float))}
    if rss:
        out["rss_bytes"] = sum(rss.values())
    return out


def failure_classes(outcomes: Outcomes) -> dict[str, int]:
    """Every non-ok outcome class with its count, most frequent first."""
    classes: dict[str, int] = {}
    for name in ("unauthorized", "rate_limited", "monthly_cap", *SILENT):
        if count := getattr(outcomes, name):
            classes[{"unauthorized": "401", "rate_limited": "429 rate_limited", "monthly_cap": "429 monthly_cap"}.get(name, name)] = count
    for field_name in ("client_errors", "server_errors", "other_status"):
        for code, count in getattr(outcomes, field_name).items():
            classes[str(code)] = classes.get(str(code), 0) + count
    for error, count in outcomes.error_replies.items():
        classes[f"{ERROR_REPLY}{error}"] = count
    return dict(sorted(classes.items(), key=lambda kv: -kv[1]))


def figures_for(plan: Plan, test: PlanTest, level_number: int, planned: int, driven: Driven, before: ClusterStats | None,
                memory_growth_pct: float | None = None) -> LevelFigures:
    result, final, samples = driven.result, driven.final, driven.samples
    outcomes = result.outcomes
    unfinished = max(0, planned - result.unsent - outcomes.abandoned - outcomes.completed)  # never attempted
    latency, cache = result.latency, result.cache_hits
    snaps = _snapshots(final, samples)
    cluster = cluster_metrics(plan, final, result.elapsed)
    cluster.update(pool_gauges(snaps))
    sources = {"cluster-stats": cluster}
    process = process_metrics(before, final, snaps)
    if process:
        sources["container-insights"] = process
    server_count = reported_totals(plan, final).get(REQUEST_COUNTER[test.protocol])
    admin = [s for s in samples if s.source == "cluster-stats"]
    recovery = driven.recovery
    return LevelFigures(
        level=level_number,
        planned=planned,
        sent=outcomes.sent,
        ok=outcomes.ok,
        errors_5xx=outcomes.errors_5xx,
        silent_failures=sum(getattr(outcomes, name) for name in SILENT) + unfinished,
        unsent=result.unsent,
        abandoned=outcomes.abandoned,
        failure_classes=bounded(dict(failure_classes(outcomes), **({"not attempted by the driver": unfinished} if unfinished else {})),
                                ERROR_REPLY),
        p50_ms=latency.percentile_ms(50) if latency.count else None,
        p99_ms=latency.percentile_ms(99) if latency.count else None,
        cache_hit_p50_ms=cache.percentile_ms(50) if cache.count else None,
        rps=result.requests_per_second,
        sources=sources,
        server_requests=server_count if not final.missing else None,  # None: not measured, no reconciliation
        admin_polls=len(admin),
        admin_polls_ok=sum(1 for s in admin if s.ok),
        recovery_sent=recovery.sent if recovery else None,
        recovery_ok=recovery.ok if recovery else 0,
        recovery_detail=recovery.detail if recovery else "",
        memory_growth_pct=memory_growth_pct,
    )


def poll_summary(samples: list[PollSample]) -> PollSummary:
    return PollSummary(count=len(samples), failed=tuple(PollFailure(s.source, s.at, s.error or "") for s in samples if not s.ok),
                       max_duration_s=max((s.duration_s for s in samples), default=0.0))


def rss_points(samples: list[PollSample]) -> dict[str, list[tuple[float, float]]]:
    """(time, RSS bytes) of each node over the polls, for the endurance memory trend."""
    by_node: dict[str, list[tuple[float, float]]] = {}
    for s in samples:
        if s.ok and isinstance(s.value, ClusterStats):
            for name, node in s.value.nodes.items():
                rss = node.process.get("rss_bytes")
                if isinstance(rss, (int, float)):
                    by_node.setdefault(name, []).append((s.at, float(rss)))
    return by_node


COMPARED_METRICS = {"rps": "ok_rps", "p50": "p50_ms", "p99": "p99_ms"}  # --trinity-compare: name -> what it reads


def _compared_value(record: LevelRecord, name: str) -> float | None:
    if name == "rps":
        return record.ok_rps
    return getattr(record.figures, COMPARED_METRICS[name]) if record.figures is not None else None


def facts_for(plan: Plan, test: PlanTest, level_number: int, result: LoadResult, figures: LevelFigures,
              this_run: Iterable[LevelRecord], endurance: EnduranceFact | None,
              previous: tuple[str, LevelRecord] | None) -> Facts:
    """Streams (2d), the compared test's same level (2c vs 2b, 2d vs 2a), baselines, 2e's
    ceiling, and the same level of an earlier run."""
    ok_rps = result.outcomes.ok / result.elapsed if result.elapsed else 0.0
    streams = {}
    if len(result.kinds) > 1 and result.elapsed:
        streams = {name: StreamFact(k.outcomes.ok / result.elapsed, k.outcomes.ok, k.outcomes.sent) for name, k in result.kinds.items()}
    compared = None
    if test.compare_with:
        other = next((r for r in this_run if r.test_id == test.compare_with and r.level == level_number), None)
        if other is not None and other.ok_rps and ok_rps:
            compared = ComparedWith(test.compare_with, other.ok_rps, ok_rps)
    compare = None
    if previous is not None:
        run_id, before = previous
        after = {"rps": ok_rps, "p50": figures.p50_ms, "p99": figures.p99_ms}
        compare = CompareFact(run_id, {name: MetricDelta(_compared_value(before, name), after[name]) for name in COMPARED_METRICS})
    return Facts(streams=streams, compared_with=compared, baselines=baseline_facts(plan, test.id, ok_rps), endurance=endurance,
                 compare=compare)


def memory_growth_pct(points: list[tuple[float, float]]) -> float | None:
    """Least-squares RSS growth over (t, rss) points, over the span, in % of the mean."""
    growth = fitted_growth(points)
    mean = sum(r for _, r in points) / len(points) if points else 0.0
    return 100.0 * growth / mean if growth is not None and mean else None


def worst_memory_growth_pct(by_node: dict[str, list[tuple[float, float]]]) -> float | None:
    """The largest fitted growth of any one node's RSS. Fitted per node, so a node missing from
    some snapshots (or a leak in one node among steady ones) does not bend a summed series."""
    growths = [g for points in by_node.values() if (g := memory_growth_pct(points)) is not None]
    return max(growths, default=None)
