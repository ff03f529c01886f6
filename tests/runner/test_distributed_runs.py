"""pytester runs of tests_perf with `--trinity-executor dask://...`: the load of each level on
the workers of a real local Dask cluster, against the real reference cluster.

Each run is a real pytest subprocess (the shards are pickled to the Dask workers, which import
the plugin from this checkout). The servers' counters reconcile exactly with the shards' sums.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.conftest import dask_worker_of, one_histogram_of_all_samples
from tests.runner.conftest import targets_toml


def _results(project: pytest.Pytester) -> dict:
    return json.loads((project.path / "reports" / "latest" / "results.json").read_text())


def _merged_percentiles(shards: list[dict]) -> tuple[int, int]:
    """p50 and p99 of ONE histogram holding every sample of every shard (decoded and re-recorded)."""
    merged = one_histogram_of_all_samples(s["latency"]["encoded"] for s in shards)
    assert merged.get_total_count() == sum(s["latency"]["count"] for s in shards)
    return merged.get_value_at_percentile(50), merged.get_value_at_percentile(99)


def _with_workers(fault_cluster, **groups: str) -> str:
    """The cluster's targets file with a `[targets.ref.workers]` table (stream -> Dask worker resource)."""
    return targets_toml(fault_cluster) + "[targets.ref.workers]\n" + "".join(f'{s} = "{r}"\n' for s, r in groups.items())


def test_levels_run_on_the_dask_workers_and_reconcile_exactly(project, admin, dask_cluster):
    workers = set(dask_cluster.wait_workers(2))
    result = project.runpytest_subprocess("tests_perf", "-k", "2a", "--trinity-levels", "1-2", "--trinity-scale", "0.1",
                                          "--trinity-executor", dask_cluster.url, "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)
    levels = _results(project)["levels"]
    assert [r["level_id"] for r in levels] == ["L01-c30", "L02-c90"]
    for record in levels:
        load, figures = record["load"], record["figures"]
        assert load["executor"] == dask_cluster.url
        shards = load["by_shard"]
        assert len(shards) == 2 and {s["worker"] for s in shards} == workers
        assert all(s["error"] == "" and s["requests"] > 0 for s in shards)
        sent = sum(s["requests"] for s in shards)
        assert sent == figures["sent"] == figures["server_requests"] == record["requests"]  # the servers' counters, exactly
        totals = load["totals"]["latency"]
        assert (totals["percentiles_us"]["p50"], totals["percentiles_us"]["p99"]) == _merged_percentiles(shards)
        assert isinstance(load["start_skew_ms"], (int, float)) and load["start_skew_ms"] >= 0
        assert record["client"]["executor"] == dask_cluster.url and record["client"]["cores"] == 2


def test_2d_runs_each_stream_on_its_own_worker_group(project, admin, dask_cluster, fault_cluster):
    project.path.joinpath("targets.toml").write_text(_with_workers(fault_cluster, lpo="client-a", lrs="client-b"))
    result = project.runpytest_subprocess("tests_perf", "-k", "2d", "--trinity-levels", "1", "--trinity-scale", "0.1",
                                          "--trinity-executor", dask_cluster.url, "-p", "no:cacheprovider")
    record = _results(project)["levels"][0]
    assert record["status"] == "passed", (record["status"], record["message"], result.stdout.str()[-3000:])
    where = {"lpo": dask_worker_of(dask_cluster, "client-a"), "lrs": dask_worker_of(dask_cluster, "client-b")}
    shards = record["load"]["by_shard"]
    assert {s for shard in shards for s in shard["streams"]} == {"lpo", "lrs"}
    for shard in shards:
        assert len(shard["streams"]) == 1, shard["streams"]
        assert shard["worker"] == where[shard["streams"][0]], (shard["streams"], shard["worker"], where)
    figures, kinds = record["figures"], record["load"]["kinds"]
    counts = {name: kinds[name]["outcomes"]["sent"] for name in ("lpo", "lrs")}
    assert sorted(kinds) == ["lpo", "lrs"]
    assert counts["lpo"] == counts["lrs"] == record["requests"] > 0, counts  # each stress client runs the level's full load
    assert counts["lpo"] + counts["lrs"] == figures["sent"] == figures["server_requests"] == sum(s["requests"] for s in shards)


def test_a_scheduler_that_does_not_answer_fails_the_run_before_any_traffic(project, admin):
    from pytest_trinity.services import free_port

    url = f"dask://127.0.0.1:{free_port()}"
    result = project.runpytest_subprocess("tests_perf", "-k", "2a", "--trinity-levels", "1", "--trinity-executor", url,
                                          "-p", "no:cacheprovider")
    out = result.stdout.str() + result.stderr.str()
    result.assert_outcomes(errors=1)  # the first case's setup: the executor opens before the target is touched
    assert result.ret != 0
    assert "--trinity-executor" in out and url.removeprefix("dask://") in out, out[-3000:]
    assert "Traceback" not in out, out[-3000:]
    assert admin.served() == 0


@pytest.mark.parametrize("value", ["dask:/oops", "spark://x:1"])
def test_a_bad_executor_value_is_a_usage_error(project, value):
    result = project.runpytest_subprocess("tests_perf", "--trinity-executor", value, "-p", "no:cacheprovider")
    out = result.stdout.str() + result.stderr.str()
    assert result.ret == pytest.ExitCode.USAGE_ERROR, out[-3000:]
    assert "--trinity-executor" in out and value in out
    assert "Traceback" not in out


def test_a_stream_whose_resource_no_worker_declares_is_a_level_error(project, admin, dask_cluster, fault_cluster):
    project.path.joinpath("targets.toml").write_text(_with_workers(fault_cluster, lpo="client-a", lrs="client-z"))
    result = project.runpytest_subprocess("tests_perf", "-k", "2d", "--trinity-levels", "1", "--trinity-scale", "0.1",
                                          "--trinity-executor", dask_cluster.url, "-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)  # the plugin reports a level that could not be measured as a failed case
    record = _results(project)["levels"][0]
    assert record["status"] == "error" and "could not be measured" in record["message"], record["message"]
    assert "'lrs'" in record["message"] and "client-z" in record["message"], record["message"]
    assert admin.served() == 0  # refused when the shards were planned: no traffic


def test_a_worker_killed_mid_level_is_an_error_naming_it_and_keeps_the_other_shards_load(project, admin, dask_cluster):
    pids = dask_cluster.worker_pids()
    assert len(pids) == 2
    # A long level: 2a L08 at scale 0.2 is 120,000 requests, far more than a second's work here.
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "tests_perf", "-k", "2a", "--trinity-levels", "8", "--trinity-scale", "0.2",
         "--trinity-executor", dask_cluster.url, "-p", "no:cacheprovider"],
        cwd=project.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ),
    )
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and proc.poll() is None:  # until the load is well under way
            if admin.mode()["mode"] == "stress-tcp-alb" and admin.served() > 2_000:
                break
            time.sleep(0.1)
        victim = sorted(pids)[0]
        os.kill(pids[victim], signal.SIGKILL)
        out, _ = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate(timeout=30)
    assert proc.returncode != 0, out[-3000:]
    record = _results(project)["levels"][-1]
    assert record["status"] == "error", (record["status"], record["message"])
    assert victim in record["message"], record["message"]
    load = record["load"]
    killed = [s for s in load["by_shard"] if s["worker"] == victim]
    survivors = [s for s in load["by_shard"] if s["worker"] != victim]
    assert len(killed) == 1 and killed[0]["stop_reason"] == "failed" and victim in killed[0]["error"], load["by_shard"]
    assert len(survivors) == 1 and survivors[0]["requests"] > 0 and survivors[0]["error"] == "", load["by_shard"]
    completed = load["totals"]["outcomes"]["completed"]
    assert completed == survivors[0]["requests"] and 0 < completed < 120_000, (load["totals"]["outcomes"], load["by_shard"])
    assert len(dask_cluster.wait_workers(2)) == 2  # the nanny restarted the killed worker: later tests have both again
