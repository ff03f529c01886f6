"""Load profiles.toml into a Plan, with errors that name the file, the table and the key.

Every message has the form `<file>: [<table>].<key> must be <expected>, got <value>` or says
which reference is broken (`test 2b names profile "x", which is not defined`), so a user can
fix the file without reading our code. Unknown keys are errors too: a typo must not silently
fall back to nothing.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pytest_trinity.plan.metrics import metric_sources
from pytest_trinity.plan.model import (
    COMPARATORS,
    Baseline,
    Checklist,
    CloudTiming,
    Criteria,
    Degradation,
    Endurance,
    Level,
    Phase,
    Plan,
    PlanTest,
    Profile,
    RedFlag,
    Restore,
    RunLimits,
    Telemetry,
)
from pytest_trinity.tomlschema import FileError, Table, display_path, read_toml

PROTOCOLS = ("tcp", "udp")
TOPOLOGIES = ("direct", "balanced")
KEY_TIERS = ("public", "partner")
STREAMS = ("lpo", "lrs")
BASELINE_KINDS = ("previous", "target")
STRESS_COLUMNS = ("batch", "micro_batch", "flush_ms", "db_max_open", "db_max_idle", "cache_pool", "cache_idle", "cache_read_ms")
CRITERIA_ADVICE = ("success_pct", "errors_5xx", "cache_hit_p50_ms", "p99_ms")
# A sanity bound on one level's requests, far above the plan's largest (9,000,000): a number
# beyond it is a typo (an extra zero or three), not a load anyone means to send.
MAX_REQUESTS = 10**10
SHARED_INTS = ("qps", "burst", "ttl_s", "config_poll_s", "cache_max_retries", "cache_dial_ms", "cache_write_ms")


class PlanError(FileError):
    """profiles.toml (or a user's plan file) is not a valid plan; the message says what to fix."""


def load_plan(path: Path | str, extra_sources: Mapping[str, Iterable[str]] | None = None) -> Plan:
    """Read and validate a plan file. Raises PlanError with a message naming what to fix.

    `extra_sources` are the metric sources (and their metric names) that plugins add to a
    level's figures (hook `pytest_trinity_metric_sources`); red flags may read them too.
    """
    path = Path(path)
    file = display_path(path)
    root = Table(file, "", read_toml(path, PlanError, "plan file", "--trinity-profiles"), PlanError)
    plan = _read_plan(root, path)
    root.done()
    _check_references(file, plan)
    _check_red_flag_metrics(file, plan, metric_sources(plan.telemetry.counters, extra_sources))
    return plan


def _read_plan(root: Table, path: Path) -> Plan:
    head = root.sub("plan")
    name, version = head.str("name"), head.str("version")
    head.done()
    return Plan(
        source=path.resolve(),
        name=name,
        version=version,
        levels=_read_levels(root.sub("levels")),
        phases=_read_phases(root.sub("phases")),
        tests=_read_tests(root.sub("tests")),
        profiles=_read_profiles(root.sub("profiles"), root.sub("stress_shared")),
        criteria=_read_criteria(root.sub("criteria")),
        degradation=_read_degradation(root.sub("degradation")),
        red_flags=_read_red_flags(root.sub("red_flags")),
        baselines=_read_baselines(root.sub("baselines")),
        telemetry=_read_telemetry(root.sub("telemetry")),
        checklist=_read_checklist(root.sub("checklist")),
        limits=_read_limits(root.sub("run")),
        cloud=_read_cloud(root.sub("cloud")) if root.has("cloud") else CloudTiming(),
        placements=_read_placements(root.sub("placement")),
        restore=_read_restore(root.sub("restore")),
    )


def _numbered(table: Table, what: str) -> dict[int, str]:
    """Keys of `table` that must be 1..N without gaps; returns {number: key}."""
    numbers: dict[int, str] = {}
    for key in table.keys():
        if not key.isdigit() or int(key) < 1:
            raise PlanError(f"{table.file}: [{table.path}.{key}] is not a {what} number: {what}s are numbered 1, 2, 3, …")
        numbers[int(key)] = key
    if not numbers:
        raise PlanError(f"{table.file}: [{table.path}] defines no {what}")
    for expected in range(1, max(numbers) + 1):
        if expected not in numbers:
            raise PlanError(
                f"{table.file}: [{table.path}] is missing {what} {expected}: "
                f"{what}s must run 1..{max(numbers)} without gaps"
            )
    return dict(sorted(numbers.items()))


def _read_levels(table: Table) -> tuple[Level, ...]:
    levels = []
    for number, key in _numbered(table, "level").items():
        t = table.sub(key)
        requests, concurrent = t.int("requests", maximum=MAX_REQUESTS), t.int("concurrent")
        if concurrent > requests:
            raise t.fail("concurrent", f"at most requests ({requests})", concurrent)
        levels.append(Level(number, requests, concurrent, t.str("purpose")))
        t.done()
    return tuple(levels)


def _read_phases(table: Table) -> dict[int, Phase]:
    phases = {}
    for number, key in _numbered(table, "phase").items():
        t = table.sub(key)
        phases[number] = Phase(number, t.str("title"), t.str("placement"))
        t.done()
    return phases


def _read_tests(table: Table) -> dict[str, PlanTest]:
    tests = {}
    for test_id in table.keys():
        t = table.sub(test_id)
        endurance = None
        if t.has("endurance"):
            e = t.sub("endurance")
            endurance = Endurance(e.num("duration_s", minimum=1), e.num("load_fraction", 0.01, 1.0), e.str("ceiling_from"),
                                  e.num("min_duration_s", minimum=0), e.num("max_memory_growth_pct", minimum=0),
                                  e.str("memory_advice"))
            e.done()
        tests[test_id] = PlanTest(
            id=test_id,
            phase=t.int("phase"),
            title=t.str("title"),
            protocol=t.str("protocol", PROTOCOLS),
            access_path=t.str("access_path"),
            topology=t.str("topology", TOPOLOGIES),
            profile=t.str("profile"),
            key_tier=t.str("key_tier", KEY_TIERS),
            governor=t.bool("governor"),
            streams=t.strs("streams", STREAMS),
            budget_min=t.num("budget_min", minimum=0),
            watch=t.strs("watch", default=[], nonempty=False),
            compare_with=t.str("compare_with", default=None),
            endurance=endurance,
        )
        t.done()
    if not tests:
        raise PlanError(f"{table.file}: [tests] defines no test")
    return tests


def _read_profiles(table: Table, shared_table: Table) -> dict[str, Profile]:
    shared: dict[str, int | str] = {key: shared_table.int(key, minimum=0) for key in SHARED_INTS}
    shared["log_level"] = shared_table.str("log_level")
    shared_table.done()
    profiles = {}
    for name in table.keys():
        t = table.sub(name)
        production = t.bool("production", default=False)
        # A stress profile states every column and takes the shared values; a production
        # profile states what it states (the plan gives fresh-price no values).
        values: dict[str, Any] = {}
        for key in STRESS_COLUMNS:
            values[key] = t.int(key) if not production or t.has(key) else None
        for key in SHARED_INTS:
            values[key] = t.int(key, minimum=0) if t.has(key) else (None if production else shared[key])
        values["log_level"] = t.str("log_level") if t.has("log_level") else (None if production else shared["log_level"])
        t.done()
        profiles[name] = Profile(name=name, production=production, **values)
    return profiles


def _read_criteria(t: Table) -> Criteria:
    p99_levels = t.raw("p99_levels")
    if not (isinstance(p99_levels, list) and len(p99_levels) == 2 and all(isinstance(x, int) and not isinstance(x, bool) and x >= 1 for x in p99_levels) and p99_levels[0] <= p99_levels[1]):
        raise t.fail("p99_levels", "a pair of level numbers [first, last]", p99_levels)
    criteria = Criteria(
        full_success_through_level=t.int("full_success_through_level"),
        min_success_pct=t.num("min_success_pct", 0, 100),
        max_5xx=t.int("max_5xx", minimum=0),
        cache_hit_p50_ms=t.num("cache_hit_p50_ms", minimum=0),
        p99_ms=t.num("p99_ms", minimum=0),
        p99_levels=(p99_levels[0], p99_levels[1]),
        advice=_read_advice(t.sub("advice"), CRITERIA_ADVICE),
    )
    t.done()
    return criteria


def _read_advice(t: Table, keys: tuple[str, ...]) -> dict[str, str]:
    advice = {key: t.str(key) for key in keys}
    t.done()
    return advice


def _read_degradation(t: Table) -> Degradation:
    degradation = Degradation(
        max_silent_failure_pct=t.num("max_silent_failure_pct", 0, 100),
        recovery_probe_requests=t.int("recovery_probe_requests"),
        recovery_probe_timeout_s=t.num("recovery_probe_timeout_s", minimum=0.001),
        advice=t.str("advice"),
    )
    t.done()
    return degradation


def _read_red_flags(table: Table) -> tuple[RedFlag, ...]:
    flags = []
    for flag_id in table.keys():
        t = table.sub(flag_id)
        flags.append(RedFlag(
            id=flag_id,
            source=t.str("source"),
            metric=t.str("metric"),
            op=t.str("op", tuple(COMPARATORS)),
            threshold=t.num("threshold", minimum=float("-inf")),
            advice=t.str("advice"),
            unit=t.str("unit") if t.has("unit") else "",
            relative_to=t.str("relative_to", default=None),
            protocols=t.strs("protocols", PROTOCOLS, default=[], nonempty=False),
            key_tiers=t.strs("key_tiers", KEY_TIERS, default=[], nonempty=False),
            tests=t.strs("tests", default=[], nonempty=False),
        ))
        t.done()
    return tuple(flags)


def _read_baselines(table: Table) -> tuple[Baseline, ...]:
    baselines = []
    for baseline_id in table.keys():
        t = table.sub(baseline_id)
        at = t.raw("at_concurrent", None)
        through = t.raw("full_success_through_concurrent", None)
        baselines.append(Baseline(
            id=baseline_id,
            test=t.str("test"),
            kind=t.str("kind", BASELINE_KINDS),
            label=t.str("label"),
            rps=t.num("rps", minimum=0),
            at_concurrent=None if at is None else t.int("at_concurrent"),
            full_success_through_concurrent=None if through is None else t.int("full_success_through_concurrent"),
            p50_ms=t.num("p50_ms", minimum=0, default=None),
        ))
        t.done()
    return tuple(baselines)


def _read_telemetry(t: Table) -> Telemetry:
    counters = t.strs("counters")
    telemetry = Telemetry(
        poll_s=t.num("poll_s", minimum=0.001),
        publish_s=t.num("publish_s", minimum=0.001),
        snapshot_ttl_s=t.num("snapshot_ttl_s", minimum=0.001),
        nodes=t.strs("nodes"),
        counters=counters,
        gauges=t.strs("gauges", default=[], nonempty=False),
        reconcile_tolerance_pct=t.num("reconcile_tolerance_pct", 0, 100),
        reconcile_advice=t.str("reconcile_advice"),
    )
    for gauge in telemetry.gauges:
        if gauge not in counters:
            raise PlanError(f'{t.file}: [{t.path}].gauges names "{gauge}", which is not in [{t.path}].counters')
    t.done()
    return telemetry


def _read_checklist(t: Table) -> Checklist:
    checklist = Checklist(t.int("usage_logs_max_rows"), t.num("verify_reset_timeout_s", minimum=0.001))
    t.done()
    return checklist


def _read_limits(t: Table) -> RunLimits:
    limits = RunLimits(t.num("request_timeout_s", minimum=0.001), t.num("max_level_s", minimum=0.001),
                       t.int("recovery_concurrency"), t.num("late_send_ms", minimum=0))
    t.done()
    return limits


def _read_cloud(t: Table) -> CloudTiming:
    cloud = CloudTiming(t.num("late_data_s", minimum=0), t.num("poll_s", minimum=0.1), t.strs("publish"))
    t.done()
    return cloud


def _read_placements(table: Table) -> dict[str, dict[str, str]]:
    placements = {}
    for name in table.keys():
        t = table.sub(name)
        placements[name] = {node: t.str(node) for node in t.keys()}
        t.done()
    return placements


def _read_restore(t: Table) -> Restore:
    restore = Restore(t.str("profile"), t.bool("governor"), t.str("placement"))
    t.done()
    return restore


def _check_references(file: str, plan: Plan) -> None:
    """Cross-table checks: every name one table uses must be defined in another."""

    def defined(names: Iterable[str]) -> str:
        return ", ".join(f'"{n}"' for n in names)

    for test in plan.tests.values():
        if test.profile not in plan.profiles:
            raise PlanError(f'{file}: test {test.id} names profile "{test.profile}", which is not defined (defined: {defined(plan.profiles)})')
        if test.phase not in plan.phases:
            raise PlanError(f"{file}: test {test.id} is in phase {test.phase}, which [phases] does not define")
        for other in filter(None, (test.compare_with, test.endurance and test.endurance.ceiling_from)):
            if other not in plan.tests:
                raise PlanError(f'{file}: test {test.id} refers to test "{other}", which is not defined (defined: {defined(plan.tests)})')
    for phase in plan.phases.values():
        if phase.placement not in plan.placements:
            raise PlanError(f'{file}: phase {phase.number} names placement "{phase.placement}", which [placement] does not define')
    if plan.restore.profile not in plan.profiles:
        raise PlanError(f'{file}: [restore].profile names profile "{plan.restore.profile}", which is not defined (defined: {defined(plan.profiles)})')
    if plan.restore.placement not in plan.placements:
        raise PlanError(f'{file}: [restore].placement names "{plan.restore.placement}", which [placement] does not define')
    for flag in plan.red_flags:
        for test_id in flag.tests:
            if test_id not in plan.tests:
                raise PlanError(f'{file}: [red_flags.{flag.id}].tests names test "{test_id}", which is not defined')
    for baseline in plan.baselines:
        if baseline.test not in plan.tests:
            raise PlanError(f'{file}: baseline {baseline.id} is for test "{baseline.test}", which is not defined')
    high = plan.criteria.p99_levels[1]
    for key, number in (("full_success_through_level", plan.criteria.full_success_through_level), ("p99_levels", high)):
        if number > len(plan.levels):
            raise PlanError(f"{file}: [criteria].{key} names level {number}, but the ramp has {len(plan.levels)} levels")


def _unknown(name: str, known: Iterable[str]) -> str:
    """The hint after an unknown name: the nearest known one, else all of them."""
    known = sorted(known)
    near = difflib.get_close_matches(name, known, n=1)
    return f'(did you mean "{near[0]}"?)' if near else f"(known: {', '.join(known)})"


def _check_red_flag_metrics(file: str, plan: Plan, sources: dict[str, tuple[str, ...]]) -> None:
    """Every red flag reads a source that exists and metrics that source gives
    (pytest_trinity/plan/metrics.py); otherwise it would stay unmeasured, silently off."""
    for flag in plan.red_flags:
        where = f"{file}: [red_flags.{flag.id}]"
        if flag.source not in sources:
            raise PlanError(f'{where}.source "{flag.source}" is not a metric source {_unknown(flag.source, sources)}')
        metrics = sources[flag.source]
        for key, name in (("metric", flag.metric), ("relative_to", flag.relative_to)):
            if name is not None and name not in metrics:
                raise PlanError(f'{where}.{key} "{name}" is not a metric of source "{flag.source}" {_unknown(name, metrics)}')
