"""Shared fixtures for the plugin's own tests: a pytester project holding the real plan."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# In-process pytester runs import this plugin a second time; pytest warns that it cannot
# rewrite it. That warning is about the test harness, not the plugin: ignore just that one.
INI = """[pytest]
addopts = --strict-markers
filterwarnings =
    error
    ignore:Module already imported so cannot be rewritten:pytest.PytestAssertRewriteWarning
"""


@pytest.fixture
def plan_project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester project with this repository's tests_perf/ and profiles.toml as its rootdir."""
    shutil.copytree(REPO / "tests_perf", pytester.path / "tests_perf")
    shutil.copy(REPO / "profiles.toml", pytester.path / "profiles.toml")
    pytester.makeini(INI)
    return pytester


@pytest.fixture
def plan_text() -> str:
    return (REPO / "profiles.toml").read_text(encoding="utf-8")


@pytest.fixture(scope="session")
def dask_session(tmp_path_factory: pytest.TempPathFactory):
    """A real Dask cluster on loopback for the whole run: a scheduler and two worker processes
    of one thread each, started by two `dask worker` commands that declare the resources
    client-a and client-b (test 2d's two stress clients)."""
    from pytest_trinity.services.dask import DaskWorkers, run_dask

    workers = (DaskWorkers(count=1, threads=1, resources=(("client-a", 1.0),), name="client-a"),
               DaskWorkers(count=1, threads=1, resources=(("client-b", 1.0),), name="client-b"))
    with run_dask(workers, workdir=tmp_path_factory.mktemp("dask")) as cluster:
        yield cluster


@pytest.fixture
def dask_cluster(dask_session):
    """The session's Dask cluster with both workers up (a test may have killed one: its
    nanny restarts it at a new address)."""
    dask_session.wait_workers(2, timeout=60)
    return dask_session


def dask_worker_of(cluster, resource: str) -> str:
    """The address of the cluster's worker that declares `resource`."""
    from distributed import Client

    with Client(cluster.address, timeout=10, set_as_default=False) as client:
        workers = client.scheduler_info(n_workers=-1)["workers"]
    found = [addr for addr, w in workers.items() if resource in (w.get("resources") or {})]
    assert len(found) == 1, workers
    return found[0]


def one_histogram_of_all_samples(encoded):
    """Every recorded value of the encoded HdrHistograms, recorded again into one new histogram:
    what an exact merge of them must equal."""
    from hdrh.histogram import HdrHistogram

    from pytest_trinity.drivers.latency import HIGHEST_US, LOWEST_US, SIGNIFICANT_DIGITS

    out = HdrHistogram(LOWEST_US, HIGHEST_US, SIGNIFICANT_DIGITS)
    for text in encoded:
        if text:
            for step in HdrHistogram.decode(text.encode("ascii")).get_recorded_iterator():
                out.record_value(step.value_iterated_to, step.count_added_in_this_iter_step)
    return out
