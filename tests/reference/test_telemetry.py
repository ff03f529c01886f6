"""Snapshot publication: every node writes cluster:stats:<node> with the snapshot TTL, a node
that stops publishing goes missing from cluster-stats, and comes back when it resumes."""

from __future__ import annotations

import json
import time

import redis

from tests.reference.conftest import PUBLISH_S, SNAPSHOT_TTL_S, Admin, wait_until


def test_snapshots_in_redis_carry_the_ttl(cluster, admin: Admin, plan) -> None:
    r = redis.Redis.from_url(cluster.redis_url)
    try:
        for node in plan.telemetry.nodes:
            key = f"cluster:stats:{node}"
            ttl_ms = r.pttl(key)
            assert 0 < ttl_ms <= SNAPSHOT_TTL_S * 1000
            snap = json.loads(r.get(key))
            assert snap["node"] == node and list(snap["counters"]) == list(plan.telemetry.counters)
            assert time.time() - snap["ts"] < SNAPSHOT_TTL_S + 5
    finally:
        r.close()
    assert cluster.publish_s == PUBLISH_S and cluster.snapshot_ttl_s == SNAPSHOT_TTL_S


def test_a_node_that_stops_publishing_goes_missing(cluster, admin: Admin) -> None:
    assert admin.faults("lrs", stop_publish=True).status_code == 200
    wait_until(lambda: admin.node_stats("lrs")["config"]["faults"]["stop_publish"], "fault applied on lrs")
    view = wait_until(lambda: (v := admin.cluster_stats(cluster.balanced.admin_url))["missing"] and v,
                      "lrs to go missing", timeout=SNAPSHOT_TTL_S + 30)
    assert view["missing"] == ["lrs"]
    assert set(view["nodes"]) == set(cluster.nodes) - {"lrs"}
    assert view["all_zero"] is False  # a missing node is never "verified zero"
    assert admin.faults("lrs", stop_publish=False).status_code == 200
    wait_until(lambda: not admin.cluster_stats()["missing"], "lrs back", timeout=PUBLISH_S + 30)


def test_published_rates_follow_traffic(cluster, admin: Admin) -> None:
    import httpx

    admin.reset()
    with httpx.Client(timeout=30, headers={"X-API-Key": cluster.partner_key.value}) as c:
        deadline = time.monotonic() + 3 * PUBLISH_S
        sent = 0
        while time.monotonic() < deadline:
            c.get(cluster.nodes["main"].api_url + "/price", params={"symbol": "BTC-USD"})
            sent += 1
    assert sent > 0
    snap = admin.node_stats("main")
    assert snap["derived"]["tcp_rps"] > 0
    assert snap["derived"]["total_rps"] >= snap["derived"]["tcp_rps"]
