"""The node-side stressors behind the `cpu_burn` and `leak_mb_s` fault knobs.

`cpu_burn` runs one thread that hashes a 1 MiB buffer in a loop: hashlib releases the GIL
for large buffers, so the thread burns close to one vCPU of the node's process (what
Container Insights' CpuUtilized reports) while the event loop keeps answering.
`leak_mb_s` runs one thread that allocates (and writes, so the pages are resident) that many
MiB per second, up to `LEAK_CAP_MB` in all; setting it to 0 (or clearing the faults) frees
it. Both threads stop within `TICK_S` of being told; neither outlives the node.
"""

from __future__ import annotations

import hashlib
import threading

from pytest_trinity.reference.faults import LEAK_CAP_MB, Faults

TICK_S = 0.1
MIB = 1024 * 1024
JOIN_TIMEOUT_S = 2.0


class Stressors:
    """Start and stop the CPU burner and the memory leak as the faults say."""

    def __init__(self) -> None:
        self._burn_stop: threading.Event | None = None
        self._burner: threading.Thread | None = None
        self._leak_rate = 0.0
        self._leak_stop: threading.Event | None = None
        self._leaker: threading.Thread | None = None
        self._leaked: list[bytes] = []

    @property
    def leaked_mb(self) -> int:
        return len(self._leaked)

    def apply(self, faults: Faults) -> None:
        if faults.cpu_burn and self._burner is None:
            self._burn_stop = threading.Event()
            self._burner = threading.Thread(target=self._burn, args=(self._burn_stop,), name="fault-cpu-burn", daemon=True)
            self._burner.start()
        elif not faults.cpu_burn and self._burner is not None:
            self._stop_burner()
        self._leak_rate = faults.leak_mb_s
        if faults.leak_mb_s > 0 and self._leaker is None:
            self._leak_stop = threading.Event()
            self._leaker = threading.Thread(target=self._leak, args=(self._leak_stop,), name="fault-leak", daemon=True)
            self._leaker.start()
        elif faults.leak_mb_s <= 0 and self._leaker is not None:
            self._stop_leaker()

    def stop(self) -> None:
        self._stop_burner()
        self._stop_leaker()

    def _stop_burner(self) -> None:
        if self._burn_stop is not None:
            self._burn_stop.set()
        if self._burner is not None:
            self._burner.join(JOIN_TIMEOUT_S)
        self._burner = self._burn_stop = None

    def _stop_leaker(self) -> None:
        if self._leak_stop is not None:
            self._leak_stop.set()
        if self._leaker is not None:
            self._leaker.join(JOIN_TIMEOUT_S)
        self._leaker = self._leak_stop = None
        self._leaked = []

    @staticmethod
    def _burn(stop: threading.Event) -> None:
        block = b"\x5a" * MIB
        while not stop.is_set():
            hashlib.sha256(block).digest()

    def _leak(self, stop: threading.Event) -> None:
        owed = 0.0
        while not stop.wait(TICK_S):
            owed += self._leak_rate * TICK_S
            while owed >= 1.0 and len(self._leaked) < LEAK_CAP_MB:
                self._leaked.append(bytes([len(self._leaked) % 251 + 1]) * MIB)  # written: resident, not lazily zeroed
                owed -= 1.0
            if len(self._leaked) >= LEAK_CAP_MB:
                owed = 0.0
