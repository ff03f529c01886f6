"""Run a LoadSpec across worker processes: split it into shards, start them together through
a `concurrent.futures.Executor` (a local process pool by default), relay each worker's
once-a-second progress to a callback, stop everything on SIGINT (partial results, marked
interrupted), name the worker and the cause when one fails, and merge the shards' results.

The own pool's workers and the manager ignore SIGINT and SIGTERM (a signal to the whole process
group reaches the parent, which stops them with their partial results) and exit by themselves
once the parent is gone (`drivers.lifeline`). They are started with "spawn", so each is a
child of the parent itself: with "forkserver" they were children of the fork server, which
a SIGTERM to the group kills, and its death made the pool count every live worker as dead.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue as queue_mod
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing.context import BaseContext
from multiprocessing.managers import SyncManager
from typing import Any

from pytest_trinity.drivers.core import empty_result
from pytest_trinity.drivers.lifeline import child_init
from pytest_trinity.drivers.result import LoadResult, ShardResult
from pytest_trinity.drivers.shard import run_shard, run_shard_async
from pytest_trinity.drivers.spec import LoadSpec, ShardSpec, split
from pytest_trinity.oslimits import raise_nofile_limit

READY_TIMEOUT_S = 60.0


class WorkerError(RuntimeError):
    """A worker (shard) failed; `.shard` is its index, the message names the cause."""

    def __init__(self, shard: int, cause: str, partial: LoadResult | None = None) -> None:
        super().__init__(f"load worker {shard} failed: {cause}")
        self.shard = shard
        self.cause = cause
        self.partial = partial


@dataclass(frozen=True)
class Progress:
    """What the parent's progress callback gets, about once a second."""

    done: int
    total: int
    rps: float
    errors: int
    elapsed: float
    shards_reporting: int

    def to_dict(self) -> dict[str, Any]:
        return {"done": self.done, "total": self.total, "rps": self.rps, "errors": self.errors,
                "elapsed": self.elapsed, "shards_reporting": self.shards_reporting}


class _Channel:
    """Parent <-> worker control: a progress queue and go/stop events (manager proxies, so
    they pickle into any local executor's workers)."""

    def __init__(self, manager: SyncManager) -> None:
        self.queue = manager.Queue()
        self.go = manager.Event()
        self.stop = manager.Event()

    def stop_all(self) -> None:
        """Stop every worker, also those still waiting for the go signal."""
        self.stop.set()
        self.go.set()

    def message(self) -> tuple[Any, ...] | None:
        """The next worker message, or None after a tenth of a second without one."""
        try:
            msg: tuple[Any, ...] = self.queue.get(timeout=0.1)
            return msg
        except queue_mod.Empty:
            return None


def _worker_main(shard: ShardSpec, channel: _Channel | None, own_pool: bool = False) -> ShardResult:
    """Runs in the worker process: wait for the go signal, run the shard, return its result.

    In the own pool (`own_pool`) the worker ignores SIGINT, and the parent stops it; in an
    executor given by the caller, SIGINT stops the shard with a partial result."""
    if channel is not None:
        channel.queue.put(("ready", shard.index, os.getpid()))
        if not channel.go.wait(READY_TIMEOUT_S):
            raise RuntimeError("never got the start signal from the parent")
        if channel.stop.is_set():
            return empty_result(shard, "interrupted")
    last_poll = [0.0]
    stopped = [False]

    def should_stop() -> bool:
        if channel is None or stopped[0]:
            return stopped[0]
        now = time.monotonic()
        if now - last_poll[0] >= 0.2:
            last_poll[0] = now
            stopped[0] = channel.stop.is_set()
        return stopped[0]

    def progress(index: int, data: dict[str, Any]) -> None:
        if channel is not None:
            channel.queue.put(("progress", index, data))

    return run_shard(shard, progress, should_stop, handle_sigint=not own_pool)


def plan_shards(spec: LoadSpec, processes: int | None = None) -> list[ShardSpec]:
    n = processes or spec.processes or os.cpu_count() or 1
    n = max(1, min(n, spec.concurrency, max(1, spec.total_requests)))
    return split(spec, n)


def run_load(spec: LoadSpec, executor: Executor | None = None,
             on_progress: Callable[[Progress], None] | None = None,
             processes: int | None = None) -> LoadResult:
    """Run `spec` in worker processes and return the merged result.

    `executor`: where shards run (default: a local process pool, one process per shard).
    `on_progress`: called in this thread about once a second. SIGINT (Ctrl-C) stops the run
    within about a second and returns partial results with `stop_reason == "interrupted"`.
    A failed worker raises WorkerError naming it and the cause.
    """
    raise_nofile_limit(spec.concurrency + 1024)
    shards = plan_shards(spec, processes)
    ctx = multiprocessing.get_context("spawn")
    with _manager(ctx) as manager, _pool(executor, len(shards), ctx) as pool, _sigint_flag() as interrupted:
        channel = _Channel(manager)
        own = executor is None
        try:
            workers = _Workers(spec, [pool.submit(_worker_main, sh, channel, own) for sh in shards], channel, interrupted)
            workers.wait_ready()
            workers.start()
            workers.relay_progress(on_progress)
            return workers.result()
        except BaseException:
            channel.stop_all()  # whatever went wrong here, the workers stop now
            raise


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


@contextlib.contextmanager
def _sigint_flag() -> Iterator[threading.Event]:
    """An event SIGINT sets instead of raising (main thread only), the old handler restored after."""
    interrupted = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield interrupted
        return

    def on_sigint(signum: int, frame: Any) -> None:
        interrupted.set()

    old_handler = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield interrupted
    finally:
        signal.signal(signal.SIGINT, old_handler if old_handler is not None else signal.SIG_DFL)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class _Workers:
    """The submitted shards of one `run_load`: start them together, relay their progress,
    note the first failure, collect and merge their results."""

    def __init__(self, spec: LoadSpec, futures: list[Future[ShardResult]], channel: _Channel,
                 interrupted: threading.Event) -> None:
        self.spec = spec
        self.futures = futures
        self.channel = channel
        self.interrupted = interrupted
        self.failed: tuple[int, str] | None = None  # (shard, cause) of the first failure
        self.start_wall = 0.0

    def wait_ready(self) -> None:
        """Wait until every worker is ready (or one died, or the wait timed out, or SIGINT)."""
        ready: set[int] = set()
        deadline = time.monotonic() + READY_TIMEOUT_S
        while len(ready) < len(self.futures) and not self.interrupted.is_set():
            dead = [i for i, f in enumerate(self.futures) if f.done()]
            if dead:
                exc = self.futures[dead[0]].exception()
                self.failed = (dead[0], _describe(exc) if exc else "exited before starting")
                return
            if time.monotonic() > deadline:
                self.failed = (min(set(range(len(self.futures))) - ready), f"not ready within {READY_TIMEOUT_S:.0f} s")
                return
            msg = self.channel.message()
            if msg is not None and msg[0] == "ready":
                ready.add(msg[1])

    def start(self) -> None:
        """Every worker waits on the go signal: they start together (or all stop at once)."""
        self.start_wall = time.time()
        if self.failed is None and not self.interrupted.is_set():
            self.channel.go.set()
        else:
            self.channel.stop_all()

    def relay_progress(self, on_progress: Callable[[Progress], None] | None) -> None:
        """Until every worker is done: pass progress on, and stop all on SIGINT or a failure."""
        progress: dict[int, dict[str, Any]] = {}
        last_report = time.monotonic()
        while not all(f.done() for f in self.futures):
            if self.interrupted.is_set() and not self.channel.stop.is_set():
                self.channel.stop.set()
            if self.failed is None:
                self.failed = self._first_failure()
                if self.failed is not None:
                    self.channel.stop.set()
            msg = self.channel.message()
            if msg is not None and msg[0] == "progress":
                progress[msg[1]] = msg[2]
            now = time.monotonic()
            if on_progress is not None and progress and now - last_report >= 0.5:
                last_report = now
                on_progress(self._progress(progress))

    def _first_failure(self) -> tuple[int, str] | None:
        for i, f in enumerate(self.futures):
            if f.done() and (exc := f.exception()) is not None:
                return (i, _describe(exc))
        return None

    def _progress(self, progress: dict[int, dict[str, Any]]) -> Progress:
        reports = progress.values()
        return Progress(sum(p["done"] for p in reports), self.spec.total_requests, sum(p["rps"] for p in reports),
                        sum(p["errors"] for p in reports), max(0.0, time.time() - self.start_wall), len(progress))

    def result(self) -> LoadResult:
        """The merged result; WorkerError (carrying it) when a worker failed."""
        results: list[ShardResult] = []
        errors: list[str] = []
        for i, f in enumerate(self.futures):
            exc = f.exception()
            if exc is None:
                results.append(f.result())
                continue
            if self.failed is None:
                self.failed = (i, _describe(exc))
            errors.append(f"worker {i}: {_describe(exc)}")
        interrupted = self.interrupted.is_set()
        stop_reason = "interrupted" if interrupted else ("failed" if self.failed else None)
        spec = self.spec
        merged = LoadResult.merge(spec.protocol, spec.model.to_dict(), results, stop_reason=stop_reason,
                                  errors=tuple(errors))
        if self.failed is not None and not interrupted:
            raise WorkerError(self.failed[0], self.failed[1], merged)
        return merged


async def run_load_async(spec: LoadSpec, on_progress: Callable[[int, dict[str, Any]], None] | None = None,
                         should_stop: Callable[[], bool] | None = None) -> LoadResult:
    """Run the whole spec as one shard inside the running event loop (for tests and tools)."""
    raise_nofile_limit(spec.concurrency + 1024)
    shard = split(spec, 1)[0]
    result = await run_shard_async(shard, on_progress, should_stop)
    return LoadResult.merge(spec.protocol, spec.model.to_dict(), [result])


def run_load_inline(spec: LoadSpec, on_progress: Callable[[int, dict[str, Any]], None] | None = None,
                    handle_sigint: bool = True) -> LoadResult:
    """Run the whole spec as one shard in this process, on a fresh loop (uvloop if present)."""
    shard = split(spec, 1)[0]
    result = run_shard(shard, on_progress, None, handle_sigint=handle_sigint)
    return LoadResult.merge(spec.protocol, spec.model.to_dict(), [result])


__all__ = ["Progress", "WorkerError", "plan_shards", "run_load", "run_load_async", "run_load_inline"]
