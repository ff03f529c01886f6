"""pytester runs of tests_perf against a live reference cluster, healthy and with faults.

Each run is a real pytest subprocess: the load driver's worker processes need the modules a
user's run has (pytester's in-process runs swap sys.modules between runs).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

from tests.runner.conftest import conftest_fault, targets_toml


def _results(project: pytest.Pytester) -> dict:
    return json.loads((project.path / "reports" / "latest" / "results.json").read_text())


def _restored(admin) -> bool:
    mode = admin.mode()
    return mode["mode"] == "fresh-price" and mode["adaptive_enabled"] is True


def test_healthy_levels_pass_on_measured_values_and_production_is_restored(project, admin):
    result = project.runpytest_subprocess("tests_perf", "-k", "2a", "--trinity-levels", "1-3", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(["*production restored: profile fresh-price, governor on*"])
    data = _results(project)
    levels = data["levels"]
    assert [r["level_id"] for r in levels] == ["L01-c30", "L02-c90", "L03-c300"]
    for record in levels:
        figures = record["figures"]
        assert figures["sent"] == record["requests"] and figures["ok"] == record["requests"]
        assert figures["server_requests"] == figures["sent"]  # reconciled exactly through the LB
        assert figures["sources"]["cluster-stats"]["syncmap_hit_pct"] >= 99
        assert record["verdict"]["passed"] is True
    assert data["restore"]["ok"] is True and _restored(admin)


def test_5xx_injected_from_level_3_fails_exactly_those_levels(project, admin):
    project.makeconftest(conftest_fault(3, 'admin_get("/admin/faults", node="all", error_5xx_ratio="0.3")'))
    result = project.runpytest_subprocess("tests_perf", "-k", "2a", "--trinity-levels", "1-4")
    result.assert_outcomes(passed=2, failed=2)
    failed = [r for r in _results(project)["levels"] if r["status"] == "failed"]
    assert [r["level_id"] for r in failed] == ["L03-c300", "L04-c600"]
    for record in failed:
        count = record["figures"]["errors_5xx"]
        assert count > 0
        assert f"errors_5xx {count:,} > 0: the service returned 5xx" in record["message"]
        result.stdout.fnmatch_lines([f"*errors_5xx {count:,} > 0: the service returned 5xx*"])
    assert _restored(admin)


def test_udp_drop_raises_the_red_flag_with_its_advice(project, admin):
    # 900 and 3,000 packets: at 5 % the chance of fewer than 1 % drops is below 1e-9.
    project.makeconftest(conftest_fault(4, 'admin_get("/admin/faults", node="all", udp_drop_ratio="0.05")'))
    result = project.runpytest_subprocess("tests_perf", "-k", "2b", "--trinity-levels", "4-5", "--trinity-scale", "0.1")
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(["*udp_drop_pct * % > 1 %: increase the UDP worker-pool capacity*"])
    for record in _results(project)["levels"]:
        flags = [b for b in record["verdict"]["breaches"] if b["check"] == "udp_drop"]
        assert flags and 1 < flags[0]["measured"] < 15
        server = record["figures"]["sources"]["cluster-stats"]
        assert server["udp_dropped"] == record["load"]["totals"]["outcomes"]["lost"]  # every drop seen as a loss


def test_a_missing_node_is_a_clear_setup_error(project, admin, fault_cluster):
    project.makeconftest(conftest_fault(2, 'admin_get("/admin/faults", node="mirror", stop_publish="true")'))
    result = project.runpytest_subprocess("tests_perf", "-k", "2a", "--trinity-levels", "1-2")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*pre-test checklist failed for 2a L02-c90*",
                                 "*node mirror: published no snapshot since the reset*"])
    # Production was applied, but cannot be verified on a node that publishes nothing: loud.
    result.stdout.fnmatch_lines(["*production NOT RESTORED*"])
    assert "mirror" in result.stdout.str().split("production NOT RESTORED")[1]
    assert result.ret != 0


def test_a_refused_reset_is_a_setup_error_naming_node_and_counters(project, admin):
    project.makeconftest(conftest_fault(2, 'admin_get("/admin/faults", node="lrs", refuse_reset="true")'))
    result = project.runpytest_subprocess("tests_perf", "-k", "2a", "--trinity-levels", "1-2")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*reset not verified within*", "*node lrs: tcp_requests=*"])


def test_profile_drift_is_caught(project, admin):
    project.makeconftest(conftest_fault(2, 'admin_get("/admin/system-mode", mode="stress-udp-direct")'))
    result = project.runpytest_subprocess("tests_perf", "-k", "2a", "--trinity-levels", "1-2")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*profile drift: the target no longer runs stress-tcp-alb*",
                                 "*flush_ms: plan 500, node 3000*"])
    assert _restored(admin)


def test_an_unreachable_target_skips_the_rest_of_the_ramp(project, fault_cluster):
    from pytest_trinity.services import free_port

    closed = f"https://127.0.0.1:{free_port()}"
    project.path.joinpath("targets.toml").write_text(targets_toml(fault_cluster, admin_override=closed))
    result = project.runpytest_subprocess("tests_perf", "-k", "1a", "--trinity-levels", "1-4", "-rs")
    result.assert_outcomes(errors=1, skipped=3)
    result.stdout.fnmatch_lines(["*target unreachable since L01-c30*"])
    result.stdout.fnmatch_lines(["*NOT RESTORED*"])
    assert result.ret != 0


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_mid_level_saves_partial_results_and_restores_production(project, admin, signum):
    # A long level: 2a L08 at scale 0.2 is 120,000 requests, far more than a second's work here.
    proc = subprocess.Popen(
        [sys.executable, "-m", "pytest", "tests_perf", "-k", "2a", "--trinity-levels", "8", "--trinity-scale", "0.2"],
        cwd=project.path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=dict(os.environ),
    )
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:  # until the servers have answered a good part of the level
        if admin.mode()["mode"] == "stress-tcp-alb" and admin.served() > 2_000:
            break
        time.sleep(0.1)
    proc.send_signal(signum)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == pytest.ExitCode.INTERRUPTED, out
    assert "production restored" in out
    assert _restored(admin)
    data = _results(project)
    record = data["levels"][-1]
    assert record["status"] == "interrupted"
    assert 0 < record["figures"]["sent"] < 120_000
    assert data["tests"]["2a"]["verdict"] == "interrupted" and data["tests"]["2a"]["interrupted"] == 1
    assert re.search(r"^2a\s+interrupted\s+0/1\s", out, re.M), out  # the summary counts the interrupted level


def test_endurance_needs_the_2a_ceiling_and_finds_it_in_an_earlier_run(project, admin):
    alone = project.runpytest_subprocess("tests_perf", "-k", "2e", "--trinity-levels", "1", "-rs")
    alone.assert_outcomes(skipped=1)
    alone.stdout.fnmatch_lines(["*2e runs at 80% of the 2a ceiling, and no 2a result exists in this run or in*run 2a first*"])
    project.runpytest_subprocess("tests_perf", "-k", "2a", "--trinity-levels", "3-4").assert_outcomes(passed=2)
    ceiling = max(r["ok_rps"] for r in _results(project)["levels"])
    later = project.runpytest_subprocess("tests_perf", "-k", "2e", "--trinity-levels", "1")
    later.assert_outcomes(passed=1)
    record = _results(project)["levels"][-1]
    endurance = record["facts"]["endurance"]
    assert endurance["ceiling_source"] == "stored run"
    assert endurance["rate"] == pytest.approx(0.8 * ceiling)
    assert record["model"]["model"] == "open" and record["figures"]["errors_5xx"] == 0


def test_a_level_whose_requests_are_refused_fails_with_zero_success(project, fault_cluster, admin):
    from pytest_trinity.services import free_port

    closed = f"http://127.0.0.1:{free_port()}"
    project.path.joinpath("targets.toml").write_text(targets_toml(fault_cluster, api_override=closed))
    result = project.runpytest_subprocess("tests_perf", "-k", "1a", "--trinity-levels", "3")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*success_pct 0 % < 100 %*"])
    record = _results(project)["levels"][0]
    assert record["figures"]["ok"] == 0 and record["figures"]["planned"] == 30
    assert record["load"]["totals"]["outcomes"]["connect_error"] > 0


def test_the_redis_reader_sees_what_cluster_stats_sees(fault_cluster, admin):
    from pytest_trinity.plan import load_plan
    from pytest_trinity.targets import TrinityContract
    from pytest_trinity.telemetry.redis_reader import read_cluster_stats
    from tests.conftest import REPO

    plan = load_plan(REPO / "profiles.toml")
    direct = read_cluster_stats(fault_cluster.redis_url, TrinityContract(), plan.telemetry.nodes, plan.telemetry.counters)
    assert sorted(direct.nodes) == sorted(plan.telemetry.nodes) and direct.missing == ()
    assert all(snap.missing_counters == () for snap in direct.nodes.values())
