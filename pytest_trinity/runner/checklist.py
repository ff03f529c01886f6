"""The plan's pre-test checklist against a live target, each step verified.

Apply the profile and the governor with system-mode, then read every node's config back
from cluster-stats and compare it with the plan file; reset the counters and poll until every
counter on every node reads zero. Each failure is a `SetupError` that names the node and the
keys or counters at fault; a target that does not answer at all is `TargetUnreachable`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

from pytest_trinity.model import ClusterStats
from pytest_trinity.plan import Plan, Profile
from pytest_trinity.targets import ContractError
from pytest_trinity.telemetry import AdminClient, AdminError

T = TypeVar("T")

POLL_S = 0.1


class SetupError(Exception):
    """A checklist step failed; the message says which step, on which node, and why."""


class TargetUnreachable(SetupError):
    """The target's admin API does not answer at all."""


class ProfileNotInForce(SetupError):
    """Every node answered, and some still report values other than the plan's after the
    timeout: applying the profile again will not change that."""


def call(step: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run an admin call, turning failures into SetupError / TargetUnreachable naming `step`."""
    try:
        return fn(*args, **kwargs)
    except AdminError as exc:
        if exc.unreachable:
            raise TargetUnreachable(f"{step}: the target does not answer: {exc}") from None
        raise SetupError(f"{step}: {exc}") from None
    except ContractError as exc:
        raise SetupError(f"{step}: {exc}") from None
    except (TypeError, AttributeError, KeyError) as exc:  # an answer of a shape the contract's parser did not expect
        raise SetupError(f"{step}: the target's answer does not have the contract's shape ({type(exc).__name__}: {exc})") from None


def config_diffs(stats: ClusterStats, profile: Profile, governor: bool) -> dict[str, list[str]]:
    expected = dict(profile.parameters(), mode=profile.name, adaptive_enabled=governor)
    diffs: dict[str, list[str]] = {}
    for name, snap in stats.nodes.items():
        bad = [f"{key}: plan {want!r}, node {snap.config.get(key, '(not reported)')!r}"
               for key, want in expected.items() if snap.config.get(key) != want]
        if bad:
            diffs[name] = bad
    return diffs


def verify_profile(admin: AdminClient, profile: Profile, governor: bool, timeout: float) -> ClusterStats:
    """Poll cluster-stats until every node reports `profile` and `governor`; else SetupError listing each key."""
    deadline = time.monotonic() + timeout
    while True:
        stats = call("verify profile", admin.cluster_stats)
        diffs = config_diffs(stats, profile, governor)
        if not diffs and not stats.missing:
            return stats
        if time.monotonic() > deadline:
            lines = [f"node {node}: " + "; ".join(keys) for node, keys in diffs.items()]
            if stats.missing:
                lines.append("nodes missing from cluster-stats: " + ", ".join(stats.missing))
            error = SetupError if stats.missing else ProfileNotInForce
            raise error(f"profile {profile.name} (governor {'on' if governor else 'off'}) is not in force "
                        f"after {timeout:g} s:\n  " + "\n  ".join(lines))
        time.sleep(POLL_S)


def apply_profile(admin: AdminClient, plan: Plan, profile: Profile, governor: bool) -> ClusterStats:
    call(f"apply profile {profile.name}", admin.system_mode, mode=profile.name, adaptive_enabled=governor)
    return verify_profile(admin, profile, governor, plan.checklist.verify_reset_timeout_s)


def trim_usage_logs(admin: AdminClient, plan: Plan) -> Any:
    """Keep usage_logs under the plan's row limit, so the sync does not interfere."""
    return call("trim usage_logs", admin.usage_trim, plan.checklist.usage_logs_max_rows)


def unreadable_counters(stats: ClusterStats, required: tuple[str, ...]) -> str | None:
    """Why `stats` cannot be verified: counters sent as non-numbers (any of them), or
    `required` counters not reported; None when every node is readable."""
    problems = []
    for name, snap in stats.nodes.items():
        bad = [f"{c} (sent {v})" for c, v in snap.invalid_counters.items()]
        bad += [f"{c} (not reported)" for c in required if c not in snap.counters and c not in snap.invalid_counters]
        if bad:
            problems.append(f"node {name}: " + ", ".join(bad))
    if not problems:
        return None
    return ("counters the checks need are not numbers the plugin can read (map the target's names in "
            "[targets.<name>.contract.counters] if it calls them otherwise):\n  " + "\n  ".join(problems))


def reset_and_verify(admin: AdminClient, plan: Plan, required: tuple[str, ...] = ()) -> ClusterStats:
    """stress-reset, then poll cluster-stats until all nodes report zero traffic counters.

    Only counters read as numbers can verify: a node that sends a counter as anything else, or
    omits one of the `required` ones (the request counters the level is reconciled with), fails
    the checklist naming the node and the counters.
    """
    traffic = tuple(c for c in plan.telemetry.counters if c not in plan.telemetry.gauges)
    before = call("read telemetry before the reset", admin.cluster_stats)
    problem = unreadable_counters(before, required)
    if problem:
        raise SetupError(f"verify reset: {problem}")
    call("reset metrics", admin.stress_reset)
    timeout = plan.checklist.verify_reset_timeout_s
    deadline = time.monotonic() + timeout
    while True:
        stats = call("verify reset", admin.cluster_stats)
        nonzero = stats.nonzero(traffic)
        fresh = not _stale(stats, before)
        if not nonzero and not stats.missing and fresh:
            return stats
        if time.monotonic() > deadline:
            stale = _stale(stats, before)
            problems = [f"node {node}: published no snapshot since the reset" if node in stale
                        else f"node {node}: " + ", ".join(f"{c}={v}" for c, v in nonzero[node].items())
                        for node in dict.fromkeys([*stale, *nonzero])]
            if stats.missing:
                problems.append("missing from cluster-stats (no snapshot published): " + ", ".join(stats.missing))
            raise SetupError(f"reset not verified within {timeout:g} s:\n  " + "\n  ".join(problems))
        time.sleep(POLL_S)


def _stale(stats: ClusterStats, older: ClusterStats) -> list[str]:
    """Nodes whose snapshot is not newer than in `older` (timestamps of the same node only,
    so the client's and the target's clocks never need to agree)."""
    return [n for n, s in stats.nodes.items() if n in older.nodes and s.ts <= older.nodes[n].ts]


def fresh_stats(admin: AdminClient, older: ClusterStats, timeout: float) -> ClusterStats:
    """cluster-stats once every node has published a snapshot newer than in `older`."""
    deadline = time.monotonic() + timeout
    while True:
        stats = call("read telemetry", admin.cluster_stats)
        stale = _stale(stats, older)
        if not stats.missing and not stale:
            return stats
        if time.monotonic() > deadline:
            raise SetupError(f"telemetry after the level: no fresh snapshot within {timeout:g} s from "
                             f"{', '.join([*stats.missing, *stale])}")
        time.sleep(POLL_S)
