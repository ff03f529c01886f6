"""Run a LoadSpec across worker processes: split it into shards, start them together through
a `concurrent.futures.Executor` (a local process pool by default), relay each worker's
once-a-second progress to a callback, stop everything on SIGINT (partial results, marked
interrupted), name the worker and the cause when one fails, and merge the shards' results.
"""

from __future__ import annotations

import multiprocessing
import os
import queue as queue_mod
import signal
import threading
import time
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

from pytest_trinity.drivers.result import LoadResult, ShardResult
from pytest_trinity.drivers.shard import empty_result, raise_nofile_limit, run_shard, run_shard_async
from pytest_trinity.drivers.spec import LoadSpec, ShardSpec, split

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

    def __init__(self, manager: Any) -> None:
        self.queue = manager.Queue()
        self.go = manager.Event()
        self.stop = manager.Event()


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _worker_main(shard: ShardSpec, channel: _Channel | None) -> ShardResult:
    """Runs in the worker process: wait for the go signal, run the shard, return its result."""
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

    return run_shard(shard, progress, should_stop, handle_sigint=True)


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
    ctx = multiprocessing.get_context("spawn" if executor is not None else "forkserver")
    from multiprocessing.managers import SyncManager
    manager = SyncManager(ctx=ctx)
    manager.start(_ignore_sigint)
    own_executor = executor is None
    pool = executor or ProcessPoolExecutor(max_workers=len(shards), mp_context=ctx, initializer=_ignore_sigint)
    interrupted = threading.Event()
    old_handler = None
    in_main = threading.current_thread() is threading.main_thread()
    if in_main:
        def on_sigint(signum: int, frame: Any) -> None:
            interrupted.set()
        old_handler = signal.signal(signal.SIGINT, on_sigint)
    channel: _Channel | None = None
    try:
        channel = _Channel(manager)
        futures: list[Future] = [pool.submit(_worker_main, sh, channel) for sh in shards]
        ready: set[int] = set()
        deadline = time.monotonic() + READY_TIMEOUT_S
        progress: dict[int, dict[str, Any]] = {}
        errors: list[str] = []
        failed: tuple[int, str] | None = None
        # 1. wait until every worker is ready, then start them together
        while len(ready) < len(shards):
            if interrupted.is_set():
                channel.stop.set()
                channel.go.set()
                break
            dead = [i for i, f in enumerate(futures) if f.done()]
            if dead:
                i = dead[0]
                exc = futures[i].exception()
                failed = (i, f"{type(exc).__name__}: {exc}" if exc else "exited before starting")
                break
            if time.monotonic() > deadline:
                failed = (min(set(range(len(shards))) - ready), f"not ready within {READY_TIMEOUT_S:.0f} s")
                break
            try:
                msg = channel.queue.get(timeout=0.1)
            except queue_mod.Empty:
                continue
            if msg[0] == "ready":
                ready.add(msg[1])
        start_wall = time.time()
        if failed is None and not interrupted.is_set():
            channel.go.set()  # every worker is waiting on this: they start together
        else:
            channel.stop.set()
            channel.go.set()
        # 2. relay progress until all futures are done; propagate stop on SIGINT / failure
        last_report = time.monotonic()
        while not all(f.done() for f in futures):
            if interrupted.is_set() and not channel.stop.is_set():
                channel.stop.set()
            if failed is None:
                for i, f in enumerate(futures):
                    if f.done() and f.exception() is not None:
                        exc = f.exception()
                        failed = (i, f"{type(exc).__name__}: {exc}")
                        channel.stop.set()
                        break
            try:
                msg = channel.queue.get(timeout=0.1)
                if msg[0] == "progress":
                    progress[msg[1]] = msg[2]
            except queue_mod.Empty:
                pass
            now = time.monotonic()
            if on_progress is not None and progress and now - last_report >= 0.5:
                last_report = now
                on_progress(Progress(sum(p["done"] for p in progress.values()), spec.total_requests,
                                     sum(p["rps"] for p in progress.values()),
                                     sum(p["errors"] for p in progress.values()),
                                     max(0.0, time.time() - start_wall), len(progress)))
        results: list[ShardResult] = []
        for i, f in enumerate(futures):
            exc = f.exception()
            if exc is not None:
                if failed is None:
                    failed = (i, f"{type(exc).__name__}: {exc}")
                errors.append(f"worker {i}: {type(exc).__name__}: {exc}")
            else:
                results.append(f.result())
        stop_reason = "interrupted" if interrupted.is_set() else ("failed" if failed else None)
        merged = LoadResult.merge(spec.protocol, spec.model.to_dict(), results, stop_reason=stop_reason,
                                  errors=tuple(errors))
        if failed is not None and not interrupted.is_set():
            raise WorkerError(failed[0], failed[1], merged)
        return merged
    except BaseException:
        if channel is not None:  # whatever went wrong here, the workers stop now
            channel.stop.set()
            channel.go.set()
        raise
    finally:
        if in_main:
            signal.signal(signal.SIGINT, old_handler if old_handler is not None else signal.SIG_DFL)
        if own_executor:
            pool.shutdown(wait=True, cancel_futures=True)
        manager.shutdown()


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
