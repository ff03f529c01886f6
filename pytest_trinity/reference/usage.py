"""Housekeeping: every request's usage-log entry goes through a bounded background pool into
batched inserts into `usage_logs`.

submit() is O(1) on the hot path: it appends to a bounded queue (full queue, or the bg-drop
fault: `bg_dropped`). A few workers move entries in chunks of the profile's `micro_batch` to
the batch writer (`bg_completed`, `rows_queued`), which inserts `batch` rows at a time, or what
it has every `flush_ms` (`batch_flushes`, `batch_flush_errors`), through the DB pool.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from typing import Any

from pytest_trinity.reference.db import DbPool, Row

log = logging.getLogger("trinity.node.usage")
BUSY_RETRIES = 3
BUSY_BACKOFF_S = 0.05


class Housekeeping:
    def __init__(self, counters: Any, pool: DbPool, capacity: int, workers: int) -> None:
        self.counters = counters
        self.pool = pool
        self.capacity = capacity
        self.n_workers = workers
        self.queue: deque[Row] = deque()
        self.wake = asyncio.Event()
        self.pending: list[Row] = []
        self.flushing: set[asyncio.Task[None]] = set()
        self.drop_ratio = 0.0
        self.batch = 1
        self.micro_batch = 1
        self.flush_s = 1.0
        self._tasks: list[asyncio.Task[None]] = []
        self._last_flush = time.monotonic()

    def configure(self, batch: int, micro_batch: int, flush_ms: float) -> None:
        self.batch, self.micro_batch, self.flush_s = max(int(batch), 1), max(int(micro_batch), 1), flush_ms / 1000.0

    def start(self) -> None:
        for i in range(self.n_workers):
            self._tasks.append(asyncio.create_task(self._worker(), name=f"bg-worker-{i}"))
        self._tasks.append(asyncio.create_task(self._ticker(), name="bg-flush-timer"))

    def submit(self, row: Row) -> None:
        c = self.counters
        c.bg_submitted += 1
        q = self.queue
        if len(q) >= self.capacity or (self.drop_ratio and random.random() < self.drop_ratio):
            c.bg_dropped += 1
            return
        if not q:
            self.wake.set()
        q.append(row)

    @property
    def backlogged(self) -> bool:
        """Too many flushes outstanding: stop draining, let the queue fill (and drop)."""
        return len(self.flushing) >= max(self.pool.max_open, 1) * 2

    async def _worker(self) -> None:
        q, c = self.queue, self.counters
        while True:
            if not q:
                self.wake.clear()
                await self.wake.wait()
                continue
            while self.backlogged:
                await asyncio.sleep(self.flush_s / 10 or 0.01)
            n = min(len(q), self.micro_batch)
            chunk = [q.popleft() for _ in range(n)]
            self.pending.extend(chunk)
            c.bg_completed += n
            c.rows_queued += n
            while len(self.pending) >= self.batch:
                rows, self.pending = self.pending[: self.batch], self.pending[self.batch:]
                self._flush(rows)
            await asyncio.sleep(0)

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(min(self.flush_s, 0.05))
            if self.pending and time.monotonic() - self._last_flush >= self.flush_s:
                rows, self.pending = self.pending, []
                self._flush(rows)

    def _flush(self, rows: list[Row]) -> None:
        self._last_flush = time.monotonic()
        task = asyncio.create_task(self._insert(rows))
        self.flushing.add(task)
        task.add_done_callback(self.flushing.discard)

    async def _insert(self, rows: list[Row]) -> None:
        """Insert one batch; a database that is busy (locked by another writer) is retried a few
        times before the batch counts as a flush error."""
        for attempt in range(1, BUSY_RETRIES + 1):
            try:
                await self.pool.run("insert", rows)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                busy = any(word in str(exc).lower() for word in ("locked", "busy"))
                if busy and attempt < BUSY_RETRIES:
                    await asyncio.sleep(BUSY_BACKOFF_S * attempt)
                    continue
                self.counters.batch_flush_errors += 1
                log.error("usage_logs batch insert of %d rows failed: %s: %s", len(rows), type(exc).__name__, exc)
                return
            self.counters.batch_flushes += 1
            return

    async def quiesce(self, timeout: float) -> None:
        """Move everything queued into usage_logs now and wait for it (before a reset or a stop)."""
        deadline = time.monotonic() + timeout
        c = self.counters
        while self.queue and time.monotonic() < deadline:
            n = len(self.queue)
            self.pending.extend(self.queue.popleft() for _ in range(n))
            c.bg_completed += n
            c.rows_queued += n
        while self.pending:
            rows, self.pending = self.pending[: self.batch], self.pending[self.batch:]
            self._flush(rows)
        if self.flushing:
            await asyncio.wait(set(self.flushing), timeout=max(deadline - time.monotonic(), 0.01))

    async def stop(self, timeout: float) -> None:
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self.quiesce(timeout)
