"""The cloud side of a level or a test's window: wait (bounded) for its periods, read, link.

`CloudWatcher.figures(test, start, end, judged)` returns the `CloudFigures` of the whole
periods inside [start, end] (None when there is none): it reads CloudWatch (and Performance
Insights, given `[aws].db_resource_id`), and while some configured metric still misses a
period, asks again every `[cloud].poll_s`, until `[cloud].late_data_s` after the call. An AWS
error never loses the level: its metrics are `missing`, with the error as the reason.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from pytest_trinity.cloud.clients import CloudError, client, describe_error
from pytest_trinity.cloud.links import console_links
from pytest_trinity.cloud.reader import CloudReader, query_sets_for, whole_periods
from pytest_trinity.model.cloud import MEASURED, MISSING, NOT_CONFIGURED, CloudFigures, CloudMetric
from pytest_trinity.plan import CloudTiming, PlanTest
from pytest_trinity.targets import QUERY_SETS, AwsIds

MAX_READS = 1000  # a bound on reads per wait, whatever the timing


class CloudWatcher:
    def __init__(self, aws: AwsIds, timing: CloudTiming, cloudwatch: Any = None, pi: Any = None):
        self.aws, self.timing = aws, timing
        self.cloudwatch = cloudwatch if cloudwatch is not None else client(aws, "cloudwatch")
        self.pi = pi if pi is not None or aws.db_resource_id is None else client(aws, "pi")

    def figures(self, test: PlanTest, start: float, end: float, judged: str, levels: tuple[str, ...] = ()) -> CloudFigures | None:
        period = self.aws.period_s
        periods = whole_periods(start, end, period)
        if not periods:
            return None
        query_sets = query_sets_for(test.protocol, test.topology)
        reader = CloudReader(self.aws, self.cloudwatch, query_sets)
        began = time.monotonic()
        deadline = began + self.timing.late_data_s
        window = (periods[0], periods[-1] + period)
        metrics: list[CloudMetric] = []
        for _ in range(MAX_READS):
            try:
                metrics = reader.metrics(periods, reader.fetch(*window))
            except Exception as exc:  # botocore's errors, a dead endpoint: the level keeps its load figures
                error = describe_error(exc, f"CloudWatch GetMetricData ({self.aws.endpoint_url or self.aws.region})")
                metrics = [CloudMetric(r.source, r.metric, r.query_set, MISSING, detail=str(error)) for r in _planned(reader)]
                metrics += reader.unavailable
            if not any(m.status == MISSING for m in metrics) or time.monotonic() >= deadline:
                break
            time.sleep(max(0.0, min(self.timing.poll_s, deadline - time.monotonic())))
        waited = time.monotonic() - began
        insights: dict[str, Any] = {}
        if self.aws.db_resource_id is None:
            metrics.append(CloudMetric("aurora", "io_datafileread_pct", "aurora", NOT_CONFIGURED,
                                       detail="[aws].db_resource_id is not set (Performance Insights)"))
        else:
            metrics.append(self._insights(window, insights))
        return CloudFigures(window[0], window[1], period, judged, tuple(metrics), round(waited, 3), insights,
                            console_links(self.aws, query_sets, *window), levels)

    def _insights(self, window: tuple[float, float], into: dict[str, Any]) -> CloudMetric:
        from pytest_trinity.cloud.insights import read_insights

        assert self.aws.db_resource_id is not None
        try:
            found = read_insights(self.pi, self.aws.db_resource_id, datetime.fromtimestamp(window[0], UTC),
                                  datetime.fromtimestamp(window[1], UTC), self.aws.period_s)
        except CloudError as exc:
            return CloudMetric("aurora", "io_datafileread_pct", "aurora", MISSING, detail=str(exc))
        except Exception as exc:
            return CloudMetric("aurora", "io_datafileread_pct", "aurora", MISSING,
                               detail=str(describe_error(exc, "Performance Insights GetResourceMetrics")))
        into.update(found.to_json())
        if found.io_datafileread_pct is None:
            return CloudMetric("aurora", "io_datafileread_pct", "aurora", MISSING, detail="Performance Insights had no DB load datapoint")
        return CloudMetric("aurora", "io_datafileread_pct", "aurora", MEASURED, found.io_datafileread_pct)


def _planned(reader: CloudReader) -> list[CloudMetric]:
    seen: dict[tuple[str, str], CloudMetric] = {}
    for raw in reader.raws:
        seen.setdefault((raw.query_set, raw.metric), CloudMetric(QUERY_SETS[raw.query_set], raw.metric, raw.query_set, MISSING))
    return list(seen.values())
