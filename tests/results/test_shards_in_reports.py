"""Which worker ran each shard, the start skew and the capacity check, as the HTML report and
the JUnit properties show them: records built from real two-shard loads against a loopback
test server (one run whole, one with a worker that failed), no cluster needed."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from typing import Any

import junitparser
import pytest

from pytest_trinity.drivers import ClosedModel, HttpRequest, LoadSpec, Target, WorkerError, run_load
from pytest_trinity.model import LevelFigures, LevelRecord, LoadSummary
from pytest_trinity.model.numbers import num
from pytest_trinity.plan import Plan, load_plan, scale_level
from pytest_trinity.results.html import case_html, load_client_of
from pytest_trinity.runner import capacity
from tests.conftest import INI, REPO
from tests.drivers.conftest import server_process

REQUESTS = 400
FAILED_SHARD = 1
DEATH = "the worker of this shard died after its load"


def spec_for(port: int) -> LoadSpec:
    return LoadSpec(Target("127.0.0.1", port), (HttpRequest("a", "/a"),), ClosedModel(REQUESTS, 4), max_requests=REQUESTS,
                    max_seconds=30, timeout=10, processes=2)


class OneShardDies(Executor):
    """A thread pool in which shard `FAILED_SHARD` raises once its load has run: the runner
    sees a failed worker after the other shard's load, as with a Dask worker lost late."""

    def __init__(self) -> None:
        self.pool = ThreadPoolExecutor(max_workers=2)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if args[0].index != FAILED_SHARD:
            return self.pool.submit(fn, *args, **kwargs)

        def dies() -> None:
            fn(*args, **kwargs)
            raise RuntimeError(DEATH)

        return self.pool.submit(dies)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.pool.shutdown(wait=wait, cancel_futures=cancel_futures)


@pytest.fixture(scope="module")
def plan() -> Plan:
    return load_plan(REPO / "profiles.toml")


@pytest.fixture(scope="module")
def loads() -> Iterator[tuple[LoadSummary, LoadSummary]]:
    """(a whole run on two local worker processes, the partial load of a run whose shard 1 failed)."""
    with server_process("http") as port:
        whole = LoadSummary.from_json(run_load(spec_for(port), processes=2).to_dict())
        pool = OneShardDies()
        try:
            with pytest.raises(WorkerError) as failed:
                run_load(spec_for(port), executor=pool, processes=2)
        finally:
            pool.shutdown()
    assert failed.value.partial is not None
    yield whole, LoadSummary.from_json(failed.value.partial.to_dict())


def measured(plan: Plan, load: LoadSummary, **extra: Any) -> LevelRecord:
    """A passed record of level 1 with the figures this load measured."""
    level = scale_level(plan.level(1), 0.01)
    out = load.outcomes
    figures = LevelFigures(1, REQUESTS, int(out["sent"]), int(out["ok"]), 0, int(out["failures"]),
                           load.latency.percentiles_us["p50"] / 1000.0, load.latency.percentiles_us["p99"] / 1000.0, None,
                           load.requests_per_second)
    return LevelRecord.of("2a", f"test_2a[{level.id}]", level, "passed", 1.0, 2.0, model=load.model, figures=figures, load=load,
                          client=capacity.check(("", False), load), **extra)


def worker_failed(plan: Plan, partial: LoadSummary) -> LevelRecord:
    """The record the level runner makes of a level whose worker failed: an error keeping the partial load."""
    level = scale_level(plan.level(1), 0.01)
    return LevelRecord.of("2a", f"test_2a[{level.id}]", level, "error", 1.0, 2.0,
                          message=f"2a {level.id} could not be measured: load worker {FAILED_SHARD} failed", load=partial)


def busy(load: LoadSummary) -> LoadSummary:
    """The load as if its client had used 95 % of its cores (the capacity check's warning case)."""
    return dataclasses.replace(load, cpu_seconds=0.95 * load.elapsed * load.shards)


def test_the_case_shows_every_shards_worker_the_skew_and_the_cpu_use(plan: Plan, loads: tuple[LoadSummary, LoadSummary]) -> None:
    whole, _ = loads
    assert whole.executor == "local" and len(whole.by_shard) == 2 and whole.start_skew_ms is not None
    html = case_html(measured(plan, whole), plan)
    workers = {s.worker for s in whole.by_shard}
    assert len(workers) == 2 and all(w.startswith("local pid ") for w in workers)
    for shard in whole.by_shard:
        assert f'<td class="text">{shard.worker}</td>' in html
    assert "<h3>Load client</h3>" in html and "executor local · 2 shards" in html
    assert f"start skew {whole.start_skew_ms:.1f} ms" in html
    client = load_client_of(measured(plan, whole))
    assert client is not None and client.cpu_use_pct is not None
    assert client.cpu_use_pct == pytest.approx(100.0 * whole.cpu_seconds / (whole.elapsed * 2), abs=0.01)  # the check rounds
    assert f"client CPU use {num(client.cpu_use_pct, 1)} %" in html
    # nothing failed: the shard table is collapsed, and no warning
    assert "<details>" in html and "<details open>" not in html and 'class="warning"' not in html
    p50 = {s.shard: s.latency.percentiles_us["p50"] / 1000.0 for s in whole.by_shard}
    rows = re.findall(r"<tr><td>(\d)</td><td class=\"text\">[^<]*</td><td class=\"text\">a</td><td>(\d+)</td><td>0</td>"
                      r"<td>([\d.]+)</td>", html)
    assert sorted((int(i), int(n)) for i, n, _ in rows) == sorted((s.shard, s.requests) for s in whole.by_shard)
    assert {int(i): float(ms) for i, _, ms in rows} == pytest.approx(p50, abs=0.006)


def test_a_single_shard_has_no_skew(plan: Plan, loads: tuple[LoadSummary, LoadSummary]) -> None:
    whole, _ = loads
    one = dataclasses.replace(whole, by_shard=whole.by_shard[:1], shards=1, start_skew_ms=None)
    html = case_html(measured(plan, one), plan)
    assert "executor local · 1 shard · start skew — ms" in html


def test_a_client_warning_is_shown_prominently(plan: Plan, loads: tuple[LoadSummary, LoadSummary]) -> None:
    record = measured(plan, busy(loads[0]))
    assert record.client is not None and record.client.warning
    html = case_html(record, plan)
    warning = re.search(r'<p class="warning"><b>Load client likely the bottleneck:</b> ([^<]*)</p>', html)
    assert warning is not None and warning.group(1) == record.client.warning
    assert html.index('class="warning"') < html.index("<h3>Breaches and advice</h3>")  # above the figures' details
    assert 'class="warning"' not in case_html(measured(plan, loads[0]), plan)


def test_an_error_record_with_a_partial_load_shows_the_failed_shard_open(plan: Plan, loads: tuple[LoadSummary, LoadSummary]) -> None:
    _, partial = loads
    failed = [s for s in partial.by_shard if s.error]
    assert [s.shard for s in failed] == [FAILED_SHARD] and DEATH in failed[0].error
    record = worker_failed(plan, partial)
    assert not record.measured
    html = case_html(record, plan)
    assert "could not be measured" in html and "data:image/png" not in html
    assert "<details open>" in html and "(a shard failed)" in html
    assert f'<tr class="breaking"><td>{FAILED_SHARD}</td>' in html and DEATH in html
    assert "executor local · 2 shards" in html
    # the failed shard has no latencies; the other one has its own
    row = re.search(rf'<tr class="breaking"><td>{FAILED_SHARD}</td>(.*?)</tr>', html)
    assert row is not None and "<td>—</td><td>—</td>" in row.group(1) and "failed" in row.group(1)


def test_a_skipped_record_has_no_load_client(plan: Plan) -> None:
    level = scale_level(plan.level(1), 0.01)
    record = LevelRecord.of("2a", "case", level, "skipped", 1.0, 1.0, message="skipped by --trinity-stop-after")
    assert load_client_of(record) is None and "Load client" not in case_html(record, plan)


def junit_xml(pytester: pytest.Pytester, records: dict[str, LevelRecord]) -> dict[str, dict[str, str]]:
    """Each record's properties as pytest's junitxml writes them: a case per record sets them
    as the plugin does (`item.user_properties`). Returns {case name: {property: value}}."""
    pytester.makeini(INI)
    for name, record in records.items():
        pytester.path.joinpath(f"{name}.json").write_text(json.dumps(record.to_json()), encoding="utf-8")
    pytester.makepyfile(test_cases=f"""
        import json, pathlib
        import pytest
        from pytest_trinity.model import LevelRecord
        from pytest_trinity.results.junit import junit_properties

        @pytest.mark.parametrize("name", {sorted(records)!r})
        def test_case(request, name):
            record = LevelRecord.from_json(json.loads(pathlib.Path(name + ".json").read_text(encoding="utf-8")))
            request.node.user_properties.extend(junit_properties(record))
        """)
    pytester.runpytest("--junitxml", "junit.xml", "-o", "junit_family=xunit1").assert_outcomes(passed=len(records))
    cases = [case for suite in junitparser.JUnitXml.fromfile(str(pytester.path / "junit.xml")) for case in suite]
    return {re.sub(r".*\[(.*)\]", r"\1", case.name): {p.name: p.value for p in case.child(junitparser.Properties)} for case in cases}


def test_junit_has_the_executor_the_skew_and_the_client_warning(pytester: pytest.Pytester, plan: Plan,
                                                                loads: tuple[LoadSummary, LoadSummary]) -> None:
    whole, partial = loads
    busy_record = measured(plan, busy(whole))
    level = scale_level(plan.level(1), 0.01)
    skipped = LevelRecord.of("2a", "case", level, "skipped", 1.0, 1.0, message="skipped")
    props = junit_xml(pytester, {"whole": measured(plan, whole), "busy": busy_record, "failed": worker_failed(plan, partial),
                                 "skipped": skipped})
    assert whole.start_skew_ms is not None and busy_record.client is not None
    assert props["whole"]["executor"] == "local"
    assert float(props["whole"]["start_skew_ms"]) == pytest.approx(round(whole.start_skew_ms, 3))
    assert "client_warning" not in props["whole"]
    assert props["busy"]["client_warning"] == busy_record.client.warning and "likely the bottleneck" in props["busy"]["client_warning"]
    assert props["failed"]["executor"] == "local" and props["failed"]["verdict"] == "error"
    assert not {"executor", "start_skew_ms", "client_warning"} & set(props["skipped"])
    # the new properties come last, in the documented order
    assert list(props["busy"])[-3:] == ["executor", "start_skew_ms", "client_warning"]
