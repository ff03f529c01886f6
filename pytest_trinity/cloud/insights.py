"""Read Aurora Performance Insights for a window: DB load (active sessions), its IO:DataFileRead share, top waits and top SQL.

One `GetResourceMetrics` call (followed through `NextToken`, a bounded number of pages) asks
for `db.load.avg` three ways: plain, grouped by `db.wait_event` and grouped by `db.sql`, with
`PeriodAlignment=START_TIME` so every datapoint's timestamp is its period's start. PI answers
a dimensionless total for every query; equal keys are merged. Aurora PostgreSQL names a wait
event with its type, as in `{"db.wait_event.type": "IO", "db.wait_event.name": "IO:DataFileRead"}`;
a bare name (`"DataFileRead"` of type `"IO"`) is taken as the same event; an IO:DataFileRead
outside the 10 top wait events counts as 0 % of the load. A window with no datapoint is
unmeasured (`None`), never 0.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pytest_trinity.cloud.clients import CloudError, describe_error

PERIODS_S = (1, 60, 300, 3600, 86400)  # the only PeriodInSeconds PI accepts
MAX_PAGES = 20
TOP = 5
SQL_CHARS = 200
WAIT_GROUP_LIMIT = 10
SQL_GROUP_LIMIT = 5
IO_DATAFILEREAD = "IO:DataFileRead"
LOAD = "db.load.avg"
QUERIES: tuple[dict[str, Any], ...] = (
    {"Metric": LOAD},
    {"Metric": LOAD, "GroupBy": {"Group": "db.wait_event", "Limit": WAIT_GROUP_LIMIT}},
    {"Metric": LOAD, "GroupBy": {"Group": "db.sql", "Limit": SQL_GROUP_LIMIT}},
)


_LITERALS = re.compile(r"'(?:[^']|'')*'|(?<![$\w])\d+(?:\.\d+)?\b")


def without_literals(sql: str) -> str:
    """SQL as the report shows it: string and number literals become `?` (a statement's
    literals may hold customers' data; the shape of the query is what the report needs)."""
    return _LITERALS.sub("?", sql)


@dataclass(frozen=True)
class Insights:
    """What Performance Insights measured over one window (averages are average active sessions, AAS)."""

    active_sessions: float | None                # mean of db.load.avg over the window's periods
    active_sessions_max: float | None            # the highest period's db.load.avg
    io_datafileread_pct: float | None            # share (%) of the DB load spent waiting on IO:DataFileRead
    top_waits: tuple[tuple[str, float], ...]     # (wait event as PI names it, AAS), top 5, descending
    top_sql: tuple[tuple[str, float], ...]       # (SQL text cut to 200 chars, AAS), top 5, descending
    series: tuple[tuple[float, float], ...]      # (epoch seconds of the period start, db.load.avg)
    period_s: int                                # the PeriodInSeconds asked of PI

    def to_json(self) -> dict[str, Any]:
        return {
            "active_sessions": _round(self.active_sessions), "active_sessions_max": _round(self.active_sessions_max),
            "io_datafileread_pct": _round(self.io_datafileread_pct),
            "top_waits": [{"wait_event": name, "active_sessions": _round(v)} for name, v in self.top_waits],
            "top_sql": [{"sql": sql, "active_sessions": _round(v)} for sql, v in self.top_sql],
            "series": [[t, _round(v)] for t, v in self.series], "period_s": self.period_s,
        }


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 6)


def pi_period(period_s: int) -> int:
    """The smallest period PI accepts that is at least `period_s` (at most a day)."""
    if period_s <= 0:
        raise ValueError(f"period_s must be a positive number of seconds, not {period_s}")
    return next((p for p in PERIODS_S if p >= period_s), PERIODS_S[-1])


def read_insights(pi: Any, resource_id: str, start: datetime, end: datetime, period_s: int) -> Insights:
    """Ask Performance Insights (a boto3 `pi` client) about DB instance `resource_id` (its DbiResourceId) over [start, end)."""
    if not resource_id:
        raise ValueError("resource_id is empty: set [aws].db_resource_id to the instance's DbiResourceId (db-…)")
    if end <= start:
        raise ValueError(f"Performance Insights window ends ({end.isoformat()}) before it starts ({start.isoformat()})")
    period = pi_period(period_s)
    call = f"Performance Insights GetResourceMetrics({resource_id})"
    params: dict[str, Any] = {
        "ServiceType": "RDS", "Identifier": resource_id, "MetricQueries": [dict(q) for q in QUERIES],
        "StartTime": start, "EndTime": end, "PeriodInSeconds": period, "PeriodAlignment": "START_TIME",
    }
    merged = _Merged()
    seen_tokens: set[str] = set()
    for _ in range(MAX_PAGES):
        try:
            response = pi.get_resource_metrics(**params)
        except Exception as exc:
            raise describe_error(exc, call) from None
        if not isinstance(response, dict):
            raise CloudError(f"{call}: the answer is not a GetResourceMetrics response")
        merged.add(response.get("MetricList") or [], call)
        token = response.get("NextToken")
        if not token:
            return merged.insights(period)
        if token in seen_tokens:
            raise CloudError(f"{call}: NextToken repeated; the endpoint's pagination does not advance")
        seen_tokens.add(token)
        params["NextToken"] = token
    raise CloudError(f"{call}: more than {MAX_PAGES} pages; shorten the window or raise [aws].period_s")


def _epoch(value: Any) -> float | None:
    if isinstance(value, datetime):
        return value.timestamp()
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


class _Merged:
    """The pages' MetricList, keyed: the total, each wait event and each SQL text, each a {period start: value} map."""

    def __init__(self) -> None:
        self.total: dict[float, float] = {}
        self.waits: dict[str, dict[float, float]] = {}
        self.io: dict[float, float] = {}
        self.sql: dict[str, dict[float, float]] = {}
        self._sql_seen: dict[tuple[str, str], dict[float, float]] = {}

    def add(self, metric_list: Any, call: str) -> None:
        if not isinstance(metric_list, list):
            raise CloudError(f"{call}: MetricList is not a list")
        for item in metric_list:
            key = item.get("Key") if isinstance(item, dict) else None
            if not isinstance(key, dict) or key.get("Metric") != LOAD:
                continue
            points = self._points(item.get("DataPoints"))
            dims = key.get("Dimensions") or {}
            if not isinstance(dims, dict) or not dims:
                for t, v in points.items():
                    self.total.setdefault(t, v)
            elif "db.wait_event.name" in dims:
                name, kind = str(dims["db.wait_event.name"]), str(dims.get("db.wait_event.type", ""))
                self.waits.setdefault(name, {}).update(points)
                if name == IO_DATAFILEREAD or (kind == "IO" and name == "DataFileRead"):
                    self.io.update(points)
            elif "db.sql.statement" in dims or "db.sql.id" in dims:
                text = without_literals(str(dims.get("db.sql.statement") or dims.get("db.sql.id")))
                # one series per PI key (pages repeat keys); keys whose text shares its first 200 chars add up
                series = self._sql_seen.setdefault((str(dims.get("db.sql.id", "")), text), {})
                series.update(points)

    @staticmethod
    def _points(raw: Any) -> dict[float, float]:
        points: dict[float, float] = {}
        for point in raw if isinstance(raw, list) else []:
            if not isinstance(point, dict):
                continue
            t, v = _epoch(point.get("Timestamp")), point.get("Value")
            if t is None or not isinstance(v, int | float) or isinstance(v, bool) or not math.isfinite(v):
                continue
            points[t] = float(v)
        return points

    def insights(self, period: int) -> Insights:
        for (_id, text), points in self._sql_seen.items():
            cut = self.sql.setdefault(text[:SQL_CHARS], {})
            for t, v in points.items():
                cut[t] = cut.get(t, 0.0) + v
        series = tuple(sorted(self.total.items()))
        periods = set(self.total)
        if not periods:
            for grouped in (*self.waits.values(), *self.sql.values()):
                periods.update(grouped)
        n = len(periods)
        mean = sum(v for _, v in series) / len(series) if series else None
        peak = max(v for _, v in series) if series else None
        return Insights(mean, peak, self._io_pct(), self._top(self.waits, n), self._top(self.sql, n), series, period)

    def _io_pct(self) -> float | None:
        if not self.total:
            return None
        load = sum(self.total.values())
        if load <= 0.0:
            return 0.0  # no load at all: nothing waited on IO:DataFileRead
        if not self.waits:
            return None  # load without a wait-event breakdown: unmeasured
        io = sum(v for t, v in self.io.items() if t in self.total)
        return min(100.0, 100.0 * io / load)

    @staticmethod
    def _top(groups: dict[str, dict[float, float]], n: int) -> tuple[tuple[str, float], ...]:
        if n == 0:
            return ()
        ranked = sorted(((name, sum(points.values()) / n) for name, points in groups.items()), key=lambda kv: (-kv[1], kv[0]))
        return tuple(ranked[:TOP])
