"""Every fault knob does what it says, and none can be set on a cluster without faults enabled."""

from __future__ import annotations

import asyncio
import time

import httpx
import pytest

from pytest_trinity.reference import run_cluster
from pytest_trinity.reference.settings import running_profile
from tests.reference.conftest import GOVERNOR_LIMIT, Admin, udp_call, wait_until


def _price(cluster, node: str = "main", key: str | None = None, timeout: float = 30) -> httpx.Response:
    with httpx.Client(timeout=timeout, headers={"X-API-Key": key or cluster.partner_key.value}) as c:
        return c.get(cluster.nodes[node].api_url + "/price", params={"symbol": "BTC-USD"})


def test_faults_are_refused_unless_enabled() -> None:
    with run_cluster(nodes=("main",), load_balancer=False) as small:
        assert small.faults_enabled is False
        headers = {"X-Admin-Token": small.admin_token.value}
        r = httpx.get(small.direct.admin_url + "/admin/faults", params={"error_5xx_ratio": "1"}, headers=headers, timeout=30)
        assert r.status_code == 403
        assert r.json()["error"] == "faults_disabled" and "faults enabled" in r.json()["message"]
        r = httpx.get(small.direct.admin_url + "/admin/faults", headers=headers, timeout=30)
        assert r.status_code == 200 and r.json()["faults_enabled"] is False


def test_bad_knobs_are_400(cluster, admin: Admin) -> None:
    for knobs in ({"error_5xx_ratio": "2"}, {"no_such_knob": "1"}, {"stop_publish": "perhaps"}, {"stall_s": "-1"}):
        r = admin.get(cluster.direct.admin_url, "/admin/faults", node="main", **knobs)
        assert r.status_code == 400, knobs
    assert admin.faults("nobody", latency_ms=1).status_code == 400


def test_error_5xx_ratio(cluster, admin: Admin) -> None:
    admin.reset()
    assert admin.faults("main", error_5xx_ratio=1).json()["faults"]["error_5xx_ratio"] == 1.0
    assert _price(cluster).status_code == 500
    assert udp_call(cluster.nodes["main"].udp, [{"id": 1, "key": cluster.partner_key.value, "symbol": "BTC-USD"}])[1] == {
        "id": 1, "error": "internal"}
    assert _price(cluster, "mirror").status_code == 200  # only main was told
    assert admin.node_stats("main")["counters"]["errors_5xx"] == 2


def test_latency_ms(cluster, admin: Admin) -> None:
    admin.faults("all", latency_ms=300)
    wait_until(lambda: all(admin.node_stats(n)["config"]["faults"]["latency_ms"] == 300 for n in cluster.nodes), "latency on all")
    t0 = time.monotonic()
    assert _price(cluster, "mirror").status_code == 200
    assert time.monotonic() - t0 >= 0.3


def test_governor_sheds_above_its_inflight_limit(cluster, admin: Admin) -> None:
    admin.faults("main", latency_ms=1000)
    n = GOVERNOR_LIMIT * 3

    async def burst() -> list[int]:
        async with httpx.AsyncClient(timeout=30, headers={"X-API-Key": cluster.partner_key.value}) as c:
            rs = await asyncio.gather(*(c.get(cluster.nodes["main"].api_url + "/price", params={"symbol": "BTC-USD"}) for _ in range(n)))
        return [r.status_code for r in rs]

    statuses = asyncio.run(burst())
    assert statuses.count(200) >= 1 and statuses.count(503) >= 1
    assert statuses.count(200) <= GOVERNOR_LIMIT and statuses.count(200) + statuses.count(503) == n
    # With the governor off nothing is shed.
    assert admin.get(cluster.direct.admin_url, "/admin/system-mode", adaptive_enabled="false").status_code == 200
    wait_until(lambda: admin.node_stats("main")["config"]["adaptive_enabled"] is False, "governor off")
    assert asyncio.run(burst()) == [200] * n


def test_udp_drop_ratio(cluster, admin: Admin) -> None:
    admin.reset()
    admin.faults("main", udp_drop_ratio=1)
    answers = udp_call(cluster.nodes["main"].udp, [{"id": i, "key": cluster.partner_key.value, "symbol": "BTC-USD"} for i in range(20)], timeout=1)
    assert answers == {}
    c = admin.node_stats("main")["counters"]
    assert (c["packets_received"], c["udp_dropped"], c["packets_sent"]) == (20, 20, 0)
    assert admin.node_stats("main")["derived"]["udp_drop_pct"] == 100.0


def test_bg_drop_ratio(cluster, admin: Admin) -> None:
    admin.reset()
    admin.faults("main", bg_drop_ratio=1)
    for _ in range(10):
        assert _price(cluster).status_code == 200
    c = admin.node_stats("main")["counters"]
    assert (c["bg_submitted"], c["bg_dropped"]) == (10, 10)
    assert admin.node_stats("main")["derived"]["bg_drop_pct"] == 100.0


def test_refuse_reset(cluster, admin: Admin) -> None:
    _price(cluster, "mirror")
    admin.faults("mirror", refuse_reset=True)
    wait_until(lambda: admin.node_stats("mirror")["config"]["faults"]["refuse_reset"], "fault on mirror")
    before = admin.node_stats("mirror")["counters"]["tcp_requests"]
    assert before >= 1
    admin.get(cluster.direct.admin_url, "/admin/stress-reset").raise_for_status()
    wait_until(lambda: admin.node_stats("main")["counters"]["tcp_requests"] == 0, "main reset")
    time.sleep(1.0)
    assert admin.node_stats("mirror")["counters"]["tcp_requests"] >= before
    assert admin.cluster_stats()["all_zero"] is False


def test_feeds_paused_makes_the_map_go_stale(cluster, admin: Admin, plan) -> None:
    ttl = running_profile(plan, plan.restore.profile).ttl_s
    admin.faults("main", feeds_paused=True)
    time.sleep(ttl + 0.5)
    admin.reset()
    sources = [_price(cluster).json()["source"] for _ in range(3)]
    assert sources[0] in ("cache", "rest") and sources[1:] == ["syncmap", "syncmap"]
    assert admin.node_stats("main")["derived"]["syncmap_hit_pct"] < 99


def test_stall(cluster, admin: Admin) -> None:
    stall = 2.0
    r = admin.faults("main", stall_s=stall)
    assert r.status_code == 200 and r.json()["stall_s"] == stall
    time.sleep(0.2)
    with pytest.raises(httpx.TimeoutException):
        _price(cluster, timeout=0.5)  # the node answers nothing while stalled
    assert _price(cluster, "mirror").status_code == 200  # the others do
    wait_until(lambda: _price(cluster, timeout=5).status_code == 200, "main to recover", timeout=stall + 30)
