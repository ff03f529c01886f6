"""usage_logs on SQLite shared by several node processes: concurrent batch inserts from three
processes (several connections each) never fail with "database is locked"."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

from pytest_trinity.reference.db import SqliteBackend

WRITER = """
import asyncio, sys
from pytest_trinity.reference.db import SqliteBackend

async def main(path, batches):
    backend = SqliteBackend(path)
    conns = [await backend.connect() for _ in range(3)]
    rows = [(1.0, "n", "k", "tcp", "/price", "BTC-USD", 200)] * 3
    failures = 0
    async def writer(conn, fresh):
        nonlocal failures
        for _ in range(batches):
            try:
                if fresh:  # a pool growing under load opens connections while others write
                    c = await backend.connect()
                    await backend.insert(c, rows)
                    await backend.close(c)
                else:
                    await backend.insert(conn, rows)
            except Exception as exc:
                failures += 1
                print(type(exc).__name__, exc, file=sys.stderr)
    await asyncio.gather(*(writer(c, i == 0) for i, c in enumerate(conns)))
    print(failures)

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


def test_concurrent_inserts_from_three_processes(tmp_path: Path) -> None:
    path = str(tmp_path / "usage_logs.sqlite3")
    backend = SqliteBackend(path)

    async def schema() -> None:
        conn = await backend.connect()
        await backend.create_schema(conn)
        await backend.close(conn)

    asyncio.run(schema())
    batches = 150
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, path, str(batches)], stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], results
    assert [out.strip() for out, _ in results] == ["0", "0", "0"], results

    async def count() -> int:
        conn = await backend.connect()
        try:
            summary = await backend.summary(conn, "k", 0.0, 2.0)
        finally:
            await backend.close(conn)
        return summary["requests"]

    assert asyncio.run(count()) == 3 * 3 * batches * 3
