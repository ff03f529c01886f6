"""The HTML report's content: a plan run's level records and the plan → HTML fragments.

Pure functions, no pytest: `case_html` (one case: its figures, breaches with advice, latency
spectrum, and its load client: where the shards ran, which worker ran what, the capacity
check), `section_html` (one plan test: level table, plots, red flags, baselines) and
`plan_summary_html` (every test of the plan with its ceiling, breaking point and verdict, and
the cross-test facts). This module reads the typed records (`pytest_trinity.model`) and works
out what each fragment shows; the markup is in the Jinja2 templates of `templates/`
(autoescaped, so any text from a record or the plan comes out escaped). Plots are embedded as
PNG data URIs, so the fragments need no files. Limits come from the plan object; the only
thing shown about the target is its name.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined

from pytest_trinity.model import BaselineFact, Breach, ComparedWith, EnduranceFact, LevelFigures, LevelRecord, MetricDelta, StreamFact, Verdict
from pytest_trinity.model.facts import ratio
from pytest_trinity.model.load import ShardLoad
from pytest_trinity.model.numbers import num
from pytest_trinity.model.summary import baseline_facts, breaking_record, ceiling_record, summarize_test
from pytest_trinity.plan import Baseline, Plan, PlanTest
from pytest_trinity.results import plots

__all__ = [
    "LoadClient", "PlanTestOutcome", "ShardRow", "case_html", "load_client_of", "num", "outcome_of", "outcomes", "plan_summary_html",
    "plots_of", "ran_text", "section_html", "sections_html", "spectrum_of",
]


# -- what a test's records add up to ---------------------------------------------------------
@dataclass(frozen=True)
class PlanTestOutcome:
    """One plan test over the levels this session ran or skipped."""

    test: PlanTest
    records: tuple[LevelRecord, ...]  # by level
    ceiling: LevelRecord | None  # the level with the best successful req/s
    breaking: LevelRecord | None  # the first level below the plan's minimum success %
    verdict: str  # a TestSummary verdict, or "not run"

    @property
    def measured(self) -> tuple[LevelRecord, ...]:
        return tuple(r for r in self.records if r.measured)


def outcome_of(plan: Plan, test: PlanTest, records: Iterable[LevelRecord]) -> PlanTestOutcome:
    """Ceiling, breaking point and verdict of `test`, as `model.summary` defines them for every
    report (terminal, results.json, JUnit, HTML)."""
    mine = tuple(sorted((r for r in records if r.test_id == test.id), key=lambda r: r.level))
    summary = summarize_test(plan, test.id, mine)
    if summary is None:
        return PlanTestOutcome(test, mine, None, None, "not run")
    return PlanTestOutcome(test, mine, ceiling_record(mine), breaking_record(plan, mine), summary.verdict)


def outcomes(plan: Plan, records: Sequence[LevelRecord]) -> list[PlanTestOutcome]:
    """Every test of the plan, in the plan's order."""
    return [outcome_of(plan, test, records) for test in plan.tests.values()]


def ran_text(record: LevelRecord) -> str:
    """What the level sent: requests × connections, or for an open model (2e) its rate."""
    model = record.model
    if model is not None and model.is_open:
        return f"{num(model.rate, 1)} req/s for {num(model.duration, 2)} s on {num(model.connections, 1)}"
    return f"{num(record.requests, 1)} × {num(record.concurrent, 1)}"


def _level_label(record: LevelRecord) -> str:
    return f"L{record.level:02d}"


# -- the latency spectrum -------------------------------------------------------------------
def spectrum_of(record: LevelRecord) -> plots.Spectrum:
    """The level's latency percentiles from its full histogram (the driver's totals), or from
    the few stored percentiles when the histogram is missing; empty when nothing answered."""
    label = f"{_level_label(record)} c{record.concurrent}"
    latency = record.load.latency if record.load is not None else None
    if latency is None:
        return plots.Spectrum(label, ())
    return plots.Spectrum(label, tuple(latency.spectrum_ms(plots.SPECTRUM_PERCENTILES)))


# -- the plots of a test --------------------------------------------------------------------
def _points(records: Sequence[LevelRecord], value: Callable[[LevelRecord], float | None]) -> list[plots.LevelPoint]:
    return [plots.LevelPoint(r.level, _level_label(r), value(r)) for r in records]


def _figure(read: Callable[[LevelFigures], float | None]) -> Callable[[LevelRecord], float | None]:
    """A per-level value read from the record's figures (None when it has none)."""
    def value(record: LevelRecord) -> float | None:
        found = read(record.figures) if record.figures is not None else None
        return float(found) if found is not None else None
    return value


def plots_of(outcome: PlanTestOutcome, plan: Plan) -> list[tuple[str, str]]:
    """(alt text, data URI) of the test's four plots: req/s, p50/p99, success %, spectra."""
    measured = outcome.measured
    tid = outcome.test.id
    criteria = plan.criteria
    success = _figure(lambda f: f.success_pct)
    breaking = None
    if outcome.breaking is not None:
        breaking = plots.LevelPoint(outcome.breaking.level, outcome.breaking.level_id, success(outcome.breaking))
    return [
        (f"{tid} requests per second against level",
         plots.rps_plot(f"{tid}: requests per second", _points(measured, lambda r: r.ok_rps),
                        _points(measured, _figure(lambda f: f.rps)))),
        (f"{tid} p50 and p99 against level",
         plots.latency_plot(f"{tid}: latency", _points(measured, _figure(lambda f: f.p50_ms)),
                            _points(measured, _figure(lambda f: f.p99_ms)),
                            _points(measured, _figure(lambda f: f.cache_hit_p50_ms)), criteria.cache_hit_p50_ms,
                            criteria.p99_ms, criteria.p99_levels)),
        (f"{tid} success % against level",
         plots.success_plot(f"{tid}: success", _points(measured, success), criteria.min_success_pct, breaking)),
        (f"{tid} latency percentile spectrum per level",
         plots.spectrum_plot(f"{tid}: latency spectrum per level", [spectrum_of(r) for r in measured])),
    ]


# -- what the templates are given -----------------------------------------------------------
@dataclass(frozen=True)
class Flag:
    """A check breached at some of a test's levels: the levels (in order) and its last breach."""

    check: str
    fails: bool
    levels: tuple[str, ...]
    last: Breach


def _breaches(record: LevelRecord) -> tuple[Breach, ...]:
    return record.verdict.breaches if record.verdict is not None else ()


def flags_of(outcome: PlanTestOutcome) -> list[Flag]:
    """Every breach of the test's levels, once per check (failing or reported)."""
    seen: dict[tuple[str, bool], list[tuple[LevelRecord, Breach]]] = {}
    for r in outcome.measured:
        for b in _breaches(r):
            seen.setdefault((b.check, b.fails), []).append((r, b))
    return [Flag(check, fails, tuple(r.level_id for r, _ in hits), hits[-1][1]) for (check, fails), hits in seen.items()]


@dataclass(frozen=True)
class RunComparison:
    """The test's levels against the earlier run given with --trinity-compare."""

    run_ids: tuple[str, ...]
    names: tuple[str, ...]  # the metrics compared ("rps", "p50", "p99")
    rows: tuple[tuple[str, tuple[MetricDelta, ...]], ...]  # (level id, a delta per name)


NOT_COMPARED = MetricDelta(None, None)


def run_comparison_of(outcome: PlanTestOutcome) -> RunComparison | None:
    compared = [(r.level_id, r.facts.compare) for r in outcome.measured if r.facts.compare is not None]
    if not compared:
        return None
    names = tuple(compared[0][1].deltas)
    return RunComparison(tuple(sorted({c.run_id for _, c in compared})), names,
                         tuple((level_id, tuple(c.deltas.get(n, NOT_COMPARED) for n in names)) for level_id, c in compared))


def compared_of(outcome: PlanTestOutcome) -> list[tuple[str, ComparedWith]]:
    """(level id, this level against the same level of the test it is compared with)."""
    return [(r.level_id, r.facts.compared_with) for r in outcome.measured if r.facts.compared_with is not None]


@dataclass(frozen=True)
class StreamTable:
    """2d's streams: a column per stream, a row per measured level."""

    names: tuple[str, ...]
    rows: tuple[tuple[str, tuple[StreamFact | None, ...]], ...]


def streams_of(outcome: PlanTestOutcome) -> StreamTable | None:
    names = tuple(sorted({name for r in outcome.measured for name in r.facts.streams}))
    if not names:
        return None
    return StreamTable(names, tuple((r.level_id, tuple(r.facts.streams.get(n) for n in names)) for r in outcome.measured))


@dataclass(frozen=True)
class TestComparison:
    """A test against the one the plan compares it with (2c vs 2b): ceilings and per level."""

    __test__ = False  # not a pytest test class

    test_id: str
    other_id: str
    measured: bool  # both ran in this session
    ceilings: ComparedWith | None
    levels: tuple[tuple[str, ComparedWith], ...]


@dataclass(frozen=True)
class BaselineCeiling:
    """A plan baseline against its test's ceiling in this session."""

    baseline: Baseline
    ceiling: LevelRecord | None

    @property
    def ratio(self) -> float | None:
        return ratio(self.ceiling.ok_rps, self.baseline.rps) if self.ceiling is not None else None


def comparisons_of(results: Sequence[PlanTestOutcome]) -> list[TestComparison]:
    by_id = {o.test.id: o for o in results}
    found = []
    for o in results:
        other_id = o.test.compare_with
        if not other_id:
            continue
        other = by_id.get(other_id)
        if not o.measured or other is None or not other.measured:
            found.append(TestComparison(o.test.id, other_id, False, None, ()))
            continue
        ceilings = None
        if o.ceiling is not None and other.ceiling is not None and other.ceiling.ok_rps:
            ceilings = ComparedWith(other_id, other.ceiling.ok_rps, o.ceiling.ok_rps)
        found.append(TestComparison(o.test.id, other_id, True, ceilings, tuple(compared_of(o))))
    return found


def endurance_of(results: Sequence[PlanTestOutcome]) -> list[tuple[PlanTestOutcome, EnduranceFact]]:
    """The tests that held a fraction of a ceiling (2e), with the rate they held."""
    return [(o, e) for o in results if o.test.endurance is not None and o.measured
            and (e := o.measured[0].facts.endurance) is not None]


@dataclass(frozen=True)
class ShardRow:
    """One shard of a level's load as the report shows it (latencies in ms, None without any)."""

    shard: int
    worker: str
    streams: str
    requests: int
    errors: int
    p50_ms: float | None
    p99_ms: float | None
    stop_reason: str
    error: str

    @classmethod
    def of(cls, shard: ShardLoad) -> ShardRow:
        def ms(key: str) -> float | None:
            value = shard.latency.percentiles_us.get(key)
            return value / 1000.0 if shard.latency.count and value is not None else None

        return cls(shard.shard, shard.worker, ", ".join(shard.streams), shard.requests, shard.errors, ms("p50"), ms("p99"),
                   shard.stop_reason, shard.error)


@dataclass(frozen=True)
class LoadClient:
    """The level's stress client: where its shards ran, how far apart they started, its CPU
    use, each shard, and the capacity check's estimate and warning."""

    executor: str
    shards: int
    start_skew: str  # ms with 1 decimal, "—" with a single shard
    cpu_use_pct: float | None
    rows: tuple[ShardRow, ...]
    estimate: str
    warning: str

    @property
    def failed(self) -> bool:
        """A shard has an error: the shard table is shown open."""
        return any(r.error for r in self.rows)


def load_client_of(record: LevelRecord) -> LoadClient | None:
    """The record's load client (its `load`, with the capacity check's `client` when it ran);
    None when the level sent no load (skipped, or an error before the driver started)."""
    load, client = record.load, record.client
    if load is None:
        return None
    skew, use = load.start_skew_ms, load.client_cpu_use
    return LoadClient(load.executor, load.shards, "—" if skew is None else f"{skew:.1f}", None if use is None else 100.0 * use,
                      tuple(ShardRow.of(s) for s in load.by_shard), client.estimate if client else "", client.warning if client else "")


# -- the templates ----------------------------------------------------------------------------
def _format(value: Any, spec: str) -> str:
    return format(value, spec)


ENV = Environment(loader=PackageLoader("pytest_trinity.results", "templates"), autoescape=True,
                  undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
ENV.filters["num"] = num  # {{ value|num(2) }}: a number for a table cell ("—" when not measured)
ENV.filters["fmt"] = _format  # {{ value|fmt("g") }}: Python's format(value, spec)
ENV.filters["utc"] = lambda t: datetime.fromtimestamp(t, UTC).strftime("%H:%M:%S")  # {{ epoch|utc }}
ENV.globals["ran_text"] = ran_text


def _render(template: str, **context: Any) -> str:
    return ENV.get_template(template).render(**context)


NO_VERDICT = Verdict(True, (), ())  # a measured record without one (not made by the judge)


# -- the fragments ----------------------------------------------------------------------------
def case_html(record: LevelRecord, plan: Plan) -> str:
    """One case's extra: why it was skipped or errored, or its figures, breaches with advice,
    cross-test facts and latency percentile spectrum; and its load client (the shards, the
    capacity warning) whenever load was sent, a failed worker's partial load included."""
    spectrum = ""
    if record.measured:
        limit = plan.criteria.p99_ms if plan.criteria.p99_applies(record.level) else None
        spectrum = plots.spectrum_plot(f"{record.test_id} {record.level_id}: latency spectrum", [spectrum_of(record)], limit)
    return _render("case.html.j2", record=record, ran=ran_text(record), spectrum=spectrum,
                   verdict=record.verdict or NO_VERDICT, client=load_client_of(record))


def _baselines(outcome: PlanTestOutcome, plan: Plan) -> tuple[BaselineFact, ...]:
    return baseline_facts(plan, outcome.test.id, outcome.ceiling.ok_rps if outcome.ceiling is not None else None)


def section_html(outcome: PlanTestOutcome, plan: Plan, scale: float) -> str:
    """One plan test: headline, its level table, its four plots, red flags with advice, and
    the comparisons (baselines, the earlier run, the other test, streams)."""
    return _render("section.html.j2", outcome=outcome, plots=plots_of(outcome, plan) if outcome.measured else [],
                   flags=flags_of(outcome), baselines=_baselines(outcome, plan), scale=scale,
                   run_comparison=run_comparison_of(outcome), compared=compared_of(outcome), streams=streams_of(outcome))


def sections_html(plan: Plan, records: Sequence[LevelRecord], scale: float) -> list[str]:
    """A section for every plan test that has a record in this session."""
    return [section_html(o, plan, scale) for o in outcomes(plan, records) if o.records]


def plan_summary_html(plan: Plan, records: Sequence[LevelRecord], scale: float, target_name: str) -> str:
    """Every test of the plan with its ceiling, breaking point and verdict, and the cross-test facts."""
    results = outcomes(plan, records)
    by_id = {o.test.id: o for o in results}
    baselines = [BaselineCeiling(b, by_id[b.test].ceiling) for b in plan.baselines if b.test in by_id]
    return _render("plan_summary.html.j2", plan=plan, outcomes=results, record_count=len(records), scale=scale,
                   target_name=target_name, comparisons=comparisons_of(results), baselines=baselines,
                   endurance=endurance_of(results))
