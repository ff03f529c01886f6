"""The open model's send plan, shared by the HTTP and UDP drivers: which planned sends are
due (into the backlog), how late each one actually went out (late sends, worst lag), the plan
timer, the plan's end (what still waits then is unsent), when the run is done, and stopping.
A driver supplies the protocol's part through three small hooks (`_send_due`, `_in_flight`,
`_drained`) and `_abandon_in_flight` for stopping.
"""

from __future__ import annotations

import asyncio
from collections import deque
from time import monotonic_ns

from pytest_trinity.drivers.core import ShardRun
from pytest_trinity.drivers.spec import OpenModel

MIN_TIMER_S = 0.001  # open-model timer floor; completions plan due sends in between


class OpenPlan:
    """Base of a protocol driver: the send plan state (also present, and idle, in the closed
    model), registered with the shard's stop hooks."""

    def __init__(self, run: ShardRun) -> None:
        self.run = run
        self.loop = asyncio.get_running_loop()
        self.open = run.open
        self.backlog: deque[int] = deque()  # planned send times waiting to go out
        self.planned = 0
        self.ns_per_request = 0.0
        self.plan_start_ns = 0
        self.next_plan_ns = 0
        self.plan_end_ns = 0
        self.late_send_us = 0
        self.generating = False  # the plan is running
        self.started = False  # the plan has started (it may have ended since)
        self.done: asyncio.Future[None] = self.loop.create_future()  # the driver's work is over
        run.stop_hooks.append(self.on_stop)

    # --- protocol hooks ------------------------------------------------------------------
    def _send_due(self) -> None:
        """Send what the backlog holds, as far as free connections / the window allow."""
        raise NotImplementedError

    def _in_flight(self) -> bool:
        """Are requests still waiting for their replies?"""
        raise NotImplementedError

    def _drained(self) -> None:
        """The plan is over and everything came back: finish (set `done`, maybe after a grace)."""
        raise NotImplementedError

    def _abandon_in_flight(self) -> None:
        """The run stops: count what is in flight as abandoned and let go of it."""
        raise NotImplementedError

    # --- the plan ------------------------------------------------------------------------
    def _start_plan(self, model: OpenModel) -> None:
        """Start the clock: plan `model.rate` sends a second for `model.duration` seconds."""
        self.late_send_us = model.late_send_us
        self.ns_per_request = 1e9 / model.rate
        self.plan_start_ns = monotonic_ns()
        self.next_plan_ns = self.plan_start_ns
        self.plan_end_ns = self.plan_start_ns + int(model.duration * 1e9)
        self.generating = True
        self.started = True
        self._generate()

    def _generate(self) -> None:
        """Timer: plan what is due, send it, re-arm. Completions also plan inline, so the
        timer need not fire more often than once a millisecond (a shorter uvloop timer would
        spin the loop)."""
        if not self.generating or self.run.stopping:
            return
        now = monotonic_ns()
        self._fill_due(now)
        self._send_due()
        self._rearm(now)

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

    def _drop_backlog(self) -> None:
        """What still waits in the backlog will not be sent: count it unsent."""
        self.run.unsent += len(self.backlog)
        self.backlog.clear()

    def _end_plan(self) -> None:
        """The plan is over: what still waits in the backlog is unsent."""
        if not self.generating:
            return
        self.generating = False
        self._drop_backlog()
        self._maybe_done()

    def _maybe_done(self) -> None:
        """Finish once the plan has run, nothing waits to be sent and nothing is in flight."""
        if self.started and not self.generating and not self.backlog and not self.done.done() and not self._in_flight():
            self._drained()

    # --- stopping ------------------------------------------------------------------------
    def on_stop(self) -> None:
        """The shard stops (limit, interrupt): nothing more is sent; in-flight is abandoned."""
        self.generating = False
        self._drop_backlog()
        self._abandon_in_flight()
