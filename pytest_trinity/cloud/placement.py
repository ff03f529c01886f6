"""ECS AZ placement: move the target's services into the AZs a placement names, wait until they are stable, read it back.

The plan's phase 1 consolidates the three services (main, mirror, lrs) into one AZ ("2a");
phase 2 and the restore distribute them (main=2a, mirror=2b, lrs=2c). A placement is
`profiles.toml [placement].<name>`: role -> AZ as the plan writes it. The target's
`[aws].services` names each role's ECS service and `[aws].subnets` gives each AZ's subnets;
a service is placed in an AZ by giving it (UpdateService) the awsvpc network configuration
of that AZ's subnets, keeping its security groups and public-IP setting.

A service whose subnets are already all in the wanted AZ's subnets is left alone (no new
deployment), so applying a placement twice restarts nothing; `restart=True` asks for a new
deployment of those too (the plan's "restart for ALB/NLB pool sizes"). A moved service gets a
new deployment anyway (a new network configuration is one), and `[aws].force_new_deployment`
is passed with the move.

AWS errors never raise out of `apply_placement`: they end in a report with `ok=False` whose
detail names the service and what AWS said. A KeyboardInterrupt propagates: the caller
restores the placement on every exit path.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pytest_trinity.cloud.clients import CloudError, describe_error
from pytest_trinity.targets import AwsIds

POLL_S = 5.0              # between two DescribeServices while waiting for stability
DESCRIBE_SERVICES_MAX = 10  # ECS DescribeServices takes at most 10 services per call


@dataclass(frozen=True)
class ServicePlacement:
    """Where one service runs, read back through ECS: its awsvpc subnets and their AZs.

    `azs` are named as the plan names them ("2a") when `[aws].subnets` lists the subnet, and by
    AWS's AZ name ("us-east-2a") otherwise."""

    role: str
    service: str
    azs: tuple[str, ...]
    subnets: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"role": self.role, "service": self.service, "azs": list(self.azs), "subnets": list(self.subnets)}


@dataclass(frozen=True)
class PlacementReport:
    """The outcome of applying a placement: `ok` only when every service is stable and reads back in its AZ."""

    ok: bool
    placement: str
    services: tuple[ServicePlacement, ...]
    detail: str
    elapsed_s: float

    def to_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "placement": self.placement, "services": [s.to_json() for s in self.services],
                "detail": self.detail, "elapsed_s": round(self.elapsed_s, 3)}


def read_placement(ecs: Any, ec2: Any, aws: AwsIds) -> tuple[ServicePlacement, ...]:
    """Each service of `aws.services`, as ECS describes it now (its awsvpc subnets; EC2 for their AZs).

    Raises `CloudError` naming the call and the resource when AWS refuses or a service is missing."""
    if aws.ecs_cluster is None:
        raise CloudError("placement needs the ECS cluster: set ecs_cluster in the target's [aws] table")
    described = _describe_services(ecs, aws.ecs_cluster, [service for _, service in aws.services])
    subnets_of = {role: _subnets(described[service]) for role, service in aws.services}
    every = sorted({s for subnets in subnets_of.values() for s in subnets})
    aws_az = _subnet_azs(ec2, every) if every else {}
    plan_az = {subnet: az for az, subnets in aws.subnets for subnet in subnets}
    return tuple(
        ServicePlacement(role, service, tuple(sorted({plan_az.get(s, aws_az.get(s, "?")) for s in subnets_of[role]})),
                         subnets_of[role])
        for role, service in aws.services
    )


def apply_placement(ecs: Any, ec2: Any, aws: AwsIds, name: str, wanted: dict[str, str], deadline_s: float,
                    *, restart: bool = False) -> PlacementReport:
    """Place each role of `wanted` (role -> AZ as the plan writes it) in its AZ, wait until every one of those
    services is stable, and read the placement back.

    `deadline_s` is the time budget in seconds for the whole call (moves, wait and read-back), measured on the
    monotonic clock from the call; `[aws].stable_timeout_s` is the target's. With `restart`, services already in
    their AZ get a new deployment too. Nothing is changed when the target's `[aws]` lacks a role's service or an
    AZ's subnets, or when the subnets it gives are wrong: the report names the key to fix.
    """
    start = time.monotonic()

    def report(problems: list[str], services: tuple[ServicePlacement, ...], done: str) -> PlacementReport:
        detail = "; ".join(problems) if problems else done
        return PlacementReport(not problems, name, services, detail, time.monotonic() - start)

    problems = _config_problems(aws, wanted)
    if problems:
        return report(problems, (), "")
    assert aws.ecs_cluster is not None
    cluster = aws.ecs_cluster
    service_of = dict(aws.services)
    subnets_of = dict(aws.subnets)
    roles = list(wanted)

    try:
        problems = _subnet_problems(ec2, {az: subnets_of[az] for az in dict.fromkeys(wanted.values())})
    except CloudError as exc:
        problems = [f"the subnets of the target's [aws.subnets] cannot be read: {exc}"]
    if problems:
        return report(problems, (), "")

    try:
        current = _describe_services(ecs, cluster, [service_of[r] for r in roles])
    except CloudError as exc:
        return report([str(exc)], (), "")

    moved: list[str] = []
    restarted: list[str] = []
    for role in roles:
        service, target = service_of[role], subnets_of[wanted[role]]
        awsvpc = current[service].get("networkConfiguration", {}).get("awsvpcConfiguration")
        if not isinstance(awsvpc, dict) or not awsvpc.get("subnets"):
            problems.append(f"ECS service {service} ({role}) has no awsvpc network configuration, so it cannot be placed by subnets")
            continue
        there = set(awsvpc["subnets"]) <= set(target)
        if there and not restart:
            continue
        kwargs: dict[str, Any] = {"cluster": cluster, "service": service}
        if there:
            kwargs["forceNewDeployment"] = True
        else:
            config: dict[str, Any] = {"subnets": list(target)}
            for key in ("securityGroups", "assignPublicIp"):
                if key in awsvpc:
                    config[key] = awsvpc[key]
            kwargs["networkConfiguration"] = {"awsvpcConfiguration": config}
            kwargs["forceNewDeployment"] = aws.force_new_deployment
        try:
            _call(ecs.update_service, f"ecs UpdateService {service} ({role}) in cluster {cluster}", **kwargs)
        except CloudError as exc:
            problems.append(str(exc))
            continue
        (restarted if there else moved).append(service)

    waited = _wait_stable(ecs, cluster, [service_of[r] for r in roles], start + deadline_s)
    problems += waited

    try:
        placed = read_placement(ecs, ec2, aws)
    except CloudError as exc:
        return report([*problems, f"read back: {exc}"], (), "")
    by_role = {p.role: p for p in placed}
    for role in roles:
        got, wanted_subnets = by_role[role], set(subnets_of[wanted[role]])
        if not got.subnets or not set(got.subnets) <= wanted_subnets:
            problems.append(f"ECS service {got.service} ({role}) reads back in {', '.join(got.azs) or 'no AZ'} "
                            f"(subnets {', '.join(got.subnets) or 'none'}), not {wanted[role]}")
    layout = ", ".join(f"{role}={az}" for role, az in wanted.items())
    done = (f"{name}: {layout}; moved: {', '.join(moved) or 'none'}"
            + (f"; restarted: {', '.join(restarted)}" if restarted else "")
            + f"; stable after {time.monotonic() - start:.1f} s")
    return report(problems, placed, done)


def _config_problems(aws: AwsIds, wanted: dict[str, str]) -> list[str]:
    problems = []
    if aws.ecs_cluster is None:
        problems.append('placement needs the ECS cluster: add ecs_cluster = "<cluster name>" to the target\'s [aws] table')
    services, subnets = dict(aws.services), dict(aws.subnets)
    for role, az in wanted.items():
        if role not in services:
            problems.append(f'placement role {role!r} has no ECS service: add {role} = "<ECS service name>" to the target\'s [aws.services]')
        if not subnets.get(az):
            problems.append(f'placement AZ {az!r} (for {role}) has no subnets: add "{az}" = ["subnet-…"] to the target\'s [aws.subnets]')
    return list(dict.fromkeys(problems))


def _subnet_problems(ec2: Any, by_az: dict[str, tuple[str, ...]]) -> list[str]:
    """Each AZ's subnets must exist and lie in one AWS AZ, a different one for each plan AZ."""
    every = sorted({s for subnets in by_az.values() for s in subnets})
    try:
        aws_az = _subnet_azs(ec2, every)
    except CloudError as exc:
        if "InvalidSubnetID" not in str(exc):
            raise
        # Which AZ's subnets AWS does not know: one call per AZ (a few), to name the key to fix.
        bad = []
        for az, subnets in by_az.items():
            try:
                _subnet_azs(ec2, list(subnets))
            except CloudError as one:
                bad.append(f'[aws.subnets] "{az}" = {list(subnets)}: {one}')
        return bad or [str(exc)]
    problems: list[str] = []
    owner: dict[str, str] = {}
    for az, subnets in by_az.items():
        found = sorted({aws_az.get(s, f"unknown ({s})") for s in subnets})
        if len(found) != 1:
            problems.append(f'[aws.subnets] "{az}" lists subnets in several AZs ({", ".join(found)}): give the subnets of one AZ')
            continue
        if found[0] in owner:
            problems.append(f'[aws.subnets] "{az}" and "{owner[found[0]]}" are both in {found[0]}: give each the subnets of its own AZ')
        owner[found[0]] = az
    return problems


def _wait_stable(ecs: Any, cluster: str, services: list[str], deadline: float) -> list[str]:
    """Poll DescribeServices until every service is stable or `deadline` (monotonic) passes; the problems left."""
    while True:
        try:
            described = _describe_services(ecs, cluster, services)
        except CloudError as exc:
            return [f"waiting for stability: {exc}"]
        states = {service: _unstable(described[service]) for service in services}
        failed = [f"ECS service {s}: the deployment failed ({why.removeprefix('failed: ')})"
                  for s, why in states.items() if why and why.startswith("failed: ")]
        if failed:
            return failed
        pending = {s: why for s, why in states.items() if why}
        if not pending:
            return []
        left = deadline - time.monotonic()
        if left <= 0:
            return [f"ECS service {s} not stable by the deadline ({why})" for s, why in pending.items()]
        time.sleep(min(POLL_S, left))


def _unstable(service: dict[str, Any]) -> str | None:
    """Why an ECS service is not stable (as the ECS `services_stable` waiter sees it, plus the rollout), or None."""
    if service.get("status") != "ACTIVE":
        return f"status {service.get('status')}"
    deployments = service.get("deployments", [])
    primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None)
    if primary is not None and primary.get("rolloutState") == "FAILED":
        return f"failed: {primary.get('rolloutStateReason', 'rollout FAILED')}"
    if len(deployments) != 1:
        return f"{len(deployments)} deployments"
    running, desired = service.get("runningCount", 0), service.get("desiredCount", 0)
    if running != desired or service.get("pendingCount", 0):
        return f"running {running} of {desired}"
    if primary is not None and primary.get("rolloutState") not in (None, "COMPLETED"):
        return f"rollout {primary.get('rolloutState')}"
    return None


def _describe_services(ecs: Any, cluster: str, services: list[str]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    names = list(dict.fromkeys(services))
    for i in range(0, len(names), DESCRIBE_SERVICES_MAX):
        chunk = names[i:i + DESCRIBE_SERVICES_MAX]
        answer = _call(ecs.describe_services, f"ecs DescribeServices in cluster {cluster}", cluster=cluster, services=chunk)
        for service in answer.get("services", []):
            out[service["serviceName"]] = service
        for failure in answer.get("failures", []):
            missing = failure.get("arn", "?").rsplit("/", 1)[-1]
            raise CloudError(f"ECS service {missing} in cluster {cluster}: {failure.get('reason', 'failed')} "
                             f"{failure.get('detail', '')}".rstrip() + " (check the target's [aws.services] and ecs_cluster)")
    for service in names:
        if service not in out:
            raise CloudError(f"ECS service {service} in cluster {cluster}: not described (check the target's [aws.services])")
    return out


def _subnets(service: dict[str, Any]) -> tuple[str, ...]:
    awsvpc = service.get("networkConfiguration", {}).get("awsvpcConfiguration", {})
    return tuple(awsvpc.get("subnets", ())) if isinstance(awsvpc, dict) else ()


def _subnet_azs(ec2: Any, subnets: list[str]) -> dict[str, str]:
    answer = _call(ec2.describe_subnets, f"ec2 DescribeSubnets {', '.join(subnets)}", SubnetIds=subnets)
    return {s["SubnetId"]: s["AvailabilityZone"] for s in answer.get("Subnets", [])}


def _call(fn: Callable[..., Any], call: str, **kwargs: Any) -> Any:
    """One boto3 call; any failure (AWS's answer, the endpoint, the parameters) is a `CloudError` naming `call`."""
    try:
        return fn(**kwargs)
    except Exception as exc:  # noqa: BLE001 - botocore's errors have no common base short of Exception
        raise describe_error(exc, call) from None
