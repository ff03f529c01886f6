"""The run's AWS side for a remote target (runner/cloud.py), against moto and a real PostgreSQL:
usage_logs trimmed before each test and rid of the stress rows at the end (logged with row
counts), the phase placements applied (a phase change restarts the services) and production's
put back, and the stress client terminated, every action in the run's log."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytest_trinity.plan import load_plan
from pytest_trinity.runner.checklist import SetupError
from pytest_trinity.runner.cloud import CloudSide
from pytest_trinity.services.postgres import run_postgres
from pytest_trinity.targets import Secret, Target, UsageLogs
from tests.runner.test_usage_logs import epoch_table, sql

PLAN = load_plan(Path(__file__).resolve().parents[2] / "profiles.toml")


@pytest.fixture(scope="module")
def dsn() -> Iterator[str]:
    with run_postgres() as server:
        yield server.dsn


def _target(world, dsn: str, **aws) -> Target:
    return Target(name="staging", aws=world.aws_ids(stress_client=world.stress_client(terminate=True), **aws),
                  usage_logs=UsageLogs(Secret("env:TT_DSN", dsn), stress_key_ids=("stress-a", "stress-b")))


def test_a_remote_run_trims_places_restores_and_terminates(world, dsn):
    epoch_table(dsn, "usage_logs", 1_200)                   # rows at T0 + i: older than the run
    side = CloudSide(PLAN, _target(world, dsn), started_at=time.time())
    side.before_test(PLAN.tests["1a"])                      # phase 1: consolidated; the table is under 100K rows
    sql(dsn, "INSERT INTO usage_logs (ts, node, key_id, proto, path, symbol, status) "
             f"SELECT {time.time()}, 'main', 'stress-a', 'http', '/price', 'BTC-USD', 200 FROM generate_series(1, 50)")
    side.before_test(PLAN.tests["2a"])                      # phase 2: distributed, a restart
    problems = side.close()
    assert problems == []
    actions = [(a["action"], a["ok"]) for a in side.actions]
    assert actions == [("placement consolidated", True), ("usage_logs trim", True), ("placement distributed", True),
                       ("usage_logs trim", True), ("placement distributed", True),
                       ("usage_logs remove stress rows", True), ("terminate stress client", True)], side.actions
    trim = side.actions[1]["report"]
    assert (trim["before"], trim["deleted"], trim["after"]) == (1_200, 0, 1_200) and "nothing to trim" in side.actions[1]["detail"]
    removed = side.actions[5]["report"]
    assert (removed["before"], removed["deleted"], removed["after"]) == (1_250, 50, 1_200)
    assert sql(dsn, "SELECT count(*) FROM usage_logs") == [(1_200,)]
    consolidated = side.actions[0]["report"]["services"]
    assert {s["role"]: s["azs"] for s in consolidated} == {"main": ["2a"], "mirror": ["2a"], "lrs": ["2a"]}
    states = {i["InstanceId"]: i["State"]["Name"] for r in world.client("ec2").describe_instances()["Reservations"] for i in r["Instances"]}
    assert states[world.stress_instance] in ("shutting-down", "terminated") and states[world.bystander_instance] == "running"


def test_the_plan_row_limit_is_what_the_trim_keeps(world, dsn):
    epoch_table(dsn, "usage_logs", PLAN.checklist.usage_logs_max_rows + 25)
    side = CloudSide(PLAN, Target(name="staging", usage_logs=UsageLogs(Secret("env:TT_DSN", dsn))), started_at=time.time())
    side.before_test(PLAN.tests["2a"])
    report = side.actions[0]["report"]
    assert report["after"] == PLAN.checklist.usage_logs_max_rows - 1 and report["deleted"] == 26
    side.before_test(PLAN.tests["2a"])                      # once per test
    assert len(side.actions) == 1


def test_a_placement_that_cannot_be_applied_is_a_setup_error_naming_the_key(world, dsn):
    target = _target(world, dsn, subnets=(("2a", (world.subnet("2a"),)),))   # no 2b, 2c
    epoch_table(dsn, "usage_logs", 10)
    side = CloudSide(PLAN, target, started_at=time.time())
    with pytest.raises(SetupError, match=r"placement distributed for phase 2 failed: .*2b"):
        side.before_test(PLAN.tests["2a"])
    assert side.actions[0]["action"] == "placement distributed" and not side.actions[0]["ok"]
