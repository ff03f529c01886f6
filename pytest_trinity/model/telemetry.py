"""The service's telemetry as data: one node's snapshot and the cluster's set of them.

Parsing a target's answers into these (with the names its contract uses) is the job of
`pytest_trinity.telemetry`; here they are plain data with the plan's names, as stored in a
level record's `cluster`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class NodeSnapshot:
    node: str
    ts: float
    counters: dict[str, int]
    derived: dict[str, float | None] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    process: dict[str, Any] = field(default_factory=dict)
    missing_counters: tuple[str, ...] = ()  # expected counters the node did not report as numbers
    invalid_counters: dict[str, str] = field(default_factory=dict)  # counter -> what it sent instead of a number

    def to_json(self) -> dict[str, Any]:
        data = {"node": self.node, "ts": self.ts, "counters": dict(self.counters), "derived": dict(self.derived),
                "config": dict(self.config), "process": dict(self.process), "missing_counters": list(self.missing_counters)}
        if self.invalid_counters:
            data["invalid_counters"] = dict(self.invalid_counters)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> NodeSnapshot:
        return cls(str(data["node"]), float(data["ts"]), {str(k): int(v) for k, v in data["counters"].items()},
                   dict(data.get("derived") or {}), dict(data.get("config") or {}), dict(data.get("process") or {}),
                   tuple(data.get("missing_counters") or ()), dict(data.get("invalid_counters") or {}))


@dataclass(frozen=True)
class ClusterStats:
    nodes: dict[str, NodeSnapshot]
    missing: tuple[str, ...]

    def total(self, counter: str) -> int:
        return sum(s.counters.get(counter, 0) for s in self.nodes.values())

    def nonzero(self, counters: tuple[str, ...]) -> dict[str, dict[str, int]]:
        """Per node, the `counters` that are not zero (for verifying a reset)."""
        found = {}
        for name, snap in self.nodes.items():
            bad = {c: v for c in counters if (v := snap.counters.get(c, 0))}
            if bad:
                found[name] = bad
        return found

    def to_json(self) -> dict[str, Any]:
        return {"nodes": {n: s.to_json() for n, s in self.nodes.items()}, "missing": list(self.missing)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClusterStats:
        return cls({str(n): NodeSnapshot.from_json(s) for n, s in data["nodes"].items()}, tuple(data.get("missing") or ()))
