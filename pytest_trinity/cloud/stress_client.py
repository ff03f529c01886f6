"""The restore's last step, "Terminate stress client: EC2 instance termination": only the listed instances that carry the tag.

Termination is opt-in (`[aws.stress_client].terminate = true`) and narrow: only the instance
ids the target lists (exact ids, never a pattern or a filter), each described first and
terminated only while it carries `tag = "KEY=VALUE"` and is not already terminated. A listed
id that is not an instance id, does not exist or lacks the tag is refused and named; no other
instance is ever touched. AWS errors do not raise: they are refusals in the report.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from pytest_trinity.cloud.clients import describe_error
from pytest_trinity.targets.aws import StressClient

INSTANCE_ID = re.compile(r"^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
GONE = ("shutting-down", "terminated")


@dataclass(frozen=True)
class TerminationReport:
    """What the termination did: the ids terminated now, those refused (id, why), those already gone."""

    terminated: tuple[str, ...]
    refused: tuple[tuple[str, str], ...]
    detail: str
    already_terminated: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        """No listed instance was refused."""
        return not self.refused

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "terminated": list(self.terminated), "refused": [{"instance_id": i, "why": why} for i, why in self.refused],
                "already_terminated": list(self.already_terminated), "detail": self.detail}


def terminate_stress_client(ec2: Any, stress: StressClient) -> TerminationReport:
    """Terminate the instances of `stress.instance_ids` that carry `stress.tag_key=stress.tag_value`, when `stress.terminate`."""
    if not stress.terminate:
        return TerminationReport((), (), "the stress client is left running: [aws.stress_client].terminate is not true")
    refused: list[tuple[str, str]] = []
    gone: list[str] = []
    eligible: list[str] = []
    tag = f"{stress.tag_key}={stress.tag_value}"
    for instance_id in dict.fromkeys(stress.instance_ids):
        if not INSTANCE_ID.match(instance_id):
            refused.append((instance_id, "not an EC2 instance id (i- and 8 or 17 hex digits): [aws.stress_client].instance_ids "
                                         "takes exact ids, no patterns"))
            continue
        why = _why_not(ec2, instance_id, stress)
        if why == "gone":
            gone.append(instance_id)
        elif why is not None:
            refused.append((instance_id, why))
        else:
            eligible.append(instance_id)

    terminated: list[str] = []
    if eligible:
        try:
            answer = ec2.terminate_instances(InstanceIds=eligible)
        except Exception as exc:  # noqa: BLE001 - botocore's errors have no common base short of Exception
            error = str(describe_error(exc, "ec2 TerminateInstances"))
            refused += [(i, error) for i in eligible]
        else:
            reported = {item.get("InstanceId") for item in answer.get("TerminatingInstances", [])}
            terminated = [i for i in eligible if i in reported]
            refused += [(i, "AWS did not report terminating it (ec2 TerminateInstances)") for i in eligible if i not in reported]

    parts = [f"terminated {', '.join(terminated)} (tagged {tag})" if terminated else f"terminated nothing (tag {tag})"]
    if gone:
        parts.append(f"already terminated: {', '.join(gone)}")
    parts += [f"refused {i}: {why}" for i, why in refused]
    return TerminationReport(tuple(terminated), tuple(refused), "; ".join(parts), tuple(gone))


def _why_not(ec2: Any, instance_id: str, stress: StressClient) -> str | None:
    """None when the instance may be terminated, "gone" when it already is, else why it is refused."""
    try:
        answer = ec2.describe_instances(InstanceIds=[instance_id])
    except Exception as exc:  # noqa: BLE001
        return str(describe_error(exc, f"ec2 DescribeInstances {instance_id}"))
    instances = [i for r in answer.get("Reservations", []) for i in r.get("Instances", []) if i.get("InstanceId") == instance_id]
    if not instances:
        return "not found (ec2 DescribeInstances)"
    instance = instances[0]
    if instance.get("State", {}).get("Name") in GONE:
        return "gone"
    tags = {t.get("Key"): t.get("Value") for t in instance.get("Tags", [])}
    if stress.tag_key not in tags:
        return f"it has no {stress.tag_key} tag, so it is not the stress client ([aws.stress_client].tag = \"{stress.tag_key}={stress.tag_value}\")"
    if tags[stress.tag_key] != stress.tag_value:
        return f"its {stress.tag_key} tag is {tags[stress.tag_key]!r}, not {stress.tag_value!r}, so it is not the stress client"
    return None
