"""Fixtures for the reference cluster's tests: one real cluster per session, and small helpers.

The shared cluster runs with faults enabled, a short telemetry period (so missing-node and TTL
tests take seconds), a tiny governor limit (so shedding is reachable with a few requests) and an
extra public key with a tiny monthly cap.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from pytest_trinity.plan import Plan, load_plan
from pytest_trinity.reference import ClusterInfo, KeySpec, TelemetryTimings, run_cluster
from pytest_trinity.reference.cluster import DEFAULT_PLAN

CAPPED = KeySpec.generate("capped-1", "public", monthly_cap=5)
PUBLISH_S = 0.5
SNAPSHOT_TTL_S = 2.0
GOVERNOR_LIMIT = 4
TIMEOUT = 30.0


@pytest.fixture(scope="session")
def plan() -> Plan:
    return load_plan(DEFAULT_PLAN)


@pytest.fixture(scope="session")
def cluster() -> Iterator[ClusterInfo]:
    with run_cluster(
        faults=True, extra_keys=(CAPPED,), telemetry=TelemetryTimings(PUBLISH_S, SNAPSHOT_TTL_S),
        governor_limit=GOVERNOR_LIMIT,
    ) as info:
        yield info


class Admin:
    """Control-plane calls with the admin token (httpx, as the plugin does)."""

    def __init__(self, cluster: ClusterInfo) -> None:
        self.cluster = cluster
        self.client = httpx.Client(timeout=TIMEOUT, verify=cluster.ssl_context(), headers={"X-Admin-Token": cluster.admin_token.value})

    def get(self, base: str, path: str, **params: Any) -> httpx.Response:
        return self.client.get(base + path, params=params)

    def node_stats(self, node: str) -> dict[str, Any]:
        r = self.get(self.cluster.nodes[node].admin_url, "/admin/stress-stats")
        r.raise_for_status()
        return r.json()

    def counter_sums(self) -> dict[str, int]:
        sums: dict[str, int] = {}
        for node in self.cluster.nodes:
            for k, v in self.node_stats(node)["counters"].items():
                sums[k] = sums.get(k, 0) + v
        return sums

    def cluster_stats(self, base: str | None = None) -> dict[str, Any]:
        r = self.get(base or self.cluster.direct.admin_url, "/admin/cluster-stats")
        r.raise_for_status()
        return r.json()

    def reset(self) -> None:
        """Reset through the load balancer, then wait until every node reads zero (live)."""
        r = self.get(self.cluster.balanced.admin_url, "/admin/stress-reset")
        r.raise_for_status()
        wait_until(lambda: all(all_traffic_zero(self.node_stats(n)) for n in self.cluster.nodes), "all nodes reset")

    def faults(self, node: str = "all", **knobs: Any) -> httpx.Response:
        params = {k: (str(v).lower() if isinstance(v, bool) else str(v)) for k, v in knobs.items()}
        return self.get(self.cluster.direct.admin_url, "/admin/faults", node=node, **params)

    def close(self) -> None:
        self.client.close()


def all_traffic_zero(snapshot: dict[str, Any]) -> bool:
    gauges = set(snapshot["gauges"])
    return all(v == 0 for k, v in snapshot["counters"].items() if k not in gauges)


def wait_until(check: Any, what: str, timeout: float = TIMEOUT, interval: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


@pytest.fixture
def admin(cluster: ClusterInfo, plan: Plan) -> Iterator[Admin]:
    """An admin client; afterwards every fault is cleared and production mode is restored."""
    a = Admin(cluster)
    try:
        yield a
    finally:
        a.faults("all", clear=True).raise_for_status()
        a.get(cluster.direct.admin_url, "/admin/system-mode", mode=plan.restore.profile,
              adaptive_enabled=str(plan.restore.governor).lower()).raise_for_status()
        wait_until(lambda: all(not any(v for k, v in a.node_stats(n)["config"]["faults"].items()) for n in cluster.nodes),
                   "faults cleared on every node")
        a.close()


def api_client(cluster: ClusterInfo, key: str | None) -> httpx.Client:
    headers = {"X-API-Key": key} if key is not None else {}
    return httpx.Client(timeout=TIMEOUT, verify=cluster.ssl_context(), headers=headers)


def udp_call(addr: tuple[str, int], payloads: list[dict[str, Any]], timeout: float = 2.0, window: int = 32) -> dict[int, dict[str, Any]]:
    """Send each payload as one datagram from one socket, at most `window` unanswered at a time
    (so the client's own receive buffer never overflows); answers by id. A datagram still
    unanswered after `timeout` of silence is lost."""
    answers: dict[int, dict[str, Any]] = {}
    pending = list(payloads)
    outstanding = 0
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        while pending or outstanding:
            while pending and outstanding < window:
                s.sendto(json.dumps(pending.pop(0)).encode(), addr)
                outstanding += 1
            try:
                data = s.recv(65535)
            except TimeoutError:
                if not pending:
                    break
                outstanding = 0  # the window's answers are lost; go on sending
                continue
            outstanding -= 1
            msg = json.loads(data)
            answers[msg["id"]] = msg
    return answers
