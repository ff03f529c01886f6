"""The whole AWS chain through real pytest sessions: the local cluster publishes what AWS would
publish for it into moto's CloudWatch (and its Performance Insights stand-in), the plugin reads
it back through boto3, judges the plan's cloud red flags, moves the ECS services between AZs and
restores them (also after Ctrl-C), publishes its figures and terminates the stress client.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pytest_trinity.services.postgres import PostgresServer, run_postgres
from tests.cloud.world import World

TARGET = "cloudlocal"
DSN_VAR = "TRINITY_CLOUD_TEST_DSN"
# Every red flag of a cloud source that 2a (TCP via the ALB) or 2b (UDP via the NLB) applies.
CLOUD_FLAGS = ("any_5xx", "lb_p99", "unhealthy_hosts", "container_cpu", "elasticache_engine_cpu", "aurora_acu",
               "aurora_sessions_at_max", "aurora_io_wait", "network_rx_over_tx", "cache_misses_spiking")
NOT_PUBLISHED_BY_NLB = ("any_5xx", "lb_p99")


@pytest.fixture(scope="module")
def postgres() -> Iterator[PostgresServer]:
    with run_postgres() as server:
        yield server


def _project(plan_project: pytest.Pytester, world: World, postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch,
             thresholds: dict[str, float], period_s: int = 1, **aws: Any) -> Path:
    """The targets file (the local cluster with this world as its AWS side) and a plan whose
    cloud wait is short (moto has every datapoint at once) and whose `thresholds` are lowered."""
    monkeypatch.setenv(DSN_VAR, postgres.dsn)
    targets = plan_project.path / "targets.toml"
    targets.write_text(world.targets_toml(TARGET, period_s=period_s, stable_timeout_s=30, **aws)
                       + f'\n[targets.{TARGET}.usage_logs]\ndsn = "env:{DSN_VAR}"\n', encoding="utf-8")
    plan = plan_project.path / "profiles.toml"
    text = plan.read_text(encoding="utf-8")
    text = text.replace("late_data_s = 300", "late_data_s = 20").replace("poll_s = 10 ", "poll_s = 0.5 ")
    for flag, threshold in thresholds.items():
        text, n = re.subn(rf"(\[red_flags\.{flag}\][^\[]*?threshold = )[0-9.]+", rf"\g<1>{threshold}", text, flags=re.S)
        assert n == 1, flag
    plan.write_text(text, encoding="utf-8")
    return targets


def _run(plan_project: pytest.Pytester, targets: Path, *args: str) -> tuple[pytest.RunResult, dict[str, Any]]:
    result = plan_project.runpytest_subprocess(
        "tests_perf", "--trinity-target", TARGET, "--trinity-targets", str(targets), "--trinity-scale", "0.01",
        "--trinity-report-dir", "reports", "--junitxml", "junit.xml", "-p", "no:cacheprovider", *args, timeout=600)
    found = sorted((plan_project.path / "reports").glob("*/results.json"))
    assert found, result.stdout.str() + result.stderr.str()
    return result, json.loads(found[-1].read_text(encoding="utf-8"))


def _placement(world: World) -> dict[str, str]:
    """Role -> AZ name as the plan writes it, read back through ECS and EC2."""
    ecs, ec2 = world.client("ecs"), world.client("ec2")
    by_subnet = {subnet: az for az, subnet in world.subnets}
    names = dict(world.services)
    found = ecs.describe_services(cluster=world.ecs_cluster, services=list(names.values()))["services"]
    out = {}
    for role, service in names.items():
        svc = next(s for s in found if s["serviceName"] == service)
        subnets = svc["networkConfiguration"]["awsvpcConfiguration"]["subnets"]
        assert ec2.describe_subnets(SubnetIds=subnets)["Subnets"]
        out[role] = ",".join(sorted({by_subnet[s] for s in subnets}))
    return out


def test_2a_and_2b_measure_every_cloud_red_flag_and_restore(plan_project, world, postgres, monkeypatch):
    # Two thresholds lowered to be breached; the cache-miss one opened: a few cold misses out of
    # a few hundred lookups at this scale can top 5 %, which is the cluster's business, not this test's.
    targets = _project(plan_project, world, postgres, monkeypatch, {"container_cpu": 0.0, "lb_p99": 0.0, "cache_misses_spiking": 100.0}, period_s=2,
                       publish_namespace="Trinity/Stress", stress_client={"terminate": True})
    result, data = _run(plan_project, targets, "-k", "2a or 2b", "--trinity-levels", "1-4")
    out = result.stdout.str()

    windows = {r["test_id"]: r for r in data["levels"] if r["level_id"] == "cloud"}
    assert set(windows) == {"2a", "2b"}, out
    measured: set[str] = set()
    for test_id, window in windows.items():
        unmeasured = {u.split(" ", 1)[0] for u in window["verdict"]["unmeasured"]}
        metrics = {(m["source"], m["metric"]): m for m in window["cloud"]["metrics"]}
        missing = {k: m["detail"] for k, m in metrics.items() if m["status"] == "missing"}
        assert not missing, (test_id, missing)
        for flag in CLOUD_FLAGS:
            if test_id == "2b" and flag in NOT_PUBLISHED_BY_NLB:
                assert flag in unmeasured  # the NLB publishes no 5xx and no response time
                continue
            assert flag not in unmeasured, (test_id, flag, window["verdict"])
            measured.add(flag)
        assert len(metrics[("container-insights", "cpu_pct")]["periods"]) >= 1  # the report's per-period series
    assert measured == set(CLOUD_FLAGS)

    # The two lowered thresholds are breached with the plan's advice; the window case fails on them alone.
    checks = {b["check"]: b for b in windows["2a"]["verdict"]["breaches"]}
    assert set(checks) == {"container_cpu", "lb_p99"}, checks
    assert checks["container_cpu"]["advice"] == "the container is CPU-bound: this is the ceiling for this profile"
    assert checks["lb_p99"]["measured"] > 0
    assert windows["2a"]["status"] == "failed" and "cloud window" in windows["2a"]["message"]
    junit = (plan_project.path / "junit.xml").read_text(encoding="utf-8")
    assert re.search(r'testcase [^>]*name="test_2a_tcp_alb_public\[cloud\]"[^>]*>\s*<properties>.*?<failure', junit, re.S)
    assert 'name="cloud" value="window"' in junit

    # Placement: phase 2 distributes the services, the restore leaves production's placement.
    actions = data["cloud"]["actions"]
    placements = [a for a in actions if a["action"].startswith("placement")]
    assert [a["action"] for a in placements][:1] == ["placement distributed"] and all(a["ok"] for a in placements), placements
    assert _placement(world) == {"main": "2a", "mirror": "2b", "lrs": "2c"}
    assert data["restore"]["ok"], data["restore"]

    # Published: a level's figures are in the namespace, read back through CloudWatch.
    assert any(a["action"] == "publish" and a["ok"] for a in actions), actions
    names = {m["MetricName"] for m in world.client("cloudwatch").list_metrics(Namespace="Trinity/Stress")["Metrics"]}
    assert {"ok_rps", "success_pct", "total_rps", "syncmap_hit_pct"} <= names, names

    # The stress client is terminated; the bystander is not.
    states = {i["InstanceId"]: i["State"]["Name"] for r in world.client("ec2").describe_instances()["Reservations"] for i in r["Instances"]}
    assert states[world.stress_instance] in ("shutting-down", "terminated")
    assert states[world.bystander_instance] == "running"

    # The HTML side: console links for the window's resources.
    links = windows["2a"]["cloud"]["links"]
    assert links and all(url.startswith("https://us-east-2.console.aws.amazon.com/cloudwatch/home?region=us-east-2#metricsV2?graph=")
                         for _, url in links)


def test_ctrl_c_in_phase_1_still_restores_the_placement(plan_project, world, postgres, monkeypatch):
    targets = _project(plan_project, world, postgres, monkeypatch, {})
    plan_project.makeconftest("""
        import os, signal

        def pytest_trinity_level_recorded(item, record):
            if record.level_id.startswith("L02"):
                os.kill(os.getpid(), signal.SIGINT)
    """)
    result, data = _run(plan_project, targets, "-k", "1a", "--trinity-levels", "1-6")
    out = result.stdout.str()
    assert result.ret == pytest.ExitCode.INTERRUPTED, out
    actions = [a["action"] for a in data["cloud"]["actions"] if a["action"].startswith("placement")]
    assert actions == ["placement consolidated", "placement distributed"], actions
    assert _placement(world) == {"main": "2a", "mirror": "2b", "lrs": "2c"}
    assert data["restore"]["ok"], data["restore"]


def test_a_level_spanning_whole_periods_is_judged_on_them(plan_project, world, postgres, monkeypatch):
    """L09 at scale 0.1 (90,000 requests through TLS) lasts many seconds: its own whole 3 s
    periods are read and judged with the level, and its figures come from CloudWatch. (The
    cluster's publisher samples each second; 3 s periods keep a busy second from leaving a
    period without any sample, which would rightly be "missing".)"""
    targets = _project(plan_project, world, postgres, monkeypatch, {"container_cpu": 0.0}, period_s=3)
    result, data = _run(plan_project, targets, "-k", "2a", "--trinity-levels", "9", "--trinity-scale", "0.1")
    level = next(r for r in data["levels"] if r["level_id"].startswith("L09"))
    assert level["ended_at"] - level["started_at"] >= 6.0, "the level was too short to hold a whole period"
    assert not [m for m in level["cloud"]["metrics"] if m["status"] == "missing"], level["cloud"]
    cloud = level["cloud"]
    assert cloud["judged"] == "level" and cloud["start"] >= level["started_at"] and cloud["end"] <= level["ended_at"] + 1
    cpu = next(m for m in cloud["metrics"] if m["metric"] == "cpu_pct")
    assert cpu["status"] == "measured" and level["figures"]["sources"]["container-insights"]["cpu_pct"] == cpu["value"]
    # cpu_pct > 0 always holds: the level fails on it, with Container Insights' figure (not the local process CPU).
    breach = next(b for b in level["verdict"]["breaches"] if b["check"] == "container_cpu")
    assert breach["fails"] and breach["measured"] == cpu["value"]
    junit = (plan_project.path / "junit.xml").read_text(encoding="utf-8")
    assert 'name="cloud" value="level"' in junit


FAULTS_CONFTEST = """
import threading, time
import httpx, pytest, redis

@pytest.fixture(scope="session", autouse=True)
def faults(trinity_run):
    # Real faults in the reference cluster, before the first level: a CPU-bound node, an
    # unhealthy one, 5xx answers, slow answers, and a busy (slow) Redis under ElastiCache.
    t = trinity_run.target
    with httpx.Client(headers={"X-Admin-Token": t.admin_token.reveal()}, timeout=10) as admin:
        for node, knobs in (("main", {"cpu_burn": "true"}), ("mirror", {"unhealthy": "true"}),
                            ("all", {"error_5xx_ratio": "0.05", "latency_ms": "600"})):
            admin.get(t.direct.admin + "/admin/faults", params={"node": node, **knobs}).raise_for_status()
    stop = threading.Event()
    r = redis.Redis.from_url(t.redis_url)

    def busy():
        for _ in range(600):  # bounded: at most ~6 minutes
            if stop.is_set():
                return
            r.eval("local t = redis.call('TIME') local s = t[1] * 1e6 + t[2] "
                   "repeat local n = redis.call('TIME') until n[1] * 1e6 + n[2] - s > 400000", 0)
            time.sleep(0.1)

    worker = threading.Thread(target=busy, daemon=True)
    worker.start()
    yield
    stop.set()
    worker.join(10)
"""
# What each fault raises in 2a's cloud window, with the plan's advice (profiles.toml).
RAISED = {
    "container_cpu": "the container is CPU-bound: this is the ceiling for this profile",
    "unhealthy_hosts": "a target failed its health check: the node is down or too slow to answer",
    "any_5xx": "the service returned 5xx: read the node logs for the failing handler",
    "lb_p99": "the load balancer's target response time is high: the nodes are saturated, look at CPU and pools",
    "elasticache_engine_cpu": ("the single-threaded cache engine is saturating: raise the cache TTL so more requests stay "
                               "in the sync.Map"),
}


def test_faults_in_the_cluster_raise_their_cloud_red_flags(plan_project, world, postgres, monkeypatch):
    # 3 s periods: the busy Redis delays the cluster's own publisher too, and a 1 s period could be
    # left without a sample (then rightly "missing", but not what this test is about).
    targets = _project(plan_project, world, postgres, monkeypatch, {}, period_s=3)
    targets.write_text(targets.read_text(encoding="utf-8").replace("local = true\n", "local = true\nfaults = true\n", 1), encoding="utf-8")
    plan_project.makeconftest(FAULTS_CONFTEST)
    result, data = _run(plan_project, targets, "-k", "2a", "--trinity-levels", "1-3")
    window = next(r for r in data["levels"] if r["level_id"] == "cloud")
    breaches = {b["check"]: b for b in window["verdict"]["breaches"]}
    for flag, advice in RAISED.items():
        assert flag in breaches, (flag, window["verdict"], result.stdout.str()[-3000:])
        assert breaches[flag]["advice"] == advice and breaches[flag]["fails"]
    assert breaches["lb_p99"]["measured"] > 500 and breaches["container_cpu"]["measured"] > 90
    assert window["status"] == "failed"
