"""The HTML report's content: a plan run's level records and the plan → HTML fragments.

Pure functions, no pytest: `case_html` (one case: its figures, breaches with advice, latency
spectrum), `section_html` (one plan test: level table, plots, red flags, baselines) and
`plan_summary_html` (every test of the plan with its ceiling, breaking point and verdict, and
the cross-test facts). Plots are embedded as PNG data URIs, so the fragments need no files.
Limits come from the plan object; the only thing shown about the target is its name.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from pytest_trinity.plan import Plan, PlanTest
from pytest_trinity.results import plots
from pytest_trinity.results.summary import summarize
from pytest_trinity.runner.record import LevelRecord

MEASURED = ("passed", "failed", "interrupted")  # statuses whose record holds figures

STYLE = """<style>
.trinity { color: #1d2733; font-size: 13px; margin: 8px 0 18px 0; }
.trinity h2 { font-size: 18px; margin: 18px 0 6px 0; border-bottom: 2px solid #c8d1dc; }
.trinity h3 { font-size: 15px; margin: 14px 0 4px 0; color: #1d2733; }
.trinity table.trinity-table { border-collapse: collapse; margin: 4px 0 10px 0; }
.trinity table.trinity-table th, .trinity table.trinity-table td {
  border: 1px solid #c8d1dc; padding: 3px 7px; text-align: right; white-space: nowrap; }
.trinity table.trinity-table th { background: #eef2f6; text-align: center; }
.trinity table.trinity-table td.text { text-align: left; white-space: normal; max-width: 620px; }
.trinity .v-passed { color: #137333; font-weight: bold; }
.trinity .v-failed, .trinity .v-error, .trinity .v-interrupted { color: #b3261e; font-weight: bold; }
.trinity .v-skipped, .trinity .v-not-run, .trinity .v-incomplete { color: #8a6d00; font-weight: bold; }
.trinity tr.breaking td { background: #fdecea; }
.trinity tr.ceiling td { background: #e8f4ea; }
.trinity .plots { display: flex; flex-wrap: wrap; gap: 6px; }
.trinity .plots img { border: 1px solid #c8d1dc; max-width: 100%; }
.trinity .note { color: #55606e; font-style: italic; }
.trinity ul { margin: 2px 0 8px 0; }
</style>"""


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
        return tuple(r for r in self.records if r.status in MEASURED)


def success_pct(record: LevelRecord) -> float | None:
    value = record.figures.get("success_pct")
    return float(value) if value is not None else None


def outcome_of(plan: Plan, test: PlanTest, records: Iterable[LevelRecord]) -> PlanTestOutcome:
    """Ceiling, breaking point and verdict of `test`, as `results.summary` defines them for
    every report (terminal, results.json, HTML)."""
    mine = tuple(sorted((r for r in records if r.test_id == test.id), key=lambda r: r.level))
    summary = summarize(plan, [r.to_dict() for r in mine]).get(test.id)
    if summary is None:
        return PlanTestOutcome(test, mine, None, None, "not run")
    ceiling = next((r for r in mine if r.level_id == summary.ceiling_level), None)
    breaking = next((r for r in mine if r.level_id == summary.breaking_level), None)
    return PlanTestOutcome(test, mine, ceiling, breaking, summary.verdict)


def outcomes(plan: Plan, records: Sequence[LevelRecord]) -> list[PlanTestOutcome]:
    """Every test of the plan, in the plan's order."""
    return [outcome_of(plan, test, records) for test in plan.tests.values()]


# -- small formatting helpers ---------------------------------------------------------------
def num(value: Any, digits: int = 1) -> str:
    """A number for a table cell: thousands separated; "—" when not measured."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) or float(value).is_integer() and abs(value) >= 1000:
        return f"{int(value):,}"
    if 0 < abs(value) < 0.01:
        return f"{value:.3g}"
    if abs(value) < 10 and digits < 3:
        return f"{value:,.{max(digits, 2)}f}"
    return f"{value:,.{digits}f}"


def _verdict_span(verdict: str) -> str:
    return f'<span class="v-{escape(verdict.replace(" ", "-"))}">{escape(verdict)}</span>'


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], row_classes: Sequence[str] | None = None,
           css: str = "trinity-table") -> str:
    """Cells are HTML already (escape text before passing it); a cell starting with
    `<td` is used as it is (for colspan or a class)."""
    head = "".join(f"<th>{h}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{row_classes[i]}"' if row_classes and row_classes[i] else ""
        cells = "".join(c if c.startswith("<td") else f"<td>{c}</td>" for c in row)
        body.append(f"<tr{cls}>{cells}</tr>")
    return f'<table class="{css}"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _text(value: str) -> str:
    return f'<td class="text">{escape(value)}</td>'


def _img(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{escape(alt)}" title="{escape(alt)}">'


def ran_text(record: LevelRecord) -> str:
    """What the level sent: requests × connections, or for an open model (2e) its rate."""
    model = record.model
    if model.get("model") == "open":
        return (f"{num(model.get('rate'))} req/s for {num(model.get('duration'), 2)} s "
                f"on {num(model.get('connections'))}")
    return f"{num(record.requests)} × {num(record.concurrent)}"


def _level_label(record: LevelRecord) -> str:
    return f"L{record.level:02d}"


# -- the latency spectrum -------------------------------------------------------------------
def spectrum_of(record: LevelRecord) -> plots.Spectrum:
    """The level's latency percentiles from its full histogram (the driver's totals), or from
    the few stored percentiles when the histogram is missing; empty when nothing answered."""
    latency = record.load.get("totals", {}).get("latency", {})
    label = f"{_level_label(record)} c{record.concurrent}"
    encoded = latency.get("encoded")
    if encoded and latency.get("count"):
        from pytest_trinity.drivers.latency import decode

        hist = decode(encoded)
        points = [(p, hist.get_value_at_percentile(p) / 1000.0) for p in plots.SPECTRUM_PERCENTILES]
        return plots.Spectrum(label, tuple(points))
    stored = sorted((float(k.lstrip("p")), v / 1000.0) for k, v in latency.get("percentiles_us", {}).items() if v)
    return plots.Spectrum(label, tuple(stored))


# -- one case ---------------------------------------------------------------------------------
FIGURE_ROWS = (
    ("sent", "requests sent", 0),
    ("ok", "successful", 0),
    ("success_pct", "success %", 2),
    ("errors_5xx", "5xx answers", 0),
    ("silent_failures", "silent failures (timeouts, resets, lost)", 0),
    ("p50_ms", "p50 ms", 2),
    ("p99_ms", "p99 ms", 2),
    ("cache_hit_p50_ms", "cache-hit p50 ms", 2),
    ("rps", "answered req/s", 1),
    ("server_requests", "requests the servers counted", 0),
)


def _figures_table(record: LevelRecord) -> str:
    f = record.figures
    rows = [[escape(label), num(f.get(key), digits)] for key, label, digits in FIGURE_ROWS]
    rows.insert(9, [escape("successful req/s"), num(record.ok_rps)])
    rows.append([escape("elapsed s"), num(record.load.get("elapsed"), 3)])
    if f.get("recovery_sent") is not None:
        rows.append([escape("recovery probe"), escape(f.get("recovery_detail", ""))])
    if f.get("memory_growth_pct") is not None:
        rows.append([escape("memory growth %"), num(f["memory_growth_pct"], 2)])
    return _table(["figure", "value"], rows)


def _breaches_html(breaches: Sequence[dict[str, Any]]) -> str:
    if not breaches:
        return '<p>No breach of the plan.</p>'
    rows = [[("fails" if b.get("fails") else "reported"), _text(b.get("check", "")), num(b.get("measured"), 2),
              escape(f'{b.get("op", "")} {num(b.get("limit"), 2)} {b.get("unit", "")}'.strip()), _text(b.get("advice", ""))]
            for b in breaches]
    return _table(["", "check", "measured", "limit", "advice"], rows)


def _facts_html(record: LevelRecord) -> str:
    parts = []
    facts = record.facts
    compared = facts.get("compared_with")
    if compared:
        parts.append(f"<li>{escape(record.test_id)} vs {escape(compared['test'])} at {escape(record.level_id)}: "
                     f"{num(compared['our_ok_rps'])} vs {num(compared['their_ok_rps'])} successful req/s, "
                     f"gap {num(compared['gap_pct'])} %, cost {num(compared['cost_us_per_request'])} µs per request</li>")
    for name, stream in facts.get("streams", {}).items():
        parts.append(f"<li>stream {escape(name)}: {num(stream.get('ok_rps'))} successful req/s "
                     f"({num(stream.get('ok'))} of {num(stream.get('sent'))})</li>")
    for base in facts.get("baselines", []):
        parts.append(f"<li>vs {escape(base.get('label', base.get('id', '')))}: ratio {num(base.get('ratio'), 3)}</li>")
    compare = facts.get("compare")
    if compare:
        changes = ", ".join(f"{escape(name)} {num(c.get('before'), 2)} → {num(c.get('after'), 2)} ({_signed(c.get('change_pct'))} %)"
                            for name, c in compare.items() if isinstance(c, dict))
        parts.append(f"<li>vs run {escape(str(compare.get('run_id', '')))}: {changes}</li>")
    endurance = facts.get("endurance")
    if endurance:
        parts.append(f"<li>endurance: {num(endurance.get('rate'))} req/s planned for {num(endurance.get('window_s'), 2)} s, "
                     f"from the {escape(str(endurance.get('ceiling_level', '')))} ceiling "
                     f"{num(endurance.get('ceiling_rps'))} req/s ({escape(str(endurance.get('ceiling_source', '')))})</li>")
    return f"<ul>{''.join(parts)}</ul>" if parts else ""


def case_html(record: LevelRecord, plan: Plan) -> str:
    """One case's extra: why it was skipped or errored, or its figures, breaches with advice,
    cross-test facts and latency percentile spectrum."""
    head = (f'<h3>{escape(record.test_id)} {escape(record.level_id)}: {_verdict_span(record.status)}</h3>'
            f'<p>sent: {ran_text(record)} (requests × connections; plan: {num(record.plan_requests)} × '
            f'{num(record.plan_concurrent)}, scale {record.scale:g})</p>')
    if record.status not in MEASURED:
        why = escape(record.message or "no reason recorded")
        return f'<div class="trinity trinity-case">{head}<p><b>Why:</b> {why}</p></div>'
    verdict = record.verdict
    unmeasured = verdict.get("unmeasured", [])
    spectrum = plots.spectrum_plot(f"{record.test_id} {record.level_id}: latency spectrum", [spectrum_of(record)],
                                   plan.criteria.p99_ms if plan.criteria.p99_applies(record.level) else None)
    return (f'<div class="trinity trinity-case">{head}'
            f'<div class="plots"><div>{_figures_table(record)}</div>'
            f'<div>{_img(spectrum, f"{record.test_id} {record.level_id} latency percentile spectrum")}</div></div>'
            f'<h3>Breaches and advice</h3>{_breaches_html(verdict.get("breaches", []))}'
            + (f'<p class="note">Not measured on this target: {escape(", ".join(unmeasured))}</p>' if unmeasured else "")
            + _facts_html(record) + "</div>")


# -- one plan test ----------------------------------------------------------------------------
LEVEL_HEADERS = ("level", "plan req × conc", "ran req × conc", "status", "sent", "ok", "success %", "5xx",
                 "silent", "p50 ms", "p99 ms", "cache-hit p50 ms", "ok req/s", "breaches")


def _level_row(record: LevelRecord, outcome: PlanTestOutcome) -> tuple[list[str], str]:
    marks = []
    if outcome.ceiling is record:
        marks.append("ceiling")
    if outcome.breaking is record:
        marks.append("breaking point")
    level = escape(record.level_id) + "".join(f"<br><b>{m}</b>" for m in marks)
    plan_load = f"{num(record.plan_requests)} × {num(record.plan_concurrent)}"
    ran = ran_text(record)
    if record.status not in MEASURED:
        reason = f'<td class="text" colspan="{len(LEVEL_HEADERS) - 4}">{escape(record.message)}</td>'
        return [level, plan_load, ran, _verdict_span(record.status), reason], ""
    f = record.figures
    breaches = record.verdict.get("breaches", [])
    fails = sum(1 for b in breaches if b.get("fails"))
    row = [level, plan_load, ran, _verdict_span(record.status), num(f.get("sent")), num(f.get("ok")),
           num(f.get("success_pct"), 2), num(f.get("errors_5xx")), num(f.get("silent_failures")),
           num(f.get("p50_ms"), 2), num(f.get("p99_ms"), 2), num(f.get("cache_hit_p50_ms"), 2), num(record.ok_rps),
           f"{fails} fail, {len(breaches) - fails} reported"]
    return row, ("breaking" if outcome.breaking is record else "ceiling" if outcome.ceiling is record else "")


def level_table_html(outcome: PlanTestOutcome) -> str:
    rows, classes = zip(*(_level_row(r, outcome) for r in outcome.records)) if outcome.records else ((), ())
    return _table(LEVEL_HEADERS, rows, classes)


def _points(records: Sequence[LevelRecord], key: str) -> list[plots.LevelPoint]:
    out = []
    for r in records:
        value = r.ok_rps if key == "ok_rps" else r.figures.get(key)
        out.append(plots.LevelPoint(r.level, _level_label(r), float(value) if value is not None else None))
    return out


def plots_of(outcome: PlanTestOutcome, plan: Plan) -> list[tuple[str, str]]:
    """(alt text, data URI) of the test's four plots: req/s, p50/p99, success %, spectra."""
    measured = outcome.measured
    tid = outcome.test.id
    criteria = plan.criteria
    breaking = None
    if outcome.breaking is not None:
        breaking = plots.LevelPoint(outcome.breaking.level, outcome.breaking.level_id, success_pct(outcome.breaking))
    return [
        (f"{tid} requests per second against level",
         plots.rps_plot(f"{tid}: requests per second", _points(measured, "ok_rps"), _points(measured, "rps"))),
        (f"{tid} p50 and p99 against level",
         plots.latency_plot(f"{tid}: latency", _points(measured, "p50_ms"), _points(measured, "p99_ms"),
                            _points(measured, "cache_hit_p50_ms"), criteria.cache_hit_p50_ms, criteria.p99_ms,
                            criteria.p99_levels)),
        (f"{tid} success % against level",
         plots.success_plot(f"{tid}: success", _points(measured, "success_pct"), criteria.min_success_pct, breaking)),
        (f"{tid} latency percentile spectrum per level",
         plots.spectrum_plot(f"{tid}: latency spectrum per level", [spectrum_of(r) for r in measured])),
    ]


def _red_flags_html(outcome: PlanTestOutcome) -> str:
    """Every breach of the test's levels, once per check, with the levels it hit and its advice."""
    seen: dict[tuple[str, bool], list[tuple[LevelRecord, dict[str, Any]]]] = {}
    for r in outcome.measured:
        for b in r.verdict.get("breaches", []):
            seen.setdefault((b.get("check", ""), bool(b.get("fails"))), []).append((r, b))
    if not seen:
        return "<p>No breach of the plan at any level.</p>"
    rows = []
    for (check, fails), hits in seen.items():
        levels = ", ".join(r.level_id for r, _ in hits)
        worst = hits[-1][1]
        measured = (f'{worst.get("metric", check)} {num(worst.get("measured"), 2)} {worst.get("op", "")} '
                    f'{num(worst.get("limit"), 2)} {worst.get("unit", "")}')
        rows.append(["fails" if fails else "reported", _text(check), _text(levels), _text(measured.strip()),
                     _text(worst.get("advice", ""))])
    return _table(["", "check", "levels", "last measured", "advice"], rows)


def _baselines_html(outcome: PlanTestOutcome, plan: Plan, scale: float) -> str:
    baselines = plan.baselines_for(outcome.test.id)
    if not baselines:
        return ""
    ceiling = outcome.ceiling.ok_rps if outcome.ceiling is not None else None
    rows = []
    for b in baselines:
        ratio = ceiling / b.rps if ceiling is not None and b.rps else None
        rows.append([_text(b.label), escape(b.kind), num(b.rps), num(ceiling), num(ratio, 3)])
    note = "" if scale == 1 else (f'<p class="note">This run is at scale {scale:g}: the baselines are full-scale results, '
                                  "so the ratio is not a like-for-like comparison.</p>")
    return ("<h3>Comparison with the baseline</h3>"
            + _table(["baseline", "kind", "baseline req/s", "our ceiling req/s", "ratio"], rows) + note)


def _comparison_rows(outcome: PlanTestOutcome) -> list[list[str]]:
    rows = []
    for r in outcome.measured:
        c = r.facts.get("compared_with")
        if c:
            rows.append([escape(r.level_id), num(c["our_ok_rps"]), num(c["their_ok_rps"]), num(c["gap_pct"]),
                         num(c["cost_us_per_request"])])
    return rows


def _comparison_html(outcome: PlanTestOutcome) -> str:
    other = outcome.test.compare_with
    if not other:
        return ""
    rows = _comparison_rows(outcome)
    if not rows:
        return f"<h3>Comparison with {escape(other)}</h3><p>{escape(other)} did not run the same levels in this session.</p>"
    tid = escape(outcome.test.id)
    return (f"<h3>Comparison with {escape(other)}</h3>"
            + _table(["level", f"{tid} ok req/s", f"{escape(other)} ok req/s", "gap %", "cost µs/request"], rows))


def _signed(value: Any) -> str:
    return "—" if value is None else f"{value:+,.1f}"


def _run_comparison_html(outcome: PlanTestOutcome) -> str:
    """Level by level against the earlier run given with --trinity-compare (facts["compare"])."""
    compared = [r for r in outcome.measured if r.facts.get("compare")]
    if not compared:
        return ""
    run_ids = sorted({str(r.facts["compare"].get("run_id", "")) for r in compared})
    names = [n for n, c in compared[0].facts["compare"].items() if isinstance(c, dict)]
    rows = []
    for r in compared:
        c = r.facts["compare"]
        rows.append([escape(r.level_id)] + [f"{num(c.get(n, {}).get('before'), 2)} → {num(c.get(n, {}).get('after'), 2)} "
                                            f"({_signed(c.get(n, {}).get('change_pct'))} %)" for n in names])
    return (f"<h3>Comparison with the baseline run {escape(', '.join(run_ids))}</h3>"
            + _table(["level"] + [escape(n) for n in names], rows))


def _streams_html(outcome: PlanTestOutcome) -> str:
    names = sorted({name for r in outcome.measured for name in r.facts.get("streams", {})})
    if not names:
        return ""
    rows = [[escape(r.level_id)] + [num(r.facts.get("streams", {}).get(n, {}).get("ok_rps")) for n in names]
            for r in outcome.measured]
    return "<h3>Streams</h3>" + _table(["level"] + [f"{escape(n)} ok req/s" for n in names], rows)


def _headline(outcome: PlanTestOutcome) -> str:
    ceiling = (f"{num(outcome.ceiling.ok_rps)} successful req/s at {escape(outcome.ceiling.level_id)} "
               f"({num(outcome.ceiling.concurrent)} connections)") if outcome.ceiling is not None else "—"
    return (f"<p>Verdict: {_verdict_span(outcome.verdict)} · ceiling: {ceiling} · breaking point: "
            f"{_breaking_text(outcome)}</p>")


def _breaking_text(outcome: PlanTestOutcome) -> str:
    if outcome.breaking is not None:
        return f"{escape(outcome.breaking.level_id)} ({num(success_pct(outcome.breaking), 2)} % success)"
    if outcome.measured:
        return f"none through {escape(outcome.measured[-1].level_id)}"
    return "—"


def section_html(outcome: PlanTestOutcome, plan: Plan, scale: float) -> str:
    """One plan test: headline, its level table, its four plots, red flags with advice, and
    the comparisons (baselines, the other test, streams)."""
    t = outcome.test
    plots_html = "".join(_img(uri, alt) for alt, uri in plots_of(outcome, plan)) if outcome.measured else \
        "<p>No level was measured, so there is nothing to plot.</p>"
    return (f'<div class="trinity trinity-test" id="trinity-test-{escape(t.id)}">'
            f"<h2>{escape(t.id)}: {escape(t.title)}</h2>"
            f"<p>{escape(t.protocol.upper())}, {escape(t.access_path)}, {escape(t.topology)}, profile {escape(t.profile)}, "
            f"governor {'on' if t.governor else 'off'}</p>"
            f"{_headline(outcome)}{level_table_html(outcome)}"
            f'<div class="plots">{plots_html}</div>'
            f"<h3>Red flags and advice</h3>{_red_flags_html(outcome)}"
            f"{_baselines_html(outcome, plan, scale)}{_run_comparison_html(outcome)}{_comparison_html(outcome)}"
            f"{_streams_html(outcome)}</div>")


def sections_html(plan: Plan, records: Sequence[LevelRecord], scale: float) -> list[str]:
    """A section for every plan test that has a record in this session."""
    return [section_html(o, plan, scale) for o in outcomes(plan, records) if o.records]


# -- the whole plan ---------------------------------------------------------------------------
def _cross_test_facts(results: Sequence[PlanTestOutcome], plan: Plan, scale: float) -> list[str]:
    by_id = {o.test.id: o for o in results}
    facts = []
    for o in results:
        other_id = o.test.compare_with
        if not other_id:
            continue
        other = by_id.get(other_id)
        label = f"{escape(o.test.id)} vs {escape(other_id)}"
        if not o.measured or other is None or not other.measured:
            facts.append(f"<li>{label}: not measured (both must run in the same session).</li>")
            continue
        rows = _comparison_rows(o)
        ceilings = ""
        if o.ceiling is not None and other.ceiling is not None and other.ceiling.ok_rps:
            gap = 100.0 * (o.ceiling.ok_rps - other.ceiling.ok_rps) / other.ceiling.ok_rps
            ceilings = (f"ceilings {num(o.ceiling.ok_rps)} vs {num(other.ceiling.ok_rps)} successful req/s "
                        f"(gap {num(gap)} %)")
        per_level = ("; per level: " + ", ".join(f"{row[0]} gap {row[3]} % ({row[4]} µs/request)" for row in rows)
                     if rows else "; no level in common")
        facts.append(f"<li>{label}: {ceilings}{per_level}.</li>")
    for b in plan.baselines:
        o = by_id.get(b.test)
        if o is None:
            continue
        if o.ceiling is None:
            facts.append(f"<li>{escape(b.test)} vs {escape(b.label)}: {escape(b.test)} not measured.</li>")
            continue
        ratio = o.ceiling.ok_rps / b.rps if b.rps else None
        facts.append(f"<li>{escape(b.test)} vs {escape(b.label)}: ceiling {num(o.ceiling.ok_rps)} vs "
                     f"{num(b.rps)} req/s, ratio {num(ratio, 3)}"
                     + (f" (at scale {scale:g}: not like for like)" if scale != 1 else "") + ".</li>")
    for o in results:
        if o.test.endurance is not None and o.measured:
            e = o.measured[0].facts.get("endurance", {})
            if e:
                facts.append(f"<li>{escape(o.test.id)} held {num(e.get('rate'))} req/s "
                             f"({o.test.endurance.load_fraction:.0%} of the {escape(o.test.endurance.ceiling_from)} "
                             f"ceiling {num(e.get('ceiling_rps'))} req/s, {escape(str(e.get('ceiling_source', '')))}).</li>")
    return facts


def plan_summary_html(plan: Plan, records: Sequence[LevelRecord], scale: float, target_name: str) -> str:
    """Every test of the plan with its ceiling, breaking point and verdict, and the cross-test facts."""
    results = outcomes(plan, records)
    rows = []
    for o in results:
        ceiling = (f"{num(o.ceiling.ok_rps)} at {escape(o.ceiling.level_id)}" if o.ceiling is not None else "—")
        not_run = len(o.records) - len(o.measured)
        ran = f"{len(o.measured)} run" + (f", {not_run} skipped or errored" if not_run else "")
        rows.append([f'<a href="#trinity-test-{escape(o.test.id)}">{escape(o.test.id)}</a>' if o.records else escape(o.test.id),
                     _text(o.test.title), escape(f"{o.test.protocol.upper()} {o.test.access_path}"), ran, ceiling,
                     _breaking_text(o), _verdict_span(o.verdict)])
    facts = _cross_test_facts(results, plan, scale)
    c = plan.criteria
    rules = (f"Breaking point: the first level below {c.min_success_pct:g} % success. Ceiling: the best successful "
             f"req/s. A test passes when every level it ran passed (through L{c.full_success_through_level:02d}: "
             f"{c.min_success_pct:g} % success, cache-hit p50 under {c.cache_hit_p50_ms:g} ms; "
             f"L{c.p99_levels[0]:02d}–L{c.p99_levels[1]:02d}: p99 under {c.p99_ms:g} ms).")
    return (f'{STYLE}<div class="trinity trinity-summary" id="trinity-summary">'
            f"<h2>{escape(plan.name)} v{escape(plan.version)}: plan summary</h2>"
            f"<p>Target {escape(target_name)}, scale {scale:g}, {len(records)} level record(s).</p>"
            + _table(["test", "title", "path", f"levels (of {len(plan.levels)})", "ceiling (successful req/s)", "breaking point", "verdict"], rows)
            + f'<p class="note">{escape(rules)}</p>'
            + "<h3>Cross-test facts</h3>" + (f"<ul>{''.join(facts)}</ul>" if facts else "<p>None in this session.</p>")
            + "</div>")
