"""The poller records every poll, failing or slow ones included, and stops when told;
snapshots from a target that omits counters or nodes are reported, not crashed on."""

from __future__ import annotations

import threading
import time

import pytest

from pytest_trinity.targets import ContractError, TrinityContract
from pytest_trinity.telemetry import TelemetryPoller

CONTRACT = TrinityContract()

COUNTERS = ("tcp_requests", "udp_requests", "db_in_use")


def test_failing_and_slow_polls_are_recorded_and_never_raise():
    calls = {"n": 0}

    def flaky():
        calls["n"] += 1
        if calls["n"] % 2:
            raise ConnectionError("admin down")
        return calls["n"]

    def slow():
        time.sleep(0.05)
        return "late but fine"

    poller = TelemetryPoller({"flaky": flaky, "slow": slow}, interval_s=0.01, max_polls=6).start()
    samples = poller.stop(timeout=10)  # returns at once: the stop flag ends the loop
    poller._thread.join(10)
    assert not poller._thread.is_alive()
    flaky_samples = [s for s in samples if s.source == "flaky"]
    assert flaky_samples and flaky_samples[0].error == "ConnectionError: admin down" and not flaky_samples[0].ok
    slow_samples = [s for s in samples if s.source == "slow"]
    assert slow_samples and all(s.duration_s >= 0.05 and s.value == "late but fine" for s in slow_samples)


def test_polling_is_bounded_in_count():
    poller = TelemetryPoller({"n": lambda: 1}, interval_s=0.001, max_polls=5).start()
    poller._thread.join(10)
    assert len(poller.samples) == 5


def test_poller_runs_beside_the_caller():
    started = threading.Event()
    poller = TelemetryPoller({"mark": started.set}, interval_s=0.01, max_polls=100)
    with poller:
        assert started.wait(5)
    assert poller.samples and all(s.ok for s in poller.samples)


def test_snapshot_reports_missing_counters():
    snap = CONTRACT.parse_node({"node": "main", "ts": 5, "counters": {"tcp_requests": 7, "weird": "x"}}, COUNTERS, "here")
    assert snap.counters == {"tcp_requests": 7}
    assert snap.missing_counters == ("udp_requests", "db_in_use")


def test_cluster_stats_lists_missing_nodes_and_sums_what_is_there():
    data = {"nodes": {"main": {"node": "main", "ts": 1, "counters": {"tcp_requests": 3}},
                      "lrs": {"node": "lrs", "ts": 1, "counters": {"tcp_requests": 4, "udp_requests": 1}}},
            "missing": ["mirror"]}
    stats = CONTRACT.parse_cluster(data, ("main", "mirror", "lrs", "extra"), COUNTERS, "here")
    assert stats.missing == ("mirror", "extra")
    assert stats.total("tcp_requests") == 7 and stats.total("udp_requests") == 1
    assert stats.nonzero(("udp_requests",)) == {"lrs": {"udp_requests": 1}}


@pytest.mark.parametrize("bad", [None, [], {"nodes": []}, {"nodes": {"main": {"counters": 3}}}])
def test_malformed_answers_name_where_they_came_from(bad):
    with pytest.raises(ContractError, match="https://lb/admin/cluster-stats"):
        CONTRACT.parse_cluster(bad, ("main",), COUNTERS, "https://lb/admin/cluster-stats")
