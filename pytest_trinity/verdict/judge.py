"""Judge one level against the plan: every breach with its measured value, limit and advice.

Rules (all thresholds come from the plan file):
- Through `criteria.full_success_through_level` (level 9) the level must be perfect: success
  rate, zero 5xx, cache-hit p50, and every applicable red flag and the reconciliation fail
  the case.
- `criteria.p99_levels` (5–8) also bound p99.
- Above level 9 the service may fail requests, but must degrade gracefully (see
  `[degradation]`); red flags and reconciliation gaps are still reported there, but do not
  fail the case, because overload is the point of those levels.
- An endurance test (2e) holds a constant load in consecutive windows: every window is held
  to the strict rules, p99 (a ramp criterion) does not apply, and the memory trend over the
  hold so far must stay flat.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from pytest_trinity.model import Breach, LevelFigures, Verdict
from pytest_trinity.plan import Plan, PlanTest


def strict_level(plan: Plan, test: PlanTest, level: int) -> bool:
    """Whether `level` of `test` is held to the strict rules (every breach fails)."""
    return test.endurance is not None or level <= plan.criteria.full_success_through_level


def red_flag_breaches(plan: Plan, test: PlanTest, metric: Callable[[str, str], float | None], strict: bool,
                      sources: Iterable[str] | None = None) -> tuple[list[Breach], list[str]]:
    """The plan's red flags that apply to `test` (of `sources` only, if given), read with
    `metric(source, name)`: the breaches, and the flags that had nothing to read."""
    only = set(sources) if sources is not None else None
    breaches: list[Breach] = []
    unmeasured: list[str] = []
    for flag in plan.red_flags:
        if not flag.applies_to(test) or (only is not None and flag.source not in only):
            continue
        value = metric(flag.source, flag.metric)
        reference = metric(flag.source, flag.relative_to) if flag.relative_to else None
        if value is None or (flag.relative_to and reference is None):
            unmeasured.append(f"{flag.id} ({flag.source}: {flag.metric})")
            continue
        if flag.breached(value, reference):
            breaches.append(Breach(flag.id, "red_flag", flag.metric, value, flag.op, flag.limit(reference), flag.unit, flag.advice, strict))
    return breaches, unmeasured


def judge_level(plan: Plan, test: PlanTest, figures: LevelFigures) -> Verdict:
    criteria = plan.criteria
    endurance = test.endurance
    strict = strict_level(plan, test, figures.level)
    breaches: list[Breach] = []
    unmeasured: list[str] = []

    def add(check: str, kind: str, metric: str, measured: float, op: str, limit: float, unit: str, advice: str, fails: bool) -> None:
        breaches.append(Breach(check, kind, metric, measured, op, limit, unit, advice, fails))

    if strict:
        if figures.success_pct < criteria.min_success_pct:
            classes = ", ".join(f"{name} {count:,}" for name, count in figures.failure_classes.items())
            add("success_pct", "criterion", "success_pct", round(figures.success_pct, 4), "<",
                criteria.min_success_pct, "%", criteria.advice["success_pct"] + (f" [{classes}]" if classes else ""), True)
        if figures.errors_5xx > criteria.max_5xx:
            add("errors_5xx", "criterion", "errors_5xx", figures.errors_5xx, ">", criteria.max_5xx, "",
                criteria.advice["errors_5xx"], True)
        if figures.cache_hit_p50_ms is None:
            unmeasured.append("cache_hit_p50_ms (no cache hit was answered)")
        elif figures.cache_hit_p50_ms >= criteria.cache_hit_p50_ms:
            add("cache_hit_p50_ms", "criterion", "cache-hit p50", figures.cache_hit_p50_ms, ">=",
                criteria.cache_hit_p50_ms, "ms", criteria.advice["cache_hit_p50_ms"], True)
    if endurance is None and criteria.p99_applies(figures.level):
        if figures.p99_ms is None:
            unmeasured.append("p99_ms (no request completed)")
        elif figures.p99_ms >= criteria.p99_ms:
            add("p99_ms", "criterion", "p99", figures.p99_ms, ">=", criteria.p99_ms, "ms", criteria.advice["p99_ms"], True)

    if endurance is not None and figures.memory_growth_pct is not None:
        if figures.memory_growth_pct > endurance.max_memory_growth_pct:
            add("memory_trend", "criterion", "memory growth over the hold", round(figures.memory_growth_pct, 2), ">",
                endurance.max_memory_growth_pct, "%", endurance.memory_advice, True)

    flagged, unread = red_flag_breaches(plan, test, figures.metric, strict)
    breaches += flagged
    unmeasured += unread

    if figures.server_requests is not None and figures.sent:
        gap_pct = 100.0 * abs(figures.sent - figures.server_requests) / figures.sent
        if gap_pct > plan.telemetry.reconcile_tolerance_pct:
            add("reconciliation", "reconciliation",
                f"request count gap (client {figures.sent:,}, servers {figures.server_requests:,})",
                round(gap_pct, 3), ">", plan.telemetry.reconcile_tolerance_pct, "%", plan.telemetry.reconcile_advice, strict)

    if not strict:
        d = plan.degradation
        if figures.silent_failure_pct > d.max_silent_failure_pct:
            add("degradation:silent_failures", "degradation", "silent failures (timeouts, resets, lost)",
                round(figures.silent_failure_pct, 3), ">", d.max_silent_failure_pct, "%", d.advice, True)
        if figures.admin_polls and not figures.admin_polls_ok:
            add("degradation:admin", "degradation", "admin polls answered during the level", 0, "of",
                figures.admin_polls, "", "the admin API stopped answering under load: " + d.advice, True)
        if figures.recovery_sent is not None and figures.recovery_ok < figures.recovery_sent:
            add("degradation:recovery", "degradation", "recovery probe requests answered 2xx", figures.recovery_ok, "of",
                figures.recovery_sent, "", f"the service did not recover after the level ({figures.recovery_detail})", True)

    if figures.shortfall:
        add("driver:shortfall", "driver", "planned requests the driver did not send or await in time", figures.shortfall,
            "of", figures.planned, "", "the load applied was lower than planned: give the stress client more CPU or connections",
            False)

    failed = any(b.fails for b in breaches)
    return Verdict(passed=not failed, breaches=tuple(breaches), unmeasured=tuple(unmeasured))
