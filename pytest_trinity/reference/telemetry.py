"""Snapshots: this node's (stress-stats, published to `cluster:stats:<node>`) and the cluster's
(cluster-stats: every node's snapshot read in one Redis pipeline, with the missing ones named).
"""

from __future__ import annotations

import json
import os
import resource
import time
from typing import Any

from pytest_trinity.reference.counters import COUNTER_NAMES, GAUGES, derive_totals
from pytest_trinity.reference.dialect import IDENTITY, Dialect

STATS_PREFIX = "cluster:stats:"
_PAGE = os.sysconf("SC_PAGE_SIZE")


def stats_key(node: str) -> str:
    return STATS_PREFIX + node


class NetBytes:
    """Bytes this node's sockets received and sent (TCP and UDP payloads): the container's
    network counters, which /proc does not keep per process. One integer add per read/write."""

    __slots__ = ("rx", "tx")

    def __init__(self) -> None:
        self.rx = 0
        self.tx = 0


class ProcessSampler:
    """RSS, CPU% over the last window, open fds, network bytes: what Container Insights would show per node."""

    def __init__(self, net: NetBytes | None = None) -> None:
        self.net = net or NetBytes()
        self.started = time.monotonic()
        self._last = (time.monotonic(), self._cpu())
        self.cpu_pct = 0.0

    @staticmethod
    def _cpu() -> float:
        t = os.times()
        return t.user + t.system

    def sample(self) -> None:
        now, cpu = time.monotonic(), self._cpu()
        then, cpu_then = self._last
        if now - then > 1e-3:
            self.cpu_pct = round(100.0 * (cpu - cpu_then) / (now - then), 2)
        self._last = (now, cpu)

    def snapshot(self) -> dict[str, Any]:
        try:
            with open("/proc/self/statm", "rb") as f:
                rss = int(f.read().split()[1]) * _PAGE
        except OSError:
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        try:
            fds = len(os.listdir("/proc/self/fd"))
        except OSError:
            fds = -1
        return {
            "pid": os.getpid(),
            "rss_bytes": rss,
            "cpu_pct": self.cpu_pct,
            "cpu_seconds": round(self._cpu(), 3),
            "open_fds": fds,
            "net_rx_bytes": self.net.rx,
            "net_tx_bytes": self.net.tx,
            "uptime_s": round(time.monotonic() - self.started, 3),
        }


def cluster_view(expected: tuple[str, ...], raw: list[bytes | None], counter_names: tuple[str, ...],
                 dialect: Dialect = IDENTITY) -> dict[str, Any]:
    """Combine the snapshots read for `expected` nodes (None: the key is gone) into one answer.

    The snapshots were published under `dialect`: they are read, and the answer written, under it."""
    nodes: dict[str, Any] = {}
    missing: list[str] = []
    for name, blob in zip(expected, raw, strict=True):
        if blob is None:
            missing.append(name)
            continue
        try:
            nodes[name] = json.loads(blob)
        except ValueError:
            missing.append(name)
    names = [n for n in counter_names if n in COUNTER_NAMES]
    f_counters, f_derived = dialect.field("counters"), dialect.field("derived")
    counters = {node: s.get(f_counters, {}) for node, s in nodes.items()}
    totals = {n: sum(int(c.get(dialect.counter(n), 0)) for c in counters.values()) for n in names}
    derived: dict[str, Any] = {
        k: round(sum(float(s.get(f_derived, {}).get(k) or 0.0) for s in nodes.values()), 2)
        for k in ("tcp_rps", "udp_rps", "total_rps")
    }
    derived.update(derive_totals(totals))
    traffic = [dialect.counter(n) for n in names if n not in GAUGES]
    return dialect.cluster({
        "ts": time.time(),
        "expected": list(expected),
        "nodes": nodes,
        "missing": missing,
        "totals": totals,
        "derived": derived,
        "gauges": list(GAUGES),
        "all_zero": bool(nodes) and not missing and all(int(c.get(n, 0)) == 0 for c in counters.values() for n in traffic),
    })
