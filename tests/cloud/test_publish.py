"""Publishing a level's figures to moto's CloudWatch, read back through GetMetricData."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pytest_trinity.cloud.clients import CloudError, client
from pytest_trinity.cloud.publish import publish_level, unit_for
from pytest_trinity.services import free_port
from pytest_trinity.services.moto import MotoServer
from pytest_trinity.targets import AwsIds

DIMS = {"Target": "moto", "Test": "2a", "Level": "L05-c900"}


@pytest.fixture
def cloudwatch(moto: MotoServer, aws_env: None) -> Any:
    return client(AwsIds(region="us-east-2", endpoint_url=moto.endpoint_url), "cloudwatch")


def _namespace() -> str:
    return f"Trinity/test-{uuid.uuid4().hex[:8]}"     # moto is shared by the session: each test its own namespace


def _read(cloudwatch: Any, namespace: str, metric: str, at: float, unit: str | None = None, dims: dict[str, str] = DIMS) -> list[float]:
    dimensions = [{"Name": k, "Value": v} for k, v in dims.items()]
    stat: dict[str, Any] = {"Metric": {"Namespace": namespace, "MetricName": metric, "Dimensions": dimensions}, "Period": 60, "Stat": "Maximum"}
    if unit is not None:
        stat["Unit"] = unit
    when = datetime.fromtimestamp(at, UTC)
    answer = cloudwatch.get_metric_data(MetricDataQueries=[{"Id": "m", "MetricStat": stat}],
                                        StartTime=when - timedelta(minutes=5), EndTime=when + timedelta(minutes=5))
    return [float(v) for v in answer["MetricDataResults"][0]["Values"]]


def test_figures_read_back_with_their_dimensions_and_units(cloudwatch: Any) -> None:
    namespace, at = _namespace(), time.time() - 60
    figures = {"total_rps": 1234.5, "syncmap_hit_pct": 99.25, "udp_drop_pct": 0.0, "bg_drop_pct": float("nan"),
               "rows_queued": 17.0, "db_in_use": float("inf"), "p99_ms": None}
    assert publish_level(cloudwatch, namespace, DIMS, figures, at) == 4     # type: ignore[arg-type]
    assert _read(cloudwatch, namespace, "total_rps", at, "Count/Second") == [1234.5]
    assert _read(cloudwatch, namespace, "syncmap_hit_pct", at, "Percent") == [99.25]
    assert _read(cloudwatch, namespace, "syncmap_hit_pct", at, "Count") == []       # published as Percent, not Count
    assert _read(cloudwatch, namespace, "udp_drop_pct", at) == [0.0]
    assert _read(cloudwatch, namespace, "rows_queued", at, "Count") == [17.0]
    assert _read(cloudwatch, namespace, "total_rps", at, dims={**DIMS, "Level": "L06-c1200"}) == []
    listed = cloudwatch.list_metrics(Namespace=namespace)["Metrics"]
    assert sorted(m["MetricName"] for m in listed) == ["rows_queued", "syncmap_hit_pct", "total_rps", "udp_drop_pct"]
    assert all(sorted(d["Name"] for d in m["Dimensions"]) == ["Level", "Target", "Test"] for m in listed)


def test_more_than_a_thousand_datums_go_in_batches(cloudwatch: Any) -> None:
    calls: list[int] = []
    cloudwatch.meta.events.register("before-call.monitoring.PutMetricData", lambda params, **_: calls.append(len(params["body"])))
    sizes: list[int] = []
    cloudwatch.meta.events.register("provide-client-params.monitoring.PutMetricData", lambda params, **_: sizes.append(len(params["MetricData"])))
    namespace, at = _namespace(), time.time() - 60
    figures = {f"figure_{i:04d}_count": float(i) for i in range(2500)}
    assert publish_level(cloudwatch, namespace, DIMS, figures, at) == 2500
    assert sizes == [1000, 1000, 500] and len(calls) == 3
    assert _read(cloudwatch, namespace, "figure_2499_count", at, "Count") == [2499.0]


def test_units() -> None:
    assert [unit_for(n) for n in ("total_rps", "bg_drop_pct", "db_in_use", "p99_ms", "rx_bytes", "errors_5xx", "mystery")] == \
        ["Count/Second", "Percent", "Count", "Milliseconds", "Bytes", "Count", None]


def test_nothing_to_publish_makes_no_call(cloudwatch: Any) -> None:
    sizes: list[int] = []
    cloudwatch.meta.events.register("provide-client-params.monitoring.PutMetricData", lambda params, **_: sizes.append(1))
    assert publish_level(cloudwatch, _namespace(), DIMS, {"total_rps": float("nan")}, time.time()) == 0
    assert sizes == []


@pytest.mark.parametrize(("namespace", "dims", "needle"), [
    ("AWS/ECS", DIMS, "publish_namespace 'AWS/ECS'"),
    ("", DIMS, "publish_namespace ''"),
    ("Trinity", {"Test": ""}, "dimension 'Test'=''"),
])
def test_bad_input_is_a_clear_error(cloudwatch: Any, namespace: str, dims: dict[str, str], needle: str) -> None:
    with pytest.raises(CloudError, match=needle.replace("[", r"\[")):
        publish_level(cloudwatch, namespace, dims, {"total_rps": 1.0}, time.time())


def test_a_refused_call_is_a_cloud_error(aws_env: None) -> None:
    unreachable = client(AwsIds(region="us-east-2", endpoint_url=f"http://127.0.0.1:{free_port()}"), "cloudwatch")
    with pytest.raises(CloudError, match=r"cloudwatch PutMetricData Trinity \(Target=moto, Test=2a, Level=L05-c900\): EndpointConnectionError"):
        publish_level(unreachable, "Trinity", DIMS, {"total_rps": 1.0}, time.time())
