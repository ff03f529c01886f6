"""The judge applies the plan's criteria, red flags and degradation rules level by level."""

from __future__ import annotations

import dataclasses

import pytest

from pytest_trinity.model import LevelFigures
from pytest_trinity.plan import load_plan
from pytest_trinity.verdict import judge_level
from tests.conftest import REPO

PLAN = load_plan(REPO / "profiles.toml")
HEALTHY_SERVER = {
    "cluster-stats": {"syncmap_hit_pct": 99.9, "udp_drop_pct": 0.0, "bg_drop_pct": 0.0, "batch_flush_errors": 0,
                      "db_in_use": 3, "db_max_open": 150, "rate_limit_hits": 0},
    "container-insights": {"cpu_pct": 40.0},
}


def figures(level: int, **changes) -> LevelFigures:
    base = LevelFigures(level=level, planned=1000, sent=1000, ok=1000, errors_5xx=0, silent_failures=0, p50_ms=1.2, p99_ms=20.0,
                        cache_hit_p50_ms=1.1, rps=5000.0, sources=HEALTHY_SERVER, server_requests=1000)
    return dataclasses.replace(base, **changes)


def server(**cluster) -> dict:
    return {**HEALTHY_SERVER, "cluster-stats": {**HEALTHY_SERVER["cluster-stats"], **cluster}}


def test_healthy_level_passes_and_names_what_it_could_not_measure():
    verdict = judge_level(PLAN, PLAN.tests["2b"], figures(5))
    assert verdict.passed and verdict.breaches == ()
    assert any(u.startswith("lb_p99 (load-balancer") for u in verdict.unmeasured)
    assert any(u.startswith("aurora_acu (aurora") for u in verdict.unmeasured)


def test_5xx_through_level_9_fails_with_the_count():
    verdict = judge_level(PLAN, PLAN.tests["2a"], figures(3, ok=988, errors_5xx=12, failure_classes={"500": 12}))
    assert not verdict.passed
    messages = [b.message for b in verdict.failures]
    assert messages[0].startswith("success_pct 98.8 % < 100 %: requests failed")
    assert messages[0].endswith("[500 12]")
    assert messages[1].startswith("errors_5xx 12 > 0: the service returned 5xx")


def test_udp_drop_flag_has_its_advice_and_only_applies_to_udp():
    udp = judge_level(PLAN, PLAN.tests["2b"], figures(4, sources=server(udp_drop_pct=3.2)))
    assert [b.message for b in udp.failures] == ["udp_drop_pct 3.2 % > 1 %: increase the UDP worker-pool capacity"]
    tcp = judge_level(PLAN, PLAN.tests["2a"], figures(4, sources=server(udp_drop_pct=3.2)))
    assert tcp.passed


@pytest.mark.parametrize(("cluster", "flag"), [
    ({"syncmap_hit_pct": 98.5}, "syncmap_hit"),
    ({"bg_drop_pct": 5.01}, "bg_drop"),
    ({"batch_flush_errors": 1}, "flush_errors"),
    ({"db_in_use": 150}, "db_pool_saturated"),
])
def test_cluster_stats_red_flags(cluster, flag):
    verdict = judge_level(PLAN, PLAN.tests["1a"], figures(2, sources=server(**cluster)))
    assert [b.check for b in verdict.failures] == [flag]


def test_db_pool_flag_reads_db_max_open_from_the_same_source():
    verdict = judge_level(PLAN, PLAN.tests["2d"], figures(2, sources=server(db_in_use=179, db_max_open=180)))
    assert verdict.passed
    verdict = judge_level(PLAN, PLAN.tests["2d"], figures(2, sources=server(db_in_use=180, db_max_open=180)))
    assert verdict.failures[0].message.startswith("db_in_use 180 >= 180: the connection pool is saturating")


def test_partner_key_must_never_be_rate_limited_but_public_may_be():
    partner = judge_level(PLAN, PLAN.tests["2b"], figures(1, sources=server(rate_limit_hits=7)))
    assert [b.check for b in partner.failures] == ["partner_rate_limited"]
    assert judge_level(PLAN, PLAN.tests["2c"], figures(1, sources=server(rate_limit_hits=7))).passed


def test_p99_binds_only_in_the_sweet_spot_and_p50_only_for_cache_hits():
    assert [b.check for b in judge_level(PLAN, PLAN.tests["2a"], figures(6, p99_ms=412.0)).failures] == ["p99_ms"]
    assert judge_level(PLAN, PLAN.tests["2a"], figures(9, p99_ms=412.0)).passed
    assert judge_level(PLAN, PLAN.tests["2a"], figures(4, p99_ms=412.0)).passed
    slow_hits = judge_level(PLAN, PLAN.tests["1a"], figures(2, p50_ms=50.0, cache_hit_p50_ms=10.0))
    assert slow_hits.failures[0].message.startswith("cache-hit p50 10 ms >= 10 ms")
    no_hits = judge_level(PLAN, PLAN.tests["1a"], figures(2, cache_hit_p50_ms=None))
    assert no_hits.passed and "cache_hit_p50_ms (no cache hit was answered)" in no_hits.unmeasured


def test_above_level_9_explicit_failures_are_graceful_and_flags_only_warn():
    overloaded = figures(11, ok=800, errors_5xx=150, silent_failures=5, sources=server(udp_drop_pct=4.0),
                         admin_polls=3, admin_polls_ok=2, recovery_sent=20, recovery_ok=20)
    verdict = judge_level(PLAN, PLAN.tests["2b"], overloaded)
    assert verdict.passed
    assert [b.check for b in verdict.warnings] == ["udp_drop"]
    assert "also reported (not failing at this level)" in verdict.failure_message("L11")


@pytest.mark.parametrize(("changes", "check", "message"), [
    ({"silent_failures": 20}, "degradation:silent_failures", "silent failures (timeouts, resets, lost) 2 % > 1 %"),
    ({"admin_polls": 4, "admin_polls_ok": 0}, "degradation:admin", "admin polls answered during the level 0 of 4"),
    ({"recovery_sent": 20, "recovery_ok": 13, "recovery_detail": "7 timeouts"}, "degradation:recovery",
     "recovery probe requests answered 2xx 13 of 20: the service did not recover after the level (7 timeouts)"),
])
def test_graceful_degradation_failures(changes, check, message):
    verdict = judge_level(PLAN, PLAN.tests["2a"], figures(12, ok=500, **changes))
    assert [b.check for b in verdict.failures] == [check]
    assert verdict.failures[0].message.startswith(message)


def test_requests_never_sent_are_failures():
    refused = judge_level(PLAN, PLAN.tests["1a"], figures(2, sent=0, ok=0, server_requests=0, silent_failures=1000,
                                                          p50_ms=None, p99_ms=None, cache_hit_p50_ms=None))
    assert [b.check for b in refused.failures] == ["success_pct"]
    assert refused.failures[0].message.startswith("success_pct 0 % < 100 %")
    above = judge_level(PLAN, PLAN.tests["1a"], figures(11, sent=0, ok=0, server_requests=0, silent_failures=1000))
    assert [b.check for b in above.failures] == ["degradation:silent_failures"]


def test_requests_the_driver_could_not_send_are_reported_not_failed():
    verdict = judge_level(PLAN, PLAN.tests["2e"], figures(1, sent=992, ok=990, unsent=8, abandoned=2, server_requests=992))
    assert verdict.passed
    assert [b.message for b in verdict.warnings] == [
        "planned requests the driver did not send or await in time 10 of 1,000: the load applied was lower than planned: "
        "give the stress client more CPU or connections"]
    near = judge_level(PLAN, PLAN.tests["2a"], figures(3, ok=9999, planned=10000, sent=10000, server_requests=10000))
    assert near.failures[0].message.startswith("success_pct 99.99 % < 100 %")


def test_reconciliation_gap():
    ok = judge_level(PLAN, PLAN.tests["2a"], figures(3, server_requests=1004))
    assert ok.passed  # 0.4 % is inside the tolerance
    gap = judge_level(PLAN, PLAN.tests["2a"], figures(3, server_requests=1030))
    assert gap.failures[0].message.startswith("request count gap (client 1,000, servers 1,030) 3 % > 0.5 %")


def test_verdict_is_json_serialisable():
    import json

    verdict = judge_level(PLAN, PLAN.tests["2b"], figures(4, sources=server(udp_drop_pct=3.2)))
    data = json.loads(json.dumps({"verdict": verdict.to_json(), "figures": figures(4).to_json()}))
    assert data["verdict"]["breaches"][0]["advice"] == "increase the UDP worker-pool capacity"
    assert data["figures"]["success_pct"] == 100.0


def test_endurance_windows_are_all_strict_and_watch_memory_and_db_waits():
    late_window = figures(12, ok=990, errors_5xx=10, p99_ms=900.0)
    verdict = judge_level(PLAN, PLAN.tests["2e"], late_window)
    assert [b.check for b in verdict.failures] == ["success_pct", "errors_5xx"]  # strict, and no p99 rule
    leak = judge_level(PLAN, PLAN.tests["2e"], figures(6, memory_growth_pct=25.0, sources=server(db_wait_count=3)))
    assert [b.check for b in leak.failures] == ["memory_trend", "db_wait"]
    assert leak.failures[0].message.startswith("memory growth over the hold 25 % > 10 %: memory is climbing")
    assert judge_level(PLAN, PLAN.tests["2a"], figures(6, sources=server(db_wait_count=3))).passed
