"""The reference cluster's stand-in for Aurora Performance Insights: GetResourceMetrics over its PostgreSQL's sampled sessions.

moto has no Performance Insights, so the plugin's PI reader would have nothing to read
locally. `serve_insights(dsn, resource_id)` samples `pg_stat_activity` once a second in a
thread (the active client sessions of the server, not its own; each one's wait event, as
Aurora PostgreSQL names it, `IO:DataFileRead` of type `IO`, or `CPU` when not waiting, and its
SQL text, cut to PI's 500 bytes), keeps the last two hours, and answers the PI API as botocore
sends it (AWS JSON 1.1: POST `/`, `X-Amz-Target: PerformanceInsightsv20180227.<Operation>`,
epoch-second timestamps) on 127.0.0.1.

Covered: `GetResourceMetrics` for ServiceType `RDS` and the one identifier served; metrics
`db.load` and `db.sampledload` (the same here) with `.avg`, `.min`, `.max`, `.sum`,
`.sample_count`, per period of the samples' active-session counts; `GroupBy` `db.wait_event`,
`db.wait_event_type` and `db.sql` with `Dimensions` and `Limit` (top keys by load over the
window); `Filter` on those groups' dimensions; `PeriodInSeconds` (1, 60, 300, 3600, 86400, or
chosen for 100-200 points); `PeriodAlignment`; `MaxResults`/`NextToken` over MetricList. As on
AWS, every query answers its dimensionless total first, then its keys. A period without any
sample has no datapoint. An unknown identifier is `NotAuthorizedException`, a bad argument
`InvalidArgumentException`, any other operation `UnknownOperationException` naming it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import threading
import time
import uuid
import zlib
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import urlsplit

from pytest_trinity.services.ports import LOOPBACK

TARGET_PREFIX = "PerformanceInsightsv20180227."
CONTENT_TYPE = "application/x-amz-json-1.1"
PERIODS_S = (1, 60, 300, 3600, 86400)
STATS: dict[str, Callable[[list[int]], float]] = {
    "avg": lambda xs: sum(xs) / len(xs), "min": lambda xs: float(min(xs)), "max": lambda xs: float(max(xs)),
    "sum": lambda xs: float(sum(xs)), "sample_count": lambda xs: float(len(xs)),
}
LOAD_METRICS = ("db.load", "db.sampledload")
GROUPS: dict[str, tuple[str, ...]] = {
    "db.wait_event": ("db.wait_event.name", "db.wait_event.type"),
    "db.wait_event_type": ("db.wait_event_type.name",),
    "db.sql": ("db.sql.id", "db.sql.db_id", "db.sql.statement"),
}
DIMENSIONS = frozenset(d for dims in GROUPS.values() for d in dims)
MAX_QUERIES = 15
MAX_PERIODS = 20_000  # datapoints per series the stand-in will compute
MAX_BODY = 1 << 20
SQL_BYTES = 500  # PI returns at most 500 bytes of an element
SAMPLE_SQL = ("SELECT wait_event_type, wait_event, query FROM pg_stat_activity"
              " WHERE state = 'active' AND pid <> pg_backend_pid() AND backend_type IN ('client backend', 'parallel worker')")
QUERY_TIMEOUT_S = 5.0
START_TIMEOUT_S = 15.0


class InsightsError(RuntimeError):
    """The stand-in could not start: the message names the database and what failed."""


@dataclass(frozen=True)
class Session:
    """One active session in one sample."""

    wait_type: str  # "IO", "Lock", …; "CPU" when not waiting
    wait_name: str  # "IO:DataFileRead", "CPU"
    sql: str

    def dimension(self, name: str) -> str:
        if name in ("db.wait_event.name",):
            return self.wait_name
        if name in ("db.wait_event.type", "db.wait_event_type.name"):
            return self.wait_type
        if name == "db.sql.statement":
            return self.sql
        digest = hashlib.sha1(self.sql.encode("utf-8")).hexdigest().upper()
        return digest[:40] if name == "db.sql.id" else f"pi-{zlib.crc32(self.sql.encode('utf-8'))}"


@dataclass(frozen=True)
class Sample:
    """The active sessions seen at one instant (epoch seconds)."""

    ts: float
    sessions: tuple[Session, ...]


def session_of(wait_type: str | None, wait_event: str | None, query: str | None) -> Session:
    """A pg_stat_activity row as PI names it: `Type:Event`, or `CPU` when the backend waits on nothing."""
    sql = (query or "").encode("utf-8")[:SQL_BYTES].decode("utf-8", "ignore")
    if not wait_type:
        return Session("CPU", "CPU", sql)
    return Session(wait_type, f"{wait_type}:{wait_event}" if wait_event else wait_type, sql)


class ApiError(Exception):
    """An AWS-shaped error: its `__type`, its message and the HTTP status."""

    def __init__(self, kind: str, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.kind, self.message, self.status = kind, message, status


def _number(request: dict[str, Any], name: str, required: bool = True) -> float | None:
    value = request.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, int | float) or isinstance(value, bool) or not math.isfinite(value):
        raise ApiError("InvalidArgumentException", f"{name} must be a timestamp in epoch seconds, not {value!r}")
    return float(value)


def _period(request: dict[str, Any], start: float, end: float) -> int:
    period = request.get("PeriodInSeconds")
    if period is None:  # PI aims at 100-200 datapoints
        return next((p for p in PERIODS_S if (end - start) / p <= 200), PERIODS_S[-1])
    if period not in PERIODS_S:
        raise ApiError("InvalidArgumentException", f"PeriodInSeconds must be one of {', '.join(map(str, PERIODS_S))}, not {period!r}")
    return int(period)


@dataclass(frozen=True)
class _Query:
    metric: str
    stat: Callable[[list[int]], float]
    group: tuple[str, ...] | None  # the dimensions keyed on
    limit: int
    filter: tuple[tuple[str, str], ...]

    def matches(self, session: Session) -> bool:
        return all(session.dimension(d) == v for d, v in self.filter)


def _query(raw: Any, index: int) -> _Query:
    where = f"MetricQueries[{index}]"
    if not isinstance(raw, dict) or not isinstance(raw.get("Metric"), str):
        raise ApiError("InvalidArgumentException", f"{where}.Metric is required")
    metric = raw["Metric"]
    base, _, stat = metric.rpartition(".")
    if base not in LOAD_METRICS or stat not in STATS:
        raise ApiError("InvalidArgumentException",
                       f"{where}.Metric {metric!r} is not served here: use db.load or db.sampledload with .{', .'.join(STATS)}")
    group: tuple[str, ...] | None = None
    limit = 10
    by = raw.get("GroupBy")
    if by is not None:
        name = by.get("Group") if isinstance(by, dict) else None
        if name not in GROUPS:
            raise ApiError("InvalidArgumentException", f"{where}.GroupBy.Group {name!r} is not served here: use one of {', '.join(GROUPS)}")
        wanted = by.get("Dimensions") or list(GROUPS[name])
        if not isinstance(wanted, list) or any(d not in GROUPS[name] for d in wanted):
            raise ApiError("InvalidArgumentException", f"{where}.GroupBy.Dimensions {wanted!r}: group {name} has {', '.join(GROUPS[name])}")
        group = tuple(dict.fromkeys(wanted))
        limit = by.get("Limit", 10)
        if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 25:
            raise ApiError("InvalidArgumentException", f"{where}.GroupBy.Limit must be 1 to 25, not {limit!r}")
    filters = raw.get("Filter") or {}
    if not isinstance(filters, dict) or any(k not in DIMENSIONS or not isinstance(v, str) for k, v in filters.items()):
        raise ApiError("InvalidArgumentException", f"{where}.Filter {filters!r}: filter on {', '.join(sorted(DIMENSIONS))}")
    return _Query(metric, STATS[stat], group, limit, tuple(sorted(filters.items())))


def resource_metrics(samples: Sequence[Sample], request: dict[str, Any], resource_id: str) -> dict[str, Any]:
    """A GetResourceMetrics response computed from `samples`; `ApiError` for a request AWS would refuse."""
    if request.get("ServiceType") != "RDS":
        raise ApiError("InvalidArgumentException", f"ServiceType must be RDS here, not {request.get('ServiceType')!r}")
    identifier = request.get("Identifier")
    if identifier != resource_id:
        raise ApiError("NotAuthorizedException", f"no Performance Insights data for Identifier {identifier!r} (this endpoint serves {resource_id})")
    start, end = _number(request, "StartTime"), _number(request, "EndTime")
    assert start is not None and end is not None
    if end <= start:
        raise ApiError("InvalidArgumentException", "EndTime must be later than StartTime")
    raw_queries = request.get("MetricQueries")
    if not isinstance(raw_queries, list) or not 1 <= len(raw_queries) <= MAX_QUERIES:
        raise ApiError("InvalidArgumentException", f"MetricQueries must list 1 to {MAX_QUERIES} queries")
    queries = [_query(q, i) for i, q in enumerate(raw_queries)]
    period = _period(request, start, end)
    alignment = request.get("PeriodAlignment", "END_TIME")
    if alignment not in ("END_TIME", "START_TIME"):
        raise ApiError("InvalidArgumentException", f"PeriodAlignment must be END_TIME or START_TIME, not {alignment!r}")
    aligned_start = math.floor(start / period) * period
    aligned_end = math.ceil(end / period) * period
    n = int((aligned_end - aligned_start) // period)
    if n > MAX_PERIODS:
        raise ApiError("InvalidArgumentException", f"{n} periods of {period} s: ask for at most {MAX_PERIODS} (a larger PeriodInSeconds)")
    buckets: list[list[Sample]] = [[] for _ in range(n)]
    for sample in samples:
        i = math.floor((sample.ts - aligned_start) / period)
        if 0 <= i < n:
            buckets[i].append(sample)
    shift = 0 if alignment == "START_TIME" else period
    stamps = [float(aligned_start + i * period + shift) for i in range(n)]
    metric_list: list[dict[str, Any]] = []
    for query in queries:
        metric_list.extend(_answer(query, buckets, stamps))
    page = _page(metric_list, request)
    response: dict[str, Any] = {"AlignedStartTime": float(aligned_start), "AlignedEndTime": float(aligned_end),
                                "Identifier": resource_id, "MetricList": page[0]}
    if page[1] is not None:
        response["NextToken"] = page[1]
    return response


def _series(stat: Callable[[list[int]], float], buckets: list[list[Sample]], stamps: list[float],
            count: Callable[[Sample], int]) -> list[dict[str, float]]:
    return [{"Timestamp": t, "Value": stat([count(s) for s in bucket])} for t, bucket in zip(stamps, buckets, strict=True) if bucket]


def _answer(query: _Query, buckets: list[list[Sample]], stamps: list[float]) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = [{"Key": {"Metric": query.metric},
                                      "DataPoints": _series(query.stat, buckets, stamps,
                                                            lambda s: sum(1 for x in s.sessions if query.matches(x)))}]
    if query.group is None:
        return entries
    group = query.group
    load: dict[tuple[str, ...], int] = {}
    for bucket in buckets:
        for sample in bucket:
            for session in sample.sessions:
                if query.matches(session):
                    key = tuple(session.dimension(d) for d in group)
                    load[key] = load.get(key, 0) + 1
    top = sorted(load, key=lambda k: (-load[k], k))[:query.limit]
    for key in top:
        def count(sample: Sample, key: tuple[str, ...] = key) -> int:
            return sum(1 for x in sample.sessions if query.matches(x) and tuple(x.dimension(d) for d in group) == key)

        entries.append({"Key": {"Metric": query.metric, "Dimensions": dict(zip(group, key, strict=True))},
                        "DataPoints": _series(query.stat, buckets, stamps, count)})
    return entries


def _page(items: list[dict[str, Any]], request: dict[str, Any]) -> tuple[list[dict[str, Any]], str | None]:
    size = request.get("MaxResults")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or not 0 <= size <= 25):
        raise ApiError("InvalidArgumentException", f"MaxResults must be 0 to 25, not {size!r}")
    token = request.get("NextToken")
    offset = 0
    if token is not None:
        if not isinstance(token, str) or not token.startswith("offset-") or not token[7:].isdigit():
            raise ApiError("InvalidArgumentException", f"NextToken {token!r} was not given by this endpoint")
        offset = int(token[7:])
    if not size:
        return items[offset:], None
    end = offset + size
    return items[offset:end], (f"offset-{end}" if end < len(items) else None)


def _where(dsn: str) -> str:
    """The DSN without user or password: host, port and database, for messages."""
    parts = urlsplit(dsn)
    return f"{parts.hostname or '?'}:{parts.port or 5432}{parts.path or ''}"


class _Sampler(threading.Thread):
    """Samples pg_stat_activity every `interval_s` into a bounded deque, in its own asyncio loop."""

    def __init__(self, dsn: str, interval_s: float, keep_s: float) -> None:
        super().__init__(name="trinity-insights-sampler", daemon=True)
        self.dsn, self.interval_s = dsn, interval_s
        self.samples: deque[Sample] = deque(maxlen=max(1, int(keep_s / interval_s)))
        self.lock = threading.Lock()
        self.error: str | None = None
        self.ready = threading.Event()
        self.stopping = threading.Event()

    def snapshot(self) -> tuple[list[Sample], str | None]:
        with self.lock:
            return list(self.samples), self.error

    def run(self) -> None:
        import asyncpg

        loop = asyncio.new_event_loop()
        conn: Any = None
        next_at = time.monotonic()
        try:
            while not self.stopping.is_set():
                try:
                    if conn is None:
                        conn = loop.run_until_complete(asyncpg.connect(self.dsn, timeout=QUERY_TIMEOUT_S))
                    ts = time.time()
                    rows = loop.run_until_complete(conn.fetch(SAMPLE_SQL, timeout=QUERY_TIMEOUT_S))
                    sample = Sample(ts, tuple(session_of(r[0], r[1], r[2]) for r in rows))
                    with self.lock:
                        self.samples.append(sample)
                        self.error = None
                except Exception as exc:  # keep sampling: PostgreSQL may come back
                    with self.lock:
                        self.error = f"{type(exc).__name__}: {exc}"
                    if conn is not None:
                        with contextlib.suppress(Exception):
                            loop.run_until_complete(conn.close(timeout=1.0))
                        conn = None
                self.ready.set()
                next_at = max(next_at + self.interval_s, time.monotonic())
                self.stopping.wait(next_at - time.monotonic())
        finally:
            if conn is not None:
                with contextlib.suppress(Exception):
                    loop.run_until_complete(conn.close(timeout=1.0))
            loop.close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, sampler: _Sampler, resource_id: str) -> None:
        super().__init__((LOOPBACK, 0), _Handler)
        self.sampler, self.resource_id = sampler, resource_id


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: the test run's output is the plugin's

    def _send(self, status: int, body: dict[str, Any], error: str | None = None) -> None:
        data = json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", CONTENT_TYPE)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        if error is not None:
            self.send_header("x-amzn-ErrorType", error)
        self.end_headers()
        self.wfile.write(data)

    def _fail(self, error: ApiError) -> None:
        self._send(error.status, {"__type": error.kind, "Message": error.message}, error.kind)

    def do_POST(self) -> None:
        server = cast(_Server, self.server)
        try:
            length = int(self.headers.get("Content-Length") or "-1")
        except ValueError:
            length = -1
        if not 0 <= length <= MAX_BODY:
            self.close_connection = True
            self._fail(ApiError("SerializationException", f"a JSON body with a Content-Length of at most {MAX_BODY} bytes is required"))
            return
        raw = self.rfile.read(length)
        target = self.headers.get("X-Amz-Target") or ""
        operation = target[len(TARGET_PREFIX):] if target.startswith(TARGET_PREFIX) else None
        try:
            if operation != "GetResourceMetrics":
                asked = target or "a request without X-Amz-Target"
                raise ApiError("UnknownOperationException",
                               f"the reference cluster's Performance Insights stand-in answers only GetResourceMetrics, not {asked}")
            try:
                request = json.loads(raw or b"{}")
            except ValueError:
                raise ApiError("SerializationException", "the body is not JSON") from None
            if not isinstance(request, dict):
                raise ApiError("SerializationException", "the body is not a JSON object")
            samples, error = server.sampler.snapshot()
            response = resource_metrics(samples, request, server.resource_id)
            if error is not None and not any(e["DataPoints"] for e in response["MetricList"]):
                raise ApiError("InternalServiceError", f"the stand-in cannot sample PostgreSQL: {error}", 500)
        except ApiError as exc:
            self._fail(exc)
            return
        self._send(200, response)

    def _not_post(self) -> None:
        self._fail(ApiError("UnknownOperationException", f"{self.command} is not served: the AWS JSON protocol is POST /", 405))

    do_GET = do_PUT = do_DELETE = do_PATCH = _not_post


@contextlib.contextmanager
def serve_insights(dsn: str, resource_id: str, interval_s: float = 1.0, keep_s: float = 7200.0) -> Iterator[str]:
    """Sample the PostgreSQL at `dsn` and serve PI's GetResourceMetrics for `resource_id`; yields `http://127.0.0.1:PORT`."""
    if not resource_id:
        raise InsightsError("serve_insights: resource_id is empty (the DbiResourceId the reader will ask for, e.g. db-TRINITY)")
    sampler = _Sampler(dsn, interval_s, keep_s)
    sampler.start()
    try:
        if not sampler.ready.wait(START_TIMEOUT_S):
            raise InsightsError(f"Performance Insights stand-in: no sample of pg_stat_activity at {_where(dsn)} within {START_TIMEOUT_S:.0f} s")
        samples, error = sampler.snapshot()
        if not samples:
            raise InsightsError(f"Performance Insights stand-in: cannot sample pg_stat_activity at {_where(dsn)}: {error}")
        server = _Server(sampler, resource_id)
        serving = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="trinity-insights-http", daemon=True)
        serving.start()
        try:
            yield f"http://{LOOPBACK}:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()
            serving.join(timeout=5.0)
    finally:
        sampler.stopping.set()
        sampler.join(timeout=QUERY_TIMEOUT_S * 2)
