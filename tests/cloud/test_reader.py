"""The CloudWatch reader and the cloud judge against moto's server mode: known datapoints in,
the plan's figures out (ratios, sums across services, zero-when-absent counts), late data
waited for within the bound, a period that never arrives is a failing breach, and a value over
the plan's threshold raises its red flag with the plan's advice."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from pytest_trinity.cloud.reader import whole_periods
from pytest_trinity.cloud.watch import CloudWatcher
from pytest_trinity.model.cloud import JUDGED_WINDOW, MEASURED, MISSING, NOT_CONFIGURED, NOT_PUBLISHED
from pytest_trinity.plan import CloudTiming, load_plan
from pytest_trinity.verdict.cloud import judge_window

PLAN = load_plan(Path(__file__).resolve().parents[2] / "profiles.toml")
PERIOD = 10


def _put(cw, namespace: str, name: str, dims: dict[str, str], points: list[tuple[float, float]]) -> None:
    cw.put_metric_data(Namespace=namespace, MetricData=[
        {"MetricName": name, "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
         "Timestamp": datetime.fromtimestamp(t, UTC), "Value": v} for t, v in points])


@pytest.fixture
def window() -> tuple[float, float]:
    """Three whole 10 s periods that ended a minute ago."""
    start = math.floor(time.time() / PERIOD) * PERIOD - 60
    return float(start), float(start + 3 * PERIOD)


def _fill(world, start: float, cpu: dict[str, float], skip_mirror_period: bool = False) -> None:
    cw = world.client("cloudwatch")
    ts = [start + i * PERIOD + 1 for i in range(3)]
    for role, service in world.services:
        dims = {"ClusterName": world.ecs_cluster, "ServiceName": service}
        points = [t for i, t in enumerate(ts) if not (skip_mirror_period and role == "mirror" and i == 1)]
        _put(cw, "ECS/ContainerInsights", "CpuUtilized", dims, [(t, cpu[role] * 10.24) for t in points])
        _put(cw, "ECS/ContainerInsights", "CpuReserved", dims, [(t, 1024.0) for t in points])
        _put(cw, "ECS/ContainerInsights", "MemoryUtilized", dims, [(t, 512.0 + 10 * i) for i, t in enumerate(points)])
        _put(cw, "ECS/ContainerInsights", "MemoryReserved", dims, [(t, 2048.0) for t in points])
        _put(cw, "ECS/ContainerInsights", "NetworkRxBytes", dims, [(t, 1000.0) for t in points])
        _put(cw, "ECS/ContainerInsights", "NetworkTxBytes", dims, [(t, 4000.0) for t in points])
    alb = {"LoadBalancer": world.alb}
    _put(cw, "AWS/ApplicationELB", "TargetResponseTime", alb, [(t, 0.004) for t in ts])
    _put(cw, "AWS/ApplicationELB", "ActiveConnectionCount", alb, [(t, 30.0) for t in ts])
    _put(cw, "AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", alb, [(ts[2], 7.0)])  # only the period that had some
    _put(cw, "AWS/ApplicationELB", "UnHealthyHostCount", {"TargetGroup": world.alb_target_group, "LoadBalancer": world.alb},
         [(t, 0.0) for t in ts])


def _watcher(world, **timing: float) -> CloudWatcher:
    aws = world.aws_ids(period_s=PERIOD, db_resource_id=None)
    return CloudWatcher(aws, CloudTiming(**{"late_data_s": 0.0, "poll_s": 0.1, **timing}), cloudwatch=world.client("cloudwatch"))


def test_whole_periods_are_aligned_and_inside_the_window():
    assert whole_periods(100.5, 131.0, 10) == (110.0, 120.0)
    assert whole_periods(100.0, 109.9, 10) == ()
    assert whole_periods(0.0, 60.0, 60) == (0.0,)


def test_the_figures_combine_services_ratios_and_counts(world, window):
    start, end = window
    _fill(world, start, {"main": 40.0, "mirror": 95.0, "lrs": 10.0})
    cloud = _watcher(world).figures(PLAN.tests["2a"], start, end, JUDGED_WINDOW)
    assert cloud is not None and cloud.start == start and cloud.end == end
    got = {(m.source, m.metric): m for m in cloud.metrics}
    assert got[("container-insights", "cpu_pct")].value == pytest.approx(95.0)  # the busiest service
    assert [v for _, v in got[("container-insights", "cpu_pct")].periods] == pytest.approx([95.0] * 3)
    assert got[("container-insights", "network_rx_tx_ratio")].value == pytest.approx(0.25)
    assert got[("container-insights", "memory_pct_growth")].value == pytest.approx(100 * 20 / 2048)
    assert got[("load-balancer", "target_response_p99_ms")].status == MEASURED
    assert got[("load-balancer", "errors_5xx")].value == 7.0  # two periods without a datapoint read 0
    assert got[("elasticache", "engine_cpu_pct")].status == MISSING  # nothing was published for it
    verdict = judge_window(PLAN, PLAN.tests["2a"], cloud, {})
    checks = {b.check: b for b in verdict.breaches}
    assert checks["container_cpu"].advice == "the container is CPU-bound: this is the ceiling for this profile"
    assert checks["any_5xx"].measured == 7.0
    assert "cloud:missing:elasticache_engine_cpu" in checks and not verdict.passed
    assert "lb_p99" not in checks and "unhealthy_hosts" not in checks


def test_a_period_that_never_arrives_is_missing_never_passed(world, window):
    start, end = window
    _fill(world, start, {"main": 10.0, "mirror": 10.0, "lrs": 10.0}, skip_mirror_period=True)
    began = time.monotonic()
    cloud = _watcher(world, late_data_s=1.5).figures(PLAN.tests["2a"], start, end, JUDGED_WINDOW)
    assert time.monotonic() - began >= 1.5  # it waited for the late period, within its bound
    assert cloud is not None and cloud.waited_s >= 1.5
    cpu = next(m for m in cloud.metrics if m.metric == "cpu_pct")
    assert cpu.status == MISSING and cpu.detail == "2 of 3 periods arrived" and cpu.value is None
    verdict = judge_window(PLAN, PLAN.tests["2a"], cloud, {})
    missing = next(b for b in verdict.breaches if b.check == "cloud:missing:container_cpu")
    assert missing.fails and (missing.measured, missing.limit) == (2, 3)


def test_the_nlb_publishes_no_5xx_and_an_unreachable_endpoint_is_missing(world, window, moto):
    start, end = window
    cloud = _watcher(world).figures(PLAN.tests["2b"], start, end, JUDGED_WINDOW)
    assert cloud is not None
    status = {(m.query_set, m.metric): m.status for m in cloud.metrics}
    assert status[("load-balancer:nlb", "errors_5xx")] == NOT_PUBLISHED
    assert status[("load-balancer:nlb", "target_response_p99_ms")] == NOT_PUBLISHED
    dead = world.aws_ids(period_s=PERIOD, endpoint_url="http://127.0.0.1:9", db_resource_id=None)
    from pytest_trinity.cloud.clients import client

    gone = CloudWatcher(dead, CloudTiming(0.0, 0.1), cloudwatch=client(dead, "cloudwatch")).figures(PLAN.tests["2a"], start, end, JUDGED_WINDOW)
    assert gone is not None
    cpu = next(m for m in gone.metrics if m.metric == "cpu_pct")
    assert cpu.status == MISSING and "127.0.0.1:9" in cpu.detail


def test_a_figure_from_an_unconfigured_source_is_listed_not_missing(world, window):
    """No cache cluster in the targets file: ElastiCache's figures, derived ones included, are
    "not configured" (listed, never failing, never waited for); a ratio over nothing is undefined."""
    start, end = window
    _fill(world, start, {"main": 10.0, "mirror": 10.0, "lrs": 10.0})
    aws = world.aws_ids(period_s=PERIOD, db_resource_id=None, cache_cluster=None)
    watcher = CloudWatcher(aws, CloudTiming(late_data_s=0.5, poll_s=0.1), cloudwatch=world.client("cloudwatch"))
    cloud = watcher.figures(PLAN.tests["2a"], start, end, JUDGED_WINDOW)
    status = {m.metric: m.status for m in cloud.metrics if m.source == "elasticache"}
    assert set(status.values()) == {NOT_CONFIGURED}, status
    assert "cache_miss_pct" in status
    verdict = judge_window(PLAN, PLAN.tests["2a"], cloud, {})
    assert not any(b.check.startswith("cloud:missing:elasticache") or b.check.startswith("cloud:missing:cache") for b in verdict.breaches)
    assert "cache_misses_spiking" in {u.split(" ", 1)[0] for u in verdict.unmeasured}
    # Aurora is configured but nothing was published for it: missing, and that fails.
    assert any(b.check == "cloud:missing:aurora_acu" and b.fails for b in verdict.breaches)
