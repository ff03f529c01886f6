"""The settings one node process starts with, written by the launcher as a JSON file.

Plan values (profiles, telemetry timings, node names) are not copied here: the node reads the
plan file itself. Only launcher choices (ports, paths, overrides) travel in this file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from pytest_trinity.reference.dialect import IDENTITY, Dialect


@dataclass(frozen=True)
class NodeConfig:
    node: str
    host: str
    api_port: int
    admin_port: int
    udp_port: int
    redis_url: str
    plan_path: str
    secrets_path: str
    sqlite_path: str
    dsn: str | None
    faults_enabled: bool
    mode: str                      # the profile applied at start
    adaptive_enabled: bool         # the governor's state at start
    publish_s: float               # snapshot publication period (plan telemetry unless overridden)
    snapshot_ttl_s: float          # TTL of cluster:stats:<node> (plan telemetry unless overridden)
    governor_limit: int | None = None   # in-flight limit of the governor; None: the profile's cache_pool
    udp_sockets: int = 2           # SO_REUSEPORT sockets on the UDP port, each with its own pool
    udp_workers: int = 2           # workers per UDP socket
    udp_queue: int = 4096          # bounded queue per UDP socket; overflow counts udp_dropped
    bg_workers: int = 2            # housekeeping workers
    bg_capacity: int = 65536       # bounded housekeeping queue; overflow counts bg_dropped
    rest_latency_ms: float = 20.0  # how slow the simulated REST fallback is
    feed_tick_ms: float = 250.0    # how often each simulated exchange feed ticks
    max_stall_s: float = 120.0     # upper bound of the stall fault
    dialect: Dialect = IDENTITY    # the names the node reports under (default: the standard contract)

    def to_dict(self) -> dict[str, Any]:
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["dialect"] = self.dialect.to_dict()
        return data

    def to_file(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2), encoding="utf-8")

    @classmethod
    def from_file(cls, path: Path | str) -> NodeConfig:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        data["dialect"] = Dialect.from_dict(data.get("dialect") or {})
        return cls(**data)
