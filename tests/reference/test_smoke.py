"""The acceptance path: an HTTPS /price through nginx with a public key, and 3 nodes listed."""

from __future__ import annotations

from tests.reference.conftest import Admin, api_client


def test_https_price_through_the_load_balancer(cluster, admin: Admin) -> None:
    with api_client(cluster, cluster.public_key.value) as c:
        r = c.get(cluster.balanced.api_url + "/price", params={"symbol": "BTC-USD"})
    assert r.status_code == 200
    body = r.json()
    assert body["symbol"] == "BTC-USD" and body["source"] in ("syncmap", "cache", "rest") and body["price"] > 0


def test_cluster_stats_lists_every_node(cluster, admin: Admin, plan) -> None:
    view = admin.cluster_stats(cluster.balanced.admin_url)
    assert sorted(view["nodes"]) == sorted(plan.telemetry.nodes)
    assert view["missing"] == []
