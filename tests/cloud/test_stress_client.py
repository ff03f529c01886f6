"""Stress-client termination against moto: only the listed, tagged instance goes; the bystander never does."""

from __future__ import annotations

import json

from pytest_trinity.cloud.clients import client
from pytest_trinity.cloud.stress_client import terminate_stress_client
from pytest_trinity.services import free_port
from tests.cloud.world import World


def _state(world: World, instance_id: str) -> str:
    answer = world.client("ec2").describe_instances(InstanceIds=[instance_id])
    return str(answer["Reservations"][0]["Instances"][0]["State"]["Name"])


def _ec2(world: World) -> object:
    return client(world.aws_ids(), "ec2")


def test_the_tagged_stress_client_is_terminated_and_the_bystander_is_not(world: World) -> None:
    report = terminate_stress_client(_ec2(world), world.stress_client(terminate=True))
    assert report.ok, report.detail
    assert report.terminated == (world.stress_instance,) and report.refused == ()
    assert _state(world, world.stress_instance) in ("shutting-down", "terminated")
    assert _state(world, world.bystander_instance) == "running"
    json.dumps(report.to_json())

    again = terminate_stress_client(_ec2(world), world.stress_client(terminate=True))
    assert again.ok and again.terminated == () and again.already_terminated == (world.stress_instance,)
    assert _state(world, world.bystander_instance) == "running"


def test_a_listed_instance_without_the_tag_is_refused_and_named(world: World) -> None:
    stress = world.stress_client(terminate=True, instance_ids=(world.bystander_instance, world.stress_instance))
    report = terminate_stress_client(_ec2(world), stress)
    assert not report.ok
    assert report.terminated == (world.stress_instance,)
    assert [i for i, _ in report.refused] == [world.bystander_instance]
    assert "no Role tag" in report.refused[0][1] and world.bystander_instance in report.detail
    assert _state(world, world.bystander_instance) == "running"


def test_a_tag_with_another_value_is_refused(world: World) -> None:
    ec2 = world.client("ec2")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    other = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1, InstanceType="t3.micro",
                              TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "Role", "Value": "trinity-stress-2"}]}])
    other_id = other["Instances"][0]["InstanceId"]
    report = terminate_stress_client(_ec2(world), world.stress_client(terminate=True, instance_ids=(other_id,)))
    assert report.terminated == () and report.refused[0][0] == other_id and "'trinity-stress-2'" in report.refused[0][1]
    assert _state(world, other_id) == "running"


def test_terminate_false_terminates_nothing(world: World) -> None:
    stress = world.stress_client(terminate=False, instance_ids=(world.stress_instance, world.bystander_instance))
    report = terminate_stress_client(_ec2(world), stress)
    assert report.terminated == () and report.refused == () and "terminate is not true" in report.detail
    assert _state(world, world.stress_instance) == "running" and _state(world, world.bystander_instance) == "running"


def test_patterns_and_unknown_ids_are_refused_and_nothing_else_is_touched(world: World) -> None:
    unknown = "i-0123456789abcdef0"
    stress = world.stress_client(terminate=True, instance_ids=("i-*", "*", unknown))
    report = terminate_stress_client(_ec2(world), stress)
    assert report.terminated == ()
    assert [i for i, _ in report.refused] == ["i-*", "*", unknown]
    assert "no patterns" in report.refused[0][1] and "InvalidInstanceID.NotFound" in report.refused[2][1]
    assert _state(world, world.stress_instance) == "running" and _state(world, world.bystander_instance) == "running"


def test_an_unreachable_endpoint_is_a_refusal_not_a_traceback(world: World) -> None:
    ec2 = client(world.aws_ids(endpoint_url=f"http://127.0.0.1:{free_port()}"), "ec2")
    report = terminate_stress_client(ec2, world.stress_client(terminate=True))
    assert report.terminated == () and report.refused[0][0] == world.stress_instance
    assert "EndpointConnectionError" in report.refused[0][1]
    assert _state(world, world.stress_instance) == "running"
