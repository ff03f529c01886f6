"""run_dask starts a real local Dask cluster (scheduler + nanny-managed worker processes) on loopback and leaves nothing behind."""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import psutil
import pytest
from distributed import Client

from pytest_trinity.services import ServiceError
from pytest_trinity.services import dask as dask_launcher
from pytest_trinity.services.dask import DaskCluster, DaskWorkers, run_dask


@contextmanager
def _client(cluster: DaskCluster) -> Iterator[Client]:
    with Client(cluster.address, timeout=10, set_as_default=False) as client:
        yield client


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _cluster_pids(cluster: DaskCluster) -> set[int]:
    """The scheduler, each `dask worker` command (the nanny) and every process they spawned."""
    pids: set[int] = set()
    for daemon in (cluster.scheduler, *cluster.workers):
        assert daemon.proc is not None
        root = psutil.Process(daemon.proc.pid)
        pids |= {root.pid, *(child.pid for child in root.children(recursive=True))}
    return pids


def _listening(pid: int) -> list[str]:
    return [conn.laddr.ip for conn in psutil.Process(pid).net_connections(kind="inet") if conn.status == psutil.CONN_LISTEN]


def test_two_worker_processes_on_loopback_run_tasks_and_nothing_is_left(tmp_path):
    with run_dask(workdir=tmp_path) as cluster:
        port = cluster.address.rsplit(":", 1)[1]
        assert cluster.address == f"tcp://127.0.0.1:{port}" and cluster.url == f"dask://127.0.0.1:{port}"
        assert len(cluster.workers) == 1  # one `dask worker --nworkers 2` command
        pids = cluster.worker_pids()
        assert len(pids) == 2 and len(set(pids.values())) == 2 and os.getpid() not in pids.values()
        assert all(address.startswith("tcp://127.0.0.1:") for address in pids)
        assert cluster.wait_workers(2, timeout=5) == sorted(pids)
        with _client(cluster) as client:
            assert client.submit(os.getpid, pure=False).result(timeout=30) in pids.values()
        everything = _cluster_pids(cluster)
        assert set(pids.values()) <= everything
        listening = {pid: _listening(pid) for pid in everything}
        assert all(ip == "127.0.0.1" for ips in listening.values() for ip in ips), listening
        assert (tmp_path / "dask-scheduler.log").is_file() and (tmp_path / "dask-worker-0.log").is_file()
    assert {pid for pid in everything if not _gone(pid)} == set()
    assert not list(tmp_path.glob("dask-local-*"))  # the workers' local directory is removed


def test_each_worker_command_declares_its_resources(tmp_path):
    commands = (DaskWorkers(resources=(("client-a", 1.0),), name="a"), DaskWorkers(resources=(("client-b", 2.5),), name="b"))
    with run_dask(commands, workdir=tmp_path) as cluster:
        assert len(cluster.workers) == 2
        pids = cluster.worker_pids()
        with _client(cluster) as client:
            workers = client.scheduler_info(n_workers=-1)["workers"]
            by_name = {info["name"]: (address, info["resources"]) for address, info in workers.items()}
            assert {name: resources for name, (_, resources) in by_name.items()} == {"a": {"client-a": 1.0}, "b": {"client-b": 2.5}}
            pid = client.submit(os.getpid, pure=False, resources={"client-b": 1}).result(timeout=30)
            assert pid == pids[by_name["b"][0]]


def test_a_sigkilled_worker_leaves_the_scheduler_and_its_nanny_starts_a_new_one_at_a_new_address(tmp_path):
    with run_dask((DaskWorkers(count=2, resources=(("client-a", 1.0),), name="w"),), workdir=tmp_path) as cluster:
        before = cluster.worker_pids()
        with _client(cluster) as client:
            names = {address: info["name"] for address, info in client.scheduler_info(n_workers=-1)["workers"].items()}
            victim = min(before)
            os.kill(before[victim], signal.SIGKILL)
            seen: list[set[str]] = []
            deadline = time.monotonic() + 90  # a restart is a new Python process: slow on a busy machine
            while time.monotonic() < deadline:
                current = set(client.nthreads())
                if not seen or current != seen[-1]:
                    seen.append(current)
                if victim not in current and len(current) == 2:
                    break
                time.sleep(0.02)
            after = client.scheduler_info(n_workers=-1)["workers"]
        assert victim not in after and len(after) == 2, (seen, cluster._log_tails())
        (new,) = set(after) - set(before)
        assert new != victim and new.startswith("tcp://127.0.0.1:")
        assert after[new]["name"] == names[victim]  # the nanny restarts the same worker (name, resources) ...
        assert after[new]["resources"] == {"client-a": 1.0}
        pids = cluster.worker_pids()
        assert pids[new] != before[victim] and _gone(before[victim])  # ... as a new process
        assert cluster.workers[0].alive()  # the `dask worker` command (nanny) survived


def test_a_task_whose_worker_is_sigkilled_runs_again_on_another_worker(tmp_path):
    runs, release = tmp_path / "runs.txt", tmp_path / "release"

    def shard(runs: str, release: str) -> int:  # nested: cloudpickle ships it by value
        import os
        import pathlib
        import time

        with open(runs, "a") as f:
            f.write(f"{os.getpid()}\n")
        for _ in range(600):
            if pathlib.Path(release).exists():
                break
            time.sleep(0.05)
        return os.getpid()

    def started(n: int) -> list[int]:
        for _ in range(600):
            pids = [int(line) for line in runs.read_text().split()] if runs.exists() else []
            if len(pids) >= n:
                return pids
            time.sleep(0.05)
        raise AssertionError(f"the task did not start {n} time(s)")

    with run_dask(workdir=tmp_path) as cluster, _client(cluster) as client:
        future = client.submit(shard, str(runs), str(release), pure=False)
        (first,) = started(1)
        os.kill(first, signal.SIGKILL)
        second = started(2)[1]
        release.touch()
        assert future.result(timeout=30) == second != first  # Dask re-ran the whole task: it ran twice


def test_waiting_for_more_workers_than_started_names_the_scheduler_and_quotes_the_logs(tmp_path):
    with run_dask((DaskWorkers(),), workdir=tmp_path) as cluster:
        with pytest.raises(ServiceError, match=rf"(?s)the Dask scheduler {cluster.address} lists 1 of the 3 workers expected "
                                               r"\(timed out after 0.5 s\).*--- dask-scheduler.log ---.*--- dask-worker-0.log ---.*Registered to"):
            cluster.wait_workers(3, timeout=0.5)
        cluster.workers[0].stop()
        with pytest.raises(ServiceError, match=r"lists 0 of the 1 workers expected \(dask-worker-0 exited\)"):
            cluster.wait_workers(1, timeout=30)


def test_a_scheduler_that_cannot_bind_is_reported_with_its_log(tmp_path, monkeypatch):
    with socket.socket() as taken:  # bound, not listening: connecting is refused and the scheduler cannot bind
        taken.bind(("127.0.0.1", 0))
        monkeypatch.setattr(dask_launcher, "free_port", lambda: taken.getsockname()[1])
        with pytest.raises(ServiceError, match=r"(?s)dask-scheduler did not start .*has exited.*its log says:\n.*\S"):
            with run_dask(workdir=tmp_path):
                pass


def test_a_missing_dask_command_names_the_extra_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ServiceError, match=r"`dask` command .* not found .*: pip install 'pytest-trinity\[dask\]'"):
        with run_dask():
            pass


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"count": 0}, r"DaskWorkers.count must be an integer >= 1, got 0"),
    ({"threads": 1.5}, r"DaskWorkers.threads must be an integer >= 1, got 1.5"),
    ({"resources": (("client a", 1.0),)}, r"resource name must be .* got 'client a'"),
    ({"resources": (("gpu", -1.0),)}, r"the amount of 'gpu' must be a finite number >= 0, got -1.0"),
    ({"name": "w=1"}, r"DaskWorkers.name must not contain"),
])
def test_a_bad_worker_spec_is_a_clear_error(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DaskWorkers(**kwargs)


def test_two_commands_with_one_name_prefix_are_refused():
    with pytest.raises(ValueError, match=r"same name prefix \(\['w', 'w'\]\)"):
        with run_dask((DaskWorkers(name="w"), DaskWorkers(name="w"))):
            pass
