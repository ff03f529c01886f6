"""The load driver on a real Dask cluster (a scheduler and two worker processes on loopback):
exact counts and histogram merges, the start barrier, progress, stream groups, a killed
worker, an unreachable target or scheduler, and SIGINT stopping the remote shards."""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from pytest_trinity.drivers import ClosedModel, ExecutorError, HttpRequest, LoadSpec, OpenModel, Target, UdpRequest, WorkerError, run_load
from pytest_trinity.drivers.dask_cluster import DaskExecutor, open_executor, parse_executor
from pytest_trinity.drivers.spec import split_by_kind
from pytest_trinity.services.ports import free_port
from tests.conftest import REPO, dask_worker_of, one_histogram_of_all_samples
from tests.drivers.conftest import http_stats, server_process, udp_stats


def _spec(port: int, model: ClosedModel | OpenModel, *paths: str, max_seconds: float = 60) -> LoadSpec:
    kinds = tuple(HttpRequest(p.strip("/"), p) for p in paths)
    total = model.requests if isinstance(model, ClosedModel) else model.planned_requests
    return LoadSpec(Target("127.0.0.1", port), kinds, model, max_requests=total + 1, max_seconds=max_seconds, timeout=10)


def test_counts_equal_the_servers_and_percentiles_merge_exactly(dask_cluster, http_server):
    spec = _spec(http_server, ClosedModel(6000, 8), "/a", "/b")
    with DaskExecutor(dask_cluster.url) as executor:
        result = run_load(spec, executor=executor)
    served = http_stats(http_server)
    assert result.outcomes.ok == 6000 and served == {"/a": 3000, "/b": 3000}
    assert result.kinds["a"].outcomes.ok == 3000 and result.kinds["b"].outcomes.ok == 3000
    workers = dask_cluster.wait_workers(2)
    assert result.executor == dask_cluster.url and result.shards == 2
    assert sorted(s.worker for s in result.by_shard) == workers  # one shard per worker thread
    assert sum(s.requests for s in result.by_shard) == 6000 and all(s.requests > 0 for s in result.by_shard)
    merged = one_histogram_of_all_samples([s.latency.encoded for s in result.by_shard])
    assert merged.get_total_count() == result.latency.count == 6000
    for p in (50, 99, 99.9):
        assert result.latency.percentile_us(p) == merged.get_value_at_percentile(p)
    assert result.start_skew_s is not None and result.start_skew_s >= 0
    assert result.planned == 6000


def test_progress_reaches_the_parent_from_every_worker_and_seconds_align(dask_cluster, http_server):
    seen = []
    spec = _spec(http_server, OpenModel(rate=800, duration=2.5, connections=8, late_send_us=50_000), "/p")
    with DaskExecutor(dask_cluster.url) as executor:
        result = run_load(spec, executor=executor, on_progress=seen.append)
    assert result.outcomes.ok == 2000 == http_stats(http_server)["/p"]
    assert any(p.shards_reporting == 2 and p.done > 0 for p in seen), seen
    assert [p.done for p in seen] == sorted(p.done for p in seen)
    # the shards' seconds count from one planned start: the merged series covers each second once
    ts = [s.t for s in result.series]
    assert ts == sorted(set(ts)) and sum(s.requests for s in result.series) == 2000


def test_each_stream_runs_on_its_own_worker_group(dask_cluster, http_server):
    spec = _spec(http_server, ClosedModel(4000, 8), "/lpo", "/lrs")
    with DaskExecutor(dask_cluster.url, {"lpo": "client-a", "lrs": "client-b"}) as executor:
        result = run_load(spec, executor=executor)
    assert http_stats(http_server) == {"/lpo": 2000, "/lrs": 2000}
    where = {s.streams: s.worker for s in result.by_shard}
    assert where == {("lpo",): dask_worker_of(dask_cluster, "client-a"), ("lrs",): dask_worker_of(dask_cluster, "client-b")}


def test_a_group_no_worker_declares_is_an_error_naming_it(dask_cluster, http_server):
    spec = _spec(http_server, ClosedModel(100, 2), "/lpo", "/lrs")
    with DaskExecutor(dask_cluster.url, {"lpo": "client-a", "lrs": "client-z"}) as executor:
        with pytest.raises(ExecutorError, match=r"stream 'lrs': no Dask worker declares the resource 'client-z'"):
            run_load(spec, executor=executor)
    assert http_stats(http_server) == {}


def test_a_worker_that_cannot_reach_the_target_is_named(dask_cluster):
    port = free_port()  # nothing listens there
    with DaskExecutor(dask_cluster.url) as executor:
        with pytest.raises(WorkerError) as info:
            run_load(_spec(port, ClosedModel(100, 2), "/x"), executor=executor)
    message = str(info.value)
    assert f"cannot reach the target 127.0.0.1:{port}" in message
    assert info.value.worker in dask_cluster.wait_workers(2) and info.value.worker in message


def test_a_worker_killed_mid_level_fails_it_naming_the_worker_and_keeps_the_rest(dask_cluster, http_server):
    pids = dask_cluster.worker_pids()
    victim = dask_worker_of(dask_cluster, "client-b")
    killed: list[str] = []

    def kill_once(progress) -> None:
        if not killed and progress.done >= 400:
            os.kill(pids[victim], signal.SIGKILL)
            killed.append(victim)

    spec = _spec(http_server, OpenModel(rate=400, duration=8, connections=8, late_send_us=50_000), "/k")
    with DaskExecutor(dask_cluster.url) as executor:
        with pytest.raises(WorkerError) as info:
            run_load(spec, executor=executor, on_progress=kill_once)
    assert killed == [victim]
    assert victim in str(info.value) and "left the cluster" in str(info.value)
    partial = info.value.partial
    assert partial is not None
    survivor = [s for s in partial.by_shard if s.worker != victim]
    dead = [s for s in partial.by_shard if s.worker == victim]
    assert len(survivor) == 1 and survivor[0].requests > 0 and survivor[0].stop_reason in ("interrupted", "completed")
    assert len(dead) == 1 and dead[0].stop_reason == "failed" and "left the cluster" in dead[0].error
    assert partial.outcomes.ok == survivor[0].requests <= http_stats(http_server)["/k"] < 3200


def test_sigint_stops_the_remote_shards_with_partial_results(dask_cluster, http_server, tmp_path):
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(f"""
        import json, sys
        sys.path.insert(0, {str(REPO)!r})
        from pytest_trinity.drivers import HttpRequest, LoadSpec, OpenModel, Target, run_load
        from pytest_trinity.drivers.dask_cluster import DaskExecutor

        if __name__ == "__main__":
            spec = LoadSpec(Target("127.0.0.1", {http_server}), (HttpRequest("s", "/s"),),
                            OpenModel(rate=300, duration=60, connections=4, late_send_us=50_000),
                            max_requests=20_000, max_seconds=90, timeout=10)
            started = []
            def progress(p):
                if not started and p.done > 0:
                    started.append(1)
                    print("started", flush=True)
            with DaskExecutor({dask_cluster.url!r}) as executor:
                r = run_load(spec, executor=executor, on_progress=progress)
            print(json.dumps({{"stop": r.stop_reason, "ok": r.outcomes.ok,
                               "shards": [s.stop_reason for s in r.by_shard]}}), flush=True)
    """))
    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.strip() == "started", line + proc.stdout.read()
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait(10)
    assert proc.returncode == 0, out
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["stop"] == "interrupted" and summary["shards"] == ["interrupted", "interrupted"], out
    assert 0 < summary["ok"] < 18_000
    served = http_stats(http_server)["/s"]
    time.sleep(1.0)  # remote shards that were still sending would add to the count
    assert http_stats(http_server)["/s"] == served
    assert served >= summary["ok"]


def test_a_scheduler_that_does_not_answer_is_an_error_naming_it():
    port = free_port()
    with pytest.raises(ExecutorError, match=rf"--trinity-executor dask://127.0.0.1:{port}: no Dask scheduler answers at tcp://127.0.0.1:{port}"):
        DaskExecutor(f"dask://127.0.0.1:{port}", connect_timeout=1)


@pytest.mark.parametrize("text", ["dask:/oops", "spark://x:1", "dask://host:port", "dask://h:1/path"])
def test_a_bad_executor_value_names_the_option(text):
    with pytest.raises(ValueError, match=r"--trinity-executor"):
        parse_executor(text)


def test_local_is_the_process_pool():
    assert open_executor("local").name == "local" and parse_executor(" local ") == "local"


def test_streams_split_by_weight_add_up_exactly():
    kinds = (HttpRequest("a", "/a", weight=2), HttpRequest("b", "/b"))
    spec = LoadSpec(Target("127.0.0.1", 1), kinds, ClosedModel(1001, 7), max_requests=1001, max_seconds=5, timeout=1)
    parts = split_by_kind(spec)
    assert [p.kinds[0].name for p in parts] == ["a", "b"]
    assert [p.model.requests for p in parts] == [667, 334]
    assert sum(p.model.concurrency for p in parts) == 7 and sum(p.max_requests for p in parts) == 1001
    open_spec = spec.with_(model=OpenModel(300.0, 2.0, 3, 1000))
    assert [round(p.model.rate, 6) for p in split_by_kind(open_spec)] == [200.0, 100.0]


def test_shards_spread_over_machines_before_a_second_worker_of_any():
    from pytest_trinity.drivers.dask_cluster import DaskWorker, _slots

    workers = [DaskWorker(f"tcp://10.0.0.{h}:{p}", t, frozenset()) for h, p, t in ((1, 40001, 1), (1, 40002, 1), (2, 40003, 2))]
    assert _slots(workers) == ["tcp://10.0.0.1:40001", "tcp://10.0.0.2:40003", "tcp://10.0.0.1:40002", "tcp://10.0.0.2:40003"]


def test_udp_shards_on_dask_reconcile_with_the_responder(dask_cluster):
    with server_process("udp", "--timeout-ms", "200") as port:
        spec = LoadSpec(Target("127.0.0.1", port), (UdpRequest("price"),), ClosedModel(1000, 16), max_requests=1000,
                        max_seconds=60, timeout=0.2, late_grace=1.0)
        with DaskExecutor(dask_cluster.url) as executor:
            result = run_load(spec, executor=executor)
        stats = udp_stats(port)
    o = result.outcomes
    assert result.shards == 2 and o.sent == 1000 == stats["received"]
    assert o.lost == stats["dropped"] and o.late == stats["delayed"] and o.completed == 1000
    assert result.latency.count == o.ok + sum(o.error_replies.values())


def _scheduler_state(cluster) -> dict[str, list[str]]:
    """The run's leftovers on the scheduler: tasks, variables and events with trinity names."""
    from distributed import Client

    def leftovers(dask_scheduler) -> dict[str, list[str]]:
        variables = dask_scheduler.extensions["variables"].variables
        events = dask_scheduler.extensions["events"]._events
        return {"tasks": [str(k) for k in dask_scheduler.tasks if "trinity" in str(k)],
                "variables": [str(k) for k in variables if "trinity" in str(k)],
                "events": [str(k) for k in events if "trinity" in str(k)]}

    with Client(cluster.address, timeout=10, set_as_default=False) as client:
        return client.run_on_scheduler(leftovers)


def test_runs_leave_nothing_on_the_scheduler_and_never_put_two_shards_on_one_thread(dask_cluster, http_server):
    with DaskExecutor(dask_cluster.url) as executor:
        for _ in range(3):
            # more shards asked for than the cluster has threads: one per thread (a second would wait forever)
            result = run_load(_spec(http_server, ClosedModel(600, 8), "/r"), executor=executor, processes=4)
            assert result.shards == 2 and result.outcomes.ok == 600
        for _ in range(50):  # releases reach the scheduler asynchronously
            state = _scheduler_state(dask_cluster)
            if not any(state.values()):
                break
            time.sleep(0.1)
        assert state == {"tasks": [], "variables": [], "events": []}
        assert not executor._inboxes
    assert http_stats(http_server)["/r"] == 1800


def test_a_shard_runs_once_and_a_worker_with_a_wrong_clock_is_refused(dask_cluster, http_server):
    from distributed import Client, Variable

    from pytest_trinity.drivers.dask_cluster import RunNames, _take_claim, remote_shard
    from pytest_trinity.drivers.spec import split

    names = RunNames("trinity-test-topic", "clockcheck")

    def claim_twice() -> str:
        _take_claim(names, 0, "first")
        try:
            _take_claim(names, 0, "second")
        except RuntimeError as exc:
            return str(exc)
        return "ran twice"

    shard = split(_spec(http_server, ClosedModel(10, 1), "/c"), 1)[0]
    with Client(dask_cluster.address, timeout=10, set_as_default=False) as client:
        assert client.submit(claim_twice, pure=False).result(timeout=30) == (
            "shard 0 already ran on first; this re-run on second (after a worker was lost) is refused")
        Variable(names.start, client=client).set(time.time() + 60)  # a start a minute away on the worker's clock
        with pytest.raises(RuntimeError, match=r"clock is behind the pytest machine's; synchronise the clocks"):
            client.submit(remote_shard, dataclasses.replace(shard, index=1), names, pure=False).result(timeout=30)
        for name in (names.start, names.claim(0), names.claim(1)):
            Variable(name, client=client).delete()
    assert http_stats(http_server) == {}  # neither sent a request


def test_a_scheduler_that_dies_mid_level_fails_the_level_and_the_next_is_an_error(tmp_path, http_server):
    from pytest_trinity.services.dask import DaskWorkers, run_dask

    with run_dask((DaskWorkers(count=1),), workdir=tmp_path) as cluster:
        executor = DaskExecutor(cluster.url)
        try:
            def kill_scheduler(progress) -> None:
                if progress.done >= 200 and cluster.scheduler.alive():
                    cluster.scheduler.stop()

            spec = _spec(http_server, OpenModel(rate=200, duration=30, connections=4, late_send_us=50_000), "/d")
            with pytest.raises(WorkerError) as info:
                run_load(spec, executor=executor, on_progress=kill_scheduler)
            assert not cluster.scheduler.alive()
            assert "scheduler-connection-lost" in str(info.value), info.value
            assert info.value.partial is not None and info.value.partial.stop_reason == "failed"
            with pytest.raises(ExecutorError, match=rf"the connection to the Dask scheduler at {cluster.address} is"):
                executor.shards(spec, None)
        finally:
            executor.close()
    served = http_stats(http_server)["/d"]
    time.sleep(1.0)
    assert http_stats(http_server)["/d"] == served < 6000  # the worker's shard stopped with its scheduler
