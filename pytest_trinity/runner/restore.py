"""Restore production at the end of every run: the restore profile and the governor.

Tried against every admin endpoint of the target until one takes it and every node reports
it, retrying for a bounded time (a target that died may be coming back). The outcome is a
`RestoreReport`; a failed restore is never silent (the plugin prints it and fails the run).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from pytest_trinity.plan import Plan
from pytest_trinity.runner.checklist import SetupError, apply_profile
from pytest_trinity.telemetry import AdminClient

RETRY_S = 0.5


@dataclass(frozen=True)
class RestoreReport:
    ok: bool
    profile: str
    governor: bool
    detail: str

    @property
    def summary(self) -> str:
        state = "restored" if self.ok else "NOT RESTORED"
        return f"production {state}: profile {self.profile}, governor {'on' if self.governor else 'off'} — {self.detail}"


def restore_production(plan: Plan, admins: list[AdminClient], timeout: float) -> RestoreReport:
    profile = plan.profiles[plan.restore.profile]
    if not admins:
        return RestoreReport(True, profile.name, plan.restore.governor, "no target was started or reached: nothing to restore")
    deadline = time.monotonic() + timeout
    errors: list[str] = []
    while True:
        for admin in admins:
            try:
                stats = apply_profile(admin, plan, profile, plan.restore.governor)
            except SetupError as exc:
                errors.append(f"{admin.base_url}: {exc}")
                continue
            nodes = ", ".join(sorted(stats.nodes))
            return RestoreReport(True, profile.name, plan.restore.governor, f"verified on {nodes} via {admin.base_url}")
        if time.monotonic() > deadline:
            return RestoreReport(False, profile.name, plan.restore.governor,
                                 f"gave up after {timeout:g} s; last error: {errors[-1] if errors else 'none'}")
        time.sleep(RETRY_S)
