"""The capacity check on a real load's summary: the previous level's client CPU predicts the
next; the level's own CPU use warns when the client was the bottleneck."""

from __future__ import annotations

import dataclasses

import pytest

from pytest_trinity.drivers import ClosedModel, HttpRequest, LoadSpec, OpenModel, Target, run_load_inline
from pytest_trinity.model import LevelRecord, LoadSummary
from pytest_trinity.plan import load_plan, scale_level
from pytest_trinity.runner import capacity
from tests.conftest import REPO
from tests.drivers.conftest import server_process


@pytest.fixture(scope="module")
def measured() -> tuple[LoadSpec, LoadSummary]:
    with server_process("http") as port:
        spec = LoadSpec(Target("127.0.0.1", port), (HttpRequest("a", "/a"),), ClosedModel(500, 4), max_requests=500,
                        max_seconds=30, timeout=5)
        result = run_load_inline(spec, handle_sigint=False)
    assert result.outcomes.ok == 500
    return spec, LoadSummary.from_json(result.to_dict())


def _record(load: LoadSummary) -> LevelRecord:
    level = scale_level(load_plan(REPO / "profiles.toml").levels[0], 0.01)
    return LevelRecord.of("2a", "test_2a[L01]", level, "passed", 0.0, 1.0, load=load)


def test_a_busy_client_at_the_level_before_warns_only_until_the_level_is_measured(measured):
    spec, load = measured
    busy = dataclasses.replace(load, cpu_seconds=load.elapsed * load.shards * 0.9)
    text, likely = capacity.estimate(spec, _record(busy))
    assert likely and "the client used 90% of its 1 core" in text and text.endswith("likely the bottleneck")
    idle = dataclasses.replace(load, cpu_seconds=load.elapsed * load.shards * 0.3)
    assert capacity.check((text, likely), idle).warning == ""  # measured: the client kept up
    assert "before the level" in capacity.check((text, likely), dataclasses.replace(idle, elapsed=0.0)).warning


def test_the_level_s_own_cpu_use_warns_when_the_client_was_the_bottleneck(measured):
    _, load = measured
    hot = capacity.check(("", False), dataclasses.replace(load, cpu_seconds=load.elapsed * load.shards * 0.95))
    assert hot.cpu_use == pytest.approx(0.95) and "likely the bottleneck, not the service" in hot.warning
    assert hot.executor == "local" and hot.cores == load.shards == 1
    real = capacity.check(("", False), load)  # what the tiny load really cost
    assert real.cpu_use is not None and 0 < real.cpu_use <= 1.5


def test_an_open_model_level_needs_rate_times_cpu_per_request(measured):
    spec, load = measured
    per_request = load.cpu_seconds / int(load.outcomes["completed"])
    fast = spec.with_(model=OpenModel(rate=0.5 / per_request, duration=1, connections=4, late_send_us=1000))
    text, likely = capacity.estimate(fast, _record(load))
    assert not likely and "need about 0.5 of the client's 1 core" in text
    slow = spec.with_(model=OpenModel(rate=2 / per_request, duration=1, connections=4, late_send_us=1000))
    assert capacity.estimate(slow, _record(load))[1]


def test_no_previous_level_no_estimate(measured):
    spec, _ = measured
    assert capacity.estimate(spec, None) == ("", False)
