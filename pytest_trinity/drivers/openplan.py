"""The open model's send plan, shared by the HTTP and UDP drivers: which planned sends are
due (into the backlog), how late each one actually went out (late sends, worst lag), when the
plan timer fires next, and the plan's end (what still waits then is unsent)."""

from __future__ import annotations

import asyncio
from collections import deque
from time import monotonic_ns

from pytest_trinity.drivers.shard import ShardRun

MIN_TIMER_S = 0.001  # open-model timer floor; completions plan due sends in between


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
    generating: bool
    loop: asyncio.AbstractEventLoop

    def _generate(self) -> None: ...  # the driver's timer callback: plan, send, then `_rearm`

    def _maybe_done(self) -> None: ...  # the driver's check whether the run has finished

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

    def _rearm(self, now: int) -> None:
        """Fire `_generate` when the next send is due, or `_end_plan` at the plan's end."""
        if self.planned >= self.run.total or self.next_plan_ns >= self.plan_end_ns:
            self.loop.call_later(max(0.0, (self.plan_end_ns - now) / 1e9), self._end_plan)
            return
        self.loop.call_later(max(MIN_TIMER_S, (self.next_plan_ns - monotonic_ns()) / 1e9), self._generate)

    def _end_plan(self) -> None:
        """The plan is over: what still waits in the backlog is unsent."""
        if not self.generating:
            return
        self.generating = False
        self.run.unsent += len(self.backlog)
        self.backlog.clear()
        self._maybe_done()
