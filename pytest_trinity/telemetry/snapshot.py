"""Parse stress-stats and cluster-stats answers into typed snapshots, tolerating gaps.

A target that omits a counter is reported (`missing_counters`), not crashed on; a node
whose snapshot is absent is listed in `missing`. Totals are summed here from each node's
counters rather than trusted from the server.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class TelemetryError(ValueError):
    """An admin answer does not have the shape the target contract describes."""


@dataclass(frozen=True)
class NodeSnapshot:
    node: str
    ts: float
    counters: dict[str, int]
    derived: dict[str, float | None] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    process: dict[str, Any] = field(default_factory=dict)
    missing_counters: tuple[str, ...] = ()

    @classmethod
    def parse(cls, data: Any, expected_counters: tuple[str, ...], where: str) -> "NodeSnapshot":
        if not isinstance(data, dict) or not isinstance(data.get("counters"), dict):
            raise TelemetryError(f"{where}: expected a snapshot with a 'counters' object, got {str(data)[:200]}")
        counters: dict[str, int] = {}
        for name, value in data["counters"].items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                counters[str(name)] = int(value)
        return cls(
            node=str(data.get("node", "?")),
            ts=float(data.get("ts") or 0.0),
            counters=counters,
            derived={k: v for k, v in (data.get("derived") or {}).items() if v is None or isinstance(v, (int, float))},
            config=dict(data.get("config") or {}),
            process=dict(data.get("process") or {}),
            missing_counters=tuple(c for c in expected_counters if c not in counters),
        )

    def to_dict(self) -> dict[str, Any]:
        return {"node": self.node, "ts": self.ts, "counters": dict(self.counters), "derived": dict(self.derived),
                "config": dict(self.config), "process": dict(self.process), "missing_counters": list(self.missing_counters)}


@dataclass(frozen=True)
class ClusterStats:
    nodes: dict[str, NodeSnapshot]
    missing: tuple[str, ...]

    @classmethod
    def parse(cls, data: Any, expected_nodes: tuple[str, ...], expected_counters: tuple[str, ...], where: str) -> "ClusterStats":
        if not isinstance(data, dict) or not isinstance(data.get("nodes"), dict):
            raise TelemetryError(f"{where}: expected {{'nodes': {{…}}, 'missing': […]}}, got {str(data)[:200]}")
        nodes = {name: NodeSnapshot.parse(snap, expected_counters, f"{where} node {name}") for name, snap in data["nodes"].items()}
        reported = [str(n) for n in data.get("missing") or ()]
        missing = tuple(dict.fromkeys([*reported, *(n for n in expected_nodes if n not in nodes)]))
        return cls(nodes=nodes, missing=missing)

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

    def to_dict(self) -> dict[str, Any]:
        return {"nodes": {n: s.to_dict() for n, s in self.nodes.items()}, "missing": list(self.missing)}
