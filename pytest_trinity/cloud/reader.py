"""Read a window's cloud metrics from CloudWatch: one batched, paginated `GetMetricData` per read.

The queries are the target's (`AwsIds.queries`, the defaults of `targets/aws.py` with its
overrides). Each plan metric becomes one or more raw CloudWatch queries per resource; their
per-period values are combined here (sums, ratios, scale), across the services (`across`),
and over the window's periods (`reduce`) into the figure a red flag reads. Derived metrics:
`network_rx_tx_ratio`, `cache_miss_pct`, `memory_pct_growth`.

A period whose datapoint has not arrived makes the metric `missing` (its figure is not
computed from the periods that did arrive: a partial window would hide the busy period).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pytest_trinity.model.cloud import MEASURED, MISSING, NOT_CONFIGURED, NOT_PUBLISHED, TOO_SHORT, UNDEFINED, CloudMetric
from pytest_trinity.model.trend import fitted_growth
from pytest_trinity.plan.metrics import BUILTIN_SOURCES
from pytest_trinity.targets import QUERY_SETS, AwsIds, CloudQuery
from pytest_trinity.targets.aws import PLACEHOLDER

QUERIES_PER_CALL = 500   # CloudWatch's limit of MetricDataQueries per GetMetricData
MAX_PAGES = 100          # a bound on NextToken pages per call
SKIP = object()          # a period a query has no value for, rightly (query.absent == "skip")
DERIVED = {
    "container-insights": ("network_rx_tx_ratio", "memory_pct_growth"),
    "elasticache": ("cache_miss_pct",),
}


def query_sets_for(protocol: str, topology: str) -> tuple[str, ...]:
    """The query sets a test reads: the load balancer only when its traffic goes through one."""
    sets = ["container-insights", "elasticache", "aurora"]
    if topology == "balanced":
        sets.insert(1, "load-balancer:alb" if protocol == "tcp" else "load-balancer:nlb")
    return tuple(sets)


@dataclass(frozen=True)
class _Raw:
    """One CloudWatch query: a metric name of a plan metric's query, for one resource."""

    id: str
    query_set: str
    metric: str          # the plan metric
    resource: str        # the service name, or "" for a single resource
    name: str            # the CloudWatch metric name
    role: str            # "part" (summed) or "per" (divisor)
    query: CloudQuery

    def request(self, dims: list[dict[str, str]], period_s: int) -> dict[str, Any]:
        return {"Id": self.id, "ReturnData": True, "MetricStat": {
            "Metric": {"Namespace": self.query.namespace, "MetricName": self.name, "Dimensions": dims},
            "Period": period_s, "Stat": self.query.stat}}


def _resources(aws: AwsIds, query: CloudQuery) -> tuple[list[tuple[str, list[dict[str, str]]]], str | None]:
    """The resources a query runs for, with their dimensions; or why it cannot run."""
    ids = aws.ids()
    needed = query.ids_needed()
    missing = [n for n in needed if n != "service" and n not in ids]
    if missing:
        return [], f"[aws].{missing[0]} is not set"
    if "service" in needed and not aws.services:
        return [], "[aws].services is not set"
    names = [service for _, service in aws.services] if "service" in needed else [""]
    out = []
    for service in names:
        values = dict(ids, service=service)
        dims = [{"Name": k, "Value": PLACEHOLDER.sub(lambda m, v=values: v[m.group(1)], template)}  # type: ignore[misc]
                for k, template in query.dimensions]
        out.append((service, dims))
    return out, None


def _align(t: float, period_s: int) -> float:
    return float(math.floor(t / period_s) * period_s)


def whole_periods(start: float, end: float, period_s: int) -> tuple[float, ...]:
    """The starts of the periods (aligned to multiples of `period_s`, as CloudWatch aligns them)
    that lie wholly inside [start, end]."""
    first = math.ceil(start / period_s) * period_s
    out: list[float] = []
    p = first
    while p + period_s <= end + 1e-6 and len(out) < 100_000:
        out.append(float(p))
        p += period_s
    return tuple(out)


def _status_of(statuses: list[str]) -> str:
    """The status of a figure derived from metrics of these statuses: missing if one is (it may
    still arrive), else the first that is not measured (not configured, not published, …)."""
    if MISSING in statuses:
        return MISSING
    return next((s for s in statuses if s != MEASURED), MEASURED)


def _combine(values: list[float], how: str) -> float:
    if how == "sum":
        return sum(values)
    if how == "mean":
        return sum(values) / len(values)
    return max(values)


class CloudReader:
    """Reads the cloud metrics of a test's query sets for windows of whole periods."""

    def __init__(self, aws: AwsIds, cloudwatch: Any, query_sets: Iterable[str]):
        self.aws, self.cloudwatch, self.period_s = aws, cloudwatch, aws.period_s
        self.unavailable: list[CloudMetric] = []
        self.raws: list[_Raw] = []
        self.dims: dict[str, list[dict[str, str]]] = {}
        n = 0
        for query_set in query_sets:
            source = QUERY_SETS[query_set]
            queries = self.aws.queries.get(query_set, {})
            for metric in BUILTIN_SOURCES[source]:
                if metric in DERIVED.get(source, ()) or (source, metric) in (("container-insights", "rss_bytes"),
                                                                             ("aurora", "pool_size"), ("aurora", "io_datafileread_pct")):
                    continue
                query = queries.get(metric)
                if query is None:
                    self.unavailable.append(CloudMetric(source, metric, query_set, NOT_PUBLISHED,
                                                        detail=f"{query_set} does not publish it"))
                    continue
                resources, why = _resources(self.aws, query)
                if why:
                    self.unavailable.append(CloudMetric(source, metric, query_set, NOT_CONFIGURED, detail=why))
                    continue
                for resource, dims in resources:
                    for role, names in (("part", query.metrics), ("per", (query.per,) if query.per else ())):
                        for name in names:
                            n += 1
                            raw = _Raw(f"q{n}", query_set, metric, resource, name, role, query)
                            self.raws.append(raw)
                            self.dims[raw.id] = dims

    def fetch(self, start: float, end: float) -> dict[str, dict[float, float]]:
        """Raw id -> {period start: value} for [start, end), every page of every batch."""
        out: dict[str, dict[float, float]] = {r.id: {} for r in self.raws}
        requests = [r.request(self.dims[r.id], self.period_s) for r in self.raws]
        for i in range(0, len(requests), QUERIES_PER_CALL):
            kwargs: dict[str, Any] = {"MetricDataQueries": requests[i:i + QUERIES_PER_CALL],
                                      "StartTime": datetime.fromtimestamp(start, UTC), "EndTime": datetime.fromtimestamp(end, UTC),
                                      "ScanBy": "TimestampAscending"}
            for _ in range(MAX_PAGES):
                page = self.cloudwatch.get_metric_data(**kwargs)
                for result in page.get("MetricDataResults", []):
                    series = out.setdefault(str(result["Id"]), {})
                    for ts, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=False):
                        if value is None or not math.isfinite(float(value)):
                            continue
                        series[_align(ts.timestamp(), self.period_s)] = float(value)
                token = page.get("NextToken")
                if not token:
                    break
                kwargs["NextToken"] = token
        return out

    def metrics(self, periods: tuple[float, ...], data: dict[str, dict[float, float]]) -> list[CloudMetric]:
        """Every plan metric over `periods`: measured, or missing with the periods that are."""
        reporting: dict[str, set[float]] = {}
        for raw in self.raws:
            if raw.query.absent == "missing":
                reporting.setdefault(raw.query_set, set()).update(data.get(raw.id, {}))
        grouped: dict[tuple[str, str], list[_Raw]] = {}
        for raw in self.raws:
            grouped.setdefault((raw.query_set, raw.metric), []).append(raw)
        out: list[CloudMetric] = list(self.unavailable)
        for (query_set, metric), raws in grouped.items():
            query = raws[0].query
            source = QUERY_SETS[query_set]
            series: list[tuple[float, float | None]] = []
            for p in periods:
                per_resource: list[float] = []
                complete, skipped = True, 0
                for resource in dict.fromkeys(r.resource for r in raws):
                    value = self._value(query, [r for r in raws if r.resource == resource], p, data, p in reporting.get(query_set, set()))
                    if value is SKIP:
                        skipped += 1
                    elif value is None:
                        complete = False
                    else:
                        per_resource.append(float(value))  # type: ignore[arg-type]
                if skipped and not per_resource and complete:
                    continue  # e.g. no request in the period, so no response time: not a period to judge
                series.append((p, _combine(per_resource, query.across) if complete and per_resource else None))
            if not series and periods and query.absent == "skip":
                out.append(CloudMetric(source, metric, query_set, MISSING, detail="no period of the window had a datapoint"))
                continue
            out.append(self._metric(source, metric, query_set, query.reduce, series))
        return out + self._derived(out)

    @staticmethod
    def _value(query: CloudQuery, raws: list[_Raw], p: float, data: dict[str, dict[float, float]], reporting: bool) -> float | object | None:
        parts, per = [], None
        for raw in raws:
            value = data.get(raw.id, {}).get(p)
            if value is None and reporting and query.absent == "zero":
                value = 0.0
            if value is None:
                return SKIP if reporting and query.absent == "skip" else None
            if raw.role == "per":
                per = value
            else:
                parts.append(value)
        total = sum(parts)
        if query.per:
            if not per:
                return None
            total /= per
        return query.scale * total

    @staticmethod
    def _metric(source: str, metric: str, query_set: str, reduce: str, series: list[tuple[float, float | None]]) -> CloudMetric:
        got = [v for _, v in series if v is not None]
        if not series:
            return CloudMetric(source, metric, query_set, MISSING, detail="the window holds no whole period")
        if len(got) < len(series):
            return CloudMetric(source, metric, query_set, MISSING, periods=tuple(series),
                               detail=f"{len(got)} of {len(series)} periods arrived")
        return CloudMetric(source, metric, query_set, MEASURED, _combine(got, reduce), tuple(series))

    @staticmethod
    def _derived(metrics: list[CloudMetric]) -> list[CloudMetric]:
        by = {(m.source, m.metric): m for m in metrics}
        out = []

        def ratio(source: str, name: str, top: str, bottom: tuple[str, ...], scale: float, query_set: str) -> None:
            inputs = [by.get((source, n)) for n in (top, *dict.fromkeys(bottom))]
            if any(m is None for m in inputs):
                return
            status = _status_of([m.status for m in inputs if m is not None])
            if status != MEASURED:
                out.append(CloudMetric(source, name, query_set, status, detail=f"{top} or {'/'.join(bottom)} is {status}"))
                return
            a = by[(source, top)]
            denominator = sum(by[(source, b)].value or 0.0 for b in bottom)
            if denominator <= 0:  # e.g. no cache lookup in the window: the share is undefined, not missing
                out.append(CloudMetric(source, name, query_set, UNDEFINED, detail=f"no {'+'.join(bottom)} in the window"))
                return
            out.append(CloudMetric(source, name, query_set, MEASURED, scale * (a.value or 0.0) / denominator))

        ratio("container-insights", "network_rx_tx_ratio", "network_rx_bytes", ("network_tx_bytes",), 1.0, "container-insights")
        ratio("elasticache", "cache_miss_pct", "cache_misses", ("cache_hits", "cache_misses"), 100.0, "elasticache")
        memory = by.get(("container-insights", "memory_pct"))
        if memory is not None:
            points = [(t, v) for t, v in memory.periods if v is not None]
            growth = fitted_growth(points) if memory.status == MEASURED else None
            status = MEASURED if growth is not None else TOO_SHORT if memory.status == MEASURED else memory.status
            out.append(CloudMetric("container-insights", "memory_pct_growth", "container-insights", status, growth,
                                   detail="" if growth is not None else "needs 3 periods of memory %"))
        return out
