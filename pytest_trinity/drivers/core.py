"""The protocol-independent core of one shard's run: `ShardRun` (budget, kind mix, bounds
and stopping, the once-per-interval fold of raw latencies into histograms and the per-second
series, progress reports) and `KindState` (one request kind's hot-path counters). Protocol
drivers build on this module; it imports none of them.
"""

from __future__ import annotations

import asyncio
import re
import resource
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from pytest_trinity.drivers.latency import HIGHEST_US, Latency, SecondSample, encode, new_histogram
from pytest_trinity.drivers.outcomes import Refusals, Tally, prepare_refusals
from pytest_trinity.drivers.result import KindResult, ShardResult
from pytest_trinity.drivers.spec import ClosedModel, LoadSpec, OpenModel, RequestKind, ShardSpec
from pytest_trinity.oslimits import peak_rss_bytes

# progress callback: (shard index, dict(done=, total=, rps=, errors=, t=)) -> None
ShardProgress = Callable[[int, dict[str, Any]], None]

HOUSEKEEPING_S = 0.1
# The shard's CPU time is its own thread's (the loop does all its I/O): a Dask worker runs
# several shards, and its own threads, in one process.
_RUSAGE = getattr(resource, "RUSAGE_THREAD", resource.RUSAGE_SELF)
_NEVER = re.compile(b"(?!)")  # the cache-hit pattern of a kind without a cache-hit rule


class KindState:
    """Hot-path state for one request kind inside one shard. The target-contract rules of an
    HTTP kind (cache-hit probe and pattern, 429 refusal words) are prepared here once."""

    __slots__ = ("spec", "name", "tally", "raw", "raw_service", "raw_cache", "hist", "hist_service",
                 "hist_cache", "payload", "cache_probe", "cache_re", "refusals")

    def __init__(self, spec: RequestKind, open_model: bool) -> None:
        self.spec = spec
        self.name = spec.name
        self.tally = Tally()
        self.raw: list[int] = []
        self.raw_service: list[int] = []  # open model only: latency from the actual send
        self.raw_cache: list[int] = []
        self.hist = new_histogram()
        self.hist_service = new_histogram() if open_model else None
        self.hist_cache = new_histogram()
        self.payload: Any = None  # the driver's per-kind request maker (HTTP: bytes, UDP: codec)
        # UDP kinds have no cache-hit rule and no refusal words (error replies count by text)
        field: str | None = getattr(spec, "cache_field", None)
        values: tuple[str, ...] = getattr(spec, "cache_values", ())
        self.cache_probe: bytes | None = None
        self.cache_re: re.Pattern[bytes] = _NEVER
        if field and values:
            self.cache_probe = f'"{field}"'.encode()
            alts = "|".join(re.escape(v) for v in values)
            self.cache_re = re.compile(rf'"{re.escape(field)}"\s*:\s*"(?:{alts})"'.encode())
        self.refusals: Refusals = prepare_refusals(getattr(spec, "refusals", ()))

    def result(self) -> KindResult:
        lat = Latency.from_histogram(self.hist)
        svc = Latency.from_histogram(self.hist_service) if self.hist_service is not None else lat
        return KindResult(self.name, self.tally.freeze(), lat, svc, Latency.from_histogram(self.hist_cache))


def _fold_counter(counter: Counter[int], *hists: Any) -> None:
    for value, count in counter.items():
        v = HIGHEST_US if value > HIGHEST_US else (0 if value < 0 else value)
        for h in hists:
            h.record_value(v, count)


class ShardRun:
    """Everything a protocol driver needs from its shard; drivers call `pick`, `take`, and
    report completions through the kinds' tallies and raw lists."""

    def __init__(self, shard: ShardSpec, on_progress: ShardProgress | None = None,
                 should_stop: Callable[[], bool] | None = None) -> None:
        spec: LoadSpec = shard.spec
        self.shard = shard
        self.spec = spec
        self.model = shard.model
        self.open = isinstance(self.model, OpenModel)
        self.kinds = [KindState(k, self.open) for k in spec.kinds]
        self.cycle = [i for i, k in enumerate(spec.kinds) for _ in range(k.weight)]
        self.cycle_pos = 0
        self.cycle_kinds = [self.kinds[i] for i in self.cycle]
        self.cycle_len = len(self.cycle_kinds)
        if isinstance(self.model, ClosedModel):
            planned = self.model.requests
        else:
            planned = self.model.planned_requests
        self.total = min(planned, shard.max_requests)
        self.limited_by_requests = shard.max_requests < planned
        self.remaining = self.total
        self.timeout_ns = int(spec.timeout * 1e9)
        self.on_progress = on_progress
        self.should_stop = should_stop
        self.stopping = False
        self.stop_reason: str | None = None
        self.stop_waiter: asyncio.Future[str] | None = None
        self.loop: asyncio.AbstractEventLoop  # set when `run` starts
        self.start_ns = 0
        self.deadline_ns = 0
        self.series: list[SecondSample] = []
        self.interval_hist = new_histogram()
        self.last_done = 0
        self.last_errors = 0
        self.stop_hooks: list[Callable[[], None]] = []
        self.late_sends = 0
        self.unsent = 0
        self.max_send_lag_us = 0
        self.peak_connections = 0  # most connections (HTTP) or sockets (UDP) open at once
        self.housekeepers: list[Callable[[int], None]] = []
        self.buf = bytearray(256 * 1024)
        self.view = memoryview(self.buf)

    # ---- the kind mix -------------------------------------------------------------------
    def pick(self) -> KindState:
        i = self.cycle_pos
        self.cycle_pos = i + 1
        return self.cycle_kinds[i % self.cycle_len]

    def take(self) -> KindState | None:
        """Consume one request of the budget and return its kind, or None when spent/stopping."""
        if self.remaining <= 0 or self.stopping:
            return None
        self.remaining -= 1
        return self.pick()

    # ---- bounds and stopping ------------------------------------------------------------
    def stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
        if not self.stopping:
            self.stopping = True
            self.remaining = 0  # the hot paths only look at this
            for hook in self.stop_hooks:
                hook()
        if self.stop_waiter is not None and not self.stop_waiter.done():
            self.stop_waiter.set_result(reason)

    def finished(self) -> None:
        """The driver completed its work."""
        self.stop("request_limit" if self.limited_by_requests else "completed")

    # ---- periodic work ------------------------------------------------------------------
    def _housekeeping(self) -> None:
        if self.stop_reason is not None:
            return
        now = time.monotonic_ns()
        if self.should_stop is not None and self.should_stop():
            self.stop("interrupted")
            return
        if now >= self.deadline_ns:
            self.stop("time_limit")
            return
        for hk in self.housekeepers:
            hk(now)
        self.loop.call_later(HOUSEKEEPING_S, self._housekeeping)

    def fold(self, t: int | None = None) -> None:
        """Fold raw samples into histograms; with `t`, close a per-second series sample."""
        ih = self.interval_hist
        for k in self.kinds:
            if k.raw:
                raw, k.raw = k.raw, []
                _fold_counter(Counter(raw), k.hist, ih)
            if k.raw_service:
                raw, k.raw_service = k.raw_service, []
                _fold_counter(Counter(raw), k.hist_service)
            if k.raw_cache:
                raw, k.raw_cache = k.raw_cache, []
                _fold_counter(Counter(raw), k.hist_cache)
        if t is None:
            return
        done = 0
        errors = 0
        for k in self.kinds:
            f = k.tally.failures()
            done += k.tally.ok + f
            errors += f
        prev_done, prev_err = self.last_done, self.last_errors
        n = ih.get_total_count()
        self.series.append(SecondSample(t, done - prev_done, errors - prev_err,
                                        ih.get_value_at_percentile(50) if n else 0,
                                        ih.get_value_at_percentile(99) if n else 0, encode(ih) if n else ""))
        self.last_done, self.last_errors = done, errors
        self.interval_hist = new_histogram()
        if self.on_progress is not None:
            interval = self.spec.interval
            self.on_progress(self.shard.index, {"done": done, "total": self.total, "errors": errors,
                                                "rps": (done - prev_done) / interval, "t": t})

    def _tick(self, t: int) -> None:
        if self.stop_reason is not None:
            return
        self.fold(t)
        nxt = self.start_ns + int((t + 2) * self.spec.interval * 1e9)
        self.loop.call_later(max(0.0, (nxt - time.monotonic_ns()) / 1e9), self._tick, t + 1)

    # ---- running ------------------------------------------------------------------------
    async def run(self, driver: Driver) -> ShardResult:
        """Run `driver(self)` (a coroutine function that returns when its work is done or the
        run stops) under the bounds; returns the shard's result."""
        self.loop = asyncio.get_running_loop()
        if self.shard.start_at is not None:
            # Until the planned start, in short steps: a stop while waiting ends the shard unstarted.
            while (delay := self.shard.start_at - time.time()) > 0:
                if self.should_stop is not None and self.should_stop():
                    return empty_result(self.shard, "interrupted")
                await asyncio.sleep(min(delay, HOUSEKEEPING_S))
        ru0 = resource.getrusage(_RUSAGE)
        started_at = time.time()
        self.start_ns = time.monotonic_ns()
        if self.shard.start_at is not None:
            # Seconds of the series count from the planned start, so every shard's second t is
            # the same wall-clock second (a late shard's first second is a little shorter).
            late_ns = int(max(0.0, started_at - self.shard.start_at) * 1e9)
            self.start_ns -= min(late_ns, int(self.spec.interval * 1e9))
        self.deadline_ns = self.start_ns + int(self.spec.max_seconds * 1e9)
        stop_waiter: asyncio.Future[str] = self.loop.create_future()
        self.stop_waiter = stop_waiter
        self.loop.call_later(HOUSEKEEPING_S, self._housekeeping)
        first_tick_ns = self.start_ns + int(self.spec.interval * 1e9) - time.monotonic_ns()
        self.loop.call_later(max(0.0, first_tick_ns / 1e9), self._tick, 0)
        task = asyncio.ensure_future(driver(self))
        try:
            waiters: set[asyncio.Future[Any]] = {task, stop_waiter}
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            if not task.done():
                # stopped from outside (limit, interrupt): give the driver a moment to wind down
                await asyncio.wait({task}, timeout=0.5)
            if not task.done():
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
            elif (exc := task.exception()) is not None:
                raise exc
        except asyncio.CancelledError:
            self.stop("interrupted")
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if self.stop_reason is None:
            self.finished()
        elapsed_ns = time.monotonic_ns() - self.start_ns
        t_last = int(elapsed_ns / (self.spec.interval * 1e9))
        self.fold(t_last)
        ru1 = resource.getrusage(_RUSAGE)
        cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
        return ShardResult(self.shard.index, tuple(k.result() for k in self.kinds),
                           tuple(s for s in self.series if s.requests or s.encoded), elapsed_ns / 1e9,
                           self.stop_reason or "completed", self.late_sends, self.unsent,
                           self.max_send_lag_us, cpu, peak_rss_bytes(), self.peak_connections, started_at, self.total)


def empty_result(shard: ShardSpec, stop_reason: str) -> ShardResult:
    """The result of a shard that never started (e.g. interrupted while waiting to start)."""
    open_model = isinstance(shard.model, OpenModel)
    planned = shard.model.requests if isinstance(shard.model, ClosedModel) else shard.model.planned_requests
    return ShardResult(shard.index, tuple(KindState(k, open_model).result() for k in shard.spec.kinds), (), 0.0,
                       stop_reason, planned=min(planned, shard.max_requests))


# a protocol driver: runs one shard's load on a ShardRun, returns when done or stopped
Driver = Callable[[ShardRun], Awaitable[None]]
