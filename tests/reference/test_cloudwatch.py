"""The reference cluster publishes what AWS would publish for it into moto's CloudWatch, and the
plan's CloudWatch queries (targets/aws.py CLOUD_QUERIES) read it back; the faults move it.

Real parts only: moto's server (with percentiles, services/moto_server.py), PostgreSQL for
usage_logs and the Aurora metrics, Redis, nginx and the three nodes.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import httpx
import pytest
import redis

from pytest_trinity.reference import ClusterInfo, TelemetryTimings, run_cluster
from pytest_trinity.reference.cloudwatch import CPU_RESERVED, HEALTH_THRESHOLD, CloudSources, NodeSource, parse_alb_line, publish_cloudwatch
from pytest_trinity.services.moto import run_moto
from pytest_trinity.services.postgres import run_postgres
from pytest_trinity.targets.aws import CLOUD_QUERIES, PLACEHOLDER, AwsIds, CloudQuery
from tests.reference.conftest import Admin, udp_call, wait_until

SERVICES = (("main", "beast-main"), ("mirror", "beast-mirror"), ("lrs", "beast-lrs"))
IDS = dict(ecs_cluster="beast", services=SERVICES, alb="app/beast-alb/50dc6c495c0c9188", alb_target_group="targetgroup/beast-api/73e2d6bc24d8a067",
           nlb="net/beast-nlb/9d0c9c0f1b6a2e11", nlb_target_group="targetgroup/beast-udp/2453ed029918f21f", cache_cluster="beast-redis-001",
           db_cluster="beast-aurora", db_instance="beast-aurora-1", period_s=1)
WAIT_S = 30.0


@pytest.fixture(scope="module")
def aws_env() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as mp:
        for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"), ("AWS_DEFAULT_REGION", "us-east-2")):
            mp.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            mp.delenv(name, raising=False)
        yield


@pytest.fixture(scope="module")
def moto(aws_env: None) -> Iterator[str]:
    with run_moto() as server:
        yield server.endpoint_url


@pytest.fixture(scope="module")
def aws(moto: str) -> AwsIds:
    return AwsIds(region="us-east-2", endpoint_url=moto, **IDS)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def cw(moto: str) -> Any:
    return boto3.client("cloudwatch", endpoint_url=moto, region_name="us-east-2")


@pytest.fixture(scope="module")
def cluster(aws: AwsIds) -> Iterator[ClusterInfo]:
    with run_postgres() as pg, run_cluster(aws=aws, dsn=pg.dsn, faults=True, telemetry=TelemetryTimings(publish_s=0.5)) as info:
        yield info


@pytest.fixture
def admin(cluster: ClusterInfo) -> Iterator[Admin]:
    a = Admin(cluster)
    try:
        yield a
    finally:
        a.faults("all", clear=True).raise_for_status()
        wait_until(lambda: all(not any(a.node_stats(n)["config"]["faults"].values()) for n in cluster.nodes), "faults cleared")
        a.close()


# ---- reading back, as the plan's queries do --------------------------------------------------
def _dims(q: CloudQuery, aws: AwsIds, service: str | None) -> list[dict[str, str]]:
    ids = {**aws.ids(), **({"service": service} if service else {})}
    return [{"Name": k, "Value": PLACEHOLDER.sub(lambda m: ids[m.group(1)], v)} for k, v in q.dimensions]


def series(cw: Any, namespace: str, metric: str, dims: list[dict[str, str]], stat: str, since: datetime) -> dict[datetime, float]:
    """Per-second values of one metric since `since` (GetMetricData, 1 s periods)."""
    end = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=2)
    out = cw.get_metric_data(StartTime=since.replace(microsecond=0), EndTime=end, MetricDataQueries=[
        {"Id": "m", "MetricStat": {"Metric": {"Namespace": namespace, "MetricName": metric, "Dimensions": dims}, "Period": 1, "Stat": stat}}])
    result = out["MetricDataResults"][0]
    return dict(zip(result["Timestamps"], result["Values"], strict=True))


def query_values(cw: Any, q: CloudQuery, aws: AwsIds, since: datetime) -> dict[str, list[float]]:
    """A plan query's per-period values (scale * sum(metrics) [/ per]) for each service (or "-")."""
    services = [s for _, s in aws.services] if "service" in q.ids_needed() else [None]
    out: dict[str, list[float]] = {}
    for service in services:
        dims = _dims(q, aws, service)
        parts = [series(cw, q.namespace, m, dims, q.stat, since) for m in q.metrics]
        stamps = sorted(set().union(*parts))
        per = series(cw, q.namespace, q.per, dims, q.stat, since) if q.per else None
        values = []
        for t in stamps:
            total = sum(p.get(t, 0.0) for p in parts)
            if per is not None:
                if not per.get(t):
                    continue
                total /= per[t]
            values.append(q.scale * total)
        out[service or "-"] = values
    return out


def _query(name: str) -> tuple[str, str]:
    qset, _, metric = name.rpartition(".")
    return qset, metric


def wait_for(cw: Any, aws: AwsIds, name: str, since: datetime, check: Any, what: str, timeout: float = WAIT_S) -> dict[str, list[float]]:
    qset, metric = _query(name)
    q = CLOUD_QUERIES[qset][metric]
    return wait_until(lambda: (v := query_values(cw, q, aws, since)) and check(v) and v, what, timeout=timeout, interval=0.5)  # type: ignore[no-any-return]


def _now() -> datetime:
    return datetime.now(UTC)


# ---- traffic --------------------------------------------------------------------------------
def _http(cluster: ClusterInfo, n: int, path: str = "/price", **params: str) -> list[int]:
    with httpx.Client(timeout=30, verify=cluster.ssl_context(), headers={"X-API-Key": cluster.partner_key.value}) as c:
        return [c.get(cluster.balanced.api_url + path, params=params or {"symbol": "BTC-USD"}).status_code for _ in range(n)]


def _udp(cluster: ClusterInfo, n: int) -> None:
    udp_call(cluster.balanced.udp, [{"id": i, "key": cluster.partner_key.value, "symbol": "ETH-USD"} for i in range(n)])


# ---- tests ------------------------------------------------------------------------------------
def test_publishing_refuses_anything_but_a_loopback_endpoint(tmp_path: Path) -> None:
    sources = CloudSources(nodes=(NodeSource("main", 1, "127.0.0.1", 1),), redis_url="redis://127.0.0.1:1/0")
    for url in (None, "https://monitoring.us-east-2.amazonaws.com", "http://10.0.0.5:5000", "http://localhost:5000",
                "https://127.0.0.1:5000", "http://127.0.0.1"):
        with pytest.raises(ValueError, match=r"\[aws\]\.endpoint_url"), publish_cloudwatch(AwsIds(region="us-east-2", endpoint_url=url), sources):
            pass
    with pytest.raises(ValueError, match=r"\[aws\]\.endpoint_url 'https://monitoring"):
        with run_cluster(aws=AwsIds(region="us-east-2", endpoint_url="https://monitoring.us-east-2.amazonaws.com", alb="app/x/1"),
                         workdir=tmp_path):
            pass
    assert list(tmp_path.iterdir()) == []   # refused before anything started


def test_the_access_log_line_parser() -> None:
    ok = parse_alb_line(b'1700000000.123 17 1 200 "200" "0.004"')
    assert ok is not None and (ok.connection, ok.first_on_connection, ok.status, ok.upstream_status, ok.upstream_time) == (17, True, 200, 200, 0.004)
    retried = parse_alb_line(b'1700000000.123 17 3 500 "502, 500" "0.000, 0.010"')
    assert retried is not None and (retried.upstream_status, retried.upstream_time, retried.first_on_connection) == (500, 0.010, False)
    gateway = parse_alb_line(b'1700000000.123 18 1 502 "-" "-"')
    assert gateway is not None and (gateway.upstream_status, gateway.upstream_time) == (None, None)
    assert parse_alb_line(b"garbage") is None


def test_every_cloud_query_reads_what_the_cluster_published(cluster: ClusterInfo, cw: Any, aws: AwsIds) -> None:
    since = _now() - timedelta(seconds=5)
    assert _http(cluster, 40) == [200] * 40
    _http(cluster, 2, "/reports/usage")   # a PostgreSQL read
    _udp(cluster, 40)
    checks: dict[str, Any] = {
        "container-insights.cpu_pct": lambda v: all(v.values()) and all(0 <= x <= 400 for xs in v.values() for x in xs),
        "container-insights.memory_pct": lambda v: all(v.values()) and all(0.5 < x < 100 for xs in v.values() for x in xs),
        "container-insights.network_rx_bytes": lambda v: all(v.values()) and sum(max(xs) for xs in v.values()) > 0,
        "container-insights.network_tx_bytes": lambda v: all(v.values()) and sum(max(xs) for xs in v.values()) > 0,
        "load-balancer:alb.target_response_p99_ms": lambda v: v["-"] and all(0 <= x < 5_000 for x in v["-"]),
        "load-balancer:alb.active_connections": lambda v: v["-"] and sum(v["-"]) >= 1,
        "load-balancer:alb.unhealthy_host_count": lambda v: v["-"] and v["-"][-1] == 0,
        "load-balancer:nlb.active_connections": lambda v: v["-"] and max(v["-"]) >= 1,
        "load-balancer:nlb.unhealthy_host_count": lambda v: v["-"] and v["-"][-1] == 0,
        "elasticache.engine_cpu_pct": lambda v: v["-"] and all(0 <= x <= 100 for x in v["-"]),
        "elasticache.curr_connections": lambda v: v["-"] and min(v["-"]) >= 3,   # every node holds a connection
        "aurora.acu": lambda v: v["-"] and all(0.5 <= x <= 128 for x in v["-"]),
        "aurora.connections": lambda v: v["-"] and max(v["-"]) >= 1,
        "aurora.active_sessions": lambda v: v["-"] and all(x >= 0 for x in v["-"]),
    }
    # Published only when not zero (like AWS): they need the faults (below) or luck; here only: no error.
    sometimes = {"load-balancer:alb.errors_5xx", "elasticache.cache_hits", "elasticache.cache_misses"}
    assert set(checks) | sometimes == {f"{s}.{m}" for s, qs in CLOUD_QUERIES.items() for m in qs}
    for name, check in checks.items():
        wait_for(cw, aws, name, since, check, name)
    requests = series(cw, "AWS/ApplicationELB", "RequestCount", [{"Name": "LoadBalancer", "Value": aws.alb or ""}], "Sum", since)
    assert sum(requests.values()) >= 42
    lrs = [{"Name": "ClusterName", "Value": "beast"}, {"Name": "ServiceName", "Value": "beast-lrs"}]
    reserved = series(cw, "ECS/ContainerInsights", "CpuReserved", lrs, "Maximum", since)
    assert set(reserved.values()) == {CPU_RESERVED}
    assert cluster.cloudwatch is not None and cluster.cloudwatch.running and cluster.cloudwatch.published > 0
    assert cluster.cloudwatch.errors == 0, list(cluster.cloudwatch.error_texts)


def test_cpu_burn_raises_that_nodes_cpu(cluster: ClusterInfo, cw: Any, aws: AwsIds, admin: Admin) -> None:
    idle = wait_for(cw, aws, "container-insights.cpu_pct", _now() - timedelta(seconds=3), lambda v: len(v["beast-mirror"]) >= 2, "mirror's CPU")
    assert max(idle["beast-mirror"]) < 50
    admin.faults("mirror", cpu_burn=True).raise_for_status()
    since = _now()
    got = wait_for(cw, aws, "container-insights.cpu_pct", since, lambda v: v["beast-mirror"] and max(v["beast-mirror"]) > 50, "mirror's CPU > 50 %")
    assert max(got["beast-mirror"]) <= 400
    admin.faults("mirror", cpu_burn=False).raise_for_status()
    since = _now() + timedelta(seconds=1)
    wait_for(cw, aws, "container-insights.cpu_pct", since, lambda v: v["beast-mirror"] and v["beast-mirror"][-1] < 50, "the burner stopped")


def test_a_memory_leak_raises_memory_utilized(cluster: ClusterInfo, cw: Any, aws: AwsIds, admin: Admin) -> None:
    since = _now()
    base = wait_for(cw, aws, "container-insights.memory_pct", since, lambda v: v["beast-main"], "main's memory")["beast-main"][-1]
    admin.faults("main", leak_mb_s=64).raise_for_status()
    since = _now()
    wait_for(cw, aws, "container-insights.memory_pct", since, lambda v: v["beast-main"] and max(v["beast-main"]) > base + 100 * 96 / 2048,
             "main's memory up by > 96 MiB")


def test_an_unhealthy_node_is_counted_by_both_load_balancers(cluster: ClusterInfo, cw: Any, aws: AwsIds, admin: Admin) -> None:
    admin.faults("lrs", unhealthy=True).raise_for_status()
    since = _now()
    for name in ("load-balancer:alb.unhealthy_host_count", "load-balancer:nlb.unhealthy_host_count"):
        wait_for(cw, aws, name, since, lambda v: v["-"] and v["-"][-1] >= 1, name)
    assert cluster.cloudwatch is not None and not cluster.cloudwatch.health["lrs"].healthy and cluster.cloudwatch.health["main"].healthy
    admin.faults("lrs", clear=True).raise_for_status()
    publisher = cluster.cloudwatch
    wait_until(lambda: publisher.health["lrs"].healthy, "lrs healthy again", timeout=HEALTH_THRESHOLD + 10)
    since = _now()
    wait_for(cw, aws, "load-balancer:alb.unhealthy_host_count", since, lambda v: v["-"] and v["-"][-1] == 0, "no unhealthy host")


def test_5xx_answers_are_the_targets(cluster: ClusterInfo, cw: Any, aws: AwsIds, admin: Admin) -> None:
    admin.faults("all", error_5xx_ratio=1).raise_for_status()
    wait_until(lambda: all(admin.node_stats(n)["config"]["faults"]["error_5xx_ratio"] == 1 for n in cluster.nodes), "5xx on all")
    since = _now()
    assert set(_http(cluster, 20)) == {500}
    wait_for(cw, aws, "load-balancer:alb.errors_5xx", since, lambda v: sum(v["-"]) >= 20, "20 5xx")
    lb = [{"Name": "LoadBalancer", "Value": aws.alb or ""}]
    assert sum(series(cw, "AWS/ApplicationELB", "HTTPCode_Target_5XX_Count", lb, "Sum", since).values()) >= 20
    assert series(cw, "AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count", lb, "Sum", since) == {}   # nginx answered none itself


def test_latency_moves_target_response_time_p99(cluster: ClusterInfo, cw: Any, aws: AwsIds, admin: Admin) -> None:
    admin.faults("all", latency_ms=600).raise_for_status()
    wait_until(lambda: all(admin.node_stats(n)["config"]["faults"]["latency_ms"] == 600 for n in cluster.nodes), "latency on all")
    since = _now()
    assert _http(cluster, 4) == [200] * 4
    got = wait_for(cw, aws, "load-balancer:alb.target_response_p99_ms", since, lambda v: v["-"] and max(v["-"]) > 500, "p99 > 500 ms")
    assert max(got["-"]) < 5_000


def test_a_busy_redis_raises_engine_cpu(cluster: ClusterInfo, cw: Any, aws: AwsIds) -> None:
    r = redis.Redis.from_url(cluster.redis_url, socket_timeout=10)
    burn = "local t = redis.call('TIME'); local s = t[1] * 1000000 + t[2]; local n = 0 " \
           "repeat n = n + 1; t = redis.call('TIME') until (t[1] * 1000000 + t[2]) - s > 150000 return n"
    idle = wait_for(cw, aws, "elasticache.engine_cpu_pct", _now() - timedelta(seconds=3), lambda v: len(v["-"]) >= 2, "EngineCPUUtilization")
    assert max(idle["-"]) < 30
    since = _now()
    deadline = time.monotonic() + 2.5
    try:
        while time.monotonic() < deadline:
            r.eval(burn, 0)
    finally:
        r.close()
    wait_for(cw, aws, "elasticache.engine_cpu_pct", since, lambda v: v["-"] and max(v["-"]) > 30, "EngineCPUUtilization > 30")


def test_the_access_log_is_rotated_without_losing_a_request(cluster: ClusterInfo, cw: Any, aws: AwsIds,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from pytest_trinity.reference import cloudwatch

    log = cluster.cluster_dir / "alb-access.log"
    publisher = cluster.cloudwatch
    assert publisher is not None
    rotations = publisher.rotations
    monkeypatch.setattr(cloudwatch, "LOG_ROTATE_BYTES", 2_000)
    time.sleep(2.0)   # earlier tests' lines are flushed (nginx: flush=1s) and read before `since`
    since = _now()
    lb = [{"Name": "LoadBalancer", "Value": aws.alb or ""}]
    sent = 0
    for _ in range(3):   # ~60 lines of ~50 bytes: each batch passes the threshold
        sent += len(_http(cluster, 60))
        time.sleep(1.5)
    wait_until(lambda: sum(series(cw, "AWS/ApplicationELB", "RequestCount", lb, "Sum", since).values()) >= sent, f"{sent} requests")
    monkeypatch.setattr(cloudwatch, "LOG_ROTATE_BYTES", 64 * 1024 * 1024)
    wait_until(lambda: not log.with_name(log.name + ".old").exists(), "the rotated log read out and removed")
    assert sum(series(cw, "AWS/ApplicationELB", "RequestCount", lb, "Sum", since).values()) == sent
    assert publisher.rotations > rotations
