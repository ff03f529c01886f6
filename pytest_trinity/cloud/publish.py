"""Publish a level's figures to CloudWatch (PutMetricData), as the plan's "CloudWatch — 6 Metrics" are sent.

Opt-in: a target's `[aws].publish_namespace`. Each figure is one datum with the level's
dimensions (e.g. Target, Test, Level) at the level's time; figures without a value (None,
NaN, infinite) are left out rather than sent as 0. Each metric gets a unit from `UNITS` or
its name's suffix (`_pct` Percent, `_ms` Milliseconds, …), or none.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Any

from pytest_trinity.cloud.clients import CloudError, describe_error

BATCH = 1000            # CloudWatch PutMetricData: at most 1000 datums per call
MAX_DIMENSIONS = 30     # per metric
UNITS: dict[str, str] = {
    "total_rps": "Count/Second",
    "ok_rps": "Count/Second",
    "success_pct": "Percent",
    "errors_5xx": "Count",
    "syncmap_hit_pct": "Percent",
    "udp_drop_pct": "Percent",
    "bg_drop_pct": "Percent",
    "rows_queued": "Count",
    "db_in_use": "Count",
    "db_open": "Count",
    "db_max_open": "Count",
}
SUFFIX_UNITS = (("_pct", "Percent"), ("_ms", "Milliseconds"), ("_rps", "Count/Second"), ("_per_s", "Count/Second"),
                ("_bytes", "Bytes"), ("_s", "Seconds"), ("_count", "Count"))


def unit_for(metric: str) -> str | None:
    """CloudWatch's unit for a figure's name, or None (CloudWatch's "None")."""
    if metric in UNITS:
        return UNITS[metric]
    return next((unit for suffix, unit in SUFFIX_UNITS if metric.endswith(suffix)), None)


def publish_level(cloudwatch: Any, namespace: str, dimensions: dict[str, str], figures: dict[str, float], at: float) -> int:
    """Put each finite figure as a datum of `namespace` with `dimensions` at `at` (epoch seconds); the number put.

    Raises `CloudError` for input CloudWatch would refuse (naming it) and for a refused call."""
    if not namespace or namespace.startswith("AWS/") or len(namespace) > 255:
        raise CloudError(f"[aws].publish_namespace {namespace!r} cannot be published to: give 1-255 characters, not starting with AWS/ "
                         "(AWS's own namespaces)")
    if len(dimensions) > MAX_DIMENSIONS:
        raise CloudError(f"publishing to {namespace}: {len(dimensions)} dimensions, CloudWatch takes at most {MAX_DIMENSIONS}")
    for key, value in dimensions.items():
        if not key or len(key) > 255 or not value or len(value) > 1024:
            raise CloudError(f"publishing to {namespace}: dimension {key!r}={value!r} needs a name of 1-255 and a value of 1-1024 characters")
    timestamp = datetime.fromtimestamp(at, UTC)
    dims = [{"Name": k, "Value": v} for k, v in dimensions.items()]
    data: list[dict[str, Any]] = []
    for metric, figure in figures.items():
        if figure is None or isinstance(figure, bool) or not isinstance(figure, (int, float)) or not math.isfinite(figure):
            continue
        if not metric or len(metric) > 255:
            raise CloudError(f"publishing to {namespace}: metric name {metric!r} needs 1-255 characters")
        datum: dict[str, Any] = {"MetricName": metric, "Dimensions": dims, "Timestamp": timestamp, "Value": float(figure)}
        unit = unit_for(metric)
        if unit is not None:
            datum["Unit"] = unit
        data.append(datum)
    for i in range(0, len(data), BATCH):
        try:
            cloudwatch.put_metric_data(Namespace=namespace, MetricData=data[i:i + BATCH])
        except Exception as exc:  # noqa: BLE001 - botocore's errors have no common base short of Exception
            raise describe_error(exc, f"cloudwatch PutMetricData {namespace} ({', '.join(f'{k}={v}' for k, v in dimensions.items())})") from None
    return len(data)
