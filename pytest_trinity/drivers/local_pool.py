"""Where shards run by default: worker processes on this machine (a process pool), driven
through a control channel of manager proxies (a ready/progress queue, the planned start time,
go and stop events).

The pool's workers and the manager ignore SIGINT and SIGTERM (a signal to the whole process
group reaches the parent, which stops them with their partial results) and exit by themselves
once the parent is gone (`drivers.lifeline`). They are started with "spawn", so each is a
child of the parent itself: with "forkserver" they were children of the fork server, which
a SIGTERM to the group kills, and its death made the pool count every live worker as dead.

Any other `concurrent.futures.Executor` can be given instead of the own pool (a thread pool
in a test, say); its workers then stop on SIGINT with a partial result.
"""

from __future__ import annotations

import contextlib
import dataclasses
import multiprocessing
import os
import queue as queue_mod
import time
from collections.abc import Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from multiprocessing.context import BaseContext
from multiprocessing.managers import SyncManager
from typing import Any

from pytest_trinity.drivers.core import empty_result
from pytest_trinity.drivers.lifeline import child_init
from pytest_trinity.drivers.result import ShardResult
from pytest_trinity.drivers.shard import run_shard
from pytest_trinity.drivers.spec import READY_TIMEOUT_S, LoadSpec, ShardSpec, split


class _Channel:
    """Parent <-> worker control: a message queue, the planned start, go and stop events
    (manager proxies, so they pickle into any local executor's workers)."""

    def __init__(self, manager: SyncManager) -> None:
        self.queue = manager.Queue()
        self.start_at = manager.Value("d", 0.0)
        self.go = manager.Event()
        self.stop = manager.Event()


def _worker_main(shard: ShardSpec, channel: _Channel, own_pool: bool = False) -> ShardResult:
    """Runs in the worker process: wait for the go signal, run the shard from the planned
    start, return its result.

    In the own pool (`own_pool`) the worker ignores SIGINT, and the parent stops it; in an
    executor given by the caller, SIGINT stops the shard with a partial result."""
    channel.queue.put(("ready", shard.index, f"local pid {os.getpid()}"))
    if not channel.go.wait(READY_TIMEOUT_S):
        raise RuntimeError("never got the start signal from the parent")
    if channel.stop.is_set():
        return empty_result(shard, "interrupted")
    last_poll = [0.0]
    stopped = [False]

    def should_stop() -> bool:
        if stopped[0]:
            return True
        now = time.monotonic()
        if now - last_poll[0] >= 0.2:
            last_poll[0] = now
            stopped[0] = channel.stop.is_set()
        return stopped[0]

    def progress(index: int, data: dict[str, Any]) -> None:
        channel.queue.put(("progress", index, data))

    return run_shard(dataclasses.replace(shard, start_at=channel.start_at.value), progress, should_stop, handle_sigint=not own_pool)


def plan_shards(spec: LoadSpec, processes: int | None = None) -> list[ShardSpec]:
    """The local split: `processes` (or the spec's, or one per core) near-equal shards, never
    more than there are connections or requests."""
    n = processes or spec.processes or os.cpu_count() or 1
    n = max(1, min(n, spec.concurrency, max(1, spec.total_requests)))
    return split(spec, n)


class LocalLaunch:
    """The submitted shards of one run in the local pool, and their control channel."""

    def __init__(self, futures: list[Future[ShardResult]], channel: _Channel) -> None:
        self.futures = futures
        self.channel = channel
        self.where = ["local"] * len(futures)

    def message(self) -> tuple[Any, ...] | None:
        try:
            msg: tuple[Any, ...] = self.channel.queue.get(timeout=0.1)
            return msg
        except queue_mod.Empty:
            return None

    def go(self, start_at: float) -> None:
        self.channel.start_at.value = start_at
        self.channel.go.set()

    def stop(self) -> None:
        self.channel.stop.set()
        self.channel.go.set()  # those still waiting to start see the stop at once

    def lost(self) -> list[tuple[int, str]]:
        return []  # a dead local worker fails its future (BrokenProcessPool)


class LocalExecutor:
    """Shards in worker processes on this machine: an own spawn pool, or `pool` if given."""

    name = "local"
    start_lead_s = 0.02  # the manager's go event reaches every local worker within a few ms

    def __init__(self, pool: Executor | None = None) -> None:
        self.pool = pool

    def shards(self, spec: LoadSpec, processes: int | None) -> list[ShardSpec]:
        return plan_shards(spec, processes)

    @contextlib.contextmanager
    def launch(self, shards: list[ShardSpec]) -> Iterator[LocalLaunch]:
        ctx = multiprocessing.get_context("spawn")
        with _manager(ctx) as manager, _pool(self.pool, len(shards), ctx) as pool:
            channel = _Channel(manager)
            launch = LocalLaunch([pool.submit(_worker_main, sh, channel, self.pool is None) for sh in shards], channel)
            try:
                yield launch
            finally:
                launch.stop()  # whatever ended the run, no worker goes on

    def close(self) -> None:
        """Nothing to release: each run has its own pool."""


@contextlib.contextmanager
def _manager(ctx: BaseContext) -> Iterator[SyncManager]:
    """The manager process behind the control channel (it ignores SIGINT and SIGTERM, and
    exits when this process is gone)."""
    manager = SyncManager(ctx=ctx)
    manager.start(child_init, (os.getpid(),))
    try:
        yield manager
    finally:
        manager.shutdown()


@contextlib.contextmanager
def _pool(executor: Executor | None, n: int, ctx: BaseContext) -> Iterator[Executor]:
    """`executor`, or an own process pool of `n` workers, shut down at the end."""
    if executor is not None:
        yield executor
        return
    pool = ProcessPoolExecutor(max_workers=n, mp_context=ctx, initializer=child_init, initargs=(os.getpid(),))
    try:
        yield pool
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
