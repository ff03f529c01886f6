"""The tuning loop's poll: read telemetry every few seconds in a background thread.

The poller never slows the load driver (it runs in its own thread, and the driver runs in
worker processes) and never crashes the run: a failing or slow poll is recorded as a
`PollSample` with its error and duration. Polling is bounded: it stops when asked, and
after `max_polls`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PollSample:
    source: str
    at: float  # time.time() when the poll started
    duration_s: float
    value: Any = None  # whatever the fetcher returned (None when it failed)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class TelemetryPoller:
    """Call each fetcher every `interval_s` until `stop()`; keep every sample."""

    def __init__(self, fetchers: dict[str, Callable[[], Any]], interval_s: float, max_polls: int):
        self.fetchers, self.interval_s, self.max_polls = fetchers, interval_s, max_polls
        self.samples: list[PollSample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="trinity-telemetry-poller", daemon=True)

    def _poll_once(self) -> None:
        for source, fetch in self.fetchers.items():
            at, started = time.time(), time.monotonic()
            try:
                value, error = fetch(), None
            except Exception as exc:  # noqa: BLE001 - a poll must never take the run down
                value, error = None, f"{type(exc).__name__}: {exc}"
            self.samples.append(PollSample(source, at, time.monotonic() - started, value, error))

    def _run(self) -> None:
        for _ in range(self.max_polls):
            self._poll_once()
            if self._stop.wait(self.interval_s):
                return

    def start(self) -> TelemetryPoller:
        self._thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> list[PollSample]:
        self._stop.set()
        self._thread.join(timeout)
        return list(self.samples)

    def __enter__(self) -> TelemetryPoller:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
