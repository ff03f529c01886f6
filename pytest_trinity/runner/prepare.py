"""Stage 1 of a level, prepare: the plan's pre-test checklist before the load.

Apply the test's profile and governor once per test (verified on every node), trim
usage_logs on the local cluster, then for every level reset the counters and verify zero.
A target that stops answering makes the rest of its test skip; a profile that drifted is
applied again at the next level; a profile that every node answered for but does not report
after the timeout fails the rest of its test's levels at once with the same message (applying
it again cannot change what the target reports).
"""

from __future__ import annotations

from collections.abc import Callable

from pytest_trinity.model import ClusterStats
from pytest_trinity.plan import Plan, PlanTest, ScaledLevel
from pytest_trinity.runner.checklist import (
    ProfileNotInForce,
    SetupError,
    TargetUnreachable,
    apply_profile,
    config_diffs,
    reset_and_verify,
    trim_usage_logs,
)
from pytest_trinity.runner.collect import REQUEST_COUNTER
from pytest_trinity.telemetry import AdminClient


class Checklist:
    """The checklist's state over a run: which profile is in force on which topology."""

    def __init__(self, plan: Plan, admin: Callable[[str], AdminClient], trim_usage: bool):
        self.plan, self.admin, self.trim_usage = plan, admin, trim_usage
        self.applied: dict[str, str] = {}  # topology -> plan test whose profile is in force there
        self.unreachable: dict[str, str] = {}  # plan test -> why its remaining levels skip
        self.not_in_force: dict[str, str] = {}  # plan test -> why its profile cannot be put in force

    def mark_unreachable(self, test: PlanTest, level: ScaledLevel, exc: Exception) -> None:
        self.unreachable[test.id] = f"target unreachable since {level.id}: {exc}"

    def prepare(self, test: PlanTest, level: ScaledLevel) -> ClusterStats:
        """Apply the profile and governor (once per test), reset and verify zero (every level);
        returns the verified-zero snapshot the level starts from."""
        if test.id in self.not_in_force:
            raise SetupError(self.not_in_force[test.id])
        admin = self.admin(test.topology)
        profile = self.plan.profile_for(test)
        try:
            if self.applied.get(test.topology) != test.id:
                apply_profile(admin, self.plan, profile, test.governor)
                if self.trim_usage:
                    trim_usage_logs(admin, self.plan)
                self.applied[test.topology] = test.id
            stats = reset_and_verify(admin, self.plan, required=(REQUEST_COUNTER[test.protocol],))
        except TargetUnreachable as exc:
            self.mark_unreachable(test, level, exc)
            raise
        except ProfileNotInForce as exc:
            self.not_in_force[test.id] = f"{exc}\n(since {level.id}; the remaining levels of {test.id} are not tried again)"
            raise SetupError(self.not_in_force[test.id]) from None
        drift = config_diffs(stats, profile, test.governor)
        if drift:
            self.applied.pop(test.topology, None)
            raise SetupError(f"profile drift: the target no longer runs {profile.name} "
                             f"(governor {'on' if test.governor else 'off'}):\n  "
                             + "\n  ".join(f"node {n}: " + "; ".join(keys) for n, keys in drift.items()))
        return stats
