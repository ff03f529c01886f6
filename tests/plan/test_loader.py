"""The real profiles.toml loads with the plan's numbers, and every broken file says what to fix."""

from __future__ import annotations

import re

import pytest

from pytest_trinity.plan import PlanError, load_plan
from tests.conftest import REPO


@pytest.fixture(scope="module")
def plan():
    return load_plan(REPO / "profiles.toml")


def test_ramp_is_the_plans(plan):
    assert [(lv.requests, lv.concurrent) for lv in plan.levels] == [
        (300, 30), (900, 90), (3_000, 300), (9_000, 600), (30_000, 900), (90_000, 1_500),
        (300_000, 3_000), (600_000, 6_000), (900_000, 9_000), (1_500_000, 12_000),
        (3_000_000, 15_000), (6_000_000, 18_000), (9_000_000, 21_000),
    ]
    assert plan.levels[6].id == "L07-c3000"


def test_seven_tests_with_their_profiles(plan):
    assert {t.id: t.profile for t in plan.tests.values()} == {
        "1a": "stress-tcp-direct", "1b": "stress-udp-direct", "2a": "stress-tcp-alb",
        "2b": "stress-udp-nlb", "2c": "stress-udp-nlb", "2d": "stress-combined-alb", "2e": "stress-tcp-alb",
    }
    assert [t.id for t in plan.tests.values() if t.governor] == ["2a", "2b", "2c", "2d", "2e"]
    assert plan.tests["2b"].key_tier == "partner" and plan.tests["2c"].key_tier == "public"
    assert plan.tests["2d"].streams == ("lpo", "lrs")
    endurance = plan.tests["2e"].endurance
    assert (endurance.duration_s, endurance.load_fraction, endurance.ceiling_from) == (1800, 0.8, "2a")


def test_profiles_carry_every_column_and_the_shared_values(plan):
    combined = plan.profiles["stress-combined-alb"]
    assert (combined.batch, combined.micro_batch, combined.flush_ms, combined.db_max_open, combined.db_max_idle,
            combined.cache_pool, combined.cache_idle, combined.cache_read_ms) == (300, 500, 500, 180, 180, 1998, 666, 500)
    udp = plan.profiles["stress-udp-direct"]
    assert (udp.flush_ms, udp.cache_pool, udp.cache_idle) == (3000, 2997, 999)
    for profile in plan.profiles.values():
        if not profile.production:
            assert (profile.qps, profile.burst, profile.ttl_s, profile.log_level, profile.config_poll_s,
                    profile.cache_max_retries, profile.cache_dial_ms, profile.cache_write_ms) == (
                100_000, 100_000, 300, "error", 300, 1, 500, 500)
    assert plan.profiles[plan.restore.profile].production


def test_criteria_flags_and_baselines(plan):
    c = plan.criteria
    assert (c.full_success_through_level, c.min_success_pct, c.max_5xx, c.cache_hit_p50_ms, c.p99_ms, c.p99_levels) == (
        9, 100.0, 0, 10.0, 300.0, (5, 8))
    assert [n for n in range(1, 14) if c.p99_applies(n)] == [5, 6, 7, 8]
    flags = {f.id: f for f in plan.red_flags}
    assert flags["syncmap_hit"].breached(98.9) and not flags["syncmap_hit"].breached(99.0)
    assert flags["udp_drop"].breached(1.1) and not flags["udp_drop"].breached(1.0)
    assert flags["bg_drop"].breached(5.5) and flags["flush_errors"].breached(1)
    assert flags["db_pool_saturated"].breached(150, reference=150) and not flags["db_pool_saturated"].breached(149, reference=150)
    assert flags["udp_drop"].applies_to(plan.tests["2b"]) and not flags["udp_drop"].applies_to(plan.tests["2a"])
    assert flags["partner_rate_limited"].applies_to(plan.tests["2b"]) and not flags["partner_rate_limited"].applies_to(plan.tests["2c"])
    assert "worker-pool" in flags["udp_drop"].advice
    v5 = {b.id: b for b in plan.baselines}["v5-1a"]
    assert (v5.rps, v5.at_concurrent, v5.full_success_through_concurrent, v5.p50_ms) == (132_000, 3_000, 9_000, 4.9)
    assert {b.id: b.rps for b in plan.baselines_for("1b")} == {"v5-1b": 44_000, "v6-1b-target": 80_000}


def _broken(tmp_path, plan_text: str, old: str, new: str):
    assert old in plan_text, old
    path = tmp_path / "profiles.toml"
    path.write_text(plan_text.replace(old, new, 1))
    return path


BROKEN = {
    "wrong type": (
        "requests = 300_000\nconcurrent = 3_000", "requests = 300_000\nconcurrent = \"3k\"",
        'profiles.toml: [levels.7].concurrent must be a positive integer, got "3k"'),
    "missing level": (
        "[levels.6]\nrequests = 90_000\nconcurrent = 1_500\npurpose = \"Heavy load — peak throughput zone\"\n", "",
        "profiles.toml: [levels] is missing level 6: levels must run 1..13 without gaps"),
    "undefined profile": (
        'profile = "stress-udp-nlb"\nkey_tier = "partner"', 'profile = "stress-udp-nbl"\nkey_tier = "partner"',
        'profiles.toml: test 2b names profile "stress-udp-nbl", which is not defined'),
    "unknown key": ("budget_min = 20", "budget_min = 20\ncolour = 1", "profiles.toml: [tests.2d] has unknown key 'colour'"),
    "misspelt key": ("budget_min = 20", "budget_mins = 20",
                     "profiles.toml: [tests.2d] is missing the key 'budget_min' (is 'budget_mins' a misspelling of it?)"),
    "negative number": ("flush_ms = 1_500", "flush_ms = -1", "[profiles.stress-udp-nlb].flush_ms must be a positive integer, got -1"),
    "bad choice": ('protocol = "udp"', 'protocol = "quic"', '[tests.1b].protocol must be one of "tcp", "udp", got "quic"'),
    "bad operator": ('op = ">"\nthreshold = 1.0', 'op = "≫"\nthreshold = 1.0', "[red_flags.udp_drop].op must be one of"),
    "missing key": ("cache_read_ms = 500\n\n[profiles.stress-udp-direct]", "\n[profiles.stress-udp-direct]",
                    "profiles.toml: [profiles.stress-tcp-direct] is missing the key 'cache_read_ms'"),
    "bad reference": ('ceiling_from = "2a"', 'ceiling_from = "2z"', 'test 2e refers to test "2z", which is not defined'),
    "not toml": ("[plan]", "[plan", "profiles.toml: not valid TOML"),
    # Red flags read only metrics that a source gives (pytest_trinity/plan/metrics.py).
    "misspelt source": ('source = "aurora"\nmetric = "acu"', 'source = "auroa"\nmetric = "acu"',
                        'profiles.toml: [red_flags.aurora_acu].source "auroa" is not a metric source (did you mean "aurora"?)'),
    "misspelt metric": ('metric = "udp_drop_pct"', 'metric = "udp_drop_pc"',
                        'profiles.toml: [red_flags.udp_drop].metric "udp_drop_pc" is not a metric of source "cluster-stats" '
                        '(did you mean "udp_drop_pct"?)'),
    "misspelt relative_to": ('relative_to = "db_max_open"', 'relative_to = "db_max_opn"',
                             'profiles.toml: [red_flags.db_pool_saturated].relative_to "db_max_opn" is not a metric of source '
                             '"cluster-stats" (did you mean "db_max_open"?)'),
    "metric of another source": ('metric = "engine_cpu_pct"', 'metric = "rss_bytes"',
                                 'profiles.toml: [red_flags.elasticache_engine_cpu].metric "rss_bytes" is not a metric of source '
                                 '"elasticache" (known: cache_hits, cache_miss_pct, cache_misses, curr_connections, engine_cpu_pct)'),
    # Numbers: the ramp's bounds, and nothing infinite or not-a-number.
    "more connections than requests": ("requests = 300\nconcurrent = 30", "requests = 300\nconcurrent = 301",
                                       "profiles.toml: [levels.1].concurrent must be at most requests (300), got 301"),
    "absurd request count": ("requests = 9_000_000", "requests = 20_000_000_000",
                             "profiles.toml: [levels.13].requests must be a positive integer ≤ 10,000,000,000, got 20000000000"),
    "infinite number": ("max_level_s = 900", "max_level_s = inf", "profiles.toml: [run].max_level_s must be a finite number ≥ 0.001, got inf"),
    "not a number": ('op = ">"\nthreshold = 1.0', 'op = ">"\nthreshold = nan',
                     "profiles.toml: [red_flags.udp_drop].threshold must be a finite number, got nan"),
    "gauge that is no counter": ('gauges = ["db_open", "db_in_use", "db_max_open"]', 'gauges = ["db_open", "db_in_use", "db_idle"]',
                                 'profiles.toml: [telemetry].gauges names "db_idle", which is not in [telemetry].counters'),
    # Messages: grammar, and every key a table accepts in the unknown-key hint.
    "empty list": ('nodes = ["main", "mirror", "lrs"]', "nodes = []", "profiles.toml: [telemetry].nodes must be a non-empty list of strings, got []"),
    "unknown key lists the optional keys": (
        'threshold = 0\nadvice = "batch inserts', 'threshold = 0\ncolour = 1\nadvice = "batch inserts',
        "profiles.toml: [red_flags.flush_errors] has unknown key 'colour' (known keys: advice, key_tiers, metric, op, "
        "protocols, relative_to, source, tests, threshold, unit)"),
}


@pytest.mark.parametrize("case", BROKEN, ids=lambda c: c.replace(" ", "-"))
def test_broken_plan_names_what_to_fix(case, tmp_path, plan_text, monkeypatch):
    old, new, message = BROKEN[case]
    monkeypatch.chdir(tmp_path)
    with pytest.raises(PlanError) as info:
        load_plan(_broken(tmp_path, plan_text, old, new))
    assert message in str(info.value)


def test_missing_file_names_the_option(tmp_path):
    with pytest.raises(PlanError, match=re.escape("plan file not found (give one with --trinity-profiles PATH)")):
        load_plan(tmp_path / "nope.toml")


FLAG_OF_A_PLUGIN = """
[red_flags.client_cpu]
source = "client"
metric = "cpu_us_per_request"
op = ">"
threshold = 50.0
advice = "the load generator is the bottleneck"
"""


def test_a_plugin_declared_source_may_be_read_by_a_red_flag(tmp_path, plan_text, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "profiles.toml"
    path.write_text(plan_text + FLAG_OF_A_PLUGIN)
    with pytest.raises(PlanError, match=re.escape('[red_flags.client_cpu].source "client" is not a metric source')):
        load_plan(path)
    plan = load_plan(path, extra_sources={"client": ["cpu_us_per_request"]})
    assert [f.metric for f in plan.red_flags if f.source == "client"] == ["cpu_us_per_request"]
    with pytest.raises(PlanError, match=re.escape('[red_flags.client_cpu].metric "cpu_us_per_request" is not a metric of source "client"')):
        load_plan(path, extra_sources={"client": ["rss_bytes"]})
