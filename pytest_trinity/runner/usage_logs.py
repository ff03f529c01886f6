"""Trim a real target's usage_logs table in its PostgreSQL: under the plan's row limit before a
test, and rid of the run's stress rows in the restore.

The reference cluster trims through its admin API instead (runner/checklist.py). Here the plugin
connects to the target's database itself (asyncpg, the `postgres` extra), with a connect timeout
and a deadline on every statement, and deletes in batches of at most `BATCH_ROWS` rows (each its
own transaction, so a long trim makes progress and never holds a big lock), at most `MAX_BATCHES`
of them. Every failure is a `UsageLogsError` naming the table or column and the DSN's source
(`env:VAR`); the DSN's value and its password are never in a message.

Identifiers come from the targets file, already restricted to `[A-Za-z_][A-Za-z0-9_]*` (a table
may be `schema.table`); they are double-quoted here, so they are case-sensitive as written.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar
from urllib.parse import unquote, urlsplit

from pytest_trinity.targets import UsageLogs

T = TypeVar("T")

BATCH_ROWS = 50_000
MAX_BATCHES = 400  # 20 million rows per call
CONNECT_TIMEOUT_S = 10.0
CLOSE_TIMEOUT_S = 2.0

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# information_schema.columns.data_type -> how an epoch-seconds parameter ($1) compares with it
_SINCE = {
    "smallint": "$1::double precision",
    "integer": "$1::double precision",
    "bigint": "$1::double precision",
    "numeric": "$1::double precision",
    "real": "$1::double precision",
    "double precision": "$1::double precision",
    "timestamp with time zone": "to_timestamp($1::double precision)",
    "timestamp without time zone": "(to_timestamp($1::double precision) AT TIME ZONE 'UTC')",  # a naive timestamp is read as UTC
}
_TABLE_KINDS = ("r", "p")  # ordinary and partitioned tables


@dataclass(frozen=True)
class TrimReport:
    """What one trim did to the table: row counts before and after, and what was deleted."""

    action: Literal["trim", "remove stress rows"]
    table: str
    before: int
    deleted: int
    after: int
    detail: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def summary(self) -> str:
        if self.action == "trim":
            if not self.deleted:
                return f"{self.table}: {self.before:,} rows, nothing to trim ({self.detail})"
            return f"{self.table}: trimmed {self.deleted:,} of {self.before:,} rows, {self.after:,} left ({self.detail})"
        rows = "row" if self.deleted == 1 else "rows"
        return f"{self.table}: removed {self.deleted:,} stress {rows} of {self.before:,}, {self.after:,} left ({self.detail})"


class UsageLogsError(Exception):
    """A usage_logs trim failed; the message names the table, column or DSN source (never the DSN itself)."""


def trim_to_limit(usage: UsageLogs, max_rows: int, timeout_s: float = 60) -> TrimReport:
    """Keep the table under `max_rows`: the newest `max_rows - 1` rows by `time_column` stay, the oldest go."""
    if isinstance(max_rows, bool) or not isinstance(max_rows, int) or max_rows < 1:
        raise UsageLogsError(f"usage_logs trim on {usage.table}: the row limit must be a whole number >= 1, got {max_rows!r}")
    keep = max_rows - 1

    async def work(db: _Db) -> TrimReport:
        columns = await db.columns()
        time_col = db.column(columns, usage.time_column, "time_column", _SINCE)
        before = await db.count()
        deleted = 0
        for _ in range(MAX_BATCHES):
            if before - deleted <= keep:
                break
            batch = min(BATCH_ROWS, before - deleted - keep)
            done = await db.delete_batch(f"ORDER BY {time_col} ASC NULLS FIRST", batch, (), "delete the oldest rows")
            deleted += done
            if done < batch:  # someone else deleted rows meanwhile: what is left is under the limit
                break
        else:
            if before - deleted > keep:
                raise db.error(f"{before:,} rows is more than {MAX_BATCHES} batches of {BATCH_ROWS:,}: stopped after {deleted:,} "
                               f"deleted; run it again")
        after = await db.count()
        return TrimReport("trim", usage.table, before, deleted, after, f"limit {max_rows:,}: keeps the newest {keep:,} by {usage.time_column}")

    return _run(usage, timeout_s, "trim", work)


def remove_stress_rows(usage: UsageLogs, since: float, timeout_s: float = 60) -> TrimReport:
    """Delete the rows with `time_column >= since` (epoch seconds) and, when `stress_key_ids` is
    given, whose `key_column` is one of them. The column may hold epoch seconds (a number) or a
    timestamp (with time zone; one without is read as UTC)."""
    if isinstance(since, bool) or not isinstance(since, int | float) or not math.isfinite(since) or since < 0:
        raise UsageLogsError(f"usage_logs stress-row removal on {usage.table}: 'since' must be epoch seconds >= 0, got {since!r}")
    ids = list(usage.stress_key_ids)

    async def work(db: _Db) -> TrimReport:
        columns = await db.columns()
        time_col = db.column(columns, usage.time_column, "time_column", _SINCE)
        where = f"WHERE {time_col} >= {_SINCE[columns[usage.time_column]]}"
        args: tuple[Any, ...] = (float(since),)
        if ids:
            key_col = db.column(columns, usage.key_column, "key_column", None)
            where += f" AND {key_col}::text = ANY($2::text[])"
            args += (ids,)
        before = await db.count()
        deleted = 0
        for _ in range(MAX_BATCHES):
            done = await db.delete_batch(where, BATCH_ROWS, args, "delete the stress rows")
            deleted += done
            if done < BATCH_ROWS:
                break
        else:
            raise db.error(f"more than {MAX_BATCHES * BATCH_ROWS:,} stress rows: stopped after {deleted:,} deleted; run it again")
        after = await db.count()
        when = datetime.fromtimestamp(since, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
        keys = f", {usage.key_column} one of {len(ids)} stress key id{'s' if len(ids) != 1 else ''}" if ids else ", every key"
        return TrimReport("remove stress rows", usage.table, before, deleted, after, f"{usage.time_column} >= {when}{keys}")

    return _run(usage, timeout_s, "stress-row removal", work)


def quote_ident(name: str) -> str:
    """`schema.table` -> `"schema"."table"`, after checking each part is a plain identifier."""
    parts = name.split(".")
    if not 1 <= len(parts) <= 2 or not all(_IDENT.fullmatch(p) for p in parts):
        raise UsageLogsError(f"usage_logs: {name!r} is not an SQL identifier (letters, digits, _; schema.table for a table)")
    return ".".join('"' + p.replace('"', '""') + '"' for p in parts)


def _secrets(dsn: str) -> list[str]:
    """The DSN and its password, in the forms they may appear in an error, longest first."""
    found = [dsn]
    try:
        password = urlsplit(dsn).password
    except ValueError:
        password = None
    if password:
        found += [password, unquote(password)]
    found += [m.group(1) for m in re.finditer(r"password=([^&\s]+)", dsn)]
    return sorted({s for s in found if s}, key=len, reverse=True)


class _Db:
    """One connection, the deadline every statement must meet, and the table's names quoted."""

    def __init__(self, conn: Any, asyncpg: Any, usage: UsageLogs, op: str, deadline: float, timeout_s: float) -> None:
        self.conn, self.asyncpg, self.usage, self.op = conn, asyncpg, usage, op
        self.deadline, self.timeout_s = deadline, timeout_s
        self.table = quote_ident(usage.table)
        self.kind = "r"
        self.schema = self.name = ""

    def error(self, what: str) -> UsageLogsError:
        return _error(self.usage, self.op, what)

    async def call(self, step: str, fn: Callable[..., Awaitable[T]], sql: str, *args: Any) -> T:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise self.error(f"{step}: timed out after {self.timeout_s:g} s")
        try:
            return await fn(sql, *args, timeout=left)
        except TimeoutError:
            raise self.error(f"{step}: timed out after {self.timeout_s:g} s (a lock held on the table, or a slow database?)") from None
        except self.asyncpg.LockNotAvailableError as exc:
            raise self.error(f"{step}: timed out after {self.timeout_s:g} s waiting for a lock on the table (PostgreSQL: {exc})") from None
        except self.asyncpg.QueryCanceledError as exc:
            raise self.error(f"{step}: timed out after {self.timeout_s:g} s (PostgreSQL: {exc})") from None
        except self.asyncpg.PostgresError as exc:
            raise self.error(f"{step}: PostgreSQL {type(exc).__name__} [{exc.sqlstate}]: {exc}") from None
        except (self.asyncpg.InterfaceError, OSError) as exc:
            raise self.error(f"{step}: the connection failed: {type(exc).__name__}: {exc}") from None

    async def columns(self) -> dict[str, str]:
        """The table's columns and their types; a UsageLogsError if there is no such table."""
        row = await self.call("look up the table", self.conn.fetchrow,
                              "SELECT c.relkind::text AS kind, n.nspname AS schema, c.relname AS name FROM pg_class c"
                              " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)", self.table)
        if row is None:
            raise self.error(f"there is no table {self.usage.table} in this database (check [usage_logs].table, and the schema)")
        if row["kind"] not in _TABLE_KINDS:
            raise self.error(f"{self.usage.table} is not a table (relkind {row['kind']!r}): [usage_logs].table must name a table")
        self.kind, self.schema, self.name = row["kind"], row["schema"], row["name"]
        rows = await self.call("read the table's columns", self.conn.fetch,
                               "SELECT column_name::text AS name, data_type::text AS type FROM information_schema.columns"
                               " WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position", self.schema, self.name)
        return {r["name"]: r["type"] for r in rows}

    def column(self, columns: dict[str, str], name: str, key: str, types: dict[str, str] | None) -> str:
        """`name` quoted, after checking the table has it (of one of `types`, if given)."""
        if name not in columns:
            known = ", ".join(columns) or "none visible to this user"
            raise self.error(f"table {self.schema}.{self.name} has no column {name!r} ([usage_logs].{key}; its columns: {known})")
        if types is not None and columns[name] not in types:
            raise self.error(f"column {name!r} ([usage_logs].{key}) is of type {columns[name]}: it must hold epoch seconds "
                             f"(a number) or a timestamp")
        return quote_ident(name)

    async def count(self) -> int:
        return int(await self.call("count the rows", self.conn.fetchval, f"SELECT count(*) FROM {self.table}"))

    async def delete_batch(self, clause: str, limit: int, args: tuple[Any, ...], step: str) -> int:
        """Delete at most `limit` rows picked by `clause` (WHERE / ORDER BY); the number deleted."""
        n = f"${len(args) + 1}"
        if self.kind == "p":  # a ctid is unique only within one partition
            sql = (f"DELETE FROM {self.table} WHERE (tableoid, ctid) IN"
                   f" (SELECT tableoid, ctid FROM {self.table} {clause} LIMIT {n})")
        else:
            sql = f"DELETE FROM {self.table} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {self.table} {clause} LIMIT {n}))"
        status = await self.call(step, self.conn.execute, sql, *args, limit)
        return int(str(status).rsplit(" ", 1)[-1])


def _error(usage: UsageLogs, op: str, what: str) -> UsageLogsError:
    message = f"usage_logs {op} on {usage.table} (dsn {usage.dsn}): {what}"
    for secret in _secrets(usage.dsn.reveal()):
        message = message.replace(secret, "***")
    return UsageLogsError(message)


async def _session(usage: UsageLogs, op: str, timeout_s: float, work: Callable[[_Db], Awaitable[TrimReport]]) -> TrimReport:
    try:
        import asyncpg
    except ImportError:
        raise _error(usage, op, "asyncpg is not installed: install pytest-trinity[postgres]") from None
    dsn = usage.dsn.reveal()
    if not dsn:
        raise _error(usage, op, f"the DSN is empty: set the environment variable that {usage.dsn} names")
    deadline = time.monotonic() + timeout_s
    try:
        conn = await asyncpg.connect(dsn, timeout=min(CONNECT_TIMEOUT_S, timeout_s), server_settings={
            "application_name": "pytest-trinity usage_logs",
            "statement_timeout": str(max(1, int(timeout_s * 1000))),
            "lock_timeout": str(max(1, int(timeout_s * 1000))),
        })
    except TimeoutError:
        raise _error(usage, op, f"could not connect within {min(CONNECT_TIMEOUT_S, timeout_s):g} s") from None
    except asyncpg.PostgresError as exc:
        raise _error(usage, op, f"PostgreSQL refused the connection: {type(exc).__name__}: {exc}") from None
    except (asyncpg.InterfaceError, OSError, ValueError) as exc:
        raise _error(usage, op, f"could not connect: {type(exc).__name__}: {exc}") from None
    try:
        return await work(_Db(conn, asyncpg, usage, op, deadline, timeout_s))
    finally:
        try:
            await conn.close(timeout=CLOSE_TIMEOUT_S)
        except Exception:  # the work's own outcome (or error) is what matters; do not leave the socket open
            conn.terminate()


def _run(usage: UsageLogs, timeout_s: float, op: str, work: Callable[[_Db], Awaitable[TrimReport]]) -> TrimReport:
    if not isinstance(timeout_s, int | float) or not math.isfinite(timeout_s) or timeout_s <= 0:
        raise _error(usage, op, f"the timeout must be > 0 s, got {timeout_s!r}")
    if not all(_IDENT.fullmatch(p) for p in usage.table.split(".")) or usage.table.count(".") > 1:  # fails before any connection
        raise _error(usage, op, "[usage_logs].table is not an SQL identifier (letters, digits, _; schema.table)")
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_session(usage, op, timeout_s, work))
    # called from inside an event loop: asyncio.run needs a thread of its own
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="trinity-usage-logs") as pool:
        return pool.submit(asyncio.run, _session(usage, op, timeout_s, work)).result()
