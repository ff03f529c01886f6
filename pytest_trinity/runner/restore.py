"""Restore production at the end of every run: the restore profile and the governor.

Tried against every admin endpoint of the target until one takes it and every node reports
it, retrying for a bounded time (a target that died may be coming back). The outcome is a
`RestoreReport`; a failed restore is never silent (the plugin prints it and fails the run).

The bound holds: the deadline is checked before each try, each try gets only the time left
(it runs in a helper thread, abandoned when that time is up, since an admin call waits for
its client's own timeout), and the figure printed is the time actually spent. A second
Ctrl-C or SIGTERM during the retries ends them at once, with a report that says so.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from pytest_trinity.model import ClusterStats
from pytest_trinity.plan import Plan, Profile
from pytest_trinity.runner.checklist import SetupError, call, verify_profile
from pytest_trinity.telemetry import AdminClient

RETRY_S = 0.5
# A try stops verifying this long before the deadline, so that its last reading (which node
# still reports what) is in the report rather than lost with an abandoned try.
VERIFY_MARGIN_S = 0.5


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


class _Try(threading.Thread):
    """One try through one admin endpoint: apply the profile, then verify it until `deadline`."""

    def __init__(self, admin: AdminClient, profile: Profile, governor: bool, deadline: float) -> None:
        super().__init__(name=f"trinity-restore {admin.base_url}", daemon=True)
        self.admin, self.profile, self.governor, self.deadline = admin, profile, governor, deadline
        self.stats: ClusterStats | None = None
        self.error: str | None = None

    def run(self) -> None:
        try:
            call(f"apply profile {self.profile.name}", self.admin.system_mode, mode=self.profile.name,
                 adaptive_enabled=self.governor)
            verify_s = max(0.0, self.deadline - VERIFY_MARGIN_S - time.monotonic())
            self.stats = verify_profile(self.admin, self.profile, self.governor, verify_s)
        except SetupError as exc:
            self.error = str(exc)
        except Exception as exc:  # whatever it was, the restore reports it
            self.error = f"{type(exc).__name__}: {exc}"


def restore_production(plan: Plan, admins: list[AdminClient], timeout: float) -> RestoreReport:
    profile = plan.profiles[plan.restore.profile]
    governor = plan.restore.governor
    if not admins:
        return RestoreReport(True, profile.name, governor, "no target was started or reached: nothing to restore")
    started = time.monotonic()
    deadline = started + timeout
    errors: list[str] = []
    trying = ""  # the endpoint of the try under way

    def failed(why: str) -> RestoreReport:
        last = errors[-1] if errors else "none"
        return RestoreReport(False, profile.name, governor, f"{why} after {time.monotonic() - started:.1f} s "
                                                            f"(bound {timeout:g} s); last error: {last}")

    try:
        while True:
            for admin in admins:
                left = deadline - time.monotonic()
                if left <= 0:
                    return failed("gave up")
                trying = admin.base_url
                attempt = _Try(admin, profile, governor, deadline)
                attempt.start()
                attempt.join(left)
                if attempt.is_alive():  # still waiting for an answer: the time is up
                    errors.append(f"{admin.base_url}: no answer within the {left:.1f} s left")
                    return failed("gave up")
                trying = ""
                if attempt.stats is not None:
                    nodes = ", ".join(sorted(attempt.stats.nodes))
                    return RestoreReport(True, profile.name, governor, f"verified on {nodes} via {admin.base_url}")
                errors.append(f"{admin.base_url}: {attempt.error}")
            time.sleep(max(0.0, min(RETRY_S, deadline - time.monotonic())))
    except KeyboardInterrupt:  # a second Ctrl-C or SIGTERM: stop retrying, but never silently
        return failed(f"interrupted by a second signal{f' while trying {trying}' if trying else ''}")
