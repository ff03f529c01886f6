"""Run a LoadSpec across workers: split it into shards, start them together at a planned
start time, relay each worker's once-a-second progress to a callback, stop everything on
SIGINT (partial results, marked interrupted), name the worker and the cause when one fails,
and merge the shards' results.

Where the shards run is a `ShardExecutor`: the local process pool (`drivers.local_pool`, the
default) or a Dask cluster (`drivers.dask_cluster`). A plain `concurrent.futures.Executor`
is run through the local pool's control channel.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import CancelledError, Executor
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from pytest_trinity.drivers.local_pool import LocalExecutor, plan_shards
from pytest_trinity.drivers.result import LoadResult, ShardReport, ShardResult
from pytest_trinity.drivers.shard import run_shard, run_shard_async
from pytest_trinity.drivers.spec import FINISH_GRACE_S, READY_TIMEOUT_S, LoadSpec, ShardSpec, split
from pytest_trinity.oslimits import raise_nofile_limit


class ExecutorError(RuntimeError):
    """The executor cannot run the load (no scheduler, no workers, a worker group missing);
    the message names what to fix."""


class WorkerError(RuntimeError):
    """A worker (shard) failed; `.shard` is its index, `.worker` where it ran, the message
    names both and the cause; `.partial` holds the other shards' results."""

    def __init__(self, shard: int, cause: str, partial: LoadResult | None = None, worker: str = "") -> None:
        where = f" on {worker}" if worker and worker != "local" else ""
        super().__init__(f"load worker {shard}{where} failed: {cause}")
        self.shard = shard
        self.cause = cause
        self.partial = partial
        self.worker = worker


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


class ShardFuture(Protocol):
    """What a launch's futures offer (concurrent.futures and Dask futures both do)."""

    def done(self) -> bool: ...
    def cancelled(self) -> bool: ...
    def result(self, timeout: float | None = None) -> Any: ...
    def exception(self, timeout: float | None = None) -> BaseException | None: ...
    def cancel(self) -> bool: ...


class Launch(Protocol):
    """The submitted shards of one run and the control channel to them."""

    @property
    def futures(self) -> Sequence[ShardFuture]: ...

    @property
    def where(self) -> list[str]:
        """Per shard: the worker running it (filled in by "ready" messages where unknown)."""

    def message(self) -> tuple[Any, ...] | None:
        """The next ("ready", shard, worker) or ("progress", shard, data), None after ~0.1 s."""

    def go(self, start_at: float) -> None:
        """Every shard starts at `start_at` (this machine's wall clock)."""

    def stop(self) -> None:
        """Running shards stop with their partial results; waiting ones do not start."""

    def lost(self) -> list[tuple[int, str]]:
        """Shards whose worker is gone (died, left the cluster), each with the cause."""


@runtime_checkable
class ShardExecutor(Protocol):
    """Where the shards of a run go."""

    name: str  # "local", "dask://host:port": recorded with every result
    start_lead_s: float  # how far ahead of "go" the planned start is set

    def shards(self, spec: LoadSpec, processes: int | None) -> list[ShardSpec]: ...
    def launch(self, shards: list[ShardSpec]) -> contextlib.AbstractContextManager[Launch]: ...
    def close(self) -> None: ...


def run_load(spec: LoadSpec, executor: ShardExecutor | Executor | None = None,
             on_progress: Callable[[Progress], None] | None = None,
             processes: int | None = None) -> LoadResult:
    """Run `spec` on `executor`'s workers and return the merged result.

    `executor`: where shards run: a `ShardExecutor` (e.g. `DaskExecutor`), a plain
    `concurrent.futures.Executor`, or None for a local process pool, one process per shard.
    `on_progress`: called in this thread about once a second. SIGINT (Ctrl-C) stops the run
    within about a second and returns partial results with `stop_reason == "interrupted"`.
    A failed worker raises WorkerError naming it and the cause, with the others' results.
    """
    raise_nofile_limit(spec.concurrency + 1024)
    backend = executor if isinstance(executor, ShardExecutor) else LocalExecutor(executor)
    shards = backend.shards(spec, processes)
    with _sigint_flag() as interrupted, backend.launch(shards) as launch:
        try:
            workers = _Workers(spec, shards, launch, interrupted, backend.name)
            workers.wait_ready()
            workers.start(backend.start_lead_s)
            workers.relay_progress(on_progress)
            return workers.result()
        except BaseException:
            with contextlib.suppress(Exception):  # the first error is the one to report
                launch.stop()  # whatever went wrong here, the workers stop now
            raise


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
    """The launched shards of one `run_load`: start them together, relay their progress,
    note the first failure, collect and merge their results."""

    def __init__(self, spec: LoadSpec, shards: list[ShardSpec], launch: Launch, interrupted: threading.Event,
                 executor: str) -> None:
        self.spec = spec
        self.shards = shards
        self.launch = launch
        self.futures = launch.futures
        self.interrupted = interrupted
        self.executor = executor
        self.failed: tuple[int, str] | None = None  # (shard, cause) of the first failure
        self.gone: dict[int, str] = {}  # shards whose worker is gone: their futures never finish
        self.start_wall = 0.0
        self.stopped = False

    def _finished(self, i: int) -> bool:
        return i in self.gone or self.futures[i].done()

    def _exception(self, i: int) -> BaseException | None:
        """Why shard `i` has no result (None: it has one). Call only once it is finished."""
        if i in self.gone:
            return RuntimeError(self.gone[i])
        future = self.futures[i]
        if future.cancelled():
            try:
                future.result(timeout=1)  # Dask's says why (e.g. the connection to the scheduler was lost)
            except (Exception, CancelledError) as exc:
                return exc
            return CancelledError("its task was cancelled")
        try:
            return future.exception(timeout=FINISH_GRACE_S)
        except (Exception, CancelledError) as exc:  # the result itself is gone (Dask: lost data, a timeout)
            return exc

    def _check_lost(self) -> None:
        for index, cause in self.launch.lost():
            if index not in self.gone and not self.futures[index].done():
                self.gone[index] = cause

    def _stop(self) -> None:
        if not self.stopped:
            self.stopped = True
            # An executor that cannot reach its workers: they stop on their own bounds, and
            # `lost()` names the shards it can no longer see.
            with contextlib.suppress(Exception):
                self.launch.stop()

    def _note(self, msg: tuple[Any, ...] | None, progress: dict[int, dict[str, Any]] | None = None) -> int | None:
        """Take in one message; returns the shard of a "ready" one."""
        if msg is None:
            return None
        kind, index = msg[0], int(msg[1])
        if kind == "ready":
            if len(msg) > 2 and msg[2]:
                self.launch.where[index] = str(msg[2])
            return index
        if kind == "progress" and progress is not None:
            progress[index] = dict(msg[2])
        return None

    def wait_ready(self) -> None:
        """Wait until every worker is ready (or one died, or the wait timed out, or SIGINT)."""
        ready: set[int] = set()
        deadline = time.monotonic() + READY_TIMEOUT_S
        n = len(self.futures)
        while len(ready) < n and not self.interrupted.is_set():
            self._check_lost()
            dead = [i for i in range(n) if self._finished(i)]
            if dead:
                exc = self._exception(dead[0])
                self.failed = (dead[0], _describe(exc) if exc else "exited before starting")
                return
            if time.monotonic() > deadline:
                self.failed = (min(set(range(n)) - ready), f"not ready within {READY_TIMEOUT_S:.0f} s")
                return
            index = self._note(self.launch.message())
            if index is not None:
                ready.add(index)

    def start(self, lead_s: float) -> None:
        """Every worker waits for the planned start: they start together (or all stop at once)."""
        self.start_wall = time.time() + lead_s
        if self.failed is None and not self.interrupted.is_set():
            self.launch.go(self.start_wall)
        else:
            self._stop()

    def relay_progress(self, on_progress: Callable[[Progress], None] | None) -> None:
        """Until every worker is done: pass progress on, and stop all on SIGINT or a failure.
        Bounded: a shard not done `FINISH_GRACE_S` after the run's time limit is failed."""
        progress: dict[int, dict[str, Any]] = {}
        last_report = last_lost = time.monotonic()
        deadline = last_report + self.spec.max_seconds + FINISH_GRACE_S
        n = len(self.futures)
        while not all(self._finished(i) for i in range(n)):
            now = time.monotonic()
            if self.interrupted.is_set():
                self._stop()
            if now - last_lost >= 0.5:
                last_lost = now
                self._check_lost()
            if now > deadline:
                for i in range(n):
                    if not self._finished(i):
                        self.gone[i] = f"no result {FINISH_GRACE_S:.0f} s after the run's time limit"
            if self.failed is None:
                self.failed = self._first_failure()
                if self.failed is not None:
                    self._stop()
            self._note(self.launch.message(), progress)
            if on_progress is not None and progress and now - last_report >= 0.5:
                last_report = now
                on_progress(self._progress(progress))

    def _first_failure(self) -> tuple[int, str] | None:
        for i in range(len(self.futures)):
            if self._finished(i) and (exc := self._exception(i)) is not None:
                return (i, _describe(exc))
        return None

    def _progress(self, progress: dict[int, dict[str, Any]]) -> Progress:
        reports = progress.values()
        return Progress(sum(p["done"] for p in reports), self.spec.total_requests, sum(p["rps"] for p in reports),
                        sum(p["errors"] for p in reports), max(0.0, time.time() - self.start_wall), len(progress))

    def result(self) -> LoadResult:
        """The merged result; WorkerError (carrying it) when a worker failed."""
        results: list[ShardResult] = []
        reports: list[ShardReport] = []
        errors: list[str] = []
        for i, shard in enumerate(self.shards):
            where = self.launch.where[i]
            exc = self._exception(i)
            if exc is None:
                try:
                    result: ShardResult = self.futures[i].result(timeout=FINISH_GRACE_S)
                except (Exception, CancelledError) as lost:
                    exc = lost
                else:
                    results.append(result)
                    reports.append(ShardReport.of(result, where))
                    continue
            if self.failed is None:
                self.failed = (i, _describe(exc))
            errors.append(f"worker {i} ({where}): {_describe(exc)}")
            reports.append(ShardReport.failed(i, where, tuple(k.name for k in shard.spec.kinds), _describe(exc)))
        interrupted = self.interrupted.is_set()
        stop_reason = "interrupted" if interrupted else ("failed" if self.failed else None)
        spec = self.spec
        merged = LoadResult.merge(spec.protocol, spec.model.to_dict(), results, stop_reason=stop_reason,
                                  errors=tuple(errors), executor=self.executor, by_shard=tuple(reports))
        if self.failed is not None and not interrupted:
            index = self.failed[0]
            raise WorkerError(index, self.failed[1], merged, self.launch.where[index])
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


__all__ = ["ExecutorError", "Launch", "Progress", "ShardExecutor", "WorkerError", "plan_shards", "run_load", "run_load_async", "run_load_inline"]
