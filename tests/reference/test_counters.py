"""Counters move exactly with the traffic sent: what the client counted equals the sum over the
nodes, through the load balancers (TLS and UDP) as well as direct."""

from __future__ import annotations

import asyncio

import httpx

from tests.reference.conftest import Admin, udp_call, wait_until

N_TCP = 1000


async def _many(cluster, url: str, key: str, n: int, concurrency: int) -> list[int]:
    statuses: list[int] = []
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(verify=cluster.ssl_context(), limits=limits, timeout=60, headers={"X-API-Key": key}) as c:
        sem = asyncio.Semaphore(concurrency)

        async def one() -> None:
            async with sem:
                r = await c.get(url, params={"symbol": "BTC-USD"})
                statuses.append(r.status_code)

        await asyncio.gather(*(one() for _ in range(n)))
    return statuses


def test_thousand_requests_through_the_alb_are_counted_exactly(cluster, admin: Admin, plan) -> None:
    stress = plan.tests["2a"].profile  # the ALB test's profile: a public key is not throttled
    assert admin.get(cluster.balanced.admin_url, "/admin/system-mode", mode=stress).status_code == 200
    for node in cluster.nodes:
        wait_until(lambda node=node: admin.node_stats(node)["config"]["mode"] == stress, f"{node} in {stress}")
    admin.reset()
    statuses = asyncio.run(_many(cluster, cluster.balanced.api_url + "/price", cluster.public_key.value, N_TCP, 16))
    assert statuses.count(200) == N_TCP
    per_node = {n: admin.node_stats(n)["counters"] for n in cluster.nodes}
    assert sum(c["tcp_requests"] for c in per_node.values()) == N_TCP
    assert sum(1 for c in per_node.values() if c["tcp_requests"] > 0) == len(cluster.nodes)  # balanced
    assert sum(c["syncmap_hits"] for c in per_node.values()) == N_TCP
    assert sum(c["bg_submitted"] for c in per_node.values()) == N_TCP
    assert sum(c["errors_4xx"] + c["errors_5xx"] + c["rate_limit_hits"] for c in per_node.values()) == 0
    # The published snapshots agree once every node has published again.
    view = wait_until(lambda: (v := admin.cluster_stats(cluster.balanced.admin_url))["totals"]["tcp_requests"] == N_TCP and v,
                      "cluster-stats to show the traffic")
    assert view["derived"]["syncmap_hit_pct"] == 100.0
    # Housekeeping catches up: every entry is queued as a row and flushed.
    wait_until(lambda: sum(admin.node_stats(n)["counters"]["rows_queued"] for n in cluster.nodes) == N_TCP, "rows queued")
    wait_until(lambda: all(admin.node_stats(n)["counters"]["bg_completed"] == per_node[n]["bg_submitted"] for n in cluster.nodes),
               "bg completed")
    admin.reset()
    assert all(v == 0 for n in cluster.nodes for k, v in admin.node_stats(n)["counters"].items()
               if k not in admin.node_stats(n)["gauges"])


def test_udp_through_the_nlb_is_counted_exactly(cluster, admin: Admin) -> None:
    admin.reset()
    sockets, per_socket = 6, 50  # one NLB flow per client socket; flows rotate over the nodes
    n = sockets * per_socket
    key = cluster.partner_key.value
    answers: dict[int, dict] = {}
    for s in range(sockets):
        batch = [{"id": s * per_socket + i, "key": key, "symbol": "SOL-USD"} for i in range(per_socket)]
        answers.update(udp_call(cluster.balanced.udp, batch, timeout=5))
    assert len(answers) == n and all(a["symbol"] == "SOL-USD" for a in answers.values())
    per_node = {n_: admin.node_stats(n_)["counters"] for n_ in cluster.nodes}
    assert sum(c["udp_requests"] for c in per_node.values()) == n
    assert sum(c["packets_received"] for c in per_node.values()) == n
    assert sum(c["packets_sent"] for c in per_node.values()) == n
    assert sum(c["udp_dropped"] for c in per_node.values()) == 0
    assert sum(c["tcp_requests"] for c in per_node.values()) == 0
    assert sum(1 for c in per_node.values() if c["udp_requests"] > 0) >= 2


def test_lrs_requests_count_separately(cluster, admin: Admin) -> None:
    admin.reset()
    with httpx.Client(verify=cluster.ssl_context(), timeout=30, headers={"X-API-Key": cluster.partner_key.value}) as c:
        for _ in range(4):
            assert c.get(cluster.balanced.api_url + "/reports/usage").status_code == 200
        for _ in range(6):
            assert c.get(cluster.balanced.api_url + "/price", params={"symbol": "BTC-USD"}).status_code == 200
    sums = admin.counter_sums()
    assert sums["lrs_requests"] == 4
    assert sums["tcp_requests"] == 10
