"""ECS AZ placement against moto's server mode: consolidate, distribute, restore, and every way it is refused."""

from __future__ import annotations

import json
from typing import Any

import pytest

from pytest_trinity.cloud.clients import CloudError, client
from pytest_trinity.cloud.placement import PlacementReport, apply_placement, read_placement
from pytest_trinity.services import free_port
from pytest_trinity.targets import AwsIds
from pytest_trinity.targets.loader import load_target
from tests.cloud.world import World

CONSOLIDATED = {"main": "2a", "mirror": "2a", "lrs": "2a"}
DISTRIBUTED = {"main": "2a", "mirror": "2b", "lrs": "2c"}


def _apply(world: World, wanted: dict[str, str], aws: AwsIds | None = None, deadline_s: float = 30.0, **kw: Any) -> PlacementReport:
    aws = aws or world.aws_ids()
    return apply_placement(client(aws, "ecs"), client(aws, "ec2"), aws, "test", wanted, deadline_s, **kw)


def _ecs_view(world: World) -> dict[str, dict[str, Any]]:
    """Each service as ECS describes it, read with a plain boto3 client (not through placement.py)."""
    answer = world.client("ecs").describe_services(cluster=world.ecs_cluster, services=[s for _, s in world.services])
    return {s["serviceName"]: s for s in answer["services"]}


def _azs(world: World) -> dict[str, set[str]]:
    """role -> the AWS AZs of the subnets ECS gives its service."""
    ec2 = world.client("ec2")
    view = _ecs_view(world)
    out = {}
    for role, service in world.services:
        subnets = view[service]["networkConfiguration"]["awsvpcConfiguration"]["subnets"]
        out[role] = {s["AvailabilityZone"] for s in ec2.describe_subnets(SubnetIds=subnets)["Subnets"]}
    return out


def test_world_targets_file_loads_as_its_aws_ids(world: World, tmp_path: Any) -> None:
    path = tmp_path / "targets.toml"
    path.write_text(world.targets_toml("moto", publish_namespace="Trinity", stress_client={"terminate": True}), encoding="utf-8")
    target = load_target("moto", path)
    assert target.local
    assert target.aws == world.aws_ids(publish_namespace="Trinity", stress_client=world.stress_client(terminate=True))
    assert world.nlb.startswith("net/Trinity-Beast-UDP-NLB/") and world.alb.startswith("app/Trinity-Beast-TCP-ALB/")


def test_consolidate_distribute_restore(world: World) -> None:
    assert _azs(world) == {r: {"us-east-2a"} for r in CONSOLIDATED}      # the world starts consolidated

    same = _apply(world, CONSOLIDATED)
    assert same.ok, same.detail
    assert "moved: none" in same.detail
    assert {p.role: p.azs for p in same.services} == {r: ("2a",) for r in CONSOLIDATED}

    spread = _apply(world, DISTRIBUTED)
    assert spread.ok, spread.detail
    assert "beast-mirror" in spread.detail and "beast-lrs" in spread.detail
    assert {p.role: p.azs for p in spread.services} == {"main": ("2a",), "mirror": ("2b",), "lrs": ("2c",)}
    assert _azs(world) == {"main": {"us-east-2a"}, "mirror": {"us-east-2b"}, "lrs": {"us-east-2c"}}
    for service in _ecs_view(world).values():   # the other awsvpc settings are kept
        awsvpc = service["networkConfiguration"]["awsvpcConfiguration"]
        assert awsvpc["securityGroups"] == [world.security_group] and awsvpc["assignPublicIp"] == "DISABLED"
    json.dumps(spread.to_json())
    assert spread.to_json()["services"][1] == {"role": "mirror", "service": "beast-mirror", "azs": ["2b"], "subnets": [world.subnet("2b")]}

    back = _apply(world, CONSOLIDATED)
    assert back.ok, back.detail
    assert _azs(world) == {r: {"us-east-2a"} for r in CONSOLIDATED}

    restored = _apply(world, DISTRIBUTED)
    assert restored.ok, restored.detail
    assert _azs(world) == {"main": {"us-east-2a"}, "mirror": {"us-east-2b"}, "lrs": {"us-east-2c"}}


def test_moves_deploy_anew_and_a_placed_service_restarts_only_when_asked(world: World) -> None:
    before = {name: s["deployments"][0]["id"] for name, s in _ecs_view(world).items()}
    assert _apply(world, DISTRIBUTED).ok
    after = {name: s["deployments"][0]["id"] for name, s in _ecs_view(world).items()}
    assert after["beast-main"] == before["beast-main"]                # already in 2a: left alone
    assert after["beast-mirror"] != before["beast-mirror"] and after["beast-lrs"] != before["beast-lrs"]

    again = _apply(world, DISTRIBUTED, restart=True)
    assert again.ok, again.detail
    assert "restarted: beast-main, beast-mirror, beast-lrs" in again.detail
    restarted = {name: s["deployments"][0]["id"] for name, s in _ecs_view(world).items()}
    assert all(restarted[name] != after[name] for name in after)


def test_read_placement_names_an_unmapped_subnet_by_its_aws_az(world: World) -> None:
    aws = world.aws_ids(subnets=(("2a", (world.subnet("2a"),)),))
    assert _apply(world, {"mirror": "2a"}, aws).ok
    placed = read_placement(client(aws, "ecs"), client(aws, "ec2"), aws)
    assert [p.azs for p in placed] == [("2a",), ("2a",), ("2a",)]
    assert _apply(world, DISTRIBUTED).ok
    placed = read_placement(client(aws, "ecs"), client(aws, "ec2"), aws)
    assert [p.azs for p in placed] == [("2a",), ("us-east-2b",), ("us-east-2c",)]


def test_a_missing_subnet_mapping_is_reported_and_nothing_moves(world: World) -> None:
    aws = world.aws_ids(subnets=(("2a", (world.subnet("2a"),)),))
    report = _apply(world, DISTRIBUTED, aws)
    assert not report.ok
    assert "'2b'" in report.detail and "'2c'" in report.detail and "[aws.subnets]" in report.detail
    assert _azs(world) == {r: {"us-east-2a"} for r in CONSOLIDATED}


def test_a_role_without_a_service_is_reported(world: World) -> None:
    aws = world.aws_ids(services=(("main", "beast-main"), ("mirror", "beast-mirror")))
    report = _apply(world, DISTRIBUTED, aws)
    assert not report.ok
    assert "'lrs'" in report.detail and "[aws.services]" in report.detail
    assert _azs(world)["mirror"] == {"us-east-2a"}


def test_no_cluster_is_reported(world: World) -> None:
    report = _apply(world, DISTRIBUTED, world.aws_ids(ecs_cluster=None))
    assert not report.ok and "ecs_cluster" in report.detail
    with pytest.raises(CloudError, match="ecs_cluster"):
        aws = world.aws_ids(ecs_cluster=None)
        read_placement(client(aws, "ecs"), client(aws, "ec2"), aws)


def test_subnets_that_do_not_exist_or_share_an_az_are_reported(world: World) -> None:
    missing = world.aws_ids(subnets=(("2a", (world.subnet("2a"),)), ("2b", ("subnet-0123456789abcdef0",)), ("2c", (world.subnet("2c"),))))
    report = _apply(world, DISTRIBUTED, missing)
    assert not report.ok and "InvalidSubnetID" in report.detail
    assert report.detail.startswith('[aws.subnets] "2b" = [\'subnet-0123456789abcdef0\']') and '"2c"' not in report.detail

    shared = world.aws_ids(subnets=(("2a", (world.subnet("2a"),)), ("2b", (world.subnet("2a"),)), ("2c", (world.subnet("2c"),))))
    report = _apply(world, DISTRIBUTED, shared)
    assert not report.ok and '"2b"' in report.detail and "us-east-2a" in report.detail

    mixed = world.aws_ids(subnets=(("2a", (world.subnet("2a"), world.subnet("2b"))), ("2b", (world.subnet("2b"),)), ("2c", (world.subnet("2c"),))))
    report = _apply(world, DISTRIBUTED, mixed)
    assert not report.ok and "several AZs" in report.detail
    assert _azs(world) == {r: {"us-east-2a"} for r in CONSOLIDATED}


def test_an_unknown_service_is_an_aws_error_in_the_report(world: World) -> None:
    aws = world.aws_ids(services=(("main", "beast-main"), ("mirror", "beast-mirror"), ("lrs", "beast-nope")))
    report = _apply(world, DISTRIBUTED, aws)
    assert not report.ok
    assert "beast-nope" in report.detail and "MISSING" in report.detail


def test_a_service_that_never_settles_misses_the_deadline(world: World) -> None:
    ecs = world.client("ecs")
    # moto runs MOTO_ECS_SERVICE_RUNNING (1) task of each service: one that wants 2 is never stable.
    ecs.create_service(cluster=world.ecs_cluster, serviceName="beast-stuck", taskDefinition=world.task_definition, desiredCount=2,
                       launchType="FARGATE", networkConfiguration={"awsvpcConfiguration": {"subnets": [world.subnet("2a")],
                                                                                           "securityGroups": [world.security_group]}})
    aws = world.aws_ids(services=(("main", "beast-main"), ("mirror", "beast-mirror"), ("lrs", "beast-stuck")))
    report = _apply(world, DISTRIBUTED, aws, deadline_s=0.5)
    assert not report.ok
    assert "beast-stuck not stable by the deadline (running 1 of 2)" in report.detail
    assert "beast-mirror" not in report.detail
    assert {p.role: p.azs for p in report.services} == {"main": ("2a",), "mirror": ("2b",), "lrs": ("2c",)}


def test_an_unreachable_endpoint_is_a_report_not_a_traceback(world: World) -> None:
    aws = world.aws_ids(endpoint_url=f"http://127.0.0.1:{free_port()}")
    report = _apply(world, DISTRIBUTED, aws)
    assert not report.ok
    assert "DescribeSubnets" in report.detail and "Traceback" not in report.detail
