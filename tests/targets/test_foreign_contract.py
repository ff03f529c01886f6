"""A target whose contract names things its own way, mapped only in its targets file.

The reference cluster runs under a dialect: other snapshot field names, counter names, config
keys and 429 words. The plugin is told nothing but a `[targets.foreign.contract]` table, and
runs real plan levels against it: the checklist verifies the profile through the renamed
config keys, reconciliation reads the renamed request counters, red flags fire on renamed
counters, and 429 answers with other words are still told apart.
"""

from __future__ import annotations

import json
import shutil

import pytest

from pytest_trinity.reference.cluster import TelemetryTimings, run_cluster
from pytest_trinity.reference.dialect import Dialect
from pytest_trinity.reference.secrets import KeySpec
from tests.conftest import INI, REPO
from tests.runner.conftest import ENV, conftest_fault, correctness_plan, exported, targets_toml

FIELDS = {"counters": "metrics", "config": "settings", "ts": "timestamp", "node": "instance", "nodes": "instances",
          "missing": "absent"}
COUNTERS = {"tcp_requests": "http_requests", "packets_received": "udp_in", "udp_dropped": "udp_drops",
            "rate_limit_hits": "throttled_total", "syncmap_hits": "local_hits"}
CONFIG_KEYS = {"micro_batch": "ubat", "config_poll_s": "config_poll", "db_max_open": "db_open_max", "flush_ms": "flush_interval_ms"}
REFUSALS = {"rate_limited": "throttled", "monthly_cap": "quota_exceeded"}
CAPPED = KeySpec.generate("capped-foreign", "public", monthly_cap=3)


def contract_toml(name: str, mapped: bool = True) -> str:
    if not mapped:
        return ""
    def table(title: str, values: dict[str, str]) -> str:
        return f"[targets.{name}.contract.{title}]\n" + "".join(f'{k} = "{v}"\n' for k, v in values.items())
    return (table("fields", FIELDS) + table("counters", COUNTERS) + table("config_keys", CONFIG_KEYS)
            + table("refusals", REFUSALS))


@pytest.fixture(scope="module")
def foreign_cluster():
    dialect = Dialect(fields=FIELDS, counters=COUNTERS, config_keys=CONFIG_KEYS, refusals=REFUSALS)
    with run_cluster(REPO / "profiles.toml", faults=True, telemetry=TelemetryTimings(publish_s=0.2), dialect=dialect,
                     extra_keys=(CAPPED,)) as info, exported(info, TT_CAPPED_KEY=CAPPED.key.value):
        yield info


def project(pytester: pytest.Pytester, info, plan_text: str, mapped: bool = True, public_key: str | None = None) -> pytest.Pytester:
    shutil.copytree(REPO / "tests_perf", pytester.path / "tests_perf")
    pytester.path.joinpath("profiles.toml").write_text(plan_text)
    targets = targets_toml(info, "foreign") + contract_toml("foreign", mapped)
    if public_key:
        targets = targets.replace(f'public_key = "env:{ENV["public_key"]}"', f'public_key = "env:{public_key}"')
    pytester.path.joinpath("targets.toml").write_text(targets)
    pytester.makeini(INI + "trinity_targets = targets.toml\ntrinity_target = foreign\n")
    return pytester


def results(pytester: pytest.Pytester) -> dict:
    return json.loads(next(pytester.path.glob("reports/*/results.json")).read_text())


def test_the_plan_passes_against_a_target_mapped_only_in_its_targets_file(pytester, foreign_cluster):
    p = project(pytester, foreign_cluster, correctness_plan())
    result = p.runpytest_subprocess("tests_perf", "-k", "2a or 2b", "--trinity-levels", "1-2", "--trinity-scale", "0.01")
    result.assert_outcomes(passed=4)
    levels = results(p)["levels"]
    for level in levels:
        # Every check on the service's own counters was measured (the cloud sources are not local;
        # flush_errors is unmeasured in a level too short for any batch flush).
        unmeasured = [u for u in level["verdict"]["unmeasured"] if "cluster-stats" in u and not u.startswith("flush_errors ")]
        assert not unmeasured, level["verdict"]["unmeasured"]
        node = next(iter(level["cluster"]["nodes"].values()))
        # Stored in the plan's names: what the target calls them appears nowhere.
        assert "rate_limit_hits" in node["counters"] and "throttled_total" not in node["counters"]
        assert "micro_batch" in node["config"] and "ubat" not in node["config"]
        assert level["figures"]["server_requests"] == level["figures"]["sent"]
    assert {lv["test_id"] for lv in levels} == {"2a", "2b"}


def test_without_the_mapping_the_same_target_cannot_be_run(pytester, foreign_cluster):
    """The control: the dialect really differs, so the mapping above is what made it pass."""
    p = project(pytester, foreign_cluster, correctness_plan(), mapped=False)
    result = p.runpytest_subprocess("tests_perf", "-k", "2b", "--trinity-levels", "1", "--trinity-scale", "0.01")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*checklist failed*expected {'nodes'*got {*'instances'*"])


def test_red_flags_fire_on_renamed_counters(pytester, foreign_cluster):
    p = project(pytester, foreign_cluster, correctness_plan())
    p.makeconftest(conftest_fault(1, 'admin_get("/admin/faults", node="all", udp_drop_ratio="0.5")')
                   + '\n@pytest.fixture(autouse=True, scope="session")\ndef clear():\n    yield\n'
                   + '    admin_get("/admin/faults", node="all", udp_drop_ratio="0")\n')
    result = p.runpytest_subprocess("tests_perf", "-k", "2b", "--trinity-levels", "1", "--trinity-scale", "0.1")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*udp_drop_pct * % > 1 %: increase the UDP worker-pool capacity*"])
    level = results(p)["levels"][0]
    flags = {b["check"] for b in level["verdict"]["breaches"] if b["kind"] == "red_flag"}
    assert "udp_drop" in flags
    assert level["figures"]["sources"]["cluster-stats"]["udp_dropped"] > 0


def test_429_words_of_the_target_are_told_apart(pytester, foreign_cluster):
    """A public key over its monthly cap: the target answers 429 "quota_exceeded", which the
    contract maps to the monthly-cap outcome (not an anonymous 429)."""
    p = project(pytester, foreign_cluster, correctness_plan(), public_key="TT_CAPPED_KEY")
    result = p.runpytest_subprocess("tests_perf", "-k", "2a", "--trinity-levels", "3", "--trinity-scale", "0.01")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*success_pct * % < 100 %*429 monthly_cap *"])
    level = results(p)["levels"][0]
    classes = level["figures"]["failure_classes"]
    # Every refused request was told apart as the monthly cap (how many of the 30 the 3 nodes
    # admitted before their counts synced varies; that is the reference cluster's business).
    assert list(classes) == ["429 monthly_cap"] and classes["429 monthly_cap"] >= 1, classes
    assert level["figures"]["ok"] + classes["429 monthly_cap"] == 30
