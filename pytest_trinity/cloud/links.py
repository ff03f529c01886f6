"""Links to the CloudWatch console: one graph per query set, for a window's time and resources.

The console's `#metricsV2?graph=` fragment takes the graph as JSURL-style text (objects are
`~(key~value…)`, arrays `~(~item…)`, strings `'` + URI-encoding with `*` for `%`). This is the
console's own format, not an API: if AWS changes it, the link opens the metrics page without
the graph, and nothing else breaks.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from pytest_trinity.targets import AwsIds
from pytest_trinity.targets.aws import PLACEHOLDER


def _jsurl(value: Any) -> str:
    if isinstance(value, bool):
        return "~true" if value else "~false"
    if isinstance(value, (int, float)):
        return f"~{value:g}"
    if isinstance(value, str):
        return "~'" + quote(value, safe="").replace("%", "*")
    if isinstance(value, dict):
        return "~(" + "~".join(f"{k}{_jsurl(v)}" for k, v in value.items()) + ")"
    return "~(" + "".join(_jsurl(v) for v in value) + ")"


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def console_links(aws: AwsIds, query_sets: tuple[str, ...], start: float, end: float) -> tuple[tuple[str, str], ...]:
    """(label, URL) for each query set the target configures, over [start, end]."""
    if aws.region is None:
        return ()
    base = aws.console_url.replace("{region}", aws.region).rstrip("/")
    ids = aws.ids()
    out = []
    for query_set in query_sets:
        metrics: list[list[str]] = []
        for query in aws.queries.get(query_set, {}).values():
            services = [s for _, s in aws.services] if "service" in query.ids_needed() else [""]
            for service in services:
                values = dict(ids, service=service)
                if any(n not in values for n in query.ids_needed()):
                    continue
                dims = [x for name, template in query.dimensions
                        for x in (name, PLACEHOLDER.sub(lambda m, v=values: v[m.group(1)], template))]  # type: ignore[misc]
                for name in query.metrics:
                    metrics.append([query.namespace, name, *dims])
        if not metrics:
            continue
        graph = {"metrics": metrics, "view": "timeSeries", "stacked": False, "region": aws.region,
                 "start": _iso(start), "end": _iso(end), "period": aws.period_s}
        out.append((query_set, f"{base}/cloudwatch/home?region={aws.region}#metricsV2?graph={_jsurl(graph)}"))
    return tuple(out)
