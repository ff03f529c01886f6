"""Performance Insights: the reader (cloud/insights.py) and the reference cluster's stand-in endpoint (reference/insights.py).

moto has no Performance Insights API, so the reader is checked two ways: against recorded
response shapes through botocore's Stubber (which validates our request and the response
against botocore's PI service model), and end to end against the stand-in, which samples a
real PostgreSQL and answers over HTTP as PI does.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber

from pytest_trinity.cloud.clients import CloudError
from pytest_trinity.cloud.insights import MAX_PAGES, QUERIES, Insights, pi_period, read_insights, without_literals
from pytest_trinity.reference.insights import ApiError, InsightsError, Sample, resource_metrics, serve_insights, session_of
from pytest_trinity.services.ports import free_port
from pytest_trinity.services.postgres import PostgresServer, run_postgres

RID = "db-TRINITYAURORA1EXAMPLE0000"
START = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
END = START + timedelta(minutes=3)
T = [START + timedelta(minutes=i) for i in range(3)]
LONG_SQL = "SELECT key_id, proto, path, status FROM usage_logs WHERE ts >= $1 AND ts < $2 AND key_id = $3 " + "AND symbol <> 'x' " * 20


def _pi() -> Any:
    return boto3.client("pi", region_name="us-east-2", aws_access_key_id="testing", aws_secret_access_key="testing")


def _points(*values: float) -> list[dict[str, Any]]:
    return [{"Timestamp": t, "Value": v} for t, v in zip(T, values, strict=False)]


def _wait(name: str, kind: str, *values: float) -> dict[str, Any]:
    return {"Key": {"Metric": "db.load.avg", "Dimensions": {"db.wait_event.name": name, "db.wait_event.type": kind}},
            "DataPoints": _points(*values)}


def _sql(sql_id: str, text: str, *values: float) -> dict[str, Any]:
    return {"Key": {"Metric": "db.load.avg", "Dimensions": {"db.sql.id": sql_id, "db.sql.db_id": f"pi-{sql_id}", "db.sql.statement": text}},
            "DataPoints": _points(*values)}


TOTAL = {"Key": {"Metric": "db.load.avg"}, "DataPoints": _points(4.0, 6.0, 2.0)}
# What PI answers for the reader's three queries: each query's total first, then its keys (recorded shape).
RECORDED: dict[str, Any] = {
    "AlignedStartTime": START, "AlignedEndTime": END, "Identifier": RID,
    "MetricList": [
        TOTAL,
        TOTAL,
        _wait("CPU", "CPU", 1.0, 2.0, 1.0),
        _wait("IO:DataFileRead", "IO", 2.0, 3.0, 0.5),
        _wait("Lock:transactionid", "Lock", 0.5, 0.5, 0.2),
        _wait("LWLock:BufferMapping", "LWLock", 0.3, 0.3, 0.2),
        _wait("IO:XactSync", "IO", 0.1, 0.1, 0.1),
        _wait("Client:ClientRead", "Client", 0.1, 0.1, 0.0),
        TOTAL,
        _sql("AAA", LONG_SQL, 3.0, 4.0, 1.0),
        _sql("BBB", "SELECT pg_sleep($1)", 1.0, 2.0, 1.0),
    ],
}


def _expected(**extra: Any) -> dict[str, Any]:
    return {"ServiceType": "RDS", "Identifier": RID, "MetricQueries": [dict(q) for q in QUERIES], "StartTime": START,
            "EndTime": END, "PeriodInSeconds": 60, "PeriodAlignment": "START_TIME", **extra}


def test_reader_measures_load_io_share_and_tops_from_a_recorded_response() -> None:
    pi = _pi()
    with Stubber(pi) as stub:
        stub.add_response("get_resource_metrics", RECORDED, _expected())
        found = read_insights(pi, RID, START, END, 45)  # 45 s rounds up to PI's 60
        stub.assert_no_pending_responses()
    assert found.active_sessions == pytest.approx(4.0)
    assert found.active_sessions_max == pytest.approx(6.0)
    assert found.io_datafileread_pct == pytest.approx(100 * 5.5 / 12.0)
    assert found.series == tuple((t.timestamp(), v) for t, v in zip(T, (4.0, 6.0, 2.0), strict=True))
    assert [name for name, _ in found.top_waits] == ["IO:DataFileRead", "CPU", "Lock:transactionid", "LWLock:BufferMapping", "IO:XactSync"]
    assert found.top_waits[0][1] == pytest.approx(5.5 / 3)
    assert found.top_sql[0] == (without_literals(LONG_SQL)[:200], pytest.approx(8.0 / 3))  # literals out: they may be customer data
    assert found.top_sql[1] == ("SELECT pg_sleep($1)", pytest.approx(4.0 / 3))
    assert found.period_s == 60
    data = json.loads(json.dumps(found.to_json()))
    assert data["top_waits"][0] == {"wait_event": "IO:DataFileRead", "active_sessions": pytest.approx(5.5 / 3)}
    assert data["series"][1] == [T[1].timestamp(), 6.0]


def test_reader_takes_a_bare_wait_name_of_type_io_as_datafileread() -> None:
    pi = _pi()
    answer = {"MetricList": [TOTAL, _wait("DataFileRead", "IO", 1.0, 1.5, 0.5), _wait("CPU", "CPU", 3.0, 4.5, 1.5)]}
    with Stubber(pi) as stub:
        stub.add_response("get_resource_metrics", answer, _expected())
        found = read_insights(pi, RID, START, END, 60)
    assert found.io_datafileread_pct == pytest.approx(25.0)


def test_reader_without_datapoints_is_unmeasured_not_zero() -> None:
    pi = _pi()
    empty = {"MetricList": [{"Key": {"Metric": "db.load.avg"}, "DataPoints": []},
                            {"Key": {"Metric": "db.load.avg", "Dimensions": {"db.wait_event.name": "CPU", "db.wait_event.type": "CPU"}},
                             "DataPoints": []}]}
    with Stubber(pi) as stub:
        stub.add_response("get_resource_metrics", empty, _expected())
        found = read_insights(pi, RID, START, END, 60)
    assert found == Insights(None, None, None, (), (), (), 60)
    assert found.to_json()["io_datafileread_pct"] is None


def test_reader_with_load_but_no_io_wait_measures_zero_share() -> None:
    pi = _pi()
    with Stubber(pi) as stub:
        stub.add_response("get_resource_metrics", {"MetricList": [TOTAL, _wait("CPU", "CPU", 4.0, 6.0, 2.0)]}, _expected())
        found = read_insights(pi, RID, START, END, 60)
    assert found.io_datafileread_pct == 0.0
    assert found.top_waits == (("CPU", pytest.approx(4.0)),)


def test_reader_follows_next_token_and_merges_the_pages() -> None:
    pi = _pi()
    items = RECORDED["MetricList"]
    with Stubber(pi) as stub:
        stub.add_response("get_resource_metrics", {"MetricList": items[:4], "NextToken": "page-2"}, _expected())
        stub.add_response("get_resource_metrics", {"MetricList": items[4:9], "NextToken": "page-3"}, _expected(NextToken="page-2"))
        stub.add_response("get_resource_metrics", {"MetricList": items[9:]}, _expected(NextToken="page-3"))
        found = read_insights(pi, RID, START, END, 60)
        stub.assert_no_pending_responses()
    with Stubber(pi) as stub:
        stub.add_response("get_resource_metrics", RECORDED, _expected())
        whole = read_insights(pi, RID, START, END, 60)
    assert found == whole
    assert found.io_datafileread_pct == pytest.approx(100 * 5.5 / 12.0)


def test_reader_bounds_the_pages() -> None:
    pi = _pi()
    with Stubber(pi) as stub:
        stub.add_response("get_resource_metrics", {"MetricList": [TOTAL], "NextToken": "t0"}, _expected())
        for i in range(1, MAX_PAGES):
            stub.add_response("get_resource_metrics", {"MetricList": [TOTAL], "NextToken": f"t{i}"}, _expected(NextToken=f"t{i - 1}"))
        with pytest.raises(CloudError, match=f"more than {MAX_PAGES} pages"):
            read_insights(pi, RID, START, END, 60)


def test_reader_error_names_the_call_and_the_resource() -> None:
    pi = _pi()
    with Stubber(pi) as stub:
        stub.add_client_error("get_resource_metrics", "NotAuthorizedException", "not authorized for this resource", 400, expected_params=_expected())
        with pytest.raises(CloudError) as caught:
            read_insights(pi, RID, START, END, 60)
    assert str(caught.value) == f"Performance Insights GetResourceMetrics({RID}): NotAuthorizedException: not authorized for this resource"


def test_period_rounds_up_to_what_pi_accepts() -> None:
    assert [pi_period(p) for p in (1, 2, 60, 61, 300, 900, 3600, 7200, 86400, 10**6)] == [1, 60, 60, 300, 300, 3600, 3600, 86400, 86400, 86400]
    with pytest.raises(ValueError, match="period_s"):
        pi_period(0)
    with pytest.raises(ValueError, match="before it starts"):
        read_insights(_pi(), RID, END, START, 60)


# --- the stand-in's computation, from given samples -------------------------------------------------

def _samples() -> list[Sample]:
    io, cpu, sleep = session_of("IO", "DataFileRead", "SELECT count(*) FROM big"), session_of(None, None, "SELECT 1"), \
        session_of("Timeout", "PgSleep", "SELECT pg_sleep(2)")
    base = 1_000_020.0  # a multiple of 60 (16667 * 60)
    return [Sample(base + 0.5, (io, cpu)), Sample(base + 1.5, (io, io, sleep)), Sample(base + 3.5, ()), Sample(base + 3.9, (cpu,))]


def _ask(**changes: Any) -> dict[str, Any]:
    request: dict[str, Any] = {"ServiceType": "RDS", "Identifier": RID, "StartTime": 1_000_020, "EndTime": 1_000_024.5,
                               "PeriodInSeconds": 1, "MetricQueries": [{"Metric": "db.load.avg", "GroupBy": {"Group": "db.wait_event"}}]}
    request.update(changes)
    return request


def test_standin_names_waits_as_aurora_postgresql_does() -> None:
    assert session_of("IO", "DataFileRead", "SELECT 1") == session_of("IO", "DataFileRead", "SELECT 1")
    assert (session_of("IO", "DataFileRead", "q").wait_name, session_of("IO", "DataFileRead", "q").wait_type) == ("IO:DataFileRead", "IO")
    assert (session_of(None, None, "q").wait_name, session_of(None, None, "q").wait_type) == ("CPU", "CPU")
    assert len(session_of(None, None, "é" * 400).sql.encode("utf-8")) <= 500


def test_standin_load_per_period_is_the_mean_of_its_samples() -> None:
    answer = resource_metrics(_samples(), _ask(PeriodAlignment="START_TIME"), RID)
    total, *waits = answer["MetricList"]
    assert answer["AlignedStartTime"] == 1_000_020.0 and answer["AlignedEndTime"] == 1_000_025.0
    # periods 0, 1 and 3 have samples; 2 and 4 have none, so no datapoint (unmeasured), not 0
    assert total == {"Key": {"Metric": "db.load.avg"}, "DataPoints": [
        {"Timestamp": 1_000_020.0, "Value": 2.0}, {"Timestamp": 1_000_021.0, "Value": 3.0}, {"Timestamp": 1_000_023.0, "Value": 0.5}]}
    assert [w["Key"]["Dimensions"] for w in waits] == [
        {"db.wait_event.name": "IO:DataFileRead", "db.wait_event.type": "IO"}, {"db.wait_event.name": "CPU", "db.wait_event.type": "CPU"},
        {"db.wait_event.name": "Timeout:PgSleep", "db.wait_event.type": "Timeout"}]
    assert [p["Value"] for p in waits[0]["DataPoints"]] == [1.0, 2.0, 0.0]
    end_aligned = resource_metrics(_samples(), _ask(), RID)["MetricList"][0]["DataPoints"]
    assert [p["Timestamp"] for p in end_aligned] == [1_000_021.0, 1_000_022.0, 1_000_024.0]


def test_standin_groups_filters_limits_and_pages() -> None:
    by_sql = resource_metrics(_samples(), _ask(MetricQueries=[
        {"Metric": "db.load.max", "GroupBy": {"Group": "db.sql", "Dimensions": ["db.sql.statement"], "Limit": 1}},
        {"Metric": "db.load.sum", "Filter": {"db.wait_event.type": "IO"}}]), RID)["MetricList"]
    assert [e["Key"] for e in by_sql] == [{"Metric": "db.load.max"},
                                          {"Metric": "db.load.max", "Dimensions": {"db.sql.statement": "SELECT count(*) FROM big"}},
                                          {"Metric": "db.load.sum"}]
    assert [p["Value"] for p in by_sql[2]["DataPoints"]] == [1.0, 2.0, 0.0]
    pages, token = [], None
    for _ in range(10):
        answer = resource_metrics(_samples(), _ask(MaxResults=1, **({"NextToken": token} if token else {})), RID)
        pages.extend(answer["MetricList"])
        token = answer.get("NextToken")
        if token is None:
            break
    assert pages == resource_metrics(_samples(), _ask(), RID)["MetricList"]


@pytest.mark.parametrize(("changes", "kind", "names"), [
    ({"Identifier": "db-OTHER"}, "NotAuthorizedException", "db-OTHER"),
    ({"PeriodInSeconds": 30}, "InvalidArgumentException", "PeriodInSeconds"),
    ({"MetricQueries": [{"Metric": "os.cpuUtilization.user.avg"}]}, "InvalidArgumentException", "os.cpuUtilization.user.avg"),
    ({"MetricQueries": [{"Metric": "db.load.avg", "GroupBy": {"Group": "db.host"}}]}, "InvalidArgumentException", "db.host"),
    ({"EndTime": 1_000_000}, "InvalidArgumentException", "EndTime"),
    ({"NextToken": "forged"}, "InvalidArgumentException", "forged"),
])
def test_standin_refuses_what_aws_would(changes: dict[str, Any], kind: str, names: str) -> None:
    with pytest.raises(ApiError) as caught:
        resource_metrics(_samples(), _ask(**changes), RID)
    assert caught.value.kind == kind and names in caught.value.message


# --- end to end: a real PostgreSQL, the stand-in over HTTP, boto3's pi client ------------------------

@pytest.fixture(scope="module")
def pg() -> Iterator[PostgresServer]:
    with run_postgres() as server:
        yield server


@pytest.fixture
def creds(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing"), ("AWS_DEFAULT_REGION", "us-east-2")):
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_PROFILE", raising=False)


def _client(url: str) -> Any:
    return boto3.client("pi", region_name="us-east-2", endpoint_url=url)


def _utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _sleep_until(ts: float) -> None:
    for _ in range(100):
        left = ts - time.time()
        if left <= 0:
            return
        time.sleep(min(left, 0.5))


async def _busy(dsn: str, sleepers: int, sleep_s: float, scanners: int = 0, scan_s: float = 0.0) -> float:
    """Hold `sleepers` sessions in pg_sleep and `scanners` in seq scans until done; return when all were first active."""
    import asyncpg

    conns = [await asyncpg.connect(dsn) for _ in range(sleepers + scanners + 1)]
    watch = conns.pop()
    try:
        if scanners:
            await watch.execute("CREATE UNLOGGED TABLE IF NOT EXISTS big AS SELECT g AS id, repeat('x', 900) AS pad FROM generate_series(1, 80000) g")

        async def scan(conn: Any, until: float) -> None:
            await conn.execute("SET max_parallel_workers_per_gather = 0")
            for _ in range(10_000):
                if time.time() >= until:
                    return
                await conn.fetchval("SELECT count(*) FROM big")

        began = time.time()
        tasks = [asyncio.ensure_future(c.fetch(f"SELECT pg_sleep({sleep_s})")) for c in conns[:sleepers]]
        tasks += [asyncio.ensure_future(scan(c, began + scan_s)) for c in conns[sleepers:]]
        for _ in range(100):
            active = await watch.fetchval("SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND pid <> pg_backend_pid()")
            if active >= sleepers + scanners:
                break
            await asyncio.sleep(0.05)
        started = time.time()
        await asyncio.gather(*tasks)
        return started
    finally:
        for conn in [*conns, watch]:
            await conn.close()


def test_end_to_end_idle_database_has_no_active_session(pg: PostgresServer, creds: None) -> None:
    with serve_insights(pg.dsn, RID, interval_s=0.2) as url:
        begin = time.time()
        _sleep_until(begin + 1.5)
        found = read_insights(_client(url), RID, _utc(begin), _utc(time.time()), 1)
    assert found.active_sessions == 0.0  # the sampler's own connection is not counted
    assert found.io_datafileread_pct == 0.0
    assert found.top_waits == () and found.top_sql == ()


def test_end_to_end_busy_sessions_are_measured(pg: PostgresServer, creds: None) -> None:
    with serve_insights(pg.dsn, RID) as url:  # one sample a second, as PI does
        started = asyncio.run(_busy(pg.dsn, sleepers=3, sleep_s=6.0))
        # whole seconds in which all three sessions were asleep: [ceil(started), +3 s)
        first = float(int(started) + 1)
        found = read_insights(_client(url), RID, _utc(first), _utc(first + 3), 1)
    assert found.active_sessions is not None and found.active_sessions >= 2
    assert found.series and all(t >= first for t, _ in found.series)
    assert any("pg_sleep" in sql for sql, _ in found.top_sql)
    assert found.top_waits[0][0] == "Timeout:PgSleep"
    assert found.io_datafileread_pct is not None and found.io_datafileread_pct < 50.0


def test_end_to_end_heavy_reads_wait_on_datafileread(pg: PostgresServer, creds: None) -> None:
    """Seq scans of a table larger than shared_buffers/4 go through a small ring, so every page is read from the OS."""
    with serve_insights(pg.dsn, RID, interval_s=0.1) as url:
        started = asyncio.run(_busy(pg.dsn, sleepers=0, sleep_s=0.0, scanners=2, scan_s=3.0))
        found = read_insights(_client(url), RID, _utc(started + 0.5), _utc(started + 2.5), 1)
    waits = dict(found.top_waits)
    assert found.io_datafileread_pct is not None and found.io_datafileread_pct > 0.0
    assert "IO:DataFileRead" in waits
    assert any("count(*) FROM big" in sql for sql, _ in found.top_sql)


def test_end_to_end_errors_are_aws_shaped(pg: PostgresServer, creds: None) -> None:
    with serve_insights(pg.dsn, RID, interval_s=0.2) as url:
        pi = _client(url)
        now = time.time()
        with pytest.raises(CloudError, match=r"GetResourceMetrics\(db-OTHER\): NotAuthorizedException: .*db-OTHER"):
            read_insights(pi, "db-OTHER", _utc(now - 60), _utc(now), 60)
        with pytest.raises(ClientError) as caught:
            pi.describe_dimension_keys(ServiceType="RDS", Identifier=RID, StartTime=_utc(now - 60), EndTime=_utc(now),
                                       Metric="db.load.avg", GroupBy={"Group": "db.sql"})
        assert caught.value.response["Error"]["Code"] == "UnknownOperationException"
        assert "DescribeDimensionKeys" in caught.value.response["Error"]["Message"]
        # pagination over HTTP, as botocore sends and parses it
        ask = {"ServiceType": "RDS", "Identifier": RID, "StartTime": _utc(now - 60), "EndTime": _utc(now + 1), "PeriodInSeconds": 60,
               "MetricQueries": [{"Metric": "db.load.avg"}, {"Metric": "db.load.max"}]}
        first = pi.get_resource_metrics(**ask, MaxResults=1)
        assert len(first["MetricList"]) == 1 and first["NextToken"]
        rest = pi.get_resource_metrics(**ask, MaxResults=1, NextToken=first["NextToken"])
        assert [e["Key"]["Metric"] for e in first["MetricList"] + rest["MetricList"]] == ["db.load.avg", "db.load.max"]
        assert "NextToken" not in rest
        with pytest.raises(urllib.error.HTTPError) as got:
            urllib.request.urlopen(url, timeout=5)
        assert got.value.code == 405 and json.loads(got.value.read())["__type"] == "UnknownOperationException"


def test_standin_without_a_database_says_where_and_hides_the_password() -> None:
    port = free_port()
    with pytest.raises(InsightsError) as caught, serve_insights(f"postgresql://trinity:hunter2@127.0.0.1:{port}/usage", RID):
        pass
    assert f"127.0.0.1:{port}/usage" in str(caught.value)
    assert "hunter2" not in str(caught.value)
