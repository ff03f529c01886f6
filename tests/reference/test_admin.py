"""The admin contract: token, system-mode for every profile, governor toggle, stress-stats
shape, cluster-stats, and a reset that reaches every node."""

from __future__ import annotations

import httpx
import pytest

from pytest_trinity.reference.settings import running_profile
from tests.reference.conftest import TIMEOUT, Admin, api_client, udp_call, wait_until

DERIVED = {"tcp_rps", "udp_rps", "total_rps", "syncmap_hit_pct", "cache_hit_pct", "udp_drop_pct", "bg_drop_pct"}


def test_admin_needs_the_token(cluster, admin: Admin) -> None:
    for token in (None, "wrong"):
        headers = {"X-Admin-Token": token} if token else {}
        r = httpx.get(cluster.direct.admin_url + "/admin/stress-stats", headers=headers, timeout=TIMEOUT)
        assert r.status_code == 401
    assert admin.get(cluster.direct.admin_url, "/admin/nope").status_code == 404
    assert httpx.get(cluster.direct.admin_url + "/healthz", timeout=TIMEOUT).status_code == 200


def test_system_mode_applies_every_profile_cluster_wide(cluster, admin: Admin, plan) -> None:
    for name in plan.profiles:
        profile = running_profile(plan, name)  # the plan's values (all of a stress profile's), the reference's for production
        r = admin.get(cluster.balanced.admin_url, "/admin/system-mode", mode=name)
        assert r.status_code == 200
        assert r.json()["mode"] == name
        assert r.json()["parameters"] == profile.parameters()
        for node in cluster.nodes:
            wait_until(lambda node=node, name=name: admin.node_stats(node)["config"]["mode"] == name, f"{node} in {name}")
            config = admin.node_stats(node)["config"]
            assert {k: config[k] for k in profile.parameters()} == profile.parameters()
            assert config["db_max_open"] == profile.db_max_open
            assert admin.node_stats(node)["counters"]["db_max_open"] == profile.db_max_open


def test_unknown_mode_is_400(cluster, admin: Admin) -> None:
    r = admin.get(cluster.direct.admin_url, "/admin/system-mode", mode="no-such-profile")
    assert r.status_code == 400 and r.json()["error"] == "unknown_mode"
    assert admin.get(cluster.direct.admin_url, "/admin/system-mode", adaptive_enabled="maybe").status_code == 400


def test_governor_toggle_reaches_every_node(cluster, admin: Admin) -> None:
    for state in (False, True):
        r = admin.get(cluster.balanced.admin_url, "/admin/system-mode", adaptive_enabled=str(state).lower())
        assert r.status_code == 200 and r.json()["adaptive_enabled"] is state
        for node in cluster.nodes:
            wait_until(lambda node=node, state=state: admin.node_stats(node)["config"]["adaptive_enabled"] is state, f"governor {state} on {node}")


def test_stress_stats_shape(cluster, admin: Admin, plan) -> None:
    snap = admin.node_stats("mirror")
    assert snap["node"] == "mirror"
    assert list(snap["counters"]) == list(plan.telemetry.counters)
    assert DERIVED <= set(snap["derived"])
    assert snap["config"]["mode"] in plan.profiles and "adaptive_enabled" in snap["config"]
    assert set(running_profile(plan, snap["config"]["mode"]).parameters()) <= set(snap["config"])
    assert snap["process"]["rss_bytes"] > 1_000_000 and snap["process"]["cpu_pct"] >= 0


def test_cluster_stats_reads_all_nodes_and_sums(cluster, admin: Admin, plan) -> None:
    view = wait_until(lambda: (v := admin.cluster_stats()) and not v["missing"] and v, "all nodes published")
    assert view["expected"] == list(plan.telemetry.nodes)
    assert set(view["nodes"]) == set(plan.telemetry.nodes)
    for name in plan.telemetry.counters:
        assert view["totals"][name] == sum(s["counters"][name] for s in view["nodes"].values())
    assert DERIVED <= set(view["derived"])


def test_reset_zeroes_every_node(cluster, admin: Admin) -> None:
    with api_client(cluster, cluster.partner_key.value) as c:
        for node in cluster.nodes.values():
            for _ in range(5):
                c.get(node.api_url + "/price", params={"symbol": "BTC-USD"})
    udp_call(cluster.direct.udp, [{"id": 1, "key": cluster.partner_key.value, "symbol": "BTC-USD"}])
    assert all(admin.node_stats(n)["counters"]["tcp_requests"] >= 5 for n in cluster.nodes)
    r = admin.get(cluster.nodes["lrs"].admin_url, "/admin/stress-reset")  # one node asked ...
    assert r.status_code == 200 and r.json()["this_node_reset"] is True
    for node in cluster.nodes:  # ... every node obeys
        wait_until(lambda node=node: all(v == 0 for k, v in admin.node_stats(node)["counters"].items()
                               if k not in ("db_open", "db_max_open", "db_in_use")), f"{node} reset")
    view = wait_until(lambda: (v := admin.cluster_stats()) and v["all_zero"] and v, "cluster-stats all zero")
    assert all(s["reset_epoch"] == r.json()["reset_epoch"] for s in view["nodes"].values())


@pytest.mark.parametrize("path", ["/admin/stress-stats", "/admin/cluster-stats", "/admin/stress-reset", "/admin/system-mode"])
def test_admin_through_the_load_balancer(cluster, admin: Admin, path: str) -> None:
    r = admin.get(cluster.balanced.admin_url, path)
    assert r.status_code == 200
    if path == "/admin/cluster-stats":
        assert set(r.json()["nodes"]) == set(cluster.nodes)


def test_usage_trim_keeps_the_newest_rows(cluster, admin: Admin) -> None:
    with api_client(cluster, cluster.partner_key.value) as c:
        for _ in range(5):
            c.get(cluster.direct.api_url + "/price", params={"symbol": "BTC-USD"})
    # The rows reach usage_logs at the next flush: count them with a trim that keeps everything.
    count = lambda: admin.get(cluster.balanced.admin_url, "/admin/usage-trim", max_rows=10**9).json()["rows_after"]  # noqa: E731
    wait_until(lambda: count() >= 5, "5 usage rows flushed", timeout=30)
    r = admin.get(cluster.balanced.admin_url, "/admin/usage-trim", max_rows=3)
    assert r.status_code == 200
    assert r.json()["rows_before"] >= 5 and r.json()["rows_after"] == 3
    assert admin.get(cluster.balanced.admin_url, "/admin/usage-trim", max_rows="-1").status_code == 400
