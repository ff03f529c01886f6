"""The usage_logs store: a bounded connection pool over PostgreSQL (asyncpg) or SQLite.

Every batch of raw rows also updates `usage_rollup`, a per-minute count by key, protocol, path
and status, in the same transaction. /reports/usage reads the rollup, so a report costs a few
rows however large usage_logs has grown; its resolution is whole minutes: a report counts
the minutes that overlap [from, to).

The pool's size is the profile's `db_max_open`; it reports the gauges `db_open`, `db_in_use`
and `db_max_open` and counts `db_wait_count` (acquisitions that had to wait), like Go's
sql.DBStats. SQLite calls run in worker threads so they never block the event loop.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import deque
from typing import Any, Protocol

SQLITE_BUSY_TIMEOUT_S = 60.0  # how long a writer waits for another process's transaction
COLUMNS = ("ts", "node", "key_id", "proto", "path", "symbol", "status")
Row = tuple[float, str, str, str, str, str, int]
ROLLUP_S = 60  # rollup bucket width
ROLLUP_COLUMNS = ("key_id", "minute", "proto", "path", "status", "n")
ROLLUP_DDL = ("CREATE TABLE IF NOT EXISTS usage_rollup (key_id TEXT NOT NULL, minute BIGINT NOT NULL, proto TEXT NOT NULL,"
              " path TEXT NOT NULL, status INTEGER NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (key_id, minute, proto, path, status))")
ROLLUP_SUMMARY = ("SELECT proto, path, status, CAST(SUM(n) AS BIGINT) FROM usage_rollup WHERE key_id = {0} AND minute >= {1} AND minute < {2}"
                  " GROUP BY proto, path, status")


def rollup(rows: list[Row]) -> list[tuple[str, int, str, str, int, int]]:
    """Count a batch of raw rows by (key, minute, proto, path, status)."""
    counts: dict[tuple[str, int, str, str, int], int] = {}
    for ts, _node, key_id, proto, path, _symbol, status in rows:
        bucket = (key_id, int(ts // ROLLUP_S) * ROLLUP_S, proto, path, status)
        counts[bucket] = counts.get(bucket, 0) + 1
    return [(*bucket, n) for bucket, n in counts.items()]


def minute_range(t_from: float, t_to: float) -> tuple[int, float]:
    return int(t_from // ROLLUP_S) * ROLLUP_S, t_to


class Backend(Protocol):
    async def connect(self) -> Any: ...
    async def close(self, conn: Any) -> None: ...
    async def create_schema(self, conn: Any) -> None: ...
    async def insert(self, conn: Any, rows: list[Row]) -> None: ...
    async def summary(self, conn: Any, key_id: str, t_from: float, t_to: float) -> dict[str, Any]: ...
    async def trim(self, conn: Any, max_rows: int) -> tuple[int, int]: ...


class SqliteBackend:
    def __init__(self, path: str) -> None:
        self.path = path

    async def connect(self) -> sqlite3.Connection:
        def open_() -> sqlite3.Connection:
            # journal_mode=WAL is set once, with the schema (it is stored in the file): setting
            # it here would take a lock on every new connection, while other nodes write.
            conn = sqlite3.connect(self.path, timeout=SQLITE_BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA synchronous=OFF")
            return conn
        return await asyncio.to_thread(open_)

    async def close(self, conn: sqlite3.Connection) -> None:
        await asyncio.to_thread(conn.close)

    async def create_schema(self, conn: sqlite3.Connection) -> None:
        def run() -> None:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS usage_logs (id INTEGER PRIMARY KEY, ts REAL NOT NULL, node TEXT NOT NULL,"
                " key_id TEXT NOT NULL, proto TEXT NOT NULL, path TEXT NOT NULL, symbol TEXT NOT NULL, status INTEGER NOT NULL)"
            )
            conn.execute("CREATE INDEX IF NOT EXISTS usage_logs_key_ts ON usage_logs (key_id, ts)")
            conn.execute(ROLLUP_DDL)
        await asyncio.to_thread(run)

    async def insert(self, conn: sqlite3.Connection, rows: list[Row]) -> None:
        def run() -> None:
            # IMMEDIATE takes the write lock up front, through the busy timeout. A deferred BEGIN
            # would start as a reader and could fail at once with SQLITE_BUSY (snapshot) when
            # another node's commit lands before its first write.
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.executemany(f"INSERT INTO usage_logs ({', '.join(COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?)", rows)
                conn.executemany(
                    f"INSERT INTO usage_rollup ({', '.join(ROLLUP_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (key_id, minute, proto, path, status) DO UPDATE SET n = n + excluded.n", rollup(rows))
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        await asyncio.to_thread(run)

    async def summary(self, conn: sqlite3.Connection, key_id: str, t_from: float, t_to: float) -> dict[str, Any]:
        def run() -> list[tuple[Any, ...]]:
            return conn.execute(ROLLUP_SUMMARY.format("?", "?", "?"), (key_id, *minute_range(t_from, t_to))).fetchall()
        return _summarize(await asyncio.to_thread(run))

    async def trim(self, conn: sqlite3.Connection, max_rows: int) -> tuple[int, int]:
        """Delete the oldest rows beyond `max_rows`; return (rows before, rows after)."""
        def run() -> tuple[int, int]:
            conn.execute("BEGIN IMMEDIATE")
            try:
                before = conn.execute("SELECT COUNT(*) FROM usage_logs").fetchone()[0]
                conn.execute("DELETE FROM usage_logs WHERE id NOT IN (SELECT id FROM usage_logs ORDER BY id DESC LIMIT ?)", (max_rows,))
                after = conn.execute("SELECT COUNT(*) FROM usage_logs").fetchone()[0]
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            return before, after
        return await asyncio.to_thread(run)


class PostgresBackend:
    def __init__(self, dsn: str) -> None:
        self.dsn = dsn

    async def connect(self) -> Any:
        import asyncpg
        return await asyncpg.connect(self.dsn)

    async def close(self, conn: Any) -> None:
        await conn.close()

    async def create_schema(self, conn: Any) -> None:
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(727272)")
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS usage_logs (id BIGSERIAL PRIMARY KEY, ts DOUBLE PRECISION NOT NULL,"
                " node TEXT NOT NULL, key_id TEXT NOT NULL, proto TEXT NOT NULL, path TEXT NOT NULL,"
                " symbol TEXT NOT NULL, status INTEGER NOT NULL)"
            )
            await conn.execute("CREATE INDEX IF NOT EXISTS usage_logs_key_ts ON usage_logs (key_id, ts)")
            await conn.execute(ROLLUP_DDL)

    async def insert(self, conn: Any, rows: list[Row]) -> None:
        async with conn.transaction():
            await conn.copy_records_to_table("usage_logs", records=rows, columns=list(COLUMNS))
            await conn.executemany(
                f"INSERT INTO usage_rollup ({', '.join(ROLLUP_COLUMNS)}) VALUES ($1, $2, $3, $4, $5, $6)"
                " ON CONFLICT (key_id, minute, proto, path, status) DO UPDATE SET n = usage_rollup.n + excluded.n",
                rollup(rows))

    async def summary(self, conn: Any, key_id: str, t_from: float, t_to: float) -> dict[str, Any]:
        rows = await conn.fetch(ROLLUP_SUMMARY.format("$1", "$2", "$3"), key_id, *minute_range(t_from, t_to))
        return _summarize([tuple(r) for r in rows])

    async def trim(self, conn: Any, max_rows: int) -> tuple[int, int]:
        before = await conn.fetchval("SELECT COUNT(*) FROM usage_logs")
        await conn.execute("DELETE FROM usage_logs WHERE id NOT IN (SELECT id FROM usage_logs ORDER BY id DESC LIMIT $1)", max_rows)
        return before, await conn.fetchval("SELECT COUNT(*) FROM usage_logs")


def _summarize(rows: list[tuple[Any, ...]]) -> dict[str, Any]:
    by_status: dict[str, int] = {}
    by_proto: dict[str, int] = {}
    by_path: dict[str, int] = {}
    for proto, path, status, n in rows:
        by_status[str(status)] = by_status.get(str(status), 0) + n
        by_proto[proto] = by_proto.get(proto, 0) + n
        by_path[path] = by_path.get(path, 0) + n
    return {"requests": sum(by_status.values()), "by_status": by_status, "by_proto": by_proto, "by_path": by_path}


class DbPool:
    """At most `max_open` connections, opened on demand; waiters are served in order."""

    def __init__(self, backend: Backend, counters: Any, max_open: int) -> None:
        self.backend = backend
        self.counters = counters
        self.max_open = max_open
        self.open = 0
        self.in_use = 0
        self.idle: list[Any] = []
        self.waiters: deque[asyncio.Future[Any]] = deque()

    def gauges(self) -> None:
        c = self.counters
        c.db_open, c.db_in_use, c.db_max_open = self.open, self.in_use, self.max_open

    def resize(self, max_open: int) -> None:
        self.max_open = max_open
        self.gauges()

    async def acquire(self) -> Any:
        if self.idle:
            conn = self.idle.pop()
        elif self.open < self.max_open:
            self.open += 1
            try:
                conn = await self.backend.connect()
            except BaseException:
                self.open -= 1
                raise
        else:
            self.counters.db_wait_count += 1
            fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self.waiters.append(fut)
            try:
                conn = await fut
            except asyncio.CancelledError:
                if fut.done() and not fut.cancelled():
                    self.release(fut.result())
                raise
        self.in_use += 1
        self.gauges()
        return conn

    def release(self, conn: Any, broken: bool = False) -> None:
        self.in_use -= 1
        if broken or self.open > self.max_open:
            self.open -= 1
            asyncio.ensure_future(self._close_quietly(conn))
        else:
            while self.waiters:
                fut = self.waiters.popleft()
                if not fut.done():
                    fut.set_result(conn)
                    self.gauges()
                    return
            self.idle.append(conn)
        self.gauges()

    async def _close_quietly(self, conn: Any) -> None:
        try:
            await self.backend.close(conn)
        except Exception:  # closing a broken connection may fail; it is gone either way
            pass

    async def run(self, op: str, *args: Any) -> Any:
        conn = await self.acquire()
        broken = False
        try:
            return await getattr(self.backend, op)(conn, *args)
        except (OSError, ConnectionError):
            broken = True
            raise
        finally:
            self.release(conn, broken)

    async def close(self) -> None:
        idle, self.idle = self.idle, []
        for conn in idle:
            await self._close_quietly(conn)
        self.open -= len(idle)
        self.gauges()
