"""Where shards run with `--trinity-executor dask://HOST:PORT`: the workers of a running Dask
distributed cluster (one or more stress-client machines).

- Placement: one shard per worker thread (Dask's "cores"; start workers with `--nthreads 1`
  and `--nworkers <cores>`, one process per core), never more; spread round-robin over the
  machines and their workers, each pinned to its worker (a shard never moves), and claimed
  by its first run (one back at a lost worker's address cannot send its share again). A run
  with several streams and `stream_groups` (stream -> Dask worker resource, from the
  targets file) runs each stream on the workers that declare that resource: the plan's
  separate stress clients of test 2d.
- Start barrier: every shard reports "ready", then waits for a planned start time (a Dask
  Variable) and starts its first request at that time on its machine's clock (refused if
  that clock is seconds behind this one's).
- Progress and stop: each shard's once-a-second progress goes out as Dask events
  (`log_event` on the worker, `subscribe_topic` here); a Dask Event stops every shard, which
  returns its partial result. A shard whose task is cancelled (the run's client is gone)
  stops by itself.
- Failures: a worker that leaves the cluster (killed, crashed) fails its shard with the
  worker's address; a worker that cannot open a TCP connection to the target fails before
  the start, naming itself, the target and the error.
"""

from __future__ import annotations

import contextlib
import dataclasses
import itertools
import queue
import socket
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from pytest_trinity.drivers.core import empty_result
from pytest_trinity.drivers.local_pool import LocalExecutor
from pytest_trinity.drivers.result import ShardResult
from pytest_trinity.drivers.runner import ExecutorError, ShardExecutor
from pytest_trinity.drivers.shard import run_shard
from pytest_trinity.drivers.spec import FINISH_GRACE_S, READY_TIMEOUT_S, LoadSpec, ShardSpec, split, split_by_kind

SCHEME = "dask"
CONNECT_TIMEOUT_S = 10.0
CALL_TIMEOUT_S = 10.0  # any one call to the scheduler from this process
STOP_POLL_S = 0.25  # how often a remote shard looks for the stop event
SCHEDULER_GRACE_S = 2.0  # how long a remote shard tolerates a scheduler that does not answer
CLOCK_SLACK_S = 5.0  # a shard told to wait longer than the lead plus this: its clock is off


def parse_executor(text: str) -> str:
    """The option's value, checked: "local" or "dask://host:port"."""
    text = text.strip()
    if text != "local":
        scheduler_address(text)
    return text


def open_executor(url: str, stream_groups: Mapping[str, str] | None = None) -> ShardExecutor:
    """The executor `--trinity-executor` names: the local pool, or a connection to a Dask
    scheduler (ExecutorError when it does not answer or Dask is not installed)."""
    if url == "local":
        return LocalExecutor()
    try:
        import distributed  # noqa: F401
    except ImportError:
        raise ExecutorError(f"--trinity-executor {url}: the Dask client is not installed; "
                            "pip install 'pytest-trinity[dask]' (docs/distributed.md)") from None
    return DaskExecutor(url, stream_groups)


def scheduler_address(url: str) -> str:
    """"dask://host:port" -> "tcp://host:port"; ValueError naming the option otherwise."""
    parts = urlsplit(url)
    if parts.scheme != SCHEME or not parts.hostname or parts.path not in ("", "/"):
        raise ValueError(f"--trinity-executor {url!r}: expected 'local' or 'dask://HOST:PORT' (a running Dask scheduler)")
    try:
        port = parts.port or 8786
    except ValueError:
        raise ValueError(f"--trinity-executor {url!r}: the port is not a number") from None
    return f"tcp://{parts.hostname}:{port}"


def _within(seconds: float, what: str, call: Callable[[], Any]) -> Any:
    """`call()` in a helper thread, given up after `seconds` (Dask's Event calls take no
    timeout, and a scheduler that stalls would hold the run forever)."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["value"] = call()
        except BaseException as exc:  # handed to the caller below
            box["error"] = exc

    thread = threading.Thread(target=run, name=f"trinity-dask-{what}", daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        raise ExecutorError(f"the Dask scheduler did not answer within {seconds:g} s ({what})")
    if "error" in box:
        raise box["error"]
    return box.get("value")


@dataclass(frozen=True)
class DaskWorker:
    """One worker as the scheduler lists it (`resources`: those it declares with an amount > 0)."""

    address: str
    threads: int
    resources: frozenset[str]


class DaskExecutor:
    """Shards on the workers of the Dask scheduler at `url` ("dask://host:port").

    One connection and one event topic for its whole life; every run gets its own id, its
    own start Variable, stop Event and claims, removed when the run ends."""

    start_lead_s = 0.3  # the planned start: time for the Variable to reach every worker

    def __init__(self, url: str, stream_groups: Mapping[str, str] | None = None,
                 connect_timeout: float = CONNECT_TIMEOUT_S) -> None:
        from distributed import Client

        self.name = url
        self.address = scheduler_address(url)
        self.stream_groups = dict(stream_groups or {})
        self._placed: dict[int, str] = {}  # id(shard) -> worker, from `shards` to `launch`
        self._inboxes: dict[str, queue.SimpleQueue[tuple[Any, ...]]] = {}  # run id -> its messages
        self.topic = f"trinity-load-{uuid.uuid4().hex[:12]}"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # version notes of the cluster's packages
                self.client = Client(self.address, timeout=connect_timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ExecutorError(f"--trinity-executor {url}: no Dask scheduler answers at {self.address} ({exc}); "
                                f"start one with `dask scheduler --port {self.address.rsplit(':', 1)[1]}` "
                                "(docs/distributed.md)") from None
        self.client.subscribe_topic(self.topic, self._route)

    def _route(self, event: tuple[float, Any]) -> None:
        """A shard's message ([run, kind, shard, data]) to its run's inbox; late ones of
        finished runs are dropped."""
        msg = event[1]
        inbox = self._inboxes.get(str(msg[0]))
        if inbox is not None:
            inbox.put(tuple(msg[1:]))

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.unsubscribe_topic(self.topic)
        self.client.close(timeout=CALL_TIMEOUT_S)

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def workers(self) -> list[DaskWorker]:
        if self.client.status != "running":
            raise ExecutorError(f"--trinity-executor {self.name}: the connection to the Dask scheduler at {self.address} "
                                f"is {self.client.status} (the scheduler stopped?); restart it and the run")
        info = _within(CALL_TIMEOUT_S, "list the workers", lambda: self.client.scheduler_info(n_workers=-1))
        return sorted((DaskWorker(addr, int(w.get("nthreads", 1)),
                                  frozenset(k for k, v in (w.get("resources") or {}).items() if v and v > 0))
                       for addr, w in info.get("workers", {}).items()), key=lambda w: w.address)

    def shards(self, spec: LoadSpec, processes: int | None) -> list[ShardSpec]:
        """The run's shards, each placed on a worker thread of its own (kept for `launch`);
        never more shards than threads, since a shard holds its thread from ready to end."""
        workers = self.workers()
        if not workers:
            raise ExecutorError(f"--trinity-executor {self.name}: no Dask worker is connected to the scheduler "
                                f"(start some with `dask worker {self.address} --nthreads 1 --nworkers <cores>`)")
        groups: list[tuple[LoadSpec, list[DaskWorker]]]
        if len(spec.kinds) > 1 and self.stream_groups:
            groups = [(sub, self._group(sub.kinds[0].name, workers)) for sub in split_by_kind(spec)]
        else:
            groups = [(spec, workers)]
        free = {w.address: max(1, w.threads) for w in workers}  # threads not yet given a shard
        placed: list[tuple[ShardSpec, str]] = []
        for sub, members in groups:
            slots = [a for a in _slots(members) if free[a] > 0]
            slots = [a for i, a in enumerate(slots) if slots[:i].count(a) < free[a]]
            if not slots:
                raise ExecutorError(f"stream {sub.kinds[0].name!r}: every thread of its workers already runs another stream's "
                                    f"shard ({', '.join(w.address for w in members)}); give each group its own workers")
            wanted = (max(1, processes // len(groups)) if processes else None) or sub.processes or len(slots)
            n = max(1, min(wanted, len(slots), sub.concurrency, max(1, sub.total_requests)))
            for sh in split(sub, n):
                free[slots[sh.index]] -= 1
                placed.append((sh, slots[sh.index]))
        total = len(placed)
        shards = [dataclasses.replace(sh, index=i, shards=total) for i, (sh, _) in enumerate(placed)]
        self._placed = {id(sh): addr for sh, (_, addr) in zip(shards, placed, strict=True)}
        return shards

    def _group(self, stream: str, workers: list[DaskWorker]) -> list[DaskWorker]:
        resource = self.stream_groups.get(stream)
        if resource is None:
            raise ExecutorError(f"stream {stream!r} has no worker group: add it to the target's [workers] table "
                                f"(streams: {sorted(self.stream_groups)})")
        members = [w for w in workers if resource in w.resources]
        if not members:
            listed = ", ".join(f"{w.address} {sorted(w.resources) or '[]'}" for w in workers)
            raise ExecutorError(f"stream {stream!r}: no Dask worker declares the resource {resource!r} "
                                f"(start its workers with `--resources {resource}=1`); workers: {listed}")
        return members

    @contextlib.contextmanager
    def launch(self, shards: list[ShardSpec]) -> Iterator[DaskLaunch]:
        try:
            where = [self._placed[id(sh)] for sh in shards]
        except KeyError:
            raise ExecutorError("DaskExecutor.launch needs the shards its own `shards()` planned") from None
        run = uuid.uuid4().hex[:12]
        inbox: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._inboxes[run] = inbox
        launch = DaskLaunch(self.client, self.topic, run, inbox, shards, where)
        try:
            yield launch
        finally:
            self._inboxes.pop(run, None)
            launch.close()


def _slots(workers: list[DaskWorker]) -> list[str]:
    """Worker addresses, one per thread, round-robin over machines first, then over each
    machine's workers: a level with fewer shards than threads still uses every machine."""
    by_host: dict[str, list[str]] = {}
    for w in workers:
        by_host.setdefault(urlsplit(w.address).hostname or w.address, []).extend([w.address] * max(1, w.threads))
    hosts = [_interleave(by_host[h]) for h in sorted(by_host)]
    return [a for row in itertools.zip_longest(*hosts) for a in row if a is not None]


def _interleave(addresses: list[str]) -> list[str]:
    """[a, a, b, b] -> [a, b, a, b]: one thread of each worker before a second of any."""
    rows: dict[str, int] = {}
    ranked = []
    for a in addresses:
        ranked.append((rows.get(a, 0), a))
        rows[a] = rows.get(a, 0) + 1
    return [a for _, a in sorted(ranked)]


class DaskLaunch:
    """The submitted shards of one run on Dask, and the Variable and Event that steer them
    (named after the run, removed at its end)."""

    def __init__(self, client: Any, topic: str, run: str, inbox: queue.SimpleQueue[tuple[Any, ...]],
                 shards: list[ShardSpec], where: list[str]) -> None:
        from distributed import Event, Variable

        self.client = client
        self.run = run
        self.where = where
        self.inbox = inbox
        self.names = RunNames(topic, run)
        self.start_at = Variable(self.names.start, client=client)
        self.stop_event = Event(self.names.stop, client=client)
        self.started = False
        self.futures = [client.submit(remote_shard, sh, self.names, key=f"trinity-{run}-shard-{sh.index}",
                                      workers=[addr], allow_other_workers=False, pure=False)
                        for sh, addr in zip(shards, where, strict=True)]

    def message(self) -> tuple[Any, ...] | None:
        try:
            return self.inbox.get(timeout=0.1)
        except queue.Empty:
            return None

    def go(self, start_at: float) -> None:
        self.started = True
        self.start_at.set(start_at, callback_timeout=CALL_TIMEOUT_S)

    def stop(self) -> None:
        try:
            _within(CALL_TIMEOUT_S, "stop the shards", self.stop_event.set)
        finally:
            if not self.started:
                self.started = True
                self.start_at.set(-1.0, callback_timeout=CALL_TIMEOUT_S)  # those waiting to start return at once

    def lost(self) -> list[tuple[int, str]]:
        running = [i for i, f in enumerate(self.futures) if not f.done()]
        if not running:
            return []
        try:
            alive = set(self.client.nthreads(callback_timeout=CALL_TIMEOUT_S))
        except Exception as exc:
            return [(i, f"the Dask scheduler stopped answering ({type(exc).__name__}: {exc})") for i in running]
        return [(i, f"Dask worker {self.where[i]} left the cluster while running shard {i} (died, was killed or lost its "
                    "connection); its share of the load is missing") for i in running if self.where[i] not in alive]

    def close(self) -> None:
        """Stop what still runs; forget the run's futures, Variables and Event (each step on
        its own: one that fails does not keep the others from running)."""
        steps: list[tuple[str, Callable[[], Any]]] = [("stop", self.stop)]
        steps += [(f"release shard {i}", f.release if f.done() else f.cancel) for i, f in enumerate(self.futures)]
        steps += [("delete the start", self.start_at.delete), ("clear the stop", self.stop_event.clear)]
        steps += [(f"delete claim {i}", _claim(self.names, i, self.client).delete) for i in range(len(self.futures))]
        for what, step in steps:
            with contextlib.suppress(Exception):
                _within(CALL_TIMEOUT_S, what, step)


@dataclass(frozen=True)
class RunNames:
    """The Dask names one run's shards use (they travel with every shard)."""

    topic: str
    run: str

    @property
    def start(self) -> str:
        return f"trinity-{self.run}-start"

    @property
    def stop(self) -> str:
        return f"trinity-{self.run}-stop"

    def claim(self, index: int) -> str:
        return f"trinity-{self.run}-claim-{index}"


def _claim(names: RunNames, index: int, client: Any = None) -> Any:
    from distributed import Variable

    return Variable(names.claim(index), client=client)


def _check_reachable(spec: LoadSpec, worker: str) -> None:
    """A TCP target must accept a connection from this worker (UDP has no handshake to try)."""
    if spec.protocol != "http":
        return
    host, port = spec.target.host, spec.target.port
    try:
        with socket.create_connection((host, port), timeout=min(5.0, spec.timeout)):
            pass
    except OSError as exc:
        raise ConnectionError(f"Dask worker {worker} cannot reach the target {host}:{port}: {exc}") from None


def _take_claim(names: RunNames, index: int, worker: str) -> None:
    """Mark shard `index` as run: a worker that comes back at the address of one that died
    must not send that shard's share a second time."""
    claim = _claim(names, index)
    try:
        first = claim.get(timeout=0.05)
    except TimeoutError:
        claim.set(worker)
        return
    raise RuntimeError(f"shard {index} already ran on {first}; this re-run on {worker} (after a worker was lost) is refused")


def remote_shard(shard: ShardSpec, names: RunNames) -> ShardResult:
    """Runs on a Dask worker: check the target, claim the shard, report ready, wait for the
    planned start, run the shard with progress as events, stop on the run's stop event (or
    when cancelled, or when the scheduler stays silent)."""
    from distributed import Event, Variable, get_worker

    worker = get_worker()
    _check_reachable(shard.spec, worker.address)
    _take_claim(names, shard.index, worker.address)
    worker.log_event(names.topic, [names.run, "ready", shard.index, worker.address])
    start_at = float(Variable(names.start).get(timeout=READY_TIMEOUT_S))
    if start_at < 0:
        return empty_result(shard, "interrupted")
    wait = start_at - time.time()
    if wait > DaskExecutor.start_lead_s + CLOCK_SLACK_S:
        raise RuntimeError(f"Dask worker {worker.address}: the run's start is {wait:.1f} s away on this machine's clock: "
                           "its clock is behind the pytest machine's; synchronise the clocks (chrony, docs/distributed.md)")
    stop = Event(names.stop)
    stopped, finished = threading.Event(), threading.Event()
    key = worker.get_current_task()

    def watch() -> None:
        deadline = time.monotonic() + shard.spec.max_seconds + FINISH_GRACE_S
        silent_since: float | None = None
        while not finished.is_set() and time.monotonic() < deadline:
            try:
                if stop.wait(timeout=STOP_POLL_S):
                    break
                silent_since = None
            except Exception:  # the scheduler does not answer: a blip, or nobody will collect this shard
                silent_since = silent_since or time.monotonic()
                if time.monotonic() - silent_since > SCHEDULER_GRACE_S:
                    break
                time.sleep(STOP_POLL_S)
            task = worker.state.tasks.get(key)
            if task is None or task.state not in ("executing", "long-running"):
                break  # cancelled: the run that submitted it is gone
        stopped.set()

    def progress(index: int, data: dict[str, Any]) -> None:
        worker.log_event(names.topic, [names.run, "progress", index, data])

    watcher = threading.Thread(target=watch, name=f"trinity-stop-{shard.index}", daemon=True)
    watcher.start()
    try:
        return run_shard(dataclasses.replace(shard, start_at=start_at), progress,
                         lambda: stopped.is_set() and not finished.is_set())
    finally:
        finished.set()
