"""The open model's send plan, shared by the HTTP and UDP drivers: which planned sends are
due (into the backlog), and how late each one actually went out (late sends, worst lag)."""

from __future__ import annotations

from collections import deque
from time import monotonic_ns

from pytest_trinity.drivers.shard import ShardRun


class OpenPlan:
    """Mixin state: `plan_start_ns`, `plan_end_ns`, `next_plan_ns`, `ns_per_request`, `planned`,
    `late_send_us` and the `backlog` of planned send times are set by the driver."""

    run: ShardRun
    backlog: deque[int]
    plan_start_ns: int
    plan_end_ns: int
    next_plan_ns: int
    ns_per_request: float
    planned: int
    late_send_us: int

    def _plan_for_send(self) -> int:
        """Take the oldest due send; count it late if it goes out more than `late_send_us` after its plan."""
        planned = self.backlog.popleft()
        lag = (monotonic_ns() - planned) // 1000
        if lag > self.late_send_us:
            self.run.late_sends += 1
        if lag > self.run.max_send_lag_us:
            self.run.max_send_lag_us = lag
        return planned

    def _fill_due(self, now: int) -> None:
        """Move every planned send whose time has come into the backlog."""
        total = self.run.total
        while self.next_plan_ns <= now and self.planned < total and self.next_plan_ns < self.plan_end_ns:
            self.backlog.append(self.next_plan_ns)
            self.planned += 1
            self.next_plan_ns = self.plan_start_ns + int(self.planned * self.ns_per_request)
