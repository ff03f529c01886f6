"""Dialects: a cluster started with renamed fields, counters, config keys and error words reports
under those names only (stress-stats, cluster-stats, the snapshot in Redis, the system-mode echo,
HTTP 429/401 bodies and UDP errors), and still reads its own snapshots back (cluster-stats sums,
all_zero after a reset, the launcher's readiness wait through nginx)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from pytest_trinity.plan import Plan
from pytest_trinity.reference import ClusterInfo, Dialect, KeySpec, TelemetryTimings, run_cluster
from pytest_trinity.reference.config import NodeConfig
from pytest_trinity.reference.counters import COUNTER_NAMES
from pytest_trinity.reference.settings import running_profile
from tests.reference.conftest import PUBLISH_S, SNAPSHOT_TTL_S, TIMEOUT, api_client, udp_call, wait_until

DIALECT = {
    "fields": {"counters": "metrics", "config": "settings", "ts": "timestamp", "node": "instance", "nodes": "instances",
               "missing": "absent", "process": "proc", "derived": "computed"},
    "counters": {"rate_limit_hits": "throttled_total", "udp_dropped": "udp_drops", "packets_received": "udp_in",
                 "monthly_cap_hits": "quota_hits", "tcp_requests": "http_requests", "db_max_open": "pool_max"},
    "config_keys": {"micro_batch": "ubat", "config_poll_s": "config_poll", "db_max_open": "db_open_max", "mode": "profile",
                    "adaptive_enabled": "adaptive"},
    "refusals": {"rate_limited": "throttled", "monthly_cap": "quota_exceeded", "unauthorized": "denied", "bad_symbol": "bad_ticker"},
}
D = Dialect.from_dict(DIALECT)
CAPPED = KeySpec.generate("capped-d", "public", monthly_cap=3)


@pytest.fixture(scope="module")
def dcluster() -> Iterator[ClusterInfo]:
    with run_cluster(dialect=D, extra_keys=(CAPPED,), telemetry=TelemetryTimings(PUBLISH_S, SNAPSHOT_TTL_S)) as info:
        yield info


@pytest.fixture
def dadmin(dcluster: ClusterInfo, plan: Plan) -> Iterator[httpx.Client]:
    client = httpx.Client(timeout=TIMEOUT, verify=dcluster.ssl_context(), headers={"X-Admin-Token": dcluster.admin_token.value})
    try:
        yield client
    finally:
        client.get(dcluster.direct.admin_url + "/admin/system-mode",
                   params={"mode": plan.restore.profile, "adaptive_enabled": str(plan.restore.governor).lower()}).raise_for_status()
        client.close()


def _stats(client: httpx.Client, url: str) -> dict[str, Any]:
    r = client.get(url + "/admin/stress-stats")
    r.raise_for_status()
    data: dict[str, Any] = r.json()
    return data


def _cluster(client: httpx.Client, url: str) -> dict[str, Any]:
    r = client.get(url + "/admin/cluster-stats")
    r.raise_for_status()
    data: dict[str, Any] = r.json()
    return data


def _reset(client: httpx.Client, cluster: ClusterInfo) -> None:
    client.get(cluster.balanced.admin_url + "/admin/stress-reset").raise_for_status()
    wait_until(lambda: (v := _cluster(client, cluster.direct.admin_url)) and v["all_zero"] and not v["absent"],
               "cluster-stats all zero under the dialect")


def _assert_snapshot_renamed(snap: dict[str, Any], plan: Plan) -> None:
    assert not set(DIALECT["fields"]) & set(snap), f"default field names leaked: {sorted(snap)}"
    assert {"instance", "timestamp", "metrics", "settings", "proc", "computed"} <= set(snap)
    metrics = snap["metrics"]
    assert list(metrics) == [D.counter(n) for n in plan.telemetry.counters]
    assert not set(DIALECT["counters"]) & set(metrics)
    assert {"throttled_total", "udp_drops", "udp_in", "quota_hits", "http_requests", "pool_max"} <= set(metrics)
    assert "db_open" in metrics  # counters the dialect leaves alone keep their names
    assert snap["gauges"] == ["db_open", "db_in_use", "pool_max"]
    settings = snap["settings"]
    assert not set(DIALECT["config_keys"]) & set(settings), f"default config keys leaked: {sorted(settings)}"
    assert {"ubat", "config_poll", "db_open_max", "profile", "adaptive"} <= set(settings)
    assert settings["profile"] in plan.profiles
    assert settings["db_open_max"] == running_profile(plan, settings["profile"]).db_max_open == metrics["pool_max"]
    assert snap["proc"]["rss_bytes"] > 0 and "tcp_rps" in snap["computed"]


def test_dialect_round_trips_and_defaults_to_identity(tmp_path: Path) -> None:
    assert Dialect().is_identity and Dialect() == Dialect.from_dict({})
    assert Dialect.from_dict(D.to_dict()) == D and hash(Dialect.from_dict(D.to_dict())) == hash(D)
    path = tmp_path / "dialect.json"
    path.write_text(json.dumps(DIALECT))
    assert Dialect.from_file(path) == D
    assert D.field("counters") == "metrics" and D.counter("rate_limit_hits") == "throttled_total" and D.counter("cache_hits") == "cache_hits"
    assert Dialect(fields={"node": "node"}).is_identity  # a rename onto itself is no rename
    cfg_path = tmp_path / "node.json"
    cfg = NodeConfig(node="main", host="127.0.0.1", api_port=1, admin_port=2, udp_port=3, redis_url="redis://x", plan_path="p",
                     secrets_path="s", sqlite_path="q", dsn=None, faults_enabled=False, mode="fresh-price", adaptive_enabled=True,
                     publish_s=1.0, snapshot_ttl_s=2.0, dialect=D)
    cfg.to_file(cfg_path)
    assert NodeConfig.from_file(cfg_path) == cfg


@pytest.mark.parametrize("data", [
    {"fields": {"gauges": "g"}},                       # not a renamable field
    {"counters": {"no_such_counter": "x"}},
    {"counters": {"tcp_requests": "udp_requests"}},    # two counters would share a name
    {"fields": {"counters": "config"}},                # two snapshot keys would share a name
    {"refusals": {"rate_limited": ""}},
    {"refusals": {"rate_limited": "x", "monthly_cap": "x"}},
    {"colours": {}},                                   # unknown section
])
def test_bad_dialects_are_refused(data: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        Dialect.from_dict(data)


def test_cli_refuses_a_bad_dialect_file_before_starting(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"counters": {"nope": "x"}}))
    proc = subprocess.run([sys.executable, "-m", "pytest_trinity.reference", "--dialect", str(path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "nope" in proc.stderr


def test_stress_stats_and_redis_snapshot_use_the_dialect(dcluster: ClusterInfo, dadmin: httpx.Client, plan: Plan) -> None:
    for node in dcluster.nodes.values():
        snap = _stats(dadmin, node.admin_url)
        _assert_snapshot_renamed(snap, plan)
        assert snap["instance"] == node.name
    client = redis.Redis.from_url(dcluster.redis_url)
    try:
        raw = wait_until(lambda: client.get("cluster:stats:mirror"), "mirror's snapshot in Redis")
    finally:
        client.close()
    published = json.loads(raw)
    _assert_snapshot_renamed(published, plan)
    assert published["instance"] == "mirror"


def test_cluster_stats_reads_renamed_snapshots(dcluster: ClusterInfo, dadmin: httpx.Client, plan: Plan) -> None:
    _reset(dadmin, dcluster)
    with api_client(dcluster, dcluster.partner_key.value) as c:
        for node in dcluster.nodes.values():
            for _ in range(3):
                assert c.get(node.api_url + "/price", params={"symbol": "BTC-USD"}).status_code == 200
    view = wait_until(lambda: (v := _cluster(dadmin, dcluster.balanced.admin_url))
                      and not v["absent"] and v["totals"]["http_requests"] >= 9 and v, "every node published its traffic")
    assert not {"nodes", "missing", "ts", "derived"} & set(view)
    assert set(view["instances"]) == set(plan.telemetry.nodes) and view["absent"] == []
    assert not set(DIALECT["counters"]) & set(view["totals"])
    for name in plan.telemetry.counters:
        reported = D.counter(name)
        assert view["totals"][reported] == sum(s["metrics"][reported] for s in view["instances"].values())
    for snap in view["instances"].values():
        _assert_snapshot_renamed(snap, plan)
    assert view["gauges"] == ["db_open", "db_in_use", "pool_max"] and "total_rps" in view["computed"]
    assert view["all_zero"] is False
    _reset(dadmin, dcluster)  # all_zero is computed from the renamed counters


def test_system_mode_echo_uses_renamed_config_keys(dcluster: ClusterInfo, dadmin: httpx.Client, plan: Plan) -> None:
    name, profile = "stress-tcp-alb", running_profile(plan, "stress-tcp-alb")
    r = dadmin.get(dcluster.balanced.admin_url + "/admin/system-mode", params={"mode": name, "adaptive_enabled": "false"})
    assert r.status_code == 200
    echo = r.json()
    expected = {D.config_key(k): v for k, v in profile.parameters().items()}
    assert echo["parameters"] == expected
    assert echo["profile"] == name and echo["adaptive"] is False and "governor_limit" in echo and "instance" in echo
    assert not {"mode", "adaptive_enabled", "node"} & set(echo)
    assert not set(DIALECT["config_keys"]) & set(echo["parameters"])
    current = dadmin.get(dcluster.direct.admin_url + "/admin/system-mode").json()
    assert current["profile"] == name and current["parameters"] == expected and "mode" not in current
    for node in dcluster.nodes.values():
        wait_until(lambda url=node.admin_url: _stats(dadmin, url)["settings"]["profile"] == name, f"{node.name} in {name}")
        settings = _stats(dadmin, node.admin_url)["settings"]
        assert settings["ubat"] == profile.micro_batch and settings["db_open_max"] == profile.db_max_open
        assert settings["adaptive"] is False
    # the query parameters keep their standard names: an unknown mode is still refused
    assert dadmin.get(dcluster.direct.admin_url + "/admin/system-mode", params={"mode": "nope"}).status_code == 400


def test_http_refusals_use_renamed_words(dcluster: ClusterInfo, dadmin: httpx.Client, plan: Plan) -> None:
    profile = running_profile(plan, plan.restore.profile)
    _reset(dadmin, dcluster)
    seen: Counter[tuple[int, str | None]] = Counter()
    with api_client(dcluster, dcluster.public_key.value) as c:
        for _ in range(profile.burst * 3):
            r = c.get(dcluster.direct.api_url + "/price", params={"symbol": "BTC-USD"})
            seen[(r.status_code, r.json().get("error"))] += 1
    assert seen[(429, "throttled")] >= 1 and seen[(429, "rate_limited")] == 0
    assert set(seen) <= {(200, None), (429, "throttled")}
    with api_client(dcluster, CAPPED.key.value) as c:
        answers = [c.get(dcluster.direct.api_url + "/price", params={"symbol": "BTC-USD"}) for _ in range(5)]
    assert [(r.status_code, r.json().get("error")) for r in answers] == [(200, None)] * 3 + [(429, "quota_exceeded")] * 2
    with api_client(dcluster, "not-a-key") as c:
        r = c.get(dcluster.direct.api_url + "/price", params={"symbol": "BTC-USD"})
    assert r.status_code == 401 and r.json() == {"error": "denied"}
    with api_client(dcluster, dcluster.partner_key.value) as c:
        r = c.get(dcluster.direct.api_url + "/price", params={"symbol": "btc"})
    assert r.status_code == 400 and r.json() == {"error": "bad_ticker"}
    metrics = _stats(dadmin, dcluster.nodes["main"].admin_url)["metrics"]
    assert metrics["throttled_total"] >= seen[(429, "throttled")] and metrics["quota_hits"] == 2


def test_udp_refusals_use_renamed_words(dcluster: ClusterInfo, dadmin: httpx.Client, plan: Plan) -> None:
    profile = running_profile(plan, plan.restore.profile)
    _reset(dadmin, dcluster)
    n = profile.burst * 3
    answers = udp_call(dcluster.direct.udp, [{"id": i, "key": dcluster.public_key.value, "symbol": "BTC-USD"} for i in range(n)])
    errors = Counter(a.get("error") for a in answers.values())
    assert errors["throttled"] >= 1 and errors["rate_limited"] == 0
    assert set(errors) <= {None, "throttled"}
    refused = udp_call(dcluster.direct.udp, [{"id": 7, "key": "not-a-key", "symbol": "BTC-USD"},
                                             {"id": 8, "key": dcluster.partner_key.value, "symbol": "btc"}])
    assert refused == {7: {"id": 7, "error": "denied"}, 8: {"id": 8, "error": "bad_ticker"}}
    metrics = _stats(dadmin, dcluster.nodes["main"].admin_url)["metrics"]
    assert metrics["throttled_total"] >= errors["throttled"]
    assert metrics["udp_in"] >= len(answers) and "udp_drops" in metrics


def test_every_counter_is_reported_once(dcluster: ClusterInfo, dadmin: httpx.Client) -> None:
    metrics = _stats(dadmin, dcluster.direct.admin_url)["metrics"]
    assert sorted(metrics) == sorted(D.counter(n) for n in COUNTER_NAMES)
