"""Where shards run with `--trinity-executor dask://HOST:PORT`: the workers of a running Dask
distributed cluster (one or more stress-client machines).

- Placement: one shard per worker thread (Dask's "cores"; start workers with `--nthreads 1`
  and `--nworkers <cores>`, one process per core), spread round-robin over the machines and
  their workers, each pinned to its worker (a shard never moves or runs twice). A run with several streams and
  `stream_groups` (stream -> Dask worker resource, from the targets file) runs each stream on
  the workers that declare that resource: the plan's separate stress clients of test 2d.
- Start barrier: every shard reports "ready", then waits for a planned start time (a Dask
  Variable) and starts its first request at that time on its machine's clock.
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
from collections.abc import Iterator, Mapping
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
STOP_POLL_S = 0.25  # how often a remote shard looks for the stop event


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


@dataclass(frozen=True)
class DaskWorker:
    """One worker as the scheduler lists it."""

    address: str
    threads: int
    resources: frozenset[str]


class DaskExecutor:
    """Shards on the workers of the Dask scheduler at `url` ("dask://host:port")."""

    start_lead_s = 0.3  # the planned start: time for the Variable to reach every worker

    def __init__(self, url: str, stream_groups: Mapping[str, str] | None = None,
                 connect_timeout: float = CONNECT_TIMEOUT_S) -> None:
        from distributed import Client

        self.name = url
        self.address = scheduler_address(url)
        self.stream_groups = dict(stream_groups or {})
        self._where: list[str] = []
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # version notes of the cluster's packages; the check below is ours
                self.client = Client(self.address, timeout=connect_timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ExecutorError(f"--trinity-executor {url}: no Dask scheduler answers at {self.address} ({exc}); "
                                f"start one with `dask scheduler --port {self.address.rsplit(':', 1)[1]}` "
                                "(docs/distributed.md)") from None

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> DaskExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def workers(self) -> list[DaskWorker]:
        info = self.client.scheduler_info(n_workers=-1)["workers"]
        return sorted((DaskWorker(addr, int(w.get("nthreads", 1)), frozenset((w.get("resources") or {}).keys()))
                       for addr, w in info.items()), key=lambda w: w.address)

    def shards(self, spec: LoadSpec, processes: int | None) -> list[ShardSpec]:
        """The run's shards, each with the worker it will run on (kept for `launch`)."""
        workers = self.workers()
        if not workers:
            raise ExecutorError(f"--trinity-executor {self.name}: no Dask worker is connected to the scheduler "
                                f"(start some with `dask worker {self.address} --nthreads 1 --nworkers <cores>`)")
        groups: list[tuple[LoadSpec, list[DaskWorker]]]
        if len(spec.kinds) > 1 and self.stream_groups:
            groups = [(sub, self._group(sub.kinds[0].name, workers)) for sub in split_by_kind(spec)]
        else:
            groups = [(spec, workers)]
        shards: list[ShardSpec] = []
        where: list[str] = []
        for sub, members in groups:
            slots = _slots(members)
            wanted = (max(1, processes // len(groups)) if processes else None) or sub.processes or len(slots)
            n = max(1, min(wanted, sub.concurrency, max(1, sub.total_requests)))
            for sh in split(sub, n):
                where.append(slots[sh.index % len(slots)])
                shards.append(sh)
        total = len(shards)
        self._where = where
        return [dataclasses.replace(sh, index=i, shards=total) for i, sh in enumerate(shards)]

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
        if len(self._where) != len(shards):
            raise ExecutorError("DaskExecutor.launch needs the shards its own `shards()` planned")
        launch = DaskLaunch(self.client, shards, list(self._where))
        try:
            yield launch
        finally:
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
    """The submitted shards of one run on Dask, and the events, variable and topic that
    steer them (named after the run, removed at its end)."""

    def __init__(self, client: Any, shards: list[ShardSpec], where: list[str]) -> None:
        from distributed import Event, Variable

        self.client = client
        self.where = where
        self.topic = f"trinity-load-{uuid.uuid4().hex[:12]}"
        self.messages: queue.SimpleQueue[Any] = queue.SimpleQueue()
        client.subscribe_topic(self.topic, lambda event: self.messages.put(event[1]))
        self.start_at = Variable(f"{self.topic}-start", client=client)
        self.stop_event = Event(f"{self.topic}-stop", client=client)
        self.started = False
        self.futures = [client.submit(remote_shard, sh, self.topic, key=f"{self.topic}-shard-{sh.index}",
                                      workers=[addr], allow_other_workers=False, pure=False)
                        for sh, addr in zip(shards, where, strict=True)]

    def message(self) -> tuple[Any, ...] | None:
        try:
            return tuple(self.messages.get(timeout=0.1))
        except queue.Empty:
            return None

    def go(self, start_at: float) -> None:
        self.started = True
        self.start_at.set(start_at)

    def stop(self) -> None:
        self.stop_event.set()
        if not self.started:
            self.started = True
            self.start_at.set(-1.0)  # shards still waiting for the start return at once

    def lost(self) -> tuple[int, str] | None:
        try:
            alive = set(self.client.nthreads(callback_timeout=10))
        except Exception as exc:
            running = [i for i, f in enumerate(self.futures) if not f.done()]
            return (running[0], f"the Dask scheduler stopped answering ({type(exc).__name__}: {exc})") if running else None
        for i, (future, addr) in enumerate(zip(self.futures, self.where, strict=True)):
            if addr not in alive and not future.done():
                return (i, f"Dask worker {addr} left the cluster while running shard {i} (died, was killed or lost "
                           "its connection); its share of the load is missing")
        return None

    def close(self) -> None:
        """Stop what still runs, forget the run's futures, events and topic."""
        with contextlib.suppress(Exception):
            self.stop()
        for future in self.futures:
            if not future.done():
                future.cancel()
        with contextlib.suppress(Exception):
            self.client.unsubscribe_topic(self.topic)
            self.start_at.delete()
            self.stop_event.clear()


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


def remote_shard(shard: ShardSpec, topic: str) -> ShardResult:
    """Runs on a Dask worker: check the target, report ready, wait for the planned start, run
    the shard with progress as events, stop on the run's stop event (or when cancelled)."""
    from distributed import Event, Variable, get_worker

    worker = get_worker()
    _check_reachable(shard.spec, worker.address)
    worker.log_event(topic, ["ready", shard.index, worker.address])
    start_at = float(Variable(f"{topic}-start").get(timeout=READY_TIMEOUT_S))
    if start_at < 0:
        return empty_result(shard, "interrupted")
    stop = Event(f"{topic}-stop")
    stopped, finished = threading.Event(), threading.Event()
    key = worker.get_current_task()

    def watch() -> None:
        deadline = time.monotonic() + shard.spec.max_seconds + FINISH_GRACE_S
        while not finished.is_set() and time.monotonic() < deadline:
            try:
                if stop.wait(timeout=STOP_POLL_S):
                    break
            except Exception:  # the scheduler is unreachable: nobody will collect this shard
                break
            task = worker.state.tasks.get(key)
            if task is None or task.state not in ("executing", "long-running"):
                break  # cancelled: the run that submitted it is gone
        stopped.set()

    def progress(index: int, data: dict[str, Any]) -> None:
        worker.log_event(topic, ["progress", index, data])

    watcher = threading.Thread(target=watch, name=f"trinity-stop-{shard.index}", daemon=True)
    watcher.start()
    try:
        return run_shard(dataclasses.replace(shard, start_at=start_at), progress,
                         lambda: stopped.is_set() and not finished.is_set())
    finally:
        finished.set()
