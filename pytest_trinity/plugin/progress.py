"""Live progress while a level runs: requests done of the total, req/s, errors so far.

It writes around pytest's output capture. On a TTY it is one line rewritten in place;
otherwise (CI logs) a plain line at most every `NON_TTY_EVERY_S` seconds, so a long level
leaves a few lines and a short one none.
"""

from __future__ import annotations

import contextlib
import time

import pytest

from pytest_trinity.drivers import Progress

NON_TTY_EVERY_S = 3.0


class LiveProgress:
    def __init__(self, config: pytest.Config):
        self.reporter = config.pluginmanager.get_plugin("terminalreporter")
        self.capture = config.pluginmanager.get_plugin("capturemanager")
        self.tty = bool(self.reporter and self.reporter.isatty)
        self.last_case, self.last_at, self.width = "", 0.0, 0

    def __call__(self, case: str, p: Progress) -> None:
        if self.reporter is None:
            return
        now = time.monotonic()
        if case != self.last_case:
            self.last_case, self.last_at = case, now
            if not self.tty:
                return  # the first line comes after NON_TTY_EVERY_S
        elif not self.tty and now - self.last_at < NON_TTY_EVERY_S:
            return
        self.last_at = now
        line = f"{case}: {p.done:,}/{p.total:,} requests · {p.rps:,.0f} req/s · {p.errors:,} errors · {p.elapsed:.0f} s"
        with self._uncaptured():
            if self.tty:
                self.reporter.write("\r" + line.ljust(self.width))
                self.width = len(line)
            else:
                self.reporter.write_line(f"  [trinity] {line}")

    def finish(self) -> None:
        if self.tty and self.width and self.reporter is not None:
            with self._uncaptured():
                self.reporter.write("\r" + " " * self.width + "\r")
            self.width = 0

    def _uncaptured(self) -> contextlib.AbstractContextManager[None]:
        if self.capture is None:
            return contextlib.nullcontext()
        disabled: contextlib.AbstractContextManager[None] = self.capture.global_and_fixture_disabled()
        return disabled


