"""A real local Dask cluster on loopback: one `dask scheduler` and `dask worker` commands (nanny + worker processes).

`run_dask` starts the scheduler, then one `dask worker --nworkers N` command per `DaskWorkers`, waits until every
worker process has registered with the scheduler, and on any exit stops the workers, then the scheduler (each
`Daemon.stop` kills its whole process group, so the nanny's worker processes go too). Everything listens on
127.0.0.1 only, the HTTP servers (which Dask starts even with `--no-dashboard`) included.

`distributed` is imported only inside the functions that talk to the cluster, so the plugin imports without it.
"""

from __future__ import annotations

import contextlib
import importlib
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_trinity.services.ports import LOOPBACK, free_port
from pytest_trinity.services.process import Daemon, ServiceError

INSTALL_HINT = "pip install 'pytest-trinity[dask]'"
_FORBIDDEN_IN_NAMES = frozenset(" \t\n\r=,")


@dataclass(frozen=True)
class DaskWorkers:
    """One `dask worker` command: `count` worker processes (--nworkers) of `threads` threads each, with Dask worker resources."""

    count: int = 1
    threads: int = 1
    resources: tuple[tuple[str, float], ...] = ()  # e.g. (("client-a", 1.0),)  -> --resources "client-a=1"
    name: str = ""  # --name prefix (optional); Dask appends -0, -1, ... when count > 1

    def __post_init__(self) -> None:
        if isinstance(self.count, bool) or not isinstance(self.count, int) or self.count < 1:
            raise ValueError(f"DaskWorkers.count must be an integer >= 1, got {self.count!r}")
        if isinstance(self.threads, bool) or not isinstance(self.threads, int) or self.threads < 1:
            raise ValueError(f"DaskWorkers.threads must be an integer >= 1, got {self.threads!r}")
        if set(self.name) & _FORBIDDEN_IN_NAMES:
            raise ValueError(f"DaskWorkers.name must not contain spaces, '=' or ',', got {self.name!r}")
        seen: set[str] = set()
        for item in self.resources:
            if not (isinstance(item, tuple) and len(item) == 2):
                raise ValueError(f"DaskWorkers.resources must be (name, amount) pairs, got {item!r}")
            key, amount = item
            if not isinstance(key, str) or not key or set(key) & _FORBIDDEN_IN_NAMES:
                raise ValueError(f"DaskWorkers.resources: a resource name must be a non-empty string without spaces, '=' or ',', got {key!r}")
            if key in seen:
                raise ValueError(f"DaskWorkers.resources: resource {key!r} is declared twice")
            seen.add(key)
            if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not math.isfinite(amount) or amount < 0:
                raise ValueError(f"DaskWorkers.resources: the amount of {key!r} must be a finite number >= 0, got {amount!r}")

    def resources_arg(self) -> str:
        """The `--resources` value, e.g. "client-a=1 gpu=0.5" ("" when there are none)."""
        return " ".join(f"{key}={float(amount):g}" for key, amount in self.resources)


@dataclass
class DaskCluster:
    """A started local cluster: the scheduler's address, and the daemons to inspect or stop."""

    address: str  # "tcp://127.0.0.1:PORT" (the scheduler)
    url: str  # "dask://127.0.0.1:PORT" (what --trinity-executor takes)
    scheduler: Daemon
    workers: list[Daemon] = field(default_factory=list)  # one Daemon per `dask worker` command

    def worker_pids(self, timeout: float = 10.0) -> dict[str, int]:
        """Worker address -> pid of the worker process serving it (asked of each worker with `os.getpid`)."""
        with _client(self.address, timeout) as client:
            try:
                # `callback_timeout` is consumed by Client.sync (which Client.run calls): the whole call is bounded.
                pids: dict[str, int] = client.run(os.getpid, callback_timeout=timeout)
            except (OSError, TimeoutError) as exc:
                raise ServiceError(f"the Dask workers of {self.address} did not report their pids within {timeout:g} s ({exc})") from None
        return pids

    def wait_workers(self, n: int, timeout: float = 60.0) -> list[str]:
        """Block until the scheduler lists >= `n` workers; return their addresses (sorted).

        Fails at once if the scheduler or a `dask worker` command has exited, and after `timeout` s otherwise; the
        ServiceError names the scheduler's address and quotes the logs' tails.
        """
        deadline = time.monotonic() + timeout
        seen: list[str] = []
        problem = ""
        try:
            with _client(self.address, timeout) as client:
                for _ in range(max(1, int(timeout / 0.1)) + 1):
                    left = deadline - time.monotonic()
                    seen = sorted(client.nthreads(callback_timeout=max(left, 0.1)))
                    if len(seen) >= n:
                        return seen
                    dead = [d.name for d in (self.scheduler, *self.workers) if not d.alive()]
                    if dead:
                        problem = f"{', '.join(dead)} exited"
                        break
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.1)
        except (OSError, TimeoutError, ServiceError) as exc:
            problem = str(exc)
        problem = problem or f"timed out after {timeout:g} s"
        raise ServiceError(
            f"the Dask scheduler {self.address} lists {len(seen)} of the {n} workers expected ({problem}).\n{self._log_tails()}"
        )

    def _log_tails(self) -> str:
        return "\n".join(f"--- {d.log_path.name} ---\n{d.log_tail()}" for d in (self.scheduler, *self.workers))


def dask_executable() -> str:
    """The `dask` command of this Python's environment (next to sys.executable), else the one on PATH."""
    beside = Path(sys.executable).parent / "dask"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("dask")
    if found is None:
        raise ServiceError(f"the `dask` command (Dask distributed) was not found next to {sys.executable} nor on PATH: {INSTALL_HINT}")
    return found


@contextlib.contextmanager
def _client(address: str, timeout: float) -> Iterator[Any]:
    """A short-lived `distributed.Client` of `address` that leaves no global state behind (not set as the default scheduler).

    Typed `Any`: distributed's Client methods are not annotated.
    """
    try:
        distributed: Any = importlib.import_module("distributed")
    except ImportError:
        raise ServiceError(f"Dask distributed is not installed in this Python: {INSTALL_HINT}") from None
    try:
        client = distributed.Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError) as exc:
        raise ServiceError(f"cannot connect to the Dask scheduler {address} within {timeout:g} s ({exc})") from None
    try:
        yield client
    finally:
        client.close(timeout=timeout)


def _environment(local_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update({
        "DASK_TEMPORARY_DIRECTORY": str(local_dir),  # any scratch file stays in the work dir
        "DASK_DISTRIBUTED__DIAGNOSTICS__NVML": "False",  # no GPU probing
        "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False",  # no stack sampling of the shards (docs/distributed.md)
        "PYTHONUNBUFFERED": "1",  # logs reach the log files as they happen
    })
    return env


@contextlib.contextmanager
def run_dask(workers: Sequence[DaskWorkers] = (DaskWorkers(count=2),), workdir: Path | None = None,
             ready_timeout: float = 60.0) -> Iterator[DaskCluster]:
    """Start a Dask scheduler and `dask worker` commands on 127.0.0.1; yield once all worker processes are registered.

    Logs go to `workdir` (a temp dir when None): `dask-scheduler.log`, `dask-worker-<i>.log`. On exit the workers
    are stopped, then the scheduler, whatever happened.
    """
    workers = tuple(workers)
    if not workers or not all(isinstance(w, DaskWorkers) for w in workers):
        raise ValueError(f"run_dask needs one or more DaskWorkers, got {workers!r}")
    names = [w.name for w in workers if w.name]
    if len(names) != len(set(names)):
        raise ValueError(f"run_dask: two DaskWorkers commands have the same name prefix ({names!r}); Dask needs unique worker names")
    if ready_timeout <= 0:
        raise ValueError(f"run_dask: ready_timeout must be > 0 s, got {ready_timeout!r}")
    dask = dask_executable()
    with contextlib.ExitStack() as stack:
        if workdir is None:
            workdir = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="trinity-dask-")))
        workdir.mkdir(parents=True, exist_ok=True)
        local_dir = Path(tempfile.mkdtemp(prefix="dask-local-", dir=workdir))
        stack.callback(shutil.rmtree, local_dir, True)
        env = _environment(local_dir)
        port = free_port()
        address = f"tcp://{LOOPBACK}:{port}"
        http = f"{LOOPBACK}:0"  # Dask's HTTP server (/health, /metrics) runs even with --no-dashboard: keep it on loopback
        scheduler = Daemon("dask-scheduler", [dask, "scheduler", "--host", LOOPBACK, "--port", str(port), "--no-dashboard",
                                              "--dashboard-address", http],
                           workdir, ready_ports=(port,), ready_timeout=ready_timeout, env=env)
        cluster = DaskCluster(address, f"dask://{LOOPBACK}:{port}", scheduler, [])
        # Callbacks run last-in first-out: the workers (registered after) stop before the scheduler.
        stack.callback(scheduler.stop)
        scheduler.start()
        for i, spec in enumerate(workers):
            argv = [dask, "worker", address, "--host", LOOPBACK, "--nworkers", str(spec.count), "--nthreads", str(spec.threads),
                    "--no-dashboard", "--dashboard-address", http, "--local-directory", str(local_dir)]
            if spec.resources:
                argv += ["--resources", spec.resources_arg()]
            if spec.name:
                argv += ["--name", spec.name]
            daemon = Daemon(f"dask-worker-{i}", argv, workdir, env=env)
            cluster.workers.append(daemon)
            stack.callback(daemon.stop)
            daemon.start()
        cluster.wait_workers(sum(w.count for w in workers), ready_timeout)
        yield cluster
