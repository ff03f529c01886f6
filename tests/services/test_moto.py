"""moto's server as `run_moto()` starts it: CloudWatch percentiles (a moto gap filled by moto_server.py)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from pytest_trinity.services.moto import run_moto
from pytest_trinity.services.moto_server import nearest_rank, percentile_rank


@pytest.fixture(scope="module")
def cloudwatch() -> Iterator[Any]:
    with pytest.MonkeyPatch.context() as mp:
        for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"), ("AWS_DEFAULT_REGION", "us-east-2")):
            mp.setenv(name, value)
        mp.delenv("AWS_PROFILE", raising=False)
        with run_moto() as server:
            yield boto3.client("cloudwatch", endpoint_url=server.endpoint_url, region_name="us-east-2")


def _read(cw: Any, metric: str, stats: list[str], at: datetime, dims: list[dict[str, str]] | None = None) -> dict[str, list[float]]:
    queries = [{"Id": f"q{i}", "MetricStat": {"Metric": {"Namespace": "T", "MetricName": metric, "Dimensions": dims or []},
                                             "Period": 60, "Stat": s}} for i, s in enumerate(stats)]
    out = cw.get_metric_data(MetricDataQueries=queries, StartTime=at - timedelta(seconds=30), EndTime=at + timedelta(seconds=30))
    return {stats[int(r["Id"][1:])]: r["Values"] for r in out["MetricDataResults"]}


def test_percentile_helpers() -> None:
    assert percentile_rank("p99") == 99.0 and percentile_rank("p99.9") == 99.9 and percentile_rank("p0") == 0.0
    assert percentile_rank("Average") is None and percentile_rank("p101") is None and percentile_rank("tm99") is None
    values = [float(v) for v in range(1, 101)]
    assert nearest_rank(values, 50) == 50.0 and nearest_rank(values, 99) == 99.0 and nearest_rank(values, 100) == 100.0
    assert nearest_rank(values, 0) == 1.0 and nearest_rank([], 50) is None
    assert nearest_rank([3.0, 1.0, 2.0], 50) == 2.0


def test_get_metric_data_answers_percentiles_over_values_and_counts(cloudwatch: Any) -> None:
    at = datetime.now(UTC).replace(microsecond=0)
    dims = [{"Name": "LoadBalancer", "Value": "app/x/1"}]
    # 1..90 once each as single values, and 1000 ten times as Values/Counts: 100 values in all.
    data = [{"MetricName": "Latency", "Dimensions": dims, "Timestamp": at, "Value": float(v)} for v in range(1, 91)]
    data.append({"MetricName": "Latency", "Dimensions": dims, "Timestamp": at, "Values": [1000.0], "Counts": [10.0]})
    for i in range(0, len(data), 50):
        cloudwatch.put_metric_data(Namespace="T", MetricData=data[i:i + 50])
    got = _read(cloudwatch, "Latency", ["p50", "p90", "p99", "p99.5", "Maximum", "Average"], at, dims)
    assert got["p50"] == [50.0]
    assert got["p90"] == [90.0]
    assert got["p99"] == [1000.0] and got["p99.5"] == [1000.0]
    assert got["Maximum"] == [1000.0]   # moto's own statistics still answer
    assert got["Average"] == [pytest.approx((sum(range(1, 91)) + 10_000) / 100)]


def test_statistic_sets_hide_percentiles_unless_all_values_are_equal(cloudwatch: Any) -> None:
    at = datetime.now(UTC).replace(microsecond=0)
    cloudwatch.put_metric_data(Namespace="T", MetricData=[
        {"MetricName": "Mixed", "Timestamp": at, "StatisticValues": {"SampleCount": 4, "Sum": 10, "Minimum": 1, "Maximum": 4}},
        {"MetricName": "Flat", "Timestamp": at, "StatisticValues": {"SampleCount": 3, "Sum": 6, "Minimum": 2, "Maximum": 2}},
        {"MetricName": "Flat", "Timestamp": at, "Value": 9.0},
    ])
    assert _read(cloudwatch, "Mixed", ["p50", "Sum"], at) == {"p50": [], "Sum": [10.0]}
    assert _read(cloudwatch, "Flat", ["p50", "p99"], at) == {"p50": [2.0], "p99": [9.0]}
