"""runner/usage_logs.py against a real PostgreSQL: the trim keeps the newest rows under the
limit, the stress-row removal takes only the run's stress rows, and every bad input is a
UsageLogsError that names what to fix and never shows the DSN's password."""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from pytest_trinity.runner.usage_logs import BATCH_ROWS, TrimReport, UsageLogsError, remove_stress_rows, trim_to_limit
from pytest_trinity.services import free_port
from pytest_trinity.services.postgres import run_postgres
from pytest_trinity.targets import Secret, UsageLogs

PASSWORD = "s3cret-Pw-9x"
T0 = 1_700_000_000.0  # row i is written at T0 + i seconds

# like the reference cluster's (reference/db.py)
EPOCH_TABLE = """CREATE TABLE {name} (id BIGSERIAL PRIMARY KEY, ts DOUBLE PRECISION NOT NULL, node TEXT NOT NULL,
  key_id TEXT NOT NULL, proto TEXT NOT NULL, path TEXT NOT NULL, symbol TEXT NOT NULL, status INTEGER NOT NULL)"""
FILL_EPOCH = """INSERT INTO {name} (ts, node, key_id, proto, path, symbol, status)
  SELECT {t0} + i, 'main', CASE WHEN i % 3 = 0 THEN 'stress-a' WHEN i % 3 = 1 THEN 'stress-b' ELSE 'customer' END,
         'http', '/price', 'BTC-USD', 200 FROM generate_series(1, {n}) AS i"""
TZ_TABLE = "CREATE TABLE {name} (id BIGSERIAL PRIMARY KEY, created_at TIMESTAMPTZ NOT NULL, api_key_id INTEGER NOT NULL)"
FILL_TZ = "INSERT INTO {name} (created_at, api_key_id) SELECT to_timestamp({t0} + i), i % 4 FROM generate_series(1, {n}) AS i"


def sql(dsn: str, *statements: str) -> list[Any]:
    """Run statements on a fresh connection; the value of the last one."""
    import asyncpg

    async def go() -> list[Any]:
        conn = await asyncpg.connect(dsn, timeout=10)
        try:
            out: list[Any] = []
            for s in statements:
                out = [tuple(r) for r in await conn.fetch(s)]
            return out
        finally:
            await conn.close()
    return asyncio.run(go())


@pytest.fixture(scope="module")
def pg() -> Iterator[str]:
    """A throw-away PostgreSQL (trust auth: a password in the DSN is accepted and ignored)."""
    with run_postgres() as server:
        yield server.dsn


@pytest.fixture
def dsn(pg: str) -> str:
    return pg.replace("postgresql://postgres@", f"postgresql://postgres:{PASSWORD}@")


def usage(dsn: str, **kw: Any) -> UsageLogs:
    return UsageLogs(Secret("env:TT_USAGE_DSN", dsn), **kw)


def epoch_table(dsn: str, name: str, n: int) -> None:
    sql(dsn, f"DROP TABLE IF EXISTS {name} CASCADE", EPOCH_TABLE.format(name=name), FILL_EPOCH.format(name=name, t0=T0, n=n))


def assert_safe(exc: pytest.ExceptionInfo[UsageLogsError], dsn: str) -> str:
    message = str(exc.value)
    assert PASSWORD not in message and dsn not in message, message
    assert "env:TT_USAGE_DSN" in message, message
    return message


def test_trim_keeps_the_newest_rows_under_the_limit(dsn: str) -> None:
    epoch_table(dsn, "usage_logs", 1200)
    report = trim_to_limit(usage(dsn), max_rows=1000)
    assert (report.action, report.table, report.before, report.deleted, report.after) == ("trim", "usage_logs", 1200, 201, 999)
    assert sql(dsn, "SELECT count(*), min(ts), max(ts) FROM usage_logs") == [(999, T0 + 202, T0 + 1200)]
    assert report.summary == "usage_logs: trimmed 201 of 1,200 rows, 999 left (limit 1,000: keeps the newest 999 by ts)"
    assert report.to_json() == {"action": "trim", "table": "usage_logs", "before": 1200, "deleted": 201, "after": 999,
                                "detail": "limit 1,000: keeps the newest 999 by ts"}

    again = trim_to_limit(usage(dsn), max_rows=1000)
    assert (again.before, again.deleted, again.after) == (999, 0, 999)
    assert "nothing to trim" in again.summary


def test_trim_deletes_in_batches(dsn: str) -> None:
    n = 2 * BATCH_ROWS + 1000
    epoch_table(dsn, "big_usage", n)
    report = trim_to_limit(usage(dsn, table="big_usage"), max_rows=500)
    assert (report.before, report.deleted, report.after) == (n, n - 499, 499)
    assert sql(dsn, "SELECT min(ts), max(ts) FROM big_usage") == [(T0 + n - 498, T0 + n)]


def test_trim_of_a_timestamptz_table_in_a_schema(dsn: str) -> None:
    sql(dsn, "CREATE SCHEMA IF NOT EXISTS app", "DROP TABLE IF EXISTS app.events",
        TZ_TABLE.format(name="app.events"), FILL_TZ.format(name="app.events", t0=T0, n=1200))
    report = trim_to_limit(usage(dsn, table="app.events", time_column="created_at", key_column="api_key_id"), max_rows=1000)
    assert (report.before, report.deleted, report.after) == (1200, 201, 999)
    rows = sql(dsn, "SELECT count(*), extract(epoch FROM min(created_at))::float8 FROM app.events")
    assert rows == [(999, T0 + 202)]


def test_stress_rows_since_a_time_of_the_given_keys_only(dsn: str) -> None:
    epoch_table(dsn, "usage_logs", 1200)
    since = T0 + 601  # rows 601..1200 are the run's
    report = remove_stress_rows(usage(dsn, stress_key_ids=("stress-a", "stress-b")), since)
    assert (report.action, report.before, report.deleted, report.after) == ("remove stress rows", 1200, 400, 800)
    left = dict(sql(dsn, "SELECT key_id, count(*) FROM usage_logs WHERE ts >= 1700000601 GROUP BY key_id"))
    assert left == {"customer": 200}
    assert sql(dsn, "SELECT count(*) FROM usage_logs WHERE ts < 1700000601") == [(600,)]
    assert report.summary == ("usage_logs: removed 400 stress rows of 1,200, 800 left "
                              "(ts >= 2023-11-14T22:23:21Z, key_id one of 2 stress key ids)")


def test_stress_rows_without_key_ids_are_every_row_since(dsn: str) -> None:
    epoch_table(dsn, "usage_logs", 1200)
    report = remove_stress_rows(usage(dsn), T0 + 1001)
    assert (report.deleted, report.after) == (200, 1000)
    assert sql(dsn, "SELECT max(ts) FROM usage_logs") == [(T0 + 1000,)]
    assert "every key" in report.detail


def test_stress_rows_of_a_timestamptz_table_with_integer_keys(dsn: str) -> None:
    sql(dsn, "DROP TABLE IF EXISTS tz_usage", TZ_TABLE.format(name="tz_usage"), FILL_TZ.format(name="tz_usage", t0=T0, n=1200))
    u = usage(dsn, table="tz_usage", time_column="created_at", key_column="api_key_id", stress_key_ids=("1", "2"))
    report = remove_stress_rows(u, T0 + 1001.5)  # rows 1002..1200: 199 rows, of keys 0..3
    expected = sum(1 for i in range(1002, 1201) if i % 4 in (1, 2))
    assert (report.before, report.deleted, report.after) == (1200, expected, 1200 - expected)
    assert sql(dsn, "SELECT count(*) FROM tz_usage WHERE created_at >= to_timestamp(1700001001.5) AND api_key_id IN (1, 2)") == [(0,)]
    assert sql(dsn, "SELECT count(*) FROM tz_usage WHERE created_at >= to_timestamp(1700001001.5)") == [(199 - expected,)]


def test_stress_rows_of_a_naive_timestamp_column_read_as_utc(dsn: str) -> None:
    sql(dsn, "DROP TABLE IF EXISTS naive_usage", "CREATE TABLE naive_usage (at TIMESTAMP NOT NULL, key_id TEXT NOT NULL)",
        f"INSERT INTO naive_usage SELECT to_timestamp({T0} + i) AT TIME ZONE 'UTC', 'k' FROM generate_series(1, 100) AS i")
    report = remove_stress_rows(usage(dsn, table="naive_usage", time_column="at"), T0 + 91)
    assert (report.deleted, report.after) == (10, 90)


def test_a_partitioned_table(dsn: str) -> None:
    sql(dsn, "DROP TABLE IF EXISTS part_usage",
        "CREATE TABLE part_usage (ts DOUBLE PRECISION NOT NULL, key_id TEXT NOT NULL) PARTITION BY RANGE (ts)",
        f"CREATE TABLE part_usage_a PARTITION OF part_usage FOR VALUES FROM (0) TO ({T0 + 600})",
        f"CREATE TABLE part_usage_b PARTITION OF part_usage FOR VALUES FROM ({T0 + 600}) TO (MAXVALUE)",
        f"INSERT INTO part_usage SELECT {T0} + i, 'k' FROM generate_series(1, 1200) AS i")
    report = trim_to_limit(usage(dsn, table="part_usage"), max_rows=1000)
    assert (report.deleted, report.after) == (201, 999)
    assert sql(dsn, "SELECT min(ts) FROM part_usage") == [(T0 + 202,)]


def test_a_missing_table_is_named(dsn: str) -> None:
    with pytest.raises(UsageLogsError) as exc:
        trim_to_limit(usage(dsn, table="no_such_logs"), max_rows=1000)
    assert "no table no_such_logs" in assert_safe(exc, dsn)
    with pytest.raises(UsageLogsError) as exc:
        remove_stress_rows(usage(dsn, table="nope.usage_logs"), T0)
    assert "no table nope.usage_logs" in assert_safe(exc, dsn)


def test_a_bad_table_name_is_named(dsn: str) -> None:
    with pytest.raises(UsageLogsError) as exc:
        trim_to_limit(usage(dsn, table='usage_logs"; DROP TABLE usage_logs; --'), max_rows=1000)
    assert "is not an SQL identifier" in str(exc.value) and PASSWORD not in str(exc.value)


def test_a_view_is_not_a_table(dsn: str) -> None:
    epoch_table(dsn, "usage_logs", 10)
    sql(dsn, "CREATE OR REPLACE VIEW usage_view AS SELECT * FROM usage_logs")
    with pytest.raises(UsageLogsError) as exc:
        trim_to_limit(usage(dsn, table="usage_view"), max_rows=5)
    assert "usage_view is not a table" in assert_safe(exc, dsn)


def test_a_missing_column_is_named(dsn: str) -> None:
    epoch_table(dsn, "usage_logs", 10)
    with pytest.raises(UsageLogsError) as exc:
        trim_to_limit(usage(dsn, time_column="created"), max_rows=5)
    message = assert_safe(exc, dsn)
    assert "no column 'created'" in message and "[usage_logs].time_column" in message and "its columns: id, ts, node" in message
    with pytest.raises(UsageLogsError) as exc:
        remove_stress_rows(usage(dsn, key_column="api_key", stress_key_ids=("k",)), T0)
    assert "no column 'api_key'" in assert_safe(exc, dsn) and "[usage_logs].key_column" in str(exc.value)
    assert sql(dsn, "SELECT count(*) FROM usage_logs") == [(10,)]


def test_a_time_column_of_another_type_is_named(dsn: str) -> None:
    epoch_table(dsn, "usage_logs", 10)
    with pytest.raises(UsageLogsError) as exc:
        remove_stress_rows(usage(dsn, time_column="node"), T0)
    assert "column 'node' ([usage_logs].time_column) is of type text" in assert_safe(exc, dsn)


def test_an_unreachable_dsn_is_named_without_its_password() -> None:
    dead = f"postgresql://trinity:{PASSWORD}@127.0.0.1:{free_port()}/usage"
    with pytest.raises(UsageLogsError) as exc:
        trim_to_limit(usage(dead), max_rows=1000, timeout_s=5)
    assert "could not connect" in assert_safe(exc, dead)


@pytest.mark.parametrize("bad", [f"http://u:{PASSWORD}@127.0.0.1/db", f"postgresql://u:{PASSWORD}@127.0.0.1:port/db",
                                 f"host=127.0.0.1 password={PASSWORD}"])
def test_a_malformed_dsn_is_named_without_its_password(bad: str) -> None:
    with pytest.raises(UsageLogsError) as exc:
        remove_stress_rows(usage(bad), T0, timeout_s=5)
    assert "could not connect" in assert_safe(exc, bad)


def test_an_empty_dsn_names_its_variable() -> None:
    with pytest.raises(UsageLogsError, match="DSN is empty: set the environment variable that env:TT_USAGE_DSN names"):
        trim_to_limit(usage(""), max_rows=1000)


def test_a_wrong_database_is_postgresqls_error(dsn: str) -> None:
    wrong = dsn.rsplit("/", 1)[0] + "/no_such_db"
    with pytest.raises(UsageLogsError) as exc:
        trim_to_limit(usage(wrong), max_rows=1000)
    message = assert_safe(exc, wrong)
    assert "PostgreSQL refused the connection" in message and "no_such_db" in message


def test_bad_arguments(dsn: str) -> None:
    with pytest.raises(UsageLogsError, match="row limit must be a whole number >= 1, got 0"):
        trim_to_limit(usage(dsn), max_rows=0)
    with pytest.raises(UsageLogsError, match="'since' must be epoch seconds"):
        remove_stress_rows(usage(dsn), float("nan"))
    with pytest.raises(UsageLogsError, match="timeout must be > 0 s"):
        trim_to_limit(usage(dsn), max_rows=10, timeout_s=0)


def test_a_locked_table_times_out_with_a_clear_error(dsn: str) -> None:
    import asyncpg

    epoch_table(dsn, "usage_logs", 100)
    locked, release = threading.Event(), threading.Event()

    def hold_lock() -> None:
        async def go() -> None:
            conn = await asyncpg.connect(dsn, timeout=10)
            try:
                async with conn.transaction():
                    await conn.execute("LOCK TABLE usage_logs IN ACCESS EXCLUSIVE MODE")
                    locked.set()
                    for _ in range(300):  # at most 30 s
                        if release.is_set():
                            break
                        await asyncio.sleep(0.1)
            finally:
                await conn.close()
        asyncio.run(go())

    holder = threading.Thread(target=hold_lock, daemon=True)
    holder.start()
    try:
        assert locked.wait(20)
        with pytest.raises(UsageLogsError) as exc:
            trim_to_limit(usage(dsn), max_rows=10, timeout_s=3)
        assert "timed out after 3 s" in assert_safe(exc, dsn)
    finally:
        release.set()
        holder.join(30)
    assert sql(dsn, "SELECT count(*) FROM usage_logs") == [(100,)]


def test_called_from_inside_an_event_loop(dsn: str) -> None:
    epoch_table(dsn, "usage_logs", 20)

    async def inside() -> TrimReport:
        return trim_to_limit(usage(dsn), max_rows=10)
    assert asyncio.run(inside()).after == 9


def test_without_asyncpg_says_what_to_install(dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "asyncpg", None)  # `import asyncpg` now raises ImportError
    with pytest.raises(UsageLogsError, match=r"install pytest-trinity\[postgres\]") as exc:
        trim_to_limit(usage(dsn), max_rows=10)
    assert_safe(exc, dsn)
